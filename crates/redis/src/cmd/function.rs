//! Redis 7 functions: FUNCTION LOAD/LIST/DELETE/FLUSH/DUMP/RESTORE/STATS/
//! KILL/HELP, FCALL and FCALL_RO. Libraries live in their own Lua state
//! ([`FuncState`]), separate from EVAL's, as in Redis 7.0.

use crate::args::eq;
use crate::ctx::Ctx;
use crate::error::{err, CmdError, CmdResult};
use crate::script::{self, RunMode, Vm};
use crate::spec::{acl, flags::*, CommandSpec};
use mlua::{Function, MultiValue, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

const FCALL_FLAGS: u32 = NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | GLOBAL;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("fcall", -3, FCALL_FLAGS, (0, 0, 0), fcall)
        .keys_fn(crate::cmd::scripting::eval_keys)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "7.0.0",
            "Invoke a function",
            "Depends on the function that is executed.",
        ),
    CommandSpec::new("fcall_ro", -3, FCALL_FLAGS | READONLY, (0, 0, 0), fcall_ro)
        .keys_fn(crate::cmd::scripting::eval_keys)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "7.0.0",
            "Invoke a read-only function",
            "Depends on the function that is executed.",
        ),
    CommandSpec::container("function", -2, FUNCTION_SUBS).doc(
        "scripting",
        "7.0.0",
        "A container for function commands",
        "Depends on subcommand.",
    ),
];

/// In the order redis-server 7.0 lists them.
static FUNCTION_SUBS: &[CommandSpec] = &[
    CommandSpec::new(
        "restore",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        (0, 0, 0),
        function_restore,
    )
    .acl(acl::SCRIPTING)
    .doc(
        "scripting",
        "7.0.0",
        "Restore all the functions on the given payload",
        "O(N) where N is the number of functions on the payload",
    ),
    CommandSpec::new("delete", 3, WRITE | NOSCRIPT, (0, 0, 0), function_delete)
        .acl(acl::SCRIPTING)
        .doc("scripting", "7.0.0", "Delete a function by name", "O(1)"),
    CommandSpec::new("help", 2, LOADING | STALE, (0, 0, 0), function_help)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "7.0.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
    CommandSpec::new(
        "load",
        -3,
        WRITE | DENYOOM | NOSCRIPT,
        (0, 0, 0),
        function_load,
    )
    .acl(acl::SCRIPTING)
    .doc(
        "scripting",
        "7.0.0",
        "Create a function with the given arguments (name, code, description)",
        "O(1) (considering compilation time is redundant)",
    ),
    CommandSpec::new("flush", -2, WRITE | NOSCRIPT, (0, 0, 0), function_flush)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "7.0.0",
            "Deleting all functions",
            "O(N) where N is the number of functions deleted",
        ),
    CommandSpec::new("list", -2, NOSCRIPT, (0, 0, 0), function_list)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "7.0.0",
            "List information about all the functions",
            "O(N) where N is the number of functions",
        ),
    CommandSpec::new("kill", 2, NOSCRIPT | ALLOW_BUSY, (0, 0, 0), function_kill)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "7.0.0",
            "Kill the function currently in execution.",
            "O(1)",
        ),
    CommandSpec::new("dump", 2, NOSCRIPT, (0, 0, 0), function_dump)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "7.0.0",
            "Dump all functions into a serialized binary payload",
            "O(N) where N is the number of functions",
        ),
    CommandSpec::new("stats", 2, NOSCRIPT | ALLOW_BUSY, (0, 0, 0), function_stats)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "7.0.0",
            "Return information about the function currently running (name, description, duration)",
            "O(1)",
        ),
];

/// One registered function.
pub struct FuncInfo {
    pub name: String,
    pub func: Function,
    pub description: Option<Vec<u8>>,
    pub flags: Vec<String>,
}

/// One library: its code and functions.
pub struct Library {
    pub code: Vec<u8>,
    pub funcs: Vec<FuncInfo>,
}

/// The functions' Lua state and registry.
pub struct FuncState {
    pub vm: Vm,
    /// Libraries by name (FUNCTION LIST/DUMP order). Changed only through
    /// [`FuncState::insert_lib`] / [`FuncState::remove_lib`], which keep
    /// `index` right.
    pub libs: BTreeMap<String, Library>,
    /// Function name -> (library name, position in its `funcs`): FCALL's
    /// lookup, one hash probe whatever the number of libraries.
    index: HashMap<String, (String, usize)>,
}

impl FuncState {
    pub fn new() -> mlua::Result<FuncState> {
        Ok(FuncState {
            vm: Vm::new(true)?,
            libs: BTreeMap::new(),
            index: HashMap::new(),
        })
    }

    fn find(&self, name: &str) -> Option<&FuncInfo> {
        let (lib, i) = self.index.get(name)?;
        self.libs.get(lib)?.funcs.get(*i)
    }

    /// The library that has a function called `name`.
    fn owner(&self, name: &str) -> Option<&str> {
        self.index.get(name).map(|(lib, _)| lib.as_str())
    }

    /// Add (or replace) library `name` and index its functions.
    fn insert_lib(&mut self, name: String, lib: Library) {
        self.remove_lib(&name);
        for (i, f) in lib.funcs.iter().enumerate() {
            self.index.insert(f.name.clone(), (name.clone(), i));
        }
        self.libs.insert(name, lib);
    }

    /// Remove library `name` and its functions from the index.
    fn remove_lib(&mut self, name: &str) -> Option<Library> {
        let lib = self.libs.remove(name)?;
        for f in &lib.funcs {
            self.index.remove(&f.name);
        }
        Some(lib)
    }
}

/// Library and function counts for FUNCTION STATS, which must answer while
/// a running function holds the state's lock.
static COUNTS: parking_lot::Mutex<(usize, usize)> = parking_lot::Mutex::new((0, 0));

fn recount(st: &FuncState) {
    *COUNTS.lock() = (st.libs.len(), st.libs.values().map(|l| l.funcs.len()).sum());
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

const FLAG_NAMES: &[&str] = &[
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// `redis.register_function(name, fn)` or `({function_name=, callback=,
/// flags=, description=})`. Errors are Redis's texts (without "ERR").
fn parse_registration(args: MultiValue) -> Result<FuncInfo, String> {
    let a: Vec<Value> = args.into_iter().collect();
    let as_text = |v: &Value| -> Option<String> {
        match v {
            Value::String(s) => Some(s.to_string_lossy().to_string()),
            Value::Number(n) => Some(script::libs::lua_number_string(*n)),
            Value::Integer(i) => Some(i.to_string()),
            _ => None,
        }
    };
    let (name, cb, flags_v, desc) = match a.as_slice() {
        [Value::Table(t)] => {
            let mut name = None;
            let mut cb = None;
            let mut flags = None;
            let mut desc = None;
            for (k, v) in t.pairs::<Value, Value>().filter_map(|p| p.ok()) {
                let key = match &k {
                    Value::String(k) => k.to_string_lossy().to_string(),
                    _ => String::new(),
                };
                match key.as_str() {
                    "function_name" => name = Some(v),
                    "callback" => cb = Some(v),
                    "flags" => flags = Some(v),
                    "description" => desc = Some(v),
                    _ => return Err("unknown argument given to redis.register_function".into()),
                }
            }
            (name, cb, flags, desc)
        }
        [_] => return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).".into()),
        [n, f] => {
            if as_text(n).is_none() {
                return Err("first argument to redis.register_function must be a string".into());
            }
            if !matches!(f, Value::Function(_)) {
                return Err("second argument to redis.register_function must be a function".into());
            }
            (Some(n.clone()), Some(f.clone()), None, None)
        }
        _ => return Err("wrong number of arguments to redis.register_function".into()),
    };
    let Some(name) = name.as_ref().and_then(as_text) else {
        return Err("redis.register_function must get a function name argument".into());
    };
    let Some(Value::Function(func)) = cb else {
        return Err("redis.register_function must get a callback argument".into());
    };
    if !valid_name(&name) {
        // (sic: Redis 7.0 says "Library" here too)
        return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".into());
    }
    let mut flags = Vec::new();
    match flags_v {
        None | Some(Value::Nil) => {}
        Some(Value::Table(ft)) => {
            for v in ft.sequence_values::<Value>().filter_map(|v| v.ok()) {
                let Value::String(s) = v else {
                    return Err("unknown flag given".into());
                };
                let s = s.to_string_lossy().to_string();
                if !FLAG_NAMES.contains(&s.as_str()) {
                    return Err("unknown flag given".into());
                }
                flags.push(s);
            }
        }
        Some(_) => return Err(
            "flags argument to redis.register_function must be a table representing function flags"
                .into(),
        ),
    }
    let description = match desc {
        None | Some(Value::Nil) => None,
        Some(v) => match as_text(&v) {
            Some(t) => Some(t.into_bytes()),
            None => {
                return Err(
                    "description argument given to redis.register_function must be a string".into(),
                )
            }
        },
    };
    Ok(FuncInfo {
        name,
        func,
        description,
        flags,
    })
}

/// Compile and run a library's code; returns its name and library.
fn load_library(st: &FuncState, code: &[u8]) -> Result<(String, Library), CmdError> {
    if !code.starts_with(b"#!") {
        return err("ERR Missing library metadata");
    }
    let end = code.iter().position(|&c| c == b'\n').unwrap_or(code.len());
    let line = String::from_utf8_lossy(&code[2..end]).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    if parts.next() != Some("lua") {
        return err("ERR Invalid library metadata");
    }
    let mut name = None;
    for p in parts {
        match p.strip_prefix("name=") {
            Some(n) => name = Some(n.to_string()),
            None => return err("ERR Invalid library metadata"),
        }
    }
    let Some(name) = name else {
        return err("ERR Invalid library metadata");
    };
    if !valid_name(&name) {
        return err("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long");
    }
    let mut src = vec![b' '; end];
    src.extend_from_slice(&code[end..]);
    let f = st
        .vm
        .compile(&src, "@user_function")
        .map_err(|e| CmdError::Raw(format!("ERR Error compiling function: {e}").into_bytes()))?;
    let registered: RefCell<Vec<FuncInfo>> = RefCell::new(Vec::new());
    let lua = &st.vm.lua;
    let slot = st.vm.slot();
    let outcome: mlua::Result<(bool, Value)> = lua.scope(|scope| {
        let reg =
            scope.create_function(|lua, args: MultiValue| match parse_registration(args) {
                Ok(fi) => {
                    let mut r = registered.borrow_mut();
                    if r.iter().any(|x| x.name == fi.name) {
                        return Err(mlua::Error::RuntimeError(
                            "Function already exists in the library".into(),
                        ));
                    }
                    r.push(fi);
                    Ok(Value::Nil)
                }
                Err(e) => {
                    let t = lua.create_table()?;
                    t.raw_set("err", format!("ERR {e}"))?;
                    Err(mlua::Error::RuntimeError(e))
                }
            })?;
        slot.raw_set("register", reg)?;
        let runner: Function = st.vm.runner_fn();
        let r = runner.call::<(bool, Value)>((f, Value::Nil, Value::Nil));
        slot.raw_set("register", Value::Nil)?;
        r
    });
    match outcome {
        Ok((true, _)) => {}
        Ok((false, Value::Table(t))) => {
            let msg = t
                .raw_get::<Option<mlua::String>>("err")
                .ok()
                .flatten()
                .map(|s| s.as_bytes().to_vec())
                .unwrap_or_default();
            let mut full = b"ERR Error registering functions: ".to_vec();
            full.extend_from_slice(&msg);
            return Err(CmdError::Raw(full));
        }
        Ok((false, _)) => return err("ERR Error registering functions"),
        Err(e) => {
            return Err(CmdError::Raw(
                format!(
                    "ERR Error registering functions: {}",
                    script::lua_error_text(&e)
                )
                .into_bytes(),
            ))
        }
    }
    let funcs = registered.into_inner();
    if funcs.is_empty() {
        return err("ERR No functions registered");
    }
    Ok((
        name,
        Library {
            code: code.to_vec(),
            funcs,
        },
    ))
}

/// Add `lib` under `name`, replacing an existing library of that name only
/// when `replace`. Function names must be unique across libraries.
fn install(st: &mut FuncState, name: String, lib: Library, replace: bool) -> CmdResult {
    if st.libs.contains_key(&name) && !replace {
        return Err(CmdError::msg(format!(
            "ERR Library '{name}' already exists"
        )));
    }
    for f in &lib.funcs {
        if st.owner(&f.name).is_some_and(|owner| owner != name) {
            return Err(CmdError::msg(format!(
                "ERR Function {} already exists",
                f.name
            )));
        }
    }
    st.insert_lib(name, lib);
    Ok(())
}

fn function_load(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let mut replace = false;
    let mut i = 2;
    while i < argv.len() - 1 {
        if eq(argv[i], "replace") {
            replace = true;
            i += 1;
        } else {
            return Err(CmdError::Raw(
                [b"ERR Unknown option given: ".as_slice(), argv[i]].concat(),
            ));
        }
    }
    if i != argv.len() - 1 {
        return err("ERR Function code is missing");
    }
    let eng = script::engine()?;
    let mut st = eng.func.lock();
    let loaded = {
        // Redis gives the library's top-level code 500 ms.
        let _timer = script::LoadTimer::start();
        load_library(&st, argv[i])
    };
    st.vm.reset_hook();
    let (name, lib) = loaded?;
    install(&mut st, name.clone(), lib, replace)?;
    recount(&st);
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

fn function_delete(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let eng = script::engine()?;
    let name = String::from_utf8_lossy(argv[2]).into_owned();
    let mut st = eng.func.lock();
    if st.remove_lib(&name).is_none() {
        return err("ERR Library not found");
    }
    recount(&st);
    ctx.out.ok();
    Ok(())
}

fn function_flush(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 || (argv.len() == 3 && !eq(argv[2], "sync") && !eq(argv[2], "async")) {
        return err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
    }
    let eng = script::engine()?;
    let fresh = FuncState::new()
        .map_err(|e| CmdError::msg(format!("ERR {}", script::lua_error_text(&e))))?;
    *eng.func.lock() = fresh;
    *COUNTS.lock() = (0, 0);
    ctx.out.ok();
    Ok(())
}

fn function_list(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let mut pattern: Option<&[u8]> = None;
    let mut with_code = false;
    let mut i = 2;
    while i < argv.len() {
        if eq(argv[i], "withcode") {
            if with_code {
                return err("ERR Unknown argument withcode");
            }
            with_code = true;
            i += 1;
        } else if eq(argv[i], "libraryname") {
            if i + 1 >= argv.len() {
                return err("ERR library name argument was not given");
            }
            if pattern.is_some() {
                return err("ERR library name argument was already given");
            }
            pattern = Some(argv[i + 1]);
            i += 2;
        } else {
            return Err(CmdError::Raw(
                [b"ERR Unknown argument ".as_slice(), argv[i]].concat(),
            ));
        }
    }
    let eng = script::engine()?;
    let st = eng.func.lock();
    let libs: Vec<(&String, &Library)> = st
        .libs
        .iter()
        .filter(|(n, _)| {
            pattern.is_none_or(|p| ferrocache_engine::glob::glob_match(p, n.as_bytes(), false))
        })
        .collect();
    let out = &mut *ctx.out;
    out.array(libs.len());
    for (name, lib) in libs {
        out.map(if with_code { 4 } else { 3 });
        out.bulk(b"library_name");
        out.bulk(name.as_bytes());
        out.bulk(b"engine");
        out.bulk(b"LUA");
        out.bulk(b"functions");
        out.array(lib.funcs.len());
        for f in &lib.funcs {
            out.map(3);
            out.bulk(b"name");
            out.bulk(f.name.as_bytes());
            out.bulk(b"description");
            match &f.description {
                Some(d) => out.bulk(d),
                None => out.null(),
            }
            out.bulk(b"flags");
            out.set(f.flags.len());
            for fl in &f.flags {
                out.simple(fl);
            }
        }
        if with_code {
            out.bulk(b"library_code");
            out.bulk(&lib.code);
        }
    }
    Ok(())
}

fn function_stats(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    if script::eval_running() {
        return err(script::BUSY_EVAL);
    }
    let (libs, funcs) = *COUNTS.lock();
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"running_script");
    match script::running_function() {
        Some((name, cmd, ms)) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"command");
            out.array(cmd.len());
            for a in &cmd {
                out.bulk(a);
            }
            out.bulk(b"duration_ms");
            out.int(ms as i64);
        }
        None => out.null(),
    }
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libs as i64);
    out.bulk(b"functions_count");
    out.int(funcs as i64);
    Ok(())
}

fn function_kill(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    match script::kill(false) {
        Ok(()) => {
            ctx.out.ok();
            Ok(())
        }
        Err(e) => err(e),
    }
}

// FUNCTION DUMP payload: as Redis's, a sequence of RDB_OPCODE_FUNCTION2
// (0xf5) + RDB string (the library code), then the RDB version (2 bytes LE)
// and a CRC64 (Jones, LE) of everything before it. Strings are written
// uncompressed, which every RDB reader accepts.
const OPCODE_FUNCTION2: u8 = 0xf5;
const RDB_VERSION: u16 = 10;

fn crc64(data: &[u8]) -> u64 {
    // Redis's crc64: Jones polynomial, reflected, init 0, no final xor.
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5;
    let mut crc: u64 = 0;
    for &b in data {
        crc ^= u64::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    crc
}

fn rdb_len(out: &mut Vec<u8>, n: usize) {
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as usize {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&(n as u64).to_be_bytes());
    }
}

/// An RDB length (`rdbLoadLen`): (value, is-encoded-string).
fn read_rdb_len(b: &[u8], pos: &mut usize) -> Option<(usize, bool)> {
    let c = *b.get(*pos)?;
    *pos += 1;
    Some(match c >> 6 {
        0 => (usize::from(c & 0x3f), false),
        1 => {
            let d = *b.get(*pos)?;
            *pos += 1;
            ((usize::from(c & 0x3f) << 8) | usize::from(d), false)
        }
        2 if c == 0x80 => {
            let v = b.get(*pos..*pos + 4)?;
            *pos += 4;
            (u32::from_be_bytes([v[0], v[1], v[2], v[3]]) as usize, false)
        }
        2 if c == 0x81 => {
            let v = b.get(*pos..*pos + 8)?;
            *pos += 8;
            let mut a = [0u8; 8];
            a.copy_from_slice(v);
            (usize::try_from(u64::from_be_bytes(a)).ok()?, false)
        }
        3 => (usize::from(c & 0x3f), true),
        _ => return None,
    })
}

/// LZF decompression (liblzf's `lzf_decompress`), for strings redis-server
/// compressed in its FUNCTION DUMP payloads.
fn lzf_decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = usize::from(input[i]);
        i += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            out.extend_from_slice(input.get(i..i + n)?);
            i += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(i)?);
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + usize::from(*input.get(i)?) + 1;
            i += 1;
            let start = out.len().checked_sub(back)?;
            for k in 0..len + 2 {
                let c = *out.get(start + k)?;
                out.push(c);
            }
        }
        if out.len() > out_len {
            return None;
        }
    }
    (out.len() == out_len).then_some(out)
}

/// An RDB string (`rdbGenericLoadStringObject`): raw, integer-encoded or
/// LZF-compressed.
fn read_rdb_string(b: &[u8], pos: &mut usize) -> Option<Vec<u8>> {
    let (len, encoded) = read_rdb_len(b, pos)?;
    if !encoded {
        let s = b.get(*pos..pos.checked_add(len)?)?.to_vec();
        *pos += len;
        return Some(s);
    }
    match len {
        0 => {
            let v = *b.get(*pos)? as i8;
            *pos += 1;
            Some(v.to_string().into_bytes())
        }
        1 => {
            let v = b.get(*pos..*pos + 2)?;
            *pos += 2;
            Some(i16::from_le_bytes([v[0], v[1]]).to_string().into_bytes())
        }
        2 => {
            let v = b.get(*pos..*pos + 4)?;
            *pos += 4;
            Some(
                i32::from_le_bytes([v[0], v[1], v[2], v[3]])
                    .to_string()
                    .into_bytes(),
            )
        }
        3 => {
            let (clen, _) = read_rdb_len(b, pos)?;
            let (ulen, _) = read_rdb_len(b, pos)?;
            let data = b.get(*pos..pos.checked_add(clen)?)?;
            *pos += clen;
            lzf_decompress(data, ulen)
        }
        _ => None,
    }
}

fn function_dump(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    let eng = script::engine()?;
    let st = eng.func.lock();
    let mut p = Vec::new();
    for lib in st.libs.values() {
        p.push(OPCODE_FUNCTION2);
        rdb_len(&mut p, lib.code.len());
        p.extend_from_slice(&lib.code);
    }
    p.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = crc64(&p);
    p.extend_from_slice(&crc.to_le_bytes());
    ctx.out.bulk(&p);
    Ok(())
}

fn function_restore(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    #[derive(PartialEq)]
    enum Policy {
        Flush,
        Append,
        Replace,
    }
    let policy =
        match argv.get(3) {
            None => Policy::Append,
            Some(a) if eq(a, "flush") => Policy::Flush,
            Some(a) if eq(a, "append") => Policy::Append,
            Some(a) if eq(a, "replace") => Policy::Replace,
            Some(_) => return err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            ),
        };
    if argv.len() > 4 {
        return err(
            "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
        );
    }
    let data = argv[2];
    if data.len() < 10 {
        return err("ERR DUMP payload version or checksum are wrong");
    }
    let (body, footer) = data.split_at(data.len() - 10);
    let ver = u16::from_le_bytes([footer[0], footer[1]]);
    let mut crc_b = [0u8; 8];
    crc_b.copy_from_slice(&footer[2..]);
    let crc = u64::from_le_bytes(crc_b);
    if ver > RDB_VERSION || (crc != 0 && crc != crc64(&data[..data.len() - 8])) {
        return err("ERR DUMP payload version or checksum are wrong");
    }
    let mut codes = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        if body[pos] != OPCODE_FUNCTION2 {
            return err("ERR given type is not a function");
        }
        pos += 1;
        let Some(code) = read_rdb_string(body, &mut pos) else {
            return err("ERR can not read data type");
        };
        codes.push(code);
    }
    let eng = script::engine()?;
    let mut st = eng.func.lock();
    // Build into a fresh state, then merge by policy.
    let fresh = FuncState::new()
        .map_err(|e| CmdError::msg(format!("ERR {}", script::lua_error_text(&e))))?;
    let mut staged = fresh;
    for code in &codes {
        let (name, lib) = load_library(&staged, code)?;
        install(&mut staged, name, lib, false)?;
    }
    match policy {
        Policy::Flush => *st = staged,
        Policy::Append | Policy::Replace => {
            // As Redis's `libraryJoin`: check every collision first, so a
            // failed RESTORE changes nothing.
            let incoming = std::mem::take(&mut staged.libs);
            let replace = policy == Policy::Replace;
            if !replace {
                if let Some(name) = incoming.keys().find(|n| st.libs.contains_key(*n)) {
                    return Err(CmdError::msg(format!("ERR Library {name} already exists")));
                }
            }
            for lib in incoming.values() {
                for f in &lib.funcs {
                    if st
                        .owner(&f.name)
                        .is_some_and(|owner| !(replace && incoming.contains_key(owner)))
                    {
                        return Err(CmdError::msg(format!(
                            "ERR Function {} already exists",
                            f.name
                        )));
                    }
                }
            }
            // Libraries are compiled again in this state (a function runs
            // in the VM it was compiled in); what they replace goes first.
            for name in incoming.keys() {
                st.remove_lib(name);
            }
            for lib in incoming.into_values() {
                let (name, lib) = load_library(&st, &lib.code)?;
                install(&mut st, name, lib, replace)?;
            }
        }
    }
    recount(&st);
    ctx.out.ok();
    Ok(())
}

fn function_help(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    crate::cmd::server::reply_help(
        ctx,
        "FUNCTION",
        &[
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
        ],
    );
    Ok(())
}

fn fcall_generic(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], ro: bool) -> CmdResult {
    let eng = script::engine()?;
    let st = eng.func.lock();
    let name = String::from_utf8_lossy(argv[1]);
    let Some(fi) = st.find(&name) else {
        return err("ERR Function not found");
    };
    let numkeys = match crate::args::int(argv[2]) {
        Ok(_) => crate::cmd::scripting::parse_numkeys(argv)?,
        Err(_) => return err("ERR Bad number of keys provided"),
    };
    let no_writes = fi.flags.iter().any(|f| f == "no-writes");
    if ro && !no_writes {
        return err("ERR Can not execute a script with write flag using *_ro command.");
    }
    let keys = &argv[3..3 + numkeys];
    let args = &argv[3 + numkeys..];
    script::run(
        ctx,
        &st.vm,
        &fi.func,
        keys,
        args,
        RunMode {
            eval: false,
            read_only: ro || no_writes,
            name: &name,
            command: Some(argv),
        },
    )
}

fn fcall(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    fcall_generic(ctx, argv, false)
}

fn fcall_ro(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    fcall_generic(ctx, argv, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc64_matches_redis() {
        // Redis's crc64 test vector.
        assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    }

    #[test]
    fn rdb_string_roundtrip() {
        for n in [0usize, 5, 63, 64, 300, 16383, 16384, 70000] {
            let s = vec![b'x'; n];
            let mut b = Vec::new();
            rdb_len(&mut b, n);
            b.extend_from_slice(&s);
            let mut pos = 0;
            assert_eq!(read_rdb_string(&b, &mut pos), Some(s));
            assert_eq!(pos, b.len());
        }
    }

    /// The FCALL index follows libraries in and out: several libraries,
    /// replace, delete, clash.
    #[test]
    fn function_index_follows_libraries() {
        let mut st = FuncState::new().expect("lua state");
        let code = |lib: &str, fns: &[&str]| {
            let mut s = format!("#!lua name={lib}\n");
            for f in fns {
                s.push_str(&format!("redis.register_function('{f}', function() end)\n"));
            }
            s.into_bytes()
        };
        let load = |st: &mut FuncState, c: &[u8], replace: bool| {
            let (name, lib) = load_library(st, c).map_err(|_| ())?;
            install(st, name, lib, replace).map_err(|_| ())
        };
        for (lib, fns) in [
            ("la", &["a1", "a2"][..]),
            ("lb", &["b1"]),
            ("lc", &["c1", "c2", "c3"]),
        ] {
            assert!(load(&mut st, &code(lib, fns), false).is_ok());
        }
        let owner = |st: &FuncState, f: &str| st.owner(f).map(str::to_string);
        assert_eq!(st.index.len(), 6);
        assert_eq!(owner(&st, "c2").as_deref(), Some("lc"));
        assert_eq!(st.find("c3").map(|f| f.name.as_str()), Some("c3"));
        // A clash with another library leaves everything as it was.
        assert!(load(&mut st, &code("ld", &["d1", "a2"]), false).is_err());
        assert_eq!(owner(&st, "d1"), None);
        assert_eq!(owner(&st, "a2").as_deref(), Some("la"));
        // REPLACE drops the old library's functions.
        assert!(load(&mut st, &code("lc", &["c9", "c1"]), true).is_ok());
        assert_eq!(owner(&st, "c2"), None);
        assert_eq!(st.find("c1").map(|f| f.name.as_str()), Some("c1"));
        assert_eq!(st.find("c9").map(|f| f.name.as_str()), Some("c9"));
        assert!(st.remove_lib("la").is_some());
        assert!(st.find("a1").is_none() && st.find("a2").is_none());
        assert_eq!(st.index.len(), 3);
        let total: usize = st.libs.values().map(|l| l.funcs.len()).sum();
        assert_eq!(st.index.len(), total);
    }
}
