//! File sinks: JSON lines and CSV, one file per batch, committed through a manifest.
//!
//! Batch `N` is written to `.part-N.tmp`, renamed to `part-0000N.json` (or `.csv`) and only then
//! recorded in `_manifest/N`. A batch whose manifest exists is not written again, so replaying
//! a batch (after a restart) writes nothing twice; readers that list `_manifest` see only whole
//! files. File sinks accept Append mode only, as in Spark.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::row::columns;
use crate::batch::Batch;
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

fn write_atomically(path: &Path, tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(tmp, path)
}

impl FileSink {
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
                    serde_json::to_writer(&mut out, row).map_err(|e| {
                        Error::InvalidConfig(format!("the json sink cannot serialize a row: {e}"))
                    })?;
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
                            .map_err(|e| Error::InvalidConfig(format!("the csv sink cannot write: {e}")))?;
                        wrote_header = true;
                    }
                    writer
                        .write_record(cols.iter().map(|(_, c)| c.csv_text()))
                        .map_err(|e| Error::InvalidConfig(format!("the csv sink cannot write: {e}")))?;
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

    fn start(&self, _ctx: &SinkContext) -> Result<()> {
        std::fs::create_dir_all(self.dir.join("_manifest")).map_err(|e| Error::Directory {
            path: self.dir.clone(),
            reason: format!("the {} sink cannot create it: {e}", self.format_name()),
        })
    }

    fn add_batch(&self, batch: BatchId, rows: Batch<T>) -> Result<()> {
        let batch_id = batch.id;
        let manifest = self.dir.join("_manifest").join(batch_id.to_string());
        if manifest.exists() {
            return Ok(()); // committed before: a replayed batch
        }
        let rows = rows.collect();
        let file_name = format!("part-{batch_id:05}.{}", self.format_name());
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
        let manifest = self.dir.join("_manifest").join(batch_id.to_string());
        if manifest.exists() {
            return Ok(());
        }
        let file_name = format!("part-{batch_id:05}.{}", self.format_name());
        write_atomically(
            &manifest,
            &self.dir.join("_manifest").join(format!(".{batch_id}.tmp")),
            format!("{file_name}\n").as_bytes(),
        )
        .map_err(|e| {
            Error::io(
                format!("the {} sink cannot commit batch {batch_id}", self.format_name()),
                e,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::exec::Executor;
    use crate::structured::OutputMode;
    use crate::time::Time;

    fn batch(id: u64, rows: Vec<i64>) -> (BatchId, Batch<i64>) {
        let exec = Arc::new(Executor::new(1, "file-sink-test").unwrap());
        let time = Time::from_millis(id as i64);
        (
            BatchId { id, time },
            Batch::from_partitions(vec![rows], time, exec),
        )
    }

    #[test]
    fn a_batch_is_output_only_once_committed_and_a_rerun_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let sink = FileSink {
            dir: dir.path().to_path_buf(),
            format: FileFormat::Json,
        };
        Sink::<i64>::start(&sink, &SinkContext::new("q", OutputMode::Append)).unwrap();
        let manifest = dir.path().join("_manifest").join("0");
        // Written, not committed (the process died here): no manifest, so not output.
        let (id, rows) = batch(0, vec![1, 2]);
        sink.add_batch(id, rows).unwrap();
        assert!(!manifest.exists());
        // The re-run of batch 0 (after a restart) writes it again and commits it.
        let (id, rows) = batch(0, vec![1, 2]);
        sink.add_batch(id, rows).unwrap();
        Sink::<i64>::commit(&sink, id).unwrap();
        assert_eq!(std::fs::read_to_string(&manifest).unwrap(), "part-00000.json\n");
        let part = dir.path().join("part-00000.json");
        assert_eq!(std::fs::read_to_string(&part).unwrap(), "1\n2\n");
        // A committed batch handed again changes nothing.
        let (id, rows) = batch(0, vec![99]);
        sink.add_batch(id, rows).unwrap();
        Sink::<i64>::commit(&sink, id).unwrap();
        assert_eq!(std::fs::read_to_string(&part).unwrap(), "1\n2\n");
    }
}
