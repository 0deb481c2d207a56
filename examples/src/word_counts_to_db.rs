//! Running totals per word written to a database, exactly once, through a connection pool —
//! the seeds' "write to a database from `foreachRDD`" pattern with a statically initialised
//! pool, one connection per partition (features `database`: SQLite and PostgreSQL).
//!
//! ```text
//! cargo run --release -p streamflow-examples --features database --bin word_counts_to_db
//! cargo run --release -p streamflow-examples --features database --bin word_counts_to_db -- --postgres postgresql://user@127.0.0.1:5432/db
//! ```
//!
//! A Structured query counts the words of the built-in text (`FEED`), a few lines per batch, in
//! Update mode, and upserts each batch's changed totals into the table `word_counts` (word
//! primary key). With no arguments it writes to the SQLite file `word_counts.db` in the temporary
//! directory (printed; `--sqlite PATH` elsewhere); `--postgres URL` writes to PostgreSQL instead
//! (`scripts/postgres.sh start` prints the URL of a throw-away server). Each batch's partitions
//! are written in one transaction each, with a marker of the batch, so a batch run again after a
//! crash writes nothing twice (`streamflow/tests/database_crash.rs` kills such a job). The counts
//! are kept in a temporary checkpoint, removed at the end: each run counts afresh and upserts its
//! own totals. `--batches N` (default 5); `--help` lists the options. Ctrl-C stops it gracefully
//! after the batch in progress.

use std::path::PathBuf;

use clap::Parser;
use streamflow::sink::database::DatabaseSink;
use streamflow::structured::{MemoryStream, OutputMode, Session};
use streamflow_examples::checkpoint_dir;

const CREATE: &str = "CREATE TABLE IF NOT EXISTS word_counts (word TEXT PRIMARY KEY, total BIGINT NOT NULL)";
const LINES_PER_BATCH: usize = 3;

/// Running totals per word upserted into the table `word_counts` of SQLite or PostgreSQL,
/// exactly once, one pooled connection per partition, on built-in text.
#[derive(Parser)]
#[command(version, about)]
struct Options {
    /// The SQLite file to write to.
    #[arg(long, value_name = "PATH", default_value_os_t = std::env::temp_dir().join("word_counts.db"))]
    sqlite: PathBuf,
    /// Write to this PostgreSQL server instead of SQLite, e.g. postgresql://user@127.0.0.1:5432/db.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// How many batches of the built-in text to count.
    #[arg(long, value_name = "N", default_value_t = 5)]
    batches: usize,
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    if let Err(e) = run() {
        eprintln!("word_counts_to_db: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let options = Options::parse();
    let (sink, where_to) = match &options.postgres {
        Some(url) => (
            DatabaseSink::postgres(url, "word_counts")?,
            format!("PostgreSQL {url}"),
        ),
        None => (
            DatabaseSink::sqlite(&options.sqlite, "word_counts"),
            format!("SQLite {}", options.sqlite.display()),
        ),
    };
    let sink = sink
        .create_table(CREATE)
        .columns(&["word", "total"])
        .key(&["word"]);
    // Removed when `_temporary` drops, also when the job fails.
    let (checkpoint, _temporary) = checkpoint_dir(None, "word_counts_to_db")?;

    // Ctrl-C / SIGTERM: finish the batch, then stop.
    let session = Session::builder()
        .parallelism(2)
        .stop_gracefully_on_shutdown(true)
        .build()?;
    let lines = MemoryStream::new();
    let query = session
        .read_stream::<String>()
        .memory(&lines)
        .flat_map(|line| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .group_by(|word| word.clone())
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .query_name("word_counts_to_db")
        .checkpoint_location(&checkpoint)
        .sink(sink)
        .start()?;
    let feed: Vec<&str> = streamflow_examples::FEED.lines().collect();
    for b in 0..options.batches {
        if !query.is_active() {
            break; // stopped by Ctrl-C
        }
        let start = (b * LINES_PER_BATCH) % feed.len().max(1);
        lines.add_data(
            feed.iter()
                .cycle()
                .skip(start)
                .take(LINES_PER_BATCH)
                .map(|l| l.to_string()),
        );
        query.process_all_available()?;
        if let Some(progress) = query.last_progress() {
            println!(
                "batch {}: {} lines counted, totals upserted",
                progress.batch_id, progress.num_input_rows
            );
        }
    }
    query.stop()?;
    println!("running totals in table word_counts of {where_to}");
    Ok(())
}
