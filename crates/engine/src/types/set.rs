//! The set type.
//!
//! Two encodings, as in Redis 7.0 (which has no listpack sets):
//!
//! - **intset**: a sorted vector of `i64`, used while every member is a
//!   canonical integer (one Redis's `string2ll` accepts: no sign `+`, no
//!   leading zeros, no spaces, fits in 64 bits) and there are at most
//!   `set-max-intset-entries` members. Membership is a binary search; members
//!   come out in ascending order, which is what Redis replies for SMEMBERS,
//!   SUNION… of integer sets, so those replies are byte-identical.
//! - **hashtable**: an `IndexSet`, used as soon as a non-integer member is
//!   added or the intset grows too large. Never converts back on its own.
//!
//! SSCAN over the hashtable walks indices from high to low; removal uses
//! `swap_remove`, which only moves the last entry into the hole, so a member
//! present for the whole scan is always returned (as `Db::scan` for keys).

use crate::blob::Blob;
use crate::keyspace::Tunables;
use crate::types::string::parse_i64;
use indexmap::IndexSet;
use rand::Rng;
use std::ops::Deref;
use std::sync::atomic::Ordering;

type Hasher = ahash::RandomState;
type Table = IndexSet<Blob, Hasher>;

/// A set value. At most 24 bytes (the table is boxed) so [`crate::Value`]
/// stays small.
#[derive(Debug, Clone)]
pub struct SetValue(Repr);

#[derive(Debug, Clone)]
enum Repr {
    Intset(Vec<i64>),
    Table(Box<Table>),
}

impl Default for SetValue {
    fn default() -> Self {
        Self::new()
    }
}

/// A member as bytes without allocating: intset members are formatted into
/// an inline buffer, hashtable members are borrowed. Derefs to `[u8]`.
#[derive(Clone, Copy)]
pub enum Member<'a> {
    Int { len: u8, buf: [u8; 20] },
    Str(&'a [u8]),
}

impl Member<'_> {
    pub fn int(n: i64) -> Self {
        let mut b = itoa::Buffer::new();
        let s = b.format(n).as_bytes();
        let mut buf = [0u8; 20];
        let len = s.len().min(20);
        buf[..len].copy_from_slice(&s[..len]);
        Member::Int {
            len: len as u8,
            buf,
        }
    }

    pub fn to_blob(&self) -> Blob {
        Blob::new(self)
    }
}

impl Deref for Member<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Member::Int { len, buf } => &buf[..usize::from(*len).min(20)],
            Member::Str(s) => s,
        }
    }
}

impl std::fmt::Debug for Member<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self))
    }
}

/// Iterator over the members, in encoding order (ascending for intsets).
pub enum SetIter<'a> {
    Intset(std::slice::Iter<'a, i64>),
    Table(indexmap::set::Iter<'a, Blob>),
}

impl<'a> Iterator for SetIter<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        match self {
            SetIter::Intset(it) => it.next().map(|&n| Member::int(n)),
            SetIter::Table(it) => it.next().map(|b| Member::Str(b.as_slice())),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            SetIter::Intset(it) => it.size_hint(),
            SetIter::Table(it) => it.size_hint(),
        }
    }
}

impl ExactSizeIterator for SetIter<'_> {}

impl SetValue {
    /// An empty set (intset encoding; the first non-integer member converts
    /// it, which is equivalent to Redis's `setTypeCreate`).
    pub fn new() -> Self {
        SetValue(Repr::Intset(Vec::new()))
    }

    /// A set built from `members` with the encoding Redis would give it.
    pub fn from_members<'m, I>(members: I, t: &Tunables) -> Self
    where
        I: IntoIterator<Item = &'m [u8]>,
    {
        let mut s = SetValue::new();
        for m in members {
            s.add(m, t);
        }
        s
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Intset(v) => v.len(),
            Repr::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match &self.0 {
            Repr::Intset(_) => "intset",
            Repr::Table(_) => "hashtable",
        }
    }

    pub fn is_intset(&self) -> bool {
        matches!(self.0, Repr::Intset(_))
    }

    /// Approximate heap bytes owned by this value (MEMORY USAGE, eviction).
    pub fn mem_usage(&self) -> usize {
        match &self.0 {
            Repr::Intset(v) => v.capacity() * 8,
            Repr::Table(t) => {
                std::mem::size_of::<Table>()
                    + t.capacity() * (std::mem::size_of::<Blob>() + 8)
                    + t.capacity() * 8 * 8 / 7
                    + t.iter().map(|m| m.heap_size()).sum::<usize>()
            }
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.0 {
            Repr::Intset(v) => parse_i64(member).is_some_and(|n| v.binary_search(&n).is_ok()),
            Repr::Table(t) => t.contains(member),
        }
    }

    /// All members in encoding order.
    pub fn iter(&self) -> SetIter<'_> {
        match &self.0 {
            Repr::Intset(v) => SetIter::Intset(v.iter()),
            Repr::Table(t) => SetIter::Table(t.iter()),
        }
    }

    /// The member at position `i` of the encoding order (O(1)), for random
    /// sampling.
    pub fn get_index(&self, i: usize) -> Option<Member<'_>> {
        match &self.0 {
            Repr::Intset(v) => v.get(i).map(|&n| Member::int(n)),
            Repr::Table(t) => t.get_index(i).map(|b| Member::Str(b.as_slice())),
        }
    }

    /// A uniformly random member.
    pub fn random(&self, rng: &mut impl Rng) -> Option<Member<'_>> {
        if self.is_empty() {
            return None;
        }
        self.get_index(rng.gen_range(0..self.len()))
    }

    fn convert(&mut self, extra: usize) {
        if let Repr::Intset(v) = &self.0 {
            let mut t = Table::with_capacity_and_hasher(v.len() + extra, Hasher::new());
            for &n in v {
                t.insert(Blob::from_i64(n));
            }
            self.0 = Repr::Table(Box::new(t));
        }
    }

    /// Add `member`; returns true if it was not there (Redis `setTypeAdd`:
    /// a non-integer converts to hashtable first, an intset growing past
    /// `set-max-intset-entries` converts after the insert).
    pub fn add(&mut self, member: &[u8], t: &Tunables) -> bool {
        if let Repr::Intset(v) = &mut self.0 {
            if let Some(n) = parse_i64(member) {
                let added = match v.binary_search(&n) {
                    Ok(_) => false,
                    Err(i) => {
                        v.insert(i, n);
                        true
                    }
                };
                let max = t
                    .set_max_intset_entries
                    .load(Ordering::Relaxed)
                    .min(1 << 30);
                if v.len() > max {
                    self.convert(0);
                }
                return added;
            }
            self.convert(1);
        }
        match &mut self.0 {
            Repr::Table(tb) => {
                if tb.contains(member) {
                    false
                } else {
                    tb.insert(Blob::new(member))
                }
            }
            // Unreachable: converted above.
            Repr::Intset(_) => false,
        }
    }

    /// Remove `member`; returns true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.0 {
            Repr::Intset(v) => match parse_i64(member).map(|n| v.binary_search(&n)) {
                Some(Ok(i)) => {
                    v.remove(i);
                    true
                }
                _ => false,
            },
            Repr::Table(t) => t.swap_remove(member),
        }
    }

    /// Remove and return a uniformly random member (SPOP).
    pub fn pop_random(&mut self, rng: &mut impl Rng) -> Option<Blob> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        let i = rng.gen_range(0..len);
        match &mut self.0 {
            Repr::Intset(v) => {
                if i < v.len() {
                    Some(Blob::from_i64(v.remove(i)))
                } else {
                    None
                }
            }
            Repr::Table(t) => t.swap_remove_index(i),
        }
    }

    /// SSCAN step: the intset returns every member at once with cursor 0 (as
    /// Redis does for compact encodings); the table visits up to `count`
    /// indices downwards from `cursor - 1` (0 starts at the top) and returns
    /// the next cursor, 0 when done.
    pub fn scan<'a>(&'a self, cursor: u64, count: usize, mut f: impl FnMut(Member<'a>)) -> u64 {
        match &self.0 {
            Repr::Intset(v) => {
                for &n in v {
                    f(Member::int(n));
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
                    if let Some(m) = t.get_index(pos) {
                        f(Member::Str(m));
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
        assert!(std::mem::size_of::<SetValue>() <= 24);
    }

    #[test]
    fn intset_sorted_and_canonical_only() {
        let tu = t();
        let mut s = SetValue::new();
        for m in ["5", "-3", "100", "5", "0"] {
            s.add(m.as_bytes(), &tu);
        }
        assert_eq!(s.encoding(), "intset");
        let v: Vec<Vec<u8>> = s.iter().map(|m| m.to_vec()).collect();
        assert_eq!(
            v,
            vec![
                b"-3".to_vec(),
                b"0".to_vec(),
                b"5".to_vec(),
                b"100".to_vec()
            ]
        );
        assert!(s.contains(b"100"));
        assert!(!s.contains(b"0100"));
        assert!(s.remove(b"5"));
        assert!(!s.remove(b"+5"));
        // Non-canonical integers convert.
        for m in ["01", "+1", " 1", "-0", "9223372036854775808"] {
            let mut s = SetValue::new();
            s.add(b"1", &tu);
            s.add(m.as_bytes(), &tu);
            assert_eq!(s.encoding(), "hashtable", "{m}");
            assert_eq!(s.len(), 2);
        }
        let mut s = SetValue::new();
        s.add(b"-9223372036854775808", &tu);
        s.add(b"9223372036854775807", &tu);
        assert_eq!(s.encoding(), "intset");
    }

    #[test]
    fn intset_converts_past_max_entries() {
        let tu = t();
        let max = tu.set_max_intset_entries.load(Ordering::Relaxed);
        let mut s = SetValue::new();
        for i in 0..max {
            s.add(i.to_string().as_bytes(), &tu);
        }
        assert_eq!(s.encoding(), "intset");
        s.add(b"0", &tu);
        assert_eq!(s.encoding(), "intset");
        s.add(b"-1", &tu);
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), max + 1);
        assert!(s.contains(b"-1") && s.contains(b"0"));
    }

    #[test]
    fn pop_random_drains() {
        let tu = t();
        let mut rng = rand::thread_rng();
        for members in [vec!["1", "2", "3"], vec!["a", "b", "c"]] {
            let mut s = SetValue::from_members(members.iter().map(|m| m.as_bytes()), &tu);
            let mut got = Vec::new();
            while let Some(m) = s.pop_random(&mut rng) {
                got.push(m.to_vec());
            }
            got.sort();
            let want: Vec<Vec<u8>> = members.iter().map(|m| m.as_bytes().to_vec()).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn scan_table_returns_every_stable_member_despite_deletes() {
        let tu = t();
        let mut s = SetValue::new();
        for i in 0..1000 {
            s.add(format!("m{i}").as_bytes(), &tu);
        }
        let mut seen = HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = s.scan(cursor, 10, |m| {
                seen.insert(m.to_vec());
            });
            round += 1;
            s.remove(format!("m{}", round * 7 % 1000).as_bytes());
            s.add(format!("new{round}").as_bytes(), &tu);
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            let deleted = (1..=round).any(|r| r * 7 % 1000 == i);
            if !deleted {
                assert!(seen.contains(format!("m{i}").as_bytes()), "m{i} missing");
            }
        }
    }
}
