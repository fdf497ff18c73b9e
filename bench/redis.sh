#!/usr/bin/env bash
# Throughput, latency, CPU efficiency and memory per key: ferrocache vs
# redis-server, same machine, same load generator.
#
#   bench/redis.sh                 # build, run everything, print tables
#   NO_BUILD=1 ROUNDS=5 bench/redis.sh
#
# Each server is pinned to core 0 and redis-benchmark to core 1 (taskset), so
# the two never compete for a core. Workloads alternate between the servers
# for ROUNDS rounds and the median is reported. Server CPU time is read from
# /proc/<pid>/stat (utime+stime) around every run: on a 2-core machine the
# load generator can be the bottleneck, and "ops per server CPU-second"
# compares the servers' efficiency independently of that.
#
# Environment:
#   ROUNDS (3)        rounds per workload (alternating servers)
#   N1 (200000)       requests per run at pipeline 1
#   N16 (2000000)     requests per run at pipeline 16
#   CLIENTS (50)      connections
#   KEYSPACE (100000) -r for random keys
#   MEM_KEYS (1000000) keys loaded for the bytes-per-key figure
#   SERVER_CPU (0) / CLIENT_CPU (1)  cores to pin to
#   NO_BUILD=1        skip `cargo build --release`
#   ONLY (.)          regex: run only the matching workloads (e.g. ONLY=ZADD)
#   NO_MEM=1          skip the memory measurements
#   ZSET_MEMBERS (1000000) members loaded into one sorted set for the
#                     bytes-per-member figure
#   OUT               also write the raw TSV results here
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
N1=${N1:-200000}
N16=${N16:-2000000}
CLIENTS=${CLIENTS:-50}
KEYSPACE=${KEYSPACE:-100000}
MEM_KEYS=${MEM_KEYS:-1000000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
FC_BIN=${FC_BIN:-target/release/ferrocache}
REDIS_PORT=${REDIS_PORT:-17379}
FC_PORT=${FC_PORT:-17380}
CLK_TCK=$(getconf CLK_TCK)

for tool in redis-server redis-benchmark redis-cli taskset python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

if [[ -z "${NO_BUILD:-}" ]]; then
    cargo build --release --bin ferrocache
fi

WORK=$(mktemp -d)
RESULTS="$WORK/results.tsv"
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do
        [[ -n "$p" ]] && kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [[ -n "${OUT:-}" && -f "$RESULTS" ]]; then cp "$RESULTS" "$OUT"; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() {
    for _ in $(seq 1 200); do
        redis-cli -p "$1" PING >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    exit 1
}

REDIS_PID=""
FC_PID=""
start_servers() {
    taskset -c "$SERVER_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
        --save '' --appendonly no --dir "$WORK" --daemonize no \
        >"$WORK/redis.log" 2>&1 &
    REDIS_PID=$!
    taskset -c "$SERVER_CPU" "$FC_BIN" redis --port "$FC_PORT" --bind 127.0.0.1 --save "" --dir "$WORK" \
        --threads 1 >"$WORK/fc.log" 2>&1 &
    FC_PID=$!
    PIDS+=("$REDIS_PID" "$FC_PID")
    wait_port "$REDIS_PORT"
    wait_port "$FC_PORT"
}
stop_servers() {
    kill "$REDIS_PID" "$FC_PID" 2>/dev/null || true
    wait "$REDIS_PID" "$FC_PID" 2>/dev/null || true
}

# Server CPU time in clock ticks.
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# run_one <server-name> <port> <pid> <workload-name> <redis-benchmark args...>
run_one() {
    local name=$1 port=$2 pid=$3 wl=$4
    shift 4
    local before after csv
    before=$(cpu_ticks "$pid")
    csv=$(taskset -c "$CLIENT_CPU" redis-benchmark -p "$port" -c "$CLIENTS" --csv "$@" 2>/dev/null | tail -n 1)
    after=$(cpu_ticks "$pid")
    # "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
    local rps p99 reqs=0 prev=""
    rps=$(echo "$csv" | awk -F'"' '{print $4}')
    p99=$(echo "$csv" | awk -F'"' '{print $14}')
    for a in "$@"; do
        [[ "$prev" == "-n" ]] && reqs=$a
        prev=$a
    done
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$name" "${rps:-0}" "${p99:-0}" \
        "$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN{print t/hz}')" "$reqs" >>"$RESULTS"
}

# Does the server know this command? (Workloads whose commands are missing
# are skipped and reported as such.)
supports() {
    local out
    out=$(redis-cli -p "$FC_PORT" "$@" 2>&1 || true)
    [[ "$out" != *"unknown command"* ]]
}

WORKLOADS=(
    "SET P1|-t set -d 32 -r $KEYSPACE -n $N1 -P 1"
    "GET P1|-t get -d 32 -r $KEYSPACE -n $N1 -P 1"
    "SET P16|-t set -d 32 -r $KEYSPACE -n $N16 -P 16"
    "GET P16|-t get -d 32 -r $KEYSPACE -n $N16 -P 16"
    "INCR P1|-t incr -r $KEYSPACE -n $N1 -P 1"
    "LPUSH P1|-t lpush -d 32 -n $N1 -P 1"
    "LPOP P1|-t lpop -d 32 -n $N1 -P 1"
    "HSET P1|-t hset -d 32 -r $KEYSPACE -n $N1 -P 1"
    "ZADD P1|-t zadd -r $KEYSPACE -n $N1 -P 1"
)
probe() {
    case "$1" in
        "INCR"*) supports INCR bench:probe:i ;;
        "LPUSH"* | "LPOP"*) supports LPUSH bench:probe:l x && supports LPOP bench:probe:l ;;
        "HSET"*) supports HSET bench:probe:h f v ;;
        "ZADD"*) supports ZADD bench:probe:z 1 m ;;
        *) true ;;
    esac
}

echo "== throughput: $ROUNDS rounds, $CLIENTS clients, server on cpu $SERVER_CPU, redis-benchmark on cpu $CLIENT_CPU"
start_servers
# Populate GET's keyspace once on each server.
for port in "$REDIS_PORT" "$FC_PORT"; do
    taskset -c "$CLIENT_CPU" redis-benchmark -p "$port" -c "$CLIENTS" -t set -d 32 -r "$KEYSPACE" -n $((KEYSPACE * 3)) -P 16 -q >/dev/null 2>&1
done
SKIPPED=()
for spec in "${WORKLOADS[@]}"; do
    wl=${spec%%|*}
    args=${spec#*|}
    [[ "$wl" =~ ${ONLY:-.} ]] || continue
    if ! probe "$wl"; then
        SKIPPED+=("$wl")
        continue
    fi
    for round in $(seq 1 "$ROUNDS"); do
        # Alternate which server goes first.
        if (( round % 2 )); then
            # shellcheck disable=SC2086
            run_one redis "$REDIS_PORT" "$REDIS_PID" "$wl" $args
            # shellcheck disable=SC2086
            run_one ferrocache "$FC_PORT" "$FC_PID" "$wl" $args
        else
            # shellcheck disable=SC2086
            run_one ferrocache "$FC_PORT" "$FC_PID" "$wl" $args
            # shellcheck disable=SC2086
            run_one redis "$REDIS_PORT" "$REDIS_PID" "$wl" $args
        fi
    done
    echo "   done: $wl"
done
stop_servers

if [[ -z "${NO_MEM:-}" ]]; then
echo "== memory: $MEM_KEYS keys, 16-byte keys, 100-byte values, fresh servers"
start_servers
info_field() { redis-cli -p "$1" INFO memory 2>/dev/null | tr -d '\r' | awk -F: -v f="$2" '$1==f{print $2}'; }
rss_bytes() { awk '/^VmRSS:/{print $2 * 1024}' "/proc/$1/status"; }
load_keys() {
    awk -v n="$MEM_KEYS" 'BEGIN {
        v = sprintf("%100s", ""); gsub(/ /, "x", v);
        for (i = 0; i < n; i++) {
            k = sprintf("key:%012d", i);
            printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$100\r\n%s\r\n", length(k), k, v;
        }
    }' | taskset -c "$CLIENT_CPU" redis-cli -p "$1" --pipe >/dev/null
}
for srv in redis ferrocache; do
    if [[ $srv == redis ]]; then port=$REDIS_PORT; pid=$REDIS_PID; else port=$FC_PORT; pid=$FC_PID; fi
    used0=$(info_field "$port" used_memory); rss0=$(rss_bytes "$pid")
    load_keys "$port"
    sleep 1
    keys=$(redis-cli -p "$port" DBSIZE 2>/dev/null | grep -E '^[0-9]+$' || echo "$MEM_KEYS")
    used1=$(info_field "$port" used_memory); rss1=$(rss_bytes "$pid")
    printf 'mem\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$keys" "${used0:-0}" "${used1:-0}" "$rss0" "$rss1" >>"$RESULTS"
done
stop_servers

ZSET_MEMBERS=${ZSET_MEMBERS:-1000000}
echo "== memory: one sorted set of $ZSET_MEMBERS members, fresh servers"
start_servers
load_zset() {
    awk -v n="$ZSET_MEMBERS" 'BEGIN {
        for (i = 0; i < n; i++) {
            m = sprintf("member:%012d", i); s = sprintf("%d", (i * 7919) % 1000003);
            printf "*4\r\n$4\r\nZADD\r\n$4\r\nzmem\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(s), s, length(m), m;
        }
    }' | taskset -c "$CLIENT_CPU" redis-cli -p "$1" --pipe >/dev/null
}
for srv in redis ferrocache; do
    if [[ $srv == redis ]]; then port=$REDIS_PORT; pid=$REDIS_PID; else port=$FC_PORT; pid=$FC_PID; fi
    used0=$(info_field "$port" used_memory); rss0=$(rss_bytes "$pid")
    load_zset "$port"
    sleep 1
    members=$(redis-cli -p "$port" ZCARD zmem 2>/dev/null | grep -E '^[0-9]+$' || echo "$ZSET_MEMBERS")
    usage=$(redis-cli -p "$port" MEMORY USAGE zmem 2>/dev/null | grep -E '^[0-9]+$' || echo 0)
    used1=$(info_field "$port" used_memory); rss1=$(rss_bytes "$pid")
    printf 'zmem\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$srv" "$members" "${used0:-0}" "${used1:-0}" "$rss0" "$rss1" "$usage" >>"$RESULTS"
done
stop_servers
fi

SKIPPED_STR=$(IFS=,; echo "${SKIPPED[*]:-}")
python3 - "$RESULTS" "$SKIPPED_STR" <<'EOF'
import statistics, sys

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
skipped = sys.argv[2] if len(sys.argv) > 2 else ""
runs, mem, zmem, order = {}, {}, {}, []
for r in rows:
    if r[0] == "mem":
        mem[r[1]] = [int(float(x)) if x else 0 for x in r[2:]]
        continue
    if r[0] == "zmem":
        zmem[r[1]] = [int(float(x)) if x else 0 for x in r[2:]]
        continue
    wl, srv = r[0], r[1]
    rps, p99, cpu, reqs = (float(x or 0) for x in r[2:6])
    if wl not in order:
        order.append(wl)
    # Requests per server CPU-second for this run.
    eff = reqs / cpu if cpu > 0 else 0.0
    runs.setdefault((wl, srv), []).append((rps, p99, eff))

def med(rs, i):
    xs = [x[i] for x in rs]
    return statistics.median(xs) if xs else 0.0

def ratio(a, b):
    return f"{a / b:.2f}" if b else "n/a"

print()
print("Throughput (median of rounds; ratio = ferrocache / redis)")
print()
print("| workload | redis ops/s | ferrocache ops/s | ratio | redis p99 ms | ferrocache p99 ms "
      "| redis ops/CPU-s | ferrocache ops/CPU-s | CPU-eff. ratio |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for wl in order:
    r, f = runs.get((wl, "redis"), []), runs.get((wl, "ferrocache"), [])
    rr, fr = med(r, 0), med(f, 0)
    re_, fe = med(r, 2), med(f, 2)
    print(f"| {wl} | {rr:,.0f} | {fr:,.0f} | {ratio(fr, rr)} | {med(r, 1):.3f} | {med(f, 1):.3f} "
          f"| {re_:,.0f} | {fe:,.0f} | {ratio(fe, re_)} |")
if skipped.strip():
    print()
    print(f"Skipped (command not implemented in ferrocache yet): {skipped}")

if mem:
    print()
    print("Memory: keys `key:%012d` (16 bytes) with 100-byte values")
    print()
    print("| server | keys | used_memory B/key | RSS B/key | used_memory delta B/key | RSS delta B/key |")
    print("|---|---:|---:|---:|---:|---:|")
    for srv in ("redis", "ferrocache"):
        if srv not in mem:
            continue
        keys, u0, u1, r0, r1 = mem[srv]
        keys = max(keys, 1)
        used = f"{u1 / keys:.1f}" if u1 else "n/a"
        dused = f"{(u1 - u0) / keys:.1f}" if u1 else "n/a"
        print(f"| {srv} | {keys:,} | {used} | {r1 / keys:.1f} | {dused} | {(r1 - r0) / keys:.1f} |")
if zmem:
    print()
    print("Sorted set: one key, members `member:%012d` (19 bytes), integer scores")
    print()
    print("| server | members | MEMORY USAGE B/member | used_memory delta B/member | RSS delta B/member |")
    print("|---|---:|---:|---:|---:|")
    for srv in ("redis", "ferrocache"):
        if srv not in zmem:
            continue
        n, u0, u1, r0, r1, usage = zmem[srv]
        n = max(n, 1)
        print(f"| {srv} | {n:,} | {usage / n:.1f} | {(u1 - u0) / n:.1f} | {(r1 - r0) / n:.1f} |")
EOF
