//! The path of one request, from parsed arguments to reply bytes:
//! lookup → subcommand → arity → auth → OOM/eviction → key extraction →
//! shard locks → handler → CLIENT REPLY filtering → stats, slowlog, MONITOR.

use crate::client::{ClientState, ReplyMode};
use crate::ctx::Ctx;
use crate::error::{c_str, NOAUTH, OOM};
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
    reject_bytes(server, out, idx, msg.as_bytes());
}

fn reject_bytes(server: &Server, out: &mut ReplyWriter, idx: Option<usize>, msg: &[u8]) {
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
        reject_bytes(server, out, None, &msg);
        return;
    };
    let mut spec: &'static CommandSpec = top;
    if !top.subcommands.is_empty() {
        if argv.len() < 2 && top.arity_ok(1) {
            // A container that also works bare (COMMAND): run its handler.
        } else if argv.len() < 2 {
            let msg = format!("ERR wrong number of arguments for '{}' command", top.name);
            reject(server, out, Some(idx), &msg);
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
                reject_bytes(server, out, Some(idx), &msg);
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
}

/// Reply for a container command called with an unknown subcommand.
pub fn reply_unknown_subcommand(ctx: &mut Ctx<'_>, argv: &[&[u8]]) {
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
