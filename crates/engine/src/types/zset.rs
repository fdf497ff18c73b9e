//! The sorted set type.
//!
//! Two encodings, as in Redis 7.0:
//!
//! - **listpack**: a vector of `(score, member)` kept sorted by score, then
//!   member bytes. Used while the set has at most `zset-max-listpack-entries`
//!   members, none longer than `zset-max-listpack-value` bytes. Lookups by
//!   member are linear scans (at most 128 short entries: a few cache lines),
//!   positional work is a binary search or a direct index.
//! - **skiplist**: a member → score hash map (for O(1) ZSCORE and membership)
//!   plus an arena-indexed skiplist with spans (Pugh's skiplist as Redis's
//!   `t_zset.c` has it) giving O(log n) insert, delete, rank, select-by-rank
//!   and range-by-score/lex. Nodes live in a `Vec` and link to each other by
//!   `u32` index instead of pointers, which keeps the code free of `unsafe`
//!   and the links half the size of pointers.
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
//! The member map is an `IndexMap`, whose dense index space gives ZSCAN the
//! same guarantee as `Db::scan` (walk indices downwards; `swap_remove` only
//! moves the last entry into a hole) and O(1) fair random picks for
//! ZRANDMEMBER.

use crate::blob::Blob;
use crate::keyspace::Tunables;
use indexmap::IndexMap;
use rand::Rng;
use smallvec::SmallVec;
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
            Repr::Skiplist(b) => b.dict.len(),
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
            Repr::Skiplist(b) => b.dict.get(member).copied(),
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
                let score = *b.dict.get(member)?;
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
                let len = b.dict.len();
                if len == 0 {
                    return None;
                }
                let rank = if max { len - 1 } else { 0 };
                let n = b.sl.node_at(rank)?;
                let (m, s) = b.sl.elem(n);
                let m = Blob::new(m);
                b.remove(&m);
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
        let i = rng.gen_range(0..len);
        match &self.0 {
            Repr::Listpack(v) => v.get(i).map(|e| (e.1.as_slice(), e.0)),
            Repr::Skiplist(b) => b.dict.get_index(i).map(|(m, s)| (m.as_slice(), *s)),
        }
    }

    /// ZSCAN step. The compact encoding returns everything at once with
    /// cursor 0 (as Redis does for listpacks). The large one visits the
    /// member map from index `cursor - 1` downwards (cursor 0 starts at the
    /// top), calling `f` for up to `count` entries; returns the next cursor
    /// (0 = done). Members present for the whole scan are always returned.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.0 {
            Repr::Listpack(v) => {
                for (s, m) in v {
                    f(m, *s);
                }
                0
            }
            Repr::Skiplist(b) => {
                let len = b.dict.len() as u64;
                let mut pos = if cursor == 0 || cursor > len {
                    len
                } else {
                    cursor
                };
                let mut visited = 0;
                while pos > 0 && visited < count.max(1) {
                    pos -= 1;
                    visited += 1;
                    if let Some((m, s)) = b.dict.get_index(pos as usize) {
                        f(m, *s);
                    }
                }
                pos
            }
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

/// The large encoding: member map plus skiplist, and a running count of the
/// heap bytes the members own (each member is stored twice).
#[derive(Debug, Clone)]
struct Big {
    dict: IndexMap<Blob, f64, Hasher>,
    sl: SkipList,
    member_heap: usize,
}

impl Big {
    fn from_sorted(entries: Vec<(f64, Blob)>) -> Self {
        let mut dict = IndexMap::with_capacity_and_hasher(entries.len(), Hasher::new());
        let mut sl = SkipList::new();
        let mut member_heap = 0;
        for (s, m) in entries {
            member_heap += m.heap_size();
            sl.insert(s, m.clone());
            dict.insert(m, s);
        }
        Big {
            dict,
            sl,
            member_heap,
        }
    }

    fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        match self.dict.get_mut(member) {
            Some(cur) => {
                let old = *cur;
                if old != score {
                    *cur = score;
                    self.sl.update_score(old, member, score);
                }
                Some(old)
            }
            None => {
                let m = Blob::new(member);
                self.member_heap += m.heap_size();
                self.sl.insert(score, m.clone());
                self.dict.insert(m, score);
                None
            }
        }
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (m, s) = self.dict.swap_remove_entry(member)?;
        self.member_heap -= m.heap_size();
        self.sl.delete(s, member);
        Some(s)
    }

    fn remove_rank_range(&mut self, start: usize, end: usize) {
        let Big {
            dict,
            sl,
            member_heap,
        } = self;
        sl.delete_rank_range(start, end, |m| {
            if let Some((k, _)) = dict.swap_remove_entry(m.as_slice()) {
                *member_heap -= k.heap_size();
            }
        });
    }

    fn mem_usage(&self) -> usize {
        // Map: entries vector (hash + key + value) plus the index table
        // (one usize and one control byte per slot).
        let dict = self.dict.capacity() * (8 + std::mem::size_of::<Blob>() + 8 + 9);
        dict + self.sl.mem_usage() + 2 * self.member_heap
    }
}

/// Index of the header node, also used as "no node": the header is never a
/// forward target, and a first node's backward link is "none" as in Redis.
const NIL: u32 = 0;
const MAX_LEVEL: usize = 32;

#[derive(Debug, Clone, Copy, Default)]
struct Level {
    forward: u32,
    /// Number of level-0 steps this link jumps (Redis `span`).
    span: u32,
}

#[derive(Debug, Clone)]
struct Node {
    member: Blob,
    score: f64,
    backward: u32,
    /// Most nodes have 1 or 2 levels (p = 1/4), which stay inline.
    levels: SmallVec<[Level; 2]>,
}

/// Redis's skiplist with spans, nodes in an arena addressed by `u32`.
#[derive(Debug, Clone)]
pub(crate) struct SkipList {
    nodes: Vec<Node>,
    free: Vec<u32>,
    tail: u32,
    level: usize,
    len: usize,
    rng: u64,
}

impl SkipList {
    fn new() -> Self {
        let header = Node {
            member: Blob::empty(),
            score: 0.0,
            backward: NIL,
            levels: SmallVec::from_elem(Level::default(), MAX_LEVEL),
        };
        SkipList {
            nodes: vec![header],
            free: Vec::new(),
            tail: NIL,
            level: 1,
            len: 0,
            rng: rand::random::<u64>() | 1,
        }
    }

    fn mem_usage(&self) -> usize {
        let spilled: usize = self
            .nodes
            .iter()
            .filter(|n| n.levels.spilled())
            .map(|n| n.levels.capacity() * std::mem::size_of::<Level>())
            .sum();
        self.nodes.capacity() * std::mem::size_of::<Node>() + self.free.capacity() * 4 + spilled
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

    #[inline]
    fn fwd(&self, x: u32, i: usize) -> u32 {
        self.nodes[x as usize].levels[i].forward
    }

    #[inline]
    fn span(&self, x: u32, i: usize) -> u32 {
        self.nodes[x as usize].levels[i].span
    }

    #[inline]
    fn elem(&self, x: u32) -> (&[u8], f64) {
        let n = &self.nodes[x as usize];
        (n.member.as_slice(), n.score)
    }

    #[inline]
    fn is_before(&self, x: u32, score: f64, member: &[u8]) -> bool {
        let n = &self.nodes[x as usize];
        cmp_elem(n.score, &n.member, score, member).is_lt()
    }

    fn next(&self, x: u32) -> u32 {
        self.fwd(x, 0)
    }

    fn prev(&self, x: u32) -> u32 {
        self.nodes[x as usize].backward
    }

    fn alloc(&mut self, node: Node) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, x: u32) -> Blob {
        let n = &mut self.nodes[x as usize];
        n.levels = SmallVec::new();
        self.free.push(x);
        std::mem::take(&mut n.member)
    }

    /// Path of the last node before `(score, member)` at every level, with
    /// the rank (number of elements passed) of each.
    fn find_update(&self, score: f64, member: &[u8]) -> ([u32; MAX_LEVEL], [usize; MAX_LEVEL]) {
        let mut update = [NIL; MAX_LEVEL];
        let mut rank = [0usize; MAX_LEVEL];
        let mut x = NIL;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let f = self.fwd(x, i);
                if f != NIL && self.is_before(f, score, member) {
                    rank[i] += self.span(x, i) as usize;
                    x = f;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        (update, rank)
    }

    /// Insert an element known not to be present (`zslInsert`).
    fn insert(&mut self, score: f64, member: Blob) {
        let (mut update, mut rank) = self.find_update(score, &member);
        let level = self.random_level();
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = NIL;
                self.nodes[0].levels[i].span = self.len as u32;
            }
            self.level = level;
        }
        let x = self.alloc(Node {
            member,
            score,
            backward: NIL,
            levels: SmallVec::from_elem(Level::default(), level),
        });
        for i in 0..level {
            let u = update[i] as usize;
            let ul = self.nodes[u].levels[i];
            let passed = (rank[0] - rank[i]) as u32;
            self.nodes[x as usize].levels[i] = Level {
                forward: ul.forward,
                span: ul.span - passed,
            };
            self.nodes[u].levels[i] = Level {
                forward: x,
                span: passed + 1,
            };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.nodes[u as usize].levels[i].span += 1;
        }
        self.nodes[x as usize].backward = update[0];
        let f = self.fwd(x, 0);
        if f != NIL {
            self.nodes[f as usize].backward = x;
        } else {
            self.tail = x;
        }
        self.len += 1;
    }

    /// Unlink `x` given its update path (`zslDeleteNode`).
    fn unlink(&mut self, x: u32, update: &[u32; MAX_LEVEL]) {
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let xl = self.nodes[x as usize].levels.get(i).copied();
            let ul = &mut self.nodes[u as usize].levels[i];
            match xl {
                Some(xl) if ul.forward == x => {
                    ul.span = ul.span + xl.span - 1;
                    ul.forward = xl.forward;
                }
                _ => ul.span -= 1,
            }
        }
        let f = self.fwd(x, 0);
        let b = self.nodes[x as usize].backward;
        if f != NIL {
            self.nodes[f as usize].backward = b;
        } else {
            self.tail = b;
        }
        while self.level > 1 && self.nodes[0].levels[self.level - 1].forward == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// Delete `(score, member)` if present (`zslDelete`).
    fn delete(&mut self, score: f64, member: &[u8]) -> bool {
        let (update, _) = self.find_update(score, member);
        let x = self.fwd(update[0], 0);
        if x != NIL {
            let n = &self.nodes[x as usize];
            if n.score == score && &*n.member == member {
                self.unlink(x, &update);
                self.release(x);
                return true;
            }
        }
        false
    }

    /// Change an element's score (`zslUpdateScore`): in place when the node
    /// keeps its position, else unlink and reinsert.
    fn update_score(&mut self, cur: f64, member: &[u8], new: f64) {
        let (update, _) = self.find_update(cur, member);
        let x = self.fwd(update[0], 0);
        if x == NIL {
            return;
        }
        let b = self.nodes[x as usize].backward;
        let f = self.fwd(x, 0);
        let prev_ok = b == NIL || self.is_before(b, new, member);
        let next_ok = f == NIL || !self.is_before(f, new, member);
        if prev_ok && next_ok {
            self.nodes[x as usize].score = new;
            return;
        }
        self.unlink(x, &update);
        let m = self.release(x);
        self.insert(new, m);
    }

    /// Number of leading elements satisfying the monotone predicate.
    fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut x = NIL;
        let mut rank = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                if f == NIL {
                    break;
                }
                let n = &self.nodes[f as usize];
                if pred(n.score, &n.member) {
                    rank += self.span(x, i) as usize;
                    x = f;
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
                let f = self.fwd(x, i);
                let s = self.span(x, i) as usize;
                if f != NIL && traversed + s <= target {
                    traversed += s;
                    x = f;
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
    /// each removed member to `on_remove`.
    fn delete_rank_range(&mut self, start: usize, end: usize, mut on_remove: impl FnMut(Blob)) {
        let mut update = [NIL; MAX_LEVEL];
        let mut x = NIL;
        let mut traversed = 0usize;
        for i in (0..self.level).rev() {
            loop {
                let f = self.fwd(x, i);
                let s = self.span(x, i) as usize;
                if f != NIL && traversed + s <= start {
                    traversed += s;
                    x = f;
                } else {
                    break;
                }
            }
            update[i] = x;
        }
        let mut x = self.fwd(x, 0);
        while x != NIL && traversed < end {
            let next = self.fwd(x, 0);
            self.unlink(x, &update);
            on_remove(self.release(x));
            traversed += 1;
            x = next;
        }
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
        // Spans at every level must add up to the length.
        for i in 0..sl.level {
            let mut x = NIL;
            let mut total = 0usize;
            loop {
                let f = sl.fwd(x, i);
                if f == NIL {
                    break;
                }
                total += sl.span(x, i) as usize;
                x = f;
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
                    assert_eq!(b.sl.len, b.dict.len());
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
}
