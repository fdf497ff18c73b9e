//! The path of one request, from parsed arguments to reply bytes:
//! lookup → subcommand → arity → auth → OOM/eviction → key extraction →
//! shard locks → handler → CLIENT REPLY filtering → stats, slowlog, MONITOR.
//!
//! Inside MULTI, a command that passes the checks is queued instead of run
//! (`cmd::transaction`); EXEC later runs the queue through [`invoke`] under
//! one set of shard locks.
//!
//! Pushes for the client running the command (its own keyspace events, a
//! PUBLISH it receives) go at the reply writer's push mark, which
//! [`execute`] and [`invoke`] reset to the end when a command starts: they
//! precede its reply unless the handler notifies after replying, as Redis
//! does (see `notify.rs`). Under CLIENT REPLY OFF/SKIP they are kept while
//! the reply is dropped.

use crate::client::{ClientState, ReplyMode};
use crate::cmd::transaction;
use crate::ctx::Ctx;
use crate::error::{c_str, NOAUTH, OOM};
use crate::server::Server;
use crate::spec::{flags, CommandSpec};
use crate::table::{subcommand, table};
use ferrocache_engine::Locked;
use ferrocache_protocol::ReplyWriter;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Run one command and append its reply to `out`.
pub fn execute(server: &Server, client: &mut ClientState, out: &mut ReplyWriter, argv: &[&[u8]]) {
    if argv.is_empty() {
        return;
    }
    let mark = out.len();
    out.begin_reply();
    let reply_mode = client.reply_mode;
    if reply_mode == ReplyMode::Skip {
        client.reply_mode = ReplyMode::SkipThis;
    }
    // CLIENT REPLY OFF/SKIP drops the reply but not the pushes (Redis 7.0
    // still writes a client's own keyspace events): they are kept aside.
    let quiet = matches!(client.reply_mode, ReplyMode::Off | ReplyMode::SkipThis);
    if quiet {
        out.divert_pushes(true);
    }
    run(server, client, out, argv);
    // Serve clients blocked on keys this command (or the EXEC / script it
    // ran) made ready, before its own reply can be flushed (H3). Not while
    // a (busy) script holds the shards: its own command serves them after.
    if !crate::script::running() {
        crate::blocking::serve_ready(server);
    }
    match client.reply_mode {
        ReplyMode::Off => out.truncate(mark),
        ReplyMode::SkipThis => {
            out.truncate(mark);
            client.reply_mode = ReplyMode::On;
        }
        _ => {}
    }
    if quiet {
        let pushes = out.take_diverted();
        out.divert_pushes(false);
        out.raw(&pushes);
    }
    // Client-side caching: invalidations for this client go after its reply
    // (pushes ignore CLIENT REPLY), BCAST batches are sent (H4).
    out.mark_here();
    if server.tracking.active() {
        crate::tracking::after_command(server, client, out, argv);
    }
}

fn reject(
    server: &Server,
    client: &mut ClientState,
    out: &mut ReplyWriter,
    idx: Option<usize>,
    msg: &str,
) {
    reject_bytes(server, client, out, idx, msg.as_bytes());
}

/// Refuse a command before it runs. Inside MULTI this also dooms the
/// transaction (EXEC will answer EXECABORT), as Redis's `flagTransaction`.
fn reject_bytes(
    server: &Server,
    client: &mut ClientState,
    out: &mut ReplyWriter,
    idx: Option<usize>,
    msg: &[u8],
) {
    if let Some(m) = client.multi.as_mut() {
        m.failed = true;
    }
    // (H7) A refused EXEC (e.g. `EXEC x`: arity) answers EXECABORT and
    // discards the transaction and the WATCHes, inside MULTI or not, as
    // Redis's `rejectCommand` -> `execCommandAbort` (its message has no
    // "ERR " prefix there; other codes such as NOAUTH stay).
    let is_exec = idx.is_some_and(|i| table().commands.get(i).is_some_and(|c| c.name == "exec"));
    let abort;
    if is_exec {
        crate::cmd::transaction::reset(server, client);
    }
    let msg = if is_exec && !msg.starts_with(b"EXECABORT") {
        let why = msg.strip_prefix(b"ERR ").unwrap_or(msg);
        abort = [&b"EXECABORT Transaction discarded because of: "[..], why].concat();
        &abort[..]
    } else {
        msg
    };
    out.error_bytes(msg);
    let msg = String::from_utf8_lossy(msg);
    let msg: &str = &msg;
    server
        .stats
        .total_error_replies
        .fetch_add(1, Ordering::Relaxed);
    if let Some(i) = idx {
        if let Some(s) = server.command_stats.get(i) {
            s.rejected_calls.fetch_add(1, Ordering::Relaxed);
        }
    }
    crate::cmd::server::count_error(server, msg);
}

fn run(server: &Server, client: &mut ClientState, out: &mut ReplyWriter, argv: &[&[u8]]) {
    let Some((idx, top)) = table().get(argv[0]) else {
        // Redis: "unknown command '%.128s', with args beginning with: " then
        // "'%.*s' " per argument while the list is under 128 bytes.
        let mut msg = b"ERR unknown command '".to_vec();
        msg.extend_from_slice(c_str(argv[0], 128));
        msg.extend_from_slice(b"', with args beginning with: ");
        let mut args: Vec<u8> = Vec::new();
        for a in &argv[1..] {
            if args.len() >= 128 {
                break;
            }
            let room = 128 - args.len();
            args.push(b'\'');
            args.extend_from_slice(c_str(a, room));
            args.extend_from_slice(b"' ");
        }
        msg.extend_from_slice(&args);
        reject_bytes(server, client, out, None, &msg);
        return;
    };
    let mut spec: &'static CommandSpec = top;
    if !top.subcommands.is_empty() {
        if argv.len() < 2 && top.arity_ok(1) {
            // A container that also works bare (COMMAND): run its handler.
        } else if argv.len() < 2 {
            let msg = format!("ERR wrong number of arguments for '{}' command", top.name);
            reject(server, client, out, Some(idx), &msg);
            return;
        }
        let found = match argv.get(1) {
            Some(name) => subcommand(top, name),
            None => Some(top),
        };
        match found {
            Some(s) => spec = s,
            None => {
                let mut msg = b"ERR unknown subcommand '".to_vec();
                msg.extend_from_slice(c_str(argv[1], 128));
                msg.extend_from_slice(
                    format!("'. Try {} HELP.", top.name.to_ascii_uppercase()).as_bytes(),
                );
                reject_bytes(server, client, out, Some(idx), &msg);
                return;
            }
        }
    }
    if !spec.arity_ok(argv.len()) {
        let full = if std::ptr::eq(spec, top) {
            spec.name.to_string()
        } else {
            format!("{}|{}", top.name, spec.name)
        };
        let msg = format!("ERR wrong number of arguments for '{full}' command");
        reject(server, client, out, Some(idx), &msg);
        return;
    }
    if !client.authenticated && !spec.has(flags::NO_AUTH) {
        reject(server, client, out, Some(idx), NOAUTH);
        return;
    }
    let in_multi = client.multi.is_some();
    let queue = in_multi && !transaction::runs_inside_multi(top);
    if queue && spec.has(flags::NO_MULTI) {
        reject(
            server,
            client,
            out,
            Some(idx),
            "ERR Command not allowed inside a transaction",
        );
        return;
    }
    // Lua (issue 4): while a script runs (this worker only gets here then
    // when it is past busy-reply-threshold) it holds every shard: nothing
    // below may lock one. Redis skips eviction in that state too.
    let in_script = crate::script::running();
    // Redis refuses *any* command queued while out of memory: a queue can
    // grow without bound.
    if !in_script && (spec.has(flags::DENYOOM) || queue) && !crate::evict::make_room(server) {
        reject(server, client, out, Some(idx), OOM);
        return;
    }
    // `evicted`/`expired` keyspace events recorded by the engine (H4).
    if !in_script && crate::notify::pending(server) {
        crate::notify::drain_all(server, &mut Some((client.id, &mut *out)));
    }
    // RESP2 subscribed mode (Redis's CLIENT_PUBSUB && resp == 2): the
    // connection carries pushes, so only the (un)subscribe commands, PING,
    // QUIT and RESET may run. Checked after OOM, as in `processCommand`.
    if !out.is_resp3()
        && client.shared.is_pubsub()
        && !crate::cmd::pubsub::allowed_in_subscribed_mode(top.name)
    {
        let full = if std::ptr::eq(spec, top) {
            spec.name.to_string()
        } else {
            format!("{}|{}", top.name, spec.name)
        };
        let why = format!(
            "Can't execute '{full}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        );
        // A refused EXEC answers EXECABORT, as `rejectCommand` does.
        let msg = if top.name == "exec" {
            format!("EXECABORT Transaction discarded because of: {why}")
        } else {
            format!("ERR {why}")
        };
        reject(server, client, out, Some(idx), &msg);
        return;
    }
    // Lua (issue 4): a script running past busy-reply-threshold holds every
    // shard; refuse what is not ALLOW_BUSY before waiting for any lock.
    if let Some(msg) = crate::script::busy_error(server, spec, argv) {
        reject(server, client, out, Some(idx), msg);
        return;
    }
    if queue {
        transaction::queue(client, idx, top, spec, argv);
        out.simple("QUEUED");
        return;
    }

    let start = Instant::now();
    let now = ferrocache_engine::clock::unix_ms_at(start);
    // (h1) WATCH while a script is past the threshold (ALLOW_BUSY) takes no
    // lock: the script holds the shards (see `script::defer_watch`).
    let locked = if crate::script::timed_out() && top.name == "watch" {
        server.keyspace.lock_none(now)
    } else {
        lock_for(server, spec, argv, now)
    };
    drop(invoke(
        server, client, out, locked, start, idx, top, spec, argv,
    ));
}

/// Lock the shards `spec`'s keys in `argv` map to (every shard for GLOBAL
/// commands), in ascending order.
pub(crate) fn lock_for<'s>(
    server: &'s Server,
    spec: &CommandSpec,
    argv: &[&[u8]],
    now: u64,
) -> Locked<'s> {
    let ks = &server.keyspace;
    if spec.has(flags::GLOBAL) {
        ks.lock_all(now)
    } else if spec.keys_fn.is_none()
        && spec.first_key > 0
        && spec.first_key == spec.last_key
        && (spec.first_key as usize) < argv.len()
    {
        // The common single-key case, without building a key list.
        let s = ks.shard_of(argv[spec.first_key as usize]);
        ks.lock_ids(&[s], now)
    } else {
        let keys = spec.key_indexes(argv);
        if keys.is_empty() {
            ks.lock_none(now)
        } else {
            ks.lock_keys(keys.iter().map(|&i| argv[i]), now)
        }
    }
}

/// Run a resolved command's handler with the shards in `locked`, write its
/// error reply if it failed, and account for it (stats, slowlog, MONITOR,
/// WATCH). Returns the locks so EXEC can run the next queued command under
/// the same ones.
#[allow(clippy::too_many_arguments)] // the resolved command, spelled out
pub(crate) fn invoke<'s>(
    server: &'s Server,
    client: &mut ClientState,
    out: &mut ReplyWriter,
    locked: Locked<'s>,
    start: Instant,
    idx: usize,
    top: &'static CommandSpec,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
) -> Locked<'s> {
    // PFCOUNT is read-only but rewrites a stale cached cardinality, and
    // Redis signals the key then (WATCH sees it), so it counts as a write.
    let watching =
        (spec.has(flags::WRITE) || spec.name == "pfcount") && transaction::anyone_watching(server);
    let db = client.db;
    let mut locked = locked;
    let dirty_before = if watching {
        transaction::dirty_sum(&mut locked, db)
    } else {
        0
    };
    // (H7) DEL/UNLINK/FLUSH*/SWAPDB touch only keys that exist: look first.
    let before = if watching {
        transaction::before_write(server, &mut locked, spec, argv, db)
    } else {
        None
    };
    // This command's own pushes (its keyspace events, see notify.rs) go
    // before its reply unless the handler moves the mark.
    out.begin_reply();
    let mut ctx = Ctx {
        server,
        client,
        out,
        ks: locked,
    };
    let result = (spec.handler)(&mut ctx, argv);
    let Ctx {
        client,
        out,
        ks: mut locked,
        ..
    } = ctx;
    // Keyspace events the engine recorded (lazy expiry, key misses, new
    // keys) and client tracking of read keys (H4).
    if crate::notify::pending(server) {
        crate::notify::drain_locked(server, &mut locked, &mut Some((client.id, &mut *out)));
    }
    if server.tracking.active() {
        crate::tracking::remember_keys(server, client, spec, argv);
    }
    // Blocked clients (H3): keys this write may have made ready are
    // recorded here and served by `execute` once the locks are dropped.
    if client.blocked.is_none() {
        crate::blocking::signal_command(server, spec, argv, db);
    }
    if watching && transaction::dirty_sum(&mut locked, db) != dirty_before {
        transaction::touch_written_keys(server, spec, argv, db, before.as_ref());
    }
    let failed = match result {
        Ok(()) => false,
        Err(e) => {
            out.error_bytes(e.bytes());
            server
                .stats
                .total_error_replies
                .fetch_add(1, Ordering::Relaxed);
            crate::cmd::server::count_error(server, &e.text());
            true
        }
    };
    let elapsed = start.elapsed();
    server
        .stats
        .total_commands_processed
        .fetch_add(1, Ordering::Relaxed);
    if let Some(s) = server.command_stats.get(idx) {
        s.calls.fetch_add(1, Ordering::Relaxed);
        s.usec
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        if failed {
            s.failed_calls.fetch_add(1, Ordering::Relaxed);
        }
    }
    crate::cmd::server::after_command(server, client, top, spec, argv, elapsed, idx, failed);
    locked
}

/// Reply for a container command called with an unknown subcommand.
pub fn reply_unknown_subcommand(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) {
    let sub = argv.get(1).copied().unwrap_or_default();
    let name = argv
        .first()
        .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
        .unwrap_or_default();
    let mut msg = b"ERR unknown subcommand '".to_vec();
    msg.extend_from_slice(c_str(sub, 128));
    msg.extend_from_slice(format!("'. Try {name} HELP.").as_bytes());
    ctx.out.error_bytes(&msg);
}
