//! Watermarks: how far event time has surely progressed.
//!
//! Every [`with_watermark`](crate::structured::Dataset::with_watermark) is one *input* of the
//! query's watermark. The rules are Spark's (SPEC §3):
//!
//! - an input's watermark is the maximum event time it has seen in all earlier batches minus
//!   its delay; it is computed at the end of a batch and used from the next batch on;
//! - the query's (global) watermark starts at the epoch and never goes back;
//! - with several inputs it is the minimum of theirs ([`MultipleWatermarkPolicy::Min`], the
//!   default: an input that has seen no data holds it at the start), or the maximum
//!   ([`MultipleWatermarkPolicy::Max`]);
//! - an input that has had no data for the idle timeout stops holding the minimum back.
//!
//! [`WatermarkState`] is the part that survives a restart of the query. An input's operator
//! (`observe_event_times`) notes the event times of each partition it passes on.

use std::sync::{Arc, Mutex};

use super::timestamp::EventTimeFn;
use crate::batch::{Batch, Part};
use crate::data::Data;
use crate::exec::{guard, lock};
use crate::time::{Duration, Time};

/// How the global watermark is chosen from several inputs' (Spark's
/// `spark.sql.streaming.multipleWatermarkPolicy`).
///
/// ```
/// use streamflow::structured::MultipleWatermarkPolicy;
/// assert_eq!(MultipleWatermarkPolicy::default(), MultipleWatermarkPolicy::Min);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum MultipleWatermarkPolicy {
    /// The slowest input decides: no input's late data is lost.
    #[default]
    Min,
    /// The fastest input decides: results come sooner, slower inputs' data may be dropped.
    Max,
}

/// What the query knows about one watermark input.
///
/// ```
/// let input = streamflow::structured::InputWatermark::default();
/// assert!(input.max_event_time.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct InputWatermark {
    /// The largest event time seen so far, if any row was seen.
    pub max_event_time: Option<Time>,
    /// The delay subtracted from it.
    pub delay: Duration,
}

/// The watermark state of a query: what a restarted query resumes from.
///
/// ```
/// let state = streamflow::structured::WatermarkState::default();
/// assert_eq!(state.watermark.millis(), 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct WatermarkState {
    /// The global watermark in force for the next batch.
    pub watermark: Time,
    /// Each input, in the order the query's `with_watermark` calls were planned.
    pub inputs: Vec<InputWatermark>,
}

/// Event-time statistics of one batch (min, max, sum, count), merged across partitions.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EventTimeStats {
    pub(crate) min: i64,
    pub(crate) max: i64,
    pub(crate) sum: i128,
    pub(crate) count: u64,
}

impl EventTimeStats {
    #[inline]
    pub(crate) fn observe(&mut self, ts: i64) {
        if self.count == 0 {
            self.min = ts;
            self.max = ts;
        } else {
            self.min = self.min.min(ts);
            self.max = self.max.max(ts);
        }
        self.sum += i128::from(ts);
        self.count += 1;
    }

    pub(crate) fn merge(&mut self, other: &EventTimeStats) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *other;
            return;
        }
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
        self.count += other.count;
    }

    pub(crate) fn avg(&self) -> Option<i64> {
        (self.count > 0).then(|| (self.sum / i128::from(self.count)) as i64)
    }
}

struct Input {
    name: String,
    state: InputWatermark,
    batch: EventTimeStats,
    /// Clock time of the last batch in which this input had rows (query start if never).
    last_data: Time,
}

struct Tracker {
    inputs: Vec<Input>,
    global: Time,
    policy: MultipleWatermarkPolicy,
    idle_timeout: Option<Duration>,
}

/// The watermark of one query run: its inputs, their per-batch statistics, and the global
/// watermark.
pub(crate) struct WatermarkTracker {
    inner: Mutex<Tracker>,
}

/// What the end of a batch changed.
pub(crate) struct BatchEnd {
    /// Event-time statistics of the rows of the batch, all inputs together.
    pub(crate) stats: EventTimeStats,
    /// Whether the global watermark moved.
    pub(crate) advanced: bool,
}

impl WatermarkTracker {
    pub(crate) fn new(policy: MultipleWatermarkPolicy, idle_timeout: Option<Duration>) -> Self {
        WatermarkTracker {
            inner: Mutex::new(Tracker {
                inputs: Vec::new(),
                global: Time::from_millis(0),
                policy,
                idle_timeout,
            }),
        }
    }

    /// Adds an input with `delay`; returns its index.
    pub(crate) fn register(&self, name: &str, delay: Duration) -> usize {
        let mut t = lock(&self.inner);
        t.inputs.push(Input {
            name: name.to_string(),
            state: InputWatermark {
                max_event_time: None,
                delay,
            },
            batch: EventTimeStats::default(),
            last_data: Time::from_millis(0),
        });
        t.inputs.len() - 1
    }

    pub(crate) fn has_inputs(&self) -> bool {
        !lock(&self.inner).inputs.is_empty()
    }

    /// Sets the multiple-watermark policy (a restart keeps the one its checkpoint recorded).
    pub(crate) fn set_policy(&self, policy: MultipleWatermarkPolicy) {
        lock(&self.inner).policy = policy;
    }

    /// Restores the global watermark of a restarted query — and only it: per-input watermarks
    /// start empty, as in Spark's `WatermarkTracker` after a restart.
    pub(crate) fn restore_global(&self, watermark: Time) {
        let mut t = lock(&self.inner);
        t.global = t.global.max(watermark);
    }

    /// Marks the start of the run: inputs without data count as idle from `now`.
    pub(crate) fn start(&self, now: Time) {
        let mut t = lock(&self.inner);
        for input in &mut t.inputs {
            input.last_data = now;
        }
    }

    /// The global watermark in force for the current batch.
    pub(crate) fn current(&self) -> Time {
        lock(&self.inner).global
    }

    /// Adds one partition's statistics of the current batch to input `index`.
    pub(crate) fn observe(&self, index: usize, stats: &EventTimeStats) {
        let mut t = lock(&self.inner);
        if let Some(input) = t.inputs.get_mut(index) {
            input.batch.merge(stats);
        }
    }

    pub(crate) fn state(&self) -> WatermarkState {
        let t = lock(&self.inner);
        WatermarkState {
            watermark: t.global,
            inputs: t.inputs.iter().map(|i| i.state.clone()).collect(),
        }
    }

    /// Ends a batch at clock time `now`: folds the batch's statistics into each input and
    /// computes the watermark for the next batch.
    pub(crate) fn end_batch(&self, now: Time) -> BatchEnd {
        let mut t = lock(&self.inner);
        let mut stats = EventTimeStats::default();
        for input in &mut t.inputs {
            if input.batch.count > 0 {
                stats.merge(&input.batch);
                let max = Time::from_millis(input.batch.max);
                input.state.max_event_time = Some(input.state.max_event_time.map_or(max, |m| m.max(max)));
                input.last_data = now;
            }
            input.batch = EventTimeStats::default();
        }
        let idle_timeout = t.idle_timeout;
        let active: Vec<Option<Time>> = t
            .inputs
            .iter()
            .filter(|i| idle_timeout.is_none_or(|limit| now - i.last_data < limit.millis() as i64))
            .map(|i| i.state.max_event_time.map(|m| m - i.state.delay))
            .collect();
        let candidate = match t.policy {
            // An input without data holds the minimum at the start.
            MultipleWatermarkPolicy::Min => {
                if active.iter().any(Option::is_none) {
                    None
                } else {
                    active.iter().flatten().min().copied()
                }
            }
            MultipleWatermarkPolicy::Max => active.iter().flatten().max().copied(),
        };
        let before = t.global;
        if let Some(c) = candidate {
            t.global = t.global.max(c);
        }
        if t.global != before {
            log::debug!(
                "watermark moved from {before} to {} (inputs: {})",
                t.global,
                t.inputs
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        BatchEnd {
            stats,
            advanced: t.global > before,
        }
    }
}

/// The batch at `time` of watermark input `index` of `tracker`: its records unchanged, while
/// each partition notes the event times it sees and hands their statistics to the tracker once,
/// at its end (no lock per record).
pub(crate) fn observe_event_times<T: Data>(
    batch: Batch<T>,
    time: Time,
    event_time: &EventTimeFn<T>,
    tracker: &Arc<WatermarkTracker>,
    index: usize,
) -> Batch<T> {
    let exec = batch.executor().clone();
    let parts: Vec<Part<T>> = batch
        .into_parts()
        .into_iter()
        .map(|part| {
            let (ts, tracker) = (event_time.clone(), tracker.clone());
            Part::lazy(move |emit: &mut dyn FnMut(T)| {
                let mut stats = EventTimeStats::default();
                part.run(&mut |t: T| {
                    stats.observe(guard("with_watermark", || ts(&t)).millis());
                    emit(t)
                });
                tracker.observe(index, &stats);
            })
        })
        .collect();
    Batch::from_parts(parts, time, exec)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(ts: &[i64]) -> EventTimeStats {
        let mut s = EventTimeStats::default();
        ts.iter().for_each(|t| s.observe(*t));
        s
    }

    #[test]
    fn max_seen_minus_delay_never_back() {
        let w = WatermarkTracker::new(MultipleWatermarkPolicy::Min, None);
        let i = w.register("a", Duration::from_millis(10));
        w.start(Time::from_millis(0));
        w.observe(i, &stats(&[50, 30]));
        assert_eq!(w.current().millis(), 0, "used only from the next batch");
        assert!(w.end_batch(Time::from_millis(1)).advanced);
        assert_eq!(w.current().millis(), 40);
        w.observe(i, &stats(&[20]));
        assert!(!w.end_batch(Time::from_millis(2)).advanced);
        assert_eq!(w.current().millis(), 40);
    }

    #[test]
    fn min_policy_waits_for_every_input_unless_idle() {
        let w = WatermarkTracker::new(MultipleWatermarkPolicy::Min, Some(Duration::from_millis(100)));
        let a = w.register("a", Duration::ZERO);
        let _b = w.register("b", Duration::ZERO);
        w.start(Time::from_millis(0));
        w.observe(a, &stats(&[500]));
        w.end_batch(Time::from_millis(10));
        assert_eq!(w.current().millis(), 0);
        w.observe(a, &stats(&[600]));
        w.end_batch(Time::from_millis(150));
        assert_eq!(w.current().millis(), 600, "b idle for 150 ms ≥ 100 ms");
    }
}
