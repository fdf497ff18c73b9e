//! Server commands: TIME, SHUTDOWN, SLOWLOG, LATENCY, MEMORY, DEBUG, MONITOR
//! (INFO, COMMAND and CLIENT live in their own modules), and the hooks
//! dispatch calls around every command: error statistics, per-subcommand
//! statistics, latency histograms, slow log, latency monitor, MONITOR feed.
//!
//! The hooks run for every command, so the common case (no monitors, the
//! slow log threshold not crossed, latency monitor off) costs a few atomic
//! loads and adds, and never allocates.

use crate::args::{eq, int};
use crate::client::ClientState;
use crate::ctx::Ctx;
use crate::error::{err, errf, CmdResult, SYNTAX};
use crate::server::{Server, SlowlogEntry};
use crate::spec::{flags::*, CommandSpec};
use ferrocache_engine::Locked;
use std::cell::Cell;
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::Duration;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("time", 1, LOADING | STALE | FAST, (0, 0, 0), time).doc(
        "server",
        "2.6.0",
        "Return the current server time",
        "O(1)",
    ),
    CommandSpec::new(
        "shutdown",
        -1,
        ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY | SENTINEL,
        (0, 0, 0),
        shutdown,
    )
    .doc(
        "server",
        "1.0.0",
        "Synchronously save the dataset to disk and then shut down the server",
        "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
    ),
    CommandSpec::container("slowlog", -2, SLOWLOG_SUBS).doc(
        "server",
        "2.2.12",
        "A container for slow log commands",
        "Depends on subcommand.",
    ),
    CommandSpec::container("latency", -2, LATENCY_SUBS).doc(
        "server",
        "2.8.13",
        "A container for latency diagnostics commands",
        "Depends on subcommand.",
    ),
    CommandSpec::container("memory", -2, MEMORY_SUBS).doc(
        "server",
        "4.0.0",
        "A container for memory diagnostics commands",
        "Depends on subcommand.",
    ),
    CommandSpec::new(
        "debug",
        -2,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        debug,
    )
    .doc(
        "server",
        "1.0.0",
        "A container for debugging commands",
        "Depends on subcommand.",
    ),
    CommandSpec::new(
        "monitor",
        1,
        ADMIN | NOSCRIPT | LOADING | STALE,
        (0, 0, 0),
        monitor,
    )
    .doc(
        "server",
        "1.0.0",
        "Listen for all requests received by the server in real time",
        "None",
    ),
];

static SLOWLOG_SUBS: &[CommandSpec] = &[
    CommandSpec::new(
        "reset",
        2,
        ADMIN | LOADING | STALE,
        (0, 0, 0),
        slowlog_reset,
    )
    .doc(
        "server",
        "2.2.12",
        "Clear all entries from the slow log",
        "O(N) where N is the number of entries in the slowlog",
    ),
    CommandSpec::new("help", 2, LOADING | STALE, (0, 0, 0), slowlog_help).doc(
        "server",
        "6.2.0",
        "Show helpful text about the different subcommands",
        "O(1)",
    ),
    CommandSpec::new("get", -2, ADMIN | LOADING | STALE, (0, 0, 0), slowlog_get).doc(
        "server",
        "2.2.12",
        "Get the slow log's entries",
        "O(N) where N is the number of entries returned",
    ),
    CommandSpec::new("len", 2, ADMIN | LOADING | STALE, (0, 0, 0), slowlog_len).doc(
        "server",
        "2.2.12",
        "Get the slow log's length",
        "O(1)",
    ),
];

const LAT_FLAGS: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

static LATENCY_SUBS: &[CommandSpec] = &[
    CommandSpec::new("reset", -2, LAT_FLAGS, (0, 0, 0), latency_reset).doc(
        "server",
        "2.8.13",
        "Reset latency data for one or more events.",
        "O(1)",
    ),
    CommandSpec::new("help", 2, LOADING | STALE, (0, 0, 0), latency_help).doc(
        "server",
        "2.8.13",
        "Show helpful text about the different subcommands.",
        "O(1)",
    ),
    CommandSpec::new("latest", 2, LAT_FLAGS, (0, 0, 0), latency_latest).doc(
        "server",
        "2.8.13",
        "Return the latest latency samples for all events.",
        "O(1)",
    ),
    CommandSpec::new("doctor", 2, LAT_FLAGS, (0, 0, 0), latency_doctor).doc(
        "server",
        "2.8.13",
        "Return a human readable latency analysis report.",
        "O(1)",
    ),
    CommandSpec::new("histogram", -2, LAT_FLAGS, (0, 0, 0), latency_histogram).doc(
        "server",
        "7.0.0",
        "Return the cumulative distribution of latencies of a subset of commands or all.",
        "O(N) where N is the number of commands with latency information being retrieved.",
    ),
    CommandSpec::new("history", 3, LAT_FLAGS, (0, 0, 0), latency_history).doc(
        "server",
        "2.8.13",
        "Return timestamp-latency samples for the event.",
        "O(1)",
    ),
    CommandSpec::new("graph", 3, LAT_FLAGS, (0, 0, 0), latency_graph).doc(
        "server",
        "2.8.13",
        "Return a latency graph for the event.",
        "O(1)",
    ),
];

static MEMORY_SUBS: &[CommandSpec] = &[
    CommandSpec::new("help", 2, LOADING | STALE, (0, 0, 0), memory_help).doc(
        "server",
        "4.0.0",
        "Show helpful text about the different subcommands",
        "O(1)",
    ),
    CommandSpec::new("purge", 2, 0, (0, 0, 0), memory_purge).doc(
        "server",
        "4.0.0",
        "Ask the allocator to release memory",
        "Depends on how much memory is allocated, could be slow",
    ),
    CommandSpec::new("doctor", 2, GLOBAL, (0, 0, 0), memory_doctor).doc(
        "server",
        "4.0.0",
        "Outputs memory problems report",
        "O(1)",
    ),
    CommandSpec::new("usage", -3, READONLY, (2, 2, 1), memory_usage).doc(
        "server",
        "4.0.0",
        "Estimate the memory usage of a key",
        "O(N) where N is the number of samples.",
    ),
    CommandSpec::new("stats", 2, GLOBAL, (0, 0, 0), memory_stats).doc(
        "server",
        "4.0.0",
        "Show memory usage details",
        "O(1)",
    ),
    CommandSpec::new("malloc-stats", 2, 0, (0, 0, 0), memory_malloc_stats).doc(
        "server",
        "4.0.0",
        "Show allocator internal stats",
        "Depends on how much memory is allocated, could be slow",
    ),
];

// ---------------------------------------------------------------------------
// Hooks called by dispatch.
// ---------------------------------------------------------------------------

/// Redis stops tracking new error codes after this many distinct ones
/// (`ERROR_STATS_NUMBER`), so a client cannot grow the table without bound.
const ERROR_STATS_MAX: usize = 128;

thread_local! {
    /// Commands run on this thread, to sample instantaneous metrics now and
    /// then without reading the clock on every command.
    static CMD_TICK: Cell<u32> = const { Cell::new(0) };
}

/// The error code of an error reply, as Redis's `afterErrorReply`: the first
/// word when a space appears within 32 bytes, `ERR` otherwise.
fn error_code(msg: &str) -> &str {
    let head = &msg.as_bytes()[..msg.len().min(32)];
    match head.iter().position(|&b| b == b' ') {
        Some(p) if p > 0 => &msg[..p],
        _ => "ERR",
    }
}

/// Count an error reply by its code (INFO errorstats).
pub fn count_error(server: &Server, msg: &str) {
    let code = error_code(msg);
    let mut stats = server.error_stats.lock();
    if let Some(n) = stats.get_mut(code) {
        *n += 1;
    } else if stats.len() < ERROR_STATS_MAX {
        stats.insert(code.to_string(), 1);
    }
}

/// Index of `top` in `table().commands`, by address (binary search over a
/// table built once), so the hook needs no string hashing.
pub fn command_index(top: &'static CommandSpec) -> Option<usize> {
    static BY_ADDR: OnceLock<Vec<(usize, usize)>> = OnceLock::new();
    let v = BY_ADDR.get_or_init(|| {
        let mut v: Vec<(usize, usize)> = crate::table::table()
            .commands
            .iter()
            .enumerate()
            .map(|(i, c)| (*c as *const CommandSpec as usize, i))
            .collect();
        v.sort_unstable();
        v
    });
    let addr = top as *const CommandSpec as usize;
    v.binary_search_by_key(&addr, |&(a, _)| a)
        .ok()
        .and_then(|p| v.get(p))
        .map(|&(_, i)| i)
}

/// Index of `spec` among `top`'s subcommands (None when `spec` is `top`).
pub fn sub_index(top: &'static CommandSpec, spec: &'static CommandSpec) -> Option<usize> {
    if std::ptr::eq(top, spec) {
        return None;
    }
    top.subcommands.iter().position(|s| std::ptr::eq(s, spec))
}

/// Called after every executed command: per-subcommand stats, latency
/// histogram, slowlog, latency monitor, MONITOR feed.
#[allow(clippy::too_many_arguments)] // one call site (dispatch), all values at hand there
pub fn after_command(
    server: &Server,
    client: &ClientState,
    top: &'static CommandSpec,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
    elapsed: Duration,
    idx: usize,
    failed: bool,
) {
    let us = elapsed.as_micros() as u64;
    let hot = server.config.hot();
    let idx = Some(idx);
    let sub = sub_index(top, spec);
    if let Some(i) = idx {
        client.shared.set_last_cmd(i, sub);
        if let Some(j) = sub {
            if let Some(s) = server.sub_stats.get(i).and_then(|v| v.get(j)) {
                s.calls.fetch_add(1, Ordering::Relaxed);
                s.usec.fetch_add(us, Ordering::Relaxed);
                if failed {
                    s.failed_calls.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if hot.latency_tracking.load(Ordering::Relaxed) {
            if let Some(s) = server.stats_for(i, sub) {
                s.record_latency(us);
            }
        }
    }

    // Slow log.
    let threshold = hot.slowlog_log_slower_than.load(Ordering::Relaxed);
    if threshold >= 0 && us >= threshold as u64 && !spec.has(SKIP_SLOWLOG) {
        slowlog_push(server, client, top, argv, us);
    }

    // Latency monitor.
    let lat_ms = hot.latency_monitor_threshold.load(Ordering::Relaxed);
    if lat_ms > 0 && us / 1000 >= lat_ms as u64 {
        let event = if spec.has(FAST) {
            "fast-command"
        } else {
            "command"
        };
        let now = ferrocache_engine::clock::now_ms() / 1000;
        server
            .latency
            .lock()
            .entry(event)
            .or_default()
            .add(now, us / 1000);
    }

    // MONITOR.
    if server.monitor_count.load(Ordering::Relaxed) > 0 && !spec.has(SKIP_MONITOR | ADMIN) {
        feed_monitors(server, client, top, argv);
    }

    let tick = CMD_TICK.with(|t| {
        let n = t.get().wrapping_add(1);
        t.set(n);
        n
    });
    if tick.is_multiple_of(64) {
        server.sample_metrics();
    }
}

/// Which arguments to hide (Redis `redactClientCommandArgument`): AUTH's
/// credentials and HELLO's `AUTH user pass`.
fn redacted(top: &CommandSpec, argv: &[&[u8]], i: usize) -> bool {
    match top.name {
        "auth" => i >= 1,
        "hello" => argv
            .iter()
            .enumerate()
            .skip(2)
            .any(|(k, a)| eq(a, "auth") && (i == k + 1 || i == k + 2)),
        _ => false,
    }
}

/// Slow log limits (Redis `SLOWLOG_ENTRY_MAX_ARGC` / `_MAX_STRING`).
const SLOWLOG_MAX_ARGC: usize = 32;
const SLOWLOG_MAX_STRING: usize = 128;

fn slowlog_push(server: &Server, client: &ClientState, top: &CommandSpec, argv: &[&[u8]], us: u64) {
    let max_len = server.config.hot().slowlog_max_len.load(Ordering::Relaxed) as usize;
    let argc = argv.len().min(SLOWLOG_MAX_ARGC);
    let mut args = Vec::with_capacity(argc);
    for (i, a) in argv.iter().take(argc).enumerate() {
        if argc != argv.len() && i == argc - 1 {
            args.push(format!("... ({} more arguments)", argv.len() - argc + 1).into_bytes());
        } else if redacted(top, argv, i) {
            args.push(b"(redacted)".to_vec());
        } else if a.len() > SLOWLOG_MAX_STRING {
            let mut v = a[..SLOWLOG_MAX_STRING].to_vec();
            v.extend_from_slice(
                format!("... ({} more bytes)", a.len() - SLOWLOG_MAX_STRING).as_bytes(),
            );
            args.push(v);
        } else {
            args.push(a.to_vec());
        }
    }
    let name = client.shared.name.lock().clone().unwrap_or_default();
    let mut log = server.slowlog.lock();
    let id = log.next_id;
    log.next_id += 1;
    log.entries.push_front(SlowlogEntry {
        id,
        time: ferrocache_engine::clock::now_ms() / 1000,
        duration_us: us,
        argv: args,
        addr: client.shared.addr.clone(),
        name,
    });
    log.entries.truncate(max_len);
}

/// Append `a` quoted as Redis's `sdscatrepr`.
pub fn cat_repr(out: &mut Vec<u8>, a: &[u8]) {
    out.push(b'"');
    for &c in a {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c),
            c => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'x',
                    HEX[usize::from(c >> 4)],
                    HEX[usize::from(c & 15)],
                ]);
            }
        }
    }
    out.push(b'"');
}

/// Send the command to every MONITOR client, in Redis's format
/// `+<unix.micros> [<db> <addr>] "arg" ...`.
fn feed_monitors(server: &Server, client: &ClientState, top: &CommandSpec, argv: &[&[u8]]) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        now.as_secs(),
        now.subsec_micros(),
        client.db,
        client.shared.addr
    )
    .into_bytes();
    for (i, a) in argv.iter().enumerate() {
        line.push(b' ');
        if redacted(top, argv, i) {
            cat_repr(&mut line, b"(redacted)");
        } else {
            cat_repr(&mut line, a);
        }
    }
    line.extend_from_slice(b"\r\n");
    let mut mons = server.monitors.lock();
    // Drop monitors whose connection is gone: the registry and the
    // connection task released their references, ours is the last one.
    mons.retain(|m| std::sync::Arc::strong_count(m) > 1 && !m.is_killed());
    server.monitor_count.store(mons.len(), Ordering::Relaxed);
    for m in mons.iter() {
        m.push_bytes(&line);
    }
}

/// Stop feeding `client` (RESET, disconnect).
pub fn remove_monitor(server: &Server, id: u64) {
    let mut mons = server.monitors.lock();
    mons.retain(|m| m.id != id);
    server.monitor_count.store(mons.len(), Ordering::Relaxed);
}

/// Reset the statistics CONFIG RESETSTAT resets (Redis `resetServerStats`,
/// `resetCommandTableStats`, `resetErrorTableStats`): global counters,
/// command and error stats, keyspace hits/misses, expired and evicted
/// counts. The slow log and latency samples are kept, as in Redis.
///
/// Locks every shard: do not call while holding shard locks; use
/// [`reset_stats_locked`] from a handler whose command holds them all.
pub fn reset_stats(server: &Server) {
    let mut locked = server.keyspace.lock_all(ferrocache_engine::clock::now_ms());
    reset_stats_locked(server, &mut locked);
}

/// [`reset_stats`] with the shards already locked by the caller.
pub fn reset_stats_locked(server: &Server, locked: &mut Locked<'_>) {
    server.stats.reset();
    for s in &server.command_stats {
        s.reset();
    }
    for v in &server.sub_stats {
        for s in v {
            s.reset();
        }
    }
    server.error_stats.lock().clear();
    for (_, shard) in locked.shards() {
        for db in shard.dbs.iter_mut() {
            db.stats = Default::default();
        }
    }
    server
        .stat_reset_time
        .store(ferrocache_engine::clock::now_ms() / 1000, Ordering::Relaxed);
}

// ---------------------------------------------------------------------------
// Helpers.
// ---------------------------------------------------------------------------

/// Reply with a HELP text as Redis's `addReplyHelp`: the header line then
/// the given lines, each a simple string.
pub fn reply_help(ctx: &mut Ctx<'_, '_>, name: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

/// "ERR unknown subcommand or wrong number of arguments for 'x'. Try X HELP."
pub fn subcommand_syntax_error(argv: &[&[u8]]) -> crate::error::CmdError {
    let name = argv
        .first()
        .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
        .unwrap_or_default();
    let sub: String = argv
        .get(1)
        .map(|a| String::from_utf8_lossy(a).chars().take(128).collect())
        .unwrap_or_default();
    crate::error::CmdError::msg(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try {name} HELP."
    ))
}

fn unix_now() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// TIME, SHUTDOWN, MONITOR.
// ---------------------------------------------------------------------------

fn time(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let now = unix_now();
    ctx.out.array(2);
    ctx.out.bulk_int(now.as_secs() as i64);
    ctx.out.bulk_int(i64::from(now.subsec_micros()));
    Ok(())
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. Saves the snapshot as
/// Redis does (see `persist::shutdown_save`); on success the client gets
/// no reply (the connection closes), as with Redis.
fn shutdown(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (mut save, mut nosave, mut abort, mut other) = (false, false, false, false);
    for a in &argv[1..] {
        if eq(a, "nosave") {
            nosave = true;
        } else if eq(a, "save") {
            save = true;
        } else if eq(a, "now") || eq(a, "force") {
            other = true;
        } else if eq(a, "abort") {
            abort = true;
        } else {
            return err(SYNTAX);
        }
    }
    if (abort && argv.len() != 2) || (save && nosave) {
        return err(SYNTAX);
    }
    if abort {
        return err("ERR No shutdown in progress.");
    }
    let _ = other;
    // Persistence (cmd/persist.rs): save unless NOSAVE when save points
    // exist or SAVE is given; a failed save aborts unless FORCE.
    let force = argv[1..].iter().any(|a| eq(a, "force"));
    if !crate::cmd::persist::shutdown_save(ctx, save, nosave) && !force {
        return err("ERR Errors trying to SHUTDOWN. Check logs.");
    }
    ctx.server.request_shutdown();
    ctx.client.close_after_reply = true;
    Ok(())
}

fn monitor(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let shared = ctx.client.shared.clone();
    if shared.monitor.swap(true, Ordering::Relaxed) {
        // Already monitoring: Redis ignores the call silently.
        return Ok(());
    }
    let mut mons = ctx.server.monitors.lock();
    mons.push(shared);
    ctx.server
        .monitor_count
        .store(mons.len(), Ordering::Relaxed);
    drop(mons);
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------
// SLOWLOG.
// ---------------------------------------------------------------------------

fn slowlog_help(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
    Ok(())
}

fn slowlog_reset(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.server.slowlog.lock().entries.clear();
    ctx.out.ok();
    Ok(())
}

fn slowlog_len(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let n = ctx.server.slowlog.lock().entries.len();
    ctx.out.int(n as i64);
    Ok(())
}

fn slowlog_get(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return Err(subcommand_syntax_error(argv));
    }
    let mut count: i64 = 10;
    if let Some(a) = argv.get(2) {
        count = crate::args::int_or(a, "ERR count should be greater than or equal to -1")?;
        if count < -1 {
            return err("ERR count should be greater than or equal to -1");
        }
    }
    let log = ctx.server.slowlog.lock();
    let n = if count == -1 {
        log.entries.len()
    } else {
        (count as usize).min(log.entries.len())
    };
    ctx.out.array(n);
    for e in log.entries.iter().take(n) {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time as i64);
        ctx.out.int(e.duration_us as i64);
        ctx.out.array(e.argv.len());
        for a in &e.argv {
            ctx.out.bulk(a);
        }
        ctx.out.bulk(e.addr.as_bytes());
        ctx.out.bulk(&e.name);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// LATENCY.
// ---------------------------------------------------------------------------

fn latency_help(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
    Ok(())
}

fn latency_latest(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let lat = ctx.server.latency.lock();
    ctx.out.array(lat.len());
    for (name, ev) in lat.iter() {
        let (t, ms) = ev.samples.back().copied().unwrap_or((0, 0));
        ctx.out.array(4);
        ctx.out.bulk(name.as_bytes());
        ctx.out.int(t as i64);
        ctx.out.int(ms as i64);
        ctx.out.int(ev.max as i64);
    }
    Ok(())
}

fn latency_history(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let lat = ctx.server.latency.lock();
    let name = String::from_utf8_lossy(argv[2]);
    match lat.get(name.as_ref()) {
        None => ctx.out.array(0),
        Some(ev) => {
            ctx.out.array(ev.samples.len());
            for &(t, ms) in &ev.samples {
                ctx.out.array(2);
                ctx.out.int(t as i64);
                ctx.out.int(ms as i64);
            }
        }
    }
    Ok(())
}

fn latency_reset(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let mut lat = ctx.server.latency.lock();
    let n = if argv.len() == 2 {
        let n = lat.len();
        lat.clear();
        n
    } else {
        let mut n = 0;
        for a in &argv[2..] {
            let name = String::from_utf8_lossy(a);
            if lat.remove(name.as_ref()).is_some() {
                n += 1;
            }
        }
        n
    };
    ctx.out.int(n as i64);
    Ok(())
}

fn latency_graph(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let name = String::from_utf8_lossy(argv[2]).into_owned();
    let lat = ctx.server.latency.lock();
    let Some(ev) = lat.get(name.as_str()).filter(|e| !e.samples.is_empty()) else {
        return errf(format!("ERR No samples available for event '{name}'"));
    };
    // A compact text graph (not Redis's sparkline): one bar per sample,
    // oldest first, scaled to the highest sample.
    let now = ferrocache_engine::clock::now_ms() / 1000;
    let high = ev.samples.iter().map(|x| x.1).max().unwrap_or(0);
    let low = ev.samples.iter().map(|x| x.1).min().unwrap_or(0);
    let mut s = format!(
        "{name} - high {high} ms, low {low} ms (all time high {} ms)\n",
        ev.max
    );
    s.push_str(&"-".repeat(80));
    s.push('\n');
    for &(at, ms) in &ev.samples {
        let width = (ms * 60).checked_div(high).unwrap_or(0) as usize;
        s.push_str(&format!(
            "{:>6}s ago {:>6} ms {}\n",
            now.saturating_sub(at),
            ms,
            "#".repeat(width.max(1))
        ));
    }
    ctx.out.verbatim("txt", s.as_bytes());
    Ok(())
}

fn latency_doctor(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let threshold = ctx
        .server
        .config
        .hot()
        .latency_monitor_threshold
        .load(Ordering::Relaxed);
    let lat = ctx.server.latency.lock();
    let text = if threshold == 0 && lat.is_empty() {
        "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".to_string()
    } else if lat.is_empty() {
        "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sleep tonight.\n".to_string()
    } else {
        let mut s = String::from("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        for (i, (name, ev)) in lat.iter().enumerate() {
            let n = ev.samples.len().max(1) as u64;
            let avg = ev.samples.iter().map(|x| x.1).sum::<u64>() / n;
            s.push_str(&format!(
                "{}. {name}: {} latency spikes (average {avg}ms, mean deviation 0ms, period 0 sec). Worst all time event {}ms.\n",
                i + 1,
                ev.samples.len(),
                ev.max
            ));
        }
        s.push_str("\nI have a few advices for you:\n\n- Check your system for slow commands with SLOWLOG GET, and consider splitting big operations on large values.\n");
        s
    };
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// LATENCY HISTOGRAM [command ...]: per command, its calls and a cumulative
/// histogram keyed by power-of-two microsecond bounds.
/// (command full name, calls, cumulative histogram).
type HistogramRow = (String, u64, Vec<(u64, u64)>);

fn latency_histogram(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let table = crate::table::table();
    let all = argv.len() == 2;
    let wanted = |name: &str| {
        all || argv[2..]
            .iter()
            .any(|a| a.eq_ignore_ascii_case(name.as_bytes()))
    };
    let mut rows: Vec<HistogramRow> = Vec::new();
    let mut collect = |name: String, s: Option<&crate::server::CommandStats>| {
        let Some(s) = s else { return };
        let calls = s.calls.load(Ordering::Relaxed);
        if let Some(h) = s.histogram.get() {
            if calls > 0 {
                rows.push((name, calls, h.cumulative_pow2()));
            }
        }
    };
    for (i, c) in table.commands.iter().enumerate() {
        if c.subcommands.is_empty() {
            if wanted(c.name) {
                collect(c.name.to_string(), server.stats_for(i, None));
            }
            continue;
        }
        let whole = !all && wanted(c.name);
        for (j, sc) in c.subcommands.iter().enumerate() {
            let full = format!("{}|{}", c.name, sc.name);
            if whole || wanted(&full) {
                collect(full, server.stats_for(i, Some(j)));
            }
        }
    }
    ctx.out.map(rows.len());
    for (name, calls, hist) in rows {
        ctx.out.bulk(name.as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"calls");
        ctx.out.int(calls as i64);
        ctx.out.bulk(b"histogram_usec");
        ctx.out.map(hist.len());
        for (bound, n) in hist {
            ctx.out.int(bound as i64);
            ctx.out.int(n as i64);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// MEMORY.
// ---------------------------------------------------------------------------

fn memory_help(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx,
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
    Ok(())
}

fn memory_purge(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.ok();
    Ok(())
}

/// Bytes a key costs besides its value: the map slot (hash, key, entry),
/// the key bytes themselves, and the expires slot if any is counted by the
/// caller. Mirrors what Redis adds to `objectComputeSize` (dictEntry + key
/// sds).
pub const KEY_OVERHEAD: usize = std::mem::size_of::<ferrocache_engine::Blob>()
    + std::mem::size_of::<ferrocache_engine::Entry>()
    + 2 * std::mem::size_of::<usize>();

fn memory_usage(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let mut i = 3;
    while i < argv.len() {
        if eq(argv[i], "samples") && i + 1 < argv.len() {
            let n = int(argv[i + 1])?;
            if n < 0 {
                return err(SYNTAX);
            }
            i += 2;
        } else {
            return err(SYNTAX);
        }
    }
    let key = argv[2];
    let (db, out) = ctx.db_out(key);
    match db.peek(key) {
        None => out.null(),
        Some(e) => {
            let n = e.value.mem_usage() + key.len() + KEY_OVERHEAD;
            out.int(n as i64);
        }
    }
    Ok(())
}

/// RSS of the process in bytes, from /proc/self/statm.
pub fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// (keys, expires) per db over every shard the caller holds.
pub fn keyspace_counts(locked: &mut Locked<'_>, databases: usize) -> Vec<(usize, usize)> {
    let mut v = vec![(0usize, 0usize); databases];
    for (_, shard) in locked.shards() {
        for (i, db) in shard.dbs.iter().enumerate() {
            if let Some(slot) = v.get_mut(i) {
                slot.0 += db.len();
                slot.1 += db.expires_len();
            }
        }
    }
    v
}

fn memory_stats(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let used = server.used_memory();
    let peak = server.peak_memory.load(Ordering::Relaxed).max(used);
    let startup = server.startup_memory.load(Ordering::Relaxed);
    let rss = rss_bytes();
    let counts = keyspace_counts(&mut ctx.ks, server.keyspace.databases());
    let keys: usize = counts.iter().map(|c| c.0).sum();
    let per_slot = std::mem::size_of::<ferrocache_engine::Blob>() + 16;
    let dbs: Vec<(usize, usize, usize)> = counts
        .iter()
        .enumerate()
        .filter(|(_, c)| c.0 > 0)
        .map(|(i, c)| (i, c.0 * per_slot, c.1 * per_slot))
        .collect();
    let overhead = startup + dbs.iter().map(|d| d.1 + d.2).sum::<usize>();
    let dataset = used.saturating_sub(overhead);
    let pct = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let out = &mut *ctx.out;
    out.map(27 + dbs.len());
    let int = |out: &mut ferrocache_protocol::ReplyWriter, k: &str, v: usize| {
        out.bulk(k.as_bytes());
        out.int(v as i64);
    };
    int(out, "peak.allocated", peak);
    int(out, "total.allocated", used);
    int(out, "startup.allocated", startup);
    int(out, "replication.backlog", 0);
    int(out, "clients.slaves", 0);
    int(out, "clients.normal", 0);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", 0);
    int(out, "lua.caches", 0);
    int(out, "functions.caches", 0);
    for (i, main, exp) in &dbs {
        out.bulk(format!("db.{i}").as_bytes());
        out.map(3);
        int(out, "overhead.hashtable.main", *main);
        int(out, "overhead.hashtable.expires", *exp);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", overhead);
    int(out, "keys.count", keys);
    int(
        out,
        "keys.bytes-per-key",
        used.saturating_sub(startup).checked_div(keys).unwrap_or(0),
    );
    int(out, "dataset.bytes", dataset);
    out.bulk(b"dataset.percentage");
    out.double(pct(dataset, used.saturating_sub(startup)));
    out.bulk(b"peak.percentage");
    out.double(pct(used, peak));
    int(out, "allocator.allocated", used);
    int(out, "allocator.active", used);
    int(out, "allocator.resident", rss);
    out.bulk(b"allocator-fragmentation.ratio");
    out.double(1.0);
    int(out, "allocator-fragmentation.bytes", 0);
    out.bulk(b"allocator-rss.ratio");
    out.double(ratio(rss, used));
    int(out, "allocator-rss.bytes", rss.saturating_sub(used));
    out.bulk(b"rss-overhead.ratio");
    out.double(1.0);
    int(out, "rss-overhead.bytes", 0);
    out.bulk(b"fragmentation");
    out.double(ratio(rss, used));
    int(out, "fragmentation.bytes", rss.saturating_sub(used));
    Ok(())
}

fn memory_doctor(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let used = ctx.server.used_memory();
    let text = if used < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
    };
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn memory_malloc_stats(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let s = format!(
        "Stats not supported for the current allocator\nused_memory:{}\nused_memory_rss:{}\n",
        ctx.server.used_memory(),
        rss_bytes()
    );
    ctx.out.verbatim("txt", s.as_bytes());
    Ok(())
}

// ---------------------------------------------------------------------------
// DEBUG.
// ---------------------------------------------------------------------------

const DEBUG_NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// Redis 7.0 gates DEBUG behind `enable-debug-command` (default `no`).
/// While the configuration does not know the parameter, DEBUG is allowed.
fn debug_allowed(ctx: &Ctx<'_, '_>) -> bool {
    match ctx.server.config.get("enable-debug-command") {
        None => true,
        Some(v) if v.eq_ignore_ascii_case("yes") => true,
        Some(v) if v.eq_ignore_ascii_case("local") => {
            let a = &ctx.client.shared.addr;
            a.starts_with("127.") || a.starts_with("[::1]") || a.is_empty()
        }
        Some(_) => false,
    }
}

fn debug(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    if !debug_allowed(ctx) {
        return err(DEBUG_NOT_ALLOWED);
    }
    let sub = argv[1];
    if eq(sub, "help") && argv.len() == 2 {
        reply_help(
            ctx,
            "DEBUG",
            // The subcommands ferrocache answers, in redis-server 7.0's
            // order and words.
            &[
                "OBJECT <key>",
                "    Show low level info about `key` and associated value.",
                "RELOAD [option ...]",
                "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
                "    * MERGE: conflicting keys will be loaded from RDB.",
                "    * NOFLUSH: the existing database will not be removed before load, but",
                "      conflicting keys will generate an exception and kill the server.",
                "    * NOSAVE: the database will be loaded from an existing RDB file.",
                "    Examples:",
                "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
                "      the database.",
                "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
                "      existing RDB file.",
                "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
                "      file to the database.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                "    default.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        );
        return Ok(());
    }
    if eq(sub, "sleep") && argv.len() == 3 {
        // Redis uses strtod without error checking: junk sleeps 0.
        let secs = std::str::from_utf8(argv[2])
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(0.0);
        std::thread::sleep(Duration::from_secs_f64(secs.min(86_400.0)));
        ctx.out.ok();
        return Ok(());
    }
    if eq(sub, "set-active-expire") && argv.len() == 3 {
        let on = int(argv[2])? != 0;
        ctx.server
            .active_expire_enabled
            .store(on, Ordering::Relaxed);
        ctx.out.ok();
        return Ok(());
    }
    if eq(sub, "reload") {
        // Persistence (cmd/persist.rs): save, flush, load back.
        return crate::cmd::persist::debug_reload(ctx, argv);
    }
    if eq(sub, "object") && argv.len() == 3 {
        let key = argv[2];
        let compress = ctx
            .server
            .config
            .get("rdbcompression")
            .is_some_and(|v| v == "yes");
        let version = ctx
            .server
            .config
            .get("rdb-version")
            .and_then(|v| v.parse().ok())
            .unwrap_or(ferrocache_persist::rdb::DEFAULT_VERSION);
        let db = ctx.db(key);
        let line = match db.peek(key) {
            None => return err("ERR no such key"),
            Some(e) => {
                let lru = e.access();
                let idle = db.tunables.idle_seconds(lru);
                format!(
                    "Value at:0x{:x} refcount:1 encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}",
                    e as *const _ as usize,
                    e.encoding(),
                    ferrocache_persist::writer::serialized_len(&e.value, version, compress),
                    lru & 0xff_ffff,
                    idle
                )
            }
        };
        ctx.out.simple(&line);
        return Ok(());
    }
    Err(subcommand_syntax_error(argv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes() {
        assert_eq!(error_code("ERR syntax error"), "ERR");
        assert_eq!(error_code("WRONGTYPE Operation against"), "WRONGTYPE");
        assert_eq!(error_code("NOSPACEATALL"), "ERR");
        assert_eq!(
            error_code("AVERYLONGERRORCODEWITHOUTSPACESINTHEFIRST32 x"),
            "ERR"
        );
    }

    #[test]
    fn repr_matches_sdscatrepr() {
        let mut v = Vec::new();
        cat_repr(&mut v, b"a\"b\\c\n\x01 \xff");
        assert_eq!(v, b"\"a\\\"b\\\\c\\n\\x01 \\xff\"");
    }
}
