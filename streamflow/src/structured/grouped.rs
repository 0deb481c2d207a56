//! [`GroupedDataset`]: a dataset grouped by key (and event-time window), waiting for its
//! aggregate. The aggregators are in `state/aggregators.rs`, the stateful operator that runs
//! them in `state/aggregation.rs`.

use std::marker::PhantomData;
use std::sync::Arc;

use super::dataset::{AggInfo, Dataset};
use super::output_mode::OutputMode;
use super::plan::Planner;
use super::shape::{Aggregated, Plain, Shape};
use crate::data::{Data, Key, StateData};
use crate::state::aggregation::{AggOperator, AggSpec, KeyOf};
use crate::state::aggregators::{AggRow, Aggregator, Avg, Count, Max, Min, Sum};
use crate::state::group_state::{GroupFn, GroupState, GroupStateOperator, GroupStateTimeout};
use crate::window::event_time::WindowSpec;

/// A dataset grouped by key (and window), waiting for its aggregate: made by
/// [`Dataset::group_by`] and [`Dataset::group_by_window`], or with the key looked up by borrow,
/// [`Dataset::group_by_ref`], [`Dataset::group_by_value`] and [`Dataset::group_by_window_ref`].
///
/// ```
/// # use streamflow::structured::{MemoryStream, OutputMode, Session, AggRow};
/// let session = Session::new(2)?;
/// let input = MemoryStream::<(String, i64)>::new();
/// let query = session
///     .read_stream::<(String, i64)>()
///     .memory(&input)
///     .group_by(|(user, _)| user.clone())
///     .sum(|(_, amount)| *amount)
///     .write_stream()
///     .output_mode(OutputMode::Complete)
///     .memory("totals")
///     .start()?;
/// input.add_data([("ann".to_string(), 5), ("bob".to_string(), 1), ("ann".to_string(), 2)]);
/// query.process_all_available()?;
/// let mut rows = session.memory_table::<AggRow<String, i64>>("totals")?.rows();
/// rows.sort_by(|a, b| a.key.cmp(&b.key));
/// assert_eq!(rows.iter().map(|r| (r.key.as_str(), r.value)).collect::<Vec<_>>(), [("ann", 7), ("bob", 1)]);
/// query.stop()?;
/// # Ok::<(), streamflow::Error>(())
/// ```
///
/// Its shape parameters ([`shape`](super::shape)) are the shape of the dataset grouped, `Sh`,
/// and the shape of its aggregates, `O`: [`Aggregated`], or for `group_by_window` and
/// `group_by_event_time`, [`WindowAggregated`](super::shape::WindowAggregated).
pub struct GroupedDataset<T, K, Sh = Plain, O = Aggregated> {
    ds: Dataset<T, Sh>,
    key: KeyOf<T, K>,
    window: Option<WindowSpec>,
    /// Grouped by the event time itself (`group_by_event_time`).
    event_time_key: bool,
    /// The shape of its aggregates.
    shape: PhantomData<fn() -> O>,
}

impl<T: Data, K: Key + StateData, Sh: Shape, O: Shape> GroupedDataset<T, K, Sh, O> {
    pub(crate) fn new(ds: Dataset<T, Sh>, key: KeyOf<T, K>, window: Option<WindowSpec>) -> Self {
        GroupedDataset {
            ds,
            key,
            window,
            event_time_key: false,
            shape: PhantomData,
        }
    }

    /// Groups by the event time and `key` (see [`Dataset::group_by_event_time`]).
    pub(crate) fn by_event_time(ds: Dataset<T, Sh>, key: KeyOf<T, K>) -> Self {
        GroupedDataset {
            ds,
            key,
            window: None,
            event_time_key: true,
            shape: PhantomData,
        }
    }

    /// Calls `f` once per key with the key's records of the batch and its [`GroupState`], and
    /// once per key whose timeout expired (no records, `has_timed_out()` true); the records it
    /// returns are the output (Spark's `flatMapGroupsWithState(outputMode, timeoutConf)`).
    /// Timeouts fire in batches without new data too.
    ///
    /// `output_mode` is the operator's own, as in Spark: Append or Update, the query's mode
    /// when the query has no aggregation; Append when an aggregation follows it (none may
    /// precede it). `start()` checks it.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # use streamflow::{Duration, ManualClock};
    /// let clock = ManualClock::new(0);
    /// let session = Session::builder().parallelism(1).clock(clock.clone()).build()?;
    /// let clicks = MemoryStream::<String>::new();
    /// // A user's session ends after 30 s without clicks: emit how many clicks it had.
    /// let query = session.read_stream::<String>().memory(&clicks)
    ///     .group_by(|user| user.clone())
    ///     .flat_map_groups_with_state(OutputMode::Append, GroupStateTimeout::ProcessingTimeTimeout,
    ///         |user: &String, new: Vec<String>, state: &mut GroupState<u64>| {
    ///             if state.has_timed_out() {
    ///                 let total = state.get().copied().unwrap_or(0);
    ///                 state.remove();
    ///                 return vec![(user.clone(), total)];
    ///             }
    ///             state.update(state.get().copied().unwrap_or(0) + new.len() as u64);
    ///             state.set_timeout_duration("30 s");
    ///             vec![]
    ///         })
    ///     .write_stream().memory("ended").start()?;
    /// clicks.add_data(["ann".to_string(), "ann".to_string()]);
    /// query.process_all_available()?;
    /// clock.advance(Duration::seconds(31))?; // no new clicks: a batch without data times ann out
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<(String, u64)>("ended")?.rows(), [("ann".to_string(), 2)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn flat_map_groups_with_state<S: StateData, U: Data, I: IntoIterator<Item = U>>(
        &self,
        output_mode: OutputMode,
        timeout: GroupStateTimeout,
        f: impl Fn(&K, Vec<T>, &mut GroupState<S>) -> I + Send + Sync + 'static,
    ) -> Dataset<U, Sh> {
        let f: GroupFn<K, T, S, U> = Arc::new(move |k, v, s| f(k, v, s).into_iter().collect());
        self.with_state("flat_map_groups_with_state", Some(output_mode), timeout, f)
    }

    /// Calls `f` once per key with the key's records of the batch and its [`GroupState`] (and
    /// once per expired timeout), each call giving one output record (Spark's
    /// `mapGroupsWithState`). Runs in Update mode only, as in Spark. See
    /// [`GroupState`] for an example.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::new(1)?;
    /// let last = session.read_stream::<(String, i64)>().memory(&MemoryStream::new())
    ///     .group_by(|(user, _)| user.clone())
    ///     .map_groups_with_state(GroupStateTimeout::NoTimeout, |user: &String, new: Vec<(String, i64)>, state: &mut GroupState<i64>| {
    ///         if let Some((_, v)) = new.last() { state.update(*v) }
    ///         (user.clone(), state.get().copied())
    ///     });
    /// let err = last.write_stream().output_mode(OutputMode::Append).memory("last").start().unwrap_err();
    /// assert!(err.to_string().contains("Update"), "{err}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn map_groups_with_state<S: StateData, U: Data>(
        &self,
        timeout: GroupStateTimeout,
        f: impl Fn(&K, Vec<T>, &mut GroupState<S>) -> U + Send + Sync + 'static,
    ) -> Dataset<U, Sh> {
        let f: GroupFn<K, T, S, U> = Arc::new(move |k, v, s| vec![f(k, v, s)]);
        self.with_state("map_groups_with_state", None, timeout, f)
    }

    fn with_state<S: StateData, U: Data>(
        &self,
        operator: &'static str,
        output_mode: Option<OutputMode>,
        timeout: GroupStateTimeout,
        f: GroupFn<K, T, S, U>,
    ) -> Dataset<U, Sh> {
        let mut logical = self.ds.logical.then(operator);
        logical
            .groups_with_state
            .push(crate::event_time::rules::GroupsWithState {
                operator: operator.to_string(),
                mode: output_mode.map(Into::into),
                after_aggregation: !self.ds.logical.aggregations.is_empty(),
            });
        if self.window.is_some() || self.event_time_key {
            logical.errors.push(format!(
                "`{operator}` groups by key only: use group_by(..) before it, not group_by_window or group_by_event_time"
            ));
        }
        if timeout == GroupStateTimeout::EventTimeTimeout && !self.ds.logical.watermarked {
            logical.errors.push(format!(
                "`{operator}` with GroupStateTimeout::EventTimeTimeout needs a watermark: call .with_watermark(|r| r.ts, \"10 minutes\") before group_by"
            ));
        }
        let parent = self.ds.clone();
        let key = self.key.owned();
        Dataset::new(self.ds.session.clone(), logical, None, move |p: &mut Planner| {
            let node = parent.node(p)?;
            let op = Arc::new(GroupStateOperator::new(
                operator,
                timeout,
                key.clone(),
                f.clone(),
                p.exec.parallelism(),
                p.run.clone(),
            ));
            let exec = p.exec.clone();
            Ok(p.add_stateful(operator, node, op.clone(), move |input, time| {
                op.run(input, time, &exec).map(Some)
            }))
        })
    }

    /// The number of records per group (Spark's `count()`).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let words = MemoryStream::<&'static str>::new();
    /// let query = session.read_stream::<&'static str>().memory(&words)
    ///     .group_by(|w| w.to_string()).count() // keys are kept in state: owned
    ///     .write_stream().output_mode(OutputMode::Complete).memory("counts").start()?;
    /// words.add_data(["cat", "dog", "cat"]);
    /// query.process_all_available()?;
    /// words.add_data(["dog"]); // counts carry over from batch to batch
    /// query.process_all_available()?;
    /// let mut rows = session.memory_table::<AggRow<String, u64>>("counts")?.rows();
    /// rows.sort_by(|a, b| a.key.cmp(&b.key));
    /// assert_eq!(rows.iter().map(|r| (r.key.as_str(), r.value)).collect::<Vec<_>>(), [("cat", 2), ("dog", 2)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn count(&self) -> Dataset<AggRow<K, u64>, O> {
        self.agg(Count)
    }

    /// The sum of `f` per group.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let sales = MemoryStream::<(&'static str, u32)>::new();
    /// let query = session.read_stream::<(&'static str, u32)>().memory(&sales)
    ///     .group_by(|(item, _)| item.to_string()).sum(|(_, qty)| *qty)
    ///     .write_stream().output_mode(OutputMode::Update).memory("sold").start()?;
    /// sales.add_data([("pen", 2), ("pen", 3)]);
    /// query.process_all_available()?;
    /// sales.add_data([("pen", 1)]);
    /// query.process_all_available()?;
    /// // Update mode: each batch emits the groups it changed, with their running total.
    /// let rows = session.memory_table::<AggRow<String, u32>>("sold")?.rows();
    /// assert_eq!(rows.iter().map(|r| r.value).collect::<Vec<_>>(), [5, 6]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn sum<N>(&self, f: impl Fn(&T) -> N + Send + Sync + 'static) -> Dataset<AggRow<K, N>, O>
    where
        N: StateData + Default + std::ops::AddAssign,
    {
        self.agg(Sum::new(f))
    }

    /// The smallest `f` per group.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let temps = MemoryStream::<(&'static str, f64)>::new();
    /// let query = session.read_stream::<(&'static str, f64)>().memory(&temps)
    ///     .group_by(|(city, _)| city.to_string()).min(|(_, celsius)| *celsius)
    ///     .write_stream().output_mode(OutputMode::Complete).memory("lows").start()?;
    /// temps.add_data([("oslo", 1.0), ("rome", 12.0), ("oslo", -3.5)]);
    /// query.process_all_available()?;
    /// let mut rows = session.memory_table::<AggRow<String, f64>>("lows")?.rows();
    /// rows.sort_by(|a, b| a.key.cmp(&b.key));
    /// let lows: Vec<(&str, f64)> = rows.iter().map(|r| (r.key.as_str(), r.value)).collect();
    /// assert_eq!(lows, [("oslo", -3.5), ("rome", 12.0)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn min<N>(&self, f: impl Fn(&T) -> N + Send + Sync + 'static) -> Dataset<AggRow<K, N>, O>
    where
        N: StateData + PartialOrd + Default,
    {
        self.agg(Min::new(f))
    }

    /// The largest `f` per group.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let latency = MemoryStream::<(&'static str, u64)>::new();
    /// let query = session.read_stream::<(&'static str, u64)>().memory(&latency)
    ///     .group_by(|(route, _)| route.to_string()).max(|(_, ms)| *ms)
    ///     .write_stream().output_mode(OutputMode::Complete).memory("worst").start()?;
    /// latency.add_data([("/home", 12), ("/login", 250), ("/home", 40)]);
    /// query.process_all_available()?;
    /// let mut rows = session.memory_table::<AggRow<String, u64>>("worst")?.rows();
    /// rows.sort_by(|a, b| a.key.cmp(&b.key));
    /// let worst: Vec<(&str, u64)> = rows.iter().map(|r| (r.key.as_str(), r.value)).collect();
    /// assert_eq!(worst, [("/home", 40), ("/login", 250)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn max<N>(&self, f: impl Fn(&T) -> N + Send + Sync + 'static) -> Dataset<AggRow<K, N>, O>
    where
        N: StateData + PartialOrd + Default,
    {
        self.agg(Max::new(f))
    }

    /// The mean of `f` per group.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let ratings = MemoryStream::<(&'static str, u8)>::new();
    /// let query = session.read_stream::<(&'static str, u8)>().memory(&ratings)
    ///     .group_by(|(film, _)| film.to_string()).avg(|(_, stars)| f64::from(*stars))
    ///     .write_stream().output_mode(OutputMode::Complete).memory("ratings").start()?;
    /// ratings.add_data([("heat", 4), ("heat", 5)]);
    /// query.process_all_available()?;
    /// ratings.add_data([("heat", 3)]); // the mean of all three, not of this batch
    /// query.process_all_available()?;
    /// let rows = session.memory_table::<AggRow<String, f64>>("ratings")?.rows();
    /// assert_eq!((rows[0].key.as_str(), rows[0].value), ("heat", 4.0));
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn avg(&self, f: impl Fn(&T) -> f64 + Send + Sync + 'static) -> Dataset<AggRow<K, f64>, O> {
        self.agg(Avg::new(f))
    }

    /// Aggregates each group with `aggregator` (Spark's `agg` with a typed `Aggregator`).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// /// The spread (largest minus smallest) of a group.
    /// struct Spread;
    /// impl Aggregator<i64> for Spread {
    ///     type Buffer = (i64, i64);
    ///     type Output = i64;
    ///     fn zero(&self) -> (i64, i64) { (i64::MAX, i64::MIN) }
    ///     fn reduce(&self, b: &mut (i64, i64), x: &i64) { *b = (b.0.min(*x), b.1.max(*x)) }
    ///     fn merge(&self, b: &mut (i64, i64), o: (i64, i64)) { *b = (b.0.min(o.0), b.1.max(o.1)) }
    ///     fn finish(&self, b: &(i64, i64)) -> i64 { b.1 - b.0 }
    /// }
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input)
    ///     .group_by(|x| x % 2).agg(Spread)
    ///     .write_stream().output_mode(OutputMode::Complete).memory("spread").start()?;
    /// input.add_data([1, 4, 9, 10]);
    /// query.process_all_available()?;
    /// let mut rows = session.memory_table::<AggRow<i64, i64>>("spread")?.rows();
    /// rows.sort_by_key(|r| r.key);
    /// assert_eq!(rows.iter().map(|r| (r.key, r.value)).collect::<Vec<_>>(), [(0, 6), (1, 8)]);
    /// assert_eq!(rows[0].column(), "agg"); // Aggregator::name's default
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    ///
    /// Several aggregates per group at once (Spark's `agg(count(..), avg(..), max(..))`): a
    /// tuple of two to six aggregators is one, computing each in one pass over the records,
    /// with one state per group; the value is the tuple of their results (column `agg`).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// let session = Session::builder().parallelism(2).clock(streamflow::ManualClock::new(0)).build()?;
    /// let orders = MemoryStream::<(String, f64)>::new(); // (customer, amount)
    /// let query = session.read_stream::<(String, f64)>().memory(&orders)
    ///     .group_by(|o| o.0.clone())
    ///     .agg((Count, Avg::new(|o: &(String, f64)| o.1), Max::new(|o: &(String, f64)| o.1 as i64)))
    ///     .write_stream().output_mode(OutputMode::Complete).memory("customers").start()?;
    /// orders.add_data([("ann".to_string(), 10.0), ("ann".to_string(), 30.0), ("bob".to_string(), 5.0)]);
    /// query.process_all_available()?;
    /// let mut rows = session.memory_table::<AggRow<String, (u64, f64, i64)>>("customers")?.rows();
    /// rows.sort_by(|a, b| a.key.cmp(&b.key));
    /// assert_eq!(rows[0].value, (2, 20.0, 30));
    /// assert_eq!(rows[1].value, (1, 5.0, 5));
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn agg<A: Aggregator<T>>(&self, aggregator: A) -> Dataset<AggRow<K, A::Output>, O> {
        // Named by how it groups, not by how its key is looked up (`group_by_ref` and
        // `group_by_value` are `group_by`): the state is the same, so is a checkpoint's.
        let operator = format!(
            "{}(..).{}()",
            if self.window.is_some() {
                "group_by_window"
            } else if self.event_time_key {
                "group_by_event_time"
            } else {
                "group_by"
            },
            aggregator.name()
        );
        let mut logical = self.ds.logical.then(&operator);
        // The columns of `AggRow`'s serialized form, in order.
        let value_column = aggregator.name().to_string();
        logical.columns = Some(match self.window {
            Some(_) => vec!["window".into(), "key".into(), value_column],
            None => vec!["key".into(), value_column],
        });
        logical.aggregations.push(AggInfo {
            id: crate::structured::next_dataset_id(),
            operator: operator.clone(),
            // Grouped by the event time itself, a group is final once the watermark passes it,
            // as a window is once it passes the window's end: Append is allowed (Spark).
            event_time_window: self.window.is_some() || self.event_time_key,
            watermarked: self.ds.logical.watermarked,
        });
        if self.event_time_key && self.ds.event_time.is_none() {
            logical.errors.push(format!(
                "`{operator}` needs the event time of each record: call .with_watermark(|r| r.ts, \"10 minutes\") or .with_event_time(|r| r.ts) before group_by_event_time"
            ));
        }
        if let Some(spec) = &self.window {
            logical
                .errors
                .extend(spec.errors().iter().map(|e| format!("{operator}: {e}")));
            if spec.is_session() && std::mem::size_of::<K>() == 0 {
                logical.errors.push(format!(
                    "`{operator}`: a global aggregation with a session window is not supported (as in Spark): group by a key as well, e.g. group_by_window(|r| r.user.clone(), session_window(..))"
                ));
            }
            if self.ds.event_time.is_none() {
                logical.errors.push(format!(
                    "`{operator}` needs the event time of each record: call .with_watermark(|r| r.ts, \"10 minutes\") or .with_event_time(|r| r.ts) before group_by_window"
                ));
            }
        }
        let parent = self.ds.clone();
        let (key, window) = (self.key.clone(), self.window.clone());
        let aggregator = Arc::new(aggregator);
        let watermarked = self.ds.logical.watermarked;
        let event_time_key = self.event_time_key;
        // Continuous mode runs aggregations by key only (no window, no event time in the key).
        let continuous = (window.is_none() && !event_time_key).then(|| {
            let (name, key, aggregator) = (operator.clone(), key.clone(), aggregator.clone());
            let event_time = parent.event_time.clone();
            crate::exec::continuous::aggregate(&parent, &operator, key.owned(), move |p: &Planner| {
                let spec = AggSpec {
                    name: name.clone(),
                    key: key.clone(),
                    window: None,
                    event_time: event_time.clone(),
                    watermarked,
                    event_time_key: false,
                    agg: aggregator.clone(),
                    late: None,
                };
                Arc::new(AggOperator::new(spec, p.exec.parallelism(), p.run.clone()))
            })
        });
        let dataset = Dataset::new(self.ds.session.clone(), logical, None, move |p: &mut Planner| {
            let node = parent.node(p)?;
            let event_time = parent.event_time.clone();
            let spec = AggSpec {
                name: operator.clone(),
                key: key.clone(),
                window: window.clone(),
                event_time,
                watermarked,
                event_time_key,
                agg: aggregator.clone(),
                late: p.late_slot_of(&parent),
            };
            let op = Arc::new(AggOperator::new(spec, p.exec.parallelism(), p.run.clone()));
            Ok(
                p.add_stateful(&operator.clone(), node, op.clone(), move |input, time| {
                    input.map(|batch| op.run(batch, time)).transpose()
                }),
            )
        });
        match continuous {
            Some(plan) => dataset.with_continuous(plan),
            None => dataset,
        }
    }
}
