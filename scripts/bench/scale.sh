#!/usr/bin/env bash
# The scale curve (issue 14): for each size, a fresh SQLite index filled by the hidden
# `strongroom admin generate-synthetic`, then
#   - generation time, peak RSS and database size,
#   - `admin log verify` time and peak RSS (the whole event chain),
#   - start-up: `serve` launched to /readyz answering 200,
#   - project pages with wrk (paths.lua): a Zipf spread over the projects (s = 1.1, a hot set as
#     real traffic has) and a uniform one; p50/p99 and req/s, then the server's RSS;
#   - upload latency: UPLOADS small wheels sent one at a time as new projects, then as new
#     releases of one project (`upload_latency.py`): median and worst ms of each.
#
# usage: scripts/bench/scale.sh [PROJECTS...]        default: 10000 100000 1000000
# env:   STRONGROOM_BIN=target/release/strongroom   FILES_PER_PROJECT=10  SAMPLE=100  SEED=1
#        SCALE_WORK=/tmp/scale-work (one data folder per size, replaced)  PORT=9100
#        WRK_DURATION=10  WRK_CONNS=64  PATHS=20000 (paths per spread)  KEEP=1 keeps the data
#        RSS_SETTLE=20: seconds after the pages before the server's RSS is read again (settled)
#        UPLOADS=20 (0: no upload latency; the uploads stay in a kept data folder)
#        REUSE=1: measure a data folder left by KEEP=1 (or generated otherwise) without generating
# Prints one Markdown table (also written to $SCALE_WORK/scale.md). Listens on 127.0.0.1 only;
# the server it starts is stopped by its PID. wrk must be installed (apt-get install wrk).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/scripts/bench
BIN=${STRONGROOM_BIN:-$ROOT/target/release/strongroom}
K=${FILES_PER_PROJECT:-10}
SAMPLE=${SAMPLE:-100}
SEED=${SEED:-1}
WORK=${SCALE_WORK:-/tmp/scale-work}
PORT=${PORT:-9100}
DUR=${WRK_DURATION:-10}
CONNS=${WRK_CONNS:-64}
NPATHS=${PATHS:-20000}
SETTLE=${RSS_SETTLE:-20}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 100000 1000000)
[ -x "$BIN" ] || { echo "no $BIN: cargo build --release -p strongroom" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is not installed: apt-get install wrk" >&2; exit 1; }
mkdir -p "$WORK"
export STRONGROOM_LOG=${STRONGROOM_LOG:-warn}
export STRONGROOM_RATE_LIMITS=false
export STRONGROOM_DOMAINS__CHECK_INTERVAL_HOURS=0
# the latency probe's account is made at the CLI, with no second factor
export STRONGROOM_REQUIRE_2FA=false
UPLOADS=${UPLOADS:-20}
BASE=http://127.0.0.1:$PORT

PID=""
stop() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then kill "$PID"; wait "$PID" 2>/dev/null || true; fi
  PID=""
}
trap stop EXIT

# `/usr/bin/time` output "seconds kilobytes" of a command (its own output to $2).
timed() { local out=$1; shift; /usr/bin/time -f "%e %M" -o "$out.time" "$@" >"$out" 2>&1; cat "$out.time"; }

# wrk over a paths file: "p50_ms p99_ms req_per_s"
wrk_run() {
  wrk -t2 -c"$CONNS" -d"${DUR}s" --timeout 10s -s "$HERE/paths.lua" "$BASE" -- "$1" 2>&1 |
    python3 -c '
import json, sys
for line in sys.stdin:
    if line.startswith("WRKJSON "):
        d = json.loads(line[8:])
        bad = d["err_status"] + d["err_timeout"] + d["err_connect"] + d["err_read"]
        print("%.2f %.2f %.0f %d" % (d["p50_us"] / 1000, d["p99_us"] / 1000,
                                     d["requests"] / (d["duration_us"] / 1e6), bad))
        break
else:
    print("- - - -")'
}

TABLE=$WORK/scale.md
{
  echo "| projects | files | generate s | generate MB RSS | db MB | log verify s | verify MB RSS | start-up to /readyz s | zipf p50/p99 ms | zipf req/s | uniform p50/p99 ms | uniform req/s | server RSS MB after (settled) | upload new project p50/max ms | upload new release p50/max ms |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} >"$TABLE"

for N in "${SIZES[@]}"; do
  DATA=$WORK/n$N
  if [ -n "${REUSE:-}" ]; then
    [ -f "$DATA/strongroom.db" ] || { echo "REUSE=1 but no $DATA/strongroom.db" >&2; exit 1; }
    GEN_S=-; GEN_KB=0
  else
    rm -rf "$DATA"; mkdir -p "$DATA"
    "$BIN" --data "$DATA" migrate >/dev/null 2>&1
    echo "== $N projects x $K files: generating" >&2
    read -r GEN_S GEN_KB < <(timed "$WORK/gen-$N.log" "$BIN" --data "$DATA" admin generate-synthetic \
      --projects "$N" --files-per-project "$K" --blobs-sample "$SAMPLE" --seed "$SEED")
    grep '^generated' "$WORK/gen-$N.log" >&2 || { cat "$WORK/gen-$N.log" >&2; exit 1; }
  fi
  DB_MB=$(du -cm "$DATA"/strongroom.db* | tail -1 | cut -f1)
  echo "== log verify" >&2
  read -r VER_S VER_KB < <(timed "$WORK/verify-$N.log" "$BIN" --data "$DATA" admin log verify)
  grep -q 'intact' "$WORK/verify-$N.log" || { cat "$WORK/verify-$N.log" >&2; exit 1; }
  echo "== start-up" >&2
  if curl -s -o /dev/null --max-time 2 "$BASE/"; then echo "port $PORT is already in use" >&2; exit 1; fi
  T0=$(date +%s.%N)
  "$BIN" --data "$DATA" serve --bind "127.0.0.1:$PORT" >"$WORK/serve-$N.log" 2>&1 &
  PID=$!
  until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE/readyz")" = 200 ]; do
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve-$N.log" >&2; exit 1; }
    sleep 0.02
  done
  T1=$(date +%s.%N)
  START_S=$(python3 -c "print('%.2f' % ($T1 - $T0))")
  # After an unclean stop the server answers at once and reads the database file whole in the
  # background (a `note:` on /readyz until it passes): measured apart, so the spreads below do
  # not share the machine with it.
  until [ "$(curl -s --max-time 5 "$BASE/readyz")" = ready ]; do
    kill -0 "$PID" 2>/dev/null || { cat "$WORK/serve-$N.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "   database file checked $(python3 -c "import time; print('%.1f' % (time.time() - $T0))") s after the start (0 when a clean stop vouched for it)" >&2
  echo "== pages (wrk ${DUR}s, $CONNS connections)" >&2
  # The names from the root JSON page (the same for every backend), then the two spreads.
  curl -s --max-time 600 -H 'Accept: application/vnd.pypi.simple.v1+json' "$BASE/simple/" >"$WORK/root-$N.json"
  python3 - "$WORK/root-$N.json" "$WORK" "$N" "$NPATHS" <<'EOF'
import json, random, re, sys
root, work, n, k = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
# the normalised names (PEP 503), as pip and uv ask for them: a display name answers 301
names = [re.sub(r"[-_.]+", "-", p["name"]).lower() for p in json.load(open(root))["projects"]]
rng = random.Random(14)
rng.shuffle(names)  # rank order unrelated to name order
s = 1.1
weights = [1 / (r ** s) for r in range(1, len(names) + 1)]
with open(f"{work}/zipf-{n}.txt", "w") as f:
    for name in rng.choices(names, weights=weights, k=k):
        f.write(f"/simple/{name}/\n")
with open(f"{work}/uniform-{n}.txt", "w") as f:
    for name in rng.choices(names, k=k):
        f.write(f"/simple/{name}/\n")
EOF
  read -r ZP50 ZP99 ZRPS ZBAD < <(wrk_run "$WORK/zipf-$N.txt")
  read -r UP50 UP99 URPS UBAD < <(wrk_run "$WORK/uniform-$N.txt")
  [ "$ZBAD" = 0 ] && [ "$UBAD" = 0 ] || echo "warning: non-2xx or errors: zipf $ZBAD, uniform $UBAD" >&2
  rss() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$PID/status"; }
  # right after the load, and again once the allocator has given back what it freed
  RSS_MB=$(rss)
  sleep "$SETTLE"
  RSS_MB="$RSS_MB ($(rss))"
  NEW_P50=- NEW_MAX=- REL_P50=- REL_MAX=-
  if [ "$UPLOADS" -gt 0 ]; then
    echo "== upload latency ($UPLOADS + $UPLOADS uploads)" >&2
    user=latency-$RANDOM
    echo 'latency-password' | "$BIN" --data "$DATA" user create "$user" --email "$user@example.org" \
      --password-stdin >/dev/null
    TOKEN=$("$BIN" --data "$DATA" token create --user "$user")
    read -r NEW_P50 NEW_MAX REL_P50 REL_MAX UPBAD < <(python3 "$HERE/upload_latency.py" \
      "$BASE/legacy/" "$TOKEN" "$UPLOADS" "$WORK/latency-wheels-$N")
    [ "$UPBAD" = 0 ] || echo "warning: $UPBAD uploads not answered 200" >&2
    rm -rf "$WORK/latency-wheels-$N"
  fi
  stop
  # counted, not assumed: a REUSE'd folder may have been generated with another K
  NFILES=$(python3 -c 'import sqlite3, sys
print(sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True).execute("SELECT COUNT(*) FROM files").fetchone()[0])' \
    "$DATA/strongroom.db")
  printf '| %s | %s | %s | %.0f | %s | %s | %.0f | %s | %s/%s | %s | %s/%s | %s | %s | %s/%s | %s/%s |\n' \
    "$N" "$NFILES" "$GEN_S" "$(echo "$GEN_KB/1024" | bc -l)" "$DB_MB" "$VER_S" "$(echo "$VER_KB/1024" | bc -l)" \
    "$START_S" "$ZP50" "$ZP99" "$ZRPS" "$UP50" "$UP99" "$URPS" "$RSS_MB" \
    "$NEW_P50" "$NEW_MAX" "$REL_P50" "$REL_MAX" >>"$TABLE"
  tail -1 "$TABLE" >&2
  [ -n "${KEEP:-}" ] || rm -rf "$DATA"
done
cat "$TABLE"
