//! [`StreamingQuery`]: a running query, and the micro-batch loop that drives it.
//!
//! The loop runs on the query's own thread, on the session's clock and worker pool:
//!
//! 1. wait for the trigger (at once for the default trigger; the next multiple of the interval
//!    for `processing_time`);
//! 2. ask every source for its latest offset; if there is new data — or the watermark moved
//!    at the end of the previous batch and a stateful operator may have something to emit or
//!    drop (a *no-data batch*) — run batch `id` over `[committed, latest)`;
//! 3. running a batch is what the DStream scheduler does for one batch time: generate the
//!    sources' batches, run the output (which pulls its batch through the graph on the worker
//!    pool), let the nodes forget; then the watermark for the next batch is computed, the
//!    offsets are committed and a [`QueryProgress`] is reported.
//!
//! Nothing sleeps on a manual clock: the loop waits on the clock, and sources wake it when
//! data arrives. [`StreamingQuery::process_all_available`] is how tests wait for the engine.

use std::collections::{BTreeMap, VecDeque};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::Instant;

use super::dataset::Dataset;
use super::event_time::iso;
use super::output_mode::OutputMode;
use super::plan::{Planner, RunShared, SourceRun, StatefulRun, Waker};
use super::progress::{
    EventTimeProgress, QueryIdleEvent, QueryProgress, QueryStartedEvent, QueryStatus, QueryTerminatedEvent,
    SinkProgress, SourceProgress,
};
use super::session::{Session, lock};
use super::trigger::{Trigger, TriggerKind};
use super::watermark::{MultipleWatermarkPolicy, WatermarkState, WatermarkTracker};
use super::writer::Sink;
use crate::batch::Batch;
use crate::context::clone_error;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::exec::{OperatorPanic, panic_message};
use crate::graph::{ForgetOld, InputNode, OutputOp};
use crate::state::StateSnapshot;
use crate::time::{Clock, Duration, Time};

/// How many progress reports a query keeps (Spark's `spark.sql.streaming.numRecentProgressUpdates`).
const RECENT_PROGRESS: usize = 100;
/// How often the default trigger looks at sources that cannot wake it (clock time).
const POLL_DELAY: Duration = Duration::from_millis(10);
/// How often a waiting query looks for a stop request even if nobody notifies it (wall time).
const REAL_POLL: std::time::Duration = std::time::Duration::from_millis(50);

/// What a query needs to carry on where an earlier run stopped: its id, the next batch id, the
/// sources' committed offsets, the watermark and — taken from a stopped query — the state of its
/// stateful operators (open windows, running counts). Full checkpointing writes this to disk;
/// until then a program (or test harness) can keep it, or write it out with serde, and pass it
/// to [`DataStreamWriter::resume_from`](super::DataStreamWriter::resume_from).
///
/// The operator state is serialized with the rest: each partition of each stateful operator
/// as bytes (see [`crate::state`]), so a `ResumeState` written to JSON and read back resumes
/// with its open windows. A query must be resumed with the same pipeline and parallelism
/// (state partitions are not re-split). Resuming a stateful query from a state that has offsets
/// but no operator state (taken from a running query) is refused rather than losing the open
/// windows.
///
/// ```
/// # use streamflow::structured::*;
/// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
/// let input = MemoryStream::<String>::new();
/// let counts = || session.read_stream::<String>().memory(&input).group_by(|w| w.clone()).count()
///     .write_stream().output_mode(OutputMode::Complete);
/// let first = counts().memory("first").start()?;
/// input.add_data(["cat".to_string()]);
/// first.process_all_available()?;
/// first.stop()?;
/// let saved = serde_json::to_string(&first.resume_state()).unwrap(); // e.g. to a file
///
/// let state: ResumeState = serde_json::from_str(&saved).unwrap();
/// let second = counts().memory("second").resume_from(state).start()?;
/// input.add_data(["cat".to_string()]);
/// second.process_all_available()?;
/// let rows = session.memory_table::<AggRow<String, u64>>("second")?.rows();
/// assert_eq!(rows[0].value, 2); // the count carried over
/// second.stop()?;
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResumeState {
    /// The query's id, kept across restarts.
    pub id: String,
    /// The id of the next batch to run.
    pub next_batch_id: u64,
    /// Each source's committed offset, in plan order.
    pub source_offsets: Vec<u64>,
    /// The watermark and its inputs.
    pub watermark: WatermarkState,
    /// The state of each stateful operator, in plan order (present when taken from a stopped
    /// query).
    #[serde(default)]
    pub(crate) operator_state: OperatorState,
}

/// The state of a query's stateful operators: per operator, a snapshot of each partition.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct OperatorState(Vec<Vec<StateSnapshot>>);

impl std::fmt::Debug for OperatorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes: usize = self.0.iter().flatten().map(|s| s.bytes.len()).sum();
        write!(f, "OperatorState({} operators, {bytes} bytes)", self.0.len())
    }
}

pub(crate) struct QueryOptions<T> {
    pub(crate) ds: Dataset<T>,
    pub(crate) sink: Arc<dyn Sink<T>>,
    pub(crate) mode: OutputMode,
    pub(crate) trigger: Trigger,
    pub(crate) name: Option<String>,
    pub(crate) policy: MultipleWatermarkPolicy,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) resume: Option<ResumeState>,
}

struct RunState {
    active: bool,
    error: Option<Error>,
    status: QueryStatus,
    recent: VecDeque<QueryProgress>,
    /// The highest wake-up number at which the loop found nothing left to do.
    idle_seq: u64,
    resume: ResumeState,
}

struct Shared {
    id: String,
    run_id: String,
    name: Option<String>,
    explain: String,
    session: Session,
    clock: Arc<dyn Clock>,
    state: Mutex<RunState>,
    changed: Condvar,
    stop: AtomicBool,
    wake: AtomicU64,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The stateful operators, whose state a stopped query hands to the next run.
    stateful: Vec<Arc<dyn StatefulRun>>,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut RunState)) {
        f(&mut lock(&self.state));
        self.changed.notify_all();
    }

    fn status(&self, message: &str, data: bool, active: bool) {
        self.update(|s| {
            s.status = QueryStatus {
                message: message.to_string(),
                is_data_available: data,
                is_trigger_active: active,
            }
        });
    }

    fn wake(&self) {
        self.wake.fetch_add(1, Ordering::AcqRel);
        self.clock.notify_all();
    }
}

/// A running query (Spark's `StreamingQuery`): made by
/// [`DataStreamWriter::start`](super::DataStreamWriter::start). Clones are handles to the same
/// query.
///
/// # Examples
///
/// ```
/// use streamflow::structured::{MemoryStream, Session};
///
/// let session = Session::new(1)?;
/// let input = MemoryStream::<i64>::new();
/// let query = session.read_stream::<i64>().memory(&input).write_stream().memory("q").query_name("q").start()?;
/// assert!(query.is_active());
/// assert!(query.explain().contains("memory_stream"));
/// input.add_data([1, 2]);
/// query.process_all_available()?;
/// assert_eq!(query.recent_progress().len(), 1);
/// query.stop()?;
/// assert!(!query.is_active());
/// assert!(query.await_termination_or_timeout("1 s")?);
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone)]
pub struct StreamingQuery {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for StreamingQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingQuery")
            .field("id", &self.shared.id)
            .field("run_id", &self.shared.run_id)
            .field("name", &self.shared.name)
            .finish()
    }
}

/// A random UUID (version 4 layout) from the standard library's random hasher keys.
fn new_uuid() -> String {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut words = [0_u64; 2];
    for w in &mut words {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(seed);
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        *w = h.finish();
    }
    let (a, b) = (words[0], words[1]);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0x0fff,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

impl StreamingQuery {
    pub(crate) fn start<T: Data>(options: QueryOptions<T>) -> Result<StreamingQuery> {
        let QueryOptions {
            ds,
            sink,
            mode,
            trigger,
            name,
            policy,
            idle_timeout,
            resume,
        } = options;
        let session = ds.session.clone();
        let clock = session.clock();
        let resume = resume.unwrap_or_default();
        let tracker = Arc::new(WatermarkTracker::new(policy, idle_timeout));
        let run = Arc::new(RunShared {
            batch_id: AtomicU64::new(resume.next_batch_id),
            watermark: tracker.clone(),
            mode,
        });
        let mut planner = Planner::new(session.inner.exec.clone(), run.clone());
        let node = ds.node(&mut planner)?;
        let timings = Arc::new(Mutex::new(SinkTimings::default()));
        let output = {
            let (node, sink, timings, run) = (node.clone(), sink.clone(), timings.clone(), run.clone());
            Box::new(move |time: Time| -> Result<()> {
                let started = Instant::now();
                let Some(batch) = node.get_or_compute(time)? else {
                    return Ok(());
                };
                let exec = batch.executor().clone();
                let partitions = batch.collect_partitions();
                let rows: u64 = partitions.iter().map(|p| p.len() as u64).sum();
                let computed = Instant::now();
                sink.add_batch(
                    run.batch_id(),
                    Batch::from_partitions(partitions, time, exec),
                    mode,
                )?;
                *lock(&timings) = SinkTimings {
                    add_batch: computed - started,
                    sink: computed.elapsed(),
                    rows,
                };
                Ok(())
            })
        };
        planner.graph.add_output(&sink.description(), &node.meta, output);
        if !resume.source_offsets.is_empty() && resume.source_offsets.len() != planner.sources.len() {
            return Err(Error::InvalidConfig(format!(
                "cannot resume: the saved state has {} source offsets but the query reads {} sources; resume a query with the same pipeline",
                resume.source_offsets.len(),
                planner.sources.len()
            )));
        }
        if resume.next_batch_id > 0 || !resume.source_offsets.is_empty() {
            tracker.restore(&resume.watermark)?;
        }
        let resuming = resume.next_batch_id > 0 || !resume.source_offsets.is_empty();
        if resuming && !planner.stateful.is_empty() {
            if resume.operator_state.0.len() != planner.stateful.len() {
                let names: Vec<&str> = planner.stateful.iter().map(|op| op.name()).collect();
                return Err(Error::InvalidConfig(format!(
                    "cannot resume: the saved state carries no state for `{}`, so its open groups would be lost; take resume_state() from the stopped query (a running query's has no operator state)",
                    names.join("`, `")
                )));
            }
            for (op, snapshots) in planner.stateful.iter().zip(&resume.operator_state.0) {
                op.state().restore_all(snapshots)?;
            }
        }
        for (source, offset) in planner.sources.iter().zip(&resume.source_offsets) {
            source.set_committed(*offset);
        }
        let id = if resume.id.is_empty() {
            new_uuid()
        } else {
            resume.id.clone()
        };
        let header = format!(
            "== query {} (id {id}, {mode} mode, trigger {trigger}) ==",
            name.as_deref().unwrap_or("<unnamed>")
        );
        let explain = crate::graph::explain(&planner.graph, &header);
        for (i, source) in planner.sources.iter().enumerate() {
            if let Err(e) = source.start() {
                planner.sources[..i].iter().for_each(|s| s.stop());
                return Err(e);
            }
        }
        let now = clock.now();
        planner.graph.clock.set_zero(now - Duration::from_millis(1));
        tracker.start(now);
        let shared = Arc::new(Shared {
            id: id.clone(),
            run_id: new_uuid(),
            name,
            explain,
            session: session.clone(),
            clock: clock.clone(),
            state: Mutex::new(RunState {
                active: true,
                error: None,
                status: QueryStatus {
                    message: "Initializing sources".into(),
                    is_data_available: false,
                    is_trigger_active: false,
                },
                recent: VecDeque::new(),
                idle_seq: 0,
                resume: ResumeState { id, ..resume.clone() },
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            wake: AtomicU64::new(1),
            thread: Mutex::new(None),
            stateful: planner.stateful.clone(),
        });
        let weak: Weak<Shared> = Arc::downgrade(&shared);
        let waker: Waker = Arc::new(move || {
            if let Some(s) = weak.upgrade() {
                s.wake();
            }
        });
        for source in &planner.sources {
            source.set_waker(waker.clone());
        }
        let started = QueryStartedEvent {
            id: shared.id.clone(),
            run_id: shared.run_id.clone(),
            name: shared.name.clone(),
            timestamp: iso(now),
        };
        for l in session.listeners() {
            l.on_query_started(&started);
        }
        let runner = Runner {
            shared: shared.clone(),
            run,
            tracker,
            sources: planner.sources.clone(),
            stateful: planner.stateful.clone(),
            inputs: planner.graph.inputs.clone(),
            outputs: planner.graph.outputs.clone(),
            forgetters: planner.graph.forgetters.clone(),
            sink_name: sink.description(),
            timings,
            trigger: trigger.kind.clone(),
            next_batch_id: resume.next_batch_id,
            last_time: now - Duration::from_millis(1),
            last_trigger: None,
        };
        let thread_name = format!("query-{}", shared.name.as_deref().unwrap_or(&shared.id[..8]));
        let handle = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || runner.run())
            .map_err(|e| Error::io("cannot start the query thread", e))?;
        *lock(&shared.thread) = Some(handle);
        Ok(StreamingQuery { shared })
    }

    /// The query's id: the same across restarts that resume from its state.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let first = session.read_stream::<i64>().memory(&input).write_stream().memory("ids").start()?;
    /// assert_eq!(first.id().len(), 36); // a UUID
    /// first.stop()?;
    /// let second = session.read_stream::<i64>().memory(&input).write_stream().memory("ids")
    ///     .resume_from(first.resume_state()).start()?;
    /// assert_eq!(second.id(), first.id());
    /// second.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn id(&self) -> &str {
        &self.shared.id
    }

    /// This run's id: new at every start.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let first = session.read_stream::<i64>().memory(&input).write_stream().memory("runs").start()?;
    /// first.stop()?;
    /// let second = session.read_stream::<i64>().memory(&input).write_stream().memory("runs")
    ///     .resume_from(first.resume_state()).start()?;
    /// assert_eq!(second.id(), first.id()); // the same query …
    /// assert_ne!(second.run_id(), first.run_id()); // … run again
    /// second.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn run_id(&self) -> &str {
        &self.shared.run_id
    }

    /// The name given with `query_name`.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let named = session.read_stream::<i64>().memory(&input).write_stream()
    ///     .query_name("clicks").memory("clicks").start()?;
    /// let unnamed = session.read_stream::<i64>().memory(&input).write_stream().memory("other").start()?;
    /// assert_eq!(named.name(), Some("clicks"));
    /// assert_eq!(unnamed.name(), None);
    /// named.stop()?;
    /// unnamed.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn name(&self) -> Option<&str> {
        self.shared.name.as_deref()
    }

    /// The query's plan: its fused stages over the engine's graph, the output mode and the
    /// trigger.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input)
    ///     .filter(|x| *x > 0).map(|x| x * 2)
    ///     .write_stream().query_name("doubled").memory("doubled").start()?;
    /// let plan = query.explain();
    /// assert!(plan.contains("query doubled") && plan.contains("Append mode"), "{plan}");
    /// assert!(plan.contains("memory_stream") && plan.contains("filter") && plan.contains("map"), "{plan}");
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn explain(&self) -> String {
        self.shared.explain.clone()
    }

    /// Whether the query is running.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input).write_stream().memory("active").start()?;
    /// assert!(query.is_active());
    /// query.stop()?;
    /// assert!(!query.is_active());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn is_active(&self) -> bool {
        lock(&self.shared.state).active
    }

    /// The error that stopped the query, if it failed.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input).write_stream()
    ///     .foreach_batch(|_, _| Err::<(), _>("the database is down"))
    ///     .start()?;
    /// assert!(query.exception().is_none());
    /// input.add_data([1]);
    /// assert!(query.process_all_available().is_err());
    /// let error = query.exception().unwrap();
    /// assert!(error.to_string().contains("the database is down"), "{error}");
    /// assert!(!query.is_active());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn exception(&self) -> Option<Error> {
        lock(&self.shared.state).error.as_ref().map(clone_error)
    }

    /// What the query is doing now.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input).write_stream().memory("status").start()?;
    /// input.add_data([1]);
    /// query.process_all_available()?;
    /// let status = query.status();
    /// assert_eq!(status.message, "Waiting for data to arrive");
    /// assert!(!status.is_trigger_active);
    /// query.stop()?;
    /// assert_eq!(query.status().message, "Stopped");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn status(&self) -> QueryStatus {
        lock(&self.shared.state).status.clone()
    }

    /// The report of the last batch.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input)
    ///     .filter(|x| x % 2 == 1).write_stream().memory("odd").start()?;
    /// assert!(query.last_progress().is_none());
    /// input.add_data([1, 2, 3]);
    /// query.process_all_available()?;
    /// let p = query.last_progress().unwrap();
    /// assert_eq!((p.batch_id, p.num_input_rows, p.sink.num_output_rows), (0, 3, 2));
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn last_progress(&self) -> Option<QueryProgress> {
        lock(&self.shared.state).recent.back().cloned()
    }

    /// The reports of the recent batches (up to 100), oldest first.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input).write_stream().memory("recent").start()?;
    /// input.add_data([1]);
    /// query.process_all_available()?;
    /// input.add_data([2, 3]);
    /// query.process_all_available()?;
    /// let batches: Vec<(u64, u64)> =
    ///     query.recent_progress().iter().map(|p| (p.batch_id, p.num_input_rows)).collect();
    /// assert_eq!(batches, [(0, 1), (1, 2)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn recent_progress(&self) -> Vec<QueryProgress> {
        lock(&self.shared.state).recent.iter().cloned().collect()
    }

    /// What a new run needs to carry on from here (see [`ResumeState`]).
    ///
    /// Taken from a stopped query it also carries the state of the stateful operators, as
    /// bytes that survive serialization; taken from a running one it does not (a batch may be
    /// changing that state), so stop first.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input).write_stream().memory("resume").start()?;
    /// input.add_data([1]);
    /// input.add_data([2]);
    /// query.process_all_available()?;
    /// query.stop()?;
    /// let state = query.resume_state();
    /// assert_eq!(state.id, query.id());
    /// assert_eq!(state.source_offsets, [2]); // both add_data calls were read
    /// assert_eq!(state.next_batch_id, query.recent_progress().len() as u64);
    /// // Offsets, watermark and operator state survive a round trip through JSON.
    /// let saved: ResumeState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    /// assert_eq!(saved, state);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn resume_state(&self) -> ResumeState {
        let (mut resume, active) = {
            let state = lock(&self.shared.state);
            (state.resume.clone(), state.active)
        };
        if !active {
            let snapshots = self.shared.stateful.iter().map(|op| op.state().snapshot_all());
            match snapshots.collect::<Result<Vec<_>>>() {
                Ok(snapshots) => resume.operator_state = OperatorState(snapshots),
                // Resuming from it is then refused, naming the operators without state.
                Err(e) => log::error!("resume_state() carries no operator state: {e}"),
            }
        }
        resume
    }

    /// Stops the query after the batch that is running, and waits for its thread. Stopping a
    /// stopped query does nothing; a failure is reported by
    /// [`await_termination`](Self::await_termination), not here.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input).write_stream().memory("stopped").start()?;
    /// query.stop()?;
    /// query.stop()?; // stopping again does nothing
    /// input.add_data([1]); // nobody reads it any more
    /// assert!(!query.is_active());
    /// assert!(query.last_progress().is_none());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn stop(&self) -> Result<()> {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.clock.notify_all();
        self.shared.changed.notify_all();
        let handle = lock(&self.shared.thread).take();
        if let Some(handle) = handle {
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
        Ok(())
    }

    /// Blocks until the query stops; returns its error if it failed.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// input.add_data([1, 2]);
    /// let query = session.read_stream::<i64>().memory(&input).write_stream()
    ///     .trigger(Trigger::once()).memory("once").start()?;
    /// query.await_termination()?; // Trigger::once stops after its batch
    /// assert_eq!(session.memory_table::<i64>("once")?.rows(), [1, 2]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn await_termination(&self) -> Result<()> {
        let mut state = lock(&self.shared.state);
        while state.active {
            state = self.shared.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.error.as_ref().map_or(Ok(()), |e| Err(clone_error(e)))
    }

    /// Like [`await_termination`](Self::await_termination), giving up after `timeout` (wall
    /// time): `Ok(true)` if the query stopped, `Ok(false)` on timeout.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input).write_stream().memory("timeout").start()?;
    /// assert!(!query.await_termination_or_timeout("20 ms")?); // still running
    /// query.stop()?;
    /// assert!(query.await_termination_or_timeout("1 s")?);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn await_termination_or_timeout(&self, timeout: impl crate::IntoDuration) -> Result<bool> {
        let deadline = Instant::now() + timeout.into_duration()?.to_std();
        let mut state = lock(&self.shared.state);
        while state.active {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(false);
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        state.error.as_ref().map_or(Ok(true), |e| Err(clone_error(e)))
    }

    /// Blocks until every record available in the sources when called has been processed and
    /// handed to the sink, along with the no-data batches it causes under the default trigger
    /// (Spark's `processAllAvailable`). With a processing-time trigger, the batches run at the
    /// trigger times: move a manual clock first. Returns the query's error if it failed.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input)
    ///     .with_watermark(|ms| *ms, "1 second")
    ///     .group_by_window(|_| "all".to_string(), tumbling_window("10 seconds")).count()
    ///     .write_stream().output_mode(OutputMode::Append).memory("windows").start()?;
    /// input.add_data([1_000, 2_000, 15_000]);
    /// query.process_all_available()?;
    /// // Batch 0 moved the watermark to 14 s; the no-data batch 1 emitted the window [0 s, 10 s).
    /// assert_eq!(query.last_progress().unwrap().batch_id, 1);
    /// let rows = session.memory_table::<AggRow<String, u64>>("windows")?.rows();
    /// assert_eq!(rows.iter().map(|r| r.value).collect::<Vec<_>>(), [2]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn process_all_available(&self) -> Result<()> {
        let target = self.shared.wake.fetch_add(1, Ordering::AcqRel) + 1;
        self.shared.clock.notify_all();
        let mut state = lock(&self.shared.state);
        while state.active && state.idle_seq < target {
            state = self
                .shared
                .changed
                .wait_timeout(state, REAL_POLL)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        state.error.as_ref().map_or(Ok(()), |e| Err(clone_error(e)))
    }
}

#[derive(Default)]
struct SinkTimings {
    add_batch: std::time::Duration,
    sink: std::time::Duration,
    rows: u64,
}

struct Runner {
    shared: Arc<Shared>,
    run: Arc<RunShared>,
    tracker: Arc<WatermarkTracker>,
    sources: Vec<Arc<dyn SourceRun>>,
    stateful: Vec<Arc<dyn StatefulRun>>,
    inputs: Vec<Arc<dyn InputNode>>,
    outputs: Vec<Arc<OutputOp>>,
    forgetters: Vec<Arc<dyn ForgetOld>>,
    sink_name: String,
    timings: Arc<Mutex<SinkTimings>>,
    trigger: TriggerKind,
    next_batch_id: u64,
    last_time: Time,
    last_trigger: Option<Time>,
}

/// What a look at the sources found.
struct Plan {
    ends: Vec<u64>,
    has_data: bool,
    offsets_time: std::time::Duration,
}

impl Runner {
    fn stopping(&self) -> bool {
        self.shared.stop.load(Ordering::Acquire)
    }

    fn run(mut self) {
        let outcome = self.run_loop();
        for source in &self.sources {
            source.stop();
        }
        let error_text = outcome.as_ref().err().map(|e| e.to_string());
        if let Err(e) = &outcome {
            log::error!("query {}: {e}", self.shared.id);
        }
        let event = QueryTerminatedEvent {
            id: self.shared.id.clone(),
            run_id: self.shared.run_id.clone(),
            exception: error_text,
        };
        // Listeners hear about the end before anyone waiting for it wakes up.
        for l in self.shared.session.listeners() {
            l.on_query_terminated(&event);
        }
        self.shared.update(|s| {
            s.active = false;
            s.error = outcome.err();
            s.status = QueryStatus {
                message: "Stopped".into(),
                is_data_available: false,
                is_trigger_active: false,
            };
        });
    }

    fn run_loop(&mut self) -> Result<()> {
        // Both run over what is available at start, ignoring per-trigger read limits
        // (Spark: "the read limit is ignored when Trigger.Once is used").
        let available_now: Option<Vec<u64>> = match self.trigger {
            TriggerKind::AvailableNow | TriggerKind::Once => Some(
                self.sources
                    .iter()
                    .map(|s| s.available_offset())
                    .collect::<Result<_>>()?,
            ),
            _ => None,
        };
        let mut next_trigger: Option<Time> = None;
        let mut need_no_data = false;
        let mut idle = false;
        // The highest wake-up number this loop has answered with "nothing left".
        let mut marked = 0_u64;
        loop {
            if self.stopping() {
                return Ok(());
            }
            if let (TriggerKind::ProcessingTime(_), Some(at)) = (&self.trigger, next_trigger) {
                self.shared.status("Waiting for next trigger", false, false);
                loop {
                    // A trigger that is due (with a no-data batch pending, say) runs before
                    // anyone is told there is nothing to do.
                    if self.shared.clock.now() >= at {
                        break;
                    }
                    // Someone may be waiting in process_all_available since the last look: if
                    // there is nothing to do before the trigger, tell them.
                    let seen = self.shared.wake.load(Ordering::Acquire);
                    if seen > marked {
                        if self.look(available_now.as_deref())?.has_data {
                            self.shared.status("Waiting for next trigger", true, false);
                        } else {
                            self.shared.update(|s| s.idle_seq = s.idle_seq.max(seen));
                            marked = seen;
                        }
                    }
                    self.shared.clock.wait_until(at, REAL_POLL, &|| {
                        self.stopping() || self.shared.wake.load(Ordering::Acquire) != seen
                    });
                    if self.stopping() {
                        return Ok(());
                    }
                    if self.shared.clock.now() >= at {
                        break;
                    }
                }
            }
            let seq = self.shared.wake.load(Ordering::Acquire);
            let trigger_time = self.shared.clock.now();
            let plan = self.look(available_now.as_deref())?;
            let ran = if plan.has_data || need_no_data {
                idle = false;
                self.shared.status("Processing new data", plan.has_data, true);
                need_no_data = self.run_batch(&plan, trigger_time)?;
                true
            } else {
                false
            };
            if let TriggerKind::ProcessingTime(interval) = self.trigger {
                let iv = interval.millis().max(1) as i64;
                next_trigger = Some(Time::from_millis((trigger_time.millis().div_euclid(iv) + 1) * iv));
            }
            let finished = match self.trigger {
                TriggerKind::Once => true,
                TriggerKind::AvailableNow => !ran,
                _ => false,
            };
            if finished {
                return Ok(());
            }
            // Nothing left to do right now: say so (process_all_available waits for this).
            let nothing_left = if ran {
                let no_data_batch_next = need_no_data && self.trigger == TriggerKind::Default;
                !no_data_batch_next && !self.look(available_now.as_deref())?.has_data
            } else {
                true
            };
            if nothing_left {
                self.shared.status("Waiting for data to arrive", false, false);
                self.shared.update(|s| s.idle_seq = s.idle_seq.max(seq));
                marked = marked.max(seq);
                if !idle {
                    idle = true;
                    let event = QueryIdleEvent {
                        id: self.shared.id.clone(),
                        run_id: self.shared.run_id.clone(),
                        timestamp: iso(self.shared.clock.now()),
                    };
                    for l in self.shared.session.listeners() {
                        l.on_query_idle(&event);
                    }
                }
                if self.trigger == TriggerKind::Default {
                    let at = self.shared.clock.now() + POLL_DELAY;
                    self.shared.clock.wait_until(at, REAL_POLL, &|| {
                        self.stopping() || self.shared.wake.load(Ordering::Acquire) != seq
                    });
                }
            }
        }
    }

    /// The end offsets of the next batch, and whether it has data.
    fn look(&self, cap: Option<&[u64]>) -> Result<Plan> {
        let started = Instant::now();
        let mut ends = Vec::with_capacity(self.sources.len());
        let mut has_data = false;
        for (i, source) in self.sources.iter().enumerate() {
            let end = match cap {
                // Once reads everything available at start in one batch, read limits ignored.
                Some(cap) if self.trigger == TriggerKind::Once => cap[i],
                // Available-now goes up to it in as many limited batches as it takes.
                Some(cap) => source.latest_offset()?.min(cap[i]),
                None => source.latest_offset()?,
            };
            let end = end.max(source.committed());
            has_data |= end > source.committed();
            ends.push(end);
        }
        Ok(Plan {
            ends,
            has_data,
            offsets_time: started.elapsed(),
        })
    }

    /// Runs one micro-batch; returns whether the watermark moved (so a no-data batch may be
    /// needed).
    fn run_batch(&mut self, plan: &Plan, trigger_time: Time) -> Result<bool> {
        let wall = Instant::now();
        let id = self.next_batch_id;
        let time = trigger_time.max(self.last_time + Duration::from_millis(1));
        self.last_time = time;
        let starts: Vec<u64> = self.sources.iter().map(|s| s.committed()).collect();
        let watermark = self.tracker.current();
        // The offset log: what this batch reads, recorded before it runs.
        let wal = Instant::now();
        for (source, (start, end)) in self.sources.iter().zip(starts.iter().zip(&plan.ends)) {
            source.plan_batch(*start, *end);
        }
        self.run.batch_id.store(id, Ordering::Release);
        let wal_time = wal.elapsed();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| -> Result<()> {
            for input in &self.inputs {
                input.generate(time)?;
            }
            for output in &self.outputs {
                (output.run)(time)?;
            }
            Ok(())
        }));
        match outcome {
            Ok(result) => result?,
            Err(payload) => {
                let operator = match payload.downcast_ref::<OperatorPanic>() {
                    Some(p) => p.operator.to_string(),
                    None => self.sink_name.clone(),
                };
                return Err(Error::UserCode {
                    operator,
                    time: time.millis(),
                    message: panic_message(payload.as_ref()),
                });
            }
        }
        for node in &self.forgetters {
            node.forget_before(time);
        }
        let end = self.tracker.end_batch(self.shared.clock.now());
        let rows: Vec<u64> = self.sources.iter().map(|s| s.rows()).collect();
        let malformed: Vec<u64> = self.sources.iter().map(|s| s.take_malformed()).collect();
        for (source, end) in self.sources.iter().zip(&plan.ends) {
            source.commit(*end);
        }
        self.next_batch_id = id + 1;
        let timings = std::mem::take(&mut *lock(&self.timings));
        let total = wall.elapsed() + plan.offsets_time;
        let num_input_rows: u64 = rows.iter().sum();
        let secs_since_last = self
            .last_trigger
            .map(|t| (trigger_time - t) as f64 / 1_000.0)
            .filter(|s| *s > 0.0);
        self.last_trigger = Some(trigger_time);
        let per_sec = |n: u64, secs: Option<f64>| secs.map_or(0.0, |s| n as f64 / s);
        let processing_secs = Some(total.as_secs_f64()).filter(|s| *s > 0.0);
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        let duration_ms: BTreeMap<String, u64> = [
            ("latestOffset", ms(plan.offsets_time)),
            ("walCommit", ms(wal_time)),
            ("addBatch", ms(timings.add_batch)),
            ("sink", ms(timings.sink)),
            ("triggerExecution", ms(total)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let has_watermark = self.tracker.has_inputs();
        let progress = QueryProgress {
            id: self.shared.id.clone(),
            run_id: self.shared.run_id.clone(),
            name: self.shared.name.clone(),
            timestamp: iso(trigger_time),
            batch_id: id,
            num_input_rows,
            input_rows_per_second: per_sec(num_input_rows, secs_since_last),
            processed_rows_per_second: per_sec(num_input_rows, processing_secs),
            duration_ms,
            event_time: EventTimeProgress {
                min: (end.stats.count > 0).then(|| iso(Time::from_millis(end.stats.min))),
                max: (end.stats.count > 0).then(|| iso(Time::from_millis(end.stats.max))),
                avg: end.stats.avg().map(|a| iso(Time::from_millis(a))),
                watermark: has_watermark.then(|| iso(watermark)),
            },
            state_operators: self.stateful.iter().map(|s| s.progress()).collect(),
            sources: self
                .sources
                .iter()
                .enumerate()
                .map(|(i, s)| SourceProgress {
                    description: s.description(),
                    start_offset: starts[i],
                    end_offset: plan.ends[i],
                    num_input_rows: rows[i],
                    input_rows_per_second: per_sec(rows[i], secs_since_last),
                    processed_rows_per_second: per_sec(rows[i], processing_secs),
                    num_malformed_rows: malformed[i],
                })
                .collect(),
            sink: SinkProgress {
                description: self.sink_name.clone(),
                num_output_rows: timings.rows,
            },
        };
        let resume = ResumeState {
            id: self.shared.id.clone(),
            next_batch_id: id + 1,
            source_offsets: self.sources.iter().map(|s| s.committed()).collect(),
            watermark: self.tracker.state(),
            operator_state: OperatorState::default(),
        };
        for l in self.shared.session.listeners() {
            l.on_query_progress(&progress);
        }
        self.shared.update(|s| {
            if s.recent.len() == RECENT_PROGRESS {
                s.recent.pop_front();
            }
            s.recent.push_back(progress);
            s.resume = resume;
        });
        Ok(end.advanced && !self.stateful.is_empty())
    }
}
