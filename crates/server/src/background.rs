//! The cron: background work driven by `hz` (Redis's `serverCron`), on its
//! own thread so that it never delays a worker's connections:
//!
//! - active expiry: one slow expire cycle per tick, using at most 25% of the
//!   tick (`active-expire-effort` scales it), locking one shard at a time;
//! - eviction catch-up: when memory is over `maxmemory` (CONFIG SET lowered
//!   it, or a command stopped evicting at its time limit), keep evicting;
//! - the `used_memory_peak` sample.
//!
//! `hz` is re-read every tick, so CONFIG SET hz takes effect at once.

use ferrocache_engine::keyspace::ExpireCycler;
use ferrocache_redis::Server;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Redis's accepted range for the effective `hz`.
const MIN_HZ: u64 = 1;
const MAX_HZ: u64 = 500;

fn hz(server: &Server) -> u64 {
    u64::from(server.config.hot().hz.load(Ordering::Relaxed)).clamp(MIN_HZ, MAX_HZ)
}

/// One tick of background work.
pub fn tick(server: &Server, cycler: &mut ExpireCycler, hz: u64) {
    // Peak samples (engine-wide and the server's own) and the
    // instantaneous_* metrics, even when no command is running.
    ferrocache_engine::memory::update_peak();
    server.used_memory();
    server.sample_metrics();
    // DEBUG SET-ACTIVE-EXPIRE 0 turns active expiry off; lazy expiry on
    // access always runs.
    if server.active_expire_enabled.load(Ordering::Relaxed) {
        cycler.run(&server.keyspace, hz);
    }
    ferrocache_redis::evict::evict_in_background(server);
    // Save points and scheduled BGSAVEs (cmd/persist.rs).
    ferrocache_redis::cmd::persist::cron(server);
    // `expired`/`evicted` keyspace events and tracking invalidations for
    // what this tick removed.
    ferrocache_redis::notify::drain_all(server, &mut None);
    if server.tracking.active() {
        ferrocache_redis::tracking::flush(server, &mut None);
    }
}

/// Start the background thread.
pub fn start(server: Arc<Server>) {
    ferrocache_redis::evict::mark_startup();
    let _ = std::thread::Builder::new()
        .name("cron".into())
        .spawn(move || {
            let mut cycler = ExpireCycler::default();
            loop {
                if server.shutdown.load(Ordering::Acquire) {
                    break;
                }
                let hz = hz(&server);
                let started = Instant::now();
                tick(&server, &mut cycler, hz);
                let period = Duration::from_micros(1_000_000 / hz);
                std::thread::sleep(period.saturating_sub(started.elapsed()));
            }
        });
}
