//! Multi-client differential scenarios: scripted interleavings over several
//! raw connections to ferrocache (`--threads 2`) and to redis-server 7.0,
//! comparing every reply and every push byte for byte.
//!
//! Each scenario opens N connections to each server and runs the same steps
//! on both sides: `call` (send on one connection and read its replies),
//! `pushes` (read what a subscriber received), `quiet` (nothing more arrived
//! on either side). Where Redis's order is hash-table order (UNSUBSCRIBE
//! without arguments, several patterns matching one channel) the replies of
//! that step are compared as a multiset.
//!
//! Covered: pub/sub (SUBSCRIBE/PSUBSCRIBE overlaps, UNSUBSCRIBE all, RESP2 and
//! RESP3 pushes, SSUBSCRIBE/SPUBLISH, PUBSUB introspection, RESET, subscribed
//! mode errors) and WATCH (a second client touching the watched key with every
//! kind of write, including EXPIRE, RENAME, FLUSHALL, SWAPDB and expiry by
//! `PEXPIRE 1` + sleep, then EXEC: nil versus success).

mod common;

use common::{encode_cmd, reply_len, Node};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// One raw connection with a reply buffer.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(node: &Node) -> Conn {
        let s = TcpStream::connect(node.addr()).expect("connect");
        s.set_nodelay(true).ok();
        Conn { s, buf: Vec::new() }
    }

    fn send(&mut self, args: &[&[u8]]) {
        self.s.write_all(&encode_cmd(args)).expect("write");
    }

    /// One complete reply, or None when nothing complete arrives in `wait`.
    fn read(&mut self, wait: Duration) -> Option<Vec<u8>> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(n) = reply_len(&self.buf) {
                return Some(self.buf.drain(..n).collect());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.s.set_read_timeout(Some(left)).ok();
            let mut tmp = [0u8; 65536];
            match self.s.read(&mut tmp) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return None
                }
                Err(_) => return None,
            }
        }
    }
}

/// Both servers and N connections to each.
struct Multi {
    _fc: Node,
    _rd: Node,
    fc: Vec<Conn>,
    rd: Vec<Conn>,
    log: Vec<String>,
}

fn esc(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

/// Replies whose order is Redis's hash order, in a comparable form: each
/// reply's lines sorted when it is one array (PUBSUB CHANNELS), else the
/// replies' `[kind, name, count]` frames in order without the names plus
/// the sorted names (UNSUBSCRIBE without arguments), else sorted replies.
fn unordered_form(v: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let split =
        |r: &[u8]| -> Vec<Vec<u8>> { r.split(|&b| b == b'\n').map(|l| l.to_vec()).collect() };
    if v.len() == 1 {
        let mut lines = split(&v[0]);
        lines.sort();
        return lines;
    }
    let all_confirms = v.iter().all(|r| {
        let l = split(r);
        l.len() == 7 && (l[0] == b"*3\r" || l[0] == b">3\r") && l[5].starts_with(b":")
    });
    if !all_confirms {
        let mut s = v.to_vec();
        s.sort();
        return s;
    }
    let mut frames = Vec::new();
    let mut names = Vec::new();
    for r in v {
        let l = split(r);
        frames.push([l[0].clone(), l[2].clone(), l[5].clone()].concat());
        names.push([l[3].clone(), l[4].clone()].concat());
    }
    names.sort();
    frames.extend(names);
    frames
}

fn words(cmd: &str) -> Vec<Vec<u8>> {
    cmd.split_whitespace()
        .map(|w| w.as_bytes().to_vec())
        .collect()
}

impl Multi {
    fn start(n: usize) -> Option<Multi> {
        let rd = common::start_redis_server(&[])?;
        let fc = common::start_ferrocache(&["--threads", "2"]);
        let fcc = (0..n).map(|_| Conn::open(&fc)).collect();
        let rdc = (0..n).map(|_| Conn::open(&rd)).collect();
        Some(Multi {
            _fc: fc,
            _rd: rd,
            fc: fcc,
            rd: rdc,
            log: Vec::new(),
        })
    }

    fn fail(&self, what: &str, fc: &[Vec<u8>], rd: &[Vec<u8>]) -> ! {
        let show = |v: &[Vec<u8>]| v.iter().map(|r| esc(r)).collect::<Vec<_>>().join(" | ");
        panic!(
            "{what}\n  ferrocache: {}\n  redis:      {}\n  steps so far:\n    {}",
            show(fc),
            show(rd),
            self.log[self.log.len().saturating_sub(14)..].join("\n    ")
        );
    }

    /// Read `n` replies on connection `i` of both sides.
    fn read_n(&mut self, i: usize, n: usize) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let wait = Duration::from_secs(5);
        let f: Vec<Vec<u8>> = (0..n).filter_map(|_| self.fc[i].read(wait)).collect();
        let r: Vec<Vec<u8>> = (0..n).filter_map(|_| self.rd[i].read(wait)).collect();
        (f, r)
    }

    fn compare(&mut self, what: String, f: Vec<Vec<u8>>, r: Vec<Vec<u8>>, unordered: bool) {
        self.log.push(what.clone());
        let (mut fs, mut rs) = (f.clone(), r.clone());
        if unordered {
            fs = unordered_form(&fs);
            rs = unordered_form(&rs);
        }
        if fs != rs || r.is_empty() && f.is_empty() && !what.contains("quiet") {
            self.fail(&what, &f, &r);
        }
    }

    /// Send `args` on connection `i` and compare its `n` replies.
    fn call_n(&mut self, i: usize, args: &[&[u8]], n: usize, unordered: bool) {
        self.fc[i].send(args);
        self.rd[i].send(args);
        let (f, r) = self.read_n(i, n);
        let what = format!(
            "c{i}: {}",
            args.iter().map(|a| esc(a)).collect::<Vec<_>>().join(" ")
        );
        self.compare(what, f, r, unordered);
    }

    fn call(&mut self, i: usize, cmd: &str) {
        let w = words(cmd);
        let refs: Vec<&[u8]> = w.iter().map(|a| a.as_slice()).collect();
        self.call_n(i, &refs, 1, false);
    }

    /// Switch connection `i` to RESP3 (HELLO's reply carries the client id,
    /// which differs: only its presence is checked).
    fn hello3(&mut self, i: usize) {
        self.fc[i].send(&[b"HELLO", b"3"]);
        self.rd[i].send(&[b"HELLO", b"3"]);
        let (f, r) = self.read_n(i, 1);
        if f.len() != 1 || r.len() != 1 || f[0][0] != b'%' {
            self.fail(&format!("c{i}: HELLO 3"), &f, &r);
        }
        self.log.push(format!("c{i}: HELLO 3"));
    }

    /// A command answered once per argument (SUBSCRIBE & co.).
    fn call_multi(&mut self, i: usize, cmd: &str, n: usize, unordered: bool) {
        let w = words(cmd);
        let refs: Vec<&[u8]> = w.iter().map(|a| a.as_slice()).collect();
        self.call_n(i, &refs, n, unordered);
    }

    /// Pushes that connection `i` received.
    fn pushes(&mut self, i: usize, n: usize, unordered: bool) {
        let (f, r) = self.read_n(i, n);
        if r.len() != n {
            self.fail(&format!("c{i}: redis sent fewer than {n} pushes"), &f, &r);
        }
        self.compare(format!("c{i}: {n} push(es)"), f, r, unordered);
    }

    /// Nothing more arrived on connection `i` of either side.
    fn quiet(&mut self, i: usize) {
        let wait = Duration::from_millis(60);
        let f: Vec<Vec<u8>> = self.fc[i].read(wait).into_iter().collect();
        let r: Vec<Vec<u8>> = self.rd[i].read(wait).into_iter().collect();
        if !f.is_empty() || !r.is_empty() {
            self.fail(&format!("c{i}: expected quiet"), &f, &r);
        }
        self.log.push(format!("c{i}: quiet"));
    }
}

#[test]
fn pubsub_resp2_and_resp3_pushes() {
    let Some(mut m) = Multi::start(4) else { return };
    // c0: RESP2 channels; c1: RESP2 pattern; c2: RESP3 both; c3: publisher.
    m.call_multi(0, "SUBSCRIBE news.a news.b news.a", 3, false);
    m.call_multi(1, "PSUBSCRIBE news.* n?ws.a", 2, false);
    m.hello3(2);
    m.call_multi(2, "SUBSCRIBE news.a", 1, false);
    m.call_multi(2, "PSUBSCRIBE *", 1, false);
    m.call(3, "PUBLISH news.a hello");
    m.pushes(0, 1, false);
    // Two patterns of one client match: Redis walks its pattern dict.
    m.pushes(1, 2, true);
    // Channel subscribers first, then patterns.
    m.pushes(2, 2, false);
    m.call(3, "PUBLISH news.b two");
    m.pushes(0, 1, false);
    m.pushes(1, 1, false);
    m.pushes(2, 1, false);
    m.call(3, "PUBLISH other x");
    m.pushes(2, 1, false);
    for i in 0..3 {
        m.quiet(i);
    }
    // Introspection from the publisher.
    m.call(3, "PUBSUB NUMSUB news.a news.b other");
    m.call(3, "PUBSUB NUMPAT");
    m.call_multi(3, "PUBSUB CHANNELS", 1, true);
    m.call_multi(3, "PUBSUB CHANNELS news.?", 1, true);
    // RESP2 subscribed mode refuses other commands; RESP3 does not.
    m.call(0, "GET k");
    m.call(0, "PING");
    m.call(0, "PING hi");
    m.call(2, "GET k");
    m.call(2, "PING");
    // A RESP3 subscriber publishing to itself gets the push before :N.
    m.call_multi(2, "PUBLISH news.a self", 3, false);
    m.pushes(0, 1, false);
    m.pushes(1, 2, true);
    // Unsubscribe all: channel order is Redis's dict order.
    m.call_multi(0, "UNSUBSCRIBE", 2, true);
    m.call(0, "GET k");
    m.call_multi(1, "PUNSUBSCRIBE", 2, false);
    m.call_multi(1, "PUNSUBSCRIBE", 1, false);
    m.call_multi(1, "UNSUBSCRIBE", 1, false);
    m.call(3, "PUBLISH news.a after");
    m.pushes(2, 2, false);
    m.quiet(0);
    m.quiet(1);
    // RESET leaves subscribed mode and RESP3.
    m.call(2, "RESET");
    m.call(3, "PUBLISH news.a gone");
    m.quiet(2);
    m.call(3, "PUBSUB NUMSUB news.a");
    m.call(3, "PUBSUB NUMPAT");
}

#[test]
fn pubsub_overlaps_and_sharded() {
    let Some(mut m) = Multi::start(3) else { return };
    // One client, a channel and two patterns matching it: three deliveries.
    m.call_multi(0, "SUBSCRIBE ch", 1, false);
    m.call_multi(0, "PSUBSCRIBE c* *h", 2, false);
    m.call(2, "PUBLISH ch m1");
    m.pushes(0, 1, false);
    m.pushes(0, 2, true);
    // Unsubscribing a pattern it does not have, and duplicates.
    m.call_multi(0, "PUNSUBSCRIBE nope c*", 2, false);
    m.call(2, "PUBLISH ch m2");
    m.pushes(0, 2, false);
    // Sharded channels: RESP2 and RESP3 subscribers.
    m.hello3(1);
    m.call_multi(1, "SSUBSCRIBE {s}1 {s}2", 2, false);
    m.call_multi(0, "SSUBSCRIBE {s}1", 1, false);
    m.call(2, "SPUBLISH {s}1 hello");
    m.pushes(0, 1, false);
    m.pushes(1, 1, false);
    m.call(2, "SPUBLISH {s}2 x");
    m.pushes(1, 1, false);
    m.call(2, "PUBLISH {s}1 classic");
    m.call(2, "PUBSUB SHARDNUMSUB {s}1 {s}2 {s}3");
    m.call_multi(2, "PUBSUB SHARDCHANNELS", 1, true);
    m.call_multi(2, "PUBSUB SHARDCHANNELS *1", 1, true);
    m.call_multi(1, "SUNSUBSCRIBE", 2, true);
    m.call(2, "SPUBLISH {s}2 y");
    m.quiet(1);
    m.call_multi(0, "SUNSUBSCRIBE {s}1 {s}9", 2, false);
    m.call_multi(0, "UNSUBSCRIBE", 1, false);
    m.call_multi(0, "PUNSUBSCRIBE", 1, false);
    m.call(0, "SET k v");
    m.quiet(0);
    // A subscriber that disconnects is gone from the counts.
    m.call_multi(1, "SUBSCRIBE gone", 1, false);
    m.call(2, "PUBSUB NUMSUB gone");
    m.fc[1].s.shutdown(std::net::Shutdown::Both).ok();
    m.rd[1].s.shutdown(std::net::Shutdown::Both).ok();
    std::thread::sleep(Duration::from_millis(100));
    m.call(2, "PUBSUB NUMSUB gone");
    m.call(2, "PUBLISH gone x");
}

/// A key watched by c0, touched (or not) by c1, then c0's EXEC.
fn watch_case(m: &mut Multi, setup: &[&str], touch: &[&str], sleep_ms: u64) {
    m.call(0, "FLUSHALL");
    for s in setup {
        m.call(0, s);
    }
    m.call(0, "WATCH k");
    for t in touch {
        m.call(1, t);
    }
    if sleep_ms > 0 {
        std::thread::sleep(Duration::from_millis(sleep_ms));
    }
    m.call(0, "MULTI");
    m.call(0, "INCR counter");
    m.call(0, "EXEC");
    m.call(0, "GET counter");
    m.call(1, "SELECT 0");
}

#[test]
fn watch_sees_every_write_path() {
    let Some(mut m) = Multi::start(2) else { return };
    let v: &[&str] = &["SET k 1"];
    let cases: &[(&[&str], &[&str], u64)] = &[
        // No touch: EXEC runs.
        (v, &[], 0),
        (v, &["SET other 1"], 0),
        (v, &["GET k"], 0),
        (v, &["DEL nokey"], 0),
        (v, &["DEL nokey other"], 0),
        (&[], &["DEL k"], 0),
        (v, &["EXPIRE nokey 100"], 0),
        (v, &["PERSIST k"], 0),
        (v, &["SETNX k 2"], 0),
        (v, &["SET k 2 NX"], 0),
        (v, &["SELECT 1", "SET k 2"], 0),
        (v, &["SELECT 1", "FLUSHDB"], 0),
        (v, &["SWAPDB 1 2"], 0),
        (v, &["COPY k k2"], 0),
        (v, &["SET a 1", "BITOP AND dst k a"], 0),
        (v, &["SUNIONSTORE dst k2"], 0),
        (v, &["EXPIRE k 100 GT"], 0),
        // Touched: EXEC answers nil.
        (v, &["SET k 2"], 0),
        (v, &["SET k 1"], 0),
        (&[], &["SET k 1"], 0),
        (v, &["DEL k"], 0),
        (v, &["UNLINK k other"], 0),
        (v, &["INCR k"], 0),
        (v, &["APPEND k x"], 0),
        (v, &["SETRANGE k 0 x"], 0),
        (v, &["GETDEL k"], 0),
        (v, &["GETEX k EX 100"], 0),
        (v, &["EXPIRE k 100"], 0),
        (v, &["PEXPIREAT k 1"], 0),
        (&["SET k 1 EX 100"], &["PERSIST k"], 0),
        (v, &["RENAME k k2"], 0),
        (&["SET k 1", "SET k2 2"], &["RENAME k2 k"], 0),
        (v, &["MOVE k 1"], 0),
        (&["SET k 1", "SET k2 2"], &["COPY k2 k REPLACE"], 0),
        (v, &["FLUSHALL"], 0),
        (v, &["FLUSHDB"], 0),
        (&[], &["FLUSHALL"], 0),
        (v, &["SWAPDB 0 1"], 0),
        (v, &["SELECT 1", "SET k x", "SELECT 0", "SWAPDB 1 0"], 0),
        (v, &["SET a 1", "BITOP OR k a"], 0),
        (v, &["SETBIT k 3 1"], 0),
        (v, &["MSET a 1 k 2"], 0),
        (&["SADD s a"], &["SUNIONSTORE k s"], 0),
        (&["LPUSH k a"], &["LPUSH k b"], 0),
        (&["LPUSH k a"], &["LPOP k"], 0),
        (&["LPUSH l a"], &["LMOVE l k LEFT LEFT"], 0),
        (&["HSET k f v"], &["HDEL k f"], 0),
        (&["HSET k f v"], &["HDEL k nofield"], 0),
        (&["ZADD k 1 a"], &["ZINCRBY k 1 a"], 0),
        (&["XADD k 1-1 f v"], &["XADD k 2-1 f v"], 0),
        (&["XADD k 1-1 f v"], &["XGROUP CREATE k g 0"], 0),
        (&["SET p x"], &["PFADD k a"], 0),
        (&[], &["GEOADD k 13.361389 38.115556 Palermo"], 0),
        // No-op writes: Redis signals some (LTRIM of the whole list, SORT
        // STORE, PFCOUNT refreshing a stale cache) and not
        // others (HSETNX of an existing field, stream group bookkeeping).
        (&["RPUSH k 1 2"], &["LTRIM k 0 -1"], 0),
        (&["RPUSH k 1 2"], &["LTRIM k 5 10"], 0),
        (&["RPUSH k 1 2"], &["LREM k 0 zz"], 0),
        (&["HSET k f v"], &["HSETNX k f w"], 0),
        (&["HSET k f v"], &["HSETNX k g w"], 0),
        (&["HSET k f v"], &["HINCRBY k n 0"], 0),
        (v, &["INCRBY k 0"], 0),
        (&["RPUSH k 1 2"], &["SORT k STORE k"], 0),
        (&["PFADD k a"], &["PFCOUNT k"], 0),
        (&["PFADD k a", "PFCOUNT k"], &["PFCOUNT k"], 0),
        (&["PFADD k a"], &["PFADD k"], 0),
        (&["SADD k a"], &["SREM k zz"], 0),
        (&["SADD k a"], &["SMOVE k k a"], 0),
        (&["ZADD k 1 m"], &["ZADD k NX 1 m"], 0),
        (&["ZADD k 1 m"], &["ZREMRANGEBYSCORE k 100 200"], 0),
        (&["GEOADD k 13 38 a"], &["GEOADD k NX 13 38 a"], 0),
        (
            &["XADD k 1-0 f v", "XGROUP CREATE k g 0"],
            &["XSETID k 5-0"],
            0,
        ),
        (
            &["XADD k 1-0 f v", "XGROUP CREATE k g 0"],
            &["XGROUP SETID k g 0"],
            0,
        ),
        (
            &["XADD k 1-0 f v", "XGROUP CREATE k g 0"],
            &["XGROUP CREATECONSUMER k g c"],
            0,
        ),
        (
            &["XADD k 1-0 f v", "XGROUP CREATE k g 0"],
            &["XREADGROUP GROUP g c STREAMS k >"],
            0,
        ),
        (
            &[
                "XADD k 1-0 f v",
                "XGROUP CREATE k g 0",
                "XREADGROUP GROUP g c STREAMS k >",
            ],
            &["XACK k g 1-0"],
            0,
        ),
        (
            &[
                "XADD k 1-0 f v",
                "XGROUP CREATE k g 0",
                "XREADGROUP GROUP g c STREAMS k >",
            ],
            &["XCLAIM k g d 0 1-0"],
            0,
        ),
        (&["XADD k 1-0 f v"], &["XTRIM k MAXLEN 10"], 0),
        (&["XADD k 1-0 f v"], &["XDEL k 9-9"], 0),
        // Expiry: by PEXPIRE 1 from another client, then a sleep.
        (v, &["PEXPIRE k 1"], 30),
        // Expiry of a key that had a TTL when watched.
        (&["SET k 1 PX 20"], &[], 50),
        // Expired before WATCH: a missing key stays missing.
        (&["SET k 1 PX 1"], &[], 0),
    ];
    for (setup, touch, sleep) in cases {
        if setup == &["SET k 1 PX 1"] {
            m.call(0, "FLUSHALL");
            m.call(0, "SET k 1 PX 1");
            std::thread::sleep(Duration::from_millis(20));
            m.call(0, "WATCH k");
            m.call(0, "MULTI");
            m.call(0, "INCR counter");
            m.call(0, "EXEC");
            continue;
        }
        watch_case(&mut m, setup, touch, *sleep);
    }
    // WATCH inside MULTI, UNWATCH, DISCARD, several keys, own writes.
    m.call(0, "FLUSHALL");
    m.call(0, "WATCH a b");
    m.call(1, "SET b 1");
    m.call(0, "UNWATCH");
    m.call(0, "MULTI");
    m.call(0, "WATCH a");
    m.call(0, "SET a 1");
    m.call(0, "EXEC");
    m.call(0, "WATCH a");
    m.call(0, "SET a 2");
    m.call(0, "MULTI");
    m.call(0, "GET a");
    m.call(0, "EXEC");
    m.call(0, "WATCH a");
    m.call(0, "MULTI");
    m.call(0, "DISCARD");
    m.call(1, "SET a 3");
    m.call(0, "MULTI");
    m.call(0, "GET a");
    m.call(0, "EXEC");
    // A queued-time error aborts; a run-time error does not roll back.
    m.call(0, "MULTI");
    m.call(0, "SET a 1");
    m.call(0, "NOSUCHCOMMAND");
    m.call(0, "EXEC");
    m.call(0, "MULTI");
    m.call(0, "SET a x");
    m.call(0, "INCR a");
    m.call(0, "SET b y");
    m.call(0, "EXEC");
    m.call(1, "MGET a b");
    // Another client's writes between MULTI and EXEC without WATCH.
    m.call(0, "MULTI");
    m.call(0, "INCR n");
    m.call(1, "SET n 10");
    m.call(0, "EXEC");
    // EXEC with arguments aborts and forgets the WATCH.
    m.call(0, "WATCH n");
    m.call(0, "EXEC x");
    m.call(1, "SET n 11");
    m.call(0, "MULTI");
    m.call(0, "GET n");
    m.call(0, "EXEC");
}
