"""What the Spark jobs of the side-by-side runs share: the session (local[2], 2 shuffle
partitions, no UI), and the resources of Spark's JVM, which /usr/bin/time does not see (the
JVM is a child that pyspark stops without waiting for it)."""

import os
import sys

from pyspark.sql import SparkSession


def session(name):
    spark = (
        SparkSession.builder.master("local[2]")
        .appName(name)
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _jvm_pids():
    me = str(os.getpid())
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if fields[1] == me and "java" in stat[: stat.rfind(")")]:
            pids.append(pid)
    return pids


def report_jvm():
    """Prints `SPARK_JVM <cpu s> <peak RSS KiB>` of the JVM(s) this process started (Linux
    /proc; clock ticks of 1/100 s), for the driver to add to the Python process's figures."""
    cpu, rss = 0.0, 0
    for pid in _jvm_pids():
        try:
            stat = open(f"/proc/{pid}/stat").read()
            fields = stat[stat.rfind(")") + 2:].split()
            cpu += (int(fields[11]) + int(fields[12])) / 100.0
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmHWM:"):
                    rss += int(line.split()[1])
        except OSError:
            continue
    print(f"SPARK_JVM {cpu:.2f} {rss}", file=sys.stderr)
