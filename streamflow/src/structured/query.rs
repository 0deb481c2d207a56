//! [`StreamingQuery`]: the handle of a running query, and `start`, which plans it and hands
//! it to the driver.
//!
//! A query runs on the engine's one driver (`exec/driver.rs`) with the trigger it was given:
//! batch ids 0, 1, 2 …, each over the source offsets planned before it runs. What its batches
//! report — the watermark, no-data batches, status, progress and listener events — is the
//! driver hook `QueryReports` (`metrics/query.rs`); what a new run carries on from is a
//! [`ResumeState`] (`resume.rs`), where it stands.
//!
//! Nothing sleeps on a manual clock: the driver waits on the clock, and sources wake it when
//! data arrives. [`StreamingQuery::process_all_available`] is how tests wait for the engine.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::dataset::Dataset;
use super::output_mode::OutputMode;
use super::plan::{Planner, RunShared, StatefulRun};
use super::resume::ResumeState;
use super::session::Session;
use super::trigger::{Trigger, TriggerKind};
use crate::context::ContextState;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::event_time::watermark::{MultipleWatermarkPolicy, WatermarkTracker};
use crate::exec::{Driver, JobControl, Schedule};
use crate::metrics::progress::{QueryProgress, QueryStatus};
use crate::metrics::query::{QueryRecord, QueryReports};
use crate::sink::{Sink, SinkContext, SinkOutput};
use crate::source::SourceContext;
use crate::time::Duration;

pub(crate) struct QueryOptions<T: Data> {
    pub(crate) ds: Dataset<T>,
    pub(crate) sink: Arc<dyn Sink<T>>,
    pub(crate) mode: OutputMode,
    pub(crate) trigger: Trigger,
    pub(crate) name: Option<String>,
    pub(crate) policy: MultipleWatermarkPolicy,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) checkpoint: Option<std::path::PathBuf>,
    pub(crate) discard_torn_last: bool,
    pub(crate) no_data_batches: bool,
    /// `foreach`'s writer, which continuous mode gives each row as it comes.
    pub(crate) row_writers: Option<crate::exec::continuous::RowWriters<T>>,
}

struct Shared {
    /// Who the query is, and what its batches reported.
    record: Arc<QueryRecord>,
    explain: String,
    session: Session,
    control: Arc<JobControl>,
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
            .field("id", &self.shared.record.id)
            .field("run_id", &self.shared.record.run_id)
            .field("name", &self.shared.record.name)
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

/// The checkpoint's record of the multiple-watermark policy: the first run's wins.
const POLICY: &str = "multiple watermark policy";

fn parse_policy(text: &str) -> Option<MultipleWatermarkPolicy> {
    match text {
        "min" => Some(MultipleWatermarkPolicy::Min),
        "max" => Some(MultipleWatermarkPolicy::Max),
        _ => None,
    }
}

/// Opens a query's checkpoint at `dir`: its stateful operators, sources and settings checked
/// against those recorded, and where it carries on.
fn open_checkpoint(
    dir: &std::path::Path,
    planner: &super::plan::Planner,
    policy: MultipleWatermarkPolicy,
    parallelism: usize,
    discard_torn_last: bool,
) -> Result<crate::exec::Durability> {
    use crate::checkpoint::state::{DEFAULT_SNAPSHOT_EVERY, StateOwner};
    let stores = planner
        .stateful
        .iter()
        .map(|op| {
            let owner: Arc<dyn StateOwner> = Arc::new(op.clone());
            (owner, DEFAULT_SNAPSHOT_EVERY)
        })
        .collect();
    let policy = match policy {
        MultipleWatermarkPolicy::Min => "min",
        MultipleWatermarkPolicy::Max => "max",
    };
    let settings = crate::checkpoint::Settings {
        fixed: [
            ("number of sources".to_string(), planner.sources.len().to_string()),
            ("state partitions".to_string(), parallelism.to_string()),
        ]
        .into(),
        sticky: [(POLICY.to_string(), policy.to_string())].into(),
    };
    let options = crate::checkpoint::OpenOptions {
        discard_torn_last,
        ..crate::checkpoint::OpenOptions::default()
    };
    crate::checkpoint::open_for_job("query", dir, settings, stores, options, new_uuid)
}

impl crate::checkpoint::state::StateOwner for Arc<dyn StatefulRun> {
    fn handle(&self) -> &dyn crate::state::StateHandle {
        self.state()
    }
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
            checkpoint,
            discard_torn_last,
            no_data_batches,
            row_writers,
        } = options;
        let session = ds.session.clone();
        let clock = session.clock();
        let tracker = Arc::new(WatermarkTracker::new(policy, idle_timeout));
        let run = Arc::new(RunShared {
            batch_id: AtomicU64::new(0),
            watermark: tracker.clone(),
            mode,
            no_data_batches,
        });
        let mut planner = Planner::new(session.inner.exec.clone(), run.clone());
        let sink_name = sink.name();
        // A continuous query runs as long-lived tasks (`exec/continuous/`), not a graph.
        let mut continuous = match trigger.kind {
            TriggerKind::Continuous { interval, emit } => Some(crate::exec::continuous::plan(
                &ds,
                sink,
                row_writers,
                &mut planner,
                interval,
                emit,
            )?),
            _ => {
                let node = ds.node(&mut planner)?;
                planner.graph.add_output(
                    &node.meta,
                    Box::new(SinkOutput {
                        node: node.clone(),
                        sink,
                        count_rows: true,
                    }),
                );
                None
            }
        };
        let durability = match &checkpoint {
            Some(dir) => Some(open_checkpoint(
                dir,
                &planner,
                policy,
                session.parallelism(),
                discard_torn_last,
            )?),
            None => None,
        };
        let recovered = durability.as_ref().and_then(|d| d.recovered.as_ref());
        if let Some(recorded) = recovered
            .and_then(|r| r.sticky.get(POLICY))
            .and_then(|p| parse_policy(p))
        {
            tracker.set_policy(recorded);
        }
        let id = match recovered {
            Some(r) => r.id.clone(),
            None => new_uuid(),
        };
        let header = format!(
            "== query {} (id {id}, {mode} mode, trigger {trigger}) ==",
            name.as_deref().unwrap_or("<unnamed>")
        );
        let explain = match &continuous {
            Some(pipeline) => format!("{header}\n{}", pipeline.explain),
            None => crate::graph::explain(&planner.graph, &header),
        };
        let now = clock.now();
        if let Some(pipeline) = &mut continuous {
            pipeline.start = now;
        }
        let control = JobControl::new(format!("query {}", name.as_deref().unwrap_or(&id)), clock.clone());
        let waker_control = control.clone();
        let source_ctx =
            SourceContext::new(Arc::new(move || waker_control.wake()), now, session.parallelism());
        let stop_sources = crate::exec::start_all(
            &planner.sources,
            &source_ctx,
            durability.as_ref().map(|d| d.checkpoint.as_ref()),
        )?;
        let sink_ctx = SinkContext::new(id.clone(), mode);
        for output in &planner.graph.outputs {
            if let Err(e) = output.run.start(&sink_ctx) {
                stop_sources();
                return Err(e);
            }
        }
        if let Some(Err(e)) = continuous.as_ref().map(|p| p.output.start(&sink_ctx)) {
            stop_sources();
            return Err(e);
        }
        tracker.start(now);
        let record = Arc::new(QueryRecord::new(
            id.clone(),
            new_uuid(),
            name,
            ResumeState {
                id,
                ..ResumeState::default()
            },
        ));
        let shared = Arc::new(Shared {
            record: record.clone(),
            explain,
            session: session.clone(),
            control: control.clone(),
        });
        let reports = QueryReports::new(
            record,
            clock.clone(),
            session.inner.bus.clone(),
            run,
            planner.sources.clone(),
            planner.stateful.clone(),
            sink_name,
        );
        reports.started(now);
        crate::metrics::ui::watch_query(
            &session.inner.bus,
            &shared.record,
            &shared.explain,
            &shared.control,
        );
        let schedule = match trigger.kind {
            TriggerKind::Default => Schedule::Default,
            TriggerKind::ProcessingTime(interval) => Schedule::ProcessingTime(interval),
            TriggerKind::Once => Schedule::Once,
            TriggerKind::AvailableNow => Schedule::AvailableNow,
            // Continuous: epochs are the batches, recorded the same way; run by `run_with`.
            TriggerKind::Continuous { .. } => Schedule::Default,
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
            rebuildable: planner.graph.rebuildable(),
            windows_over_state: planner.graph.windows_over_state(),
            schedule,
            vocabulary: Box::new(reports),
            next_id: 0,
            last_time: None,
            durability,
        };
        control.update(|s| s.phase = ContextState::Active);
        let record = &shared.record;
        let thread_name = format!("query-{}", record.name.as_deref().unwrap_or(&record.id[..8]));
        let handle = std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || match continuous {
                Some(pipeline) => {
                    driver.run_with(|d, pending| crate::exec::continuous::run(d, pending, pipeline))
                }
                None => driver.run(),
            })
            .map_err(|e| Error::io("cannot start the query thread", e))?;
        control.set_thread(handle);
        if session.inner.stop_on_shutdown {
            crate::exec::stop_gracefully_on_shutdown(&control);
        }
        Ok(StreamingQuery { shared })
    }

    /// The query's id: the same across restarts on its checkpoint.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let dir = tempfile::tempdir().unwrap();
    /// let input = MemoryStream::<i64>::new();
    /// let first = session.read_stream::<i64>().memory(&input).write_stream()
    ///     .checkpoint_location(dir.path()).memory("ids").start()?;
    /// assert_eq!(first.id().len(), 36); // a UUID
    /// first.stop()?;
    /// let second = session.read_stream::<i64>().memory(&input).write_stream()
    ///     .checkpoint_location(dir.path()).memory("ids").start()?;
    /// assert_eq!(second.id(), first.id());
    /// second.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn id(&self) -> &str {
        &self.shared.record.id
    }

    /// This run's id: new at every start.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let dir = tempfile::tempdir().unwrap();
    /// let input = MemoryStream::<i64>::new();
    /// let first = session.read_stream::<i64>().memory(&input).write_stream()
    ///     .checkpoint_location(dir.path()).memory("runs").start()?;
    /// first.stop()?;
    /// let second = session.read_stream::<i64>().memory(&input).write_stream()
    ///     .checkpoint_location(dir.path()).memory("runs").start()?;
    /// assert_eq!(second.id(), first.id()); // the same query …
    /// assert_ne!(second.run_id(), first.run_id()); // … run again
    /// second.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn run_id(&self) -> &str {
        &self.shared.record.run_id
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
        self.shared.record.name.as_deref()
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
        self.shared.record.status()
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
        self.shared.record.last_progress()
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
        self.shared.record.recent_progress()
    }

    /// Where the query stands after its last batch (see [`ResumeState`]): its id, the next
    /// batch id, the sources' committed offsets, the watermark.
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
    /// assert_eq!(state.source_offsets, [serde_json::json!(2)]); // both add_data calls were read
    /// assert_eq!(state.next_batch_id, query.recent_progress().len() as u64);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn resume_state(&self) -> ResumeState {
        self.shared.record.resume()
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
