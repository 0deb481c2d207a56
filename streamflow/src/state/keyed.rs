//! The keyed-state primitive under every stateful operator: a keyed batch is shuffled into the
//! partitions of a [`StateStore`] by the one shuffle ([`shuffle`], placing keys with
//! [`partition_of`](crate::batch::shuffle::partition_of), the store's own function), and a step
//! runs once per partition, in parallel, with that partition of the store locked.
//!
//! `update_state_by_key`, `map_with_state` and the Structured aggregations (session windows
//! too) are each a [`Combine`] (how records of a key meet before the store) and a step (how
//! they change the store and what comes out). The incremental `reduce_by_key_and_window_inv`
//! reads batches that a shuffle already put in the store's partitions, so it takes the
//! primitive's in-place form, [`run_in_place`]: no exchange, each record folded straight into
//! its partition of the store.

use std::sync::Arc;

use super::store::{StateHandle, StateStore, StorePartition, Table};
use crate::batch::Batch;
use crate::batch::shuffle::{
    Buckets, Combine, FastMap, MapTable, append, group_values, map_side_runs, shuffle,
};
use crate::data::{Data, Key, Pair, StateData};
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::exec::Executor;
use crate::graph::NodeKind;
use crate::time::{Duration, Time};

/// Runs one batch of a stateful operator: shuffles `input` (none: no data this batch) into the
/// partitions of `store`, combining records of a key with `combine` on both sides of the
/// shuffle, then calls `step(partition, records)` for every partition — also those without
/// records, so a step can visit every key it keeps — with the partition locked. With a
/// `version`, each partition commits it after its step (a batch time applies once, in order).
/// Returns what each step returned, in partition order.
pub(crate) fn run_keyed<T: Data, K: Key, C: Send, S: Send, R: Send>(
    store: &StateStore<K, S>,
    exec: &Executor,
    input: Option<Batch<T>>,
    combine: Combine<'_, T, K, C>,
    version: Option<Time>,
    step: impl Fn(&mut StorePartition<K, S>, FastMap<K, C>) -> Result<R> + Sync + Send,
) -> Result<Vec<R>> {
    let parts = input.map(Batch::into_parts).unwrap_or_default();
    shuffle(exec, parts, store.num_partitions(), combine, |p, records| {
        locked(store, p, version, |part| step(part, records))
    })
    .into_iter()
    .collect()
}

/// [`run_keyed`] for state whose values combine associatively (aggregations): the map side
/// combines into tables made by `new` (a [`FastMap`], or a table of the operator's own shape),
/// and `step` gets the partition's raw `(key, combined)` pairs, one per map task that saw the
/// key, and folds them straight into the store — no merged table is built first.
#[allow(clippy::too_many_arguments, reason = "one batch's inputs")]
pub(crate) fn run_keyed_buckets<T, K, C, M, S, St, R>(
    store: &StateStore<K, S, St>,
    exec: &Executor,
    input: Option<Batch<T>>,
    new: &(dyn Fn() -> M + Sync),
    add: &(dyn Fn(&mut M, T) + Sync),
    version: Option<Time>,
    step: impl Fn(&mut StorePartition<K, S, St>, Buckets<K, C>) -> Result<R> + Sync + Send,
) -> Result<Vec<R>>
where
    T: Data,
    K: Key,
    C: Send,
    M: MapTable<K, C>,
    S: Send,
    St: Table<K, S>,
    R: Send,
{
    let parts = input.map(Batch::into_parts).unwrap_or_default();
    let n = store.num_partitions();
    let buckets: Vec<_> = Buckets::by_partition(map_side_runs(exec, parts, n, new, add), n.max(1))
        .into_iter()
        .enumerate()
        .collect();
    exec.run(buckets, |(p, bucket): (usize, Buckets<K, C>)| {
        locked(store, p, version, |part| step(part, bucket))
    })
    .into_iter()
    .collect()
}

/// [`run_keyed`] for input already in place: `placed[p]` holds inputs (batch partitions, say)
/// whose keys all live in partition `p` of `store` — the output of a shuffle into its
/// partitions. Every partition, in parallel and locked, folds its inputs, in order, straight
/// into its keys with `apply`, then runs `finish`, then commits `version` if given.
pub(crate) fn run_in_place<I: Send, K: Key, S: Send, R: Send>(
    store: &StateStore<K, S>,
    exec: &Executor,
    placed: Vec<Vec<I>>,
    apply: impl Fn(&mut FastMap<K, S>, I) + Sync + Send,
    version: Option<Time>,
    finish: impl Fn(&mut StorePartition<K, S>) -> Result<R> + Sync + Send,
) -> Result<Vec<R>> {
    if placed.len() != store.num_partitions() {
        return Err(Error::illegal_state(format!(
            "`{}`: {} partitions of input for a state of {}",
            store.operator(),
            placed.len(),
            store.num_partitions()
        )));
    }
    let tasks: Vec<_> = placed.into_iter().enumerate().collect();
    exec.run(tasks, |(p, inputs): (usize, Vec<I>)| {
        locked(store, p, version, |part| {
            // `apply` may change any key it is given: the checkpoint writes a snapshot.
            part.touch_all();
            for input in inputs {
                apply(&mut part.map, input);
            }
            finish(part)
        })
    })
    .into_iter()
    .collect()
}

/// Runs `step` on partition `p` of `store`, locked, then commits `version` if given.
fn locked<K: Key, S, M: Table<K, S>, R>(
    store: &StateStore<K, S, M>,
    p: usize,
    version: Option<Time>,
    step: impl FnOnce(&mut StorePartition<K, S, M>) -> Result<R>,
) -> Result<R> {
    let mut part = store.lock(p);
    let out = step(&mut part)?;
    if let Some(time) = version {
        part.commit(store.operator(), time)?;
    }
    Ok(out)
}

impl<T: Data> DStream<T> {
    /// Adds the node of a stateful DStream operator: `compute(time)` gives the partitions of its
    /// output at each time of `slide`. Registers the operator as needing a checkpoint directory
    /// and logs the store's size after each batch.
    pub(crate) fn stateful_node<U: Data>(
        &self,
        name: &'static str,
        store: Arc<dyn StateHandle>,
        slide: Duration,
        compute: impl Fn(Time) -> Result<Vec<Vec<U>>> + Send + Sync + 'static,
    ) -> DStream<U> {
        self.ssc
            .inner
            .lock_graph()
            .needs_checkpoint
            .push(name.to_string());
        let exec = self.ssc.inner.exec.clone();
        let checkpointed = store.clone();
        let stream = self.add_node(
            name,
            NodeKind::Stateful,
            vec![self.node.meta.clone()],
            slide,
            move |time| {
                let partitions = compute(time)?;
                store.log_stats(time);
                Ok(Some(Batch::from_partitions(partitions, time, exec.clone())))
            },
        );
        self.ssc
            .inner
            .lock_graph()
            .stateful
            .push(crate::graph::StatefulNode {
                node: stream.node.meta.id,
                store: checkpointed,
                slide,
                interval: None,
            });
        stream
    }

    /// A stateful node over the values of each key: every batch, the values of each key are
    /// grouped (in arrival order within a partition) into the store's partitions and
    /// `step(time, partition, grouped)` runs for each partition, which then commits `time`.
    pub(crate) fn stateful_by_key<K, V, S, U: Data>(
        &self,
        name: &'static str,
        store: Arc<StateStore<K, S>>,
        step: impl Fn(Time, &mut StorePartition<K, S>, FastMap<K, Vec<V>>) -> Result<Vec<U>>
        + Send
        + Sync
        + 'static,
    ) -> DStream<U>
    where
        T: Pair<K = K, V = V>,
        K: Key + StateData,
        V: Data,
        S: StateData,
    {
        let parent = self.clone();
        let exec = self.ssc.inner.exec.clone();
        let handle: Arc<dyn StateHandle> = store.clone();
        self.stateful_node(name, handle, self.slide_duration(), move |time| {
            let input = parent.batch_at(time)?.map(|batch| batch.map(Pair::into_pair));
            let combine = Combine {
                add: &group_values,
                merge: &append,
            };
            run_keyed(&store, &exec, input, combine, Some(time), |part, grouped| {
                step(time, part, grouped)
            })
        })
    }
}
