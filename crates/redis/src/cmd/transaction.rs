//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Inside MULTI, dispatch checks each command (lookup, arity, auth, memory)
//! and queues it; a refused command dooms the transaction (EXECABORT). EXEC
//! locks the union of the shards every queued command and every WATCHed key
//! map to — all shards if any queued command is GLOBAL — in ascending order,
//! runs the queue under those locks through `dispatch::invoke`, and releases
//! them: no other client can observe a half-applied transaction, across
//! shards too.
//!
//! WATCH keeps a registry (db, key) → clients. After a write command whose
//! shards' `Db::dirty` counters moved, dispatch marks the watchers of the
//! command's keys dirty (all watchers for GLOBAL writes such as FLUSHALL or
//! SWAPDB). A WATCHed key that was alive when watched and is gone at EXEC
//! time (expired, evicted, deleted) also fails the EXEC, as in Redis 7.0.
//! When nobody watches anything, write commands pay one atomic load.

use crate::client::{ClientShared, ClientState};
use crate::ctx::Ctx;
use crate::error::{err, CmdResult};
use crate::server::Server;
use crate::spec::{acl, flags::*, CommandSpec};
use ferrocache_engine::{Blob, Locked};
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new(
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (0, 0, 0),
        multi,
    )
    .acl(acl::TRANSACTION)
    .doc(
        "transaction",
        "1.2.0",
        "Mark the start of a transaction block",
        "O(1)",
    ),
    CommandSpec::new(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG,
        (0, 0, 0),
        exec,
    )
    .acl(acl::TRANSACTION)
    .doc(
        "transaction",
        "1.2.0",
        "Execute all commands issued after MULTI",
        "Depends on commands in the transaction",
    ),
    CommandSpec::new(
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (0, 0, 0),
        discard,
    )
    .acl(acl::TRANSACTION)
    .doc(
        "transaction",
        "2.0.0",
        "Discard all commands issued after MULTI",
        "O(N), when N is the number of queued commands",
    ),
    CommandSpec::new(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (1, -1, 1),
        watch,
    )
    .acl(acl::TRANSACTION)
    .doc(
        "transaction",
        "2.2.0",
        "Watch the given keys to determine execution of the MULTI/EXEC block",
        "O(1) for every key.",
    ),
    CommandSpec::new(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (0, 0, 0),
        unwatch,
    )
    .acl(acl::TRANSACTION)
    .doc(
        "transaction",
        "2.2.0",
        "Forget about all watched keys",
        "O(1)",
    ),
];

/// (db, key) → watching clients.
pub type WatchMap = HashMap<(usize, Blob), Vec<Arc<ClientShared>>>;

/// One queued command, resolved at queue time.
#[derive(Debug)]
pub struct Queued {
    idx: usize,
    top: &'static CommandSpec,
    spec: &'static CommandSpec,
    argv: Vec<Vec<u8>>,
}

/// An open MULTI.
#[derive(Debug, Default)]
pub struct MultiState {
    queue: Vec<Queued>,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    pub failed: bool,
}

/// Commands that run immediately even inside MULTI (Redis's list in
/// `processCommand`).
pub fn runs_inside_multi(top: &CommandSpec) -> bool {
    matches!(
        top.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Queue a checked command in the client's open transaction.
pub(crate) fn queue(
    client: &mut ClientState,
    idx: usize,
    top: &'static CommandSpec,
    spec: &'static CommandSpec,
    argv: &[&[u8]],
) {
    if let Some(m) = client.multi.as_mut() {
        m.queue.push(Queued {
            idx,
            top,
            spec,
            argv: argv.iter().map(|a| a.to_vec()).collect(),
        });
    }
}

fn multi(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return err("ERR MULTI calls can not be nested");
    }
    ctx.client.multi = Some(MultiState::default());
    ctx.out.ok();
    Ok(())
}

fn discard(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return err("ERR DISCARD without MULTI");
    }
    unwatch_all(ctx.server, ctx.client);
    ctx.out.ok();
    Ok(())
}

fn watch(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return err("ERR WATCH inside MULTI is not allowed");
    }
    let db = ctx.client.db;
    for key in &argv[1..] {
        if ctx
            .client
            .watched
            .iter()
            .any(|(d, k, _)| *d == db && &k[..] == *key)
        {
            continue;
        }
        let k = Blob::new(key);
        // Past busy-reply-threshold a script holds the shard (WATCH is
        // ALLOW_BUSY): the script looks the key up when it ends.
        let alive =
            !crate::script::defer_watch(ctx.client.id, db, &k) && ctx.db(key).peek(key).is_some();
        ctx.client.watched.push((db, k.clone(), alive));
        let mut map = ctx.server.watches.lock();
        let list = map.entry((db, k)).or_default();
        if list.is_empty() {
            ctx.server.watch_count.fetch_add(1, Ordering::Relaxed);
        }
        list.push(ctx.client.shared.clone());
    }
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    unwatch_all(ctx.server, ctx.client);
    ctx.out.ok();
    Ok(())
}

/// Forget every key the client watches (EXEC, DISCARD, UNWATCH, RESET,
/// disconnect).
pub fn unwatch_all(server: &Server, client: &mut ClientState) {
    client.shared.watch_dirty.store(false, Ordering::Relaxed);
    drop(crate::script::take_busy_watches(client.id));
    if client.watched.is_empty() {
        return;
    }
    let mut map = server.watches.lock();
    for (db, key, _) in client.watched.drain(..) {
        let k = (db, key);
        if let Some(list) = map.get_mut(&k) {
            list.retain(|c| c.id != client.id);
            if list.is_empty() {
                map.remove(&k);
                server.watch_count.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }
}

/// Drop the client's transaction state (RESET, disconnect).
pub fn reset(server: &Server, client: &mut ClientState) {
    client.multi = None;
    unwatch_all(server, client);
}

/// True when some client watches some key (cheap check on the write path).
pub fn anyone_watching(server: &Server) -> bool {
    server.watch_count.load(Ordering::Relaxed) > 0
}

/// Sum of the write counters of database `db` in the held shards.
pub(crate) fn dirty_sum(locked: &mut Locked<'_>, db: usize) -> u64 {
    locked.each_db(db).map(|d| d.dirty).sum()
}

/// What a write command's watch-touching needs to know from before it ran.
pub(crate) enum Before {
    /// DEL/UNLINK: which key arguments held a live key (argv order from 1).
    /// Redis's `signalModifiedKey` runs only for the keys actually deleted,
    /// so `WATCH h; DEL z h` with `h` missing keeps the EXEC.
    Live(Vec<bool>),
    /// FLUSHDB/FLUSHALL/SWAPDB: the watched (db, key)s to touch. Redis's
    /// `touchAllWatchedKeysInDb` touches a watched key only if it exists in
    /// the emptied db (or in the db swapped in), and only in those dbs.
    Touch(Vec<(usize, Blob)>),
}

/// Collect [`Before`] for the commands that need it (None for the others).
pub(crate) fn before_write(
    server: &Server,
    locked: &mut Locked<'_>,
    spec: &CommandSpec,
    argv: &[&[u8]],
    db: usize,
) -> Option<Before> {
    let dbarg = |i: usize| {
        argv.get(i)
            .and_then(|a| crate::args::int(a).ok())
            .and_then(|n| usize::try_from(n).ok())
    };
    // (emptied db, db whose keys replace it)
    let pairs: Vec<(usize, Option<usize>)> = match spec.name {
        "del" | "unlink" => {
            let live = argv
                .iter()
                .skip(1)
                .map(|k| locked.db(db, k).peek(k).is_some())
                .collect();
            return Some(Before::Live(live));
        }
        "flushdb" => vec![(db, None)],
        "flushall" => (0..locked.keyspace().databases())
            .map(|d| (d, None))
            .collect(),
        "swapdb" => match (dbarg(1), dbarg(2)) {
            (Some(a), Some(b)) => vec![(a, Some(b)), (b, Some(a))],
            _ => return None,
        },
        _ => return None,
    };
    let dbs = locked.keyspace().databases();
    let watched: Vec<(usize, Blob)> = server.watches.lock().keys().cloned().collect();
    let mut touch = Vec::new();
    for (d, key) in watched {
        let hit = pairs.iter().any(|&(e, with)| {
            e == d
                && e < dbs
                && (locked.db(e, key.as_ref()).peek(key.as_ref()).is_some()
                    || with.is_some_and(|w| {
                        w < dbs && locked.db(w, key.as_ref()).peek(key.as_ref()).is_some()
                    }))
        });
        if hit {
            touch.push((d, key));
        }
    }
    Some(Before::Touch(touch))
}

/// Mark the watchers of the keys a write command changed; `before` (from
/// [`before_write`]) narrows them as Redis does.
pub(crate) fn touch_written_keys(
    server: &Server,
    spec: &CommandSpec,
    argv: &[&[u8]],
    db: usize,
    before: Option<&Before>,
) {
    if let Some(Before::Touch(keys)) = before {
        let map = server.watches.lock();
        for k in keys {
            if let Some(list) = map.get(k) {
                for c in list {
                    c.watch_dirty.store(true, Ordering::Relaxed);
                }
            }
        }
        return;
    }
    let live_before = match before {
        Some(Before::Live(l)) => Some(l.as_slice()),
        _ => None,
    };
    let mut map = server.watches.lock();
    if spec.name == "sort" {
        // GLOBAL for its BY/GET patterns, but Redis signals only the STORE
        // destination.
        let mut dest = None;
        let mut j = 2;
        while j < argv.len() {
            let a = argv[j];
            if a.eq_ignore_ascii_case(b"limit") {
                j += 2;
            } else if a.eq_ignore_ascii_case(b"by") || a.eq_ignore_ascii_case(b"get") {
                j += 1;
            } else if a.eq_ignore_ascii_case(b"store") {
                dest = argv.get(j + 1).copied();
                j += 1;
            }
            j += 1;
        }
        if let Some(list) = dest.and_then(|d| map.get(&(db, Blob::new(d)))) {
            for c in list {
                c.watch_dirty.store(true, Ordering::Relaxed);
            }
        }
        return;
    }
    if spec.has(GLOBAL) {
        // FLUSHDB/FLUSHALL/SWAPDB/SORT…STORE: be safe, every watcher.
        for list in map.values() {
            for c in list {
                c.watch_dirty.store(true, Ordering::Relaxed);
            }
        }
        return;
    }
    let mut dbs = vec![db];
    // MOVE key db and COPY … DB db also write another database.
    if spec.name == "move" {
        if let Some(n) = argv.get(2).and_then(|a| crate::args::int(a).ok()) {
            dbs.push(n.max(0) as usize);
        }
    } else if spec.name == "copy" {
        if let Some(p) = argv.iter().position(|a| a.eq_ignore_ascii_case(b"db")) {
            if let Some(n) = argv.get(p + 1).and_then(|a| crate::args::int(a).ok()) {
                dbs.push(n.max(0) as usize);
            }
        }
    }
    for i in written_key_indexes(spec, argv) {
        if live_before.is_some_and(|l| !l.get(i - 1).copied().unwrap_or(true)) {
            continue;
        }
        for &d in &dbs {
            let k = (d, Blob::new(argv[i]));
            if let Some(list) = map.get_mut(&k) {
                for c in list.iter() {
                    c.watch_dirty.store(true, Ordering::Relaxed);
                }
            }
        }
    }
}

/// The keys a write command modifies: its key positions minus the ones it
/// only reads. Redis signals (`signalModifiedKey`) only the destination of
/// BITOP, PFMERGE, COPY, the *STORE commands and GEORADIUS … STORE, so a
/// WATCHed source key must not fail the EXEC (found by the differential
/// test: `WATCH a; BITOP OR g x a; MULTI; EXEC`).
fn written_key_indexes(spec: &CommandSpec, argv: &[&[u8]]) -> Vec<usize> {
    let all = spec.key_indexes(argv);
    match spec.name {
        "bitop" => vec![2],
        "copy" => vec![2],
        "pfmerge" | "geosearchstore" | "sunionstore" | "sinterstore" | "sdiffstore"
        | "zunionstore" | "zinterstore" | "zdiffstore" | "zrangestore" => vec![1],
        "georadius" | "georadiusbymember" => all.into_iter().filter(|&i| i != 1).collect(),
        // Redis 7.0 does not call signalModifiedKey for XSETID and the
        // consumer-group commands (verified against redis-server 7.0.15);
        // XGROUP CREATE .. MKSTREAM does when it creates the key (here:
        // whenever MKSTREAM is given).
        "xsetid" | "xreadgroup" | "xack" | "xclaim" | "xautoclaim" => Vec::new(),
        _ if argv[0].eq_ignore_ascii_case(b"xgroup")
            && !argv.iter().any(|a| a.eq_ignore_ascii_case(b"mkstream")) =>
        {
            Vec::new()
        }
        _ => all,
    }
}

fn exec(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let Some(state) = ctx.client.multi.take() else {
        return err("ERR EXEC without MULTI");
    };
    let server = ctx.server;
    if state.failed {
        unwatch_all(server, ctx.client);
        return err("EXECABORT Transaction discarded because of previous errors.");
    }
    // Lock every shard the queue or the watched keys need, in order.
    let ks = &server.keyspace;
    let start = Instant::now();
    let now = ferrocache_engine::clock::unix_ms_at(start);
    let global = state.queue.iter().any(|q| q.spec.has(GLOBAL));
    let mut locked = if global {
        ks.lock_all(now)
    } else {
        let mut keys: Vec<&[u8]> = Vec::new();
        for q in &state.queue {
            let argv: Vec<&[u8]> = q.argv.iter().map(|a| a.as_slice()).collect();
            for i in q.spec.key_indexes(&argv) {
                keys.push(&q.argv[i]);
            }
        }
        for (_, k, _) in &ctx.client.watched {
            keys.push(k);
        }
        ks.lock_keys(keys, now)
    };
    // Keys WATCHed while a script was busy, found alive at its end.
    for (db, key) in crate::script::take_busy_watches(ctx.client.id) {
        for w in ctx.client.watched.iter_mut() {
            if w.0 == db && w.1 == key {
                w.2 = true;
            }
        }
    }
    // A watched key modified, or alive when watched and gone now, aborts.
    let mut dirty = ctx.client.shared.watch_dirty.load(Ordering::Relaxed);
    if !dirty {
        for (db, key, alive) in &ctx.client.watched {
            if *alive && locked.db(*db, key).peek(key).is_none() {
                dirty = true;
                break;
            }
        }
    }
    if dirty {
        drop(locked);
        unwatch_all(server, ctx.client);
        ctx.out.null_array();
        return Ok(());
    }
    ctx.out.array(state.queue.len());
    ctx.client.deny_blocking = true;
    for q in &state.queue {
        let argv: Vec<&[u8]> = q.argv.iter().map(|a| a.as_slice()).collect();
        locked = crate::dispatch::invoke(
            server,
            ctx.client,
            ctx.out,
            locked,
            Instant::now(),
            q.idx,
            q.top,
            q.spec,
            &argv,
        );
    }
    ctx.client.deny_blocking = false;
    drop(locked);
    unwatch_all(server, ctx.client);
    Ok(())
}

/// Union of the flags of the commands queued in `m` (H3: CLIENT PAUSE WRITE
/// postpones an EXEC whose queue writes, as Redis's `mstate.cmd_flags`).
pub fn queued_flags(m: &MultiState) -> u32 {
    m.queue.iter().fold(0, |f, q| f | q.spec.flags)
}
