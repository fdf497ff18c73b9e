//! Connection commands: PING, ECHO, SELECT, QUIT, HELLO, AUTH, RESET
//! (CLIENT is in `cmd/client.rs`).

use crate::args::eq;
use crate::client::ReplyMode;
use crate::ctx::Ctx;
use crate::error::{err, errf, CmdResult, SYNTAX};
use crate::spec::{acl, flags::*, CommandSpec};
use ferrocache_protocol::RespVersion;
use std::sync::atomic::Ordering;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, FAST | SENTINEL, (0, 0, 0), ping)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "1.0.0",
            "Returns the server's liveliness response.",
            "O(1)",
        ),
    CommandSpec::new("echo", 2, LOADING | STALE | FAST, (0, 0, 0), echo)
        .acl(acl::CONNECTION)
        .doc("connection", "1.0.0", "Returns the given string.", "O(1)"),
    CommandSpec::new("select", 2, LOADING | STALE | FAST, (0, 0, 0), select)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "1.0.0",
            "Changes the selected database.",
            "O(1)",
        ),
    CommandSpec::new(
        "quit",
        -1,
        ALLOW_BUSY | NOSCRIPT | LOADING | STALE | FAST | NO_AUTH,
        (0, 0, 0),
        quit,
    )
    .acl(acl::CONNECTION)
    .doc("connection", "1.0.0", "Closes the connection.", "O(1)"),
    CommandSpec::new("hello", -1, CONN_FLAGS, (0, 0, 0), hello)
        .acl(acl::CONNECTION)
        .doc("connection", "6.0.0", "Handshake with Redis", "O(1)"),
    CommandSpec::new("auth", -2, CONN_FLAGS, (0, 0, 0), auth)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "1.0.0",
            "Authenticate to the server",
            "O(N) where N is the number of passwords defined for the user",
        ),
    CommandSpec::new("reset", 1, CONN_FLAGS, (0, 0, 0), reset)
        .acl(acl::CONNECTION)
        .doc("connection", "6.2.0", "Reset the connection", "O(1)"),
];

/// Flags shared by HELLO, AUTH and RESET (usable before authenticating, and
/// while the server is loading or busy).
const CONN_FLAGS: u32 = NOSCRIPT | LOADING | STALE | FAST | NO_AUTH | ALLOW_BUSY | SENTINEL;

fn ping(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() <= 2 && !ctx.out.is_resp3() && ctx.client.shared.is_pubsub() {
        // RESP2 subscribed mode: replies must look like pushes, so Redis
        // answers `["pong", arg or ""]`.
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(argv.get(1).copied().unwrap_or_default());
        return Ok(());
    }
    match argv.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(argv[1]),
        _ => return err("ERR wrong number of arguments for 'ping' command"),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    ctx.out.bulk(argv[1]);
    Ok(())
}

fn select(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let n = crate::args::int_or(argv[1], "ERR value is not an integer or out of range")?;
    if n < 0 || n as usize >= ctx.server.keyspace.databases() {
        return err("ERR DB index is out of range");
    }
    ctx.client.db = n as usize;
    ctx.client
        .shared
        .db
        .store(n as usize, std::sync::atomic::Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn quit(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
    Ok(())
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Check credentials against the only user this node has, `default`, whose
/// password is `requirepass` (no password = any password is accepted, as
/// Redis's `nopass` default user).
fn check_credentials(ctx: &Ctx<'_, '_>, user: &[u8], pass: &[u8]) -> bool {
    if user != b"default" {
        return false;
    }
    match ctx.server.config.requirepass() {
        None => true,
        Some(p) => p.as_bytes() == pass,
    }
}

/// AUTH [username] password.
fn auth(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 {
        return err(SYNTAX);
    }
    let (user, pass): (&[u8], &[u8]) = if argv.len() == 2 {
        if ctx.server.config.requirepass().is_none() {
            return err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        }
        (b"default", argv[1])
    } else {
        (argv[1], argv[2])
    };
    if check_credentials(ctx, user, pass) {
        ctx.client.authenticated = true;
        ctx.out.ok();
        Ok(())
    } else {
        err(WRONGPASS)
    }
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]].
fn hello(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let mut ver = 0i64;
    let mut i = 1;
    if let Some(v) = argv.get(1) {
        ver = crate::args::int_or(v, "ERR Protocol version is not an integer or out of range")?;
        if !(2..=3).contains(&ver) {
            return err("NOPROTO unsupported protocol version");
        }
        i = 2;
    }
    let mut creds: Option<(&[u8], &[u8])> = None;
    let mut name: Option<&[u8]> = None;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        let opt = argv[i];
        if eq(opt, "auth") && more >= 2 {
            creds = Some((argv[i + 1], argv[i + 2]));
            i += 3;
        } else if eq(opt, "setname") && more >= 1 {
            name = Some(argv[i + 1]);
            i += 2;
        } else {
            return errf(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            ));
        }
    }
    if let Some((u, p)) = creds {
        if !check_credentials(ctx, u, p) {
            return err(WRONGPASS);
        }
        ctx.client.authenticated = true;
    }
    if !ctx.client.authenticated {
        return err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(n) = name {
        super::client::set_name(&ctx.client.shared, n)?;
    }
    match ver {
        2 => ctx.out.set_version(RespVersion::Resp2),
        3 => ctx.out.set_version(RespVersion::Resp3),
        _ => {}
    }
    let proto: i64 = if ctx.out.is_resp3() { 3 } else { 2 };
    ctx.client
        .shared
        .resp
        .store(proto as usize, Ordering::Relaxed);
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(b"7.0.15");
    out.bulk(b"proto");
    out.int(proto);
    out.bulk(b"id");
    out.int(ctx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

/// RESET: back to a fresh connection's state (RESP2, db 0, no name, replies
/// on, not monitoring, authenticated only if no password is required).
fn reset(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let shared = ctx.client.shared.clone();
    if shared.monitor.swap(false, Ordering::Relaxed) {
        super::server::remove_monitor(ctx.server, shared.id);
    }
    ctx.client.db = 0;
    shared.db.store(0, Ordering::Relaxed);
    ctx.out.set_version(RespVersion::Resp2);
    shared.resp.store(2, Ordering::Relaxed);
    *shared.name.lock() = None;
    shared.no_evict.store(false, Ordering::Relaxed);
    ctx.client.reply_mode = ReplyMode::On;
    ctx.client.authenticated = ctx.server.config.requirepass().is_none();
    super::transaction::reset(ctx.server, ctx.client);
    super::pubsub::unsubscribe_all(ctx.server, ctx.client);
    ctx.out.simple("RESET");
    Ok(())
}
