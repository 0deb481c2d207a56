//! Streaming deduplication (Spark's `dropDuplicates` and `dropDuplicatesWithinWatermark`), on
//! the keyed-state primitive (`keyed.rs`).
//!
//! Per batch the operator:
//!
//! 1. gives each record its key (and event time); on a watermarked dataset, drops records whose
//!    event time is at or before the watermark (`num_rows_dropped_by_watermark`), as Spark's
//!    late-row filter does for every deduplication of a watermarked stream;
//! 2. keeps the first record of each key within each map task, shuffles them by a stable hash
//!    of the key, and lets through the records whose key is not in the state, remembering them;
//!    every record dropped for being a duplicate counts in `num_dropped_duplicate_rows`;
//! 3. forgets the keys whose expiry the watermark passed (`expiry ≤ watermark`):
//!    - [`Dedup::Forever`] (`drop_duplicates`): never — the state grows with the keys;
//!    - [`Dedup::EventTimeInKey`] (`drop_duplicates_with_event_time`, Spark's
//!      `dropDuplicates(key, eventTime)`): a key's event time is its expiry;
//!    - [`Dedup::WithinWatermark`] (`drop_duplicates_within_watermark`): the first record's
//!      event time plus the watermark's delay.
//!
//! The state is one store of `(key, event time or 0) → expiry` (milliseconds), so every kind
//! is checkpointed the same way.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hashbrown::hash_map::Entry;

use super::keyed::run_keyed_buckets;
use super::{StateHandle, StateStore};
use crate::batch::Batch;
use crate::batch::shuffle::{FastMap, new_map};
use crate::data::{Data, Key, StateData};
use crate::error::Result;
use crate::event_time::late::LateSlot;
use crate::event_time::timestamp::EventTimeFn;
use crate::exec::{Executor, guard, lock};
use crate::metrics::progress::StateOperatorProgress;
use crate::structured::Dataset;
use crate::structured::plan::{Planner, RunShared, StatefulRun};
use crate::structured::shape::Shape;
use crate::time::Time;

/// How long a deduplication remembers a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dedup {
    /// For ever.
    Forever,
    /// Until the watermark passes the event time, which is part of the key.
    EventTimeInKey,
    /// Until the watermark passes the first record's event time plus `delay_ms`.
    WithinWatermark { delay_ms: i64 },
}

/// A key that never expires.
const NEVER: i64 = i64::MAX;

/// The stateful operator of a deduplication.
pub(crate) struct DedupOperator<T, K> {
    kind: Dedup,
    key: Arc<dyn Fn(&T) -> K + Send + Sync>,
    /// The event time, when the dataset declares one.
    event_time: Option<EventTimeFn<T>>,
    /// Whether the dataset has a watermark: late rows are dropped and expired keys forgotten.
    watermarked: bool,
    /// Where the rows dropped as late go, if a side output reads them.
    late: Option<Arc<LateSlot<T>>>,
    state: StateStore<(K, i64), i64>,
    metrics: Mutex<StateOperatorProgress>,
    run: Arc<RunShared>,
}

impl<T: Data, K: Key + StateData> StatefulRun for DedupOperator<T, K> {
    fn progress(&self) -> StateOperatorProgress {
        lock(&self.metrics).clone()
    }

    fn state(&self) -> &dyn StateHandle {
        &self.state
    }
}

impl<T: Data, K: Key + StateData> DedupOperator<T, K> {
    /// The operator `name` of `kind` over `input` in the query `p` plans, keeping its state
    /// in one partition per worker.
    pub(crate) fn new<S: Shape>(
        name: &str,
        kind: Dedup,
        key: Arc<dyn Fn(&T) -> K + Send + Sync>,
        input: &Dataset<T, S>,
        p: &mut Planner,
    ) -> Self {
        DedupOperator {
            kind,
            key,
            event_time: input.event_time.clone(),
            watermarked: input.logical.watermarked,
            late: p.late_slot_of(input),
            state: StateStore::new(name, p.exec.parallelism()),
            metrics: Mutex::new(StateOperatorProgress::new(name)),
            run: p.run.clone(),
        }
    }

    /// The records of `input` (none: a batch without data) seen for the first time, as a batch
    /// at `time`.
    pub(crate) fn run(&self, input: Option<Batch<T>>, time: Time, exec: &Arc<Executor>) -> Result<Batch<T>> {
        let watermark = self.run.watermark.current().millis();
        let (kind, key_fn, ts_fn) = (self.kind, &self.key, self.event_time.as_ref());
        let drop_late = self.watermarked && ts_fn.is_some();
        let (late, duplicates) = (AtomicU64::new(0), AtomicU64::new(0));
        let add = |local: &mut FastMap<(K, i64), (T, i64)>, row: T| {
            let ts = ts_fn.map(|f| guard("event_time", || f(&row)).millis());
            if drop_late && ts.is_some_and(|ts| ts <= watermark) {
                late.fetch_add(1, Ordering::Relaxed);
                LateSlot::route(self.late.as_ref(), row);
                return;
            }
            let key = guard("drop_duplicates", || key_fn(&row));
            let (in_key, expiry) = match (kind, ts) {
                (Dedup::EventTimeInKey, Some(ts)) => (ts, ts),
                (Dedup::WithinWatermark { delay_ms }, Some(ts)) => (0, ts.saturating_add(delay_ms)),
                _ => (0, NEVER),
            };
            match local.entry((key, in_key)) {
                Entry::Occupied(_) => {
                    duplicates.fetch_add(1, Ordering::Relaxed);
                }
                Entry::Vacant(e) => {
                    e.insert((row, expiry));
                }
            }
        };
        let evict = self.watermarked && kind != Dedup::Forever;
        let outcomes = run_keyed_buckets(&self.state, exec, input, &new_map, &add, None, |part, records| {
            let mut rows = Vec::new();
            let mut dropped = 0_u64;
            for (k, (row, expiry)) in records {
                if part.map.contains_key(&k) {
                    dropped += 1;
                    continue;
                }
                part.touch(&k);
                part.map.insert(k, expiry);
                rows.push(row);
            }
            let updated = rows.len() as u64;
            let mut removed = 0;
            if evict {
                let gone: Vec<(K, i64)> = part
                    .map
                    .extract_if(|_, expiry| *expiry <= watermark)
                    .map(|(k, _)| k)
                    .collect();
                removed = gone.len() as u64;
                gone.iter().for_each(|k| part.touch(k));
            }
            Ok((rows, updated, removed, dropped))
        })?;
        let (mut updated, mut removed, mut dropped) = (0, 0, duplicates.load(Ordering::Relaxed));
        let rows: Vec<Vec<T>> = outcomes
            .into_iter()
            .map(|(rows, u, r, d)| {
                updated += u;
                removed += r;
                dropped += d;
                rows
            })
            .collect();
        let stats = self.state.stats();
        let mut m = lock(&self.metrics);
        m.num_rows_total = stats.keys;
        m.num_rows_updated = updated;
        m.num_rows_removed = removed;
        m.num_rows_dropped_by_watermark = late.load(Ordering::Relaxed);
        m.num_dropped_duplicate_rows = dropped;
        m.memory_used_bytes = stats.approx_bytes;
        drop(m);
        Ok(Batch::from_partitions(rows, time, exec.clone()))
    }
}
