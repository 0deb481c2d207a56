//! The seeds' first program: words from a TCP socket, counted per one-second batch.
//!
//! ```text
//! cargo run --release -p streamflow-examples --bin network_word_count            # built-in feed
//! cargo run --release -p streamflow-examples --bin network_word_count -- --host localhost --port 9999
//! ```
//!
//! With no arguments it starts a small TCP server on 127.0.0.1 that sends a built-in text, one
//! line at a time, and reads it back with `socket_text_stream` — the same path as `nc -lk 9999`.
//! `--help` lists the options and their defaults. Ctrl-C stops it gracefully: the batches
//! received are processed first.

use clap::Parser;
use streamflow::Duration;
use streamflow::prelude::*;
use streamflow_examples::{FEED, serve_feed};

/// Words from a TCP socket, counted per batch and printed in Spark's format. With no
/// arguments it reads a built-in text from a small server of its own.
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
    /// Stop after N batches [default: 5 with the built-in feed, unlimited otherwise].
    #[arg(long, value_name = "N")]
    batches: Option<u64>,
    /// The batch interval, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1_000)]
    batch_ms: u64,
    /// Serve the live dashboard on ADDR, e.g. 127.0.0.1:4040 (build with `--features ui`).
    #[arg(long, value_name = "ADDR")]
    ui: Option<String>,
}

/// The job: words from a TCP socket, counted per batch and printed in Spark's format.
#[stream_job(batch = "1s", parallelism = 2)]
fn network_word_count(ssc: &StreamingContext, host: &str, port: u16) {
    ssc.socket_text_stream(host, port)
        .flat_map(streamflow::text::words)
        .map(|word| (word, 1))
        .reduce_by_key(|a, b| a + b)
        .print();
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    if let Err(e) = run() {
        eprintln!("network_word_count: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse();
    let (host, port, batches) = match options.host {
        Some(host) => (host, options.port, options.batches),
        None => (
            "127.0.0.1".to_string(),
            serve_feed(
                std::time::Duration::from_millis(options.batch_ms),
                FEED.lines().count(),
            )?,
            Some(options.batches.unwrap_or(5)),
        ),
    };
    // The job's own context (`network_word_count(host, port)`, from the attribute) would do for
    // the defaults; this one also stops gracefully on Ctrl-C / SIGTERM — the batches received
    // are processed, then it stops — and takes the interval and dashboard options.
    let mut builder = StreamingContext::builder()
        .batch_duration(Duration::from_millis(options.batch_ms))
        .master("local[2]")?
        .app_name("network_word_count")
        .stop_gracefully_on_shutdown(true);
    if let Some(addr) = &options.ui {
        builder = builder.ui(addr);
    }
    let ssc = builder.build()?;
    network_word_count_on(&ssc, &host, port)?;
    eprintln!("{}", ssc.explain());
    if let Some(url) = ssc.ui_url() {
        eprintln!("dashboard: {url}");
    }
    ssc.start()?;
    match batches {
        Some(n) => {
            let timeout = Duration::from_millis(options.batch_ms * n + options.batch_ms / 2);
            if !ssc.await_termination_or_timeout(timeout)? {
                ssc.stop(false)?;
            }
            ssc.await_termination()?;
        }
        None => ssc.await_termination()?,
    }
    Ok(())
}
