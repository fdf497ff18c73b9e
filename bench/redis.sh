#!/usr/bin/env bash
# Throughput, latency, CPU efficiency and memory per key: ferrocache vs
# redis-server, same machine, same load generator.
#
#   bench/redis.sh                 # build, run everything, print tables
#   NO_BUILD=1 ROUNDS=7 bench/redis.sh
#
# Each server is pinned to core 0 and redis-benchmark to core 1 (taskset), so
# the two never compete for a core. Server CPU time is read from
# /proc/<pid>/stat (utime+stime) around every run: on a 2-core machine the
# load generator can be the bottleneck, and "ops per server CPU-second"
# compares the servers' efficiency independently of that.
#
# Method: a round is one *pair* of runs of a workload, one per server, back
# to back, the order alternating from round to round (odd rounds Redis
# first). Whatever drifts on the machine (other load, the sorted set
# growing, the list filling) hits both runs of a pair alike, so the figure
# reported is the **median of the per-pair ratios** ferrocache / redis, with
# their **min-max** next to it. A range that straddles 1.00 is parity within
# the noise of the method; a range entirely below (above) 1.00 is a real gap
# (or lead). The ops/s columns are each server's median over the rounds.
# With the defaults a full run takes ~10 minutes on 2 cores (~90k ops/s at
# pipeline 1).
#
# Environment:
#   ROUNDS (5)        pairs per workload (alternating order)
#   WARMUP (1)        unpaired runs per server and workload before the
#                     pairs (kept in the raw TSV as round "w", left out of
#                     the tables): the first run after the previous workload
#                     pays for cold caches and growing structures; "ZADD
#                     grow P1" measures growth on purpose, every round
#   N1 (400000)       requests per run at pipeline 1
#   N16 (2000000)     requests per run at pipeline 16
#   ZGROW_N (200000)  requests per run of "ZADD grow P1", which deletes the
#                     sorted set before every run so that each run measures
#                     the set growing from empty (to ~86,000 members at the
#                     default KEYSPACE); "ZADD P1" keeps its set, so once
#                     the warm-up run has filled it, it measures (mostly)
#                     score updates of existing members
#   CLIENTS (50)      connections
#   KEYSPACE (100000) -r for random keys
#   MEM_KEYS (1000000) keys loaded for the bytes-per-key figure
#   SERVER_CPU (0) / CLIENT_CPU (1)  cores to pin to
#   NO_BUILD=1        skip `cargo build --release`
#   FC_ARGS           extra ferrocache options (e.g. FC_ARGS='--busy-poll-us 0')
#   ONLY (.)          regex: run only the matching workloads (e.g. ONLY=ZADD)
#   NO_MEM=1          skip the memory measurements
#   ZSET_MEMBERS (1000000) members loaded into one sorted set for the
#                     bytes-per-member figure
#   OUT               also write the raw TSV results here (one line per run:
#                     workload, server, ops/s, p99 ms, server CPU s,
#                     requests, round)
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
N1=${N1:-400000}
N16=${N16:-2000000}
ZGROW_N=${ZGROW_N:-200000}
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
        --threads 1 ${FC_ARGS:-} >"$WORK/fc.log" 2>&1 &
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

# Workload-specific reset before each run (not timed, not counted).
prepare() {
    case "$2" in
        "ZADD grow"*) redis-cli -p "$1" DEL myzset >/dev/null ;;
        *) true ;;
    esac
}

# run_one <server-name> <port> <pid> <workload-name> <round> <redis-benchmark args...>
run_one() {
    local name=$1 port=$2 pid=$3 wl=$4 round=$5
    shift 5
    local before after csv
    prepare "$port" "$wl"
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
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$name" "${rps:-0}" "${p99:-0}" \
        "$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN{print t/hz}')" "$reqs" "$round" >>"$RESULTS"
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
    "ZADD grow P1|-t zadd -r $KEYSPACE -n $ZGROW_N -P 1"
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

echo "== throughput: $WARMUP warm-up + $ROUNDS paired rounds (N1=$N1, N16=$N16, ZGROW_N=$ZGROW_N), $CLIENTS clients, server on cpu $SERVER_CPU, redis-benchmark on cpu $CLIENT_CPU"
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
    for _ in $(seq 1 "$WARMUP"); do
        # shellcheck disable=SC2086
        run_one redis "$REDIS_PORT" "$REDIS_PID" "$wl" w $args
        # shellcheck disable=SC2086
        run_one ferrocache "$FC_PORT" "$FC_PID" "$wl" w $args
    done
    for round in $(seq 1 "$ROUNDS"); do
        # Alternate which server goes first.
        if (( round % 2 )); then
            # shellcheck disable=SC2086
            run_one redis "$REDIS_PORT" "$REDIS_PID" "$wl" "$round" $args
            # shellcheck disable=SC2086
            run_one ferrocache "$FC_PORT" "$FC_PID" "$wl" "$round" $args
        else
            # shellcheck disable=SC2086
            run_one ferrocache "$FC_PORT" "$FC_PID" "$wl" "$round" $args
            # shellcheck disable=SC2086
            run_one redis "$REDIS_PORT" "$REDIS_PID" "$wl" "$round" $args
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
    # Round number (the pair this run belongs to); files written before
    # rounds were recorded count runs per server instead.
    rnd = r[6] if len(r) > 6 and r[6] else None
    if rnd == "w":
        continue  # warm-up run (raw TSV only)
    if wl not in order:
        order.append(wl)
    # Requests per server CPU-second for this run.
    eff = reqs / cpu if cpu > 0 else 0.0
    lst = runs.setdefault((wl, srv), [])
    lst.append((rps, p99, eff, rnd if rnd is not None else str(len(lst) + 1)))

def med(rs, i):
    xs = [x[i] for x in rs]
    return statistics.median(xs) if xs else 0.0

def pair_ratios(f, r, i):
    """ferrocache / redis for each round both servers ran (index i)."""
    by_round = {x[3]: x[i] for x in r}
    return [x[i] / by_round[x[3]] for x in f if by_round.get(x[3])]

def summary(xs):
    """(median, "min-max", verdict) of paired ratios."""
    if not xs:
        return "n/a", "n/a", "n/a"
    lo, hi = min(xs), max(xs)
    if lo >= 1.0:
        verdict = ">= 1 in every pair"
    elif hi < 1.0:
        verdict = "< 1 in every pair"
    else:
        verdict = "parity (range spans 1)"
    return f"{statistics.median(xs):.2f}", f"{lo:.2f}-{hi:.2f}", verdict

print()
print("Throughput. ratio = median over rounds of the paired ratio ferrocache/redis")
print("(each round = one run per server, back to back, order alternating);")
print("range = min-max of those paired ratios. ops/s, p99, ops/CPU-s = median of rounds.")
print()
print("| workload | rounds | redis ops/s | ferrocache ops/s | ratio | ratio range | verdict "
      "| redis p99 ms | ferrocache p99 ms "
      "| redis ops/CPU-s | ferrocache ops/CPU-s | CPU-eff. ratio | CPU-eff. range |")
print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
for wl in order:
    r, f = runs.get((wl, "redis"), []), runs.get((wl, "ferrocache"), [])
    rr, fr = med(r, 0), med(f, 0)
    re_, fe = med(r, 2), med(f, 2)
    tp = pair_ratios(f, r, 0)
    tm, trange, verdict = summary(tp)
    cm, crange, _ = summary(pair_ratios(f, r, 2))
    print(f"| {wl} | {len(tp)} | {rr:,.0f} | {fr:,.0f} | {tm} | {trange} | {verdict} "
          f"| {med(r, 1):.3f} | {med(f, 1):.3f} "
          f"| {re_:,.0f} | {fe:,.0f} | {cm} | {crange} |")
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
