//! The file source: records from the files of a directory, as plain lines, JSON lines or CSV —
//! under DStream `text_file_stream` and the Structured reader's `files`.
//!
//! Its offset counts files: offset `n` means "the first `n` files of the log", the log being
//! the files in the order they were found (each listing appends the new ones, oldest
//! modification time first, then by name). A range `(start, end]` therefore names the same
//! files every time it is read: the source is replayable, and the checkpoint only has to keep
//! the log. Each file of a batch becomes one partition, read and decoded on a worker.

use std::collections::HashSet;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use serde::de::DeserializeOwned;

use super::format::TextOptions;
use super::{ReadLimit, Source, SourceBatch, SourceContext};
use crate::StreamingContext;
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::exec::{lock, raise};
use crate::metrics::ReceiverStatus;
use crate::time::Time;

/// The files found so far, in the order offsets count them.
#[derive(Default)]
struct FileLog {
    files: Vec<PathBuf>,
    /// Every file taken into the log, and (for new-files-only sources) those present at start.
    seen: HashSet<PathBuf>,
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
    options: Arc<TextOptions>,
    log: Mutex<FileLog>,
    /// Updated by the workers that read the files.
    status: Arc<Mutex<ReceiverStatus>>,
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
            options: Arc::new(options),
            log: Mutex::new(FileLog::default()),
            dir,
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

    /// At most `n` files per batch by default (Spark's `maxFilesPerTrigger`).
    pub(crate) fn max_files_per_trigger(mut self, n: Option<u64>) -> Self {
        self.max_files_per_trigger = n;
        self
    }

    /// Regular, visible files in the directory, oldest first, then by name. Names starting with
    /// `.` or `_` are files still being written (Spark's convention), so they are skipped.
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

    /// Appends the files not seen before to the log. A file that cannot be opened is not taken
    /// (it is reported and looked at again next time), so it is never lost.
    fn refresh(&self) {
        let found = match self.list() {
            Ok(found) => found,
            Err(e) => {
                self.report_error(format!("cannot list {}: {e}; will retry", self.dir.display()));
                return;
            }
        };
        let mut log = lock(&self.log);
        for (_, path) in found {
            if log.seen.contains(&path) {
                continue;
            }
            match std::fs::File::open(&path) {
                Ok(_) => {
                    log.seen.insert(path.clone());
                    log.files.push(path);
                }
                Err(e) => self.report_error(format!("cannot read {}: {e}; will retry", path.display())),
            }
        }
    }

    fn report_error(&self, message: String) {
        log::warn!("{}: {message}", self.name);
        let mut status = lock(&self.status);
        status.errors += 1;
        status.last_error = Some(message);
    }
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
    let content = std::fs::read(path).unwrap_or_else(|e| {
        raise(Error::Source {
            source_name: source.to_string(),
            message: format!(
                "cannot read {}: {e}; a file must stay in place until its batch has run",
                path.display()
            ),
        })
    });
    let origin = path.display().to_string();
    let decoded = options
        .decode_file(source, &origin, &content, emit)
        .unwrap_or_else(|e| raise(e));
    if decoded.malformed > 0 {
        log::warn!("{source}: {} malformed records in {origin}", decoded.malformed);
    }
    let mut status = lock(status);
    status.records += decoded.records;
    status.undecodable += decoded.malformed;
}

impl<T: Data + DeserializeOwned> Source for FileSource<T> {
    type Item = T;
    type Offset = u64;

    fn name(&self) -> String {
        self.name.clone()
    }

    fn start(&self, _ctx: &SourceContext) -> Result<()> {
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
        if self.new_files_only {
            let existing = self
                .list()
                .map_err(|e| not_usable(format!("{} cannot list it: {e}", self.label)))?;
            lock(&self.log).seen.extend(existing.into_iter().map(|(_, p)| p));
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
        self.max_files_per_trigger
            .map_or(ReadLimit::AllAvailable, ReadLimit::Max)
    }

    fn latest_offset(&self, start: &u64, limit: ReadLimit, _batch_time: Time) -> Result<u64> {
        self.refresh();
        let found = lock(&self.log).files.len() as u64;
        Ok(start + limit.cap(found.saturating_sub(*start)))
    }

    fn get_batch(&self, start: &u64, end: &u64) -> Result<SourceBatch<T>> {
        let files: Vec<PathBuf> = {
            let log = lock(&self.log);
            let end = (*end as usize).min(log.files.len());
            log.files[(*start as usize).min(end)..end].to_vec()
        };
        let mut batch = SourceBatch::empty();
        for path in files {
            let (name, options, status) = (self.name.clone(), self.options.clone(), self.status.clone());
            batch.push_lazy(move |emit| read_file(&path, &name, &options, &status, emit));
        }
        Ok(batch)
    }

    /// Files taken stay in the log, so a range names the same files again (as long as they
    /// stay in place, as in Spark).
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
            FileSource::new(dir, TextOptions::lines())
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
            assert_eq!(read_all(source.get_batch(&0, &1).unwrap()), [1, 2]);
            assert_eq!(read_all(source.get_batch(&1, &2).unwrap()), [3]);
        }
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
}
