//! Backpressure, measured as users run it: a socket source offered twice the rate the job can
//! sustain, with and without backpressure. With it, the PID estimator brings the receiver's
//! rate down to what batches manage, so the scheduling delay stays under two batch intervals;
//! without it, batches fall further behind every second.
//!
//! The job: lines from a loopback socket, counted per batch by a sink that spends
//! `SINK_COST_US` µs per record (a sustainable rate of 1e6 / SINK_COST_US records per second).
//! A writer thread offers twice that rate. Run:
//! `cargo bench -p streamflow-benches --bench backpressure` (`BACKPRESSURE_SECONDS` sets the
//! length of each run, 20 by default). Results in `benches/RESULTS.md`.

#![allow(clippy::unwrap_used, reason = "a benchmark that fails should stop")]

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use streamflow::source::SourceLimits;
use streamflow::{Duration, StreamingContext};

const INTERVAL_MS: u64 = 500;
const SINK_COST_US: u64 = 50;

fn run(backpressure: bool, seconds: u64) {
    let sustainable = 1_000_000 / SINK_COST_US;
    let offered = 2 * sustainable;
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let limits = SourceLimits::default()
        .backpressure(backpressure)
        .initial_rate(if backpressure { sustainable / 2 } else { 0 });
    let ssc = StreamingContext::builder()
        .batch_duration(Duration::milliseconds(INTERVAL_MS))
        .parallelism(2)
        .source_limits(limits)
        .build()
        .unwrap();
    ssc.socket_text_stream("127.0.0.1", port)
        .count()
        .foreach_batch(|batch, _time| {
            let n: u64 = batch.collect().into_iter().sum();
            std::thread::sleep(std::time::Duration::from_micros(n * SINK_COST_US));
        });
    ssc.start().unwrap();
    let (mut conn, _) = server.accept().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writing = stop.clone();
    // Offers `offered` lines per second, in 10 ms slices; a full socket blocks the writer,
    // which then offers less: that is TCP's backpressure, the receiver's reading slowed.
    let writer = std::thread::spawn(move || {
        let per_slice = offered / 100;
        let line = b"a line of about forty bytes, give or take\n";
        let slice: Vec<u8> = line
            .iter()
            .copied()
            .cycle()
            .take(line.len() * per_slice as usize)
            .collect();
        let start = std::time::Instant::now();
        let mut slices = 0_u64;
        while !writing.load(Ordering::Relaxed) {
            if conn.write_all(&slice).is_err() {
                return;
            }
            slices += 1;
            let due = start + std::time::Duration::from_millis(slices * 10);
            if let Some(wait) = due.checked_duration_since(std::time::Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    });
    std::thread::sleep(std::time::Duration::from_secs(seconds));
    let batches = ssc.recent_batches();
    stop.store(true, Ordering::Relaxed);
    ssc.stop(false).unwrap();
    let _ = writer.join();
    // The second half of the run: after the estimator settled.
    let settled = &batches[batches.len() / 2..];
    let mut delays: Vec<u128> = settled.iter().map(|b| b.scheduling_delay.as_millis()).collect();
    let mut sizes: Vec<u64> = settled.iter().map(|b| b.num_records).collect();
    delays.sort_unstable();
    sizes.sort_unstable();
    let median = |v: &[u128]| v.get(v.len() / 2).copied().unwrap_or(0);
    println!(
        "backpressure {:>3}: {} batches in {seconds} s, second half: scheduling delay median {} ms, max {} ms (interval {INTERVAL_MS} ms); records per batch median {} (sustainable {}, offered {})",
        if backpressure { "on" } else { "off" },
        batches.len(),
        median(&delays),
        delays.last().copied().unwrap_or(0),
        sizes.get(sizes.len() / 2).copied().unwrap_or(0),
        sustainable * INTERVAL_MS / 1_000,
        offered * INTERVAL_MS / 1_000,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument picks one run.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let seconds = std::env::var("BACKPRESSURE_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    for (name, on) in [("on", true), ("off", false)] {
        if filter.as_deref().is_none_or(|f| name.contains(f)) {
            run(on, seconds);
        }
    }
}
