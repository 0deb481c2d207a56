//! Grouped aggregation by key and/or event-time window: `count`, `sum`, `min`, `max`, `avg`
//! and user [`Aggregator`]s, keeping their state across micro-batches.
//!
//! An aggregation is one stateful operator of the engine's graph. Per batch it:
//!
//! 1. reads its parent's batch, gives each record its key and windows, and drops records too
//!    late for the watermark (a window whose end is at or before the watermark was already
//!    emitted and forgotten; without a window, a record at or before the watermark) — counted
//!    as `num_rows_dropped_by_watermark`;
//! 2. combines records into partial aggregation buffers within each partition, then shuffles
//!    the buffers by a stable hash of `(window, key)` — a key meets the same state partition in
//!    every batch;
//! 3. merges the buffers into the state of each partition, in parallel, and emits rows by the
//!    query's [`OutputMode`]: Append — the windows whose end the watermark passed, once, and
//!    their state is dropped; Update — the groups changed in this batch (and windows the
//!    watermark passed are dropped); Complete — every group, every batch, nothing dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hashbrown::hash_map::Entry;
use serde::{Deserialize, Serialize};

use super::dataset::{AggInfo, Dataset, EventTimeFn};
use super::output_mode::OutputMode;
use super::plan::{Planner, RunShared, StatefulRun};
use crate::batch::Batch;
use crate::batch::shuffle::{Combine, FastMap};
use crate::data::{Data, Key, StateData};
use crate::error::{Error, Result};
use crate::exec::guard;
use crate::exec::lock;
use crate::graph::NodeKind;
use crate::metrics::progress::StateOperatorProgress;
use crate::state::keyed::run_keyed;
use crate::state::{StateHandle, StateStore, StorePartition};
use crate::time::Time;
use crate::window::event_time::{Window, WindowKind, WindowSpec};

/// A user-defined aggregation (Spark's `Aggregator[IN, BUF, OUT]`): a buffer starts at
/// [`zero`](Self::zero), takes records with [`reduce`](Self::reduce), partial buffers are
/// combined with [`merge`](Self::merge), and [`finish`](Self::finish) gives the result.
/// `merge` must be associative: buffers are built per partition and per batch, then merged.
///
/// # Examples
///
/// ```
/// use streamflow::structured::Aggregator;
///
/// /// The longest word of each group.
/// struct Longest;
/// impl Aggregator<String> for Longest {
///     type Buffer = String;
///     type Output = String;
///     fn name(&self) -> &'static str { "longest" }
///     fn zero(&self) -> String { String::new() }
///     fn reduce(&self, buffer: &mut String, word: &String) {
///         if word.len() > buffer.len() { *buffer = word.clone() }
///     }
///     fn merge(&self, buffer: &mut String, other: String) {
///         if other.len() > buffer.len() { *buffer = other }
///     }
///     fn finish(&self, buffer: &String) -> String { buffer.clone() }
/// }
/// let mut b = Longest.zero();
/// Longest.reduce(&mut b, &"streams".to_string());
/// Longest.merge(&mut b, "flow".to_string());
/// assert_eq!(Longest.finish(&b), "streams");
/// ```
pub trait Aggregator<In>: Send + Sync + 'static {
    /// The partial result kept in state: a serde type that owns its data, since state is
    /// written to bytes and read back (see [`StateData`]).
    type Buffer: StateData;
    /// The result emitted for a group.
    type Output: Data;
    /// The name of the result column (`count`, `sum` …).
    fn name(&self) -> &'static str {
        "agg"
    }
    /// An empty buffer.
    fn zero(&self) -> Self::Buffer;
    /// Adds one record to a buffer.
    fn reduce(&self, buffer: &mut Self::Buffer, input: &In);
    /// Adds another buffer to a buffer.
    fn merge(&self, buffer: &mut Self::Buffer, other: Self::Buffer);
    /// The result of a buffer.
    fn finish(&self, buffer: &Self::Buffer) -> Self::Output;
}

/// The number of records of a group (Spark's `count()`).
///
/// ```
/// use streamflow::structured::{Aggregator, Count};
/// let mut b = Aggregator::<&str>::zero(&Count);
/// Aggregator::<&str>::reduce(&Count, &mut b, &"x");
/// Aggregator::<&str>::merge(&Count, &mut b, 2);
/// assert_eq!(Aggregator::<&str>::finish(&Count, &b), 3);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Count;

impl<In> Aggregator<In> for Count {
    type Buffer = u64;
    type Output = u64;
    fn name(&self) -> &'static str {
        "count"
    }
    fn zero(&self) -> u64 {
        0
    }
    fn reduce(&self, buffer: &mut u64, _: &In) {
        *buffer += 1;
    }
    fn merge(&self, buffer: &mut u64, other: u64) {
        *buffer += other;
    }
    fn finish(&self, buffer: &u64) -> u64 {
        *buffer
    }
}

/// The sum of `f` over a group (Spark's `sum`).
///
/// ```
/// use streamflow::structured::{Aggregator, Sum};
/// let sum = Sum::new(|x: &i64| *x);
/// let mut b = sum.zero();
/// sum.reduce(&mut b, &4);
/// sum.merge(&mut b, 3);
/// assert_eq!(sum.finish(&b), 7);
/// ```
pub struct Sum<F>(F);

impl<F> Sum<F> {
    /// Sums `f(record)`.
    ///
    /// ```
    /// use streamflow::structured::{Aggregator, Sum};
    /// let quantity = Sum::new(|order: &(&'static str, u32)| order.1);
    /// assert_eq!(quantity.name(), "sum");
    /// let mut b = quantity.zero();
    /// quantity.reduce(&mut b, &("pen", 2));
    /// quantity.reduce(&mut b, &("book", 3));
    /// assert_eq!(quantity.finish(&b), 5);
    /// ```
    pub fn new(f: F) -> Self {
        Sum(f)
    }
}

impl<In, N, F> Aggregator<In> for Sum<F>
where
    F: Fn(&In) -> N + Send + Sync + 'static,
    N: StateData + Default + std::ops::AddAssign,
{
    type Buffer = N;
    type Output = N;
    fn name(&self) -> &'static str {
        "sum"
    }
    fn zero(&self) -> N {
        N::default()
    }
    fn reduce(&self, buffer: &mut N, input: &In) {
        *buffer += (self.0)(input);
    }
    fn merge(&self, buffer: &mut N, other: N) {
        *buffer += other;
    }
    fn finish(&self, buffer: &N) -> N {
        buffer.clone()
    }
}

/// The smallest `f` of a group (Spark's `min`).
///
/// ```
/// use streamflow::structured::{Aggregator, Min};
/// let min = Min::new(|x: &i32| *x);
/// let mut b = min.zero();
/// min.reduce(&mut b, &4);
/// min.merge(&mut b, Some(2));
/// assert_eq!(min.finish(&b), 2);
/// ```
pub struct Min<F>(F);

impl<F> Min<F> {
    /// The minimum of `f(record)`.
    ///
    /// ```
    /// use streamflow::structured::{Aggregator, Min};
    /// let cheapest = Min::new(|price: &f64| *price);
    /// let mut b = cheapest.zero();
    /// assert_eq!(b, None); // no record yet
    /// cheapest.reduce(&mut b, &2.5);
    /// cheapest.reduce(&mut b, &0.99);
    /// assert_eq!(cheapest.finish(&b), 0.99);
    /// ```
    pub fn new(f: F) -> Self {
        Min(f)
    }
}

/// The largest `f` of a group (Spark's `max`).
///
/// ```
/// use streamflow::structured::{Aggregator, Max};
/// let max = Max::new(|x: &i32| *x);
/// let mut b = max.zero();
/// max.reduce(&mut b, &4);
/// max.merge(&mut b, Some(9));
/// assert_eq!(max.finish(&b), 9);
/// ```
pub struct Max<F>(F);

impl<F> Max<F> {
    /// The maximum of `f(record)`.
    ///
    /// ```
    /// use streamflow::structured::{Aggregator, Max};
    /// let latest = Max::new(|login: &(&'static str, i64)| login.1);
    /// let (mut left, mut right) = (latest.zero(), latest.zero());
    /// latest.reduce(&mut left, &("ann", 7));
    /// latest.reduce(&mut right, &("bob", 9));
    /// latest.merge(&mut left, right); // partial buffers of two partitions
    /// assert_eq!(latest.finish(&left), 9);
    /// ```
    pub fn new(f: F) -> Self {
        Max(f)
    }
}

fn keep<N: PartialOrd>(buffer: &mut Option<N>, candidate: N, smaller: bool) {
    let replace = match buffer {
        None => true,
        Some(current) => {
            if smaller {
                candidate < *current
            } else {
                candidate > *current
            }
        }
    };
    if replace {
        *buffer = Some(candidate);
    }
}

macro_rules! extremum {
    ($t:ident, $name:literal, $smaller:expr) => {
        impl<In, N, F> Aggregator<In> for $t<F>
        where
            F: Fn(&In) -> N + Send + Sync + 'static,
            N: StateData + PartialOrd + Default,
        {
            type Buffer = Option<N>;
            type Output = N;
            fn name(&self) -> &'static str {
                $name
            }
            fn zero(&self) -> Option<N> {
                None
            }
            fn reduce(&self, buffer: &mut Option<N>, input: &In) {
                keep(buffer, (self.0)(input), $smaller);
            }
            fn merge(&self, buffer: &mut Option<N>, other: Option<N>) {
                if let Some(candidate) = other {
                    keep(buffer, candidate, $smaller);
                }
            }
            /// A group has at least one record, so the buffer is never empty when finished.
            fn finish(&self, buffer: &Option<N>) -> N {
                buffer.clone().unwrap_or_default()
            }
        }
    };
}

extremum!(Min, "min", true);
extremum!(Max, "max", false);

/// The mean of `f` over a group (Spark's `avg`).
///
/// ```
/// use streamflow::structured::{Aggregator, Avg};
/// let avg = Avg::new(|x: &i32| f64::from(*x));
/// let mut b = avg.zero();
/// avg.reduce(&mut b, &1);
/// avg.reduce(&mut b, &2);
/// assert_eq!(avg.finish(&b), 1.5);
/// ```
pub struct Avg<F>(F);

impl<F> Avg<F> {
    /// The mean of `f(record)`.
    ///
    /// ```
    /// use streamflow::structured::{Aggregator, Avg};
    /// let mean = Avg::new(|ms: &u32| f64::from(*ms));
    /// let (mut left, mut right) = (mean.zero(), mean.zero());
    /// mean.reduce(&mut left, &10);
    /// mean.reduce(&mut right, &20);
    /// mean.reduce(&mut right, &30);
    /// mean.merge(&mut left, right);
    /// assert_eq!(mean.finish(&left), 20.0);
    /// ```
    pub fn new(f: F) -> Self {
        Avg(f)
    }
}

impl<In, F> Aggregator<In> for Avg<F>
where
    F: Fn(&In) -> f64 + Send + Sync + 'static,
{
    type Buffer = (f64, u64);
    type Output = f64;
    fn name(&self) -> &'static str {
        "avg"
    }
    fn zero(&self) -> (f64, u64) {
        (0.0, 0)
    }
    fn reduce(&self, buffer: &mut (f64, u64), input: &In) {
        buffer.0 += (self.0)(input);
        buffer.1 += 1;
    }
    fn merge(&self, buffer: &mut (f64, u64), other: (f64, u64)) {
        buffer.0 += other.0;
        buffer.1 += other.1;
    }
    fn finish(&self, buffer: &(f64, u64)) -> f64 {
        if buffer.1 == 0 {
            0.0
        } else {
            buffer.0 / buffer.1 as f64
        }
    }
}

/// A row of an aggregation's result: the window (for windowed aggregations), the key, and the
/// aggregate's value.
///
/// Serializes like Spark's result row: `{"window": {"start": …, "end": …}, "key": …, "count": …}`
/// — the value's column is named after the aggregate.
///
/// ```
/// use streamflow::structured::AggRow;
/// let row = AggRow::new(None, "cat".to_string(), 3_u64, "count");
/// assert_eq!(serde_json::to_string(&row).unwrap(), r#"{"key":"cat","count":3}"#);
/// ```
#[derive(Clone, Debug, PartialEq, PartialOrd)]
pub struct AggRow<K, V> {
    /// The event-time window, if grouped by one.
    pub window: Option<Window>,
    /// The group's key.
    pub key: K,
    /// The aggregate.
    pub value: V,
    column: &'static str,
}

impl<K, V> AggRow<K, V> {
    /// A row; `column` names the value in the row's serialized form.
    ///
    /// ```
    /// use streamflow::structured::{AggRow, Window};
    /// use streamflow::Time;
    ///
    /// let w = Window { start: Time::from_millis(0), end: Time::from_millis(60_000) };
    /// let row = AggRow::new(Some(w), "cat", 2_u64, "count");
    /// assert_eq!((row.window, row.key, row.value), (Some(w), "cat", 2));
    /// assert_eq!(
    ///     serde_json::to_string(&row).unwrap(),
    ///     r#"{"window":{"start":"1970-01-01T00:00:00.000Z","end":"1970-01-01T00:01:00.000Z"},"key":"cat","count":2}"#
    /// );
    /// ```
    pub fn new(window: Option<Window>, key: K, value: V, column: &'static str) -> Self {
        AggRow {
            window,
            key,
            value,
            column,
        }
    }

    /// The name of the value's column (`count`, `sum`, …).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<(&'static str, f64)>::new();
    /// let query = session.read_stream::<(&'static str, f64)>().memory(&input)
    ///     .group_by(|(sensor, _)| sensor.to_string()).max(|(_, reading)| *reading)
    ///     .write_stream().output_mode(OutputMode::Update).memory("maxima").start()?;
    /// input.add_data([("s1", 1.5)]);
    /// query.process_all_available()?;
    /// let rows = session.memory_table::<AggRow<String, f64>>("maxima")?.rows();
    /// assert_eq!(rows[0].column(), "max"); // named by the aggregate
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn column(&self) -> &'static str {
        self.column
    }
}

impl<K: serde::Serialize, V: serde::Serialize> serde::Serialize for AggRow<K, V> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(2 + usize::from(self.window.is_some())))?;
        if let Some(w) = &self.window {
            map.serialize_entry("window", w)?;
        }
        map.serialize_entry("key", &self.key)?;
        map.serialize_entry(self.column, &self.value)?;
        map.end()
    }
}

type KeyFn<T, K> = Arc<dyn Fn(&T) -> K + Send + Sync>;

/// A dataset grouped by key (and window), waiting for its aggregate: made by
/// [`Dataset::group_by`] and [`Dataset::group_by_window`].
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
pub struct GroupedDataset<T, K> {
    ds: Dataset<T>,
    key: KeyFn<T, K>,
    window: Option<WindowSpec>,
}

impl<T: Data, K: Key + StateData> GroupedDataset<T, K> {
    pub(crate) fn new(ds: Dataset<T>, key: KeyFn<T, K>, window: Option<WindowSpec>) -> Self {
        GroupedDataset { ds, key, window }
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
    pub fn count(&self) -> Dataset<AggRow<K, u64>> {
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
    pub fn sum<N>(&self, f: impl Fn(&T) -> N + Send + Sync + 'static) -> Dataset<AggRow<K, N>>
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
    pub fn min<N>(&self, f: impl Fn(&T) -> N + Send + Sync + 'static) -> Dataset<AggRow<K, N>>
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
    pub fn max<N>(&self, f: impl Fn(&T) -> N + Send + Sync + 'static) -> Dataset<AggRow<K, N>>
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
    pub fn avg(&self, f: impl Fn(&T) -> f64 + Send + Sync + 'static) -> Dataset<AggRow<K, f64>> {
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
    pub fn agg<A: Aggregator<T>>(&self, aggregator: A) -> Dataset<AggRow<K, A::Output>> {
        let operator = format!(
            "{}(..).{}()",
            if self.window.is_some() {
                "group_by_window"
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
            operator: operator.clone(),
            event_time_window: self.window.is_some(),
            watermarked: self.ds.logical.watermarked,
        });
        if let Some(spec) = &self.window {
            logical
                .errors
                .extend(spec.errors().iter().map(|e| format!("{operator}: {e}")));
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
        Dataset::new(self.ds.session.clone(), logical, None, move |p: &mut Planner| {
            let node = parent.node(p)?;
            let event_time = parent.event_time.clone();
            let op = Arc::new(AggOperator {
                name: operator.clone(),
                key: key.clone(),
                window: window.clone(),
                event_time,
                watermarked,
                agg: aggregator.clone(),
                state: AggState::new(
                    &operator,
                    window.as_ref().is_some_and(WindowSpec::is_session),
                    p.exec.parallelism(),
                ),
                metrics: Mutex::new(StateOperatorProgress::new(&operator)),
                run: p.run.clone(),
            });
            p.stateful.push(op.clone());
            let meta = node.meta.clone();
            Ok(p.add(
                &operator.clone(),
                NodeKind::Stateful,
                vec![meta],
                move |time| match node.get_or_compute(time)? {
                    Some(batch) => op.run(batch, time).map(Some),
                    None => Ok(None),
                },
            ))
        })
    }
}

/// A group's state: its buffer and the batch that last changed it.
#[derive(Clone, Serialize, Deserialize)]
struct Slot<B> {
    buffer: B,
    updated: u64,
}

/// A session of one key: `[start, end)` in milliseconds.
#[derive(Clone, Serialize, Deserialize)]
struct Session<B> {
    start: i64,
    end: i64,
    buffer: B,
    updated: u64,
}

/// The window part of a group key, kept small because every aggregated row hashes it and the
/// map holds one per group: the window's start, or [`NO_WINDOW`]. All time windows of one
/// operator have the same size, so the end is implied (see `AggOperator::window_at`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct WindowStart(i64);

/// The group key of an aggregation without a window.
const NO_WINDOW: WindowStart = WindowStart(i64::MIN);

type GroupKey<K> = (WindowStart, K);

/// What an aggregation keeps across batches.
enum AggState<K, B> {
    /// Tumbling, sliding and key-only groups.
    Groups(StateStore<GroupKey<K>, Slot<B>>),
    /// Session windows: the open sessions of each key, sorted by start.
    Sessions(StateStore<K, Vec<Session<B>>>),
}

impl<K: Key + StateData, B: StateData> AggState<K, B> {
    fn new(operator: &str, sessions: bool, num_partitions: usize) -> Self {
        if sessions {
            AggState::Sessions(StateStore::new(operator, num_partitions))
        } else {
            AggState::Groups(StateStore::new(operator, num_partitions))
        }
    }

    fn handle(&self) -> &dyn StateHandle {
        match self {
            AggState::Groups(store) => store,
            AggState::Sessions(store) => store,
        }
    }

    /// The rows the state would emit: one per group, or per open session.
    fn rows(&self) -> u64 {
        match self {
            AggState::Groups(store) => store.stats().keys,
            AggState::Sessions(store) => (0..store.num_partitions())
                .map(|p| store.lock(p).map.values().map(|v| v.len() as u64).sum::<u64>())
                .sum(),
        }
    }
}

struct AggOperator<T, K, A: Aggregator<T>> {
    name: String,
    key: KeyFn<T, K>,
    window: Option<WindowSpec>,
    event_time: Option<EventTimeFn<T>>,
    watermarked: bool,
    agg: Arc<A>,
    state: AggState<K, A::Buffer>,
    metrics: Mutex<StateOperatorProgress>,
    run: Arc<RunShared>,
}

impl<T: Data, K: Key + StateData, A: Aggregator<T>> StatefulRun for AggOperator<T, K, A> {
    fn progress(&self) -> StateOperatorProgress {
        lock(&self.metrics).clone()
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn state(&self) -> &dyn StateHandle {
        self.state.handle()
    }
}

/// What one state partition did in a batch.
struct PartitionOutcome<R> {
    rows: Vec<R>,
    updated: u64,
    removed: u64,
}

/// What a batch of an aggregation did: the rows of every partition, the updated and removed
/// counts summed, and the rows dropped as too late.
struct BatchOutcome<R> {
    rows: Vec<Vec<R>>,
    updated: u64,
    removed: u64,
    dropped: u64,
}

impl<R> BatchOutcome<R> {
    fn gather(outcomes: Vec<PartitionOutcome<R>>, dropped: &AtomicU64) -> Self {
        let (mut updated, mut removed) = (0, 0);
        let rows = outcomes
            .into_iter()
            .map(|o| {
                updated += o.updated;
                removed += o.removed;
                o.rows
            })
            .collect();
        BatchOutcome {
            rows,
            updated,
            removed,
            dropped: dropped.load(Ordering::Relaxed),
        }
    }
}

/// Runs one batch of an aggregation on `store` through the keyed-state primitive: `step` says
/// what a partition did; `dropped` counts the rows the map side found too late.
fn run_batch<T: Data, G: Key, C: Send, S: Send, R: Send>(
    store: &StateStore<G, S>,
    batch: Batch<T>,
    combine: Combine<'_, T, G, C>,
    dropped: &AtomicU64,
    step: impl Fn(&mut StorePartition<G, S>, FastMap<G, C>) -> PartitionOutcome<R> + Sync + Send,
) -> Result<BatchOutcome<R>> {
    let exec = batch.executor().clone();
    // Structured batches are identified by id, not by time: the store keeps no version.
    let outcomes = run_keyed(store, &exec, Some(batch), combine, None, |part, records| {
        Ok(step(part, records))
    })?;
    Ok(BatchOutcome::gather(outcomes, dropped))
}

impl<T: Data, K: Key + StateData, A: Aggregator<T>> AggOperator<T, K, A> {
    fn run(&self, batch: Batch<T>, time: Time) -> Result<Batch<AggRow<K, A::Output>>> {
        let watermark = self.run.watermark.current();
        let mode = self.run.mode;
        let batch_id = self.run.batch_id();
        // Complete mode keeps every group forever, so nothing is ever too late (Spark).
        let drop_late = self.watermarked && mode != OutputMode::Complete;
        let exec = batch.executor().clone();
        if self.window.is_some() && self.event_time.is_none() {
            return Err(Error::InvalidGraph(vec![format!(
                "`{}` needs the event time of each record: call with_watermark or with_event_time first",
                self.name
            )]));
        }
        let outcome = match &self.state {
            AggState::Groups(store) => self.run_groups(store, batch, watermark, drop_late, batch_id)?,
            AggState::Sessions(store) => {
                let (Some(WindowKind::Session { gap }), Some(ts)) =
                    (self.window.as_ref().map(|spec| spec.kind), &self.event_time)
                else {
                    return Err(Error::illegal_state("session window without a gap"));
                };
                self.run_sessions(store, batch, ts, gap, watermark, drop_late, batch_id)?
            }
        };
        let mut m = lock(&self.metrics);
        m.num_rows_total = self.state.rows();
        m.num_rows_updated = outcome.updated;
        m.num_rows_removed = outcome.removed;
        m.num_rows_dropped_by_watermark = outcome.dropped;
        m.memory_used_bytes = self.state.handle().stats().approx_bytes;
        drop(m);
        Ok(Batch::from_partitions(outcome.rows, time, exec))
    }

    /// The window a group key's start stands for.
    fn window_at(&self, start: WindowStart) -> Option<Window> {
        match self.window.as_ref().map(|spec| spec.kind) {
            Some(WindowKind::Sliding { size, .. }) if start != NO_WINDOW => Some(Window {
                start: Time::from_millis(start.0),
                end: Time::from_millis(start.0.saturating_add(size)),
            }),
            _ => None,
        }
    }

    fn row(&self, window: Option<Window>, key: K, buffer: &A::Buffer) -> AggRow<K, A::Output> {
        AggRow::new(
            window,
            key,
            guard("aggregate", || self.agg.finish(buffer)),
            self.agg.name(),
        )
    }

    /// Tumbling, sliding and key-only groups.
    fn run_groups(
        &self,
        store: &StateStore<GroupKey<K>, Slot<A::Buffer>>,
        batch: Batch<T>,
        watermark: Time,
        drop_late: bool,
        batch_id: u64,
    ) -> Result<BatchOutcome<AggRow<K, A::Output>>> {
        let agg = &*self.agg;
        let (key_fn, spec, ts_fn) = (&self.key, self.window.as_ref(), self.event_time.as_ref());
        let dropped = AtomicU64::new(0);
        let add = |local: &mut FastMap<GroupKey<K>, A::Buffer>, row: T| {
            let key = guard("group_by", || key_fn(&row));
            match (spec, ts_fn) {
                (Some(spec), Some(ts_fn)) => {
                    let ts = guard("event_time", || ts_fn(&row));
                    let mut key = Some(key);
                    let mut windows = spec.windows_of(ts).peekable();
                    while let Some(w) = windows.next() {
                        let k = if windows.peek().is_some() {
                            key.clone()
                        } else {
                            key.take()
                        };
                        if drop_late && w.end <= watermark {
                            dropped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        if let Some(k) = k {
                            let buffer = local
                                .entry((WindowStart(w.start.millis()), k))
                                .or_insert_with(|| agg.zero());
                            guard("aggregate", || agg.reduce(buffer, &row));
                        }
                    }
                }
                // Without a window the groups never close, so the watermark cannot evict
                // them and late rows are kept, as in Spark (its late-row filter is built
                // from the state key's event-time column, and there is none here).
                _ => {
                    let buffer = local.entry((NO_WINDOW, key)).or_insert_with(|| agg.zero());
                    guard("aggregate", || agg.reduce(buffer, &row));
                }
            }
        };
        let merge = |mut a: A::Buffer, b: A::Buffer| {
            guard("aggregate", || agg.merge(&mut a, b));
            a
        };
        let mode = self.run.mode;
        let evict = self.watermarked && spec.is_some() && mode != OutputMode::Complete;
        let combine = Combine {
            add: &add,
            merge: &merge,
        };
        run_batch(store, batch, combine, &dropped, |part, buffers| {
            let mut updated = 0;
            for (k, b) in buffers {
                match part.map.entry(k) {
                    Entry::Occupied(mut e) => {
                        let slot = e.get_mut();
                        guard("aggregate", || agg.merge(&mut slot.buffer, b));
                        if slot.updated != batch_id {
                            slot.updated = batch_id;
                            updated += 1;
                        }
                    }
                    Entry::Vacant(e) => {
                        e.insert(Slot {
                            buffer: b,
                            updated: batch_id,
                        });
                        updated += 1;
                    }
                }
            }
            let closed = |k: &GroupKey<K>| self.window_at(k.0).is_some_and(|w| w.end <= watermark);
            let mut rows = Vec::new();
            let mut removed = 0;
            match mode {
                OutputMode::Complete => {
                    for ((w, k), slot) in part.map.iter() {
                        rows.push(self.row(self.window_at(*w), k.clone(), &slot.buffer));
                    }
                }
                OutputMode::Update => {
                    for ((w, k), slot) in part.map.iter() {
                        if slot.updated == batch_id {
                            rows.push(self.row(self.window_at(*w), k.clone(), &slot.buffer));
                        }
                    }
                    if evict {
                        removed = part.map.extract_if(|k, _| closed(k)).count() as u64;
                    }
                }
                OutputMode::Append => {
                    if evict {
                        for ((w, k), slot) in part.map.extract_if(|k, _| closed(k)) {
                            rows.push(self.row(self.window_at(w), k, &slot.buffer));
                            removed += 1;
                        }
                    }
                }
            }
            PartitionOutcome {
                rows,
                updated,
                removed,
            }
        })
    }

    /// Session windows: per key, sessions of events less than `gap` apart.
    #[allow(clippy::too_many_arguments, reason = "one batch's inputs")]
    fn run_sessions(
        &self,
        store: &StateStore<K, Vec<Session<A::Buffer>>>,
        batch: Batch<T>,
        ts_fn: &EventTimeFn<T>,
        gap: i64,
        watermark: Time,
        drop_late: bool,
        batch_id: u64,
    ) -> Result<BatchOutcome<AggRow<K, A::Output>>> {
        let agg = &*self.agg;
        let key_fn = &self.key;
        let wm = watermark.millis();
        let dropped = AtomicU64::new(0);
        let add = |local: &mut FastMap<K, Vec<Session<A::Buffer>>>, row: T| {
            let ts = guard("event_time", || ts_fn(&row)).millis();
            let end = ts.saturating_add(gap);
            if drop_late && end <= wm {
                dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let key = guard("group_by", || key_fn(&row));
            let mut buffer = agg.zero();
            guard("aggregate", || agg.reduce(&mut buffer, &row));
            local.entry(key).or_default().push(Session {
                start: ts,
                end,
                buffer,
                updated: batch_id,
            });
        };
        let merge = |mut a: Vec<Session<A::Buffer>>, b: Vec<Session<A::Buffer>>| {
            a.extend(b);
            merge_sessions(agg, &mut a);
            a
        };
        let mode = self.run.mode;
        let evict = self.watermarked && mode != OutputMode::Complete;
        let combine = Combine {
            add: &add,
            merge: &merge,
        };
        run_batch(store, batch, combine, &dropped, |part, sessions| {
            for (k, sessions) in sessions {
                let open = part.map.entry(k).or_default();
                open.extend(sessions);
                merge_sessions(agg, open);
            }
            let window = |s: &Session<A::Buffer>| {
                Some(Window {
                    start: Time::from_millis(s.start),
                    end: Time::from_millis(s.end),
                })
            };
            let mut rows = Vec::new();
            let (mut updated, mut removed) = (0, 0);
            for (k, sessions) in part.map.iter_mut() {
                for s in sessions.iter() {
                    let changed = s.updated == batch_id;
                    updated += u64::from(changed);
                    if mode == OutputMode::Complete || (mode == OutputMode::Update && changed) {
                        rows.push(self.row(window(s), k.clone(), &s.buffer));
                    }
                }
                if evict {
                    let before = sessions.len();
                    if mode == OutputMode::Append {
                        for s in sessions.iter().filter(|s| s.end <= wm) {
                            rows.push(self.row(window(s), k.clone(), &s.buffer));
                        }
                    }
                    sessions.retain(|s| s.end > wm);
                    removed += (before - sessions.len()) as u64;
                }
            }
            part.map.retain(|_, sessions| !sessions.is_empty());
            PartitionOutcome {
                rows,
                updated,
                removed,
            }
        })
    }
}

/// Sorts sessions by start and merges those that overlap (`next.start < current.end`): one
/// event can bridge two sessions. A merged session counts as updated if any part was.
fn merge_sessions<T, A: Aggregator<T>>(agg: &A, sessions: &mut Vec<Session<A::Buffer>>) {
    if sessions.len() < 2 {
        return;
    }
    sessions.sort_by_key(|s| s.start);
    let mut merged: Vec<Session<A::Buffer>> = Vec::with_capacity(sessions.len());
    for s in sessions.drain(..) {
        match merged.last_mut() {
            Some(current) if s.start < current.end => {
                current.end = current.end.max(s.end);
                current.updated = current.updated.max(s.updated);
                guard("aggregate", || agg.merge(&mut current.buffer, s.buffer));
            }
            _ => merged.push(s),
        }
    }
    *sessions = merged;
}
