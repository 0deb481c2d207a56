//! The [`Source`] trait: what the driver asks of every source, in both vocabularies.

use std::sync::Arc;

use super::offset::{Offset, ReadLimit};
use super::rate_control::BatchStats;
use crate::batch::Part;
use crate::data::Data;
use crate::error::Result;
use crate::metrics::ReceiverStatus;
use crate::time::Time;

/// A source of records whose position is a serializable [`Offset`] (Spark's `Source` /
/// `MicroBatchStream`).
///
/// Each batch, the driver asks every source for its [`latest_offset`](Self::latest_offset)
/// (applying the source's read limit), records the range `(start, end]` in the batch plan
/// *before* the batch runs, reads it with [`get_batch`](Self::get_batch), and once the batch's
/// output is committed calls [`commit`](Self::commit), after which data up to `end` is never
/// asked for again. A [replayable](Self::is_replayable) source returns the same records for the
/// same range every time it is asked, which is what lets a restarted job re-run a batch exactly.
///
/// The same source plugs into both vocabularies:
/// [`StreamingContext::source_stream`](crate::StreamingContext::source_stream) and
/// [`DataStreamReader::source`](crate::structured::DataStreamReader::source).
///
/// # Examples
///
/// A source of the squares 0, 1, 4, 9 …, `per_batch` at a time; its offset counts the numbers
/// handed out.
///
/// ```
/// use streamflow::source::{ReadLimit, Source, SourceBatch};
/// use streamflow::testing::TestContext;
/// use streamflow::{Duration, Time};
///
/// struct Squares { per_batch: u64 }
///
/// impl Source for Squares {
///     type Item = u64;
///     type Offset = u64;
///     fn name(&self) -> String { "squares".into() }
///     fn initial_offset(&self) -> u64 { 0 }
///     fn latest_offset(&self, start: &u64, limit: ReadLimit, _time: Time) -> streamflow::Result<u64> {
///         Ok(start + limit.cap(self.per_batch))
///     }
///     fn get_batch(&self, start: &u64, end: &u64) -> streamflow::Result<SourceBatch<u64>> {
///         Ok(SourceBatch::from_vec((*start..*end).map(|i| i * i).collect()))
///     }
///     fn is_replayable(&self) -> bool { true }
/// }
///
/// let t = TestContext::new(Duration::seconds(1), 2)?;
/// let out = t.collect(&t.context().source_stream(Squares { per_batch: 3 }));
/// t.run(2)?;
/// assert_eq!(out.batches(), vec![vec![0, 1, 4], vec![9, 16, 25]]);
/// # Ok::<(), streamflow::Error>(())
/// ```
pub trait Source: Send + Sync + 'static {
    /// The records it produces.
    type Item: Data;
    /// Its position.
    type Offset: Offset;

    /// Its name, in `explain()`, progress reports and errors.
    fn name(&self) -> String;

    /// Called when the job starts: open connections, start receiving threads. An error fails
    /// the start (say what to fix). Must not block.
    fn start(&self, _ctx: &SourceContext) -> Result<()> {
        Ok(())
    }

    /// Called when the job stops: stop receiving (idempotent). Records received and not yet
    /// handed to a batch stay available to [`latest_offset`](Self::latest_offset), so a
    /// graceful stop still processes them.
    fn stop(&self) {}

    /// Where a job that has never read this source starts.
    fn initial_offset(&self) -> Self::Offset;

    /// How much one batch may take by default (e.g. `max_files_per_trigger`); the driver
    /// passes it to [`latest_offset`](Self::latest_offset), or [`ReadLimit::AllAvailable`]
    /// where Spark does (`Trigger::once`).
    fn default_read_limit(&self) -> ReadLimit {
        ReadLimit::AllAvailable
    }

    /// Whether [`ReadLimit::Max`] counts this source's records (a rate or generator source,
    /// Kafka offsets), rather than files or other units. Only then may a DStream context's
    /// [`SourceLimits`](super::SourceLimits) — `max_rate` and backpressure, Spark's
    /// `spark.streaming.backpressure.enabled` as it applies to direct streams — cap how many
    /// records one batch takes. `false` by default.
    fn read_limit_counts_records(&self) -> bool {
        false
    }

    /// The end of the data available for the batch at `batch_time` that starts at `start`,
    /// taking no more than `limit` allows. Returning `start` means "nothing new".
    fn latest_offset(&self, start: &Self::Offset, limit: ReadLimit, batch_time: Time)
    -> Result<Self::Offset>;

    /// The records in `(start, end]`. Called with `start == end` when a batch runs without new
    /// data from this source; most sources return [`SourceBatch::empty`] then.
    fn get_batch(&self, start: &Self::Offset, end: &Self::Offset) -> Result<SourceBatch<Self::Item>>;

    /// Everything up to `end` was processed and committed: it may be forgotten.
    fn commit(&self, _end: &Self::Offset) {}

    /// Whether [`get_batch`](Self::get_batch) returns the same records for the same range
    /// every time, also after a restart (files, rate, Kafka: yes; a socket without a
    /// write-ahead log: no).
    fn is_replayable(&self) -> bool;

    /// A batch this source took part in has completed: its records, processing and scheduling
    /// delays (what Spark's `RateController` hears). Sources with backpressure feed these to
    /// their [`PidRateEstimator`](super::PidRateEstimator) to set the rate of the next batches.
    fn batch_completed(&self, _stats: &BatchStats) {}

    /// How it is doing (connected, records, errors …), for sources that receive data.
    /// `undecodable` counts malformed input; the driver reports each batch's share of it.
    fn status(&self) -> Option<ReceiverStatus> {
        None
    }
}

/// What a source is given when its job starts.
///
/// ```
/// use streamflow::source::SourceContext;
/// use streamflow::Time;
///
/// let ctx = SourceContext::detached(Time::from_millis(1_000), 2);
/// assert_eq!(ctx.start_time(), Time::from_millis(1_000));
/// assert_eq!(ctx.parallelism(), 2);
/// ctx.wake(); // nobody waits on a detached context
/// ```
#[derive(Clone)]
pub struct SourceContext {
    wake: Arc<dyn Fn() + Send + Sync>,
    start_time: Time,
    parallelism: usize,
    metadata_path: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for SourceContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceContext")
            .field("start_time", &self.start_time)
            .field("parallelism", &self.parallelism)
            .field("metadata_path", &self.metadata_path)
            .finish()
    }
}

impl SourceContext {
    pub(crate) fn new(wake: Arc<dyn Fn() + Send + Sync>, start_time: Time, parallelism: usize) -> Self {
        SourceContext {
            wake,
            start_time,
            parallelism,
            metadata_path: None,
        }
    }

    /// The same context, with `path` as the source's own directory in the checkpoint.
    pub(crate) fn with_metadata_path(mut self, path: std::path::PathBuf) -> Self {
        self.metadata_path = Some(path);
        self
    }

    /// A context that belongs to no job (for testing a source by itself).
    ///
    /// ```
    /// let ctx = streamflow::source::SourceContext::detached(streamflow::Time::from_millis(0), 1);
    /// assert_eq!(ctx.parallelism(), 1);
    /// ```
    pub fn detached(start_time: Time, parallelism: usize) -> Self {
        SourceContext::new(Arc::new(|| {}), start_time, parallelism)
    }

    /// Tells the driver that new data arrived, so a query waiting for data looks again at once
    /// (a DStream context runs on its interval and does not need this).
    ///
    /// ```
    /// # let ctx = streamflow::source::SourceContext::detached(streamflow::Time::from_millis(0), 1);
    /// ctx.wake();
    /// ```
    pub fn wake(&self) {
        (self.wake)();
    }

    /// When the job started: a DStream context's zero time, a query's start.
    ///
    /// ```
    /// # let ctx = streamflow::source::SourceContext::detached(streamflow::Time::from_millis(5), 1);
    /// assert_eq!(ctx.start_time().millis(), 5);
    /// ```
    pub fn start_time(&self) -> Time {
        self.start_time
    }

    /// The number of worker threads (a good number of partitions).
    ///
    /// ```
    /// # let ctx = streamflow::source::SourceContext::detached(streamflow::Time::from_millis(0), 4);
    /// assert_eq!(ctx.parallelism(), 4);
    /// ```
    pub fn parallelism(&self) -> usize {
        self.parallelism
    }

    /// The source's own directory in the job's checkpoint (`<checkpoint>/sources/<index>`,
    /// Spark's `metadataPath`), `None` when the job has no checkpoint. A source that must
    /// remember something to replay its batches after a restart — the log of files taken, the
    /// write-ahead log of received blocks, a start time — keeps it there, and finds it there
    /// again when the job restarts on the same checkpoint. The directory may not exist yet.
    ///
    /// ```
    /// # let ctx = streamflow::source::SourceContext::detached(streamflow::Time::from_millis(0), 4);
    /// assert_eq!(ctx.metadata_path(), None);
    /// ```
    pub fn metadata_path(&self) -> Option<&std::path::Path> {
        self.metadata_path.as_deref()
    }
}

/// The records a source hands to one batch: in memory, or as partitions read later, in
/// parallel, on the worker pool (a file read and parsed where it is consumed).
///
/// ```
/// use streamflow::source::SourceBatch;
///
/// let mut batch = SourceBatch::from_vec(vec![1, 2, 3]);
/// batch.push_lazy(|emit| (10..12).for_each(|i| emit(i)));
/// assert_eq!(batch.num_parts(), 2);
/// ```
pub struct SourceBatch<T> {
    /// Records to spread over the workers evenly.
    pub(crate) items: Vec<T>,
    /// Partitions as they are.
    pub(crate) parts: Vec<Part<T>>,
}

impl<T> Default for SourceBatch<T> {
    fn default() -> Self {
        SourceBatch {
            items: Vec::new(),
            parts: Vec::new(),
        }
    }
}

impl<T: Data> SourceBatch<T> {
    /// No records.
    ///
    /// ```
    /// assert_eq!(streamflow::source::SourceBatch::<u8>::empty().num_parts(), 0);
    /// ```
    pub fn empty() -> Self {
        Self::default()
    }

    /// Records in memory, spread evenly over the worker pool's partitions.
    ///
    /// ```
    /// let batch = streamflow::source::SourceBatch::from_vec(vec!["a", "b"]);
    /// assert_eq!(batch.num_parts(), 1);
    /// ```
    pub fn from_vec(items: Vec<T>) -> Self {
        SourceBatch {
            items,
            parts: Vec::new(),
        }
    }

    /// Records already split into partitions, kept as they are.
    ///
    /// ```
    /// let batch = streamflow::source::SourceBatch::from_partitions(vec![vec![1], vec![2, 3]]);
    /// assert_eq!(batch.num_parts(), 2);
    /// ```
    pub fn from_partitions(partitions: Vec<Vec<T>>) -> Self {
        SourceBatch {
            items: Vec::new(),
            parts: partitions.into_iter().map(Part::Ready).collect(),
        }
    }

    /// Adds a partition produced later on a worker thread: `produce` pushes each record into
    /// the function it is given (read a file, parse its lines …).
    ///
    /// ```
    /// let mut batch = streamflow::source::SourceBatch::<u32>::empty();
    /// batch.push_lazy(|emit| emit(7));
    /// assert_eq!(batch.num_parts(), 1);
    /// ```
    pub fn push_lazy(&mut self, produce: impl FnOnce(&mut dyn FnMut(T)) + Send + 'static) {
        self.parts.push(Part::lazy(produce));
    }

    /// How many parts it holds (records in memory count as one, until spread).
    ///
    /// ```
    /// assert_eq!(streamflow::source::SourceBatch::from_vec(vec![1]).num_parts(), 1);
    /// ```
    pub fn num_parts(&self) -> usize {
        self.parts.len() + usize::from(!self.items.is_empty())
    }
}
