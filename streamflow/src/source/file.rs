//! `text_file_stream`: new files in a directory (Spark's `textFileStream`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::SourceControl;
use crate::StreamingContext;
use crate::batch::Batch;
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::metrics::ReceiverStatus;

/// The files of the directory already taken into a batch (or present at start).
struct FileWatch {
    dir: PathBuf,
    seen: Mutex<HashSet<PathBuf>>,
    status: Mutex<ReceiverStatus>,
}

impl FileWatch {
    /// Regular, visible files in the directory, oldest first. Names starting with `.` or `_`
    /// are files still being written (Spark's convention), so they are skipped.
    fn list(&self) -> std::io::Result<Vec<(SystemTime, PathBuf)>> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let meta = entry.metadata()?;
            if meta.is_file() {
                files.push((meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), entry.path()));
            }
        }
        files.sort();
        Ok(files)
    }

    /// Lines of every file not seen before. A file that cannot be read is reported and tried
    /// again next batch, so nothing is lost.
    fn new_lines(&self) -> Vec<String> {
        let files = match self.list() {
            Ok(files) => files,
            Err(e) => {
                self.error(format!("cannot list {}: {e}", self.dir.display()));
                return Vec::new();
            }
        };
        let mut lines = Vec::new();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for (_, path) in files {
            if seen.contains(&path) {
                continue;
            }
            match std::fs::read(&path).map(|bytes| match bytes.strip_prefix(super::UTF8_BOM) {
                // A UTF-8 byte-order mark is not part of the first line (as Hadoop's reader).
                Some(rest) => rest.to_vec(),
                None => bytes,
            }) {
                Ok(bytes) if bytes.is_empty() => {
                    seen.insert(path);
                }
                Ok(bytes) => {
                    let mut undecodable = 0;
                    for line in bytes.split(|b| *b == b'\n') {
                        let line = line.strip_suffix(b"\r").unwrap_or(line);
                        match std::str::from_utf8(line) {
                            Ok(text) => lines.push(text.to_string()),
                            Err(_) => undecodable += 1,
                        }
                    }
                    // A file ending in '\n' does not have an empty last line.
                    if bytes.last() == Some(&b'\n') {
                        lines.pop();
                    }
                    if undecodable > 0 {
                        log::warn!(
                            "text_file_stream: skipped {undecodable} lines of {} that are not UTF-8",
                            path.display()
                        );
                    }
                    let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
                    status.undecodable += undecodable;
                    drop(status);
                    seen.insert(path);
                }
                Err(e) => self.error(format!("cannot read {}: {e}; will retry", path.display())),
            }
        }
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        status.records += lines.len() as u64;
        lines
    }

    fn error(&self, message: String) {
        log::warn!("text_file_stream: {message}");
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        status.errors += 1;
        status.last_error = Some(message);
    }
}

impl SourceControl for FileWatch {
    fn start(&self) -> Result<()> {
        let not_usable = |reason: String| Error::Directory {
            path: self.dir.clone(),
            reason,
        };
        let meta = std::fs::metadata(&self.dir)
            .map_err(|e| not_usable(format!("text_file_stream cannot watch it: {e}")))?;
        if !meta.is_dir() {
            return Err(not_usable(
                "text_file_stream needs a directory, and this is a file".into(),
            ));
        }
        // Like Spark, only files that appear after the start are read.
        let existing = self
            .list()
            .map_err(|e| not_usable(format!("cannot list it: {e}")))?;
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.extend(existing.into_iter().map(|(_, p)| p));
        self.status.lock().unwrap_or_else(|e| e.into_inner()).active = true;
        Ok(())
    }

    fn stop(&self) {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).active = false;
    }

    fn has_pending(&self) -> bool {
        false
    }

    fn status(&self) -> Option<ReceiverStatus> {
        Some(self.status.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

impl StreamingContext {
    /// Lines of the files that appear in `dir` after the context starts (Spark's
    /// `textFileStream`). Write files elsewhere and move them in, or give them a name starting
    /// with `.` or `_` while writing: such names are skipped. A missing directory is an error
    /// from `start()` that names it; a file that cannot be read is retried; lines that are not
    /// UTF-8 are counted and skipped.
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let out = t.collect(&t.context().text_file_stream(dir.path()));
    /// t.start()?;
    /// std::fs::write(dir.path().join("a.txt"), "one\ntwo\n")?;
    /// t.advance_batches(1)?;
    /// assert_eq!(out.batches(), vec![vec!["one".to_string(), "two".to_string()]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn text_file_stream(&self, dir: impl AsRef<Path>) -> DStream<String> {
        let watch = Arc::new(FileWatch {
            dir: dir.as_ref().to_path_buf(),
            seen: Mutex::new(HashSet::new()),
            status: Mutex::new(ReceiverStatus::new(format!(
                "text_file_stream {}",
                dir.as_ref().display()
            ))),
        });
        self.register_control(watch.clone());
        let exec = self.inner.exec.clone();
        let parallelism = self.parallelism();
        self.source("text_file_stream".into(), move |time| {
            Ok(Batch::from_vec(
                watch.new_lines(),
                parallelism,
                time,
                exec.clone(),
            ))
        })
    }
}
