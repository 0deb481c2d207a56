//! Joins of a Structured query: a stream with a static dataset, and two streams.
//!
//! | method | joins | output rows | state |
//! |---|---|---|---|
//! | [`join_static`](crate::structured::Dataset::join_static) | stream ⋈ static rows, inner | `(T, S)` | none: the static rows are loaded once, in a hash table |
//! | [`left_outer_join_static`](crate::structured::Dataset::left_outer_join_static) | stream ⟕ static rows | `(T, Option<S>)` | none |
//! | [`join`](crate::structured::Dataset::join) | stream ⋈ stream, inner | `(L, R)` | both sides buffered |
//! | [`left_outer_join`](crate::structured::Dataset::left_outer_join) | stream ⟕ stream | `(L, Option<R>)` | both sides; an unmatched left row emitted at eviction |
//! | [`right_outer_join`](crate::structured::Dataset::right_outer_join) | stream ⟖ stream | `(Option<L>, R)` | both sides; an unmatched right row emitted at eviction |
//! | [`full_outer_join`](crate::structured::Dataset::full_outer_join) | stream ⟗ stream | `(Option<L>, Option<R>)` | both sides; unmatched rows of either emitted at eviction |
//! | [`left_semi_join`](crate::structured::Dataset::left_semi_join) | stream ⋉ stream | `L`, once, at its first match | both sides |
//!
//! A stream–stream join matches on [`JoinOn`]: an equality key per side, and optionally a
//! [`TimeRange`] between the sides' event times, such as a click within the hour after its
//! impression. Each side's rows stay in state until the watermark proves they can no longer
//! match; the bounds are Spark's (`condition.rs`): with the range
//! `left.ts + lower ≤ right.ts ≤ left.ts + upper` and the watermark `W`, a left row is evicted
//! once `left.ts ≤ W − upper − 1`, a right row once `right.ts ≤ W + lower − 1` (one millisecond
//! less off a strict bound). Without a range, or without a watermark on both sides, rows stay
//! for ever (an inner join only).
//!
//! As in Spark, a stream–stream join runs in Append mode only, and an outer or left semi join
//! needs a watermark on both sides and the range bound that evicts the side whose unmatched
//! rows it emits: without them `start()` fails, and `#[stream_job]` rejects the query at
//! compile time. Rows at or before the watermark on a watermarked side are late: dropped and
//! counted in `num_rows_dropped_by_watermark`. A dataset may be joined with itself.
//!
//! | file | what |
//! |---|---|
//! | `condition.rs` | [`JoinOn`], [`TimeRange`], the state watermarks |
//! | `stream_static.rs` | the stream–static joins |
//! | `stream_stream.rs` | the stream–stream join operator (symmetric hash join) |
//! | `mod.rs` | the `Dataset` methods |

pub(crate) mod condition;
mod stream_static;
pub(crate) mod stream_stream;

use std::sync::Arc;

pub use condition::{JoinOn, TimeRange};
use stream_stream::{JoinType, Joined, SideSpec, StreamJoin};

use crate::data::{Data, Key, StateData};
use crate::event_time::rules;
use crate::event_time::timestamp::EventTimeFn;
use crate::structured::Dataset;
use crate::structured::shape::{JoinOf, Shape, Union};

impl<L: StateData, Sh: Shape> Dataset<L, Sh> {
    /// The inner join of this stream with `right` on `on` (Spark's
    /// `left.join(right, condition)` of two streaming datasets): every pair of rows with equal
    /// keys (and event times in `on`'s range) once, as `(left, right)`, in the batch where the
    /// second of the two arrives. Runs in Append mode: its shape is
    /// [`Joined`](crate::structured::shape::Joined), whose writer has `.append()` only.
    ///
    /// Without a range condition and a watermark on both sides the join keeps every row for
    /// ever; with them each row is forgotten once no future row can match it (see
    /// [`TimeRange`]).
    ///
    /// # Examples
    ///
    /// Impressions joined with the clicks within the hour after them:
    ///
    /// ```
    /// use streamflow::structured::*;
    /// use streamflow::Time;
    ///
    /// #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    /// struct Impression { ad: u64, ts: Time }
    /// #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    /// struct Click { ad: u64, ts: Time }
    ///
    /// let session = Session::builder().parallelism(2).clock(streamflow::ManualClock::new(0)).build()?;
    /// let (impressions, clicks) = (MemoryStream::<Impression>::new(), MemoryStream::<Click>::new());
    /// let minutes = |m: i64| Time::from_millis(m * 60_000);
    /// // (An event time at or before the watermark is late: the first watermark is the epoch.)
    /// let query = session.read_stream::<Impression>().memory(&impressions)
    ///     .with_watermark(|i| i.ts, "2 hours")
    ///     .join(
    ///         &session.read_stream::<Click>().memory(&clicks).with_watermark(|c| c.ts, "3 hours"),
    ///         JoinOn::keys(|i: &Impression| i.ad, |c: &Click| c.ad)
    ///             .time_range(TimeRange::between("0 seconds", "1 hour")),
    ///     )
    ///     .write_stream().memory("clicked").start()?;
    /// impressions.add_data([Impression { ad: 1, ts: minutes(10) }, Impression { ad: 2, ts: minutes(10) }]);
    /// clicks.add_data([Click { ad: 1, ts: minutes(40) }, Click { ad: 2, ts: minutes(100) }]);
    /// query.process_all_available()?;
    /// let rows = session.memory_table::<(Impression, Click)>("clicked")?.rows();
    /// assert_eq!(rows, [(Impression { ad: 1, ts: minutes(10) }, Click { ad: 1, ts: minutes(40) })]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn join<R: StateData, K: Key + StateData, Sh2: Shape>(
        &self,
        right: &Dataset<R, Sh2>,
        on: JoinOn<L, R, K>,
    ) -> Dataset<(L, R), JoinOf<Sh, Sh2>>
    where
        Sh: Union<Sh2>,
    {
        self.stream_join(JoinType::Inner, right, on, |(l, r)| Some((l?, r?)))
    }

    /// The left outer join of this stream with `right` on `on`: the pairs of
    /// [`join`](Self::join), and every left row that matched nothing as `(left, None)` — once
    /// the watermark proves nothing can match it any more, never before. Needs a watermark on
    /// both sides and a range with an upper bound (an error at `start()` otherwise).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let (views, buys) = (MemoryStream::<(u64, i64)>::new(), MemoryStream::<(u64, i64)>::new());
    /// let query = session.read_stream::<(u64, i64)>().memory(&views).with_watermark(|v| v.1, "0 s")
    ///     .left_outer_join(
    ///         &session.read_stream::<(u64, i64)>().memory(&buys).with_watermark(|b| b.1, "0 s"),
    ///         JoinOn::keys(|v: &(u64, i64)| v.0, |b: &(u64, i64)| b.0).time_range(TimeRange::millis(0, 10)),
    ///     )
    ///     .write_stream().memory("views").start()?;
    /// views.add_data([(7, 100)]);
    /// query.process_all_available()?;
    /// assert!(session.memory_table::<((u64, i64), Option<(u64, i64)>)>("views")?.rows().is_empty());
    /// views.add_data([(9, 300)]);
    /// buys.add_data([(8, 200)]); // the watermark moves to 200: view 7 can no longer match
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<((u64, i64), Option<(u64, i64)>)>("views")?.rows(), [((7, 100), None)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn left_outer_join<R: StateData, K: Key + StateData, Sh2: Shape>(
        &self,
        right: &Dataset<R, Sh2>,
        on: JoinOn<L, R, K>,
    ) -> Dataset<(L, Option<R>), JoinOf<Sh, Sh2>>
    where
        Sh: Union<Sh2>,
    {
        self.stream_join(JoinType::LeftOuter, right, on, |(l, r)| Some((l?, r)))
    }

    /// The right outer join of this stream with `right` on `on`: the pairs of
    /// [`join`](Self::join), and every right row that matched nothing as `(None, right)`, at
    /// its eviction. Needs a watermark on both sides and a range with a lower bound.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::new(1)?;
    /// let a = session.read_stream::<(u64, i64)>().memory(&MemoryStream::new()).with_watermark(|r| r.1, "1 s");
    /// let b = session.read_stream::<(u64, i64)>().memory(&MemoryStream::new()).with_watermark(|r| r.1, "1 s");
    /// let joined: Dataset<(Option<(u64, i64)>, (u64, i64)), shape::Joined> = a.right_outer_join(
    ///     &b,
    ///     JoinOn::keys(|l: &(u64, i64)| l.0, |r: &(u64, i64)| r.0).time_range(TimeRange::millis(-1_000, 0)),
    /// );
    /// # let _ = joined;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn right_outer_join<R: StateData, K: Key + StateData, Sh2: Shape>(
        &self,
        right: &Dataset<R, Sh2>,
        on: JoinOn<L, R, K>,
    ) -> Dataset<(Option<L>, R), JoinOf<Sh, Sh2>>
    where
        Sh: Union<Sh2>,
    {
        self.stream_join(JoinType::RightOuter, right, on, |(l, r)| Some((l, r?)))
    }

    /// The full outer join of this stream with `right` on `on`: the pairs of
    /// [`join`](Self::join), and the unmatched rows of either side, null-padded, at their
    /// eviction. Needs a watermark on both sides and a range with both bounds.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::new(1)?;
    /// let a = session.read_stream::<(u64, i64)>().memory(&MemoryStream::new()).with_watermark(|r| r.1, "1 s");
    /// let b = session.read_stream::<(u64, i64)>().memory(&MemoryStream::new()).with_watermark(|r| r.1, "1 s");
    /// let joined: Dataset<(Option<(u64, i64)>, Option<(u64, i64)>), shape::Joined> = a.full_outer_join(
    ///     &b,
    ///     JoinOn::keys(|l: &(u64, i64)| l.0, |r: &(u64, i64)| r.0).time_range(TimeRange::millis(-1_000, 1_000)),
    /// );
    /// # let _ = joined;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn full_outer_join<R: StateData, K: Key + StateData, Sh2: Shape>(
        &self,
        right: &Dataset<R, Sh2>,
        on: JoinOn<L, R, K>,
    ) -> Dataset<(Option<L>, Option<R>), JoinOf<Sh, Sh2>>
    where
        Sh: Union<Sh2>,
    {
        self.stream_join(JoinType::FullOuter, right, on, Some)
    }

    /// The left semi join of this stream with `right` on `on`: each left row that matches a
    /// right row, once, when it first does (Spark's `left_semi`). Needs what
    /// [`left_outer_join`](Self::left_outer_join) needs, so that left rows are forgotten.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let (users, logins) = (MemoryStream::<(u64, i64)>::new(), MemoryStream::<(u64, i64)>::new());
    /// let query = session.read_stream::<(u64, i64)>().memory(&users).with_watermark(|u| u.1, "0 s")
    ///     .left_semi_join(
    ///         &session.read_stream::<(u64, i64)>().memory(&logins).with_watermark(|l| l.1, "0 s"),
    ///         JoinOn::keys(|u: &(u64, i64)| u.0, |l: &(u64, i64)| l.0).time_range(TimeRange::millis(0, 100)),
    ///     )
    ///     .write_stream().memory("active").start()?;
    /// users.add_data([(1, 10), (2, 10)]);
    /// logins.add_data([(1, 20), (1, 30)]);
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<(u64, i64)>("active")?.rows(), [(1, 10)]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn left_semi_join<R: StateData, K: Key + StateData, Sh2: Shape>(
        &self,
        right: &Dataset<R, Sh2>,
        on: JoinOn<L, R, K>,
    ) -> Dataset<L, JoinOf<Sh, Sh2>>
    where
        Sh: Union<Sh2>,
    {
        self.stream_join(JoinType::LeftSemi, right, on, |(l, _)| l)
    }

    /// Builds a stream–stream join of `join_type`; `shape` turns a joined row into the
    /// method's output type.
    fn stream_join<R: StateData, K: Key + StateData, U: Data, Sh2: Shape>(
        &self,
        join_type: JoinType,
        right: &Dataset<R, Sh2>,
        on: JoinOn<L, R, K>,
        shape: fn(Joined<L, R>) -> Option<U>,
    ) -> Dataset<U, JoinOf<Sh, Sh2>>
    where
        Sh: Union<Sh2>,
    {
        let method = join_type.method();
        let operator = format!("{method}(..)");
        let mut logical = self.logical.then(&operator);
        if right.id != self.id {
            logical.merge_other_side(&right.logical);
        }
        let range = on.range.clone();
        if let Some(range) = &range {
            if let Some(error) = &range.error {
                logical.errors.push(format!("{operator}: {error}"));
            }
            if self.event_time.is_none() || right.event_time.is_none() {
                logical.errors.push(format!(
                    "`{operator}` has a time range but a side has no event time: call \
                     .with_watermark(|r| r.ts, delay) on both sides"
                ));
            }
        }
        let (left_watermarked, right_watermarked) = (
            self.logical.watermarked && self.event_time.is_some(),
            right.logical.watermarked && right.event_time.is_some(),
        );
        logical.joins.push((
            crate::structured::next_dataset_id(),
            rules::Join {
                operator: operator.clone(),
                join_type: match join_type {
                    JoinType::Inner => "Inner",
                    JoinType::LeftOuter => "LeftOuter",
                    JoinType::RightOuter => "RightOuter",
                    JoinType::FullOuter => "FullOuter",
                    JoinType::LeftSemi => "LeftSemi",
                },
                stream_stream: true,
                left_watermarked,
                right_watermarked,
                bounds_left: range.as_ref().is_some_and(|r| r.bounds_left()),
                bounds_right: range.as_ref().is_some_and(|r| r.bounds_right()),
            },
        ));
        let event_time: Option<EventTimeFn<U>> = None;
        let (left, right) = (self.clone(), right.clone());
        Dataset::new(self.session.clone(), logical, event_time, move |p| {
            let (l, r) = (left.node(p)?, right.node(p)?);
            let op = Arc::new(StreamJoin::new(
                &operator,
                join_type,
                SideSpec {
                    key: on.left_key.clone(),
                    event_time: left.event_time.clone(),
                    watermarked: left_watermarked,
                    late: p.late_slot_of(&left),
                },
                SideSpec {
                    key: on.right_key.clone(),
                    event_time: right.event_time.clone(),
                    watermarked: right_watermarked,
                    late: p.late_slot_of(&right),
                },
                range.clone(),
                p.exec.parallelism(),
                p.run.clone(),
            ));
            let exec = p.exec.clone();
            let parents = vec![l.meta.clone(), r.meta.clone()];
            let run = op.clone();
            Ok(p.add_stateful_over(&operator, parents, op, move |time| {
                let (a, b) = (l.get_or_compute(time)?, r.get_or_compute(time)?);
                Ok(Some(run.run(a, b, time, &exec)?.flat_map(shape)))
            }))
        })
    }
}
