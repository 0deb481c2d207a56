#!/usr/bin/env python3
"""Runs streamflow and Spark Structured Streaming alternately on the same generated files and
prints one table: workload, streamflow, Spark, ratio, and whether the results agree.

    benches/peers/spark/side_by_side.py [--events 2M] [--rounds 3]
        [--workloads words,events,q0,q1,q2,q5,q7] [--words-mib 50] [--csv-events 10000000]
        [--keep DIR] [--no-build]

Both run whole processes on `local[2]` / 2 threads over the same files (Spark: `availableNow`,
2 shuffle partitions). The times are wall-clock medians of `--rounds` runs with their ranges,
for the whole process (Spark's includes starting its JVM), with CPU time and peak RSS. The
results agree when the two result files are equal line for line (see `nexmark.py` for what
each query writes). A disagreement fails the run (exit status 1).

Workloads:
- q0, q1, q2, q5, q7: Nexmark over bid files written by streamflow's generator
  (`nexmark --write-bids`), streamflow reading the same files (`nexmark --from-files`);
- words, events: the end-to-end word count and event-time windowed count over `gen_input`'s
  files (Zipf text; CSV events), streamflow's `streamflow_word_count --spelling words` and
  `streamflow_event_count` against `end_to_end.py`.
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
END_TO_END = ("words", "events")
sys.path.insert(0, os.path.join(ROOT, "benches", "scripts"))
from whole_process import machine, median_range, timed  # noqa: E402


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def build():
    subprocess.run(
        ["cargo", "build", "--release", "-p", "streamflow-examples", "--bin", "nexmark",
         "-p", "streamflow-benches", "--bin", "gen_input", "--bin", "streamflow_word_count",
         "--bin", "streamflow_event_count"],
        cwd=ROOT, check=True,
    )
    return os.path.join(target_dir(), "release")


def spark_python():
    venv = subprocess.run(
        [os.path.join(HERE, "setup.sh")], check=True, stdout=subprocess.PIPE, text=True
    ).stdout.strip().splitlines()[-1]
    return os.path.join(venv, "bin", "python")


def spark_timed(cmd):
    """`timed`, with the JVM's CPU time and peak RSS (reported by the job) added."""
    wall, cpu, rss, output = timed(cmd)
    jvm = [l.split() for l in output.splitlines() if l.startswith("SPARK_JVM")]
    if jvm:
        cpu += float(jvm[-1][1])
        rss += int(jvm[-1][2]) / 1024
    return wall, cpu, rss, output


def inputs(args, bin_dir, work, workloads):
    """Generates each input once (kept in `work`); returns the directories by name."""
    dirs = {
        "bids": os.path.join(work, f"bids-{args.events}"),
        "words": os.path.join(work, f"words-{args.words_mib}mib"),
        "events": os.path.join(work, f"events-{args.csv_events}"),
    }
    make = {
        "bids": [os.path.join(bin_dir, "nexmark"), "--events", args.events, "--write-bids"],
        "words": [os.path.join(bin_dir, "gen_input"), "words", "--mib", str(args.words_mib), "--out"],
        "events": [os.path.join(bin_dir, "gen_input"), "events", "--events", str(args.csv_events),
                   "--keys", "100000", "--out"],
    }
    needed = {"bids" if w in NEXMARK else w for w in workloads}
    for name in needed:
        if not os.path.isdir(dirs[name]):
            subprocess.run(make[name] + [dirs[name] + ".tmp"], check=True, stdout=subprocess.DEVNULL)
            os.rename(dirs[name] + ".tmp", dirs[name])
    return dirs


def commands(workload, bin_dir, python, dirs, ours_out, theirs_out):
    """The streamflow and the Spark command of a workload, writing their results."""
    if workload in NEXMARK:
        return (
            [os.path.join(bin_dir, "nexmark"), "--query", workload, "--from-files", dirs["bids"],
             "--result", ours_out],
            [python, os.path.join(HERE, "nexmark.py"), "--query", workload, "--input", dirs["bids"],
             "--result", theirs_out],
        )
    program = {"words": ["streamflow_word_count", "--spelling", "words"],
               "events": ["streamflow_event_count"]}[workload]
    return (
        [os.path.join(bin_dir, program[0]), "--input", dirs[workload], "--threads", "2",
         "--output", ours_out] + program[1:],
        [python, os.path.join(HERE, "end_to_end.py"), workload, "--input", dirs[workload],
         "--output", theirs_out],
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", default="2M", help="Nexmark events (bids are 92%% of them)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", default=",".join(END_TO_END + NEXMARK))
    parser.add_argument("--words-mib", type=int, default=50)
    parser.add_argument("--csv-events", type=int, default=10_000_000)
    parser.add_argument("--keep", help="keep the inputs and results in this directory")
    parser.add_argument("--no-build", action="store_true", help="use the release binaries as they are")
    args = parser.parse_args()
    workloads = args.workloads.split(",")
    for w in workloads:
        if w not in NEXMARK + END_TO_END:
            raise SystemExit(f"unknown workload {w!r}: {', '.join(END_TO_END + NEXMARK)}")

    bin_dir = os.path.join(target_dir(), "release") if args.no_build else build()
    python = spark_python()
    work = args.keep or tempfile.mkdtemp(prefix="side-by-side-")
    os.makedirs(work, exist_ok=True)
    dirs = inputs(args, bin_dir, work, workloads)

    rows = []
    failed = False
    for workload in workloads:
        ours, theirs, agree = [], [], True
        for r in range(args.rounds):
            sf_result = os.path.join(work, f"{workload}.streamflow.txt")
            sp_result = os.path.join(work, f"{workload}.spark.txt")
            ours_cmd, theirs_cmd = commands(workload, bin_dir, python, dirs, sf_result, sp_result)
            ours.append(timed(ours_cmd))
            theirs.append(spark_timed(theirs_cmd))
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
            f"nexmark {workload}" if workload in NEXMARK else
            {"words": f"word count, {args.words_mib} MiB", "events": f"event-time count, {args.csv_events} events"}[workload],
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
    print(f"\nNexmark: {args.events} events (the bids as CSV files); {args.rounds} rounds, alternating; "
          "whole processes, medians (range)\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
