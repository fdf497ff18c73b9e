//! Differential tests of the geospatial commands against redis-server 7.0:
//! every reply must be byte-identical, including the order of search
//! results (unsorted scan order, ASC/DESC with ties, COUNT, ANY), distances
//! (`%.4f`), coordinates (`%.17Lf`-style) and geohashes.

mod common;

use common::Pair;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn pair() -> Option<Pair> {
    Pair::start(&["--threads", "2"])
}

fn run(p: &mut Pair, cmds: &[&str]) {
    for c in cmds {
        p.check_str(c);
    }
}

/// Send a command built from owned strings to both servers and compare.
fn check_owned(p: &mut Pair, parts: &[String]) {
    let refs: Vec<&[u8]> = parts.iter().map(|s| s.as_bytes()).collect();
    p.check(&refs);
}

const SICILY: &str = "GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania";

#[test]
fn geoadd_options_and_errors() {
    let Some(mut p) = pair() else { return };
    run(
        &mut p,
        &[
            SICILY,
            SICILY,
            "ZRANGE Sicily 0 -1 WITHSCORES",
            "GEOADD Sicily CH 13.361389 38.115556 Palermo 15 37 Catania 14 38 Messina",
            "GEOADD Sicily NX 1 1 Palermo 2 2 New",
            "GEOADD Sicily XX 1 1 Palermo 2 2 Other",
            "GEOADD Sicily XX CH 3 3 Palermo",
            "GEOADD Sicily CH XX 3 3 Palermo",
            "GEOADD Sicily CH NX CH 5 5 Palermo",
            "ZRANGE Sicily 0 -1 WITHSCORES",
            "GEOADD Sicily NX XX 1 1 a",
            "GEOADD Sicily GT 1 1 a",
            "GEOADD Sicily LT 1 1 a",
            "GEOADD Sicily INCR 1 1 a",
            "GEOADD Sicily 1 1",
            "GEOADD Sicily 1 1 a 2",
            "GEOADD Sicily 1 1 a 2 2",
            "GEOADD Sicily CH CH",
            "GEOADD Sicily NX NX NX",
            "GEOADD Sicily",
            "GEOADD",
            "GEOADD k 200 100 m",
            "GEOADD k 180.000001 0 m",
            "GEOADD k -180.000001 0 m",
            "GEOADD k 0 85.05112879 m",
            "GEOADD k 0 -85.05112879 m",
            "GEOADD k 0 85.05112878 top -180 -85.05112878 bottom 180 0 east -180 0 west",
            "ZRANGE k 0 -1 WITHSCORES",
            "GEOPOS k top bottom east west",
            "GEOHASH k top bottom east west",
            "GEOADD k inf 1 m",
            "GEOADD k -inf 1 m",
            "GEOADD k 1 inf m",
            "GEOADD k 1e300 1 m",
            "GEOADD k 1 1e-320 m",
            "GEOADD k 1 1e400 m",
            "GEOADD k x 1 m",
            "GEOADD k 1 x m",
            "GEOADD k 500 x m",
            "GEOADD k nan 1 m",
            "GEOADD k 1 1 ok 500 500 bad",
            "EXISTS k",
            "GEOADD k 1.5e1 -2.5E1 sci +3 -0 signs",
            "GEOPOS k sci signs",
            "GEOADD k 0x10 0x1.8p3 hex -0XA 0 hex2",
            "GEOPOS k hex hex2",
            "GEOADD k 0x 1 m",
            "GEORADIUS k 0x10 12 0x1p10 km WITHDIST",
            "GEOADD k 1e-400 1 m",
            "GEOADD nokey XX 1 1 a",
            "EXISTS nokey",
            "GEOADD nokey XX CH 1 1 a",
            "SET str v",
            "GEOADD str 1 1 a",
            "GEOADD str 500 1 a",
            "geoadd Lower nx ch 10 10 a",
            "TYPE Lower",
            "OBJECT ENCODING Lower",
        ],
    );
    // Members are binary-safe.
    p.check(&[b"GEOADD", b"bin", b"1", b"2", b"a\x00b\r\n"]);
    p.check(&[b"GEOPOS", b"bin", b"a\x00b\r\n"]);
    p.check(&[b"GEOADD", b"bin", b"1", b"2", b""]);
    p.check(&[b"GEOHASH", b"bin", b""]);
    // Leading/trailing white space and NUL bytes are not numbers.
    p.check(&[b"GEOADD", b"bin", b" 1", b"2", b"m"]);
    p.check(&[b"GEOADD", b"bin", b"1 ", b"2", b"m"]);
    p.check(&[b"GEOADD", b"bin", b"1\x00", b"2", b"m"]);
    p.check(&[b"GEORADIUS", b"bin", b"1", b"2", b"1\x002", b"km"]);
}

#[test]
fn geodist_geohash_geopos() {
    let Some(mut p) = pair() else { return };
    run(
        &mut p,
        &[
            SICILY,
            "GEOADD Sicily 13.583333 37.316667 Agrigento 0 0 origin 0.000001 0.000001 near",
            "GEODIST Sicily Palermo Catania",
            "GEODIST Sicily Palermo Catania m",
            "GEODIST Sicily Palermo Catania km",
            "GEODIST Sicily Palermo Catania KM",
            "GEODIST Sicily Palermo Catania mi",
            "GEODIST Sicily Palermo Catania Mi",
            "GEODIST Sicily Palermo Catania ft",
            "GEODIST Sicily Palermo Palermo",
            "GEODIST Sicily origin near",
            "GEODIST Sicily origin near ft",
            "GEODIST Sicily Palermo Catania yards",
            "GEODIST Sicily Palermo Catania km extra",
            "GEODIST Sicily Palermo nosuch",
            "GEODIST Sicily nosuch Palermo",
            "GEODIST Sicily nosuch Palermo badunit",
            "GEODIST nokey a b",
            "GEODIST nokey a b km",
            "GEODIST nokey a b badunit",
            "GEODIST Sicily Palermo",
            "GEOHASH Sicily Palermo Catania Agrigento origin near nosuch",
            "GEOHASH Sicily",
            "GEOHASH nokey a b",
            "GEOHASH nokey",
            "GEOPOS Sicily Palermo Catania Agrigento origin near nosuch",
            "GEOPOS Sicily",
            "GEOPOS nokey a b",
            "SET str v",
            "GEODIST str a b",
            "GEODIST str a b badunit",
            "GEOHASH str a",
            "GEOPOS str a",
            "GEOHASH",
            "GEOPOS",
            // Scores that are not geohashes decode as redis-server's
            // `(uint64_t)` conversion makes them.
            "ZADD weird -1 neg -0.5 halfneg 1e300 big inf pinf -inf ninf 3.5 frac 4503599627370496 two52",
            "ZADD weird 9223372036854775808 two63 1e19 e19 -1e19 me19 18446744073709551616 two64",
            "GEOPOS weird neg halfneg big pinf ninf frac two52 two63 e19 me19 two64",
            "GEOHASH weird neg halfneg big pinf ninf frac two52 two63 e19 me19 two64",
            "GEODIST weird neg big",
            "GEODIST weird frac two52 km",
            "GEODIST weird ninf two63",
        ],
    );
}

#[test]
fn search_errors_and_edge_cases() {
    let Some(mut p) = pair() else { return };
    run(
        &mut p,
        &[
            SICILY,
            "SET str v",
            // GEORADIUS
            "GEORADIUS Sicily 15 37 200 km",
            "GEORADIUS Sicily 15 37 200 km ASC",
            "GEORADIUS Sicily 15 37 200 km DESC",
            "GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH",
            "GEORADIUS Sicily 15 37 200 km withhash withcoord",
            "GEORADIUS Sicily 15 37 200 km COUNT 1",
            "GEORADIUS Sicily 15 37 200 km COUNT 1 DESC",
            "GEORADIUS Sicily 15 37 200 km COUNT 1 ANY",
            "GEORADIUS Sicily 15 37 200 km COUNT 5 ANY ASC",
            "GEORADIUS Sicily 15 37 200 km ANY",
            "GEORADIUS Sicily 15 37 200 km COUNT 0",
            "GEORADIUS Sicily 15 37 200 km COUNT -1",
            "GEORADIUS Sicily 15 37 200 km COUNT x",
            "GEORADIUS Sicily 15 37 200 km COUNT",
            "GEORADIUS Sicily 15 37 200 km STORE",
            "GEORADIUS Sicily 15 37 200 km bogus",
            "GEORADIUS Sicily 15 37 200 parsecs",
            "GEORADIUS Sicily 15 37 -1 km",
            "GEORADIUS Sicily 15 37 x km",
            "GEORADIUS Sicily 15 37 0 km",
            "GEORADIUS Sicily 15 37 inf km",
            "GEORADIUS Sicily 200 37 1 km",
            "GEORADIUS Sicily x 37 1 km",
            "GEORADIUS Sicily 15 37 1",
            "GEORADIUS nokey 15 37 1 km",
            "GEORADIUS nokey 200 37 1 km",
            "GEORADIUS str 15 37 1 km",
            "GEORADIUS str 200 37 1 km",
            "GEORADIUS Sicily 15 37 200 km WITHDIST STORE dst",
            "GEORADIUS Sicily 15 37 200 km STORE dst",
            "ZRANGE dst 0 -1 WITHSCORES",
            "GEORADIUS Sicily 15 37 200 km STOREDIST dst",
            "ZRANGE dst 0 -1 WITHSCORES",
            "GEORADIUS Sicily 15 37 200 mi STOREDIST dst COUNT 1",
            "ZRANGE dst 0 -1 WITHSCORES",
            "GEORADIUS Sicily 15 37 200 km STORE dst STOREDIST dst2",
            "ZRANGE dst2 0 -1 WITHSCORES",
            "GEORADIUS Sicily 0 0 1 km STORE dst2",
            "EXISTS dst2",
            "GEORADIUS nokey 0 0 1 km STORE dst",
            "EXISTS dst",
            "GEORADIUS Sicily 15 37 200 km STORE str",
            "TYPE str",
            "SET str v",
            "GEORADIUS Sicily 15 37 200 km STORE Sicily",
            "ZRANGE Sicily 0 -1 WITHSCORES",
            SICILY,
            // GEORADIUSBYMEMBER
            "GEORADIUSBYMEMBER Sicily Palermo 200 km",
            "GEORADIUSBYMEMBER Sicily Palermo 200 km WITHDIST ASC",
            "GEORADIUSBYMEMBER Sicily Palermo 200 km WITHDIST DESC COUNT 1",
            "GEORADIUSBYMEMBER Sicily nosuch 200 km",
            "GEORADIUSBYMEMBER Sicily nosuch x km",
            "GEORADIUSBYMEMBER Sicily Palermo x km",
            "GEORADIUSBYMEMBER Sicily Palermo 1 xx",
            "GEORADIUSBYMEMBER nokey nosuch x xx",
            "GEORADIUSBYMEMBER nokey nosuch x xx STORE d",
            "GEORADIUSBYMEMBER nokey nosuch x xx bogus",
            "GEORADIUSBYMEMBER nokey nosuch x xx ANY",
            "GEORADIUSBYMEMBER str Palermo 1 km",
            "GEORADIUSBYMEMBER Sicily Palermo 200 km STORE dst",
            "ZRANGE dst 0 -1 WITHSCORES",
            "GEORADIUSBYMEMBER Sicily Palermo 200 km STOREDIST dst",
            "ZRANGE dst 0 -1 WITHSCORES",
            "GEORADIUSBYMEMBER Sicily Palermo 200 km",
            // _RO variants refuse STORE
            "GEORADIUS_RO Sicily 15 37 200 km WITHDIST",
            "GEORADIUS_RO Sicily 15 37 200 km STORE dst",
            "GEORADIUS_RO Sicily 15 37 200 km STOREDIST dst",
            "GEORADIUSBYMEMBER_RO Sicily Palermo 200 km WITHCOORD",
            "GEORADIUSBYMEMBER_RO Sicily Palermo 200 km STORE dst",
            "GEORADIUSBYMEMBER_RO nokey Palermo 200 km",
            // GEOSEARCH
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC",
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST WITHHASH",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 400 400 km DESC",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 100 km",
            "GEOSEARCH Sicily FROMMEMBER nosuch BYRADIUS 100 km",
            "GEOSEARCH nokey FROMMEMBER nosuch BYRADIUS 100 km",
            "GEOSEARCH nokey FROMMEMBER nosuch BYRADIUS x km",
            "GEOSEARCH Sicily BYRADIUS 100 km",
            "geosearch Sicily BYRADIUS 100 km",
            "GeoSearch Sicily FROMMEMBER Palermo",
            "GEOSEARCH Sicily FROMMEMBER Palermo COUNT 1",
            "GEOSEARCH Sicily FROMMEMBER Palermo FROMLONLAT 1 1 BYRADIUS 1 km",
            "GEOSEARCH Sicily FROMLONLAT 1 1 FROMMEMBER Palermo BYRADIUS 1 km",
            "GEOSEARCH Sicily FROMMEMBER Palermo FROMMEMBER Catania BYRADIUS 1 km",
            "GEOSEARCH Sicily FROMLONLAT 1 1 FROMLONLAT 15 37 BYRADIUS 200 km",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 1 km BYBOX 1 1 km",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 1 1 km BYRADIUS 1 km",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 1 km BYRADIUS 500 km",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX -1 1 km",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 1 -1 km",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX x 1 km",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 1 x km",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 1 1 lightyears",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYBOX 1 1",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 1",
            "GEOSEARCH Sicily FROMLONLAT 1 BYRADIUS 1 km",
            "GEOSEARCH Sicily FROMLONLAT 500 1 BYRADIUS 1 km",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 500 km STORE dst",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 500 km STOREDIST",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 500 km ANY",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 500 km COUNT 1 ANY",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 500 km ANY COUNT 1 DESC",
            "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 500 km COUNT 0",
            "GEOSEARCH str FROMMEMBER Palermo BYRADIUS 500 km",
            "GEOSEARCH Sicily FROMLONLAT 0 0 BYRADIUS 1 m",
            // GEOSEARCHSTORE
            "GEOSEARCHSTORE dst Sicily FROMMEMBER Palermo BYRADIUS 500 km",
            "ZRANGE dst 0 -1 WITHSCORES",
            "GEOSEARCHSTORE dst Sicily FROMMEMBER Palermo BYRADIUS 500 km STOREDIST",
            "ZRANGE dst 0 -1 WITHSCORES",
            "GEOSEARCHSTORE dst Sicily FROMMEMBER Palermo BYBOX 500 500 mi STOREDIST DESC COUNT 1",
            "ZRANGE dst 0 -1 WITHSCORES",
            "GEOSEARCHSTORE dst Sicily FROMMEMBER Palermo BYRADIUS 500 km WITHDIST",
            "GEOSEARCHSTORE dst Sicily FROMMEMBER Palermo BYRADIUS 500 km STORE x",
            "GEOSEARCHSTORE dst Sicily FROMLONLAT 0 0 BYRADIUS 1 km",
            "EXISTS dst",
            "GEOSEARCHSTORE dst nokey FROMLONLAT 0 0 BYRADIUS 1 km",
            "GEOSEARCHSTORE dst nokey FROMMEMBER x BYRADIUS 1 km",
            "GEOSEARCHSTORE dst nokey BYRADIUS 1 km",
            "geosearchstore dst Sicily BYRADIUS 1 km",
            "GEOSEARCHSTORE dst Sicily FROMLONLAT 0 0",
            "GEOSEARCHSTORE dst str FROMLONLAT 0 0 BYRADIUS 1 km",
            "GEOSEARCHSTORE Sicily Sicily FROMMEMBER Palermo BYRADIUS 1 km",
            "ZRANGE Sicily 0 -1 WITHSCORES",
            "GEOSEARCHSTORE dst Sicily FROMLONLAT 0 0 BYRADIUS 1",
        ],
    );
}

#[test]
fn command_metadata() {
    let Some(mut p) = pair() else { return };
    for c in [
        "geoadd",
        "geodist",
        "geohash",
        "geopos",
        "georadius",
        "georadius_ro",
        "georadiusbymember",
        "georadiusbymember_ro",
        "geosearch",
        "geosearchstore",
    ] {
        p.check_str(&format!("COMMAND INFO {c}"));
    }
    run(
        &mut p,
        &[
            "COMMAND GETKEYS GEORADIUS k 0 0 1 m STORE a STOREDIST b",
            "COMMAND GETKEYS GEORADIUS k 0 0 1 m STOREDIST b STORE a",
            "COMMAND GETKEYS GEORADIUS k 0 0 1 m COUNT 2 STORE",
            "COMMAND GETKEYS GEORADIUS k 0 0 1 m",
            "COMMAND GETKEYS GEORADIUSBYMEMBER k m 1 m STORE a",
            "COMMAND GETKEYS GEOSEARCHSTORE d s FROMLONLAT 0 0 BYRADIUS 1 m",
            "COMMAND GETKEYS GEOADD k 1 1 m",
        ],
    );
}

#[test]
fn resp3_replies() {
    let Some(mut p) = pair() else { return };
    let (fc, _) = p.both(&[b"HELLO", b"3"]);
    if fc.first() == Some(&b'-') {
        eprintln!("ferrocache has no HELLO yet: skipping");
        return;
    }
    run(
        &mut p,
        &[
            SICILY,
            "GEOPOS Sicily Palermo nosuch Catania",
            "GEOPOS nokey a",
            "GEOHASH Sicily Palermo nosuch",
            "GEODIST Sicily Palermo Catania",
            "GEODIST Sicily Palermo nosuch",
            "GEODIST nokey a b",
            "GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH ASC",
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km WITHCOORD DESC",
            "GEOSEARCH Sicily FROMLONLAT 0 0 BYBOX 1 1 km WITHCOORD",
            "GEOSEARCH nokey FROMLONLAT 0 0 BYBOX 1 1 km",
            "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST",
            "ZRANGE dst 0 -1 WITHSCORES",
            "GEOADD Sicily CH 1 1 x",
        ],
    );
}

/// A random longitude/latitude as a decimal string, sometimes at the limits.
fn rand_lon(rng: &mut StdRng) -> String {
    match rng.gen_range(0..40) {
        0 => "180".into(),
        1 => "-180".into(),
        _ => format!("{:.6}", rng.gen_range(-180.0..=180.0)),
    }
}

fn rand_lat(rng: &mut StdRng) -> String {
    match rng.gen_range(0..40) {
        0 => "85.05112878".into(),
        1 => "-85.05112878".into(),
        2..=5 => format!("{:.6}", rng.gen_range(66.0..85.05)),
        6..=8 => format!("{:.6}", rng.gen_range(-85.05..-66.0)),
        _ => format!("{:.6}", rng.gen_range(-85.05..85.05)),
    }
}

/// A radius with its unit: 1 m to 5000 km, log-uniform.
fn rand_dist(rng: &mut StdRng) -> (String, &'static str) {
    let meters: f64 = 10f64.powf(rng.gen_range(0.0..6.699));
    let (unit, per) = match rng.gen_range(0..4) {
        0 => ("m", 1.0),
        1 => ("km", 1000.0),
        2 => ("ft", 0.3048),
        _ => ("mi", 1609.34),
    };
    (format!("{:.3}", meters / per), unit)
}

/// Points spread over the globe, plus clusters: a dense one (many members
/// per geohash cell), exact duplicates (equal distances: sort stability
/// and `pqsort` tie order), and a handful near the poles and the
/// antimeridian.
fn populate(p: &mut Pair, rng: &mut StdRng, key: &str, n: usize) -> Vec<String> {
    let mut members = Vec::new();
    let mut batch: Vec<String> = vec!["GEOADD".into(), key.into()];
    for i in 0..n {
        let name = format!("m{i}");
        let (lon, lat) = match i % 10 {
            0 => (
                format!("{:.6}", 2.35 + rng.gen_range(-0.05..0.05)),
                format!("{:.6}", 48.85 + rng.gen_range(-0.05..0.05)),
            ),
            1 => ("12.5".into(), "41.9".into()),
            2 => (
                format!(
                    "{:.4}",
                    rng.gen_range(179.0..=180.0) * if rng.gen_bool(0.5) { 1.0 } else { -1.0 }
                ),
                format!("{:.4}", rng.gen_range(-10.0..10.0)),
            ),
            _ => (rand_lon(rng), rand_lat(rng)),
        };
        batch.push(lon);
        batch.push(lat);
        batch.push(name.clone());
        members.push(name);
        if batch.len() > 300 {
            check_owned(p, &batch);
            batch.truncate(2);
        }
    }
    if batch.len() > 2 {
        check_owned(p, &batch);
    }
    members
}

fn rand_options(rng: &mut StdRng, out: &mut Vec<String>, store_ok: bool) {
    let mut opts: Vec<Vec<String>> = Vec::new();
    if !store_ok {
        if rng.gen_bool(0.4) {
            opts.push(vec!["WITHDIST".into()]);
        }
        if rng.gen_bool(0.3) {
            opts.push(vec!["WITHCOORD".into()]);
        }
        if rng.gen_bool(0.3) {
            opts.push(vec!["WITHHASH".into()]);
        }
    }
    match rng.gen_range(0..3) {
        0 => opts.push(vec!["ASC".into()]),
        1 => opts.push(vec!["DESC".into()]),
        _ => {}
    }
    if rng.gen_bool(0.5) {
        let c = if rng.gen_bool(0.5) {
            rng.gen_range(1..10)
        } else {
            rng.gen_range(1..500)
        };
        let mut v = vec!["COUNT".into(), c.to_string()];
        if rng.gen_bool(0.3) {
            v.push("ANY".into());
        }
        opts.push(v);
    }
    // Option order does not matter to Redis; shuffle to cover parsing.
    for i in (1..opts.len()).rev() {
        let j = rng.gen_range(0..=i);
        opts.swap(i, j);
    }
    for o in opts {
        out.extend(o);
    }
}

fn s(x: &str) -> String {
    x.to_string()
}

#[test]
fn random_points_and_queries() {
    let Some(mut p) = pair() else { return };
    let mut rng = StdRng::seed_from_u64(0x9e0_2024);
    // One small key (listpack encoding) and one large (skiplist).
    let small = populate(&mut p, &mut rng, "small", 100);
    let big = populate(&mut p, &mut rng, "big", 3000);
    p.check_str("OBJECT ENCODING small");
    p.check_str("OBJECT ENCODING big");
    p.check_str("ZRANGE big 0 -1 WITHSCORES");
    p.check_str("ZRANGE small 0 -1 WITHSCORES");

    let (mut total_bytes, mut nonempty) = (0usize, 0usize);
    for round in 0..2500 {
        let (key, members) = if round % 5 == 0 {
            ("small", &small)
        } else {
            ("big", &big)
        };
        let member = members[rng.gen_range(0..members.len())].clone();
        let mut cmd: Vec<String> = Vec::new();
        let kind = rng.gen_range(0..10);
        let mut store = None;
        match kind {
            0..=3 => {
                let dst = rng.gen_bool(0.15);
                if dst {
                    cmd.extend([s("GEOSEARCHSTORE"), s("dst"), s(key)]);
                    store = Some("dst");
                } else {
                    cmd.extend([s("GEOSEARCH"), s(key)]);
                }
                if rng.gen_bool(0.5) {
                    cmd.extend([s("FROMMEMBER"), member]);
                } else {
                    cmd.extend([s("FROMLONLAT"), rand_lon(&mut rng), rand_lat(&mut rng)]);
                }
                if rng.gen_bool(0.5) {
                    let (r, u) = rand_dist(&mut rng);
                    cmd.extend([s("BYRADIUS"), r, s(u)]);
                } else {
                    let (w, u) = rand_dist(&mut rng);
                    let (h, _) = rand_dist(&mut rng);
                    let hv: f64 = h.parse().unwrap_or(1.0);
                    let wv: f64 = w.parse().unwrap_or(1.0);
                    // Keep the box within 10000 km on a side.
                    let cap = |v: f64| {
                        if v > 5_000.0 && u != "m" && u != "ft" {
                            5_000.0
                        } else {
                            v
                        }
                    };
                    cmd.extend([
                        s("BYBOX"),
                        format!("{:.3}", 2.0 * cap(wv)),
                        format!("{:.3}", 2.0 * cap(hv)),
                        s(u),
                    ]);
                }
                rand_options(&mut rng, &mut cmd, dst);
                if dst && rng.gen_bool(0.5) {
                    cmd.push(s("STOREDIST"));
                }
            }
            4..=5 => {
                let ro = rng.gen_bool(0.3);
                cmd.push(s(if ro { "GEORADIUS_RO" } else { "GEORADIUS" }));
                cmd.extend([s(key), rand_lon(&mut rng), rand_lat(&mut rng)]);
                let (r, u) = rand_dist(&mut rng);
                cmd.extend([r, s(u)]);
                let st = !ro && rng.gen_bool(0.15);
                rand_options(&mut rng, &mut cmd, st);
                if st {
                    cmd.extend([
                        s(if rng.gen_bool(0.5) {
                            "STORE"
                        } else {
                            "STOREDIST"
                        }),
                        s("dst"),
                    ]);
                    store = Some("dst");
                }
            }
            6 => {
                let ro = rng.gen_bool(0.3);
                cmd.push(s(if ro {
                    "GEORADIUSBYMEMBER_RO"
                } else {
                    "GEORADIUSBYMEMBER"
                }));
                cmd.extend([s(key), member]);
                let (r, u) = rand_dist(&mut rng);
                cmd.extend([r, s(u)]);
                let st = !ro && rng.gen_bool(0.15);
                rand_options(&mut rng, &mut cmd, st);
                if st {
                    cmd.extend([
                        s(if rng.gen_bool(0.5) {
                            "STORE"
                        } else {
                            "STOREDIST"
                        }),
                        s("dst"),
                    ]);
                    store = Some("dst");
                }
            }
            7 => {
                let other = members[rng.gen_range(0..members.len())].clone();
                cmd.extend([s("GEODIST"), s(key), member, other]);
                match rng.gen_range(0..5) {
                    0 => cmd.push(s("km")),
                    1 => cmd.push(s("mi")),
                    2 => cmd.push(s("ft")),
                    3 => cmd.push(s("M")),
                    _ => {}
                }
            }
            8 => {
                cmd.extend([s("GEOPOS"), s(key)]);
                for _ in 0..rng.gen_range(1..20) {
                    cmd.push(members[rng.gen_range(0..members.len())].clone());
                }
                cmd.push(s("nosuch"));
            }
            _ => {
                cmd.extend([s("GEOHASH"), s(key)]);
                for _ in 0..rng.gen_range(1..20) {
                    cmd.push(members[rng.gen_range(0..members.len())].clone());
                }
            }
        }
        let refs: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        let (a, b) = p.both(&refs);
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "mismatch for {cmd:?}"
        );
        total_bytes += a.len();
        if a.len() > 40 {
            nonempty += 1;
        }
        if let Some(d) = store {
            p.check_str(&format!("ZRANGE {d} 0 -1 WITHSCORES"));
            p.check_str(&format!("OBJECT ENCODING {d}"));
        }
    }
    // The queries must exercise real result sets, not only empty replies.
    eprintln!("geo random: {total_bytes} reply bytes, {nonempty} non-trivial replies");
    assert!(nonempty > 700, "too few non-trivial replies: {nonempty}");
}

#[test]
fn huge_radii_and_poles() {
    let Some(mut p) = pair() else { return };
    let mut rng = StdRng::seed_from_u64(77);
    populate(&mut p, &mut rng, "g", 600);
    for lat in [
        "0",
        "45",
        "-45",
        "66.5",
        "-66.5",
        "80.5",
        "-80.5",
        "85.05112878",
        "-85.05112878",
    ] {
        for lon in ["0", "179.999", "-180", "180", "90"] {
            for r in ["1", "100", "5000", "9999", "20000", "40000"] {
                p.check_str(&format!("GEORADIUS g {lon} {lat} {r} km ASC WITHDIST"));
                p.check_str(&format!(
                    "GEOSEARCH g FROMLONLAT {lon} {lat} BYBOX {r} {r} km WITHDIST COUNT 7"
                ));
                p.check_str(&format!(
                    "GEOSEARCH g FROMLONLAT {lon} {lat} BYBOX {r} 10 km DESC WITHCOORD"
                ));
                p.check_str(&format!(
                    "GEOSEARCH g FROMLONLAT {lon} {lat} BYRADIUS {r} km COUNT 3 ANY WITHHASH"
                ));
            }
        }
    }
}

/// Many members at exactly the same distance: the order of ties must match
/// glibc's merge sort (all results) and Redis's `pqsort` (COUNT).
#[test]
fn equal_distance_ties() {
    let Some(mut p) = pair() else { return };
    let mut rng = StdRng::seed_from_u64(5);
    let mut cmd = vec![s("GEOADD"), s("t")];
    for i in 0..400 {
        // A few distinct positions, many members each, in random order.
        let (lon, lat) = match rng.gen_range(0..4) {
            0 => ("12.5", "41.9"),
            1 => ("12.51", "41.9"),
            2 => ("12.5", "41.91"),
            _ => ("12.49", "41.89"),
        };
        cmd.extend([
            s(lon),
            s(lat),
            format!("p{}", rng.gen_range(0..100_000) * 1000 + i),
        ]);
    }
    check_owned(&mut p, &cmd);
    for k in [
        1, 2, 5, 6, 7, 8, 40, 41, 99, 100, 101, 250, 399, 400, 401, 1000,
    ] {
        for order in ["ASC", "DESC"] {
            p.check_str(&format!(
                "GEOSEARCH t FROMLONLAT 12.5 41.9 BYRADIUS 10 km COUNT {k} {order} WITHDIST"
            ));
            p.check_str(&format!("GEORADIUS t 12.505 41.9 10 km COUNT {k} {order}"));
            p.check_str(&format!(
                "GEOSEARCH t FROMLONLAT 12.5 41.9 BYRADIUS 10 km COUNT {k} ANY {order}"
            ));
        }
    }
    run(
        &mut p,
        &[
            "GEOSEARCH t FROMLONLAT 12.5 41.9 BYRADIUS 10 km ASC",
            "GEOSEARCH t FROMLONLAT 12.5 41.9 BYRADIUS 10 km DESC",
            "GEOSEARCH t FROMLONLAT 12.5 41.9 BYRADIUS 10 km",
            "GEOSEARCHSTORE d t FROMLONLAT 12.5 41.9 BYRADIUS 10 km COUNT 17 STOREDIST",
            "ZRANGE d 0 -1 WITHSCORES",
        ],
    );
}
