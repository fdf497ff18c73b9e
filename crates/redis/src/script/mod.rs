//! Lua scripting (EVAL family and Redis 7 functions) on an embedded Lua 5.1,
//! as redis-server 7.0 runs them.
//!
//! - [`Vm`]: one Lua state with Redis's sandbox (`bootstrap.lua`: protected
//!   globals and library tables, the `redis` API) and the native libraries
//!   ([`libs`]: cjson, cmsgpack, bit, struct). EVAL scripts and function
//!   libraries live in two separate states, as in Redis 7.0, so SCRIPT FLUSH
//!   leaves the functions alone.
//! - [`run`]: runs one script or function for a client. The command that
//!   started it (EVAL/FCALL…) is flagged GLOBAL, so dispatch already holds
//!   every shard: nothing else touches the keyspace until the script ends.
//!   `redis.call` resolves the command through the normal table, checks it as
//!   Redis does for scripts, and runs its handler through
//!   [`dispatch::invoke`](crate::dispatch::invoke) under those same locks; the
//!   reply is captured in a separate writer in the script's protocol and
//!   converted to Lua ([`convert`]).
//! - Busy scripts: [`RUN_SINCE`] says since when a script runs; dispatch asks
//!   [`busy_error`] before taking any lock and refuses commands without
//!   ALLOW_BUSY once the script is past `busy-reply-threshold`. SCRIPT KILL /
//!   FUNCTION KILL set a flag that an instruction-count hook polls.

pub mod convert;
pub mod libs;

use crate::ctx::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::spec::flags;
use mlua::{Function, HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Table, Value, VmState};
use parking_lot::Mutex;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;

/// Chunk name of the sandbox set-up code: the error handler skips its frames
/// when it looks for the user's line.
const INTERNAL: &str = "=[ferrocache]";
const BOOTSTRAP: &str = include_str!("bootstrap.lua");

/// Lua instructions between two polls of the kill flag (Redis: 100000).
const HOOK_EVERY: u32 = 100_000;

/// Unix ms at which the running script started; 0 when none runs.
pub static RUN_SINCE: AtomicU64 = AtomicU64::new(0);
/// What runs: 1 = an EVAL script, 2 = a function.
static RUN_KIND: AtomicU8 = AtomicU8::new(0);
/// SCRIPT KILL / FUNCTION KILL asked the running script to stop.
static KILL: AtomicBool = AtomicBool::new(false);
/// SHUTDOWN arrived while a script runs: stop it even if it wrote (Redis
/// exits from inside the script; here the script must end for the worker
/// threads to finish).
static ABORT: AtomicBool = AtomicBool::new(false);
/// The running script already wrote: it can no longer be killed.
static WROTE: AtomicBool = AtomicBool::new(false);
/// The running function's name and command line (FUNCTION STATS).
static RUN_INFO: Mutex<Option<(String, Vec<Vec<u8>>)>> = Mutex::new(None);

pub const BUSY_EVAL: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";

/// The error dispatch must answer instead of running `spec`, if a script is
/// running past `busy-reply-threshold` and `spec` is not ALLOW_BUSY. One
/// atomic load when no script runs.
pub fn busy_error(server: &crate::Server, spec: &crate::spec::CommandSpec) -> Option<&'static str> {
    let since = RUN_SINCE.load(Ordering::Acquire);
    if since == 0 {
        return None;
    }
    if spec.name == "shutdown" {
        ABORT.store(true, Ordering::Release);
    }
    if spec.has(flags::ALLOW_BUSY) {
        return None;
    }
    let limit = busy_threshold(server);
    let now = ferrocache_engine::clock::now_ms();
    if limit > 0 && now.saturating_sub(since) >= limit {
        Some(if RUN_KIND.load(Ordering::Relaxed) == 2 {
            BUSY_FUNCTION
        } else {
            BUSY_EVAL
        })
    } else {
        None
    }
}

fn busy_threshold(server: &crate::Server) -> u64 {
    server
        .config
        .get("busy-reply-threshold")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(5000)
}

/// SCRIPT KILL (`eval` = true) / FUNCTION KILL: Redis's `scriptKill`.
pub fn kill(eval: bool) -> Result<(), &'static str> {
    if RUN_SINCE.load(Ordering::Acquire) == 0 {
        return Err("NOTBUSY No scripts in execution right now.");
    }
    if WROTE.load(Ordering::Acquire) {
        return Err("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
    }
    let kind = RUN_KIND.load(Ordering::Relaxed);
    if eval && kind == 2 {
        return Err(BUSY_FUNCTION);
    }
    if !eval && kind == 1 {
        return Err(BUSY_EVAL);
    }
    KILL.store(true, Ordering::Release);
    Ok(())
}

/// Is an EVAL script (not a function) running? FUNCTION STATS refuses to
/// answer then, as Redis does.
pub fn eval_running() -> bool {
    RUN_SINCE.load(Ordering::Acquire) != 0 && RUN_KIND.load(Ordering::Relaxed) == 1
}

/// The running function (name, command line) and its run time in ms, for
/// FUNCTION STATS.
pub fn running_function() -> Option<(String, Vec<Vec<u8>>, u64)> {
    let since = RUN_SINCE.load(Ordering::Acquire);
    if since == 0 || RUN_KIND.load(Ordering::Relaxed) != 2 {
        return None;
    }
    let info = RUN_INFO.lock().clone()?;
    let ms = ferrocache_engine::clock::now_ms().saturating_sub(since);
    Some((info.0, info.1, ms))
}

/// Marks a script as running for its whole life, even when it unwinds.
struct RunGuard;

impl RunGuard {
    fn start(kind: u8, info: Option<(String, Vec<Vec<u8>>)>) -> RunGuard {
        KILL.store(false, Ordering::Release);
        WROTE.store(false, Ordering::Release);
        RUN_KIND.store(kind, Ordering::Relaxed);
        *RUN_INFO.lock() = info;
        RUN_SINCE.store(ferrocache_engine::clock::now_ms().max(1), Ordering::Release);
        RunGuard
    }
}

impl Drop for RunGuard {
    fn drop(&mut self) {
        RUN_SINCE.store(0, Ordering::Release);
        ABORT.store(false, Ordering::Release);
        KILL.store(false, Ordering::Release);
        WROTE.store(false, Ordering::Release);
        *RUN_INFO.lock() = None;
    }
}

/// Redis's `sha1hex`: lower-case hex SHA1.
pub fn sha1_hex(data: &[u8]) -> String {
    sha1_smol::Sha1::from(data).digest().to_string()
}

/// One sandboxed Lua state.
pub struct Vm {
    pub lua: Lua,
    /// `slot.impl` is the running script's dispatcher (redis.call & co),
    /// `slot.register` FUNCTION LOAD's register_function.
    slot: Table,
    /// The hidden table behind `_G` (where KEYS/ARGV go).
    globals: Table,
    /// `run(f, keys, args)`: xpcall with Redis's error handler.
    runner: Function,
}

impl Vm {
    /// `functions`: the state of function libraries (has
    /// `redis.register_function`).
    pub fn new(functions: bool) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        let native = lua.create_table()?;
        native.set("sha1hex", lua.create_function(native_sha1hex)?)?;
        native.set("log", lua.create_function(native_log)?)?;
        native.set(
            "call",
            lua.create_function(|lua, a| redis_call(lua, a, true))?,
        )?;
        native.set(
            "pcall",
            lua.create_function(|lua, a| redis_call(lua, a, false))?,
        )?;
        native.set("setresp", lua.create_function(native_setresp)?)?;
        native.set("set_repl", lua.create_function(native_set_repl)?)?;
        native.set(
            "errmsg",
            lua.create_function(|_, v: Value| {
                Ok(match v {
                    Value::Error(e) => error_message(&e),
                    _ => String::new(),
                })
            })?,
        )?;
        native.set("acl_check_cmd", lua.create_function(native_acl_check_cmd)?)?;
        native.set("functions", functions)?;
        native.set("version", "7.0.15")?;
        native.set("version_num", 0x07000f)?;
        native.set("random", lua.create_function(libs::math_random)?)?;
        native.set("randomseed", lua.create_function(libs::math_randomseed)?)?;
        native.set("handler", lua.create_function(error_handler)?)?;
        native.set("cjson", libs::cjson(&lua)?)?;
        native.set("bit", libs::bit(&lua)?)?;
        native.set("struct", libs::structlib(&lua)?)?;
        native.set("cmsgpack", libs::cmsgpack(&lua)?)?;
        // The kill hook stays installed: it costs one atomic load per
        // HOOK_EVERY instructions, cheaper than installing it per call.
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            |_lua, _dbg| {
                if ABORT.load(Ordering::Acquire) {
                    return Err(mlua::Error::RuntimeError(
                        "Script aborted: the server is shutting down".into(),
                    ));
                }
                // Redis says SCRIPT KILL for FUNCTION KILL too.
                if KILL.load(Ordering::Acquire) {
                    return Err(mlua::Error::RuntimeError(
                        "Script killed by user with SCRIPT KILL...".into(),
                    ));
                }
                Ok(VmState::Continue)
            },
        );
        let (slot, globals, runner, _mkerr): (Table, Table, Function, Function) =
            lua.load(BOOTSTRAP).set_name(INTERNAL).call(native)?;
        Ok(Vm {
            lua,
            slot,
            globals,
            runner,
        })
    }

    /// Compile a chunk as the sandbox's code (env = the protected globals).
    pub fn compile(&self, body: &[u8], name: &str) -> Result<Function, String> {
        self.lua
            .load(body)
            .set_name(name)
            .into_function()
            .map_err(|e| lua_error_text(&e))
    }

    /// The hidden globals table.
    pub fn globals(&self) -> &Table {
        &self.globals
    }

    pub fn slot(&self) -> &Table {
        &self.slot
    }

    /// The runner (`xpcall` with the error handler).
    pub fn runner_fn(&self) -> Function {
        self.runner.clone()
    }

    /// Bytes the Lua state uses (INFO `used_memory_lua`).
    pub fn used_memory(&self) -> usize {
        self.lua.used_memory()
    }
}

/// An error raised by the `redis` API as Redis raises its error tables:
/// the message already carries its code (`ERR ...`).
#[derive(Debug, Clone)]
pub struct ScriptError(pub String);

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ScriptError {}

fn script_err(msg: impl Into<String>) -> mlua::Error {
    mlua::Error::external(ScriptError(msg.into()))
}

/// The `ScriptError` inside a (possibly wrapped) mlua error.
fn as_script_error(e: &mlua::Error) -> Option<&ScriptError> {
    match e {
        mlua::Error::ExternalError(x) => x.downcast_ref::<ScriptError>(),
        mlua::Error::CallbackError { cause, .. } => as_script_error(cause),
        mlua::Error::WithContext { cause, .. } => as_script_error(cause),
        _ => None,
    }
}

/// What pcall returns for a native error: the ScriptError's text or Lua's.
fn error_message(e: &mlua::Error) -> String {
    match as_script_error(e) {
        Some(s) => s.0.clone(),
        None => lua_error_text(e),
    }
}

/// Registry key of the running script's dispatcher (`RunState::dispatch`).
const IMPL_KEY: &str = "ferrocache.impl";

fn current_impl(lua: &Lua, what: &str) -> mlua::Result<Function> {
    match lua.named_registry_value::<Option<Function>>(IMPL_KEY)? {
        Some(f) => Ok(f),
        None => Err(script_err(format!(
            "ERR {what} can only be called inside a script invocation"
        ))),
    }
}

/// redis.call (`raise`) / redis.pcall. Native, like Redis's, so a
/// `return redis.call(...)` tail call keeps the script's frame for error
/// positions.
fn redis_call(lua: &Lua, args: MultiValue, raise: bool) -> mlua::Result<Value> {
    let imp = current_impl(lua, "redis.call/pcall")?;
    let mut a = Vec::with_capacity(args.len() + 1);
    a.push(Value::Number(if raise { 1.0 } else { 0.0 }));
    a.extend(args);
    let (ok, v): (bool, Value) = imp.call(MultiValue::from_vec(a))?;
    if ok || !raise {
        return Ok(v);
    }
    let msg = match &v {
        Value::Table(t) => field_bytes(t, "err")
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default(),
        _ => String::new(),
    };
    Err(script_err(msg))
}

/// redis.acl_check_cmd: ferrocache has only the `default` user with every
/// permission, so any existing command is allowed.
fn native_acl_check_cmd(lua: &Lua, args: MultiValue) -> mlua::Result<bool> {
    current_impl(lua, "redis.acl_check_cmd")?;
    if args.is_empty() {
        return Err(script_err(
            "ERR Please specify at least one argument for this redis lib call",
        ));
    }
    let mut argv = Vec::with_capacity(args.len());
    for v in args.iter() {
        match convert::arg_bytes(v) {
            Some(b) => argv.push(b),
            None => {
                return Err(script_err(
                    "ERR Lua redis lib command arguments must be strings or integers",
                ))
            }
        }
    }
    if lookup(&argv).is_none() {
        return Err(script_err(
            "ERR Invalid command passed to redis.acl_check_cmd()",
        ));
    }
    Ok(true)
}

/// `tonumber` of a Lua value.
fn to_number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => Some(*n),
        Value::Integer(i) => Some(*i as f64),
        Value::String(s) => s.to_str().ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn native_setresp(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    let imp = current_impl(lua, "redis.setresp")?;
    if args.len() != 1 {
        return Err(script_err("ERR redis.setresp() requires one argument."));
    }
    let v = to_number(args.front()).unwrap_or(0.0) as i64;
    if v != 2 && v != 3 {
        return Err(script_err("ERR RESP version must be 2 or 3."));
    }
    imp.call::<()>((2.0, v as f64))
}

fn native_set_repl(lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    current_impl(lua, "redis.set_repl")?;
    if args.len() != 1 {
        return Err(script_err("ERR redis.set_repl() requires two arguments."));
    }
    let v = to_number(args.front()).unwrap_or(0.0) as i64;
    if v & !3 != 0 {
        return Err(script_err(
            "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
        ));
    }
    Ok(())
}

fn native_sha1hex(_lua: &Lua, args: MultiValue) -> mlua::Result<String> {
    if args.len() != 1 {
        return Err(script_err("ERR wrong number of arguments"));
    }
    let data = args
        .front()
        .and_then(convert::arg_bytes)
        .unwrap_or_default();
    Ok(sha1_hex(&data))
}

/// redis.log: checked as Redis does; ferrocache has no log file to write
/// script messages to, so they go to standard error at WARNING level only.
fn native_log(_lua: &Lua, args: MultiValue) -> mlua::Result<()> {
    if args.len() < 2 {
        return Err(script_err(
            "ERR redis.log() requires two arguments or more.",
        ));
    }
    let Some(level) = to_number(args.front()) else {
        return Err(script_err(
            "ERR First argument must be a number (log level).",
        ));
    };
    let level = level as i64;
    if !(0..=3).contains(&level) {
        return Err(script_err("ERR Invalid debug level."));
    }
    if level == 3 {
        let parts: Vec<String> = args
            .iter()
            .skip(1)
            .filter_map(convert::arg_bytes)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .collect();
        eprintln!("# {}", parts.join(" "));
    }
    Ok(())
}

/// The message of a Lua error as Lua printed it (no mlua decorations).
pub fn lua_error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        mlua::Error::RuntimeError(m) | mlua::Error::MemoryError(m) => m.clone(),
        mlua::Error::CallbackError { cause, .. } => lua_error_text(cause),
        mlua::Error::WithContext { cause, .. } => lua_error_text(cause),
        other => other.to_string(),
    }
}

/// `__redis__err__handler`: turn any error into Redis's error table
/// `{err=, source=, line=}`, the position being the innermost frame of user
/// code (skipping C functions and the sandbox's own wrappers).
fn error_handler(lua: &Lua, e: Value) -> mlua::Result<Table> {
    let t = match e {
        Value::Table(t) => t,
        other => {
            let msg: Vec<u8> = match &other {
                Value::String(s) => s.as_bytes().to_vec(),
                Value::Number(n) => libs::lua_number_string(*n).into_bytes(),
                Value::Integer(i) => i.to_string().into_bytes(),
                Value::Error(err) => {
                    if let Some(se) = as_script_error(err) {
                        let t = lua.create_table()?;
                        t.raw_set("err", se.0.as_str())?;
                        t.raw_set("ignore_error_stats_update", true)?;
                        return locate(lua, t);
                    }
                    lua_error_text(err).into_bytes()
                }
                Value::Nil => b"nil".to_vec(),
                Value::Boolean(b) => b.to_string().into_bytes(),
                _ => b"execution failure".to_vec(),
            };
            let t = lua.create_table()?;
            let mut full = b"ERR ".to_vec();
            full.extend_from_slice(&msg);
            t.raw_set("err", lua.create_string(&full)?)?;
            t
        }
    };
    locate(lua, t)
}

/// Add `source`/`line` of the innermost user frame to an error table.
fn locate(lua: &Lua, t: Table) -> mlua::Result<Table> {
    for level in 0..64 {
        let Some(frame) = lua.inspect_stack(level) else {
            break;
        };
        let src = frame.source();
        if src.what == "C" {
            continue;
        }
        let source = src.source.as_deref().unwrap_or("").to_string();
        if source == INTERNAL {
            continue;
        }
        let line = frame.curr_line();
        t.raw_set("source", source)?;
        t.raw_set("line", line)?;
        break;
    }
    Ok(t)
}

/// Resolve a command line as `lookupCommand` does: the command, or its
/// subcommand for containers. (table index, top, spec)
fn lookup(
    argv: &[Vec<u8>],
) -> Option<(
    usize,
    &'static crate::spec::CommandSpec,
    &'static crate::spec::CommandSpec,
)> {
    let (idx, top) = crate::table::table().get(argv.first()?)?;
    if top.subcommands.is_empty() || argv.len() < 2 {
        return Some((idx, top, top));
    }
    let sub = crate::table::subcommand(top, &argv[1])?;
    Some((idx, top, sub))
}

/// The two Lua states: EVAL scripts, and function libraries.
pub struct Engine {
    pub eval: Mutex<EvalState>,
    pub func: Mutex<crate::cmd::function::FuncState>,
}

/// EVAL's VM and its script cache (sha1 hex → compiled body).
pub struct EvalState {
    pub vm: Vm,
    pub scripts: std::collections::HashMap<String, CachedScript>,
    /// Sum of the cached bodies' sizes (INFO `used_memory_scripts_eval`).
    pub bytes: usize,
}

pub struct CachedScript {
    pub func: Function,
    /// `#!lua flags=no-writes`: the script may not write.
    pub no_writes: bool,
}

impl EvalState {
    pub fn new() -> mlua::Result<EvalState> {
        Ok(EvalState {
            vm: Vm::new(false)?,
            scripts: Default::default(),
            bytes: 0,
        })
    }
}

/// The process's scripting engine. A static, like the eviction pool: one
/// Redis node per process in production.
pub fn engine() -> Result<&'static Engine, CmdError> {
    static E: OnceLock<Option<Engine>> = OnceLock::new();
    E.get_or_init(|| {
        Some(Engine {
            eval: Mutex::new(EvalState::new().ok()?),
            func: Mutex::new(crate::cmd::function::FuncState::new().ok()?),
        })
    })
    .as_ref()
    .ok_or_else(|| CmdError::msg("ERR Failed to initialize the Lua engine"))
}

/// Scripting figures for INFO `# Memory`.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryStats {
    pub vm_eval: usize,
    pub vm_functions: usize,
    pub scripts_eval: usize,
    pub cached_scripts: usize,
    pub functions: usize,
    pub libraries: usize,
    pub functions_bytes: usize,
}

/// INFO's scripting memory figures. Never waits for a running script: the
/// last figures seen are reported while one holds a state.
pub fn memory_stats() -> MemoryStats {
    static LAST: Mutex<MemoryStats> = Mutex::new(MemoryStats {
        vm_eval: 0,
        vm_functions: 0,
        scripts_eval: 0,
        cached_scripts: 0,
        functions: 0,
        libraries: 0,
        functions_bytes: 0,
    });
    let Ok(eng) = engine() else {
        return MemoryStats::default();
    };
    let mut last = LAST.lock();
    if let Some(st) = eng.eval.try_lock() {
        last.vm_eval = st.vm.used_memory();
        last.scripts_eval = st.bytes;
        last.cached_scripts = st.scripts.len();
    }
    if let Some(st) = eng.func.try_lock() {
        last.vm_functions = st.vm.used_memory();
        last.libraries = st.libs.len();
        last.functions = st.libs.values().map(|l| l.funcs.len()).sum();
        last.functions_bytes = st.libs.values().map(|l| l.code.len()).sum();
    }
    *last
}

/// How a script runs.
pub struct RunMode<'n> {
    /// EVAL (KEYS/ARGV globals) rather than FCALL (arguments).
    pub eval: bool,
    /// EVAL_RO/FCALL_RO or a `no-writes` script: writes are refused.
    pub read_only: bool,
    /// The name errors quote (`script: <name>`): the sha or function name.
    pub name: &'n str,
    /// FUNCTION STATS command line (functions only).
    pub command: Option<Vec<Vec<u8>>>,
}

/// What `redis.call` needs while a script runs.
struct RunState<'a, 'k> {
    server: &'k crate::Server,
    client: &'a mut crate::ClientState,
    locked: Option<ferrocache_engine::Locked<'k>>,
    resp3: bool,
    read_only: bool,
    /// Memory was over maxmemory when the script started (Redis's
    /// `pre_command_oom_state`): DENYOOM commands are refused until the
    /// script wrote.
    oom: bool,
    wrote: bool,
}

impl RunState<'_, '_> {
    /// `impl(op, ...)`: op 1 = redis.call, 0 = redis.pcall, 2 = setresp.
    /// Returns (ok, value): for call/pcall `value` is the reply or an error
    /// table (raised by the Lua wrapper for redis.call).
    fn dispatch(&mut self, lua: &Lua, args: MultiValue) -> mlua::Result<(bool, Value)> {
        let mut it = args.into_iter();
        let op = match it.next() {
            Some(Value::Number(n)) => n as i64,
            Some(Value::Integer(n)) => n,
            _ => 0,
        };
        if op == 2 {
            if let Some(v) = it.next() {
                let n = match v {
                    Value::Number(n) => n as i64,
                    Value::Integer(n) => n,
                    _ => 2,
                };
                self.resp3 = n == 3;
            }
            return Ok((true, Value::Nil));
        }
        let rest: Vec<Value> = it.collect();
        if rest.is_empty() {
            return err_value(
                lua,
                "ERR Please specify at least one argument for this redis lib call",
            );
        }
        let mut argv: Vec<Vec<u8>> = Vec::with_capacity(rest.len());
        for v in &rest {
            match convert::arg_bytes(v) {
                Some(b) => argv.push(b),
                None => {
                    return err_value(
                        lua,
                        "ERR Lua redis lib command arguments must be strings or integers",
                    )
                }
            }
        }
        let Some((idx, top, spec)) = lookup(&argv) else {
            return err_value(lua, "ERR Unknown Redis command called from script");
        };
        if !spec.arity_ok(argv.len()) {
            return err_value(
                lua,
                "ERR Wrong number of args calling Redis command from script",
            );
        }
        if spec.has(flags::NOSCRIPT) {
            return err_value(lua, "ERR This Redis command is not allowed from script");
        }
        if spec.has(flags::WRITE) && self.read_only {
            return err_value(
                lua,
                "ERR Write commands are not allowed from read-only scripts.",
            );
        }
        if spec.has(flags::DENYOOM) && self.oom && !self.wrote {
            return err_value(lua, crate::error::OOM);
        }
        let Some(locked) = self.locked.take() else {
            return err_value(lua, "ERR script lost its locks");
        };
        // (Not ReplyWriter::new: that reserves a connection-sized buffer.)
        let mut out = ferrocache_protocol::ReplyWriter::default();
        out.set_version(if self.resp3 {
            ferrocache_protocol::RespVersion::Resp3
        } else {
            ferrocache_protocol::RespVersion::Resp2
        });
        let refs: Vec<&[u8]> = argv.iter().map(|a| a.as_slice()).collect();
        let locked = crate::dispatch::invoke(
            self.server,
            self.client,
            &mut out,
            locked,
            std::time::Instant::now(),
            idx,
            top,
            spec,
            &refs,
        );
        self.locked = Some(locked);
        let bytes = out.as_bytes();
        let is_err = bytes.first() == Some(&b'-');
        if spec.has(flags::WRITE) && !is_err {
            self.wrote = true;
            WROTE.store(true, Ordering::Release);
        }
        let mut pos = 0;
        let v = convert::resp_to_lua(lua, bytes, &mut pos, 0)?;
        Ok((!is_err, v))
    }
}

/// `(false, {err=msg})` for redis.call's checks (raised by the wrapper).
fn err_value(lua: &Lua, msg: &str) -> mlua::Result<(bool, Value)> {
    let t = lua.create_table()?;
    t.raw_set("err", msg)?;
    t.raw_set("ignore_error_stats_update", true)?;
    Ok((false, Value::Table(t)))
}

/// Is memory over `maxmemory` right now? (No eviction: the caller holds
/// every shard, and eviction locks shards itself.)
fn over_maxmemory(server: &crate::Server) -> bool {
    let max = server.keyspace.tunables.maxmemory.load(Ordering::Relaxed);
    max != 0 && ferrocache_engine::memory::used_memory() as u64 > max
}

/// Run `f` for the client of `ctx` and write its reply (or error) there.
pub fn run(
    ctx: &mut Ctx<'_, '_>,
    vm: &Vm,
    f: &Function,
    keys: &[&[u8]],
    args: &[&[u8]],
    mode: RunMode<'_>,
) -> CmdResult {
    let lua = &vm.lua;
    let lerr = |e: mlua::Error| CmdError::msg(format!("ERR {}", lua_error_text(&e)));
    let mk = |items: &[&[u8]]| -> mlua::Result<Table> {
        let t = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, a) in items.iter().enumerate() {
            t.raw_set(i + 1, lua.create_string(a)?)?;
        }
        Ok(t)
    };
    let keys_t = mk(keys).map_err(lerr)?;
    let args_t = mk(args).map_err(lerr)?;
    if mode.eval {
        vm.globals.raw_set("KEYS", keys_t.clone()).map_err(lerr)?;
        vm.globals.raw_set("ARGV", args_t.clone()).map_err(lerr)?;
    }
    let server = ctx.server;
    let _guard = RunGuard::start(
        if mode.eval { 1 } else { 2 },
        mode.command.map(|c| (mode.name.to_string(), c)),
    );
    let now = ctx.now();
    let locked = std::mem::replace(&mut ctx.ks, server.keyspace.lock_none(now));
    let saved_db = ctx.client.db;
    let saved_deny = ctx.client.deny_blocking;
    ctx.client.deny_blocking = true;
    let state = RefCell::new(RunState {
        server,
        client: &mut *ctx.client,
        locked: Some(locked),
        resp3: false,
        read_only: mode.read_only,
        oom: over_maxmemory(server),
        wrote: false,
    });
    let result: mlua::Result<(bool, Value)> = lua.scope(|scope| {
        let imp = scope
            .create_function(|lua, args: MultiValue| state.borrow_mut().dispatch(lua, args))?;
        lua.set_named_registry_value(IMPL_KEY, imp)?;
        let r = if mode.eval {
            vm.runner
                .call::<(bool, Value)>((f.clone(), Value::Nil, Value::Nil))
        } else {
            vm.runner
                .call::<(bool, Value)>((f.clone(), keys_t.clone(), args_t.clone()))
        };
        lua.unset_named_registry_value(IMPL_KEY)?;
        r
    });
    let st = state.into_inner();
    let resp3 = st.resp3;
    if let Some(l) = st.locked {
        ctx.ks = l;
    }
    ctx.client.db = saved_db;
    ctx.client
        .shared
        .db
        .store(saved_db, std::sync::atomic::Ordering::Relaxed);
    ctx.client.deny_blocking = saved_deny;
    if mode.eval {
        let _ = vm.globals.raw_set("KEYS", Value::Nil);
        let _ = vm.globals.raw_set("ARGV", Value::Nil);
    }
    gc_tick(lua);
    match result {
        Ok((true, v)) => convert::lua_to_reply(ctx.out, &v, resp3, 0),
        Ok((false, Value::Table(t))) => {
            let msg = field_bytes(&t, "err").unwrap_or_else(|| b"ERR unknown error".to_vec());
            let mut full = msg;
            if let (Some(src), Some(line)) = (field_bytes(&t, "source"), field_bytes(&t, "line")) {
                full.extend_from_slice(b" script: ");
                full.extend_from_slice(mode.name.as_bytes());
                full.extend_from_slice(b", on ");
                full.extend_from_slice(&src);
                full.push(b':');
                full.extend_from_slice(&line);
                full.push(b'.');
            }
            Err(CmdError::Raw(full))
        }
        Ok((false, other)) => {
            let msg = match other {
                Value::String(s) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
                _ => "execution failure".into(),
            };
            let msg: String = msg.chars().take(100).collect();
            Err(CmdError::msg(format!(
                "ERR Error running script {}, {msg}",
                mode.name
            )))
        }
        Err(e) => Err(lerr(e)),
    }
}

/// A string or number field of an error table, as bytes (`lua_tostring`).
fn field_bytes(t: &Table, name: &str) -> Option<Vec<u8>> {
    match t.raw_get::<Value>(name).ok()? {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Number(n) => Some(libs::lua_number_string(n).into_bytes()),
        Value::Integer(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

/// Redis runs a GC step every 50 scripts rather than letting Lua run a full
/// cycle at an unpredictable point.
fn gc_tick(lua: &Lua) {
    static N: AtomicU64 = AtomicU64::new(0);
    if N.fetch_add(1, Ordering::Relaxed) % 50 == 49 {
        let _ = lua.gc_step_kbytes(50);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_plain(vm: &Vm, src: &str) -> (bool, Value) {
        let f = vm
            .compile(src.as_bytes(), "@user_script")
            .expect("compiles");
        vm.runner
            .call::<(bool, Value)>((f, Value::Nil, Value::Nil))
            .expect("runner")
    }

    fn err_text(v: &Value) -> String {
        match v {
            Value::Table(t) => field_bytes(t, "err")
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default(),
            _ => String::new(),
        }
    }

    #[test]
    fn globals_are_protected() {
        let vm = Vm::new(false).expect("vm");
        let (ok, e) = run_plain(&vm, "x = 1");
        assert!(!ok);
        assert_eq!(
            err_text(&e),
            "ERR user_script:1: Attempt to modify a readonly table"
        );
        let (ok, e) = run_plain(&vm, "return nope");
        assert!(!ok);
        assert_eq!(
            err_text(&e),
            "ERR user_script:1: Script attempted to access nonexistent global variable 'nope'"
        );
        let (ok, v) = run_plain(&vm, "return type(string.len)");
        assert!(ok);
        assert_eq!(v.as_str().map(|s| s.to_string()), Some("function".into()));
    }

    #[test]
    fn redis_call_outside_a_script_fails_cleanly() {
        let vm = Vm::new(false).expect("vm");
        let (ok, e) = run_plain(&vm, "return redis.call('ping')");
        assert!(!ok);
        assert_eq!(
            err_text(&e),
            "ERR redis.call/pcall can only be called inside a script invocation"
        );
    }

    #[test]
    fn sha1_hex_is_lowercase() {
        assert_eq!(sha1_hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    }
}
