//! Lua scripting (EVAL family and Redis 7 functions) on an embedded Lua 5.1,
//! as redis-server 7.0 runs them.
//!
//! - [`Vm`]: one Lua state with Redis's sandbox (`bootstrap.lua`: protected
//!   globals and library tables, the `redis` API) and the native libraries
//!   ([`libs`]: cjson, cmsgpack, bit, struct). EVAL scripts and function
//!   libraries live in two separate states, as in Redis 7.0, so SCRIPT FLUSH
//!   leaves the functions alone.
//! - [`run`]: runs one script or function for a client. The command that
//!   started it (EVAL/FCALL…) is flagged GLOBAL, so dispatch already holds
//!   every shard: nothing else touches the keyspace until the script ends.
//!   KEYS/ARGV are built and the runner called through Lua's C API in one
//!   protected call. `redis.call` is a raw `lua_CFunction` (as in Redis): it
//!   reads its arguments off the Lua stack, finds the running script's
//!   `RunState` through a thread-local pointer, resolves the command through
//!   the normal table, checks it as Redis does for scripts, runs its handler
//!   through [`dispatch::invoke`](crate::dispatch::invoke) under those same
//!   locks, and pushes the reply (captured in a reused writer in the
//!   script's protocol) with the C API ([`convert::push_resp`]). Nothing is
//!   allocated per call beyond the Lua values themselves.
//! - Busy scripts (Redis's `busy-reply-threshold`). The connection runs
//!   EVAL/FCALL/EXEC inside a [`Suspendable`]: a coroutine on its own stack
//!   (corosensei). The instruction-count hook checks, every [`HOOK_EVERY`]
//!   instructions, whether the script is past the threshold; once it is
//!   ([`TIMEDOUT`], Redis's `SCRIPT_TIMEDOUT`), every hook tick suspends the
//!   coroutine, the connection task yields to the worker's event loop, and
//!   the worker serves its other connections: [`busy_error`] answers BUSY to
//!   what is not ALLOW_BUSY, SCRIPT KILL / FUNCTION KILL set a flag the hook
//!   turns into an error, SHUTDOWN NOSAVE sets one that ends the script even
//!   if it wrote. The script keeps every shard lock while suspended, so no
//!   data command runs meanwhile; commands that would lock a shard are
//!   refused (BUSY) or, on other workers before the threshold, wait
//!   asynchronously ([`must_wait`] / [`wait_for_script`]) instead of
//!   blocking their thread on a shard mutex.

pub mod convert;
pub mod libs;

use crate::ctx::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::spec::flags;
use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use mlua::{Function, Lua, LuaOptions, MultiValue, StdLib, Table, Value};
use parking_lot::Mutex;
use std::cell::Cell;
use std::marker::PhantomData;
use std::os::raw::c_int;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Chunk name of the sandbox set-up code: the error handler skips its frames
/// when it looks for the user's line.
const INTERNAL: &str = "=[ferrocache]";
const BOOTSTRAP: &str = include_str!("bootstrap.lua");

/// Lua instructions between two polls of the kill flag (Redis: 100000).
const HOOK_EVERY: u32 = 100_000;
/// FUNCTION LOAD gives a library's top-level code this long (Redis's
/// `LOAD_TIMEOUT_MS`), then fails with "FUNCTION LOAD timeout".
const LOAD_TIMEOUT_MS: u64 = 500;
/// Unix ms at which the running FUNCTION LOAD started; 0 when none runs.
static LOAD_SINCE: AtomicU64 = AtomicU64::new(0);

/// Unix ms at which the running script started; 0 when none runs.
pub static RUN_SINCE: AtomicU64 = AtomicU64::new(0);
/// What runs: 1 = an EVAL script, 2 = a function.
static RUN_KIND: AtomicU8 = AtomicU8::new(0);
/// SCRIPT KILL / FUNCTION KILL asked the running script to stop.
static KILL: AtomicBool = AtomicBool::new(false);
/// SHUTDOWN NOSAVE arrived while a script runs: stop it even if it wrote
/// (Redis exits from inside the script; here the script must end for the
/// worker threads to finish).
static ABORT: AtomicBool = AtomicBool::new(false);
/// The running script already wrote: it can no longer be killed.
static WROTE: AtomicBool = AtomicBool::new(false);
/// The running script is past `busy-reply-threshold` (set by the hook, as
/// Redis's `SCRIPT_TIMEDOUT`): other clients get BUSY.
static TIMEDOUT: AtomicBool = AtomicBool::new(false);
/// `busy-reply-threshold` (ms), read from the config by the first hook tick
/// of a script (most scripts end before one), then cached for its run.
static LIMIT_MS: AtomicU64 = AtomicU64::new(5000);
static LIMIT_KNOWN: AtomicBool = AtomicBool::new(false);
/// The server of the running script (for the hook to read the threshold).
static SERVER: std::sync::atomic::AtomicPtr<crate::Server> =
    std::sync::atomic::AtomicPtr::new(std::ptr::null_mut());
/// The running function's name and command line (FUNCTION STATS). Copied
/// from the script's `RunState` only when it times out: before that no
/// other client can ask (they wait, or the worker is busy running it).
static RUN_INFO: Mutex<Option<(String, Vec<Vec<u8>>)>> = Mutex::new(None);
static INFO_SET: AtomicBool = AtomicBool::new(false);
/// Connections waiting in [`wait_for_script`], woken when the running
/// script times out or ends.
static CHANGED: tokio::sync::Notify = tokio::sync::Notify::const_new();
static WAITING: AtomicUsize = AtomicUsize::new(0);

pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

fn busy_text() -> &'static str {
    if RUN_KIND.load(Ordering::Relaxed) == 2 {
        BUSY_FUNCTION
    } else {
        BUSY_EVAL
    }
}

/// The error dispatch must answer instead of running `spec`, if a script is
/// running past `busy-reply-threshold` (Redis's `processCommand`: only
/// ALLOW_BUSY commands run then). One atomic load when no script runs.
///
/// The script holds every shard lock while the worker serves others: WATCH
/// (ALLOW_BUSY) runs without locking (see [`defer_watch`]); any other
/// ALLOW_BUSY command that would lock a shard gets BUSY (Redis 7.0 has
/// none). SHUTDOWN without NOSAVE gets BUSY, as in Redis's
/// `shutdownCommand`; SHUTDOWN NOSAVE makes the script end (even if it
/// wrote) and runs.
pub fn busy_error(
    _server: &crate::Server,
    spec: &crate::spec::CommandSpec,
    argv: &[&[u8]],
) -> Option<&'static str> {
    if RUN_SINCE.load(Ordering::Acquire) == 0 || !TIMEDOUT.load(Ordering::Acquire) {
        return None;
    }
    if spec.name == "shutdown" {
        // As `shutdownCommand`: syntax errors and ABORT first (the handler
        // answers them without touching the keyspace), then BUSY unless
        // NOSAVE.
        let opts = &argv[1..];
        let has = |w: &[u8]| opts.iter().any(|a| a.eq_ignore_ascii_case(w));
        let known = opts.iter().all(|a| {
            [&b"nosave"[..], b"save", b"now", b"force", b"abort"]
                .iter()
                .any(|w| a.eq_ignore_ascii_case(w))
        });
        let syntax_error =
            !known || (has(b"save") && has(b"nosave")) || (has(b"abort") && opts.len() != 1);
        if syntax_error || has(b"abort") {
            return None;
        }
        if has(b"nosave") {
            // The handler will shut down (NOSAVE cannot fail): end the
            // script even if it wrote.
            ABORT.store(true, Ordering::Release);
            return None;
        }
        return Some(busy_text());
    }
    if spec.name == "watch" {
        // ALLOW_BUSY; dispatch runs it without locks and the handler leaves
        // the keys' existence to the script's end (`defer_watch`).
        return None;
    }
    let locks = spec.has(flags::GLOBAL) || spec.first_key > 0 || spec.keys_fn.is_some();
    if spec.has(flags::ALLOW_BUSY) && !locks {
        return None;
    }
    Some(busy_text())
}

/// Is a script running (started and not finished, on any worker)?
/// Dispatch skips work that would lock shards (eviction, keyspace-event
/// draining, serving blocked clients) while one does.
pub fn running() -> bool {
    RUN_SINCE.load(Ordering::Acquire) != 0
}

/// Must a connection wait before running its next command? True while a
/// script runs and is not yet past `busy-reply-threshold`: running the
/// command would block the worker thread on a shard lock (Redis serves
/// nobody then either). One atomic load when no script runs.
pub fn must_wait() -> bool {
    RUN_SINCE.load(Ordering::Acquire) != 0 && !TIMEDOUT.load(Ordering::Acquire)
}

/// Wait (asynchronously, so the worker keeps polling) until [`must_wait`]
/// is false: the script ended or passed the threshold.
pub async fn wait_for_script() {
    struct Waiting;
    impl Drop for Waiting {
        fn drop(&mut self) {
            WAITING.fetch_sub(1, Ordering::AcqRel);
        }
    }
    WAITING.fetch_add(1, Ordering::AcqRel);
    let _w = Waiting;
    loop {
        let changed = CHANGED.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if !must_wait() {
            return;
        }
        // The timer is a safety net only: every change notifies.
        tokio::select! {
            _ = changed => {}
            _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
        }
    }
}

fn notify_changed() {
    if WAITING.load(Ordering::Acquire) > 0 {
        CHANGED.notify_waiters();
    }
}

fn busy_threshold(server: &crate::Server) -> u64 {
    server
        .config
        .get("busy-reply-threshold")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(5000)
}

/// SCRIPT KILL (`eval` = true) / FUNCTION KILL: Redis's `scriptKill`.
pub fn kill(eval: bool) -> Result<(), &'static str> {
    if RUN_SINCE.load(Ordering::Acquire) == 0 {
        return Err("NOTBUSY No scripts in execution right now.");
    }
    if WROTE.load(Ordering::Acquire) {
        return Err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
    }
    let kind = RUN_KIND.load(Ordering::Relaxed);
    if eval && kind == 2 {
        return Err(BUSY_FUNCTION);
    }
    if !eval && kind == 1 {
        return Err(BUSY_EVAL);
    }
    KILL.store(true, Ordering::Release);
    Ok(())
}

/// FUNCTION LOAD's time limit for a library's top-level code, for the life
/// of the guard (FUNCTION RESTORE and loading at start-up have none, as in
/// Redis).
pub struct LoadTimer;

impl LoadTimer {
    pub fn start() -> LoadTimer {
        // A SCRIPT KILL that raced with the end of the last script must not
        // stop this load.
        KILL.store(false, Ordering::Release);
        LOAD_SINCE.store(ferrocache_engine::clock::now_ms().max(1), Ordering::Release);
        LoadTimer
    }
}

impl Drop for LoadTimer {
    fn drop(&mut self) {
        LOAD_SINCE.store(0, Ordering::Release);
    }
}

/// WATCHes made by other clients while a script runs past the threshold
/// (WATCH is ALLOW_BUSY in Redis). The script holds the keys' shards, so
/// whether each key exists is looked up by the script's own thread when it
/// ends, still under its locks and its frozen clock: the key is unchanged
/// since the WATCH unless the script wrote it, which the watch registry
/// already records (EXEC fails then anyway).
struct BusyWatches {
    /// (client id, db, key) waiting for the script to end.
    pending: Vec<(u64, usize, ferrocache_engine::Blob)>,
    /// The run whose end looked them up (a WATCH arriving after that
    /// waits for the shard lock instead).
    resolved_run: u64,
    /// (client id, db, key)s that existed: EXEC takes them.
    alive: Vec<(u64, usize, ferrocache_engine::Blob)>,
}

static BUSY_WATCHES: Mutex<BusyWatches> = Mutex::new(BusyWatches {
    pending: Vec::new(),
    resolved_run: 0,
    alive: Vec::new(),
});
/// Entries in `BusyWatches::pending` and `alive` (EXEC and UNWATCH look
/// only when non-zero).
static BUSY_WATCH_ALIVE: AtomicUsize = AtomicUsize::new(0);
/// Counts script runs (identifies one for `BusyWatches::resolved_run`).
static RUN_ID: AtomicU64 = AtomicU64::new(0);

/// Is a script past `busy-reply-threshold` (other clients get BUSY)?
pub fn timed_out() -> bool {
    RUN_SINCE.load(Ordering::Acquire) != 0 && TIMEDOUT.load(Ordering::Acquire)
}

/// WATCH of `key` by client `id` while a script may hold its shard: true
/// when the existence check was left to the script's end (the caller must
/// not touch the shard); false when no timed-out script is running (or it
/// already finished with its watches), so the caller looks it up itself.
pub fn defer_watch(id: u64, db: usize, key: &ferrocache_engine::Blob) -> bool {
    if RUN_SINCE.load(Ordering::Acquire) == 0 {
        return false;
    }
    let mut w = BUSY_WATCHES.lock();
    if !TIMEDOUT.load(Ordering::Acquire) || w.resolved_run == RUN_ID.load(Ordering::Acquire) {
        return false;
    }
    w.pending.push((id, db, key.clone()));
    BUSY_WATCH_ALIVE.fetch_add(1, Ordering::Relaxed);
    true
}

/// The script's end, on its thread, under its locks: which keys WATCHed
/// meanwhile exist.
fn resolve_watches(mut locked: Option<&mut ferrocache_engine::Locked<'_>>) {
    if !TIMEDOUT.load(Ordering::Acquire) {
        // Nobody could WATCH through a script that never timed out.
        return;
    }
    let mut w = BUSY_WATCHES.lock();
    w.resolved_run = RUN_ID.load(Ordering::Acquire);
    let pending = std::mem::take(&mut w.pending);
    for (id, db, key) in pending {
        let alive = match locked {
            Some(ref mut l) => l.db(db, &key).peek(&key).is_some(),
            None => false,
        };
        if alive {
            w.alive.push((id, db, key));
        } else {
            BUSY_WATCH_ALIVE.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The keys client `id` WATCHed during a busy script that existed then
/// (EXEC marks them alive; UNWATCH/RESET/disconnect just forget them, and
/// any still waiting for the script's end).
pub fn take_busy_watches(id: u64) -> Vec<(usize, ferrocache_engine::Blob)> {
    if BUSY_WATCH_ALIVE.load(Ordering::Relaxed) == 0 {
        return Vec::new();
    }
    let mut w = BUSY_WATCHES.lock();
    let mut taken = Vec::new();
    w.alive.retain(|(c, db, key)| {
        if *c == id {
            taken.push((*db, key.clone()));
            false
        } else {
            true
        }
    });
    let before = w.pending.len();
    w.pending.retain(|(c, _, _)| *c != id);
    let dropped = before - w.pending.len();
    BUSY_WATCH_ALIVE.fetch_sub(taken.len() + dropped, Ordering::Relaxed);
    taken
}

/// Is an EVAL script (not a function) running? FUNCTION STATS refuses to
/// answer then, as Redis does.
pub fn eval_running() -> bool {
    RUN_SINCE.load(Ordering::Acquire) != 0 && RUN_KIND.load(Ordering::Relaxed) == 1
}

/// The running function (name, command line) and its run time in ms, for
/// FUNCTION STATS.
pub fn running_function() -> Option<(String, Vec<Vec<u8>>, u64)> {
    let since = RUN_SINCE.load(Ordering::Acquire);
    if since == 0 || RUN_KIND.load(Ordering::Relaxed) != 2 {
        return None;
    }
    let info = RUN_INFO.lock().clone()?;
    let ms = ferrocache_engine::clock::now_ms().saturating_sub(since);
    Some((info.0, info.1, ms))
}

/// Marks a script as running for its whole life, even when it unwinds.
struct RunGuard;

impl RunGuard {
    fn start(server: &crate::Server, kind: u8, now_ms: u64) -> RunGuard {
        KILL.store(false, Ordering::Release);
        WROTE.store(false, Ordering::Release);
        TIMEDOUT.store(false, Ordering::Release);
        RUN_KIND.store(kind, Ordering::Relaxed);
        RUN_ID.fetch_add(1, Ordering::AcqRel);
        LIMIT_KNOWN.store(false, Ordering::Relaxed);
        SERVER.store(server as *const _ as *mut _, Ordering::Release);
        RUN_SINCE.store(now_ms.max(1), Ordering::Release);
        RunGuard
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        RUN_SINCE.store(0, Ordering::Release);
        TIMEDOUT.store(false, Ordering::Release);
        ABORT.store(false, Ordering::Release);
        KILL.store(false, Ordering::Release);
        WROTE.store(false, Ordering::Release);
        if INFO_SET.swap(false, Ordering::AcqRel) {
            *RUN_INFO.lock() = None;
        }
        notify_changed();
    }
}

/// The instruction-count hook: kill/abort requests, the busy threshold, and
/// once past it a pause to let the worker serve other connections. Outside
/// a script, FUNCTION LOAD's time limit. Err: the error to raise.
fn hook_tick() -> Result<(), &'static [u8]> {
    check_stop()?;
    let since = RUN_SINCE.load(Ordering::Acquire);
    if since == 0 {
        let load = LOAD_SINCE.load(Ordering::Acquire);
        if load != 0 && ferrocache_engine::clock::now_ms().saturating_sub(load) > LOAD_TIMEOUT_MS {
            return Err(b"ERR FUNCTION LOAD timeout");
        }
        return Ok(());
    }
    if !TIMEDOUT.load(Ordering::Acquire) {
        if !LIMIT_KNOWN.swap(true, Ordering::Relaxed) {
            let server = SERVER.load(Ordering::Acquire);
            // SAFETY: set by `run` from the server it runs for, which
            // outlives the script this hook runs in.
            if let Some(server) = unsafe { server.as_ref() } {
                LIMIT_MS.store(busy_threshold(server), Ordering::Relaxed);
            }
        }
        let elapsed = ferrocache_engine::clock::now_ms().saturating_sub(since);
        if elapsed < LIMIT_MS.load(Ordering::Relaxed) {
            return Ok(());
        }
        publish_run_info();
        TIMEDOUT.store(true, Ordering::Release);
        notify_changed();
    }
    suspend_current();
    check_stop()
}

/// The Lua hook (a raw `lua_Hook`, as Redis's `luaMaskCountHook`). Set on
/// the main state, so Lua 5.1 copies it into every coroutine a script
/// creates (`lua_newthread` inherits the hook): a loop inside
/// `coroutine.wrap` is paused, killed and aborted like any other.
unsafe extern "C-unwind" fn count_hook(
    state: *mut mlua::ffi::lua_State,
    _ar: *mut mlua::ffi::lua_Debug,
) {
    let stop = match std::panic::catch_unwind(hook_tick) {
        Ok(r) => r,
        Err(_) => Ok(()),
    };
    if let Err(msg) = stop {
        // As Redis: from now on the hook runs at every line of this
        // (co)routine, so a script catching the error with pcall cannot
        // go on for another HOOK_EVERY instructions. `run` puts the main
        // state's hook back when the script ends.
        mlua::ffi::lua_sethook(state, Some(count_hook), LINE_AND_COUNT, HOOK_EVERY as c_int);
        LINE_HOOK.store(true, Ordering::Relaxed);
        // Redis's error table: `{err = "ERR ..."}`.
        mlua::ffi::lua_createtable(state, 0, 1);
        convert::push_bytes(state, b"err");
        convert::push_bytes(state, msg);
        mlua::ffi::lua_rawset(state, -3);
        // Nothing with a destructor is live in this frame.
        mlua::ffi::lua_error(state);
    }
}

const LINE_AND_COUNT: c_int = mlua::ffi::LUA_MASKLINE | mlua::ffi::LUA_MASKCOUNT;

/// The hook of some (co)routine was switched to every line.
static LINE_HOOK: AtomicBool = AtomicBool::new(false);

/// Install the count hook on `state` (the main state of a VM).
///
/// # Safety
/// `state` must be a live Lua state not running a hook.
unsafe fn install_hook(state: *mut mlua::ffi::lua_State) {
    mlua::ffi::lua_sethook(
        state,
        Some(count_hook),
        mlua::ffi::LUA_MASKCOUNT,
        HOOK_EVERY as c_int,
    );
}

/// Copy the running function's name and command line for FUNCTION STATS.
fn publish_run_info() {
    let p = CURRENT.with(|c| c.get());
    if p.is_null() {
        return;
    }
    // SAFETY: as `CurrentRun::state`: the pointer is the live RunState of
    // the script this hook runs in; only read here.
    let st = unsafe { &*(p as *const RunState<'_, '_>) };
    if let Some((name, argv)) = st.info {
        *RUN_INFO.lock() = Some((name.to_string(), argv.iter().map(|a| a.to_vec()).collect()));
        INFO_SET.store(true, Ordering::Release);
    }
}

fn check_stop() -> Result<(), &'static [u8]> {
    if ABORT.load(Ordering::Acquire) {
        return Err(b"ERR Script aborted: the server is shutting down");
    }
    // Redis says SCRIPT KILL for FUNCTION KILL too.
    if KILL.load(Ordering::Acquire) {
        return Err(b"ERR Script killed by user with SCRIPT KILL...");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Suspendable execution.
// ---------------------------------------------------------------------------

type Co = Coroutine<(), (), (), DefaultStack>;

/// Side stack size. Memory is committed only as pages are touched; handlers
/// called from scripts (SORT, deep replies) run on it.
const STACK_SIZE: usize = 8 << 20;

thread_local! {
    /// The yielder of the coroutine running on this thread (null outside
    /// one, and while it is suspended).
    static YIELDER: Cell<*const Yielder<(), ()>> = const { Cell::new(std::ptr::null()) };
    /// A finished coroutine's stack, reused by the next one.
    static SPARE_STACK: Cell<Option<DefaultStack>> = const { Cell::new(None) };
    /// The running script's state for redis.call (null outside a script).
    static CURRENT: Cell<*mut ()> = const { Cell::new(std::ptr::null_mut()) };
}

/// Suspend the coroutine running this script (if any) so the worker's
/// event loop runs; returns when the connection resumes it.
fn suspend_current() {
    let y = YIELDER.with(|c| c.replace(std::ptr::null()));
    if y.is_null() {
        return;
    }
    let cur = CURRENT.with(|c| c.replace(std::ptr::null_mut()));
    // SAFETY: `y` is the yielder of the coroutine executing this code (set
    // by its body and only cleared while it is suspended); the coroutine is
    // alive while it runs.
    unsafe { (*y).suspend(()) };
    CURRENT.with(|c| c.set(cur));
    YIELDER.with(|c| c.set(y));
}

/// Does a command run scripts (and so may need to be suspended)? EVAL*,
/// FCALL*, and EXEC (whose queue may hold them).
pub fn may_run_script(name: &[u8]) -> bool {
    let n = name.len();
    if !(4..=10).contains(&n) {
        return false;
    }
    match name[0] | 0x20 {
        b'e' => [&b"eval"[..], b"evalsha", b"eval_ro", b"evalsha_ro", b"exec"]
            .iter()
            .any(|c| name.eq_ignore_ascii_case(c)),
        b'f' => name.eq_ignore_ascii_case(b"fcall") || name.eq_ignore_ascii_case(b"fcall_ro"),
        _ => false,
    }
}

/// A piece of synchronous work (one command's `execute`) run on a side
/// stack, so that a busy script inside it can pause and let the caller's
/// event loop run. The borrows of `'a` stay valid: dropping an unfinished
/// one makes its script end (as SHUTDOWN NOSAVE would) and runs it to
/// completion first.
pub struct Suspendable<'a> {
    co: Option<Co>,
    inline: Option<Box<dyn FnOnce() + 'a>>,
    _borrow: PhantomData<&'a mut ()>,
}

impl<'a> Suspendable<'a> {
    pub fn new<F: FnOnce() + 'a>(f: F) -> Suspendable<'a> {
        let stack = match SPARE_STACK.with(|s| s.take()) {
            Some(s) => Some(s),
            None => DefaultStack::new(STACK_SIZE).ok(),
        };
        let Some(stack) = stack else {
            // No memory for a stack: run in place (not suspendable).
            return Suspendable {
                co: None,
                inline: Some(Box::new(f)),
                _borrow: PhantomData,
            };
        };
        let body = move |y: &Yielder<(), ()>, ()| {
            struct Restore(*const Yielder<(), ()>);
            impl Drop for Restore {
                fn drop(&mut self) {
                    YIELDER.with(|c| c.set(self.0));
                }
            }
            let _restore = Restore(YIELDER.with(|c| c.replace(y as *const _)));
            f();
        };
        // SAFETY: everything `f` borrows lives for 'a, and the coroutine
        // never outlives `self` (PhantomData<&'a mut ()>); Drop drives an
        // unfinished coroutine to completion instead of unwinding it, and
        // it is never sent to another thread (Suspendable is !Send).
        let co = unsafe { Co::with_stack_unchecked(stack, body) };
        Suspendable {
            co: Some(co),
            inline: None,
            _borrow: PhantomData,
        }
    }

    /// Run until the work is done (true) or a busy script paused it
    /// (false: call again after letting the event loop run).
    pub fn resume(&mut self) -> bool {
        if let Some(f) = self.inline.take() {
            f();
            return true;
        }
        let Some(co) = self.co.as_mut() else {
            return true;
        };
        match co.resume(()) {
            CoroutineResult::Yield(()) => false,
            CoroutineResult::Return(()) => {
                if let Some(co) = self.co.take() {
                    let stack = co.into_stack();
                    SPARE_STACK.with(|s| s.set(Some(stack)));
                }
                true
            }
        }
    }
}

impl Drop for Suspendable<'_> {
    fn drop(&mut self) {
        let started = self.co.as_ref().is_some_and(|c| c.started() && !c.done());
        if started {
            // The borrowed state must not be left to a suspended script:
            // end it (the hook raises) and run it out.
            ABORT.store(true, Ordering::Release);
            while !self.resume() {}
        }
    }
}

/// Redis's `sha1hex`: lower-case hex SHA1.
pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

/// One sandboxed Lua state.
pub struct Vm {
    pub lua: Lua,
    /// The main Lua state (where the hook lives).
    main: usize,
    /// `slot.register`: FUNCTION LOAD's register_function.
    slot: Table,
    /// The hidden table behind `_G` (where KEYS/ARGV go).
    globals: Table,
    /// `run(f, keys, args)`: xpcall with Redis's error handler.
    runner: Function,
    /// `{"KEYS", "ARGV"}`: the global names EVAL sets, interned once.
    names: Table,
}

impl Vm {
    /// `functions`: the state of function libraries (has
    /// `redis.register_function`).
    pub fn new(functions: bool) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        let native = lua.create_table()?;
        native.set("sha1hex", lua.create_function(native_sha1hex)?)?;
        native.set("log", lua.create_function(native_log)?)?;
        // SAFETY: C functions that follow the Lua C API protocol.
        native.set("call", unsafe { lua.create_c_function(lua_redis_call)? })?;
        native.set("pcall", unsafe { lua.create_c_function(lua_redis_pcall)? })?;
        native.set("setresp", lua.create_function(native_setresp)?)?;
        native.set("set_repl", lua.create_function(native_set_repl)?)?;
        native.set(
            "errmsg",
            lua.create_function(|_, v: Value| {
                Ok(match v {
                    Value::Error(e) => error_message(&e),
                    _ => String::new(),
                })
            })?,
        )?;
        native.set("acl_check_cmd", lua.create_function(native_acl_check_cmd)?)?;
        native.set("functions", functions)?;
        native.set("version", "7.0.15")?;
        native.set("version_num", 0x07000f)?;
        native.set("random", lua.create_function(libs::math_random)?)?;
        native.set("randomseed", lua.create_function(libs::math_randomseed)?)?;
        native.set("handler", lua.create_function(error_handler)?)?;
        native.set("cjson", libs::cjson(&lua)?)?;
        native.set("bit", libs::bit(&lua)?)?;
        native.set("struct", libs::structlib(&lua)?)?;
        native.set("cmsgpack", libs::cmsgpack(&lua)?)?;
        // The hook stays installed: it costs one atomic load per HOOK_EVERY
        // instructions, cheaper than installing it per call.
        // SAFETY: exec_raw hands out the main state, outside any hook.
        let main: mlua::LightUserData = unsafe {
            lua.exec_raw((), |state| {
                install_hook(state);
                mlua::ffi::lua_pushlightuserdata(state, state as *mut std::ffi::c_void);
            })?
        };
        let main = main.0 as usize;
        let (slot, globals, runner, _mkerr): (Table, Table, Function, Function) =
            lua.load(BOOTSTRAP).set_name(INTERNAL).call(native)?;
        // Collect when the heap doubles twice rather than once (Lua's pause
        // 200%): every script makes a little garbage (KEYS/ARGV, replies),
        // and each cycle walks the whole live heap; the heap is ~100 KB.
        lua.gc_inc(400, 0, 0);
        let names = lua.create_sequence_from(["KEYS", "ARGV"])?;
        Ok(Vm {
            lua,
            names,
            main,
            slot,
            globals,
            runner,
        })
    }

    /// Compile a chunk as the sandbox's code (env = the protected globals).
    pub fn compile(&self, body: &[u8], name: &str) -> Result<Function, String> {
        self.lua
            .load(body)
            .set_name(name)
            .into_function()
            .map_err(|e| lua_error_text(&e))
    }

    /// Put the count hook back on the main state if a kill or a timeout
    /// switched it to every line.
    pub fn reset_hook(&self) {
        if LINE_HOOK.swap(false, Ordering::Relaxed) {
            // SAFETY: `main` is this VM's main state, alive as long as
            // `lua`; no hook runs here (no Lua code runs).
            unsafe { install_hook(self.main as *mut mlua::ffi::lua_State) };
        }
    }

    /// The hidden globals table.
    pub fn globals(&self) -> &Table {
        &self.globals
    }

    pub fn slot(&self) -> &Table {
        &self.slot
    }

    /// The runner (`xpcall` with the error handler).
    pub fn runner_fn(&self) -> Function {
        self.runner.clone()
    }

    /// Bytes the Lua state uses (INFO `used_memory_lua`).
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }
}

/// An error raised by the `redis` API as Redis raises its error tables:
/// the message already carries its code (`ERR ...`).
#[derive(Debug, Clone)]
pub struct ScriptError(pub String);

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScriptError {}

fn script_err(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::external(ScriptError(msg.into()))
}

/// The `ScriptError` inside a (possibly wrapped) mlua error.
fn as_script_error(e: &mlua::Error) -> Option<&ScriptError> {
    match e {
        mlua::Error::ExternalError(x) => x.downcast_ref::<ScriptError>(),
        mlua::Error::CallbackError { cause, .. } => as_script_error(cause),
        mlua::Error::WithContext { cause, .. } => as_script_error(cause),
        _ => None,
    }
}

/// What pcall returns for a native error: the ScriptError's text or Lua's.
fn error_message(e: &mlua::Error) -> String {
    match as_script_error(e) {
        Some(s) => s.0.clone(),
        None => lua_error_text(e),
    }
}

/// The running script's state, for the `redis` API natives. Taken (the
/// pointer cleared) while a call runs, so a re-entrant call cannot alias it.
struct CurrentRun(*mut ());

impl CurrentRun {
    fn take(what: &str) -> mlua::Result<CurrentRun> {
        let p = CURRENT.with(|c| c.replace(std::ptr::null_mut()));
        if p.is_null() {
            return Err(script_err(format!(
                "ERR {what} can only be called inside a script invocation"
            )));
        }
        Ok(CurrentRun(p))
    }

    /// SAFETY (of the cast): `run` stores a pointer to its live `RunState`
    /// for exactly the time the script runs, and clears it before the
    /// state is dropped.
    fn state(&mut self) -> &mut RunState<'_, '_> {
        unsafe { &mut *(self.0 as *mut RunState<'_, '_>) }
    }
}

impl Drop for CurrentRun {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// redis.call / redis.pcall: raw Lua C functions, like Redis's (so a
/// `return redis.call(...)` tail call keeps the script's frame for error
/// positions). Arguments are read straight off the Lua stack and the reply
/// is pushed with the C API: no mlua values on this path.
unsafe extern "C-unwind" fn lua_redis_call(state: *mut mlua::ffi::lua_State) -> c_int {
    redis_call_raw(state, true)
}

unsafe extern "C-unwind" fn lua_redis_pcall(state: *mut mlua::ffi::lua_State) -> c_int {
    redis_call_raw(state, false)
}

/// What [`call_inner`] left on top of the stack.
enum CallOutcome {
    /// The reply.
    Reply,
    /// An error table: redis.call raises it, redis.pcall returns it.
    ErrorTable,
    /// An error table to raise even from redis.pcall.
    Raise,
}

unsafe fn redis_call_raw(state: *mut mlua::ffi::lua_State, raise: bool) -> c_int {
    let base = mlua::ffi::lua_gettop(state);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
        call_inner(state, base)
    }));
    let raise_now = match outcome {
        Ok(CallOutcome::Reply) => false,
        Ok(CallOutcome::ErrorTable) => raise,
        Ok(CallOutcome::Raise) => true,
        Err(_) => {
            mlua::ffi::lua_settop(state, base);
            convert::push_error_table(state, b"ERR internal error in redis.call");
            true
        }
    };
    if raise_now {
        // Nothing with a destructor is live in this frame.
        mlua::ffi::lua_error(state);
    }
    1
}

/// The body of redis.call: every Rust value is dropped before it returns,
/// so the caller may raise a Lua error (longjmp) afterwards.
unsafe fn call_inner(state: *mut mlua::ffi::lua_State, base: c_int) -> CallOutcome {
    use mlua::ffi;
    ffi::lua_checkstack(state, 8);
    let mut cur = match CurrentRun::take("redis.call/pcall") {
        Ok(c) => c,
        Err(e) => {
            convert::push_error_table(state, error_message(&e).as_bytes());
            return CallOutcome::Raise;
        }
    };
    let st = cur.state();
    st.args.clear();
    st.ends.clear();
    for i in 1..=base {
        match ffi::lua_type(state, i) {
            ffi::LUA_TSTRING => {
                let mut len = 0usize;
                let p = ffi::lua_tolstring(state, i, &mut len);
                if !p.is_null() {
                    st.args
                        .extend_from_slice(std::slice::from_raw_parts(p as *const u8, len));
                }
            }
            ffi::LUA_TNUMBER => convert::append_number(&mut st.args, ffi::lua_tonumber(state, i)),
            _ => {
                convert::push_error_table(
                    state,
                    b"ERR Lua redis lib command arguments must be strings or integers",
                );
                return CallOutcome::ErrorTable;
            }
        }
        st.ends.push(st.args.len());
    }
    match st.call() {
        Err(msg) => {
            convert::push_error_table(state, msg.as_bytes());
            CallOutcome::ErrorTable
        }
        Ok(is_err) => {
            let mut pos = 0;
            match convert::push_resp(state, st.reply.as_bytes(), &mut pos, 0) {
                Ok(()) if is_err => CallOutcome::ErrorTable,
                Ok(()) => CallOutcome::Reply,
                Err(e) => {
                    ffi::lua_settop(state, base);
                    let msg = format!("ERR {e}");
                    convert::push_error_table(state, msg.as_bytes());
                    CallOutcome::Raise
                }
            }
        }
    }
}

/// redis.acl_check_cmd: ferrocache has only the `default` user with every
/// permission, so any existing command is allowed.
fn native_acl_check_cmd(_lua: &Lua, args: MultiValue) -> mlua::Result<bool> {
    drop(CurrentRun::take("redis.acl_check_cmd")?);
    if args.is_empty() {
        return Err(script_err(
            "ERR Please specify at least one argument for this redis lib call",
        ));
    }
    let mut argv = Vec::with_capacity(args.len());
    for v in args.iter() {
        match convert::arg_bytes(v) {
            Some(b) => argv.push(b),
            None => {
                return Err(script_err(
                    "ERR Lua redis lib command arguments must be strings or integers",
                ))
            }
        }
    }
    let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
    if lookup(&refs).is_none() {
        return Err(script_err(
            "ERR Invalid command passed to redis.acl_check_cmd()",
        ));
    }
    Ok(true)
}

/// `tonumber` of a Lua value.
fn to_number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => Some(*n),
        Value::Integer(i) => Some(*i as f64),
        Value::String(s) => s.to_str().ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn native_setresp(_lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    let mut cur = CurrentRun::take("redis.setresp")?;
    if args.len() != 1 {
        return Err(script_err("ERR redis.setresp() requires one argument."));
    }
    let v = to_number(args.front()).unwrap_or(0.0) as i64;
    if v != 2 && v != 3 {
        return Err(script_err("ERR RESP version must be 2 or 3."));
    }
    cur.state().resp3 = v == 3;
    Ok(())
}

fn native_set_repl(_lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    drop(CurrentRun::take("redis.set_repl")?);
    if args.len() != 1 {
        return Err(script_err("ERR redis.set_repl() requires two arguments."));
    }
    let v = to_number(args.front()).unwrap_or(0.0) as i64;
    if v & !3 != 0 {
        return Err(script_err(
            "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        ));
    }
    Ok(())
}

fn native_sha1hex(_lua: &Lua, args: MultiValue) -> mlua::Result<String> {
    if args.len() != 1 {
        return Err(script_err("ERR wrong number of arguments"));
    }
    let data = args
        .front()
        .and_then(convert::arg_bytes)
        .unwrap_or_default();
    Ok(sha1_hex(&data))
}

/// redis.log: checked as Redis does; ferrocache has no log file to write
/// script messages to, so they go to standard error at WARNING level only.
fn native_log(_lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    if args.len() < 2 {
        return Err(script_err(
            "ERR redis.log() requires two arguments or more.",
        ));
    }
    let Some(level) = to_number(args.front()) else {
        return Err(script_err(
            "ERR First argument must be a number (log level).",
        ));
    };
    let level = level as i64;
    if !(0..=3).contains(&level) {
        return Err(script_err("ERR Invalid debug level."));
    }
    if level == 3 {
        let parts: Vec<String> = args
            .iter()
            .skip(1)
            .filter_map(convert::arg_bytes)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        eprintln!("# {}", parts.join(" "));
    }
    Ok(())
}

/// The message of a Lua error as Lua printed it (no mlua decorations).
pub fn lua_error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_error_text(cause),
        mlua::Error::WithContext { cause, .. } => lua_error_text(cause),
        other => other.to_string(),
    }
}

/// `__redis__err__handler`: turn any error into Redis's error table
/// `{err=, source=, line=}`, the position being the innermost frame of user
/// code (skipping C functions and the sandbox's own wrappers).
fn error_handler(lua: &Lua, e: Value) -> mlua::Result<Table> {
    let t = match e {
        Value::Table(t) => t,
        other => {
            let msg: Vec<u8> = match &other {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Number(n) => libs::lua_number_string(*n).into_bytes(),
                Value::Integer(i) => i.to_string().into_bytes(),
                Value::Error(err) => {
                    if let Some(se) = as_script_error(err) {
                        let t = lua.create_table()?;
                        t.raw_set("err", se.0.as_str())?;
                        t.raw_set("ignore_error_stats_update", true)?;
                        return locate(lua, t);
                    }
                    lua_error_text(err).into_bytes()
                }
                Value::Nil => b"nil".to_vec(),
                Value::Boolean(b) => b.to_string().into_bytes(),
                _ => b"execution failure".to_vec(),
            };
            let t = lua.create_table()?;
            let mut full = b"ERR ".to_vec();
            full.extend_from_slice(&msg);
            t.raw_set("err", lua.create_string(&full)?)?;
            t
        }
    };
    locate(lua, t)
}

/// Add `source`/`line` of the innermost user frame to an error table.
fn locate(lua: &Lua, t: Table) -> mlua::Result<Table> {
    for level in 0..64 {
        let Some(frame) = lua.inspect_stack(level) else {
            break;
        };
        let src = frame.source();
        // C functions and the "(tail call)" placeholders Lua 5.1 leaves
        // when a hook raises in a frame entered by a tail call.
        if src.what == "C" || src.what == "tail" {
            continue;
        }
        let source = src.source.as_deref().unwrap_or("").to_string();
        if source == INTERNAL {
            continue;
        }
        let line = frame.curr_line();
        t.raw_set("source", source)?;
        t.raw_set("line", line)?;
        break;
    }
    Ok(t)
}

/// Resolve a command line as `lookupCommand` does: the command, or its
/// subcommand for containers. (table index, top, spec)
fn lookup(
    argv: &[&[u8]],
) -> Option<(
    usize,
    &'static crate::spec::CommandSpec,
    &'static crate::spec::CommandSpec,
)> {
    let (idx, top) = crate::table::table().get(argv.first()?)?;
    if top.subcommands.is_empty() || argv.len() < 2 {
        return Some((idx, top, top));
    }
    let sub = crate::table::subcommand(top, argv[1])?;
    Some((idx, top, sub))
}

/// The two Lua states: EVAL scripts, and function libraries.
pub struct Engine {
    pub eval: Mutex<EvalState>,
    pub func: Mutex<crate::cmd::function::FuncState>,
}

/// Hasher of the script cache: its keys are SHA1 hex digests, already
/// uniformly distributed, so a multiply-xor over 8-byte words is enough
/// (SipHash of 40 bytes was a visible share of an EVALSHA).
#[derive(Clone, Copy)]
pub struct ShaHasher(u64);

impl std::hash::Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        self.0 = h;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`ShaHasher`]s seeded per process, so that bodies cannot be
/// chosen to collide in the table.
#[derive(Clone, Copy)]
pub struct ShaBuild(u64);

impl Default for ShaBuild {
    fn default() -> Self {
        static SEED: OnceLock<u64> = OnceLock::new();
        ShaBuild(*SEED.get_or_init(rand::random::<u64>))
    }
}

impl std::hash::BuildHasher for ShaBuild {
    type Hasher = ShaHasher;
    fn build_hasher(&self) -> ShaHasher {
        ShaHasher(self.0)
    }
}

/// The script cache: sha1 hex → compiled body.
pub type ScriptMap = std::collections::HashMap<String, CachedScript, ShaBuild>;

/// EVAL's VM and its script cache (sha1 hex → compiled body).
pub struct EvalState {
    pub vm: Vm,
    pub scripts: ScriptMap,
    /// Sum of the cached bodies' sizes (INFO `used_memory_scripts_eval`).
    pub bytes: usize,
}

pub struct CachedScript {
    pub func: Function,
    /// `#!lua flags=no-writes`: the script may not write.
    pub no_writes: bool,
}

impl EvalState {
    pub fn new() -> mlua::Result<EvalState> {
        Ok(EvalState {
            vm: Vm::new(false)?,
            scripts: Default::default(),
            bytes: 0,
        })
    }
}

/// The process's scripting engine. A static, like the eviction pool: one
/// Redis node per process in production.
pub fn engine() -> Result<&'static Engine, CmdError> {
    static E: OnceLock<Option<Engine>> = OnceLock::new();
    E.get_or_init(|| {
        Some(Engine {
            eval: Mutex::new(EvalState::new().ok()?),
            func: Mutex::new(crate::cmd::function::FuncState::new().ok()?),
        })
    })
    .as_ref()
    .ok_or_else(|| CmdError::msg("ERR Failed to initialize the Lua engine"))
}

/// Scripting figures for INFO `# Memory`.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryStats {
    pub vm_eval: usize,
    pub vm_functions: usize,
    pub scripts_eval: usize,
    pub cached_scripts: usize,
    pub functions: usize,
    pub libraries: usize,
    pub functions_bytes: usize,
}

/// INFO's scripting memory figures. Never waits for a running script: the
/// last figures seen are reported while one holds a state.
pub fn memory_stats() -> MemoryStats {
    static LAST: Mutex<MemoryStats> = Mutex::new(MemoryStats {
        vm_eval: 0,
        vm_functions: 0,
        scripts_eval: 0,
        cached_scripts: 0,
        functions: 0,
        libraries: 0,
        functions_bytes: 0,
    });
    let Ok(eng) = engine() else {
        return MemoryStats::default();
    };
    let mut last = LAST.lock();
    if let Some(st) = eng.eval.try_lock() {
        last.vm_eval = st.vm.used_memory();
        last.scripts_eval = st.bytes;
        last.cached_scripts = st.scripts.len();
    }
    if let Some(st) = eng.func.try_lock() {
        last.vm_functions = st.vm.used_memory();
        last.libraries = st.libs.len();
        last.functions = st.libs.values().map(|l| l.funcs.len()).sum();
        last.functions_bytes = st.libs.values().map(|l| l.code.len()).sum();
    }
    *last
}

/// How a script runs.
pub struct RunMode<'n> {
    /// EVAL (KEYS/ARGV globals) rather than FCALL (arguments).
    pub eval: bool,
    /// EVAL_RO/FCALL_RO or a `no-writes` script: writes are refused.
    pub read_only: bool,
    /// The name errors quote (`script: <name>`): the sha or function name.
    pub name: &'n str,
    /// FUNCTION STATS command line (functions only).
    pub command: Option<&'n [&'n [u8]]>,
}

/// What `redis.call` needs while a script runs.
struct RunState<'a, 'k> {
    server: &'k crate::Server,
    client: &'a mut crate::ClientState,
    locked: Option<ferrocache_engine::Locked<'k>>,
    resp3: bool,
    read_only: bool,
    /// Memory was over maxmemory when the script started (Redis's
    /// `pre_command_oom_state`): DENYOOM commands are refused until the
    /// script wrote.
    oom: bool,
    wrote: bool,
    /// Reused per call: the called command's reply, and its arguments
    /// (copied out of Lua into one buffer).
    reply: ferrocache_protocol::ReplyWriter,
    args: Vec<u8>,
    ends: Vec<usize>,
    /// The function's name and command line (FUNCTION STATS).
    info: Option<(&'a str, &'a [&'a [u8]])>,
    /// The last command resolved (scripts tend to call the same few).
    last: Option<(
        usize,
        &'static crate::spec::CommandSpec,
        &'static crate::spec::CommandSpec,
    )>,
}

/// A script's reusable buffers: reply writer, argument bytes, argument ends.
type Bufs = (ferrocache_protocol::ReplyWriter, Vec<u8>, Vec<usize>);

thread_local! {
    /// The buffers of the last finished script, reused by the next one.
    static SPARE_BUFS: Cell<Option<Bufs>> = const { Cell::new(None) };
}

/// Buffers larger than this are not kept for the next script.
const KEEP_BUF: usize = 64 * 1024;

impl RunState<'_, '_> {
    /// One redis.call / redis.pcall of the command line in `args`/`ends`:
    /// its reply is left in `reply`. Ok(true) when that reply is an error;
    /// Err(message) when the call was refused before running.
    fn call(&mut self) -> Result<bool, &'static str> {
        if self.ends.is_empty() {
            return Err("ERR Please specify at least one argument for this redis lib call");
        }
        let mut argv: smallvec::SmallVec<[&[u8]; 8]> = smallvec::SmallVec::new();
        let mut start = 0;
        for &end in &self.ends {
            argv.push(&self.args[start..end]);
            start = end;
        }
        let hit = self.last.filter(|(_, top, spec)| {
            std::ptr::eq(*top, *spec)
                && top.subcommands.is_empty()
                && top.name.as_bytes().eq_ignore_ascii_case(argv[0])
        });
        let Some((idx, top, spec)) = hit.or_else(|| lookup(&argv)) else {
            return Err("ERR Unknown Redis command called from script");
        };
        self.last = Some((idx, top, spec));
        if !spec.arity_ok(argv.len()) {
            return Err("ERR Wrong number of args calling Redis command from script");
        }
        if spec.has(flags::NOSCRIPT) {
            return Err("ERR This Redis command is not allowed from script");
        }
        if spec.has(flags::WRITE) && self.read_only {
            return Err("ERR Write commands are not allowed from read-only scripts.");
        }
        if spec.has(flags::DENYOOM) && self.oom && !self.wrote {
            return Err(crate::error::OOM);
        }
        let Some(locked) = self.locked.take() else {
            return Err("ERR script lost its locks");
        };
        let out = &mut self.reply;
        out.clear();
        out.set_version(if self.resp3 {
            ferrocache_protocol::RespVersion::Resp3
        } else {
            ferrocache_protocol::RespVersion::Resp2
        });
        let locked = crate::dispatch::invoke(
            self.server,
            self.client,
            out,
            locked,
            std::time::Instant::now(),
            idx,
            top,
            spec,
            &argv,
        );
        self.locked = Some(locked);
        let is_err = self.reply.as_bytes().first() == Some(&b'-');
        if spec.has(flags::WRITE) && !is_err {
            self.wrote = true;
            WROTE.store(true, Ordering::Release);
        }
        Ok(is_err)
    }
}

/// Is memory over `maxmemory` right now? (No eviction: the caller holds
/// every shard, and eviction locks shards itself.)
fn over_maxmemory(server: &crate::Server) -> bool {
    let max = server.keyspace.tunables.maxmemory.load(Ordering::Relaxed);
    max != 0 && ferrocache_engine::memory::used_memory() as u64 > max
}

/// Publishes a `RunState` in [`CURRENT`] for the script's life, restoring
/// the previous value (null) even if the script unwinds.
struct Published(*mut ());

impl Drop for Published {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.0));
    }
}

/// `runner(f)` with KEYS/ARGV set as globals (EVAL), or
/// `runner(f, KEYS, ARGV)` (FCALL), through Lua's C API in one protected
/// call: the tables are built straight from the argument bytes, with no
/// intermediate handles. Returns the runner's (ok, value).
fn call_runner(
    vm: &Vm,
    f: &Function,
    keys: &[&[u8]],
    args: &[&[u8]],
    eval: bool,
) -> mlua::Result<(bool, Value)> {
    use mlua::ffi;
    use std::os::raw::{c_char, c_int};
    // SAFETY: only stack-balanced C API calls on the state exec_raw hands
    // out, in protected mode (a Lua error unwinds to exec_raw, and no Rust
    // value with a destructor is live here).
    unsafe {
        vm.lua
            .exec_raw((&vm.runner, &vm.globals, f, &vm.names), |state| {
                // Stack: 1 runner, 2 globals, 3 f, 4 {"KEYS", "ARGV"} (interned
                // once: pushing them by name hashed and looked them up 4 times
                // per call).
                ffi::lua_checkstack(state, 8);
                let seq = |items: &[&[u8]]| {
                    ffi::lua_createtable(state, items.len().min(i32::MAX as usize) as c_int, 0);
                    for (i, a) in items.iter().enumerate() {
                        ffi::lua_pushlstring_(state, a.as_ptr() as *const c_char, a.len());
                        ffi::lua_rawseti_(state, -2, (i + 1) as c_int);
                    }
                };
                ffi::lua_pushvalue(state, 1);
                ffi::lua_pushvalue(state, 3);
                if eval {
                    ffi::lua_rawgeti(state, 4, 1);
                    seq(keys);
                    ffi::lua_rawset(state, 2);
                    ffi::lua_rawgeti(state, 4, 2);
                    seq(args);
                    ffi::lua_rawset(state, 2);
                    ffi::lua_pushnil(state);
                    ffi::lua_pushnil(state);
                } else {
                    seq(keys);
                    seq(args);
                }
                ffi::lua_call(state, 3, 2);
                if eval {
                    for i in 1..=2 {
                        ffi::lua_rawgeti(state, 4, i);
                        ffi::lua_pushnil(state);
                        ffi::lua_rawset(state, 2);
                    }
                }
                // Leave only the two results.
                for _ in 0..4 {
                    ffi::lua_remove(state, 1);
                }
            })
    }
}

/// Run `f` for the client of `ctx` and write its reply (or error) there.
pub fn run(
    ctx: &mut Ctx<'_, '_>,
    vm: &Vm,
    f: &Function,
    keys: &[&[u8]],
    args: &[&[u8]],
    mode: RunMode<'_>,
) -> CmdResult {
    let lerr = |e: mlua::Error| CmdError::msg(format!("ERR {}", lua_error_text(&e)));
    let server = ctx.server;
    let now = ctx.now();
    let _guard = RunGuard::start(server, if mode.eval { 1 } else { 2 }, now);
    let locked = std::mem::replace(&mut ctx.ks, server.keyspace.lock_none(now));
    let saved_db = ctx.client.db;
    let saved_deny = ctx.client.deny_blocking;
    ctx.client.deny_blocking = true;
    let (mut reply, abuf, ends) = SPARE_BUFS
        .with(|s| s.take())
        .unwrap_or_else(|| (Default::default(), Vec::new(), Vec::new()));
    // Pushes for the caller itself (its own keyspace events) do not belong
    // in redis.call's reply: they go to its connection, before the
    // script's reply, as in Redis.
    reply.divert_pushes(true);
    let mut state = RunState {
        server,
        client: &mut *ctx.client,
        locked: Some(locked),
        resp3: false,
        read_only: mode.read_only,
        oom: over_maxmemory(server),
        wrote: false,
        reply,
        args: abuf,
        ends,
        info: mode.command.map(|c| (mode.name, c)),
        last: None,
    };
    let result: mlua::Result<(bool, Value)> = {
        let p = &mut state as *mut RunState<'_, '_> as *mut ();
        let _published = Published(CURRENT.with(|c| c.replace(p)));
        call_runner(vm, f, keys, args, mode.eval)
    };
    vm.reset_hook();
    resolve_watches(state.locked.as_mut());
    let RunState {
        locked,
        resp3,
        mut reply,
        args: abuf,
        ends,
        ..
    } = state;
    let own = reply.take_diverted();
    if !own.is_empty() {
        ctx.out.push_own(&own);
    }
    if reply.as_bytes().len() <= KEEP_BUF && abuf.capacity() <= KEEP_BUF {
        SPARE_BUFS.with(|s| s.set(Some((reply, abuf, ends))));
    }
    if let Some(l) = locked {
        ctx.ks = l;
    }
    ctx.client.db = saved_db;
    ctx.client
        .shared
        .db
        .store(saved_db, std::sync::atomic::Ordering::Relaxed);
    ctx.client.deny_blocking = saved_deny;
    // No forced GC step here (Redis 7.0 runs `lua_gc(STEP, 50)` every 50
    // scripts): such a step walks the whole Lua heap, which is larger here
    // (mlua's registry and callbacks) than in Redis, while Lua's own
    // incremental collector does work in proportion to the garbage made.
    if ABORT.load(Ordering::Acquire) {
        // SHUTDOWN NOSAVE ended the script: Redis exits from inside it, so
        // its client gets no reply, only the connection closing.
        ctx.client.close_after_reply = true;
        return Ok(());
    }
    match result {
        Ok((true, v)) => convert::lua_to_reply(ctx.out, &v, resp3, 0),
        Ok((false, Value::Table(t))) => {
            let msg = field_bytes(&t, "err").unwrap_or_else(|| b"ERR unknown error".to_vec());
            let mut full = msg;
            if let (Some(src), Some(line)) = (field_bytes(&t, "source"), field_bytes(&t, "line")) {
                full.extend_from_slice(b" script: ");
                full.extend_from_slice(mode.name.as_bytes());
                full.extend_from_slice(b", on ");
                full.extend_from_slice(&src);
                full.push(b':');
                full.extend_from_slice(&line);
                full.push(b'.');
            }
            Err(CmdError::Raw(full))
        }
        Ok((false, other)) => {
            let msg = match other {
                Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                _ => "execution failure".into(),
            };
            let msg: String = msg.chars().take(100).collect();
            Err(CmdError::msg(format!(
                "ERR Error running script {}, {msg}",
                mode.name
            )))
        }
        Err(e) => Err(lerr(e)),
    }
}

/// A string or number field of an error table, as bytes (`lua_tostring`).
fn field_bytes(t: &Table, name: &str) -> Option<Vec<u8>> {
    match t.raw_get::<Value>(name).ok()? {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Number(n) => Some(libs::lua_number_string(n).into_bytes()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_plain(vm: &Vm, src: &str) -> (bool, Value) {
        let f = vm
            .compile(src.as_bytes(), "@user_script")
            .expect("compiles");
        vm.runner
            .call::<(bool, Value)>((f, Value::Nil, Value::Nil))
            .expect("runner")
    }

    fn err_text(v: &Value) -> String {
        match v {
            Value::Table(t) => field_bytes(t, "err")
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    #[test]
    fn globals_are_protected() {
        let vm = Vm::new(false).expect("vm");
        let (ok, e) = run_plain(&vm, "x = 1");
        assert!(!ok);
        assert_eq!(
            err_text(&e),
            "ERR user_script:1: Attempt to modify a readonly table"
        );
        let (ok, e) = run_plain(&vm, "return nope");
        assert!(!ok);
        assert_eq!(
            err_text(&e),
            "ERR user_script:1: Script attempted to access nonexistent global variable 'nope'"
        );
        let (ok, v) = run_plain(&vm, "return type(string.len)");
        assert!(ok);
        assert_eq!(v.as_str().map(|s| s.to_string()), Some("function".into()));
    }

    #[test]
    fn redis_call_outside_a_script_fails_cleanly() {
        let vm = Vm::new(false).expect("vm");
        let (ok, e) = run_plain(&vm, "return redis.call('ping')");
        assert!(!ok);
        assert_eq!(
            err_text(&e),
            "ERR redis.call/pcall can only be called inside a script invocation"
        );
    }

    #[test]
    fn sha1_hex_is_lowercase() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }
}
