//! ferrocache-specific behaviour of the memcached node: Auto Discovery
//! (`config get/set cluster`, the legacy key, stats), the `-m` limit with
//! LRU eviction, the command line, and bad input.

mod mc_common;

use mc_common::{bin_req, start_ferrocache};
use std::io::{Read, Write};
use std::time::Duration;

fn stat(c: &mut mc_common::McConn, name: &str) -> u64 {
    let r = c.text(b"stats\r\n");
    String::from_utf8_lossy(&r)
        .lines()
        .find_map(|l| {
            l.strip_prefix(&format!("STAT {name} "))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or_else(|| panic!("no stat {name}"))
}

#[test]
fn auto_discovery() {
    let node = start_ferrocache(&[]);
    let mut c = node.connect();
    // Until configured, the node describes itself.
    let r = c.text(b"config get cluster\r\n");
    let own = format!("1\n127.0.0.1|127.0.0.1|{}\n", node.port);
    assert_eq!(
        String::from_utf8_lossy(&r),
        format!("CONFIG cluster 0 {}\r\n{own}\r\nEND\r\n", own.len())
    );
    // The control plane pushes a node list (unsorted; one unknown IP).
    let nodes = "node-b.example|10.0.0.2|11211 node-a.example||11212 node-c.example|10.0.0.3|11213";
    let r = c.text(format!("config set cluster 0 {}\r\n{nodes}\r\n", nodes.len()).as_bytes());
    assert_eq!(r, b"OK\r\n");
    let body =
        "2\nnode-a.example||11212 node-b.example|10.0.0.2|11211 node-c.example|10.0.0.3|11213\n";
    let r = c.text(b"config get cluster\r\n");
    assert_eq!(
        String::from_utf8_lossy(&r),
        format!("CONFIG cluster 0 {}\r\n{body}\r\nEND\r\n", body.len())
    );
    // Legacy discovery through get (text and binary).
    let r = c.text(b"get AmazonElastiCache:cluster\r\n");
    assert_eq!(
        String::from_utf8_lossy(&r),
        format!(
            "VALUE AmazonElastiCache:cluster 0 {}\r\n{body}\r\nEND\r\n",
            body.len()
        )
    );
    let mut b = node.connect();
    let frames = b.binary(&bin_req(0x00, 9, 0, &[], b"AmazonElastiCache:cluster", b""));
    assert_eq!(frames.len(), 1);
    assert_eq!(&frames[0][24 + 4..], body.as_bytes());
    // Removing a node bumps the version again.
    let nodes = "node-a.example||11212";
    assert_eq!(
        c.text(
            format!(
                "config set cluster 0 {} noreply\r\n{nodes}\r\n",
                nodes.len()
            )
            .as_bytes()
        ),
        b""
    );
    let r = c.text(b"config get cluster\r\n");
    assert!(String::from_utf8_lossy(&r).contains("\r\n3\nnode-a.example||11212\n\r\n"));
    assert_eq!(stat(&mut c, "curr_config"), 3);
    assert_eq!(stat(&mut c, "cmd_config_set"), 2);
    assert!(stat(&mut c, "cmd_config_get") >= 4);
    // Errors.
    assert_eq!(
        c.text(b"config set cluster 0 3\r\nbad\r\n"),
        b"CLIENT_ERROR bad cluster node format\r\n"
    );
    assert_eq!(c.text(b"config get nothing\r\n"), b"ERROR\r\n");
    assert_eq!(
        c.text(b"config set cluster 0 3\r\nabcde\r\n"),
        b"CLIENT_ERROR bad data chunk\r\nERROR\r\n"
    );
}

#[test]
fn memory_limit_evicts_lru() {
    let node = start_ferrocache(&["-m", "16"]);
    let mut c = node.connect();
    let val = vec![b'v'; 1000];
    // 64 MB of writes into a 16 MB cache.
    let mut batch = Vec::new();
    for i in 0..64_000 {
        batch.extend_from_slice(format!("set key:{i} 0 0 {} noreply\r\n", val.len()).as_bytes());
        batch.extend_from_slice(&val);
        batch.extend_from_slice(b"\r\n");
        if i % 200 == 199 {
            c.text(&batch);
            batch.clear();
        }
        if i % 1000 == 999 {
            // Keep one key hot: LRU must not evict it.
            assert!(
                c.text(b"get key:0\r\n").starts_with(b"VALUE key:0 "),
                "hot key evicted at {i}"
            );
        }
    }
    c.text(&batch);
    let ev = stat(&mut c, "evictions");
    let bytes = stat(&mut c, "bytes");
    let items = stat(&mut c, "curr_items");
    assert!(ev > 30_000, "evictions {ev}");
    assert!(bytes <= 16 * 1024 * 1024, "bytes {bytes}");
    assert!(items > 8_000, "items {items}");
    // Recent keys are there, the oldest cold ones are gone.
    assert!(c.text(b"get key:63999\r\n").starts_with(b"VALUE"));
    assert!(c.text(b"get key:0\r\n").starts_with(b"VALUE"));
    // cache_memlimit lowers the limit at run time.
    assert_eq!(c.text(b"cache_memlimit 8\r\n"), b"OK\r\n");
    c.text(b"set trigger 0 0 1\r\nx\r\n");
    assert!(stat(&mut c, "limit_maxbytes") == 8 * 1024 * 1024);
}

#[test]
fn evictions_disabled_gives_out_of_memory() {
    let node = start_ferrocache(&["-m", "8", "-M"]);
    let mut c = node.connect();
    let val = vec![b'v'; 10_000];
    let mut last = Vec::new();
    for i in 0..2000 {
        let mut req = format!("set k{i} 0 0 {}\r\n", val.len()).into_bytes();
        req.extend_from_slice(&val);
        req.extend_from_slice(b"\r\n");
        last = c.text(&req);
        if last != b"STORED\r\n" {
            break;
        }
    }
    assert_eq!(last, b"SERVER_ERROR out of memory storing object\r\n");
    assert_eq!(stat(&mut c, "evictions"), 0);
}

#[test]
fn command_line() {
    let bin = env!("CARGO_BIN_EXE_ferrocache");
    let out = std::process::Command::new(bin)
        .args(["memcached", "--bogus-flag"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown option '--bogus-flag'"));
    let out = std::process::Command::new(bin)
        .args(["memcached", "-t", "x"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid value 'x' for option '-t'"));
    let out = std::process::Command::new(bin)
        .args(["memcached", "--help"])
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--memory-limit"));
    // Long forms and -vv are accepted.
    let node = start_ferrocache(&[
        "--memory-limit=32",
        "--conn-limit=50",
        "--max-item-size=2m",
        "-vv",
    ]);
    let mut c = node.connect();
    assert_eq!(stat(&mut c, "limit_maxbytes"), 32 << 20);
    assert_eq!(stat(&mut c, "max_connections"), 50);
}

#[test]
fn connection_limit() {
    let node = start_ferrocache(&["-c", "3"]);
    let _a = node.connect();
    let _b = node.connect();
    let mut c = node.connect();
    assert_eq!(c.text(b"version\r\n"), b"VERSION 1.6.18\r\n");
    let mut d = std::net::TcpStream::connect(node.addr()).expect("connect");
    d.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut buf = Vec::new();
    let _ = d.read_to_end(&mut buf);
    assert_eq!(buf, b"ERROR Too many open connections\r\n");
}

#[test]
fn bad_input_is_contained() {
    let mut node = start_ferrocache(&[]);
    // A line without newline beyond 2048 bytes (not a get): disconnect.
    let mut s = std::net::TcpStream::connect(node.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(&[b'x'; 5000]).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(buf.is_empty());
    // Binary garbage after a binary start: disconnect.
    let mut s = std::net::TcpStream::connect(node.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let mut junk = bin_req(0x0a, 0, 0, &[], b"", b"");
    junk.extend_from_slice(b"\x42garbage that is not a header at all.....");
    s.write_all(&junk).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert_eq!(buf.len(), 24, "noop reply then close");
    // Random bytes on many connections never kill the server.
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(9);
    for _ in 0..200 {
        let mut s = std::net::TcpStream::connect(node.addr()).expect("connect");
        let n = rng.gen_range(1..3000);
        let data: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
        let _ = s.write_all(&data);
    }
    // A client that pipelines gets and never reads stalls only itself.
    let mut hog = std::net::TcpStream::connect(node.addr()).expect("connect");
    let mut c = node.connect();
    let mut big = b"set big 0 0 100000\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'z', 100_000));
    big.extend_from_slice(b"\r\n");
    assert_eq!(c.text(&big), b"STORED\r\n");
    hog.set_write_timeout(Some(Duration::from_secs(2))).ok();
    let mut sent = 0;
    for _ in 0..20_000 {
        if hog.write_all(b"get big\r\n").is_err() {
            break;
        }
        sent += 1;
    }
    assert!(sent > 0);
    assert_eq!(c.text(b"version\r\n"), b"VERSION 1.6.18\r\n");
    assert!(node.alive());
}
