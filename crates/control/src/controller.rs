//! The level-triggered controller: every tick it compares each resource's
//! desired state (the store) with what it observes (processes, ports,
//! replies) and takes the next step towards the desired state. Steps are
//! idempotent and recorded in the store before and after they happen, so a
//! control plane killed at any point converges again after restart: nodes
//! still running are re-adopted by their directory (their identity token,
//! part of their command line), missing ones are started, half-deleted
//! resources finish deleting.

use crate::forward::Forwarders;
use crate::model::*;
use crate::provision::{NodeSpec, Provisioner};
use crate::store::{Kind, Store, Txn};
use crate::util::{now_ms, random_string};
use anyhow::{anyhow, Result};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The control plane's shared state.
pub struct App {
    pub store: Store,
    pub prov: Arc<dyn Provisioner>,
    pub fwd: Forwarders,
    /// Where snapshot files are kept (a directory or an S3 bucket).
    pub backups: Box<dyn crate::backup::BackupStore>,
    pub data_dir: PathBuf,
    pub port_range: (u16, u16),
    pub region: String,
    pub account: String,
    /// Loopback-only admin token (in data-dir/admin.token): lets the local
    /// CLI manage access keys without holding one.
    pub admin_token: String,
    /// Scraped node metrics (in memory: the last hour).
    pub metrics: crate::metrics::Metrics,
    /// Controller passes so far (housekeeping runs every few hundred).
    pub ticks: std::sync::atomic::AtomicU64,
    /// Milliseconds added to the wall clock for the schedules (automatic
    /// snapshots, maintenance windows). Only `serve --test-clock` lets the
    /// loopback admin endpoint move it; otherwise it stays 0.
    pub clock_offset_ms: std::sync::atomic::AtomicI64,
    pub test_clock: bool,
}

/// Events are kept 14 days, as ElastiCache does.
const EVENT_KEEP_MS: u64 = 14 * 86_400_000;

/// A node that was up and fails this many health checks in a row (alive
/// but not answering) is restarted.
const HUNG_TICKS: u32 = 5;

/// A process start that spins this long without answering is restarted.
const START_GRACE_MS: u64 = 30_000;

/// What a tick observed about one node.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Health {
    Up,
    Starting,
    Down,
}

impl App {
    /// The schedules' clock: the wall clock plus the test offset.
    pub fn now(&self) -> u64 {
        let off = self
            .clock_offset_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        now_ms().saturating_add_signed(off)
    }

    pub fn arn(&self, kind: &str, id: &str) -> String {
        format!(
            "arn:aws:elasticache:{}:{}:{kind}:{id}",
            self.region, self.account
        )
    }

    /// Records an event (in the caller's transaction).
    pub fn event(
        &self,
        t: &Txn<'_>,
        source_id: &str,
        source_type: &str,
        message: &str,
    ) -> Result<()> {
        let seq = t.next_seq("event_seq")?;
        let now = now_ms();
        t.put(
            Kind::Event,
            &format!("{now:013}-{seq:010}"),
            &Event {
                source_id: source_id.into(),
                source_type: source_type.into(),
                message: message.into(),
                date_ms: now,
            },
        )
    }

    /// A free port of the range: not held by any resource and bindable.
    pub fn alloc_port(&self, t: &Txn<'_>) -> Result<u16> {
        let mut used = std::collections::HashSet::new();
        for (_, c) in t.list::<Cluster>(Kind::Cluster)? {
            used.extend(c.nodes.iter().map(|n| n.port));
            used.extend(c.config_port);
        }
        for (_, g) in t.list::<ReplicationGroup>(Kind::ReplicationGroup)? {
            used.insert(g.primary_port);
        }
        let (lo, hi) = self.port_range;
        let span = (hi - lo) as u64 + 1;
        let cursor = t.get::<u64>(Kind::Meta, "port_cursor")?.unwrap_or(0);
        for i in 0..span {
            let port = lo + ((cursor + i) % span) as u16;
            if used.contains(&port) || self.fwd.ports().contains(&port) {
                continue;
            }
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                t.put(Kind::Meta, "port_cursor", &((cursor + i + 1) % span))?;
                return Ok(port);
            }
        }
        Err(anyhow!("no free port in {lo}-{hi}"))
    }

    /// How node `n` of `c` is started.
    pub fn spec(&self, t: &Txn<'_>, c: &Cluster, n: &Node) -> Result<NodeSpec> {
        let group: Option<ParamGroup> = t.get(Kind::ParamGroup, &c.param_group)?;
        let family = family_of(&c.engine);
        let reserved = param_value(group.as_ref(), family, "reserved-memory-percent")
            .and_then(|v| v.parse().ok())
            .unwrap_or(25);
        let nt = node_type(&c.node_type).ok_or_else(|| anyhow!("unknown node type"))?;
        let mut args = Vec::new();
        for (k, v) in group.iter().flat_map(|g| g.values.iter()) {
            if k == "reserved-memory-percent" {
                continue;
            }
            if c.engine == "redis" {
                args.push(format!("--{k}"));
                args.push(v.clone());
            } else {
                match (k.as_str(), v.as_str()) {
                    ("cas_disabled", "1") => args.push("-C".into()),
                    ("disable_flush_all", "1") => args.push("-F".into()),
                    ("chunk_size", v) => args.extend(["-n".into(), v.into()]),
                    ("chunk_size_growth_factor", v) => args.extend(["-f".into(), v.into()]),
                    ("max_item_size", v) => args.extend(["-I".into(), v.into()]),
                    ("max_simultaneous_connections", v) => args.extend(["-c".into(), v.into()]),
                    _ => {}
                }
            }
        }
        if let Some(k) = &c.at_rest_key {
            args.push("--snapshot-encryption-key-file".into());
            args.push(
                crate::keys::key_path(self, k)
                    .to_string_lossy()
                    .into_owned(),
            );
        }
        Ok(NodeSpec {
            engine: c.engine.clone(),
            port: n.port,
            dir: PathBuf::from(&n.dir),
            cache_bytes: cache_bytes(nt, reserved),
            args,
        })
    }

    /// The requires-reboot parameter values a node of `c` starts with now.
    fn started_with(
        &self,
        t: &Txn<'_>,
        c: &Cluster,
    ) -> Result<std::collections::BTreeMap<String, String>> {
        let group: Option<ParamGroup> = t.get(Kind::ParamGroup, &c.param_group)?;
        Ok(reboot_values(group.as_ref(), family_of(&c.engine)))
    }

    /// A new node record for `c` (not started yet: the controller does).
    pub fn new_node(&self, t: &Txn<'_>, c: &mut Cluster) -> Result<Node> {
        c.next_node += 1;
        let id = format!("{:04}", c.next_node);
        let port = self.alloc_port(t)?;
        let token = random_string(b"abcdefghijklmnopqrstuvwxyz0123456789", 8);
        let dir = self
            .data_dir
            .join("nodes")
            .join(format!("{}-{id}-{token}", c.id));
        let now = now_ms();
        t.put(
            Kind::Usage,
            &format!("{}/{id}/{now:013}", c.id),
            &Usage {
                resource: c.id.clone(),
                node: id.clone(),
                node_type: c.node_type.clone(),
                start_ms: now,
                end_ms: 0,
            },
        )?;
        Ok(Node {
            id,
            status: "creating".into(),
            port,
            pid: None,
            dir: dir.to_string_lossy().into_owned(),
            created_ms: now,
            spawned_ms: 0,
            seen_up: false,
            param_status: "in-sync".into(),
            reason: String::new(),
            misses: 0,
            started_params: Default::default(),
        })
    }

    /// Ends the usage record of a node.
    fn end_usage(&self, t: &Txn<'_>, cluster: &str, node: &str) -> Result<()> {
        let now = now_ms();
        for (k, mut u) in t.list::<Usage>(Kind::Usage)? {
            if u.resource == cluster && u.node == node && u.end_ms == 0 {
                u.end_ms = now;
                t.put(Kind::Usage, &k, &u)?;
            }
        }
        Ok(())
    }

    fn health(&self, engine: &str, n: &Node) -> Health {
        let Some(pid) = n.pid else {
            return Health::Down;
        };
        if !self.prov.alive(pid, std::path::Path::new(&n.dir)) {
            return Health::Down;
        }
        let (cmd, want): (&[&str], &[u8]) = if engine == "redis" {
            (&["PING"], b"+PONG")
        } else {
            (&["version"], b"VERSION")
        };
        match self.prov.admin(engine, n.port, cmd) {
            Ok(r) if r.starts_with(want) => Health::Up,
            _ => Health::Starting,
        }
    }

    /// One pass over every resource.
    pub fn tick(&self) -> Result<()> {
        let n = self
            .ticks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n.is_multiple_of(200) {
            let cutoff = now_ms().saturating_sub(EVENT_KEEP_MS);
            self.store.write(|t| {
                for (k, e) in t.list::<Event>(Kind::Event)? {
                    if e.date_ms < cutoff {
                        t.delete(Kind::Event, &k)?;
                    }
                }
                crate::keys::collect(self, t)
            })?;
        }
        for (id, c) in self.store.list::<Cluster>(Kind::Cluster)? {
            if let Err(e) = self.reconcile_cluster(&id, &c) {
                eprintln!("controller: cluster {id}: {e:#}");
            }
        }
        if let Err(e) = crate::snapshots::reconcile(self) {
            eprintln!("controller: snapshots: {e:#}");
        }
        for (id, _) in self
            .store
            .list::<ReplicationGroup>(Kind::ReplicationGroup)?
        {
            if let Err(e) = self.reconcile_group(&id) {
                eprintln!("controller: replication group {id}: {e:#}");
            }
        }
        Ok(())
    }

    fn reconcile_cluster(&self, id: &str, seen: &Cluster) -> Result<()> {
        // Observe outside the transaction: admin round trips must not
        // hold up the API.
        let health: HashMap<String, Health> = seen
            .nodes
            .iter()
            .map(|n| (n.dir.clone(), self.health(&seen.engine, n)))
            .collect();
        let c = self.store.write(|t| {
            let Some(mut c) = t.get::<Cluster>(Kind::Cluster, id)? else {
                return Ok(None);
            };
            let before = serde_json::to_string(&c)?;
            if c.status == "deleting" {
                if let Some(f) = &c.final_snapshot {
                    let s = t.get::<Snapshot>(Kind::Snapshot, f)?;
                    if s.is_some_and(|s| s.status == "creating") {
                        return Ok(None); // the nodes stay up until it is done
                    }
                }
                // Automatic snapshots go with their cluster (manual and
                // final ones stay).
                for (k, s) in t.list::<Snapshot>(Kind::Snapshot)? {
                    if s.cluster_id == c.id && s.source_kind == "automatic" {
                        crate::snapshots::remove_file(self, &s);
                        t.delete(Kind::Snapshot, &k)?;
                    }
                }
                for n in std::mem::take(&mut c.nodes) {
                    self.prov.destroy(n.pid, std::path::Path::new(&n.dir))?;
                    self.end_usage(t, &c.id, &n.id)?;
                }
                if let Some(p) = c.config_port {
                    self.fwd.remove(p);
                }
                t.delete(Kind::Cluster, id)?;
                t.delete(Kind::Tags, &self.arn("cluster", id))?;
                self.event(t, id, "cache-cluster", "Cache cluster deleted")?;
                return Ok(None);
            }
            // Modifications deferred to the maintenance window.
            if c.status == "available"
                && c.deferred.is_some()
                && in_maintenance_window(&c.maintenance_window, self.now())
            {
                if let Some(d) = c.deferred.take() {
                    if let Some(n) = d.num_nodes {
                        c.num_nodes = n;
                    }
                    c.pending_remove = d.remove;
                    c.status = "modifying".into();
                    self.event(
                        t,
                        id,
                        "cache-cluster",
                        "Applying pending modifications in the maintenance window",
                    )?;
                }
            }
            // Removals asked for.
            let mut removed = Vec::new();
            for rid in std::mem::take(&mut c.pending_remove) {
                if let Some(i) = c.nodes.iter().position(|n| n.id == rid) {
                    let n = c.nodes.remove(i);
                    self.prov.destroy(n.pid, std::path::Path::new(&n.dir))?;
                    self.end_usage(t, &c.id, &n.id)?;
                    removed.push(rid);
                }
            }
            if !removed.is_empty() {
                let msg = format!("Removed cache nodes {}", removed.join(", "));
                self.event(t, id, "cache-cluster", &msg)?;
            }
            // Additions needed.
            while (c.nodes.len() as u32) < c.num_nodes {
                let n = self.new_node(t, &mut c)?;
                c.nodes.push(n);
            }
            let reboots = std::mem::take(&mut c.pending_reboot);
            let now = now_ms();
            for i in 0..c.nodes.len() {
                let n = c.nodes[i].clone();
                let dir = PathBuf::from(&n.dir);
                let mut n2 = n.clone();
                let h = health.get(&n.dir).copied().unwrap_or(Health::Down);
                if reboots.contains(&n.id) {
                    let spec = self.spec(t, &c, &n)?;
                    n2.started_params = self.started_with(t, &c)?;
                    n2.param_status = "in-sync".into();
                    n2.pid = Some(self.prov.restart(n.pid, &spec)?);
                    n2.spawned_ms = now;
                    n2.status = "rebooting".into();
                    n2.reason = "reboot".into();
                    n2.seen_up = false;
                } else if h == Health::Down {
                    // Maybe running but not recorded (killed between spawn
                    // and commit, or pid not yet observed): adopt it.
                    let alive = n.pid.is_some_and(|p| self.prov.alive(p, &dir));
                    if !alive {
                        if let Some(pid) = self.prov.find(&dir) {
                            n2.pid = Some(pid);
                            n2.spawned_ms = now;
                        } else {
                            if n.status == "available" {
                                n2.status = "rebooting".into();
                                n2.reason = "recover".into();
                                self.event(
                                    t,
                                    id,
                                    "cache-cluster",
                                    &format!("Recovering cache nodes {}", n.id),
                                )?;
                            }
                            if c.snapshot_name.is_some() && n.spawned_ms == 0 {
                                self.seed_from_snapshot(t, &c, &dir)?;
                            }
                            let spec = self.spec(t, &c, &n)?;
                            n2.started_params = self.started_with(t, &c)?;
                            n2.param_status = "in-sync".into();
                            n2.pid = Some(self.prov.create(&spec)?);
                            n2.spawned_ms = now;
                            n2.seen_up = false;
                        }
                    }
                } else if h == Health::Starting {
                    // Alive but not answering: hung (after it was up, a few
                    // ticks in a row, so one slow reply is no failure) or
                    // stuck starting.
                    n2.misses = n.misses + 1;
                    let hung = n.seen_up && n2.misses >= HUNG_TICKS;
                    let stuck = !n.seen_up && now.saturating_sub(n.spawned_ms) > START_GRACE_MS;
                    if hung || stuck {
                        if n.status == "available" {
                            n2.status = "rebooting".into();
                            n2.reason = "recover".into();
                            let msg = format!("Recovering cache nodes {}", n.id);
                            self.event(t, id, "cache-cluster", &msg)?;
                        }
                        let spec = self.spec(t, &c, &n)?;
                        n2.started_params = self.started_with(t, &c)?;
                        n2.param_status = "in-sync".into();
                        n2.pid = Some(self.prov.restart(n.pid, &spec)?);
                        n2.spawned_ms = now;
                        n2.seen_up = false;
                        n2.misses = 0;
                    }
                } else if h == Health::Up && n.misses > 0 {
                    n2.misses = 0;
                }
                if h == Health::Up && n.status != "available" && !reboots.contains(&n.id) {
                    if n.status == "rebooting" {
                        let msg = if n.reason == "reboot" {
                            format!("Cache node {} restarted", n.id)
                        } else {
                            format!("Finished recovery for cache nodes {}", n.id)
                        };
                        self.event(t, id, "cache-cluster", &msg)?;
                    }
                    n2.status = "available".into();
                    n2.seen_up = true;
                }
                c.nodes[i] = n2;
            }
            let all_up = c.nodes.iter().all(|n| n.status == "available")
                && c.nodes.len() as u32 == c.num_nodes;
            if all_up && c.status != "available" && c.status != "snapshotting" {
                let msg = match c.status.as_str() {
                    "creating" => "Cache cluster created".to_string(),
                    "rebooting cache cluster nodes" => "Cache cluster rebooted".to_string(),
                    _ => "Cache cluster modified".to_string(),
                };
                if c.status == "creating" {
                    c.snapshot_name = None;
                }
                c.status = "available".into();
                self.event(t, id, "cache-cluster", &msg)?;
            }
            if c.param_apply == "pending-reboot"
                && c.nodes.iter().all(|n| n.param_status == "in-sync")
            {
                c.param_apply = "in-sync".into();
            }
            if serde_json::to_string(&c)? != before {
                t.put(Kind::Cluster, id, &c)?;
            }
            Ok(Some(c))
        })?;
        if let Some(c) = c {
            if c.engine == "memcached" {
                self.discovery(&c)?;
            }
        }
        Ok(())
    }

    /// Copies the restore snapshot's RDB file into a new node's directory.
    fn seed_from_snapshot(&self, t: &Txn<'_>, c: &Cluster, dir: &std::path::Path) -> Result<()> {
        let Some(name) = &c.snapshot_name else {
            return Ok(());
        };
        // A snapshot of the store, or (SnapshotArns) an uploaded RDB file.
        // Either way the node's copy is encrypted with the node's key (or
        // plain when the cluster has no at-rest encryption).
        std::fs::create_dir_all(dir)?;
        let dst = dir.join("dump.rdb");
        match t.get::<Snapshot>(Kind::Snapshot, name)? {
            Some(s) => crate::snapshots::fetch(self, &s, &dst, c.at_rest_key.as_deref()),
            None => {
                let file = name.strip_prefix("file://").unwrap_or(name);
                crate::keys::transcode(
                    self,
                    std::path::Path::new(file),
                    None,
                    &dst,
                    c.at_rest_key.as_deref(),
                )
            }
        }
    }

    /// Memcached Auto Discovery: decide the node list, push it to every
    /// node so all agree on the same version, and point the configuration
    /// endpoint at the first node up.
    fn discovery(&self, c: &Cluster) -> Result<()> {
        let up: Vec<&Node> = c.nodes.iter().filter(|n| n.status == "available").collect();
        let list = up
            .iter()
            .map(|n| format!("127.0.0.1|127.0.0.1|{}", n.port))
            .collect::<Vec<_>>()
            .join(" ");
        let mut observed = Vec::new();
        for n in &up {
            let Ok(r) = self
                .prov
                .admin("memcached", n.port, &["config get cluster"])
            else {
                continue;
            };
            let text = String::from_utf8_lossy(&r);
            let mut lines = text.split("\r\n").nth(1).unwrap_or("").split('\n');
            let v: u64 = lines.next().unwrap_or("0").parse().unwrap_or(0);
            let nodes = lines.next().unwrap_or("").to_string();
            observed.push((n.port, v, nodes));
        }
        let mut target = c
            .config_version
            .max(observed.iter().map(|o| o.1).max().unwrap_or(0));
        let changed = list != c.config_nodes;
        if changed || observed.iter().any(|o| o.1 == target && o.2 != list) {
            target += 1;
        }
        for (port, v, _) in &observed {
            for _ in *v..target {
                let cmd = format!("config set cluster 0 {}\r\n{list}", list.len());
                self.prov.admin("memcached", *port, &[&cmd])?;
            }
        }
        if target != c.config_version || changed {
            self.store.write(|t| {
                if let Some(mut c2) = t.get::<Cluster>(Kind::Cluster, &c.id)? {
                    c2.config_version = target;
                    c2.config_nodes = list.clone();
                    t.put(Kind::Cluster, &c.id, &c2)?;
                }
                Ok(())
            })?;
        }
        if let Some(p) = c.config_port {
            let target = up.first().map(|n| self.prov.address(n.port));
            self.fwd.ensure(p, target)?;
        }
        Ok(())
    }

    fn reconcile_group(&self, id: &str) -> Result<()> {
        self.store.write(|t| {
            let Some(mut g) = t.get::<ReplicationGroup>(Kind::ReplicationGroup, id)? else {
                return Ok(());
            };
            let before = serde_json::to_string(&g)?;
            let members: Vec<Cluster> = g
                .member_clusters
                .iter()
                .filter_map(|m| t.get::<Cluster>(Kind::Cluster, m).ok().flatten())
                .collect();
            if g.status == "deleting" {
                for mut m in members.clone() {
                    if m.status != "deleting" {
                        m.status = "deleting".into();
                        t.put(Kind::Cluster, &m.id, &m)?;
                    }
                }
                if members.is_empty() {
                    self.fwd.remove(g.primary_port);
                    t.delete(Kind::ReplicationGroup, id)?;
                    t.delete(Kind::Tags, &self.arn("replicationgroup", id))?;
                    let msg = format!("Replication group {id} deleted");
                    self.event(t, id, "replication-group", &msg)?;
                }
                return Ok(());
            }
            let primary = members
                .first()
                .and_then(|m| m.nodes.first())
                .filter(|n| n.status == "available")
                .map(|n| self.prov.address(n.port));
            self.fwd.ensure(g.primary_port, primary)?;
            let member_status = members
                .first()
                .map(|m| m.status.clone())
                .unwrap_or_default();
            if member_status == "available" && g.status != "available" {
                if g.status == "creating" {
                    let msg = format!("Replication group {id} created");
                    self.event(t, id, "replication-group", &msg)?;
                }
                g.status = "available".into();
            } else if member_status == "snapshotting" {
                g.status = "snapshotting".into();
            }
            if serde_json::to_string(&g)? != before {
                t.put(Kind::ReplicationGroup, id, &g)?;
            }
            Ok(())
        })
    }

    /// The controller thread: a tick every 300 ms, forever.
    pub fn run(self: Arc<Self>) {
        loop {
            if let Err(e) = self.tick() {
                eprintln!("controller: {e:#}");
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }
}

/// Is `now_ms` inside a weekly window `ddd:hh:mm-ddd:hh:mm` (UTC)?
pub fn in_maintenance_window(window: &str, now_ms: u64) -> bool {
    let Some((a, b)) = parse_maintenance_window(window) else {
        return false;
    };
    let days = now_ms / 86_400_000;
    // 1970-01-01 was a Thursday; Sunday is day 0.
    let dow = (days + 4) % 7;
    let m = dow * 1440 + (now_ms / 60_000) % 1440;
    if a <= b {
        (a..b).contains(&m)
    } else {
        m >= a || m < b
    }
}

/// `ddd:hh:mm-ddd:hh:mm` as minutes of the week (Sunday 00:00 = 0).
pub fn parse_maintenance_window(w: &str) -> Option<(u64, u64)> {
    let (a, b) = w.split_once('-')?;
    let one = |s: &str| -> Option<u64> {
        let mut it = s.split(':');
        let (d, h, m) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || h.len() != 2 || m.len() != 2 {
            return None;
        }
        let day = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
            .iter()
            .position(|x| x.eq_ignore_ascii_case(d))? as u64;
        let (h, m): (u64, u64) = (h.parse().ok()?, m.parse().ok()?);
        (h < 24 && m < 60).then_some(day * 1440 + h * 60 + m)
    };
    Some((one(a)?, one(b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maintenance_windows() {
        assert_eq!(
            parse_maintenance_window("sun:23:00-mon:01:30"),
            Some((1380, 1530))
        );
        assert_eq!(parse_maintenance_window("sun:23:00"), None);
        assert_eq!(parse_maintenance_window("xyz:23:00-mon:01:30"), None);
        // 2026-11-27 is a Friday; 03:40 UTC.
        let t = crate::util::parse_iso8601("2026-11-27T03:40:00.000Z").unwrap_or(0);
        assert!(in_maintenance_window("fri:03:00-fri:04:00", t));
        assert!(!in_maintenance_window("fri:04:00-fri:05:00", t));
        assert!(in_maintenance_window("sat:23:00-fri:04:00", t));
        assert!(!in_maintenance_window("sat:23:00-fri:03:00", t));
    }
}
