//! Binding, accepting, and distributing connections over worker threads,
//! for both kinds of node: a node is a [`Service`] (how to serve one
//! connection, when to stop), and [`start`] runs it on `N` workers.

use crate::connection::serve_connection;
use ferrocache_redis::config::Config;
use ferrocache_redis::Server;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("could not bind {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("could not start runtime: {0}")]
    Runtime(std::io::Error),
    #[error("invalid bind address '{0}'")]
    BadAddress(String),
    /// The snapshot at start could not be loaded (cmd/persist.rs).
    #[error("{0}")]
    Load(String),
}

/// A started node: its server state and bound addresses.
pub struct RunningNode {
    pub server: Arc<Server>,
    pub addrs: Vec<SocketAddr>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl RunningNode {
    /// Block until the node shuts down (SHUTDOWN command or signal).
    pub fn wait(self) {
        for w in self.workers {
            let _ = w.join();
        }
    }
}

/// What a node plugs into the shared listener and worker threads: how to
/// serve one connection, and when to stop. The Redis node
/// ([`run_redis`]) and the memcached node
/// ([`crate::memcached::run_memcached`]) differ only in this; threading,
/// accepting, and connection placement are one mechanism.
pub(crate) trait Service: Send + Sync + 'static {
    /// Serve one accepted connection on worker `worker` until it ends. Runs
    /// as a local task on that worker's runtime (the future need not be
    /// `Send`: a connection never moves between threads).
    fn serve(
        self: Arc<Self>,
        worker: usize,
        stream: std::net::TcpStream,
    ) -> impl std::future::Future<Output = ()> + 'static;

    /// True once the node is shutting down (workers and acceptors end).
    fn stopping(&self) -> bool;

    /// Woken on shutdown, so idle workers notice at once (None: workers end
    /// with the process).
    fn stop_signal(&self) -> Option<&tokio::sync::Notify> {
        None
    }

    /// The busy-poll window in µs (0: workers sleep as soon as they are
    /// idle); see [`crate::busy_poll`].
    fn busy_poll_us(&self) -> u64;
}

/// Bind `hosts` (IP literals; `0.0.0.0` / `::` wildcards) on `port`. An IPv6
/// wildcard that is not available is skipped when other addresses bind, as
/// Redis does.
pub(crate) fn bind_hosts(
    hosts: &[String],
    port: u16,
) -> Result<Vec<std::net::TcpListener>, ServerError> {
    let mut listeners = Vec::new();
    for host in hosts {
        let addr: SocketAddr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
        .parse()
        .map_err(|_| ServerError::BadAddress(host.clone()))?;
        match std::net::TcpListener::bind(addr) {
            Ok(l) => listeners.push(l),
            Err(_) if host == "::" && (!listeners.is_empty() || hosts.len() > 1) => {}
            Err(source) => {
                return Err(ServerError::Bind {
                    addr: addr.to_string(),
                    source,
                })
            }
        }
    }
    Ok(listeners)
}

/// Start `threads` workers (each its own single-threaded runtime, named
/// `{name}-{i}`) and one acceptor thread per listener handing connections
/// to the workers round-robin. Returns the worker join handles.
pub(crate) fn start<S: Service>(
    service: Arc<S>,
    listeners: Vec<std::net::TcpListener>,
    threads: usize,
    name: &str,
) -> Result<Vec<std::thread::JoinHandle<()>>, ServerError> {
    let mut senders = Vec::new();
    let mut workers = Vec::new();
    for i in 0..threads.max(1) {
        let (tx, rx) = mpsc::unbounded_channel::<std::net::TcpStream>();
        senders.push(tx);
        let service = service.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        let h = std::thread::Builder::new()
            .name(format!("{name}-{i}"))
            .spawn(move || {
                rt.block_on(async move {
                    let local = tokio::task::LocalSet::new();
                    let polled = service.clone();
                    local.spawn_local(crate::busy_poll::run(move || polled.busy_poll_us()));
                    local.run_until(worker_loop(service, i, rx)).await;
                });
            })
            .map_err(ServerError::Runtime)?;
        workers.push(h);
    }
    for l in listeners {
        let senders = senders.clone();
        let service = service.clone();
        // Acceptor threads block in accept(); they end with the process.
        std::thread::Builder::new()
            .name(format!("{name}-acceptor"))
            .spawn(move || accept_loop(&*service, l, &senders))
            .map_err(ServerError::Runtime)?;
    }
    Ok(workers)
}

async fn worker_loop<S: Service>(
    service: Arc<S>,
    worker: usize,
    mut rx: mpsc::UnboundedReceiver<std::net::TcpStream>,
) {
    loop {
        let next = match service.stop_signal() {
            Some(stop) => tokio::select! {
                s = rx.recv() => s,
                _ = stop.notified() => None,
            },
            None => rx.recv().await,
        };
        let Some(stream) = next else { break };
        tokio::task::spawn_local(service.clone().serve(worker, stream));
        if service.stopping() {
            break;
        }
    }
}

fn accept_loop<S: Service>(
    service: &S,
    l: std::net::TcpListener,
    senders: &[mpsc::UnboundedSender<std::net::TcpStream>],
) {
    let mut next = 0usize;
    for stream in l.incoming() {
        if service.stopping() {
            break;
        }
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        if stream.set_nonblocking(true).is_err() {
            continue;
        }
        let n = senders.len();
        if n == 0
            || senders
                .get(next % n)
                .is_none_or(|s| s.send(stream).is_err())
        {
            break;
        }
        next = next.wrapping_add(1);
    }
}

impl Service for Server {
    fn serve(
        self: Arc<Self>,
        _worker: usize,
        stream: std::net::TcpStream,
    ) -> impl std::future::Future<Output = ()> + 'static {
        serve_connection(self, stream)
    }

    fn stopping(&self) -> bool {
        self.shutdown.load(std::sync::atomic::Ordering::Acquire)
    }

    fn stop_signal(&self) -> Option<&tokio::sync::Notify> {
        Some(&self.shutdown_notify)
    }

    fn busy_poll_us(&self) -> u64 {
        // Polling keeps the core busy: a background save (a SCHED_IDLE
        // thread, or a forked child at nice 19) would get no CPU from a
        // loaded node. Sleep while one runs.
        if ferrocache_redis::cmd::persist::bgsave_in_progress() {
            return 0;
        }
        self.config
            .hot()
            .busy_poll_us
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn bind_addrs(config: &Config) -> Result<Vec<std::net::TcpListener>, ServerError> {
    let port = config.port();
    let mut binds = config.bind();
    if binds.is_empty() {
        binds.push("*".into());
    }
    let hosts: Vec<String> = binds
        .iter()
        .map(|b| match b.as_str() {
            "*" => "0.0.0.0".to_string(),
            "::*" => "::".to_string(),
            other => other.to_string(),
        })
        .collect();
    bind_hosts(&hosts, port)
}

/// Start a Redis node with `config`; returns once it is listening.
///
/// `threads` overrides `io-threads` (the binary passes the core count when
/// neither `--threads` nor `io-threads` was configured, so `CONFIG GET
/// io-threads` still reports what the user configured).
pub fn run_redis(config: Config, threads: Option<usize>) -> Result<RunningNode, ServerError> {
    let threads = threads.unwrap_or_else(|| config.threads()).max(1);
    let listeners = bind_addrs(&config)?;
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let server = Server::new(config, threads);
    // Persistence: load dir/dbfilename before serving (cmd/persist.rs).
    match ferrocache_redis::cmd::persist::load_at_start(&server) {
        Ok(Some(msg)) => crate::log::log(crate::log::Level::Notice, &msg),
        Ok(None) => {}
        Err(e) => return Err(ServerError::Load(e)),
    }
    let workers = start(server.clone(), listeners, threads, "worker")?;
    crate::background::start(server.clone());
    Ok(RunningNode {
        server,
        addrs,
        workers,
    })
}
