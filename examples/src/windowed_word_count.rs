//! Word counts over the last 30 seconds, every 10 seconds, from a TCP socket — the seeds'
//! `reduceByKeyAndWindow(_ + _, _ - _, Seconds(30), Seconds(10))`, computed incrementally: each
//! window is the previous one plus the batch that entered minus the batch that left, and words
//! whose count falls back to zero are filtered out.
//!
//! ```text
//! cargo run --release -p streamflow-examples --bin windowed_word_count            # built-in feed
//! cargo run --release -p streamflow-examples --bin windowed_word_count -- --host localhost --port 9999
//! ```
//!
//! With no arguments it starts a small TCP server on 127.0.0.1 that sends a built-in text, one
//! line per batch, then goes quiet so that words leave the window; the job reads it back with
//! `socket_text_stream`. To finish in a few seconds, the built-in run compresses time 20×
//! (`--time-scale 20`) with a clock that runs 20× faster: a "second" of the job lasts 50 ms of
//! wall time, so the 30 s window takes 1.5 s and the printed batch times advance 1 s per batch.
//! With `--host H --port P` it reads from a server instead, at time scale 1 (one-second
//! batches, the real 30 s / 10 s window). `--help` lists the options and their defaults.

use std::path::{Path, PathBuf};

use clap::Parser;
use streamflow::Duration;
use streamflow::prelude::*;
use streamflow::{Clock, SystemClock};
use streamflow_examples::{checkpoint_dir, serve_feed};

/// Lines the built-in feed sends (one per batch) before it goes quiet.
const FEED_LINES: usize = 25;

/// Word counts over the last 30 seconds, every 10 seconds, from a TCP socket, computed
/// incrementally. With no arguments it reads a built-in text from a small server of its own,
/// on a clock 20× faster than real time.
#[derive(Parser)]
#[command(version, about)]
struct Options {
    /// Read from a text server on this host instead of the built-in feed (e.g. `nc -lk 9999`,
    /// or `python3 -c` / `socat` serving lines).
    #[arg(long)]
    host: Option<String>,
    /// The port of --host.
    #[arg(long, default_value_t = 9999)]
    port: u16,
    /// Stop after N windows [default: 8 with the built-in feed, unlimited otherwise].
    #[arg(long, value_name = "N")]
    windows: Option<u64>,
    /// Run the job's clock F times faster than real time; F divides 1000 [default: 20 with the
    /// built-in feed, 1 otherwise].
    #[arg(long, value_name = "F", value_parser = time_scale)]
    time_scale: Option<u64>,
    /// The checkpoint directory [default: a temporary directory, removed at the end].
    #[arg(long, value_name = "DIR")]
    checkpoint: Option<PathBuf>,
    /// Serve the live dashboard on ADDR, e.g. 127.0.0.1:4040 (build with `--features ui`).
    #[arg(long, value_name = "ADDR")]
    ui: Option<String>,
}

/// A time scale: a divisor of 1000, so that a scaled second is a whole number of milliseconds.
fn time_scale(text: &str) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(scale) if scale > 0 && 1_000 % scale == 0 => Ok(scale),
        _ => Err("must divide 1000 (1, 2, 4, 5, 10, 20, 50 …)".into()),
    }
}

/// The job, as Spark's seeds write it: words over the last 30 s, every 10 s, incrementally.
#[stream_job(batch = "1s", parallelism = 2)]
fn windowed_word_count(ssc: &StreamingContext, host: &str, port: u16, checkpoint: &Path) {
    ssc.checkpoint(checkpoint)?;
    ssc.socket_text_stream(host, port)
        .flat_map(|line| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1_i64))
        .reduce_by_key_and_window_inv(
            |a, b| a + b,
            |a, b| a - b,
            "30s",
            "10s",
            Some(|(_, count): &(String, i64)| *count > 0),
        )
        .print();
}

/// A clock that runs `scale` times faster than the wall clock, so a demo of 30-second windows
/// finishes in seconds with the job's durations unchanged.
struct FastClock {
    start: std::time::Instant,
    origin: Time,
    scale: u64,
}

impl FastClock {
    fn new(scale: u64) -> Self {
        FastClock {
            start: std::time::Instant::now(),
            origin: SystemClock.now(),
            scale,
        }
    }
}

impl Clock for FastClock {
    fn now(&self) -> Time {
        let elapsed = self.start.elapsed().as_millis() as u64 * self.scale;
        self.origin + Duration::from_millis(elapsed)
    }

    fn wait_until(&self, target: Time, poll: std::time::Duration, cancelled: &dyn Fn() -> bool) -> Time {
        loop {
            let now = self.now();
            if now >= target || cancelled() {
                return now;
            }
            let left = std::time::Duration::from_millis(((target - now) as u64).div_ceil(self.scale));
            std::thread::park_timeout(left.min(poll));
        }
    }
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    if let Err(e) = run() {
        eprintln!("windowed_word_count: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse();
    let builtin = options.host.is_none();
    let scale = options.time_scale.unwrap_or(if builtin { 20 } else { 1 });
    let (host, port, windows) = match options.host {
        Some(host) => (host, options.port, options.windows),
        None => (
            "127.0.0.1".to_string(),
            serve_feed(std::time::Duration::from_millis(1_000 / scale), FEED_LINES)?,
            Some(options.windows.unwrap_or(8)),
        ),
    };
    let (checkpoint, _temporary) = checkpoint_dir(options.checkpoint, "windowed_word_count")?;
    let mut builder = StreamingContext::builder()
        .batch_duration(Duration::seconds(1))
        .master("local[2]")?
        .clock(FastClock::new(scale))
        .app_name("windowed_word_count")
        // Ctrl-C / SIGTERM: process what was received, then stop.
        .stop_gracefully_on_shutdown(true);
    if let Some(addr) = &options.ui {
        builder = builder.ui(addr);
    }
    let ssc = builder.build()?;
    windowed_word_count_on(&ssc, &host, port, &checkpoint)?;
    eprintln!("{}", ssc.explain());
    if let Some(url) = ssc.ui_url() {
        eprintln!("dashboard: {url}");
    }
    ssc.start()?;
    let result = match windows {
        // N windows of the job's time, in real time, plus half a slide to let the last one print.
        Some(n) => ssc
            .await_termination_or_timeout(Duration::from_millis((n * 10_000 + 5_000) / scale))
            .and_then(|stopped| if stopped { Ok(()) } else { ssc.stop(false) })
            .and_then(|()| ssc.await_termination()),
        None => ssc.await_termination(),
    };
    result?;
    Ok(())
}
