//! Event-time word count with a watermark — Structured Streaming's windowed word count.
//!
//! Words carry the time they were written. They are counted in 10-minute windows sliding every
//! 5 minutes, with a watermark 10 minutes behind the latest time seen. In Append mode a window
//! is printed once, when the watermark passes its end; words that arrive after their windows
//! were closed are dropped and counted in the progress reports.
//!
//! The query is written with `#[stream_job]`, which checks at compile time what `start()`
//! would reject at run time (Append mode needs the watermark declared before the windowed
//! aggregation; the duration strings parse; the windows' slide fits their size).
//!
//! Runs on built-in data (batches of timestamped words fed through a `MemoryStream`) and ends
//! by itself: `cargo run -p streamflow-examples --bin event_time_word_count`.

use clap::Parser;
use streamflow::prelude::*;
use streamflow::structured::{MemoryStream, Session, window};

/// Event-time word count: words counted in 10-minute windows every 5 minutes, with a
/// 10-minute watermark, in Append mode, on built-in data.
#[derive(Parser)]
#[command(version, about)]
struct Options {
    /// Serve the live dashboard on ADDR, e.g. 127.0.0.1:4040 (build with `--features ui`).
    #[arg(long, value_name = "ADDR")]
    ui: Option<String>,
}

/// A word and when it was written.
#[derive(Clone, Debug)]
struct Word {
    word: String,
    timestamp: Time,
}

/// 12:00 on the day the example pretends to run, plus `minutes`.
fn at(hour: i64, minute: i64) -> Time {
    const DAY: i64 = 1_463_616_000_000; // 2016-05-19T00:00:00Z
    Time::from_millis(DAY + (hour * 60 + minute) * 60_000)
}

fn line(text: &str, timestamp: Time) -> Vec<Word> {
    text.split(' ')
        .map(|w| Word {
            word: w.to_string(),
            timestamp,
        })
        .collect()
}

/// Words counted in 10-minute windows every 5 minutes, each window printed once, when the
/// watermark (10 minutes behind the latest word) passes its end.
#[stream_job(output_mode = append)]
fn event_time_word_count(session: &Session, lines: &MemoryStream<Word>) {
    session
        .read_stream::<Word>()
        .memory(lines)
        .with_watermark(|w| w.timestamp, "10 minutes")
        .group_by_window(|w| w.word.clone(), window("10 minutes", "5 minutes"))
        .count()
        .write_stream()
        .console_with(20, false, std::io::stdout())
}

fn main() -> streamflow::Result<()> {
    let options = Options::parse();
    env_logger::init();
    // Ctrl-C / SIGTERM: finish the batch, then stop.
    let mut builder = Session::builder()
        .parallelism(2)
        .stop_gracefully_on_shutdown(true);
    if let Some(addr) = options.ui {
        builder = builder.ui(addr);
    }
    let session = builder.build()?;
    if let Some(url) = session.ui_url() {
        eprintln!("dashboard: {url}");
    }
    let lines = MemoryStream::<Word>::new();
    let query = event_time_word_count(&session, &lines)?; // checked, then started
    println!("{}", event_time_word_count_plan());
    println!("{}", query.explain());
    println!(
        "Append mode writes a window once, when the watermark (10 minutes behind the latest \
         word) passes its end: until the first window closes, each batch prints an empty table."
    );

    // The data arrives in four rounds, as it would from a socket.
    let rounds: Vec<Vec<Word>> = vec![
        [line("cat dog", at(12, 7)), line("dog dog", at(12, 8))].concat(),
        [line("owl cat", at(12, 14)), line("dog", at(12, 9))].concat(),
        [line("owl", at(12, 24)), line("cat", at(12, 21))].concat(),
        // 12:04 is too late: the watermark is at 12:14, the windows of 12:04 are closed.
        [line("donkey", at(12, 4)), line("owl", at(12, 35))].concat(),
        // A late event far ahead moves the watermark so that every earlier window closes.
        line("eagle", at(13, 0)),
    ];
    for round in rounds {
        lines.add_data(round);
        query.process_all_available()?;
    }

    let dropped: u64 = query
        .recent_progress()
        .iter()
        .flat_map(|p| p.state_operators.iter())
        .map(|s| s.num_rows_dropped_by_watermark)
        .sum();
    let last = query.last_progress();
    println!(
        "late words dropped: {dropped} (one per window they fall in); watermark now {}",
        last.and_then(|p| p.event_time.watermark).unwrap_or_default()
    );
    query.stop()?;
    query.await_termination()
}
