//! [`DataStreamWriter`]: where and how a query writes, and `start()`.

use std::io::Write;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::dataset::Dataset;
use super::output_mode::OutputMode;
use super::query::{QueryOptions, StreamingQuery};
use super::shape::{AllowsAppend, AllowsComplete, AllowsUpdate, Shape, Unchecked};
use super::trigger::Trigger;
use crate::batch::Batch;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::event_time::watermark::MultipleWatermarkPolicy;
use crate::sink::console::ConsoleSink;
use crate::sink::files::{FileFormat, FileSink};
use crate::sink::foreach_writer::{ForeachBatchSink, ForeachSink, ForeachWriter};
use crate::sink::memory::{MemorySink, MemoryTable};
use crate::sink::{OutputResult, Sink};
use crate::time::{Duration, IntoDuration};

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
///
/// Its second type parameter is the [shape](super::shape) of the dataset written, which the
/// typed output modes [`append`](Self::append), [`update`](Self::update) and
/// [`complete`](Self::complete) are checked against at compile time; a sink ends it
/// ([`Unchecked`]), so `DataStreamWriter<T>` is the type of a writer with its sink.
pub struct DataStreamWriter<T, S = Unchecked> {
    /// The dataset written (its shape is the writer's `S`).
    ds: Dataset<T>,
    shape: PhantomData<fn() -> S>,
    mode: OutputMode,
    trigger: Trigger,
    name: Option<String>,
    sink: Option<Arc<dyn Sink<T>>>,
    /// The output modes the chosen sink accepts (`None`: all).
    sink_modes: Option<&'static [OutputMode]>,
    /// How messages name the chosen sink: the writer method that chose it (`json`), if not its
    /// own name.
    sink_label: Option<String>,
    policy: MultipleWatermarkPolicy,
    idle_timeout: Option<Duration>,
    no_data_batches: bool,
    checkpoint: Option<std::path::PathBuf>,
    discard_torn_last: bool,
    errors: Vec<String>,
    /// Under `Trigger::continuous`, `foreach`'s writer gets each row as it comes.
    row_writers: Option<crate::exec::continuous::RowWriters<T>>,
}

impl<T: Data, S> DataStreamWriter<T, S> {
    pub(crate) fn new<D: Shape>(ds: Dataset<T, D>) -> Self {
        DataStreamWriter {
            ds: ds.reshape(),
            shape: PhantomData,
            mode: OutputMode::Append,
            trigger: Trigger::default(),
            name: None,
            sink: None,
            sink_modes: None,
            sink_label: None,
            policy: MultipleWatermarkPolicy::Min,
            idle_timeout: None,
            no_data_batches: true,
            checkpoint: None,
            discard_torn_last: false,
            errors: Vec::new(),
            row_writers: None,
        }
    }

    /// The output mode (default [`OutputMode::Append`]).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let words = MemoryStream::<&'static str>::new();
    /// let query = session.read_stream::<&'static str>().memory(&words)
    ///     .group_by(|w| w.to_string()).count()
    ///     .write_stream().output_mode(OutputMode::Update).memory("updates").start()?;
    /// words.add_data(["cat", "dog"]);
    /// query.process_all_available()?;
    /// words.add_data(["cat"]);
    /// query.process_all_available()?;
    /// // Update mode: a batch emits only the groups it changed.
    /// let (id, rows) = session.memory_table::<AggRow<String, u64>>("updates")?.last_batch().unwrap();
    /// assert_eq!((id, rows.len(), rows[0].key.as_str(), rows[0].value), (1, 1, "cat", 2));
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn output_mode(mut self, mode: OutputMode) -> Self {
        self.mode = mode;
        self
    }

    /// Append output mode, checked against the query's [shape](super::shape) at compile time:
    /// only new rows, each once — for a query without aggregation, or whose aggregation is by
    /// an event-time window (or the event time) with a watermark. Spark's
    /// `outputMode("append")`; chosen before the sink.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # use streamflow::Time;
    /// # let session = Session::new(1)?;
    /// #[derive(Clone, serde::Serialize)]
    /// struct Click { page: String, ts: Time }
    /// let clicks = session.read_stream::<Click>().memory(&MemoryStream::new());
    /// let per_page = clicks
    ///     .with_watermark(|c| c.ts, "10 minutes")
    ///     .group_by_window(|c| c.page.clone(), window("5 minutes", "5 minutes"))
    ///     .count(); // a `Dataset<_, shape::WindowAggregated>`: Append is allowed
    /// let query = per_page.write_stream().append().memory("pages").start()?;
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn append(self) -> Self
    where
        S: AllowsAppend,
    {
        self.output_mode(OutputMode::Append)
    }

    /// Update output mode, checked against the query's [shape](super::shape) at compile time:
    /// the rows that changed in each batch. Spark's `outputMode("update")`; chosen before the
    /// sink.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::new(1)?;
    /// let words = session.read_stream::<String>().memory(&MemoryStream::new());
    /// let query = words.group_by(|w| w.clone()).count().write_stream().update().console().start()?;
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn update(self) -> Self
    where
        S: AllowsUpdate,
    {
        self.output_mode(OutputMode::Update)
    }

    /// Complete output mode, checked against the query's [shape](super::shape) at compile
    /// time: the whole result table of an aggregation in each batch. Spark's
    /// `outputMode("complete")`; chosen before the sink.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::new(1)?;
    /// let words = session.read_stream::<String>().memory(&MemoryStream::new());
    /// let query = words.group_by(|w| w.clone()).count().write_stream().complete().console().start()?;
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn complete(self) -> Self
    where
        S: AllowsComplete,
    {
        self.output_mode(OutputMode::Complete)
    }

    /// The trigger (default: the next batch as soon as there is data).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # use streamflow::{Duration, ManualClock};
    /// let clock = ManualClock::new(0);
    /// let session = Session::builder().clock(clock.clone()).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input).write_stream()
    ///     .trigger(Trigger::processing_time("1 minute")).memory("minutely").start()?;
    /// query.process_all_available()?;
    /// input.add_data([1]);
    /// let table = session.memory_table::<i64>("minutely")?;
    /// assert!(table.rows().is_empty()); // the next batch waits for minute 1
    /// clock.advance(Duration::minutes(1))?;
    /// query.process_all_available()?;
    /// assert_eq!(table.rows(), [1]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }

    /// The query's name, shown in `explain()`, progress reports and listener events.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input).write_stream()
    ///     .query_name("clicks").memory("clicks").start()?;
    /// assert_eq!(query.name(), Some("clicks"));
    /// assert!(query.explain().contains("query clicks"));
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn query_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// How the watermark is chosen when there are several `with_watermark` inputs (default
    /// [`MultipleWatermarkPolicy::Min`]).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # use streamflow::Time;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let (fast, slow) = (MemoryStream::<i64>::new(), MemoryStream::<i64>::new());
    /// let a = session.read_stream::<i64>().memory(&fast).with_watermark(|ms| *ms, "10 seconds");
    /// let b = session.read_stream::<i64>().memory(&slow).with_watermark(|ms| *ms, "10 seconds");
    /// let query = a.union(&b).write_stream()
    ///     .multiple_watermark_policy(MultipleWatermarkPolicy::Max)
    ///     .memory("events").start()?;
    /// fast.add_data([60_000]);
    /// query.process_all_available()?;
    /// // The fastest input decides, though `slow` has seen nothing (under Min it would hold at 0).
    /// assert_eq!(query.resume_state().watermark.watermark, Time::from_millis(50_000));
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn multiple_watermark_policy(mut self, policy: MultipleWatermarkPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// An input without data for `timeout` (clock time) stops holding back the minimum
    /// watermark. Default: never.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # use streamflow::{Duration, ManualClock, Time};
    /// let clock = ManualClock::new(0);
    /// let session = Session::builder().clock(clock.clone()).build()?;
    /// let (busy, quiet) = (MemoryStream::<i64>::new(), MemoryStream::<i64>::new());
    /// let a = session.read_stream::<i64>().memory(&busy).with_watermark(|ms| *ms, "10 seconds");
    /// let b = session.read_stream::<i64>().memory(&quiet).with_watermark(|ms| *ms, "10 seconds");
    /// let query = a.union(&b).write_stream().watermark_idle_timeout("1 minute").memory("events").start()?;
    /// busy.add_data([60_000]);
    /// query.process_all_available()?;
    /// assert_eq!(query.resume_state().watermark.watermark, Time::from_millis(0)); // `quiet` holds it
    /// clock.advance(Duration::minutes(2))?; // `quiet` has been idle for longer than the timeout
    /// busy.add_data([120_000]);
    /// query.process_all_available()?;
    /// assert_eq!(query.resume_state().watermark.watermark, Time::from_millis(110_000));
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn watermark_idle_timeout(mut self, timeout: impl IntoDuration) -> Self {
        match timeout.into_duration() {
            Ok(d) => self.idle_timeout = Some(d),
            Err(e) => self.errors.push(format!("watermark_idle_timeout: {e}")),
        }
        self
    }

    /// Whether a batch runs without new data when the watermark moved, so that windows close
    /// and state is evicted without waiting for more input (Spark's
    /// `spark.sql.streaming.noDataMicroBatches.enabled`; on by default). Off, an Append query
    /// emits a closed window only with the next batch that has data.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # use streamflow::Time;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input)
    ///     .with_watermark(|ms| *ms, "0 s")
    ///     .group_by_window(|_| 0, window("10 s", "10 s")).count()
    ///     .write_stream().no_data_micro_batches(false).memory("counts").start()?;
    /// input.add_data([1_000, 25_000]);
    /// query.process_all_available()?;
    /// // The watermark moved to 25 s, but no batch ran to close [0 s, 10 s).
    /// assert!(session.memory_table::<AggRow<i32, u64>>("counts")?.rows().is_empty());
    /// input.add_data([26_000]);
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<AggRow<i32, u64>>("counts")?.rows().len(), 1);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn no_data_micro_batches(mut self, enabled: bool) -> Self {
        self.no_data_batches = enabled;
        self
    }

    /// The query's checkpoint directory (Spark's `checkpointLocation` option): the query
    /// records there, batch by batch, what it read (`offsets/`), what it committed
    /// (`commits/`), the state of its stateful operators (`state/`) and its sources' own
    /// records (`sources/`). Started again on the same directory, the query carries on where
    /// it stopped — also after being killed: the batch that was running is re-run with exactly
    /// the same input, so with a replayable source and an idempotent sink (the JSON/CSV file
    /// sinks, `foreach_batch` keyed by batch id) the output is the same as if it had never
    /// stopped. Changing what may not change across restarts (the stateful operators, their
    /// state types, the number of state partitions, the sources) is an
    /// [`Error::IncompatibleRestart`]; a damaged file is an [`Error::CorruptCheckpoint`]
    /// naming it.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let dir = tempfile::tempdir().unwrap();
    /// let input = MemoryStream::<String>::new();
    /// let counts = |table: &str| session.read_stream::<String>().memory(&input)
    ///     .group_by(|w| w.clone()).count()
    ///     .write_stream().output_mode(OutputMode::Complete)
    ///     .checkpoint_location(dir.path()).memory(table).start();
    /// let first = counts("first")?;
    /// input.add_data(["cat".to_string()]);
    /// first.process_all_available()?;
    /// first.stop()?;
    ///
    /// let second = counts("second")?; // the same directory: it carries on
    /// assert_eq!(second.id(), first.id());
    /// input.add_data(["cat".to_string()]);
    /// second.process_all_available()?;
    /// let rows = session.memory_table::<AggRow<String, u64>>("second")?.rows();
    /// assert_eq!(rows[0].value, 2); // the count carried over
    /// second.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn checkpoint_location(mut self, dir: impl AsRef<Path>) -> Self {
        self.checkpoint = Some(dir.as_ref().to_path_buf());
        self
    }

    /// With `true`, a restart that finds the last batch's `offsets` or `commits` file torn or
    /// corrupt (a disk that lost a write) drops that file and plans or runs the batch again,
    /// with a warning, instead of failing with [`Error::CorruptCheckpoint`]. Off by default:
    /// nothing in a checkpoint is dropped unless asked.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let dir = tempfile::tempdir().unwrap();
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input).write_stream()
    ///     .checkpoint_location(dir.path()).discard_torn_last_batch(true).memory("n").start()?;
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn discard_torn_last_batch(mut self, discard: bool) -> Self {
        self.discard_torn_last = discard;
        self
    }

    /// This writer, of a type that no longer knows the shape (see [`shape`](super::shape)).
    pub(crate) fn into_unchecked(self) -> DataStreamWriter<T> {
        DataStreamWriter {
            ds: self.ds,
            shape: PhantomData,
            mode: self.mode,
            trigger: self.trigger,
            name: self.name,
            sink: self.sink,
            sink_modes: self.sink_modes,
            sink_label: self.sink_label,
            policy: self.policy,
            idle_timeout: self.idle_timeout,
            no_data_batches: self.no_data_batches,
            checkpoint: self.checkpoint,
            discard_torn_last: self.discard_torn_last,
            errors: self.errors,
            row_writers: self.row_writers,
        }
    }

    /// This writer with `sink`: its type no longer knows the shape.
    fn with_sink(self, sink: impl Sink<T> + 'static) -> DataStreamWriter<T> {
        let mut writer = self.into_unchecked();
        writer.sink = Some(Arc::new(sink));
        writer.sink_modes = None;
        writer.sink_label = None;
        writer.row_writers = None;
        writer
    }

    /// Writes to a user-defined [`Sink`]: each batch's rows with its
    /// [`BatchId`](crate::BatchId), then a commit. The same sink type works for a DStream
    /// through [`DStream::sink`](crate::DStream::sink).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use streamflow::sink::{Sink, SinkContext};
    /// use streamflow::structured::{MemoryStream, OutputMode, Session};
    /// use streamflow::{Batch, BatchId};
    ///
    /// /// Keeps every row with the id of the batch that committed it.
    /// #[derive(Default)]
    /// struct Rows(Mutex<Vec<(u64, i64)>>);
    /// impl Sink<i64> for Rows {
    ///     fn name(&self) -> String { "rows".into() }
    ///     fn start(&self, ctx: &SinkContext) -> streamflow::Result<()> {
    ///         assert_eq!(ctx.output_mode(), OutputMode::Append);
    ///         Ok(())
    ///     }
    ///     fn add_batch(&self, batch: BatchId, rows: Batch<i64>) -> streamflow::Result<()> {
    ///         self.0.lock().unwrap().extend(rows.collect().into_iter().map(|r| (batch.id, r)));
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let session = Session::new(1)?;
    /// let input = MemoryStream::<i64>::new();
    /// let rows = Arc::new(Rows::default());
    /// let query = session.read_stream::<i64>().memory(&input).write_stream().sink(rows.clone()).start()?;
    /// input.add_data([1, 2]);
    /// query.process_all_available()?;
    /// input.add_data([3]);
    /// query.process_all_available()?;
    /// assert_eq!(*rows.0.lock().unwrap(), [(0, 1), (0, 2), (1, 3)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn sink(self, sink: impl Sink<T>) -> DataStreamWriter<T> {
        self.with_sink(sink)
    }

    /// Prints every batch to stdout the way Spark's console sink does (20 rows, truncated
    /// cells); see [`format_console_batch`](super::format_console_batch).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<(String, u32)>::new();
    /// let query = session.read_stream::<(String, u32)>().memory(&input).write_stream().console().start()?;
    /// assert!(query.explain().contains("ConsoleSink"));
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    #[doc(alias = "show")]
    pub fn console(self) -> DataStreamWriter<T>
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
    pub fn console_with(
        self,
        num_rows: usize,
        truncate: bool,
        out: impl Write + Send + 'static,
    ) -> DataStreamWriter<T>
    where
        T: Serialize,
    {
        let names = self.ds.logical.columns.clone().unwrap_or_default();
        self.with_sink(ConsoleSink {
            num_rows,
            truncate,
            out: Mutex::new(Box::new(out)),
            names: Mutex::new(names),
        })
    }

    /// Keeps the rows in the in-memory table `name`, read with
    /// [`Session::memory_table`](super::Session::memory_table).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input).write_stream().memory("numbers").start()?;
    /// input.add_data([1]);
    /// query.process_all_available()?;
    /// input.add_data([2]);
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<i64>("numbers")?.rows(), [1, 2]); // Append: rows accumulate
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn memory(self, name: &str) -> DataStreamWriter<T> {
        let table = MemoryTable::new();
        self.ds.session.register_table(name, table.clone());
        self.with_sink(MemorySink {
            name: name.to_string(),
            table,
            mode: std::sync::OnceLock::new(),
        })
    }

    /// Gives each batch and its id (0, 1, 2 …) to `f` (Spark's `foreachBatch`). Returning an
    /// `Err` stops the query with it.
    ///
    /// Batch ids are stable: with a [`checkpoint_location`](Self::checkpoint_location), a batch
    /// that was running when the query was killed is given again after the restart with the
    /// same id and the same rows. For exactly-once output, make the write idempotent per id —
    /// the pattern Spark documents: write the batch together with its id in one transaction and
    /// skip ids already written (`INSERT … ON CONFLICT (batch_id) DO NOTHING`, a table of
    /// committed ids, a file named by the id replaced whole).
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
    ) -> DataStreamWriter<T> {
        self.with_sink(ForeachBatchSink::new(f))
    }

    /// Writes every row with a [`ForeachWriter`], partition by partition.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// use std::sync::{Arc, Mutex};
    ///
    /// #[derive(Clone, Default)]
    /// struct FirstBatchOnly(Arc<Mutex<Vec<i64>>>);
    /// impl ForeachWriter<i64> for FirstBatchOnly {
    ///     fn open(&mut self, _partition_id: u64, epoch_id: u64) -> bool { epoch_id == 0 }
    ///     fn process(&mut self, row: i64) { self.0.lock().unwrap().push(row) }
    ///     fn close(&mut self, _error: Option<&str>) {}
    /// }
    /// let input = MemoryStream::<i64>::new();
    /// let writer = FirstBatchOnly::default();
    /// let query = session.read_stream::<i64>().memory(&input)
    ///     .write_stream().foreach(writer.clone()).start()?;
    /// input.add_data([1]);
    /// query.process_all_available()?;
    /// input.add_data([2]);
    /// query.process_all_available()?;
    /// assert_eq!(*writer.0.lock().unwrap(), [1]); // `open` said no to batch 1
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn foreach<W: ForeachWriter<T>>(self, writer: W) -> DataStreamWriter<T> {
        let rows = writer.clone();
        let mut this = self.with_sink(ForeachSink { writer });
        this.row_writers = Some(Arc::new(move || Box::new(rows.clone())));
        this
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
    pub fn json(self, dir: impl AsRef<Path>) -> DataStreamWriter<T>
    where
        T: Serialize,
    {
        self.file_sink(dir.as_ref(), FileFormat::Json)
    }

    /// Writes CSV files with a header line into `dir`, one per batch (Append mode only).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// #[derive(Clone, serde::Serialize)]
    /// struct Sale { item: String, qty: u32 }
    /// let dir = tempfile::tempdir()?;
    /// let input = MemoryStream::<Sale>::new();
    /// let query = session.read_stream::<Sale>().memory(&input).write_stream().csv(dir.path()).start()?;
    /// input.add_data([Sale { item: "pen".into(), qty: 2 }]);
    /// query.process_all_available()?;
    /// assert_eq!(std::fs::read_to_string(dir.path().join("part-00000.csv"))?, "item,qty\npen,2\n");
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn csv(self, dir: impl AsRef<Path>) -> DataStreamWriter<T>
    where
        T: Serialize,
    {
        self.file_sink(dir.as_ref(), FileFormat::Csv)
    }

    /// A file sink writing `format` into `dir`: Append mode only.
    fn file_sink(self, dir: &Path, format: FileFormat) -> DataStreamWriter<T>
    where
        T: Serialize,
    {
        let label = match format {
            FileFormat::Json => "json",
            FileFormat::Csv => "csv",
        };
        let mut writer = self.with_sink(FileSink {
            dir: dir.to_path_buf(),
            format,
        });
        writer.sink_modes = Some(&[OutputMode::Append]);
        writer.sink_label = Some(label.into());
        writer
    }

    /// Checks the query (output mode against its operators, durations, sink) and starts it on
    /// its own thread. Every problem is reported at once, before anything runs.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let numbers = session.read_stream::<i64>().memory(&MemoryStream::new());
    /// let no_sink = numbers.write_stream().start().unwrap_err();
    /// assert!(no_sink.to_string().contains("no sink chosen"), "{no_sink}");
    /// // Complete mode without an aggregation, and a malformed trigger: both reported.
    /// let err = numbers.write_stream().output_mode(OutputMode::Complete)
    ///     .trigger(Trigger::processing_time("soon")).memory("n").start().unwrap_err();
    /// let text = err.to_string();
    /// assert!(text.contains("Complete output mode not supported"), "{text}");
    /// assert!(text.contains("Trigger::processing_time"), "{text}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
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
            &self.sink_label.clone().unwrap_or_else(|| sink.name()),
            self.sink_modes,
        ));
        if self.trigger.is_continuous() {
            let ops = self.ds.logical.ops.iter().skip(1).map(String::as_str);
            problems.extend(crate::exec::continuous::check(ops, &self.mode.to_string()));
        }
        if !problems.is_empty() {
            return Err(Error::InvalidGraph(problems));
        }
        StreamingQuery::start(QueryOptions {
            ds: self.ds,
            sink,
            mode: self.mode,
            trigger: self.trigger,
            name: self.name,
            policy: self.policy,
            idle_timeout: self.idle_timeout,
            no_data_batches: self.no_data_batches,
            checkpoint: self.checkpoint,
            discard_torn_last: self.discard_torn_last,
            row_writers: self.row_writers,
        })
    }
}
