//! [`StreamingQuery`]: a running query, and what its batches report.
//!
//! A query runs on the engine's one driver (`exec/driver.rs`) with the trigger it was given:
//! batch ids 0, 1, 2 …, each over the source offsets planned before it runs. What is the
//! query's own is here: [`QueryReports`], the driver's hooks for the watermark (computed at the
//! end of each batch and used from the next; a no-data batch when it moved and a stateful
//! operator may have something to emit or drop), status, progress reports and listener events.
//!
//! Nothing sleeps on a manual clock: the driver waits on the clock, and sources wake it when
//! data arrives. [`StreamingQuery::process_all_available`] is how tests wait for the engine.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::dataset::Dataset;
use super::output_mode::OutputMode;
use super::plan::{Planner, RunShared, StatefulRun};
use super::progress::{
    EventTimeProgress, QueryIdleEvent, QueryProgress, QueryStartedEvent, QueryStatus, QueryTerminatedEvent,
    SinkProgress, SourceProgress,
};
use super::session::Session;
use super::trigger::{Trigger, TriggerKind};
use crate::context::ContextState;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::event_time::iso;
use crate::event_time::watermark::{MultipleWatermarkPolicy, WatermarkState, WatermarkTracker};
use crate::exec::lock;
use crate::exec::{Completed, Driver, JobControl, Schedule, Vocabulary};
use crate::sink::{Sink, SinkContext, SinkOutput};
use crate::source::{SourceContext, SourceRun};
use crate::state::StateSnapshot;
use crate::time::{Duration, Time};

/// How many progress reports a query keeps (Spark's `spark.sql.streaming.numRecentProgressUpdates`).
const RECENT_PROGRESS: usize = 100;

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

pub(crate) struct QueryOptions<T: Data> {
    pub(crate) ds: Dataset<T>,
    pub(crate) sink: Arc<dyn Sink<T>>,
    pub(crate) mode: OutputMode,
    pub(crate) trigger: Trigger,
    pub(crate) name: Option<String>,
    pub(crate) policy: MultipleWatermarkPolicy,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) resume: Option<ResumeState>,
}

/// What a query shows while it runs.
struct QueryInfo {
    status: QueryStatus,
    recent: VecDeque<QueryProgress>,
    resume: ResumeState,
}

struct Shared {
    id: String,
    run_id: String,
    name: Option<String>,
    explain: String,
    session: Session,
    control: Arc<JobControl>,
    info: Mutex<QueryInfo>,
    /// The stateful operators, whose state a stopped query hands to the next run.
    stateful: Vec<Arc<dyn StatefulRun>>,
}

impl Shared {
    fn update(&self, f: impl FnOnce(&mut QueryInfo)) {
        f(&mut lock(&self.info));
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
        let sink_name = sink.name();
        planner.graph.add_output(
            &node.meta,
            Box::new(SinkOutput {
                node: node.clone(),
                sink,
                count_rows: true,
            }),
        );
        if !resume.source_offsets.is_empty() && resume.source_offsets.len() != planner.sources.len() {
            return Err(Error::InvalidConfig(format!(
                "cannot resume: the saved state has {} source offsets but the query reads {} sources; resume a query with the same pipeline",
                resume.source_offsets.len(),
                planner.sources.len()
            )));
        }
        let resuming = resume.next_batch_id > 0 || !resume.source_offsets.is_empty();
        if resuming {
            tracker.restore(&resume.watermark)?;
        }
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
            source.restore_committed(&serde_json::Value::from(*offset))?;
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
        let now = clock.now();
        let control = JobControl::new(format!("query {}", name.as_deref().unwrap_or(&id)), clock.clone());
        let waker_control = control.clone();
        let source_ctx =
            SourceContext::new(Arc::new(move || waker_control.wake()), now, session.parallelism());
        let stop_sources = crate::exec::start_all(&planner.sources, &source_ctx)?;
        let sink_ctx = SinkContext::new(id.clone(), mode);
        for output in &planner.graph.outputs {
            if let Err(e) = output.run.start(&sink_ctx) {
                stop_sources();
                return Err(e);
            }
        }
        tracker.start(now);
        let shared = Arc::new(Shared {
            id: id.clone(),
            run_id: new_uuid(),
            name,
            explain,
            session: session.clone(),
            control: control.clone(),
            info: Mutex::new(QueryInfo {
                status: QueryStatus {
                    message: "Initializing sources".into(),
                    is_data_available: false,
                    is_trigger_active: false,
                },
                recent: VecDeque::new(),
                resume: ResumeState { id, ..resume.clone() },
            }),
            stateful: planner.stateful.clone(),
        });
        let started = QueryStartedEvent {
            id: shared.id.clone(),
            run_id: shared.run_id.clone(),
            name: shared.name.clone(),
            timestamp: iso(now),
        };
        session
            .inner
            .bus
            .post_query("on_query_started", |l| l.on_query_started(&started));
        let reports = QueryReports {
            shared: shared.clone(),
            run,
            tracker,
            sources: planner.sources.clone(),
            stateful: planner.stateful.clone(),
            sink_name,
            need_no_data: false,
            last_trigger: None,
        };
        let schedule = match trigger.kind {
            TriggerKind::Default => Schedule::Default,
            TriggerKind::ProcessingTime(interval) => Schedule::ProcessingTime(interval),
            TriggerKind::Once => Schedule::Once,
            TriggerKind::AvailableNow => Schedule::AvailableNow,
            // Rejected by the writer's checks before a query starts.
            TriggerKind::Invalid(message) => return Err(Error::InvalidConfig(message)),
        };
        let driver = Driver {
            control: control.clone(),
            clock,
            sources: planner.sources.clone(),
            inputs: planner.graph.inputs.clone(),
            outputs: planner.graph.outputs.clone(),
            forgetters: planner.graph.forgetters.clone(),
            schedule,
            vocabulary: Box::new(reports),
            next_id: resume.next_batch_id,
            last_time: None,
            last_plan: None,
        };
        control.update(|s| s.phase = ContextState::Active);
        let thread_name = format!("query-{}", shared.name.as_deref().unwrap_or(&shared.id[..8]));
        let handle = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || driver.run())
            .map_err(|e| Error::io("cannot start the query thread", e))?;
        control.set_thread(handle);
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
        self.shared.control.phase() == ContextState::Active
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
        self.shared.control.error()
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
        lock(&self.shared.info).status.clone()
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
        lock(&self.shared.info).recent.back().cloned()
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
        lock(&self.shared.info).recent.iter().cloned().collect()
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
        let mut resume = lock(&self.shared.info).resume.clone();
        if !self.is_active() {
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
        self.shared.control.request_stop(false);
        self.shared
            .control
            .join(self.shared.session.inner.exec.is_worker_thread());
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
        self.shared.control.await_termination(None).map(|_| ())
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
        let timeout = timeout.into_duration()?.to_std();
        self.shared.control.await_termination(Some(timeout))
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
        self.shared.control.await_idle()
    }
}

/// A query's hooks on the driver: watermark, no-data batches, status, progress, listeners.
struct QueryReports {
    shared: Arc<Shared>,
    run: Arc<RunShared>,
    tracker: Arc<WatermarkTracker>,
    sources: Vec<Arc<dyn SourceRun>>,
    stateful: Vec<Arc<dyn StatefulRun>>,
    sink_name: String,
    /// The watermark moved in the last batch and a stateful operator may have rows to emit.
    need_no_data: bool,
    last_trigger: Option<Time>,
}

impl Vocabulary for QueryReports {
    fn watermark(&self) -> Option<Time> {
        self.tracker.has_inputs().then(|| self.tracker.current())
    }

    fn wants_no_data_batch(&self) -> bool {
        self.need_no_data
    }

    fn status(&mut self, message: &str, data_available: bool, trigger_active: bool) {
        self.shared.update(|s| {
            s.status = QueryStatus {
                message: message.to_string(),
                is_data_available: data_available,
                is_trigger_active: trigger_active,
            }
        });
    }

    fn planned(&mut self, plan: &crate::exec::BatchPlan) {
        self.run.batch_id.store(plan.batch.id, Ordering::Release);
    }

    fn completed(&mut self, batch: &Completed<'_>) -> Result<()> {
        let plan = batch.plan;
        let id = plan.batch.id;
        let trigger_time = batch.trigger_time;
        let watermark = self.tracker.current();
        let end = self.tracker.end_batch(self.shared.session.clock().now());
        self.need_no_data = end.advanced && !self.stateful.is_empty();
        let timings = batch.timings;
        let num_input_rows: u64 = batch.source_rows.iter().sum();
        let secs_since_last = self
            .last_trigger
            .map(|t| (trigger_time - t) as f64 / 1_000.0)
            .filter(|s| *s > 0.0);
        self.last_trigger = Some(trigger_time);
        let per_sec = |n: u64, secs: Option<f64>| secs.map_or(0.0, |s| n as f64 / s);
        let processing_secs = Some(timings.total.as_secs_f64()).filter(|s| *s > 0.0);
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        let duration_ms: BTreeMap<String, u64> = [
            ("latestOffset", ms(timings.latest_offset)),
            ("walCommit", ms(timings.plan)),
            ("addBatch", ms(timings.run)),
            ("sink", ms(timings.commit)),
            ("triggerExecution", ms(timings.total)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let offset_number = |v: &serde_json::Value| v.as_u64().unwrap_or_default();
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
                watermark: self.tracker.has_inputs().then(|| iso(watermark)),
            },
            state_operators: self.stateful.iter().map(|s| s.progress()).collect(),
            sources: plan
                .sources
                .iter()
                .enumerate()
                .map(|(i, range)| SourceProgress {
                    description: range.source.clone(),
                    start_offset: offset_number(&range.start),
                    end_offset: offset_number(&range.end),
                    num_input_rows: batch.source_rows[i],
                    input_rows_per_second: per_sec(batch.source_rows[i], secs_since_last),
                    processed_rows_per_second: per_sec(batch.source_rows[i], processing_secs),
                    num_malformed_rows: batch.source_malformed[i],
                })
                .collect(),
            sink: SinkProgress {
                description: self.sink_name.clone(),
                num_output_rows: batch.output_rows,
            },
        };
        let resume = ResumeState {
            id: self.shared.id.clone(),
            next_batch_id: id + 1,
            source_offsets: self
                .sources
                .iter()
                .map(|s| offset_number(&s.committed()))
                .collect(),
            watermark: self.tracker.state(),
            operator_state: OperatorState::default(),
        };
        self.shared
            .session
            .inner
            .bus
            .post_query("on_query_progress", |l| l.on_query_progress(&progress));
        self.shared.update(|s| {
            if s.recent.len() == RECENT_PROGRESS {
                s.recent.pop_front();
            }
            s.recent.push_back(progress);
            s.resume = resume;
        });
        Ok(())
    }

    fn idle(&mut self) {
        let event = QueryIdleEvent {
            id: self.shared.id.clone(),
            run_id: self.shared.run_id.clone(),
            timestamp: iso(self.shared.session.clock().now()),
        };
        self.shared
            .session
            .inner
            .bus
            .post_query("on_query_idle", |l| l.on_query_idle(&event));
    }

    fn terminated(&mut self, error: Option<&Error>) {
        if let Some(e) = error {
            log::error!("query {}: {e}", self.shared.id);
        }
        let event = QueryTerminatedEvent {
            id: self.shared.id.clone(),
            run_id: self.shared.run_id.clone(),
            exception: error.map(|e| e.to_string()),
        };
        // Listeners hear about the end before anyone waiting for it wakes up.
        self.shared
            .session
            .inner
            .bus
            .post_query("on_query_terminated", |l| l.on_query_terminated(&event));
        self.status("Stopped", false, false);
    }
}
