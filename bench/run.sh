#!/bin/sh
# bench/run.sh: the RTP hot-path benchmarks, printed as a markdown table.
#
# Builds siptap (build-bench/, with meson.build's defaults as shipped: -O3 -g,
# link-time optimisation), generates the load captures with bench/gen_load,
# and measures CPU time (user + sys, the
# minimum of RUNS runs: another busy core on the machine disturbs single
# runs, and the minimum is the run it disturbed least) of
#   - pcap_loop: a bare libpcap read loop, the baseline;
#   - siptapd -r on the same file;
#   - bench/rtp_floor on the same file: libpcap's reading plus only the
#     RTP analysis (no SIP, calls or events), in its callback and through
#     the daemon's batch look-ahead (--lookahead); and with no analysis at
#     all, only each RTP packet's flow state reached through a prefetch
#     pipeline (--touch: the memory floor);
#   - tshark -q -z rtp,streams on the same file (the issue's figure; it takes
#     ~40 s and ~1.6 GB, so it runs TSHARK_RUNS times), and on a smaller
#     capture of TSHARK_CALLS calls (RUNS times) with siptapd on that file;
# and the memory per active call: peak RSS of siptapd with CALLS concurrent
# calls minus its peak RSS with one call (each the median of RUNS runs),
# divided by CALLS - 1. Two more
# captures say where the time goes: the same calls with 1 s of talk (RTP
# packet and call costs, by difference) and 10 calls of 1,800 s (RTP with
# every flow in cache). Then bench/memory.sh at MEMORY_SIZES (10,000,
# 100,000 and 200,000 calls with a trunk's SDP: bytes per active call and
# the breakdown by structure).
#
#   bench/run.sh [CALLS (10000)] [TALK_SECONDS (4)] [TSHARK_CALLS (1000)]
# Environment: RUNS (3), TSHARK_RUNS (2), MEMORY_SIZES, WORK (/tmp/siptap-bench: captures
# are kept there and reused when their parameters match).
set -eu

CALLS=${1:-10000}
TALK=${2:-4}
TSHARK_CALLS=${3:-1000}
RUNS=${RUNS:-3}
TSHARK_RUNS=${TSHARK_RUNS:-2}
. "$(dirname "$0")/common.sh"
LOAD=$(capture load "$CALLS" "$TALK")
ONE=$(capture load 1 "$TALK")
SMALL=$(capture load "$TSHARK_CALLS" "$TALK")
# Where the time goes: the same calls with 1 s of talk (the difference is the
# RTP packets' cost, the rest the calls'), and 10 calls whose 20 flows stay
# in cache through 1,800 s of talk (RTP with no cache misses).
SHORT=$(capture load "$CALLS" 1)
HOT=$(capture load 10 1800)

# cpu CMD...: minimum user+sys seconds over RUNS runs (bench/cputime: to the
# microsecond); also leaves in $WORK/rss the median of the runs' peak RSS
# (KB). Peak RSS moves by ~200 KB from run to run (6,520 - 6,720 KB for one
# call), which is ~20 bytes per call of (c): the median of each side keeps
# one unlucky run from deciding the figure.
cpu() {
    i=0
    : >"$WORK/cpu.runs"
    : >"$WORK/rss.runs"
    while [ $i -lt "$RUNS" ]; do
        read -r t m <<EOF_CPU
$("$BUILD/bench/cputime" "$@")
EOF_CPU
        echo "$t" >>"$WORK/cpu.runs"
        echo "$m" >>"$WORK/rss.runs"
        i=$((i + 1))
    done
    min_median "$WORK/rss.runs" | awk '{ print $2 }' >"$WORK/rss"
    min_median "$WORK/cpu.runs" | awk '{ print $1 }'
}

packets() { "$BUILD/bench/pcap_loop" "$1" | awk '{print $1}'; }

SIPTAPD="$BUILD/daemon/siptapd"
N_LOAD=$(packets "$LOAD")
T_PCAP=$(cpu "$BUILD/bench/pcap_loop" "$LOAD")
T_SIPTAPD=$(cpu "$SIPTAPD" -r "$LOAD" -o file:/dev/null)
RSS_LOAD=$(cat "$WORK/rss")
cpu "$SIPTAPD" -r "$ONE" -o file:/dev/null >/dev/null
RSS_ONE=$(cat "$WORK/rss")

N_SHORT=$(packets "$SHORT")
T_PCAP_SHORT=$(cpu "$BUILD/bench/pcap_loop" "$SHORT")
T_SIPTAPD_SHORT=$(cpu "$SIPTAPD" -r "$SHORT" -o file:/dev/null)
N_HOT=$(packets "$HOT")
T_PCAP_HOT=$(cpu "$BUILD/bench/pcap_loop" "$HOT")
T_SIPTAPD_HOT=$(cpu "$SIPTAPD" -r "$HOT" -o file:/dev/null)
# The floor: libpcap's reading plus only the RTP analysis, in its callback.
T_FLOOR=$(cpu "$BUILD/bench/rtp_floor" "$LOAD")
T_FLOOR_HOT=$(cpu "$BUILD/bench/rtp_floor" "$HOT")
T_FLOOR_LA=$(cpu "$BUILD/bench/rtp_floor" --lookahead "$LOAD")
T_FLOOR_LA_HOT=$(cpu "$BUILD/bench/rtp_floor" --lookahead "$HOT")
T_TOUCH=$(cpu "$BUILD/bench/rtp_floor" --touch "$LOAD")

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
    -v truns="$TSHARK_RUNS" -v nsh="$N_SHORT" -v tpsh="$T_PCAP_SHORT" -v tssh="$T_SIPTAPD_SHORT" \
    -v nh="$N_HOT" -v tph="$T_PCAP_HOT" -v tsh="$T_SIPTAPD_HOT" \
    -v tf="$T_FLOOR" -v tfh="$T_FLOOR_HOT" -v tfl="$T_FLOOR_LA" -v tflh="$T_FLOOR_LA_HOT" \
    -v tt0="$T_TOUCH" 'BEGIN {
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
    # Two captures of the same calls differ only in RTP packets: their time
    # difference over their packet difference is the cost of an RTP packet
    # beyond reading; what is left of the short capture is the cost of calls.
    rtp = ((ts - tp) - (tssh - tpsh)) / (n - nsh)
    printf "| same calls, 1 s of talk | %d packets: pcap_loop %.3f s, siptapd %.3f s |\n", nsh, tpsh, tssh
    printf "| RTP packet beyond reading, %d interleaved flows | %.0f ns |\n", 2 * calls, rtp * 1e9
    # Each call of gen_load has seven SIP messages; the rest are RTP.
    printf "| call beyond reading (signalling, events) | %.1f us |\n", ((tssh - tpsh) - rtp * (nsh - 7 * calls)) / calls * 1e6
    printf "| 10 calls, flows in cache | %d packets: pcap_loop %.3f s, siptapd %.3f s, %.3fx; %.0f ns per packet beyond reading |\n", nh, tph, tsh, tph / tsh, (tsh - tph) / nh * 1e9
    printf "| RTP analysis alone (bench/rtp_floor), load capture: in libpcap'"'"'s callback / with the look-ahead | %.3f s, %.3fx / %.3f s, %.3fx |\n", tf, tp / tf, tfl, tp / tfl
    printf "| the same, 10 calls, flows in cache | %.3f s, %.3fx / %.3f s, %.3fx |\n", tfh, tph / tfh, tflh, tph / tflh
    printf "| memory floor (bench/rtp_floor --touch): flow state reached, nothing computed | %.3f s, %.3fx; %.0f ns per packet beyond reading |\n", tt0, tp / tt0, (tt0 - tp) / n * 1e9
    printf "| peak RSS (median of %d runs), %d calls / 1 call | %d KB / %d KB |\n", runs, calls, rl, r1
    printf "| (c) memory per active call | %.0f bytes |\n", (rl - r1) * 1024 / (calls - 1)
}'

# Memory at scale with a trunk's SDP, and where it goes (issue #23): the
# realistic captures at 10,000, 100,000 and 200,000 concurrent calls
# (MEMORY_SIZES; empty to skip), bytes per active call and massif's
# breakdown by structure.
MEMORY_SIZES=${MEMORY_SIZES-"10000 100000 200000"}
if [ -n "$MEMORY_SIZES" ]; then
    echo
    # shellcheck disable=SC2086
    BUILD="$BUILD" WORK="$WORK" RUNS="$RUNS" sh "$(dirname "$0")/memory.sh" $MEMORY_SIZES
fi
