//! List commands (Redis 7.0 `t_list.c` semantics).
//!
//! Argument checks happen in the same order as in Redis, because the order
//! decides which error a client sees when several things are wrong (LRANGE
//! parses its indexes before looking the key up; LINDEX looks the key up
//! first; LPOP parses COUNT first…).
//!
//! Every push goes through [`push`], the single place a list grows, so that
//! blocked clients (BLPOP, BLMOVE, BLMPOP) can be woken from there.

use crate::ctx::Ctx;
use crate::error::{err, errf, CmdError, CmdResult, INDEX_OUT_OF_RANGE, NO_SUCH_KEY, SYNTAX};
use crate::notify as nt;
use crate::spec::{acl, flags::*, numkeys_at, CommandSpec};
use ferrocache_engine::types::list::{End, ListValue};
use ferrocache_engine::types::string::parse_i64;
use ferrocache_engine::{Blob, Db, Value, WrongType};

const PUSH_O1: &str =
    "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments.";

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("lpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), lpush)
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Prepend one or multiple elements to a list", PUSH_O1),
    CommandSpec::new("rpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), rpush)
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Append one or multiple elements to a list", PUSH_O1),
    CommandSpec::new("lpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), lpushx)
        .acl(acl::LIST)
        .doc("list", "2.2.0", "Prepend an element to a list, only if the list exists", PUSH_O1),
    CommandSpec::new("rpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), rpushx)
        .acl(acl::LIST)
        .doc("list", "2.2.0", "Append an element to a list, only if the list exists", PUSH_O1),
    CommandSpec::new("lpop", -2, WRITE | FAST, (1, 1, 1), lpop)
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Remove and get the first elements in a list", "O(N) where N is the number of elements returned"),
    CommandSpec::new("rpop", -2, WRITE | FAST, (1, 1, 1), rpop)
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Remove and get the last elements in a list", "O(N) where N is the number of elements returned"),
    CommandSpec::new("llen", 2, READONLY | FAST, (1, 1, 1), llen)
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Get the length of a list", "O(1)"),
    CommandSpec::new("lrange", 4, READONLY, (1, 1, 1), lrange)
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Get a range of elements from a list", "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range."),
    CommandSpec::new("lindex", 3, READONLY, (1, 1, 1), lindex)
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Get an element from a list by its index", "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1)."),
    CommandSpec::new("lset", 4, WRITE | DENYOOM, (1, 1, 1), lset)
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Set the value of an element in a list by its index", "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1)."),
    CommandSpec::new("linsert", 5, WRITE | DENYOOM, (1, 1, 1), linsert)
        .acl(acl::LIST)
        .doc("list", "2.2.0", "Insert an element before or after another element in a list", "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N)."),
    CommandSpec::new("lrem", 4, WRITE, (1, 1, 1), lrem)
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Remove elements from a list", "O(N+M) where N is the length of the list and M is the number of elements removed."),
    CommandSpec::new("ltrim", 4, WRITE, (1, 1, 1), ltrim)
        .acl(acl::LIST)
        .doc("list", "1.0.0", "Trim a list to the specified range", "O(N) where N is the number of elements to be removed by the operation."),
    CommandSpec::new("lpos", -3, READONLY, (1, 1, 1), lpos)
        .acl(acl::LIST)
        .doc("list", "6.0.6", "Return the index of matching elements on a list", "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time."),
    CommandSpec::new("lmove", 5, WRITE | DENYOOM, (1, 2, 1), lmove)
        .acl(acl::LIST)
        .doc("list", "6.2.0", "Pop an element from a list, push it to another list and return it", "O(1)"),
    CommandSpec::new("rpoplpush", 3, WRITE | DENYOOM, (1, 2, 1), rpoplpush)
        .acl(acl::LIST)
        .doc("list", "1.2.0", "Remove the last element in a list, prepend it to another list and return it", "O(1)"),
    CommandSpec::new("lmpop", -4, WRITE, (0, 0, 0), lmpop)
        .keys_fn(lmpop_keys)
        .acl(acl::LIST)
        .doc("list", "7.0.0", "Pop elements from a list", "O(N+M) where N is the number of provided keys and M is the number of elements returned."),
    // Blocking variants (H3; waiting and waking in `crate::blocking`).
    CommandSpec::new("blpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), blpop)
        .acl(acl::LIST)
        .doc("list", "2.0.0", "Remove and get the first element in a list, or block until one is available", "O(N) where N is the number of provided keys."),
    CommandSpec::new("brpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), brpop)
        .acl(acl::LIST)
        .doc("list", "2.0.0", "Remove and get the last element in a list, or block until one is available", "O(N) where N is the number of provided keys."),
    CommandSpec::new("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), blmove)
        .acl(acl::LIST)
        .doc("list", "6.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available", "O(1)"),
    CommandSpec::new("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), brpoplpush)
        .acl(acl::LIST)
        .doc("list", "2.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available", "O(1)"),
    CommandSpec::new("blmpop", -5, WRITE | BLOCKING, (0, 0, 0), blmpop)
        .keys_fn(blmpop_keys)
        .acl(acl::LIST)
        .doc("list", "7.0.0", "Pop elements from a list, or block until one is available", "O(N+M) where N is the number of provided keys and M is the number of elements returned."),
];

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// `LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT n]`: keys follow argv[1].
///
/// A numkeys larger than argv is clamped before calling [`numkeys_at`]:
/// its `start + numkeys` overflows for values near `i64::MAX` (e.g.
/// `LMPOP 9223372036854775807 k LEFT`, which Redis answers with a syntax
/// error). Keys can never extend past argv anyway.
fn lmpop_keys(argv: &[&[u8]]) -> Vec<usize> {
    match argv.get(1).and_then(|a| parse_i64(a)) {
        Some(n) if n > 0 && n as u64 > argv.len() as u64 => (2..argv.len()).collect(),
        _ => numkeys_at(argv, 1),
    }
}

/// Push `elems` one by one at `end` of the list at `key`, creating it unless
/// `only_existing` (LPUSHX/RPUSHX, which then push nothing and report 0).
/// Returns the list's new length.
///
/// This is the only place a list grows or is created: blocked-client
/// wake-ups (BLPOP & co.) hook in here.
pub(crate) fn push<I>(
    ctx: &mut Ctx<'_, '_>,
    key: &[u8],
    end: End,
    elems: I,
    only_existing: bool,
) -> Result<usize, WrongType>
where
    I: ExactSizeIterator<Item = Blob>,
{
    let (len, pushed) = push_silent(ctx, key, end, elems, only_existing)?;
    if pushed {
        nt::notify(ctx, nt::LIST, push_event(end), key);
    }
    Ok(len)
}

/// [`push`] without the keyspace event: (new length, whether anything was
/// pushed), for LPUSH & co., which reply before notifying as Redis does.
fn push_silent<I>(
    ctx: &mut Ctx<'_, '_>,
    key: &[u8],
    end: End,
    elems: I,
    only_existing: bool,
) -> Result<(usize, bool), WrongType>
where
    I: ExactSizeIterator<Item = Blob>,
{
    let db = ctx.db(key);
    let n = elems.len();
    match db.get_mut(key) {
        Some(e) => {
            let Value::List(l) = &mut e.value else {
                return Err(WrongType);
            };
            l.reserve(n);
            for v in elems {
                l.push(v, end);
            }
            let len = l.len();
            db.dirty += 1;
            Ok((len, true))
        }
        None if only_existing => Ok((0, false)),
        None => {
            let mut l = ListValue::with_capacity(n);
            for v in elems {
                l.push(v, end);
            }
            let len = l.len();
            if len > 0 {
                db.set(key, Value::List(l));
            }
            Ok((len, len > 0))
        }
    }
}

/// The keyspace event of a push (one per command, as Redis).
fn push_event(end: End) -> &'static str {
    if matches!(end, End::Head) {
        "lpush"
    } else {
        "rpush"
    }
}

/// The keyspace events of a pop: `lpop`/`rpop`, then `del` if the list went.
/// Every pop replies first in Redis, so these follow the reply.
fn notify_pop(ctx: &mut Ctx<'_, '_>, key: &[u8], end: End, deleted: bool) {
    let ev = if matches!(end, End::Head) {
        "lpop"
    } else {
        "rpop"
    };
    nt::notify_replied(ctx, nt::LIST, ev, key);
    if deleted {
        nt::notify(ctx, nt::GENERIC, "del", key);
    }
}

/// The list at `key` for writing; None when missing, WRONGTYPE otherwise.
fn list_mut<'d>(db: &'d mut Db, key: &[u8]) -> Result<Option<&'d mut ListValue>, WrongType> {
    match db.get_mut(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::List(l) => Ok(Some(l)),
            _ => Err(WrongType),
        },
    }
}

/// The list at `key` for reading (counts keyspace hits/misses).
fn list_ref<'d>(db: &'d mut Db, key: &[u8]) -> Result<Option<&'d ListValue>, WrongType> {
    match db.get(key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::List(l) => Ok(Some(l)),
            _ => Err(WrongType),
        },
    }
}

/// After an in-place change of the list at `key`: delete the key if the list
/// became empty (Redis never keeps empty lists), else count the write.
fn finish_write(db: &mut Db, key: &[u8], now_empty: bool) {
    if now_empty {
        db.remove(key);
    } else {
        db.dirty += 1;
    }
}

/// `LEFT`/`RIGHT` (Redis `getListPositionFromObjectOrReply`).
fn parse_end(arg: &[u8]) -> Result<End, CmdError> {
    if crate::args::eq(arg, "left") {
        Ok(End::Head)
    } else if crate::args::eq(arg, "right") {
        Ok(End::Tail)
    } else {
        err(SYNTAX)
    }
}

/// An integer `>= min`, with one message for both "not an integer" and
/// "too small", as Redis's `getRangeLongFromObjectOrReply` with a message.
fn int_at_least(arg: &[u8], min: i64, msg: &'static str) -> Result<i64, CmdError> {
    match parse_i64(arg) {
        Some(n) if n >= min => Ok(n),
        _ => err(msg),
    }
}

/// Resolve a Redis (start, end) inclusive range with negative indexes
/// against a list of `len` elements; None when it selects nothing.
fn resolve_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut s = if start < 0 { llen + start } else { start };
    let mut e = if end < 0 { llen + end } else { end };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= llen {
        return None;
    }
    if e >= llen {
        e = llen - 1;
    }
    Some((s as usize, e as usize))
}

/// Resolve a single (possibly negative) index.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let llen = len as i64;
    let i = if index < 0 { llen + index } else { index };
    (0..llen).contains(&i).then_some(i as usize)
}

// ---------------------------------------------------------------------------
// Push
// ---------------------------------------------------------------------------

fn push_cmd(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], end: End, only_existing: bool) -> CmdResult {
    let elems = argv[2..].iter().map(|a| Blob::new(a));
    let (len, pushed) = push_silent(ctx, argv[1], end, elems, only_existing)?;
    ctx.out.int(len as i64);
    if pushed {
        // Redis: `new` at creation, the reply, then `lpush`/`rpush`.
        nt::notify_replied(ctx, nt::LIST, push_event(end), argv[1]);
    }
    Ok(())
}

fn lpush(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    push_cmd(ctx, argv, End::Head, false)
}

fn rpush(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    push_cmd(ctx, argv, End::Tail, false)
}

fn lpushx(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    push_cmd(ctx, argv, End::Head, true)
}

fn rpushx(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    push_cmd(ctx, argv, End::Tail, true)
}

// ---------------------------------------------------------------------------
// Pop
// ---------------------------------------------------------------------------

/// LPOP/RPOP key [count]. Without COUNT: a bulk string or null. With COUNT:
/// an array (empty for COUNT 0 on an existing list) or a null *array* for a
/// missing key.
fn pop_cmd(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], end: End, name: &str) -> CmdResult {
    if argv.len() > 3 {
        return errf(format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
    }
    let count = match argv.get(2) {
        Some(a) => Some(int_at_least(
            a,
            0,
            "ERR value is out of range, must be positive",
        )?),
        None => None,
    };
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let Some(l) = list_mut(db, key)? else {
        if count.is_some() {
            out.null_array();
        } else {
            out.null();
        }
        return Ok(());
    };
    match count {
        None => match l.pop(end) {
            Some(v) => out.bulk(&v),
            None => out.null(),
        },
        Some(0) => {
            out.array(0);
            return Ok(());
        }
        Some(c) => {
            let n = usize::try_from(c).unwrap_or(usize::MAX).min(l.len());
            out.array(n);
            for _ in 0..n {
                if let Some(v) = l.pop(end) {
                    out.bulk(&v);
                }
            }
        }
    }
    let empty = l.is_empty();
    finish_write(db, key, empty);
    notify_pop(ctx, key, end, empty);
    Ok(())
}

fn lpop(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    pop_cmd(ctx, argv, End::Head, "lpop")
}

fn rpop(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    pop_cmd(ctx, argv, End::Tail, "rpop")
}

// ---------------------------------------------------------------------------
// Read
// ---------------------------------------------------------------------------

fn llen(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    let n = list_ref(db, argv[1])?.map_or(0, ListValue::len);
    out.int(n as i64);
    Ok(())
}

fn lrange(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let start = crate::args::int(argv[2])?;
    let end = crate::args::int(argv[3])?;
    let (db, out) = ctx.db_out(argv[1]);
    let Some(l) = list_ref(db, argv[1])? else {
        out.array(0);
        return Ok(());
    };
    match resolve_range(start, end, l.len()) {
        None => out.array(0),
        Some((s, e)) => {
            let items = l.range(s, e);
            out.array(items.len());
            for v in items {
                out.bulk(v);
            }
        }
    }
    Ok(())
}

fn lindex(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    let Some(l) = list_ref(db, argv[1])? else {
        out.null();
        return Ok(());
    };
    let index = crate::args::int(argv[2])?;
    match resolve_index(index, l.len()).and_then(|i| l.get(i)) {
        Some(v) => out.bulk(v),
        None => out.null(),
    }
    Ok(())
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
fn lpos(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let elem = argv[2];
    let mut rank: i64 = 1;
    let mut count: i64 = -1; // -1: COUNT not given
    let mut maxlen: i64 = 0; // 0: unlimited
    let mut j = 3;
    while j < argv.len() {
        let opt = argv[j];
        let more = j + 1 < argv.len();
        if crate::args::eq(opt, "rank") && more {
            j += 1;
            rank = crate::args::int(argv[j])?;
            if rank == 0 {
                return err(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the \
                     second ... or use negative to start from the end of the list",
                );
            }
        } else if crate::args::eq(opt, "count") && more {
            j += 1;
            count = int_at_least(argv[j], 0, "ERR COUNT can't be negative")?;
        } else if crate::args::eq(opt, "maxlen") && more {
            j += 1;
            maxlen = int_at_least(argv[j], 0, "ERR MAXLEN can't be negative")?;
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    // A negative rank searches from the tail. Redis 7.0 negates with C
    // wrap-around, so RANK -9223372036854775808 stays negative and means
    // "from the first match"; wrapping arithmetic below reproduces that.
    let reverse = rank < 0;
    if reverse {
        rank = rank.wrapping_neg();
    }
    let (db, out) = ctx.db_out(argv[1]);
    let Some(l) = list_ref(db, argv[1])? else {
        if count != -1 {
            out.array(0);
        } else {
            out.null();
        }
        return Ok(());
    };
    let len = l.len();
    let limit = if maxlen == 0 {
        len
    } else {
        usize::try_from(maxlen).unwrap_or(usize::MAX).min(len)
    };
    let mut matches: i64 = 0;
    let mut hits: Vec<usize> = Vec::new();
    let mut first: Option<usize> = None;
    for step in 0..limit {
        let pos = if reverse { len - 1 - step } else { step };
        if l.get(pos) != Some(elem) {
            continue;
        }
        matches += 1;
        if matches >= rank {
            if count == -1 {
                first = Some(pos);
                break;
            }
            hits.push(pos);
            if count != 0 && matches.wrapping_sub(rank).wrapping_add(1) >= count {
                break;
            }
        }
    }
    if count == -1 {
        match first {
            Some(p) => out.int(p as i64),
            None => out.null(),
        }
    } else {
        out.array(hits.len());
        for p in hits {
            out.int(p as i64);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Modify in place
// ---------------------------------------------------------------------------

fn lset(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let Some(l) = list_mut(db, key)? else {
        return err(NO_SUCH_KEY);
    };
    let index = crate::args::int(argv[2])?;
    let Some(i) = resolve_index(index, l.len()) else {
        return err(INDEX_OUT_OF_RANGE);
    };
    if !l.set(i, Blob::new(argv[3])) {
        return err(INDEX_OUT_OF_RANGE);
    }
    db.dirty += 1;
    out.ok();
    nt::notify_replied(ctx, nt::LIST, "lset", key);
    Ok(())
}

/// LINSERT key BEFORE|AFTER pivot element: the new length, -1 when the
/// pivot is absent, 0 when the key is.
fn linsert(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let after = if crate::args::eq(argv[2], "after") {
        true
    } else if crate::args::eq(argv[2], "before") {
        false
    } else {
        return err(SYNTAX);
    };
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let Some(l) = list_mut(db, key)? else {
        out.int(0);
        return Ok(());
    };
    let Some(pos) = l.position(argv[3]) else {
        out.int(-1);
        return Ok(());
    };
    l.insert(pos + usize::from(after), Blob::new(argv[4]));
    let len = l.len();
    db.dirty += 1;
    out.int(len as i64);
    nt::notify(ctx, nt::LIST, "linsert", key);
    Ok(())
}

/// LREM key count element: count > 0 removes the first `count` matches from
/// the head, < 0 from the tail, 0 all of them.
fn lrem(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let count = crate::args::int(argv[2])?;
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let Some(l) = list_mut(db, key)? else {
        out.int(0);
        return Ok(());
    };
    let removed = l.remove_matching(argv[3], count.unsigned_abs(), count < 0);
    let empty = l.is_empty();
    if removed > 0 || empty {
        finish_write(db, key, empty);
    }
    out.int(removed as i64);
    if removed > 0 {
        nt::notify(ctx, nt::LIST, "lrem", key);
        if empty {
            nt::notify(ctx, nt::GENERIC, "del", key);
        }
    }
    Ok(())
}

fn ltrim(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let start = crate::args::int(argv[2])?;
    let end = crate::args::int(argv[3])?;
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let Some(l) = list_mut(db, key)? else {
        out.ok();
        return Ok(());
    };
    let len = l.len();
    let deleted = match resolve_range(start, end, len) {
        Some((s, e)) => {
            if s > 0 || e + 1 < len {
                l.retain_range(s, e + 1);
            }
            // Redis signals the key even when nothing is trimmed (a
            // WATCHing EXEC fails), so the write counter moves regardless.
            db.dirty += 1;
            false
        }
        None => {
            db.remove(key);
            true
        }
    };
    out.ok();
    nt::notify(ctx, nt::LIST, "ltrim", key);
    if deleted {
        nt::notify(ctx, nt::GENERIC, "del", key);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Move between lists
// ---------------------------------------------------------------------------

/// Pop from `src` at `from`, push onto `dst` at `to`, reply with the element.
/// `src == dst` rotates the list in place (the key, and its TTL, survive).
fn lmove_generic(ctx: &mut Ctx<'_, '_>, src: &[u8], dst: &[u8], from: End, to: End) -> CmdResult {
    // Redis order: source missing/empty → null before the destination's type
    // is looked at; a wrong-typed destination leaves the source untouched.
    let has_elems = list_mut(ctx.db(src), src)?.is_some_and(|l| !l.is_empty());
    if !has_elems {
        ctx.out.null();
        return Ok(());
    }
    list_mut(ctx.db(dst), dst)?;
    let db = ctx.db(src);
    let Some(l) = list_mut(db, src)? else {
        ctx.out.null();
        return Ok(());
    };
    let Some(v) = l.pop(from) else {
        ctx.out.null();
        return Ok(());
    };
    let empty = l.is_empty();
    if src != dst {
        finish_write(db, src, empty);
    }
    // Cloning costs an allocation only for elements longer than 22 bytes.
    push(ctx, dst, to, std::iter::once(v.clone()), false)?;
    ctx.out.bulk(&v);
    notify_pop(ctx, src, from, empty && src != dst);
    Ok(())
}

fn lmove(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let from = parse_end(argv[3])?;
    let to = parse_end(argv[4])?;
    lmove_generic(ctx, argv[1], argv[2], from, to)
}

fn rpoplpush(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    lmove_generic(ctx, argv[1], argv[2], End::Tail, End::Head)
}

/// LMPOP numkeys key [key ...] LEFT|RIGHT [COUNT count]: pops from the first
/// non-empty list; replies `[key, [elements]]` or a null array.
fn lmpop(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (where_idx, end, count) = lmpop_parse(argv)?;
    for &key in &argv[2..where_idx] {
        let (db, out) = ctx.db_out(key);
        let Some(l) = list_mut(db, key)? else {
            continue;
        };
        if l.is_empty() {
            continue;
        }
        let n = count.min(l.len());
        out.array(2);
        out.bulk(key);
        out.array(n);
        for _ in 0..n {
            if let Some(v) = l.pop(end) {
                out.bulk(&v);
            }
        }
        let empty = l.is_empty();
        finish_write(db, key, empty);
        notify_pop(ctx, key, end, empty);
        return Ok(());
    }
    ctx.out.null_array();
    Ok(())
}

/// LMPOP's arguments: (index of LEFT|RIGHT, end, count), in Redis's order
/// of checks.
fn lmpop_parse(argv: &[&[u8]]) -> Result<(usize, End, usize), CmdError> {
    let numkeys = int_at_least(argv[1], 1, "ERR numkeys should be greater than 0")?;
    // numkeys >= 1 fits usize; a huge value simply points past argv.
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(2))
        .filter(|&i| i < argv.len());
    let Some(where_idx) = where_idx else {
        return err(SYNTAX);
    };
    let end = parse_end(argv[where_idx])?;
    let mut count: i64 = -1;
    let mut j = where_idx + 1;
    while j < argv.len() {
        if count == -1 && crate::args::eq(argv[j], "count") && j + 1 < argv.len() {
            j += 1;
            count = int_at_least(argv[j], 1, "ERR count should be greater than 0")?;
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    let count = usize::try_from(count.max(1)).unwrap_or(usize::MAX);
    Ok((where_idx, end, count))
}

// ---------------------------------------------------------------------------
// Blocking pops (H3)
// ---------------------------------------------------------------------------

/// BLMPOP's keys: LMPOP's, one argument later.
fn blmpop_keys(argv: &[&[u8]]) -> Vec<usize> {
    match argv.get(1..) {
        Some(rest) => lmpop_keys(rest).into_iter().map(|i| i + 1).collect(),
        None => Vec::new(),
    }
}

fn blpop(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    bpop(ctx, argv, End::Head)
}

fn brpop(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    bpop(ctx, argv, End::Tail)
}

/// BLPOP/BRPOP key [key ...] timeout: pop from the first non-empty list
/// (`[key, element]`), else block on all of them (Redis's
/// `blockingPopGenericCommand`: timeout parsed first, a wrong-typed key
/// before any non-empty one is an error, a null array when blocking is
/// denied (MULTI, scripts)).
fn bpop(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], end: End) -> CmdResult {
    let last = argv.len() - 1;
    let timeout = crate::blocking::parse_timeout_secs(argv[last])?;
    let keys = &argv[1..last];
    for &key in keys {
        let (db, out) = ctx.db_out(key);
        let Some(l) = list_mut(db, key)? else {
            continue;
        };
        let Some(v) = l.pop(end) else {
            continue;
        };
        out.array(2);
        out.bulk(key);
        out.bulk(&v);
        let empty = l.is_empty();
        finish_write(db, key, empty);
        notify_pop(ctx, key, end, empty);
        return Ok(());
    }
    if ctx.client.deny_blocking {
        ctx.out.null_array();
        return Ok(());
    }
    // Served later as `BLPOP <key> 0` with blocking denied.
    let serve = keys
        .iter()
        .map(|k| (Blob::new(k), crate::blocking::argv_of(&[argv[0], k, b"0"])))
        .collect();
    crate::blocking::block(ctx, crate::blocking::Kind::List, timeout, serve)
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout.
fn blmove(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let from = parse_end(argv[3])?;
    let to = parse_end(argv[4])?;
    blmove_generic(ctx, argv, from, to, argv[5])
}

/// BRPOPLPUSH source destination timeout.
fn brpoplpush(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    blmove_generic(ctx, argv, End::Tail, End::Head, argv[3])
}

/// Redis's `blmoveGenericCommand`: timeout, then the source's type; a
/// non-empty source moves at once, a missing one blocks (on the source
/// only) or, with blocking denied, answers a null *bulk*. The waiter is
/// served by re-running this very command with blocking denied, so a
/// destination of the wrong type then answers WRONGTYPE, as in Redis.
fn blmove_generic(
    ctx: &mut Ctx<'_, '_>,
    argv: &[&[u8]],
    from: End,
    to: End,
    timeout_arg: &[u8],
) -> CmdResult {
    let timeout = crate::blocking::parse_timeout_secs(timeout_arg)?;
    let (src, dst) = (argv[1], argv[2]);
    if list_mut(ctx.db(src), src)?.is_some_and(|l| !l.is_empty()) {
        return lmove_generic(ctx, src, dst, from, to);
    }
    if ctx.client.deny_blocking {
        ctx.out.null();
        return Ok(());
    }
    let serve = vec![(Blob::new(src), crate::blocking::argv_of(argv))];
    crate::blocking::block(ctx, crate::blocking::Kind::List, timeout, serve)
}

/// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]: LMPOP's
/// argument checks come first, then the timeout (Redis's order).
fn blmpop(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let shifted = &argv[1..];
    let (where_idx, _, _) = lmpop_parse(shifted)?;
    let timeout = crate::blocking::parse_timeout_secs(argv[1])?;
    let mark = ctx.out.len();
    lmpop(ctx, shifted)?;
    if ctx.client.deny_blocking || ctx.out.as_bytes().get(mark..) != Some(null_array(ctx)) {
        return Ok(());
    }
    ctx.out.truncate(mark);
    // Served later as `BLMPOP 0 1 <key> <where> [COUNT n]`.
    let tail = &shifted[where_idx..];
    let serve = shifted[2..where_idx]
        .iter()
        .map(|k| {
            let mut a = crate::blocking::argv_of(&[argv[0], b"0", b"1", k]);
            a.extend(tail.iter().map(|t| t.to_vec()));
            (Blob::new(k), a)
        })
        .collect();
    crate::blocking::block(ctx, crate::blocking::Kind::List, timeout, serve)
}

/// The bytes of a null array in the client's protocol.
fn null_array(ctx: &Ctx<'_, '_>) -> &'static [u8] {
    if ctx.out.is_resp3() {
        b"_\r\n"
    } else {
        b"*-1\r\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(resolve_range(0, -1, 3), Some((0, 2)));
        assert_eq!(resolve_range(-100, 100, 3), Some((0, 2)));
        assert_eq!(resolve_range(2, 1, 3), None);
        assert_eq!(resolve_range(3, 5, 3), None);
        assert_eq!(resolve_range(i64::MIN, i64::MAX, 3), Some((0, 2)));
        assert_eq!(resolve_range(i64::MAX, i64::MIN, 3), None);
        assert_eq!(resolve_range(0, -1, 0), None);
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(3, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
        assert_eq!(resolve_index(0, 0), None);
    }

    #[test]
    fn lmpop_key_positions() {
        let argv: Vec<&[u8]> = vec![b"lmpop", b"2", b"a", b"b", b"left"];
        assert_eq!(lmpop_keys(&argv), vec![2, 3]);
        let argv: Vec<&[u8]> = vec![b"lmpop", b"x", b"a", b"left"];
        assert!(lmpop_keys(&argv).is_empty());
        let argv: Vec<&[u8]> = vec![b"lmpop", b"9223372036854775807", b"a", b"left"];
        assert_eq!(lmpop_keys(&argv), vec![2, 3]);
        let argv: Vec<&[u8]> = vec![b"lmpop", b"-1", b"a", b"left"];
        assert!(lmpop_keys(&argv).is_empty());
    }

    #[test]
    fn parsing() {
        assert_eq!(parse_end(b"LeFt").ok(), Some(End::Head));
        assert_eq!(parse_end(b"RIGHT").ok(), Some(End::Tail));
        assert!(parse_end(b"middle").is_err());
        assert_eq!(int_at_least(b"0", 0, "m").ok(), Some(0));
        assert!(int_at_least(b"-1", 0, "m").is_err());
        assert!(int_at_least(b"x", 0, "m").is_err());
    }

    /// Run commands in-process on a fresh server, with the reply writer in
    /// `version`; returns all reply bytes.
    fn run(version: ferrocache_protocol::RespVersion, cmds: &[&str]) -> Vec<u8> {
        use crate::client::{ClientShared, ClientState};
        let server = crate::server::Server::new(crate::config::Config::default(), 2);
        let shared = std::sync::Arc::new(ClientShared::new(1, None, None));
        let mut client = ClientState::new(shared, true);
        let mut out = ferrocache_protocol::ReplyWriter::new(version);
        for c in cmds {
            let argv: Vec<&[u8]> = c.split_whitespace().map(str::as_bytes).collect();
            crate::dispatch::execute(&server, &mut client, &mut out, &argv);
        }
        out.take()
    }

    const NULL_CMDS: &[&str] = &[
        "RPUSH l a b c d",
        "LPOP nokey",
        "LPOP nokey 2",
        "LPOP l 0",
        "LPOP l 2",
        "LINDEX nokey 0",
        "LPOS l zz",
        "LPOS l c COUNT 0",
        "LPOS nokey zz COUNT 1",
        "LMPOP 2 nokey l LEFT",
        "LMPOP 1 nokey LEFT",
        "RPOPLPUSH nokey l",
        "LRANGE nokey 0 -1",
    ];

    /// Reply bytes recorded from redis-server 7.0.15 after `HELLO 3` (the
    /// differential test covers this too once HELLO exists).
    #[test]
    fn resp3_bytes_match_redis() {
        let got = run(ferrocache_protocol::RespVersion::Resp3, NULL_CMDS);
        let want: &[u8] = b":4\r\n_\r\n_\r\n*0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n_\r\n_\r\n*1\r\n:0\r\n*0\r\n*2\r\n$1\r\nl\r\n*1\r\n$1\r\nc\r\n_\r\n_\r\n*0\r\n";
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    }

    #[test]
    fn resp2_null_kinds() {
        let got = run(ferrocache_protocol::RespVersion::Resp2, NULL_CMDS);
        let want: &[u8] = b":4\r\n$-1\r\n*-1\r\n*0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n$-1\r\n$-1\r\n*1\r\n:0\r\n*0\r\n*2\r\n$1\r\nl\r\n*1\r\n$1\r\nc\r\n*-1\r\n$-1\r\n*0\r\n";
        assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
    }
}
