//! [`DataStreamWriter`]: where and how a query writes, and `start()`.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::console::ConsoleSink;
use super::dataset::Dataset;
use super::file_sink::{FileFormat, FileSink};
use super::foreach::{ForeachBatchSink, ForeachSink, ForeachWriter};
use super::memory_sink::{MemorySink, MemoryTable};
use super::output_mode::OutputMode;
use super::query::{QueryOptions, ResumeState, StreamingQuery};
use super::trigger::Trigger;
use super::watermark::MultipleWatermarkPolicy;
use crate::batch::Batch;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::sink::OutputResult;
use crate::time::{Duration, IntoDuration};

/// Where a query's rows go. `add_batch` is called once per batch id, in order.
pub(crate) trait Sink<T>: Send + Sync {
    fn description(&self) -> String;
    /// The output modes it accepts (`None`: all).
    fn modes(&self) -> Option<&'static [OutputMode]> {
        None
    }
    fn start(&self) -> Result<()> {
        Ok(())
    }
    fn add_batch(&self, batch_id: u64, rows: Batch<T>, mode: OutputMode) -> Result<()>;
}

/// Describes how a query writes a [`Dataset`] (Spark's `DataStreamWriter`): output mode,
/// trigger, name, sink; then [`start`](Self::start).
///
/// # Examples
///
/// ```
/// use streamflow::structured::{MemoryStream, OutputMode, Session, Trigger};
///
/// let session = Session::new(1)?;
/// let input = MemoryStream::<String>::new();
/// let query = session
///     .read_stream::<String>()
///     .memory(&input)
///     .write_stream()
///     .output_mode(OutputMode::Append)
///     .trigger(Trigger::processing_time("10 seconds"))
///     .query_name("lines")
///     .console()
///     .start()?;
/// assert_eq!(query.name(), Some("lines"));
/// query.stop()?;
/// # Ok::<(), streamflow::Error>(())
/// ```
#[must_use = "a writer does nothing until .start() is called"]
pub struct DataStreamWriter<T> {
    ds: Dataset<T>,
    mode: OutputMode,
    trigger: Trigger,
    name: Option<String>,
    sink: Option<Arc<dyn Sink<T>>>,
    policy: MultipleWatermarkPolicy,
    idle_timeout: Option<Duration>,
    resume: Option<ResumeState>,
    errors: Vec<String>,
}

impl<T: Data> DataStreamWriter<T> {
    pub(crate) fn new(ds: Dataset<T>) -> Self {
        DataStreamWriter {
            ds,
            mode: OutputMode::Append,
            trigger: Trigger::default(),
            name: None,
            sink: None,
            policy: MultipleWatermarkPolicy::Min,
            idle_timeout: None,
            resume: None,
            errors: Vec::new(),
        }
    }

    /// The output mode (default [`OutputMode::Append`]).
    pub fn output_mode(mut self, mode: OutputMode) -> Self {
        self.mode = mode;
        self
    }

    /// The trigger (default: the next batch as soon as there is data).
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }

    /// The query's name (also the memory table's name for a memory sink without one).
    pub fn query_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// How the watermark is chosen when there are several `with_watermark` inputs (default
    /// [`MultipleWatermarkPolicy::Min`]).
    pub fn multiple_watermark_policy(mut self, policy: MultipleWatermarkPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// An input without data for `timeout` (clock time) stops holding back the minimum
    /// watermark. Default: never.
    pub fn watermark_idle_timeout(mut self, timeout: impl IntoDuration) -> Self {
        match timeout.into_duration() {
            Ok(d) => self.idle_timeout = Some(d),
            Err(e) => self.errors.push(format!("watermark_idle_timeout: {e}")),
        }
        self
    }

    /// Resumes from the state of an earlier run of the same query
    /// ([`StreamingQuery::resume_state`]): the same id, the next batch id, the sources'
    /// committed offsets and the watermark.
    pub fn resume_from(mut self, state: ResumeState) -> Self {
        self.resume = Some(state);
        self
    }

    fn with_sink(mut self, sink: impl Sink<T> + 'static) -> Self {
        self.sink = Some(Arc::new(sink));
        self
    }

    /// Prints every batch to stdout the way Spark's console sink does (20 rows, truncated
    /// cells); see [`format_console_batch`](super::format_console_batch).
    pub fn console(self) -> Self
    where
        T: Serialize,
    {
        self.console_with(20, true, std::io::stdout())
    }

    /// The console sink showing at most `num_rows` rows per batch, cutting cells longer than 20
    /// characters when `truncate`, writing to `out` (stdout for [`console`](Self::console)).
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # use streamflow::structured::{MemoryStream, Session};
    /// #[derive(Clone, Default)]
    /// struct Shared(Arc<Mutex<Vec<u8>>>);
    /// impl std::io::Write for Shared {
    ///     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
    ///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
    /// }
    /// let session = Session::new(1)?;
    /// let input = MemoryStream::<String>::new();
    /// let out = Shared::default();
    /// let query = session.read_stream::<String>().memory(&input)
    ///     .write_stream().console_with(20, false, out.clone()).start()?;
    /// input.add_data(["hello".to_string()]);
    /// query.process_all_available()?;
    /// let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    /// assert!(text.contains("Batch: 0\n") && text.contains("|hello|\n"), "{text}");
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn console_with(self, num_rows: usize, truncate: bool, out: impl Write + Send + 'static) -> Self
    where
        T: Serialize,
    {
        self.with_sink(ConsoleSink {
            num_rows,
            truncate,
            out: Mutex::new(Box::new(out)),
            names: Mutex::new(Vec::new()),
        })
    }

    /// Keeps the rows in the in-memory table `name`, read with
    /// [`Session::memory_table`](super::Session::memory_table).
    pub fn memory(self, name: &str) -> Self {
        let table = MemoryTable::new();
        self.ds.session.register_table(name, table.clone());
        self.with_sink(MemorySink {
            name: name.to_string(),
            table,
        })
    }

    /// Gives each batch and its id (0, 1, 2 …) to `f` (Spark's `foreachBatch`): the place for
    /// idempotent writes keyed by batch id. Returning an `Err` stops the query with it.
    ///
    /// ```
    /// # use std::sync::{Arc, Mutex};
    /// # use streamflow::structured::{MemoryStream, Session};
    /// let session = Session::new(1)?;
    /// let input = MemoryStream::<i64>::new();
    /// let ids = Arc::new(Mutex::new(Vec::new()));
    /// let seen = ids.clone();
    /// let query = session.read_stream::<i64>().memory(&input).write_stream()
    ///     .foreach_batch(move |batch, id| seen.lock().unwrap().push((id, batch.count())))
    ///     .start()?;
    /// input.add_data([1, 2]);
    /// query.process_all_available()?;
    /// input.add_data([3]);
    /// query.process_all_available()?;
    /// assert_eq!(*ids.lock().unwrap(), [(0, 2), (1, 1)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn foreach_batch<R: OutputResult>(
        self,
        f: impl Fn(Batch<T>, u64) -> R + Send + Sync + 'static,
    ) -> Self {
        self.with_sink(ForeachBatchSink::new(f))
    }

    /// Writes every row with a [`ForeachWriter`], partition by partition.
    pub fn foreach<W: ForeachWriter<T>>(self, writer: W) -> Self {
        self.with_sink(ForeachSink { writer })
    }

    /// Writes JSON lines files into `dir`, one per batch (Append mode only).
    ///
    /// ```
    /// # use streamflow::structured::{MemoryStream, Session};
    /// let dir = tempfile::tempdir()?;
    /// let session = Session::new(1)?;
    /// let input = MemoryStream::<(String, i64)>::new();
    /// let query = session.read_stream::<(String, i64)>().memory(&input)
    ///     .write_stream().json(dir.path()).start()?;
    /// input.add_data([("a".to_string(), 1)]);
    /// query.process_all_available()?;
    /// assert_eq!(std::fs::read_to_string(dir.path().join("part-00000.json"))?, "[\"a\",1]\n");
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn json(self, dir: impl AsRef<Path>) -> Self
    where
        T: Serialize,
    {
        let dir = dir.as_ref().to_path_buf();
        self.with_sink(FileSink {
            dir,
            format: FileFormat::Json,
        })
    }

    /// Writes CSV files with a header line into `dir`, one per batch (Append mode only).
    pub fn csv(self, dir: impl AsRef<Path>) -> Self
    where
        T: Serialize,
    {
        let dir = dir.as_ref().to_path_buf();
        self.with_sink(FileSink {
            dir,
            format: FileFormat::Csv,
        })
    }

    /// Checks the query (output mode against its operators, durations, sink) and starts it on
    /// its own thread. Every problem is reported at once, before anything runs.
    pub fn start(self) -> Result<StreamingQuery> {
        let sink = self.sink.clone().ok_or_else(|| {
            Error::InvalidConfig(
                "no sink chosen: call .console(), .memory(name), .foreach_batch(..), .foreach(..), .json(dir) or .csv(dir) before start()"
                    .into(),
            )
        })?;
        let mut problems = self.ds.logical.errors.clone();
        problems.extend(self.errors.iter().cloned());
        if let Err(e) = self.trigger.check() {
            problems.push(e);
        }
        problems.extend(super::output_mode::check(
            &self.ds.logical,
            self.mode,
            &sink.description(),
            sink.modes(),
        ));
        if !problems.is_empty() {
            return Err(Error::InvalidGraph(problems));
        }
        sink.start()?;
        StreamingQuery::start(QueryOptions {
            ds: self.ds,
            sink,
            mode: self.mode,
            trigger: self.trigger,
            name: self.name,
            policy: self.policy,
            idle_timeout: self.idle_timeout,
            resume: self.resume,
        })
    }
}
