//! MULTI/EXEC/DISCARD/WATCH/UNWATCH: differential against redis-server, plus
//! an atomicity check across shards.

mod common;

use common::{Pair, RespReader};

fn cmd(s: &str) -> Vec<&[u8]> {
    s.split_whitespace().map(|p| p.as_bytes()).collect()
}

#[test]
fn queueing_errors_and_exec_replies_match_redis() {
    let Some(mut p) = Pair::start(&["--threads", "4"]) else {
        return;
    };
    for c in [
        "EXEC",
        "DISCARD",
        "MULTI",
        "MULTI",
        "WATCH x",
        "SET a 1",
        "INCR a",
        "LPUSH a x",
        "GET a",
        "MSET k1 v1 k2 v2 k3 v3",
        "MGET k1 k2 k3 a",
        "EXEC",
        "MULTI",
        "SET a",
        "NOSUCHCMD 1 2",
        "GET a",
        "EXEC",
        "MULTI",
        "SET b 2",
        "DISCARD",
        "GET b",
        "MULTI",
        "EXEC",
        "MULTI",
        "SELECT 3",
        "SET inthree 1",
        "EXEC",
        "GET inthree",
        "SELECT 0",
        "GET inthree",
        "HELLO 3",
        "MULTI",
        "SET x 1",
        "ZADD z 1 a 2 b",
        "ZRANGE z 0 -1 WITHSCORES",
        "EXEC",
        "UNWATCH",
    ] {
        if c.starts_with("HELLO") {
            // The id field differs; compare the rest of the session only.
            let _ = p.both(&cmd(c));
            continue;
        }
        p.check(&cmd(c));
    }
}

/// Runs the same two-client scenario on both servers.
fn two_clients(p: &mut Pair, script: &[(u8, &str)]) {
    let mut fc2 = RespReader::new(p.fc_node.raw());
    let mut rd2 = RespReader::new(p.redis_node.raw());
    for (who, c) in script {
        let args = cmd(c);
        if *who == 1 {
            p.check(&args);
        } else {
            let a = fc2.call(&args);
            let b = rd2.call(&args);
            assert_eq!(
                String::from_utf8_lossy(&a),
                String::from_utf8_lossy(&b),
                "client 2: {c}"
            );
        }
    }
}

#[test]
fn watch_sees_other_clients_writes_expiry_and_flush() {
    let Some(mut p) = Pair::start(&["--threads", "4"]) else {
        return;
    };
    two_clients(
        &mut p,
        &[
            // Untouched watch: EXEC runs.
            (1, "SET w 1"),
            (1, "WATCH w"),
            (1, "MULTI"),
            (1, "INCR w"),
            (1, "EXEC"),
            // Another client writes the key: EXEC returns null.
            (1, "WATCH w"),
            (2, "SET w 10"),
            (1, "MULTI"),
            (1, "INCR w"),
            (1, "EXEC"),
            (1, "GET w"),
            // A write that changes nothing (SETNX on an existing key) does
            // not abort.
            (1, "WATCH w"),
            (2, "SETNX w 5"),
            (1, "MULTI"),
            (1, "GET w"),
            (1, "EXEC"),
            // Writes to other keys don't matter; UNWATCH forgets.
            (1, "WATCH w other"),
            (2, "SET unrelated 1"),
            (1, "UNWATCH"),
            (2, "SET w 11"),
            (1, "MULTI"),
            (1, "GET w"),
            (1, "EXEC"),
            // Deleting and FLUSHALL abort.
            (1, "WATCH w"),
            (2, "DEL w"),
            (1, "MULTI"),
            (1, "SET w 1"),
            (1, "EXEC"),
            (1, "SET w 1"),
            (1, "WATCH w"),
            (2, "FLUSHALL"),
            (1, "MULTI"),
            (1, "PING"),
            (1, "EXEC"),
            // Watching a missing key that another client creates.
            (1, "WATCH nothere"),
            (2, "LPUSH nothere a"),
            (1, "MULTI"),
            (1, "PING"),
            (1, "EXEC"),
            // DISCARD also unwatches.
            (1, "WATCH w"),
            (1, "MULTI"),
            (1, "DISCARD"),
            (2, "SET w 3"),
            (1, "MULTI"),
            (1, "GET w"),
            (1, "EXEC"),
        ],
    );
    // A watched key that expires before EXEC aborts the transaction.
    p.check(&cmd("SET e 1 PX 50"));
    p.check(&cmd("WATCH e"));
    std::thread::sleep(std::time::Duration::from_millis(120));
    p.check(&cmd("MULTI"));
    p.check(&cmd("PING"));
    p.check(&cmd("EXEC"));
}

/// EXEC across shards is atomic: a transfer between two counters in
/// different shards is never observed half-done by a concurrent reader.
#[test]
fn exec_is_atomic_across_shards() {
    let node = common::start_ferrocache(&["--threads", "4"]);
    // {a} and {b} map to different slots and, with 4 shards, to different
    // shards (slot 15495 vs 3300).
    let mut c = RespReader::new(node.raw());
    c.call(&cmd("SET {a}bal 1000"));
    c.call(&cmd("SET {b}bal 1000"));
    let addr = node.raw();
    let reader = std::thread::spawn(move || {
        let mut r = RespReader::new(addr);
        for _ in 0..3000 {
            let reply = r.call(&cmd("MGET {a}bal {b}bal"));
            let text = String::from_utf8_lossy(&reply).to_string();
            let nums: Vec<i64> = text
                .split("\r\n")
                .filter_map(|l| l.parse::<i64>().ok())
                .collect();
            assert_eq!(nums.len(), 2, "{text}");
            assert_eq!(nums[0] + nums[1], 2000, "torn read: {text}");
        }
    });
    for i in 0..3000 {
        c.call(&cmd("MULTI"));
        if i % 2 == 0 {
            c.call(&cmd("DECRBY {a}bal 7"));
            c.call(&cmd("INCRBY {b}bal 7"));
        } else {
            c.call(&cmd("INCRBY {a}bal 7"));
            c.call(&cmd("DECRBY {b}bal 7"));
        }
        let r = c.call(&cmd("EXEC"));
        assert!(r.starts_with(b"*2\r\n"), "{}", String::from_utf8_lossy(&r));
    }
    reader.join().expect("reader");
}
