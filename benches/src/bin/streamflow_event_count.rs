//! The end-to-end event-time windowed count in streamflow: a Structured query over the CSV
//! files of `--input` (`event_time_millis,key` with a header line; see `gen_input`), the file
//! source with `Trigger::available_now` and `--threads` workers (2 by default), counting
//! events per key in 1-minute tumbling windows with a 10 s watermark in Append mode. The rows
//! it emits are written as `window_start_ms<TAB>key<TAB>count` lines, sorted, to `--output`
//! (see [`streamflow_benches::end_to_end`]).
//!
//! `--max-files-per-trigger N` takes N files per batch (default: all in one batch).
//! `--key borrowed` (the default) groups with `group_by_window_ref(|e| e.key.as_str(), ..)`,
//! `--key owned` with `group_by_window(|e| e.key.clone(), ..)` (an owned key per event).
//!
//! `streamflow_event_count --input DIR --output FILE [--threads 2] [--max-files-per-trigger N]
//! [--key borrowed|owned]`

use std::sync::{Arc, Mutex};

use streamflow::structured::{Format, OutputMode, Session, Trigger, tumbling_window};
use streamflow_benches::end_to_end::{exit_on_error, flag, number, required, write_window_counts};

/// One line of an event file.
#[derive(Clone, Debug, serde::Deserialize)]
struct Event {
    event_time_millis: i64,
    key: String,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    exit_on_error("streamflow_event_count", run(&args));
}

fn run(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let input = std::path::PathBuf::from(required(args, "input")?);
    let output = std::path::PathBuf::from(required(args, "output")?);
    let threads = number(args, "threads", 2)? as usize;
    let session = Session::new(threads)?;
    let mut reader = session.read_stream::<Event>().format(Format::Csv);
    if flag(args, "max-files-per-trigger").is_some() {
        reader = reader.max_files_per_trigger(number(args, "max-files-per-trigger", 1)?);
    }
    let emitted = Arc::new(Mutex::new(Vec::new()));
    let out = emitted.clone();
    let events = reader
        .files(&input)
        .with_watermark(|e| e.event_time_millis, "10 seconds");
    let per_minute = tumbling_window("1 minute");
    let grouped = match flag(args, "key").as_deref().unwrap_or("borrowed") {
        "borrowed" => events.group_by_window_ref(|e| e.key.as_str(), per_minute),
        "owned" => events.group_by_window(|e| e.key.clone(), per_minute),
        other => return Err(format!("--key {other}: borrowed or owned").into()),
    };
    let query = grouped
        .count()
        .write_stream()
        .output_mode(OutputMode::Append)
        .trigger(Trigger::available_now())
        .foreach_batch(move |batch, _id| {
            // Each row made into the output's form as it is read, not collected first.
            let rows = batch
                .map(|r| (r.window.map_or(i64::MIN, |w| w.start.millis()), r.key, r.value))
                .collect();
            let mut emitted = out.lock().unwrap_or_else(|e| e.into_inner());
            match emitted.is_empty() {
                true => *emitted = rows,
                false => emitted.extend(rows),
            }
        })
        .start()?;
    query.await_termination()?;
    let rows = std::mem::take(&mut *emitted.lock().unwrap_or_else(|e| e.into_inner()));
    write_window_counts(&output, rows)?;
    Ok(())
}
