#!/usr/bin/env bash
# Issue 4 workloads, ferrocache vs redis-server, same machine, same load
# generator, same method as bench/redis.sh (server pinned to core 0, load
# to core 1, one unrecorded warm-up run per server and workload, then
# ROUNDS pairs of runs back to back with the order alternating; a row
# reports the median of the per-pair ratios with their min-max and a
# verdict; server CPU time from /proc gives ops per server CPU-second):
#
#   PUBLISH fan-out   redis-benchmark `PUBLISH chan <32 B>` (50 publishers)
#                     to SUBS subscriber connections (examples/bench_subscriber);
#                     reports published/s and delivered messages/s
#   XADD              `XADD s * f v`
#   GEOSEARCH         `GEOSEARCH geo FROMLONLAT 13.4 52.5 BYRADIUS 5 km ASC
#                     COUNT 10` over GEO_POINTS points preloaded around Berlin
#   EVALSHA           `EVALSHA <sha of "return redis.call('INCR', KEYS[1])"> 1 ctr`
#   EVAL              `EVAL "return(redis.call('INCR',KEYS[1]))" 1 ctr` (the
#                     body is hashed and looked up on every call)
#   FCALL             `FCALL incr1 1 ctr`, a library function doing the same
#
#   bench/redis-issue4.sh
#   NO_BUILD=1 ROUNDS=5 SUBS=10 bench/redis-issue4.sh
#
# Environment: ROUNDS (5), WARMUP (1), N (200000 requests per run), NPUB (N/2 publishes
# per run), SUBS (10 subscribers), GEO_POINTS (100000), GEO_N (N/20 queries),
# CLIENTS (50), SERVER_CPU (0), CLIENT_CPU (1), NO_BUILD, OUT (raw TSV),
# FC_ARGS (extra ferrocache options, e.g. '--busy-poll-us 0'),
# ONLY (regex: run only matching workloads, e.g. ONLY='XADD|GEO').
set -euo pipefail
set -f # workload arguments contain '*'

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
ROUND=w
N=${N:-200000}
NPUB=${NPUB:-$((N / 2))}
SUBS=${SUBS:-10}
GEO_POINTS=${GEO_POINTS:-100000}
GEO_N=${GEO_N:-$((N / 20))}
CLIENTS=${CLIENTS:-50}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
ONLY=${ONLY:-.}
FC_BIN=${FC_BIN:-target/release/ferrocache}
SUB_BIN=${SUB_BIN:-target/release/examples/bench_subscriber}
REDIS_PORT=${REDIS_PORT:-17381}
FC_PORT=${FC_PORT:-17382}
CLK_TCK=$(getconf CLK_TCK)
PAYLOAD=$(printf '%32s' '' | tr ' ' 'x')

for tool in redis-server redis-benchmark redis-cli taskset python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
if [[ -z "${NO_BUILD:-}" ]]; then
    cargo build --release --bin ferrocache --example bench_subscriber
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

cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

# run_one <server> <port> <pid> <workload> <requests> <redis-benchmark args...>
# Appends: workload server rps p99 cpu-seconds requests wall-seconds round
run_one() {
    local name=$1 port=$2 pid=$3 wl=$4 reqs=$5
    shift 5
    local before after csv t0 t1
    before=$(cpu_ticks "$pid")
    t0=$(date +%s.%N)
    csv=$(taskset -c "$CLIENT_CPU" redis-benchmark -p "$port" -c "$CLIENTS" -n "$reqs" --csv "$@" 2>/dev/null | tail -n 1)
    t1=$(date +%s.%N)
    after=$(cpu_ticks "$pid")
    local rps p99
    rps=$(echo "$csv" | awk -F'"' '{print $4}')
    p99=$(echo "$csv" | awk -F'"' '{print $14}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$name" "${rps:-0}" "${p99:-0}" \
        "$(awk -v t=$((after - before)) -v hz="$CLK_TCK" 'BEGIN{print t/hz}')" "$reqs" \
        "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b - a}')" "$ROUND" >>"$RESULTS"
}

# PUBLISH fan-out: subscribers connect first, then the publishers run; a
# final PUBLISH of "STOP" ends the subscribers, which report bytes received.
run_publish() {
    local name=$1 port=$2 pid=$3
    local out="$WORK/sub.$name.out"
    : >"$out"
    taskset -c "$CLIENT_CPU" "$SUB_BIN" "$port" chan "$SUBS" >"$out" &
    local sub=$!
    PIDS+=("$sub")
    for _ in $(seq 1 200); do
        grep -q ready "$out" && break
        sleep 0.05
    done
    run_one "$name" "$port" "$pid" "PUBLISH x$SUBS" "$NPUB" PUBLISH chan "$PAYLOAD"
    redis-cli -p "$port" PUBLISH chan STOP >/dev/null
    wait "$sub" || true
    # bytes per message: *3 $7 message $4 chan $32 <payload>
    local msg=$((4 + 4 + 9 + 4 + 6 + 5 + 32 + 2)) stop=$((4 + 4 + 9 + 4 + 6 + 4 + 4 + 2))
    tail -n 1 "$out" | awk -v m=$msg -v s=$stop -v n="$SUBS" -v name="$name" -v subs="$SUBS" \
        -v round="$ROUND" 'NF == 2 { d = ($1 - s * n) / m; printf "delivered\t%s\t%d\t%s\t%d\t%s\n", name, d, $2, subs, round }' >>"$RESULTS"
}

supports() {
    local out
    out=$(redis-cli -p "$FC_PORT" "$@" 2>&1 || true)
    [[ "$out" != *"unknown command"* && "$out" != ERR* ]]
}

echo "== issue 4 workloads: $ROUNDS rounds, $CLIENTS clients, server on cpu $SERVER_CPU, load on cpu $CLIENT_CPU"
start_servers

echo "   preloading $GEO_POINTS points"
for port in "$REDIS_PORT" "$FC_PORT"; do
    awk -v n="$GEO_POINTS" 'BEGIN {
        srand(42);
        for (i = 0; i < n; i += 100) {
            args = "";
            k = 0;
            for (j = i; j < n && j < i + 100; j++) {
                lon = sprintf("%.6f", 13.0 + rand() * 0.8);
                lat = sprintf("%.6f", 52.3 + rand() * 0.4);
                m = sprintf("p%d", j);
                args = args sprintf("$%d\r\n%s\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(lon), lon, length(lat), lat, length(m), m);
                k++;
            }
            printf "*%d\r\n$6\r\nGEOADD\r\n$3\r\ngeo\r\n%s", 2 + 3 * k, args;
        }
    }' | taskset -c "$CLIENT_CPU" redis-cli -p "$port" --pipe >/dev/null
done

SKIPPED=()
SHA=""
if supports SCRIPT LOAD "return redis.call('INCR', KEYS[1])"; then
    SHA=$(redis-cli -p "$REDIS_PORT" SCRIPT LOAD "return redis.call('INCR', KEYS[1])")
    redis-cli -p "$FC_PORT" SCRIPT LOAD "return redis.call('INCR', KEYS[1])" >/dev/null
fi

HAVE_FCALL=""
LIB=$'#!lua name=bench\nredis.register_function(\'incr1\', function(keys, args) return redis.call(\'INCR\', keys[1]) end)'
if supports FUNCTION LOAD REPLACE "$LIB"; then
    redis-cli -p "$REDIS_PORT" FUNCTION LOAD REPLACE "$LIB" >/dev/null
    HAVE_FCALL=1
fi

WORKLOADS=(
    "PUBLISH x$SUBS|publish"
    "XADD|$N|XADD s * f v"
    "GEOSEARCH 5km|$GEO_N|GEOSEARCH geo FROMLONLAT 13.4 52.5 BYRADIUS 5 km ASC COUNT 10"
    "EVALSHA|$N|EVALSHA $SHA 1 ctr"
    "EVAL|$N|EVAL return(redis.call('INCR',KEYS[1])) 1 ctr"
    "FCALL|$N|FCALL incr1 1 ctr"
)
for spec in "${WORKLOADS[@]}"; do
    wl=${spec%%|*}
    rest=${spec#*|}
    [[ "$wl" =~ $ONLY ]] || continue
    if [[ ( "$wl" == EVALSHA && -z "$SHA" ) || ( "$wl" == FCALL && -z "$HAVE_FCALL" ) ]]; then
        SKIPPED+=("$wl")
        continue
    fi
    rounds=()
    for ((w = 1; w <= WARMUP; w++)); do rounds+=(w); done
    for ((r = 1; r <= ROUNDS; r++)); do rounds+=("$r"); done
    for round in "${rounds[@]}"; do
        ROUND=$round
        if [[ $round == w ]] || (( round % 2 )); then order="redis ferrocache"; else order="ferrocache redis"; fi
        for srv in $order; do
            if [[ $srv == redis ]]; then port=$REDIS_PORT; pid=$REDIS_PID; else port=$FC_PORT; pid=$FC_PID; fi
            if [[ "$rest" == publish ]]; then
                run_publish "$srv" "$port" "$pid"
            else
                reqs=${rest%%|*}
                # shellcheck disable=SC2086
                run_one "$srv" "$port" "$pid" "$wl" "$reqs" ${rest#*|}
            fi
        done
    done
    echo "   done: $wl"
done
# Sanity: both servers must give the same GEOSEARCH answer.
if [[ "GEOSEARCH" =~ $ONLY ]]; then
    a=$(redis-cli -p "$REDIS_PORT" GEOSEARCH geo FROMLONLAT 13.4 52.5 BYRADIUS 5 km ASC COUNT 10 WITHDIST)
    b=$(redis-cli -p "$FC_PORT" GEOSEARCH geo FROMLONLAT 13.4 52.5 BYRADIUS 5 km ASC COUNT 10 WITHDIST)
    [[ "$a" == "$b" ]] || echo "WARNING: GEOSEARCH replies differ" >&2
fi
stop_servers

SKIPPED_STR=$(IFS=,; echo "${SKIPPED[*]:-}")
python3 - "$RESULTS" "$SKIPPED_STR" <<'PY'
import statistics, sys

rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
skipped = sys.argv[2] if len(sys.argv) > 2 else ""
# (wl, srv) -> {round: (rps, p99, ops/cpu-s, cpu)}; warm-up rounds ("w") left out.
runs, order, deliv = {}, [], {}
for r in rows:
    if r[0] == "delivered":
        if r[5] != "w":
            deliv.setdefault(r[1], {})[r[5]] = (float(r[2]), float(r[3]))
        continue
    wl, srv, rnd = r[0], r[1], r[7]
    if rnd == "w":
        continue
    rps, p99, cpu, reqs, wall = (float(x or 0) for x in r[2:7])
    if wl not in order:
        order.append(wl)
    runs.setdefault((wl, srv), {})[rnd] = (rps, p99, reqs / cpu if cpu > 0 else 0.0, cpu)

def med(rs, i):
    xs = [x[i] for x in rs.values()]
    return statistics.median(xs) if xs else 0.0

def paired(a, b, i):
    """Per-round ratios a/b of field i, for rounds both have."""
    return [a[k][i] / b[k][i] for k in a if k in b and b[k][i] > 0]

def verdict(rs):
    if not rs:
        return "n/a", "n/a", "n/a"
    v = ">= 1 in every pair" if min(rs) >= 1 else "< 1 in every pair" if max(rs) < 1 else "parity (range spans 1)"
    return f"{statistics.median(rs):.2f}", f"{min(rs):.2f}-{max(rs):.2f}", v

print()
print("Throughput. ratio = median over rounds of the paired ratio ferrocache/redis;")
print("range = min-max of those paired ratios; ops/s, p99, ops/CPU-s = median of rounds.")
print()
print("| workload | rounds | redis ops/s | ferrocache ops/s | ratio | ratio range | verdict | redis p99 ms | ferrocache p99 ms "
      "| redis ops/CPU-s | ferrocache ops/CPU-s | CPU-eff. ratio | CPU-eff. range |")
print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
for wl in order:
    r, f = runs.get((wl, "redis"), {}), runs.get((wl, "ferrocache"), {})
    ratio, rng, v = verdict(paired(f, r, 0))
    eff, erng, _ = verdict(paired(f, r, 2))
    print(f"| {wl} | {len(paired(f, r, 0))} | {med(r, 0):,.0f} | {med(f, 0):,.0f} | {ratio} | {rng} | {v} "
          f"| {med(r, 1):.3f} | {med(f, 1):.3f} | {med(r, 2):,.0f} | {med(f, 2):,.0f} | {eff} | {erng} |")
if deliv:
    print()
    print("PUBLISH fan-out: messages delivered to subscribers (all of them, summed)")
    print()
    print("| server | delivered per run | delivered msgs/s | delivered per server CPU-s |")
    print("|---|---:|---:|---:|")
    per = {}
    for srv in ("redis", "ferrocache"):
        d = deliv.get(srv, {})
        pub = runs.get((next((w for w in order if w.startswith("PUBLISH")), ""), srv), {})
        if not d:
            continue
        per[srv] = {k: (n / t if t > 0 else 0.0, n / pub[k][3] if k in pub and pub[k][3] > 0 else 0.0)
                    for k, (n, t) in d.items()}
        print(f"| {srv} | {statistics.median([n for n, _ in d.values()]):,.0f} "
              f"| {statistics.median([x[0] for x in per[srv].values()]):,.0f} "
              f"| {statistics.median([x[1] for x in per[srv].values()]):,.0f} |")
    if "redis" in per and "ferrocache" in per:
        a, b = per["ferrocache"], per["redis"]
        s_ratio = verdict([a[k][0] / b[k][0] for k in a if k in b and b[k][0] > 0])
        c_ratio = verdict([a[k][1] / b[k][1] for k in a if k in b and b[k][1] > 0])
        print(f"| ratio (paired median, range) | | {s_ratio[0]} ({s_ratio[1]}) | {c_ratio[0]} ({c_ratio[1]}) |")
if skipped.strip():
    print()
    print(f"Skipped (not implemented in ferrocache yet): {skipped}")
PY
