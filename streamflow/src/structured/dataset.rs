//! [`Dataset<T>`]: a streaming dataset of typed records and its operators (Spark's typed
//! `Dataset[T]` with `isStreaming`).

use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::grouped::GroupedDataset;
use super::plan::Planner;
use super::session::Session;
use super::shape::{Plain, Shape, Union};
use super::writer::DataStreamWriter;
use crate::batch::Batch;
use crate::data::{Data, Key, StateData};
use crate::error::Result;
use crate::event_time::timestamp::{EventTime, EventTimeFn};
use crate::event_time::watermark::observe_event_times;
use crate::exec::continuous::{self, ContinuousPlan};
use crate::exec::guard;
use crate::graph::{Node, NodeKind};
use crate::state::aggregation::{ByRef, ByValue, KeyOf};
use crate::state::dedup::{Dedup, DedupOperator};
use crate::time::{Duration, IntoDuration, Time};
use crate::window::event_time::WindowSpec;

pub(crate) type PlanFn<T> = dyn Fn(&mut Planner) -> Result<Arc<Node<T>>> + Send + Sync;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A streaming aggregation in a dataset's lineage, for the output-mode rules.
#[derive(Clone, Debug)]
pub(crate) struct AggInfo {
    /// Which aggregation it is: a dataset reached by two paths (a union of a query's output
    /// with its late rows) holds it once.
    pub(crate) id: u64,
    /// How the user wrote it, e.g. `group_by_window(..).count()`.
    pub(crate) operator: String,
    /// Grouped by an event-time window.
    pub(crate) event_time_window: bool,
    /// A watermark is defined upstream.
    pub(crate) watermarked: bool,
}

/// What a dataset is, independently of how it runs: its operators, aggregations, watermark
/// and the mistakes made while building it (reported by `start()`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Logical {
    pub(crate) ops: Vec<String>,
    pub(crate) aggregations: Vec<AggInfo>,
    /// The joins in its lineage, for the output-mode and join rules.
    pub(crate) joins: Vec<(u64, crate::event_time::rules::Join)>,
    /// The groups-with-state operators in its lineage, for their output-mode rules.
    pub(crate) groups_with_state: Vec<crate::event_time::rules::GroupsWithState>,
    pub(crate) watermarked: bool,
    /// The delay of this dataset's own watermark (the last `with_watermark` on its lineage).
    pub(crate) watermark_delay: Option<Duration>,
    pub(crate) errors: Vec<String>,
    /// The column names of the rows, when the last operator fixes them (an aggregation), so
    /// that a console shows a header even before the first row.
    pub(crate) columns: Option<Vec<String>>,
}

impl Logical {
    /// Takes in what a second input (of a union or a join) brings: its aggregations, joins,
    /// watermark and mistakes.
    pub(crate) fn merge_other_side(&mut self, other: &Logical) {
        for agg in &other.aggregations {
            if self.aggregations.iter().all(|a| a.id != agg.id) {
                self.aggregations.push(agg.clone());
            }
        }
        self.groups_with_state
            .extend(other.groups_with_state.iter().cloned());
        for join in &other.joins {
            if self.joins.iter().all(|j| j.0 != join.0) {
                self.joins.push(join.clone());
            }
        }
        self.watermarked |= other.watermarked;
        self.watermark_delay = self.watermark_delay.or(other.watermark_delay);
        self.errors.extend(other.errors.iter().cloned());
    }

    pub(crate) fn then(&self, op: &str) -> Logical {
        let mut next = self.clone();
        next.ops.push(op.to_string());
        next.columns = None;
        next
    }
}

/// A stream of typed records (Spark's streaming `Dataset[T]`): a description of a pipeline
/// that runs once a query is started from it with [`write_stream`](Self::write_stream).
///
/// Its second type parameter is its [shape](super::shape) — [`Plain`] (the default), or an
/// aggregation — against which the writer's typed output modes (`.append()`, `.update()`,
/// `.complete()`) are checked at compile time, wherever the query is built.
///
/// Operators take `&self` and return a new dataset; each query started from a dataset gets its
/// own sources, offsets and state. Runs of `map`/`filter`/`flat_map` fuse into one pass per
/// partition, as in the DStream API.
///
/// # Examples
///
/// ```
/// use streamflow::structured::{MemoryStream, Session};
///
/// let session = Session::new(2)?;
/// let input = MemoryStream::<i64>::new();
/// let query = session
///     .read_stream::<i64>()
///     .memory(&input)
///     .filter(|x| x % 2 == 0)
///     .map(|x| x * 10)
///     .write_stream()
///     .memory("evens")
///     .start()?;
/// input.add_data(1..=6);
/// query.process_all_available()?;
/// let mut rows = session.memory_table::<i64>("evens")?.rows();
/// rows.sort();
/// assert_eq!(rows, vec![20, 40, 60]);
/// query.stop()?;
/// # Ok::<(), streamflow::Error>(())
/// ```
pub struct Dataset<T, S = Plain> {
    pub(crate) session: Session,
    pub(crate) id: u64,
    pub(crate) plan: Arc<PlanFn<T>>,
    pub(crate) logical: Arc<Logical>,
    pub(crate) event_time: Option<EventTimeFn<T>>,
    /// How it runs under `Trigger::continuous`, if it can (`exec/continuous/`).
    pub(crate) continuous: Option<Arc<ContinuousPlan<T>>>,
    /// The late-data side output its next stateful operator routes late rows to
    /// ([`late_rows_to`](Self::late_rows_to)).
    pub(crate) late_to: Option<u64>,
    /// What the output-mode rules need to know of it, as a type ([`shape`](super::shape)).
    pub(crate) shape: PhantomData<fn() -> S>,
}

impl<T, S> Clone for Dataset<T, S> {
    fn clone(&self) -> Self {
        Dataset {
            session: self.session.clone(),
            id: self.id,
            plan: self.plan.clone(),
            logical: self.logical.clone(),
            event_time: self.event_time.clone(),
            continuous: self.continuous.clone(),
            late_to: self.late_to,
            shape: PhantomData,
        }
    }
}

impl<T: Data, S: Shape> Dataset<T, S> {
    pub(crate) fn new(
        session: Session,
        logical: Logical,
        event_time: Option<EventTimeFn<T>>,
        plan: impl Fn(&mut Planner) -> Result<Arc<Node<T>>> + Send + Sync + 'static,
    ) -> Self {
        Dataset {
            session,
            id: next_id(),
            plan: Arc::new(plan),
            logical: Arc::new(logical),
            event_time,
            continuous: None,
            late_to: None,
            shape: PhantomData,
        }
    }

    /// The same dataset, of another shape: for the operators that compute the shape of their
    /// output in its type.
    pub(crate) fn reshape<S2: Shape>(self) -> Dataset<T, S2> {
        Dataset {
            session: self.session,
            id: self.id,
            plan: self.plan,
            logical: self.logical,
            event_time: self.event_time,
            continuous: self.continuous,
            late_to: self.late_to,
            shape: PhantomData,
        }
    }

    /// This dataset, with how it runs under `Trigger::continuous`.
    pub(crate) fn with_continuous(mut self, plan: Arc<ContinuousPlan<T>>) -> Self {
        self.continuous = Some(plan);
        self
    }

    /// How this dataset runs under `Trigger::continuous`, or the error naming its operator.
    pub(crate) fn continuous_plan(&self) -> Result<Arc<ContinuousPlan<T>>> {
        self.continuous.clone().ok_or_else(|| {
            let op = self.logical.ops.last().map_or("an operator", String::as_str);
            crate::error::Error::InvalidGraph(vec![
                crate::exec::continuous::rules::operator_problem(op, "Update")
                    .unwrap_or_else(|| format!("`{op}` is not supported by Trigger::continuous")),
            ])
        })
    }

    /// This dataset's node in the query being planned (built once per query).
    pub(crate) fn node(&self, p: &mut Planner) -> Result<Arc<Node<T>>> {
        let plan = self.plan.clone();
        p.node(self.id, &move |p: &mut Planner| plan(p))
    }

    /// The session this dataset belongs to.
    ///
    /// ```
    /// use streamflow::structured::{MemoryStream, Session};
    /// let session = Session::builder().app_name("clicks").build()?;
    /// let plus_one = session.read_stream::<i64>().memory(&MemoryStream::new()).map(|x| x + 1);
    /// assert_eq!(plus_one.session().app_name(), "clicks");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// A stateless operator: `f` turns this dataset's batch into the new one.
    fn derive<U: Data>(
        &self,
        name: &'static str,
        event_time: Option<EventTimeFn<U>>,
        f: impl Fn(Batch<T>) -> Batch<U> + Send + Sync + 'static,
    ) -> Dataset<U, S> {
        let parent = self.clone();
        let f = Arc::new(f);
        Dataset::new(
            self.session.clone(),
            self.logical.then(name),
            event_time,
            move |p| {
                let node = parent.node(p)?;
                let f = f.clone();
                let meta = node.meta.clone();
                Ok(p.add(name, NodeKind::Stateless, vec![meta], move |time| {
                    Ok(node.get_or_compute(time)?.map(|b| f(b)))
                }))
            },
        )
    }

    /// Applies `f` to every record (Spark's typed `map`). The event time declared by
    /// `with_watermark` does not survive a change of type: declare it after mapping.
    ///
    /// ```
    /// # use streamflow::structured::{MemoryStream, Session};
    /// # let session = Session::new(1)?;
    /// # let input = MemoryStream::<i64>::new();
    /// let lengths = session.read_stream::<String>().memory(&MemoryStream::new()).map(|s| s.len());
    /// # let _ = (lengths, input);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn map<U: Data>(&self, f: impl Fn(T) -> U + Send + Sync + 'static) -> Dataset<U, S> {
        let f = Arc::new(f);
        let g = f.clone();
        self.derive("map", None, move |b| {
            let f = f.clone();
            b.map(move |t| f(t))
        })
        .with_continuous(continuous::stateless(self, "map", move |t, down| {
            down.record(guard("map", || g(t)))
        }))
    }

    /// Keeps the records for which `f` is true (Spark's `filter`/`where`). Keeps the event time.
    ///
    /// ```
    /// # use streamflow::structured::{MemoryStream, Session};
    /// # let session = Session::new(1)?;
    /// let positive = session.read_stream::<i64>().memory(&MemoryStream::new()).filter(|x| *x > 0);
    /// # let _ = positive;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn filter(&self, f: impl Fn(&T) -> bool + Send + Sync + 'static) -> Dataset<T, S> {
        let f = Arc::new(f);
        let g = f.clone();
        self.derive("filter", self.event_time.clone(), move |b| {
            let f = f.clone();
            b.filter(move |t| f(t))
        })
        .with_continuous(continuous::stateless(self, "filter", move |t, down| {
            if guard("filter", || g(&t)) {
                down.record(t)
            }
        }))
    }

    /// Replaces every record by the records `f` returns for it (Spark's `flatMap`).
    ///
    /// ```
    /// # use streamflow::structured::{MemoryStream, Session};
    /// # let session = Session::new(1)?;
    /// let words = session
    ///     .read_stream::<String>()
    ///     .memory(&MemoryStream::new())
    ///     .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>());
    /// # let _ = words;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn flat_map<U: Data, I>(&self, f: impl Fn(T) -> I + Send + Sync + 'static) -> Dataset<U, S>
    where
        I: IntoIterator<Item = U>,
    {
        let f = Arc::new(f);
        let g = f.clone();
        self.derive("flat_map", None, move |b| {
            let f = f.clone();
            b.flat_map(move |t| f(t))
        })
        .with_continuous(continuous::stateless(self, "flat_map", move |t, down| {
            for u in guard("flat_map", || g(t)) {
                down.record(u)
            }
        }))
    }

    /// The records of this dataset and of `other` (Spark's `union`). Each side keeps its own
    /// watermark input; the union's event time is this side's.
    ///
    /// ```
    /// # use streamflow::structured::{MemoryStream, Session};
    /// # let session = Session::new(1)?;
    /// let a = session.read_stream::<i64>().memory(&MemoryStream::new());
    /// let b = session.read_stream::<i64>().memory(&MemoryStream::new());
    /// let both = a.union(&b);
    /// # let _ = both;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn union<S2: Shape>(&self, other: &Dataset<T, S2>) -> Dataset<T, S::Output>
    where
        S: Union<S2>,
    {
        let (left, right) = (self.clone(), other.clone());
        let mut logical = self.logical.then("union");
        logical.merge_other_side(&other.logical);
        Dataset::new(
            self.session.clone(),
            logical,
            self.event_time.clone().or_else(|| other.event_time.clone()),
            move |p| {
                let (l, r) = (left.node(p)?, right.node(p)?);
                let parents = vec![l.meta.clone(), r.meta.clone()];
                Ok(p.add("union", NodeKind::Stateless, parents, move |time| {
                    Ok(match (l.get_or_compute(time)?, r.get_or_compute(time)?) {
                        (Some(a), Some(b)) => Some(a.union(b)),
                        (a, b) => a.or(b),
                    })
                }))
            },
        )
        .with_continuous(continuous::union(self, other))
    }

    /// Declares the event time of each record and a watermark `delay` behind the largest event
    /// time seen (Spark's `withWatermark`). Stateful operators downstream drop rows too late for
    /// the watermark and, in Append mode, emit and forget windows once it passes their end.
    ///
    /// `event_time` may return a [`Time`](crate::Time), a `chrono::DateTime<Utc>` or milliseconds
    /// ([`EventTime`]). A malformed `delay` is reported by `start()`.
    ///
    /// The watermark is in the result's type: a dataset without aggregation becomes a
    /// `Dataset<T, shape::Watermarked>` ([`Watermarked`](super::shape::Watermarked)), whose
    /// aggregation by a window may run in Append mode; a helper returning it names that shape.
    ///
    /// ```
    /// # use streamflow::structured::{MemoryStream, Session};
    /// # use streamflow::Time;
    /// # let session = Session::new(1)?;
    /// #[derive(Clone)]
    /// struct Click { user: String, ts: Time }
    /// let clicks = session
    ///     .read_stream::<Click>()
    ///     .memory(&MemoryStream::new())
    ///     .with_watermark(|c| c.ts, "10 minutes");
    /// # let _ = clicks;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn with_watermark<E: EventTime>(
        &self,
        event_time: impl Fn(&T) -> E + Send + Sync + 'static,
        delay: impl IntoDuration,
    ) -> Dataset<T, S::WithWatermark> {
        let mut logical = self.logical.then("with_watermark");
        let delay = match delay.into_duration() {
            Ok(d) => d,
            Err(e) => {
                logical.errors.push(format!("with_watermark: {e}"));
                Duration::ZERO
            }
        };
        logical.watermarked = true;
        logical.watermark_delay = Some(delay);
        let event_time = Arc::new(event_time);
        let of = event_time.clone();
        let ts: EventTimeFn<T> = Arc::new(move |t: &T| of(t).event_time());
        // Rows without an event time are dropped here, as Spark drops null event times.
        let present: Option<Arc<dyn Fn(&T) -> bool + Send + Sync>> = E::MAY_BE_MISSING
            .then(|| Arc::new(move |t: &T| event_time(t).event_time_if_any().is_some()) as _);
        let parent = self.clone();
        let ts_for_node = ts.clone();
        let continuous_watermark = continuous::with_watermark(self, ts.clone(), present.clone(), delay);
        Dataset::new(self.session.clone(), logical, Some(ts), move |p| {
            let node = parent.node(p)?;
            let tracker = p.run.watermark.clone();
            let index = tracker.register("with_watermark", delay);
            let ts = ts_for_node.clone();
            let present = present.clone();
            let meta = node.meta.clone();
            Ok(
                p.add("with_watermark", NodeKind::Stateless, vec![meta], move |time| {
                    let batch = match (node.get_or_compute(time)?, &present) {
                        (Some(batch), Some(present)) => {
                            let present = present.clone();
                            Some(batch.filter(move |t| guard("with_watermark", || present(t))))
                        }
                        (batch, _) => batch,
                    };
                    Ok(batch.map(|batch| observe_event_times(batch, time, &ts, &tracker, index)))
                }),
            )
        })
        .with_continuous(continuous_watermark)
    }

    /// Declares the event time of each record without a watermark: enough for
    /// [`group_by_window`](Self::group_by_window) in Update or Complete mode, where no state is
    /// ever dropped.
    ///
    /// ```
    /// # use streamflow::structured::{MemoryStream, Session};
    /// # let session = Session::new(1)?;
    /// let timed = session.read_stream::<i64>().memory(&MemoryStream::new()).with_event_time(|ms| *ms);
    /// # let _ = timed;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn with_event_time<E: EventTime>(
        &self,
        event_time: impl Fn(&T) -> E + Send + Sync + 'static,
    ) -> Dataset<T, S> {
        let mut next = self.clone();
        next.event_time = Some(Arc::new(move |t: &T| event_time(t).event_time()));
        next
    }

    /// Groups records by `key` for an aggregation (Spark's `groupByKey`/`groupBy`). The key is
    /// kept in the aggregation's state, so it is [`StateData`](crate::StateData) as well as a
    /// [`Key`](crate::Key): an owned serde type such as `String`.
    ///
    /// ```
    /// # use streamflow::structured::{MemoryStream, OutputMode, Session};
    /// # let session = Session::new(1)?;
    /// let counts = session
    ///     .read_stream::<String>()
    ///     .memory(&MemoryStream::new())
    ///     .group_by(|word| word.clone())
    ///     .count();
    /// let query = counts.write_stream().output_mode(OutputMode::Complete).memory("counts").start()?;
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    #[doc(alias = "groupByKey")]
    pub fn group_by<K: Key + StateData>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
    ) -> GroupedDataset<T, K, S> {
        GroupedDataset::new(self.clone(), KeyOf::Owned(Arc::new(key)), None)
    }

    /// Groups records by a key borrowed from each record (Spark's `groupByKey`/`groupBy`), the
    /// fast way to spell [`group_by`](Self::group_by): where `group_by(|e| e.user.clone())`
    /// builds an owned key for every record before looking its group up,
    /// `group_by_ref(|e| e.user.as_str())` looks the group up with the borrowed `&str` and
    /// makes the owned key (`Q::to_owned`, a `String` here) only for a group's first record in
    /// each partition — the map-side combine then allocates nothing per record. The groups,
    /// their state and the rows are the same as `group_by`'s with the owned key `Q::Owned`.
    ///
    /// `Q` is what the key borrows as: `str` for a `String` field (`|e| e.user.as_str()`), or
    /// the field's own type (`|e| &e.user`).
    ///
    /// ```
    /// # use streamflow::structured::{AggRow, MemoryStream, Session};
    /// # let session = Session::builder().parallelism(2).clock(streamflow::ManualClock::new(0)).build()?;
    /// #[derive(Clone)]
    /// struct Click { user: String, page: u32 }
    /// let input = MemoryStream::<Click>::new();
    /// let query = session.read_stream::<Click>().memory(&input)
    ///     .group_by_ref(|c| c.user.as_str()) // the key is a String, built once per user
    ///     .count()
    ///     .write_stream().complete().memory("per_user").start()?;
    /// let click = |user: &str, page| Click { user: user.to_string(), page };
    /// input.add_data([click("ann", 1), click("bob", 1), click("ann", 2)]);
    /// query.process_all_available()?;
    /// let mut rows = session.memory_table::<AggRow<String, u64>>("per_user")?.rows();
    /// rows.sort_by(|a, b| a.key.cmp(&b.key));
    /// assert_eq!(rows.iter().map(|r| (r.key.as_str(), r.value)).collect::<Vec<_>>(), [("ann", 2), ("bob", 1)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    #[doc(alias("groupByKey", "groupBy"))]
    pub fn group_by_ref<Q>(
        &self,
        key: impl for<'a> Fn(&'a T) -> &'a Q + Send + Sync + 'static,
    ) -> GroupedDataset<T, Q::Owned, S>
    where
        Q: ?Sized + Hash + Eq + ToOwned + 'static,
        Q::Owned: Key + StateData,
    {
        let key = KeyOf::Borrowed(Arc::new(ByRef(key, PhantomData)));
        GroupedDataset::new(self.clone(), key, None)
    }

    /// Groups records by the whole record (Spark's `groupBy("value")` on a `Dataset[String]`):
    /// the word count's grouping, `words.group_by_value().count()`. A group's first record in
    /// each partition moves into the map-side table as its key, the others are folded into
    /// their group and dropped: no key is cloned or built. The same groups as
    /// `group_by(|w| w.clone())`.
    ///
    /// ```
    /// # use streamflow::structured::{AggRow, MemoryStream, Session};
    /// # let session = Session::builder().parallelism(2).clock(streamflow::ManualClock::new(0)).build()?;
    /// let lines = MemoryStream::<String>::new();
    /// let query = session.read_stream::<String>().memory(&lines)
    ///     .flat_map(|l| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
    ///     .group_by_value()
    ///     .count()
    ///     .write_stream().complete().memory("counts").start()?;
    /// lines.add_data(["to be or not to be".to_string()]);
    /// query.process_all_available()?;
    /// let mut rows = session.memory_table::<AggRow<String, u64>>("counts")?.rows();
    /// rows.sort_by(|a, b| a.key.cmp(&b.key));
    /// let counts: Vec<(&str, u64)> = rows.iter().map(|r| (r.key.as_str(), r.value)).collect();
    /// assert_eq!(counts, [("be", 2), ("not", 1), ("or", 1), ("to", 2)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    #[doc(alias("groupBy", "value"))]
    pub fn group_by_value(&self) -> GroupedDataset<T, T, S>
    where
        T: Key + StateData,
    {
        GroupedDataset::new(self.clone(), KeyOf::Borrowed(Arc::new(ByValue)), None)
    }

    /// Groups records by their event time and `key` (Spark's `groupBy($"eventTime", $"key")` on
    /// the watermarked column): each group's key is `(event time, key)`. With a watermark, a
    /// group is final once the watermark reaches its event time, so, as in Spark, the
    /// aggregation may run in Append mode: a group is emitted once, when
    /// `event time ≤ watermark`, and forgotten; rows at or before the watermark are late.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # use streamflow::Time;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<(String, i64)>::new();
    /// let query = session.read_stream::<(String, i64)>().memory(&input)
    ///     .with_watermark(|(_, ms)| *ms, "0 s")
    ///     .group_by_event_time(|(page, _)| page.clone())
    ///     .count()
    ///     .write_stream().output_mode(OutputMode::Append).memory("hits").start()?;
    /// input.add_data([("home".to_string(), 1_000), ("home".to_string(), 1_000), ("home".to_string(), 2_000)]);
    /// query.process_all_available()?; // the watermark moves to 2 s: both groups are final
    /// let mut rows = session.memory_table::<AggRow<(Time, String), u64>>("hits")?.rows();
    /// rows.sort_by_key(|r| r.key.0);
    /// let hits: Vec<(i64, u64)> = rows.iter().map(|r| (r.key.0.millis(), r.value)).collect();
    /// assert_eq!(hits, [(1_000, 2), (2_000, 1)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    #[doc(alias = "groupBy")]
    pub fn group_by_event_time<K: Key + StateData>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
    ) -> GroupedDataset<T, (Time, K), S, S::ByWindow> {
        let ts = self.event_time.clone();
        GroupedDataset::by_event_time(
            self.clone(),
            KeyOf::Owned(Arc::new(move |t: &T| {
                let at = ts.as_ref().map_or(Time::from_millis(0), |ts| ts(t));
                (at, key(t))
            })),
        )
    }

    /// Groups records by `key` and by the event-time windows `spec` puts each record in
    /// (Spark's `groupBy(window($"ts", …), $"key")`). The event time is the one declared by
    /// [`with_watermark`](Self::with_watermark) or [`with_event_time`](Self::with_event_time).
    ///
    /// ```
    /// # use streamflow::structured::{window, MemoryStream, Session};
    /// # use streamflow::Time;
    /// # let session = Session::new(1)?;
    /// #[derive(Clone)]
    /// struct Word { word: String, ts: Time }
    /// let counts = session
    ///     .read_stream::<Word>()
    ///     .memory(&MemoryStream::new())
    ///     .with_watermark(|w| w.ts, "10 minutes")
    ///     .group_by_window(|w| w.word.clone(), window("10 minutes", "5 minutes"))
    ///     .count();
    /// # let _ = counts;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    #[doc(alias = "groupBy")]
    pub fn group_by_window<K: Key + StateData>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
        spec: WindowSpec,
    ) -> GroupedDataset<T, K, S, S::ByWindow> {
        GroupedDataset::new(self.clone(), KeyOf::Owned(Arc::new(key)), Some(spec))
    }

    /// Groups records by a key borrowed from each record and by the event-time windows `spec`
    /// puts each record in: [`group_by_window`](Self::group_by_window) with the key looked up
    /// as [`group_by_ref`](Self::group_by_ref) does — made owned (`Q::to_owned`) only for a
    /// group's first record in each window and partition, not for every record.
    ///
    /// ```
    /// # use streamflow::structured::{tumbling_window, AggRow, MemoryStream, Session};
    /// # use streamflow::Time;
    /// # let session = Session::builder().parallelism(2).clock(streamflow::ManualClock::new(0)).build()?;
    /// #[derive(Clone)]
    /// struct Event { key: String, ts: Time }
    /// let input = MemoryStream::<Event>::new();
    /// let query = session.read_stream::<Event>().memory(&input)
    ///     .with_watermark(|e| e.ts, "10 seconds")
    ///     .group_by_window_ref(|e| e.key.as_str(), tumbling_window("1 minute"))
    ///     .count()
    ///     .write_stream().append().memory("per_minute").start()?;
    /// let at = |key: &str, s: i64| Event { key: key.to_string(), ts: Time::from_millis(s * 1_000) };
    /// input.add_data([at("a", 1), at("b", 2), at("a", 59), at("a", 61)]);
    /// query.process_all_available()?;
    /// input.add_data([at("b", 100)]); // the watermark passes 1 min: the first window is final
    /// query.process_all_available()?;
    /// let mut rows = session.memory_table::<AggRow<String, u64>>("per_minute")?.rows();
    /// rows.sort_by(|a, b| a.key.cmp(&b.key));
    /// assert_eq!(rows.iter().map(|r| (r.key.as_str(), r.value)).collect::<Vec<_>>(), [("a", 2), ("b", 1)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    #[doc(alias = "groupBy")]
    pub fn group_by_window_ref<Q>(
        &self,
        key: impl for<'a> Fn(&'a T) -> &'a Q + Send + Sync + 'static,
        spec: WindowSpec,
    ) -> GroupedDataset<T, Q::Owned, S, S::ByWindow>
    where
        Q: ?Sized + Hash + Eq + ToOwned + 'static,
        Q::Owned: Key + StateData,
    {
        let key = KeyOf::Borrowed(Arc::new(ByRef(key, PhantomData)));
        GroupedDataset::new(self.clone(), key, Some(spec))
    }

    /// Drops every record whose `key` was seen before (Spark's `dropDuplicates(cols)`): the
    /// first record of a key goes through, later ones are dropped and counted in the progress
    /// report's `num_dropped_duplicate_rows`. Keys are kept in state for ever; to bound the
    /// state, use [`drop_duplicates_with_event_time`](Self::drop_duplicates_with_event_time)
    /// or [`drop_duplicates_within_watermark`](Self::drop_duplicates_within_watermark). On a
    /// watermarked dataset, records at or before the watermark are dropped as late, as in Spark.
    /// Keeps the event time.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(2).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<(String, i64)>::new();
    /// let query = session.read_stream::<(String, i64)>().memory(&input)
    ///     .drop_duplicates(|(guid, _)| guid.clone())
    ///     .write_stream().memory("unique").start()?;
    /// input.add_data([("a".to_string(), 1), ("b".to_string(), 2), ("a".to_string(), 3)]);
    /// query.process_all_available()?;
    /// input.add_data([("b".to_string(), 4), ("c".to_string(), 5)]);
    /// query.process_all_available()?;
    /// let mut guids: Vec<String> = session.memory_table::<(String, i64)>("unique")?.rows()
    ///     .into_iter().map(|(guid, _)| guid).collect();
    /// guids.sort();
    /// assert_eq!(guids, ["a", "b", "c"]);
    /// assert_eq!(query.last_progress().unwrap().state_operators[0].num_dropped_duplicate_rows, 1);
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drop_duplicates<K: Key + StateData>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
    ) -> Dataset<T, S> {
        self.dedup("drop_duplicates(..)", Dedup::Forever, Arc::new(key))
    }

    /// Drops every record whose `key` and event time were seen before: Spark's
    /// `dropDuplicates(key, eventTime)` on a watermarked dataset, where the event time is part
    /// of the key. A key is forgotten once the watermark reaches its event time (no later
    /// record can be a duplicate: it would be late), so the state stays bounded. Needs
    /// [`with_watermark`](Self::with_watermark) before it (an error at `start()` otherwise).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # use streamflow::Time;
    /// # let session = Session::builder().parallelism(2).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<(String, Time)>::new();
    /// let query = session.read_stream::<(String, Time)>().memory(&input)
    ///     .with_watermark(|(_, ts)| *ts, "10 seconds")
    ///     .drop_duplicates_with_event_time(|(guid, _)| guid.clone())
    ///     .write_stream().memory("unique").start()?;
    /// let at = |guid: &str, s: i64| (guid.to_string(), Time::from_millis(s * 1_000));
    /// input.add_data([at("a", 1), at("a", 1), at("a", 2)]); // (a, 2) is another key
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<(String, Time)>("unique")?.rows().len(), 2);
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias("dropDuplicates", "dropDuplicatesWithinWatermark"))]
    pub fn drop_duplicates_with_event_time<K: Key + StateData>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
    ) -> Dataset<T, S> {
        self.dedup(
            "drop_duplicates_with_event_time(..)",
            Dedup::EventTimeInKey,
            Arc::new(key),
        )
    }

    /// Drops every record whose `key` was seen within the watermark's delay (Spark's
    /// `dropDuplicatesWithinWatermark`): the first record of a key goes through and its key is
    /// remembered until the watermark passes its event time plus the delay. Records with the
    /// same key but different event times count as duplicates. Needs
    /// [`with_watermark`](Self::with_watermark) before it (an error at `start()` otherwise).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # use streamflow::Time;
    /// # let session = Session::builder().parallelism(2).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<(String, Time)>::new();
    /// let query = session.read_stream::<(String, Time)>().memory(&input)
    ///     .with_watermark(|(_, ts)| *ts, "10 seconds")
    ///     .drop_duplicates_within_watermark(|(guid, _)| guid.clone())
    ///     .write_stream().memory("unique").start()?;
    /// let at = |guid: &str, s: i64| (guid.to_string(), Time::from_millis(s * 1_000));
    /// input.add_data([at("a", 1), at("a", 5), at("b", 2)]); // (a, 5) is a duplicate of (a, 1)
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<(String, Time)>("unique")?.rows().len(), 2);
    /// query.stop()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drop_duplicates_within_watermark<K: Key + StateData>(
        &self,
        key: impl Fn(&T) -> K + Send + Sync + 'static,
    ) -> Dataset<T, S> {
        let delay_ms = self.logical.watermark_delay.map_or(0, |d| d.millis() as i64);
        self.dedup(
            "drop_duplicates_within_watermark(..)",
            Dedup::WithinWatermark { delay_ms },
            Arc::new(key),
        )
    }

    fn dedup<K: Key + StateData>(
        &self,
        operator: &'static str,
        kind: Dedup,
        key: Arc<dyn Fn(&T) -> K + Send + Sync>,
    ) -> Dataset<T, S> {
        let mut logical = self.logical.then(operator);
        if kind != Dedup::Forever && (!self.logical.watermarked || self.event_time.is_none()) {
            logical.errors.push(format!(
                "`{operator}` needs a watermark: call .with_watermark(|r| r.ts, \"10 minutes\") before it"
            ));
        }
        let parent = self.clone();
        Dataset::new(self.session.clone(), logical, self.event_time.clone(), move |p| {
            let node = parent.node(p)?;
            let op = Arc::new(DedupOperator::new(operator, kind, key.clone(), &parent, p));
            let exec = p.exec.clone();
            Ok(p.add_stateful(operator, node, op.clone(), move |input, time| {
                op.run(input, time, &exec).map(Some)
            }))
        })
    }

    /// Starts describing the query that writes this dataset somewhere (Spark's
    /// `writeStream`).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let doubled = session.read_stream::<i64>().memory(&input).map(|x| x * 2);
    /// // Two queries from one dataset: each keeps its own offsets and reads every record.
    /// let a = doubled.write_stream().memory("a").start()?;
    /// let b = doubled.write_stream().memory("b").start()?;
    /// input.add_data([1, 2]);
    /// a.process_all_available()?;
    /// b.process_all_available()?;
    /// assert_eq!(session.memory_table::<i64>("a")?.rows(), [2, 4]);
    /// assert_eq!(session.memory_table::<i64>("b")?.rows(), [2, 4]);
    /// a.stop()?;
    /// b.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn write_stream(&self) -> DataStreamWriter<T, S> {
        DataStreamWriter::new(self.clone())
    }
}
