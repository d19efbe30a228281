#!/bin/sh
# bench/compare.sh: one change judged on this noisy VM, the way
# docs/benchmarks.md judges them: runs of a baseline siptapd and of this
# tree's build alternated on the same capture (so a busy neighbour or a cold
# page cache disturbs both alike), with pcap_loop's reading between them;
# prints each one's minimum and median CPU time (user + sys) and the ratio
# of pcap_loop's minimum to each minimum.
#
#   bench/compare.sh BASELINE_SIPTAPD [CAPTURE]
# A baseline binary comes from another checkout, e.g.
#   git worktree add /tmp/base 21214d2 && meson setup /tmp/base-build /tmp/base \
#     && ninja -C /tmp/base-build daemon/siptapd
# CAPTURE defaults to the 10,000-call capture bench/run.sh generates.
# Environment: RUNS (8), WORK (/tmp/siptap-bench).
set -eu

BASE=${1:?usage: bench/compare.sh BASELINE_SIPTAPD [CAPTURE]}
RUNS=${RUNS:-8}
. "$(dirname "$0")/common.sh"
CAPTURE=${2:-$(capture load 10000 4)}
CURRENT="$BUILD/daemon/siptapd"

TIMES=$(mktemp -d)
trap 'rm -rf "$TIMES"' EXIT
cat "$CAPTURE" >/dev/null # into the page cache, if it fits
i=0
while [ $i -lt "$RUNS" ]; do
    "$BUILD/bench/cputime" "$BUILD/bench/pcap_loop" "$CAPTURE" | awk '{print $1}' >>"$TIMES/pcap"
    "$BUILD/bench/cputime" "$BASE" -r "$CAPTURE" -o file:/dev/null | awk '{print $1}' >>"$TIMES/base"
    "$BUILD/bench/cputime" "$CURRENT" -r "$CAPTURE" -o file:/dev/null |
        awk '{print $1}' >>"$TIMES/current"
    i=$((i + 1))
done

read -r PMIN PMED <<EOF_P
$(min_median "$TIMES/pcap")
EOF_P
printf '| %d alternated runs on %s | minimum | median | pcap_loop / minimum |\n|---|---|---|---|\n' \
    "$RUNS" "$(basename "$CAPTURE")"
printf '| pcap_loop | %.3f s | %.3f s | |\n' "$PMIN" "$PMED"
for who in base current; do
    read -r MIN MED <<EOF_S
$(min_median "$TIMES/$who")
EOF_S
    label=$who
    [ "$who" = base ] && label="baseline ($BASE)"
    [ "$who" = current ] && label="this tree"
    awk -v l="$label" -v mn="$MIN" -v md="$MED" -v p="$PMIN" \
        'BEGIN { printf "| %s | %.3f s | %.3f s | %.3fx |\n", l, mn, md, p / mn }'
done
