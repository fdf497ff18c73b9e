//! COMMAND and its subcommands: the command table described to clients.
//!
//! Everything is generated from the `CommandSpec` table (name, arity,
//! flags, legacy key range, ACL categories, docs). What a `CommandSpec`
//! cannot express — Redis 7.0's key-spec flags and search rules, command
//! tips, and which commands have movable keys — comes from
//! [`super::command_meta`], generated once from redis-server 7.0.15's own
//! `COMMAND` reply, so `COMMAND INFO` is byte-identical for every command
//! whose table entry is right. Commands Redis does not know fall back to a
//! key spec derived from first/last/step (Redis's legacy range spec).
//!
//! To regenerate `command_meta.rs`: run a redis-server 7.0, `HELLO 3`, then
//! `COMMAND`, and for every command and subcommand emit its tips, key specs
//! (notes, flags, begin_search, find_keys) and whether its flags contain
//! `movablekeys`, sorted by full name (`parent|sub`).

use super::command_meta::META;
use crate::args::eq;
use crate::ctx::Ctx;
use crate::error::{err, CmdResult, SYNTAX};
use crate::spec::{acl, flags, flags::*, CommandSpec};
use crate::table::{subcommand, table};
use ferrocache_protocol::ReplyWriter;

/// Redis 7.0 key-spec begin_search.
#[derive(Debug, Clone, Copy)]
pub enum BeginSearch {
    Index(i32),
    /// (keyword, startfrom)
    Keyword(&'static str, i32),
    Unknown,
}

/// Redis 7.0 key-spec find_keys.
#[derive(Debug, Clone, Copy)]
pub enum FindKeys {
    /// (lastkey, keystep, limit)
    Range(i32, i32, i32),
    /// (keynumidx, firstkey, keystep)
    Keynum(i32, i32, i32),
    Unknown,
}

/// One key specification.
#[derive(Debug, Clone, Copy)]
pub struct KeySpecMeta {
    pub notes: &'static str,
    pub flags: &'static [&'static str],
    pub begin: BeginSearch,
    pub find: FindKeys,
}

/// What Redis 7.0 reports about a command beyond its `CommandSpec`.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    pub movable: bool,
    pub tips: &'static [&'static str],
    pub key_specs: &'static [KeySpecMeta],
}

/// Redis metadata for a full command name (`get`, `client|list`).
pub fn meta(full: &str) -> Option<&'static Meta> {
    META.binary_search_by(|(n, _)| (*n).cmp(full))
        .ok()
        .and_then(|i| META.get(i))
        .map(|(_, m)| m)
}

/// COMMAND's own handler runs for a bare `COMMAND` (all commands' info).
const fn command_container() -> CommandSpec {
    let c = CommandSpec::container("command", -1, COMMAND_SUBS);
    CommandSpec {
        flags: LOADING | STALE,
        handler: command_all,
        ..c
    }
    .acl(acl::CONNECTION)
}

pub static COMMANDS: &[CommandSpec] = &[command_container().doc(
    "server",
    "2.8.13",
    "Get array of Redis command details",
    "O(N) where N is the total number of Redis commands",
)];

const CF: u32 = LOADING | STALE;

static COMMAND_SUBS: &[CommandSpec] = &[
    CommandSpec::new("help", 2, CF, (0, 0, 0), command_help)
        .acl(acl::CONNECTION)
        .doc(
            "server",
            "5.0.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
    CommandSpec::new("docs", -2, CF, (0, 0, 0), command_docs)
        .acl(acl::CONNECTION)
        .doc(
            "server",
            "7.0.0",
            "Get array of specific Redis command documentation",
            "O(N) where N is the number of commands to look up",
        ),
    CommandSpec::new("list", -2, CF, (0, 0, 0), command_list)
        .acl(acl::CONNECTION)
        .doc(
            "server",
            "7.0.0",
            "Get an array of Redis command names",
            "O(N) where N is the total number of Redis commands",
        ),
    CommandSpec::new("count", 2, CF, (0, 0, 0), command_count)
        .acl(acl::CONNECTION)
        .doc(
            "server",
            "2.8.13",
            "Get total number of Redis commands",
            "O(1)",
        ),
    CommandSpec::new("getkeys", -4, CF, (0, 0, 0), command_getkeys)
        .acl(acl::CONNECTION)
        .doc(
            "server",
            "2.8.13",
            "Extract keys given a full Redis command",
            "O(N) where N is the number of arguments to the command",
        ),
    CommandSpec::new(
        "getkeysandflags",
        -4,
        CF,
        (0, 0, 0),
        command_getkeysandflags,
    )
    .acl(acl::CONNECTION)
    .doc(
        "server",
        "7.0.0",
        "Extract keys and access flags given a full Redis command",
        "O(N) where N is the number of arguments to the command",
    ),
    CommandSpec::new("info", -2, CF, (0, 0, 0), command_info)
        .acl(acl::CONNECTION)
        .doc(
            "server",
            "2.8.13",
            "Get array of specific Redis command details, or all when no argument is given.",
            "O(N) where N is the number of commands to look up",
        ),
];

/// Flags in the order Redis 7.0's `addReplyFlagsForCommand` prints them
/// (`may_replicate`, `sentinel` and `only_sentinel` are hidden there), then
/// `movablekeys` and `allow_busy`, which `reply_info` appends.
const FLAG_ORDER: &[(u32, &str)] = &[
    (flags::WRITE, "write"),
    (flags::READONLY, "readonly"),
    (flags::DENYOOM, "denyoom"),
    (flags::ADMIN, "admin"),
    (flags::PUBSUB, "pubsub"),
    (flags::NOSCRIPT, "noscript"),
    (flags::BLOCKING, "blocking"),
    (flags::LOADING, "loading"),
    (flags::STALE, "stale"),
    (flags::SKIP_MONITOR, "skip_monitor"),
    (flags::SKIP_SLOWLOG, "skip_slowlog"),
    (flags::FAST, "fast"),
    (flags::NO_AUTH, "no_auth"),
    (flags::NO_MANDATORY_KEYS, "no_mandatory_keys"),
    (flags::NO_ASYNC_LOADING, "no_async_loading"),
    (flags::NO_MULTI, "no_multi"),
];

/// A command resolved by full name.
struct Found {
    full: String,
    spec: &'static CommandSpec,
}

/// Look a command up by `name` or `parent|sub` (case-insensitive).
fn lookup_full(name: &[u8]) -> Option<Found> {
    if let Some(p) = name.iter().position(|&b| b == b'|') {
        let (_, parent) = table().get(&name[..p])?;
        let sub = subcommand(parent, &name[p + 1..])?;
        Some(Found {
            full: format!("{}|{}", parent.name, sub.name),
            spec: sub,
        })
    } else {
        let (_, spec) = table().get(name)?;
        Some(Found {
            full: spec.name.to_string(),
            spec,
        })
    }
}

/// Is the command's key list movable (depends on arguments)?
fn movable(full: &str, spec: &CommandSpec) -> bool {
    spec.keys_fn.is_some() || meta(full).is_some_and(|m| m.movable)
}

/// Key-spec flags derived from command flags, for commands Redis does not
/// know (the legacy range spec's flags are not defined by Redis).
fn derived_key_flags(spec: &CommandSpec) -> &'static [&'static str] {
    if spec.has(WRITE) {
        &["RW", "update"]
    } else {
        &["RO", "access"]
    }
}

/// Write one key spec map.
fn reply_key_spec(out: &mut ReplyWriter, ks: &KeySpecMeta) {
    out.map(3 + usize::from(!ks.notes.is_empty()));
    if !ks.notes.is_empty() {
        out.bulk(b"notes");
        out.bulk(ks.notes.as_bytes());
    }
    out.bulk(b"flags");
    out.set(ks.flags.len());
    for f in ks.flags {
        out.simple(f);
    }
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    match ks.begin {
        BeginSearch::Index(i) => {
            out.bulk(b"index");
            out.bulk(b"spec");
            out.map(1);
            out.bulk(b"index");
            out.int(i64::from(i));
        }
        BeginSearch::Keyword(k, start) => {
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(k.as_bytes());
            out.bulk(b"startfrom");
            out.int(i64::from(start));
        }
        BeginSearch::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    match ks.find {
        FindKeys::Range(last, step, limit) => {
            out.bulk(b"range");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"lastkey");
            out.int(i64::from(last));
            out.bulk(b"keystep");
            out.int(i64::from(step));
            out.bulk(b"limit");
            out.int(i64::from(limit));
        }
        FindKeys::Keynum(idx, first, step) => {
            out.bulk(b"keynum");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"keynumidx");
            out.int(i64::from(idx));
            out.bulk(b"firstkey");
            out.int(i64::from(first));
            out.bulk(b"keystep");
            out.int(i64::from(step));
        }
        FindKeys::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
}

/// The legacy range spec of a command without Redis metadata.
fn legacy_spec(spec: &CommandSpec) -> Option<KeySpecMeta> {
    if spec.first_key <= 0 {
        return None;
    }
    let last = if spec.last_key < 0 {
        spec.last_key
    } else {
        spec.last_key - spec.first_key
    };
    Some(KeySpecMeta {
        notes: "",
        flags: derived_key_flags(spec),
        begin: BeginSearch::Index(spec.first_key),
        find: FindKeys::Range(last, spec.step.max(1), 0),
    })
}

/// One COMMAND INFO entry (Redis 7.0 `addReplyCommandInfo`).
fn reply_info(out: &mut ReplyWriter, full: &str, spec: &'static CommandSpec) {
    let m = meta(full);
    out.array(10);
    out.bulk(full.as_bytes());
    out.int(i64::from(spec.arity));
    let mv = movable(full, spec);
    let nflags = FLAG_ORDER.iter().filter(|(f, _)| spec.has(*f)).count()
        + usize::from(mv)
        + usize::from(spec.has(ALLOW_BUSY));
    out.set(nflags);
    for (f, n) in FLAG_ORDER {
        if spec.has(*f) {
            out.simple(n);
        }
    }
    if mv {
        out.simple("movablekeys");
    }
    if spec.has(ALLOW_BUSY) {
        out.simple("allow_busy");
    }
    out.int(i64::from(spec.first_key));
    out.int(i64::from(spec.last_key));
    out.int(i64::from(spec.step));
    let cats = spec.acl_categories();
    out.set(acl::NAMES.iter().filter(|(c, _)| cats & c != 0).count());
    for (c, n) in acl::NAMES {
        if cats & c != 0 {
            out.simple(&format!("@{n}"));
        }
    }
    let tips = m.map(|m| m.tips).unwrap_or(&[]);
    out.set(tips.len());
    for t in tips {
        out.bulk(t.as_bytes());
    }
    match m {
        Some(m) => {
            out.set(m.key_specs.len());
            for ks in m.key_specs {
                reply_key_spec(out, ks);
            }
        }
        None => match legacy_spec(spec) {
            Some(ks) => {
                out.set(1);
                reply_key_spec(out, &ks);
            }
            None => out.set(0),
        },
    }
    if spec.subcommands.is_empty() {
        out.set(0);
    } else {
        out.array(spec.subcommands.len());
        for s in spec.subcommands {
            let sub_full = format!("{}|{}", spec.name, s.name);
            reply_info(out, &sub_full, s);
        }
    }
}

/// One COMMAND DOCS entry's value map.
fn reply_docs(out: &mut ReplyWriter, spec: &'static CommandSpec) {
    let has_subs = !spec.subcommands.is_empty();
    out.map(4 + usize::from(has_subs));
    out.bulk(b"summary");
    out.bulk(spec.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(spec.since.as_bytes());
    out.bulk(b"group");
    out.bulk(spec.group.as_bytes());
    out.bulk(b"complexity");
    out.bulk(spec.complexity.as_bytes());
    if has_subs {
        out.bulk(b"subcommands");
        out.map(spec.subcommands.len());
        for s in spec.subcommands {
            out.bulk(format!("{}|{}", spec.name, s.name).as_bytes());
            reply_docs(out, s);
        }
    }
}

fn command_all(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 1 {
        // Reached only if dispatch hands a bare container call here.
        crate::dispatch::reply_unknown_subcommand(ctx, argv);
        return Ok(());
    }
    let t = table();
    ctx.out.array(t.len());
    for c in &t.commands {
        reply_info(ctx.out, c.name, c);
    }
    Ok(())
}

fn command_help(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    super::server::reply_help(
        ctx,
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    Ok(())
}

fn command_count(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    ctx.out.int(table().len() as i64);
    Ok(())
}

fn command_info(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() == 2 {
        return command_all(ctx, &argv[..1]);
    }
    ctx.out.array(argv.len() - 2);
    for name in &argv[2..] {
        match lookup_full(name) {
            Some(f) => reply_info(ctx.out, &f.full, f.spec),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn command_docs(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let t = table();
    if argv.len() == 2 {
        ctx.out.map(t.len());
        for c in &t.commands {
            ctx.out.bulk(c.name.as_bytes());
            reply_docs(ctx.out, c);
        }
        return Ok(());
    }
    let found: Vec<Found> = argv[2..].iter().filter_map(|n| lookup_full(n)).collect();
    ctx.out.map(found.len());
    for f in found {
        ctx.out.bulk(f.full.as_bytes());
        reply_docs(ctx.out, f.spec);
    }
    Ok(())
}

/// COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern].
fn command_list(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    enum Filter<'a> {
        None,
        Module,
        AclCat(Option<u32>),
        Pattern(&'a [u8]),
    }
    let mut filter = Filter::None;
    let mut i = 2;
    while i < argv.len() {
        let more = argv.len() - 1 - i;
        if eq(argv[i], "filterby") && more == 2 {
            let kind = argv[i + 1];
            let arg = argv[i + 2];
            filter = if eq(kind, "module") {
                Filter::Module
            } else if eq(kind, "aclcat") {
                Filter::AclCat(
                    acl::NAMES
                        .iter()
                        .find(|(_, n)| arg.eq_ignore_ascii_case(n.as_bytes()))
                        .map(|(c, _)| *c),
                )
            } else if eq(kind, "pattern") {
                Filter::Pattern(arg)
            } else {
                return err(SYNTAX);
            };
            i += 3;
        } else {
            return err(SYNTAX);
        }
    }
    let mut names: Vec<String> = Vec::new();
    for c in &table().commands {
        let mut consider = |full: String, spec: &CommandSpec| {
            let keep = match &filter {
                Filter::None => true,
                Filter::Module => false,
                Filter::AclCat(None) => false,
                Filter::AclCat(Some(cat)) => spec.acl_categories() & cat != 0,
                Filter::Pattern(p) => ferrocache_engine::glob::glob_match(p, full.as_bytes(), true),
            };
            if keep {
                names.push(full);
            }
        };
        consider(c.name.to_string(), c);
        for s in c.subcommands {
            consider(format!("{}|{}", c.name, s.name), s);
        }
    }
    ctx.out.array(names.len());
    for n in &names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

fn command_getkeys(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    getkeys(ctx, argv, false)
}

fn command_getkeysandflags(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    getkeys(ctx, argv, true)
}

/// The key-spec flags for the key at `pos` of `cmd_argv` (Redis reports
/// the flags of the key spec that found the key).
fn key_flags(full: &str, spec: &CommandSpec, cmd_argv: &[&[u8]], pos: usize) -> Vec<&'static str> {
    let Some(m) = meta(full) else {
        return derived_key_flags(spec).to_vec();
    };
    // SET's flags depend on its options (Redis's `setGetKeys`).
    if full == "set" {
        let get = cmd_argv.iter().skip(3).any(|a| eq(a, "get"));
        return if get {
            vec!["RW", "access", "update"]
        } else {
            vec!["OW", "update"]
        };
    }
    let argc = cmd_argv.len() as i64;
    let pos = pos as i64;
    let covers = |ks: &KeySpecMeta| -> bool {
        let BeginSearch::Index(b) = ks.begin else {
            return false;
        };
        let b = i64::from(b);
        match ks.find {
            FindKeys::Range(last, step, _) => {
                let end = if last < 0 {
                    argc + i64::from(last)
                } else {
                    b + i64::from(last)
                };
                pos >= b && pos <= end && (pos - b) % i64::from(step.max(1)) == 0
            }
            FindKeys::Keynum(idx, first, step) => {
                let n = cmd_argv
                    .get((b + i64::from(idx)) as usize)
                    .and_then(|a| ferrocache_engine::types::string::parse_i64(a))
                    .unwrap_or(0);
                let start = b + i64::from(first);
                pos >= start
                    && pos < start + n * i64::from(step.max(1))
                    && (pos - start) % i64::from(step.max(1)) == 0
            }
            FindKeys::Unknown => false,
        }
    };
    let ks = m
        .key_specs
        .iter()
        .find(|ks| covers(ks))
        .or_else(|| m.key_specs.first());
    match ks {
        Some(ks) => ks
            .flags
            .iter()
            .copied()
            .filter(|f| *f != "variable_flags")
            .collect(),
        None => derived_key_flags(spec).to_vec(),
    }
}

fn getkeys(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], with_flags: bool) -> CmdResult {
    let cmd_argv = &argv[2..];
    let Some((_, top)) = table().get(cmd_argv[0]) else {
        return err("ERR Invalid command specified");
    };
    let (spec, full) = if !top.subcommands.is_empty() && cmd_argv.len() >= 2 {
        match subcommand(top, cmd_argv[1]) {
            Some(s) => (s, format!("{}|{}", top.name, s.name)),
            None => return err("ERR Invalid command specified"),
        }
    } else {
        (top, top.name.to_string())
    };
    let has_keys = spec.first_key > 0
        || spec.keys_fn.is_some()
        || meta(&full).is_some_and(|m| !m.key_specs.is_empty());
    if !has_keys {
        return err("ERR The command has no key arguments");
    }
    if !spec.arity_ok(cmd_argv.len()) {
        return err("ERR Invalid number of arguments specified for command");
    }
    let keys = spec.key_indexes(cmd_argv);
    if keys.is_empty() {
        if spec.has(NO_MANDATORY_KEYS) {
            ctx.out.array(0);
            return Ok(());
        }
        return err("ERR Invalid arguments specified for command");
    }
    ctx.out.array(keys.len());
    for &k in &keys {
        let Some(key) = cmd_argv.get(k) else {
            continue;
        };
        if with_flags {
            let fl = key_flags(&full, spec, cmd_argv, k);
            ctx.out.array(2);
            ctx.out.bulk(key);
            ctx.out.set(fl.len());
            for f in fl {
                ctx.out.simple(f);
            }
        } else {
            ctx.out.bulk(key);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_sorted_and_found() {
        for w in META.windows(2) {
            assert!(w[0].0 < w[1].0, "{} !< {}", w[0].0, w[1].0);
        }
        assert!(meta("get").is_some());
        assert!(meta("client|list").is_some());
        assert!(meta("nosuch").is_none());
    }

    #[test]
    fn every_table_command_resolves() {
        for c in &table().commands {
            assert!(lookup_full(c.name.as_bytes()).is_some());
            for s in c.subcommands {
                let full = format!("{}|{}", c.name, s.name);
                let f = lookup_full(full.to_ascii_uppercase().as_bytes());
                assert_eq!(f.map(|f| f.full), Some(full));
            }
        }
    }
}
