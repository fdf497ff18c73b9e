//! The command specification type. Every command is one `CommandSpec` value
//! in its module's `COMMANDS` table: COMMAND, COMMAND DOCS, key extraction,
//! ACL categories and dispatch are all generated from it.

use crate::ctx::Ctx;
use crate::error::CmdResult;

/// A command handler. `argv[0]` is the command name (for subcommands,
/// `argv[1]` is the subcommand name).
pub type Handler = fn(&mut Ctx<'_, '_>, &[&[u8]]) -> CmdResult;

/// For commands whose keys cannot be described by first/last/step (those with
/// a `numkeys` argument, or keys after a keyword): returns the key indexes.
pub type KeysFn = fn(&[&[u8]]) -> Vec<usize>;

/// Command flags (Redis `CMD_*`). Names as COMMAND INFO reports them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MANDATORY_KEYS: u32 = 1 << 14;
    pub const NO_MULTI: u32 = 1 << 15;
    pub const ALLOW_BUSY: u32 = 1 << 16;
    pub const SENTINEL: u32 = 1 << 17;
    pub const ONLY_SENTINEL: u32 = 1 << 18;
    pub const NO_ASYNC_LOADING: u32 = 1 << 19;
    /// Not a Redis flag: the command sees the whole keyspace (KEYS, SCAN,
    /// FLUSHALL, SWAPDB, DBSIZE, RANDOMKEY, SORT with BY/GET…), so dispatch
    /// locks every shard.
    pub const GLOBAL: u32 = 1 << 30;

    /// (flag, name) pairs in the order Redis prints them.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MANDATORY_KEYS, "no_mandatory_keys"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

/// ACL categories (Redis `ACL_CATEGORY_*`).
pub mod acl {
    pub const KEYSPACE: u32 = 1 << 0;
    pub const READ: u32 = 1 << 1;
    pub const WRITE: u32 = 1 << 2;
    pub const SET: u32 = 1 << 3;
    pub const SORTEDSET: u32 = 1 << 4;
    pub const LIST: u32 = 1 << 5;
    pub const HASH: u32 = 1 << 6;
    pub const STRING: u32 = 1 << 7;
    pub const BITMAP: u32 = 1 << 8;
    pub const HYPERLOGLOG: u32 = 1 << 9;
    pub const GEO: u32 = 1 << 10;
    pub const STREAM: u32 = 1 << 11;
    pub const PUBSUB: u32 = 1 << 12;
    pub const ADMIN: u32 = 1 << 13;
    pub const FAST: u32 = 1 << 14;
    pub const SLOW: u32 = 1 << 15;
    pub const BLOCKING: u32 = 1 << 16;
    pub const DANGEROUS: u32 = 1 << 17;
    pub const CONNECTION: u32 = 1 << 18;
    pub const TRANSACTION: u32 = 1 << 19;
    pub const SCRIPTING: u32 = 1 << 20;

    pub const NAMES: &[(u32, &str)] = &[
        (KEYSPACE, "keyspace"),
        (READ, "read"),
        (WRITE, "write"),
        (SET, "set"),
        (SORTEDSET, "sortedset"),
        (LIST, "list"),
        (HASH, "hash"),
        (STRING, "string"),
        (BITMAP, "bitmap"),
        (HYPERLOGLOG, "hyperloglog"),
        (GEO, "geo"),
        (STREAM, "stream"),
        (PUBSUB, "pubsub"),
        (ADMIN, "admin"),
        (FAST, "fast"),
        (SLOW, "slow"),
        (BLOCKING, "blocking"),
        (DANGEROUS, "dangerous"),
        (CONNECTION, "connection"),
        (TRANSACTION, "transaction"),
        (SCRIPTING, "scripting"),
    ];
}

/// One command (or subcommand).
#[derive(Clone, Copy)]
pub struct CommandSpec {
    /// Lower-case name (for subcommands, just the subcommand: `get` of `config`).
    pub name: &'static str,
    /// Redis arity: positive = exact argc, negative = at least -arity.
    pub arity: i32,
    pub flags: u32,
    /// Explicit ACL categories; `@read`, `@write`, `@fast`, `@slow`,
    /// `@admin`, `@dangerous` are also derived from flags as Redis does.
    pub acl: u32,
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    /// Key finder for commands with movable keys.
    pub keys_fn: Option<KeysFn>,
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
    /// COMMAND DOCS fields.
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub complexity: &'static str,
}

impl std::fmt::Debug for CommandSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CommandSpec({})", self.name)
    }
}

fn no_handler(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    crate::dispatch::reply_unknown_subcommand(ctx, argv);
    Ok(())
}

impl CommandSpec {
    /// A command with keys at `first..=last` step `step` (0,0,0 for none).
    pub const fn new(
        name: &'static str,
        arity: i32,
        flags: u32,
        keys: (i32, i32, i32),
        handler: Handler,
    ) -> Self {
        CommandSpec {
            name,
            arity,
            flags,
            acl: 0,
            first_key: keys.0,
            last_key: keys.1,
            step: keys.2,
            keys_fn: None,
            handler,
            subcommands: &[],
            group: "generic",
            summary: "",
            since: "1.0.0",
            complexity: "",
        }
    }

    /// A container command (CONFIG, CLIENT…) dispatching on `argv[1]`.
    pub const fn container(name: &'static str, arity: i32, subs: &'static [CommandSpec]) -> Self {
        let mut s = Self::new(name, arity, 0, (0, 0, 0), no_handler);
        s.subcommands = subs;
        s
    }

    pub const fn acl(mut self, acl: u32) -> Self {
        self.acl = acl;
        self
    }

    pub const fn keys_fn(mut self, f: KeysFn) -> Self {
        self.keys_fn = Some(f);
        self
    }

    pub const fn doc(
        mut self,
        group: &'static str,
        since: &'static str,
        summary: &'static str,
        complexity: &'static str,
    ) -> Self {
        self.group = group;
        self.since = since;
        self.summary = summary;
        self.complexity = complexity;
        self
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Does `argc` satisfy the arity?
    pub fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let a = i64::from(self.arity);
        if a >= 0 {
            argc == a
        } else {
            argc >= -a
        }
    }

    /// Indexes of the key arguments in `argv`.
    pub fn key_indexes(&self, argv: &[&[u8]]) -> Vec<usize> {
        if let Some(f) = self.keys_fn {
            return f(argv).into_iter().filter(|&i| i < argv.len()).collect();
        }
        if self.first_key <= 0 {
            return Vec::new();
        }
        let argc = argv.len() as i32;
        let last = if self.last_key < 0 {
            argc + self.last_key
        } else {
            self.last_key
        };
        let step = self.step.max(1);
        let mut out = Vec::new();
        let mut i = self.first_key;
        while i <= last && i < argc {
            out.push(i as usize);
            i += step;
        }
        out
    }

    /// The ACL categories including those implied by flags (Redis
    /// `setImplicitACLCategories`).
    pub fn acl_categories(&self) -> u32 {
        let mut c = self.acl;
        if self.has(flags::WRITE) {
            c |= acl::WRITE;
        }
        if self.has(flags::READONLY) && c & acl::SCRIPTING == 0 {
            c |= acl::READ;
        }
        if self.has(flags::ADMIN) {
            c |= acl::ADMIN | acl::DANGEROUS;
        }
        if self.has(flags::PUBSUB) {
            c |= acl::PUBSUB;
        }
        if self.has(flags::FAST) {
            c |= acl::FAST;
        }
        if self.has(flags::BLOCKING) {
            c |= acl::BLOCKING;
        }
        if c & acl::FAST == 0 {
            c |= acl::SLOW;
        }
        c
    }
}

/// Keys-finder helper: keys are `argv[numkeys_at+1 ..= numkeys_at+numkeys]`
/// (SINTERCARD, ZUNION, LMPOP, EVAL…). Invalid numkeys yields no keys; the
/// handler reports the error.
pub fn numkeys_at(argv: &[&[u8]], numkeys_at: usize) -> Vec<usize> {
    let n = argv
        .get(numkeys_at)
        .and_then(|a| ferrocache_engine::types::string::parse_i64(a))
        .unwrap_or(0);
    if n <= 0 {
        return Vec::new();
    }
    let start = numkeys_at + 1;
    let end = (start as i64).saturating_add(n).min(argv.len() as i64) as usize;
    (start..end).collect()
}
