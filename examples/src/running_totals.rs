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
//! `--checkpoint DIR` is given. `--help` lists the options and their defaults.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Parser;
use streamflow::Duration;
use streamflow::prelude::*;
use streamflow_examples::checkpoint_dir;

const PRODUCTS: [&str; 5] = ["phone", "laptop", "tablet", "watch", "camera"];

/// Orders per batch in the built-in feed.
const ORDERS_PER_BATCH: u64 = 7;

/// Sales per product, accumulated forever with `update_state_by_key`, from a built-in feed of
/// orders.
#[derive(Parser)]
#[command(version, about)]
struct Options {
    /// Stop after N batches.
    #[arg(long, value_name = "N", default_value_t = 5)]
    batches: u64,
    /// The batch interval, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1_000)]
    batch_ms: u64,
    /// The checkpoint directory [default: a temporary directory, removed at the end].
    #[arg(long, value_name = "DIR")]
    checkpoint: Option<PathBuf>,
    /// Serve the live dashboard on ADDR, e.g. 127.0.0.1:4040 (build with `--features ui`).
    #[arg(long, value_name = "ADDR")]
    ui: Option<String>,
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
    let options = Options::parse();
    if options.batches == 0 {
        return Ok(());
    }
    let (checkpoint, _temporary) = checkpoint_dir(options.checkpoint, "running_totals")?;
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
    ssc.await_termination()?;
    eprintln!("malformed orders skipped: {}", malformed.load(Ordering::Relaxed));
    Ok(())
}
