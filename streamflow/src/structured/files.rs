//! The file source: records from the files of a directory, in JSON lines, CSV or text.
//!
//! Offsets count files: offset `n` means the first `n` files in the order they were found
//! (modification time, then name). A batch reads the files between its start and end offsets,
//! so it can be re-read exactly.

use std::collections::HashSet;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use serde::de::DeserializeOwned;

use super::plan::RecordSource;
use super::reader::{Format, MalformedPolicy, TextOptions, parse_csv_record, parse_line};
use super::session::lock;
use crate::data::Data;
use crate::error::{Error, Result};

/// A record that did not parse, kept under [`MalformedPolicy::Permissive`].
///
/// ```
/// let r = streamflow::structured::CorruptRecord::default();
/// assert_eq!(r.line, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CorruptRecord {
    /// The file (or `host:port`) it came from.
    pub origin: String,
    /// Its line number, from 1.
    pub line: u64,
    /// The raw text.
    pub text: String,
    /// Why it did not parse.
    pub error: String,
}

struct Listing {
    known: Vec<PathBuf>,
    seen: HashSet<PathBuf>,
}

pub(crate) struct FileSource<T> {
    dir: PathBuf,
    options: TextOptions,
    max_files: Option<u64>,
    listing: Mutex<Listing>,
    malformed: AtomicU64,
    _records: PhantomData<fn() -> T>,
}

impl<T> FileSource<T> {
    pub(crate) fn new(dir: PathBuf, options: TextOptions, max_files: Option<u64>) -> Self {
        FileSource {
            dir,
            options,
            max_files,
            listing: Mutex::new(Listing {
                known: Vec::new(),
                seen: HashSet::new(),
            }),
            malformed: AtomicU64::new(0),
            _records: PhantomData,
        }
    }

    fn name(&self) -> String {
        format!("FileSource[{}]", self.dir.display())
    }

    /// Adds files not seen before to the end of the known list, oldest first.
    fn refresh(&self) -> Result<()> {
        let mut found = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::Directory {
            path: self.dir.clone(),
            reason: format!("the file source cannot list it: {e}"),
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            if let Ok(meta) = entry.metadata() {
                if meta.is_file() {
                    found.push((meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), entry.path()));
                }
            }
        }
        found.sort();
        let mut listing = lock(&self.listing);
        for (_, path) in found {
            if listing.seen.insert(path.clone()) {
                listing.known.push(path);
            }
        }
        Ok(())
    }

    /// Handles a record that did not parse, by the policy.
    fn malformed(&self, path: &Path, line: u64, text: &str, error: String) -> Result<()> {
        self.malformed.fetch_add(1, Ordering::Relaxed);
        match self.options.policy {
            MalformedPolicy::FailFast => Err(Error::Source {
                source_name: self.name(),
                message: format!(
                    "malformed record in {} at line {line}: {error}; fix the input, or read with MalformedPolicy::Permissive or DropMalformed",
                    path.display()
                ),
            }),
            MalformedPolicy::DropMalformed => Ok(()),
            MalformedPolicy::Permissive => {
                self.options.corrupt.push(super::files::CorruptRecord {
                    origin: path.display().to_string(),
                    line,
                    text: text.to_string(),
                    error,
                });
                Ok(())
            }
        }
    }
}

impl<T: Data + DeserializeOwned> FileSource<T> {
    fn read_file(&self, path: &Path, out: &mut Vec<T>) -> Result<()> {
        let content =
            std::fs::read(path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        // A UTF-8 byte-order mark (Excel's "CSV UTF-8") is not part of the first line.
        let bytes = content.strip_prefix(crate::source::UTF8_BOM).unwrap_or(&content);
        if self.options.format == Format::Csv {
            return self.read_csv(path, bytes, out);
        }
        let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
        if bytes.last() == Some(&b'\n') {
            lines.pop(); // a final newline does not start another line
        }
        for (i, raw) in lines.into_iter().enumerate() {
            let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
            let line = i as u64 + 1;
            let text = match std::str::from_utf8(raw) {
                Ok(text) => text,
                Err(e) => {
                    self.malformed(
                        path,
                        line,
                        &String::from_utf8_lossy(raw),
                        format!("not UTF-8: {e}"),
                    )?;
                    continue;
                }
            };
            if text.trim().is_empty() && self.options.format == Format::Json {
                continue;
            }
            match parse_line::<T>(self.options.format, None, text) {
                Ok(record) => out.push(record),
                Err(e) => self.malformed(path, line, text, e)?,
            }
        }
        Ok(())
    }

    fn read_csv(&self, path: &Path, bytes: &[u8], out: &mut Vec<T>) -> Result<()> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(bytes);
        let mut headers: Option<csv::StringRecord> = None;
        let mut record = csv::StringRecord::new();
        loop {
            let line = reader.position().line();
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {
                    if self.options.header && headers.is_none() {
                        headers = Some(record.clone());
                        continue;
                    }
                    match parse_csv_record::<T>(headers.as_ref(), &record) {
                        Ok(r) => out.push(r),
                        Err(e) => {
                            let text = record.iter().collect::<Vec<_>>().join(",");
                            self.malformed(path, line, &text, e)?
                        }
                    }
                }
                Err(e) => {
                    let line = e.position().map_or(line, |p| p.line());
                    self.malformed(path, line, "", e.to_string())?;
                }
            }
        }
        Ok(())
    }
}

impl<T: Data + DeserializeOwned> RecordSource<T> for FileSource<T> {
    fn description(&self) -> String {
        self.name()
    }

    fn start(&self) -> Result<()> {
        let meta = std::fs::metadata(&self.dir).map_err(|e| Error::Directory {
            path: self.dir.clone(),
            reason: format!("the file source cannot read it: {e}; create it before start()"),
        })?;
        if !meta.is_dir() {
            return Err(Error::Directory {
                path: self.dir.clone(),
                reason: "the file source needs a directory, and this is a file".into(),
            });
        }
        Ok(())
    }

    fn latest_offset(&self, committed: u64) -> Result<u64> {
        self.refresh()?;
        let known = lock(&self.listing).known.len() as u64;
        Ok(match self.max_files {
            Some(max) => known.min(committed + max),
            None => known,
        })
    }

    fn available_offset(&self, _committed: u64) -> Result<u64> {
        self.refresh()?;
        Ok(lock(&self.listing).known.len() as u64)
    }

    fn get_batch(&self, start: u64, end: u64) -> Result<Vec<T>> {
        let files: Vec<PathBuf> = {
            let listing = lock(&self.listing);
            let end = (end as usize).min(listing.known.len());
            listing.known[(start as usize).min(end)..end].to_vec()
        };
        let mut out = Vec::new();
        for path in files {
            self.read_file(&path, &mut out)?;
        }
        Ok(out)
    }

    fn take_malformed(&self) -> u64 {
        self.malformed.swap(0, Ordering::Relaxed)
    }
}
