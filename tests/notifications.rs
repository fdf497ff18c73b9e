//! Keyspace notifications, differential against redis-server: the same
//! write sequence runs on both servers while a subscriber connection on
//! each (`PSUBSCRIBE __key*__:*`) records what it receives; the recorded
//! streams must be byte-identical after every command.
//!
//! Each step ends with a `PUBLISH sync <n>` from the driver, which the
//! subscriber also receives: everything before it belongs to the step.

mod common;

use common::{Pair, RespReader};
use std::time::Duration;

struct Side {
    driver: RespReader,
    sub: RespReader,
}

fn split(s: &str) -> Vec<Vec<u8>> {
    s.split_whitespace()
        .map(|a| a.as_bytes().to_vec())
        .collect()
}

impl Side {
    fn new(node: &common::Node, resp3: bool) -> Side {
        let mut driver = RespReader::new(node.raw());
        let mut sub = RespReader::new(node.raw());
        if resp3 {
            sub.call(&[b"HELLO", b"3"]);
        }
        sub.call(&[b"PSUBSCRIBE", b"__key*__:*"]);
        sub.call(&[b"SUBSCRIBE", b"sync"]);
        driver.call(&[b"PING"]);
        Side { driver, sub }
    }

    /// Run `cmd`, then collect the subscriber's messages up to the sync.
    fn step(&mut self, cmd: &[Vec<u8>], n: usize) -> (Vec<u8>, Vec<u8>) {
        let args: Vec<&[u8]> = cmd.iter().map(|a| a.as_slice()).collect();
        let reply = self.driver.call(&args);
        let tag = n.to_string();
        self.driver.call(&[b"PUBLISH", b"sync", tag.as_bytes()]);
        let mut events = Vec::new();
        loop {
            let m = self.sub.read_reply().expect("subscriber closed");
            let end = format!("$4\r\nsync\r\n${}\r\n{}\r\n", tag.len(), tag);
            if m.ends_with(end.as_bytes()) {
                break;
            }
            events.extend_from_slice(&m);
        }
        (reply, events)
    }
}

struct Diff {
    _pair: Pair,
    fc: Side,
    redis: Side,
    n: usize,
}

impl Diff {
    fn start(resp3: bool) -> Option<Diff> {
        let redis_node = common::start_redis_server(&["--enable-debug-command", "yes"])?;
        let fc_node =
            common::start_ferrocache(&["--threads", "2", "--enable-debug-command", "yes"]);
        let pair = Pair {
            fc: RespReader::new(fc_node.raw()),
            redis: RespReader::new(redis_node.raw()),
            fc_node,
            redis_node,
        };
        let fc = Side::new(&pair.fc_node, resp3);
        let redis = Side::new(&pair.redis_node, resp3);
        Some(Diff {
            _pair: pair,
            fc,
            redis,
            n: 0,
        })
    }

    /// Run a command on both; a leading `~` marks a random reply (SPOP):
    /// only its events are compared.
    fn run(&mut self, cmd: &str) {
        match cmd.strip_prefix('~') {
            Some(c) => self.run_inner(&split(c), false),
            None => self.run_args(&split(cmd)),
        }
    }

    fn run_args(&mut self, cmd: &[Vec<u8>]) {
        self.run_inner(cmd, true);
    }

    fn run_inner(&mut self, cmd: &[Vec<u8>], same_reply: bool) {
        self.n += 1;
        let (fr, fe) = self.fc.step(cmd, self.n);
        let (rr, re) = self.redis.step(cmd, self.n);
        let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let name: Vec<String> = cmd.iter().map(|a| show(a)).collect();
        if same_reply {
            assert_eq!(show(&fr), show(&rr), "reply of {name:?}");
        }
        assert_eq!(show(&fe), show(&re), "events of {name:?}");
    }

    /// Run `a`, wait, run `b`, and compare the events of both steps
    /// together (for events the two servers emit at different moments,
    /// such as eviction right at CONFIG SET vs. by the next cron tick).
    fn run_settled(&mut self, a: &str, wait: Duration, b: &str) {
        self.n += 1;
        let n1 = self.n;
        self.n += 1;
        let n2 = self.n;
        let (fr, mut fe) = self.fc.step(&split(a), n1);
        let (rr, mut re) = self.redis.step(&split(a), n1);
        std::thread::sleep(wait);
        let (fr2, fe2) = self.fc.step(&split(b), n2);
        let (rr2, re2) = self.redis.step(&split(b), n2);
        fe.extend_from_slice(&fe2);
        re.extend_from_slice(&re2);
        let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert_eq!(show(&fr), show(&rr), "reply of {a}");
        assert_eq!(show(&fr2), show(&rr2), "reply of {b}");
        assert_eq!(show(&fe), show(&re), "events of {a} + {b}");
    }

    fn script(&mut self, cmds: &[&str]) {
        for c in cmds {
            self.run(c);
        }
    }
}

const STRINGS_KEYS: &[&str] = &[
    "SET s1 v",
    "SET s1 v2 EX 100",
    "SET s1 v3 KEEPTTL",
    "SET s1 v NX",
    "SET s1 v XX GET",
    "SETNX s2 a",
    "SETNX s2 b",
    "SETEX s3 100 x",
    "PSETEX s4 100000 x",
    "GETSET s2 c",
    "MSET m1 1 m2 2",
    "MSETNX m1 1 m3 3",
    "MSETNX m4 1 m5 3",
    "APPEND s2 more",
    "APPEND fresh more",
    "INCR n",
    "INCRBY n 5",
    "DECR n",
    "DECRBY n 2",
    "INCRBYFLOAT f 1.5",
    "INCR s1",
    "SETRANGE s2 1 zz",
    "SETRANGE sr 3 abc",
    "GETEX s2 EX 100",
    "GETEX s2 PERSIST",
    "GETEX s2 PERSIST",
    "GETDEL m1",
    "GETDEL m1",
    "EXPIRE s2 100",
    "PEXPIRE s2 100000",
    "EXPIREAT s2 99999999999",
    "PERSIST s2",
    "PERSIST s2",
    "EXPIRE s2 -1",
    "EXPIRE nokey 10",
    "DEL m2 m3 nokey",
    "UNLINK m4 m5",
    "SET r1 x",
    "RENAME r1 r2",
    "RENAMENX r2 r3",
    "SET r4 y",
    "RENAMENX r3 r4",
    "RENAME r3 r4",
    "RENAME r4 r4",
    "COPY r4 r5",
    "COPY r4 r5",
    "COPY r4 r5 REPLACE",
    "MOVE r5 3",
    "COPY r4 r5 DB 2",
    "SETBIT b 7 1",
    "SETBIT b 100 1",
    "SETBIT b 7 1",
    "BITFIELD b SET u8 0 255 GET u8 0",
    "BITFIELD b GET u8 0",
    "BITOP OR bo b b",
    "BITOP AND bo nokey",
    "PFADD h a b c",
    "PFADD h a",
    "PFMERGE h2 h",
    "FLUSHDB",
];

const COLLECTIONS: &[&str] = &[
    "HSET h f 1 g 2",
    "HMSET h f 3",
    "HSETNX h f 1",
    "HSETNX h z 1",
    "HINCRBY h f 2",
    "HINCRBYFLOAT h f 1.5",
    "HDEL h nofield",
    "HDEL h f g",
    "HDEL h z",
    "LPUSH l a b c",
    "RPUSH l d",
    "LPUSHX nol a",
    "RPUSHX l e",
    "LPOP l",
    "RPOP l 2",
    "LPOP l 0",
    "LSET l 0 x",
    "LINSERT l BEFORE x y",
    "LINSERT l BEFORE nothere y",
    "LREM l 0 nothere",
    "LREM l 1 y",
    "RPUSH l2 1 2 3",
    "LMOVE l2 l3 LEFT RIGHT",
    "RPOPLPUSH l2 l3",
    "RPOPLPUSH l2 l3",
    "LMOVE l3 l3 LEFT LEFT",
    "LTRIM l3 0 0",
    "LTRIM l3 5 10",
    "RPUSH l4 a b",
    "LMPOP 2 nol l4 LEFT COUNT 5",
    "SORT l STORE sorted ALPHA",
    "SORT nol STORE sorted",
    "SADD s a b c",
    "SADD s a",
    "SREM s a z",
    "SMOVE s s2 b",
    "SMOVE s s2 c",
    "SMOVE s2 s2 b",
    "SADD s3 x y",
    "SINTERSTORE d s2 s3",
    "SUNIONSTORE d s2 s3",
    "SDIFFSTORE d s2 nokey",
    "~SPOP s3",
    "~SPOP s3 5",
    "SADD big 1 2 3 4 5 6 7 8 9 10",
    "~SPOP big 3",
    "SPOP big 0",
    "ZADD z 1 a 2 b 3 c 4 d",
    "ZADD z 1 a",
    "ZADD z INCR 5 a",
    "ZINCRBY z 1 b",
    "ZADD z XX CH 9 c",
    "ZREM z nothere",
    "ZREM z d",
    "ZREMRANGEBYSCORE z 100 200",
    "ZREMRANGEBYSCORE z 0 3",
    "ZADD z 1 x 2 y 3 w",
    "ZREMRANGEBYRANK z 0 0",
    "ZADD zl 0 a 0 b 0 c",
    "ZREMRANGEBYLEX zl [a [b",
    "ZUNIONSTORE zu 2 z zl",
    "ZINTERSTORE zi 2 z zl",
    "ZDIFFSTORE zd 1 z",
    "ZRANGESTORE zr z 0 1",
    "ZRANGESTORE zr nokey 0 1",
    "ZPOPMIN z",
    "ZPOPMAX z 10",
    "ZPOPMIN nokey",
    "ZADD zm 1 a",
    "ZMPOP 1 zm MIN",
    "FLUSHALL",
];

#[test]
fn events_all_classes_resp2() {
    let Some(mut d) = Diff::start(false) else {
        return;
    };
    d.run("CONFIG SET notify-keyspace-events KEA");
    d.run("CONFIG GET notify-keyspace-events");
    d.script(STRINGS_KEYS);
    d.script(COLLECTIONS);
}

#[test]
fn events_resp3_subscriber_and_class_filters() {
    let Some(mut d) = Diff::start(true) else {
        return;
    };
    // Only keyevent channels, only generic + list classes.
    d.run("CONFIG SET notify-keyspace-events Egl");
    d.run("CONFIG GET notify-keyspace-events");
    d.script(&[
        "SET a 1",
        "DEL a",
        "RPUSH l a",
        "LPOP l",
        "SADD s x",
        "EXPIRE s 100",
    ]);
    // Only keyspace channels, hash and zset.
    d.run("CONFIG SET notify-keyspace-events Khz");
    d.script(&["HSET h a 1", "ZADD z 1 a", "DEL h z", "SET x 1"]);
    // Classes without K or E send nothing.
    d.run("CONFIG SET notify-keyspace-events g$");
    d.script(&["SET a 1", "DEL a"]);
    d.run("CONFIG SET notify-keyspace-events ''");
    d.script(&["SET a 1", "DEL a"]);
}

#[test]
fn config_round_trip() {
    let Some(mut d) = Diff::start(false) else {
        return;
    };
    for v in [
        "KEA",
        "AKE",
        "Kg",
        "E$lshzxetmdn",
        "KEg$lshzxetd",
        "Kn",
        "Em",
        "KA",
        "xE",
        "KEAnm",
        "",
    ] {
        d.run_args(&[
            b"CONFIG".to_vec(),
            b"SET".to_vec(),
            b"notify-keyspace-events".to_vec(),
            v.as_bytes().to_vec(),
        ]);
        d.run("CONFIG GET notify-keyspace-events");
    }
    d.run("CONFIG SET notify-keyspace-events KEQ");
    d.run("CONFIG GET notify-keyspace-events");
}

#[test]
fn new_and_keymiss_events() {
    let Some(mut d) = Diff::start(false) else {
        return;
    };
    d.run("CONFIG SET notify-keyspace-events KEnm");
    d.script(&[
        "SET a 1",
        "SET a 2",
        "GET nokey",
        "GET a",
        "MGET a nokey nokey2",
        "RPUSH l x",
        "RPUSH l y",
        "RENAME l l2",
        "HSET h a 1",
    ]);
    d.run("CONFIG SET notify-keyspace-events KEA");
    d.script(&["SET b 1", "GET nokey"]);
}

#[test]
fn expired_events_lazy_and_active() {
    let Some(mut d) = Diff::start(false) else {
        return;
    };
    d.run("CONFIG SET notify-keyspace-events KEA");
    // Lazy expiry: active expiry off, access after the TTL passed.
    d.run("DEBUG SET-ACTIVE-EXPIRE 0");
    d.script(&[
        "SET e1 v PX 50",
        "SET e2 v PX 50",
        "RPUSH e3 a",
        "PEXPIRE e3 50",
    ]);
    std::thread::sleep(Duration::from_millis(120));
    d.script(&["GET e1", "SET e2 new", "LPUSH e3 b", "GET e1"]);
    d.run("DEBUG SET-ACTIVE-EXPIRE 1");
    // Active expiry: nobody touches the key; the cron deletes it.
    d.run("SET e4 v PX 50");
    std::thread::sleep(Duration::from_millis(600));
    d.run("PING");
}

#[test]
fn evicted_events() {
    let Some(mut d) = Diff::start(false) else {
        return;
    };
    d.run("CONFIG SET notify-keyspace-events KEe");
    d.run("CONFIG SET maxmemory-policy allkeys-random");
    d.run("SET victim 1");
    // A limit below current usage evicts the only key (Redis at once, here
    // by the next cron tick at the latest).
    d.run_settled("CONFIG SET maxmemory 1", Duration::from_millis(300), "PING");
    d.run("CONFIG SET maxmemory 0");
    d.run("DBSIZE");
}
