#!/usr/bin/env bash
# Whether downloads starve page requests: wrk on one page alone, then while N clients download a
# large file in a loop.
#
# usage: page_under_downloads.sh LABEL PAGE_URL FILE_URL [N=8]
#   prints req/s, p50 and p99 of `wrk -t1 -c8 -d8s PAGE_URL` alone and beside the downloads.
# Bounded: wrk runs 8 s; each download loop stops after 12 s (curl --max-time 20 each).
# Keep the URLs on 127.0.0.1.
set -uo pipefail
[ $# -ge 3 ] || { sed -n '2,8p' "$0"; exit 2; }
LABEL=$1; PAGE=$2; FILE=$3; N=${4:-8}
lat() {
  wrk -t1 -c8 -d8s --latency "$PAGE" |
    awk '/Requests\/sec/ {r=$2} / 50%/ {p50=$2} / 99%/ {p99=$2}
         END {printf "req/s=%s p50=%s p99=%s", r, p50, p99}'
}
echo "$LABEL alone: $(lat)"
pids=()
for _ in $(seq "$N"); do
  ( end=$((SECONDS + 12))
    while [ $SECONDS -lt $end ]; do curl -s -o /dev/null --max-time 20 "$FILE"; done ) &
  pids+=($!)
done
sleep 1
echo "$LABEL with $N downloads: $(lat)"
for p in "${pids[@]}"; do wait "$p"; done
