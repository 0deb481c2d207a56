//! What an aggregation computes: the [`Aggregator`] contract (Spark's typed `Aggregator`), the
//! built-in ones (`count`, `sum`, `min`, `max`, `avg`), tuples of aggregators (several
//! aggregates per group, Spark's `agg(count, avg, max)`), and the row an aggregation emits,
//! [`AggRow`], whose value column is named after its aggregator.
//!
//! An aggregator's buffer is what the aggregation keeps in the state store per group (so it is
//! [`StateData`]); its `merge` combines the buffers built per partition and per batch
//! (`aggregation.rs` runs it).

use crate::data::{Data, StateData};
use crate::window::event_time::Window;

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

// Several aggregates per group at once (Spark's `agg(count(..), avg(..), max(..))`): a tuple
// of two to six aggregators over the same records is an aggregator whose buffer is the tuple of
// their buffers and whose result the tuple of their results, in one pass and one state per
// group. Its column is named `agg`. (Documented with an example on `GroupedDataset::agg`.)
macro_rules! tuple_aggregator {
    ($($a:ident $i:tt),+) => {
        impl<In, $($a: Aggregator<In>),+> Aggregator<In> for ($($a,)+) {
            type Buffer = ($($a::Buffer,)+);
            type Output = ($($a::Output,)+);
            fn name(&self) -> &'static str {
                "agg"
            }
            fn zero(&self) -> Self::Buffer {
                ($(self.$i.zero(),)+)
            }
            fn reduce(&self, buffer: &mut Self::Buffer, input: &In) {
                $(self.$i.reduce(&mut buffer.$i, input);)+
            }
            fn merge(&self, buffer: &mut Self::Buffer, other: Self::Buffer) {
                $(self.$i.merge(&mut buffer.$i, other.$i);)+
            }
            fn finish(&self, buffer: &Self::Buffer) -> Self::Output {
                ($(self.$i.finish(&buffer.$i),)+)
            }
        }
    };
}

tuple_aggregator!(A 0, B 1);
tuple_aggregator!(A 0, B 1, C 2);
tuple_aggregator!(A 0, B 1, C 2, D 3);
tuple_aggregator!(A 0, B 1, C 2, D 3, E 4);
tuple_aggregator!(A 0, B 1, C 2, D 3, E 4, F 5);

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
