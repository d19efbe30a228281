#!/usr/bin/env python3
"""bench/latency.py: how late siptapd's events leave after their packet.

Reads siptapd's JSON Lines on stdin (siptapd -i IFACE -o - | bench/latency.py)
and stamps each line with the wall time it arrived. An event's `ts` is the
kernel's capture time of the packet that caused it, on the same clock, so the
difference is the whole path: the ring's block timeout, the capture thread,
the queue, the analysis and the output's flush. Only events a packet causes
at once count (call_start, call_answer, call_fail, call_end: timer-driven
events are stamped with the timer's capture time). Prints one line:

    latency: N events, median X ms, p99 Y ms, max Z ms
"""
import json
import sys
import time
from datetime import datetime, timezone

PACKET_EVENTS = {"call_start", "call_answer", "call_fail", "call_end"}


def main():
    lat = []
    for line in sys.stdin:
        now = time.time()
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("type") not in PACKET_EVENTS:
            continue
        ts = datetime.strptime(ev["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
        ts = ts.replace(tzinfo=timezone.utc).timestamp()
        lat.append((now - ts) * 1000.0)
    if not lat:
        print("latency: no events")
        return 1
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    print("latency: %d events, median %.1f ms, p99 %.1f ms, max %.1f ms"
          % (len(lat), p(0.5), p(0.99), lat[-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
