//! Metering and metrics. Usage: every node's life is a record (start, end)
//! written in the same transaction that creates or removes the node, so
//! node-hours survive restarts; reports cut them by day and price them
//! from the catalog. Metrics: each node's INFO / `stats` mapped to
//! ElastiCache's CloudWatch metric names, on a Prometheus endpoint.

use crate::controller::App;
use crate::model::{node_type, Cluster, Usage};
use crate::store::Kind;
use crate::util::{form_decode, iso8601, now_ms, parse_iso8601};
use std::collections::BTreeMap;
use std::fmt::Write;

/// One line of a usage report: a resource's node-hours on one UTC day.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UsageLine {
    pub resource: String,
    pub day: String,
    pub node_type: String,
    pub node_hours: f64,
    pub cost_usd: f64,
}

/// Node-hours per resource, day and node type within [from, to).
pub fn usage_report(records: &[Usage], from: u64, to: u64, now: u64) -> Vec<UsageLine> {
    const DAY: u64 = 86_400_000;
    let mut by: BTreeMap<(String, String, String), f64> = BTreeMap::new();
    for u in records {
        let end = if u.end_ms == 0 { now } else { u.end_ms };
        let (s, e) = (u.start_ms.max(from), end.min(to));
        let mut t = s;
        while t < e {
            let day_end = (t / DAY + 1) * DAY;
            let upto = day_end.min(e);
            let day = iso8601(t).get(..10).unwrap_or("").to_string();
            *by.entry((u.resource.clone(), day, u.node_type.clone()))
                .or_default() += (upto - t) as f64 / 3_600_000.0;
            t = upto;
        }
    }
    by.into_iter()
        .map(|((resource, day, nt), hours)| UsageLine {
            cost_usd: hours * node_type(&nt).map(|t| t.hourly_usd).unwrap_or(0.0),
            resource,
            day,
            node_type: nt,
            node_hours: hours,
        })
        .collect()
}

pub fn usage_json(app: &App, from: u64, to: u64) -> anyhow::Result<String> {
    let recs: Vec<Usage> = app
        .store
        .list::<Usage>(Kind::Usage)?
        .into_iter()
        .map(|(_, u)| u)
        .collect();
    let lines = usage_report(&recs, from, to, now_ms());
    let hours: f64 = lines.iter().map(|l| l.node_hours).sum();
    let cost: f64 = lines.iter().map(|l| l.cost_usd).sum();
    Ok(serde_json::json!({
        "from": iso8601(from),
        "to": iso8601(to),
        "total_node_hours": hours,
        "total_cost_usd": cost,
        "lines": lines,
    })
    .to_string())
}

/// `GET /usage?from=…&to=…` (ISO 8601; default: the last 24 hours).
/// Local admin token or nothing: billing data stays on the machine.
pub fn usage_endpoint(
    app: &App,
    url: &str,
    headers: &[(String, String)],
    loopback: bool,
) -> Result<String, (u16, String)> {
    let ok = loopback
        && headers
            .iter()
            .any(|(n, v)| n == "x-ferrocache-admin-token" && *v == app.admin_token);
    if !ok {
        return Err((403, "forbidden: needs the local admin token\n".into()));
    }
    let q: BTreeMap<String, String> = form_decode(url.split_once('?').map(|x| x.1).unwrap_or(""))
        .into_iter()
        .collect();
    let now = now_ms();
    let get = |k: &str, d: u64| -> Result<u64, (u16, String)> {
        match q.get(k) {
            None => Ok(d),
            Some(v) => parse_iso8601(v).ok_or((400, format!("bad {k}: {v}\n"))),
        }
    };
    let to = get("to", now)?;
    let from = get("from", to.saturating_sub(86_400_000))?;
    usage_json(app, from, to).map_err(|e| (500, format!("{e:#}")))
}

/// Parses `key:value` lines (redis INFO) or `STAT key value` (memcached).
fn kv(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for l in text.lines() {
        let l = l.trim_end_matches('\r');
        if let Some(rest) = l.strip_prefix("STAT ") {
            if let Some((k, v)) = rest.split_once(' ') {
                m.insert(k.to_string(), v.to_string());
            }
        } else if let Some((k, v)) = l.split_once(':') {
            m.insert(k.to_string(), v.to_string());
        }
    }
    m
}

/// CloudWatch metric name → value for one node.
pub fn node_metrics(
    app: &App,
    engine: &str,
    port: u16,
    max_bytes: u64,
) -> Vec<(&'static str, f64)> {
    let f = |m: &BTreeMap<String, String>, k: &str| {
        m.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
    };
    if engine == "redis" {
        let Ok(r) = app.prov.admin("redis", port, &["INFO", "everything"]) else {
            return vec![];
        };
        let m = kv(&crate::provision::resp_text(&r).unwrap_or_default());
        let items: f64 = m
            .iter()
            .filter(|(k, _)| k.starts_with("db"))
            .filter_map(|(_, v)| {
                v.split(',')
                    .next()?
                    .strip_prefix("keys=")?
                    .parse::<f64>()
                    .ok()
            })
            .sum();
        let cmds = |prefixes: &[&str]| -> f64 {
            m.iter()
                .filter(|(k, _)| {
                    prefixes
                        .iter()
                        .any(|p| k.as_str() == format!("cmdstat_{p}"))
                })
                .filter_map(|(_, v)| {
                    v.split(',')
                        .next()?
                        .strip_prefix("calls=")?
                        .parse::<f64>()
                        .ok()
                })
                .sum()
        };
        let used = f(&m, "used_memory");
        vec![
            (
                "CPUUtilization",
                f(&m, "used_cpu_sys") + f(&m, "used_cpu_user"),
            ),
            ("CurrConnections", f(&m, "connected_clients")),
            ("NewConnections", f(&m, "total_connections_received")),
            ("CacheHits", f(&m, "keyspace_hits")),
            ("CacheMisses", f(&m, "keyspace_misses")),
            ("Evictions", f(&m, "evicted_keys")),
            ("CurrItems", items),
            ("BytesUsedForCache", used),
            (
                "DatabaseMemoryUsagePercentage",
                if max_bytes > 0 {
                    used * 100.0 / max_bytes as f64
                } else {
                    0.0
                },
            ),
            ("NetworkBytesIn", f(&m, "total_net_input_bytes")),
            ("NetworkBytesOut", f(&m, "total_net_output_bytes")),
            (
                "GetTypeCmds",
                cmds(&["get", "mget", "getex", "getrange", "strlen"]),
            ),
            (
                "SetTypeCmds",
                cmds(&[
                    "set", "mset", "setex", "psetex", "setnx", "setrange", "append", "incr",
                    "decr", "incrby", "decrby",
                ]),
            ),
        ]
    } else {
        let Ok(r) = app.prov.admin("memcached", port, &["stats"]) else {
            return vec![];
        };
        let m = kv(&String::from_utf8_lossy(&r));
        let bytes = f(&m, "bytes");
        let limit = f(&m, "limit_maxbytes");
        vec![
            (
                "CPUUtilization",
                f(&m, "rusage_user") + f(&m, "rusage_system"),
            ),
            ("CurrConnections", f(&m, "curr_connections")),
            ("NewConnections", f(&m, "total_connections")),
            ("CacheHits", f(&m, "get_hits")),
            ("CacheMisses", f(&m, "get_misses")),
            ("Evictions", f(&m, "evictions")),
            ("CurrItems", f(&m, "curr_items")),
            ("BytesUsedForCache", bytes),
            (
                "DatabaseMemoryUsagePercentage",
                if limit > 0.0 {
                    bytes * 100.0 / limit
                } else {
                    0.0
                },
            ),
            ("NetworkBytesIn", f(&m, "bytes_read")),
            ("NetworkBytesOut", f(&m, "bytes_written")),
            ("GetTypeCmds", f(&m, "cmd_get")),
            ("SetTypeCmds", f(&m, "cmd_set")),
        ]
    }
}

/// Metrics that CloudWatch reports per period (deltas of node counters);
/// the others are gauges.
const COUNTERS: &[&str] = &[
    "NewConnections",
    "CacheHits",
    "CacheMisses",
    "Evictions",
    "NetworkBytesIn",
    "NetworkBytesOut",
    "GetTypeCmds",
    "SetTypeCmds",
];

/// One scrape of one node, in CloudWatch terms.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Sample {
    pub t_ms: u64,
    pub values: BTreeMap<&'static str, f64>,
}

/// (cache cluster id, cache node id)
type NodeKey = (String, String);
/// The raw counters of a node's last scrape, with its time.
type RawScrape = (u64, Vec<(&'static str, f64)>);
/// Per cluster: per period slot, the summed values and how many nodes.
type ClusterSlots = BTreeMap<String, BTreeMap<u64, (BTreeMap<&'static str, f64>, u32)>>;

/// Recent samples per (cluster, node): an hour at the scrape interval.
#[derive(Default)]
pub struct Metrics {
    series: parking_lot::Mutex<BTreeMap<(String, String), std::collections::VecDeque<Sample>>>,
    /// The previous raw counters per node (CPU seconds, counters).
    last_raw: parking_lot::Mutex<BTreeMap<NodeKey, RawScrape>>,
}

pub const SCRAPE_EVERY_MS: u64 = 5_000;
const KEEP: usize = 720;

impl Metrics {
    /// Scrapes every available node once.
    pub fn scrape(&self, app: &App) {
        let clusters: Vec<Cluster> = app
            .store
            .list::<Cluster>(Kind::Cluster)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        let mut live = std::collections::BTreeSet::new();
        for c in &clusters {
            let max = node_type(&c.node_type)
                .map(|t| crate::model::cache_bytes(t, 25))
                .unwrap_or(0);
            for n in c.nodes.iter().filter(|n| n.status == "available") {
                let key = (c.id.clone(), n.id.clone());
                live.insert(key.clone());
                let raw = node_metrics(app, &c.engine, n.port, max);
                if raw.is_empty() {
                    continue;
                }
                let now = now_ms();
                let prev = self.last_raw.lock().insert(key.clone(), (now, raw.clone()));
                let mut values = BTreeMap::new();
                for (name, v) in &raw {
                    let p = prev
                        .as_ref()
                        .and_then(|(_, pv)| pv.iter().find(|(n, _)| n == name).map(|x| x.1));
                    let dt = prev
                        .as_ref()
                        .map(|(t, _)| now.saturating_sub(*t) as f64 / 1000.0)
                        .unwrap_or(0.0);
                    let value = if *name == "CPUUtilization" {
                        match p {
                            Some(p) if dt > 0.0 => ((v - p).max(0.0) / dt * 100.0).min(100.0),
                            _ => 0.0,
                        }
                    } else if COUNTERS.contains(name) {
                        p.map(|p| (v - p).max(0.0)).unwrap_or(0.0)
                    } else {
                        *v
                    };
                    values.insert(*name, value);
                }
                if let Some(cpu) = values.get("CPUUtilization").copied() {
                    // One worker thread per node: the engine's CPU is the node's.
                    values.insert("EngineCPUUtilization", cpu);
                }
                let mut series = self.series.lock();
                let q = series.entry(key).or_default();
                q.push_back(Sample { t_ms: now, values });
                while q.len() > KEEP {
                    q.pop_front();
                }
            }
        }
        self.series.lock().retain(|k, _| live.contains(k));
        self.last_raw.lock().retain(|k, _| live.contains(k));
    }

    /// JSON time series: per node, and per cluster (sum; average for
    /// percentages), optionally for one cluster.
    pub fn json(&self, cluster: Option<&str>) -> String {
        let series = self.series.lock();
        let mut nodes = Vec::new();
        let mut per_cluster: ClusterSlots = BTreeMap::new();
        for ((c, n), q) in series.iter() {
            if cluster.is_some_and(|x| x != c) {
                continue;
            }
            nodes.push(serde_json::json!({"CacheClusterId": c, "CacheNodeId": n, "samples": q}));
            for s in q {
                // Align to the scrape period so nodes add up.
                let slot = s.t_ms / SCRAPE_EVERY_MS * SCRAPE_EVERY_MS;
                let e = per_cluster
                    .entry(c.clone())
                    .or_default()
                    .entry(slot)
                    .or_default();
                for (k, v) in &s.values {
                    *e.0.entry(k).or_default() += v;
                }
                e.1 += 1;
            }
        }
        let clusters: Vec<_> = per_cluster
            .into_iter()
            .map(|(c, slots)| {
                let samples: Vec<_> = slots
                    .into_iter()
                    .map(|(t, (mut vals, n))| {
                        for (k, v) in vals.iter_mut() {
                            if k.contains("Utilization") || k.contains("Percentage") {
                                *v /= n.max(1) as f64;
                            }
                        }
                        serde_json::json!({"t_ms": t, "values": vals})
                    })
                    .collect();
                serde_json::json!({"CacheClusterId": c, "samples": samples})
            })
            .collect();
        serde_json::json!({"period_seconds": SCRAPE_EVERY_MS / 1000, "clusters": clusters, "nodes": nodes}).to_string()
    }

    /// Prometheus text exposition of every node's latest sample.
    pub fn prometheus(&self) -> String {
        let series = self.series.lock();
        let mut by_metric: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
        for ((c, n), q) in series.iter() {
            let Some(s) = q.back() else { continue };
            for (name, v) in &s.values {
                by_metric.entry(name).or_default().push(format!(
                    "elasticache_{name}{{cache_cluster_id=\"{c}\",cache_node_id=\"{n}\"}} {v}"
                ));
            }
        }
        let mut out = String::new();
        for (name, lines) in by_metric {
            let _ = writeln!(out, "# TYPE elasticache_{name} gauge");
            for l in lines {
                let _ = writeln!(out, "{l}");
            }
        }
        out
    }

    /// The scraper thread.
    pub fn run(app: std::sync::Arc<App>) {
        loop {
            app.metrics.scrape(&app);
            std::thread::sleep(std::time::Duration::from_millis(SCRAPE_EVERY_MS));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_split_by_day() {
        let day = 86_400_000;
        let recs = vec![Usage {
            resource: "web".into(),
            node: "0001".into(),
            node_type: "cache.t4g.micro".into(),
            start_ms: day - 3_600_000,
            end_ms: day + 7_200_000,
        }];
        let r = usage_report(&recs, 0, 10 * day, 20 * day);
        assert_eq!(r.len(), 2);
        assert!((r[0].node_hours - 1.0).abs() < 1e-9 && (r[1].node_hours - 2.0).abs() < 1e-9);
        assert!((r[1].cost_usd - 0.032).abs() < 1e-9);
    }
}
