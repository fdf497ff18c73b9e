//! Stable endpoints: a TCP forwarder owned by the control plane listens on
//! a fixed port for the life of a resource (a replication group's primary
//! endpoint, a memcached cluster's configuration endpoint) and relays each
//! connection to the node currently behind it. Nodes can be replaced
//! without clients changing address. One thread per direction with
//! TCP_NODELAY on both legs: the added latency is one loopback hop.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Forwarder {
    target: Arc<Mutex<Option<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    port: u16,
}

/// Every forwarder of the control plane, by listening port.
#[derive(Default)]
pub struct Forwarders {
    map: Mutex<HashMap<u16, Forwarder>>,
}

impl Forwarders {
    /// Makes sure a forwarder listens on `port` and relays to `target`
    /// (None: accept and close, e.g. while the node is being replaced).
    pub fn ensure(&self, port: u16, target: Option<SocketAddr>) -> std::io::Result<()> {
        let mut map = self.map.lock();
        if let Some(f) = map.get(&port) {
            *f.target.lock() = target;
            return Ok(());
        }
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let f = Forwarder {
            target: Arc::new(Mutex::new(target)),
            stop: Arc::new(AtomicBool::new(false)),
            port,
        };
        let (t, stop) = (f.target.clone(), f.stop.clone());
        std::thread::Builder::new()
            .name(format!("fwd-{port}"))
            .spawn(move || accept_loop(listener, t, stop))?;
        map.insert(port, f);
        Ok(())
    }

    /// Stops the forwarder on `port` (existing connections run out).
    pub fn remove(&self, port: u16) {
        if let Some(f) = self.map.lock().remove(&port) {
            f.stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept.
            let _ = TcpStream::connect_timeout(
                &SocketAddr::from(([127, 0, 0, 1], f.port)),
                Duration::from_millis(200),
            );
        }
    }

    pub fn ports(&self) -> Vec<u16> {
        self.map.lock().keys().copied().collect()
    }
}

fn accept_loop(l: TcpListener, target: Arc<Mutex<Option<SocketAddr>>>, stop: Arc<AtomicBool>) {
    for conn in l.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = conn else { continue };
        let Some(addr) = *target.lock() else {
            continue; // dropped: closes the connection
        };
        std::thread::spawn(move || {
            let Ok(server) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
                return;
            };
            client.set_nodelay(true).ok();
            server.set_nodelay(true).ok();
            let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                return;
            };
            let up = std::thread::spawn(move || pump(client, server));
            pump(s2, c2);
            let _ = up.join();
        });
    }
}

/// Copies `from` → `to` until EOF, then half-closes `to`.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(buf.get(..n).unwrap_or(&[])).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
