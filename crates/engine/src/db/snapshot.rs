//! Point-in-time snapshots of a database without `fork`.
//!
//! # Why
//!
//! A forked BGSAVE stops the parent while the kernel copies its page
//! tables (milliseconds per GB) and then makes every write to a page not
//! yet copied pay a page fault and a 4 KiB copy, in bursts right after the
//! fork: on a busy node the tail latency of ordinary commands jumps by an
//! order of magnitude for the whole save. An incremental snapshot keeps the
//! cost proportional to what is really written, one key at a time, and
//! lets the serving threads run undisturbed otherwise.
//!
//! # How
//!
//! [`Db::snapshot_begin`] is called for every database of every shard
//! while all shards are locked, so the image is of one instant across the
//! node. From then on each database carries a [`SnapState`]:
//!
//! - a bit per slot position that existed at the start, set once the key
//!   in that position has been *handled*: copied into the snapshot, or
//!   known not to belong to it (a key created after the start);
//! - a cursor that the snapshot thread moves from the highest position
//!   down to 0 ([`Db::snapshot_step`]), copying each unhandled key in a
//!   short critical section and serialising the copies outside the lock;
//! - a list of *captured* keys: before any change to an unhandled key
//!   (overwrite, in-place update through [`Db::get_mut`], TTL change,
//!   delete, expiry, eviction, FLUSHDB) the engine copies it there first
//!   and marks it handled, so the snapshot sees its value from the start.
//!
//! Keys created after the start are marked handled as they are inserted.
//! Deletions are swap-removes, so the last slot moves into the hole; its
//! bit moves with it. Because the cursor runs downwards and only the last
//! slot ever moves (down), a key that has not been visited never moves
//! above the cursor (the same argument that makes SCAN's guarantee hold),
//! and every key that existed at the start is either visited once or
//! captured once, never both, never neither.
//!
//! The state lives in the [`Db`], so SWAPDB carries it along (it records
//! the database number the data had at the start), and the hot path pays
//! one `is_some` test per write while no snapshot runs.

use super::{Db, Entry};
use crate::blob::Blob;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Bytes of keys copied aside for snapshots and not written yet, over
/// the whole process, and the peak since [`reset_pending_peak`]: what a
/// forked save reports as copy-on-write memory (INFO
/// `current_cow_size`/`current_cow_peak`). One node per process.
static PENDING: AtomicUsize = AtomicUsize::new(0);
static PENDING_PEAK: AtomicUsize = AtomicUsize::new(0);

/// Bytes of keys copied aside and not yet written by the snapshot thread.
pub fn pending_bytes() -> usize {
    PENDING.load(Ordering::Relaxed)
}

/// Peak of [`pending_bytes`] since the last reset.
pub fn pending_peak() -> usize {
    PENDING_PEAK.load(Ordering::Relaxed)
}

/// Start a new peak (at the start of a save).
pub fn reset_pending_peak() {
    PENDING_PEAK.store(PENDING.load(Ordering::Relaxed), Ordering::Relaxed);
}

fn pending_add(b: usize) {
    let now = PENDING.fetch_add(b, Ordering::Relaxed) + b;
    PENDING_PEAK.fetch_max(now, Ordering::Relaxed);
}

fn pending_sub(b: usize) {
    // Never below zero, even if figures were reset in between.
    let _ = PENDING.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(b))
    });
}

/// Keys handed to the snapshot thread by [`Db::snapshot_step`]. Those that
/// writers captured stay counted in [`pending_bytes`] (so not against
/// `maxmemory`) until the thread has written them: [`Drained::release`]
/// after writing, or drop on any early return. (Subtracting them at the
/// hand-over let a thread that was starved and then handed many MB at
/// once push `used_memory` over the limit while it wrote them.)
#[derive(Default)]
pub struct Drained {
    pub keys: Vec<Captured>,
    /// Pending bytes of the captured keys in `keys`.
    bytes: usize,
}

impl Drained {
    /// The keys were written (and are dropped now): stop counting them.
    pub fn release(&mut self) {
        self.keys.clear();
        pending_sub(std::mem::take(&mut self.bytes));
    }
}

impl Drop for Drained {
    fn drop(&mut self) {
        pending_sub(self.bytes);
    }
}

/// A key as it was when the snapshot started.
#[derive(Debug, Clone)]
pub struct Captured {
    pub key: Blob,
    pub entry: Entry,
    /// Absolute expiry (Unix ms), if the key had a TTL.
    pub expire_at: Option<u64>,
}

/// Figures of a database's running snapshot (see [`Db::snapshot_info`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapInfo {
    pub id: u64,
    /// The database number this data had when the snapshot started.
    pub db_index: usize,
    /// Keys and keys with a TTL at the start (RDB's RESIZEDB hint).
    pub keys: usize,
    pub expires: usize,
}

/// What a captured key costs: its slot in the list, key and value.
fn captured_size(key: &Blob, entry: &Entry) -> usize {
    std::mem::size_of::<Captured>() + key.heap_size() + entry.value.mem_usage()
}

/// Per-database state of a running snapshot (see the module docs).
#[derive(Debug)]
pub(super) struct SnapState {
    info: SnapInfo,
    /// Bit `i` set: the key in slot position `i` is handled. Positions at
    /// or beyond `done.len() * 64` did not exist at the start: handled.
    done: Vec<u64>,
    /// Positions `>= cursor` have been visited.
    cursor: usize,
    captured: Vec<Captured>,
    /// Approximate bytes held by `captured` (INFO's copy-on-write size).
    captured_bytes: usize,
}

impl SnapState {
    fn is_done(&self, i: usize) -> bool {
        match self.done.get(i / 64) {
            Some(w) => w & (1 << (i % 64)) != 0,
            None => true,
        }
    }

    fn set_done(&mut self, i: usize, v: bool) {
        if let Some(w) = self.done.get_mut(i / 64) {
            if v {
                *w |= 1 << (i % 64);
            } else {
                *w &= !(1 << (i % 64));
            }
        }
    }
}

/// What [`Db::snapshot_step`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// More to come: call again.
    More,
    /// This database is complete; its snapshot state is gone.
    Done,
}

impl Db {
    /// Start a snapshot of this database (the caller holds every shard, so
    /// all databases start at the same instant). A database that is empty
    /// gets no state: there is nothing of it to save.
    pub fn snapshot_begin(&mut self, id: u64, db_index: usize) {
        let n = self.slab.len;
        if n == 0 {
            self.snap = None;
            return;
        }
        self.snap = Some(Box::new(SnapState {
            info: SnapInfo {
                id,
                db_index,
                keys: n,
                expires: self.exp_at.len(),
            },
            done: vec![0; n.div_ceil(64)],
            cursor: n,
            captured: Vec::new(),
            captured_bytes: 0,
        }));
    }

    /// The running snapshot of this database, if any.
    pub fn snapshot_info(&self) -> Option<SnapInfo> {
        self.snap.as_ref().map(|s| s.info)
    }

    /// Bytes of keys copied aside for the running snapshot, waiting to be
    /// written (what a forked save would have copied on write).
    pub fn snapshot_pending_bytes(&self) -> usize {
        self.snap.as_ref().map_or(0, |s| s.captured_bytes)
    }

    /// Drop the snapshot state of snapshot `id` (abort, or cleanup).
    pub fn snapshot_end(&mut self, id: u64) {
        if self.snap.as_ref().is_some_and(|s| s.info.id == id) {
            if let Some(st) = self.snap.take() {
                pending_sub(st.captured_bytes);
            }
        }
    }

    /// One step of the snapshot thread: move the keys captured so far into
    /// `out`, then copy up to `max_keys` unvisited keys (fewer once about
    /// `max_bytes` of values were copied). When every key is handled the
    /// state is dropped (under the same lock, so nothing can be captured
    /// after the last drain) and [`Step::Done`] is returned.
    pub fn snapshot_step(
        &mut self,
        id: u64,
        max_keys: usize,
        max_bytes: usize,
        out: &mut Drained,
    ) -> Step {
        let Some(mut st) = self.snap.take() else {
            return Step::Done;
        };
        if st.info.id != id {
            self.snap = Some(st);
            return Step::Done;
        }
        out.keys.append(&mut st.captured);
        out.bytes += std::mem::take(&mut st.captured_bytes);
        let (mut keys, mut bytes) = (0usize, 0usize);
        while st.cursor > 0 && keys < max_keys && bytes < max_bytes {
            st.cursor -= 1;
            let i = st.cursor;
            if st.is_done(i) {
                continue;
            }
            st.set_done(i, true);
            if let Some(c) = self.capture_at(i) {
                keys += 1;
                bytes += captured_size(&c.key, &c.entry);
                out.keys.push(c);
            }
        }
        if st.cursor == 0 {
            return Step::Done;
        }
        self.snap = Some(st);
        Step::More
    }

    /// A copy of the key in slot `i` with its expiry.
    fn capture_at(&self, i: usize) -> Option<Captured> {
        let s = self.slab.get(i)?;
        Some(Captured {
            key: s.key.clone(),
            entry: s.entry.clone(),
            expire_at: self.ttl_of(&s.entry),
        })
    }

    /// Before slot `i` changes: copy it aside if the running snapshot has
    /// not handled it yet. One test when no snapshot runs.
    #[inline]
    pub(super) fn snap_before_write(&mut self, i: usize) {
        if self.snap.is_some() {
            self.snap_capture(i);
        }
    }

    #[cold]
    fn snap_capture(&mut self, i: usize) {
        let handled = self.snap.as_ref().is_none_or(|s| s.is_done(i));
        if handled {
            return;
        }
        let c = self.capture_at(i);
        if let Some(st) = self.snap.as_mut() {
            st.set_done(i, true);
            if let Some(c) = c {
                let b = captured_size(&c.key, &c.entry);
                st.captured_bytes += b;
                pending_add(b);
                st.captured.push(c);
            }
        }
    }

    /// A key created after the start now lives in slot `i`.
    #[inline]
    pub(super) fn snap_new(&mut self, i: usize) {
        if let Some(st) = self.snap.as_mut() {
            st.set_done(i, true);
        }
    }

    /// The slot at position `from` (the last one) moved to `to`.
    #[inline]
    pub(super) fn snap_moved(&mut self, from: usize, to: usize) {
        if let Some(st) = self.snap.as_mut() {
            let d = st.is_done(from);
            st.set_done(to, d);
        }
    }

    /// Before every key goes (FLUSHDB, FLUSHALL): move the unhandled keys
    /// into the captured list instead of copying them, since they are
    /// dropped anyway. Leaves the slab empty; afterwards every position
    /// counts as new.
    pub(super) fn snap_before_clear(&mut self) {
        let Some(mut st) = self.snap.take() else {
            return;
        };
        let slab = std::mem::take(&mut self.slab);
        for (i, s) in slab.chunks.into_iter().flatten().enumerate() {
            if st.is_done(i) {
                continue;
            }
            let expire_at = if s.entry.has_ttl() {
                self.exp_at.get(s.entry.pos()).copied()
            } else {
                None
            };
            let b = captured_size(&s.key, &s.entry);
            st.captured_bytes += b;
            pending_add(b);
            st.captured.push(Captured {
                key: s.key,
                entry: s.entry,
                expire_at,
            });
        }
        st.done = Vec::new();
        st.cursor = 0;
        self.snap = Some(st);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Tunables;
    use crate::value::Value;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeMap;
    use std::sync::Arc;

    type Image = BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>;

    fn image(d: &Db) -> Image {
        d.iter_with_expiry()
            .map(|(k, e, at)| (k.to_vec(), (value_bytes(&e.value), at)))
            .collect()
    }

    fn value_bytes(v: &Value) -> Vec<u8> {
        match v {
            Value::Str(b) => b.to_vec(),
            _ => Vec::new(),
        }
    }

    fn collect(out: &[Captured]) -> Image {
        let mut m = Image::new();
        for c in out {
            let prev = m.insert(c.key.to_vec(), (value_bytes(&c.entry.value), c.expire_at));
            assert!(prev.is_none(), "key {:?} written twice", c.key);
        }
        m
    }

    /// Random writes of every kind interleaved with snapshot steps: the
    /// snapshot must equal the database at `snapshot_begin`, each key
    /// exactly once, whatever happened in between.
    #[test]
    fn snapshot_is_the_image_at_begin() {
        for seed in 0..40u64 {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let mut d = Db::new(Arc::new(Tunables::default()));
            d.now = 1_000;
            let nkeys = rng.gen_range(1..400);
            let key = |n: u32| format!("k{n}").into_bytes();
            for n in 0..nkeys {
                d.set(&key(n), Value::Str(Blob::new(format!("v{n}").as_bytes())));
                if n % 3 == 0 {
                    d.set_expire(&key(n), 5_000 + u64::from(n));
                }
            }
            let before = image(&d);
            d.snapshot_begin(7, 3);
            assert_eq!(
                d.snapshot_info().map(|i| (i.db_index, i.keys)),
                Some((3, before.len()))
            );
            let mut out = Drained::default();
            let mut done = false;
            let mut round = 0u32;
            while !done {
                for _ in 0..rng.gen_range(0..20) {
                    let k = key(rng.gen_range(0..nkeys * 2));
                    let v = Value::Str(Blob::new(format!("w{round}").as_bytes()));
                    match rng.gen_range(0..100) {
                        0..=24 => {
                            d.set(&k, v);
                        }
                        25..=44 => {
                            d.remove(&k);
                        }
                        45..=54 => {
                            if let Some(e) = d.get_mut(&k) {
                                e.value = v;
                            }
                        }
                        55..=64 => {
                            d.set_expire(&k, 9_000);
                        }
                        65..=69 => {
                            d.persist(&k);
                        }
                        70..=74 => {
                            d.set_keep_ttl(&k, v);
                        }
                        75..=79 => {
                            // Expire a key for real (lazy expiry path).
                            d.set_expire(&k, 500);
                            d.expire_if_needed(&k);
                        }
                        80..=80 => d.clear(),
                        _ => {
                            d.get(&k);
                        }
                    }
                }
                round += 1;
                let step = d.snapshot_step(7, rng.gen_range(1..16), 1 << 20, &mut out);
                done = step == Step::Done;
            }
            assert!(d.snapshot_info().is_none());
            assert_eq!(collect(&out.keys), before, "seed {seed}");
        }
    }

    #[test]
    fn other_snapshot_ids_and_empty_dbs_are_left_alone() {
        let mut d = Db::new(Arc::new(Tunables::default()));
        d.snapshot_begin(1, 0);
        assert!(
            d.snapshot_info().is_none(),
            "an empty database needs no state"
        );
        d.set(b"a", Value::Str(Blob::new(b"1")));
        d.snapshot_begin(2, 0);
        let mut out = Drained::default();
        assert_eq!(d.snapshot_step(9, 10, 1 << 20, &mut out), Step::Done);
        assert!(out.keys.is_empty());
        assert!(d.snapshot_info().is_some());
        d.snapshot_end(9);
        assert!(d.snapshot_info().is_some());
        d.snapshot_end(2);
        assert!(d.snapshot_info().is_none());
        // Without a snapshot, writes capture nothing.
        d.set(b"a", Value::Str(Blob::new(b"2")));
        assert_eq!(d.snapshot_pending_bytes(), 0);
    }

    #[test]
    fn handed_over_copies_stay_pending_until_written() {
        let mut d = Db::new(Arc::new(Tunables::default()));
        let big = vec![b'x'; 1 << 20];
        d.set(b"k", Value::Str(Blob::new(&big)));
        d.snapshot_begin(3, 0);
        // Overwritten before the snapshot thread reached it: copied aside.
        d.set(b"k", Value::Str(Blob::new(b"new")));
        let held = d.snapshot_pending_bytes();
        assert!(held > 1 << 20);
        let mut out = Drained::default();
        assert_eq!(d.snapshot_step(3, 10, 1 << 20, &mut out), Step::Done);
        assert_eq!(out.keys.len(), 1);
        // (The counter is process-wide: other tests only add their own.)
        assert!(
            pending_bytes() >= held,
            "copies handed to the snapshot thread still count as pending"
        );
        out.release();
        assert!(out.keys.is_empty());
    }
}
