#!/bin/sh
# bench/live.sh: siptapd on a live interface, against tcpdump as the limit.
#
# bench/run.sh measures siptapd -r, which reads a file as fast as it can; a
# tap's real job is live capture, where what matters is whether it keeps up
# with the wire: packets the kernel drops because the daemon did not read
# them in time, and CPU time per packet against the cheapest possible reader
# of the same socket (tcpdump -w /dev/null with the same kernel buffer).
#
# The script creates its own network namespace (siptap-live-PID) with a veth
# pair, both ends inside it and IPv6 off so the kernel sends nothing of its
# own on the link; generates a load capture with bench/gen_load; and for each
# rate replays it with tcpreplay on vethA, once into siptapd -i vethB and
# once into tcpdump -i vethB -w /dev/null. For each run it prints the
# achieved rate (tcpreplay's own figure), kernel drops of both, siptapd's
# queue drops (when its final stats event has a "capture" object), calls
# ended (reason bye / all call_end events), CPU time (user + sys, to the
# nanosecond from /proc/PID/schedstat, from just before the replay until the
# capture has been quiet for 2 s, before SIGTERM: start-up is not counted)
# per packet the process received for both, and whether the live run's events equal those
# of siptapd -r on the same capture: the number of call_end events and, for
# every call_id, the multiset of its streams' (src, dst, ssrc, packets,
# lost). The namespace and every process the script started are removed on
# any exit; every wait is bounded.
#
#   bench/live.sh            (as root)
# Environment: CALLS (2000), TALK (3 s: about 608,000 packets), RATES
# ("50000 100000 200000 500000 top": packets/s, top = tcpreplay
# --topspeed), RUNS (1: each rate repeated), BUFFER_MB (64: kernel buffer of
# both), TIMEOUT_MS (siptapd's [capture] timeout_ms; its default when
# unset), LAT_PPS (2000: the latency run's rate, 0 skips it), SIPTAPD
# ($BUILD/daemon/siptapd), GEN_LOAD (a gen_load binary: when
# set, bench/common.sh's build of build-bench/ is skipped, e.g. while the
# tree does not build; with SIPTAPD from another build), WORK
# (/tmp/siptap-bench: captures are kept there and reused, and the runs'
# live.jsonl / offline.jsonl are left there).
set -eu

CALLS=${CALLS:-2000}
TALK=${TALK:-3}
RATES=${RATES:-50000 100000 200000 500000 top}
RUNS=${RUNS:-1}
BUFFER_MB=${BUFFER_MB:-64}

if [ "$(id -u)" -ne 0 ]; then
    echo "bench/live.sh: must run as root (it creates a network namespace and captures packets)" >&2
    exit 1
fi
for tool in ip tcpreplay tcpdump timeout; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "bench/live.sh: $tool is not installed (apt-get install -y iproute2 tcpreplay tcpdump)" >&2
        exit 1
    fi
done
if ! command -v python3 >/dev/null 2>&1; then
    echo "bench/live.sh: python3 is needed to read the events (JSON Lines); apt-get install -y python3" >&2
    exit 1
fi

if [ -n "${GEN_LOAD:-}" ]; then
    # bench/common.sh without its build: the same ROOT, BUILD, WORK, capture.
    WORK=${WORK:-/tmp/siptap-bench}
    ROOT=$(cd "$(dirname "$0")/.." && pwd)
    BUILD="$ROOT/build-bench"
    mkdir -p "$WORK"
    capture() {
        f="$WORK/$1-$2x$3.pcap"
        [ -s "$f" ] || "$GEN_LOAD" "$f" "$2" "$3" >&2
        echo "$f"
    }
else
    . "$(dirname "$0")/common.sh"
fi
SIPTAPD=${SIPTAPD:-$BUILD/daemon/siptapd}
if [ ! -x "$SIPTAPD" ]; then
    echo "bench/live.sh: $SIPTAPD is not an executable" >&2
    exit 1
fi

NS="siptap-live-$$"
TMPD=$(mktemp -d)
CAP_PID=""

# stop PID: SIGTERM, up to 30 s for it to exit, then SIGKILL; reaps it.
stop() {
    kill -TERM "$1" 2>/dev/null || :
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$1" 2>/dev/null; then
        echo "bench/live.sh: pid $1 still running 30 s after SIGTERM; killed" >&2
        kill -KILL "$1" 2>/dev/null || :
    fi
    wait "$1" 2>/dev/null || :
}

cleanup() {
    trap - EXIT INT TERM HUP
    if [ -n "$CAP_PID" ]; then
        stop "$CAP_PID"
        CAP_PID=""
    fi
    ip netns del "$NS" 2>/dev/null || :
    rm -rf "$TMPD"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

LOAD=$(capture load "$CALLS" "$TALK")
cat "$LOAD" >/dev/null # into the page cache

CONF="$TMPD/siptap.conf"
# No call captures: writing an alert's pcap file is not the capture path's
# cost, and -r (the reference) writes none without a dir. A --pps replay
# paces every stream at the replay's rate, not the capture's 20 ms, so
# rtp_quality raises jitter_mean_ms on most streams live (and not with -r):
# those events stay, they are the wire's truth.
printf '[capture]\nbuffer_mb = %s\ncalls = off\n' "$BUFFER_MB" >"$CONF"
[ -z "${TIMEOUT_MS:-}" ] || printf 'timeout_ms = %s\n' "$TIMEOUT_MS" >>"$CONF"

# The reference: siptapd -r on the same capture, with the same config.
rm -f "$WORK/offline.jsonl"
"$SIPTAPD" -r "$LOAD" -c "$CONF" -o "file:$WORK/offline.jsonl"

# summary.py LIVE OFFLINE -> "received packets kernel_drops queue_drops
# call_ends byes EQUAL...", from LIVE's last stats event and its call_end
# events against OFFLINE's. queue_drops is - when the stats event has no
# "capture" object (a binary from before it), received is then "packets".
cat >"$TMPD/summary.py" <<'EOF_PY'
import json
import os
import sys
from collections import Counter


def load(path):
    ends, byes, calls, stats = 0, 0, {}, None
    if not os.path.exists(path):
        return ends, byes, calls, stats
    with open(path) as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("type") == "call_end":
                ends += 1
                byes += e.get("reason") == "bye"
                n, streams = calls.get(e.get("call_id"), (0, Counter()))
                streams = streams + Counter(
                    (s.get("src"), s.get("dst"), s.get("ssrc"), s.get("packets"), s.get("lost"))
                    for s in e.get("streams") or [])
                calls[e.get("call_id")] = (n + 1, streams)
            elif e.get("type") == "stats":
                stats = e
    return ends, byes, calls, stats


ends, byes, calls, stats = load(sys.argv[1])
ref_ends, _, ref_calls, _ = load(sys.argv[2])
differ = sum(1 for k in set(calls) | set(ref_calls) if calls.get(k) != ref_calls.get(k))
if ends == ref_ends and differ == 0:
    equal = "yes"
else:
    equal = "no (%d calls differ, %d call_end events, -r %d)" % (differ, ends, ref_ends)
if stats is None:
    print("- - - - %d %d %s" % (ends, byes, equal))
    sys.exit(0)
cap = stats.get("capture")
packets = stats.get("packets", 0)
if isinstance(cap, dict):
    received, queue = cap.get("received", packets), cap.get("queue_drops", "-")
else:
    received, queue = packets, "-"
print("%s %s %s %s %d %d %s" % (received, packets, stats.get("kernel_drops", "-"), queue, ends,
                                byes, equal))
EOF_PY

# The namespace: both ends of the veth pair inside it; IPv6 off before the
# pair exists, so neither end sends router solicitations or DAD probes.
ip netns add "$NS"
ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n "$NS" link add vethA type veth peer name vethB
ip -n "$NS" link set vethA up
ip -n "$NS" link set vethB up
ip netns exec "$NS" sysctl -qw net.ipv6.conf.vethA.disable_ipv6=1 net.ipv6.conf.vethB.disable_ipv6=1
NS_NET=$(ip netns exec "$NS" readlink /proc/self/ns/net)

CLK_TCK=$(getconf CLK_TCK)
# cpu_ns PID: user + sys nanoseconds of the process so far. schedstat has
# each thread's run time to the nanosecond but forgets exited threads;
# /proc/PID/stat's utime + stime has the whole process, truncated to clock
# ticks: the larger of the two.
cpu_ns() {
    s=0
    for f in /proc/"$1"/task/*/schedstat; do
        read -r t _ <"$f" 2>/dev/null && s=$((s + t))
    done
    t=$(sed 's/.*) //' /proc/"$1"/stat | awk -v hz="$CLK_TCK" '{ printf "%.0f", ($12 + $13) * 1e9 / hz }')
    [ "$t" -gt "$s" ] && s=$t
    echo "$s"
}

rx_packets() { ip netns exec "$NS" cat /sys/class/net/vethB/statistics/rx_packets; }

PACKETS=$(python3 -c 'import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("type") == "stats": n = e["packets"]
print(n)' "$WORK/offline.jsonl")

# run KIND RATE: one replay into KIND (siptapd or tcpdump); leaves in
# $TMPD/KIND.replay "achieved_pps sent seconds failed reached_vethB",
# $TMPD/KIND.cpu "cpu_ns startup_cpu_ns" (CPU from just before the replay to
# the end of the quiet: start-up, ~0.3 s for siptapd, is not the packets'),
# and the capture's stderr in $TMPD/KIND.err.
run() {
    kind=$1
    rate=$2
    rm -f "$WORK/live.jsonl"
    if [ "$kind" = siptapd ]; then
        ip netns exec "$NS" "$SIPTAPD" -i vethB -c "$CONF" -o "file:$WORK/live.jsonl" \
            >/dev/null 2>"$TMPD/$kind.err" &
    else
        ip netns exec "$NS" tcpdump -i vethB -B $((BUFFER_MB * 1024)) -w /dev/null -n \
            >/dev/null 2>"$TMPD/$kind.err" &
    fi
    CAP_PID=$! # ip netns exec execs the command: this is its pid
    # Ready once it is in the namespace and its packet socket is open there
    # (the only one: up to 10 s), then a second for it to reach its loop.
    i=0
    while [ "$(readlink "/proc/$CAP_PID/ns/net" 2>/dev/null)" != "$NS_NET" ] ||
        [ "$(wc -l <"/proc/$CAP_PID/net/packet" 2>/dev/null || echo 0)" -lt 2 ]; do
        if ! kill -0 "$CAP_PID" 2>/dev/null || [ $i -ge 100 ]; then
            echo "bench/live.sh: $kind did not start capturing on vethB:" >&2
            cat "$TMPD/$kind.err" >&2
            exit 1
        fi
        sleep 0.1
        i=$((i + 1))
    done
    sleep 1
    rx0=$(rx_packets)
    cpu0=$(cpu_ns "$CAP_PID")

    if [ "$rate" = top ]; then
        speed=--topspeed
        limit=600
    else
        speed=--pps=$rate
        limit=$((PACKETS * 2 / rate + 60))
    fi
    if ! timeout "$limit" ip netns exec "$NS" tcpreplay -K -i vethA "$speed" "$LOAD" \
        >"$TMPD/replay.out" 2>&1; then
        echo "bench/live.sh: tcpreplay $speed failed or ran over $limit s:" >&2
        cat "$TMPD/replay.out" >&2
        exit 1
    fi

    # Quiet: less than 10 ms of CPU in each of two consecutive seconds (at
    # most 120 s: a reader still draining its buffer uses the whole second).
    prev=$(cpu_ns "$CAP_PID")
    quiet=0
    i=0
    while [ $quiet -lt 2 ] && [ $i -lt 120 ]; do
        sleep 1
        now=$(cpu_ns "$CAP_PID")
        if [ $((now - prev)) -lt 10000000 ]; then quiet=$((quiet + 1)); else quiet=0; fi
        prev=$now
        i=$((i + 1))
    done
    cpu=$(($(cpu_ns "$CAP_PID") - cpu0))
    delivered=$(($(rx_packets) - rx0))
    # Per thread (siptapd: the loop, then the capture thread): run time
    # since start and context switches, for the detail line.
    threads=$(for f in /proc/"$CAP_PID"/task/*/schedstat; do
        awk '{ printf "%.3fs/%dsw ", $1 / 1e9, $3 }' "$f"; done)
    stop "$CAP_PID"
    CAP_PID=""

    awk -v d="$delivered" '
        /^Actual:/ { sent = $2; secs = $(NF - 1) }
        /^Rated:/ { for (i = 1; i <= NF; i++) if ($i ~ /^pps/) pps = $(i - 1) }
        /Failed packets:/ { failed = $NF }
        END { printf "%.0f %s %s %s %s\n", pps, sent, secs, failed, d }' "$TMPD/replay.out" \
        >"$TMPD/$kind.replay"
    echo "$cpu $cpu0 $threads" >"$TMPD/$kind.cpu"
}

echo "# load: $LOAD ($PACKETS packets); siptapd: $SIPTAPD; buffer $BUFFER_MB MB;" \
    "$(nproc) CPUs, kernel $(uname -r), $(tcpreplay --version 2>&1 | head -1)" >&2
: >"$TMPD/rows"
for rate in $RATES; do
    r=1
    while [ "$r" -le "$RUNS" ]; do
        run siptapd "$rate"
        read -r s_pps s_sent s_secs s_failed s_deliv <"$TMPD/siptapd.replay"
        read -r s_cpu s_start s_threads <"$TMPD/siptapd.cpu"
        read -r s_recv s_packets s_kdrops s_qdrops s_ends s_byes s_equal <<EOF_S
$(python3 "$TMPD/summary.py" "$WORK/live.jsonl" "$WORK/offline.jsonl")
EOF_S
        [ ! -f "$WORK/live.jsonl" ] || cp "$WORK/live.jsonl" "$WORK/live-$rate-$r.jsonl"
        run tcpdump "$rate"
        read -r t_pps t_sent t_secs t_failed t_deliv <"$TMPD/tcpdump.replay"
        read -r t_cpu t_start t_threads <"$TMPD/tcpdump.cpu"
        t_capt=$(awk '/packets captured/ { print $1 }' "$TMPD/tcpdump.err")
        t_kdrops=$(awk '/dropped by kernel/ { print $1 }' "$TMPD/tcpdump.err")
        echo "rate $rate run $r: siptapd: replay $s_sent packets in $s_secs s ($s_pps pps," \
            "$s_failed failed), $s_deliv reached vethB, $s_recv received ($s_packets analysed)," \
            "kernel drops $s_kdrops, queue drops $s_qdrops, call_end $s_byes bye / $s_ends," \
            "CPU $s_cpu ns (start-up $s_start ns; per thread since start: $s_threads)," \
            "events equal -r: $s_equal;" \
            "tcpdump: replay $t_sent in $t_secs s ($t_pps pps, $t_failed failed)," \
            "$t_deliv reached vethB, $t_capt captured, kernel drops $t_kdrops," \
            "CPU $t_cpu ns (start-up $t_start ns)" >&2
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rate" "$r" "$s_pps" \
            "$t_pps" "$s_kdrops" "$s_qdrops" "$s_byes/$s_ends" "$s_equal" "$t_kdrops" \
            "$s_cpu" "$s_recv" "$t_cpu" "$t_capt" >>"$TMPD/rows"
        r=$((r + 1))
    done
done

awk -F '\t' -v runs="$RUNS" -v calls="$CALLS" -v talk="$TALK" -v n="$PACKETS" -v mb="$BUFFER_MB" '
function per(cpu, pkts) { return pkts > 0 ? sprintf("%.0f", cpu / pkts) : "-" }
BEGIN {
    printf "\nLoad: %d calls x %d s, %d packets; kernel buffer %d MB each. ", calls, talk, n, mb
    printf "Achieved pps: the replay into siptapd / into tcpdump.\n\n"
    printf "| rate asked | achieved pps | siptapd kernel drops | siptapd queue drops "
    printf "| calls ended (bye/total) | events equal -r | tcpdump kernel drops "
    printf "| siptapd CPU ns/packet | tcpdump CPU ns/packet | ratio |\n"
    printf "|---|---|---|---|---|---|---|---|---|---|\n"
}
{
    rate = $1 == "top" ? "top speed" : $1
    if (runs > 1) rate = rate " (run " $2 ")"
    s = per($10, $11)
    t = per($12, $13)
    ratio = (s != "-" && t != "-" && t > 0) ? sprintf("%.2fx", s / t) : "-"
    printf "| %s | %s / %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", rate, $3, $4, $5, $6, $7,
        $8, $9, s, t, ratio
}' "$TMPD/rows"

# Latency: at a low rate (LAT_PPS, default 2,000 packets/s) on a small load
# (20 calls x 3 s), how late each packet-caused event leaves siptapd after
# its packet reached the ring (bench/latency.py: the event's ts is the
# kernel's capture time, on the wall clock the reader stamps lines with).
LAT_PPS=${LAT_PPS:-2000}
if [ "$LAT_PPS" != 0 ]; then
    SMALL=$(capture load 20 3)
    ip netns exec "$NS" "$SIPTAPD" -i vethB -c "$CONF" -o - 2>"$TMPD/lat.err" |
        python3 "$(dirname "$0")/latency.py" >"$TMPD/lat.out" &
    sleep 2
    timeout 120 ip netns exec "$NS" tcpreplay -q -K -i vethA --pps="$LAT_PPS" "$SMALL" \
        >/dev/null 2>&1 || echo "bench/live.sh: the latency replay failed" >&2
    sleep 1
    # The pipeline's siptapd is the one capturing on vethB in our namespace.
    for p in $(pgrep -f "siptapd -i vethB" || :); do
        [ "$(readlink "/proc/$p/ns/net" 2>/dev/null)" = "$NS_NET" ] && kill -TERM "$p"
    done
    wait
    echo
    echo "At $LAT_PPS packets/s ($SMALL): $(cat "$TMPD/lat.out")"
fi
