//! Lua scripting and functions, differential against redis-server 7.0:
//! the corpus in tests/lua/*.lua (rate limiter, lock release, leaderboard,
//! library round trips, type conversions both ways in RESP2 and RESP3),
//! error scripts, sandbox escapes, the script cache, functions, and busy
//! scripts (BUSY, SCRIPT KILL, FUNCTION KILL, UNKILLABLE, SHUTDOWN NOSAVE).

mod common;

use common::{Pair, RespReader};
use std::time::{Duration, Instant};

fn corpus(name: &str) -> String {
    let path = format!("{}/tests/lua/{name}.lua", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn eval(p: &mut Pair, body: &str, keys: &[&str], args: &[&str]) {
    let nk = keys.len().to_string();
    let mut argv: Vec<&[u8]> = vec![b"EVAL", body.as_bytes(), nk.as_bytes()];
    argv.extend(keys.iter().map(|k| k.as_bytes()));
    argv.extend(args.iter().map(|a| a.as_bytes()));
    p.check(&argv);
}

#[test]
fn corpus_scripts_match_redis() {
    let Some(mut p) = Pair::start(&["--threads", "2"]) else {
        return;
    };
    p.check_str("FLUSHALL");
    let limiter = corpus("rate_limiter");
    for _ in 0..5 {
        eval(&mut p, &limiter, &["rl:user1"], &["60", "3"]);
    }
    let lock = corpus("lock_release");
    p.check_str("SET lock:a token1");
    eval(&mut p, &lock, &["lock:a"], &["other"]);
    p.check_str("GET lock:a");
    eval(&mut p, &lock, &["lock:a"], &["token1"]);
    p.check_str("EXISTS lock:a");
    eval(&mut p, &lock, &["lock:a"], &["token1"]);
    let lb = corpus("leaderboard");
    for (pts, who) in [
        ("10", "ann"),
        ("5", "bob"),
        ("7.5", "cy"),
        ("3", "bob"),
        ("-20", "ann"),
    ] {
        eval(&mut p, &lb, &["board"], &[pts, who]);
    }
    eval(&mut p, &corpus("codecs"), &[], &[]);
    eval(&mut p, &corpus("conversions"), &[], &[]);
    eval(&mut p, &corpus("redis_types"), &["t:list", "t:str"], &[]);
    eval(&mut p, &corpus("resp3"), &["r:h", "r:z", "r:s"], &[]);
    // The same scripts for a RESP3 client.
    let _ = p.both(&[b"HELLO", b"3"]);
    eval(&mut p, &corpus("resp3"), &["r:h", "r:z", "r:s"], &[]);
    eval(&mut p, &corpus("conversions"), &[], &[]);
    eval(&mut p, &corpus("redis_types"), &["t:list", "t:str"], &[]);
    eval(&mut p, &lb, &["board"], &["1", "cy"]);
    eval(
        &mut p,
        "return redis.call('HGETALL', KEYS[1])",
        &["r:h"],
        &[],
    );
    eval(
        &mut p,
        "redis.setresp(3) return redis.call('HGETALL', KEYS[1])",
        &["r:h"],
        &[],
    );
    eval(
        &mut p,
        "redis.setresp(3) return redis.call('ZSCORE', KEYS[1], 'm')",
        &["r:z"],
        &[],
    );
    eval(
        &mut p,
        "redis.setresp(3) return redis.call('GET', 'nope')",
        &[],
        &[],
    );
    eval(&mut p, "return {true, false, nil}", &[], &[]);
    eval(&mut p, "redis.setresp(3) return {true, false}", &[], &[]);
}

#[test]
fn conversions_match_redis() {
    let Some(mut p) = Pair::start(&["--threads", "2"]) else {
        return;
    };
    for s in [
        "return 1",
        "return -2.9",
        "return 2^53",
        "return 'x'",
        "return true",
        "return false",
        "return nil",
        "return {}",
        "return {1, 'two', {3}}",
        "return {1, nil, 3}",
        "return {ok = 'a\\r\\nb'}",
        "return {err = 'not ERR'}",
        "return {err = 'ERR with code'}",
        "return redis.status_reply('FINE')",
        "return redis.status_reply(1)",
        "return redis.error_reply('My err')",
        "return redis.error_reply('-X y')",
        "return redis.error_reply('single')",
        "return {double = 3.25}",
        "return {big_number = '12345678901234567890'}",
        "return {verbatim_string = {format = 'mkd', string = '# hi'}}",
        "return {map = {k = 'v'}}",
        "return {set = {a = true}}",
        "return {1, {err = 'E1 inner'}, 3}",
        "return redis.sha1hex('')",
        "return redis.sha1hex(12)",
        "return redis.REDIS_VERSION",
        "return redis.REDIS_VERSION_NUM",
        "return {redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING}",
        "return {redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL}",
        "return redis.replicate_commands()",
        "return redis.breakpoint()",
        "return redis.debug('x')",
        "return redis.set_repl(redis.REPL_ALL)",
        "return redis.log(redis.LOG_DEBUG, 'hello', 'world')",
        "return tostring(1e15) .. ' ' .. tostring(0.1) .. ' ' .. tostring(1/3)",
        "return _VERSION",
        "return type(coroutine.create(function() end))",
        "return {math.random(100), math.random(1, 10), math.floor(math.random() * 1000)}",
        "return redis.call('ECHO', 3.5)",
        "return redis.call('ECHO', 1e20)",
        "return redis.call('ECHO', 0.1)",
        "return redis.pcall('GET')",
        "local t = redis.pcall('NOSUCH') return t.err",
        "return redis.acl_check_cmd('get', 'x')",
    ] {
        eval(&mut p, s, &[], &[]);
    }
    // Protocol-dependent conversions, for a RESP3 client.
    let _ = p.both(&[b"HELLO", b"3"]);
    for s in [
        "return {double = 3.25}",
        "return {big_number = '12345678901234567890'}",
        "return {verbatim_string = {format = 'txt', string = 'hi'}}",
        "return {map = {k = 'v'}}",
        "return {set = {a = true}}",
        "return true",
        "return false",
        "return nil",
        "redis.setresp(3) return true",
        "redis.setresp(3) return false",
    ] {
        eval(&mut p, s, &[], &[]);
    }
}

#[test]
fn errors_match_redis() {
    let Some(mut p) = Pair::start(&["--threads", "2"]) else {
        return;
    };
    p.check_str("SET str hello");
    for s in [
        "error('boom')",
        "error({err = 'X boom'})",
        "error({err = 'no position'}, 0)",
        "return 'x' .. nil",
        "local t = nil; return t.x",
        "return redis.call('nosuch')",
        "return redis.pcall('nosuch')",
        "return redis.call('get')",
        "return redis.call('incr', 'str')",
        "return redis.pcall('incr', 'str')",
        "redis.call('incr', 'str') return 1",
        "return redis.call()",
        "return redis.call({})",
        "return redis.pcall({})",
        "return redis.call('set', nil)",
        "return redis.call('eval', 'return 1', 0)",
        "return redis.call('multi')",
        "return redis.call('script', 'load', 'return 1')",
        "return redis.call('client', 'nosuchsub')",
        "return redis.call('config')",
        "return pcall(redis.call, 'nosuch')",
        "local ok, e = pcall(redis.call, 'nosuch') return e",
        "local ok, e = pcall(redis.call, 'incr', 'str') return e",
        "local ok, e = pcall(error, {err = 'ERR x'}) return e",
        "local ok, e = pcall(error, 'plain') return e",
        "local ok, e = pcall(error) return tostring(e)",
        "return cjson.decode('x')",
        "return cjson.decode('[1,')",
        "return cjson.decode('{\"a\" 1}')",
        "return cjson.decode('[1] x')",
        "local ok, e = pcall(cjson.decode, '[') return e",
        "return cjson.encode(function() end)",
        "return cjson.encode({[true] = 1})",
        "return bit.band('x')",
        "return bit.tohex()",
        "return cmsgpack.pack()",
        "return redis.setresp(4)",
        "return redis.setresp()",
        "return redis.log(1)",
        "return redis.log('x', 'y')",
        "return redis.log(9, 'y')",
        "return redis.sha1hex()",
        "return redis.set_repl(42)",
        "return redis.set_repl()",
        "return redis.error_reply(1)",
        "return redis.acl_check_cmd('nosuch')",
        "return a b",
        "return (",
        "for i = 1, do end",
        "return math.random(0)",
        "return math.random(1, 2, 3)",
    ] {
        eval(&mut p, s, &[], &[]);
    }
    // Error replies of the EVAL family itself.
    for c in [
        "EVAL",
        "EVAL return",
        "EVAL return x",
        "EVAL return -1",
        "EVAL return 2 a",
        "EVALSHA abc 0",
        "EVALSHA 0123456789012345678901234567890123456789 0",
        "EVAL_RO return 0",
        "FCALL nofunc 0",
        "FCALL nofunc x",
        "FCALL nofunc 5 a",
    ] {
        p.check_str(c);
    }
    eval(&mut p, "return redis.call('set', 'a', 'b')", &[], &[]);
    p.check(&[b"EVAL_RO", b"return redis.call('set', 'a', 'b')", b"0"]);
    p.check(&[b"EVAL_RO", b"return redis.call('get', 'a')", b"0"]);
    p.check(&[
        b"EVAL",
        b"#!lua flags=no-writes\nreturn redis.call('set', 'a', 'b')",
        b"0",
    ]);
    p.check(&[
        b"EVAL",
        b"#!lua flags=no-writes\nreturn redis.call('get', 'a')",
        b"0",
    ]);
}

#[test]
fn sandbox_matches_redis() {
    let Some(mut p) = Pair::start(&["--threads", "2"]) else {
        return;
    };
    for s in [
        "return x",
        "x = 1",
        "_G.x = 1",
        "rawset(_G, 'x', 1)",
        "setmetatable(_G, nil)",
        "return type(getmetatable(_G))",
        "return rawget(_G, 'string') ~= nil",
        "KEYS = 1",
        "redis.call = nil",
        "redis.x = 1",
        "string.x = 1",
        "math.floor = nil",
        "cjson.encode = nil",
        "table.insert = print",
        "os.execute('true')",
        "return io.open('/etc/passwd')",
        "return os.clock()",
        "return print",
        "return dofile('/etc/passwd')",
        "return loadfile('/etc/passwd')",
        "return require('os')",
        "return module",
        "return package",
        "return debug",
        "return getfenv",
        "return newproxy",
        "return type(load)",
        "return loadstring('return 1 + 1')()",
        "return loadstring('x = 1')()",
        "return loadstring('return y')()",
        "local f = loadstring('syntax error here') return type(f)",
        "local n = 0 for k in pairs(_G) do n = n + 1 end return n",
        "local t = {} for k, v in pairs(_G) do t[#t + 1] = k .. ':' .. type(v) end table.sort(t) return t",
        "local t = {} for k in pairs(redis) do t[#t + 1] = k end table.sort(t) return t",
        "local t = {} for k in pairs(string) do t[#t + 1] = k end table.sort(t) return t",
        "local t = {} for k in pairs(math) do t[#t + 1] = k end table.sort(t) return t",
        "local t = {} for k in pairs(table) do t[#t + 1] = k end table.sort(t) return t",
        "local t = {} for k in pairs(bit) do t[#t + 1] = k end table.sort(t) return t",
        "local t = {} for k in pairs(struct) do t[#t + 1] = k end table.sort(t) return t",
        "local t = {} for k in pairs(cmsgpack) do t[#t + 1] = k end table.sort(t) return t",
        "local t = {} for k in pairs(cjson) do t[#t + 1] = k end table.sort(t) return t",
        "local t = {} for k in pairs(coroutine) do t[#t + 1] = k end table.sort(t) return t",
        "local s = 'abc' return s:upper() .. string.rep('x', 3)",
        "local t = {3, 1, 2} table.sort(t) return t",
        "return #KEYS + #ARGV",
        "local x = 5 return x",
    ] {
        eval(&mut p, s, &[], &[]);
    }
    // KEYS/ARGV are per call; globals from one script never leak into another.
    eval(
        &mut p,
        "return {KEYS[1], ARGV[1], #KEYS, #ARGV}",
        &["k1", "k2"],
        &["a1"],
    );
    eval(&mut p, "return {#KEYS, #ARGV}", &[], &[]);
}

#[test]
fn script_cache_matches_redis() {
    let Some(mut p) = Pair::start(&["--threads", "2"]) else {
        return;
    };
    let body = "return {KEYS[1], ARGV[1]}";
    p.check(&[b"SCRIPT", b"LOAD", body.as_bytes()]);
    let sha_real = {
        let (a, _) = p.both(&[b"SCRIPT", b"LOAD", body.as_bytes()]);
        String::from_utf8_lossy(&a)
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(sha_real.len(), 40);
    p.check(&[b"EVALSHA", sha_real.as_bytes(), b"1", b"k", b"v"]);
    p.check(&[
        b"EVALSHA",
        sha_real.to_uppercase().as_bytes(),
        b"1",
        b"k",
        b"v",
    ]);
    p.check(&[b"EVALSHA_RO", sha_real.as_bytes(), b"0"]);
    p.check(&[
        b"SCRIPT",
        b"EXISTS",
        sha_real.as_bytes(),
        b"ffffffffffffffffffffffffffffffffffffffff",
    ]);
    p.check(&[b"SCRIPT", b"EXISTS", sha_real.to_uppercase().as_bytes()]);
    p.check_str("SCRIPT LOAD");
    p.check_str("SCRIPT EXISTS");
    p.check(&[b"SCRIPT", b"LOAD", b"return +"]);
    p.check_str("SCRIPT FLUSH BAD");
    p.check_str("SCRIPT FLUSH SYNC EXTRA");
    p.check_str("SCRIPT FLUSH");
    p.check(&[b"SCRIPT", b"EXISTS", sha_real.as_bytes()]);
    p.check(&[b"EVALSHA", sha_real.as_bytes(), b"0"]);
    p.check(&[b"EVAL", body.as_bytes(), b"0"]);
    p.check(&[b"EVALSHA", sha_real.as_bytes(), b"1", b"again"]);
    p.check_str("SCRIPT FLUSH ASYNC");
    p.check_str("SCRIPT KILL");
    p.check_str("SCRIPT HELP");
    p.check_str("SCRIPT NOSUCH");
    p.check_str("SCRIPT");
    p.check_str("FUNCTION KILL");
    // SCRIPT and FUNCTION list their subcommands in Redis's per-process dict
    // order, so only the top-level commands are compared.
    for c in [
        "eval",
        "evalsha",
        "eval_ro",
        "evalsha_ro",
        "fcall",
        "fcall_ro",
    ] {
        p.check_str(&format!("COMMAND INFO {c}"));
        p.check_str(&format!("COMMAND GETKEYS {c} return 2 k1 k2 a1"));
    }
    // SELECT inside a script changes only the script's database.
    p.check_str("FLUSHALL");
    eval(
        &mut p,
        "redis.call('SELECT', 1) redis.call('SET', 'in1', 'x') return redis.call('DBSIZE')",
        &[],
        &[],
    );
    p.check_str("DBSIZE");
    p.check_str("SELECT 1");
    p.check_str("GET in1");
    p.check_str("SELECT 0");
    // A script's writes are seen by WATCH.
    p.check_str("SET w 1");
    p.check_str("WATCH w");
    eval(&mut p, "return redis.call('INCR', 'w')", &[], &[]);
    p.check_str("MULTI");
    p.check_str("GET w");
    p.check_str("EXEC");
    // Scripts cannot run inside MULTI? They can: queued and run by EXEC.
    p.check_str("MULTI");
    p.check(&[b"EVAL", b"return redis.call('INCR', 'w')", b"0"]);
    p.check_str("EXEC");
    // Blocking commands don't block inside scripts.
    eval(&mut p, "return redis.call('BLPOP', 'nolist', 0)", &[], &[]);
}

#[test]
fn functions_match_redis() {
    let Some(mut p) = Pair::start(&["--threads", "2"]) else {
        return;
    };
    let lib1 = "#!lua name=lib1\n\
        redis.register_function('f1', function(keys, args) return keys[1] .. (args[1] or '') end)\n\
        redis.register_function{function_name='f2', callback=function() return redis.call('set','x','y') end, flags={'no-writes'}, description='d'}\n\
        redis.register_function('incr_by', function(keys, args) return redis.call('INCRBY', keys[1], args[1]) end)";
    p.check(&[b"FUNCTION", b"LOAD", lib1.as_bytes()]);
    p.check(&[b"FUNCTION", b"LOAD", lib1.as_bytes()]);
    p.check_str("FCALL f1 1 k a");
    p.check_str("FCALL f1 1 k");
    p.check_str("FCALL f2 0");
    p.check_str("FCALL_RO f1 1 k");
    p.check_str("FCALL incr_by 1 counter 5");
    p.check_str("FCALL incr_by 1 counter 5");
    p.check_str("FCALL_RO incr_by 1 counter 5");
    p.check_str("FCALL nosuch 0");
    p.check_str("FCALL f1 x");
    p.check_str("FCALL f1 5 a");
    p.check_str("FCALL f1 -1");
    p.check_str("FUNCTION STATS");
    // FUNCTION LIST orders functions as Redis's dict does: compare it on a
    // one-function library.
    p.check_str("FUNCTION FLUSH");
    let one = "#!lua name=one\nredis.register_function{function_name='only', callback=function() return 1 end, flags={'no-writes'}, description='the only one'}";
    p.check(&[b"FUNCTION", b"LOAD", one.as_bytes()]);
    p.check_str("FUNCTION LIST");
    p.check_str("FUNCTION LIST WITHCODE");
    p.check_str("FUNCTION LIST LIBRARYNAME o*");
    p.check_str("FUNCTION LIST LIBRARYNAME nomatch*");
    p.check_str("FUNCTION LIST WITHCODE LIBRARYNAME one");
    p.check_str("FUNCTION LIST BAD");
    p.check_str("FUNCTION LIST LIBRARYNAME");
    p.check_str("FCALL_RO only 0");
    p.check(&[b"FUNCTION", b"LOAD", lib1.as_bytes()]);
    for bad in [
        "return 1",
        "#!lua",
        "#!js name=x",
        "#!lua name=bad-name\nredis.register_function('f', function() end)",
        "#!lua name=lib2\nredis.register_function('f1', function() end)",
        "#!lua name=lib3\nreturn 1",
        "#!lua name=lib3\nx()",
        "#!lua name=lib3\nredis.register_function('bad name', function() end)",
        "#!lua name=lib3\nredis.register_function('ok')",
        "#!lua name=lib3\nredis.register_function(1, function() end)",
        "#!lua name=lib5\nredis.register_function('a', 1)",
        "#!lua name=lib5\nredis.register_function('a', function() end, 3)",
        "#!lua name=lib5\nredis.register_function{function_name='a'}",
        "#!lua name=lib5\nredis.register_function{callback=function() end}",
        "#!lua name=lib5\nredis.register_function{function_name='a', callback=function() end, flags='x'}",
        "#!lua name=lib5\nredis.register_function{function_name='a', callback=function() end, flags={'bad'}}",
        "#!lua name=lib5\nredis.register_function{function_name='a', callback=function() end, zzz=1}",
        "#!lua name=lib6\nredis.register_function('f9', function() end) redis.register_function('f9', function() end)",
    ] {
        p.check(&[b"FUNCTION", b"LOAD", bad.as_bytes()]);
    }
    let lib4 = "#!lua name=lib4\nredis.register_function('f4', function() error('oops') end)\n\
        redis.register_function('f5', function(keys) return redis.call('GET', keys[1]) end)";
    p.check(&[b"FUNCTION", b"LOAD", lib4.as_bytes()]);
    p.check_str("FCALL f4 0");
    p.check_str("FCALL f5 1 counter");
    p.check(&[b"FUNCTION", b"LOAD", b"REPLACE", lib4.as_bytes()]);
    p.check_str("FUNCTION DELETE lib4");
    p.check_str("FUNCTION DELETE lib4");
    p.check_str("FCALL f4 0");
    p.check_str("FUNCTION FLUSH BAD");
    p.check_str("FUNCTION RESTORE x BAD");
    p.check_str("FUNCTION RESTORE garbage");
    p.check_str("FUNCTION HELP");
    p.check_str("FUNCTION FLUSH");
    p.check_str("FUNCTION LIST");
    p.check_str("FCALL f1 1 k");

    // DUMP → FLUSH → RESTORE round trip (ferrocache's payload in ferrocache).
    let fc = &mut p.fc;
    fc.call(&[b"FUNCTION", b"LOAD", lib1.as_bytes()]);
    let dump = fc.call(&[b"FUNCTION", b"DUMP"]);
    let payload = bulk_payload(&dump);
    assert_eq!(fc.call(&[b"FUNCTION", b"FLUSH"]), b"+OK\r\n");
    assert_eq!(fc.call(&[b"FUNCTION", b"RESTORE", &payload]), b"+OK\r\n");
    assert_eq!(
        fc.call(&[b"FCALL", b"f1", b"1", b"x", b"y"]),
        b"$2\r\nxy\r\n"
    );
    let r = fc.call(&[b"FUNCTION", b"RESTORE", &payload]);
    assert!(
        r.starts_with(b"-ERR Library"),
        "{}",
        String::from_utf8_lossy(&r)
    );
    assert_eq!(
        fc.call(&[b"FUNCTION", b"RESTORE", &payload, b"REPLACE"]),
        b"+OK\r\n"
    );
    assert_eq!(
        fc.call(&[b"FUNCTION", b"RESTORE", &payload, b"FLUSH"]),
        b"+OK\r\n"
    );
    let mut bad = payload.clone();
    if let Some(b) = bad.last_mut() {
        *b ^= 0xff;
    }
    assert_eq!(
        fc.call(&[b"FUNCTION", b"RESTORE", &bad]),
        b"-ERR DUMP payload version or checksum are wrong\r\n"
    );
    // ferrocache's payload restores into redis-server too (same format).
    let rd = &mut p.redis;
    rd.call(&[b"FUNCTION", b"FLUSH"]);
    assert_eq!(rd.call(&[b"FUNCTION", b"RESTORE", &payload]), b"+OK\r\n");
    assert_eq!(
        rd.call(&[b"FCALL", b"f1", b"1", b"x", b"y"]),
        b"$2\r\nxy\r\n"
    );
}

fn bulk_payload(reply: &[u8]) -> Vec<u8> {
    let nl = reply
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("bulk header");
    reply[nl + 2..reply.len() - 2].to_vec()
}

/// Run one busy-script scenario on a node and return the replies seen.
/// `a` runs the script; `b` is refused while it runs; `c` kills it. With
/// `--threads 1` all three share the script's worker; with two workers
/// (round-robin) `b` or `c` is served by the other one.
fn busy_scenario(
    node: &common::Node,
    script: &[&[u8]],
    wrong_kill: &[&[u8]],
    right_kill: &[&[u8]],
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut setup = RespReader::new(node.raw());
    setup.call(&[b"CONFIG", b"SET", b"busy-reply-threshold", b"100"]);
    let mut a = RespReader::new(node.raw());
    let mut b = RespReader::new(node.raw());
    let mut c = RespReader::new(node.raw());
    for r in [&mut a, &mut b, &mut c] {
        let _ = r.stream.set_read_timeout(Some(Duration::from_secs(10)));
    }
    a.send(script);
    std::thread::sleep(Duration::from_millis(400));
    out.push(b.call(&[b"PING"]));
    out.push(b.call(&[b"GET", b"k"]));
    out.push(b.call(&[b"SHUTDOWN"]));
    // FUNCTION STATS: the running function's name and command line (or
    // BUSY for an EVAL script); the run time masked.
    out.push(mask_ints(&b.call(&[b"FUNCTION", b"STATS"])));
    out.push(c.call(wrong_kill));
    out.push(c.call(right_kill));
    out.push(a.read_reply().expect("script reply"));
    out.push(c.call(&[b"SCRIPT", b"KILL"]));
    out.push(b.call(&[b"PING"]));
    out.push(b.call(&[b"INCR", b"after"]));
    out.push(a.call(&[b"INCR", b"after"]));
    out
}

/// `:<integer>` replies replaced by `:N` (durations differ between runs).
fn mask_ints(reply: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(reply);
    text.split("\r\n")
        .map(|l| if l.starts_with(':') { ":N" } else { l })
        .collect::<Vec<_>>()
        .join("\r\n")
        .into_bytes()
}

fn show(v: &[Vec<u8>]) -> Vec<String> {
    v.iter()
        .map(|x| String::from_utf8_lossy(x).into_owned())
        .collect()
}

fn busy_kill_matches_redis(threads: &str) {
    let Some(p) = Pair::start(&["--threads", threads]) else {
        return;
    };
    let eval_loop: &[&[u8]] = &[b"EVAL", b"local i = 0 while true do i = i + 1 end", b"0"];
    let sk: &[&[u8]] = &[b"SCRIPT", b"KILL"];
    let fk: &[&[u8]] = &[b"FUNCTION", b"KILL"];
    let f = busy_scenario(&p.fc_node, eval_loop, fk, sk);
    let r = busy_scenario(&p.redis_node, eval_loop, fk, sk);
    assert_eq!(show(&f), show(&r));
    assert!(f[0].starts_with(b"-BUSY"), "{:?}", show(&f));
    assert_eq!(f[5], b"+OK\r\n", "{:?}", show(&f));

    // FUNCTION KILL of a looping function.
    let lib = b"#!lua name=spin\nredis.register_function('spin', function() while true do end end)";
    for n in [&p.fc_node, &p.redis_node] {
        let mut c = RespReader::new(n.raw());
        assert_eq!(c.call(&[b"FUNCTION", b"LOAD", lib]), b"$4\r\nspin\r\n");
    }
    let fcall: &[&[u8]] = &[b"FCALL", b"spin", b"0"];
    let f = busy_scenario(&p.fc_node, fcall, sk, fk);
    let r = busy_scenario(&p.redis_node, fcall, sk, fk);
    assert_eq!(show(&f), show(&r));
    assert!(f[0].starts_with(b"-BUSY"), "{:?}", show(&f));
}

#[test]
fn busy_script_kill_matches_redis() {
    busy_kill_matches_redis("2");
}

#[test]
fn busy_script_kill_one_thread_matches_redis() {
    // The script runs on the only worker: the worker must keep serving.
    busy_kill_matches_redis("1");
}

/// A command sent before the script passes busy-reply-threshold is
/// answered BUSY once it does (Redis reads it only then); meanwhile it must
/// not block its worker on the script's shard locks. Returns the replies
/// and how long the early command waited.
fn early_command(node: &common::Node) -> (Vec<Vec<u8>>, Duration) {
    let mut setup = RespReader::new(node.raw());
    setup.call(&[b"FLUSHALL"]);
    setup.call(&[b"CONFIG", b"SET", b"busy-reply-threshold", b"600"]);
    let mut a = RespReader::new(node.raw());
    let mut b = RespReader::new(node.raw());
    let mut c = RespReader::new(node.raw());
    a.send(&[b"EVAL", b"while true do end", b"0"]);
    std::thread::sleep(Duration::from_millis(150));
    let t = Instant::now();
    let mut out = vec![b.call(&[b"SET", b"k", b"v"])];
    let waited = t.elapsed();
    out.push(c.call(&[b"SCRIPT", b"KILL"]));
    out.push(a.read_reply().expect("script reply"));
    out.push(b.call(&[b"GET", b"k"]));
    (out, waited)
}

/// `early_command` until the script was running when the command arrived
/// (a loaded machine may start it late), at most 3 times.
fn early_command_busy(node: &common::Node) -> (Vec<Vec<u8>>, Duration) {
    let mut last = early_command(node);
    for _ in 0..2 {
        if last.0[0].starts_with(b"-BUSY") {
            break;
        }
        last = early_command(node);
    }
    last
}

#[test]
fn command_before_threshold_gets_busy_after_it() {
    for threads in ["1", "2"] {
        let Some(p) = Pair::start(&["--threads", threads]) else {
            return;
        };
        let (f, waited) = early_command_busy(&p.fc_node);
        let (r, _) = early_command_busy(&p.redis_node);
        assert_eq!(show(&f), show(&r), "--threads {threads}");
        assert!(f[0].starts_with(b"-BUSY"), "{:?}", show(&f));
        // Answered only once the script is past the threshold.
        assert!(waited >= Duration::from_millis(300), "{waited:?}");
    }
}

fn unkillable_then_shutdown_nosave(threads: &str) {
    let Some(mut p) = Pair::start(&["--threads", threads]) else {
        return;
    };
    let script: &[&[u8]] = &[
        b"EVAL",
        b"redis.call('SET', 'k', 'v') while true do end",
        b"0",
    ];
    let mut replies = Vec::new();
    for node in [&p.fc_node, &p.redis_node] {
        let mut setup = RespReader::new(node.raw());
        setup.call(&[b"CONFIG", b"SET", b"busy-reply-threshold", b"100"]);
        let mut a = RespReader::new(node.raw());
        let mut b = RespReader::new(node.raw());
        let mut c = RespReader::new(node.raw());
        for r in [&mut a, &mut b, &mut c] {
            let _ = r.stream.set_read_timeout(Some(Duration::from_secs(10)));
        }
        a.send(script);
        std::thread::sleep(Duration::from_millis(400));
        let r = vec![
            b.call(&[b"PING"]),
            c.call(&[b"SCRIPT", b"KILL"]),
            b.call(&[b"SHUTDOWN"]),
        ];
        c.send(&[b"SHUTDOWN", b"NOSAVE"]);
        // The script's client and the one that asked get no reply: the
        // connection closes.
        assert_eq!(a.read_reply(), None);
        assert_eq!(c.read_reply(), None);
        replies.push(r);
    }
    assert_eq!(show(&replies[0]), show(&replies[1]));
    assert!(replies[0][1].starts_with(b"-UNKILLABLE"));
    // Both processes go away.
    let deadline = Instant::now() + Duration::from_secs(15);
    while (p.fc_node.alive() || p.redis_node.alive()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !p.fc_node.alive(),
        "ferrocache still running after SHUTDOWN NOSAVE"
    );
}

#[test]
fn unkillable_script_then_shutdown_nosave() {
    unkillable_then_shutdown_nosave("2");
}

#[test]
fn unkillable_script_then_shutdown_nosave_one_thread() {
    unkillable_then_shutdown_nosave("1");
}

#[test]
fn scripts_are_atomic_across_shards() {
    // A script moving value between keys in different shards is never seen
    // half-done by a concurrent reader.
    let node = common::start_ferrocache(&["--threads", "4"]);
    let mut w = RespReader::new(node.raw());
    w.call(&[b"MSET", b"acct:a", b"1000", b"acct:b", b"0"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let addr = node.addr();
    let reader = std::thread::spawn(move || {
        let mut r = RespReader::new(std::net::TcpStream::connect(addr).expect("connect"));
        let mut checks = 0;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            let rep = r.call(&[b"MGET", b"acct:a", b"acct:b"]);
            let text = String::from_utf8_lossy(&rep).into_owned();
            let nums: Vec<i64> = text
                .lines()
                .filter(|l| !l.starts_with('*') && !l.starts_with('$'))
                .filter_map(|l| l.parse().ok())
                .collect();
            assert_eq!(nums.iter().sum::<i64>(), 1000, "{text}");
            checks += 1;
        }
        checks
    });
    let body = b"redis.call('DECRBY', KEYS[1], 1) for i = 1, 2000 do end redis.call('INCRBY', KEYS[2], 1) return 1";
    for _ in 0..300 {
        assert_eq!(
            w.call(&[b"EVAL", body, b"2", b"acct:a", b"acct:b"]),
            b":1\r\n"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let checks = reader.join().expect("reader");
    assert!(checks > 0);
}

/// A loop inside a Lua coroutine is paused (BUSY for others) and killed
/// like any other: Lua 5.1 copies the main state's hook into coroutines,
/// as Redis relies on. With `coroutine.resume` the kill error is returned
/// to the script (as a table, as in Redis), which then finishes normally.
/// A script catching the kill error with pcall in a loop still ends.
#[test]
fn coroutine_loop_is_killable_matches_redis() {
    let Some(p) = Pair::start(&["--threads", "2"]) else {
        return;
    };
    let sk: &[&[u8]] = &[b"SCRIPT", b"KILL"];
    let fk: &[&[u8]] = &[b"FUNCTION", b"KILL"];
    for body in [
        &b"coroutine.wrap(function() while true do end end)()"[..],
        b"local co = coroutine.create(function() while true do end end) \
          local ok, e = coroutine.resume(co) \
          local x = 0 for i = 1, 1000 do x = x + 1 end \
          return {tostring(ok), type(e), e.err, x}",
        b"while true do pcall(function() while true do end end) end",
    ] {
        let script: &[&[u8]] = &[b"EVAL", body, b"0"];
        let f = busy_scenario(&p.fc_node, script, fk, sk);
        let r = busy_scenario(&p.redis_node, script, fk, sk);
        assert_eq!(show(&f), show(&r));
        assert!(f[0].starts_with(b"-BUSY"), "{:?}", show(&f));
        assert_eq!(f[5], b"+OK\r\n", "{:?}", show(&f));
    }
}

/// FUNCTION LOAD of a library whose top-level code never ends fails after
/// 500 ms with Redis's error, and the node goes on (functions still run).
#[test]
fn function_load_timeout_matches_redis() {
    let Some(mut p) = Pair::start(&["--threads", "1"]) else {
        return;
    };
    let spin = b"#!lua name=spin\nwhile true do end";
    // Without the time limit the load never ends: fail, do not hang.
    let _ = p.fc.stream.set_read_timeout(Some(Duration::from_secs(10)));
    let t = Instant::now();
    let f = p.fc.call(&[b"FUNCTION", b"LOAD", spin]);
    let took = t.elapsed();
    let r = p.redis.call(&[b"FUNCTION", b"LOAD", spin]);
    assert_eq!(String::from_utf8_lossy(&f), String::from_utf8_lossy(&r));
    assert_eq!(
        f,
        b"-ERR Error registering functions: ERR FUNCTION LOAD timeout\r\n"
    );
    assert!(took >= Duration::from_millis(490), "{took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    p.check_str("FUNCTION LIST");
    // Slow but finished top-level code is fine, and the hook is back to
    // counting (a loaded function runs at full speed and returns).
    let ok = b"#!lua name=ok\nlocal n = 0 for i = 1, 300000 do n = n + 1 end\n\
        redis.register_function('cnt', function() local m = 0 for i = 1, 300000 do m = m + 1 end return n + m end)";
    p.check(&[b"FUNCTION", b"LOAD", ok]);
    p.check_str("FCALL cnt 0");
    p.check_str("PING");
}

/// FCALL finds functions through a name index: several libraries, then
/// DELETE, REPLACE, FLUSH and RESTORE (FLUSH/APPEND/REPLACE) keep it right.
#[test]
fn fcall_with_several_libraries_matches_redis() {
    let Some(mut p) = Pair::start(&["--threads", "2"]) else {
        return;
    };
    let lib = |lib: &str, fns: &[&str], tag: &str| {
        let mut s = format!("#!lua name={lib}\n");
        for f in fns {
            s.push_str(&format!(
                "redis.register_function('{f}', function(keys, args) return '{lib}.{f}.{tag}' end)\n"
            ));
        }
        s
    };
    let libs = [
        lib("la", &["a1", "a2"], "v1"),
        lib("lb", &["b1", "b2", "b3"], "v1"),
        lib("lc", &["c1"], "v1"),
    ];
    for l in &libs {
        p.check(&[b"FUNCTION", b"LOAD", l.as_bytes()]);
    }
    let all = ["a1", "a2", "b1", "b2", "b3", "c1", "zz"];
    let fcall_all = |p: &mut Pair| {
        for f in all {
            p.check(&[b"FCALL", f.as_bytes(), b"0"]);
        }
    };
    fcall_all(&mut p);
    // A clash with another library's function fails; REPLACE drops b3.
    p.check(&[
        b"FUNCTION",
        b"LOAD",
        lib("ld", &["d1", "a1"], "v1").as_bytes(),
    ]);
    p.check_str("FCALL d1 0");
    p.check(&[
        b"FUNCTION",
        b"LOAD",
        b"REPLACE",
        lib("lb", &["b1", "b4"], "v2").as_bytes(),
    ]);
    p.check_str("FCALL b3 0");
    p.check_str("FCALL b4 0");
    p.check_str("FCALL b1 0");
    p.check_str("FUNCTION DELETE la");
    p.check_str("FCALL a1 0");
    p.check(&[b"FUNCTION", b"LOAD", lib("le", &["a1"], "v3").as_bytes()]);
    fcall_all(&mut p);
    let (dump, _) = p.both(&[b"FUNCTION", b"DUMP"]);
    let dump = bulk_payload(&dump);
    p.check_str("FUNCTION FLUSH");
    fcall_all(&mut p);
    p.check(&[b"FUNCTION", b"RESTORE", &dump]);
    fcall_all(&mut p);
    // Only one library collides (Redis reports the first in its dict's
    // randomised order).
    p.check_str("FUNCTION DELETE lb");
    p.check_str("FUNCTION DELETE le");
    p.check(&[b"FUNCTION", b"RESTORE", &dump, b"APPEND"]);
    fcall_all(&mut p);
    p.check(&[
        b"FUNCTION",
        b"LOAD",
        b"REPLACE",
        lib("lc", &["c9"], "v4").as_bytes(),
    ]);
    p.check(&[b"FUNCTION", b"RESTORE", &dump, b"REPLACE"]);
    p.check_str("FCALL c9 0");
    fcall_all(&mut p);
    p.check_str("FUNCTION DELETE lb");
    p.check(&[b"FUNCTION", b"RESTORE", &dump, b"FLUSH"]);
    fcall_all(&mut p);
}

/// WATCH, UNWATCH, MULTI, DISCARD are answered while a script is past
/// busy-reply-threshold (ALLOW_BUSY); commands queued then get BUSY and
/// doom the transaction, EXEC answers EXECABORT. The WATCHes taken during
/// the script hold afterwards: a key the script writes later fails the
/// EXEC, untouched keys do not, and a key that existed at WATCH time and
/// expired before EXEC fails it too.
fn watch_during_busy(node: &common::Node) -> Vec<Vec<u8>> {
    let mut setup = RespReader::new(node.raw());
    setup.call(&[b"FLUSHALL"]);
    setup.call(&[b"CONFIG", b"SET", b"busy-reply-threshold", b"100"]);
    setup.call(&[b"SET", b"k1", b"v"]);
    setup.call(&[b"SET", b"k2", b"v"]);
    setup.call(&[b"SET", b"kx", b"v", b"PX", b"1500"]);
    let t0 = Instant::now();
    let mut a = RespReader::new(node.raw());
    let mut clients: Vec<RespReader> = (0..4).map(|_| RespReader::new(node.raw())).collect();
    for r in std::iter::once(&mut a).chain(clients.iter_mut()) {
        let _ = r.stream.set_read_timeout(Some(Duration::from_secs(10)));
    }
    // Loops 700 ms (wall clock), then writes k1.
    a.send(&[
        b"EVAL",
        b"local s = redis.call('TIME') \
          while true do local n = redis.call('TIME') \
            if (n[1] - s[1]) * 1000000 + (n[2] - s[2]) > 700000 then break end end \
          redis.call('SET', 'k1', 'x') return 1",
        b"0",
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let [b, c, d, e] = &mut clients[..] else {
        unreachable!()
    };
    let mut out = vec![
        b.call(&[b"PING"]),
        b.call(&[b"WATCH", b"k1"]),
        b.call(&[b"UNWATCH"]),
        b.call(&[b"MULTI"]),
        b.call(&[b"WATCH", b"k1"]),
        b.call(&[b"SET", b"k1", b"y"]),
        b.call(&[b"DISCARD"]),
        b.call(&[b"DISCARD"]),
        b.call(&[b"WATCH"]),
        b.call(&[b"MULTI"]),
        b.call(&[b"EXEC"]),
        b.call(&[b"EXEC"]),
        c.call(&[b"WATCH", b"k2", b"k3"]),
        d.call(&[b"WATCH", b"k1"]),
        e.call(&[b"WATCH", b"kx"]),
    ];
    out.push(a.read_reply().expect("script reply"));
    out.push(c.call(&[b"MULTI"]));
    out.push(c.call(&[b"SET", b"k3", b"z"]));
    out.push(c.call(&[b"EXEC"]));
    out.push(d.call(&[b"MULTI"]));
    out.push(d.call(&[b"GET", b"k1"]));
    out.push(d.call(&[b"EXEC"]));
    // kx expires 1500 ms after it was set.
    let wait = Duration::from_millis(2000).saturating_sub(t0.elapsed());
    std::thread::sleep(wait);
    out.push(e.call(&[b"MULTI"]));
    out.push(e.call(&[b"PING"]));
    out.push(e.call(&[b"EXEC"]));
    out.push(b.call(&[b"GET", b"k3"]));
    out
}

#[test]
fn watch_during_busy_script_matches_redis() {
    let Some(p) = Pair::start(&["--threads", "1"]) else {
        return;
    };
    let f = watch_during_busy(&p.fc_node);
    let r = watch_during_busy(&p.redis_node);
    assert_eq!(show(&f), show(&r));
    assert_eq!(f[1], b"+OK\r\n", "{:?}", show(&f));
    assert_eq!(f[21], b"*-1\r\n", "{:?}", show(&f));
    assert_eq!(f[24], b"*-1\r\n", "{:?}", show(&f));
}
