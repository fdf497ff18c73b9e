//! The ElastiCache API over the AWS Query protocol: form-encoded
//! `Action=…&Version=2015-02-02` (POST body or GET query), SigV4-signed,
//! answered in AWS's XML shapes (botocore's service model names every
//! element; list members use their `locationName`).

use crate::controller::App;
use crate::model::*;
use crate::sigv4;
use crate::store::{Kind, Txn};
use crate::util::*;
use std::collections::BTreeMap;

pub const XMLNS: &str = "http://elasticache.amazonaws.com/doc/2015-02-02/";

/// An API error in AWS's terms.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

pub fn err(status: u16, code: &str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code: code.into(),
        message: message.into(),
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> ApiError {
    err(400, "InvalidParameterValue", message)
}

pub(crate) fn combination(message: impl Into<String>) -> ApiError {
    err(400, "InvalidParameterCombination", message)
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        let msg = format!("{e:#}");
        if msg.contains("no free port") {
            return err(400, "InsufficientCacheClusterCapacity", "There is not enough capacity to create the cache cluster: no free port in the node port range.");
        }
        err(500, "InternalFailure", msg)
    }
}

pub(crate) type R<T> = Result<T, ApiError>;

/// The request's parameters.
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|s| !s.is_empty())
    }

    pub(crate) fn req(&self, k: &str) -> R<&str> {
        self.get(k).ok_or_else(|| {
            err(
                400,
                "MissingParameter",
                format!("The request must contain the parameter {k}"),
            )
        })
    }

    pub(crate) fn int(&self, k: &str) -> R<Option<i64>> {
        match self.get(k) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| invalid(format!("Invalid value for {k}: {v}"))),
        }
    }

    pub(crate) fn bool(&self, k: &str) -> bool {
        self.get(k).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// `Name.<member>.<N>` → values in N order.
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}.");
        let mut items: Vec<(u32, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(&prefix)?;
                let (_, n) = rest.split_once('.')?;
                Some((n.parse().ok()?, v.clone()))
            })
            .collect();
        items.sort();
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// `Name.<member>.<N>.<Field>` → one map per N.
    pub(crate) fn structs(&self, name: &str) -> Vec<BTreeMap<String, String>> {
        let prefix = format!("{name}.");
        let mut by: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in &self.0 {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            let mut it = rest.splitn(3, '.');
            let (_, Some(n), Some(field)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let Ok(n) = n.parse() else { continue };
            by.entry(n)
                .or_default()
                .insert(field.to_string(), v.clone());
        }
        by.into_values().collect()
    }

    pub(crate) fn tags(&self) -> Vec<(String, String)> {
        self.structs("Tags")
            .into_iter()
            .filter_map(|m| {
                Some((
                    m.get("Key")?.clone(),
                    m.get("Value").cloned().unwrap_or_default(),
                ))
            })
            .collect()
    }
}

/// A small XML writer.
#[derive(Default)]
pub struct Xml(pub String);

impl Xml {
    pub(crate) fn open(&mut self, t: &str) -> &mut Self {
        self.0.push('<');
        self.0.push_str(t);
        self.0.push('>');
        self
    }
    pub(crate) fn close(&mut self, t: &str) -> &mut Self {
        self.0.push_str("</");
        self.0.push_str(t);
        self.0.push('>');
        self
    }
    pub(crate) fn leaf(&mut self, t: &str, v: impl std::fmt::Display) -> &mut Self {
        let v = v.to_string();
        self.open(t);
        self.0.push_str(&xml_escape(&v));
        self.close(t)
    }
    pub(crate) fn opt(&mut self, t: &str, v: Option<impl std::fmt::Display>) -> &mut Self {
        if let Some(v) = v {
            self.leaf(t, v);
        }
        self
    }
    pub(crate) fn endpoint(&mut self, t: &str, port: u16) -> &mut Self {
        self.open(t)
            .leaf("Address", "127.0.0.1")
            .leaf("Port", port)
            .close(t)
    }
}

/// Validates a resource identifier as ElastiCache does.
pub(crate) fn check_id(what: &str, id: &str) -> R<String> {
    let ok = !id.is_empty()
        && id.len() <= 40
        && id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !id.ends_with('-')
        && !id.contains("--");
    if !ok {
        return Err(invalid(format!("{what} must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens.")));
    }
    Ok(id.to_ascii_lowercase())
}

/// Paginates `items` (sorted by key) after `marker`, at most `max`.
pub(crate) fn page<T: Clone>(items: &[(String, T)], p: &Params) -> R<(Vec<T>, Option<String>)> {
    let max = p.int("MaxRecords")?.unwrap_or(100);
    if !(20..=100).contains(&max) {
        return Err(invalid(
            "The value for MaxRecords must be between 20 and 100.",
        ));
    }
    let start = match p.get("Marker") {
        Some(m) => items
            .iter()
            .position(|(k, _)| k.as_str() > m)
            .unwrap_or(items.len()),
        None => 0,
    };
    let rest = items.get(start..).unwrap_or(&[]);
    let taken: Vec<&(String, T)> = rest.iter().take(max as usize).collect();
    let marker = (rest.len() > taken.len())
        .then(|| taken.last().map(|(k, _)| k.clone()))
        .flatten();
    Ok((taken.into_iter().map(|(_, v)| v.clone()).collect(), marker))
}

pub fn cluster_xml(app: &App, x: &mut Xml, c: &Cluster, nodes: bool) {
    x.open("CacheCluster");
    x.leaf("CacheClusterId", &c.id);
    if let Some(p) = c.config_port {
        x.endpoint("ConfigurationEndpoint", p);
    }
    x.leaf(
        "ClientDownloadLandingPage",
        "https://console.aws.amazon.com/elasticache/home#client-download:",
    );
    x.leaf("CacheNodeType", &c.node_type)
        .leaf("Engine", &c.engine)
        .leaf("EngineVersion", &c.engine_version)
        .leaf("CacheClusterStatus", &c.status)
        .leaf(
            "NumCacheNodes",
            c.nodes.len().max(if c.status == "creating" {
                c.num_nodes as usize
            } else {
                0
            }),
        )
        .leaf("PreferredAvailabilityZone", &c.az)
        .leaf("CacheClusterCreateTime", iso8601(c.created_ms))
        .leaf("PreferredMaintenanceWindow", &c.maintenance_window);
    x.open("PendingModifiedValues");
    let deferred = c.deferred.clone().unwrap_or_default();
    let num = deferred.num_nodes.unwrap_or(c.num_nodes);
    if num as usize != c.nodes.len() && c.status != "creating" {
        x.leaf("NumCacheNodes", num);
    }
    let remove = if deferred.remove.is_empty() {
        &c.pending_remove
    } else {
        &deferred.remove
    };
    if !remove.is_empty() {
        x.open("CacheNodeIdsToRemove");
        for id in remove {
            x.leaf("CacheNodeId", id);
        }
        x.close("CacheNodeIdsToRemove");
    }
    x.close("PendingModifiedValues");
    x.open("CacheSecurityGroups").close("CacheSecurityGroups");
    x.open("CacheParameterGroup")
        .leaf("CacheParameterGroupName", &c.param_group)
        .leaf("ParameterApplyStatus", &c.param_apply)
        .open("CacheNodeIdsToReboot");
    for n in c
        .nodes
        .iter()
        .filter(|n| n.param_status == "pending-reboot")
    {
        x.leaf("CacheNodeId", &n.id);
    }
    x.close("CacheNodeIdsToReboot").close("CacheParameterGroup");
    x.leaf("CacheSubnetGroupName", "default");
    if nodes {
        x.open("CacheNodes");
        for n in &c.nodes {
            x.open("CacheNode")
                .leaf("CacheNodeId", &n.id)
                .leaf("CacheNodeStatus", &n.status)
                .leaf("CacheNodeCreateTime", iso8601(n.created_ms))
                .endpoint("Endpoint", n.port)
                .leaf("ParameterGroupStatus", &n.param_status)
                .leaf("CustomerAvailabilityZone", &c.az)
                .close("CacheNode");
        }
        x.close("CacheNodes");
    }
    x.leaf("AutoMinorVersionUpgrade", "true");
    x.open("SecurityGroups").close("SecurityGroups");
    x.opt("ReplicationGroupId", c.replication_group.as_ref());
    if c.engine == "redis" {
        x.leaf("SnapshotRetentionLimit", c.snapshot_retention)
            .leaf("SnapshotWindow", &c.snapshot_window);
    }
    x.leaf("AuthTokenEnabled", "false")
        .leaf("TransitEncryptionEnabled", "false")
        .leaf("AtRestEncryptionEnabled", c.at_rest_key.is_some())
        .leaf("ARN", app.arn("cluster", &c.id))
        .leaf("ReplicationGroupLogDeliveryEnabled", "false")
        .open("LogDeliveryConfigurations")
        .close("LogDeliveryConfigurations")
        .leaf("NetworkType", "ipv4")
        .leaf("IpDiscovery", "ipv4");
    x.close("CacheCluster");
}

fn group_xml(app: &App, t: &Txn<'_>, x: &mut Xml, g: &ReplicationGroup) -> R<()> {
    x.open("ReplicationGroup")
        .leaf("ReplicationGroupId", &g.id)
        .leaf("Description", &g.description)
        .open("GlobalReplicationGroupInfo")
        .close("GlobalReplicationGroupInfo")
        .leaf("Status", &g.status)
        .open("PendingModifiedValues")
        .close("PendingModifiedValues")
        .open("MemberClusters");
    for m in &g.member_clusters {
        x.leaf("ClusterId", m);
    }
    x.close("MemberClusters")
        .open("NodeGroups")
        .open("NodeGroup");
    x.leaf("NodeGroupId", "0001").leaf("Status", &g.status);
    x.endpoint("PrimaryEndpoint", g.primary_port)
        .endpoint("ReaderEndpoint", g.primary_port);
    x.open("NodeGroupMembers");
    for m in &g.member_clusters {
        let Some(c) = t.get::<Cluster>(Kind::Cluster, m)? else {
            continue;
        };
        for n in &c.nodes {
            x.open("NodeGroupMember")
                .leaf("CacheClusterId", &c.id)
                .leaf("CacheNodeId", &n.id)
                .endpoint("ReadEndpoint", n.port)
                .leaf("PreferredAvailabilityZone", &c.az)
                .leaf("CurrentRole", "primary")
                .close("NodeGroupMember");
        }
    }
    x.close("NodeGroupMembers")
        .close("NodeGroup")
        .close("NodeGroups");
    x.leaf("AutomaticFailover", "disabled")
        .leaf("MultiAZ", "disabled")
        .leaf("SnapshotRetentionLimit", g.snapshot_retention)
        .leaf("SnapshotWindow", &g.snapshot_window)
        .leaf("ClusterEnabled", "false")
        .leaf("CacheNodeType", &g.node_type)
        .leaf("AuthTokenEnabled", "false")
        .leaf("TransitEncryptionEnabled", "false")
        .leaf("AtRestEncryptionEnabled", g.at_rest_encryption)
        .leaf("ARN", app.arn("replicationgroup", &g.id))
        .open("LogDeliveryConfigurations")
        .close("LogDeliveryConfigurations")
        .leaf("ReplicationGroupCreateTime", iso8601(g.created_ms))
        .leaf("AutoMinorVersionUpgrade", "true")
        .leaf("NetworkType", "ipv4")
        .leaf("IpDiscovery", "ipv4")
        .leaf("ClusterMode", "disabled")
        .leaf("Engine", "redis")
        .close("ReplicationGroup");
    Ok(())
}

fn param_group_xml(app: &App, x: &mut Xml, g: &ParamGroup) {
    x.open("CacheParameterGroup")
        .leaf("CacheParameterGroupName", &g.name)
        .leaf("CacheParameterGroupFamily", &g.family)
        .leaf("Description", &g.description)
        .leaf("IsGlobal", "false")
        .leaf("ARN", app.arn("parametergroup", &g.name))
        .close("CacheParameterGroup");
}

fn params_xml(x: &mut Xml, family: &str, g: Option<&ParamGroup>, source: Option<&str>) {
    x.open("Parameters");
    for d in params_of(family).unwrap_or(&[]) {
        let user = g.and_then(|g| g.values.get(d.name));
        let src = if user.is_some() { "user" } else { "system" };
        if source.is_some_and(|s| s != src && !(s == "engine-default" && src == "system")) {
            continue;
        }
        x.open("Parameter").leaf("ParameterName", d.name);
        let v = user.map(String::as_str).unwrap_or(d.default);
        if !v.is_empty() {
            x.leaf("ParameterValue", v);
        }
        x.leaf("Description", d.description)
            .leaf("Source", src)
            .leaf("DataType", d.data_type);
        if !d.allowed.is_empty() {
            x.leaf("AllowedValues", d.allowed);
        }
        x.leaf("IsModifiable", d.modifiable)
            .leaf(
                "MinimumEngineVersion",
                if family == "redis7" { "7.0.4" } else { "1.6.6" },
            )
            .leaf("ChangeType", d.change)
            .close("Parameter");
    }
    x.close("Parameters");
    x.open("CacheNodeTypeSpecificParameters")
        .close("CacheNodeTypeSpecificParameters");
}

fn tags_xml(x: &mut Xml, tags: &[(String, String)]) {
    x.open("TagList");
    for (k, v) in tags {
        x.open("Tag").leaf("Key", k).leaf("Value", v).close("Tag");
    }
    x.close("TagList");
}

pub(crate) fn not_found_cluster(id: &str) -> ApiError {
    err(
        404,
        "CacheClusterNotFound",
        format!("CacheCluster not found: {id}"),
    )
}

pub(crate) fn not_found_group(id: &str) -> ApiError {
    err(
        404,
        "ReplicationGroupNotFoundFault",
        format!("ReplicationGroup not found: {id}"),
    )
}

fn not_found_pg(name: &str) -> ApiError {
    err(
        404,
        "CacheParameterGroupNotFound",
        format!("CacheParameterGroup {name} not found."),
    )
}

/// Runs one action; returns the inner XML of `<ActionResult>` (None: the
/// action has no result element).
pub fn dispatch(app: &App, action: &str, p: &Params) -> R<Option<String>> {
    let mut x = Xml::default();
    match action {
        "CreateCacheCluster" => create_cache_cluster(app, p, &mut x)?,
        "DescribeCacheClusters" => describe_cache_clusters(app, p, &mut x)?,
        "ModifyCacheCluster" => modify_cache_cluster(app, p, &mut x)?,
        "DeleteCacheCluster" => delete_cache_cluster(app, p, &mut x)?,
        "RebootCacheCluster" => reboot_cache_cluster(app, p, &mut x)?,
        "CreateReplicationGroup" => create_replication_group(app, p, &mut x)?,
        "DescribeReplicationGroups" => describe_replication_groups(app, p, &mut x)?,
        "ModifyReplicationGroup" => modify_replication_group(app, p, &mut x)?,
        "DeleteReplicationGroup" => delete_replication_group(app, p, &mut x)?,
        "CreateCacheParameterGroup" => create_param_group(app, p, &mut x)?,
        "DescribeCacheParameterGroups" => describe_param_groups(app, p, &mut x)?,
        "DescribeCacheParameters" => describe_cache_parameters(app, p, &mut x)?,
        "DescribeEngineDefaultParameters" => describe_engine_defaults(p, &mut x)?,
        "ModifyCacheParameterGroup" => modify_param_group(app, p, &mut x, false)?,
        "ResetCacheParameterGroup" => modify_param_group(app, p, &mut x, true)?,
        "DeleteCacheParameterGroup" => {
            delete_param_group(app, p)?;
            return Ok(None);
        }
        "DescribeCacheEngineVersions" => describe_engine_versions(p, &mut x)?,
        "DescribeEvents" => describe_events(app, p, &mut x)?,
        "CreateSnapshot" => crate::snapshots::create(app, p, &mut x)?,
        "DescribeSnapshots" => crate::snapshots::describe(app, p, &mut x)?,
        "DeleteSnapshot" => crate::snapshots::delete(app, p, &mut x)?,
        "CopySnapshot" => crate::snapshots::copy(app, p, &mut x)?,
        "AddTagsToResource" | "ListTagsForResource" | "RemoveTagsFromResource" => {
            tags_action(app, action, p, &mut x)?
        }
        _ => {
            return Err(err(
                400,
                "InvalidAction",
                format!("The action {action} is not valid for this web service."),
            ))
        }
    }
    Ok(Some(x.0))
}

fn create_cache_cluster(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let id = check_id("Cache cluster id", p.req("CacheClusterId")?)?;
    if p.get("ReplicationGroupId").is_some() {
        return Err(combination(
            "Adding a cache cluster to a replication group (read replicas) is not supported yet.",
        ));
    }
    let engine = p.get("Engine").unwrap_or("memcached").to_ascii_lowercase();
    if engine != "memcached" && engine != "redis" {
        return Err(invalid(format!(
            "Invalid Engine: {engine}. Valid engines are memcached and redis."
        )));
    }
    let version = resolve_version(&engine, p.get("EngineVersion")).ok_or_else(|| {
        invalid(format!(
            "Invalid Engine Version: {} for engine {engine}.",
            p.get("EngineVersion").unwrap_or("")
        ))
    })?;
    let node_type = p.req("CacheNodeType")?;
    if crate::model::node_type(node_type).is_none() {
        return Err(invalid(format!("Invalid CacheNodeType: {node_type}")));
    }
    let n = p.int("NumCacheNodes")?.unwrap_or(1);
    if engine == "redis" && n != 1 {
        return Err(invalid("Cache clusters running Redis support exactly one node; use a replication group for replicas."));
    }
    if !(1..=40).contains(&n) {
        return Err(invalid(
            "The number of cache nodes must be between 1 and 40.",
        ));
    }
    let snapshot = p
        .get("SnapshotName")
        .map(str::to_string)
        .or_else(|| p.list("SnapshotArns").into_iter().next());
    if snapshot.is_some() && engine != "redis" {
        return Err(combination("Snapshots are supported for Redis only."));
    }
    let c = app.store.write(|t| {
        new_cluster(
            app,
            t,
            &id,
            &engine,
            version,
            node_type,
            n as u32,
            p,
            snapshot.clone(),
            None,
        )
    })??;
    apply_tags(app, &app.arn("cluster", &id), &p.tags())?;
    cluster_xml(app, x, &c, false);
    Ok(())
}

/// Creates a cluster record (status creating); the controller starts it.
#[allow(clippy::too_many_arguments)]
fn new_cluster(
    app: &App,
    t: &Txn<'_>,
    id: &str,
    engine: &str,
    version: &str,
    node_type: &str,
    n: u32,
    p: &Params,
    snapshot: Option<String>,
    rg: Option<String>,
) -> anyhow::Result<R<Cluster>> {
    if t.get::<Cluster>(Kind::Cluster, id)?.is_some() {
        return Ok(Err(err(
            400,
            "CacheClusterAlreadyExists",
            format!("Cache cluster {id} already exists."),
        )));
    }
    let pg = p
        .get("CacheParameterGroupName")
        .unwrap_or(default_group_of(engine))
        .to_string();
    match t.get::<ParamGroup>(Kind::ParamGroup, &pg)? {
        None => return Ok(Err(not_found_pg(&pg))),
        Some(g) if g.family != family_of(engine) => {
            return Ok(Err(combination(format!(
                "The parameter group {pg} has family {} which does not match engine {engine} {version}.",
                g.family
            ))))
        }
        _ => {}
    }
    if let Some(s) = &snapshot {
        // SnapshotArns: an uploaded RDB file (a local path or file:// URL).
        let uploaded = std::path::Path::new(s.strip_prefix("file://").unwrap_or(s)).is_file();
        match t.get::<Snapshot>(Kind::Snapshot, s)? {
            None if uploaded => {}
            None => {
                return Ok(Err(err(
                    404,
                    "SnapshotNotFoundFault",
                    format!("Snapshot {s} not found."),
                )))
            }
            Some(snap) if snap.status != "available" => {
                return Ok(Err(err(
                    400,
                    "InvalidSnapshotState",
                    format!("Snapshot {s} is not in available state."),
                )))
            }
            _ => {}
        }
    }
    let retention = match check_retention(p) {
        Ok(r) => r.unwrap_or(0),
        Err(e) => return Ok(Err(e)),
    };
    if let Some(w) = p.get("SnapshotWindow") {
        if let Err(e) = crate::snapshots::check_window(w) {
            return Ok(Err(e));
        }
    }
    if let Some(w) = p.get("PreferredMaintenanceWindow") {
        if let Err(e) = check_maintenance_window(w) {
            return Ok(Err(e));
        }
    }
    let mut c = Cluster {
        id: id.to_string(),
        engine: engine.into(),
        engine_version: version.into(),
        node_type: node_type.into(),
        num_nodes: n,
        status: "creating".into(),
        param_group: pg,
        param_apply: "in-sync".into(),
        created_ms: now_ms(),
        replication_group: rg,
        snapshot_name: snapshot,
        snapshot_retention: retention,
        snapshot_window: p.get("SnapshotWindow").unwrap_or("05:00-06:00").into(),
        maintenance_window: p
            .get("PreferredMaintenanceWindow")
            .unwrap_or("sun:23:00-mon:01:30")
            .into(),
        az: p
            .get("PreferredAvailabilityZone")
            .unwrap_or(&format!("{}a", app.region))
            .into(),
        ..Default::default()
    };
    if engine == "memcached" {
        c.config_port = Some(app.alloc_port(t)?);
    }
    t.put(Kind::Cluster, id, &c)?;
    Ok(Ok(c))
}

/// SnapshotRetentionLimit: 0–35 days.
fn check_retention(p: &Params) -> R<Option<u32>> {
    match p.int("SnapshotRetentionLimit")? {
        None => Ok(None),
        Some(r) if (0..=35).contains(&r) => Ok(Some(r as u32)),
        Some(r) => Err(invalid(format!(
            "Invalid SnapshotRetentionLimit: {r}. It must be between 0 and 35 days."
        ))),
    }
}

/// PreferredMaintenanceWindow: `ddd:hh24:mi-ddd:hh24:mi`, at least 60
/// minutes.
fn check_maintenance_window(w: &str) -> R<()> {
    let bad = || {
        invalid(format!(
            "Invalid maintenance window: {w}. It must be in the format ddd:hh24:mi-ddd:hh24:mi (UTC) and at least 60 minutes long."
        ))
    };
    let (a, b) = crate::controller::parse_maintenance_window(w).ok_or_else(bad)?;
    if (b + 7 * 1440 - a) % (7 * 1440) < 60 {
        return Err(bad());
    }
    Ok(())
}

fn describe_cache_clusters(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let mut all = app.store.list::<Cluster>(Kind::Cluster)?;
    if let Some(id) = p.get("CacheClusterId") {
        let id = id.to_ascii_lowercase();
        all.retain(|(k, _)| *k == id);
        if all.is_empty() {
            return Err(not_found_cluster(&id));
        }
    }
    if p.bool("ShowCacheClustersNotInReplicationGroups") {
        all.retain(|(_, c)| c.replication_group.is_none());
    }
    let (items, marker) = page(&all, p)?;
    x.opt("Marker", marker);
    x.open("CacheClusters");
    for c in &items {
        cluster_xml(app, x, c, p.bool("ShowCacheNodeInfo"));
    }
    x.close("CacheClusters");
    Ok(())
}

fn modify_cache_cluster(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let id = p.req("CacheClusterId")?.to_ascii_lowercase();
    if p.get("CacheNodeType").is_some() || p.get("EngineVersion").is_some() {
        return Err(combination(
            "Changing the node type or engine version is not supported yet.",
        ));
    }
    let remove = p.list("CacheNodeIdsToRemove");
    // ApplyImmediately covers the node count (as in ElastiCache: node type
    // and engine version too, not supported here); everything else applies
    // at once. Without it, the change waits for the maintenance window.
    let immediately = p.bool("ApplyImmediately");
    let retention = check_retention(p)?;
    if let Some(w) = p.get("SnapshotWindow") {
        crate::snapshots::check_window(w)?;
    }
    if let Some(w) = p.get("PreferredMaintenanceWindow") {
        check_maintenance_window(w)?;
    }
    let (c, changed_pg) = app.store.write(|t| {
        let Some(mut c) = t.get::<Cluster>(Kind::Cluster, &id)? else {
            return Ok(Err(not_found_cluster(&id)));
        };
        if c.status != "available" {
            return Ok(Err(err(400, "InvalidCacheClusterState", format!("Cache cluster {id} is not in available state (it is {}).", c.status))));
        }
        let mut modified = false;
        if let Some(n) = p.int("NumCacheNodes").ok().flatten() {
            let n = n as u32;
            let cur = c.nodes.len() as u32;
            if c.engine == "redis" && n != 1 {
                return Ok(Err(invalid("Cache clusters running Redis support exactly one node.")));
            }
            if !(1..=40).contains(&n) {
                return Ok(Err(invalid("The number of cache nodes must be between 1 and 40.")));
            }
            if n < cur {
                let ids = if remove.is_empty() {
                    c.nodes.iter().rev().take((cur - n) as usize).map(|n| n.id.clone()).collect()
                } else {
                    remove.clone()
                };
                if ids.len() as u32 != cur - n {
                    return Ok(Err(invalid(format!("The number of cache node IDs to remove ({}) must equal the decrease in the number of cache nodes ({}).", ids.len(), cur - n))));
                }
                for i in &ids {
                    if !c.nodes.iter().any(|n| &n.id == i) {
                        return Ok(Err(invalid(format!("Cache node {i} does not exist in cache cluster {id}."))));
                    }
                }
                if immediately {
                    c.pending_remove = ids;
                } else {
                    c.deferred.get_or_insert_with(Default::default).remove = ids;
                }
            } else if !remove.is_empty() {
                return Ok(Err(combination("CacheNodeIdsToRemove can only be given when NumCacheNodes decreases.")));
            }
            if immediately {
                // Pending modifications are replaced by this one.
                c.deferred = None;
                if n != cur {
                    c.num_nodes = n;
                    modified = true;
                }
            } else if n != cur {
                let d = c.deferred.get_or_insert_with(Default::default);
                d.num_nodes = Some(n);
                if n >= cur {
                    d.remove.clear();
                }
            } else {
                c.deferred = None;
            }
        } else if !remove.is_empty() {
            return Ok(Err(combination("CacheNodeIdsToRemove requires NumCacheNodes.")));
        }
        let mut changed_pg = false;
        if let Some(pg) = p.get("CacheParameterGroupName") {
            match t.get::<ParamGroup>(Kind::ParamGroup, pg)? {
                None => return Ok(Err(not_found_pg(pg))),
                Some(g) if g.family != family_of(&c.engine) => {
                    return Ok(Err(combination(format!("The parameter group {pg} does not match the engine of cache cluster {id}."))))
                }
                _ => {}
            }
            if pg != c.param_group {
                c.param_group = pg.into();
                changed_pg = true;
                modified = true;
            }
        }
        if let Some(r) = retention {
            c.snapshot_retention = r;
        }
        if let Some(w) = p.get("SnapshotWindow") {
            c.snapshot_window = w.into();
        }
        if let Some(w) = p.get("PreferredMaintenanceWindow") {
            c.maintenance_window = w.into();
        }
        if modified {
            c.status = "modifying".into();
        }
        t.put(Kind::Cluster, &id, &c)?;
        Ok(Ok((c, changed_pg)))
    })??;
    if changed_pg {
        apply_params(app, &c.param_group)?;
    }
    cluster_xml(app, x, &c, false);
    Ok(())
}

fn delete_cache_cluster(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let id = p.req("CacheClusterId")?.to_ascii_lowercase();
    let fin = p
        .get("FinalSnapshotIdentifier")
        .map(|f| check_id("Snapshot name", f))
        .transpose()?;
    let c = app.store.write(|t| {
        let Some(c) = t.get::<Cluster>(Kind::Cluster, &id)? else {
            return Ok(Err(not_found_cluster(&id)));
        };
        if c.replication_group.is_some() {
            return Ok(Err(err(400, "InvalidCacheClusterState", format!("Cache cluster {id} is a member of a replication group; delete the replication group instead."))));
        }
        if c.status == "deleting" {
            return Ok(Err(err(400, "InvalidCacheClusterState", format!("Cache cluster {id} is already being deleted."))));
        }
        mark_deleting(app, t, c, fin.as_deref())
    })??;
    cluster_xml(app, x, &c, false);
    Ok(())
}

/// Marks a cluster deleting, after starting its final snapshot if one is
/// asked (the controller keeps the node up until the snapshot is done).
fn mark_deleting(
    app: &App,
    t: &Txn<'_>,
    c: Cluster,
    final_snapshot: Option<&str>,
) -> anyhow::Result<R<Cluster>> {
    let id = c.id.clone();
    if let Some(f) = final_snapshot {
        if c.engine != "redis" {
            return Ok(Err(err(
                400,
                "InvalidParameterCombination",
                "FinalSnapshotIdentifier is not supported for memcached clusters.",
            )));
        }
        if let Err(e) = crate::snapshots::start(app, t, f, &id, "manual")? {
            return Ok(Err(e));
        }
    }
    let Some(mut c) = t.get::<Cluster>(Kind::Cluster, &id)? else {
        return Ok(Err(not_found_cluster(&id)));
    };
    c.status = "deleting".into();
    c.final_snapshot = final_snapshot.map(str::to_string);
    t.put(Kind::Cluster, &id, &c)?;
    Ok(Ok(c))
}

fn reboot_cache_cluster(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let id = p.req("CacheClusterId")?.to_ascii_lowercase();
    let ids = p.list("CacheNodeIdsToReboot");
    if ids.is_empty() {
        return Err(err(
            400,
            "MissingParameter",
            "The request must contain the parameter CacheNodeIdsToReboot",
        ));
    }
    let c = app.store.write(|t| {
        let Some(mut c) = t.get::<Cluster>(Kind::Cluster, &id)? else {
            return Ok(Err(not_found_cluster(&id)));
        };
        if c.status != "available" {
            return Ok(Err(err(
                400,
                "InvalidCacheClusterState",
                format!("Cache cluster {id} is not in available state."),
            )));
        }
        for i in &ids {
            if !c.nodes.iter().any(|n| &n.id == i) {
                return Ok(Err(invalid(format!(
                    "Cache node {i} does not exist in cache cluster {id}."
                ))));
            }
        }
        c.pending_reboot = ids.clone();
        c.status = "rebooting cache cluster nodes".into();
        t.put(Kind::Cluster, &id, &c)?;
        app.event(
            t,
            &id,
            "cache-cluster",
            &format!("Cache cluster {id} rebooting nodes {}", ids.join(", ")),
        )?;
        Ok(Ok(c))
    })??;
    cluster_xml(app, x, &c, false);
    Ok(())
}

fn create_replication_group(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let id = check_id("Replication group id", p.req("ReplicationGroupId")?)?;
    let desc = p.req("ReplicationGroupDescription")?.to_string();
    let one = |k: &str, ok: i64| -> R<()> {
        match p.int(k)? {
            Some(v) if v != ok => Err(combination(format!(
                "{k}={v} is not supported yet: replication groups have a single shard with a primary only (replicas, failover and cluster mode come with replication)."
            ))),
            _ => Ok(()),
        }
    };
    one("NumCacheClusters", 1)?;
    one("NumNodeGroups", 1)?;
    one("ReplicasPerNodeGroup", 0)?;
    if p.bool("AutomaticFailoverEnabled") || p.bool("MultiAZEnabled") {
        return Err(combination(
            "Automatic failover and Multi-AZ need replicas, which are not supported yet.",
        ));
    }
    if p.get("PrimaryClusterId").is_some() || !p.list("NodeGroupConfiguration").is_empty() {
        return Err(combination(
            "PrimaryClusterId and NodeGroupConfiguration are not supported yet.",
        ));
    }
    let engine = p.get("Engine").unwrap_or("redis").to_ascii_lowercase();
    if engine != "redis" {
        return Err(invalid("Replication groups support the redis engine only."));
    }
    let version = resolve_version("redis", p.get("EngineVersion"))
        .ok_or_else(|| invalid("Invalid Engine Version for engine redis."))?;
    let node_type = p.get("CacheNodeType").unwrap_or("cache.t4g.micro");
    if crate::model::node_type(node_type).is_none() {
        return Err(invalid(format!("Invalid CacheNodeType: {node_type}")));
    }
    let snapshot = p
        .get("SnapshotName")
        .map(str::to_string)
        .or_else(|| p.list("SnapshotArns").into_iter().next());
    let member = format!("{id}-001");
    let at_rest = p.bool("AtRestEncryptionEnabled");
    if p.get("KmsKeyId").is_some() {
        return Err(combination(
            "KmsKeyId is not supported: the service generates and keeps each group's at-rest encryption key.",
        ));
    }
    let retention = check_retention(p)?.unwrap_or(0);
    let g = app.store.write(|t| {
        if t.get::<ReplicationGroup>(Kind::ReplicationGroup, &id)?
            .is_some()
        {
            return Ok(Err(err(
                400,
                "ReplicationGroupAlreadyExists",
                format!("Replication group {id} already exists."),
            )));
        }
        let mut c = match new_cluster(
            app,
            t,
            &member,
            "redis",
            version,
            node_type,
            1,
            p,
            snapshot.clone(),
            Some(id.clone()),
        )? {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        if at_rest {
            c.at_rest_key = Some(crate::keys::create(app, &id)?);
            t.put(Kind::Cluster, &member, &c)?;
        }
        let g = ReplicationGroup {
            id: id.clone(),
            description: desc.clone(),
            status: "creating".into(),
            member_clusters: vec![member.clone()],
            primary_port: app.alloc_port(t)?,
            node_type: node_type.into(),
            created_ms: now_ms(),
            snapshot_retention: retention,
            snapshot_window: c.snapshot_window.clone(),
            at_rest_encryption: at_rest,
        };
        t.put(Kind::ReplicationGroup, &id, &g)?;
        Ok(Ok(g))
    })??;
    apply_tags(app, &app.arn("replicationgroup", &id), &p.tags())?;
    app.store
        .write(|t| group_xml(app, t, x, &g).map_err(|e| anyhow::anyhow!(e.message)))?;
    Ok(())
}

fn describe_replication_groups(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let mut all = app.store.list::<ReplicationGroup>(Kind::ReplicationGroup)?;
    if let Some(id) = p.get("ReplicationGroupId") {
        let id = id.to_ascii_lowercase();
        all.retain(|(k, _)| *k == id);
        if all.is_empty() {
            return Err(not_found_group(&id));
        }
    }
    let (items, marker) = page(&all, p)?;
    x.opt("Marker", marker);
    x.open("ReplicationGroups");
    app.store.write(|t| {
        for g in &items {
            group_xml(app, t, x, g).map_err(|e| anyhow::anyhow!(e.message))?;
        }
        Ok(())
    })?;
    x.close("ReplicationGroups");
    Ok(())
}

fn modify_replication_group(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let id = p.req("ReplicationGroupId")?.to_ascii_lowercase();
    if p.bool("AutomaticFailoverEnabled") || p.bool("MultiAZEnabled") {
        return Err(combination(
            "Automatic failover and Multi-AZ need replicas, which are not supported yet.",
        ));
    }
    if p.get("CacheNodeType").is_some() || p.get("PrimaryClusterId").is_some() {
        return Err(combination(
            "Changing the node type or primary is not supported yet.",
        ));
    }
    let retention = check_retention(p)?;
    if let Some(w) = p.get("SnapshotWindow") {
        crate::snapshots::check_window(w)?;
    }
    if let Some(w) = p.get("PreferredMaintenanceWindow") {
        check_maintenance_window(w)?;
    }
    let (g, pg) = app.store.write(|t| {
        let Some(mut g) = t.get::<ReplicationGroup>(Kind::ReplicationGroup, &id)? else {
            return Ok(Err(not_found_group(&id)));
        };
        if g.status != "available" {
            return Ok(Err(err(
                400,
                "InvalidReplicationGroupState",
                format!("Replication group {id} is not in available state."),
            )));
        }
        if let Some(d) = p.get("ReplicationGroupDescription") {
            g.description = d.into();
        }
        if let Some(r) = retention {
            g.snapshot_retention = r;
        }
        if let Some(w) = p.get("SnapshotWindow") {
            g.snapshot_window = w.into();
        }
        // The schedule runs on the member clusters.
        for m in &g.member_clusters {
            if let Some(mut c) = t.get::<Cluster>(Kind::Cluster, m)? {
                c.snapshot_retention = g.snapshot_retention;
                c.snapshot_window = g.snapshot_window.clone();
                if let Some(w) = p.get("PreferredMaintenanceWindow") {
                    c.maintenance_window = w.into();
                }
                t.put(Kind::Cluster, m, &c)?;
            }
        }
        let mut pg = None;
        if let Some(name) = p.get("CacheParameterGroupName") {
            match t.get::<ParamGroup>(Kind::ParamGroup, name)? {
                None => return Ok(Err(not_found_pg(name))),
                Some(pgr) if pgr.family != "redis7" => {
                    return Ok(Err(combination(format!(
                        "The parameter group {name} does not match engine redis."
                    ))))
                }
                _ => {}
            }
            for m in &g.member_clusters {
                if let Some(mut c) = t.get::<Cluster>(Kind::Cluster, m)? {
                    c.param_group = name.into();
                    t.put(Kind::Cluster, m, &c)?;
                }
            }
            pg = Some(name.to_string());
        }
        t.put(Kind::ReplicationGroup, &id, &g)?;
        Ok(Ok((g, pg)))
    })??;
    if let Some(pg) = pg {
        apply_params(app, &pg)?;
    }
    app.store
        .write(|t| group_xml(app, t, x, &g).map_err(|e| anyhow::anyhow!(e.message)))?;
    Ok(())
}

fn delete_replication_group(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let id = p.req("ReplicationGroupId")?.to_ascii_lowercase();
    let fin = p
        .get("FinalSnapshotIdentifier")
        .map(|f| check_id("Snapshot name", f))
        .transpose()?;
    let g = app.store.write(|t| {
        let Some(mut g) = t.get::<ReplicationGroup>(Kind::ReplicationGroup, &id)? else {
            return Ok(Err(not_found_group(&id)));
        };
        if g.status == "deleting" {
            return Ok(Err(err(
                400,
                "InvalidReplicationGroupState",
                format!("Replication group {id} is already being deleted."),
            )));
        }
        // The members go with it; the final snapshot is of the primary.
        for (i, m) in g.member_clusters.iter().enumerate() {
            if let Some(c) = t.get::<Cluster>(Kind::Cluster, m)? {
                if c.status == "deleting" {
                    continue;
                }
                let f = if i == 0 { fin.as_deref() } else { None };
                if let Err(e) = mark_deleting(app, t, c, f)? {
                    return Ok(Err(e));
                }
            }
        }
        g.status = "deleting".into();
        t.put(Kind::ReplicationGroup, &id, &g)?;
        Ok(Ok(g))
    })??;
    app.store
        .write(|t| group_xml(app, t, x, &g).map_err(|e| anyhow::anyhow!(e.message)))?;
    Ok(())
}

/// Creates the default parameter groups if missing.
pub fn ensure_defaults(app: &App) -> anyhow::Result<()> {
    app.store.write(|t| {
        for (name, family, desc) in [
            (
                "default.redis7",
                "redis7",
                "Default parameter group for redis7",
            ),
            (
                "default.memcached1.6",
                "memcached1.6",
                "Default parameter group for memcached1.6",
            ),
        ] {
            if t.get::<ParamGroup>(Kind::ParamGroup, name)?.is_none() {
                t.put(
                    Kind::ParamGroup,
                    name,
                    &ParamGroup {
                        name: name.into(),
                        family: family.into(),
                        description: desc.into(),
                        values: Default::default(),
                        system: true,
                    },
                )?;
            }
        }
        Ok(())
    })
}

fn create_param_group(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let name = p.req("CacheParameterGroupName")?.to_ascii_lowercase();
    let family = p.req("CacheParameterGroupFamily")?;
    let desc = p.req("Description")?;
    if params_of(family).is_none() {
        return Err(invalid(format!("The parameter CacheParameterGroupFamily '{family}' is not a valid family. Valid families: memcached1.6, redis7.")));
    }
    if name.starts_with("default.") {
        return Err(invalid(
            "Parameter group names beginning with 'default.' are reserved.",
        ));
    }
    let g = app.store.write(|t| {
        if t.get::<ParamGroup>(Kind::ParamGroup, &name)?.is_some() {
            return Ok(Err(err(
                400,
                "CacheParameterGroupAlreadyExists",
                format!("Parameter group {name} already exists."),
            )));
        }
        let g = ParamGroup {
            name: name.clone(),
            family: family.into(),
            description: desc.into(),
            values: Default::default(),
            system: false,
        };
        t.put(Kind::ParamGroup, &name, &g)?;
        app.event(
            t,
            &name,
            "cache-parameter-group",
            &format!("Cache parameter group {name} created"),
        )?;
        Ok(Ok(g))
    })??;
    apply_tags(app, &app.arn("parametergroup", &name), &p.tags())?;
    param_group_xml(app, x, &g);
    Ok(())
}

fn describe_param_groups(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let mut all = app.store.list::<ParamGroup>(Kind::ParamGroup)?;
    if let Some(n) = p.get("CacheParameterGroupName") {
        all.retain(|(k, _)| k == n);
        if all.is_empty() {
            return Err(not_found_pg(n));
        }
    }
    let (items, marker) = page(&all, p)?;
    x.opt("Marker", marker);
    x.open("CacheParameterGroups");
    for g in &items {
        param_group_xml(app, x, g);
    }
    x.close("CacheParameterGroups");
    Ok(())
}

fn describe_cache_parameters(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let name = p.req("CacheParameterGroupName")?;
    let g = app
        .store
        .get::<ParamGroup>(Kind::ParamGroup, name)?
        .ok_or_else(|| not_found_pg(name))?;
    params_xml(x, &g.family, Some(&g), p.get("Source"));
    Ok(())
}

fn describe_engine_defaults(p: &Params, x: &mut Xml) -> R<()> {
    let family = p.req("CacheParameterGroupFamily")?;
    if params_of(family).is_none() {
        return Err(invalid(format!("Invalid parameter group family: {family}")));
    }
    x.open("EngineDefaults")
        .leaf("CacheParameterGroupFamily", family);
    params_xml(x, family, None, None);
    x.close("EngineDefaults");
    Ok(())
}

fn modify_param_group(app: &App, p: &Params, x: &mut Xml, reset: bool) -> R<()> {
    let name = p.req("CacheParameterGroupName")?.to_string();
    let pairs: Vec<(String, Option<String>)> = p
        .structs("ParameterNameValues")
        .into_iter()
        .filter_map(|m| {
            Some((
                m.get("ParameterName")?.clone(),
                m.get("ParameterValue").cloned(),
            ))
        })
        .collect();
    let all = reset && p.bool("ResetAllParameters");
    if pairs.is_empty() && !all {
        return Err(err(
            400,
            "MissingParameter",
            "The request must contain the parameter ParameterNameValues",
        ));
    }
    if all && !pairs.is_empty() {
        return Err(combination(
            "ResetAllParameters and ParameterNameValues cannot both be given.",
        ));
    }
    app.store.write(|t| {
        let Some(mut g) = t.get::<ParamGroup>(Kind::ParamGroup, &name)? else {
            return Ok(Err(not_found_pg(&name)));
        };
        if g.system {
            return Ok(Err(invalid(format!(
                "Default parameter groups ({name}) cannot be modified."
            ))));
        }
        let defs = params_of(&g.family).unwrap_or(&[]);
        if all {
            g.values.clear();
        }
        for (k, v) in &pairs {
            let Some(d) = defs.iter().find(|d| d.name == k) else {
                return Ok(Err(invalid(format!("Unknown parameter: {k}"))));
            };
            if !d.modifiable {
                return Ok(Err(invalid(format!("Unmodifiable parameter: {k}"))));
            }
            if reset {
                g.values.remove(k);
                continue;
            }
            let Some(v) = v else {
                return Ok(Err(invalid(format!("No value given for parameter {k}"))));
            };
            if !validate_param(d, v) {
                return Ok(Err(invalid(format!(
                    "Invalid value for parameter {k}: {v}. Allowed values: {}",
                    d.allowed
                ))));
            }
            g.values.insert(k.clone(), v.clone());
        }
        t.put(Kind::ParamGroup, &name, &g)?;
        Ok(Ok(()))
    })??;
    apply_params(app, &name)?;
    x.leaf("CacheParameterGroupName", &name);
    Ok(())
}

/// Applies a parameter group to every cluster using it: immediate
/// parameters by CONFIG SET on the running redis nodes; requires-reboot
/// ones mark the nodes pending-reboot.
fn apply_params(app: &App, name: &str) -> R<()> {
    let Some(g) = app.store.get::<ParamGroup>(Kind::ParamGroup, name)? else {
        return Ok(());
    };
    let defs = params_of(&g.family).unwrap_or(&[]);
    for (_, c) in app.store.list::<Cluster>(Kind::Cluster)? {
        if c.param_group != name || c.status == "deleting" {
            continue;
        }
        let mut needs_reboot = false;
        for d in defs.iter().filter(|d| d.modifiable) {
            let v = g
                .values
                .get(d.name)
                .map(String::as_str)
                .unwrap_or(d.default);
            if d.change == "immediate" && c.engine == "redis" {
                for n in c.nodes.iter().filter(|n| n.status == "available") {
                    let r = if d.name == "reserved-memory-percent" {
                        let pct = v.parse().unwrap_or(25);
                        let bytes = node_type(&c.node_type)
                            .map(|t| cache_bytes(t, pct))
                            .unwrap_or(0);
                        app.prov.admin(
                            "redis",
                            n.port,
                            &["CONFIG", "SET", "maxmemory", &bytes.to_string()],
                        )
                    } else {
                        app.prov
                            .admin("redis", n.port, &["CONFIG", "SET", d.name, v])
                    };
                    if !r.as_deref().is_ok_and(|r| r.starts_with(b"+OK")) {
                        needs_reboot = true;
                    }
                }
            }
        }
        // Requires-reboot parameters: pending where a node runs with other
        // values than the group now has.
        let want = reboot_values(Some(&g), &g.family);
        app.store.write(|t| {
            if let Some(mut c2) = t.get::<Cluster>(Kind::Cluster, &c.id)? {
                let mut any = false;
                for n in &mut c2.nodes {
                    let pending = needs_reboot || differs(n, &want, &g.family);
                    any |= pending;
                    n.param_status = if pending { "pending-reboot" } else { "in-sync" }.into();
                }
                c2.param_apply = if any { "pending-reboot" } else { "in-sync" }.into();
                t.put(Kind::Cluster, &c.id, &c2)?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

fn delete_param_group(app: &App, p: &Params) -> R<()> {
    let name = p.req("CacheParameterGroupName")?.to_string();
    app.store.write(|t| {
        let Some(g) = t.get::<ParamGroup>(Kind::ParamGroup, &name)? else {
            return Ok(Err(not_found_pg(&name)));
        };
        if g.system {
            return Ok(Err(err(
                400,
                "InvalidCacheParameterGroupState",
                format!("Default parameter groups ({name}) cannot be deleted."),
            )));
        }
        let used = t
            .list::<Cluster>(Kind::Cluster)?
            .into_iter()
            .any(|(_, c)| c.param_group == name);
        if used {
            return Ok(Err(err(
                400,
                "InvalidCacheParameterGroupState",
                format!("Parameter group {name} is in use by a cache cluster."),
            )));
        }
        t.delete(Kind::ParamGroup, &name)?;
        t.delete(Kind::Tags, &app.arn("parametergroup", &name))?;
        Ok(Ok(()))
    })??;
    Ok(())
}

fn describe_engine_versions(p: &Params, x: &mut Xml) -> R<()> {
    x.open("CacheEngineVersions");
    for (engine, version, family, edesc, vdesc) in ENGINE_VERSIONS {
        if p.get("Engine").is_some_and(|e| e != *engine)
            || p.get("EngineVersion")
                .is_some_and(|v| resolve_version(engine, Some(v)) != Some(version))
            || p.get("CacheParameterGroupFamily")
                .is_some_and(|f| f != *family)
        {
            continue;
        }
        x.open("CacheEngineVersion")
            .leaf("Engine", engine)
            .leaf("EngineVersion", version)
            .leaf("CacheParameterGroupFamily", family)
            .leaf("CacheEngineDescription", edesc)
            .leaf("CacheEngineVersionDescription", vdesc)
            .close("CacheEngineVersion");
    }
    x.close("CacheEngineVersions");
    Ok(())
}

fn describe_events(app: &App, p: &Params, x: &mut Xml) -> R<()> {
    let now = now_ms();
    let parse_t = |k: &str| -> R<Option<u64>> {
        match p.get(k) {
            None => Ok(None),
            Some(v) => parse_iso8601(v)
                .map(Some)
                .ok_or_else(|| invalid(format!("Invalid {k}: {v}"))),
        }
    };
    let end = parse_t("EndTime")?.unwrap_or(now);
    let start = match parse_t("StartTime")? {
        Some(s) => s,
        None => end.saturating_sub(p.int("Duration")?.unwrap_or(60).max(0) as u64 * 60_000),
    };
    let stype = p.get("SourceType");
    if let Some(s) = stype {
        let valid = [
            "cache-cluster",
            "cache-parameter-group",
            "cache-security-group",
            "cache-subnet-group",
            "replication-group",
            "serverless-cache",
            "serverless-cache-snapshot",
            "user",
            "user-group",
        ];
        if !valid.contains(&s) {
            return Err(invalid(format!("Invalid SourceType: {s}")));
        }
    }
    let sid = p.get("SourceIdentifier");
    // Newest first, as ElastiCache answers. Markers are the stored key
    // (`time-seq`) inverted digit by digit, so they ascend in that order.
    let mut all: Vec<(String, Event)> = app
        .store
        .list::<Event>(Kind::Event)?
        .into_iter()
        .filter(|(_, e)| {
            e.date_ms >= start
                && e.date_ms <= end
                && stype.is_none_or(|s| s == e.source_type)
                && sid.is_none_or(|s| s == e.source_id)
        })
        .map(|(k, e)| {
            let inv: String = k
                .chars()
                .map(|c| match c.to_digit(10) {
                    Some(d) => char::from(b'0' + (9 - d) as u8),
                    None => c,
                })
                .collect();
            (inv, e)
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let (items, marker) = page(&all, p)?;
    x.opt("Marker", marker);
    x.open("Events");
    for e in &items {
        x.open("Event")
            .leaf("SourceIdentifier", &e.source_id)
            .leaf("SourceType", &e.source_type)
            .leaf("Message", &e.message)
            .leaf("Date", iso8601(e.date_ms))
            .close("Event");
    }
    x.close("Events");
    Ok(())
}

/// Checks that an ARN names an existing resource of ours.
fn check_arn(app: &App, arn: &str) -> R<()> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let [a, aws, svc, _region, _account, kind, id] = parts.as_slice() else {
        return Err(err(400, "InvalidARN", format!("ARN {arn} is invalid.")));
    };
    if *a != "arn" || *aws != "aws" || *svc != "elasticache" {
        return Err(err(400, "InvalidARN", format!("ARN {arn} is invalid.")));
    }
    if arn != app.arn(kind, id) {
        return Err(err(
            400,
            "InvalidARN",
            format!("ARN {arn} is invalid: region or account do not match."),
        ));
    }
    let exists = match *kind {
        "cluster" => app.store.get::<Cluster>(Kind::Cluster, id)?.is_some(),
        "replicationgroup" => app
            .store
            .get::<ReplicationGroup>(Kind::ReplicationGroup, id)?
            .is_some(),
        "parametergroup" => app.store.get::<ParamGroup>(Kind::ParamGroup, id)?.is_some(),
        "snapshot" => app.store.get::<Snapshot>(Kind::Snapshot, id)?.is_some(),
        _ => return Err(err(400, "InvalidARN", format!("ARN {arn} is invalid."))),
    };
    if !exists {
        return Err(match *kind {
            "cluster" => not_found_cluster(id),
            "replicationgroup" => not_found_group(id),
            "parametergroup" => not_found_pg(id),
            _ => err(
                404,
                "SnapshotNotFoundFault",
                format!("Snapshot {id} not found."),
            ),
        });
    }
    Ok(())
}

pub(crate) fn apply_tags(
    app: &App,
    arn: &str,
    tags: &[(String, String)],
) -> R<Vec<(String, String)>> {
    app.store.write(|t| {
        let mut cur: Vec<(String, String)> = t.get(Kind::Tags, arn)?.unwrap_or_default();
        for (k, v) in tags {
            match cur.iter_mut().find(|(ck, _)| ck == k) {
                Some(e) => e.1 = v.clone(),
                None => cur.push((k.clone(), v.clone())),
            }
        }
        if cur.len() > 50 {
            return Ok(Err(err(400, "TagQuotaPerResourceExceeded", "The request cannot be processed because it would cause the resource to have more than the allowed number of tags. The maximum number of tags permitted on a resource is 50.")));
        }
        if !tags.is_empty() {
            t.put(Kind::Tags, arn, &cur)?;
        }
        Ok(Ok(cur))
    })?
}

fn tags_action(app: &App, action: &str, p: &Params, x: &mut Xml) -> R<()> {
    let arn = p.req("ResourceName")?;
    check_arn(app, arn)?;
    let tags = match action {
        "AddTagsToResource" => apply_tags(app, arn, &p.tags())?,
        "RemoveTagsFromResource" => {
            let keys = p.list("TagKeys");
            app.store.write(|t| {
                let mut cur: Vec<(String, String)> = t.get(Kind::Tags, arn)?.unwrap_or_default();
                cur.retain(|(k, _)| !keys.contains(k));
                t.put(Kind::Tags, arn, &cur)?;
                Ok(cur)
            })?
        }
        _ => app.store.get(Kind::Tags, arn)?.unwrap_or_default(),
    };
    tags_xml(x, &tags);
    Ok(())
}

/// Renders a successful response.
pub fn ok_xml(action: &str, result: Option<&str>, request_id: &str) -> String {
    let mut s = format!("<{action}Response xmlns=\"{XMLNS}\">");
    if let Some(r) = result {
        s.push_str(&format!("<{action}Result>{r}</{action}Result>"));
    }
    s.push_str(&format!(
        "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
    ));
    s
}

/// Renders an error response.
pub fn error_xml(code: &str, message: &str, request_id: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        xml_escape(code),
        xml_escape(message)
    )
}

/// Handles one HTTP request of the API: authentication, then the action.
/// Returns (status, XML body).
pub fn handle(
    app: &App,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    loopback: bool,
) -> (u16, String) {
    let rid = request_id();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut params: BTreeMap<String, String> = form_decode(query).into_iter().collect();
    let is_form = headers
        .iter()
        .any(|(n, v)| n == "content-type" && v.starts_with("application/x-www-form-urlencoded"));
    if method == "POST" && (is_form || !body.is_empty()) {
        params.extend(form_decode(&String::from_utf8_lossy(body)));
    }
    let admin = loopback
        && headers.iter().any(|(n, v)| {
            n == "x-ferrocache-admin-token" && !app.admin_token.is_empty() && *v == app.admin_token
        });
    if !admin {
        let r = sigv4::Request {
            method,
            path,
            query,
            headers,
            body,
        };
        let keys = |k: &str| -> Option<String> {
            app.store
                .get::<AccessKey>(Kind::AccessKey, k)
                .ok()
                .flatten()
                .filter(|a| a.active)
                .map(|a| a.secret)
        };
        if let Err(e) = sigv4::verify(&r, now_ms(), keys) {
            return (e.status, error_xml(e.code, &e.message, &rid));
        }
    }
    let Some(action) = params.get("Action").cloned() else {
        return (400, error_xml("MissingAction", "Missing Action", &rid));
    };
    if let Some(v) = params.get("Version") {
        if v != "2015-02-02" {
            return (
                400,
                error_xml(
                    "InvalidParameterValue",
                    &format!("Unsupported Version: {v}"),
                    &rid,
                ),
            );
        }
    }
    match dispatch(app, &action, &Params(params)) {
        Ok(r) => (200, ok_xml(&action, r.as_deref(), &rid)),
        Err(e) => (e.status, error_xml(&e.code, &e.message, &rid)),
    }
}
