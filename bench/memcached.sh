#!/usr/bin/env bash
# ferrocache memcached vs memcached 1.6, side by side, same load generator
# (memaslap from libmemcached-tools, `memcaslap` on Debian).
#
#   bench/memcached.sh                    # build, run everything, print tables
#   NO_BUILD=1 DURATION=10s ROUNDS=3 bench/memcached.sh
#
# Workloads: get:set 10:1 with 32-byte and 1 KiB values, 50 connections,
# single gets and multi-get batches of 10 (-d 10). Two setups:
#   pinned:   both servers with -t 1 on core SERVER_CPU, memaslap on CLIENT_CPU
#   unpinned: both servers with -t 2, nothing pinned
# Rounds alternate between the servers; the median TPS is reported with the
# ratio ferrocache / memcached, and the median server efficiency (operations
# per CPU-second the server process used, from /proc/<pid>/stat) with its
# ratio: on a shared machine TPS follows the CPU each server happened to
# get, efficiency much less so. The last two columns give the efficiency's
# min-max over the rounds (its spread). Then memory per item: RSS after MEM_ITEMS
# items of 100 bytes (both with -m 1024, so nothing is evicted).
#
# Environment: ROUNDS (3), DURATION (5s), CLIENTS (50), MEM_ITEMS (1000000),
# SERVER_CPU (0), CLIENT_CPU (1), NO_BUILD=1, OUT (raw TSV results).
set -euo pipefail

cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CLIENTS=${CLIENTS:-50}
MEM_ITEMS=${MEM_ITEMS:-1000000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
FC_BIN=${FC_BIN:-target/release/ferrocache}
MC_PORT=${MC_PORT:-17411}
FC_PORT=${FC_PORT:-17412}
SLAP=$(command -v memcaslap || command -v memaslap || true)

for tool in memcached taskset python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
[[ -n "$SLAP" ]] || { echo "missing memaslap (apt-get install libmemcached-tools)" >&2; exit 1; }

if [[ -z "${NO_BUILD:-}" ]]; then
    cargo build --release --bin ferrocache
fi

WORK=$(mktemp -d)
RESULTS="$WORK/results.tsv"
PIDS=()
cleanup() {
    for p in "${PIDS[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

RUN_AS=()
[[ "$(id -u)" == 0 ]] && RUN_AS=(-u root)

start_servers() { # $1 threads, $2 pin (1/0)
    local pin=()
    [[ "$2" == 1 ]] && pin=(taskset -c "$SERVER_CPU")
    "${pin[@]}" memcached "${RUN_AS[@]}" -p "$MC_PORT" -l 127.0.0.1 -U 0 -m 1024 -t "$1" &
    MC_PID=$!
    "${pin[@]}" "$FC_BIN" memcached -p "$FC_PORT" -l 127.0.0.1 -m 1024 -t "$1" &
    FC_PID=$!
    PIDS=("$MC_PID" "$FC_PID")
    sleep 0.5
}

stop_servers() {
    kill "$MC_PID" "$FC_PID" 2>/dev/null || true
    wait "$MC_PID" "$FC_PID" 2>/dev/null || true
    PIDS=()
}

cfg() { # $1 value size
    cat > "$WORK/slap.cfg" <<CFG
key
16 16 1
value
$1 $1 1
cmd
0 0.0909
1 0.9091
CFG
}

cpu_ticks() { # $1 pid: utime + stime in clock ticks
    awk '{print $14 + $15}' "/proc/$1/stat"
}

tps() { # $1 port, $2 division, $3 pin, $4 server pid -> "TPS OPS_PER_CPU_SECOND"
    local pin=() t0 t1 out
    [[ "$3" == 1 ]] && pin=(taskset -c "$CLIENT_CPU")
    t0=$(cpu_ticks "$4")
    out=$("${pin[@]}" "$SLAP" -s "127.0.0.1:$1" -F "$WORK/slap.cfg" -t "$DURATION" -T 1 \
        -c "$CLIENTS" -d "$2" 2>/dev/null | awk '/^Run time/ {for (i=1;i<=NF;i++) {if ($i=="TPS:") t=$(i+1); if ($i=="Ops:") o=$(i+1)}} END {print t, o}')
    t1=$(cpu_ticks "$4")
    # Server CPU efficiency: operations per CPU-second the server used
    # (robust on a shared machine, where TPS depends on the CPU it got).
    python3 -c "import sys; t, o = '$out'.split() or ['0', '0']; ticks = $t1 - $t0; print(t, int(int(o) * $(getconf CLK_TCK) / ticks) if ticks else 0)"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : int((a[NR/2]+a[NR/2+1])/2)}'; }
# min-max of the rounds: the spread a shared machine gives the median.
spread() { sort -n | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo "-" hi}'; }

printf "setup\tworkload\tmemcached_tps\tferrocache_tps\tratio\tmc_ops/cpu-s\tfc_ops/cpu-s\tcpu_ratio\tmc_ops/cpu-s_range\tfc_ops/cpu-s_range\n" > "$RESULTS"
for setup in pinned unpinned; do
    if [[ $setup == pinned ]]; then threads=1; pin=1; else threads=2; pin=0; fi
    start_servers "$threads" "$pin"
    for size in 32 1024; do
        cfg "$size"
        for div in 1 10; do
            mc=(); fc=(); mce=(); fce=()
            for _ in $(seq "$ROUNDS"); do
                read -r t e < <(tps "$MC_PORT" "$div" "$pin" "$MC_PID"); mc+=("$t"); mce+=("$e")
                read -r t e < <(tps "$FC_PORT" "$div" "$pin" "$FC_PID"); fc+=("$t"); fce+=("$e")
            done
            m=$(printf "%s\n" "${mc[@]}" | median)
            f=$(printf "%s\n" "${fc[@]}" | median)
            me=$(printf "%s\n" "${mce[@]}" | median)
            fe=$(printf "%s\n" "${fce[@]}" | median)
            mer=$(printf "%s\n" "${mce[@]}" | spread)
            fer=$(printf "%s\n" "${fce[@]}" | spread)
            ratio=$(python3 -c "print(f'{$f/$m:.2f}' if $m else 'n/a')")
            eratio=$(python3 -c "print(f'{$fe/$me:.2f}' if $me else 'n/a')")
            label="get:set 10:1 ${size}B $( [[ $div == 1 ]] && echo single-get || echo "multi-get x$div")"
            printf "%s (-t %s)\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n" "$setup" "$threads" "$label" "$m" "$f" "$ratio" "$me" "$fe" "$eratio" "$mer" "$fer" >> "$RESULTS"
        done
    done
    stop_servers
done

# Memory per item.
cat > "$WORK/fill.py" <<'PY'
import socket, sys
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rss():
    for l in open("/proc/%d/status" % pid):
        if l.startswith("VmRSS"):
            return int(l.split()[1]) * 1024
s = socket.create_connection(("127.0.0.1", port))
val = b"v" * 100
batch = []
for i in range(n):
    batch.append(b"set key:%08d 0 0 100 noreply\r\n%s\r\n" % (i, val))
    if len(batch) == 2000:
        s.sendall(b"".join(batch)); batch = []
s.sendall(b"".join(batch) + b"mn\r\n")
buf = b""
while not buf.endswith(b"MN\r\n"):
    buf += s.recv(100)
print(rss() / n)
PY
start_servers 2 0
mc_mem=$(python3 "$WORK/fill.py" "$MC_PORT" "$MEM_ITEMS" "$MC_PID")
fc_mem=$(python3 "$WORK/fill.py" "$FC_PORT" "$MEM_ITEMS" "$FC_PID")
stop_servers

echo
echo "Throughput (memaslap, $CLIENTS connections, $DURATION per run, median of $ROUNDS)"
column -t -s $'\t' "$RESULTS"
echo
printf "Memory: RSS per item after %s items of 100 bytes: memcached %.1f B, ferrocache %.1f B\n" \
    "$MEM_ITEMS" "$mc_mem" "$fc_mem"
[[ -n "${OUT:-}" ]] && cp "$RESULTS" "$OUT"
exit 0
