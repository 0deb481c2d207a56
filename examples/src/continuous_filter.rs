//! Continuous processing: a rate source → filter → running count per key → console, under
//! `Trigger::continuous`. Every record updates its key's count the moment it arrives (no batch
//! to wait for); each epoch (the checkpoint interval) the console shows the epoch's changed
//! rows, and the job prints the end-to-end latency percentiles of the epoch's records: from
//! the moment the rate source made a record (its `timestamp`) to the moment its new count
//! reached the sink's stage.
//!
//! ```text
//! cargo run --release -p streamflow-examples --bin continuous_filter
//! cargo run --release -p streamflow-examples --bin continuous_filter -- --rate 10000 --seconds 30
//! ```
//!
//! Options (`--help` lists them): `--rate N` records per second (default 1000), `--seconds S`
//! how long to run (default 5), `--interval DURATION` the checkpoint interval (default
//! `"1 second"`). Ctrl-C stops it gracefully: the epoch in progress is committed. The
//! rate source stamps records in whole milliseconds, so a latency here is exact to 1 ms; the
//! microsecond figures of `benches/RESULTS.md` come from a source that stamps nanoseconds.

use std::sync::{Arc, Mutex};

use clap::Parser;
use streamflow::structured::*;

/// A count per key, with the newest record's timestamp: what lets the sink's stage measure
/// how long the record that changed the count took to get there.
struct CountAndNewest;

impl Aggregator<RateRow> for CountAndNewest {
    type Buffer = (u64, i64);
    type Output = (u64, i64);
    fn name(&self) -> &'static str {
        "count"
    }
    fn zero(&self) -> (u64, i64) {
        (0, i64::MIN)
    }
    fn reduce(&self, buffer: &mut (u64, i64), row: &RateRow) {
        buffer.0 += 1;
        buffer.1 = buffer.1.max(row.timestamp.millis());
    }
    fn merge(&self, buffer: &mut (u64, i64), other: (u64, i64)) {
        buffer.0 += other.0;
        buffer.1 = buffer.1.max(other.1);
    }
    fn finish(&self, buffer: &(u64, i64)) -> (u64, i64) {
        *buffer
    }
}

/// The latencies (µs) seen since the last epoch.
type Latencies = Arc<Mutex<Vec<u64>>>;

/// Prints each epoch's latency percentiles.
struct Report(Latencies);

impl StreamingQueryListener for Report {
    fn on_query_progress(&self, progress: &QueryProgress) {
        let mut seen = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        if seen.is_empty() {
            return;
        }
        seen.sort_unstable();
        let at = |q: f64| seen[((seen.len() as f64 * q) as usize).min(seen.len() - 1)] as f64 / 1_000.0;
        println!(
            "epoch {}: {} records, end-to-end latency p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.2} ms",
            progress.batch_id,
            progress.num_input_rows,
            at(0.5),
            at(0.99),
            at(0.999),
            at(1.0)
        );
    }
}

/// Continuous processing: a rate source, a filter and a running count per key under
/// `Trigger::continuous`, printing each epoch's end-to-end latency percentiles.
#[derive(Parser)]
#[command(version, about)]
struct Options {
    /// Records per second from the rate source.
    #[arg(long, value_name = "N", default_value_t = 1_000)]
    rate: u64,
    /// How long to run, in seconds.
    #[arg(long, value_name = "S", default_value_t = 5)]
    seconds: u64,
    /// The checkpoint interval (an epoch), e.g. "1 second" or "500 ms".
    #[arg(long, value_name = "DURATION", default_value = "1 second")]
    interval: streamflow::Duration,
}

fn now_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn run(options: &Options) -> streamflow::Result<()> {
    // Ctrl-C / SIGTERM: commit the epoch in progress, then stop.
    let session = Session::builder()
        .parallelism(2)
        .stop_gracefully_on_shutdown(true)
        .build()?;
    let latencies: Latencies = Arc::default();
    session.add_listener(Arc::new(Report(latencies.clone())));
    let seen = latencies.clone();
    let query = session
        .read_stream::<RateRow>()
        .rate(options.rate)
        .filter(|row| row.value % 10 != 3)
        .group_by(|row| format!("key{}", row.value % 8))
        .agg(CountAndNewest)
        .map(move |row| {
            let made = (row.value.1.max(0) as u64) * 1_000;
            let latency = now_micros().saturating_sub(made);
            seen.lock().unwrap_or_else(|e| e.into_inner()).push(latency);
            (row.key, row.value.0)
        })
        .write_stream()
        .output_mode(OutputMode::Update)
        .trigger(Trigger::continuous(options.interval))
        .console_with(8, true, std::io::stdout())
        .start()?;
    println!("{}", query.explain());
    let _ = query.await_termination_or_timeout(std::time::Duration::from_secs(options.seconds))?;
    query.stop()
}

fn main() {
    let options = Options::parse();
    env_logger::init();
    if let Err(e) = run(&options) {
        eprintln!("continuous_filter: {e}");
        std::process::exit(1);
    }
}
