//! Nexmark: one query over the built-in generator's events (or over bid files), timed.
//!
//! `cargo run --release -p streamflow-examples --bin nexmark -- --query q5 --events 10M`
//!
//! Prints the events per second (wall clock) and per core (events over the process's CPU
//! time). Options (`--help` lists them with their defaults): `--query q0|q1|q2|q3|q4|q5|q7|q8`,
//! `--events N` (`10M`, `500k`), `--seed N`, `--out-of-order G` (events per out-of-order
//! group), `--events-per-batch N`, `--parallelism N`, `--from-files DIR` (read the bids from
//! CSV files instead), `--result FILE` (write the query's result, summarised, for comparing
//! systems), `--write-bids DIR [--files N]` (only write the bids as CSV files). Ctrl-C ends the run at
//! once: a graceful stop would process every event the generator has, all of them available.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Parser;
use streamflow::Batch;
use streamflow::source::nexmark::{Bid, NexmarkConfig};
use streamflow::structured::{AggRow, Session, StreamingQuery};
use streamflow_examples::nexmark::{self, HighestBid, HotItem, Input, LocalItem, NewUser, Output};
use streamflow_examples::{cpu_seconds, parse_count};

type BoxError = Box<dyn std::error::Error>;

/// One Nexmark query over the built-in generator's events (or over bid files), timed: prints
/// the events per second (wall clock) and per core (events over the process's CPU time).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The query to run.
    #[arg(long, value_name = "Q", default_value = "q0",
          value_parser = ["q0", "q1", "q2", "q3", "q4", "q5", "q7", "q8"])]
    query: String,
    /// How many events to generate: 10M, 500k, 1000.
    #[arg(long, value_name = "N", default_value = "1M", value_parser = parse_count)]
    events: u64,
    /// The generator's seed.
    #[arg(long, value_name = "N", default_value = "0", value_parser = parse_count)]
    seed: u64,
    /// Events per out-of-order group (1: in order).
    #[arg(long, value_name = "G", default_value = "1", value_parser = at_least_one)]
    out_of_order: u64,
    /// Events per batch.
    #[arg(long, value_name = "N", default_value = "1M", value_parser = at_least_one)]
    events_per_batch: u64,
    /// Worker threads.
    #[arg(long, value_name = "N", default_value = "2", value_parser = at_least_one)]
    parallelism: u64,
    /// Read the bids from the CSV files in DIR (as --write-bids writes them) instead.
    #[arg(long, value_name = "DIR")]
    from_files: Option<PathBuf>,
    /// Write the query's result, summarised and sorted, to FILE (for comparing systems).
    #[arg(long, value_name = "FILE")]
    result: Option<PathBuf>,
    /// Only write the generator's bids as CSV files into DIR, and run no query.
    #[arg(long, value_name = "DIR")]
    write_bids: Option<PathBuf>,
    /// How many files --write-bids writes.
    #[arg(long, value_name = "N", default_value = "8", value_parser = at_least_one)]
    files: u64,
}

/// A count of at least 1, as [`parse_count`] reads it.
fn at_least_one(text: &str) -> Result<u64, String> {
    match parse_count(text)? {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

impl Args {
    /// The generator's settings.
    fn config(&self) -> NexmarkConfig {
        NexmarkConfig {
            events: self.events,
            seed: self.seed,
            out_of_order_group_size: self.out_of_order,
            events_per_batch: self.events_per_batch,
            ..NexmarkConfig::default()
        }
    }
}

/// Sums over every row, in parallel: what q0 and q1 are compared by.
#[derive(Default)]
struct Sums {
    rows: AtomicU64,
    auction: AtomicU64,
    bidder: AtomicU64,
    price: AtomicU64,
    date_time: AtomicU64,
    extra_len: AtomicU64,
}

impl Sums {
    fn add(&self, batch: Batch<Bid>) {
        batch.foreach_partition(|rows| {
            let mut s = [0_u64; 6];
            for b in rows {
                s[0] += 1;
                s[1] = s[1].wrapping_add(b.auction);
                s[2] = s[2].wrapping_add(b.bidder);
                s[3] = s[3].wrapping_add(b.price);
                s[4] = s[4].wrapping_add(b.date_time.millis() as u64);
                s[5] = s[5].wrapping_add(b.extra.len() as u64);
            }
            let all = [
                &self.rows,
                &self.auction,
                &self.bidder,
                &self.price,
                &self.date_time,
                &self.extra_len,
            ];
            for (total, v) in all.iter().zip(s) {
                total.fetch_add(v, Ordering::Relaxed);
            }
        });
    }

    fn lines(&self) -> Vec<String> {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            format!("rows,{}", get(&self.rows)),
            format!("sum_auction,{}", get(&self.auction)),
            format!("sum_bidder,{}", get(&self.bidder)),
            format!("sum_price,{}", get(&self.price)),
            format!("sum_date_time,{}", get(&self.date_time)),
            format!("sum_extra_len,{}", get(&self.extra_len)),
        ]
    }
}

/// Rows read by the query's source, summed over its batches (the last 100 are kept).
static ROWS_READ: AtomicU64 = AtomicU64::new(0);

/// Runs a query whose result is small, keeping every row; returns them as sorted lines.
fn gather<R: Clone + Ord + Send + Sync + 'static>(
    start: impl FnOnce(Output<R>) -> streamflow::Result<StreamingQuery>,
    line: impl Fn(&R) -> String,
) -> Result<Vec<String>, BoxError> {
    let rows = Arc::new(Mutex::new(Vec::<R>::new()));
    let r = rows.clone();
    let out: Output<R> = Arc::new(move |batch, _| {
        r.lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(batch.collect())
    });
    finish(start(out)?)?;
    let mut rows = rows.lock().unwrap_or_else(|e| e.into_inner()).clone();
    rows.sort();
    Ok(rows.iter().map(line).collect())
}

/// Waits for the query to end; notes the rows its source read.
fn finish(q: StreamingQuery) -> streamflow::Result<()> {
    q.await_termination()?;
    let read = q.recent_progress().iter().map(|p| p.num_input_rows).sum();
    ROWS_READ.store(read, Ordering::Relaxed);
    Ok(())
}

/// Runs the query; returns its result as lines (sorted: comparable with other systems').
fn run(session: &Session, query: &str, input: &Input) -> Result<Vec<String>, BoxError> {
    match query {
        "q0" | "q1" => {
            let sums = Arc::new(Sums::default());
            let s = sums.clone();
            let out: Output<Bid> = Arc::new(move |batch, _| s.add(batch));
            finish(if query == "q0" {
                nexmark::q0(session, input, out)?
            } else {
                nexmark::q1(session, input, out)?
            })?;
            Ok(sums.lines())
        }
        "q2" => {
            let per_auction = Arc::new(Mutex::new(BTreeMap::<u64, (u64, u64)>::new()));
            let p = per_auction.clone();
            let out: Output<(u64, u64)> = Arc::new(move |batch, _| {
                let rows = batch.collect();
                let mut map = p.lock().unwrap_or_else(|e| e.into_inner());
                for (auction, price) in rows {
                    let e = map.entry(auction).or_default();
                    *e = (e.0 + 1, e.1 + price);
                }
            });
            finish(nexmark::q2(session, input, out)?)?;
            let map = per_auction.lock().unwrap_or_else(|e| e.into_inner());
            Ok(map.iter().map(|(a, (n, s))| format!("{a},{n},{s}")).collect())
        }
        "q4" => {
            // Complete mode: the last batch holds every category's average.
            let last = Arc::new(Mutex::new(Vec::new()));
            let l = last.clone();
            let out: Output<AggRow<u64, f64>> =
                Arc::new(move |batch, _| *l.lock().unwrap_or_else(|e| e.into_inner()) = batch.collect());
            finish(nexmark::q4(session, input, out)?)?;
            let mut rows: Vec<(u64, f64)> = last
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|r| (r.key, r.value))
                .collect();
            rows.sort_by_key(|(category, _)| *category);
            Ok(rows.iter().map(|(c, avg)| format!("{c},{avg:.2}")).collect())
        }
        "q5" => gather(
            |out| nexmark::q5(session, input, out),
            |h: &HotItem| {
                format!(
                    "{},{},{},{}",
                    h.window.start.millis(),
                    h.window.end.millis(),
                    h.auction,
                    h.count
                )
            },
        ),
        "q7" => gather(
            |out| nexmark::q7(session, input, out),
            |h: &HighestBid| {
                let w = h.window;
                format!(
                    "{},{},{},{},{}",
                    w.start.millis(),
                    w.end.millis(),
                    h.price,
                    h.auction,
                    h.bidder
                )
            },
        ),
        "q3" => gather(
            |out| nexmark::q3(session, input, out),
            |r: &LocalItem| format!("{},{},{},{}", r.auction, r.name, r.city, r.state),
        ),
        "q8" => gather(
            |out| nexmark::q8(session, input, out),
            |r: &NewUser| format!("{},{},{}", r.id, r.name, r.window_start.millis()),
        ),
        other => Err(format!("unknown query {other:?}: q0, q1, q2, q3, q4, q5, q7 or q8").into()),
    }
}

fn main() -> Result<(), BoxError> {
    let args = Args::parse();
    env_logger::init();
    let config = args.config();
    if let Some(dir) = &args.write_bids {
        let bids = nexmark::write_bid_files(&config, dir, args.files)?;
        println!(
            "wrote {bids} bids of {} events into {} files in {}",
            config.events,
            args.files,
            dir.display()
        );
        return Ok(());
    }
    let input = match &args.from_files {
        Some(dir) => Input::BidFiles(dir.clone()),
        None => Input::Generator(config.clone()),
    };
    // No graceful stop on Ctrl-C: a graceful stop processes everything available, which for
    // the generator is every event; Ctrl-C ends the measurement at once instead.
    let session = Session::new(args.parallelism as usize)?;
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let mut result = run(&session, &args.query, &input)?;
    result.sort(); // as text: every system's result file sorts the same way
    let (wall, cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds());
    let events = match &args.from_files {
        Some(_) => ROWS_READ.load(Ordering::Relaxed),
        None => config.events,
    };
    let per_core = match (cpu0, cpu) {
        (Some(a), Some(b)) if b > a => format!("{:.0}", events as f64 / (b - a)),
        _ => "?".into(),
    };
    println!(
        "{}: {events} events in {wall:.3} s on {} threads: {:.0} events/s, {per_core} events/s per core (CPU {:.2} s); {} result lines",
        args.query,
        args.parallelism,
        events as f64 / wall,
        cpu.zip(cpu0).map_or(0.0, |(b, a)| b - a),
        result.len()
    );
    if let Some(path) = &args.result {
        std::fs::write(path, result.join("\n") + "\n")?;
    }
    Ok(())
}
