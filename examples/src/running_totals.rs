//! Sales per product, accumulated forever — the seeds' 实时累加统计 (running totals), with
//! `updateStateByKey`: each batch adds its sales to every product's total, and every total is
//! printed each batch, also for products that sold nothing in it.
//!
//! ```text
//! cargo run --release -p streamflow-examples --bin running_totals
//! cargo run --release -p streamflow-examples --bin running_totals -- --batches 10 --batch-ms 500
//! ```
//!
//! The orders come from a built-in, deterministic feed of `product,amount` lines (as they would
//! arrive from Kafka or a socket), a few per batch; a malformed line is counted and skipped.
//! Like Spark, state needs a checkpoint directory: a temporary one, removed at the end, unless
//! `--checkpoint DIR` is given. Options: `--batches N` stop after N batches (default 5),
//! `--batch-ms MS` the batch interval (default 1000).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use streamflow::prelude::*;

const PRODUCTS: [&str; 5] = ["phone", "laptop", "tablet", "watch", "camera"];

/// Orders per batch in the built-in feed.
const ORDERS_PER_BATCH: u64 = 7;

struct Options {
    batches: u64,
    batch_ms: u64,
    checkpoint: Option<PathBuf>,
    ui: Option<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        batches: 5,
        batch_ms: 1_000,
        checkpoint: None,
        ui: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--batches" => options.batches = value()?.parse().map_err(|e| format!("--batches: {e}"))?,
            "--batch-ms" => options.batch_ms = value()?.parse().map_err(|e| format!("--batch-ms: {e}"))?,
            "--checkpoint" => options.checkpoint = Some(PathBuf::from(value()?)),
            "--ui" => options.ui = Some(value()?),
            "-h" | "--help" => {
                return Err(
                    "usage: running_totals [--batches N] [--batch-ms MS] [--checkpoint DIR] [--ui ADDR]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    Ok(options)
}

/// Order `i` of the built-in feed: `product,amount`, with an occasional malformed line.
fn order(i: u64) -> String {
    if i % 23 == 22 {
        return "camera,free".to_string();
    }
    // Product 4 (camera) only sells in the first batch: its total stays, unchanged, after.
    let product = PRODUCTS[((i * 7 + i / 5) % if i < ORDERS_PER_BATCH { 5 } else { 4 }) as usize];
    let amount = 100 + (i * 37) % 900;
    format!("{product},{amount}")
}

/// Parses `product,amount`.
fn parse_order(line: &str) -> Option<(String, u64)> {
    let (product, amount) = line.split_once(',')?;
    Some((product.trim().to_string(), amount.trim().parse().ok()?))
}

/// The job: sales per product, accumulated forever (the seeds' 实时累加统计).
#[stream_job(batch = "1s", parallelism = 2)]
fn running_totals(ssc: &StreamingContext, checkpoint: &Path, malformed: Arc<AtomicU64>) {
    ssc.checkpoint(checkpoint)?;
    ssc.generator_stream(ORDERS_PER_BATCH, order)
        .flat_map(move |line| {
            let parsed = parse_order(&line);
            if parsed.is_none() {
                malformed.fetch_add(1, Ordering::Relaxed);
            }
            parsed
        })
        .update_state_by_key(|amounts: Vec<u64>, total: Option<u64>| {
            Some(total.unwrap_or(0) + amounts.iter().sum::<u64>())
        })
        .print();
}

/// Stops the job after `limit` batches.
struct StopAfter {
    done: Arc<AtomicU64>,
    limit: u64,
    ssc: StreamingContext,
}

impl streamflow::StreamingListener for StopAfter {
    fn on_batch_completed(&self, _info: &streamflow::BatchInfo) {
        if self.done.fetch_add(1, Ordering::Relaxed) + 1 >= self.limit {
            // Stopping from the listener, which runs on the scheduler thread, ends the job
            // after this batch.
            let _ = self.ssc.stop(false);
        }
    }
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    if let Err(e) = run() {
        eprintln!("running_totals: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_args()?;
    if options.batches == 0 {
        return Ok(());
    }
    let temporary = options.checkpoint.is_none();
    let checkpoint = options.checkpoint.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("streamflow-running_totals-{}", std::process::id()))
    });
    let mut builder = StreamingContext::builder()
        .batch_duration(Duration::from_millis(options.batch_ms))
        .master("local[2]")?
        .app_name("running_totals")
        // Ctrl-C / SIGTERM: process what was received, commit the state, then stop.
        .stop_gracefully_on_shutdown(true);
    if let Some(addr) = &options.ui {
        builder = builder.ui(addr);
    }
    let ssc = builder.build()?;
    if let Some(url) = ssc.ui_url() {
        eprintln!("dashboard: {url}");
    }
    let malformed = Arc::new(AtomicU64::new(0));
    running_totals_on(&ssc, &checkpoint, malformed.clone())?;

    let done = Arc::new(AtomicU64::new(0));
    let stopper = ssc.clone();
    let limit = options.batches;
    ssc.add_streaming_listener(Arc::new(StopAfter {
        done,
        limit,
        ssc: stopper,
    }));
    eprintln!("{}", ssc.explain());
    ssc.start()?;
    let result = ssc.await_termination();
    if temporary {
        let _ = std::fs::remove_dir_all(&checkpoint);
    }
    result?;
    eprintln!("malformed orders skipped: {}", malformed.load(Ordering::Relaxed));
    Ok(())
}
