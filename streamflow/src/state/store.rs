//! The state store: the keyed state of one stateful operator, in memory, split into partitions.
//!
//! A key lives in partition `partition_of(key, n)` — the shuffle's fixed-seed hash — so the
//! batch a stateful operator receives after its shuffle lines up partition by partition with
//! its store, and partition `i` can be processed by one task without locks shared across
//! tasks. Each partition carries the batch time of its last update (its *version*).
//!
//! The store is what fault tolerance writes to and reads from the checkpoint: a partition can be
//! [`snapshot`](StateStore::snapshot) and [`restore`](StateStore::restore)d with its version,
//! and [`stats`](StateStore::stats) gives its size for progress reports.

use std::sync::{Mutex, MutexGuard};

use crate::batch::shuffle::{FastMap, new_map, partition_of};
use crate::error::{Error, Result};
use crate::time::Time;

/// The keyed state of one stateful operator: `num_partitions` hash maps, each with a version.
pub(crate) struct StateStore<K, S> {
    operator: String,
    partitions: Vec<Mutex<StorePartition<K, S>>>,
}

/// One partition of a [`StateStore`]: its keys, and the batch time it is at.
pub(crate) struct StorePartition<K, S> {
    pub(crate) map: FastMap<K, S>,
    version: Option<Time>,
}

/// How big a store is, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct StoreStats {
    /// Keys in all partitions.
    pub(crate) keys: u64,
    /// Approximate memory: the hash tables' own allocations. Memory that keys and states own
    /// on the heap (the bytes of a `String`, say) is not counted.
    pub(crate) approx_bytes: u64,
}

impl<K, S> StorePartition<K, S> {
    /// The batch time of the last committed update, `None` before the first.
    pub(crate) fn version(&self) -> Option<Time> {
        self.version
    }

    /// Records that the partition now holds the state after the batch at `time`. Versions only
    /// move forward: committing an older or equal time means a batch ran twice.
    pub(crate) fn commit(&mut self, operator: &str, time: Time) -> Result<()> {
        if let Some(current) = self.version {
            if time <= current {
                return Err(Error::illegal_state(format!(
                    "state of `{operator}` is already at batch time {current}, cannot apply the batch at {time} again: batches must run once, in order"
                )));
            }
        }
        self.version = Some(time);
        Ok(())
    }

    /// Empties the partition and forgets its version.
    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.version = None;
    }
}

impl<K: std::hash::Hash + Eq, S> StateStore<K, S> {
    /// An empty store for `operator` with `num_partitions` partitions (at least one).
    pub(crate) fn new(operator: &str, num_partitions: usize) -> Self {
        StateStore {
            operator: operator.to_string(),
            partitions: (0..num_partitions.max(1))
                .map(|_| {
                    Mutex::new(StorePartition {
                        map: new_map(),
                        version: None,
                    })
                })
                .collect(),
        }
    }

    /// The operator this store belongs to.
    pub(crate) fn operator(&self) -> &str {
        &self.operator
    }

    /// The number of partitions.
    pub(crate) fn num_partitions(&self) -> usize {
        self.partitions.len()
    }

    /// The partition `key` lives in.
    pub(crate) fn partition_of(&self, key: &K) -> usize {
        partition_of(key, self.partitions.len())
    }

    /// Locks one partition for reading or updating.
    pub(crate) fn lock(&self, partition: usize) -> MutexGuard<'_, StorePartition<K, S>> {
        let index = partition.min(self.partitions.len() - 1);
        self.partitions[index].lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The version every partition is at, or `None` if they are not all at the same one (or
    /// nothing was committed yet).
    pub(crate) fn version(&self) -> Option<Time> {
        let first = self.lock(0).version();
        (1..self.partitions.len())
            .all(|p| self.lock(p).version() == first)
            .then_some(first)
            .flatten()
    }

    /// Empties every partition.
    pub(crate) fn clear(&self) {
        for p in 0..self.partitions.len() {
            self.lock(p).clear();
        }
    }

    /// Adds `entries` to the partitions their keys belong to (a later entry for the same key
    /// wins), without changing versions: how an initial state is loaded.
    pub(crate) fn load(&self, entries: impl IntoIterator<Item = (K, S)>) {
        let mut by_partition: Vec<Vec<(K, S)>> = (0..self.partitions.len()).map(|_| Vec::new()).collect();
        for (k, s) in entries {
            by_partition[self.partition_of(&k)].push((k, s));
        }
        for (p, entries) in by_partition.into_iter().enumerate() {
            if !entries.is_empty() {
                self.lock(p).map.extend(entries);
            }
        }
    }

    /// Replaces the content of `partition` by `entries`, at `version` — how a checkpointed
    /// partition comes back. A key that does not belong to the partition is an error (the
    /// snapshot was taken with another number of partitions).
    #[cfg_attr(
        not(test),
        allow(
            dead_code,
            reason = "checkpoint recovery (the fault-tolerance issue) restores snapshots"
        )
    )]
    pub(crate) fn restore(
        &self,
        partition: usize,
        entries: impl IntoIterator<Item = (K, S)>,
        version: Option<Time>,
    ) -> Result<()> {
        if partition >= self.partitions.len() {
            return Err(Error::InvalidConfig(format!(
                "state of `{}` has {} partitions, cannot restore partition {partition}: restore with the number of partitions the state was saved with",
                self.operator,
                self.partitions.len()
            )));
        }
        let mut map = new_map();
        for (k, s) in entries {
            if self.partition_of(&k) != partition {
                return Err(Error::InvalidConfig(format!(
                    "state of `{}`: a key restored into partition {partition} belongs to partition {}: restore with the number of partitions the state was saved with",
                    self.operator,
                    self.partition_of(&k)
                )));
            }
            map.insert(k, s);
        }
        let mut part = self.lock(partition);
        part.map = map;
        part.version = version;
        Ok(())
    }

    /// The number of keys and the approximate memory of all partitions.
    pub(crate) fn stats(&self) -> StoreStats {
        let mut stats = StoreStats::default();
        for p in 0..self.partitions.len() {
            let part = self.lock(p);
            stats.keys += part.map.len() as u64;
            stats.approx_bytes +=
                (part.map.allocation_size() + std::mem::size_of::<StorePartition<K, S>>()) as u64;
        }
        stats
    }
}

impl<K: std::hash::Hash + Eq + Clone, S: Clone> StateStore<K, S> {
    /// A copy of every `(key, state)` of `partition`, with the partition's version — what a
    /// checkpoint writes.
    pub(crate) fn snapshot(&self, partition: usize) -> (Vec<(K, S)>, Option<Time>) {
        let part = self.lock(partition);
        let entries = part.map.iter().map(|(k, s)| (k.clone(), s.clone())).collect();
        (entries, part.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(keys: std::ops::Range<u32>, n: usize) -> StateStore<u32, String> {
        let store = StateStore::new("test_op", n);
        store.load(keys.map(|k| (k, format!("s{k}"))));
        store
    }

    #[test]
    fn keys_land_in_their_hash_partition() {
        let store = store_with(0..1_000, 4);
        for p in 0..4 {
            let part = store.lock(p);
            assert!(!part.map.is_empty());
            assert!(part.map.keys().all(|k| partition_of(k, 4) == p));
        }
        assert_eq!(store.stats().keys, 1_000);
        assert!(store.stats().approx_bytes >= 1_000 * std::mem::size_of::<(u32, String)>() as u64);
    }

    #[test]
    fn snapshot_and_restore_round_trip_with_version() -> Result<()> {
        let store = store_with(0..100, 3);
        for p in 0..3 {
            store.lock(p).commit("test_op", Time::from_millis(5_000))?;
        }
        let copy = StateStore::new("test_op", 3);
        for p in 0..3 {
            let (entries, version) = store.snapshot(p);
            copy.restore(p, entries, version)?;
        }
        assert_eq!(copy.version(), Some(Time::from_millis(5_000)));
        assert_eq!(copy.stats().keys, 100);
        assert_eq!(
            copy.lock(copy.partition_of(&7)).map.get(&7).map(String::as_str),
            Some("s7")
        );
        Ok(())
    }

    #[test]
    fn restoring_into_the_wrong_partition_count_is_an_error() {
        let store = store_with(0..100, 3);
        let (entries, version) = store.snapshot(1);
        let other = StateStore::<u32, String>::new("test_op", 2);
        let err = other.restore(1, entries, version).unwrap_err().to_string();
        assert!(err.contains("number of partitions"), "{err}");
        assert!(other.restore(5, Vec::new(), None).is_err());
    }

    #[test]
    fn versions_only_move_forward() {
        let store = store_with(0..10, 1);
        let mut part = store.lock(0);
        assert!(part.commit("op", Time::from_millis(2_000)).is_ok());
        let err = part
            .commit("op", Time::from_millis(2_000))
            .unwrap_err()
            .to_string();
        assert!(err.contains("already at batch time 2000 ms"), "{err}");
        assert_eq!(part.version(), Some(Time::from_millis(2_000)));
    }
}
