//! Blocking commands, CLIENT UNBLOCK and CLIENT PAUSE: multi-client
//! scenarios replayed step by step against ferrocache and redis-server,
//! every reply compared byte for byte, plus a delivery stress test.

mod common;

use common::{Pair, RespReader};
use std::time::Duration;

fn parts(s: &str) -> Vec<&[u8]> {
    s.split_whitespace().map(|p| p.as_bytes()).collect()
}

/// Time for a server to process a command we did not wait for (so that
/// the next step really happens after it, as in a scripted interleaving).
const SETTLE: Duration = Duration::from_millis(60);

/// N clients on each server; client `i` plays the same role on both.
struct Clients {
    fc: Vec<RespReader>,
    rd: Vec<RespReader>,
    /// Each client's CLIENT ID on (ferrocache, redis).
    ids: Vec<(String, String)>,
}

fn client_id(r: &mut RespReader) -> String {
    let v = r.call(&parts("CLIENT ID"));
    String::from_utf8_lossy(&v[1..v.len() - 2]).into_owned()
}

impl Clients {
    fn new(p: &Pair, n: usize) -> Clients {
        let mut fc: Vec<RespReader> = (0..n).map(|_| RespReader::new(p.fc_node.raw())).collect();
        let mut rd: Vec<RespReader> = (0..n)
            .map(|_| RespReader::new(p.redis_node.raw()))
            .collect();
        let ids = fc
            .iter_mut()
            .zip(rd.iter_mut())
            .map(|(a, b)| (client_id(a), client_id(b)))
            .collect();
        Clients { fc, rd, ids }
    }

    /// Send without waiting for a reply (the command may block).
    fn send(&mut self, i: usize, cmd: &str) {
        self.fc[i].send(&parts(cmd));
        self.rd[i].send(&parts(cmd));
        std::thread::sleep(SETTLE);
    }

    /// Read one reply from client `i` on both servers and compare.
    fn read(&mut self, i: usize, what: &str) -> Vec<u8> {
        let a = self.fc[i].read_reply().expect("ferrocache closed");
        let b = self.rd[i].read_reply().expect("redis closed");
        assert_eq!(
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b),
            "client {i}: reply to {what}"
        );
        a
    }

    /// Send and compare the reply.
    fn call(&mut self, i: usize, cmd: &str) -> Vec<u8> {
        self.fc[i].send(&parts(cmd));
        self.rd[i].send(&parts(cmd));
        self.read(i, cmd)
    }

    /// Both servers: nothing arrived for client `i` (still blocked).
    fn silent(&mut self, i: usize, what: &str) {
        for (side, r) in [("ferrocache", &mut self.fc[i]), ("redis", &mut self.rd[i])] {
            r.stream
                .set_read_timeout(Some(Duration::from_millis(80)))
                .ok();
            let mut b = [0u8; 1];
            let got = r.stream.peek(&mut b);
            r.stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .ok();
            assert!(
                !matches!(got, Ok(n) if n > 0),
                "{side}: client {i} got a reply but should still block ({what})"
            );
        }
    }

    /// Run `cmd` with each server's own id of client `target` in place of
    /// `{id}` (ids differ between the servers), comparing the replies.
    fn call_with_id(&mut self, i: usize, target: usize, cmd: &str) -> Vec<u8> {
        let (fid, rid) = &self.ids[target];
        let fcmd = cmd.replace("{id}", fid);
        let rcmd = cmd.replace("{id}", rid);
        self.fc[i].send(&parts(&fcmd));
        self.rd[i].send(&parts(&rcmd));
        self.read(i, cmd)
    }
}

fn start() -> Option<(Pair, Clients)> {
    let p = Pair::start(&["--threads", "4"])?;
    let c = Clients::new(&p, 5);
    Some((p, c))
}

#[test]
fn argument_errors_and_immediate_replies_match_redis() {
    let Some(mut p) = Pair::start(&["--threads", "2"]) else {
        return;
    };
    for c in [
        "BLPOP",
        "BLPOP k",
        "BLPOP k abc",
        "BLPOP k -1",
        "BLPOP k 1e300",
        "BLPOP k inf",
        "BLPOP k nan",
        "BRPOP k -0.5",
        "BLMOVE a b LEFT",
        "BLMOVE a b UP LEFT 0",
        "BLMOVE a b LEFT RIGHT x",
        "BRPOPLPUSH a b -1",
        "BLMPOP 0 0 k LEFT",
        "BLMPOP 0 1 k UP",
        "BLMPOP -1 1 k LEFT",
        "BLMPOP x 1 k LEFT",
        "BLMPOP 0 1 k LEFT COUNT 0",
        "BLMPOP 0 1 k LEFT COUNT 1 COUNT 2",
        "BLMPOP 0 5 k LEFT",
        "BZPOPMIN k x",
        "BZPOPMAX k -1",
        "BZMPOP 0 1 k MIDDLE",
        "BZMPOP -1 1 k MIN",
        "BZMPOP 0 1 k MIN COUNT -3",
        "XREAD BLOCK x STREAMS s 0",
        "XREAD BLOCK -1 STREAMS s 0",
        "XREAD BLOCK 1.5 STREAMS s 0",
        "SET str x",
        "BLPOP str 0",
        "BLPOP nokey str 0",
        "BZPOPMIN str 0",
        "BLMOVE str b LEFT LEFT 0",
        "BLMPOP 0 2 nokey str LEFT",
        "BZMPOP 0 1 str MAX",
        "RPUSH l1 a b c d e",
        "BLPOP nokey l1 0",
        "BRPOP l1 0",
        "BLPOP l1 l1 1",
        "BLMPOP 0 2 nokey l1 RIGHT COUNT 10",
        "EXISTS l1",
        "RPUSH l2 x y",
        "BLMOVE l2 l3 LEFT RIGHT 0",
        "BRPOPLPUSH l2 l3 0",
        "LRANGE l3 0 -1",
        "BLMOVE l3 str LEFT LEFT 0",
        "ZADD z 1 a 2 b 3 c",
        "BZPOPMIN nokey z 0",
        "BZPOPMAX z 0",
        "BZMPOP 0 1 z MIN COUNT 5",
        "XADD s 1-1 f v",
        "XREAD BLOCK 0 STREAMS s 0",
        "XREAD COUNT 1 BLOCK 10 STREAMS s 0-0",
        "CLIENT UNBLOCK 999999",
        "CLIENT UNBLOCK abc",
        "CLIENT UNBLOCK 1 maybe",
        "CLIENT UNBLOCK 1 TIMEOUT extra",
        "CLIENT PAUSE",
        "CLIENT PAUSE abc",
        "CLIENT PAUSE -1",
        "CLIENT PAUSE 10 SOMETIMES",
        "CLIENT PAUSE 10 WRITE extra",
        "CLIENT PAUSE 0",
        "CLIENT UNPAUSE",
        "CLIENT UNPAUSE now",
        "COMMAND INFO blpop brpop blmove brpoplpush blmpop bzpopmin bzpopmax bzmpop",
        "COMMAND GETKEYS BLMPOP 0 2 a b LEFT",
        "COMMAND GETKEYS BZMPOP 0 3 a b c MIN",
    ] {
        p.check_str(c);
    }
}

#[test]
fn inside_multi_nothing_blocks() {
    let Some(mut p) = Pair::start(&["--threads", "2"]) else {
        return;
    };
    for c in [
        "MULTI",
        "BLPOP k 0",
        "BRPOP k 0",
        "BLMOVE k d LEFT LEFT 0",
        "BRPOPLPUSH k d 0",
        "BLMPOP 0 1 k LEFT",
        "BZPOPMIN z 0",
        "BZMPOP 0 1 z MAX",
        "XREAD BLOCK 0 STREAMS s $",
        "RPUSH k a",
        "BLPOP k 0",
        "EXEC",
        "HELLO 3",
        "MULTI",
        "BLPOP k 0",
        "BLMOVE k d LEFT LEFT 0",
        "BZPOPMIN z 0",
        "XREAD BLOCK 0 STREAMS s 0",
        "EXEC",
    ] {
        if c.starts_with("HELLO") {
            let _ = p.both(&parts(c));
            continue;
        }
        p.check_str(c);
    }
}

#[test]
fn timeouts_reply_null_in_both_protocols() {
    let Some((_p, mut c)) = start() else {
        return;
    };
    for cmd in [
        "BLPOP k1 k2 0.1",
        "BRPOP k1 0.05",
        "BLMOVE a b LEFT RIGHT 0.1",
        "BRPOPLPUSH a b 0.1",
        "BLMPOP 0.1 2 a b LEFT COUNT 2",
        "BZPOPMIN z 0.1",
        "BZMPOP 0.1 1 z MIN",
        "XREAD BLOCK 100 STREAMS s $",
        "XREAD COUNT 5 BLOCK 100 STREAMS s1 s2 0 $",
    ] {
        c.send(0, cmd);
        std::thread::sleep(Duration::from_millis(150));
        c.read(0, cmd);
    }
    let _ = c.fc[1].call(&parts("HELLO 3"));
    let _ = c.rd[1].call(&parts("HELLO 3"));
    for cmd in [
        "BLPOP k1 0.05",
        "BZMPOP 0.05 1 z MAX",
        "XREAD BLOCK 50 STREAMS s $",
    ] {
        c.send(1, cmd);
        std::thread::sleep(Duration::from_millis(100));
        c.read(1, cmd);
    }
    c.call(2, "PING");
}

#[test]
fn fifo_order_and_scripted_interleaving() {
    let Some((_p, mut c)) = start() else {
        return;
    };
    for i in 0..3 {
        c.send(i, "BLPOP q 0");
    }
    c.call(3, "RPUSH q one");
    c.read(0, "first blocked");
    c.silent(1, "second still waits");
    c.call(3, "RPUSH q two three four");
    c.read(1, "second");
    c.read(2, "third");
    c.call(3, "LRANGE q 0 -1");
    // A: BLPOP; B: LPUSH; C: LPOP → A got it, C gets nil.
    c.call(3, "DEL q");
    c.send(0, "BRPOP q 0");
    c.call(1, "LPUSH q x");
    c.call(2, "LPOP q");
    c.read(0, "BRPOP served before C's LPOP");
    // Several keys: the key that became ready first is served from.
    c.send(0, "BLPOP k1 k2 0");
    for cmd in ["MULTI", "RPUSH k2 x", "RPUSH k1 y", "EXEC"] {
        c.call(1, cmd);
    }
    c.read(0, "served from k2 after EXEC");
    c.call(1, "LRANGE k1 0 -1");
    // A transaction that pushes and deletes leaves the client blocked.
    c.call(1, "DEL k1 k2");
    c.send(0, "BLPOP k1 0");
    for cmd in ["MULTI", "RPUSH k1 a", "DEL k1", "EXEC"] {
        c.call(1, cmd);
    }
    c.silent(0, "key deleted before serving");
    c.call(1, "RPUSH k1 b");
    c.read(0, "served later");
}

#[test]
fn blmove_chains_and_sorted_sets() {
    let Some((_p, mut c)) = start() else {
        return;
    };
    // BLMOVE a→b, then a BLPOP on b: one push to a serves both.
    c.send(0, "BLMOVE src{x} dst{y} LEFT RIGHT 0");
    c.send(1, "BLPOP dst{y} 0");
    c.call(2, "RPUSH src{x} v1");
    c.read(0, "BLMOVE served");
    c.read(1, "chained BLPOP served");
    c.call(2, "EXISTS src{x} dst{y}");
    c.send(0, "BRPOPLPUSH s2 d2 0");
    c.call(2, "RPUSH s2 a b");
    c.read(0, "BRPOPLPUSH served");
    c.call(2, "LRANGE d2 0 -1");
    c.call(2, "LRANGE s2 0 -1");
    // Destination of the wrong type: the waiter gets WRONGTYPE, the
    // element stays in the source.
    c.send(0, "BLMOVE s3 d3 LEFT LEFT 0");
    c.call(2, "SET d3 string");
    c.call(2, "RPUSH s3 e");
    c.read(0, "wrongtype destination");
    c.call(2, "LRANGE s3 0 -1");
    // BLMPOP with COUNT.
    c.send(0, "BLMPOP 0 2 m1 m2 RIGHT COUNT 3");
    c.call(2, "RPUSH m2 1 2 3 4 5");
    c.read(0, "BLMPOP COUNT 3");
    c.call(2, "LRANGE m2 0 -1");
    // Sorted sets.
    c.send(0, "BZPOPMIN z1 z2 0");
    c.send(1, "BZPOPMAX z2 0");
    c.call(2, "ZADD z2 1 a 2 b 3 c");
    c.read(0, "BZPOPMIN");
    c.read(1, "BZPOPMAX");
    c.call(2, "ZRANGE z2 0 -1 WITHSCORES");
    c.send(0, "BZMPOP 0 1 z3 MAX COUNT 2");
    c.call(2, "ZADD z3 1.5 x 2.5 y 3.5 z");
    c.read(0, "BZMPOP");
    c.send(0, "BZPOPMIN z4 0");
    c.call(2, "ZUNIONSTORE z4 1 z3");
    c.read(0, "woken by ZUNIONSTORE");
}

#[test]
fn keys_appearing_by_rename_move_and_types() {
    let Some((_p, mut c)) = start() else {
        return;
    };
    c.send(0, "BLPOP dest 0");
    c.call(1, "SET str x");
    c.call(1, "RENAME str dest");
    c.silent(0, "a string appeared");
    c.call(1, "DEL dest");
    c.call(1, "RPUSH tmp z");
    c.call(1, "RENAME tmp dest");
    c.read(0, "woken by RENAME");
    c.send(0, "BLPOP moved 0");
    c.call(1, "SELECT 1");
    c.call(1, "RPUSH moved m");
    c.call(1, "MOVE moved 0");
    c.read(0, "woken by MOVE");
    c.send(0, "BLPOP sw 0");
    c.call(1, "RPUSH sw s");
    c.call(1, "SWAPDB 0 1");
    c.read(0, "woken by SWAPDB");
    c.call(1, "SELECT 0");
    c.send(0, "BZPOPMIN zc 0");
    c.call(1, "ZADD zsrc 1 a");
    c.call(1, "COPY zsrc zc");
    c.read(0, "woken by COPY");
    c.send(0, "BLPOP srt 0");
    c.call(1, "RPUSH unsorted 3 1 2");
    c.call(1, "SORT unsorted STORE srt");
    c.read(0, "woken by SORT STORE");
}

#[test]
fn streams_block_and_wake() {
    let Some((_p, mut c)) = start() else {
        return;
    };
    c.call(2, "XADD s 1-1 a 1");
    c.send(0, "XREAD BLOCK 0 STREAMS s $");
    c.send(1, "XREAD COUNT 1 BLOCK 0 STREAMS other s 0 1-1");
    c.call(2, "XADD s 2-1 b 2");
    c.read(0, "XREAD $");
    c.read(1, "XREAD id");
    // XREADGROUP >.
    c.call(2, "XGROUP CREATE gs g $ MKSTREAM");
    c.send(0, "XREADGROUP GROUP g alice BLOCK 0 STREAMS gs >");
    c.send(
        1,
        "XREADGROUP GROUP g bob COUNT 1 NOACK BLOCK 0 STREAMS gs >",
    );
    c.call(2, "XADD gs 5-1 f v");
    c.read(0, "alice gets the entry");
    c.silent(1, "bob waits: alice consumed it");
    c.call(2, "XADD gs 6-1 f v");
    c.read(1, "bob");
    c.call(2, "XPENDING gs g");
    // Stream deleted / group destroyed while blocked.
    c.send(0, "XREADGROUP GROUP g alice BLOCK 0 STREAMS gs >");
    c.call(2, "DEL gs");
    c.read(0, "stream deleted");
    c.call(2, "XGROUP CREATE gs g $ MKSTREAM");
    c.send(0, "XREADGROUP GROUP g alice BLOCK 0 STREAMS gs >");
    c.call(2, "XGROUP DESTROY gs g");
    c.read(0, "group destroyed");
    // XREAD stays blocked across a deletion; served by a later XADD.
    c.send(0, "XREAD BLOCK 0 STREAMS s2 $");
    c.call(2, "XADD s2 1-1 a 1");
    c.read(0, "new stream");
    c.send(1, "XREAD BLOCK 0 STREAMS s2 $");
    c.call(2, "DEL s2");
    c.silent(1, "deleted stream");
    c.call(2, "XADD s2 3-1 a 1");
    c.read(1, "recreated stream");
    // RESP3 reply shape.
    let _ = c.fc[3].call(&parts("HELLO 3"));
    let _ = c.rd[3].call(&parts("HELLO 3"));
    c.send(3, "XREAD BLOCK 0 STREAMS s3 $");
    c.call(2, "XADD s3 9-9 k v");
    c.read(3, "RESP3 XREAD");
}

#[test]
fn resp3_served_replies() {
    let Some((_p, mut c)) = start() else {
        return;
    };
    let _ = c.fc[0].call(&parts("HELLO 3"));
    let _ = c.rd[0].call(&parts("HELLO 3"));
    c.send(0, "BZPOPMIN z 0");
    c.call(1, "ZADD z 2.5 m");
    c.read(0, "BZPOPMIN RESP3");
    c.send(0, "BZMPOP 0 1 z MIN COUNT 2");
    c.call(1, "ZADD z 1 a 2 b");
    c.read(0, "BZMPOP RESP3");
    c.send(0, "BLMPOP 0 1 l LEFT");
    c.call(1, "RPUSH l x");
    c.read(0, "BLMPOP RESP3");
    c.send(0, "BLPOP l 0");
    c.call(1, "RPUSH l y");
    c.read(0, "BLPOP RESP3");
}

#[test]
fn client_unblock_and_introspection() {
    let Some((_p, mut c)) = start() else {
        return;
    };
    c.send(0, "BLPOP u 0");
    let field = |info: &[u8], name: &str| -> String {
        String::from_utf8_lossy(info)
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
            .to_string()
    };
    let a = c.fc[1].call(&parts("INFO clients"));
    let b = c.rd[1].call(&parts("INFO clients"));
    assert_eq!(field(&a, "blocked_clients"), field(&b, "blocked_clients"));
    assert_eq!(field(&a, "blocked_clients"), "blocked_clients:1");
    let flags = |list: &[u8]| -> Vec<String> {
        let mut v: Vec<String> = String::from_utf8_lossy(list)
            .lines()
            .filter_map(|l| {
                l.split(' ')
                    .find(|f| f.starts_with("flags="))
                    .map(String::from)
            })
            .collect();
        v.sort();
        v
    };
    let a = c.fc[1].call(&parts("CLIENT LIST"));
    let b = c.rd[1].call(&parts("CLIENT LIST"));
    assert_eq!(flags(&a), flags(&b));
    assert!(flags(&a).contains(&"flags=b".to_string()));
    c.call_with_id(1, 0, "CLIENT UNBLOCK {id}");
    c.read(0, "unblocked as timeout");
    c.send(0, "BZPOPMAX u 0");
    c.call_with_id(1, 0, "CLIENT UNBLOCK {id} ERROR");
    c.read(0, "unblocked with error");
    c.call_with_id(1, 0, "CLIENT UNBLOCK {id} TIMEOUT");
    c.send(0, "XREAD BLOCK 0 STREAMS us $");
    c.call_with_id(1, 2, "CLIENT UNBLOCK {id}");
    c.call_with_id(1, 0, "CLIENT UNBLOCK {id} timeout");
    c.read(0, "XREAD unblocked");
    let a = c.fc[1].call(&parts("INFO clients"));
    assert_eq!(field(&a, "blocked_clients"), "blocked_clients:0");
    c.call(0, "PING");
    // The connection keeps working after being served: a pipeline sent
    // behind a blocked command runs once it is served.
    c.fc[0].send(&parts("BLPOP pp 0"));
    c.rd[0].send(&parts("BLPOP pp 0"));
    c.fc[0].send(&parts("ECHO after"));
    c.rd[0].send(&parts("ECHO after"));
    std::thread::sleep(SETTLE);
    c.call(1, "RPUSH pp 1");
    c.read(0, "BLPOP in pipeline");
    c.read(0, "ECHO after BLPOP");
}

#[test]
fn disconnect_while_blocked_loses_nothing() {
    let Some((p, mut c)) = start() else {
        return;
    };
    let mut fc = RespReader::new(p.fc_node.raw());
    let mut rd = RespReader::new(p.redis_node.raw());
    fc.send(&parts("BLPOP gone 0"));
    rd.send(&parts("BLPOP gone 0"));
    std::thread::sleep(SETTLE);
    drop(fc);
    drop(rd);
    std::thread::sleep(Duration::from_millis(150));
    c.call(0, "RPUSH gone x");
    c.call(0, "LLEN gone");
    let a = c.fc[0].call(&parts("INFO clients"));
    assert!(String::from_utf8_lossy(&a).contains("blocked_clients:0"));
}

#[test]
fn client_pause_write_and_all() {
    let Some((_p, mut c)) = start() else {
        return;
    };
    c.call(1, "CLIENT PAUSE 5000 WRITE");
    c.send(0, "SET pk 1");
    c.silent(0, "SET waits under WRITE pause");
    c.call(2, "GET pk");
    c.call(2, "PING");
    c.send(3, "MULTI");
    c.read(3, "MULTI");
    c.send(3, "INCR pk");
    c.silent(3, "write queued in MULTI waits too");
    c.call(1, "CLIENT UNPAUSE");
    c.read(0, "SET after unpause");
    c.read(3, "QUEUED after unpause");
    c.call(3, "EXEC");
    c.call(2, "GET pk");
    // ALL: reads wait too, until the deadline.
    c.call(1, "CLIENT PAUSE 700 ALL");
    c.send(2, "GET pk");
    c.silent(2, "GET waits under ALL pause");
    std::thread::sleep(Duration::from_millis(700));
    c.read(2, "GET after the pause ends");
}

/// 200 clients BLPOP on 10 keys; 4 pushers push 200 distinct elements:
/// every element is delivered exactly once.
#[test]
fn stress_every_element_delivered_once() {
    let node = common::start_ferrocache(&["--threads", "4"]);
    let keys: Vec<String> = (0..10).map(|i| format!("sk{i}")).collect();
    let mut waiters = Vec::new();
    for i in 0..200 {
        let mut r = RespReader::new(node.raw());
        let k = &keys[i % 10];
        r.send(&[b"BLPOP", k.as_bytes(), b"20"]);
        waiters.push(r);
    }
    std::thread::sleep(Duration::from_millis(300));
    let mut pushers = Vec::new();
    for t in 0..4 {
        let mut r = RespReader::new(node.raw());
        let keys = keys.clone();
        pushers.push(std::thread::spawn(move || {
            for j in 0..50 {
                let n = t * 50 + j;
                let k = &keys[n % 10];
                let v = format!("v{n}");
                r.call(&[b"RPUSH", k.as_bytes(), v.as_bytes()]);
            }
        }));
    }
    for h in pushers {
        h.join().expect("pusher");
    }
    let mut got: Vec<String> = waiters
        .iter_mut()
        .map(|r| {
            let rep = r.read_reply().expect("reply");
            let s = String::from_utf8_lossy(&rep).into_owned();
            s.lines().last().unwrap_or_default().to_string()
        })
        .collect();
    got.sort();
    let mut want: Vec<String> = (0..200).map(|n| format!("v{n}")).collect();
    want.sort();
    assert_eq!(got, want);
    let mut r = RespReader::new(node.raw());
    for k in &keys {
        assert_eq!(r.call(&[b"LLEN", k.as_bytes()]), b":0\r\n");
    }
}
