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
rm -rf build-ci build-ci-asan
CC=gcc meson setup build-ci --buildtype=debugoptimized >/dev/null
ninja -C build-ci
meson test -C build-ci --print-errorlogs --num-processes 2
CC=clang meson setup build-ci-asan -Db_sanitize=address,undefined -Db_lundef=false \
  --buildtype=debug >/dev/null
ninja -C build-ci-asan
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  meson test -C build-ci-asan --print-errorlogs --num-processes 2
