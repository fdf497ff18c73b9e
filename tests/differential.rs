//! Differential test: seeded random command sequences sent to ferrocache
//! (`--threads 2`, so multi-shard locking is exercised) and to a real
//! redis-server 7.0, comparing every reply.
//!
//! Why a generator and not hand-written cases: per-command tests check what
//! their author thought of; random sequences over a tiny key space make every
//! command meet keys of every type, expired keys, binary data, bad numbers and
//! odd option combinations, in orders nobody writes by hand.
//!
//! Knobs (environment):
//! - `DIFF_SEED=S`: run sequences starting with seed `S` (one thread). A
//!   mismatch report prints the exact `DIFF_SEED`/`DIFF_COMMANDS` to rerun.
//! - `DIFF_COMMANDS=N`: total commands (default 120000, spread over threads).
//! - `DIFF_THREADS=T`: parallel seeds, each with its own pair of servers.
//! - `DIFF_SEQ_LEN=L`: commands per sequence before state is reset (1500).
//! - `DIFF_GROUPS=conn,keys,strings,hash,list,set,zset`: command groups.
//! - `DIFF_SKIP=CMD,CMD`: commands never generated (e.g. ones not done yet).
//! - `DIFF_KEEP_GOING=1`: after a mismatch, shrink, report and continue with
//!   the next sequence (one report per distinct command) instead of stopping.
//! - `DIFF_FINDINGS=path`: append markdown reports of mismatches to `path`.
//! - `DIFF_SHRINK_SECS=S`: time budget for shrinking one mismatch (60).
//! - `DIFF_TRACE=1`: print every step with Redis's reply.
//!
//! Normalisation, where Redis itself is unordered or random: replies of
//! SMEMBERS/SUNION/SINTER/SDIFF/HKEYS/HVALS/KEYS are sorted, HGETALL is
//! sorted by pairs, SRANDMEMBER/HRANDFIELD/ZRANDMEMBER/RANDOMKEY/SPOP/HELLO
//! are compared by shape (types and lengths), `SORT .. BY nosort` (a set's
//! hash order) as a multiset of (member, GET values…) groups, or by length
//! only with LIMIT, SCAN and friends are iterated to completion and compared as sets, TTL-like
//! replies are compared with a tolerance. After an SPOP whose popped members
//! differ, ferrocache's set is reconciled to Redis's so the runs stay in step.

mod common;

use common::Node;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

type Arg = Vec<u8>;

// ---------------------------------------------------------------------------
// Command groups and weights
// ---------------------------------------------------------------------------

/// (group, [(command, weight)]). Weights make type-creating commands common
/// (so keys of every type exist) and state-wiping ones rare.
const GROUPS: &[(&str, &[(&str, u32)])] = &[
    (
        "conn",
        &[("PING", 2), ("ECHO", 2), ("SELECT", 3), ("RESET", 1)],
    ),
    (
        "keys",
        &[
            ("DEL", 6),
            ("UNLINK", 3),
            ("EXISTS", 6),
            ("TYPE", 8),
            ("EXPIRE", 6),
            ("PEXPIRE", 6),
            ("EXPIREAT", 5),
            ("PEXPIREAT", 5),
            ("TTL", 6),
            ("PTTL", 6),
            ("EXPIRETIME", 4),
            ("PEXPIRETIME", 4),
            ("PERSIST", 5),
            ("KEYS", 5),
            ("SCAN", 5),
            ("RANDOMKEY", 3),
            ("RENAME", 5),
            ("RENAMENX", 4),
            ("COPY", 5),
            ("MOVE", 4),
            ("SWAPDB", 2),
            ("TOUCH", 3),
            ("SORT", 8),
            ("SORT_RO", 4),
            ("DBSIZE", 4),
            ("FLUSHDB", 1),
            ("OBJECT", 8),
        ],
    ),
    (
        "strings",
        &[
            ("GET", 10),
            ("SET", 30),
            ("SETNX", 4),
            ("SETEX", 4),
            ("PSETEX", 4),
            ("GETSET", 4),
            ("GETDEL", 4),
            ("GETEX", 5),
            ("MGET", 5),
            ("MSET", 5),
            ("MSETNX", 4),
            ("APPEND", 6),
            ("STRLEN", 4),
            ("INCR", 6),
            ("DECR", 4),
            ("INCRBY", 5),
            ("DECRBY", 4),
            ("INCRBYFLOAT", 6),
            ("GETRANGE", 5),
            ("SETRANGE", 5),
            ("LCS", 5),
        ],
    ),
    (
        "hash",
        &[
            ("HSET", 30),
            ("HSETNX", 4),
            ("HGET", 6),
            ("HMGET", 5),
            ("HMSET", 4),
            ("HDEL", 6),
            ("HEXISTS", 4),
            ("HLEN", 4),
            ("HKEYS", 4),
            ("HVALS", 4),
            ("HGETALL", 5),
            ("HINCRBY", 6),
            ("HINCRBYFLOAT", 6),
            ("HSTRLEN", 4),
            ("HRANDFIELD", 5),
            ("HSCAN", 4),
        ],
    ),
    (
        "list",
        &[
            ("LPUSH", 18),
            ("RPUSH", 18),
            ("LPUSHX", 4),
            ("RPUSHX", 4),
            ("LPOP", 6),
            ("RPOP", 6),
            ("LLEN", 4),
            ("LRANGE", 8),
            ("LINDEX", 5),
            ("LSET", 5),
            ("LINSERT", 5),
            ("LREM", 5),
            ("LTRIM", 4),
            ("LPOS", 6),
            ("LMOVE", 5),
            ("RPOPLPUSH", 4),
            ("LMPOP", 5),
        ],
    ),
    (
        "set",
        &[
            ("SADD", 30),
            ("SREM", 6),
            ("SCARD", 4),
            ("SISMEMBER", 4),
            ("SMISMEMBER", 4),
            ("SMEMBERS", 6),
            ("SRANDMEMBER", 4),
            ("SPOP", 5),
            ("SMOVE", 5),
            ("SINTER", 5),
            ("SINTERCARD", 4),
            ("SINTERSTORE", 4),
            ("SUNION", 5),
            ("SUNIONSTORE", 4),
            ("SDIFF", 5),
            ("SDIFFSTORE", 4),
            ("SSCAN", 4),
        ],
    ),
    (
        "zset",
        &[
            ("ZADD", 30),
            ("ZINCRBY", 6),
            ("ZREM", 5),
            ("ZCARD", 3),
            ("ZSCORE", 4),
            ("ZMSCORE", 4),
            ("ZCOUNT", 4),
            ("ZLEXCOUNT", 4),
            ("ZRANGE", 10),
            ("ZRANGESTORE", 4),
            ("ZREVRANGE", 4),
            ("ZRANGEBYSCORE", 5),
            ("ZREVRANGEBYSCORE", 4),
            ("ZRANGEBYLEX", 4),
            ("ZREVRANGEBYLEX", 4),
            ("ZRANK", 4),
            ("ZREVRANK", 4),
            ("ZREMRANGEBYRANK", 3),
            ("ZREMRANGEBYSCORE", 3),
            ("ZREMRANGEBYLEX", 3),
            ("ZPOPMIN", 4),
            ("ZPOPMAX", 4),
            ("ZMPOP", 4),
            ("ZRANDMEMBER", 4),
            ("ZUNION", 4),
            ("ZUNIONSTORE", 4),
            ("ZINTER", 4),
            ("ZINTERSTORE", 4),
            ("ZINTERCARD", 3),
            ("ZDIFF", 4),
            ("ZDIFFSTORE", 4),
            ("ZSCAN", 4),
        ],
    ),
    // Issue 4 families (see `Gen::gen_ext`). MULTI and *SUBSCRIBE are blocks
    // of several commands (see `Gen::next`), hence their small weights.
    (
        "tx",
        &[
            ("MULTI", 14),
            ("EXEC", 2),
            ("DISCARD", 1),
            ("WATCH", 5),
            ("UNWATCH", 2),
        ],
    ),
    (
        "pubsub",
        &[
            ("SUBSCRIBE", 4),
            ("PSUBSCRIBE", 3),
            ("SSUBSCRIBE", 3),
            ("UNSUBSCRIBE", 2),
            ("PUNSUBSCRIBE", 2),
            ("SUNSUBSCRIBE", 2),
            ("PUBLISH", 4),
            ("SPUBLISH", 3),
            ("PUBSUB", 5),
        ],
    ),
    (
        "stream",
        &[
            ("XADD", 40),
            ("XLEN", 4),
            ("XRANGE", 8),
            ("XREVRANGE", 5),
            ("XREAD", 6),
            ("XDEL", 5),
            ("XTRIM", 6),
            ("XSETID", 4),
            ("XGROUP", 14),
            ("XREADGROUP", 12),
            ("XACK", 6),
            ("XPENDING", 8),
            ("XCLAIM", 8),
            ("XAUTOCLAIM", 6),
            ("XINFO", 8),
        ],
    ),
    (
        "geo",
        &[
            ("GEOADD", 30),
            ("GEODIST", 6),
            ("GEOHASH", 5),
            ("GEOPOS", 5),
            ("GEORADIUS", 7),
            ("GEORADIUS_RO", 3),
            ("GEORADIUSBYMEMBER", 6),
            ("GEORADIUSBYMEMBER_RO", 3),
            ("GEOSEARCH", 12),
            ("GEOSEARCHSTORE", 6),
        ],
    ),
    (
        "hll",
        &[
            ("PFADD", 30),
            ("PFCOUNT", 12),
            ("PFMERGE", 8),
            ("PFDEBUG", 4),
            ("HLLSET", 6),
            ("HLLPOKE", 5),
        ],
    ),
    (
        "bitmap",
        &[
            ("SETBIT", 20),
            ("GETBIT", 6),
            ("BITCOUNT", 8),
            ("BITPOS", 8),
            ("BITOP", 8),
            ("BITFIELD", 16),
            ("BITFIELD_RO", 5),
        ],
    ),
];

/// Every command name the generator knows (used by the unit test below).
fn all_commands() -> Vec<&'static str> {
    GROUPS
        .iter()
        .flat_map(|(_, c)| c.iter().map(|(n, _)| *n))
        .collect()
}

// ---------------------------------------------------------------------------
// Value pools
// ---------------------------------------------------------------------------

/// A small key space so that commands keep hitting existing keys of every
/// type. `{t}` keys and the others land on different shards; the binary key
/// has NUL, CR, LF and 0xff. `k1`/`k2` double as SORT weight keys.
#[rustfmt::skip]
const KEYS: &[&[u8]] = &[
    b"a", b"b", b"c", b"k1", b"k2", b"bin\x00\r\n\xff",
    b"h", b"{t}h", b"l", b"{t}l", b"s", b"{t}s", b"z", b"{t}z",
    b"x", b"{t}x", b"g", b"{t}g", b"p", b"{t}p",
];

/// Keys a command group prefers (80% of its picks), so that most commands
/// meet their own type while the rest still hit every other type. The
/// `{t}` keys hash to another shard than their plain twins.
fn key_family(group: &str) -> &'static [&'static [u8]] {
    match group {
        "strings" => &[b"a", b"b", b"k1", b"k2", b"bin\x00\r\n\xff"],
        "hash" => &[b"h", b"{t}h", b"b"],
        "list" => &[b"l", b"{t}l", b"c"],
        "set" => &[b"s", b"{t}s", b"c"],
        "zset" => &[b"z", b"{t}z", b"s", b"b"],
        "stream" => &[b"x", b"x", b"{t}x", b"z"],
        "geo" => &[b"g", b"g", b"{t}g", b"z"],
        "hll" => &[b"p", b"p", b"{t}p", b"a"],
        "bitmap" => &[b"a", b"k2", b"p", b"{t}p", b"bin\x00\r\n\xff"],
        "tx" => &[b"a", b"k1", b"h", b"l", b"x", b"{t}s"],
        _ => KEYS,
    }
}

const MEMBERS: &[&[u8]] = &[
    b"1",
    b"2",
    b"3",
    b"10",
    b"-5",
    b"100",
    b"a",
    b"b",
    b"c",
    b"d",
    b"",
    b"\x00",
    b"\xff\r\n",
    b"hello",
    b"9223372036854775807",
    b"1.5",
];

const FIELDS: &[&[u8]] = &[
    b"f1",
    b"f2",
    b"f3",
    b"f4",
    b"a",
    b"b",
    b"",
    b"\x00f\xff",
    b"1",
    b"-1",
];

const VALUES: &[&[u8]] = &[
    b"0",
    b"1",
    b"2",
    b"-1",
    b"10",
    b"3.5",
    b"-2.5",
    b"abc",
    b"xyz",
    b"",
    b"1e400",
    b"nan",
    b"inf",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"9223372036854775808",
    b"a\x00b",
    b"\r\n",
    b"\xff\xfe",
    b"hello world",
    b" 1",
    b"01",
    b"+1",
    b"0x10",
    b"1.0",
    b"5e3",
];

const BAD_INTS: &[&[u8]] = &[
    b"abc",
    b"1.5",
    b"",
    b"9223372036854775807",
    b"-9223372036854775808",
    b"9223372036854775808",
    b"-9223372036854775809",
    b"01",
    b"+1",
    b" 1",
    b"1 ",
    b"1e3",
    b"0x10",
    b"-0",
];

const BAD_FLOATS: &[&[u8]] = &[
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"nan",
    b"NaN",
    b"inf",
    b"-inf",
    b"+inf",
    b"infinity",
    b"abc",
    b"",
    b"1.5e",
    b"0x10",
    b" 1",
    b"1 ",
    b"5.0000000000000001",
    b"-0",
    b"1e308",
    b"9223372036854775807",
];

const SCORE_BOUNDS: &[&[u8]] = &[
    b"-inf", b"+inf", b"inf", b"(1", b"1", b"(2.5", b"2.5", b"0", b"(0", b"-1", b"10", b"(10",
    b"abc", b"(", b"nan", b"(-inf", b"(+inf", b"1e400", b"((1",
];

const LEX_BOUNDS: &[&[u8]] = &[
    b"-", b"+", b"[a", b"(a", b"[b", b"(b", b"[c", b"(d", b"[", b"(", b"[\x00", b"[hello", b"a",
    b"[1", b"(10", b"",
];

const PATTERNS: &[&[u8]] = &[
    b"*", b"a*", b"k?", b"{t}*", b"*1", b"[ab]*", b"[^a]*", b"\\*", b"bin*", b"*\x00*", b"[a-c]",
    b"k[0-9]", b"*[", b"?", b"",
];

// ---------------------------------------------------------------------------
// Steps and the generator
// ---------------------------------------------------------------------------

#[derive(Clone, Debug)]
enum Step {
    Cmd(Vec<Arg>),
    /// Sleep after a short expiry so that both servers see the key expired.
    Sleep(u64),
    /// Iterate a SCAN-family command from cursor 0 to completion.
    /// `prefix` is e.g. `[SCAN]` or `[HSCAN, key]`, `opts` follow the cursor.
    Scan {
        prefix: Vec<Arg>,
        opts: Vec<Arg>,
        pairs: bool,
    },
}

fn b(s: &str) -> Arg {
    s.as_bytes().to_vec()
}

struct Gen {
    rng: SmallRng,
    cmds: Vec<(&'static str, u32)>,
    total_weight: u32,
    /// Counter feeding [`Gen::unique`]: relative TTLs are all distinct so
    /// `EXPIRE .. GT/LT` comparisons never depend on elapsed milliseconds.
    ttl_ctr: u64,
    /// Unix seconds when the sequence was generated (for absolute times).
    t0: u64,
    /// The last command set a TTL of 1-2 ms: a sleep follows.
    short_ttl: bool,
    /// Keys the current command prefers (see [`key_family`]).
    family: &'static [&'static [u8]],
    /// Inside a MULTI or subscribe block: no nested blocks.
    nested: bool,
}

impl Gen {
    fn new(seed: u64, cmds: Vec<(&'static str, u32)>) -> Gen {
        let total_weight = cmds.iter().map(|c| c.1).sum();
        let t0 = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(1_700_000_000);
        Gen {
            rng: SmallRng::seed_from_u64(seed),
            cmds,
            total_weight,
            ttl_ctr: 0,
            t0,
            short_ttl: false,
            family: KEYS,
            nested: false,
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    fn pick(&mut self, pool: &[&[u8]]) -> Arg {
        pool[self.rng.gen_range(0..pool.len())].to_vec()
    }

    fn key(&mut self) -> Arg {
        if self.chance(0.8) {
            self.pick(self.family)
        } else {
            self.pick(KEYS)
        }
    }

    fn keys(&mut self, min: usize, max: usize) -> Vec<Arg> {
        let n = self.rng.gen_range(min..=max);
        (0..n).map(|_| self.key()).collect()
    }

    fn rand_bytes(&mut self) -> Arg {
        let n = self.rng.gen_range(0..6);
        (0..n)
            .map(|_| match self.rng.gen_range(0..4) {
                0 => self.rng.gen(),
                _ => {
                    let alphabet = b"abcxyz019\r\n\x00";
                    alphabet[self.rng.gen_range(0..alphabet.len())]
                }
            })
            .collect()
    }

    fn long_value(&mut self) -> Arg {
        let len = [44usize, 45, 63, 64, 65, 100, 300][self.rng.gen_range(0..7)];
        let c = [b'x', b'y', b'7'][self.rng.gen_range(0..3)];
        vec![c; len]
    }

    fn value(&mut self) -> Arg {
        match self.rng.gen_range(0..20) {
            0..=11 => self.pick(VALUES),
            12..=15 => self.rng.gen_range(-1000i64..1000).to_string().into_bytes(),
            16..=17 => self.rand_bytes(),
            _ => self.long_value(),
        }
    }

    fn member(&mut self) -> Arg {
        match self.rng.gen_range(0..20) {
            0..=16 => self.pick(MEMBERS),
            17 => self.rng.gen_range(-50i64..50).to_string().into_bytes(),
            18 => self.rand_bytes(),
            _ => self.long_value(),
        }
    }

    fn members(&mut self, min: usize, max: usize) -> Vec<Arg> {
        let n = self.rng.gen_range(min..=max);
        (0..n).map(|_| self.member()).collect()
    }

    fn field(&mut self) -> Arg {
        match self.rng.gen_range(0..20) {
            0..=17 => self.pick(FIELDS),
            18 => self.rand_bytes(),
            _ => self.long_value(),
        }
    }

    /// An integer argument: mostly small and valid, sometimes malformed or
    /// at the edges of i64.
    fn int(&mut self, lo: i64, hi: i64) -> Arg {
        if self.chance(0.1) {
            self.pick(BAD_INTS)
        } else {
            self.rng.gen_range(lo..=hi).to_string().into_bytes()
        }
    }

    fn float(&mut self) -> Arg {
        match self.rng.gen_range(0..10) {
            0 => self.pick(BAD_FLOATS),
            1..=3 => self.rng.gen_range(-20i64..20).to_string().into_bytes(),
            _ => {
                let v: f64 = self.rng.gen_range(-100.0..100.0);
                let digits = self.rng.gen_range(0..4);
                format!("{v:.digits$}").into_bytes()
            }
        }
    }

    fn score(&mut self) -> Arg {
        match self.rng.gen_range(0..12) {
            0 => self.pick(BAD_FLOATS),
            1..=6 => self.rng.gen_range(-5i64..10).to_string().into_bytes(),
            7 => b"-inf".to_vec(),
            8 => b"+inf".to_vec(),
            _ => format!("{:.1}", self.rng.gen_range(-5.0..10.0)).into_bytes(),
        }
    }

    fn db(&mut self) -> Arg {
        match self.rng.gen_range(0..10) {
            0..=7 => self.rng.gen_range(0..3).to_string().into_bytes(),
            8 => b"16".to_vec(),
            _ => self.pick(&[b"-1", b"abc", b"99999999999999999999", b""]),
        }
    }

    fn unique(&mut self) -> u64 {
        // An LCG over 2^20 is a bijection: distinct counters give distinct
        // values.
        self.ttl_ctr += 1;
        (self.ttl_ctr.wrapping_mul(0x9E37_79B9) ^ 0x5_5555) & 0xF_FFFF
    }

    /// A TTL argument for `unit` ("s" or "ms"), `absolute` for *AT forms.
    /// Either far in the future (unique, so no timing races), 1-2 ms (and a
    /// sleep follows), in the past / zero / negative, or malformed.
    fn ttl(&mut self, ms: bool, absolute: bool) -> Arg {
        let k = self.rng.gen_range(0..20);
        let scale = if ms { 1000 } else { 1 };
        if k < 12 {
            let secs = 1000 + self.unique();
            let base = if absolute { self.t0 } else { 0 };
            ((base + secs) * scale).to_string().into_bytes()
        } else if k < 15 {
            if absolute {
                // In the past: the key goes away at once.
                let v = match self.rng.gen_range(0..3) {
                    0 => 1,
                    1 => (self.t0 - 100) * scale,
                    _ => 0,
                };
                v.to_string().into_bytes()
            } else if ms {
                self.short_ttl = true;
                self.pick(&[b"1", b"2"])
            } else {
                self.pick(&[b"0", b"-1", b"-100"])
            }
        } else if k < 17 {
            self.pick(&[
                b"9223372036854775807",
                b"-9223372036854775808",
                b"9223372036854775",
                b"9223372036854776",
            ])
        } else {
            self.pick(BAD_INTS)
        }
    }

    fn expire_flags(&mut self, a: &mut Vec<Arg>) {
        let n = match self.rng.gen_range(0..10) {
            0..=4 => 0,
            5..=8 => 1,
            _ => 2,
        };
        for _ in 0..n {
            a.push(self.pick(&[b"NX", b"XX", b"GT", b"LT", b"nx", b"gt", b"XY"]));
        }
    }

    /// `numkeys key...`, mostly consistent, sometimes wrong.
    fn numkeys(&mut self, a: &mut Vec<Arg>) {
        let keys = self.keys(1, 3);
        let n = match self.rng.gen_range(0..12) {
            0 => b"0".to_vec(),
            1 => b"-1".to_vec(),
            2 => (keys.len() + 3).to_string().into_bytes(),
            3 => b"abc".to_vec(),
            _ => keys.len().to_string().into_bytes(),
        };
        a.push(n);
        a.extend(keys);
    }

    fn name_case(&mut self, name: &str) -> Arg {
        if self.chance(0.05) {
            name.chars()
                .map(|c| {
                    if self.rng.gen_bool(0.5) {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    }
                })
                .collect::<String>()
                .into_bytes()
        } else {
            b(name)
        }
    }

    fn choose_cmd(&mut self) -> &'static str {
        let mut x = self.rng.gen_range(0..self.total_weight);
        for (n, w) in &self.cmds {
            if x < *w {
                return n;
            }
            x -= w;
        }
        self.cmds[0].0
    }

    /// The next step(s) of the sequence.
    fn next(&mut self) -> Vec<Step> {
        let name = self.choose_cmd();
        if !self.nested {
            if name == "MULTI" && self.chance(0.9) {
                return self.multi_block();
            }
            if matches!(name, "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE") {
                return self.sub_block(name);
            }
        }
        self.next_named(name)
    }

    /// The step(s) of one command `name` (with the arity mutations).
    fn next_named(&mut self, name: &'static str) -> Vec<Step> {
        self.short_ttl = false;
        let step = self.gen_cmd(name);
        let mut steps = vec![match step {
            Step::Cmd(mut a) => {
                // Occasionally break the arity: drop or add arguments.
                if self.chance(0.03) && a.len() > 1 {
                    let keep = self.rng.gen_range(1..a.len());
                    a.truncate(keep);
                } else if self.chance(0.02) {
                    // After a dangling EX/PX/EXAT/PXAT a random value would
                    // be a short TTL with no sleep after it: a timing race
                    // between the two servers, not a finding.
                    let ttl_opt = a.last().is_some_and(|l| {
                        [&b"EX"[..], b"PX", b"EXAT", b"PXAT"]
                            .iter()
                            .any(|o| l.eq_ignore_ascii_case(o))
                    });
                    let v = self.value();
                    a.push(if ttl_opt { b("abc") } else { v });
                }
                Step::Cmd(a)
            }
            s => s,
        }];
        if self.short_ttl {
            steps.push(Step::Sleep(10));
        }
        steps
    }

    fn gen_cmd(&mut self, name: &'static str) -> Step {
        let group = GROUPS
            .iter()
            .find(|g| g.1.iter().any(|c| c.0 == name))
            .map_or("keys", |g| g.0);
        self.family = key_family(group);
        let mut a = vec![self.name_case(name)];
        match name {
            // ---------------------------------------------------- connection
            "PING" => {
                if self.chance(0.5) {
                    a.push(self.value());
                }
            }
            "ECHO" => a.push(self.value()),
            "SELECT" => a.push(self.db()),
            // ---------------------------------------------------------- keys
            "DEL" | "UNLINK" | "EXISTS" | "TOUCH" => a.extend(self.keys(1, 4)),
            "TYPE" | "TTL" | "PTTL" | "EXPIRETIME" | "PEXPIRETIME" | "PERSIST" => {
                a.push(self.key())
            }
            "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" => {
                a.push(self.key());
                let t = self.ttl(name.starts_with('P'), name.ends_with("AT"));
                a.push(t);
                self.expire_flags(&mut a);
            }
            "KEYS" => a.push(self.pick(PATTERNS)),
            "SCAN" => {
                let mut opts = Vec::new();
                self.scan_opts(&mut opts, true);
                return Step::Scan {
                    prefix: vec![a.remove(0)],
                    opts,
                    pairs: false,
                };
            }
            "RANDOMKEY" | "DBSIZE" => {}
            "RENAME" | "RENAMENX" => a.extend(self.keys(2, 2)),
            "COPY" => {
                a.extend(self.keys(2, 2));
                if self.chance(0.3) {
                    a.push(b("DB"));
                    a.push(self.db());
                }
                if self.chance(0.4) {
                    a.push(b("REPLACE"));
                }
                if self.chance(0.05) {
                    a.push(b("BOGUS"));
                }
            }
            "MOVE" => {
                a.push(self.key());
                a.push(self.db());
            }
            "SWAPDB" => {
                a.push(self.db());
                a.push(self.db());
            }
            "FLUSHDB" => {
                if self.chance(0.3) {
                    a.push(self.pick(&[b"ASYNC", b"SYNC", b"sync", b"NOW"]));
                }
            }
            "OBJECT" => {
                if self.chance(0.95) {
                    a.push(b("ENCODING"));
                } else {
                    a.push(self.pick(&[b"encoding", b"BOGUS"]));
                }
                a.push(self.key());
            }
            "SORT" | "SORT_RO" => self.sort_args(&mut a, name == "SORT"),
            // ------------------------------------------------------- strings
            "GET" | "GETDEL" | "STRLEN" | "INCR" | "DECR" => a.push(self.key()),
            "SET" => {
                a.push(self.key());
                a.push(self.value());
                self.set_opts(&mut a);
            }
            "SETNX" | "GETSET" | "APPEND" => {
                a.push(self.key());
                a.push(self.value());
            }
            "SETEX" | "PSETEX" => {
                a.push(self.key());
                let t = self.ttl(name == "PSETEX", false);
                a.push(t);
                a.push(self.value());
            }
            "GETEX" => {
                a.push(self.key());
                match self.rng.gen_range(0..8) {
                    0..=1 => {}
                    2 => a.push(b("PERSIST")),
                    3 => {
                        a.push(b("EX"));
                        let t = self.ttl(false, false);
                        a.push(t);
                    }
                    4 => {
                        a.push(b("PX"));
                        let t = self.ttl(true, false);
                        a.push(t);
                    }
                    5 => {
                        a.push(b("EXAT"));
                        let t = self.ttl(false, true);
                        a.push(t);
                    }
                    6 => {
                        a.push(b("PXAT"));
                        let t = self.ttl(true, true);
                        a.push(t);
                    }
                    _ => {
                        a.push(self.pick(&[b"EX", b"KEEPTTL", b"PERSIST", b"bogus"]));
                        if self.chance(0.5) {
                            a.push(b("EX"));
                            a.push(b"100000".to_vec());
                        }
                    }
                }
            }
            "MGET" => a.extend(self.keys(1, 4)),
            "MSET" | "MSETNX" => {
                let n = self.rng.gen_range(1..=3);
                for _ in 0..n {
                    a.push(self.key());
                    a.push(self.value());
                }
            }
            "INCRBY" | "DECRBY" => {
                a.push(self.key());
                a.push(self.int(-100, 100));
            }
            "INCRBYFLOAT" => {
                a.push(self.key());
                a.push(self.float());
            }
            "GETRANGE" => {
                a.push(self.key());
                a.push(self.int(-20, 20));
                a.push(self.int(-20, 20));
            }
            "SETRANGE" => {
                a.push(self.key());
                a.push(match self.rng.gen_range(0..10) {
                    0 => self.pick(&[b"-1", b"536870912", b"abc", b"536870911"]),
                    _ => self.int(0, 70),
                });
                if a.last().map(|x| x.as_slice()) == Some(b"536870911") {
                    // An empty value with a huge offset is legal and cheap;
                    // a non-empty one would allocate 512 MB in both servers.
                    a.push(Vec::new());
                } else {
                    a.push(self.value());
                }
            }
            "LCS" => {
                a.extend(self.keys(2, 2));
                for _ in 0..self.rng.gen_range(0..4) {
                    match self.rng.gen_range(0..6) {
                        0 => a.push(b("LEN")),
                        1 => a.push(b("IDX")),
                        2 => {
                            a.push(b("MINMATCHLEN"));
                            a.push(self.int(-1, 4));
                        }
                        3 => a.push(b("WITHMATCHLEN")),
                        4 => a.push(b("IDX")),
                        _ => a.push(b("BOGUS")),
                    }
                }
            }
            // ---------------------------------------------------------- hash
            "HSET" | "HMSET" => {
                a.push(self.key());
                let n = if self.chance(0.02) {
                    self.rng.gen_range(120..140)
                } else {
                    self.rng.gen_range(1..=3)
                };
                for i in 0..n {
                    if n > 100 {
                        a.push(format!("field{i}").into_bytes());
                    } else {
                        a.push(self.field());
                    }
                    a.push(self.value());
                }
            }
            "HSETNX" => {
                a.push(self.key());
                a.push(self.field());
                a.push(self.value());
            }
            "HGET" | "HEXISTS" | "HSTRLEN" => {
                a.push(self.key());
                a.push(self.field());
            }
            "HMGET" | "HDEL" => {
                a.push(self.key());
                for _ in 0..self.rng.gen_range(1..=3) {
                    a.push(self.field());
                }
            }
            "HLEN" | "HKEYS" | "HVALS" | "HGETALL" => a.push(self.key()),
            "HINCRBY" => {
                a.push(self.key());
                a.push(self.field());
                a.push(self.int(-100, 100));
            }
            "HINCRBYFLOAT" => {
                a.push(self.key());
                a.push(self.field());
                a.push(self.float());
            }
            "HRANDFIELD" => {
                a.push(self.key());
                if self.chance(0.7) {
                    a.push(self.int(-6, 6));
                    if self.chance(0.5) {
                        a.push(self.pick(&[b"WITHVALUES", b"withvalues", b"WITHSCORES"]));
                    }
                }
            }
            "HSCAN" | "SSCAN" | "ZSCAN" => {
                let mut opts = Vec::new();
                self.scan_opts(&mut opts, false);
                let prefix = vec![a.remove(0), self.key()];
                return Step::Scan {
                    prefix,
                    opts,
                    pairs: name != "SSCAN",
                };
            }
            // ---------------------------------------------------------- list
            "LPUSH" | "RPUSH" | "LPUSHX" | "RPUSHX" => {
                a.push(self.key());
                if self.chance(0.01) {
                    a.extend((0..200).map(|i| format!("e{i}").into_bytes()));
                } else {
                    a.extend(self.members(1, 4));
                }
            }
            "LPOP" | "RPOP" => {
                a.push(self.key());
                if self.chance(0.4) {
                    a.push(self.int(-1, 5));
                }
            }
            "LLEN" => a.push(self.key()),
            "LRANGE" | "LTRIM" => {
                a.push(self.key());
                a.push(self.int(-8, 8));
                a.push(self.int(-8, 8));
            }
            "LINDEX" => {
                a.push(self.key());
                a.push(self.int(-8, 8));
            }
            "LSET" => {
                a.push(self.key());
                a.push(self.int(-6, 6));
                a.push(self.member());
            }
            "LINSERT" => {
                a.push(self.key());
                a.push(self.pick(&[b"BEFORE", b"AFTER", b"after", b"MIDDLE"]));
                a.push(self.member());
                a.push(self.member());
            }
            "LREM" => {
                a.push(self.key());
                a.push(self.int(-3, 3));
                a.push(self.member());
            }
            "LPOS" => {
                a.push(self.key());
                a.push(self.member());
                for _ in 0..self.rng.gen_range(0..3) {
                    match self.rng.gen_range(0..4) {
                        0 => {
                            a.push(b("RANK"));
                            a.push(self.int(-3, 3));
                        }
                        1 => {
                            a.push(b("COUNT"));
                            a.push(self.int(-1, 4));
                        }
                        2 => {
                            a.push(b("MAXLEN"));
                            a.push(self.int(-1, 6));
                        }
                        _ => a.push(b("BOGUS")),
                    }
                }
            }
            "LMOVE" => {
                a.extend(self.keys(2, 2));
                a.push(self.pick(&[b"LEFT", b"RIGHT", b"left", b"UP"]));
                a.push(self.pick(&[b"LEFT", b"RIGHT", b"right"]));
            }
            "RPOPLPUSH" => a.extend(self.keys(2, 2)),
            "LMPOP" | "ZMPOP" => {
                self.numkeys(&mut a);
                if name == "LMPOP" {
                    a.push(self.pick(&[b"LEFT", b"RIGHT", b"left", b"MIN"]));
                } else {
                    a.push(self.pick(&[b"MIN", b"MAX", b"max", b"LEFT"]));
                }
                if self.chance(0.5) {
                    a.push(b("COUNT"));
                    a.push(self.int(-1, 5));
                }
            }
            // ----------------------------------------------------------- set
            "SADD" => {
                a.push(self.key());
                match self.rng.gen_range(0..100) {
                    0 => a.extend((0..520).map(|i| i.to_string().into_bytes())),
                    1 => a.extend((0..140).map(|i| format!("m{i}").into_bytes())),
                    _ => a.extend(self.members(1, 4)),
                }
            }
            "SREM" | "SMISMEMBER" => {
                a.push(self.key());
                a.extend(self.members(1, 3));
            }
            "SCARD" | "SMEMBERS" => a.push(self.key()),
            "SISMEMBER" => {
                a.push(self.key());
                a.push(self.member());
            }
            "SRANDMEMBER" | "SPOP" => {
                a.push(self.key());
                if self.chance(0.6) {
                    a.push(self.int(-5, 6));
                }
            }
            "SMOVE" => {
                a.extend(self.keys(2, 2));
                a.push(self.member());
            }
            "SINTER" | "SUNION" | "SDIFF" => a.extend(self.keys(1, 3)),
            "SINTERSTORE" | "SUNIONSTORE" | "SDIFFSTORE" => a.extend(self.keys(2, 4)),
            "SINTERCARD" | "ZINTERCARD" => {
                self.numkeys(&mut a);
                if self.chance(0.4) {
                    a.push(b("LIMIT"));
                    a.push(self.int(-1, 4));
                }
            }
            // ---------------------------------------------------------- zset
            "ZADD" => {
                a.push(self.key());
                for _ in 0..self.rng.gen_range(0..3) {
                    a.push(self.pick(&[b"NX", b"XX", b"GT", b"LT", b"CH", b"INCR", b"ch"]));
                }
                if self.chance(0.02) {
                    for i in 0..140 {
                        a.push(i.to_string().into_bytes());
                        a.push(format!("z{i}").into_bytes());
                    }
                } else {
                    // Equal scores make lexicographic ranges meaningful.
                    let same = self.chance(0.3);
                    for _ in 0..self.rng.gen_range(1..=3) {
                        a.push(if same { b("0") } else { self.score() });
                        a.push(self.member());
                    }
                }
            }
            "ZINCRBY" => {
                a.push(self.key());
                a.push(self.score());
                a.push(self.member());
            }
            "ZREM" | "ZMSCORE" => {
                a.push(self.key());
                a.extend(self.members(1, 3));
            }
            "ZCARD" => a.push(self.key()),
            "ZSCORE" | "ZRANK" | "ZREVRANK" => {
                a.push(self.key());
                a.push(self.member());
            }
            "ZCOUNT" | "ZREMRANGEBYSCORE" => {
                a.push(self.key());
                a.push(self.pick(SCORE_BOUNDS));
                a.push(self.pick(SCORE_BOUNDS));
            }
            "ZLEXCOUNT" | "ZREMRANGEBYLEX" => {
                a.push(self.key());
                a.push(self.pick(LEX_BOUNDS));
                a.push(self.pick(LEX_BOUNDS));
            }
            "ZRANGE" | "ZRANGESTORE" => {
                if name == "ZRANGESTORE" {
                    a.push(self.key());
                }
                a.push(self.key());
                let mode = self.rng.gen_range(0..3);
                match mode {
                    0 => {
                        a.push(self.int(-5, 5));
                        a.push(self.int(-5, 5));
                    }
                    1 => {
                        a.push(self.pick(SCORE_BOUNDS));
                        a.push(self.pick(SCORE_BOUNDS));
                        a.push(b("BYSCORE"));
                    }
                    _ => {
                        a.push(self.pick(LEX_BOUNDS));
                        a.push(self.pick(LEX_BOUNDS));
                        a.push(b("BYLEX"));
                    }
                }
                if self.chance(0.4) {
                    a.push(b("REV"));
                }
                if self.chance(0.3) {
                    a.push(b("LIMIT"));
                    a.push(self.int(-1, 3));
                    a.push(self.int(-1, 3));
                }
                if name == "ZRANGE" && self.chance(0.4) {
                    a.push(b("WITHSCORES"));
                }
                if self.chance(0.05) {
                    a.push(self.pick(&[b"BYSCORE", b"BYLEX", b"BOGUS", b"LIMIT"]));
                }
            }
            "ZREVRANGE" => {
                a.push(self.key());
                a.push(self.int(-5, 5));
                a.push(self.int(-5, 5));
                if self.chance(0.5) {
                    a.push(b("WITHSCORES"));
                }
            }
            "ZRANGEBYSCORE" | "ZREVRANGEBYSCORE" | "ZRANGEBYLEX" | "ZREVRANGEBYLEX" => {
                a.push(self.key());
                let pool = if name.contains("LEX") {
                    LEX_BOUNDS
                } else {
                    SCORE_BOUNDS
                };
                a.push(self.pick(pool));
                a.push(self.pick(pool));
                if !name.contains("LEX") && self.chance(0.4) {
                    a.push(b("WITHSCORES"));
                }
                if self.chance(0.3) {
                    a.push(b("LIMIT"));
                    a.push(self.int(-1, 3));
                    a.push(self.int(-1, 3));
                }
            }
            "ZREMRANGEBYRANK" => {
                a.push(self.key());
                a.push(self.int(-5, 5));
                a.push(self.int(-5, 5));
            }
            "ZPOPMIN" | "ZPOPMAX" => {
                a.push(self.key());
                if self.chance(0.5) {
                    a.push(self.int(-1, 4));
                }
            }
            "ZRANDMEMBER" => {
                a.push(self.key());
                if self.chance(0.7) {
                    a.push(self.int(-6, 6));
                    if self.chance(0.5) {
                        a.push(self.pick(&[b"WITHSCORES", b"withscores", b"WITHVALUES"]));
                    }
                }
            }
            "ZUNION" | "ZINTER" | "ZDIFF" | "ZUNIONSTORE" | "ZINTERSTORE" | "ZDIFFSTORE" => {
                if name.ends_with("STORE") {
                    a.push(self.key());
                }
                self.numkeys(&mut a);
                if !name.starts_with("ZDIFF") {
                    if self.chance(0.3) {
                        a.push(b("WEIGHTS"));
                        let n = self.rng.gen_range(1..=3);
                        for _ in 0..n {
                            a.push(self.score());
                        }
                    }
                    if self.chance(0.3) {
                        a.push(b("AGGREGATE"));
                        a.push(self.pick(&[b"SUM", b"MIN", b"MAX", b"max", b"AVG"]));
                    }
                }
                if !name.ends_with("STORE") && self.chance(0.5) {
                    a.push(b("WITHSCORES"));
                }
            }
            other => return self.gen_ext(other, a),
        }
        Step::Cmd(a)
    }

    fn scan_opts(&mut self, opts: &mut Vec<Arg>, db_scan: bool) {
        for _ in 0..self.rng.gen_range(0..3) {
            match self.rng.gen_range(0..7) {
                0..=2 => {
                    opts.push(b("MATCH"));
                    opts.push(self.pick(PATTERNS));
                }
                3..=4 => {
                    opts.push(b("COUNT"));
                    opts.push(match self.rng.gen_range(0..8) {
                        0 => self.pick(&[b"0", b"-1", b"abc", b""]),
                        _ => self.rng.gen_range(1..20).to_string().into_bytes(),
                    });
                }
                5 if db_scan => {
                    // Not "none": Redis 7.0 returns expired keys for
                    // TYPE none when active expiry has not run yet (racy).
                    opts.push(b("TYPE"));
                    opts.push(self.pick(&[
                        b"string", b"list", b"set", b"zset", b"hash", b"bogus", b"STRING",
                    ]));
                }
                _ => opts.push(self.pick(&[b"BOGUS", b"TYPE", b"MATCH"])),
            }
        }
    }

    fn sort_args(&mut self, a: &mut Vec<Arg>, can_store: bool) {
        a.push(self.key());
        let mut by_pattern = false;
        if self.chance(0.3) {
            a.push(b("BY"));
            let p = self.pick(&[b"nosort", b"k*", b"*->f1", b"{t}*", b"nokey_*", b"*"]);
            by_pattern = p != b"nosort";
            a.push(p);
        }
        if self.chance(0.3) {
            a.push(b("LIMIT"));
            a.push(self.int(-1, 3));
            a.push(self.int(-1, 4));
        }
        for _ in 0..self.rng.gen_range(0..3) {
            if self.chance(0.3) {
                a.push(b("GET"));
                a.push(self.pick(&[b"#", b"k*", b"*->f1", b"{t}*", b"nokey_*"]));
            }
        }
        if self.chance(0.3) {
            a.push(self.pick(&[b"ASC", b"DESC", b"desc"]));
        }
        // BY <pattern> ALPHA compares equal weights as equal (no tie-break),
        // leaving set iteration order, which is random in Redis: not used.
        if !by_pattern && self.chance(0.4) {
            a.push(b("ALPHA"));
        }
        if can_store && self.chance(0.25) {
            a.push(b("STORE"));
            a.push(self.key());
        }
        if self.chance(0.03) {
            a.push(b("BOGUS"));
        }
    }

    fn set_opts(&mut self, a: &mut Vec<Arg>) {
        if self.chance(0.2) {
            a.push(self.pick(&[b"NX", b"XX", b"nx"]));
        }
        if self.chance(0.15) {
            a.push(b("GET"));
        }
        match self.rng.gen_range(0..12) {
            0 => {
                a.push(b("EX"));
                let t = self.ttl(false, false);
                a.push(t);
            }
            1 => {
                a.push(b("PX"));
                let t = self.ttl(true, false);
                a.push(t);
            }
            2 => {
                a.push(b("EXAT"));
                let t = self.ttl(false, true);
                a.push(t);
            }
            3 => {
                a.push(b("PXAT"));
                let t = self.ttl(true, true);
                a.push(t);
            }
            4 => a.push(b("KEEPTTL")),
            5 if self.chance(0.3) => {
                // Conflicting or dangling options: syntax errors.
                a.push(self.pick(&[b"EX", b"PX", b"KEEPTTL", b"NX", b"XX", b"BOGUS"]));
                if self.chance(0.5) {
                    a.push(b("EX"));
                    a.push(b"100".to_vec());
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Issue 4 families: transactions, pub/sub, streams, geo, HyperLogLog, bitmaps
// ---------------------------------------------------------------------------

const CHANNELS: &[&[u8]] = &[
    b"ch1",
    b"ch2",
    b"news.a",
    b"news.b",
    b"hello",
    b"hallo",
    b"",
    b"\x00\xff",
    b"*",
];

const CHANNEL_PATTERNS: &[&[u8]] = &[
    b"*",
    b"ch*",
    b"news.*",
    b"h[ae]llo",
    b"h?llo",
    b"\\*",
    b"ch[^1]",
    b"",
    b"[",
    b"*\x00*",
];

/// Commands a subscribe block runs while subscribed (besides random ones).
const PUBSUB_INNER: &[&str] = &[
    "PUBLISH",
    "PUBLISH",
    "SPUBLISH",
    "PUBSUB",
    "SUBSCRIBE",
    "PSUBSCRIBE",
    "SSUBSCRIBE",
    "UNSUBSCRIBE",
    "PUNSUBSCRIBE",
    "SUNSUBSCRIBE",
    "PING",
];

const STREAM_FIELDS: &[&[u8]] = &[b"f", b"g", b"temp", b"", b"\x00\xff", b"1"];

const GROUPS_NAMES: &[&[u8]] = &[b"g1", b"g1", b"g2", b"g3", b""];

const CONSUMERS: &[&[u8]] = &[b"c1", b"c1", b"c2", b"c3", b""];

/// (longitude, latitude): Sicily (close together), the edges of the valid
/// range, and invalid ones.
const COORDS: &[(&[u8], &[u8])] = &[
    (b"13.361389", b"38.115556"),
    (b"15.087269", b"37.502669"),
    (b"13.583333", b"37.316667"),
    (b"12.758489", b"38.788135"),
    (b"14.015482", b"37.734741"),
    (b"13.36", b"38.11"),
    (b"-180", b"-85.05112878"),
    (b"180", b"85.05112878"),
    (b"0", b"0"),
    (b"179.99", b"0.1"),
    (b"-73.9454966", b"40.747533"),
    (b"181", b"0"),
    (b"0", b"86"),
    (b"abc", b"1"),
    (b"1e400", b"0"),
    (b"nan", b"0"),
];

const GEO_MEMBERS: &[&[u8]] = &[
    b"Palermo",
    b"Catania",
    b"Agrigento",
    b"m1",
    b"m2",
    b"m3",
    b"",
    b"\x00x",
    b"nosuch",
];

const RADII: &[&[u8]] = &[
    b"0", b"1", b"10", b"50", b"100", b"200", b"500", b"5000", b"20000", b"-1", b"abc", b"1e400",
    b"0.5",
];

const UNITS: &[&[u8]] = &[b"km", b"km", b"m", b"mi", b"ft", b"KM", b"Mi", b"yd"];

/// The 16-byte header of an HLL string: "HYLL", encoding, 3 unused bytes,
/// and the cached cardinality (little endian; bit 7 of byte 15 = stale).
fn hll_header(enc: u8, card: u64, stale: bool) -> Vec<u8> {
    let mut v = b"HYLL".to_vec();
    v.push(enc);
    v.extend_from_slice(&[0, 0, 0]);
    let mut c = card.to_le_bytes();
    if stale {
        c[7] |= 0x80;
    }
    v.extend_from_slice(&c);
    v
}

impl Gen {
    fn channel(&mut self) -> Arg {
        if self.chance(0.1) {
            self.rand_bytes()
        } else {
            self.pick(CHANNELS)
        }
    }

    fn channels(&mut self, min: usize, max: usize) -> Vec<Arg> {
        let n = self.rng.gen_range(min..=max);
        (0..n).map(|_| self.channel()).collect()
    }

    /// `UNSUBSCRIBE`, `PUNSUBSCRIBE`, `SUNSUBSCRIBE` without arguments, in a
    /// random order: leaves subscribed mode.
    fn unsub_all(&mut self) -> Vec<Step> {
        let mut v = vec![
            Step::Cmd(vec![b("UNSUBSCRIBE")]),
            Step::Cmd(vec![b("PUNSUBSCRIBE")]),
            Step::Cmd(vec![b("SUNSUBSCRIBE")]),
        ];
        let k = self.rng.gen_range(0..3);
        v.rotate_left(k);
        v
    }

    /// `[WATCH ..] MULTI <0-6 commands> EXEC|DISCARD|(left open)`. A short
    /// TTL set inside runs at EXEC: the sleep goes after it.
    fn multi_block(&mut self) -> Vec<Step> {
        self.nested = true;
        let mut steps = Vec::new();
        if self.chance(0.35) {
            let mut w = vec![b("WATCH")];
            w.extend(self.keys(1, 2));
            steps.push(Step::Cmd(w));
            if self.chance(0.3) {
                // Touch a watched key (or not) before MULTI.
                steps.extend(self.next());
            }
        }
        steps.push(Step::Cmd(vec![self.name_case("MULTI")]));
        let mut short = false;
        let mut subscribed = false;
        for _ in 0..self.rng.gen_range(0..=6) {
            for s in self.next() {
                match s {
                    Step::Sleep(_) => short = true,
                    Step::Cmd(a) => {
                        let up = a[0].to_ascii_uppercase();
                        if up.ends_with(b"SUBSCRIBE") && !up.starts_with(b"UNSUB") {
                            subscribed = true;
                        }
                        steps.push(Step::Cmd(a));
                    }
                    s => steps.push(s),
                }
            }
        }
        match self.rng.gen_range(0..20) {
            0..=16 => steps.push(Step::Cmd(vec![self.name_case("EXEC")])),
            17..=18 => steps.push(Step::Cmd(vec![b("DISCARD")])),
            // Left open: later commands are queued until an EXEC/DISCARD.
            _ if !short && !subscribed => {}
            _ => steps.push(Step::Cmd(vec![b("DISCARD")])),
        }
        self.nested = false;
        if subscribed {
            steps.extend(self.unsub_all());
        }
        if short {
            steps.push(Step::Sleep(10));
        }
        steps
    }

    /// `*SUBSCRIBE ..`, a few commands while subscribed (mostly pub/sub
    /// ones: other commands are errors in RESP2), then unsubscribe from all.
    fn sub_block(&mut self, name: &'static str) -> Vec<Step> {
        self.nested = true;
        let mut steps = self.next_named(name);
        for _ in 0..self.rng.gen_range(0..=5) {
            let inner = if self.chance(0.7) {
                PUBSUB_INNER[self.rng.gen_range(0..PUBSUB_INNER.len())]
            } else {
                match self.choose_cmd() {
                    "MULTI" => "PING",
                    n => n,
                }
            };
            steps.extend(self.next_named(inner));
        }
        self.nested = false;
        steps.extend(self.unsub_all());
        steps
    }

    /// A stream ID argument: mostly `ms-seq` over a small range so entries
    /// collide, sometimes partial or malformed.
    fn sid(&mut self) -> Arg {
        match self.rng.gen_range(0..20) {
            0..=12 => {
                format!("{}-{}", self.rng.gen_range(0..12), self.rng.gen_range(0..3)).into_bytes()
            }
            13..=15 => self.rng.gen_range(0..12).to_string().into_bytes(),
            16 => b("0-0"),
            17 => self.pick(&[
                b"18446744073709551615-18446744073709551615",
                b"18446744073709551615",
                b"18446744073709551616",
            ]),
            _ => self.pick(&[b"abc", b"1-", b"-1", b"1-x", b"", b"1-2-3", b"+", b"-"]),
        }
    }

    /// A range bound for XRANGE/XPENDING: IDs, `-`/`+`, exclusive `(id`.
    fn sid_bound(&mut self) -> Arg {
        match self.rng.gen_range(0..10) {
            0..=1 => b("-"),
            2..=3 => b("+"),
            4 => {
                let mut v = b"(".to_vec();
                v.extend(self.sid());
                v
            }
            _ => self.sid(),
        }
    }

    fn stream_key(&mut self) -> Arg {
        self.key()
    }

    fn fields_values(&mut self, a: &mut Vec<Arg>) {
        let n = self.rng.gen_range(1..=3);
        for _ in 0..n {
            a.push(self.pick(STREAM_FIELDS));
            a.push(self.value());
        }
        if self.chance(0.03) {
            a.push(b("f"));
        }
    }

    /// `MAXLEN|MINID [=|~] threshold [LIMIT n]`.
    fn trim_args(&mut self, a: &mut Vec<Arg>) {
        let minid = self.chance(0.4);
        a.push(self.pick(if minid {
            &[b"MINID", b"minid"]
        } else {
            &[b"MAXLEN", b"maxlen"]
        }));
        let approx = match self.rng.gen_range(0..3) {
            0 => {
                a.push(b("="));
                false
            }
            1 => {
                a.push(b("~"));
                true
            }
            _ => false,
        };
        if minid {
            a.push(self.sid());
        } else {
            a.push(self.int(0, 8));
        }
        if self.chance(if approx { 0.4 } else { 0.1 }) {
            a.push(b("LIMIT"));
            a.push(self.int(0, 5));
        }
    }

    fn xclaim_opts(&mut self, a: &mut Vec<Arg>) {
        for _ in 0..self.rng.gen_range(0..3) {
            match self.rng.gen_range(0..8) {
                0 => {
                    a.push(b("IDLE"));
                    a.push(self.pick(&[b"0", b"500000", b"-1", b"abc"]));
                }
                1 => {
                    a.push(b("TIME"));
                    a.push(self.pick(&[b"1", b"abc", b"-5"]));
                }
                2 => {
                    a.push(b("RETRYCOUNT"));
                    a.push(self.int(0, 9));
                }
                3 => a.push(b("FORCE")),
                4..=5 => a.push(b("JUSTID")),
                6 => {
                    a.push(b("LASTID"));
                    a.push(self.sid());
                }
                _ => a.push(b("BOGUS")),
            }
        }
    }

    fn min_idle(&mut self) -> Arg {
        self.pick(&[b"0", b"0", b"400000", b"3600000", b"-1", b"abc"])
    }

    fn coord(&mut self, a: &mut Vec<Arg>) {
        let (lon, lat) = if self.chance(0.9) {
            COORDS[self.rng.gen_range(0..11)]
        } else {
            COORDS[self.rng.gen_range(0..COORDS.len())]
        };
        a.push(lon.to_vec());
        a.push(lat.to_vec());
    }

    fn geo_member(&mut self) -> Arg {
        if self.chance(0.1) {
            self.member()
        } else {
            self.pick(GEO_MEMBERS)
        }
    }

    /// WITHCOORD/WITHDIST/WITHHASH, COUNT [ANY], ASC|DESC in random order.
    fn geo_opts(&mut self, a: &mut Vec<Arg>, with_store: bool, search: bool) {
        let mut opts: Vec<Vec<Arg>> = Vec::new();
        for w in ["WITHCOORD", "WITHDIST", "WITHHASH"] {
            if self.chance(0.3) {
                opts.push(vec![b(w)]);
            }
        }
        if self.chance(0.4) {
            let mut c = vec![b("COUNT"), self.int(0, 5)];
            if self.chance(0.3) {
                c.push(b("ANY"));
            }
            opts.push(c);
        }
        if self.chance(0.5) {
            opts.push(vec![self.pick(&[b"ASC", b"DESC", b"asc"])]);
        }
        if with_store && self.chance(0.25) {
            let k = self.key();
            opts.push(vec![self.pick(&[b"STORE", b"STOREDIST"]), k]);
        }
        if search && self.chance(0.04) {
            opts.push(vec![b("STOREDIST")]);
        }
        if self.chance(0.03) {
            opts.push(vec![b("BOGUS")]);
        }
        let n = opts.len();
        for i in 0..n {
            let j = self.rng.gen_range(i..n);
            opts.swap(i, j);
        }
        for o in opts {
            a.extend(o);
        }
    }

    /// `FROMMEMBER m | FROMLONLAT lon lat` and `BYRADIUS r unit | BYBOX w h unit`.
    fn geosearch_shape(&mut self, a: &mut Vec<Arg>) {
        match self.rng.gen_range(0..20) {
            0..=8 => {
                a.push(b("FROMMEMBER"));
                a.push(self.geo_member());
            }
            9..=17 => {
                a.push(b("FROMLONLAT"));
                self.coord(a);
            }
            18 => {}
            _ => {
                a.push(b("FROMMEMBER"));
                a.push(self.geo_member());
                a.push(b("FROMLONLAT"));
                self.coord(a);
            }
        }
        match self.rng.gen_range(0..20) {
            0..=9 => {
                a.push(b("BYRADIUS"));
                a.push(self.pick(RADII));
                a.push(self.pick(UNITS));
            }
            10..=18 => {
                a.push(b("BYBOX"));
                a.push(self.pick(RADII));
                a.push(self.pick(RADII));
                a.push(self.pick(UNITS));
            }
            _ => {}
        }
    }

    /// A valid or corrupt HLL string.
    fn hll_blob(&mut self) -> Arg {
        let stale = self.chance(0.5);
        let card = self.pick(&[&[0u8][..], &[5], &[200]])[0] as u64;
        match self.rng.gen_range(0..10) {
            // Sparse: random opcodes, covering exactly 16384 registers
            // (valid) or not (corrupt).
            0..=4 => {
                let mut v = hll_header(1, card, stale);
                let total = if self.chance(0.8) {
                    16384usize
                } else {
                    self.pick(&[&b"\x01"[..], b"\x02"])[0] as usize * 16000
                };
                let mut left = total;
                while left > 0 {
                    match self.rng.gen_range(0..3) {
                        0 => {
                            let n = self.rng.gen_range(1..=left.min(16384));
                            let x = n - 1;
                            v.push(0x40 | (x >> 8) as u8);
                            v.push((x & 0xff) as u8);
                            left -= n;
                        }
                        1 => {
                            let n = self.rng.gen_range(1..=left.min(64));
                            v.push((n - 1) as u8);
                            left -= n;
                        }
                        _ => {
                            let n = self.rng.gen_range(1..=left.min(4));
                            let val = self.rng.gen_range(1..=32u8);
                            v.push(0x80 | ((val - 1) << 2) | (n - 1) as u8);
                            left -= n;
                        }
                    }
                }
                v
            }
            // Dense: 12288 register bytes (or a wrong length).
            5..=7 => {
                let mut v = hll_header(0, card, stale);
                let len = if self.chance(0.8) { 12288 } else { 12287 };
                let fill = self.pick(&[&[0u8][..], &[0x41], &[0xff]])[0];
                v.extend(std::iter::repeat_n(fill, len));
                v
            }
            // Broken headers.
            _ => self
                .pick(&[
                    b"HYLL",
                    b"HYLL\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff",
                    b"HYLX\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff",
                    b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
                    b"HYLL\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x7f\xff\x00",
                ])
                .to_vec(),
        }
    }

    fn bf_type(&mut self) -> Arg {
        match self.rng.gen_range(0..12) {
            0..=4 => format!("u{}", self.rng.gen_range(1..=63)).into_bytes(),
            5..=9 => format!("i{}", self.rng.gen_range(1..=64)).into_bytes(),
            _ => self.pick(&[b"u64", b"i65", b"i0", b"u0", b"x8", b"U8", b"i", b""]),
        }
    }

    fn bf_offset(&mut self) -> Arg {
        match self.rng.gen_range(0..12) {
            0..=6 => self.rng.gen_range(0..80).to_string().into_bytes(),
            7..=9 => format!("#{}", self.rng.gen_range(0..8)).into_bytes(),
            _ => self.pick(&[b"-1", b"abc", b"#-1", b"4294967296", b"#", b"#x"]),
        }
    }

    fn bf_value(&mut self) -> Arg {
        match self.rng.gen_range(0..10) {
            0..=5 => self.rng.gen_range(-300i64..300).to_string().into_bytes(),
            6..=8 => self
                .pick(&[
                    b"9223372036854775807",
                    b"-9223372036854775808",
                    b"127",
                    b"-128",
                    b"255",
                    b"4294967295",
                    b"18446744073709551615",
                ])
                .to_vec(),
            _ => self.pick(BAD_INTS),
        }
    }

    fn bit_range(&mut self, a: &mut Vec<Arg>, min_parts: usize) {
        let parts = self.rng.gen_range(min_parts..=3);
        if parts >= 1 {
            a.push(self.int(-10, 10));
        }
        if parts >= 2 {
            a.push(self.int(-10, 10));
        }
        if parts >= 3 {
            a.push(self.pick(&[b"BYTE", b"BIT", b"bit", b"WORD"]));
        }
    }

    /// The issue-4 commands.
    fn gen_ext(&mut self, name: &'static str, mut a: Vec<Arg>) -> Step {
        match name {
            // ------------------------------------------------------ conn/tx
            "RESET" | "MULTI" | "EXEC" | "DISCARD" | "UNWATCH" => {}
            "WATCH" => a.extend(self.keys(1, 3)),
            // ------------------------------------------------------- pubsub
            "SUBSCRIBE" | "SSUBSCRIBE" => a.extend(self.channels(1, 3)),
            "UNSUBSCRIBE" | "SUNSUBSCRIBE" => a.extend(self.channels(0, 2)),
            "PSUBSCRIBE" => {
                for _ in 0..self.rng.gen_range(1..=3) {
                    a.push(self.pick(CHANNEL_PATTERNS));
                }
            }
            "PUNSUBSCRIBE" => {
                for _ in 0..self.rng.gen_range(0..=2) {
                    a.push(self.pick(CHANNEL_PATTERNS));
                }
            }
            "PUBLISH" | "SPUBLISH" => {
                a.push(self.channel());
                a.push(self.value());
            }
            "PUBSUB" => match self.rng.gen_range(0..14) {
                0..=2 => {
                    a.push(b("CHANNELS"));
                    if self.chance(0.5) {
                        a.push(self.pick(CHANNEL_PATTERNS));
                    }
                }
                3..=4 => {
                    a.push(b("SHARDCHANNELS"));
                    if self.chance(0.5) {
                        a.push(self.pick(CHANNEL_PATTERNS));
                    }
                }
                5..=7 => {
                    a.push(self.pick(&[b"NUMSUB", b"numsub"]));
                    a.extend(self.channels(0, 3));
                }
                8..=9 => {
                    a.push(b("SHARDNUMSUB"));
                    a.extend(self.channels(0, 3));
                }
                10..=11 => a.push(b("NUMPAT")),
                12 => a.push(self.pick(&[b"HELP", b"help"])),
                _ => {
                    a.push(self.pick(&[b"BOGUS", b"NUMPAT", b"CHANNELS"]));
                    a.push(b("x"));
                    a.push(b("y"));
                }
            },
            // ------------------------------------------------------ streams
            "XADD" => {
                a.push(self.stream_key());
                if self.chance(0.15) {
                    a.push(self.pick(&[b"NOMKSTREAM", b"nomkstream"]));
                }
                if self.chance(0.25) {
                    self.trim_args(&mut a);
                }
                match self.rng.gen_range(0..10) {
                    0..=6 => a.push(self.sid()),
                    _ => {
                        let ms = self.rng.gen_range(0..12);
                        a.push(format!("{ms}-*").into_bytes());
                    }
                }
                self.fields_values(&mut a);
            }
            "XLEN" => a.push(self.stream_key()),
            "XRANGE" | "XREVRANGE" => {
                a.push(self.stream_key());
                a.push(self.sid_bound());
                a.push(self.sid_bound());
                if self.chance(0.4) {
                    a.push(b("COUNT"));
                    a.push(self.int(-1, 4));
                }
            }
            "XREAD" => {
                if self.chance(0.4) {
                    a.push(b("COUNT"));
                    a.push(self.int(-1, 4));
                }
                a.push(b("STREAMS"));
                let keys = self.keys(1, 2);
                let n = keys.len();
                a.extend(keys);
                let ids = if self.chance(0.05) { n + 1 } else { n };
                for _ in 0..ids {
                    let id = if self.chance(0.15) {
                        b("$")
                    } else if self.chance(0.05) {
                        b("+")
                    } else {
                        self.sid()
                    };
                    a.push(id);
                }
            }
            "XDEL" => {
                a.push(self.stream_key());
                for _ in 0..self.rng.gen_range(1..=3) {
                    a.push(self.sid());
                }
            }
            "XTRIM" => {
                a.push(self.stream_key());
                self.trim_args(&mut a);
            }
            "XSETID" => {
                a.push(self.stream_key());
                a.push(self.sid());
                if self.chance(0.3) {
                    a.push(b("ENTRIESADDED"));
                    a.push(self.int(0, 30));
                }
                if self.chance(0.3) {
                    a.push(b("MAXDELETEDID"));
                    a.push(self.sid());
                }
            }
            "XGROUP" => match self.rng.gen_range(0..16) {
                0..=5 => {
                    a.push(self.pick(&[b"CREATE", b"create"]));
                    a.push(self.stream_key());
                    a.push(self.pick(GROUPS_NAMES));
                    let id = if self.chance(0.3) { b("$") } else { self.sid() };
                    a.push(id);
                    if self.chance(0.4) {
                        a.push(b("MKSTREAM"));
                    }
                    if self.chance(0.2) {
                        a.push(b("ENTRIESREAD"));
                        a.push(self.int(-2, 12));
                    }
                }
                6..=7 => {
                    a.push(b("CREATECONSUMER"));
                    a.push(self.stream_key());
                    a.push(self.pick(GROUPS_NAMES));
                    a.push(self.pick(CONSUMERS));
                }
                8..=9 => {
                    a.push(b("DELCONSUMER"));
                    a.push(self.stream_key());
                    a.push(self.pick(GROUPS_NAMES));
                    a.push(self.pick(CONSUMERS));
                }
                10 => {
                    a.push(b("DESTROY"));
                    a.push(self.stream_key());
                    a.push(self.pick(GROUPS_NAMES));
                }
                11..=13 => {
                    a.push(b("SETID"));
                    a.push(self.stream_key());
                    a.push(self.pick(GROUPS_NAMES));
                    let id = if self.chance(0.3) { b("$") } else { self.sid() };
                    a.push(id);
                    if self.chance(0.3) {
                        a.push(b("ENTRIESREAD"));
                        a.push(self.int(-2, 12));
                    }
                }
                14 => a.push(b("HELP")),
                _ => {
                    a.push(self.pick(&[b"BOGUS", b"CREATE", b"SETID"]));
                    a.push(self.stream_key());
                }
            },
            "XREADGROUP" => {
                a.push(b("GROUP"));
                a.push(self.pick(GROUPS_NAMES));
                a.push(self.pick(CONSUMERS));
                if self.chance(0.5) {
                    a.push(b("COUNT"));
                    a.push(self.int(-1, 4));
                }
                if self.chance(0.2) {
                    a.push(b("NOACK"));
                }
                a.push(b("STREAMS"));
                let keys = self.keys(1, 2);
                let n = keys.len();
                a.extend(keys);
                for _ in 0..n {
                    let id = match self.rng.gen_range(0..10) {
                        0..=5 => b(">"),
                        6..=7 => b("0"),
                        8 => b("$"),
                        _ => self.sid(),
                    };
                    a.push(id);
                }
            }
            "XACK" => {
                a.push(self.stream_key());
                a.push(self.pick(GROUPS_NAMES));
                for _ in 0..self.rng.gen_range(1..=3) {
                    a.push(self.sid());
                }
            }
            "XPENDING" => {
                a.push(self.stream_key());
                a.push(self.pick(GROUPS_NAMES));
                if self.chance(0.7) {
                    if self.chance(0.3) {
                        a.push(b("IDLE"));
                        a.push(self.min_idle());
                    }
                    a.push(self.sid_bound());
                    a.push(self.sid_bound());
                    a.push(self.int(-1, 5));
                    if self.chance(0.4) {
                        a.push(self.pick(CONSUMERS));
                    }
                }
            }
            "XCLAIM" => {
                a.push(self.stream_key());
                a.push(self.pick(GROUPS_NAMES));
                a.push(self.pick(CONSUMERS));
                a.push(self.min_idle());
                for _ in 0..self.rng.gen_range(1..=3) {
                    a.push(self.sid());
                }
                self.xclaim_opts(&mut a);
            }
            "XAUTOCLAIM" => {
                a.push(self.stream_key());
                a.push(self.pick(GROUPS_NAMES));
                a.push(self.pick(CONSUMERS));
                a.push(self.min_idle());
                a.push(self.sid_bound());
                if self.chance(0.5) {
                    a.push(b("COUNT"));
                    a.push(self.int(-1, 4));
                }
                if self.chance(0.3) {
                    a.push(b("JUSTID"));
                }
            }
            "XINFO" => match self.rng.gen_range(0..12) {
                0..=4 => {
                    a.push(b("STREAM"));
                    a.push(self.stream_key());
                    if self.chance(0.4) {
                        a.push(b("FULL"));
                        if self.chance(0.5) {
                            a.push(b("COUNT"));
                            a.push(self.int(-1, 3));
                        }
                    }
                }
                5..=7 => {
                    a.push(b("GROUPS"));
                    a.push(self.stream_key());
                }
                8..=10 => {
                    a.push(b("CONSUMERS"));
                    a.push(self.stream_key());
                    a.push(self.pick(GROUPS_NAMES));
                }
                _ => a.push(self.pick(&[b"HELP", b"BOGUS"])),
            },
            // ---------------------------------------------------------- geo
            "GEOADD" => {
                a.push(self.key());
                if self.chance(0.2) {
                    a.push(self.pick(&[b"NX", b"XX", b"nx"]));
                }
                if self.chance(0.2) {
                    a.push(b("CH"));
                }
                if self.chance(0.03) {
                    a.push(b("XX"));
                }
                for _ in 0..self.rng.gen_range(1..=3) {
                    self.coord(&mut a);
                    a.push(self.geo_member());
                }
            }
            "GEODIST" => {
                a.push(self.key());
                a.push(self.geo_member());
                a.push(self.geo_member());
                if self.chance(0.5) {
                    a.push(self.pick(UNITS));
                }
            }
            "GEOHASH" | "GEOPOS" => {
                a.push(self.key());
                for _ in 0..self.rng.gen_range(0..=3) {
                    a.push(self.geo_member());
                }
            }
            "GEORADIUS" | "GEORADIUS_RO" => {
                a.push(self.key());
                self.coord(&mut a);
                a.push(self.pick(RADII));
                a.push(self.pick(UNITS));
                self.geo_opts(&mut a, name == "GEORADIUS", false);
            }
            "GEORADIUSBYMEMBER" | "GEORADIUSBYMEMBER_RO" => {
                a.push(self.key());
                a.push(self.geo_member());
                a.push(self.pick(RADII));
                a.push(self.pick(UNITS));
                self.geo_opts(&mut a, name == "GEORADIUSBYMEMBER", false);
            }
            "GEOSEARCH" => {
                a.push(self.key());
                self.geosearch_shape(&mut a);
                self.geo_opts(&mut a, false, true);
            }
            "GEOSEARCHSTORE" => {
                a.push(self.key());
                a.push(self.key());
                self.geosearch_shape(&mut a);
                self.geo_opts(&mut a, false, false);
                if self.chance(0.4) {
                    a.push(b("STOREDIST"));
                }
            }
            // ---------------------------------------------------------- hll
            "PFADD" => {
                a.push(self.key());
                match self.rng.gen_range(0..10) {
                    0..=6 => a.extend(self.members(0, 4)),
                    // Enough elements to grow the sparse form and, after a
                    // few, to promote it to dense (hll-sparse-max-bytes).
                    _ => {
                        let base = self.rng.gen_range(0..5000);
                        let n = self.rng.gen_range(100..800);
                        for i in 0..n {
                            a.push(format!("e{}", base + i).into_bytes());
                        }
                    }
                }
            }
            "PFCOUNT" => a.extend(self.keys(1, 3)),
            "PFMERGE" => a.extend(self.keys(1, 3)),
            "PFDEBUG" => {
                a.push(self.pick(&[
                    b"ENCODING",
                    b"ENCODING",
                    b"DECODE",
                    b"TODENSE",
                    b"GETREG",
                    b"encoding",
                    b"BOGUS",
                ]));
                a.push(self.key());
            }
            "HLLSET" => {
                a[0] = b("SET");
                a.push(self.key());
                a.push(self.hll_blob());
            }
            "HLLPOKE" => {
                a[0] = b("SETRANGE");
                a.push(self.key());
                a.push(self.rng.gen_range(0..40).to_string().into_bytes());
                let n = self.rng.gen_range(1..=2);
                let v: Vec<u8> = (0..n).map(|_| self.rng.gen()).collect();
                a.push(v);
            }
            // ------------------------------------------------------- bitmap
            "SETBIT" => {
                a.push(self.key());
                a.push(match self.rng.gen_range(0..20) {
                    0..=16 => self.rng.gen_range(0..100).to_string().into_bytes(),
                    17 => self.pick(&[b"-1", b"4294967296", b"abc", b""]),
                    _ => self.rng.gen_range(100..3000).to_string().into_bytes(),
                });
                a.push(self.pick(&[b"0", b"1", b"1", b"2", b"-1", b"on"]));
            }
            "GETBIT" => {
                a.push(self.key());
                a.push(match self.rng.gen_range(0..10) {
                    0..=8 => self.rng.gen_range(0..120).to_string().into_bytes(),
                    _ => self.pick(&[b"-1", b"4294967296", b"4294967295", b"abc"]),
                });
            }
            "BITCOUNT" => {
                a.push(self.key());
                self.bit_range(&mut a, 0);
            }
            "BITPOS" => {
                a.push(self.key());
                a.push(self.pick(&[b"0", b"1", b"1", b"2", b"abc"]));
                self.bit_range(&mut a, 0);
            }
            "BITOP" => {
                let op = self.pick(&[b"AND", b"OR", b"XOR", b"NOT", b"not", b"NAND"]);
                a.push(op);
                a.extend(self.keys(2, 4));
            }
            "BITFIELD" | "BITFIELD_RO" => {
                a.push(self.key());
                for _ in 0..self.rng.gen_range(0..=4) {
                    match self.rng.gen_range(0..10) {
                        0..=2 => {
                            a.push(b("GET"));
                            a.push(self.bf_type());
                            a.push(self.bf_offset());
                        }
                        3..=4 if name == "BITFIELD" || self.chance(0.1) => {
                            a.push(b("SET"));
                            a.push(self.bf_type());
                            a.push(self.bf_offset());
                            a.push(self.bf_value());
                        }
                        5..=6 if name == "BITFIELD" || self.chance(0.1) => {
                            a.push(self.pick(&[b"INCRBY", b"incrby"]));
                            a.push(self.bf_type());
                            a.push(self.bf_offset());
                            a.push(self.bf_value());
                        }
                        7..=8 => {
                            a.push(b("OVERFLOW"));
                            a.push(self.pick(&[b"WRAP", b"SAT", b"FAIL", b"fail", b"BOGUS"]));
                        }
                        _ => a.push(self.pick(&[b"GET", b"BOGUS", b"OVERFLOW"])),
                    }
                }
            }
            other => panic!("generator has no case for {other}"),
        }
        Step::Cmd(a)
    }
}

// ---------------------------------------------------------------------------
// RESP values and normalisation
// ---------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum V {
    /// `+ - : , # _ (`: tag and line.
    Line(u8, Vec<u8>),
    /// `$ = !`: tag and payload (None for `$-1`).
    Bulk(u8, Option<Vec<u8>>),
    /// `* ~ > % |`: tag and elements (maps flattened; None for `*-1`).
    Agg(u8, Option<Vec<V>>),
}

/// Parse one complete reply (as returned by `common::reply_len`).
fn parse_v(b: &[u8]) -> Option<(V, usize)> {
    let nl = b.windows(2).position(|w| w == b"\r\n")?;
    let tag = *b.first()?;
    let line = &b[1..nl];
    let after = nl + 2;
    let num = || std::str::from_utf8(line).ok()?.parse::<i64>().ok();
    match tag {
        b'+' | b'-' | b':' | b',' | b'#' | b'_' | b'(' => {
            Some((V::Line(tag, line.to_vec()), after))
        }
        b'$' | b'=' | b'!' => {
            let n = num()?;
            if n < 0 {
                return Some((V::Bulk(tag, None), after));
            }
            let end = after + n as usize;
            Some((V::Bulk(tag, Some(b.get(after..end)?.to_vec())), end + 2))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = num()?;
            if n < 0 {
                return Some((V::Agg(tag, None), after));
            }
            let count = if matches!(tag, b'%' | b'|') { 2 * n } else { n };
            let mut pos = after;
            let mut items = Vec::new();
            for _ in 0..count {
                let (v, used) = parse_v(b.get(pos..)?)?;
                items.push(v);
                pos += used;
            }
            Some((V::Agg(tag, Some(items)), pos))
        }
        _ => None,
    }
}

fn parse_reply(raw: &[u8]) -> V {
    parse_v(raw)
        .map(|x| x.0)
        .unwrap_or_else(|| V::Line(b'?', raw.to_vec()))
}

/// How a command's reply is compared.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Norm {
    Exact,
    /// Sort the elements of an aggregate.
    Sorted,
    /// Sort (field, value) pairs of a flat array or a map.
    SortedPairs,
    /// Compare types and lengths only (random replies).
    Shape,
    /// Sort groups of this many elements, then compare exactly: `SORT` of a
    /// set `BY nosort` returns the members in hash-table order (seeded at
    /// random in Redis), each followed by its GET values.
    SortedChunks(usize),
    /// Compare the aggregate's type and length only: with `BY nosort LIMIT`
    /// on a set, which members fall in the window depends on the hash order,
    /// and so do the nils of their GET values.
    Len,
    /// Integers may differ by this much when both are positive.
    Approx(i64),
    /// XINFO / XPENDING: idle and delivery times masked ([`mask_times`]).
    StreamTimes,
}

fn norm_for(args: &[Arg]) -> Norm {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    match name.as_str() {
        "SMEMBERS" | "SUNION" | "SINTER" | "SDIFF" | "HKEYS" | "HVALS" | "KEYS" => Norm::Sorted,
        "PUBSUB" => {
            let sub = args.get(1).map(|a| a.to_ascii_uppercase());
            if matches!(sub.as_deref(), Some(b"CHANNELS" | b"SHARDCHANNELS")) {
                Norm::Sorted
            } else {
                Norm::Exact
            }
        }
        "XINFO" | "XPENDING" => Norm::StreamTimes,
        "HGETALL" => Norm::SortedPairs,
        "SRANDMEMBER" | "HRANDFIELD" | "ZRANDMEMBER" | "RANDOMKEY" | "SPOP" | "HELLO" => {
            Norm::Shape
        }
        "SORT" | "SORT_RO" => {
            let up: Vec<Vec<u8>> = args.iter().map(|a| a.to_ascii_uppercase()).collect();
            let has = |w: &[u8]| up.iter().any(|a| a == w);
            let gets = up.iter().skip(2).filter(|a| a.as_slice() == b"GET").count();
            if has(b"STORE") {
                Norm::Exact
            } else if has(b"NOSORT") && has(b"LIMIT") {
                Norm::Len
            } else if has(b"NOSORT") {
                Norm::SortedChunks(gets.max(1))
            } else if has(b"ALPHA") && has(b"LIMIT") {
                Norm::Shape
            } else if has(b"ALPHA") {
                // Without STORE, Redis compares with strcoll() on C strings:
                // elements differing only after a NUL tie, in input order.
                Norm::Sorted
            } else {
                Norm::Exact
            }
        }
        "TTL" | "EXPIRETIME" => Norm::Approx(1),
        "PTTL" | "PEXPIRETIME" => Norm::Approx(1500),
        _ => Norm::Exact,
    }
}

fn shape(v: &V) -> String {
    match v {
        V::Line(t, l) if *t == b'-' => format!("-{}", String::from_utf8_lossy(l)),
        V::Line(t, _) => (*t as char).to_string(),
        V::Bulk(t, None) => format!("{}nil", *t as char),
        V::Bulk(t, Some(_)) => (*t as char).to_string(),
        V::Agg(t, None) => format!("{}nil", *t as char),
        V::Agg(t, Some(items)) => {
            let inner: Vec<String> = items.iter().map(shape).collect();
            format!("{}{}[{}]", *t as char, items.len(), inner.join(","))
        }
    }
}

fn normalize(v: V, norm: Norm) -> V {
    match (norm, v) {
        (Norm::Sorted, V::Agg(t, Some(mut items))) => {
            items.sort();
            V::Agg(t, Some(items))
        }
        (Norm::SortedChunks(n), V::Agg(t, Some(items))) => {
            let mut groups: Vec<V> = items
                .chunks(n.max(1))
                .map(|c| V::Agg(b'p', Some(c.to_vec())))
                .collect();
            groups.sort();
            V::Agg(t, Some(groups))
        }
        (Norm::SortedPairs, V::Agg(t, Some(items))) => {
            let mut pairs: Vec<V> = items
                .chunks(2)
                .map(|c| V::Agg(b'p', Some(c.to_vec())))
                .collect();
            pairs.sort();
            V::Agg(t, Some(pairs))
        }
        (_, v) => v,
    }
}

fn int_of(v: &V) -> Option<i64> {
    match v {
        V::Line(b':', l) => std::str::from_utf8(l).ok()?.parse().ok(),
        _ => None,
    }
}

/// Compare two raw replies under `norm`.
fn replies_match(fc: &[u8], rd: &[u8], norm: Norm) -> bool {
    fc == rd || values_match(&parse_reply(fc), &parse_reply(rd), norm)
}

/// Compare two parsed replies under `norm`.
fn values_match(a: &V, b: &V, norm: Norm) -> bool {
    if a == b {
        return true;
    }
    match norm {
        Norm::Exact => false,
        Norm::Shape => shape(a) == shape(b),
        Norm::Len => match (a, b) {
            (V::Agg(t, Some(x)), V::Agg(u, Some(y))) => t == u && x.len() == y.len(),
            _ => shape(a) == shape(b),
        },
        Norm::Approx(tol) => match (int_of(a), int_of(b)) {
            (Some(x), Some(y)) => x == y || (x > 0 && y > 0 && (x - y).abs() <= tol),
            _ => false,
        },
        Norm::StreamTimes => mask_times(a.clone()) == mask_times(b.clone()),
        _ => normalize(a.clone(), norm) == normalize(b.clone(), norm),
    }
}

/// EXEC's reply: an array with one reply per queued command, each compared
/// with that command's normalisation (errors and nil compare exactly).
fn exec_replies_match(fc: &[u8], rd: &[u8], queued: &[Vec<Arg>]) -> bool {
    if fc == rd {
        return true;
    }
    match (parse_reply(fc), parse_reply(rd)) {
        (V::Agg(t, Some(x)), V::Agg(u, Some(y)))
            if t == u && x.len() == y.len() && x.len() == queued.len() =>
        {
            x.iter()
                .zip(&y)
                .zip(queued)
                .all(|((p, q), args)| values_match(p, q, norm_for(args)))
        }
        _ => false,
    }
}

/// `UNSUBSCRIBE` / `SUNSUBSCRIBE` without arguments answer once per channel
/// in the order of Redis's per-client dict (seeded at random): compare the
/// confirmations' kinds and counts in order and the channel names as a set.
fn unsub_all_match(fc: &[Vec<u8>], rd: &[Vec<u8>]) -> bool {
    let split = |rs: &[Vec<u8>]| {
        let mut frame = Vec::new();
        let mut names = Vec::new();
        for r in rs {
            match parse_reply(r) {
                V::Agg(t, Some(mut items)) if items.len() == 3 => {
                    names.push(items.remove(1));
                    frame.push(V::Agg(t, Some(items)));
                }
                v => frame.push(v),
            }
        }
        names.sort();
        (frame, names)
    };
    split(fc) == split(rd)
}

/// Is `b` a stream ID (`ms-seq`)?
fn is_stream_id(b: &[u8]) -> bool {
    let mut parts = b.splitn(2, |&c| c == b'-');
    let ok =
        |p: Option<&[u8]>| p.is_some_and(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit));
    ok(parts.next()) && ok(parts.next())
}

/// Mask the clock-dependent integers of XINFO and XPENDING replies: the
/// value after an `idle`/`inactive`/`seen-time`/`active-time` field, the
/// idle column of XPENDING rows `[id, consumer, idle, count]` and the
/// delivery times of XINFO STREAM FULL rows (`[id, consumer, time, count]`,
/// `[id, time, count]`). Delivery counts stay exact.
fn mask_times(v: V) -> V {
    let t = || V::Line(b':', b"T".to_vec());
    let is_int = |v: &V| matches!(v, V::Line(b':', _));
    match v {
        V::Agg(tag, Some(items)) => {
            let mut items: Vec<V> = items.into_iter().map(mask_times).collect();
            let id_first = matches!(items.first(), Some(V::Bulk(_, Some(id))) if is_stream_id(id));
            if id_first && items.len() == 4 && is_int(&items[2]) && is_int(&items[3]) {
                items[2] = t();
            } else if id_first && items.len() == 3 && is_int(&items[1]) && is_int(&items[2]) {
                items[1] = t();
            }
            for i in 0..items.len().saturating_sub(1) {
                let key = match &items[i] {
                    V::Bulk(_, Some(k)) | V::Line(b'+', k) => k.as_slice(),
                    _ => continue,
                };
                if matches!(key, b"idle" | b"inactive" | b"seen-time" | b"active-time")
                    && is_int(&items[i + 1])
                {
                    items[i + 1] = t();
                }
            }
            V::Agg(tag, Some(items))
        }
        v => v,
    }
}

/// Bytes as redis-cli would quote them.
fn esc(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &c in bytes {
        match c {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

fn quote_args(args: &[Arg]) -> String {
    args.iter()
        .map(|a| {
            let e = esc(a);
            if a.is_empty() || e.len() != a.len() || a.contains(&b' ') {
                format!("\"{e}\"")
            } else {
                e
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn step_text(s: &Step) -> String {
    match s {
        Step::Cmd(a) => quote_args(a),
        Step::Sleep(ms) => format!("(sleep {ms} ms)"),
        Step::Scan { prefix, opts, .. } => {
            format!(
                "{} <cursor> {} (to completion)",
                quote_args(prefix),
                quote_args(opts)
            )
        }
    }
}

// ---------------------------------------------------------------------------
// Connections and servers
// ---------------------------------------------------------------------------

struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(node: &Node) -> std::io::Result<Conn> {
        let s = TcpStream::connect(node.addr())?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.set_nodelay(true)?;
        Ok(Conn { s, buf: Vec::new() })
    }

    fn send(&mut self, args: &[Arg]) -> std::io::Result<()> {
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        self.s.write_all(&common::encode_cmd(&refs))
    }

    fn read(&mut self) -> std::io::Result<Vec<u8>> {
        loop {
            if let Some(n) = common::reply_len(&self.buf) {
                let r = self.buf[..n].to_vec();
                self.buf.drain(..n);
                return Ok(r);
            }
            let mut tmp = [0u8; 65536];
            match self.s.read(&mut tmp)? {
                0 => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "connection closed",
                    ))
                }
                n => self.buf.extend_from_slice(&tmp[..n]),
            }
        }
    }

    fn call(&mut self, args: &[Arg]) -> std::io::Result<Vec<u8>> {
        self.send(args)?;
        self.read()
    }
}

/// One ferrocache and one redis-server, with a connection to each.
struct Servers {
    fc_node: Node,
    rd_node: Node,
    fc: Conn,
    rd: Conn,
    /// Inside MULTI (as Redis sees it): the commands queued so far.
    multi: Option<Vec<Vec<Arg>>>,
    /// Counter for the sentinel tokens of [`Servers::exec_cmd`].
    sync_ctr: u64,
}

/// What one step produced on each side.
struct Outcome {
    ok: bool,
    fc: String,
    rd: String,
    /// A connection broke: the servers must be restarted.
    broken: bool,
}

fn io_text(r: &std::io::Result<Vec<u8>>) -> String {
    match r {
        Ok(v) => esc(v),
        Err(e) => format!("<{e}>"),
    }
}

impl Servers {
    fn start() -> Option<Servers> {
        let rd_node = common::start_redis_server(&[])?;
        let fc_node = common::start_ferrocache(&["--threads", "2"]);
        let fc = Conn::open(&fc_node).expect("connect to ferrocache");
        let rd = Conn::open(&rd_node).expect("connect to redis-server");
        Some(Servers {
            fc_node,
            rd_node,
            fc,
            rd,
            multi: None,
            sync_ctr: 0,
        })
    }

    /// Fresh connections (RESP2, db 0) and empty databases 0-2. Returns false
    /// when the reset did not work on one side (the caller restarts both).
    fn reset(&mut self) -> bool {
        let (Ok(fc), Ok(rd)) = (Conn::open(&self.fc_node), Conn::open(&self.rd_node)) else {
            return false;
        };
        self.fc = fc;
        self.rd = rd;
        self.multi = None;
        for db in ["2", "1", "0"] {
            for c in [&mut self.fc, &mut self.rd] {
                for cmd in [vec![b("SELECT"), b(db)], vec![b("FLUSHDB")]] {
                    match c.call(&cmd) {
                        Ok(r) if r == b"+OK\r\n" => {}
                        _ => return false,
                    }
                }
            }
        }
        true
    }

    /// Iterate SCAN-family commands to completion on one side; returns the
    /// sorted, deduplicated elements or the first error / oddity.
    fn scan_all(
        c: &mut Conn,
        prefix: &[Arg],
        opts: &[Arg],
        pairs: bool,
    ) -> std::io::Result<Vec<u8>> {
        let mut cursor = b"0".to_vec();
        let mut seen: BTreeSet<Vec<Vec<u8>>> = BTreeSet::new();
        for _ in 0..10_000 {
            let mut args = prefix.to_vec();
            args.push(cursor.clone());
            args.extend_from_slice(opts);
            let raw = c.call(&args)?;
            let v = parse_reply(&raw);
            let items = match &v {
                V::Agg(_, Some(items)) if items.len() == 2 => items,
                _ => return Ok(raw),
            };
            let (V::Bulk(_, Some(next)), V::Agg(_, Some(elems))) = (&items[0], &items[1]) else {
                return Ok(raw);
            };
            let flat: Vec<Vec<u8>> = elems
                .iter()
                .map(|e| format!("{e:?}").into_bytes())
                .collect();
            if pairs {
                for ch in flat.chunks(2) {
                    seen.insert(ch.to_vec());
                }
            } else {
                for e in flat {
                    seen.insert(vec![e]);
                }
            }
            if next == b"0" {
                let mut out = b"complete:".to_vec();
                for s in seen {
                    for part in s {
                        out.extend_from_slice(&part);
                        out.push(b' ');
                    }
                    out.push(b'\n');
                }
                return Ok(out);
            }
            cursor = next.clone();
        }
        Ok(b"<scan did not terminate after 10000 calls>".to_vec())
    }

    /// Delete expired keys of the current db on both sides (a full SCAN does
    /// that in Redis), so that DBSIZE does not depend on active expiry timing.
    fn purge_expired(&mut self) {
        for c in [&mut self.fc, &mut self.rd] {
            let _ = Servers::scan_all(c, &[b("SCAN")], &[b("COUNT"), b("1000")], false);
        }
    }

    fn exec(&mut self, step: &Step) -> Outcome {
        match step {
            Step::Sleep(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                Outcome {
                    ok: true,
                    fc: String::new(),
                    rd: String::new(),
                    broken: false,
                }
            }
            Step::Scan { .. } if self.multi.is_some() => Outcome {
                ok: true,
                fc: "(skipped: SCAN inside MULTI)".into(),
                rd: "(skipped: SCAN inside MULTI)".into(),
                broken: false,
            },
            Step::Scan {
                prefix,
                opts,
                pairs,
            } => {
                let f = Servers::scan_all(&mut self.fc, prefix, opts, *pairs);
                let r = Servers::scan_all(&mut self.rd, prefix, opts, *pairs);
                let broken = f.is_err() || r.is_err();
                let ok = matches!((&f, &r), (Ok(a), Ok(b)) if a == b);
                Outcome {
                    ok,
                    fc: io_text(&f),
                    rd: io_text(&r),
                    broken,
                }
            }
            Step::Cmd(args) => self.exec_cmd(args),
        }
    }

    /// Run one command on both sides and compare every reply it produced.
    ///
    /// Outside MULTI the command is pipelined with a `PING <token>` sentinel
    /// and replies are read up to the sentinel's: (P|S)SUBSCRIBE and friends
    /// answer once per channel, a RESP3 client receives its own PUBLISH as a
    /// push, and RESP2 subscribed mode answers PING as `[pong, token]`. All
    /// of them are compared in order. Inside MULTI (tracked from Redis's
    /// replies) the command gets exactly one reply (`+QUEUED` or an error)
    /// and no sentinel, which would be queued too; EXEC's array is compared
    /// element by element with each queued command's normalisation.
    fn exec_cmd(&mut self, args: &[Arg]) -> Outcome {
        let name = args[0].to_ascii_uppercase();
        let in_multi = self.multi.is_some();
        let skipped = |why: &str| Outcome {
            ok: true,
            fc: format!("(skipped: {why})"),
            rd: format!("(skipped: {why})"),
            broken: false,
        };
        if in_multi {
            // Harness side calls (errno reset, lex check, SCAN purge, SPOP
            // reconciliation) would be queued: such commands are not sent.
            let lex = name.ends_with(b"BYLEX")
                || name == b"ZLEXCOUNT"
                || args.iter().any(|a| a.eq_ignore_ascii_case(b"BYLEX"));
            if lex || matches!(name.as_slice(), b"SORT" | b"SORT_RO" | b"DBSIZE" | b"SPOP") {
                return skipped("needs harness calls inside MULTI");
            }
            // Several replies from one queued (UN)SUBSCRIBE shift EXEC's
            // elements in RESP2: random replies could not be normalised.
            let is_sub = |a: &[Arg]| a[0].to_ascii_uppercase().ends_with(b"SUBSCRIBE");
            let q = self.multi.as_deref().unwrap_or_default();
            if (norm_for(args) == Norm::Shape && q.iter().any(|x| is_sub(x)))
                || (is_sub(args) && q.iter().any(|x| norm_for(x) == Norm::Shape))
            {
                return skipped("random reply next to a queued SUBSCRIBE");
            }
        } else {
            if name == b"DBSIZE" {
                self.purge_expired();
            }
            if name == b"SORT" || name == b"SORT_RO" {
                // Redis's SORT tests a stale `errno == ERANGE` after
                // strtod(), left over from any earlier overflowing float
                // argument. getDoubleFromObject() clears errno: a ZADD XX
                // on a key that never exists does that without effects.
                let _ = self
                    .rd
                    .call(&[b("ZADD"), b("__errno_reset__"), b("XX"), b("1"), b("x")]);
            }
            if self.lex_on_mixed_scores(args) {
                return skipped("lex range on mixed scores");
            }
        }
        // Run at once inside MULTI (and end it): EXEC even when refused
        // (EXECABORT), DISCARD/RESET only with the right arity.
        let immediate = name == b"EXEC"
            || (args.len() == 1 && matches!(name.as_slice(), b"DISCARD" | b"RESET"));
        let sync = if name == b"MULTI" || (in_multi && !immediate) {
            None
        } else {
            self.sync_ctr += 1;
            Some(format!("__sync_{}", self.sync_ctr).into_bytes())
        };
        let mut sent = self.fc.send(args).and(self.rd.send(args));
        if let Some(tok) = &sync {
            let ping = [b("PING"), tok.clone()];
            sent = sent.and(self.fc.send(&ping)).and(self.rd.send(&ping));
        }
        if let Err(e) = sent {
            return Outcome {
                ok: false,
                fc: format!("<{e}>"),
                rd: String::new(),
                broken: true,
            };
        }
        let f = Servers::read_step(&mut self.fc, sync.as_deref());
        let r = Servers::read_step(&mut self.rd, sync.as_deref());
        let broken = f.is_err() || r.is_err();
        let queued = self.multi.take().unwrap_or_default();
        let ok = match (&f, &r) {
            (Ok(a), Ok(b))
                if a.len() == b.len()
                    && args.len() == 1
                    && matches!(name.as_slice(), b"UNSUBSCRIBE" | b"SUNSUBSCRIBE") =>
            {
                unsub_all_match(a, b)
            }
            (Ok(a), Ok(b)) if a.len() == b.len() && !a.is_empty() => {
                let first = if name == b"EXEC" && in_multi {
                    exec_replies_match(&a[0], &b[0], &queued)
                } else {
                    replies_match(&a[0], &b[0], norm_for(args))
                };
                // Pushes after EXEC of a bare [S]UNSUBSCRIBE come in dict
                // order (see `unsub_all_match`).
                let bare_unsub = name == b"EXEC"
                    && queued.iter().any(|q| {
                        q.len() == 1
                            && (q[0].eq_ignore_ascii_case(b"UNSUBSCRIBE")
                                || q[0].eq_ignore_ascii_case(b"SUNSUBSCRIBE"))
                    });
                // RESP2 frames them partly inside EXEC's array: compare
                // the bytes as a multiset then.
                let bytes = |x: &[Vec<u8>]| {
                    let mut v = x.concat();
                    v.sort_unstable();
                    v
                };
                // A RESP3 client's own PUBLISH reaches it once per matching
                // pattern, in the order of Redis's pattern dict.
                let publish = matches!(name.as_slice(), b"PUBLISH" | b"SPUBLISH");
                let sorted_pushes = |x: &[Vec<u8>]| {
                    let mut v = x.to_vec();
                    v.sort();
                    v
                };
                (first && a[1..] == b[1..])
                    || (bare_unsub && bytes(a) == bytes(b))
                    || (publish && sorted_pushes(a) == sorted_pushes(b))
            }
            _ => false,
        };
        // Transaction state after this command, from Redis's reply.
        let rd_first = r.as_ref().ok().and_then(|v| v.first().cloned());
        self.multi = if name == b"MULTI" && !in_multi {
            (rd_first.as_deref() == Some(b"+OK\r\n")).then(Vec::new)
        } else if in_multi && !immediate {
            let mut q = queued;
            if rd_first.as_deref() == Some(b"+QUEUED\r\n") {
                q.push(args.to_vec());
            }
            Some(q)
        } else {
            None
        };
        if ok && name == b"SPOP" {
            if let (Ok(a), Ok(b)) = (&f, &r) {
                if a[0] != b[0] {
                    self.reconcile_spop(&args[1], &a[0], &b[0]);
                }
            }
        }
        let text = |x: &std::io::Result<Vec<Vec<u8>>>| match x {
            Ok(v) => v.iter().map(|r| esc(r)).collect::<Vec<_>>().join(" | "),
            Err(e) => format!("<{e}>"),
        };
        Outcome {
            ok,
            fc: text(&f),
            rd: text(&r),
            broken,
        }
    }

    /// The replies of one step: one, or all up to the sentinel's (which is
    /// not returned).
    fn read_step(c: &mut Conn, sync: Option<&[u8]>) -> std::io::Result<Vec<Vec<u8>>> {
        let Some(tok) = sync else {
            return Ok(vec![c.read()?]);
        };
        let plain = format!("${}\r\n{}\r\n", tok.len(), String::from_utf8_lossy(tok));
        let sub = format!("*2\r\n$4\r\npong\r\n{plain}");
        let mut out = Vec::new();
        loop {
            let r = c.read()?;
            if r == plain.as_bytes() || r == sub.as_bytes() {
                return Ok(out);
            }
            out.push(r);
            if out.len() > 10_000 {
                return Err(std::io::Error::other("sentinel never came"));
            }
        }
    }

    /// Lexicographic ranges over a sorted set whose scores differ are
    /// unspecified in Redis (the result depends on its skiplist's random
    /// levels): such commands are skipped on both sides.
    fn lex_on_mixed_scores(&mut self, args: &[Arg]) -> bool {
        let up: Vec<Vec<u8>> = args.iter().map(|a| a.to_ascii_uppercase()).collect();
        let key = match up[0].as_slice() {
            b"ZRANGEBYLEX" | b"ZREVRANGEBYLEX" | b"ZLEXCOUNT" | b"ZREMRANGEBYLEX" => args.get(1),
            b"ZRANGE" if up.iter().any(|a| a == b"BYLEX") => args.get(1),
            b"ZRANGESTORE" if up.iter().any(|a| a == b"BYLEX") => args.get(2),
            _ => None,
        };
        let Some(key) = key else {
            return false;
        };
        let Ok(raw) = self
            .rd
            .call(&[b("ZRANGE"), key.clone(), b("0"), b("-1"), b("WITHSCORES")])
        else {
            return false;
        };
        let scores: BTreeSet<V> = match parse_reply(&raw) {
            V::Agg(_, Some(items)) => {
                if items.iter().all(|i| matches!(i, V::Agg(..))) {
                    // RESP3: [[member, score], ...]
                    items
                        .into_iter()
                        .filter_map(|i| match i {
                            V::Agg(_, Some(mut pair)) if pair.len() == 2 => pair.pop(),
                            _ => None,
                        })
                        .collect()
                } else {
                    items.into_iter().skip(1).step_by(2).collect()
                }
            }
            _ => BTreeSet::new(),
        };
        scores.len() > 1
    }

    /// SPOP removed different random members: put ferrocache's back and
    /// remove Redis's, so both sets are equal again.
    fn reconcile_spop(&mut self, key: &[u8], fc_raw: &[u8], rd_raw: &[u8]) {
        fn members(raw: &[u8]) -> Vec<Arg> {
            match parse_reply(raw) {
                V::Bulk(_, Some(m)) => vec![m],
                V::Agg(_, Some(items)) => items
                    .into_iter()
                    .filter_map(|v| match v {
                        V::Bulk(_, Some(m)) => Some(m),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        }
        let (fc_popped, rd_popped) = (members(fc_raw), members(rd_raw));
        if !fc_popped.is_empty() {
            let mut cmd = vec![b("SADD"), key.to_vec()];
            cmd.extend(fc_popped);
            let _ = self.fc.call(&cmd);
        }
        if !rd_popped.is_empty() {
            let mut cmd = vec![b("SREM"), key.to_vec()];
            cmd.extend(rd_popped);
            let _ = self.fc.call(&cmd);
        }
        self.reconcile_set_encoding(key);
    }

    /// Putting members back can leave ferrocache's set in another encoding
    /// than Redis's (an intset that met a string member stays a hashtable;
    /// SPOP's "keep the survivors" path builds a fresh, possibly intset,
    /// set): rebuild it in Redis's encoding, keeping its TTL.
    fn reconcile_set_encoding(&mut self, key: &[u8]) {
        let enc = |raw: Result<Vec<u8>, _>| match raw.map(|r| parse_reply(&r)) {
            Ok(V::Bulk(_, Some(e))) => e,
            _ => Vec::new(),
        };
        let object = |k: &[u8]| vec![b("OBJECT"), b("ENCODING"), k.to_vec()];
        let want = enc(self.rd.call(&object(key)));
        let have = enc(self.fc.call(&object(key)));
        const FILLER: &[u8] = b"\x00reconcile";
        match (want.as_slice(), have.as_slice()) {
            (b"hashtable", b"intset") => {
                let _ = self.fc.call(&[b("SADD"), key.to_vec(), FILLER.to_vec()]);
                let _ = self.fc.call(&[b("SREM"), key.to_vec(), FILLER.to_vec()]);
            }
            (b"intset", b"hashtable") => {
                let members = match self.fc.call(&[b("SMEMBERS"), key.to_vec()]) {
                    Ok(raw) => match parse_reply(&raw) {
                        V::Agg(_, Some(items)) => items
                            .into_iter()
                            .filter_map(|v| match v {
                                V::Bulk(_, Some(m)) => Some(m),
                                _ => None,
                            })
                            .collect::<Vec<_>>(),
                        _ => return,
                    },
                    Err(_) => return,
                };
                let at = self
                    .fc
                    .call(&[b("PEXPIRETIME"), key.to_vec()])
                    .ok()
                    .and_then(|r| int_of(&parse_reply(&r)))
                    .unwrap_or(-1);
                let _ = self.fc.call(&[b("DEL"), key.to_vec()]);
                let mut cmd = vec![b("SADD"), key.to_vec()];
                cmd.extend(members);
                let _ = self.fc.call(&cmd);
                if at > 0 {
                    let _ =
                        self.fc
                            .call(&[b("PEXPIREAT"), key.to_vec(), at.to_string().into_bytes()]);
                }
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Running, shrinking, reporting
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct Cfg {
    seeds: Vec<u64>,
    commands_per_thread: usize,
    seq_len: usize,
    groups: Vec<String>,
    cmds: Vec<(&'static str, u32)>,
    keep_going: bool,
    findings: Option<String>,
    shrink_secs: u64,
    trace: bool,
}

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

impl Cfg {
    fn from_env() -> Cfg {
        let groups: Vec<String> = std::env::var("DIFF_GROUPS")
            .ok()
            .map(|g| {
                g.split(',')
                    .map(|s| s.trim().to_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_else(|| GROUPS.iter().map(|g| g.0.to_string()).collect());
        let skip: Vec<String> = std::env::var("DIFF_SKIP")
            .ok()
            .map(|g| g.split(',').map(|s| s.trim().to_uppercase()).collect())
            .unwrap_or_default();
        let cmds: Vec<(&'static str, u32)> = GROUPS
            .iter()
            .filter(|g| groups.iter().any(|x| x == g.0))
            .flat_map(|g| g.1.iter().copied())
            .filter(|(n, _)| !skip.iter().any(|s| s == n))
            .collect();
        assert!(!cmds.is_empty(), "DIFF_GROUPS/DIFF_SKIP select no command");
        let total: usize = env("DIFF_COMMANDS").unwrap_or(120_000);
        let (seeds, threads) = match env::<u64>("DIFF_SEED") {
            Some(s) => (vec![s], 1),
            None => {
                let t: usize = env("DIFF_THREADS").unwrap_or(4).max(1);
                let base: u64 = env("DIFF_BASE_SEED").unwrap_or(0xFE77_0C0C);
                ((0..t as u64).map(|i| mix(base, i)).collect(), t)
            }
        };
        Cfg {
            seeds,
            commands_per_thread: total.div_ceil(threads),
            seq_len: env("DIFF_SEQ_LEN").unwrap_or(1500).max(1),
            groups,
            cmds,
            keep_going: std::env::var("DIFF_KEEP_GOING").is_ok_and(|v| v != "0"),
            findings: std::env::var("DIFF_FINDINGS").ok(),
            shrink_secs: env("DIFF_SHRINK_SECS").unwrap_or(60),
            trace: std::env::var("DIFF_TRACE").is_ok_and(|v| v != "0"),
        }
    }
}

/// splitmix64 of `a + b`: seeds of successive sequences.
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a.wrapping_add(b.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Generate a sequence of `len` commands (sleeps not counted). Sequences are
/// prefix-stable: a shorter `len` gives a prefix of a longer one.
fn generate(seed: u64, len: usize, cmds: &[(&'static str, u32)]) -> Vec<Step> {
    let mut g = Gen::new(seed, cmds.to_vec());
    let mut steps = Vec::with_capacity(len + 16);
    // A quarter of the sequences speak RESP3.
    if g.chance(0.25) {
        steps.push(Step::Cmd(vec![b("HELLO"), b("3")]));
    }
    let mut n = 0;
    while n < len {
        for s in g.next() {
            if matches!(s, Step::Cmd(_) | Step::Scan { .. }) {
                n += 1;
            }
            steps.push(s);
        }
    }
    steps
}

struct Mismatch {
    seed: u64,
    /// Number of generated commands up to and including the failing one.
    commands: usize,
    index: usize,
    step: Step,
    fc: String,
    rd: String,
    repro: Vec<(Step, Outcome)>,
}

fn cmd_count(steps: &[Step]) -> usize {
    steps
        .iter()
        .filter(|s| match s {
            Step::Cmd(a) => a[0] != b"HELLO",
            Step::Scan { .. } => true,
            Step::Sleep(_) => false,
        })
        .count()
}

/// Replay `steps` on reset servers; true when the last step mismatches.
fn replay_fails(srv: &mut Option<Servers>, steps: &[Step]) -> Option<Vec<Outcome>> {
    let s = ensure(srv)?;
    let mut outs = Vec::with_capacity(steps.len());
    for st in steps {
        let o = s.exec(st);
        let broken = o.broken;
        outs.push(o);
        if broken {
            *srv = None;
            break;
        }
    }
    Some(outs)
}

/// Servers, started or reset; None when redis-server is unavailable.
fn ensure(srv: &mut Option<Servers>) -> Option<&mut Servers> {
    let need_new = match srv.as_mut() {
        Some(s) => !s.reset(),
        None => true,
    };
    if need_new {
        *srv = None;
        let mut s = Servers::start()?;
        if !s.reset() {
            // FLUSHDB/SELECT not working in ferrocache yet: fresh servers
            // are empty anyway.
            s.fc = Conn::open(&s.fc_node).ok()?;
            s.rd = Conn::open(&s.rd_node).ok()?;
        }
        *srv = Some(s);
    }
    srv.as_mut()
}

/// Delta debugging (ddmin) over the steps before the failing one: find a
/// small subsequence after which the failing step still mismatches.
fn shrink(srv: &mut Option<Servers>, prefix: &[Step], last: &Step, budget: Duration) -> Vec<Step> {
    let start = Instant::now();
    let fails = |srv: &mut Option<Servers>, cand: &[Step]| -> bool {
        let mut steps = cand.to_vec();
        steps.push(last.clone());
        match replay_fails(srv, &steps) {
            Some(outs) => outs.len() == steps.len() && outs.last().is_some_and(|o| !o.ok),
            None => false,
        }
    };
    let mut cur: Vec<Step> = prefix.to_vec();
    if fails(srv, &[]) {
        return vec![last.clone()];
    }
    let mut n = 2usize;
    while cur.len() >= 2 && start.elapsed() < budget {
        let chunk = cur.len().div_ceil(n);
        let mut reduced = false;
        // Try removing each chunk (keep the complement).
        let mut i = 0;
        while i < n && start.elapsed() < budget {
            let lo = i * chunk;
            if lo >= cur.len() {
                break;
            }
            let hi = (lo + chunk).min(cur.len());
            let mut cand = cur[..lo].to_vec();
            cand.extend_from_slice(&cur[hi..]);
            if fails(srv, &cand) {
                cur = cand;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
            i += 1;
        }
        if !reduced {
            if n >= cur.len() {
                break;
            }
            n = (n * 2).min(cur.len());
        }
    }
    cur.push(last.clone());
    cur
}

fn report(m: &Mismatch, groups: &[String]) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "MISMATCH at command #{} of seed {} (rerun: DIFF_SEED={} DIFF_COMMANDS={} DIFF_GROUPS={} cargo test --release --test differential)\n",
        m.index,
        m.seed,
        m.seed,
        m.commands,
        groups.join(",")
    ));
    s.push_str(&format!("  command:    {}\n", step_text(&m.step)));
    s.push_str(&format!("  ferrocache: {}\n", m.fc));
    s.push_str(&format!("  redis:      {}\n", m.rd));
    s.push_str(&format!("  minimal repro ({} steps):\n", m.repro.len()));
    for (st, o) in &m.repro {
        if matches!(st, Step::Sleep(_)) {
            s.push_str(&format!("    {}\n", step_text(st)));
        } else if o.ok {
            s.push_str(&format!("    {}   -> {}\n", step_text(st), o.rd));
        } else {
            s.push_str(&format!(
                "    {}   -> ferrocache: {} | redis: {}\n",
                step_text(st),
                o.fc,
                o.rd
            ));
        }
    }
    s
}

/// Run one thread's sequences. Returns the mismatches found.
fn run_thread(cfg: &Cfg, seed: u64) -> (usize, Vec<String>) {
    let mut srv: Option<Servers> = None;
    let mut done = 0usize;
    let mut reports = Vec::new();
    let mut seen_cmds: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut j = 0u64;
    while done < cfg.commands_per_thread {
        let seq_seed = if j == 0 { seed } else { mix(seed, j) };
        j += 1;
        let len = cfg.seq_len.min(cfg.commands_per_thread - done);
        let steps = generate(seq_seed, len, &cfg.cmds);
        let Some(s) = ensure(&mut srv) else {
            panic!("could not start the servers");
        };
        let mut failed_at = None;
        let mut executed = 0;
        for (i, st) in steps.iter().enumerate() {
            let o = s.exec(st);
            if !matches!(st, Step::Sleep(_)) {
                executed += 1;
            }
            if cfg.trace {
                eprintln!("[{seq_seed}#{i}] {}  -> {}", step_text(st), o.rd);
            }
            if !o.ok {
                failed_at = Some((i, o));
                break;
            }
            if o.broken {
                break;
            }
        }
        // Count what ran (at least one, so a sequence failing at once still
        // moves the budget on).
        done += executed.clamp(1, len);
        let Some((i, o)) = failed_at else {
            continue;
        };
        if o.broken {
            srv = None;
        }
        let name = match &steps[i] {
            Step::Cmd(a) => a[0].to_ascii_uppercase(),
            Step::Scan { prefix, .. } => prefix[0].to_ascii_uppercase(),
            Step::Sleep(_) => Vec::new(),
        };
        if cfg.keep_going && !seen_cmds.insert(name) {
            continue;
        }
        let minimal = shrink(
            &mut srv,
            &steps[..i],
            &steps[i],
            Duration::from_secs(cfg.shrink_secs),
        );
        let outs = replay_fails(&mut srv, &minimal).unwrap_or_default();
        let repro = minimal.into_iter().zip(outs).collect();
        let m = Mismatch {
            seed: seq_seed,
            commands: cmd_count(&steps[..=i]),
            index: i,
            step: steps[i].clone(),
            fc: o.fc,
            rd: o.rd,
            repro,
        };
        let text = report(&m, &cfg.groups);
        eprintln!("{text}");
        if let Some(path) = &cfg.findings {
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                let _ = writeln!(f, "```\n{text}```\n");
            }
        }
        reports.push(text);
        if !cfg.keep_going {
            break;
        }
    }
    (done, reports)
}

#[test]
fn differential_random_sequences() {
    if !common::have_redis_server() {
        assert!(
            std::env::var_os("CI").is_none(),
            "redis-server is not installed (the CI script must install it)"
        );
        eprintln!("redis-server not installed: skipping the differential test");
        return;
    }
    let cfg = Cfg::from_env();
    let started = Instant::now();
    let handles: Vec<_> = cfg
        .seeds
        .iter()
        .map(|&seed| {
            let cfg = cfg.clone();
            std::thread::spawn(move || run_thread(&cfg, seed))
        })
        .collect();
    let mut total = 0;
    let mut reports = Vec::new();
    for h in handles {
        match h.join() {
            Ok((n, r)) => {
                total += n;
                reports.extend(r);
            }
            Err(_) => reports.push("a differential thread panicked".to_string()),
        }
    }
    eprintln!(
        "differential: {total} commands over {} seed(s) in {:.1}s, {} mismatch(es)",
        cfg.seeds.len(),
        started.elapsed().as_secs_f64(),
        reports.len()
    );
    assert!(
        reports.is_empty(),
        "{} mismatch(es) with redis-server:\n{}",
        reports.len(),
        reports.join("\n")
    );
}

/// The generator covers every command it lists, never panics, and is
/// deterministic and prefix-stable for a seed.
#[test]
fn generator_is_deterministic_and_total() {
    let cmds: Vec<(&'static str, u32)> = all_commands().into_iter().map(|n| (n, 1)).collect();
    let mut g = Gen::new(7, cmds.clone());
    for name in all_commands() {
        for _ in 0..50 {
            let _ = g.gen_cmd(name);
        }
    }
    let a = generate(42, 300, &cmds);
    let b = generate(42, 600, &cmds);
    assert_eq!(cmd_count(&a), 300);
    assert_eq!(cmd_count(&b), 600);
    // Prefix-stable: the same commands (absolute timestamps aside, which
    // depend on the clock second) start the longer sequence.
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(std::mem::discriminant(x), std::mem::discriminant(y));
        if let (Step::Cmd(p), Step::Cmd(q)) = (x, y) {
            assert_eq!(p[0], q[0]);
            assert_eq!(p.len(), q.len());
        }
    }
}

/// Normalisation: sorted, pairs, shape, tolerance.
#[test]
fn normalisation_rules() {
    let smembers = vec![b("SMEMBERS"), b("s")];
    assert!(replies_match(
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
        b"*2\r\n$1\r\nb\r\n$1\r\na\r\n",
        norm_for(&smembers)
    ));
    assert!(!replies_match(
        b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
        b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n",
        norm_for(&smembers)
    ));
    let hgetall = vec![b("HGETALL"), b("h")];
    assert!(replies_match(
        b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n",
        b"*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n1\r\n",
        norm_for(&hgetall)
    ));
    assert!(!replies_match(
        b"*4\r\n$1\r\na\r\n$1\r\n2\r\n$1\r\nb\r\n$1\r\n1\r\n",
        b"*4\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\na\r\n$1\r\n1\r\n",
        norm_for(&hgetall)
    ));
    let srand = vec![b("SRANDMEMBER"), b("s")];
    assert!(replies_match(
        b"$1\r\na\r\n",
        b"$2\r\nbb\r\n",
        norm_for(&srand)
    ));
    assert!(!replies_match(b"$1\r\na\r\n", b"$-1\r\n", norm_for(&srand)));
    // SORT of a set BY nosort: hash order, each member with its GETs.
    let nosort = vec![
        b("SORT"),
        b("s"),
        b("BY"),
        b("nosort"),
        b("GET"),
        b("#"),
        b("GET"),
        b("k*"),
    ];
    assert!(replies_match(
        b"*4\r\n$1\r\na\r\n$-1\r\n$1\r\nb\r\n$1\r\nx\r\n",
        b"*4\r\n$1\r\nb\r\n$1\r\nx\r\n$1\r\na\r\n$-1\r\n",
        norm_for(&nosort)
    ));
    assert!(!replies_match(
        b"*4\r\n$1\r\na\r\n$1\r\nx\r\n$1\r\nb\r\n$-1\r\n",
        b"*4\r\n$1\r\nb\r\n$1\r\nx\r\n$1\r\na\r\n$-1\r\n",
        norm_for(&nosort)
    ));
    let mut limited = nosort.clone();
    limited.extend([b("LIMIT"), b("0"), b("1")]);
    assert!(replies_match(
        b"*2\r\n$1\r\na\r\n$-1\r\n",
        b"*2\r\n$1\r\nb\r\n$1\r\nx\r\n",
        norm_for(&limited)
    ));
    let pttl = vec![b("PTTL"), b("k")];
    assert!(replies_match(b":99999\r\n", b":99998\r\n", norm_for(&pttl)));
    assert!(!replies_match(b":-1\r\n", b":-2\r\n", norm_for(&pttl)));
    assert_eq!(
        quote_args(&[b("SET"), b"a b".to_vec(), b"\x00\xff".to_vec()]),
        "SET \"a b\" \"\\x00\\xff\""
    );
}

/// The findings of earlier runs (notes/diff-findings.md D2–D7 and later
/// ones), replayed as fixed sequences and compared byte for byte (not
/// through `Pair::check`, whose lossy UTF-8 view would hide raw-byte
/// differences in error texts).
#[test]
fn findings_stay_fixed() {
    let Some(mut p) = common::Pair::start(&["--threads", "2"]) else {
        return;
    };
    let big = "7".repeat(47) + "1.0" + &"7".repeat(15);
    let wide = "1".repeat(100) + ".25";
    let mut dense_ff = b"HYLL\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x80".to_vec();
    dense_ff.extend(std::iter::repeat_n(0xffu8, 12288));
    let long_a = vec![b'A'; 12_000];
    let cases: &[&[&[u8]]] = &[
        // D2: -0 scores print as 0.
        &[b"ZADD", b"z", b"-0", b"c"],
        &[b"ZRANGE", b"z", b"0", b"-1", b"WITHSCORES"],
        &[b"ZSCORE", b"z", b"c"],
        &[b"ZINCRBY", b"z", b"-0", b"c"],
        &[b"ZPOPMIN", b"z"],
        // D3: string encodings depend on how the value was written.
        &[b"INCRBYFLOAT", b"f", b"-63.0"],
        &[b"OBJECT", b"ENCODING", b"f"],
        &[b"INCRBYFLOAT", b"f", b"9223372036854775807"],
        &[b"OBJECT", b"ENCODING", b"f"],
        &[b"INCRBYFLOAT", b"f", b"1e300"],
        &[b"OBJECT", b"ENCODING", b"f"],
        &[b"INCR", b"f2"],
        &[b"INCRBYFLOAT", b"f2", b"1"],
        &[b"INCR", b"f2"],
        &[b"OBJECT", b"ENCODING", b"f2"],
        &[b"SETRANGE", b"r", b"28", b" 1"],
        &[b"OBJECT", b"ENCODING", b"r"],
        &[b"SETRANGE", b"r2", b"0", b"1"],
        &[b"OBJECT", b"ENCODING", b"r2"],
        &[b"SET", b"r3", b"5"],
        &[b"SETRANGE", b"r3", b"0", b""],
        &[b"OBJECT", b"ENCODING", b"r3"],
        &[b"SETRANGE", b"r3", b"0", b"7"],
        &[b"OBJECT", b"ENCODING", b"r3"],
        &[b"INCR", b"a"],
        &[b"APPEND", b"a", b""],
        &[b"OBJECT", b"ENCODING", b"a"],
        &[b"APPEND", b"a2", b"123"],
        &[b"OBJECT", b"ENCODING", b"a2"],
        &[b"EXPIRE", b"a", b"100"],
        &[b"OBJECT", b"ENCODING", b"a"],
        &[b"COPY", b"a", b"a3"],
        &[b"OBJECT", b"ENCODING", b"a3"],
        &[b"COPY", b"f", b"f3"],
        &[b"OBJECT", b"ENCODING", b"f3"],
        &[b"RENAME", b"a3", b"a4"],
        &[b"OBJECT", b"ENCODING", b"a4"],
        &[b"SET", b"a4", b"12", b"KEEPTTL"],
        &[b"OBJECT", b"ENCODING", b"a4"],
        &[b"GETSET", b"a", b"12"],
        &[b"OBJECT", b"ENCODING", b"a"],
        // INCRBYFLOAT of values with many integer digits.
        &[b"SET", b"n", big.as_bytes()],
        &[b"INCRBYFLOAT", b"n", b"3"],
        &[b"SET", b"n", wide.as_bytes()],
        &[b"INCRBYFLOAT", b"n", b"0"],
        // D4: "Unsupported option" quotes raw bytes like C's %s.
        &[b"SET", b"k", b"v"],
        &[b"EXPIRE", b"k", b"634208", b"XX", b"a\x00b"],
        &[b"PEXPIRE", b"k", b"185005000", b"XX", b"\xa1\r"],
        &[b"PEXPIREAT", b"k", b"1796166208000", b"GT", b"yc\xe9\nz"],
        &[b"PEXPIREAT", b"k", b"1", b"\r\n"],
        &[b"EXPIREAT", b"k", b"1", b"\xff\xfe"],
        // D5: SORT's numeric conversion (C strings, glibc ERANGE).
        &[b"SADD", b"s", b"-5", b"", b"\x00", b"12\x00junk", b" 5"],
        &[b"SORT", b"s"],
        &[b"SADD", b"s2", b"0x1p-1074", b"0x10", b"-inf"],
        &[b"SORT", b"s2"],
        &[b"SADD", b"s3", b"1e-320"],
        &[b"SORT", b"s3"],
        // D6: ZRANDMEMBER's count range is checked before the key.
        &[
            b"ZRANDMEMBER",
            b"nokey",
            b"9223372036854775807",
            b"WITHSCORES",
        ],
        &[b"ZRANDMEMBER", b"k", b"-4611686018427387904", b"WITHSCORES"],
        &[b"ZRANDMEMBER", b"z", b"4611686018427387904", b"WITHSCORES"],
        &[b"ZRANDMEMBER", b"k", b"-9223372036854775808"],
        // D7: SORT converts a listpack sorted set to a skiplist for good.
        &[b"ZADD", b"z2", b"1", b"a", b"2", b"b"],
        &[b"OBJECT", b"ENCODING", b"z2"],
        &[b"SORT", b"z2", b"LIMIT", b"-1", b"1"],
        &[b"OBJECT", b"ENCODING", b"z2"],
        &[b"ZINCRBY", b"z3", b"+inf", b"c"],
        &[b"SORT", b"z3"],
        &[b"OBJECT", b"ENCODING", b"z3"],
        // D12 (session 2): XACK/XDEL look the key/group up before the IDs.
        &[b"XADD", b"x", b"1-1", b"f", b"v"],
        &[b"XACK", b"x", b"nogroup", b"1-1", b"bad"],
        &[b"XACK", b"nokey", b"g", b"bad"],
        &[b"XDEL", b"nokey", b"bad"],
        &[b"XDEL", b"z", b"bad"],
        &[b"XDEL", b"x", b"bad"],
        // D13: XSETID checks the top item only.
        &[b"XADD", b"w", b"6-0", b"f", b"v"],
        &[b"XDEL", b"w", b"6-0"],
        &[b"XSETID", b"w", b"3-2", b"ENTRIESADDED", b"6"],
        &[b"XINFO", b"STREAM", b"w"],
        // D14: XREADGROUP > with nothing new creates no consumer.
        &[b"XGROUP", b"CREATE", b"x", b"g", b"$"],
        &[b"XREADGROUP", b"GROUP", b"g", b"c1", b"STREAMS", b"x", b">"],
        &[b"XINFO", b"GROUPS", b"x"],
        &[b"XREADGROUP", b"GROUP", b"g", b"c2", b"STREAMS", b"x", b"0"],
        &[b"XINFO", b"GROUPS", b"x"],
        // D15: an all-63 dense HLL counts as llroundl(inf).
        &[b"SET", b"hll", &dense_ff],
        &[b"PFCOUNT", b"hll"],
        &[b"PFDEBUG", b"ENCODING", b"hll"],
        &[b"OBJECT", b"ENCODING", b"hll"],
        // D16: EXEC refused by arity answers EXECABORT (and ends MULTI).
        &[b"EXEC", b"1"],
        &[b"MULTI"],
        &[b"EXEC", b"1"],
        &[b"EXEC"],
        // D18: LCS table larger than proto-max-bulk-len.
        &[b"SET", b"l1", &long_a],
        &[b"LCS", b"l1", b"l1", b"LEN"],
        // D19: GEORADIUS COUNT ties follow Redis's pqsort.
        &[
            b"GEOADD",
            b"geo",
            b"13.361389",
            b"38.115556",
            b"\x00x",
            b"13.361389",
            b"38.115556",
            b"Catania",
            b"13.361389",
            b"38.115556",
            b"nosuch",
            b"0",
            b"0",
            b"hello",
            b"12.758489",
            b"38.788135",
            b"m1",
            b"12.758489",
            b"38.788135",
            b"m3",
            b"12.758489",
            b"38.788135",
            b"10",
            b"13.583333",
            b"37.316667",
            b"",
            b"13.583333",
            b"37.316667",
            b"Palermo",
            b"-73.9454966",
            b"40.747533",
            b"Agrigento",
        ],
        &[
            b"GEORADIUS",
            b"geo",
            b"13.361389",
            b"38.115556",
            b"20000",
            b"KM",
            b"COUNT",
            b"2",
        ],
        &[
            b"GEORADIUS",
            b"geo",
            b"13.361389",
            b"38.115556",
            b"20000",
            b"KM",
            b"COUNT",
            b"4",
            b"DESC",
        ],
        // D20: SETBIT of an unchanged bit is not a write.
        &[b"SET", b"sb", b"1"],
        &[b"SETBIT", b"sb", b"3", b"1"],
        // D17 (last: subscribed mode; replies are read one at a time, in
        // order, on both sides): PUNSUBSCRIBE answers in subscription order.
        &[b"PSUBSCRIBE", b"z", b"a", b"m"],
        &[b"PUNSUBSCRIBE"],
        &[b"PING"],
        &[b"PING"],
        &[b"PING"],
        &[b"PING"],
    ];
    for args in cases {
        // SORT tests a stale errno (see `Servers::step`): clear it first.
        if args[0] == b"SORT" {
            p.redis
                .call(&[b"ZADD", b"__errno_reset__", b"XX", b"1", b"x"]);
        }
        let (fc, rd) = p.both(args);
        assert!(
            fc == rd,
            "{}\n  ferrocache: {:?}\n  redis:      {:?}",
            quote_args(&args.iter().map(|a| a.to_vec()).collect::<Vec<_>>()),
            fc.escape_ascii().to_string(),
            rd.escape_ascii().to_string(),
        );
    }
}
