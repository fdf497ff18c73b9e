#!/usr/bin/env bash
# Persistence benchmark: ferrocache vs redis-server 7.0, same data, same run.
#
#   bench/persist.sh                 # 1 GB of data (SIZE_MB=1024)
#   SIZE_MB=256 bench/persist.sh     # smaller, for a quick look
#
# Measures, for each server:
#   - SAVE: seconds and MB/s of RDB written;
#   - load at start: seconds from process start to the first PONG, and MB/s;
#   - GET/SET p50/p99 (redis-benchmark, 50 clients) idle vs while BGSAVE runs
#     back to back for the whole measurement;
#   - extra memory of the BGSAVE child: peak Private_Dirty of the forked
#     child (pages copied on write), and the parent's RSS.
# Needs: redis-server, redis-cli, redis-benchmark; builds target/release/ferrocache.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MB=${SIZE_MB:-1024}
VALUE=${VALUE:-1000}
KEYS=$((SIZE_MB * 1024 * 1024 / (VALUE + 16)))
REQS=${REQS:-200000}
THREADS=${THREADS:-2}
BIN=target/release/ferrocache
WORK=$(mktemp -d /tmp/ferrocache-persist-bench.XXXXXX)
trap 'for p in $(cat "$WORK"/*.pid 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT

cargo build --release --bin ferrocache >/dev/null 2>&1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start() { # name port dir
  local name=$1 port=$2 dir=$3
  if [ "$name" = redis ]; then
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
      --logfile "$dir/log" & echo $! > "$WORK/$name.pid"
  else
    "$BIN" redis --port "$port" --bind 127.0.0.1 --save '' --dir "$dir" --threads "$THREADS" \
      >"$dir/log" 2>&1 & echo $! > "$WORK/$name.pid"
  fi
  local t0; t0=$(date +%s.%N)
  until [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; do sleep 0.02; done
  # (written to a file: the caller must not run this in a subshell, whose
  # exit would run the cleanup trap)
  echo "$(date +%s.%N) - $t0" | bc > "$WORK/elapsed"
}

stop() { # name port
  redis-cli -p "$2" shutdown nosave >/dev/null 2>&1 || true
  local pid; pid=$(cat "$WORK/$1.pid")
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
}

fill() { # port
  # Values: a window of a random pool, so LZF has realistic work to do.
  local pool; pool=$(head -c 12000 /dev/urandom | base64 -w0)
  seq 1 "$KEYS" | awk -v pool="$pool" -v n="$VALUE" '{
      k = "key:" $1; v = substr(pool, ($1 * 37) % 4000 + 1, n);
      printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v }' |
    redis-cli -p "$1" --pipe >/dev/null
}

p99() { # port -> "get_p50 get_p99 set_p50 set_p99"
  redis-benchmark -p "$1" -t get,set -n "$REQS" -c 50 -r "$KEYS" -d "$VALUE" --csv 2>/dev/null |
    awk -F'","' '/^"GET"|^"SET"/ { gsub(/"/, "", $0); split($0, a, ","); printf "%s %s ", a[5], a[7] }'
}

child_dirty_peak() { # parent-pid -> peak Private_Dirty kB of its children while they live
  local peak=0 seen=0
  for _ in $(seq 6000); do
    local c; c=$(pgrep -P "$1" | head -1 || true)
    if [ -n "$c" ]; then
      seen=1
      local d; d=$(awk '/^Private_Dirty/ {print $2}' "/proc/$c/smaps_rollup" 2>/dev/null || echo 0)
      [ "${d:-0}" -gt "$peak" ] && peak=$d
    elif [ $seen = 1 ]; then break; fi
    sleep 0.01
  done
  echo "$peak"
}

bgsave_loop() { # port name  (BGSAVE back to back until killed)
  while true; do
    redis-cli -p "$1" bgsave >/dev/null 2>&1 || true
    sleep 0.05
    while redis-cli -p "$1" info persistence | grep -q 'rdb_bgsave_in_progress:1'; do sleep 0.02; done
  done
}

echo "dataset: $KEYS keys x $VALUE bytes (~${SIZE_MB} MB), $(nproc) cores, ferrocache --threads $THREADS"
printf "%-10s %9s %9s %9s %9s %11s %11s %11s %11s %10s %10s\n" server save_s save_MB/s load_s load_MB/s \
  "get_p99" "get_p99_bg" "set_p99" "set_p99_bg" "cow_MB" "rss_MB"
for name in redis ferrocache; do
  dir="$WORK/$name"; mkdir -p "$dir"
  port=$(free_port)
  start "$name" "$port" "$dir"
  fill "$port"
  t0=$(date +%s.%N); redis-cli -p "$port" save >/dev/null; t1=$(date +%s.%N)
  save_s=$(echo "$t1 - $t0" | bc)
  bytes=$(stat -c %s "$dir/dump.rdb")
  save_mbs=$(echo "scale=1; $bytes / 1048576 / $save_s" | bc)
  stop "$name" "$port"
  start "$name" "$port" "$dir"
  load_s=$(cat "$WORK/elapsed")
  load_mbs=$(echo "scale=1; $bytes / 1048576 / $load_s" | bc)
  read -r g50 g99 s50 s99 <<<"$(p99 "$port")"
  pid=$(cat "$WORK/$name.pid")
  bgsave_loop "$port" & loop=$!
  child_dirty_peak "$pid" > "$WORK/cow" & cowp=$!
  read -r bg50 bg99 bs50 bs99 <<<"$(p99 "$port")"
  kill "$loop" 2>/dev/null || true; wait "$loop" 2>/dev/null || true
  wait "$cowp" || true
  cow_mb=$(echo "scale=1; $(cat "$WORK/cow") / 1024" | bc)
  rss_mb=$(echo "scale=1; $(awk '/^VmRSS/ {print $2}' /proc/"$pid"/status) / 1024" | bc)
  printf "%-10s %9.2f %9s %9.2f %9s %11s %11s %11s %11s %10s %10s\n" "$name" "$save_s" "$save_mbs" "$load_s" "$load_mbs" \
    "$g99" "$bg99" "$s99" "$bs99" "$cow_mb" "$rss_mb"
  stop "$name" "$port"
done
echo "(latencies in ms; *_bg = while BGSAVE runs back to back; cow_MB = peak private dirty memory of the BGSAVE child)"
