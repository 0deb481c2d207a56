//! State across batches (Spark's `updateStateByKey` and `mapWithState`).
//!
//! A stateful operator keeps a value per key from one batch to the next. Its input is shuffled
//! by key into `n` partitions with the shuffle's fixed-seed hash, and partition `i` of every
//! batch meets partition `i` of the operator's state store: one task per partition
//! updates that partition's keys, so the partitions run in parallel and never share a lock.
//! Each partition records the batch time it is at, so batches apply once and in order; the
//! node of a stateful operator is computed exactly once per batch time.
//!
//! | operator | called for | output each batch |
//! |---|---|---|
//! | [`update_state_by_key`](crate::DStream::update_state_by_key) | every key with state or new values | every `(key, state)` |
//! | [`update_state_by_key_with_initial`](crate::DStream::update_state_by_key_with_initial) | the same, starting from given states | every `(key, state)` |
//! | [`update_state_by_key_with_time`](crate::DStream::update_state_by_key_with_time) | the same, also given the batch time | every `(key, state)` |
//! | [`map_with_state`](crate::DStream::map_with_state) | each new value, and keys timing out | what the function returns; [`state_snapshots`](MapWithStateDStream::state_snapshots) for every `(key, state)` |
//!
//! State lives in memory here. Like in Spark, stateful operators (and incremental windows)
//! require a checkpoint directory: `start()` fails without
//! [`checkpoint(dir)`](crate::StreamingContext::checkpoint). The store is built so that a
//! checkpoint can snapshot and restore it partition by partition, with its version.

mod map_with_state;
pub(crate) mod store;
mod update;

pub use map_with_state::{MapWithStateDStream, State, StateSpec};
pub(crate) use store::{StateStore, StoreStats};

use std::sync::Arc;

use crate::batch::Batch;
use crate::data::{Data, Key, Pair};
use crate::dstream::DStream;
use crate::error::Result;
use crate::graph::NodeKind;
use crate::time::Time;

/// What the engine needs of a state store whatever its key and state types: its name, shape
/// and size (for progress reports and checkpoints).
pub(crate) trait StateStoreInfo: Send + Sync {
    /// The operator the store belongs to.
    fn operator(&self) -> &str;
    /// The number of partitions.
    fn num_partitions(&self) -> usize;
    /// Keys and approximate memory.
    fn stats(&self) -> StoreStats;

    /// Logs the store's size after the batch at `time` (debug level).
    fn log_stats(&self, time: Time) {
        if log::log_enabled!(log::Level::Debug) {
            let stats = self.stats();
            log::debug!(
                "state of `{}` after {time}: {} keys in {} partitions, ~{} bytes",
                self.operator(),
                stats.keys,
                self.num_partitions(),
                stats.approx_bytes
            );
        }
    }
}

impl<K: std::hash::Hash + Eq + Send, S: Send> StateStoreInfo for StateStore<K, S> {
    fn operator(&self) -> &str {
        StateStore::operator(self)
    }

    fn num_partitions(&self) -> usize {
        StateStore::num_partitions(self)
    }

    fn stats(&self) -> StoreStats {
        StateStore::stats(self)
    }
}

/// One partition of a batch grouped by key: every key of the partition with its values, in
/// arrival order.
pub(crate) type GroupedPartition<K, V> = Vec<(K, Vec<V>)>;

impl<T: Data> DStream<T> {
    /// Adds a stateful node: each batch is grouped by key into the store's partitions, and
    /// `step(time, partition, grouped)` runs once per partition, in parallel, returning that
    /// partition of the output. Registers the operator as needing a checkpoint directory.
    pub(crate) fn stateful_by_key<K, V, U: Data>(
        &self,
        name: &'static str,
        store: Arc<dyn StateStoreInfo>,
        step: impl Fn(Time, usize, GroupedPartition<K, V>) -> Result<Vec<U>> + Send + Sync + 'static,
    ) -> DStream<U>
    where
        T: Pair<K = K, V = V>,
        K: Key,
        V: Data,
    {
        self.ssc
            .inner
            .lock_graph()
            .needs_checkpoint
            .push(name.to_string());
        let parent = self.clone();
        let exec = self.ssc.inner.exec.clone();
        let n = store.num_partitions();
        self.add_node(
            name,
            NodeKind::Stateful,
            vec![self.node.meta.clone()],
            self.slide_duration(),
            move |time| {
                // Every key with state is visited each batch, even when no data came.
                let grouped = match parent.batch_at(time)? {
                    Some(batch) => batch.group_by_key_into(n).collect_partitions(),
                    None => (0..n).map(|_| Vec::new()).collect(),
                };
                let tasks: Vec<_> = grouped.into_iter().enumerate().collect();
                let results = exec.run(tasks, |(p, part)| step(time, p, part));
                let partitions = results.into_iter().collect::<Result<Vec<_>>>()?;
                store.log_stats(time);
                Ok(Some(Batch::from_partitions(partitions, time, exec.clone())))
            },
        )
    }
}
