//! The names and labels of the metrics every batch reports through the
//! [`metrics`](https://docs.rs/metrics) facade (cargo feature `metrics`; `prometheus` adds a
//! Prometheus recorder and the dashboard's `/metrics`).
//!
//! The names are stable: dashboards and alerts can rely on them. Every metric carries the label
//! [`JOB`] — a context's app name, or a query's name (its id when unnamed) — and
//! [`VOCABULARY`] (`dstream` or `query`); per-operator metrics add [`OPERATOR`], per-source
//! ones [`SOURCE`], per-phase ones [`PHASE`]. Durations are in seconds, as Prometheus asks.
//!
//! | metric | kind | what |
//! |---|---|---|
//! | [`BATCHES`] | counter | batches completed |
//! | [`INPUT_ROWS`] | counter | records read from all sources |
//! | [`OUTPUT_ROWS`] | counter | rows handed to the sink (queries) |
//! | [`INPUT_RATE`] | gauge | input records per second of clock time, last batch |
//! | [`PROCESSING_RATE`] | gauge | records per second of processing time, last batch |
//! | [`BATCH_DURATION`] | histogram | how long a batch ran |
//! | [`PHASE_DURATION`] | histogram | a query batch's phases: `latestOffset`, `walCommit`, `addBatch`, `sink` |
//! | [`SCHEDULING_DELAY`] | histogram | how long a DStream batch waited after its time |
//! | [`TOTAL_DELAY`] | histogram | scheduling delay plus processing time (DStream) |
//! | [`LAST_BATCH_ID`] | gauge | the id of the last completed batch |
//! | [`WATERMARK`] | gauge | the watermark, seconds since the Unix epoch (queries with event time) |
//! | [`WATERMARK_GAP`] | gauge | the batch's time minus the watermark, seconds |
//! | [`STATE_ROWS`] | gauge | keys (groups, sessions) in an operator's state |
//! | [`STATE_MEMORY`] | gauge | approximate bytes of an operator's state |
//! | [`STATE_ROWS_UPDATED`] | counter | state rows created or changed |
//! | [`STATE_ROWS_REMOVED`] | counter | state rows dropped by the watermark |
//! | [`LATE_ROWS_DROPPED`] | counter | input rows too late for the watermark, dropped |
//! | [`SOURCE_INPUT_ROWS`] | counter | records read from one source |
//! | [`SOURCE_MALFORMED_ROWS`] | counter | malformed / undecodable records met by one source |
//! | [`RECEIVER_ACTIVE`] | gauge | 1 while a receiver is connected (DStream) |
//! | [`RECEIVER_RECORDS`] | gauge | records a receiver stored so far |
//! | [`RECEIVER_ERRORS`] | gauge | errors a receiver met so far |
//!
//! ```
//! use streamflow::metrics::names;
//!
//! assert_eq!(names::BATCHES, "streamflow_batches_total");
//! assert_eq!((names::JOB, names::OPERATOR), ("job", "operator"));
//! ```

/// Label: the job — a context's app name, or a query's name (its id when unnamed).
pub const JOB: &str = "job";
/// Label: `dstream` for a `StreamingContext`, `query` for a Structured query.
pub const VOCABULARY: &str = "vocabulary";
/// Label: a stateful operator's name, as in the progress record's `stateOperators`.
pub const OPERATOR: &str = "operator";
/// Label: a source's description, as in the progress record's `sources`, or a receiver's name.
pub const SOURCE: &str = "source";
/// Label: a phase of a query batch (`latestOffset`, `walCommit`, `addBatch`, `sink`).
pub const PHASE: &str = "phase";

/// Counter: batches completed.
pub const BATCHES: &str = "streamflow_batches_total";
/// Counter: records read from all sources.
pub const INPUT_ROWS: &str = "streamflow_input_rows_total";
/// Counter: rows handed to the sink (queries).
pub const OUTPUT_ROWS: &str = "streamflow_output_rows_total";
/// Gauge: input records per second of clock time in the last batch.
pub const INPUT_RATE: &str = "streamflow_input_rows_per_second";
/// Gauge: records per second of processing time in the last batch.
pub const PROCESSING_RATE: &str = "streamflow_processed_rows_per_second";
/// Histogram: how long a batch ran, seconds.
pub const BATCH_DURATION: &str = "streamflow_batch_duration_seconds";
/// Histogram: how long a phase of a query batch took, seconds (label [`PHASE`]).
pub const PHASE_DURATION: &str = "streamflow_batch_phase_duration_seconds";
/// Histogram: how long a DStream batch waited after its batch time before it ran, seconds.
pub const SCHEDULING_DELAY: &str = "streamflow_scheduling_delay_seconds";
/// Histogram: scheduling delay plus processing time of a DStream batch, seconds.
pub const TOTAL_DELAY: &str = "streamflow_total_delay_seconds";
/// Gauge: the id of the last completed batch.
pub const LAST_BATCH_ID: &str = "streamflow_last_batch_id";
/// Gauge: the watermark, seconds since the Unix epoch.
pub const WATERMARK: &str = "streamflow_watermark_seconds";
/// Gauge: the batch's time minus the watermark, seconds (Spark UI's "global watermark gap").
pub const WATERMARK_GAP: &str = "streamflow_watermark_gap_seconds";
/// Gauge: keys in a stateful operator's state (label [`OPERATOR`]).
pub const STATE_ROWS: &str = "streamflow_state_rows";
/// Gauge: approximate bytes of a stateful operator's state (label [`OPERATOR`]).
pub const STATE_MEMORY: &str = "streamflow_state_memory_bytes";
/// Counter: state rows created or changed (label [`OPERATOR`]).
pub const STATE_ROWS_UPDATED: &str = "streamflow_state_rows_updated_total";
/// Counter: state rows dropped by the watermark (label [`OPERATOR`]).
pub const STATE_ROWS_REMOVED: &str = "streamflow_state_rows_removed_total";
/// Counter: input rows too late for the watermark, dropped (label [`OPERATOR`]).
pub const LATE_ROWS_DROPPED: &str = "streamflow_late_rows_dropped_total";
/// Counter: records read from one source (label [`SOURCE`]).
pub const SOURCE_INPUT_ROWS: &str = "streamflow_source_input_rows_total";
/// Counter: malformed or undecodable records met by one source (label [`SOURCE`]).
pub const SOURCE_MALFORMED_ROWS: &str = "streamflow_source_malformed_rows_total";
/// Gauge: 1 while a receiver is connected, else 0 (label [`SOURCE`]).
pub const RECEIVER_ACTIVE: &str = "streamflow_receiver_active";
/// Gauge: records a receiver stored so far (label [`SOURCE`]).
pub const RECEIVER_RECORDS: &str = "streamflow_receiver_records";
/// Gauge: errors a receiver met so far (label [`SOURCE`]).
pub const RECEIVER_ERRORS: &str = "streamflow_receiver_errors";
