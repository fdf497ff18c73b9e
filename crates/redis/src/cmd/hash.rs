//! Hash commands (Redis `t_hash.c`).
//!
//! Handlers follow Redis 7.0's order of checks exactly (argument parsing
//! before the key lookup where Redis does so, WRONGTYPE before option errors
//! where Redis does so), because that order is visible in the error a client
//! gets. Writes to an existing hash happen in place; a missing key is filled
//! in a fresh [`HashValue`] and inserted only if non-empty, and a hash that
//! becomes empty is deleted (Redis never keeps empty collections).
//!
//! The SCAN cursor/option parsing used by HSCAN and SSCAN lives here too.

use crate::args::{eq, int};
use crate::ctx::Ctx;
use crate::error::{err, errf, CmdError, CmdResult, OVERFLOW, SYNTAX};
use crate::notify as nt;
use crate::spec::{acl, flags::*, CommandSpec};
use ferrocache_engine::glob::glob_match;
use ferrocache_engine::keyspace::Tunables;
use ferrocache_engine::types::hash::HashValue;
use ferrocache_engine::types::string::{incr_by_float, parse_i64, IncrFloatError, LongDouble};
use ferrocache_engine::{Db, Value, WrongType};
use ferrocache_protocol::ReplyWriter;
use rand::Rng;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("hset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), hset)
        .acl(acl::HASH)
        .doc(
            "hash",
            "2.0.0",
            "Set the string value of a hash field",
            "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs.",
        ),
    CommandSpec::new("hsetnx", 4, WRITE | DENYOOM | FAST, (1, 1, 1), hsetnx)
        .acl(acl::HASH)
        .doc(
            "hash",
            "2.0.0",
            "Set the value of a hash field, only if the field does not exist",
            "O(1)",
        ),
    CommandSpec::new("hget", 3, READONLY | FAST, (1, 1, 1), hget)
        .acl(acl::HASH)
        .doc(
            "hash",
            "2.0.0",
            "Get the value of a hash field",
            "O(1)",
        ),
    CommandSpec::new("hmget", -3, READONLY | FAST, (1, 1, 1), hmget)
        .acl(acl::HASH)
        .doc(
            "hash",
            "2.0.0",
            "Get the values of all the given hash fields",
            "O(N) where N is the number of fields being requested.",
        ),
    CommandSpec::new("hmset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), hmset)
        .acl(acl::HASH)
        .doc(
            "hash",
            "2.0.0",
            "Set multiple hash fields to multiple values",
            "O(N) where N is the number of fields being set.",
        ),
    CommandSpec::new("hdel", -3, WRITE | FAST, (1, 1, 1), hdel)
        .acl(acl::HASH)
        .doc(
            "hash",
            "2.0.0",
            "Delete one or more hash fields",
            "O(N) where N is the number of fields to be removed.",
        ),
    CommandSpec::new("hexists", 3, READONLY | FAST, (1, 1, 1), hexists)
        .acl(acl::HASH)
        .doc(
            "hash",
            "2.0.0",
            "Determine if a hash field exists",
            "O(1)",
        ),
    CommandSpec::new("hlen", 2, READONLY | FAST, (1, 1, 1), hlen)
        .acl(acl::HASH)
        .doc(
            "hash",
            "2.0.0",
            "Get the number of fields in a hash",
            "O(1)",
        ),
    CommandSpec::new("hkeys", 2, READONLY, (1, 1, 1), hkeys)
        .acl(acl::HASH)
        .doc(
            "hash",
            "2.0.0",
            "Get all the fields in a hash",
            "O(N) where N is the size of the hash.",
        ),
    CommandSpec::new("hvals", 2, READONLY, (1, 1, 1), hvals)
        .acl(acl::HASH)
        .doc(
            "hash",
            "2.0.0",
            "Get all the values in a hash",
            "O(N) where N is the size of the hash.",
        ),
    CommandSpec::new("hgetall", 2, READONLY, (1, 1, 1), hgetall)
        .acl(acl::HASH)
        .doc(
            "hash",
            "2.0.0",
            "Get all the fields and values in a hash",
            "O(N) where N is the size of the hash.",
        ),
    CommandSpec::new("hincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), hincrby)
        .acl(acl::HASH)
        .doc(
            "hash",
            "2.0.0",
            "Increment the integer value of a hash field by the given number",
            "O(1)",
        ),
    CommandSpec::new(
        "hincrbyfloat",
        4,
        WRITE | DENYOOM | FAST,
        (1, 1, 1),
        hincrbyfloat,
    )
    .acl(acl::HASH)
    .doc(
        "hash",
        "2.6.0",
        "Increment the float value of a hash field by the given amount",
            "O(1)",
    ),
    CommandSpec::new("hstrlen", 3, READONLY | FAST, (1, 1, 1), hstrlen)
        .acl(acl::HASH)
        .doc(
            "hash",
            "3.2.0",
            "Get the length of the value of a hash field",
            "O(1)",
        ),
    CommandSpec::new("hrandfield", -2, READONLY, (1, 1, 1), hrandfield)
        .acl(acl::HASH)
        .doc(
            "hash",
            "6.2.0",
            "Get one or multiple random fields from a hash",
            "O(N) where N is the number of fields returned",
        ),
    CommandSpec::new("hscan", -3, READONLY, (1, 1, 1), hscan)
        .acl(acl::HASH)
        .doc(
            "hash",
            "2.8.0",
            "Incrementally iterate hash fields and associated values",
            "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..",
        ),
];

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// The hash at `key` for reading (lazy expiry, hit/miss stats).
fn read_hash<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a HashValue>, WrongType> {
    match db.get(key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Hash(h) => Ok(Some(h)),
            _ => Err(WrongType),
        },
    }
}

/// Run `f` on the hash at `key`, creating it if missing (Redis
/// `hashTypeLookupWriteOrCreate`). A newly created hash is stored only if `f`
/// left it non-empty; `f`'s error leaves no empty key behind.
fn with_hash_create<R>(
    db: &mut Db,
    key: &[u8],
    f: impl FnOnce(&mut HashValue) -> Result<R, CmdError>,
) -> Result<R, CmdError> {
    match db.get_mut(key) {
        Some(e) => match &mut e.value {
            Value::Hash(h) => {
                let r = f(h)?;
                db.dirty += 1;
                Ok(r)
            }
            _ => Err(WrongType.into()),
        },
        None => {
            let mut h = HashValue::new();
            let r = f(&mut h)?;
            if !h.is_empty() {
                db.set(key, Value::Hash(h));
            }
            Ok(r)
        }
    }
}

/// Parse a SCAN-family cursor as Redis's `parseScanCursorOrReply`, which is
/// `strtoul` plus checks: no leading space, the whole argument consumed, no
/// overflow. `strtoul` accepts a sign (a negative number wraps) and an empty
/// string (0), and C sees the argument only up to its first NUL byte.
pub(crate) fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    const INVALID: &str = "ERR invalid cursor";
    let arg = match arg.iter().position(|&c| c == 0) {
        Some(i) => arg.get(..i).unwrap_or(arg),
        None => arg,
    };
    let Some(&first) = arg.first() else {
        return Ok(0);
    };
    if matches!(first, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        return err(INVALID);
    }
    let (neg, digits) = match first {
        b'-' => (true, arg.get(1..).unwrap_or_default()),
        b'+' => (false, arg.get(1..).unwrap_or_default()),
        _ => (false, arg),
    };
    if digits.is_empty() {
        return err(INVALID);
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return err(INVALID);
        }
        v = match v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
        {
            Some(v) => v,
            None => return err(INVALID),
        };
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// HSCAN/SSCAN options (`COUNT n`, `MATCH pattern`; `TYPE` is SCAN-only).
pub(crate) struct ScanOpts<'a> {
    pub count: usize,
    /// None when absent or `*` (Redis skips matching for a lone `*`).
    pub pattern: Option<&'a [u8]>,
}

impl ScanOpts<'_> {
    pub fn matches(&self, s: &[u8]) -> bool {
        match self.pattern {
            None => true,
            Some(p) => glob_match(p, s, false),
        }
    }
}

/// Parse the options after the cursor (`argv[3..]`) as `scanGenericCommand`.
pub(crate) fn parse_scan_opts<'a>(argv: &[&'a [u8]]) -> Result<ScanOpts<'a>, CmdError> {
    let mut opts = ScanOpts {
        count: 10,
        pattern: None,
    };
    let mut i = 3;
    while let Some(&opt) = argv.get(i) {
        let Some(&val) = argv.get(i + 1) else {
            return err(SYNTAX);
        };
        if eq(opt, "count") {
            let n = int(val)?;
            if n < 1 {
                return err(SYNTAX);
            }
            opts.count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if eq(opt, "match") {
            opts.pattern = if val == b"*" { None } else { Some(val) };
        } else {
            return err(SYNTAX);
        }
        i += 2;
    }
    Ok(opts)
}

/// A count argument of HRANDFIELD/SRANDMEMBER: Redis's
/// `getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)`.
pub(crate) fn parse_rand_count(arg: &[u8]) -> Result<i64, CmdError> {
    let n = int(arg)?;
    if n == i64::MIN {
        return errf(format!(
            "ERR value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        ));
    }
    Ok(n)
}

/// Write the `[cursor, [items...]]` scan reply.
pub(crate) fn scan_reply(out: &mut ReplyWriter, cursor: u64, items: &[&[u8]]) {
    out.array(2);
    bulk_u64(out, cursor);
    out.array(items.len());
    for it in items {
        out.bulk(it);
    }
}

/// A bulk string of an unsigned 64-bit number (scan cursors exceed `i64`).
fn bulk_u64(out: &mut ReplyWriter, n: u64) {
    let mut b = itoa::Buffer::new();
    out.bulk(b.format(n).as_bytes());
}

/// Set field/value pairs `argv[2..]` (HSET/HMSET). Returns the number of new
/// fields.
fn set_pairs(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], name: &str) -> Result<i64, CmdError> {
    if !argv.len().is_multiple_of(2) {
        return errf(format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
    }
    let server = ctx.server;
    let t: &Tunables = &server.keyspace.tunables;
    let key = argv[1];
    let pairs = argv.get(2..).unwrap_or_default();
    with_hash_create(ctx.db(key), key, |h| {
        h.try_conversion(pairs, t);
        let mut created = 0;
        for p in pairs.chunks_exact(2) {
            if h.set(p[0], p[1], t) {
                created += 1;
            }
        }
        Ok(created)
    })
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

fn hset(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let n = set_pairs(ctx, argv, "hset")?;
    ctx.out.int(n);
    nt::notify_replied(ctx, nt::HASH, "hset", argv[1]);
    Ok(())
}

fn hmset(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    set_pairs(ctx, argv, "hmset")?;
    ctx.out.ok();
    nt::notify_replied(ctx, nt::HASH, "hset", argv[1]);
    Ok(())
}

fn hsetnx(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let t: &Tunables = &server.keyspace.tunables;
    let (key, field, value) = (argv[1], argv[2], argv[3]);
    // An existing field leaves the hash untouched (no encoding conversion
    // either, unlike HSET with an over-long value) and is not a write:
    // Redis does not signal the key, so a WATCHing EXEC still runs.
    if read_hash(ctx.db(key), key)?.is_some_and(|h| h.contains(field)) {
        ctx.out.int(0);
        return Ok(());
    }
    let added = with_hash_create(ctx.db(key), key, |h| {
        if h.contains(field) {
            Ok(false)
        } else {
            Ok(h.set(field, value, t))
        }
    })?;
    ctx.out.int(i64::from(added));
    if added {
        nt::notify_replied(ctx, nt::HASH, "hset", key);
    }
    Ok(())
}

fn hget(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    match read_hash(db, argv[1])?.and_then(|h| h.get(argv[2])) {
        Some(v) => out.bulk(v),
        None => out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    let h = read_hash(db, argv[1])?;
    let fields = argv.get(2..).unwrap_or_default();
    out.array(fields.len());
    for f in fields {
        match h.and_then(|h| h.get(f)) {
            Some(v) => out.bulk(v),
            None => out.null(),
        }
    }
    Ok(())
}

fn hdel(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let db = ctx.db(key);
    let (deleted, empty) = match db.get_mut(key) {
        None => (0, false),
        Some(e) => match &mut e.value {
            Value::Hash(h) => {
                let mut n = 0;
                for f in argv.get(2..).unwrap_or_default() {
                    if h.remove(f) {
                        n += 1;
                        if h.is_empty() {
                            break;
                        }
                    }
                }
                (n, h.is_empty())
            }
            _ => return Err(WrongType.into()),
        },
    };
    if deleted > 0 {
        db.dirty += 1;
    }
    if empty {
        db.remove(key);
    }
    ctx.out.int(deleted);
    if deleted > 0 {
        nt::notify(ctx, nt::HASH, "hdel", key);
        if empty {
            nt::notify(ctx, nt::GENERIC, "del", key);
        }
    }
    Ok(())
}

fn hexists(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    let found = read_hash(db, argv[1])?.is_some_and(|h| h.contains(argv[2]));
    out.int(i64::from(found));
    Ok(())
}

fn hlen(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    let n = read_hash(db, argv[1])?.map_or(0, |h| h.len());
    out.int(n as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    let n = read_hash(db, argv[1])?
        .and_then(|h| h.get(argv[2]))
        .map_or(0, |v| v.len());
    out.int(n as i64);
    Ok(())
}

/// HKEYS / HVALS / HGETALL (Redis `genericHgetallCommand`).
fn getall(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], keys: bool, vals: bool) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    let h = read_hash(db, argv[1])?;
    let n = h.map_or(0, |h| h.len());
    if keys && vals {
        out.map(n);
    } else {
        out.array(n);
    }
    if let Some(h) = h {
        for (f, v) in h.iter() {
            if keys {
                out.bulk(f);
            }
            if vals {
                out.bulk(v);
            }
        }
    }
    Ok(())
}

fn hkeys(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    getall(ctx, argv, true, false)
}

fn hvals(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    getall(ctx, argv, false, true)
}

fn hgetall(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    getall(ctx, argv, true, true)
}

fn hincrby(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let incr = int(argv[3])?;
    let server = ctx.server;
    let t: &Tunables = &server.keyspace.tunables;
    let (key, field) = (argv[1], argv[2]);
    let n = with_hash_create(ctx.db(key), key, |h| {
        let old = match h.get(field) {
            Some(v) => match parse_i64(v) {
                Some(n) => n,
                None => return err("ERR hash value is not an integer"),
            },
            None => 0,
        };
        let Some(n) = old.checked_add(incr) else {
            return err(OVERFLOW);
        };
        h.set(field, itoa::Buffer::new().format(n).as_bytes(), t);
        Ok(n)
    })?;
    ctx.out.int(n);
    nt::notify_replied(ctx, nt::HASH, "hincrby", key);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    // The increment is validated before the key is looked up, as in Redis.
    match LongDouble::parse(argv[3]) {
        None => return err(crate::error::NOT_FLOAT),
        Some(incr) if !incr.is_finite() => return err("ERR value is NaN or Infinity"),
        Some(_) => {}
    }
    let server = ctx.server;
    let t: &Tunables = &server.keyspace.tunables;
    let (key, field, incr) = (argv[1], argv[2], argv[3]);
    let s = with_hash_create(ctx.db(key), key, |h| {
        // The increment parsed above, so `NotFloat` is about the old value.
        let s = match incr_by_float(h.get(field), incr) {
            Ok(s) => s,
            Err(IncrFloatError::NotFloat) => return err("ERR hash value is not a float"),
            Err(IncrFloatError::NanOrInf) => {
                return err("ERR increment would produce NaN or Infinity")
            }
        };
        h.set(field, s.as_bytes(), t);
        Ok(s)
    })?;
    ctx.out.bulk(s.as_bytes());
    nt::notify_replied(ctx, nt::HASH, "hincrbyfloat", key);
    Ok(())
}

/// Write one HRANDFIELD element in the shape Redis uses: with values, a
/// 2-element array per pair in RESP3, a flat pair in RESP2.
fn rand_pair(out: &mut ReplyWriter, f: &[u8], v: &[u8], withvalues: bool) {
    if withvalues && out.is_resp3() {
        out.array(2);
    }
    out.bulk(f);
    if withvalues {
        out.bulk(v);
    }
}

fn hrandfield(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let Some(&count_arg) = argv.get(2) else {
        let (db, out) = ctx.db_out(argv[1]);
        match read_hash(db, argv[1])? {
            Some(h) if !h.is_empty() => {
                let i = rand::thread_rng().gen_range(0..h.len());
                match h.get_index(i) {
                    Some((f, _)) => out.bulk(f),
                    None => out.null(),
                }
            }
            _ => out.null(),
        }
        return Ok(());
    };
    let l = parse_rand_count(count_arg)?;
    let withvalues = match argv.len() {
        3 => false,
        4 if eq(argv[3], "withvalues") => true,
        _ => return err(SYNTAX),
    };
    if withvalues && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&l) {
        return err("ERR value is out of range");
    }
    let count = l.unsigned_abs();
    let uniq = l >= 0;
    let (db, out) = ctx.db_out(argv[1]);
    let h = match read_hash(db, argv[1])? {
        Some(h) if count > 0 && !h.is_empty() => h,
        _ => {
            out.array(0);
            return Ok(());
        }
    };
    let size = h.len();
    let header = |out: &mut ReplyWriter, n: usize| {
        if withvalues && !out.is_resp3() {
            out.array(2 * n);
        } else {
            out.array(n);
        }
    };
    let mut rng = rand::thread_rng();
    // CASE 1: repetitions allowed (negative count), or a single element.
    if !uniq || count == 1 {
        let Ok(n) = usize::try_from(count) else {
            return err("ERR value is out of range");
        };
        header(out, n);
        for _ in 0..n {
            if let Some((f, v)) = h.get_index(rng.gen_range(0..size)) {
                rand_pair(out, f, v, withvalues);
            }
        }
        return Ok(());
    }
    // CASE 2: the whole hash, in encoding order.
    if count >= size as u64 {
        header(out, size);
        for (f, v) in h.iter() {
            rand_pair(out, f, v, withvalues);
        }
        return Ok(());
    }
    // CASE 3/4: `count` distinct random fields, in random order. When many
    // are wanted, a partial Fisher-Yates shuffle of all indices; when few,
    // rejection sampling (no O(size) memory for a handful of fields).
    let n = count as usize;
    header(out, n);
    for i in distinct_indices(&mut rng, size, n) {
        if let Some((f, v)) = h.get_index(i) {
            rand_pair(out, f, v, withvalues);
        }
    }
    Ok(())
}

/// `n` distinct uniformly random indices in `0..size` (`n < size`), in random
/// order. Shared with SRANDMEMBER.
pub(crate) fn distinct_indices(rng: &mut impl Rng, size: usize, n: usize) -> Vec<usize> {
    if n.saturating_mul(3) > size {
        let mut idx: Vec<usize> = (0..size).collect();
        for i in 0..n.min(size) {
            let j = rng.gen_range(i..size);
            idx.swap(i, j);
        }
        idx.truncate(n);
        idx
    } else {
        let mut seen = std::collections::HashSet::with_capacity(n);
        let mut idx = Vec::with_capacity(n);
        while idx.len() < n {
            let i = rng.gen_range(0..size);
            if seen.insert(i) {
                idx.push(i);
            }
        }
        idx
    }
}

fn hscan(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let cursor = parse_cursor(argv[2])?;
    let (db, out) = ctx.db_out(argv[1]);
    let Some(h) = read_hash(db, argv[1])? else {
        scan_reply(out, 0, &[]);
        return Ok(());
    };
    let opts = parse_scan_opts(argv)?;
    let mut items: Vec<&[u8]> = Vec::new();
    let next = h.scan(cursor, opts.count, |f, v| {
        if opts.matches(f) {
            items.push(f);
            items.push(v);
        }
    });
    scan_reply(out, next, &items);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::NOT_INTEGER;

    #[test]
    fn cursor_parsing_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Ok(0));
        assert_eq!(parse_cursor(b""), Ok(0));
        assert_eq!(parse_cursor(b"+5"), Ok(5));
        assert_eq!(parse_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(parse_cursor(b"5\0zz"), Ok(5));
        for bad in [
            &b"18446744073709551616"[..],
            b" 1",
            b"1 ",
            b"x",
            b"+",
            b"-",
            b"0x1",
        ] {
            assert!(parse_cursor(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn scan_options() {
        let argv: Vec<&[u8]> = vec![b"hscan", b"k", b"0", b"COUNT", b"5", b"match", b"a*"];
        let o = parse_scan_opts(&argv).map_err(|e| e.text().to_string());
        let o = match o {
            Ok(o) => o,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(o.count, 5);
        assert!(o.matches(b"abc") && !o.matches(b"b"));
        for bad in [
            vec![&b"hscan"[..], b"k", b"0", b"count", b"0"],
            vec![b"hscan", b"k", b"0", b"count"],
            vec![b"hscan", b"k", b"0", b"type", b"string"],
        ] {
            assert!(parse_scan_opts(&bad).is_err());
        }
        let argv: Vec<&[u8]> = vec![b"hscan", b"k", b"0", b"count", b"x"];
        assert_eq!(
            parse_scan_opts(&argv).err().map(|e| e.text().to_string()),
            Some(NOT_INTEGER.to_string())
        );
    }
}
