#!/usr/bin/env bash
# The `kafka_scale_out` example end to end: starts a tansu broker (scripts/tansu.sh), writes
# events, runs one worker of the group `totals`, then starts two more: they take over partitions
# of the first, with their running totals restored from the changelog; then stops one with
# SIGTERM: it finishes its batch and leaves the group, and the other two take over its partitions
# from its last commit. Prints the workers' logs. (A worker killed with SIGKILL is handed on by
# tansu 0.6 only when a member joins, e.g. the worker restarted under its name, as a supervisor
# would — see examples/tests/kafka_scale_out.rs.)
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d -t kafka-scale-out.XXXXXX)"
addr="$(bash scripts/tansu.sh start "$work")"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; bash scripts/tansu.sh stop "$work"' EXIT
cargo build -q -p streamflow-examples --features kafka --bin kafka_scale_out
bin="${CARGO_TARGET_DIR:-target}/debug/kafka_scale_out"
worker() {
  RUST_LOG="${RUST_LOG:-warn,streamflow::kafka::group=info}" "$bin" worker --brokers "$addr" \
    --group totals --input events --output totals --changelog totals-changelog --member "$1" &
  pids+=($!)
}
"$bin" produce --brokers "$addr" --topic events --count 1000
worker w0
sleep "${SECONDS_ALONE:-10}"
worker w1
worker w2
sleep 5
"$bin" produce --brokers "$addr" --topic events --from 1000 --count 1000
sleep "${SECONDS_TOGETHER:-15}"
echo "kafka_scale_out: stopping w1 (SIGTERM)"
kill -TERM "${pids[1]}"
wait "${pids[1]}" || true
"$bin" produce --brokers "$addr" --topic events --from 2000 --count 1000
sleep "${SECONDS_AFTER_STOP:-10}"
echo "kafka_scale_out: broker $addr; totals in the topic 'totals' (header streamflow.source)"
