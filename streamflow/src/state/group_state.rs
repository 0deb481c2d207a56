//! Arbitrary keyed state of a Structured query (Spark's `mapGroupsWithState` /
//! `flatMapGroupsWithState`), on the keyed-state primitive (`keyed.rs`).
//!
//! Per batch the records are grouped by key and shuffled to the state's partitions; the user's
//! function runs once per key with records, with that key's [`GroupState`], and then once per
//! key without records whose timeout expired (`has_timed_out()` true): a processing-time
//! timeout when the batch's time passed it, an event-time timeout when the watermark passed it
//! (`timeout < threshold`, as Spark). A query whose operator holds an expired timeout asks the
//! driver for a batch without data, so timeouts fire without new input.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::keyed::run_keyed;
use super::{StateHandle, StateStore};
use crate::batch::Batch;
use crate::batch::shuffle::{Combine, FastMap, append, group_values};
use crate::data::{Data, Key, StateData};
use crate::error::{Error, Result};
use crate::exec::{Executor, guard, lock};
use crate::metrics::progress::StateOperatorProgress;
use crate::structured::plan::{RunShared, StatefulRun};
use crate::time::{IntoDuration, Time};

/// Which timeouts a [`GroupState`] may set (Spark's `GroupStateTimeout`).
///
/// ```
/// use streamflow::structured::GroupStateTimeout;
/// assert_eq!(GroupStateTimeout::default(), GroupStateTimeout::NoTimeout);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupStateTimeout {
    /// No timeouts.
    #[default]
    NoTimeout,
    /// [`GroupState::set_timeout_duration`]: after a duration of processing (batch) time.
    ProcessingTimeTimeout,
    /// [`GroupState::set_timeout_timestamp`]: once the watermark passes an event time.
    EventTimeTimeout,
}

/// What a key keeps: its state and its timeout (milliseconds), if any.
#[derive(Clone, Serialize, Deserialize)]
struct Stored<S> {
    value: S,
    timeout: Option<i64>,
}

/// The state of one key, given to the function of
/// [`flat_map_groups_with_state`](crate::structured::GroupedDataset::flat_map_groups_with_state)
/// (Spark's `GroupState`).
///
/// ```
/// # use streamflow::structured::*;
/// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
/// let input = MemoryStream::<String>::new();
/// let query = session.read_stream::<String>().memory(&input)
///     .group_by(|w| w.clone())
///     .map_groups_with_state(GroupStateTimeout::NoTimeout, |word: &String, seen: Vec<String>, state: &mut GroupState<u64>| {
///         let total = state.get().copied().unwrap_or(0) + seen.len() as u64;
///         state.update(total);
///         (word.clone(), total)
///     })
///     .write_stream().output_mode(OutputMode::Update).memory("totals").start()?;
/// input.add_data(["a".to_string(), "a".to_string()]);
/// query.process_all_available()?;
/// input.add_data(["a".to_string()]);
/// query.process_all_available()?;
/// assert_eq!(session.memory_table::<(String, u64)>("totals")?.rows(), [("a".to_string(), 2), ("a".to_string(), 3)]);
/// query.stop()?;
/// # Ok::<(), streamflow::Error>(())
/// ```
pub struct GroupState<S> {
    value: Option<S>,
    timeout: Option<i64>,
    timed_out: bool,
    kind: GroupStateTimeout,
    batch_time: i64,
    watermark: Option<i64>,
    error: Option<String>,
}

impl<S> GroupState<S> {
    /// The state, if the key has one.
    #[doc(alias = "getOption")]
    pub fn get(&self) -> Option<&S> {
        self.value.as_ref()
    }

    /// Whether the key has a state.
    pub fn exists(&self) -> bool {
        self.value.is_some()
    }

    /// Sets the key's state.
    pub fn update(&mut self, value: S) {
        self.value = Some(value);
    }

    /// Removes the key's state (and its timeout).
    pub fn remove(&mut self) {
        self.value = None;
        self.timeout = None;
    }

    /// Whether this call is for the key's expired timeout (no records).
    pub fn has_timed_out(&self) -> bool {
        self.timed_out
    }

    /// The time of the current batch (milliseconds), from which processing-time timeouts count.
    #[doc(alias = "getCurrentProcessingTimeMs")]
    pub fn current_processing_time_ms(&self) -> i64 {
        self.batch_time
    }

    /// The watermark of the current batch, if the query has one.
    #[doc(alias = "getCurrentWatermarkMs")]
    pub fn current_watermark_ms(&self) -> Option<i64> {
        self.watermark
    }

    /// Times the key out after `duration` of processing time without records (Spark's
    /// `setTimeoutDuration`; with [`GroupStateTimeout::ProcessingTimeTimeout`] only, else the
    /// query fails with an error saying so).
    pub fn set_timeout_duration(&mut self, duration: impl IntoDuration) {
        if self.kind != GroupStateTimeout::ProcessingTimeTimeout {
            self.error = Some("set_timeout_duration needs GroupStateTimeout::ProcessingTimeTimeout".into());
            return;
        }
        match duration.into_duration() {
            Ok(d) => self.timeout = Some(self.batch_time.saturating_add(d.millis() as i64)),
            Err(e) => self.error = Some(format!("set_timeout_duration: {e}")),
        }
    }

    /// Times the key out once the watermark passes `timestamp` (Spark's `setTimeoutTimestamp`;
    /// with [`GroupStateTimeout::EventTimeTimeout`] only, else the query fails with an error
    /// saying so).
    pub fn set_timeout_timestamp(&mut self, timestamp: Time) {
        if self.kind != GroupStateTimeout::EventTimeTimeout {
            self.error = Some("set_timeout_timestamp needs GroupStateTimeout::EventTimeTimeout".into());
            return;
        }
        self.timeout = Some(timestamp.millis());
    }
}

/// The user's function of a keyed-state operator.
pub(crate) type GroupFn<K, T, S, U> = Arc<dyn Fn(&K, Vec<T>, &mut GroupState<S>) -> Vec<U> + Send + Sync>;

/// The stateful operator of `flat_map_groups_with_state`.
pub(crate) struct GroupStateOperator<T, K, S, U> {
    kind: GroupStateTimeout,
    key: Arc<dyn Fn(&T) -> K + Send + Sync>,
    f: GroupFn<K, T, S, U>,
    state: StateStore<K, Stored<S>>,
    /// The earliest timeout any key holds, `i64::MAX` if none.
    next_timeout: AtomicI64,
    metrics: Mutex<StateOperatorProgress>,
    run: Arc<RunShared>,
}

impl<T: Data, K: Key + StateData, S: StateData, U: Data> StatefulRun for GroupStateOperator<T, K, S, U> {
    fn progress(&self) -> StateOperatorProgress {
        lock(&self.metrics).clone()
    }

    fn state(&self) -> &dyn StateHandle {
        &self.state
    }

    fn wants_no_data_batch(&self, now: Time, watermark: Option<Time>) -> bool {
        let next = self.next_timeout.load(Ordering::Acquire);
        match self.kind {
            GroupStateTimeout::NoTimeout => false,
            GroupStateTimeout::ProcessingTimeTimeout => next < now.millis(),
            GroupStateTimeout::EventTimeTimeout => watermark.is_some_and(|w| next < w.millis()),
        }
    }
}

impl<T: Data, K: Key + StateData, S: StateData, U: Data> GroupStateOperator<T, K, S, U> {
    pub(crate) fn new(
        name: &str,
        kind: GroupStateTimeout,
        key: Arc<dyn Fn(&T) -> K + Send + Sync>,
        f: GroupFn<K, T, S, U>,
        num_partitions: usize,
        run: Arc<RunShared>,
    ) -> Self {
        GroupStateOperator {
            kind,
            key,
            f,
            state: StateStore::new(name, num_partitions),
            next_timeout: AtomicI64::new(i64::MAX),
            metrics: Mutex::new(StateOperatorProgress::new(name)),
            run,
        }
    }

    /// Runs the batch at `time` (none: no data): what the function returned for every key.
    pub(crate) fn run(&self, input: Option<Batch<T>>, time: Time, exec: &Arc<Executor>) -> Result<Batch<U>> {
        let has_watermark = self.run.watermark.has_inputs();
        let watermark = has_watermark.then(|| self.run.watermark.current().millis());
        let (kind, key_fn, f) = (self.kind, &self.key, &self.f);
        let batch_time = time.millis();
        let threshold = match kind {
            GroupStateTimeout::NoTimeout => None,
            GroupStateTimeout::ProcessingTimeTimeout => Some(batch_time),
            GroupStateTimeout::EventTimeTimeout => watermark,
        };
        let key_of = key_fn.clone();
        let input = input.map(|b| b.map(move |t: T| (guard("group_by", || key_of(&t)), t)));
        let combine = Combine {
            add: &group_values,
            merge: &append,
        };
        let outcomes = run_keyed(&self.state, exec, input, combine, None, |part, grouped| {
            let mut rows = Vec::new();
            let (mut updated, mut removed) = (0_u64, 0_u64);
            let mut call = |part: &mut crate::state::StorePartition<K, Stored<S>>,
                            k: K,
                            values: Vec<T>,
                            timed_out: bool|
             -> Result<()> {
                let stored = part.map.get(&k).cloned();
                let existed = stored.is_some();
                // As in Spark, a timeout lasts until the function is next called: it sets it
                // again if it still wants one.
                let mut state = GroupState {
                    timeout: None,
                    value: stored.map(|s| s.value),
                    timed_out,
                    kind,
                    batch_time,
                    watermark,
                    error: None,
                };
                rows.extend(guard("flat_map_groups_with_state", || f(&k, values, &mut state)));
                if let Some(e) = state.error {
                    return Err(Error::InvalidGraph(vec![e]));
                }
                part.touch(&k);
                match state.value {
                    Some(value) => {
                        updated += 1;
                        part.map.insert(
                            k,
                            Stored {
                                value,
                                timeout: state.timeout,
                            },
                        );
                    }
                    None => {
                        removed += u64::from(existed);
                        part.map.remove(&k);
                    }
                }
                Ok(())
            };
            let with_data: FastMap<K, ()> = grouped.keys().map(|k| (k.clone(), ())).collect();
            for (k, values) in grouped {
                call(part, k, values, false)?;
            }
            if let Some(threshold) = threshold {
                let expired: Vec<K> = part
                    .map
                    .iter()
                    .filter(|(k, s)| s.timeout.is_some_and(|t| t < threshold) && !with_data.contains_key(*k))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in expired {
                    call(part, k, Vec::new(), true)?;
                }
            }
            let next = part
                .map
                .values()
                .filter_map(|s| s.timeout)
                .min()
                .unwrap_or(i64::MAX);
            Ok((rows, updated, removed, next))
        })?;
        let (mut updated, mut removed, mut next) = (0, 0, i64::MAX);
        let rows: Vec<Vec<U>> = outcomes
            .into_iter()
            .map(|(rows, u, r, n)| {
                updated += u;
                removed += r;
                next = next.min(n);
                rows
            })
            .collect();
        self.next_timeout.store(next, Ordering::Release);
        let stats = self.state.stats();
        let mut m = lock(&self.metrics);
        m.num_rows_total = stats.keys;
        m.num_rows_updated = updated;
        m.num_rows_removed = removed;
        m.memory_used_bytes = stats.approx_bytes;
        drop(m);
        Ok(Batch::from_partitions(rows, time, exec.clone()))
    }
}
