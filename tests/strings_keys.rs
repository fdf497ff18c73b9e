//! Differential tests for the string and generic key commands: every reply
//! is compared byte for byte with redis-server 7.0 (order-insensitive where
//! Redis's order is unspecified), plus a SCAN completeness test across four
//! shards while keys are added and removed.

mod common;

use common::{Pair, RespReader};
use std::collections::{BTreeSet, HashSet};

/// A parsed RESP value (just enough to sort and inspect replies).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
    Other(Vec<u8>),
}

fn parse(b: &[u8]) -> (Resp, usize) {
    let nl = b.windows(2).position(|w| w == b"\r\n").expect("line");
    let line = String::from_utf8_lossy(&b[1..nl]).into_owned();
    let after = nl + 2;
    match b[0] {
        b'+' => (Resp::Simple(line), after),
        b'-' => (Resp::Error(line), after),
        b':' => (Resp::Int(line.parse().expect("int")), after),
        b'$' => {
            let n: i64 = line.parse().expect("len");
            if n < 0 {
                return (Resp::Bulk(None), after);
            }
            let n = n as usize;
            (
                Resp::Bulk(Some(b[after..after + n].to_vec())),
                after + n + 2,
            )
        }
        b'*' | b'~' | b'%' => {
            let n: i64 = line.parse().expect("len");
            if n < 0 {
                return (Resp::Array(None), after);
            }
            let n = if b[0] == b'%' { 2 * n } else { n } as usize;
            let mut pos = after;
            let mut v = Vec::new();
            for _ in 0..n {
                let (x, used) = parse(&b[pos..]);
                v.push(x);
                pos += used;
            }
            (Resp::Array(Some(v)), pos)
        }
        _ => (Resp::Other(b[..after].to_vec()), after),
    }
}

fn resp(b: &[u8]) -> Resp {
    parse(b).0
}

fn args(cmd: &str) -> Vec<Vec<u8>> {
    cmd.split_whitespace()
        .map(|s| s.as_bytes().to_vec())
        .collect()
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(|a| a.as_slice()).collect()
}

/// Both servers, sorted array replies must match (KEYS, SCAN result sets).
fn check_sorted(p: &mut Pair, cmd: &str) {
    let a = args(cmd);
    let (x, y) = p.both(&refs(&a));
    // Sorts arrays at every level (SCAN's key list is nested).
    fn sort(r: Resp) -> Resp {
        match r {
            Resp::Array(Some(v)) => {
                let mut v: Vec<Resp> = v.into_iter().map(sort).collect();
                v.sort();
                Resp::Array(Some(v))
            }
            other => other,
        }
    }
    assert_eq!(sort(resp(&x)), sort(resp(&y)), "sorted mismatch for {cmd}");
}

fn checks(p: &mut Pair, cmds: &[&str]) {
    for c in cmds {
        p.check_str(c);
    }
}

fn pair() -> Option<Pair> {
    Pair::start(&["--threads", "2"])
}

#[test]
fn get_set_and_options() {
    let Some(mut p) = pair() else { return };
    checks(
        &mut p,
        &[
            "GET nokey",
            "SET k v",
            "GET k",
            "SET k v2 NX",
            "SET k v3 XX",
            "GET k",
            "SET new v XX",
            "GET new",
            "SET new v NX",
            "SET k v4 GET",
            "SET missing v GET",
            "SET k v5 NX GET",
            "SET k2 v NX GET",
            "SET k v6 XX GET",
            "SET k v NX XX",
            "SET k v XX NX",
            "SET k v EX 10 PX 100",
            "SET k v EX 10 KEEPTTL",
            "SET k v KEEPTTL EX 10",
            "SET k v PXAT 10 EXAT 10",
            "SET k v EX",
            "SET k v PERSIST",
            "SET k v EX 0",
            "SET k v EX -1",
            "SET k v PX 0",
            "SET k v EXAT 0",
            "SET k v EX abc",
            "SET k v EX 9223372036854775807",
            "SET k v PX 9223372036854775807",
            "SET k v EX 9223372036854775",
            "SET k v EX 1.5",
            "SET k v NX NX",
            "SET k v EX 100 EX 200",
            "TTL k",
            "SET k v EX 100",
            "TTL k",
            "SET k v2 KEEPTTL",
            "TTL k",
            "SET k v3",
            "TTL k",
            "SET k v PX 100000",
            "TTL k",
            "SET k v EXAT 4102444800",
            "EXPIRETIME k",
            "SET k v PXAT 4102444800123",
            "PEXPIRETIME k",
            "SET k v EXAT 1",
            "GET k",
            "EXISTS k",
            "SET k v FOO",
            "SET",
            "SET k",
            "GET",
            "GET a b",
            "RPUSH list a",
            "GET list",
            "SET list v GET",
            "SET list v",
            "TYPE list",
            "SETNX sn 1",
            "SETNX sn 2",
            "GET sn",
            "SETNX sn",
            "SETEX se 100 v",
            "TTL se",
            "SETEX se 0 v",
            "SETEX se -5 v",
            "SETEX se abc v",
            "SETEX se 100",
            "PSETEX pse 100000 v",
            "TTL pse",
            "PSETEX pse 0 v",
            "PSETEX pse x v",
        ],
    );
    p.check(&[b"SET", b"", b""]);
    p.check(&[b"GET", b""]);
    p.check(&[b"SET", b"bin", b"a\r\nb\x00c"]);
    p.check(&[b"GET", b"bin"]);
}

#[test]
fn getset_getdel_getex_mget_mset() {
    let Some(mut p) = pair() else { return };
    checks(
        &mut p,
        &[
            "GETSET gs 1",
            "GETSET gs 2",
            "GET gs",
            "SET gs v EX 100",
            "GETSET gs w",
            "TTL gs",
            "RPUSH l a",
            "GETSET l x",
            "GETSET gs",
            "GETDEL gs",
            "GETDEL gs",
            "EXISTS gs",
            "GETDEL l",
            "GETDEL",
            "SET ge v",
            "GETEX ge",
            "GETEX ge EX 100",
            "TTL ge",
            "GETEX ge PERSIST",
            "TTL ge",
            "GETEX ge PX 100000",
            "TTL ge",
            "GETEX ge EXAT 4102444800",
            "EXPIRETIME ge",
            "GETEX ge PXAT 4102444800000",
            "PEXPIRETIME ge",
            "GETEX ge EX 0",
            "GETEX ge EX -1",
            "GETEX ge EX abc",
            "GETEX ge PERSIST EX 10",
            "GETEX ge EX 10 PERSIST",
            "GETEX ge NX",
            "GETEX ge KEEPTTL",
            "GETEX ge GET",
            "GETEX ge EX",
            "GETEX ge FOO",
            "GETEX missing EX 10",
            "GETEX missing EX -1",
            "GETEX missing FOO",
            "GETEX l EX 10",
            "GETEX l EX -1",
            "GETEX ge EXAT 1",
            "EXISTS ge",
            "GETEX",
            "MSET a 1 b 2 c 3",
            "MGET a b c d l",
            "MGET a",
            "MGET",
            "MSET a",
            "MSET a 1 b",
            "MSET a 1 a 2",
            "GET a",
            "MSETNX a 1 x 2",
            "EXISTS x",
            "MSETNX x 1 y 2",
            "MGET x y",
            "MSETNX x",
            "MSETNX z 1 z",
            "SET t v EX 100",
            "MSET t v2",
            "TTL t",
        ],
    );
}

#[test]
fn append_strlen_ranges() {
    let Some(mut p) = pair() else { return };
    checks(
        &mut p,
        &[
            "APPEND a hello",
            "APPEND a world",
            "GET a",
            "STRLEN a",
            "STRLEN missing",
            "RPUSH l x",
            "APPEND l x",
            "STRLEN l",
            "SET n 12",
            "APPEND n 34",
            "GET n",
            "INCR n",
            "SET t v EX 100",
            "APPEND t w",
            "TTL t",
            "SET s Hello_World",
            "GETRANGE s 0 4",
            "GETRANGE s -5 -1",
            "GETRANGE s -1 -5",
            "GETRANGE s 5 2",
            "GETRANGE s 0 -1",
            "GETRANGE s 0 100",
            "GETRANGE s -100 2",
            "GETRANGE s 100 200",
            "GETRANGE s -9223372036854775808 9223372036854775807",
            "GETRANGE s a 1",
            "GETRANGE s 1 b",
            "GETRANGE missing 0 -1",
            "GETRANGE l 0 -1",
            "SUBSTR s 1 3",
            "SET e \"\"",
            "SETRANGE s 6 Redis",
            "GET s",
            "SETRANGE s 20 X",
            "GET s",
            "STRLEN s",
            "SETRANGE s 0 \"\"",
            "SETRANGE sr 5 abc",
            "GET sr",
            "SETRANGE none 5 \"\"",
            "SETRANGE s -1 x",
            "SETRANGE s x x",
            "SETRANGE l 0 x",
            "SETRANGE s 536870912 x",
            "SETRANGE s2 536870912 x",
            "SETRANGE s 9223372036854775807 x",
            "SETRANGE t 0 Z",
            "TTL t",
            "GETRANGE n 0 1",
        ],
    );
    p.check(&[b"SETRANGE", b"s", b"0", b""]);
    p.check(&[b"SETRANGE", b"zz", b"3", b""]);
    p.check(&[b"EXISTS", b"zz"]);
    p.check(&[b"APPEND", b"emp", b""]);
    p.check(&[b"GET", b"emp"]);
}

#[test]
fn counters() {
    let Some(mut p) = pair() else { return };
    checks(
        &mut p,
        &[
            "INCR c",
            "INCR c",
            "DECR c",
            "DECR d",
            "INCRBY c 10",
            "INCRBY c -20",
            "DECRBY c 5",
            "DECRBY c -5",
            "INCRBY c abc",
            "INCRBY c 1.5",
            "DECRBY c -9223372036854775808",
            "DECRBY c 9223372036854775808",
            "SET big 9223372036854775807",
            "INCR big",
            "INCRBY big 0",
            "SET small -9223372036854775808",
            "DECR small",
            "DECRBY small 1",
            "SET s abc",
            "INCR s",
            "SET s \" 1\"",
            "INCR s",
            "SET s 01",
            "INCR s",
            "SET s -0",
            "INCR s",
            "SET s 1.0",
            "INCR s",
            "SET s 99999999999999999999",
            "INCR s",
            "RPUSH l a",
            "INCR l",
            "INCRBY l abc",
            "DECRBY l abc",
            "SET t 5 EX 100",
            "INCR t",
            "TTL t",
            "INCR",
            "INCRBY c",
            "SET i 10",
            "OBJECT ENCODING i",
            "INCR i",
            "OBJECT ENCODING i",
            "GET i",
        ],
    );
}

#[test]
fn incrbyfloat_matches_long_double() {
    let Some(mut p) = pair() else { return };
    checks(
        &mut p,
        &[
            "SET f 10.5",
            "INCRBYFLOAT f 0.1",
            "INCRBYFLOAT f -5.0e3",
            "INCRBYFLOAT f 1e-10",
            "INCRBYFLOAT f 3.14159265358979323846",
            "INCRBYFLOAT nf 0.1",
            "INCRBYFLOAT nf 0.2",
            "INCRBYFLOAT nf 0.3",
            "INCRBYFLOAT nf -0.6",
            "INCRBYFLOAT z 5.0e3",
            "INCRBYFLOAT z 2.0e2",
            "INCRBYFLOAT z 1e400",
            "INCRBYFLOAT z -1e400",
            "INCRBYFLOAT t 1e308",
            "INCRBYFLOAT t 1e308",
            "INCRBYFLOAT f inf",
            "INCRBYFLOAT f -inf",
            "INCRBYFLOAT f +inf",
            "INCRBYFLOAT f nan",
            "INCRBYFLOAT f abc",
            "INCRBYFLOAT f 1e5000",
            "INCRBYFLOAT f 1e-5000",
            "INCRBYFLOAT f 0x1p3",
            "INCRBYFLOAT f .5",
            "INCRBYFLOAT f 5.",
            "INCRBYFLOAT f 1e",
            "INCRBYFLOAT f 1e+2",
            "INCRBYFLOAT f +1.25",
            "INCRBYFLOAT f 0.00000000000000001",
            "INCRBYFLOAT f 0.000000000000000001",
            "INCRBYFLOAT g 0.000000000000000001",
            "INCRBYFLOAT g -0.000000000000000009",
            "INCRBYFLOAT h 123456789012345678901234567890",
            "INCRBYFLOAT h 0.5",
            "INCRBYFLOAT i 9223372036854775807",
            "INCRBYFLOAT i 1",
            "INCRBYFLOAT j 1.7976931348623157e308",
            "INCRBYFLOAT k 2.5",
            "INCRBYFLOAT k 0.0000000000000000125",
            "SET s abc",
            "INCRBYFLOAT s 1",
            "SET s 1e5000",
            "INCRBYFLOAT s 1",
            "RPUSH l a",
            "INCRBYFLOAT l 1",
            "INCRBYFLOAT l x",
            "SET t 1 EX 100",
            "INCRBYFLOAT t 1.5",
            "TTL t",
            "INCRBYFLOAT",
        ],
    );
    p.check(&[b"INCRBYFLOAT", b"f", b" 1"]);
    p.check(&[b"INCRBYFLOAT", b"f", b"1 "]);
    p.check(&[b"INCRBYFLOAT", b"f", b""]);
    // A spread of values: sums of "random" decimals must print identically.
    let vals = [
        "0.1",
        "0.7",
        "-3.3",
        "1234.5678",
        "1e-7",
        "99.99",
        "-0.001",
        "7e15",
        "-7e15",
        "0.3",
        "1e20",
        "-1e20",
        "2.2250738585072014e-308",
        "33.333333333333333333",
    ];
    for (i, v) in vals.iter().enumerate() {
        for w in vals.iter().skip(i) {
            p.check_str(&format!("SET fx {v}"));
            p.check_str(&format!("INCRBYFLOAT fx {w}"));
        }
    }
}

#[test]
fn lcs() {
    let Some(mut p) = pair() else { return };
    checks(
        &mut p,
        &[
            "MSET key1{t} ohmytext key2{t} mynewtext",
            "LCS key1{t} key2{t}",
            "LCS key1{t} key2{t} LEN",
            "LCS key1{t} key2{t} IDX",
            "LCS key1{t} key2{t} IDX MINMATCHLEN 4",
            "LCS key1{t} key2{t} IDX MINMATCHLEN 4 WITHMATCHLEN",
            "LCS key1{t} key2{t} IDX WITHMATCHLEN",
            "LCS key1{t} key2{t} IDX MINMATCHLEN -5",
            "LCS key1{t} key2{t} IDX LEN",
            "LCS key1{t} key2{t} LEN IDX",
            "LCS key1{t} key2{t} MINMATCHLEN",
            "LCS key1{t} key2{t} MINMATCHLEN x",
            "LCS key1{t} key2{t} FOO",
            "LCS key1{t} nokey",
            "LCS nokey key1{t}",
            "LCS nokey nokey2 IDX",
            "LCS nokey nokey2 LEN",
            "RPUSH l a",
            "LCS key1{t} l",
            "LCS l key1{t}",
            "LCS l l FOO",
            "MSET a ACCGGTCGAGTGCGCGGAAGCCGGCCGAA b GTCGTTCGGAATGCCGTTGCTCTGTAAA",
            "LCS a b",
            "LCS a b IDX WITHMATCHLEN",
            "LCS a b IDX MINMATCHLEN 2 WITHMATCHLEN",
            "LCS a a IDX",
            "LCS",
            "LCS a",
        ],
    );
    // Keys in different shards.
    for i in 0..10 {
        p.check_str(&format!("SET x{i} abcdef{i}xyz"));
    }
    for i in 0..9 {
        p.check_str(&format!("LCS x{i} x{} IDX WITHMATCHLEN", i + 1));
    }
}

#[test]
fn resp3_replies() {
    let Some(mut p) = pair() else { return };
    let (a, b) = p.both(&[b"HELLO", b"3"]);
    if a.starts_with(b"-") {
        eprintln!("HELLO not supported yet: skipping RESP3 checks");
        return;
    }
    drop(b);
    checks(
        &mut p,
        &[
            "GET missing",
            "SET k v",
            "SET k v NX",
            "SET k2 v XX",
            "SET k w GET",
            "GETEX missing",
            "GETDEL missing",
            "MGET k missing",
            "MSET a ohmytext b mynewtext",
            "LCS a b IDX WITHMATCHLEN",
            "LCS a b IDX",
            "LCS a b LEN",
            "INCRBYFLOAT f 1.5",
            "TYPE k",
            "TYPE missing",
            "OBJECT ENCODING missing",
            "OBJECT ENCODING k",
            "OBJECT HELP",
            "TTL k",
            "EXISTS k a b",
            "SCAN 0 MATCH nomatch*",
            "KEYS nomatch*",
            "COPY k k9",
            "FLUSHDB",
            "RANDOMKEY",
        ],
    );
}

#[test]
fn del_exists_touch_type_unlink() {
    let Some(mut p) = pair() else { return };
    checks(
        &mut p,
        &[
            "MSET a 1 b 2 c 3",
            "EXISTS a b c d",
            "EXISTS a a a",
            "TOUCH a b d",
            "DEL a d",
            "DEL a",
            "UNLINK b c d",
            "EXISTS a b c",
            "DEL",
            "EXISTS",
            "UNLINK",
            "TOUCH",
            "SET s v",
            "RPUSH l a",
            "TYPE s",
            "TYPE l",
            "TYPE missing",
            "TYPE",
            "TYPE a b",
            "SET e v PX 1",
        ],
    );
    std::thread::sleep(std::time::Duration::from_millis(20));
    checks(&mut p, &["EXISTS e", "TYPE e", "DEL e", "TOUCH e"]);
    // Many keys across shards in one DEL.
    let keys: Vec<String> = (0..50).map(|i| format!("m{i}")).collect();
    let mset = format!(
        "MSET {}",
        keys.iter()
            .map(|k| format!("{k} v"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    p.check_str(&mset);
    p.check_str(&format!("EXISTS {} nope", keys.join(" ")));
    p.check_str(&format!("DEL {} nope", keys.join(" ")));
    p.check_str("DBSIZE");
}

#[test]
fn expire_family() {
    let Some(mut p) = pair() else { return };
    checks(
        &mut p,
        &[
            "SET k v",
            "TTL k",
            "PTTL k",
            "EXPIRETIME k",
            "PEXPIRETIME k",
            "TTL missing",
            "PTTL missing",
            "EXPIRETIME missing",
            "PEXPIRETIME missing",
            "EXPIRE missing 100",
            "EXPIRE k 100",
            "TTL k",
            "EXPIRE k 100 NX",
            "EXPIRE k 200 XX",
            "TTL k",
            "EXPIRE k 100 GT",
            "EXPIRE k 300 GT",
            "TTL k",
            "EXPIRE k 400 LT",
            "EXPIRE k 200 LT",
            "TTL k",
            "EXPIRE k 500 XX GT",
            "TTL k",
            "EXPIRE k 10 nx xx",
            "EXPIRE k 10 NX GT",
            "EXPIRE k 10 NX LT",
            "EXPIRE k 10 GT LT",
            "EXPIRE k 10 FOO",
            "EXPIRE k 10 XX FOO",
            "EXPIRE k abc",
            "EXPIRE k abc FOO",
            "EXPIRE k 1.5",
            "EXPIRE k 9223372036854775807",
            "EXPIRE k -9223372036854775808",
            "EXPIRE k 9223372036854775",
            "PEXPIRE k 9223372036854775807",
            "PEXPIREAT k 9223372036854775807",
            "PEXPIRETIME k",
            "EXPIREAT k 9223372036854775",
            "EXPIREAT k 9223372036854776",
            "EXPIREAT k 4102444800",
            "EXPIRETIME k",
            "PEXPIRETIME k",
            "PEXPIREAT k 4102444800555",
            "EXPIRETIME k",
            "PEXPIRETIME k",
            "PEXPIREAT k 4102444800499",
            "EXPIRETIME k",
            "PEXPIRE k 100000",
            "TTL k",
            "PERSIST k",
            "PERSIST k",
            "TTL k",
            "PERSIST missing",
            "SET n v",
            "EXPIRE n 100 XX",
            "EXPIRE n 100 GT",
            "EXPIRE n 100 LT",
            "TTL n",
            "SET n v",
            "EXPIRE n 0 LT",
            "EXISTS n",
            "SET n v",
            "EXPIRE n -1",
            "EXISTS n",
            "SET n v",
            "PEXPIRE n 0",
            "EXISTS n",
            "SET n v",
            "EXPIREAT n 1",
            "EXISTS n",
            "SET n v",
            "PEXPIREAT n 0",
            "EXISTS n",
            "SET n v",
            "EXPIREAT n -5",
            "EXISTS n",
            "SET n v EX 100",
            "EXPIRE n -1 GT",
            "EXISTS n",
            "EXPIRE n -1 NX",
            "EXPIRE n -1 LT",
            "EXISTS n",
            "RPUSH l a",
            "EXPIRE l 100",
            "TTL l",
            "EXPIRE",
            "EXPIRE k",
            "TTL",
            "PERSIST",
        ],
    );
    // A short TTL really expires.
    checks(&mut p, &["SET short v PX 30", "EXISTS short"]);
    std::thread::sleep(std::time::Duration::from_millis(60));
    checks(
        &mut p,
        &["EXISTS short", "TTL short", "GET short", "DBSIZE"],
    );
    // PTTL is time-dependent: check it is close on ferrocache.
    let (a, _) = p.both(&[b"PEXPIRE", b"k", b"100000"]);
    assert_eq!(a, b":1\r\n");
    let (a, _) = p.both(&[b"PTTL", b"k"]);
    match resp(&a) {
        Resp::Int(n) => assert!((99_000..=100_000).contains(&n), "pttl {n}"),
        other => panic!("pttl {other:?}"),
    }
}

#[test]
fn keys_scan_randomkey_dbsize() {
    let Some(mut p) = pair() else { return };
    checks(&mut p, &["DBSIZE", "RANDOMKEY", "KEYS *", "SCAN 0"]);
    for i in 0..200 {
        p.check_str(&format!("SET key:{i} v"));
    }
    for i in 0..20 {
        p.check_str(&format!("RPUSH list:{i} v"));
    }
    p.check_str("DBSIZE");
    check_sorted(&mut p, "KEYS *");
    check_sorted(&mut p, "KEYS key:1*");
    check_sorted(&mut p, "KEYS list:?");
    check_sorted(&mut p, "KEYS *[2-3]");
    check_sorted(&mut p, "KEYS nomatch");
    // A COUNT bigger than the keyspace returns everything at once.
    check_sorted(&mut p, "SCAN 0 COUNT 100000");
    check_sorted(&mut p, "SCAN 0 COUNT 100000 MATCH key:1*");
    check_sorted(&mut p, "SCAN 0 COUNT 100000 TYPE list");
    check_sorted(&mut p, "SCAN 0 COUNT 100000 TYPE LIST");
    check_sorted(&mut p, "SCAN 0 COUNT 100000 TYPE string MATCH *1*");
    check_sorted(&mut p, "SCAN 0 COUNT 100000 TYPE nosuchtype");
    checks(
        &mut p,
        &[
            "SCAN 0 COUNT 0",
            "SCAN 0 COUNT -1",
            "SCAN 0 COUNT abc",
            "SCAN 0 COUNT",
            "SCAN 0 MATCH",
            "SCAN 0 FOO bar",
            "SCAN abc",
            "SCAN 1.5",
            "SCAN \" 1\"",
            "SCAN 18446744073709551616",
            "SCAN",
            "KEYS",
            "KEYS a b",
            "DBSIZE x",
            "RANDOMKEY x",
        ],
    );
    // RANDOMKEY returns an existing key.
    for _ in 0..20 {
        let (a, _) = p.both(&[b"RANDOMKEY"]);
        let Resp::Bulk(Some(k)) = resp(&a) else {
            panic!("randomkey {a:?}")
        };
        let (e, _) = p.both(&[b"EXISTS", &k]);
        assert_eq!(e, b":1\r\n");
    }
    // Expired keys are not listed.
    checks(&mut p, &["SET gone v PX 1"]);
    std::thread::sleep(std::time::Duration::from_millis(20));
    check_sorted(&mut p, "KEYS g*");
    check_sorted(&mut p, "SCAN 0 COUNT 100000 MATCH g*");
    // Other databases are separate.
    checks(
        &mut p,
        &["SELECT 1", "DBSIZE", "RANDOMKEY", "KEYS *", "SELECT 0"],
    );
}

/// Full SCAN iteration on ferrocache alone, collecting a set.
fn scan_all(r: &mut RespReader, extra: &[&str]) -> HashSet<Vec<u8>> {
    let mut seen = HashSet::new();
    let mut cursor = b"0".to_vec();
    loop {
        let mut a: Vec<&[u8]> = vec![b"SCAN", &cursor];
        a.extend(extra.iter().map(|s| s.as_bytes()));
        let reply = r.call(&a);
        let Resp::Array(Some(v)) = resp(&reply) else {
            panic!("scan reply {reply:?}")
        };
        let [Resp::Bulk(Some(c)), Resp::Array(Some(keys))] = &v[..] else {
            panic!("scan shape {v:?}")
        };
        for k in keys {
            if let Resp::Bulk(Some(k)) = k {
                seen.insert(k.clone());
            }
        }
        cursor = c.clone();
        if cursor == b"0" {
            break;
        }
    }
    seen
}

#[test]
fn scan_spans_all_shards_under_churn() {
    let node = common::start_ferrocache(&["--threads", "4"]);
    let mut r = RespReader::new(node.raw());
    let mut w = RespReader::new(node.raw());
    let n = 3000;
    for i in 0..n {
        let k = format!("k:{i}");
        if i % 3 == 0 {
            w.call(&[b"RPUSH", k.as_bytes(), b"x"]);
        } else {
            w.call(&[b"SET", k.as_bytes(), b"v"]);
        }
    }
    // Static keyspace: exact sets, with and without filters.
    let all: HashSet<Vec<u8>> = (0..n).map(|i| format!("k:{i}").into_bytes()).collect();
    assert_eq!(scan_all(&mut r, &[]), all);
    assert_eq!(scan_all(&mut r, &["COUNT", "7"]), all);
    assert_eq!(scan_all(&mut r, &["COUNT", "1"]), all);
    let lists: HashSet<Vec<u8>> = (0..n)
        .filter(|i| i % 3 == 0)
        .map(|i| format!("k:{i}").into_bytes())
        .collect();
    assert_eq!(scan_all(&mut r, &["TYPE", "list", "COUNT", "50"]), lists);
    let m: HashSet<Vec<u8>> = (0..n)
        .filter(|i| i.to_string().starts_with("12"))
        .map(|i| format!("k:{i}").into_bytes())
        .collect();
    assert_eq!(scan_all(&mut r, &["MATCH", "k:12*", "COUNT", "33"]), m);
    let ms: HashSet<Vec<u8>> = m.iter().filter(|k| !lists.contains(*k)).cloned().collect();
    assert_eq!(scan_all(&mut r, &["MATCH", "k:12*", "TYPE", "string"]), ms);

    // Churn: between SCAN calls delete some keys and add new ones. Every key
    // present for the whole scan must be returned; deleted keys that were
    // never returned and new keys may or may not be.
    let mut seen = BTreeSet::new();
    let mut cursor = b"0".to_vec();
    let mut deleted = HashSet::new();
    let mut added = HashSet::new();
    let mut round = 0usize;
    loop {
        let reply = r.call(&[b"SCAN", &cursor, b"COUNT", b"25"]);
        let Resp::Array(Some(v)) = resp(&reply) else {
            panic!("scan reply")
        };
        let [Resp::Bulk(Some(c)), Resp::Array(Some(keys))] = &v[..] else {
            panic!("scan shape")
        };
        for k in keys {
            if let Resp::Bulk(Some(k)) = k {
                seen.insert(k.clone());
            }
        }
        cursor = c.clone();
        round += 1;
        for j in 0..3 {
            let victim = format!("k:{}", (round * 37 + j * 11) % n).into_bytes();
            w.call(&[b"DEL", &victim]);
            deleted.insert(victim);
            let fresh = format!("new:{round}:{j}").into_bytes();
            w.call(&[b"SET", &fresh, b"v"]);
            added.insert(fresh);
        }
        if cursor == b"0" {
            break;
        }
        assert!(round < 100_000, "scan does not terminate");
    }
    for k in &all {
        if !deleted.contains(k) {
            assert!(seen.contains(k), "{} missing", String::from_utf8_lossy(k));
        }
    }
    for k in &seen {
        assert!(
            all.contains(k) || added.contains(k),
            "unexpected key {}",
            String::from_utf8_lossy(k)
        );
    }
}

#[test]
fn rename_copy_move() {
    let Some(mut p) = pair() else { return };
    checks(
        &mut p,
        &[
            "RENAME missing x",
            "RENAMENX missing x",
            "SET a 1",
            "RENAME a a",
            "RENAMENX a a",
            "RENAME a b",
            "EXISTS a b",
            "GET b",
            "SET c 3",
            "RENAMENX b c",
            "RENAMENX b d",
            "MGET b c d",
            "SET e 5 EX 100",
            "RENAME e f",
            "TTL f",
            "SET g 7",
            "RENAME g f",
            "TTL f",
            "GET f",
            "RPUSH l a b",
            "RENAME l l2",
            "TYPE l2",
            "LRANGE l2 0 -1",
            "RENAME",
            "RENAME a",
            "RENAME a b c",
            // COPY
            "COPY missing x",
            "SET s v EX 100",
            "COPY s s",
            "COPY s s2",
            "GET s2",
            "TTL s2",
            "COPY s s2",
            "SET s v2",
            "COPY s s2 REPLACE",
            "GET s2",
            "TTL s2",
            "COPY s s3 DB 1",
            "COPY s s DB 1",
            "COPY s s DB 0",
            "COPY s s2 DB 16",
            "COPY s s2 DB -1",
            "COPY s s2 DB abc",
            "COPY s s2 DB",
            "COPY s s2 FOO",
            "COPY s s2 REPLACE REPLACE",
            "COPY l2 lc",
            "LRANGE lc 0 -1",
            "RPUSH lc c",
            "LRANGE l2 0 -1",
            "SELECT 1",
            "GET s3",
            "GET s",
            "SELECT 0",
            // MOVE
            "MOVE missing 1",
            "MOVE s 0",
            "MOVE s 16",
            "MOVE s -1",
            "MOVE s abc",
            "MOVE s 1",
            "EXISTS s",
            "SET s again",
            "MOVE s 1",
            "SELECT 1",
            "GET s",
            "TTL s",
            "SELECT 0",
            "SET m v EX 100",
            "MOVE m 2",
            "SELECT 2",
            "TTL m",
            "SELECT 0",
            "MOVE",
        ],
    );
    // Many renames across shards.
    for i in 0..30 {
        p.check_str(&format!("SET r{i} v{i}"));
        p.check_str(&format!("RENAME r{i} rr{i}"));
        p.check_str(&format!("GET rr{i}"));
    }
}

#[test]
fn swapdb_flush() {
    let Some(mut p) = pair() else { return };
    checks(
        &mut p,
        &[
            "SET a 0",
            "SELECT 1",
            "SET b 1",
            "SET c 1",
            "SELECT 0",
            "SWAPDB 0 1",
            "DBSIZE",
            "MGET a b c",
            "SWAPDB 0 0",
            "SWAPDB 1 0",
            "MGET a b c",
            "SWAPDB 0 16",
            "SWAPDB -1 0",
            "SWAPDB abc 0",
            "SWAPDB 0 abc",
            "SWAPDB 99999999999 0",
            "SWAPDB",
            "SWAPDB 0",
            "FLUSHDB FOO",
            "FLUSHDB ASYNC SYNC",
            "FLUSHALL FOO",
            "FLUSHDB",
            "DBSIZE",
            "SELECT 1",
            "DBSIZE",
            "SELECT 0",
            "SET a 1",
            "FLUSHDB ASYNC",
            "DBSIZE",
            "SET a 1",
            "FLUSHDB sync",
            "DBSIZE",
            "SET a 1",
            "FLUSHALL",
            "SELECT 1",
            "DBSIZE",
            "SELECT 0",
            "DBSIZE",
            "SET a 1",
            "FLUSHALL ASYNC",
            "DBSIZE",
            "FLUSHALL SYNC",
        ],
    );
}

#[test]
fn object_subcommands() {
    let Some(mut p) = pair() else { return };
    checks(
        &mut p,
        &[
            "SET i 123",
            "SET neg -5",
            "SET big 12345678901234567890",
            "SET e hello",
            "SET lead 0123",
            "OBJECT ENCODING i",
            "OBJECT ENCODING neg",
            "OBJECT ENCODING big",
            "OBJECT ENCODING e",
            "OBJECT ENCODING lead",
            "OBJECT ENCODING missing",
            "OBJECT REFCOUNT i",
            "OBJECT REFCOUNT e",
            "OBJECT REFCOUNT neg",
            "OBJECT REFCOUNT missing",
            "OBJECT IDLETIME e",
            "OBJECT IDLETIME missing",
            "OBJECT FREQ e",
            "OBJECT FREQ missing",
            "OBJECT HELP",
            "object help",
            "OBJECT HELP x",
            "OBJECT FOO",
            "OBJECT FOO k",
            "OBJECT",
            "OBJECT ENCODING",
            "OBJECT ENCODING a b",
            "SET s 1234567890123456789012345678901234567890abcd",
            "OBJECT ENCODING s",
            "SET s 1234567890123456789012345678901234567890abcde",
            "OBJECT ENCODING s",
            "SET n 9999",
            "OBJECT REFCOUNT n",
            "SET n 10000",
            "OBJECT REFCOUNT n",
        ],
    );
}

#[test]
fn object_freq_under_lfu() {
    let Some(redis) = common::start_redis_server(&["--maxmemory-policy", "allkeys-lfu"]) else {
        return;
    };
    let fc = common::start_ferrocache(&["--threads", "2", "--maxmemory-policy", "allkeys-lfu"]);
    let mut p = Pair {
        fc: RespReader::new(fc.raw()),
        redis: RespReader::new(redis.raw()),
        fc_node: fc,
        redis_node: redis,
    };
    checks(
        &mut p,
        &[
            "SET k v",
            "OBJECT FREQ missing",
            "OBJECT IDLETIME k",
            "OBJECT IDLETIME missing",
        ],
    );
    let (a, b) = p.both(&[b"OBJECT", b"FREQ", b"k"]);
    assert!(matches!(resp(&a), Resp::Int(0..=255)), "{a:?}");
    assert!(matches!(resp(&b), Resp::Int(0..=255)), "{b:?}");
}

#[test]
fn sort_lists_sets_zsets() {
    let Some(mut p) = pair() else { return };
    checks(
        &mut p,
        &[
            "RPUSH l 3 1 2 10 -5 2.5 1e2",
            "SORT l",
            "SORT l DESC",
            "SORT l ASC",
            "SORT l LIMIT 1 3",
            "SORT l LIMIT 1 3 DESC",
            "SORT l LIMIT -5 2",
            "SORT l LIMIT 5 100",
            "SORT l LIMIT 100 5",
            "SORT l LIMIT 0 0",
            "SORT l LIMIT 2 -1",
            "SORT l LIMIT a 1",
            "SORT l LIMIT 1",
            "SORT l ALPHA",
            "SORT l ALPHA DESC",
            "SORT l BY nosort",
            "SORT l BY nosort DESC",
            "SORT l BY nosort LIMIT 1 2",
            "SORT l BY nosort DESC LIMIT 1 2",
            "SORT l BY nosort LIMIT 10 2",
            "SORT l FOO",
            "SORT l STORE",
            "SORT missing",
            "SORT missing ALPHA LIMIT 0 10",
            "SORT missing BY nosort",
            "RPUSH words banana apple cherry apple",
            "SORT words",
            "SORT words ALPHA",
            "SORT words ALPHA DESC LIMIT 0 2",
            "RPUSH blanks 2 \t1",
            "SORT blanks",
            "RPUSH bad 1 nan",
            "SORT bad",
            "RPUSH inf 1 inf -inf",
            "SORT inf",
            "RPUSH ties 1 01 1.0 +1",
            "SORT ties",
            "SORT ties DESC",
            "SET str v",
            "SORT str",
            "SORT str FOO",
            "HSET h f v",
            "SORT h",
            "SADD si 5 3 9 1",
            "SORT si",
            "SORT si DESC LIMIT 1 2",
            "SORT si BY nosort",
            "SADD ss b a c",
            "SORT ss ALPHA",
            "SORT ss",
            "ZADD z 1 c 2 a 3 b",
            "SORT z ALPHA",
            "SORT z BY nosort",
            "SORT z BY nosort DESC",
            "SORT z BY nosort LIMIT 1 5",
            "SORT z BY nosort DESC LIMIT 1 1",
            "SORT z",
            "ZADD zn 1 30 2 10 3 20",
            "SORT zn",
            "SORT zn BY nosort",
            "SORT_RO l",
            "SORT_RO l DESC LIMIT 0 3",
            "SORT_RO l STORE dst",
            "SORT_RO l ALPHA",
            "SORT_RO str",
            "SORT",
            "SORT_RO",
            // Out-of-range numbers last: Redis reads a stale `errno` after
            // them on the same connection.
            "RPUSH big 1 1e400",
            "SORT big",
            "RPUSH sub 1 1e-310",
            "SORT sub",
        ],
    );
    // A set's native order is unspecified: compare sorted.
    check_sorted(&mut p, "SORT ss BY nosort");
}

#[test]
fn sort_by_get_store() {
    let Some(mut p) = pair() else { return };
    checks(
        &mut p,
        &[
            "RPUSH ids 1 2 3 4",
            "MSET w_1 40 w_2 10 w_3 30",
            "MSET name_1 one name_2 two name_3 three name_4 four",
            "HSET obj_1 n a age 9",
            "HSET obj_2 n b age 7",
            "HSET obj_3 n c",
            "SORT ids BY w_*",
            "SORT ids BY w_* DESC",
            "SORT ids BY w_* LIMIT 1 2",
            "SORT ids BY w_* GET name_*",
            "SORT ids BY w_* GET # GET name_*",
            "SORT ids BY w_* GET name_* GET missing_* GET #",
            "SORT ids GET nostar",
            "SORT ids GET obj_*->n",
            "SORT ids GET obj_*->age",
            "SORT ids BY obj_*->age",
            "SORT ids BY obj_*->age DESC GET obj_*->n",
            "SORT ids BY obj_*-> GET obj_*->",
            "SORT ids BY name_* ALPHA",
            "SORT ids BY name_* ALPHA DESC GET #",
            "SORT ids BY name_* ALPHA GET name_*",
            "SORT ids BY name_*",
            "SORT ids BY w_* GET ids",
            "SORT ids BY nosort GET name_*",
            "SORT ids BY nosort GET # GET name_* DESC LIMIT 1 2",
            "SORT ids BY w_* STORE out",
            "LRANGE out 0 -1",
            "TYPE out",
            "SORT ids BY w_* GET name_* GET missing_* STORE out",
            "LRANGE out 0 -1",
            "SET out x EX 100",
            "SORT ids STORE out",
            "TTL out",
            "LRANGE out 0 -1",
            "SORT missing STORE out",
            "EXISTS out",
            "SORT ids STORE out LIMIT 0 0",
            "EXISTS out",
            "SORT ids STORE a STORE b",
            "EXISTS a b",
            "SADD s z y x",
            "SORT s BY nosort STORE sout",
            "LRANGE sout 0 -1",
            "SORT ids STORE ids",
            "LRANGE ids 0 -1",
            "SORT_RO ids BY w_* GET name_*",
            "SORT ids BY w_* GET",
            "SORT ids BY",
        ],
    );
}
