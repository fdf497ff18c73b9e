//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP. The parameters, their
//! syntax and effects live in [`crate::config`]; these handlers only adapt
//! arguments and replies.

use crate::ctx::Ctx;
use crate::error::{err, errf, CmdResult, SYNTAX};
use crate::spec::{flags::*, CommandSpec};

/// Flags of every CONFIG subcommand but HELP (ACL categories `@admin @slow
/// @dangerous` derive from them, as in Redis).
const CF: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

pub static COMMANDS: &[CommandSpec] = &[CommandSpec::container("config", -2, CONFIG_SUBS).doc(
    "server",
    "2.0.0",
    "A container for server configuration commands",
    "Depends on subcommand.",
)];

/// In the order redis-server 7.0 lists them in COMMAND INFO.
static CONFIG_SUBS: &[CommandSpec] = &[
    CommandSpec::new("get", -3, CF, (0, 0, 0), config_get).doc(
        "server",
        "2.0.0",
        "Get the values of configuration parameters",
        "O(N) when N is the number of configuration parameters provided",
    ),
    CommandSpec::new("rewrite", 2, CF, (0, 0, 0), config_rewrite).doc(
        "server",
        "2.8.0",
        "Rewrite the configuration file with the in memory configuration",
        "O(1)",
    ),
    CommandSpec::new("set", -4, CF, (0, 0, 0), config_set).doc(
        "server",
        "2.0.0",
        "Set configuration parameters to the given values",
        "O(N) when N is the number of configuration parameters provided",
    ),
    CommandSpec::new("help", 2, LOADING | STALE, (0, 0, 0), config_help).doc(
        "server",
        "5.0.0",
        "Show helpful text about the different subcommands",
        "O(1)",
    ),
    CommandSpec::new("resetstat", 2, CF, (0, 0, 0), config_resetstat).doc(
        "server",
        "2.0.0",
        "Reset the stats returned by INFO",
        "O(1)",
    ),
];

/// `CONFIG GET pattern [pattern ...]`: a map of matching names to values.
fn config_get(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let pairs = ctx.server.config.get_matching(&argv[2..]);
    ctx.out.map(pairs.len());
    for (name, value) in &pairs {
        ctx.out.bulk(name);
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

/// `CONFIG SET name value [name value ...]`, all or nothing.
fn config_set(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() & 1 == 1 {
        return err(SYNTAX);
    }
    let pairs: Vec<(&[u8], &[u8])> = argv[2..].chunks(2).map(|c| (c[0], c[1])).collect();
    let local = is_local(&ctx.client.shared.addr);
    ctx.server.config.set_pairs(&pairs, local).or_else(errf)?;
    ctx.server
        .config
        .apply_tunables(&ctx.server.keyspace.tunables);
    // notify-keyspace-events / tracking-table-max-keys may have changed.
    crate::notify::refresh(ctx.server);
    ctx.out.ok();
    Ok(())
}

/// Is the peer on a loopback address (`enable-protected-configs local`)?
/// Unix-socket peers have no address and count as local, as in Redis.
fn is_local(addr: &str) -> bool {
    if addr.is_empty() {
        return true;
    }
    match addr.parse::<std::net::SocketAddr>() {
        Ok(a) => match a.ip() {
            std::net::IpAddr::V4(ip) => ip.is_loopback(),
            std::net::IpAddr::V6(ip) => {
                ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            }
        },
        Err(_) => false,
    }
}

/// `CONFIG RESETSTAT`: the INFO counters, command and error stats.
fn config_resetstat(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    // The command holds no shard lock (it has no keys), so the full reset
    // may lock every shard itself.
    crate::cmd::server::reset_stats(ctx.server);
    ctx.out.ok();
    Ok(())
}

/// `CONFIG REWRITE`.
fn config_rewrite(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.server.config.rewrite().or_else(errf)?;
    ctx.out.ok();
    Ok(())
}

fn config_help(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    crate::cmd::server::reply_help(
        ctx,
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_addresses() {
        assert!(is_local("127.0.0.1:5000"));
        assert!(is_local("[::1]:5000"));
        assert!(is_local(""));
        assert!(!is_local("10.0.0.1:5000"));
    }
}
