//! Per-connection state and the registry of connected clients.
//!
//! [`ClientState`] is owned by the connection's task and passed to every
//! command. [`ClientShared`] is the part other connections may read or act on
//! (CLIENT LIST, CLIENT KILL, MONITOR feeds), kept behind an `Arc` in the
//! [`ClientRegistry`].

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// CLIENT REPLY mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReplyMode {
    #[default]
    On,
    Off,
    /// Skip the reply of the next command only.
    Skip,
    /// Internal: the command after SKIP is running.
    SkipThis,
}

/// What other parts of the server can see of, or do to, a connection.
#[derive(Debug)]
pub struct ClientShared {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    pub name: Mutex<Option<Vec<u8>>>,
    /// Milliseconds since `created` of the last command.
    pub last_interaction_ms: AtomicU64,
    pub db: AtomicUsize,
    pub last_cmd: Mutex<&'static str>,
    pub resp: AtomicUsize,
    pub flags: Mutex<String>,
    /// Bytes waiting in the query buffer (for CLIENT LIST `qbuf`).
    pub qbuf: AtomicUsize,
    /// Bytes of replies waiting to be written (`omem`).
    pub omem: AtomicUsize,
    pub user: Mutex<String>,
    pub no_evict: AtomicBool,
    killed: AtomicBool,
    /// Wakes the connection's task when it is killed or has pushes to send.
    pub wake: tokio::sync::Notify,
    /// Out-of-band messages for this connection (MONITOR feed, later pub/sub).
    pub pushes: Mutex<Vec<u8>>,
    pub monitor: AtomicBool,
}

impl ClientShared {
    pub fn new(id: u64, addr: Option<SocketAddr>, laddr: Option<SocketAddr>) -> Self {
        ClientShared {
            id,
            addr: addr.map(|a| a.to_string()).unwrap_or_default(),
            laddr: laddr.map(|a| a.to_string()).unwrap_or_default(),
            created: Instant::now(),
            name: Mutex::new(None),
            last_interaction_ms: AtomicU64::new(0),
            db: AtomicUsize::new(0),
            last_cmd: Mutex::new("NULL"),
            resp: AtomicUsize::new(2),
            flags: Mutex::new(String::from("N")),
            qbuf: AtomicUsize::new(0),
            omem: AtomicUsize::new(0),
            user: Mutex::new(String::from("default")),
            no_evict: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
            pushes: Mutex::new(Vec::new()),
            monitor: AtomicBool::new(false),
        }
    }

    /// Ask the connection to close as soon as it can.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Acquire)
    }

    pub fn touch(&self) {
        let ms = self.created.elapsed().as_millis() as u64;
        self.last_interaction_ms.store(ms, Ordering::Relaxed);
    }

    /// Seconds since the last command.
    pub fn idle_secs(&self) -> u64 {
        let now = self.created.elapsed().as_millis() as u64;
        now.saturating_sub(self.last_interaction_ms.load(Ordering::Relaxed)) / 1000
    }

    /// Queue bytes to be sent to this client out of band and wake it.
    pub fn push_bytes(&self, bytes: &[u8]) {
        self.pushes.lock().extend_from_slice(bytes);
        self.wake.notify_one();
    }
}

/// State owned by one connection and handed to every command it runs.
#[derive(Debug)]
pub struct ClientState {
    pub id: u64,
    pub db: usize,
    pub authenticated: bool,
    pub reply_mode: ReplyMode,
    /// Set by QUIT, protocol errors, CLIENT KILL of self: close once the
    /// pending replies are written.
    pub close_after_reply: bool,
    pub shared: Arc<ClientShared>,
}

impl ClientState {
    pub fn new(shared: Arc<ClientShared>, authenticated: bool) -> Self {
        ClientState {
            id: shared.id,
            db: 0,
            authenticated,
            reply_mode: ReplyMode::On,
            close_after_reply: false,
            shared,
        }
    }
}

/// All connected clients by id.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientShared>>>,
}

impl ClientRegistry {
    pub fn new() -> Self {
        ClientRegistry {
            next_id: AtomicU64::new(1),
            clients: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn register(&self, c: Arc<ClientShared>) {
        self.clients.lock().insert(c.id, c);
    }

    pub fn unregister(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientShared>> {
        self.clients.lock().get(&id).cloned()
    }

    /// A snapshot of all clients, ordered by id.
    pub fn all(&self) -> Vec<Arc<ClientShared>> {
        self.clients.lock().values().cloned().collect()
    }
}
