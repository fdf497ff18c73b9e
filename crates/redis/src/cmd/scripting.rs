//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT LOAD/EXISTS/FLUSH/KILL/
//! DEBUG/HELP. The Lua side (sandbox, redis.call, conversions, busy scripts)
//! is in [`crate::script`].
//!
//! The EVAL family is flagged GLOBAL: dispatch locks every shard before the
//! handler runs, so a script is atomic like in single-threaded Redis, and
//! keys the script did not declare are safe to touch.

use crate::args::eq;
use crate::ctx::Ctx;
use crate::error::{err, CmdError, CmdResult};
use crate::script::{self, CachedScript, RunMode};
use crate::spec::{acl, flags::*, CommandSpec};

/// Keys of EVAL-style commands: `numkeys` at argv[2].
pub fn eval_keys(argv: &[&[u8]]) -> Vec<usize> {
    crate::spec::numkeys_at(argv, 2)
}

const EVAL_FLAGS: u32 = NOSCRIPT | STALE | SKIP_MONITOR | NO_MANDATORY_KEYS | GLOBAL;

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec::new("eval", -3, EVAL_FLAGS, (0, 0, 0), eval)
        .keys_fn(eval_keys)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "2.6.0",
            "Execute a Lua script server side",
            "Depends on the script that is executed.",
        ),
    CommandSpec::new("evalsha", -3, EVAL_FLAGS, (0, 0, 0), evalsha)
        .keys_fn(eval_keys)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "2.6.0",
            "Execute a Lua script server side",
            "Depends on the script that is executed.",
        ),
    CommandSpec::new("eval_ro", -3, EVAL_FLAGS | READONLY, (0, 0, 0), eval_ro)
        .keys_fn(eval_keys)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "7.0.0",
            "Execute a read-only Lua script server side",
            "Depends on the script that is executed.",
        ),
    CommandSpec::new(
        "evalsha_ro",
        -3,
        EVAL_FLAGS | READONLY,
        (0, 0, 0),
        evalsha_ro,
    )
    .keys_fn(eval_keys)
    .acl(acl::SCRIPTING)
    .doc(
        "scripting",
        "7.0.0",
        "Execute a read-only Lua script server side",
        "Depends on the script that is executed.",
    ),
    CommandSpec::container("script", -2, SCRIPT_SUBS).doc(
        "scripting",
        "2.6.0",
        "A container for Lua scripts management commands",
        "Depends on subcommand.",
    ),
];

/// In the order redis-server 7.0 lists them.
static SCRIPT_SUBS: &[CommandSpec] = &[
    CommandSpec::new("flush", -2, NOSCRIPT, (0, 0, 0), script_flush)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "2.6.0",
            "Remove all the scripts from the script cache.",
            "O(N) with N being the number of scripts in cache",
        ),
    CommandSpec::new("debug", 3, NOSCRIPT, (0, 0, 0), script_debug)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "3.2.0",
            "Set the debug mode for executed scripts.",
            "O(1)",
        ),
    CommandSpec::new("exists", -3, NOSCRIPT, (0, 0, 0), script_exists)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "2.6.0",
            "Check existence of scripts in the script cache.",
            "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation).",
        ),
    CommandSpec::new("help", 2, LOADING | STALE, (0, 0, 0), script_help)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "5.0.0",
            "Show helpful text about the different subcommands",
            "O(1)",
        ),
    CommandSpec::new("load", 3, NOSCRIPT | STALE, (0, 0, 0), script_load)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "2.6.0",
            "Load the specified Lua script into the script cache.",
            "O(N) with N being the length in bytes of the script body.",
        ),
    CommandSpec::new("kill", 2, NOSCRIPT | ALLOW_BUSY, (0, 0, 0), script_kill)
        .acl(acl::SCRIPTING)
        .doc(
            "scripting",
            "2.6.0",
            "Kill the script currently in execution.",
            "O(1)",
        ),
];

/// Parse `numkeys` as `evalGenericCommand` does; returns it as usize.
pub fn parse_numkeys(argv: &[&[u8]]) -> Result<usize, CmdError> {
    let n = crate::args::int(argv[2])?;
    if n > argv.len() as i64 - 3 {
        return err("ERR Number of keys can't be greater than number of args");
    }
    if n < 0 {
        return err("ERR Number of keys can't be negative");
    }
    Ok(n as usize)
}

/// The `#!lua flags=...` shebang of an EVAL script: (no-writes, body offset).
fn shebang(body: &[u8]) -> Result<(bool, usize), CmdError> {
    if !body.starts_with(b"#!") {
        return Ok((false, 0));
    }
    let end = body.iter().position(|&c| c == b'\n').unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[2..end]).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("");
    if engine != "lua" {
        return Err(CmdError::msg(format!(
            "ERR Unexpected engine in script shebang: {engine}"
        )));
    }
    let mut no_writes = false;
    for p in parts {
        let Some(list) = p.strip_prefix("flags=") else {
            return Err(CmdError::msg(format!(
                "ERR Unknown lua shebang option: {p}"
            )));
        };
        for f in list.split(',').filter(|f| !f.is_empty()) {
            match f {
                "no-writes" => no_writes = true,
                "allow-oom" | "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                other => {
                    return Err(CmdError::msg(format!(
                        "ERR Unexpected flag in script shebang: {other}"
                    )))
                }
            }
        }
    }
    Ok((no_writes, end))
}

/// Compile `body` into the cache (if not there) and return its sha.
fn cache_script(st: &mut script::EvalState, body: &[u8]) -> Result<String, CmdError> {
    let sha = script::sha1_hex(body);
    if st.scripts.contains_key(&sha) {
        return Ok(sha);
    }
    let (no_writes, off) = shebang(body)?;
    // The shebang line is blanked, not removed, so line numbers stay right.
    let mut src = Vec::with_capacity(body.len());
    src.extend(std::iter::repeat_n(b' ', off));
    src.extend_from_slice(&body[off..]);
    let func = st.vm.compile(&src, "@user_script").map_err(|e| {
        CmdError::Raw(format!("ERR Error compiling script (new function): {e}").into_bytes())
    })?;
    st.bytes += body.len();
    st.scripts
        .insert(sha.clone(), CachedScript { func, no_writes });
    Ok(sha)
}

fn eval_generic(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]], by_sha: bool, ro: bool) -> CmdResult {
    let numkeys = parse_numkeys(argv)?;
    let eng = script::engine()?;
    let mut st = eng.eval.lock();
    // The sha, lower-cased without allocating (EVALSHA is the hot path).
    let mut lower = [0u8; 40];
    let computed;
    let sha: &str = if by_sha {
        let s = argv[1];
        if s.len() != 40 {
            return err("NOSCRIPT No matching script. Please use EVAL.");
        }
        for (d, c) in lower.iter_mut().zip(s) {
            *d = c.to_ascii_lowercase();
        }
        match std::str::from_utf8(&lower) {
            Ok(h) => h,
            Err(_) => return err("NOSCRIPT No matching script. Please use EVAL."),
        }
    } else {
        computed = cache_script(&mut st, argv[1])?;
        &computed
    };
    let st = &*st;
    let Some(cached) = st.scripts.get(sha) else {
        return err("NOSCRIPT No matching script. Please use EVAL.");
    };
    let read_only = ro || cached.no_writes;
    let keys = &argv[3..3 + numkeys];
    let args = &argv[3 + numkeys..];
    script::run(
        ctx,
        &st.vm,
        &cached.func,
        keys,
        args,
        RunMode {
            eval: true,
            read_only,
            name: sha,
            command: None,
        },
    )
}

fn eval(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, false, false)
}

fn evalsha(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, true, false)
}

fn eval_ro(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, false, true)
}

fn evalsha_ro(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    eval_generic(ctx, argv, true, true)
}

fn script_load(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let eng = script::engine()?;
    let sha = cache_script(&mut eng.eval.lock(), argv[2])?;
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

fn script_exists(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    let eng = script::engine()?;
    let st = eng.eval.lock();
    ctx.out.array(argv.len() - 2);
    for a in &argv[2..] {
        let sha = String::from_utf8_lossy(a).to_ascii_lowercase();
        ctx.out.int(i64::from(st.scripts.contains_key(&sha)));
    }
    Ok(())
}

fn script_flush(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    if argv.len() > 3 || (argv.len() == 3 && !eq(argv[2], "sync") && !eq(argv[2], "async")) {
        return err("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
    }
    let eng = script::engine()?;
    let fresh = script::EvalState::new()
        .map_err(|e| CmdError::msg(format!("ERR {}", script::lua_error_text(&e))))?;
    *eng.eval.lock() = fresh;
    ctx.out.ok();
    Ok(())
}

fn script_kill(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    match script::kill(true) {
        Ok(()) => {
            ctx.out.ok();
            Ok(())
        }
        Err(e) => err(e),
    }
}

fn script_debug(ctx: &mut Ctx<'_, '_>, argv: &[&[u8]]) -> CmdResult {
    if eq(argv[2], "no") {
        ctx.out.ok();
        return Ok(());
    }
    if eq(argv[2], "yes") || eq(argv[2], "sync") {
        return err("ERR ferrocache does not implement the Lua debugger");
    }
    err("ERR Use SCRIPT DEBUG YES/SYNC/NO")
}

fn script_help(ctx: &mut Ctx<'_, '_>, _argv: &[&[u8]]) -> CmdResult {
    crate::cmd::server::reply_help(
        ctx,
        "SCRIPT",
        &[
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
        ],
    );
    Ok(())
}
