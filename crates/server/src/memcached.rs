//! Networking for a memcached node (`ferrocache memcached`): the Redis
//! node's listener and workers ([`crate::listener::start`]: one
//! single-threaded runtime per worker, an acceptor handing connections
//! round-robin, a connection living on one worker for its whole life), with
//! this module's connection handler: the memcached protocol state machine
//! ([`ferrocache_memcached::Conn`]) in the read loop, the connection
//! registered for `stats conns` and traced at `-vv`.
//!
//! Backpressure as on the Redis path: replies are written before more input
//! is read (and flushed every [`ferrocache_memcached::conn::FLUSH_AT`] bytes
//! inside a pipeline), so a client that never reads stalls only itself.

use crate::listener::{bind_hosts, ServerError, Service};
use ferrocache_engine::keyspace::ExpireCycler;
use ferrocache_memcached::conns::{log_line, log_slab_classes, tcp_addr, ConnInfo, State};
use ferrocache_memcached::{Conn, Engine, Settings};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const READ_CHUNK: usize = 16 * 1024;

/// A started memcached node.
pub struct RunningMemcached {
    pub engine: Arc<Engine>,
    pub addrs: Vec<SocketAddr>,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl RunningMemcached {
    /// Block until the workers end (the process is stopped by a signal).
    pub fn wait(self) {
        for w in self.workers {
            let _ = w.join();
        }
    }
}

/// The memcached node as a [`Service`] of the shared listener.
struct Memcached {
    eng: Arc<Engine>,
    /// Bound addresses, to name the one a connection came through.
    listen: Vec<SocketAddr>,
}

impl Service for Memcached {
    fn serve(
        self: Arc<Self>,
        worker: usize,
        stream: std::net::TcpStream,
    ) -> impl std::future::Future<Output = ()> + 'static {
        serve(self, worker, stream)
    }

    fn stopping(&self) -> bool {
        self.eng.shutdown.load(Ordering::Acquire)
    }

    fn busy_poll_us(&self) -> u64 {
        self.eng.settings.busy_poll_us
    }
}

/// memcached's `-l` list as bind hosts (default: all IPv4 interfaces).
fn hosts(settings: &Settings) -> Vec<String> {
    if settings.listen.is_empty() {
        return vec!["0.0.0.0".into()];
    }
    settings
        .listen
        .iter()
        .map(|h| {
            if h == "localhost" {
                "127.0.0.1".to_string()
            } else {
                h.clone()
            }
        })
        .collect()
}

/// Start a memcached node; returns once it is listening.
pub fn run_memcached(settings: Settings) -> Result<RunningMemcached, ServerError> {
    let listeners = bind_hosts(&hosts(&settings), settings.port)?;
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let threads = settings.threads.max(1);
    let verbose = settings.verbose;
    if verbose > 1 {
        log_slab_classes(
            settings.item_size_max,
            settings.chunk_size,
            settings.growth_factor,
        );
    }
    let engine = Engine::new(settings);
    for l in &listeners {
        if let Ok(a) = l.local_addr() {
            let fd = l.as_raw_fd();
            engine.conns.add_listener(fd, tcp_addr(&a), engine.now());
            if verbose > 1 {
                log_line(&format!("<{fd} server listening (auto-negotiate)"));
            }
        }
    }
    {
        // Until the control plane pushes a node list, a node describes a
        // cluster of itself.
        let a = addrs.first().copied();
        if let Some(a) = a {
            let host = if a.ip().is_unspecified() {
                "localhost".to_string()
            } else {
                a.ip().to_string()
            };
            let ip = if a.ip().is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                a.ip().to_string()
            };
            let _ = engine.set_cluster(format!("{host}|{ip}|{}", a.port()).as_bytes());
        }
    }
    let service = Arc::new(Memcached {
        eng: engine.clone(),
        listen: addrs.clone(),
    });
    let workers = crate::listener::start(service, listeners, threads, "mc-worker")?;
    // Background: active expiry (10 cycles a second, as Redis's default
    // hz) and delayed flush_all.
    {
        let eng = engine.clone();
        let _ = std::thread::Builder::new()
            .name("mc-cron".into())
            .spawn(move || {
                let mut cycler = ExpireCycler::default();
                while !eng.shutdown.load(Ordering::Acquire) {
                    ferrocache_engine::memory::update_peak();
                    eng.maybe_flush(eng.now());
                    cycler.run(&eng.ks, 10);
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
    }
    engine.set_baseline();
    Ok(RunningMemcached {
        engine,
        addrs,
        workers,
    })
}

/// Unregisters the connection and decrements `curr_connections` however
/// it ends.
struct ConnGuard {
    eng: Arc<Engine>,
    fd: i32,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.eng.curr_conns.fetch_sub(1, Ordering::Relaxed);
        self.eng.conns.close(self.fd);
        if self.eng.verbosity.load(Ordering::Relaxed) > 1 {
            log_line(&format!("<{} connection closed.", self.fd));
        }
    }
}

async fn serve(svc: Arc<Memcached>, worker: usize, std_stream: std::net::TcpStream) {
    let eng = &svc.eng;
    let fd = std_stream.as_raw_fd();
    let peer = std_stream.peer_addr().ok();
    let local = std_stream.local_addr().ok();
    let Ok(mut stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    eng.total_conns.fetch_add(1, Ordering::Relaxed);
    let curr = eng.curr_conns.fetch_add(1, Ordering::Relaxed) + 1;
    // The listening address it came through: the bound one with its port
    // (a wildcard listener reports the wildcard, as memcached does).
    let listen = local.map(|l| {
        svc.listen
            .iter()
            .find(|a| a.port() == l.port() && (a.ip() == l.ip() || a.ip().is_unspecified()))
            .copied()
            .unwrap_or(l)
    });
    let info = eng.conns.open(
        fd,
        peer.map(|p| tcp_addr(&p)).unwrap_or_default(),
        listen.map(|l| tcp_addr(&l)).unwrap_or_default(),
        eng.now(),
    );
    let _guard = ConnGuard {
        eng: eng.clone(),
        fd,
    };
    if eng.verbosity.load(Ordering::Relaxed) > 1 {
        log_line(&format!("<{fd} new auto-negotiating client connection"));
    }
    if curr > eng.settings.maxconns {
        // memcached's maxconns_fast reply.
        eng.rejected_conns.fetch_add(1, Ordering::Relaxed);
        let _ = stream
            .write_all(b"ERROR Too many open connections\r\n")
            .await;
        return;
    }
    let admin = peer.is_some_and(|a| a.ip().is_loopback());
    let mut conn = Conn::new(worker, admin);
    conn.info = Some(info.clone());
    let _ = run(eng, &mut stream, &mut conn, &info).await;
}

async fn run(
    eng: &Engine,
    stream: &mut TcpStream,
    conn: &mut Conn,
    info: &ConnInfo,
) -> std::io::Result<()> {
    let mut inbuf: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut out: Vec<u8> = Vec::with_capacity(READ_CHUNK);
    let mut start = 0usize;
    let mut need = 1usize;
    loop {
        if start > 0 && (start == inbuf.len() || start > inbuf.len() / 2) {
            inbuf.drain(..start);
            start = 0;
        }
        let want = need.saturating_sub(inbuf.len() - start).max(READ_CHUNK);
        inbuf.reserve(want);
        let n = stream.read_buf(&mut inbuf).await?;
        if n == 0 {
            return Ok(());
        }
        crate::busy_poll::activity();
        conn.count_io(eng, n as u64, 0);
        if inbuf.len() - start < need {
            continue;
        }
        // One clock read per batch: the requests of this read use it.
        let now = eng.now();
        conn.clock_ms = now;
        info.set_state(State::ParseCmd, now);
        loop {
            let p = conn.process(eng, inbuf.get(start..).unwrap_or(&[]), &mut out);
            start += p.consumed;
            need = p.need.max(1);
            if !out.is_empty() {
                stream.write_all(&out).await?;
                conn.count_io(eng, 0, out.len() as u64);
                out.clear();
                if out.capacity() > 4 * READ_CHUNK {
                    out.shrink_to(READ_CHUNK);
                }
            }
            if conn.close {
                return Ok(());
            }
            // need == 0: stopped to flush, more requests are waiting.
            if p.need != 0 || start >= inbuf.len() {
                break;
            }
            // The write may have waited for the client: re-read the clock.
            conn.clock_ms = eng.now();
        }
        let waiting = if conn.in_data {
            State::Nread
        } else {
            State::Read
        };
        info.set_state(waiting, 0);
        if inbuf.capacity() > 4 * READ_CHUNK && inbuf.len() - start < READ_CHUNK {
            inbuf.drain(..start);
            start = 0;
            inbuf.shrink_to(READ_CHUNK.max(need));
        }
    }
}
