//! Binding, accepting, and distributing connections over worker threads.

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

fn bind_addrs(config: &Config) -> Result<Vec<std::net::TcpListener>, ServerError> {
    let port = config.port();
    let mut binds = config.bind();
    if binds.is_empty() {
        binds.push("*".into());
    }
    let mut listeners = Vec::new();
    for b in &binds {
        let host = match b.as_str() {
            "*" => "0.0.0.0",
            "::*" => "::",
            other => other,
        };
        let addr: SocketAddr = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
        .parse()
        .map_err(|_| ServerError::BadAddress(b.clone()))?;
        match std::net::TcpListener::bind(addr) {
            Ok(l) => listeners.push(l),
            // Like Redis, an IPv6 wildcard that is not available is skipped
            // when other addresses bound.
            Err(e) if host == "::" && !listeners.is_empty() => {
                let _ = e;
            }
            Err(e) if host == "::" && binds.len() > 1 => {
                let _ = e;
            }
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

    let mut senders = Vec::new();
    let mut workers = Vec::new();
    for i in 0..threads {
        let (tx, mut rx) = mpsc::unbounded_channel::<std::net::TcpStream>();
        senders.push(tx);
        let server = server.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        let h = std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || {
                rt.block_on(async move {
                    let local = tokio::task::LocalSet::new();
                    local
                        .run_until(async move {
                            loop {
                                tokio::select! {
                                    s = rx.recv() => match s {
                                        Some(s) => {
                                            let server = server.clone();
                                            tokio::task::spawn_local(async move {
                                                serve_connection(server, s).await;
                                            });
                                        }
                                        None => break,
                                    },
                                    _ = server.shutdown_notify.notified() => break,
                                }
                                if server.shutdown.load(std::sync::atomic::Ordering::Acquire) {
                                    break;
                                }
                            }
                        })
                        .await;
                });
            })
            .map_err(ServerError::Runtime)?;
        workers.push(h);
    }

    // Acceptors: one thread per listening socket, blocking accept.
    for l in listeners {
        let senders = senders.clone();
        let server = server.clone();
        let h = std::thread::Builder::new()
            .name("acceptor".into())
            .spawn(move || {
                let mut next = 0usize;
                for stream in l.incoming() {
                    if server.shutdown.load(std::sync::atomic::Ordering::Acquire) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = stream.set_nodelay(true);
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let n = senders.len();
                    if n == 0 {
                        break;
                    }
                    if senders[next % n].send(stream).is_err() {
                        break;
                    }
                    next = next.wrapping_add(1);
                }
            })
            .map_err(ServerError::Runtime)?;
        // Acceptor threads block in accept(); they end with the process.
        drop(h);
    }

    crate::background::start(server.clone());
    Ok(RunningNode {
        server,
        addrs,
        workers,
    })
}
