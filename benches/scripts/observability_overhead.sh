#!/usr/bin/env bash
# What watching a job costs it: the same whole-process word count (observed_word_count) with
# the dashboard, its API polled and Prometheus metrics on, and off — run alternately ROUNDS
# times each so both see the same machine load; prints each run's wall time and the medians.
#
#   benches/scripts/observability_overhead.sh [ROUNDS] [extra args for observed_word_count]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-7}
shift || true
cargo build --release -q -p streamflow-benches --features ui --bin observed_word_count
exe="${CARGO_TARGET_DIR:-target}/release/observed_word_count"
declare -a off on
for r in $(seq "$rounds"); do
    for mode in off on; do
        flag=(); [ "$mode" = on ] && flag=(--ui)
        start=$(date +%s%N)
        "$exe" "${flag[@]}" "$@" >/dev/null
        ms=$(( ($(date +%s%N) - start) / 1000000 ))
        echo "round $r $mode ${ms} ms"
        if [ "$mode" = on ]; then on+=("$ms"); else off+=("$ms"); fi
    done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
m_off=$(median "${off[@]}") m_on=$(median "${on[@]}")
echo "median off ${m_off} ms, on ${m_on} ms, overhead $(awk -v a="$m_off" -v b="$m_on" 'BEGIN {printf "%+.2f%%", (b-a)/a*100}')"
