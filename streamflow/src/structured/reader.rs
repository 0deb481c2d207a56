//! [`DataStreamReader`]: where a query's records come from, and how text becomes records.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;

use super::dataset::{Dataset, Logical};
use super::files::{CorruptRecord, FileSource};
use super::memory::MemoryStream;
use super::plan::{Planner, RecordSource};
use super::session::{Session, lock};
use super::socket::SocketSource;
use crate::data::Data;

/// How records are written in files and on sockets.
///
/// ```
/// use streamflow::structured::Format;
/// assert_eq!(Format::default(), Format::Json);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line (JSON lines), deserialized into the record type.
    #[default]
    Json,
    /// Comma-separated values; with a header line naming the record's fields by default
    /// (see [`DataStreamReader::header`]), otherwise fields in declaration order.
    Csv,
    /// Each line is one record, deserialized from a string: `String`, or a
    /// `#[serde(transparent)]` wrapper around one.
    Text,
}

/// What to do with a record that does not parse (Spark's `mode` option).
///
/// ```
/// use streamflow::structured::MalformedPolicy;
/// assert_eq!(MalformedPolicy::default(), MalformedPolicy::Permissive);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MalformedPolicy {
    /// Keep the raw record in the reader's [`CorruptRecords`] side channel and count it; the
    /// query goes on.
    #[default]
    Permissive,
    /// Drop it and count it; the query goes on.
    DropMalformed,
    /// Stop the query with an error naming the file (or socket) and the line.
    FailFast,
}

/// The malformed records a reader kept aside under [`MalformedPolicy::Permissive`] (Spark's
/// `_corrupt_record` column, as a side channel since records are typed). Clones share the
/// records.
///
/// ```
/// use streamflow::structured::{MemoryStream, Session};
/// let session = Session::new(1)?;
/// let reader = session.read_stream::<i64>();
/// let corrupt = reader.corrupt_records();
/// assert!(corrupt.is_empty());
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct CorruptRecords {
    records: Arc<Mutex<Vec<CorruptRecord>>>,
}

impl CorruptRecords {
    /// A copy of the records kept so far.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("in.json"), "1\noops\n3\n")?;
    /// let reader = session.read_stream::<i64>();
    /// let corrupt = reader.corrupt_records();
    /// let query = reader.files(dir.path()).write_stream().memory("numbers").start()?;
    /// query.process_all_available()?;
    /// let bad = corrupt.records();
    /// assert_eq!((bad.len(), bad[0].line, bad[0].text.as_str()), (1, 2, "oops"));
    /// assert!(bad[0].origin.ends_with("in.json"));
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn records(&self) -> Vec<CorruptRecord> {
        lock(&self.records).clone()
    }

    /// Removes and returns the records kept so far.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// # let dir = tempfile::tempdir()?;
    /// # std::fs::write(dir.path().join("in.json"), "1\noops\n")?;
    /// let reader = session.read_stream::<i64>();
    /// let corrupt = reader.corrupt_records();
    /// let query = reader.files(dir.path()).write_stream().memory("numbers").start()?;
    /// query.process_all_available()?;
    /// assert_eq!(corrupt.take().len(), 1);
    /// assert!(corrupt.take().is_empty()); // taken once
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn take(&self) -> Vec<CorruptRecord> {
        std::mem::take(&mut *lock(&self.records))
    }

    /// The number of records kept.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// # let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("in.json"), "1\ntwo\n3\n{four\n")?;
    /// let reader = session.read_stream::<i64>();
    /// let corrupt = reader.corrupt_records();
    /// let query = reader.files(dir.path()).write_stream().memory("numbers").start()?;
    /// query.process_all_available()?;
    /// assert_eq!(corrupt.len(), 2);
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        lock(&self.records).len()
    }

    /// Whether none was kept.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// # let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("in.json"), "1\n2\n")?;
    /// let reader = session.read_stream::<i64>();
    /// let corrupt = reader.corrupt_records();
    /// let query = reader.files(dir.path()).write_stream().memory("numbers").start()?;
    /// query.process_all_available()?;
    /// assert!(corrupt.is_empty()); // every line parsed
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn push(&self, record: CorruptRecord) {
        lock(&self.records).push(record);
    }
}

/// Options shared by the text sources (files, socket).
#[derive(Clone)]
pub(crate) struct TextOptions {
    pub(crate) format: Format,
    pub(crate) policy: MalformedPolicy,
    pub(crate) header: bool,
    pub(crate) corrupt: CorruptRecords,
}

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
    _records: std::marker::PhantomData<fn() -> T>,
}

impl<T: Data> DataStreamReader<T> {
    pub(crate) fn new(session: Session) -> Self {
        DataStreamReader {
            session,
            options: TextOptions {
                format: Format::Json,
                policy: MalformedPolicy::Permissive,
                header: true,
                corrupt: CorruptRecords::default(),
            },
            max_files_per_trigger: None,
            _records: std::marker::PhantomData,
        }
    }

    /// The format of files and socket lines (default [`Format::Json`]).
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

    pub(crate) fn session_clock(&self) -> Arc<dyn crate::time::Clock> {
        self.session.clock()
    }

    pub(crate) fn source_dataset(
        &self,
        name: &str,
        make: impl Fn() -> Arc<dyn RecordSource<T>> + Send + Sync + 'static,
    ) -> Dataset<T> {
        let name = name.to_string();
        let logical = Logical {
            ops: vec![name.clone()],
            ..Default::default()
        };
        Dataset::new(self.session.clone(), logical, None, move |p: &mut Planner| {
            Ok(p.add_source(&name, make()))
        })
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
        Dataset::new(self.session.clone(), logical, None, move |p: &mut Planner| {
            Ok(p.add_user_source(&name, source.clone()))
        })
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
    pub fn files(&self, dir: impl AsRef<Path>) -> Dataset<T>
    where
        T: DeserializeOwned,
    {
        let dir = dir.as_ref().to_path_buf();
        let options = self.options.clone();
        let max_files = self.max_files_per_trigger;
        self.source_dataset("file_source", move || {
            Arc::new(FileSource::<T>::new(dir.clone(), options.clone(), max_files))
        })
    }

    /// Records from a TCP server at `host:port`, one per line in the reader's format (JSON lines
    /// by default; CSV with its header as the first line). Reconnects with back-off; not
    /// replayable.
    ///
    /// ```no_run
    /// # use streamflow::structured::Session;
    /// #[derive(Clone, Debug, serde::Deserialize)]
    /// struct Word { word: String, ts: i64 }
    /// let session = Session::new(2)?;
    /// let words = session.read_stream::<Word>().socket("localhost", 9999);
    /// # let _ = words;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn socket(&self, host: &str, port: u16) -> Dataset<T>
    where
        T: DeserializeOwned,
    {
        let host = host.to_string();
        let options = self.options.clone();
        let clock = self.session.clock();
        self.source_dataset("socket_source", move || {
            Arc::new(SocketSource::<T>::new(
                host.clone(),
                port,
                options.clone(),
                clock.clone(),
            ))
        })
    }
}

/// Parses one line of `format` into a record (CSV: with `headers` naming the fields, if any).
pub(crate) fn parse_line<T: DeserializeOwned>(
    format: Format,
    headers: Option<&csv::StringRecord>,
    line: &str,
) -> Result<T, String> {
    match format {
        Format::Json => serde_json::from_str(line).map_err(|e| e.to_string()),
        Format::Text => T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(
            line,
        ))
        .map_err(|e| e.to_string()),
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(line.as_bytes());
            let mut record = csv::StringRecord::new();
            match reader.read_record(&mut record) {
                Ok(true) => parse_csv_record(headers, &record),
                Ok(false) => Err("empty line".into()),
                Err(e) => Err(e.to_string()),
            }
        }
    }
}

pub(crate) fn parse_csv_record<T: DeserializeOwned>(
    headers: Option<&csv::StringRecord>,
    record: &csv::StringRecord,
) -> Result<T, String> {
    if let Some(h) = headers {
        if h.len() != record.len() {
            return Err(format!("expected {} fields, found {}", h.len(), record.len()));
        }
    }
    record.deserialize(headers).map_err(|e| match e.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
        _ => e.to_string(),
    })
}
