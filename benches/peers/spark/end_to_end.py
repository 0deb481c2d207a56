"""The end-to-end workloads in Spark Structured Streaming, over the files of the perf benches'
`gen_input` (see the formats at the top of `benches/src/bin/gen_input.rs`), on `local[2]` with
2 shuffle partitions and the `availableNow` trigger. The result is written in the canonical
forms of `streamflow_benches::end_to_end`, so it compares byte for byte with the streamflow
programs' and the hand-written baselines':

- `words`: every word's count, `word<TAB>count` sorted by word;
- `events`: events per key in 1-minute tumbling windows of `event_time_millis`, watermark 10 s,
  Append mode: `window_start_ms<TAB>key<TAB>count` sorted by window start, then key.

    python end_to_end.py words|events --input DIR --output FILE
"""

import argparse
import os
import sys
import tempfile
import time

from common import report_jvm, session


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("workload", choices=["words", "events"])
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    spark = session(f"end-to-end-{args.workload}")
    started = time.perf_counter()
    rows = []

    if args.workload == "words":
        lines = spark.readStream.text(args.input)
        lines.createOrReplaceTempView("lines")
        counts = spark.sql(
            "SELECT word, count(*) AS n FROM (SELECT explode(split(value, ' ')) AS word FROM lines) "
            "GROUP BY word"
        )
        mode = "complete"

        def sink(batch, _id):
            rows[:] = batch.collect()  # Complete: the last batch holds every count
    else:
        events = (
            spark.readStream.schema("event_time_millis BIGINT, key STRING")
            .option("header", "true").csv(args.input)
            .selectExpr("timestamp_millis(event_time_millis) AS ts", "key")
            .withWatermark("ts", "10 seconds")
        )
        events.createOrReplaceTempView("events")
        counts = spark.sql(
            "SELECT unix_millis(window(ts, '1 minute').start) AS start, key, count(*) AS n "
            "FROM events GROUP BY window(ts, '1 minute'), key"
        )
        mode = "append"

        def sink(batch, _id):
            rows.extend(batch.collect())  # Append: each window once, when it closes

    with tempfile.TemporaryDirectory(prefix="spark-e2e-") as checkpoint:
        query = (
            counts.writeStream.outputMode(mode)
            .option("checkpointLocation", os.path.join(checkpoint, "cp"))
            .trigger(availableNow=True)
            .foreachBatch(sink)
            .start()
        )
        query.awaitTermination()
    elapsed = time.perf_counter() - started

    with open(args.output, "w") as out:
        if args.workload == "words":
            for word, n in sorted((r[0].encode(), r[1]) for r in rows):
                out.write(f"{word.decode()}\t{n}\n")
        else:
            for start, key, n in sorted((r[0], r[1].encode(), r[2]) for r in rows):
                out.write(f"{start}\t{key.decode()}\t{n}\n")
    print(f"spark {args.workload}: query {elapsed:.2f} s, {len(rows)} rows", file=sys.stderr)
    report_jvm()
    spark.stop()


if __name__ == "__main__":
    main()
