#!/usr/bin/env bash
# Before/after: runs the criterion benches of two builds alternately, ROUNDS rounds, so both
# see the same machine load; prints criterion's median estimate per round.
#
#   benches/scripts/compare.sh OLD_DIR NEW_DIR [ROUNDS]
#
# OLD_DIR and NEW_DIR hold the bench executables of each build (from
# `cargo bench -p streamflow-benches --no-run`, copied out of target/release/deps).
set -euo pipefail
old=$1 new=$2 rounds=${3:-3}
opts=(--warm-up-time 1 --measurement-time 4 --sample-size 10 --noplot)
run() { # dir bench filter
    local exe
    exe=$(ls "$1"/"$2"-* | head -1)
    "$exe" --bench "${opts[@]}" "$3" 2>/dev/null |
        awk -v build="$(basename "$1")" '/^[a-z_]+\// {name=$1} /time:/ {gsub(/\[|\]/, ""); print build, name, $4, $5}'
}
for r in $(seq "$rounds"); do
    echo "# round $r"
    for dir in "$old" "$new"; do
        run "$dir" windows 'per_batch|incremental'
        run "$dir" event_time 'engine_p2|baseline'
    done
done
for r in $(seq "$rounds"); do
    for dir in "$old" "$new"; do
        echo "# word_count round $r, $(basename "$dir")"
        exe=$(ls "$dir"/word_count-* | head -1)
        WORD_COUNT_ROUNDS=1 "$exe" --bench 2>/dev/null | grep -E "baseline |engine_words/2|engine_plain/2" || true
    done
done
