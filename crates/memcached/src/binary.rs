//! The binary protocol, as memcached 1.6's `proto_bin.c`: the same length
//! checks per opcode (a violation gets `Invalid arguments` and the
//! connection is closed), quiet variants that only report errors (and
//! quiet gets that stay silent on a miss), and the same error bodies.

use crate::conn::Conn;
use crate::engine::{Deleted, Delta, Engine, Mode, Stored, C};
use ferrocache_protocol::memcache::binary::{
    op, parse_header, status, write_error, write_response, Header, HEADER_LEN,
};
use ferrocache_protocol::memcache::text::KEY_MAX_LENGTH;

fn be32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        a.copy_from_slice(s);
    }
    u32::from_be_bytes(a)
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    if let Some(s) = b.get(at..at + 8) {
        a.copy_from_slice(s);
    }
    u64::from_be_bytes(a)
}

/// The base opcode of a quiet variant, and whether it was quiet.
fn unquiet(opcode: u8) -> (u8, bool) {
    match opcode {
        op::GETQ => (op::GET, true),
        op::GETKQ => (op::GETK, true),
        op::SETQ => (op::SET, true),
        op::ADDQ => (op::ADD, true),
        op::REPLACEQ => (op::REPLACE, true),
        op::DELETEQ => (op::DELETE, true),
        op::INCREMENTQ => (op::INCREMENT, true),
        op::DECREMENTQ => (op::DECREMENT, true),
        op::QUITQ => (op::QUIT, true),
        op::FLUSHQ => (op::FLUSH, true),
        op::APPENDQ => (op::APPEND, true),
        op::PREPENDQ => (op::PREPEND, true),
        op::GATQ => (op::GAT, true),
        op::GATKQ => (op::GATK, true),
        o => (o, false),
    }
}

/// Protocol error: `Invalid arguments`, then close.
fn protocol_error(c: &mut Conn, h: &Header, out: &mut Vec<u8>) -> Option<usize> {
    write_error(out, h.opcode, status::EINVAL, h.opaque);
    c.close = true;
    Some(0)
}

/// Execute the request at the start of `buf`: Some(bytes used), or None
/// when it is not complete yet.
pub(crate) fn process(c: &mut Conn, eng: &Engine, buf: &[u8], out: &mut Vec<u8>) -> Option<usize> {
    if buf.first() != Some(&0x80) {
        // memcached closes a binary connection on a bad magic byte.
        c.close = true;
        return Some(buf.len());
    }
    let h = parse_header(buf)?;
    let body = h.body_len as usize;
    let keylen = usize::from(h.key_len);
    let extlen = usize::from(h.extras_len);
    if keylen > KEY_MAX_LENGTH || keylen + extlen > body {
        return protocol_error(c, &h, out);
    }
    let (cmd, quiet) = unquiet(h.opcode);
    // Oversized values are refused before buffering them.
    let is_store = matches!(
        cmd,
        op::SET | op::ADD | op::REPLACE | op::APPEND | op::PREPEND
    );
    if is_store && body > eng.settings.item_size_max + KEY_MAX_LENGTH + 64 {
        let vlen = body - keylen - extlen;
        if (cmd == op::SET || cmd == op::ADD || cmd == op::REPLACE) && (extlen != 8 || keylen == 0)
        {
            return protocol_error(c, &h, out);
        }
        if buf.len() < HEADER_LEN + keylen + extlen {
            return None;
        }
        let key = buf
            .get(HEADER_LEN + extlen..HEADER_LEN + extlen + keylen)
            .unwrap_or(&[]);
        eng.incr(c.worker, C::StoreTooLarge);
        write_error(out, h.opcode, status::E2BIG, h.opaque);
        if cmd == op::SET {
            eng.unlink(key);
        }
        c.swallow(vlen);
        return Some(HEADER_LEN + keylen + extlen);
    }
    if buf.len() < HEADER_LEN + body {
        return None;
    }
    let total = HEADER_LEN + body;
    let extras = buf.get(HEADER_LEN..HEADER_LEN + extlen).unwrap_or(&[]);
    let key = buf
        .get(HEADER_LEN + extlen..HEADER_LEN + extlen + keylen)
        .unwrap_or(&[]);
    let value = buf.get(HEADER_LEN + extlen + keylen..total).unwrap_or(&[]);
    let ok = |out: &mut Vec<u8>, cas: u64, extras: &[u8], key: &[u8], value: &[u8]| {
        write_response(
            out,
            h.opcode,
            status::SUCCESS,
            h.opaque,
            cas,
            extras,
            key,
            value,
        );
    };
    let err = |out: &mut Vec<u8>, st: u16| write_error(out, h.opcode, st, h.opaque);
    match cmd {
        op::VERSION => {
            if extlen != 0 || keylen != 0 || body != 0 {
                return protocol_error(c, &h, out);
            }
            ok(out, 0, &[], &[], crate::VERSION.as_bytes());
        }
        op::NOOP => {
            if extlen != 0 || keylen != 0 || body != 0 {
                return protocol_error(c, &h, out);
            }
            ok(out, 0, &[], &[], &[]);
        }
        op::QUIT => {
            if extlen != 0 || keylen != 0 || body != 0 {
                return protocol_error(c, &h, out);
            }
            if !quiet {
                ok(out, 0, &[], &[], &[]);
            }
            c.close = true;
        }
        op::FLUSH => {
            if keylen != 0 || body != extlen || (extlen != 0 && extlen != 4) {
                return protocol_error(c, &h, out);
            }
            eng.incr(c.worker, C::CmdFlush);
            let delay = if extlen == 4 {
                i64::from(be32(extras, 0))
            } else {
                0
            };
            if !eng.settings.flush_enabled {
                write_error(out, h.opcode, status::AUTH_ERROR, h.opaque);
            } else {
                eng.flush_all(delay);
                if !quiet {
                    ok(out, 0, &[], &[], &[]);
                }
            }
        }
        op::GET | op::GETK => {
            if extlen != 0 || body != keylen || keylen == 0 {
                return protocol_error(c, &h, out);
            }
            get(c, eng, &h, cmd == op::GETK, quiet, None, key, out);
        }
        op::TOUCH | op::GAT | op::GATK => {
            if extlen != 4 || keylen == 0 {
                return protocol_error(c, &h, out);
            }
            let exptime = i64::from(be32(extras, 0));
            get(
                c,
                eng,
                &h,
                cmd == op::GATK,
                quiet,
                Some((exptime, cmd == op::TOUCH)),
                key,
                out,
            );
        }
        op::SET | op::ADD | op::REPLACE | op::APPEND | op::PREPEND => {
            let setlike = matches!(cmd, op::SET | op::ADD | op::REPLACE);
            if setlike && (extlen != 8 || keylen == 0 || body < keylen + 8) {
                return protocol_error(c, &h, out);
            }
            if !setlike && (keylen == 0 || extlen != 0) {
                return protocol_error(c, &h, out);
            }
            let (flags, exptime) = if setlike {
                (be32(extras, 0), i64::from(be32(extras, 4)))
            } else {
                (0, 0)
            };
            let mut mode = match cmd {
                op::SET => Mode::Set,
                op::ADD => Mode::Add,
                op::REPLACE => Mode::Replace,
                op::APPEND => Mode::Append,
                _ => Mode::Prepend,
            };
            if setlike && h.cas != 0 {
                mode = Mode::Cas;
            }
            if !eng.item_size_ok(key.len(), flags, value.len()) {
                eng.incr(c.worker, C::StoreTooLarge);
                err(out, status::E2BIG);
                if cmd == op::SET {
                    eng.unlink(key);
                }
                return Some(total);
            }
            eng.incr(c.worker, C::CmdSet);
            match eng.store(c.worker, mode, key, flags, exptime, value, h.cas) {
                Stored::Stored(cas) => {
                    if !quiet {
                        ok(out, cas, &[], &[], &[]);
                    }
                }
                Stored::Exists => err(out, status::KEY_EEXISTS),
                Stored::NotFound => err(out, status::KEY_ENOENT),
                Stored::NotStored | Stored::NoMemory => err(
                    out,
                    match cmd {
                        op::ADD => status::KEY_EEXISTS,
                        op::REPLACE => status::KEY_ENOENT,
                        _ => status::NOT_STORED,
                    },
                ),
            }
        }
        op::DELETE => {
            if keylen == 0 || extlen != 0 || body != keylen {
                return protocol_error(c, &h, out);
            }
            match eng.delete(key, (h.cas != 0).then_some(h.cas)) {
                Deleted::Yes => {
                    eng.incr(c.worker, C::DeleteHits);
                    if !quiet {
                        ok(out, 0, &[], &[], &[]);
                    }
                }
                Deleted::NotFound => {
                    eng.incr(c.worker, C::DeleteMisses);
                    err(out, status::KEY_ENOENT);
                }
                Deleted::CasMismatch => err(out, status::KEY_EEXISTS),
            }
        }
        op::INCREMENT | op::DECREMENT => {
            if keylen == 0 || extlen != 20 || body != keylen + extlen {
                return protocol_error(c, &h, out);
            }
            let incr = cmd == op::INCREMENT;
            let delta = be64(extras, 0);
            let initial = be64(extras, 8);
            let exptime = be32(extras, 16);
            let (hit, miss) = if incr {
                (C::IncrHits, C::IncrMisses)
            } else {
                (C::DecrHits, C::DecrMisses)
            };
            match eng.delta(key, incr, delta, h.cas) {
                Delta::Ok(v, cas) => {
                    eng.incr(c.worker, hit);
                    if !quiet {
                        ok(out, cas, &[], &[], &v.to_be_bytes());
                    }
                }
                Delta::NonNumeric => err(out, status::DELTA_BADVAL),
                Delta::CasMismatch => err(out, status::KEY_EEXISTS),
                Delta::NotFound => {
                    eng.incr(c.worker, miss);
                    if exptime == u32::MAX {
                        err(out, status::KEY_ENOENT);
                    } else {
                        let mut b = itoa::Buffer::new();
                        let s = b.format(initial).as_bytes().to_vec();
                        match eng.store(c.worker, Mode::Add, key, 0, i64::from(exptime), &s, 0) {
                            Stored::Stored(cas) => {
                                if !quiet {
                                    ok(out, cas, &[], &[], &initial.to_be_bytes());
                                }
                            }
                            _ => err(out, status::NOT_STORED),
                        }
                    }
                }
            }
        }
        op::STAT => {
            if extlen != 0 {
                return protocol_error(c, &h, out);
            }
            if key == b"reset" {
                eng.reset_counters();
                ok(out, 0, &[], &[], &[]);
            } else {
                match crate::stats::group(eng, key) {
                    Some(st) => {
                        for (k, v) in st {
                            ok(out, 0, &[], k.as_bytes(), v.as_bytes());
                        }
                        ok(out, 0, &[], &[], &[]);
                    }
                    None => err(out, status::KEY_ENOENT),
                }
            }
        }
        // memcached 1.6 has no binary VERBOSITY handler: it answers
        // "Unknown command" like for any other unsupported opcode.
        op::SASL_LIST_MECHS | op::SASL_AUTH | op::SASL_STEP => {
            err(out, status::UNKNOWN_COMMAND);
        }
        _ => err(out, status::UNKNOWN_COMMAND),
    }
    Some(total)
}

#[allow(clippy::too_many_arguments)]
fn get(
    c: &Conn,
    eng: &Engine,
    h: &Header,
    with_key: bool,
    quiet: bool,
    touch: Option<(i64, bool)>,
    key: &[u8],
    out: &mut Vec<u8>,
) {
    if key == crate::text::LEGACY_CLUSTER_KEY && touch.is_none() {
        eng.incr(c.worker, C::CmdConfigGet);
        let body = eng.cluster_body();
        let k: &[u8] = if with_key { key } else { &[] };
        write_response(
            out,
            h.opcode,
            status::SUCCESS,
            h.opaque,
            0,
            &0u32.to_be_bytes(),
            k,
            &body,
        );
        return;
    }
    let is_touch = touch.is_some_and(|(_, t)| t);
    let hit = eng.access(key, true, |a| {
        if let Some((e, _)) = touch {
            a.expire_at = eng.expiry_at(e, a.now);
        }
        let k: &[u8] = if with_key { key } else { &[] };
        let v: &[u8] = if is_touch { &[] } else { a.item.data() };
        write_response(
            out,
            h.opcode,
            status::SUCCESS,
            h.opaque,
            a.item.cas(),
            &a.item.flags().to_be_bytes(),
            k,
            v,
        );
    });
    if touch.is_some() {
        eng.incr(c.worker, C::CmdTouch);
        eng.incr(
            c.worker,
            if hit.is_some() {
                C::TouchHits
            } else {
                C::TouchMisses
            },
        );
    } else {
        eng.incr(c.worker, C::CmdGet);
        eng.incr(
            c.worker,
            if hit.is_some() {
                C::GetHits
            } else {
                C::GetMisses
            },
        );
    }
    if hit.is_none() && !quiet {
        if with_key {
            write_response(
                out,
                h.opcode,
                status::KEY_ENOENT,
                h.opaque,
                0,
                &[],
                key,
                &[],
            );
        } else {
            write_error(out, h.opcode, status::KEY_ENOENT, h.opaque);
        }
    }
}
