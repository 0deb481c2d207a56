//! The state of a streaming aggregation: one hash map per (operator, partition).
//!
//! This mirrors the shape of the engine's state store (`crate::state::store`, being built
//! alongside): same partitioning (the shuffle's fixed-seed `partition_of`), same `lock(p)` →
//! `map` access and the same size statistics, so aggregations move onto it by changing this
//! file only once that store is part of the crate.

use std::sync::{Mutex, MutexGuard};

use crate::batch::shuffle::{FastMap, new_map};

/// One partition of a [`StateStore`].
pub(crate) struct StorePartition<K, S> {
    pub(crate) map: FastMap<K, S>,
}

/// The keyed state of one stateful operator, split into partitions.
pub(crate) struct StateStore<K, S> {
    partitions: Vec<Mutex<StorePartition<K, S>>>,
}

/// How big a store is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StoreStats {
    pub(crate) keys: u64,
    /// The hash tables' own allocations; heap memory owned by keys and states is not counted.
    pub(crate) approx_bytes: u64,
}

impl<K: std::hash::Hash + Eq, S> StateStore<K, S> {
    pub(crate) fn new(num_partitions: usize) -> Self {
        StateStore {
            partitions: (0..num_partitions.max(1))
                .map(|_| Mutex::new(StorePartition { map: new_map() }))
                .collect(),
        }
    }

    pub(crate) fn num_partitions(&self) -> usize {
        self.partitions.len()
    }

    pub(crate) fn lock(&self, partition: usize) -> MutexGuard<'_, StorePartition<K, S>> {
        let index = partition.min(self.partitions.len() - 1);
        self.partitions[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn stats(&self) -> StoreStats {
        let mut stats = StoreStats::default();
        for p in 0..self.partitions.len() {
            let part = self.lock(p);
            stats.keys += part.map.len() as u64;
            stats.approx_bytes += part.map.allocation_size() as u64;
        }
        stats
    }
}
