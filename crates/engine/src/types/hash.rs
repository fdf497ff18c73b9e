//! The hash type.
//!
//! Two encodings, as in Redis 7.0:
//!
//! - **listpack**: an insertion-ordered vector of field/value pairs. Small
//!   hashes dominate real workloads (objects with a handful of fields); a
//!   linear scan over a few dozen short fields is as fast as hashing and costs
//!   no per-entry table overhead. Redis replies in listpack order, so keeping
//!   insertion order (and removing with an order-preserving `remove`) makes
//!   HGETALL/HKEYS/HSCAN of small hashes byte-identical to Redis.
//! - **hashtable**: an `IndexMap`, used once the hash has more than
//!   `hash-max-listpack-entries` fields or any field/value longer than
//!   `hash-max-listpack-value` bytes. Like Redis, a hash never converts back.
//!
//! HSCAN over the hashtable walks indices from high to low. Deletion uses
//! `swap_remove`, which only ever moves the *last* entry into the hole, so an
//! entry present for the whole scan can only move from an unvisited index to
//! another unvisited one: every such field is returned (the guarantee Redis
//! documents), exactly as `Db::scan` does for keys.

use crate::blob::Blob;
use crate::keyspace::Tunables;
use indexmap::IndexMap;
use std::sync::atomic::Ordering;

type Hasher = ahash::RandomState;
type Table = IndexMap<Blob, Blob, Hasher>;

/// A hash value. At most 24 bytes, so [`crate::Value`] stays small: the large
/// encoding is boxed.
#[derive(Debug, Clone)]
pub struct HashValue(Repr);

#[derive(Debug, Clone)]
enum Repr {
    Listpack(Vec<(Blob, Blob)>),
    Table(Box<Table>),
}

impl Default for HashValue {
    fn default() -> Self {
        Self::new()
    }
}

/// Iterator over `(field, value)` pairs, in encoding order.
pub enum HashIter<'a> {
    Listpack(std::slice::Iter<'a, (Blob, Blob)>),
    Table(indexmap::map::Iter<'a, Blob, Blob>),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Listpack(it) => it.next().map(|(f, v)| (f.as_slice(), v.as_slice())),
            HashIter::Table(it) => it.next().map(|(f, v)| (f.as_slice(), v.as_slice())),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            HashIter::Listpack(it) => it.size_hint(),
            HashIter::Table(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for HashIter<'_> {}

impl HashValue {
    /// An empty hash in the compact encoding.
    pub fn new() -> Self {
        HashValue(Repr::Listpack(Vec::new()))
    }

    /// A hash built from `pairs` with the encoding Redis would give it
    /// (for loaders such as RESTORE/DEBUG RELOAD and tests).
    pub fn from_pairs<'p, I>(pairs: I, t: &Tunables) -> Self
    where
        I: IntoIterator<Item = (&'p [u8], &'p [u8])>,
    {
        let mut h = HashValue::new();
        for (f, v) in pairs {
            h.set(f, v, t);
        }
        h
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Listpack(v) => v.len(),
            Repr::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match &self.0 {
            Repr::Listpack(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    /// True in the compact (listpack) encoding.
    pub fn is_compact(&self) -> bool {
        matches!(self.0, Repr::Listpack(_))
    }

    /// Approximate heap bytes owned by this value (MEMORY USAGE, eviction).
    pub fn mem_usage(&self) -> usize {
        const PAIR: usize = std::mem::size_of::<(Blob, Blob)>();
        match &self.0 {
            Repr::Listpack(v) => {
                v.capacity() * PAIR
                    + v.iter()
                        .map(|(f, x)| f.heap_size() + x.heap_size())
                        .sum::<usize>()
            }
            Repr::Table(t) => {
                // Entries (pair + cached hash) plus the index table (one
                // `usize` per bucket, ~8/7 load factor).
                std::mem::size_of::<Table>()
                    + t.capacity() * (PAIR + 8)
                    + t.capacity() * 8 * 8 / 7
                    + t.iter()
                        .map(|(f, x)| f.heap_size() + x.heap_size())
                        .sum::<usize>()
            }
        }
    }

    fn position(v: &[(Blob, Blob)], field: &[u8]) -> Option<usize> {
        v.iter().position(|(f, _)| f.as_slice() == field)
    }

    /// The value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.0 {
            Repr::Listpack(v) => Self::position(v, field)
                .and_then(|i| v.get(i))
                .map(|p| &*p.1),
            Repr::Table(t) => t.get(field).map(|v| v.as_slice()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match &self.0 {
            Repr::Listpack(v) => Self::position(v, field).is_some(),
            Repr::Table(t) => t.contains_key(field),
        }
    }

    /// All pairs in encoding order (insertion order for listpack, table order
    /// for hashtable).
    pub fn iter(&self) -> HashIter<'_> {
        match &self.0 {
            Repr::Listpack(v) => HashIter::Listpack(v.iter()),
            Repr::Table(t) => HashIter::Table(t.iter()),
        }
    }

    /// The pair at position `i` of the encoding order (O(1)), for random
    /// sampling (HRANDFIELD).
    pub fn get_index(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match &self.0 {
            Repr::Listpack(v) => v.get(i).map(|(f, x)| (f.as_slice(), x.as_slice())),
            Repr::Table(t) => t.get_index(i).map(|(f, x)| (f.as_slice(), x.as_slice())),
        }
    }

    /// Convert to the hashtable encoding (one way, as in Redis).
    fn convert(&mut self) {
        if let Repr::Listpack(v) = &mut self.0 {
            let mut t = Table::with_capacity_and_hasher(v.len(), Hasher::new());
            for (f, x) in v.drain(..) {
                t.insert(f, x);
            }
            self.0 = Repr::Table(Box::new(t));
        }
    }

    /// Convert to hashtable if any of `args` (fields and values about to be
    /// written) is longer than `hash-max-listpack-value` (Redis
    /// `hashTypeTryConversion`, run before HSET/HMSET write anything).
    pub fn try_conversion(&mut self, args: &[&[u8]], t: &Tunables) {
        if let Repr::Listpack(_) = self.0 {
            let max_value = t.hash_max_listpack_value.load(Ordering::Relaxed);
            if args.iter().any(|a| a.len() > max_value) {
                self.convert();
            }
        }
    }

    /// Set `field` to `value`, converting the encoding when the thresholds in
    /// `t` are crossed (Redis `hashTypeSet`: an over-long field or value
    /// converts before the insert, too many entries after it). Returns true if
    /// the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], t: &Tunables) -> bool {
        if let Repr::Listpack(_) = self.0 {
            let max_value = t.hash_max_listpack_value.load(Ordering::Relaxed);
            if field.len() > max_value || value.len() > max_value {
                self.convert();
            }
        }
        let inserted = match &mut self.0 {
            Repr::Listpack(v) => match Self::position(v, field).and_then(|i| v.get_mut(i)) {
                Some(pair) => {
                    pair.1 = Blob::new(value);
                    false
                }
                None => {
                    v.push((Blob::new(field), Blob::new(value)));
                    true
                }
            },
            Repr::Table(tb) => match tb.get_mut(field) {
                Some(x) => {
                    *x = Blob::new(value);
                    false
                }
                None => {
                    tb.insert(Blob::new(field), Blob::new(value));
                    true
                }
            },
        };
        if let Repr::Listpack(v) = &self.0 {
            if v.len() > t.hash_max_listpack_entries.load(Ordering::Relaxed) {
                self.convert();
            }
        }
        inserted
    }

    /// Remove `field`. Returns true if it existed. The listpack keeps its
    /// order (like deleting from a listpack); the table uses `swap_remove` so
    /// HSCAN cursors stay valid (see the module doc).
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.0 {
            Repr::Listpack(v) => match Self::position(v, field) {
                Some(i) => {
                    v.remove(i);
                    true
                }
                None => false,
            },
            Repr::Table(t) => t.swap_remove(field).is_some(),
        }
    }

    /// HSCAN step. The listpack encoding returns every pair at once with
    /// cursor 0 (as Redis does for compact encodings); the table visits up to
    /// `count` indices downwards from `cursor - 1` (0 starts at the top) and
    /// returns the next cursor, 0 when done.
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        count: usize,
        mut f: impl FnMut(&'a [u8], &'a [u8]),
    ) -> u64 {
        match &self.0 {
            Repr::Listpack(v) => {
                for (k, x) in v {
                    f(k, x);
                }
                0
            }
            Repr::Table(t) => {
                let len = t.len();
                let mut pos = match usize::try_from(cursor) {
                    Ok(c) if c != 0 && c <= len => c,
                    _ => len,
                };
                let mut visited = 0;
                while pos > 0 && visited < count.max(1) {
                    pos -= 1;
                    visited += 1;
                    if let Some((k, x)) = t.get_index(pos) {
                        f(k, x);
                    }
                }
                pos as u64
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn t() -> Tunables {
        Tunables::default()
    }

    #[test]
    fn size_is_small() {
        assert!(std::mem::size_of::<HashValue>() <= 24);
    }

    #[test]
    fn set_get_remove_keep_order() {
        let tu = t();
        let mut h = HashValue::new();
        assert!(h.set(b"a", b"1", &tu));
        assert!(h.set(b"b", b"2", &tu));
        assert!(h.set(b"c", b"3", &tu));
        assert!(!h.set(b"a", b"10", &tu));
        assert_eq!(h.get(b"a"), Some(&b"10"[..]));
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        let fields: Vec<&[u8]> = h.iter().map(|(f, _)| f).collect();
        assert_eq!(fields, vec![&b"a"[..], &b"c"[..]]);
        assert_eq!(h.encoding(), "listpack");
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn converts_on_entries_threshold() {
        let tu = t();
        let max = tu.hash_max_listpack_entries.load(Ordering::Relaxed);
        let mut h = HashValue::new();
        for i in 0..max {
            h.set(format!("f{i}").as_bytes(), b"v", &tu);
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f0", b"w", &tu);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"extra", b"v", &tu);
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), max + 1);
        // Never converts back.
        for i in 0..max {
            h.remove(format!("f{i}").as_bytes());
        }
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"extra"), Some(&b"v"[..]));
    }

    #[test]
    fn converts_on_value_length() {
        let tu = t();
        let max = tu.hash_max_listpack_value.load(Ordering::Relaxed);
        let mut h = HashValue::new();
        h.set(b"f", &vec![b'x'; max], &tu);
        assert_eq!(h.encoding(), "listpack");
        h.set(b"g", &vec![b'x'; max + 1], &tu);
        assert_eq!(h.encoding(), "hashtable");
        let mut h = HashValue::new();
        h.set(&vec![b'x'; max + 1], b"v", &tu);
        assert_eq!(h.encoding(), "hashtable");
    }

    #[test]
    fn scan_compact_returns_all_at_once() {
        let tu = t();
        let mut h = HashValue::new();
        for i in 0..10 {
            h.set(format!("f{i}").as_bytes(), b"v", &tu);
        }
        let mut n = 0;
        assert_eq!(h.scan(0, 1, |_, _| n += 1), 0);
        assert_eq!(n, 10);
    }

    #[test]
    fn scan_table_returns_every_stable_field_despite_deletes() {
        let tu = t();
        let mut h = HashValue::new();
        for i in 0..1000 {
            h.set(format!("f{i}").as_bytes(), b"v", &tu);
        }
        assert_eq!(h.encoding(), "hashtable");
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = h.scan(cursor, 10, |f, _| {
                seen.insert(f.to_vec());
            });
            round += 1;
            h.remove(format!("f{}", round * 7 % 1000).as_bytes());
            h.set(format!("new{round}").as_bytes(), b"v", &tu);
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            let deleted = (1..=round).any(|r| r * 7 % 1000 == i);
            if !deleted {
                assert!(seen.contains(format!("f{i}").as_bytes()), "f{i} missing");
            }
        }
    }
}
