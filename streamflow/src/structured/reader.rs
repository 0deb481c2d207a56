//! [`DataStreamReader`]: the typed API that chooses where a query's records come from; the
//! sources themselves, and how text becomes records, live in `source/`.

use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::dataset::{Dataset, Logical};
use super::plan::Planner;
use super::session::Session;
use crate::data::Data;
use crate::source::format::{CorruptRecords, Format, MalformedPolicy, TextOptions};
use crate::source::generator::RateRow;
use crate::source::memory::MemoryStream;
use crate::source::{FileSource, GeneratorSource, Pace, Source, SourceLimits, due_time};

/// Chooses the source of a stream of `T` (Spark's `DataStreamReader`): made by
/// [`Session::read_stream`].
///
/// ```
/// use streamflow::structured::{Format, MalformedPolicy, Session};
///
/// #[derive(Clone, Debug, serde::Deserialize)]
/// struct Event { user: String, action: String }
///
/// let dir = tempfile::tempdir()?;
/// let session = Session::new(1)?;
/// let events = session
///     .read_stream::<Event>()
///     .format(Format::Csv)
///     .mode(MalformedPolicy::DropMalformed)
///     .max_files_per_trigger(10)
///     .files(dir.path());
/// # let _ = events;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DataStreamReader<T> {
    session: Session,
    options: TextOptions,
    max_files_per_trigger: Option<u64>,
    max_bytes_per_trigger: Option<u64>,
    limits: SourceLimits,
    _records: std::marker::PhantomData<fn() -> T>,
}

impl<T: Data> DataStreamReader<T> {
    pub(crate) fn new(session: Session) -> Self {
        DataStreamReader {
            session,
            options: TextOptions::for_records::<T>(),
            max_files_per_trigger: None,
            max_bytes_per_trigger: None,
            limits: SourceLimits::default(),
            _records: std::marker::PhantomData,
        }
    }

    /// The format of files and socket lines: by default [`Format::Text`] for `String` records
    /// (each line one record) and [`Format::Json`] for every other type.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("in.txt"), "plain text\n{\"not\": \"parsed\"}\n")?;
    /// // String records: plain text lines, no format to choose.
    /// let query = session.read_stream::<String>().files(dir.path()).write_stream().memory("text").start()?;
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<String>("text")?.rows(), ["plain text", "{\"not\": \"parsed\"}"]);
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("access.log"), "GET /\nPOST /login\n")?;
    /// let query = session.read_stream::<String>().format(Format::Text).files(dir.path())
    ///     .write_stream().memory("lines").start()?;
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<String>("lines")?.rows(), ["GET /", "POST /login"]);
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn format(mut self, format: Format) -> Self {
        self.options.format = format;
        self
    }

    /// What to do with malformed records (default [`MalformedPolicy::Permissive`]).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("in.json"), "1\noops\n")?;
    /// let query = session.read_stream::<i64>().mode(MalformedPolicy::FailFast).files(dir.path())
    ///     .write_stream().memory("strict").start()?;
    /// let err = query.process_all_available().unwrap_err();
    /// assert!(err.to_string().contains("in.json at line 2"), "{err}");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mode(mut self, policy: MalformedPolicy) -> Self {
        self.options.policy = policy;
        self
    }

    /// Whether CSV input starts with a header line naming the fields (default true). Files
    /// each start with one; on a socket, the first line is the header.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// #[derive(Clone, Debug, serde::Deserialize)]
    /// struct Score { user: String, points: u32 }
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("scores.csv"), "ann,3\nbob,5\n")?; // no header line
    /// let query = session.read_stream::<Score>().format(Format::Csv).header(false).files(dir.path())
    ///     .map(|s| s.points).write_stream().memory("points").start()?;
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<u32>("points")?.rows(), [3, 5]);
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn header(mut self, header: bool) -> Self {
        self.options.header = header;
        self
    }

    /// At most `n` new files per batch (Spark's `maxFilesPerTrigger`); at least one.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("a.json"), "1\n")?;
    /// std::fs::write(dir.path().join("b.json"), "2\n")?;
    /// let query = session.read_stream::<i64>().max_files_per_trigger(1).files(dir.path())
    ///     .write_stream().memory("limited").start()?;
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<i64>("limited")?.batches().len(), 2); // a file per batch
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_files_per_trigger(mut self, n: u64) -> Self {
        self.max_files_per_trigger = Some(n.max(1));
        self
    }

    /// New files up to about `bytes` per batch (Spark's `maxBytesPerTrigger`): a batch takes
    /// the oldest new files while their total size stays within the limit, and always at least
    /// one file, so a file larger than the limit is still read (alone). It cannot be combined
    /// with [`max_files_per_trigger`](Self::max_files_per_trigger): a query with both fails to
    /// start. `Trigger::once` ignores it, as Spark does.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let dir = tempfile::tempdir()?;
    /// # let aged = |name: &str, text: &str, age: u64| -> std::io::Result<()> {
    /// #     let path = dir.path().join(name);
    /// #     std::fs::write(&path, text)?;
    /// #     let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age);
    /// #     std::fs::File::options().write(true).open(&path)?.set_modified(when)
    /// # };
    /// // Three files of 4 bytes each, oldest first: a.json, b.json, c.json.
    /// aged("a.json", "1\n2\n", 30)?;
    /// aged("b.json", "3\n4\n", 20)?;
    /// aged("c.json", "5\n6\n", 10)?;
    /// let query = session.read_stream::<i64>().max_bytes_per_trigger(8).files(dir.path())
    ///     .write_stream().memory("by_bytes").start()?;
    /// query.process_all_available()?;
    /// let batches: Vec<Vec<i64>> = session.memory_table::<i64>("by_bytes")?.batches()
    ///     .into_iter().map(|(_batch_id, rows)| rows).collect();
    /// assert_eq!(batches, [vec![1, 2, 3, 4], vec![5, 6]]); // two files, then the last one
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "maxBytesPerTrigger")]
    pub fn max_bytes_per_trigger(mut self, bytes: u64) -> Self {
        self.max_bytes_per_trigger = Some(bytes.max(1));
        self
    }

    /// How much the source may take in and how fast (see [`SourceLimits`]): for a socket its
    /// maximum rate, backpressure and buffer bounds; for sockets and files the longest line.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// use streamflow::source::SourceLimits;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("in.txt"), "short\nfar too long a line\nok\n")?;
    /// let reader = session.read_stream::<String>().format(Format::Text)
    ///     .limits(SourceLimits::default().max_line_length(8));
    /// let corrupt = reader.corrupt_records();
    /// let query = reader.files(dir.path()).write_stream().memory("lines").start()?;
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<String>("lines")?.rows(), ["short", "ok"]);
    /// assert_eq!(corrupt.total(), 1); // skipped, counted, logged
    /// assert_eq!(query.last_progress().unwrap().sources[0].num_malformed_rows, 1);
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn limits(mut self, limits: SourceLimits) -> Self {
        self.options.max_line_length = limits.max_line_length;
        self.limits = limits;
        self
    }

    /// The side channel where [`MalformedPolicy::Permissive`] keeps malformed records.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("in.json"), "1\n{oops\n")?;
    /// let reader = session.read_stream::<i64>(); // Permissive by default
    /// let corrupt = reader.corrupt_records();
    /// let query = reader.files(dir.path()).write_stream().memory("kept").start()?;
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<i64>("kept")?.rows(), [1]); // the query went on
    /// assert_eq!(corrupt.records()[0].text, "{oops");
    /// assert_eq!(query.last_progress().unwrap().sources[0].num_malformed_rows, 1);
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn corrupt_records(&self) -> CorruptRecords {
        self.options.corrupt.clone()
    }

    /// A dataset whose every query reads a source of its own, made by `make` when the query
    /// starts, shown as `name` in plans.
    pub(crate) fn source_per_query<S: Source<Item = T>>(
        &self,
        name: &str,
        make: impl Fn() -> S + Send + Sync + 'static,
    ) -> Dataset<T> {
        let name = name.to_string();
        let logical = Logical {
            ops: vec![name.clone()],
            ..Default::default()
        };
        let make = Arc::new(make);
        let each = make.clone();
        let continuous = crate::exec::continuous::source(&name, move || Arc::new(each()));
        Dataset::new(self.session.clone(), logical, None, move |p: &mut Planner| {
            Ok(p.add_user_source(&name, Arc::new(make())))
        })
        .with_continuous(continuous)
    }

    /// Records from a user-defined [`Source`](crate::source::Source) whose items are `T` — the
    /// same source type a DStream reads with
    /// [`StreamingContext::source_stream`](crate::StreamingContext::source_stream). Every query
    /// started from the dataset reads the same source object, each with its own offsets.
    ///
    /// ```
    /// use streamflow::source::{ReadLimit, Source, SourceBatch};
    /// use streamflow::structured::Session;
    /// use streamflow::Time;
    ///
    /// /// The numbers 0..10, at most `limit` per batch.
    /// struct Numbers { limit: u64 }
    /// impl Source for Numbers {
    ///     type Item = u64;
    ///     type Offset = u64;
    ///     fn name(&self) -> String { "numbers".into() }
    ///     fn initial_offset(&self) -> u64 { 0 }
    ///     fn default_read_limit(&self) -> ReadLimit { ReadLimit::Max(self.limit) }
    ///     fn latest_offset(&self, start: &u64, limit: ReadLimit, _: Time) -> streamflow::Result<u64> {
    ///         Ok(start + limit.cap(10 - start))
    ///     }
    ///     fn get_batch(&self, start: &u64, end: &u64) -> streamflow::Result<SourceBatch<u64>> {
    ///         Ok(SourceBatch::from_vec((*start..*end).collect()))
    ///     }
    ///     fn is_replayable(&self) -> bool { true }
    /// }
    ///
    /// let session = Session::new(1)?;
    /// let query = session.read_stream::<u64>().source(Numbers { limit: 4 })
    ///     .write_stream().memory("numbers").start()?;
    /// query.process_all_available()?;
    /// let table = session.memory_table::<u64>("numbers")?;
    /// assert_eq!(table.batches().iter().map(|(_, rows)| rows.len()).collect::<Vec<_>>(), [4, 4, 2]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn source<S: crate::source::Source<Item = T>>(&self, source: S) -> Dataset<T> {
        let name = source.name();
        self.named_source(&name, source)
    }

    /// A dataset reading `source`, shown as `name` in plans.
    pub(crate) fn named_source<S: crate::source::Source<Item = T>>(
        &self,
        name: &str,
        source: S,
    ) -> Dataset<T> {
        let source = Arc::new(source);
        let name = name.to_string();
        let logical = Logical {
            ops: vec![name.clone()],
            ..Default::default()
        };
        let shared = source.clone();
        let continuous = crate::exec::continuous::source(&name, move || shared.clone());
        Dataset::new(self.session.clone(), logical, None, move |p: &mut Planner| {
            Ok(p.add_user_source(&name, source.clone()))
        })
        .with_continuous(continuous)
    }

    /// Records pushed with [`MemoryStream::add_data`] (Spark's `MemoryStream.toDS`).
    ///
    /// ```
    /// # use streamflow::structured::{MemoryStream, Session};
    /// let session = Session::new(1)?;
    /// let input = MemoryStream::<String>::new();
    /// let lines = session.read_stream::<String>().memory(&input);
    /// # let _ = lines;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    #[doc(alias = "MemoryStream")]
    pub fn memory(&self, stream: &MemoryStream<T>) -> Dataset<T> {
        self.named_source("memory_stream", stream.clone())
    }

    /// Records from the files in `dir`, in the order they appear (modification time, then
    /// name), files present at start included. Names starting with `.` or `_` are skipped:
    /// write elsewhere (or under such a name) and rename into place. A missing directory is an
    /// error from `start()`.
    ///
    /// ```
    /// # use streamflow::structured::{Format, Session};
    /// #[derive(Clone, Debug, serde::Deserialize)]
    /// struct Event { user: String }
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("1.json"), "{\"user\":\"ann\"}\n")?;
    /// let session = Session::new(1)?;
    /// let query = session.read_stream::<Event>().files(dir.path())
    ///     .map(|e| e.user).write_stream().memory("users").start()?;
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<String>("users")?.rows(), ["ann"]);
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias("textFileStream", "load"))]
    pub fn files(&self, dir: impl AsRef<Path>) -> Dataset<T>
    where
        T: DeserializeOwned,
    {
        let dir = dir.as_ref().to_path_buf();
        let options = self.options.clone();
        let (max_files, max_bytes) = (self.max_files_per_trigger, self.max_bytes_per_trigger);
        let limits = self.limits.clone();
        self.source_per_query("file_source", move || {
            FileSource::<T>::new(&dir, options.clone())
                .max_files_per_trigger(max_files)
                .max_bytes_per_trigger(max_bytes)
                .limits(&limits)
        })
    }

    /// Records from a TCP server at `host:port`, one per line in the reader's format (JSON lines
    /// by default; CSV with its header as the first line). Reconnects with back-off; not
    /// replayable. Lines that are not UTF-8 or do not parse count as malformed rows, and
    /// follow the reader's [`mode`](Self::mode).
    ///
    /// ```
    /// # use streamflow::structured::Session;
    /// use std::io::Write;
    ///
    /// #[derive(Clone, Debug, serde::Deserialize)]
    /// struct Word { word: String }
    ///
    /// let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// let port = server.local_addr()?.port();
    /// let session = Session::new(1)?;
    /// let query = session.read_stream::<Word>().socket("127.0.0.1", port)
    ///     .map(|w| w.word).write_stream().memory("words").start()?;
    /// server.accept()?.0.write_all(b"{\"word\":\"hi\"}\n")?;
    /// // The line is read on its own thread: wait for it batch by batch, without sleeping.
    /// let table = session.memory_table::<String>("words")?;
    /// for _ in 0..1_000 {
    ///     if !table.rows().is_empty() { break; }
    ///     query.process_all_available()?;
    /// }
    /// assert_eq!(table.rows(), ["hi"]);
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn socket(&self, host: &str, port: u16) -> Dataset<T>
    where
        T: DeserializeOwned,
    {
        let host = host.to_string();
        let (options, limits) = (self.options.clone(), self.limits.clone());
        self.source_per_query("socket_source", move || {
            let name = format!("TextSocketSource[{host}:{port}]");
            // With a checkpoint, the lines are written to the write-ahead log before a batch
            // can take them.
            crate::source::socket_source::<T>(name, host.clone(), port, options.clone(), limits.clone(), None)
        })
    }
}

impl DataStreamReader<RateRow> {
    /// `rows_per_second` rows per second of the session's clock (Spark's `rate` source):
    /// replayable and deterministic on a manual clock.
    ///
    /// ```
    /// use streamflow::structured::{RateRow, Session, Trigger};
    /// use streamflow::{Duration, ManualClock};
    ///
    /// let clock = ManualClock::new(0);
    /// let session = Session::builder().clock(clock.clone()).build()?;
    /// let query = session.read_stream::<RateRow>().rate(10).write_stream().memory("rate").start()?;
    /// clock.advance(Duration::seconds(1))?;
    /// query.process_all_available()?;
    /// let rows = session.memory_table::<RateRow>("rate")?.rows();
    /// assert_eq!(rows.len(), 10);
    /// assert_eq!(rows[9].timestamp.millis(), 900);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn rate(&self, rows_per_second: u64) -> Dataset<RateRow> {
        self.source_per_query("rate_source", move || {
            GeneratorSource::new(
                format!("RateSource[rowsPerSecond={rows_per_second}]"),
                "rate_source",
                Pace::PerSecond(rows_per_second),
                move |value, start| RateRow {
                    timestamp: due_time(start, value, rows_per_second),
                    value,
                },
            )
        })
    }
}
