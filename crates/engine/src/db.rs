//! One logical database (`SELECT n`) inside one shard.
//!
//! # Layout, and why
//!
//! Memory per key is the figure a cache is judged by, so the key map is not a
//! general-purpose map but three flat pieces:
//!
//! - `slab`: every key with its [`Entry`], densely packed in fixed-size
//!   chunks of [`CHUNK`] slots (only the first chunk grows by doubling). A
//!   slot is exactly `Blob` + `Entry`: no cached hash, no pointer, and at most
//!   one partly used chunk, where a single `Vec` would waste up to half its
//!   capacity after a doubling (and briefly need 1.5× its size while copying,
//!   which matters right at `maxmemory`).
//! - `index`: an open-addressing table of `u32` slot numbers, each next to a
//!   16-bit hash tag in 64-byte groups of 10 (see [`index`]): a lookup costs
//!   one cache miss for the group and one for the slot, where a SwissTable
//!   costs two before the slot (control bytes, then bucket). 6.4 bytes per
//!   entry at ≤ 80 % load; hashes are recomputed from the key when the
//!   table grows instead of being stored (8 bytes per key saved).
//! - `exp_at`/`exp_slot`: the keys that have a TTL, as two parallel dense
//!   vectors (12 bytes per volatile key). The entry records its position in
//!   them (`Entry::exp_pos`), so TTL reads and updates are O(1) without a
//!   second hash map or a second copy of the key, and active expiry and
//!   volatile eviction sample uniformly at random among volatile keys only.
//!
//! Deletions are swap-removes: the last slot moves into the hole (and the
//! index entry and TTL record of the moved key are repointed). Density gives
//! O(1) uniform random sampling (RANDOMKEY, eviction, active expiry) and a
//! dense index space that makes SCAN cursors stable: SCAN walks slots from
//! high to low, and a swap-remove only ever moves the *last* slot down into a
//! hole, so a key present for the whole scan can only move from an unvisited
//! slot to another unvisited one, never past the cursor: every such key is
//! returned, the guarantee Redis documents.
//!
//! Every read goes through [`Db::get`]/[`Db::get_mut`], which expire lazily:
//! a command never sees an expired key.
//!
//! Slot numbers are `u32`: 4 billion keys per database per shard, far beyond
//! what fits in memory at ≥ 64 bytes per slot.

use crate::blob::Blob;
use crate::keyspace::Tunables;
use crate::types::string::StrEncoding;
use crate::value::Value;
use index::Index;
use rand::Rng;
use std::sync::Arc;

mod snapshot;
pub use snapshot::{
    pending_bytes as snapshot_pending_bytes, pending_peak as snapshot_pending_peak,
    reset_pending_peak as snapshot_reset_pending_peak, Captured, Drained as SnapshotDrained,
    SnapInfo, Step as SnapshotStep,
};

type Hasher = ahash::RandomState;

const TTL_FLAG: u32 = 1 << 31;
const ACCESS_MASK: u32 = !TTL_FLAG;
/// `Entry::exp_pos` holds the TTL record position below `ENC_SHIFT` and the
/// string encoding above it.
const ENC_SHIFT: u32 = 30;
const POS_MASK: u32 = (1 << ENC_SHIFT) - 1;

/// Slots per slab chunk (4096 × 64 bytes = 256 KiB chunks).
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNK_MASK: usize = CHUNK - 1;

/// The key index: an open-addressing hash table of slot numbers laid out
/// so that a lookup touches one cache line before the slot itself.
///
/// A SwissTable keeps its control bytes and its buckets in two separate
/// arrays, so finding a slot number costs two dependent cache misses
/// (control group, then bucket) before the slot is read. Here each 64-byte
/// [`Group`] holds 10 entries as a 16-bit hash tag and a `u32` slot number
/// side by side, plus an overflow count: one miss finds the candidates,
/// and a 16-bit tag makes a false candidate (an extra slot read) a
/// 1-in-65,536 event per occupied entry instead of 1 in 128.
///
/// Probing is linear over groups. A group's `overflow` counts the entries
/// whose probe passed over it because it was full; a lookup stops at the
/// first group without overflow (folly F14's scheme), so there are no
/// tombstones and deletes need no rehash. At most 80 % of the entries are
/// used, which costs 8–16 bytes per key (the SwissTable of `u32` cost
/// 5.7–11.4 plus a second miss); hashes are recomputed from the keys on
/// resize rather than stored.
mod index {
    /// Entries per group.
    pub(super) const GROUP: usize = 10;

    /// One cache line: 10 tags, 10 slot numbers, the overflow count.
    #[derive(Clone, Copy)]
    #[repr(C, align(64))]
    pub(super) struct Group {
        /// 0: free; otherwise the entry's tag (see [`tag`]).
        tags: [u16; GROUP],
        slots: [u32; GROUP],
        /// Entries stored past this group whose probe crossed it.
        overflow: u32,
    }

    const EMPTY: Group = Group {
        tags: [0; GROUP],
        slots: [0; GROUP],
        overflow: 0,
    };

    /// The tag of hash `h`: its top 16 bits, never 0 (0 marks a free entry).
    fn tag(h: u64) -> u16 {
        match (h >> 48) as u16 {
            0 => 1,
            t => t,
        }
    }

    /// Entries a table of `groups` groups may hold (80 % load).
    fn capacity_of(groups: usize) -> usize {
        groups * GROUP * 4 / 5
    }

    /// Groups needed to hold `n` entries (a power of two, 0 for 0).
    fn groups_for(n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let mut g = 1usize;
        while capacity_of(g) < n {
            g *= 2;
        }
        g
    }

    #[derive(Default)]
    pub(super) struct Index {
        groups: Vec<Group>,
        len: usize,
    }

    impl std::fmt::Debug for Index {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Index")
                .field("len", &self.len)
                .field("groups", &self.groups.len())
                .finish()
        }
    }

    impl Index {
        pub(super) fn len(&self) -> usize {
            self.len
        }

        /// Entries it can hold before growing.
        pub(super) fn capacity(&self) -> usize {
            capacity_of(self.groups.len())
        }

        fn mask(&self) -> usize {
            self.groups.len().wrapping_sub(1)
        }

        /// Bit `j` set for each entry of `g` tagged `t`.
        #[inline(always)]
        fn matches(g: &Group, t: u16) -> u32 {
            let mut m = 0u32;
            for (j, &x) in g.tags.iter().enumerate() {
                m |= u32::from(x == t) << j;
            }
            m
        }

        /// Hint the CPU to load the home group of `h` (multi-key reads).
        #[inline]
        pub(super) fn prefetch(&self, h: u64) {
            if let Some(g) = self.groups.get((h as usize) & self.mask()) {
                super::prefetch_line(g as *const Group as *const u8);
            }
        }

        /// Slot numbers of the home group of `h` tagged like it (the
        /// likely candidates), for prefetching.
        pub(super) fn home_candidates(&self, h: u64, mut f: impl FnMut(u32)) {
            if let Some(g) = self.groups.get((h as usize) & self.mask()) {
                let mut m = Self::matches(g, tag(h));
                while m != 0 {
                    let j = m.trailing_zeros() as usize;
                    m &= m - 1;
                    if let Some(&s) = g.slots.get(j) {
                        f(s);
                    }
                }
            }
        }

        /// (group, position) of the entry for hash `h` whose slot number
        /// satisfies `eq`.
        #[inline]
        fn locate(&self, h: u64, mut eq: impl FnMut(u32) -> bool) -> Option<(usize, usize)> {
            let n = self.groups.len();
            let t = tag(h);
            let mut gi = (h as usize) & self.mask();
            for _ in 0..n {
                let g = self.groups.get(gi)?;
                let mut m = Self::matches(g, t);
                while m != 0 {
                    let j = m.trailing_zeros() as usize;
                    m &= m - 1;
                    if let Some(&s) = g.slots.get(j) {
                        if eq(s) {
                            return Some((gi, j));
                        }
                    }
                }
                if g.overflow == 0 {
                    return None;
                }
                gi = (gi + 1) & (n - 1);
            }
            None
        }

        /// The slot number stored for hash `h` that satisfies `eq`.
        #[inline]
        pub(super) fn find(&self, h: u64, eq: impl FnMut(u32) -> bool) -> Option<u32> {
            let (g, j) = self.locate(h, eq)?;
            self.groups.get(g).and_then(|g| g.slots.get(j)).copied()
        }

        /// Add `slot` under hash `h` (not present yet). `rehash` gives the
        /// hash of a stored slot number, for growing.
        pub(super) fn insert(&mut self, h: u64, slot: u32, rehash: impl Fn(u32) -> u64) {
            if self.len + 1 > self.capacity() {
                let groups = groups_for(self.len + 1).max(self.groups.len() * 2).max(1);
                self.rebuild(groups, rehash);
            }
            self.place(h, slot);
            self.len += 1;
        }

        /// Store an entry in the first free position of its probe (there
        /// is one: the load stays under 80 %).
        fn place(&mut self, h: u64, slot: u32) {
            let n = self.groups.len();
            let mask = self.mask();
            let t = tag(h);
            let mut gi = (h as usize) & mask;
            for _ in 0..n {
                let Some(g) = self.groups.get_mut(gi) else {
                    return;
                };
                if let Some(j) = g.tags.iter().position(|&x| x == 0) {
                    if let (Some(tg), Some(sl)) = (g.tags.get_mut(j), g.slots.get_mut(j)) {
                        *tg = t;
                        *sl = slot;
                    }
                    return;
                }
                g.overflow += 1;
                gi = (gi + 1) & mask;
            }
        }

        /// Remove the entry of `slot` stored under hash `h`.
        pub(super) fn remove(&mut self, h: u64, slot: u32) -> bool {
            let Some((gi, j)) = self.locate(h, |s| s == slot) else {
                return false;
            };
            if let Some(t) = self.groups.get_mut(gi).and_then(|g| g.tags.get_mut(j)) {
                *t = 0;
            }
            // Undo the overflow marks its insertion left on the way.
            let mask = self.mask();
            let mut k = (h as usize) & mask;
            while k != gi {
                if let Some(g) = self.groups.get_mut(k) {
                    g.overflow = g.overflow.saturating_sub(1);
                }
                k = (k + 1) & mask;
            }
            self.len -= 1;
            true
        }

        /// Repoint the entry of slot `old` (hash `h`) to slot `new`.
        pub(super) fn replace(&mut self, h: u64, old: u32, new: u32) -> bool {
            let Some((gi, j)) = self.locate(h, |s| s == old) else {
                return false;
            };
            if let Some(s) = self.groups.get_mut(gi).and_then(|g| g.slots.get_mut(j)) {
                *s = new;
            }
            true
        }

        /// Resize to `groups` groups, re-placing every entry.
        fn rebuild(&mut self, groups: usize, rehash: impl Fn(u32) -> u64) {
            let old = std::mem::replace(&mut self.groups, vec![EMPTY; groups]);
            for g in &old {
                for (&t, &s) in g.tags.iter().zip(g.slots.iter()) {
                    if t != 0 {
                        self.place(rehash(s), s);
                    }
                }
            }
        }

        /// Shrink to the smallest size that holds `n` entries (at least the
        /// current number).
        pub(super) fn shrink_to(&mut self, n: usize, rehash: impl Fn(u32) -> u64) {
            let groups = groups_for(n.max(self.len));
            if groups < self.groups.len() {
                self.rebuild(groups, rehash);
            }
        }

        /// Heap bytes of the table.
        #[cfg(test)]
        pub(super) fn heap_bytes(&self) -> usize {
            self.groups.capacity() * std::mem::size_of::<Group>()
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::collections::HashMap;

        #[test]
        fn group_is_one_cache_line() {
            assert_eq!(std::mem::size_of::<Group>(), 64);
            assert_eq!(std::mem::align_of::<Group>(), 64);
        }

        /// Random inserts/removes/replaces against a model, with hashes
        /// crowded into few bits so groups overflow and probes chain.
        #[test]
        fn model_check_with_collisions() {
            use rand::{Rng, SeedableRng};
            let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
            // slot -> hash
            let mut model: HashMap<u32, u64> = HashMap::new();
            let mut idx = Index::default();
            let mut next = 0u32;
            for step in 0..20_000u32 {
                // Few distinct home groups and tags: heavy collisions.
                let h = (rng.gen_range(1..64u64) << 48) | rng.gen_range(0..256u64);
                match rng.gen_range(0..100) {
                    0..=59 => {
                        idx.insert(h, next, |s| model.get(&s).copied().unwrap_or(0));
                        model.insert(next, h);
                        next += 1;
                    }
                    60..=84 => {
                        let victim = model.keys().next().copied();
                        if let Some(s) = victim {
                            let vh = model.remove(&s).unwrap_or(0);
                            assert!(idx.remove(vh, s));
                            assert!(!idx.remove(vh, s));
                        }
                    }
                    85..=98 => {
                        let victim = model.keys().next().copied();
                        if let Some(s) = victim {
                            let vh = model.remove(&s).unwrap_or(0);
                            let new = 1_000_000 + step;
                            assert!(idx.replace(vh, s, new));
                            model.insert(new, vh);
                        }
                    }
                    _ => {
                        idx.shrink_to(0, |s| model.get(&s).copied().unwrap_or(0));
                    }
                }
                assert_eq!(idx.len(), model.len());
                assert!(idx.len() <= idx.capacity());
            }
            for (&s, &h) in &model {
                assert_eq!(idx.find(h, |x| x == s), Some(s));
            }
            assert_eq!(idx.find(1 << 60, |_| true), None);
            // Every overflow mark is accounted for: remove all, counts return to 0.
            for (s, h) in model.drain() {
                assert!(idx.remove(h, s));
            }
            assert_eq!(idx.len(), 0);
            assert!(idx
                .groups
                .iter()
                .all(|g| g.overflow == 0 && g.tags.iter().all(|&t| t == 0)));
        }
    }
}

/// Ask the CPU to bring the cache line at `p` in (a hint: never faults).
#[inline(always)]
fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: SSE is part of the x86_64 baseline, and a prefetch is
        // only a hint: it never dereferences `p` architecturally and
        // cannot fault, whatever the address.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = p;
    }
}

/// A value with its bookkeeping.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// Bit 31: the key has a TTL. Bits 0..31: the LRU clock of the last
    /// access (seconds), or in LFU mode `(minutes << 8) | counter`.
    meta: u32,
    /// Bits 0..30: position of this key's TTL record in `Db::exp_at`/
    /// `exp_slot`, only meaningful while the TTL flag is set (so at most
    /// 2^30 volatile keys per database per shard). Bits 30..32: the
    /// [`StrEncoding`] of a string value. Lives in what would otherwise be
    /// padding, so it costs nothing.
    exp_pos: u32,
}

impl Entry {
    pub fn new(value: Value) -> Self {
        Entry {
            value,
            meta: 0,
            exp_pos: 0,
        }
    }

    pub fn has_ttl(&self) -> bool {
        self.meta & TTL_FLAG != 0
    }

    /// Raw LRU/LFU access field.
    pub fn access(&self) -> u32 {
        self.meta & ACCESS_MASK
    }

    pub fn set_access(&mut self, a: u32) {
        self.meta = (self.meta & TTL_FLAG) | (a & ACCESS_MASK);
    }

    /// Position of the TTL record (see `exp_pos`).
    fn pos(&self) -> usize {
        (self.exp_pos & POS_MASK) as usize
    }

    fn set_pos(&mut self, p: usize) {
        self.exp_pos = (self.exp_pos & !POS_MASK) | (p as u32 & POS_MASK);
    }

    /// How the string value was created (meaningless for other types).
    pub fn str_encoding(&self) -> StrEncoding {
        match self.exp_pos >> ENC_SHIFT {
            1 => StrEncoding::NoInt,
            2 => StrEncoding::Raw,
            _ => StrEncoding::Auto,
        }
    }

    /// Record how the string value was created: handlers that store a
    /// string other than through `tryObjectEncoding` (INCRBYFLOAT, APPEND,
    /// SETRANGE…) call this after writing it. [`Db::set`] and
    /// [`Db::set_keep_ttl`] reset it to [`StrEncoding::Auto`].
    pub fn set_str_encoding(&mut self, how: StrEncoding) {
        let bits = match how {
            StrEncoding::Auto => 0,
            StrEncoding::NoInt => 1,
            StrEncoding::Raw => 2,
        };
        self.exp_pos = (self.exp_pos & POS_MASK) | (bits << ENC_SHIFT);
    }

    /// The name OBJECT ENCODING reports: the value's own for collections,
    /// and for strings the one Redis would have picked when it created it.
    pub fn encoding(&self) -> &'static str {
        match &self.value {
            Value::Str(s) => crate::types::string::encoding_as(s, self.str_encoding()),
            v => v.encoding(),
        }
    }
}

/// Counters a database keeps for INFO.
#[derive(Debug, Default, Clone, Copy)]
pub struct DbStats {
    pub expired_keys: u64,
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
}

/// One key and its entry, as stored.
#[derive(Debug)]
struct Slot {
    key: Blob,
    entry: Entry,
}

/// Dense, chunked storage of slots (see the module docs).
#[derive(Debug, Default)]
struct Slab {
    chunks: Vec<Vec<Slot>>,
    len: usize,
}

impl Slab {
    fn get(&self, i: usize) -> Option<&Slot> {
        self.chunks.get(i >> CHUNK_BITS)?.get(i & CHUNK_MASK)
    }

    fn get_mut(&mut self, i: usize) -> Option<&mut Slot> {
        self.chunks
            .get_mut(i >> CHUNK_BITS)?
            .get_mut(i & CHUNK_MASK)
    }

    /// Append a slot; returns its number.
    fn push(&mut self, s: Slot) -> usize {
        let i = self.len;
        let c = i >> CHUNK_BITS;
        if c == self.chunks.len() {
            // The first chunk grows by doubling so that tiny databases stay
            // tiny; later chunks are allocated once at full size.
            self.chunks.push(if c == 0 {
                Vec::new()
            } else {
                Vec::with_capacity(CHUNK)
            });
        }
        if let Some(chunk) = self.chunks.get_mut(c) {
            chunk.push(s);
            self.len += 1;
        }
        i
    }

    /// Remove slot `i`, moving the last slot into its place. Returns the
    /// removed slot and whether a slot moved (it then lives at `i` and used
    /// to live at the new `len`).
    fn swap_remove(&mut self, i: usize) -> Option<(Slot, bool)> {
        if i >= self.len {
            return None;
        }
        let last = self.len - 1;
        let last_slot = self.chunks.get_mut(last >> CHUNK_BITS)?.pop()?;
        self.len = last;
        // Keep one empty spare chunk so that a workload hovering around a
        // chunk boundary does not allocate and free 256 KiB each time.
        let needed = self.len.div_ceil(CHUNK);
        if self.chunks.len() > needed + 1 {
            self.chunks.truncate(needed + 1);
        }
        if i == last {
            return Some((last_slot, false));
        }
        let hole = self.get_mut(i)?;
        let removed = std::mem::replace(hole, last_slot);
        Some((removed, true))
    }

    fn iter(&self) -> impl Iterator<Item = &Slot> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    fn clear(&mut self) {
        self.chunks = Vec::new();
        self.len = 0;
    }
}

/// One database's share of one shard.
#[derive(Debug)]
pub struct Db {
    slab: Slab,
    index: Index,
    hasher: Hasher,
    /// Absolute expiry (Unix ms) of the volatile keys…
    exp_at: Vec<u64>,
    /// …and, at the same position, the slot number of that key.
    exp_slot: Vec<u32>,
    /// Where active expiry continues its sweep of `exp_at` (Redis's
    /// `expires_cursor`).
    exp_cursor: usize,
    /// State of [`Db::next_random`]; never 0.
    rand_state: u64,
    /// Time snapshot (Unix ms) of the command being executed: Redis fixes the
    /// clock for a whole command (and a whole script / transaction) so that a
    /// key cannot expire half-way through.
    pub now: u64,
    pub stats: DbStats,
    pub tunables: Arc<Tunables>,
    /// Keys written since the last poll, for WATCH / client tracking hooks.
    pub dirty: u64,
    /// Keys this database expired or evicted on its own (lazy/active expiry,
    /// eviction), recorded only while `Tunables::key_events` is on, so the
    /// command layer can emit keyspace notifications and client-side caching
    /// invalidations for them: the engine knows no pub/sub.
    /// Each with its global sequence number (`Tunables::key_events_seq`).
    pub key_events: Vec<(KeyEvent, Blob, u64)>,
    /// The running incremental snapshot of this database, if any
    /// (see [`snapshot`]).
    snap: Option<Box<snapshot::SnapState>>,
}

/// What the engine did to a key by itself (see [`Db::key_events`]). The
/// discriminant is the bit in `Tunables::key_events` that turns recording
/// of that kind on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEvent {
    /// Deleted by lazy or active expiry.
    Expired = 1,
    /// Deleted by `maxmemory` eviction.
    Evicted = 2,
    /// A read lookup ([`Db::get`]) missed.
    Miss = 4,
    /// A key was created (Redis's `dbAdd`).
    New = 8,
}

/// What SCAN-like iteration yields per call.
pub struct ScanPage {
    pub keys: Vec<Blob>,
    /// Index to continue from; 0 means this db is done.
    pub next: usize,
}

impl Db {
    pub fn new(tunables: Arc<Tunables>) -> Self {
        Db {
            slab: Slab::default(),
            index: Index::default(),
            hasher: Hasher::new(),
            exp_at: Vec::new(),
            exp_slot: Vec::new(),
            exp_cursor: 0,
            rand_state: rand::random::<u64>() | 1,
            now: crate::clock::now_ms(),
            stats: DbStats::default(),
            tunables,
            dirty: 0,
            key_events: Vec::new(),
            snap: None,
        }
    }

    /// Number of keys, including expired ones not yet reclaimed (as Redis's
    /// DBSIZE).
    pub fn len(&self) -> usize {
        self.slab.len
    }

    pub fn is_empty(&self) -> bool {
        self.slab.len == 0
    }

    /// Number of keys with a TTL.
    pub fn expires_len(&self) -> usize {
        self.exp_at.len()
    }

    // ---- internal index plumbing -------------------------------------

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Slot number of `key` (expired or not).
    fn find(&self, key: &[u8]) -> Option<usize> {
        let h = self.hash(key);
        let slab = &self.slab;
        self.index
            .find(h, |i| slab.get(i as usize).is_some_and(|s| *s.key == *key))
            .map(|i| i as usize)
    }

    fn entry_at(&self, i: usize) -> Option<&Entry> {
        self.slab.get(i).map(|s| &s.entry)
    }

    fn entry_at_mut(&mut self, i: usize) -> Option<&mut Entry> {
        self.slab.get_mut(i).map(|s| &mut s.entry)
    }

    /// Expiry of the entry, if it has a TTL.
    fn ttl_of(&self, e: &Entry) -> Option<u64> {
        if e.has_ttl() {
            self.exp_at.get(e.pos()).copied()
        } else {
            None
        }
    }

    fn slot_expired(&self, i: usize) -> bool {
        match self.entry_at(i) {
            Some(e) => self.ttl_of(e).is_some_and(|at| at <= self.now),
            None => false,
        }
    }

    /// Add a new key at the end of the slab. The caller has checked that the
    /// key is absent.
    fn insert_new(&mut self, key: Blob, entry: Entry) -> usize {
        if self.wants_key_event(KeyEvent::New) {
            self.log_key_event(KeyEvent::New, key.clone());
        }
        let h = self.hash(&key);
        let i = self.slab.push(Slot { key, entry });
        self.snap_new(i);
        let Db {
            index,
            slab,
            hasher,
            ..
        } = self;
        index.insert(h, i as u32, |j| {
            slab.get(j as usize)
                .map(|s| hasher.hash_one(s.key.as_slice()))
                .unwrap_or(0)
        });
        i
    }

    /// Add a TTL record for slot `i` and flag its entry.
    ///
    /// The record goes to a uniformly random position (inside-out
    /// Fisher-Yates: append, then swap with a random record), so the TTL
    /// records are always in random order, like keys in Redis's hashed
    /// `expires` dict. Active expiry sweeps them sequentially; in insertion
    /// order, a batch of keys given the same TTL would sit in one block that
    /// the sweep reaches only after crawling through every older record.
    fn exp_add(&mut self, i: usize, at: u64) {
        let n = self.exp_at.len();
        match self.entry_at_mut(i) {
            Some(e) => {
                e.meta |= TTL_FLAG;
                e.set_pos(n);
            }
            None => return,
        }
        self.exp_at.push(at);
        self.exp_slot.push(i as u32);
        let r = (self.next_random() % (n as u64 + 1)) as usize;
        if r != n {
            self.exp_at.swap(r, n);
            self.exp_slot.swap(r, n);
            for p in [r, n] {
                if let Some(&s) = self.exp_slot.get(p) {
                    if let Some(e) = self.entry_at_mut(s as usize) {
                        e.set_pos(p);
                    }
                }
            }
        }
    }

    /// A cheap pseudo-random number (xorshift64*): placement of TTL records
    /// needs spread, not cryptographic quality, and must not cost a
    /// thread-local RNG lookup on every SET EX.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rand_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rand_state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Drop TTL record `pos`, repointing the record moved into its place.
    fn exp_remove(&mut self, pos: usize) {
        if pos >= self.exp_at.len() {
            return;
        }
        self.exp_at.swap_remove(pos);
        self.exp_slot.swap_remove(pos);
        if let Some(&moved) = self.exp_slot.get(pos) {
            if let Some(e) = self.entry_at_mut(moved as usize) {
                e.set_pos(pos);
            }
        }
    }

    /// Remove slot `i` completely (index, TTL record, slab).
    fn remove_slot(&mut self, i: usize) -> Option<Slot> {
        let h = self.hash(&self.slab.get(i)?.key);
        self.snap_before_write(i);
        self.index.remove(h, i as u32);
        let (removed, moved) = self.slab.swap_remove(i)?;
        if moved {
            self.snap_moved(self.slab.len, i);
            // The former last slot now lives at `i`: repoint its index entry
            // and its TTL record.
            let old = self.slab.len as u32;
            let (mh, ttl_pos) = match self.slab.get(i) {
                Some(s) => (
                    self.hasher.hash_one(s.key.as_slice()),
                    s.entry.has_ttl().then_some(s.entry.pos()),
                ),
                None => return Some(removed),
            };
            self.index.replace(mh, old, i as u32);
            if let Some(p) = ttl_pos.and_then(|p| self.exp_slot.get_mut(p)) {
                *p = i as u32;
            }
        }
        if removed.entry.has_ttl() {
            self.exp_remove(removed.entry.pos());
        }
        self.maybe_shrink();
        Some(removed)
    }

    /// Give memory back after mass deletion, as Redis's `tryResizeHashTables`
    /// does when a dict falls under 10% fill.
    fn maybe_shrink(&mut self) {
        let cap = self.index.capacity();
        let len = self.index.len();
        if cap > 1024 && len * 10 < cap {
            let Db {
                index,
                slab,
                hasher,
                ..
            } = self;
            index.shrink_to(len * 2, |j| {
                slab.get(j as usize)
                    .map(|s| hasher.hash_one(s.key.as_slice()))
                    .unwrap_or(0)
            });
        }
        if self.exp_at.capacity() > 1024 && self.exp_at.len() * 10 < self.exp_at.capacity() {
            let n = self.exp_at.len() * 2;
            self.exp_at.shrink_to(n);
            self.exp_slot.shrink_to(n);
        }
    }

    /// Remove slot `i` as an expired key.
    fn expire_slot(&mut self, i: usize) {
        if let Some(slot) = self.remove_slot(i) {
            self.dirty += 1;
            self.stats.expired_keys += 1;
            self.log_key_event(KeyEvent::Expired, slot.key);
        }
    }

    /// Record a key the engine removed by itself, when someone listens
    /// (one relaxed load otherwise).
    fn log_key_event(&mut self, ev: KeyEvent, key: Blob) {
        if self.wants_key_event(ev) {
            let seq = self
                .tunables
                .key_events_seq
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.key_events.push((ev, key, seq));
            self.tunables
                .key_events_pending
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Is recording of `ev` on (one relaxed load)?
    fn wants_key_event(&self, ev: KeyEvent) -> bool {
        self.tunables
            .key_events
            .load(std::sync::atomic::Ordering::Relaxed)
            & ev as u32
            != 0
    }

    // ---- public API ---------------------------------------------------

    /// Remove `key` if it has expired. Returns true if it was removed.
    pub fn expire_if_needed(&mut self, key: &[u8]) -> bool {
        match self.find(key) {
            Some(i) if self.slot_expired(i) => {
                self.expire_slot(i);
                true
            }
            _ => false,
        }
    }

    /// Record an access (LRU clock or LFU counter) at the command's clock.
    fn touch_entry(tunables: &Tunables, now: u64, e: &mut Entry) {
        let a = tunables.access_update_at(e.access(), now);
        e.set_access(a);
    }

    /// Find a live key, expiring it lazily: the slot number if it exists.
    fn find_live(&mut self, key: &[u8]) -> Option<usize> {
        let i = self.find(key)?;
        if self.slot_expired(i) {
            self.expire_slot(i);
            return None;
        }
        Some(i)
    }

    /// Look a key up for reading, expiring it lazily and updating its access
    /// time. Counts keyspace hits/misses.
    pub fn get(&mut self, key: &[u8]) -> Option<&Entry> {
        match self.find_live(key) {
            Some(i) => {
                self.stats.keyspace_hits += 1;
                let t = &self.tunables;
                let e = self.slab.get_mut(i).map(|s| &mut s.entry)?;
                Self::touch_entry(t, self.now, e);
                Some(&*e)
            }
            None => {
                self.stats.keyspace_misses += 1;
                if self.wants_key_event(KeyEvent::Miss) {
                    self.log_key_event(KeyEvent::Miss, Blob::new(key));
                }
                None
            }
        }
    }

    /// Look a key up for writing (lazy expiry, access update, no hit/miss
    /// counting, as Redis's `lookupKeyWrite`).
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let i = self.find_live(key)?;
        self.snap_before_write(i);
        let t = &self.tunables;
        let e = self.slab.get_mut(i).map(|s| &mut s.entry)?;
        Self::touch_entry(t, self.now, e);
        Some(e)
    }

    /// Read without touching access time or stats (TYPE-like internals,
    /// OBJECT IDLETIME). Expired keys are reported as missing but not removed.
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        let i = self.find(key)?;
        if self.slot_expired(i) {
            return None;
        }
        self.entry_at(i)
    }

    /// Does the key exist (after lazy expiry)?
    pub fn contains(&mut self, key: &[u8]) -> bool {
        self.find_live(key).is_some()
    }

    /// Store `value` under `key`, replacing any old value and clearing its TTL
    /// (SET semantics). Returns the old entry.
    ///
    /// An overwritten key keeps its access history, touched once (Redis's
    /// `lookupKeyWrite` then `dbOverwrite`, which keeps the LFU counter).
    pub fn set(&mut self, key: &[u8], value: Value) -> Option<Entry> {
        self.set_entry(key, Entry::new(value))
    }

    /// [`Db::set`] of a string created other than through
    /// `tryObjectEncoding` (see [`StrEncoding`]), in one lookup.
    pub fn set_encoded(&mut self, key: &[u8], value: Value, how: StrEncoding) -> Option<Entry> {
        let mut e = Entry::new(value);
        e.set_str_encoding(how);
        self.set_entry(key, e)
    }

    /// [`Db::set`] of a prepared entry (its TTL flag must be clear).
    fn set_entry(&mut self, key: &[u8], mut e: Entry) -> Option<Entry> {
        self.dirty += 1;
        match self.find(key) {
            Some(i) => {
                self.snap_before_write(i);
                let (t, now) = (&self.tunables, self.now);
                let slot = self.slab.get_mut(i).map(|s| &mut s.entry)?;
                e.set_access(slot.access());
                Self::touch_entry(t, now, &mut e);
                let old = std::mem::replace(slot, e);
                if old.has_ttl() {
                    self.exp_remove(old.pos());
                }
                Some(old)
            }
            None => {
                Self::touch_entry(&self.tunables, self.now, &mut e);
                self.insert_new(Blob::new(key), e);
                None
            }
        }
    }

    /// Store `value`, keeping the key's TTL if it has one (KEEPTTL, SETRANGE…).
    pub fn set_keep_ttl(&mut self, key: &[u8], value: Value) {
        self.dirty += 1;
        match self.find_live(key) {
            Some(i) => {
                self.snap_before_write(i);
                if let Some(e) = self.entry_at_mut(i) {
                    e.value = value;
                    e.set_str_encoding(StrEncoding::Auto);
                }
            }
            None => {
                let mut e = Entry::new(value);
                Self::touch_entry(&self.tunables, self.now, &mut e);
                self.insert_new(Blob::new(key), e);
            }
        }
    }

    /// Insert an entry moved from elsewhere (RENAME, MOVE, COPY) with an
    /// optional absolute expiry in ms.
    pub fn insert_entry(&mut self, key: &[u8], mut entry: Entry, expire_at: Option<u64>) {
        self.dirty += 1;
        self.remove(key);
        entry.meta &= ACCESS_MASK;
        let i = self.insert_new(Blob::new(key), entry);
        if let Some(at) = expire_at {
            self.exp_add(i, at);
        }
    }

    /// Remove a key. Returns its entry if it existed (expired or not).
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let i = self.find(key)?;
        let slot = self.remove_slot(i)?;
        self.dirty += 1;
        Some(slot.entry)
    }

    /// Set an absolute expiry (Unix ms) on an existing key. Returns false if
    /// the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], at_ms: u64) -> bool {
        let Some(i) = self.find(key) else {
            return false;
        };
        self.snap_before_write(i);
        let existing = match self.entry_at(i) {
            Some(e) if e.has_ttl() => Some(e.pos()),
            Some(_) => None,
            None => return false,
        };
        match existing.and_then(|p| self.exp_at.get_mut(p)) {
            Some(at) => *at = at_ms,
            None => self.exp_add(i, at_ms),
        }
        self.dirty += 1;
        true
    }

    /// Remove the TTL of a key. Returns true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        let Some(i) = self.find(key) else {
            return false;
        };
        self.snap_before_write(i);
        let pos = match self.entry_at_mut(i) {
            Some(e) if e.has_ttl() => {
                e.meta &= ACCESS_MASK;
                e.pos()
            }
            _ => return false,
        };
        self.exp_remove(pos);
        self.dirty += 1;
        true
    }

    /// Absolute expiry (Unix ms) of a key, if it has one.
    pub fn expire_at(&self, key: &[u8]) -> Option<u64> {
        let e = self.entry_at(self.find(key)?)?;
        self.ttl_of(e)
    }

    /// Remove every key.
    pub fn clear(&mut self) {
        self.snap_before_clear();
        self.slab.clear();
        self.index = Index::default();
        self.exp_at = Vec::new();
        self.exp_slot = Vec::new();
        self.exp_cursor = 0;
        self.dirty += 1;
    }

    /// Iterate over all (possibly expired) keys and entries.
    pub fn iter(&self) -> impl Iterator<Item = (&Blob, &Entry)> {
        self.slab.iter().map(|s| (&s.key, &s.entry))
    }

    /// Keys with their absolute expiry, for snapshots.
    pub fn iter_with_expiry(&self) -> impl Iterator<Item = (&Blob, &Entry, Option<u64>)> {
        self.slab
            .iter()
            .map(move |s| (&s.key, &s.entry, self.ttl_of(&s.entry)))
    }

    /// A uniformly random live key.
    pub fn random_key(&mut self, rng: &mut impl Rng) -> Option<Blob> {
        // Like Redis, retry a bounded number of times when hitting expired
        // keys (which are deleted on the way).
        for _ in 0..100 {
            if self.slab.len == 0 {
                return None;
            }
            let i = rng.gen_range(0..self.slab.len);
            if self.slot_expired(i) {
                self.expire_slot(i);
                continue;
            }
            return self.slab.get(i).map(|s| s.key.clone());
        }
        None
    }

    /// A random sample of up to `n` entries (may repeat), for eviction:
    /// (key, access field, expiry or 0).
    pub fn sample(
        &self,
        n: usize,
        volatile_only: bool,
        rng: &mut impl Rng,
    ) -> Vec<(Blob, u32, u64)> {
        let mut out = Vec::with_capacity(n);
        self.sample_with(n, volatile_only, rng, |k, e, at| {
            out.push((k.clone(), e.access(), at.unwrap_or(0)));
        });
        out
    }

    /// One step of active expiry: check the next `samples` keys with a TTL
    /// and delete the expired ones. Returns (checked, expired).
    ///
    /// Like Redis, this sweeps the volatile keys sequentially from a cursor
    /// kept between calls rather than sampling at random: a sweep reaches
    /// every key, and while it moves through a region where many keys are
    /// expired the expired share of each step stays high, so the caller
    /// keeps going until that region is clean. (Random sampling would see
    /// the share fall as the keyspace gets cleaner and leave a stale tail
    /// behind.) Deleting swap-moves the last record into the cursor's
    /// position, which is checked next, so no record is skipped. `_rng` is
    /// kept for API stability.
    pub fn active_expire_step(&mut self, samples: usize, _rng: &mut impl Rng) -> (usize, usize) {
        let mut sampled = 0;
        let mut expired = 0;
        for _ in 0..samples {
            let n = self.exp_at.len();
            if n == 0 {
                break;
            }
            if self.exp_cursor >= n {
                self.exp_cursor = 0;
            }
            let p = self.exp_cursor;
            sampled += 1;
            let due = self.exp_at.get(p).is_some_and(|&at| at <= self.now);
            match self.exp_slot.get(p) {
                Some(&slot) if due => {
                    self.expire_slot(slot as usize);
                    expired += 1;
                }
                _ => self.exp_cursor += 1,
            }
        }
        (sampled, expired)
    }

    /// SCAN support: visit entries from index `cursor - 1` downwards (cursor 0
    /// starts at the top). Calls `f` for each live key; stops after `count`
    /// visited entries. Returns the next cursor (0 = done).
    pub fn scan(&mut self, cursor: usize, count: usize, mut f: impl FnMut(&Blob, &Entry)) -> usize {
        let len = self.slab.len;
        let mut pos = if cursor == 0 || cursor > len {
            len
        } else {
            cursor
        };
        let mut visited = 0;
        let mut expired = Vec::new();
        while pos > 0 && visited < count.max(1) {
            pos -= 1;
            visited += 1;
            if let Some(s) = self.slab.get(pos) {
                if self.ttl_of(&s.entry).is_some_and(|at| at <= self.now) {
                    expired.push(s.key.clone());
                } else {
                    f(&s.key, &s.entry);
                }
            }
        }
        // Deleting in descending slot order only moves slots from above the
        // cursor (already visited) into holes, preserving the guarantee.
        for k in expired {
            self.expire_if_needed(&k);
        }
        pos
    }

    /// Sample `n` random slots (with repetition) without allocating, calling
    /// `f(key, entry, expiry)` for each; `volatile_only` samples among keys
    /// with a TTL only. Used by eviction, which keeps only the best few.
    pub fn sample_with(
        &self,
        n: usize,
        volatile_only: bool,
        rng: &mut impl Rng,
        mut f: impl FnMut(&Blob, &Entry, Option<u64>),
    ) {
        for _ in 0..n {
            let slot = if volatile_only {
                if self.exp_slot.is_empty() {
                    return;
                }
                let p = rng.gen_range(0..self.exp_slot.len());
                self.exp_slot.get(p).map(|&s| s as usize)
            } else {
                if self.slab.len == 0 {
                    return;
                }
                Some(rng.gen_range(0..self.slab.len))
            };
            if let Some(s) = slot.and_then(|i| self.slab.get(i)) {
                f(&s.key, &s.entry, self.ttl_of(&s.entry));
            }
        }
    }

    /// Evict `key` (maxmemory): remove it and count it in `evicted_keys`.
    /// Returns false if it no longer exists.
    pub fn evict(&mut self, key: &[u8]) -> bool {
        if self.remove(key).is_some() {
            self.stats.evicted_keys += 1;
            self.log_key_event(KeyEvent::Evicted, Blob::new(key));
            true
        } else {
            false
        }
    }

    // ---- batched reads --------------------------------------------------
    //
    // A multi-key read (memcached's multi-get) that looks its keys up one
    // after the other pays the cache misses of each lookup (index group,
    // slot, value) in sequence. These three stages, each run over every key
    // of the batch before the next, start those loads early so they
    // overlap: the batch then waits for about three misses instead of three
    // per key. They only read and only hint the CPU; the lookups that follow
    // are the ordinary ones.

    /// Stage 1: the key's hash, and a prefetch of its index group.
    pub fn prefetch_index(&self, key: &[u8]) -> u64 {
        let h = self.hash(key);
        self.index.prefetch(h);
        h
    }

    /// Stage 2: prefetch the slots whose tag matches hash `h` in its home
    /// group (read by stage 1's prefetch).
    pub fn prefetch_slots(&self, h: u64) {
        let slab = &self.slab;
        self.index.home_candidates(h, |i| {
            if let Some(s) = slab.get(i as usize) {
                prefetch_line((s as *const Slot).cast::<u8>());
            }
        });
    }

    /// Stage 3: find `key` (hash `h`) and prefetch the start of its value's
    /// heap data.
    pub fn prefetch_value(&self, key: &[u8], h: u64) {
        let slab = &self.slab;
        let found = self
            .index
            .find(h, |i| slab.get(i as usize).is_some_and(|s| *s.key == *key));
        if let Some(p) = found
            .and_then(|i| slab.get(i as usize))
            .and_then(|s| s.entry.value.heap_ptr())
        {
            prefetch_line(p);
        }
    }

    /// [`Db::get_mut`] that also returns the key's absolute expiry and its
    /// access field from before this access, in one hash lookup: the
    /// memcached engine's get path needs all three (TTL for `mg t`, the
    /// previous access for `mg l` / no-bump reads) and a lookup per item
    /// is most of the cost of a multi-get.
    pub fn get_mut_with_ttl(&mut self, key: &[u8]) -> Option<(&mut Entry, Option<u64>, u32)> {
        let i = self.find_live(key)?;
        self.snap_before_write(i);
        let ttl = self.entry_at(i).and_then(|e| self.ttl_of(e));
        let (t, now) = (&self.tunables, self.now);
        let e = self.slab.get_mut(i).map(|s| &mut s.entry)?;
        // The caller reads the value next: start that (dependent) miss
        // now, so it overlaps the bookkeeping in between.
        if let Some(p) = e.value.heap_ptr() {
            prefetch_line(p);
        }
        let before = e.access();
        Self::touch_entry(t, now, e);
        Some((e, ttl, before))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn db() -> Db {
        Db::new(Arc::new(Tunables::default()))
    }

    #[test]
    fn set_get_expire() {
        let mut d = db();
        d.now = 1000;
        d.set(b"a", Value::Str(Blob::from("1")));
        assert!(d.get(b"a").is_some());
        assert!(d.set_expire(b"a", 1500));
        assert_eq!(d.expire_at(b"a"), Some(1500));
        d.now = 1500;
        assert!(d.get(b"a").is_none());
        assert_eq!(d.len(), 0);
        assert_eq!(d.expires_len(), 0);
        assert_eq!(d.stats.expired_keys, 1);
    }

    #[test]
    fn set_clears_ttl() {
        let mut d = db();
        d.set(b"a", Value::Str(Blob::from("1")));
        d.set_expire(b"a", u64::MAX);
        d.set(b"a", Value::Str(Blob::from("2")));
        assert_eq!(d.expire_at(b"a"), None);
        assert_eq!(d.expires_len(), 0);
        assert!(!d.get(b"a").is_some_and(|e| e.has_ttl()));
    }

    #[test]
    fn scan_returns_every_stable_key_despite_deletes() {
        let mut d = db();
        for i in 0..1000 {
            d.set(format!("k{i}").as_bytes(), Value::Str(Blob::from("v")));
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = d.scan(cursor, 10, |k, _| {
                seen.insert(k.to_vec());
            });
            // Delete some keys and add new ones between calls.
            round += 1;
            d.remove(format!("k{}", round * 7 % 1000).as_bytes());
            d.set(
                format!("new{round}").as_bytes(),
                Value::Str(Blob::from("v")),
            );
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            let deleted = (1..=round).any(|r| r * 7 % 1000 == i);
            if !deleted {
                assert!(seen.contains(format!("k{i}").as_bytes()), "k{i} missing");
            }
        }
    }

    /// Random operations against a model (HashMap of key → (value, ttl)),
    /// crossing chunk boundaries, checking every invariant of the layout.
    #[test]
    fn model_check_random_ops() {
        use std::collections::HashMap;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut d = db();
        d.now = 1_000;
        let mut model: HashMap<Vec<u8>, (Vec<u8>, Option<u64>)> = HashMap::new();
        for step in 0..200_000u32 {
            let k = format!("key:{}", rng.gen_range(0..12_000u32)).into_bytes();
            match rng.gen_range(0..10) {
                0..=3 => {
                    let v = step.to_string().into_bytes();
                    d.set(&k, Value::Str(Blob::new(&v)));
                    model.insert(k, (v, None));
                }
                4 => {
                    assert_eq!(d.remove(&k).is_some(), model.remove(&k).is_some());
                }
                5 => {
                    let at = 2_000 + u64::from(step);
                    assert_eq!(d.set_expire(&k, at), model.contains_key(&k));
                    if let Some(m) = model.get_mut(&k) {
                        m.1 = Some(at);
                    }
                }
                6 => {
                    let had = model.get(&k).is_some_and(|m| m.1.is_some());
                    assert_eq!(d.persist(&k), had);
                    if let Some(m) = model.get_mut(&k) {
                        m.1 = None;
                    }
                }
                7 => {
                    let v = b"kept".to_vec();
                    d.set_keep_ttl(&k, Value::Str(Blob::new(&v)));
                    let ttl = model.get(&k).and_then(|m| m.1);
                    model.insert(k, (v, ttl));
                }
                _ => {
                    let got = d.peek(&k).map(|e| e.value.as_str().map(|b| b.to_vec()));
                    let want = model.get(&k).map(|m| Ok(m.0.clone()));
                    assert_eq!(got, want);
                    assert_eq!(d.expire_at(&k), model.get(&k).and_then(|m| m.1));
                }
            }
        }
        assert_eq!(d.len(), model.len());
        let volatile = model.values().filter(|m| m.1.is_some()).count();
        assert_eq!(d.expires_len(), volatile);
        for (k, e, at) in d.iter_with_expiry() {
            let m = &model[k.as_slice()];
            assert_eq!(e.value.as_str().map(|b| b.to_vec()), Ok(m.0.clone()));
            assert_eq!(at, m.1);
            assert_eq!(e.has_ttl(), m.1.is_some());
        }
        // Everything expires: active expiry reclaims all volatile keys.
        d.now = u64::MAX;
        let mut total = 0;
        while d.expires_len() > 0 {
            total += d.active_expire_step(20, &mut rng).1;
        }
        assert_eq!(total, volatile);
        assert_eq!(d.len(), model.len() - volatile);
        assert_eq!(d.stats.expired_keys as usize, volatile);
        // Then delete everything: memory structures shrink back.
        let keys: Vec<Blob> = d.iter().map(|(k, _)| k.clone()).collect();
        for k in keys {
            assert!(d.remove(&k).is_some());
        }
        assert!(d.is_empty());
        assert!(d.index.capacity() <= 1024);
        assert!(d.slab.chunks.len() <= 1);
    }

    #[test]
    fn sampling_respects_volatile_only() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut d = db();
        for i in 0..100 {
            d.set(format!("k{i}").as_bytes(), Value::Str(Blob::from("v")));
        }
        d.set_expire(b"k5", u64::MAX);
        let s = d.sample(50, true, &mut rng);
        assert_eq!(s.len(), 50);
        assert!(s.iter().all(|(k, _, at)| &**k == b"k5" && *at == u64::MAX));
        assert_eq!(d.sample(50, false, &mut rng).len(), 50);
        assert!(d.evict(b"k5"));
        assert!(!d.evict(b"k5"));
        assert_eq!(d.stats.evicted_keys, 1);
        assert!(d.sample(5, true, &mut rng).is_empty());
    }

    /// The string encoding shares `exp_pos` with the TTL record position:
    /// neither may disturb the other through TTL churn and swap-removes.
    #[test]
    fn str_encoding_survives_ttl_changes() {
        let mut d = db();
        let enc = |d: &mut Db, k: &[u8]| d.get(k).map(|e| e.encoding());
        for i in 0..50 {
            let k = format!("k{i}");
            d.set_encoded(
                k.as_bytes(),
                Value::Str(Blob::from("12")),
                StrEncoding::NoInt,
            );
            d.set_expire(k.as_bytes(), u64::MAX - i);
        }
        d.set(b"plain", Value::Str(Blob::from("12")));
        assert_eq!(enc(&mut d, b"plain"), Some("int"));
        assert_eq!(enc(&mut d, b"k7"), Some("embstr"));
        // Deleting keys moves TTL records and slots around.
        for i in (0..50).step_by(3) {
            d.remove(format!("k{i}").as_bytes());
        }
        for i in (1..50).step_by(3) {
            assert!(d.persist(format!("k{i}").as_bytes()));
        }
        for i in 0..50u64 {
            let k = format!("k{i}");
            match i % 3 {
                0 => assert_eq!(enc(&mut d, k.as_bytes()), None),
                1 => assert_eq!(d.expire_at(k.as_bytes()), None),
                _ => assert_eq!(d.expire_at(k.as_bytes()), Some(u64::MAX - i)),
            }
            if i % 3 != 0 {
                assert_eq!(enc(&mut d, k.as_bytes()), Some("embstr"), "{k}");
            }
        }
        // In-place marks (APPEND-like) keep the TTL; SET-like writes reset.
        if let Some(e) = d.get_mut(b"k2") {
            e.set_str_encoding(StrEncoding::Raw);
        }
        assert_eq!(enc(&mut d, b"k2"), Some("raw"));
        assert_eq!(d.expire_at(b"k2"), Some(u64::MAX - 2));
        d.set_keep_ttl(b"k2", Value::Str(Blob::from("12")));
        assert_eq!(enc(&mut d, b"k2"), Some("int"));
        assert_eq!(d.expire_at(b"k2"), Some(u64::MAX - 2));
        d.set(b"k5", Value::Str(Blob::from("12")));
        assert_eq!(enc(&mut d, b"k5"), Some("int"));
        // RENAME-like moves keep the encoding and take the new TTL.
        let e = d.remove(b"k8");
        if let Some(e) = e {
            d.insert_entry(b"moved", e, Some(u64::MAX - 1000));
        }
        assert_eq!(enc(&mut d, b"moved"), Some("embstr"));
        assert_eq!(d.expire_at(b"moved"), Some(u64::MAX - 1000));
    }

    /// The batched-read stages only hint the CPU: on present, absent and
    /// expired keys they change nothing a lookup can observe.
    #[test]
    fn prefetch_stages_change_nothing() {
        let mut d = db();
        d.now = 1_000;
        for i in 0..5_000 {
            let v = Value::Str(Blob::new(
                format!("value-{i}-{}", "x".repeat(i % 40)).as_bytes(),
            ));
            d.set(format!("k{i}").as_bytes(), v);
        }
        d.set_expire(b"k7", 500);
        let keys: Vec<Vec<u8>> = (0..6_000).map(|i| format!("k{i}").into_bytes()).collect();
        let hashes: Vec<u64> = keys.iter().map(|k| d.prefetch_index(k)).collect();
        for &h in &hashes {
            d.prefetch_slots(h);
        }
        for (k, &h) in keys.iter().zip(&hashes) {
            d.prefetch_value(k, h);
        }
        assert_eq!(d.len(), 5_000);
        assert_eq!(d.stats.keyspace_hits + d.stats.keyspace_misses, 0);
        assert!(d.peek(b"k7").is_none());
        assert_eq!(
            d.get(b"k4999")
                .map(|e| e.value.as_str().map(|b| b.to_vec())),
            Some(Ok(
                format!("value-4999-{}", "x".repeat(4999 % 40)).into_bytes()
            ))
        );
        assert!(d.get(b"k5000").is_none());
    }

    /// The index costs at most 16 bytes per key at any size (8–16 between
    /// doublings), less than the SwissTable it replaced at its worst.
    #[test]
    fn index_bytes_per_key() {
        let mut d = db();
        for i in 0..200_000u32 {
            d.set(&i.to_le_bytes(), Value::Str(Blob::from("v")));
            if i > 1_000 && i % 997 == 0 {
                let per_key = d.index.heap_bytes() as f64 / f64::from(i + 1);
                assert!(per_key <= 16.5, "{per_key} bytes per key at {i}");
            }
        }
        for i in 0..200_000u32 {
            assert!(d.peek(&i.to_le_bytes()).is_some());
        }
    }

    #[test]
    fn slot_is_compact() {
        // Key + entry, nothing else: the per-key cost the layout is built on.
        assert_eq!(
            std::mem::size_of::<Slot>(),
            std::mem::size_of::<Blob>() + std::mem::size_of::<Entry>()
        );
        assert!(std::mem::size_of::<Entry>() <= std::mem::size_of::<Value>() + 8);
    }
}
