//! The file source: records from the files of a directory, as plain lines, JSON lines or CSV —
//! under DStream `text_file_stream` and the Structured reader's `files`.
//!
//! Its offset counts files: offset `n` means "the first `n` files of the log", the log being
//! the files in the order they were found (each listing appends the new ones, oldest
//! modification time first, then by name). A range `(start, end]` therefore names the same
//! files every time it is read: the source is replayable, and the checkpoint only has to keep
//! the log. Each file of a batch becomes one partition, read and decoded on a worker — or, when
//! it is larger than the batch's bytes spread over the workers (at least 4 MiB, at most
//! 128 MiB: Spark's `maxSplitBytes`), one partition per byte range of it, each reading the
//! lines that start in its range.
//!
//! # The log in the checkpoint
//!
//! With a checkpoint, the log is kept in the source's directory of it
//! ([`SourceContext::metadata_path`]) and read back when the job restarts, so an offset names
//! the same files after a restart, and a file taken once is never taken again:
//!
//! ```text
//! <metadata>/log/<first>   the files a listing found, the first of them being file <first>
//! <metadata>/initial       (new-files-only sources) the files present at the very first start
//! ```
//!
//! Each listing that finds new files writes one entry (a checkpoint file: atomic, checksummed)
//! *before* `latest_offset` returns an offset that counts them. Every
//! [`COMPACT_AFTER`] entries they are compacted into entry `0`; an entry left behind by a
//! compaction that was interrupted is recognized as covered and skipped.
//!
//! A new-files-only source (DStream `text_file_stream`) ignores the files present when the job
//! first started, on every later restart too; files that arrived while the job was down are new
//! files and are taken by the first batch after the restart — what Spark's restart does for the
//! files within its remember window.
//!
//! # Bounded memory
//!
//! The source holds the names of the files after the last committed offset, and of the files
//! it has seen that are not older than [`SourceLimits::max_file_age`] (one week by default)
//! before the newest one: a file older than that is ignored, as Spark's `maxFileAge` does, so
//! a directory that receives files for years costs the memory of a week of them. A committed
//! range asked for again (a restart rebuilding a DStream window) is read back from the log.
//!
//! # A file sink's output
//!
//! Pointed at the directory a JSON/CSV file sink writes (one with a `_manifest`), the source
//! reads only the files the sink committed, batch by batch in order, as Spark's file source
//! honours `_spark_metadata`: a file written by a batch that was never committed (the writer
//! killed before its commit) is not read, and its re-run is read once.

use std::collections::{HashMap, HashSet};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::de::DeserializeOwned;

use super::format::{Format, LineDecoder, TextOptions, csv_header, decode_lines_with};
use super::lines::LineReader;
use super::{ReadLimit, Source, SourceBatch, SourceContext, SourceLimits};
use crate::StreamingContext;
use crate::checkpoint::file as checkpoint_file;
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::exec::{lock, raise};
use crate::metrics::ReceiverStatus;
use crate::sink::files::{manifest_batches, read_manifest};
use crate::time::Time;

/// A duration in whole ms, saturating.
fn duration_millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// How many log entries accumulate before they are compacted into one: bounds the files of the
/// log to about this many, whatever the number of listings.
pub(crate) const COMPACT_AFTER: usize = 100;

const LOG_KIND: &str = "file-source-log";
const INITIAL_KIND: &str = "file-source-initial";

/// File names (paths inside the directory) as a checkpoint keeps them: UTF-8 names as they
/// are; a name that is not UTF-8 (Unix) also as its bytes, so it names the same file after a
/// restart.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Names {
    files: Vec<String>,
    /// `(index in files, the name's bytes)` of the names that are not UTF-8.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    raw: Vec<(usize, Vec<u8>)>,
}

impl Names {
    /// The names of `paths`; the first that cannot be kept is the error (not UTF-8, and not
    /// on Unix).
    fn new<'a>(paths: impl IntoIterator<Item = &'a Path>) -> std::result::Result<Names, &'a Path> {
        let mut names = Names::default();
        for path in paths {
            let i = names.files.len();
            match path.to_str() {
                Some(name) => names.files.push(name.to_string()),
                None => {
                    names.raw.push((i, raw_bytes(path).ok_or(path)?));
                    names.files.push(path.to_string_lossy().into_owned());
                }
            }
        }
        Ok(names)
    }

    /// The paths they name, in order.
    fn paths(self) -> Vec<PathBuf> {
        let mut paths: Vec<PathBuf> = self.files.into_iter().map(PathBuf::from).collect();
        for (i, bytes) in self.raw {
            if let (Some(path), Some(raw)) = (paths.get_mut(i), from_raw_bytes(bytes)) {
                *path = raw;
            }
        }
        paths
    }
}

#[cfg(unix)]
fn raw_bytes(path: &Path) -> Option<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    Some(path.as_os_str().as_bytes().to_vec())
}

#[cfg(not(unix))]
fn raw_bytes(_: &Path) -> Option<Vec<u8>> {
    None
}

#[cfg(unix)]
fn from_raw_bytes(bytes: Vec<u8>) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    Some(PathBuf::from(std::ffi::OsString::from_vec(bytes)))
}

#[cfg(not(unix))]
fn from_raw_bytes(_: Vec<u8>) -> Option<PathBuf> {
    None
}

/// One entry of the log in the checkpoint: files `first`, `first + 1` … by name.
#[derive(serde::Serialize, serde::Deserialize)]
struct LogEntry {
    first: u64,
    #[serde(flatten)]
    names: Names,
    /// Each file's modification time when taken (ms since the epoch); empty in logs written
    /// before it was recorded (looked up again at a restart).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    modified: Vec<i64>,
}

/// The files present at the first start of a new-files-only source.
#[derive(serde::Serialize, serde::Deserialize)]
struct InitialFiles {
    #[serde(flatten)]
    names: Names,
}

/// What one listing of the directory found.
struct Listing {
    /// Candidate files not taken yet, in the order the log takes them, with their size and
    /// modification time (a file sink's committed files: none).
    files: Vec<(PathBuf, Option<(u64, SystemTime)>)>,
    /// The manifest entries they come from, when the directory is a file sink's output.
    manifest: Option<Vec<u64>>,
}

/// The files found so far, in the order offsets count them.
///
/// Memory stays bounded however long the job runs: files before the last committed offset
/// are forgotten (a range before it, which only a restart's window rebuild asks for, is read
/// back from the log in the checkpoint), and `seen` forgets files older than the source's
/// `max_file_age` before the newest one — such files are ignored, as in Spark.
struct FileLog {
    /// The offset of `files[0]`: the files before it were committed and forgotten.
    base: u64,
    files: Vec<PathBuf>,
    /// The size of each file of `files` when it was taken (`None`: not known, e.g. after a
    /// restart, looked up when needed).
    sizes: Vec<Option<u64>>,
    /// The files taken into the log, and (for new-files-only sources) those present at start,
    /// with their modification times (ms since the epoch), while not older than
    /// `purged_before` (Spark's `SeenFilesMap`).
    seen: HashMap<PathBuf, i64>,
    /// The newest modification time of a file seen (Spark's `latestTimestamp`).
    latest: i64,
    /// Files modified before this are ignored: the newest one's time less `max_file_age`
    /// (Spark's `lastPurgeTimestamp`); none before the first listing.
    purged_before: i64,
    /// The manifest entries read so far, when reading a file sink's output.
    manifest_read: HashSet<u64>,
    /// Where the log is kept, with a checkpoint.
    store: Option<LogStore>,
}

impl Default for FileLog {
    fn default() -> Self {
        FileLog {
            base: 0,
            files: Vec::new(),
            sizes: Vec::new(),
            seen: HashMap::new(),
            latest: i64::MIN,
            purged_before: i64::MIN,
            manifest_read: HashSet::new(),
            store: None,
        }
    }
}

impl FileLog {
    /// The offset after the last file found.
    fn end(&self) -> u64 {
        self.base + self.files.len() as u64
    }

    /// Remembers `path`, modified at `modified`, as seen.
    fn see(&mut self, path: PathBuf, modified: i64) {
        self.latest = self.latest.max(modified);
        self.seen.insert(path, modified);
    }

    /// Forgets the files seen that are older than `max_age` before the newest one; from now on
    /// such files are ignored (Spark's `SeenFilesMap.purge`).
    fn purge(&mut self, max_age: i64) {
        let before = self.latest.saturating_sub(max_age);
        if before > self.purged_before {
            self.purged_before = before;
            self.seen.retain(|_, modified| *modified >= before);
        }
    }
}

/// A modification time in ms since the epoch (before it: negative; unknown: the epoch).
fn millis(modified: SystemTime) -> i64 {
    match modified.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// The modification time of the file at `path`, if it is there.
fn modified_millis(path: &Path) -> Option<i64> {
    std::fs::metadata(path).ok()?.modified().ok().map(millis)
}

/// The log's entries in the checkpoint.
struct LogStore {
    /// `<metadata>/log`.
    dir: PathBuf,
    /// The `first` of every entry on disk.
    entries: Vec<u64>,
}

impl LogStore {
    fn entry_path(&self, first: u64) -> PathBuf {
        self.dir.join(first.to_string())
    }

    /// Reads the log back: the names of its files, in order, with their modification times
    /// when recorded.
    fn open(dir: PathBuf) -> Result<(LogStore, Vec<(PathBuf, Option<i64>)>)> {
        checkpoint_file::remove_stray_temps(&dir)?;
        let mut entries = Vec::new();
        match std::fs::read_dir(&dir) {
            Ok(listing) => {
                for entry in listing {
                    let entry = entry.map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
                    if let Ok(first) = entry.file_name().to_string_lossy().parse::<u64>() {
                        entries.push(first);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("cannot list {}", dir.display()), e)),
        }
        entries.sort_unstable();
        let store = LogStore { dir, entries };
        let names = store.read()?;
        Ok((store, names))
    }

    /// Every file of the log on disk, in order, with its modification time when recorded.
    fn read(&self) -> Result<Vec<(PathBuf, Option<i64>)>> {
        let store = self;
        let mut names: Vec<(PathBuf, Option<i64>)> = Vec::new();
        for &first in &store.entries {
            let path = store.entry_path(first);
            let corrupt = |message: String| Error::CorruptCheckpoint {
                path: path.clone(),
                message,
            };
            let entry: LogEntry = checkpoint_file::read_json(&path, LOG_KIND)?
                .ok_or_else(|| corrupt("it disappeared while the log was read".into()))?;
            if entry.first != first {
                return Err(corrupt(format!(
                    "it holds the files from {}, but its name says {first}",
                    entry.first
                )));
            }
            let len = names.len() as u64;
            let end = first + entry.names.files.len() as u64;
            if first == len {
                let known = entry.modified.len() == entry.names.files.len();
                names.extend(
                    entry
                        .names
                        .paths()
                        .into_iter()
                        .enumerate()
                        .map(|(i, name)| (name, known.then(|| entry.modified[i]))),
                );
            } else if first > len {
                return Err(corrupt(format!(
                    "the log has files 0..{len} before it, and it starts at {first}: entry {len} is missing"
                )));
            } else if end > len {
                return Err(corrupt(format!(
                    "it holds files {first}..{end}, overlapping the {len} files before it"
                )));
            }
            // Otherwise covered by a compacted entry: a compaction was interrupted before it
            // removed this one.
        }
        Ok(names)
    }

    /// Writes the entry of the files from `first` on (names and modification times), then
    /// compacts the log into one entry if it has grown to [`COMPACT_AFTER`] entries.
    fn append(&mut self, first: u64, names: Names, modified: Vec<i64>) -> Result<()> {
        let path = self.entry_path(first);
        let entry = LogEntry {
            first,
            names,
            modified,
        };
        checkpoint_file::write_json(&path, LOG_KIND, &entry)?;
        self.entries.push(first);
        if self.entries.len() >= COMPACT_AFTER {
            // A failed compaction loses nothing (the entries stay valid): it is tried again at
            // the next entry.
            if let Err(e) = self.compact() {
                log::warn!(
                    "cannot compact the file source's log in {}: {e}",
                    self.dir.display()
                );
            }
        }
        Ok(())
    }
}

impl LogStore {
    /// Replaces entry 0 by the whole log, atomically; only then removes the others.
    fn compact(&mut self) -> Result<()> {
        let all = self.read()?;
        let modified = if all.iter().all(|(_, m)| m.is_some()) {
            all.iter().map(|(_, m)| m.unwrap_or_default()).collect()
        } else {
            Vec::new()
        };
        // Every name was read from the log, so every one can be written back.
        let names = Names::new(all.iter().map(|(name, _)| name.as_path()))
            .map_err(|name| Error::illegal_state(format!("cannot record {} in the log", name.display())))?;
        let compacted = LogEntry {
            first: 0,
            names,
            modified,
        };
        checkpoint_file::write_json(&self.entry_path(0), LOG_KIND, &compacted)?;
        for &old in self.entries.iter().filter(|&&f| f != 0) {
            let path = self.entry_path(old);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(
                        format!("cannot remove the compacted {}", path.display()),
                        e,
                    ));
                }
                _ => {}
            }
        }
        self.entries = vec![0];
        Ok(())
    }
}

/// Records of type `T` from the files of a directory.
pub(crate) struct FileSource<T> {
    dir: PathBuf,
    name: String,
    /// How errors refer to the source ("text_file_stream", "the file source").
    label: &'static str,
    /// Only files that appear after start (DStream), or those present at start too (Structured).
    new_files_only: bool,
    max_files_per_trigger: Option<u64>,
    max_bytes_per_trigger: Option<u64>,
    /// How old a file must be (unchanged) before it is taken.
    settle: std::time::Duration,
    /// Files older than this before the newest one are ignored (ms; Spark's `maxFileAge`).
    max_file_age: i64,
    options: Arc<TextOptions>,
    log: Mutex<FileLog>,
    /// Updated by the workers that read the files.
    status: Arc<Mutex<ReceiverStatus>>,
    /// The job's workers (known at start): a batch of fewer large files is cut into pieces.
    parallelism: AtomicUsize,
    /// The smallest piece a file is cut into ([`MIN_SPLIT_BYTES`]; less in tests).
    min_split: u64,
    _records: PhantomData<fn() -> T>,
}

impl<T> FileSource<T> {
    /// All the files of `dir`, those present at start included, decoded by `options`; named
    /// `FileSource[dir]`.
    pub(crate) fn new(dir: impl AsRef<Path>, options: TextOptions) -> Self {
        let dir = dir.as_ref().to_path_buf();
        let name = format!("FileSource[{}]", dir.display());
        FileSource {
            status: Arc::new(Mutex::new(ReceiverStatus::new(name.clone()))),
            name,
            label: "the file source",
            new_files_only: false,
            max_files_per_trigger: None,
            max_bytes_per_trigger: None,
            settle: SourceLimits::default().settle_time,
            max_file_age: duration_millis(SourceLimits::default().max_file_age),
            options: Arc::new(options),
            log: Mutex::new(FileLog::default()),
            dir,
            parallelism: AtomicUsize::new(1),
            min_split: MIN_SPLIT_BYTES,
            _records: PhantomData,
        }
    }

    /// Names it `name` (in plans, errors and its status, which also shows the directory).
    pub(crate) fn named(mut self, name: &'static str) -> Self {
        self.name = name.to_string();
        self.label = name;
        self.status = Arc::new(Mutex::new(ReceiverStatus::new(format!(
            "{name} {}",
            self.dir.display()
        ))));
        self
    }

    /// Ignores the files present at start (Spark's `textFileStream`).
    pub(crate) fn new_files_only(mut self) -> Self {
        self.new_files_only = true;
        self
    }

    /// Takes files once they were left unchanged for `limits`' settle time.
    pub(crate) fn limits(mut self, limits: &SourceLimits) -> Self {
        self.settle = limits.settle_time;
        self.max_file_age = duration_millis(limits.max_file_age);
        self
    }

    /// At most `n` files per batch by default (Spark's `maxFilesPerTrigger`).
    pub(crate) fn max_files_per_trigger(mut self, n: Option<u64>) -> Self {
        self.max_files_per_trigger = n;
        self
    }

    /// New files up to about `bytes` per batch, at least one (Spark's `maxBytesPerTrigger`).
    pub(crate) fn max_bytes_per_trigger(mut self, bytes: Option<u64>) -> Self {
        self.max_bytes_per_trigger = bytes;
        self
    }

    /// The files to consider, in the order the log takes them, and the manifest entries they
    /// come from (when the directory is a file sink's output).
    ///
    /// A plain directory: its regular, visible files (symlinks to files included), oldest
    /// first, then by name. Names starting with `.` or `_` are files still being written
    /// (Spark's convention), so they are skipped.
    /// A file sink's directory: the files of the committed manifest entries not read yet.
    fn list(&self) -> Result<Listing> {
        let cannot_list = |e| Error::io(format!("cannot list {}", self.dir.display()), e);
        if let Some(batches) = manifest_batches(&self.dir).map_err(cannot_list)? {
            let read: Vec<u64> = {
                let log = lock(&self.log);
                batches
                    .into_iter()
                    .filter(|id| !log.manifest_read.contains(id))
                    .collect()
            };
            let mut files = Vec::new();
            for &id in &read {
                if let Some(entry) = read_manifest(&self.dir, id)? {
                    files.extend(entry.files.into_iter().map(|name| (self.dir.join(name), None)));
                }
            }
            return Ok(Listing {
                files,
                manifest: Some(read),
            });
        }
        let mut files = Vec::new();
        let log = lock(&self.log);
        for entry in std::fs::read_dir(&self.dir).map_err(cannot_list)? {
            let entry = entry.map_err(cannot_list)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            // Only files not taken yet cost a `stat`: a listing of a directory with many old
            // files costs little more than reading its names.
            let path = entry.path();
            if log.seen.contains_key(&path) {
                continue;
            }
            // A symlink counts as the file it points to (a dangling one is looked at again
            // next time).
            let meta = match entry.file_type() {
                Ok(kind) if kind.is_symlink() => match std::fs::metadata(&path) {
                    Ok(meta) => meta,
                    Err(_) => continue,
                },
                _ => entry.metadata().map_err(cannot_list)?,
            };
            if meta.is_file() {
                let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                if millis(modified) < log.purged_before {
                    // Older than max_file_age before the newest file: ignored, as in Spark.
                    log::debug!(
                        "{}: {} is older than max_file_age; ignored",
                        self.name,
                        path.display()
                    );
                    continue;
                }
                files.push((modified, path, meta.len()));
            }
        }
        drop(log);
        files.sort();
        Ok(Listing {
            files: files
                .into_iter()
                .map(|(modified, path, len)| (path, Some((len, modified))))
                .collect(),
            manifest: None,
        })
    }

    /// The files of a listing that are no longer being written: those last modified at least
    /// `settle` ago, and younger ones whose size and modification time are the same when looked
    /// at again once they are that old (one wait, for the youngest). A file still changing is
    /// left for a later listing.
    fn settled(
        &self,
        files: Vec<(PathBuf, Option<(u64, SystemTime)>)>,
    ) -> Vec<(PathBuf, Option<u64>, Option<i64>)> {
        let now = SystemTime::now();
        let age = |modified: SystemTime| now.duration_since(modified).unwrap_or_default();
        let wait = files
            .iter()
            .filter_map(|(_, seen)| seen.map(|(_, modified)| self.settle.saturating_sub(age(modified))))
            .max()
            .unwrap_or_default();
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        files
            .into_iter()
            .filter(|(path, seen)| match seen {
                Some((len, modified)) if age(*modified) < self.settle => {
                    let again = std::fs::metadata(path).ok().map(|m| (m.len(), m.modified().ok()));
                    let unchanged = again == Some((*len, Some(*modified)));
                    if !unchanged {
                        log::debug!("{}: {} is still being written", self.name, path.display());
                    }
                    unchanged
                }
                _ => true,
            })
            .map(|(path, seen)| (path, seen.map(|(len, _)| len), seen.map(|(_, m)| millis(m))))
            .collect()
    }

    /// The names in the log in the checkpoint of files of the directory: their paths inside
    /// it. The error names the first that cannot be recorded (not UTF-8, not on Unix).
    fn log_names<'a>(&self, paths: impl IntoIterator<Item = &'a Path>) -> Result<Names> {
        let inside = paths
            .into_iter()
            .map(|path| path.strip_prefix(&self.dir).unwrap_or(path));
        Names::new(inside).map_err(|path| Error::Source {
            source_name: self.name.clone(),
            message: format!(
                "cannot record {} in the checkpoint: its name is not UTF-8 (only Unix keeps \
                 such names); rename it",
                path.display()
            ),
        })
    }

    /// Appends the files not seen before to the log — in the checkpoint first, if there is one.
    /// A file that cannot be opened is not taken (it is reported and looked at again next time),
    /// so it is never lost; neither is a listing that failed. A log that cannot be written to
    /// the checkpoint is an error: the offset would not name the same files after a restart.
    fn refresh(&self) -> Result<()> {
        let listing = match self.list() {
            Ok(listing) => listing,
            Err(Error::Io { context, source }) => {
                self.report_error(format!("{context}: {source}; will retry"));
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let candidates = if listing.manifest.is_none() {
            self.settled(listing.files)
        } else {
            listing
                .files
                .into_iter()
                .map(|(path, _)| (path, None, None))
                .collect()
        };
        let mut guard = lock(&self.log);
        let log = &mut *guard;
        let mut new = Vec::new();
        for (path, size, modified) in candidates {
            if log.seen.contains_key(&path) {
                continue;
            }
            // A committed file of a sink's output is whole: read (and failed on) when its batch runs.
            if listing.manifest.is_none() {
                if let Err(e) = std::fs::File::open(&path) {
                    self.report_error(format!("cannot read {}: {e}; will retry", path.display()));
                    continue;
                }
            }
            // A committed file of a sink's output: its time is looked up once.
            let modified = modified.or_else(|| modified_millis(&path)).unwrap_or(0);
            new.push((path, size, modified));
        }
        let end = log.end();
        if let (false, Some(store)) = (new.is_empty(), log.store.as_mut()) {
            let names = self.log_names(new.iter().map(|(path, ..)| path.as_path()))?;
            store.append(end, names, new.iter().map(|(.., modified)| *modified).collect())?;
        }
        for (path, size, modified) in new {
            log.see(path.clone(), modified);
            log.files.push(path);
            log.sizes.push(size);
        }
        log.purge(self.max_file_age);
        if let Some(ids) = listing.manifest {
            log.manifest_read.extend(ids);
        }
        Ok(())
    }

    fn report_error(&self, message: String) {
        log::warn!("{}: {message}", self.name);
        let mut status = lock(&self.status);
        status.errors += 1;
        status.last_error = Some(message);
    }
}

/// Adds what a worker decoded to the source's status.
fn note_decoded(status: &Mutex<ReceiverStatus>, decoded: super::format::Decoded) {
    let mut status = lock(status);
    status.records += decoded.records;
    status.undecodable += decoded.malformed;
}

/// Reads and decodes one file, on a worker. A file that is gone or unreadable by now, or a
/// malformed record under fail-fast, fails the batch.
fn read_file<T: DeserializeOwned>(
    path: &Path,
    source: &str,
    options: &TextOptions,
    status: &Mutex<ReceiverStatus>,
    emit: &mut dyn FnMut(T),
) {
    let file = open_for_batch(path, source);
    let origin = path.display().to_string();
    // Read line by line: memory is bounded by the longest line allowed, whatever the file.
    let input = std::io::BufReader::with_capacity(64 * 1024, file);
    let decoded = options
        .decode_lines(source, &origin, input, emit)
        .unwrap_or_else(|e| raise(e));
    note_decoded(status, decoded);
}

/// Spark's `openCostInBytes`: a file is not cut into pieces smaller than this.
const MIN_SPLIT_BYTES: u64 = 4 * 1024 * 1024;
/// Spark's `maxPartitionBytes`: nor are pieces larger than this.
const MAX_SPLIT_BYTES: u64 = 128 * 1024 * 1024;

/// A piece of a file, read by one task: the lines that start in `[start, end)` (`end`
/// `u64::MAX`: to the end of the file, whatever its size by then).
#[derive(Debug, PartialEq, Eq)]
struct Piece {
    path: PathBuf,
    start: u64,
    end: u64,
    /// The file's CSV header, for a piece after the first line of a CSV file with one.
    header: Option<csv::StringRecord>,
}

/// The size the files of a batch are cut at (Spark's `maxSplitBytes`): the batch's bytes
/// spread over the workers, but no less than `min_split` nor more than [`MAX_SPLIT_BYTES`].
fn split_size(total: u64, parallelism: usize, min_split: u64) -> u64 {
    total
        .div_ceil(parallelism.max(1) as u64)
        .clamp(min_split.max(1), MAX_SPLIT_BYTES.max(min_split))
}

/// `len` bytes cut into equal ranges of at most `split` bytes (the last one open-ended).
fn byte_ranges(len: u64, split: u64) -> Vec<(u64, u64)> {
    let n = len.div_ceil(split.max(1)).max(1);
    let each = len.div_ceil(n);
    (0..n)
        .map(|i| (i * each, if i + 1 == n { u64::MAX } else { (i + 1) * each }))
        .collect()
}

impl<T: Data + DeserializeOwned> FileSource<T> {
    /// The batch that reads `files`: one part per file, or, when a file is larger than the
    /// batch's split size (its bytes spread over the workers, as Spark sizes splits), one part
    /// per byte range of it — so one large file is read, split into lines and decoded by every
    /// worker, each where its records are consumed. A CSV file with a header whose first line
    /// is not a valid header is read whole (which line then serves as header is known only by
    /// reading it from the start).
    fn read_pieces(&self, files: &[PathBuf]) -> SourceBatch<T> {
        let sizes: Vec<Option<u64>> = files
            .iter()
            .map(|path| std::fs::metadata(path).ok().map(|m| m.len()))
            .collect();
        let total = sizes.iter().flatten().sum();
        let split = split_size(total, self.parallelism.load(Ordering::Relaxed), self.min_split);
        let csv_with_header = self.options.format == Format::Csv && self.options.header;
        let mut batch = SourceBatch::empty();
        for (path, size) in files.iter().zip(sizes) {
            let whole = Piece {
                path: path.clone(),
                start: 0,
                end: u64::MAX,
                header: None,
            };
            let mut pieces = vec![whole];
            if let Some(len) = size.filter(|&len| len > split) {
                let header = match csv_with_header {
                    true => self.first_line_header(path),
                    false => Some(None),
                };
                if let Some(header) = header {
                    pieces = byte_ranges(len, split)
                        .into_iter()
                        .map(|(start, end)| Piece {
                            path: path.clone(),
                            start,
                            end,
                            header: (start > 0).then(|| header.clone()).flatten(),
                        })
                        .collect();
                }
            }
            for piece in pieces {
                let (name, options, status) = (self.name.clone(), self.options.clone(), self.status.clone());
                batch.push_lazy(move |emit| read_piece(&piece, &name, &options, &status, emit));
            }
        }
        batch
    }

    /// The CSV header on the first line of `path` (`Some(None)` never: a file with a header
    /// has one), or `None` when the line is not one and the file must be read whole.
    fn first_line_header(&self, path: &Path) -> Option<Option<csv::StringRecord>> {
        let file = std::fs::File::open(path).ok()?;
        let mut reader = LineReader::new(std::io::BufReader::new(file), self.options.max_line_length);
        match reader.next_line() {
            Ok(Some(super::lines::Line::Text(raw))) => csv_header(raw).map(Some),
            _ => None,
        }
    }
}

/// A buffered reader that knows the offset in its file of the next byte it hands out.
struct Positioned<R> {
    inner: R,
    at: u64,
}

impl<R: std::io::Read> std::io::Read for Positioned<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.at += n as u64;
        Ok(n)
    }
}

impl<R: std::io::BufRead> std::io::BufRead for Positioned<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.inner.consume(amt);
        self.at += amt as u64;
    }
}

/// Opens a file of a batch on a worker: a file that is gone or unreadable by now fails the
/// batch.
fn open_for_batch(path: &Path, source: &str) -> std::fs::File {
    std::fs::File::open(path).unwrap_or_else(|e| {
        raise(Error::Source {
            source_name: source.to_string(),
            message: format!(
                "cannot read {}: {e}; a file must stay in place until its batch has run",
                path.display()
            ),
        })
    })
}

/// The number of lines of `path` before byte `offset` (for the line numbers of a piece's
/// malformed records; 0 if the file cannot be read again).
fn lines_before(path: &Path, offset: u64) -> u64 {
    use std::io::Read;
    let Ok(file) = std::fs::File::open(path) else {
        return 0;
    };
    let (mut input, mut buf, mut lines) = (file.take(offset), vec![0; 64 * 1024], 0);
    while let Ok(n @ 1..) = input.read(&mut buf) {
        lines += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
    lines
}

/// Reads and decodes one piece of a file, on a worker: the whole file as [`read_file`] does,
/// or the lines that start in its byte range — a piece that starts inside a line leaves that
/// line to the piece before, and the last line it reads may run past its end.
fn read_piece<T: DeserializeOwned>(
    piece: &Piece,
    source: &str,
    options: &TextOptions,
    status: &Mutex<ReceiverStatus>,
    emit: &mut dyn FnMut(T),
) {
    if piece.start == 0 && piece.end == u64::MAX {
        return read_file(&piece.path, source, options, status, emit);
    }
    use std::io::Seek;
    let fail = |e: std::io::Error| -> ! {
        raise(Error::Source {
            source_name: source.to_string(),
            message: format!("cannot read {}: {e}", piece.path.display()),
        })
    };
    let mut file = open_for_batch(&piece.path, source);
    // From the byte before the range: the line it ends (if any) is the previous piece's.
    let from = piece.start.saturating_sub(1);
    file.seek(std::io::SeekFrom::Start(from))
        .unwrap_or_else(|e| fail(e));
    let input = Positioned {
        inner: std::io::BufReader::with_capacity(64 * 1024, file),
        at: from,
    };
    let mut reader = LineReader::new(input, options.max_line_length);
    if piece.start > 0 {
        reader.next_line().unwrap_or_else(|e| fail(e));
    }
    let origin = piece.path.display().to_string();
    let first_line = reader.get_ref().at;
    let count_before = || lines_before(&piece.path, first_line);
    let mut decoder = LineDecoder::new(options, source, &origin);
    if piece.start > 0 {
        decoder = decoder.within_file(&count_before, piece.header.clone());
    }
    let end = piece.end;
    let decoded =
        decode_lines_with(decoder, reader, |input| input.at, end, emit).unwrap_or_else(|e| raise(e));
    note_decoded(status, decoded);
}

impl<T: Data + DeserializeOwned> Source for FileSource<T> {
    type Item = T;
    type Offset = u64;

    fn name(&self) -> String {
        self.name.clone()
    }

    /// Checks the directory; with a checkpoint, reads the log back (and, for a new-files-only
    /// source, the files present at the first start, recorded then).
    fn start(&self, ctx: &SourceContext) -> Result<()> {
        if let (Some(files), Some(bytes)) = (self.max_files_per_trigger, self.max_bytes_per_trigger) {
            return Err(Error::InvalidConfig(format!(
                "{} has both max_files_per_trigger ({files}) and max_bytes_per_trigger ({bytes}): \
                 set one of them, as in Spark",
                self.label
            )));
        }
        let not_usable = |reason: String| Error::Directory {
            path: self.dir.clone(),
            reason,
        };
        let meta = std::fs::metadata(&self.dir).map_err(|e| {
            not_usable(format!(
                "{} cannot read it: {e}; create it before start()",
                self.label
            ))
        })?;
        if !meta.is_dir() {
            return Err(not_usable(format!(
                "{} needs a directory, and this is a file",
                self.label
            )));
        }
        self.parallelism
            .store(ctx.parallelism().max(1), Ordering::Relaxed);
        let metadata = ctx.metadata_path();
        if let Some(metadata) = metadata {
            checkpoint_file::remove_stray_temps(metadata)?;
            let (store, names) = LogStore::open(metadata.join("log"))?;
            let mut log = FileLog {
                store: Some(store),
                ..FileLog::default()
            };
            for (name, modified) in names {
                let path = self.dir.join(name);
                // A log written before times were recorded: the file's time now (a file gone
                // cannot be taken again under its name until it comes back).
                if let Some(modified) = modified.or_else(|| modified_millis(&path)) {
                    log.see(path.clone(), modified);
                }
                log.files.push(path);
                log.sizes.push(None);
            }
            log.purge(self.max_file_age);
            *lock(&self.log) = log;
        }
        if self.new_files_only {
            let initial_path = metadata.map(|m| m.join("initial"));
            let recorded: Option<InitialFiles> = match &initial_path {
                Some(path) => checkpoint_file::read_json(path, INITIAL_KIND)?,
                None => None,
            };
            let initial: Vec<(PathBuf, Option<i64>)> = match recorded {
                // A restart: the files present at the first start stay excluded, and only those.
                Some(recorded) => recorded
                    .names
                    .paths()
                    .into_iter()
                    .map(|name| {
                        let path = self.dir.join(name);
                        let modified = modified_millis(&path);
                        (path, modified)
                    })
                    .collect(),
                None => {
                    let listing = self
                        .list()
                        .map_err(|e| not_usable(format!("{} cannot list it: {e}", self.label)))?;
                    if let Some(path) = &initial_path {
                        let names = self.log_names(listing.files.iter().map(|(p, _)| p.as_path()))?;
                        checkpoint_file::write_json(path, INITIAL_KIND, &InitialFiles { names })?;
                    }
                    lock(&self.log)
                        .manifest_read
                        .extend(listing.manifest.unwrap_or_default());
                    listing
                        .files
                        .into_iter()
                        .map(|(path, seen)| {
                            let modified = seen.map(|(_, m)| millis(m)).or_else(|| modified_millis(&path));
                            (path, modified)
                        })
                        .collect()
                }
            };
            let mut log = lock(&self.log);
            for (path, modified) in initial {
                // A file present at the first start and gone since: nothing to exclude.
                if let Some(modified) = modified {
                    log.see(path, modified);
                }
            }
            log.purge(self.max_file_age);
        }
        lock(&self.status).active = true;
        Ok(())
    }

    fn stop(&self) {
        lock(&self.status).active = false;
    }

    fn initial_offset(&self) -> u64 {
        0
    }

    fn default_read_limit(&self) -> ReadLimit {
        match (self.max_files_per_trigger, self.max_bytes_per_trigger) {
            (Some(files), _) => ReadLimit::Max(files),
            (None, Some(bytes)) => ReadLimit::MaxBytes(bytes),
            (None, None) => ReadLimit::AllAvailable,
        }
    }

    fn latest_offset(&self, start: &u64, limit: ReadLimit, _batch_time: Time) -> Result<u64> {
        self.refresh()?;
        let mut log = lock(&self.log);
        let found = log.end();
        let start = (*start).clamp(log.base, found);
        if !matches!(limit, ReadLimit::MaxBytes(_)) {
            return Ok(start + limit.cap(found - start));
        }
        // The sizes of files taken before a restart are looked up (a file gone by now counts
        // as empty: its batch will say it is missing).
        let at = (start - log.base) as usize;
        let FileLog { files, sizes, .. } = &mut *log;
        let pending = &mut sizes[at..];
        for (size, path) in pending.iter_mut().zip(&files[at..]) {
            if size.is_none() {
                *size = Some(std::fs::metadata(path).map_or(0, |m| m.len()));
            }
        }
        Ok(start + limit.cap_bytes(pending.iter().map(|size| size.unwrap_or(0))))
    }

    fn get_batch(&self, start: &u64, end: &u64) -> Result<SourceBatch<T>> {
        let files: Vec<PathBuf> = {
            let log = lock(&self.log);
            let end = (*end).min(log.end());
            let start = (*start).min(end);
            if start >= log.base {
                log.files[(start - log.base) as usize..(end - log.base) as usize].to_vec()
            } else {
                // Committed files, forgotten: read back from the log in the checkpoint (a
                // restart rebuilding a DStream window asks for them).
                let store = log.store.as_ref().ok_or_else(|| {
                    Error::illegal_state(format!(
                        "{}: files {start}..{} were committed and forgotten",
                        self.name, log.base
                    ))
                })?;
                let names = store.read()?;
                names
                    .get(start as usize..end as usize)
                    .ok_or_else(|| Error::CorruptCheckpoint {
                        path: store.dir.clone(),
                        message: format!("the log has {} files, not {end}", names.len()),
                    })?
                    .iter()
                    .map(|(name, _)| self.dir.join(name))
                    .collect()
            }
        };
        Ok(self.read_pieces(&files))
    }

    /// Forgets the files before `end`: their batches are committed. Their names stay in `seen`
    /// (until older than `max_file_age`), so none is taken again.
    fn commit(&self, end: &u64) {
        let mut log = lock(&self.log);
        let drop = end.saturating_sub(log.base).min(log.files.len() as u64) as usize;
        if drop > 0 {
            log.files.drain(..drop);
            log.sizes.drain(..drop);
            log.base += drop as u64;
        }
    }

    /// Files taken stay in the log until their batch commits (with a checkpoint, for ever on
    /// disk), so a range names the same files again (as long as they stay in place, as in
    /// Spark).
    fn is_replayable(&self) -> bool {
        true
    }

    fn status(&self) -> Option<ReceiverStatus> {
        Some(lock(&self.status).clone())
    }
}

impl StreamingContext {
    /// Lines of the files that appear in `dir` after the context starts (Spark's
    /// `textFileStream`), each batch taking the files found since the previous one, oldest
    /// first. Write files elsewhere and move them in, or give them a name starting with `.` or
    /// `_` while writing: such names are skipped. A missing directory is an error from
    /// `start()` that names it; a file that cannot be opened yet is retried; lines that are not
    /// UTF-8 are counted (in [`receiver_statuses`](Self::receiver_statuses)) and skipped.
    ///
    /// With a checkpoint, the files taken are recorded in it before their batch is planned: a
    /// restarted job re-reads exactly the files of the batch it re-runs, never takes a file
    /// twice, still ignores the files that were present at its very first start, and takes the
    /// files that arrived while it was down.
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
        self.source_stream(
            FileSource::new(
                dir,
                TextOptions::lines().max_line_length(self.source_limits().max_line_length),
            )
            .limits(self.source_limits())
            .named("text_file_stream")
            .new_files_only(),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use std::time::Duration;

    use super::*;
    use crate::source::format::{Format, MalformedPolicy};
    use crate::source::testing::{read_all, read_failure};

    const NOW: Time = Time::from_millis(0);

    fn write(dir: &Path, name: &str, bytes: &[u8], age_s: u64) {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(age_s))
            .unwrap();
    }

    fn started<T: Data + DeserializeOwned>(source: FileSource<T>) -> FileSource<T> {
        source.start(&SourceContext::detached(NOW, 2)).unwrap();
        source
    }

    fn json(policy: MalformedPolicy) -> TextOptions {
        TextOptions {
            policy,
            ..TextOptions::default()
        }
    }

    #[test]
    fn offsets_count_files_oldest_first_within_the_read_limit() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.json", b"1\n", 10);
        write(dir.path(), "b.json", b"2\n", 30);
        write(dir.path(), "c.json", b"3\n", 20);
        write(dir.path(), "_d.json", b"4\n", 40);
        let source = started(
            FileSource::<i64>::new(dir.path(), json(MalformedPolicy::FailFast))
                .max_files_per_trigger(Some(2)),
        );
        let limit = source.default_read_limit();
        assert_eq!(limit, ReadLimit::Max(2));
        assert_eq!(source.latest_offset(&0, limit, NOW).unwrap(), 2);
        assert_eq!(source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap(), 3);
        assert_eq!(read_all(source.get_batch(&0, &2).unwrap()), [2, 3]);
        assert_eq!(source.latest_offset(&2, limit, NOW).unwrap(), 3);
        assert_eq!(read_all(source.get_batch(&2, &3).unwrap()), [1]);
        assert_eq!(source.latest_offset(&3, limit, NOW).unwrap(), 3, "nothing new");
        assert!(read_all(source.get_batch(&3, &3).unwrap()).is_empty());
    }

    #[test]
    fn a_byte_limit_takes_the_oldest_files_within_it_and_at_least_one() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.json", b"1\n2\n", 40); // 4 bytes
        write(dir.path(), "b.json", b"3\n", 30); // 2 bytes
        write(dir.path(), "c.json", b"44444444\n", 20); // 9 bytes
        write(dir.path(), "d.json", b"5\n", 10); // 2 bytes
        let source = started(
            FileSource::<i64>::new(dir.path(), json(MalformedPolicy::FailFast))
                .max_bytes_per_trigger(Some(6)),
        );
        let limit = source.default_read_limit();
        assert_eq!(limit, ReadLimit::MaxBytes(6));
        assert_eq!(source.latest_offset(&0, limit, NOW).unwrap(), 2, "4 + 2 bytes");
        assert_eq!(
            source.latest_offset(&2, limit, NOW).unwrap(),
            3,
            "9 bytes: alone, still read"
        );
        assert_eq!(read_all(source.get_batch(&2, &3).unwrap()), [44444444]);
        assert_eq!(source.latest_offset(&3, limit, NOW).unwrap(), 4);
        assert_eq!(source.latest_offset(&4, limit, NOW).unwrap(), 4, "nothing new");
        assert_eq!(source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap(), 4);
    }

    #[test]
    fn a_byte_limit_counts_the_files_of_the_log_read_back_after_a_restart() -> TestResult {
        let (dir, metadata) = (tempfile::tempdir()?, tempfile::tempdir()?);
        write(dir.path(), "a.json", b"1\n2\n", 30);
        write(dir.path(), "b.json", b"3\n4\n", 20);
        let first = restarted(dir.path(), metadata.path(), false)?;
        assert_eq!(first.latest_offset(&0, ReadLimit::AllAvailable, NOW)?, 2);
        let source = restarted(dir.path(), metadata.path(), false)?.max_bytes_per_trigger(Some(4));
        assert_eq!(source.latest_offset(&0, source.default_read_limit(), NOW)?, 1);
        assert_eq!(source.latest_offset(&1, source.default_read_limit(), NOW)?, 2);
        Ok(())
    }

    #[test]
    fn a_file_limit_and_a_byte_limit_together_fail_start() {
        let dir = tempfile::tempdir().unwrap();
        let source = FileSource::<i64>::new(dir.path(), json(MalformedPolicy::FailFast))
            .max_files_per_trigger(Some(1))
            .max_bytes_per_trigger(Some(10));
        let err = source.start(&SourceContext::detached(NOW, 2)).unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{err}");
        assert!(err.to_string().contains("set one of them"), "{err}");
    }

    #[test]
    fn a_range_reads_the_same_files_again_after_commit_and_new_files() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.json", b"1\n2\n", 20);
        let source = started(FileSource::<i64>::new(
            dir.path(),
            json(MalformedPolicy::FailFast),
        ));
        assert_eq!(source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap(), 1);
        source.commit(&1);
        write(dir.path(), "b.json", b"3\n", 10);
        assert_eq!(source.latest_offset(&1, ReadLimit::AllAvailable, NOW).unwrap(), 2);
        assert!(source.is_replayable());
        for _ in 0..2 {
            assert_eq!(read_all(source.get_batch(&1, &2).unwrap()), [3]);
        }
        // Without a checkpoint, a committed range is forgotten: nothing can ask for it again.
        assert!(source.get_batch(&0, &1).is_err());
    }

    #[test]
    fn committed_files_are_forgotten_and_read_back_from_the_checkpoint() -> TestResult {
        let (dir, checkpoint) = (tempfile::tempdir()?, tempfile::tempdir()?);
        let source = restarted(dir.path(), checkpoint.path(), false)?;
        for i in 0..250_u64 {
            write(
                dir.path(),
                &format!("{i:03}.txt"),
                format!("{i}\n").as_bytes(),
                1_000 - i,
            );
            assert_eq!(source.latest_offset(&i, ReadLimit::AllAvailable, NOW)?, i + 1);
            source.commit(&(i + 1));
            // Only the files after the committed offset are held.
            assert!(lock(&source.log).files.is_empty());
        }
        // A range long committed (a DStream window rebuilt after a restart asks for one) is
        // read back from the log on disk, compactions included.
        assert_eq!(lines(&source, 10, 12)?, ["10", "11"]);
        drop(source);
        let source = restarted(dir.path(), checkpoint.path(), false)?;
        assert_eq!(lines(&source, 248, 250)?, ["248", "249"]);
        // None of the files is taken again.
        assert_eq!(source.latest_offset(&250, ReadLimit::AllAvailable, NOW)?, 250);
        Ok(())
    }

    #[test]
    fn files_older_than_max_file_age_before_the_newest_are_ignored_and_forgotten() -> TestResult {
        let (dir, checkpoint) = (tempfile::tempdir()?, tempfile::tempdir()?);
        let limits = SourceLimits::default().max_file_age("1 hour")?;
        let start = |dir: &Path| -> Result<FileSource<String>> {
            let source = FileSource::<String>::new(dir, TextOptions::lines()).limits(&limits);
            source.start(
                &SourceContext::detached(NOW, 2).with_metadata_path(checkpoint.path().to_path_buf()),
            )?;
            Ok(source)
        };
        // The first listing takes every file, however old (Spark's first batch).
        write(dir.path(), "ancient.txt", b"ancient\n", 30 * 24 * 3600);
        write(dir.path(), "new.txt", b"new\n", 0);
        let source = start(dir.path())?;
        assert_eq!(source.latest_offset(&0, ReadLimit::AllAvailable, NOW)?, 2);
        source.commit(&2);
        // The ancient file is forgotten: older than an hour before the newest.
        assert_eq!(lock(&source.log).seen.len(), 1);
        // A file older than that arriving now is ignored; a younger one is taken.
        write(dir.path(), "late.txt", b"late\n", 2 * 3600);
        write(dir.path(), "recent.txt", b"recent\n", 60);
        assert_eq!(source.latest_offset(&2, ReadLimit::AllAvailable, NOW)?, 3);
        assert_eq!(lines(&source, 2, 3)?, ["recent"]);
        source.commit(&3);
        drop(source);
        // After a restart, the same: the times are in the log.
        let source = start(dir.path())?;
        assert_eq!(lock(&source.log).seen.len(), 2);
        assert_eq!(source.latest_offset(&3, ReadLimit::AllAvailable, NOW)?, 3);
        Ok(())
    }

    #[test]
    fn a_log_without_modification_times_is_read_and_its_files_not_taken_again() -> TestResult {
        let (dir, checkpoint) = (tempfile::tempdir()?, tempfile::tempdir()?);
        write(dir.path(), "a.txt", b"a\n", 10);
        write(dir.path(), "b.txt", b"b\n", 0);
        // The log as it was written before times were recorded.
        let log = checkpoint.path().join("log");
        std::fs::create_dir_all(&log)?;
        let entry = LogEntry {
            first: 0,
            names: Names {
                files: vec!["a.txt".into(), "b.txt".into()],
                raw: Vec::new(),
            },
            modified: Vec::new(),
        };
        checkpoint_file::write_json(&log.join("0"), LOG_KIND, &entry)?;
        let source = restarted(dir.path(), checkpoint.path(), false)?;
        assert_eq!(lines(&source, 0, 2)?, ["a", "b"]);
        assert_eq!(source.latest_offset(&2, ReadLimit::AllAvailable, NOW)?, 2);
        Ok(())
    }

    #[test]
    fn new_files_only_ignores_the_files_present_at_start() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "old.txt", b"old\n", 10);
        let source = started(FileSource::<String>::new(dir.path(), TextOptions::lines()).new_files_only());
        assert_eq!(source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap(), 0);
        write(dir.path(), "new.txt", b"new\n", 0);
        assert_eq!(source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap(), 1);
        assert_eq!(read_all(source.get_batch(&0, &1).unwrap()), ["new"]);
    }

    #[test]
    fn lines_that_are_not_utf8_are_counted_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let source =
            started(FileSource::<String>::new(dir.path(), TextOptions::lines()).named("text_file_stream"));
        write(
            dir.path(),
            "mixed.txt",
            b"\xEF\xBB\xBFok 1\r\n\xff\xfe\n\nok 2",
            0,
        );
        let end = source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap();
        assert_eq!(
            read_all(source.get_batch(&0, &end).unwrap()),
            ["ok 1", "", "ok 2"]
        );
        let status = source.status().unwrap();
        assert_eq!((status.records, status.undecodable), (3, 1), "{status:?}");
        assert!(status.name.starts_with("text_file_stream "), "{status:?}");
    }

    #[test]
    fn malformed_json_under_each_policy() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "in.json", b"1\noops\n\n3\n\xff\n", 0);
        let (permissive, drop) = (
            json(MalformedPolicy::Permissive),
            json(MalformedPolicy::DropMalformed),
        );
        let (kept, dropped) = (permissive.corrupt.clone(), drop.corrupt.clone());
        for options in [permissive, drop] {
            let source = started(FileSource::<i64>::new(dir.path(), options));
            source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap();
            assert_eq!(read_all(source.get_batch(&0, &1).unwrap()), [1, 3]);
            assert_eq!(source.status().unwrap().undecodable, 2);
        }
        let lines: Vec<(u64, String)> = kept.records().into_iter().map(|r| (r.line, r.text)).collect();
        assert_eq!(lines, [(2, "oops".to_string()), (5, "\u{FFFD}".to_string())]);
        assert!(dropped.is_empty());

        let source = started(FileSource::<i64>::new(
            dir.path(),
            json(MalformedPolicy::FailFast),
        ));
        source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap();
        let err = read_failure(source.get_batch(&0, &1).unwrap());
        assert!(matches!(err, Error::Source { .. }), "{err}");
        assert!(err.to_string().contains("in.json at line 2"), "{err}");
    }

    #[test]
    fn csv_with_a_header_per_file() {
        #[derive(Clone, Debug, PartialEq, serde::Deserialize)]
        struct Row {
            user: String,
            n: u32,
        }
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.csv", b"n,user\n1,ann\nx,bob\n", 0);
        let options = TextOptions {
            format: Format::Csv,
            policy: MalformedPolicy::DropMalformed,
            ..TextOptions::default()
        };
        let source = started(FileSource::<Row>::new(dir.path(), options));
        source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap();
        let rows = read_all(source.get_batch(&0, &1).unwrap());
        assert_eq!(
            rows,
            [Row {
                user: "ann".into(),
                n: 1
            }]
        );
        assert_eq!(source.status().unwrap().undecodable, 1);
    }

    #[test]
    fn a_file_gone_before_its_batch_ran_fails_the_batch_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "gone.txt", b"x\n", 0);
        let source = started(FileSource::<String>::new(dir.path(), TextOptions::lines()));
        assert_eq!(source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap(), 1);
        std::fs::remove_file(dir.path().join("gone.txt")).unwrap();
        let err = read_failure(source.get_batch(&0, &1).unwrap());
        assert!(
            err.to_string().contains("cannot read") && err.to_string().contains("gone.txt"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_cannot_be_opened_is_retried_until_it_can() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("locked.txt");
        write(dir.path(), "locked.txt", b"secret\n", 0);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).unwrap();
        if std::fs::File::open(&path).is_ok() {
            return; // running as root: permissions do not lock anything out
        }
        let source = started(FileSource::<String>::new(dir.path(), TextOptions::lines()));
        assert_eq!(source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap(), 0);
        let status = source.status().unwrap();
        assert_eq!(status.errors, 1);
        assert!(status.last_error.unwrap().contains("will retry"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap(), 1);
        assert_eq!(read_all(source.get_batch(&0, &1).unwrap()), ["secret"]);
    }

    #[test]
    fn a_missing_directory_or_a_file_fails_start() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = SourceContext::detached(NOW, 1);
        let missing = FileSource::<String>::new(dir.path().join("nope"), TextOptions::lines());
        let err = missing.start(&ctx).unwrap_err().to_string();
        assert!(
            err.contains("nope") && err.contains("create it before start()"),
            "{err}"
        );
        write(dir.path(), "plain", b"", 0);
        let file = FileSource::<String>::new(dir.path().join("plain"), TextOptions::lines());
        assert!(
            file.start(&ctx)
                .unwrap_err()
                .to_string()
                .contains("needs a directory")
        );
    }

    // ------------------------------------------------------------ files read in byte ranges

    #[test]
    fn split_sizes_and_ranges_follow_spark() {
        let mib = 1024 * 1024;
        // The batch's bytes spread over the workers, within [min, 128 MiB].
        assert_eq!(split_size(52 * mib, 2, MIN_SPLIT_BYTES), 26 * mib);
        assert_eq!(split_size(mib, 2, MIN_SPLIT_BYTES), MIN_SPLIT_BYTES);
        assert_eq!(split_size(1024 * mib, 2, MIN_SPLIT_BYTES), MAX_SPLIT_BYTES);
        assert_eq!(byte_ranges(10, 4), [(0, 4), (4, 8), (8, u64::MAX)]);
        assert_eq!(byte_ranges(8, 4), [(0, 4), (4, u64::MAX)]);
        assert_eq!(byte_ranges(0, 4), [(0, u64::MAX)]);
    }

    /// A file source over `dir` whose files are cut into pieces of at most `split` bytes,
    /// started with `workers` workers.
    fn splitting<T: Data + DeserializeOwned>(
        dir: &Path,
        options: TextOptions,
        split: u64,
        workers: usize,
    ) -> FileSource<T> {
        let mut source = FileSource::<T>::new(dir, options);
        source.min_split = split;
        source.start(&SourceContext::detached(NOW, workers)).unwrap();
        source
    }

    #[test]
    fn a_file_cut_into_byte_ranges_gives_every_line_once_in_order() {
        // Lines of every length around the cut points, blank ones, `\r\n`, lines too long for
        // the limit, a last line without `\n`.
        let mut seed = 0x9e37_79b9_u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for round in 0..12 {
            let dir = tempfile::tempdir().unwrap();
            let mut text = String::new();
            for i in 0..(50 + next(200)) {
                let len = match next(10) {
                    0 => 0,
                    1 => 30 + next(10),
                    _ => next(8),
                };
                text.push_str(&"x".repeat(len as usize));
                text.push_str(&i.to_string());
                text.push_str(if next(5) == 0 { "\r\n" } else { "\n" });
            }
            if round % 2 == 1 {
                text.push_str("last");
            }
            write(dir.path(), "big.txt", text.as_bytes(), 0);
            let options = || TextOptions::lines().max_line_length(32);
            let whole = started(FileSource::<String>::new(dir.path(), options()));
            whole.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap();
            let expected = read_all(whole.get_batch(&0, &1).unwrap());
            let skipped = whole.status().unwrap().undecodable;
            for split in [1, 3, 7, 33, 100] {
                let source = splitting::<String>(dir.path(), options(), split, 10_000);
                source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap();
                let batch = source.get_batch(&0, &1).unwrap();
                let pieces = batch.num_parts();
                assert!(pieces > 1, "split {split}: {pieces} piece");
                assert_eq!(read_all(batch), expected, "round {round}, split {split}");
                let status = source.status().unwrap();
                assert_eq!(
                    (status.records, status.undecodable),
                    (expected.len() as u64, skipped),
                    "round {round}, split {split}"
                );
            }
        }
    }

    #[test]
    fn pieces_of_a_csv_file_share_its_header_and_report_line_numbers_in_the_file() {
        #[derive(Clone, Debug, PartialEq, serde::Deserialize)]
        struct Row {
            user: String,
            n: u32,
        }
        let dir = tempfile::tempdir().unwrap();
        let mut text = String::from("\u{FEFF}n,user\n");
        for i in 0..40 {
            text.push_str(&if i == 25 {
                "oops,x\n".to_string()
            } else {
                format!("{i},u{i}\n")
            });
        }
        write(dir.path(), "a.csv", text.as_bytes(), 0);
        let options = || TextOptions {
            format: Format::Csv,
            policy: MalformedPolicy::Permissive,
            ..TextOptions::default()
        };
        let whole_options = options();
        let whole = started(FileSource::<Row>::new(dir.path(), whole_options.clone()));
        whole.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap();
        let expected = read_all(whole.get_batch(&0, &1).unwrap());
        assert_eq!(expected.len(), 39);
        let split_options = options();
        let source = splitting::<Row>(dir.path(), split_options.clone(), 16, 10_000);
        source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap();
        let batch = source.get_batch(&0, &1).unwrap();
        assert!(batch.num_parts() > 10);
        assert_eq!(read_all(batch), expected);
        let lines = |o: &TextOptions| -> Vec<(u64, String)> {
            o.corrupt
                .records()
                .into_iter()
                .map(|r| (r.line, r.text))
                .collect()
        };
        assert_eq!(lines(&whole_options), [(27, "oops,x".to_string())]);
        assert_eq!(lines(&split_options), lines(&whole_options));

        // A first line that is no header: the file is read whole, as before.
        write(dir.path(), "a.csv", format!("\n{text}").as_bytes(), 0);
        let source = splitting::<Row>(dir.path(), options(), 16, 10_000);
        source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap();
        assert_eq!(source.get_batch(&0, &1).unwrap().num_parts(), 1);
    }

    #[test]
    fn small_files_and_batches_of_many_files_are_not_cut() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.txt", "b.txt"] {
            write(dir.path(), name, "line\n".repeat(100).as_bytes(), 0);
        }
        let source = started(FileSource::<String>::new(dir.path(), TextOptions::lines()));
        source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap();
        assert_eq!(source.get_batch(&0, &2).unwrap().num_parts(), 2);
        // 500 bytes each over 2 workers: a split size of 500 cuts neither.
        let source = splitting::<String>(dir.path(), TextOptions::lines(), 1, 2);
        source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap();
        assert_eq!(source.get_batch(&0, &2).unwrap().num_parts(), 2);
        // Over 4 workers, each file in two.
        let source = splitting::<String>(dir.path(), TextOptions::lines(), 1, 4);
        source.latest_offset(&0, ReadLimit::AllAvailable, NOW).unwrap();
        let batch = source.get_batch(&0, &2).unwrap();
        assert_eq!(batch.num_parts(), 4);
        assert_eq!(read_all(batch).len(), 200);
    }

    // ------------------------------------------------------------ the log in the checkpoint

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    /// A source of lines of `dir` started on the checkpoint directory `metadata`.
    fn restarted(dir: &Path, metadata: &Path, new_files_only: bool) -> Result<FileSource<String>> {
        let mut source = FileSource::<String>::new(dir, TextOptions::lines());
        if new_files_only {
            source = source.new_files_only();
        }
        source.start(&SourceContext::detached(NOW, 2).with_metadata_path(metadata.to_path_buf()))?;
        Ok(source)
    }

    fn lines(source: &FileSource<String>, start: u64, end: u64) -> Result<Vec<String>> {
        Ok(read_all(source.get_batch(&start, &end)?))
    }

    #[test]
    fn after_a_restart_offsets_name_the_same_files_and_none_is_taken_twice() -> TestResult {
        let (dir, checkpoint) = (tempfile::tempdir()?, tempfile::tempdir()?);
        write(dir.path(), "a.txt", b"a\n", 30);
        write(dir.path(), "b.txt", b"b\n", 20);
        let source = restarted(dir.path(), checkpoint.path(), false)?;
        assert_eq!(source.latest_offset(&0, ReadLimit::AllAvailable, NOW)?, 2);
        write(dir.path(), "c.txt", b"c\n", 10);
        assert_eq!(source.latest_offset(&2, ReadLimit::AllAvailable, NOW)?, 3);
        let before: Vec<Vec<String>> = vec![lines(&source, 0, 2)?, lines(&source, 2, 3)?];
        drop(source);

        // Touch an old file: a fresh listing would now order it last. The log does not.
        write(dir.path(), "a.txt", b"a\n", 0);
        write(dir.path(), "d.txt", b"d\n", 0);
        let source = restarted(dir.path(), checkpoint.path(), false)?;
        // The last planned batch (2, 3] re-runs exactly, and so does an older range.
        assert_eq!(vec![lines(&source, 0, 2)?, lines(&source, 2, 3)?], before);
        // From the committed offset, only the file that is new is taken.
        assert_eq!(source.latest_offset(&3, ReadLimit::AllAvailable, NOW)?, 4);
        assert_eq!(lines(&source, 3, 4)?, ["d"]);
        Ok(())
    }

    #[test]
    fn new_files_only_excludes_the_first_starts_files_on_every_restart() -> TestResult {
        let (dir, checkpoint) = (tempfile::tempdir()?, tempfile::tempdir()?);
        write(dir.path(), "present.txt", b"old\n", 30);
        let source = restarted(dir.path(), checkpoint.path(), true)?;
        write(dir.path(), "first.txt", b"first\n", 20);
        assert_eq!(source.latest_offset(&0, ReadLimit::AllAvailable, NOW)?, 1);
        drop(source);
        // While the job is down a file arrives: it is new, taken after the restart.
        write(dir.path(), "while-down.txt", b"down\n", 10);
        let source = restarted(dir.path(), checkpoint.path(), true)?;
        assert_eq!(source.latest_offset(&1, ReadLimit::AllAvailable, NOW)?, 2);
        assert_eq!(lines(&source, 0, 2)?, ["first", "down"]);
        drop(source);
        // And once more: the file present at the first start stays excluded.
        let source = restarted(dir.path(), checkpoint.path(), true)?;
        assert_eq!(source.latest_offset(&2, ReadLimit::AllAvailable, NOW)?, 2);
        Ok(())
    }

    #[test]
    fn the_log_is_compacted_and_an_interrupted_compaction_is_harmless() -> TestResult {
        let (dir, checkpoint) = (tempfile::tempdir()?, tempfile::tempdir()?);
        let source = restarted(dir.path(), checkpoint.path(), false)?;
        let n = COMPACT_AFTER as u64 + 5;
        for i in 0..n {
            write(dir.path(), &format!("{i:04}.txt"), format!("{i}\n").as_bytes(), 0);
            assert_eq!(source.latest_offset(&i, ReadLimit::AllAvailable, NOW)?, i + 1);
        }
        let log = checkpoint.path().join("log");
        let entries = std::fs::read_dir(&log)?.count();
        assert!(entries <= 6, "{entries} entries after compaction");
        let all = lines(&source, 0, n)?;
        drop(source);
        // An entry a compaction wrote into entry 0 but did not remove yet: covered, skipped.
        checkpoint_file::write_json(
            &log.join("3"),
            LOG_KIND,
            &LogEntry {
                first: 3,
                names: Names {
                    files: vec!["0003.txt".into()],
                    raw: Vec::new(),
                },
                modified: Vec::new(),
            },
        )?;
        let source = restarted(dir.path(), checkpoint.path(), false)?;
        assert_eq!(lines(&source, 0, n)?, all);
        assert_eq!(source.latest_offset(&n, ReadLimit::AllAvailable, NOW)?, n);
        Ok(())
    }

    #[test]
    fn a_damaged_or_missing_log_entry_fails_start_naming_it() -> TestResult {
        let (dir, checkpoint) = (tempfile::tempdir()?, tempfile::tempdir()?);
        let source = restarted(dir.path(), checkpoint.path(), false)?;
        for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
            write(dir.path(), name, b"x\n", 0);
            source.latest_offset(&(i as u64), ReadLimit::AllAvailable, NOW)?;
        }
        drop(source);
        let entry = checkpoint.path().join("log").join("1");
        let good = std::fs::read(&entry)?;
        let mut flipped = good.clone();
        let at = flipped.len() - 4;
        flipped[at] ^= 0x08;
        std::fs::write(&entry, flipped)?;
        let err = restarted(dir.path(), checkpoint.path(), false)
            .err()
            .ok_or("a flipped byte went unnoticed")?;
        assert!(
            matches!(&err, Error::CorruptCheckpoint { path, .. } if *path == entry),
            "{err}"
        );
        std::fs::remove_file(&entry)?;
        let err = restarted(dir.path(), checkpoint.path(), false)
            .err()
            .ok_or("a missing entry went unnoticed")?;
        assert!(err.to_string().contains("entry 1 is missing"), "{err}");
        Ok(())
    }

    #[test]
    fn a_file_sinks_directory_is_read_through_its_manifest() -> TestResult {
        use crate::batch::Batch;
        use crate::exec::{BatchId, Executor};
        use crate::sink::files::{FileFormat, FileSink};
        use crate::sink::{Sink, SinkContext};
        use crate::structured::OutputMode;

        let out = tempfile::tempdir()?;
        let sink = FileSink {
            dir: out.path().to_path_buf(),
            format: FileFormat::Json,
        };
        Sink::<i64>::start(&sink, &SinkContext::new("q", OutputMode::Append))?;
        let exec = Arc::new(Executor::new(1, "file-source-test")?);
        let add = |id: u64, rows: Vec<i64>| -> Result<BatchId> {
            let batch = BatchId {
                id,
                time: Time::from_millis(id as i64),
            };
            sink.add_batch(
                batch,
                Batch::from_partitions(vec![rows], batch.time, exec.clone()),
            )?;
            Ok(batch)
        };
        Sink::<i64>::commit(&sink, add(0, vec![1, 2])?)?;
        // Batch 1 written, never committed: its writer was killed.
        add(1, vec![3])?;
        let source = started(FileSource::<i64>::new(
            out.path(),
            json(MalformedPolicy::FailFast),
        ));
        assert_eq!(source.latest_offset(&0, ReadLimit::AllAvailable, NOW)?, 1);
        assert_eq!(read_all(source.get_batch(&0, &1)?), [1, 2]);
        // The writer's restart re-runs batch 1 and commits it: read once.
        Sink::<i64>::commit(&sink, add(1, vec![3])?)?;
        assert_eq!(source.latest_offset(&1, ReadLimit::AllAvailable, NOW)?, 2);
        assert_eq!(read_all(source.get_batch(&1, &2)?), [3]);
        assert_eq!(source.latest_offset(&2, ReadLimit::AllAvailable, NOW)?, 2);
        Ok(())
    }
}
