#!/usr/bin/env bash
# Server CPU per page request, binary against binary (issue 14's "req per server CPU-second"):
# each binary serves the same fresh data folder (one project, one wheel) in turn; wrk asks for
# its simple page (HTML, then PEP 691 JSON) and the server's CPU-seconds (utime + stime from
# /proc, every thread) are read around each run. Rounds interleave the binaries, so a machine
# whose speed drifts moves them alike. CPU per request is what another load on the machine
# disturbs least; req/s is printed beside it.
#
# usage: scripts/bench/page_cost.sh BIN_A [BIN_B ...]
# env: ROUNDS=3 SECONDS_PER_RUN=6 CONNECTIONS=32 PORT=9161 WORK=/tmp/page-cost
#      WARMUP=2: seconds of the same load before each measured run, not counted (a server just
#      started still grows its allocator's arenas and faults its code in)
#      NGINX=1: nginx serving the same project as a static tree (servers/nginx-static.sh, on
#      PORT+1) is measured in every round beside the binaries (CPU of its master and workers)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -ge 1 ] || { sed -n '2,11p' "$0"; exit 2; }
ROUNDS=${ROUNDS:-3}
DUR=${SECONDS_PER_RUN:-6}
WARMUP=${WARMUP:-2}
CONN=${CONNECTIONS:-32}
PORT=${PORT:-9161}
WORK=${WORK:-/tmp/page-cost}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
rm -rf "$WORK"; mkdir -p "$WORK"
TICKS=$(getconf CLK_TCK)
cpu_of() { awk -v t="$TICKS" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
export STRONGROOM_LOG=warn STRONGROOM_REQUIRE_2FA=false STRONGROOM_RATE_LIMITS=false
export STRONGROOM_DOMAINS__CHECK_INTERVAL_HOURS=0

# The data: one project with one wheel, uploaded by the first binary.
python3 "$ROOT/scripts/bench/gen_corpus.py" --out "$WORK/corpus" --projects 1 --releases 1 \
  --tree-size 1 --tree-releases 1 >/dev/null
WHEEL=$(find "$WORK/corpus" -name '*.whl' | head -1)
DATA=$WORK/data
"$1" --data "$DATA" migrate >/dev/null
echo 'bench-password' | "$1" --data "$DATA" user create bench --email bench@example.org --password-stdin >/dev/null
TOKEN=$("$1" --data "$DATA" token create --user bench)
start() { # BIN -> pid
  "$1" --data "$DATA" serve --bind "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/simple/" >/dev/null 2>&1 && return; sleep 0.1; done
  echo "the server did not start: $(tail -5 "$WORK/server.log")" >&2; exit 1
}
start "$1"
NAME=$(basename "$WHEEL" | cut -d- -f1)
bash "$ROOT/scripts/bench/upload_curl.sh" "http://127.0.0.1:$PORT/legacy/" __token__ "$TOKEN" "$WHEEL" >/dev/null
kill "$pid"; wait "$pid" 2>/dev/null || true
PAGE="http://127.0.0.1:$PORT/simple/$(echo "$NAME" | tr '_' '-')/"
NGINX_PORT=$((PORT + 1))
if [ "${NGINX:-0}" = 1 ]; then
  BENCH_WORK=$WORK PORT=$NGINX_PORT bash "$ROOT/scripts/bench/servers/nginx-static.sh" start "$WORK/corpus" >/dev/null
  trap 'BENCH_WORK=$WORK bash "$ROOT/scripts/bench/servers/nginx-static.sh" stop' EXIT
  set -- "$@" nginx
fi
# CPU-seconds of a server: strongroom's one process, or nginx's master and its workers
server_cpu() {
  if [ "$1" = nginx ]; then
    local master total=0 p
    master=$(cat "$WORK/nginx/pid")
    for p in "$master" $(pgrep -P "$master"); do total=$(echo "$total + $(cpu_of "$p")" | bc -l); done
    echo "$total"
  else
    cpu_of "$pid"
  fi
}

: >"$WORK/results.tsv"
for round in $(seq "$ROUNDS"); do
  for bin in "$@"; do
    url=$PAGE
    if [ "$bin" = nginx ]; then url=${PAGE/:$PORT\//:$NGINX_PORT/}; else start "$bin"; fi
    for fmt in html json; do
      hdr=(); [ "$fmt" = json ] && hdr=(-H 'Accept: application/vnd.pypi.simple.v1+json')
      curl -fsS "${hdr[@]}" "$url" >/dev/null
      [ "$WARMUP" -gt 0 ] && wrk -t2 -c"$CONN" -d"${WARMUP}s" "${hdr[@]}" "$url" >/dev/null
      before=$(server_cpu "$bin")
      out=$(wrk -t2 -c"$CONN" -d"${DUR}s" "${hdr[@]}" "$url")
      after=$(server_cpu "$bin")
      reqs=$(echo "$out" | awk '/requests in/ {print $1}')
      printf '%s\t%s\t%s\t%s\t%s\n' "$bin" "$fmt" "$reqs" "$(echo "$after - $before" | bc -l)" "$round" >>"$WORK/results.tsv"
    done
    [ "$bin" = nginx ] || { kill "$pid"; wait "$pid" 2>/dev/null || true; }
  done
done
python3 - "$WORK/results.tsv" "$DUR" <<'PY'
import statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    b, fmt, reqs, cpu, _ = line.rstrip("\n").split("\t")
    rows[(b, fmt)].append((int(reqs), float(cpu)))
dur = float(sys.argv[2])
print("| binary | page | req/s (median) | server CPU µs per request (median, min-max) |")
print("|---|---|---:|---:|")
for (b, fmt), v in rows.items():
    per = [cpu / reqs * 1e6 for reqs, cpu in v if reqs]
    print(f"| {b} | {fmt} | {statistics.median(r for r, _ in v) / dur:,.0f} | "
          f"{statistics.median(per):.1f} ({min(per):.1f}-{max(per):.1f}) |")
PY
