//! `maxmemory` enforcement and the INFO memory figures.
//!
//! Before a command flagged `denyoom` runs, dispatch calls [`make_room`]:
//! while `used_memory` is above `maxmemory`, keys are evicted according to
//! `maxmemory-policy` by the engine's shared mechanism
//! (`ferrocache_engine::evict`, also behind memcached's `-m`), with Redis's
//! approximations (`evict.c`):
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
use ferrocache_engine::evict::{Evictor, Outcome};
use ferrocache_engine::keyspace::{EvictionPolicy, Keyspace};
use ferrocache_engine::memory;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub use ferrocache_engine::evict::eviction_time_limit;

/// The Redis node's eviction pool. A static (not a field of `Server`): one
/// Redis node per process in production; the pool recognises which
/// keyspace its candidates belong to, so test processes running several
/// nodes stay correct.
static EVICTOR: Evictor = Evictor::new();

/// Is used memory over `maxmemory`? Keys copied aside for a running
/// snapshot do not count (Redis: `freeMemoryGetNotCountedMemory`, and a
/// forked save's copied pages are not in `used_memory` either): they are
/// freed as soon as the snapshot writes them, and evicting data to make
/// room for them would only make the snapshot copy more.
fn over_limit(ks: &Keyspace) -> bool {
    let max = ks.tunables.maxmemory.load(Ordering::Relaxed);
    let not_counted = ferrocache_engine::db::snapshot_pending_bytes();
    max != 0 && memory::used_memory().saturating_sub(not_counted) as u64 > max
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
    let policy = ks.tunables.policy();
    if policy == EvictionPolicy::NoEviction {
        return false;
    }
    let tenacity = ks
        .tunables
        .maxmemory_eviction_tenacity
        .load(Ordering::Relaxed);
    match EVICTOR.evict(ks, policy, eviction_time_limit(tenacity), || over_limit(ks)) {
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
        let policy = ks.tunables.policy();
        match EVICTOR.evict(ks, policy, Some(Duration::from_millis(1)), || {
            over_limit(ks)
        }) {
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
        assert_eq!(eviction_time_limit(10), Some(Duration::from_micros(500)));
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
}
