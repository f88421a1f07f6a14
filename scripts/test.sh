#!/usr/bin/env bash
# The one test command of strongroom:   bash scripts/test.sh
#
# On a fresh Debian machine (root, apt, Rust toolchain with cargo-nextest, Python 3.11) it
#   1. installs what is missing: PostgreSQL, Chromium and nginx (apt) and a venv at .test-work/venv with
#      the pinned Python clients of tests/requirements.txt (reused when the pins have not changed);
#   2. runs cargo fmt --check, clippy -D warnings and a debug build of every target;
#   3. starts a throwaway PostgreSQL cluster and an S3 server (s3s-fs, SigV4) on 127.0.0.1,
#      both stopped on exit;
#   4. runs the Rust tests (cargo nextest, or cargo test without nextest) and the end-to-end
#      suite (pytest tests/e2e) against those services.
# Every stage runs even if an earlier one failed; the summary lists every failure and the exit
# status is 1 if anything failed. A service that cannot start is fatal (nothing is skipped):
# STRONGROOM_TEST_REQUIRE_SERVICES=1 makes every Rust suite that needs PostgreSQL or S3 fail
# without it (plain `cargo test` leaves such suites out, one loud line on stderr each).
#
# Options:
#   --stages LIST   comma-separated subset of: fmt,clippy,build,rust,e2e   (default: all)
#   -- ARGS...      extra arguments for pytest (e.g. -- -k simple tests/e2e/test_simple_api.py)
# Environment: PYTHON (interpreter for the venv, default python3), TEST_WORK (default .test-work),
#   E2E_WORKERS (pytest processes for the end-to-end suite, default 2; 0 runs it in one).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
REPO="$(pwd)"

STAGES="fmt,clippy,build,rust,e2e"
PYTEST_EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --stages) STAGES="$2"; shift 2 ;;
        --stages=*) STAGES="${1#--stages=}"; shift ;;
        --) shift; PYTEST_EXTRA=("$@"); break ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "test.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
want() { case ",$STAGES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
# a misspelt (or empty) stage list would otherwise run nothing and report "all stages passed"
[ -n "${STAGES//,/}" ] || { echo "test.sh: --stages names no stage" >&2; exit 2; }
for s in ${STAGES//,/ }; do
    case "$s" in
        fmt|clippy|build|rust|e2e) ;;
        *) echo "test.sh: unknown stage '$s' (one of fmt,clippy,build,rust,e2e)" >&2; exit 2 ;;
    esac
done

WORK="${TEST_WORK:-$REPO/.test-work}"
VENV="$WORK/venv"
PYTHON="${PYTHON:-python3}"
mkdir -p "$WORK"
START_ALL=$(date +%s)

log() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() { printf '\n\033[31mFATAL: %s\033[0m\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# stage bookkeeping
RESULTS=()
FAILED=()
LOGDIR="$WORK/logs"
rm -rf "$LOGDIR"; mkdir -p "$LOGDIR"
run_stage() { # name, command...   (output is also kept in .test-work/logs/<name>.log)
    local name="$1"; shift
    log "stage $name: $*"
    local t0=$(date +%s)
    "$@" 2>&1 | tee "$LOGDIR/$name.log"
    local rc=${PIPESTATUS[0]}
    local dt=$(( $(date +%s) - t0 ))
    if [ $rc -eq 0 ]; then
        RESULTS+=("PASS  $name (${dt}s)")
    else
        RESULTS+=("FAIL  $name (${dt}s, exit $rc)")
        FAILED+=("$name")
    fi
    return 0
}

count_tests() { # prints "passed failed" summed over the Rust and pytest logs
    local passed=0 failed=0 line n
    if [ -f "$LOGDIR/rust-tests.log" ]; then
        # nextest: "Summary [ 1.2s] 20 tests run: 18 passed, 2 failed, 0 skipped"
        # cargo test: "test result: ok. 5 passed; 0 failed; ..." (one per test binary)
        while IFS= read -r line; do
            n=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+' | head -1); passed=$((passed + ${n:-0}))
            n=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+' | head -1); failed=$((failed + ${n:-0}))
            n=$(grep -oE '[0-9]+ timed out' <<<"$line" | grep -oE '[0-9]+' | head -1); failed=$((failed + ${n:-0}))
        done < <(sed 's/\x1b\[[0-9;]*m//g' "$LOGDIR/rust-tests.log" | grep -E '^ *Summary \[|^test result:')
    fi
    if [ -f "$LOGDIR/e2e-junit.xml" ]; then
        read -r n m < <("$PYTHON" - "$LOGDIR/e2e-junit.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
t = sum(int(s.get("tests", 0)) for s in suites)
bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(t - bad - skipped, bad)
PY
)
        passed=$((passed + ${n:-0})); failed=$((failed + ${m:-0}))
    fi
    echo "$passed $failed"
}

summary() {
    local total=$(( $(date +%s) - START_ALL ))
    printf '\n\033[1m==================== test summary (%ss) ====================\033[0m\n' "$total"
    local r
    for r in "${RESULTS[@]}"; do echo "  $r"; done
    echo "  logs: $LOGDIR"
    if [ ${#FAILED[@]} -gt 0 ]; then
        printf '\033[31m  FAILED stages: %s\033[0m\n' "${FAILED[*]}"
    else
        printf '\033[32m  all stages passed\033[0m\n'
    fi
    local counts
    counts=$(count_tests)
    # the plain closing line: Rust tests and end-to-end tests together
    echo "tests: ${counts% *} passed, ${counts#* } failed"
}

# ---------------------------------------------------------------------------------------------
# cleanup of the services this script starts
PG_DIR=""
PG_BIN=""
S3_PID=""
RUN_DIR=""
cleanup() {
    local rc=$?
    if [ -n "$S3_PID" ] && kill -0 "$S3_PID" 2>/dev/null; then
        kill "$S3_PID" 2>/dev/null
        wait "$S3_PID" 2>/dev/null
    fi
    if [ -n "$PG_DIR" ] && [ -f "$PG_DIR/data/postmaster.pid" ]; then
        timeout 30 "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 20 stop >/dev/null 2>&1
    fi
    [ -n "$PG_DIR" ] && rm -rf "$PG_DIR"
    [ -n "$RUN_DIR" ] && rm -rf "$RUN_DIR"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# initdb refuses to run as root: when we are root, run the cluster as the postgres user
AS_PG=()
[ "$(id -u)" -eq 0 ] && AS_PG=(runuser -u postgres --)

free_port() {
    "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------------------------------------
# 1. install what is missing
find_pg_bin() {
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
    done
    return 1
}

APT_UPDATED=0
apt_install() {
    [ "$(id -u)" -eq 0 ] || die "need root to apt-get install $* (or install it yourself)"
    if [ $APT_UPDATED -eq 0 ]; then
        timeout 600 apt-get update -q || die "apt-get update failed"
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q --no-install-recommends "$@" \
        || die "apt-get install $* failed"
}

setup_postgres() {
    if ! PG_BIN=$(find_pg_bin) || ! command -v psql >/dev/null 2>&1; then
        log "installing PostgreSQL (apt)"
        apt_install postgresql postgresql-client
        PG_BIN=$(find_pg_bin) || die "PostgreSQL installed but no initdb/pg_ctl under /usr/lib/postgresql/*/bin"
    fi
    echo "PostgreSQL binaries: $PG_BIN"
}

setup_browser() {
    # the browser tests (tests/e2e/test_browser*.py) drive the Debian chromium with Playwright;
    # Playwright's own browser download is never used
    if [ ! -x /usr/bin/chromium ] || ! command -v chromedriver >/dev/null 2>&1; then
        log "installing Chromium (apt)"
        apt_install chromium chromium-driver
    fi
    [ -x /usr/bin/chromium ] || die "chromium installed but /usr/bin/chromium is missing"
    echo "Chromium: $(/usr/bin/chromium --version 2>/dev/null | head -1)"
}

setup_nginx() {
    # tests/e2e/test_behind_nginx.py runs the servers behind a real nginx with TLS, configured by
    # the block docs/operations.md gives operators
    if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
        log "installing nginx (apt)"
        apt_install nginx
    fi
    command -v openssl >/dev/null 2>&1 || apt_install openssl
    # tests/e2e/test_synthetic.py decodes the server's Zstandard pages with the reference tool
    command -v zstd >/dev/null 2>&1 || apt_install zstd
    echo "nginx: $(/usr/sbin/nginx -v 2>&1 | head -1)"
}

setup_venv() {
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys; sys.exit(0)' 2>/dev/null; then
        log "creating the test venv at $VENV"
        rm -rf "$VENV"
        if ! "$PYTHON" -m venv "$VENV"; then
            apt_install python3-venv
            "$PYTHON" -m venv "$VENV" || die "cannot create a venv with $PYTHON"
        fi
    fi
    local want_stamp have_stamp=""
    want_stamp=$(cat tests/requirements.txt | sha256sum | cut -d' ' -f1)
    [ -f "$VENV/.requirements.sha256" ] && have_stamp=$(cat "$VENV/.requirements.sha256")
    if [ "$want_stamp" != "$have_stamp" ]; then
        log "installing the Python test clients (tests/requirements.txt)"
        PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore timeout 900 \
            "$VENV/bin/python" -m pip install -q -r tests/requirements.txt \
            || die "pip install -r tests/requirements.txt failed"
        echo "$want_stamp" > "$VENV/.requirements.sha256"
    else
        echo "reusing the venv at $VENV (requirements unchanged)"
    fi
}

# Real files from PyPI for tests/e2e/test_pypi_files.py, fetched once (an install step, like the
# venv: the tests themselves only talk to 127.0.0.1).
setup_pypi_samples() {
    local dir="$WORK/pypi-samples" stamp want
    want=$(sha256sum tests/pypi-samples.txt | cut -d' ' -f1)
    stamp="$dir/.samples.sha256"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        echo "reusing the PyPI sample files in $dir"
    else
        log "fetching the PyPI sample files (tests/pypi-samples.txt)"
        rm -rf "$dir"; mkdir -p "$dir"
        local flags req failed=0 n=0
        while IFS=$'\t' read -r flags req; do
            case "$flags" in ''|'#'*) continue ;; esac
            # shellcheck disable=SC2086
            ( PIP_DISABLE_PIP_VERSION_CHECK=1 timeout 300 "$VENV/bin/python" -m pip download -q $flags -d "$dir" "$req" \
                || { echo "cannot fetch $req from PyPI" >&2; exit 1; } ) &
            n=$((n + 1))
            if [ "$n" -ge 4 ]; then wait -n || failed=1; n=$((n - 1)); fi
        done < tests/pypi-samples.txt
        while [ "$n" -gt 0 ]; do wait -n || failed=1; n=$((n - 1)); done
        [ "$failed" = 0 ] || die "fetching the PyPI sample files failed"
        echo "$want" > "$stamp"
    fi
    export STRONGROOM_PYPI_SAMPLES="$dir"
}

# The real-code corpus for tests/e2e/test_scanning.py (tests/tools/top100.json: pinned wheels and
# sdists of the most-downloaded projects, ~275 MB), fetched once and verified by sha256.
setup_corpus() {
    log "fetching the scanning corpus (tests/tools/top100.json)"
    timeout 1800 "$VENV/bin/python" tests/tools/fetch_corpus.py --dest "$WORK/corpus" \
        || die "fetching the scanning corpus failed"
    export STRONGROOM_TEST_CORPUS="$WORK/corpus"
}

# ---------------------------------------------------------------------------------------------
# 3. services
sweep_stale_services() {
    # A run killed with SIGKILL cannot stop its services. Each run records its pid (owner.pid) in
    # the folders it makes; stop the services of runs whose owner is gone. Folders without an
    # owner record are left alone.
    local d pid s3pid
    for d in /tmp/strongroom-pg.*; do
        [ -f "$d/owner.pid" ] || continue
        pid=$(cat "$d/owner.pid" 2>/dev/null)
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && continue
        echo "stopping the PostgreSQL cluster of a killed run ($d)"
        [ -f "$d/data/postmaster.pid" ] && \
            timeout 30 "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$d/data" -m immediate -w -t 20 stop >/dev/null 2>&1
        rm -rf "$d"
    done
    for d in "$WORK"/run.*; do
        [ -f "$d/owner.pid" ] || continue
        pid=$(cat "$d/owner.pid" 2>/dev/null)
        [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && continue
        s3pid=$(cat "$d/s3.pid" 2>/dev/null)
        if [ -n "$s3pid" ] && tr '\0' ' ' < "/proc/$s3pid/cmdline" 2>/dev/null | grep -q -- "--root $d/s3"; then
            echo "stopping the S3 server of a killed run ($d)"
            kill "$s3pid" 2>/dev/null
        fi
        rm -rf "$d"
    done
}

start_postgres() {
    PG_DIR=$(mktemp -d /tmp/strongroom-pg.XXXXXX)
    echo $$ > "$PG_DIR/owner.pid"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$PG_DIR"
    chmod 700 "$PG_DIR"
    PG_PORT=$(free_port)
    timeout 120 "${AS_PG[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres --no-sync >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log"; die "initdb failed"; }
    if ! timeout 60 "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 45 \
        -o "-k $PG_DIR -c listen_addresses=127.0.0.1 -p $PG_PORT -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
        start >/dev/null; then
        cat "$PG_DIR/log" 2>/dev/null
        die "PostgreSQL did not start on 127.0.0.1:$PG_PORT"
    fi
    export STRONGROOM_TEST_PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
    timeout 30 psql "$STRONGROOM_TEST_PG_URL" -At -c 'select 1' >/dev/null \
        || { cat "$PG_DIR/log"; die "PostgreSQL started but psql cannot connect to $STRONGROOM_TEST_PG_URL"; }
    echo "PostgreSQL: $STRONGROOM_TEST_PG_URL (data $PG_DIR)"
}

start_s3() {
    local bin="${CARGO_TARGET_DIR:-$REPO/target}/debug/strongroom-s3-test-server"
    if [ ! -x "$bin" ]; then
        log "building the S3 test server (cargo build -p strongroom-testkit)"
        cargo build -p strongroom-testkit || die "cannot build strongroom-s3-test-server"
    fi
    RUN_DIR=$(mktemp -d "$WORK/run.XXXXXX")
    echo $$ > "$RUN_DIR/owner.pid"
    local key="strongroom-test-access" secret="strongroom-test-secret-key-0123456789"
    local bucket="strongroom-test"
    "$bin" --root "$RUN_DIR/s3" --host 127.0.0.1 --port 0 --access-key "$key" --secret-key "$secret" \
        --bucket "$bucket" >"$RUN_DIR/s3.out" 2>"$RUN_DIR/s3.err" &
    S3_PID=$!
    echo "$S3_PID" > "$RUN_DIR/s3.pid"
    local i url=""
    for i in $(seq 1 300); do
        url=$(sed -n 's/^listening on \(http:\/\/127\.0\.0\.1:[0-9]*\).*/\1/p' "$RUN_DIR/s3.out" 2>/dev/null | head -1)
        [ -n "$url" ] && break
        kill -0 "$S3_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$url" ]; then
        cat "$RUN_DIR/s3.out" "$RUN_DIR/s3.err" 2>/dev/null
        die "the S3 test server did not start within 30 s"
    fi
    # an unsigned request must be refused: proves SigV4 is checked
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' "$url/$bucket/probe" || true)
    [ "$code" = "403" ] || die "the S3 test server answered $code (not 403) to an unsigned request"
    export STRONGROOM_TEST_S3_ENDPOINT="$url"
    export STRONGROOM_TEST_S3_BUCKET="$bucket"
    export STRONGROOM_TEST_S3_ACCESS_KEY="$key"
    export STRONGROOM_TEST_S3_SECRET_KEY="$secret"
    echo "S3: $url bucket $bucket (root $RUN_DIR/s3)"
}

# ---------------------------------------------------------------------------------------------
# stages
stage_rust_tests() {
    # The services are up: a Rust suite that does not find them fails instead of leaving its
    # PostgreSQL/S3 cases out.
    export STRONGROOM_TEST_REQUIRE_SERVICES=1
    if cargo nextest --version >/dev/null 2>&1; then
        local profile=default
        [ -n "${CI:-}" ] && profile=ci
        cargo nextest run --workspace --profile "$profile" --no-tests=warn
    else
        echo "cargo-nextest not found: falling back to cargo test"
        cargo test --workspace
    fi
}

stage_e2e() {
    local bin="${CARGO_TARGET_DIR:-$REPO/target}/debug/strongroom"
    if [ ! -x "$bin" ]; then
        echo "target/debug/strongroom is missing (did the build stage fail?)" >&2
    fi
    local paths=(tests/e2e) a
    for a in "${PYTEST_EXTRA[@]}"; do
        case "$a" in tests/*) paths=() ;; esac   # the caller named what to run
    done
    # Two pytest processes (E2E_WORKERS), each taking whole files (module fixtures stay
    # shared): the suite mostly waits on servers and clients, so two halve its time on two
    # cores. Every server binds port 0 and gets its own data folder, database and bucket.
    # The whole e2e run is bounded (a hung test must not eat CI's 90 minutes): 45 minutes,
    # about 2.5x what the suite takes on a cold 2-core machine.
    local workers="${E2E_WORKERS:-2}"
    STRONGROOM_BIN="$bin" timeout 2700 "$VENV/bin/python" -m pytest "${paths[@]}" -q \
        -n "$workers" --dist loadfile \
        --junitxml="$LOGDIR/e2e-junit.xml" "${PYTEST_EXTRA[@]}"
    local rc=$?
    [ $rc -eq 124 ] && echo "pytest was killed after 45 minutes" >&2
    [ $rc -eq 5 ] && echo "pytest collected no tests: that is a failure" >&2
    return $rc
}

log "setup"
command -v cargo >/dev/null || die "cargo is not installed"
command -v curl >/dev/null || apt_install curl
setup_postgres
setup_browser
setup_nginx
setup_venv
setup_pypi_samples
setup_corpus

want fmt && run_stage fmt cargo fmt --all -- --check
want clippy && run_stage clippy cargo clippy --workspace --all-targets -- -D warnings
want build && run_stage build cargo build --workspace --all-targets

if want rust || want e2e; then
    log "starting services"
    sweep_stale_services
    start_postgres
    start_s3
fi

want rust && run_stage rust-tests stage_rust_tests
want e2e && run_stage e2e stage_e2e

summary
[ ${#FAILED[@]} -eq 0 ] || exit 1
exit 0
