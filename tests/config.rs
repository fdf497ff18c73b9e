//! CONFIG GET/SET/RESETSTAT/REWRITE/HELP and startup configuration,
//! differentially against redis-server 7.0 where replies are comparable.

mod common;

use common::{free_port, Pair, RespReader, TempDir};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Parameters whose values legitimately differ between the two servers in
/// these tests, with the reason.
const DELIBERATE_DIFFERENCES: &[(&str, &str)] = &[
    ("port", "each server listens on its own free port"),
    ("dir", "each server runs in its own temporary directory"),
];

/// Split a flat RESP2 array of bulk strings (or a RESP3 map of them).
fn bulks(reply: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let nl = reply.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
    let mut pos = nl + 2;
    while pos < reply.len() {
        let Some(rel) = reply[pos..].windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let header = &reply[pos..pos + rel];
        assert_eq!(
            header.first(),
            Some(&b'$'),
            "not a bulk: {:?}",
            String::from_utf8_lossy(header)
        );
        let len: usize = std::str::from_utf8(&header[1..]).unwrap().parse().unwrap();
        let start = pos + rel + 2;
        out.push(reply[start..start + len].to_vec());
        pos = start + len + 2;
    }
    out
}

/// CONFIG GET reply as sorted (name, value) pairs.
fn pairs(reply: &[u8]) -> Vec<(String, String)> {
    let b = bulks(reply);
    let mut v: Vec<(String, String)> = b
        .chunks(2)
        .map(|c| {
            (
                String::from_utf8_lossy(&c[0]).into_owned(),
                String::from_utf8_lossy(&c[1]).into_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

fn cmd<'a>(s: &'a [&'a str]) -> Vec<&'a [u8]> {
    s.iter().map(|a| a.as_bytes()).collect()
}

fn start_pair() -> Option<Pair> {
    // The harness starts redis-server with `--save "" --appendonly no`.
    Pair::start(&["--save", "", "--appendonly", "no"])
}

#[test]
fn config_get_all_matches_redis() {
    let Some(mut p) = start_pair() else { return };
    let (fc, rd) = p.both(&cmd(&["CONFIG", "GET", "*"]));
    let fc = pairs(&fc);
    let rd = pairs(&rd);
    let skip = |n: &str| DELIBERATE_DIFFERENCES.iter().any(|(d, _)| *d == n);
    let fc_names: Vec<&str> = fc.iter().map(|(n, _)| n.as_str()).collect();
    let rd_names: Vec<&str> = rd.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(fc_names, rd_names, "parameter names differ");
    for ((n, a), (_, b)) in fc.iter().zip(&rd) {
        if !skip(n) {
            assert_eq!(a, b, "value of {n}");
        }
    }
    assert_eq!(fc.len(), 192);
    // Several patterns, overlapping, plus exact names (hidden ones too).
    for args in [
        &["CONFIG", "GET", "max*", "maxmemory", "*policy*", "hz"][..],
        &["CONFIG", "GET", "*ziplist*", "hash-*"],
        &[
            "CONFIG",
            "GET",
            "rdb-key-save-delay",
            "rdb-key*",
            "use-exit-on-panic",
        ],
        &["CONFIG", "GET", "nosuch", "[qs]*", "?z"],
        &["CONFIG", "GET", "H*", "HZ"],
    ] {
        let (a, b) = p.both(&cmd(args));
        assert_eq!(pairs(&a), pairs(&b), "{args:?}");
    }
    // Deterministic (single-entry or empty) replies are byte-identical.
    for c in [
        "CONFIG GET maxmemory",
        "CONFIG GET MAXMEMORY",
        "CONFIG GET Hash-Max-Ziplist-Entries",
        "CONFIG GET nosuch",
        "CONFIG GET sav?",
        "CONFIG GET loading-process-events-interval-bytes",
        "CONFIG GET hz HZ",
        "CONFIG",
        "CONFIG GET",
        "CONFIG NOSUCH",
        "CONFIG HELP",
        "CONFIG HELP extra",
        "CONFIG RESETSTAT",
        "CONFIG RESETSTAT x",
        "CONFIG REWRITE",
        "CONFIG SET",
        "CONFIG SET hz",
        "CONFIG SET hz 10 maxmemory",
    ] {
        p.check_str(c);
    }
    // RESP3: a map.
    p.both(&cmd(&["HELLO", "3"])); // client ids differ

    p.check_str("CONFIG GET maxmemory");
    p.check_str("CONFIG GET nosuch");
    let (a, b) = p.both(&cmd(&["CONFIG", "GET", "*max*"]));
    assert_eq!(a.first(), Some(&b'%'));
    assert_eq!(pairs(&a), pairs(&b));
}

/// CONFIG SET of every kind of parameter, good and bad values: identical
/// replies, and identical values afterwards.
#[test]
fn config_set_matches_redis() {
    let Some(mut p) = start_pair() else { return };
    let cases: &[(&str, &[&str])] = &[
        // Bool.
        ("activerehashing", &["no", "YES", "maybe", "", "1"]),
        ("appendonly", &["yes", "no"]),
        ("activedefrag", &["yes", "no"]),
        ("replica-read-only", &["no", "yes"]),
        ("slave-read-only", &["no", "yes"]),
        ("daemonize", &["no"]),
        // Integers with bounds.
        (
            "hz",
            &[
                "20",
                "0",
                "1000",
                "abc",
                "",
                "01",
                "+5",
                "-1",
                " 5",
                "5 ",
                "2147483648",
                "0x10",
                "1k",
                "10",
            ],
        ),
        ("maxclients", &["0", "-1", "5000", "4294967296", "10000"]),
        ("timeout", &["30", "-1", "0"]),
        ("slowlog-log-slower-than", &["-1", "-2", "0", "10000"]),
        ("slowlog-max-len", &["-1", "1000", "128"]),
        (
            "list-max-listpack-size",
            &["-5", "1000", "-2147483649", "-2"],
        ),
        ("list-max-ziplist-size", &["-1", "-2"]),
        ("hash-max-ziplist-entries", &["-1", "abc", "100", "512"]),
        ("active-expire-effort", &["0", "11", "5", "1"]),
        ("maxmemory-samples", &["0", "10", "5"]),
        ("lfu-log-factor", &["100", "10"]),
        ("latency-monitor-threshold", &["100", "-1", "0"]),
        ("databases", &["4"]),
        ("io-threads", &["2"]),
        ("unixsocketperm", &["700"]),
        ("tls-port", &["0", "6380"]),
        ("tls-replication", &["no", "yes"]),
        ("tls-cert-file", &["/nonexistent", ""]),
        // Memory.
        (
            "maxmemory",
            &[
                "10mb",
                "1GB",
                "1gB",
                "1k",
                "1b",
                "",
                "kb",
                "01",
                " 1",
                "+1",
                "-1",
                "1.5gb",
                "1 mb",
                "18446744073709551615",
                "18446744073709551616",
                "99999999999999999999gb",
                "0",
            ],
        ),
        ("proto-max-bulk-len", &["1k", "1mb", "1gb", "-1", "512mb"]),
        ("client-query-buffer-limit", &["1000", "2gb", "1gb"]),
        ("hash-max-listpack-value", &["1k", "-1", "64"]),
        ("active-defrag-ignore-bytes", &["0", "200mb", "100mb"]),
        ("repl-backlog-size", &["0", "10mb", "1mb"]),
        // Memory or percent.
        (
            "maxmemory-clients",
            &["10%", "0%", "101%", "-5", "abc", "1mb", "%", "5 %", "0"],
        ),
        // Enums.
        (
            "maxmemory-policy",
            &[
                "ALLKEYS-LRU",
                "bad",
                "allkeys-lru volatile-lru",
                "",
                "noeviction",
            ],
        ),
        ("loglevel", &["bad", "warning", "notice"]),
        (
            "oom-score-adj",
            &["relative", "absolute", "yes", "bad", "no"],
        ),
        ("appendfsync", &["always", "everysec"]),
        (
            "shutdown-on-sigint",
            &[
                "now save",
                "save nosave",
                "force default",
                "",
                "bad",
                "NOW",
                "default",
            ],
        ),
        ("repl-diskless-load", &["x", "swapdb", "disabled"]),
        ("acl-pubsub-default", &["allchannels", "resetchannels"]),
        ("enable-debug-command", &["yes"]),
        ("supervised", &["no"]),
        // Strings.
        ("masterauth", &["secret", ""]),
        ("requirepass", &["", "x y\"z", ""]),
        ("cluster-announce-hostname", &["bad_host", "good-host", ""]),
        (
            "proc-title-template",
            &[
                "{bad}",
                "{title}",
                "{title} {port}",
                "{title} {listen-addr} {server-mode}",
            ],
        ),
        ("ignore-warnings", &["ARM64-COW-BUG", ""]),
        ("dbfilename", &["a/b", "x.rdb"]),
        ("appendfilename", &["x.aof"]),
        ("logfile", &["/tmp/x"]),
        // Special.
        (
            "save",
            &[
                "60 1000 30 10",
                "60 1000 abc",
                "60",
                "0 1",
                "60 -1",
                "60 ",
                "",
                "3600 1",
            ],
        ),
        (
            "notify-keyspace-events",
            &[
                "KEA",
                "Ex",
                "gx",
                "A",
                "$lshzxetmdn",
                "KEg$lshzxetmdn",
                "q",
                "KEAmn",
                "nK",
                "",
            ],
        ),
        (
            "client-output-buffer-limit",
            &[
                "normal 1mb 2mb 60",
                "normal 1mb 2mb",
                "master 1 1 1",
                "pubsub 1k 2kb 0",
                "replica 1 2 3",
                "slave 1 2 -1",
                "normal 1 2 3x",
                "NORMAL 0 0 0",
                "",
                "normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60",
            ],
        ),
        (
            "oom-score-adj-values",
            &[
                "1 2",
                "1 2 3 4",
                "-2001 0 0",
                "a 1 1",
                "100 50 10",
                "",
                "0 200 800",
            ],
        ),
        (
            "latency-tracking-info-percentiles",
            &[
                "50 99",
                "101",
                "abc",
                "99.99 1e1",
                "0.5 50.00000001",
                "",
                "50 99 99.9",
            ],
        ),
        ("dir", &["/tmp"]),
        ("replicaof", &["no one"]),
        ("slaveof", &["127.0.0.1 1"]),
        ("bind", &["127.0.0.1"]),
        // Unknown.
        ("nosuch", &["1"]),
        ("list-max-ziplist-entries", &["1"]),
    ];
    for (name, values) in cases {
        for v in *values {
            p.check(&cmd(&["CONFIG", "SET", name, v]));
            if !DELIBERATE_DIFFERENCES.iter().any(|(d, _)| d == name) {
                p.check(&cmd(&["CONFIG", "GET", name]));
            }
        }
    }
    // Several pairs: all or nothing, first error wins, duplicates.
    for c in [
        &["CONFIG", "SET", "maxmemory", "10mb", "hz", "20"][..],
        &["CONFIG", "GET", "maxmemory"],
        &["CONFIG", "SET", "maxmemory", "20mb", "hz", "abc"],
        &["CONFIG", "GET", "maxmemory"],
        &["CONFIG", "SET", "hz", "1", "hz", "2"],
        &["CONFIG", "SET", "hz", "1", "HZ", "2"],
        &[
            "CONFIG",
            "SET",
            "hz",
            "1",
            "nosuch",
            "2",
            "daemonize",
            "yes",
        ],
        &["CONFIG", "SET", "daemonize", "yes", "nosuch", "2"],
        &["CONFIG", "SET", "HZ", "abc"],
        &[
            "CONFIG",
            "SET",
            "hash-max-ziplist-entries",
            "1",
            "hash-max-listpack-entries",
            "2",
        ],
        &["CONFIG", "GET", "hash-max-listpack-entries"],
        &[
            "CONFIG",
            "SET",
            "maxmemory",
            "0",
            "hz",
            "10",
            "hash-max-listpack-entries",
            "512",
        ],
        &["CONFIG", "GET", "maxmemory"],
    ] {
        p.check(&cmd(c));
    }
}

/// Values pushed into the running node take effect.
#[test]
fn config_set_takes_effect() {
    let Some(mut p) = start_pair() else { return };
    // requirepass: new connections must authenticate.
    p.check_str("CONFIG SET requirepass s3cret");
    let mut fc2 = RespReader::new(p.fc_node.raw());
    let mut rd2 = RespReader::new(p.redis_node.raw());
    for c in [
        &["GET", "k"][..],
        &["AUTH", "wrong"],
        &["AUTH", "s3cret"],
        &["GET", "k"],
    ] {
        assert_eq!(
            String::from_utf8_lossy(&fc2.call(&cmd(c))),
            String::from_utf8_lossy(&rd2.call(&cmd(c))),
            "{c:?}"
        );
    }
    p.check_str("CONFIG SET requirepass");
    p.check(&cmd(&["CONFIG", "SET", "requirepass", ""]));
    // hash-max-listpack-entries decides the encoding.
    p.check_str("CONFIG SET hash-max-listpack-entries 2");
    p.check_str("HSET h a 1 b 2");
    p.check_str("OBJECT ENCODING h");
    p.check_str("HSET h c 3");
    p.check_str("OBJECT ENCODING h");
    p.check_str("CONFIG SET hash-max-listpack-entries 512");
    // maxmemory: writes refused once over the limit with noeviction.
    p.check_str("CONFIG SET maxmemory 1");
    p.check_str("SET k v");
    p.check_str("CONFIG SET maxmemory 0");
    p.check_str("SET k v");
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferrocache")
}

/// A ferrocache process started with exactly the given arguments.
struct Proc {
    child: Child,
    port: u16,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    fn reader(&self) -> RespReader {
        RespReader::new(std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect"))
    }
}

/// Start `program` with `args` (which must make it listen on `port`) and
/// wait until it answers.
fn spawn(program: &str, args: &[String], port: u16) -> Proc {
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{program} exited early: {status}");
        }
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let mut r = RespReader::new(s);
            // Any reply (PONG, or NOAUTH when a password is set) means ready.
            if !r.call(&cmd(&["PING"])).is_empty() {
                return Proc { child, port };
            }
        }
        assert!(Instant::now() < deadline, "{program} did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run to completion and return (success, stderr).
fn run_to_end(program: &str, args: &[&str]) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return (status.success(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return (true, "still running".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn get(r: &mut RespReader, name: &str) -> String {
    let b = bulks(&r.call(&cmd(&["CONFIG", "GET", name])));
    b.get(1)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

#[test]
fn startup_with_file_include_and_flags() {
    let dir = TempDir::new("cfg");
    let inc = dir.0.join("extra.conf");
    std::fs::write(&inc, "save 6 6\nhz 8\nmaxmemory-policy allkeys-lru\n").unwrap();
    let conf = dir.0.join("redis.conf");
    std::fs::write(
        &conf,
        format!(
            "# a comment\n\n  maxmemory 1mb  \nhz 7\nsave 5 5\ninclude {}\nrequirepass \"pass word\"\nnotify-keyspace-events KEA\nhash-max-ziplist-entries 64\nclient-output-buffer-limit pubsub 1mb 512kb 30\nlist-max-ziplist-entries 10\n",
            inc.display()
        ),
    )
    .unwrap();
    let port = free_port();
    let args: Vec<String> = [
        conf.to_str().unwrap(),
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--dir",
        dir.0.to_str().unwrap(),
        "--hz",
        "9",
        "--threads",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut all = vec!["redis".to_string()];
    all.extend(args);
    let proc_ = spawn(bin(), &all, port);
    let mut r = proc_.reader();
    assert!(r.call(&cmd(&["AUTH", "pass word"])).starts_with(b"+OK"));
    assert_eq!(get(&mut r, "maxmemory"), "1048576");
    assert_eq!(get(&mut r, "hz"), "9");
    assert_eq!(get(&mut r, "save"), "5 5 6 6");
    assert_eq!(get(&mut r, "maxmemory-policy"), "allkeys-lru");
    assert_eq!(get(&mut r, "notify-keyspace-events"), "AKE");
    assert_eq!(get(&mut r, "hash-max-listpack-entries"), "64");
    assert_eq!(get(&mut r, "io-threads"), "2");
    assert_eq!(
        get(&mut r, "client-output-buffer-limit"),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 30"
    );
    let canon = std::fs::canonicalize(&dir.0).unwrap();
    assert_eq!(get(&mut r, "dir"), canon.to_str().unwrap());

    // The same file and flags give the same values on redis-server.
    if common::have_redis_server() {
        let rport = free_port();
        let rargs: Vec<String> = [
            conf.to_str().unwrap(),
            "--port",
            &rport.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
            dir.0.to_str().unwrap(),
            "--hz",
            "9",
            "--io-threads",
            "2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let rproc = spawn("redis-server", &rargs, rport);
        let mut rr = rproc.reader();
        assert!(rr.call(&cmd(&["AUTH", "pass word"])).starts_with(b"+OK"));
        let (a, b) = (
            pairs(&r.call(&cmd(&["CONFIG", "GET", "*"]))),
            pairs(&rr.call(&cmd(&["CONFIG", "GET", "*"]))),
        );
        for ((n, x), (m, y)) in a.iter().zip(&b) {
            assert_eq!(n, m);
            if n != "port" {
                assert_eq!(x, y, "{n}");
            }
        }
    }
}

#[test]
fn startup_errors() {
    let port = free_port().to_string();
    let (ok, err) = run_to_end(bin(), &["redis", "--port", &port, "--foo", "bar"]);
    assert!(!ok);
    assert!(
        err.contains("Bad directive or wrong number of arguments"),
        "{err}"
    );
    assert!(err.contains(">>> 'foo \"bar\"'"), "{err}");
    assert!(err.contains("at line 3"), "{err}");
    let (ok, err) = run_to_end(bin(), &["redis", "--port", &port, "--hz", "abc"]);
    assert!(!ok);
    assert!(
        err.contains("argument couldn't be parsed into an integer"),
        "{err}"
    );
    let (ok, err) = run_to_end(bin(), &["redis", "--port", &port, "--hz"]);
    assert!(!ok);
    assert!(err.contains("wrong number of arguments"), "{err}");

    let dir = TempDir::new("cfgerr");
    let conf = dir.0.join("bad.conf");
    std::fs::write(&conf, format!("port {port}\n# fine\nnosuchoption 1\n")).unwrap();
    let (ok, err) = run_to_end(bin(), &["redis", conf.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("at line 3"), "{err}");
    assert!(err.contains(">>> 'nosuchoption 1'"), "{err}");
    std::fs::write(&conf, "save \"60 1000\nport 1\n").unwrap();
    let (ok, err) = run_to_end(bin(), &["redis", conf.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("Unbalanced quotes in configuration line"),
        "{err}"
    );
    let missing = dir.0.join("missing.conf");
    let (ok, err) = run_to_end(bin(), &["redis", missing.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("can't open config file"), "{err}");
}

/// CONFIG REWRITE keeps comments and unknown lines, replaces changed
/// values, appends new ones, and the node restarts with the same values.
/// The rewritten lines are compared with what redis-server writes for the
/// same file and changes.
#[test]
fn config_rewrite_round_trip() {
    let dir = TempDir::new("rw");
    let inc = dir.0.join("inc.conf");
    std::fs::write(&inc, "hz 8\n").unwrap();
    let original = format!(
        "# Top comment\nhz 7\n\n# save settings\nsave 5 5\nsave 6 6\ninclude {}\nslave-read-only yes\nmaxmemory 1gb\n",
        inc.display()
    );
    let rewrite_with = |program: &str, conf: &std::path::Path, extra: &[&str]| -> String {
        std::fs::write(conf, &original).unwrap();
        let port = free_port();
        let mut args: Vec<String> = Vec::new();
        if program == bin() {
            args.push("redis".into());
        }
        args.push(conf.to_str().unwrap().into());
        for a in [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--dir",
            dir.0.to_str().unwrap(),
        ] {
            args.push(a.to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let proc_ = spawn(program, &args, port);
        let mut r = proc_.reader();
        for c in [
            &["CONFIG", "SET", "maxmemory", "10mb"][..],
            &["CONFIG", "SET", "save", ""],
            &["CONFIG", "SET", "notify-keyspace-events", "KEA"],
            &["CONFIG", "SET", "maxmemory-clients", "5%"],
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 1mb 1kb 5",
            ],
            &["CONFIG", "SET", "replica-read-only", "no"],
            &["CONFIG", "SET", "masterauth", "a b\"c"],
            &["CONFIG", "REWRITE"],
        ] {
            let reply = r.call(&cmd(c));
            assert!(
                reply.starts_with(b"+OK"),
                "{c:?}: {}",
                String::from_utf8_lossy(&reply)
            );
        }
        std::fs::read_to_string(conf).unwrap()
    };
    let conf = dir.0.join("fc.conf");
    let out = rewrite_with(bin(), &conf, &[]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "# Top comment");
    assert_eq!(lines[1], "hz 8"); // the include set 8 after "hz 7"
    assert_eq!(lines[3], "# save settings");
    assert_eq!(lines[4], "save \"\"");
    assert!(out.contains(&format!("include {}\n", inc.display())));
    assert!(out.contains("\nreplica-read-only no\n"));
    assert!(out.contains("\nmaxmemory 10mb\n"));
    assert!(out.contains("\n# Generated by CONFIG REWRITE\n"));
    assert!(out.contains("\nnotify-keyspace-events \"AKE\"\n"));
    assert!(out.contains("\nmaxmemory-clients 5%\n"));
    assert!(out.contains("\nclient-output-buffer-limit pubsub 1mb 1kb 5\n"));
    assert!(out.contains("\nmasterauth \"a b\\\"c\"\n"));

    // Restart from the rewritten file: same values.
    let port = free_port();
    let args: Vec<String> = vec![
        "redis".into(),
        conf.to_str().unwrap().into(),
        "--port".into(),
        port.to_string(),
    ];
    let proc_ = spawn(bin(), &args, port);
    let mut r = proc_.reader();
    assert_eq!(get(&mut r, "maxmemory"), "10485760");
    assert_eq!(get(&mut r, "save"), "");
    assert_eq!(get(&mut r, "hz"), "8");
    assert_eq!(get(&mut r, "masterauth"), "a b\"c");
    assert_eq!(get(&mut r, "replica-read-only"), "no");
    assert_eq!(get(&mut r, "maxmemory-clients"), "5%");
    drop(proc_);

    // Same lines as redis-server's rewrite (order of appended lines and the
    // ACL `user` line aside; `port` differs by construction).
    if common::have_redis_server() {
        let rconf = dir.0.join("redis.conf");
        let rout = rewrite_with("redis-server", &rconf, &[]);
        let norm = |s: &str| {
            let mut v: Vec<String> = s
                .lines()
                .filter(|l| !l.starts_with("user ") && !l.starts_with("port "))
                .map(str::to_string)
                .collect();
            v.sort();
            v
        };
        assert_eq!(norm(&out), norm(&rout));
    }
}

#[test]
fn config_rewrite_without_file_and_resetstat() {
    let Some(mut p) = start_pair() else { return };
    p.check_str("CONFIG REWRITE");
    p.check_str("SET a 1");
    p.check_str("CONFIG RESETSTAT");
    // INFO stats start over.
    let (a, _) = p.both(&cmd(&["INFO", "stats"]));
    let text = String::from_utf8_lossy(&a).into_owned();
    assert!(text.contains("total_commands_processed:"), "{text}");
}

/// With `enable-protected-configs yes`, `dir` and `dbfilename` become
/// settable, with Redis's validation errors.
#[test]
fn protected_configs_when_enabled() {
    let Some(redis_node) = common::start_redis_server(&["--enable-protected-configs", "yes"])
    else {
        return;
    };
    let fc_node = common::start_ferrocache(&["--enable-protected-configs", "yes"]);
    let mut fc = RespReader::new(fc_node.raw());
    let mut rd = RespReader::new(redis_node.raw());
    let sub = TempDir::new("prot");
    let sub_path = sub.0.to_str().unwrap().to_string();
    for c in [
        &["CONFIG", "SET", "dir", "/nonexistent/x"][..],
        &["CONFIG", "SET", "dir", "/etc/hostname"],
        &["CONFIG", "SET", "dbfilename", "a/b"],
        &["CONFIG", "SET", "dbfilename", "x.rdb"],
        &["CONFIG", "GET", "dbfilename"],
        &["CONFIG", "SET", "dir", &sub_path],
        &["CONFIG", "GET", "dir"],
        &["CONFIG", "SET", "dbfilename", "dump.rdb"],
    ] {
        assert_eq!(
            String::from_utf8_lossy(&fc.call(&cmd(c))),
            String::from_utf8_lossy(&rd.call(&cmd(c))),
            "{c:?}"
        );
    }
}
