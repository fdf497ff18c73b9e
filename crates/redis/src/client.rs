//! Per-connection state and the registry of connected clients.
//!
//! [`ClientState`] is owned by the connection's task and passed to every
//! command. [`ClientShared`] is the part other connections may read or act on
//! (CLIENT LIST, CLIENT KILL, MONITOR feeds), kept behind an `Arc` in the
//! [`ClientRegistry`].

use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
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
    /// The last command run, packed as `(top + 1) << 16 | (sub + 1)` with
    /// indexes into `table().commands`; 0 = none yet (`cmd=NULL`). An atomic
    /// rather than a string so recording it costs one store per command.
    pub last_cmd: AtomicU32,
    pub resp: AtomicUsize,
    /// Socket file descriptor for CLIENT LIST `fd` (-1 when unknown, as
    /// Redis shows for fake clients); the network layer may set it.
    pub fd: AtomicI64,
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
    /// A key this client WATCHes was modified: its next EXEC fails.
    pub watch_dirty: AtomicBool,
    /// Pub/Sub subscription counts (channels, patterns, shard channels) for
    /// CLIENT LIST `sub=`/`psub=`/`ssub=` and the `P` flag; the sets
    /// themselves live in `ClientState::pubsub`, owned by the connection.
    pub subs: AtomicUsize,
    pub psubs: AtomicUsize,
    pub ssubs: AtomicUsize,
    /// Bytes queued with `push_bytes`/`push_limited` and not yet written to
    /// the socket: what the pub/sub output buffer limit is checked against.
    pub push_pending: AtomicUsize,
    /// Milliseconds since `created` (plus one, 0 = not over) at which
    /// `push_pending` first went over the soft output buffer limit.
    soft_limit_since: AtomicU64,
    /// Blocked on keys or postponed by CLIENT PAUSE (CLIENT LIST `b`).
    pub blocked: AtomicBool,
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
            last_cmd: AtomicU32::new(0),
            resp: AtomicUsize::new(2),
            fd: AtomicI64::new(-1),
            qbuf: AtomicUsize::new(0),
            omem: AtomicUsize::new(0),
            user: Mutex::new(String::from("default")),
            no_evict: AtomicBool::new(false),
            killed: AtomicBool::new(false),
            wake: tokio::sync::Notify::new(),
            pushes: Mutex::new(Vec::new()),
            monitor: AtomicBool::new(false),
            watch_dirty: AtomicBool::new(false),
            subs: AtomicUsize::new(0),
            psubs: AtomicUsize::new(0),
            ssubs: AtomicUsize::new(0),
            push_pending: AtomicUsize::new(0),
            soft_limit_since: AtomicU64::new(0),
            blocked: AtomicBool::new(false),
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
        self.push_pending.fetch_add(bytes.len(), Ordering::Relaxed);
        self.wake.notify_one();
    }

    /// Record the command being run (see `last_cmd`).
    pub fn set_last_cmd(&self, top: usize, sub: Option<usize>) {
        let packed = ((top as u32 + 1) << 16) | sub.map_or(0, |s| s as u32 + 1);
        self.last_cmd.store(packed, Ordering::Relaxed);
    }

    /// Subscribed to any channel, pattern or shard channel (Redis's
    /// `CLIENT_PUBSUB`: set by the subscribe commands, cleared when the last
    /// subscription goes, so it is exactly "has a subscription").
    pub fn is_pubsub(&self) -> bool {
        self.subs.load(Ordering::Relaxed)
            + self.psubs.load(Ordering::Relaxed)
            + self.ssubs.load(Ordering::Relaxed)
            > 0
    }

    /// Queue a pub/sub message unless that takes this client over its
    /// output buffer limit `(hard, soft, soft_seconds)` (0 = no limit), in
    /// which case the client is killed instead, as Redis's
    /// `closeClientOnOutputBufferLimitReached`. The check is O(1), so the
    /// publisher's cost never depends on how slow a subscriber is.
    /// Returns false when the message was not queued.
    pub fn push_limited(&self, bytes: &[u8], limit: (u64, u64, i64)) -> bool {
        if self.is_killed() {
            return false;
        }
        let (hard, soft, soft_secs) = limit;
        let pending = (self.push_pending.load(Ordering::Relaxed) + bytes.len()) as u64;
        let mut over = hard > 0 && pending >= hard;
        if !over && soft > 0 && pending >= soft {
            let now = self.created.elapsed().as_millis() as u64 + 1;
            let since = self.soft_limit_since.load(Ordering::Relaxed);
            if since == 0 {
                self.soft_limit_since.store(now, Ordering::Relaxed);
            } else if now.saturating_sub(since) / 1000 >= soft_secs.max(0) as u64 {
                over = true;
            }
        } else if !over {
            self.soft_limit_since.store(0, Ordering::Relaxed);
        }
        if over {
            // Free the queued bytes now: the connection may take a while to
            // notice it is dead, and its memory is the point of the limit.
            let freed = std::mem::take(&mut *self.pushes.lock());
            self.push_pending.fetch_sub(freed.len(), Ordering::Relaxed);
            self.kill();
            return false;
        }
        self.push_bytes(bytes);
        true
    }

    /// The connection wrote (or moved into its reply buffer) `n` bytes it
    /// took from `pushes`.
    pub fn pushes_written(&self, n: usize) {
        let _ = self
            .push_pending
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                Some(p.saturating_sub(n))
            });
    }

    /// Take the queued pushes (the caller reports them with
    /// [`pushes_written`](Self::pushes_written) once sent).
    pub fn take_pushes(&self) -> Vec<u8> {
        std::mem::take(&mut *self.pushes.lock())
    }

    /// Full name of the last command (`get`, `client|list`), `NULL` if none.
    pub fn last_cmd_name(&self) -> String {
        let packed = self.last_cmd.load(Ordering::Relaxed);
        let top = (packed >> 16) as usize;
        let sub = (packed & 0xffff) as usize;
        let Some(&t) = top
            .checked_sub(1)
            .and_then(|i| crate::table::table().commands.get(i))
        else {
            return "NULL".into();
        };
        match sub.checked_sub(1).and_then(|j| t.subcommands.get(j)) {
            Some(s) => format!("{}|{}", t.name, s.name),
            None => t.name.to_string(),
        }
    }

    /// Is the client in MONITOR mode?
    pub fn is_monitor(&self) -> bool {
        self.monitor.load(Ordering::Relaxed)
    }

    /// The client name as CLIENT LIST prints it (empty when unset).
    pub fn name_string(&self) -> String {
        self.name
            .lock()
            .as_deref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default()
    }

    /// The flags field of CLIENT LIST, in Redis's letter order.
    pub fn flags_string(&self) -> String {
        let mut f = String::new();
        if self.is_monitor() {
            f.push('O');
        }
        if self.is_pubsub() {
            f.push('P');
        }
        // Blocked (H3): after P and x, as Redis's `getClientInfoString`.
        if self.blocked.load(Ordering::Relaxed) {
            f.push('b');
        }
        if self.no_evict.load(Ordering::Relaxed) {
            f.push('e');
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }

    /// The CLIENT LIST / CLIENT INFO line (without newline), with Redis
    /// 7.0.15's fields in its order. `current` is `Some((cmd, argv_bytes))`
    /// when this is the client running the command: Redis sets `cmd` before
    /// executing, so a client sees its own CLIENT LIST as `cmd=client|list`,
    /// and `argv-mem` counts the running command's arguments.
    pub fn info_line(&self, current: Option<(&str, usize)>) -> String {
        use std::fmt::Write;
        let now_ms = self.created.elapsed().as_millis() as u64;
        let age = now_ms / 1000;
        let idle = if current.is_some() {
            0
        } else {
            self.idle_secs()
        };
        let (cmd, argv_mem) = match current {
            Some((c, m)) => (c.to_string(), m),
            None => (self.last_cmd_name(), 0),
        };
        let qbuf = self.qbuf.load(Ordering::Relaxed);
        let omem = self.omem.load(Ordering::Relaxed);
        // The connection's reply buffer starts at 16 KiB (ReplyWriter::new)
        // and Redis reports its own 16 KiB buffer the same way.
        let rbs = 16 * 1024;
        let tot_mem = qbuf + argv_mem + omem + rbs + std::mem::size_of::<ClientShared>();
        let mut s = String::with_capacity(320);
        let _ = write!(
            s,
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} \
             sub={} psub={} ssub={} multi=-1 qbuf={} qbuf-free={} argv-mem={} multi-mem=0 \
             rbs={} rbp={} obl=0 oll=0 omem={} tot-mem={} events=r cmd={} user={} \
             redir=-1 resp={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd.load(Ordering::Relaxed),
            self.name_string(),
            age,
            idle,
            self.flags_string(),
            self.db.load(Ordering::Relaxed),
            self.subs.load(Ordering::Relaxed),
            self.psubs.load(Ordering::Relaxed),
            self.ssubs.load(Ordering::Relaxed),
            qbuf,
            if qbuf > 0 {
                (READ_BUF_HINT).saturating_sub(qbuf)
            } else {
                0
            },
            argv_mem,
            rbs,
            rbs,
            omem,
            tot_mem,
            cmd,
            self.user.lock(),
            self.resp.load(Ordering::Relaxed),
        );
        s
    }
}

/// Size of the connection's read buffer chunk, used to report `qbuf-free`.
const READ_BUF_HINT: usize = 16 * 1024;

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
    /// Open MULTI transaction, if any.
    pub multi: Option<crate::cmd::transaction::MultiState>,
    /// Keys this client WATCHes: (db, key, alive when watched).
    pub watched: Vec<(usize, ferrocache_engine::Blob, bool)>,
    /// Pub/Sub subscriptions of this connection.
    pub pubsub: crate::cmd::pubsub::Subscriptions,
    /// Redis's `CLIENT_DENY_BLOCKING`: set while EXEC runs the queue, where
    /// commands must not block or enter a push mode (SSUBSCRIBE refuses).
    pub deny_blocking: bool,
    /// CLIENT TRACKING flags of this connection (read on every command
    /// without a lock; the shared part is in `Server::tracking`).
    pub tracking: crate::tracking::ClientTracking,
    /// Set by a handler that blocked (BLPOP & co.): the connection waits
    /// for the outcome instead of replying (H3, `crate::blocking`).
    pub blocked: Option<crate::blocking::BlockRequest>,
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
            multi: None,
            watched: Vec::new(),
            pubsub: Default::default(),
            deny_blocking: false,
            tracking: Default::default(),
            blocked: None,
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
