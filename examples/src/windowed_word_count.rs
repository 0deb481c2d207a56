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
//! wall time, so the 30 s window takes 1.5 s and the printed batch times advance 1 s per batch. Options: `--host H --port P` read from a server instead (time
//! scale 1: one-second batches, the real 30 s / 10 s window); `--windows N` stop after N
//! windows (default 8 with the built-in feed, unlimited otherwise); `--time-scale F`;
//! `--checkpoint DIR` (default: a temporary directory, removed at the end).

use std::path::{Path, PathBuf};

use streamflow::prelude::*;
use streamflow::{Clock, SystemClock};
use streamflow_examples::serve_feed;

/// Lines the built-in feed sends (one per batch) before it goes quiet.
const FEED_LINES: usize = 25;

struct Options {
    host: Option<String>,
    port: u16,
    windows: Option<u64>,
    time_scale: Option<u64>,
    checkpoint: Option<PathBuf>,
    ui: Option<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        host: None,
        port: 9999,
        windows: None,
        time_scale: None,
        checkpoint: None,
        ui: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => options.host = Some(value()?),
            "--port" => options.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--windows" => options.windows = Some(value()?.parse().map_err(|e| format!("--windows: {e}"))?),
            "--time-scale" => {
                let scale: u64 = value()?.parse().map_err(|e| format!("--time-scale: {e}"))?;
                if scale == 0 || 1_000 % scale != 0 {
                    return Err("--time-scale must divide 1000 (1, 2, 4, 5, 10, 20, 50 …)".into());
                }
                options.time_scale = Some(scale);
            }
            "--checkpoint" => options.checkpoint = Some(PathBuf::from(value()?)),
            "--ui" => options.ui = Some(value()?),
            "-h" | "--help" => {
                return Err("usage: windowed_word_count [--host H --port P] [--windows N] \
                            [--time-scale F] [--checkpoint DIR] [--ui ADDR]"
                    .into());
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    Ok(options)
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
    let options = parse_args()?;
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
    let temporary = options.checkpoint.is_none();
    let checkpoint = options.checkpoint.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("streamflow-windowed_word_count-{}", std::process::id()))
    });
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
    if temporary {
        let _ = std::fs::remove_dir_all(&checkpoint);
    }
    result?;
    Ok(())
}
