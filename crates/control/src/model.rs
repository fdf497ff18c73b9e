//! Resources as stored (JSON in the metadata store) and the static catalogs:
//! node types, engine versions, engine default parameters.

use serde::{Deserialize, Serialize};

/// One cache node (one process).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default)]
pub struct Node {
    /// `0001`, `0002`, … within its cluster.
    pub id: String,
    /// creating | available | rebooting | restarting | deleting
    pub status: String,
    pub port: u16,
    pub pid: Option<u32>,
    /// The node's own directory (data, log, token). Unique per node
    /// incarnation, so it doubles as the token that re-identifies the
    /// process after a control-plane restart (it is in the command line).
    pub dir: String,
    pub created_ms: u64,
    /// When the current process was spawned (startup grace).
    pub spawned_ms: u64,
    /// The node answered at least once since its last spawn.
    pub seen_up: bool,
    /// in-sync | pending-reboot
    pub param_status: String,
    /// Why the node is `rebooting`: "reboot" (asked) or "recover" (died).
    pub reason: String,
    /// Consecutive failed health checks while the process is alive.
    pub misses: u32,
    /// The requires-reboot parameters the running process was started
    /// with (a group change differing from these is pending-reboot).
    pub started_params: std::collections::BTreeMap<String, String>,
}

/// A cache cluster (memcached: 1–40 nodes; redis: one node).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default)]
pub struct Cluster {
    pub id: String,
    pub engine: String,
    pub engine_version: String,
    pub node_type: String,
    /// Desired node count.
    pub num_nodes: u32,
    /// creating | available | modifying | rebooting cache cluster nodes |
    /// snapshotting | deleting | create-failed
    pub status: String,
    pub nodes: Vec<Node>,
    pub next_node: u32,
    /// Node ids asked to be removed, not yet gone.
    pub pending_remove: Vec<String>,
    /// Node ids asked to be rebooted, not yet done.
    pub pending_reboot: Vec<String>,
    pub param_group: String,
    /// in-sync | applying | pending-reboot
    pub param_apply: String,
    pub created_ms: u64,
    pub replication_group: Option<String>,
    /// Restore source on creation (a snapshot name), consumed once used.
    pub snapshot_name: Option<String>,
    /// Memcached: the configuration endpoint's port (a forwarder).
    pub config_port: Option<u16>,
    /// Memcached Auto Discovery: the node list last decided and its version.
    pub config_nodes: String,
    pub config_version: u64,
    pub snapshot_retention: u32,
    pub snapshot_window: String,
    pub maintenance_window: String,
    pub az: String,
    /// At-rest encryption: the name of the service-held key the node's
    /// snapshots are encrypted with (see `crate::keys`).
    pub at_rest_key: Option<String>,
    /// DeleteCacheCluster/DeleteReplicationGroup with a final snapshot:
    /// the nodes stay up until this snapshot has finished.
    pub final_snapshot: Option<String>,
    /// Modifications asked with ApplyImmediately=false, applied in the
    /// next maintenance window (reported in PendingModifiedValues).
    pub deferred: Option<Deferred>,
}

/// Changes waiting for the maintenance window.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(default)]
pub struct Deferred {
    pub num_nodes: Option<u32>,
    pub remove: Vec<String>,
    pub param_group: Option<String>,
}

/// A replication group: one shard, one primary (for now), whose primary
/// endpoint is a forwarder owned by the control plane.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default)]
pub struct ReplicationGroup {
    pub id: String,
    pub description: String,
    pub status: String,
    pub member_clusters: Vec<String>,
    pub primary_port: u16,
    pub node_type: String,
    pub created_ms: u64,
    pub snapshot_retention: u32,
    pub snapshot_window: String,
    pub at_rest_encryption: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default)]
pub struct ParamGroup {
    pub name: String,
    pub family: String,
    pub description: String,
    /// User-set values (name → value); everything else is the default.
    pub values: std::collections::BTreeMap<String, String>,
    pub system: bool,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default)]
pub struct Event {
    pub source_id: String,
    pub source_type: String,
    pub message: String,
    pub date_ms: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default)]
pub struct Snapshot {
    pub name: String,
    pub status: String,
    pub source: String,
    pub cluster_id: String,
    pub rg_id: Option<String>,
    pub engine: String,
    pub engine_version: String,
    pub node_type: String,
    pub param_group: String,
    pub created_ms: u64,
    /// The RDB file in the backup store.
    pub file: String,
    /// "manual" | "automatic"
    pub source_kind: String,
    /// When BGSAVE was sent (0: not yet).
    pub started_ms: u64,
    pub size: u64,
    pub node_created_ms: u64,
    pub rg_description: String,
    /// The service-held key the file is encrypted with (None: plain RDB).
    pub key: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
    pub created_ms: u64,
    pub active: bool,
}

/// One node's life for metering: from start to delete (end 0 = running).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(default)]
pub struct Usage {
    pub resource: String,
    pub node: String,
    pub node_type: String,
    pub start_ms: u64,
    pub end_ms: u64,
}

/// A node type of the catalog.
pub struct NodeType {
    pub name: &'static str,
    pub memory_gib: f64,
    pub vcpus: u32,
    pub hourly_usd: f64,
}

/// ElastiCache node types (memory and on-demand price as in us-east-1).
pub const NODE_TYPES: &[NodeType] = &[
    NodeType {
        name: "cache.t4g.micro",
        memory_gib: 0.5,
        vcpus: 2,
        hourly_usd: 0.016,
    },
    NodeType {
        name: "cache.t4g.small",
        memory_gib: 1.37,
        vcpus: 2,
        hourly_usd: 0.032,
    },
    NodeType {
        name: "cache.t4g.medium",
        memory_gib: 3.09,
        vcpus: 2,
        hourly_usd: 0.065,
    },
    NodeType {
        name: "cache.t3.micro",
        memory_gib: 0.5,
        vcpus: 2,
        hourly_usd: 0.017,
    },
    NodeType {
        name: "cache.t3.small",
        memory_gib: 1.37,
        vcpus: 2,
        hourly_usd: 0.034,
    },
    NodeType {
        name: "cache.t3.medium",
        memory_gib: 3.09,
        vcpus: 2,
        hourly_usd: 0.068,
    },
    NodeType {
        name: "cache.m6g.large",
        memory_gib: 6.38,
        vcpus: 2,
        hourly_usd: 0.149,
    },
    NodeType {
        name: "cache.m7g.large",
        memory_gib: 6.38,
        vcpus: 2,
        hourly_usd: 0.158,
    },
    NodeType {
        name: "cache.m7g.xlarge",
        memory_gib: 12.93,
        vcpus: 4,
        hourly_usd: 0.315,
    },
    NodeType {
        name: "cache.r6g.large",
        memory_gib: 13.07,
        vcpus: 2,
        hourly_usd: 0.206,
    },
    NodeType {
        name: "cache.r7g.large",
        memory_gib: 13.07,
        vcpus: 2,
        hourly_usd: 0.219,
    },
    NodeType {
        name: "cache.r7g.xlarge",
        memory_gib: 26.32,
        vcpus: 4,
        hourly_usd: 0.437,
    },
];

pub fn node_type(name: &str) -> Option<&'static NodeType> {
    NODE_TYPES.iter().find(|t| t.name == name)
}

/// (engine, version, family, engine description, version description)
pub const ENGINE_VERSIONS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "memcached",
        "1.6.22",
        "memcached1.6",
        "memcached",
        "memcached version 1.6.22",
    ),
    ("redis", "7.0", "redis7", "Redis", "redis version 7.0"),
];

/// The engine version stored for a requested one, or None if unsupported.
pub fn resolve_version(engine: &str, requested: Option<&str>) -> Option<&'static str> {
    let v = ENGINE_VERSIONS.iter().find(|e| e.0 == engine)?;
    match requested {
        None => Some(v.1),
        Some(r) if engine == "redis" && (r == "7.0" || r == "7" || r.starts_with("7.0.")) => {
            Some(v.1)
        }
        Some(r) if engine == "memcached" && (r == "1.6" || r.starts_with("1.6.")) => Some(v.1),
        Some(_) => None,
    }
}

pub fn family_of(engine: &str) -> &'static str {
    if engine == "redis" {
        "redis7"
    } else {
        "memcached1.6"
    }
}

pub fn default_group_of(engine: &str) -> &'static str {
    if engine == "redis" {
        "default.redis7"
    } else {
        "default.memcached1.6"
    }
}

/// An engine parameter: what ElastiCache shows and how it applies.
pub struct ParamDef {
    pub name: &'static str,
    pub default: &'static str,
    pub data_type: &'static str,
    pub allowed: &'static str,
    pub modifiable: bool,
    /// "immediate" (CONFIG SET on running nodes) or "requires-reboot".
    pub change: &'static str,
    pub description: &'static str,
}

const fn p(
    name: &'static str,
    default: &'static str,
    data_type: &'static str,
    allowed: &'static str,
    modifiable: bool,
    change: &'static str,
    description: &'static str,
) -> ParamDef {
    ParamDef {
        name,
        default,
        data_type,
        allowed,
        modifiable,
        change,
        description,
    }
}

pub const REDIS7_PARAMS: &[ParamDef] = &[
    p("activedefrag", "no", "string", "yes,no", true, "immediate", "Enabled active memory defragmentation"),
    p("databases", "16", "integer", "1-1200000", true, "requires-reboot", "Set the number of databases."),
    p("hash-max-listpack-entries", "128", "integer", "0-", true, "immediate", "The maximum number of hash entries in order for the dataset to be compressed."),
    p("lfu-decay-time", "1", "integer", "0-", true, "immediate", "The amount of time in minutes to decrement the key counter for LFU eviction policy"),
    p("lfu-log-factor", "10", "integer", "1-", true, "immediate", "The log factor for incrementing key counter for LFU eviction policy"),
    p("maxclients", "65000", "integer", "1-65000", false, "requires-reboot", "The maximum number of Redis clients."),
    p("maxmemory-policy", "volatile-lru", "string", "volatile-lru,allkeys-lru,volatile-lfu,allkeys-lfu,volatile-random,allkeys-random,volatile-ttl,noeviction", true, "immediate", "Max memory policy."),
    p("maxmemory-samples", "3", "integer", "1-", true, "immediate", "Max memory samples."),
    p("notify-keyspace-events", "", "string", "", true, "immediate", "The keyspace events for Redis to notify Pub/Sub clients about. By default all notifications are disabled"),
    p("reserved-memory-percent", "25", "integer", "0-100", true, "immediate", "The percent of memory to reserve for non-cache memory usage. You may want to increase this parameter for nodes with read replicas, AOF enabled, etc, to reduce swap usage."),
    p("set-max-intset-entries", "512", "integer", "0-", true, "immediate", "The limit in the size of the set in order for the dataset to be compressed."),
    p("slowlog-log-slower-than", "10000", "integer", "0-", true, "immediate", "The execution time, in microseconds, to exceed in order for the command to get logged."),
    p("slowlog-max-len", "128", "integer", "0-", true, "immediate", "The length of the slow log. There is no limit to this length. Just be aware that it will consume memory."),
    p("tcp-keepalive", "300", "integer", "0-", true, "immediate", "If non-zero, send ACKs every given number of seconds."),
    p("timeout", "0", "integer", "0,20-", true, "immediate", "Close connection if client is idle for a given number of seconds, or never if 0."),
    p("zset-max-listpack-entries", "128", "integer", "0-", true, "immediate", "The maximum number of sorted set entries in order for the dataset to be compressed."),
];

pub const MEMCACHED_PARAMS: &[ParamDef] = &[
    p(
        "cas_disabled",
        "0",
        "boolean",
        "0,1",
        true,
        "requires-reboot",
        "If enabled, disable the use of compare-and-swap (CAS) (-C).",
    ),
    p(
        "chunk_size",
        "48",
        "integer",
        "1-",
        true,
        "requires-reboot",
        "Minimum space, in bytes, to allocate for the smallest item's key, value, and flags (-n).",
    ),
    p(
        "chunk_size_growth_factor",
        "1.25",
        "float",
        "1-2",
        true,
        "requires-reboot",
        "The growth factor that controls the size of each successive memcached chunk (-f).",
    ),
    p(
        "disable_flush_all",
        "0",
        "boolean",
        "0,1",
        true,
        "requires-reboot",
        "Disable flush_all (-F).",
    ),
    p(
        "max_item_size",
        "1048576",
        "integer",
        "1048576-134217728",
        true,
        "requires-reboot",
        "The size, in bytes, of the largest item that can be stored in the cache (-I).",
    ),
    p(
        "max_simultaneous_connections",
        "65000",
        "integer",
        "3-65000",
        false,
        "requires-reboot",
        "The maximum number of simultaneous connections (-c).",
    ),
    p(
        "reserved-memory-percent",
        "25",
        "integer",
        "0-100",
        true,
        "requires-reboot",
        "The percent of memory to reserve for non-cache memory usage.",
    ),
];

pub fn params_of(family: &str) -> Option<&'static [ParamDef]> {
    match family {
        "redis7" => Some(REDIS7_PARAMS),
        "memcached1.6" => Some(MEMCACHED_PARAMS),
        _ => None,
    }
}

/// Checks `value` against a parameter's type and allowed values.
pub fn validate_param(def: &ParamDef, value: &str) -> bool {
    match def.data_type {
        "integer" | "float" | "boolean" => {
            let Ok(v) = value.parse::<f64>() else {
                return false;
            };
            if def.data_type != "float" && value.parse::<i64>().is_err() {
                return false;
            }
            def.allowed.split(',').any(|r| match r.split_once('-') {
                Some((lo, hi)) => {
                    lo.parse::<f64>().map(|l| v >= l).unwrap_or(true)
                        && (hi.is_empty() || hi.parse::<f64>().map(|h| v <= h).unwrap_or(true))
                }
                None => r.parse::<f64>().map(|x| x == v).unwrap_or(false),
            })
        }
        _ => def.allowed.is_empty() || def.allowed.split(',').any(|a| a == value),
    }
}

/// The effective value of `name` in `group` (user value or default).
pub fn param_value(group: Option<&ParamGroup>, family: &str, name: &str) -> Option<String> {
    if let Some(v) = group.and_then(|g| g.values.get(name)) {
        return Some(v.clone());
    }
    params_of(family)?
        .iter()
        .find(|d| d.name == name)
        .map(|d| d.default.to_string())
}

/// The effective values of a family's requires-reboot parameters.
pub fn reboot_values(
    group: Option<&ParamGroup>,
    family: &str,
) -> std::collections::BTreeMap<String, String> {
    params_of(family)
        .unwrap_or(&[])
        .iter()
        .filter(|d| d.change == "requires-reboot" && d.modifiable)
        .map(|d| {
            let v = group
                .and_then(|g| g.values.get(d.name))
                .map(String::as_str)
                .unwrap_or(d.default);
            (d.name.to_string(), v.to_string())
        })
        .collect()
}

/// Does node `n` run with other requires-reboot values than `want`?
pub fn differs(n: &Node, want: &std::collections::BTreeMap<String, String>, family: &str) -> bool {
    let defs = params_of(family).unwrap_or(&[]);
    want.iter().any(|(k, v)| {
        let started = n
            .started_params
            .get(k)
            .map(String::as_str)
            .or_else(|| defs.iter().find(|d| d.name == k).map(|d| d.default));
        started != Some(v.as_str())
    })
}

/// Bytes of cache memory for a node type and reserved-memory-percent.
pub fn cache_bytes(node_type: &NodeType, reserved_percent: u64) -> u64 {
    let total = node_type.memory_gib * 1024.0 * 1024.0 * 1024.0;
    (total * (100 - reserved_percent.min(100)) as f64 / 100.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_validate() {
        let d = REDIS7_PARAMS
            .iter()
            .find(|d| d.name == "maxmemory-policy")
            .unwrap();
        assert!(validate_param(d, "allkeys-lru"));
        assert!(!validate_param(d, "bogus"));
        let t = REDIS7_PARAMS.iter().find(|d| d.name == "timeout").unwrap();
        assert!(validate_param(t, "0") && validate_param(t, "30"));
        assert!(!validate_param(t, "5") && !validate_param(t, "x"));
        assert_eq!(resolve_version("redis", Some("7.0.15")), Some("7.0"));
        assert_eq!(resolve_version("redis", Some("6.2")), None);
        let nt = node_type("cache.t4g.micro").unwrap();
        assert_eq!(cache_bytes(nt, 25), 402_653_184);
    }
}
