"""A small web-app workload through redis-py, the way applications use it.

Run by tests/clients.rs against ferrocache (and against redis-server, to keep
the script itself honest):

    python tests/python/webapp.py PORT

Covers sessions with TTL (SET EX, GET, EXPIRE refresh, TTL, expiry), a
leaderboard (ZADD, ZINCRBY, ZREVRANGE WITHSCORES, ZRANK/ZREVRANK, ZSCORE),
counters (INCR, INCRBY, DECR, HINCRBY, HGETALL), pipelines with
transaction=False (no MULTI/EXEC), binary keys and values, scan_iter and
friends, and the same through RESP3 (protocol=3). Exits non-zero with a
message on the first wrong answer.
"""

import json
import os
import sys
import time

import redis


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def sessions(r, ns):
    for uid in range(20):
        key = f"{ns}:sess:{uid}"
        data = json.dumps({"user": uid, "cart": list(range(uid % 5))})
        check(r.set(key, data, ex=60) is True, "SET EX returns True")
        raw = r.get(key)
        check(json.loads(raw) == {"user": uid, "cart": list(range(uid % 5))}, "GET session")
        ttl = r.ttl(key)
        check(55 <= ttl <= 60, f"TTL after SET EX 60 is {ttl}")
        # Each request refreshes the session.
        check(r.expire(key, 120) is True, "EXPIRE refresh")
        ttl = r.ttl(key)
        check(115 <= ttl <= 120, f"TTL after refresh is {ttl}")
        pttl = r.pttl(key)
        check(110_000 <= pttl <= 120_000, f"PTTL {pttl}")
    # Logging out and expiry.
    check(r.delete(f"{ns}:sess:0") == 1, "DEL session")
    check(r.get(f"{ns}:sess:0") is None, "deleted session is gone")
    check(r.ttl(f"{ns}:sess:0") == -2, "TTL of a missing key")
    r.set(f"{ns}:sess:short", "x", px=50)
    time.sleep(0.2)
    check(r.get(f"{ns}:sess:short") is None, "session expired after PX 50")
    check(r.exists(f"{ns}:sess:short") == 0, "expired session does not exist")
    r.set(f"{ns}:sess:persist", "x", ex=100)
    check(r.persist(f"{ns}:sess:persist") is True, "PERSIST")
    check(r.ttl(f"{ns}:sess:persist") == -1, "TTL after PERSIST")
    # SET NX for a login lock, GETEX, GETDEL.
    check(r.set(f"{ns}:lock", "me", nx=True, ex=30) is True, "SET NX lock")
    check(r.set(f"{ns}:lock", "you", nx=True, ex=30) is None, "SET NX on held lock")
    check(r.getex(f"{ns}:lock", ex=10) == b"me", "GETEX")
    check(r.getdel(f"{ns}:lock") == b"me", "GETDEL")
    check(r.get(f"{ns}:lock") is None, "GETDEL removed the lock")


def leaderboard(r, ns):
    lb = f"{ns}:lb"
    players = {"alice": 10, "bob": 20, "carol": 15, "dave": 5, "erin": 20}
    check(r.zadd(lb, players) == 5, "ZADD mapping")
    check(r.zincrby(lb, 7, "alice") == 17.0, "ZINCRBY")
    check(r.zincrby(lb, 2.5, "dave") == 7.5, "ZINCRBY float")
    top = r.zrevrange(lb, 0, 2, withscores=True)
    check(top == [(b"erin", 20.0), (b"bob", 20.0), (b"alice", 17.0)], f"ZREVRANGE WITHSCORES {top}")
    check(r.zrank(lb, "dave") == 0, "ZRANK lowest")
    check(r.zrevrank(lb, "erin") == 0, "ZREVRANK highest")
    check(r.zrank(lb, "nobody") is None, "ZRANK missing member")
    check(r.zscore(lb, "carol") == 15.0, "ZSCORE")
    check(r.zcard(lb) == 5, "ZCARD")
    check(r.zcount(lb, 10, 20) == 4, "ZCOUNT")
    check(r.zrangebyscore(lb, "(15", "+inf") == [b"alice", b"bob", b"erin"], "ZRANGEBYSCORE")
    check(r.zrem(lb, "bob") == 1, "ZREM")
    check(r.zpopmax(lb) == [(b"erin", 20.0)], "ZPOPMAX")
    check(r.zrange(lb, 0, -1) == [b"dave", b"carol", b"alice"], "ZRANGE after pops")


def counters(r, ns):
    c = f"{ns}:views"
    check(r.incr(c) == 1, "INCR new")
    check(r.incrby(c, 41) == 42, "INCRBY")
    check(r.decr(c) == 41, "DECR")
    check(r.incrbyfloat(c, 0.5) == 41.5, "INCRBYFLOAT")
    h = f"{ns}:stats"
    check(r.hincrby(h, "hits", 3) == 3, "HINCRBY new")
    check(r.hincrby(h, "hits", -1) == 2, "HINCRBY")
    check(r.hset(h, mapping={"misses": 7, "name": "home"}) == 2, "HSET mapping")
    check(r.hincrbyfloat(h, "misses", 0.25) == 7.25, "HINCRBYFLOAT")
    check(
        r.hgetall(h) == {b"hits": b"2", b"misses": b"7.25", b"name": b"home"},
        f"HGETALL {r.hgetall(h)}",
    )
    check(r.hget(h, "name") == b"home", "HGET")
    check(r.hmget(h, ["hits", "nope"]) == [b"2", None], "HMGET")
    check(r.hlen(h) == 3, "HLEN")
    try:
        r.incr(h)
        check(False, "INCR on a hash must fail")
    except redis.ResponseError as e:
        check(str(e).startswith("WRONGTYPE"), f"WRONGTYPE error: {e}")
    r.set(f"{ns}:notnum", "abc")
    try:
        r.incr(f"{ns}:notnum")
        check(False, "INCR on a non-number must fail")
    except redis.ResponseError as e:
        check("not an integer" in str(e), f"INCR error: {e}")


def pipelines(r, ns):
    p = r.pipeline(transaction=False)
    for i in range(500):
        p.set(f"{ns}:p:{i}", i)
    for i in range(500):
        p.get(f"{ns}:p:{i}")
    p.incr(f"{ns}:p:counter")
    p.lpush(f"{ns}:p:list", *range(10))
    p.lrange(f"{ns}:p:list", 0, 2)
    p.sadd(f"{ns}:p:set", "a", "b", "c")
    p.scard(f"{ns}:p:set")
    p.hset(f"{ns}:p:hash", "f", "v")
    p.get(f"{ns}:p:list")  # WRONGTYPE, returned in place, not raised
    res = p.execute(raise_on_error=False)
    check(res[:500] == [True] * 500, "pipelined SETs")
    check(res[500:1000] == [str(i).encode() for i in range(500)], "pipelined GETs")
    check(res[1000:1006] == [1, 10, [b"9", b"8", b"7"], 3, 3, 1], f"pipeline tail {res[1000:1006]}")
    check(isinstance(res[1006], redis.ResponseError), "pipelined error in place")
    # The same without a pipeline gives the same answers.
    check(r.get(f"{ns}:p:499") == b"499", "GET after pipeline")
    check(r.mget([f"{ns}:p:1", f"{ns}:p:2", f"{ns}:missing"]) == [b"1", b"2", None], "MGET")
    check(r.mset({f"{ns}:m1": "1", f"{ns}:m2": "2"}) is True, "MSET")


def binary(r, ns):
    value = bytes(range(256)) * 4 + b"\r\n\x00\xff"
    key = ns.encode() + b":bin:\x00\r\n\xff"
    check(r.set(key, value) is True, "SET binary")
    check(r.get(key) == value, "GET binary")
    check(r.strlen(key) == len(value), "STRLEN binary")
    check(r.append(key, b"\x00") == len(value) + 1, "APPEND binary")
    check(r.getrange(key, 0, 3) == b"\x00\x01\x02\x03", "GETRANGE binary")
    big = os.urandom(1 << 20)
    r.set(f"{ns}:big", big)
    check(r.get(f"{ns}:big") == big, "1 MiB random value round trip")
    r.hset(f"{ns}:binh", b"\xff\x00", b"\r\n")
    check(r.hget(f"{ns}:binh", b"\xff\x00") == b"\r\n", "binary hash field")
    r.sadd(f"{ns}:bins", b"\x00", b"\xff")
    check(r.smembers(f"{ns}:bins") == {b"\x00", b"\xff"}, "binary set members")


def scanning(r, ns):
    want = set()
    for i in range(150):
        k = f"{ns}:scan:{i}".encode()
        r.set(k, i)
        want.add(k)
    got = set(r.scan_iter(match=f"{ns}:scan:*", count=10))
    check(got == want, f"scan_iter found {len(got)} of {len(want)}")
    got = set(r.scan_iter(match=f"{ns}:scan:*", _type="string"))
    check(got == want, "scan_iter with TYPE")
    h = f"{ns}:scanh"
    r.hset(h, mapping={f"f{i}": i for i in range(200)})
    fields = dict(r.hscan_iter(h, count=20))
    check(fields == {f"f{i}".encode(): str(i).encode() for i in range(200)}, "hscan_iter")
    s = f"{ns}:scans"
    r.sadd(s, *range(300))
    check(set(r.sscan_iter(s, count=25)) == {str(i).encode() for i in range(300)}, "sscan_iter")
    z = f"{ns}:scanz"
    r.zadd(z, {f"m{i}": i for i in range(200)})
    check(dict(r.zscan_iter(z)) == {f"m{i}".encode(): float(i) for i in range(200)}, "zscan_iter")
    # Delete everything this namespace created.
    keys = list(r.scan_iter(match=f"{ns}:*", count=100)) + [ns.encode() + b":bin:\x00\r\n\xff"]
    r.delete(*keys)
    left = list(r.scan_iter(match=f"{ns}:*"))
    check(left == [], f"keys left after cleanup: {left[:5]}")


def resp3(port, ns):
    r = redis.Redis(host="127.0.0.1", port=port, protocol=3)
    check(r.ping() is True, "PING over RESP3")
    r.hset(f"{ns}:r3h", mapping={"a": 1, "b": 2})
    check(r.hgetall(f"{ns}:r3h") == {b"a": b"1", b"b": b"2"}, "HGETALL map over RESP3")
    r.zadd(f"{ns}:r3z", {"x": 1.5, "y": 2})
    pairs = [tuple(p) for p in r.zrange(f"{ns}:r3z", 0, -1, withscores=True)]
    check(pairs == [(b"x", 1.5), (b"y", 2.0)], f"ZRANGE WITHSCORES RESP3 {pairs}")
    check(r.zscore(f"{ns}:r3z", "x") == 1.5, "ZSCORE double over RESP3")
    r.sadd(f"{ns}:r3s", "a", "b")
    check(r.smembers(f"{ns}:r3s") == {b"a", b"b"}, "SMEMBERS set over RESP3")
    check(r.get(f"{ns}:missing") is None, "null over RESP3")
    r.delete(f"{ns}:r3h", f"{ns}:r3z", f"{ns}:r3s")
    r.close()


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("FERROCACHE_PORT", "6379"))
    ns = f"webapp{os.getpid()}"
    r = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10)
    check(r.ping() is True, "PING")
    for step in (sessions, leaderboard, counters, pipelines, binary, scanning):
        try:
            step(r, ns)
        except AssertionError as e:
            print(f"webapp: {step.__name__}: {e}", file=sys.stderr)
            sys.exit(1)
        except redis.RedisError as e:
            print(f"webapp: {step.__name__}: unexpected {type(e).__name__}: {e}", file=sys.stderr)
            sys.exit(1)
    try:
        resp3(port, ns)
    except (AssertionError, redis.RedisError) as e:
        print(f"webapp: resp3: {e}", file=sys.stderr)
        sys.exit(1)
    print("webapp OK")


if __name__ == "__main__":
    main()
