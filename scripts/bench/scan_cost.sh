#!/usr/bin/env bash
# What the content scanner costs on the upload path (issue 13's bar: at most 10 % of an upload's
# server CPU, on wheels and sdists of real code), measured as CPU-seconds, not wall time.
#
# usage: scripts/bench/scan_cost.sh [FILE...]
#   default files: the wheels of botocore, pip, setuptools, requests, jinja2 and numpy from the test corpus
#   (.test-work/corpus, fetched by the test command or tests/tools/fetch_corpus.py)
#
# For each run (RUNS, default 3) a fresh strongroom (release build) on an empty data folder takes
# every file once through the real upload route (upload_curl.sh: the form twine sends, wheels only); the
# server's CPU-seconds (utime + stime from /proc) are read before and after each upload. The same
# binary's offline scanner (`strongroom admin scan`, the code the upload runs) is timed on each
# file, less the cost of scanning an empty wheel (process start-up). Reported per file: the
# upload's CPU-seconds, the scan's, and scan / (upload - scan): the scanner's cost relative to the
# rest of the upload path. Medians over the runs.
#
# NEXT=1 ("next release" mode): each run also starts a second fresh server, uploads the
# previous release of each file's project first (unmeasured; from .test-work/corpus-previous,
# fetched by tests/tools/fetch_previous.py), then measures the upload of the corpus file, whose
# unchanged members the scan cache (core::scan_cache) answers. Its scan cost is estimated as that
# upload's CPU-seconds less the rest of the upload path measured in the first mode (upload less
# offline scan) of the same run; reported beside the first-upload figures.
#
# env: STRONGROOM_BIN=target/release/strongroom RUNS=3 PORT=9131 WORK=/tmp/scan-cost NEXT=0
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${STRONGROOM_BIN:-$ROOT/target/release/strongroom}
RUNS=${RUNS:-3}
PORT=${PORT:-9131}
WORK=${WORK:-/tmp/scan-cost}
[ -x "$BIN" ] || { echo "no $BIN: cargo build --release -p strongroom" >&2; exit 1; }
CORPUS=${STRONGROOM_TEST_CORPUS:-$ROOT/.test-work/corpus}
if [ $# -gt 0 ]; then FILES=("$@"); else
  FILES=()
  for p in botocore pip setuptools requests jinja2 numpy; do
    for f in "$CORPUS"/"$p"-[0-9]*.whl; do [ -f "$f" ] && FILES+=("$f"); done
  done
fi
[ ${#FILES[@]} -gt 0 ] || { echo "no files: run the test command once (it fetches the corpus)" >&2; exit 1; }
rm -rf "$WORK"; mkdir -p "$WORK"
TICKS=$(getconf CLK_TCK)
cpu_of() { awk -v t="$TICKS" '{print ($14 + $15) / t}' "/proc/$1/stat"; }

# the offline scan of an empty wheel: process start-up, subtracted from each file's scan
python3 - "$WORK/empty-0.1-py3-none-any.whl" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("empty-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: empty\nVersion: 0.1\n")
PY
scan_cpu() { # CPU-seconds of `admin scan FILE`
  /usr/bin/time -f '%U %S' -o "$WORK/time" "$BIN" admin scan "$1" >/dev/null 2>&1 || true
  awk '{print $1 + $2}' "$WORK/time"
}

NEXT=${NEXT:-0}
PREVIOUS=${PREVIOUS:-$ROOT/.test-work/corpus-previous}
previous_of() { # the previous release's wheel of FILE's project, if fetched
  local name project
  name=$(basename "$1"); project=$(echo "$name" | cut -d- -f1)
  for p in "$PREVIOUS"/"$project"-[0-9]*.whl; do [ -f "$p" ] && { echo "$p"; return 0; }; done
  return 0
}
upload() { # URL TOKEN FILE
  local name; name=$(basename "$3")
  bash "$ROOT/scripts/bench/upload_curl.sh" "$1" __token__ "$2" "$3" \
    "$(echo "$name" | cut -d- -f1)" "$(echo "$name" | cut -d- -f2 | sed 's/\.tar\.gz$//; s/\.zip$//')" \
    >"$WORK/upload.out" 2>&1 || { echo "upload of $name failed:" >&2; cat "$WORK/upload.out" >&2; }
}
start_server() { # DATA -> sets pid, token
  "$BIN" --data "$1" migrate >/dev/null
  echo 'bench-password' | "$BIN" --data "$1" user create bench --email bench@example.org --password-stdin >/dev/null
  token=$("$BIN" --data "$1" token create --user bench)
  "$BIN" --data "$1" serve --bind "127.0.0.1:$PORT" >"$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/simple/" >/dev/null 2>&1 && break; sleep 0.1; done
}

export STRONGROOM_LOG=warn STRONGROOM_REQUIRE_2FA=false STRONGROOM_RATE_LIMITS=false
export STRONGROOM_DOMAINS__CHECK_INTERVAL_HOURS=0
RESULTS="$WORK/results.tsv"; : >"$RESULTS"
NEXT_RESULTS="$WORK/next.tsv"; : >"$NEXT_RESULTS"
for run in $(seq "$RUNS"); do
  start_server "$WORK/data-$run"
  base=$(scan_cpu "$WORK/empty-0.1-py3-none-any.whl")
  for f in "${FILES[@]}"; do
    name=$(basename "$f")
    before=$(cpu_of "$pid")
    upload "http://127.0.0.1:$PORT/legacy/" "$token" "$f"
    sleep 0.3 # the upload's last work (events, mails) settles
    after=$(cpu_of "$pid")
    scan=$(scan_cpu "$f")
    printf '%s\t%s\t%s\t%s\n' "$name" "$(echo "$after - $before" | bc -l)" "$(echo "$scan - $base" | bc -l)" "$run" >>"$RESULTS"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
  [ "$NEXT" = 1 ] || continue
  start_server "$WORK/next-$run"
  for f in "${FILES[@]}"; do
    prev=$(previous_of "$f")
    [ -n "$prev" ] || { echo "no previous release of $(basename "$f") in $PREVIOUS" >&2; continue; }
    upload "http://127.0.0.1:$PORT/legacy/" "$token" "$prev"
    sleep 0.3
    before=$(cpu_of "$pid")
    upload "http://127.0.0.1:$PORT/legacy/" "$token" "$f"
    sleep 0.3
    after=$(cpu_of "$pid")
    printf '%s\t%s\t%s\t%s\n' "$(basename "$f")" "$(echo "$after - $before" | bc -l)" "$(basename "$prev")" "$run" >>"$NEXT_RESULTS"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
python3 - "$RESULTS" "$NEXT_RESULTS" <<'PY'
import statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    name, up, scan, _ = line.rstrip("\n").split("\t")
    rows[name].append((float(up), max(float(scan), 0.0)))
print("| file | upload CPU-s (scan included) | scan CPU-s | scan / rest of the upload |")
print("|---|---:|---:|---:|")
tot_up = tot_scan = 0.0
for name, v in rows.items():
    up = statistics.median(u for u, _ in v); scan = statistics.median(s for _, s in v)
    tot_up += up; tot_scan += scan
    rest = max(up - scan, 1e-9)
    print(f"| {name} | {up:.3f} | {scan:.3f} | {scan / rest:.0%} |")
print(f"| all | {tot_up:.3f} | {tot_scan:.3f} | {tot_scan / max(tot_up - tot_scan, 1e-9):.0%} |")
nxt = defaultdict(list)
for line in open(sys.argv[2]):
    name, up, prev, run = line.rstrip("\n").split("\t")
    nxt[name].append((float(up), prev, int(run)))
if nxt:
    # the rest of the upload path, per run, from the first mode: upload less offline scan
    rest = defaultdict(dict)
    for line in open(sys.argv[1]):
        name, up, scan, run = line.rstrip("\n").split("\t")
        rest[name][int(run)] = float(up) - max(float(scan), 0.0)
    print()
    print("| next release (after) | upload CPU-s | rest of the upload (first mode) | scan CPU-s (estimated) | scan / rest |")
    print("|---|---:|---:|---:|---:|")
    for name, v in nxt.items():
        up = statistics.median(u for u, _, _ in v)
        r = statistics.median(rest[name][run] for _, _, run in v if run in rest[name])
        scan = max(up - r, 0.0)
        print(f"| {name} (after {v[0][1]}) | {up:.3f} | {r:.3f} | {scan:.3f} | {scan / max(r, 1e-9):.0%} |")
PY
