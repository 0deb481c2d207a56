//! Progress reports and listeners (Spark's `StreamingQueryProgress` and
//! `StreamingQueryListener`).
//!
//! Every micro-batch produces a [`QueryProgress`]. It serializes to JSON with Spark's field
//! names (`batchId`, `numInputRows`, `durationMs`, `eventTime`, `stateOperators` …), so tools
//! that read Spark's progress read ours.

use std::collections::BTreeMap;

use crate::time::Time;

/// One micro-batch of a query, as reported to listeners and kept in
/// [`recent_progress`](crate::structured::StreamingQuery::recent_progress).
///
/// ```
/// use streamflow::structured::{MemoryStream, Session};
/// let session = Session::new(1)?;
/// let input = MemoryStream::<i64>::new();
/// let query = session.read_stream::<i64>().memory(&input).write_stream().memory("p").start()?;
/// input.add_data([1, 2, 3]);
/// query.process_all_available()?;
/// let progress = query.last_progress().unwrap();
/// assert_eq!((progress.batch_id, progress.num_input_rows), (0, 3));
/// let json = serde_json::to_string(&progress).unwrap();
/// assert!(json.contains("\"numInputRows\":3"), "{json}");
/// query.stop()?;
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct QueryProgress {
    /// The query's id, stable across restarts.
    pub id: String,
    /// This run's id.
    pub run_id: String,
    /// The query's name, if given.
    pub name: Option<String>,
    /// When the batch started (clock time, ISO-8601 UTC).
    pub timestamp: String,
    /// The batch id: 0, 1, 2 …
    pub batch_id: u64,
    /// Records read from all sources.
    pub num_input_rows: u64,
    /// Input records per second of clock time since the previous batch started.
    pub input_rows_per_second: f64,
    /// Input records per second of processing (wall) time.
    pub processed_rows_per_second: f64,
    /// Wall-clock durations in milliseconds: `latestOffset` (finding the sources' new
    /// offsets), `walCommit` (recording the batch's plan in the checkpoint's offset log),
    /// `addBatch` (running the batch's operators), `stateCommit` (writing the state's
    /// snapshots and deltas to the checkpoint), `sink` (committing the sink), `commitOffsets`
    /// (recording the commit and committing the sources), `triggerExecution` (all of it).
    pub duration_ms: BTreeMap<String, u64>,
    /// Event-time statistics of the batch's rows, and the watermark it ran with.
    pub event_time: EventTimeProgress,
    /// One entry per stateful operator.
    pub state_operators: Vec<StateOperatorProgress>,
    /// One entry per source.
    pub sources: Vec<SourceProgress>,
    /// The sink.
    pub sink: SinkProgress,
    /// What the batch wrote to the checkpoint (absent when the query has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointProgress>,
}

impl QueryProgress {
    /// When the batch started, as a [`Time`] (the typed [`timestamp`](Self::timestamp)).
    ///
    /// ```
    /// let mut p = streamflow::structured::QueryProgress::default();
    /// p.timestamp = "1970-01-01T00:00:02.500Z".into();
    /// assert_eq!(p.started_at(), Some(streamflow::Time::from_millis(2_500)));
    /// ```
    pub fn started_at(&self) -> Option<Time> {
        iso_time(&self.timestamp)
    }

    /// How long a phase of the batch took (`"triggerExecution"`, `"addBatch"` … — the keys of
    /// [`duration_ms`](Self::duration_ms)), as a `std::time::Duration`.
    ///
    /// ```
    /// let mut p = streamflow::structured::QueryProgress::default();
    /// p.duration_ms.insert("addBatch".into(), 12);
    /// assert_eq!(p.duration("addBatch"), Some(std::time::Duration::from_millis(12)));
    /// assert_eq!(p.duration("nothing"), None);
    /// ```
    pub fn duration(&self, phase: &str) -> Option<std::time::Duration> {
        self.duration_ms
            .get(phase)
            .map(|ms| std::time::Duration::from_millis(*ms))
    }
}

impl EventTimeProgress {
    /// The watermark in force during the batch, as a [`Time`].
    ///
    /// ```
    /// let mut e = streamflow::structured::EventTimeProgress::default();
    /// e.watermark = Some("1970-01-01T00:15:00.000Z".into());
    /// assert_eq!(e.watermark_time(), Some(streamflow::Time::from_millis(15 * 60_000)));
    /// assert_eq!(e.max_time(), None);
    /// ```
    pub fn watermark_time(&self) -> Option<Time> {
        self.watermark.as_deref().and_then(iso_time)
    }

    /// The smallest event time of the batch, as a [`Time`].
    pub fn min_time(&self) -> Option<Time> {
        self.min.as_deref().and_then(iso_time)
    }

    /// The largest event time of the batch, as a [`Time`].
    pub fn max_time(&self) -> Option<Time> {
        self.max.as_deref().and_then(iso_time)
    }

    /// The mean event time of the batch, as a [`Time`].
    pub fn avg_time(&self) -> Option<Time> {
        self.avg.as_deref().and_then(iso_time)
    }
}

/// An ISO-8601 time of a progress record as a [`Time`].
fn iso_time(text: &str) -> Option<Time> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| Time::from_millis(t.timestamp_millis()))
}

/// What one batch wrote to the checkpoint directory.
///
/// ```
/// let c = streamflow::structured::CheckpointProgress::default();
/// assert_eq!(c.state_bytes, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct CheckpointProgress {
    /// Bytes of the batch's plan (`offsets/<id>`).
    pub offsets_bytes: u64,
    /// State files written (snapshots and deltas), and their bytes.
    pub state_files: u64,
    /// Their bytes.
    pub state_bytes: u64,
    /// Milliseconds the batch waited for its plan to be durable before its sinks saw it.
    #[serde(default)]
    pub wal_commit_ms: u64,
    /// Milliseconds spent encoding the state's changes (the files are written while the next
    /// batch runs).
    #[serde(default)]
    pub state_commit_ms: u64,
}

/// Event time in a batch: min / max / avg of the rows' event times (absent without rows) and
/// the watermark the batch ran with, as ISO-8601 UTC strings (Spark's `eventTime` map).
///
/// ```
/// let e = streamflow::structured::EventTimeProgress::default();
/// assert!(e.max.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct EventTimeProgress {
    /// The smallest event time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<String>,
    /// The largest event time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<String>,
    /// The mean event time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avg: Option<String>,
    /// The watermark in force during the batch (absent when the query has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark: Option<String>,
}

/// A stateful operator in one batch.
///
/// ```
/// let p = streamflow::structured::StateOperatorProgress::new("group_by(..).count()");
/// assert_eq!(p.num_rows_total, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StateOperatorProgress {
    /// The operator.
    pub operator_name: String,
    /// Groups (or sessions) in state after the batch.
    pub num_rows_total: u64,
    /// Groups created or changed by the batch.
    pub num_rows_updated: u64,
    /// Groups dropped from state by the watermark.
    pub num_rows_removed: u64,
    /// Input rows (one per window they fall in) too late for the watermark, dropped.
    pub num_rows_dropped_by_watermark: u64,
    /// Approximate memory of the state (its hash tables).
    pub memory_used_bytes: u64,
    /// Rows a deduplication dropped because their key was seen before (Spark's
    /// `numDroppedDuplicateRows`); 0 for other operators.
    #[serde(default)]
    pub num_dropped_duplicate_rows: u64,
}

impl StateOperatorProgress {
    /// Zeroed metrics for `operator`.
    ///
    /// ```
    /// use streamflow::structured::StateOperatorProgress;
    /// let p = StateOperatorProgress::new("group_by(..).count()");
    /// assert_eq!(p.operator_name, "group_by(..).count()");
    /// assert_eq!((p.num_rows_total, p.num_rows_updated, p.memory_used_bytes), (0, 0, 0));
    /// let json = serde_json::to_string(&p).unwrap();
    /// assert!(json.starts_with(r#"{"operatorName":"group_by(..).count()","numRowsTotal":0"#), "{json}");
    /// ```
    pub fn new(operator: &str) -> Self {
        StateOperatorProgress {
            operator_name: operator.to_string(),
            ..Default::default()
        }
    }
}

/// A source in one batch.
///
/// ```
/// let s = streamflow::structured::SourceProgress::default();
/// assert_eq!(s.num_input_rows, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SourceProgress {
    /// The source, e.g. `MemoryStream[0]` or `FileSource[/data/in]`.
    pub description: String,
    /// The offset the batch started at, as the checkpoint records it: a number for most
    /// sources (records, files or blocks taken), a map of partitions to offsets for Kafka.
    pub start_offset: serde_json::Value,
    /// The offset the batch ended at.
    pub end_offset: serde_json::Value,
    /// Records read in the batch.
    pub num_input_rows: u64,
    /// Input records per second of clock time.
    pub input_rows_per_second: f64,
    /// Records per second of processing time.
    pub processed_rows_per_second: f64,
    /// Malformed records met in the batch (kept aside or dropped, by the reader's policy).
    pub num_malformed_rows: u64,
}

/// The sink in one batch.
///
/// ```
/// let s = streamflow::structured::SinkProgress::default();
/// assert_eq!(s.num_output_rows, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SinkProgress {
    /// The sink, e.g. `MemorySink[counts]`.
    pub description: String,
    /// Rows handed to the sink.
    pub num_output_rows: u64,
}

/// What a query is doing now (Spark's `StreamingQueryStatus`).
///
/// ```
/// let s = streamflow::structured::QueryStatus::default();
/// assert!(!s.is_trigger_active);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct QueryStatus {
    /// A human-readable description: `Initializing sources`, `Waiting for data to arrive`,
    /// `Processing new data`, `Stopped` …
    pub message: String,
    /// Whether the last look at the sources found new data.
    pub is_data_available: bool,
    /// Whether a batch is running.
    pub is_trigger_active: bool,
}

/// A query started.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct QueryStartedEvent {
    /// The query's id.
    pub id: String,
    /// This run's id.
    pub run_id: String,
    /// The query's name.
    pub name: Option<String>,
    /// When it started (ISO-8601 UTC).
    pub timestamp: String,
}

/// A query found nothing to do.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct QueryIdleEvent {
    /// The query's id.
    pub id: String,
    /// This run's id.
    pub run_id: String,
    /// When (ISO-8601 UTC).
    pub timestamp: String,
}

/// A query stopped, with its error if it failed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct QueryTerminatedEvent {
    /// The query's id.
    pub id: String,
    /// This run's id.
    pub run_id: String,
    /// The error that stopped it.
    pub exception: Option<String>,
}

/// Hears about the queries of a [`Session`](crate::structured::Session) (Spark's
/// `StreamingQueryListener`). Every method has an empty default. Calls come from the query's
/// thread: keep them short.
///
/// `on_query_idle` is called once each time a query goes from working to waiting.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use streamflow::structured::*;
///
/// #[derive(Default)]
/// struct Events(Mutex<Vec<String>>);
/// impl StreamingQueryListener for Events {
///     fn on_query_started(&self, _: &QueryStartedEvent) { self.0.lock().unwrap().push("started".into()) }
///     fn on_query_progress(&self, p: &QueryProgress) { self.0.lock().unwrap().push(format!("batch {}", p.batch_id)) }
///     fn on_query_terminated(&self, _: &QueryTerminatedEvent) { self.0.lock().unwrap().push("terminated".into()) }
/// }
/// let session = Session::new(1)?;
/// let events = Arc::new(Events::default());
/// session.add_listener(events.clone());
/// let input = MemoryStream::<i64>::new();
/// let query = session.read_stream::<i64>().memory(&input).write_stream().memory("l").start()?;
/// input.add_data([1]);
/// query.process_all_available()?;
/// query.stop()?;
/// assert_eq!(*events.0.lock().unwrap(), ["started", "batch 0", "terminated"]);
/// # Ok::<(), streamflow::Error>(())
/// ```
pub trait StreamingQueryListener: Send + Sync {
    /// The name a panic of this listener is logged with (default: its type's name).
    ///
    /// ```
    /// use streamflow::structured::StreamingQueryListener;
    /// struct Quiet;
    /// impl StreamingQueryListener for Quiet {}
    /// assert!(Quiet.name().ends_with("Quiet"));
    /// ```
    fn name(&self) -> String {
        std::any::type_name::<Self>().to_string()
    }

    /// The query started.
    fn on_query_started(&self, _event: &QueryStartedEvent) {}
    /// A batch finished.
    fn on_query_progress(&self, _progress: &QueryProgress) {}
    /// The query is waiting for data.
    fn on_query_idle(&self, _event: &QueryIdleEvent) {}
    /// The query stopped.
    fn on_query_terminated(&self, _event: &QueryTerminatedEvent) {}
}
