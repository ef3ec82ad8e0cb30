#!/bin/bash
# Counts, per priority update, the instructions and the cache misses of the update rows'
# structures under callgrind's cache simulation, and prints them as a markdown table.
#   benchmarks/update_cost.sh <path to per_update_cost> [updates]
# Two runs per configuration: the last level simulated as a 512 KiB L2 (lines that come from
# L3 or memory) and as a 32 MiB L3 (lines that come from memory); L1 is 32 KiB, 8-way, in both.
# A few minutes per configuration at N = 2^20 (valgrind runs the set-up too).
set -euo pipefail
binary=${1:?usage: update_cost.sh <per_update_cost> [updates]}
updates=${2:-32768}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The fields of callgrind's summary line, in the order of its "events:" line.
count() { # file event
    awk -v event="$2" '/^events:/ { for (i = 2; i <= NF; ++i) index_of[$i] = i - 1 }
        /^summary:/ { print $(index_of[event] + 1) }' "$1"
}
echo "| structure | N | batch | instructions | L1d misses | L2 misses (512 KiB) | L3 misses (32 MiB) |"
echo "|:---|---:|---:|---:|---:|---:|---:|"
for configuration in "prioritized_replay 20 256" "prioritized_replay 20 1" "binary_reference 20 1" \
                     "prioritized_replay 10 256" "prioritized_replay 10 1" "binary_reference 10 1"; do
    set -- $configuration
    row=()
    for last_level in "524288,8,64" "33554432,16,64"; do
        out="$work/$1.$2.$3.$last_level"
        valgrind --tool=callgrind --cache-sim=yes --collect-atstart=no --I1=32768,8,64 \
            --D1=32768,8,64 --LL="$last_level" --callgrind-out-file="$out" \
            "$binary" "$1" "$2" "$3" "$updates" > /dev/null 2> "$out.log"
        row+=("$(count "$out" Ir) $(count "$out" D1mr) $(count "$out" D1mw) $(count "$out" DLmr) $(count "$out" DLmw)")
    done
    read -r ir d1r d1w l2r l2w <<< "${row[0]}"
    read -r _ _ _ l3r l3w <<< "${row[1]}"
    awk -v s="$1" -v n="$2" -v b="$3" -v u="$updates" -v ir="$ir" -v d1="$((d1r + d1w))" \
        -v l2="$((l2r + l2w))" -v l3="$((l3r + l3w))" \
        'BEGIN { printf "| `%s` | 2^%s | %s | %.0f | %.1f | %.1f | %.2f |\n", s, n, b, ir / u, d1 / u, l2 / u, l3 / u }'
done
