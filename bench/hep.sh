#!/bin/sh
# bench/hep.sh: SIP messages per second through the HEP output and input,
# on loopback, printed as a markdown table. The rate is per second of
# siptapd's CPU time (user + system): on a shared machine wall time
# measures the neighbours; the wall time is printed beside it.
#
#   output: siptapd -r SIP.pcap -o hep://127.0.0.1:P?transport=tcp|udp into a
#           receiver that counts the messages; the whole run, drain
#           included (over TCP: until the receiver's TCP acknowledged every
#           message), against the same run with -o file:/dev/null (bench/cputime).
#   input:  the HEP stream that run produced, sent REPEAT times back to back
#           over one TCP connection into siptapd -i hep://127.0.0.1:P?transport=tcp;
#           siptapd's CPU time (/proc/PID/stat, 10 ms ticks) from the first
#           byte to the stats event (SIGUSR1, polled every 20 ms) that counts
#           every message decoded.
#
# SIP.pcap is the SIP of a bench/gen_load capture (CALLS calls, 5 messages
# each: INVITE, 200, ACK, BYE, 200), its RTP filtered out with tcpdump.
#
#   bench/hep.sh [CALLS (12000)] [REPEAT (10)]
# Environment: RUNS (3; the best run is kept), BUILD (build-bench/: the
# build as shipped; only siptapd and gen_load are built), WORK
# (/tmp/siptap-bench).
set -eu

CALLS=${1:-12000}
REPEAT=${2:-10}
RUNS=${RUNS:-3}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build-bench}
WORK=${WORK:-/tmp/siptap-bench}
mkdir -p "$WORK"
[ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" "$ROOT" >/dev/null
ninja -C "$BUILD" daemon/siptapd bench/gen_load bench/cputime >/dev/null
TAP="$BUILD/daemon/siptapd"

ALL="$WORK/hep-load-${CALLS}x1.pcap"
SIP="$WORK/hep-sip-${CALLS}.pcap"
[ -s "$ALL" ] || "$BUILD/bench/gen_load" "$ALL" "$CALLS" 1 >&2
[ -s "$SIP" ] || tcpdump -r "$ALL" -w "$SIP" 'udp port 5060' 2>/dev/null
MSGS=$((CALLS * 5))

# A HEP peer on loopback (python3): `recv tcp|udp PORTFILE OUT` counts what
# arrives (and keeps the TCP stream in OUT); `send PORT FILE REPEAT` writes
# FILE REPEAT times on one connection.
PEER="$WORK/hep_peer.py"
cat > "$PEER" <<'EOF'
import socket, sys, time
mode = sys.argv[1]
if mode == "recv":
    proto, portfile, out = sys.argv[2], sys.argv[3], sys.argv[4]
    tcp = proto == "tcp"
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    s.bind(("127.0.0.1", 0))
    if tcp:
        s.listen(1)
    open(portfile, "w").write(str(s.getsockname()[1]))
    count, data = 0, bytearray()
    if tcp:
        c, _ = s.accept()
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            data += b
        open(out, "wb").write(data)
        count = data.count(b"HEP3")
    else:
        s.settimeout(2.0)
        try:
            while True:
                s.recv(65536)
                count += 1
        except socket.timeout:
            pass
    print(count)
else:
    port, path, repeat = int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    data = open(path, "rb").read()
    c = socket.create_connection(("127.0.0.1", port))
    for _ in range(repeat):
        c.sendall(data)
    c.close()
EOF

now() { date +%s.%N; }
best() { sort -n | head -1; }

# ---- output ----
CPUTIME="$BUILD/bench/cputime"
base=$(for i in $(seq "$RUNS"); do
    t0=$(now); c=$("$CPUTIME" "$TAP" -r "$SIP" -o file:/dev/null | cut -d' ' -f1); t1=$(now)
    echo "$c $(echo "$t1 - $t0" | bc -l)"
done | best)

out_run() { # out_run tcp|udp -> "cpu_seconds wall_seconds received"
    rm -f "$WORK/hep.port"
    python3 "$PEER" recv "$1" "$WORK/hep.port" "$WORK/hep-stream.bin" > "$WORK/hep.count" &
    peer=$!
    while [ ! -s "$WORK/hep.port" ]; do sleep 0.05; done
    port=$(cat "$WORK/hep.port")
    t0=$(now)
    c=$("$CPUTIME" "$TAP" -r "$SIP" -o "hep://127.0.0.1:$port?transport=$1" -o file:/dev/null |
        cut -d' ' -f1)
    t1=$(now)
    wait "$peer"
    echo "$c $(echo "$t1 - $t0" | bc -l) $(cat "$WORK/hep.count")"
}

tcp=$(for i in $(seq "$RUNS"); do out_run tcp; done | best)
udp=$(for i in $(seq "$RUNS"); do out_run udp; done | best)
out_run tcp >/dev/null # leaves the TCP stream in hep-stream.bin for the input
STREAM_MSGS=$(python3 -c "import sys; print(open(sys.argv[1],'rb').read().count(b'HEP3'))" \
    "$WORK/hep-stream.bin")

# ---- input ----
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
in_run() { # -> "cpu_seconds wall_seconds"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$TAP" -i "hep://127.0.0.1:$port?transport=tcp" -n bench -o "file:$WORK/hep-in.jsonl" \
        2>/dev/null &
    tap=$!
    sleep 0.3
    total=$((STREAM_MSGS * REPEAT))
    k0=$(ticks "$tap")
    t0=$(now)
    python3 "$PEER" send "$port" "$WORK/hep-stream.bin" "$REPEAT"
    while :; do
        kill -USR1 "$tap"
        sleep 0.02
        got=$(tail -n 1 "$WORK/hep-in.jsonl" | grep -o '"hep.messages":[0-9]*' | cut -d: -f2)
        [ "${got:-0}" -ge "$total" ] && break
    done
    t1=$(now)
    k1=$(ticks "$tap")
    kill -TERM "$tap"
    wait "$tap" || true
    rm -f "$WORK/hep-in.jsonl"
    echo "$(echo "($k1 - $k0) / $(getconf CLK_TCK)" | bc -l) $(echo "$t1 - $t0" | bc -l)"
}
input=$(for i in $(seq "$RUNS"); do in_run; done | best)

rate() { echo "$1 / $2" | bc -l | xargs printf '%.0f'; }
row() { # row LABEL MESSAGES "CPU WALL [RECEIVED]"
    set -- "$1" "$2" $3
    printf '| %s | %d | %.3f | %s | %.3f |\n' "$1" "$2" "$3" "$(rate "$2" "$3")" "$4"
}
echo "| path | messages | CPU s (best of $RUNS) | messages / CPU s | wall s |"
echo "| --- | ---: | ---: | ---: | ---: |"
row '`-r` SIP to `file:/dev/null` (no HEP)' "$MSGS" "$base"
row "\`-o hep://...?transport=tcp\` (SIP + $((${tcp##* } - MSGS)) events, all received)" \
    "${tcp##* }" "${tcp% *}"
row "\`-o hep://...?transport=udp\` ($(echo "$udp" | cut -d' ' -f3) received)" \
    "$(echo "$udp" | cut -d' ' -f3)" "${udp% *}"
row "\`-i hep://...?transport=tcp\` ($REPEAT x $STREAM_MSGS)" "$((STREAM_MSGS * REPEAT))" "$input"
