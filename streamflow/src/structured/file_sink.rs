//! File sinks: JSON lines and CSV, one file per batch, committed through a manifest.
//!
//! Batch `N` is written to `.part-N.tmp`, renamed to `part-0000N.json` (or `.csv`) and only then
//! recorded in `_manifest/N`. A batch whose manifest exists is not written again, so replaying
//! a batch (after a restart) writes nothing twice; readers that list `_manifest` see only whole
//! files. File sinks accept Append mode only, as in Spark.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::output_mode::OutputMode;
use super::row::columns;
use super::writer::Sink;
use crate::batch::Batch;
use crate::data::Data;
use crate::error::{Error, Result};

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
    fn name(&self) -> &'static str {
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
    fn description(&self) -> String {
        format!("FileSink[{}, {}]", self.name(), self.dir.display())
    }

    fn short_name(&self) -> String {
        self.name().into()
    }

    fn modes(&self) -> Option<&'static [OutputMode]> {
        Some(&[OutputMode::Append])
    }

    fn start(&self) -> Result<()> {
        std::fs::create_dir_all(self.dir.join("_manifest")).map_err(|e| Error::Directory {
            path: self.dir.clone(),
            reason: format!("the {} sink cannot create it: {e}", self.name()),
        })
    }

    fn add_batch(&self, batch_id: u64, rows: Batch<T>, _mode: OutputMode) -> Result<()> {
        let manifest = self.dir.join("_manifest").join(batch_id.to_string());
        if manifest.exists() {
            return Ok(()); // committed before: a replayed batch
        }
        let rows = rows.collect();
        let file_name = format!("part-{batch_id:05}.{}", self.name());
        let bytes = self.encode(&rows)?;
        let path = self.dir.join(&file_name);
        write_atomically(&path, &self.dir.join(format!(".part-{batch_id}.tmp")), &bytes).map_err(|e| {
            Error::io(
                format!("the {} sink cannot write {}", self.name(), path.display()),
                e,
            )
        })?;
        write_atomically(
            &manifest,
            &self.dir.join("_manifest").join(format!(".{batch_id}.tmp")),
            format!("{file_name}\n").as_bytes(),
        )
        .map_err(|e| {
            Error::io(
                format!("the {} sink cannot commit batch {batch_id}", self.name()),
                e,
            )
        })
    }
}
