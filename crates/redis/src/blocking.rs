//! Blocking commands (BLPOP & co., BZPOPMIN & co., XREAD/XREADGROUP BLOCK)
//! and CLIENT PAUSE.
//!
//! **Registry.** A client that finds nothing to pop registers a [`Waiter`]
//! under every key it waits for: `(db, key) → FIFO of waiters`. It does so
//! from inside its handler, while the shard locks of those keys are still
//! held, so a push can never land between "the key is empty" and "the client
//! is registered" (the pusher needs the same shard lock). The handler then
//! leaves a [`BlockRequest`] on the client and writes no reply; the
//! connection waits on the request's oneshot channel, the deadline, kills
//! and socket EOF (`ferrocache-server`'s connection loop).
//!
//! **Waking.** After every write command [`signal_command`] (one atomic load
//! when nobody blocks) records the keys it wrote that have waiters in a
//! per-thread ready list. [`serve_ready`] runs when the top-level command
//! (plain command, EXEC, script) has finished and dropped its locks, still
//! before that client's reply is flushed: for each ready key, in FIFO order,
//! it locks the waiter's shards and re-runs the waiter's command in its
//! non-blocking form restricted to that key (e.g. `BLPOP k 0` with blocking
//! denied), into a reply buffer of the waiter's RESP version, and sends the
//! bytes through the oneshot. Serving a list or sorted-set waiter stops at
//! the first one that finds the key empty; stream waiters are all checked
//! (reads do not consume). Replies written by serving (BLMOVE's push to its
//! destination) signal again, so chains are served as Redis does.
//!
//! **Exactly one outcome.** A waiter's oneshot sender sits behind a mutex;
//! whoever takes it (the server serving it, the connection timing out,
//! CLIENT UNBLOCK, a disconnect) decides the outcome. The server holds that
//! mutex while it runs the pop, so a timeout never loses a popped element.
//!
//! Lock order: shard locks → registry mutex; shard locks → waiter mutex.
//! The registry mutex and a waiter mutex are never held together with
//! anything acquired after them.

use crate::client::{ClientShared, ClientState};
use crate::ctx::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::server::Server;
use crate::spec::{flags, CommandSpec};
use ferrocache_engine::{Blob, Value};
use ferrocache_protocol::{ReplyWriter, RespVersion};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// What a waiter waits for: decides when a key counts as ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A non-empty list (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP).
    List,
    /// A non-empty sorted set (BZPOPMIN, BZPOPMAX, BZMPOP).
    Zset,
    /// New stream entries (XREAD BLOCK, or XREADGROUP BLOCK with this group).
    Stream { group: Option<Blob> },
}

/// One blocked client.
#[derive(Debug)]
pub struct Waiter {
    pub client: Arc<ClientShared>,
    pub db: usize,
    pub kind: Kind,
    pub resp: RespVersion,
    /// For each key waited for: the command that serves this waiter from
    /// that key alone, run with blocking denied.
    pub serve: Vec<(Blob, Vec<Vec<u8>>)>,
    /// Taken by whoever decides the outcome (see the module doc).
    tx: Mutex<Option<oneshot::Sender<Vec<u8>>>>,
}

impl Waiter {
    fn serve_argv(&self, key: &[u8]) -> Option<&Vec<Vec<u8>>> {
        self.serve
            .iter()
            .find(|(k, _)| &k[..] == key)
            .map(|(_, a)| a)
    }

    fn is_done(&self) -> bool {
        self.tx.lock().is_none()
    }
}

/// Left on [`ClientState::blocked`] by a handler that blocked: the
/// connection waits on it instead of replying.
#[derive(Debug)]
pub struct BlockRequest {
    pub waiter: Arc<Waiter>,
    pub rx: oneshot::Receiver<Vec<u8>>,
    /// None: wait forever (timeout 0).
    pub deadline: Option<Instant>,
}

#[derive(Debug, Default)]
struct Registry {
    keys: HashMap<(usize, Blob), VecDeque<Arc<Waiter>>>,
    by_client: HashMap<u64, Arc<Waiter>>,
}

/// CLIENT PAUSE modes (Redis's `CLIENT_PAUSE_WRITE` < `CLIENT_PAUSE_ALL`).
pub const PAUSE_OFF: u8 = 0;
pub const PAUSE_WRITE: u8 = 1;
pub const PAUSE_ALL: u8 = 2;

/// Node-wide blocking state: waiters and CLIENT PAUSE.
#[derive(Debug, Default)]
pub struct Blocking {
    /// Clients blocked on keys: the write path loads only this.
    count: AtomicUsize,
    registry: Mutex<Registry>,
    /// Clients whose command is postponed by CLIENT PAUSE.
    postponed: AtomicUsize,
    pause_mode: AtomicU8,
    /// Unix ms at which the pause ends.
    pause_until: AtomicU64,
    /// Wakes postponed clients on CLIENT UNPAUSE / a new pause.
    pub pause_changed: tokio::sync::Notify,
}

impl Blocking {
    /// True when some client is blocked on keys.
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// INFO `blocked_clients`: blocked on keys plus postponed by a pause.
    pub fn blocked_clients(&self) -> usize {
        self.count.load(Ordering::Relaxed) + self.postponed.load(Ordering::Relaxed)
    }

    fn register(&self, w: &Arc<Waiter>) {
        let mut r = self.registry.lock();
        for (k, _) in &w.serve {
            r.keys
                .entry((w.db, k.clone()))
                .or_default()
                .push_back(w.clone());
        }
        if let Some(old) = r.by_client.insert(w.client.id, w.clone()) {
            // Cannot happen (a blocked client runs nothing else); keep
            // the registry consistent anyway.
            remove_keys(&mut r, &old);
        } else {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        w.client.blocked.store(true, Ordering::Relaxed);
    }

    /// Forget a finished waiter (idempotent).
    fn remove(&self, w: &Arc<Waiter>) {
        let mut r = self.registry.lock();
        let mine = r
            .by_client
            .get(&w.client.id)
            .is_some_and(|x| Arc::ptr_eq(x, w));
        if mine {
            r.by_client.remove(&w.client.id);
            self.count.fetch_sub(1, Ordering::Relaxed);
            w.client.blocked.store(false, Ordering::Relaxed);
        }
        remove_keys(&mut r, w);
    }

    fn has_waiters(&self, db: usize, key: &[u8]) -> bool {
        self.registry
            .lock()
            .keys
            .contains_key(&(db, Blob::new(key)))
    }

    /// Keys with waiters in `dbs` (None: every db), for commands that
    /// change many keys at once (SWAPDB, FLUSHALL, SORT … STORE…).
    fn waited_keys(&self, dbs: Option<&[usize]>) -> Vec<(usize, Blob)> {
        let r = self.registry.lock();
        r.keys
            .keys()
            .filter(|(d, _)| dbs.is_none_or(|v| v.contains(d)))
            .cloned()
            .collect()
    }

    fn waiters_of(&self, db: usize, key: &Blob) -> Vec<Arc<Waiter>> {
        let r = self.registry.lock();
        r.keys
            .get(&(db, key.clone()))
            .map(|q| q.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn by_client(&self, id: u64) -> Option<Arc<Waiter>> {
        self.registry.lock().by_client.get(&id).cloned()
    }

    // ---- CLIENT PAUSE ----------------------------------------------------

    /// CLIENT PAUSE: the stricter mode and the later end win, as Redis's
    /// `pauseClients`.
    pub fn pause(&self, mode: u8, until_ms: u64) {
        self.pause_mode.fetch_max(mode, Ordering::SeqCst);
        self.pause_until.fetch_max(until_ms, Ordering::SeqCst);
        self.pause_changed.notify_waiters();
    }

    pub fn unpause(&self) {
        self.pause_mode.store(PAUSE_OFF, Ordering::SeqCst);
        self.pause_until.store(0, Ordering::SeqCst);
        self.pause_changed.notify_waiters();
    }

    /// The pause in effect at `now_ms`: (mode, end in unix ms). An expired
    /// pause is cleared here.
    pub fn pause_state(&self, now_ms: u64) -> (u8, u64) {
        let mode = self.pause_mode.load(Ordering::SeqCst);
        if mode == PAUSE_OFF {
            return (PAUSE_OFF, 0);
        }
        let until = self.pause_until.load(Ordering::SeqCst);
        if now_ms >= until {
            let _ = self.pause_mode.compare_exchange(
                mode,
                PAUSE_OFF,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
            return (PAUSE_OFF, 0);
        }
        (mode, until)
    }

    /// A client's command is (no longer) postponed.
    pub fn set_postponed(&self, shared: &ClientShared, on: bool) {
        if on {
            self.postponed.fetch_add(1, Ordering::Relaxed);
        } else {
            self.postponed.fetch_sub(1, Ordering::Relaxed);
        }
        shared.blocked.store(on, Ordering::Relaxed);
    }
}

fn remove_keys(r: &mut Registry, w: &Arc<Waiter>) {
    for (k, _) in &w.serve {
        let slot = (w.db, k.clone());
        if let Some(q) = r.keys.get_mut(&slot) {
            q.retain(|x| !Arc::ptr_eq(x, w));
            if q.is_empty() {
                r.keys.remove(&slot);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------

/// A blocking command's timeout in milliseconds; 0 = forever.
pub type TimeoutMs = u64;

const NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
const NOT_INT: &str = "ERR timeout is not an integer or out of range";
const NEGATIVE: &str = "ERR timeout is negative";

/// Seconds as a double, as Redis's `getTimeoutFromObjectOrReply` with
/// `UNIT_SECONDS`: parsed like `strtold` (no leading space, whole argument,
/// no NaN), times 1000, truncated towards zero to `long long`. Values whose
/// product does not fit (`1e300`, `inf`) become `LLONG_MIN` on x86 and so
/// answer "timeout is negative", as redis-server does. Redis parses a long
/// double, so an underflow (`1e-400`) is simply 0 (block forever) there;
/// it is here too.
pub fn parse_timeout_secs(arg: &[u8]) -> Result<TimeoutMs, CmdError> {
    if arg.is_empty() || crate::args::is_c_space(arg[0]) {
        return Err(CmdError::msg(NOT_FLOAT));
    }
    let r = crate::args::strtod(arg);
    if r.consumed != arg.len() || r.value.is_nan() {
        return Err(CmdError::msg(NOT_FLOAT));
    }
    let ms = r.value * 1000.0;
    // `(long long)` of an out-of-range value is LLONG_MIN on x86-64.
    if !(ms > -9.223_372_036_854_776e18 && ms < 9.223_372_036_854_776e18) {
        return Err(CmdError::msg(NEGATIVE));
    }
    let ms = ms.trunc() as i64;
    if ms < 0 {
        return Err(CmdError::msg(NEGATIVE));
    }
    Ok(ms as u64)
}

/// XREAD/XREADGROUP `BLOCK ms` (`UNIT_MILLISECONDS`).
pub fn parse_timeout_ms(arg: &[u8]) -> Result<TimeoutMs, CmdError> {
    let t = crate::args::int_or(arg, NOT_INT)?;
    if t < 0 {
        return Err(CmdError::msg(NEGATIVE));
    }
    Ok(t as u64)
}

// ---------------------------------------------------------------------------
// Blocking (handler side)
// ---------------------------------------------------------------------------

/// Block the running client on `serve`'s keys. Call from a handler, with
/// the keys' shards locked, after finding nothing to serve and after
/// checking `ctx.client.deny_blocking`. Writes no reply: the connection
/// waits for the outcome.
pub fn block(
    ctx: &mut Ctx<'_, '_>,
    kind: Kind,
    timeout: TimeoutMs,
    serve: Vec<(Blob, Vec<Vec<u8>>)>,
) -> CmdResult {
    let mut uniq: Vec<(Blob, Vec<Vec<u8>>)> = Vec::with_capacity(serve.len());
    for (k, a) in serve {
        // BLPOP k k 0 waits once on k, as Redis's `blockForKeys`.
        if !uniq.iter().any(|(u, _)| *u == k) {
            uniq.push((k, a));
        }
    }
    let (tx, rx) = oneshot::channel();
    let waiter = Arc::new(Waiter {
        client: ctx.client.shared.clone(),
        db: ctx.client.db,
        kind,
        resp: ctx.out.version(),
        serve: uniq,
        tx: Mutex::new(Some(tx)),
    });
    ctx.server.blocking.register(&waiter);
    let deadline = if timeout == 0 {
        None
    } else {
        Instant::now().checked_add(Duration::from_millis(timeout))
    };
    ctx.client.blocked = Some(BlockRequest {
        waiter,
        rx,
        deadline,
    });
    Ok(())
}

/// Build a serve argv from parts.
pub fn argv_of(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

// ---------------------------------------------------------------------------
// Outcomes decided outside the server's serving path
// ---------------------------------------------------------------------------

/// The null reply a timed-out blocking command gets (Redis's
/// `replyToBlockedClientTimedOut`: a null array for every key-blocked type).
fn timeout_reply(resp: RespVersion) -> Vec<u8> {
    let mut w = ReplyWriter::new(resp);
    w.null_array();
    w.take()
}

/// The connection's deadline passed: claim the waiter. Returns the timeout
/// reply, or None when the server is serving it right now (the reply then
/// arrives on the oneshot).
pub fn time_out(server: &Server, w: &Arc<Waiter>) -> Option<Vec<u8>> {
    let claimed = w.tx.lock().take();
    claimed.map(|_| {
        server.blocking.remove(w);
        timeout_reply(w.resp)
    })
}

/// The connection went away (EOF, kill, error): forget its waiter, if any.
pub fn client_gone(server: &Server, id: u64) {
    if !server.blocking.active() {
        return;
    }
    if let Some(w) = server.blocking.by_client(id) {
        w.tx.lock().take();
        server.blocking.remove(&w);
    }
}

/// CLIENT UNBLOCK: answer the blocked client `id` with a timeout reply or
/// (`error`) `-UNBLOCKED client unblocked via CLIENT UNBLOCK`. Returns
/// whether a client was unblocked.
pub fn unblock(server: &Server, id: u64, error: bool) -> bool {
    let Some(w) = server.blocking.by_client(id) else {
        return false;
    };
    let Some(tx) = w.tx.lock().take() else {
        return false;
    };
    server.blocking.remove(&w);
    let bytes = if error {
        const MSG: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
        server
            .stats
            .total_error_replies
            .fetch_add(1, Ordering::Relaxed);
        crate::cmd::server::count_error(server, MSG);
        let mut o = ReplyWriter::new(w.resp);
        o.error_bytes(MSG.as_bytes());
        o.take()
    } else {
        timeout_reply(w.resp)
    };
    let _ = tx.send(bytes);
    true
}

// ---------------------------------------------------------------------------
// Waking (write side)
// ---------------------------------------------------------------------------

thread_local! {
    /// Keys made ready by this thread's current top-level command.
    static READY: RefCell<Vec<(usize, Blob)>> = const { RefCell::new(Vec::new()) };
}

fn mark_ready(db: usize, key: &[u8]) {
    READY.with(|r| {
        let mut r = r.borrow_mut();
        if !r.iter().any(|(d, k)| *d == db && &k[..] == key) {
            r.push((db, Blob::new(key)));
        }
    });
}

/// Signal one key: it may have become ready for its waiters in `db`.
pub fn signal_key(server: &Server, db: usize, key: &[u8]) {
    if server.blocking.active() && server.blocking.has_waiters(db, key) {
        mark_ready(db, key);
    }
}

/// After a write command ran (on behalf of `db`'s client): signal the keys
/// it may have made ready. Over-signalling is harmless (serving re-checks
/// the key), missing a key is not, so commands that move keys between
/// databases or touch the whole keyspace signal broadly. Costs one atomic
/// load when nobody is blocked.
pub fn signal_command(server: &Server, spec: &CommandSpec, argv: &[&[u8]], db: usize) {
    if !server.blocking.active() || !spec.has(flags::WRITE) {
        return;
    }
    if spec.has(flags::GLOBAL) {
        // SWAPDB, FLUSHALL, SORT … STORE with patterns…: every waited key.
        for (d, k) in server.blocking.waited_keys(None) {
            mark_ready(d, &k);
        }
        return;
    }
    let other_db = if spec.name == "move" {
        argv.get(2).and_then(|a| crate::args::int(a).ok())
    } else if spec.name == "copy" {
        argv.iter()
            .position(|a| a.eq_ignore_ascii_case(b"db"))
            .and_then(|p| argv.get(p + 1))
            .and_then(|a| crate::args::int(a).ok())
    } else {
        None
    };
    for i in spec.key_indexes(argv) {
        signal_key(server, db, argv[i]);
        if let Some(d) = other_db.and_then(|d| usize::try_from(d).ok()) {
            signal_key(server, d, argv[i]);
        }
    }
}

/// Serve the waiters of every key made ready by this thread's command(s),
/// including keys made ready while serving (BLMOVE chains). Call once the
/// command's shard locks are dropped, before its reply is flushed.
pub fn serve_ready(server: &Server) {
    loop {
        let batch = READY.with(|r| std::mem::take(&mut *r.borrow_mut()));
        if batch.is_empty() {
            return;
        }
        if !server.blocking.active() {
            continue;
        }
        for (db, key) in batch {
            serve_key(server, db, &key);
        }
    }
}

/// What a key holds for a waiter of some kind.
#[derive(Debug, PartialEq, Eq)]
enum Readiness {
    Ready,
    /// Missing, or an empty collection of the waited type: no later
    /// waiter of the same kind can be served either.
    Stop,
    /// Another type: skip this waiter (one of another kind, e.g. BZPOPMIN
    /// and BLPOP on the same name, may still be served), as Redis rotates
    /// waiters of other types.
    Skip,
}

/// Is `key` ready for a waiter of `kind` right now?
fn readiness(kind: &Kind, v: Option<&Value>) -> Readiness {
    match (kind, v) {
        (Kind::List, Some(Value::List(l))) if !l.is_empty() => Readiness::Ready,
        (Kind::Zset, Some(Value::ZSet(z))) if !z.is_empty() => Readiness::Ready,
        (Kind::Stream { .. }, Some(Value::Stream(_))) => Readiness::Ready,
        // A consumer-group reader is told its stream went away.
        (Kind::Stream { group: Some(_) }, _) => Readiness::Ready,
        (Kind::Stream { group: None }, _) => Readiness::Skip,
        (_, None) | (Kind::List, Some(Value::List(_))) | (Kind::Zset, Some(Value::ZSet(_))) => {
            Readiness::Stop
        }
        _ => Readiness::Skip,
    }
}

fn serve_key(server: &Server, db: usize, key: &Blob) {
    for w in server.blocking.waiters_of(db, key) {
        if w.is_done() {
            continue;
        }
        let Some(argv) = w.serve_argv(key) else {
            continue;
        };
        let argv: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        let Some((_, spec)) = argv.first().and_then(|n| crate::table::table().get(n)) else {
            continue;
        };
        let start = Instant::now();
        let now = ferrocache_engine::clock::unix_ms_at(start);
        let mut locked = crate::dispatch::lock_for(server, spec, &argv, now);
        let ready = {
            let d = locked.db(db, key);
            readiness(&w.kind, d.peek(key).map(|e| &e.value))
        };
        match ready {
            Readiness::Ready => {}
            Readiness::Skip => continue,
            Readiness::Stop => {
                // Stream group readers are always Ready or Skip, so only
                // pops stop here; a stream reader behind them still gets
                // its chance at the next signal of this key.
                if w.kind == Kind::List || w.kind == Kind::Zset {
                    return;
                }
                continue;
            }
        }
        let mut slot = w.tx.lock();
        if slot.is_none() {
            continue;
        }
        let mut out = ReplyWriter::new(w.resp);
        let mut tmp = ClientState::new(w.client.clone(), true);
        tmp.db = w.db;
        tmp.deny_blocking = true;
        let special = match &w.kind {
            Kind::Stream { group: Some(g) } => stream_group_gone(&mut locked, db, key, g),
            _ => None,
        };
        let failed = match special {
            Some(msg) => {
                out.error_bytes(msg.as_bytes());
                true
            }
            None => {
                let mut ctx = Ctx {
                    server,
                    client: &mut tmp,
                    out: &mut out,
                    ks: locked,
                };
                let r = (spec.handler)(&mut ctx, &argv);
                locked = ctx.ks;
                match r {
                    Ok(()) => false,
                    Err(e) => {
                        out.error_bytes(e.bytes());
                        true
                    }
                }
            }
        };
        drop(locked);
        // A stream reader with nothing new after its ID stays blocked.
        if !failed && is_null_array(out.as_bytes()) {
            continue;
        }
        if failed {
            server
                .stats
                .total_error_replies
                .fetch_add(1, Ordering::Relaxed);
            let text = String::from_utf8_lossy(out.as_bytes()).into_owned();
            let text = text.trim_start_matches('-').trim_end();
            crate::cmd::server::count_error(server, text);
        }
        if let Some(tx) = slot.take() {
            let _ = tx.send(out.take());
        }
        drop(slot);
        server.blocking.remove(&w);
        if let Some(s) = crate::table::table()
            .get(argv[0])
            .and_then(|(i, _)| server.command_stats.get(i))
        {
            s.usec
                .fetch_add(start.elapsed().as_micros() as u64, Ordering::Relaxed);
        }
        // BLMOVE pushed to its destination: its waiters may be served now.
        signal_command(server, spec, &argv, db);
    }
}

/// XREADGROUP waiters whose stream or group went away get Redis 7.0's
/// errors instead of a reply.
fn stream_group_gone(
    locked: &mut ferrocache_engine::Locked<'_>,
    db: usize,
    key: &[u8],
    group: &[u8],
) -> Option<&'static str> {
    match locked.db(db, key).peek(key).map(|e| &e.value) {
        Some(Value::Stream(s)) => {
            if s.groups.contains_key(group) {
                None
            } else {
                Some("NOGROUP the consumer group this client was blocked on no longer exists")
            }
        }
        _ => Some("UNBLOCKED the stream key no longer exists"),
    }
}

fn is_null_array(b: &[u8]) -> bool {
    b == b"*-1\r\n" || b == b"_\r\n"
}

// ---------------------------------------------------------------------------
// CLIENT PAUSE (connection side)
// ---------------------------------------------------------------------------

/// Would CLIENT PAUSE postpone this command now? Mirrors the place of the
/// check in Redis 7.0's `processCommand`: commands that fail lookup, arity
/// or authentication are answered at once; under `WRITE`, commands flagged
/// `write` or `may_replicate` (and EXEC of a transaction holding one) wait,
/// under `ALL` every command does. Returns the pause end (unix ms).
pub fn paused_until(server: &Server, client: &ClientState, argv: &[&[u8]]) -> Option<u64> {
    // The hot path: one relaxed load when no pause was ever set.
    if server.blocking.pause_mode.load(Ordering::Relaxed) == PAUSE_OFF {
        return None;
    }
    let now = ferrocache_engine::clock::now_ms();
    let (mode, until) = server.blocking.pause_state(now);
    if mode == PAUSE_OFF {
        return None;
    }
    let (_, top) = crate::table::table().get(argv.first()?)?;
    let mut spec = top;
    if !top.subcommands.is_empty() {
        if let Some(s) = argv.get(1).and_then(|n| crate::table::subcommand(top, n)) {
            spec = s;
        }
    }
    if !spec.arity_ok(argv.len()) || (!client.authenticated && !spec.has(flags::NO_AUTH)) {
        return None;
    }
    if mode == PAUSE_ALL {
        return Some(until);
    }
    let mut f = spec.flags;
    if top.name == "exec" {
        if let Some(m) = client.multi.as_ref() {
            f |= crate::cmd::transaction::queued_flags(m);
        }
    }
    (f & (flags::WRITE | flags::MAY_REPLICATE) != 0).then_some(until)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_as_redis() {
        assert_eq!(parse_timeout_secs(b"0").ok(), Some(0));
        assert_eq!(parse_timeout_secs(b"0.1").ok(), Some(100));
        assert_eq!(parse_timeout_secs(b"1.5").ok(), Some(1500));
        assert_eq!(parse_timeout_secs(b"0x10").ok(), Some(16000));
        assert_eq!(parse_timeout_secs(b"0.0001").ok(), Some(0));
        assert_eq!(parse_timeout_secs(b"1e-400").ok(), Some(0));
        for bad in [&b"abc"[..], b" 1", b"nan", b"", b"1x"] {
            assert_eq!(
                parse_timeout_secs(bad).err().map(|e| e.text().into_owned()),
                Some(NOT_FLOAT.into())
            );
        }
        for neg in [
            &b"-1"[..],
            b"1e300",
            b"inf",
            b"-inf",
            b"9223372036854775807",
        ] {
            assert_eq!(
                parse_timeout_secs(neg).err().map(|e| e.text().into_owned()),
                Some(NEGATIVE.into())
            );
        }
        assert_eq!(parse_timeout_ms(b"10").ok(), Some(10));
        assert!(parse_timeout_ms(b"1.5").is_err());
        assert!(parse_timeout_ms(b"-1").is_err());
    }

    #[test]
    fn null_array_detection() {
        assert!(is_null_array(b"*-1\r\n"));
        assert!(is_null_array(b"_\r\n"));
        assert!(!is_null_array(b"*0\r\n"));
    }
}
