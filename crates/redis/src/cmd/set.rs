//! Set commands (Redis `t_set.c`).
//!
//! As for hashes, the order of checks follows Redis 7.0 because it decides
//! which error a client sees. Multi-key commands (SINTER, SUNION, SDIFF and
//! their STORE/CARD forms, SMOVE) may span shards: the dispatcher has locked
//! every shard involved, and handlers visit one database at a time — first a
//! pass that expires lazily and type-checks every key (so WRONGTYPE wins over
//! an empty result, as in Redis 7.0), then the work itself through
//! [`Db::peek`], which no longer needs to expire anything.
//!
//! Results of SINTERSTORE/SUNIONSTORE/SDIFFSTORE are built by adding members
//! one by one to a fresh set, exactly as Redis does, so they get the encoding
//! Redis would give them (intset when all members are integers).

use crate::args::{eq, int};
use crate::cmd::hash::{
    distinct_indices, parse_cursor, parse_rand_count, parse_scan_opts, scan_reply,
};
use crate::ctx::Ctx;
use crate::error::{err, CmdError, CmdResult, SYNTAX};
use crate::notify as nt;
use crate::spec::{acl, flags::*, numkeys_at, CommandSpec};
use ferrocache_engine::keyspace::Tunables;
use ferrocache_engine::types::set::SetValue;
use ferrocache_engine::{Blob, Db, Value, WrongType};
use ferrocache_protocol::ReplyWriter;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), sadd)
        .acl(acl::SET)
        .doc(
            "set",
            "1.0.0",
            "Add one or more members to a set",
            "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.",
        ),
    CommandSpec::new("srem", -3, WRITE | FAST, (1, 1, 1), srem)
        .acl(acl::SET)
        .doc(
            "set",
            "1.0.0",
            "Remove one or more members from a set",
            "O(N) where N is the number of members to be removed.",
        ),
    CommandSpec::new("smembers", 2, READONLY, (1, 1, 1), smembers)
        .acl(acl::SET)
        .doc(
            "set",
            "1.0.0",
            "Get all the members in a set",
            "O(N) where N is the set cardinality.",
        ),
    CommandSpec::new("sismember", 3, READONLY | FAST, (1, 1, 1), sismember)
        .acl(acl::SET)
        .doc(
            "set",
            "1.0.0",
            "Determine if a given value is a member of a set",
            "O(1)",
        ),
    CommandSpec::new("smismember", -3, READONLY | FAST, (1, 1, 1), smismember)
        .acl(acl::SET)
        .doc(
            "set",
            "6.2.0",
            "Returns the membership associated with the given elements for a set",
            "O(N) where N is the number of elements being checked for membership",
        ),
    CommandSpec::new("scard", 2, READONLY | FAST, (1, 1, 1), scard)
        .acl(acl::SET)
        .doc(
            "set",
            "1.0.0",
            "Get the number of members in a set",
            "O(1)",
        ),
    CommandSpec::new("spop", -2, WRITE | FAST, (1, 1, 1), spop)
        .acl(acl::SET)
        .doc(
            "set",
            "1.0.0",
            "Remove and return one or multiple random members from a set",
            "Without the count argument O(1), otherwise O(N) where N is the value of the passed count.",
        ),
    CommandSpec::new("srandmember", -2, READONLY, (1, 1, 1), srandmember)
        .acl(acl::SET)
        .doc(
            "set",
            "1.0.0",
            "Get one or multiple random members from a set",
            "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count.",
        ),
    CommandSpec::new("smove", 4, WRITE | FAST, (1, 2, 1), smove)
        .acl(acl::SET)
        .doc(
            "set",
            "1.0.0",
            "Move a member from one set to another",
            "O(1)",
        ),
    CommandSpec::new("sinter", -2, READONLY, (1, -1, 1), sinter)
        .acl(acl::SET)
        .doc(
            "set",
            "1.0.0",
            "Intersect multiple sets",
            "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        ),
    CommandSpec::new("sinterstore", -3, WRITE | DENYOOM, (1, -1, 1), sinterstore)
        .acl(acl::SET)
        .doc(
            "set",
            "1.0.0",
            "Intersect multiple sets and store the resulting set in a key",
            "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        ),
    CommandSpec::new("sintercard", -3, READONLY, (0, 0, 0), sintercard)
        .keys_fn(sintercard_keys)
        .acl(acl::SET)
        .doc(
            "set",
            "7.0.0",
            "Intersect multiple sets and return the cardinality of the result",
            "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets.",
        ),
    CommandSpec::new("sunion", -2, READONLY, (1, -1, 1), sunion)
        .acl(acl::SET)
        .doc(
            "set",
            "1.0.0",
            "Add multiple sets",
            "O(N) where N is the total number of elements in all given sets.",
        ),
    CommandSpec::new("sunionstore", -3, WRITE | DENYOOM, (1, -1, 1), sunionstore)
        .acl(acl::SET)
        .doc(
            "set",
            "1.0.0",
            "Add multiple sets and store the resulting set in a key",
            "O(N) where N is the total number of elements in all given sets.",
        ),
    CommandSpec::new("sdiff", -2, READONLY, (1, -1, 1), sdiff)
        .acl(acl::SET)
        .doc(
            "set",
            "1.0.0",
            "Subtract multiple sets",
            "O(N) where N is the total number of elements in all given sets.",
        ),
    CommandSpec::new("sdiffstore", -3, WRITE | DENYOOM, (1, -1, 1), sdiffstore)
        .acl(acl::SET)
        .doc(
            "set",
            "1.0.0",
            "Subtract multiple sets and store the resulting set in a key",
            "O(N) where N is the total number of elements in all given sets.",
        ),
    CommandSpec::new("sscan", -3, READONLY, (1, 1, 1), sscan)
        .acl(acl::SET)
        .doc(
            "set",
            "2.8.0",
            "Incrementally iterate Set elements",
            "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection..",
        ),
];

/// SINTERCARD numkeys key [key ...] [LIMIT limit]: keys follow `argv[1]`.
fn sintercard_keys(argv: &[&[u8]]) -> Vec<usize> {
    numkeys_at(argv, 1)
}

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// The set at `key` for reading (lazy expiry, hit/miss stats).
fn read_set<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a SetValue>, WrongType> {
    match db.get(key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Set(s) => Ok(Some(s)),
            _ => Err(WrongType),
        },
    }
}

/// The set at `key` without expiry or stats, for the second pass of
/// multi-key commands (the first pass already expired and type-checked).
fn peek_set<'a>(db: &'a Db, key: &[u8]) -> Option<&'a SetValue> {
    match db.peek(key).map(|e| &e.value) {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    }
}

/// First pass of multi-key commands: lazily expire and type-check every key
/// (Redis `lookupKeyRead` + `checkType` in a loop). Returns each key's
/// cardinality, `None` for a missing key.
fn lookup_sets(ctx: &mut Ctx<'_, '_>, keys: &[&[u8]]) -> Result<Vec<Option<usize>>, CmdError> {
    let mut sizes = Vec::with_capacity(keys.len());
    for k in keys {
        sizes.push(read_set(ctx.db(k), k)?.map(|s| s.len()));
    }
    Ok(sizes)
}

/// Store `result` at `dst` (replacing it, TTL cleared) or delete `dst` when
/// the result is empty; reply with the cardinality.
///
/// Redis replies, then notifies; except SINTERSTORE with a missing source
/// key (`reply_last`), which deletes `dst` and notifies before replying.
fn store_result(
    ctx: &mut Ctx<'_, '_>,
    dst: &[u8],
    result: SetValue,
    event: &str,
    reply_last: bool,
) {
    let n = result.len();
    let db = ctx.db(dst);
    let event = if n > 0 {
        db.set(dst, Value::Set(result));
        Some((nt::SET, event))
    } else {
        db.remove(dst).map(|_| (nt::GENERIC, "del"))
    };
    if reply_last {
        if let Some((class, event)) = event {
            nt::notify(ctx, class, event, dst);
        }
        ctx.out.int(n as i64);
        return;
    }
    ctx.out.int(n as i64);
    if let Some((class, event)) = event {
        nt::notify_replied(ctx, class, event, dst);
    }
}

/// Reply with every member of `s` as a set (`~` in RESP3).
fn reply_members(out: &mut ReplyWriter, s: &SetValue) {
    out.set(s.len());
    for m in s.iter() {
        out.bulk(&m);
    }
}

// ---------------------------------------------------------------------------
// Single-key commands
// ---------------------------------------------------------------------------

fn sadd(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let t: &Tunables = &server.keyspace.tunables;
    let key = argv[1];
    let members = argv.get(2..).unwrap_or_default();
    let db = ctx.db(key);
    let added = match db.get_mut(key) {
        Some(e) => match &mut e.value {
            Value::Set(s) => {
                let n = members.iter().filter(|m| s.add(m, t)).count();
                if n > 0 {
                    db.dirty += 1;
                }
                n
            }
            _ => return Err(WrongType.into()),
        },
        None => {
            let s = SetValue::from_members(members.iter().copied(), t);
            let n = s.len();
            db.set(key, Value::Set(s));
            n
        }
    };
    ctx.out.int(added as i64);
    if added > 0 {
        nt::notify(ctx, nt::SET, "sadd", key);
    }
    Ok(())
}

fn srem(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let db = ctx.db(key);
    let (removed, empty) = match db.get_mut(key) {
        None => (0, false),
        Some(e) => match &mut e.value {
            Value::Set(s) => {
                let mut n = 0;
                for m in argv.get(2..).unwrap_or_default() {
                    if s.remove(m) {
                        n += 1;
                        if s.is_empty() {
                            break;
                        }
                    }
                }
                (n, s.is_empty())
            }
            _ => return Err(WrongType.into()),
        },
    };
    if removed > 0 {
        db.dirty += 1;
    }
    if empty {
        db.remove(key);
    }
    ctx.out.int(removed);
    if removed > 0 {
        nt::notify(ctx, nt::SET, "srem", key);
        if empty {
            nt::notify(ctx, nt::GENERIC, "del", key);
        }
    }
    Ok(())
}

fn smembers(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    match read_set(db, argv[1])? {
        Some(s) => reply_members(out, s),
        None => out.set(0),
    }
    Ok(())
}

fn sismember(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    let found = read_set(db, argv[1])?.is_some_and(|s| s.contains(argv[2]));
    out.int(i64::from(found));
    Ok(())
}

fn smismember(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    let s = read_set(db, argv[1])?;
    let members = argv.get(2..).unwrap_or_default();
    out.array(members.len());
    for m in members {
        out.int(i64::from(s.is_some_and(|s| s.contains(m))));
    }
    Ok(())
}

fn scard(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    let n = read_set(db, argv[1])?.map_or(0, |s| s.len());
    out.int(n as i64);
    Ok(())
}

/// Redis's `SPOP_MOVE_STRATEGY_MUL`: when fewer than `count / 5` members
/// would remain, SPOP builds a new set from the survivors instead of popping
/// one by one (which can change the encoding back to intset).
const SPOP_MOVE_STRATEGY_MUL: u64 = 5;

fn spop(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        2 => spop_one(ctx, argv[1]),
        3 => spop_count(ctx, argv[1], argv[2]),
        _ => err(SYNTAX),
    }
}

fn spop_one(ctx: &mut Ctx<'_, '_>, key: &[u8]) -> CmdResult {
    let db = ctx.db(key);
    let (popped, empty) = match db.get_mut(key) {
        None => (None, false),
        Some(e) => match &mut e.value {
            Value::Set(s) => {
                let m = s.pop_random(&mut rand::thread_rng());
                (m, s.is_empty())
            }
            _ => return Err(WrongType.into()),
        },
    };
    if popped.is_some() {
        db.dirty += 1;
    }
    if empty {
        db.remove(key);
    }
    let done = popped.is_some();
    match popped {
        Some(m) => ctx.out.bulk(&m),
        None => ctx.out.null(),
    }
    // Redis: `spop` before the reply, `del` after it.
    if done {
        nt::notify(ctx, nt::SET, "spop", key);
        if empty {
            nt::notify_replied(ctx, nt::GENERIC, "del", key);
        }
    }
    Ok(())
}

fn spop_count(ctx: &mut Ctx<'_, '_>, key: &[u8], count_arg: &[u8]) -> CmdResult {
    // Redis's `getPositiveLongFromObjectOrReply`: a non-integer gets the
    // same "must be positive" error as a negative number.
    let count = match int(count_arg) {
        Ok(n) if n >= 0 => n.unsigned_abs(),
        _ => return err("ERR value is out of range, must be positive"),
    };
    let server = ctx.server;
    let t: &Tunables = &server.keyspace.tunables;
    let (db, out) = ctx.db_out(key);
    let Some(e) = db.get_mut(key) else {
        out.set(0);
        return Ok(());
    };
    let Value::Set(s) = &mut e.value else {
        return Err(WrongType.into());
    };
    if count == 0 {
        out.set(0);
        return Ok(());
    }
    let size = s.len() as u64;
    // CASE 1: everything is popped: reply with the whole set, delete the key.
    if count >= size {
        reply_members(out, s);
        db.remove(key);
        nt::notify(ctx, nt::SET, "spop", key);
        nt::notify_replied(ctx, nt::GENERIC, "del", key);
        return Ok(());
    }
    let mut rng = rand::thread_rng();
    let remaining = size - count;
    out.set(count as usize);
    if remaining * SPOP_MOVE_STRATEGY_MUL > count {
        // CASE 2: pop `count` random members one by one.
        for _ in 0..count {
            if let Some(m) = s.pop_random(&mut rng) {
                out.bulk(&m);
            }
        }
    } else {
        // CASE 3: move the `remaining` survivors to a new set, reply with
        // what is left in the old one, and keep the new set (TTL kept).
        let mut survivors = SetValue::new();
        for _ in 0..remaining {
            if let Some(m) = s.pop_random(&mut rng) {
                survivors.add(&m, t);
            }
        }
        for m in s.iter() {
            out.bulk(&m);
        }
        *s = survivors;
    }
    db.dirty += 1;
    nt::notify(ctx, nt::SET, "spop", key);
    Ok(())
}

fn srandmember(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        2 => {
            let (db, out) = ctx.db_out(argv[1]);
            match read_set(db, argv[1])?.and_then(|s| s.random(&mut rand::thread_rng())) {
                Some(m) => out.bulk(&m),
                None => out.null(),
            }
            Ok(())
        }
        3 => srandmember_count(ctx, argv[1], argv[2]),
        _ => err(SYNTAX),
    }
}

fn srandmember_count(ctx: &mut Ctx<'_, '_>, key: &[u8], count_arg: &[u8]) -> CmdResult {
    let l = parse_rand_count(count_arg)?;
    let count = l.unsigned_abs();
    let uniq = l >= 0;
    let (db, out) = ctx.db_out(key);
    let s = match read_set(db, key)? {
        Some(s) if count > 0 && !s.is_empty() => s,
        _ => {
            out.array(0);
            return Ok(());
        }
    };
    let size = s.len();
    let mut rng = rand::thread_rng();
    // CASE 1: repetitions allowed (negative count), or a single member.
    if !uniq || count == 1 {
        let Ok(n) = usize::try_from(count) else {
            return err("ERR value is out of range");
        };
        out.array(n);
        for _ in 0..n {
            if let Some(m) = s.random(&mut rng) {
                out.bulk(&m);
            }
        }
        return Ok(());
    }
    // CASE 2: the whole set, in encoding order.
    if count >= size as u64 {
        out.array(size);
        for m in s.iter() {
            out.bulk(&m);
        }
        return Ok(());
    }
    // CASE 3/4: `count` distinct random members.
    let n = count as usize;
    out.array(n);
    for i in distinct_indices(&mut rng, size, n) {
        if let Some(m) = s.get_index(i) {
            out.bulk(&m);
        }
    }
    Ok(())
}

fn smove(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let t: &Tunables = &server.keyspace.tunables;
    let (src, dst, member) = (argv[1], argv[2], argv[3]);
    // Both lookups first (lazy expiry), as Redis's `lookupKeyWrite` pair.
    let src_kind = ctx
        .db(src)
        .get_mut(src)
        .map(|e| matches!(e.value, Value::Set(_)));
    let dst_kind = ctx
        .db(dst)
        .get_mut(dst)
        .map(|e| matches!(e.value, Value::Set(_)));
    match src_kind {
        None => {
            ctx.out.int(0);
            return Ok(());
        }
        Some(false) => return Err(WrongType.into()),
        Some(true) => {}
    }
    if dst_kind == Some(false) {
        return Err(WrongType.into());
    }
    if src == dst {
        let found = ctx.db(src).peek(src).is_some_and(|e| match &e.value {
            Value::Set(s) => s.contains(member),
            _ => false,
        });
        ctx.out.int(i64::from(found));
        return Ok(());
    }
    let db = ctx.db(src);
    let (removed, empty) = match db.get_mut(src).map(|e| &mut e.value) {
        Some(Value::Set(s)) => (s.remove(member), s.is_empty()),
        _ => (false, false),
    };
    if !removed {
        ctx.out.int(0);
        return Ok(());
    }
    db.dirty += 1;
    if empty {
        db.remove(src);
    }
    nt::notify(ctx, nt::SET, "srem", src);
    if empty {
        nt::notify(ctx, nt::GENERIC, "del", src);
    }
    let db = ctx.db(dst);
    let added = match db.get_mut(dst).map(|e| &mut e.value) {
        Some(Value::Set(s)) => {
            let added = s.add(member, t);
            db.dirty += 1;
            added
        }
        _ => {
            db.set(dst, Value::Set(SetValue::from_members([member], t)));
            true
        }
    };
    ctx.out.int(1);
    if added {
        nt::notify(ctx, nt::SET, "sadd", dst);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Intersection
// ---------------------------------------------------------------------------

/// Members of the intersection of `keys`, in the iteration order of the
/// smallest set (Redis `sinterGenericCommand`), stopping after `limit`
/// members when non-zero. Errors with WRONGTYPE before anything else.
fn intersect(ctx: &mut Ctx<'_, '_>, keys: &[&[u8]], limit: usize) -> Result<Vec<Blob>, CmdError> {
    let sizes = lookup_sets(ctx, keys)?;
    let mut order: Vec<(usize, usize)> = Vec::with_capacity(keys.len());
    for (i, sz) in sizes.iter().enumerate() {
        match sz {
            Some(n) if *n > 0 => order.push((*n, i)),
            _ => return Ok(Vec::new()),
        }
    }
    order.sort_by_key(|&(n, _)| n);
    let Some((&(_, first), rest)) = order.split_first() else {
        return Ok(Vec::new());
    };
    let Some(&first_key) = keys.get(first) else {
        return Ok(Vec::new());
    };
    let mut candidates: Vec<Blob> = match peek_set(ctx.db(first_key), first_key) {
        Some(s) => s.iter().map(|m| m.to_blob()).collect(),
        None => return Ok(Vec::new()),
    };
    if rest.is_empty() {
        if limit > 0 {
            candidates.truncate(limit);
        }
        return Ok(candidates);
    }
    // Filter through every other set but the last, then stream the last one
    // so a LIMIT can stop early.
    let (last, middle) = match rest.split_last() {
        Some(x) => x,
        None => return Ok(candidates),
    };
    for &(_, i) in middle {
        let Some(&k) = keys.get(i) else { continue };
        match peek_set(ctx.db(k), k) {
            Some(s) => candidates.retain(|m| s.contains(m)),
            None => return Ok(Vec::new()),
        }
    }
    let Some(&k) = keys.get(last.1) else {
        return Ok(Vec::new());
    };
    let Some(s) = peek_set(ctx.db(k), k) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for m in candidates {
        if s.contains(&m) {
            out.push(m);
            if limit > 0 && out.len() >= limit {
                break;
            }
        }
    }
    Ok(out)
}

fn sinter(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let members = intersect(ctx, argv.get(1..).unwrap_or_default(), 0)?;
    ctx.out.set(members.len());
    for m in &members {
        ctx.out.bulk(m);
    }
    Ok(())
}

fn sinterstore(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let t: &Tunables = &server.keyspace.tunables;
    let keys = argv.get(2..).unwrap_or_default();
    let members = intersect(ctx, keys, 0)?;
    let result = SetValue::from_members(members.iter().map(|m| m.as_slice()), t);
    // (The keys were looked up and type-checked above: `peek` only asks.)
    let missing = keys.iter().any(|k| peek_set(ctx.db(k), k).is_none());
    store_result(ctx, argv[1], result, "sinterstore", missing);
    Ok(())
}

fn sintercard(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    const NUMKEYS: &str = "ERR numkeys should be greater than 0";
    let numkeys = match int(argv[1]) {
        Ok(n) if n >= 1 => n as u64,
        _ => return err(NUMKEYS),
    };
    let nargs = (argv.len() - 2) as u64;
    if numkeys > nargs {
        return err("ERR Number of keys can't be greater than number of args");
    }
    let numkeys = numkeys as usize;
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while let Some(&opt) = argv.get(j) {
        match argv.get(j + 1) {
            Some(&v) if eq(opt, "limit") => {
                limit = match int(v) {
                    Ok(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
                    _ => return err("ERR LIMIT can't be negative"),
                };
                j += 2;
            }
            _ => return err(SYNTAX),
        }
    }
    let keys = argv.get(2..2 + numkeys).unwrap_or_default();
    let members = intersect(ctx, keys, limit)?;
    ctx.out.int(members.len() as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// Union and difference
// ---------------------------------------------------------------------------

/// The union of `keys` as a new set (Redis adds members one by one to a
/// fresh intset, so the encoding is the one Redis would pick).
fn union(ctx: &mut Ctx<'_, '_>, keys: &[&[u8]], t: &Tunables) -> Result<SetValue, CmdError> {
    let sizes = lookup_sets(ctx, keys)?;
    let mut result = SetValue::new();
    for (k, sz) in keys.iter().zip(&sizes) {
        if sz.is_none() {
            continue;
        }
        if let Some(s) = peek_set(ctx.db(k), k) {
            for m in s.iter() {
                result.add(&m, t);
            }
        }
    }
    Ok(result)
}

/// The difference `keys[0] - keys[1..]` (Redis `sunionDiffGenericCommand`,
/// including its choice between two algorithms, which decides the encoding
/// of the result: adding everything then removing can leave a hashtable
/// where filtering first would give an intset).
fn difference(ctx: &mut Ctx<'_, '_>, keys: &[&[u8]], t: &Tunables) -> Result<SetValue, CmdError> {
    let sizes = lookup_sets(ctx, keys)?;
    let (Some(&first), Some(Some(first_size))) = (keys.first(), sizes.first()) else {
        return Ok(SetValue::new());
    };
    let first_size = *first_size;
    // A later key naming the first set: the result is empty.
    if keys
        .iter()
        .skip(1)
        .zip(sizes.iter().skip(1))
        .any(|(k, sz)| sz.is_some() && *k == first)
    {
        return Ok(SetValue::new());
    }
    // The others that exist, with their sizes.
    let mut others: Vec<(usize, &[u8])> = keys
        .iter()
        .zip(&sizes)
        .skip(1)
        .filter_map(|(k, sz)| sz.map(|n| (n, *k)))
        .collect();
    let algo_one_work = (first_size * (others.len() + 1)) / 2;
    let algo_two_work = first_size + others.iter().map(|(n, _)| n).sum::<usize>();
    let mut result = SetValue::new();
    if algo_one_work <= algo_two_work {
        // Algorithm 1: each member of the first set not in any other
        // (others by decreasing size, to find duplicates sooner).
        others.sort_by_key(|&(n, _)| std::cmp::Reverse(n));
        let mut candidates: Vec<Blob> = match peek_set(ctx.db(first), first) {
            Some(s) => s.iter().map(|m| m.to_blob()).collect(),
            None => return Ok(result),
        };
        for (_, k) in &others {
            if let Some(s) = peek_set(ctx.db(k), k) {
                candidates.retain(|m| !s.contains(m));
            }
        }
        for m in &candidates {
            result.add(m, t);
        }
    } else {
        // Algorithm 2: add the first set, remove every member of the others.
        if let Some(s) = peek_set(ctx.db(first), first) {
            for m in s.iter() {
                result.add(&m, t);
            }
        }
        for (_, k) in &others {
            if result.is_empty() {
                break;
            }
            if let Some(s) = peek_set(ctx.db(k), k) {
                for m in s.iter() {
                    result.remove(&m);
                }
            }
        }
    }
    Ok(result)
}

fn sunion(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let result = union(
        ctx,
        argv.get(1..).unwrap_or_default(),
        &server.keyspace.tunables,
    )?;
    reply_members(ctx.out, &result);
    Ok(())
}

fn sunionstore(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let result = union(
        ctx,
        argv.get(2..).unwrap_or_default(),
        &server.keyspace.tunables,
    )?;
    store_result(ctx, argv[1], result, "sunionstore", false);
    Ok(())
}

fn sdiff(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let result = difference(
        ctx,
        argv.get(1..).unwrap_or_default(),
        &server.keyspace.tunables,
    )?;
    reply_members(ctx.out, &result);
    Ok(())
}

fn sdiffstore(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let server = ctx.server;
    let result = difference(
        ctx,
        argv.get(2..).unwrap_or_default(),
        &server.keyspace.tunables,
    )?;
    store_result(ctx, argv[1], result, "sdiffstore", false);
    Ok(())
}

fn sscan(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let cursor = parse_cursor(argv[2])?;
    let (db, out) = ctx.db_out(argv[1]);
    let Some(s) = read_set(db, argv[1])? else {
        scan_reply(out, 0, &[]);
        return Ok(());
    };
    let opts = parse_scan_opts(argv)?;
    let mut items: Vec<ferrocache_engine::types::set::Member<'_>> = Vec::new();
    let next = s.scan(cursor, opts.count, |m| {
        if opts.matches(&m) {
            items.push(m);
        }
    });
    let refs: Vec<&[u8]> = items.iter().map(|m| &**m).collect();
    scan_reply(out, next, &refs);
    Ok(())
}
