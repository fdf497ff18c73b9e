//! The path of one request, from parsed arguments to reply bytes:
//! lookup → subcommand → arity → auth → OOM/eviction → key extraction →
//! shard locks → handler → CLIENT REPLY filtering → stats, slowlog, MONITOR.

use crate::client::{ClientState, ReplyMode};
use crate::ctx::Ctx;
use crate::error::{NOAUTH, OOM};
use crate::server::Server;
use crate::spec::{flags, CommandSpec};
use crate::table::{subcommand, table};
use ferrocache_protocol::ReplyWriter;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// Run one command and append its reply to `out`.
pub fn execute(server: &Server, client: &mut ClientState, out: &mut ReplyWriter, argv: &[&[u8]]) {
    if argv.is_empty() {
        return;
    }
    let mark = out.len();
    let reply_mode = client.reply_mode;
    if reply_mode == ReplyMode::Skip {
        client.reply_mode = ReplyMode::SkipThis;
    }
    run(server, client, out, argv);
    match client.reply_mode {
        ReplyMode::Off => out.truncate(mark),
        ReplyMode::SkipThis => {
            out.truncate(mark);
            client.reply_mode = ReplyMode::On;
        }
        _ => {}
    }
}

fn reject(server: &Server, out: &mut ReplyWriter, idx: Option<usize>, msg: &str) {
    out.error(msg);
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
        let mut args = String::new();
        for a in &argv[1..] {
            if args.len() >= 128 {
                break;
            }
            let room = 128 - args.len();
            let s = String::from_utf8_lossy(a);
            let s: String = s.chars().take(room).collect();
            args.push_str(&format!("'{s}' "));
        }
        let name: String = String::from_utf8_lossy(argv[0]).chars().take(128).collect();
        let msg = format!("ERR unknown command '{name}', with args beginning with: {args}");
        reject(server, out, None, &msg);
        return;
    };
    let mut spec: &'static CommandSpec = top;
    if !top.subcommands.is_empty() {
        if argv.len() < 2 {
            let msg = format!("ERR wrong number of arguments for '{}' command", top.name);
            reject(server, out, Some(idx), &msg);
            return;
        }
        match subcommand(top, argv[1]) {
            Some(s) => spec = s,
            None => {
                let sub: String = String::from_utf8_lossy(argv[1]).chars().take(128).collect();
                let msg = format!(
                    "ERR unknown subcommand '{sub}'. Try {} HELP.",
                    top.name.to_ascii_uppercase()
                );
                reject(server, out, Some(idx), &msg);
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
        reject(server, out, Some(idx), &msg);
        return;
    }
    if !client.authenticated && !spec.has(flags::NO_AUTH) {
        reject(server, out, Some(idx), NOAUTH);
        return;
    }
    if spec.has(flags::DENYOOM) && !crate::evict::make_room(server) {
        reject(server, out, Some(idx), OOM);
        return;
    }

    let start = Instant::now();
    let now = ferrocache_engine::clock::unix_ms_at(start);
    let ks = &server.keyspace;
    let locked = if spec.has(flags::GLOBAL) {
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
    };
    let result = {
        let mut ctx = Ctx {
            server,
            client,
            out,
            ks: locked,
        };
        (spec.handler)(&mut ctx, argv)
    };
    let failed = match result {
        Ok(()) => false,
        Err(e) => {
            out.error(e.text());
            server
                .stats
                .total_error_replies
                .fetch_add(1, Ordering::Relaxed);
            crate::cmd::server::count_error(server, e.text());
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
    crate::cmd::server::after_command(server, client, top, spec, argv, elapsed);
}

/// Reply for a container command called with an unknown subcommand.
pub fn reply_unknown_subcommand(ctx: &mut Ctx<'_>, argv: &[&[u8]]) {
    let sub = argv
        .get(1)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .unwrap_or_default();
    let name = argv
        .first()
        .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
        .unwrap_or_default();
    ctx.out
        .error(&format!("ERR unknown subcommand '{sub}'. Try {name} HELP."));
}
