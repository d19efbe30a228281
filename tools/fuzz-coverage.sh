#!/usr/bin/env bash
# Line coverage of the fuzz targets on their corpora (docs/fuzzing.md).
#
#   tools/fuzz-coverage.sh CORPUS_DIR [TARGET...]
#
# CORPUS_DIR holds one folder per target (as tools/run-tests.sh and a long
# run leave them). Builds build-fuzz-cov (clang, -fprofile-instr-generate
# -fcoverage-mapping, no sanitizers), replays each target's corpus once
# (-runs=0: no fuzzing), and prints per target the line coverage of the
# sources it exists for (per file too with SIPTAP_COVERAGE_FILES=1), then of
# the whole tree over all targets together, per file.
# HTML: llvm-cov show -format=html (the command is printed at the end).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=$(realpath "$1")
shift
targets=${*:-pipeline sip sdp rtp tcp sctp config outputs metrics callcap hep}
build=build-fuzz-cov
if [ ! -d "$build" ]; then
  CC=clang meson setup "$build" -Dfuzz=true -Dtests=disabled --buildtype=debug -Db_lto=false \
    "-Dc_args=-fprofile-instr-generate -fcoverage-mapping" \
    "-Dc_link_args=-fprofile-instr-generate -fcoverage-mapping" >/dev/null
fi
ninja -C "$build" $(for t in $targets; do echo "fuzz/fuzz_$t"; done) >/dev/null

# The sources each target is for (the pipeline: everything it drives).
sources() {
  case $1 in
    pipeline) echo core decoders sip rtp calls rules outputs/event.c outputs/json_write.c ;;
    sip) echo sip/sip_fast.c sip/sip_parse.c ;;
    sdp) echo sip/sdp.c ;;
    rtp) echo rtp ;;
    tcp) echo sip/sip.c ;;
    sctp) echo decoders/sctp.c ;;
    config) echo daemon/config.c rules/rules.c ;;
    outputs) echo outputs/sink.c outputs/redis.c outputs/kafka.c outputs/syslog.c outputs/jsonl.c ;;
    metrics) echo daemon/metrics.c ;;
    callcap) echo daemon/redact.c daemon/callcap.c ;;
    hep) echo decoders/hep.c daemon/hep_input.c outputs/hep_rtcp.c ;;
  esac
}

# lines_covered PROFILE BINARY...: lines covered of the files under the
# paths in $SOURCES, in total or ($MODE files) per file. llvm-cov's own file
# filter does not match the ../ paths meson compiles with.
lines_covered() {
  local profile=$1 bin=$2
  shift 2
  llvm-cov export -summary-only "$bin" "${@/#/-object=}" -instr-profile="$profile" |
    python3 -c '
import json, os, sys
prefixes = sys.argv[1].split()
files = json.load(sys.stdin)["data"][0]["files"]
per_file = {}
for f in files:
    name = os.path.relpath(os.path.normpath(f["filename"]), os.getcwd())
    if any(name == p or name.startswith(p.rstrip("/") + "/") for p in prefixes):
        per_file[name] = f["summary"]["lines"]
if sys.argv[2] == "files":
    for name in sorted(per_file):
        l = per_file[name]
        print("  %-28s %6.1f%% of %d lines" % (name, l["percent"], l["count"]))
else:
    total = sum(l["count"] for l in per_file.values())
    covered = sum(l["covered"] for l in per_file.values())
    print("%.1f%% of %d lines" % (100.0 * covered / max(total, 1), total))
' "$SOURCES" "${MODE:-total}"
}

objects=()
profiles=()
for t in $targets; do
  [ -d "$corpus/$t" ] || continue
  rm -f "$build"/fuzz_"$t"-*.profraw
  LLVM_PROFILE_FILE="$PWD/$build/fuzz_$t-%p.profraw" "$build/fuzz/fuzz_$t" -runs=0 \
    -rss_limit_mb=4096 -max_len=65536 "$corpus/$t" >/dev/null 2>&1 || true
  llvm-profdata merge -sparse "$build"/fuzz_"$t"-*.profraw -o "$build/fuzz_$t.profdata"
  echo "fuzz_$t: $(ls "$corpus/$t" | wc -l) inputs; $(sources "$t"):" \
    "$(SOURCES="$(sources "$t")" lines_covered "$build/fuzz_$t.profdata" "$build/fuzz/fuzz_$t")"
  if [ -n "${SIPTAP_COVERAGE_FILES:-}" ]; then
    SOURCES="$(sources "$t")" MODE=files lines_covered "$build/fuzz_$t.profdata" "$build/fuzz/fuzz_$t"
  fi
  objects+=("$build/fuzz/fuzz_$t")
  profiles+=("$build/fuzz_$t.profdata")
done
llvm-profdata merge -sparse "${profiles[@]}" -o "$build/all.profdata"
tree="core decoders sip rtp calls rules outputs daemon/config.c daemon/metrics.c daemon/callcap.c
  daemon/redact.c daemon/hep_input.c"
echo "all targets together: $(SOURCES="$tree" lines_covered "$build/all.profdata" "${objects[@]}")"
SOURCES="$tree" MODE=files lines_covered "$build/all.profdata" "${objects[@]}"
others=("${objects[@]:1}")
echo "HTML: llvm-cov show ${objects[0]} ${others[*]/#/-object=}" \
  "-instr-profile=$build/all.profdata -format=html -output-dir=$build/html"
