//! Pub/Sub: differential tests against redis-server 7.0 (a subscriber and a
//! publisher connection on each server, every byte compared, RESP2 and
//! RESP3) and a load test (1,000 subscribers, one stalled subscriber that is
//! disconnected at the output buffer limit while nobody else loses a
//! message).

mod common;

use common::{reply_len, start_ferrocache, Pair, RespReader};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// A second connection on each server of a pair.
struct Dual {
    fc: RespReader,
    r: RespReader,
}

impl Dual {
    fn new(p: &Pair) -> Dual {
        Dual {
            fc: RespReader::new(p.fc_node.raw()),
            r: RespReader::new(p.redis_node.raw()),
        }
    }

    fn send(&mut self, cmd: &str) {
        let parts: Vec<&[u8]> = cmd.split_whitespace().map(|s| s.as_bytes()).collect();
        self.fc.send(&parts);
        self.r.send(&parts);
    }

    /// Read one reply from each side and compare them.
    fn expect_same(&mut self, what: &str) -> Vec<u8> {
        let a = self.fc.read_reply().expect("ferrocache closed");
        let b = self.r.read_reply().expect("redis closed");
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "mismatch for {what}"
        );
        a
    }

    /// Send and compare `n` replies.
    fn check_n(&mut self, cmd: &str, n: usize) {
        self.send(cmd);
        for _ in 0..n {
            self.expect_same(cmd);
        }
    }

    fn check(&mut self, cmd: &str) {
        self.check_n(cmd, 1);
    }

    /// Send and compare `n` replies whose order is unspecified (Redis walks
    /// a hash table): the same replies, and the same count sequence.
    fn check_unordered(&mut self, cmd: &str, n: usize) {
        self.send(cmd);
        let mut a: Vec<Vec<u8>> = (0..n).map(|_| self.fc.read_reply().unwrap()).collect();
        let mut b: Vec<Vec<u8>> = (0..n).map(|_| self.r.read_reply().unwrap()).collect();
        let counts = |v: &[Vec<u8>]| -> Vec<Vec<u8>> {
            v.iter()
                .map(|r| {
                    let s = r.rsplit(|&c| c == b':').next().unwrap_or_default();
                    s.to_vec()
                })
                .collect()
        };
        assert_eq!(counts(&a), counts(&b), "count sequence for {cmd}");
        let strip = |v: &mut Vec<Vec<u8>>| {
            for r in v.iter_mut() {
                if let Some(i) = r.iter().rposition(|&c| c == b':') {
                    r.truncate(i);
                }
            }
            v.sort();
        };
        strip(&mut a);
        strip(&mut b);
        assert_eq!(a, b, "replies for {cmd}");
    }
}

/// Publish on both publishers and compare the reply.
fn publish(p: &mut Pair, cmd: &str) {
    p.check_str(cmd);
}

/// Elements of a flat RESP array reply, as raw element bytes, sorted.
fn sorted_elements(reply: &[u8]) -> Vec<Vec<u8>> {
    let nl = reply.windows(2).position(|w| w == b"\r\n").unwrap();
    let mut pos = nl + 2;
    let mut out = Vec::new();
    while pos < reply.len() {
        let n = reply_len(&reply[pos..]).unwrap();
        out.push(reply[pos..pos + n].to_vec());
        pos += n;
    }
    out.sort();
    out
}

#[test]
fn resp2_subscribe_shapes_and_messages() {
    let Some(mut p) = Pair::start(&["--threads", "2"]) else {
        return;
    };
    let mut s = Dual::new(&p);
    // Nothing subscribed: a nil name and count 0.
    s.check("UNSUBSCRIBE");
    s.check("PUNSUBSCRIBE");
    s.check("SUNSUBSCRIBE");
    s.check_n("UNSUBSCRIBE x y", 2);
    s.check_n("PUNSUBSCRIBE x y", 2);
    s.check_n("SUNSUBSCRIBE x", 1);
    // Wrong arity.
    s.check("SUBSCRIBE");
    s.check("PSUBSCRIBE");
    s.check("SSUBSCRIBE");
    p.check_str("PUBLISH ch");
    p.check_str("PUBLISH ch a b");
    p.check_str("SPUBLISH ch");
    // Subscribing twice to the same channel keeps the count.
    s.check_n("SUBSCRIBE a b a", 3);
    // Subscribed mode: PING's push shape, everything else refused.
    s.check("PING");
    s.check("PING hello");
    s.check("PING a b");
    s.check("GET x");
    s.check("CONFIG GET maxmemory");
    s.check("CLIENT LIST");
    s.check("HELLO 3");
    s.check("PUBLISH a x");
    s.check("MULTI");
    s.check("EXEC");
    s.check("NOSUCHCOMMAND");
    // Patterns and shard channels; counts per Redis.
    s.check_n("PSUBSCRIBE h*llo n?ws [ab]c", 3);
    s.check_n("SSUBSCRIBE s1 s2 s1", 3);
    s.check_n("UNSUBSCRIBE b zz", 2);
    s.check_n("PUNSUBSCRIBE n?ws", 1);
    s.check_n("SUNSUBSCRIBE s2 zz", 2);
    // Messages.
    publish(&mut p, "PUBLISH a m1");
    s.expect_same("message a");
    publish(&mut p, "PUBLISH hello m2");
    s.expect_same("pmessage h*llo");
    publish(&mut p, "PUBLISH ac m3");
    s.expect_same("pmessage [ab]c");
    publish(&mut p, "PUBLISH nobody m4");
    publish(&mut p, "SPUBLISH s1 m5");
    s.expect_same("smessage s1");
    publish(&mut p, "SPUBLISH a m6"); // shard ≠ classic channel
    publish(&mut p, "PUBLISH s1 m7");
    // Binary and empty payloads.
    p.check(&[b"PUBLISH", b"a", b"\x00\r\n\xff"]);
    s.expect_same("binary message");
    p.check(&[b"PUBLISH", b"a", b""]);
    s.expect_same("empty message");
    // Channel matched by both a subscription and a pattern: two deliveries.
    s.check("PSUBSCRIBE a*");
    publish(&mut p, "PUBLISH a both");
    s.expect_same("message a");
    s.expect_same("pmessage a*");
    // Unsubscribe everything (unordered replies), then normal mode again.
    s.check_unordered("PUNSUBSCRIBE", 3);
    s.check_unordered("UNSUBSCRIBE", 1);
    s.check("PING"); // still subscribed to a shard channel
    s.check_unordered("SUNSUBSCRIBE", 1);
    s.check("PING");
    s.check("GET x");
    // RESET leaves subscribed mode and drops subscriptions.
    s.check_n("SUBSCRIBE r1 r2", 2);
    s.check("RESET");
    s.check("PING");
    p.check_str("PUBSUB NUMSUB r1 r2");
    publish(&mut p, "PUBLISH r1 gone");
    // SUBSCRIBE inside MULTI runs at EXEC; SSUBSCRIBE is refused there.
    s.check("MULTI");
    s.check("SSUBSCRIBE x");
    s.check("EXEC");
    s.check("MULTI");
    s.check("SUBSCRIBE x");
    s.check("EXEC");
    s.check("GET x");
    s.check("EXEC");
    s.check("QUIT");
}

#[test]
fn resp3_pushes() {
    let Some(mut p) = Pair::start(&["--threads", "2"]) else {
        return;
    };
    let mut s = Dual::new(&p);
    s.fc.call(&[b"HELLO", b"3"]);
    s.r.call(&[b"HELLO", b"3"]);
    s.check("UNSUBSCRIBE");
    s.check("SUNSUBSCRIBE");
    s.check_n("SUBSCRIBE c1 c2", 2);
    s.check_n("PSUBSCRIBE c*", 1);
    s.check_n("SSUBSCRIBE sh", 1);
    // No restrictions in RESP3.
    s.check("PING");
    s.check("GET x");
    s.check("SET x 1");
    publish(&mut p, "PUBLISH c1 hi");
    s.expect_same("message");
    s.expect_same("pmessage");
    publish(&mut p, "SPUBLISH sh hey");
    s.expect_same("smessage");
    // A message to oneself comes before PUBLISH's reply.
    s.check_n("PUBLISH c2 self", 3);
    s.check_n("SPUBLISH sh self", 2);
    // The subscriber's own introspection.
    s.check("PUBSUB NUMSUB c1 c2 zz");
    s.check("PUBSUB SHARDNUMSUB sh zz");
    s.check("PUBSUB NUMPAT");
    s.check_n("UNSUBSCRIBE c1", 1);
    s.check_unordered("UNSUBSCRIBE", 1);
    s.check_unordered("PUNSUBSCRIBE", 1);
    s.check_unordered("SUNSUBSCRIBE", 1);
    // A RESP2 publisher and a RESP3 subscriber to the same channel.
    s.check_n("SUBSCRIBE mix", 1);
    publish(&mut p, "PUBLISH mix both");
    s.expect_same("message");
    s.check("RESET");
    s.check("PING");
}

#[test]
fn pubsub_introspection() {
    let Some(mut p) = Pair::start(&["--threads", "2"]) else {
        return;
    };
    p.check_str("PUBSUB CHANNELS");
    p.check_str("PUBSUB SHARDCHANNELS");
    p.check_str("PUBSUB NUMPAT");
    p.check_str("PUBSUB NUMSUB");
    p.check_str("PUBSUB NUMSUB a b");
    p.check_str("PUBSUB SHARDNUMSUB");
    p.check_str("PUBSUB HELP");
    p.check_str("PUBSUB help");
    p.check_str("PUBSUB");
    p.check_str("PUBSUB FOO");
    p.check_str("PUBSUB NUMPAT x");
    p.check_str("PUBSUB HELP x");
    p.check_str("PUBSUB CHANNELS a b");
    p.check_str("PUBSUB SHARDCHANNELS a b");
    let mut s1 = Dual::new(&p);
    let mut s2 = Dual::new(&p);
    s1.check_n("SUBSCRIBE news.tech news.art other", 3);
    s2.check_n("SUBSCRIBE news.tech", 1);
    s1.check_n("PSUBSCRIBE news.* o*", 2);
    s2.check_n("PSUBSCRIBE news.*", 1);
    s1.check_n("SSUBSCRIBE shard1 shard2", 2);
    for cmd in [
        "PUBSUB CHANNELS",
        "PUBSUB CHANNELS news.*",
        "PUBSUB CHANNELS NEWS.*",
        "PUBSUB SHARDCHANNELS",
        "PUBSUB SHARDCHANNELS *1",
    ] {
        let parts: Vec<&[u8]> = cmd.split_whitespace().map(|s| s.as_bytes()).collect();
        let (a, b) = p.both(&parts);
        assert_eq!(a[..4], b[..4], "{cmd}");
        assert_eq!(sorted_elements(&a), sorted_elements(&b), "{cmd}");
    }
    p.check_str("PUBSUB CHANNELS nomatch*");
    p.check_str("PUBSUB NUMSUB news.tech news.art other zz");
    p.check_str("PUBSUB SHARDNUMSUB shard1 shard2 news.tech");
    p.check_str("PUBSUB NUMPAT");
    // PUBLISH counts every delivery: 2 channel subscribers + 2 patterns +
    // 1 pattern of s2.
    publish(&mut p, "PUBLISH news.tech x");
    s1.expect_same("message");
    s1.expect_same("pmessage");
    s2.expect_same("message");
    s2.expect_same("pmessage");
    // INFO stats fields.
    let info = |r: &mut RespReader| -> Vec<String> {
        let b = r.call(&[b"INFO", b"stats"]);
        String::from_utf8_lossy(&b)
            .lines()
            .filter(|l| l.starts_with("pubsub"))
            .map(str::to_string)
            .collect()
    };
    let fi = info(&mut p.fc);
    assert_eq!(fi, info(&mut p.redis));
    assert_eq!(fi.len(), 3);
    // CLIENT LIST fields and the P flag (ids differ between servers, so
    // check ferrocache's line for s1 directly).
    let list = p.fc.call(&[b"CLIENT", b"LIST"]);
    let list = String::from_utf8_lossy(&list);
    assert!(
        list.lines()
            .any(|l| l.contains(" flags=P ") && l.contains(" sub=3 psub=2 ssub=2 ")),
        "{list}"
    );
    let typed = p.fc.call(&[b"CLIENT", b"LIST", b"TYPE", b"pubsub"]);
    assert_eq!(String::from_utf8_lossy(&typed).matches("id=").count(), 2);
    // Disconnecting drops the subscriptions.
    drop(s1);
    drop(s2);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let a = p.fc.call(&[b"PUBSUB", b"NUMPAT"]);
        if a == b":0\r\n" || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    p.check_str("PUBSUB NUMSUB news.tech news.art other");
    p.check_str("PUBSUB SHARDNUMSUB shard1");
    p.check_str("PUBSUB CHANNELS");
    p.check_str("PUBSUB NUMPAT");
    assert_eq!(info(&mut p.fc), info(&mut p.redis));
}

#[test]
fn command_info_matches() {
    let Some(mut p) = Pair::start(&["--threads", "2"]) else {
        return;
    };
    for c in [
        "subscribe",
        "unsubscribe",
        "psubscribe",
        "punsubscribe",
        "publish",
        "ssubscribe",
        "sunsubscribe",
        "spublish",
    ] {
        p.check_str(&format!("COMMAND INFO {c}"));
    }
    // Redis lists subcommands in its dict's (seeded, random) order: compare
    // the same bytes in any order.
    let (a, b) = p.both(&[b"COMMAND", b"INFO", b"pubsub"]);
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_unstable();
    b.sort_unstable();
    assert_eq!(a, b);
}

fn rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// One publisher, 1,000 subscribers, one subscriber that never reads: every
/// healthy subscriber gets every message in order, the stalled one is
/// disconnected once over `client-output-buffer-limit pubsub`, the
/// publisher never blocks, and the server's memory stays bounded.
#[test]
fn load_thousand_subscribers_and_a_stalled_one() {
    const SUBS: usize = 1000;
    const SMALL: usize = 200;
    const BIG: usize = 800;
    let node = start_ferrocache(&["--threads", "2"]);
    let mut publ = RespReader::new(node.raw());
    assert_eq!(
        publ.call(&[
            b"CONFIG",
            b"SET",
            b"client-output-buffer-limit",
            b"pubsub 1mb 256kb 10"
        ]),
        b"+OK\r\n"
    );
    // The stalled subscriber: subscribes to both channels, then never reads.
    let mut stalled = node.raw();
    stalled
        .write_all(&common::encode_cmd(&[b"SUBSCRIBE", b"ch", b"big"]))
        .unwrap();
    let mut subs: Vec<RespReader> = Vec::with_capacity(SUBS);
    for _ in 0..SUBS {
        let mut r = RespReader::new(node.raw());
        r.send(&[b"SUBSCRIBE", b"ch"]);
        subs.push(r);
    }
    for r in &mut subs {
        assert_eq!(
            r.read_reply().unwrap(),
            b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while publ.call(&[b"PUBSUB", b"NUMSUB", b"big"]) != b"*2\r\n$3\r\nbig\r\n:1\r\n" {
        assert!(
            Instant::now() < deadline,
            "stalled subscriber not subscribed"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let rss_before = rss_kb(node.pid());

    // Interleave small messages (everyone) with big ones (the stalled
    // subscriber only): 800 × 64 KiB (50 MiB) is far over its 1 MiB hard limit plus
    // whatever the kernel buffers.
    let big = vec![b'x'; 64 * 1024];
    let start = Instant::now();
    let mut small_sent = 0;
    for i in 0..BIG {
        let n = publ.call(&[b"PUBLISH", b"big", &big]);
        assert!(n == b":1\r\n" || n == b":0\r\n", "{n:?}");
        if i % 3 == 0 && small_sent < SMALL {
            for _ in 0..2 {
                let msg = format!("msg-{small_sent}");
                let r = publ.call(&[b"PUBLISH", b"ch", msg.as_bytes()]);
                let n: usize = String::from_utf8_lossy(&r[1..r.len() - 2]).parse().unwrap();
                assert!(n == SUBS || n == SUBS + 1, "receivers {n}");
                small_sent += 1;
            }
        }
    }
    while small_sent < SMALL {
        let msg = format!("msg-{small_sent}");
        publ.call(&[b"PUBLISH", b"ch", msg.as_bytes()]);
        small_sent += 1;
    }
    let publish_time = start.elapsed();
    assert!(
        publish_time < Duration::from_secs(10),
        "publishing took {publish_time:?}"
    );

    // The stalled subscriber is gone: no longer counted, connection closed.
    let deadline = Instant::now() + Duration::from_secs(5);
    while publ.call(&[b"PUBSUB", b"NUMSUB", b"big"]) != b"*2\r\n$3\r\nbig\r\n:0\r\n" {
        assert!(
            Instant::now() < deadline,
            "stalled subscriber not disconnected"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let r = publ.call(&[b"PUBSUB", b"NUMSUB", b"ch"]);
    assert_eq!(r, format!("*2\r\n$2\r\nch\r\n:{SUBS}\r\n").as_bytes());

    // Every healthy subscriber got every small message, in order.
    for (k, r) in subs.iter_mut().enumerate() {
        for i in 0..SMALL {
            let m = r.read_reply().expect("subscriber closed");
            let body = format!("msg-{i}");
            let want = format!(
                "*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n${}\r\n{body}\r\n",
                body.len()
            );
            assert_eq!(
                String::from_utf8_lossy(&m),
                want,
                "subscriber {k} message {i}"
            );
        }
    }

    // The stalled connection reaches EOF once drained (the server closed it).
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0usize;
    loop {
        match stalled.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) => panic!("stalled connection still open after {total} bytes: {e}"),
        }
    }
    assert!(total < BIG * big.len(), "all {total} bytes were delivered");

    // Memory: bounded by the limit, not by the 50 MiB published to the
    // stalled client.
    let rss_after = rss_kb(node.pid());
    assert!(
        rss_after < rss_before + 24 * 1024,
        "RSS grew from {rss_before} kB to {rss_after} kB"
    );
    assert!(start.elapsed() < Duration::from_secs(20));
}
