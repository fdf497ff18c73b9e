//! Eviction: the one mechanism behind Redis's `maxmemory` and memcached's
//! `-m`.
//!
//! Both nodes approximate LRU (or LFU / volatile-ttl on a Redis node) the
//! way Redis's `evict.c` does: every shard contributes `maxmemory-samples`
//! random keys (random *volatile* keys for the `volatile-*` policies) to an
//! **eviction pool** of the [`EVPOOL_SIZE`] best candidates seen so far,
//! ranked by idle time (LRU), `255 − frequency` (LFU) or closeness of expiry
//! (volatile-ttl), and the best candidate is evicted. The pool persists
//! across calls, which is what makes a handful of samples approximate true
//! LRU well. The `*-random` policies evict a random key of the next
//! non-empty (shard, database), round-robin.
//!
//! Unlike Redis, a candidate is re-scored just before eviction: a key that
//! was touched after it was sampled (its idle time fell) is dropped from the
//! pool instead of evicted, so recently used keys are never evicted on the
//! strength of a stale sample.
//!
//! What "over the limit" means is the caller's: the Redis node compares the
//! process's `used_memory` with `maxmemory`, the memcached node the heap
//! grown since startup plus the incoming item with `-m`. The caller must
//! hold no shard lock: eviction locks one shard at a time (to sample, then
//! to delete), so it can never deadlock with a command. The pool's own
//! mutex serialises evicting threads, which also stops several threads from
//! each evicting for the same overshoot.

use crate::blob::Blob;
use crate::keyspace::{EvictionPolicy, Keyspace};
use parking_lot::Mutex;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Candidates kept between calls (Redis `EVPOOL_SIZE`).
pub const EVPOOL_SIZE: usize = 16;

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

/// How an [`Evictor::evict`] call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Usage is at or under the limit.
    Done,
    /// Still over the limit, but keys were freed and the time ran out.
    Running,
    /// Over the limit and nothing (more) can be evicted.
    Stuck,
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
    /// Identity of the keyspace the candidates belong to: one evictor may
    /// serve several keyspaces in one process (tests start many nodes), and
    /// candidates of another keyspace are meaningless.
    owner: usize,
    entries: Vec<Candidate>,
    /// Round-robin position of the random policies, over (shard, db).
    next_random: usize,
    rng: Option<SmallRng>,
}

impl Pool {
    const fn new() -> Pool {
        Pool {
            owner: 0,
            entries: Vec::new(),
            next_random: 0,
            rng: None,
        }
    }

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

/// An eviction pool and its lock. A node keeps one for its keyspace (the
/// Redis node in a static, the memcached engine in its state).
#[derive(Debug)]
pub struct Evictor {
    pool: Mutex<Pool>,
}

impl Default for Evictor {
    fn default() -> Self {
        Evictor::new()
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

impl Evictor {
    pub const fn new() -> Evictor {
        Evictor {
            pool: parking_lot::const_mutex(Pool::new()),
        }
    }

    /// Evict keys of `ks` under `policy` while `over()` says usage is over
    /// the caller's limit, for at most `limit` (None: until done or stuck).
    /// Must be called with no shard of `ks` locked.
    pub fn evict(
        &self,
        ks: &Keyspace,
        policy: EvictionPolicy,
        limit: Option<Duration>,
        over: impl Fn() -> bool,
    ) -> Outcome {
        let start = Instant::now();
        let mut pool = self.pool.lock();
        let me = ks as *const Keyspace as usize;
        if pool.owner != me {
            pool.owner = me;
            pool.entries.clear();
            pool.next_random = 0;
        }
        let mut rng = pool.rng.take().unwrap_or_else(|| {
            SmallRng::from_rng(rand::thread_rng())
                .unwrap_or_else(|_| SmallRng::seed_from_u64(0x5eed))
        });
        let mut freed_any = false;
        let outcome = loop {
            // Another thread may have freed enough while we waited for the
            // pool.
            if !over() {
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
                break if freed_any && !over() {
                    Outcome::Done
                } else {
                    Outcome::Stuck
                };
            }
            freed_any = true;
            if limit.is_some_and(|l| start.elapsed() >= l) {
                break if over() {
                    Outcome::Running
                } else {
                    Outcome::Done
                };
            }
        };
        pool.rng = Some(rng);
        outcome
    }
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
            db.now = crate::clock::now_ms();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::{lru_ticks_at, Tunables};
    use crate::Value;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    #[test]
    fn tenacity_limits_match_redis() {
        assert_eq!(eviction_time_limit(0), Some(Duration::ZERO));
        assert_eq!(eviction_time_limit(10), Some(Duration::from_micros(500)));
        assert_eq!(eviction_time_limit(11), Some(Duration::from_micros(575)));
        assert_eq!(eviction_time_limit(100), None);
    }

    /// 2 shards × 2 dbs with keys `k0..k{n}`; key `i` was last accessed
    /// `n - i` seconds ago, and even keys have a TTL of `now + i` seconds.
    fn keyspace(policy: EvictionPolicy, n: u64) -> Keyspace {
        let t = Arc::new(Tunables::default());
        t.set_policy(policy);
        let ks = Keyspace::new(2, 2, t);
        let now = crate::clock::now_ms();
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
        let mut l = ks.lock_all(crate::clock::now_ms());
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
        let mut p = Pool::new();
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
    fn evictor_stops_when_under_the_limit_or_stuck() {
        let ks = keyspace(EvictionPolicy::AllkeysLru, 50);
        let ev = Evictor::new();
        // "Over the limit" while more than 20 keys are left.
        let left = AtomicUsize::new(50);
        let over = || left.load(Ordering::Relaxed) > 20;
        let mut outcome = Outcome::Running;
        while outcome == Outcome::Running {
            outcome = ev.evict(
                &ks,
                EvictionPolicy::AllkeysLru,
                Some(Duration::ZERO),
                || {
                    left.store(keys_left(&ks).len(), Ordering::Relaxed);
                    over()
                },
            );
        }
        assert_eq!(outcome, Outcome::Done);
        assert_eq!(keys_left(&ks).len(), 20);
        // Never under the limit: evicts everything, then reports Stuck.
        assert_eq!(
            ev.evict(&ks, EvictionPolicy::AllkeysLru, None, || true),
            Outcome::Stuck
        );
        assert!(keys_left(&ks).is_empty());
        assert_eq!(
            ev.evict(&ks, EvictionPolicy::NoEviction, None, || true),
            Outcome::Stuck
        );
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
            let mut p = Pool::new();
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
        let mut p = Pool::new();
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
        let mut p = Pool::new();
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
        let mut p = Pool::new();
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
