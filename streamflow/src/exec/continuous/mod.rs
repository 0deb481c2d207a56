//! Continuous processing (`Trigger::continuous`): records flow one at a time through
//! long-lived tasks, and epochs mark checkpoints.
//!
//! A continuous query is planned from the same [`Dataset`] chain as a micro-batch query, into
//! a pipeline of long-running tasks instead of a graph of batch nodes:
//!
//! ```text
//!  reader ─► source task p (one per partition) ─► router ─► aggregation task j ─► sink writer
//!  (polls      map / filter / flat_map /          by key,   (one per state        (buffers the
//!  sources)    with_watermark, fused: one         bounded   partition, owns       epoch's rows,
//!              call per operator per record       channels  it alone)             or foreach)
//! ```
//!
//! - **Reader** (`runner.rs`): a thread that polls every source (its `latest_offset` from the
//!   position read so far, its read limit applied) and hands what it reads, in chunks, to the
//!   source's tasks through bounded channels (a full channel holds the reader back). Every
//!   checkpoint interval on the query's clock — or at once when `process_all_available` waits
//!   and everything available was read — it ends the epoch: the epoch's plan is each source's
//!   range read since the last epoch, and an epoch marker follows the records into every task.
//!   Memory stays bounded: an epoch also ends once it holds `MAX_EPOCH_ROWS` records, and the
//!   reader stops reading while `MAX_PENDING_EPOCHS` epochs wait for their commit (a slow sink
//!   holds the sources back). A panic or raised error in a source's code fails the query with
//!   what it said.
//! - **Tasks** (`tasks.rs`): a source task pushes each record through the fused stateless
//!   operators ([`Push`]: one dynamic call per operator, no allocation or boxing per record)
//!   and forwards markers. A keyed aggregation routes `(key, record)` by the shuffle's stable
//!   hash to the task owning the key's state partition, which folds the record into the same
//!   state store a micro-batch aggregation uses and emits the group's new row at once (or its
//!   latest row every emit interval). It aligns markers: after the marker of epoch `e` from one
//!   input, that input's records wait until every input's marker arrived; then it pauses until
//!   the driver captured the partition's state for the checkpoint.
//! - **Sink writers** (`sink.rs`): one per task at the end of the pipeline. An epoch's rows go
//!   to the query's [`Sink`](crate::sink::Sink) as one batch with the epoch's id when the epoch
//!   commits (so the idempotent sinks are exactly-once per epoch); a `foreach` writer gets each
//!   row as it comes (`open(partition, epoch)` … `close`), as in Spark.
//! - **Committer** (`runner.rs`, on the driver's thread, through `Driver::run_with`): records
//!   the epoch's plan in `offsets/<id>`, prepares the state files once every aggregation task
//!   reached the marker, and once every sink writer did, runs the steps of a micro-batch's
//!   commit: the sink's batch and commit, `commits/<id>` with the next watermark, the sources'
//!   commits, the progress report. Epoch ids are batch ids; a restart re-runs a planned epoch
//!   with exactly its recorded ranges.

pub(crate) mod rules;
mod runner;
mod sink;
mod tasks;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_channel::{Receiver, Sender};

pub(crate) use rules::check;
pub(crate) use runner::run;
pub(crate) use sink::RowWriters;

use crate::data::{Data, Key, StateData};
use crate::error::{Error, Result};
use crate::event_time::timestamp::EventTimeFn;
use crate::exec::BatchId;
use crate::sink::Sink;
use crate::source::{Source, SourceSlot};
use crate::state::aggregation::{AggOperator, KeyFn};
use crate::state::aggregators::{AggRow, Aggregator};
use crate::structured::Dataset;
use crate::structured::plan::Planner;
use crate::structured::shape::Shape;
use crate::time::Duration;

/// Messages in flight per channel between two tasks (one record each): with
/// [`SOURCE_CHANNEL_CHUNKS`] × [`CHUNK`] what bounds the memory of a running pipeline.
const CHANNEL_CAPACITY: usize = 4096;

/// The most records the reader hands a source task at once.
const CHUNK: usize = 1024;

/// Chunks in flight per source task.
const SOURCE_CHANNEL_CHUNKS: usize = 16;

/// Where a task pushes its records: the next fused operator, a router to the aggregation
/// tasks, or a sink writer.
pub(crate) trait Push<T>: Send {
    /// One record.
    fn record(&mut self, record: T);
    /// Every record of epoch `epoch` was pushed before this call.
    fn marker(&mut self, epoch: BatchId);
}

/// A task's push, boxed once when the pipeline is built.
pub(crate) type Out<T> = Box<dyn Push<T>>;

/// Makes the push of one more upstream task (called once per task when the pipeline is built).
pub(crate) type Downstream<T> = Arc<dyn Fn() -> Out<T> + Send + Sync>;

/// How a dataset runs in continuous mode: given what consumes its records, wires itself to
/// its parents and sources.
pub(crate) type ContinuousPlan<T> = dyn Fn(&mut Wiring<'_>, Downstream<T>) -> Result<()> + Send + Sync;

/// What tasks tell the committer.
pub(crate) enum Report {
    /// The reader ended an epoch: its plan (the watermark is the committer's to fill), the
    /// rows read from each source, the clock when it ended, and whether the plan must still be
    /// written (not for an epoch a restart re-runs).
    Cut {
        plan: crate::exec::BatchPlan,
        rows: Vec<u64>,
        trigger_time: crate::time::Time,
        record: bool,
    },
    /// The reader found nothing new, and everything it read is in an epoch; `seq` is the
    /// wake-up number it saw before looking.
    Quiet(u64),
    /// An aggregation task reached the marker of `epoch` on every input and waits for its
    /// state to be captured.
    StateReady(u64),
    /// A sink writer handed over its rows of `epoch`.
    SinkReady { epoch: u64, rows: u64 },
    /// A task failed.
    Failed(Error),
    /// The reader stopped (after its last epoch, on a graceful stop).
    ReaderDone,
}

/// The typed reading side of one source, as the reader drives it (`runner.rs`).
pub(crate) trait Feeder: Send {
    /// Takes the position to read from: the source's committed offset (after recovery).
    fn restore(&mut self) -> Result<()>;
    /// Sends go through `control`: a full channel waits, unless the query stops.
    fn start(&mut self, control: Arc<crate::exec::JobControl>);
    /// Stops the source taking input (a graceful stop reads what it has, then ends).
    fn stop_source(&self);
    /// Reads whatever is new at `time`; returns the records read.
    fn poll(&mut self, time: crate::time::Time, all: bool) -> Result<u64>;
    /// Reads exactly the recorded range of an epoch a restart re-runs.
    fn replay(&mut self, range: &crate::source::SourceRange) -> Result<u64>;
    /// The range read since the last epoch, which now ends.
    fn cut(&mut self) -> crate::source::SourceRange;
    /// Sends the marker of `epoch` to every task of the source.
    fn marker(&mut self, epoch: BatchId) -> Result<()>;
    /// Stops the tasks of the source (drops its channels).
    fn close(&mut self);
}

/// A long-lived task, started when the query runs.
pub(crate) type Spawn = Box<dyn FnOnce(TaskEnv) -> Result<std::thread::JoinHandle<()>> + Send>;

/// What every task gets when it starts.
#[derive(Clone)]
pub(crate) struct TaskEnv {
    pub(crate) reports: Sender<Report>,
    /// The id of the first epoch this run processes.
    pub(crate) first_epoch: u64,
    /// Whether aggregation tasks pause at a marker until their state is captured (only with a
    /// checkpoint).
    pub(crate) durable: bool,
    pub(crate) clock: Arc<dyn crate::time::Clock>,
}

/// The pipeline being built: sources, tasks, and what the committer expects at each epoch.
pub(crate) struct Wiring<'a> {
    pub(crate) planner: &'a mut Planner,
    pub(crate) feeders: Vec<Box<dyn Feeder>>,
    pub(crate) tasks: Vec<(String, Spawn)>,
    /// The aggregation tasks' resume channels (one per task).
    pub(crate) resumers: Vec<Sender<u64>>,
    /// Runs at each epoch's commit (operators' figures).
    pub(crate) epoch_hooks: Vec<Box<dyn Fn() + Send>>,
    /// How many sink writers the pipeline ends in.
    pub(crate) sink_writers: Arc<AtomicUsize>,
    /// `explain()`'s lines, from the source to the sink.
    pub(crate) explain: Vec<String>,
    pub(crate) emit: Option<Duration>,
    pub(crate) reports: Sender<Report>,
    pub(crate) report_rx: Receiver<Report>,
    /// The id of the first epoch of this run, set when it starts.
    pub(crate) first_epoch: Arc<AtomicU64>,
}

impl<'a> Wiring<'a> {
    fn new(planner: &'a mut Planner, emit: Option<Duration>) -> Self {
        let (reports, report_rx) = crossbeam_channel::unbounded();
        Wiring {
            planner,
            feeders: Vec::new(),
            tasks: Vec::new(),
            resumers: Vec::new(),
            epoch_hooks: Vec::new(),
            sink_writers: Arc::new(AtomicUsize::new(0)),
            explain: Vec::new(),
            emit,
            reports,
            report_rx,
            first_epoch: Arc::new(AtomicU64::new(0)),
        }
    }

    fn parallelism(&self) -> usize {
        self.planner.exec.parallelism().max(1)
    }
}

/// A planned continuous query, ready to run.
pub(crate) struct Pipeline {
    pub(crate) feeders: Vec<Box<dyn Feeder>>,
    pub(crate) tasks: Vec<(String, Spawn)>,
    pub(crate) resumers: Vec<Sender<u64>>,
    pub(crate) epoch_hooks: Vec<Box<dyn Fn() + Send>>,
    pub(crate) sink_writers: usize,
    pub(crate) output: Arc<dyn sink::EpochOutput>,
    pub(crate) interval: Duration,
    pub(crate) reports: Sender<Report>,
    pub(crate) report_rx: Receiver<Report>,
    pub(crate) first_epoch: Arc<AtomicU64>,
    pub(crate) explain: String,
    pub(crate) exec: Arc<crate::exec::Executor>,
    /// The clock when the query started: epochs end at the multiples of the interval after it.
    pub(crate) start: crate::time::Time,
}

/// Plans `ds` written to `sink` (or, per row, to `rows`) as a continuous pipeline, registering
/// its sources and stateful operators in `planner` as a micro-batch plan would.
pub(crate) fn plan<T: Data, S: Shape>(
    ds: &Dataset<T, S>,
    sink: Arc<dyn Sink<T>>,
    rows: Option<RowWriters<T>>,
    planner: &mut Planner,
    interval: Duration,
    emit: Option<Duration>,
) -> Result<Pipeline> {
    let planner_exec = planner.exec.clone();
    let mut wiring = Wiring::new(planner, emit);
    let (down, output) = sink::writers(sink, rows, &wiring);
    ds.continuous_plan()?(&mut wiring, down)?;
    let Wiring {
        feeders,
        tasks,
        resumers,
        epoch_hooks,
        sink_writers,
        mut explain,
        reports,
        report_rx,
        first_epoch,
        ..
    } = wiring;
    explain.push(format!(
        "sink writers ×{} → {} (an epoch's rows as one batch at its commit)",
        sink_writers.load(Ordering::Acquire),
        output.name()
    ));
    Ok(Pipeline {
        feeders,
        tasks,
        resumers,
        epoch_hooks,
        sink_writers: sink_writers.load(Ordering::Acquire),
        output,
        interval,
        reports,
        report_rx,
        first_epoch,
        explain: explain.join("\n"),
        exec: planner_exec,
        start: crate::time::Time::from_millis(0),
    })
}

/// The continuous plan of a source: `make` gives the source of one query.
pub(crate) fn source<S: Source>(
    name: &str,
    make: impl Fn() -> Arc<S> + Send + Sync + 'static,
) -> Arc<ContinuousPlan<S::Item>> {
    let name = name.to_string();
    Arc::new(move |w: &mut Wiring<'_>, down: Downstream<S::Item>| {
        let source = make();
        let slot = SourceSlot::new(source.clone());
        w.planner.sources.push(slot.clone());
        let n = w.parallelism();
        w.explain
            .push(format!("reader → source tasks ×{n}: {name} [{}]", source.name()));
        let feeder = tasks::source_tasks(&name, source, slot, n, &down, w);
        w.feeders.push(Box::new(feeder));
        Ok(())
    })
}

/// A fused stateless operator: `step` gets each record and the next push.
struct Stage<F, U> {
    step: Arc<F>,
    down: Out<U>,
}

impl<T, U: 'static, F> Push<T> for Stage<F, U>
where
    F: Fn(T, &mut dyn Push<U>) + Send + Sync,
{
    #[inline]
    fn record(&mut self, record: T) {
        (self.step)(record, &mut *self.down)
    }

    fn marker(&mut self, epoch: BatchId) {
        self.down.marker(epoch)
    }
}

/// The continuous plan of a stateless operator `name` over `parent`, fused into its tasks.
pub(crate) fn stateless<T: Data, S: Shape, U: Data>(
    parent: &Dataset<T, S>,
    name: &'static str,
    step: impl Fn(T, &mut dyn Push<U>) + Send + Sync + 'static,
) -> Arc<ContinuousPlan<U>> {
    let parent = parent.clone();
    let step = Arc::new(step);
    Arc::new(move |w: &mut Wiring<'_>, down: Downstream<U>| {
        let step = step.clone();
        let up: Downstream<T> = Arc::new(move || {
            Box::new(Stage {
                step: step.clone(),
                down: down(),
            }) as Out<T>
        });
        parent.continuous_plan()?(w, up)?;
        w.explain.push(format!("  {name} (fused)"));
        Ok(())
    })
}

/// The continuous plan of a union: both parents push into the same operators.
pub(crate) fn union<T: Data, S: Shape, S2: Shape>(
    left: &Dataset<T, S>,
    right: &Dataset<T, S2>,
) -> Arc<ContinuousPlan<T>> {
    let (left, right) = (left.clone(), right.clone());
    Arc::new(move |w: &mut Wiring<'_>, down: Downstream<T>| {
        left.continuous_plan()?(w, down.clone())?;
        right.continuous_plan()?(w, down)?;
        w.explain.push("  union".into());
        Ok(())
    })
}

/// Notes each record's event time for the watermark input it was registered as, handing the
/// statistics to the tracker at each marker (no lock per record).
struct Watermarked<T> {
    event_time: EventTimeFn<T>,
    present: Option<Arc<dyn Fn(&T) -> bool + Send + Sync>>,
    tracker: Arc<crate::event_time::watermark::WatermarkTracker>,
    index: usize,
    stats: crate::event_time::watermark::EventTimeStats,
    down: Out<T>,
}

impl<T: Data> Push<T> for Watermarked<T> {
    #[inline]
    fn record(&mut self, record: T) {
        if let Some(present) = &self.present {
            if !crate::exec::guard("with_watermark", || present(&record)) {
                return;
            }
        }
        let ts = crate::exec::guard("with_watermark", || (self.event_time)(&record));
        self.stats.observe(ts.millis());
        self.down.record(record)
    }

    fn marker(&mut self, epoch: BatchId) {
        self.tracker.observe(self.index, &self.stats);
        self.stats = Default::default();
        self.down.marker(epoch)
    }
}

/// The continuous plan of `with_watermark`: registers the watermark input, as the batch plan
/// does, and observes event times record by record.
pub(crate) fn with_watermark<T: Data, S: Shape>(
    parent: &Dataset<T, S>,
    event_time: EventTimeFn<T>,
    present: Option<Arc<dyn Fn(&T) -> bool + Send + Sync>>,
    delay: Duration,
) -> Arc<ContinuousPlan<T>> {
    let parent = parent.clone();
    Arc::new(move |w: &mut Wiring<'_>, down: Downstream<T>| {
        let tracker = w.planner.run.watermark.clone();
        let index = tracker.register("with_watermark", delay);
        let (event_time, present) = (event_time.clone(), present.clone());
        let up: Downstream<T> = Arc::new(move || {
            Box::new(Watermarked {
                event_time: event_time.clone(),
                present: present.clone(),
                tracker: tracker.clone(),
                index,
                stats: Default::default(),
                down: down(),
            }) as Out<T>
        });
        parent.continuous_plan()?(w, up)?;
        w.explain.push(format!("  with_watermark({delay}) (fused)"));
        Ok(())
    })
}

/// The continuous plan of a keyed running aggregation over `parent` (grouped by `key`, no
/// window): `make` builds the operator (with its state store) for the query.
pub(crate) fn aggregate<T: Data, S: Shape, K: Key + StateData, A: Aggregator<T>>(
    parent: &Dataset<T, S>,
    name: &str,
    key: KeyFn<T, K>,
    make: impl Fn(&Planner) -> Arc<AggOperator<T, K, A>> + Send + Sync + 'static,
) -> Arc<ContinuousPlan<AggRow<K, A::Output>>> {
    let parent = parent.clone();
    let name = name.to_string();
    Arc::new(
        move |w: &mut Wiring<'_>, down: Downstream<AggRow<K, A::Output>>| {
            let op = make(w.planner);
            w.planner.stateful.push(op.clone());
            let n = w.parallelism();
            let upstreams = Arc::new(AtomicUsize::new(0));
            let updated = Arc::new(AtomicU64::new(0));
            let mut senders = Vec::with_capacity(n);
            for partition in 0..n {
                let (tx, rx) = crossbeam_channel::bounded(CHANNEL_CAPACITY);
                senders.push(tx);
                let (resume, resumed) = crossbeam_channel::bounded(1);
                w.resumers.push(resume);
                let task = tasks::AggTask {
                    partition,
                    input: rx,
                    resumed,
                    out: down(),
                    op: op.clone(),
                    upstreams: upstreams.clone(),
                    updated: updated.clone(),
                    emit: w.emit,
                };
                w.tasks.push((
                    format!("aggregate-{partition}"),
                    Box::new(move |env| task.spawn(env)),
                ));
            }
            let hook_op = op.clone();
            w.epoch_hooks.push(Box::new(move || {
                hook_op.note_epoch(updated.swap(0, Ordering::AcqRel))
            }));
            let (key, op) = (key.clone(), op.clone());
            let router: Downstream<T> = Arc::new(move || {
                Box::new(tasks::Route {
                    upstream: upstreams.fetch_add(1, Ordering::AcqRel),
                    key: key.clone(),
                    op: op.clone(),
                    senders: senders.clone(),
                }) as Out<T>
            });
            parent.continuous_plan()?(w, router)?;
            let emit = match w.emit {
                Some(every) => format!("latest row per group every {every}"),
                None => "each change at once".into(),
            };
            w.explain.push(format!(
            "  → route by key (stable hash) → aggregation tasks ×{n}: {name} (running, Update mode, {emit})"
        ));
            Ok(())
        },
    )
}
