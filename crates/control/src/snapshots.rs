//! Redis snapshots: CreateSnapshot records the request; the controller
//! sends BGSAVE through the node's admin connection, waits for it to
//! finish (INFO persistence), and copies the node's RDB file into the
//! backup store ([`crate::backup::BackupStore`]: data-dir/backups, or an
//! S3 bucket). Restores copy it into a new node's directory before its
//! first start (the node loads `dump.rdb`), re-encrypted for the new node
//! when keys differ ([`crate::keys`]). CopySnapshot copies within the store
//! or, with TargetBucket, exports a plain RDB file to that directory.
//! Automatic snapshots are taken once a day in the snapshot window, named
//! `automatic.<cluster>-YYYY-MM-DD-HH-MM`, and kept for
//! SnapshotRetentionLimit days (deleted with their cluster).

use crate::api::*;
use crate::controller::App;
use crate::model::*;
use crate::store::{Kind, Txn};
use crate::util::*;
use std::path::PathBuf;

/// A scratch directory for transfers through local files.
pub fn scratch_dir(app: &App) -> PathBuf {
    app.data_dir.join("scratch")
}

/// Removes a snapshot's object from the backup store (errors logged).
pub fn remove_file(app: &App, s: &Snapshot) {
    if let Err(e) = app.backups.delete(&s.file) {
        eprintln!("backup store: cannot delete {}: {e:#}", s.file);
    }
}

/// Writes snapshot `s` to the local file `dst`, encrypted with `dst_key`
/// (or plain).
pub fn fetch(
    app: &App,
    s: &Snapshot,
    dst: &std::path::Path,
    dst_key: Option<&str>,
) -> anyhow::Result<()> {
    if s.key.as_deref() == dst_key {
        return app.backups.get(&s.file, dst);
    }
    let scratch = scratch_dir(app);
    std::fs::create_dir_all(&scratch)?;
    let tmp = scratch.join(format!(
        ".fetch-{}-{}",
        s.name,
        random_string(b"abcdef0123456789", 8)
    ));
    let r = app
        .backups
        .get(&s.file, &tmp)
        .and_then(|_| crate::keys::transcode(app, &tmp, s.key.as_deref(), dst, dst_key));
    std::fs::remove_file(&tmp).ok();
    r
}

pub fn snapshot_xml(app: &App, x: &mut Xml, s: &Snapshot) {
    x.open("Snapshot").leaf("SnapshotName", &s.name);
    if let Some(g) = &s.rg_id {
        x.leaf("ReplicationGroupId", g)
            .leaf("ReplicationGroupDescription", &s.rg_description);
    }
    x.leaf("CacheClusterId", &s.cluster_id)
        .leaf("SnapshotStatus", &s.status)
        // ElastiCache's words: automated | manual.
        .leaf(
            "SnapshotSource",
            if s.source_kind == "automatic" {
                "automated"
            } else {
                &s.source_kind
            },
        )
        .leaf("CacheNodeType", &s.node_type)
        .leaf("Engine", &s.engine)
        .leaf("EngineVersion", &s.engine_version)
        .leaf("NumCacheNodes", 1)
        .leaf("CacheClusterCreateTime", iso8601(s.node_created_ms))
        .leaf("Port", 6379)
        .leaf("CacheParameterGroupName", &s.param_group)
        .leaf("CacheSubnetGroupName", "default")
        .leaf("AutoMinorVersionUpgrade", "true")
        .leaf("NumNodeGroups", 1)
        .leaf("AutomaticFailover", "disabled")
        .open("NodeSnapshots")
        .open("NodeSnapshot")
        .leaf("CacheClusterId", &s.cluster_id)
        .leaf("NodeGroupId", "0001")
        .leaf("CacheNodeId", "0001")
        .leaf("CacheSize", format!("{} MB", s.size.div_ceil(1024 * 1024)))
        .leaf("CacheNodeCreateTime", iso8601(s.node_created_ms))
        .leaf("SnapshotCreateTime", iso8601(s.created_ms))
        .close("NodeSnapshot")
        .close("NodeSnapshots")
        .leaf("ARN", app.arn("snapshot", &s.name))
        .close("Snapshot");
}

fn not_found(name: &str) -> ApiError {
    err(
        404,
        "SnapshotNotFoundFault",
        format!("Snapshot {name} not found."),
    )
}

/// Records a snapshot of `cluster` (status creating) and marks the cluster
/// (and its group) snapshotting. Used by the API and the daily schedule.
pub fn start(
    app: &App,
    t: &Txn<'_>,
    name: &str,
    cluster_id: &str,
    source: &str,
) -> anyhow::Result<R<Snapshot>> {
    if t.get::<Snapshot>(Kind::Snapshot, name)?.is_some() {
        return Ok(Err(err(
            400,
            "SnapshotAlreadyExistsFault",
            format!("Snapshot {name} already exists."),
        )));
    }
    let Some(mut c) = t.get::<Cluster>(Kind::Cluster, cluster_id)? else {
        return Ok(Err(not_found_cluster(cluster_id)));
    };
    if c.engine != "redis" {
        return Ok(Err(err(400, "SnapshotFeatureNotSupportedFault", format!("This cache cluster ({cluster_id}) does not support snapshots: memcached has no persistence."))));
    }
    if c.status != "available" {
        return Ok(Err(err(
            400,
            "InvalidCacheClusterState",
            format!(
                "Cache cluster {cluster_id} is not in available state (it is {}).",
                c.status
            ),
        )));
    }
    let g = match &c.replication_group {
        Some(g) => t.get::<ReplicationGroup>(Kind::ReplicationGroup, g)?,
        None => None,
    };
    let s = Snapshot {
        name: name.into(),
        status: "creating".into(),
        source: cluster_id.into(),
        cluster_id: cluster_id.into(),
        rg_id: c.replication_group.clone(),
        rg_description: g
            .as_ref()
            .map(|g| g.description.clone())
            .unwrap_or_default(),
        engine: c.engine.clone(),
        engine_version: c.engine_version.clone(),
        node_type: c.node_type.clone(),
        param_group: c.param_group.clone(),
        created_ms: app.now(),
        file: format!("{name}.rdb"),
        key: c.at_rest_key.clone(),
        source_kind: source.into(),
        started_ms: 0,
        size: 0,
        node_created_ms: c
            .nodes
            .first()
            .map(|n| n.created_ms)
            .unwrap_or(c.created_ms),
    };
    t.put(Kind::Snapshot, name, &s)?;
    c.status = "snapshotting".into();
    t.put(Kind::Cluster, cluster_id, &c)?;
    if let Some(mut g) = g {
        g.status = "snapshotting".into();
        t.put(Kind::ReplicationGroup, &g.id, &g)?;
    }
    app.event(
        t,
        cluster_id,
        "cache-cluster",
        &format!("Snapshot {name} creation started"),
    )?;
    Ok(Ok(s))
}

pub fn create(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let name = p.req("SnapshotName")?.to_string();
    let cluster = match (p.get("CacheClusterId"), p.get("ReplicationGroupId")) {
        (Some(c), None) => c.to_ascii_lowercase(),
        (None, Some(g)) => {
            let g = g.to_ascii_lowercase();
            let grp = app
                .store
                .get::<ReplicationGroup>(Kind::ReplicationGroup, &g)?
                .ok_or_else(|| not_found_group(&g))?;
            grp.member_clusters.first().cloned().unwrap_or_default()
        }
        _ => {
            return Err(combination(
                "Exactly one of CacheClusterId and ReplicationGroupId must be given.",
            ))
        }
    };
    let s = app
        .store
        .write(|t| start(app, t, &name, &cluster, "manual"))??;
    apply_tags(app, &app.arn("snapshot", &name), &p.tags())?;
    snapshot_xml(app, x, &s);
    Ok(())
}

pub fn describe(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let mut all = app.store.list::<Snapshot>(Kind::Snapshot)?;
    if let Some(n) = p.get("SnapshotName") {
        all.retain(|(k, _)| k == n);
        if all.is_empty() {
            return Err(not_found(n));
        }
    }
    if let Some(c) = p.get("CacheClusterId") {
        all.retain(|(_, s)| s.cluster_id == c);
    }
    if let Some(g) = p.get("ReplicationGroupId") {
        all.retain(|(_, s)| s.rg_id.as_deref() == Some(g));
    }
    // The filter says system (automatic backups) or user (manual ones).
    if let Some(src) = p.get("SnapshotSource") {
        let kind = match src {
            "system" => "automatic",
            "user" => "manual",
            _ => {
                return Err(invalid(format!(
                    "Invalid SnapshotSource: {src}. Valid values are system and user."
                )))
            }
        };
        all.retain(|(_, s)| s.source_kind == kind);
    }
    let (items, marker) = page(&all, p)?;
    x.opt("Marker", marker);
    x.open("Snapshots");
    for s in &items {
        snapshot_xml(app, x, s);
    }
    x.close("Snapshots");
    Ok(())
}

pub fn delete(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let name = p.req("SnapshotName")?.to_string();
    let mut s = app.store.write(|t| {
        let Some(s) = t.get::<Snapshot>(Kind::Snapshot, &name)? else {
            return Ok(Err(not_found(&name)));
        };
        if s.status != "available" && s.status != "failed" {
            return Ok(Err(err(
                400,
                "InvalidSnapshotState",
                format!("Snapshot {name} is not in available state."),
            )));
        }
        t.delete(Kind::Snapshot, &name)?;
        t.delete(Kind::Tags, &app.arn("snapshot", &name))?;
        app.event(
            t,
            &s.cluster_id,
            "cache-cluster",
            &format!("Snapshot {name} deleted"),
        )?;
        Ok(Ok(s))
    })??;
    remove_file(app, &s);
    s.status = "deleting".into();
    snapshot_xml(app, x, &s);
    Ok(())
}

pub fn copy(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let src = p.req("SourceSnapshotName")?.to_string();
    let target = p.req("TargetSnapshotName")?.to_string();
    let s = app
        .store
        .get::<Snapshot>(Kind::Snapshot, &src)?
        .ok_or_else(|| not_found(&src))?;
    if s.status != "available" {
        return Err(err(
            400,
            "InvalidSnapshotState",
            format!("Snapshot {src} is not in available state."),
        ));
    }
    if let Some(dir) = p.get("TargetBucket") {
        // Export: the RDB file into a directory (the local stand-in for an
        // S3 bucket); the snapshot itself is unchanged.
        // An encrypted snapshot is exported decrypted: a standard RDB file.
        check_id("Snapshot name", &target)?;
        let dest = PathBuf::from(dir).join(format!("{target}.rdb"));
        fetch(app, &s, &dest, None)
            .map_err(|e| invalid(format!("Cannot export snapshot to {dir}: {e:#}")))?;
        let mut out = s.clone();
        out.status = "exporting".into();
        snapshot_xml(app, x, &out);
        return Ok(());
    }
    check_id("Snapshot name", &target)?;
    let file = format!("{target}.rdb");
    let c = app.store.write(|t| {
        if t.get::<Snapshot>(Kind::Snapshot, &target)?.is_some() {
            return Ok(Err(err(
                400,
                "SnapshotAlreadyExistsFault",
                format!("Snapshot {target} already exists."),
            )));
        }
        std::fs::create_dir_all(scratch_dir(app))?;
        app.backups.copy(&s.file, &file, &scratch_dir(app))?;
        let mut c = s.clone();
        c.name = target.clone();
        c.file = file.clone();
        c.source_kind = "manual".into();
        c.created_ms = app.now();
        t.put(Kind::Snapshot, &target, &c)?;
        Ok(Ok(c))
    })??;
    snapshot_xml(app, x, &c);
    Ok(())
}

/// The controller's step for snapshots in progress and the daily schedule.
pub fn reconcile(app: &App) -> anyhow::Result<()> {
    for (name, s) in app.store.list::<Snapshot>(Kind::Snapshot)? {
        if s.status == "creating" {
            if let Err(e) = progress(app, &name, &s) {
                finish(app, &name, false, &format!("{e:#}"))?;
            }
        }
    }
    schedule(app)
}

fn progress(app: &App, name: &str, s: &Snapshot) -> anyhow::Result<()> {
    let c = app
        .store
        .get::<Cluster>(Kind::Cluster, &s.cluster_id)?
        .ok_or_else(|| anyhow::anyhow!("cache cluster {} is gone", s.cluster_id))?;
    let n = c.nodes.first().ok_or_else(|| anyhow::anyhow!("no node"))?;
    if s.started_ms == 0 {
        let r = app.prov.admin("redis", n.port, &["BGSAVE"])?;
        if r.starts_with(b"-") && !String::from_utf8_lossy(&r).contains("in progress") {
            anyhow::bail!("BGSAVE failed: {}", String::from_utf8_lossy(&r).trim());
        }
        app.store.write(|t| {
            if let Some(mut s2) = t.get::<Snapshot>(Kind::Snapshot, name)? {
                s2.started_ms = now_ms();
                t.put(Kind::Snapshot, name, &s2)?;
            }
            Ok(())
        })?;
        return Ok(());
    }
    let r = app.prov.admin("redis", n.port, &["INFO", "persistence"])?;
    let info = crate::provision::resp_text(&r).unwrap_or_default();
    let field = |k: &str| {
        info.lines()
            .find_map(|l| {
                l.trim_end()
                    .strip_prefix(k)?
                    .strip_prefix(':')
                    .map(str::to_string)
            })
            .unwrap_or_default()
    };
    if field("rdb_bgsave_in_progress") == "1" {
        return Ok(());
    }
    let last: u64 = field("rdb_last_save_time").parse().unwrap_or(0);
    if last * 1000 + 1000 < s.started_ms {
        if now_ms().saturating_sub(s.started_ms) > 120_000 {
            anyhow::bail!("the node did not save in time");
        }
        return Ok(());
    }
    if field("rdb_last_bgsave_status") != "ok" {
        anyhow::bail!("BGSAVE failed on the node");
    }
    let src = PathBuf::from(&n.dir).join("dump.rdb");
    let size = app.backups.put(&s.file, &src)?;
    app.store.write(|t| {
        if let Some(mut s2) = t.get::<Snapshot>(Kind::Snapshot, name)? {
            s2.size = size;
            t.put(Kind::Snapshot, name, &s2)?;
        }
        Ok(())
    })?;
    finish(app, name, true, "")
}

fn finish(app: &App, name: &str, ok: bool, why: &str) -> anyhow::Result<()> {
    app.store.write(|t| {
        let Some(mut s) = t.get::<Snapshot>(Kind::Snapshot, name)? else { return Ok(()) };
        s.status = if ok { "available" } else { "failed" }.into();
        t.put(Kind::Snapshot, name, &s)?;
        if let Some(mut c) = t.get::<Cluster>(Kind::Cluster, &s.cluster_id)? {
            if c.status == "snapshotting" {
                c.status = "available".into();
                t.put(Kind::Cluster, &c.id, &c)?;
            }
        }
        if let Some(g) = &s.rg_id {
            if let Some(mut g) = t.get::<ReplicationGroup>(Kind::ReplicationGroup, g)? {
                if g.status == "snapshotting" {
                    g.status = "available".into();
                    t.put(Kind::ReplicationGroup, &g.id, &g)?;
                }
            }
        }
        let msg = if ok {
            format!("Snapshot succeeded for snapshot with ID '{name}' of cache cluster with ID '{}'", s.cluster_id)
        } else {
            format!("Snapshot failed for snapshot with ID '{name}' of cache cluster with ID '{}': {why}", s.cluster_id)
        };
        app.event(t, &s.cluster_id, "cache-cluster", &msg)
    })
}

/// Daily automatic snapshots inside `SnapshotWindow` (UTC `hh:mm-hh:mm`)
/// for clusters with a retention limit, and expiry of old ones. Uses the
/// schedule clock ([`App::now`]).
fn schedule(app: &App) -> anyhow::Result<()> {
    let now = app.now();
    let minute_of_day = (now / 60_000) % 1440;
    let snaps = app.store.list::<Snapshot>(Kind::Snapshot)?;
    for (_, c) in app.store.list::<Cluster>(Kind::Cluster)? {
        if c.engine != "redis" {
            continue;
        }
        // Expiry first: snapshots older than the retention (all of them
        // when automatic backups were turned off).
        for (k, s) in &snaps {
            if s.source_kind == "automatic"
                && s.cluster_id == c.id
                && s.status != "creating"
                && now.saturating_sub(s.created_ms) >= c.snapshot_retention as u64 * 86_400_000
            {
                remove_file(app, s);
                app.store.write(|t| {
                    t.delete(Kind::Snapshot, k)?;
                    t.delete(Kind::Tags, &app.arn("snapshot", k))?;
                    app.event(
                        t,
                        &c.id,
                        "cache-cluster",
                        &format!("Automatic snapshot {k} deleted: older than the retention limit"),
                    )
                })?;
            }
        }
        if c.snapshot_retention == 0 || c.status != "available" {
            continue;
        }
        let Some((a, b)) = parse_window(&c.snapshot_window) else {
            continue;
        };
        let in_window = if a <= b {
            (a..b).contains(&minute_of_day)
        } else {
            minute_of_day >= a || minute_of_day < b
        };
        if !in_window {
            continue;
        }
        // This occurrence of the window began `since` minutes ago.
        let since = (minute_of_day + 1440 - a) % 1440;
        let window_start = (now / 60_000 - since) * 60_000;
        let taken = snaps.iter().any(|(_, s)| {
            s.source_kind == "automatic" && s.cluster_id == c.id && s.created_ms >= window_start
        });
        if !taken {
            let stamp = iso8601(now);
            // YYYY-MM-DDTHH:MM → YYYY-MM-DD-HH-MM
            let stamp = stamp.get(..16).unwrap_or("").replace(['T', ':'], "-");
            let name = format!("automatic.{}-{stamp}", c.id);
            app.store
                .write(|t| start(app, t, &name, &c.id, "automatic").map(|_| ()))?;
        }
    }
    Ok(())
}

/// Checks `hh24:mi-hh24:mi` (UTC, at least 60 minutes).
pub fn check_window(w: &str) -> R<()> {
    let bad = || {
        invalid(format!(
            "Invalid snapshot window: {w}. It must be in the format hh24:mi-hh24:mi (UTC) and at least 60 minutes long."
        ))
    };
    let (a, b) = parse_window(w).ok_or_else(bad)?;
    let len = (b + 1440 - a) % 1440;
    if a >= 1440 || b >= 1440 || len < 60 {
        return Err(bad());
    }
    Ok(())
}

fn parse_window(w: &str) -> Option<(u64, u64)> {
    let (a, b) = w.split_once('-')?;
    let m = |s: &str| -> Option<u64> {
        let (h, mi) = s.split_once(':')?;
        if h.len() != 2 || mi.len() != 2 {
            return None;
        }
        let (h, mi) = (h.parse::<u64>().ok()?, mi.parse::<u64>().ok()?);
        (h < 24 && mi < 60).then_some(h * 60 + mi)
    };
    Some((m(a)?, m(b)?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn windows() {
        assert_eq!(super::parse_window("05:00-06:30"), Some((300, 390)));
        assert_eq!(super::parse_window("bad"), None);
        assert_eq!(super::parse_window("25:00-26:00"), None);
        assert!(super::check_window("23:30-00:30").is_ok());
        assert!(super::check_window("05:00-05:30").is_err());
    }
}
