#!/usr/bin/env bash
# Benchmark the release build of strongroom with the package-index harness
# (run.sh / bench.py / upload_curl.sh, see docs/benchmarks.md).
#
# usage: scripts/bench.sh [--harness DIR] full     fresh data dir: every phase of run.sh (no
#                                                  authpw: tokens only)
#        scripts/bench.sh [--harness DIR] reread   restart on the data left by `full`, redo the
#                                                  read phases (verify,wrk,root,install,download),
#                                                  merged into the same result
#        scripts/bench.sh [--harness DIR] curl     fresh data dir: upload_curl.sh with the ~105 MB
#                                                  benchbig wheel
#
# --harness DIR: the folder holding the harness's run.sh and upload_curl.sh; default the copy in
#      this repository, scripts/bench/ (also settable as HARNESS=DIR).
# env: BENCH_WORK=/tmp/bench-work  RESULTS=$BENCH_WORK/results
#      PORT=9000  STRONGROOM_BIN=target/release/strongroom  LABEL=strongroom
#      MAX_FILE_SIZE=209715200 (the corpus's big wheel is 104,859,160 B, just over the default
#      100 MiB limits.max_file_size)
# Build first: cargo build --release -p strongroom. Listens on 127.0.0.1 only; the server it
# starts is stopped (by its PID) on exit. Peak RSS (VmHWM) goes to $RESULTS/$LABEL-<mode>.vmhwm.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$ROOT/scripts/bench}
while [ $# -gt 0 ]; do
  case "$1" in
    --harness) [ $# -ge 2 ] || { echo "--harness needs a folder" >&2; exit 2; }; HARNESS=$2; shift 2 ;;
    --harness=*) HARNESS=${1#--harness=}; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
MODE=${1:-full}
BIN=${STRONGROOM_BIN:-$ROOT/target/release/strongroom}
for f in run.sh upload_curl.sh bench.py gen_corpus.py; do
  [ -f "$HARNESS/$f" ] || {
    echo "bench.sh: no $f in the harness folder $HARNESS: pass the benchmark harness with" \
         "--harness DIR (the folder with run.sh, bench.py, gen_corpus.py, upload_curl.sh;" \
         "this repository's copy is scripts/bench)" >&2
    exit 2
  }
done
HARNESS=$(cd "$HARNESS" && pwd)
export BENCH_WORK=${BENCH_WORK:-/tmp/bench-work}
export RESULTS=${RESULTS:-$BENCH_WORK/results}
export CORPUS=${CORPUS:-$BENCH_WORK/corpus}
PORT=${PORT:-9000}
LABEL=${LABEL:-strongroom}
BASE=http://127.0.0.1:$PORT
export STRONGROOM_LIMITS__MAX_FILE_SIZE=${MAX_FILE_SIZE:-209715200}
export STRONGROOM_LOG=${STRONGROOM_LOG:-warn}
# The bench account is made at the CLI with no second factor and uploads hundreds of new projects:
# turn off the 2FA requirement and the new-project rate limit (the peers have neither), and the
# email-domain checks (no network here).
export STRONGROOM_REQUIRE_2FA=${STRONGROOM_REQUIRE_2FA:-false}
export STRONGROOM_RATE_LIMITS=${STRONGROOM_RATE_LIMITS:-false}
export STRONGROOM_DOMAINS__CHECK_INTERVAL_HOURS=${STRONGROOM_DOMAINS__CHECK_INTERVAL_HOURS:-0}
mkdir -p "$RESULTS"
[ -x "$BIN" ] || { echo "no $BIN: cargo build --release -p strongroom" >&2; exit 1; }

case "$MODE" in
  full|reread) DATA=$BENCH_WORK/strongroom ;;
  curl) DATA=$BENCH_WORK/strongroom-curl ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
if [ "$MODE" != reread ]; then rm -rf "$DATA"; fi
[ -d "$DATA" ] || mkdir -p "$DATA"

SR() { "$BIN" --data "$DATA" "$@"; }
PID=""
stop() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    grep -E 'VmHWM|VmRSS' "/proc/$PID/status" | tee "$RESULTS/$LABEL-$MODE.vmhwm" || true
    kill "$PID"; wait "$PID" 2>/dev/null || true
  fi
}
trap stop EXIT

if [ "$MODE" != reread ]; then
  # `user create` works on an existing index only: make it first.
  SR migrate >/dev/null
  # strongroom requires passwords of 8+ characters; uploads only accept API tokens anyway.
  echo 'bench-password' | SR user create bench --email bench@example.org --password-stdin >/dev/null
fi
TOKEN=$(SR token create --user bench)
if curl -s -o /dev/null --max-time 2 "$BASE/"; then echo "port $PORT is already in use" >&2; exit 1; fi
"$BIN" --data "$DATA" serve --bind "127.0.0.1:$PORT" >"$RESULTS/$LABEL-$MODE.server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$BASE/healthz" >/dev/null || { cat "$RESULTS/$LABEL-$MODE.server.log" >&2; exit 1; }
echo "strongroom $("$BIN" --version 2>/dev/null || true) pid $PID on $BASE, data $DATA" >&2

case "$MODE" in
  full)
    LABEL=$LABEL SERVER_PID=$PID bash "$HARNESS/run.sh" \
      "$BASE/legacy/" "$BASE/simple/" __token__ "$TOKEN" ;;
  reread)
    APPEND=1 PHASES=${PHASES:-verify,wrk,root,install,download} LABEL=$LABEL SERVER_PID=$PID \
      bash "$HARNESS/run.sh" - "$BASE/simple/" x x ;;
  curl)
    bash "$HARNESS/upload_curl.sh" "$BASE/legacy/" __token__ "$TOKEN" \
      "$CORPUS/big/benchbig-1.0.0-py3-none-any.whl" | tee "$RESULTS/$LABEL-curl.txt" ;;
esac
