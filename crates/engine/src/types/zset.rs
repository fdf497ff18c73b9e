//! The sorted set type.
//!
//! Two encodings, as in Redis 7.0:
//!
//! - **listpack**: a vector of `(score, member)` kept sorted by score, then
//!   member bytes. Used while the set has at most `zset-max-listpack-entries`
//!   members, none longer than `zset-max-listpack-value` bytes. Lookups by
//!   member are linear scans (at most 128 short entries: a few cache lines),
//!   positional work is a binary search or a direct index.
//! - **skiplist**: an arena-indexed skiplist with spans (Pugh's skiplist as
//!   Redis's `t_zset.c` has it) giving O(log n) insert, delete, rank,
//!   select-by-rank and range-by-score/lex, plus a SwissTable of node
//!   indices hashed by member (O(1) ZSCORE and membership). Nodes live in a
//!   `Vec` and link to each other by `u32` index instead of pointers, which
//!   keeps the code free of `unsafe` and the links half the size of
//!   pointers; each member is stored once, in its node.
//!
//! Conversion is one-way (listpack → skiplist), as in Redis: a set that grew
//! large stays large. Results built in one go (ZUNIONSTORE, ZRANGESTORE…) pick
//! the encoding from their final size, as Redis's
//! `zsetConvertToListpackIfNeeded` does.
//!
//! Ordering is by score, then by member bytes (`memcmp`). Scores are never
//! NaN: callers must refuse NaN before inserting (Redis replies "resulting
//! score is not a number (NaN)").
//!
//! ZSCAN walks the node arena downwards: nodes never move to a higher slot
//! (freed slots are reused in place; compaction after mass deletion keeps
//! the live nodes' order), which gives the same guarantee as `Db::scan`.
//! ZRANDMEMBER probes random arena slots (O(1) while the arena is dense).

use crate::blob::Blob;
use crate::keyspace::Tunables;
use hashbrown::HashTable;
use rand::Rng;
use std::cmp::Ordering;

type Hasher = ahash::RandomState;

/// Encoding thresholds (`zset-max-listpack-entries`, `zset-max-listpack-value`)
/// read once per command from [`Tunables`].
#[derive(Debug, Clone, Copy)]
pub struct ZLimits {
    pub entries: usize,
    pub value: usize,
}

impl ZLimits {
    pub fn from_tunables(t: &Tunables) -> Self {
        ZLimits {
            entries: t.get(&t.zset_max_listpack_entries),
            value: t.get(&t.zset_max_listpack_value),
        }
    }
}

impl Default for ZLimits {
    fn default() -> Self {
        ZLimits {
            entries: 128,
            value: 64,
        }
    }
}

/// Total order of elements: score, then member bytes.
#[inline]
fn cmp_elem(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    match s1.partial_cmp(&s2) {
        Some(Ordering::Equal) | None => m1.cmp(m2),
        Some(o) => o,
    }
}

/// A sorted set value. 24 bytes: the large encoding is boxed so that
/// [`crate::Value`] stays small.
#[derive(Debug, Clone)]
pub struct ZSetValue(Repr);

#[derive(Debug, Clone)]
enum Repr {
    Listpack(Vec<(f64, Blob)>),
    Skiplist(Box<Big>),
}

impl Default for ZSetValue {
    fn default() -> Self {
        Self::new()
    }
}

impl ZSetValue {
    /// An empty sorted set in the compact encoding (the first insert converts
    /// it when the member is too long or the entry limit is 0, which is
    /// equivalent to Redis's choice at creation).
    pub fn new() -> Self {
        ZSetValue(Repr::Listpack(Vec::new()))
    }

    /// Build from distinct members in any order, choosing the encoding from
    /// the final size (Redis `zsetConvertToListpackIfNeeded`).
    pub fn from_entries(mut entries: Vec<(f64, Blob)>, limits: ZLimits) -> Self {
        entries.sort_unstable_by(|a, b| cmp_elem(a.0, &a.1, b.0, &b.1));
        let maxlen = entries.iter().map(|e| e.1.len()).max().unwrap_or(0);
        if entries.len() <= limits.entries && maxlen <= limits.value {
            for e in &mut entries {
                e.0 = lp_score(e.0);
            }
            ZSetValue(Repr::Listpack(entries))
        } else {
            ZSetValue(Repr::Skiplist(Box::new(Big::from_sorted(entries))))
        }
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Listpack(v) => v.len(),
            Repr::Skiplist(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The name OBJECT ENCODING reports.
    pub fn encoding(&self) -> &'static str {
        match &self.0 {
            Repr::Listpack(_) => "listpack",
            Repr::Skiplist(_) => "skiplist",
        }
    }

    /// Approximate heap bytes owned by this value (MEMORY USAGE, eviction).
    /// O(n) for the compact encoding (n ≤ 128), O(1) for the large one, which
    /// keeps a running count of member bytes.
    pub fn mem_usage(&self) -> usize {
        match &self.0 {
            Repr::Listpack(v) => {
                v.capacity() * std::mem::size_of::<(f64, Blob)>()
                    + v.iter().map(|e| e.1.heap_size()).sum::<usize>()
            }
            Repr::Skiplist(b) => b.mem_usage(),
        }
    }

    /// Score of `member`, if present.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.0 {
            Repr::Listpack(v) => v.iter().find(|e| &*e.1 == member).map(|e| e.0),
            Repr::Skiplist(b) => b.score(member),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.score(member).is_some()
    }

    /// Set `member`'s score, adding it if new. Returns the previous score.
    /// Converts to the skiplist encoding when an addition would exceed the
    /// listpack limits. `score` must not be NaN.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: ZLimits) -> Option<f64> {
        debug_assert!(!score.is_nan());
        if let Repr::Listpack(v) = &mut self.0 {
            let score = lp_score(score);
            if let Some(pos) = v.iter().position(|e| &*e.1 == member) {
                let old = v[pos].0;
                if old != score {
                    let (_, blob) = v.remove(pos);
                    let at = lp_insert_pos(v, score, &blob);
                    v.insert(at, (score, blob));
                }
                return Some(old);
            }
            if v.len() < limits.entries && member.len() <= limits.value {
                let at = lp_insert_pos(v, score, member);
                v.insert(at, (score, Blob::new(member)));
                return None;
            }
            self.convert();
        }
        match &mut self.0 {
            Repr::Skiplist(b) => b.insert(member, score),
            Repr::Listpack(_) => None,
        }
    }

    /// Look `member` up once and let `decide` choose its new score from the
    /// current one (`None` = absent): `Some(score)` sets it (adding the
    /// member if absent), `None` leaves the set alone. Returns the current
    /// score `decide` saw. ZADD uses this so that each member costs one hash
    /// and one table probe (plus the skiplist work), not a ZSCORE-style
    /// lookup followed by a second lookup inside `insert`. The new score
    /// must not be NaN.
    pub fn upsert(
        &mut self,
        member: &[u8],
        limits: ZLimits,
        decide: impl FnOnce(Option<f64>) -> Option<f64>,
    ) -> Option<f64> {
        match &mut self.0 {
            Repr::Listpack(v) => {
                let cur = v.iter().find(|e| &*e.1 == member).map(|e| e.0);
                if let Some(new) = decide(cur) {
                    self.insert(member, new, limits);
                }
                cur
            }
            Repr::Skiplist(b) => b.upsert(member, decide),
        }
    }

    /// Move to the skiplist encoding (one way).
    fn convert(&mut self) {
        if let Repr::Listpack(v) = &mut self.0 {
            let entries = std::mem::take(v);
            self.0 = Repr::Skiplist(Box::new(Big::from_sorted(entries)));
        }
    }

    /// Remove `member`. Returns its score if it was present.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match &mut self.0 {
            Repr::Listpack(v) => {
                let pos = v.iter().position(|e| &*e.1 == member)?;
                Some(v.remove(pos).0)
            }
            Repr::Skiplist(b) => b.remove(member),
        }
    }

    /// 0-based rank of `member` in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.0 {
            Repr::Listpack(v) => v.iter().position(|e| &*e.1 == member),
            Repr::Skiplist(b) => {
                let score = b.score(member)?;
                Some(b.sl.partition_point(|s, m| cmp_elem(s, m, score, member).is_lt()))
            }
        }
    }

    /// Element at 0-based ascending rank.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&[u8], f64)> {
        match &self.0 {
            Repr::Listpack(v) => v.get(rank).map(|e| (e.1.as_slice(), e.0)),
            Repr::Skiplist(b) => {
                let n = b.sl.node_at(rank)?;
                Some(b.sl.elem(n))
            }
        }
    }

    /// Number of leading elements (in ascending order) for which `pred`
    /// holds. `pred` must be monotone: true for a prefix, false after.
    /// O(log n). This is the building block of every range lookup: the ranks
    /// of a score or lex range are two partition points.
    pub fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match &self.0 {
            Repr::Listpack(v) => v.partition_point(|e| pred(e.0, &e.1)),
            Repr::Skiplist(b) => b.sl.partition_point(pred),
        }
    }

    /// All elements in ascending order, as `(member, score)`.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0, false)
    }

    /// Elements starting at 0-based ascending rank `rank`, walking up
    /// (`rev == false`) or down (`rev == true`). O(log n) to start, O(1) per
    /// step.
    pub fn iter_from(&self, rank: usize, rev: bool) -> Iter<'_> {
        let len = self.len();
        if rank >= len {
            return Iter {
                inner: IterInner::Done,
            };
        }
        let remaining = if rev { rank + 1 } else { len - rank };
        let inner = match &self.0 {
            Repr::Listpack(v) => IterInner::Lp {
                v,
                pos: rank,
                rev,
                remaining,
            },
            Repr::Skiplist(b) => match b.sl.node_at(rank) {
                Some(node) => IterInner::Sl {
                    sl: &b.sl,
                    node,
                    rev,
                    remaining,
                },
                None => IterInner::Done,
            },
        };
        Iter { inner }
    }

    /// Remove the elements with 0-based ranks in `start..end`. Returns how
    /// many were removed.
    pub fn remove_rank_range(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        match &mut self.0 {
            Repr::Listpack(v) => {
                v.drain(start..end);
            }
            Repr::Skiplist(b) => b.remove_rank_range(start, end),
        }
        end - start
    }

    /// Remove and return the lowest (`max == false`) or highest element.
    pub fn pop(&mut self, max: bool) -> Option<(Blob, f64)> {
        match &mut self.0 {
            Repr::Listpack(v) => {
                if v.is_empty() {
                    return None;
                }
                let (s, m) = if max { v.pop()? } else { v.remove(0) };
                Some((m, s))
            }
            Repr::Skiplist(b) => {
                let x = if max { b.sl.tail } else { b.sl.next(NIL) };
                if x == NIL {
                    return None;
                }
                let m = Blob::new(b.sl.elem(x).0);
                let s = b.remove(&m)?;
                Some((m, s))
            }
        }
    }

    /// A uniformly random element.
    pub fn random(&self, rng: &mut impl Rng) -> Option<(&[u8], f64)> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        match &self.0 {
            Repr::Listpack(v) => v.get(rng.gen_range(0..len)).map(|e| (e.1.as_slice(), e.0)),
            Repr::Skiplist(b) => b.random(rng).map(|x| b.sl.elem(x)),
        }
    }

    /// ZSCAN step. The compact encoding returns everything at once with
    /// cursor 0 (as Redis does for listpacks). The large one visits the
    /// skiplist arena from slot `cursor - 1` downwards (cursor 0 starts at
    /// the top), calling `f` for up to `count` entries; returns the next
    /// cursor (0 = done). Members present for the whole scan are always
    /// returned.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.0 {
            Repr::Listpack(v) => {
                for (s, m) in v {
                    f(m, *s);
                }
                0
            }
            Repr::Skiplist(b) => b.scan(cursor, count, f),
        }
    }

    /// Switch to the skiplist encoding for good, as SORT does to any sorted
    /// set it sorts (sort.c: "Destructively convert encoded sorted sets").
    /// Only OBJECT ENCODING can tell.
    pub fn convert_to_skiplist(&mut self) {
        self.convert();
    }
}

/// The score a listpack stores: Redis 7.0 writes listpack scores as text
/// with `d2string`, which prints -0 as "0", so a negative zero does not
/// survive in the compact encoding (it does in the skiplist).
#[inline]
fn lp_score(s: f64) -> f64 {
    if s == 0.0 {
        0.0
    } else {
        s
    }
}

/// Insertion index for `(score, member)` in a sorted listpack vector.
fn lp_insert_pos(v: &[(f64, Blob)], score: f64, member: &[u8]) -> usize {
    v.partition_point(|e| cmp_elem(e.0, &e.1, score, member).is_lt())
}

/// Iterator over `(member, score)` pairs from [`ZSetValue::iter_from`].
pub struct Iter<'a> {
    inner: IterInner<'a>,
}

enum IterInner<'a> {
    Done,
    Lp {
        v: &'a [(f64, Blob)],
        pos: usize,
        rev: bool,
        remaining: usize,
    },
    Sl {
        sl: &'a SkipList,
        node: u32,
        rev: bool,
        remaining: usize,
    },
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            IterInner::Done => None,
            IterInner::Lp {
                v,
                pos,
                rev,
                remaining,
            } => {
                if *remaining == 0 {
                    return None;
                }
                let e = v.get(*pos)?;
                *remaining -= 1;
                if *rev {
                    *pos = pos.wrapping_sub(1);
                } else {
                    *pos += 1;
                }
                Some((e.1.as_slice(), e.0))
            }
            IterInner::Sl {
                sl,
                node,
                rev,
                remaining,
            } => {
                if *remaining == 0 || *node == NIL {
                    return None;
                }
                let sl: &'a SkipList = sl;
                let cur = *node;
                *remaining -= 1;
                *node = if *rev { sl.prev(cur) } else { sl.next(cur) };
                Some(sl.elem(cur))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.inner {
            IterInner::Done => 0,
            IterInner::Lp { remaining, .. } | IterInner::Sl { remaining, .. } => *remaining,
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// The large encoding: a skiplist whose arena owns every member exactly once,
/// and a SwissTable of arena indices for member → node lookups.
///
/// Redis spends a skiplist node (≥ 48 bytes with one level), an sds, a dict
/// entry (24 bytes) and a bucket pointer per member (~100 bytes); here a
/// member costs a 24-byte node, its 24-byte `Blob` (inline up to 22 bytes),
/// ~7 bytes of upper-level blocks, and 5 bytes per table bucket (a `u32`
/// and a control byte): ~65 bytes. ZSCORE is table → node; ZADD
/// hashes the member once (`find`, then `insert_unique` with the same hash).
#[derive(Debug, Clone)]
struct Big {
    /// Arena indices of live nodes, hashed by the node's member.
    table: HashTable<u32>,
    hasher: Hasher,
    sl: SkipList,
    /// Heap bytes owned by members (those longer than `Blob`'s inline size).
    member_heap: usize,
}

impl Big {
    fn new(capacity: usize) -> Self {
        Big {
            table: HashTable::with_capacity(capacity),
            hasher: Hasher::new(),
            sl: SkipList::with_capacity(capacity),
            member_heap: 0,
        }
    }

    fn from_sorted(entries: Vec<(f64, Blob)>) -> Self {
        let mut big = Big::new(entries.len());
        for (s, m) in entries {
            let h = big.hasher.hash_one(m.as_slice());
            big.add_new(h, m, s);
        }
        big
    }

    fn len(&self) -> usize {
        self.sl.len
    }

    /// Arena index of `member`'s node.
    #[inline]
    fn find(&self, h: u64, member: &[u8]) -> Option<u32> {
        let sl = &self.sl;
        self.table.find(h, |&i| sl.member(i) == member).copied()
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        let x = self.find(self.hasher.hash_one(member), member)?;
        Some(self.sl.nodes[x as usize].score)
    }

    /// Link a member known to be absent, whose hash is `h`.
    fn add_new(&mut self, h: u64, member: Blob, score: f64) {
        if self.table.len() >= self.table.capacity() {
            // Full (members plus tombstones): rebuild with room for twice
            // the members ourselves instead of letting `insert_unique`
            // resize. hashbrown's resize visits the old buckets in order and
            // rehashes each entry from its member, a random read into
            // `members` per entry: growing past 57,344 members stalled
            // 1.6-2.0 ms on those misses, past 917,504 members 70-100 ms;
            // `rebuild_table` reads the arena in order instead (1.0 ms and
            // 27-31 ms). Amortised O(1) per insert, as before: the next
            // rebuild is at least `len` inserts away.
            self.rebuild_table(self.table.len().saturating_mul(2).max(1));
        }
        self.member_heap += member.heap_size();
        let x = self.sl.insert(score, member);
        let Big {
            table, hasher, sl, ..
        } = self;
        let sl = &*sl;
        table.insert_unique(h, x, |&i| hasher.hash_one(sl.member(i)));
    }

    fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        let h = self.hasher.hash_one(member);
        match self.find(h, member) {
            Some(x) => {
                let old = self.sl.nodes[x as usize].score;
                if old != score {
                    self.sl.update_score(x, score);
                }
                Some(old)
            }
            None => {
                self.add_new(h, Blob::new(member), score);
                None
            }
        }
    }

    fn upsert(
        &mut self,
        member: &[u8],
        decide: impl FnOnce(Option<f64>) -> Option<f64>,
    ) -> Option<f64> {
        let h = self.hasher.hash_one(member);
        match self.find(h, member) {
            Some(x) => {
                let old = self.sl.nodes[x as usize].score;
                if let Some(new) = decide(Some(old)) {
                    debug_assert!(!new.is_nan());
                    if new != old {
                        self.sl.update_score(x, new);
                    }
                }
                Some(old)
            }
            None => {
                if let Some(new) = decide(None) {
                    debug_assert!(!new.is_nan());
                    self.add_new(h, Blob::new(member), new);
                }
                None
            }
        }
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let h = self.hasher.hash_one(member);
        let sl = &self.sl;
        let entry = self.table.find_entry(h, |&i| sl.member(i) == member).ok()?;
        let (x, _) = entry.remove();
        let score = self.sl.nodes[x as usize].score;
        let m = self.sl.delete_node(x);
        self.member_heap -= m.heap_size();
        self.maybe_shrink();
        Some(score)
    }

    fn remove_rank_range(&mut self, start: usize, end: usize) {
        let Big {
            table,
            hasher,
            sl,
            member_heap,
        } = self;
        sl.delete_rank_range(start, end, |x, m| {
            let h = hasher.hash_one(m.as_slice());
            if let Ok(e) = table.find_entry(h, |&i| i == x) {
                e.remove();
            }
            *member_heap -= m.heap_size();
        });
        self.maybe_shrink();
    }

    /// Give memory back after mass deletion (Redis shrinks its dict below
    /// 10% fill): once fewer than 1/8 of the arena slots are live, compact
    /// the arena keeping the live nodes' relative order and rebuild the
    /// table. Amortised O(1) per removal. Order preservation keeps ZSCAN's
    /// guarantee: a node only ever moves to a lower index, so one not yet
    /// visited by a downward scan stays below the cursor.
    fn maybe_shrink(&mut self) {
        let slots = self.sl.nodes.len();
        if slots < 1024 || self.sl.len * 8 > slots {
            return;
        }
        self.sl.compact();
        self.rebuild_table(self.sl.len);
    }

    /// Replace the member table by one with room for `capacity` members,
    /// holding every live node. Walks the arena in slot order, so the
    /// member reads are sequential (the hardware prefetcher streams them)
    /// and only the writes into the new table are scattered, into an array
    /// of 5 bytes per bucket.
    fn rebuild_table(&mut self, capacity: usize) {
        let Big {
            table, hasher, sl, ..
        } = self;
        let mut t = HashTable::with_capacity(capacity.max(sl.len));
        let sl = &*sl;
        let live = sl.nodes.iter().zip(&sl.members).enumerate().skip(1);
        for (i, (_, m)) in live.filter(|(_, (n, _))| n.height != 0) {
            let h = hasher.hash_one(m.as_slice());
            t.insert_unique(h, i as u32, |&j| hasher.hash_one(sl.member(j)));
        }
        *table = t;
    }

    /// A uniformly random live node: a few probes into the arena (uniform
    /// over live nodes when they hit), then a uniform rank (O(log n)) when
    /// the arena is full of holes. A mix of uniform draws is uniform.
    fn random(&self, rng: &mut impl Rng) -> Option<u32> {
        let slots = self.sl.nodes.len();
        if self.sl.len == 0 {
            return None;
        }
        for _ in 0..4 {
            let i = rng.gen_range(1..slots);
            if self.sl.nodes.get(i).is_some_and(|n| n.height != 0) {
                return Some(i as u32);
            }
        }
        self.sl.node_at(rng.gen_range(0..self.sl.len))
    }

    /// ZSCAN over arena slots from `cursor - 1` downwards (0 = from the
    /// top). Nodes never move up (see [`Big::maybe_shrink`]), so a member
    /// present for the whole scan is visited.
    fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        let slots = self.sl.nodes.len() as u64;
        let mut pos = if cursor == 0 || cursor > slots {
            slots
        } else {
            cursor
        };
        let want = count.max(1);
        // Bound the work per call when the arena has holes.
        let mut budget = want.saturating_mul(16);
        let mut found = 0;
        while pos > 1 && found < want && budget > 0 {
            pos -= 1;
            budget -= 1;
            if let Some(n) = self.sl.nodes.get(pos as usize) {
                if n.height != 0 {
                    found += 1;
                    f(self.sl.member(pos as u32), n.score);
                }
            }
        }
        if pos <= 1 {
            0
        } else {
            pos
        }
    }

    fn mem_usage(&self) -> usize {
        self.table.allocation_size() + self.sl.mem_usage() + self.member_heap
    }
}

/// Index of the header node, also used as "no node": the header is never a
/// forward target, and a first node's backward link is "none" as in Redis.
const NIL: u32 = 0;
/// "No block" in the per-height free lists of the upper-level arena.
const NO_BLOCK: u32 = u32::MAX;
const MAX_LEVEL: usize = 32;

/// One link of levels ≥ 1. 12 bytes.
///
/// A node of height h ≥ 2 owns a block of h cells in `SkipList::upper`:
/// cell 0 holds a copy of its score (as bits in `forward`/`span`), cells
/// 1..h its links at levels 1..h. A link also carries `fup`, the block
/// offset of the node it points to, so a search step at an upper level reads
/// one block (the forward node's score and, next to it, its links) instead
/// of the node and then its block: one cache miss per step instead of two.
/// (A ZADD profile was dominated by these misses.)
#[derive(Debug, Clone, Copy, Default)]
struct Level {
    forward: u32,
    /// Number of level-0 steps this link jumps (Redis `span`).
    span: u32,
    /// `nodes[forward].up` (meaningless when `forward == NIL`).
    fup: u32,
}

/// A skiplist node: 24 bytes, only what a level-0 search step reads. Members live
/// in a parallel `Vec<Blob>` (same index) and are only read on score ties,
/// so the array a search walks is half as large and more of it stays in
/// cache (a profile of ZADD over 100k members is dominated by the score
/// loads of the search).
///
/// Level 0 lives inline (its span is always 1 when the link exists, so it is
/// not stored); levels 1..height live in `SkipList::upper`, contiguous from
/// `up`. With p = 1/4 three nodes in four have no upper levels at all.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Node {
    score: f64,
    /// Level-0 forward link; for a free slot, the next free slot.
    next: u32,
    /// Offset of this node's block in `SkipList::upper` (unused if height
    /// 1): score copy, then levels 1..height.
    up: u32,
    backward: u32,
    /// Number of levels; 0 marks a free arena slot.
    height: u8,
}

/// Redis's skiplist with spans, nodes in an arena addressed by `u32`
/// (slot 0 is the header). Freed node slots and upper-level blocks are kept
/// on intrusive free lists and reused, so the arena only grows with the
/// peak size (and [`SkipList::compact`] gives memory back).
#[derive(Debug, Clone)]
pub(crate) struct SkipList {
    nodes: Vec<Node>,
    /// `members[x]` is node `x`'s member (empty for the header and free
    /// slots).
    members: Vec<Blob>,
    upper: Vec<Level>,
    /// Head of the free node-slot list (NIL = empty), linked through `next`.
    free_node: u32,
    /// Per block length (height - 1), head of the free upper-block list,
    /// linked through the block's first `forward`.
    free_up: [u32; MAX_LEVEL],
    tail: u32,
    level: usize,
    len: usize,
    rng: u64,
}

impl SkipList {
    fn with_capacity(capacity: usize) -> Self {
        let header = Node {
            score: 0.0,
            next: NIL,
            up: 0,
            backward: NIL,
            height: MAX_LEVEL as u8,
        };
        let mut nodes = Vec::with_capacity(capacity.saturating_add(1));
        nodes.push(header);
        let mut members = Vec::with_capacity(capacity.saturating_add(1));
        members.push(Blob::empty());
        // Header block (score cell + 31 levels), then ~7/12 cell per node.
        let mut upper = Vec::with_capacity(MAX_LEVEL + capacity / 2);
        upper.resize(MAX_LEVEL, Level::default());
        SkipList {
            nodes,
            members,
            upper,
            free_node: NIL,
            free_up: [NO_BLOCK; MAX_LEVEL],
            tail: NIL,
            level: 1,
            len: 0,
            rng: rand::random::<u64>() | 1,
        }
    }

    fn mem_usage(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.members.capacity() * std::mem::size_of::<Blob>()
            + self.upper.capacity() * std::mem::size_of::<Level>()
    }

    /// Random level with P(level > k) = 4^-k (Redis `ZSKIPLIST_P = 0.25`),
    /// from a xorshift generator private to the list (no TLS lookup).
    fn random_level(&mut self) -> usize {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        // Two bits per level: each pair being 00 has probability 1/4.
        let mut level = 1;
        let mut bits = x;
        while level < MAX_LEVEL && bits & 3 == 0 {
            level += 1;
            bits >>= 2;
        }
        level
    }

    /// Index in `upper` of node `x`'s link at level `i` (i ≥ 1).
    #[inline]
    fn up_at(&self, x: u32, i: usize) -> usize {
        self.nodes[x as usize].up as usize + i
    }

    /// The score copy at the head of the block at `up`.
    #[inline]
    fn block_score(&self, up: u32) -> f64 {
        let c = self.upper[up as usize];
        f64::from_bits(u64::from(c.forward) | (u64::from(c.span) << 32))
    }

    /// Set node `x`'s score (and its block's copy).
    fn set_score(&mut self, x: u32, score: f64) {
        let n = &mut self.nodes[x as usize];
        n.score = score;
        if n.height > 1 {
            let bits = score.to_bits();
            let c = &mut self.upper[n.up as usize];
            c.forward = bits as u32;
            c.span = (bits >> 32) as u32;
        }
    }

    /// Node `x`'s link at level `i` (level 0: span 1).
    #[inline]
    fn link(&self, x: u32, i: usize) -> Level {
        if i == 0 {
            Level {
                forward: self.nodes[x as usize].next,
                span: 1,
                fup: 0,
            }
        } else {
            self.upper[self.up_at(x, i)]
        }
    }

    #[inline]
    fn fwd(&self, x: u32, i: usize) -> u32 {
        self.link(x, i).forward
    }

    #[inline]
    fn member(&self, x: u32) -> &[u8] {
        self.members.get(x as usize).map_or(&[], |m| m.as_slice())
    }

    #[inline]
    fn elem(&self, x: u32) -> (&[u8], f64) {
        (self.member(x), self.nodes[x as usize].score)
    }

    /// Does node `x` sort before `(score, member)`? Scores first; the member
    /// bytes only on a tie (scores are never NaN).
    #[inline]
    fn is_before(&self, x: u32, score: f64, member: &[u8]) -> bool {
        let s = self.nodes[x as usize].score;
        s < score || (s == score && self.member(x) < member)
    }

    fn next(&self, x: u32) -> u32 {
        self.nodes[x as usize].next
    }

    fn prev(&self, x: u32) -> u32 {
        self.nodes[x as usize].backward
    }

    /// A zeroed block for `k` upper levels (k + 1 cells).
    fn alloc_upper(&mut self, k: usize) -> u32 {
        let head = self.free_up[k];
        if head != NO_BLOCK {
            let off = head as usize;
            self.free_up[k] = self.upper[off].forward;
            self.upper[off..=off + k].fill(Level::default());
            head
        } else {
            let off = self.upper.len();
            self.upper.resize(off + k + 1, Level::default());
            off as u32
        }
    }

    fn alloc(&mut self, score: f64, member: Blob, height: usize) -> u32 {
        let up = if height > 1 {
            self.alloc_upper(height - 1)
        } else {
            0
        };
        let node = Node {
            score,
            next: NIL,
            up,
            backward: NIL,
            height: height as u8,
        };
        let x = if self.free_node != NIL {
            let i = self.free_node;
            self.free_node = self.nodes[i as usize].next;
            self.nodes[i as usize] = node;
            self.members[i as usize] = member;
            i
        } else {
            self.nodes.push(node);
            self.members.push(member);
            (self.nodes.len() - 1) as u32
        };
        self.set_score(x, score);
        x
    }

    /// Return node `x` (already unlinked) to the free lists; hands back its
    /// member.
    fn release(&mut self, x: u32) -> Blob {
        let free_node = self.free_node;
        let n = &mut self.nodes[x as usize];
        let h = usize::from(n.height);
        let up = n.up;
        n.height = 0;
        n.next = free_node;
        let m = std::mem::take(&mut self.members[x as usize]);
        self.free_node = x;
        if h > 1 {
            self.upper[up as usize].forward = self.free_up[h - 1];
            self.free_up[h - 1] = up;
        }
        m
    }

    /// Path of the last node before `(score, member)` at every level, with
    /// the rank (number of elements passed) of each. Levels ≥ 1 walk the
    /// upper arena; level 0 only touches nodes.
    fn find_update(&self, score: f64, member: &[u8]) -> ([u32; MAX_LEVEL], [u32; MAX_LEVEL]) {
        let mut update = [NIL; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = NIL;
        // Block offset of `x` (the header's block is at 0).
        let mut xup = 0usize;
        let mut r = 0u32;
        for i in (1..self.level).rev() {
            loop {
                let l = self.upper[xup + i];
                if l.forward == NIL {
                    break;
                }
                let s = self.block_score(l.fup);
                if s < score || (s == score && self.member(l.forward) < member) {
                    r += l.span;
                    x = l.forward;
                    xup = l.fup as usize;
                } else {
                    break;
                }
            }
            update[i] = x;
            rank[i] = r;
        }
        loop {
            let f = self.nodes[x as usize].next;
            if f != NIL && self.is_before(f, score, member) {
                r += 1;
                x = f;
            } else {
                break;
            }
        }
        update[0] = x;
        rank[0] = r;
        (update, rank)
    }

    /// Insert an element known not to be present (`zslInsert`). Returns its
    /// arena index, which stays valid until the element is deleted (or the
    /// arena compacted).
    fn insert(&mut self, score: f64, member: Blob) -> u32 {
        let height = self.random_level();
        let x = self.alloc(score, member, height);
        self.link_in(x);
        x
    }

    /// Link the unlinked node `x` at its position for its score and member.
    fn link_in(&mut self, x: u32) {
        let n = &self.nodes[x as usize];
        let h = usize::from(n.height);
        let (mut update, mut rank) = self.find_update(n.score, self.member(x));
        if h > self.level {
            for i in self.level..h {
                rank[i] = 0;
                update[i] = NIL;
                let at = self.up_at(NIL, i);
                self.upper[at].span = self.len as u32;
            }
            self.level = h;
        }
        let u0 = update[0];
        self.nodes[x as usize].next = self.nodes[u0 as usize].next;
        self.nodes[u0 as usize].next = x;
        let xup = self.nodes[x as usize].up;
        for i in 1..h {
            let ua = self.up_at(update[i], i);
            let ul = self.upper[ua];
            let passed = rank[0] - rank[i];
            let xa = self.up_at(x, i);
            self.upper[xa] = Level {
                forward: ul.forward,
                span: ul.span - passed,
                fup: ul.fup,
            };
            self.upper[ua] = Level {
                forward: x,
                span: passed + 1,
                fup: xup,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(h.max(1)) {
            let ua = self.up_at(u, i);
            self.upper[ua].span += 1;
        }
        self.nodes[x as usize].backward = u0;
        let f = self.nodes[x as usize].next;
        if f != NIL {
            self.nodes[f as usize].backward = x;
        } else {
            self.tail = x;
        }
        self.len += 1;
    }

    /// Unlink `x` given its update path (`zslDeleteNode`). The node keeps
    /// its slot, height and upper block.
    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        let xh = usize::from(self.nodes[x as usize].height);
        let xnext = self.nodes[x as usize].next;
        self.nodes[update[0] as usize].next = xnext;
        for (i, &u) in update.iter().enumerate().take(self.level).skip(1) {
            let ua = self.up_at(u, i);
            if i < xh {
                let xl = self.upper[self.up_at(x, i)];
                let ul = &mut self.upper[ua];
                ul.span = ul.span + xl.span - 1;
                ul.forward = xl.forward;
                ul.fup = xl.fup;
            } else {
                self.upper[ua].span -= 1;
            }
        }
        let b = self.nodes[x as usize].backward;
        if xnext != NIL {
            self.nodes[xnext as usize].backward = b;
        } else {
            self.tail = b;
        }
        while self.level > 1 && self.fwd(NIL, self.level - 1) == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// Unlink and free node `x`, returning its member.
    fn delete_node(&mut self, x: u32) -> Blob {
        let n = &self.nodes[x as usize];
        let (update, _) = self.find_update(n.score, self.member(x));
        self.unlink(x, &update);
        self.release(x)
    }

    /// Change node `x`'s score (`zslUpdateScore`): in place when it keeps
    /// its position (checked from its neighbours, no search), else unlink
    /// and relink the same node (its slot, so the member table stays valid).
    fn update_score(&mut self, x: u32, new: f64) {
        let n = &self.nodes[x as usize];
        let (b, f) = (n.backward, n.next);
        let member = self.member(x);
        let prev_ok = b == NIL || self.is_before(b, new, member);
        let next_ok = f == NIL || !self.is_before(f, new, member);
        if prev_ok && next_ok {
            self.set_score(x, new);
            return;
        }
        let (update, _) = self.find_update(n.score, member);
        self.unlink(x, &update);
        self.set_score(x, new);
        self.link_in(x);
    }

    /// Number of leading elements satisfying the monotone predicate.
    fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = NIL;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.forward == NIL {
                    break;
                }
                if pred(self.nodes[l.forward as usize].score, self.member(l.forward)) {
                    rank += l.span as usize;
                    x = l.forward;
                } else {
                    break;
                }
            }
        }
        rank
    }

    /// Node at 0-based rank (`zslGetElementByRank`).
    fn node_at(&self, rank: usize) -> Option<u32> {
        if rank >= self.len {
            return None;
        }
        let target = rank + 1;
        let mut x = NIL;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.forward != NIL && traversed + l.span as usize <= target {
                    traversed += l.span as usize;
                    x = l.forward;
                } else {
                    break;
                }
            }
            if traversed == target {
                return Some(x);
            }
        }
        None
    }

    /// Delete 0-based ranks `start..end` (`zslDeleteRangeByRank`), handing
    /// each removed node's index and member to `on_remove`.
    fn delete_rank_range(
        &mut self,
        start: usize,
        end: usize,
        mut on_remove: impl FnMut(u32, Blob),
    ) {
        let mut update = [NIL; MAX_LEVEL];
        let mut x = NIL;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.forward != NIL && traversed + l.span as usize <= start {
                    traversed += l.span as usize;
                    x = l.forward;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let mut x = self.next(x);
        while x != NIL && traversed < end {
            let next = self.next(x);
            self.unlink(x, &update);
            let m = self.release(x);
            on_remove(x, m);
            traversed += 1;
            x = next;
        }
    }

    /// Squeeze out free slots, keeping live nodes in their relative arena
    /// order (see [`Big::maybe_shrink`]), and repack the upper levels.
    /// Invalidates node indices: the caller rebuilds its member table.
    fn compact(&mut self) {
        let old_nodes = std::mem::take(&mut self.nodes);
        let old_members = std::mem::take(&mut self.members);
        let old_upper = std::mem::take(&mut self.upper);
        // New index of every old slot (free slots map to NIL, never used).
        let mut map = Vec::with_capacity(old_nodes.len());
        let mut next_index = 0u32;
        for n in &old_nodes {
            if n.height == 0 {
                map.push(NIL);
            } else {
                map.push(next_index);
                next_index += 1;
            }
        }
        let remap = |i: u32| map.get(i as usize).copied().unwrap_or(NIL);
        let live = next_index as usize;
        let mut nodes = Vec::with_capacity(live);
        let mut members = Vec::with_capacity(live);
        let mut upper = Vec::with_capacity(MAX_LEVEL + live / 2);
        let pairs = old_nodes.into_iter().zip(old_members);
        for (mut n, m) in pairs.filter(|(n, _)| n.height != 0) {
            let h = usize::from(n.height);
            let off = n.up as usize;
            let new_up = upper.len() as u32;
            if h > 1 {
                for l in old_upper.get(off..off + h).unwrap_or(&[]) {
                    upper.push(*l);
                }
                // Links (not the score cell) point at remapped nodes; their
                // `fup` is fixed below once every block has moved.
                for l in upper.iter_mut().skip(new_up as usize + 1) {
                    l.forward = remap(l.forward);
                }
            }
            n.up = if h > 1 { new_up } else { 0 };
            n.next = remap(n.next);
            n.backward = remap(n.backward);
            nodes.push(n);
            members.push(m);
        }
        for n in nodes.iter().filter(|n| n.height > 1) {
            let off = n.up as usize;
            for i in 1..usize::from(n.height) {
                if let Some(f) = upper.get(off + i).map(|l| l.forward) {
                    let fup = nodes.get(f as usize).map_or(0, |t| t.up);
                    if let Some(l) = upper.get_mut(off + i) {
                        l.fup = fup;
                    }
                }
            }
        }
        self.tail = remap(self.tail);
        self.nodes = nodes;
        self.members = members;
        self.upper = upper;
        self.free_node = NIL;
        self.free_up = [NO_BLOCK; MAX_LEVEL];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::SeedableRng;
    use std::collections::BTreeSet;

    /// Naive model: ordered set of (score bits mapped to order, member).
    #[derive(Default)]
    struct Model {
        set: BTreeSet<(OrdF, Vec<u8>)>,
        map: std::collections::HashMap<Vec<u8>, f64>,
    }

    #[derive(Clone, Copy, PartialEq, Debug)]
    struct OrdF(f64);
    impl Eq for OrdF {}
    impl PartialOrd for OrdF {
        fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
            Some(self.cmp(o))
        }
    }
    impl Ord for OrdF {
        fn cmp(&self, o: &Self) -> Ordering {
            self.0.partial_cmp(&o.0).unwrap_or(Ordering::Equal)
        }
    }

    impl Model {
        fn insert(&mut self, m: &[u8], s: f64) -> Option<f64> {
            let old = self.map.insert(m.to_vec(), s);
            if let Some(o) = old {
                self.set.remove(&(OrdF(o), m.to_vec()));
            }
            self.set.insert((OrdF(s), m.to_vec()));
            old
        }
        fn remove(&mut self, m: &[u8]) -> Option<f64> {
            let old = self.map.remove(m)?;
            self.set.remove(&(OrdF(old), m.to_vec()));
            Some(old)
        }
        fn vec(&self) -> Vec<(Vec<u8>, f64)> {
            self.set.iter().map(|(s, m)| (m.clone(), s.0)).collect()
        }
    }

    fn check_sl(sl: &SkipList) {
        // Block invariants: score copies and `fup` of every upper link.
        for (xi, n) in sl.nodes.iter().enumerate().skip(1) {
            if n.height > 1 {
                assert_eq!(sl.block_score(n.up).to_bits(), n.score.to_bits());
                for i in 1..usize::from(n.height) {
                    let l = sl.link(xi as u32, i);
                    if l.forward != NIL {
                        assert_eq!(l.fup, sl.nodes[l.forward as usize].up);
                    }
                }
            }
        }
        for i in 1..sl.level {
            let l = sl.link(NIL, i);
            if l.forward != NIL {
                assert_eq!(l.fup, sl.nodes[l.forward as usize].up);
            }
        }
        // Spans at every level must add up to the length.
        for i in 0..sl.level {
            let mut x = NIL;
            let mut total = 0usize;
            loop {
                let l = sl.link(x, i);
                if l.forward == NIL {
                    break;
                }
                total += l.span as usize;
                x = l.forward;
            }
            assert!(total <= sl.len);
            if i == 0 {
                assert_eq!(total, sl.len);
                assert_eq!(x, sl.tail);
            }
        }
    }

    fn collect(z: &ZSetValue) -> Vec<(Vec<u8>, f64)> {
        z.iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }

    #[test]
    fn size_is_small() {
        assert!(std::mem::size_of::<ZSetValue>() <= 24);
    }

    fn random_ops(limits: ZLimits, keys: u32, ops: usize, seed: u64) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut z = ZSetValue::new();
        let mut m = Model::default();
        for op in 0..ops {
            let key = format!("m{}", rng.gen_range(0..keys)).into_bytes();
            match rng.gen_range(0..10) {
                0..=4 => {
                    // Few distinct scores, so ties exercise member ordering.
                    let s = f64::from(rng.gen_range(-50..50)) / 2.0;
                    assert_eq!(z.insert(&key, s, limits), m.insert(&key, s));
                }
                5..=6 => {
                    assert_eq!(z.remove(&key), m.remove(&key));
                }
                7 => {
                    let want = m.vec();
                    let r = want.iter().position(|e| e.0 == key);
                    assert_eq!(z.rank(&key), r);
                    if !want.is_empty() {
                        let i = rng.gen_range(0..want.len());
                        let (mm, ss) = z.get_by_rank(i).expect("rank");
                        assert_eq!((mm.to_vec(), ss), want[i].clone());
                        let rev: Vec<_> =
                            z.iter_from(i, true).map(|(a, b)| (a.to_vec(), b)).collect();
                        let mut exp: Vec<_> = want[..=i].to_vec();
                        exp.reverse();
                        assert_eq!(rev, exp);
                    }
                }
                8 => {
                    let lo = f64::from(rng.gen_range(-30..30)) / 2.0;
                    let want = m.vec();
                    let exp = want.iter().filter(|e| e.1 < lo).count();
                    assert_eq!(z.partition_point(|s, _| s < lo), exp);
                }
                _ => {
                    if rng.gen_range(0..20) == 0 {
                        let len = z.len();
                        let a = rng.gen_range(0..=len);
                        let b = (a + rng.gen_range(0..5)).min(len);
                        let want = m.vec();
                        for e in &want[a..b] {
                            m.remove(&e.0);
                        }
                        assert_eq!(z.remove_rank_range(a, b), b - a);
                    } else if let Some((mm, ss)) = z.pop(rng.gen_bool(0.5)) {
                        assert_eq!(m.remove(&mm), Some(ss));
                    }
                }
            }
            if op % 997 == 0 {
                assert_eq!(collect(&z), m.vec());
                if let Repr::Skiplist(b) = &z.0 {
                    check_sl(&b.sl);
                    assert_eq!(b.sl.len, b.table.len());
                    // Backward links mirror level 0.
                    let mut x = b.sl.next(NIL);
                    let mut prev = NIL;
                    while x != NIL {
                        assert_eq!(b.sl.prev(x), prev);
                        prev = x;
                        x = b.sl.next(x);
                    }
                }
            }
        }
        assert_eq!(collect(&z), m.vec());
        assert_eq!(z.len(), m.map.len());
    }

    #[test]
    fn random_ops_skiplist_match_model() {
        random_ops(
            ZLimits {
                entries: 0,
                value: 0,
            },
            2000,
            100_000,
            7,
        );
    }

    #[test]
    fn random_ops_listpack_then_convert_match_model() {
        random_ops(ZLimits::default(), 2000, 30_000, 11);
    }

    #[test]
    fn random_ops_listpack_match_model() {
        // At most 100 distinct members: stays in the compact encoding.
        random_ops(ZLimits::default(), 100, 30_000, 13);
    }

    #[test]
    fn conversion_thresholds() {
        let l = ZLimits {
            entries: 3,
            value: 4,
        };
        let mut z = ZSetValue::new();
        z.insert(b"a", 1.0, l);
        z.insert(b"b", 2.0, l);
        z.insert(b"c", 3.0, l);
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"d", 4.0, l);
        assert_eq!(z.encoding(), "skiplist");
        z.remove(b"d");
        z.remove(b"c");
        assert_eq!(z.encoding(), "skiplist");
        let mut z = ZSetValue::new();
        z.insert(b"abcde", 1.0, l);
        assert_eq!(z.encoding(), "skiplist");
        let z = ZSetValue::from_entries(vec![(2.0, Blob::from("x")), (1.0, Blob::from("y"))], l);
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(
            collect(&z),
            vec![(b"y".to_vec(), 1.0), (b"x".to_vec(), 2.0)]
        );
    }

    #[test]
    fn scan_visits_all() {
        let l = ZLimits {
            entries: 0,
            value: 0,
        };
        let mut z = ZSetValue::new();
        for i in 0..1000 {
            z.insert(format!("m{i}").as_bytes(), f64::from(i), l);
        }
        let mut seen = std::collections::HashSet::new();
        let mut c = 0;
        loop {
            c = z.scan(c, 10, |m, _| {
                seen.insert(m.to_vec());
            });
            if c == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 1000);
    }

    #[test]
    fn node_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Node>(), 24);
    }

    fn big_limits() -> ZLimits {
        ZLimits {
            entries: 0,
            value: 0,
        }
    }

    #[test]
    fn mass_delete_compacts_and_keeps_order() {
        let l = big_limits();
        let mut z = ZSetValue::new();
        for i in 0..20_000u32 {
            z.insert(format!("m{i}").as_bytes(), f64::from(i % 97), l);
        }
        let before = z.mem_usage();
        // Start a scan, then delete most members, then finish the scan:
        // every member present throughout must be seen.
        let mut seen = std::collections::HashSet::new();
        let mut c = z.scan(0, 100, |m, _| {
            seen.insert(m.to_vec());
        });
        for i in 0..20_000u32 {
            if i % 50 != 0 {
                assert!(z.remove(format!("m{i}").as_bytes()).is_some());
            }
        }
        while c != 0 {
            c = z.scan(c, 100, |m, _| {
                seen.insert(m.to_vec());
            });
        }
        for i in (0..20_000u32).step_by(50) {
            assert!(seen.contains(format!("m{i}").as_bytes()), "missed m{i}");
        }
        assert!(z.mem_usage() < before / 4, "{} vs {before}", z.mem_usage());
        assert_eq!(z.len(), 400);
        let Repr::Skiplist(b) = &z.0 else {
            panic!("encoding")
        };
        check_sl(&b.sl);
        // Compacted once at 1/8 live (2,500 of 20,001 slots).
        assert!(b.sl.nodes.len() <= 2600, "{}", b.sl.nodes.len());
        for i in (0..20_000u32).step_by(50) {
            let m = format!("m{i}");
            assert_eq!(z.score(m.as_bytes()), Some(f64::from(i % 97)));
        }
        let v = collect(&z);
        assert!(v
            .windows(2)
            .all(|w| cmp_elem(w[0].1, &w[0].0, w[1].1, &w[1].0).is_lt()));
        // Still usable after compaction.
        z.insert(b"new", -1.0, l);
        assert_eq!(z.rank(b"new"), Some(0));
    }

    #[test]
    fn random_is_roughly_uniform_with_holes() {
        let l = big_limits();
        let mut z = ZSetValue::new();
        for i in 0..1000u32 {
            z.insert(format!("m{i}").as_bytes(), f64::from(i), l);
        }
        // Leave holes (below the compaction threshold of 1/8 live).
        for i in 0..1000u32 {
            if i % 5 != 0 {
                z.remove(format!("m{i}").as_bytes());
            }
        }
        let mut rng = SmallRng::seed_from_u64(3);
        let mut counts = std::collections::HashMap::new();
        for _ in 0..200_000 {
            let (m, _) = z.random(&mut rng).expect("non-empty");
            *counts.entry(m.to_vec()).or_insert(0u32) += 1;
        }
        assert_eq!(counts.len(), 200);
        // Expected 1000 each; allow wide margin.
        assert!(counts.values().all(|&c| (700..1300).contains(&c)));
    }

    #[test]
    fn upsert_matches_insert() {
        for l in [ZLimits::default(), big_limits()] {
            let mut a = ZSetValue::new();
            let mut b = ZSetValue::new();
            let mut rng = SmallRng::seed_from_u64(5);
            for _ in 0..5000 {
                let m = format!("m{}", rng.gen_range(0..300)).into_bytes();
                let s = f64::from(rng.gen_range(0..50));
                let skip = rng.gen_bool(0.2);
                let seen = a.upsert(&m, l, |cur| {
                    if skip {
                        None
                    } else {
                        Some(cur.unwrap_or(0.0) + s)
                    }
                });
                assert_eq!(seen, b.score(&m));
                if !skip {
                    b.insert(&m, seen.unwrap_or(0.0) + s, l);
                }
            }
            assert_eq!(collect(&a), collect(&b));
        }
    }

    /// The member table grows by `Big::rebuild_table` (not hashbrown's own
    /// resize): across many growth steps, with freed slots and table
    /// tombstones in between, every live member stays reachable through the
    /// table and no entry points at a free slot.
    #[test]
    fn table_growth_keeps_every_member() {
        let l = big_limits();
        let mut z = ZSetValue::new();
        let name = |i: u32| format!("member:{i:08}").into_bytes();
        for i in 0..5000u32 {
            assert_eq!(z.insert(&name(i), f64::from(i % 97), l), None);
        }
        let cap_before = match &z.0 {
            Repr::Skiplist(b) => b.table.capacity(),
            Repr::Listpack(_) => 0,
        };
        for i in (0..5000u32).step_by(3) {
            assert_eq!(z.remove(&name(i)), Some(f64::from(i % 97)));
        }
        for i in 5000..20000u32 {
            assert_eq!(z.insert(&name(i), f64::from(i % 97), l), None);
        }
        let Repr::Skiplist(b) = &z.0 else {
            panic!("expected the skiplist encoding");
        };
        assert!(b.table.capacity() > cap_before);
        assert_eq!(b.table.len(), b.sl.len);
        for &x in b.table.iter() {
            assert_ne!(
                b.sl.nodes[x as usize].height, 0,
                "table entry on a free slot"
            );
        }
        check_sl(&b.sl);
        for i in 0..20000u32 {
            let want = (i >= 5000 || i % 3 != 0).then_some(f64::from(i % 97));
            assert_eq!(z.score(&name(i)), want, "member {i}");
        }
        assert_eq!(z.len(), 20000 - 5000usize.div_ceil(3));
    }

    #[test]
    fn update_in_place_and_moves() {
        let l = big_limits();
        let mut z = ZSetValue::new();
        for i in 0..100u32 {
            z.insert(format!("m{i:03}").as_bytes(), f64::from(i), l);
        }
        // In place (stays between neighbours).
        assert_eq!(z.insert(b"m050", 50.5, l), Some(50.0));
        assert_eq!(z.rank(b"m050"), Some(50));
        // Moves to the front and to the back.
        z.insert(b"m050", -1.0, l);
        assert_eq!(z.rank(b"m050"), Some(0));
        z.insert(b"m050", 1000.0, l);
        assert_eq!(z.rank(b"m050"), Some(99));
        assert_eq!(
            z.pop(true).map(|(m, s)| (m.to_vec(), s)),
            Some((b"m050".to_vec(), 1000.0))
        );
        assert_eq!(
            z.pop(false).map(|(m, s)| (m.to_vec(), s)),
            Some((b"m000".to_vec(), 0.0))
        );
        assert_eq!(z.len(), 98);
    }
}
