//! A user-defined `Source` and `Sink`, each written once and used from both vocabularies.
//!
//! `LogTail` reads the complete lines appended to a log file; its offset is the byte position
//! after the last line taken, so the same range always gives the same lines (replayable).
//! `BatchFiles` writes each batch to `<dir>/batch-<id>.txt`, through a temporary file renamed
//! into place at commit, and skips a batch id it already wrote: a batch re-run after a restart
//! is not written twice.
//!
//! Run with `cargo run --release -p streamflow-examples --bin custom_source_sink` (no
//! arguments; it works in a temporary directory and prints what it wrote).

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use streamflow::Duration;
use streamflow::prelude::*;
use streamflow::sink::Sink;
use streamflow::source::{ReadLimit, Source, SourceBatch};
use streamflow::structured::{OutputMode, Session};
use streamflow::{BatchId, Error};

/// The complete lines appended to a file.
struct LogTail {
    path: PathBuf,
}

impl LogTail {
    /// The end of the last complete line at or after `start`, reading at most `max` lines.
    fn end_of_lines(&self, start: u64, max: u64) -> streamflow::Result<u64> {
        let bytes = self.read_from(start)?;
        let mut end = start;
        for (taken, i) in bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i)
            .enumerate()
        {
            if taken as u64 == max {
                break;
            }
            end = start + i as u64 + 1;
        }
        Ok(end)
    }

    fn read_from(&self, start: u64) -> streamflow::Result<Vec<u8>> {
        let cannot = |e| Error::io(format!("cannot read {}", self.path.display()), e);
        let mut file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(cannot(e)),
        };
        file.seek(SeekFrom::Start(start)).map_err(cannot)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(cannot)?;
        Ok(bytes)
    }
}

impl Source for LogTail {
    type Item = String;
    type Offset = u64;

    fn name(&self) -> String {
        format!("log_tail {}", self.path.display())
    }

    fn initial_offset(&self) -> u64 {
        0
    }

    fn default_read_limit(&self) -> ReadLimit {
        ReadLimit::Max(3) // three lines a batch, to show several batches
    }

    fn latest_offset(&self, start: &u64, limit: ReadLimit, _time: Time) -> streamflow::Result<u64> {
        self.end_of_lines(*start, limit.cap(u64::MAX))
    }

    fn get_batch(&self, start: &u64, end: &u64) -> streamflow::Result<SourceBatch<String>> {
        let bytes = self.read_from(*start)?;
        let taken = &bytes[..(*end - *start) as usize];
        let lines = String::from_utf8_lossy(taken)
            .lines()
            .map(str::to_owned)
            .collect();
        Ok(SourceBatch::from_vec(lines))
    }

    fn is_replayable(&self) -> bool {
        true
    }
}

/// One file per batch, written at commit, once per batch id.
struct BatchFiles {
    dir: PathBuf,
    pending: std::sync::Mutex<Option<(u64, String)>>,
}

impl BatchFiles {
    fn new(dir: &Path) -> Arc<Self> {
        Arc::new(BatchFiles {
            dir: dir.to_path_buf(),
            pending: std::sync::Mutex::new(None),
        })
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("batch-{id}.txt"))
    }
}

impl Sink<String> for BatchFiles {
    fn name(&self) -> String {
        format!("batch_files {}", self.dir.display())
    }

    fn add_batch(&self, batch: BatchId, rows: Batch<String>) -> streamflow::Result<()> {
        if self.path(batch.id).exists() {
            return Ok(()); // written before a restart: nothing to do
        }
        let mut text = rows.collect().join("\n");
        text.push('\n');
        *self.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some((batch.id, text));
        Ok(())
    }

    fn commit(&self, batch: BatchId) -> streamflow::Result<()> {
        let Some((id, text)) = self.pending.lock().unwrap_or_else(|e| e.into_inner()).take() else {
            return Ok(());
        };
        debug_assert_eq!(id, batch.id);
        let tmp = self.dir.join(format!(".batch-{id}.tmp"));
        std::fs::write(&tmp, text)
            .and_then(|()| std::fs::rename(&tmp, self.path(id)))
            .map_err(|e| Error::io(format!("cannot write batch {id}"), e))
    }
}

/// A source that tails a log file and a sink that writes one file per batch, each used from
/// both vocabularies, on built-in data.
#[derive(Parser)]
#[command(version, about)]
struct Options {}

fn main() -> streamflow::Result<()> {
    Options::parse();
    env_logger::init();
    // Removed when `temporary` drops, also when the job fails.
    let temporary = tempfile::Builder::new()
        .prefix("streamflow-custom-")
        .tempdir()
        .map_err(|e| Error::io("cannot create a temporary directory", e))?;
    let work = temporary.path();
    let (dstream_out, query_out) = (work.join("dstream"), work.join("query"));
    for dir in [&dstream_out, &query_out] {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("cannot create the output directory", e))?;
    }
    let log = work.join("app.log");
    let mut file = std::fs::File::create(&log).map_err(|e| Error::io("cannot create the log", e))?;
    for i in 1..=7 {
        writeln!(file, "event {i}").map_err(|e| Error::io("cannot write the log", e))?;
    }
    write!(file, "event 8 (no newline yet: not taken)").map_err(|e| Error::io("cannot write the log", e))?;

    // DStream: a batch every 100 ms, lines upper-cased. Ctrl-C / SIGTERM: finish the batch,
    // then stop (and the temporary directory is removed).
    let ssc = StreamingContext::builder()
        .batch_duration(Duration::milliseconds(100))
        .parallelism(2)
        .stop_gracefully_on_shutdown(true)
        .build()?;
    ssc.source_stream(LogTail { path: log.clone() })
        .map(|line| line.to_uppercase())
        .sink(BatchFiles::new(&dstream_out));
    ssc.start()?;
    ssc.await_termination_or_timeout("500 ms")?;
    ssc.stop(true)?;

    // Structured: the same two types, batches as soon as there is data.
    let session = Session::builder()
        .parallelism(2)
        .stop_gracefully_on_shutdown(true)
        .build()?;
    let query = session
        .read_stream::<String>()
        .source(LogTail { path: log })
        .filter(|line| line.ends_with('2') || line.ends_with('7'))
        .write_stream()
        .output_mode(OutputMode::Append)
        .sink(BatchFiles::new(&query_out))
        .start()?;
    query.process_all_available()?;
    query.stop()?;

    for dir in [&dstream_out, &query_out] {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| Error::io("cannot list the output", e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .collect();
        files.sort();
        println!("{}:", dir.display());
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io("cannot read the output", e))?;
            println!("  {}: {}", path.display(), text.trim_end().replace('\n', " | "));
        }
    }
    Ok(())
}
