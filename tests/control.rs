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
