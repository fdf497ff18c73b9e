//! Bitmap commands: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD,
//! BITFIELD_RO (Redis `bitops.c`, 7.0 semantics).
//!
//! Bitmaps are ordinary string values (`Value::Str`). Writes modify the
//! value in place and keep the key's TTL, as Redis's `dbUnshareStringValue`
//! path does; a write past the end grows the string with zero bytes. The
//! order in which arguments are validated and keys looked up follows the C
//! code, because it decides which error a client sees.

use crate::args::eq;
use crate::ctx::Ctx;
use crate::error::{err, CmdError, CmdResult, NOT_INTEGER, SYNTAX};
use crate::notify as nt;
use crate::spec::{acl, flags::*, CommandSpec};
use ferrocache_engine::types::bitmap::{
    bitop_fold, check_signed_overflow, check_unsigned_overflow, count_range, find_bit, get_bit,
    get_signed, get_unsigned, set_bit, set_unsigned, BitOp, Overflow,
};
use ferrocache_engine::types::string::{parse_i64, StrEncoding};
use ferrocache_engine::{Blob, Value, WrongType};
use std::sync::atomic::Ordering;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("setbit", 4, WRITE | DENYOOM, (1, 1, 1), setbit)
        .acl(acl::BITMAP)
        .doc("bitmap", "2.2.0", "Sets or clears the bit at offset in the string value stored at key", "O(1)"),
    CommandSpec::new("getbit", 3, READONLY | FAST, (1, 1, 1), getbit)
        .acl(acl::BITMAP)
        .doc("bitmap", "2.2.0", "Returns the bit value at offset in the string value stored at key", "O(1)"),
    CommandSpec::new("bitcount", -2, READONLY, (1, 1, 1), bitcount)
        .acl(acl::BITMAP)
        .doc("bitmap", "2.6.0", "Count set bits in a string", "O(N)"),
    CommandSpec::new("bitpos", -3, READONLY, (1, 1, 1), bitpos)
        .acl(acl::BITMAP)
        .doc("bitmap", "2.8.7", "Find first bit set or clear in a string", "O(N)"),
    CommandSpec::new("bitop", -4, WRITE | DENYOOM, (2, -1, 1), bitop)
        .acl(acl::BITMAP)
        .doc("bitmap", "2.6.0", "Perform bitwise operations between strings", "O(N)"),
    CommandSpec::new("bitfield", -2, WRITE | DENYOOM, (1, 1, 1), bitfield)
        .acl(acl::BITMAP)
        .doc("bitmap", "3.2.0", "Perform arbitrary bitfield integer operations on strings", "O(1) for each subcommand specified"),
    CommandSpec::new("bitfield_ro", -2, READONLY | FAST, (1, 1, 1), bitfield_ro)
        .acl(acl::BITMAP)
        .doc("bitmap", "6.0.0", "Perform arbitrary bitfield integer operations on strings. Read-only variant of BITFIELD", "O(1) for each subcommand specified"),
];

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_BIT: &str = "ERR bit is not an integer or out of range";
const TOO_BIG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// Redis's `getBitOffsetFromArgument`: a non-negative bit offset whose byte
/// lies below `proto-max-bulk-len`. With `hash_bits`, BITFIELD's `#N` form
/// is accepted and means `N * bits`.
fn bit_offset(ctx: &Ctx<'_, '_>, arg: &[u8], hash_bits: Option<u32>) -> Result<u64, CmdError> {
    let (hash, digits) = match (hash_bits, arg.split_first()) {
        (Some(b), Some((b'#', rest))) if b > 0 => (Some(b), rest),
        _ => (None, arg),
    };
    let mut off = parse_i64(digits).ok_or_else(|| CmdError::msg(BAD_OFFSET))?;
    if let Some(b) = hash {
        off = off.wrapping_mul(i64::from(b));
    }
    let max = ctx
        .server
        .config
        .hot()
        .proto_max_bulk_len
        .load(Ordering::Relaxed);
    if off < 0 || (off >> 3) >= max {
        return err(BAD_OFFSET);
    }
    Ok(off as u64)
}

/// A string value for a bit write: the key's value grown (with zero bytes)
/// to hold byte `min_len - 1`, or a new zero-filled string. Returns the
/// bytes and whether the key existed; the caller stores them back with
/// [`store_bits`]. The growth is a fallible reservation: with a raised
/// `proto-max-bulk-len` an offset can ask for more memory than exists, and
/// that must be an error reply, not an abort (redis-server dies there).
fn take_bits(
    ctx: &mut Ctx<'_, '_>,
    key: &[u8],
    min_len: usize,
) -> Result<(Vec<u8>, bool), CmdError> {
    let grow = |v: &mut Vec<u8>| -> CmdResult {
        if v.len() < min_len {
            v.try_reserve_exact(min_len - v.len())
                .map_err(|_| CmdError::msg(TOO_BIG))?;
            v.resize(min_len, 0);
        }
        Ok(())
    };
    match ctx.db(key).get_mut(key) {
        Some(e) => {
            let Value::Str(s) = &mut e.value else {
                return Err(WrongType.into());
            };
            // `into_vec` of a heap blob hands its buffer over without a
            // copy; a failed reservation puts it back unchanged.
            let mut v = std::mem::take(s).into_vec();
            if let Err(e) = grow(&mut v) {
                *s = Blob::from_vec(v);
                return Err(e);
            }
            Ok((v, true))
        }
        None => {
            let mut v = Vec::new();
            grow(&mut v)?;
            Ok((v, false))
        }
    }
}

/// Store what [`take_bits`] handed out: in place (TTL kept) for an existing
/// key, as a new key otherwise.
fn store_bits(ctx: &mut Ctx<'_, '_>, key: &[u8], v: Vec<u8>, existed: bool, changed: bool) {
    let db = ctx.db(key);
    // Redis writes bits into an unshared (raw) string: OBJECT ENCODING says
    // `raw` afterwards, whatever the content.
    if existed {
        if let Some(e) = db.get_mut(key) {
            e.value = Value::Str(Blob::from_vec(v));
            e.set_str_encoding(StrEncoding::Raw);
        }
        if changed {
            db.dirty += 1;
        }
    } else {
        db.set_encoded(key, Value::Str(Blob::from_vec(v)), StrEncoding::Raw);
    }
}

fn setbit(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let off = bit_offset(ctx, argv[2], None)?;
    let on = parse_i64(argv[3]).ok_or_else(|| CmdError::msg(BAD_BIT))?;
    if on & !1 != 0 {
        return err(BAD_BIT);
    }
    let byte = usize::try_from(off >> 3).map_err(|_| CmdError::msg(BAD_OFFSET))?;
    let (db, out) = ctx.db_out(key);
    // The common case, a bit inside an existing string, flips it in place.
    if let Some(e) = db.get_mut(key) {
        let Value::Str(s) = &mut e.value else {
            return Err(WrongType.into());
        };
        if byte < s.len() {
            let old = set_bit(s.as_mut_slice(), off, on == 1);
            e.set_str_encoding(StrEncoding::Raw);
            out.int(i64::from(old));
            // Redis signals (WATCH, notifications) and counts a write only
            // for a bit that changed (or a grown string).
            if i64::from(old) != on {
                db.dirty += 1;
                nt::notify(ctx, nt::STRING, "setbit", key);
            }
            return Ok(());
        }
    }
    let (mut v, existed) = take_bits(ctx, key, byte + 1)?;
    let old = set_bit(&mut v, off, on == 1);
    store_bits(ctx, key, v, existed, true);
    ctx.out.int(i64::from(old));
    nt::notify(ctx, nt::STRING, "setbit", key);
    Ok(())
}

fn getbit(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let off = bit_offset(ctx, argv[2], None)?;
    let (db, out) = ctx.db_out(argv[1]);
    let bit = match db.get(argv[1]) {
        None => false,
        Some(e) => get_bit(e.value.as_str()?, off),
    };
    out.int(i64::from(bit));
    Ok(())
}

/// BIT or BYTE unit argument: true for BIT.
fn unit_is_bit(arg: &[u8]) -> Result<bool, CmdError> {
    if eq(arg, "bit") {
        Ok(true)
    } else if eq(arg, "byte") {
        Ok(false)
    } else {
        err(SYNTAX)
    }
}

/// Resolve a `start end` range (negative = from the end) over a string of
/// `len` bytes into inclusive bit positions, as Redis's BITCOUNT/BITPOS
/// do. None for an empty range.
fn bit_range(len: usize, start: i64, end: i64, is_bit: bool) -> Option<(u64, u64)> {
    let total = if is_bit {
        (len as i64).saturating_mul(8)
    } else {
        len as i64
    };
    let mut start = if start < 0 { total + start } else { start };
    let mut end = if end < 0 { total + end } else { end };
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    if start > end {
        return None;
    }
    if is_bit {
        Some((start as u64, end as u64))
    } else {
        Some((start as u64 * 8, end as u64 * 8 + 7))
    }
}

fn bitcount(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (db, out) = ctx.db_out(argv[1]);
    // Redis 7.0 looks the key up before it parses the range.
    let Some(e) = db.get(argv[1]) else {
        out.int(0);
        return Ok(());
    };
    let s = e.value.as_str()?;
    let range = match argv.len() {
        2 => bit_range(s.len(), 0, -1, false),
        4 | 5 => {
            let start = parse_i64(argv[2]).ok_or_else(|| CmdError::msg(NOT_INTEGER))?;
            let end = parse_i64(argv[3]).ok_or_else(|| CmdError::msg(NOT_INTEGER))?;
            if start < 0 && end < 0 && start > end {
                out.int(0);
                return Ok(());
            }
            let is_bit = match argv.get(4) {
                Some(u) => unit_is_bit(u)?,
                None => false,
            };
            bit_range(s.len(), start, end, is_bit)
        }
        _ => return err(SYNTAX),
    };
    let n = range.map_or(0, |(a, b)| count_range(s, a, b));
    out.int(n as i64);
    Ok(())
}

fn bitpos(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let bit = parse_i64(argv[2]).ok_or_else(|| CmdError::msg(NOT_INTEGER))?;
    if bit != 0 && bit != 1 {
        return err("ERR The bit argument must be 1 or 0.");
    }
    let bit = bit == 1;
    let (db, out) = ctx.db_out(argv[1]);
    // A missing key is an infinite run of zeros.
    let Some(e) = db.get(argv[1]) else {
        out.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let s = e.value.as_str()?;
    let (range, end_given) = match argv.len() {
        3 => (bit_range(s.len(), 0, -1, false), false),
        4..=6 => {
            let start = parse_i64(argv[3]).ok_or_else(|| CmdError::msg(NOT_INTEGER))?;
            let is_bit = match argv.get(5) {
                Some(u) => unit_is_bit(u)?,
                None => false,
            };
            let end = match argv.get(4) {
                Some(a) => parse_i64(a).ok_or_else(|| CmdError::msg(NOT_INTEGER))?,
                None => -1,
            };
            (bit_range(s.len(), start, end, is_bit), argv.len() >= 5)
        }
        _ => return err(SYNTAX),
    };
    let pos = match range {
        None => -1,
        Some((a, b)) => match find_bit(s, bit, a, b) {
            Some(p) => p as i64,
            // Looking for a 0 without an explicit end: the string is
            // considered zero-padded on the right.
            None if !bit && !end_given => b as i64 + 1,
            None => -1,
        },
    };
    out.int(pos);
    Ok(())
}

fn bitop(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let op = if eq(argv[1], "and") {
        BitOp::And
    } else if eq(argv[1], "or") {
        BitOp::Or
    } else if eq(argv[1], "xor") {
        BitOp::Xor
    } else if eq(argv[1], "not") {
        BitOp::Not
    } else {
        return err(SYNTAX);
    };
    if op == BitOp::Not && argv.len() != 4 {
        return err("ERR BITOP NOT must be called with a single source key.");
    }
    let dest = argv[2];
    // Sources are folded one at a time (each may live in another shard);
    // a non-string source fails the command before anything is written.
    let mut res = Vec::new();
    for (i, &k) in argv[3..].iter().enumerate() {
        match ctx.db(k).get(k) {
            None => bitop_fold(&mut res, &[], op, i == 0),
            Some(e) => bitop_fold(&mut res, e.value.as_str()?, op, i == 0),
        }
    }
    let n = res.len();
    let db = ctx.db(dest);
    let event = if n > 0 {
        db.set_encoded(dest, Value::Str(Blob::from_vec(res)), StrEncoding::Raw);
        Some((nt::STRING, "set"))
    } else {
        db.remove(dest).map(|_| (nt::GENERIC, "del"))
    };
    ctx.out.int(n as i64);
    if let Some((class, event)) = event {
        nt::notify(ctx, class, event, dest);
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldOp {
    Get,
    Set,
    Incrby,
}

/// One parsed BITFIELD operation.
struct Field {
    op: FieldOp,
    signed: bool,
    bits: u32,
    offset: u64,
    value: i64,
    overflow: Overflow,
}

/// Redis's `getBitfieldTypeFromArgument`: `i1`..`i64` or `u1`..`u63`. The
/// width is read like a C string (up to a NUL byte).
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return err(BAD_TYPE),
    };
    let rest = arg.get(1..).unwrap_or_default();
    let rest = rest.split(|&b| b == 0).next().unwrap_or_default();
    match parse_i64(rest) {
        Some(b) if b >= 1 && b <= if signed { 64 } else { 63 } => Ok((signed, b as u32)),
        _ => err(BAD_TYPE),
    }
}

/// Parse every BITFIELD operation (all syntax errors come before any key
/// access).
fn parse_fields(ctx: &Ctx<'_, '_>, argv: &[&[u8]]) -> Result<Vec<Field>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while let Some(&sub) = argv.get(j) {
        let remaining = argv.len() - j - 1;
        let op = if eq(sub, "get") && remaining >= 2 {
            FieldOp::Get
        } else if eq(sub, "set") && remaining >= 3 {
            FieldOp::Set
        } else if eq(sub, "incrby") && remaining >= 3 {
            FieldOp::Incrby
        } else if eq(sub, "overflow") && remaining >= 1 {
            let t = argv.get(j + 1).copied().unwrap_or_default();
            overflow = if eq(t, "wrap") {
                Overflow::Wrap
            } else if eq(t, "sat") {
                Overflow::Sat
            } else if eq(t, "fail") {
                Overflow::Fail
            } else {
                return err("ERR Invalid OVERFLOW type specified");
            };
            j += 2;
            continue;
        } else {
            return err(SYNTAX);
        };
        let (signed, bits) = field_type(argv.get(j + 1).copied().unwrap_or_default())?;
        let offset = bit_offset(
            ctx,
            argv.get(j + 2).copied().unwrap_or_default(),
            Some(bits),
        )?;
        let mut value = 0;
        if op != FieldOp::Get {
            let a = argv.get(j + 3).copied().unwrap_or_default();
            value = parse_i64(a).ok_or_else(|| CmdError::msg(NOT_INTEGER))?;
        }
        ops.push(Field {
            op,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
        j += if op == FieldOp::Get { 3 } else { 4 };
    }
    Ok(ops)
}

fn bitfield(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, argv, false)
}

fn bitfield_ro(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    bitfield_generic(ctx, argv, true)
}

/// Redis's `bitfieldGeneric`.
fn bitfield_generic(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], ro: bool) -> CmdResult {
    let key = argv[1];
    let ops = parse_fields(ctx, argv)?;
    let highest = ops
        .iter()
        .filter(|f| f.op != FieldOp::Get)
        .map(|f| f.offset + u64::from(f.bits) - 1)
        .max();
    let Some(highest) = highest else {
        // Only GETs: a read, a missing key reads as zeros.
        let (db, out) = ctx.db_out(key);
        let s: &[u8] = match db.get(key) {
            None => &[],
            Some(e) => e.value.as_str()?,
        };
        out.array(ops.len());
        for f in &ops {
            if f.signed {
                out.int(get_signed(s, f.offset, f.bits));
            } else {
                out.int(get_unsigned(s, f.offset, f.bits) as i64);
            }
        }
        return Ok(());
    };
    if ro {
        return err("ERR BITFIELD_RO only supports the GET subcommand");
    }
    let min_len = usize::try_from((highest >> 3) + 1).map_err(|_| CmdError::msg(BAD_OFFSET))?;
    // Like Redis, the key is created or grown before the operations run,
    // even if every one of them then fails with OVERFLOW FAIL.
    let (mut v, existed) = take_bits(ctx, key, min_len)?;
    let grew = !existed;
    let mut changes = 0u64;
    ctx.out.array(ops.len());
    for f in &ops {
        let out = &mut *ctx.out;
        match f.op {
            FieldOp::Get => {
                if f.signed {
                    out.int(get_signed(&v, f.offset, f.bits));
                } else {
                    out.int(get_unsigned(&v, f.offset, f.bits) as i64);
                }
            }
            FieldOp::Set | FieldOp::Incrby if f.signed => {
                let old = get_signed(&v, f.offset, f.bits);
                let (new, ret, overflow) = if f.op == FieldOp::Incrby {
                    let (o, wrapped) = check_signed_overflow(old, f.value, f.bits, f.overflow);
                    let new = if o != 0 {
                        wrapped
                    } else {
                        old.wrapping_add(f.value)
                    };
                    (new, new, o != 0)
                } else {
                    let (o, wrapped) = check_signed_overflow(f.value, 0, f.bits, f.overflow);
                    (if o != 0 { wrapped } else { f.value }, old, o != 0)
                };
                if overflow && f.overflow == Overflow::Fail {
                    out.null();
                } else {
                    out.int(ret);
                    set_unsigned(&mut v, f.offset, f.bits, new as u64);
                    if grew || old != new {
                        changes += 1;
                    }
                }
            }
            FieldOp::Set | FieldOp::Incrby => {
                let old = get_unsigned(&v, f.offset, f.bits);
                let (new, ret, overflow) = if f.op == FieldOp::Incrby {
                    let (o, wrapped) = check_unsigned_overflow(old, f.value, f.bits, f.overflow);
                    let new = if o != 0 {
                        wrapped
                    } else {
                        old.wrapping_add(f.value as u64)
                    };
                    (new, new, o != 0)
                } else {
                    let (o, wrapped) =
                        check_unsigned_overflow(f.value as u64, 0, f.bits, f.overflow);
                    let new = if o != 0 { wrapped } else { f.value as u64 };
                    (new, old, o != 0)
                };
                if overflow && f.overflow == Overflow::Fail {
                    out.null();
                } else {
                    out.int(ret as i64);
                    set_unsigned(&mut v, f.offset, f.bits, new);
                    if grew || old != new {
                        changes += 1;
                    }
                }
            }
        }
    }
    store_bits(ctx, key, v, existed, changes > 0);
    if changes > 0 {
        // Redis replies with every field, then notifies.
        nt::notify_replied(ctx, nt::STRING, "setbit", key);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(bit_range(6, 0, -1, false), Some((0, 47)));
        assert_eq!(bit_range(6, 1, 1, false), Some((8, 15)));
        assert_eq!(bit_range(6, 5, 30, true), Some((5, 30)));
        assert_eq!(bit_range(6, -100, 100, false), Some((0, 47)));
        assert_eq!(bit_range(6, 7, 100, false), None);
        assert_eq!(bit_range(0, 0, -1, false), None);
        assert_eq!(bit_range(6, i64::MIN, i64::MAX, true), Some((0, 47)));
    }

    #[test]
    fn types() {
        assert_eq!(field_type(b"i64").ok(), Some((true, 64)));
        assert_eq!(field_type(b"u63").ok(), Some((false, 63)));
        assert!(field_type(b"u64").is_err());
        assert!(field_type(b"i0").is_err());
        assert!(field_type(b"x8").is_err());
        assert!(field_type(b"").is_err());
        assert_eq!(field_type(b"u8\0zz").ok(), Some((false, 8)));
    }
}
