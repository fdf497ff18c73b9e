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
            conns,
            in_multi: vec![false; n],
            closed: vec![false; n],
            ids,
        }
    }

    fn expand(&self, cmd: &str) -> Vec<Vec<u8>> {
        cmd.split_whitespace()
            .map(|a| {
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
