//! The control plane's local command-line verbs: `ferrocache
//! create-access-key` and `ferrocache usage`. They talk to the running
//! `ferrocache serve` of the data directory with its local admin token
//! (data-dir/admin.token, readable only by its owner), or open the store
//! directly when no control plane runs.

use anyhow::{bail, Context, Result};
use ferrocache_control::serve::{default_data_dir, new_access_key, print_key};
use ferrocache_control::store::Store;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Options shared by the verbs: (data dir, remaining args as name → value).
fn opts(args: &[String]) -> Result<(PathBuf, Vec<(String, String)>)> {
    let mut dir = default_data_dir();
    let mut rest = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let v = match inline {
            Some(v) => v,
            None => it
                .next()
                .cloned()
                .with_context(|| format!("{name} needs a value"))?,
        };
        if name == "--data-dir" {
            dir = PathBuf::from(v);
        } else {
            rest.push((name, v));
        }
    }
    Ok((dir, rest))
}

/// A request to the running control plane with the admin token; None when
/// none answers.
fn local_call(dir: &Path, method: &str, path: &str) -> Result<Option<(u16, String)>> {
    let Ok(listen) = std::fs::read_to_string(dir.join("listen")) else {
        return Ok(None);
    };
    let token =
        std::fs::read_to_string(dir.join("admin.token")).context("cannot read admin.token")?;
    let Ok(mut s) = std::net::TcpStream::connect(listen.trim()) else {
        return Ok(None);
    };
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nX-Ferrocache-Admin-Token: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        listen.trim(),
        token.trim()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(500);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|x| x.1)
        .unwrap_or("")
        .to_string();
    Ok(Some((status, body)))
}

pub fn create_access_key(args: &[String]) -> Result<()> {
    let (dir, _) = opts(args)?;
    match local_call(&dir, "POST", "/_admin/create-access-key")? {
        Some((200, body)) => {
            let mut l = body.lines();
            let (id, secret) = (l.next().unwrap_or(""), l.next().unwrap_or(""));
            println!("Access key (the secret is shown only now):");
            println!("  AWS_ACCESS_KEY_ID={id}");
            println!("  AWS_SECRET_ACCESS_KEY={secret}");
            Ok(())
        }
        Some((s, body)) => bail!("control plane refused ({s}): {body}"),
        None => {
            let store = Store::open(&dir.join("state.redb"))?;
            print_key(&new_access_key(&store)?);
            Ok(())
        }
    }
}

pub fn usage(args: &[String]) -> Result<()> {
    let (dir, rest) = opts(args)?;
    let mut q = Vec::new();
    let mut json = false;
    for (k, v) in &rest {
        match k.as_str() {
            "--from" => q.push(format!("from={v}")),
            "--to" => q.push(format!("to={v}")),
            "--output" => json = v == "json",
            other => bail!("unknown option {other}\nusage: ferrocache usage [--from ISO8601] [--to ISO8601] [--output json|table] [--data-dir DIR]"),
        }
    }
    let path = format!("/usage?{}", q.join("&"));
    let body = match local_call(&dir, "GET", &path)? {
        Some((200, b)) => b,
        Some((s, b)) => bail!("control plane refused ({s}): {b}"),
        None => bail!(
            "no control plane is running for {} (start `ferrocache serve`)",
            dir.display()
        ),
    };
    if json {
        println!("{body}");
        return Ok(());
    }
    let v: ferrocache_control::serde_json::Value = ferrocache_control::serde_json::from_str(&body)?;
    println!(
        "Usage from {} to {}",
        v["from"].as_str().unwrap_or(""),
        v["to"].as_str().unwrap_or("")
    );
    println!(
        "{:<24} {:<12} {:<18} {:>12} {:>10}",
        "RESOURCE", "DAY", "NODE TYPE", "NODE-HOURS", "COST USD"
    );
    for l in v["lines"].as_array().cloned().unwrap_or_default() {
        println!(
            "{:<24} {:<12} {:<18} {:>12.4} {:>10.4}",
            l["resource"].as_str().unwrap_or(""),
            l["day"].as_str().unwrap_or(""),
            l["node_type"].as_str().unwrap_or(""),
            l["node_hours"].as_f64().unwrap_or(0.0),
            l["cost_usd"].as_f64().unwrap_or(0.0)
        );
    }
    println!(
        "{:<56} {:>12.4} {:>10.4}",
        "TOTAL",
        v["total_node_hours"].as_f64().unwrap_or(0.0),
        v["total_cost_usd"].as_f64().unwrap_or(0.0)
    );
    Ok(())
}

// ---- ElastiCache verbs (`ferrocache create-cache-cluster …`) -------------

/// Verbs of our own CLI: the AWS CLI's `elasticache` verbs, same options.
pub const VERBS: &[&str] = &[
    "create-cache-cluster",
    "describe-cache-clusters",
    "modify-cache-cluster",
    "delete-cache-cluster",
    "reboot-cache-cluster",
    "create-replication-group",
    "describe-replication-groups",
    "modify-replication-group",
    "delete-replication-group",
    "create-snapshot",
    "describe-snapshots",
    "delete-snapshot",
    "copy-snapshot",
    "create-cache-parameter-group",
    "describe-cache-parameter-groups",
    "describe-cache-parameters",
    "modify-cache-parameter-group",
    "reset-cache-parameter-group",
    "delete-cache-parameter-group",
    "describe-engine-default-parameters",
    "describe-cache-engine-versions",
    "describe-events",
    "add-tags-to-resource",
    "list-tags-for-resource",
    "remove-tags-from-resource",
];

/// `cache-cluster-id` → `CacheClusterId`.
fn pascal(kebab: &str) -> String {
    kebab
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Query-protocol names of list members.
fn list_member(param: &str) -> Option<&'static str> {
    Some(match param {
        "CacheNodeIdsToRemove" | "CacheNodeIdsToReboot" => "CacheNodeId",
        "TagKeys" => "member",
        "Tags" => "Tag",
        "ParameterNameValues" => "ParameterNameValue",
        "PreferredAvailabilityZones" => "PreferredAvailabilityZone",
        _ => return None,
    })
}

/// Element names that are lists in our XML responses.
const XML_LISTS: &[&str] = &[
    "CacheClusters",
    "CacheNodes",
    "CacheSecurityGroups",
    "SecurityGroups",
    "CacheNodeIdsToReboot",
    "CacheNodeIdsToRemove",
    "LogDeliveryConfigurations",
    "ReplicationGroups",
    "MemberClusters",
    "NodeGroups",
    "NodeGroupMembers",
    "CacheParameterGroups",
    "Parameters",
    "CacheNodeTypeSpecificParameters",
    "CacheEngineVersions",
    "Events",
    "TagList",
    "Snapshots",
    "NodeSnapshots",
];

use ferrocache_control::serde_json::{self as json, Value};

/// Parses our (attribute-free, entity-escaped) XML into JSON.
fn xml_to_json(x: &str) -> Value {
    fn unescape(s: &str) -> String {
        s.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&")
    }
    // Returns (name, value, rest) for the element at the start of `s`.
    fn element(s: &str) -> Option<(String, Value, &str)> {
        let s = s.trim_start();
        let s = s.strip_prefix('<')?;
        let end = s.find('>')?;
        let name = s.get(..end)?.split(' ').next()?.to_string();
        let mut rest = s.get(end + 1..)?;
        let close = format!("</{name}>");
        if !rest.trim_start().starts_with('<') || rest.trim_start().starts_with("</") {
            let stop = rest.find(&close)?;
            let text = unescape(rest.get(..stop)?);
            return Some((name, Value::String(text), rest.get(stop + close.len()..)?));
        }
        let mut kids: Vec<(String, Value)> = Vec::new();
        loop {
            let t = rest.trim_start();
            if let Some(after) = t.strip_prefix(close.as_str()) {
                rest = after;
                break;
            }
            let (n, v, r) = element(t)?;
            kids.push((n, v));
            rest = r;
        }
        let v = if XML_LISTS.contains(&name.as_str()) {
            Value::Array(kids.into_iter().map(|(_, v)| v).collect())
        } else {
            Value::Object(kids.into_iter().collect())
        };
        Some((name, v, rest))
    }
    element(x).map(|(_, v, _)| v).unwrap_or(Value::Null)
}

/// Calls the control plane: SigV4 with AWS_ACCESS_KEY_ID/SECRET from the
/// environment when set, else the local admin token of the data dir.
fn api_call(
    dir: &Path,
    endpoint: Option<&str>,
    params: &[(String, String)],
) -> Result<(u16, String)> {
    use ferrocache_control::util::{iso8601, now_ms, uri_encode};
    let listen = match endpoint {
        Some(e) => e
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
        None => std::fs::read_to_string(dir.join("listen"))
            .with_context(|| {
                format!(
                    "no control plane found in {} (use --endpoint-url or --data-dir)",
                    dir.display()
                )
            })?
            .trim()
            .to_string(),
    };
    let mut body = String::from("Version=2015-02-02");
    for (k, v) in params {
        body.push_str(&format!(
            "&{}={}",
            uri_encode(k, false),
            uri_encode(v, false)
        ));
    }
    let mut headers: Vec<(String, String)> = Vec::new();
    match (
        std::env::var("AWS_ACCESS_KEY_ID"),
        std::env::var("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Ok(k), Ok(s)) if !k.is_empty() => {
            let iso = iso8601(now_ms());
            let amz: String = iso
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == 'T')
                .take(15)
                .collect::<String>()
                + "Z";
            let region = std::env::var("AWS_DEFAULT_REGION").unwrap_or_else(|_| "us-east-1".into());
            headers = ferrocache_control::sigv4::sign(
                "POST",
                &listen,
                "/",
                "",
                body.as_bytes(),
                &k,
                &s,
                &region,
                &amz,
            );
        }
        _ => {
            let token = std::fs::read_to_string(dir.join("admin.token"))
                .context("no credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or run where the data dir is readable")?;
            headers.push((
                "Content-Type".into(),
                "application/x-www-form-urlencoded; charset=utf-8".into(),
            ));
            headers.push(("Host".into(), listen.clone()));
            headers.push(("X-Ferrocache-Admin-Token".into(), token.trim().into()));
        }
    }
    let mut s = std::net::TcpStream::connect(&listen)
        .with_context(|| format!("cannot reach the control plane at {listen}"))?;
    let mut req = format!(
        "POST / HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in &headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes())?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(500);
    Ok((
        status,
        resp.split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default(),
    ))
}

/// The `<ActionResult>` of a response as JSON, or the error as an `Err`.
fn call_json(
    dir: &Path,
    endpoint: Option<&str>,
    action: &str,
    params: &[(String, String)],
) -> Result<Value> {
    let mut all = vec![("Action".to_string(), action.to_string())];
    all.extend_from_slice(params);
    let (status, body) = api_call(dir, endpoint, &all)?;
    let v = xml_to_json(&body);
    if status != 200 {
        let e = &v["Error"];
        bail!(
            "An error occurred ({}) when calling the {action} operation: {}",
            e["Code"].as_str().unwrap_or("?"),
            e["Message"].as_str().unwrap_or(&body)
        );
    }
    Ok(v.get(format!("{action}Result"))
        .cloned()
        .unwrap_or(Value::Object(Default::default())))
}

fn print_table(v: &Value) {
    // The first list in the result, as rows of its scalar fields.
    let Some((name, rows)) = v.as_object().and_then(|o| {
        o.iter()
            .find_map(|(k, v)| v.as_array().map(|a| (k.clone(), a.clone())))
    }) else {
        // A single resource: key/value lines.
        if let Some(o) = v.as_object() {
            for (k, inner) in o {
                match inner.as_object() {
                    Some(fields) => {
                        println!("{k}");
                        for (fk, fv) in fields {
                            if let Some(s) = fv.as_str() {
                                println!("  {fk:<32} {s}");
                            }
                        }
                    }
                    None => println!("{k:<34} {}", inner.as_str().unwrap_or("")),
                }
            }
        }
        return;
    };
    let preferred: &[&str] = match name.as_str() {
        "CacheClusters" => &[
            "CacheClusterId",
            "Engine",
            "CacheClusterStatus",
            "NumCacheNodes",
            "CacheNodeType",
            "ReplicationGroupId",
        ],
        "ReplicationGroups" => &[
            "ReplicationGroupId",
            "Status",
            "CacheNodeType",
            "Description",
        ],
        "Events" => &["Date", "SourceIdentifier", "SourceType", "Message"],
        "Snapshots" => &[
            "SnapshotName",
            "SnapshotStatus",
            "CacheClusterId",
            "SnapshotSource",
        ],
        "Parameters" => &["ParameterName", "ParameterValue", "Source", "ChangeType"],
        "CacheParameterGroups" => &[
            "CacheParameterGroupName",
            "CacheParameterGroupFamily",
            "Description",
        ],
        "CacheEngineVersions" => &["Engine", "EngineVersion", "CacheParameterGroupFamily"],
        "TagList" => &["Key", "Value"],
        _ => &[],
    };
    let cols: Vec<String> = if preferred.is_empty() {
        rows.first()
            .and_then(|r| r.as_object())
            .map(|o| {
                o.iter()
                    .filter(|(_, v)| v.is_string())
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        preferred.iter().map(|s| s.to_string()).collect()
    };
    let mut table: Vec<Vec<String>> = vec![cols.iter().map(|c| c.to_string()).collect()];
    for r in &rows {
        let mut line: Vec<String> = cols
            .iter()
            .map(|c| r[c].as_str().unwrap_or("").to_string())
            .collect();
        if name == "CacheClusters" {
            // Endpoint: configuration endpoint or the first node's.
            let ep = if r["ConfigurationEndpoint"].is_object() {
                &r["ConfigurationEndpoint"]
            } else {
                &r["CacheNodes"][0]["Endpoint"]
            };
            line.push(
                ep["Address"]
                    .as_str()
                    .map(|a| format!("{a}:{}", ep["Port"].as_str().unwrap_or("")))
                    .unwrap_or_default(),
            );
        }
        if name == "ReplicationGroups" {
            let ep = &r["NodeGroups"][0]["PrimaryEndpoint"];
            line.push(
                ep["Address"]
                    .as_str()
                    .map(|a| format!("{a}:{}", ep["Port"].as_str().unwrap_or("")))
                    .unwrap_or_default(),
            );
        }
        table.push(line);
    }
    if name == "CacheClusters" || name == "ReplicationGroups" {
        table[0].push("Endpoint".into());
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|i| {
            table
                .iter()
                .map(|r| r.get(i).map_or(0, |c| c.len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in &table {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
    if let Some(m) = v["Marker"].as_str() {
        println!("(more: --marker {m})");
    }
}

/// `ferrocache <verb> [--endpoint-url URL] [--data-dir D] [--output table|json] [--wait] --option value …`
pub fn verb(verb: &str, args: &[String]) -> Result<()> {
    let action = pascal(verb);
    let mut dir = default_data_dir();
    let mut endpoint = None;
    let mut json_out = false;
    let mut wait = false;
    let mut params: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        let Some(name) = a.strip_prefix("--") else {
            bail!("unexpected argument {a}")
        };
        let mut values = Vec::new();
        while let Some(v) = args.get(i + 1).filter(|v| !v.starts_with("--")) {
            values.push(v.clone());
            i += 1;
        }
        i += 1;
        let one = || {
            values
                .first()
                .cloned()
                .with_context(|| format!("--{name} needs a value"))
        };
        match name {
            "data-dir" => dir = PathBuf::from(one()?),
            "endpoint-url" => endpoint = Some(one()?),
            "output" => json_out = one()? == "json",
            "wait" => wait = true,
            _ => {
                if let Some(flag) = name.strip_prefix("no-") {
                    params.push((pascal(flag), "false".into()));
                    continue;
                }
                let p = pascal(name);
                match list_member(&p) {
                    Some(member) => {
                        for (n, v) in values.iter().enumerate() {
                            if v.contains('=') {
                                for kv in v.split(',') {
                                    let (k, val) = kv.split_once('=').unwrap_or((kv, ""));
                                    params
                                        .push((format!("{p}.{member}.{}.{k}", n + 1), val.into()));
                                }
                            } else {
                                params.push((format!("{p}.{member}.{}", n + 1), v.clone()));
                            }
                        }
                    }
                    None if values.is_empty() => params.push((p, "true".into())),
                    None => params.push((p, values.join(" "))),
                }
            }
        }
    }
    let ep = endpoint.as_deref();
    let mut v = call_json(&dir, ep, &action, &params)?;
    if wait {
        // Show the resource as it is once the wait is over, not the
        // response from before it.
        if let Some(now) = wait_for(&dir, ep, &action, &params)? {
            v = now;
        }
    }
    if json_out {
        println!("{}", json::to_string_pretty(&v)?);
    } else {
        print_table(&v);
    }
    Ok(())
}

/// `--wait`: polls until the resource is available (or gone after a
/// delete), with a progress line.
fn wait_for(
    dir: &Path,
    ep: Option<&str>,
    action: &str,
    params: &[(String, String)],
) -> Result<Option<json::Value>> {
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let start = std::time::Instant::now();
    let deleting = action.starts_with("Delete");
    let (describe, key, id) = if let Some(id) = get("CacheClusterId") {
        ("DescribeCacheClusters", "CacheClusterId", id)
    } else if let Some(id) = get("ReplicationGroupId") {
        ("DescribeReplicationGroups", "ReplicationGroupId", id)
    } else {
        return Ok(None);
    };
    loop {
        let mut p = vec![(key.to_string(), id.clone())];
        if describe == "DescribeCacheClusters" {
            p.push(("ShowCacheNodeInfo".into(), "true".into()));
        }
        let _status = match call_json(dir, ep, describe, &p) {
            Err(e) if deleting && e.to_string().contains("NotFound") => {
                eprintln!(
                    "\r{id}: deleted ({}s)                    ",
                    start.elapsed().as_secs()
                );
                return Ok(None);
            }
            Err(e) => return Err(e),
            Ok(v) => {
                let list = if describe == "DescribeCacheClusters" {
                    &v["CacheClusters"][0]
                } else {
                    &v["ReplicationGroups"][0]
                };
                let s = list["CacheClusterStatus"]
                    .as_str()
                    .or(list["Status"].as_str())
                    .unwrap_or("?")
                    .to_string();
                let nodes = list["CacheNodes"].as_array().map(|n| {
                    let up = n
                        .iter()
                        .filter(|x| x["CacheNodeStatus"] == "available")
                        .count();
                    format!(" ({up}/{} nodes available)", n.len())
                });
                eprint!(
                    "\r{id}: {s}{} {}s   ",
                    nodes.unwrap_or_default(),
                    start.elapsed().as_secs()
                );
                if !deleting && s == "available" {
                    eprintln!();
                    return Ok(Some(v));
                }
                s
            }
        };
        if start.elapsed() > std::time::Duration::from_secs(600) {
            bail!("timed out waiting for {id}");
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}
