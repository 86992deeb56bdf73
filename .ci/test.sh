#!/usr/bin/env bash
# The whole test suite, as CI runs it: install dependencies, build with
# -Werror, run every unit and end-to-end test, run them again under
# AddressSanitizer + UndefinedBehaviorSanitizer, run each libFuzzer target
# for a bounded time, and check formatting and banned functions.
# Usage: bash .ci/test.sh      (FUZZ_SECONDS=60 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
fuzz_seconds=${FUZZ_SECONDS:-60}
jobs=$(nproc)

step() { printf '\n==== %s\n' "$*"; }

step "dependencies"
bash .ci/deps.sh --test

step "style: clang-format and banned functions"
files=$(git ls-files 'server/*.c' 'server/*.h' 'tests/*.c' 2>/dev/null ||
        find server tests -name '*.[ch]')
clang-format --dry-run --Werror $files
if grep -nE '\b(sprintf|strcpy|strcat|strncpy|strtok|atoi|gets)[[:space:]]*\(' \
        server/*.c server/*.h; then
    echo "banned functions used (see STYLE.md)" >&2
    exit 1
fi

step "build (-Werror) and test"
cmake -S . -B build/ci -DWERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/ci -j "$jobs"
(cd build/ci && ctest --output-on-failure --timeout 1200)

step "sanitizer build (address, undefined) and test"
cmake -S . -B build/asan -DWERROR=ON -DSANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
    >/dev/null
cmake --build build/asan -j "$jobs"
# The container test builds its own image from source; running it twice
# checks nothing new.
(cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure --timeout 1200 -E 'e2e/test_docker')

step "fuzz (${fuzz_seconds}s per target)"
CC=clang cmake -S . -B build/fuzz -DFUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >/dev/null
cmake --build build/fuzz -j "$jobs"
for target in build/fuzz/fuzz_*; do
    [ -x "$target" ] || continue
    name=$(basename "$target")
    corpus="build/fuzz/corpus-$name"
    mkdir -p "$corpus"
    seeds="$root/tests/fuzz/seeds/${name#fuzz_}"
    [ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
    echo "fuzzing $name"
    "$target" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "$corpus" 2>&1 | tail -n 12
done

step "all checks passed"
