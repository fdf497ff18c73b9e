//! Node-wide state shared by all connections and threads.

use crate::client::{ClientRegistry, ClientShared};
use crate::config::Config;
use ferrocache_engine::keyspace::Tunables;
use ferrocache_engine::Keyspace;
use parking_lot::Mutex;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Server-wide counters (INFO stats).
#[derive(Debug, Default)]
pub struct Stats {
    pub total_connections_received: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub total_commands_processed: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub total_error_replies: AtomicU64,
    pub unexpected_error_replies: AtomicU64,
}

impl Stats {
    pub fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    /// Zero every counter (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for c in [
            &self.total_connections_received,
            &self.rejected_connections,
            &self.total_commands_processed,
            &self.net_input_bytes,
            &self.net_output_bytes,
            &self.total_error_replies,
            &self.unexpected_error_replies,
        ] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// Per-command counters (INFO commandstats) and latency histogram (INFO
/// latencystats).
#[derive(Debug, Default)]
pub struct CommandStats {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected_calls: AtomicU64,
    pub failed_calls: AtomicU64,
    /// Allocated on the first call only: most of the ~240 commands are never
    /// used by a given deployment, and a histogram is a few KiB.
    pub histogram: OnceLock<Box<LatencyHistogram>>,
}

impl CommandStats {
    pub fn reset(&self) {
        self.calls.store(0, Ordering::Relaxed);
        self.usec.store(0, Ordering::Relaxed);
        self.rejected_calls.store(0, Ordering::Relaxed);
        self.failed_calls.store(0, Ordering::Relaxed);
        if let Some(h) = self.histogram.get() {
            h.reset();
        }
    }

    /// Record one call's duration in the histogram.
    pub fn record_latency(&self, usec: u64) {
        self.histogram
            .get_or_init(|| Box::new(LatencyHistogram::new()))
            .record(usec);
    }
}

/// Sub-buckets per power of two: 3 bits of precision (12.5% worst-case
/// error), enough for p50/p99/p99.9 reporting, like Redis's HdrHistogram
/// configured with 2 significant figures in spirit while staying lock-free.
const HIST_SUB_BITS: u32 = 3;
const HIST_SUB: usize = 1 << HIST_SUB_BITS;
const HIST_BUCKETS: usize = HIST_SUB + (64 - HIST_SUB_BITS as usize) * HIST_SUB;

/// A lock-free log-linear histogram of microsecond latencies.
#[derive(Debug)]
pub struct LatencyHistogram {
    buckets: Vec<AtomicU64>,
}

impl LatencyHistogram {
    fn new() -> Self {
        LatencyHistogram {
            buckets: (0..HIST_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn index(v: u64) -> usize {
        if v < HIST_SUB as u64 {
            return v as usize;
        }
        let major = 63 - v.leading_zeros(); // >= HIST_SUB_BITS
        let shift = major - HIST_SUB_BITS;
        let sub = ((v >> shift) as usize) & (HIST_SUB - 1);
        HIST_SUB + (major - HIST_SUB_BITS) as usize * HIST_SUB + sub
    }

    /// Highest value that falls in bucket `i` (what percentiles report, as
    /// HdrHistogram's "highest equivalent value").
    fn upper(i: usize) -> u64 {
        if i < HIST_SUB {
            return i as u64;
        }
        let j = i - HIST_SUB;
        let major = (j / HIST_SUB) as u32 + HIST_SUB_BITS;
        let sub = (j % HIST_SUB) as u64;
        let shift = major - HIST_SUB_BITS;
        let base = (HIST_SUB as u64 + sub) << shift;
        base + ((1u64 << shift) - 1)
    }

    pub fn record(&self, usec: u64) {
        if let Some(b) = self.buckets.get(Self::index(usec)) {
            b.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn reset(&self) {
        for b in &self.buckets {
            b.store(0, Ordering::Relaxed);
        }
    }

    /// Cumulative counts at power-of-two bounds (1, 2, 4, ... µs), listing a
    /// bound only when the count grew, as LATENCY HISTOGRAM reports.
    pub fn cumulative_pow2(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut total = 0u64;
        let mut last_reported = 0u64;
        let mut bound = 1u64;
        for (i, b) in self.buckets.iter().enumerate() {
            let n = b.load(Ordering::Relaxed);
            let up = Self::upper(i);
            while up > bound && bound < (1 << 62) {
                if total > last_reported {
                    out.push((bound, total));
                    last_reported = total;
                }
                bound *= 2;
            }
            total += n;
        }
        if total > last_reported {
            out.push((bound, total));
        }
        out
    }

    /// Values at the given percentiles (0..=100), in one pass.
    pub fn percentiles(&self, ps: &[f64]) -> Vec<u64> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        ps.iter()
            .map(|&p| {
                if total == 0 {
                    return 0;
                }
                let want = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
                let mut seen = 0;
                for (i, &c) in counts.iter().enumerate() {
                    seen += c;
                    if seen >= want {
                        return Self::upper(i);
                    }
                }
                0
            })
            .collect()
    }
}

/// One SLOWLOG entry.
#[derive(Debug, Clone)]
pub struct SlowlogEntry {
    pub id: u64,
    /// Unix time in seconds.
    pub time: u64,
    pub duration_us: u64,
    /// Already truncated as Redis stores it (32 args, 128 bytes each).
    pub argv: Vec<Vec<u8>>,
    pub addr: String,
    pub name: Vec<u8>,
}

/// The slow log: newest entry first.
#[derive(Debug, Default)]
pub struct Slowlog {
    pub entries: VecDeque<SlowlogEntry>,
    pub next_id: u64,
}

/// Samples of one LATENCY event (at most [`LATENCY_TS_LEN`], one per
/// second, as Redis's `latencyAddSample`).
#[derive(Debug, Default, Clone)]
pub struct LatencyEvent {
    /// (unix seconds, milliseconds), oldest first.
    pub samples: VecDeque<(u64, u64)>,
    pub max: u64,
}

/// Redis keeps 160 samples per event.
pub const LATENCY_TS_LEN: usize = 160;

impl LatencyEvent {
    pub fn add(&mut self, now_secs: u64, ms: u64) {
        if let Some(last) = self.samples.back_mut() {
            if last.0 == now_secs {
                last.1 = last.1.max(ms);
                self.max = self.max.max(ms);
                return;
            }
        }
        if self.samples.len() == LATENCY_TS_LEN {
            self.samples.pop_front();
        }
        self.samples.push_back((now_secs, ms));
        self.max = self.max.max(ms);
    }
}

/// Recent samples of the global counters, for the `instantaneous_*` INFO
/// fields (Redis keeps 16 samples taken every 100 ms).
#[derive(Debug, Default)]
pub struct MetricSamples {
    /// (ms since start, commands, net input bytes, net output bytes).
    pub samples: VecDeque<(u64, u64, u64, u64)>,
}

/// Number of samples kept for instantaneous metrics.
pub const METRIC_SAMPLES: usize = 16;

/// One Redis node.
#[derive(Debug)]
pub struct Server {
    pub keyspace: Keyspace,
    pub config: Config,
    pub clients: ClientRegistry,
    pub stats: Stats,
    /// Indexed like `table().commands`.
    pub command_stats: Vec<CommandStats>,
    pub started: Instant,
    pub run_id: String,
    /// Set by SHUTDOWN; the network layer stops accepting and exits.
    pub shutdown: AtomicBool,
    pub shutdown_notify: tokio::sync::Notify,
    /// Per-subcommand stats: `sub_stats[i][j]` is subcommand `j` of command
    /// `i` in `table().commands` (empty for plain commands). Redis reports
    /// `cmdstat_client|list`, never the container.
    pub sub_stats: Vec<Vec<CommandStats>>,
    /// Error replies by code (INFO errorstats).
    pub error_stats: Mutex<BTreeMap<String, u64>>,
    pub slowlog: Mutex<Slowlog>,
    /// LATENCY events by name.
    pub latency: Mutex<BTreeMap<&'static str, LatencyEvent>>,
    /// Number of clients in MONITOR mode: the hot path checks only this.
    pub monitor_count: AtomicUsize,
    pub monitors: Mutex<Vec<Arc<ClientShared>>>,
    pub metrics: Mutex<MetricSamples>,
    /// Peak of `used_memory` seen by INFO / MEMORY STATS.
    pub peak_memory: AtomicUsize,
    /// `used_memory` right after start (INFO `used_memory_startup`).
    pub startup_memory: AtomicUsize,
    /// DEBUG SET-ACTIVE-EXPIRE: the background expiry cycle runs only when set.
    pub active_expire_enabled: AtomicBool,
    /// Unix time (s) of the last RESETSTAT or start, for reference.
    pub stat_reset_time: AtomicU64,
    /// WATCHed keys: (db, key) → the clients watching it.
    pub watches: Mutex<crate::cmd::transaction::WatchMap>,
    /// Number of entries in `watches`: write commands check only this.
    pub watch_count: AtomicUsize,
    /// Pub/Sub channels, patterns and shard channels → subscribers.
    pub pubsub: crate::cmd::pubsub::PubSub,
    /// Client-side caching: tracking table, BCAST prefixes, tracking clients.
    pub tracking: crate::tracking::Tracking,
    /// Clients blocked on keys (BLPOP & co.) and CLIENT PAUSE state (H3).
    pub blocking: crate::blocking::Blocking,
    /// This server's own `Arc`, for work that outlives the command that
    /// starts it (the background save thread).
    me: std::sync::Weak<Server>,
}

impl Server {
    /// The `Arc` this server lives in (None only while it is being dropped).
    pub fn arc(&self) -> Option<Arc<Server>> {
        self.me.upgrade()
    }

    /// Build a node from its configuration. `threads` decides the shard count.
    pub fn new(config: Config, threads: usize) -> Arc<Server> {
        let tunables = Arc::new(Tunables::default());
        let databases = config.databases();
        let keyspace = Keyspace::new(threads.max(1), databases, tunables);
        let table = crate::table::table();
        let ncmds = table.len();
        let run_id: String = (0..40)
            .map(|_| {
                let n: u8 = rand::random::<u8>() % 16;
                char::from_digit(u32::from(n), 16).unwrap_or('0')
            })
            .collect();
        let sub_stats = table
            .commands
            .iter()
            .map(|c| {
                c.subcommands
                    .iter()
                    .map(|_| CommandStats::default())
                    .collect()
            })
            .collect();
        let server = Arc::new_cyclic(|me| Server {
            me: me.clone(),
            keyspace,
            config,
            clients: ClientRegistry::new(),
            stats: Stats::default(),
            command_stats: (0..ncmds).map(|_| CommandStats::default()).collect(),
            started: Instant::now(),
            run_id,
            shutdown: AtomicBool::new(false),
            shutdown_notify: tokio::sync::Notify::new(),
            sub_stats,
            error_stats: Mutex::new(BTreeMap::new()),
            slowlog: Mutex::new(Slowlog::default()),
            latency: Mutex::new(BTreeMap::new()),
            monitor_count: AtomicUsize::new(0),
            monitors: Mutex::new(Vec::new()),
            metrics: Mutex::new(MetricSamples::default()),
            peak_memory: AtomicUsize::new(0),
            startup_memory: AtomicUsize::new(ferrocache_engine::memory::used_memory()),
            active_expire_enabled: AtomicBool::new(true),
            stat_reset_time: AtomicU64::new(ferrocache_engine::clock::now_ms() / 1000),
            watches: Mutex::new(Default::default()),
            watch_count: AtomicUsize::new(0),
            pubsub: Default::default(),
            tracking: Default::default(),
            blocking: Default::default(),
        });
        server.config.apply_all(&server);
        server
    }

    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        self.shutdown_notify.notify_waiters();
    }

    /// Stats of the command `spec` (a top-level command or a subcommand of
    /// the command at `top_idx`), as Redis reports them.
    pub fn stats_for(&self, top_idx: usize, sub_idx: Option<usize>) -> Option<&CommandStats> {
        match sub_idx {
            None => self.command_stats.get(top_idx),
            Some(j) => self.sub_stats.get(top_idx).and_then(|v| v.get(j)),
        }
    }

    /// `used_memory`, also tracking its peak.
    pub fn used_memory(&self) -> usize {
        let m = ferrocache_engine::memory::used_memory();
        self.peak_memory.fetch_max(m, Ordering::Relaxed);
        m
    }

    /// Take a sample of the global counters if the last one is at least
    /// 100 ms old (cheap enough to call from INFO and now and then from the
    /// command path).
    pub fn sample_metrics(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        let mut m = self.metrics.lock();
        if let Some(last) = m.samples.back() {
            if now.saturating_sub(last.0) < 100 {
                return;
            }
        }
        if m.samples.len() == METRIC_SAMPLES {
            m.samples.pop_front();
        }
        m.samples.push_back((
            now,
            self.stats.total_commands_processed.load(Ordering::Relaxed),
            self.stats.net_input_bytes.load(Ordering::Relaxed),
            self.stats.net_output_bytes.load(Ordering::Relaxed),
        ));
    }

    /// (ops/sec, input KiB/s, output KiB/s) over the recent samples, like
    /// Redis's `getInstantaneousMetric`. Samples older than the window are
    /// ignored so an idle server reports 0.
    pub fn instantaneous(&self) -> (u64, f64, f64) {
        let m = self.metrics.lock();
        let (Some(first), Some(last)) = (m.samples.front(), m.samples.back()) else {
            return (0, 0.0, 0.0);
        };
        let now = self.started.elapsed().as_millis() as u64;
        let dt = last.0.saturating_sub(first.0);
        if dt == 0 || now.saturating_sub(last.0) > 2000 {
            return (0, 0.0, 0.0);
        }
        let secs = dt as f64 / 1000.0;
        let ops = (last.1.saturating_sub(first.1)) as f64 / secs;
        let inp = (last.2.saturating_sub(first.2)) as f64 / secs / 1024.0;
        let outp = (last.3.saturating_sub(first.3)) as f64 / secs / 1024.0;
        (ops as u64, inp, outp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_cover_values() {
        for v in [
            0u64,
            1,
            7,
            8,
            9,
            15,
            16,
            17,
            100,
            1000,
            123_456,
            u64::MAX / 2,
        ] {
            let i = LatencyHistogram::index(v);
            assert!(LatencyHistogram::upper(i) >= v, "v={v}");
            if i > 0 {
                assert!(LatencyHistogram::upper(i - 1) < v, "v={v}");
            }
        }
    }

    #[test]
    fn histogram_percentiles_and_cdf() {
        let h = LatencyHistogram::new();
        for v in 1..=100 {
            h.record(v);
        }
        let p = h.percentiles(&[50.0, 99.0, 100.0]);
        assert!((50..=56).contains(&p[0]), "{p:?}");
        assert!(p[1] >= 99 && p[2] >= 100, "{p:?}");
        let cdf = h.cumulative_pow2();
        assert_eq!(cdf.last().map(|c| c.1), Some(100));
        assert!(cdf.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
        h.reset();
        assert!(h.cumulative_pow2().is_empty());
    }

    #[test]
    fn latency_event_keeps_max_per_second() {
        let mut e = LatencyEvent::default();
        e.add(10, 5);
        e.add(10, 7);
        e.add(10, 3);
        e.add(11, 2);
        assert_eq!(e.samples, [(10, 7), (11, 2)]);
        assert_eq!(e.max, 7);
        for t in 0..(LATENCY_TS_LEN as u64 + 10) {
            e.add(100 + t, 1);
        }
        assert_eq!(e.samples.len(), LATENCY_TS_LEN);
    }
}
