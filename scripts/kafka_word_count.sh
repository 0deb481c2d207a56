#!/usr/bin/env bash
# The `kafka_word_count` example end to end: starts a tansu broker (scripts/tansu.sh), a
# producer of sample lines (10 a second), and the job (counts per one-second batch, printed
# and written to the topic `counts`; a commit marker per batch, since tansu 0.6 has no transactions). Runs for ${SECONDS_TO_RUN:-15} seconds,
# then stops the job gracefully and the broker.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d -t kafka-word-count.XXXXXX)"
addr="$(bash scripts/tansu.sh start "$work")"
trap 'kill "${producer:-}" "${job:-}" 2>/dev/null || true; bash scripts/tansu.sh stop "$work"' EXIT
cargo build -q -p streamflow-examples --features kafka --bin kafka_word_count
bin="${CARGO_TARGET_DIR:-target}/debug/kafka_word_count"
"$bin" produce --brokers "$addr" --topic counts --lines 0 --partitions 3 >/dev/null
"$bin" produce --brokers "$addr" --topic lines --lines 100000 --partitions 3 --per-second 10 &
producer=$!
"$bin" run --brokers "$addr" --input lines --output counts --checkpoint "$work/checkpoint" --delivery markers &
job=$!
sleep "${SECONDS_TO_RUN:-15}"
kill -TERM "$job"
wait "$job" || true
echo "kafka_word_count: broker $addr, checkpoint $work/checkpoint"
