//! Exactly-once through kills: a job that can be killed at any moment (even with `kill -9`)
//! and started again on the same checkpoint, and whose output is then exactly that of a run
//! never interrupted — nothing lost, nothing written twice.
//!
//! Two jobs, one per vocabulary:
//!
//! - `dstream`: running word counts (`update_state_by_key`) and a 3-second window of counts
//!   sliding every second (the incremental `reduce_by_key_and_window_inv`) over a
//!   deterministic generator, written with `save_as_text_files`. It runs `--batches` batches
//!   of a manual clock as fast as it can, then stops.
//! - `query`: an event-time count in 10-second windows with a 5-second watermark, Append
//!   mode, from JSON files (one per batch) into the JSON file sink; `Trigger::available_now`,
//!   so it stops once the input is done.
//!
//! - `socket`: the lines of a socket (`socket_text_stream`, whose lines go to the checkpoint's
//!   write-ahead log before a batch can take them) written with `save_as_text_files`; it prints
//!   `received N` once `--expect` lines arrived, runs `--batches` batches, then stops.
//!
//! - `continuous`: the same input under `Trigger::continuous("50 ms")` — a running count per
//!   user (Update mode, every change a row) and the events of two users — each epoch written
//!   by `foreach_batch` to `epoch-<id>.txt` (replaced whole: idempotent per epoch id). It
//!   prints `epoch N` as epoch N commits, runs until everything was read, then stops.
//!
//! `generate` writes the query's input. The crash test (`examples/tests/crash.rs`) kills these
//! jobs at seeded random moments and compares their output with an uninterrupted run.
//!
//! ```text
//! cargo run -p streamflow-examples --bin exactly_once -- generate --input /tmp/in
//! cargo run -p streamflow-examples --bin exactly_once -- query --input /tmp/in --checkpoint /tmp/ck --output /tmp/out
//! ```

use std::path::PathBuf;

use clap::Parser;
use streamflow::structured::{
    OutputMode, QueryProgress, Session, StreamingQueryListener, Trigger, tumbling_window,
};
use streamflow::{Duration, ManualClock, StreamingContext, Time};

/// One event of the query's input.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Event {
    user: String,
    ts_ms: i64,
}

const USAGE: &str = "usage: exactly_once dstream --checkpoint DIR --output DIR [--batches N]
       exactly_once socket --port PORT --checkpoint DIR --output DIR [--expect LINES] [--batches N]
       exactly_once query --input DIR --checkpoint DIR --output DIR
       exactly_once continuous --input DIR --checkpoint DIR --output DIR
       exactly_once generate --input DIR [--files N] [--events N]";

/// The jobs the crash tests kill and restart, and the generator of their input.
#[derive(Parser)]
#[command(version, about, override_usage = USAGE)]
struct Args {
    /// What to run.
    #[arg(value_enum)]
    command: Command,
    /// The input directory (query, continuous, generate).
    #[arg(long, value_name = "DIR")]
    input: Option<PathBuf>,
    /// The checkpoint directory (dstream, socket, query, continuous).
    #[arg(long, value_name = "DIR")]
    checkpoint: Option<PathBuf>,
    /// The output directory (dstream, socket, query, continuous).
    #[arg(long, value_name = "DIR")]
    output: Option<PathBuf>,
    /// Batches to run (dstream, socket).
    #[arg(long, value_name = "N", default_value_t = 30)]
    batches: u64,
    /// Files to generate.
    #[arg(long, value_name = "N", default_value_t = 20)]
    files: u64,
    /// Events per generated file.
    #[arg(long, value_name = "N", default_value_t = 200)]
    events: u64,
    /// The port to read lines from (socket).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Lines to receive before printing `received N` (socket).
    #[arg(long, value_name = "LINES", default_value_t = 0)]
    expect: u64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Command {
    /// Running and windowed counts of generated words, written per batch.
    Dstream,
    /// The lines of a socket, through the write-ahead log, written per batch.
    Socket,
    /// A Structured query over the generated files.
    Query,
    /// The generated files under `Trigger::continuous`, each epoch to its own file.
    Continuous,
    /// Writes the input files of `query`.
    Generate,
}

fn required(dir: &Option<PathBuf>, name: &str) -> Result<PathBuf, String> {
    dir.clone()
        .ok_or_else(|| format!("--{name} is required\n{USAGE}"))
}

/// Running counts and windowed counts of words from a generator, on a manual clock: batch
/// `k` runs at `k` seconds, and the clock jumps to the last batch at once, so the job runs
/// its batches back to back (and a restarted job catches up the same way).
fn dstream(args: &Args) -> streamflow::Result<()> {
    let checkpoint = required(&args.checkpoint, "checkpoint").map_err(streamflow::Error::InvalidConfig)?;
    let output = required(&args.output, "output").map_err(streamflow::Error::InvalidConfig)?;
    let clock = ManualClock::new(0);
    let job_clock = clock.clone();
    let ssc = StreamingContext::get_or_create(&checkpoint, move || {
        let ssc = StreamingContext::builder()
            .batch_duration(Duration::seconds(1))
            .parallelism(2)
            .clock(job_clock)
            .app_name("exactly_once")
            .stop_gracefully_on_shutdown(true)
            .build()?;
        let words = ssc.generator_stream(50, |i| (format!("w{}", (i * 7919) % 13), 1_u64));
        words
            .update_state_by_key(|new: Vec<u64>, total: Option<u64>| {
                Some(total.unwrap_or(0) + new.iter().sum::<u64>())
            })
            .save_as_text_files(&output.join("totals").to_string_lossy(), "txt");
        words
            .reduce_by_key_and_window_inv(|a, b| a + b, |a, b| a - b, "3s", "1s", None)
            .save_as_text_files(&output.join("windows").to_string_lossy(), "txt");
        Ok(ssc)
    })?;
    ssc.start()?;
    let last = Time::from_millis(args.batches as i64 * 1_000);
    clock.set_time(last);
    ssc.await_batch(last)?;
    ssc.stop(false)?;
    ssc.await_termination()
}

/// The lines of a socket, written per batch. Once `--expect` lines were received (and so are in
/// the write-ahead log) it prints `received N`; then it runs up to `--batches` batches of a
/// manual clock and stops. Killed after `received`, a restart processes the logged lines.
fn socket(args: &Args) -> streamflow::Result<()> {
    let checkpoint = required(&args.checkpoint, "checkpoint").map_err(streamflow::Error::InvalidConfig)?;
    let output = required(&args.output, "output").map_err(streamflow::Error::InvalidConfig)?;
    let clock = ManualClock::new(0);
    let job_clock = clock.clone();
    let port = args.port;
    let ssc = StreamingContext::get_or_create(&checkpoint, move || {
        let ssc = StreamingContext::builder()
            .batch_duration(Duration::seconds(1))
            .parallelism(2)
            .clock(job_clock)
            .app_name("exactly_once_socket")
            .stop_gracefully_on_shutdown(true)
            .build()?;
        ssc.socket_text_stream("127.0.0.1", port)
            .save_as_text_files(&output.join("lines").to_string_lossy(), "txt");
        Ok(ssc)
    })?;
    ssc.start()?;
    if args.expect > 0 && ssc.await_records_received(args.expect, std::time::Duration::from_secs(60))? {
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "received {}", args.expect);
        let _ = out.flush();
    }
    let last = Time::from_millis(args.batches as i64 * 1_000);
    clock.set_time(last);
    ssc.await_batch(last)?;
    ssc.stop(false)?;
    ssc.await_termination()
}

/// Event-time counts per user in 10-second windows, Append, from JSON files to JSON files.
fn query(args: &Args) -> streamflow::Result<()> {
    let input = required(&args.input, "input").map_err(streamflow::Error::InvalidConfig)?;
    let checkpoint = required(&args.checkpoint, "checkpoint").map_err(streamflow::Error::InvalidConfig)?;
    let output = required(&args.output, "output").map_err(streamflow::Error::InvalidConfig)?;
    let session = Session::builder()
        .parallelism(2)
        .stop_gracefully_on_shutdown(true)
        .build()?;
    let query = session
        .read_stream::<Event>()
        .max_files_per_trigger(1)
        .files(&input)
        .with_watermark(|e| Time::from_millis(e.ts_ms), "5 seconds")
        .group_by_window(|e| e.user.clone(), tumbling_window("10 seconds"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Append)
        .trigger(Trigger::available_now())
        .checkpoint_location(&checkpoint)
        .json(&output)
        .start()?;
    query.await_termination()
}

/// Prints `epoch N` as each epoch commits (the crash test kills at these moments too).
struct EpochLines;

impl StreamingQueryListener for EpochLines {
    fn on_query_progress(&self, progress: &QueryProgress) {
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "epoch {}", progress.batch_id);
        let _ = out.flush();
    }
}

/// Writes an epoch's lines, sorted, to `dir/epoch-<id>.txt`: through a temporary file and a
/// rename, so a re-run epoch replaces its file whole.
fn write_epoch(dir: &std::path::Path, id: u64, mut lines: Vec<String>) -> Result<(), String> {
    lines.sort();
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp = dir.join(format!(".epoch-{id}.tmp"));
    std::fs::write(&tmp, lines.concat()).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let path = dir.join(format!("epoch-{id}.txt"));
    std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The query's input in continuous mode: a running count per user and the events of two users,
/// each epoch to its own file; stops once everything was read and committed.
fn continuous(args: &Args) -> streamflow::Result<()> {
    let input = required(&args.input, "input").map_err(streamflow::Error::InvalidConfig)?;
    let checkpoint = required(&args.checkpoint, "checkpoint").map_err(streamflow::Error::InvalidConfig)?;
    let output = required(&args.output, "output").map_err(streamflow::Error::InvalidConfig)?;
    let session = Session::builder()
        .parallelism(2)
        .stop_gracefully_on_shutdown(true)
        .build()?;
    session.add_listener(std::sync::Arc::new(EpochLines));
    let events = session
        .read_stream::<Event>()
        .max_files_per_trigger(1)
        .files(&input)
        // Slow enough that kills land inside epochs as well as between them.
        .map(|e| {
            std::thread::sleep(std::time::Duration::from_micros(50));
            e
        });
    let counts_dir = output.join("counts");
    let counts = events
        .group_by(|e| e.user.clone())
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .trigger(Trigger::continuous("50 ms"))
        .checkpoint_location(checkpoint.join("counts"))
        .foreach_batch(move |batch, id| {
            let lines = batch
                .collect()
                .into_iter()
                .map(|r| format!("{},{}\n", r.key, r.value))
                .collect();
            write_epoch(&counts_dir, id, lines)
        })
        .start()?;
    let events_dir = output.join("events");
    let picked = events
        .filter(|e| e.user == "user1" || e.user == "user4")
        .write_stream()
        .trigger(Trigger::continuous("50 ms"))
        .checkpoint_location(checkpoint.join("events"))
        .foreach_batch(move |batch, id| {
            let lines = batch
                .collect()
                .into_iter()
                .map(|e| format!("{},{}\n", e.user, e.ts_ms))
                .collect();
            write_epoch(&events_dir, id, lines)
        })
        .start()?;
    counts.process_all_available()?;
    picked.process_all_available()?;
    counts.stop()?;
    picked.stop()?;
    counts.await_termination()?;
    picked.await_termination().map(|_| ())
}

/// Writes `files` JSON files of `events` events each, event times rising file by file with
/// some disorder inside a file (never more than the watermark's 5 seconds).
fn generate(args: &Args) -> Result<(), String> {
    let input = required(&args.input, "input")?;
    std::fs::create_dir_all(&input).map_err(|e| format!("{}: {e}", input.display()))?;
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for f in 0..args.files {
        let mut text = String::new();
        for e in 0..args.events {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let base = (f * args.events + e) as i64 * 37;
            let event = Event {
                user: format!("user{}", seed % 7),
                ts_ms: base + (seed % 4_000) as i64,
            };
            text.push_str(&serde_json::to_string(&event).map_err(|e| e.to_string())?);
            text.push('\n');
        }
        // Written elsewhere, then renamed: the source never sees half a file.
        let tmp = input.join(format!(".events-{f:04}.tmp"));
        std::fs::write(&tmp, text).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let path = input.join(format!("events-{f:04}.json"));
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn main() {
    let args = Args::parse();
    env_logger::init();
    let outcome = match args.command {
        Command::Dstream => dstream(&args).map_err(|e| e.to_string()),
        Command::Socket => socket(&args).map_err(|e| e.to_string()),
        Command::Query => query(&args).map_err(|e| e.to_string()),
        Command::Continuous => continuous(&args).map_err(|e| e.to_string()),
        Command::Generate => generate(&args),
    };
    if let Err(message) = outcome {
        eprintln!("exactly_once: {message}");
        std::process::exit(1);
    }
}
