//! Connection commands: PING, ECHO, SELECT, QUIT (HELLO, AUTH, CLIENT, RESET
//! join them here).

use crate::ctx::Ctx;
use crate::error::{err, CmdResult};
use crate::spec::{acl, flags::*, CommandSpec};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("ping", -1, FAST | SENTINEL, (0, 0, 0), ping)
        .acl(acl::CONNECTION)
        .doc(
            "connection",
            "1.0.0",
            "Returns the server's liveliness response.",
            "O(1)",
        ),
    CommandSpec::new("echo", 2, FAST, (0, 0, 0), echo)
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
];

fn ping(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(argv[1]),
        _ => return err("ERR wrong number of arguments for 'ping' command"),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
    ctx.out.bulk(argv[1]);
    Ok(())
}

fn select(ctx: &mut Ctx<'_>, argv: &[&[u8]]) -> CmdResult {
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

fn quit(ctx: &mut Ctx<'_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.ok();
    ctx.client.close_after_reply = true;
    Ok(())
}
