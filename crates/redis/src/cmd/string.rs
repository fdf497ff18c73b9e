//! String commands: GET/SET and their variants, counters, ranges, LCS.
//!
//! Values are plain [`Blob`]s in `Value::Str`. Commands that modify a value
//! in place (APPEND, SETRANGE, INCR…) go through `Db::get_mut` and keep the
//! key's TTL, as Redis's `dbOverwrite`/`dbUnshareStringValue` do; commands
//! that replace it (SET, GETSET, MSET) go through `Db::set`, which clears it.

use crate::args::{eq, int};
use crate::ctx::Ctx;
use crate::error::{err, errf, CmdError, CmdResult, NOT_FLOAT, NOT_INTEGER, OVERFLOW, SYNTAX};
use crate::notify as nt;
use crate::spec::{acl, flags::*, CommandSpec};
use ferrocache_engine::types::string::{incr_by_float, parse_i64, IncrFloatError, StrEncoding};
use ferrocache_engine::{Blob, Value};

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("get", 2, READONLY | FAST, (1, 1, 1), get)
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Get the value of a key", "O(1)"),
    CommandSpec::new("set", -3, WRITE | DENYOOM, (1, 1, 1), set)
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Set the string value of a key", "O(1)"),
    CommandSpec::new("setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), setnx)
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Set the value of a key, only if the key does not exist", "O(1)"),
    CommandSpec::new("setex", 4, WRITE | DENYOOM, (1, 1, 1), setex)
        .acl(acl::STRING)
        .doc("string", "2.0.0", "Set the value and expiration of a key", "O(1)"),
    CommandSpec::new("psetex", 4, WRITE | DENYOOM, (1, 1, 1), psetex)
        .acl(acl::STRING)
        .doc("string", "2.6.0", "Set the value and expiration in milliseconds of a key", "O(1)"),
    CommandSpec::new("getset", 3, WRITE | DENYOOM | FAST, (1, 1, 1), getset)
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Set the string value of a key and return its old value", "O(1)"),
    CommandSpec::new("getdel", 2, WRITE | FAST, (1, 1, 1), getdel)
        .acl(acl::STRING)
        .doc("string", "6.2.0", "Get the value of a key and delete the key", "O(1)"),
    CommandSpec::new("getex", -2, WRITE | FAST, (1, 1, 1), getex)
        .acl(acl::STRING)
        .doc("string", "6.2.0", "Get the value of a key and optionally set its expiration", "O(1)"),
    CommandSpec::new("mget", -2, READONLY | FAST, (1, -1, 1), mget)
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Get the values of all the given keys", "O(N) where N is the number of keys to retrieve."),
    CommandSpec::new("mset", -3, WRITE | DENYOOM, (1, -1, 2), mset)
        .acl(acl::STRING)
        .doc("string", "1.0.1", "Set multiple keys to multiple values", "O(N) where N is the number of keys to set."),
    CommandSpec::new("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), msetnx)
        .acl(acl::STRING)
        .doc("string", "1.0.1", "Set multiple keys to multiple values, only if none of the keys exist", "O(N) where N is the number of keys to set."),
    CommandSpec::new("append", 3, WRITE | DENYOOM | FAST, (1, 1, 1), append)
        .acl(acl::STRING)
        .doc("string", "2.0.0", "Append a value to a key", "O(1). The amortized time complexity is O(1) assuming the appended value is small and the already present value is of any size, since the dynamic string library used by Redis will double the free space available on every reallocation."),
    CommandSpec::new("strlen", 2, READONLY | FAST, (1, 1, 1), strlen)
        .acl(acl::STRING)
        .doc("string", "2.2.0", "Get the length of the value stored in a key", "O(1)"),
    CommandSpec::new("incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), incr)
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Increment the integer value of a key by one", "O(1)"),
    CommandSpec::new("decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), decr)
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Decrement the integer value of a key by one", "O(1)"),
    CommandSpec::new("incrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), incrby)
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Increment the integer value of a key by the given amount", "O(1)"),
    CommandSpec::new("decrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), decrby)
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Decrement the integer value of a key by the given number", "O(1)"),
    CommandSpec::new("incrbyfloat", 3, WRITE | DENYOOM | FAST, (1, 1, 1), incrbyfloat)
        .acl(acl::STRING)
        .doc("string", "2.6.0", "Increment the float value of a key by the given amount", "O(1)"),
    CommandSpec::new("getrange", 4, READONLY, (1, 1, 1), getrange)
        .acl(acl::STRING)
        .doc("string", "2.4.0", "Get a substring of the string stored at a key", "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings."),
    CommandSpec::new("substr", 4, READONLY, (1, 1, 1), getrange)
        .acl(acl::STRING)
        .doc("string", "1.0.0", "Get a substring of the string stored at a key", "O(N) where N is the length of the returned string. The complexity is ultimately determined by the returned length, but because creating a substring from an existing string is very cheap, it can be considered O(1) for small strings."),
    CommandSpec::new("setrange", 4, WRITE | DENYOOM, (1, 1, 1), setrange)
        .acl(acl::STRING)
        .doc("string", "2.2.0", "Overwrite part of a string at key starting at the specified offset", "O(1), not counting the time taken to copy the new string in place. Usually, this string is very small so the amortized complexity is O(1). Otherwise, complexity is O(M) with M being the length of the value argument."),
    CommandSpec::new("lcs", -3, READONLY, (1, 2, 1), lcs)
        .acl(acl::STRING)
        .doc("string", "7.0.0", "Find longest common substring", "O(N*M) where N and M are the lengths of s1 and s2, respectively"),
];

fn get(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    match db.get(argv[1]) {
        None => out.null(),
        Some(e) => out.bulk(e.value.as_str()?),
    }
    Ok(())
}

// SET/GETEX option bits (Redis `OBJ_SET_*`).
const F_NX: u32 = 1 << 0;
const F_XX: u32 = 1 << 1;
const F_GET: u32 = 1 << 2;
const F_KEEPTTL: u32 = 1 << 3;
const F_PERSIST: u32 = 1 << 4;
const F_EX: u32 = 1 << 5;
const F_PX: u32 = 1 << 6;
const F_EXAT: u32 = 1 << 7;
const F_PXAT: u32 = 1 << 8;
const F_ANY_EXPIRE: u32 = F_EX | F_PX | F_EXAT | F_PXAT;

/// Parsed SET / GETEX options.
struct ExtArgs<'a> {
    flags: u32,
    expire: Option<&'a [u8]>,
}

/// Redis's `parseExtendedStringArgumentsOrReply`. The conditions mirror the
/// C code one for one (including what it tolerates, such as `NX NX` or `EX 1
/// EX 2`), because the exact set of accepted combinations is observable.
fn parse_ext<'a>(argv: &[&'a [u8]], start: usize, is_set: bool) -> Result<ExtArgs<'a>, CmdError> {
    let mut flags = 0u32;
    let mut expire = None;
    let mut j = start;
    while let Some(&opt) = argv.get(j) {
        let next = argv.get(j + 1).copied();
        let has = |f: u32| flags & f != 0;
        if eq(opt, "nx") && !has(F_XX) && is_set {
            flags |= F_NX;
        } else if eq(opt, "xx") && !has(F_NX) && is_set {
            flags |= F_XX;
        } else if eq(opt, "get") && is_set {
            flags |= F_GET;
        } else if eq(opt, "keepttl") && !has(F_PERSIST | F_ANY_EXPIRE) && is_set {
            flags |= F_KEEPTTL;
        } else if eq(opt, "persist") && !is_set && !has(F_ANY_EXPIRE | F_KEEPTTL) {
            flags |= F_PERSIST;
        } else if let (Some(n), Some(f)) = (next, expire_flag(opt)) {
            if has(F_KEEPTTL | F_PERSIST | (F_ANY_EXPIRE & !f)) {
                return err(SYNTAX);
            }
            flags |= f;
            expire = Some(n);
            j += 1;
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    Ok(ExtArgs { flags, expire })
}

fn expire_flag(opt: &[u8]) -> Option<u32> {
    if eq(opt, "ex") {
        Some(F_EX)
    } else if eq(opt, "px") {
        Some(F_PX)
    } else if eq(opt, "exat") {
        Some(F_EXAT)
    } else if eq(opt, "pxat") {
        Some(F_PXAT)
    } else {
        None
    }
}

/// Redis's `getExpireMillisecondsOrReply`: the absolute expiry (Unix ms) for
/// an EX/PX/EXAT/PXAT argument. Zero, negative and overflowing values are
/// `invalid expire time in '<cmd>' command`.
fn expire_ms(arg: &[u8], flags: u32, now: u64, cmd: &str) -> Result<u64, CmdError> {
    let v = int(arg)?;
    let bad = || CmdError::msg(format!("ERR invalid expire time in '{cmd}' command"));
    let seconds = flags & (F_EX | F_EXAT) != 0;
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(bad());
    }
    let mut ms = if seconds { v * 1000 } else { v };
    if flags & (F_EX | F_PX) != 0 {
        ms = ms
            .checked_add(i64::try_from(now).unwrap_or(i64::MAX))
            .ok_or_else(bad)?;
    }
    Ok(ms as u64)
}

/// Redis's `setGenericCommand`. `replies` are (ok, aborted) for SETNX-like
/// callers (integers) or `None` for `+OK` / null.
fn set_generic(
    ctx: &mut Ctx<'_, '_>,
    flags: u32,
    key: &[u8],
    val: &[u8],
    expire: Option<&[u8]>,
    cmd: &str,
    int_replies: bool,
) -> CmdResult {
    let now = ctx.now();
    let at = match expire {
        Some(e) => Some(expire_ms(e, flags, now, cmd)?),
        None => None,
    };
    if flags & F_GET != 0 {
        let (db, out) = ctx.db_out(key);
        match db.get(key) {
            None => out.null(),
            Some(e) => out.bulk(e.value.as_str()?),
        }
        // GET's reply comes before the write's events, as in Redis.
        nt::replied(ctx);
    }
    let (db, out) = ctx.db_out(key);
    let found = db.contains(key);
    if (flags & F_NX != 0 && found) || (flags & F_XX != 0 && !found) {
        if flags & F_GET == 0 {
            if int_replies {
                out.int(0);
            } else {
                out.null();
            }
        }
        return Ok(());
    }
    let value = Value::Str(Blob::new(val));
    if flags & F_KEEPTTL != 0 {
        db.set_keep_ttl(key, value);
    } else {
        db.set(key, value);
    }
    if let Some(at) = at {
        db.set_expire(key, at);
    }
    // t_string.c notifies before the final reply (a RESP3 client
    // subscribed to its own events sees them first); GET's reply came
    // before the write.
    nt::notify(ctx, nt::STRING, "set", key);
    if at.is_some() {
        nt::notify(ctx, nt::GENERIC, "expire", key);
    }
    if flags & F_GET == 0 {
        if int_replies {
            ctx.out.int(1);
        } else {
            ctx.out.ok();
        }
    }
    Ok(())
}

fn set(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let a = parse_ext(argv, 3, true)?;
    set_generic(ctx, a.flags, argv[1], argv[2], a.expire, "set", false)
}

fn setnx(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    set_generic(ctx, F_NX, argv[1], argv[2], None, "setnx", true)
}

fn setex(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    set_generic(ctx, F_EX, argv[1], argv[3], Some(argv[2]), "setex", false)
}

fn psetex(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    set_generic(ctx, F_PX, argv[1], argv[3], Some(argv[2]), "psetex", false)
}

fn getset(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    match db.get(argv[1]) {
        None => out.null(),
        Some(e) => out.bulk(e.value.as_str()?),
    }
    // Redis replies with the old value, then writes and notifies.
    nt::replied(ctx);
    ctx.db(argv[1]).set(argv[1], Value::Str(Blob::new(argv[2])));
    nt::notify(ctx, nt::STRING, "set", argv[1]);
    Ok(())
}

fn getdel(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    match db.get(argv[1]) {
        None => out.null(),
        Some(e) => {
            out.bulk(e.value.as_str()?);
            db.remove(argv[1]);
            nt::notify_replied(ctx, nt::GENERIC, "del", argv[1]);
        }
    }
    Ok(())
}

fn getex(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let a = parse_ext(argv, 2, false)?;
    let now = ctx.now();
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let Some(e) = db.get(key) else {
        out.null();
        return Ok(());
    };
    let s = e.value.as_str()?;
    // Validated only once the key is known to hold a string, as Redis does.
    let at = match a.expire {
        Some(x) => Some(expire_ms(x, a.flags, now, "getex")?),
        None => None,
    };
    out.bulk(s);
    match at {
        Some(at) if a.flags & (F_EXAT | F_PXAT) != 0 && at <= now => {
            db.remove(key);
            nt::notify_replied(ctx, nt::GENERIC, "del", key);
        }
        Some(at) => {
            db.set_expire(key, at);
            nt::notify_replied(ctx, nt::GENERIC, "expire", key);
        }
        None => {
            if a.flags & F_PERSIST != 0 && db.persist(key) {
                nt::notify_replied(ctx, nt::GENERIC, "persist", key);
            }
        }
    }
    Ok(())
}

fn mget(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let keys = &argv[1..];
    ctx.out.array(keys.len());
    for &k in keys {
        let (db, out) = ctx.db_out(k);
        match db.get(k) {
            Some(e) => match &e.value {
                Value::Str(s) => out.bulk(s),
                _ => out.null(),
            },
            None => {
                // The key's `keymiss` goes right before its null, as in Redis.
                nt::flush_here(ctx);
                ctx.out.null();
            }
        }
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], nx: bool) -> CmdResult {
    // An even argc means a key without a value.
    if argv.len() % 2 != 1 {
        let name = if nx { "msetnx" } else { "mset" };
        return errf(format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
    }
    if nx {
        for pair in argv[1..].chunks_exact(2) {
            if ctx.db(pair[0]).contains(pair[0]) {
                ctx.out.int(0);
                return Ok(());
            }
        }
    }
    for pair in argv[1..].chunks_exact(2) {
        ctx.db(pair[0]).set(pair[0], Value::Str(Blob::new(pair[1])));
        nt::notify(ctx, nt::STRING, "set", pair[0]);
    }
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn mset(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    mset_generic(ctx, argv, false)
}

fn msetnx(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    mset_generic(ctx, argv, true)
}

/// The configured `proto-max-bulk-len`: the largest string APPEND and
/// SETRANGE may build.
fn max_string_len(ctx: &Ctx<'_, '_>) -> u64 {
    ctx.server
        .config
        .get("proto-max-bulk-len")
        .and_then(|v| crate::config::parse_memory(&v))
        .unwrap_or(512 * 1024 * 1024)
}

const TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/// Redis's `checkStringLength`.
fn check_len(max: u64, size: usize, append: usize) -> CmdResult {
    match (size as u64).checked_add(append as u64) {
        Some(t) if t <= max => Ok(()),
        _ => err(TOO_BIG),
    }
}

fn append(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let max = max_string_len(ctx);
    let (key, extra) = (argv[1], argv[2]);
    let (db, out) = ctx.db_out(key);
    let new_len = match db.get_mut(key) {
        None => None,
        Some(e) => {
            let Value::Str(s) = &mut e.value else {
                return Err(ferrocache_engine::WrongType.into());
            };
            check_len(max, s.len(), extra.len())?;
            // Reuse the heap buffer when there is one (`into_vec` of a heap
            // blob does not copy).
            let mut v = std::mem::take(s).into_vec();
            v.extend_from_slice(extra);
            let n = v.len();
            *s = Blob::from_vec(v);
            // `dbUnshareStringValue`: Redis makes the value raw.
            e.set_str_encoding(StrEncoding::Raw);
            Some(n)
        }
    };
    let n = match new_len {
        Some(n) => {
            db.dirty += 1;
            n
        }
        None => {
            db.set(key, Value::Str(Blob::new(extra)));
            extra.len()
        }
    };
    out.int(n as i64);
    nt::notify(ctx, nt::STRING, "append", key);
    Ok(())
}

fn strlen(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    match db.get(argv[1]) {
        None => out.int(0),
        Some(e) => out.int(e.value.as_str()?.len() as i64),
    }
    Ok(())
}

/// Redis's `incrDecrCommand`: keeps the TTL, refuses non-integers and
/// overflow.
fn incr_decr(ctx: &mut Ctx<'_, '_>, key: &[u8], by: i64) -> CmdResult {
    let (db, out) = ctx.db_out(key);
    let updated = match db.get_mut(key) {
        None => None,
        Some(e) => {
            let old = parse_i64(e.value.as_str()?).ok_or_else(|| CmdError::msg(NOT_INTEGER))?;
            let new = old.checked_add(by).ok_or_else(|| CmdError::msg(OVERFLOW))?;
            e.value = Value::Str(Blob::from_i64(new));
            e.set_str_encoding(StrEncoding::Auto);
            Some(new)
        }
    };
    let n = match updated {
        Some(n) => {
            db.dirty += 1;
            n
        }
        None => {
            db.set(key, Value::Str(Blob::from_i64(by)));
            by
        }
    };
    out.int(n);
    nt::notify(ctx, nt::STRING, "incrby", key);
    Ok(())
}

fn incr(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    incr_decr(ctx, argv[1], 1)
}

fn decr(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    incr_decr(ctx, argv[1], -1)
}

fn incrby(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let by = int(argv[2])?;
    incr_decr(ctx, argv[1], by)
}

fn decrby(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let by = int(argv[2])?;
    if by == i64::MIN {
        return err("ERR decrement would overflow");
    }
    incr_decr(ctx, argv[1], -by)
}

fn incrbyfloat(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (key, by) = (argv[1], argv[2]);
    let (db, out) = ctx.db_out(key);
    let fail = |e: IncrFloatError| match e {
        IncrFloatError::NotFloat => CmdError::msg(NOT_FLOAT),
        IncrFloatError::NanOrInf => CmdError::msg("ERR increment would produce NaN or Infinity"),
    };
    let updated = match db.get_mut(key) {
        None => None,
        Some(e) => {
            let s = incr_by_float(Some(e.value.as_str()?), by).map_err(fail)?;
            e.value = Value::Str(Blob::new(s.as_bytes()));
            e.set_str_encoding(StrEncoding::NoInt);
            out.bulk(s.as_bytes());
            Some(())
        }
    };
    match updated {
        Some(()) => db.dirty += 1,
        None => {
            let s = incr_by_float(None, by).map_err(fail)?;
            out.bulk(s.as_bytes());
            db.set_encoded(
                key,
                Value::Str(Blob::from_vec(s.into_bytes())),
                StrEncoding::NoInt,
            );
        }
    }
    nt::notify(ctx, nt::STRING, "incrbyfloat", key);
    Ok(())
}

fn getrange(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let mut start = int(argv[2])?;
    let mut end = int(argv[3])?;
    let (db, out) = ctx.db_out(argv[1]);
    let Some(e) = db.get(argv[1]) else {
        out.bulk(b"");
        return Ok(());
    };
    let s = e.value.as_str()?;
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        out.bulk(b"");
        return Ok(());
    }
    if start < 0 {
        start = start.saturating_add(len);
    }
    if end < 0 {
        end = end.saturating_add(len);
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        out.bulk(b"");
    } else {
        match s.get(start as usize..=end as usize) {
            Some(sub) => out.bulk(sub),
            None => out.bulk(b""),
        }
    }
    Ok(())
}

fn setrange(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let offset = int(argv[2])?;
    if offset < 0 {
        return err("ERR offset is out of range");
    }
    let max = max_string_len(ctx);
    let (key, val) = (argv[1], argv[3]);
    let offset = usize::try_from(offset).map_err(|_| CmdError::msg(TOO_BIG))?;
    let (db, out) = ctx.db_out(key);
    let new_len = match db.get_mut(key) {
        None => None,
        Some(e) => {
            let Value::Str(s) = &mut e.value else {
                return Err(ferrocache_engine::WrongType.into());
            };
            if val.is_empty() {
                out.int(s.len() as i64);
                return Ok(());
            }
            check_len(max, offset, val.len())?;
            let mut v = std::mem::take(s).into_vec();
            write_at(&mut v, offset, val);
            let n = v.len();
            *s = Blob::from_vec(v);
            e.set_str_encoding(StrEncoding::Raw);
            Some(n)
        }
    };
    let n = match new_len {
        Some(n) => {
            db.dirty += 1;
            n
        }
        None => {
            if val.is_empty() {
                out.int(0);
                return Ok(());
            }
            check_len(max, offset, val.len())?;
            let mut v = Vec::new();
            write_at(&mut v, offset, val);
            let n = v.len();
            db.set_encoded(key, Value::Str(Blob::from_vec(v)), StrEncoding::Raw);
            n
        }
    };
    out.int(n as i64);
    nt::notify(ctx, nt::STRING, "setrange", key);
    Ok(())
}

/// Overwrite `v[offset..]` with `val`, zero-padding as needed.
fn write_at(v: &mut Vec<u8>, offset: usize, val: &[u8]) {
    let end = offset + val.len();
    if v.len() < end {
        v.resize(end, 0);
    }
    if let Some(dst) = v.get_mut(offset..end) {
        dst.copy_from_slice(val);
    }
}

fn lcs(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    const TYPE_ERR: &str = "ERR The specified keys must contain string values";
    let fetch = |ctx: &mut Ctx<'_, '_>, k: &[u8]| -> Result<Vec<u8>, CmdError> {
        match ctx.db(k).get(k) {
            None => Ok(Vec::new()),
            Some(e) => match &e.value {
                Value::Str(s) => Ok(s.to_vec()),
                _ => err(TYPE_ERR),
            },
        }
    };
    // Both keys are looked up before either type is checked.
    let a = fetch(ctx, argv[1]);
    let b = fetch(ctx, argv[2]);
    let (a, b) = (a?, b?);
    let (mut getidx, mut getlen, mut withmatchlen) = (false, false, false);
    let mut minmatchlen: i64 = 0;
    let mut j = 3;
    while let Some(&opt) = argv.get(j) {
        let more = argv.len() - 1 - j;
        if eq(opt, "idx") {
            getidx = true;
        } else if eq(opt, "len") {
            getlen = true;
        } else if eq(opt, "withmatchlen") {
            withmatchlen = true;
        } else if eq(opt, "minmatchlen") && more > 0 {
            minmatchlen = int(argv[j + 1])?.max(0);
            j += 1;
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    if getidx && getlen {
        return err("ERR If you want both the length and indexes, please just use IDX.");
    }
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return err("ERR String too long for LCS");
    }
    let (alen, blen) = (a.len(), b.len());
    let cells = (alen + 1)
        .checked_mul(blen + 1)
        .ok_or_else(|| CmdError::msg(LCS_OOM))?;
    // Redis refuses a DP table larger than proto-max-bulk-len (4 bytes a
    // cell) before allocating it (found by the differential test: LCS of
    // two 12 KB HLL strings).
    let max = ctx
        .server
        .config
        .hot()
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed);
    if (cells as u128) * 4 > max.max(0) as u128 {
        return err("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
    }
    let mut table: Vec<u32> = Vec::new();
    if table.try_reserve_exact(cells).is_err() {
        return err(LCS_OOM);
    }
    table.resize(cells, 0);
    let w = blen + 1;
    // table[i*w + j] = LCS length of a[..i] and b[..j].
    for i in 1..=alen {
        for jj in 1..=blen {
            let v = if a[i - 1] == b[jj - 1] {
                table[(i - 1) * w + jj - 1] + 1
            } else {
                table[(i - 1) * w + jj].max(table[i * w + jj - 1])
            };
            table[i * w + jj] = v;
        }
    }
    let total = table[alen * w + blen];
    let computelcs = getidx || !getlen;
    if !computelcs {
        ctx.out.int(i64::from(total));
        return Ok(());
    }
    // Walk back from the end, collecting the LCS bytes and the match ranges
    // exactly as Redis's loop emits them (last match first).
    let mut result = vec![0u8; total as usize];
    let mut idx = total as usize;
    let mut ranges: Vec<[usize; 4]> = Vec::new();
    let (mut i, mut jj) = (alen, blen);
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (alen, 0usize, 0usize, 0usize);
    while i > 0 && jj > 0 {
        let mut emit = false;
        if a[i - 1] == b[jj - 1] {
            if let Some(slot) = idx.checked_sub(1).and_then(|p| result.get_mut(p)) {
                *slot = a[i - 1];
            }
            if a_start == alen {
                a_start = i - 1;
                a_end = i - 1;
                b_start = jj - 1;
                b_end = jj - 1;
            } else if a_start == i && b_start == jj {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx = idx.saturating_sub(1);
            i -= 1;
            jj -= 1;
        } else {
            let l1 = table[(i - 1) * w + jj];
            let l2 = table[i * w + jj - 1];
            if l1 > l2 {
                i -= 1;
            } else {
                jj -= 1;
            }
            if a_start != alen {
                emit = true;
            }
        }
        if emit {
            let match_len = a_end.wrapping_sub(a_start).wrapping_add(1);
            if getidx && (minmatchlen == 0 || match_len as i64 >= minmatchlen) {
                ranges.push([a_start, a_end, b_start, b_end]);
            }
            a_start = alen;
        }
    }
    let out = &mut *ctx.out;
    if getidx {
        out.map(2);
        out.bulk(b"matches");
        out.array(ranges.len());
        for r in &ranges {
            out.array(if withmatchlen { 3 } else { 2 });
            out.array(2);
            out.int(r[0] as i64);
            out.int(r[1] as i64);
            out.array(2);
            out.int(r[2] as i64);
            out.int(r[3] as i64);
            if withmatchlen {
                out.int((r[1] - r[0] + 1) as i64);
            }
        }
        out.bulk(b"len");
        out.int(i64::from(total));
    } else {
        out.bulk(&result);
    }
    Ok(())
}

const LCS_OOM: &str = "ERR Insufficient memory, failed allocating transient memory for LCS";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ext_args_conflicts() {
        let p = |s: &str| {
            let v: Vec<&[u8]> = s.split(' ').map(str::as_bytes).collect();
            parse_ext(&v, 3, true).map(|a| a.flags)
        };
        assert!(p("set k v nx xx").is_err());
        assert!(p("set k v ex 1 px 1").is_err());
        assert!(p("set k v keepttl ex 1").is_err());
        assert!(p("set k v ex").is_err());
        assert_eq!(p("set k v nx nx").ok(), Some(F_NX));
        assert_eq!(p("set k v ex 1 ex 2").ok(), Some(F_EX));
        assert_eq!(p("set k v get xx").ok(), Some(F_GET | F_XX));
        let g: Vec<&[u8]> = vec![b"getex", b"k", b"persist"];
        assert!(parse_ext(&g, 2, false).is_ok());
        let g: Vec<&[u8]> = vec![b"getex", b"k", b"nx"];
        assert!(parse_ext(&g, 2, false).is_err());
    }

    #[test]
    fn expire_overflow() {
        assert!(expire_ms(b"0", F_EX, 1000, "set").is_err());
        assert!(expire_ms(b"-1", F_PX, 1000, "set").is_err());
        assert!(expire_ms(b"9223372036854775807", F_EX, 1000, "set").is_err());
        assert!(expire_ms(b"9223372036854775807", F_PX, 1000, "set").is_err());
        assert_eq!(
            expire_ms(b"9223372036854775807", F_PXAT, 1000, "set").ok(),
            Some(i64::MAX as u64)
        );
        assert_eq!(expire_ms(b"2", F_EX, 1000, "set").ok(), Some(3000));
        assert!(expire_ms(b"x", F_EX, 1000, "set").is_err());
    }

    #[test]
    fn write_at_pads() {
        let mut v = b"ab".to_vec();
        write_at(&mut v, 4, b"cd");
        assert_eq!(v, b"ab\0\0cd");
        write_at(&mut v, 0, b"X");
        assert_eq!(v, b"Xb\0\0cd");
    }
}
