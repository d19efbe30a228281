#!/usr/bin/env bash
# The whole test suite: a gcc build, then the same suite built with clang
# under AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
# Formatting is part of the build's hygiene: every C file as .clang-format says.
if command -v clang-format >/dev/null; then
  git ls-files '*.c' '*.h' | xargs clang-format --dry-run -Werror
else
  echo "clang-format absent: formatting not checked"
fi
rm -rf build-ci build-ci-asan build-ci-tsan
# Criterion then logs each test case, so a case that skips inside its
# executable (public captures absent, no tshark, not root), which meson
# counts as passed, leaves its reason in the log for the summary below.
export CRITERION_VERBOSITY_LEVEL=1
# The gcc suite runs on the build that ships (meson.build's defaults: -O3 -g, LTO).
CC=gcc meson setup build-ci >/dev/null
ninja -C build-ci
meson test -C build-ci --print-errorlogs --num-processes 2
CC=clang meson setup build-ci-asan -Db_sanitize=address,undefined -Db_lundef=false \
  --buildtype=debug -Db_lto=false >/dev/null
ninja -C build-ci-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-ci-asan --print-errorlogs --num-processes 2

# A test executable whose tests were not registered runs nothing and passes
# (gcc's link-time optimisation once dropped Criterion's registration of a
# parameterised test): both builds must list the same tests, and some.
for t in $(cd build-ci && find tests -type f -executable -name 'test_*' | sort); do
  listed=$(build-ci/"$t" --list 2>&1)
  listed_asan=$(build-ci-asan/"$t" --list 2>&1)
  if [ -z "$listed" ] || [ "$listed" != "$listed_asan" ]; then
    echo "FAIL: $t lists different tests in build-ci and build-ci-asan (or none):" >&2
    diff <(echo "$listed") <(echo "$listed_asan") >&2 || true
    exit 1
  fi
done
echo "test registration: every test executable lists the same tests in both builds"

# The capture thread (live capture, and -r of a pipe) is the one place with
# two threads (it and the loop, daemon/capture_queue.c between them): the live
# replay test once more against a ThreadSanitizer build of siptapd, whose
# first report fails the run (exit 66). Only the replay: the idle tap's
# memory test measures a plain build's RSS, and TSan's shadow memory is not
# siptapd's.
CC=clang meson setup build-ci-tsan -Dtests=disabled -Db_sanitize=thread -Db_lundef=false \
  --buildtype=debug -Db_lto=false >/dev/null
ninja -C build-ci-tsan daemon/siptapd
SIPTAPD="$PWD/build-ci-tsan/daemon/siptapd" SIPTAP_BUILD_ROOT="$PWD/build-ci" \
  TSAN_OPTIONS="halt_on_error=1 exitcode=66" build-ci/tests/daemon/test_live \
  --filter='live/replay_*'
echo "daemon_live under ThreadSanitizer: no report"
# A pipe (-r -) is read on the same thread, waking it through an eventfd:
# the quiet-pipe tests (metrics, SIGUSR1, SIGTERM, the end of the pipe)
# against the same build.
SIPTAPD="$PWD/build-ci-tsan/daemon/siptapd" SIPTAP_SOURCE_ROOT="$PWD" \
  TSAN_OPTIONS="halt_on_error=1 exitcode=66" build-ci/tests/ops/test_ops_pipe
echo "ops_pipe under ThreadSanitizer: no report"

# Bounded fuzzing (libFuzzer, ASan+UBSan) of everything that reads the wire
# or the configuration, one target each (docs/fuzzing.md). Each target first
# replays the inputs that once broke it (fuzz/regressions/TARGET/), then runs
# SIPTAP_FUZZ_SECONDS (15 s) on seeds that seed_from_pcap makes from the demo
# capture, the generator's feature tour and the public captures when present,
# plus the configuration files and fuzz/seeds/TARGET/ (the HEP input's are
# hand-made: v3 IPv4/IPv6, RTCP, v2, a stream). Any crash, leak or report
# fails the run.
FUZZ_TARGETS="pipeline sip sdp rtp tcp sctp config outputs metrics callcap hep"
fuzz_seconds="${SIPTAP_FUZZ_SECONDS:-15}"
CC=clang meson setup build-ci-fuzz -Dfuzz=true -Dtests=disabled -Db_sanitize=address,undefined \
  -Db_lundef=false --buildtype=debugoptimized -Db_lto=false >/dev/null
ninja -C build-ci-fuzz fuzz/seed_from_pcap tools/pcapgen/siptap-pcapgen \
  $(for t in $FUZZ_TARGETS; do echo "fuzz/fuzz_$t"; done)
corpus=build-ci-fuzz/corpus
rm -rf "$corpus" && mkdir -p "$corpus/config"
# The generator's feature tour adds what the demo lacks: VLAN tags, IP
# fragments both ways, TCP, rtcp-mux, DTMF, SSRC changes.
build-ci-fuzz/tools/pcapgen/siptap-pcapgen tools/pcapgen/examples/features.scn \
  build-ci-fuzz/features.pcap
public="${SIPTAP_PUBLIC_PCAPS:-../shared/pcaps/public}"
for pcap in samples/demo.pcap build-ci-fuzz/features.pcap "$public"/*.pcap "$public"/*.pcapng \
  "$public"/*.cap; do
  [ ! -f "$pcap" ] || build-ci-fuzz/fuzz/seed_from_pcap "$pcap" "$corpus" 2>/dev/null
done
cp siptap.conf.example rules/defaults.conf samples/demo.conf "$corpus/config/"
for t in $FUZZ_TARGETS; do
  mkdir -p "$corpus/$t"
  [ ! -d "fuzz/seeds/$t" ] || cp fuzz/seeds/"$t"/* "$corpus/$t/"
  replayed=0
  if [ -d "fuzz/regressions/$t" ]; then
    replayed=$(build-ci-fuzz/fuzz/fuzz_"$t" fuzz/regressions/"$t"/* 2>&1 | grep -c '^Executed')
  fi
  # The pipeline spends its first seconds running its many seeds once: twice the time.
  seconds=$fuzz_seconds
  [ "$t" != pipeline ] || seconds=$((fuzz_seconds * 2))
  build-ci-fuzz/fuzz/fuzz_"$t" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=build-ci-fuzz/ "$corpus/$t" 2>&1 |
    grep -E '^(#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units)'
  echo "fuzz_$t: $replayed regression inputs passed, no crash in $seconds s"
done

# One closing line for both builds' suites (meson's own summary is per build).
count() { cat build-ci/meson-logs/testlog.json build-ci-asan/meson-logs/testlog.json |
  grep -c "\"result\": \"$1\"" || true; }
skipped_cases() { for b in build-ci build-ci-asan; do
  grep -h '^\[SKIP\]' "$b/meson-logs/testlog.txt" | sed "s|^\[SKIP\] |$b: |" || true; done; }
echo "tests: $(count OK) passed, $(( $(count FAIL) + $(count TIMEOUT) + $(count ERROR) )) failed, $(count SKIP) skipped"
skipped=$(skipped_cases)
echo "test cases skipped inside their executables: $(grep -c . <<<"$skipped" || true)"
# A parameterised case skips once per parameter: one line each, counted.
[ -z "$skipped" ] || sort <<<"$skipped" | uniq -c | sed 's|^ *\([0-9]*\) |  \1 x |'
