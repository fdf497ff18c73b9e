//! Stable endpoints: a TCP forwarder owned by the control plane listens on
//! a fixed port for the life of a resource (a replication group's primary
//! endpoint, a memcached cluster's configuration endpoint) and relays each
//! connection to the node currently behind it. Nodes can be replaced
//! without clients changing address.
//!
//! Event-driven: a small pool of single-threaded tokio runtimes serves
//! every forwarder. Each listener is an accept task; each accepted
//! connection becomes one task relaying both directions ([`relay`],
//! TCP_NODELAY on both legs), placed on the runtimes round-robin. A
//! connection costs a task and two buffers, not two threads, and a
//! request/reply costs two reads and two writes (no EAGAIN reads) instead
//! of thread wakeups and context switches.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::runtime::Handle;

type Target = Arc<Mutex<Option<SocketAddr>>>;

struct Forwarder {
    target: Target,
    accept: tokio::task::JoinHandle<()>,
}

struct Pool {
    handles: Vec<Handle>,
    next: AtomicUsize,
}

impl Pool {
    fn pick(&self) -> Option<&Handle> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.handles.get(n % self.handles.len().max(1))
    }
}

/// Every forwarder of the control plane, by listening port.
pub struct Forwarders {
    map: Mutex<HashMap<u16, Forwarder>>,
    pool: Arc<Pool>,
}

impl Forwarders {
    /// Starts the forwarding runtimes (threads `fwd-0`, …).
    pub fn new() -> std::io::Result<Forwarders> {
        // FERROCACHE_FORWARD_THREADS overrides the default (one thread:
        // on small machines the node and its clients need the other cores,
        // and one epoll loop batches the wakeups of many connections).
        let threads = std::env::var("FERROCACHE_FORWARD_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(1)
            .clamp(1, 64);
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(rt.handle().clone());
            std::thread::Builder::new()
                .name(format!("fwd-{i}"))
                .spawn(move || rt.block_on(std::future::pending::<()>()))?;
        }
        Ok(Forwarders {
            map: Mutex::new(HashMap::new()),
            pool: Arc::new(Pool {
                handles,
                next: AtomicUsize::new(0),
            }),
        })
    }

    /// Makes sure a forwarder listens on `port` and relays to `target`
    /// (None: accept and close, e.g. while the node is being replaced).
    pub fn ensure(&self, port: u16, target: Option<SocketAddr>) -> std::io::Result<()> {
        let mut map = self.map.lock();
        if let Some(f) = map.get(&port) {
            *f.target.lock() = target;
            return Ok(());
        }
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
        std_listener.set_nonblocking(true)?;
        let Some(h) = self.pool.handles.first() else {
            return Err(std::io::Error::other("no forwarding runtime"));
        };
        let listener = {
            let _g = h.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let t: Target = Arc::new(Mutex::new(target));
        let accept = h.spawn(accept_loop(listener, t.clone(), self.pool.clone()));
        map.insert(port, Forwarder { target: t, accept });
        Ok(())
    }

    /// Stops the forwarder on `port`: the listener closes at once (the port
    /// is free again); existing connections run out.
    pub fn remove(&self, port: u16) {
        if let Some(f) = self.map.lock().remove(&port) {
            f.accept.abort();
        }
    }

    pub fn ports(&self) -> Vec<u16> {
        self.map.lock().keys().copied().collect()
    }
}

async fn accept_loop(l: tokio::net::TcpListener, target: Target, pool: Arc<Pool>) {
    loop {
        let client = match l.accept().await {
            Ok((c, _)) => c,
            Err(_) => {
                // Out of descriptors and the like: back off, keep serving.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(addr) = *target.lock() else {
            continue; // dropped: closes the connection
        };
        let Ok(std_client) = client.into_std() else {
            continue;
        };
        let Some(h) = pool.pick() else { continue };
        h.spawn(async move {
            let connect = tokio::net::TcpStream::connect(addr);
            let Ok(Ok(server)) = tokio::time::timeout(Duration::from_secs(2), connect).await else {
                return;
            };
            let Ok(std_server) = server.into_std() else {
                return;
            };
            let _ = relay(std_client, std_server).await;
        });
    }
}

/// Relays both directions until both are closed. Reads are edge-triggered
/// (AsyncFd): a read shorter than the buffer drained the socket, so the
/// readiness is cleared without the extra read that would return EAGAIN.
/// Any new data raises a new edge. Writes go straight to the socket and
/// only wait when it is full. A request/reply through the forwarder costs
/// two reads and two writes.
async fn relay(client: std::net::TcpStream, server: std::net::TcpStream) -> std::io::Result<()> {
    client.set_nodelay(true)?;
    server.set_nodelay(true)?;
    client.set_nonblocking(true)?;
    server.set_nonblocking(true)?;
    // SAFETY: each AsyncFd owns its TcpStream, which owns the descriptor:
    // it stays open and the same until the AsyncFd is dropped.
    let c = unsafe { AsyncFd::register(client)? };
    let s = unsafe { AsyncFd::register(server)? };
    let mut up = vec![0u8; BUF];
    let mut down = vec![0u8; BUF];
    let (mut c_open, mut s_open) = (true, true);
    while c_open || s_open {
        tokio::select! {
            g = c.readable(), if c_open => {
                c_open = pump(g?, &s, &mut up).await?;
            }
            g = s.readable(), if s_open => {
                s_open = pump(g?, &c, &mut down).await?;
            }
        }
    }
    Ok(())
}

const BUF: usize = 32 * 1024;

/// One read from the ready side and its write to the other. False at EOF
/// (the other side's write half is then shut down).
async fn pump(
    mut g: tokio::io::unix::AsyncFdReadyGuard<'_, std::net::TcpStream>,
    to: &AsyncFd<std::net::TcpStream>,
    buf: &mut [u8],
) -> std::io::Result<bool> {
    let n = match g.try_io(|fd| fd.get_ref().read(buf)) {
        Ok(r) => r?,
        Err(_would_block) => return Ok(true),
    };
    if n == 0 {
        let _ = to.get_ref().shutdown(Shutdown::Write);
        return Ok(false);
    }
    if n < buf.len() {
        g.clear_ready();
    }
    drop(g);
    let mut data = buf.get(..n).unwrap_or(&[]);
    while !data.is_empty() {
        match to.get_ref().write(data) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(k) => data = data.get(k..).unwrap_or(&[]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                to.writable().await?.clear_ready();
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relays_retargets_and_stops() {
        let echo = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let echo_addr = echo.local_addr().expect("addr");
        std::thread::spawn(move || {
            for s in echo.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut s = s;
                    let mut b = [0u8; 1024];
                    while let Ok(n) = s.read(&mut b) {
                        if n == 0 || s.write_all(&b[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let f = Forwarders::new().expect("runtimes");
        f.ensure(port, Some(echo_addr)).expect("ensure");
        for _ in 0..3 {
            let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            c.set_read_timeout(Some(Duration::from_secs(5))).ok();
            c.write_all(b"hello").expect("write");
            let mut b = [0u8; 5];
            c.read_exact(&mut b).expect("read");
            assert_eq!(&b, b"hello");
        }
        // No target: accepted and closed.
        f.ensure(port, None).expect("ensure");
        let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut b = [0u8; 1];
        assert_eq!(c.read(&mut b).unwrap_or(0), 0);
        f.remove(port);
        let t = std::time::Instant::now();
        while std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
            assert!(t.elapsed() < Duration::from_secs(5), "port not released");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
