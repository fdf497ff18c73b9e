//! The Lua libraries Redis bundles (lua_cjson.c, lua_cmsgpack.c, lua_bit.c,
//! lua_struct.c), implemented in Rust with the same results for the
//! functions scripts use, plus Redis's deterministic `math.random`.
//!
//! Errors are raised as `luaL_error` in a C library does: the message
//! prefixed with the calling Lua code's position.

use mlua::{LightUserData, Lua, MultiValue, Table, Value};
use parking_lot::Mutex;

type R = mlua::Result<MultiValue>;

fn ok(lua: &Lua, vals: Vec<Value>) -> R {
    let _ = lua;
    Ok(MultiValue::from_vec(vals))
}

/// Raise `msg` as `luaL_error` would from a C function: prefixed with the
/// caller's position when the caller is Lua code.
fn fail(lua: &Lua, msg: impl AsRef<[u8]>) -> R {
    let msg = String::from_utf8_lossy(msg.as_ref()).into_owned();
    Err(mlua::Error::RuntimeError(format!(
        "{}{msg}",
        where_(lua, 1)
    )))
}

/// `luaL_where(L, level)`: "short_src:line: " of the frame at `level` when
/// it is a Lua function, "" otherwise.
pub fn where_(lua: &Lua, level: usize) -> String {
    let Some(frame) = lua.inspect_stack(level) else {
        return String::new();
    };
    let line = frame.curr_line();
    if line <= 0 {
        return String::new();
    }
    let src = frame.source();
    format!("{}:{line}: ", src.short_src.as_deref().unwrap_or("?"))
}

/// Lua's `tostring` of a number (`%.14g`).
pub fn lua_number_string(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf" } else { "-inf" }.into();
    }
    ferrocache_protocol::reply::format_g(n, 14)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Boolean(_) => "boolean",
        Value::LightUserData(_) | Value::UserData(_) => "userdata",
        Value::Integer(_) | Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Table(_) => "table",
        Value::Function(_) => "function",
        Value::Thread(_) => "thread",
        _ => "userdata",
    }
}

/// `luaL_checknumber`: numbers and numeric strings.
fn check_number(args: &[Value], i: usize, fname: &str) -> Result<f64, String> {
    match args.get(i) {
        Some(Value::Number(n)) => Ok(*n),
        Some(Value::Integer(n)) => Ok(*n as f64),
        Some(Value::String(s)) => {
            let st = s.as_bytes();
            let t = std::str::from_utf8(&st).unwrap_or("").trim();
            let parsed = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                i64::from_str_radix(h, 16).ok().map(|v| v as f64)
            } else {
                t.parse::<f64>().ok()
            };
            parsed.ok_or_else(|| {
                format!(
                    "bad argument #{} to '{fname}' (number expected, got string)",
                    i + 1
                )
            })
        }
        other => Err(format!(
            "bad argument #{} to '{fname}' (number expected, got {})",
            i + 1,
            other.map(type_name).unwrap_or("no value")
        )),
    }
}

// ---------------------------------------------------------------------------
// math.random (redisLrand48) and math.randomseed.
// ---------------------------------------------------------------------------

static RAND48: Mutex<u64> = Mutex::new(0x1234_ABCD_330E);
const RAND48_MAX: i64 = i32::MAX as i64;

fn lrand48() -> i64 {
    let mut x = RAND48.lock();
    *x = (x.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB)) & 0xFFFF_FFFF_FFFF;
    (*x >> 17) as i64
}

fn lua_err(lua: &Lua, msg: &str) -> mlua::Error {
    mlua::Error::RuntimeError(format!("{}{msg}", where_(lua, 1)))
}

pub fn math_random(lua: &Lua, args: MultiValue) -> mlua::Result<f64> {
    let a: Vec<Value> = args.into_iter().collect();
    let r = (lrand48() % RAND48_MAX) as f64 / RAND48_MAX as f64;
    let int = |i: usize| -> mlua::Result<f64> {
        check_number(&a, i, "random")
            .map(|n| (n as i64) as f64)
            .map_err(|e| lua_err(lua, &e))
    };
    match a.len() {
        0 => Ok(r),
        1 => {
            let u = int(0)?;
            if u < 1.0 {
                return Err(lua_err(
                    lua,
                    "bad argument #1 to 'random' (interval is empty)",
                ));
            }
            Ok((r * u).floor() + 1.0)
        }
        2 => {
            let l = int(0)?;
            let u = int(1)?;
            if l > u {
                return Err(lua_err(
                    lua,
                    "bad argument #2 to 'random' (interval is empty)",
                ));
            }
            Ok((r * (u - l + 1.0)).floor() + l)
        }
        _ => Err(lua_err(lua, "wrong number of arguments")),
    }
}

pub fn math_randomseed(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    let a: Vec<Value> = args.into_iter().collect();
    let seed = check_number(&a, 0, "randomseed").map_err(|e| lua_err(lua, &e))? as i64 as i32;
    *RAND48.lock() = ((u64::from(seed as u32)) << 16) | 0x330E;
    Ok(())
}

// ---------------------------------------------------------------------------
// bit (LuaBitOp).
// ---------------------------------------------------------------------------

fn tobit(n: f64) -> i32 {
    // LuaBitOp's 2^52+2^51 trick: round to nearest (even), keep 32 bits.
    let r = n.round_ties_even();
    if !r.is_finite() {
        return 0;
    }
    (r.rem_euclid(4_294_967_296.0) as u64 as u32) as i32
}

pub fn bit(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    type Op = fn(&[i32]) -> i32;
    let fold: &[(&str, Op)] = &[
        ("band", |v| v.iter().fold(-1, |a, b| a & b)),
        ("bor", |v| v.iter().fold(0, |a, b| a | b)),
        ("bxor", |v| v.iter().fold(0, |a, b| a ^ b)),
    ];
    for &(name, f) in fold {
        t.set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let a: Vec<Value> = args.into_iter().collect();
                let mut v = Vec::with_capacity(a.len().max(1));
                for i in 0..a.len().max(1) {
                    match check_number(&a, i, name) {
                        Ok(n) => v.push(tobit(n)),
                        Err(e) => return fail(lua, e),
                    }
                }
                ok(lua, vec![Value::Number(f64::from(f(&v)))])
            })?,
        )?;
    }
    type Un = fn(i32) -> i32;
    let unary: &[(&str, Un)] = &[
        ("tobit", |x| x),
        ("bnot", |x| !x),
        ("bswap", |x| x.swap_bytes()),
    ];
    for &(name, f) in unary {
        t.set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let a: Vec<Value> = args.into_iter().collect();
                match check_number(&a, 0, name) {
                    Ok(n) => ok(lua, vec![Value::Number(f64::from(f(tobit(n))))]),
                    Err(e) => fail(lua, e),
                }
            })?,
        )?;
    }
    type Sh = fn(i32, u32) -> i32;
    let shifts: &[(&str, Sh)] = &[
        ("lshift", |x, n| ((x as u32) << n) as i32),
        ("rshift", |x, n| ((x as u32) >> n) as i32),
        ("arshift", |x, n| x >> n),
        ("rol", |x, n| (x as u32).rotate_left(n) as i32),
        ("ror", |x, n| (x as u32).rotate_right(n) as i32),
    ];
    for &(name, f) in shifts {
        t.set(
            name,
            lua.create_function(move |lua, args: MultiValue| {
                let a: Vec<Value> = args.into_iter().collect();
                let x = match check_number(&a, 0, name) {
                    Ok(n) => tobit(n),
                    Err(e) => return fail(lua, e),
                };
                let n = match check_number(&a, 1, name) {
                    Ok(n) => (tobit(n) & 31) as u32,
                    Err(e) => return fail(lua, e),
                };
                ok(lua, vec![Value::Number(f64::from(f(x, n)))])
            })?,
        )?;
    }
    t.set(
        "tohex",
        lua.create_function(|lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            let x = match check_number(&a, 0, "tohex") {
                Ok(n) => tobit(n) as u32,
                Err(e) => return fail(lua, e),
            };
            let mut n: i32 = if a.len() > 1 && !matches!(a.get(1), Some(Value::Nil)) {
                match check_number(&a, 1, "tohex") {
                    Ok(v) => tobit(v),
                    Err(e) => return fail(lua, e),
                }
            } else {
                8
            };
            let upper = n < 0;
            if upper {
                n = n.wrapping_neg();
            }
            let n = (n.clamp(0, 8)) as usize;
            let full = if upper {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            let s = &full[8 - n..];
            ok(lua, vec![Value::String(lua.create_string(s)?)])
        })?,
    )?;
    Ok(t)
}

// ---------------------------------------------------------------------------
// cjson.
// ---------------------------------------------------------------------------

const JSON_MAX_DEPTH: usize = 1000;

fn json_null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

fn json_escape(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => {
                out.extend_from_slice(format!("\\u{:04x}", c).as_bytes());
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn json_number(out: &mut Vec<u8>, n: f64) -> Result<(), String> {
    if !n.is_finite() {
        return Err("Cannot serialise number: must not be NaN or Inf".into());
    }
    out.extend_from_slice(lua_number_string(n).as_bytes());
    Ok(())
}

fn json_encode(out: &mut Vec<u8>, v: &Value, depth: usize) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => json_number(out, *n)?,
        Value::Integer(i) => json_number(out, *i as f64)?,
        Value::String(s) => json_escape(out, &s.as_bytes()),
        Value::Table(t) => {
            let depth = depth + 1;
            if depth > JSON_MAX_DEPTH {
                return Err(format!("Cannot serialise, excessive nesting ({depth})"));
            }
            let pairs: Vec<(Value, Value)> =
                t.pairs::<Value, Value>().filter_map(|p| p.ok()).collect();
            // Array detection (lua_array_length): only positive integer keys.
            let mut max = 0usize;
            let mut is_array = true;
            for (k, _) in &pairs {
                let n = match k {
                    Value::Number(n) => *n,
                    Value::Integer(i) => *i as f64,
                    _ => {
                        is_array = false;
                        break;
                    }
                };
                if n.floor() != n || n < 1.0 {
                    is_array = false;
                    break;
                }
                max = max.max(n as usize);
            }
            if is_array && max > 0 {
                if max > 10 && max > pairs.len() * 2 {
                    return Err("Cannot serialise table: excessively sparse array".into());
                }
                out.push(b'[');
                for i in 1..=max {
                    if i > 1 {
                        out.push(b',');
                    }
                    let v = t.raw_get::<Value>(i).unwrap_or(Value::Nil);
                    json_encode(out, &v, depth)?;
                }
                out.push(b']');
            } else {
                out.push(b'{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    match k {
                        Value::String(s) => json_escape(out, &s.as_bytes()),
                        Value::Number(n) => {
                            out.push(b'"');
                            json_number(out, *n)?;
                            out.push(b'"');
                        }
                        Value::Integer(n) => {
                            out.push(b'"');
                            json_number(out, *n as f64)?;
                            out.push(b'"');
                        }
                        other => {
                            return Err(format!(
                                "Cannot serialise {}: table key must be a number or string",
                                type_name(other)
                            ))
                        }
                    }
                    out.push(b':');
                    json_encode(out, v, depth)?;
                }
                out.push(b'}');
            }
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                type_name(other)
            ))
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    Str(Vec<u8>),
    Num(f64),
    Bool(bool),
    Null,
    Colon,
    Comma,
    End,
    Error(&'static str),
}

impl Tok {
    fn name(&self) -> &'static str {
        match self {
            Tok::ObjBegin => "T_OBJ_BEGIN",
            Tok::ObjEnd => "T_OBJ_END",
            Tok::ArrBegin => "T_ARR_BEGIN",
            Tok::ArrEnd => "T_ARR_END",
            Tok::Str(_) => "T_STRING",
            Tok::Num(_) => "T_NUMBER",
            Tok::Bool(_) => "T_BOOLEAN",
            Tok::Null => "T_NULL",
            Tok::Colon => "T_COLON",
            Tok::Comma => "T_COMMA",
            Tok::End => "T_END",
            Tok::Error(e) => e,
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    i: usize,
}

impl JsonParser<'_> {
    /// Next token and its index (0-based) in the input.
    fn next(&mut self) -> (Tok, usize) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
        let start = self.i;
        let Some(&c) = self.s.get(self.i) else {
            return (Tok::End, start);
        };
        let single = |t: Tok, p: &mut Self| {
            p.i += 1;
            (t, start)
        };
        match c {
            b'{' => single(Tok::ObjBegin, self),
            b'}' => single(Tok::ObjEnd, self),
            b'[' => single(Tok::ArrBegin, self),
            b']' => single(Tok::ArrEnd, self),
            b':' => single(Tok::Colon, self),
            b',' => single(Tok::Comma, self),
            b'"' => (self.string(), start),
            b'-' | b'0'..=b'9' => (self.number(), start),
            _ => {
                for (word, tok) in [
                    (&b"true"[..], Tok::Bool(true)),
                    (b"false", Tok::Bool(false)),
                    (b"null", Tok::Null),
                ] {
                    if self.s[self.i..].starts_with(word) {
                        self.i += word.len();
                        return (tok, start);
                    }
                }
                (Tok::Error("invalid token"), start)
            }
        }
    }

    fn number(&mut self) -> Tok {
        let start = self.i;
        let mut j = self.i;
        while j < self.s.len()
            && matches!(self.s[j], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
        {
            j += 1;
        }
        let text = std::str::from_utf8(&self.s[start..j]).unwrap_or("");
        match text.parse::<f64>() {
            Ok(n) => {
                self.i = j;
                Tok::Num(n)
            }
            Err(_) => Tok::Error("invalid number"),
        }
    }

    fn string(&mut self) -> Tok {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Tok::Error("unexpected end of string");
            };
            self.i += 1;
            match c {
                b'"' => return Tok::Str(out),
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Tok::Error("unexpected end of string");
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let Some(cp) = self.hex4() else {
                                return Tok::Error("invalid unicode escape code");
                            };
                            let mut cp = cp;
                            if (0xD800..0xDC00).contains(&cp) {
                                if self.s.get(self.i) == Some(&b'\\')
                                    && self.s.get(self.i + 1) == Some(&b'u')
                                {
                                    self.i += 2;
                                    let Some(lo) = self.hex4() else {
                                        return Tok::Error("invalid unicode escape code");
                                    };
                                    if !(0xDC00..0xE000).contains(&lo) {
                                        return Tok::Error("invalid unicode escape code");
                                    }
                                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                } else {
                                    return Tok::Error("invalid unicode escape code");
                                }
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => return Tok::Error("invalid escape code"),
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        let v = u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
        self.i += 4;
        Some(v)
    }

    fn err(expected: &str, tok: &Tok, at: usize) -> String {
        format!(
            "Expected {expected} but found {} at character {}",
            tok.name(),
            at + 1
        )
    }

    fn value(&mut self, lua: &Lua, tok: Tok, at: usize, depth: usize) -> Result<Value, String> {
        let lerr = |e: mlua::Error| e.to_string();
        match tok {
            Tok::Str(s) => Ok(Value::String(lua.create_string(&s).map_err(lerr)?)),
            Tok::Num(n) => Ok(Value::Number(n)),
            Tok::Bool(b) => Ok(Value::Boolean(b)),
            Tok::Null => Ok(json_null()),
            Tok::ObjBegin | Tok::ArrBegin => {
                let depth = depth + 1;
                if depth > JSON_MAX_DEPTH {
                    return Err(format!(
                        "Found too many nested data structures ({depth}) at character {}",
                        at + 1
                    ));
                }
                let t = lua.create_table().map_err(lerr)?;
                if tok == Tok::ArrBegin {
                    let (mut tk, mut pos) = self.next();
                    if tk == Tok::ArrEnd {
                        return Ok(Value::Table(t));
                    }
                    let mut i = 1;
                    loop {
                        let v = self.value(lua, tk, pos, depth)?;
                        t.raw_set(i, v).map_err(lerr)?;
                        i += 1;
                        let (sep, p) = self.next();
                        match sep {
                            Tok::ArrEnd => return Ok(Value::Table(t)),
                            Tok::Comma => {}
                            other => return Err(Self::err("comma or array end", &other, p)),
                        }
                        (tk, pos) = self.next();
                    }
                }
                let (mut tk, mut pos) = self.next();
                if tk == Tok::ObjEnd {
                    return Ok(Value::Table(t));
                }
                loop {
                    let Tok::Str(key) = tk else {
                        return Err(Self::err("object key string", &tk, pos));
                    };
                    let (c, cp) = self.next();
                    if c != Tok::Colon {
                        return Err(Self::err("colon", &c, cp));
                    }
                    let (vt, vp) = self.next();
                    let v = self.value(lua, vt, vp, depth)?;
                    t.raw_set(lua.create_string(&key).map_err(lerr)?, v)
                        .map_err(lerr)?;
                    let (sep, p) = self.next();
                    match sep {
                        Tok::ObjEnd => return Ok(Value::Table(t)),
                        Tok::Comma => {}
                        other => return Err(Self::err("comma or object end", &other, p)),
                    }
                    (tk, pos) = self.next();
                }
            }
            other => Err(Self::err("value", &other, at)),
        }
    }
}

pub fn cjson(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function(|lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            if a.len() != 1 {
                return fail(lua, "bad argument #1 to 'encode' (expected 1 argument)");
            }
            let mut out = Vec::new();
            match json_encode(&mut out, &a[0], 0) {
                Ok(()) => ok(lua, vec![Value::String(lua.create_string(&out)?)]),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            if a.len() != 1 {
                return fail(lua, "bad argument #1 to 'decode' (expected 1 argument)");
            }
            let s = match &a[0] {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Number(n) => lua_number_string(*n).into_bytes(),
                other => {
                    return fail(
                        lua,
                        format!(
                            "bad argument #1 to 'decode' (string expected, got {})",
                            type_name(other)
                        ),
                    )
                }
            };
            let mut p = JsonParser { s: &s, i: 0 };
            let (tok, at) = p.next();
            let v = match p.value(lua, tok, at, 0) {
                Ok(v) => v,
                Err(e) => return fail(lua, e),
            };
            let (end, at) = p.next();
            if end != Tok::End {
                return fail(lua, JsonParser::err("the end", &end, at));
            }
            ok(lua, vec![v])
        })?,
    )?;
    t.set("null", json_null())?;
    t.set("_NAME", "cjson")?;
    t.set("_VERSION", "2.1.0")?;
    for name in [
        "encode_sparse_array",
        "encode_max_depth",
        "decode_max_depth",
        "encode_number_precision",
        "encode_keep_buffer",
        "encode_invalid_numbers",
        "decode_invalid_numbers",
        "new",
    ] {
        t.set(
            name,
            lua.create_function(|lua, _: MultiValue| ok(lua, vec![]))?,
        )?;
    }
    Ok(t)
}

// ---------------------------------------------------------------------------
// cmsgpack.
// ---------------------------------------------------------------------------

const MSGPACK_MAX_NESTING: usize = 16;

fn mp_int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        if n <= 127 {
            out.push(n as u8);
        } else if n <= 0xff {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn mp_number(out: &mut Vec<u8>, n: f64) {
    if n.is_finite() && (n as i64) as f64 == n {
        mp_int(out, n as i64);
    } else {
        let f = n as f32;
        if f64::from(f) == n {
            out.push(0xca);
            out.extend_from_slice(&f.to_be_bytes());
        } else {
            out.push(0xcb);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn mp_len(out: &mut Vec<u8>, n: usize, fix: u8, fixmax: usize, b16: u8, b32: u8) {
    if n < fixmax {
        out.push(fix | n as u8);
    } else if n <= 0xffff {
        out.push(b16);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(b32);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn mp_encode(out: &mut Vec<u8>, v: &Value, level: usize) {
    match v {
        Value::Nil => out.push(0xc0),
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Number(n) => mp_number(out, *n),
        Value::Integer(i) => mp_int(out, *i),
        Value::String(s) => {
            let b = s.as_bytes();
            let n = b.len();
            if n < 32 {
                out.push(0xa0 | n as u8);
            } else if n <= 0xff {
                out.extend_from_slice(&[0xd9, n as u8]);
            } else if n <= 0xffff {
                out.push(0xda);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            } else {
                out.push(0xdb);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            out.extend_from_slice(&b);
        }
        Value::Table(t) if level < MSGPACK_MAX_NESTING => {
            let pairs: Vec<(Value, Value)> =
                t.pairs::<Value, Value>().filter_map(|p| p.ok()).collect();
            // table_is_an_array: positive integer keys 1..n, no holes.
            let mut max = 0usize;
            let mut arr = true;
            for (k, _) in &pairs {
                let n = match k {
                    Value::Number(n) => *n,
                    Value::Integer(i) => *i as f64,
                    _ => {
                        arr = false;
                        break;
                    }
                };
                if n.floor() != n || n < 1.0 {
                    arr = false;
                    break;
                }
                max = max.max(n as usize);
            }
            if arr && max == pairs.len() {
                mp_len(out, max, 0x90, 16, 0xdc, 0xdd);
                for i in 1..=max {
                    let v = t.raw_get::<Value>(i).unwrap_or(Value::Nil);
                    mp_encode(out, &v, level + 1);
                }
            } else {
                mp_len(out, pairs.len(), 0x80, 16, 0xde, 0xdf);
                for (k, v) in &pairs {
                    mp_encode(out, k, level + 1);
                    mp_encode(out, v, level + 1);
                }
            }
        }
        _ => out.push(0xc0),
    }
}

struct MpDec<'a> {
    s: &'a [u8],
    i: usize,
}

impl MpDec<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], &'static str> {
        let end = self.i.checked_add(n).ok_or("Missing bytes in input.")?;
        let b = self.s.get(self.i..end).ok_or("Missing bytes in input.")?;
        self.i = end;
        Ok(b)
    }

    fn be(&mut self, n: usize) -> Result<u64, &'static str> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |a, &b| (a << 8) | u64::from(b)))
    }

    fn decode(&mut self, lua: &Lua) -> Result<Value, &'static str> {
        let c = self.take(1)?[0];
        let lstr = |d: &mut Self, n: usize| -> Result<Value, &'static str> {
            let b = d.take(n)?.to_vec();
            lua.create_string(&b)
                .map(Value::String)
                .map_err(|_| "Bad data format in input.")
        };
        Ok(match c {
            0x00..=0x7f => Value::Number(f64::from(c)),
            0x80..=0x8f => self.map(lua, usize::from(c & 0x0f))?,
            0x90..=0x9f => self.array(lua, usize::from(c & 0x0f))?,
            0xa0..=0xbf => lstr(self, usize::from(c & 0x1f))?,
            0xc0 => Value::Nil,
            0xc2 => Value::Boolean(false),
            0xc3 => Value::Boolean(true),
            0xc4 | 0xd9 => {
                let n = self.be(1)? as usize;
                lstr(self, n)?
            }
            0xc5 | 0xda => {
                let n = self.be(2)? as usize;
                lstr(self, n)?
            }
            0xc6 | 0xdb => {
                let n = self.be(4)? as usize;
                lstr(self, n)?
            }
            0xca => Value::Number(f64::from(f32::from_bits(self.be(4)? as u32))),
            0xcb => Value::Number(f64::from_bits(self.be(8)?)),
            0xcc => Value::Number(self.be(1)? as f64),
            0xcd => Value::Number(self.be(2)? as f64),
            0xce => Value::Number(self.be(4)? as f64),
            0xcf => Value::Number(self.be(8)? as f64),
            0xd0 => Value::Number(f64::from(self.be(1)? as u8 as i8)),
            0xd1 => Value::Number(f64::from(self.be(2)? as u16 as i16)),
            0xd2 => Value::Number(f64::from(self.be(4)? as u32 as i32)),
            0xd3 => Value::Number(self.be(8)? as i64 as f64),
            0xdc => {
                let n = self.be(2)? as usize;
                self.array(lua, n)?
            }
            0xdd => {
                let n = self.be(4)? as usize;
                self.array(lua, n)?
            }
            0xde => {
                let n = self.be(2)? as usize;
                self.map(lua, n)?
            }
            0xdf => {
                let n = self.be(4)? as usize;
                self.map(lua, n)?
            }
            0xe0..=0xff => Value::Number(f64::from(c as i8)),
            _ => return Err("Bad data format in input."),
        })
    }

    fn array(&mut self, lua: &Lua, n: usize) -> Result<Value, &'static str> {
        let t = lua
            .create_table()
            .map_err(|_| "Bad data format in input.")?;
        for i in 0..n {
            let v = self.decode(lua)?;
            t.raw_set(i + 1, v)
                .map_err(|_| "Bad data format in input.")?;
        }
        Ok(Value::Table(t))
    }

    fn map(&mut self, lua: &Lua, n: usize) -> Result<Value, &'static str> {
        let t = lua
            .create_table()
            .map_err(|_| "Bad data format in input.")?;
        for _ in 0..n {
            let k = self.decode(lua)?;
            let v = self.decode(lua)?;
            if !k.is_nil() {
                t.raw_set(k, v).map_err(|_| "Bad data format in input.")?;
            }
        }
        Ok(Value::Table(t))
    }
}

fn mp_unpack(lua: &Lua, s: &[u8], limit: usize, offset: usize, with_offset: bool) -> R {
    let mut d = MpDec { s, i: offset };
    let mut vals = Vec::new();
    while d.i < s.len() && (limit == 0 || vals.len() < limit) {
        match d.decode(lua) {
            Ok(v) => vals.push(v),
            Err(e) => return fail(lua, e),
        }
    }
    if with_offset {
        let next = if d.i >= s.len() { -1.0 } else { d.i as f64 };
        let mut out = vec![Value::Number(next)];
        out.extend(vals);
        return ok(lua, out);
    }
    ok(lua, vals)
}

pub fn cmsgpack(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            if args.is_empty() {
                return fail(
                    lua,
                    "bad argument #0 to 'pack' (MessagePack pack needs input.)",
                );
            }
            let mut out = Vec::new();
            for v in args.iter() {
                mp_encode(&mut out, v, 0);
            }
            ok(lua, vec![Value::String(lua.create_string(&out)?)])
        })?,
    )?;
    let str_arg = |a: &[Value], fname: &str| -> Result<Vec<u8>, String> {
        match a.first() {
            Some(Value::String(s)) => Ok(s.as_bytes().to_vec()),
            Some(Value::Number(n)) => Ok(lua_number_string(*n).into_bytes()),
            other => Err(format!(
                "bad argument #1 to '{fname}' (string expected, got {})",
                other.map(type_name).unwrap_or("no value")
            )),
        }
    };
    t.set(
        "unpack",
        lua.create_function(move |lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            match str_arg(&a, "unpack") {
                Ok(s) => mp_unpack(lua, &s, 0, 0, false),
                Err(e) => fail(lua, e),
            }
        })?,
    )?;
    t.set(
        "unpack_one",
        lua.create_function(move |lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            let s = match str_arg(&a, "unpack_one") {
                Ok(s) => s,
                Err(e) => return fail(lua, e),
            };
            let off = check_number(&a, 1, "unpack_one").unwrap_or(0.0).max(0.0) as usize;
            mp_unpack(lua, &s, 1, off, true)
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(move |lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            let s = match str_arg(&a, "unpack_limit") {
                Ok(s) => s,
                Err(e) => return fail(lua, e),
            };
            let limit = check_number(&a, 1, "unpack_limit").unwrap_or(0.0).max(0.0) as usize;
            let off = check_number(&a, 2, "unpack_limit").unwrap_or(0.0).max(0.0) as usize;
            mp_unpack(lua, &s, limit, off, true)
        })?,
    )?;
    t.set("_NAME", "cmsgpack")?;
    t.set("_VERSION", "lua-cmsgpack 0.4.0")?;
    t.set("_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo")?;
    t.set("_DESCRIPTION", "MessagePack C implementation for Lua")?;
    Ok(t)
}

// ---------------------------------------------------------------------------
// struct (Roberto Ierusalimschy's lua_struct.c).
// ---------------------------------------------------------------------------

struct Fmt<'a> {
    f: &'a [u8],
    i: usize,
    little: bool,
    align: usize,
}

impl Fmt<'_> {
    fn num(&mut self, default: usize) -> usize {
        if !self.f.get(self.i).is_some_and(|c| c.is_ascii_digit()) {
            return default;
        }
        let mut n = 0usize;
        while let Some(c) = self.f.get(self.i).filter(|c| c.is_ascii_digit()) {
            n = n.saturating_mul(10).saturating_add(usize::from(c - b'0'));
            self.i += 1;
        }
        n
    }

    /// (option, size) of the next item; None at the end. Handles the
    /// endianness/alignment controls itself.
    fn next(&mut self) -> Result<Option<(u8, usize)>, String> {
        loop {
            let Some(&c) = self.f.get(self.i) else {
                return Ok(None);
            };
            self.i += 1;
            let size = match c {
                b' ' => continue,
                b'<' => {
                    self.little = true;
                    continue;
                }
                b'>' => {
                    self.little = false;
                    continue;
                }
                b'=' => {
                    self.little = cfg!(target_endian = "little");
                    continue;
                }
                b'!' => {
                    self.align = self.num(8);
                    continue;
                }
                b'x' | b'b' | b'B' => 1,
                b'h' | b'H' => 2,
                b'l' | b'L' | b'T' | b'd' => 8,
                b'f' => 4,
                b'i' | b'I' => {
                    let n = self.num(4);
                    if n > 8 {
                        return Err(format!("integral size {n} is larger than limit of 8"));
                    }
                    n
                }
                b'c' => self.num(1),
                b's' => 0,
                _ => return Err(format!("invalid format option '{}'", c as char)),
            };
            return Ok(Some((c, size)));
        }
    }

    fn padding(&self, total: usize, size: usize) -> usize {
        let mut align = size;
        if align <= 1 || self.align <= 1 {
            return 0;
        }
        if align > self.align {
            align = self.align;
        }
        if !align.is_power_of_two() {
            return 0;
        }
        (align - (total & (align - 1))) & (align - 1)
    }
}

fn put_int(out: &mut Vec<u8>, v: u64, size: usize, little: bool) {
    let bytes = v.to_le_bytes();
    let mut b: Vec<u8> = bytes[..size.min(8)].to_vec();
    if !little {
        b.reverse();
    }
    out.extend_from_slice(&b);
}

fn get_int(b: &[u8], little: bool, signed: bool) -> f64 {
    let mut v: u64 = 0;
    let n = b.len();
    for k in 0..n {
        let byte = if little { b[n - 1 - k] } else { b[k] };
        v = (v << 8) | u64::from(byte);
    }
    if signed && n > 0 && n < 8 {
        let shift = 64 - 8 * n as u32;
        return ((v << shift) as i64 >> shift) as f64;
    }
    if signed {
        v as i64 as f64
    } else {
        v as f64
    }
}

pub fn structlib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            let Some(Value::String(fs)) = a.first() else {
                return fail(lua, "bad argument #1 to 'pack' (string expected)");
            };
            let fb = fs.as_bytes().to_vec();
            let mut f = Fmt {
                f: &fb,
                i: 0,
                little: cfg!(target_endian = "little"),
                align: 1,
            };
            let mut out = Vec::new();
            let mut arg = 1;
            loop {
                let (c, size) = match f.next() {
                    Ok(Some(x)) => x,
                    Ok(None) => break,
                    Err(e) => return fail(lua, e),
                };
                let pad = f.padding(out.len(), size);
                out.resize(out.len() + pad, 0);
                match c {
                    b'x' => out.push(0),
                    b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                        let n = match check_number(&a, arg, "pack") {
                            Ok(n) => n,
                            Err(e) => return fail(lua, e),
                        };
                        arg += 1;
                        let v = if n < 0.0 { n as i64 as u64 } else { n as u64 };
                        put_int(&mut out, v, size, f.little);
                    }
                    b'f' => {
                        let n = match check_number(&a, arg, "pack") {
                            Ok(n) => n,
                            Err(e) => return fail(lua, e),
                        };
                        arg += 1;
                        let mut b = (n as f32).to_le_bytes().to_vec();
                        if !f.little {
                            b.reverse();
                        }
                        out.extend_from_slice(&b);
                    }
                    b'd' => {
                        let n = match check_number(&a, arg, "pack") {
                            Ok(n) => n,
                            Err(e) => return fail(lua, e),
                        };
                        arg += 1;
                        let mut b = n.to_le_bytes().to_vec();
                        if !f.little {
                            b.reverse();
                        }
                        out.extend_from_slice(&b);
                    }
                    b'c' | b's' => {
                        let s = match a.get(arg) {
                            Some(Value::String(s)) => s.as_bytes().to_vec(),
                            Some(Value::Number(n)) => lua_number_string(*n).into_bytes(),
                            other => {
                                return fail(
                                    lua,
                                    format!(
                                        "bad argument #{} to 'pack' (string expected, got {})",
                                        arg + 1,
                                        other.map(type_name).unwrap_or("no value")
                                    ),
                                )
                            }
                        };
                        arg += 1;
                        if c == b's' {
                            out.extend_from_slice(&s);
                            out.push(0);
                        } else {
                            let n = if size == 0 { s.len() } else { size };
                            if s.len() < n {
                                return fail(
                                    lua,
                                    format!("bad argument #{} to 'pack' (string too short)", arg),
                                );
                            }
                            out.extend_from_slice(&s[..n]);
                        }
                    }
                    _ => {}
                }
            }
            ok(lua, vec![Value::String(lua.create_string(&out)?)])
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            let (Some(Value::String(fs)), Some(Value::String(data))) = (a.first(), a.get(1)) else {
                return fail(lua, "bad argument #2 to 'unpack' (string expected)");
            };
            let fb = fs.as_bytes().to_vec();
            let d = data.as_bytes().to_vec();
            let mut pos = match a.get(2) {
                Some(Value::Nil) | None => 0usize,
                _ => match check_number(&a, 2, "unpack") {
                    Ok(n) if n >= 1.0 => n as usize - 1,
                    Ok(_) => {
                        return fail(
                            lua,
                            "bad argument #3 to 'unpack' (offset must be 1 or greater)",
                        )
                    }
                    Err(e) => return fail(lua, e),
                },
            };
            let mut f = Fmt {
                f: &fb,
                i: 0,
                little: cfg!(target_endian = "little"),
                align: 1,
            };
            let mut vals = Vec::new();
            let mut last_num: f64 = 0.0;
            let short = "bad argument #2 to 'unpack' (data string too short)";
            loop {
                let (c, size) = match f.next() {
                    Ok(Some(x)) => x,
                    Ok(None) => break,
                    Err(e) => return fail(lua, e),
                };
                pos += f.padding(pos, size);
                let need = |pos: usize, n: usize| d.get(pos..pos + n);
                match c {
                    b'x' => pos += 1,
                    b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                        let Some(b) = need(pos, size) else {
                            return fail(lua, short);
                        };
                        let signed = c.is_ascii_lowercase();
                        last_num = get_int(b, f.little, signed);
                        vals.push(Value::Number(last_num));
                        pos += size;
                    }
                    b'f' | b'd' => {
                        let Some(b) = need(pos, size) else {
                            return fail(lua, short);
                        };
                        let mut b = b.to_vec();
                        if !f.little {
                            b.reverse();
                        }
                        let n = if c == b'f' {
                            f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        } else {
                            let mut arr = [0u8; 8];
                            arr.copy_from_slice(&b[..8]);
                            f64::from_le_bytes(arr)
                        };
                        last_num = n;
                        vals.push(Value::Number(n));
                        pos += size;
                    }
                    b'c' => {
                        let n = if size == 0 {
                            last_num.max(0.0) as usize
                        } else {
                            size
                        };
                        let Some(b) = need(pos, n) else {
                            return fail(lua, short);
                        };
                        vals.push(Value::String(lua.create_string(b)?));
                        pos += n;
                    }
                    b's' => {
                        let Some(rest) = d.get(pos..) else {
                            return fail(lua, short);
                        };
                        let Some(z) = rest.iter().position(|&b| b == 0) else {
                            return fail(
                                lua,
                                "bad argument #2 to 'unpack' (unfinished string in data)",
                            );
                        };
                        vals.push(Value::String(lua.create_string(&rest[..z])?));
                        pos += z + 1;
                    }
                    _ => {}
                }
            }
            vals.push(Value::Number((pos + 1) as f64));
            ok(lua, vals)
        })?,
    )?;
    t.set(
        "size",
        lua.create_function(|lua, args: MultiValue| {
            let a: Vec<Value> = args.into_iter().collect();
            let Some(Value::String(fs)) = a.first() else {
                return fail(lua, "bad argument #1 to 'size' (string expected)");
            };
            let fb = fs.as_bytes().to_vec();
            let mut f = Fmt {
                f: &fb,
                i: 0,
                little: true,
                align: 1,
            };
            let mut total = 0usize;
            loop {
                let (c, size) = match f.next() {
                    Ok(Some(x)) => x,
                    Ok(None) => break,
                    Err(e) => return fail(lua, e),
                };
                if c == b's' || (c == b'c' && size == 0) {
                    return fail(lua, "options 'c0' - 's' have undefined sizes");
                }
                total += f.padding(total, size) + size;
            }
            ok(lua, vec![Value::Number(total as f64)])
        })?,
    )?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tobit_wraps_like_luabitop() {
        assert_eq!(tobit(0.0), 0);
        assert_eq!(tobit(4_294_967_296.0 + 5.0), 5);
        assert_eq!(tobit(2_147_483_648.0), i32::MIN);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tobit(2.5), 2);
        assert_eq!(tobit(3.5), 4);
    }

    #[test]
    fn numbers_print_as_lua() {
        assert_eq!(lua_number_string(1.0), "1");
        assert_eq!(lua_number_string(0.1), "0.1");
        assert_eq!(lua_number_string(1e15), "1e+15");
        assert_eq!(lua_number_string(1.0 / 3.0), "0.33333333333333");
    }

    #[test]
    fn msgpack_ints_use_smallest_encoding() {
        let enc = |n: i64| {
            let mut v = Vec::new();
            mp_int(&mut v, n);
            v
        };
        assert_eq!(enc(5), [5]);
        assert_eq!(enc(-1), [0xff]);
        assert_eq!(enc(200), [0xcc, 200]);
        assert_eq!(enc(-200), [0xd1, 0xff, 0x38]);
        assert_eq!(enc(70000), [0xce, 0, 1, 0x11, 0x70]);
        let mut v = Vec::new();
        mp_number(&mut v, 0.5);
        assert_eq!(v, [0xca, 0x3f, 0, 0, 0]);
    }

    #[test]
    fn json_escapes_as_cjson() {
        let mut v = Vec::new();
        json_escape(&mut v, b"a\"/\\\x01\x7f\n");
        assert_eq!(v, b"\"a\\\"\\/\\\\\\u0001\\u007f\\n\"");
    }

    #[test]
    fn json_parse_errors_name_tokens() {
        let lua = Lua::new();
        let parse = |s: &str| {
            let mut p = JsonParser {
                s: s.as_bytes(),
                i: 0,
            };
            let (t, at) = p.next();
            p.value(&lua, t, at, 0).map(|_| ())
        };
        assert_eq!(
            parse("["),
            Err("Expected value but found T_END at character 2".into())
        );
        assert_eq!(
            parse("x"),
            Err("Expected value but found invalid token at character 1".into())
        );
        assert_eq!(
            parse("{1:2}"),
            Err("Expected object key string but found T_NUMBER at character 2".into())
        );
        assert!(parse("{\"a\":[1,2,{\"b\":null}]}").is_ok());
    }
}
