#!/bin/sh
# bench/run.sh: the RTP hot-path benchmarks, printed as a markdown table.
#
# Builds siptap (build-bench/, debugoptimized as shipped), generates the load
# captures with bench/gen_load, and measures CPU time (user + sys, the
# minimum of RUNS runs: another busy core on the machine disturbs single
# runs, and the minimum is the run it disturbed least) of
#   - pcap_loop: a bare libpcap read loop, the floor;
#   - siptapd -r on the same file;
#   - tshark -q -z rtp,streams on the same file (the issue's figure; it takes
#     ~40 s and ~1.6 GB, so it runs TSHARK_RUNS times), and on a smaller
#     capture of TSHARK_CALLS calls (RUNS times) with siptapd on that file;
# and the memory per active call: peak RSS of siptapd with CALLS concurrent
# calls minus its peak RSS with one call, divided by CALLS - 1.
#
#   bench/run.sh [CALLS (10000)] [TALK_SECONDS (4)] [TSHARK_CALLS (1000)]
# Environment: RUNS (3), TSHARK_RUNS (2), WORK (/tmp/siptap-bench: captures
# are kept there and reused when their parameters match).
set -eu

CALLS=${1:-10000}
TALK=${2:-4}
TSHARK_CALLS=${3:-1000}
RUNS=${RUNS:-3}
TSHARK_RUNS=${TSHARK_RUNS:-2}
WORK=${WORK:-/tmp/siptap-bench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build-bench"

mkdir -p "$WORK"
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" "$ROOT" >/dev/null
fi
ninja -C "$BUILD" >/dev/null

capture() { # capture NAME CALLS TALK -> path (generated once)
    f="$WORK/$1-$2x$3.pcap"
    [ -s "$f" ] || "$BUILD/bench/gen_load" "$f" "$2" "$3" >&2
    echo "$f"
}
LOAD=$(capture load "$CALLS" "$TALK")
ONE=$(capture load 1 "$TALK")
SMALL=$(capture load "$TSHARK_CALLS" "$TALK")

# cpu CMD...: minimum user+sys seconds over RUNS runs (bench/cputime: to the
# microsecond); also leaves the peak RSS (KB) of the last run in $WORK/rss.
cpu() {
    best=""
    i=0
    while [ $i -lt "$RUNS" ]; do
        read -r t m <<EOF_CPU
$("$BUILD/bench/cputime" "$@")
EOF_CPU
        echo "$m" >"$WORK/rss"
        best=$(echo "$best $t" | awk '{ if ($2 == "" || $1 < $2) print $1; else print $2 }')
        i=$((i + 1))
    done
    echo "$best"
}

packets() { "$BUILD/bench/pcap_loop" "$1" | awk '{print $1}'; }

SIPTAPD="$BUILD/daemon/siptapd"
N_LOAD=$(packets "$LOAD")
T_PCAP=$(cpu "$BUILD/bench/pcap_loop" "$LOAD")
T_SIPTAPD=$(cpu "$SIPTAPD" -r "$LOAD" -o file:/dev/null)
RSS_LOAD=$(cat "$WORK/rss")
cpu "$SIPTAPD" -r "$ONE" -o file:/dev/null >/dev/null
RSS_ONE=$(cat "$WORK/rss")

N_SMALL=$(packets "$SMALL")
T_SIPTAPD_SMALL=$(cpu "$SIPTAPD" -r "$SMALL" -o file:/dev/null)
if command -v tshark >/dev/null 2>&1; then
    T_TSHARK=$(cpu tshark -q -z rtp,streams -r "$SMALL")
    saved_runs=$RUNS
    RUNS=$TSHARK_RUNS
    T_TSHARK_LOAD=$(cpu tshark -q -z rtp,streams -r "$LOAD")
    RUNS=$saved_runs
else
    T_TSHARK=""
    T_TSHARK_LOAD=""
fi

awk -v n="$N_LOAD" -v tp="$T_PCAP" -v ts="$T_SIPTAPD" -v rl="$RSS_LOAD" -v r1="$RSS_ONE" \
    -v calls="$CALLS" -v talk="$TALK" -v ns="$N_SMALL" -v tss="$T_SIPTAPD_SMALL" \
    -v tt="$T_TSHARK" -v tcalls="$TSHARK_CALLS" -v runs="$RUNS" -v ttl="$T_TSHARK_LOAD" \
    -v truns="$TSHARK_RUNS" 'BEGIN {
    printf "| measure | value |\n|---|---|\n"
    printf "| load capture | %d calls x %d s G.711 both ways, %d packets |\n", calls, talk, n
    printf "| pcap_loop CPU (user+sys, min of %d) | %.3f s (%.0f packets/s) |\n", runs, tp, n / tp
    printf "| siptapd -r CPU | %.3f s (%.0f packets/s) |\n", ts, n / ts
    printf "| (a) siptapd / pcap_loop throughput | %.3fx |\n", tp / ts
    if (ttl != "") {
        printf "| tshark -z rtp,streams CPU, same file (min of %d) | %.3f s |\n", truns, ttl
        printf "| (b) siptapd / tshark throughput | %.1fx |\n", ttl / ts
    }
    if (tt != "") {
        printf "| smaller capture | %d calls, %d packets |\n", tcalls, ns
        printf "| tshark -z rtp,streams CPU | %.3f s |\n", tt
        printf "| siptapd -r CPU, same file | %.3f s |\n", tss
        printf "| siptapd / tshark throughput there | %.1fx |\n", tt / tss
    }
    printf "| peak RSS, %d calls / 1 call | %d KB / %d KB |\n", calls, rl, r1
    printf "| (c) memory per active call | %.0f bytes |\n", (rl - r1) * 1024 / (calls - 1)
}'
