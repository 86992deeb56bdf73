#!/usr/bin/env bash
# The whole test suite, as CI runs it: install dependencies, build with
# -Werror, run every unit and end-to-end test, check that the unit tests
# kill every listed mutant of the pure modules (tests/mutate.sh), run the
# tests again under AddressSanitizer + UndefinedBehaviorSanitizer, run each
# libFuzzer target for a bounded time, and check formatting and banned
# functions.
# Usage: bash .ci/test.sh      (FUZZ_SECONDS=30 by default, per target;
#                               MUTATE_SECONDS=600 bounds the mutation check)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
fuzz_seconds=${FUZZ_SECONDS:-30}
mutate_seconds=${MUTATE_SECONDS:-600}
jobs=$(nproc)

step() { printf '\n==== %s\n' "$*"; }

step "dependencies"
bash .ci/deps.sh --test

step "style: clang-format and banned functions"
files=$(git ls-files 'server/*.[ch]' 'tests/*.[ch]' 'bench/*.[ch]' 2>/dev/null ||
        find server tests bench -name '*.[ch]')
clang-format --dry-run --Werror $files
if grep -nE '\b(sprintf|strcpy|strcat|strncpy|strtok|atoi|gets)[[:space:]]*\(' \
        server/*.c server/*.h; then
    echo "banned functions used (see STYLE.md)" >&2
    exit 1
fi

step "build (-Werror) and test"
cmake -S . -B build/ci -DWERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/ci -j "$jobs"
# The end-to-end tests mostly wait (on timers, on Pebble, on a settle
# period), so they run side by side, one per core; each uses its own
# ports and temporary directory.
(cd build/ci && ctest --output-on-failure --timeout 1200 -j "$jobs")

step "mutation check (tests/mutate.sh, at most ${mutate_seconds}s)"
# Each mutant in tests/mutants/*.txt is applied to a copy of the tree and
# must make a unit test or test_cli fail; a survivor, a mutant that no
# longer matches the code, or one left unrun by the time bound fails CI.
bash tests/mutate.sh --max-seconds "$mutate_seconds" -j "$jobs"

step "sanitizer build (address, undefined) and test"
cmake -S . -B build/asan -DWERROR=ON -DSANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
    >/dev/null
cmake --build build/asan -j "$jobs"
# The container test builds its own image from source; running it twice
# checks nothing new.
(cd build/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure --timeout 1200 -j "$jobs" -E 'e2e/test_docker')

step "fuzz (${fuzz_seconds}s per target)"
CC=clang cmake -S . -B build/fuzz -DFUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >/dev/null
cmake --build build/fuzz -j "$jobs"
# Each target starts from its seeds (tests/fuzz/seeds/<name>/, added to a
# corpus kept in build/fuzz between runs) with its dictionary
# (tests/fuzz/<name>.dict) when there is one. Its output goes to a log;
# one summary line per target says how far it got, and any crash, leak,
# timeout or sanitizer report fails the step after all targets ran.
fuzz_summary=()
fuzz_failed=()
# fuzz_stat NAME: the value of libFuzzer's final "stat::NAME:" line in $log.
fuzz_stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
mkdir -p build/fuzz/artifacts
for target in build/fuzz/fuzz_*; do
    [ -x "$target" ] && [ -f "$target" ] || continue
    name=$(basename "$target")
    short=${name#fuzz_}
    corpus="build/fuzz/corpus-$name"
    log="build/fuzz/$name.log"
    mkdir -p "$corpus"
    seeds="$root/tests/fuzz/seeds/$short"
    [ -d "$seeds" ] && cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
    dict=()
    [ -f "$root/tests/fuzz/$short.dict" ] &&
        dict=(-dict="$root/tests/fuzz/$short.dict")
    echo "fuzzing $name"
    rc=0
    "$target" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="build/fuzz/artifacts/$name-" \
        "${dict[@]}" "$corpus" >"$log" 2>&1 || rc=$?
    # The last status line ("#N DONE cov: C ft: F corp: ...") has the
    # coverage reached (none when the target died at once).
    last=$(grep -E '^#[0-9]+.*cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1 ||
        true)
    cov=$(printf '%s' "$last" | sed -nE 's/.* cov: ([0-9]+).*/\1/p')
    ft=$(printf '%s' "$last" | sed -nE 's/.* ft: ([0-9]+).*/\1/p')
    corp=$(printf '%s' "$last" | sed -nE 's/.* corp: ([0-9]+)\/.*/\1/p')
    line=$(printf '%-20s %s: %s execs (%s/s), cov %s, ft %s, corpus %s, peak rss %s MB' \
        "$name" "$([ "$rc" -eq 0 ] && echo ok || echo "FAILED rc=$rc")" \
        "$(fuzz_stat number_of_executed_units)" "$(fuzz_stat average_exec_per_sec)" \
        "${cov:-?}" "${ft:-?}" "${corp:-?}" "$(fuzz_stat peak_rss_mb)")
    echo "$line"
    fuzz_summary+=("$line")
    if [ "$rc" -ne 0 ]; then
        tail -n 60 "$log"
        fuzz_failed+=("$name")
    fi
done
printf '\nfuzz summary (%ss per target):\n' "$fuzz_seconds"
printf '  %s\n' "${fuzz_summary[@]}"
if [ ${#fuzz_failed[@]} -gt 0 ]; then
    echo "fuzzing failed: ${fuzz_failed[*]} (reproducers in build/fuzz/artifacts/)" >&2
    exit 1
fi

step "all checks passed"
