#!/usr/bin/env bash
# Benchmark strongroom as a gateway to an upstream index (docs/gateway.md, docs/benchmarks.md).
#
# usage: scripts/bench/gateway.sh
#
# One run, on 127.0.0.1 only:
#   upstream  nginx serving the 51-distribution tree (benchapp + 50 deps, 3 releases each) as a
#             static PEP 503/691 tree (servers/nginx-static.sh), standing in for the public index
#   local     a strongroom holding the same tree as uploaded projects
#   gateway   a strongroom with no projects and `--upstream <nginx>/simple/`
# and measures
#   installs  pip and uv (no client cache) of benchapp: straight from the upstream; through the
#             gateway cold (the gateway restarted on an empty data folder before every run);
#             through the gateway warm (everything cached); from the local strongroom. RUNS
#             rounds, each running every variant once (interleaved); medians over the rounds
#   wrk       one project page (HTML and JSON) and one file, local vs gateway (warm)
# Results: $RESULTS/gateway.md (a table) and the hyperfine/wrk raw files beside it.
#
# env: STRONGROOM_BIN=target/release/strongroom BENCH_WORK=/tmp/bench-work RESULTS=$BENCH_WORK/results
#      RUNS=5 WRK_DURATION=10 WRK_CONNS=32 UP_PORT=8091 LOCAL_PORT=9101 GW_PORT=9102
# Needs nginx, wrk, hyperfine (apt-get installs them when run as root), python3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/scripts/bench"
BIN=${STRONGROOM_BIN:-$ROOT/target/release/strongroom}
export BENCH_WORK=${BENCH_WORK:-/tmp/bench-work}
RESULTS=${RESULTS:-$BENCH_WORK/results}
CORPUS=$BENCH_WORK/corpus-gateway
RUNS=${RUNS:-5}
WRK_DURATION=${WRK_DURATION:-10}
WRK_CONNS=${WRK_CONNS:-32}
UP_PORT=${UP_PORT:-8091}
LOCAL_PORT=${LOCAL_PORT:-9101}
GW_PORT=${GW_PORT:-9102}
VENV=$BENCH_WORK/venv-tools
mkdir -p "$RESULTS"; rm -f "$RESULTS"/gw-*.*.json # rounds a stopped run left
[ -x "$BIN" ] || { echo "no $BIN: cargo build --release -p strongroom" >&2; exit 1; }
missing=""
for t in curl wrk hyperfine nginx; do command -v "$t" >/dev/null || missing="$missing $t"; done
if [ -n "$missing" ]; then
  [ "$(id -u)" = 0 ] || { echo "missing tools:$missing" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
if [ ! -x "$VENV/bin/twine" ] || [ ! -x "$VENV/bin/uv" ]; then
  python3 -m venv "$VENV"; "$VENV/bin/pip" install -q -U pip; "$VENV/bin/pip" install -q twine uv
fi
[ -f "$CORPUS/manifest.json" ] || python3 "$HERE/gen_corpus.py" --out "$CORPUS" \
  --projects 0 --releases 1 --tree-size 50 --tree-releases 3 --filler 0 --seed 1
APP=$(cat "$CORPUS/app.txt")

export STRONGROOM_LOG=${STRONGROOM_LOG:-warn}
export STRONGROOM_REQUIRE_2FA=false STRONGROOM_RATE_LIMITS=false
export STRONGROOM_DOMAINS__CHECK_INTERVAL_HOURS=0
LOCAL_DATA=$BENCH_WORK/gw-local GW_DATA=$BENCH_WORK/gw-gateway
# A cold run's data folder is moved here and deleted at the end, not before the next run: on a
# file system without a journal (these machines' ext4), every inode allocated within seconds
# of thousands being deleted scans them (the kernel's `recently_deleted`), a cost that would
# fall on the server measured and on no deployed one.
GW_TRASH=$BENCH_WORK/gw-trash
LOCAL_PID="" GW_PID=""
cleanup() {
  for p in $LOCAL_PID $GW_PID; do kill "$p" 2>/dev/null || true; done
  pkill -f -- "--data $GW_DATA serve" 2>/dev/null || true
  rm -rf "$GW_TRASH"
  PORT=$UP_PORT bash "$HERE/servers/nginx-static.sh" stop || true
}
trap cleanup EXIT

up() { # up DATA PORT [ARGS...] -> pid on stdout
  local data=$1 port=$2; shift 2
  "$BIN" --data "$data" serve --bind "127.0.0.1:$port" "$@" >"$data.log" 2>&1 &
  local pid=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$data.log" >&2; exit 1; }
  echo "$pid"
}

# upstream
PORT=$UP_PORT bash "$HERE/servers/nginx-static.sh" start "$CORPUS" >&2
UPSTREAM=http://127.0.0.1:$UP_PORT/simple/

# local strongroom with the tree uploaded
rm -rf "$LOCAL_DATA" "$LOCAL_DATA.log"; mkdir -p "$LOCAL_DATA"
"$BIN" --data "$LOCAL_DATA" migrate >/dev/null
echo 'bench-password' | "$BIN" --data "$LOCAL_DATA" user create bench --email bench@example.org --password-stdin >/dev/null
TOKEN=$("$BIN" --data "$LOCAL_DATA" token create --user bench)
LOCAL_PID=$(up "$LOCAL_DATA" "$LOCAL_PORT")
"$VENV/bin/twine" upload --disable-progress-bar --non-interactive -u __token__ -p "$TOKEN" \
  --repository-url "http://127.0.0.1:$LOCAL_PORT/legacy/" "$CORPUS"/dist/*.whl >/dev/null

# gateway (restarted empty by `fresh_gateway`, the cold runs' --prepare)
cat >"$BENCH_WORK/gw-fresh.sh" <<EOF
#!/usr/bin/env bash
set -e
pkill -f -- "--data $GW_DATA serve" 2>/dev/null || true
for _ in \$(seq 100); do pgrep -f -- "--data $GW_DATA serve" >/dev/null || break; sleep 0.05; done
mkdir -p "$GW_TRASH"; [ ! -d "$GW_DATA" ] || mv "$GW_DATA" "$GW_TRASH/\$(date +%s%N)"
rm -f "$GW_DATA.log"; mkdir -p "$GW_DATA"
STRONGROOM_LOG=warn STRONGROOM_REQUIRE_2FA=false STRONGROOM_RATE_LIMITS=false STRONGROOM_DOMAINS__CHECK_INTERVAL_HOURS=0 \
  nohup "$BIN" --data "$GW_DATA" serve --bind 127.0.0.1:$GW_PORT --upstream $UPSTREAM >"$GW_DATA.log" 2>&1 &
for _ in \$(seq 200); do curl -sf http://127.0.0.1:$GW_PORT/healthz >/dev/null && exit 0; sleep 0.05; done
exit 1
EOF
chmod +x "$BENCH_WORK/gw-fresh.sh"

PY=$VENV/bin/python
TGT=$BENCH_WORK/gw-target
pip_cmd() { echo "PIP_CONFIG_FILE=/dev/null $PY -m pip install -q --no-cache-dir --disable-pip-version-check --no-input --no-compile --index-url $1 --target $TGT $APP"; }
uv_cmd() { echo "$VENV/bin/uv pip install -q --no-config --no-cache --index-url $1 --python $PY --target $TGT $APP"; }
hf() { # hf NAME ROUND PREPARE CMD: one timed run, kept as $RESULTS/gw-NAME.ROUND.json
  hyperfine --runs 1 --style basic --prepare "rm -rf $TGT; $3" --export-json "$RESULTS/gw-$1.$2.json" "$4" >&2
  local n; n=$(ls "$TGT" | grep -c '\.dist-info$' || true)
  [ "$n" = 51 ] || { echo "$1: installed $n of 51 distributions" >&2; exit 1; }
}
# Interleaved: each round runs every variant once (upstream, gateway cold, gateway warm, local),
# so a machine whose speed drifts during the run (a shared host) shifts all four alike.
for round in $(seq "$RUNS"); do
  for tool in pip uv; do
    cmd=${tool}_cmd
    hf "$tool-upstream" "$round" true "$($cmd "$UPSTREAM")"
    hf "$tool-gateway-cold" "$round" "$BENCH_WORK/gw-fresh.sh" "$($cmd "http://127.0.0.1:$GW_PORT/simple/")"
    hf "$tool-gateway-warm" "$round" true "$($cmd "http://127.0.0.1:$GW_PORT/simple/")"
    hf "$tool-local" "$round" true "$($cmd "http://127.0.0.1:$LOCAL_PORT/simple/")"
  done
done
# The rounds of each variant as one hyperfine-shaped result (times, median, min, max).
$PY - "$RESULTS" <<'PYEOF'
import glob, json, os, statistics, sys
results = sys.argv[1]
names = {os.path.basename(p).split(".")[0] for p in glob.glob(os.path.join(results, "gw-*.*.json"))}
for name in sorted(names):
    times = []
    for p in sorted(glob.glob(os.path.join(results, f"{name}.*.json"))):
        times += json.load(open(p))["results"][0]["times"]
        os.remove(p)
    r = {"command": name, "times": times, "median": statistics.median(times),
         "mean": statistics.mean(times), "min": min(times), "max": max(times)}
    json.dump({"results": [r]}, open(os.path.join(results, f"{name}.json"), "w"))
PYEOF
GW_PID=$(pgrep -f -- "--data $GW_DATA serve" | head -1)

# wrk: one page and one file, local vs warm gateway
DEP=$(sed -n 's/.*"name": "\(benchdep-[^"]*\)".*/\1/p' "$CORPUS/manifest.json" | head -1)
page_local=http://127.0.0.1:$LOCAL_PORT/simple/$DEP/
page_gw=http://127.0.0.1:$GW_PORT/simple/$DEP/
file_local=$(curl -s "$page_local" | sed -n 's/.*href="\([^"#]*\)#.*/\1/p' | head -1)
file_gw=$(curl -s "$page_gw" | sed -n 's/.*href="\([^"#]*\)#.*/\1/p' | head -1)
file_local=http://127.0.0.1:$LOCAL_PORT/${file_local#../../}
file_gw=http://127.0.0.1:$GW_PORT/${file_gw#../../}
curl -sf -o /dev/null "$file_gw" # cached before the run
wrk_rps() { # wrk_rps NAME URL [HEADER]
  local out=$RESULTS/gw-wrk-$1.txt
  if [ -n "${3:-}" ]; then wrk -t2 -c"$WRK_CONNS" -d"${WRK_DURATION}s" --latency -H "$3" "$2" >"$out"
  else wrk -t2 -c"$WRK_CONNS" -d"${WRK_DURATION}s" --latency "$2" >"$out"; fi
  grep -q "Non-2xx" "$out" && { echo "$1: non-2xx answers" >&2; cat "$out" >&2; exit 1; }
  awk '/Requests\/sec/ {print $2}' "$out"
}
J='Accept: application/vnd.pypi.simple.v1+json'
declare -A W
W[html_local]=$(wrk_rps html-local "$page_local")
W[html_gw]=$(wrk_rps html-gateway "$page_gw")
W[json_local]=$(wrk_rps json-local "$page_local" "$J")
W[json_gw]=$(wrk_rps json-gateway "$page_gw" "$J")
W[file_local]=$(wrk_rps file-local "$file_local")
W[file_gw]=$(wrk_rps file-gateway "$file_gw")

med() { $PY -c "import json,sys; r=json.load(open(sys.argv[1]))['results'][0]; print(f\"{r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})\")" "$RESULTS/gw-$1.json"; }
medv() { $PY -c "import json,sys; print(json.load(open(sys.argv[1]))['results'][0]['median'])" "$RESULTS/gw-$1.json"; }
ratio() { $PY -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2]):.2f}')" "$1" "$2"; }
{
  echo "| install of $APP (51 distributions), no client cache | pip: median s (min-max) | uv: median s (min-max) |"
  echo "|---|---|---|"
  for k in upstream gateway-cold gateway-warm local; do echo "| $k | $(med pip-$k) | $(med uv-$k) |"; done
  echo "| gateway cold / upstream | $(ratio "$(medv pip-gateway-cold)" "$(medv pip-upstream)") | $(ratio "$(medv uv-gateway-cold)" "$(medv uv-upstream)") |"
  echo "| gateway warm / local | $(ratio "$(medv pip-gateway-warm)" "$(medv pip-local)") | $(ratio "$(medv uv-gateway-warm)" "$(medv uv-local)") |"
  echo
  echo "| wrk, $WRK_CONNS connections, ${WRK_DURATION} s | local req/s | gateway (cached) req/s | gateway / local |"
  echo "|---|---|---|---|"
  for k in html json file; do
    echo "| $k | ${W[${k}_local]} | ${W[${k}_gw]} | $(ratio "${W[${k}_gw]}" "${W[${k}_local]}") |"
  done
} | tee "$RESULTS/gateway.md"
