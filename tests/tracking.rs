//! Client-side caching (CLIENT TRACKING), differential against
//! redis-server with scripted multi-client interleavings.
//!
//! Each side has the same numbered connections. A step sends a command on
//! one connection, then a PING on every connection, and records each
//! connection's bytes up to its PONG: the command's reply, invalidation
//! pushes and `__redis__:invalidate` messages, in arrival order. The
//! recordings must be identical. Client ids differ between the servers:
//! `{idN}` in a command stands for connection N's id, and ids in the
//! recordings are replaced by `ID<N>` before comparing.

mod common;

use common::RespReader;

struct Side {
    /// Replaces a `{dump}` argument (a DUMP payload, which may hold spaces).
    payload: Vec<u8>,
    conns: Vec<RespReader>,
    ids: Vec<i64>,
    /// Inside MULTI (a PING would be queued) / closed by QUIT.
    in_multi: Vec<bool>,
    closed: Vec<bool>,
}

fn parse_int(reply: &[u8]) -> i64 {
    String::from_utf8_lossy(reply)
        .trim()
        .trim_start_matches(':')
        .parse()
        .unwrap_or(-1)
}

fn is_pong(r: &[u8]) -> bool {
    r == b"+PONG\r\n" || r == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
}

impl Side {
    fn new(node: &common::Node, n: usize) -> Side {
        let mut conns = Vec::new();
        let mut ids = Vec::new();
        for _ in 0..n {
            let mut c = RespReader::new(node.raw());
            ids.push(parse_int(&c.call(&[b"CLIENT", b"ID"])));
            conns.push(c);
        }
        Side {
            payload: Vec::new(),
            conns,
            in_multi: vec![false; n],
            closed: vec![false; n],
            ids,
        }
    }

    fn expand(&self, cmd: &str) -> Vec<Vec<u8>> {
        cmd.split_whitespace()
            .map(|a| {
                if a == "{dump}" {
                    return self.payload.clone();
                }
                let mut s = a.to_string();
                for (i, id) in self.ids.iter().enumerate() {
                    s = s.replace(&format!("{{id{i}}}"), &id.to_string());
                }
                s.into_bytes()
            })
            .collect()
    }

    fn normalize(&self, b: &[u8]) -> String {
        // HELLO's `proto` is not an id.
        // Only integer replies (at a line start) are ids.
        let mut s = format!(
            "\n{}",
            String::from_utf8_lossy(b).replace("proto\r\n:", "proto\r\n=")
        );
        for (i, id) in self.ids.iter().enumerate() {
            s = s.replace(&format!("\n:{id}\r\n"), &format!("\n:ID{i}\r\n"));
        }
        s.split_off(1)
    }

    /// Send on connection `i`, then PING everyone; returns each
    /// connection's recording.
    fn step(&mut self, i: usize, cmd: &str) -> Vec<String> {
        let args = self.expand(cmd);
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        let verb = cmd
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        let mut out = Vec::new();
        for j in 0..self.conns.len() {
            if self.closed[j] {
                out.push(String::new());
                continue;
            }
            let c = &mut self.conns[j];
            if j == i {
                c.send(&args);
                match verb.as_str() {
                    "MULTI" => self.in_multi[j] = true,
                    "EXEC" | "DISCARD" => self.in_multi[j] = false,
                    _ => {}
                }
                if self.in_multi[j] || verb == "QUIT" {
                    // A PING would be queued / the connection closes: the
                    // reply alone is the recording.
                    let r = c.read_reply().expect("connection closed");
                    self.closed[j] = verb == "QUIT";
                    out.push(self.normalize(&r));
                    continue;
                }
            }
            if self.in_multi[j] {
                out.push(String::new());
                continue;
            }
            c.send(&[b"PING"]);
            let mut rec = Vec::new();
            loop {
                let r = c.read_reply().expect("connection closed");
                if is_pong(&r) {
                    break;
                }
                rec.extend_from_slice(&r);
            }
            out.push(self.normalize(&rec));
        }
        out
    }
}

struct Diff {
    _fc_node: common::Node,
    _redis_node: common::Node,
    fc: Side,
    redis: Side,
}

impl Diff {
    fn start(conns: usize) -> Option<Diff> {
        let redis_node = common::start_redis_server(&[])?;
        let fc_node = common::start_ferrocache(&["--threads", "2"]);
        let fc = Side::new(&fc_node, conns);
        let redis = Side::new(&redis_node, conns);
        Some(Diff {
            _fc_node: fc_node,
            _redis_node: redis_node,
            fc,
            redis,
        })
    }

    /// Steps as `"<conn>: <command>"`.
    fn script(&mut self, steps: &[&str]) {
        for s in steps {
            let (i, cmd) = s.split_once(':').expect("conn: command");
            let i: usize = i.trim().parse().expect("conn number");
            let f = self.fc.step(i, cmd.trim());
            let r = self.redis.step(i, cmd.trim());
            assert_eq!(f, r, "after {s:?}");
        }
    }
}

#[test]
fn default_mode_resp3() {
    let Some(mut d) = Diff::start(3) else {
        return;
    };
    d.script(&[
        "0: HELLO 3",
        "0: CLIENT TRACKING on",
        "0: CLIENT TRACKINGINFO",
        "0: CLIENT GETREDIR",
        "0: GET a",
        "0: MGET b c",
        "0: HGET h f",
        "1: SET a 1",
        // Invalidated once: the second write sends nothing.
        "1: SET a 2",
        "1: DEL b c",
        "1: HSET h f 1",
        // Own writes: the invalidation comes after the reply.
        "0: GET a",
        "0: SET a 3",
        "0: GET a",
        "0: MULTI",
        "0: SET a 4",
        "0: GET a",
        "0: SETRANGE a 0 z",
        "0: EXEC",
        // Writes that fail or do nothing do not invalidate.
        "0: GET l",
        "1: LPUSHX l x",
        "1: SET l x NX",
        "1: LPUSH l x",
        "0: STRLEN s",
        "1: EXPIRE s 100",
        "1: SET s v",
        "0: TTL s",
        "1: EXPIRE s 100",
        // FLUSHALL: a null to every tracking client.
        "0: GET a",
        "2: FLUSHALL",
        "0: FLUSHDB",
        "0: CLIENT TRACKING off",
        "0: CLIENT TRACKINGINFO",
        "0: GET a",
        "1: SET a 1",
    ]);
}

#[test]
fn noloop_bcast_and_prefixes() {
    let Some(mut d) = Diff::start(3) else {
        return;
    };
    d.script(&[
        "0: HELLO 3",
        "0: CLIENT TRACKING on NOLOOP",
        "0: GET a",
        "0: SET a 1",
        "0: GET a",
        "1: SET a 2",
        "0: CLIENT TRACKING off",
        "2: HELLO 3",
        "2: CLIENT TRACKING on BCAST PREFIX user: PREFIX obj:",
        "2: CLIENT TRACKINGINFO",
        "1: SET user:1 x",
        "1: MSET user:2 x obj:9 y other z",
        "1: DEL user:1 user:3",
        "1: MULTI",
        "1: SET obj:2 a",
        "1: SET obj:1 b",
        "1: SET user:5 c",
        "1: EXEC",
        "2: CLIENT TRACKING on BCAST PREFIX u",
        "2: CLIENT TRACKING on BCAST PREFIX zz PREFIX z",
        "2: CLIENT TRACKING on",
        "2: CLIENT TRACKING on BCAST PREFIX new:",
        "2: CLIENT TRACKINGINFO",
        "1: SET new:1 a",
        "2: SET user:9 own",
        "2: CLIENT TRACKING off",
        // BCAST without prefix: every key; NOLOOP filters own keys.
        "0: CLIENT TRACKING on BCAST NOLOOP",
        "0: SET mine 1",
        "1: SET theirs 1",
        "0: MSET mine 2 k 3",
        "0: CLIENT TRACKING off",
        "1: SET theirs 2",
    ]);
}

#[test]
fn optin_optout_resp3() {
    let Some(mut d) = Diff::start(2) else {
        return;
    };
    d.script(&[
        "0: HELLO 3",
        "0: CLIENT CACHING yes",
        "0: CLIENT TRACKING on OPTIN",
        "0: CLIENT CACHING no",
        "0: CLIENT CACHING maybe",
        "0: GET notcached",
        "0: CLIENT CACHING yes",
        "0: CLIENT TRACKINGINFO",
        "0: GET cached",
        "0: GET after",
        "1: MSET notcached 1 cached 1 after 1",
        "0: CLIENT CACHING yes",
        "0: MULTI",
        "0: GET m1",
        "0: GET m2",
        "0: EXEC",
        "1: MSET m1 1 m2 2",
        "0: CLIENT TRACKING on OPTOUT",
        "0: CLIENT TRACKING off",
        "0: CLIENT TRACKING on OPTOUT",
        "0: CLIENT CACHING yes",
        "0: GET a",
        "0: CLIENT CACHING no",
        "0: CLIENT TRACKINGINFO",
        "0: GET b",
        "0: GET c",
        "1: MSET a 1 b 1 c 1",
    ]);
}

#[test]
fn resp2_redirect_and_broken_redirect() {
    let Some(mut d) = Diff::start(4) else {
        return;
    };
    d.script(&[
        "1: SUBSCRIBE __redis__:invalidate",
        "0: CLIENT TRACKING on REDIRECT {id1}",
        "0: CLIENT GETREDIR",
        "0: CLIENT TRACKINGINFO",
        "0: GET a",
        "0: GET b",
        "2: SET a 1",
        // The redirect target also receives its own writes' invalidations.
        "0: SET b 1",
        "0: GET a",
        "2: FLUSHALL",
        // BCAST over RESP2 redirect.
        "0: CLIENT TRACKING off",
        "0: CLIENT TRACKING on BCAST PREFIX p REDIRECT {id1}",
        "2: SET p1 x",
        "0: CLIENT TRACKING off",
        // Redirect to a client that is not subscribed: nothing is sent.
        "0: CLIENT TRACKING on REDIRECT {id2}",
        "0: GET q",
        "3: SET q 1",
        "0: CLIENT TRACKING off",
        // RESP3 client redirecting to a client that then disconnects.
        "3: HELLO 3",
        "3: CLIENT TRACKING on REDIRECT {id2}",
        "3: GET z",
        "2: QUIT",
        "0: SET z 1",
        "3: CLIENT TRACKINGINFO",
    ]);
}

#[test]
fn errors() {
    let Some(mut d) = Diff::start(2) else {
        return;
    };
    d.script(&[
        "0: CLIENT TRACKING",
        "0: CLIENT TRACKING maybe",
        "0: CLIENT TRACKING on foo",
        "0: CLIENT TRACKING on PREFIX",
        "0: CLIENT TRACKING on PREFIX a",
        "0: CLIENT TRACKING on REDIRECT",
        "0: CLIENT TRACKING on REDIRECT x",
        "0: CLIENT TRACKING on REDIRECT 0",
        "0: CLIENT TRACKING on REDIRECT -5",
        "0: CLIENT TRACKING on REDIRECT 999999",
        "0: CLIENT TRACKING on REDIRECT {id1} REDIRECT {id1}",
        "0: CLIENT TRACKING on OPTIN OPTOUT",
        "0: CLIENT TRACKING on BCAST OPTIN",
        "0: CLIENT TRACKING on BCAST PREFIX a PREFIX ab",
        "0: CLIENT TRACKING off foo",
        "0: CLIENT CACHING yes",
        "0: CLIENT CACHING",
        "0: CLIENT TRACKING on",
        "0: CLIENT CACHING yes",
        "0: CLIENT CACHING no",
        "0: CLIENT TRACKING on BCAST",
        "0: CLIENT TRACKING on OPTIN",
        "0: CLIENT TRACKING on OPTOUT",
        "0: CLIENT TRACKING off",
        "0: CLIENT TRACKING off",
        "0: CLIENT TRACKINGINFO",
        "0: CLIENT GETREDIR",
    ]);
}

#[test]
fn expiry_invalidates() {
    let Some(mut d) = Diff::start(2) else {
        return;
    };
    d.script(&[
        "1: SET e v PX 100",
        "0: HELLO 3",
        "0: CLIENT TRACKING on",
        "0: GET e",
    ]);
    std::thread::sleep(std::time::Duration::from_millis(800));
    // The cron (or lazy expiry) deleted the key: invalidated.
    d.script(&["1: PING", "0: GET e"]);
}

#[test]
fn info_fields() {
    let Some(mut d) = Diff::start(2) else {
        return;
    };
    d.script(&["0: HELLO 3", "0: CLIENT TRACKING on", "0: MGET a b c"]);
    let mut fc = common::RespReader::new(d._fc_node.raw());
    let mut rd = common::RespReader::new(d._redis_node.raw());
    for c in [&mut fc, &mut rd] {
        let r = String::from_utf8_lossy(&c.call(&[b"INFO", b"all"])).into_owned();
        let get = |name: &str| {
            r.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .map(str::to_string)
        };
        assert_eq!(get("tracking_clients").as_deref(), Some("1"));
        assert_eq!(get("tracking_total_keys").as_deref(), Some("3"));
        assert_eq!(get("tracking_total_items").as_deref(), Some("3"));
        assert_eq!(get("tracking_total_prefixes").as_deref(), Some("0"));
    }
}

/// A DUMP payload of the string "hello" made by redis-server.
fn hello_payload(node: &common::Node) -> Vec<u8> {
    let mut c = RespReader::new(node.raw());
    c.call(&[b"SET", b"dumpsrc", b"hello"]);
    let r = c.call(&[b"DUMP", b"dumpsrc"]);
    c.call(&[b"DEL", b"dumpsrc"]);
    let nl = r.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
    r.get(nl + 2..r.len().saturating_sub(2))
        .unwrap_or_default()
        .to_vec()
}

#[test]
fn streams_geo_restore_invalidate() {
    let Some(mut d) = Diff::start(2) else {
        return;
    };
    let p = hello_payload(&d._redis_node);
    d.fc.payload = p.clone();
    d.redis.payload = p;
    d.script(&[
        "0: HELLO 3",
        "0: CLIENT TRACKING on",
        "0: XLEN st",
        "1: XADD st 1-1 f v",
        "1: XADD st 2-1 f v",
        "0: XRANGE st - +",
        // Consumer-group changes are not signalled as modifications.
        "1: XGROUP CREATE st g 0",
        "1: XGROUP CREATECONSUMER st g c",
        "1: XREADGROUP GROUP g c2 COUNT 1 STREAMS st >",
        "1: XACK st g 1-1",
        "1: XREADGROUP GROUP g c2 STREAMS st >",
        "1: XCLAIM st g c3 0 2-1",
        "1: XAUTOCLAIM st g c4 0 0-0",
        "1: XGROUP SETID st g 0",
        "1: XGROUP DELCONSUMER st g c",
        "1: XGROUP DESTROY st g",
        "1: XTRIM st MAXLEN 5",
        "1: XTRIM st MAXLEN 1",
        "0: XLEN st",
        "1: XADD st MAXLEN 1 3-1 f v",
        "0: XLEN st",
        "1: XDEL st 99-1",
        "1: XDEL st 3-1",
        "0: XLEN st",
        "1: XSETID st 50-1",
        "0: XLEN mk",
        "1: XGROUP CREATE mk g $ MKSTREAM",
        "0: XINFO STREAM mk",
        "1: XGROUP CREATE mk g2 $",
        "0: XREAD STREAMS mk 0",
        "1: XADD mk NOMKSTREAM 1-1 a b",
        // Geo.
        "0: ZCARD geo",
        "1: GEOADD geo 13.361389 38.115556 Palermo",
        "0: GEOPOS geo Palermo",
        "1: GEOADD geo 13.361389 38.115556 Palermo",
        "1: GEOADD geo 15.087269 37.502669 Catania",
        // Counts in replies must not look like client ids (see normalize).
        "1: GEOADD geo 15.00 37 p0 15.01 37 p1 15.02 37 p2 15.03 37 p3 15.04 37 p4 15.05 37 p5 15.06 37 p6 15.07 37 p7 15.08 37 p8 15.09 37 p9 15.10 37 p10 15.11 37 p11 15.12 37 p12 15.13 37 p13 15.14 37 p14 15.15 37 p15 15.16 37 p16 15.17 37 p17 15.18 37 p18 15.19 37 p19 15.20 37 p20 15.21 37 p21 15.22 37 p22 15.23 37 p23 15.24 37 p24 15.25 37 p25 15.26 37 p26 15.27 37 p27 15.28 37 p28 15.29 37 p29",
        "0: ZCARD dst",
        "0: ZCARD dst2",
        "1: GEOSEARCHSTORE dst geo FROMLONLAT 15 37 BYRADIUS 200 km",
        "0: ZCARD dst",
        "1: GEORADIUS geo 15 37 200 km STORE dst2",
        "0: ZCARD dst2",
        "1: GEORADIUS geo 0 0 1 km STORE dst",
        "1: GEOSEARCHSTORE dst2 nokey FROMLONLAT 0 0 BYRADIUS 1 km",
        // RESTORE.
        "0: GET rk",
        "1: RESTORE rk 0 {dump}",
        "0: GET rk",
        "1: RESTORE rk 0 {dump}",
        "1: RESTORE rk 0 {dump} REPLACE",
        "0: GET rk",
        "1: RESTORE rk 1 {dump} ABSTTL REPLACE",
        "0: EXISTS rk",
        "1: RESTORE rk 1 {dump} ABSTTL REPLACE",
        // Reads that miss are tracked too.
        "0: TYPE t1",
        "0: TTL t2",
        "1: SET t1 a",
        "1: SET t2 a",
    ]);
}

#[test]
fn scripts_swapdb_move_invalidate() {
    let Some(mut d) = Diff::start(2) else {
        return;
    };
    d.script(&[
        "0: HELLO 3",
        "0: CLIENT TRACKING on",
        // Reads inside a script are tracked for the caller.
        "0: EVAL return(redis.call('get',KEYS[1])) 1 sk",
        "0: EVAL_RO return(redis.call('exists',KEYS[1])) 1 sk2",
        "1: MSET sk 1 sk2 2",
        // Writes inside a script invalidate.
        "0: GET w1",
        "1: EVAL redis.call('set',KEYS[1],'x');redis.call('xadd',KEYS[2],'1-1','a','b') 2 w1 w2",
        "0: XLEN w2",
        "1: EVAL redis.call('xtrim',KEYS[1],'MAXLEN','0') 1 w2",
        // SWAPDB, MOVE, COPY, RENAME.
        "0: GET m1",
        "0: GET m2",
        "1: SET m1 a",
        "0: GET m1",
        "1: SWAPDB 0 1",
        "1: SWAPDB 0 1",
        "1: MOVE m1 3",
        "0: GET m1",
        "1: SET m1 b",
        "0: GET m1",
        "1: COPY m1 m2",
        "0: GET m2",
        "1: RENAME m1 m2",
        "0: GET m2",
        "1: SELECT 3",
        "1: SET m2 z",
        "1: FLUSHDB",
        "0: GET m2",
        "1: FLUSHDB ASYNC",
        "0: GET x",
        "1: SELECT 0",
        "1: FLUSHALL SYNC",
    ]);
}

/// Pushes for the connection running the command, against Redis 7.0: an
/// invalidation for a key the client itself modifies comes after the
/// command's whole reply (after EXEC's array, after a script's reply),
/// while its own keyspace events and the invalidations it receives as
/// another client's redirect target are written as they happen, usually
/// before the reply. (No integer replies: they could read as client ids.)
#[test]
fn own_pushes_order_resp3() {
    let Some(mut d) = Diff::start(3) else {
        return;
    };
    d.script(&[
        "0: HELLO 3",
        "0: CONFIG SET notify-keyspace-events KEA",
        "0: CLIENT TRACKING on",
        "0: PSUBSCRIBE __keyspace@0__:*",
        "0: GET k",
        "0: SET k 1",
        "0: GET k",
        "0: LPUSH k2 a",
        "0: LRANGE k2 0 -1",
        "0: GET k",
        "0: ZSCORE z m",
        "0: MULTI",
        "0: SET k 2",
        "0: ZINCRBY z 5 m",
        "0: GET k",
        "0: EXEC",
        "0: GET k",
        "0: LRANGE k2 0 -1",
        "0: ZSCORE z m",
        "0: EVAL redis.call('set','k','3');redis.call('rpush','k2','c');return(redis.call('get','k')) 0",
        "0: GET k",
        "0: MGET k k2",
        "0: GETDEL k",
        "0: GET k",
        "0: FLUSHDB",
        // Connection 1 is connection 2's redirect target and writes the key
        // connection 2 read.
        "1: HELLO 3",
        "1: SUBSCRIBE __redis__:invalidate",
        "2: CLIENT TRACKING on REDIRECT {id1}",
        "2: GET r",
        "1: SET r 1",
        "2: GET r",
        "1: MULTI",
        "1: SET r 2",
        "1: GET r",
        "1: EXEC",
        "2: GET r",
        "1: EVAL redis.call('set','r','3');return(1) 0",
        "2: GET r",
        "1: GETDEL r",
    ]);
}
