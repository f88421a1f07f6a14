#!/usr/bin/env bash
# The server's CPU per downloaded byte, which a busy shared machine disturbs far less than MB/s.
#
# usage: download_cost.sh LABEL URL "PIDS" N [curl args...]
#   N sequential `curl` GETs of URL (extra curl args, e.g. -H 'Range: bytes=0-', are passed on);
#   prints the bytes received, the CPU time (user+system) of every thread of PIDS per 100 MB,
#   and the wall-clock MB/s. PIDS: the server's process(es), e.g. nginx's master and workers.
# Bounded: N requests, each with curl's --max-time 120. Keep URL on 127.0.0.1.
set -euo pipefail
[ $# -ge 4 ] || { sed -n '2,9p' "$0"; exit 2; }
LABEL=$1; URL=$2; PIDS=$3; N=$4; shift 4
cpu() {
  local t=0 f
  for p in $PIDS; do
    for f in /proc/"$p"/task/*/stat; do
      t=$((t + $(awk '{print $14 + $15}' "$f" 2>/dev/null || echo 0)))
    done
  done
  echo "$t"
}
c0=$(cpu); s0=$(date +%s%N); bytes=0
for _ in $(seq "$N"); do
  n=$(curl -s -o /dev/null --max-time 120 -w '%{size_download}' "$@" "$URL")
  bytes=$((bytes + n))
done
s1=$(date +%s%N); c1=$(cpu)
awk -v l="$LABEL" -v c=$((c1 - c0)) -v b="$bytes" -v ns=$((s1 - s0)) -v hz="$(getconf CLK_TCK)" \
  'BEGIN { printf "%s: %.0f MB, server CPU %.1f ms per 100 MB, wall %.0f MB/s\n",
           l, b / 1e6, c * 1000 / hz / (b / 1e8), b / 1e6 / (ns / 1e9) }'
