#!/usr/bin/env python3
"""The Nexmark benches: each query as a whole process (`nexmark` example, 2 threads) beside its
hand-written single-threaded baseline (`nexmark_baseline`), run alternately over the same
generated events; checks that both give the same result and prints one table.

    benches/scripts/nexmark.py [--events 10M] [--rounds 3] [--queries q0,q1,q2,q3,q4,q5,q7,q8]
                               [--out-of-order 1] [--no-build]

Events/s are events generated and processed over the wall time; "per core" is events over
the process's CPU time (user + system), the figure that stays meaningful on a loaded machine.
"""

import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from whole_process import machine, median_range, timed  # noqa: E402


def count(text):
    t = text.lower()
    scale = {"m": 1_000_000, "k": 1_000}.get(t[-1:], 1)
    return int(t[:-1] if scale > 1 else t) * scale


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", default="10M")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--queries", default="q0,q1,q2,q3,q4,q5,q7,q8")
    parser.add_argument("--out-of-order", default="1")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "-p", "streamflow-examples", "--bin", "nexmark",
                        "-p", "streamflow-benches", "--bin", "nexmark_baseline"], cwd=ROOT, check=True)
    events = count(args.events)
    common = ["--events", args.events, "--out-of-order", args.out_of_order]
    print(f"machine: {machine()}", file=sys.stderr)
    rows, failed = [], False
    for q in args.queries.split(","):
        ours, base, agree = [], [], True
        for r in range(args.rounds):
            a, b = f"/tmp/nexmark-bench-{os.getpid()}-{q}.sf", f"/tmp/nexmark-bench-{os.getpid()}-{q}.hw"
            ours.append(timed([os.path.join(target, "release", "nexmark"), "--query", q, "--result", a] + common))
            base.append(timed([os.path.join(target, "release", "nexmark_baseline"), "--query", q, "--result", b] + common))
            with open(a) as fa, open(b) as fb:
                same = fa.read() == fb.read()
            agree &= same
            print(f"{q} round {r}: streamflow {ours[-1][0]:.2f} s (CPU {ours[-1][1]:.2f} s), "
                  f"hand-written {base[-1][0]:.2f} s (CPU {base[-1][1]:.2f} s), "
                  f"{'same result' if same else 'RESULTS DIFFER'}", file=sys.stderr)
            os.remove(a)
            os.remove(b)
        failed |= not agree
        med = lambda runs, i: statistics.median(x[i] for x in runs)  # noqa: E731
        rows.append((
            q,
            median_range([events / x[0] / 1e6 for x in ours]),
            median_range([events / x[1] / 1e6 for x in ours]),
            f"{med(ours, 2):.0f}",
            median_range([events / x[0] / 1e6 for x in base]),
            median_range([events / x[1] / 1e6 for x in base]),
            f"{med(base, 2):.0f}",
            f"{med(base, 0) / med(ours, 0):.2f}×",
            "yes" if agree else "NO",
        ))
    print(f"\n{args.events} events, out-of-order groups of {args.out_of_order}, {args.rounds} rounds "
          f"alternating; M events/s, median (range)\n")
    header = ("query", "streamflow (2 threads) wall", "per core", "RSS MiB",
              "hand-written (1 thread) wall", "per core", "RSS MiB", "wall vs hand-written", "same result")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
