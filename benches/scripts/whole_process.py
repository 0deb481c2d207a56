"""Timing whole processes for the benches: wall clock, CPU and peak RSS of one run (through
/usr/bin/time), and medians with ranges. Imported by `nexmark.py` and
`../peers/spark/side_by_side.py`."""

import statistics
import subprocess
import sys
import time


def timed(cmd, env=None):
    """Runs `cmd` to its end: (wall s, CPU s = user + system, peak RSS MiB, its output).
    Exits with the command's output when it fails."""
    marker = "WHOLE_PROCESS"
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", f"{marker} %e %U %S %M"] + cmd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          errors="replace")
    wall = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        sys.stderr.write(output[-4000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    fields = [l for l in output.splitlines() if l.startswith(marker)][-1].split()
    return wall, float(fields[2]) + float(fields[3]), int(fields[4]) / 1024, output


def median_range(values, digits=2):
    """`median (min–max)`."""
    f = f"{{:.{digits}f}}"
    return f"{f.format(statistics.median(values))} ({f.format(min(values))}–{f.format(max(values))})"


def machine():
    """A line about the machine: CPUs, model, load average now."""
    try:
        model = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
    except (OSError, IndexError):
        model = "?"
    try:
        load = open("/proc/loadavg").read().split()[:3]
    except OSError:
        load = ["?"]
    import os
    return f"{os.cpu_count()} CPUs ({model}), load average {' '.join(load)}"
