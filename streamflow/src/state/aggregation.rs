//! The aggregation operator of a Structured query: groups by key and/or event-time window,
//! aggregated with an [`Aggregator`] (`aggregators.rs`), kept across micro-batches on the
//! keyed-state primitive (`keyed.rs`).
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

use crate::event_time::late::LateSlot;
use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hashbrown::hash_map::{Entry, RawEntryMut};
use serde::{Deserialize, Serialize};

use super::aggregators::{AggRow, Aggregator};
use super::keyed::run_keyed_buckets;
use super::store::{Changes, Table};
use super::window_tables::WindowTables;
use super::{StateHandle, StateStore, StorePartition};
use crate::batch::shuffle::{Buckets, Drained, FastMap, FixedHasher, MapTable, new_map};
use crate::batch::{Batch, Part};
use crate::data::{Data, Key, StateData};
use crate::error::{Error, Result};
use crate::event_time::timestamp::EventTimeFn;
use crate::exec::{guard, lock};
use crate::metrics::progress::StateOperatorProgress;
use crate::structured::OutputMode;
use crate::structured::plan::{RunShared, StatefulRun};
use crate::time::Time;
use crate::window::event_time::{Window, WindowKind, WindowSpec};

/// How a record of a grouped dataset gets its key.
pub(crate) type KeyFn<T, K> = Arc<dyn Fn(&T) -> K + Send + Sync>;

/// How a grouped dataset's records name their group.
pub(crate) enum KeyOf<T, K> {
    /// An owned key built for every record by the user's function (`group_by(|r| r.user.clone())`).
    Owned(KeyFn<T, K>),
    /// A key borrowed from the record (`group_by_ref`, `group_by_value`): the map side looks a
    /// group up with it as it is, and makes it owned only for a group's first record.
    Borrowed(Arc<dyn BorrowedKey<T, K>>),
}

impl<T, K> Clone for KeyOf<T, K> {
    fn clone(&self) -> Self {
        match self {
            KeyOf::Owned(f) => KeyOf::Owned(f.clone()),
            KeyOf::Borrowed(b) => KeyOf::Borrowed(b.clone()),
        }
    }
}

impl<T: 'static, K: 'static> KeyOf<T, K> {
    /// The record's key, owned, for the operators that keep one per record.
    pub(crate) fn owned(&self) -> KeyFn<T, K> {
        match self {
            KeyOf::Owned(f) => f.clone(),
            KeyOf::Borrowed(b) => {
                let b = b.clone();
                Arc::new(move |t: &T| b.to_key(t))
            }
        }
    }
}

/// A key borrowed from a record, looked up in a map-side table as it is. Every method may run
/// user code (a key function, `Hash`, `Eq`, `ToOwned`): callers [`guard`] them.
pub(crate) trait BorrowedKey<T, K>: Send + Sync {
    /// The hash of the record's key, the same as `hasher` gives its owned form.
    fn hash(&self, record: &T, hasher: &FixedHasher) -> u64;
    /// Whether `key` is the record's key.
    fn is_key_of(&self, record: &T, key: &K) -> bool;
    /// The record's key, made owned.
    fn to_key(&self, record: &T) -> K;
    /// The record's key, the record given up: moved when the record is the key.
    fn take_key(&self, record: T) -> K {
        self.to_key(&record)
    }
}

/// A key function returning a borrow of the record (`|e| e.user.as_str()`); the owned key is
/// `Q::to_owned`. A `Borrow`/`ToOwned` pair that hashes differently only costs two map-side
/// groups of one key: the state merges them by the owned key.
pub(crate) struct ByRef<F, Q: ?Sized>(pub(crate) F, pub(crate) PhantomData<fn(&Q)>);

impl<T, Q, F> BorrowedKey<T, Q::Owned> for ByRef<F, Q>
where
    F: for<'a> Fn(&'a T) -> &'a Q + Send + Sync,
    Q: ?Sized + Hash + Eq + ToOwned,
{
    fn hash(&self, record: &T, hasher: &FixedHasher) -> u64 {
        hasher.hash_one((self.0)(record))
    }

    fn is_key_of(&self, record: &T, key: &Q::Owned) -> bool {
        key.borrow() == (self.0)(record)
    }

    fn to_key(&self, record: &T) -> Q::Owned {
        (self.0)(record).to_owned()
    }
}

/// The record is its own key (`group_by_value`): a group's first record moves into the table,
/// the others are dropped once folded.
pub(crate) struct ByValue;

impl<T: Key> BorrowedKey<T, T> for ByValue {
    fn hash(&self, record: &T, hasher: &FixedHasher) -> u64 {
        hasher.hash_one(record)
    }

    fn is_key_of(&self, record: &T, key: &T) -> bool {
        record == key
    }

    fn to_key(&self, record: &T) -> T {
        record.clone()
    }

    fn take_key(&self, record: T) -> T {
        record
    }
}

/// Folds `row` into the value of its key in `table`, the key looked up by borrow: a new key's
/// value starts as `new()`, folded before the key is made owned by `own` (which may take the
/// record) — a record of a known group allocates nothing for its key.
#[inline(always)]
fn fold_by_borrow<T, R: Borrow<T>, K: Key, V>(
    table: &mut FastMap<K, V>,
    by: &dyn BorrowedKey<T, K>,
    row: R,
    own: impl FnOnce(R) -> K,
    new: impl FnOnce() -> V,
    fold: impl FnOnce(&mut V, &T),
) {
    let entry = guard("group_by", || {
        let hash = by.hash(row.borrow(), table.hasher());
        let entry = table
            .raw_entry_mut()
            .from_hash(hash, |k| by.is_key_of(row.borrow(), k));
        (hash, entry)
    });
    match entry {
        (_, RawEntryMut::Occupied(e)) => fold(e.into_mut(), row.borrow()),
        (hash, RawEntryMut::Vacant(e)) => {
            let mut value = new();
            fold(&mut value, row.borrow());
            let key = guard("group_by", || own(row));
            e.insert_hashed_nocheck(hash, key, value);
        }
    }
}

/// A group's state: its buffer and the batch that last changed it.
#[derive(Clone, Serialize, Deserialize)]
struct Slot<B> {
    buffer: B,
    updated: u64,
}

impl<B> Slot<B> {
    /// A new group's slot, first changed in batch `batch_id`.
    fn new(buffer: B, batch_id: u64) -> Self {
        Slot {
            buffer,
            updated: batch_id,
        }
    }

    /// Merges `more` into the buffer with `merge` in batch `batch_id`: 1 if the group changed
    /// for the first time in that batch, else 0.
    fn merge(&mut self, more: B, merge: &dyn Fn(&mut B, B), batch_id: u64) -> u64 {
        merge(&mut self.buffer, more);
        let first = self.updated != batch_id;
        self.updated = batch_id;
        u64::from(first)
    }
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
struct WindowStart(i64);

/// The group key of an aggregation without a window.
const NO_WINDOW: WindowStart = WindowStart(i64::MIN);

/// The window a group key's start stands for, in an aggregation by windows of `kind`.
fn window_at(kind: Option<WindowKind>, start: WindowStart) -> Option<Window> {
    match kind {
        Some(WindowKind::Sliding { size, .. }) if start != NO_WINDOW => Some(Window {
            start: Time::from_millis(start.0),
            end: Time::from_millis(start.0.saturating_add(size)),
        }),
        _ => None,
    }
}

type GroupKey<K> = (WindowStart, K);

/// The groups of an aggregation by time windows in a state partition: a table per window.
type WindowGroups<K, B> = WindowTables<WindowStart, K, Slot<B>>;

/// What an aggregation keeps across batches. Whatever the shape, a state partition is saved as
/// the same sequence of `(group, slot)` pairs: a checkpoint reads back into either shape.
enum AggState<K, B> {
    /// Key-only groups, and groups by the event time itself: one table of every group.
    Groups(StateStore<GroupKey<K>, Slot<B>>),
    /// Tumbling and sliding windows: one table per window, a closed window taken out whole.
    Windows(StateStore<GroupKey<K>, Slot<B>, WindowGroups<K, B>>),
    /// Session windows: the open sessions of each key, sorted by start.
    Sessions(StateStore<K, Vec<Session<B>>>),
}

impl<K: Key + StateData, B: StateData> AggState<K, B> {
    fn new(operator: &str, window: Option<&WindowSpec>, num_partitions: usize) -> Self {
        match window {
            Some(spec) if spec.is_session() => AggState::Sessions(StateStore::new(operator, num_partitions)),
            Some(_) => AggState::Windows(StateStore::new(operator, num_partitions)),
            None => AggState::Groups(StateStore::new(operator, num_partitions)),
        }
    }

    fn handle(&self) -> &dyn StateHandle {
        match self {
            AggState::Groups(store) => store,
            AggState::Windows(store) => store,
            AggState::Sessions(store) => store,
        }
    }

    /// The rows the state would emit: one per group, or per open session.
    fn rows(&self) -> u64 {
        match self {
            AggState::Groups(store) => store.stats().keys,
            AggState::Windows(store) => store.stats().keys,
            AggState::Sessions(store) => (0..store.num_partitions())
                .map(|p| store.lock(p).map.values().map(|v| v.len() as u64).sum::<u64>())
                .sum(),
        }
    }
}

/// What an aggregation computes: its name (`group_by(..).count()`), how a record gets its key,
/// window and event time, whether the query has a watermark, and the aggregator.
pub(crate) struct AggSpec<T, K, A> {
    pub(crate) name: String,
    pub(crate) key: KeyOf<T, K>,
    pub(crate) window: Option<WindowSpec>,
    pub(crate) event_time: Option<EventTimeFn<T>>,
    pub(crate) watermarked: bool,
    /// Grouped by the event time itself: a group closes once the watermark reaches it.
    pub(crate) event_time_key: bool,
    pub(crate) agg: Arc<A>,
    /// Where the rows dropped as late go, if a side output reads them.
    pub(crate) late: Option<Arc<LateSlot<T>>>,
}

/// The stateful operator of a grouped aggregation.
pub(crate) struct AggOperator<T, K, A: Aggregator<T>> {
    name: String,
    key: KeyOf<T, K>,
    window: Option<WindowSpec>,
    event_time: Option<EventTimeFn<T>>,
    watermarked: bool,
    event_time_key: bool,
    agg: Arc<A>,
    late: Option<Arc<LateSlot<T>>>,
    state: AggState<K, A::Buffer>,
    metrics: Mutex<StateOperatorProgress>,
    run: Arc<RunShared>,
}

impl<T: Data, K: Key + StateData, A: Aggregator<T>> StatefulRun for AggOperator<T, K, A> {
    fn progress(&self) -> StateOperatorProgress {
        lock(&self.metrics).clone()
    }

    fn state(&self) -> &dyn StateHandle {
        self.state.handle()
    }
}

/// What one state partition did in a batch.
struct PartitionOutcome<R> {
    rows: Part<R>,
    updated: u64,
    removed: u64,
}

/// What a batch of an aggregation did: the rows of every partition, the updated and removed
/// counts summed, and the rows dropped as too late.
struct BatchOutcome<R> {
    rows: Vec<Part<R>>,
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

/// Runs one batch of an aggregation on `store` through the keyed-state primitive: the map
/// side combines into tables made by `new` with `add`; `step` says what a partition did;
/// `dropped` counts the rows the map side found too late.
///
/// The step gets each key's map-side results as they come (one per map task that saw the key)
/// and folds them into the store itself: aggregation buffers merge associatively, so no merged
/// table is built first.
#[allow(clippy::type_complexity, reason = "the step's signature")]
fn run_batch<T: Data, G: Key, C: Send, M: MapTable<G, C>, S: Send, St: Table<G, S>, R: Send>(
    store: &StateStore<G, S, St>,
    batch: Batch<T>,
    new: &(dyn Fn() -> M + Sync),
    add: &(dyn Fn(&mut M, T) + Sync),
    dropped: &AtomicU64,
    step: impl Fn(&mut StorePartition<G, S, St>, Buckets<G, C>) -> Result<PartitionOutcome<R>> + Sync + Send,
) -> Result<BatchOutcome<R>> {
    let exec = batch.executor().clone();
    // Structured batches are identified by id, not by time: the store keeps no version.
    let outcomes = run_keyed_buckets(store, &exec, Some(batch), new, add, None, step)?;
    Ok(BatchOutcome::gather(outcomes, dropped))
}

/// A map task's partial aggregates, shaped as a hand-written loop keeps them: by key alone
/// without a window; with time windows, one table per window — event time mostly grows, so the
/// records of a window arrive together and probe that window's table, small and in cache,
/// rather than one table of every (window, key) group; flat by (event time, key) when grouped
/// by the event time itself (a "window" per distinct time, often one group each).
enum GroupTables<K, B> {
    Keys(FastMap<K, B>),
    Windows {
        /// The tables, in the order their windows were first met.
        tables: Vec<(WindowStart, FastMap<K, B>)>,
        /// Where each window's table is.
        index: FastMap<WindowStart, usize>,
        /// The table the last record went to.
        last: usize,
    },
    Flat(FastMap<GroupKey<K>, B>),
}

impl<K: Key, B> GroupTables<K, B> {
    /// The tables of an aggregation by `window` (time windows: `Some(false)`; the event time
    /// itself: `Some(true)`; none: `None`).
    fn new(window: Option<bool>) -> Self {
        match window {
            None => GroupTables::Keys(new_map()),
            Some(false) => GroupTables::Windows {
                tables: Vec::new(),
                index: new_map(),
                last: 0,
            },
            Some(true) => GroupTables::Flat(new_map()),
        }
    }

    /// The table the groups of `window` go to: by key (the one table by key alone, or the
    /// window's own), or the flat table by (event time, key).
    #[inline(always)]
    fn table(&mut self, window: WindowStart) -> TableOf<'_, K, B> {
        match self {
            GroupTables::Keys(table) => TableOf::ByKey(table),
            GroupTables::Flat(table) => TableOf::Flat(table),
            GroupTables::Windows { tables, index, last } => {
                if tables.get(*last).is_none_or(|(w, _)| *w != window) {
                    *last = match index.get(&window) {
                        Some(&i) => i,
                        None => {
                            // Sized as the window opened last, which the stream most likely
                            // resembles: no growing, and at most twice the groups in memory.
                            let size = tables.last().map_or(0, |(_, t)| t.len());
                            let mut table = new_map();
                            table.reserve(size);
                            tables.push((window, table));
                            index.insert(window, tables.len() - 1);
                            tables.len() - 1
                        }
                    };
                }
                TableOf::ByKey(&mut tables[*last].1)
            }
        }
    }
}

/// Where the groups of one window go in [`GroupTables`].
enum TableOf<'a, K, B> {
    ByKey(&'a mut FastMap<K, B>),
    Flat(&'a mut FastMap<GroupKey<K>, B>),
}

/// How the map side finds a record's group: [`OwnedKeys`] or [`BorrowedKeys`]. The map side
/// is compiled once for each, so an owned key's path carries nothing of the borrowed one's.
trait MapKeys<T, K: Key>: Sync {
    /// What a record's key is while its windows are folded: the owned key, built once per
    /// record, or nothing.
    type Record;

    /// The key of `row`.
    fn of(&self, row: &T) -> Self::Record;

    /// Folds `row` into its group of `window` in `tables` (a buffer made by `zero` if new);
    /// `last`: no other window of the record follows, so an owned key moves in rather than
    /// being cloned (`key` is then `None`).
    #[allow(clippy::too_many_arguments, reason = "one record's fold")]
    fn fold_ref<B>(
        &self,
        key: &mut Option<Self::Record>,
        tables: &mut GroupTables<K, B>,
        window: WindowStart,
        row: &T,
        last: bool,
        zero: impl FnOnce() -> B,
        fold: impl FnOnce(&mut B, &T),
    );

    /// Folds `row` into its only group, of `window`, in `tables`: the key, or the record
    /// when it is the key, moves into a new group.
    fn fold<B>(
        &self,
        key: Self::Record,
        tables: &mut GroupTables<K, B>,
        window: WindowStart,
        row: T,
        zero: impl FnOnce() -> B,
        fold: impl FnOnce(&mut B, &T),
    );
}

/// Keys built by the user's function for every record.
struct OwnedKeys<'a, T, K>(&'a KeyFn<T, K>);

impl<T, K: Key> MapKeys<T, K> for OwnedKeys<'_, T, K> {
    type Record = K;

    #[inline(always)]
    fn of(&self, row: &T) -> K {
        guard("group_by", || (self.0)(row))
    }

    #[inline(always)]
    fn fold_ref<B>(
        &self,
        key: &mut Option<K>,
        tables: &mut GroupTables<K, B>,
        window: WindowStart,
        row: &T,
        last: bool,
        zero: impl FnOnce() -> B,
        fold: impl FnOnce(&mut B, &T),
    ) {
        let key = if last { key.take() } else { key.clone() };
        if let Some(key) = key {
            fold(buffer_of(tables.table(window), window, key, zero), row);
        }
    }

    #[inline(always)]
    fn fold<B>(
        &self,
        key: K,
        tables: &mut GroupTables<K, B>,
        window: WindowStart,
        row: T,
        zero: impl FnOnce() -> B,
        fold: impl FnOnce(&mut B, &T),
    ) {
        fold(buffer_of(tables.table(window), window, key, zero), &row);
    }
}

/// Keys borrowed from the record, looked up as they are.
struct BorrowedKeys<'a, T, K>(&'a dyn BorrowedKey<T, K>);

impl<T, K: Key> MapKeys<T, K> for BorrowedKeys<'_, T, K> {
    type Record = ();

    #[inline(always)]
    fn of(&self, _: &T) {}

    #[inline(always)]
    fn fold_ref<B>(
        &self,
        _: &mut Option<()>,
        tables: &mut GroupTables<K, B>,
        window: WindowStart,
        row: &T,
        _: bool,
        zero: impl FnOnce() -> B,
        fold: impl FnOnce(&mut B, &T),
    ) {
        let by = self.0;
        fold_in_window(by, tables, window, row, |r| by.to_key(r), zero, fold);
    }

    #[inline(always)]
    fn fold<B>(
        &self,
        _: (),
        tables: &mut GroupTables<K, B>,
        window: WindowStart,
        row: T,
        zero: impl FnOnce() -> B,
        fold: impl FnOnce(&mut B, &T),
    ) {
        let by = self.0;
        fold_in_window(by, tables, window, row, |r| by.take_key(r), zero, fold);
    }
}

/// [`fold_by_borrow`] into the table of `window`; the flat table by (event time, key) takes
/// an owned key.
#[inline(always)]
fn fold_in_window<T, R: Borrow<T>, K: Key, B>(
    by: &dyn BorrowedKey<T, K>,
    tables: &mut GroupTables<K, B>,
    window: WindowStart,
    row: R,
    own: impl FnOnce(R) -> K,
    zero: impl FnOnce() -> B,
    fold: impl FnOnce(&mut B, &T),
) {
    match tables.table(window) {
        TableOf::ByKey(table) => fold_by_borrow(table, by, row, own, zero, fold),
        flat => {
            let key = guard("group_by", || by.to_key(row.borrow()));
            fold(buffer_of(flat, window, key, zero), row.borrow());
        }
    }
}

/// The buffer of group `(window, key)` in `table`, made by `zero` if new.
#[inline(always)]
fn buffer_of<K: Key, B>(
    table: TableOf<'_, K, B>,
    window: WindowStart,
    key: K,
    zero: impl FnOnce() -> B,
) -> &mut B {
    match table {
        TableOf::ByKey(table) => table.entry(key).or_insert_with(zero),
        TableOf::Flat(table) => table.entry((window, key)).or_insert_with(zero),
    }
}

impl<K: Key, B: Send> MapTable<GroupKey<K>, B> for GroupTables<K, B> {
    fn len(&self) -> usize {
        match self {
            GroupTables::Keys(table) => table.len(),
            GroupTables::Windows { tables, .. } => tables.iter().map(|(_, t)| t.len()).sum(),
            GroupTables::Flat(table) => table.len(),
        }
    }

    fn drain_into(self, out: &mut dyn FnMut(GroupKey<K>, B)) {
        match self {
            GroupTables::Keys(table) => table.into_iter().for_each(|(k, b)| out((NO_WINDOW, k), b)),
            // Window by window, each table freed once emptied.
            GroupTables::Windows { tables, .. } => {
                for (w, table) in tables {
                    table.into_iter().for_each(|(k, b)| out((w, k), b));
                }
            }
            GroupTables::Flat(table) => table.into_iter().for_each(|(g, b)| out(g, b)),
        }
    }

    /// A run per window: the state merges and frees them window by window.
    fn drain_runs(self, out: &mut dyn FnMut(Drained<GroupKey<K>, B>)) {
        match self {
            GroupTables::Windows { tables, .. } => {
                for (w, table) in tables {
                    out(Drained::Run(table.len()));
                    table.into_iter().for_each(|(k, b)| out(Drained::Pair((w, k), b)));
                }
            }
            other => {
                out(Drained::Run(other.len()));
                other.drain_into(&mut |g, b| out(Drained::Pair(g, b)));
            }
        }
    }
}

impl<T: Data, K: Key + StateData, A: Aggregator<T>> AggOperator<T, K, A> {
    /// The operator of `spec`, keeping its state in `num_partitions` partitions, reading the
    /// query's batch id, watermark and output mode from `run`.
    pub(crate) fn new(spec: AggSpec<T, K, A>, num_partitions: usize, run: Arc<RunShared>) -> Self {
        AggOperator {
            state: AggState::new(&spec.name, spec.window.as_ref(), num_partitions),
            metrics: Mutex::new(StateOperatorProgress::new(&spec.name)),
            name: spec.name,
            key: spec.key,
            window: spec.window,
            event_time: spec.event_time,
            watermarked: spec.watermarked,
            event_time_key: spec.event_time_key,
            agg: spec.agg,
            late: spec.late,
            run,
        }
    }

    /// Runs the aggregation over the batch at `time`: the rows it emits by the output mode.
    pub(crate) fn run(&self, batch: Batch<T>, time: Time) -> Result<Batch<AggRow<K, A::Output>>> {
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
            AggState::Groups(store) => self.run_keyed_groups(store, batch, watermark, drop_late, batch_id)?,
            AggState::Windows(store) => {
                self.run_keyed_groups(store, batch, watermark, drop_late, batch_id)?
            }
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
        Ok(Batch::from_parts(outcome.rows, time, exec))
    }

    /// The window a group key's start stands for.
    /// Continuous mode: the state partition of the group `key` (an aggregation without a
    /// window), by the shuffle's function, as a micro-batch places it.
    pub(crate) fn partition_of_key(&self, key: &K) -> usize {
        crate::batch::shuffle::partition_of(&(NO_WINDOW, key), self.state.handle().num_partitions())
    }

    /// Continuous mode: folds one record into its group's state in `partition` (the group's
    /// [`partition_of_key`](Self::partition_of_key)), noting the change for the checkpoint, and
    /// returns the group's new row and whether the group changed for the first time in `epoch`.
    /// The key moves into the row: a group already in the state costs no clone.
    pub(crate) fn fold_one(
        &self,
        partition: usize,
        key: K,
        record: &T,
        epoch: u64,
    ) -> Result<(AggRow<K, A::Output>, bool)> {
        let AggState::Groups(store) = &self.state else {
            return Err(Error::illegal_state(
                "an aggregation by windows cannot run in continuous mode",
            ));
        };
        let agg = &*self.agg;
        let group = (NO_WINDOW, key);
        let mut part = store.lock(partition);
        part.touch(&group);
        if !part.map.contains_key(&group) {
            let buffer = guard("aggregate", || agg.zero());
            part.map.insert(
                group.clone(),
                Slot {
                    buffer,
                    updated: u64::MAX,
                },
            );
        }
        let Some(slot) = part.map.get_mut(&group) else {
            return Err(Error::illegal_state("a group vanished from its state partition"));
        };
        guard("aggregate", || agg.reduce(&mut slot.buffer, record));
        let first = slot.updated != epoch;
        slot.updated = epoch;
        let value = guard("aggregate", || agg.finish(&slot.buffer));
        drop(part);
        Ok((AggRow::new(None, group.1, value, agg.name()), first))
    }

    /// Continuous mode: the operator's figures at the end of an epoch that changed `updated`
    /// groups.
    pub(crate) fn note_epoch(&self, updated: u64) {
        let mut m = lock(&self.metrics);
        m.num_rows_total = self.state.rows();
        m.num_rows_updated = updated;
        m.num_rows_removed = 0;
        m.num_rows_dropped_by_watermark = 0;
        m.memory_used_bytes = self.state.handle().stats().approx_bytes;
    }

    fn window_at(&self, start: WindowStart) -> Option<Window> {
        window_at(self.window.as_ref().map(|spec| spec.kind), start)
    }

    fn row(&self, window: Option<Window>, key: K, buffer: &A::Buffer) -> AggRow<K, A::Output> {
        AggRow::new(
            window,
            key,
            guard("aggregate", || self.agg.finish(buffer)),
            self.agg.name(),
        )
    }

    /// The rows of the groups `closed` taken out of the state, made as the sink reads them and
    /// freed as they go (window by window with a table per window): the state is never held
    /// beside a copy of it as rows.
    fn rows_later<M: GroupStore<K, A::Buffer>>(
        &self,
        closed: M::Closed,
        n: u64,
    ) -> Part<AggRow<K, A::Output>> {
        let (agg, kind) = (self.agg.clone(), self.window.as_ref().map(|spec| spec.kind));
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        Part::lazy_exact(n, move |emit| {
            M::drain_closed(closed, &mut |w, k, slot| {
                let value = guard("aggregate", || agg.finish(&slot.buffer));
                emit(AggRow::new(window_at(kind, w), k, value, agg.name()));
            })
        })
    }

    /// [`run_groups`](Self::run_groups) with the key function the query has.
    fn run_keyed_groups<M: GroupStore<K, A::Buffer>>(
        &self,
        store: &StateStore<GroupKey<K>, Slot<A::Buffer>, M>,
        batch: Batch<T>,
        watermark: Time,
        drop_late: bool,
        batch_id: u64,
    ) -> Result<BatchOutcome<AggRow<K, A::Output>>> {
        match &self.key {
            KeyOf::Owned(f) => self.run_groups(&OwnedKeys(f), store, batch, watermark, drop_late, batch_id),
            KeyOf::Borrowed(by) => {
                self.run_groups(&BorrowedKeys(&**by), store, batch, watermark, drop_late, batch_id)
            }
        }
    }

    /// Tumbling, sliding and key-only groups, keyed by `keys`, kept as `M` keeps them.
    fn run_groups<M: GroupStore<K, A::Buffer>>(
        &self,
        keys: &impl MapKeys<T, K>,
        store: &StateStore<GroupKey<K>, Slot<A::Buffer>, M>,
        batch: Batch<T>,
        watermark: Time,
        drop_late: bool,
        batch_id: u64,
    ) -> Result<BatchOutcome<AggRow<K, A::Output>>> {
        let agg = &*self.agg;
        let (spec, ts_fn) = (self.window.as_ref(), self.event_time.as_ref());
        let late = self.late.as_ref();
        let dropped = AtomicU64::new(0);
        let (zero, reduce) = (
            || agg.zero(),
            |b: &mut A::Buffer, row: &T| guard("aggregate", || agg.reduce(b, row)),
        );
        let add = |local: &mut GroupTables<K, A::Buffer>, row: T| {
            let key = keys.of(&row);
            match (spec, ts_fn) {
                (Some(spec), Some(ts_fn)) => {
                    let ts = guard("event_time", || ts_fn(&row));
                    let mut windows = spec.windows_of(ts).peekable();
                    let mut kept = false;
                    let mut key = Some(key);
                    while let Some(w) = windows.next() {
                        if drop_late && w.end <= watermark {
                            dropped.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        kept = true;
                        let last = windows.peek().is_none();
                        let window = WindowStart(w.start.millis());
                        keys.fold_ref(&mut key, local, window, &row, last, zero, reduce);
                    }
                    // Too late for every window it falls in: the row is dropped.
                    if !kept {
                        LateSlot::route(late, row);
                    }
                }
                // Grouped by the event time itself: the group's "window" is its event time,
                // late once the watermark reached it (Spark's `eventTime <= watermark`).
                (None, Some(ts_fn)) if self.event_time_key => {
                    let ts = guard("event_time", || ts_fn(&row)).millis();
                    if drop_late && ts <= watermark.millis() {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        LateSlot::route(late, row);
                        return;
                    }
                    keys.fold(key, local, WindowStart(ts), row, zero, reduce);
                }
                // Without a window the groups never close, so the watermark cannot evict
                // them and late rows are kept, as in Spark (its late-row filter is built
                // from the state key's event-time column, and there is none here).
                _ => keys.fold(key, local, NO_WINDOW, row, zero, reduce),
            }
        };
        let mode = self.run.mode;
        let evict =
            self.watermarked && (spec.is_some() || self.event_time_key) && mode != OutputMode::Complete;
        // The same cases as `add`'s.
        let shape = match (spec, ts_fn) {
            (Some(_), Some(_)) => Some(false),
            (None, Some(_)) if self.event_time_key => Some(true),
            _ => None,
        };
        let new = || GroupTables::new(shape);
        let merge = |b: &mut A::Buffer, more| guard("aggregate", || agg.merge(b, more));
        let closed = |w: WindowStart| {
            if self.event_time_key {
                w.0 <= watermark.millis()
            } else {
                self.window_at(w).is_some_and(|w| w.end <= watermark)
            }
        };
        run_batch(store, batch, &new, &add, &dropped, |part, buffers| {
            let (table, changes) = part.table_and_changes();
            let updated = table.merge_in(changes, buffers, &merge, batch_id)?;
            let mut removed = 0;
            let rows = match mode {
                OutputMode::Complete | OutputMode::Update => {
                    let complete = mode == OutputMode::Complete;
                    let mut rows = Vec::new();
                    table.for_each_group(&mut |w, k, slot| {
                        if complete || slot.updated == batch_id {
                            rows.push(self.row(self.window_at(w), k.clone(), &slot.buffer));
                        }
                    });
                    if evict {
                        removed = table.take_closed(changes, &closed).1;
                    }
                    Part::Ready(rows)
                }
                OutputMode::Append if evict => {
                    let (gone, n) = table.take_closed(changes, &closed);
                    removed = n;
                    match n {
                        0 => Part::Ready(Vec::new()),
                        _ => self.rows_later::<M>(gone, n),
                    }
                }
                OutputMode::Append => Part::Ready(Vec::new()),
            };
            Ok(PartitionOutcome {
                rows,
                updated,
                removed,
            })
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
        let (key_fn, late) = (&self.key, self.late.as_ref());
        let wm = watermark.millis();
        let dropped = AtomicU64::new(0);
        let add = |local: &mut FastMap<K, Vec<Session<A::Buffer>>>, row: T| {
            let ts = guard("event_time", || ts_fn(&row)).millis();
            let end = ts.saturating_add(gap);
            if drop_late && end <= wm {
                dropped.fetch_add(1, Ordering::Relaxed);
                LateSlot::route(late, row);
                return;
            }
            let session = |row: &T| {
                let mut buffer = agg.zero();
                guard("aggregate", || agg.reduce(&mut buffer, row));
                Session {
                    start: ts,
                    end,
                    buffer,
                    updated: batch_id,
                }
            };
            match key_fn {
                KeyOf::Owned(f) => {
                    let key = guard("group_by", || f(&row));
                    local.entry(key).or_default().push(session(&row));
                }
                KeyOf::Borrowed(by) => {
                    let push = |open: &mut Vec<_>, row: &T| open.push(session(row));
                    fold_by_borrow(local, &**by, row, |r| by.take_key(r), Vec::new, push);
                }
            }
        };
        let mode = self.run.mode;
        let evict = self.watermarked && mode != OutputMode::Complete;
        run_batch(store, batch, &new_map, &add, &dropped, |part, sessions| {
            // Sessions merge and close key by key over the whole table: the next write is a
            // snapshot.
            part.touch_all();
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
            Ok(PartitionOutcome {
                rows: Part::Ready(rows),
                updated,
                removed,
            })
        })
    }
}

/// Sorts sessions by start and merges those that overlap or touch (`next.start ≤ current.end`,
/// as Spark's `MergingSessionsIterator`): one event can bridge two sessions. A merged session counts as updated if any part was.
fn merge_sessions<T, A: Aggregator<T>>(agg: &A, sessions: &mut Vec<Session<A::Buffer>>) {
    if sessions.len() < 2 {
        return;
    }
    sessions.sort_by_key(|s| s.start);
    let mut merged: Vec<Session<A::Buffer>> = Vec::with_capacity(sessions.len());
    for s in sessions.drain(..) {
        match merged.last_mut() {
            Some(current) if s.start <= current.end => {
                current.end = current.end.max(s.end);
                current.updated = current.updated.max(s.updated);
                guard("aggregate", || agg.merge(&mut current.buffer, s.buffer));
            }
            _ => merged.push(s),
        }
    }
    *sessions = merged;
}

/// How a state partition keeps an aggregation's groups: one table of every group
/// ([`FastMap`]), or a table per window ([`WindowTables`]).
trait GroupStore<K: Key, B>: Table<GroupKey<K>, Slot<B>> + Sized {
    /// The closed groups taken out of the state, kept for their rows.
    type Closed: Send + 'static;

    /// Folds the map side's `buffers` into the groups (a new group's buffer as it is, a known
    /// one's by `merge`), noting each group in `changes`; returns how many groups changed for
    /// the first time in batch `batch_id`.
    fn merge_in(
        &mut self,
        changes: &mut Changes<GroupKey<K>>,
        buffers: Buckets<GroupKey<K>, B>,
        merge: &dyn Fn(&mut B, B),
        batch_id: u64,
    ) -> Result<u64>;

    /// Calls `f` with every group.
    fn for_each_group(&self, f: &mut dyn FnMut(WindowStart, &K, &Slot<B>));

    /// Takes out the groups of the windows `closed` says are, noting the change in `changes`;
    /// returns them and how many there are.
    fn take_closed(
        &mut self,
        changes: &mut Changes<GroupKey<K>>,
        closed: &dyn Fn(WindowStart) -> bool,
    ) -> (Self::Closed, u64);

    /// Hands every group of `closed` to `f`, freeing them as it goes.
    fn drain_closed(closed: Self::Closed, f: &mut dyn FnMut(WindowStart, K, Slot<B>));
}

/// Notes in `changes` that `removed` of `before` groups left the state: one by one when few
/// did (`keys` lists them), else as a change of everything (the next write is a snapshot).
fn note_removed<'a, K: Key + 'a>(
    changes: &mut Changes<GroupKey<K>>,
    removed: usize,
    before: usize,
    keys: impl Iterator<Item = (WindowStart, &'a K)>,
) {
    if removed * 2 >= before || !changes.by_key() {
        changes.all();
    } else {
        keys.for_each(|(w, k)| changes.touch(&(w, k.clone())));
    }
}

impl<K: Key + StateData, B: StateData> GroupStore<K, B> for FastMap<GroupKey<K>, Slot<B>> {
    type Closed = Vec<(GroupKey<K>, Slot<B>)>;

    fn merge_in(
        &mut self,
        changes: &mut Changes<GroupKey<K>>,
        buffers: Buckets<GroupKey<K>, B>,
        merge: &dyn Fn(&mut B, B),
        batch_id: u64,
    ) -> Result<u64> {
        let mut updated = 0;
        if self.is_empty() {
            // A first batch (or one after everything was evicted): sized once, not grown.
            self.reserve(buffers.len());
        }
        for (k, b) in buffers {
            changes.touch(&k);
            match self.entry(k) {
                Entry::Occupied(mut e) => updated += e.get_mut().merge(b, merge, batch_id),
                Entry::Vacant(e) => {
                    e.insert(Slot::new(b, batch_id));
                    updated += 1;
                }
            }
        }
        Ok(updated)
    }

    fn for_each_group(&self, f: &mut dyn FnMut(WindowStart, &K, &Slot<B>)) {
        self.iter().for_each(|((w, k), slot)| f(*w, k, slot));
    }

    fn take_closed(
        &mut self,
        changes: &mut Changes<GroupKey<K>>,
        closed: &dyn Fn(WindowStart) -> bool,
    ) -> (Self::Closed, u64) {
        let before = self.len();
        let closing = self.keys().filter(|k| closed(k.0)).count();
        if closing == 0 {
            return (Vec::new(), 0);
        }
        let gone: Vec<_> = if closing * 2 >= before {
            // Most groups closed (the end of a backfill, say): the table leaves the state
            // whole, the open groups are put back, and the closed ones are moved into a vector
            // of exactly their number, the table freed at once.
            let mut groups = std::mem::replace(self, new_map());
            self.extend(groups.extract_if(|k, _| !closed(k.0)));
            groups.into_iter().collect()
        } else {
            self.extract_if(|k, _| closed(k.0)).collect()
        };
        note_removed(
            changes,
            gone.len(),
            before,
            gone.iter().map(|((w, k), _)| (*w, k)),
        );
        let n = gone.len() as u64;
        (gone, n)
    }

    fn drain_closed(closed: Self::Closed, f: &mut dyn FnMut(WindowStart, K, Slot<B>)) {
        closed.into_iter().for_each(|((w, k), slot)| f(w, k, slot));
    }
}

impl<K: Key + StateData, B: StateData> GroupStore<K, B> for WindowGroups<K, B> {
    type Closed = Vec<(WindowStart, Vec<(K, Slot<B>)>)>;

    fn merge_in(
        &mut self,
        changes: &mut Changes<GroupKey<K>>,
        buffers: Buckets<GroupKey<K>, B>,
        merge: &dyn Fn(&mut B, B),
        batch_id: u64,
    ) -> Result<u64> {
        // The pairs each window gets (the map side drains a run per window): a window new to
        // the state gets its table sized once for them.
        let mut sizes: FastMap<WindowStart, usize> = new_map();
        for run in buffers.runs() {
            if let Some(((w, _), _)) = run.first() {
                *sizes.entry(*w).or_default() += run.len();
            }
        }
        let mut updated = 0;
        // Run by run, each run freed once merged.
        for (group, b) in buffers {
            changes.touch(&group);
            let (w, k) = group;
            let table = self.window_mut(w, || sizes.get(&w).copied().unwrap_or(0));
            let hash = table.hash(&k);
            match table.get_mut(hash, &k) {
                Some(slot) => updated += slot.merge(b, merge, batch_id),
                None => {
                    table.insert_new(hash, k, Slot::new(b, batch_id))?;
                    updated += 1;
                }
            }
        }
        Ok(updated)
    }

    fn for_each_group(&self, f: &mut dyn FnMut(WindowStart, &K, &Slot<B>)) {
        for (w, table) in self.windows() {
            table.iter().for_each(|(k, slot)| f(*w, k, slot));
        }
    }

    fn take_closed(
        &mut self,
        changes: &mut Changes<GroupKey<K>>,
        closed: &dyn Fn(WindowStart) -> bool,
    ) -> (Self::Closed, u64) {
        let before = Table::len(self);
        let gone = self.take_windows(closed);
        let n: usize = gone.iter().map(|(_, groups)| groups.len()).sum();
        if n > 0 {
            let keys = gone
                .iter()
                .flat_map(|(w, groups)| groups.iter().map(move |(k, _)| (*w, k)));
            note_removed(changes, n, before, keys);
        }
        (gone, n as u64)
    }

    fn drain_closed(closed: Self::Closed, f: &mut dyn FnMut(WindowStart, K, Slot<B>)) {
        // Window by window, each window's groups freed once their rows are out.
        for (w, groups) in closed {
            groups.into_iter().for_each(|(k, slot)| f(w, k, slot));
        }
    }
}
