//! Differential tests of the memcached binary protocol against Debian's
//! memcached 1.6 (every response frame compared, CAS compared for shape),
//! and libmemcached's `memccapable` conformance suite (ascii and binary)
//! against ferrocache.

mod mc_common;

use mc_common::{bin_req, Pair};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const GET: u8 = 0x00;
const SET: u8 = 0x01;
const ADD: u8 = 0x02;
const REPLACE: u8 = 0x03;
const DELETE: u8 = 0x04;
const INCR: u8 = 0x05;
const DECR: u8 = 0x06;
const FLUSH: u8 = 0x08;
const GETQ: u8 = 0x09;
const VERSION: u8 = 0x0b;
const GETK: u8 = 0x0c;
const GETKQ: u8 = 0x0d;
const APPEND: u8 = 0x0e;
const PREPEND: u8 = 0x0f;
const SETQ: u8 = 0x11;
const ADDQ: u8 = 0x12;
const DELETEQ: u8 = 0x14;
const INCRQ: u8 = 0x15;
const APPENDQ: u8 = 0x19;
const TOUCH: u8 = 0x1c;
const GAT: u8 = 0x1d;
const GATQ: u8 = 0x1e;
const GATK: u8 = 0x23;

fn set_extras(flags: u32, exp: u32) -> Vec<u8> {
    let mut e = flags.to_be_bytes().to_vec();
    e.extend_from_slice(&exp.to_be_bytes());
    e
}

fn incr_extras(delta: u64, initial: u64, exp: u32) -> Vec<u8> {
    let mut e = delta.to_be_bytes().to_vec();
    e.extend_from_slice(&initial.to_be_bytes());
    e.extend_from_slice(&exp.to_be_bytes());
    e
}

#[test]
fn binary_fixed_cases() {
    let Some(mut p) = Pair::start(&[], &[]) else {
        return;
    };
    let se = set_extras(7, 0);
    let cases: Vec<Vec<u8>> = vec![
        bin_req(VERSION, 1, 0, &[], b"", b""),
        bin_req(GET, 2, 0, &[], b"a", b""),
        bin_req(GETK, 3, 0, &[], b"a", b""),
        bin_req(GETQ, 4, 0, &[], b"a", b""),
        bin_req(GETKQ, 4, 0, &[], b"a", b""),
        bin_req(SET, 5, 0, &se, b"a", b"hello"),
        bin_req(GET, 6, 0, &[], b"a", b""),
        bin_req(GETK, 7, 0, &[], b"a", b""),
        bin_req(GETQ, 8, 0, &[], b"a", b""),
        bin_req(ADD, 9, 0, &se, b"a", b"x"),
        bin_req(ADDQ, 9, 0, &se, b"a", b"x"),
        bin_req(ADD, 10, 0, &se, b"b", b"x"),
        bin_req(REPLACE, 11, 0, &se, b"zz", b"x"),
        bin_req(REPLACE, 12, 0, &se, b"b", b"y"),
        bin_req(APPEND, 13, 0, &[], b"b", b"app"),
        bin_req(PREPEND, 14, 0, &[], b"b", b"pre"),
        bin_req(APPEND, 15, 0, &[], b"zz", b"app"),
        bin_req(APPENDQ, 15, 0, &[], b"zz", b"app"),
        bin_req(GET, 16, 0, &[], b"b", b""),
        bin_req(SET, 17, 1, &se, b"b", b"cas-mismatch"),
        bin_req(SET, 17, 1, &se, b"nokey", b"cas-missing"),
        bin_req(DELETE, 18, 0, &[], b"b", b""),
        bin_req(DELETE, 19, 0, &[], b"b", b""),
        bin_req(DELETEQ, 19, 0, &[], b"b", b""),
        bin_req(SETQ, 20, 0, &se, b"n", b"10"),
        bin_req(INCR, 21, 0, &incr_extras(5, 0, 0), b"n", b""),
        bin_req(DECR, 22, 0, &incr_extras(100, 0, 0), b"n", b""),
        bin_req(INCR, 23, 0, &incr_extras(1, 42, 0), b"newc", b""),
        bin_req(INCR, 24, 0, &incr_extras(1, 42, 0xffff_ffff), b"nope", b""),
        bin_req(INCRQ, 25, 0, &incr_extras(1, 0, 0), b"newc", b""),
        bin_req(GET, 26, 0, &[], b"newc", b""),
        bin_req(INCR, 27, 0, &incr_extras(1, 0, 0), b"a", b""),
        bin_req(TOUCH, 28, 0, &100u32.to_be_bytes(), b"a", b""),
        bin_req(TOUCH, 29, 0, &100u32.to_be_bytes(), b"zz", b""),
        bin_req(GAT, 30, 0, &100u32.to_be_bytes(), b"a", b""),
        bin_req(GATK, 31, 0, &100u32.to_be_bytes(), b"a", b""),
        bin_req(GATQ, 32, 0, &100u32.to_be_bytes(), b"zz", b""),
        bin_req(GATK, 33, 0, &100u32.to_be_bytes(), b"zz", b""),
        bin_req(0x55, 35, 0, &[], b"", b"junk"),
        bin_req(0x20, 36, 0, &[], b"", b""),
        bin_req(SET, 37, 0, &set_extras(0, u32::MAX), b"far", b"v"),
        bin_req(GET, 38, 0, &[], b"far", b""),
        bin_req(FLUSH, 39, 0, &[], b"", b""),
        bin_req(GET, 40, 0, &[], b"a", b""),
        bin_req(GET, 41, 0, &[], b"AmazonElastiCache:clusterX", b""),
    ];
    for c in &cases {
        p.check_bin(c);
    }
    // Too large: refused, the value is swallowed, the connection goes on.
    let big = vec![b'x'; 1024 * 1024 + 10];
    p.check_bin(&bin_req(SET, 50, 0, &se, b"big", &big));
    p.check_bin(&bin_req(GET, 51, 0, &[], b"big", b""));
    // Protocol errors: Invalid arguments, then the server hangs up.
    for bad in [
        bin_req(GET, 60, 0, &[1, 2, 3, 4], b"a", b""),
        bin_req(SET, 61, 0, &[], b"a", b"v"),
        bin_req(VERSION, 62, 0, &[], b"k", b""),
        bin_req(INCR, 63, 0, &[0; 8], b"a", b""),
        bin_req(GET, 64, 0, &[], &[b'k'; 251], b""),
    ] {
        p.check_bin(&bad);
        p.reconnect();
    }
}

#[test]
fn binary_random_stream() {
    let Some(mut p) = Pair::start(&[], &[]) else {
        return;
    };
    let seed = std::env::var("MC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0xb1_u64);
    let mut rng = SmallRng::seed_from_u64(seed);
    for step in 0..3000 {
        let key = format!("b{}", rng.gen_range(0..10));
        let key = key.as_bytes();
        let val: Vec<u8> = if rng.gen_bool(0.4) {
            rng.gen_range(0..1000u32).to_string().into_bytes()
        } else {
            (0..rng.gen_range(0..30)).map(|_| rng.gen()).collect()
        };
        let exp = if rng.gen_bool(0.1) { 1000 } else { 0 };
        let opaque = rng.gen();
        let req = match rng.gen_range(0..14) {
            0 | 1 => bin_req(
                if rng.gen_bool(0.3) { SETQ } else { SET },
                opaque,
                0,
                &set_extras(rng.gen(), exp),
                key,
                &val,
            ),
            2 => bin_req(
                if rng.gen_bool(0.3) { ADDQ } else { ADD },
                opaque,
                0,
                &set_extras(1, exp),
                key,
                &val,
            ),
            3 => bin_req(REPLACE, opaque, 0, &set_extras(2, exp), key, &val),
            4 => bin_req(
                if rng.gen_bool(0.3) { APPENDQ } else { APPEND },
                opaque,
                0,
                &[],
                key,
                &val,
            ),
            5 => bin_req(PREPEND, opaque, 0, &[], key, &val),
            6 | 7 => bin_req(
                [GET, GETK, GETQ, GETKQ][rng.gen_range(0..4)],
                opaque,
                0,
                &[],
                key,
                b"",
            ),
            8 => bin_req(
                if rng.gen_bool(0.3) { DELETEQ } else { DELETE },
                opaque,
                0,
                &[],
                key,
                b"",
            ),
            9 | 10 => {
                let e = [0, 0xffff_ffff][rng.gen_range(0..2)];
                bin_req(
                    [INCR, DECR, INCRQ][rng.gen_range(0..3)],
                    opaque,
                    0,
                    &incr_extras(rng.gen_range(0..100), rng.gen_range(0..100), e),
                    key,
                    b"",
                )
            }
            11 => bin_req(
                [TOUCH, GAT, GATK, GATQ][rng.gen_range(0..4)],
                opaque,
                0,
                &exp.to_be_bytes(),
                key,
                b"",
            ),
            12 => bin_req(
                SET,
                opaque,
                rng.gen_range(0..3),
                &set_extras(3, 0),
                key,
                &val,
            ),
            _ => bin_req(GETK, opaque, 0, &[], key, b""),
        };
        let (a, b) = (p.fc.binary(&req), p.mc.binary(&req));
        let na: Vec<_> = a.iter().map(|f| mc_common::normalize_frame(f)).collect();
        let nb: Vec<_> = b.iter().map(|f| mc_common::normalize_frame(f)).collect();
        assert_eq!(na, nb, "seed {seed} step {step}: {req:02x?}");
    }
}

/// libmemcached's conformance suite, ascii then binary.
#[test]
fn memccapable_passes() {
    let have = std::process::Command::new("memccapable")
        .arg("--help")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    if !have {
        if std::env::var_os("CI").is_some() {
            panic!("memccapable is not installed (scripts/test must install libmemcached-tools)");
        }
        eprintln!("memccapable not installed: skipping");
        return;
    }
    let node = mc_common::start_ferrocache(&[]);
    for mode in ["-a", "-b"] {
        let out = std::process::Command::new("memccapable")
            .args(["-h", "127.0.0.1", "-p", &node.port.to_string(), mode])
            .output()
            .expect("run memccapable");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "memccapable {mode} failed:\n{text}");
        assert!(
            text.contains("All tests passed"),
            "memccapable {mode}:\n{text}"
        );
        assert!(!text.contains("[FAIL]"), "memccapable {mode}:\n{text}");
    }
}
