//! Configuration: every parameter redis-server 7.0 knows, its value syntax,
//! and what changing it does. Loaded from a redis.conf-style file plus
//! `--name value` flags at start, changed by CONFIG SET at run time, written
//! back by CONFIG REWRITE.
//!
//! The parameter table ([`PARAMS`]) mirrors Redis 7.0's `config.c`: name,
//! alias, type (bool, numeric with bounds and unit syntax, enum, string,
//! special), default and flags. Parsing, bounds checks, error texts and the
//! CONFIG GET rendering follow `config.c` (and `util.c: memtoull`,
//! `notify.c`, `sds.c: sdssplitargs/sdscatrepr`) so that clients see the
//! same replies as from redis-server 7.0.15.
//!
//! # Where values go
//!
//! - Engine [`Tunables`] (pushed by [`Config::apply_tunables`] at start and
//!   after every CONFIG SET): `maxmemory`, `maxmemory-policy`,
//!   `maxmemory-samples`, `lfu-log-factor`, `lfu-decay-time`, the
//!   hash/zset listpack thresholds, `set-max-intset-entries`,
//!   `list-max-listpack-size`, `list-compress-depth`, `active-expire-effort`.
//! - [`Hot`] atomics the network layer and the per-command hooks read
//!   without taking the configuration lock: `maxclients`, `timeout`,
//!   `proto-max-bulk-len`, `client-query-buffer-limit`, `hz`,
//!   `slowlog-log-slower-than`, `slowlog-max-len`,
//!   `latency-monitor-threshold`, `requirepass`, `notify-keyspace-events`,
//!   `latency-tracking`.
//! - Read once at start by the server: `port`, `bind` (CONFIG SET calls the
//!   rebind hook the listener may register, see [`Config::set_rebind_hook`]),
//!   `databases`, `io-threads` (shard count), `dir` (the process changes to
//!   it, as Redis does), `pidfile` (written at start), `loglevel`, `logfile`.
//! - Stored only. These are validated, reported by CONFIG GET and written by
//!   CONFIG REWRITE exactly as Redis does, but ferrocache has no subsystem
//!   to act on them yet: persistence (`save`, `dbfilename`, `rdb*`,
//!   `appendonly` and all `aof*`/`appendfsync` options), replication
//!   (`replicaof`, `repl-*`, `replica-*`, `min-replicas-*`, `masterauth`,
//!   `masteruser`), cluster (`cluster-*`), TLS (`tls-*`: enabling TLS is
//!   refused, as redis-server refuses it without certificates), scripting
//!   (`busy-reply-threshold`/`lua-time-limit`), active defragmentation
//!   (refused like a Redis built without jemalloc defrag support), lazy
//!   freeing (`lazyfree-*`: ferrocache frees synchronously), process
//!   management (`daemonize`, `supervised`, `set-proc-title`,
//!   `proc-title-template`, `oom-score-adj*`, `*_cpulist`, `disable-thp`,
//!   `jemalloc-bg-thread`, `syslog-*`, `crash-*`, `unixsocket*`),
//!   `client-output-buffer-limit`, `maxmemory-clients`, `tracking-table-*`,
//!   `stream-node-*`, `hll-sparse-max-bytes`, `acl*`, `tcp-*`. Non-default
//!   values of the ones that change behaviour (daemonize, appendonly,
//!   replicaof, cluster-enabled, unixsocket, syslog-enabled, supervised)
//!   produce a startup warning ([`Config::warnings`]) so they are never
//!   silently dropped.

use crate::server::Server;
use ferrocache_engine::glob::glob_match;
use ferrocache_engine::keyspace::{EvictionPolicy, Tunables};
use ferrocache_engine::types::string::parse_i64;
use ferrocache_protocol::resp::split_args;
use parking_lot::{Mutex, RwLock};
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

/// A startup configuration error (unknown option, bad value, unreadable file).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Redis's `loadServerConfigFromString` failure: the offending line (if
    /// the error is tied to one) and the reason.
    #[error("{}", fatal_text(*.line, .text, .msg))]
    Fatal {
        line: Option<usize>,
        text: String,
        msg: String,
    },
    #[error("Fatal error, can't open config file '{path}': {}", strerror(.source))]
    Io {
        path: String,
        source: std::io::Error,
    },
}

fn fatal_text(line: Option<usize>, text: &str, msg: &str) -> String {
    let mut s = String::from("\n*** FATAL CONFIG FILE ERROR (ferrocache) ***\n");
    if let Some(n) = line {
        s.push_str(&format!(
            "Reading the configuration file, at line {n}\n>>> '{text}'\n"
        ));
    }
    s.push_str(msg);
    s
}

/// The C `strerror` text of an I/O error (Rust adds " (os error N)").
fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

// ---------------------------------------------------------------------------
// The parameter table.
// ---------------------------------------------------------------------------

/// Parameter flags (Redis `*_CONFIG`).
pub mod pflags {
    /// Only settable at startup.
    pub const IMMUTABLE: u16 = 1 << 0;
    /// The value is a secret: CONFIG SET arguments are redacted in logs.
    pub const SENSITIVE: u16 = 1 << 1;
    /// Not matched by CONFIG GET patterns, only by its exact name.
    pub const HIDDEN: u16 = 1 << 2;
    /// Settable only when `enable-protected-configs` allows it.
    pub const PROTECTED: u16 = 1 << 3;
    /// The value is a list of words (split on spaces by CONFIG SET).
    pub const MULTI_ARG: u16 = 1 << 4;
}
use pflags::*;

/// Numeric value syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumFormat {
    /// A plain integer (`string2ll`).
    Integer,
    /// Bytes with an optional unit (`memtoull`: b, k, kb, m, mb, g, gb).
    Memory,
    /// Memory, or a percentage `N%` stored negated.
    MemoryPercent,
    /// An octal number (`unixsocketperm`).
    Octal,
}

/// A string validity check: `Err` carries Redis's message.
type StrCheck = fn(&str) -> Result<(), &'static str>;

/// The special (non-generic) parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Dir,
    Save,
    ClientOutputBufferLimit,
    OomScoreAdjValues,
    NotifyKeyspaceEvents,
    Bind,
    ReplicaOf,
    LatencyPercentiles,
}

/// A parameter's type, with its default.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Bool {
        default: bool,
    },
    /// Bounds are C `long long` bit patterns; `unsigned` types compare and
    /// print them as `unsigned long long` (so `ULLONG_MAX` is `-1`).
    Num {
        min: i64,
        max: i64,
        unsigned: bool,
        fmt: NumFormat,
        default: i64,
    },
    /// `(name, value)` pairs; several names may share a value (the first is
    /// reported). With `MULTI_ARG`, values are bit flags OR-ed together.
    Enum {
        names: &'static [(&'static str, i32)],
        default: i32,
    },
    /// `default: None` is C `NULL`; `null_if_empty` stores "" as NULL.
    Str {
        default: Option<&'static str>,
        null_if_empty: bool,
        check: Option<StrCheck>,
    },
    Special(Special),
}

/// One configuration parameter.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub flags: u16,
    pub kind: Kind,
}

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;
const UINT_MAX: i64 = u32::MAX as i64;
const LONG_MAX: i64 = i64::MAX;
const ULLONG_MAX: i64 = -1;

const fn bool_(name: &'static str, alias: Option<&'static str>, flags: u16, d: bool) -> Param {
    Param {
        name,
        alias,
        flags,
        kind: Kind::Bool { default: d },
    }
}

/// Signed integer (`int`, `long`, `long long`, `time_t`, `off_t`, and
/// `unsigned long`, which Redis bound-checks as signed).
const fn int_(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u16,
    min: i64,
    max: i64,
    default: i64,
) -> Param {
    num_(
        name,
        alias,
        flags,
        min,
        max,
        false,
        NumFormat::Integer,
        default,
    )
}

/// Unsigned integer (`unsigned int`, `size_t`, `unsigned long long`).
const fn uint_(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u16,
    min: i64,
    max: i64,
    default: i64,
) -> Param {
    num_(
        name,
        alias,
        flags,
        min,
        max,
        true,
        NumFormat::Integer,
        default,
    )
}

#[allow(clippy::too_many_arguments)]
const fn num_(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u16,
    min: i64,
    max: i64,
    unsigned: bool,
    fmt: NumFormat,
    default: i64,
) -> Param {
    Param {
        name,
        alias,
        flags,
        kind: Kind::Num {
            min,
            max,
            unsigned,
            fmt,
            default,
        },
    }
}

const fn enum_(
    name: &'static str,
    flags: u16,
    names: &'static [(&'static str, i32)],
    default: i32,
) -> Param {
    Param {
        name,
        alias: None,
        flags,
        kind: Kind::Enum { names, default },
    }
}

const fn str_(
    name: &'static str,
    alias: Option<&'static str>,
    flags: u16,
    null_if_empty: bool,
    default: Option<&'static str>,
    check: Option<StrCheck>,
) -> Param {
    Param {
        name,
        alias,
        flags,
        kind: Kind::Str {
            default,
            null_if_empty,
            check,
        },
    }
}

const fn special(name: &'static str, alias: Option<&'static str>, flags: u16, s: Special) -> Param {
    Param {
        name,
        alias,
        flags,
        kind: Kind::Special(s),
    }
}

const MAXMEMORY_POLICY: &[(&str, i32)] = &[
    ("volatile-lru", 0),
    ("volatile-lfu", 1),
    ("volatile-random", 2),
    ("volatile-ttl", 3),
    ("allkeys-lru", 4),
    ("allkeys-lfu", 5),
    ("allkeys-random", 6),
    ("noeviction", 7),
];
const SYSLOG_FACILITY: &[(&str, i32)] = &[
    ("user", 8),
    ("local0", 128),
    ("local1", 136),
    ("local2", 144),
    ("local3", 152),
    ("local4", 160),
    ("local5", 168),
    ("local6", 176),
    ("local7", 184),
];
const LOGLEVEL: &[(&str, i32)] = &[("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)];
const SUPERVISED: &[(&str, i32)] = &[("upstart", 1), ("systemd", 2), ("auto", 3), ("no", 0)];
const AOF_FSYNC: &[(&str, i32)] = &[("everysec", 2), ("always", 1), ("no", 0)];
const SHUTDOWN_ON_SIG: &[(&str, i32)] = &[
    ("default", 0),
    ("save", 1),
    ("nosave", 2),
    ("now", 4),
    ("force", 8),
];
const REPL_DISKLESS_LOAD: &[(&str, i32)] = &[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)];
const TLS_AUTH_CLIENTS: &[(&str, i32)] = &[("no", 0), ("yes", 1), ("optional", 2)];
const OOM_SCORE_ADJ: &[(&str, i32)] = &[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)];
const ACL_PUBSUB_DEFAULT: &[(&str, i32)] = &[("allchannels", 1), ("resetchannels", 0)];
const SANITIZE_DUMP_PAYLOAD: &[(&str, i32)] = &[("no", 0), ("yes", 1), ("clients", 2)];
const PROTECTED_ACTION: &[(&str, i32)] = &[("no", 0), ("yes", 1), ("local", 2)];
const CLUSTER_ENDPOINT_TYPE: &[(&str, i32)] =
    &[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)];
const PROPAGATION_ERROR_BEHAVIOR: &[(&str, i32)] =
    &[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)];

const MB: i64 = 1024 * 1024;

/// Every parameter of redis-server 7.0.15, in `config.c` order.
pub static PARAMS: &[Param] = &[
    // Bool configs.
    bool_("rdbchecksum", None, IMMUTABLE, true),
    bool_("daemonize", None, IMMUTABLE, false),
    bool_("io-threads-do-reads", None, IMMUTABLE, false),
    bool_("always-show-logo", None, IMMUTABLE, false),
    bool_("protected-mode", None, 0, true),
    bool_("rdbcompression", None, 0, true),
    bool_("rdb-del-sync-files", None, 0, false),
    bool_("activerehashing", None, 0, true),
    bool_("stop-writes-on-bgsave-error", None, 0, true),
    bool_("set-proc-title", None, IMMUTABLE, true),
    bool_("dynamic-hz", None, 0, true),
    bool_("lazyfree-lazy-eviction", None, 0, false),
    bool_("lazyfree-lazy-expire", None, 0, false),
    bool_("lazyfree-lazy-server-del", None, 0, false),
    bool_("lazyfree-lazy-user-del", None, 0, false),
    bool_("lazyfree-lazy-user-flush", None, 0, false),
    bool_("repl-disable-tcp-nodelay", None, 0, false),
    bool_("repl-diskless-sync", None, 0, true),
    bool_("aof-rewrite-incremental-fsync", None, 0, true),
    bool_("no-appendfsync-on-rewrite", None, 0, false),
    bool_("cluster-require-full-coverage", None, 0, true),
    bool_("rdb-save-incremental-fsync", None, 0, true),
    bool_("aof-load-truncated", None, 0, true),
    bool_("aof-use-rdb-preamble", None, 0, true),
    bool_("aof-timestamp-enabled", None, 0, false),
    bool_(
        "cluster-replica-no-failover",
        Some("cluster-slave-no-failover"),
        0,
        false,
    ),
    bool_("replica-lazy-flush", Some("slave-lazy-flush"), 0, false),
    bool_(
        "replica-serve-stale-data",
        Some("slave-serve-stale-data"),
        0,
        true,
    ),
    bool_("replica-read-only", Some("slave-read-only"), 0, true),
    bool_(
        "replica-ignore-maxmemory",
        Some("slave-ignore-maxmemory"),
        0,
        true,
    ),
    bool_("jemalloc-bg-thread", None, 0, true),
    bool_("activedefrag", None, 0, false),
    bool_("syslog-enabled", None, IMMUTABLE, false),
    bool_("cluster-enabled", None, IMMUTABLE, false),
    bool_("appendonly", None, 0, false),
    bool_("cluster-allow-reads-when-down", None, 0, false),
    bool_("cluster-allow-pubsubshard-when-down", None, 0, true),
    bool_("crash-log-enabled", None, 0, true),
    bool_("crash-memcheck-enabled", None, 0, true),
    bool_("use-exit-on-panic", None, HIDDEN, false),
    bool_("disable-thp", None, IMMUTABLE, true),
    bool_("cluster-allow-replica-migration", None, 0, true),
    bool_("replica-announced", None, 0, true),
    bool_("latency-tracking", None, 0, true),
    bool_("aof-disable-auto-gc", None, 0, false),
    bool_("replica-ignore-disk-write-errors", None, 0, false),
    // String configs.
    str_("aclfile", None, IMMUTABLE, false, Some(""), None),
    str_("unixsocket", None, IMMUTABLE, true, None, None),
    str_("pidfile", None, IMMUTABLE, true, None, None),
    str_(
        "replica-announce-ip",
        Some("slave-announce-ip"),
        0,
        true,
        None,
        None,
    ),
    str_("masteruser", None, SENSITIVE, true, None, None),
    str_("cluster-announce-ip", None, 0, true, None, None),
    str_(
        "cluster-config-file",
        None,
        IMMUTABLE,
        false,
        Some("nodes.conf"),
        None,
    ),
    str_(
        "cluster-announce-hostname",
        None,
        0,
        true,
        None,
        Some(check_hostname),
    ),
    str_("syslog-ident", None, IMMUTABLE, false, Some("redis"), None),
    str_(
        "dbfilename",
        None,
        PROTECTED,
        false,
        Some("dump.rdb"),
        Some(check_dbfilename),
    ),
    str_(
        "appendfilename",
        None,
        IMMUTABLE,
        false,
        Some("appendonly.aof"),
        Some(check_aof_filename),
    ),
    str_(
        "appenddirname",
        None,
        IMMUTABLE,
        false,
        Some("appendonlydir"),
        Some(check_aof_dirname),
    ),
    str_("server_cpulist", None, IMMUTABLE, true, None, None),
    str_("bio_cpulist", None, IMMUTABLE, true, None, None),
    str_("aof_rewrite_cpulist", None, IMMUTABLE, true, None, None),
    str_("bgsave_cpulist", None, IMMUTABLE, true, None, None),
    str_("ignore-warnings", None, 0, false, Some(""), None),
    str_(
        "proc-title-template",
        None,
        0,
        false,
        Some("{title} {listen-addr} {server-mode}"),
        Some(check_proc_title_template),
    ),
    str_("bind-source-addr", None, 0, true, None, None),
    str_("logfile", None, IMMUTABLE, false, Some(""), None),
    // SDS configs.
    str_("masterauth", None, SENSITIVE, true, None, None),
    str_("requirepass", None, SENSITIVE, true, None, None),
    // Enum configs.
    enum_("supervised", IMMUTABLE, SUPERVISED, 0),
    enum_("syslog-facility", IMMUTABLE, SYSLOG_FACILITY, 128),
    enum_("repl-diskless-load", 0, REPL_DISKLESS_LOAD, 0),
    enum_("loglevel", 0, LOGLEVEL, 2),
    enum_("maxmemory-policy", 0, MAXMEMORY_POLICY, 7),
    enum_("appendfsync", 0, AOF_FSYNC, 2),
    enum_("oom-score-adj", 0, OOM_SCORE_ADJ, 0),
    enum_("acl-pubsub-default", 0, ACL_PUBSUB_DEFAULT, 0),
    enum_("sanitize-dump-payload", 0, SANITIZE_DUMP_PAYLOAD, 0),
    enum_("enable-protected-configs", IMMUTABLE, PROTECTED_ACTION, 0),
    enum_("enable-debug-command", IMMUTABLE, PROTECTED_ACTION, 0),
    enum_("enable-module-command", IMMUTABLE, PROTECTED_ACTION, 0),
    enum_(
        "cluster-preferred-endpoint-type",
        0,
        CLUSTER_ENDPOINT_TYPE,
        0,
    ),
    enum_(
        "propagation-error-behavior",
        0,
        PROPAGATION_ERROR_BEHAVIOR,
        0,
    ),
    enum_("shutdown-on-sigint", MULTI_ARG, SHUTDOWN_ON_SIG, 0),
    enum_("shutdown-on-sigterm", MULTI_ARG, SHUTDOWN_ON_SIG, 0),
    // Integer configs.
    int_("databases", None, IMMUTABLE, 1, INT_MAX, 16),
    int_("port", None, 0, 0, 65535, 6379),
    int_("io-threads", None, IMMUTABLE, 1, 128, 1),
    int_("auto-aof-rewrite-percentage", None, 0, 0, INT_MAX, 100),
    int_(
        "cluster-replica-validity-factor",
        Some("cluster-slave-validity-factor"),
        0,
        0,
        INT_MAX,
        10,
    ),
    int_(
        "list-max-listpack-size",
        Some("list-max-ziplist-size"),
        0,
        INT_MIN,
        INT_MAX,
        -2,
    ),
    int_("tcp-keepalive", None, 0, 0, INT_MAX, 300),
    int_("cluster-migration-barrier", None, 0, 0, INT_MAX, 1),
    int_("active-defrag-cycle-min", None, 0, 1, 99, 1),
    int_("active-defrag-cycle-max", None, 0, 1, 99, 25),
    int_("active-defrag-threshold-lower", None, 0, 0, 1000, 10),
    int_("active-defrag-threshold-upper", None, 0, 0, 1000, 100),
    int_("lfu-log-factor", None, 0, 0, INT_MAX, 10),
    int_("lfu-decay-time", None, 0, 0, INT_MAX, 1),
    int_(
        "replica-priority",
        Some("slave-priority"),
        0,
        0,
        INT_MAX,
        100,
    ),
    int_("repl-diskless-sync-delay", None, 0, 0, INT_MAX, 5),
    int_("maxmemory-samples", None, 0, 1, INT_MAX, 5),
    int_("maxmemory-eviction-tenacity", None, 0, 0, 100, 10),
    int_("timeout", None, 0, 0, INT_MAX, 0),
    int_(
        "replica-announce-port",
        Some("slave-announce-port"),
        0,
        0,
        65535,
        0,
    ),
    int_("tcp-backlog", None, IMMUTABLE, 0, INT_MAX, 511),
    int_("cluster-port", None, IMMUTABLE, 0, 65535, 0),
    int_("cluster-announce-bus-port", None, 0, 0, 65535, 0),
    int_("cluster-announce-port", None, 0, 0, 65535, 0),
    int_("cluster-announce-tls-port", None, 0, 0, 65535, 0),
    int_("repl-timeout", None, 0, 1, INT_MAX, 60),
    int_(
        "repl-ping-replica-period",
        Some("repl-ping-slave-period"),
        0,
        1,
        INT_MAX,
        10,
    ),
    int_("list-compress-depth", None, 0, 0, INT_MAX, 0),
    int_("rdb-key-save-delay", None, HIDDEN, INT_MIN, INT_MAX, 0),
    int_("key-load-delay", None, HIDDEN, INT_MIN, INT_MAX, 0),
    int_("active-expire-effort", None, 0, 1, 10, 1),
    int_("hz", None, 0, 0, INT_MAX, 10),
    int_(
        "min-replicas-to-write",
        Some("min-slaves-to-write"),
        0,
        0,
        INT_MAX,
        0,
    ),
    int_(
        "min-replicas-max-lag",
        Some("min-slaves-max-lag"),
        0,
        0,
        INT_MAX,
        10,
    ),
    int_("watchdog-period", None, HIDDEN, 0, INT_MAX, 0),
    int_("shutdown-timeout", None, 0, 0, INT_MAX, 10),
    int_("repl-diskless-sync-max-replicas", None, 0, 0, INT_MAX, 0),
    // Unsigned int configs.
    uint_("maxclients", None, 0, 1, UINT_MAX, 10000),
    num_(
        "unixsocketperm",
        None,
        IMMUTABLE,
        0,
        0o777,
        true,
        NumFormat::Octal,
        0,
    ),
    uint_("socket-mark-id", None, IMMUTABLE, 0, UINT_MAX, 0),
    // Unsigned long configs (bound-checked as signed by Redis).
    int_("active-defrag-max-scan-fields", None, 0, 1, LONG_MAX, 1000),
    int_("slowlog-max-len", None, 0, 0, LONG_MAX, 128),
    int_("acllog-max-len", None, 0, 0, LONG_MAX, 128),
    // Long long configs.
    int_(
        "busy-reply-threshold",
        Some("lua-time-limit"),
        0,
        0,
        LONG_MAX,
        5000,
    ),
    int_("cluster-node-timeout", None, 0, 0, LONG_MAX, 15000),
    int_("slowlog-log-slower-than", None, 0, -1, LONG_MAX, 10000),
    int_("latency-monitor-threshold", None, 0, 0, LONG_MAX, 0),
    num_(
        "proto-max-bulk-len",
        None,
        0,
        MB,
        LONG_MAX,
        false,
        NumFormat::Memory,
        512 * MB,
    ),
    int_("stream-node-max-entries", None, 0, 0, LONG_MAX, 100),
    num_(
        "repl-backlog-size",
        None,
        0,
        1,
        LONG_MAX,
        false,
        NumFormat::Memory,
        MB,
    ),
    // Unsigned long long configs.
    num_(
        "maxmemory",
        None,
        0,
        0,
        ULLONG_MAX,
        true,
        NumFormat::Memory,
        0,
    ),
    num_(
        "cluster-link-sendbuf-limit",
        None,
        0,
        0,
        ULLONG_MAX,
        true,
        NumFormat::Memory,
        0,
    ),
    // size_t configs.
    uint_(
        "hash-max-listpack-entries",
        Some("hash-max-ziplist-entries"),
        0,
        0,
        LONG_MAX,
        512,
    ),
    uint_("set-max-intset-entries", None, 0, 0, LONG_MAX, 512),
    uint_(
        "zset-max-listpack-entries",
        Some("zset-max-ziplist-entries"),
        0,
        0,
        LONG_MAX,
        128,
    ),
    num_(
        "active-defrag-ignore-bytes",
        None,
        0,
        1,
        LONG_MAX,
        true,
        NumFormat::Memory,
        100 * MB,
    ),
    num_(
        "hash-max-listpack-value",
        Some("hash-max-ziplist-value"),
        0,
        0,
        LONG_MAX,
        true,
        NumFormat::Memory,
        64,
    ),
    num_(
        "stream-node-max-bytes",
        None,
        0,
        0,
        LONG_MAX,
        true,
        NumFormat::Memory,
        4096,
    ),
    num_(
        "zset-max-listpack-value",
        Some("zset-max-ziplist-value"),
        0,
        0,
        LONG_MAX,
        true,
        NumFormat::Memory,
        64,
    ),
    num_(
        "hll-sparse-max-bytes",
        None,
        0,
        0,
        LONG_MAX,
        true,
        NumFormat::Memory,
        3000,
    ),
    uint_("tracking-table-max-keys", None, 0, 0, LONG_MAX, 1_000_000),
    num_(
        "client-query-buffer-limit",
        None,
        0,
        MB,
        LONG_MAX,
        true,
        NumFormat::Memory,
        1024 * MB,
    ),
    num_(
        "maxmemory-clients",
        None,
        0,
        -100,
        LONG_MAX,
        false,
        NumFormat::MemoryPercent,
        0,
    ),
    // Other numeric configs.
    int_("repl-backlog-ttl", None, 0, 0, LONG_MAX, 3600),
    num_(
        "auto-aof-rewrite-min-size",
        None,
        0,
        0,
        LONG_MAX,
        false,
        NumFormat::Memory,
        64 * MB,
    ),
    int_(
        "loading-process-events-interval-bytes",
        None,
        HIDDEN,
        1024,
        INT_MAX,
        2 * MB,
    ),
    // TLS configs (ferrocache has no TLS: enabling it is refused).
    int_("tls-port", None, 0, 0, 65535, 0),
    int_("tls-session-cache-size", None, 0, 0, INT_MAX, 20 * 1024),
    int_("tls-session-cache-timeout", None, 0, 0, INT_MAX, 300),
    bool_("tls-cluster", None, 0, false),
    bool_("tls-replication", None, 0, false),
    enum_("tls-auth-clients", 0, TLS_AUTH_CLIENTS, 1),
    bool_("tls-prefer-server-ciphers", None, 0, false),
    bool_("tls-session-caching", None, 0, true),
    str_("tls-cert-file", None, 0, true, None, None),
    str_("tls-key-file", None, 0, true, None, None),
    str_("tls-key-file-pass", None, 0, true, None, None),
    str_("tls-client-cert-file", None, 0, true, None, None),
    str_("tls-client-key-file", None, 0, true, None, None),
    str_("tls-client-key-file-pass", None, 0, true, None, None),
    str_("tls-dh-params-file", None, 0, true, None, None),
    str_("tls-ca-cert-file", None, 0, true, None, None),
    str_("tls-ca-cert-dir", None, 0, true, None, None),
    str_("tls-protocols", None, 0, true, None, None),
    str_("tls-ciphers", None, 0, true, None, None),
    str_("tls-ciphersuites", None, 0, true, None, None),
    // ferrocache's snapshot parameters (not redis-server's). HIDDEN, so
    // `CONFIG GET *` and CONFIG REWRITE of untouched files stay exactly
    // redis-server 7.0's; `CONFIG GET <name>` and CONFIG SET work.
    // `rdb-version`: the RDB version SAVE/BGSAVE/DUMP write (10: Redis
    // 7.0; 11: Redis 7.2). `snapshot-encryption-key-file`: a file with a
    // 32-byte key or a passphrase; snapshots are AES-256-GCM envelopes
    // while it is set (CONFIG SET rotates the key for the next save).
    // `rdb-load-partial`: start with the readable prefix of a damaged file.
    // `bgsave-fork`: see below.
    int_("rdb-version", None, HIDDEN, 10, 11, 10),
    str_(
        "snapshot-encryption-key-file",
        None,
        HIDDEN,
        true,
        None,
        Some(check_key_file),
    ),
    bool_("rdb-load-partial", None, HIDDEN | IMMUTABLE, false),
    // `bgsave-fork`: BGSAVE forks a child as Redis does, instead of the
    // default incremental snapshot thread (docs/architecture.md).
    bool_("bgsave-fork", None, HIDDEN, false),
    // `busy-poll-us`: how long a worker keeps polling its sockets after
    // input before it sleeps (ferrocache_server::busy_poll); 0 disables.
    int_("busy-poll-us", None, HIDDEN, 0, 10_000, 50),
    // Special configs.
    special("dir", None, PROTECTED, Special::Dir),
    special("save", None, MULTI_ARG, Special::Save),
    special(
        "client-output-buffer-limit",
        None,
        MULTI_ARG,
        Special::ClientOutputBufferLimit,
    ),
    special(
        "oom-score-adj-values",
        None,
        MULTI_ARG,
        Special::OomScoreAdjValues,
    ),
    special(
        "notify-keyspace-events",
        None,
        0,
        Special::NotifyKeyspaceEvents,
    ),
    special("bind", None, MULTI_ARG, Special::Bind),
    special(
        "replicaof",
        Some("slaveof"),
        IMMUTABLE | MULTI_ARG,
        Special::ReplicaOf,
    ),
    special(
        "latency-tracking-info-percentiles",
        None,
        MULTI_ARG,
        Special::LatencyPercentiles,
    ),
];

/// TLS parameters whose change makes Redis reconfigure TLS (`applyTlsCfg`).
const TLS_APPLY: &[&str] = &[
    "tls-session-cache-size",
    "tls-session-cache-timeout",
    "tls-cluster",
    "tls-replication",
    "tls-prefer-server-ciphers",
    "tls-session-caching",
    "tls-cert-file",
    "tls-key-file",
    "tls-key-file-pass",
    "tls-client-cert-file",
    "tls-client-key-file",
    "tls-client-key-file-pass",
    "tls-dh-params-file",
    "tls-ca-cert-file",
    "tls-ca-cert-dir",
    "tls-protocols",
    "tls-ciphers",
    "tls-ciphersuites",
];

const TLS_ERR: &str = "Unable to update TLS configuration. Check server logs.";

fn path_is_base_name(s: &str) -> bool {
    !s.contains('/') && !s.contains('\\')
}

fn check_dbfilename(s: &str) -> Result<(), &'static str> {
    if path_is_base_name(s) {
        Ok(())
    } else {
        Err("dbfilename can't be a path, just a filename")
    }
}

fn check_aof_filename(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        Err("appendfilename can't be empty")
    } else if !path_is_base_name(s) {
        Err("appendfilename can't be a path, just a filename")
    } else {
        Ok(())
    }
}

fn check_aof_dirname(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        Err("appenddirname can't be empty")
    } else if !path_is_base_name(s) {
        Err("appenddirname can't be a path, just a dirname")
    } else {
        Ok(())
    }
}

/// The key file must hold a usable key now, not at the first save.
fn check_key_file(s: &str) -> Result<(), &'static str> {
    if s.is_empty() {
        return Ok(());
    }
    match ferrocache_persist::crypt::Key::from_file(Path::new(s)) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            Err("snapshot-encryption-key-file holds no usable key (32 raw bytes or a passphrase)")
        }
        Err(_) => Err("can't read snapshot-encryption-key-file"),
    }
}

fn check_hostname(s: &str) -> Result<(), &'static str> {
    if s.len() >= 256 {
        return Err("Hostnames must be less than 256 characters");
    }
    if s.bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
    {
        Ok(())
    } else {
        Err("Hostnames may only contain alphanumeric characters, hyphens or dots")
    }
}

/// Redis's `validateProcTitleTemplate`: the template must expand (only
/// known `{variables}`, `{{` quoting) to something non-blank when the title
/// itself is empty.
fn check_proc_title_template(s: &str) -> Result<(), &'static str> {
    const BAD: &str = "template format is invalid or contains unknown variables";
    let mut out = String::new();
    let mut p = s;
    while !p.is_empty() {
        let Some(open) = p.find('{') else {
            out.push_str(p);
            break;
        };
        out.push_str(&p[..open]);
        let rest = &p[open + 1..];
        if rest.is_empty() {
            return Err(BAD);
        }
        if let Some(r) = rest.strip_prefix('{') {
            out.push('{');
            p = r;
            continue;
        }
        let Some(close) = rest.find('}') else {
            return Err(BAD);
        };
        let value = match &rest[..close] {
            "title" | "server-mode" | "unixsocket" | "config-file" => "",
            "listen-addr" | "port" | "tls-port" => "x",
            _ => return Err(BAD),
        };
        out.push_str(value);
        p = &rest[close + 1..];
    }
    if out.trim_matches(' ').is_empty() {
        Err(BAD)
    } else {
        Ok(())
    }
}

/// Name lookup: primary names and aliases, case-insensitively.
struct Registry {
    /// `(registered name, parameter index)`, primary then alias, table order.
    entries: Vec<(&'static str, usize)>,
    by_name: HashMap<&'static str, usize>,
}

fn registry() -> &'static Registry {
    static R: OnceLock<Registry> = OnceLock::new();
    R.get_or_init(|| {
        let mut entries = Vec::new();
        for (i, p) in PARAMS.iter().enumerate() {
            entries.push((p.name, i));
            if let Some(a) = p.alias {
                entries.push((a, i));
            }
        }
        let by_name = entries
            .iter()
            .enumerate()
            .map(|(e, (n, _))| (*n, e))
            .collect();
        Registry { entries, by_name }
    })
}

/// The registry entry for `name` (any case): `(registered name, param index)`.
fn lookup(name: &[u8]) -> Option<(&'static str, usize)> {
    if name.len() > 64 {
        return None;
    }
    let lower = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
    let r = registry();
    let &e = r.by_name.get(lower.as_str())?;
    r.entries.get(e).copied()
}

/// Index of a parameter by its primary name (for internal reads).
fn idx(name: &str) -> Option<usize> {
    lookup(name.as_bytes()).map(|(_, i)| i)
}

/// Is `name` (a parameter or alias) flagged sensitive? Dispatch uses this
/// to redact CONFIG SET values from the slow log and MONITOR.
pub fn is_sensitive(name: &[u8]) -> bool {
    lookup(name).is_some_and(|(_, i)| PARAMS[i].flags & SENSITIVE != 0)
}

// ---------------------------------------------------------------------------
// Values.
// ---------------------------------------------------------------------------

/// `client-output-buffer-limit` of one client class: (hard, soft, seconds).
pub type ObufLimit = (u64, u64, i64);

const OBUF_DEFAULTS: [ObufLimit; 3] = [
    (0, 0, 0),
    (256 * 1024 * 1024, 64 * 1024 * 1024, 60),
    (32 * 1024 * 1024, 8 * 1024 * 1024, 60),
];
const OBUF_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];
const OOM_DEFAULTS: [i32; 3] = [0, 200, 800];

/// A parameter's current value.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Bool(bool),
    Num(i64),
    Enum(i32),
    Str(Option<String>),
    Dir(String),
    Save(Vec<(i64, i32)>),
    Obuf([ObufLimit; 3]),
    Oom([i32; 3]),
    Notify(u32),
    Bind(Vec<String>),
    ReplicaOf(Option<(String, i64)>),
    Percentiles(Vec<f64>),
}

fn default_val(p: &Param) -> Val {
    match p.kind {
        Kind::Bool { default } => Val::Bool(default),
        Kind::Num { default, .. } => Val::Num(default),
        Kind::Enum { default, .. } => Val::Enum(default),
        Kind::Str { default, .. } => Val::Str(default.map(str::to_string)),
        Kind::Special(s) => match s {
            Special::Dir => Val::Dir(
                std::env::current_dir()
                    .map(|d| d.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
            Special::Save => Val::Save(vec![(3600, 1), (300, 100), (60, 10000)]),
            Special::ClientOutputBufferLimit => Val::Obuf(OBUF_DEFAULTS),
            Special::OomScoreAdjValues => Val::Oom(OOM_DEFAULTS),
            Special::NotifyKeyspaceEvents => Val::Notify(0),
            Special::Bind => Val::Bind(vec!["*".into(), "-::*".into()]),
            Special::ReplicaOf => Val::ReplicaOf(None),
            Special::LatencyPercentiles => Val::Percentiles(vec![50.0, 99.0, 99.9]),
        },
    }
}

/// Redis's `memtoull`: digits then an optional unit; no sign, no spaces.
/// Overflow saturates then wraps on the unit multiply, exactly like C.
pub fn memtoull(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.first() == Some(&b'-') {
        return None;
    }
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let unit = s.get(digits..)?.to_ascii_lowercase();
    let mul: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits >= 128 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in &b[..digits] {
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .unwrap_or(u64::MAX);
    }
    Some(v.wrapping_mul(mul))
}

/// Parse a memory value as Redis's `memtoull` (kept for callers that read
/// CONFIG GET output, which is always plain digits for memory values).
pub fn parse_memory(s: &str) -> Option<u64> {
    memtoull(s)
}

/// C `strtoll(s, &end, base)` followed by a check that `*end == '\0'`:
/// leading whitespace and a sign are accepted, an empty digit run yields 0,
/// overflow saturates (`None` when `strict_range` asks for errno checks).
fn strtoll_full(s: &str, base: u32, strict_range: bool) -> Option<i64> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let n = digits
        .bytes()
        .take_while(|c| (*c as char).is_digit(base))
        .count();
    if n == 0 {
        // No conversion: end points at the start of the string.
        return if s.is_empty() { Some(0) } else { None };
    }
    if n != digits.len() {
        return None;
    }
    let mut v: i128 = 0;
    let mut overflow = false;
    for c in digits.bytes() {
        let d = i128::from((c as char).to_digit(base).unwrap_or(0));
        v = v * i128::from(base) + d;
        if v > i128::from(i64::MAX) + 1 {
            overflow = true;
            v = i128::from(i64::MAX) + 1;
        }
    }
    let v = if neg { -v } else { v };
    if v > i128::from(i64::MAX) || v < i128::from(i64::MIN) {
        overflow = true;
    }
    if overflow && strict_range {
        return None;
    }
    Some(v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
}

/// Redis's `string2ll` on a `&str`.
fn string2ll(s: &str) -> Option<i64> {
    parse_i64(s.as_bytes())
}

/// Keyspace event flag characters and bits (`notify.c`).
const NOTIFY_KEYSPACE: u32 = 1 << 0;
const NOTIFY_KEYEVENT: u32 = 1 << 1;
const NOTIFY_GENERIC: u32 = 1 << 2;
const NOTIFY_STRING: u32 = 1 << 3;
const NOTIFY_LIST: u32 = 1 << 4;
const NOTIFY_SET: u32 = 1 << 5;
const NOTIFY_HASH: u32 = 1 << 6;
const NOTIFY_ZSET: u32 = 1 << 7;
const NOTIFY_EXPIRED: u32 = 1 << 8;
const NOTIFY_EVICTED: u32 = 1 << 9;
const NOTIFY_STREAM: u32 = 1 << 10;
const NOTIFY_KEY_MISS: u32 = 1 << 11;
const NOTIFY_MODULE: u32 = 1 << 12;
const NOTIFY_NEW: u32 = 1 << 13;
/// `A`: every class except key-miss and new-key events.
const NOTIFY_ALL: u32 = NOTIFY_GENERIC
    | NOTIFY_STRING
    | NOTIFY_LIST
    | NOTIFY_SET
    | NOTIFY_HASH
    | NOTIFY_ZSET
    | NOTIFY_EXPIRED
    | NOTIFY_EVICTED
    | NOTIFY_STREAM
    | NOTIFY_MODULE;

/// `keyspaceEventsStringToFlags`.
pub fn keyspace_events_from_str(s: &str) -> Option<u32> {
    let mut f = 0;
    for c in s.chars() {
        f |= match c {
            'A' => NOTIFY_ALL,
            'g' => NOTIFY_GENERIC,
            '$' => NOTIFY_STRING,
            'l' => NOTIFY_LIST,
            's' => NOTIFY_SET,
            'h' => NOTIFY_HASH,
            'z' => NOTIFY_ZSET,
            'x' => NOTIFY_EXPIRED,
            'e' => NOTIFY_EVICTED,
            'K' => NOTIFY_KEYSPACE,
            'E' => NOTIFY_KEYEVENT,
            't' => NOTIFY_STREAM,
            'm' => NOTIFY_KEY_MISS,
            'd' => NOTIFY_MODULE,
            'n' => NOTIFY_NEW,
            _ => return None,
        };
    }
    Some(f)
}

/// `keyspaceEventsFlagsToString` (note: with `A`, `n` is not shown, as in
/// Redis).
pub fn keyspace_events_to_string(f: u32) -> String {
    let mut s = String::new();
    if f & NOTIFY_ALL == NOTIFY_ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (NOTIFY_GENERIC, 'g'),
            (NOTIFY_STRING, '$'),
            (NOTIFY_LIST, 'l'),
            (NOTIFY_SET, 's'),
            (NOTIFY_HASH, 'h'),
            (NOTIFY_ZSET, 'z'),
            (NOTIFY_EXPIRED, 'x'),
            (NOTIFY_EVICTED, 'e'),
            (NOTIFY_STREAM, 't'),
            (NOTIFY_MODULE, 'd'),
            (NOTIFY_NEW, 'n'),
        ] {
            if f & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [
        (NOTIFY_KEYSPACE, 'K'),
        (NOTIFY_KEYEVENT, 'E'),
        (NOTIFY_KEY_MISS, 'm'),
    ] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// `configEnumGetName`: the exact match, or for bit flags the names of the
/// set bits; "unknown" otherwise.
fn enum_name(names: &[(&str, i32)], v: i32, bitflags: bool) -> String {
    let mut out: Option<String> = None;
    let mut unmatched = v;
    for &(n, val) in names {
        if v == val {
            return n.to_string();
        }
        if bitflags && val != 0 && val == (unmatched & val) {
            out = Some(match out {
                Some(s) => format!("{s} {n}"),
                None => n.to_string(),
            });
            unmatched &= !val;
        }
    }
    match out {
        Some(s) if unmatched == 0 => s,
        _ => "unknown".to_string(),
    }
}

/// `%f` then `trimDoubleString`.
fn format_percentile(v: f64) -> String {
    let s = format!("{v:.6}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `rewriteConfigFormatMemory`.
fn format_memory(bytes: u64) -> String {
    const GB: u64 = 1024 * 1024 * 1024;
    const MB_: u64 = 1024 * 1024;
    const KB: u64 = 1024;
    if bytes != 0 && bytes & (GB - 1) == 0 {
        format!("{}gb", bytes / GB)
    } else if bytes != 0 && bytes & (MB_ - 1) == 0 {
        format!("{}mb", bytes / MB_)
    } else if bytes != 0 && bytes & (KB - 1) == 0 {
        format!("{}kb", bytes / KB)
    } else {
        bytes.to_string()
    }
}

/// `sdscatrepr`: a double-quoted, escaped rendering that `sdssplitargs`
/// reads back.
pub fn repr(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for &c in s {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            c if (0x20..0x7f).contains(&c) => out.push(c as char),
            c => out.push_str(&format!("\\x{c:02x}")),
        }
    }
    out.push('"');
    out
}

/// The CONFIG GET rendering of a value.
fn render(p: &Param, v: &Val) -> String {
    match (&p.kind, v) {
        (_, Val::Bool(b)) => if *b { "yes" } else { "no" }.to_string(),
        (Kind::Num { fmt, .. }, Val::Num(n)) => match fmt {
            NumFormat::MemoryPercent if *n < 0 => format!("{}%", n.unsigned_abs()),
            NumFormat::Memory | NumFormat::MemoryPercent => (*n as u64).to_string(),
            NumFormat::Octal => format!("{n:o}"),
            NumFormat::Integer => n.to_string(),
        },
        (Kind::Enum { names, .. }, Val::Enum(e)) => enum_name(names, *e, p.flags & MULTI_ARG != 0),
        (_, Val::Str(s)) => s.clone().unwrap_or_default(),
        (_, Val::Dir(d)) => d.clone(),
        (_, Val::Save(v)) => v
            .iter()
            .map(|(s, c)| format!("{s} {c}"))
            .collect::<Vec<_>>()
            .join(" "),
        (_, Val::Obuf(o)) => o
            .iter()
            .zip(OBUF_CLASSES)
            .map(|((h, s, t), c)| format!("{c} {h} {s} {t}"))
            .collect::<Vec<_>>()
            .join(" "),
        (_, Val::Oom(o)) => format!("{} {} {}", o[0], o[1], o[2]),
        (_, Val::Notify(f)) => keyspace_events_to_string(*f),
        (_, Val::Bind(b)) => b.join(" "),
        (_, Val::ReplicaOf(Some((h, p)))) => format!("{h} {p}"),
        (_, Val::Percentiles(v)) => v
            .iter()
            .map(|x| format_percentile(*x))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// State shared by the settings of one startup load (Redis keeps the first
/// `save` line's reset in a static).
#[derive(Debug, Default)]
struct LoadState {
    reading_file: bool,
    save_loaded: bool,
}

/// Parse `args` as the new value of `p`. `cur` is the current value (`save`
/// in a file accumulates; relative `dir` paths resolve against it).
fn parse_value(p: &Param, args: &[String], cur: &Val, st: &mut LoadState) -> Result<Val, String> {
    let one = || args.first().map(String::as_str).unwrap_or("");
    match p.kind {
        Kind::Bool { .. } => {
            let s = one();
            let b = if s.eq_ignore_ascii_case("yes") {
                true
            } else if s.eq_ignore_ascii_case("no") {
                false
            } else {
                return Err("argument must be 'yes' or 'no'".into());
            };
            if p.name == "activedefrag" && b {
                return Err("Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution".into());
            }
            Ok(Val::Bool(b))
        }
        Kind::Num {
            min,
            max,
            unsigned,
            fmt,
            ..
        } => {
            let v = parse_num(one(), fmt)?;
            check_bounds(v, min, max, unsigned, fmt)?;
            let v = if p.name == "hz" {
                // Redis accepts any hz but runs (and reports) 1..=500.
                v.clamp(1, 500)
            } else {
                v
            };
            Ok(Val::Num(v))
        }
        Kind::Enum { names, .. } => {
            let bitflags = p.flags & MULTI_ARG != 0;
            let bad = || {
                let list: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
                format!(
                    "argument(s) must be one of the following: {}",
                    list.join(", ")
                )
            };
            if args.is_empty() || (!bitflags && args.len() != 1) {
                return Err(bad());
            }
            let mut v = 0;
            for a in args {
                let mut matched = false;
                for &(n, val) in names {
                    if n.eq_ignore_ascii_case(a) {
                        v |= val;
                        matched = true;
                    }
                }
                if !matched {
                    return Err(bad());
                }
            }
            if names == SHUTDOWN_ON_SIG && v & 1 != 0 && v & 2 != 0 {
                return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
            }
            Ok(Val::Enum(v))
        }
        Kind::Str {
            null_if_empty,
            check,
            ..
        } => {
            let s = one();
            if let Some(c) = check {
                c(s).map_err(str::to_string)?;
            }
            if null_if_empty && s.is_empty() {
                Ok(Val::Str(None))
            } else {
                Ok(Val::Str(Some(s.to_string())))
            }
        }
        Kind::Special(sp) => parse_special(sp, args, cur, st),
    }
}

fn parse_num(s: &str, fmt: NumFormat) -> Result<i64, String> {
    if matches!(fmt, NumFormat::Memory | NumFormat::MemoryPercent) {
        if let Some(v) = memtoull(s) {
            return Ok(v as i64);
        }
    }
    if fmt == NumFormat::MemoryPercent && s.len() > 1 {
        if let Some(n) = s.strip_suffix('%').and_then(string2ll) {
            if n >= 0 {
                return Ok(-n);
            }
        }
    }
    if fmt == NumFormat::Octal {
        if let Some(v) = strtoll_full(s, 8, true) {
            return Ok(v);
        }
    }
    if fmt == NumFormat::Integer {
        if let Some(v) = string2ll(s) {
            return Ok(v);
        }
    }
    Err(match fmt {
        NumFormat::MemoryPercent => "argument must be a memory or percent value",
        NumFormat::Memory => "argument must be a memory value",
        NumFormat::Octal => "argument couldn't be parsed as an octal number",
        NumFormat::Integer => "argument couldn't be parsed into an integer",
    }
    .into())
}

/// `numericBoundaryCheck`.
fn check_bounds(v: i64, min: i64, max: i64, unsigned: bool, fmt: NumFormat) -> Result<(), String> {
    if unsigned {
        let (u, lo, hi) = (v as u64, min as u64, max as u64);
        if u > hi || u < lo {
            return Err(if fmt == NumFormat::Octal {
                format!("argument must be between {lo:o} and {hi:o} inclusive")
            } else {
                format!("argument must be between {lo} and {hi} inclusive")
            });
        }
    } else if fmt == NumFormat::MemoryPercent && v < 0 {
        if v < min {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                min.unsigned_abs()
            ));
        }
    } else if v > max || v < min {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(())
}

fn parse_special(
    sp: Special,
    args: &[String],
    cur: &Val,
    st: &mut LoadState,
) -> Result<Val, String> {
    let wrong = || "wrong number of arguments".to_string();
    match sp {
        Special::Dir => {
            if args.len() != 1 {
                return Err(wrong());
            }
            let base = match cur {
                Val::Dir(d) => PathBuf::from(d),
                _ => PathBuf::from("."),
            };
            let target = base.join(&args[0]);
            let abs = std::fs::canonicalize(&target).map_err(|e| strerror(&e))?;
            if !abs.is_dir() {
                return Err("Not a directory".into());
            }
            Ok(Val::Dir(abs.to_string_lossy().into_owned()))
        }
        Special::Save => {
            let mut argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut reset = false;
            if argv.len() == 1 && argv[0].is_empty() {
                argv.clear();
                reset = true;
            }
            let bad = || "Invalid save parameters".to_string();
            if argv.len() % 2 == 1 {
                return Err(bad());
            }
            let mut pairs = Vec::with_capacity(argv.len() / 2);
            for pair in argv.chunks(2) {
                let (Some(secs), Some(changes)) = (
                    strtoll_full(pair[0], 10, false),
                    pair.get(1).and_then(|c| strtoll_full(c, 10, false)),
                ) else {
                    return Err(bad());
                };
                if secs < 1 || changes < 0 {
                    return Err(bad());
                }
                pairs.push((secs, changes as i32));
            }
            let mut list = match cur {
                Val::Save(v) if st.reading_file && st.save_loaded && !reset => v.clone(),
                _ => Vec::new(),
            };
            if st.reading_file {
                st.save_loaded = true;
            }
            list.extend(pairs);
            Ok(Val::Save(list))
        }
        Special::ClientOutputBufferLimit => {
            if args.len() & 3 != 0 {
                return Err("Wrong number of arguments in buffer limit configuration.".into());
            }
            let mut v = match cur {
                Val::Obuf(o) => *o,
                _ => OBUF_DEFAULTS,
            };
            for chunk in args.chunks(4) {
                let class = match chunk[0].to_ascii_lowercase().as_str() {
                    "normal" => 0,
                    "slave" | "replica" => 1,
                    "pubsub" => 2,
                    _ => {
                        return Err(
                            "Invalid client class specified in buffer limit configuration.".into(),
                        )
                    }
                };
                let bad = || {
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                        .to_string()
                };
                let hard = chunk.get(1).and_then(|s| memtoull(s)).ok_or_else(bad)?;
                let soft = chunk.get(2).and_then(|s| memtoull(s)).ok_or_else(bad)?;
                let secs = chunk
                    .get(3)
                    .and_then(|s| strtoll_full(s, 10, false))
                    .ok_or_else(bad)? as i32;
                if secs < 0 {
                    return Err(bad());
                }
                v[class] = (hard, soft, i64::from(secs));
            }
            Ok(Val::Obuf(v))
        }
        Special::OomScoreAdjValues => {
            if args.len() != 3 {
                return Err(wrong());
            }
            let mut v = [0i32; 3];
            for (slot, a) in v.iter_mut().zip(args) {
                match strtoll_full(a, 10, false) {
                    Some(n) if (-2000..=2000).contains(&n) => *slot = n as i32,
                    _ => return Err(
                        "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                            .into(),
                    ),
                }
            }
            Ok(Val::Oom(v))
        }
        Special::NotifyKeyspaceEvents => {
            if args.len() != 1 {
                return Err(wrong());
            }
            keyspace_events_from_str(&args[0])
                .map(Val::Notify)
                .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into())
        }
        Special::Bind => {
            if args.len() > 16 {
                return Err("Too many bind addresses specified.".into());
            }
            if args.len() == 1 && args[0].is_empty() {
                return Ok(Val::Bind(Vec::new()));
            }
            Ok(Val::Bind(args.to_vec()))
        }
        Special::ReplicaOf => {
            if args.len() != 2 {
                return Err(wrong());
            }
            if args[0].eq_ignore_ascii_case("no") && args[1].eq_ignore_ascii_case("one") {
                return Ok(Val::ReplicaOf(None));
            }
            match strtoll_full(&args[1], 10, false) {
                Some(port) if (0..=65535).contains(&port) => {
                    Ok(Val::ReplicaOf(Some((args[0].clone(), port))))
                }
                _ => Err("Invalid master port".into()),
            }
        }
        Special::LatencyPercentiles => {
            if args.len() == 1 && args[0].is_empty() {
                return Ok(Val::Percentiles(Vec::new()));
            }
            let mut v = Vec::with_capacity(args.len());
            for a in args {
                let Some(x) = crate::args::parse_f64(a.as_bytes()) else {
                    return Err("Invalid latency-tracking-info-percentiles parameters".into());
                };
                if !(0.0..=100.0).contains(&x) {
                    return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".into());
                }
                v.push(x);
            }
            Ok(Val::Percentiles(v))
        }
    }
}

// ---------------------------------------------------------------------------
// Hot values.
// ---------------------------------------------------------------------------

/// Values read per request or per command by the network layer and the
/// command hooks, kept in atomics so the hot path never takes the
/// configuration lock. Updated on startup and by every CONFIG SET.
#[derive(Debug)]
pub struct Hot {
    pub maxclients: AtomicU64,
    /// `timeout`: idle seconds before a client is closed (0 = never).
    pub timeout: AtomicU64,
    pub proto_max_bulk_len: AtomicI64,
    pub client_query_buffer_limit: AtomicU64,
    /// Effective `hz` (1..=500).
    pub hz: AtomicU32,
    /// µs; negative disables the slow log, 0 logs every command.
    pub slowlog_log_slower_than: AtomicI64,
    pub slowlog_max_len: AtomicU64,
    /// ms; 0 disables the latency monitor.
    pub latency_monitor_threshold: AtomicI64,
    pub latency_tracking: AtomicBool,
    /// `notify-keyspace-events` as `notify.c` flag bits.
    pub notify_keyspace_events: AtomicU32,
    /// `requirepass`; `None` when no password is set.
    pub requirepass: RwLock<Option<String>>,
    /// `hll-sparse-max-bytes`: read by every PFADD/PFMERGE that may grow a
    /// sparse HyperLogLog.
    pub hll_sparse_max_bytes: AtomicU64,
    /// `client-output-buffer-limit pubsub`: (hard bytes, soft bytes, soft
    /// seconds), read by every PUBLISH.
    pub obuf_pubsub_hard: AtomicU64,
    pub obuf_pubsub_soft: AtomicU64,
    pub obuf_pubsub_secs: AtomicI64,
    /// `busy-poll-us`: read by each worker's poller at every wake-up.
    pub busy_poll_us: AtomicU64,
}

impl Default for Hot {
    fn default() -> Self {
        Hot {
            maxclients: AtomicU64::new(10000),
            timeout: AtomicU64::new(0),
            proto_max_bulk_len: AtomicI64::new(512 * MB),
            client_query_buffer_limit: AtomicU64::new(1 << 30),
            hz: AtomicU32::new(10),
            slowlog_log_slower_than: AtomicI64::new(10000),
            slowlog_max_len: AtomicU64::new(128),
            latency_monitor_threshold: AtomicI64::new(0),
            latency_tracking: AtomicBool::new(true),
            notify_keyspace_events: AtomicU32::new(0),
            requirepass: RwLock::new(None),
            hll_sparse_max_bytes: AtomicU64::new(3000),
            obuf_pubsub_hard: AtomicU64::new(OBUF_DEFAULTS[2].0),
            obuf_pubsub_soft: AtomicU64::new(OBUF_DEFAULTS[2].1),
            obuf_pubsub_secs: AtomicI64::new(OBUF_DEFAULTS[2].2),
            busy_poll_us: AtomicU64::new(50),
        }
    }
}

/// Called by CONFIG SET when `port` or `bind` change: `(port, bind list)`.
/// The listener registers it to re-bind; `Err` refuses the change.
pub type RebindHook = Box<dyn Fn(u16, &[String]) -> Result<(), String> + Send + Sync>;

// ---------------------------------------------------------------------------
// The configuration.
// ---------------------------------------------------------------------------

/// The parameters and their current values.
pub struct Config {
    values: RwLock<Vec<Val>>,
    hot: Hot,
    /// Absolute path of the file the node was started with (CONFIG REWRITE).
    config_file: Option<PathBuf>,
    warnings: Vec<String>,
    rebind: Mutex<Option<RebindHook>>,
    /// Serialises CONFIG SETs: each computes its new values from a snapshot
    /// and commits them whole, so two concurrent ones must not interleave.
    set_lock: Mutex<()>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("config_file", &self.config_file)
            .field("hot", &self.hot)
            .finish_non_exhaustive()
    }
}

impl Default for Config {
    fn default() -> Self {
        let cfg = Config {
            values: RwLock::new(PARAMS.iter().map(default_val).collect()),
            hot: Hot::default(),
            config_file: None,
            warnings: Vec::new(),
            rebind: Mutex::new(None),
            set_lock: Mutex::new(()),
        };
        cfg.refresh_hot();
        cfg
    }
}

/// Recursion limit for `include`.
const MAX_INCLUDE_DEPTH: usize = 16;

impl Config {
    /// Parse `ferrocache redis [config-file] [--name value ...]` exactly as
    /// redis-server builds its configuration: the file, then the flags
    /// turned into config lines (`--save ""`, `--save "60 1000"`, a bare
    /// `--save` all work). `--threads N` is ferrocache's name for
    /// `io-threads`.
    pub fn from_args(args: &[String]) -> Result<Config, ConfigError> {
        let mut cfg = Config::default();
        let mut j = 0;
        let mut text = String::new();
        if let Some(first) = args.first() {
            if !first.starts_with('-') {
                let path = std::path::absolute(first).unwrap_or_else(|_| PathBuf::from(first));
                text = read_config_file(&path)?;
                cfg.config_file = Some(path);
                j = 1;
            }
        }
        let options = options_from_flags(args.get(j..).unwrap_or(&[]));
        text.push('\n');
        text.push_str(&options);
        let mut st = LoadState {
            reading_file: true,
            save_loaded: false,
        };
        cfg.load_text(&text, &mut st, 0)?;
        cfg.check_loaded()?;
        cfg.refresh_hot();
        Ok(cfg)
    }

    /// `loadServerConfigFromString`.
    fn load_text(
        &mut self,
        text: &str,
        st: &mut LoadState,
        depth: usize,
    ) -> Result<(), ConfigError> {
        for (i, raw) in text.split('\n').enumerate() {
            let line = raw.trim_matches([' ', '\t', '\r', '\n']);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fail = |msg: String| ConfigError::Fatal {
                line: Some(i + 1),
                text: line.to_string(),
                msg,
            };
            let Some(argv) = split_args(line.as_bytes()) else {
                return Err(fail("Unbalanced quotes in configuration line".into()));
            };
            let argv: Vec<String> = argv
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let Some(first) = argv.first() else {
                continue;
            };
            let mut name = first.to_ascii_lowercase();
            if name == "threads" {
                name = "io-threads".into();
            }
            if let Some((_, pi)) = lookup(name.as_bytes()) {
                let p = &PARAMS[pi];
                if p.flags & MULTI_ARG == 0 && argv.len() != 2 {
                    return Err(fail("wrong number of arguments".into()));
                }
                let values: Vec<String> =
                    if p.flags & MULTI_ARG != 0 && argv.len() == 2 && !argv[1].is_empty() {
                        split_args(argv[1].as_bytes())
                            .unwrap_or_default()
                            .iter()
                            .map(|a| String::from_utf8_lossy(a).into_owned())
                            .collect()
                    } else {
                        argv[1..].to_vec()
                    };
                let vals = self.values.get_mut();
                let v = parse_value(p, &values, &vals[pi], st).map_err(fail)?;
                vals[pi] = v;
                continue;
            }
            match name.as_str() {
                // Deprecated directives Redis 7.0 still accepts and ignores.
                "list-max-ziplist-entries"
                | "list-max-ziplist-value"
                | "lua-replicate-commands"
                    if argv.len() == 2 => {}
                "include" if argv.len() == 2 => {
                    if depth >= MAX_INCLUDE_DEPTH {
                        return Err(fail("include nesting too deep".into()));
                    }
                    let base = self.dir();
                    for path in expand_include(&base, &argv[1]) {
                        let inner = read_config_file(&path)?;
                        self.load_text(&inner, st, depth + 1)?;
                    }
                }
                "rename-command" | "user" | "loadmodule" | "sentinel" => {
                    return Err(fail(format!("'{name}' is not supported by ferrocache")));
                }
                _ if name.contains('.') => {
                    return Err(fail(
                        "Module configs are not supported by ferrocache".into(),
                    ));
                }
                _ => {
                    return Err(fail("Bad directive or wrong number of arguments".into()));
                }
            }
        }
        Ok(())
    }

    /// Sanity checks after loading (Redis's end of
    /// `loadServerConfigFromString`), plus refusing what ferrocache cannot
    /// do at all, and the warnings for stored-only settings.
    fn check_loaded(&mut self) -> Result<(), ConfigError> {
        let fatal = |msg: &str| ConfigError::Fatal {
            line: None,
            text: String::new(),
            msg: msg.to_string(),
        };
        if self.bool_of("cluster-enabled") && self.get("replicaof").is_some_and(|r| !r.is_empty()) {
            return Err(fatal("replicaof directive not allowed in cluster mode"));
        }
        if self.num_of("tls-port") != 0
            || self.bool_of("tls-replication")
            || self.bool_of("tls-cluster")
        {
            return Err(fatal(
                "Failed to configure TLS: ferrocache has no TLS support.",
            ));
        }
        let mut w = Vec::new();
        for (name, bad) in [
            ("daemonize", "yes"),
            ("appendonly", "yes"),
            ("cluster-enabled", "yes"),
            ("syslog-enabled", "yes"),
        ] {
            if self.get(name).as_deref() == Some(bad) {
                w.push(format!(
                    "WARNING: '{name} {bad}' is stored but not acted on: ferrocache does not implement it yet."
                ));
            }
        }
        for name in ["replicaof", "unixsocket"] {
            if let Some(v) = self.get(name).filter(|v| !v.is_empty()) {
                w.push(format!(
                    "WARNING: '{name} {v}' is stored but not acted on: ferrocache does not implement it yet."
                ));
            }
        }
        if self.get("supervised").as_deref() != Some("no") {
            w.push("WARNING: 'supervised' is stored but not acted on: ferrocache does not implement it yet.".into());
        }
        self.warnings = w;
        Ok(())
    }

    /// Startup notices about settings ferrocache stores but cannot act on.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The file the node was started with, if any.
    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }

    /// The per-request values (see [`Hot`]).
    pub fn hot(&self) -> &Hot {
        &self.hot
    }

    /// The CONFIG GET value of a parameter (by name or alias, any case).
    pub fn get(&self, name: &str) -> Option<String> {
        let (_, i) = lookup(name.as_bytes())?;
        let vals = self.values.read();
        vals.get(i).map(|v| render(&PARAMS[i], v))
    }

    fn num_of(&self, name: &str) -> i64 {
        let Some(i) = idx(name) else { return 0 };
        match self.values.read().get(i) {
            Some(Val::Num(n)) => *n,
            _ => 0,
        }
    }

    fn bool_of(&self, name: &str) -> bool {
        let Some(i) = idx(name) else { return false };
        matches!(self.values.read().get(i), Some(Val::Bool(true)))
    }

    fn dir(&self) -> PathBuf {
        let Some(i) = idx("dir") else {
            return PathBuf::from(".");
        };
        match self.values.read().get(i) {
            Some(Val::Dir(d)) => PathBuf::from(d),
            _ => PathBuf::from("."),
        }
    }

    pub fn databases(&self) -> usize {
        self.num_of("databases").max(1) as usize
    }

    pub fn port(&self) -> u16 {
        self.num_of("port").clamp(0, 65535) as u16
    }

    /// The bind addresses, without Redis's `-` ("optional") prefix.
    pub fn bind(&self) -> Vec<String> {
        let Some(i) = idx("bind") else {
            return Vec::new();
        };
        match self.values.read().get(i) {
            Some(Val::Bind(b)) => b
                .iter()
                .map(|s| s.trim_start_matches('-').to_string())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// `io-threads` (ferrocache runs that many shards and worker threads).
    pub fn threads(&self) -> usize {
        self.num_of("io-threads").max(1) as usize
    }

    pub fn requirepass(&self) -> Option<String> {
        self.hot.requirepass.read().clone()
    }

    /// Register the listener's re-bind hook for CONFIG SET port/bind.
    pub fn set_rebind_hook(&self, hook: RebindHook) {
        *self.rebind.lock() = Some(hook);
    }

    /// Apply the configuration to a freshly built node: engine tunables,
    /// working directory, pidfile, startup warnings.
    pub fn apply_all(&self, server: &Server) {
        self.apply_tunables(&server.keyspace.tunables);
        crate::notify::refresh(server);
        let dir = self.dir();
        if std::env::current_dir().ok().as_deref() != Some(dir.as_path()) {
            if let Err(e) = std::env::set_current_dir(&dir) {
                eprintln!(
                    "# WARNING: can't chdir to '{}': {}",
                    dir.display(),
                    strerror(&e)
                );
            }
        }
        if let Some(pidfile) = self.get("pidfile").filter(|p| !p.is_empty()) {
            if let Err(e) = std::fs::write(&pidfile, format!("{}\n", std::process::id())) {
                eprintln!(
                    "# WARNING: failed to write pidfile '{pidfile}': {}",
                    strerror(&e)
                );
            }
        }
        for w in &self.warnings {
            eprintln!("# {w}");
        }
    }

    /// Push the engine settings into `t`.
    pub fn apply_tunables(&self, t: &Tunables) {
        let n = |name: &str| self.num_of(name);
        let u32_of = |name: &str| n(name).clamp(0, i64::from(u32::MAX)) as u32;
        let usize_of = |name: &str| n(name).max(0) as usize;
        t.maxmemory.store(n("maxmemory") as u64, Ordering::Relaxed);
        if let Some(p) = self
            .get("maxmemory-policy")
            .and_then(|p| EvictionPolicy::from_name(&p))
        {
            t.set_policy(p);
        }
        t.maxmemory_samples
            .store(u32_of("maxmemory-samples"), Ordering::Relaxed);
        t.lfu_log_factor
            .store(u32_of("lfu-log-factor"), Ordering::Relaxed);
        t.lfu_decay_time
            .store(u32_of("lfu-decay-time"), Ordering::Relaxed);
        t.hash_max_listpack_entries
            .store(usize_of("hash-max-listpack-entries"), Ordering::Relaxed);
        t.hash_max_listpack_value
            .store(usize_of("hash-max-listpack-value"), Ordering::Relaxed);
        t.set_max_intset_entries
            .store(usize_of("set-max-intset-entries"), Ordering::Relaxed);
        t.zset_max_listpack_entries
            .store(usize_of("zset-max-listpack-entries"), Ordering::Relaxed);
        t.zset_max_listpack_value
            .store(usize_of("zset-max-listpack-value"), Ordering::Relaxed);
        t.list_max_listpack_size
            .store(n("list-max-listpack-size"), Ordering::Relaxed);
        t.list_compress_depth
            .store(usize_of("list-compress-depth"), Ordering::Relaxed);
        t.active_expire_effort
            .store(u32_of("active-expire-effort"), Ordering::Relaxed);
    }

    /// Recompute [`Hot`] from the values.
    fn refresh_hot(&self) {
        let h = &self.hot;
        let n = |name: &str| self.num_of(name);
        h.maxclients
            .store(n("maxclients") as u64, Ordering::Relaxed);
        h.timeout
            .store(n("timeout").max(0) as u64, Ordering::Relaxed);
        h.proto_max_bulk_len
            .store(n("proto-max-bulk-len"), Ordering::Relaxed);
        h.client_query_buffer_limit
            .store(n("client-query-buffer-limit") as u64, Ordering::Relaxed);
        h.hz.store(n("hz").clamp(1, 500) as u32, Ordering::Relaxed);
        h.slowlog_log_slower_than
            .store(n("slowlog-log-slower-than"), Ordering::Relaxed);
        h.slowlog_max_len
            .store(n("slowlog-max-len").max(0) as u64, Ordering::Relaxed);
        h.latency_monitor_threshold
            .store(n("latency-monitor-threshold"), Ordering::Relaxed);
        h.latency_tracking
            .store(self.bool_of("latency-tracking"), Ordering::Relaxed);
        let notify = idx("notify-keyspace-events")
            .and_then(|i| match self.values.read().get(i) {
                Some(Val::Notify(f)) => Some(*f),
                _ => None,
            })
            .unwrap_or(0);
        h.notify_keyspace_events.store(notify, Ordering::Relaxed);
        *h.requirepass.write() = self.get("requirepass").filter(|p| !p.is_empty());
        h.hll_sparse_max_bytes
            .store(n("hll-sparse-max-bytes").max(0) as u64, Ordering::Relaxed);
        let obuf = idx("client-output-buffer-limit")
            .and_then(|i| match self.values.read().get(i) {
                Some(Val::Obuf(o)) => Some(o[2]),
                _ => None,
            })
            .unwrap_or(OBUF_DEFAULTS[2]);
        h.obuf_pubsub_hard.store(obuf.0, Ordering::Relaxed);
        h.obuf_pubsub_soft.store(obuf.1, Ordering::Relaxed);
        h.obuf_pubsub_secs.store(obuf.2, Ordering::Relaxed);
        h.busy_poll_us
            .store(n("busy-poll-us").max(0) as u64, Ordering::Relaxed);
    }

    /// CONFIG GET: `(name, value)` pairs for every parameter matching one of
    /// `patterns`. A pattern without glob characters is an exact
    /// (case-insensitive) lookup that also finds hidden parameters and is
    /// reported with the name as given; patterns match primary names and
    /// aliases (case-insensitively) and skip hidden parameters.
    pub fn get_matching(&self, patterns: &[&[u8]]) -> Vec<(Vec<u8>, String)> {
        let vals = self.values.read();
        let mut seen: HashSet<String> = HashSet::new();
        let mut out = Vec::new();
        let reg = registry();
        for pat in patterns {
            if !pat.iter().any(|c| matches!(c, b'[' | b'*' | b'?')) {
                let Some((reg_name, i)) = lookup(pat) else {
                    continue;
                };
                if seen.insert(reg_name.to_string()) {
                    if let Some(v) = vals.get(i) {
                        out.push((pat.to_vec(), render(&PARAMS[i], v)));
                    }
                }
                continue;
            }
            for &(name, i) in &reg.entries {
                if PARAMS[i].flags & HIDDEN != 0 || seen.contains(name) {
                    continue;
                }
                if glob_match(pat, name.as_bytes(), true) {
                    seen.insert(name.to_string());
                    if let Some(v) = vals.get(i) {
                        out.push((name.as_bytes().to_vec(), render(&PARAMS[i], v)));
                    }
                }
            }
        }
        out
    }

    /// CONFIG SET with `(name, value)` pairs, atomically: every name is
    /// checked (unknown, immutable, protected, duplicate), then every value
    /// parsed, then the side effects checked; only then is anything changed.
    /// `local_client` decides `enable-protected-configs local`. The error is
    /// the complete Redis reply text.
    pub fn set_pairs(&self, pairs: &[(&[u8], &[u8])], local_client: bool) -> Result<(), String> {
        let protected_ok = match self.get("enable-protected-configs").as_deref() {
            Some("yes") => true,
            Some("local") => local_client,
            _ => false,
        };
        let _serial = self.set_lock.lock();
        // Phase 1: names.
        let mut found: Vec<(&'static str, usize)> = Vec::with_capacity(pairs.len());
        for (name, _) in pairs {
            let show = String::from_utf8_lossy(name);
            let Some((reg_name, i)) = lookup(name) else {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{show}'"
                ));
            };
            let p = &PARAMS[i];
            let fail = |why: &str| {
                Err(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{show}') - {why}"
                ))
            };
            if p.flags & IMMUTABLE != 0 {
                return fail("can't set immutable config");
            }
            if p.flags & PROTECTED != 0 && !protected_ok {
                return fail("can't set protected config");
            }
            if found.iter().any(|(n, _)| *n == reg_name) {
                return fail("duplicate parameter");
            }
            found.push((reg_name, i));
        }
        // Phase 2: values, against a working copy.
        let old: Vec<Val> = self.values.read().clone();
        let mut new = old.clone();
        let mut st = LoadState::default();
        for ((reg_name, i), (_, value)) in found.iter().zip(pairs) {
            let p = &PARAMS[*i];
            let value = String::from_utf8_lossy(value).into_owned();
            let args: Vec<String> = if p.flags & MULTI_ARG != 0 {
                if value.is_empty() {
                    Vec::new()
                } else {
                    value.split(' ').map(str::to_string).collect()
                }
            } else {
                vec![value]
            };
            match parse_value(p, &args, &new[*i], &mut st) {
                Ok(v) => new[*i] = v,
                Err(why) => {
                    return Err(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{reg_name}') - {why}"
                    ))
                }
            }
        }
        // Phase 3: side effects that may refuse the change.
        let changed = |name: &str| idx(name).is_some_and(|i| old.get(i) != new.get(i));
        let num = |name: &str| match idx(name).and_then(|i| new.get(i)) {
            Some(Val::Num(n)) => *n,
            _ => 0,
        };
        let flag = |name: &str| matches!(idx(name).and_then(|i| new.get(i)), Some(Val::Bool(true)));
        let tls_on = num("tls-port") != 0 || flag("tls-replication") || flag("tls-cluster");
        let mut rebind_needed = false;
        for (reg_name, i) in &found {
            let primary = PARAMS[*i].name;
            if !changed(primary) {
                continue;
            }
            let refuse = (primary == "tls-port") || (TLS_APPLY.contains(&primary) && tls_on);
            if refuse {
                return Err(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{reg_name}') - {TLS_ERR}"
                ));
            }
            if primary == "port" || primary == "bind" {
                rebind_needed = true;
            }
        }
        if rebind_needed {
            if let Some(hook) = self.rebind.lock().as_ref() {
                let port = num("port").clamp(0, 65535) as u16;
                let binds = match idx("bind").and_then(|i| new.get(i)) {
                    Some(Val::Bind(b)) => b.clone(),
                    _ => Vec::new(),
                };
                if hook(port, &binds).is_err() {
                    let (name, why) = if changed("port") {
                        ("port", "Unable to listen on this port. Check server logs.")
                    } else {
                        ("bind", "Failed to bind to specified addresses.")
                    };
                    let shown = found
                        .iter()
                        .find(|(_, i)| PARAMS[*i].name == name)
                        .map_or(name, |(n, _)| *n);
                    return Err(format!(
                        "ERR CONFIG SET failed (possibly related to argument '{shown}') - {why}"
                    ));
                }
            }
        }
        if changed("dir") {
            // Redis chdir()s to the new directory.
            if let Some(Val::Dir(d)) = idx("dir").and_then(|i| new.get(i)) {
                if let Err(e) = std::env::set_current_dir(d) {
                    return Err(format!(
                        "ERR CONFIG SET failed (possibly related to argument 'dir') - {}",
                        strerror(&e)
                    ));
                }
            }
        }
        // Commit.
        *self.values.write() = new;
        self.refresh_hot();
        Ok(())
    }

    /// Set one parameter as CONFIG SET would (for internal callers/tests).
    pub fn set(&self, name: &str, value: &str) -> Result<(), String> {
        self.set_pairs(&[(name.as_bytes(), value.as_bytes())], true)
    }

    /// CONFIG REWRITE: rewrite the startup file keeping comments, unknown
    /// lines and the order of known ones, replacing changed values and
    /// appending new ones after a `# Generated by CONFIG REWRITE` line.
    pub fn rewrite(&self) -> Result<(), String> {
        let Some(path) = self.config_file.as_deref() else {
            return Err("ERR The server is running without a config file".into());
        };
        let fail = |e: std::io::Error| format!("ERR Rewriting config file: {}", strerror(&e));
        let old = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(fail(e)),
        };
        let content = self.rewrite_content(&String::from_utf8_lossy(&old));
        write_atomically(path, content.as_bytes()).map_err(fail)
    }

    /// The new file content for [`Config::rewrite`], given the old one.
    fn rewrite_content(&self, old: &str) -> String {
        let mut st = RewriteState::read(old);
        let vals = self.values.read();
        for (i, p) in PARAMS.iter().enumerate() {
            if let Some(v) = vals.get(i) {
                rewrite_param(&mut st, p, v);
            }
        }
        st.remove_orphaned();
        st.content()
    }
}

/// Read a config file as text (lossy UTF-8, like `fgets` into an sds).
fn read_config_file(path: &Path) -> Result<String, ConfigError> {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .map_err(|e| ConfigError::Io {
            path: path.display().to_string(),
            source: e,
        })
}

/// The files an `include` names: one path, or (with `*?[` in the last
/// component) the sorted matches in its directory; no match is not an error.
fn expand_include(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let full = base.join(pattern);
    if !pattern.contains(['*', '?', '[']) {
        return vec![full];
    }
    let (Some(dir), Some(file)) = (full.parent(), full.file_name()) else {
        return Vec::new();
    };
    let pat = file.to_string_lossy().into_owned();
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    !n.starts_with('.') && glob_match(pat.as_bytes(), n.as_bytes(), false)
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// redis-server's `main()` turning `--name value...` flags into config
/// lines (values quoted with `sdscatrepr`).
fn options_from_flags(args: &[String]) -> String {
    let mut options = String::new();
    let mut handled_last = true;
    for (j, a) in args.iter().enumerate() {
        if handled_last && a.starts_with("--") {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(&a[2..]);
            options.push(' ');
            let words = split_args(a.as_bytes()).map_or(0, |v| v.len());
            if words == 1 {
                handled_last = false;
                let is_save = a.eq_ignore_ascii_case("--save");
                let next_is_option = args.get(j + 1).is_some_and(|n| n.starts_with("--"));
                if is_save && next_is_option {
                    options.push_str("\"\"");
                    handled_last = true;
                } else if is_save && j + 1 == args.len() {
                    options.push_str("\"\"");
                }
            } else {
                handled_last = true;
            }
        } else {
            options.push_str(&repr(a.as_bytes()));
            options.push(' ');
            handled_last = true;
        }
    }
    options
}

/// Write `content` to `path` through a temporary file and a rename, so a
/// crash never leaves a truncated config.
fn write_atomically(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = PathBuf::from(format!(
        "{}.{:06x}",
        path.display(),
        rand::random::<u32>() & 0xff_ffff
    ));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(content)?;
        f.sync_all()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        std::fs::rename(&tmp, path)
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

const REWRITE_SIGNATURE: &str = "# Generated by CONFIG REWRITE";

/// Redis's `rewriteConfigState`.
struct RewriteState {
    lines: Vec<String>,
    /// Option (lower case, "slave" spelled "replica") → its line numbers.
    option_to_line: HashMap<String, VecDeque<usize>>,
    rewritten: HashSet<String>,
    needs_signature: bool,
}

impl RewriteState {
    /// `rewriteConfigReadOldFile`.
    fn read(old: &str) -> RewriteState {
        let mut st = RewriteState {
            lines: Vec::new(),
            option_to_line: HashMap::new(),
            rewritten: HashSet::new(),
            needs_signature: true,
        };
        if old.is_empty() {
            return st;
        }
        for raw in old.split('\n') {
            let line = raw.trim_matches(['\r', '\n', '\t', ' ']).to_string();
            let linenum = st.lines.len();
            if line.is_empty() || line.starts_with('#') {
                if st.needs_signature && line == REWRITE_SIGNATURE {
                    st.needs_signature = false;
                }
                st.lines.push(line);
                continue;
            }
            let Some(argv) = split_args(line.as_bytes()) else {
                st.lines.push(format!("# ??? {line}"));
                continue;
            };
            let Some(first) = argv.first() else {
                st.lines.push(line);
                continue;
            };
            let mut opt = String::from_utf8_lossy(first).to_ascii_lowercase();
            if let Some(p) = opt.find("slave") {
                opt = format!("{}replica{}", &opt[..p], &opt[p + 5..]);
            }
            st.lines.push(line);
            st.option_to_line.entry(opt).or_default().push_back(linenum);
        }
        st
    }

    fn mark_processed(&mut self, option: &str) {
        self.rewritten.insert(option.to_string());
    }

    /// `rewriteConfigRewriteLine`.
    fn rewrite_line(&mut self, option: &str, line: String, force: bool) {
        self.mark_processed(option);
        let reuse = self
            .option_to_line
            .get_mut(option)
            .and_then(VecDeque::pop_front);
        if let Some(n) = reuse {
            if self
                .option_to_line
                .get(option)
                .is_some_and(VecDeque::is_empty)
            {
                self.option_to_line.remove(option);
            }
            if let Some(slot) = self.lines.get_mut(n) {
                *slot = line;
            }
            return;
        }
        if !force {
            return;
        }
        if self.needs_signature {
            self.lines.push(REWRITE_SIGNATURE.to_string());
            self.needs_signature = false;
        }
        self.lines.push(line);
    }

    /// `rewriteConfigRemoveOrphaned`: blank the unused lines of options the
    /// rewrite handled (duplicates, extra `save` lines…).
    fn remove_orphaned(&mut self) {
        for (opt, lines) in &self.option_to_line {
            if !self.rewritten.contains(opt) {
                continue;
            }
            for &n in lines {
                if let Some(l) = self.lines.get_mut(n) {
                    l.clear();
                }
            }
        }
    }

    /// `rewriteConfigGetContentFromState`: runs of empty lines collapse.
    fn content(&self) -> String {
        let mut out = String::new();
        let mut was_empty = false;
        for l in &self.lines {
            if l.is_empty() {
                if was_empty {
                    continue;
                }
                was_empty = true;
            } else {
                was_empty = false;
            }
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}

/// Write one parameter into the rewrite state as Redis's per-type rewrite
/// functions do.
fn rewrite_param(st: &mut RewriteState, p: &Param, v: &Val) {
    let name = p.name;
    match (&p.kind, v) {
        (Kind::Bool { default }, Val::Bool(b)) => {
            let line = format!("{name} {}", if *b { "yes" } else { "no" });
            st.rewrite_line(name, line, b != default);
        }
        (Kind::Num { fmt, default, .. }, Val::Num(n)) => {
            let line = match fmt {
                NumFormat::MemoryPercent if *n < 0 => format!("{name} {}%", n.unsigned_abs()),
                NumFormat::Memory | NumFormat::MemoryPercent => {
                    format!("{name} {}", format_memory(*n as u64))
                }
                NumFormat::Octal => format!("{name} {n:o}"),
                NumFormat::Integer => format!("{name} {n}"),
            };
            st.rewrite_line(name, line, n != default);
        }
        (Kind::Enum { names, default }, Val::Enum(e)) => {
            let line = format!("{name} {}", enum_name(names, *e, p.flags & MULTI_ARG != 0));
            st.rewrite_line(name, line, e != default);
        }
        (Kind::Str { default, .. }, Val::Str(s)) => match s {
            None => st.mark_processed(name),
            Some(s) => {
                let force = !matches!(default, Some(d) if *d == s.as_str());
                st.rewrite_line(name, format!("{name} {}", repr(s.as_bytes())), force);
            }
        },
        (_, Val::Dir(d)) => {
            st.rewrite_line(name, format!("{name} {}", repr(d.as_bytes())), true);
        }
        (_, Val::Save(list)) => {
            if list.is_empty() {
                st.rewrite_line(name, "save \"\"".into(), true);
            } else {
                for (s, c) in list {
                    st.rewrite_line(name, format!("save {s} {c}"), true);
                }
            }
            st.mark_processed(name);
        }
        (_, Val::Obuf(o)) => {
            for (j, (lim, def)) in o.iter().zip(OBUF_DEFAULTS).enumerate() {
                let class = if j == 1 { "replica" } else { OBUF_CLASSES[j] };
                let line = format!(
                    "{name} {class} {} {} {}",
                    format_memory(lim.0),
                    format_memory(lim.1),
                    lim.2
                );
                st.rewrite_line(name, line, *lim != def);
            }
        }
        (_, Val::Oom(o)) => {
            let line = format!("{name} {} {} {}", o[0], o[1], o[2]);
            st.rewrite_line(name, line, *o != OOM_DEFAULTS);
        }
        (_, Val::Notify(f)) => {
            let flags = keyspace_events_to_string(*f);
            st.rewrite_line(name, format!("{name} {}", repr(flags.as_bytes())), *f != 0);
        }
        (_, Val::Bind(b)) => {
            if *b == ["*", "-::*"] {
                st.mark_processed(name);
            } else if b.is_empty() {
                st.rewrite_line(name, format!("{name} \"\""), true);
            } else {
                st.rewrite_line(name, format!("{name} {}", b.join(" ")), true);
            }
        }
        (_, Val::ReplicaOf(r)) => match r {
            None => st.mark_processed(name),
            Some((h, port)) => st.rewrite_line(name, format!("{name} {h} {port}"), true),
        },
        (_, Val::Percentiles(v)) => {
            let mut line = name.to_string();
            if v.is_empty() {
                line.push_str(" \"\"");
            } else {
                for x in v {
                    line.push(' ');
                    line.push_str(&format_percentile(*x));
                }
            }
            st.rewrite_line(name, line, true);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn names_unique() {
        let mut seen = HashSet::new();
        for (n, _) in &registry().entries {
            assert!(seen.insert(*n), "duplicate {n}");
            assert_eq!(*n, n.to_ascii_lowercase());
        }
        // 192 visible names in redis-server 7.0.15's CONFIG GET *.
        let visible = registry()
            .entries
            .iter()
            .filter(|(_, i)| PARAMS[*i].flags & HIDDEN == 0)
            .count();
        assert_eq!(visible, 192);
    }

    #[test]
    fn memtoull_like_redis() {
        assert_eq!(memtoull(""), Some(0));
        assert_eq!(memtoull("kb"), Some(0));
        assert_eq!(memtoull("1k"), Some(1000));
        assert_eq!(memtoull("1KB"), Some(1024));
        assert_eq!(memtoull("1gB"), Some(1 << 30));
        assert_eq!(memtoull("01"), Some(1));
        assert_eq!(memtoull(" 1"), None);
        assert_eq!(memtoull("+1"), None);
        assert_eq!(memtoull("-1"), None);
        assert_eq!(memtoull("1.5gb"), None);
        assert_eq!(memtoull("18446744073709551616"), Some(u64::MAX));
        assert_eq!(
            memtoull("99999999999999999999gb"),
            Some(18446744072635809792)
        );
    }

    #[test]
    fn defaults_render() {
        let c = Config::default();
        assert_eq!(c.get("save").as_deref(), Some("3600 1 300 100 60 10000"));
        assert_eq!(
            c.get("client-output-buffer-limit").as_deref(),
            Some("normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60")
        );
        assert_eq!(
            c.get("latency-tracking-info-percentiles").as_deref(),
            Some("50 99 99.9")
        );
        assert_eq!(c.get("HASH-MAX-ZIPLIST-ENTRIES").as_deref(), Some("512"));
        assert_eq!(c.get("syslog-facility").as_deref(), Some("local0"));
        assert_eq!(c.get("unixsocketperm").as_deref(), Some("0"));
        assert_eq!(c.get("bind").as_deref(), Some("* -::*"));
        assert_eq!(c.bind(), vec!["*".to_string(), "::*".to_string()]);
        assert_eq!(c.get("nope"), None);
    }

    #[test]
    fn set_errors() {
        let c = Config::default();
        let e = |n: &str, v: &str| c.set(n, v).err().unwrap_or_default();
        assert_eq!(e("maxmemory", "abc"), "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value");
        assert_eq!(e("HZ", "abc"), "ERR CONFIG SET failed (possibly related to argument 'hz') - argument couldn't be parsed into an integer");
        assert_eq!(e("daemonize", "no"), "ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config");
        assert_eq!(
            e("foo", "1"),
            "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
        );
        assert_eq!(e("maxclients", "0"), "ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 4294967295 inclusive");
        assert_eq!(e("maxmemory-clients", "101%"), "ERR CONFIG SET failed (possibly related to argument 'maxmemory-clients') - percentage argument must be less or equal to 100");
        assert_eq!(e("shutdown-on-sigint", "save nosave"), "ERR CONFIG SET failed (possibly related to argument 'shutdown-on-sigint') - shutdown options SAVE and NOSAVE can't be used simultaneously");
        assert!(c.set("tls-port", "0").is_ok());
        assert!(c.set("tls-port", "1").is_err());
    }

    #[test]
    fn set_is_atomic_and_hot() {
        let c = Config::default();
        let pairs: [(&[u8], &[u8]); 2] = [(b"maxmemory", b"10mb"), (b"hz", b"x")];
        assert!(c.set_pairs(&pairs, true).is_err());
        assert_eq!(c.get("maxmemory").as_deref(), Some("0"));
        let pairs: [(&[u8], &[u8]); 3] = [
            (b"maxmemory", b"10mb"),
            (b"hz", b"1000"),
            (b"requirepass", b"pw"),
        ];
        assert!(c.set_pairs(&pairs, true).is_ok());
        assert_eq!(c.get("maxmemory").as_deref(), Some("10485760"));
        assert_eq!(c.get("hz").as_deref(), Some("500"));
        assert_eq!(c.hot().hz.load(Ordering::Relaxed), 500);
        assert_eq!(c.requirepass().as_deref(), Some("pw"));
        c.set("notify-keyspace-events", "KEA").ok();
        assert_eq!(c.get("notify-keyspace-events").as_deref(), Some("AKE"));
        c.set("shutdown-on-sigint", "now save").ok();
        assert_eq!(c.get("shutdown-on-sigint").as_deref(), Some("save now"));
        c.set("oom-score-adj", "relative").ok();
        assert_eq!(c.get("oom-score-adj").as_deref(), Some("yes"));
    }

    #[test]
    fn flags_to_options() {
        assert_eq!(
            options_from_flags(&args(&["--port", "7000", "--save", "--hz", "5"])),
            "port \"7000\" \nsave \"\"\nhz \"5\" "
        );
        assert_eq!(options_from_flags(&args(&["--save"])), "save \"\"");
        assert_eq!(
            options_from_flags(&args(&["--save", "60 1000", "--save", "30", "10"])),
            "save \"60 1000\" \nsave \"30\" \"10\" "
        );
    }

    #[test]
    fn startup_parsing() {
        let c = Config::from_args(&args(&[
            "--save",
            "60 1000",
            "--save",
            "30",
            "10",
            "--threads",
            "3",
        ]))
        .map_err(|e| e.to_string());
        let c = c.unwrap_or_default();
        assert_eq!(c.get("save").as_deref(), Some("60 1000 30 10"));
        assert_eq!(c.threads(), 3);
        let c = Config::from_args(&args(&["--save", "60", "1000", "--save", ""])).ok();
        assert_eq!(c.and_then(|c| c.get("save")).as_deref(), Some(""));
        let e = Config::from_args(&args(&["--port", "1", "--foo", "bar"]))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("at line 3"), "{e}");
        assert!(e.contains(">>> 'foo \"bar\"'"), "{e}");
        assert!(
            e.ends_with("Bad directive or wrong number of arguments"),
            "{e}"
        );
        let e = Config::from_args(&args(&["--hz"]))
            .err()
            .map(|e| e.to_string());
        assert!(e.unwrap_or_default().ends_with("wrong number of arguments"));
        let e = Config::from_args(&args(&["--unixsocketperm", "999"]))
            .err()
            .map(|e| e.to_string());
        assert!(e
            .unwrap_or_default()
            .ends_with("argument couldn't be parsed as an octal number"));
        let c = Config::from_args(&args(&["--hz", "0"])).ok();
        assert_eq!(c.and_then(|c| c.get("hz")).as_deref(), Some("1"));
    }

    #[test]
    fn rewrite_keeps_structure() {
        let c = Config::default();
        c.set("maxmemory", "10mb").ok();
        c.set("save", "").ok();
        c.set("notify-keyspace-events", "KEA").ok();
        c.set("requirepass", "a b\"c").ok();
        let old = "# comment\nhz 10\nsave 5 5\ninclude /x.conf\nsave 6 6\nslave-read-only yes\nmaxmemory 1gb\n";
        let out = c.rewrite_content(old);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "# comment");
        assert_eq!(lines[1], "hz 10");
        assert_eq!(lines[2], "save \"\"");
        assert_eq!(lines[3], "include /x.conf");
        assert_eq!(lines[4], "");
        assert_eq!(lines[5], "replica-read-only yes");
        assert_eq!(lines[6], "maxmemory 10mb");
        assert!(out.contains("\n# Generated by CONFIG REWRITE\n"));
        assert!(out.contains("\nrequirepass \"a b\\\"c\"\n"));
        assert!(out.contains("\nnotify-keyspace-events \"AKE\"\n"));
        assert!(out.contains("\nlatency-tracking-info-percentiles 50 99 99.9\n"));
        assert!(!out.contains("\nbind "));
    }

    #[test]
    fn proc_title_templates() {
        assert!(check_proc_title_template("{title} {listen-addr} {server-mode}").is_ok());
        assert!(check_proc_title_template("{title}").is_err());
        assert!(check_proc_title_template("{bad}").is_err());
        assert!(check_proc_title_template("x {{").is_ok());
        assert!(check_proc_title_template("{").is_err());
    }
}
