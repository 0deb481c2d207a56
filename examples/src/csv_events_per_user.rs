//! CSV event files dropped into a directory, counted per user — the seeds' file-stream job in
//! the Structured vocabulary.
//!
//! A producer writes CSV files (`user,action,ts`) into a temporary directory the way real
//! producers should: under a hidden name, then renamed into place. The query reads new files
//! as they appear (at most two per batch), skips a malformed line (kept aside and counted), and
//! keeps a running count of events per user (Complete mode: the whole table each batch).
//!
//! The query is written with `#[stream_job]`: Complete mode is checked against the query at
//! compile time (it needs an aggregation), and the trigger comes from the attribute.
//!
//! Runs on built-in data and ends by itself:
//! `cargo run -p streamflow-examples --bin csv_events_per_user`.

use std::path::Path;

use clap::Parser;
use streamflow::prelude::*;
use streamflow::structured::{CorruptRecords, Format, MalformedPolicy, Session};

/// CSV event files dropped into a directory, counted per user (Complete mode), on built-in
/// data.
#[derive(Parser)]
#[command(version, about)]
struct Options {}

/// One line of an event file.
#[derive(Clone, Debug, serde::Deserialize)]
struct Event {
    user: String,
    action: String,
    #[allow(dead_code, reason = "part of the file's schema, not used by the count")]
    ts: i64,
}

const FILES: [&str; 4] = [
    "user,action,ts\nalice,click,1\nbob,view,2\nalice,view,3\n",
    "user,action,ts\ncarol,click,4\nalice,click,5\n",
    "user,action,ts\nbob,click,6\nthis line is broken\ncarol,view,7\n",
    "user,action,ts\ndave,click,8\nalice,click,9\n",
];

fn drop_file(dir: &Path, name: &str, content: &str) -> std::io::Result<()> {
    let hidden = dir.join(format!(".{name}.tmp"));
    std::fs::write(&hidden, content)?;
    std::fs::rename(hidden, dir.join(name))
}

/// Events per user, the whole table each batch, over everything in `dir` now (two files per
/// batch), then stop. Malformed lines are kept aside in `malformed`.
#[stream_job(output_mode = complete, trigger = available_now)]
fn events_per_user(session: &Session, dir: &Path, malformed: &mut CorruptRecords) {
    let reader = session
        .read_stream::<Event>()
        .format(Format::Csv)
        .mode(MalformedPolicy::Permissive)
        .max_files_per_trigger(2);
    *malformed = reader.corrupt_records();
    reader
        .files(dir)
        .filter(|e| !e.action.is_empty())
        .group_by(|e| e.user.clone())
        .count()
        .write_stream()
        .console()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    Options::parse();
    env_logger::init();
    // Removed when `input` drops, also when the job fails.
    let input = tempfile::Builder::new()
        .prefix("streamflow-csv-events-")
        .tempdir()?;
    let dir = input.path();
    for (i, content) in FILES.iter().enumerate() {
        drop_file(dir, &format!("events-{i}.csv"), content)?;
    }

    // Ctrl-C / SIGTERM: finish the batch, then stop.
    let session = Session::builder()
        .parallelism(2)
        .stop_gracefully_on_shutdown(true)
        .build()?;
    let mut corrupt = CorruptRecords::default();
    let query = events_per_user(&session, dir, &mut corrupt)?;
    println!("{}", events_per_user_plan());
    query.await_termination()?;

    for record in corrupt.records() {
        println!(
            "malformed line {} of {}: {:?} ({})",
            record.line, record.origin, record.text, record.error
        );
    }
    let batches = query.recent_progress().len();
    println!(
        "{batches} batches, {} malformed line(s) kept aside",
        corrupt.len()
    );
    Ok(())
}
