#!/usr/bin/env python3
"""Runs streamflow and Spark Structured Streaming alternately on the same generated files and
prints one table: workload, streamflow, Spark, ratio, and whether the results agree.

    benches/peers/spark/side_by_side.py [--events 2M] [--rounds 3] [--workloads q0,q1,q2,q5,q7]

Both run whole processes on `local[2]` / 2 threads over the same files (Spark: `availableNow`,
2 shuffle partitions). The times are wall-clock medians of `--rounds` runs with their ranges,
for the whole process (Spark's includes starting its JVM), with CPU time and peak RSS. The
results agree when the two result files are equal line for line (see `nexmark.py` for what
each query writes). A disagreement fails the run (exit status 1).

Workloads:
- q0, q1, q2, q5, q7: Nexmark over bid files written by streamflow's generator
  (`nexmark --write-bids`), streamflow reading the same files (`nexmark --from-files`);
- word_count, event_time_count: over the perf helper's generated inputs (`gen_input`), when
  `benches/src/bin/gen_input.rs` and `benches/scripts/end_to_end.sh` are present (see
  `other_workloads`).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
NEXMARK = ("q0", "q1", "q2", "q5", "q7")
sys.path.insert(0, os.path.join(ROOT, "benches", "scripts"))
from whole_process import machine, median_range, timed  # noqa: E402


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def build():
    subprocess.run(
        ["cargo", "build", "--release", "-p", "streamflow-examples", "--bin", "nexmark"],
        cwd=ROOT, check=True,
    )
    return os.path.join(target_dir(), "release", "nexmark")


def spark_python():
    venv = subprocess.run(
        [os.path.join(HERE, "setup.sh")], check=True, stdout=subprocess.PIPE, text=True
    ).stdout.strip().splitlines()[-1]
    return os.path.join(venv, "bin", "python")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", default="2M", help="Nexmark events (bids are 92%% of them)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default=",".join(NEXMARK))
    parser.add_argument("--files", default="8", help="bid files")
    parser.add_argument("--keep", help="keep the inputs and results in this directory")
    args = parser.parse_args()

    nexmark = build()
    python = spark_python()
    work = args.keep or tempfile.mkdtemp(prefix="side-by-side-")
    os.makedirs(work, exist_ok=True)
    bids = os.path.join(work, "bids")
    if not os.path.isdir(bids):
        subprocess.run(
            [nexmark, "--events", args.events, "--write-bids", bids, "--files", args.files],
            check=True,
        )

    rows = []
    failed = False
    for workload in args.workloads.split(","):
        if workload not in NEXMARK:
            raise SystemExit(f"unknown workload {workload!r}")
        ours, theirs, agree = [], [], True
        for r in range(args.rounds):
            sf_result = os.path.join(work, f"{workload}.streamflow.txt")
            sp_result = os.path.join(work, f"{workload}.spark.txt")
            ours.append(timed([nexmark, "--query", workload, "--from-files", bids, "--result", sf_result]))
            theirs.append(timed([python, os.path.join(HERE, "nexmark.py"), "--query", workload,
                                 "--input", bids, "--result", sp_result]))
            with open(sf_result) as a, open(sp_result) as b:
                same = a.read() == b.read()
            if not same:
                agree = False
                print(f"DISAGREE: {workload} round {r}: diff {sf_result} {sp_result}", file=sys.stderr)
            print(f"{workload} round {r}: streamflow {ours[-1][0]:.2f} s, spark {theirs[-1][0]:.2f} s, "
                  f"{'agree' if same else 'DISAGREE'}", file=sys.stderr)
        failed |= not agree
        sf_wall = [o[0] for o in ours]
        sp_wall = [t[0] for t in theirs]
        rows.append((
            f"nexmark {workload}",
            median_range(sf_wall) + " s", f"{statistics.median(o[1] for o in ours):.2f} s",
            f"{statistics.median(o[2] for o in ours):.0f} MiB",
            median_range(sp_wall) + " s", f"{statistics.median(t[1] for t in theirs):.2f} s",
            f"{statistics.median(t[2] for t in theirs):.0f} MiB",
            f"{statistics.median(sp_wall) / statistics.median(sf_wall):.1f}×",
            "yes" if agree else "NO",
        ))

    header = ("workload", "streamflow wall", "CPU", "RSS", "Spark wall", "CPU", "RSS",
              "Spark / streamflow", "results agree")
    print(f"machine: {machine()}")
    print(f"\n{args.events} Nexmark events, {args.rounds} rounds, alternating; medians (range)\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
