//! The stream type (Redis `t_stream.c`): an append-only log of entries keyed
//! by `(ms, seq)` IDs, with consumer groups and their pending entries lists.
//!
//! # Layout, and why
//!
//! - Entries live in a `BTreeMap<StreamId, Box<[Blob]>>`. A B-tree keeps
//!   ~11 entries per node contiguously, so the per-entry overhead is about
//!   the 16-byte key + the 16-byte boxed slice pointer + a share of the node
//!   (≈ 40 bytes), appends at the right edge are O(log n) with a tiny
//!   constant (the tree is shallow: 6 levels for 10^7 entries), and range
//!   reads are O(log n + k). Redis's radix tree of listpacks is denser for
//!   tiny entries, but a flat ordered tree gives the same complexity without
//!   an encoder, and deletions free memory immediately instead of leaving
//!   tombstones.
//! - Redis's listpack *nodes* are still visible to clients: `MAXLEN ~` /
//!   `MINID ~` only drop whole nodes, and XINFO reports the node count. So
//!   the node boundaries are tracked as metadata only ([`NodeMeta`]: first
//!   and last ID, entries appended, entries still live), which is 40 bytes
//!   per 100 entries.
//! - Consumer groups keep their PEL as a `BTreeMap<StreamId, PendingEntry>`
//!   (ordered by ID, as XPENDING walks it) and each consumer keeps the IDs it
//!   owns in a `BTreeSet`, the two views Redis keeps in two radix trees.
//!   Group and consumer names are `BTreeMap` keys: Redis lists them in rax
//!   (byte-wise) order.

use crate::blob::Blob;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

/// A stream entry ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub const fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        self.ms == 0 && self.seq == 0
    }

    /// The next ID (Redis `streamIncrID`); `None` past the last possible ID.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq == u64::MAX {
            if self.ms == u64::MAX {
                None
            } else {
                Some(StreamId::new(self.ms + 1, 0))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq + 1))
        }
    }

    /// The previous ID (Redis `streamDecrID`); `None` before 0-0.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq == 0 {
            if self.ms == 0 {
                None
            } else {
                Some(StreamId::new(self.ms - 1, u64::MAX))
            }
        } else {
            Some(StreamId::new(self.ms, self.seq - 1))
        }
    }

    /// Big-endian bytes: the radix-tree key Redis uses.
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    /// Parse `<ms>-<seq>` / `<ms>` / `-` / `+` as Redis's
    /// `streamGenericParseIDOrReply`. `missing_seq` fills an absent sequence;
    /// `strict` refuses `-` and `+`; `allow_star_seq` accepts `<ms>-*`
    /// (XADD), reported as `seq_given == false`.
    pub fn parse(
        arg: &[u8],
        missing_seq: u64,
        strict: bool,
        allow_star_seq: bool,
    ) -> Option<(StreamId, bool)> {
        if arg.len() > 127 {
            return None;
        }
        // C string semantics: the argument ends at its first NUL.
        let arg = &arg[..arg.iter().position(|&c| c == 0).unwrap_or(arg.len())];
        if arg == b"-" || arg == b"+" {
            if strict {
                return None;
            }
            return Some((
                if arg == b"-" {
                    StreamId::MIN
                } else {
                    StreamId::MAX
                },
                true,
            ));
        }
        let (ms_part, seq_part) = match arg.iter().position(|&c| c == b'-') {
            Some(p) => (&arg[..p], Some(&arg[p + 1..])),
            None => (arg, None),
        };
        let ms = string2ull(ms_part)?;
        match seq_part {
            None => Some((StreamId::new(ms, missing_seq), true)),
            Some(b"*") if allow_star_seq => Some((StreamId::new(ms, 0), false)),
            Some(s) => Some((StreamId::new(ms, string2ull(s)?), true)),
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Redis `string2ull`: a strict signed integer that is not negative, else
/// whatever `strtoull` accepts whole (leading blanks, a sign, digits).
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = crate::types::string::parse_i64(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let mut neg = false;
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        neg = s[i] == b'-';
        i += 1;
    }
    if i >= s.len() {
        return None;
    }
    let mut v: u64 = 0;
    for &c in &s[i..] {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// One pending (delivered, not acknowledged) entry of a group.
#[derive(Debug, Clone)]
pub struct PendingEntry {
    /// Unix ms of the last delivery.
    pub delivery_time: u64,
    pub delivery_count: u64,
    /// The owning consumer's name.
    pub consumer: Blob,
}

/// A consumer of a group.
#[derive(Debug, Clone, Default)]
pub struct Consumer {
    /// Unix ms of the last time the consumer was seen (read or claimed).
    pub seen_time: u64,
    /// IDs of the pending entries this consumer owns.
    pub pel: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, Default)]
pub struct ConsumerGroup {
    pub last_id: StreamId,
    /// Logical read counter (`None` = Redis's `SCG_INVALID_ENTRIES_READ`).
    pub entries_read: Option<u64>,
    pub pel: BTreeMap<StreamId, PendingEntry>,
    pub consumers: BTreeMap<Blob, Consumer>,
}

impl ConsumerGroup {
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> Self {
        ConsumerGroup {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// Create the consumer if missing; returns true if created.
    pub fn create_consumer(&mut self, name: &[u8], now: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            Blob::new(name),
            Consumer {
                seen_time: now,
                pel: BTreeSet::new(),
            },
        );
        true
    }

    /// Look a consumer up refreshing its seen time, creating it if missing
    /// (Redis `streamLookupConsumer(SLC_DEFAULT)` + `streamCreateConsumer`).
    pub fn touch_consumer(&mut self, name: &[u8], now: u64) {
        match self.consumers.get_mut(name) {
            Some(c) => c.seen_time = now,
            None => {
                self.create_consumer(name, now);
            }
        }
    }

    /// Remove a consumer and its pending entries; returns how many it had.
    pub fn delete_consumer(&mut self, name: &[u8]) -> usize {
        let Some(c) = self.consumers.remove(name) else {
            return 0;
        };
        for id in &c.pel {
            self.pel.remove(id);
        }
        c.pel.len()
    }

    /// Remove one pending entry from the group and its owner.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(p) => {
                if let Some(c) = self.consumers.get_mut(p.consumer.as_slice()) {
                    c.pel.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Give pending entry `id` to `consumer` (which must exist), with the
    /// given delivery time; creates the entry if `create`. Returns false if
    /// there is no such pending entry.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8], time: u64) -> bool {
        let Some(p) = self.pel.get_mut(&id) else {
            return false;
        };
        if p.consumer.as_slice() != consumer {
            if let Some(old) = self.consumers.get_mut(p.consumer.as_slice()) {
                old.pel.remove(&id);
            }
            p.consumer = Blob::new(consumer);
        }
        p.delivery_time = time;
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pel.insert(id);
        }
        true
    }
}

/// Metadata of one Redis listpack node (see the module docs).
#[derive(Debug, Clone, Copy)]
struct NodeMeta {
    first: StreamId,
    last: StreamId,
    /// Entries appended to the node (live or deleted).
    total: u32,
    /// Entries still live.
    live: u32,
}

/// How to trim (XADD/XTRIM options).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

/// A stream.
#[derive(Debug, Clone, Default)]
pub struct StreamValue {
    entries: BTreeMap<StreamId, Box<[Blob]>>,
    nodes: VecDeque<NodeMeta>,
    pub last_id: StreamId,
    /// First live entry's ID as Redis records it (0-0 when empty).
    pub first_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    pub groups: BTreeMap<Blob, ConsumerGroup>,
}

impl StreamValue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        "stream"
    }

    /// Approximate heap bytes (MEMORY USAGE).
    pub fn mem_usage(&self) -> usize {
        let mut n = std::mem::size_of::<Self>() + self.nodes.len() * 48;
        for f in self.entries.values() {
            n += 40 + f.len() * std::mem::size_of::<Blob>();
            n += f.iter().map(|b| b.heap_size()).sum::<usize>();
        }
        for g in self.groups.values() {
            n += 64 + g.pel.len() * 64;
            n += g.consumers.len() * 64;
        }
        n
    }

    pub fn get(&self, id: StreamId) -> Option<&[Blob]> {
        self.entries.get(&id).map(|b| &b[..])
    }

    pub fn contains(&self, id: StreamId) -> bool {
        self.entries.contains_key(&id)
    }

    /// Entries with `start <= id <= end`, ascending or descending.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = (StreamId, &[Blob])> + '_> {
        if start > end {
            return Box::new(std::iter::empty());
        }
        let it = self.entries.range(start..=end).map(|(k, v)| (*k, &v[..]));
        if rev {
            Box::new(it.rev())
        } else {
            Box::new(it)
        }
    }

    pub fn first_entry(&self) -> Option<(StreamId, &[Blob])> {
        self.entries.iter().next().map(|(k, v)| (*k, &v[..]))
    }

    pub fn last_entry(&self) -> Option<(StreamId, &[Blob])> {
        self.entries.iter().next_back().map(|(k, v)| (*k, &v[..]))
    }

    /// The ID the next entry gets for a given request (Redis
    /// `streamAppendItem`'s ID choice): `None` if it would not be greater
    /// than the last ID.
    pub fn next_id(&self, given: Option<(StreamId, bool)>, now_ms: u64) -> Option<StreamId> {
        let id = match given {
            Some((id, true)) => id,
            Some((id, false)) => {
                if self.last_id.ms == id.ms {
                    if self.last_id.seq == u64::MAX {
                        return None;
                    }
                    StreamId::new(id.ms, self.last_id.seq + 1)
                } else {
                    id
                }
            }
            None => {
                if now_ms > self.last_id.ms {
                    StreamId::new(now_ms, 0)
                } else {
                    self.last_id.incr()?
                }
            }
        };
        (id > self.last_id).then_some(id)
    }

    /// Append an entry with an ID from [`next_id`](Self::next_id).
    /// `node_max` is `stream-node-max-entries` (0 = unlimited).
    pub fn append(&mut self, id: StreamId, fields: Box<[Blob]>, node_max: u32) {
        let new_node = match self.nodes.back() {
            None => true,
            Some(n) => node_max != 0 && n.total >= node_max,
        };
        if new_node {
            self.nodes.push_back(NodeMeta {
                first: id,
                last: id,
                total: 1,
                live: 1,
            });
        } else if let Some(n) = self.nodes.back_mut() {
            n.last = id;
            n.total += 1;
            n.live += 1;
        }
        self.entries.insert(id, fields);
        if self.entries.len() == 1 {
            self.first_id = id;
        }
        self.last_id = id;
        self.entries_added += 1;
    }

    /// Node index holding `id`.
    fn node_of(&self, id: StreamId) -> Option<usize> {
        let p = self.nodes.partition_point(|n| n.first <= id);
        p.checked_sub(1)
    }

    fn node_entry_removed(&mut self, id: StreamId) {
        if let Some(i) = self.node_of(id) {
            if let Some(n) = self.nodes.get_mut(i) {
                n.live = n.live.saturating_sub(1);
                if n.live == 0 {
                    self.nodes.remove(i);
                }
            }
        }
    }

    /// XDEL of several IDs: returns how many existed.
    pub fn delete(&mut self, ids: &[StreamId]) -> usize {
        let mut deleted = 0;
        let mut first_entry = false;
        for &id in ids {
            if self.entries.remove(&id).is_some() {
                self.node_entry_removed(id);
                if id == self.first_id {
                    first_entry = true;
                }
                if id > self.max_deleted_id {
                    self.max_deleted_id = id;
                }
                deleted += 1;
            }
        }
        if deleted > 0 {
            if self.entries.is_empty() {
                self.first_id = StreamId::MIN;
            } else if first_entry {
                self.first_id = self.first_entry().map(|e| e.0).unwrap_or_default();
            }
        }
        deleted
    }

    /// Redis `streamTrim`: whole nodes first; with `approx` only whole
    /// nodes; `limit` (0 = none) caps the entries removed by node drops.
    /// Returns the number of entries removed.
    pub fn trim(&mut self, how: Trim, approx: bool, limit: u64) -> u64 {
        let mut deleted: u64 = 0;
        while let Some(&node) = self.nodes.front() {
            if let Trim::MaxLen(max) = how {
                if self.entries.len() as u64 <= max {
                    break;
                }
            }
            let live = u64::from(node.live);
            if limit != 0 && deleted + live > limit {
                break;
            }
            let remove_node = match how {
                Trim::MaxLen(max) => self.entries.len() as u64 - live >= max,
                Trim::MinId(min) => node.last < min,
            };
            if remove_node {
                self.nodes.pop_front();
                let keep = match node.last.incr() {
                    Some(next) => self.entries.split_off(&next),
                    None => BTreeMap::new(),
                };
                let removed = std::mem::replace(&mut self.entries, keep);
                deleted += removed.len() as u64;
                continue;
            }
            if approx {
                break;
            }
            // Remove single entries from inside this node.
            let mut in_node = 0u32;
            while let Some((&id, _)) = self.entries.iter().next() {
                let stop = match how {
                    Trim::MaxLen(max) => self.entries.len() as u64 <= max,
                    Trim::MinId(min) => id >= min,
                };
                if stop || id > node.last {
                    break;
                }
                self.entries.remove(&id);
                in_node += 1;
                deleted += 1;
            }
            if let Some(n) = self.nodes.front_mut() {
                n.live = n.live.saturating_sub(in_node);
                if n.live == 0 {
                    self.nodes.pop_front();
                }
            }
            break;
        }
        if deleted > 0 {
            self.first_id = self.first_entry().map(|e| e.0).unwrap_or_default();
        }
        deleted
    }

    /// Number of listpack nodes Redis would have (XINFO radix-tree-keys).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Nodes of the radix tree holding the node keys (XINFO
    /// radix-tree-nodes), computed for the canonical compressed trie of the
    /// 16-byte big-endian node IDs.
    pub fn radix_nodes(&self) -> usize {
        let keys: Vec<[u8; 16]> = self.nodes.iter().map(|n| n.first.to_be_bytes()).collect();
        if keys.is_empty() {
            return 1;
        }
        fn count(keys: &[[u8; 16]], depth: usize) -> usize {
            if depth >= 16 || keys.is_empty() {
                return 1;
            }
            let (Some(first), Some(last)) = (keys.first(), keys.last()) else {
                return 1;
            };
            // Sorted keys: the common prefix of the set is that of its ends.
            let mut p = 0;
            while depth + p < 16 && first[depth + p] == last[depth + p] {
                p += 1;
            }
            if p > 0 {
                return 1 + count(keys, depth + p);
            }
            let mut n = 1;
            let mut i = 0;
            while i < keys.len() {
                let b = keys[i][depth];
                let j = i + keys[i..].partition_point(|k| k[depth] == b);
                n += count(&keys[i..j], depth + 1);
                i = j;
            }
            n
        }
        count(&keys, 0)
    }

    /// Does the stream hold a deletion ("tombstone") between `start` and
    /// `end` (Redis `streamRangeHasTombstones`)?
    pub fn range_has_tombstones(&self, start: StreamId, end: Option<StreamId>) -> bool {
        if self.entries.is_empty() || self.max_deleted_id.is_zero() {
            return false;
        }
        if self.first_id > self.max_deleted_id {
            return false;
        }
        let end = end.unwrap_or(StreamId::MAX);
        start <= self.max_deleted_id && self.max_deleted_id <= end
    }

    /// Redis 7.0 `streamEstimateDistanceFromFirstEverEntry`: the logical
    /// read counter of `id`, or `None` when it cannot be known.
    pub fn estimate_distance(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let len = self.entries.len() as u64;
        if len == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return Some(self.entries_added),
            std::cmp::Ordering::Greater => return None,
            std::cmp::Ordering::Less => {}
        }
        if self.max_deleted_id.is_zero() || self.max_deleted_id < self.first_id {
            match id.cmp(&self.first_id) {
                std::cmp::Ordering::Less => return Some(self.entries_added - len),
                std::cmp::Ordering::Equal => return Some(self.entries_added - len + 1),
                std::cmp::Ordering::Greater => {}
            }
        }
        None
    }

    /// A group's lag (Redis `streamReplyWithCGLag`); `None` = unknown.
    pub fn group_lag(&self, g: &ConsumerGroup) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if let Some(read) = g.entries_read {
            if !self.range_has_tombstones(g.last_id, None) {
                return Some(self.entries_added.wrapping_sub(read));
            }
        }
        self.estimate_distance(g.last_id)
            .map(|read| self.entries_added.wrapping_sub(read))
    }

    /// Advance a group's last-delivered ID to `id` (delivered by `>`),
    /// keeping its read counter as Redis does.
    pub fn advance_group(&mut self, group: &[u8], id: StreamId) {
        let tomb = self.range_has_tombstones(id, None);
        let est = if self.entries_added != 0 {
            Some(self.estimate_distance(id))
        } else {
            None
        };
        if let Some(g) = self.groups.get_mut(group) {
            if id <= g.last_id {
                return;
            }
            match (g.entries_read, tomb) {
                (Some(r), false) => g.entries_read = Some(r + 1),
                _ => {
                    if let Some(e) = est {
                        g.entries_read = e;
                    }
                }
            }
            g.last_id = id;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f() -> Box<[Blob]> {
        vec![Blob::new(b"a"), Blob::new(b"1")].into_boxed_slice()
    }

    #[test]
    fn parse_ids() {
        assert_eq!(
            StreamId::parse(b"1-2", 0, true, false),
            Some((StreamId::new(1, 2), true))
        );
        assert_eq!(
            StreamId::parse(b"5", u64::MAX, false, false),
            Some((StreamId::new(5, u64::MAX), true))
        );
        assert_eq!(StreamId::parse(b"-", 0, true, false), None);
        assert_eq!(
            StreamId::parse(b"+", 0, false, false),
            Some((StreamId::MAX, true))
        );
        assert_eq!(
            StreamId::parse(b"7-*", 0, true, true),
            Some((StreamId::new(7, 0), false))
        );
        assert_eq!(StreamId::parse(b"7-*", 0, true, false), None);
        assert_eq!(StreamId::parse(b"-1", 0, true, false), None);
        assert_eq!(StreamId::parse(b"a-1", 0, true, false), None);
        assert_eq!(
            StreamId::parse(b"18446744073709551615-0", 0, true, false),
            Some((StreamId::new(u64::MAX, 0), true))
        );
        assert_eq!(
            StreamId::parse(b"18446744073709551616", 0, true, false),
            None
        );
    }

    #[test]
    fn append_delete_trim() {
        let mut s = StreamValue::new();
        for i in 1..=250u64 {
            let id = s.next_id(Some((StreamId::new(i, 0), true)), 0);
            assert_eq!(id, Some(StreamId::new(i, 0)));
            s.append(StreamId::new(i, 0), f(), 100);
        }
        assert_eq!(s.node_count(), 3);
        assert_eq!(s.next_id(Some((StreamId::new(3, 0), true)), 0), None);
        // Approximate trimming only drops whole nodes.
        assert_eq!(s.trim(Trim::MaxLen(200), true, 0), 0);
        assert_eq!(s.trim(Trim::MaxLen(140), true, 0), 100);
        assert_eq!(s.len(), 150);
        assert_eq!(s.trim(Trim::MaxLen(140), false, 0), 10);
        assert_eq!(s.first_id, StreamId::new(111, 0));
        assert_eq!(s.delete(&[StreamId::new(111, 0), StreamId::new(1, 0)]), 1);
        assert_eq!(s.first_id, StreamId::new(112, 0));
        assert_eq!(s.max_deleted_id, StreamId::new(111, 0));
        assert_eq!(s.trim(Trim::MinId(StreamId::new(240, 0)), false, 0), 128);
        assert_eq!(s.len(), 11);
    }

    #[test]
    fn radix_nodes_small() {
        let mut s = StreamValue::new();
        assert_eq!(s.radix_nodes(), 1);
        s.append(StreamId::new(1, 0), f(), 100);
        assert_eq!(s.radix_nodes(), 2);
    }
}
