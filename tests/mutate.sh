#!/usr/bin/env bash
# A small mutation check for the pure modules: it makes one small change to
# the code at a time (a flipped comparison, a constant off by one, a dropped
# check), rebuilds, and runs the unit tests and tests/e2e/test_cli.sh. Each
# change must make a test fail ("killed"); one that passes every test
# ("survived") marks a boundary no test sits on.
#
# The mutants live in tests/mutants/<module>.txt, one a line:
#
#   FILE @@ PATTERN @@ REPLACEMENT @@ WHY
#
# PATTERN is a fixed string (no regular expression) that must occur exactly
# once in FILE, so a mutant whose code moved or changed is reported as
# stale instead of silently testing nothing. Fields are separated by "@@";
# one space on either side of a field is dropped, the rest is kept byte
# for byte (so REPLACEMENT may be empty: "@@ @@"). Lines starting with '#'
# and blank lines are ignored.
#
# It works on a copy of the tracked (and untracked, not ignored) files in a
# temporary directory and never writes to the working tree. The copy is
# configured and built once; each mutant is applied to it, rebuilt
# incrementally, tested and reverted.
#
# Usage: bash tests/mutate.sh [--max-seconds N] [-j N] [--keep] [MODULE...]
#   MODULE         only tests/mutants/MODULE.txt (default: every list)
#   --max-seconds  stop starting new mutants after N seconds (default 300);
#                  the ones not run are counted and make the run fail
#   -j N           build and test jobs (default 2)
#   --keep         keep the temporary copy and its logs
# Exit status: 0 when every listed mutant was run and killed; 1 when one
# survived, did not compile, was stale or was not run; 2 on a usage error
# or when the unmutated tree does not pass its own tests.
set -euo pipefail
# Bash 5.2 expands '&' in a ${var/pat/rep} replacement; mutants swap '&&'.
shopt -u patsub_replacement 2>/dev/null || true

root=$(cd "$(dirname "$0")/.." && pwd)
max_seconds=300
jobs=2
keep=0
modules=()

usage() {
    sed -n '/^# Usage:/,/^# Exit/p' "$0" | sed '$d; s/^# //' >&2
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    --max-seconds)
        [ $# -ge 2 ] || usage
        max_seconds=$2
        shift 2
        ;;
    --max-seconds=*)
        max_seconds=${1#*=}
        shift
        ;;
    -j)
        [ $# -ge 2 ] || usage
        jobs=$2
        shift 2
        ;;
    --keep)
        keep=1
        shift
        ;;
    -h | --help) usage ;;
    -*) usage ;;
    *)
        modules+=("$1")
        shift
        ;;
    esac
done
[[ $max_seconds =~ ^[0-9]+$ ]] || usage
[[ $jobs =~ ^[1-9][0-9]*$ ]] || usage

if [ ${#modules[@]} -eq 0 ]; then
    for f in "$root"/tests/mutants/*.txt; do
        [ -f "$f" ] && modules+=("$(basename "$f" .txt)")
    done
fi
for m in "${modules[@]}"; do
    if [ ! -f "$root/tests/mutants/$m.txt" ]; then
        echo "mutate: no mutant list tests/mutants/$m.txt" >&2
        exit 2
    fi
done
if [ ${#modules[@]} -eq 0 ]; then
    echo "mutate: no mutant lists in tests/mutants/" >&2
    exit 2
fi

start=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/mutate.XXXXXX")
cleanup() {
    if [ "$keep" -eq 1 ]; then
        echo "mutate: kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
src=$work/src
build=$work/build
mkdir -p "$src"

# The copy: what `git ls-files` knows plus new files not yet added, so a
# test written a minute ago counts.
if ! git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    echo "mutate: $root is not a git checkout" >&2
    exit 2
fi
(cd "$root" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$root" && tar --null --ignore-failed-read -T - -cf - 2>/dev/null) |
    tar -xf - -C "$src"

# The tests that judge a mutant, as one ctest selection.
tests='^(unit/|e2e/test_cli$)'

# run_tests LOG: 0 when every selected test passes. A mutant that hangs is
# stopped by ctest's timeout (10 s for a module's own unit test, which
# takes milliseconds, 60 s for the whole set) and counts as killed.
run_tests() {
    (cd "$build" && ctest -R "$tests" -j "$jobs" --timeout 60 \
        --output-on-failure) >"$1" 2>&1
}

# One entry per mutant: module, list line number, file, pattern,
# replacement, comment.
m_mod=() m_at=() m_file=() m_pat=() m_rep=() m_why=()
sep='@@'
for m in "${modules[@]}"; do
    n=0
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        case $line in '' | '#'*) continue ;; esac
        rest=$line
        fields=()
        while :; do
            field=${rest%%"$sep"*}
            field=${field# }
            fields+=("${field% }")
            [[ $rest == *"$sep"* ]] || break
            rest=${rest#*"$sep"}
        done
        if [ ${#fields[@]} -ne 4 ]; then
            echo "mutate: tests/mutants/$m.txt:$n: expected" \
                "'FILE @@ PATTERN @@ REPLACEMENT @@ WHY'" >&2
            exit 2
        fi
        if [ "${fields[1]}" = "${fields[2]}" ]; then
            echo "mutate: tests/mutants/$m.txt:$n: the replacement is the" \
                "pattern itself" >&2
            exit 2
        fi
        m_mod+=("$m")
        m_at+=("tests/mutants/$m.txt:$n")
        m_file+=("${fields[0]}")
        m_pat+=("${fields[1]}")
        m_rep+=("${fields[2]}")
        m_why+=("${fields[3]}")
    done <"$root/tests/mutants/$m.txt"
done
total=${#m_mod[@]}

# count_in TEXT PATTERN: how often the fixed string PATTERN occurs (0, 1
# or 2 meaning "more than once").
count_in() {
    local text=$1 pat=$2
    [[ -n $pat && $text == *"$pat"* ]] || {
        echo 0
        return
    }
    text=${text#*"$pat"}
    [[ $text == *"$pat"* ]] && echo 2 || echo 1
}

declare -A n_total n_killed n_survived n_nocompile n_stale n_notrun
for m in "${modules[@]}"; do
    n_total[$m]=0 n_killed[$m]=0 n_survived[$m]=0 n_nocompile[$m]=0
    n_stale[$m]=0 n_notrun[$m]=0
done
failed=()

report() { # STATUS INDEX DETAIL
    printf '%-11s %-28s %s%s\n' "$1" "${m_at[$2]}" "${m_why[$2]}" "$3"
}

# Stale mutants are found before anything is run, so that a time limit
# never hides one.
stale=()
for ((i = 0; i < total; i++)); do
    m=${m_mod[$i]}
    n_total[$m]=$((n_total[$m] + 1))
    stale[i]=0
    f=$src/${m_file[$i]}
    why=
    if [ ! -f "$f" ]; then
        why="no file ${m_file[$i]}"
    else
        text=$(cat "$f"; printf x)
        case $(count_in "${text%x}" "${m_pat[$i]}") in
        0) why="pattern not found in ${m_file[$i]}" ;;
        2) why="pattern found more than once in ${m_file[$i]}" ;;
        esac
    fi
    if [ -n "$why" ]; then
        stale[i]=1
        n_stale[$m]=$((n_stale[$m] + 1))
        report STALE "$i" " ($why)"
        failed+=("${m_at[$i]}")
    fi
done

gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
# No optimisation and no debug info: the fastest rebuild. Warnings stay
# warnings, so a mutant that leaves a variable unused still builds.
if ! cmake -S "$src" -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=None \
    -DWERROR=OFF >"$work/configure.log" 2>&1; then
    cat "$work/configure.log" >&2
    echo "mutate: configuring the copy failed" >&2
    exit 2
fi
if ! cmake --build "$build" -j "$jobs" >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    echo "mutate: the unmutated tree does not build" >&2
    exit 2
fi
if ! run_tests "$work/baseline.log"; then
    tail -n 40 "$work/baseline.log" >&2
    echo "mutate: the unmutated tree fails its tests; fix that first" >&2
    exit 2
fi
echo "mutate: baseline built and passed in $((SECONDS - start))s;" \
    "limit ${max_seconds}s"

for ((i = 0; i < total; i++)); do
    [ "${stale[$i]}" -eq 0 ] || continue
    m=${m_mod[$i]}
    if [ $((SECONDS - start)) -ge "$max_seconds" ]; then
        n_notrun[$m]=$((n_notrun[$m] + 1))
        continue
    fi
    f=$src/${m_file[$i]}
    orig=$(cat "$f"; printf x)
    orig=${orig%x}
    lineno=$(grep -nF -m 1 -- "${m_pat[$i]}" "$f" | cut -d: -f1)
    printf '%s' "${orig/"${m_pat[$i]}"/"${m_rep[$i]}"}" >"$f"
    log=$work/mutant-$i.log
    where="${m_file[$i]}:${lineno:-?}"
    # The module's own unit test first: it kills most mutants, and building
    # and running it alone takes a fraction of the whole set.
    own=test_$m
    [ -f "$src/tests/unit/$own.c" ] || own=
    status="" by="" t0=$EPOCHREALTIME
    if [ -n "$own" ]; then
        if ! cmake --build "$build" -j "$jobs" --target "$own" >"$log" 2>&1
        then
            status=NO-COMPILE
        elif ! (cd "$build" && ctest -R "^unit/$own\$" --timeout 10) \
            >>"$log" 2>&1; then
            status=killed by="unit/$own"
        fi
    fi
    if [ -z "$status" ]; then
        if ! cmake --build "$build" -j "$jobs" >>"$log" 2>&1; then
            status=NO-COMPILE
        elif run_tests "$log"; then
            status=SURVIVED
        else
            status=killed
            by=$(sed -n '/tests FAILED:/,$ s/^[[:space:]]*[0-9]* - \([^ ]*\) .*/\1/p' \
                "$log" | paste -sd, -)
        fi
    fi
    took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" \
        'BEGIN { printf "%.1fs", b - a }')
    case $status in
    NO-COMPILE)
        n_nocompile[$m]=$((n_nocompile[$m] + 1))
        report NO-COMPILE "$i" " ($where)"
        failed+=("${m_at[$i]}")
        ;;
    SURVIVED)
        n_survived[$m]=$((n_survived[$m] + 1))
        report SURVIVED "$i" " ($where)"
        failed+=("${m_at[$i]}")
        ;;
    *)
        n_killed[$m]=$((n_killed[$m] + 1))
        report killed "$i" " (by ${by:-a test}, $took)"
        ;;
    esac
    # Reverted with a fresh mtime, so the next build recompiles it.
    printf '%s' "$orig" >"$f"
done

row() { # MODULE TOTAL KILLED SURVIVED NO-COMPILE STALE NOT-RUN
    printf '%-9s %8d %7d %9d %11d %6d %8d %10s\n' "$@" "$(awk -v k="$3" \
        -v t="$2" 'BEGIN { printf "%.1f%%", t ? 100 * k / t : 0 }')"
}
printf '\n%-9s %8s %7s %9s %11s %6s %8s %10s\n' module mutants killed \
    survived no-compile stale not-run kill-rate
sum=(0 0 0 0 0 0)
for m in "${modules[@]}"; do
    r=("${n_total[$m]}" "${n_killed[$m]}" "${n_survived[$m]}"
        "${n_nocompile[$m]}" "${n_stale[$m]}" "${n_notrun[$m]}")
    row "$m" "${r[@]}"
    for k in 0 1 2 3 4 5; do sum[k]=$((sum[k] + r[k])); done
done
[ ${#modules[@]} -gt 1 ] && row total "${sum[@]}"
all=${sum[0]} notrun=${sum[5]}
echo "mutate: $((SECONDS - start))s"
if [ "$notrun" -gt 0 ]; then
    echo "mutate: $notrun of $all mutants not run: the ${max_seconds}s limit" \
        "was reached (raise --max-seconds)" >&2
fi
if [ ${#failed[@]} -gt 0 ]; then
    echo "mutate: ${#failed[@]} mutants not killed:" "${failed[@]}" >&2
fi
[ "$notrun" -eq 0 ] && [ ${#failed[@]} -eq 0 ]
