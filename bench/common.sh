# bench/common.sh: what bench/run.sh and bench/compare.sh share, sourced by
# both (POSIX sh). Sets ROOT, BUILD (build-bench/, meson.build's defaults as
# shipped) and WORK (captures, kept and reused), and builds the tree.

WORK=${WORK:-/tmp/siptap-bench}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-"$ROOT/build-bench"}

mkdir -p "$WORK"
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" "$ROOT" >/dev/null
fi
ninja -C "$BUILD" >/dev/null

capture() { # capture NAME CALLS TALK -> path of a gen_load capture (generated once)
    f="$WORK/$1-$2x$3.pcap"
    [ -s "$f" ] || "$BUILD/bench/gen_load" "$f" "$2" "$3" >&2
    echo "$f"
}

min_median() { # min_median FILE (one number a line) -> "min median" (the lower median)
    sort -n "$1" | awk '{ v[NR] = $1 } END { print v[1], v[int((NR + 1) / 2)] }'
}
