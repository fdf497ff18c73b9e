//! Generic key commands: deletion, existence, expiry, iteration (KEYS, SCAN,
//! RANDOMKEY), renaming and copying, databases (MOVE, SWAPDB, DBSIZE,
//! FLUSHDB, FLUSHALL), OBJECT and SORT.
//!
//! Commands that look at the whole database carry the `GLOBAL` flag, so the
//! dispatcher holds every shard and they see one consistent keyspace.

use crate::args::{eq, int};
use crate::ctx::Ctx;
use crate::error::{err, err_arg, CmdError, CmdResult, NOT_INTEGER, NO_SUCH_KEY, SYNTAX};
use crate::notify as nt;
use crate::spec::{acl, flags::*, CommandSpec};
use ferrocache_engine::glob::glob_match;
use ferrocache_engine::keyspace::EvictionPolicy;
use ferrocache_engine::{Blob, Db, Value};
use ferrocache_protocol::ReplyWriter;
use rand::Rng;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("del", -2, WRITE, (1, -1, 1), del)
        .acl(acl::KEYSPACE)
        .doc("generic", "1.0.0", "Delete a key", "O(N) where N is the number of keys that will be removed. When a key to remove holds a value other than a string, the individual complexity for this key is O(M) where M is the number of elements in the list, set, sorted set or hash. Removing a single key that holds a string value is O(1)."),
    CommandSpec::new("unlink", -2, WRITE | FAST, (1, -1, 1), del)
        .acl(acl::KEYSPACE)
        .doc("generic", "4.0.0", "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", "O(1) for each key removed regardless of its size. Then the command does O(N) work in a different thread in order to reclaim memory, where N is the number of allocations the deleted objects where composed of."),
    CommandSpec::new("exists", -2, READONLY | FAST, (1, -1, 1), exists)
        .acl(acl::KEYSPACE)
        .doc("generic", "1.0.0", "Determine if a key exists", "O(N) where N is the number of keys to check."),
    CommandSpec::new("touch", -2, READONLY | FAST, (1, -1, 1), touch)
        .acl(acl::KEYSPACE)
        .doc("generic", "3.2.1", "Alters the last access time of a key(s). Returns the number of existing keys specified.", "O(N) where N is the number of keys that will be touched."),
    CommandSpec::new("type", 2, READONLY | FAST, (1, 1, 1), type_cmd)
        .acl(acl::KEYSPACE)
        .doc("generic", "1.0.0", "Determine the type stored at key", "O(1)"),
    CommandSpec::new("expire", -3, WRITE | FAST, (1, 1, 1), expire)
        .acl(acl::KEYSPACE)
        .doc("generic", "1.0.0", "Set a key's time to live in seconds", "O(1)"),
    CommandSpec::new("pexpire", -3, WRITE | FAST, (1, 1, 1), pexpire)
        .acl(acl::KEYSPACE)
        .doc("generic", "2.6.0", "Set a key's time to live in milliseconds", "O(1)"),
    CommandSpec::new("expireat", -3, WRITE | FAST, (1, 1, 1), expireat)
        .acl(acl::KEYSPACE)
        .doc("generic", "1.2.0", "Set the expiration for a key as a UNIX timestamp", "O(1)"),
    CommandSpec::new("pexpireat", -3, WRITE | FAST, (1, 1, 1), pexpireat)
        .acl(acl::KEYSPACE)
        .doc("generic", "2.6.0", "Set the expiration for a key as a UNIX timestamp specified in milliseconds", "O(1)"),
    CommandSpec::new("ttl", 2, READONLY | FAST, (1, 1, 1), ttl)
        .acl(acl::KEYSPACE)
        .doc("generic", "1.0.0", "Get the time to live for a key in seconds", "O(1)"),
    CommandSpec::new("pttl", 2, READONLY | FAST, (1, 1, 1), pttl)
        .acl(acl::KEYSPACE)
        .doc("generic", "2.6.0", "Get the time to live for a key in milliseconds", "O(1)"),
    CommandSpec::new("expiretime", 2, READONLY | FAST, (1, 1, 1), expiretime)
        .acl(acl::KEYSPACE)
        .doc("generic", "7.0.0", "Get the expiration Unix timestamp for a key", "O(1)"),
    CommandSpec::new("pexpiretime", 2, READONLY | FAST, (1, 1, 1), pexpiretime)
        .acl(acl::KEYSPACE)
        .doc("generic", "7.0.0", "Get the expiration Unix timestamp for a key in milliseconds", "O(1)"),
    CommandSpec::new("persist", 2, WRITE | FAST, (1, 1, 1), persist)
        .acl(acl::KEYSPACE)
        .doc("generic", "2.2.0", "Remove the expiration from a key", "O(1)"),
    CommandSpec::new("keys", 2, READONLY | GLOBAL, (0, 0, 0), keys)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .doc("generic", "1.0.0", "Find all keys matching the given pattern", "O(N) with N being the number of keys in the database, under the assumption that the key names in the database and the given pattern have limited length."),
    CommandSpec::new("scan", -2, READONLY | GLOBAL, (0, 0, 0), scan)
        .acl(acl::KEYSPACE)
        .doc("generic", "2.8.0", "Incrementally iterate the keys space", "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection."),
    CommandSpec::new("randomkey", 1, READONLY | GLOBAL, (0, 0, 0), randomkey)
        .acl(acl::KEYSPACE)
        .doc("generic", "1.0.0", "Return a random key from the keyspace", "O(1)"),
    CommandSpec::new("rename", 3, WRITE, (1, 2, 1), rename)
        .acl(acl::KEYSPACE)
        .doc("generic", "1.0.0", "Rename a key", "O(1)"),
    CommandSpec::new("renamenx", 3, WRITE | FAST, (1, 2, 1), renamenx)
        .acl(acl::KEYSPACE)
        .doc("generic", "1.0.0", "Rename a key, only if the new key does not exist", "O(1)"),
    CommandSpec::new("copy", -3, WRITE | DENYOOM, (1, 2, 1), copy)
        .acl(acl::KEYSPACE)
        .doc("generic", "6.2.0", "Copy a key", "O(N) worst case for collections, where N is the number of nested items. O(1) for string values."),
    CommandSpec::new("move", 3, WRITE | FAST, (1, 1, 1), move_cmd)
        .acl(acl::KEYSPACE)
        .doc("generic", "1.0.0", "Move a key to another database", "O(1)"),
    CommandSpec::new("swapdb", 3, WRITE | FAST | GLOBAL, (0, 0, 0), swapdb)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .doc("server", "4.0.0", "Swaps two Redis databases", "O(N) where N is the count of clients watching or blocking on keys from both databases."),
    CommandSpec::new("dbsize", 1, READONLY | FAST | GLOBAL, (0, 0, 0), dbsize)
        .acl(acl::KEYSPACE)
        .doc("server", "1.0.0", "Return the number of keys in the selected database", "O(1)"),
    CommandSpec::new("flushdb", -1, WRITE | GLOBAL, (0, 0, 0), flushdb)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .doc("server", "1.0.0", "Remove all keys from the current database", "O(N) where N is the number of keys in the selected database"),
    CommandSpec::new("flushall", -1, WRITE | GLOBAL, (0, 0, 0), flushall)
        .acl(acl::KEYSPACE | acl::DANGEROUS)
        .doc("server", "1.0.0", "Remove all keys from all databases", "O(N) where N is the total number of keys in all databases"),
    CommandSpec::new("sort", -2, WRITE | DENYOOM | GLOBAL, (1, 1, 1), sort)
        .keys_fn(sort_keys)
        .acl(acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS)
        .doc("generic", "1.0.0", "Sort the elements in a list, set or sorted set", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N)."),
    CommandSpec::new("sort_ro", -2, READONLY | GLOBAL, (1, 1, 1), sort_ro)
        .keys_fn(sort_ro_keys)
        .acl(acl::SET | acl::SORTEDSET | acl::LIST | acl::DANGEROUS)
        .doc("generic", "7.0.0", "Sort the elements in a list, set or sorted set. Read-only variant of SORT.", "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N)."),
    CommandSpec::container("object", -2, OBJECT_SUBS)
        .doc("generic", "2.2.3", "A container for object introspection commands", "Depends on subcommand."),
];

static OBJECT_SUBS: &[CommandSpec] = &[
    // In the order redis-server lists them (COMMAND INFO, COMMAND DOCS).
    CommandSpec::new("freq", 3, READONLY, (2, 2, 1), object_freq)
        .acl(acl::KEYSPACE)
        .doc(
            "generic",
            "4.0.0",
            "Get the logarithmic access frequency counter of a Redis object",
            "O(1)",
        ),
    CommandSpec::new("encoding", 3, READONLY, (2, 2, 1), object_encoding)
        .acl(acl::KEYSPACE)
        .doc(
            "generic",
            "2.2.3",
            "Inspect the internal encoding of a Redis object",
            "O(1)",
        ),
    CommandSpec::new("refcount", 3, READONLY, (2, 2, 1), object_refcount)
        .acl(acl::KEYSPACE)
        .doc(
            "generic",
            "2.2.3",
            "Get the number of references to the value of the key",
            "O(1)",
        ),
    CommandSpec::new("idletime", 3, READONLY, (2, 2, 1), object_idletime)
        .acl(acl::KEYSPACE)
        .doc(
            "generic",
            "2.2.3",
            "Get the time since a Redis object was last accessed",
            "O(1)",
        ),
    CommandSpec::new("help", 2, LOADING | STALE, (0, 0, 0), object_help)
        .acl(acl::KEYSPACE)
        .doc(
            "generic",
            "6.2.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
];

fn del(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let mut n = 0;
    for k in &argv[1..] {
        let db = ctx.db(k);
        // An expired key counts as already gone, as Redis's `delGenericCommand`.
        db.expire_if_needed(k);
        if db.remove(k).is_some() {
            n += 1;
            nt::notify(ctx, nt::GENERIC, "del", k);
        }
    }
    ctx.out.int(n);
    Ok(())
}

fn exists(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let mut n = 0;
    for k in &argv[1..] {
        if lookup_read_notouch(ctx.db(k), k).is_some() {
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

fn touch(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let mut n = 0;
    for k in &argv[1..] {
        if ctx.db(k).get(k).is_some() {
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

/// Look a key up without touching its access time, expiring it lazily
/// first and counting the hit or miss (Redis's `lookupKeyReadWithFlags`
/// with `LOOKUP_NOTOUCH|LOOKUP_NONOTIFY`, as OBJECT does).
fn lookup_notouch<'d>(db: &'d mut Db, key: &[u8]) -> Option<&'d ferrocache_engine::Entry> {
    db.expire_if_needed(key);
    if db.peek(key).is_some() {
        db.stats.keyspace_hits += 1;
    } else {
        db.stats.keyspace_misses += 1;
    }
    db.peek(key)
}

/// Redis's `lookupKeyReadWithFlags(LOOKUP_NOTOUCH)` (EXISTS, TYPE, TTL...):
/// as [`lookup_notouch`], and a miss fires `keymiss`.
fn lookup_read_notouch<'d>(db: &'d mut Db, key: &[u8]) -> Option<&'d ferrocache_engine::Entry> {
    db.expire_if_needed(key);
    if db.peek(key).is_none() {
        // A read lookup of a missing key: counts the miss, records `keymiss`.
        let _ = db.get(key);
        return None;
    }
    db.stats.keyspace_hits += 1;
    db.peek(key)
}

fn type_cmd(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    match lookup_read_notouch(db, argv[1]) {
        None => out.simple("none"),
        Some(e) => out.simple(e.value.type_name()),
    }
    Ok(())
}

// ---- expiry ----------------------------------------------------------------

const EXPIRE_NX: u32 = 1;
const EXPIRE_XX: u32 = 2;
const EXPIRE_GT: u32 = 4;
const EXPIRE_LT: u32 = 8;

/// Redis's `parseExtendedExpireArgumentsOrReply`.
fn parse_expire_flags(argv: &[&[u8]]) -> Result<u32, CmdError> {
    let mut flags = 0;
    for &opt in argv.iter().skip(3) {
        flags |= if eq(opt, "nx") {
            EXPIRE_NX
        } else if eq(opt, "xx") {
            EXPIRE_XX
        } else if eq(opt, "gt") {
            EXPIRE_GT
        } else if eq(opt, "lt") {
            EXPIRE_LT
        } else {
            return err_arg("ERR Unsupported option ", opt, usize::MAX, "");
        };
    }
    if flags & EXPIRE_NX != 0 && flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT) != 0 {
        return err("ERR NX and XX, GT or LT options at the same time are not compatible");
    }
    if flags & EXPIRE_GT != 0 && flags & EXPIRE_LT != 0 {
        return err("ERR GT and LT options at the same time are not compatible");
    }
    Ok(flags)
}

/// Redis's `expireGenericCommand`. `relative` commands add the current time;
/// `seconds` says the argument's unit.
fn expire_generic(
    ctx: &mut Ctx<'_, '_>,
    argv: &[&[u8]],
    relative: bool,
    seconds: bool,
    name: &str,
) -> CmdResult {
    let flags = parse_expire_flags(argv)?;
    let mut when = int(argv[2])?;
    let bad = || CmdError::msg(format!("ERR invalid expire time in '{name}' command"));
    if seconds {
        when = when.checked_mul(1000).ok_or_else(bad)?;
    }
    let now = i64::try_from(ctx.now()).unwrap_or(i64::MAX);
    if relative {
        when = when.checked_add(now).ok_or_else(bad)?;
    }
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    if !db.contains(key) {
        out.int(0);
        return Ok(());
    }
    if flags != 0 {
        let current = db
            .expire_at(key)
            .map(|t| i64::try_from(t).unwrap_or(i64::MAX));
        // No TTL counts as an infinite one: GT never beats it, LT always does.
        let refuse = (flags & EXPIRE_NX != 0 && current.is_some())
            || (flags & EXPIRE_XX != 0 && current.is_none())
            || (flags & EXPIRE_GT != 0 && current.is_none_or(|c| when <= c))
            || (flags & EXPIRE_LT != 0 && current.is_some_and(|c| when >= c));
        if refuse {
            out.int(0);
            return Ok(());
        }
    }
    // Redis: a deletion is notified before the reply, a new TTL after it.
    let event = if when <= now {
        db.remove(key);
        "del"
    } else {
        db.set_expire(key, when as u64);
        "expire"
    };
    out.int(1);
    if event == "expire" {
        nt::notify_replied(ctx, nt::GENERIC, event, key);
    } else {
        nt::notify(ctx, nt::GENERIC, event, key);
    }
    Ok(())
}

fn expire(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, true, true, "expire")
}

fn pexpire(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, true, false, "pexpire")
}

fn expireat(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, false, true, "expireat")
}

fn pexpireat(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    expire_generic(ctx, argv, false, false, "pexpireat")
}

/// Redis's `ttlGenericCommand`: -2 missing, -1 no TTL, else the remaining
/// (or absolute) time, rounded to the nearest second for second units.
fn ttl_generic(ctx: &mut Ctx<'_, '_>, key: &[u8], ms: bool, absolute: bool) -> CmdResult {
    let now = ctx.now();
    let (db, out) = ctx.db_out(key);
    if lookup_read_notouch(db, key).is_none() {
        out.int(-2);
        return Ok(());
    }
    match db.expire_at(key) {
        None => out.int(-1),
        Some(at) => {
            let t = if absolute { at } else { at.saturating_sub(now) };
            let t = i64::try_from(t).unwrap_or(i64::MAX);
            out.int(if ms { t } else { t.saturating_add(500) / 1000 });
        }
    }
    Ok(())
}

fn ttl(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], false, false)
}

fn pttl(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], true, false)
}

fn expiretime(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], false, true)
}

fn pexpiretime(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    ttl_generic(ctx, argv[1], true, true)
}

fn persist(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    let done = db.contains(argv[1]) && db.persist(argv[1]);
    out.int(i64::from(done));
    if done {
        nt::notify(ctx, nt::GENERIC, "persist", argv[1]);
    }
    Ok(())
}

// ---- iteration ---------------------------------------------------------------

fn keys(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let pat = argv[1];
    let all = pat == b"*";
    let dbi = ctx.client.db;
    let now = ctx.now();
    // References into the locked shards: no key is copied before the reply.
    let mut found: Vec<&[u8]> = Vec::new();
    for d in ctx.ks.each_db(dbi) {
        let d: &Db = d;
        for (k, _, at) in d.iter_with_expiry() {
            if at.is_some_and(|t| t <= now) {
                continue;
            }
            if all || glob_match(pat, k, false) {
                found.push(k);
            }
        }
    }
    ctx.out.array(found.len());
    for k in found {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// Redis's `parseScanCursorOrReply` (`strtoul` semantics: optional sign,
/// leading zeros, empty string is 0, no spaces, no overflow).
fn parse_cursor(arg: &[u8]) -> Result<u64, CmdError> {
    let bad = || CmdError::msg("ERR invalid cursor");
    let (neg, digits) = match arg.first() {
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() {
        // strtoul parsed nothing: the end pointer stays at the start.
        return if arg.is_empty() { Ok(0) } else { Err(bad()) };
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return Err(bad());
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(c - b'0')))
            .ok_or_else(bad)?;
    }
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// SCAN. The cursor encodes `position * shards + shard`: iteration walks
/// shard 0's database from its top slot down, then shard 1's, and so on.
/// Within a shard, `Db::scan` guarantees every key present for the whole
/// scan is returned; shards are visited in a fixed order, so the guarantee
/// holds for the keyspace. One call visits about COUNT slots in total,
/// moving on to the next shard when one is finished.
fn scan(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let cursor = parse_cursor(argv[1])?;
    let mut count: i64 = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut typename: Option<&[u8]> = None;
    let mut i = 2;
    while i < argv.len() {
        let left = argv.len() - i;
        if eq(argv[i], "count") && left >= 2 {
            count = int(argv[i + 1])?;
            if count < 1 {
                return err(SYNTAX);
            }
        } else if eq(argv[i], "match") && left >= 2 {
            pattern = Some(argv[i + 1]).filter(|p| *p != b"*");
        } else if eq(argv[i], "type") && left >= 2 {
            typename = Some(argv[i + 1]);
        } else {
            return err(SYNTAX);
        }
        i += 2;
    }
    let nshards = ctx.server.keyspace.shard_count().max(1) as u64;
    let mut shard = (cursor % nshards) as usize;
    let mut pos = usize::try_from(cursor / nshards).unwrap_or(usize::MAX);
    let dbi = ctx.client.db;
    let mut budget = usize::try_from(count).unwrap_or(usize::MAX);
    let mut found: Vec<Blob> = Vec::new();
    let next_cursor: u64 = loop {
        let db = ctx.ks.shard_db(shard, dbi);
        let len = db.len();
        let start = if pos == 0 || pos > len { len } else { pos };
        let next = db.scan(pos, budget, |k, e| {
            if let Some(p) = pattern {
                if !glob_match(p, k, false) {
                    return;
                }
            }
            if let Some(t) = typename {
                if !t.eq_ignore_ascii_case(e.value.type_name().as_bytes()) {
                    return;
                }
            }
            found.push(k.clone());
        });
        budget = budget.saturating_sub(start.saturating_sub(next).max(1));
        if next != 0 {
            break next as u64 * nshards + shard as u64;
        }
        shard += 1;
        pos = 0;
        if shard as u64 >= nshards {
            break 0;
        }
        if budget == 0 {
            // "Start of shard `shard`" is encoded as position 0.
            break shard as u64;
        }
    };
    let out = &mut *ctx.out;
    out.array(2);
    let mut b = itoa::Buffer::new();
    out.bulk(b.format(next_cursor).as_bytes());
    out.array(found.len());
    for k in &found {
        out.bulk(k);
    }
    Ok(())
}

fn randomkey(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let dbi = ctx.client.db;
    let mut rng = rand::thread_rng();
    // Pick a shard with probability proportional to its key count, then a
    // key within it: uniform over the whole database.
    for _ in 0..100 {
        let lens: Vec<(usize, usize)> = ctx
            .ks
            .shards()
            .map(|(i, s)| (i, s.dbs.get(dbi).map_or(0, Db::len)))
            .collect();
        let total: usize = lens.iter().map(|l| l.1).sum();
        if total == 0 {
            break;
        }
        let mut r = rng.gen_range(0..total);
        let mut pick = None;
        for (i, l) in lens {
            if r < l {
                pick = Some(i);
                break;
            }
            r -= l;
        }
        let Some(s) = pick else { break };
        if let Some(k) = ctx.ks.shard_db(s, dbi).random_key(&mut rng) {
            ctx.out.bulk(&k);
            return Ok(());
        }
    }
    ctx.out.null();
    Ok(())
}

// ---- rename, copy, move --------------------------------------------------------

fn rename_generic(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], nx: bool) -> CmdResult {
    let (src, dst) = (argv[1], argv[2]);
    if !ctx.db(src).contains(src) {
        return err(NO_SUCH_KEY);
    }
    if src == dst {
        if nx {
            ctx.out.int(0);
        } else {
            ctx.out.ok();
        }
        return Ok(());
    }
    if ctx.db(dst).contains(dst) {
        if nx {
            ctx.out.int(0);
            return Ok(());
        }
        ctx.db(dst).remove(dst);
    }
    let sdb = ctx.db(src);
    let at = sdb.expire_at(src);
    if let Some(entry) = sdb.remove(src) {
        ctx.db(dst).insert_entry(dst, entry, at);
    }
    if nx {
        ctx.out.int(1);
    } else {
        ctx.out.ok();
    }
    nt::notify(ctx, nt::GENERIC, "rename_from", src);
    nt::notify(ctx, nt::GENERIC, "rename_to", dst);
    Ok(())
}

fn rename(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, argv, false)
}

fn renamenx(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    rename_generic(ctx, argv, true)
}

/// A database index argument (Redis `getIntFromObjectOrReply` + `selectDb`).
fn db_index(ctx: &Ctx<'_, '_>, arg: &[u8], not_int: &'static str) -> Result<usize, CmdError> {
    let n = int(arg)
        .ok()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| CmdError::msg(not_int))?;
    match usize::try_from(n) {
        Ok(n) if n < ctx.server.keyspace.databases() => Ok(n),
        _ => err("ERR DB index is out of range"),
    }
}

const SAME_OBJECT: &str = "ERR source and destination objects are the same";

fn copy(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let src_db = ctx.client.db;
    let mut dst_db = src_db;
    let mut replace = false;
    let mut j = 3;
    while let Some(&opt) = argv.get(j) {
        let more = argv.len() - j - 1;
        if eq(opt, "replace") {
            replace = true;
        } else if eq(opt, "db") && more >= 1 {
            dst_db = db_index(ctx, argv[j + 1], NOT_INTEGER)?;
            j += 1;
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    let (key, newkey) = (argv[1], argv[2]);
    if src_db == dst_db && key == newkey {
        return err(SAME_OBJECT);
    }
    let sdb = ctx.ks.db(src_db, key);
    let Some(e) = sdb.get(key) else {
        ctx.out.int(0);
        return Ok(());
    };
    let value = e.value.clone();
    // `dupStringObject` keeps the string's encoding (raw stays raw).
    let how = e.str_encoding();
    let at = sdb.expire_at(key);
    let ddb = ctx.ks.db(dst_db, newkey);
    if ddb.contains(newkey) && !replace {
        ctx.out.int(0);
        return Ok(());
    }
    // Redis deletes the old value and adds the copy (a `new` key event).
    ddb.remove(newkey);
    ddb.set_encoded(newkey, value, how);
    if let Some(at) = at {
        ddb.set_expire(newkey, at);
    }
    ctx.out.int(1);
    nt::notify_db(ctx, dst_db, nt::GENERIC, "copy_to", newkey);
    Ok(())
}

fn move_cmd(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let src_db = ctx.client.db;
    let dst_db = db_index(ctx, argv[2], NOT_INTEGER)?;
    if src_db == dst_db {
        return err(SAME_OBJECT);
    }
    let key = argv[1];
    if !ctx.ks.db(src_db, key).contains(key) {
        ctx.out.int(0);
        return Ok(());
    }
    if ctx.ks.db(dst_db, key).contains(key) {
        ctx.out.int(0);
        return Ok(());
    }
    let sdb = ctx.ks.db(src_db, key);
    let at = sdb.expire_at(key);
    if let Some(entry) = sdb.remove(key) {
        ctx.ks.db(dst_db, key).insert_entry(key, entry, at);
    }
    ctx.out.int(1);
    nt::notify_db(ctx, src_db, nt::GENERIC, "move_from", key);
    nt::notify_db(ctx, dst_db, nt::GENERIC, "move_to", key);
    Ok(())
}

// ---- databases -------------------------------------------------------------------

fn swapdb(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let a = int(argv[1])
        .ok()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| CmdError::msg("ERR invalid first DB index"))?;
    let b = int(argv[2])
        .ok()
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| CmdError::msg("ERR invalid second DB index"))?;
    let n = ctx.server.keyspace.databases();
    let (Ok(a), Ok(b)) = (usize::try_from(a), usize::try_from(b)) else {
        return err("ERR DB index is out of range");
    };
    if a >= n || b >= n {
        return err("ERR DB index is out of range");
    }
    if a != b {
        for (_, shard) in ctx.ks.shards() {
            if a < shard.dbs.len() && b < shard.dbs.len() {
                shard.dbs.swap(a, b);
                // Both databases changed as far as WATCH is concerned.
                shard.dbs[a].dirty += 1;
                shard.dbs[b].dirty += 1;
            }
        }
    }
    ctx.out.ok();
    Ok(())
}

fn dbsize(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let dbi = ctx.client.db;
    let n: usize = ctx.ks.each_db(dbi).map(|d| d.len()).sum();
    ctx.out.int(n as i64);
    Ok(())
}

/// The optional `ASYNC|SYNC` argument of FLUSHDB/FLUSHALL. Both free the
/// data before replying.
fn flush_args(argv: &[&[u8]]) -> CmdResult {
    match argv.len() {
        1 => Ok(()),
        2 if eq(argv[1], "sync") || eq(argv[1], "async") => Ok(()),
        _ => err(SYNTAX),
    }
}

fn flushdb(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    flush_args(argv)?;
    let dbi = ctx.client.db;
    for d in ctx.ks.each_db(dbi) {
        d.clear();
    }
    ctx.out.ok();
    crate::tracking::invalidate_all(ctx.server, Some((ctx.client.id, &mut *ctx.out)));
    Ok(())
}

fn flushall(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    flush_args(argv)?;
    for (_, shard) in ctx.ks.shards() {
        for d in shard.dbs.iter_mut() {
            d.clear();
        }
    }
    ctx.out.ok();
    crate::tracking::invalidate_all(ctx.server, Some((ctx.client.id, &mut *ctx.out)));
    Ok(())
}

// ---- OBJECT ------------------------------------------------------------------------

fn object_encoding(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[2]);
    match lookup_notouch(db, argv[2]) {
        None => out.null(),
        Some(e) => out.bulk(e.encoding().as_bytes()),
    }
    Ok(())
}

fn object_freq(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let tunables = ctx.server.keyspace.tunables.clone();
    let (db, out) = ctx.db_out(argv[2]);
    let Some(e) = lookup_notouch(db, argv[2]) else {
        out.null();
        return Ok(());
    };
    if !tunables.policy().is_lfu() {
        return err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
    }
    out.int(i64::from(tunables.lfu_counter(e.access())));
    Ok(())
}

fn object_idletime(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let tunables = ctx.server.keyspace.tunables.clone();
    let (db, out) = ctx.db_out(argv[2]);
    let Some(e) = lookup_notouch(db, argv[2]) else {
        out.null();
        return Ok(());
    };
    if tunables.policy().is_lfu() {
        return err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
    }
    out.int(i64::try_from(tunables.idle_seconds(e.access())).unwrap_or(i64::MAX));
    Ok(())
}

/// Redis's `OBJ_SHARED_REFCOUNT`: what REFCOUNT reports for shared integers.
const SHARED_REFCOUNT: i64 = i32::MAX as i64;

fn object_refcount(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let tunables = ctx.server.keyspace.tunables.clone();
    let (db, out) = ctx.db_out(argv[2]);
    let Some(e) = lookup_notouch(db, argv[2]) else {
        out.null();
        return Ok(());
    };
    // Redis stores strings holding 0..9999 as shared integer objects unless
    // maxmemory is set with an LRU/LFU policy (they need per-key access data).
    let lru_lfu = matches!(
        tunables.policy(),
        EvictionPolicy::VolatileLru
            | EvictionPolicy::AllkeysLru
            | EvictionPolicy::VolatileLfu
            | EvictionPolicy::AllkeysLfu
    );
    let maxmemory = tunables
        .maxmemory
        .load(std::sync::atomic::Ordering::Relaxed);
    let shared = match &e.value {
        Value::Str(s) => {
            ferrocache_engine::types::string::parse_i64(s).is_some_and(|v| (0..10_000).contains(&v))
                && (maxmemory == 0 || !lru_lfu)
        }
        _ => false,
    };
    out.int(if shared { SHARED_REFCOUNT } else { 1 });
    Ok(())
}

/// Redis's `addReplyHelp`: a header naming the command, the lines, and the
/// HELP footer, all as status replies.
pub fn reply_help(out: &mut ReplyWriter, cmd: &[u8], lines: &[&str]) {
    out.array(lines.len() + 3);
    let name = String::from_utf8_lossy(cmd).to_ascii_uppercase();
    out.simple(&format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        out.simple(l);
    }
    out.simple("HELP");
    out.simple("    Prints this help.");
}

fn object_help(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    reply_help(
        ctx.out,
        argv[0],
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
    Ok(())
}

// ---- SORT ----------------------------------------------------------------------------

/// SORT's keys: the sorted key and the last STORE destination (Redis
/// `sortGetKeys`, including its way of skipping option arguments).
fn sort_keys(argv: &[&[u8]]) -> Vec<usize> {
    let mut keys = vec![1];
    let mut store = None;
    let mut i = 2;
    while i < argv.len() {
        let a = argv[i];
        if eq(a, "limit") {
            i += 2;
        } else if eq(a, "get") || eq(a, "by") {
            i += 1;
        } else if eq(a, "store") && i + 1 < argv.len() {
            store = Some(i + 1);
        }
        i += 1;
    }
    keys.extend(store);
    keys
}

/// SORT_RO reads only the sorted key (plus BY/GET keys no spec can name).
fn sort_ro_keys(_argv: &[&[u8]]) -> Vec<usize> {
    vec![1]
}

/// One element being sorted (Redis `redisSortObject`).
struct SortItem {
    obj: Blob,
    score: f64,
    /// The BY value in ALPHA mode (`None`: the BY key is missing).
    cmp: Option<Blob>,
}

/// What a BY/GET pattern resolves to for one element (Redis
/// `lookupKeyByPattern`): `#` is the element itself; otherwise the first
/// `*` is replaced by the element, and a `->field` suffix reads a hash
/// field. Only strings (or hash fields) resolve; anything else is `None`.
fn lookup_by_pattern(ctx: &mut Ctx<'_, '_>, pattern: &[u8], subst: &[u8]) -> Option<Blob> {
    if pattern == b"#" {
        return Some(Blob::new(subst));
    }
    let star = pattern.iter().position(|&c| c == b'*')?;
    let after = &pattern[star + 1..];
    let (post, field) = match after.windows(2).position(|w| w == b"->") {
        Some(f) if f + 2 < after.len() => (&after[..f], Some(&after[f + 2..])),
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(star + subst.len() + post.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(subst);
    key.extend_from_slice(post);
    let e = ctx.db(&key).get(&key)?;
    match (field, &e.value) {
        (None, Value::Str(s)) => Some(s.clone()),
        (Some(f), Value::Hash(h)) => h.get(f).map(Blob::new),
        _ => None,
    }
}

/// C `strtod` as SORT uses it: the rest of the C string must be consumed
/// (so "" and "\0…" are 0), and NaN or `errno == ERANGE` fail — glibc sets
/// ERANGE for overflow, underflow to 0, and subnormal results that are
/// inexact (IEEE underflow: tiny *and* inexact).
fn sort_strtod(s: &[u8]) -> Option<f64> {
    let c_len = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    let r = crate::args::strtod(s);
    let subnormal = r.value != 0.0 && r.value.abs() < f64::MIN_POSITIVE;
    if r.consumed != c_len
        || r.value.is_nan()
        || r.erange
        || (subnormal && !hex_subnormal_exact(&s[..c_len]))
    {
        return None;
    }
    Some(r.value)
}

/// Whether `s`, a fully consumed C99 hex float whose value is subnormal, is
/// exactly representable: every subnormal is a multiple of 2^-1074, so it
/// is exact iff its lowest set bit weighs at least 2^-1074. Decimal input is
/// taken as inexact (an exact decimal subnormal needs hundreds of digits).
fn hex_subnormal_exact(s: &[u8]) -> bool {
    let s = s.trim_ascii_start();
    let s = s
        .strip_prefix(b"-")
        .or_else(|| s.strip_prefix(b"+"))
        .unwrap_or(s);
    let Some(s) = s.strip_prefix(b"0x").or_else(|| s.strip_prefix(b"0X")) else {
        return false;
    };
    let p = s
        .iter()
        .position(|&c| c == b'p' || c == b'P')
        .unwrap_or(s.len());
    let (mant, exp) = s.split_at(p);
    // Binary exponent, clamped: anything this far out is not subnormal.
    let mut e: i64 = 0;
    if let Some(digits) = exp.get(1..) {
        let (neg, digits) = match digits.first() {
            Some(b'-') => (true, &digits[1..]),
            Some(b'+') => (false, &digits[1..]),
            _ => (false, digits),
        };
        for &c in digits {
            e = (e * 10 + i64::from(c.wrapping_sub(b'0') % 10)).min(1 << 20);
        }
        if neg {
            e = -e;
        }
    }
    let int_digits = mant.iter().position(|&c| c == b'.').unwrap_or(mant.len()) as i64;
    // Weight (power of 16) of each hex digit, from the left.
    let mut pos = int_digits;
    let mut lowest: Option<i64> = None;
    for &c in mant {
        if c == b'.' {
            continue;
        }
        pos -= 1;
        if let Some(d) = (c as char).to_digit(16).filter(|&d| d != 0) {
            lowest = Some(4 * pos + i64::from(d.trailing_zeros()) + e);
        }
    }
    lowest.is_some_and(|b| b >= -1074)
}

fn sort(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, argv, false)
}

fn sort_ro(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    sort_generic(ctx, argv, true)
}

/// Redis's `sortCommandGeneric`, step for step: parse, load the elements
/// (in native order, or directly the LIMIT range when nothing is sorted),
/// compute the sort keys, sort, then reply or STORE.
fn sort_generic(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], readonly: bool) -> CmdResult {
    let (mut desc, mut alpha, mut dontsort) = (false, false, false);
    let (mut limit_start, mut limit_count): (i64, i64) = (0, -1);
    let mut sortby: Option<&[u8]> = None;
    let mut store: Option<&[u8]> = None;
    let mut gets: Vec<&[u8]> = Vec::new();
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let a = argv[j];
        if eq(a, "asc") {
            desc = false;
        } else if eq(a, "desc") {
            desc = true;
        } else if eq(a, "alpha") {
            alpha = true;
        } else if eq(a, "limit") && left >= 2 {
            limit_start = int(argv[j + 1])?;
            limit_count = int(argv[j + 2])?;
            j += 2;
        } else if !readonly && eq(a, "store") && left >= 1 {
            store = Some(argv[j + 1]);
            j += 1;
        } else if eq(a, "by") && left >= 1 {
            sortby = Some(argv[j + 1]);
            // A pattern without `*` ("nosort") means: keep native order.
            dontsort = !argv[j + 1].contains(&b'*');
            j += 1;
        } else if eq(a, "get") && left >= 1 {
            gets.push(argv[j + 1]);
            j += 1;
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }

    let key = argv[1];
    // Copy the elements out: BY/GET look other keys up while we sort.
    enum Kind {
        List,
        Set,
        ZSet,
    }
    let db = ctx.db(key);
    let (kind, mut native): (Kind, Vec<Blob>) = match db.get(key) {
        None => (Kind::List, Vec::new()),
        Some(e) => match &e.value {
            Value::List(l) => (Kind::List, l.iter().map(Blob::new).collect()),
            Value::Set(s) => (Kind::Set, s.iter().map(|m| m.to_blob()).collect()),
            Value::ZSet(_) => (Kind::ZSet, Vec::new()),
            _ => return Err(ferrocache_engine::WrongType.into()),
        },
    };
    if matches!(kind, Kind::ZSet) {
        if let Some(Value::ZSet(z)) = db.get_mut(key).map(|e| &mut e.value) {
            // Redis converts the sorted set to a skiplist for good before
            // sorting (sort.c; visible in OBJECT ENCODING).
            z.convert_to_skiplist();
            native = z.iter().map(|(m, _)| Blob::new(m)).collect();
        }
    }
    // A set has no native order: with STORE the result must be
    // deterministic, so Redis sorts it alphabetically instead.
    if dontsort && matches!(kind, Kind::Set) && store.is_some() {
        dontsort = false;
        alpha = true;
        sortby = None;
    }

    let total = native.len() as i64;
    let mut start = limit_start.max(0);
    let mut end = if limit_count < 0 {
        total - 1
    } else {
        start.saturating_add(limit_count).saturating_sub(1)
    };
    if start >= total {
        start = total - 1;
        end = total - 2;
    }
    if end >= total {
        end = total - 1;
    }

    let mut items: Vec<SortItem> = if dontsort && !matches!(kind, Kind::Set) {
        // Native order (lists and sorted sets), LIMIT applied while loading.
        let mut v = Vec::new();
        if end >= start {
            let n = (end - start + 1) as usize;
            let s = start as usize;
            let it: Box<dyn Iterator<Item = Blob>> = if desc {
                Box::new(native.into_iter().rev().skip(s).take(n))
            } else {
                Box::new(native.into_iter().skip(s).take(n))
            };
            v.extend(it.map(|obj| SortItem {
                obj,
                score: 0.0,
                cmp: None,
            }));
            end -= start;
            start = 0;
        }
        v
    } else {
        native
            .into_iter()
            .map(|obj| SortItem {
                obj,
                score: 0.0,
                cmp: None,
            })
            .collect()
    };

    let mut conversion_error = false;
    if !dontsort {
        for it in items.iter_mut() {
            let byval = match sortby {
                Some(p) => match lookup_by_pattern(ctx, p, &it.obj) {
                    Some(v) => v,
                    None => continue,
                },
                None => it.obj.clone(),
            };
            if alpha {
                if sortby.is_some() {
                    it.cmp = Some(byval);
                }
            } else {
                match sort_strtod(&byval) {
                    Some(v) => it.score = v,
                    None => conversion_error = true,
                }
            }
        }
        if !conversion_error {
            let by_pattern = sortby.is_some();
            items.sort_by(|a, b| {
                let c = if !alpha {
                    a.score
                        .partial_cmp(&b.score)
                        .unwrap_or(std::cmp::Ordering::Equal)
                        .then_with(|| a.obj.cmp(&b.obj))
                } else if by_pattern {
                    // Missing BY values sort first.
                    a.cmp.cmp(&b.cmp)
                } else {
                    a.obj.cmp(&b.obj)
                };
                if desc {
                    c.reverse()
                } else {
                    c
                }
            });
        }
    }
    if conversion_error {
        return err("ERR One or more scores can't be converted into double");
    }

    let range: &[SortItem] = if end >= start && start >= 0 {
        items.get(start as usize..=end as usize).unwrap_or(&[])
    } else {
        &[]
    };
    let outputlen = if gets.is_empty() {
        range.len()
    } else {
        gets.len() * range.len()
    };

    match store {
        None => {
            ctx.out.array(outputlen);
            for it in range {
                if gets.is_empty() {
                    ctx.out.bulk(&it.obj);
                }
                for &g in &gets {
                    match lookup_by_pattern(ctx, g, &it.obj) {
                        Some(v) => ctx.out.bulk(&v),
                        None => ctx.out.null(),
                    }
                }
            }
        }
        Some(dst) => {
            let mut out: Vec<Blob> = Vec::with_capacity(outputlen);
            for it in range {
                if gets.is_empty() {
                    out.push(it.obj.clone());
                }
                for &g in &gets {
                    out.push(lookup_by_pattern(ctx, g, &it.obj).unwrap_or_default());
                }
            }
            let db = ctx.db(dst);
            if out.is_empty() {
                if db.remove(dst).is_some() {
                    nt::notify(ctx, nt::GENERIC, "del", dst);
                }
            } else {
                db.set(
                    dst,
                    Value::List(ferrocache_engine::types::list::ListValue::from_items(out)),
                );
                nt::notify(ctx, nt::LIST, "sortstore", dst);
            }
            ctx.out.int(outputlen as i64);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SORT's strtod + `errno == ERANGE` check, as glibc: values verified
    /// on redis-server 7.0.15.
    #[test]
    fn sort_number_conversion() {
        assert_eq!(sort_strtod(b""), Some(0.0));
        assert_eq!(sort_strtod(b"\x00x"), Some(0.0));
        assert_eq!(sort_strtod(b"12\x00junk"), Some(12.0));
        assert_eq!(sort_strtod(b" 5"), Some(5.0));
        assert_eq!(sort_strtod(b"5 "), None);
        assert_eq!(sort_strtod(b"0x10"), Some(16.0));
        assert_eq!(sort_strtod(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(sort_strtod(b"nan"), None);
        assert_eq!(sort_strtod(b"1e400"), None);
        assert_eq!(sort_strtod(b"1e-400"), None);
        assert_eq!(sort_strtod(b"0e-400"), Some(0.0));
        // Subnormal: ERANGE unless exact.
        assert_eq!(sort_strtod(b"1e-320"), None);
        assert_eq!(sort_strtod(b"2.2250738585072011e-308"), None);
        assert_eq!(
            sort_strtod(b"2.2250738585072014e-308"),
            Some(f64::MIN_POSITIVE)
        );
        assert_eq!(sort_strtod(b"0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(sort_strtod(b"-0X0.8p-1073"), Some(-f64::from_bits(1)));
        assert_eq!(sort_strtod(b"0x1.8p-1074"), None);
        assert_eq!(sort_strtod(b"0x3p-1075"), None);
        assert_eq!(sort_strtod(b"0x1p-1022"), Some(f64::MIN_POSITIVE));
    }

    #[test]
    fn cursor_parsing() {
        assert_eq!(parse_cursor(b"0").ok(), Some(0));
        assert_eq!(parse_cursor(b"").ok(), Some(0));
        assert_eq!(parse_cursor(b"007").ok(), Some(7));
        assert_eq!(parse_cursor(b"+7").ok(), Some(7));
        assert_eq!(parse_cursor(b"-1").ok(), Some(u64::MAX));
        assert!(parse_cursor(b"abc").is_err());
        assert!(parse_cursor(b" 1").is_err());
        assert!(parse_cursor(b"-").is_err());
        assert!(parse_cursor(b"18446744073709551616").is_err());
        assert_eq!(parse_cursor(b"18446744073709551615").ok(), Some(u64::MAX));
    }

    #[test]
    fn expire_flag_conflicts() {
        let p = |s: &str| {
            let v: Vec<&[u8]> = s.split(' ').map(str::as_bytes).collect();
            parse_expire_flags(&v)
        };
        assert!(p("expire k 1 nx xx").is_err());
        assert!(p("expire k 1 gt lt").is_err());
        assert!(p("expire k 1 nx gt").is_err());
        assert_eq!(p("expire k 1 xx gt").ok(), Some(EXPIRE_XX | EXPIRE_GT));
        assert!(p("expire k 1 bogus").is_err());
    }
}
