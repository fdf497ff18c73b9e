//! `maxmemory` enforcement and the INFO memory figures.
//!
//! Before a command flagged `denyoom` runs, dispatch calls [`make_room`]:
//! while `used_memory` is above `maxmemory`, keys are evicted according to
//! `maxmemory-policy`, with Redis's approximations (`evict.c`):
//!
//! - LRU / LFU / volatile-ttl: every shard's every database contributes
//!   `maxmemory-samples` random keys (random *volatile* keys for the
//!   `volatile-*` policies) to an **eviction pool** of the 16 best
//!   candidates seen so far, ranked by idle time (LRU), `255 − frequency`
//!   (LFU) or closeness of expiry (volatile-ttl). The best candidate is
//!   evicted. The pool persists across calls, which is what makes a handful
//!   of samples approximate true LRU well.
//! - `*-random`: a random key (with a TTL, for volatile-random) of the next
//!   non-empty database, round-robin over shards and databases.
//!
//! Unlike Redis, a candidate is re-scored just before eviction: a key that
//! was touched after it was sampled (its idle time fell) is dropped from the
//! pool instead of evicted, so recently used keys are never evicted on the
//! strength of a stale sample.
//!
//! Dispatch calls this before locking any shard; eviction locks one shard at
//! a time (to sample, then to delete), so it can never deadlock with a
//! command. The pool's own mutex serialises evicting threads, which also
//! stops several threads from each evicting for the same overshoot.
//!
//! Like Redis, one call spends at most [`eviction_time_limit`] (500 µs at the
//! default `maxmemory-eviction-tenacity` of 10); if memory is still over the
//! limit by then but keys were freed, the command runs anyway and the cron
//! ([`evict_in_background`]) keeps evicting. Only when nothing evictable is
//! left (or the policy is `noeviction`) is the command refused with `-OOM`.

use crate::server::Server;
use ferrocache_engine::keyspace::{EvictionPolicy, Keyspace};
use ferrocache_engine::{memory, Blob};
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Candidates kept between calls (Redis `EVPOOL_SIZE`).
const EVPOOL_SIZE: usize = 16;

/// Time one command may spend evicting, from `maxmemory-eviction-tenacity`
/// exactly as Redis's `evictionTimeLimitUs`: linear up to 500 µs at 10, then
/// +15% per step, unlimited (None) at 100.
pub fn eviction_time_limit(tenacity: u32) -> Option<Duration> {
    match tenacity {
        0..=10 => Some(Duration::from_micros(50 * u64::from(tenacity))),
        11..=99 => Some(Duration::from_micros(
            (500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64,
        )),
        _ => None,
    }
}

/// A key that could be evicted, with its score (higher = evict first).
#[derive(Debug)]
struct Candidate {
    score: u64,
    key: Blob,
    shard: usize,
    db: usize,
}

/// The eviction pool, sorted by ascending score (best candidate last).
#[derive(Debug)]
struct Pool {
    /// Identity of the keyspace the candidates belong to (several servers can
    /// live in one process in tests).
    owner: usize,
    entries: Vec<Candidate>,
    /// Round-robin position of the random policies, over (shard, db).
    next_random: usize,
    rng: Option<SmallRng>,
}

static POOL: Mutex<Pool> = parking_lot::const_mutex(Pool {
    owner: 0,
    entries: Vec::new(),
    next_random: 0,
    rng: None,
});

impl Pool {
    /// Offer a sampled key. Keeps the 16 highest scores, no duplicates.
    fn offer(&mut self, score: u64, key: &Blob, shard: usize, db: usize) {
        if self
            .entries
            .iter()
            .any(|c| c.shard == shard && c.db == db && c.key == *key)
        {
            return;
        }
        let full = self.entries.len() >= EVPOOL_SIZE;
        if full && self.entries.first().is_some_and(|c| c.score >= score) {
            return;
        }
        if full {
            self.entries.remove(0);
        }
        let pos = self.entries.partition_point(|c| c.score < score);
        self.entries.insert(
            pos,
            Candidate {
                score,
                key: key.clone(),
                shard,
                db,
            },
        );
    }
}

/// Score of an entry under `policy`: higher means a better eviction
/// candidate.
fn score(ks: &Keyspace, policy: EvictionPolicy, access: u32, expire_at: Option<u64>) -> u64 {
    let t = &ks.tunables;
    match policy {
        EvictionPolicy::VolatileLfu | EvictionPolicy::AllkeysLfu => {
            255 - u64::from(t.lfu_counter(access).min(255))
        }
        EvictionPolicy::VolatileTtl => u64::MAX - expire_at.unwrap_or(u64::MAX),
        _ => t.idle_ms(access),
    }
}

fn over_limit(ks: &Keyspace) -> bool {
    let max = ks.tunables.maxmemory.load(Ordering::Relaxed);
    max != 0 && memory::used_memory() as u64 > max
}

/// Make room for a command that may grow memory. Returns false when memory
/// is over `maxmemory` and nothing can be evicted (the command must be
/// refused with `-OOM command not allowed when used memory > 'maxmemory'.`).
pub fn make_room(server: &Server) -> bool {
    let ks = &server.keyspace;
    if !over_limit(ks) {
        return true;
    }
    memory::update_peak();
    if ks.tunables.policy() == EvictionPolicy::NoEviction {
        return false;
    }
    let tenacity = ks
        .tunables
        .maxmemory_eviction_tenacity
        .load(Ordering::Relaxed);
    match evict(ks, eviction_time_limit(tenacity)) {
        Outcome::Done | Outcome::Running => true,
        Outcome::Stuck => false,
    }
}

/// Called by the cron at `hz`: keep evicting (in short slices, so commands
/// waiting in [`make_room`] get the pool between slices) until usage is
/// under the limit, e.g. after `CONFIG SET maxmemory` lowered it, or after a
/// command hit the per-call time limit. Returns the number of slices run.
pub fn evict_in_background(server: &Server) -> usize {
    let ks = &server.keyspace;
    let mut slices = 0;
    while over_limit(ks) && ks.tunables.policy() != EvictionPolicy::NoEviction {
        slices += 1;
        match evict(ks, Some(Duration::from_millis(1))) {
            Outcome::Running => std::thread::yield_now(),
            Outcome::Done | Outcome::Stuck => break,
        }
        // Never monopolise: at most ~100 ms per cron tick.
        if slices >= 100 {
            break;
        }
    }
    slices
}

enum Outcome {
    /// Usage is at or under the limit.
    Done,
    /// Still over the limit, but keys were freed and the time ran out.
    Running,
    /// Over the limit and nothing (more) can be evicted.
    Stuck,
}

fn evict(ks: &Keyspace, limit: Option<Duration>) -> Outcome {
    let start = Instant::now();
    let mut pool = POOL.lock();
    let me = ks as *const Keyspace as usize;
    if pool.owner != me {
        pool.owner = me;
        pool.entries.clear();
        pool.next_random = 0;
    }
    let mut rng = pool.rng.take().unwrap_or_else(|| {
        SmallRng::from_rng(rand::thread_rng()).unwrap_or_else(|_| SmallRng::seed_from_u64(0x5eed))
    });
    let policy = ks.tunables.policy();
    let mut freed_any = false;
    let outcome = loop {
        // Another thread may have freed enough while we waited for the pool.
        if !over_limit(ks) {
            break Outcome::Done;
        }
        let evicted = match policy {
            EvictionPolicy::NoEviction => false,
            EvictionPolicy::AllkeysRandom | EvictionPolicy::VolatileRandom => {
                evict_random(ks, policy.volatile_only(), &mut pool, &mut rng)
            }
            _ => evict_from_pool(ks, policy, &mut pool, &mut rng),
        };
        if !evicted {
            break if freed_any && !over_limit(ks) {
                Outcome::Done
            } else {
                Outcome::Stuck
            };
        }
        freed_any = true;
        if limit.is_some_and(|l| start.elapsed() >= l) {
            break if over_limit(ks) {
                Outcome::Running
            } else {
                Outcome::Done
            };
        }
    };
    pool.rng = Some(rng);
    outcome
}

/// Evict one key chosen by sampling into the pool. False when no shard has
/// a candidate.
fn evict_from_pool(
    ks: &Keyspace,
    policy: EvictionPolicy,
    pool: &mut Pool,
    rng: &mut SmallRng,
) -> bool {
    let volatile = policy.volatile_only();
    let samples = ks.tunables.maxmemory_samples.load(Ordering::Relaxed).max(1) as usize;
    // A pool made only of stale candidates is refilled; bound the rounds so a
    // keyspace mutating faster than we sample cannot keep us here forever.
    for _ in 0..16 {
        let mut any = false;
        for s in 0..ks.shard_count() {
            let Some(guard) = ks.lock_shard(s) else {
                continue;
            };
            for (d, db) in guard.dbs.iter().enumerate() {
                let n = if volatile { db.expires_len() } else { db.len() };
                if n == 0 {
                    continue;
                }
                any = true;
                db.sample_with(samples, volatile, rng, |k, e, at| {
                    let sc = score(ks, policy, e.access(), at);
                    pool.offer(sc, k, s, d);
                });
            }
        }
        if !any {
            pool.entries.clear();
            return false;
        }
        // Best candidates first; drop the ones that are gone or were touched
        // since they were sampled.
        while let Some(c) = pool.entries.pop() {
            let Some(mut guard) = ks.lock_shard(c.shard) else {
                continue;
            };
            let Some(db) = guard.dbs.get_mut(c.db) else {
                continue;
            };
            db.now = ferrocache_engine::clock::now_ms();
            let current = match db.peek(&c.key) {
                Some(e) => {
                    if volatile && !e.has_ttl() {
                        continue; // PERSISTed since sampling
                    }
                    Some(score(ks, policy, e.access(), db.expire_at(&c.key)))
                }
                // Expired (or gone): removing it frees memory just as well.
                None => None,
            };
            if current.is_some_and(|sc| sc < c.score) {
                continue;
            }
            if db.evict(&c.key) {
                return true;
            }
        }
    }
    false
}

/// Evict one random key (with a TTL for volatile-random), visiting shards
/// and databases round-robin as Redis visits databases.
fn evict_random(ks: &Keyspace, volatile: bool, pool: &mut Pool, rng: &mut SmallRng) -> bool {
    let dbs = ks.databases().max(1);
    let total = ks.shard_count() * dbs;
    let mut k = 0;
    while k < total {
        let idx = (pool.next_random + k) % total;
        let s = idx / dbs;
        let Some(mut guard) = ks.lock_shard(s) else {
            k += 1;
            continue;
        };
        // Scan this shard's databases from `idx` on while holding its lock.
        let mut d = idx % dbs;
        while d < dbs && k < total {
            k += 1;
            let Some(db) = guard.dbs.get_mut(d) else {
                break;
            };
            let mut victim = None;
            db.sample_with(1, volatile, rng, |key, _, _| victim = Some(key.clone()));
            if let Some(key) = victim {
                if db.evict(&key) {
                    pool.next_random = (s * dbs + d + 1) % total;
                    return true;
                }
            }
            d += 1;
        }
    }
    false
}

// ---- INFO memory ---------------------------------------------------------

/// The figures of INFO's `# Memory` section.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryInfo {
    pub used_memory: u64,
    pub used_memory_rss: u64,
    pub used_memory_peak: u64,
    pub used_memory_startup: u64,
    pub total_system_memory: u64,
    pub maxmemory: u64,
    pub maxmemory_policy: &'static str,
    pub mem_fragmentation_ratio: f64,
}

static STARTUP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Record `used_memory_startup` (called once when the node is up).
pub fn mark_startup() {
    let _ = STARTUP.compare_exchange(
        0,
        memory::used_memory() as u64,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
}

fn total_system_memory() -> u64 {
    let Ok(s) = std::fs::read_to_string("/proc/meminfo") else {
        return 0;
    };
    s.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Current memory figures (also folds current usage into the peak).
pub fn memory_info(server: &Server) -> MemoryInfo {
    let t = &server.keyspace.tunables;
    let peak = memory::update_peak() as u64;
    let used = memory::used_memory() as u64;
    let rss = memory::rss_bytes().unwrap_or(0) as u64;
    MemoryInfo {
        used_memory: used,
        used_memory_rss: rss,
        used_memory_peak: peak.max(used),
        used_memory_startup: STARTUP.load(Ordering::Relaxed).min(used),
        total_system_memory: total_system_memory(),
        maxmemory: t.maxmemory.load(Ordering::Relaxed),
        maxmemory_policy: t.policy().name(),
        mem_fragmentation_ratio: if used > 0 {
            rss as f64 / used as f64
        } else {
            0.0
        },
    }
}

/// Redis's `bytesToHuman` (`used_memory_human` and friends).
pub fn bytes_to_human(n: u64) -> String {
    let d = n as f64;
    const K: f64 = 1024.0;
    if n < 1024 {
        format!("{n}B")
    } else if d < K * K {
        format!("{:.2}K", d / K)
    } else if d < K * K * K {
        format!("{:.2}M", d / (K * K))
    } else if d < K * K * K * K {
        format!("{:.2}G", d / (K * K * K))
    } else if d < K * K * K * K * K {
        format!("{:.2}T", d / (K * K * K * K))
    } else if d < K * K * K * K * K * K {
        format!("{:.2}P", d / (K * K * K * K * K))
    } else {
        format!("{n}B")
    }
}

/// The body of INFO's `# Memory` section (without the header line), field
/// for field in redis-server 7.0's order, each line ending in CRLF.
///
/// The allocator-internal figures (`allocator_*`) are derived from what we
/// can measure (bytes requested, RSS) since jemalloc's own statistics are
/// not exposed; Lua/function figures are those of an idle Redis scripting
/// engine, as there are no scripts.
pub fn info_memory_section(server: &Server) -> String {
    let m = memory_info(server);
    let used = m.used_memory;
    let rss = m.used_memory_rss;
    let startup = m.used_memory_startup;
    let overhead = startup;
    let dataset = used.saturating_sub(overhead);
    let net = used.saturating_sub(startup).max(1);
    let frag_bytes = rss as i64 - used as i64;
    let lines: Vec<(&str, String)> = vec![
        ("used_memory", used.to_string()),
        ("used_memory_human", bytes_to_human(used)),
        ("used_memory_rss", rss.to_string()),
        ("used_memory_rss_human", bytes_to_human(rss)),
        ("used_memory_peak", m.used_memory_peak.to_string()),
        ("used_memory_peak_human", bytes_to_human(m.used_memory_peak)),
        (
            "used_memory_peak_perc",
            format!(
                "{:.2}%",
                used as f64 * 100.0 / m.used_memory_peak.max(1) as f64
            ),
        ),
        ("used_memory_overhead", overhead.to_string()),
        ("used_memory_startup", startup.to_string()),
        ("used_memory_dataset", dataset.to_string()),
        (
            "used_memory_dataset_perc",
            format!("{:.2}%", dataset as f64 * 100.0 / net as f64),
        ),
        ("allocator_allocated", used.to_string()),
        ("allocator_active", used.to_string()),
        ("allocator_resident", rss.to_string()),
        ("total_system_memory", m.total_system_memory.to_string()),
        (
            "total_system_memory_human",
            bytes_to_human(m.total_system_memory),
        ),
        ("used_memory_lua", "32768".into()),
        ("used_memory_vm_eval", "32768".into()),
        ("used_memory_lua_human", "32.00K".into()),
        ("used_memory_scripts_eval", "0".into()),
        ("number_of_cached_scripts", "0".into()),
        ("number_of_functions", "0".into()),
        ("number_of_libraries", "0".into()),
        ("used_memory_vm_functions", "32768".into()),
        ("used_memory_vm_total", "65536".into()),
        ("used_memory_vm_total_human", "64.00K".into()),
        ("used_memory_functions", "0".into()),
        ("used_memory_scripts", "0".into()),
        ("used_memory_scripts_human", "0B".into()),
        ("maxmemory", m.maxmemory.to_string()),
        ("maxmemory_human", bytes_to_human(m.maxmemory)),
        ("maxmemory_policy", m.maxmemory_policy.to_string()),
        ("allocator_frag_ratio", "1.00".into()),
        ("allocator_frag_bytes", "0".into()),
        (
            "allocator_rss_ratio",
            format!("{:.2}", m.mem_fragmentation_ratio),
        ),
        ("allocator_rss_bytes", frag_bytes.to_string()),
        ("rss_overhead_ratio", "1.00".into()),
        ("rss_overhead_bytes", "0".into()),
        (
            "mem_fragmentation_ratio",
            format!("{:.2}", m.mem_fragmentation_ratio),
        ),
        ("mem_fragmentation_bytes", frag_bytes.to_string()),
        ("mem_not_counted_for_evict", "0".into()),
        ("mem_replication_backlog", "0".into()),
        ("mem_total_replication_buffers", "0".into()),
        ("mem_clients_slaves", "0".into()),
        ("mem_clients_normal", "0".into()),
        ("mem_cluster_links", "0".into()),
        ("mem_aof_buffer", "0".into()),
        ("mem_allocator", "jemalloc-5.3.0".into()),
        ("active_defrag_running", "0".into()),
        ("lazyfree_pending_objects", "0".into()),
        ("lazyfreed_objects", "0".into()),
    ];
    let mut out = String::with_capacity(2048);
    for (k, v) in lines {
        out.push_str(k);
        out.push(':');
        out.push_str(&v);
        out.push_str("\r\n");
    }
    out
}

/// Active-expiry lines of INFO's `# Stats` section (`expired_stale_perc`,
/// `expired_time_cap_reached_count`, `expire_cycle_cpu_milliseconds`), each
/// ending in CRLF. `expired_keys` / `evicted_keys` come from `Db::stats`.
pub fn info_expire_stats(server: &Server) -> String {
    let st = &server.keyspace.expire_stats;
    format!(
        "expired_stale_perc:{:.2}\r\nexpired_time_cap_reached_count:{}\r\nexpire_cycle_cpu_milliseconds:{}\r\n",
        st.stale_perc_x100.load(Ordering::Relaxed) as f64 / 100.0,
        st.time_cap_reached.load(Ordering::Relaxed),
        st.cycle_us.load(Ordering::Relaxed) / 1000,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenacity_limits_match_redis() {
        assert_eq!(eviction_time_limit(0), Some(Duration::ZERO));
        assert_eq!(eviction_time_limit(10), Some(Duration::from_micros(500)));
        assert_eq!(eviction_time_limit(11), Some(Duration::from_micros(575)));
        assert_eq!(eviction_time_limit(100), None);
    }

    #[test]
    fn human_sizes_match_redis() {
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(914520), "893.09K");
        assert_eq!(bytes_to_human(6729728), "6.42M");
        assert_eq!(bytes_to_human(25276502016), "23.54G");
    }

    use ferrocache_engine::keyspace::{lru_ticks_at, Tunables};
    use ferrocache_engine::Value;
    use std::sync::Arc;

    fn pool() -> Pool {
        Pool {
            owner: 0,
            entries: Vec::new(),
            next_random: 0,
            rng: None,
        }
    }

    /// 2 shards × 2 dbs with keys `k0..k{n}`; key `i` was last accessed
    /// `n - i` seconds ago, and even keys have a TTL of `now + i` seconds.
    fn keyspace(policy: EvictionPolicy, n: u64) -> Keyspace {
        let t = Arc::new(Tunables::default());
        t.set_policy(policy);
        let ks = Keyspace::new(2, 2, t);
        let now = ferrocache_engine::clock::now_ms();
        let mut l = ks.lock_all(now);
        for i in 0..n {
            let k = format!("k{i}");
            let d = l.db((i % 2) as usize, k.as_bytes());
            d.set(k.as_bytes(), Value::Str(Blob::from("v")));
            if i % 2 == 0 {
                d.set_expire(k.as_bytes(), now + (i + 1) * 1000);
            }
            if let Some(e) = d.get_mut(k.as_bytes()) {
                e.set_access(lru_ticks_at(now - (n - i) * 1000));
            }
        }
        drop(l);
        ks
    }

    fn keys_left(ks: &Keyspace) -> Vec<String> {
        let mut l = ks.lock_all(ferrocache_engine::clock::now_ms());
        let mut v: Vec<String> = (0..2)
            .flat_map(|d| {
                l.each_db(d)
                    .flat_map(|db| {
                        db.iter()
                            .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
        v.sort();
        v
    }

    fn evicted(ks: &Keyspace) -> u64 {
        let mut l = ks.lock_all(0);
        (0..2)
            .map(|d| l.each_db(d).map(|db| db.stats.evicted_keys).sum::<u64>())
            .sum()
    }

    #[test]
    fn lru_evicts_the_idlest_keys_first() {
        let ks = keyspace(EvictionPolicy::AllkeysLru, 200);
        ks.tunables.maxmemory_samples.store(10, Ordering::Relaxed);
        let mut p = pool();
        let mut rng = SmallRng::seed_from_u64(9);
        for _ in 0..100 {
            assert!(evict_from_pool(
                &ks,
                EvictionPolicy::AllkeysLru,
                &mut p,
                &mut rng
            ));
        }
        assert_eq!(evicted(&ks), 100);
        let left = keys_left(&ks);
        // The survivors are overwhelmingly the most recently used half.
        let recent = left
            .iter()
            .filter(|k| k[1..].parse::<u32>().is_ok_and(|i| i >= 100))
            .count();
        assert!(recent >= 85, "only {recent}/100 recent keys survived");
    }

    #[test]
    fn volatile_policies_never_touch_persistent_keys() {
        for policy in [
            EvictionPolicy::VolatileLru,
            EvictionPolicy::VolatileLfu,
            EvictionPolicy::VolatileTtl,
            EvictionPolicy::VolatileRandom,
        ] {
            let ks = keyspace(policy, 100);
            let mut p = pool();
            let mut rng = SmallRng::seed_from_u64(1);
            let mut n = 0;
            loop {
                let ok = if policy == EvictionPolicy::VolatileRandom {
                    evict_random(&ks, true, &mut p, &mut rng)
                } else {
                    evict_from_pool(&ks, policy, &mut p, &mut rng)
                };
                if !ok {
                    break;
                }
                n += 1;
            }
            assert_eq!(n, 50, "{policy:?}");
            let left = keys_left(&ks);
            assert_eq!(left.len(), 50);
            assert!(left
                .iter()
                .all(|k| k[1..].parse::<u32>().is_ok_and(|i| i % 2 == 1)));
        }
    }

    #[test]
    fn volatile_ttl_evicts_the_soonest_expiring() {
        let ks = keyspace(EvictionPolicy::VolatileTtl, 200);
        let mut p = pool();
        let mut rng = SmallRng::seed_from_u64(5);
        for _ in 0..50 {
            assert!(evict_from_pool(
                &ks,
                EvictionPolicy::VolatileTtl,
                &mut p,
                &mut rng
            ));
        }
        // Volatile keys are k0, k2, … expiring in that order: the late half
        // (k100..k198) should mostly remain.
        let left = keys_left(&ks);
        let late = left
            .iter()
            .filter(|k| k[1..].parse::<u32>().is_ok_and(|i| i % 2 == 0 && i >= 100))
            .count();
        assert!(late >= 42, "only {late}/50 late-expiring keys survived");
    }

    #[test]
    fn random_eviction_empties_everything_then_fails() {
        let ks = keyspace(EvictionPolicy::AllkeysRandom, 37);
        let mut p = pool();
        let mut rng = SmallRng::seed_from_u64(2);
        for _ in 0..37 {
            assert!(evict_random(&ks, false, &mut p, &mut rng));
        }
        assert!(!evict_random(&ks, false, &mut p, &mut rng));
        assert!(!evict_from_pool(
            &ks,
            EvictionPolicy::AllkeysLru,
            &mut p,
            &mut rng
        ));
        assert_eq!(evicted(&ks), 37);
    }

    #[test]
    fn pool_keeps_the_best_sixteen_without_duplicates() {
        let mut p = pool();
        for i in 0..100u64 {
            p.offer(i % 40, &Blob::from_i64(i as i64), 0, 0);
            p.offer(i % 40, &Blob::from_i64(i as i64), 0, 0);
        }
        assert_eq!(p.entries.len(), EVPOOL_SIZE);
        assert!(p.entries.windows(2).all(|w| w[0].score <= w[1].score));
        assert!(p.entries.iter().all(|c| c.score >= 32));
        let keys: std::collections::HashSet<_> = p.entries.iter().map(|c| c.key.clone()).collect();
        assert_eq!(keys.len(), EVPOOL_SIZE);
    }
}
