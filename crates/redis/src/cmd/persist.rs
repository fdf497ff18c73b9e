//! Persistence commands: SAVE, BGSAVE, LASTSAVE, BGREWRITEAOF, DUMP,
//! RESTORE, plus what other modules call: INFO persistence, save points
//! (the cron), save on SHUTDOWN, DEBUG RELOAD and the load at start.
//!
//! The file format lives in `ferrocache-persist`; this module decides
//! *when* to save and keeps the bookkeeping INFO reports.
//!
//! # Point-in-time BGSAVE
//! BGSAVE runs with every shard locked (the command is `GLOBAL`, or the
//! cron locks them all), so no command is half way at its instant.
//!
//! By default it is *incremental*: every database gets a snapshot state
//! ([`ferrocache_engine::db::SnapInfo`]: a bit per key, a cursor, a list
//! of keys copied aside before a write changed them), the locks are
//! released, and a `bgsave` thread at the lowest CPU priority walks the
//! databases one short critical section at a time, writing the image of
//! that instant while the node keeps serving. Nothing stops the world
//! and a write pays a copy only the first time it touches a key not yet
//! saved (see `ferrocache_engine::db::snapshot`).
//!
//! With `bgsave-fork yes` it forks instead, as Redis does: the child owns
//! a copy-on-write image and the parent releases the locks right after
//! `fork` returns (a page-table copy: milliseconds per GB, during which
//! the node is stopped). A waiter thread reaps the child and records the
//! outcome.
//!
//! State is process-wide ([`state`]): one node per process, and the
//! waiter thread and the cron need it without a `Server` borrow.

use crate::args::{eq, int};
use crate::ctx::Ctx;
use crate::error::{err, errf, CmdResult, SYNTAX};
use crate::server::Server;
use crate::spec::{acl, flags::*, CommandSpec};
use ferrocache_engine::keyspace::EvictionPolicy;
use ferrocache_engine::{Entry, Locked, Shard};
use ferrocache_persist::file::{self, Child, FinishWrite};
use ferrocache_persist::{reader, writer, AccessInfo, Item, RdbError, SaveOptions};
use parking_lot::Mutex;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("save", 1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING | NO_MULTI | GLOBAL, (0, 0, 0), save)
        .acl(acl::ADMIN | acl::SLOW | acl::DANGEROUS)
        .doc("server", "1.0.0", "Synchronously save the dataset to disk", "O(N) where N is the total number of keys in all databases"),
    CommandSpec::new("bgsave", -1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING | GLOBAL, (0, 0, 0), bgsave)
        .acl(acl::ADMIN | acl::SLOW | acl::DANGEROUS)
        .doc("server", "1.0.0", "Asynchronously save the dataset to disk", "O(1)"),
    CommandSpec::new("lastsave", 1, LOADING | STALE | FAST, (0, 0, 0), lastsave)
        .acl(acl::ADMIN | acl::FAST | acl::DANGEROUS)
        .doc("server", "1.0.0", "Get the UNIX time stamp of the last successful save to disk", "O(1)"),
    CommandSpec::new("bgrewriteaof", 1, ADMIN | NOSCRIPT | NO_ASYNC_LOADING, (0, 0, 0), bgrewriteaof)
        .acl(acl::ADMIN | acl::SLOW | acl::DANGEROUS)
        .doc("server", "1.0.0", "Asynchronously rewrite the append-only file", "O(1)"),
    CommandSpec::new("dump", 2, READONLY, (1, 1, 1), dump)
        .acl(acl::KEYSPACE | acl::READ | acl::SLOW)
        .doc("generic", "2.6.0", "Return a serialized version of the value stored at the specified key.", "O(1) to access the key and additional O(N*M) to serialize it, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1)."),
    CommandSpec::new("restore", -4, WRITE | DENYOOM, (1, 1, 1), restore)
        .acl(acl::KEYSPACE | acl::WRITE | acl::SLOW | acl::DANGEROUS)
        .doc("generic", "2.6.0", "Create a key using the provided serialized value, previously obtained using DUMP.", "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value, where N is the number of Redis objects composing the value and M their average size. For small string values the time complexity is thus O(1)+O(1*M) where M is small, so simply O(1). However for sorted set values the complexity is O(N*M*log(N)) because inserting values into sorted sets is O(log(N))."),
];

/// Newest RDB version a DUMP payload may carry to be restored (we read up
/// to 12; Redis 7.0 itself refuses anything above 10).
const RESTORE_MAX_VERSION: u32 = ferrocache_persist::rdb::MAX_VERSION;
/// Redis's `CONFIG_BGSAVE_RETRY_DELAY`: after a failed BGSAVE, save points
/// wait this long before trying again.
const BGSAVE_RETRY_DELAY_SECS: u64 = 5;

/// How often the waiter thread samples the child's copy-on-write size.
const COW_SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// A running background save.
#[derive(Debug, Clone)]
struct Running {
    how: How,
    started: Instant,
    dirty_at_fork: u64,
}

/// How the running background save works.
#[derive(Debug, Clone)]
enum How {
    /// A forked child process.
    Fork(Child),
    /// The incremental snapshot thread; set the flag to abort it.
    Thread(std::sync::Arc<AtomicBool>),
}

/// Taken around an incremental save's final rename and around aborting
/// it ([`kill_bgsave`]): once an abort is set under it, no older image
/// can be renamed over a file saved afterwards (SHUTDOWN's save).
static RENAME_GATE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Numbers the incremental snapshots (each database's state carries it).
static SNAPSHOT_ID: AtomicU64 = AtomicU64::new(1);

/// Process-wide persistence bookkeeping (INFO persistence).
#[derive(Debug)]
pub struct PersistState {
    /// Unix seconds of the last successful save (or of the start).
    pub lastsave: AtomicU64,
    /// Sum of every database's `dirty` counter at the last save.
    pub dirty_at_save: AtomicU64,
    running: Mutex<Option<Running>>,
    pub scheduled: AtomicBool,
    pub last_bgsave_ok: AtomicBool,
    pub last_bgsave_secs: AtomicI64,
    /// Unix seconds of the last BGSAVE attempt (retry delay).
    pub last_try: AtomicU64,
    pub saves: AtomicU64,
    pub loaded_keys: AtomicU64,
    pub loaded_expired: AtomicU64,
    pub aof_rewrites: AtomicU64,
    /// Copy-on-write figures of the running child (Redis
    /// `stat_current_cow_*`), sampled by the waiter thread from
    /// `/proc/<child>/smaps_rollup`; 0 when no child runs.
    pub cow_current: AtomicU64,
    pub cow_peak: AtomicU64,
    /// Unix ms of the last sample (0: none yet).
    pub cow_updated_ms: AtomicU64,
    /// Keys in the dataset at the fork (`current_save_keys_total`).
    pub save_keys_total: AtomicU64,
    /// Peak copy-on-write bytes of the last successful BGSAVE.
    pub last_cow: AtomicU64,
    /// Keys written so far by the incremental snapshot thread.
    pub thread_keys: AtomicU64,
    /// Function library sources read from a snapshot while no function
    /// engine is registered: kept so the next save writes them back.
    pub functions: Mutex<Vec<Vec<u8>>>,
}

/// Function library persistence, registered by the scripting module.
pub struct FunctionHooks {
    /// Every library's source code, for the snapshot.
    pub dump: fn() -> Vec<Vec<u8>>,
    /// Load libraries read from a snapshot (replacing existing ones).
    pub load: fn(Vec<Vec<u8>>) -> Result<(), String>,
}

/// Set once by the function engine (H2's `cmd/function.rs`).
pub static FUNCTION_HOOKS: OnceLock<FunctionHooks> = OnceLock::new();

/// The process-wide state.
pub fn state() -> &'static PersistState {
    static S: OnceLock<PersistState> = OnceLock::new();
    S.get_or_init(|| PersistState {
        lastsave: AtomicU64::new(unix_secs()),
        dirty_at_save: AtomicU64::new(0),
        running: Mutex::new(None),
        scheduled: AtomicBool::new(false),
        last_bgsave_ok: AtomicBool::new(true),
        last_bgsave_secs: AtomicI64::new(-1),
        last_try: AtomicU64::new(0),
        saves: AtomicU64::new(0),
        loaded_keys: AtomicU64::new(0),
        loaded_expired: AtomicU64::new(0),
        aof_rewrites: AtomicU64::new(0),
        cow_current: AtomicU64::new(0),
        cow_peak: AtomicU64::new(0),
        cow_updated_ms: AtomicU64::new(0),
        save_keys_total: AtomicU64::new(0),
        last_cow: AtomicU64::new(0),
        thread_keys: AtomicU64::new(0),
        functions: Mutex::new(Vec::new()),
    })
}

fn unix_secs() -> u64 {
    ferrocache_engine::clock::now_ms() / 1000
}

fn yes(server: &Server, name: &str) -> bool {
    server
        .config
        .get(name)
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
}

/// `dir`/`dbfilename`, and the directory for temporary files.
pub fn rdb_path(server: &Server) -> (PathBuf, PathBuf) {
    let dir = PathBuf::from(server.config.get("dir").unwrap_or_else(|| ".".into()));
    let name = server
        .config
        .get("dbfilename")
        .unwrap_or_else(|| "dump.rdb".into());
    (dir.join(name), dir)
}

fn functions_for_save() -> Vec<Vec<u8>> {
    match FUNCTION_HOOKS.get() {
        Some(h) => (h.dump)(),
        None => state().functions.lock().clone(),
    }
}

/// `rdb-version`: the RDB version written by SAVE, BGSAVE and DUMP.
fn rdb_version(server: &Server) -> u32 {
    server
        .config
        .get("rdb-version")
        .and_then(|v| v.parse().ok())
        .unwrap_or(ferrocache_persist::rdb::DEFAULT_VERSION)
}

/// Which eviction metadata the keys carry in a snapshot (Redis writes the
/// idle time under the LRU policies, the LFU counter under the LFU ones).
fn access_info(server: &Server) -> AccessInfo {
    let t = server.keyspace.tunables.clone();
    match t.policy() {
        EvictionPolicy::VolatileLru | EvictionPolicy::AllkeysLru => AccessInfo::Lru(t),
        EvictionPolicy::VolatileLfu | EvictionPolicy::AllkeysLfu => AccessInfo::Lfu(t),
        _ => AccessInfo::None,
    }
}

fn save_options(server: &Server, now_ms: u64) -> SaveOptions {
    SaveOptions {
        version: rdb_version(server),
        compress: yes(server, "rdbcompression"),
        checksum: yes(server, "rdbchecksum"),
        now_ms,
        functions: functions_for_save(),
        used_mem: ferrocache_engine::memory::used_memory() as u64,
        access: access_info(server),
        key_save_delay: server
            .config
            .get("rdb-key-save-delay")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
    }
}

/// `snapshot-encryption-key-file`, if set.
fn key_file(server: &Server) -> Option<PathBuf> {
    server
        .config
        .get("snapshot-encryption-key-file")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The encryption wrapper for the configured key, if any.
type Wrap = Box<file::WrapFn>;

fn encryption_wrap(server: &Server) -> io::Result<Option<Wrap>> {
    match key_file(server) {
        None => Ok(None),
        Some(p) => {
            let key = ferrocache_persist::crypt::Key::from_file(&p)?;
            Ok(Some(Box::new(move |w| {
                let e = ferrocache_persist::crypt::EncryptWriter::new(w, &key)?;
                Ok(Box::new(e) as Box<dyn FinishWrite>)
            })))
        }
    }
}

/// Sum of the dirty counters of every database of the locked shards.
fn dirty_locked(ks: &mut Locked<'_>) -> u64 {
    ks.shards()
        .map(|(_, s)| s.dbs.iter().map(|d| d.dirty).sum::<u64>())
        .sum()
}

/// Sum of the dirty counters, locking one shard at a time (the cron).
pub fn dirty_unlocked(server: &Server) -> u64 {
    (0..server.keyspace.shard_count())
        .filter_map(|i| server.keyspace.lock_shard(i))
        .map(|s| s.dbs.iter().map(|d| d.dirty).sum::<u64>())
        .sum()
}

fn changes_since_save(dirty: u64) -> u64 {
    dirty.saturating_sub(state().dirty_at_save.load(Ordering::Relaxed))
}

pub fn bgsave_in_progress() -> bool {
    state().running.lock().is_some()
}

/// Synchronous save of the locked shards (SAVE, SHUTDOWN, DEBUG RELOAD).
/// A background save still running is stopped first: it would write an
/// older image over this one.
pub fn save_locked(server: &Server, ks: &mut Locked<'_>) -> io::Result<()> {
    kill_bgsave();
    let now = ks.now();
    let dirty = dirty_locked(ks);
    let opts = save_options(server, now);
    let (target, dir) = rdb_path(server);
    let tmp = dir.join(format!("temp-{}.rdb", std::process::id()));
    let wrap = encryption_wrap(server)?;
    let shards: Vec<&Shard> = ks.shards().map(|(_, s)| &*s).collect();
    let w = wrap.as_deref();
    file::save_to_path(&shards, &target, &tmp, &opts, w)?;
    let st = state();
    st.lastsave.store(unix_secs(), Ordering::Relaxed);
    st.dirty_at_save.store(dirty, Ordering::Relaxed);
    st.saves.fetch_add(1, Ordering::Relaxed);
    st.last_bgsave_ok.store(true, Ordering::Relaxed);
    Ok(())
}

/// Start a background save of the locked shards (all of them must be
/// held): incremental by default, forked with `bgsave-fork yes`. The
/// caller releases the locks right after this returns.
pub fn bgsave_locked(server: &Server, ks: &mut Locked<'_>) -> io::Result<()> {
    let st = state();
    let mut running = st.running.lock();
    if running.is_some() {
        return Err(io::Error::other("Background save already in progress"));
    }
    let now = ks.now();
    let dirty = dirty_locked(ks);
    let opts = save_options(server, now);
    let (target, dir) = rdb_path(server);
    let wrap = encryption_wrap(server)?;
    st.last_try.store(unix_secs(), Ordering::Relaxed);
    let keys_total: u64 = ks
        .shards()
        .map(|(_, s)| s.dbs.iter().map(|d| d.len() as u64).sum::<u64>())
        .sum();
    let how = if yes(server, "bgsave-fork") {
        let shards: Vec<&Shard> = ks.shards().map(|(_, s)| &*s).collect();
        let w = wrap.as_deref();
        match file::fork_save(&shards, &target, &dir, &opts, w) {
            Ok(c) => How::Fork(c),
            Err(e) => {
                st.last_bgsave_ok.store(false, Ordering::Relaxed);
                return Err(e);
            }
        }
    } else {
        let Some(me) = server.arc() else {
            return Err(io::Error::other("server is shutting down"));
        };
        let id = SNAPSHOT_ID.fetch_add(1, Ordering::Relaxed);
        for (_, shard) in ks.shards() {
            for (i, d) in shard.dbs.iter_mut().enumerate() {
                d.snapshot_begin(id, i);
            }
        }
        ferrocache_engine::db::snapshot_reset_pending_peak();
        st.thread_keys.store(0, Ordering::Relaxed);
        let abort = std::sync::Arc::new(AtomicBool::new(false));
        let flag = abort.clone();
        let tmp = dir.join(format!("temp-bgsave-{}.rdb", std::process::id()));
        let spawned = std::thread::Builder::new()
            .name("bgsave".into())
            .spawn(move || {
                let mut progress = |n: u64| {
                    let st = state();
                    st.thread_keys.store(n, Ordering::Relaxed);
                    sample_pending();
                };
                let w = wrap.as_deref();
                // A panic must not leave the databases copying keys aside
                // for a save nobody finishes: it counts as a failed save.
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    file::save_incremental_to_path(
                        &me.keyspace,
                        id,
                        &target,
                        &tmp,
                        &opts,
                        w,
                        (&RENAME_GATE, &flag),
                        &mut progress,
                    )
                }))
                .unwrap_or_else(|_| {
                    // (The writer ends the snapshot states as it unwinds.)
                    let _ = std::fs::remove_file(&tmp);
                    Err(io::Error::other("snapshot thread panicked"))
                });
                sample_pending();
                let peak = state().cow_peak.load(Ordering::Relaxed);
                // Aborted on purpose (SHUTDOWN, a foreground save): not a
                // failure, as Redis treats a child killed with SIGUSR1.
                let outcome = match r {
                    Ok(_) => Some(true),
                    Err(_) if flag.load(Ordering::Relaxed) => None,
                    Err(_) => Some(false),
                };
                finish_bgsave(outcome, peak);
            });
        if let Err(e) = spawned {
            // The thread never ran: drop the snapshot states again.
            for (_, shard) in ks.shards() {
                for d in shard.dbs.iter_mut() {
                    d.snapshot_end(id);
                }
            }
            st.last_bgsave_ok.store(false, Ordering::Relaxed);
            return Err(e);
        }
        How::Thread(abort)
    };
    let run = Running {
        how: how.clone(),
        started: Instant::now(),
        dirty_at_fork: dirty,
    };
    *running = Some(run);
    st.scheduled.store(false, Ordering::Relaxed);
    st.cow_current.store(0, Ordering::Relaxed);
    st.cow_peak.store(0, Ordering::Relaxed);
    st.cow_updated_ms.store(0, Ordering::Relaxed);
    st.save_keys_total.store(keys_total, Ordering::Relaxed);
    drop(running);
    let How::Fork(child) = how else {
        return Ok(());
    };
    let spawned = std::thread::Builder::new()
        .name("bgsave-wait".into())
        .spawn(move || {
            let mut sample = || sample_cow(child.pid);
            let ok =
                file::wait_child_sampling(child, COW_SAMPLE_EVERY, &mut sample).unwrap_or(false);
            // The child's own measurement at its end, or the peak the
            // samples saw (Redis: `stat_rdb_cow_bytes` = the peak).
            let fin = file::child_info().map_or(0, |i| i.final_cow.load(Ordering::Relaxed));
            let peak = state().cow_peak.load(Ordering::Relaxed).max(fin);
            finish_bgsave(Some(ok), peak);
        });
    if let Err(e) = spawned {
        // No waiter: kill the child rather than leave a zombie we cannot
        // account for.
        file::kill_child(child);
        let _ = file::wait_child(child);
        *st.running.lock() = None;
        return Err(e);
    }
    Ok(())
}

/// Record the end of the running background save (`ok`: None when it was
/// aborted on purpose, which leaves the last status alone; `peak`: its
/// largest copy-on-write figure) and clear the running state.
fn finish_bgsave(ok: Option<bool>, peak: u64) {
    let st = state();
    let run = st.running.lock().clone();
    if let Some(run) = &run {
        st.last_bgsave_secs
            .store(run.started.elapsed().as_secs() as i64, Ordering::Relaxed);
    }
    if let Some(ok) = ok {
        st.last_bgsave_ok.store(ok, Ordering::Relaxed);
    }
    if ok == Some(true) {
        st.last_cow.store(peak, Ordering::Relaxed);
        st.lastsave.store(unix_secs(), Ordering::Relaxed);
        if let Some(run) = &run {
            st.dirty_at_save.store(run.dirty_at_fork, Ordering::Relaxed);
        }
        st.saves.fetch_add(1, Ordering::Relaxed);
    }
    let mut r = st.running.lock();
    st.cow_current.store(0, Ordering::Relaxed);
    st.cow_peak.store(0, Ordering::Relaxed);
    st.cow_updated_ms.store(0, Ordering::Relaxed);
    st.save_keys_total.store(0, Ordering::Relaxed);
    st.thread_keys.store(0, Ordering::Relaxed);
    *r = None;
}

/// Copy-on-write figures of the incremental save: keys copied aside and
/// not yet written.
fn sample_pending() {
    let st = state();
    let cur = ferrocache_engine::db::snapshot_pending_bytes() as u64;
    let peak = ferrocache_engine::db::snapshot_pending_peak() as u64;
    st.cow_current.store(cur, Ordering::Relaxed);
    st.cow_peak.fetch_max(peak.max(cur), Ordering::Relaxed);
    st.cow_updated_ms
        .store(ferrocache_engine::clock::now_ms(), Ordering::Relaxed);
}

/// One copy-on-write sample of the running child (waiter thread).
fn sample_cow(pid: i32) {
    if let Some(b) = file::private_dirty_bytes(Some(pid)) {
        let st = state();
        st.cow_current.store(b, Ordering::Relaxed);
        st.cow_peak.fetch_max(b, Ordering::Relaxed);
        st.cow_updated_ms
            .store(ferrocache_engine::clock::now_ms(), Ordering::Relaxed);
    }
}

/// Kill a running background save (SHUTDOWN, DEBUG RELOAD). A forked
/// child is signalled; the snapshot thread is told to stop, and from
/// here on cannot rename its file over the target (it may hold no lock
/// the caller waits for: the caller may hold every shard).
pub fn kill_bgsave() {
    let r = state().running.lock().clone();
    match r.map(|r| r.how) {
        Some(How::Fork(child)) => file::kill_child(child),
        Some(How::Thread(abort)) => {
            let _g = RENAME_GATE.lock().unwrap_or_else(|p| p.into_inner());
            abort.store(true, Ordering::Relaxed);
        }
        None => {}
    }
}

/// Run `f` with every shard locked: the command's own locks when it holds
/// them all, fresh ones when it holds none.
fn with_all_shards<T>(
    ctx: &mut Ctx<'_, '_>,
    f: impl FnOnce(&Server, &mut Locked<'_>) -> T,
) -> Option<T> {
    let held = ctx.ks.shards().count();
    if ctx.ks.holds_all() {
        Some(f(ctx.server, &mut ctx.ks))
    } else if held == 0 {
        let mut ks = ctx.server.keyspace.lock_all(ctx.now());
        Some(f(ctx.server, &mut ks))
    } else {
        None
    }
}

// ---- commands -------------------------------------------------------------

fn save(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    if bgsave_in_progress() {
        return err("ERR Background save already in progress");
    }
    match with_all_shards(ctx, save_locked) {
        Some(Ok(())) => {
            ctx.out.ok();
            Ok(())
        }
        _ => err("ERR"),
    }
}

fn bgsave(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let schedule = match argv.len() {
        1 => false,
        2 if eq(argv[1], "schedule") => true,
        _ => return err(SYNTAX),
    };
    if bgsave_in_progress() {
        if schedule {
            state().scheduled.store(true, Ordering::Relaxed);
            ctx.out.simple("Background saving scheduled");
            return Ok(());
        }
        return err("ERR Background save already in progress");
    }
    match with_all_shards(ctx, bgsave_locked) {
        Some(Ok(())) => {
            ctx.out.simple("Background saving started");
            Ok(())
        }
        _ => err("ERR"),
    }
}

fn lastsave(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(state().lastsave.load(Ordering::Relaxed) as i64);
    Ok(())
}

/// With `appendonly no` Redis still rewrites the AOF in the background; a
/// node without AOF answers the same and has nothing to rewrite.
fn bgrewriteaof(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    state().aof_rewrites.fetch_add(1, Ordering::Relaxed);
    if bgsave_in_progress() {
        ctx.out
            .simple("Background append only file rewriting scheduled");
    } else {
        ctx.out
            .simple("Background append only file rewriting started");
    }
    Ok(())
}

fn dump(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let compress = yes(ctx.server, "rdbcompression");
    let version = rdb_version(ctx.server);
    let (db, out) = ctx.db_out(key);
    match db.get(key) {
        None => out.null(),
        Some(e) => {
            let p = writer::dump_payload(&e.value, version, compress);
            out.bulk(&p);
        }
    }
    Ok(())
}

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]
/// (Redis `restoreCommand`: same checks in the same order).
fn restore(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq): (Option<i64>, Option<i64>) = (None, None);
    let mut j = 4;
    while j < argv.len() {
        let a = argv[j];
        let more = argv.len() - j - 1;
        if eq(a, "replace") {
            replace = true;
        } else if eq(a, "absttl") {
            absttl = true;
        } else if eq(a, "idletime") && more >= 1 && freq.is_none() {
            let v = int(argv[j + 1])?;
            if v < 0 {
                return err("ERR Invalid IDLETIME value, must be >= 0");
            }
            idle = Some(v);
            j += 1;
        } else if eq(a, "freq") && more >= 1 && idle.is_none() {
            let v = int(argv[j + 1])?;
            if !(0..=255).contains(&v) {
                return err("ERR Invalid FREQ value, must be >= 0 and <= 255");
            }
            freq = Some(v);
            j += 1;
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    let key = argv[1];
    if !replace && ctx.db(key).contains(key) {
        return err("BUSYKEY Target key name already exists.");
    }
    let ttl = int(argv[2])?;
    if ttl < 0 {
        return err("ERR Invalid TTL value, must be >= 0");
    }
    let Some((obj, _ver)) = reader::verify_dump_payload(argv[3], RESTORE_MAX_VERSION) else {
        return err("ERR DUMP payload version or checksum are wrong");
    };
    let now = ctx.now();
    let tun = ctx.server.keyspace.tunables.clone();
    let value = match reader::read_dump_object(obj, &tun) {
        Ok(v) => v,
        Err(_) => return err("ERR Bad data format"),
    };
    let db = ctx.db(key);
    let deleted = replace && db.remove(key).is_some();
    let at = match (ttl, absttl) {
        (0, _) => None,
        (t, true) => Some(t as u64),
        (t, false) => Some(now.saturating_add(t as u64)),
    };
    if at.is_some_and(|a| a <= now) {
        // cluster.c: an already expired TTL only deletes the old key.
        if deleted {
            crate::notify::notify(ctx, crate::notify::GENERIC, "del", key);
        }
        ctx.out.ok();
        return Ok(());
    }
    let mut entry = Entry::new(value);
    entry.set_access(object_access(
        &db.tunables,
        now,
        freq.map(|f| f as u8),
        idle.map(|i| i as u64),
    ));
    db.insert_entry(key, entry, at);
    crate::notify::notify(ctx, crate::notify::GENERIC, "restore", key);
    ctx.out.ok();
    Ok(())
}

/// The access field of a restored or loaded object (Redis
/// `objectSetLRUOrLFU`): under an LFU policy the given counter, else under
/// any other policy the given idle time, else "just used".
fn object_access(
    t: &ferrocache_engine::keyspace::Tunables,
    now_ms: u64,
    freq: Option<u8>,
    idle_secs: Option<u64>,
) -> u32 {
    match (t.policy().is_lfu(), freq, idle_secs) {
        (true, Some(f), _) => lfu_access(now_ms, u32::from(f)),
        (false, _, Some(i)) => lru_access(now_ms, i),
        _ => default_access(t, now_ms),
    }
}

/// A new object's access field: "just used" (Redis `LFU_INIT_VAL` = 5
/// in LFU mode, the current LRU clock otherwise).
fn default_access(t: &ferrocache_engine::keyspace::Tunables, now_ms: u64) -> u32 {
    if t.policy().is_lfu() {
        lfu_access(now_ms, 5)
    } else {
        ferrocache_engine::keyspace::lru_ticks_at(now_ms)
    }
}

/// LFU access field: `(minutes << 8) | counter`, as `Entry` stores it.
fn lfu_access(now_ms: u64, counter: u32) -> u32 {
    let mins = ((now_ms / 60_000) & 0xffff) as u32;
    (mins << 8) | (counter & 0xff)
}

/// LRU access field for an object idle `secs` seconds.
fn lru_access(now_ms: u64, secs: u64) -> u32 {
    ferrocache_engine::keyspace::lru_ticks_at(now_ms.saturating_sub(secs.saturating_mul(1000)))
}

// ---- INFO, cron, SHUTDOWN, DEBUG RELOAD, start ----------------------------

/// The `# Persistence` section of INFO (the caller holds every shard).
pub fn info_section(s: &mut String, ctx: &mut Ctx<'_, '_>) {
    use std::fmt::Write as _;
    let dirty = if ctx.ks.holds_all() {
        dirty_locked(&mut ctx.ks)
    } else {
        dirty_unlocked(ctx.server)
    };
    let st = state();
    let running = st.running.lock().clone();
    let aof = yes(ctx.server, "appendonly");
    let cur = running
        .as_ref()
        .map_or(-1, |r| r.started.elapsed().as_secs() as i64);
    s.push_str("# Persistence\r\n");
    let mut f = |k: &str, v: String| {
        let _ = write!(s, "{k}:{v}\r\n");
    };
    f("loading", "0".into());
    f("async_loading", "0".into());
    // The child's figures while it runs (Redis resets them when it ends).
    let (peak, size, updated, total, processed) = if let Some(r) = &running {
        if matches!(r.how, How::Thread(_)) {
            sample_pending();
        }
        (
            st.cow_peak.load(Ordering::Relaxed),
            st.cow_current.load(Ordering::Relaxed),
            st.cow_updated_ms.load(Ordering::Relaxed),
            st.save_keys_total.load(Ordering::Relaxed),
            match r.how {
                How::Fork(_) => {
                    file::child_info().map_or(0, |i| i.keys_processed.load(Ordering::Relaxed))
                }
                How::Thread(_) => st.thread_keys.load(Ordering::Relaxed),
            },
        )
    } else {
        (0, 0, 0, 0, 0)
    };
    let age = if updated == 0 {
        0
    } else {
        ferrocache_engine::clock::now_ms().saturating_sub(updated) / 1000
    };
    let perc = if total == 0 {
        0.0
    } else {
        processed as f64 / total as f64 * 100.0
    };
    f("current_cow_peak", peak.to_string());
    f("current_cow_size", size.to_string());
    f("current_cow_size_age", age.to_string());
    f("current_fork_perc", format!("{perc:.2}"));
    f("current_save_keys_processed", processed.to_string());
    f("current_save_keys_total", total.to_string());
    f(
        "rdb_changes_since_last_save",
        changes_since_save(dirty).to_string(),
    );
    f(
        "rdb_bgsave_in_progress",
        u8::from(running.is_some()).to_string(),
    );
    f(
        "rdb_last_save_time",
        st.lastsave.load(Ordering::Relaxed).to_string(),
    );
    f(
        "rdb_last_bgsave_status",
        if st.last_bgsave_ok.load(Ordering::Relaxed) {
            "ok"
        } else {
            "err"
        }
        .into(),
    );
    f(
        "rdb_last_bgsave_time_sec",
        st.last_bgsave_secs.load(Ordering::Relaxed).to_string(),
    );
    f("rdb_current_bgsave_time_sec", cur.to_string());
    f("rdb_saves", st.saves.load(Ordering::Relaxed).to_string());
    f(
        "rdb_last_cow_size",
        st.last_cow.load(Ordering::Relaxed).to_string(),
    );
    f(
        "rdb_last_load_keys_expired",
        st.loaded_expired.load(Ordering::Relaxed).to_string(),
    );
    f(
        "rdb_last_load_keys_loaded",
        st.loaded_keys.load(Ordering::Relaxed).to_string(),
    );
    f("aof_enabled", u8::from(aof).to_string());
    f("aof_rewrite_in_progress", "0".into());
    f("aof_rewrite_scheduled", "0".into());
    f("aof_last_rewrite_time_sec", "-1".into());
    f("aof_current_rewrite_time_sec", "-1".into());
    f("aof_last_bgrewrite_status", "ok".into());
    f(
        "aof_rewrites",
        st.aof_rewrites.load(Ordering::Relaxed).to_string(),
    );
    f("aof_rewrites_consecutive_failures", "0".into());
    f("aof_last_write_status", "ok".into());
    f("aof_last_cow_size", "0".into());
    f("module_fork_in_progress", "0".into());
    f("module_fork_last_cow_size", "0".into());
}

/// `save` parameter as (seconds, changes) pairs.
fn save_points(server: &Server) -> Vec<(u64, u64)> {
    let v = server.config.get("save").unwrap_or_default();
    let nums: Vec<u64> = v
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    nums.chunks_exact(2).map(|c| (c[0], c[1])).collect()
}

/// One cron tick: start a BGSAVE when a save point is reached or one was
/// scheduled (Redis `serverCron`).
pub fn cron(server: &Server) {
    if bgsave_in_progress() {
        return;
    }
    let st = state();
    let now = unix_secs();
    let mut go = st.scheduled.load(Ordering::Relaxed);
    if !go {
        let points = save_points(server);
        if points.is_empty() {
            return;
        }
        let changes = changes_since_save(dirty_unlocked(server));
        let since = now.saturating_sub(st.lastsave.load(Ordering::Relaxed));
        let retry_ok = st.last_bgsave_ok.load(Ordering::Relaxed)
            || now.saturating_sub(st.last_try.load(Ordering::Relaxed)) > BGSAVE_RETRY_DELAY_SECS;
        go = retry_ok && points.iter().any(|&(secs, n)| changes >= n && since > secs);
    }
    if go {
        let mut ks = server.keyspace.lock_all(ferrocache_engine::clock::now_ms());
        let _ = bgsave_locked(server, &mut ks);
    }
}

/// SHUTDOWN's save: Redis saves when save points are configured (or SAVE
/// is given) unless NOSAVE. Returns false when the save failed.
pub fn shutdown_save(ctx: &mut Ctx<'_, '_>, save: bool, nosave: bool) -> bool {
    kill_bgsave();
    if nosave || (!save && save_points(ctx.server).is_empty()) {
        return true;
    }
    matches!(with_all_shards(ctx, save_locked), Some(Ok(())))
}

/// Load a snapshot into the locked shards (which must be all of them),
/// replacing nothing: callers clear first if needed.
pub fn load_into(
    server: &Server,
    ks: &mut Locked<'_>,
    path: &std::path::Path,
    partial: bool,
    merge: bool,
) -> Result<ferrocache_persist::LoadSummary, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let key = key_file(server);
    let input: Box<dyn io::Read> = match key {
        Some(k) => {
            let key = ferrocache_persist::crypt::Key::from_file(&k)
                .map_err(|e| format!("{}: {e}", k.display()))?;
            ferrocache_persist::crypt::open_maybe_encrypted(f, Some(&key))
                .map_err(|e| format!("{}: {e}", path.display()))?
        }
        None => ferrocache_persist::crypt::open_maybe_encrypted(f, None)
            .map_err(|e| format!("{}: {e}", path.display()))?,
    };
    let input = io::BufReader::with_capacity(1 << 20, input);
    let tun = server.keyspace.tunables.clone();
    let now = ks.now();
    let ndb = server.keyspace.databases();
    let (mut loaded, mut expired) = (0u64, 0u64);
    let mut functions = Vec::new();
    let res = reader::read_rdb(input, &tun, yes(server, "rdbchecksum"), |item| {
        match item {
            Item::Key(k) => {
                if k.db >= ndb {
                    return Err(RdbError::Corrupt {
                        offset: 0,
                        msg: format!(
                            "snapshot uses database {} but this node has {ndb} databases",
                            k.db
                        ),
                    });
                }
                if k.expire_ms.is_some_and(|at| at <= now) {
                    expired += 1;
                    return Ok(());
                }
                let mut e = Entry::new(k.value);
                e.set_access(object_access(&tun, now, k.freq, k.idle_secs));
                let db = ks.db(k.db, &k.key);
                if !merge && db.contains(&k.key) {
                    return Err(RdbError::Corrupt {
                        offset: 0,
                        msg: format!(
                            "duplicate key '{}' in database {}",
                            String::from_utf8_lossy(&k.key),
                            k.db
                        ),
                    });
                }
                db.insert_entry(&k.key, e, k.expire_ms);
                loaded += 1;
            }
            Item::Function(code) => functions.push(code),
            Item::Aux(..) => {}
        }
        Ok(())
    });
    let st = state();
    st.loaded_keys.store(loaded, Ordering::Relaxed);
    st.loaded_expired.store(expired, Ordering::Relaxed);
    match FUNCTION_HOOKS.get() {
        Some(h) => {
            (h.load)(functions).map_err(|e| format!("{}: functions: {e}", path.display()))?
        }
        None => *st.functions.lock() = functions,
    }
    // Loaded keys are not changes since the last save.
    st.dirty_at_save.store(dirty_locked(ks), Ordering::Relaxed);
    match res {
        Ok(s) => Ok(s),
        Err(e) if partial => Err(format!(
            "PARTIAL:{}: {e} (kept {loaded} keys read before the error)",
            path.display()
        )),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Load `dir`/`dbfilename` at start, before the node accepts connections.
/// A missing file is an empty dataset; a bad one refuses the start (unless
/// `--rdb-load-partial yes`). Returns a line for the log.
pub fn load_at_start(server: &Server) -> Result<Option<String>, String> {
    let (path, _) = rdb_path(server);
    if !path.exists() {
        return Ok(None);
    }
    let partial = yes(server, "rdb-load-partial");
    let started = Instant::now();
    let mut ks = server.keyspace.lock_all(ferrocache_engine::clock::now_ms());
    let res = load_into(server, &mut ks, &path, partial, false);
    if res.is_err() && !partial {
        for (_, s) in ks.shards() {
            for d in &mut s.dbs {
                d.clear();
            }
        }
    }
    state().lastsave.store(unix_secs(), Ordering::Relaxed);
    match res {
        Ok(s) => Ok(Some(format!(
            "DB loaded from disk: {:.3} seconds ({} keys, RDB v{}, {} bytes)",
            started.elapsed().as_secs_f64(),
            s.keys,
            s.version,
            s.bytes
        ))),
        Err(e) if e.starts_with("PARTIAL:") => Ok(Some(format!(
            "WARNING: loaded a partial snapshot: {}",
            &e["PARTIAL:".len()..]
        ))),
        Err(e) => Err(format!("Bad snapshot, refusing to start: {e}")),
    }
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE] (Redis `debugCommand`): save,
/// empty every database, load the file back. NOSAVE loads the existing
/// file, NOFLUSH keeps the current data, MERGE lets the file's keys
/// replace existing ones (without it a key present in both is an error;
/// Redis kills the server there). Replies as Redis: `-ERR` when the save
/// fails, "Error trying to load the RDB dump" when the load does (with the
/// file, offset and reason appended when the file exists but is bad,
/// where redis-server would exit).
pub fn debug_reload(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (mut merge, mut flush, mut save) = (false, true, true);
    for a in argv.iter().skip(2) {
        if eq(a, "merge") {
            merge = true;
        } else if eq(a, "noflush") {
            flush = false;
        } else if eq(a, "nosave") {
            save = false;
        } else {
            return err("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
        }
    }
    let r = with_all_shards(ctx, |server, ks| -> Result<(), String> {
        if save {
            save_locked(server, ks).map_err(|_| "ERR".to_string())?;
        }
        if flush {
            for (_, s) in ks.shards() {
                for d in &mut s.dbs {
                    d.clear();
                }
            }
        }
        let (path, _) = rdb_path(server);
        if !path.exists() {
            return Err("ERR Error trying to load the RDB dump".into());
        }
        load_into(server, ks, &path, false, merge)
            .map(|_| ())
            .map_err(|e| format!("ERR Error trying to load the RDB dump: {e}"))
    });
    match r {
        Some(Ok(())) => {
            ctx.out.ok();
            Ok(())
        }
        Some(Err(e)) => errf(e),
        None => err("ERR DEBUG RELOAD is not allowed here"),
    }
}
