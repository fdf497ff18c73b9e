//! The control plane end to end: `ferrocache serve` on a temporary data
//! directory, driven through the ElastiCache Query API (requests signed
//! with SigV4 here, and by boto3 / the AWS CLI in tests/control_py/*.py).
//!
//! Covers: memcached clusters (Auto Discovery with pymemcache's
//! HashClient, 10,000 keys, scale 3 → 5 → 2, delete), a redis replication
//! group through its primary endpoint with redis-py, a node killed with
//! `kill -9` and replaced with events, the control plane killed with
//! `kill -9` mid-operation and converging after restart, unsigned and badly
//! signed requests refused, and every action's response parsed by boto3.
//! The Python interpreter comes from `FERROCACHE_PYTHON` (scripts/test
//! makes a venv with boto3, awscli, redis-py and pymemcache).

use ferrocache_control::sigv4;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct ControlPlane {
    child: Option<Child>,
    dir: PathBuf,
    listen: String,
    range: String,
    key: String,
    secret: String,
    /// More `serve` options and environment (S3 backup store, test clock).
    extra: Vec<String>,
    env: Vec<(String, String)>,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// Pids of processes whose command line mentions `needle`.
fn pids_mentioning(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        if stat
            .rsplit_once(')')
            .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        {
            continue;
        }
        if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if c.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                out.push(pid);
            }
        }
    }
    out
}

fn kill9(pid: u32) {
    let _ = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status();
}

impl ControlPlane {
    fn start() -> ControlPlane {
        ControlPlane::start_with(&[], &[])
    }

    fn start_with(extra: &[&str], env: &[(&str, &str)]) -> ControlPlane {
        let dir = std::env::temp_dir().join(format!(
            "ferrocache-control-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let base = 20000 + (rand::random::<u16>() % 90) * 100;
        let mut cp = ControlPlane {
            child: None,
            dir,
            listen: format!("127.0.0.1:{}", free_port()),
            range: format!("{base}-{}", base + 99),
            key: String::new(),
            secret: String::new(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        cp.spawn();
        cp
    }

    /// Starts (or restarts) `ferrocache serve`; on first start reads the
    /// access key it prints.
    fn spawn(&mut self) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
            .args(["serve", "--data-dir", self.dir.to_str().unwrap_or(".")])
            .args(["--listen", &self.listen, "--port-range", &self.range])
            .args(&self.extra)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn serve");
        let out = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(out).lines();
        loop {
            let l = lines.next().expect("serve exited").expect("read");
            if let Some(k) = l.trim().strip_prefix("AWS_ACCESS_KEY_ID=") {
                self.key = k.to_string();
            } else if let Some(s) = l.trim().strip_prefix("AWS_SECRET_ACCESS_KEY=") {
                self.secret = s.to_string();
            } else if l.starts_with("ferrocache control plane") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn node_pids(&self) -> Vec<u32> {
        pids_mentioning(&format!("{}/nodes/", self.dir.display()))
    }

    /// A signed Query API call; returns (status, body).
    fn call(&self, params: &[(&str, &str)]) -> (u16, String) {
        let mut body = String::from("Version=2015-02-02");
        for (k, v) in params {
            body.push('&');
            body.push_str(&ferrocache_control::util::uri_encode(k, false));
            body.push('=');
            body.push_str(&ferrocache_control::util::uri_encode(v, false));
        }
        let now = ferrocache_control::util::now_ms();
        let iso = ferrocache_control::util::iso8601(now);
        let amz: String = iso
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == 'T')
            .take(15)
            .collect::<String>()
            + "Z";
        let h = sigv4::sign(
            "POST",
            &self.listen,
            "/",
            "",
            body.as_bytes(),
            &self.key,
            &self.secret,
            "us-east-1",
            &amz,
        );
        raw_http(&self.listen, "POST", "/", &h, body.as_bytes())
    }

    fn python(&self, script: &str, args: &[&str]) {
        let Some(python) = std::env::var_os("FERROCACHE_PYTHON") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "FERROCACHE_PYTHON is not set (scripts/test makes the venv)"
            );
            eprintln!("FERROCACHE_PYTHON not set: skipping {script}");
            return;
        };
        let path = format!("{}/tests/control_py/{script}", env!("CARGO_MANIFEST_DIR"));
        let bin = PathBuf::from(&python)
            .parent()
            .map(|p| p.to_path_buf())
            .unwrap_or_default();
        let out = Command::new(&python)
            .arg(&path)
            .args(args)
            .env("FC_ENDPOINT", format!("http://{}", self.listen))
            .env("FC_DATA_DIR", &self.dir)
            .env("AWS_ACCESS_KEY_ID", &self.key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret)
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("FC_AWS_CLI", bin.join("aws"))
            .output()
            .expect("run python");
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
            "{script} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Polls DescribeCacheClusters until `pred` holds on the body.
    fn wait_for(
        &self,
        params: &[(&str, &str)],
        secs: u64,
        pred: impl Fn(u16, &str) -> bool,
    ) -> String {
        let t = Instant::now();
        loop {
            let (s, b) = self.call(params);
            if pred(s, &b) {
                return b;
            }
            assert!(
                t.elapsed() < Duration::from_secs(secs),
                "timed out waiting; last reply {s}: {b}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        self.kill9();
        for p in self.node_pids() {
            kill9(p);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn raw_http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write");
    s.write_all(body).expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (
        status,
        resp.split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default(),
    )
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn unsigned_and_badly_signed_requests_are_refused() {
    let cp = ControlPlane::start();
    let body = b"Action=DescribeCacheClusters&Version=2015-02-02";
    let form = vec![
        (
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("Host".to_string(), cp.listen.clone()),
    ];
    let (s, b) = raw_http(&cp.listen, "POST", "/", &form, body);
    assert_eq!(s, 403, "{b}");
    assert!(b.contains("<Code>MissingAuthenticationToken</Code>"), "{b}");
    assert!(
        b.contains("<ErrorResponse") && b.contains("<RequestId>"),
        "{b}"
    );
    let amz = "20990101T000000Z";
    let h = sigv4::sign(
        "POST",
        &cp.listen,
        "/",
        "",
        body,
        &cp.key,
        "wrong-secret",
        "us-east-1",
        amz,
    );
    let (s, b) = raw_http(&cp.listen, "POST", "/", &h, body);
    assert_eq!(s, 403, "{b}");
    assert!(
        b.contains("<Code>SignatureDoesNotMatch</Code>") && b.contains("Signature expired"),
        "{b}"
    );
    let (s, b) = cp.call(&[("Action", "DescribeCacheClusters")]);
    assert_eq!(s, 200, "{b}");
    assert!(b.contains("<DescribeCacheClustersResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\">"), "{b}");
    let mut bad = ControlPlane {
        child: None,
        dir: PathBuf::from("/nonexistent"),
        listen: cp.listen.clone(),
        range: String::new(),
        key: "AKIANOTAKEY00000000".into(),
        secret: "x".into(),
        extra: Vec::new(),
        env: Vec::new(),
    };
    let (s, b) = bad.call(&[("Action", "DescribeCacheClusters")]);
    assert_eq!(s, 403, "{b}");
    assert!(b.contains("<Code>InvalidClientTokenId</Code>"), "{b}");
    bad.key = cp.key.clone();
    let (s, b) = bad.call(&[("Action", "DescribeCacheClusters")]);
    assert!(
        s == 403 && b.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{b}"
    );
    std::mem::forget(bad);
    let (s, b) = cp.call(&[("Action", "NoSuchAction")]);
    assert!(s == 400 && b.contains("<Code>InvalidAction</Code>"), "{b}");
    let (s, b) = cp.call(&[
        ("Action", "DescribeCacheClusters"),
        ("CacheClusterId", "nope"),
    ]);
    assert!(
        s == 404 && b.contains("<Code>CacheClusterNotFound</Code>"),
        "{b}"
    );
    cp.python("auth.py", &[]);
}

#[test]
fn control_plane_survives_kill9_mid_operation() {
    let mut cp = ControlPlane::start();
    let create = [
        ("Action", "CreateCacheCluster"),
        ("CacheClusterId", "kc"),
        ("Engine", "memcached"),
        ("NumCacheNodes", "3"),
        ("CacheNodeType", "cache.t4g.micro"),
    ];
    let (s, b) = cp.call(&create);
    assert_eq!(s, 200, "{b}");
    // Killed while the nodes are being created.
    std::thread::sleep(Duration::from_millis(150));
    cp.kill9();
    cp.spawn();
    let describe = [
        ("Action", "DescribeCacheClusters"),
        ("CacheClusterId", "kc"),
        ("ShowCacheNodeInfo", "true"),
    ];
    let b = cp.wait_for(&describe, 30, |_, b| {
        b.contains("<CacheClusterStatus>available</CacheClusterStatus>")
            && count(b, "<CacheNodeStatus>available</CacheNodeStatus>") == 3
    });
    let pids = cp.node_pids();
    assert_eq!(pids.len(), 3, "exactly three node processes: {pids:?}\n{b}");
    // The same cluster again is refused: the store kept it.
    let (s, b) = cp.call(&create);
    assert!(s == 400 && b.contains("CacheClusterAlreadyExists"), "{b}");
    // Killed again while scaling in: the removed node goes, the rest stay.
    let (s, b) = cp.call(&[
        ("Action", "ModifyCacheCluster"),
        ("CacheClusterId", "kc"),
        ("NumCacheNodes", "2"),
        ("CacheNodeIdsToRemove.CacheNodeId.1", "0002"),
        ("ApplyImmediately", "true"),
    ]);
    assert_eq!(s, 200, "{b}");
    cp.kill9();
    cp.spawn();
    cp.wait_for(&describe, 30, |_, b| {
        b.contains("<CacheClusterStatus>available</CacheClusterStatus>")
            && count(b, "<CacheNodeId>") == 2
            && !b.contains("<CacheNodeId>0002</CacheNodeId>")
    });
    assert_eq!(cp.node_pids().len(), 2);
    // Killed right after a delete was accepted.
    let (s, b) = cp.call(&[("Action", "DeleteCacheCluster"), ("CacheClusterId", "kc")]);
    assert!(
        s == 200 && b.contains("<CacheClusterStatus>deleting</CacheClusterStatus>"),
        "{b}"
    );
    cp.kill9();
    cp.spawn();
    cp.wait_for(&describe, 30, |s, b| {
        s == 404 && b.contains("CacheClusterNotFound")
    });
    let t = Instant::now();
    while !cp.node_pids().is_empty() && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        cp.node_pids().is_empty(),
        "node processes left: {:?}",
        cp.node_pids()
    );
    let (_, ev) = cp.call(&[("Action", "DescribeEvents"), ("SourceIdentifier", "kc")]);
    assert!(
        ev.contains("Cache cluster created") && ev.contains("Cache cluster deleted"),
        "{ev}"
    );
}

#[test]
fn memcached_cluster_with_auto_discovery() {
    let cp = ControlPlane::start();
    cp.python("memcached_cluster.py", &[]);
}

#[test]
fn redis_group_primary_endpoint_and_self_healing() {
    let cp = ControlPlane::start();
    cp.python("redis_group.py", &[]);
}

#[test]
fn every_action_parses_in_boto3() {
    let cp = ControlPlane::start();
    cp.python("actions.py", &[]);
}

fn fc(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .expect("run ferrocache");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn own_cli_usage_metrics_and_access_keys() {
    let mut cp = ControlPlane::start();
    let d = cp.dir.to_string_lossy().to_string();
    let t0 = Instant::now();
    let (ok, out) = fc(&[
        "create-cache-cluster",
        "--data-dir",
        &d,
        "--cache-cluster-id",
        "cli",
        "--engine",
        "memcached",
        "--num-cache-nodes",
        "2",
        "--cache-node-type",
        "cache.t4g.micro",
        "--wait",
    ]);
    assert!(
        ok && out.contains("cli: available (2/2 nodes available)"),
        "{out}"
    );
    let (ok, out) = fc(&[
        "describe-cache-clusters",
        "--data-dir",
        &d,
        "--show-cache-node-info",
    ]);
    assert!(
        ok && out.contains("CacheClusterId") && out.contains("cli") && out.contains("available"),
        "{out}"
    );
    let (ok, out) = fc(&[
        "describe-cache-clusters",
        "--data-dir",
        &d,
        "--output",
        "json",
        "--show-cache-node-info",
    ]);
    let v: ferrocache_control::serde_json::Value =
        ferrocache_control::serde_json::from_str(&out).expect(&out);
    assert!(
        ok && v["CacheClusters"][0]["CacheNodes"]
            .as_array()
            .map(|a| a.len())
            == Some(2),
        "{out}"
    );
    let (ok, out) = fc(&[
        "describe-cache-clusters",
        "--data-dir",
        &d,
        "--cache-cluster-id",
        "nope",
    ]);
    assert!(!ok && out.contains("(CacheClusterNotFound)"), "{out}");

    // A new access key works for signed calls.
    let (ok, out) = fc(&["create-access-key", "--data-dir", &d]);
    assert!(ok, "{out}");
    let key = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("AWS_ACCESS_KEY_ID="))
        .expect(&out)
        .to_string();
    let secret = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("AWS_SECRET_ACCESS_KEY="))
        .expect(&out)
        .to_string();
    assert_ne!(key, cp.key);
    let (k0, s0) = (
        std::mem::replace(&mut cp.key, key),
        std::mem::replace(&mut cp.secret, secret),
    );
    let (s, b) = cp.call(&[("Action", "DescribeCacheClusters")]);
    assert_eq!(s, 200, "{b}");
    cp.key = k0;
    cp.secret = s0;

    // Metrics: scraped every 5 s, CloudWatch names.
    let t = Instant::now();
    let metrics = loop {
        let (s, b) = raw_http(&cp.listen, "GET", "/metrics", &[], b"");
        if s == 200
            && b.contains(
                "elasticache_CurrConnections{cache_cluster_id=\"cli\",cache_node_id=\"0002\"}",
            )
        {
            break b;
        }
        assert!(t.elapsed() < Duration::from_secs(15), "{s} {b}");
        std::thread::sleep(Duration::from_millis(500));
    };
    for m in [
        "CPUUtilization",
        "CacheHits",
        "CurrItems",
        "BytesUsedForCache",
        "NetworkBytesIn",
        "GetTypeCmds",
    ] {
        assert!(
            metrics.contains(&format!("elasticache_{m}{{")),
            "{m}: {metrics}"
        );
    }
    let (s, b) = raw_http(
        &cp.listen,
        "GET",
        "/metrics.json?CacheClusterId=cli",
        &[],
        b"",
    );
    assert!(
        s == 200 && b.contains("\"CacheClusterId\":\"cli\"") && b.contains("CurrConnections"),
        "{b}"
    );

    // Usage: two node-hours per hour since creation.
    let (ok, out) = fc(&["usage", "--data-dir", &d, "--output", "json"]);
    assert!(ok, "{out}");
    let v: ferrocache_control::serde_json::Value =
        ferrocache_control::serde_json::from_str(&out).expect(&out);
    let hours = v["total_node_hours"].as_f64().unwrap_or(0.0);
    let elapsed_h = t0.elapsed().as_secs_f64() / 3600.0;
    assert!(
        hours > 0.0 && hours <= 2.0 * elapsed_h + 1e-9,
        "{hours} vs {elapsed_h}: {out}"
    );
    assert!(
        hours >= 2.0 * (elapsed_h - 20.0 / 3600.0),
        "{hours} vs {elapsed_h}: {out}"
    );
    let (ok, out) = fc(&["usage", "--data-dir", &d]);
    assert!(
        ok && out.contains("cache.t4g.micro") && out.contains("TOTAL"),
        "{out}"
    );
    let (s, _) = raw_http(&cp.listen, "GET", "/usage", &[], b"");
    assert_eq!(s, 403);

    let (ok, out) = fc(&[
        "delete-cache-cluster",
        "--data-dir",
        &d,
        "--cache-cluster-id",
        "cli",
        "--wait",
    ]);
    assert!(ok && out.contains("cli: deleted"), "{out}");
}

/// The text of every `<name>…</name>` in an XML body.
fn tags(body: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    body.split(&open)
        .skip(1)
        .filter_map(|x| x.split(&close).next().map(str::to_string))
        .collect()
}

fn tag(body: &str, name: &str) -> String {
    tags(body, name).into_iter().next().unwrap_or_default()
}

impl ControlPlane {
    /// Moves the schedules' clock (`serve --test-clock`); returns the offset.
    fn advance_clock(&self, ms: i64) -> i64 {
        let token = std::fs::read_to_string(self.dir.join("admin.token")).expect("admin token");
        let (s, b) = raw_http(
            &self.listen,
            "POST",
            &format!("/_admin/clock?advance_ms={ms}"),
            &[("x-ferrocache-admin-token".into(), token.trim().to_string())],
            b"",
        );
        assert_eq!(s, 200, "{b}");
        b.trim().parse().expect("offset")
    }

    fn wait_group(&self, id: &str) -> String {
        self.wait_for(
            &[
                ("Action", "DescribeReplicationGroups"),
                ("ReplicationGroupId", id),
            ],
            30,
            |_, b| b.contains("<Status>available</Status>"),
        )
    }

    fn wait_group_gone(&self, id: &str) {
        self.wait_for(
            &[
                ("Action", "DescribeReplicationGroups"),
                ("ReplicationGroupId", id),
            ],
            30,
            |s, b| s == 404 && b.contains("ReplicationGroupNotFoundFault"),
        );
    }

    fn wait_snapshot(&self, name: &str) -> String {
        self.wait_for(
            &[("Action", "DescribeSnapshots"), ("SnapshotName", name)],
            30,
            |_, b| b.contains("<SnapshotStatus>available</SnapshotStatus>"),
        )
    }

    /// A redis connection to a group's primary endpoint.
    fn redis(&self, group_xml: &str) -> redis::Connection {
        let ep = group_xml
            .split("<PrimaryEndpoint>")
            .nth(1)
            .expect("primary endpoint");
        let port = tag(ep, "Port");
        let c = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("client");
        let t = Instant::now();
        loop {
            match c.get_connection() {
                Ok(con) => return con,
                Err(e) => {
                    assert!(t.elapsed() < Duration::from_secs(10), "{e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

fn fill(con: &mut redis::Connection, n: usize) {
    let mut p = redis::pipe();
    for i in 0..n {
        p.set(format!("k{i}"), format!("v{i}")).ignore();
    }
    p.query::<()>(con).expect("fill");
}

fn check_filled(con: &mut redis::Connection, n: usize) {
    let size: usize = redis::cmd("DBSIZE").query(con).expect("dbsize");
    assert_eq!(size, n);
    for i in (0..n).step_by(97) {
        let v: String = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query(con)
            .expect("get");
        assert_eq!(v, format!("v{i}"));
    }
}

/// `hh:mm-hh:mm` (UTC) starting a minute before `ms`, 60 minutes long.
fn window_around(ms: u64) -> String {
    let m = (ms / 60_000 + 1440 - 1) % 1440;
    let e = (m + 60) % 1440;
    format!("{:02}:{:02}-{:02}:{:02}", m / 60, m % 60, e / 60, e % 60)
}

/// `ddd:hh:mm-ddd:hh:mm` covering `ms` (a minute before, 60 minutes).
fn maintenance_around(ms: u64) -> String {
    let days = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    let week = 7 * 1440;
    let m = ((ms / 60_000 + 4 * 1440) % week + week - 1) % week; // Sunday 0
    let e = (m + 60) % week;
    let f = |x: u64| {
        format!(
            "{}:{:02}:{:02}",
            days[(x / 1440) as usize],
            (x % 1440) / 60,
            x % 60
        )
    };
    format!("{}-{}", f(m), f(e))
}

/// At-rest encryption, automatic snapshots on a moved clock, restores
/// across keys, export, and the final snapshot on delete.
#[test]
fn encryption_automatic_and_final_snapshots() {
    let cp = ControlPlane::start_with(&["--test-clock"], &[]);
    let now = ferrocache_control::util::now_ms();
    let window = window_around(now);
    let (s, b) = cp.call(&[
        ("Action", "CreateReplicationGroup"),
        ("ReplicationGroupId", "enc"),
        ("ReplicationGroupDescription", "encrypted"),
        ("CacheNodeType", "cache.t4g.micro"),
        ("AtRestEncryptionEnabled", "true"),
        ("SnapshotRetentionLimit", "36"),
    ]);
    assert!(s == 400 && b.contains("SnapshotRetentionLimit"), "{b}");
    let (s, b) = cp.call(&[
        ("Action", "CreateReplicationGroup"),
        ("ReplicationGroupId", "enc"),
        ("ReplicationGroupDescription", "encrypted"),
        ("CacheNodeType", "cache.t4g.micro"),
        ("AtRestEncryptionEnabled", "true"),
        ("SnapshotWindow", "05:00-05:30"),
    ]);
    assert!(s == 400 && b.contains("snapshot window"), "{b}");
    let (s, b) = cp.call(&[
        ("Action", "CreateReplicationGroup"),
        ("ReplicationGroupId", "enc"),
        ("ReplicationGroupDescription", "encrypted"),
        ("CacheNodeType", "cache.t4g.micro"),
        ("AtRestEncryptionEnabled", "true"),
    ]);
    assert_eq!(s, 200, "{b}");
    assert!(
        b.contains("<AtRestEncryptionEnabled>true</AtRestEncryptionEnabled>"),
        "{b}"
    );
    let g = cp.wait_group("enc");
    let mut con = cp.redis(&g);
    fill(&mut con, 2000);
    // Daily backups on, in a window around now.
    let (s, b) = cp.call(&[
        ("Action", "ModifyReplicationGroup"),
        ("ReplicationGroupId", "enc"),
        ("SnapshotRetentionLimit", "1"),
        ("SnapshotWindow", &window),
        ("ApplyImmediately", "true"),
    ]);
    assert!(
        s == 200 && b.contains("<SnapshotRetentionLimit>1</SnapshotRetentionLimit>"),
        "{b}"
    );
    let auto = [
        ("Action", "DescribeSnapshots"),
        ("SnapshotSource", "system"),
    ];
    let b = cp.wait_for(&auto, 30, |_, b| {
        b.contains("<SnapshotStatus>available</SnapshotStatus>")
    });
    let first = tag(&b, "SnapshotName");
    let stamp = ferrocache_control::util::iso8601(now);
    assert!(
        first.starts_with(&format!(
            "automatic.enc-001-{}",
            stamp.get(..10).unwrap_or("")
        )),
        "{first}"
    );
    assert_eq!(
        first.len(),
        "automatic.enc-001-YYYY-MM-DD-HH-MM".len(),
        "{first}"
    );
    assert_eq!(tags(&b, "SnapshotName").len(), 1, "one per day: {b}");
    assert!(
        b.contains("<SnapshotSource>automated</SnapshotSource>"),
        "{b}"
    );
    // Encrypted on the node and in the backup store.
    let stored = cp.dir.join("backups").join(format!("{first}.rdb"));
    let bytes = std::fs::read(&stored).expect("backup file");
    assert!(bytes.starts_with(b"FCRDBENC"), "backup is not encrypted");
    let dumps: Vec<_> = std::fs::read_dir(cp.dir.join("nodes"))
        .expect("nodes")
        .flatten()
        .map(|e| e.path().join("dump.rdb"))
        .filter(|p| p.exists())
        .collect();
    assert!(!dumps.is_empty());
    for d in &dumps {
        let head = std::fs::read(d).expect("dump");
        assert!(head.starts_with(b"FCRDBENC"), "{} is plain", d.display());
    }
    // A day later: the next daily snapshot, and the first one expires
    // (retention 1 day).
    cp.advance_clock(86_400_000);
    let b = cp.wait_for(&auto, 30, |_, b| {
        let names = tags(b, "SnapshotName");
        names.len() == 1
            && names[0] != first
            && b.contains("<SnapshotStatus>available</SnapshotStatus>")
    });
    let second = tag(&b, "SnapshotName");
    assert!(!cp.dir.join("backups").join(format!("{first}.rdb")).exists());
    let (_, ev) = cp.call(&[
        ("Action", "DescribeEvents"),
        ("SourceIdentifier", "enc-001"),
    ]);
    assert!(
        ev.contains(&format!("Automatic snapshot {first} deleted")),
        "{ev}"
    );
    // Newest first.
    let dates = tags(&ev, "Date");
    assert!(
        dates.len() > 3 && dates.windows(2).all(|w| w[0] >= w[1]),
        "{ev}"
    );

    // Restore into a plain group and into another encrypted one.
    for (id, enc) in [("plain", "false"), ("enc2", "true")] {
        let (s, b) = cp.call(&[
            ("Action", "CreateReplicationGroup"),
            ("ReplicationGroupId", id),
            ("ReplicationGroupDescription", "restored"),
            ("CacheNodeType", "cache.t4g.micro"),
            ("AtRestEncryptionEnabled", enc),
            ("SnapshotName", &second),
        ]);
        assert_eq!(s, 200, "{b}");
        let g = cp.wait_group(id);
        assert!(
            g.contains(&format!(
                "<AtRestEncryptionEnabled>{enc}</AtRestEncryptionEnabled>"
            )),
            "{g}"
        );
        check_filled(&mut cp.redis(&g), 2000);
    }
    // Export: a plain RDB file.
    let export = cp.dir.join("export");
    std::fs::create_dir_all(&export).expect("mkdir");
    let (s, b) = cp.call(&[
        ("Action", "CopySnapshot"),
        ("SourceSnapshotName", &second),
        ("TargetSnapshotName", "exported"),
        ("TargetBucket", export.to_str().unwrap_or("")),
    ]);
    assert_eq!(s, 200, "{b}");
    let rdb = std::fs::read(export.join("exported.rdb")).expect("export");
    assert!(rdb.starts_with(b"REDIS"), "export is not a plain RDB");

    // Delete with a final snapshot: taken before the node goes, kept
    // (manual, encrypted); the automatic ones go with the cluster.
    let (s, b) = cp.call(&[
        ("Action", "DeleteReplicationGroup"),
        ("ReplicationGroupId", "enc"),
        ("FinalSnapshotIdentifier", "enc-final"),
    ]);
    assert!(s == 200 && b.contains("<Status>deleting</Status>"), "{b}");
    cp.wait_group_gone("enc");
    let b = cp.wait_snapshot("enc-final");
    assert!(b.contains("<SnapshotSource>manual</SnapshotSource>"), "{b}");
    let (_, b) = cp.call(&auto);
    assert!(!b.contains(&second), "{b}");
    let bytes = std::fs::read(cp.dir.join("backups").join("enc-final.rdb")).expect("final");
    assert!(bytes.starts_with(b"FCRDBENC"));
    // Its key outlived the group: it restores.
    let (s, b) = cp.call(&[
        ("Action", "CreateReplicationGroup"),
        ("ReplicationGroupId", "again"),
        ("ReplicationGroupDescription", "from the final snapshot"),
        ("CacheNodeType", "cache.t4g.micro"),
        ("SnapshotName", "enc-final"),
    ]);
    assert_eq!(s, 200, "{b}");
    check_filled(&mut cp.redis(&cp.wait_group("again")), 2000);
}

/// ApplyImmediately=false defers a node-count change to the maintenance
/// window (reported as pending meanwhile); true applies it at once.
#[test]
fn pending_modifications_wait_for_the_maintenance_window() {
    let cp = ControlPlane::start_with(&["--test-clock"], &[]);
    // The maintenance window is a day away on the schedules' clock.
    let off = cp.advance_clock(86_400_000);
    let (s, b) = cp.call(&[
        ("Action", "CreateCacheCluster"),
        ("CacheClusterId", "mw"),
        ("Engine", "memcached"),
        ("NumCacheNodes", "1"),
        ("CacheNodeType", "cache.t4g.micro"),
        (
            "PreferredMaintenanceWindow",
            &maintenance_around(ferrocache_control::util::now_ms()),
        ),
    ]);
    assert_eq!(s, 200, "{b}");
    let describe = [
        ("Action", "DescribeCacheClusters"),
        ("CacheClusterId", "mw"),
        ("ShowCacheNodeInfo", "true"),
    ];
    let available =
        |_: u16, b: &str| b.contains("<CacheClusterStatus>available</CacheClusterStatus>");
    cp.wait_for(&describe, 30, available);
    let (s, b) = cp.call(&[
        ("Action", "ModifyCacheCluster"),
        ("CacheClusterId", "mw"),
        ("NumCacheNodes", "3"),
    ]);
    assert!(s == 200, "{b}");
    let pending = tag(&b, "PendingModifiedValues");
    assert_eq!(tag(&pending, "NumCacheNodes"), "3", "{b}");
    assert_eq!(tag(&b, "CacheClusterStatus"), "available", "{b}");
    std::thread::sleep(Duration::from_millis(1200));
    let (_, b) = cp.call(&describe);
    assert_eq!(count(&b, "<CacheNodeId>"), 1, "applied too early: {b}");
    assert_eq!(tag(&tag(&b, "PendingModifiedValues"), "NumCacheNodes"), "3");
    // Bad windows are refused.
    let (s, b) = cp.call(&[
        ("Action", "ModifyCacheCluster"),
        ("CacheClusterId", "mw"),
        ("PreferredMaintenanceWindow", "mon:25:00-mon:26:00"),
    ]);
    assert!(s == 400 && b.contains("maintenance window"), "{b}");
    // Move the window over the schedules' now: applied there.
    let (s, b) = cp.call(&[
        ("Action", "ModifyCacheCluster"),
        ("CacheClusterId", "mw"),
        (
            "PreferredMaintenanceWindow",
            &maintenance_around(ferrocache_control::util::now_ms() + off as u64),
        ),
    ]);
    assert_eq!(s, 200, "{b}");
    let b = cp.wait_for(&describe, 30, |_, b| {
        available(0, b) && count(b, "<CacheNodeStatus>available</CacheNodeStatus>") == 3
    });
    assert_eq!(tag(&b, "PendingModifiedValues"), "", "{b}");
    // ApplyImmediately: at once, outside any window.
    let (s, b) = cp.call(&[
        ("Action", "ModifyCacheCluster"),
        ("CacheClusterId", "mw"),
        ("PreferredMaintenanceWindow", "sun:05:00-sun:06:00"),
    ]);
    assert_eq!(s, 200, "{b}");
    let (s, b) = cp.call(&[
        ("Action", "ModifyCacheCluster"),
        ("CacheClusterId", "mw"),
        ("NumCacheNodes", "1"),
        ("ApplyImmediately", "true"),
    ]);
    assert!(
        s == 200 && b.contains("<CacheClusterStatus>modifying</CacheClusterStatus>"),
        "{b}"
    );
    cp.wait_for(&describe, 30, |_, b| {
        available(0, b) && count(b, "<CacheNodeId>") == 1
    });
    let (_, ev) = cp.call(&[("Action", "DescribeEvents"), ("SourceIdentifier", "mw")]);
    assert!(
        ev.contains("Applying pending modifications in the maintenance window"),
        "{ev}"
    );
    // FinalSnapshotIdentifier is for redis only.
    let (s, b) = cp.call(&[
        ("Action", "DeleteCacheCluster"),
        ("CacheClusterId", "mw"),
        ("FinalSnapshotIdentifier", "nope"),
    ]);
    assert!(s == 400 && b.contains("InvalidParameterCombination"), "{b}");
}

/// A moto S3 server (from FERROCACHE_PYTHON's venv) on a free port.
struct Moto {
    child: Child,
    addr: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto() -> Option<Moto> {
    let Some(python) = std::env::var_os("FERROCACHE_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "FERROCACHE_PYTHON is not set (scripts/test makes the venv)"
        );
        eprintln!("FERROCACHE_PYTHON not set: skipping the S3 backup store test");
        return None;
    };
    let port = free_port();
    let child = Command::new(python)
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto (pip install 'moto[server]')");
    let m = Moto {
        child,
        addr: format!("127.0.0.1:{port}"),
    };
    let t = Instant::now();
    while TcpStream::connect(&m.addr).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "moto did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(m)
}

/// Snapshots in an S3-compatible object store: taken, restored, deleted.
#[test]
fn s3_backup_store() {
    let Some(moto) = start_moto() else {
        return;
    };
    let host = vec![("host".to_string(), moto.addr.clone())];
    let (s, b) = raw_http(&moto.addr, "PUT", "/fc-backups", &host, b"");
    assert_eq!(s, 200, "create bucket: {b}");
    let endpoint = format!("http://{}", moto.addr);
    let cp = ControlPlane::start_with(
        &[
            "--backup-store",
            "s3://fc-backups/team/a",
            "--s3-endpoint",
            &endpoint,
        ],
        &[
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ],
    );
    let (s, b) = cp.call(&[
        ("Action", "CreateReplicationGroup"),
        ("ReplicationGroupId", "s3g"),
        ("ReplicationGroupDescription", "backed up to S3"),
        ("CacheNodeType", "cache.t4g.micro"),
        ("AtRestEncryptionEnabled", "true"),
    ]);
    assert_eq!(s, 200, "{b}");
    let g = cp.wait_group("s3g");
    fill(&mut cp.redis(&g), 1500);
    let (s, b) = cp.call(&[
        ("Action", "CreateSnapshot"),
        ("ReplicationGroupId", "s3g"),
        ("SnapshotName", "snap-s3"),
    ]);
    assert_eq!(s, 200, "{b}");
    let b = cp.wait_snapshot("snap-s3");
    assert!(!b.contains("<CacheSize>0 MB</CacheSize>"), "{b}");
    // The object is in the bucket under the prefix, encrypted.
    use ferrocache_control::backup::BackupStore;
    let store = ferrocache_control::s3::S3Store::new(
        "s3://fc-backups/team/a",
        Some(&endpoint),
        "us-east-1",
        "testing".into(),
        "testing".into(),
        None,
    )
    .expect("s3 store");
    let got = cp.dir.join("got.rdb");
    store.get("snap-s3.rdb", &got).expect("object");
    let bytes = std::fs::read(&got).expect("read");
    assert!(bytes.starts_with(b"FCRDBENC"));
    assert!(!cp.dir.join("backups").join("snap-s3.rdb").exists());
    // In-store copy, restore from it.
    let (s, b) = cp.call(&[
        ("Action", "CopySnapshot"),
        ("SourceSnapshotName", "snap-s3"),
        ("TargetSnapshotName", "snap-s3-copy"),
    ]);
    assert_eq!(s, 200, "{b}");
    let (s, b) = cp.call(&[
        ("Action", "CreateReplicationGroup"),
        ("ReplicationGroupId", "s3r"),
        ("ReplicationGroupDescription", "restored from S3"),
        ("CacheNodeType", "cache.t4g.micro"),
        ("SnapshotName", "snap-s3-copy"),
    ]);
    assert_eq!(s, 200, "{b}");
    check_filled(&mut cp.redis(&cp.wait_group("s3r")), 1500);
    // Deleting the snapshot deletes the object.
    let (s, b) = cp.call(&[("Action", "DeleteSnapshot"), ("SnapshotName", "snap-s3")]);
    assert_eq!(s, 200, "{b}");
    let (s, _) = raw_http(
        &moto.addr,
        "GET",
        "/fc-backups/team/a/snap-s3.rdb",
        &host,
        b"",
    );
    assert_eq!(s, 404);
}

/// A node that is alive but stops answering (SIGSTOP) is replaced, with
/// events, and the cluster's endpoint serves again: self-healing is not
/// only for processes that die.
#[test]
fn hung_node_is_replaced() {
    let cp = ControlPlane::start();
    let (s, b) = cp.call(&[
        ("Action", "CreateCacheCluster"),
        ("CacheClusterId", "hung"),
        ("Engine", "memcached"),
        ("NumCacheNodes", "1"),
        ("CacheNodeType", "cache.t4g.micro"),
    ]);
    assert_eq!(s, 200, "{b}");
    let describe = [
        ("Action", "DescribeCacheClusters"),
        ("CacheClusterId", "hung"),
        ("ShowCacheNodeInfo", "true"),
    ];
    let b = cp.wait_for(&describe, 30, |_, b| {
        b.contains("<CacheClusterStatus>available</CacheClusterStatus>")
    });
    let endpoint = tag(&tag(&b, "ConfigurationEndpoint"), "Port");
    let before = cp.node_pids();
    assert_eq!(before.len(), 1, "{before:?}");
    let _ = Command::new("kill")
        .args(["-STOP", &before[0].to_string()])
        .status();
    let t = Instant::now();
    loop {
        let now = cp.node_pids();
        if !now.is_empty() && !now.contains(&before[0]) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(90),
            "hung node {} never replaced",
            before[0]
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    cp.wait_for(
        &[
            ("Action", "DescribeEvents"),
            ("SourceIdentifier", "hung"),
            ("SourceType", "cache-cluster"),
        ],
        30,
        |_, b| b.contains("Finished recovery for cache nodes 0001"),
    );
    let b = cp.wait_for(&describe, 30, |_, b| {
        b.contains("<CacheClusterStatus>available</CacheClusterStatus>")
    });
    assert!(
        b.contains("<CacheNodeStatus>available</CacheNodeStatus>"),
        "{b}"
    );
    // The configuration endpoint answers through the replacement.
    let port: u16 = endpoint.parse().expect("endpoint port");
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5))).ok();
    c.write_all(b"version\r\n").expect("write");
    let mut buf = [0u8; 64];
    let n = c.read(&mut buf).expect("read");
    assert!(buf[..n].starts_with(b"VERSION "), "{:?}", &buf[..n]);
}
