//! One logical database (`SELECT n`) inside one shard.
//!
//! Keys live in an insertion-ordered hash map (`IndexMap`): O(1) lookup, O(1)
//! uniform random sampling (RANDOMKEY, eviction, active expiry) and a dense
//! index space that makes SCAN cursors stable. Deletions use `swap_remove`,
//! which only ever moves the *last* entry down into the hole; SCAN walks
//! indices from high to low, so an entry present for the whole scan can only
//! move from an unvisited index to another unvisited one, never past the
//! cursor: every such key is returned, the guarantee Redis documents.
//!
//! Expiry times live in a second map (`expires`), as in Redis: most keys have
//! no TTL, so entries stay small, and active expiry samples only keys that
//! have one. An entry carries a flag saying whether it is in `expires`, so a
//! read of a key without TTL costs one lookup.
//!
//! Every read goes through [`Db::get`]/[`Db::get_mut`], which expire lazily:
//! a command never sees an expired key.

use crate::blob::Blob;
use crate::keyspace::Tunables;
use crate::value::Value;
use indexmap::IndexMap;
use rand::Rng;
use std::sync::Arc;

type Hasher = ahash::RandomState;

const TTL_FLAG: u32 = 1 << 31;
const ACCESS_MASK: u32 = !TTL_FLAG;

/// A value with its bookkeeping.
#[derive(Debug, Clone)]
pub struct Entry {
    pub value: Value,
    /// Bit 31: the key has a TTL in `expires`. Bits 0..31: the LRU clock of
    /// the last access (seconds), or in LFU mode `(minutes << 8) | counter`.
    meta: u32,
}

impl Entry {
    pub fn new(value: Value) -> Self {
        Entry { value, meta: 0 }
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
}

/// Counters a database keeps for INFO.
#[derive(Debug, Default, Clone, Copy)]
pub struct DbStats {
    pub expired_keys: u64,
    pub evicted_keys: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
}

/// One database's share of one shard.
#[derive(Debug)]
pub struct Db {
    map: IndexMap<Blob, Entry, Hasher>,
    expires: IndexMap<Blob, u64, Hasher>,
    /// Time snapshot (Unix ms) of the command being executed: Redis fixes the
    /// clock for a whole command (and a whole script / transaction) so that a
    /// key cannot expire half-way through.
    pub now: u64,
    pub stats: DbStats,
    pub tunables: Arc<Tunables>,
    /// Keys written since the last poll, for WATCH / client tracking hooks.
    pub dirty: u64,
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
            map: IndexMap::with_hasher(Hasher::new()),
            expires: IndexMap::with_hasher(Hasher::new()),
            now: crate::clock::now_ms(),
            stats: DbStats::default(),
            tunables,
            dirty: 0,
        }
    }

    /// Number of keys, including expired ones not yet reclaimed (as Redis's
    /// DBSIZE).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of keys with a TTL.
    pub fn expires_len(&self) -> usize {
        self.expires.len()
    }

    fn is_expired_at(&self, key: &[u8]) -> bool {
        match self.expires.get(key) {
            Some(&at) => at <= self.now,
            None => false,
        }
    }

    /// Remove `key` if it has expired. Returns true if it was removed.
    pub fn expire_if_needed(&mut self, key: &[u8]) -> bool {
        let has_ttl = match self.map.get(key) {
            Some(e) => e.has_ttl(),
            None => return false,
        };
        if has_ttl && self.is_expired_at(key) {
            self.remove(key);
            self.stats.expired_keys += 1;
            true
        } else {
            false
        }
    }

    fn touch_entry(tunables: &Tunables, e: &mut Entry) {
        let a = tunables.access_update(e.access());
        e.set_access(a);
    }

    /// Look a key up for reading, expiring it lazily and updating its access
    /// time. Counts keyspace hits/misses.
    pub fn get(&mut self, key: &[u8]) -> Option<&Entry> {
        let e = self.lookup(key);
        e.map(|e| &*e)
    }

    /// Look a key up for writing (lazy expiry, access update, no hit/miss
    /// counting, as Redis's `lookupKeyWrite`).
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.expire_if_needed(key);
        let t = &self.tunables;
        match self.map.get_mut(key) {
            Some(e) => {
                Self::touch_entry(t, e);
                Some(e)
            }
            None => None,
        }
    }

    fn lookup(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.expire_if_needed(key);
        let t = &self.tunables;
        match self.map.get_mut(key) {
            Some(e) => {
                Self::touch_entry(t, e);
                self.stats.keyspace_hits += 1;
                Some(e)
            }
            None => {
                self.stats.keyspace_misses += 1;
                None
            }
        }
    }

    /// Read without touching access time or stats (TYPE-like internals,
    /// OBJECT IDLETIME). Expired keys are reported as missing but not removed.
    pub fn peek(&self, key: &[u8]) -> Option<&Entry> {
        if self.is_expired_at(key) {
            return None;
        }
        self.map.get(key)
    }

    /// Does the key exist (after lazy expiry)?
    pub fn contains(&mut self, key: &[u8]) -> bool {
        self.expire_if_needed(key);
        self.map.contains_key(key)
    }

    /// Store `value` under `key`, replacing any old value and clearing its TTL
    /// (SET semantics). Returns the old entry.
    pub fn set(&mut self, key: &[u8], value: Value) -> Option<Entry> {
        self.dirty += 1;
        let mut e = Entry::new(value);
        Self::touch_entry(&self.tunables, &mut e);
        match self.map.get_mut(key) {
            Some(slot) => {
                let old = std::mem::replace(slot, e);
                if old.has_ttl() {
                    self.expires.swap_remove(key);
                }
                Some(old)
            }
            None => {
                self.map.insert(Blob::new(key), e);
                None
            }
        }
    }

    /// Store `value`, keeping the key's TTL if it has one (KEEPTTL, SETRANGE…).
    pub fn set_keep_ttl(&mut self, key: &[u8], value: Value) {
        self.dirty += 1;
        self.expire_if_needed(key);
        match self.map.get_mut(key) {
            Some(e) => e.value = value,
            None => {
                let mut e = Entry::new(value);
                Self::touch_entry(&self.tunables, &mut e);
                self.map.insert(Blob::new(key), e);
            }
        }
    }

    /// Insert an entry moved from elsewhere (RENAME, MOVE, COPY) with an
    /// optional absolute expiry in ms.
    pub fn insert_entry(&mut self, key: &[u8], mut entry: Entry, expire_at: Option<u64>) {
        self.dirty += 1;
        self.remove(key);
        entry.meta &= ACCESS_MASK;
        self.map.insert(Blob::new(key), entry);
        if let Some(at) = expire_at {
            self.set_expire(key, at);
        }
    }

    /// Remove a key. Returns its entry if it existed (expired or not).
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let e = self.map.swap_remove(key)?;
        self.dirty += 1;
        if e.has_ttl() {
            self.expires.swap_remove(key);
        }
        Some(e)
    }

    /// Set an absolute expiry (Unix ms) on an existing key. Returns false if
    /// the key does not exist.
    pub fn set_expire(&mut self, key: &[u8], at_ms: u64) -> bool {
        match self.map.get_mut(key) {
            Some(e) => {
                e.meta |= TTL_FLAG;
                match self.expires.get_mut(key) {
                    Some(v) => *v = at_ms,
                    None => {
                        self.expires.insert(Blob::new(key), at_ms);
                    }
                }
                self.dirty += 1;
                true
            }
            None => false,
        }
    }

    /// Remove the TTL of a key. Returns true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        match self.map.get_mut(key) {
            Some(e) if e.has_ttl() => {
                e.meta &= ACCESS_MASK;
                self.expires.swap_remove(key);
                self.dirty += 1;
                true
            }
            _ => false,
        }
    }

    /// Absolute expiry (Unix ms) of a key, if it has one.
    pub fn expire_at(&self, key: &[u8]) -> Option<u64> {
        self.expires.get(key).copied()
    }

    /// Remove every key.
    pub fn clear(&mut self) {
        self.map = IndexMap::with_hasher(Hasher::new());
        self.expires = IndexMap::with_hasher(Hasher::new());
        self.dirty += 1;
    }

    /// Iterate over all (possibly expired) keys and entries.
    pub fn iter(&self) -> impl Iterator<Item = (&Blob, &Entry)> {
        self.map.iter()
    }

    /// Keys with their absolute expiry, for snapshots.
    pub fn iter_with_expiry(&self) -> impl Iterator<Item = (&Blob, &Entry, Option<u64>)> {
        self.map.iter().map(move |(k, e)| {
            let at = if e.has_ttl() {
                self.expires.get(k.as_slice()).copied()
            } else {
                None
            };
            (k, e, at)
        })
    }

    /// A uniformly random live key.
    pub fn random_key(&mut self, rng: &mut impl Rng) -> Option<Blob> {
        // Like Redis, retry a bounded number of times when hitting expired
        // keys (which are deleted on the way).
        for _ in 0..100 {
            if self.map.is_empty() {
                return None;
            }
            let i = rng.gen_range(0..self.map.len());
            let key = match self.map.get_index(i) {
                Some((k, _)) => k.clone(),
                None => return None,
            };
            if !self.expire_if_needed(&key) {
                return Some(key);
            }
        }
        None
    }

    /// A random sample of up to `n` entries (may repeat), for eviction.
    pub fn sample(
        &self,
        n: usize,
        volatile_only: bool,
        rng: &mut impl Rng,
    ) -> Vec<(Blob, u32, u64)> {
        let mut out = Vec::with_capacity(n);
        if volatile_only {
            if self.expires.is_empty() {
                return out;
            }
            for _ in 0..n {
                let i = rng.gen_range(0..self.expires.len());
                if let Some((k, &at)) = self.expires.get_index(i) {
                    let access = self.map.get(k.as_slice()).map(|e| e.access()).unwrap_or(0);
                    out.push((k.clone(), access, at));
                }
            }
        } else {
            if self.map.is_empty() {
                return out;
            }
            for _ in 0..n {
                let i = rng.gen_range(0..self.map.len());
                if let Some((k, e)) = self.map.get_index(i) {
                    let at = if e.has_ttl() {
                        self.expires.get(k.as_slice()).copied().unwrap_or(0)
                    } else {
                        0
                    };
                    out.push((k.clone(), e.access(), at));
                }
            }
        }
        out
    }

    /// One step of active expiry: sample up to `samples` keys with a TTL and
    /// delete the expired ones. Returns (sampled, expired).
    pub fn active_expire_step(&mut self, samples: usize, rng: &mut impl Rng) -> (usize, usize) {
        let mut sampled = 0;
        let mut expired = 0;
        for _ in 0..samples {
            if self.expires.is_empty() {
                break;
            }
            let i = rng.gen_range(0..self.expires.len());
            let (key, at) = match self.expires.get_index(i) {
                Some((k, &at)) => (k.clone(), at),
                None => break,
            };
            sampled += 1;
            if at <= self.now {
                self.remove(&key);
                self.stats.expired_keys += 1;
                expired += 1;
            }
        }
        (sampled, expired)
    }

    /// SCAN support: visit entries from index `cursor - 1` downwards (cursor 0
    /// starts at the top). Calls `f` for each live key; stops after `count`
    /// visited entries. Returns the next cursor (0 = done).
    pub fn scan(&mut self, cursor: usize, count: usize, mut f: impl FnMut(&Blob, &Entry)) -> usize {
        let len = self.map.len();
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
            if let Some((k, e)) = self.map.get_index(pos) {
                if e.has_ttl()
                    && self
                        .expires
                        .get(k.as_slice())
                        .is_some_and(|&at| at <= self.now)
                {
                    expired.push(k.clone());
                } else {
                    f(k, e);
                }
            }
        }
        for k in expired {
            self.remove(&k);
            self.stats.expired_keys += 1;
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
