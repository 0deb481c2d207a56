//! A whole-process word count whose batches run back to back, with or without the dashboard,
//! the JSON API being polled and the metrics being recorded — to measure what watching a job
//! costs it (`benches/scripts/observability_overhead.sh`).
//!
//! ```text
//! observed_word_count [--batches N] [--bytes PER_BATCH] [--ui]
//! ```
//!
//! `--ui` (needs the `ui` feature of streamflow-benches) serves the dashboard on a free loopback
//! port, installs its Prometheus recorder, and polls `/api/jobs/context-1`, its batches and
//! `/metrics` every 100 ms — five times as often as the page does — while the job runs.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use streamflow::{Duration, ManualClock, StreamQueue, StreamingContext, Time};
use streamflow_benches::ZipfText;

fn main() {
    if let Err(e) = run() {
        eprintln!("observed_word_count: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut batches = 200_i64;
    let mut bytes = 200_000_usize;
    let mut ui = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--batches" => batches = args.next().ok_or("--batches N")?.parse()?,
            "--bytes" => bytes = args.next().ok_or("--bytes N")?.parse()?,
            "--ui" => ui = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let clock = ManualClock::new(0);
    let mut builder = StreamingContext::builder()
        .batch_duration(Duration::seconds(1))
        .parallelism(2)
        .clock(clock.clone())
        .app_name("observed_word_count");
    if ui {
        builder = builder.ui("127.0.0.1:0");
    }
    let ssc = builder.build()?;
    let text = ZipfText::default().lines(bytes);
    let queue = StreamQueue::new();
    for _ in 0..batches {
        queue.push(text.clone());
    }
    let total = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sum = total.clone();
    ssc.queue_stream(queue, true, None)
        .flat_map(|line: String| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|w| (w, 1_u64))
        .reduce_by_key(|a, b| a + b)
        .foreach_batch(move |batch, _| {
            sum.fetch_add(batch.count(), Ordering::Relaxed);
        });
    let stop = Arc::new(AtomicBool::new(false));
    let poller = ssc.ui_url().map(|url| {
        let stop = stop.clone();
        std::thread::spawn(move || poll(&url, &stop))
    });
    ssc.start()?;
    for k in 1..=batches {
        clock.advance(Duration::seconds(1))?;
        ssc.await_batch(Time::from_millis(k * 1_000))?;
    }
    ssc.stop(false)?;
    stop.store(true, Ordering::Relaxed);
    let polls = poller.map(|p| p.join().unwrap_or(0)).unwrap_or(0);
    println!(
        "{batches} batches, {} distinct words per batch summed, ui: {ui}, {polls} polls",
        total.load(Ordering::Relaxed)
    );
    Ok(())
}

/// GETs the job's page data every 100 ms until `stop`; returns how many requests it made.
fn poll(url: &str, stop: &AtomicBool) -> u64 {
    let addr = url.trim_start_matches("http://").to_string();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        for path in ["/api/jobs/context-1", "/api/jobs/context-1/batches", "/metrics"] {
            if let Ok(mut s) = std::net::TcpStream::connect(&addr) {
                let _ = write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let _ = s.read_to_end(&mut Vec::new());
                n += 1;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    n
}
