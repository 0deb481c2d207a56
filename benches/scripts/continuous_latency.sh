#!/usr/bin/env bash
# End-to-end latency and throughput of continuous mode vs 100 ms micro-batches, whole
# processes, interleaved rounds (benches/src/bin/continuous_latency.rs). Prints every run's line
# and the load average before each; summarize medians from them.
#
#   benches/scripts/continuous_latency.sh [ROUNDS] [SECONDS]
set -euo pipefail
rounds=${1:-3}
seconds=${2:-8}
cargo build --release -q -p streamflow-benches --bin continuous_latency
bin=${CARGO_TARGET_DIR:-target}/release/continuous_latency
for round in $(seq 1 "$rounds"); do
  for pipeline in filter count; do
    for rate in 100000 0; do
      for mode in continuous micro; do
        echo "round $round load $(cut -d' ' -f1 /proc/loadavg): $("$bin" "$mode" "$pipeline" "$rate" "$seconds")"
      done
      # What durability costs the latency: the same keyed count with a checkpoint.
      if [ "$pipeline" = count ] && [ "$rate" != 0 ]; then
        echo "round $round load $(cut -d' ' -f1 /proc/loadavg): $("$bin" continuous count "$rate" "$seconds" checkpoint)"
      fi
    done
  done
done
