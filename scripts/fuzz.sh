#!/usr/bin/env bash
# Time-boxed fuzzing of strongroom's parsers (the cargo-fuzz crate in fuzz/).
#
#   bash scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Runs each target (all of fuzz/Cargo.toml's [[bin]]s by default) for SECONDS_PER_TARGET
# (default 60) on one core, starting from the committed seeds in fuzz/corpus/<target>/. New
# coverage-increasing inputs go to fuzz/.work/<target>/ (not committed). Every crash, timeout or
# out-of-memory input is minimised and copied into fuzz/corpus/<target>/ as crash-*, timeout-*
# or oom-*, for review: fix the cause, then commit the input so `cargo test` replays it for
# good. Exit status 1 when any target found something.
#
# Needs the nightly toolchain (installed with rustup if missing) and cargo-fuzz (installed with
# `cargo install` if missing). FUZZ_SANITIZER=none skips AddressSanitizer (faster; the code is
# safe Rust, the sanitizer watches the unsafe code in dependencies); FUZZ_RSS_MB bounds memory
# per input (default 2048).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SECONDS_PER_TARGET="${1:-60}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2
    exit 2
fi
shift || true

if ! cargo +nightly --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo +nightly install cargo-fuzz --locked
fi

# Every target, and the ones that need the `full` feature (the server stack).
mapfile -t ALL < <(awk -F'"' '/^\[\[bin\]\]/{bin=1} bin && /^name = /{print $2; bin=0}' fuzz/Cargo.toml)
mapfile -t FULL < <(awk -F'"' '/^name = /{name=$2} /^required-features = \[.*"full"/{print name}' fuzz/Cargo.toml)
# `contains WORD LIST...` (no pipe: grep -q would end the pipe early under pipefail).
contains() {
    local want="$1" item
    shift
    for item in "$@"; do
        [ "$item" = "$want" ] && return 0
    done
    return 1
}
if [ "$#" -gt 0 ]; then
    TARGETS=("$@")
else
    TARGETS=("${ALL[@]}")
fi
for t in "${TARGETS[@]}"; do
    if ! contains "$t" "${ALL[@]}"; then
        echo "unknown target '$t'; targets: ${ALL[*]}" >&2
        exit 2
    fi
done

# The dist targets spool each input to a temp file, as uploads are: keep that in memory.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    export TMPDIR=/dev/shm
fi
SANITIZER="${FUZZ_SANITIZER:-address}"
RSS_MB="${FUZZ_RSS_MB:-2048}"

found=()
for t in "${TARGETS[@]}"; do
    features=()
    if contains "$t" "${FULL[@]}"; then
        features=(--features full)
    fi
    work="fuzz/.work/$t"
    artifacts="fuzz/artifacts/$t"
    mkdir -p "$work" "$artifacts" "fuzz/corpus/$t"
    before=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
    echo "==> $t: ${SECONDS_PER_TARGET}s"
    # One process, one core: libFuzzer's default (no -jobs/-workers fan-out).
    status=0
    (cd fuzz && cargo +nightly fuzz run --sanitizer "$SANITIZER" "${features[@]}" "$t" \
        "../$work" "corpus/$t" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb="$RSS_MB" \
        -artifact_prefix="../$artifacts/" -print_final_stats=1) || status=$?
    after=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
    new=$(comm -13 <(echo "$before") <(echo "$after") | sed '/^$/d' || true)
    if [ "$status" -ne 0 ] && [ -z "$new" ]; then
        echo "!! $t: cargo fuzz exited with $status and left no artifact (build failure?)" >&2
        found+=("$t:failed")
        continue
    fi
    for artifact in $new; do
        kind=$(basename "$artifact" | cut -d- -f1)
        minimised="$artifact.min"
        # tmin re-runs the input many times; a timeout input is kept as found.
        if [ "$kind" = crash ] && (cd fuzz && cargo +nightly fuzz tmin --sanitizer "$SANITIZER" "${features[@]}" "$t" \
            "../$artifact" -- -runs=2000 -exact_artifact_path="../$minimised") >/dev/null 2>&1 && [ -s "$minimised" ]; then
            keep="$minimised"
        else
            keep="$artifact"
        fi
        dest="fuzz/corpus/$t/$kind-$(sha256sum "$keep" | cut -c1-16)"
        cp "$keep" "$dest"
        echo "!! $t: $kind input copied to $dest (review it, fix the cause, commit it)"
        found+=("$t:$dest")
    done
done

echo
if [ "${#found[@]}" -eq 0 ]; then
    echo "fuzz: ${#TARGETS[@]} targets, ${SECONDS_PER_TARGET}s each, nothing found"
else
    echo "fuzz: found ${#found[@]} problem(s):"
    printf '  %s\n' "${found[@]}"
    exit 1
fi
