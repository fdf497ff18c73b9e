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
use rand::Rng;
use smallvec::SmallVec;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// `maxmemory-eviction-tenacity` (0..=100): how long one command may
    /// spend evicting (see `ferrocache_redis::evict`).
    pub maxmemory_eviction_tenacity: AtomicU32,
    /// Which `db::KeyEvent` kinds to record in `Db::key_events` (bit =
    /// the kind's discriminant): set while keyspace notifications or client
    /// tracking need them, 0 otherwise.
    pub key_events: AtomicU32,
    /// Entries recorded in any `Db::key_events` and not yet drained: the
    /// command layer checks only this.
    pub key_events_pending: AtomicUsize,
    /// Order of recorded events across shards (a multi-key command's
    /// events come out in the order they happened, as in Redis).
    pub key_events_seq: AtomicU64,
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
            maxmemory_eviction_tenacity: AtomicU32::new(10),
            key_events: AtomicU32::new(0),
            key_events_pending: AtomicUsize::new(0),
            key_events_seq: AtomicU64::new(0),
        }
    }
}

/// Seconds-resolution LRU clock, as Redis's `LRU_CLOCK()` (INFO `lru_clock`).
pub fn lru_clock() -> u32 {
    ((crate::clock::now_ms() / 1000) as u32) & 0x7fff_ffff
}

/// Resolution of the access time stored in entries (LRU mode), in ms.
///
/// Redis stores seconds. With `maxmemory` a few tens of MB and a write rate
/// of tens of MB/s, the whole resident set is younger than a couple of
/// seconds, so second resolution makes every candidate tie and LRU degrades
/// into random eviction. 10 ms ticks in the 31 bits available wrap after
/// 248 days (Redis's 24-bit seconds clock: 194 days), and idle times are
/// computed across one wrap, as Redis does.
pub const LRU_TICK_MS: u64 = 10;
const LRU_TICK_MASK: u32 = 0x7fff_ffff;

/// The LRU clock in [`LRU_TICK_MS`] ticks at Unix time `now_ms`.
pub fn lru_ticks_at(now_ms: u64) -> u32 {
    ((now_ms / LRU_TICK_MS) as u32) & LRU_TICK_MASK
}

/// Minutes clock for LFU decay (16 bits, as Redis's `LFUGetTimeInMinutes`).
fn lfu_minutes_at(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xffff) as u32
}

fn lfu_minutes() -> u32 {
    lfu_minutes_at(crate::clock::now_ms())
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
        self.access_update_at(old, crate::clock::now_ms())
    }

    /// [`Self::access_update`] at Unix time `now_ms` (the command's clock,
    /// which saves reading the system clock on every key access). An `old`
    /// of 0 means a new key: it starts at `LFU_INIT_VAL` without an
    /// increment, as a freshly created Redis object does.
    pub fn access_update_at(&self, old: u32, now_ms: u64) -> u32 {
        if self.policy().is_lfu() {
            let now = lfu_minutes_at(now_ms);
            if old == 0 {
                return ((now & 0xffff) << 8) | LFU_INIT_VAL;
            }
            let (ldt, mut counter) = ((old >> 8) & 0xffff, old & 0xff);
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
            lru_ticks_at(now_ms)
        }
    }

    /// LFU counter after decay, without incrementing (OBJECT FREQ, eviction).
    pub fn lfu_counter(&self, access: u32) -> u32 {
        let now = lfu_minutes();
        let ldt = (access >> 8) & 0xffff;
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
        self.idle_ms(access) / 1000
    }

    /// Idle time of an entry in LRU mode, in ms ([`LRU_TICK_MS`]
    /// resolution), across one wrap of the tick clock (Redis
    /// `estimateObjectIdleTime`).
    pub fn idle_ms(&self, access: u32) -> u64 {
        let now = lru_ticks_at(crate::clock::now_ms());
        let a = access & LRU_TICK_MASK;
        let ticks = if now >= a {
            now - a
        } else {
            (LRU_TICK_MASK - a) + now + 1
        };
        u64::from(ticks) * LRU_TICK_MS
    }
}

/// A shard: its share of every database.
#[derive(Debug)]
pub struct Shard {
    pub dbs: Vec<Db>,
}

/// Most keys [`Keyspace::prefetch`] looks at in one call (one batch's
/// worth of outstanding cache misses).
pub const PREFETCH_BATCH: usize = 32;

/// All shards of one node.
#[derive(Debug)]
pub struct Keyspace {
    shards: Vec<Mutex<Shard>>,
    pub tunables: Arc<Tunables>,
    databases: usize,
    /// Active expiry figures for INFO stats.
    pub expire_stats: ExpireStats,
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
            expire_stats: ExpireStats::default(),
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
    pub fn lock_keys<'k, I>(&self, keys: I, now: u64) -> Locked<'_>
    where
        I: IntoIterator<Item = &'k [u8]>,
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

    /// Before the keys of a batch (a pipeline of GETs) are read one by
    /// one, start loading what their lookups in database `db` touch (index
    /// group, candidate slots, value) so the batch's cache misses overlap
    /// instead of queueing ([`Db::prefetch_index`] and the next stages).
    /// Only a hint: it reads nothing a command depends on and changes
    /// nothing. A shard that is busy (another worker, or a script holding
    /// every shard) is skipped rather than waited for: prefetching must
    /// never block, let alone deadlock, the caller.
    pub fn prefetch(&self, db: usize, keys: &[&[u8]]) {
        const BATCH: usize = PREFETCH_BATCH;
        let keys = &keys[..keys.len().min(BATCH)];
        if keys.len() < 2 {
            return;
        }
        let mut shard = [usize::MAX; BATCH];
        let mut hashes = [0u64; BATCH];
        for (s, k) in shard.iter_mut().zip(keys) {
            *s = self.shard_of(k);
        }
        let mut next = 0usize;
        while let Some(&cur) = shard.get(next) {
            if cur == usize::MAX {
                break;
            }
            if let Some(g) = self.shards.get(cur).and_then(|m| m.try_lock()) {
                if let Some(d) = g.dbs.get(db) {
                    let mine = || {
                        keys.iter()
                            .zip(shard.iter())
                            .enumerate()
                            .filter(move |(_, (_, &s))| s == cur)
                            .map(|(i, (k, _))| (i, *k))
                    };
                    for (i, k) in mine() {
                        if let Some(h) = hashes.get_mut(i) {
                            *h = d.prefetch_index(k);
                        }
                    }
                    for (i, _) in mine() {
                        d.prefetch_slots(hashes.get(i).copied().unwrap_or(0));
                    }
                    for (i, k) in mine() {
                        d.prefetch_value(k, hashes.get(i).copied().unwrap_or(0));
                    }
                }
            }
            // This shard's keys are done: go on with the next other shard.
            for s in shard.iter_mut() {
                if *s == cur {
                    *s = usize::MAX - 1;
                }
            }
            match shard
                .iter()
                .take(keys.len())
                .position(|&s| s != usize::MAX - 1)
            {
                Some(i) => next = i,
                None => break,
            }
        }
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

// ---- Active expiry -------------------------------------------------------

/// Keys sampled per step at `active-expire-effort` 1 (Redis
/// `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`).
const EXPIRE_KEYS_PER_LOOP: usize = 20;
/// Share of each `1/hz` period the cycle may use, in percent, at effort 1
/// (Redis `ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC`).
const EXPIRE_SLOW_TIME_PERC: u64 = 25;
/// Keep expiring a database while more than this percentage of the sample
/// was expired, at effort 1 (Redis `ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE`).
const EXPIRE_ACCEPTABLE_STALE: usize = 10;
/// Steps between time checks (and lock yields), as Redis checks the clock
/// every 16 iterations.
const EXPIRE_STEPS_PER_CHECK: u32 = 16;

/// Active expiry figures, reported by INFO stats.
#[derive(Debug, Default)]
pub struct ExpireStats {
    /// `expired_stale_perc` × 100 (estimated % of volatile keys that are
    /// logically expired), smoothed as Redis does.
    pub stale_perc_x100: AtomicU64,
    /// `expired_time_cap_reached_count`.
    pub time_cap_reached: AtomicU64,
    /// `expire_cycle_cpu_milliseconds` (wall time spent in cycles, in µs).
    pub cycle_us: AtomicU64,
}

/// Where the next active expire cycle resumes (it continues where a cycle
/// that ran out of time stopped, like Redis's static `current_db`).
#[derive(Debug, Default, Clone, Copy)]
pub struct ExpireCursor {
    shard: usize,
    db: usize,
}

/// The state a driver of active expiry keeps between cycles: where to
/// resume, and its own random generator (no per-cycle seeding).
#[derive(Debug)]
pub struct ExpireCycler {
    pub cursor: ExpireCursor,
    rng: rand::rngs::SmallRng,
}

impl Default for ExpireCycler {
    fn default() -> Self {
        use rand::SeedableRng;
        ExpireCycler {
            cursor: ExpireCursor::default(),
            rng: rand::rngs::SmallRng::from_entropy(),
        }
    }
}

impl ExpireCycler {
    /// Run one slow cycle with the budget Redis would give it at `hz`.
    pub fn run(&mut self, ks: &Keyspace, hz: u64) -> ExpireCycleReport {
        let budget = ks.expire_cycle_budget(hz);
        ks.active_expire_cycle(&mut self.cursor, budget, &mut self.rng)
    }
}

/// What one active expire cycle did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExpireCycleReport {
    pub sampled: u64,
    pub expired: u64,
    /// The time budget ran out before every database was visited.
    pub timed_out: bool,
}

impl Keyspace {
    /// The time budget of one slow cycle at `hz`, as Redis computes it:
    /// `(25 + 2 × (effort-1))`% of the `1/hz` period.
    pub fn expire_cycle_budget(&self, hz: u64) -> Duration {
        let effort = self.expire_effort();
        let perc = EXPIRE_SLOW_TIME_PERC + 2 * effort as u64;
        Duration::from_micros(perc * 1_000_000 / hz.clamp(1, 500) / 100)
    }

    /// `active-expire-effort` − 1, in 0..=9.
    fn expire_effort(&self) -> usize {
        let e = self.tunables.active_expire_effort.load(Ordering::Relaxed);
        (e.clamp(1, 10) - 1) as usize
    }

    /// One run of Redis's slow active expire cycle (`activeExpireCycle`).
    ///
    /// For every database of every shard (resuming at `cursor`), repeatedly
    /// check the next `20 + 5 × (effort-1)` keys that have a TTL (each
    /// database sweeps its TTL records, kept in random order, from its own
    /// cursor: see `Db::active_expire_step`) and delete the expired ones,
    /// until the share expired in a step falls to `10 − (effort-1)`% or
    /// less, which means few expired keys are left there. Stops once
    /// `budget` is used; the cursor then points where to resume.
    ///
    /// Only one shard is locked at a time, and the lock is handed over to
    /// waiting commands (`MutexGuard::bump`) every 16 steps, so commands keep
    /// flowing while a large backlog of expired keys is reclaimed.
    pub fn active_expire_cycle(
        &self,
        cursor: &mut ExpireCursor,
        budget: Duration,
        rng: &mut impl Rng,
    ) -> ExpireCycleReport {
        let start = Instant::now();
        let effort = self.expire_effort();
        let per_loop = EXPIRE_KEYS_PER_LOOP + EXPIRE_KEYS_PER_LOOP / 4 * effort;
        let acceptable = EXPIRE_ACCEPTABLE_STALE - effort;
        let mut report = ExpireCycleReport::default();
        let nshards = self.shards.len();
        if cursor.shard >= nshards {
            *cursor = ExpireCursor::default();
        }
        let first = *cursor;
        'shards: for n in 0..=nshards {
            let s = (first.shard + n) % nshards;
            // The last round revisits the starting shard's databases that
            // were skipped at the start.
            let (db_from, db_to) = match (n, n == nshards) {
                (0, _) => (first.db, self.databases),
                (_, true) => (0, first.db),
                _ => (0, self.databases),
            };
            if db_from >= db_to {
                continue;
            }
            let Some(m) = self.shards.get(s) else {
                continue;
            };
            let mut guard = m.lock();
            for d in db_from..db_to {
                let mut steps: u32 = 0;
                while let Some(db) = guard.dbs.get_mut(d) {
                    if db.expires_len() == 0 {
                        break;
                    }
                    db.now = crate::clock::now_ms();
                    let (sampled, expired) = db.active_expire_step(per_loop, rng);
                    report.sampled += sampled as u64;
                    report.expired += expired as u64;
                    steps += 1;
                    if sampled == 0 || expired * 100 / sampled <= acceptable {
                        break;
                    }
                    if steps.is_multiple_of(EXPIRE_STEPS_PER_CHECK) {
                        if start.elapsed() >= budget {
                            *cursor = ExpireCursor { shard: s, db: d };
                            report.timed_out = true;
                            break 'shards;
                        }
                        MutexGuard::bump(&mut guard);
                    }
                }
            }
            drop(guard);
            if start.elapsed() >= budget && n < nshards {
                *cursor = ExpireCursor {
                    shard: (s + 1) % nshards,
                    db: 0,
                };
                report.timed_out = true;
                break;
            }
        }
        if !report.timed_out {
            *cursor = ExpireCursor::default();
        }
        self.record_cycle(&report, start.elapsed());
        report
    }

    fn record_cycle(&self, report: &ExpireCycleReport, took: Duration) {
        let st = &self.expire_stats;
        st.cycle_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        if report.timed_out {
            st.time_cap_reached.fetch_add(1, Ordering::Relaxed);
        }
        // Redis: stat_expired_stale_perc = current*0.05 + previous*0.95.
        let current = if report.sampled > 0 {
            report.expired as f64 * 100.0 / report.sampled as f64
        } else {
            0.0
        };
        let prev = st.stale_perc_x100.load(Ordering::Relaxed) as f64 / 100.0;
        let next = current * 0.05 + prev * 0.95;
        st.stale_perc_x100
            .store((next * 100.0).round() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod expire_tests {
    use super::*;
    use crate::{Blob, Value};
    use rand::SeedableRng;

    #[test]
    fn cycle_reclaims_all_expired_keys_across_shards() {
        let ks = Keyspace::new(3, 4, Arc::new(Tunables::default()));
        let now = crate::clock::now_ms();
        {
            let mut l = ks.lock_all(now);
            for i in 0..30_000u32 {
                let k = format!("k{i}");
                let db = (i % 4) as usize;
                let d = l.db(db, k.as_bytes());
                d.set(k.as_bytes(), Value::Str(Blob::from("v")));
                // Two thirds expired, one third far in the future.
                let at = if i % 3 == 0 { now + 3_600_000 } else { now - 1 };
                d.set_expire(k.as_bytes(), at);
            }
        }
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let mut cursor = ExpireCursor::default();
        let mut cycles = 0;
        loop {
            let r = ks.active_expire_cycle(&mut cursor, Duration::from_millis(25), &mut rng);
            cycles += 1;
            let left: usize = {
                let mut l = ks.lock_all(now);
                (0..4)
                    .map(|d| l.each_db(d).map(|db| db.len()).sum::<usize>())
                    .sum()
            };
            // The sweep stops in a database once a step finds ≤ 10% expired
            // (as Redis's does); sweeping sequentially, that only happens
            // once the region ahead is clean, so nearly everything expired
            // is gone after the first untimed cycle.
            if !r.timed_out && left <= 10_000 + 10_000 / 5 {
                break;
            }
            assert!(cycles < 1000, "cycle makes no progress");
        }
        assert!(ks.expire_stats.cycle_us.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn cycle_respects_budget_and_resumes() {
        let ks = Keyspace::new(1, 1, Arc::new(Tunables::default()));
        let now = crate::clock::now_ms();
        {
            let mut l = ks.lock_all(now);
            let d = l.shard_db(0, 0);
            for i in 0..200_000u32 {
                let k = format!("k{i}");
                d.set(k.as_bytes(), Value::Str(Blob::from("v")));
                d.set_expire(k.as_bytes(), now - 1);
            }
        }
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let mut cursor = ExpireCursor::default();
        let r = ks.active_expire_cycle(&mut cursor, Duration::from_micros(1), &mut rng);
        assert!(r.timed_out);
        assert!(r.expired > 0 && r.expired < 200_000);
        let mut total = r.expired;
        while total < 200_000 {
            let r = ks.active_expire_cycle(&mut cursor, Duration::from_secs(5), &mut rng);
            assert!(r.expired > 0);
            total += r.expired;
        }
        assert_eq!(ks.lock_all(now).shard_db(0, 0).len(), 0);
    }

    #[test]
    fn budget_follows_hz_and_effort() {
        let ks = Keyspace::new(1, 1, Arc::new(Tunables::default()));
        assert_eq!(ks.expire_cycle_budget(10), Duration::from_millis(25));
        ks.tunables
            .active_expire_effort
            .store(10, Ordering::Relaxed);
        assert_eq!(ks.expire_cycle_budget(10), Duration::from_millis(43));
    }
}

#[cfg(test)]
mod prefetch_tests {
    use super::*;
    use crate::{Blob, Value};

    /// Prefetching a batch (keys present and absent, several shards and
    /// databases, duplicates, more keys than one batch) changes nothing,
    /// and a shard held elsewhere is skipped instead of waited for.
    #[test]
    fn prefetch_changes_nothing_and_never_blocks() {
        let ks = Keyspace::new(3, 2, Arc::new(Tunables::default()));
        let now = crate::clock::now_ms();
        let names: Vec<String> = (0..80).map(|i| format!("key:{i}")).collect();
        {
            let mut l = ks.lock_all(now);
            for (i, k) in names.iter().enumerate().take(50) {
                let v = format!("v{i}").repeat(i + 1);
                l.db(1, k.as_bytes())
                    .set(k.as_bytes(), Value::Str(Blob::from(v.as_str())));
            }
        }
        let mut keys: Vec<&[u8]> = names.iter().map(|k| k.as_bytes()).collect();
        keys.push(b"key:3");
        for db in 0..3 {
            ks.prefetch(db, &keys);
        }
        ks.prefetch(1, &keys[..1]);
        ks.prefetch(1, &[]);
        // Hold one shard: prefetch must return, not wait.
        let held = ks.lock_shard(0).expect("shard 0");
        ks.prefetch(1, &keys);
        drop(held);
        let mut l = ks.lock_all(now);
        for (i, k) in names.iter().enumerate() {
            let got = l
                .db(1, k.as_bytes())
                .get(k.as_bytes())
                .map(|e| match &e.value {
                    Value::Str(s) => s.as_slice().to_vec(),
                    _ => Vec::new(),
                });
            let want = (i < 50).then(|| format!("v{i}").repeat(i + 1).into_bytes());
            assert_eq!(got, want, "{k}");
            assert!(l.db(0, k.as_bytes()).get(k.as_bytes()).is_none());
        }
    }
}
