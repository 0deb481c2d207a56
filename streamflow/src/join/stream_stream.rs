//! The stream–stream join (Spark's `StreamingSymmetricHashJoinExec`): each side's rows are
//! buffered in state until the watermark proves they can no longer match, on the keyed-state
//! primitive (`state/keyed.rs`), so both sides are checkpointed with the rest of the query.
//!
//! Per batch, both sides' new rows are shuffled together by key into the store's partitions
//! (one store: a key's state is its buffered left rows and right rows). In each partition,
//! for each key:
//!
//! 1. a side with a watermark drops its rows with `ts ≤ watermark` as late (counted in
//!    `num_rows_dropped_by_watermark`), before the shuffle;
//! 2. each new left row joins the right rows already buffered, then each new right row joins
//!    the left rows buffered, this batch's included — so a pair is found exactly once — with
//!    the range condition checked for every pair; a buffered row that matches is marked;
//! 3. a new row is buffered unless its side's state watermark already passed it (then, if it
//!    is an outer row without a match, its null-padded row is emitted now: it is evicted at
//!    once); in a left semi join a left row that matched is emitted once and not buffered;
//! 4. the rows at or before their side's state watermark (`condition.rs`) are evicted; an
//!    evicted outer row that never matched emits its null-padded row — at eviction, never
//!    before.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use super::condition::TimeRange;
use crate::batch::Batch;
use crate::batch::shuffle::{Combine, FastMap, append, group_values};
use crate::data::{Key, StateData};
use crate::error::Result;
use crate::event_time::late::LateSlot;
use crate::event_time::timestamp::EventTimeFn;
use crate::exec::{Executor, guard, lock};
use crate::metrics::progress::StateOperatorProgress;
use crate::state::keyed::run_keyed;
use crate::state::{StateHandle, StateStore, StorePartition};
use crate::structured::plan::{RunShared, StatefulRun};
use crate::time::Time;

/// The kinds of stream–stream join.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JoinType {
    Inner,
    LeftOuter,
    RightOuter,
    FullOuter,
    LeftSemi,
}

impl JoinType {
    /// Whether left rows without a match are emitted (null-padded) at eviction.
    fn emits_left_unmatched(self) -> bool {
        matches!(self, JoinType::LeftOuter | JoinType::FullOuter)
    }

    fn emits_right_unmatched(self) -> bool {
        matches!(self, JoinType::RightOuter | JoinType::FullOuter)
    }

    /// The method that makes it, for operator names and messages.
    pub(crate) fn method(self) -> &'static str {
        match self {
            JoinType::Inner => "join",
            JoinType::LeftOuter => "left_outer_join",
            JoinType::RightOuter => "right_outer_join",
            JoinType::FullOuter => "full_outer_join",
            JoinType::LeftSemi => "left_semi_join",
        }
    }
}

/// A buffered row: the row, its event time (0 without a range condition) and whether it
/// matched a row of the other side.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Buffered<T> {
    row: T,
    ts: i64,
    matched: bool,
}

/// What a key keeps: the rows of each side still able to match.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Sides<L, R> {
    left: Vec<Buffered<L>>,
    right: Vec<Buffered<R>>,
}

/// A new row of one side, with its event time.
#[derive(Clone)]
pub(crate) enum NewRow<L, R> {
    Left(L, i64),
    Right(R, i64),
}

/// An output row: both sides, or one null-padded (a left semi join emits `(Some(l), None)`).
pub(crate) type Joined<L, R> = (Option<L>, Option<R>);

/// One side of the join as the operator sees it.
pub(crate) struct SideSpec<T, K> {
    pub(crate) key: Arc<dyn Fn(&T) -> K + Send + Sync>,
    pub(crate) event_time: Option<EventTimeFn<T>>,
    /// Whether its rows at or before the watermark are late (it has a watermark).
    pub(crate) watermarked: bool,
    /// Where its rows dropped as late go, if a side output reads them.
    pub(crate) late: Option<Arc<LateSlot<T>>>,
}

/// The stateful operator of a stream–stream join.
pub(crate) struct StreamJoin<L, R, K> {
    join: JoinType,
    left: SideSpec<L, K>,
    right: SideSpec<R, K>,
    range: Option<TimeRange>,
    /// Whether the state watermarks apply: both sides have a watermark.
    evicts: bool,
    state: StateStore<K, Sides<L, R>>,
    metrics: Mutex<StateOperatorProgress>,
    run: Arc<RunShared>,
}

impl<L: StateData, R: StateData, K: Key + StateData> StatefulRun for StreamJoin<L, R, K> {
    fn progress(&self) -> StateOperatorProgress {
        lock(&self.metrics).clone()
    }

    fn state(&self) -> &dyn StateHandle {
        &self.state
    }
}

/// What one partition's step did.
struct Outcome<L, R> {
    rows: Vec<Joined<L, R>>,
    buffered: u64,
    updated: u64,
    removed: u64,
}

impl<L, R> Outcome<L, R> {
    /// Buffers a new row, unless its side's state watermark already passed it (`expired`):
    /// then it is evicted as it arrives, and `pad` makes the null-padded row of an unmatched
    /// outer row.
    fn keep<T>(
        &mut self,
        buffer: &mut Vec<Buffered<T>>,
        row: Buffered<T>,
        expired: bool,
        pad: Option<fn(T) -> Joined<L, R>>,
    ) {
        if !expired {
            self.updated += 1;
            buffer.push(row);
        } else if let Some(pad) = pad.filter(|_| !row.matched) {
            self.rows.push(pad(row.row));
        }
    }
}

/// The state watermarks of a batch: buffered rows with `ts ≤` them are evicted.
#[derive(Clone, Copy)]
struct Bounds {
    left: Option<i64>,
    right: Option<i64>,
}

impl Bounds {
    fn left_expired(&self, ts: i64) -> bool {
        self.left.is_some_and(|w| ts <= w)
    }

    fn right_expired(&self, ts: i64) -> bool {
        self.right.is_some_and(|w| ts <= w)
    }
}

impl<L: StateData, R: StateData, K: Key + StateData> StreamJoin<L, R, K> {
    /// The operator `name`, keeping its state in `num_partitions` partitions.
    pub(crate) fn new(
        name: &str,
        join: JoinType,
        left: SideSpec<L, K>,
        right: SideSpec<R, K>,
        range: Option<TimeRange>,
        num_partitions: usize,
        run: Arc<RunShared>,
    ) -> Self {
        let evicts = left.watermarked && right.watermarked;
        StreamJoin {
            join,
            left,
            right,
            range,
            evicts,
            state: StateStore::new(name, num_partitions),
            metrics: Mutex::new(StateOperatorProgress::new(name)),
            run,
        }
    }

    /// Joins one batch of each side (none: no data on that side) into the rows it emits.
    pub(crate) fn run(
        &self,
        left: Option<Batch<L>>,
        right: Option<Batch<R>>,
        time: Time,
        exec: &Arc<Executor>,
    ) -> Result<Batch<Joined<L, R>>> {
        let watermark = self.run.watermark.current().millis();
        let bounds = match (&self.range, self.evicts) {
            (Some(range), true) => Bounds {
                left: range.left_state_watermark(watermark),
                right: range.right_state_watermark(watermark),
            },
            _ => Bounds {
                left: None,
                right: None,
            },
        };
        let dropped = Arc::new(AtomicU64::new(0));
        let input = match (
            left.map(|b| tag(b, &self.left, watermark, &dropped, NewRow::Left)),
            right.map(|b| tag(b, &self.right, watermark, &dropped, NewRow::Right)),
        ) {
            (Some(a), Some(b)) => Some(a.union(b)),
            (a, b) => a.or(b),
        };
        let combine = Combine {
            add: &group_values,
            merge: &append,
        };
        let outcomes = run_keyed(&self.state, exec, input, combine, None, |part, records| {
            Ok(self.step(part, records, bounds))
        })?;
        let mut m = StateOperatorProgress::new(&lock(&self.metrics).operator_name);
        let rows: Vec<Vec<Joined<L, R>>> = outcomes
            .into_iter()
            .map(|o| {
                m.num_rows_total += o.buffered;
                m.num_rows_updated += o.updated;
                m.num_rows_removed += o.removed;
                o.rows
            })
            .collect();
        m.num_rows_dropped_by_watermark = dropped.load(Ordering::Relaxed);
        m.memory_used_bytes = self.state.stats().approx_bytes;
        *lock(&self.metrics) = m;
        Ok(Batch::from_partitions(rows, time, exec.clone()))
    }

    /// Whether a left row at `l` and a right row at `r` satisfy the range condition.
    fn in_range(&self, l: i64, r: i64) -> bool {
        self.range.as_ref().is_none_or(|range| range.contains(l, r))
    }

    /// One partition of one batch: joins, buffers and evicts (see the module docs).
    fn step(
        &self,
        part: &mut StorePartition<K, Sides<L, R>>,
        records: FastMap<K, Vec<NewRow<L, R>>>,
        bounds: Bounds,
    ) -> Outcome<L, R> {
        let join = self.join;
        let mut out = Outcome {
            rows: Vec::new(),
            buffered: 0,
            updated: 0,
            removed: 0,
        };
        for (key, new) in records {
            part.touch(&key);
            let sides = part.map.entry(key).or_insert_with(|| Sides {
                left: Vec::new(),
                right: Vec::new(),
            });
            let (mut lefts, mut rights) = (Vec::new(), Vec::new());
            for row in new {
                match row {
                    NewRow::Left(l, ts) => lefts.push((l, ts)),
                    NewRow::Right(r, ts) => rights.push((r, ts)),
                }
            }
            for (l, lts) in lefts {
                let mut matched = false;
                for r in &mut sides.right {
                    if self.in_range(lts, r.ts) {
                        matched = true;
                        r.matched = true;
                        if join == JoinType::LeftSemi {
                            break;
                        }
                        out.rows.push((Some(l.clone()), Some(r.row.clone())));
                    }
                }
                if join == JoinType::LeftSemi && matched {
                    out.rows.push((Some(l), None));
                } else {
                    let expired = bounds.left_expired(lts);
                    let pad: fn(L) -> Joined<L, R> = |l| (Some(l), None);
                    let pad = join.emits_left_unmatched().then_some(pad);
                    out.keep(
                        &mut sides.left,
                        Buffered {
                            row: l,
                            ts: lts,
                            matched,
                        },
                        expired,
                        pad,
                    );
                }
            }
            for (r, rts) in rights {
                let mut matched = false;
                for l in &mut sides.left {
                    if !self.in_range(l.ts, rts) {
                        continue;
                    }
                    matched = true;
                    if join == JoinType::LeftSemi {
                        // Each left row is emitted once, at its first match.
                        if !l.matched {
                            out.rows.push((Some(l.row.clone()), None));
                        }
                    } else {
                        out.rows.push((Some(l.row.clone()), Some(r.clone())));
                    }
                    l.matched = true;
                }
                let expired = bounds.right_expired(rts);
                let pad: fn(R) -> Joined<L, R> = |r| (None, Some(r));
                let pad = join.emits_right_unmatched().then_some(pad);
                out.keep(
                    &mut sides.right,
                    Buffered {
                        row: r,
                        ts: rts,
                        matched,
                    },
                    expired,
                    pad,
                );
            }
        }
        if bounds.left.is_some() || bounds.right.is_some() {
            self.evict(part, bounds, &mut out);
        }
        out.buffered = part
            .map
            .values()
            .map(|s| (s.left.len() + s.right.len()) as u64)
            .sum();
        // Keys left with no rows (all late) are forgotten.
        let empty: Vec<K> = part
            .map
            .iter()
            .filter(|(_, s)| s.left.is_empty() && s.right.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        for k in empty {
            part.map.remove(&k);
            part.touch(&k);
        }
        out
    }

    /// Drops the rows each side's state watermark passed, emitting the unmatched outer ones.
    fn evict(&self, part: &mut StorePartition<K, Sides<L, R>>, bounds: Bounds, out: &mut Outcome<L, R>) {
        let join = self.join;
        let mut changed = Vec::new();
        for (key, sides) in part.map.iter_mut() {
            let before = sides.left.len() + sides.right.len();
            if bounds.left.is_some() {
                sides.left.retain_mut(|l| {
                    if !bounds.left_expired(l.ts) {
                        return true;
                    }
                    if join.emits_left_unmatched() && !l.matched {
                        out.rows.push((Some(l.row.clone()), None));
                    }
                    false
                });
            }
            if bounds.right.is_some() {
                sides.right.retain_mut(|r| {
                    if !bounds.right_expired(r.ts) {
                        return true;
                    }
                    if join.emits_right_unmatched() && !r.matched {
                        out.rows.push((None, Some(r.row.clone())));
                    }
                    false
                });
            }
            let removed = before - sides.left.len() - sides.right.len();
            if removed > 0 {
                out.removed += removed as u64;
                changed.push(key.clone());
            }
        }
        for key in &changed {
            part.touch(key);
        }
    }
}

/// One side's batch keyed and tagged for the shared shuffle; its late rows (a watermarked
/// side, `ts ≤ watermark`) dropped, counted in `dropped` and routed to its side output.
fn tag<T: StateData, K: Key, L: Send + 'static, R: Send + 'static>(
    batch: Batch<T>,
    side: &SideSpec<T, K>,
    watermark: i64,
    dropped: &Arc<AtomicU64>,
    wrap: fn(T, i64) -> NewRow<L, R>,
) -> Batch<(K, NewRow<L, R>)>
where
    NewRow<L, R>: crate::Data,
{
    let (key, ts, late) = (side.key.clone(), side.event_time.clone(), side.late.clone());
    let drop_late = side.watermarked && ts.is_some();
    let dropped = dropped.clone();
    batch.flat_map(move |row: T| {
        let at = ts
            .as_ref()
            .map_or(0, |f| guard("event_time", || f(&row)).millis());
        if drop_late && at <= watermark {
            dropped.fetch_add(1, Ordering::Relaxed);
            LateSlot::route(late.as_ref(), row);
            return None;
        }
        let k = guard("join", || key(&row));
        Some((k, wrap(row, at)))
    })
}
