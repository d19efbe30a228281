#!/bin/sh
# bench/memory.sh: memory per active call at scale, and where it goes.
#
# For each size (default 10000 100000 200000), a capture of that many
# concurrent calls as an SBC's trunk sees them (bench/gen_load --realistic:
# an address per caller and callee, four offered formats with a=rtcp, video
# on every tenth call, five RTP packets each way), replayed by siptapd -r;
# bytes per active call = (peak RSS - peak RSS of a one-call run) /
# (CALLS - 1), each peak the median of RUNS runs. Then, for the first size,
# the breakdown: valgrind massif's peak snapshot (heap only: what malloc
# was asked for, and its own overhead apart), summed by the allocation site
# into the structures docs/deployment.md's sizing table names, per call.
#
#   bench/memory.sh [SIZE...]
# Environment: RUNS (3), WORK (/tmp/siptap-bench: captures kept and reused).
set -eu

RUNS=${RUNS:-3}
. "$(dirname "$0")/common.sh"
[ $# -gt 0 ] || set -- 10000 100000 200000
SIPTAPD="$BUILD/daemon/siptapd"
# Room for every call at once (the default max_calls is 100,000).
CONF="$WORK/memory.conf"
printf '[limits]\nmax_calls = 1000000\n' >"$CONF"

realistic() { # realistic CALLS -> path of the capture (generated once)
    f="$WORK/realistic-$1.pcap"
    [ -s "$f" ] || "$BUILD/bench/gen_load" --realistic "$f" "$1" >&2
    echo "$f"
}

peak_rss() { # peak_rss PCAP -> median peak RSS (KB) of RUNS runs
    i=0
    : >"$WORK/rss.runs"
    while [ $i -lt "$RUNS" ]; do
        "$BUILD/bench/cputime" "$SIPTAPD" -c "$CONF" -r "$1" -o file:/dev/null | awk '{ print $2 }' \
            >>"$WORK/rss.runs"
        i=$((i + 1))
    done
    min_median "$WORK/rss.runs" | awk '{ print $2 }'
}

# A run measures only if every call was kept with all its media.
check_complete() { # check_complete PCAP
    "$SIPTAPD" -c "$CONF" -r "$1" -o - 2>/dev/null | grep -F '"type":"stats"' | tail -1 |
        python3 -c 'import json, sys
c = json.loads(sys.stdin.read())["counters"]
bad = {k: c[k] for k in ("calls.evicted", "rtp.flows_rejected_full", "media.bindings_full",
                         "media.flows_per_call_full") if c.get(k)}
sys.exit("memory: %s lost state: %s" % (sys.argv[1], bad) if bad else 0)' "$1"
}

ONE=$(peak_rss "$(realistic 1)")
echo "| concurrent calls | peak RSS | bytes per active call |"
echo "|---:|---:|---:|"
echo "| 1 | $ONE KB | |"
for n in "$@"; do
    check_complete "$(realistic "$n")"
    rss=$(peak_rss "$(realistic "$n")")
    awk -v n="$n" -v r="$rss" -v one="$ONE" \
        'BEGIN { printf "| %d | %d KB | %.0f |\n", n, r, (r - one) * 1024 / (n - 1) }'
done

command -v valgrind >/dev/null 2>&1 || { echo "valgrind absent: no breakdown"; exit 0; }
n=$1
valgrind --tool=massif --massif-out-file="$WORK/massif.out" --threshold=0.1 --depth=3 \
    "$SIPTAPD" -c "$CONF" -r "$(realistic "$n")" -o file:/dev/null >/dev/null 2>&1
ms_print "$WORK/massif.out" >"$WORK/massif.txt"
# The peak snapshot's header line ("n time total useful extra stacks"),
# then its first-level allocation sites ("->P% (B) 0xADDR: fn (file:line)").
awk -v calls="$n" '
    /Detailed snapshots:/ { if (match($0, /[0-9]+ \(peak\)/)) peak = substr($0, RSTART, RLENGTH - 7) }
    peak != "" && $1 == peak && NF == 6 { gsub(",", "", $5); extra = $5; inside = 1; next }
    inside && /^ *[0-9]+ +[0-9,]+ +[0-9,]+/ { inside = 0 }
    inside && /^->/ {
        b = $2; gsub(/[(,B)]/, "", b)
        site = $0; sub(/^[^:]*: /, "", site)
        what = "other (below massif threshold, startup)"
        if (site ~ /calls\.c/) what = "struct call + Call-ID, users, tags"
        else if (site ~ /flow\.c|pool\.c/) what = "RTP flows (struct rtp_flow in pool slabs, extras)"
        else if (site ~ /hashtab\.c/) what = "hash table slots"
        else if (site ~ /timerq\.c/) what = "timer heap"
        else if (site ~ /media\.c/) what = "SDP formats"
        else if (site ~ /rules\.c|codec_mismatch|one_way_audio|no_audio|call_drop|rtp_quality/) what = "detector states"
        else if (site ~ /flow_share\.c/) what = "shared flows"
        else if (site ~ /sink\.c|jsonl\.c/) what = "output queues (fixed)"
        else if (site ~ /sip_scan/) what = "sip_scan sketch and sources (fixed)"
        sum[what] += b
    }
    END {
        printf "\n| where (massif peak, %d calls) | bytes per call |\n|---|---:|\n", calls
        for (w in sum) printf "| %s | %.0f |\n", w, sum[w] / calls
        printf "| malloc overhead (massif extra-heap) | %.0f |\n", extra / calls
    }' "$WORK/massif.txt"
