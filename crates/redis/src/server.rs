//! Node-wide state shared by all connections and threads.

use crate::client::ClientRegistry;
use crate::config::Config;
use ferrocache_engine::keyspace::Tunables;
use ferrocache_engine::Keyspace;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
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
}

/// Per-command counters (INFO commandstats).
#[derive(Debug, Default)]
pub struct CommandStats {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub rejected_calls: AtomicU64,
    pub failed_calls: AtomicU64,
}

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
}

impl Server {
    /// Build a node from its configuration. `threads` decides the shard count.
    pub fn new(config: Config, threads: usize) -> Arc<Server> {
        let tunables = Arc::new(Tunables::default());
        let databases = config.databases();
        let keyspace = Keyspace::new(threads.max(1), databases, tunables);
        let ncmds = crate::table::table().len();
        let run_id: String = (0..40)
            .map(|_| {
                let n: u8 = rand::random::<u8>() % 16;
                char::from_digit(u32::from(n), 16).unwrap_or('0')
            })
            .collect();
        let server = Arc::new(Server {
            keyspace,
            config,
            clients: ClientRegistry::new(),
            stats: Stats::default(),
            command_stats: (0..ncmds).map(|_| CommandStats::default()).collect(),
            started: Instant::now(),
            run_id,
            shutdown: AtomicBool::new(false),
            shutdown_notify: tokio::sync::Notify::new(),
        });
        server.config.apply_all(&server);
        server
    }

    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        self.shutdown_notify.notify_waiters();
    }
}
