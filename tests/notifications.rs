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

    /// Run one command given as separate arguments (arguments with spaces).
    fn run_argv(&mut self, cmd: &[&str]) {
        let args: Vec<Vec<u8>> = cmd.iter().map(|a| a.as_bytes().to_vec()).collect();
        self.run_args(&args);
    }

    /// MULTI, `cmds`, EXEC as one step: the events of the whole transaction
    /// (and every reply) are compared.
    fn run_multi(&mut self, cmds: &[&str]) {
        self.n += 1;
        let mut replies = Vec::new();
        for side in [&mut self.fc, &mut self.redis] {
            let mut r = side.driver.call(&[b"MULTI"]);
            for c in cmds {
                let args = split(c);
                let args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
                r.extend_from_slice(&side.driver.call(&args));
            }
            let (exec, events) = side.step(&[b"EXEC".to_vec()], self.n);
            r.extend_from_slice(&exec);
            replies.push((r, events));
        }
        let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert_eq!(
            show(&replies[0].0),
            show(&replies[1].0),
            "replies of {cmds:?}"
        );
        assert_eq!(
            show(&replies[0].1),
            show(&replies[1].1),
            "events of {cmds:?}"
        );
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

impl Diff {
    /// Run `cmd` on both sides with `{dump}` replaced by `payload`.
    fn run_with_payload(&mut self, cmd: &str, payload: &[u8]) {
        let args: Vec<Vec<u8>> = cmd
            .split_whitespace()
            .map(|a| {
                if a == "{dump}" {
                    payload.to_vec()
                } else {
                    a.as_bytes().to_vec()
                }
            })
            .collect();
        self.run_args(&args);
    }

    /// DUMP `key` on both sides (events compared) and return redis-server's
    /// serialized value.
    fn dump(&mut self, key: &str) -> Vec<u8> {
        self.n += 1;
        let cmd = split(&format!("DUMP {key}"));
        let (_, fe) = self.fc.step(&cmd, self.n);
        let (rr, re) = self.redis.step(&cmd, self.n);
        let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        assert_eq!(show(&fe), show(&re), "events of DUMP {key}");
        // `$<len>\r\n<payload>\r\n`, or a null.
        let nl = rr.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
        rr.get(nl + 2..rr.len().saturating_sub(2))
            .unwrap_or_default()
            .to_vec()
    }
}

const STREAMS: &[&str] = &[
    "XADD st 1-1 f v",
    "XADD st 2-1 f v",
    "XADD st MAXLEN 1 3-1 f v",
    "XADD st NOMKSTREAM 4-1 f v",
    "XADD nost NOMKSTREAM * f v",
    "XADD st 1-1 f v",
    "XADD st MAXLEN = 10 5-1 f v",
    "XADD st MAXLEN ~ 1 6-1 f v",
    "XADD st MINID 5-1 7-1 f v",
    "~XADD auto * f v",
    "XTRIM st MAXLEN 1",
    "XTRIM st MAXLEN 1",
    "XTRIM nost MAXLEN 1",
    "XTRIM st MINID 0",
    "XTRIM st MAXLEN ~ 0",
    "XADD st 8-1 a b",
    "XADD st 9-1 a b",
    "XDEL st 8-1 99-1",
    "XDEL st 99-1",
    "XDEL nost 1-1",
    "XSETID st 100-1",
    "XSETID st 100-1 ENTRIESADDED 10 MAXDELETEDID 1-1",
    "XSETID st 1-1",
    "XSETID nost 1-1",
    "XGROUP CREATE st g1 0",
    "XGROUP CREATE st g1 0",
    "XGROUP CREATE st g2 $ ENTRIESREAD 1",
    "XGROUP CREATE mk g1 $ MKSTREAM",
    "XGROUP CREATE nost g1 $",
    "XGROUP SETID st g1 0 ENTRIESREAD 0",
    "XGROUP SETID st nog 0",
    "XGROUP CREATECONSUMER st g1 c1",
    "XGROUP CREATECONSUMER st g1 c1",
    "XGROUP CREATECONSUMER st nog c1",
    "XGROUP DELCONSUMER st g1 nocons",
    "XADD st 200-1 f v",
    "XADD st 201-1 f v",
    "XREADGROUP GROUP g1 c2 COUNT 1 STREAMS st >",
    "XREADGROUP GROUP g1 c2 COUNT 10 STREAMS st >",
    "XREADGROUP GROUP g1 c2 COUNT 10 STREAMS st >",
    "XREADGROUP GROUP g1 c2 COUNT 10 STREAMS st 0",
    "XREADGROUP GROUP g2 c3 NOACK STREAMS st 0",
    "XREADGROUP GROUP g1 c9 STREAMS nost >",
    "XREADGROUP GROUP g1 c9 STREAMS st mk > >",
    "XREAD STREAMS st nost 0 0",
    "XCLAIM st g1 c4 0 200-1",
    "XCLAIM st g1 c4 0 999-1",
    "XCLAIM st g1 c6 0 999-1",
    "XCLAIM st g1 c4 0 201-1 JUSTID",
    "XCLAIM nost g1 c4 0 201-1",
    "XAUTOCLAIM st g1 c5 0 0-0",
    "XAUTOCLAIM st g1 c5 0 0-0 JUSTID",
    "XAUTOCLAIM st g1 c7 0 999-0",
    "XAUTOCLAIM nost g1 c5 0 0-0",
    "XADD st 202-1 f v",
    "XREADGROUP GROUP g1 c1 STREAMS st >",
    "XDEL st 202-1",
    "XAUTOCLAIM st g1 c8 0 0-0",
    "XACK st g1 200-1",
    "XACK st g1 200-1",
    "XACK nost g1 200-1",
    "XGROUP DELCONSUMER st g1 c4",
    "XGROUP DELCONSUMER st g1 c5",
    "XGROUP DESTROY st g1",
    "XGROUP DESTROY st g1",
    "XGROUP DESTROY nost g1",
    "XADD st MAXLEN 0 300-1 f v",
    "XTRIM st MAXLEN 0",
    "XLEN st",
    "DEL st mk auto",
];

const GEO: &[&str] = &[
    "GEOADD g 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "GEOADD g 13.361389 38.115556 Palermo",
    "GEOADD g XX CH 13.5 38 Palermo",
    "GEOADD g XX 1 1 nothere",
    "GEOADD g NX 1 1 x",
    "GEOADD g 500 500 bad",
    "GEOSEARCHSTORE dst g FROMLONLAT 15 37 BYRADIUS 200 km ASC",
    "GEOSEARCHSTORE dst g FROMLONLAT 15 37 BYRADIUS 200 km ASC STOREDIST",
    "GEOSEARCHSTORE dst g FROMLONLAT 0 0 BYRADIUS 1 km",
    "GEOSEARCHSTORE dst g FROMLONLAT 0 0 BYRADIUS 1 km",
    "GEOSEARCHSTORE dst nokey FROMLONLAT 0 0 BYRADIUS 1 km",
    "GEOSEARCHSTORE dst g FROMMEMBER Palermo BYBOX 400 400 km COUNT 1",
    "GEORADIUS g 15 37 200 km STORE dst2",
    "GEORADIUS g 15 37 200 km STOREDIST dst3",
    "GEORADIUSBYMEMBER g Palermo 200 km STORE dst4",
    "GEORADIUSBYMEMBER g Palermo 200 km STOREDIST dst4",
    "GEORADIUS g 0 0 1 km STORE dst2",
    "GEORADIUS nokey 0 0 1 km STORE dst3",
    "GEORADIUSBYMEMBER g nomember 1 km STORE dst4",
    "GEOSEARCH g FROMLONLAT 15 37 BYRADIUS 200 km",
    "GEOPOS g Palermo",
    "ZREM g x",
    "DEL g dst dst2 dst3 dst4",
];

const BLOCKING_NOW: &[&str] = &[
    "RPUSH bl a b c",
    "BLPOP bl 1",
    "BRPOP bl 1",
    "BLMOVE bl bl2 LEFT RIGHT 1",
    "RPUSH bl x",
    "BRPOPLPUSH bl bl2 1",
    "BLMPOP 1 2 nol bl2 RIGHT COUNT 10",
    "ZADD bz 1 a 2 b 3 c",
    "BZPOPMIN bz 1",
    "BZPOPMAX bz 1",
    "BZMPOP 1 1 bz MIN COUNT 5",
];

const AFTER_MULTI: &[&str] = &[
    "SWAPDB 0 1",
    "SWAPDB 0 1",
    "SELECT 5",
    "XADD s5 1-1 a b",
    "SELECT 0",
    "FLUSHALL",
];

#[test]
fn events_streams_geo_blocking_scripts() {
    let Some(mut d) = Diff::start(false) else {
        return;
    };
    d.run("CONFIG SET notify-keyspace-events KEAnm");
    d.script(STREAMS);
    d.script(GEO);
    d.script(BLOCKING_NOW);
    d.run_argv(&[
        "EVAL",
        "redis.call('set',KEYS[1],'x');redis.call('xadd',KEYS[1]..'s','1-1','a','b');redis.call('del',KEYS[1]);return 1",
        "1",
        "lk",
    ]);
    d.run_argv(&["EVAL", "return redis.call('get',KEYS[1])", "1", "nokey"]);
    d.run_multi(&[
        "SET t1 1",
        "RPUSH t2 a",
        "XADD t3 1-1 a b",
        "XTRIM t3 MAXLEN 0",
        "GEOADD t4 1 1 m",
        "GET nokey",
        "DEL t1 t2 t3 t4",
    ]);
    d.script(AFTER_MULTI);
}

#[test]
fn events_restore() {
    let Some(mut d) = Diff::start(false) else {
        return;
    };
    d.run("CONFIG SET notify-keyspace-events KEAnm");
    d.run("SET src hello");
    let payload = d.dump("src");
    for c in [
        "RESTORE rk 0 {dump}",
        "RESTORE rk 0 {dump}",
        "RESTORE rk 0 {dump} REPLACE",
        "RESTORE rk 100000 {dump} REPLACE",
        "RESTORE rk 0 {dump} REPLACE IDLETIME 10",
        "RESTORE rk 1 {dump} ABSTTL REPLACE",
        "RESTORE rk 1 {dump} ABSTTL REPLACE",
        "RESTORE rk2 1 {dump} ABSTTL",
        "RESTORE rk3 0 {dump} FREQ 5",
        "RESTORE rk3 0 garbage REPLACE",
    ] {
        d.run_with_payload(c, &payload);
    }
    d.run("RPUSH lst a b");
    let payload = d.dump("lst");
    d.run_with_payload("RESTORE lst2 0 {dump}", &payload);
    d.run("LRANGE lst2 0 -1");
    d.dump("nokey");
}

/// Read commands on missing keys: which of them fire `keymiss`, in order.
const READS: &[&str] = &[
    "SET str v",
    "RPUSH lst a",
    "GET nk",
    "GET lst",
    "MGET nk str nk2",
    "GETRANGE nk 0 1",
    "SUBSTR nk 0 1",
    "STRLEN nk",
    "LCS nk str",
    "GETDEL nk",
    "GETEX nk",
    "GETSET nk v",
    "DEL nk",
    "EXISTS nk str nk2",
    "TYPE nk",
    "TTL nk",
    "PTTL nk",
    "EXPIRETIME nk",
    "PEXPIRETIME nk",
    "TOUCH nk str",
    "DUMP nk",
    "OBJECT ENCODING nk",
    "OBJECT FREQ nk",
    "OBJECT IDLETIME nk",
    "OBJECT REFCOUNT nk",
    "MEMORY USAGE nk",
    "RENAME nk nk2",
    "RENAMENX nk nk2",
    "COPY nk nk2",
    "MOVE nk 2",
    "EXPIRE nk 10",
    "PERSIST nk",
    "SORT nk",
    "SORT_RO nk",
    "SORT nk STORE nk3",
    "HGET nk f",
    "HMGET nk f g",
    "HGETALL nk",
    "HLEN nk",
    "HEXISTS nk f",
    "HKEYS nk",
    "HVALS nk",
    "HSTRLEN nk f",
    "HRANDFIELD nk",
    "HSCAN nk 0",
    "LLEN nk",
    "LRANGE nk 0 -1",
    "LINDEX nk 0",
    "LPOS nk a",
    "LPOP nk",
    "LMOVE nk nk2 LEFT LEFT",
    "RPOPLPUSH nk nk2",
    "LMPOP 1 nk LEFT",
    "SCARD nk",
    "SMEMBERS nk",
    "SISMEMBER nk a",
    "SMISMEMBER nk a",
    "SRANDMEMBER nk",
    "SSCAN nk 0",
    "SINTER nk str",
    "SINTERCARD 2 nk nk2",
    "SUNION nk nk2",
    "SDIFF nk nk2",
    "SINTERSTORE nk3 nk nk2",
    "SUNIONSTORE nk3 nk nk2",
    "SDIFFSTORE nk3 nk nk2",
    "SMOVE nk nk2 a",
    "SPOP nk",
    "ZCARD nk",
    "ZSCORE nk a",
    "ZMSCORE nk a",
    "ZRANGE nk 0 -1",
    "ZRANGEBYSCORE nk 0 1",
    "ZREVRANGE nk 0 -1",
    "ZRANK nk a",
    "ZCOUNT nk 0 1",
    "ZLEXCOUNT nk - +",
    "ZRANDMEMBER nk",
    "ZSCAN nk 0",
    "ZINTER 2 nk nk2",
    "ZUNION 2 nk nk2",
    "ZDIFF 2 nk nk2",
    "ZINTERCARD 2 nk nk2",
    "ZUNIONSTORE nk3 2 nk nk2",
    "ZRANGESTORE nk3 nk 0 -1",
    "ZPOPMIN nk",
    "ZMPOP 1 nk MIN",
    "XLEN nk",
    "XRANGE nk - +",
    "XREVRANGE nk + -",
    "XREAD STREAMS nk 0",
    "XINFO STREAM nk",
    "XPENDING nk g",
    "GETBIT nk 0",
    "BITCOUNT nk",
    "BITPOS nk 1",
    "BITFIELD_RO nk GET u8 0",
    "BITFIELD nk GET u8 0",
    "BITOP AND nk3 nk nk2",
    "PFCOUNT nk nk2",
    "PFMERGE nk3 nk",
    "GEOPOS nk a",
    "GEODIST nk a b",
    "GEOHASH nk a",
    "GEOSEARCH nk FROMLONLAT 0 0 BYRADIUS 1 km",
    "GEORADIUS_RO nk 0 0 1 km",
    "GEORADIUSBYMEMBER_RO nk a 1 km",
    "APPEND nk2 x",
    "SETRANGE nk4 0 x",
    "INCR nk5",
    "DEL nk2 nk4 nk5",
];

/// Edge cases of every type: no-op writes, writes that empty a key,
/// stores with empty results, options.
const EDGES: &[&str] = &[
    "SET s v",
    "SET s v2 GET",
    "SET s v3 PX 100000 GET",
    "SET s v4 KEEPTTL",
    "SET s v5 XX KEEPTTL GET",
    "SET nos v XX",
    "SET nos v NX GET",
    "SET s v EXAT 1",
    "SET s v",
    "GETEX s PXAT 1",
    "GETEX s EX 10",
    "SET s v",
    "GETEX s EXAT 99999999999",
    "GETEX s",
    "GETSET s x",
    "APPEND s ''",
    "APPEND e ''",
    "SETRANGE e 0 ''",
    "SETRANGE s 0 ''",
    "SETRANGE s 100 ''",
    "INCRBYFLOAT fl 1e3",
    "INCRBYFLOAT fl abc",
    "INCR s",
    "MSET a 1 a 2",
    "MSETNX a 1 b 2",
    "EXPIRE s 100 NX",
    "EXPIRE s 100 NX",
    "EXPIRE s 200 GT",
    "EXPIRE s 50 GT",
    "EXPIRE s 50 LT",
    "EXPIRE s 500 XX",
    "PEXPIREAT s 1",
    "PEXPIREAT s 1",
    "SET s v",
    "EXPIREAT s 1",
    "SET s v",
    "PEXPIRE s 0",
    "SET s v",
    "COPY s s2 DB 1 REPLACE",
    "COPY s s DB 0",
    "MOVE s 1",
    "MOVE s2 1",
    "RENAME s2 s3",
    "SETBIT bits 0 0",
    "SETBIT bits 0 0",
    "BITFIELD bits GET u8 0",
    "BITFIELD bits INCRBY u8 0 0",
    "BITFIELD bits OVERFLOW FAIL INCRBY u2 0 8",
    "BITFIELD nobits GET u8 0",
    "BITFIELD nobits2 SET u8 0 0",
    "BITOP AND bitsdst bits",
    "BITOP AND bitsdst nokey",
    "BITOP AND bitsdst nokey",
    "BITOP NOT bitsdst bits",
    "PFADD hll",
    "PFADD hll",
    "PFADD hll a",
    "PFADD hll a",
    "PFMERGE hll",
    "PFMERGE hll2 nokey",
    "PFCOUNT hll hll2",
    "HSET h f 1",
    "HSET h f 1",
    "HSETNX h f 2",
    "HINCRBY h g 1",
    "HINCRBYFLOAT h g 0.5",
    "HDEL h f g",
    "RPUSH l a b c",
    "LINSERT l AFTER c d",
    "LPOP l 10",
    "RPUSH l a",
    "RPOP l 1",
    "RPUSH l a b",
    "LMOVE l l2 RIGHT LEFT",
    "LMOVE l l2 RIGHT LEFT",
    "LMOVE l2 l2 RIGHT LEFT",
    "RPOPLPUSH l2 l2",
    "LREM l2 0 a",
    "LREM l2 0 b",
    "RPUSH l x",
    "LTRIM l 0 -1",
    "LTRIM l 1 0",
    "LMPOP 1 l LEFT",
    "RPUSH l x y",
    "LSET l 5 z",
    "LSET l -1 z",
    "SORT l ALPHA STORE l",
    "SORT nol STORE l",
    "SADD sa a",
    "SADD sb b",
    "SMOVE sa sb a",
    "SMOVE sb sa nothere",
    "SINTERSTORE sd sa sb",
    "SADD sd x",
    "SINTERSTORE sd sa sb",
    "SUNIONSTORE sd sb sb",
    "SDIFFSTORE sd sb sb",
    "SREM sb b",
    "ZADD z NX 1 a",
    "ZADD z NX 2 a",
    "ZADD z XX 2 b",
    "ZADD z GT 0 a",
    "ZADD z LT CH 0 a",
    "ZADD z INCR GT -1 a",
    "ZINCRBY z 0 a",
    "ZADD z 5 b",
    "ZREMRANGEBYSCORE z -inf +inf",
    "ZADD z 1 a",
    "ZADD zd 1 x",
    "ZUNIONSTORE zd 1 nokey",
    "ZADD zd 1 x",
    "ZINTERSTORE zd 2 z nokey",
    "ZADD zd 1 x",
    "ZRANGESTORE zd z 5 10",
    "ZADD zd 1 x",
    "ZDIFFSTORE zd 2 z z",
    "ZPOPMIN z 5",
    "ZADD z 1 a 2 b",
    "ZMPOP 1 z MAX COUNT 5",
    "ZADD z 1 a",
    "ZREMRANGEBYRANK z 0 -1",
    "ZADD z 0 a",
    "ZREMRANGEBYLEX z - +",
    "DEL nokey nokey2",
    "UNLINK nokey",
    "SELECT 1",
    "GET nokey",
    "SET x 1",
    "DEL x s s2 s3",
    "SELECT 0",
    "FLUSHDB",
];

#[test]
fn events_edge_cases() {
    let Some(mut d) = Diff::start(false) else {
        return;
    };
    d.run("CONFIG SET notify-keyspace-events KEAnm");
    d.script(EDGES);
}

#[test]
fn keymiss_events_of_reads() {
    let Some(mut d) = Diff::start(false) else {
        return;
    };
    d.run("CONFIG SET notify-keyspace-events KEm");
    d.script(READS);
    d.run("CONFIG SET notify-keyspace-events KEAnm");
    d.script(READS);
    d.run_argv(&["EVAL", "return redis.call('exists',KEYS[1])", "1", "nk"]);
    d.run_multi(&["GET nk", "TTL nk", "XREAD STREAMS nk 0"]);
}

/// Blocked clients served by another client's write: the waker's events,
/// then the served pop's (Redis serves them right after the command, before
/// the next one), compared over the step and a following PING.
#[test]
fn events_of_served_blocked_clients() {
    let Some(mut d) = Diff::start(false) else {
        return;
    };
    d.run("CONFIG SET notify-keyspace-events KEAnm");
    let mut fc_b = RespReader::new(d._pair.fc_node.raw());
    let mut rd_b = RespReader::new(d._pair.redis_node.raw());
    let cases: &[(&str, &str)] = &[
        ("BLPOP bl 5", "RPUSH bl a b"),
        ("BLMOVE bl2 dl LEFT RIGHT 5", "LPUSH bl2 x"),
        ("BRPOPLPUSH bl3 dl 5", "RPUSH bl3 y"),
        ("BLMPOP 5 1 bl4 LEFT COUNT 3", "RPUSH bl4 a b"),
        ("BZPOPMIN bz 5", "ZADD bz 1 a"),
        ("BZMPOP 5 1 bz2 MAX COUNT 2", "ZADD bz2 1 a 2 b 3 c"),
        ("XREAD BLOCK 5000 STREAMS xs $", "XADD xs 1-1 f v"),
        (
            "XREADGROUP GROUP g newc BLOCK 5000 STREAMS xs2 >",
            "XADD xs2 2-1 f v",
        ),
    ];
    d.run("XGROUP CREATE xs2 g $ MKSTREAM");
    for (blocking, waker) in cases {
        let args = split(blocking);
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        fc_b.send(&args);
        rd_b.send(&args);
        // Both are blocked once CLIENT LIST shows it.
        for node in [&d._pair.fc_node, &d._pair.redis_node] {
            let mut c = RespReader::new(node.raw());
            let mut blocked = false;
            for _ in 0..200 {
                let r = c.call(&[b"INFO", b"clients"]);
                if String::from_utf8_lossy(&r).contains("blocked_clients:1") {
                    blocked = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(blocked, "{blocking} did not block");
        }
        d.run_settled(waker, Duration::from_millis(50), "PING");
        let (f, r) = (fc_b.read_reply(), rd_b.read_reply());
        let show =
            |b: Option<Vec<u8>>| String::from_utf8_lossy(&b.unwrap_or_default()).into_owned();
        assert_eq!(show(f), show(r), "reply of {blocking}");
    }
}

/// Steps for [`own_events_interleave_with_replies_resp3`] beyond the
/// single-command lists, as argument vectors (scripts have spaces): writes
/// inside MULTI/EXEC (the pushes land inside EXEC's array, before or after
/// each command's reply as outside a transaction), scripts and functions
/// (the pushes come before the script's reply), a PUBLISH to a channel the
/// client listens to, SPOP, and a RESP3 script reply.
const OWN_EXTRA: &[&[&str]] = &[
    &["MULTI"],
    &["SET", "mx", "1"],
    &["LPUSH", "ml", "a"],
    &["GET", "nokey"],
    &["INCR", "mx"],
    &["ZADD", "mz", "1", "a", "2", "b"],
    &["ZPOPMIN", "mz"],
    &["HSET", "mh", "f", "v"],
    &["EXEC"],
    &["MULTI"],
    &["DEL", "mx", "ml", "mz", "mh"],
    &["EXEC"],
    &[
        "EVAL",
        "redis.call('SET',KEYS[1],'1'); redis.call('LPUSH',KEYS[2],'y'); return redis.call('GET',KEYS[1])",
        "2",
        "ek",
        "el",
    ],
    &["EVAL", "return redis.call('GET','nokey')", "0"],
    &[
        "EVAL",
        "redis.call('SET',KEYS[1],'2'); return redis.call('INCR',KEYS[2])",
        "2",
        "ek",
        "el",
    ],
    &[
        "EVAL",
        "redis.setresp(3); redis.call('HSET',KEYS[1],'f','v'); return redis.call('HGETALL',KEYS[1])",
        "1",
        "eh",
    ],
    &["EVAL", "redis.call('DEL',KEYS[1],KEYS[2],KEYS[3]); return 1", "3", "ek", "el", "eh"],
    &[
        "FUNCTION",
        "LOAD",
        "#!lua name=ownlib\nredis.register_function('ownset', function(keys, args) redis.call('SET', keys[1], args[1]); return redis.call('GET', 'nokey') end)",
    ],
    &["FCALL", "ownset", "1", "fk", "v"],
    &["DEL", "fk"],
    &["SUBSCRIBE", "ownch"],
    &["PUBLISH", "ownch", "hello"],
    &["UNSUBSCRIBE", "ownch"],
    &["SADD", "sp", "a"],
    &["SPOP", "sp"],
    &["SADD", "sp", "a"],
    &["SPOP", "sp", "5"],
    &["SADD", "sp", "a", "b", "c"],
    &["SPOP", "sp", "0"],
    &["DEL", "sp"],
    &["XADD", "xs", "1-1", "f", "v"],
    &["XGROUP", "CREATE", "xs", "g", "0"],
    &["XGROUP", "CREATECONSUMER", "xs", "g", "c1"],
    &["XGROUP", "CREATECONSUMER", "xs", "g", "c1"],
    &["XGROUP", "DELCONSUMER", "xs", "g", "c1"],
    &["XGROUP", "DESTROY", "xs", "g"],
    &["XGROUP", "DESTROY", "xs", "g"],
    &["XDEL", "xs", "1-1"],
    &["XTRIM", "xs", "MAXLEN", "0"],
    &["DEL", "xs"],
    &["SET", "src", "hello"],
];

/// Send `args` then PING on `c`; everything before PONG, as text.
fn own_stream(c: &mut RespReader, args: &[&[u8]]) -> String {
    c.send(args);
    c.send(&[b"PING"]);
    let mut rec = Vec::new();
    loop {
        let r = c.read_reply().expect("connection closed");
        if r == b"+PONG\r\n" {
            break;
        }
        rec.extend_from_slice(&r);
    }
    String::from_utf8_lossy(&rec).into_owned()
}

/// A RESP3 client that is itself subscribed gets the events of its own
/// commands as pushes in its reply stream: their place relative to the
/// command's reply must match Redis's (some commands notify before they
/// reply, some after; some in the middle, such as ZPOPMIN after its array
/// header or MGET before each missing key's null).
#[test]
fn own_events_interleave_with_replies_resp3() {
    let Some(redis_node) = common::start_redis_server(&[]) else {
        return;
    };
    let fc_node = common::start_ferrocache(&["--threads", "2"]);
    let mut conns: Vec<RespReader> = [&fc_node, &redis_node]
        .iter()
        .map(|n| {
            let mut c = RespReader::new(n.raw());
            c.call(&[b"HELLO", b"3"]);
            c.call(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"KEAnm"]);
            c.call(&[b"PSUBSCRIBE", b"__key*__:*"]);
            c
        })
        .collect();
    let all = [
        STRINGS_KEYS,
        COLLECTIONS,
        STREAMS,
        GEO,
        BLOCKING_NOW,
        EDGES,
        READS,
        AFTER_MULTI,
    ];
    let mut steps: Vec<Vec<Vec<u8>>> = Vec::new();
    for cmd in all.iter().flat_map(|l| l.iter()) {
        let (random, cmd) = match cmd.strip_prefix('~') {
            Some(c) => (true, c),
            None => (false, *cmd),
        };
        if random || cmd.starts_with("XADD auto") {
            continue;
        }
        steps.push(split(cmd));
    }
    for argv in OWN_EXTRA {
        steps.push(argv.iter().map(|a| a.as_bytes().to_vec()).collect());
    }
    let mut bad = Vec::new();
    let mut in_multi = false;
    for step in &steps {
        let args: Vec<&[u8]> = step.iter().map(|a| a.as_slice()).collect();
        in_multi = (in_multi || step[0] == b"MULTI") && step[0] != b"EXEC";
        let got: Vec<String> = if in_multi {
            // Queued: one `+QUEUED` (a PING would be queued too).
            conns
                .iter_mut()
                .map(|c| String::from_utf8_lossy(&c.call(&args)).into_owned())
                .collect()
        } else {
            conns.iter_mut().map(|c| own_stream(c, &args)).collect()
        };
        if got[0] != got[1] {
            let name = String::from_utf8_lossy(&step.join(&b' ')).into_owned();
            eprintln!(
                "stream of {name}:\n  ferrocache: {:?}\n  redis:      {:?}",
                got[0], got[1]
            );
            bad.push(name);
        }
    }
    // CLIENT REPLY SKIP/OFF drop replies, not the client's own pushes.
    let quiet: &[&[&[u8]]] = &[
        &[b"CLIENT", b"REPLY", b"SKIP"],
        &[b"SET", b"q", b"1"],
        &[b"CLIENT", b"REPLY", b"OFF"],
        &[b"LPUSH", b"ql", b"a"],
        &[b"GET", b"nokey"],
        &[b"EVAL", b"return redis.call('SET','q','2')", b"0"],
        &[b"CLIENT", b"REPLY", b"ON"],
    ];
    let got: Vec<String> = conns
        .iter_mut()
        .map(|c| {
            for args in quiet {
                c.send(args);
            }
            own_stream(c, &[b"DEL", b"q", b"ql"])
        })
        .collect();
    if got[0] != got[1] {
        eprintln!(
            "stream of CLIENT REPLY:\n  ferrocache: {:?}\n  redis:      {:?}",
            got[0], got[1]
        );
        bad.push("CLIENT REPLY".into());
    }
    // RESTORE of a payload Redis dumped (the servers share the format).
    let dump = conns[1].call(&[b"DUMP", b"src"]);
    let payload = dump
        .iter()
        .position(|&b| b == b'\n')
        .and_then(|i| dump.get(i + 1..dump.len().saturating_sub(2)))
        .unwrap_or_default()
        .to_vec();
    for args in [
        &[&b"RESTORE"[..], b"rk", b"0", &payload][..],
        &[b"RESTORE", b"rk", b"0", &payload, b"REPLACE"],
        &[b"RESTORE", b"rk", b"1", &payload, b"ABSTTL", b"REPLACE"],
    ] {
        let got: Vec<String> = conns.iter_mut().map(|c| own_stream(c, args)).collect();
        if got[0] != got[1] {
            eprintln!(
                "stream of RESTORE:\n  ferrocache: {:?}\n  redis:      {:?}",
                got[0], got[1]
            );
            bad.push("RESTORE".into());
        }
    }
    assert!(bad.is_empty(), "{bad:?}");
}
