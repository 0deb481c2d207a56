//! The seeds' first program: words from a TCP socket, counted per one-second batch.
//!
//! ```text
//! cargo run --release -p streamflow-examples --bin network_word_count            # built-in feed
//! cargo run --release -p streamflow-examples --bin network_word_count -- --host localhost --port 9999
//! ```
//!
//! With no arguments it starts a small TCP server on 127.0.0.1 that sends a built-in text, one
//! line at a time, and reads it back with `socket_text_stream` — the same path as `nc -lk 9999`.
//! Options: `--host H --port P` read from a server instead, `--batches N` stop after N batches
//! (default: 5 with the built-in feed, unlimited otherwise), `--batch-ms MS` the interval,
//! `--ui ADDR` serve the live dashboard on ADDR (e.g. `127.0.0.1:4040`; build with
//! `--features ui`) and print its URL.

use streamflow::prelude::*;
use streamflow_examples::{FEED, serve_feed};

struct Options {
    host: Option<String>,
    port: u16,
    batches: Option<u64>,
    batch_ms: u64,
    ui: Option<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        host: None,
        port: 9999,
        batches: None,
        batch_ms: 1_000,
        ui: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--host" => options.host = Some(value()?),
            "--port" => options.port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--batches" => options.batches = Some(value()?.parse().map_err(|e| format!("--batches: {e}"))?),
            "--batch-ms" => options.batch_ms = value()?.parse().map_err(|e| format!("--batch-ms: {e}"))?,
            "--ui" => options.ui = Some(value()?),
            "-h" | "--help" => {
                return Err(
                    "usage: network_word_count [--host H --port P] [--batches N] [--batch-ms MS] [--ui ADDR]"
                        .into(),
                );
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    Ok(options)
}

/// The job: words from a TCP socket, counted per batch and printed in Spark's format.
#[stream_job(batch = "1s", parallelism = 2)]
fn network_word_count(ssc: &StreamingContext, host: &str, port: u16) {
    ssc.socket_text_stream(host, port)
        .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
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
    let options = parse_args()?;
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
    let ssc = if options.batch_ms == 1_000 && options.ui.is_none() {
        network_word_count(&host, port)?
    } else {
        let mut builder = StreamingContext::builder()
            .batch_duration(Duration::from_millis(options.batch_ms))
            .master("local[2]")?
            .app_name("network_word_count")
            // Ctrl-C / SIGTERM: process what was received, then stop.
            .stop_gracefully_on_shutdown(true);
        if let Some(addr) = &options.ui {
            builder = builder.ui(addr);
        }
        let ssc = builder.build()?;
        network_word_count_on(&ssc, &host, port)?;
        ssc
    };
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
