//! Persistence against the real redis-server 7.0: RDB files both ways,
//! DUMP/RESTORE both ways, the persistence commands, crash safety of
//! BGSAVE, corrupt and encrypted snapshots, save points and SHUTDOWN.

mod common;

use common::{start_ferrocache, start_redis_server, Node, Pair, RespReader, TempDir};
use redis::{Connection, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn q(con: &mut Connection, args: &[&[u8]]) -> Value {
    let mut c = redis::cmd(std::str::from_utf8(args[0]).expect("utf8"));
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con)
        .unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(args[0])))
}

fn qs(con: &mut Connection, cmd: &str) -> Value {
    let parts: Vec<&[u8]> = cmd.split_whitespace().map(str::as_bytes).collect();
    q(con, &parts)
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Okay => "OK".into(),
        Value::Int(n) => n.to_string(),
        Value::Nil => "(nil)".into(),
        other => format!("{other:?}"),
    }
}

/// Fill a node with every type and encoding.
fn fill(con: &mut Connection) {
    let cmds: Vec<Vec<Vec<u8>>> = {
        let mut v: Vec<Vec<Vec<u8>>> = Vec::new();
        let mut c = |parts: &[&[u8]]| v.push(parts.iter().map(|p| p.to_vec()).collect());
        c(&[b"SELECT", b"0"]);
        c(&[b"SET", b"str:small", b"hello"]);
        c(&[b"SET", b"str:empty", b""]);
        c(&[b"SET", b"str:int8", b"-12"]);
        c(&[b"SET", b"str:int32", b"2147483647"]);
        c(&[b"SET", b"str:int64", b"9223372036854775807"]);
        c(&[b"SET", b"str:notcanon", b"007"]);
        c(&[b"SET", b"str:bin", b"\x00\x01\xff\r\n\x00"]);
        c(&[b"SET", b"str:lzf", "abcdefgh".repeat(300).as_bytes()]);
        let noise: Vec<u8> = (0..3000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        c(&[b"SET", b"str:noise", &noise]);
        c(&[b"SET", b"str:ttl", b"v", b"EX", b"5000"]);
        c(&[b"SET", b"str:pttl", b"12", b"PX", b"900000"]);
        c(&[b"SET", b"str:45", "x".repeat(45).as_bytes()]);
        c(&[
            b"RPUSH",
            b"list:small",
            b"a",
            b"1",
            b"-300",
            b"70000",
            b"4294967296",
            b"",
        ]);
        for i in 0..40 {
            let items: Vec<Vec<u8>> = (0..25)
                .map(|j| format!("item-{i}-{j}").into_bytes())
                .collect();
            let mut p: Vec<&[u8]> = vec![b"RPUSH", b"list:big"];
            p.extend(items.iter().map(|x| x.as_slice()));
            c(&p);
        }
        c(&[
            b"RPUSH",
            b"list:hugeelem",
            "y".repeat(20000).as_bytes(),
            b"z",
        ]);
        c(&[
            b"SADD",
            b"set:intset",
            b"1",
            b"2",
            b"-3",
            b"100000",
            b"-9000000000",
        ]);
        let ints: Vec<Vec<u8>> = (0..600).map(|i| (i * 7).to_string().into_bytes()).collect();
        let mut p: Vec<&[u8]> = vec![b"SADD", b"set:manyints"];
        p.extend(ints.iter().map(|x| x.as_slice()));
        c(&p);
        c(&[b"SADD", b"set:small", b"a", b"b", b"c"]);
        let strs: Vec<Vec<u8>> = (0..300)
            .map(|i| format!("member{i}").into_bytes())
            .collect();
        let mut p: Vec<&[u8]> = vec![b"SADD", b"set:big"];
        p.extend(strs.iter().map(|x| x.as_slice()));
        c(&p);
        c(&[
            b"ZADD",
            b"zset:small",
            b"1",
            b"a",
            b"2.5",
            b"b",
            b"-inf",
            b"c",
            b"+inf",
            b"d",
            b"-0.125",
            b"e",
            b"100",
            b"f",
        ]);
        let mut zargs: Vec<Vec<u8>> = vec![b"ZADD".to_vec(), b"zset:big".to_vec()];
        for i in 0..300 {
            zargs.push(format!("{}", i as f64 / 7.0).into_bytes());
            zargs.push(format!("zm{i}").into_bytes());
        }
        let zr: Vec<&[u8]> = zargs.iter().map(|x| x.as_slice()).collect();
        c(&zr);
        c(&[
            b"ZADD",
            b"zset:longmember",
            b"1",
            "m".repeat(100).as_bytes(),
        ]);
        c(&[
            b"GEOADD",
            b"geo",
            b"13.361389",
            b"38.115556",
            b"Palermo",
            b"15.087269",
            b"37.502669",
            b"Catania",
        ]);
        c(&[
            b"HSET",
            b"hash:small",
            b"f1",
            b"v1",
            b"f2",
            b"2",
            b"f3",
            b"",
        ]);
        let mut hargs: Vec<Vec<u8>> = vec![b"HSET".to_vec(), b"hash:big".to_vec()];
        for i in 0..700 {
            hargs.push(format!("field{i}").into_bytes());
            hargs.push(format!("{i}").into_bytes());
        }
        let hr: Vec<&[u8]> = hargs.iter().map(|x| x.as_slice()).collect();
        c(&hr);
        c(&[b"HSET", b"hash:longval", b"f", "v".repeat(100).as_bytes()]);
        c(&[b"PFADD", b"hll", b"a", b"b", b"c"]);
        c(&[b"SETBIT", b"bitmap", b"1000", b"1"]);
        // Streams.
        for i in 1..=230 {
            let id = format!("{}-{}", 1_000_000 + i / 4, i % 4);
            let val = i.to_string();
            if i % 9 == 0 {
                c(&[
                    b"XADD",
                    b"stream:main",
                    id.as_bytes(),
                    b"other",
                    val.as_bytes(),
                ]);
            } else {
                c(&[
                    b"XADD",
                    b"stream:main",
                    id.as_bytes(),
                    b"temp",
                    val.as_bytes(),
                    b"hum",
                    b"high",
                ]);
            }
        }
        c(&[b"XDEL", b"stream:main", b"1000001-0", b"1000010-2"]);
        c(&[b"XGROUP", b"CREATE", b"stream:main", b"g1", b"0"]);
        c(&[b"XGROUP", b"CREATE", b"stream:main", b"g2", b"$"]);
        c(&[
            b"XREADGROUP",
            b"GROUP",
            b"g1",
            b"alice",
            b"COUNT",
            b"5",
            b"STREAMS",
            b"stream:main",
            b">",
        ]);
        c(&[
            b"XREADGROUP",
            b"GROUP",
            b"g1",
            b"bob",
            b"COUNT",
            b"3",
            b"STREAMS",
            b"stream:main",
            b">",
        ]);
        c(&[b"XACK", b"stream:main", b"g1", b"1000000-2"]);
        c(&[
            b"XGROUP",
            b"CREATECONSUMER",
            b"stream:main",
            b"g2",
            b"carol",
        ]);
        c(&[
            b"XGROUP",
            b"CREATE",
            b"stream:empty",
            b"g",
            b"$",
            b"MKSTREAM",
        ]);
        for i in 1..=11 {
            let id = format!("5-{i}");
            c(&[
                b"XADD",
                b"stream:trimmed",
                b"MAXLEN",
                b"5",
                id.as_bytes(),
                b"a",
                b"1",
            ]);
        }
        c(&[b"SELECT", b"1"]);
        c(&[b"SET", b"db1:key", b"one"]);
        c(&[b"LPUSH", b"db1:list", b"x"]);
        c(&[b"SELECT", b"9"]);
        c(&[b"SET", b"db9:key", b"nine", b"EX", b"100000"]);
        c(&[b"SELECT", b"0"]);
        v
    };
    for cmd in &cmds {
        let parts: Vec<&[u8]> = cmd.iter().map(|x| x.as_slice()).collect();
        q(con, &parts);
    }
}

/// Everything observable about a node's data, key by key.
fn describe(node: &Node, with_encoding: bool) -> BTreeMap<(usize, String), String> {
    let mut con = node.client();
    let mut out = BTreeMap::new();
    for db in 0..16usize {
        qs(&mut con, &format!("SELECT {db}"));
        let keys: Vec<Vec<u8>> = match qs(&mut con, "KEYS *") {
            Value::Array(a) => a
                .into_iter()
                .filter_map(|v| match v {
                    Value::BulkString(b) => Some(b),
                    _ => None,
                })
                .collect(),
            _ => vec![],
        };
        for k in keys {
            let t = text(&q(&mut con, &[b"TYPE", &k]));
            let mut d = format!("type={t}");
            if with_encoding {
                d += &format!(" enc={}", text(&q(&mut con, &[b"OBJECT", b"ENCODING", &k])));
            }
            let pttl = match q(&mut con, &[b"PTTL", &k]) {
                Value::Int(n) => n,
                _ => -3,
            };
            d += &format!(" ttl~{pttl}~");
            let body = match t.as_str() {
                "string" => format!("{:?}", q(&mut con, &[b"GET", &k])),
                "list" => format!("{:?}", q(&mut con, &[b"LRANGE", &k, b"0", b"-1"])),
                "set" => {
                    let mut m: Vec<String> = match q(&mut con, &[b"SMEMBERS", &k]) {
                        Value::Array(a) => a.iter().map(text).collect(),
                        _ => vec![],
                    };
                    m.sort();
                    format!("{m:?}")
                }
                "zset" => format!(
                    "{:?}",
                    q(&mut con, &[b"ZRANGE", &k, b"0", b"-1", b"WITHSCORES"])
                ),
                "hash" => {
                    let mut m: Vec<String> = match q(&mut con, &[b"HGETALL", &k]) {
                        Value::Array(a) => a
                            .chunks(2)
                            .map(|p| format!("{}={}", text(&p[0]), text(&p[1])))
                            .collect(),
                        _ => vec![],
                    };
                    m.sort();
                    format!("{m:?}")
                }
                "stream" => {
                    let mut s = format!("{:?}", q(&mut con, &[b"XRANGE", &k, b"-", b"+"]));
                    if let Value::Array(info) = q(&mut con, &[b"XINFO", b"STREAM", &k]) {
                        for p in info.chunks(2) {
                            let f = text(&p[0]);
                            if [
                                "length",
                                "last-generated-id",
                                "max-deleted-entry-id",
                                "entries-added",
                                "recorded-first-entry-id",
                                "groups",
                            ]
                            .contains(&f.as_str())
                            {
                                s += &format!(" {f}={}", text(&p[1]));
                            }
                        }
                    }
                    if let Value::Array(groups) = q(&mut con, &[b"XINFO", b"GROUPS", &k]) {
                        for g in groups {
                            let Value::Array(g) = g else { continue };
                            let mut name = Vec::new();
                            for p in g.chunks(2) {
                                if text(&p[0]) == "name" {
                                    if let Value::BulkString(b) = &p[1] {
                                        name = b.clone();
                                    }
                                }
                                s += &format!(" {}={}", text(&p[0]), text(&p[1]));
                            }
                            if let Value::Array(pel) =
                                q(&mut con, &[b"XPENDING", &k, &name, b"-", b"+", b"1000"])
                            {
                                for e in pel {
                                    if let Value::Array(e) = e {
                                        s += &format!(
                                            " pel={},{},{}",
                                            text(&e[0]),
                                            text(&e[1]),
                                            text(&e[3])
                                        );
                                    }
                                }
                            }
                            if let Value::Array(cs) =
                                q(&mut con, &[b"XINFO", b"CONSUMERS", &k, &name])
                            {
                                for c in cs {
                                    if let Value::Array(c) = c {
                                        for p in c.chunks(2) {
                                            let f = text(&p[0]);
                                            if f == "name" || f == "pending" {
                                                s += &format!(" c.{f}={}", text(&p[1]));
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    s
                }
                other => format!("unknown type {other}"),
            };
            d += &format!(" {body}");
            out.insert((db, String::from_utf8_lossy(&k).into_owned()), d);
        }
    }
    out
}

fn assert_same(
    a: &BTreeMap<(usize, String), String>,
    b: &BTreeMap<(usize, String), String>,
    what: &str,
) {
    assert_same_within(a, b, what, 3000);
}

/// [`assert_same`] with TTLs equal within `ttl_ms`.
fn assert_same_within(
    a: &BTreeMap<(usize, String), String>,
    b: &BTreeMap<(usize, String), String>,
    what: &str,
    ttl_ms: i64,
) {
    let ka: Vec<_> = a.keys().collect();
    let kb: Vec<_> = b.keys().collect();
    assert_eq!(ka, kb, "{what}: key sets differ");
    for (k, v) in a {
        let w = b.get(k).map(String::as_str).unwrap_or_default();
        let (va, ta) = split_ttl(v);
        let (vb, tb) = split_ttl(w);
        assert_eq!(va, vb, "{what}: key {k:?} differs");
        // TTLs: equal when absent, close when set (time passes).
        assert!(
            (ta < 0 && ta == tb) || (ta >= 0 && tb >= 0 && (ta - tb).abs() <= ttl_ms),
            "{what}: key {k:?} ttl {ta} vs {tb}"
        );
    }
}

/// Separate the `ttl~N~` part of a description from the rest.
fn split_ttl(d: &str) -> (String, i64) {
    let Some(a) = d.find(" ttl~") else {
        return (d.to_string(), -3);
    };
    let rest = &d[a + 5..];
    let Some(b) = rest.find('~') else {
        return (d.to_string(), -3);
    };
    let n = rest[..b].parse().unwrap_or(-3);
    (format!("{}{}", &d[..a], &rest[b + 1..]), n)
}

fn dir_arg(d: &TempDir) -> String {
    d.0.to_string_lossy().into_owned()
}

#[test]
fn rdb_files_round_trip_with_redis_server() {
    let d = TempDir::new("persist-rt");
    let dir = dir_arg(&d);
    let Some(redis) = start_redis_server(&["--dir", &dir, "--enable-debug-command", "yes"]) else {
        return;
    };
    fill(&mut redis.client());
    // Encodings as redis-server itself has them after a load.
    assert_eq!(text(&qs(&mut redis.client(), "DEBUG RELOAD")), "OK");
    let expected = describe(&redis, true);
    assert!(expected.len() > 30);
    drop(redis);

    // redis-server's file → ferrocache.
    let fc = start_ferrocache(&["--dir", &dir]);
    let got = describe(&fc, true);
    assert_same(&expected, &got, "redis-server RDB loaded by ferrocache");
    let info = text(&qs(&mut fc.client(), "INFO persistence"));
    assert!(
        info.contains(&format!("rdb_last_load_keys_loaded:{}", expected.len())),
        "{info}"
    );
    assert!(info.contains("rdb_changes_since_last_save:0"), "{info}");

    // ferrocache's file → redis-server (SAVE overwrites the same file).
    let mut con = fc.client();
    assert_eq!(text(&qs(&mut con, "SAVE")), "OK");
    drop(fc);
    let redis2 = start_redis_server(&["--dir", &dir]).expect("redis-server");
    let back = describe(&redis2, true);
    assert_same(&expected, &back, "ferrocache RDB loaded by redis-server");
}

#[test]
fn bgsave_file_loads_in_redis_server_and_ferrocache() {
    let d = TempDir::new("persist-bg");
    let dir = dir_arg(&d);
    let fc = start_ferrocache(&["--dir", &dir]);
    let mut con = fc.client();
    fill(&mut con);
    let expected = describe(&fc, false);
    assert_eq!(text(&qs(&mut con, "BGSAVE")), "Background saving started");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = text(&qs(&mut con, "INFO persistence"));
        if info.contains("rdb_bgsave_in_progress:0") {
            assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
            break;
        }
        assert!(Instant::now() < deadline, "BGSAVE did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Writes after the fork are not in the snapshot.
    qs(&mut con, "SET after:fork 1");
    drop(fc);
    assert!(d.0.join("dump.rdb").exists());
    let fc2 = start_ferrocache(&["--dir", &dir]);
    assert_same(
        &expected,
        &describe(&fc2, false),
        "BGSAVE reloaded by ferrocache",
    );
    drop(fc2);
    if let Some(redis) = start_redis_server(&["--dir", &dir]) {
        assert_same(
            &expected,
            &describe(&redis, false),
            "BGSAVE loaded by redis-server",
        );
    }
}

/// The default BGSAVE (incremental, no fork) writes the image of the
/// instant it started, whatever happens while it runs: every key
/// rewritten, deleted, given a TTL, databases swapped and flushed, new
/// keys added, across two shards. The file equals the data at BGSAVE,
/// loaded by ferrocache and by redis-server.
#[test]
fn incremental_bgsave_is_point_in_time() {
    let d = TempDir::new("persist-inc");
    let dir = dir_arg(&d);
    // 300 us per key written: the save takes about a second.
    let fc = start_ferrocache(&[
        "--dir",
        &dir,
        "--threads",
        "2",
        "--rdb-key-save-delay",
        "300",
    ]);
    let mut con = fc.client();
    fill(&mut con);
    bulk_load(&mut con, 3000, 100);
    let expected = describe(&fc, false);
    assert!(expected.len() > 3000);
    assert_eq!(text(&qs(&mut con, "BGSAVE")), "Background saving started");
    std::thread::sleep(Duration::from_millis(100));
    // Rewrite every bulk key (other length), delete or expire some of
    // the rest, add keys, move and flush databases.
    bulk_load(&mut con, 3000, 37);
    for i in (0..3000).step_by(7) {
        qs(&mut con, &format!("DEL key:{i}"));
    }
    for i in (1..3000).step_by(11) {
        qs(&mut con, &format!("PEXPIRE key:{i} 1"));
    }
    for k in ["str:small", "str:lzf", "str:ttl"] {
        qs(&mut con, &format!("APPEND {k} more"));
        qs(&mut con, &format!("PERSIST {k}"));
    }
    for i in 0..500 {
        qs(&mut con, &format!("SET new:{i} x"));
    }
    qs(&mut con, "SWAPDB 0 1");
    qs(&mut con, "SELECT 9");
    qs(&mut con, "FLUSHDB");
    qs(&mut con, "SELECT 0");
    assert_eq!(
        info_field(&mut con, "rdb_bgsave_in_progress"),
        "1",
        "the writes must happen while the save runs"
    );
    let cow: u64 = info_field(&mut con, "current_cow_peak").parse().expect("n");
    assert!(cow > 100_000, "keys copied aside: {cow} bytes");
    wait_bgsave(&mut con);
    assert_eq!(info_field(&mut con, "rdb_last_bgsave_status"), "ok");
    drop(con);
    drop(fc);
    // (TTLs count down from the description to the reload, which spans
    // the whole save here: 30 s of slack on a loaded machine.)
    let fc2 = start_ferrocache(&["--dir", &dir]);
    assert_same_within(
        &expected,
        &describe(&fc2, false),
        "incremental BGSAVE reloaded by ferrocache",
        30_000,
    );
    drop(fc2);
    if let Some(redis) = start_redis_server(&["--dir", &dir]) {
        assert_same_within(
            &expected,
            &describe(&redis, false),
            "incremental BGSAVE loaded by redis-server",
            30_000,
        );
    }
}

/// Keys the incremental BGSAVE copies aside before they are rewritten do
/// not count against `maxmemory` (a forked save's copied pages do not
/// either): rewriting every value during a save evicts nothing when the
/// data itself does not grow.
#[test]
fn snapshot_copies_do_not_cause_evictions() {
    let d = TempDir::new("persist-evict");
    let dir = dir_arg(&d);
    let fc = start_ferrocache(&["--dir", &dir, "--rdb-key-save-delay", "100"]);
    let mut con = fc.client();
    bulk_load(&mut con, 20_000, 1000);
    let used: u64 = info_in(&mut con, "memory", "used_memory")
        .parse()
        .expect("used_memory");
    // Room for the save's own buffers, not for 20 MB of copies.
    let max = used + (8 << 20);
    qs(&mut con, &format!("CONFIG SET maxmemory {max}"));
    qs(&mut con, "CONFIG SET maxmemory-policy allkeys-random");
    assert_eq!(text(&qs(&mut con, "BGSAVE")), "Background saving started");
    // 20 MB of values rewritten (same size) while the save runs.
    bulk_load(&mut con, 20_000, 1000);
    assert_eq!(info_field(&mut con, "rdb_bgsave_in_progress"), "1");
    let peak: u64 = info_field(&mut con, "current_cow_peak").parse().expect("n");
    assert!(peak > 16 << 20, "copied aside: {peak} bytes");
    let evicted: u64 = info_in(&mut con, "stats", "evicted_keys")
        .parse()
        .expect("evicted_keys");
    assert_eq!(evicted, 0);
    assert_eq!(int_of(&qs(&mut con, "DBSIZE")), 20_000);
    qs(&mut con, "CONFIG SET maxmemory 0");
    wait_bgsave(&mut con);
    assert_eq!(info_field(&mut con, "rdb_last_bgsave_status"), "ok");
}

#[test]
fn dump_restore_both_ways() {
    let Some(redis) = start_redis_server(&[]) else {
        return;
    };
    let fc = start_ferrocache(&[]);
    let (mut rc, mut fcc) = (redis.client(), fc.client());
    fill(&mut rc);
    fill(&mut fcc);
    let keys: Vec<Vec<u8>> = match qs(&mut rc, "KEYS *") {
        Value::Array(a) => a
            .into_iter()
            .filter_map(|v| {
                if let Value::BulkString(b) = v {
                    Some(b)
                } else {
                    None
                }
            })
            .collect(),
        _ => vec![],
    };
    assert!(keys.len() > 20);
    for k in &keys {
        let mut nk = b"copy:".to_vec();
        nk.extend_from_slice(k);
        // redis → ferrocache
        let p = q(&mut rc, &[b"DUMP", k]);
        let Value::BulkString(p) = p else {
            panic!("dump {k:?}")
        };
        assert_eq!(
            text(&q(&mut fcc, &[b"RESTORE", &nk, b"0", &p])),
            "OK",
            "{k:?}"
        );
        // ferrocache → redis
        let p2 = q(&mut fcc, &[b"DUMP", k]);
        let Value::BulkString(p2) = p2 else {
            panic!("dump {k:?}")
        };
        assert_eq!(
            text(&q(&mut rc, &[b"RESTORE", &nk, b"0", &p2])),
            "OK",
            "{k:?}"
        );
    }
    let a = describe(&redis, false);
    let b = describe(&fc, false);
    assert_same(&a, &b, "after cross RESTORE");
}

#[test]
fn persistence_commands_match_redis() {
    let Some(mut p) = Pair::start(&[]) else {
        return;
    };
    // DUMP payloads of compact values are byte-identical.
    for setup in [
        "SET s hello",
        "SET n 12345",
        "SET big 123456789012",
        "RPUSH l a b 1 2",
        "SADD si 1 2 3",
        "HSET h a 1 b x",
        "ZADD z 1 a 2.5 b",
    ] {
        p.check_str(setup);
    }
    for k in ["s", "n", "big", "l", "si", "h", "z", "missing"] {
        p.check_str(&format!("DUMP {k}"));
    }
    p.check_str("DUMP");
    p.check_str("DUMP a b");
    // RESTORE: errors in Redis's order.
    let (payload, _) = p.both(&[b"DUMP", b"s"]);
    // payload is a RESP bulk; extract it.
    let start = payload
        .iter()
        .position(|&c| c == b'\n')
        .map(|x| x + 1)
        .unwrap_or(0);
    let body = payload[start..payload.len() - 2].to_vec();
    p.check(&[b"RESTORE", b"s", b"0", &body]);
    p.check(&[b"RESTORE", b"new", b"-1", &body]);
    p.check(&[b"RESTORE", b"new", b"abc", &body]);
    p.check(&[b"RESTORE", b"new", b"0", b"garbage-payload"]);
    let mut bad = body.clone();
    if let Some(b) = bad.get_mut(1) {
        *b ^= 1;
    }
    p.check(&[b"RESTORE", b"new", b"0", &bad]);
    p.check(&[b"RESTORE", b"new", b"0", &body, b"BOGUS"]);
    p.check(&[b"RESTORE", b"new", b"0", &body, b"IDLETIME", b"-1"]);
    p.check(&[b"RESTORE", b"new", b"0", &body, b"IDLETIME", b"x"]);
    p.check(&[b"RESTORE", b"new", b"0", &body, b"FREQ", b"256"]);
    p.check(&[
        b"RESTORE",
        b"new",
        b"0",
        &body,
        b"IDLETIME",
        b"10",
        b"FREQ",
        b"5",
    ]);
    p.check(&[b"RESTORE", b"new", b"0", &body, b"IDLETIME"]);
    p.check(&[b"RESTORE", b"new", b"0"]);
    p.check(&[b"RESTORE", b"s", b"0", &body, b"REPLACE"]);
    p.check(&[b"RESTORE", b"new", b"0", &body, b"IDLETIME", b"100"]);
    p.check_str("GET new");
    p.check(&[b"RESTORE", b"past", b"1000", &body, b"ABSTTL"]);
    p.check_str("EXISTS past");
    p.check(&[b"RESTORE", b"ttl", b"100000", &body, b"REPLACE"]);
    p.check_str("TTL ttl");
    p.check(&[b"RESTORE", b"abs", b"99999999999999", &body, b"ABSTTL"]);
    p.check_str("PEXPIRETIME abs");
    p.check_str("SET wrongtype:target x");
    p.check(&[b"RESTORE", b"wrongtype:target", b"0", &body]);
    // The other commands.
    p.check_str("BGREWRITEAOF");
    p.check_str("BGREWRITEAOF x");
    p.check_str("SAVE x");
    p.check_str("BGSAVE x");
    p.check_str("BGSAVE SCHEDULE x");
    p.check_str("LASTSAVE x");
    p.check_str("SAVE");
    let (a, b) = p.both(&[b"LASTSAVE"]);
    assert!(a.starts_with(b":") && b.starts_with(b":"));
    // (BGSAVE itself is not compared: redis-server may still be busy with
    // the AOF rewrite started above.)
    let _ = p.both(&[b"HELLO", b"3"]);
    p.check_str("DUMP missing");
    p.check_str("LASTSAVE x");
}

/// Set a string value of `n` bytes under `keys` keys (through pipelines).
fn bulk_load(con: &mut Connection, keys: usize, n: usize) {
    let v = "v".repeat(n);
    for chunk in (0..keys).collect::<Vec<_>>().chunks(1000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("SET").arg(format!("key:{i}")).arg(&v).ignore();
        }
        let _: () = pipe.query(con).expect("pipeline");
    }
}

/// kill -9 at random points of a BGSAVE, many times: the previous
/// snapshot always loads. Odd rounds slow the save down
/// (`rdb-key-save-delay`) so the kill is certain to land while the child
/// is writing (checked through INFO); even rounds kill after a random
/// 0–60 ms, which lands anywhere from before the fork to after the
/// rename. Each round's restart loads what the previous one left.
#[test]
fn kill_during_bgsave_keeps_previous_snapshot() {
    let d = TempDir::new("persist-crash");
    let dir = dir_arg(&d);
    let mut baseline = 0i64;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut killed_mid_write = 0;
    for round in 0..20 {
        let slow = round % 2 == 1;
        let mut extra = vec!["--dir", dir.as_str()];
        if slow {
            extra.extend(["--rdb-key-save-delay", "20"]);
        }
        let fc = start_ferrocache(&extra);
        let mut con = fc.client();
        let size = match qs(&mut con, "DBSIZE") {
            Value::Int(n) => n,
            _ => -1,
        };
        if round == 0 {
            bulk_load(&mut con, 60_000, 200);
            assert_eq!(text(&qs(&mut con, "SAVE")), "OK");
            baseline = 60_000;
        } else {
            // The previous round's kill never leaves a broken file.
            assert!(
                size == baseline || size == baseline + 1,
                "round {round}: dbsize {size}, baseline {baseline}"
            );
            baseline = size;
        }
        qs(&mut con, &format!("SET round:{round} x"));
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = if slow { seed % 300 } else { seed % 60 };
        assert_eq!(text(&qs(&mut con, "BGSAVE")), "Background saving started");
        std::thread::sleep(Duration::from_millis(delay));
        if slow {
            // 60,000 keys at >= 20 us each: still writing.
            assert_eq!(info_field(&mut con, "rdb_bgsave_in_progress"), "1");
            killed_mid_write += 1;
        }
        drop(con);
        drop(fc); // SIGKILL: the server and (through PDEATHSIG) its child.
    }
    assert_eq!(killed_mid_write, 10);
    let fc = start_ferrocache(&["--dir", &dir]);
    let size = match qs(&mut fc.client(), "DBSIZE") {
        Value::Int(n) => n,
        _ => -1,
    };
    assert!(size == baseline || size == baseline + 1);
    // The snapshot is complete and its checksum verifies.
    let (ok, out) = run_cli(&[
        "snapshot",
        "inspect",
        &d.0.join("dump.rdb").to_string_lossy(),
    ]);
    assert!(ok && out.contains("checksum: ok"), "{out}");
}

/// Start ferrocache expecting it to refuse to start; returns its output.
fn start_fails(args: &[&str]) -> String {
    let port = common::free_port().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .arg("redis")
        .args(["--port", &port, "--bind", "127.0.0.1"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            assert!(!status.success());
            assert_ne!(status.code(), Some(101), "panicked");
            let out = child.wait_with_output().expect("output");
            let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
            s += &String::from_utf8_lossy(&out.stderr);
            assert!(!s.contains("panicked"), "{s}");
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ferrocache started with {args:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn corrupt_snapshots_refuse_to_start() {
    let d = TempDir::new("persist-corrupt");
    let dir = dir_arg(&d);
    let fc = start_ferrocache(&["--dir", &dir]);
    let mut con = fc.client();
    fill(&mut con);
    assert_eq!(text(&qs(&mut con, "SAVE")), "OK");
    drop(fc);
    let path = d.0.join("dump.rdb");
    let good = std::fs::read(&path).expect("read");
    let mut x = 77u64;
    for i in 0..12 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let cut = (x % good.len() as u64) as usize;
        let bad = if i % 2 == 0 {
            good[..cut].to_vec()
        } else {
            let mut b = good.clone();
            b[cut] ^= 0x20;
            b
        };
        std::fs::write(&path, &bad).expect("write");
        let out = start_fails(&["--dir", &dir]);
        assert!(out.contains("dump.rdb") && out.contains("offset"), "{out}");
    }
    // A truncated file with --rdb-load-partial yes starts with a prefix.
    std::fs::write(&path, &good[..good.len() / 2]).expect("write");
    let fc = start_ferrocache(&["--dir", &dir, "--rdb-load-partial", "yes"]);
    let n = match qs(&mut fc.client(), "DBSIZE") {
        Value::Int(n) => n,
        _ => -1,
    };
    assert!(n > 0, "some keys loaded");
}

fn wait_bgsave(con: &mut Connection) {
    // Generous: on a loaded 2-core CI box the save thread only gets the
    // CPU its pacer asks for.
    let deadline = Instant::now() + Duration::from_secs(60);
    while text(&qs(con, "INFO persistence")).contains("rdb_bgsave_in_progress:1") {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_cli(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(args)
        .output()
        .expect("run");
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s += &String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "panicked: {s}");
    (out.status.success(), s)
}

#[test]
fn encrypted_snapshots() {
    let d = TempDir::new("persist-enc");
    let dir = dir_arg(&d);
    let k1 = d.0.join("k1");
    let k2 = d.0.join("k2");
    std::fs::write(&k1, [42u8; 32]).expect("key");
    std::fs::write(&k2, b"a passphrase for rotation\n").expect("key");
    let (k1s, k2s) = (
        k1.to_string_lossy().into_owned(),
        k2.to_string_lossy().into_owned(),
    );
    let fc = start_ferrocache(&["--dir", &dir, "--snapshot-encryption-key-file", &k1s]);
    let mut con = fc.client();
    fill(&mut con);
    let expected = describe(&fc, false);
    assert_eq!(text(&qs(&mut con, "SAVE")), "OK");
    qs(&mut con, "BGSAVE");
    wait_bgsave(&mut con);
    drop(fc);
    let path = d.0.join("dump.rdb");
    let bytes = std::fs::read(&path).expect("read");
    assert!(bytes.starts_with(b"FCRDBENC"));
    // Same key: loads.
    let fc = start_ferrocache(&["--dir", &dir, "--snapshot-encryption-key-file", &k1s]);
    assert_same(&expected, &describe(&fc, false), "encrypted reload");
    drop(fc);
    // No key / wrong key: refused, clearly.
    let out = start_fails(&["--dir", &dir]);
    assert!(out.contains("encrypted"), "{out}");
    let out = start_fails(&["--dir", &dir, "--snapshot-encryption-key-file", &k2s]);
    assert!(out.contains("wrong key"), "{out}");
    // Tampered byte: refused.
    let mut t = bytes.clone();
    let mid = t.len() / 2;
    t[mid] ^= 1;
    let tampered = d.0.join("tampered");
    std::fs::create_dir_all(&tampered).expect("mkdir");
    std::fs::write(tampered.join("dump.rdb"), &t).expect("write");
    let out = start_fails(&[
        "--dir",
        &tampered.to_string_lossy(),
        "--snapshot-encryption-key-file",
        &k1s,
    ]);
    assert!(out.contains("authentication failed"), "{out}");
    // inspect
    let p = path.to_string_lossy().into_owned();
    let (ok, out) = run_cli(&["snapshot", "inspect", &p, "--key-file", &k1s]);
    assert!(
        ok && out.contains("encrypted: yes") && out.contains("status: ok"),
        "{out}"
    );
    assert!(out.contains(&format!("keys: {}", expected.len())), "{out}");
    let (ok, _) = run_cli(&["snapshot", "inspect", &p, "--key-file", &k2s]);
    assert!(!ok);
    // rotate k1 → k2, then decrypt to plain, which redis-server loads.
    let rotated = d.0.join("rotated.rdb").to_string_lossy().into_owned();
    let (ok, out) = run_cli(&[
        "snapshot",
        "convert",
        &p,
        &rotated,
        "--key-file",
        &k1s,
        "--new-key-file",
        &k2s,
    ]);
    assert!(ok, "{out}");
    let plain_dir = d.0.join("plain");
    std::fs::create_dir_all(&plain_dir).expect("mkdir");
    let plain = plain_dir.join("dump.rdb").to_string_lossy().into_owned();
    let (ok, out) = run_cli(&["snapshot", "convert", &rotated, &plain, "--key-file", &k2s]);
    assert!(ok, "{out}");
    let (ok, out) = run_cli(&["snapshot", "inspect", &plain]);
    assert!(
        ok && out.contains("encrypted: no") && out.contains("checksum: ok"),
        "{out}"
    );
    if let Some(redis) = start_redis_server(&["--dir", &plain_dir.to_string_lossy()]) {
        assert_same(
            &expected,
            &describe(&redis, false),
            "decrypted file in redis-server",
        );
    }
    // A plain RDB seeds an encrypted node; its next save is encrypted.
    let fc = start_ferrocache(&[
        "--dir",
        &plain_dir.to_string_lossy(),
        "--snapshot-encryption-key-file",
        &k2s,
    ]);
    assert_same(
        &expected,
        &describe(&fc, false),
        "plain seed into encrypted node",
    );
    assert_eq!(text(&qs(&mut fc.client(), "SAVE")), "OK");
    assert!(std::fs::read(plain_dir.join("dump.rdb"))
        .expect("read")
        .starts_with(b"FCRDBENC"));
    // Key rotation at run time: CONFIG SET the parameter, the next save
    // uses the new key; a file without a usable key is refused.
    let mut con = fc.client();
    assert!(format!(
        "{:?}",
        qs(&mut con, "CONFIG GET snapshot-encryption-key-file")
    )
    .contains(k2s.as_str()));
    let missing = d.0.join("no-such-key").to_string_lossy().into_owned();
    let e = redis::cmd("CONFIG")
        .arg("SET")
        .arg("snapshot-encryption-key-file")
        .arg(&missing)
        .query::<Value>(&mut con)
        .expect_err("missing key file");
    assert!(
        e.to_string().contains("snapshot-encryption-key-file"),
        "{e}"
    );
    q(
        &mut con,
        &[
            b"CONFIG",
            b"SET",
            b"snapshot-encryption-key-file",
            k1s.as_bytes(),
        ],
    );
    qs(&mut con, "BGSAVE");
    wait_bgsave(&mut con);
    drop(con);
    drop(fc);
    let out = start_fails(&[
        "--dir",
        &plain_dir.to_string_lossy(),
        "--snapshot-encryption-key-file",
        &k2s,
    ]);
    assert!(out.contains("wrong key"), "{out}");
    let fc = start_ferrocache(&[
        "--dir",
        &plain_dir.to_string_lossy(),
        "--snapshot-encryption-key-file",
        &k1s,
    ]);
    assert_same(&expected, &describe(&fc, false), "after run-time rotation");
}

#[test]
fn save_points_shutdown_and_debug_reload() {
    let d = TempDir::new("persist-points");
    let dir = dir_arg(&d);
    let fc = start_ferrocache(&[
        "--dir",
        &dir,
        "--save",
        "1 1",
        "--enable-debug-command",
        "yes",
    ]);
    let mut con = fc.client();
    let before = text(&qs(&mut con, "LASTSAVE"));
    qs(&mut con, "SET a 1");
    assert!(text(&qs(&mut con, "INFO persistence")).contains("rdb_changes_since_last_save:1"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = text(&qs(&mut con, "INFO persistence"));
        if info.contains("rdb_changes_since_last_save:0")
            && info.contains("rdb_bgsave_in_progress:0")
        {
            break;
        }
        assert!(Instant::now() < deadline, "save point never fired: {info}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(d.0.join("dump.rdb").exists());
    assert!(text(&qs(&mut con, "LASTSAVE")) >= before);
    // DEBUG RELOAD keeps the data.
    qs(&mut con, "RPUSH l x y z");
    qs(&mut con, "SET t v EX 1000");
    assert_eq!(text(&qs(&mut con, "DEBUG RELOAD")), "OK");
    assert_eq!(
        format!("{:?}", qs(&mut con, "LRANGE l 0 -1")),
        format!(
            "{:?}",
            Value::Array(vec![
                Value::BulkString(b"x".to_vec()),
                Value::BulkString(b"y".to_vec()),
                Value::BulkString(b"z".to_vec())
            ])
        )
    );
    assert!(matches!(qs(&mut con, "TTL t"), Value::Int(n) if n > 990));
    // SHUTDOWN saves; SHUTDOWN NOSAVE does not.
    q(&mut con, &[b"CONFIG", b"SET", b"save", b""]);
    qs(&mut con, "SET last 1");
    let _ = redis::cmd("SHUTDOWN").arg("SAVE").query::<Value>(&mut con);
    drop(con);
    drop(fc);
    let fc = start_ferrocache(&["--dir", &dir]);
    let mut con = fc.client();
    assert_eq!(text(&qs(&mut con, "GET last")), "1");
    qs(&mut con, "SET after 1");
    let _ = redis::cmd("SHUTDOWN")
        .arg("NOSAVE")
        .query::<Value>(&mut con);
    drop(con);
    drop(fc);
    let fc = start_ferrocache(&["--dir", &dir]);
    assert_eq!(text(&qs(&mut fc.client(), "EXISTS after")), "0");
    let _ = Path::new(&dir);
}

fn info_field(con: &mut Connection, name: &str) -> String {
    info_in(con, "persistence", name)
}

/// Field `name` of INFO `section`.
fn info_in(con: &mut Connection, section: &str, name: &str) -> String {
    let info = text(&qs(con, &format!("INFO {section}")));
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {info}"))
        .trim()
        .to_string()
}

fn int_of(v: &Value) -> i64 {
    match v {
        Value::Int(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

/// `rdb-version`: v10 by default, v11 on request (SAVE, BGSAVE and DUMP),
/// read back by our reader. (redis-server 7.0 refuses v11 files, and no
/// newer redis-server is installed here, so v11 is checked by reading it
/// back and by its version bytes.)
#[test]
fn rdb_version_parameter() {
    let d = TempDir::new("persist-v11");
    let dir = dir_arg(&d);
    let fc = start_ferrocache(&["--dir", &dir, "--rdb-version", "11"]);
    let mut con = fc.client();
    fill(&mut con);
    let expected = describe(&fc, false);
    assert_eq!(
        format!("{:?}", qs(&mut con, "CONFIG GET rdb-version")),
        format!(
            "{:?}",
            Value::Array(vec![
                Value::BulkString(b"rdb-version".to_vec()),
                Value::BulkString(b"11".to_vec())
            ])
        )
    );
    // Hidden from CONFIG GET * (which stays redis-server's list).
    assert!(!format!("{:?}", qs(&mut con, "CONFIG GET *")).contains("rdb-version"));
    let Value::BulkString(p) = qs(&mut con, "DUMP str:small") else {
        panic!("dump")
    };
    assert_eq!(&p[p.len() - 10..p.len() - 8], &[11, 0]);
    assert_eq!(text(&qs(&mut con, "SAVE")), "OK");
    let path = d.0.join("dump.rdb");
    assert!(std::fs::read(&path)
        .expect("read")
        .starts_with(b"REDIS0011"));
    qs(&mut con, "BGSAVE");
    wait_bgsave(&mut con);
    assert!(std::fs::read(&path)
        .expect("read")
        .starts_with(b"REDIS0011"));
    drop(con);
    drop(fc);
    // Read back by ferrocache.
    let fc = start_ferrocache(&["--dir", &dir]);
    assert_same(&expected, &describe(&fc, false), "v11 reload");
    let mut con = fc.client();
    let e = redis::cmd("CONFIG")
        .arg("SET")
        .arg("rdb-version")
        .arg("12")
        .query::<Value>(&mut con)
        .expect_err("v12 is not written");
    assert!(e.to_string().contains("rdb-version"), "{e}");
    let (ok, out) = run_cli(&["snapshot", "inspect", &path.to_string_lossy()]);
    assert!(ok && out.contains("rdb version: 11"), "{out}");
    // Back to 10 (the default): redis-server 7.0 loads it.
    assert!(format!("{:?}", qs(&mut con, "CONFIG GET rdb-version")).contains("\"10\""));
    assert_eq!(text(&qs(&mut con, "SAVE")), "OK");
    assert!(std::fs::read(&path)
        .expect("read")
        .starts_with(b"REDIS0010"));
    drop(con);
    drop(fc);
    if let Some(redis) = start_redis_server(&["--dir", &dir]) {
        assert_same(&expected, &describe(&redis, false), "v10 in redis-server");
    }
}

/// The first element of a DUMP reply.
fn dump_of(con: &mut Connection, key: &str) -> Vec<u8> {
    match q(con, &[b"DUMP", key.as_bytes()]) {
        Value::BulkString(b) => b,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

fn idle_of(con: &mut Connection, key: &str) -> i64 {
    int_of(&q(con, &[b"OBJECT", b"IDLETIME", key.as_bytes()]))
}

/// `lru_seconds_idle` of DEBUG OBJECT.
fn debug_idle(con: &mut Connection, key: &str) -> i64 {
    let line = text(&q(con, &[b"DEBUG", b"OBJECT", key.as_bytes()]));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("lru_seconds_idle:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"))
}

/// `--dir DIR` followed by `extra`.
fn with(dir: &str, extra: &[&str]) -> Vec<String> {
    let mut v = vec!["--dir".to_string(), dir.to_string()];
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// IDLE / FREQ opcodes both ways with redis-server 7.0: under an LRU
/// policy the idle time survives a snapshot, under an LFU policy the
/// counter does; RESTORE's IDLETIME / FREQ set them; OBJECT IDLETIME and
/// DEBUG OBJECT agree.
#[test]
fn idle_time_and_frequency_survive_snapshots() {
    let d = TempDir::new("persist-lru");
    let (rdir, fdir) = (d.0.join("r"), d.0.join("f"));
    std::fs::create_dir_all(&rdir).expect("mkdir");
    std::fs::create_dir_all(&fdir).expect("mkdir");
    let (rdir, fdir) = (
        rdir.to_string_lossy().into_owned(),
        fdir.to_string_lossy().into_owned(),
    );
    let lru = [
        "--maxmemory-policy",
        "allkeys-lru",
        "--enable-debug-command",
        "yes",
    ];
    let lfu = [
        "--maxmemory-policy",
        "allkeys-lfu",
        "--lfu-decay-time",
        "0",
        "--enable-debug-command",
        "yes",
    ];

    // LRU: redis-server → ferrocache.
    let ra = with(&rdir, &lru);
    let Some(redis) = start_redis_server(&args(&ra)) else {
        return;
    };
    let mut rc = redis.client();
    qs(&mut rc, "SET seed v");
    let payload = dump_of(&mut rc, "seed");
    q(
        &mut rc,
        &[b"RESTORE", b"old", b"0", &payload, b"IDLETIME", b"5000"],
    );
    q(
        &mut rc,
        &[b"RESTORE", b"older", b"0", &payload, b"IDLETIME", b"100000"],
    );
    assert!((5000..5003).contains(&idle_of(&mut rc, "old")));
    assert_eq!(text(&qs(&mut rc, "SAVE")), "OK");
    drop(rc);
    drop(redis);
    std::fs::copy(
        Path::new(&rdir).join("dump.rdb"),
        Path::new(&fdir).join("dump.rdb"),
    )
    .expect("copy");
    let fa = with(&fdir, &lru);
    let fc = start_ferrocache(&args(&fa));
    let mut fcc = fc.client();
    let a = idle_of(&mut fcc, "old");
    assert!((5000..5005).contains(&a), "old idle {a}");
    assert!((100_000..100_005).contains(&idle_of(&mut fcc, "older")));
    assert!(idle_of(&mut fcc, "seed") < 5);
    assert!((debug_idle(&mut fcc, "old") - idle_of(&mut fcc, "old")).abs() <= 1);
    // LRU: ferrocache → redis-server (RESTORE IDLETIME here, then SAVE).
    q(
        &mut fcc,
        &[b"RESTORE", b"mine", b"0", &payload, b"IDLETIME", b"7000"],
    );
    assert!((7000..7003).contains(&idle_of(&mut fcc, "mine")));
    assert_eq!(text(&qs(&mut fcc, "SAVE")), "OK");
    drop(fcc);
    drop(fc);
    std::fs::copy(
        Path::new(&fdir).join("dump.rdb"),
        Path::new(&rdir).join("dump.rdb"),
    )
    .expect("copy");
    let redis = start_redis_server(&args(&ra)).expect("redis-server");
    let mut rc = redis.client();
    let m = idle_of(&mut rc, "mine");
    assert!((7000..7005).contains(&m), "mine idle {m}");
    assert!((5000..5010).contains(&idle_of(&mut rc, "old")));

    // LFU: redis-server → ferrocache → redis-server.
    let rl = with(&rdir, &lfu);
    drop(rc);
    drop(redis);
    let redis = start_redis_server(&args(&rl)).expect("redis-server");
    let mut rc = redis.client();
    qs(&mut rc, "FLUSHALL");
    q(
        &mut rc,
        &[b"RESTORE", b"hot", b"0", &payload, b"FREQ", b"200"],
    );
    q(
        &mut rc,
        &[b"RESTORE", b"cold", b"0", &payload, b"FREQ", b"0"],
    );
    assert_eq!(int_of(&qs(&mut rc, "OBJECT FREQ hot")), 200);
    assert_eq!(text(&qs(&mut rc, "SAVE")), "OK");
    drop(rc);
    drop(redis);
    std::fs::copy(
        Path::new(&rdir).join("dump.rdb"),
        Path::new(&fdir).join("dump.rdb"),
    )
    .expect("copy");
    let fl = with(&fdir, &lfu);
    let fc = start_ferrocache(&args(&fl));
    let mut fcc = fc.client();
    assert_eq!(int_of(&qs(&mut fcc, "OBJECT FREQ hot")), 200);
    assert_eq!(int_of(&qs(&mut fcc, "OBJECT FREQ cold")), 0);
    q(
        &mut fcc,
        &[b"RESTORE", b"warm", b"0", &payload, b"FREQ", b"42"],
    );
    assert_eq!(int_of(&qs(&mut fcc, "OBJECT FREQ warm")), 42);
    assert_eq!(text(&qs(&mut fcc, "SAVE")), "OK");
    drop(fcc);
    drop(fc);
    std::fs::copy(
        Path::new(&fdir).join("dump.rdb"),
        Path::new(&rdir).join("dump.rdb"),
    )
    .expect("copy");
    let redis = start_redis_server(&args(&rl)).expect("redis-server");
    let mut rc = redis.client();
    assert_eq!(int_of(&qs(&mut rc, "OBJECT FREQ hot")), 200);
    assert_eq!(int_of(&qs(&mut rc, "OBJECT FREQ warm")), 42);
    assert_eq!(int_of(&qs(&mut rc, "OBJECT FREQ cold")), 0);
    drop(rc);
    drop(redis);

    // A FREQ in the file means nothing under an LRU policy (and the other
    // way round): the key is just "used now", as in Redis.
    let fa = with(&fdir, &lru);
    let fc = start_ferrocache(&args(&fa));
    let mut fcc = fc.client();
    assert!(idle_of(&mut fcc, "hot") < 5);
}

/// INFO persistence's copy-on-write figures are real: while a slowed-down
/// BGSAVE runs and the node rewrites values, what the save has to keep
/// of the old values shows in `current_cow_size`/`current_cow_peak`
/// (a forked child's copied pages; the incremental save's keys copied
/// aside), progress in `current_save_keys_*`; after it,
/// `rdb_last_cow_size` keeps the peak and the current figures are back to
/// 0 (as Redis resets them). The saving side runs at nice 19.
#[test]
fn bgsave_reports_copy_on_write_memory() {
    cow_figures(false);
}

/// [`bgsave_reports_copy_on_write_memory`] with `bgsave-fork yes`.
#[test]
fn forked_bgsave_reports_copy_on_write_memory() {
    cow_figures(true);
}

/// The nice value in a `/proc/.../stat` line.
fn nice_of(stat: &str) -> i32 {
    let after_comm = &stat[stat.rfind(')').expect("comm") + 2..];
    after_comm
        .split(' ')
        .nth(16)
        .expect("nice")
        .parse()
        .expect("n")
}

/// The scheduling policy in a `/proc/.../stat` line (5: SCHED_IDLE).
fn policy_of(stat: &str) -> i32 {
    let after_comm = &stat[stat.rfind(')').expect("comm") + 2..];
    after_comm
        .split(' ')
        .nth(38)
        .expect("policy")
        .parse()
        .expect("n")
}

fn cow_figures(fork: bool) {
    let d = TempDir::new("persist-cow");
    let dir = dir_arg(&d);
    // 20,000 keys x 1 KB, 100 us per key: a save of about 2 s.
    let mode = if fork { "yes" } else { "no" };
    let fc = start_ferrocache(&[
        "--dir",
        &dir,
        "--rdb-key-save-delay",
        "100",
        "--bgsave-fork",
        mode,
    ]);
    let mut con = fc.client();
    bulk_load(&mut con, 20_000, 1000);
    assert_eq!(info_field(&mut con, "rdb_last_cow_size"), "0");
    assert_eq!(text(&qs(&mut con, "BGSAVE")), "Background saving started");
    assert_eq!(info_field(&mut con, "current_save_keys_total"), "20000");
    let pid = fc.pid();
    let tasks = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .expect("task dir")
            .flatten()
            .map(|t| t.path())
            .collect()
    };
    if fork {
        // The snapshot child runs at the lowest CPU priority (nice 19), so
        // it does not take CPU from the serving threads.
        let children: Vec<u32> = tasks()
            .iter()
            .filter_map(|t| std::fs::read_to_string(t.join("children")).ok())
            .flat_map(|c| {
                c.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect();
        assert_eq!(children.len(), 1, "one BGSAVE child: {children:?}");
        // (The child sets it first thing after the fork: poll briefly.)
        let deadline = Instant::now() + Duration::from_secs(5);
        let stat = loop {
            let stat =
                std::fs::read_to_string(format!("/proc/{}/stat", children[0])).expect("stat");
            if nice_of(&stat) == 19 || Instant::now() > deadline {
                break stat;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(nice_of(&stat), 19, "BGSAVE child's nice value");
    } else {
        // No child process; one `bgsave` thread, starting at SCHED_IDLE
        // (ferrocache_persist::pacer raises it only if it starves).
        // (A thread names itself once it runs: poll briefly.)
        let deadline = Instant::now() + Duration::from_secs(5);
        let saver = loop {
            let saver: Vec<std::path::PathBuf> = tasks()
                .into_iter()
                .filter(|t| {
                    std::fs::read_to_string(t.join("comm")).is_ok_and(|c| c.trim() == "bgsave")
                })
                .collect();
            if !saver.is_empty() || Instant::now() > deadline {
                break saver;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(saver.len(), 1, "one bgsave thread");
        // (Named at spawn, it sets its priority first thing when it runs;
        // on a busy core that can take a moment: poll briefly.)
        let deadline = Instant::now() + Duration::from_secs(5);
        let stat = loop {
            let stat = std::fs::read_to_string(saver[0].join("stat")).expect("stat");
            if (nice_of(&stat) == 19 && policy_of(&stat) == 5) || Instant::now() > deadline {
                break stat;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(nice_of(&stat), 19, "bgsave thread's nice value");
        assert_eq!(policy_of(&stat), 5, "bgsave thread's policy is SCHED_IDLE");
        let children = tasks()
            .iter()
            .filter_map(|t| std::fs::read_to_string(t.join("children")).ok())
            .any(|c| !c.trim().is_empty());
        assert!(!children, "an incremental BGSAVE forks nothing");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut saw_cow, mut saw_progress) = (0u64, 0u64);
    while info_field(&mut con, "rdb_bgsave_in_progress") == "1" {
        assert!(Instant::now() < deadline, "BGSAVE never ended");
        // Rewrite every value: each page the parent touches is copied.
        bulk_load(&mut con, 20_000, 1000);
        let cow: u64 = info_field(&mut con, "current_cow_size").parse().expect("n");
        let peak: u64 = info_field(&mut con, "current_cow_peak").parse().expect("n");
        assert!(peak >= cow, "peak {peak} < current {cow}");
        saw_cow = saw_cow.max(cow);
        let done: u64 = info_field(&mut con, "current_save_keys_processed")
            .parse()
            .expect("n");
        assert!(done <= 20_000);
        saw_progress = saw_progress.max(done);
        let perc: f64 = info_field(&mut con, "current_fork_perc")
            .parse()
            .expect("f");
        assert!((0.0..=100.0).contains(&perc));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(info_field(&mut con, "rdb_last_bgsave_status"), "ok");
    // Several MB were copied (20 MB of values rewritten during the save).
    assert!(saw_cow > 4 << 20, "current_cow_size peaked at {saw_cow}");
    assert!(saw_progress > 0);
    let last: u64 = info_field(&mut con, "rdb_last_cow_size")
        .parse()
        .expect("n");
    assert!(last >= saw_cow, "rdb_last_cow_size {last} < {saw_cow}");
    for f in [
        "current_cow_size",
        "current_cow_peak",
        "current_save_keys_processed",
        "current_save_keys_total",
    ] {
        assert_eq!(info_field(&mut con, f), "0", "{f}");
    }
    assert_eq!(info_field(&mut con, "current_fork_perc"), "0.00");
}

/// The DEBUG subcommands ferrocache answers reply as redis-server 7.0's,
/// RELOAD's options included; DEBUG HELP lists them in Redis's words.
#[test]
fn debug_subcommands_match_redis() {
    let debug = ["--enable-debug-command", "yes"];
    let Some(redis_node) = start_redis_server(&debug) else {
        return;
    };
    let fc_node = start_ferrocache(&debug);
    let mut p = Pair {
        fc: RespReader::new(fc_node.raw()),
        redis: RespReader::new(redis_node.raw()),
        fc_node,
        redis_node,
    };
    // No file yet: NOSAVE has nothing to load.
    p.check_str("DEBUG RELOAD NOSAVE");
    p.check_str("DEBUG RELOAD BOGUS");
    p.check_str("DEBUG RELOAD MERGE BOGUS");
    p.check_str("SET a 1");
    p.check_str("RPUSH l x y");
    p.check_str("DEBUG RELOAD");
    p.check_str("GET a");
    // NOSAVE: back to the saved contents.
    p.check_str("SET a 2");
    p.check_str("SET b 3");
    p.check_str("DEBUG RELOAD NOSAVE");
    p.check_str("MGET a b");
    // NOSAVE NOFLUSH MERGE: the file's keys are added, replacing.
    p.check_str("SET a 5");
    p.check_str("SET c 4");
    p.check_str("DEBUG RELOAD NOSAVE NOFLUSH MERGE");
    p.check_str("MGET a b c");
    p.check_str("LRANGE l 0 -1");
    p.check_str("DEBUG SLEEP 0");
    p.check_str("DEBUG SLEEP");
    p.check_str("DEBUG SLEEP 0 1");
    p.check_str("DEBUG SET-ACTIVE-EXPIRE 1");
    p.check_str("DEBUG SET-ACTIVE-EXPIRE");
    p.check_str("DEBUG OBJECT missing");
    p.check_str("DEBUG OBJECT");
    p.check_str("DEBUG NOSUCH");
    p.check_str("DEBUG");
    // DEBUG OBJECT: same encoding and serialized length.
    for setup in [
        "SET s hello",
        "SET n 12345",
        "SET mid abcdefghijklmnopqrs",
        "HSET h f v g w",
        "SADD si 1 2 3",
        "ZADD z 1 a 2 b",
    ] {
        p.check_str(setup);
    }
    // (Strings over 20 bytes are LZF-compressed; ferrocache's compressor
    // is not liblzf's byte for byte, so their lengths may differ.)
    for k in ["s", "n", "mid", "h", "si", "z"] {
        let (a, b) = p.both(&[b"DEBUG", b"OBJECT", k.as_bytes()]);
        let pick = |r: &[u8]| -> String {
            String::from_utf8_lossy(r)
                .split_whitespace()
                .filter(|w| w.starts_with("encoding:") || w.starts_with("serializedlength:"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(pick(&a), pick(&b), "DEBUG OBJECT {k}");
    }
    // HELP: every line ferrocache prints is a line of Redis's help, in
    // the same order, and RELOAD is there.
    let (a, b) = p.both(&[b"DEBUG", b"HELP"]);
    let (a, b) = (String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
    let ours: Vec<&str> = a.split("\r\n").skip(1).filter(|l| !l.is_empty()).collect();
    let theirs: Vec<&str> = b.split("\r\n").skip(1).filter(|l| !l.is_empty()).collect();
    let mut it = theirs.iter();
    for l in &ours {
        assert!(
            it.any(|t| t == l),
            "DEBUG HELP line {l:?} not in Redis's, in order"
        );
    }
    assert!(a.contains("+RELOAD [option ...]"));
}
