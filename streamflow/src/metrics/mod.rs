//! Metrics and listeners of both vocabularies.
//!
//! A DStream context reports every batch as a [`BatchInfo`] (Spark's `BatchInfo`): its time,
//! the records it read, how long it waited to be scheduled and how long it took. Infos are kept
//! in a bounded ring ([`StreamingContext::recent_batches`](crate::StreamingContext::recent_batches)),
//! handed to [`StreamingListener`]s, and logged at debug level. A batch interval is sustainable
//! while the processing time stays below it. A Structured query reports every micro-batch as a
//! [`QueryProgress`](crate::structured::QueryProgress) with Spark's JSON field names, kept in
//! [`recent_progress`](crate::structured::StreamingQuery::recent_progress) and handed to
//! [`StreamingQueryListener`](crate::structured::StreamingQueryListener)s.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | `BatchInfo`, `ReceiverStatus`, `StreamingListener`, a context's metrics hub |
//! | `dstream.rs` | what a DStream context reports to the driver after each batch |
//! | `progress.rs` | a query's progress records, status, events and `StreamingQueryListener` |
//! | `query.rs` | a query's hooks on the driver: watermark, no-data batches, status, progress |
//! | `bus.rs` | the listener bus: the listeners of both vocabularies, called under one guard |
//! | `report.rs` | what each batch tells the outside: an INFO log line, falling-behind warnings, metrics |
//! | `names.rs` | the names and labels of the metrics sent through the `metrics` facade |
//! | `export.rs` | the `metrics` facade calls (feature `metrics`) |
//! | `spans.rs` | `tracing` spans per batch, stage and task (feature `tracing`) |
//! | `ui/` | the live web dashboard and its JSON API (feature `ui`) |

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::time::Time;

mod bus;
mod dstream;
#[cfg(feature = "metrics")]
mod export;
pub mod names;
pub(crate) mod progress;
pub(crate) mod query;
pub(crate) mod report;
pub(crate) mod spans;
pub mod ui;

pub(crate) use bus::ListenerBus;
pub(crate) use dstream::DStreamReports;

const RECENT_BATCHES: usize = 1_000;

/// What happened in one batch.
///
/// ```
/// # use streamflow::{testing::TestContext, Duration};
/// let t = TestContext::new(Duration::seconds(1), 2)?;
/// t.input(vec![vec![1, 2, 3]]).count().print();
/// t.run(1)?;
/// let info = &t.context().recent_batches()[0];
/// assert_eq!((info.batch_id, info.batch_time.millis()), (0, 1_000));
/// assert_eq!(info.num_records, 3);
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct BatchInfo {
    /// The batch's id: 0 for the first batch, then one more per batch.
    pub batch_id: u64,
    /// The batch time.
    pub batch_time: Time,
    /// Records read from all sources for this batch.
    pub num_records: u64,
    /// Clock time when the batch started running.
    pub processing_start_time: Time,
    /// Clock time when the batch finished.
    pub processing_end_time: Time,
    /// How long the batch waited after its time before it ran (clock time).
    pub scheduling_delay: std::time::Duration,
    /// How long the batch ran (wall time).
    pub processing_time: std::time::Duration,
    /// Scheduling delay plus processing time.
    pub total_delay: std::time::Duration,
    /// What the batch wrote to the checkpoint, and what waiting for it cost (absent when the
    /// context has no checkpoint directory).
    pub checkpoint: Option<crate::structured::CheckpointProgress>,
}

/// The state of one receiver, as shown in metrics.
///
/// ```
/// let status = streamflow::ReceiverStatus::new("socket_text_stream localhost:9999");
/// assert!(!status.active);
/// assert_eq!(status.records, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ReceiverStatus {
    /// The receiver, e.g. `socket_text_stream localhost:9999`.
    pub name: String,
    /// Whether it is currently connected / receiving.
    pub active: bool,
    /// Records stored so far.
    pub records: u64,
    /// Input that could not be decoded (e.g. bytes that are not UTF-8), skipped and counted.
    pub undecodable: u64,
    /// Errors so far (failed connections, read errors …).
    pub errors: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
    /// How often the receiver was restarted.
    pub restarts: u64,
}

impl ReceiverStatus {
    /// A fresh status for the receiver `name`.
    ///
    /// ```
    /// use streamflow::ReceiverStatus;
    ///
    /// let status = ReceiverStatus::new("my_receiver");
    /// assert_eq!(status.name, "my_receiver");
    /// assert_eq!((status.records, status.errors, status.last_error), (0, 0, None));
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        ReceiverStatus {
            name: name.into(),
            ..Default::default()
        }
    }
}

/// Hears about the life of a streaming job. Every method has an empty default.
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
/// use streamflow::{BatchInfo, StreamingListener};
///
/// #[derive(Default)]
/// struct Counter(AtomicU64);
/// impl StreamingListener for Counter {
///     fn on_batch_completed(&self, info: &BatchInfo) {
///         self.0.fetch_add(info.num_records, Ordering::Relaxed);
///     }
/// }
/// # use streamflow::{testing::TestContext, Duration};
/// let t = TestContext::new(Duration::seconds(1), 2)?;
/// let counter = Arc::new(Counter::default());
/// t.context().add_streaming_listener(counter.clone());
/// t.input(vec![vec![1, 2], vec![3]]).print();
/// t.run(2)?;
/// assert_eq!(counter.0.load(Ordering::Relaxed), 3);
/// # Ok::<(), streamflow::Error>(())
/// ```
pub trait StreamingListener: Send + Sync {
    /// The name a panic of this listener is logged with (default: its type's name).
    ///
    /// ```
    /// use streamflow::StreamingListener;
    /// struct Quiet;
    /// impl StreamingListener for Quiet {}
    /// assert!(Quiet.name().ends_with("Quiet"));
    /// ```
    fn name(&self) -> String {
        std::any::type_name::<Self>().to_string()
    }

    /// The context started; `zero_time` is one batch interval before the first batch.
    fn on_streaming_started(&self, _zero_time: Time) {}
    /// A batch finished.
    fn on_batch_completed(&self, _info: &BatchInfo) {}
    /// A receiver reported an error (it keeps retrying).
    fn on_receiver_error(&self, _status: &ReceiverStatus) {}
    /// The context stopped.
    fn on_streaming_stopped(&self) {}
}

#[derive(Default)]
struct MetricsState {
    recent: VecDeque<BatchInfo>,
    last_completed: Option<Time>,
    stopped: bool,
    received: u64,
}

/// The metrics hub of a context.
pub(crate) struct Metrics {
    state: Mutex<MetricsState>,
    changed: Condvar,
    pub(crate) bus: Arc<ListenerBus>,
}

impl Metrics {
    fn lock(&self) -> MutexGuard<'_, MetricsState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn new(bus: Arc<ListenerBus>) -> Self {
        Metrics {
            state: Mutex::default(),
            changed: Condvar::new(),
            bus,
        }
    }

    pub(crate) fn add_listener(&self, listener: Arc<dyn StreamingListener>) {
        self.bus.add_streaming(listener);
    }

    pub(crate) fn started(&self, zero: Time) {
        self.bus
            .post_streaming("on_streaming_started", |l| l.on_streaming_started(zero));
    }

    pub(crate) fn stopped(&self) {
        self.lock().stopped = true;
        self.changed.notify_all();
        self.bus
            .post_streaming("on_streaming_stopped", |l| l.on_streaming_stopped());
    }

    pub(crate) fn batch_completed(&self, info: BatchInfo) {
        self.bus
            .post_streaming("on_batch_completed", |l| l.on_batch_completed(&info));
        let mut state = self.lock();
        state.last_completed = Some(info.batch_time);
        if state.recent.len() == RECENT_BATCHES {
            state.recent.pop_front();
        }
        state.recent.push_back(info);
        drop(state);
        self.changed.notify_all();
    }

    /// A restarted context carries on after the batch at `time`: it counts as completed (for
    /// `await_batch`), though this run did not run it.
    pub(crate) fn restored(&self, time: Time) {
        let mut state = self.lock();
        state.last_completed = Some(state.last_completed.map_or(time, |t| t.max(time)));
        drop(state);
        self.changed.notify_all();
    }

    pub(crate) fn recent(&self) -> Vec<BatchInfo> {
        self.lock().recent.iter().cloned().collect()
    }

    pub(crate) fn receiver_error(&self, status: &ReceiverStatus) {
        self.bus
            .post_streaming("on_receiver_error", |l| l.on_receiver_error(status));
    }

    pub(crate) fn record_received(&self, n: u64) {
        self.lock().received += n;
        self.changed.notify_all();
    }

    /// Waits until the batch at `time` completed or the job is stopped (`is_stopped`: the
    /// job's phase, which the driver sets last — after these metrics heard of the stop — so a
    /// caller woken by a stop sees the job stopped).
    pub(crate) fn await_batch(&self, time: Time, is_stopped: impl Fn() -> bool) {
        let mut state = self.lock();
        while state.last_completed.is_none_or(|t| t < time) && !is_stopped() {
            let wait = if state.stopped {
                std::time::Duration::from_millis(1)
            } else {
                std::time::Duration::from_millis(50)
            };
            state = self
                .changed
                .wait_timeout(state, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    pub(crate) fn await_received(&self, records: u64, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        let mut state = self.lock();
        while state.received < records {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        true
    }
}
