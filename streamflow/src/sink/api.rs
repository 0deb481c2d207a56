//! The [`Sink`] trait: where a job's rows go, in both vocabularies.

use std::sync::Arc;

use crate::batch::Batch;
use crate::data::Data;
use crate::error::Result;
use crate::exec::BatchId;
use crate::graph::{Node, OutputRun};
use crate::structured::OutputMode;

/// Where the rows of a job go (Spark's `Sink` / `StreamingWrite`), batch by batch.
///
/// For every batch the driver calls [`add_batch`](Self::add_batch) with the batch's
/// [`BatchId`] and rows, and — once every output of the batch has its rows — calls
/// [`commit`](Self::commit). A job restarted from its checkpoint may hand the same batch id
/// again (the batch was planned but not committed): a sink that must not duplicate output
/// makes `add_batch` idempotent per id (a manifest, a transaction keyed by the id, an upsert).
///
/// The same sink plugs into both vocabularies: [`DStream::sink`](crate::DStream::sink) and
/// [`DataStreamWriter::sink`](crate::structured::DataStreamWriter::sink).
///
/// # Examples
///
/// A sink that keeps the sum of each batch, made visible only at commit.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use streamflow::sink::Sink;
/// use streamflow::testing::TestContext;
/// use streamflow::{Batch, BatchId, Duration};
///
/// #[derive(Default)]
/// struct Sums { pending: Mutex<Option<i64>>, committed: Mutex<Vec<(u64, i64)>> }
///
/// impl Sink<i64> for Sums {
///     fn name(&self) -> String { "sums".into() }
///     fn add_batch(&self, _batch: BatchId, rows: Batch<i64>) -> streamflow::Result<()> {
///         *self.pending.lock().unwrap() = Some(rows.collect().iter().sum());
///         Ok(())
///     }
///     fn commit(&self, batch: BatchId) -> streamflow::Result<()> {
///         if let Some(sum) = self.pending.lock().unwrap().take() {
///             self.committed.lock().unwrap().push((batch.id, sum));
///         }
///         Ok(())
///     }
/// }
///
/// let t = TestContext::new(Duration::seconds(1), 2)?;
/// let sums = Arc::new(Sums::default());
/// t.input(vec![vec![1, 2], vec![10]]).sink(sums.clone());
/// t.run(2)?;
/// assert_eq!(*sums.committed.lock().unwrap(), [(0, 3), (1, 10)]);
/// # Ok::<(), streamflow::Error>(())
/// ```
pub trait Sink<T: Data>: Send + Sync + 'static {
    /// Its name, in `explain()`, progress reports and errors.
    fn name(&self) -> String;

    /// Called once before the first batch. An error fails the start: a sink that cannot take
    /// the query's output mode says so here.
    fn start(&self, _ctx: &SinkContext) -> Result<()> {
        Ok(())
    }

    /// The rows of one batch. Called once per batch id in order, except after a restart,
    /// which may repeat the last uncommitted id.
    fn add_batch(&self, batch: BatchId, rows: Batch<T>) -> Result<()>;

    /// Every output of batch `batch` has its rows: make them durable / visible.
    fn commit(&self, _batch: BatchId) -> Result<()> {
        Ok(())
    }
}

/// A shared sink is a sink: keep an `Arc` to look at what it wrote.
impl<T: Data, S: Sink<T>> Sink<T> for Arc<S> {
    fn name(&self) -> String {
        (**self).name()
    }

    fn start(&self, ctx: &SinkContext) -> Result<()> {
        (**self).start(ctx)
    }

    fn add_batch(&self, batch: BatchId, rows: Batch<T>) -> Result<()> {
        (**self).add_batch(batch, rows)
    }

    fn commit(&self, batch: BatchId) -> Result<()> {
        (**self).commit(batch)
    }
}

/// What a sink is told when its job starts.
///
/// ```
/// use streamflow::sink::SinkContext;
/// use streamflow::structured::OutputMode;
///
/// let ctx = SinkContext::new("q1", OutputMode::Update);
/// assert_eq!((ctx.job_id(), ctx.output_mode()), ("q1", OutputMode::Update));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkContext {
    job_id: String,
    mode: OutputMode,
}

impl SinkContext {
    /// A context for job `job_id` writing in `mode`.
    ///
    /// ```
    /// let ctx = streamflow::sink::SinkContext::new("job", streamflow::structured::OutputMode::Append);
    /// assert_eq!(ctx.job_id(), "job");
    /// ```
    pub fn new(job_id: impl Into<String>, mode: OutputMode) -> Self {
        SinkContext {
            job_id: job_id.into(),
            mode,
        }
    }

    /// The job's id: a query's id (stable across restarts), or a DStream context's name. With
    /// the batch id it names a batch uniquely, e.g. as a transaction marker.
    ///
    /// ```
    /// # let ctx = streamflow::sink::SinkContext::new("job", streamflow::structured::OutputMode::Append);
    /// assert_eq!(ctx.job_id(), "job");
    /// ```
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// The output mode: which rows each batch holds (always `Append` for a DStream: each batch
    /// holds its own rows).
    ///
    /// ```
    /// # use streamflow::structured::OutputMode;
    /// # let ctx = streamflow::sink::SinkContext::new("job", OutputMode::Complete);
    /// assert_eq!(ctx.output_mode(), OutputMode::Complete);
    /// ```
    pub fn output_mode(&self) -> OutputMode {
        self.mode
    }
}

/// A sink reading a node of the graph: what the driver runs as an output.
pub(crate) struct SinkOutput<T: Data> {
    pub(crate) node: Arc<Node<T>>,
    pub(crate) sink: Arc<dyn Sink<T>>,
    /// Whether to count the rows (materializes lazy partitions before the sink sees them).
    pub(crate) count_rows: bool,
}

impl<T: Data> OutputRun for SinkOutput<T> {
    fn name(&self) -> String {
        self.sink.name()
    }

    fn start(&self, ctx: &SinkContext) -> Result<()> {
        self.sink.start(ctx)
    }

    fn run(&self, batch: BatchId, ready: &dyn Fn() -> Result<()>) -> Result<Option<u64>> {
        match self.node.get_or_compute(batch.time)? {
            Some(rows) if !self.count_rows => {
                ready()?;
                self.sink.add_batch(batch, rows)?;
                Ok(Some(0))
            }
            // Rows whose number is known without making them (an aggregation's closed groups)
            // go to the sink still lazy, never held whole.
            Some(rows) if rows.known_len().is_some() => {
                let n = rows.known_len().unwrap_or(0);
                ready()?;
                self.sink.add_batch(batch, rows)?;
                Ok(Some(n))
            }
            Some(rows) => {
                let exec = rows.executor().clone();
                let partitions = rows.collect_partitions();
                let n = partitions.iter().map(|p| p.len() as u64).sum();
                ready()?;
                self.sink
                    .add_batch(batch, Batch::from_partitions(partitions, batch.time, exec))?;
                Ok(Some(n))
            }
            None => Ok(None),
        }
    }

    fn commit(&self, batch: BatchId) -> Result<()> {
        self.sink.commit(batch)
    }
}
