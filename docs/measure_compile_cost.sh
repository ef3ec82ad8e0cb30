#!/usr/bin/env bash
# What including per costs a translation unit: the CPU time (user + system) of compiling a file
# that includes only <per/per.hpp>, or only one public header, against a baseline file that
# includes what any user of the library includes anyway (<vector>, <random>, <string>). Each
# figure is the median of RUNS compiles.
#
#   docs/measure_compile_cost.sh              table of every public header
#   docs/measure_compile_cost.sh --includes   also: the standard headers each one names, from
#                                             g++ -H, with what each adds to the baseline
#
# Environment: CXX (default g++), CXXFLAGS (default -std=c++17 -O2), RUNS (default 5). The
# ratios are medians over pairs of compiles (baseline, then the file), taken pair by pair.
# The umbrella is also measured without dqn_loss.hpp and the naive_*.hpp references, and without
# checkpoint.hpp as well (its std::istream and std::ostream need <istream> and <ostream>).
set -euo pipefail
cd "$(dirname "$0")/.."

cxx=${CXX:-g++}
read -r -a flags <<<"${CXXFLAGS:--std=c++17 -O2}"
runs=${RUNS:-5}
show_includes=0
if [[ ${1:-} == --includes ]]; then
    show_includes=1
elif [[ $# -gt 0 ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d'
    exit 2
fi

baseline_source=$'#include <vector>\n#include <random>\n#include <string>'

compile() { # the source text $1, compiled and thrown away
    printf '%s\n' "$1" | "$cxx" "${flags[@]}" -Iinclude -x c++ -c - -o /dev/null
}

cpu_seconds() { # of one compile of the source text $1
    local sample
    sample=$({
        TIMEFORMAT='%3U %3S'
        time compile "$1" >/dev/null 2>&1
    } 2>&1)
    awk '{ printf "%.3f", $1 + $2 }' <<<"$sample"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# "<median CPU seconds of the source text $1> <median ratio to the baseline>": after a warm-up,
# $runs pairs of compiles, the baseline and then $1, and the ratio taken pair by pair, so that
# the machine's speed drifting during the measurement does not move the ratio.
measure() {
    compile "$baseline_source"
    compile "$1"
    local seconds=() ratios=() base this
    for ((run = 0; run < runs; ++run)); do
        base=$(cpu_seconds "$baseline_source")
        this=$(cpu_seconds "$1")
        seconds+=("$this")
        ratios+=("$(awk -v a="$this" -v b="$base" 'BEGIN { printf "%.3f", a / b }')")
    done
    echo "$(printf '%s\n' "${seconds[@]}" | median) $(printf '%s\n' "${ratios[@]}" | median)"
}

# The umbrella without the parts proposed for removal: per.hpp's own include lines, minus those.
umbrella_lines=$(grep '^#include "' include/per/per.hpp | sed 's|#include "\(.*\)"|#include <per/\1>|')
light_umbrella=$(grep -v -e 'dqn_loss.hpp' -e 'naive_replay.hpp' -e 'naive_rank_based.hpp' \
    <<<"$umbrella_lines")

no_checkpoint_umbrella=$(grep -v 'checkpoint.hpp' <<<"$light_umbrella")

names=("baseline: <vector> <random> <string>" "<per/per.hpp>"
    "per.hpp minus dqn_loss, naive_replay, naive_rank_based"
    "per.hpp minus those and checkpoint")
sources=("$baseline_source" "#include <per/per.hpp>" "$light_umbrella" "$no_checkpoint_umbrella")
for header in include/per/*.hpp; do
    name=${header#include/}
    [[ $name == per/per.hpp ]] && continue
    names+=("<$name>")
    sources+=("#include <$name>")
done

echo "$("$cxx" --version | head -n 1); flags: ${flags[*]}; median of $runs runs (user + sys)"
echo
echo "| translation unit includes | CPU s | ratio to baseline |"
echo "|---|---:|---:|"
for index in "${!names[@]}"; do
    read -r seconds ratio <<<"$(measure "${sources[$index]}")"
    printf '| %s | %.2f | %.2f |\n' "${names[$index]}" "$seconds" "$ratio"
done

if ((show_includes)); then
    echo
    echo "Standard headers first named by per's headers (g++ -H); for each, the ratio of the"
    echo "baseline plus that header alone to the baseline: what it adds to a translation unit."
    baseline_files=$(printf '%s\n' "$baseline_source" |
        "$cxx" "${flags[@]}" -x c++ -fsyntax-only -H - 2>&1 >/dev/null | awk '/^\.+ /{ print $2 }' |
        sort -u)
    declare -A std_cost=()
    for index in "${!names[@]}"; do
        ((index == 0)) && continue
        # A line of -H is "<depth dots> <path>"; a header's parent is the last line one level up.
        named=$(printf '%s\n' "${sources[$index]}" |
            "$cxx" "${flags[@]}" -Iinclude -x c++ -fsyntax-only -H - 2>&1 >/dev/null |
            awk '/^\.+ / {
                     depth = length($1); parent[depth] = $2
                     if (depth == 1 || parent[depth - 1] ~ /include\/per\//) {
                         if ($2 !~ /include\/per\//) print $2
                     }
                 }' | sort -u)
        total=$(printf '%s\n' "${sources[$index]}" |
            "$cxx" "${flags[@]}" -Iinclude -x c++ -fsyntax-only -H - 2>&1 >/dev/null |
            awk '/^\.+ /{ print $2 }' | sort -u | wc -l)
        echo
        echo "${names[$index]}: $total files in all"
        while read -r path; do
            [[ -z $path ]] && continue
            std_name=${path##*/}
            if grep -qxF "$path" <<<"$baseline_files"; then
                echo "  <$std_name> (in the baseline)"
                continue
            fi
            if [[ -z ${std_cost[$std_name]:-} ]]; then
                std_cost[$std_name]=$(measure "$baseline_source"$'\n'"#include <$std_name>" |
                    awk '{ print $2 }')
            fi
            printf '  <%s> %.2f\n' "$std_name" "${std_cost[$std_name]}"
        done <<<"$named"
    done
fi
