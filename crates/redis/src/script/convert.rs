//! Conversions between RESP and Lua values, exactly as Redis 7.0's
//! `script_lua.c` does them (`redisProtocolToLuaType_*` and
//! `luaReplyToRedisReply`).

use crate::error::{CmdError, CmdResult};
use ferrocache_protocol::reply::format_double;
use ferrocache_protocol::ReplyWriter;
use mlua::{Lua, Table, Value};

/// Deepest reply nesting converted (Redis's limit comes from the Lua stack).
const MAX_DEPTH: usize = 1000;

/// A redis.call argument: strings as they are, numbers as `%.17g` (Redis
/// avoids Lua's lossy `%.14g`); anything else is refused (None).
pub fn arg_bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Number(n) => Some(format_double(*n).into_bytes()),
        Value::Integer(i) => Some(format_double(*i as f64).into_bytes()),
        _ => None,
    }
}

/// `%.17g` of a Lua number (a redis.call argument); integral values (the common case: counters,
/// TTLs) without going through the float formatter.
pub fn append_number(buf: &mut Vec<u8>, n: f64) {
    if n.fract() == 0.0 && n.abs() < 1e15 && !(n == 0.0 && n.is_sign_negative()) {
        let mut b = itoa::Buffer::new();
        buf.extend_from_slice(b.format(n as i64).as_bytes());
    } else {
        buf.extend_from_slice(format_double(n).as_bytes());
    }
}

fn line<'b>(b: &'b [u8], pos: &mut usize) -> mlua::Result<(u8, &'b [u8])> {
    let start = *pos;
    let Some(&kind) = b.get(start) else {
        return Err(mlua::Error::RuntimeError("truncated reply".into()));
    };
    let rest = &b[start + 1..];
    let mut from = 0;
    let nl = loop {
        let Some(i) = rest[from..].iter().position(|&c| c == b'\r') else {
            return Err(mlua::Error::RuntimeError("truncated reply".into()));
        };
        if rest.get(from + i + 1) == Some(&b'\n') {
            break from + i;
        }
        from += i + 1;
    };
    *pos = start + 1 + nl + 2;
    Ok((kind, &rest[..nl]))
}

fn num(s: &[u8]) -> i64 {
    let (neg, digits) = match s.split_first() {
        Some((b'-', d)) => (true, d),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return std::str::from_utf8(s)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
    }
    let v = digits
        .iter()
        .fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0'));
    if neg {
        -v
    } else {
        v
    }
}

fn bulk<'b>(b: &'b [u8], pos: &mut usize, len: i64) -> mlua::Result<&'b [u8]> {
    let len = len.max(0) as usize;
    let end = pos.saturating_add(len);
    let Some(data) = b.get(*pos..end) else {
        return Err(mlua::Error::RuntimeError("truncated reply".into()));
    };
    *pos = end + 2;
    Ok(data)
}

/// Convert one RESP reply at `b[*pos..]` to a Lua value.
pub fn resp_to_lua(lua: &Lua, b: &[u8], pos: &mut usize, depth: usize) -> mlua::Result<Value> {
    if depth > MAX_DEPTH {
        return Err(mlua::Error::RuntimeError(
            "reached lua stack limit".to_string(),
        ));
    }
    let (kind, l) = line(b, pos)?;
    Ok(match kind {
        b'+' => {
            let t = lua.create_table()?;
            t.raw_set("ok", lua.create_string(l)?)?;
            Value::Table(t)
        }
        b'-' => {
            // luaPushErrorBuff("-" + text): "CODE msg", or "ERR text"
            // when there is no space.
            let mut msg = if l.contains(&b' ') {
                l.to_vec()
            } else {
                let mut m = b"ERR ".to_vec();
                m.extend_from_slice(l);
                m
            };
            while msg.last().is_some_and(|&c| c == b'\r' || c == b'\n') {
                msg.pop();
            }
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(&msg)?)?;
            t.raw_set("ignore_error_stats_update", true)?;
            Value::Table(t)
        }
        b':' => Value::Number(num(l) as f64),
        b'$' => {
            let n = num(l);
            if n < 0 {
                Value::Boolean(false)
            } else {
                Value::String(lua.create_string(bulk(b, pos, n)?)?)
            }
        }
        b'*' | b'>' => {
            let n = num(l);
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let t = lua.create_table_with_capacity(n as usize, 0)?;
            for i in 0..n {
                let v = resp_to_lua(lua, b, pos, depth + 1)?;
                t.raw_set(i + 1, v)?;
            }
            Value::Table(t)
        }
        b'%' => {
            let n = num(l);
            let inner = lua.create_table()?;
            for _ in 0..n {
                let k = resp_to_lua(lua, b, pos, depth + 1)?;
                let v = resp_to_lua(lua, b, pos, depth + 1)?;
                if !k.is_nil() {
                    inner.raw_set(k, v)?;
                }
            }
            let t = lua.create_table()?;
            t.raw_set("map", inner)?;
            Value::Table(t)
        }
        b'~' => {
            let n = num(l);
            let inner = lua.create_table()?;
            for _ in 0..n {
                let k = resp_to_lua(lua, b, pos, depth + 1)?;
                if !k.is_nil() {
                    inner.raw_set(k, true)?;
                }
            }
            let t = lua.create_table()?;
            t.raw_set("set", inner)?;
            Value::Table(t)
        }
        b'_' => Value::Nil,
        b'#' => Value::Boolean(l.first() == Some(&b't')),
        b',' => {
            let s = String::from_utf8_lossy(l).to_ascii_lowercase();
            let d = match s.as_str() {
                "inf" | "+inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" | "-nan" => f64::NAN,
                _ => s.parse().unwrap_or(0.0),
            };
            let t = lua.create_table()?;
            t.raw_set("double", d)?;
            Value::Table(t)
        }
        b'(' => {
            let t = lua.create_table()?;
            t.raw_set("big_number", lua.create_string(l)?)?;
            Value::Table(t)
        }
        b'=' => {
            let data = bulk(b, pos, num(l))?;
            let (format, text) = if data.len() >= 4 {
                (&data[..3], &data[4..])
            } else {
                (&b"txt"[..], data)
            };
            let inner = lua.create_table()?;
            inner.raw_set("string", lua.create_string(text)?)?;
            inner.raw_set("format", lua.create_string(format)?)?;
            let t = lua.create_table()?;
            t.raw_set("verbatim_string", inner)?;
            Value::Table(t)
        }
        b'|' => {
            // Attributes are not exposed to scripts: skip them.
            let n = num(l);
            for _ in 0..2 * n {
                resp_to_lua(lua, b, pos, depth + 1)?;
            }
            resp_to_lua(lua, b, pos, depth + 1)?
        }
        b'!' => {
            let data = bulk(b, pos, num(l))?;
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(data)?)?;
            Value::Table(t)
        }
        _ => Value::Nil,
    })
}

fn str_field(t: &Table, name: &str) -> Option<mlua::String> {
    match t.raw_get::<Value>(name) {
        Ok(Value::String(s)) => Some(s),
        _ => None,
    }
}

fn map_crlf(b: &[u8]) -> Vec<u8> {
    b.iter()
        .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c })
        .collect()
}

/// Write the Lua value `v` as the client's reply (`luaReplyToRedisReply`).
/// `resp3` is the script's protocol (redis.setresp), which decides how
/// booleans convert.
pub fn lua_to_reply(out: &mut ReplyWriter, v: &Value, resp3: bool, depth: usize) -> CmdResult {
    if depth > MAX_DEPTH {
        out.error("ERR reached lua stack limit");
        return Ok(());
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if resp3 {
                out.boolean(*b);
            } else if *b {
                out.int(1);
            } else {
                out.null();
            }
        }
        Value::Number(n) => out.int(*n as i64),
        Value::Integer(i) => out.int(*i),
        Value::Table(t) => {
            if let Some(e) = str_field(t, "err") {
                let msg = e.as_bytes().to_vec();
                if depth == 0 {
                    return Err(CmdError::Raw(msg));
                }
                out.error_bytes(&msg);
                return Ok(());
            }
            if let Some(ok) = str_field(t, "ok") {
                let mut r = b"+".to_vec();
                r.extend_from_slice(&map_crlf(&ok.as_bytes()));
                r.extend_from_slice(b"\r\n");
                out.raw(&r);
                return Ok(());
            }
            if let Ok(Value::Number(d)) = t.raw_get::<Value>("double") {
                out.double(d);
                return Ok(());
            }
            if let Some(bn) = str_field(t, "big_number") {
                let s = map_crlf(&bn.as_bytes());
                if out.is_resp3() {
                    let mut r = b"(".to_vec();
                    r.extend_from_slice(&s);
                    r.extend_from_slice(b"\r\n");
                    out.raw(&r);
                } else {
                    out.bulk(&s);
                }
                return Ok(());
            }
            if let Ok(Value::Table(vt)) = t.raw_get::<Value>("verbatim_string") {
                if let (Some(f), Some(s)) = (str_field(&vt, "format"), str_field(&vt, "string")) {
                    let f = String::from_utf8_lossy(&f.as_bytes()).into_owned();
                    let f: String = f.chars().take(3).collect();
                    out.verbatim(&f, &s.as_bytes());
                    return Ok(());
                }
            }
            if let Ok(Value::Table(m)) = t.raw_get::<Value>("map") {
                let pairs: Vec<(Value, Value)> =
                    m.pairs::<Value, Value>().filter_map(|p| p.ok()).collect();
                out.map(pairs.len());
                for (k, v) in &pairs {
                    lua_to_reply(out, k, resp3, depth + 1)?;
                    lua_to_reply(out, v, resp3, depth + 1)?;
                }
                return Ok(());
            }
            if let Ok(Value::Table(s)) = t.raw_get::<Value>("set") {
                let keys: Vec<Value> = s
                    .pairs::<Value, Value>()
                    .filter_map(|p| p.ok().map(|p| p.0))
                    .collect();
                out.set(keys.len());
                for k in &keys {
                    lua_to_reply(out, k, resp3, depth + 1)?;
                }
                return Ok(());
            }
            let mut items = Vec::new();
            let mut j = 1i64;
            loop {
                match t.raw_get::<Value>(j) {
                    Ok(Value::Nil) | Err(_) => break,
                    Ok(v) => items.push(v),
                }
                j += 1;
            }
            out.array(items.len());
            for it in &items {
                // Nested errors are written, not returned.
                lua_to_reply(out, it, resp3, depth + 1)?;
            }
        }
        _ => out.null(),
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The same conversion on the raw Lua stack (redis.call's fast path).
// ---------------------------------------------------------------------------

use mlua::ffi;
use std::os::raw::{c_char, c_int};

pub(crate) unsafe fn push_bytes(state: *mut ffi::lua_State, b: &[u8]) {
    ffi::lua_pushlstring_(state, b.as_ptr() as *const c_char, b.len());
}

/// `t[key] = <value at the top>` for the table just below it.
unsafe fn set_field(state: *mut ffi::lua_State, key: &[u8], push_value: impl FnOnce()) {
    push_bytes(state, key);
    push_value();
    ffi::lua_rawset(state, -3);
}

/// Push `{err = msg, ignore_error_stats_update = true}` (Redis's error
/// table for replies and redis.call's own checks).
///
/// # Safety
/// `state` must be a live Lua state with room for 3 more values.
pub unsafe fn push_error_table(state: *mut ffi::lua_State, msg: &[u8]) {
    ffi::lua_createtable(state, 0, 2);
    set_field(state, b"err", || push_bytes(state, msg));
    set_field(state, b"ignore_error_stats_update", || {
        ffi::lua_pushboolean(state, 1)
    });
}

/// Push the RESP reply at `b[*pos..]` as one Lua value, exactly as
/// [`resp_to_lua`] converts it, without going through mlua values. On error
/// the caller resets the stack.
///
/// # Safety
/// `state` must be a live Lua state running a C function (so C API calls
/// are protected), with no Rust value needing a destructor between it and
/// the caller's frame.
pub unsafe fn push_resp(
    state: *mut ffi::lua_State,
    b: &[u8],
    pos: &mut usize,
    depth: usize,
) -> Result<(), &'static str> {
    if depth > MAX_DEPTH || ffi::lua_checkstack(state, 6) == 0 {
        return Err("reached lua stack limit");
    }
    let (kind, l) = line(b, pos).map_err(|_| "truncated reply")?;
    match kind {
        b'+' => {
            ffi::lua_createtable(state, 0, 1);
            set_field(state, b"ok", || push_bytes(state, l));
        }
        b'-' => {
            let mut msg = if l.contains(&b' ') {
                l.to_vec()
            } else {
                let mut m = b"ERR ".to_vec();
                m.extend_from_slice(l);
                m
            };
            while msg.last().is_some_and(|&c| c == b'\r' || c == b'\n') {
                msg.pop();
            }
            push_error_table(state, &msg);
        }
        b':' => ffi::lua_pushnumber(state, num(l) as f64),
        b'$' => {
            let n = num(l);
            if n < 0 {
                ffi::lua_pushboolean(state, 0);
            } else {
                let data = bulk(b, pos, n).map_err(|_| "truncated reply")?;
                push_bytes(state, data);
            }
        }
        b'*' | b'>' => {
            let n = num(l);
            if n < 0 {
                ffi::lua_pushboolean(state, 0);
            } else {
                ffi::lua_createtable(state, n.min(1 << 20) as c_int, 0);
                for i in 0..n {
                    push_resp(state, b, pos, depth + 1)?;
                    ffi::lua_rawseti_(state, -2, (i + 1) as c_int);
                }
            }
        }
        b'%' | b'~' => {
            let n = num(l);
            let map = kind == b'%';
            ffi::lua_createtable(state, 0, 1);
            push_bytes(state, if map { b"map" } else { b"set" });
            ffi::lua_createtable(state, 0, 0);
            for _ in 0..n {
                push_resp(state, b, pos, depth + 1)?;
                if map {
                    push_resp(state, b, pos, depth + 1)?;
                } else {
                    ffi::lua_pushboolean(state, 1);
                }
                // A nil (or NaN) key cannot index a table: skip the pair.
                let kt = ffi::lua_type(state, -2);
                let bad = kt == ffi::LUA_TNIL
                    || (kt == ffi::LUA_TNUMBER && ffi::lua_tonumber(state, -2).is_nan());
                if bad {
                    ffi::lua_settop(state, -3);
                } else {
                    ffi::lua_rawset(state, -3);
                }
            }
            ffi::lua_rawset(state, -3);
        }
        b'_' => ffi::lua_pushnil(state),
        b'#' => ffi::lua_pushboolean(state, c_int::from(l.first() == Some(&b't'))),
        b',' => {
            let s = String::from_utf8_lossy(l).to_ascii_lowercase();
            let d = match s.as_str() {
                "inf" | "+inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" | "-nan" => f64::NAN,
                _ => s.parse().unwrap_or(0.0),
            };
            ffi::lua_createtable(state, 0, 1);
            set_field(state, b"double", || ffi::lua_pushnumber(state, d));
        }
        b'(' => {
            ffi::lua_createtable(state, 0, 1);
            set_field(state, b"big_number", || push_bytes(state, l));
        }
        b'=' => {
            let data = bulk(b, pos, num(l)).map_err(|_| "truncated reply")?;
            let (format, text) = if data.len() >= 4 {
                (&data[..3], &data[4..])
            } else {
                (&b"txt"[..], data)
            };
            ffi::lua_createtable(state, 0, 1);
            push_bytes(state, b"verbatim_string");
            ffi::lua_createtable(state, 0, 2);
            set_field(state, b"string", || push_bytes(state, text));
            set_field(state, b"format", || push_bytes(state, format));
            ffi::lua_rawset(state, -3);
        }
        b'|' => {
            // Attributes are not exposed to scripts: skip them.
            let n = num(l);
            for _ in 0..2 * n {
                push_resp(state, b, pos, depth + 1)?;
                ffi::lua_settop(state, -2);
            }
            push_resp(state, b, pos, depth + 1)?;
        }
        b'!' => {
            let data = bulk(b, pos, num(l)).map_err(|_| "truncated reply")?;
            ffi::lua_createtable(state, 0, 1);
            set_field(state, b"err", || push_bytes(state, data));
        }
        _ => ffi::lua_pushnil(state),
    }
    Ok(())
}
