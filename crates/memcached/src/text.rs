//! Text protocol and meta commands, as memcached 1.6's `proto_text.c`:
//! same token rules, same argument checks in the same order, same reply
//! texts, so that clients (and the differential tests) see identical bytes.

use crate::conn::{Conn, Step};
use crate::engine::{Access, Deleted, Delta, Engine, Mode, Stored, C};
use ferrocache_engine::types::item::Item;
use ferrocache_protocol::memcache::meta::{b64_encode, preparse, MetaFlags};
use ferrocache_protocol::memcache::text::{
    strtol, strtoul, strtoull, tokenize, Tokens, KEY_MAX_LENGTH,
};

/// memcached's `MFLAG_MAX_OPT_LENGTH` / `MFLAG_MAX_OPAQUE_LENGTH`.
const MFLAG_MAX_OPT_LENGTH: usize = 20;
const MFLAG_MAX_OPAQUE_LENGTH: usize = 32;

/// The legacy Auto Discovery key (ElastiCache engines before 1.4.14).
pub const LEGACY_CLUSTER_KEY: &[u8] = b"AmazonElastiCache:cluster";

/// A reply writer that honours `noreply` (memcached's `out_string`).
struct Out<'a> {
    out: &'a mut Vec<u8>,
    noreply: bool,
}

impl Out<'_> {
    fn line(&mut self, s: &[u8]) {
        if !self.noreply {
            self.out.extend_from_slice(s);
            self.out.extend_from_slice(b"\r\n");
        }
    }
}

/// memcached's `set_noreply_maybe`: the last token is `noreply`.
fn noreply(t: &Tokens<'_>) -> bool {
    t.tokens.last().is_some_and(|l| *l == b"noreply") && t.rest.is_none()
}

fn tok<'a>(t: &Tokens<'a>, i: usize) -> &'a [u8] {
    t.get(i).unwrap_or(&[])
}

/// Execute one request line; `after` is the input that follows it.
pub(crate) fn command(
    c: &mut Conn,
    eng: &Engine,
    line: &[u8],
    after: &[u8],
    out: &mut Vec<u8>,
) -> Step {
    let t = tokenize(line);
    let n = t.ntokens();
    let cmd = tok(&t, 0);
    let mut o = Out {
        out,
        noreply: false,
    };
    if n < 2 || cmd.len() < 2 {
        o.line(b"ERROR");
        return Step::Done(0);
    }
    let first = cmd.first().copied().unwrap_or(0);
    if first == b'm' && cmd.len() == 2 {
        return match cmd.get(1) {
            Some(b'g') => {
                meta_get(c, eng, &t, o.out);
                Step::Done(0)
            }
            Some(b's') => meta_set(c, eng, &t, after, o.out),
            Some(b'd') => {
                meta_delete(c, eng, &t, o.out);
                Step::Done(0)
            }
            Some(b'n') => {
                o.line(b"MN");
                Step::Done(0)
            }
            Some(b'a') => {
                meta_arith(c, eng, &t, o.out);
                Step::Done(0)
            }
            Some(b'e') => {
                meta_debug(eng, &t, o.out);
                Step::Done(0)
            }
            _ => {
                o.line(b"ERROR");
                Step::Done(0)
            }
        };
    }
    let want = |o: &mut Out<'_>, ok: bool| {
        if !ok {
            o.line(b"ERROR");
        }
        ok
    };
    match cmd {
        b"get" | b"gets" | b"gat" | b"gats" | b"bget" => {
            if want(&mut o, n >= 3) {
                let cas = cmd == b"gets" || cmd == b"gats";
                let touch = cmd == b"gat" || cmd == b"gats";
                get(c, eng, &t, cas, touch, o.out);
            }
            Step::Done(0)
        }
        b"set" | b"add" | b"append" | b"replace" | b"prepend" => {
            if !want(&mut o, n == 6 || n == 7) {
                return Step::Done(0);
            }
            let mode = match cmd {
                b"set" => Mode::Set,
                b"add" => Mode::Add,
                b"append" => Mode::Append,
                b"replace" => Mode::Replace,
                _ => Mode::Prepend,
            };
            update(c, eng, &t, mode, after, o.out)
        }
        b"cas" => {
            if !want(&mut o, n == 7 || n == 8) {
                return Step::Done(0);
            }
            update(c, eng, &t, Mode::Cas, after, o.out)
        }
        b"incr" | b"decr" => {
            if want(&mut o, n == 4 || n == 5) {
                arith(c, eng, &t, cmd == b"incr", o.out);
            }
            Step::Done(0)
        }
        b"delete" => {
            if want(&mut o, (3..=5).contains(&n)) {
                delete(c, eng, &t, o.out);
            }
            Step::Done(0)
        }
        b"touch" => {
            if want(&mut o, n == 4 || n == 5) {
                touch(c, eng, &t, o.out);
            }
            Step::Done(0)
        }
        b"stats" => {
            crate::stats::text_stats(c, eng, &t, o.out);
            Step::Done(0)
        }
        b"flush_all" => {
            if want(&mut o, (2..=4).contains(&n)) {
                o.noreply = noreply(&t);
                eng.incr(c.worker, C::CmdFlush);
                if !eng.settings.flush_enabled {
                    o.line(b"CLIENT_ERROR flush_all not allowed");
                    return Step::Done(0);
                }
                let mut delay = 0i64;
                if n != if o.noreply { 3 } else { 2 } {
                    match strtol(tok(&t, 1)) {
                        Some(d) => delay = i64::from(d),
                        None => {
                            o.line(b"CLIENT_ERROR invalid exptime argument");
                            return Step::Done(0);
                        }
                    }
                }
                eng.flush_all(delay);
                o.line(b"OK");
            }
            Step::Done(0)
        }
        b"version" => {
            o.line(format!("VERSION {}", crate::VERSION).as_bytes());
            Step::Done(0)
        }
        b"quit" => {
            c.close = true;
            Step::Done(0)
        }
        b"verbosity" => {
            if want(&mut o, n == 3 || n == 4) {
                o.noreply = noreply(&t);
                match strtoul(tok(&t, 1)) {
                    Some(v) => {
                        eng.verbosity
                            .store(v.min(2), std::sync::atomic::Ordering::Relaxed);
                        o.line(b"OK");
                    }
                    None => o.line(b"CLIENT_ERROR bad command line format"),
                }
            }
            Step::Done(0)
        }
        b"cache_memlimit" => {
            if want(&mut o, n == 3 || n == 4) {
                o.noreply = noreply(&t);
                match strtoul(tok(&t, 1)) {
                    None => o.line(b"ERROR"),
                    Some(m) if m < 8 => {
                        o.line(b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m")
                    }
                    Some(m) if m > 1_000_000_000 => {
                        o.line(b"MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes")
                    }
                    Some(m) => {
                        eng.limit.store(
                            u64::from(m) * 1024 * 1024,
                            std::sync::atomic::Ordering::Relaxed,
                        );
                        o.line(b"OK");
                    }
                }
            }
            Step::Done(0)
        }
        b"shutdown" => {
            o.line(b"ERROR: shutdown not enabled");
            Step::Done(0)
        }
        b"config" => config(c, eng, &t, after, o.out),
        _ => {
            if t.tokens.last().is_some_and(|l| l.starts_with(b"HTTP/")) {
                c.close = true;
            } else {
                o.line(b"ERROR");
            }
            Step::Done(0)
        }
    }
}

fn push_num(out: &mut Vec<u8>, n: impl itoa::Integer) {
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b.format(n).as_bytes());
}

/// `get`/`gets`/`gat`/`gats` with any number of keys (tokenizing the part
/// of the line beyond the first 23 tokens as memcached does).
fn get(c: &Conn, eng: &Engine, t: &Tokens<'_>, return_cas: bool, touch: bool, out: &mut Vec<u8>) {
    let start_len = out.len();
    let mut first_key = 1;
    let mut exptime = None;
    if touch {
        match strtol(tok(t, 1)) {
            Some(e) => exptime = Some(i64::from(e)),
            None => {
                out.extend_from_slice(b"CLIENT_ERROR invalid exptime argument\r\n");
                return;
            }
        }
        first_key = 2;
    }
    // The first 23 tokens, then the rest of the line re-tokenized in
    // chunks (no per-request allocation on the common path).
    let mut chunk: Option<Tokens<'_>> = None;
    let mut rest = t.rest;
    // One clock read for the whole command (the batch's, if the server
    // read it).
    let now = c.now(eng);
    loop {
        let keys = match &chunk {
            None => t.tokens.get(first_key..).unwrap_or(&[]),
            Some(ch) => ch.tokens.as_slice(),
        };
        // Keys before a too-long one are still read (and bumped), as in
        // memcached, whose reply is then replaced by the error.
        let good = keys
            .iter()
            .position(|k| k.len() > KEY_MAX_LENGTH)
            .unwrap_or(keys.len());
        let (ok, bad) = keys.split_at(good);
        eng.prefetch(ok);
        for &key in ok {
            get_one(c, eng, key, return_cas, exptime, now, out);
        }
        if !bad.is_empty() {
            out.truncate(start_len);
            out.extend_from_slice(b"CLIENT_ERROR bad command line format\r\n");
            return;
        }
        match rest {
            Some(r) => {
                let more = tokenize(r);
                rest = more.rest;
                chunk = Some(more);
            }
            None => break,
        }
    }
    out.extend_from_slice(b"END\r\n");
}

fn get_one(
    c: &Conn,
    eng: &Engine,
    key: &[u8],
    return_cas: bool,
    exptime: Option<i64>,
    now: u64,
    out: &mut Vec<u8>,
) {
    if key == LEGACY_CLUSTER_KEY {
        eng.incr(c.worker, C::CmdConfigGet);
        let body = eng.cluster_body();
        out.extend_from_slice(b"VALUE ");
        out.extend_from_slice(key);
        out.extend_from_slice(b" 0 ");
        push_num(out, body.len());
        if return_cas {
            out.extend_from_slice(b" 0");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
        out.extend_from_slice(b"\r\n");
        return;
    }
    let hit = eng.access_at(key, true, now, |a| {
        if let Some(e) = exptime {
            a.expire_at = eng.expiry_at(e, a.now);
        }
        out.extend_from_slice(b"VALUE ");
        out.extend_from_slice(key);
        out.push(b' ');
        push_num(out, a.item.flags());
        out.push(b' ');
        push_num(out, a.item.data().len());
        if return_cas {
            out.push(b' ');
            push_num(out, a.item.cas());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a.item.data());
        out.extend_from_slice(b"\r\n");
    });
    match (hit.is_some(), exptime.is_some()) {
        (true, true) => {
            eng.incr(c.worker, C::CmdTouch);
            eng.incr(c.worker, C::TouchHits);
        }
        (false, true) => {
            eng.incr(c.worker, C::CmdTouch);
            eng.incr(c.worker, C::TouchMisses);
        }
        (true, false) => {
            eng.incr(c.worker, C::CmdGet);
            eng.incr(c.worker, C::GetHits);
        }
        (false, false) => {
            eng.incr(c.worker, C::CmdGet);
            eng.incr(c.worker, C::GetMisses);
        }
    }
}

/// set/add/replace/append/prepend/cas (memcached's
/// `process_update_command` + `complete_nread_ascii`).
fn update(
    c: &mut Conn,
    eng: &Engine,
    t: &Tokens<'_>,
    mode: Mode,
    after: &[u8],
    out: &mut Vec<u8>,
) -> Step {
    let mut o = Out {
        out,
        noreply: noreply(t),
    };
    let key = tok(t, 1);
    if key.len() > KEY_MAX_LENGTH {
        o.line(b"CLIENT_ERROR bad command line format");
        return Step::Done(0);
    }
    let (Some(flags), Some(exptime), Some(vlen)) =
        (strtoul(tok(t, 2)), strtol(tok(t, 3)), strtol(tok(t, 4)))
    else {
        o.line(b"CLIENT_ERROR bad command line format");
        return Step::Done(0);
    };
    let mut req_cas = 0u64;
    if mode == Mode::Cas {
        match strtoull(tok(t, 5)) {
            Some(v) => req_cas = v,
            None => {
                o.line(b"CLIENT_ERROR bad command line format");
                return Step::Done(0);
            }
        }
    }
    if !(0..=i32::MAX - 2).contains(&vlen) {
        o.line(b"CLIENT_ERROR bad command line format");
        return Step::Done(0);
    }
    let vlen = vlen as usize;
    if !eng.item_size_ok(key.len(), flags, vlen) {
        eng.incr(c.worker, C::StoreTooLarge);
        o.line(b"SERVER_ERROR object too large for cache");
        c.swallow(vlen + 2);
        if mode == Mode::Set {
            eng.unlink(key);
        }
        return Step::Done(0);
    }
    if after.len() < vlen + 2 {
        return Step::NeedData(vlen + 2);
    }
    eng.incr(c.worker, C::CmdSet);
    let data = after.get(..vlen).unwrap_or(&[]);
    if after.get(vlen..vlen + 2) != Some(b"\r\n") {
        o.line(b"CLIENT_ERROR bad data chunk");
        return Step::Done(vlen + 2);
    }
    let res = eng.store(
        c.worker,
        mode,
        key,
        flags,
        i64::from(exptime),
        data,
        req_cas,
    );
    match res {
        Stored::Stored(_) => o.line(b"STORED"),
        Stored::Exists => o.line(b"EXISTS"),
        Stored::NotFound => o.line(b"NOT_FOUND"),
        Stored::NotStored => o.line(b"NOT_STORED"),
        Stored::NoMemory => {
            o.line(b"SERVER_ERROR out of memory storing object");
            if mode == Mode::Set {
                eng.unlink(key);
            }
        }
    }
    Step::Done(vlen + 2)
}

fn touch(c: &Conn, eng: &Engine, t: &Tokens<'_>, out: &mut Vec<u8>) {
    let mut o = Out {
        out,
        noreply: noreply(t),
    };
    let key = tok(t, 1);
    if key.len() > KEY_MAX_LENGTH {
        o.line(b"CLIENT_ERROR bad command line format");
        return;
    }
    let Some(exptime) = strtol(tok(t, 2)) else {
        o.line(b"CLIENT_ERROR invalid exptime argument");
        return;
    };
    eng.incr(c.worker, C::CmdTouch);
    let hit = eng.access(key, true, |a| {
        a.expire_at = eng.expiry_at(i64::from(exptime), a.now);
    });
    if hit.is_some() {
        eng.incr(c.worker, C::TouchHits);
        o.line(b"TOUCHED");
    } else {
        eng.incr(c.worker, C::TouchMisses);
        o.line(b"NOT_FOUND");
    }
}

fn arith(c: &Conn, eng: &Engine, t: &Tokens<'_>, incr: bool, out: &mut Vec<u8>) {
    let mut o = Out {
        out,
        noreply: noreply(t),
    };
    let key = tok(t, 1);
    if key.len() > KEY_MAX_LENGTH {
        o.line(b"CLIENT_ERROR bad command line format");
        return;
    }
    let Some(delta) = strtoull(tok(t, 2)) else {
        o.line(b"CLIENT_ERROR invalid numeric delta argument");
        return;
    };
    match eng.delta(key, incr, delta, 0) {
        Delta::Ok(v, _) => {
            eng.incr(c.worker, if incr { C::IncrHits } else { C::DecrHits });
            let mut b = itoa::Buffer::new();
            o.line(b.format(v).as_bytes());
        }
        Delta::NonNumeric => {
            o.line(b"CLIENT_ERROR cannot increment or decrement non-numeric value")
        }
        Delta::NotFound | Delta::CasMismatch => {
            eng.incr(c.worker, if incr { C::IncrMisses } else { C::DecrMisses });
            o.line(b"NOT_FOUND");
        }
    }
}

fn delete(c: &Conn, eng: &Engine, t: &Tokens<'_>, out: &mut Vec<u8>) {
    let n = t.ntokens();
    let mut o = Out {
        out,
        noreply: false,
    };
    if n > 3 {
        let hold_is_zero = tok(t, 2) == b"0";
        let sets_noreply = noreply(t);
        o.noreply = sets_noreply;
        let valid =
            (n == 4 && (hold_is_zero || sets_noreply)) || (n == 5 && hold_is_zero && sets_noreply);
        if !valid {
            o.line(b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]");
            return;
        }
    }
    let key = tok(t, 1);
    if key.len() > KEY_MAX_LENGTH {
        o.line(b"CLIENT_ERROR bad command line format");
        return;
    }
    match eng.delete(key, None) {
        Deleted::Yes => {
            eng.incr(c.worker, C::DeleteHits);
            o.line(b"DELETED");
        }
        _ => {
            eng.incr(c.worker, C::DeleteMisses);
            o.line(b"NOT_FOUND");
        }
    }
}

/// Auto Discovery: `config get cluster` (anyone) and `config set cluster
/// 0 <bytes> [noreply]` + data block with the node list (admin: loopback
/// peers only), which bumps the version by one.
fn config(c: &mut Conn, eng: &Engine, t: &Tokens<'_>, after: &[u8], out: &mut Vec<u8>) -> Step {
    let n = t.ntokens();
    match (tok(t, 1), tok(t, 2)) {
        (b"get", b"cluster") if n == 4 => {
            eng.incr(c.worker, C::CmdConfigGet);
            let body = eng.cluster_body();
            out.extend_from_slice(b"CONFIG cluster 0 ");
            push_num(out, body.len());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&body);
            out.extend_from_slice(b"\r\nEND\r\n");
            Step::Done(0)
        }
        (b"set", b"cluster") if n == 6 || n == 7 => {
            let mut o = Out {
                out,
                noreply: noreply(t),
            };
            let Some(vlen) = strtol(tok(t, 4)).filter(|&v| v >= 0) else {
                o.line(b"CLIENT_ERROR bad command line format");
                return Step::Done(0);
            };
            let vlen = vlen as usize;
            if vlen > eng.settings.item_size_max {
                o.line(b"SERVER_ERROR object too large for cache");
                c.swallow(vlen + 2);
                return Step::Done(0);
            }
            if after.len() < vlen + 2 {
                return Step::NeedData(vlen + 2);
            }
            if after.get(vlen..vlen + 2) != Some(b"\r\n") {
                o.line(b"CLIENT_ERROR bad data chunk");
                return Step::Done(vlen + 2);
            }
            if !c.admin {
                o.line(b"CLIENT_ERROR config set is only allowed from the local host");
                return Step::Done(vlen + 2);
            }
            eng.incr(c.worker, C::CmdConfigSet);
            match eng.set_cluster(after.get(..vlen).unwrap_or(&[])) {
                Ok(_) => o.line(b"OK"),
                Err(e) => o.line(e.as_bytes()),
            }
            Step::Done(vlen + 2)
        }
        _ => {
            out.extend_from_slice(b"ERROR\r\n");
            Step::Done(0)
        }
    }
}

// ---- meta commands --------------------------------------------------------

/// memcached's `out_errstring`: errors are sent even in quiet mode.
fn err_line(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// ` k<key>` (base64 with ` b` for binary keys).
fn meta_key(out: &mut Vec<u8>, key: &[u8], binary: bool) {
    out.extend_from_slice(b" k");
    if binary {
        b64_encode(key, out);
        out.extend_from_slice(b" b");
    } else {
        out.extend_from_slice(key);
    }
}

/// The key of a meta request: decoded if `b` was given.
fn meta_key_of<'a>(raw: &'a [u8], of: &'a MetaFlags) -> &'a [u8] {
    of.decoded_key.as_deref().unwrap_or(raw)
}

/// Checks shared by every meta command; returns the flag tokens.
fn meta_tokens<'a, 'b>(t: &'a Tokens<'b>, from: usize) -> &'a [&'b [u8]] {
    t.tokens.get(from..).unwrap_or(&[])
}

fn meta_get(c: &Conn, eng: &Engine, t: &Tokens<'_>, out: &mut Vec<u8>) {
    let n = t.ntokens();
    if n < 3 {
        out.extend_from_slice(b"ERROR\r\n");
        return;
    }
    if tok(t, 1).len() > KEY_MAX_LENGTH {
        err_line(out, "CLIENT_ERROR bad command line format");
        return;
    }
    if n > MFLAG_MAX_OPT_LENGTH {
        err_line(out, "CLIENT_ERROR options flags are too long");
        return;
    }
    let flags = meta_tokens(t, 2);
    let of = match preparse(tok(t, 1), flags) {
        Ok(of) => of,
        Err(e) => {
            err_line(out, e);
            return;
        }
    };
    eng.incr(c.worker, C::CmdMeta);
    let key = meta_key_of(tok(t, 1), &of);
    let mut created = false;
    let bump = !of.no_update;
    let start = out.len();
    let mut err: Option<&str> = None;
    let mut ttl_set = false;
    let mut body = |a: &mut Access<'_>, created: bool, out: &mut Vec<u8>| {
        let mut won = false;
        let fetched_before = a.item.has(Item::FETCHED) && !created;
        if of.value {
            out.extend_from_slice(b"VA ");
            push_num(out, a.item.data().len());
        } else {
            out.extend_from_slice(b"HD");
        }
        for f in flags {
            match f.first() {
                Some(b'T') => {
                    ttl_set = true;
                    a.expire_at = eng.expiry_at(i64::from(of.exptime), a.now);
                }
                Some(b'N') if created => {
                    a.expire_at = eng.expiry_at(i64::from(of.autoviv_exptime), a.now);
                    won = true;
                }
                Some(b'R') => {
                    if let Some(r) = of.recache_time {
                        let threshold = eng.expiry_at(i64::from(r), a.now);
                        if !a.item.has(Item::TOKEN_SENT)
                            && !created
                            && a.expire_at
                                .is_some_and(|at| threshold.is_some_and(|th| at < th))
                        {
                            won = true;
                        }
                    }
                }
                Some(b's') => {
                    out.extend_from_slice(b" s");
                    push_num(out, a.item.data().len());
                }
                Some(b't') => {
                    out.extend_from_slice(b" t");
                    push_num(out, a.ttl_secs());
                }
                Some(b'c') => {
                    out.extend_from_slice(b" c");
                    push_num(out, a.item.cas());
                }
                Some(b'f') => {
                    out.extend_from_slice(b" f");
                    push_num(out, a.item.flags());
                }
                Some(b'l') => {
                    out.extend_from_slice(b" l");
                    push_num(out, a.idle_s);
                }
                Some(b'h') => {
                    out.extend_from_slice(if fetched_before { b" h1" } else { b" h0" });
                }
                Some(b'O') => {
                    if f.len() > MFLAG_MAX_OPAQUE_LENGTH {
                        err = Some("CLIENT_ERROR opaque token too long");
                        return;
                    }
                    out.push(b' ');
                    out.extend_from_slice(f);
                }
                Some(b'k') => meta_key(out, key, of.key_binary),
                _ => {}
            }
        }
        if a.item.has(Item::TOKEN_SENT) {
            out.extend_from_slice(b" Z");
        }
        if a.item.has(Item::STALE) {
            out.extend_from_slice(b" X");
            if !a.item.has(Item::TOKEN_SENT) {
                won = true;
            }
        }
        if won {
            out.extend_from_slice(b" W");
            a.item.set_flag(Item::TOKEN_SENT, true);
        }
        out.extend_from_slice(b"\r\n");
        if of.value {
            out.extend_from_slice(a.item.data());
            out.extend_from_slice(b"\r\n");
        }
    };
    let mut hit = eng.access(key, bump, |a| body(a, false, out)).is_some();
    if !hit && of.vivify && eng.add_if_absent(key, 0, b"", 0).is_some() {
        created = true;
        hit = eng.access(key, bump, |a| body(a, true, out)).is_some();
    }
    let _ = created;
    if let Some(e) = err {
        out.truncate(start);
        err_line(out, e);
        return;
    }
    let (cmd, hm) = if ttl_set {
        (C::CmdTouch, if hit { C::TouchHits } else { C::TouchMisses })
    } else {
        (C::CmdGet, if hit { C::GetHits } else { C::GetMisses })
    };
    eng.incr(c.worker, cmd);
    eng.incr(c.worker, hm);
    if hit {
        return;
    }
    let mut line = b"EN".to_vec();
    for f in flags {
        match f.first() {
            Some(b'O') => {
                if f.len() > MFLAG_MAX_OPAQUE_LENGTH {
                    err_line(out, "CLIENT_ERROR opaque token too long");
                    return;
                }
                line.push(b' ');
                line.extend_from_slice(f);
            }
            Some(b'k') => meta_key(&mut line, key, of.key_binary),
            _ => {}
        }
    }
    if !of.no_reply {
        out.extend_from_slice(&line);
        out.extend_from_slice(b"\r\n");
    }
}

fn meta_set(c: &mut Conn, eng: &Engine, t: &Tokens<'_>, after: &[u8], out: &mut Vec<u8>) -> Step {
    let n = t.ntokens();
    if n < 3 {
        out.extend_from_slice(b"ERROR\r\n");
        return Step::Done(0);
    }
    if tok(t, 1).len() > KEY_MAX_LENGTH || n == 3 {
        err_line(out, "CLIENT_ERROR bad command line format");
        return Step::Done(0);
    }
    if n > MFLAG_MAX_OPT_LENGTH {
        err_line(out, "CLIENT_ERROR options flags too long");
        return Step::Done(0);
    }
    let Some(vlen) = strtol(tok(t, 2)).filter(|&v| (0..=i32::MAX - 2).contains(&v)) else {
        err_line(out, "CLIENT_ERROR bad command line format");
        return Step::Done(0);
    };
    let vlen = vlen as usize;
    let flags = meta_tokens(t, 3);
    let fail = |c: &mut Conn, out: &mut Vec<u8>, e: &str| {
        err_line(out, e);
        c.swallow(vlen + 2);
        Step::Done(0)
    };
    let of = match preparse(tok(t, 1), flags) {
        Ok(of) => of,
        Err(e) => return fail(c, out, e),
    };
    let key = meta_key_of(tok(t, 1), &of);
    if flags
        .iter()
        .any(|f| f.first() == Some(&b'O') && f.len() > MFLAG_MAX_OPAQUE_LENGTH)
    {
        return fail(c, out, "CLIENT_ERROR opaque token too long");
    }
    let mut mode = match of.mode {
        0 | b'S' | b's' => Mode::Set,
        b'E' | b'e' => Mode::Add,
        b'A' | b'a' => Mode::Append,
        b'P' | b'p' => Mode::Prepend,
        b'R' | b'r' => Mode::Replace,
        _ => return fail(c, out, "CLIENT_ERROR invalid mode for ms M token"),
    };
    if of.has_cas && matches!(mode, Mode::Set | Mode::Replace) {
        mode = if of.set_stale {
            Mode::CasStale
        } else {
            Mode::Cas
        };
    }
    if !eng.item_size_ok(key.len(), of.client_flags, vlen) {
        eng.incr(c.worker, C::StoreTooLarge);
        eng.unlink(key);
        return fail(c, out, "SERVER_ERROR object too large for cache");
    }
    if after.len() < vlen + 2 {
        return Step::NeedData(vlen + 2);
    }
    eng.incr(c.worker, C::CmdSet);
    eng.incr(c.worker, C::CmdMeta);
    if after.get(vlen..vlen + 2) != Some(b"\r\n") {
        err_line(out, "CLIENT_ERROR bad data chunk");
        return Step::Done(vlen + 2);
    }
    let data = after.get(..vlen).unwrap_or(&[]);
    let exptime = if of.new_ttl { i64::from(of.exptime) } else { 0 };
    let res = eng.store(
        c.worker,
        mode,
        key,
        of.client_flags,
        exptime,
        data,
        of.req_cas_id,
    );
    let (code, cas): (&[u8], u64) = match res {
        Stored::Stored(cas) => (b"HD", cas),
        Stored::Exists => (b"EX", 0),
        Stored::NotFound => (b"NF", 0),
        Stored::NotStored => (b"NS", 0),
        Stored::NoMemory => {
            err_line(out, "SERVER_ERROR out of memory storing object");
            return Step::Done(vlen + 2);
        }
    };
    if code == b"HD" && of.no_reply {
        return Step::Done(vlen + 2);
    }
    out.extend_from_slice(code);
    for f in flags {
        match f.first() {
            Some(b'O') => {
                out.push(b' ');
                out.extend_from_slice(f);
            }
            Some(b'k') => meta_key(out, key, of.key_binary),
            Some(b'c') => {
                out.extend_from_slice(b" c");
                push_num(out, cas);
            }
            _ => {}
        }
    }
    out.extend_from_slice(b"\r\n");
    Step::Done(vlen + 2)
}

fn meta_delete(c: &Conn, eng: &Engine, t: &Tokens<'_>, out: &mut Vec<u8>) {
    let n = t.ntokens();
    if n < 3 {
        out.extend_from_slice(b"ERROR\r\n");
        return;
    }
    if tok(t, 1).len() > KEY_MAX_LENGTH {
        err_line(out, "CLIENT_ERROR bad command line format");
        return;
    }
    if n > MFLAG_MAX_OPT_LENGTH {
        err_line(out, "CLIENT_ERROR options flags too long");
        return;
    }
    let flags = meta_tokens(t, 2);
    let Ok(of) = preparse(tok(t, 1), flags) else {
        err_line(out, "CLIENT_ERROR invalid or duplicate flag");
        return;
    };
    eng.incr(c.worker, C::CmdMeta);
    let key = meta_key_of(tok(t, 1), &of);
    let mut tail = Vec::new();
    for f in flags {
        match f.first() {
            Some(b'O') => {
                if f.len() > MFLAG_MAX_OPAQUE_LENGTH {
                    err_line(out, "CLIENT_ERROR opaque token too long");
                    return;
                }
                tail.push(b' ');
                tail.extend_from_slice(f);
            }
            Some(b'k') => meta_key(&mut tail, key, of.key_binary),
            _ => {}
        }
    }
    let code: &[u8] = if of.set_stale {
        let r = eng.access(key, false, |a| {
            if of.has_cas && a.item.cas() != of.req_cas_id {
                return false;
            }
            if of.new_ttl {
                a.expire_at = eng.expiry_at(i64::from(of.exptime), a.now);
            }
            a.item.set_flag(Item::STALE, true);
            a.item.set_flag(Item::TOKEN_SENT, false);
            a.item.set_cas(eng.next_cas());
            true
        });
        match r {
            Some(true) => b"HD",
            Some(false) => b"EX",
            None => b"NF",
        }
    } else {
        match eng.delete(key, of.has_cas.then_some(of.req_cas_id)) {
            Deleted::Yes => b"HD",
            Deleted::NotFound => b"NF",
            Deleted::CasMismatch => b"EX",
        }
    };
    match code {
        b"HD" => eng.incr(c.worker, C::DeleteHits),
        _ => eng.incr(c.worker, C::DeleteMisses),
    }
    if code == b"HD" && of.no_reply {
        return;
    }
    out.extend_from_slice(code);
    out.extend_from_slice(&tail);
    out.extend_from_slice(b"\r\n");
}

fn meta_arith(c: &Conn, eng: &Engine, t: &Tokens<'_>, out: &mut Vec<u8>) {
    let n = t.ntokens();
    if n < 3 {
        out.extend_from_slice(b"ERROR\r\n");
        return;
    }
    if tok(t, 1).len() > KEY_MAX_LENGTH {
        err_line(out, "CLIENT_ERROR bad command line format");
        return;
    }
    if n > MFLAG_MAX_OPT_LENGTH {
        err_line(out, "CLIENT_ERROR options flags too long");
        return;
    }
    let flags = meta_tokens(t, 2);
    let Ok(of) = preparse(tok(t, 1), flags) else {
        err_line(out, "CLIENT_ERROR invalid or duplicate flag");
        return;
    };
    eng.incr(c.worker, C::CmdMeta);
    let key = meta_key_of(tok(t, 1), &of);
    let incr = match of.mode {
        0 | b'I' | b'i' | b'+' => true,
        b'D' | b'd' | b'-' => false,
        _ => {
            err_line(out, "CLIENT_ERROR invalid mode for ma M token");
            return;
        }
    };
    let mut line: Vec<u8> = Vec::new();
    let mut created = false;
    let result = match eng.delta(key, incr, of.delta, of.req_cas_id) {
        Delta::Ok(v, _) => {
            eng.incr(c.worker, if incr { C::IncrHits } else { C::DecrHits });
            Some(v)
        }
        Delta::NonNumeric => {
            err_line(
                out,
                "CLIENT_ERROR cannot increment or decrement non-numeric value",
            );
            return;
        }
        Delta::CasMismatch => {
            line.extend_from_slice(b"EX");
            None
        }
        Delta::NotFound => {
            if of.vivify {
                let mut b = itoa::Buffer::new();
                let init = b.format(of.initial).as_bytes().to_vec();
                if eng.add_if_absent(key, 0, &init, 0).is_some() {
                    created = true;
                    Some(of.initial)
                } else {
                    line.extend_from_slice(b"NS");
                    None
                }
            } else {
                eng.incr(c.worker, if incr { C::IncrMisses } else { C::DecrMisses });
                line.extend_from_slice(b"NF");
                None
            }
        }
    };
    match result {
        Some(v) => {
            let mut b = itoa::Buffer::new();
            let val = b.format(v).as_bytes().to_vec();
            let mut err = None;
            eng.access(key, false, |a| {
                if of.value {
                    line.extend_from_slice(b"VA ");
                    push_num(&mut line, val.len());
                } else {
                    line.extend_from_slice(b"HD");
                }
                for f in flags {
                    match f.first() {
                        Some(b'c') => {
                            line.extend_from_slice(b" c");
                            push_num(&mut line, a.item.cas());
                        }
                        Some(b't') => {
                            line.extend_from_slice(b" t");
                            push_num(&mut line, a.ttl_secs());
                        }
                        Some(b'T') => a.expire_at = eng.expiry_at(i64::from(of.exptime), a.now),
                        Some(b'N') if created => {
                            a.expire_at = eng.expiry_at(i64::from(of.autoviv_exptime), a.now);
                        }
                        Some(b'O') => {
                            if f.len() > MFLAG_MAX_OPAQUE_LENGTH {
                                err = Some("CLIENT_ERROR opaque token too long");
                                return;
                            }
                            line.push(b' ');
                            line.extend_from_slice(f);
                        }
                        Some(b'k') => meta_key(&mut line, key, of.key_binary),
                        _ => {}
                    }
                }
                if of.value {
                    line.extend_from_slice(b"\r\n");
                    line.extend_from_slice(&val);
                }
            });
            if let Some(e) = err {
                err_line(out, e);
                return;
            }
            // Quiet mode hides only the reply of a plain hit (memcached
            // answers a vivified miss even with `q`).
            if of.no_reply && !created {
                return;
            }
        }
        None => {
            for f in flags {
                match f.first() {
                    Some(b'O') => {
                        if f.len() > MFLAG_MAX_OPAQUE_LENGTH {
                            err_line(out, "CLIENT_ERROR opaque token too long");
                            return;
                        }
                        line.push(b' ');
                        line.extend_from_slice(f);
                    }
                    Some(b'k') => meta_key(&mut line, key, of.key_binary),
                    _ => {}
                }
            }
        }
    }
    out.extend_from_slice(&line);
    out.extend_from_slice(b"\r\n");
}

/// memcached's slab class for an item of `ntotal` bytes with the default
/// `-n 48 -f 1.25` settings (class 1 holds 96-byte chunks).
pub fn slab_class(ntotal: usize) -> (u32, usize) {
    let mut size = 96usize;
    let mut cls = 1u32;
    while size < ntotal && cls < 63 {
        size = ((size as f64 * 1.25) as usize).div_ceil(8) * 8;
        cls += 1;
    }
    (cls, size)
}

fn meta_debug(eng: &Engine, t: &Tokens<'_>, out: &mut Vec<u8>) {
    let n = t.ntokens();
    let raw = tok(t, 1);
    if n < 3 || raw.len() > KEY_MAX_LENGTH {
        err_line(out, "CLIENT_ERROR bad command line format");
        return;
    }
    let mut binary = false;
    let mut decoded = None;
    if n >= 4 && tok(t, 2) == b"b" {
        match ferrocache_protocol::memcache::meta::b64_decode(raw) {
            Some(k) if !k.is_empty() => {
                decoded = Some(k);
                binary = true;
            }
            _ => {
                err_line(out, "CLIENT_ERROR bad command line format");
                return;
            }
        }
    }
    let key = decoded.as_deref().unwrap_or(raw);
    let found = eng.access(key, false, |a| {
        out.extend_from_slice(b"ME ");
        if binary {
            b64_encode(key, out);
        } else {
            out.extend_from_slice(key);
        }
        let exp = match a.expire_at {
            None => -1,
            Some(_) => -a.ttl_secs(),
        };
        let ntotal = 48
            + 8
            + key.len()
            + 1
            + a.item.data().len()
            + 2
            + if a.item.flags() == 0 { 0 } else { 4 };
        let (cls, _) = slab_class(ntotal);
        out.extend_from_slice(
            format!(
                " exp={} la={} cas={} fetch={} cls={} size={}\r\n",
                exp,
                a.idle_s,
                a.item.cas(),
                if a.item.has(Item::FETCHED) {
                    "yes"
                } else {
                    "no"
                },
                cls,
                ntotal
            )
            .as_bytes(),
        );
    });
    if found.is_none() {
        out.extend_from_slice(b"EN\r\n");
    }
}
