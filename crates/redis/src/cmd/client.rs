//! CLIENT and its subcommands: connection introspection and control.

use crate::args::{eq, int};
use crate::client::{ClientShared, ReplyMode};
use crate::ctx::Ctx;
use crate::error::{err, errf, CmdResult, SYNTAX};
use crate::spec::{acl, flags::*, CommandSpec};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("client", -2, CLIENT_SUBS).doc(
    "connection",
    "2.4.0",
    "A container for client connection commands",
    "Depends on subcommand.",
)];

const F: u32 = NOSCRIPT | LOADING | STALE;
const FA: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

static CLIENT_SUBS: &[CommandSpec] = &[
    CommandSpec::new("id", 2, F, (0, 0, 0), client_id)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "5.0.0",
            "Returns the client ID for the current connection",
            "O(1)",
        ),
    CommandSpec::new("getredir", 2, F, (0, 0, 0), client_getredir)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "6.0.0",
            "Get tracking notifications redirection client ID if any",
            "O(1)",
        ),
    CommandSpec::new("unblock", -3, FA, (0, 0, 0), client_unblock)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "5.0.0",
            "Unblock a client blocked in a blocking command from a different connection",
            "O(log N) where N is the number of client connections",
        ),
    // CLIENT PAUSE / UNPAUSE (H3; the waiting is in the connection loop).
    CommandSpec::new("pause", -3, FA, (0, 0, 0), client_pause)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "2.9.50",
            "Stop processing commands from clients for some time",
            "O(1)",
        ),
    CommandSpec::new("unpause", 2, FA, (0, 0, 0), client_unpause)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "6.2.0",
            "Resume processing of clients that were paused",
            "O(N) Where N is the number of paused clients",
        ),
    CommandSpec::new("trackinginfo", 2, F, (0, 0, 0), client_trackinginfo)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "6.2.0",
            "Return information about server assisted client side caching for the current connection",
            "O(1)",
        ),
    CommandSpec::new("info", 2, F, (0, 0, 0), client_info)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "6.2.0",
            "Returns information about the current client connection.",
            "O(1)",
        ),
    CommandSpec::new("getname", 2, F, (0, 0, 0), client_getname)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "2.6.9",
            "Get the current connection name",
            "O(1)",
        ),
    CommandSpec::new("setname", 3, F, (0, 0, 0), client_setname)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "2.6.9",
            "Set the current connection name",
            "O(1)",
        ),
    CommandSpec::new("help", 2, LOADING | STALE, (0, 0, 0), client_help)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "5.0.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
    CommandSpec::new("no-evict", 3, FA, (0, 0, 0), client_no_evict)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "7.0.0",
            "Set client eviction mode for the current connection",
            "O(1)",
        ),
    CommandSpec::new("kill", -3, FA, (0, 0, 0), client_kill)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "2.4.0",
            "Kill the connection of a client",
            "O(N) where N is the number of client connections",
        ),
    CommandSpec::new("caching", 3, F, (0, 0, 0), client_caching)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "6.0.0",
            "Instruct the server about tracking or not keys in the next request",
            "O(1)",
        ),
    CommandSpec::new("list", -2, FA, (0, 0, 0), client_list)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "2.4.0",
            "Get the list of client connections",
            "O(N) where N is the number of client connections",
        ),
    CommandSpec::new("tracking", -3, F, (0, 0, 0), client_tracking)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "6.0.0",
            "Enable or disable server assisted client side caching support",
            "O(1). Some options may introduce additional complexity.",
        ),
    CommandSpec::new("reply", 3, F, (0, 0, 0), client_reply)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "3.2.0",
            "Instruct the server whether to reply to commands",
            "O(1)",
        ),
];

/// Validate a client name as Redis's `validateClientName`: printable ASCII
/// without spaces.
pub fn valid_name(name: &[u8]) -> bool {
    name.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

/// Set (or clear, when empty) the client's name.
pub fn set_name(shared: &ClientShared, name: &[u8]) -> CmdResult {
    if !valid_name(name) {
        return err("ERR Client names cannot contain spaces, newlines or special characters.");
    }
    *shared.name.lock() = if name.is_empty() {
        None
    } else {
        Some(name.to_vec())
    };
    Ok(())
}

fn client_id(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(ctx.client.id as i64);
    Ok(())
}

fn client_getredir(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let (_, redirect, _) = crate::tracking::info(ctx.server, ctx.client);
    ctx.out.int(redirect);
    Ok(())
}

/// CLIENT TRACKING ON|OFF [REDIRECT id] [BCAST] [PREFIX p]... [OPTIN]
/// [OPTOUT] [NOLOOP]: options are parsed first (syntax and REDIRECT errors
/// come before ON/OFF is looked at), as Redis's `clientCommand`.
fn client_tracking(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    use crate::tracking::{tflags, TrackingOptions};
    let mut opts = TrackingOptions {
        on: false,
        redirect: 0,
        flags: 0,
        prefixes: Vec::new(),
    };
    let mut j = 3;
    while let Some(&a) = argv.get(j) {
        let more = argv.get(j + 1).copied();
        match more {
            Some(v) if eq(a, "redirect") => {
                j += 1;
                if opts.redirect != 0 {
                    return err("ERR A client can only redirect to a single other client");
                }
                let id = int(v)?;
                if id <= 0 || ctx.server.clients.get(id as u64).is_none() {
                    return err("ERR The client ID you want redirect to does not exist");
                }
                opts.redirect = id as u64;
            }
            Some(v) if eq(a, "prefix") => {
                j += 1;
                opts.prefixes.push(v.to_vec());
            }
            _ if eq(a, "bcast") => opts.flags |= tflags::BCAST,
            _ if eq(a, "optin") => opts.flags |= tflags::OPTIN,
            _ if eq(a, "optout") => opts.flags |= tflags::OPTOUT,
            _ if eq(a, "noloop") => opts.flags |= tflags::NOLOOP,
            _ => return err(SYNTAX),
        }
        j += 1;
    }
    if eq(argv[2], "on") {
        opts.on = true;
    } else if !eq(argv[2], "off") {
        return err(SYNTAX);
    }
    crate::tracking::set_tracking(ctx.server, ctx.client, opts).or_else(errf)?;
    ctx.out.ok();
    Ok(())
}

fn client_unblock(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 4 {
        return Err(super::server::subcommand_syntax_error(argv));
    }
    if let Some(r) = argv.get(3) {
        if !eq(r, "timeout") && !eq(r, "error") {
            return err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
        }
    }
    let error = argv.get(3).is_some_and(|r| eq(r, "error"));
    let id = int(argv[2])?;
    let done = u64::try_from(id).is_ok_and(|id| crate::blocking::unblock(ctx.server, id, error));
    ctx.out.int(i64::from(done));
    Ok(())
}

/// CLIENT PAUSE timeout [WRITE|ALL]: the mode is checked before the
/// timeout (milliseconds), as Redis's `clientCommand`; a stricter mode or a
/// later end than the pause in effect wins.
fn client_pause(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 4 {
        return Err(super::server::subcommand_syntax_error(argv));
    }
    let mode = match argv.get(3) {
        None => crate::blocking::PAUSE_ALL,
        Some(m) if eq(m, "all") => crate::blocking::PAUSE_ALL,
        Some(m) if eq(m, "write") => crate::blocking::PAUSE_WRITE,
        Some(_) => return err("ERR CLIENT PAUSE mode must be WRITE or ALL"),
    };
    let ms = crate::blocking::parse_timeout_ms(argv[2])?;
    let until = if ms > 0 {
        ferrocache_engine::clock::now_ms().saturating_add(ms)
    } else {
        0
    };
    ctx.server.blocking.pause(mode, until);
    ctx.out.ok();
    Ok(())
}

fn client_unpause(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.server.blocking.unpause();
    ctx.out.ok();
    Ok(())
}

fn client_trackinginfo(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    use crate::tracking::tflags;
    let (f, redirect, prefixes) = crate::tracking::info(ctx.server, ctx.client);
    // Redis's flag names, in its order.
    let mut names: Vec<&str> = Vec::new();
    if f & tflags::ON == 0 {
        names.push("off");
    } else {
        names.push("on");
        if f & tflags::BCAST != 0 {
            names.push("bcast");
        }
        if f & tflags::OPTIN != 0 {
            names.push("optin");
            if f & tflags::CACHING != 0 {
                names.push("caching-yes");
            }
        }
        if f & tflags::OPTOUT != 0 {
            names.push("optout");
            if f & tflags::CACHING != 0 {
                names.push("caching-no");
            }
        }
        if f & tflags::NOLOOP != 0 {
            names.push("noloop");
        }
        if f & tflags::BROKEN_REDIR != 0 {
            names.push("broken_redirect");
        }
    }
    ctx.out.map(3);
    ctx.out.bulk(b"flags");
    ctx.out.set(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    ctx.out.bulk(b"redirect");
    ctx.out.int(redirect);
    ctx.out.bulk(b"prefixes");
    ctx.out.array(prefixes.len());
    for p in &prefixes {
        ctx.out.bulk(p);
    }
    Ok(())
}

/// CLIENT CACHING YES|NO: Redis checks tracking mode before the argument.
fn client_caching(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let yes = if eq(argv[2], "yes") {
        Some(true)
    } else if eq(argv[2], "no") {
        Some(false)
    } else {
        None
    };
    crate::tracking::set_caching(ctx.server, ctx.client, yes).or_else(err)?;
    ctx.out.ok();
    Ok(())
}

/// Bytes of the running command's arguments (CLIENT LIST `argv-mem`).
fn argv_mem(argv: &[&[u8]]) -> usize {
    argv.iter().map(|a| a.len()).sum()
}

fn client_info(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let mut line = ctx
        .client
        .shared
        .info_line(Some(("client|info", argv_mem(argv))));
    line.push('\n');
    ctx.out.verbatim("txt", line.as_bytes());
    Ok(())
}

fn client_getname(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let name = ctx.client.shared.name.lock().clone();
    match name {
        Some(n) => ctx.out.bulk(&n),
        None => ctx.out.null(),
    }
    Ok(())
}

fn client_setname(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    set_name(&ctx.client.shared, argv[2])?;
    ctx.out.ok();
    Ok(())
}

fn client_no_evict(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let on = if eq(argv[2], "on") {
        true
    } else if eq(argv[2], "off") {
        false
    } else {
        return err(SYNTAX);
    };
    ctx.client.shared.no_evict.store(on, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn client_reply(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    // OFF and SKIP send no reply of their own (dispatch drops what is
    // written while the mode is OFF; SKIP starts with the next command).
    if eq(argv[2], "on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out.ok();
    } else if eq(argv[2], "off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if eq(argv[2], "skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::Skip;
        }
    } else {
        return err(SYNTAX);
    }
    Ok(())
}

/// Client types for TYPE filters. Every connection is `normal` here (no
/// replication, pub/sub clients are counted as normal until pub/sub exists).
#[derive(Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Master,
    Replica,
    Pubsub,
}

fn parse_type(arg: &[u8]) -> Result<ClientType, crate::error::CmdError> {
    if eq(arg, "normal") {
        Ok(ClientType::Normal)
    } else if eq(arg, "master") {
        Ok(ClientType::Master)
    } else if eq(arg, "replica") || eq(arg, "slave") {
        Ok(ClientType::Replica)
    } else if eq(arg, "pubsub") {
        Ok(ClientType::Pubsub)
    } else {
        errf(format!(
            "ERR Unknown client type '{}'",
            String::from_utf8_lossy(arg)
        ))
    }
}

fn client_type(c: &ClientShared) -> ClientType {
    if c.is_monitor() {
        // Redis counts MONITOR clients as replicas (CLIENT_SLAVE).
        ClientType::Replica
    } else if c.is_pubsub() {
        ClientType::Pubsub
    } else {
        ClientType::Normal
    }
}

fn client_list(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let mut type_filter: Option<ClientType> = None;
    let mut ids: Option<Vec<i64>> = None;
    if argv.len() == 4 && eq(argv[2], "type") {
        type_filter = Some(parse_type(argv[3])?);
    } else if argv.len() > 3 && eq(argv[2], "id") {
        let mut v = Vec::with_capacity(argv.len() - 3);
        for a in &argv[3..] {
            v.push(crate::args::int_or(a, "ERR Invalid client ID")?);
        }
        ids = Some(v);
    } else if argv.len() != 2 {
        return err(SYNTAX);
    }
    let me = ctx.client.id;
    let mem = argv_mem(argv);
    let mut s = String::new();
    let render = |s: &mut String, c: &Arc<ClientShared>| {
        let cur = (c.id == me).then_some(("client|list", mem));
        s.push_str(&c.info_line(cur));
        s.push('\n');
    };
    match ids {
        Some(ids) => {
            for id in ids {
                if id <= 0 {
                    continue;
                }
                if let Some(c) = ctx.server.clients.get(id as u64) {
                    render(&mut s, &c);
                }
            }
        }
        None => {
            for c in ctx.server.clients.all() {
                if type_filter.is_some_and(|t| t != client_type(&c)) {
                    continue;
                }
                render(&mut s, &c);
            }
        }
    }
    ctx.out.verbatim("txt", s.as_bytes());
    Ok(())
}

/// CLIENT KILL ip:port (old form: +OK or "No such client"), or
/// CLIENT KILL <filter> <value> ... (new form: number of clients killed).
fn client_kill(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let me = ctx.client.id;
    if argv.len() == 3 {
        let addr = argv[2];
        let target = ctx
            .server
            .clients
            .all()
            .into_iter()
            .find(|c| c.addr.as_bytes() == addr);
        let Some(c) = target else {
            return err("ERR No such client");
        };
        kill_one(ctx, &c, me);
        ctx.out.ok();
        return Ok(());
    }
    let mut id: Option<u64> = None;
    let mut ty: Option<ClientType> = None;
    let mut addr: Option<&[u8]> = None;
    let mut laddr: Option<&[u8]> = None;
    let mut user: Option<&[u8]> = None;
    let mut skipme = true;
    let mut i = 2;
    while i < argv.len() {
        let Some(&val) = argv.get(i + 1) else {
            return err(SYNTAX);
        };
        let opt = argv[i];
        if eq(opt, "id") {
            let n = crate::args::int_or(val, "ERR client-id should be greater than 0")?;
            if n <= 0 {
                return err("ERR client-id should be greater than 0");
            }
            id = Some(n as u64);
        } else if eq(opt, "type") {
            ty = Some(parse_type(val)?);
        } else if eq(opt, "addr") {
            addr = Some(val);
        } else if eq(opt, "laddr") {
            laddr = Some(val);
        } else if eq(opt, "user") {
            if val != b"default" {
                return errf(format!(
                    "ERR No such user '{}'",
                    String::from_utf8_lossy(val)
                ));
            }
            user = Some(val);
        } else if eq(opt, "skipme") {
            if eq(val, "yes") {
                skipme = true;
            } else if eq(val, "no") {
                skipme = false;
            } else {
                return err(SYNTAX);
            }
        } else {
            return err(SYNTAX);
        }
        i += 2;
    }
    let mut killed = 0;
    for c in ctx.server.clients.all() {
        if id.is_some_and(|id| c.id != id)
            || ty.is_some_and(|t| t != client_type(&c))
            || addr.is_some_and(|a| c.addr.as_bytes() != a)
            || laddr.is_some_and(|a| c.laddr.as_bytes() != a)
            || user.is_some_and(|u| c.user.lock().as_bytes() != u)
            || (skipme && c.id == me)
        {
            continue;
        }
        kill_one(ctx, &c, me);
        killed += 1;
    }
    ctx.out.int(killed);
    Ok(())
}

/// Kill a client; killing oneself closes after this reply, as Redis does.
fn kill_one(ctx: &mut Ctx<'_, '_>, c: &Arc<ClientShared>, me: u64) {
    if c.id == me {
        ctx.client.close_after_reply = true;
    } else {
        c.kill();
    }
}

fn client_help(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    super::server::reply_help(
        ctx,
        "CLIENT",
        &[
            "CACHING (YES|NO)",
            "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
            "GETREDIR",
            "    Return the client ID we are redirecting to when tracking is enabled.",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "UNPAUSE",
            "    Stop the current client pause, resuming traffic.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Suspend all, or just write, clients for <timeout> milliseconds.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
            "UNBLOCK <clientid> [TIMEOUT|ERROR]",
            "    Unblock the specified blocked client.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
            "         [OPTIN] [OPTOUT] [NOLOOP]",
            "    Control server assisted client side caching.",
            "TRACKINGINFO",
            "    Report tracking status for the current connection.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name(b"abc-1"));
        assert!(valid_name(b""));
        assert!(!valid_name(b"a b"));
        assert!(!valid_name(b"a\n"));
        assert!(!valid_name(b"\xff"));
    }
}
