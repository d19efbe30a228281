#!/bin/sh
# bench/churn.sh: does a tap that runs for months keep its memory flat?
#
# CALLS (default 10,000,000) realistic calls one after the other, CONCURRENT
# (3,000) up at once, from 50,000 registering phones (bench/gen_load
# --churn), piped into `siptapd -r -` (the capture would be ~70 GB), with a
# stats event every 300 s of capture time (about every 200,000 calls). For
# each stats event it prints the calls started so far, the RSS and what
# every table holds (stats.tables). It fails (exit 1) when
#   - RSS grows more than 1 % from the first sample past 1,000,000 calls
#     (past the first fifth of a shorter run) to any later one, or
#   - 120 s after the last call (the last stats event) a table still holds
#     something of a call: calls, media bindings, flows, detector states,
#     TCP streams, IP fragments; registrations may stay (the phones are
#     still registered), at most one per phone.
#
#   bench/churn.sh [CALLS] [CONCURRENT]
# Environment: WORK (/tmp/siptap-bench), BUILD (build-bench/), STATS_S (300).
set -eu

. "$(dirname "$0")/common.sh"
CALLS=${1:-10000000}
CONCURRENT=${2:-3000}
conf="$WORK/churn.conf"
printf "[general]\nstats_interval = %s\n" "${STATS_S:-300}" >"$conf"
stats="$WORK/churn-stats.jsonl"

"$BUILD/bench/gen_load" --churn - "$CALLS" "$CONCURRENT" |
    "$BUILD/daemon/siptapd" -c "$conf" -r - -o - |
    grep --line-buffered -F '"type":"stats"' >"$stats"

python3 - "$stats" "$CALLS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
if len(rows) < 3:
    sys.exit("churn: fewer than 3 stats events")
keys = ["calls", "registrations", "media_bindings", "flows", "flows_of_no_call",
        "detector_states", "timers", "tcp_streams", "ip_fragments", "flow_pool_bytes"]
print("| calls started | RSS (KB) | " + " | ".join(keys) + " |")
print("|---:" * (2 + len(keys)) + "|")
for r in rows:
    print("| %d | %d | %s |" % (r["counters"]["calls.started"], r["rss_kb"],
                                " | ".join(str(r["tables"][k]) for k in keys)))
during, last = rows[:-1], rows[-1]
first_million = min(1000000, int(sys.argv[2]) // 5)  # shorter runs: their first fifth
base = next((r for r in during if r["counters"]["calls.started"] >= first_million), during[0])
peak = max(r["rss_kb"] for r in during[during.index(base):])
growth = (peak - base["rss_kb"]) * 100.0 / base["rss_kb"]
print("\nRSS: %d KB at %d calls, at most %d KB after: %+.2f %%" %
      (base["rss_kb"], base["counters"]["calls.started"], peak, growth))
left = {k: last["tables"][k] for k in
        ["calls", "media_bindings", "flows", "flows_of_no_call", "detector_states",
         "tcp_streams", "ip_fragments"] if last["tables"][k]}
bad = []
if growth > 1.0:
    bad.append("RSS grew %.2f %% (more than 1 %%)" % growth)
if left:
    bad.append("left behind after every call ended: %s" % left)
if last["tables"]["registrations"] > 50000:
    bad.append("%d registrations for 50,000 phones" % last["tables"]["registrations"])
print("after the last call: " + json.dumps(last["tables"]))
if bad:
    sys.exit("churn: FAIL: " + "; ".join(bad))
print("churn: pass")
PY
