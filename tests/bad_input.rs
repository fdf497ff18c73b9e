//! Bad input: malformed protocol, huge declared lengths, half-sent frames,
//! binary garbage, slow readers, and the connection limits (`maxclients`,
//! `timeout`, `client-query-buffer-limit`, `proto-max-bulk-len`).
//!
//! Protocol errors are compared byte for byte with redis-server 7.0 (when it
//! is installed): Redis replies with the error and closes the connection, and
//! clients rely on both. After every abuse a fresh client must still get
//! PONG: one bad client must never take the server down.

mod common;

use common::Node;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Send `req`, then read until the peer closes or stays quiet for `quiet`.
/// Returns (bytes read, closed by the peer).
fn exchange(node: &Node, req: &[u8], quiet: Duration) -> (Vec<u8>, bool) {
    let mut s = node.raw();
    // A server may close before reading everything: ignore write errors.
    let _ = s.write_all(req);
    read_all(&mut s, quiet)
}

fn read_all(s: &mut TcpStream, quiet: Duration) -> (Vec<u8>, bool) {
    s.set_read_timeout(Some(quiet)).ok();
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            // A reset after an error reply counts as closed too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (out, true),
            Err(_) => return (out, false),
        }
    }
    (out, false)
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A fresh client gets PONG.
fn assert_pong(node: &Node) {
    let mut s = node.raw();
    s.write_all(b"*1\r\n$4\r\nPING\r\n").expect("write PING");
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).expect("read PONG");
    assert_eq!(&buf, b"+PONG\r\n");
}

fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Malformed requests: (name, bytes). Each must produce Redis's exact error
/// (after the replies to any complete commands before it) and a close.
fn malformed_cases() -> Vec<(&'static str, Vec<u8>)> {
    let mut cases: Vec<(&'static str, Vec<u8>)> = vec![
        ("invalid multibulk length", b"*x\r\n".to_vec()),
        ("multibulk length over i32", b"*3000000000\r\n".to_vec()),
        ("multibulk length with +", b"*+1\r\n".to_vec()),
        ("invalid bulk length", b"*1\r\n$x\r\n".to_vec()),
        ("negative bulk length", b"*1\r\n$-2\r\n".to_vec()),
        (
            "bulk length over proto-max-bulk-len",
            b"*1\r\n$536870913\r\n".to_vec(),
        ),
        ("expected '$'", b"*1\r\n+PING\r\n".to_vec()),
        (
            "expected '$' got ':'",
            b"*2\r\n$3\r\nGET\r\n:1\r\n".to_vec(),
        ),
        // Redis turns CR/LF in error texts into spaces and sends other
        // bytes raw.
        ("expected '$' got CR", b"*1\r\n\r\n".to_vec()),
        ("expected '$' got LF", b"*1\r\n\nx\r\n".to_vec()),
        ("expected '$' got 0xff", b"*1\r\n\xffx\r\n".to_vec()),
        ("unbalanced double quotes", b"SET \"a b\r\n".to_vec()),
        ("unbalanced single quotes", b"SET 'a\r\n".to_vec()),
        ("quote not followed by space", b"SET \"a\"b c\r\n".to_vec()),
        (
            "error after good commands",
            b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nECHO\r\n*x\r\nPING\r\n".to_vec(),
        ),
    ];
    let mut big_inline = b"SET k ".to_vec();
    big_inline.extend_from_slice(&vec![b'a'; 70 * 1024]);
    cases.push(("too big inline request", big_inline));
    let mut big_count = b"*".to_vec();
    big_count.extend_from_slice(&vec![b'1'; 70 * 1024]);
    cases.push(("too big mbulk count string", big_count));
    let mut big_bulk = b"*1\r\n$".to_vec();
    big_bulk.extend_from_slice(&vec![b'1'; 70 * 1024]);
    cases.push(("too big bulk count string", big_bulk));
    cases
}

#[test]
fn malformed_protocol_matches_redis_and_closes() {
    let fc = common::start_ferrocache(&["--threads", "2"]);
    let redis = common::start_redis_server(&[]);
    for (name, req) in malformed_cases() {
        let (fc_out, fc_closed) = exchange(&fc, &req, Duration::from_millis(1500));
        assert!(
            fc_out.windows(4).any(|w| w == b"-ERR"),
            "{name}: no error from ferrocache: {:?}",
            show(&fc_out)
        );
        assert!(fc_closed, "{name}: ferrocache kept the connection open");
        if let Some(redis) = &redis {
            let (rd_out, rd_closed) = exchange(redis, &req, Duration::from_millis(1500));
            assert_eq!(
                show(&fc_out),
                show(&rd_out),
                "{name}: reply differs from redis"
            );
            assert_eq!(fc_closed, rd_closed, "{name}: close differs from redis");
        }
        assert_pong(&fc);
    }
}

#[test]
fn huge_declared_lengths_do_not_allocate() {
    let fc = common::start_ferrocache(&[]);
    assert_pong(&fc);
    let before = rss_kb(fc.pid());
    let mut held = Vec::new();
    for req in [
        &b"*2147483647\r\n"[..],
        b"*1\r\n$536870912\r\n",
        b"*2\r\n$3\r\nSET\r\n$536870912\r\n",
        b"*2147483647\r\n$536870912\r\n",
    ] {
        let mut s = fc.raw();
        s.write_all(req).expect("write");
        s.set_read_timeout(Some(Duration::from_millis(300))).ok();
        let mut buf = [0u8; 64];
        // No reply: the server waits for the rest, without allocating it.
        match s.read(&mut buf) {
            Ok(0) => panic!("{req:?}: connection closed"),
            Ok(n) => panic!("{req:?}: unexpected reply {:?}", show(&buf[..n])),
            Err(_) => {}
        }
        held.push(s);
    }
    assert_pong(&fc);
    let after = rss_kb(fc.pid());
    assert!(
        after < before + 64 * 1024,
        "RSS grew from {before} kB to {after} kB on declared lengths"
    );
    drop(held);
    assert_pong(&fc);
}

#[test]
fn half_sent_frames_complete_later() {
    let fc = common::start_ferrocache(&["--threads", "2"]);
    let mut s = fc.raw();
    let set = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n";
    // One byte at a time, with pauses inside the numbers and the CRLFs.
    for (i, b) in set.iter().enumerate() {
        s.write_all(&[*b]).expect("write");
        if i % 7 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).expect("read");
    assert_eq!(&buf, b"+OK\r\n");
    // A frame split in the middle of the payload, then an inline command
    // split before its newline.
    s.write_all(b"*2\r\n$3\r\nGET\r\n$3\r\nk").expect("write");
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(b"ey\r\nECH").expect("write");
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(b"O \"a b\"\r").expect("write");
    std::thread::sleep(Duration::from_millis(100));
    s.write_all(b"\n").expect("write");
    let want = b"$5\r\nva\r\nl\r\n$3\r\na b\r\n";
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got).expect("read");
    assert_eq!(show(&got), show(want));
}

/// Tiny deterministic PRNG for the garbage generator.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Protocol-flavoured garbage: headers, numbers, quotes, command names,
/// CR/LF, NUL and high bytes.
fn garbage(r: &mut Rng) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b"*",
        b"$",
        b"\r\n",
        b"\r",
        b"\n",
        b"1",
        b"2",
        b"3",
        b"-1",
        b"0",
        b"\"",
        b"'",
        b"\\x41",
        b" ",
        b"PING",
        b"ECHO",
        b"GET",
        b"SET",
        b"k",
        b"\xff",
        b"\xfe\x80",
        b"*2\r\n",
        b"$3\r\n",
        b"+OK",
        b":1",
        b"\t",
        b"\x00",
    ];
    let n = 1 + r.below(24);
    let mut v = Vec::new();
    for _ in 0..n {
        v.extend_from_slice(PIECES[r.below(PIECES.len())]);
    }
    v
}

#[test]
fn binary_garbage_matches_redis() {
    let fc = common::start_ferrocache(&["--threads", "2"]);
    let redis = common::start_redis_server(&[]);
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut failures = Vec::new();
    for i in 0..300 {
        let req = garbage(&mut r);
        let (fc_out, fc_closed) = exchange(&fc, &req, Duration::from_millis(60));
        if let Some(redis) = &redis {
            let (rd_out, rd_closed) = exchange(redis, &req, Duration::from_millis(60));
            if (&fc_out, fc_closed) != (&rd_out, rd_closed) {
                failures.push(format!(
                    "garbage #{i} {}\n  ferrocache: {} (closed: {fc_closed})\n  redis:      {} (closed: {rd_closed})",
                    esc(&req),
                    esc(&fc_out),
                    esc(&rd_out)
                ));
            }
        }
        if i % 50 == 0 {
            assert_pong(&fc);
        }
    }
    assert_pong(&fc);
    assert!(
        failures.is_empty(),
        "{} of 300 garbage inputs differ from redis; first ones:\n{}",
        failures.len(),
        failures
            .iter()
            .take(6)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// Bytes with CR, LF, and non-printables escaped.
fn esc(b: &[u8]) -> String {
    b.iter()
        .map(|&c| match c {
            b'\r' => "\\r".to_string(),
            b'\n' => "\\n".to_string(),
            0x20..=0x7e => (c as char).to_string(),
            _ => format!("\\x{c:02x}"),
        })
        .collect()
}

/// Redis's `strchr` for the newline stops at a NUL, so an inline line with a
/// NUL never completes; past 64 KiB it is "too big inline request".
#[test]
fn inline_nul_byte_like_redis() {
    let fc = common::start_ferrocache(&[]);
    let redis = common::start_redis_server(&[]);
    let mut big = b"PING\x00\r\n".to_vec();
    big.extend_from_slice(&vec![b'a'; 70_000]);
    for req in [
        &b"PING\r\nPING\x00\r\nPING\r\n"[..],
        b"*1\r\n$4\r\nPING\r\n\x00PING\r\n",
        b"ECHO \"a\x00b\"\r\n",
        &big,
    ] {
        let (fc_out, fc_closed) = exchange(&fc, req, Duration::from_millis(300));
        if let Some(redis) = &redis {
            let (rd_out, rd_closed) = exchange(redis, req, Duration::from_millis(300));
            assert_eq!((show(&fc_out), fc_closed), (show(&rd_out), rd_closed));
        }
        assert_pong(&fc);
    }
}

#[test]
fn slow_reader_does_not_grow_server_memory() {
    let fc = common::start_ferrocache(&["--threads", "2"]);
    let mut c = fc.raw();
    let value = vec![b'v'; 1 << 20];
    c.write_all(&common::encode_cmd(&[b"SET", b"big", &value]))
        .expect("write");
    let mut ok = [0u8; 5];
    c.read_exact(&mut ok).expect("read");
    assert_eq!(&ok, b"+OK\r\n");
    let before = rss_kb(fc.pid());

    // Pipeline up to 4000 GETs (4 GB of replies) and never read. Writing
    // stops by itself once the server stops reading from us.
    let mut slow = fc.raw();
    slow.set_write_timeout(Some(Duration::from_millis(500)))
        .ok();
    let get = common::encode_cmd(&[b"GET", b"big"]);
    let batch: Vec<u8> = get.iter().copied().cycle().take(get.len() * 100).collect();
    let writer = std::thread::spawn(move || {
        let mut sent = 0;
        for _ in 0..40 {
            if slow.write_all(&batch).is_err() {
                break;
            }
            sent += 100;
        }
        (slow, sent)
    });

    // Meanwhile another client keeps getting answers.
    let mut other = fc.raw();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut answered = 0;
    while Instant::now() < deadline {
        other
            .write_all(b"*1\r\n$4\r\nPING\r\n")
            .expect("write PING");
        let mut buf = [0u8; 7];
        other
            .read_exact(&mut buf)
            .expect("other client got no answer");
        assert_eq!(&buf, b"+PONG\r\n");
        answered += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    let (slow, _sent) = writer.join().expect("writer");
    let after = rss_kb(fc.pid());
    assert!(answered > 10, "only {answered} PINGs answered");
    assert!(
        after < before + 128 * 1024,
        "server RSS grew from {before} kB to {after} kB with a client that does not read"
    );
    drop(slow);
    assert_pong(&fc);
}

#[test]
fn maxclients_rejects_with_redis_error() {
    let fc = common::start_ferrocache(&["--maxclients", "5"]);
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut s = fc.raw();
        s.write_all(b"PING\r\n").expect("write");
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).expect("read");
        assert_eq!(&buf, b"+PONG\r\n");
        held.push(s);
    }
    let (out, closed) = exchange(&fc, b"PING\r\n", Duration::from_millis(1000));
    assert_eq!(show(&out), "-ERR max number of clients reached\r\n");
    assert!(closed);
    drop(held);
    // The slots are free again once the clients are gone.
    std::thread::sleep(Duration::from_millis(200));
    assert_pong(&fc);
}

#[test]
fn timeout_closes_idle_clients() {
    let fc = common::start_ferrocache(&["--timeout", "1"]);
    let mut idle = fc.raw();
    idle.write_all(b"PING\r\n").expect("write");
    let mut buf = [0u8; 7];
    idle.read_exact(&mut buf).expect("read");
    let start = Instant::now();
    let (out, closed) = read_all(&mut idle, Duration::from_secs(5));
    assert!(out.is_empty(), "unexpected {:?}", show(&out));
    assert!(closed, "idle client was not closed");
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(800) && waited < Duration::from_secs(4),
        "closed after {waited:?}"
    );
    assert_pong(&fc);
}

#[test]
fn query_buffer_limit_closes_big_incomplete_request() {
    let fc = common::start_ferrocache(&["--client-query-buffer-limit", "1mb"]);
    if let Some(redis) = common::start_redis_server(&["--client-query-buffer-limit", "1mb"]) {
        // Reference behaviour: Redis closes such a client.
        let mut s = redis.raw();
        let _ = s.write_all(b"*2\r\n$3\r\nGET\r\n$2000000\r\n");
        let _ = s.write_all(&vec![b'x'; 1_200_000]);
        assert!(read_all(&mut s, Duration::from_secs(3)).1);
    }
    let mut s = fc.raw();
    s.set_write_timeout(Some(Duration::from_secs(5))).ok();
    // A 2 MB argument that never completes.
    let _ = s.write_all(b"*2\r\n$3\r\nGET\r\n$2000000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..20 {
        if s.write_all(&chunk).is_err() {
            break;
        }
    }
    let (_, closed) = read_all(&mut s, Duration::from_secs(3));
    assert!(
        closed,
        "client over client-query-buffer-limit was not closed"
    );
    assert_pong(&fc);
    // An inline request without newline over the limit is closed as well
    // (after the 64 KiB inline limit error).
    let mut s = fc.raw();
    let _ = s.write_all(&vec![b'a'; 1_200_000]);
    let (_, closed) = read_all(&mut s, Duration::from_secs(3));
    assert!(closed);
    assert_pong(&fc);
}

#[test]
fn proto_max_bulk_len_is_honoured() {
    let fc = common::start_ferrocache(&["--proto-max-bulk-len", "1mb"]);
    let redis = common::start_redis_server(&["--proto-max-bulk-len", "1mb"]);
    // At the limit: accepted.
    let value = vec![b'x'; 1 << 20];
    let mut c = fc.raw();
    c.write_all(&common::encode_cmd(&[b"SET", b"k", &value]))
        .expect("write");
    let mut ok = [0u8; 5];
    c.read_exact(&mut ok).expect("read");
    assert_eq!(&ok, b"+OK\r\n");
    // One byte over: protocol error and close, like Redis.
    let req = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048577\r\n";
    let (fc_out, fc_closed) = exchange(&fc, req, Duration::from_millis(1000));
    assert_eq!(
        show(&fc_out),
        "-ERR Protocol error: invalid bulk length\r\n"
    );
    assert!(fc_closed);
    if let Some(redis) = &redis {
        let (rd_out, rd_closed) = exchange(redis, req, Duration::from_millis(1000));
        assert_eq!((show(&fc_out), fc_closed), (show(&rd_out), rd_closed));
    }
    // The limit also caps string growth, with Redis's message.
    let mut c = fc.raw();
    c.write_all(&common::encode_cmd(&[b"SETRANGE", b"k", b"1048576", b"x"]))
        .expect("write");
    let (out, _) = read_all(&mut c, Duration::from_millis(500));
    assert_eq!(
        show(&out),
        "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
    );
    assert_pong(&fc);
}
