//! File sinks: JSON lines and CSV, one file per batch, committed through a manifest (Spark's
//! `_spark_metadata`).
//!
//! Batch `N` is written to `.part-N.tmp`, synced, renamed to `part-0000N.json` (or `.csv`) and
//! only at commit recorded in `_manifest/N` (a checkpoint file: atomic, checksummed, naming the
//! batch's files). So:
//!
//! - a batch whose manifest entry exists is committed output: handed again (a restarted job
//!   re-running it) it is skipped, not written twice;
//! - a batch written but not committed (the job killed in between) is not output: its file has
//!   the name the re-run writes, so the re-run replaces it whole;
//! - a reader that honours the manifest sees every committed row once and nothing else. The
//!   file source does (see `source/file.rs`): pointed at a directory with a `_manifest`, it
//!   reads the files its entries name, batch by batch, and no other file.
//!
//! File sinks accept Append mode only, as in Spark.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::row::columns;
use crate::batch::Batch;
use crate::checkpoint::file::{self as checkpoint_file, sync_dir};
use crate::data::Data;
use crate::error::{Error, Result};
use crate::exec::BatchId;
use crate::sink::{Sink, SinkContext};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileFormat {
    Json,
    Csv,
}

pub(crate) struct FileSink {
    pub(crate) dir: PathBuf,
    pub(crate) format: FileFormat,
}

/// The directory of a file sink's manifest, beside its files.
pub(crate) const MANIFEST_DIR: &str = "_manifest";

/// The kind of a manifest entry's checkpoint file.
const MANIFEST_KIND: &str = "file-sink-manifest";

/// One committed batch of a file sink: `_manifest/<batch_id>`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ManifestEntry {
    pub(crate) batch_id: u64,
    /// The batch's files, by name, in the sink's directory.
    pub(crate) files: Vec<String>,
}

/// The batch ids committed in the manifest of the sink directory `dir`, in order; `None` when
/// `dir` has no manifest (it is not a file sink's output).
pub(crate) fn manifest_batches(dir: &Path) -> std::io::Result<Option<Vec<u64>>> {
    let manifest = dir.join(MANIFEST_DIR);
    let entries = match std::fs::read_dir(&manifest) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut ids = Vec::new();
    for entry in entries {
        // Only names that are batch ids: temporary files of a writer are not entries.
        if let Ok(id) = entry?.file_name().to_string_lossy().parse::<u64>() {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    Ok(Some(ids))
}

/// The manifest entry of batch `batch_id` in the sink directory `dir`; `None` if it was not
/// committed. A damaged entry is [`Error::CorruptCheckpoint`] naming it.
pub(crate) fn read_manifest(dir: &Path, batch_id: u64) -> Result<Option<ManifestEntry>> {
    let path = dir.join(MANIFEST_DIR).join(batch_id.to_string());
    checkpoint_file::read_json(&path, MANIFEST_KIND)
}

/// Writes `bytes` to `path` through `tmp`: synced, renamed, the directory synced.
fn write_atomically(path: &Path, tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

impl FileSink {
    fn file_name(&self, batch_id: u64) -> String {
        format!("part-{batch_id:05}.{}", self.format_name())
    }

    fn format_name(&self) -> &'static str {
        match self.format {
            FileFormat::Json => "json",
            FileFormat::Csv => "csv",
        }
    }

    fn encode<T: Serialize>(&self, rows: &[T]) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        match self.format {
            FileFormat::Json => {
                for row in rows {
                    serde_json::to_writer(&mut out, row)
                        .map_err(|e| Error::serialization("the json sink cannot serialize a row", e))?;
                    out.push(b'\n');
                }
            }
            FileFormat::Csv => {
                let mut writer = csv::Writer::from_writer(&mut out);
                let mut wrote_header = false;
                for row in rows {
                    let cols = columns(row)?;
                    if !wrote_header {
                        writer
                            .write_record(cols.iter().map(|(n, _)| n.as_str()))
                            .map_err(|e| Error::serialization("the csv sink cannot write", e))?;
                        wrote_header = true;
                    }
                    writer
                        .write_record(cols.iter().map(|(_, c)| c.csv_text()))
                        .map_err(|e| Error::serialization("the csv sink cannot write", e))?;
                }
                writer
                    .flush()
                    .map_err(|e| Error::io("the csv sink cannot write", e))?;
            }
        }
        Ok(out)
    }
}

impl<T: Data + Serialize> Sink<T> for FileSink {
    fn name(&self) -> String {
        format!("FileSink[{}, {}]", self.format_name(), self.dir.display())
    }

    /// Creates the directory and its manifest, and removes the temporary files of a run that
    /// was killed while writing (never output).
    fn start(&self, _ctx: &SinkContext) -> Result<()> {
        std::fs::create_dir_all(self.dir.join(MANIFEST_DIR)).map_err(|e| Error::Directory {
            path: self.dir.clone(),
            reason: format!("the {} sink cannot create it: {e}", self.format_name()),
        })?;
        checkpoint_file::remove_stray_temps(&self.dir)?;
        checkpoint_file::remove_stray_temps(&self.dir.join(MANIFEST_DIR))
    }

    /// Writes the batch's file, unless the batch is already committed (a re-run after a
    /// restart), in which case it is skipped: its rows are output once.
    fn add_batch(&self, batch: BatchId, rows: Batch<T>) -> Result<()> {
        let batch_id = batch.id;
        if read_manifest(&self.dir, batch_id)?.is_some() {
            return Ok(());
        }
        let rows = rows.collect();
        let file_name = self.file_name(batch_id);
        let bytes = self.encode(&rows)?;
        let path = self.dir.join(&file_name);
        write_atomically(&path, &self.dir.join(format!(".part-{batch_id}.tmp")), &bytes).map_err(|e| {
            Error::io(
                format!("the {} sink cannot write {}", self.format_name(), path.display()),
                e,
            )
        })?;
        Ok(())
    }

    /// The batch's file is in place: the manifest entry makes it part of the output. A reader
    /// of the directory trusts only files named in `_manifest/`, so a batch that was written
    /// but never committed (a crash in between) is not output, and its re-run replaces it.
    fn commit(&self, batch: BatchId) -> Result<()> {
        let batch_id = batch.id;
        if read_manifest(&self.dir, batch_id)?.is_some() {
            return Ok(());
        }
        let entry = ManifestEntry {
            batch_id,
            files: vec![self.file_name(batch_id)],
        };
        let path = self.dir.join(MANIFEST_DIR).join(batch_id.to_string());
        checkpoint_file::write_json(&path, MANIFEST_KIND, &entry)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::exec::Executor;
    use crate::source::testing::dir_names as names;
    use crate::structured::OutputMode;
    use crate::time::Time;

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    fn batch(id: u64, rows: Vec<i64>) -> Result<(BatchId, Batch<i64>)> {
        let exec = Arc::new(Executor::new(1, "file-sink-test")?);
        let time = Time::from_millis(id as i64);
        Ok((
            BatchId { id, time },
            Batch::from_partitions(vec![rows], time, exec),
        ))
    }

    /// A JSON sink on `dir`, started as a restarted query would start it.
    fn started(dir: &Path) -> Result<FileSink> {
        let sink = FileSink {
            dir: dir.to_path_buf(),
            format: FileFormat::Json,
        };
        Sink::<i64>::start(&sink, &SinkContext::new("q", OutputMode::Append))?;
        Ok(sink)
    }

    #[test]
    fn a_batch_is_output_only_once_committed_and_a_rerun_replaces_it() -> TestResult {
        let dir = tempfile::tempdir()?;
        let sink = started(dir.path())?;
        // Written, not committed (the process died here): no manifest entry, so not output.
        let (id, rows) = batch(0, vec![1, 2])?;
        sink.add_batch(id, rows)?;
        assert_eq!(manifest_batches(dir.path())?, Some(vec![]));
        assert_eq!(read_manifest(dir.path(), 0)?, None);
        // The re-run of batch 0 (after a restart) writes it again and commits it.
        let sink = started(dir.path())?;
        let (id, rows) = batch(0, vec![1, 2])?;
        sink.add_batch(id, rows)?;
        Sink::<i64>::commit(&sink, id)?;
        let entry = read_manifest(dir.path(), 0)?;
        assert_eq!(
            entry,
            Some(ManifestEntry {
                batch_id: 0,
                files: vec!["part-00000.json".into()]
            })
        );
        let part = dir.path().join("part-00000.json");
        assert_eq!(std::fs::read_to_string(&part)?, "1\n2\n");
        // A committed batch handed again changes nothing.
        let (id, rows) = batch(0, vec![99])?;
        sink.add_batch(id, rows)?;
        Sink::<i64>::commit(&sink, id)?;
        assert_eq!(std::fs::read_to_string(&part)?, "1\n2\n");
        Ok(())
    }

    #[test]
    fn a_run_killed_mid_batch_leaves_nothing_a_manifest_reader_counts_twice() -> TestResult {
        let dir = tempfile::tempdir()?;
        let sink = started(dir.path())?;
        let (id, rows) = batch(0, vec![1])?;
        sink.add_batch(id, rows)?;
        Sink::<i64>::commit(&sink, id)?;
        // Batch 1: the first attempt wrote its file (and a temporary one it was killed on)
        // but never committed.
        let (id, rows) = batch(1, vec![2, 3])?;
        sink.add_batch(id, rows)?;
        std::fs::write(dir.path().join(".part-1.tmp"), "2\n")?;
        // The restarted job re-runs batch 1 and commits it.
        let sink = started(dir.path())?;
        let (id, rows) = batch(1, vec![2, 3])?;
        sink.add_batch(id, rows)?;
        Sink::<i64>::commit(&sink, id)?;
        assert_eq!(
            names(dir.path())?,
            ["_manifest", "part-00000.json", "part-00001.json"]
        );
        assert_eq!(names(&dir.path().join(MANIFEST_DIR))?, ["0", "1"]);
        // What a reader of the manifest sees: every row once.
        let mut rows = String::new();
        for id in manifest_batches(dir.path())?.unwrap_or_default() {
            for file in read_manifest(dir.path(), id)?
                .map(|e| e.files)
                .unwrap_or_default()
            {
                rows += &std::fs::read_to_string(dir.path().join(file))?;
            }
        }
        assert_eq!(rows, "1\n2\n3\n");
        Ok(())
    }

    #[test]
    fn a_damaged_manifest_entry_is_named() -> TestResult {
        let dir = tempfile::tempdir()?;
        let sink = started(dir.path())?;
        let (id, rows) = batch(0, vec![1])?;
        sink.add_batch(id, rows)?;
        Sink::<i64>::commit(&sink, id)?;
        let entry = dir.path().join(MANIFEST_DIR).join("0");
        let mut bytes = std::fs::read(&entry)?;
        let last = bytes.len() - 3;
        bytes[last] ^= 0x01;
        std::fs::write(&entry, bytes)?;
        let (id, rows) = batch(0, vec![1])?;
        let err = sink
            .add_batch(id, rows)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("corrupt") && err.contains("_manifest"), "{err}");
        Ok(())
    }
}
