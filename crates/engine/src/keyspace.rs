//! Shards and the lock discipline.
//!
//! The keyspace is split into `N` shards; shard `i` owns the contiguous range
//! of hash slots `[i*16384/N, (i+1)*16384/N)` and, for those slots, all
//! databases. Each shard sits behind its own mutex, so commands on keys in
//! different shards run in parallel on different threads.
//!
//! Atomicity of multi-key work comes from locking: a command locks every
//! shard its keys map to, **in ascending shard order** (so two commands can
//! never deadlock), runs, and releases them. Commands that see the whole
//! keyspace (FLUSHALL, KEYS, SCAN, SWAPDB, DBSIZE, and later MULTI/EXEC and
//! Lua scripts that touch undeclared keys) lock every shard, again in order.
//! See `docs/architecture.md`.

use crate::db::Db;
use crate::slot::{key_slot, SLOTS};
use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// `maxmemory-policy` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictionPolicy {
    VolatileLru = 0,
    AllkeysLru = 1,
    VolatileLfu = 2,
    AllkeysLfu = 3,
    VolatileRandom = 4,
    AllkeysRandom = 5,
    VolatileTtl = 6,
    NoEviction = 7,
}

impl EvictionPolicy {
    pub const ALL: [EvictionPolicy; 8] = [
        EvictionPolicy::VolatileLru,
        EvictionPolicy::AllkeysLru,
        EvictionPolicy::VolatileLfu,
        EvictionPolicy::AllkeysLfu,
        EvictionPolicy::VolatileRandom,
        EvictionPolicy::AllkeysRandom,
        EvictionPolicy::VolatileTtl,
        EvictionPolicy::NoEviction,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EvictionPolicy::VolatileLru => "volatile-lru",
            EvictionPolicy::AllkeysLru => "allkeys-lru",
            EvictionPolicy::VolatileLfu => "volatile-lfu",
            EvictionPolicy::AllkeysLfu => "allkeys-lfu",
            EvictionPolicy::VolatileRandom => "volatile-random",
            EvictionPolicy::AllkeysRandom => "allkeys-random",
            EvictionPolicy::VolatileTtl => "volatile-ttl",
            EvictionPolicy::NoEviction => "noeviction",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(s))
    }

    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLfu | EvictionPolicy::AllkeysLfu
        )
    }

    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
        )
    }
}

/// Engine settings that CONFIG SET can change at run time. Atomics, so the
/// command layer can change them without locking shards.
#[derive(Debug)]
pub struct Tunables {
    pub maxmemory: AtomicU64,
    policy: AtomicU32,
    pub maxmemory_samples: AtomicU32,
    pub lfu_log_factor: AtomicU32,
    pub lfu_decay_time: AtomicU32,
    pub hash_max_listpack_entries: AtomicUsize,
    pub hash_max_listpack_value: AtomicUsize,
    pub set_max_intset_entries: AtomicUsize,
    pub zset_max_listpack_entries: AtomicUsize,
    pub zset_max_listpack_value: AtomicUsize,
    /// `list-max-listpack-size` (negative = size classes as in Redis).
    pub list_max_listpack_size: std::sync::atomic::AtomicI64,
    pub list_compress_depth: AtomicUsize,
    pub active_expire_effort: AtomicU32,
}

impl Default for Tunables {
    fn default() -> Self {
        Tunables {
            maxmemory: AtomicU64::new(0),
            policy: AtomicU32::new(EvictionPolicy::NoEviction as u32),
            maxmemory_samples: AtomicU32::new(5),
            lfu_log_factor: AtomicU32::new(10),
            lfu_decay_time: AtomicU32::new(1),
            hash_max_listpack_entries: AtomicUsize::new(128),
            hash_max_listpack_value: AtomicUsize::new(64),
            set_max_intset_entries: AtomicUsize::new(512),
            zset_max_listpack_entries: AtomicUsize::new(128),
            zset_max_listpack_value: AtomicUsize::new(64),
            list_max_listpack_size: std::sync::atomic::AtomicI64::new(-2),
            list_compress_depth: AtomicUsize::new(0),
            active_expire_effort: AtomicU32::new(1),
        }
    }
}

/// Seconds-resolution LRU clock, as Redis's `LRU_CLOCK()` (24+ bits).
pub fn lru_clock() -> u32 {
    ((crate::clock::now_ms() / 1000) as u32) & 0x7fff_ffff
}

/// Minutes clock for LFU decay (16 bits, as Redis's `LFUGetTimeInMinutes`).
fn lfu_minutes() -> u32 {
    ((crate::clock::now_ms() / 60_000) & 0xffff) as u32
}

/// Initial LFU counter for new keys (Redis `LFU_INIT_VAL`).
pub const LFU_INIT_VAL: u32 = 5;

impl Tunables {
    pub fn policy(&self) -> EvictionPolicy {
        let v = self.policy.load(Ordering::Relaxed) as usize;
        EvictionPolicy::ALL
            .get(v)
            .copied()
            .unwrap_or(EvictionPolicy::NoEviction)
    }

    pub fn set_policy(&self, p: EvictionPolicy) {
        self.policy.store(p as u32, Ordering::Relaxed);
    }

    pub fn get(&self, a: &AtomicUsize) -> usize {
        a.load(Ordering::Relaxed)
    }

    /// The new access field after a read or write of an entry whose access
    /// field was `old`: the LRU clock, or in LFU mode the decayed then
    /// logarithmically incremented counter (Redis `updateLFU`).
    pub fn access_update(&self, old: u32) -> u32 {
        if self.policy().is_lfu() {
            let now = lfu_minutes();
            let (ldt, mut counter) = if old == 0 {
                (now, LFU_INIT_VAL)
            } else {
                (old >> 8, old & 0xff)
            };
            // Decay.
            let decay = self.lfu_decay_time.load(Ordering::Relaxed);
            let elapsed = if now >= ldt {
                now - ldt
            } else {
                65535 - ldt + now
            };
            if let Some(periods) = elapsed.checked_div(decay) {
                counter = counter.saturating_sub(periods);
            }
            // Log increment.
            if counter < 255 {
                let r: f64 = rand::random();
                let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
                let p = 1.0 / (base * f64::from(self.lfu_log_factor.load(Ordering::Relaxed)) + 1.0);
                if r < p {
                    counter += 1;
                }
            }
            ((now & 0xffff) << 8) | counter
        } else {
            lru_clock()
        }
    }

    /// LFU counter after decay, without incrementing (OBJECT FREQ, eviction).
    pub fn lfu_counter(&self, access: u32) -> u32 {
        let now = lfu_minutes();
        let ldt = access >> 8;
        let counter = access & 0xff;
        let decay = self.lfu_decay_time.load(Ordering::Relaxed);
        if decay == 0 {
            return counter;
        }
        let elapsed = if now >= ldt {
            now - ldt
        } else {
            65535 - ldt + now
        };
        counter.saturating_sub(elapsed / decay)
    }

    /// Idle seconds of an entry in LRU mode (OBJECT IDLETIME).
    pub fn idle_seconds(&self, access: u32) -> u64 {
        let now = lru_clock();
        u64::from(now.saturating_sub(access))
    }
}

/// A shard: its share of every database.
#[derive(Debug)]
pub struct Shard {
    pub dbs: Vec<Db>,
}

/// All shards of one node.
#[derive(Debug)]
pub struct Keyspace {
    shards: Vec<Mutex<Shard>>,
    pub tunables: Arc<Tunables>,
    databases: usize,
}

impl Keyspace {
    pub fn new(nshards: usize, databases: usize, tunables: Arc<Tunables>) -> Self {
        let nshards = nshards.clamp(1, SLOTS);
        let shards = (0..nshards)
            .map(|_| {
                Mutex::new(Shard {
                    dbs: (0..databases).map(|_| Db::new(tunables.clone())).collect(),
                })
            })
            .collect();
        Keyspace {
            shards,
            tunables,
            databases,
        }
    }

    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    pub fn databases(&self) -> usize {
        self.databases
    }

    /// The shard owning `key`.
    pub fn shard_of(&self, key: &[u8]) -> usize {
        if self.shards.len() == 1 {
            0
        } else {
            key_slot(key) * self.shards.len() / SLOTS
        }
    }

    /// Lock the shards owning `keys` (ascending order), fixing the command
    /// clock at `now` (Unix ms).
    pub fn lock_keys<'a, I>(&'a self, keys: I, now: u64) -> Locked<'a>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut ids: SmallVec<[usize; 4]> = SmallVec::new();
        for k in keys {
            let s = self.shard_of(k);
            if !ids.contains(&s) {
                ids.push(s);
            }
        }
        ids.sort_unstable();
        self.lock_ids(&ids, now)
    }

    /// Lock the given shard ids (must be sorted, unique).
    pub fn lock_ids(&self, ids: &[usize], now: u64) -> Locked<'_> {
        let guards = ids
            .iter()
            .filter_map(|&i| self.shards.get(i).map(|m| (i, m.lock())))
            .collect();
        Locked {
            ks: self,
            guards,
            now,
        }
    }

    /// Lock every shard, in order.
    pub fn lock_all(&self, now: u64) -> Locked<'_> {
        let guards = self
            .shards
            .iter()
            .enumerate()
            .map(|(i, m)| (i, m.lock()))
            .collect();
        Locked {
            ks: self,
            guards,
            now,
        }
    }

    /// Lock nothing (commands without keys).
    pub fn lock_none(&self, now: u64) -> Locked<'_> {
        Locked {
            ks: self,
            guards: SmallVec::new(),
            now,
        }
    }

    /// Lock one shard by index.
    pub fn lock_shard(&self, i: usize) -> Option<MutexGuard<'_, Shard>> {
        self.shards.get(i).map(|m| m.lock())
    }
}

/// The shards a command holds while it runs.
pub struct Locked<'a> {
    ks: &'a Keyspace,
    guards: SmallVec<[(usize, MutexGuard<'a, Shard>); 2]>,
    now: u64,
}

impl<'a> Locked<'a> {
    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn keyspace(&self) -> &'a Keyspace {
        self.ks
    }

    /// True when every shard is held.
    pub fn holds_all(&self) -> bool {
        self.guards.len() == self.ks.shards.len()
    }

    /// The database `db` of the shard owning `key`.
    ///
    /// The dispatcher locks every shard the command's key specification
    /// names. Should a handler touch a key outside it (a bug in a key spec),
    /// the shard is locked here rather than panicking; this can only wait,
    /// never corrupt data.
    pub fn db(&mut self, db: usize, key: &[u8]) -> &mut Db {
        let s = self.ks.shard_of(key);
        self.shard_db(s, db)
    }

    /// The database `db` of shard `s`.
    pub fn shard_db(&mut self, s: usize, db: usize) -> &mut Db {
        let idx = match self.guards.iter().position(|(i, _)| *i == s) {
            Some(p) => p,
            None => {
                let guard = self.ks.shards[s.min(self.ks.shards.len() - 1)].lock();
                self.guards.push((s, guard));
                self.guards.len() - 1
            }
        };
        let now = self.now;
        let shard = &mut self.guards[idx].1;
        let n = shard.dbs.len();
        let d = &mut shard.dbs[db.min(n - 1)];
        d.now = now;
        d
    }

    /// Every held shard's database `db`, in shard order.
    pub fn each_db(&mut self, db: usize) -> impl Iterator<Item = &mut Db> + use<'_, 'a> {
        let now = self.now;
        self.guards.iter_mut().filter_map(move |(_, g)| {
            let d = g.dbs.get_mut(db)?;
            d.now = now;
            Some(d)
        })
    }

    /// Every held shard, in order.
    pub fn shards(&mut self) -> impl Iterator<Item = (usize, &mut Shard)> + use<'_, 'a> {
        self.guards.iter_mut().map(|(i, g)| (*i, &mut **g))
    }
}
