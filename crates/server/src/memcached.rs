//! Networking for a memcached node (`ferrocache memcached`): the same
//! threading model as the Redis node (one single-threaded runtime per
//! worker, an acceptor handing connections round-robin, a connection living
//! on one worker for its whole life), with the memcached protocol state
//! machine ([`ferrocache_memcached::Conn`]) in the read loop.
//!
//! Backpressure as on the Redis path: replies are written before more input
//! is read (and flushed every [`ferrocache_memcached::conn::FLUSH_AT`] bytes
//! inside a pipeline), so a client that never reads stalls only itself.

use crate::listener::ServerError;
use ferrocache_engine::keyspace::ExpireCycler;
use ferrocache_memcached::{Conn, Engine, Settings};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

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

fn bind(settings: &Settings) -> Result<Vec<std::net::TcpListener>, ServerError> {
    let hosts: Vec<String> = if settings.listen.is_empty() {
        vec!["0.0.0.0".into()]
    } else {
        settings.listen.clone()
    };
    let mut out = Vec::new();
    for h in hosts {
        let host = if h == "localhost" {
            "127.0.0.1".to_string()
        } else {
            h.clone()
        };
        let addr: SocketAddr = if host.contains(':') {
            format!("[{host}]:{}", settings.port)
        } else {
            format!("{host}:{}", settings.port)
        }
        .parse()
        .map_err(|_| ServerError::BadAddress(h.clone()))?;
        let l = std::net::TcpListener::bind(addr).map_err(|source| ServerError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        out.push(l);
    }
    Ok(out)
}

/// Start a memcached node; returns once it is listening.
pub fn run_memcached(settings: Settings) -> Result<RunningMemcached, ServerError> {
    let listeners = bind(&settings)?;
    let addrs: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let threads = settings.threads.max(1);
    let engine = Engine::new(settings);
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
    let mut senders = Vec::new();
    let mut workers = Vec::new();
    for i in 0..threads {
        let (tx, mut rx) = mpsc::unbounded_channel::<std::net::TcpStream>();
        senders.push(tx);
        let eng = engine.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        let h = std::thread::Builder::new()
            .name(format!("mc-worker-{i}"))
            .spawn(move || {
                rt.block_on(async move {
                    let local = tokio::task::LocalSet::new();
                    local
                        .run_until(async move {
                            while let Some(s) = rx.recv().await {
                                let eng = eng.clone();
                                tokio::task::spawn_local(async move {
                                    serve(eng, i, s).await;
                                });
                            }
                        })
                        .await;
                });
            })
            .map_err(ServerError::Runtime)?;
        workers.push(h);
    }
    for l in listeners {
        let senders = senders.clone();
        let eng = engine.clone();
        std::thread::Builder::new()
            .name("mc-acceptor".into())
            .spawn(move || {
                let mut next = 0usize;
                for stream in l.incoming() {
                    if eng.shutdown.load(Ordering::Acquire) {
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
                    if senders
                        .get(next % n)
                        .is_none_or(|s| s.send(stream).is_err())
                    {
                        break;
                    }
                    next = next.wrapping_add(1);
                }
            })
            .map_err(ServerError::Runtime)?;
    }
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

/// Decrements `curr_connections` however the connection ends.
struct ConnGuard(Arc<Engine>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.curr_conns.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve(eng: Arc<Engine>, worker: usize, std_stream: std::net::TcpStream) {
    let Ok(mut stream) = TcpStream::from_std(std_stream) else {
        return;
    };
    eng.total_conns.fetch_add(1, Ordering::Relaxed);
    let curr = eng.curr_conns.fetch_add(1, Ordering::Relaxed) + 1;
    let _guard = ConnGuard(eng.clone());
    if curr > eng.settings.maxconns {
        // memcached's maxconns_fast reply.
        eng.rejected_conns.fetch_add(1, Ordering::Relaxed);
        let _ = stream
            .write_all(b"ERROR Too many open connections\r\n")
            .await;
        return;
    }
    let admin = stream.peer_addr().is_ok_and(|a| a.ip().is_loopback());
    let mut conn = Conn::new(worker, admin);
    let _ = run(&eng, &mut stream, &mut conn).await;
}

async fn run(eng: &Engine, stream: &mut TcpStream, conn: &mut Conn) -> std::io::Result<()> {
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
        conn.count_io(eng, n as u64, 0);
        if inbuf.len() - start < need {
            continue;
        }
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
        }
        if inbuf.capacity() > 4 * READ_CHUNK && inbuf.len() - start < READ_CHUNK {
            inbuf.drain(..start);
            start = 0;
            inbuf.shrink_to(READ_CHUNK.max(need));
        }
    }
}
