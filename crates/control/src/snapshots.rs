//! Redis snapshots: CreateSnapshot records the request; the controller
//! sends BGSAVE through the node's admin connection, waits for it to
//! finish (INFO persistence), and copies the node's RDB file into the
//! backup store (data-dir/backups). Restores copy it into a new node's
//! directory before its first start (the node loads `dump.rdb`).
//! CopySnapshot copies within the store or, with TargetBucket, exports the
//! RDB file to that directory. Automatic snapshots are taken daily in the
//! snapshot window and kept for SnapshotRetentionLimit days.

use crate::api::*;
use crate::controller::App;
use crate::model::*;
use crate::store::{Kind, Txn};
use crate::util::*;
use std::path::PathBuf;

pub fn backup_dir(app: &App) -> PathBuf {
    app.data_dir.join("backups")
}

pub fn snapshot_xml(app: &App, x: &mut Xml, s: &Snapshot) {
    x.open("Snapshot").leaf("SnapshotName", &s.name);
    if let Some(g) = &s.rg_id {
        x.leaf("ReplicationGroupId", g)
            .leaf("ReplicationGroupDescription", &s.rg_description);
    }
    x.leaf("CacheClusterId", &s.cluster_id)
        .leaf("SnapshotStatus", &s.status)
        .leaf("SnapshotSource", &s.source_kind)
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
        created_ms: now_ms(),
        file: backup_dir(app)
            .join(format!("{name}.rdb"))
            .to_string_lossy()
            .into_owned(),
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
    if let Some(src) = p.get("SnapshotSource") {
        all.retain(|(_, s)| s.source_kind == src);
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
    std::fs::remove_file(&s.file).ok();
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
        let dest = PathBuf::from(dir).join(format!("{target}.rdb"));
        let tmp = PathBuf::from(dir).join(format!(".{target}.rdb.tmp"));
        std::fs::copy(&s.file, &tmp)
            .and_then(|_| std::fs::rename(&tmp, &dest))
            .map_err(|e| invalid(format!("Cannot export snapshot to {dir}: {e}")))?;
        let mut out = s.clone();
        out.status = "exporting".into();
        snapshot_xml(app, x, &out);
        return Ok(());
    }
    check_id("Snapshot name", &target)?;
    let file = backup_dir(app).join(format!("{target}.rdb"));
    let c = app.store.write(|t| {
        if t.get::<Snapshot>(Kind::Snapshot, &target)?.is_some() {
            return Ok(Err(err(
                400,
                "SnapshotAlreadyExistsFault",
                format!("Snapshot {target} already exists."),
            )));
        }
        std::fs::copy(&s.file, &file)?;
        let mut c = s.clone();
        c.name = target.clone();
        c.file = file.to_string_lossy().into_owned();
        c.source_kind = "manual".into();
        c.created_ms = now_ms();
        t.put(Kind::Snapshot, &target, &c)?;
        Ok(Ok(c))
    })??;
    snapshot_xml(app, x, &c);
    Ok(())
}

/// The controller's step for snapshots in progress and the daily schedule.
pub fn reconcile(app: &App) -> anyhow::Result<()> {
    std::fs::create_dir_all(backup_dir(app))?;
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
    let tmp = PathBuf::from(format!("{}.tmp", s.file));
    std::fs::copy(&src, &tmp)?;
    std::fs::rename(&tmp, &s.file)?;
    finish(app, name, true, "")
}

fn finish(app: &App, name: &str, ok: bool, why: &str) -> anyhow::Result<()> {
    app.store.write(|t| {
        let Some(mut s) = t.get::<Snapshot>(Kind::Snapshot, name)? else { return Ok(()) };
        s.status = if ok { "available" } else { "failed" }.into();
        s.size = std::fs::metadata(&s.file).map(|m| m.len()).unwrap_or(0);
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
/// for clusters with a retention limit, and expiry of old ones.
fn schedule(app: &App) -> anyhow::Result<()> {
    let now = now_ms();
    let day = iso8601(now).get(..10).unwrap_or("").to_string();
    let minute_of_day = (now / 60_000) % 1440;
    let snaps = app.store.list::<Snapshot>(Kind::Snapshot)?;
    for (_, c) in app.store.list::<Cluster>(Kind::Cluster)? {
        if c.engine != "redis" || c.snapshot_retention == 0 || c.status != "available" {
            continue;
        }
        let in_window = parse_window(&c.snapshot_window).is_some_and(|(a, b)| {
            if a <= b {
                (a..b).contains(&minute_of_day)
            } else {
                minute_of_day >= a || minute_of_day < b
            }
        });
        let name = format!("automatic.{}-{day}", c.id);
        if in_window && !snaps.iter().any(|(k, _)| *k == name) {
            app.store
                .write(|t| start(app, t, &name, &c.id, "automatic").map(|_| ()))?;
        }
        for (k, s) in &snaps {
            if s.source_kind == "automatic"
                && s.cluster_id == c.id
                && now.saturating_sub(s.created_ms) > c.snapshot_retention as u64 * 86_400_000
            {
                std::fs::remove_file(&s.file).ok();
                app.store.write(|t| t.delete(Kind::Snapshot, k))?;
            }
        }
    }
    Ok(())
}

fn parse_window(w: &str) -> Option<(u64, u64)> {
    let (a, b) = w.split_once('-')?;
    let m = |s: &str| -> Option<u64> {
        let (h, mi) = s.split_once(':')?;
        Some(h.parse::<u64>().ok()? * 60 + mi.parse::<u64>().ok()?)
    };
    Some((m(a)?, m(b)?))
}

#[cfg(test)]
mod tests {
    #[test]
    fn windows() {
        assert_eq!(super::parse_window("05:00-06:30"), Some((300, 390)));
        assert_eq!(super::parse_window("bad"), None);
    }
}
