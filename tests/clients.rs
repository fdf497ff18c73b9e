//! Real clients against ferrocache: redis-py (tests/python/webapp.py),
//! redis-cli (plain, `--pipe` mass insertion, `-3` RESP3) and
//! redis-benchmark. Where output is deterministic it is compared with the
//! same client talking to redis-server 7.0.
//!
//! The Python interpreter comes from `FERROCACHE_PYTHON` (scripts/test makes
//! a venv with redis-py and exports it). Missing tools are skipped with a
//! message outside CI and fail the test when `CI` is set.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Is `tool` runnable? Outside CI a missing tool skips the test.
fn have(tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            !in_ci(),
            "{tool} is not installed (the CI script must install it)"
        );
        eprintln!("{tool} not installed: skipping");
    }
    ok
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn cli(port: u16, args: &[&str]) -> Output {
    Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run redis-cli")
}

#[test]
fn python_webapp() {
    let Some(python) = std::env::var_os("FERROCACHE_PYTHON") else {
        assert!(
            !in_ci(),
            "FERROCACHE_PYTHON is not set (scripts/test creates a venv with redis-py)"
        );
        eprintln!("FERROCACHE_PYTHON not set: skipping the redis-py workload");
        return;
    };
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/webapp.py");
    let run = |port: u16| {
        Command::new(&python)
            .arg(script)
            .arg(port.to_string())
            .output()
            .expect("run python")
    };
    // The script must pass against the reference first: a failure there is
    // a bug in the script, not in ferrocache.
    if let Some(redis) = common::start_redis_server(&[]) {
        let o = run(redis.port);
        assert!(
            o.status.success(),
            "webapp.py fails against redis-server:\n{}",
            text(&o)
        );
    }
    let fc = common::start_ferrocache(&["--threads", "2"]);
    let o = run(fc.port);
    assert!(
        o.status.success(),
        "webapp.py against ferrocache:\n{}",
        text(&o)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("webapp OK"));
}

/// redis-cli commands whose printed output must equal redis-server's.
const CLI_CASES: &[&[&str]] = &[
    &["set", "k", "hello world"],
    &["get", "k"],
    &["get", "missing"],
    &["incr", "n"],
    &["incrby", "n", "41"],
    &["get", "n"],
    &["rpush", "l", "a", "b", "c"],
    &["lrange", "l", "0", "-1"],
    &["hset", "h", "f", "v"],
    &["hget", "h", "f"],
    &["hgetall", "h"],
    &["ping"],
    &["zadd", "z", "1.5", "m", "2", "n"],
    &["zrange", "z", "0", "-1", "withscores"],
    &["zscore", "z", "m"],
    &["sadd", "s", "x"],
    &["smembers", "s"],
    &["type", "h"],
    &["exists", "k", "h", "nope"],
    &["incr", "k"],
    &["get", "k", "extra"],
    &["del", "k", "n"],
];

#[test]
fn redis_cli_plain_and_resp3_match_redis() {
    if !have("redis-cli") {
        return;
    }
    let fc = common::start_ferrocache(&["--threads", "2"]);
    let set = cli(fc.port, &["set", "k", "v"]);
    assert_eq!(
        String::from_utf8_lossy(&set.stdout),
        "OK\n",
        "{}",
        text(&set)
    );
    let get = cli(fc.port, &["get", "k"]);
    assert_eq!(
        String::from_utf8_lossy(&get.stdout),
        "v\n",
        "{}",
        text(&get)
    );
    let _ = cli(fc.port, &["del", "k"]);

    let Some(redis) = common::start_redis_server(&[]) else {
        return;
    };
    // Not a TTY, redis-cli prints raw replies; --no-raw gives the
    // human-readable form with RESP3 types ("1# ..", "(double) ..").
    let modes: [&[&str]; 4] = [&[], &["-3"], &["--no-raw"], &["-3", "--no-raw"]];
    for mode in modes {
        for case in CLI_CASES {
            let mut args: Vec<&str> = mode.to_vec();
            args.extend_from_slice(case);
            let a = cli(fc.port, &args);
            let b = cli(redis.port, &args);
            assert_eq!(
                (String::from_utf8_lossy(&a.stdout), a.status.code()),
                (String::from_utf8_lossy(&b.stdout), b.status.code()),
                "redis-cli {args:?}"
            );
        }
        // Reset for the next round.
        let _ = cli(fc.port, &["del", "k", "n", "l", "h", "z", "s"]);
        let _ = cli(redis.port, &["del", "k", "n", "l", "h", "z", "s"]);
    }
}

#[test]
fn redis_cli_pipe_mass_insertion() {
    if !have("redis-cli") {
        return;
    }
    let fc = common::start_ferrocache(&["--threads", "2"]);
    const N: usize = 100_000;
    let mut input = Vec::with_capacity(N * 48);
    for i in 0..N {
        let k = format!("key:{i}");
        let v = format!("value:{i}");
        input.extend_from_slice(&common::encode_cmd(&[b"SET", k.as_bytes(), v.as_bytes()]));
    }
    let mut child = Command::new("redis-cli")
        .args(["-p", &fc.port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn redis-cli --pipe");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(&input).expect("write to redis-cli");
    }
    let o = child.wait_with_output().expect("redis-cli --pipe");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        out.contains(&format!("errors: 0, replies: {N}")),
        "unexpected --pipe summary:\n{}",
        text(&o)
    );
    let mut c = fc.client();
    let v: String = redis::cmd("GET")
        .arg("key:99999")
        .query(&mut c)
        .expect("GET");
    assert_eq!(v, "value:99999");
    let n: usize = redis::cmd("DBSIZE").query(&mut c).expect("DBSIZE");
    assert_eq!(n, N);
}

#[test]
fn redis_benchmark_ping_set_get() {
    if !have("redis-benchmark") {
        return;
    }
    let fc = common::start_ferrocache(&["--threads", "2"]);
    let o = Command::new("redis-benchmark")
        .args(["-p", &fc.port.to_string()])
        .args(["-t", "ping,set,get", "-n", "20000", "-q"])
        .stdin(Stdio::null())
        .output()
        .expect("run redis-benchmark");
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for test in ["PING_INLINE", "PING_MBULK", "SET", "GET"] {
        let line = out
            .lines()
            .flat_map(|l| l.split('\r'))
            .find(|l| l.starts_with(&format!("{test}: ")) && l.contains("requests per second"));
        assert!(line.is_some(), "no result for {test}:\n{}", text(&o));
    }
}
