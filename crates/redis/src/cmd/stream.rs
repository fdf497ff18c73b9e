//! Stream commands (Redis 7.0 `t_stream.c`), without blocking.
//!
//! Handlers follow Redis's order of checks (option parsing, then the key
//! lookup, then the semantic errors), because that order decides which
//! error a client sees. Unlike the other collections, a stream that becomes
//! empty is *kept* (Redis does so: its last ID and groups must survive).
//!
//! BLOCK: XREAD/XREADGROUP answer at once when data is available, exactly
//! as Redis; when nothing is available they register with
//! `crate::blocking` ([`block_read`]) and XADD & co. wake them.

use crate::args::{eq, int};
use crate::ctx::Ctx;
use crate::error::{err, err_arg, CmdError, CmdResult, SYNTAX};
use crate::notify as nt;
use crate::spec::{acl, flags::*, CommandSpec};
use ferrocache_engine::types::stream::{ConsumerGroup, PendingEntry, StreamId, StreamValue, Trim};
use ferrocache_engine::{Blob, Db, Value, WrongType};
use ferrocache_protocol::ReplyWriter;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("xadd", -5, WRITE | DENYOOM | FAST, (1, 1, 1), xadd)
        .acl(acl::STREAM)
        .doc("stream", "5.0.0", "Appends a new entry to a stream", "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted."),
    CommandSpec::new("xlen", 2, READONLY | FAST, (1, 1, 1), xlen)
        .acl(acl::STREAM)
        .doc("stream", "5.0.0", "Return the number of entries in a stream", "O(1)"),
    CommandSpec::new("xrange", -4, READONLY, (1, 1, 1), xrange)
        .acl(acl::STREAM)
        .doc("stream", "5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval", "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1)."),
    CommandSpec::new("xrevrange", -4, READONLY, (1, 1, 1), xrevrange)
        .acl(acl::STREAM)
        .doc("stream", "5.0.0", "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE", "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1)."),
    CommandSpec::new("xread", -4, READONLY | BLOCKING, (0, 0, 0), xread)
        .keys_fn(xread_keys)
        .acl(acl::STREAM)
        .doc("stream", "5.0.0", "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.", "For each stream mentioned: O(N) with N being the number of elements being returned, it means that XREAD-ing with a fixed COUNT is O(1). Note that when the BLOCK option is used, XADD will pay O(M) time in order to serve the M clients blocked on the stream getting new data."),
    CommandSpec::new("xdel", -3, WRITE | FAST, (1, 1, 1), xdel)
        .acl(acl::STREAM)
        .doc("stream", "5.0.0", "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.", "O(1) for each single item to delete in the stream, regardless of the stream size."),
    CommandSpec::new("xtrim", -4, WRITE, (1, 1, 1), xtrim)
        .acl(acl::STREAM)
        .doc("stream", "5.0.0", "Trims the stream to (approximately if '~' is passed) a certain size", "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation."),
    CommandSpec::new("xsetid", -3, WRITE | DENYOOM | FAST, (1, 1, 1), xsetid)
        .acl(acl::STREAM)
        .doc("stream", "5.0.0", "An internal command for replicating stream values", "O(1)"),
    CommandSpec::new("xreadgroup", -7, WRITE | BLOCKING, (0, 0, 0), xreadgroup)
        .keys_fn(xreadgroup_keys)
        .acl(acl::STREAM)
        .doc("stream", "5.0.0", "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.", "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data."),
    CommandSpec::new("xack", -4, WRITE | FAST, (1, 1, 1), xack)
        .acl(acl::STREAM)
        .doc("stream", "5.0.0", "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.", "O(1) for each message ID processed."),
    CommandSpec::new("xpending", -3, READONLY, (1, 1, 1), xpending)
        .acl(acl::STREAM)
        .doc("stream", "5.0.0", "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.", "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer."),
    CommandSpec::new("xclaim", -6, WRITE | FAST, (1, 1, 1), xclaim)
        .acl(acl::STREAM)
        .doc("stream", "5.0.0", "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.", "O(log N) with N being the number of messages in the PEL of the consumer group."),
    CommandSpec::new("xautoclaim", -6, WRITE | FAST, (1, 1, 1), xautoclaim)
        .acl(acl::STREAM)
        .doc("stream", "6.2.0", "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.", "O(1) if COUNT is small."),
    CommandSpec::container("xgroup", -2, XGROUP_SUBS)
        .doc("stream", "5.0.0", "A container for consumer groups commands", "Depends on subcommand."),
    CommandSpec::container("xinfo", -2, XINFO_SUBS)
        .doc("stream", "5.0.0", "A container for stream introspection commands", "Depends on subcommand."),
];

static XGROUP_SUBS: &[CommandSpec] = &[
    CommandSpec::new("createconsumer", 5, WRITE | DENYOOM, (2, 2, 1), xgroup)
        .acl(acl::STREAM)
        .doc(
            "stream",
            "6.2.0",
            "Create a consumer in a consumer group.",
            "O(1)",
        ),
    CommandSpec::new("destroy", 4, WRITE, (2, 2, 1), xgroup)
        .acl(acl::STREAM)
        .doc(
            "stream",
            "5.0.0",
            "Destroy a consumer group.",
            "O(N) where N is the number of entries in the group's pending entries list (PEL).",
        ),
    CommandSpec::new("setid", -5, WRITE, (2, 2, 1), xgroup)
        .acl(acl::STREAM)
        .doc(
            "stream",
            "5.0.0",
            "Set a consumer group to an arbitrary last delivered ID value.",
            "O(1)",
        ),
    CommandSpec::new("help", 2, LOADING | STALE, (0, 0, 0), xgroup_help)
        .acl(acl::STREAM)
        .doc(
            "stream",
            "5.0.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
    CommandSpec::new("create", -5, WRITE | DENYOOM, (2, 2, 1), xgroup)
        .acl(acl::STREAM)
        .doc("stream", "5.0.0", "Create a consumer group.", "O(1)"),
    CommandSpec::new("delconsumer", 5, WRITE, (2, 2, 1), xgroup)
        .acl(acl::STREAM)
        .doc(
            "stream",
            "5.0.0",
            "Delete a consumer from a consumer group.",
            "O(1)",
        ),
];

static XINFO_SUBS: &[CommandSpec] = &[
    CommandSpec::new("help", 2, LOADING | STALE, (0, 0, 0), xinfo_help)
        .acl(acl::STREAM)
        .doc(
            "stream",
            "5.0.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
    CommandSpec::new("stream", -3, READONLY, (2, 2, 1), xinfo_stream)
        .acl(acl::STREAM)
        .doc("stream", "5.0.0", "Get information about a stream", "O(1)"),
    CommandSpec::new("groups", 3, READONLY, (2, 2, 1), xinfo_groups)
        .acl(acl::STREAM)
        .doc(
            "stream",
            "5.0.0",
            "List the consumer groups of a stream",
            "O(1)",
        ),
    CommandSpec::new("consumers", 4, READONLY, (2, 2, 1), xinfo_consumers)
        .acl(acl::STREAM)
        .doc(
            "stream",
            "5.0.0",
            "List the consumers in a consumer group",
            "O(1)",
        ),
];

const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

// ---------------------------------------------------------------------------
// Key finders
// ---------------------------------------------------------------------------

/// Keys of XREAD/XREADGROUP: the first half of the arguments after the
/// first STREAMS keyword (searched from `from`), as Redis's keyword spec.
fn streams_keys(argv: &[&[u8]], from: usize) -> Vec<usize> {
    let Some(pos) = (from..argv.len()).find(|&i| eq(argv[i], "streams")) else {
        return Vec::new();
    };
    let first = pos + 1;
    let n = (argv.len() - first) / 2;
    (first..first + n).collect()
}

fn xread_keys(argv: &[&[u8]]) -> Vec<usize> {
    streams_keys(argv, 1)
}

fn xreadgroup_keys(argv: &[&[u8]]) -> Vec<usize> {
    streams_keys(argv, 1)
}

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

fn sread<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a StreamValue>, WrongType> {
    match db.get(key) {
        None => Ok(None),
        Some(e) => match &e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(WrongType),
        },
    }
}

fn swrite<'a>(db: &'a mut Db, key: &[u8]) -> Result<Option<&'a mut StreamValue>, WrongType> {
    match db.get_mut(key) {
        None => Ok(None),
        Some(e) => match &mut e.value {
            Value::Stream(s) => Ok(Some(s)),
            _ => Err(WrongType),
        },
    }
}

/// An ID as its reply text, without allocating.
struct IdBuf {
    buf: [u8; 41],
    len: usize,
}

impl IdBuf {
    fn new(id: StreamId) -> Self {
        let mut b = IdBuf {
            buf: [0; 41],
            len: 0,
        };
        b.push_u64(id.ms);
        b.buf[b.len] = b'-';
        b.len += 1;
        b.push_u64(id.seq);
        b
    }

    fn push_u64(&mut self, mut v: u64) {
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        let digits = &tmp[i..];
        self.buf[self.len..self.len + digits.len()].copy_from_slice(digits);
        self.len += digits.len();
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

fn reply_id(out: &mut ReplyWriter, id: StreamId) {
    out.bulk(IdBuf::new(id).as_bytes());
}

/// One entry: `[id, [field, value, ...]]`.
fn reply_entry(out: &mut ReplyWriter, id: StreamId, fields: &[Blob]) {
    out.array(2);
    reply_id(out, id);
    out.array(fields.len());
    for f in fields {
        out.bulk(f);
    }
}

/// A strict ID (`-`/`+` refused) or Redis's invalid-ID error.
fn strict_id(arg: &[u8]) -> Result<StreamId, CmdError> {
    StreamId::parse(arg, 0, true, false)
        .map(|(id, _)| id)
        .ok_or_else(|| CmdError::msg(INVALID_ID))
}

/// Redis `streamParseIntervalIDOrReply`: `(` makes the bound exclusive.
fn interval_id(arg: &[u8], missing_seq: u64) -> Result<(StreamId, bool), CmdError> {
    if arg.len() > 1 && arg[0] == b'(' {
        let id = StreamId::parse(&arg[1..], missing_seq, true, false)
            .ok_or_else(|| CmdError::msg(INVALID_ID))?;
        Ok((id.0, true))
    } else {
        let id = StreamId::parse(arg, missing_seq, false, false)
            .ok_or_else(|| CmdError::msg(INVALID_ID))?;
        Ok((id.0, false))
    }
}

fn start_bound(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (id, ex) = interval_id(arg, 0)?;
    if ex {
        return id
            .incr()
            .ok_or_else(|| CmdError::msg("ERR invalid start ID for the interval"));
    }
    Ok(id)
}

fn end_bound(arg: &[u8]) -> Result<StreamId, CmdError> {
    let (id, ex) = interval_id(arg, u64::MAX)?;
    if ex {
        return id
            .decr()
            .ok_or_else(|| CmdError::msg("ERR invalid end ID for the interval"));
    }
    Ok(id)
}

/// "-NOGROUP ..." texts quote the key and group as C's `%s`.
fn nogroup(prefix: &str, a: &[u8], mid: &str, b: &[u8], suffix: &str) -> CmdError {
    let mut v = prefix.as_bytes().to_vec();
    v.extend_from_slice(crate::error::c_str(a, usize::MAX));
    v.extend_from_slice(mid.as_bytes());
    v.extend_from_slice(crate::error::c_str(b, usize::MAX));
    v.extend_from_slice(suffix.as_bytes());
    CmdError::Raw(v)
}

fn subcommand_syntax(argv: &[&[u8]]) -> CmdError {
    crate::cmd::server::subcommand_syntax_error(argv)
}

fn node_max_entries(ctx: &Ctx<'_, '_>) -> u32 {
    ctx.server
        .config
        .get("stream-node-max-entries")
        .and_then(|v| v.parse::<u64>().ok())
        .map(|v| v.min(u64::from(u32::MAX)) as u32)
        .unwrap_or(100)
}

// ---------------------------------------------------------------------------
// XADD / XTRIM
// ---------------------------------------------------------------------------

/// Parsed XADD/XTRIM options (Redis `streamAddTrimArgs`).
struct AddTrimArgs {
    trim: Option<Trim>,
    approx: bool,
    limit: u64,
    nomkstream: bool,
    id: Option<(StreamId, bool)>,
}

/// Redis `streamParseAddOrTrimArgsOrReply`. Returns the options and the
/// index of the ID argument (XADD) or the end of the options.
fn parse_add_trim(
    argv: &[&[u8]],
    xadd: bool,
    node_max: u32,
) -> Result<(AddTrimArgs, usize), CmdError> {
    let mut a = AddTrimArgs {
        trim: None,
        approx: false,
        limit: 0,
        nomkstream: false,
        id: None,
    };
    let mut limit_given = false;
    let mut limit: i64 = 0;
    let mut i = 2;
    let argc = argv.len();
    while i < argc {
        let moreargs = argc - 1 - i;
        let opt = argv[i];
        if xadd && opt == b"*" {
            break;
        } else if (eq(opt, "maxlen") || eq(opt, "minid")) && moreargs > 0 {
            let maxlen = eq(opt, "maxlen");
            if a.trim.is_some() {
                return err(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                );
            }
            a.approx = false;
            let next = argv[i + 1];
            if moreargs >= 2 && next == b"~" {
                a.approx = true;
                i += 1;
            } else if moreargs >= 2 && next == b"=" {
                i += 1;
            }
            if maxlen {
                let n = int(argv[i + 1])?;
                if n < 0 {
                    return err("ERR The MAXLEN argument must be >= 0.");
                }
                a.trim = Some(Trim::MaxLen(n as u64));
            } else {
                a.trim = Some(Trim::MinId(strict_id(argv[i + 1])?));
            }
            i += 1;
        } else if eq(opt, "limit") && moreargs > 0 {
            limit = int(argv[i + 1])?;
            if limit < 0 {
                return err("ERR The LIMIT argument must be >= 0.");
            }
            limit_given = true;
            i += 1;
        } else if xadd && eq(opt, "nomkstream") {
            a.nomkstream = true;
        } else if xadd {
            let id =
                StreamId::parse(opt, 0, true, true).ok_or_else(|| CmdError::msg(INVALID_ID))?;
            a.id = Some(id);
            break;
        } else {
            return err(SYNTAX);
        }
        i += 1;
    }
    if limit != 0 && a.trim.is_none() {
        return err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        );
    }
    if !xadd && a.trim.is_none() {
        return err("ERR syntax error, XTRIM must be called with a trimming strategy");
    }
    if a.approx {
        if !limit_given {
            let l = i64::from(node_max).saturating_mul(100);
            limit = if l <= 0 { 10_000 } else { l.min(1_000_000) };
        }
    } else {
        if limit_given {
            return err("ERR syntax error, LIMIT cannot be used without the special ~ option");
        }
        limit = 0;
    }
    a.limit = limit as u64;
    Ok((a, i))
}

fn xadd(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let node_max = node_max_entries(ctx);
    let (a, idpos) = parse_add_trim(argv, true, node_max)?;
    let field_pos = idpos + 1;
    let nf = argv.len().saturating_sub(field_pos);
    if nf < 2 || nf % 2 == 1 {
        return err("ERR wrong number of arguments for 'xadd' command");
    }
    if let Some((id, true)) = a.id {
        if id.is_zero() {
            return err("ERR The ID specified in XADD must be greater than 0-0");
        }
    }
    let now = ctx.now();
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let exists = match swrite(db, key)? {
        Some(_) => true,
        None if a.nomkstream => {
            out.null();
            return Ok(());
        }
        None => false,
    };
    if !exists {
        db.set(key, Value::Stream(Box::default()));
    }
    let Some(s) = swrite(db, key)? else {
        return Ok(());
    };
    if s.last_id == StreamId::MAX {
        return err("ERR The stream has exhausted the last possible ID, unable to add more items");
    }
    let Some(id) = s.next_id(a.id, now) else {
        return err(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
        );
    };
    let fields: Box<[Blob]> = argv[field_pos..].iter().map(|f| Blob::new(f)).collect();
    s.append(id, fields, node_max);
    // t_stream.c: the reply, `xadd` (with signalModifiedKey), then the
    // trim and its `xtrim` (no second signal).
    let trimmed = a.trim.map_or(0, |t| s.trim(t, a.approx, a.limit));
    db.dirty += 1;
    nt::flush(ctx);
    reply_id(ctx.out, id);
    nt::notify_replied(ctx, nt::STREAM, "xadd", key);
    if trimmed > 0 {
        nt::notify_only(ctx, nt::STREAM, "xtrim", key);
    }
    Ok(())
}

fn xtrim(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let node_max = node_max_entries(ctx);
    let (a, i) = parse_add_trim(argv, false, node_max)?;
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let Some(s) = swrite(db, key)? else {
        out.int(0);
        return Ok(());
    };
    if i != argv.len() {
        return err(SYNTAX);
    }
    let Some(t) = a.trim else {
        return err(SYNTAX);
    };
    let n = s.trim(t, a.approx, a.limit);
    if n > 0 {
        db.dirty += 1;
        nt::notify(ctx, nt::STREAM, "xtrim", key);
    }
    ctx.out.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------
// XLEN / XRANGE / XREVRANGE / XDEL / XSETID
// ---------------------------------------------------------------------------

fn xlen(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let n = sread(ctx.db(key), key)?.map_or(0, |s| s.len());
    nt::flush(ctx);
    ctx.out.int(n as i64);
    Ok(())
}

fn xrange(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, false)
}

fn xrevrange(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    range_generic(ctx, argv, true)
}

fn range_generic(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], rev: bool) -> CmdResult {
    let (sa, ea) = if rev {
        (argv[3], argv[2])
    } else {
        (argv[2], argv[3])
    };
    let start = start_bound(sa)?;
    let end = end_bound(ea)?;
    let mut count: i64 = -1;
    let mut j = 4;
    while j < argv.len() {
        if eq(argv[j], "count") && j + 1 < argv.len() {
            count = int(argv[j + 1])?.max(0);
            j += 2;
        } else {
            return err(SYNTAX);
        }
    }
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let Some(s) = sread(db, key)? else {
        nt::flush(ctx);
        ctx.out.array(0);
        return Ok(());
    };
    if count == 0 {
        out.null_array();
        return Ok(());
    }
    let limit = if count < 0 {
        usize::MAX
    } else {
        count as usize
    };
    let items: Vec<_> = s.range(start, end, rev).take(limit).collect();
    out.array(items.len());
    for (id, f) in items {
        reply_entry(out, id, f);
    }
    Ok(())
}

fn xdel(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    // Redis looks the key up (missing: 0, other type: WRONGTYPE) before it
    // parses any ID.
    let Some(s) = swrite(db, key)? else {
        out.int(0);
        return Ok(());
    };
    let ids = argv[2..]
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let n = s.delete(&ids);
    if n > 0 {
        db.dirty += 1;
        nt::notify(ctx, nt::STREAM, "xdel", key);
    }
    ctx.out.int(n as i64);
    Ok(())
}

fn xsetid(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let id = strict_id(argv[2])?;
    let mut entries_added: Option<u64> = None;
    let mut max_xdel = StreamId::MIN;
    let mut i = 3;
    while i < argv.len() {
        let more = i + 1 < argv.len();
        if eq(argv[i], "entriesadded") && more {
            let n = int(argv[i + 1])?;
            if n < 0 {
                return err("ERR entries_added must be positive");
            }
            entries_added = Some(n as u64);
            i += 2;
        } else if eq(argv[i], "maxdeletedid") && more {
            max_xdel = strict_id(argv[i + 1])?;
            if id < max_xdel {
                return err(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                );
            }
            i += 2;
        } else {
            return err(SYNTAX);
        }
    }
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let Some(s) = swrite(db, key)? else {
        return err(crate::error::NO_SUCH_KEY);
    };
    // Redis 7.0 checks only the top item (not the stream's current
    // max_deleted_entry_id): `XADD w 6-0 ..; XDEL w 6-0; XSETID w 3-2` is OK.
    if let Some((top, _)) = s.last_entry() {
        if id < top {
            return err(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if entries_added.is_some_and(|n| (s.len() as u64) > n) {
            return err(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            );
        }
    }
    s.last_id = id;
    if let Some(n) = entries_added {
        s.entries_added = n;
    }
    if !max_xdel.is_zero() {
        s.max_deleted_id = max_xdel;
    }
    db.dirty += 1;
    out.ok();
    // t_stream.c notifies without signalModifiedKey: no invalidation.
    nt::notify_only_replied(ctx, nt::STREAM, "xsetid", key);
    Ok(())
}

// ---------------------------------------------------------------------------
// XREAD / XREADGROUP
// ---------------------------------------------------------------------------

fn xread(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    read_generic(ctx, argv, false)
}

fn xreadgroup(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    read_generic(ctx, argv, true)
}

/// What to serve from one stream.
enum ReadFrom {
    /// Entries after this ID.
    After(StreamId),
    /// XREADGROUP `>`.
    New,
}

fn read_generic(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], group_mode: bool) -> CmdResult {
    let mut count: usize = 0;
    let mut streams_arg = 0;
    let mut group: Option<(&[u8], &[u8])> = None;
    let mut noack = false;
    // BLOCK ms (H3): None when not given.
    let mut block_ms: Option<u64> = None;
    let mut i = 1;
    let argc = argv.len();
    while i < argc {
        let moreargs = argc - i - 1;
        let o = argv[i];
        if eq(o, "block") && moreargs > 0 {
            i += 1;
            block_ms = Some(crate::blocking::parse_timeout_ms(argv[i])?);
        } else if eq(o, "count") && moreargs > 0 {
            i += 1;
            count = int(argv[i])?.max(0) as usize;
        } else if eq(o, "streams") && moreargs > 0 {
            streams_arg = i + 1;
            if !(argc - streams_arg).is_multiple_of(2) {
                // Redis 7.0 names XREAD and '$' here for XREADGROUP too.
                return err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.");
            }
            break;
        } else if eq(o, "group") && moreargs >= 2 {
            if !group_mode {
                return err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.");
            }
            group = Some((argv[i + 1], argv[i + 2]));
            i += 2;
        } else if eq(o, "noack") {
            if !group_mode {
                return err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.");
            }
            noack = true;
        } else {
            return err(SYNTAX);
        }
        i += 1;
    }
    if streams_arg == 0 {
        return err(SYNTAX);
    }
    if group_mode && group.is_none() {
        return err("ERR Missing GROUP option for XREADGROUP");
    }
    let n = (argc - streams_arg) / 2;
    let keys = &argv[streams_arg..streams_arg + n];
    let id_args = &argv[streams_arg + n..];
    let mut from: Vec<ReadFrom> = Vec::with_capacity(n);
    for (key, arg) in keys.iter().zip(id_args) {
        let db = ctx.db(key);
        let s = sread(db, key)?;
        if let Some((g, _)) = group {
            if !s.is_some_and(|s| s.groups.contains_key(g)) {
                return Err(nogroup(
                    "NOGROUP No such key '",
                    key,
                    "' or consumer group '",
                    g,
                    "' in XREADGROUP with GROUP option",
                ));
            }
        }
        if *arg == b"$" {
            if group_mode {
                return err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.");
            }
            from.push(ReadFrom::After(s.map_or(StreamId::MIN, |s| s.last_id)));
            continue;
        }
        if *arg == b">" {
            if !group_mode {
                return err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.");
            }
            from.push(ReadFrom::New);
            continue;
        }
        from.push(ReadFrom::After(strict_id(arg)?));
    }

    let now = ctx.now();
    let resp3 = ctx.out.is_resp3();
    // Replies are built per stream into a scratch writer, because the
    // outer length is only known at the end.
    let mut body = ReplyWriter::new(ctx.out.version());
    let mut served = 0usize;
    // The IDs to wait after if nothing is served (`$` resolved now, as
    // Redis does when it blocks); `>` needs none.
    let block_ids: Vec<Option<StreamId>> = if block_ms.is_some() {
        from.iter()
            .map(|f| match f {
                ReadFrom::After(id) => Some(*id),
                ReadFrom::New => None,
            })
            .collect()
    } else {
        Vec::new()
    };
    // Streams whose group got the consumer now (`xgroup-createconsumer`),
    // with the place in `body` Redis notifies at (after the key's name).
    let mut new_consumer: Vec<(usize, &[u8])> = Vec::new();
    for (key, f) in keys.iter().zip(from) {
        // The engine's events of the previous key's lookups (a `keymiss`)
        // go where Redis emits them: before the reply while nothing is
        // served, else in the body at this point.
        flush_read_events(ctx, &mut body, served);
        let (db, _) = ctx.db_out(key);
        // Redis looks every key up for reading twice (parsing, then
        // serving): hits, misses and `keymiss` events count both.
        if sread(db, key)?.is_none() {
            continue;
        }
        let Some(s) = swrite(db, key)? else {
            continue;
        };
        let mut wrote = false;
        match group {
            None => {
                let ReadFrom::After(gt) = f else {
                    continue;
                };
                let Some((top, _)) = s.last_entry() else {
                    continue;
                };
                if top <= gt {
                    continue;
                }
                let Some(start) = gt.incr() else {
                    continue;
                };
                served += 1;
                if !resp3 {
                    body.array(2);
                }
                body.bulk(key);
                let limit = if count == 0 { usize::MAX } else { count };
                let items: Vec<_> = s.range(start, StreamId::MAX, false).take(limit).collect();
                body.array(items.len());
                for (id, fl) in items {
                    reply_entry(&mut body, id, fl);
                }
            }
            Some((gname, cname)) => {
                let history = match f {
                    ReadFrom::After(id) => Some(id),
                    ReadFrom::New => None,
                };
                let gt = match history {
                    Some(id) => Some(id),
                    None => {
                        let last = s.groups.get(gname).map(|g| g.last_id).unwrap_or_default();
                        match s.last_entry() {
                            Some((top, _)) if top > last => Some(last),
                            _ => None,
                        }
                    }
                };
                // Redis creates (or refreshes) the consumer only when it
                // serves this stream now: `>` with nothing new does not.
                let Some(gt) = gt else {
                    continue;
                };
                let created = s
                    .groups
                    .get_mut(gname)
                    .is_some_and(|g| !g.consumers.contains_key(cname));
                if let Some(g) = s.groups.get_mut(gname) {
                    g.touch_consumer(cname, now);
                }
                served += 1;
                wrote = true;
                if !resp3 {
                    body.array(2);
                }
                body.bulk(key);
                if created {
                    new_consumer.push((body.len(), *key));
                }
                let start = gt.incr().unwrap_or(StreamId::MAX);
                match history {
                    Some(_) => serve_history(s, gname, cname, start, count, now, &mut body),
                    None => serve_new(s, gname, cname, start, count, noack, now, &mut body),
                }
            }
        }
        if wrote {
            db.dirty += 1;
        }
    }
    flush_read_events(ctx, &mut body, served);
    let mut shift = 0;
    for (pos, key) in new_consumer {
        body.set_push_mark(pos + shift);
        let before = body.len();
        nt::notify_only_into(ctx, &mut body, nt::STREAM, "xgroup-createconsumer", key);
        shift += body.len() - before;
    }
    if served == 0 {
        if let Some(t) = block_ms.filter(|_| !ctx.client.deny_blocking) {
            let read = BlockedRead {
                group,
                count,
                noack,
            };
            return block_read(ctx, argv[0], t, keys, &block_ids, &read);
        }
        ctx.out.null_array();
        return Ok(());
    }
    if resp3 {
        ctx.out.map(served);
    } else {
        ctx.out.array(served);
    }
    ctx.out.raw(body.as_bytes());
    Ok(())
}

/// Publish the engine's pending keyspace events of XREAD's lookups: to the
/// connection (before the reply) until a stream is served, then into the
/// reply `body` at its current end.
fn flush_read_events(ctx: &mut Ctx<'_, '_>, body: &mut ReplyWriter, served: usize) {
    if served == 0 {
        nt::flush(ctx);
    } else {
        body.mark_here();
        nt::flush_into(ctx, body);
    }
}

/// The options of an XREAD/XREADGROUP that blocks.
struct BlockedRead<'a> {
    group: Option<(&'a [u8], &'a [u8])>,
    count: usize,
    noack: bool,
}

/// Block an XREAD/XREADGROUP that found nothing (H3). Each key's waiter is
/// served by re-running the read on that key alone with blocking denied:
/// `XREAD [COUNT n] STREAMS key <id resolved at block time>` or
/// `XREADGROUP GROUP g c [COUNT n] [NOACK] STREAMS key >`, which answers a
/// null array (stay blocked) until the stream has something new.
fn block_read(
    ctx: &mut Ctx<'_, '_>,
    name: &[u8],
    timeout: u64,
    keys: &[&[u8]],
    ids: &[Option<StreamId>],
    read: &BlockedRead<'_>,
) -> CmdResult {
    let count = read.count.to_string();
    let serve = keys
        .iter()
        .zip(ids)
        .map(|(key, id)| {
            let mut a: Vec<Vec<u8>> = vec![name.to_vec()];
            if let Some((g, c)) = read.group {
                a.extend([b"GROUP".to_vec(), g.to_vec(), c.to_vec()]);
            }
            if read.count > 0 {
                a.extend([b"COUNT".to_vec(), count.as_bytes().to_vec()]);
            }
            if read.noack {
                a.push(b"NOACK".to_vec());
            }
            a.extend([b"STREAMS".to_vec(), key.to_vec()]);
            match id {
                Some(id) => a.push(id.to_string().into_bytes()),
                None => a.push(b">".to_vec()),
            }
            (Blob::new(key), a)
        })
        .collect();
    let kind = crate::blocking::Kind::Stream {
        group: read.group.map(|(g, _)| Blob::new(g)),
    };
    crate::blocking::block(ctx, kind, timeout, serve)
}

/// XREADGROUP with an explicit ID: the consumer's own pending entries.
fn serve_history(
    s: &mut StreamValue,
    gname: &[u8],
    cname: &[u8],
    start: StreamId,
    count: usize,
    now: u64,
    out: &mut ReplyWriter,
) {
    let Some(g) = s.groups.get_mut(gname) else {
        out.array(0);
        return;
    };
    let ids: Vec<StreamId> = match g.consumers.get(cname) {
        Some(c) => c
            .pel
            .range(start..)
            .take(if count == 0 { usize::MAX } else { count })
            .copied()
            .collect(),
        None => Vec::new(),
    };
    out.array(ids.len());
    for id in ids {
        match s.get(id) {
            Some(fields) => {
                reply_entry(out, id, fields);
                if let Some(p) = s.groups.get_mut(gname).and_then(|g| g.pel.get_mut(&id)) {
                    p.delivery_time = now;
                    p.delivery_count += 1;
                }
            }
            None => {
                out.array(2);
                reply_id(out, id);
                out.null_array();
            }
        }
    }
}

/// XREADGROUP `>`: new entries, added to the PELs unless NOACK.
#[allow(clippy::too_many_arguments)] // the read's parameters, spelled out
fn serve_new(
    s: &mut StreamValue,
    gname: &[u8],
    cname: &[u8],
    start: StreamId,
    count: usize,
    noack: bool,
    now: u64,
    out: &mut ReplyWriter,
) {
    let limit = if count == 0 { usize::MAX } else { count };
    let ids: Vec<StreamId> = s
        .range(start, StreamId::MAX, false)
        .take(limit)
        .map(|(id, _)| id)
        .collect();
    out.array(ids.len());
    for id in ids {
        s.advance_group(gname, id);
        if let Some(fields) = s.get(id) {
            reply_entry(out, id, fields);
        }
        if noack {
            continue;
        }
        let Some(g) = s.groups.get_mut(gname) else {
            continue;
        };
        let created = match g.pel.entry(id) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(PendingEntry {
                    delivery_time: now,
                    delivery_count: 1,
                    consumer: Blob::new(cname),
                });
                true
            }
            std::collections::btree_map::Entry::Occupied(_) => false,
        };
        if created {
            if let Some(c) = g.consumers.get_mut(cname) {
                c.pel.insert(id);
            }
        } else {
            // Already pending (the group ID was moved back by SETID):
            // the entry moves to this consumer as a fresh delivery.
            g.assign(id, cname, now);
            if let Some(p) = g.pel.get_mut(&id) {
                p.delivery_count = 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// XACK / XPENDING / XCLAIM / XAUTOCLAIM
// ---------------------------------------------------------------------------

fn xack(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    // Redis answers 0 for a missing key or group before it parses the IDs
    // (lookupKeyRead: a missing key fires `keymiss`).
    if sread(db, key)?.is_none() {
        nt::flush(ctx);
        ctx.out.int(0);
        return Ok(());
    }
    let Some(g) = swrite(db, key)?.and_then(|s| s.groups.get_mut(argv[2])) else {
        out.int(0);
        return Ok(());
    };
    let ids = argv[3..]
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut n = 0;
    for id in ids {
        if g.ack(id) {
            n += 1;
        }
    }
    if n > 0 {
        db.dirty += 1;
    }
    out.int(n);
    Ok(())
}

fn xpending(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let argc = argv.len();
    let justinfo = argc == 3;
    if argc != 3 && !(6..=9).contains(&argc) {
        return err(SYNTAX);
    }
    let mut start = StreamId::MIN;
    let mut end = StreamId::MAX;
    let mut count: i64 = 0;
    let mut minidle: i64 = 0;
    let mut consumer: Option<&[u8]> = None;
    if argc >= 6 {
        let mut si = 3;
        if eq(argv[3], "idle") {
            minidle = int(argv[4])?;
            if argc < 8 {
                return err(SYNTAX);
            }
            si += 2;
        }
        count = int(argv[si + 2])?.max(0);
        start = start_bound(argv[si])?;
        end = end_bound(argv[si + 1])?;
        if si + 3 < argc {
            consumer = Some(argv[si + 3]);
        }
    }
    let key = argv[1];
    let now = ctx.now();
    let (db, out) = ctx.db_out(key);
    let s = sread(db, key)?;
    let Some(g) = s.and_then(|s| s.groups.get(argv[2])) else {
        return Err(nogroup(
            "NOGROUP No such key '",
            key,
            "' or consumer group '",
            argv[2],
            "'",
        ));
    };
    if justinfo {
        out.array(4);
        out.int(g.pel.len() as i64);
        match (g.pel.keys().next(), g.pel.keys().next_back()) {
            (Some(&first), Some(&last)) => {
                reply_id(out, first);
                reply_id(out, last);
                let owners: Vec<_> = g
                    .consumers
                    .iter()
                    .filter(|(_, c)| !c.pel.is_empty())
                    .collect();
                out.array(owners.len());
                for (name, c) in owners {
                    out.array(2);
                    out.bulk(name);
                    out.bulk_int(c.pel.len() as i64);
                }
            }
            _ => {
                out.null();
                out.null();
                out.null_array();
            }
        }
        return Ok(());
    }
    let ids: Box<dyn Iterator<Item = StreamId>> = match consumer {
        Some(c) => match g.consumers.get(c) {
            Some(c) => Box::new(c.pel.range(start..).copied()),
            None => {
                out.array(0);
                return Ok(());
            }
        },
        None => Box::new(g.pel.range(start..).map(|(k, _)| *k)),
    };
    let mut rows = Vec::new();
    for id in ids {
        if count == 0 || id > end {
            break;
        }
        let Some(p) = g.pel.get(&id) else { continue };
        let idle = now as i64 - p.delivery_time as i64;
        if minidle != 0 && idle < minidle {
            continue;
        }
        count -= 1;
        rows.push((id, p, idle.max(0)));
    }
    out.array(rows.len());
    for (id, p, idle) in rows {
        out.array(4);
        reply_id(out, id);
        out.bulk(&p.consumer);
        out.int(idle);
        out.int(p.delivery_count as i64);
    }
    Ok(())
}

fn xclaim(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let gname = argv[2];
    let cname = argv[3];
    let now = ctx.now();
    let (db, out) = ctx.db_out(key);
    // lookupKeyRead: a missing key fires `keymiss`.
    let has_group = sread(db, key)?.is_some_and(|s| s.groups.contains_key(gname));
    if !has_group {
        return Err(nogroup(
            "NOGROUP No such key '",
            key,
            "' or consumer group '",
            gname,
            "'",
        ));
    }
    let minidle =
        crate::args::int_or(argv[4], "ERR Invalid min-idle-time argument for XCLAIM")?.max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < argv.len() {
        match StreamId::parse(argv[j], 0, true, false) {
            Some((id, _)) => ids.push(id),
            None => break,
        }
        j += 1;
    }
    let mut retrycount: i64 = -1;
    let mut deliverytime: i64 = -1;
    let mut force = false;
    let mut justid = false;
    let mut last_id = StreamId::MIN;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        let opt = argv[j];
        if eq(opt, "force") {
            force = true;
        } else if eq(opt, "justid") {
            justid = true;
        } else if eq(opt, "idle") && more {
            j += 1;
            let v = crate::args::int_or(argv[j], "ERR Invalid IDLE option argument for XCLAIM")?;
            deliverytime = (now as i64).wrapping_sub(v);
        } else if eq(opt, "time") && more {
            j += 1;
            deliverytime =
                crate::args::int_or(argv[j], "ERR Invalid TIME option argument for XCLAIM")?;
        } else if eq(opt, "retrycount") && more {
            j += 1;
            retrycount =
                crate::args::int_or(argv[j], "ERR Invalid RETRYCOUNT option argument for XCLAIM")?;
        } else if eq(opt, "lastid") && more {
            j += 1;
            last_id = strict_id(argv[j])?;
        } else {
            return err_arg("ERR Unrecognized XCLAIM option '", opt, usize::MAX, "'");
        }
        j += 1;
    }
    let Some(s) = swrite(db, key)? else {
        return Ok(());
    };
    let mut dirty = false;
    if let Some(g) = s.groups.get_mut(gname) {
        if last_id > g.last_id {
            g.last_id = last_id;
            dirty = true;
        }
    }
    let delivery = if deliverytime < 0 || deliverytime > now as i64 {
        now
    } else {
        deliverytime as u64
    };
    let mut claimed: Vec<StreamId> = Vec::new();
    let mut consumer_ready = false;
    let mut new_consumer = false;
    for id in ids {
        let exists = s.contains(id);
        let Some(g) = s.groups.get_mut(gname) else {
            break;
        };
        if !exists {
            if g.ack(id) {
                dirty = true;
            }
            continue;
        }
        let mut forced = false;
        if force && !g.pel.contains_key(&id) {
            g.pel.insert(
                id,
                PendingEntry {
                    delivery_time: now,
                    delivery_count: 1,
                    consumer: Blob::default(),
                },
            );
            forced = true;
        }
        let Some(p) = g.pel.get(&id) else {
            continue;
        };
        if !forced && minidle != 0 {
            let idle = now as i64 - p.delivery_time as i64;
            if idle < minidle {
                continue;
            }
        }
        if !consumer_ready {
            new_consumer = !g.consumers.contains_key(cname);
            g.touch_consumer(cname, now);
            consumer_ready = true;
        }
        if forced {
            if let Some(p) = g.pel.get_mut(&id) {
                p.consumer = Blob::new(cname);
            }
            if let Some(c) = g.consumers.get_mut(cname) {
                c.pel.insert(id);
            }
        }
        g.assign(id, cname, delivery);
        if let Some(p) = g.pel.get_mut(&id) {
            if retrycount >= 0 {
                p.delivery_count = retrycount as u64;
            } else if !justid {
                p.delivery_count += 1;
            }
        }
        dirty = true;
        claimed.push(id);
    }
    out.array(claimed.len());
    // Redis creates the consumer (and notifies) when it claims the first
    // entry: after the array header, before the entries.
    let at = out.len();
    for id in claimed {
        if justid {
            reply_id(out, id);
        } else {
            match s.get(id) {
                Some(f) => reply_entry(out, id, f),
                None => out.null(),
            }
        }
    }
    if dirty {
        db.dirty += 1;
    }
    if new_consumer {
        nt::notify_only_at(ctx, at, nt::STREAM, "xgroup-createconsumer", key);
    }
    Ok(())
}

fn xautoclaim(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let gname = argv[2];
    let cname = argv[3];
    let minidle =
        crate::args::int_or(argv[4], "ERR Invalid min-idle-time argument for XAUTOCLAIM")?.max(0);
    let start = start_bound(argv[5])?;
    let mut count: i64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if eq(argv[j], "count") && more {
            let max = i64::MAX / 16;
            match ferrocache_engine::types::string::parse_i64(argv[j + 1]) {
                Some(n) if (1..=max).contains(&n) => count = n,
                _ => return err("ERR COUNT must be > 0"),
            }
            j += 1;
        } else if eq(argv[j], "justid") {
            justid = true;
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    let now = ctx.now();
    let (db, out) = ctx.db_out(key);
    // lookupKeyRead: a missing key fires `keymiss`.
    if sread(db, key)?.is_none() {
        return Err(nogroup(
            "NOGROUP No such key '",
            key,
            "' or consumer group '",
            gname,
            "'",
        ));
    }
    let Some(s) = swrite(db, key)?.filter(|s| s.groups.contains_key(gname)) else {
        return Err(nogroup(
            "NOGROUP No such key '",
            key,
            "' or consumer group '",
            gname,
            "'",
        ));
    };
    let mut attempts = count.saturating_mul(10);
    let mut deleted: Vec<StreamId> = Vec::new();
    let mut claimed: Vec<StreamId> = Vec::new();
    let mut cursor = start;
    let mut next: Option<StreamId> = None;
    let mut consumer_ready = false;
    let mut new_consumer = false;
    // Walk the PEL from `start` as Redis's rax iterator: the loop stops when
    // attempts or count run out, and the entry after the last one visited
    // becomes the cursor.
    loop {
        if attempts == 0 {
            next = first_pending(s, gname, cursor);
            break;
        }
        attempts -= 1;
        if count == 0 {
            next = first_pending(s, gname, cursor);
            break;
        }
        let Some(id) = first_pending(s, gname, cursor) else {
            break;
        };
        cursor = match id.incr() {
            Some(n) => n,
            None => {
                // The last possible ID: nothing can follow it.
                StreamId::MAX
            }
        };
        let exists = s.contains(id);
        let Some(g) = s.groups.get_mut(gname) else {
            break;
        };
        if !exists {
            g.ack(id);
            deleted.push(id);
            count -= 1;
            if id == StreamId::MAX {
                break;
            }
            continue;
        }
        let idle_ok = match g.pel.get(&id) {
            Some(p) => minidle == 0 || now as i64 - p.delivery_time as i64 >= minidle,
            None => false,
        };
        if idle_ok {
            if !consumer_ready {
                new_consumer = !g.consumers.contains_key(cname);
                g.touch_consumer(cname, now);
                consumer_ready = true;
            }
            g.assign(id, cname, now);
            if !justid {
                if let Some(p) = g.pel.get_mut(&id) {
                    p.delivery_count += 1;
                }
            }
            claimed.push(id);
            count -= 1;
        }
        if id == StreamId::MAX {
            break;
        }
    }
    out.array(3);
    reply_id(out, next.unwrap_or(StreamId::MIN));
    out.array(claimed.len());
    // The consumer's event goes where Redis creates it: before the
    // claimed entries.
    let at = out.len();
    for id in &claimed {
        if justid {
            reply_id(out, *id);
        } else if let Some(f) = s.get(*id) {
            reply_entry(out, *id, f);
        }
    }
    out.array(deleted.len());
    for id in &deleted {
        reply_id(out, *id);
    }
    if !claimed.is_empty() || !deleted.is_empty() {
        db.dirty += 1;
    }
    if new_consumer {
        nt::notify_only_at(ctx, at, nt::STREAM, "xgroup-createconsumer", key);
    }
    Ok(())
}

fn first_pending(s: &StreamValue, gname: &[u8], from: StreamId) -> Option<StreamId> {
    s.groups
        .get(gname)
        .and_then(|g| g.pel.range(from..).next().map(|(k, _)| *k))
}

// ---------------------------------------------------------------------------
// XGROUP
// ---------------------------------------------------------------------------

fn xgroup(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let opt = argv[1];
    let argc = argv.len();
    let create = eq(opt, "create");
    let setid = eq(opt, "setid");
    let mut mkstream = false;
    let mut entries_read: i64 = -1;
    let mut i = 5;
    while i < argc {
        if create && eq(argv[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if (create || setid) && eq(argv[i], "entriesread") && i + 1 < argc {
            entries_read = int(argv[i + 1])?;
            if entries_read < 0 && entries_read != -1 {
                return err("ERR value for ENTRIESREAD must be positive or -1");
            }
            i += 2;
        } else {
            return Err(subcommand_syntax(argv));
        }
    }
    let key = argv[2];
    let gname = argv[3];
    let now = ctx.now();
    let (db, out) = ctx.db_out(key);
    let exists = swrite(db, key)?.is_some();
    if !mkstream {
        let Some(s) = swrite(db, key)? else {
            return err("ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.");
        };
        if !s.groups.contains_key(gname)
            && (setid || eq(opt, "createconsumer") || eq(opt, "delconsumer"))
        {
            return Err(nogroup(
                "NOGROUP No such consumer group '",
                gname,
                "' for key name '",
                key,
                "'",
            ));
        }
    }
    let er = if entries_read < 0 {
        None
    } else {
        Some(entries_read as u64)
    };
    // t_stream.c: each subcommand that changes something fires its
    // `xgroup-*` event without signalModifiedKey; only MKSTREAM's new
    // stream is signalled.
    let mut event: Option<&str> = None;
    let mut made_stream = false;
    // Replies in Redis's order around the event: CREATE and SETID reply
    // first, CREATECONSUMER and DELCONSUMER after.
    let mut ok_reply = false;
    let mut int_reply: Option<i64> = None;
    if create && (5..=8).contains(&argc) {
        let id = if argv[4] == b"$" {
            swrite(db, key)?.map_or(StreamId::MIN, |s| s.last_id)
        } else {
            strict_id(argv[4])?
        };
        if !exists {
            db.set(key, Value::Stream(Box::default()));
            made_stream = true;
        }
        let Some(s) = swrite(db, key)? else {
            return Ok(());
        };
        if s.groups.contains_key(gname) {
            return err("BUSYGROUP Consumer Group name already exists");
        }
        s.groups
            .insert(Blob::new(gname), ConsumerGroup::new(id, er));
        db.dirty += 1;
        ok_reply = true;
        event = Some("xgroup-create");
    } else if setid && (argc == 5 || argc == 7) {
        let Some(s) = swrite(db, key)? else {
            return Ok(());
        };
        let id = if argv[4] == b"$" {
            s.last_id
        } else {
            StreamId::parse(argv[4], 0, false, false)
                .map(|x| x.0)
                .ok_or_else(|| CmdError::msg(INVALID_ID))?
        };
        if let Some(g) = s.groups.get_mut(gname) {
            g.last_id = id;
            g.entries_read = er;
        }
        db.dirty += 1;
        ok_reply = true;
        event = Some("xgroup-setid");
    } else if eq(opt, "destroy") && argc == 4 {
        let removed = swrite(db, key)?
            .and_then(|s| s.groups.remove(gname))
            .is_some();
        if removed {
            db.dirty += 1;
            event = Some("xgroup-destroy");
        }
        out.int(i64::from(removed));
    } else if eq(opt, "createconsumer") && argc == 5 {
        let created = swrite(db, key)?
            .and_then(|s| s.groups.get_mut(gname))
            .is_some_and(|g| g.create_consumer(argv[4], now));
        if created {
            db.dirty += 1;
            event = Some("xgroup-createconsumer");
        }
        int_reply = Some(i64::from(created));
    } else if eq(opt, "delconsumer") && argc == 5 {
        let g = swrite(db, key)?.and_then(|s| s.groups.get_mut(gname));
        let pending = match g {
            Some(g) if g.consumers.contains_key(argv[4]) => {
                event = Some("xgroup-delconsumer");
                g.delete_consumer(argv[4])
            }
            _ => 0,
        };
        db.dirty += 1;
        int_reply = Some(pending as i64);
    } else {
        return Err(subcommand_syntax(argv));
    }
    if made_stream {
        nt::signal_modified(ctx, key);
        nt::flush(ctx);
    }
    // t_stream.c replies first for CREATE, SETID and DESTROY, and notifies
    // first for CREATECONSUMER and DELCONSUMER.
    if ok_reply || event == Some("xgroup-destroy") {
        if ok_reply {
            ctx.out.ok();
        }
        if let Some(n) = int_reply {
            ctx.out.int(n);
        }
        if let Some(ev) = event {
            nt::notify_only_replied(ctx, nt::STREAM, ev, key);
        }
        return Ok(());
    }
    if let Some(ev) = event {
        nt::notify_only(ctx, nt::STREAM, ev, key);
    }
    if let Some(n) = int_reply {
        ctx.out.int(n);
    }
    Ok(())
}

fn xgroup_help(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    crate::cmd::server::reply_help(
        ctx,
        "XGROUP",
        &[
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// XINFO
// ---------------------------------------------------------------------------

fn xinfo_help(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    crate::cmd::server::reply_help(
        ctx,
        "XINFO",
        &[
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
        ],
    );
    Ok(())
}

fn reply_lag(out: &mut ReplyWriter, s: &StreamValue, g: &ConsumerGroup) {
    match s.group_lag(g) {
        Some(l) => out.int(l as i64),
        None => out.null(),
    }
}

fn reply_entries_read(out: &mut ReplyWriter, g: &ConsumerGroup) {
    match g.entries_read {
        Some(n) => out.int(n as i64),
        None => out.null(),
    }
}

fn xinfo_stream(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[2];
    let (db, out) = ctx.db_out(key);
    let Some(s) = sread(db, key)? else {
        return err(crate::error::NO_SUCH_KEY);
    };
    let opts = &argv[3..];
    let mut full = true;
    let mut count: i64 = 10;
    if opts.is_empty() {
        full = false;
    } else {
        if opts.len() != 1 && opts.len() != 3 {
            return Err(subcommand_syntax(argv));
        }
        if !eq(opts[0], "full") {
            return Err(subcommand_syntax(argv));
        }
        if opts.len() == 3 {
            if !eq(opts[1], "count") {
                return Err(subcommand_syntax(argv));
            }
            count = int(opts[2])?;
            if count < 0 {
                count = 10;
            }
        }
    }
    let limit = if count == 0 {
        usize::MAX
    } else {
        count as usize
    };
    out.map(if full { 9 } else { 10 });
    out.bulk(b"length");
    out.int(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int(s.radix_nodes() as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, s.max_deleted_id);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, s.first_id);
    if !full {
        out.bulk(b"groups");
        out.int(s.groups.len() as i64);
        out.bulk(b"first-entry");
        match s.first_entry() {
            Some((id, f)) => reply_entry(out, id, f),
            None => out.null(),
        }
        out.bulk(b"last-entry");
        match s.last_entry() {
            Some((id, f)) => reply_entry(out, id, f),
            None => out.null(),
        }
        return Ok(());
    }
    out.bulk(b"entries");
    let items: Vec<_> = s
        .range(StreamId::MIN, StreamId::MAX, false)
        .take(limit)
        .collect();
    out.array(items.len());
    for (id, f) in items {
        reply_entry(out, id, f);
    }
    out.bulk(b"groups");
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(out, g);
        out.bulk(b"lag");
        reply_lag(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let n = g.pel.len().min(limit);
        out.array(n);
        for (id, p) in g.pel.iter().take(n) {
            out.array(4);
            reply_id(out, *id);
            out.bulk(&p.consumer);
            out.int(p.delivery_time as i64);
            out.int(p.delivery_count as i64);
        }
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for (cname, c) in &g.consumers {
            out.map(4);
            out.bulk(b"name");
            out.bulk(cname);
            out.bulk(b"seen-time");
            out.int(c.seen_time as i64);
            out.bulk(b"pel-count");
            out.int(c.pel.len() as i64);
            out.bulk(b"pending");
            let n = c.pel.len().min(limit);
            out.array(n);
            for id in c.pel.iter().take(n) {
                out.array(3);
                reply_id(out, *id);
                let p = g.pel.get(id);
                out.int(p.map_or(0, |p| p.delivery_time as i64));
                out.int(p.map_or(0, |p| p.delivery_count as i64));
            }
        }
    }
    Ok(())
}

fn xinfo_groups(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[2];
    let (db, out) = ctx.db_out(key);
    let Some(s) = sread(db, key)? else {
        return err(crate::error::NO_SUCH_KEY);
    };
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(6);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"pending");
        out.int(g.pel.len() as i64);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        out.bulk(b"entries-read");
        reply_entries_read(out, g);
        out.bulk(b"lag");
        reply_lag(out, s, g);
    }
    Ok(())
}

fn xinfo_consumers(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[2];
    let now = ctx.now();
    let (db, out) = ctx.db_out(key);
    let Some(s) = sread(db, key)? else {
        return err(crate::error::NO_SUCH_KEY);
    };
    let Some(g) = s.groups.get(argv[3]) else {
        return Err(nogroup(
            "NOGROUP No such consumer group '",
            argv[3],
            "' for key name '",
            key,
            "'",
        ));
    };
    out.array(g.consumers.len());
    for (name, c) in &g.consumers {
        out.map(3);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"pending");
        out.int(c.pel.len() as i64);
        out.bulk(b"idle");
        out.int((now as i64 - c.seen_time as i64).max(0));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_text() {
        assert_eq!(IdBuf::new(StreamId::new(0, 0)).as_bytes(), b"0-0");
        assert_eq!(
            IdBuf::new(StreamId::MAX).as_bytes(),
            b"18446744073709551615-18446744073709551615"
        );
    }

    #[test]
    fn keys_after_streams() {
        let argv: Vec<&[u8]> = vec![b"xread", b"count", b"1", b"streams", b"a", b"b", b"0", b"0"];
        assert_eq!(xread_keys(&argv), vec![4, 5]);
        let argv: Vec<&[u8]> = vec![b"xread", b"streams", b"a"];
        assert_eq!(xread_keys(&argv), Vec::<usize>::new());
    }
}
