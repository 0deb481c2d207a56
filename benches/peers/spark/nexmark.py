"""Nexmark q0, q1, q2, q5 and q7 in Spark Structured Streaming, as Spark SQL over bid files.

The bids are the CSV files streamflow's generator writes (`nexmark --write-bids DIR`):
`auction,bidder,price,date_time,extra`, no header, `date_time` in epoch milliseconds. The query
runs on `local[2]` with 2 shuffle partitions and the `availableNow` trigger, and its result is
written summarised the way streamflow's `nexmark --result FILE` writes it, so the two files can
be compared line for line:

- q0, q1: `rows,N` then the sums of auction, bidder, price, date_time and len(extra) (mod 2^64);
- q2: `auction,count,sum_price` per selected auction;
- q5: `window_start_ms,window_end_ms,auction,count` for the most-bid auctions of each window;
- q7: `window_start_ms,window_end_ms,price,auction,bidder`, the highest bid of each window.

    python nexmark.py --query q5 --input DIR --result FILE
"""

import argparse
import os
import sys
import tempfile
import time

from common import report_jvm, session

SCHEMA = "auction BIGINT, bidder BIGINT, price BIGINT, date_time BIGINT, extra STRING"
WATERMARK = "1 second"  # streamflow_examples::nexmark::WATERMARK_DELAY

QUERIES = {
    # Flink's Nexmark SQL, over the `bid` view.
    "q0": "SELECT auction, bidder, price, date_time, extra FROM bid",
    "q1": "SELECT auction, bidder, price * 89 div 100 AS price, date_time, extra FROM bid",
    "q2": "SELECT auction, price FROM bid WHERE auction % 123 = 0",
    "q5": """SELECT window(ts, '10 seconds', '2 seconds') AS w, auction, count(*) AS n
             FROM bid GROUP BY window(ts, '10 seconds', '2 seconds'), auction""",
    "q7": """SELECT window(ts, '10 seconds') AS w, max(struct(price, auction, bidder)) AS m
             FROM bid GROUP BY window(ts, '10 seconds')""",
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--query", required=True, choices=sorted(QUERIES))
    parser.add_argument("--input", required=True)
    parser.add_argument("--result", required=True)
    args = parser.parse_args()

    spark = session(f"nexmark-{args.query}")
    started = time.perf_counter()

    bids = (
        spark.readStream.schema(SCHEMA).option("header", "false").csv(args.input)
        .selectExpr("*", "timestamp_millis(date_time) AS ts")
        .withWatermark("ts", WATERMARK)
    )
    bids.createOrReplaceTempView("bid")
    query_df = spark.sql(QUERIES[args.query])

    state = {"sums": [0] * 6, "per_auction": {}, "rows": []}

    def sums(batch, _id):
        row = batch.selectExpr(
            "count(*)", "sum(auction)", "sum(bidder)", "sum(price)", "sum(date_time)",
            "sum(length(extra))",
        ).collect()[0]
        state["sums"] = [a + (b or 0) for a, b in zip(state["sums"], row)]

    def per_auction(batch, _id):
        for r in batch.groupBy("auction").agg({"*": "count", "price": "sum"}).collect():
            n, s = state["per_auction"].get(r[0], (0, 0))
            state["per_auction"][r[0]] = (n + r["count(1)"], s + r["sum(price)"])

    def hot_items(batch, _id):
        # The most-bid auctions of each window, in SQL on the batch (whole windows: Append).
        batch.createOrReplaceTempView("counts")
        state["rows"] += batch.sparkSession.sql(
            """SELECT unix_millis(c.w.start), unix_millis(c.w.end), c.auction, c.n
               FROM counts c JOIN (SELECT w, max(n) AS top FROM counts GROUP BY w) t
               ON c.w = t.w AND c.n = t.top"""
        ).collect()

    def highest(batch, _id):
        state["rows"] += batch.selectExpr(
            "unix_millis(w.start)", "unix_millis(w.end)", "m.price", "m.auction", "m.bidder"
        ).collect()

    sink = {"q0": sums, "q1": sums, "q2": per_auction, "q5": hot_items, "q7": highest}[args.query]
    mode = "append"
    with tempfile.TemporaryDirectory(prefix="spark-nexmark-") as checkpoint:
        query = (
            query_df.writeStream.outputMode(mode)
            .option("checkpointLocation", os.path.join(checkpoint, "cp"))
            .trigger(availableNow=True)
            .foreachBatch(sink)
            .start()
        )
        query.awaitTermination()
    elapsed = time.perf_counter() - started

    if args.query in ("q0", "q1"):
        names = ["rows", "sum_auction", "sum_bidder", "sum_price", "sum_date_time", "sum_extra_len"]
        lines = [f"{n},{v % (1 << 64)}" for n, v in zip(names, state["sums"])]
    elif args.query == "q2":
        lines = [f"{a},{n},{s}" for a, (n, s) in sorted(state["per_auction"].items())]
    else:
        lines = [",".join(str(v) for v in r) for r in sorted(tuple(r) for r in state["rows"])]
    lines.sort()  # as text, as streamflow's `nexmark --result` sorts its lines
    with open(args.result, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"spark {args.query}: query {elapsed:.2f} s, {len(lines)} result lines", file=sys.stderr)
    report_jvm()
    spark.stop()


if __name__ == "__main__":
    main()
