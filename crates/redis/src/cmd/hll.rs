//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG, PFSELFTEST
//! (Redis `hyperloglog.c`).
//!
//! An HLL is an ordinary string value in Redis's exact byte format (see
//! [`ferrocache_engine::types::hll`]), so GET/SET/DUMP of one interoperate
//! with redis-server. Updates happen in place on the stored string and keep
//! the key's TTL. As in Redis, a value that fails the header check is
//! `WRONGTYPE Key is not a valid HyperLogLog string value.`, and a header
//! over broken sparse data is `INVALIDOBJ Corrupted HLL object detected`
//! (partial updates made before the corruption was met stay, as in Redis).

use crate::ctx::Ctx;
use crate::error::{err, errf, CmdError, CmdResult};
use crate::notify as nt;
use crate::spec::{acl, flags::*, CommandSpec};
use ferrocache_engine::types::hll::{self, Corrupt, REGISTERS};
use ferrocache_engine::types::string::StrEncoding;
use ferrocache_engine::{Blob, Value, WrongType};
use std::sync::atomic::Ordering;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("pfadd", -2, WRITE | DENYOOM | FAST, (1, 1, 1), pfadd)
        .acl(acl::HYPERLOGLOG)
        .doc("hyperloglog", "2.8.9", "Adds the specified elements to the specified HyperLogLog.", "O(1) to add every element."),
    CommandSpec::new("pfcount", -2, READONLY, (1, -1, 1), pfcount)
        .acl(acl::HYPERLOGLOG)
        .doc("hyperloglog", "2.8.9", "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).", "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys."),
    CommandSpec::new("pfmerge", -2, WRITE | DENYOOM, (1, -1, 1), pfmerge)
        .acl(acl::HYPERLOGLOG)
        .doc("hyperloglog", "2.8.9", "Merge N different HyperLogLogs into a single one.", "O(N) to merge N HyperLogLogs, but with high constant times."),
    CommandSpec::new("pfdebug", 3, WRITE | DENYOOM | ADMIN, (2, 2, 1), pfdebug)
        .acl(acl::HYPERLOGLOG)
        .doc("hyperloglog", "2.8.9", "Internal commands for debugging HyperLogLog values", "N/A"),
    CommandSpec::new("pfselftest", 1, ADMIN, (0, 0, 0), pfselftest)
        .acl(acl::HYPERLOGLOG)
        .doc("hyperloglog", "2.8.9", "An internal command for testing HyperLogLog values", "N/A"),
];

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const INVALID: &str = "INVALIDOBJ Corrupted HLL object detected";

impl From<Corrupt> for CmdError {
    fn from(_: Corrupt) -> Self {
        CmdError::msg(INVALID)
    }
}

/// `isHLLObjectOrReply`: the string of a value that must be an HLL.
fn as_hll(v: &Value) -> Result<&Blob, CmdError> {
    let s = v.as_str()?;
    if hll::is_valid(s) {
        Ok(s)
    } else {
        err(NOT_HLL)
    }
}

/// The same check for a value about to be modified in place.
fn as_hll_mut(v: &mut Value) -> Result<&mut Blob, CmdError> {
    match v {
        Value::Str(s) if hll::is_valid(s) => Ok(s),
        Value::Str(_) => err(NOT_HLL),
        _ => Err(WrongType.into()),
    }
}

fn sparse_max(ctx: &Ctx<'_, '_>) -> usize {
    let n = ctx
        .server
        .config
        .hot()
        .hll_sparse_max_bytes
        .load(Ordering::Relaxed);
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn pfadd(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let key = argv[1];
    let max = sparse_max(ctx);
    let (db, out) = ctx.db_out(key);
    let Some(e) = db.get_mut(key) else {
        // A new HLL counts as an update even with no elements.
        let mut v = hll::new_sparse();
        for ele in &argv[2..] {
            hll::add(&mut v, ele, max)?;
        }
        hll::invalidate_cache(&mut v);
        db.set_encoded(key, Value::Str(Blob::from_vec(v)), StrEncoding::Raw);
        out.int(1);
        nt::notify(ctx, nt::STRING, "pfadd", key);
        return Ok(());
    };
    as_hll_mut(&mut e.value)?;
    // PFADD unshares the string (Redis `dbUnshareStringValue`): raw.
    e.set_str_encoding(StrEncoding::Raw);
    let s = as_hll_mut(&mut e.value)?;
    let mut updated = 0u64;
    let mut result = Ok(());
    if hll::encoding(s) == hll::DENSE {
        // Dense registers change in place: no reallocation at all.
        let bytes = s.as_mut_slice();
        if let Some(regs) = bytes.get_mut(hll::HDR_SIZE..) {
            for ele in &argv[2..] {
                let (i, count) = hll::pat_len(ele);
                if count > hll::dense_get(regs, i) {
                    hll::dense_put(regs, i, count);
                    updated += 1;
                }
            }
        }
        if updated > 0 {
            hll::invalidate_cache(bytes);
        }
    } else {
        let mut v = std::mem::take(s).into_vec();
        for ele in &argv[2..] {
            match hll::add(&mut v, ele, max) {
                Ok(true) => updated += 1,
                Ok(false) => {}
                Err(c) => {
                    result = Err(c);
                    break;
                }
            }
        }
        if updated > 0 && result.is_ok() {
            hll::invalidate_cache(&mut v);
        }
        *s = Blob::from_vec(v);
    }
    db.dirty += updated;
    result?;
    out.int(i64::from(updated > 0));
    if updated > 0 {
        nt::notify(ctx, nt::STRING, "pfadd", key);
    }
    Ok(())
}

fn pfcount(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 2 {
        // Several keys: the cardinality of their union, from registers
        // merged one byte per register.
        let mut max = [0u8; REGISTERS];
        for &k in &argv[1..] {
            if let Some(e) = ctx.db(k).get(k) {
                hll::merge_into(&mut max, as_hll(&e.value)?)?;
            }
        }
        ctx.out.int(hll::count_raw(&max) as i64);
        return Ok(());
    }
    let key = argv[1];
    let (db, out) = ctx.db_out(key);
    let card = match db.get(key) {
        None => {
            out.int(0);
            return Ok(());
        }
        Some(e) => {
            as_hll(&e.value)?;
            // Redis unshares a valid HLL (`dbUnshareStringValue`) before
            // counting, so the value is raw afterwards even on a cache hit.
            if let Some(e) = db.get_mut(key) {
                e.set_str_encoding(StrEncoding::Raw);
            }
            let Some(e) = db.get(key) else {
                out.int(0);
                return Ok(());
            };
            let s = as_hll(&e.value)?;
            match hll::cached_card(s) {
                Some(c) => {
                    out.int(c as i64);
                    return Ok(());
                }
                None => hll::count(s)?,
            }
        }
    };
    // Cache the fresh estimate in the header: a write, even though PFCOUNT
    // is a read-only command (Redis propagates it the same way).
    if let Some(e) = db.get_mut(key) {
        if let Value::Str(s) = &mut e.value {
            hll::set_cached_card(s.as_mut_slice(), card);
        }
    }
    db.dirty += 1;
    out.int(card as i64);
    Ok(())
}

fn pfmerge(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let max_bytes = sparse_max(ctx);
    let mut max = [0u8; REGISTERS];
    let mut use_dense = false;
    // The destination is also the first source.
    for &k in &argv[1..] {
        if let Some(e) = ctx.db(k).get(k) {
            let s = as_hll(&e.value)?;
            use_dense |= hll::encoding(s) == hll::DENSE;
            hll::merge_into(&mut max, s)?;
        }
    }
    let dest = argv[1];
    let db = ctx.db(dest);
    let (mut v, existed) = match db.get_mut(dest) {
        Some(e) => match &mut e.value {
            Value::Str(s) => (std::mem::take(s).into_vec(), true),
            _ => return Err(WrongType.into()),
        },
        None => (hll::new_sparse(), false),
    };
    let mut result: Result<(), Corrupt> = Ok(());
    if use_dense {
        result = hll::sparse_to_dense(&mut v);
    }
    if result.is_ok() {
        for (i, &m) in max.iter().enumerate() {
            if m != 0 {
                // Redis ignores the result here; the sources were
                // validated while merging.
                let _ = hll::set_register(&mut v, i, m, max_bytes);
            }
        }
        hll::invalidate_cache(&mut v);
    }
    let value = Value::Str(Blob::from_vec(v));
    if existed {
        if let Some(e) = db.get_mut(dest) {
            e.value = value;
            e.set_str_encoding(StrEncoding::Raw);
        }
        db.dirty += 1;
    } else {
        db.set_encoded(dest, value, StrEncoding::Raw);
    }
    result?;
    ctx.out.ok();
    nt::notify(ctx, nt::STRING, "pfadd", dest);
    Ok(())
}

fn pfdebug(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let (sub, key) = (argv[1], argv[2]);
    let (db, out) = ctx.db_out(key);
    let Some(e) = db.get_mut(key) else {
        return err("ERR The specified key does not exist");
    };
    as_hll_mut(&mut e.value)?;
    // Redis's PFDEBUG unshares the value (`dbUnshareStringValue`) once it
    // is a valid HLL: OBJECT ENCODING then says raw.
    e.set_str_encoding(StrEncoding::Raw);
    let s = as_hll_mut(&mut e.value)?;
    let sub_l = sub.to_ascii_lowercase();
    match sub_l.as_slice() {
        b"getreg" | b"todense" => {
            let mut converted = false;
            if hll::encoding(s) == hll::SPARSE {
                let mut v = std::mem::take(s).into_vec();
                let r = hll::sparse_to_dense(&mut v);
                *s = Blob::from_vec(v);
                r?;
                converted = true;
            }
            if sub_l == b"getreg" {
                let regs = hll::dense_registers(s);
                out.array(regs.len());
                for r in regs {
                    out.int(i64::from(r));
                }
            } else {
                out.int(i64::from(converted));
            }
            if converted {
                db.dirty += 1;
            }
        }
        b"decode" => {
            if hll::encoding(s) != hll::SPARSE {
                return err("ERR HLL encoding is not sparse");
            }
            out.bulk(hll::decode(s).as_bytes());
        }
        b"encoding" => {
            out.simple(if hll::encoding(s) == hll::DENSE {
                "dense"
            } else {
                "sparse"
            });
        }
        _ => {
            return errf(format!(
                "ERR Unknown PFDEBUG subcommand '{}'",
                String::from_utf8_lossy(crate::error::c_str(sub, usize::MAX))
            ));
        }
    }
    Ok(())
}

fn pfselftest(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let max = sparse_max(ctx);
    hll::selftest(rand::random::<u64>, max).map_err(CmdError::msg)?;
    ctx.out.ok();
    Ok(())
}
