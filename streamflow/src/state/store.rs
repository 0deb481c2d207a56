//! The state store: the keyed state of one stateful operator, in memory, split into partitions.
//!
//! A key lives in partition [`partition_of(key, n)`](partition_of) — the shuffle's stable hash —
//! so the batch a stateful operator receives after its shuffle lines up partition by partition
//! with its store, and partition `i` can be processed by one task without locks shared across
//! tasks. Each partition carries the batch time of its last update (its *version*).
//!
//! The store is what fault tolerance writes to and reads from the checkpoint, through the
//! type-erased [`StateHandle`]: a partition is [`snapshot`](StateHandle::snapshot) to bytes with
//! its version and [`restore`](StateHandle::restore)d from them, and
//! [`stats`](StateHandle::stats) gives its size for progress reports.

use std::marker::PhantomData;
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize, Serializer};

use crate::batch::shuffle::{FastMap, new_map, partition_of};
use crate::data::{Key, StateData};
use crate::error::{Error, Result};
use crate::time::Time;

/// The keyed state of one stateful operator: `num_partitions` tables of type `M` (hash maps
/// unless the operator keeps its own shape), each with a version.
pub(crate) struct StateStore<K, S, M = FastMap<K, S>> {
    operator: String,
    partitions: Vec<Mutex<StorePartition<K, S, M>>>,
    _entries: PhantomData<fn() -> (K, S)>,
}

/// One partition of a [`StateStore`]: its keys, the batch time it is at, and — when a
/// checkpoint writes deltas — which keys changed since it last wrote.
pub(crate) struct StorePartition<K, S, M = FastMap<K, S>> {
    pub(crate) map: M,
    version: Option<Time>,
    changes: Changes<K>,
    _states: PhantomData<fn() -> S>,
}

/// How a partition of a [`StateStore`] keeps its `(key, state)` entries: a [`FastMap`], or a
/// table of the operator's own shape (an aggregation by time windows keeps one table per
/// window, `state/window_tables.rs`). Whatever its shape, a partition is saved as the same
/// sequence of `(key, state)` pairs, so a checkpoint written from one shape reads into another.
pub(crate) trait Table<K, S>: Send {
    /// An empty table.
    fn empty() -> Self;
    /// The number of entries.
    fn len(&self) -> usize;
    /// The bytes the table itself allocated (not what its keys and states own on the heap).
    fn allocation_size(&self) -> usize;
    /// The state of `key`.
    fn get(&self, key: &K) -> Option<&S>;
    /// Sets the state of `key`.
    fn insert(&mut self, key: K, state: S) -> Result<()>;
    /// Removes `key`.
    fn remove(&mut self, key: &K);
    /// Removes every entry.
    fn clear(&mut self);
    /// Makes room for `additional` more entries.
    fn reserve(&mut self, additional: usize);
    /// Writes every entry as a sequence of `(key, state)` pairs of known length.
    fn serialize_entries<Z: Serializer>(&self, serializer: Z) -> std::result::Result<Z::Ok, Z::Error>
    where
        K: Serialize,
        S: Serialize;
}

impl<K: Key, S: Send> Table<K, S> for FastMap<K, S> {
    fn empty() -> Self {
        new_map()
    }

    fn len(&self) -> usize {
        hashbrown::HashMap::len(self)
    }

    fn allocation_size(&self) -> usize {
        hashbrown::HashMap::allocation_size(self)
    }

    fn get(&self, key: &K) -> Option<&S> {
        hashbrown::HashMap::get(self, key)
    }

    fn insert(&mut self, key: K, state: S) -> Result<()> {
        hashbrown::HashMap::insert(self, key, state);
        Ok(())
    }

    fn remove(&mut self, key: &K) {
        hashbrown::HashMap::remove(self, key);
    }

    fn clear(&mut self) {
        hashbrown::HashMap::clear(self)
    }

    fn reserve(&mut self, additional: usize) {
        hashbrown::HashMap::reserve(self, additional)
    }

    fn serialize_entries<Z: Serializer>(&self, serializer: Z) -> std::result::Result<Z::Ok, Z::Error>
    where
        K: Serialize,
        S: Serialize,
    {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for entry in self.iter() {
            seq.serialize_element(&entry)?;
        }
        seq.end()
    }
}

/// The keys of a partition changed since the checkpoint last wrote it.
pub(crate) enum Changes<K> {
    /// Nobody writes deltas.
    Off,
    /// These keys (a key now absent was removed).
    Keys(FastMap<K, ()>),
    /// Any key may have changed: the next write is a snapshot.
    All,
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

/// One partition of a store as bytes: what a checkpoint writes per (operator, partition,
/// version), and what a stopped query's [`ResumeState`](crate::structured::ResumeState) carries.
///
/// `bytes` is the postcard 1.x encoding of the partition's entries as a sequence of
/// `(key, state)` pairs, in no particular order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StateSnapshot {
    /// The operator whose state this is.
    pub(crate) operator: String,
    /// The partition, and how many the store had: a snapshot only fits a store of that shape.
    pub(crate) partition: usize,
    pub(crate) num_partitions: usize,
    /// The batch time of the partition's last update, `None` if it never committed one.
    pub(crate) version: Option<Time>,
    #[serde(with = "hex_bytes")]
    pub(crate) bytes: Vec<u8>,
}

/// What the engine needs of a state store whatever its key and state types: its name, shape and
/// size (for progress reports), and its partitions as bytes (for checkpoints and resuming).
pub(crate) trait StateHandle: Send + Sync {
    /// The operator the store belongs to.
    fn operator(&self) -> &str;
    /// The number of partitions.
    fn num_partitions(&self) -> usize;
    /// Keys and approximate memory.
    fn stats(&self) -> StoreStats;
    /// Partition `partition` as bytes, with its version. An error if a key or state fails to
    /// serialize.
    fn snapshot(&self, partition: usize) -> Result<StateSnapshot>;
    /// Replaces the content and version of the snapshot's partition. An error, changing
    /// nothing, if the snapshot is of another operator or number of partitions, or its bytes
    /// do not decode as this store's entries.
    fn restore(&self, snapshot: &StateSnapshot) -> Result<()>;

    /// The key and state types, for the checkpoint's record of what each operator keeps.
    fn schema(&self) -> String;
    /// The version partition `partition` is at.
    fn partition_version(&self, partition: usize) -> Option<Time>;
    /// From now on, notes the keys each partition changes, for [`delta`](Self::delta).
    fn track_changes(&self);
    /// The keys of `partition` changed since the last `delta` or
    /// [`clear_changes`](Self::clear_changes) — each with its state, or none if it was
    /// removed — as bytes with the partition's version; `None` when a snapshot is needed
    /// instead (everything may have changed, or changes are not tracked). Starts a new delta.
    fn delta(&self, partition: usize) -> Result<Option<StateSnapshot>>;
    /// Starts a new delta of `partition` (after a snapshot was written).
    fn clear_changes(&self, partition: usize);
    /// Applies a delta taken by [`delta`](Self::delta) to its partition and sets its version.
    fn apply_delta(&self, delta: &StateSnapshot) -> Result<()>;

    /// Every partition as bytes, in order.
    #[cfg(test)]
    fn snapshot_all(&self) -> Result<Vec<StateSnapshot>> {
        (0..self.num_partitions()).map(|p| self.snapshot(p)).collect()
    }

    /// Restores every partition from `snapshots`, which must hold one per partition.
    #[cfg(test)]
    fn restore_all(&self, snapshots: &[StateSnapshot]) -> Result<()> {
        if snapshots.len() != self.num_partitions() {
            return Err(Error::State {
                operator: self.operator().to_string(),
                message: format!(
                    "the saved state has {} partitions but the store has {}: restore with the number of partitions the state was saved with",
                    snapshots.len(),
                    self.num_partitions()
                ),
            });
        }
        snapshots.iter().try_for_each(|snapshot| self.restore(snapshot))
    }

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

impl<K, S, M: Table<K, S>> StorePartition<K, S, M> {
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
        self.touch_all();
    }

    /// The table and the log of its changes, borrowed apart: a step that holds on to a part of
    /// the table while it notes the keys it changes.
    pub(crate) fn table_and_changes(&mut self) -> (&mut M, &mut Changes<K>) {
        (&mut self.map, &mut self.changes)
    }

    /// Notes that any key may have changed (a step that rewrites the table, or visits every
    /// key): the checkpoint's next write of the partition is a snapshot.
    pub(crate) fn touch_all(&mut self) {
        self.changes.all()
    }
}

impl<K: Key, S, M> StorePartition<K, S, M> {
    /// Notes that `key` changed (was inserted, updated or removed), for the checkpoint's next
    /// delta. Costs nothing without a checkpoint.
    #[inline]
    pub(crate) fn touch(&mut self, key: &K) {
        self.changes.touch(key)
    }
}

impl<K: Key> Changes<K> {
    /// Notes that `key` changed (see [`StorePartition::touch`]).
    #[inline]
    pub(crate) fn touch(&mut self, key: &K) {
        if let Changes::Keys(keys) = self {
            if !keys.contains_key(key) {
                keys.insert(key.clone(), ());
            }
        }
    }
}

impl<K> Changes<K> {
    /// Whether the keys that change are noted one by one (a checkpoint writes deltas and the
    /// next write is not already a snapshot).
    pub(crate) fn by_key(&self) -> bool {
        matches!(self, Changes::Keys(_))
    }

    /// Notes that any key may have changed: the next write is a snapshot.
    pub(crate) fn all(&mut self) {
        if !matches!(self, Changes::Off) {
            *self = Changes::All;
        }
    }
}

impl<K: Key, S, M: Table<K, S>> StateStore<K, S, M> {
    /// An empty store for `operator` with `num_partitions` partitions (at least one).
    pub(crate) fn new(operator: &str, num_partitions: usize) -> Self {
        StateStore {
            operator: operator.to_string(),
            partitions: (0..num_partitions.max(1))
                .map(|_| {
                    Mutex::new(StorePartition {
                        map: M::empty(),
                        version: None,
                        changes: Changes::Off,
                        _states: PhantomData,
                    })
                })
                .collect(),
            _entries: PhantomData,
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

    /// The partition `key` lives in: [`partition_of`], the shuffle's function.
    pub(crate) fn partition_of(&self, key: &K) -> usize {
        partition_of(key, self.partitions.len())
    }

    /// Locks one partition for reading or updating.
    pub(crate) fn lock(&self, partition: usize) -> MutexGuard<'_, StorePartition<K, S, M>> {
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

    /// The number of keys and the approximate memory of all partitions.
    pub(crate) fn stats(&self) -> StoreStats {
        let mut stats = StoreStats::default();
        for p in 0..self.partitions.len() {
            let part = self.lock(p);
            stats.keys += part.map.len() as u64;
            stats.approx_bytes +=
                (part.map.allocation_size() + std::mem::size_of::<StorePartition<K, S, M>>()) as u64;
        }
        stats
    }

    fn error(&self, message: String) -> Error {
        Error::State {
            operator: self.operator.clone(),
            message,
        }
    }

    /// Checks that `snapshot` was taken of a store of this shape.
    fn check_shape(&self, snapshot: &StateSnapshot) -> Result<()> {
        if snapshot.operator != self.operator {
            return Err(self.error(format!(
                "the snapshot is of `{}`: restore a pipeline with the same operators",
                snapshot.operator
            )));
        }
        let n = self.partitions.len();
        if snapshot.num_partitions != n || snapshot.partition >= n {
            return Err(self.error(format!(
                "partition {} of a state saved with {} partitions does not fit a store of {n}: restore with the number of partitions the state was saved with",
                snapshot.partition, snapshot.num_partitions
            )));
        }
        Ok(())
    }
}

impl<K: Key, S: Send> StateStore<K, S> {
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
}

impl<K: Key + StateData, S: StateData, M: Table<K, S>> StateHandle for StateStore<K, S, M> {
    fn operator(&self) -> &str {
        StateStore::operator(self)
    }

    fn num_partitions(&self) -> usize {
        StateStore::num_partitions(self)
    }

    fn stats(&self) -> StoreStats {
        StateStore::stats(self)
    }

    fn snapshot(&self, partition: usize) -> Result<StateSnapshot> {
        if partition >= self.partitions.len() {
            return Err(self.error(format!(
                "there is no partition {partition}: the store has {}",
                self.partitions.len()
            )));
        }
        let part = self.lock(partition);
        // A sequence of known length: postcard writes the count, then each pair.
        let entries = Entries(&part.map, PhantomData);
        let bytes = postcard::to_allocvec(&entries).map_err(|e| {
            self.error(format!(
                "partition {partition} cannot be saved: {e}; a key or state whose `Serialize` writes a sequence of unknown length cannot be stored"
            ))
        })?;
        Ok(StateSnapshot {
            operator: self.operator.clone(),
            partition,
            num_partitions: self.partitions.len(),
            version: part.version,
            bytes,
        })
    }

    fn schema(&self) -> String {
        format!("{} -> {}", std::any::type_name::<K>(), std::any::type_name::<S>())
    }

    fn partition_version(&self, partition: usize) -> Option<Time> {
        self.lock(partition).version
    }

    fn track_changes(&self) {
        for p in 0..self.partitions.len() {
            let mut part = self.lock(p);
            if matches!(part.changes, Changes::Off) {
                part.changes = Changes::Keys(new_map());
            }
        }
    }

    fn delta(&self, partition: usize) -> Result<Option<StateSnapshot>> {
        let mut guard = self.lock(partition);
        let part = &mut *guard;
        let keys = match &mut part.changes {
            Changes::Keys(keys) => keys,
            Changes::All => {
                part.changes = Changes::Keys(new_map());
                return Ok(None);
            }
            Changes::Off => return Ok(None),
        };
        let changed = DeltaEntries {
            keys,
            map: &part.map,
            _states: PhantomData,
        };
        let bytes = postcard::to_allocvec(&changed).map_err(|e| {
            self.error(format!(
                "a delta of partition {partition} cannot be saved: {e}; a key or state whose `Serialize` writes a sequence of unknown length cannot be stored"
            ))
        })?;
        // The table keeps its capacity for the next batch's keys.
        keys.clear();
        Ok(Some(StateSnapshot {
            operator: self.operator.clone(),
            partition,
            num_partitions: self.partitions.len(),
            version: part.version,
            bytes,
        }))
    }

    fn clear_changes(&self, partition: usize) {
        let mut part = self.lock(partition);
        if !matches!(part.changes, Changes::Off) {
            part.changes = Changes::Keys(new_map());
        }
    }

    fn apply_delta(&self, delta: &StateSnapshot) -> Result<()> {
        self.check_shape(delta)?;
        let partition = delta.partition;
        let (entries, rest) = postcard::take_from_bytes::<Vec<(K, Option<S>)>>(&delta.bytes).map_err(|e| {
            self.error(format!(
                "a delta of partition {partition} does not decode ({e}): it is corrupt or was written for other key or state types"
            ))
        })?;
        if !rest.is_empty() {
            return Err(self.error(format!(
                "a delta of partition {partition} has {} bytes left over: it is corrupt",
                rest.len()
            )));
        }
        if let Some((k, _)) = entries.iter().find(|(k, _)| self.partition_of(k) != partition) {
            let home = self.partition_of(k);
            return Err(self.error(format!(
                "a key of a delta of partition {partition} belongs to partition {home}: restore with the number of partitions the state was saved with"
            )));
        }
        let mut part = self.lock(partition);
        for (k, s) in entries {
            match s {
                Some(s) => part.map.insert(k, s)?,
                None => part.map.remove(&k),
            }
        }
        part.version = delta.version;
        Ok(())
    }

    fn restore(&self, snapshot: &StateSnapshot) -> Result<()> {
        self.check_shape(snapshot)?;
        let partition = snapshot.partition;
        let corrupt = |what: String| {
            self.error(format!(
                "the bytes of partition {partition} {what}: the snapshot is corrupt or was written for other key or state types"
            ))
        };
        let (entries, rest) = postcard::take_from_bytes::<Vec<(K, S)>>(&snapshot.bytes)
            .map_err(|e| corrupt(format!("do not decode ({e})")))?;
        if !rest.is_empty() {
            return Err(corrupt(format!("have {} bytes left over", rest.len())));
        }
        let mut map = M::empty();
        map.reserve(entries.len());
        for (k, s) in entries {
            let home = self.partition_of(&k);
            if home != partition {
                return Err(self.error(format!(
                    "a key restored into partition {partition} belongs to partition {home}: restore with the number of partitions the state was saved with"
                )));
            }
            map.insert(k, s)?;
        }
        let mut part = self.lock(partition);
        part.map = map;
        part.version = snapshot.version;
        Ok(())
    }
}

/// Serializes a partition's table as a sequence of `(key, state)` pairs without copying it.
struct Entries<'a, K, S, M>(&'a M, PhantomData<fn() -> (K, S)>);

impl<K: Serialize, S: Serialize, M: Table<K, S>> Serialize for Entries<'_, K, S, M> {
    fn serialize<Z: Serializer>(&self, serializer: Z) -> std::result::Result<Z::Ok, Z::Error> {
        self.0.serialize_entries(serializer)
    }
}

/// The changed keys of a partition with their states (none: removed), serialized as a
/// sequence of `(key, Option<state>)` pairs without copying them.
struct DeltaEntries<'a, K, S, M> {
    keys: &'a FastMap<K, ()>,
    map: &'a M,
    _states: PhantomData<fn() -> S>,
}

impl<K: Serialize + Key, S: Serialize, M: Table<K, S>> Serialize for DeltaEntries<'_, K, S, M> {
    fn serialize<Z: serde::Serializer>(&self, serializer: Z) -> std::result::Result<Z::Ok, Z::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.keys.len()))?;
        for key in self.keys.keys() {
            seq.serialize_element(&(key, self.map.get(key)))?;
        }
        seq.end()
    }
}

/// Snapshot bytes as a hex string in human-readable formats (JSON), as bytes elsewhere.
mod hex_bytes {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            let mut hex = String::with_capacity(bytes.len() * 2);
            for b in bytes {
                hex.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
                hex.push(char::from(b"0123456789abcdef"[usize::from(b & 0xf)]));
            }
            serializer.serialize_str(&hex)
        } else {
            serializer.serialize_bytes(bytes)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        if !deserializer.is_human_readable() {
            return serde_bytes_vec(deserializer);
        }
        let hex = String::deserialize(deserializer)?;
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            b'A'..=b'F' => Ok(c - b'A' + 10),
            _ => Err(D::Error::custom(format!(
                "state bytes: `{}` is not a hex digit",
                char::from(c)
            ))),
        };
        if hex.len() % 2 != 0 {
            return Err(D::Error::custom("state bytes: odd number of hex digits"));
        }
        hex.as_bytes()
            .chunks(2)
            .map(|pair| Ok(digit(pair[0])? << 4 | digit(pair[1])?))
            .collect()
    }

    /// Bytes from a binary format, given as a byte buffer or a sequence of `u8`.
    fn serde_bytes_vec<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> serde::de::Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("state bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_byte_buf(Bytes)
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

    fn restore_error(store: &dyn StateHandle, snapshot: &StateSnapshot) -> String {
        match store.restore(snapshot) {
            Ok(()) => String::from("restored"),
            Err(e) => e.to_string(),
        }
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
        let snapshots = store.snapshot_all()?;
        assert_eq!(snapshots[2].partition, 2);
        assert_eq!(snapshots[2].version, Some(Time::from_millis(5_000)));
        // Through JSON, as a stopped query's ResumeState carries them.
        let json = serde_json::to_string(&snapshots).map_err(|e| Error::illegal_state(e.to_string()))?;
        let read: Vec<StateSnapshot> =
            serde_json::from_str(&json).map_err(|e| Error::illegal_state(e.to_string()))?;
        assert_eq!(read, snapshots);
        let copy = StateStore::<u32, String>::new("test_op", 3);
        copy.restore_all(&read)?;
        assert_eq!(copy.version(), Some(Time::from_millis(5_000)));
        assert_eq!(copy.stats().keys, 100);
        assert_eq!(
            copy.lock(copy.partition_of(&7)).map.get(&7).map(String::as_str),
            Some("s7")
        );
        Ok(())
    }

    #[test]
    fn restoring_into_the_wrong_shape_is_an_error() -> Result<()> {
        let store = store_with(0..100, 3);
        let snapshot = store.snapshot(1)?;
        let other = StateStore::<u32, String>::new("test_op", 2);
        let err = restore_error(&other, &snapshot);
        assert!(err.contains("number of partitions"), "{err}");
        let err = other.restore_all(&store.snapshot_all()?).unwrap_err().to_string();
        assert!(err.contains("has 3 partitions but the store has 2"), "{err}");
        let renamed = StateStore::<u32, String>::new("other_op", 3);
        assert!(restore_error(&renamed, &snapshot).contains("the snapshot is of `test_op`"));
        assert!(store.snapshot(3).is_err());
        // A key that is not the partition's (a snapshot relabelled by hand) is refused too.
        let moved = StateSnapshot {
            partition: 0,
            ..snapshot
        };
        assert!(restore_error(&store, &moved).contains("belongs to partition 1"));
        Ok(())
    }

    #[test]
    fn corrupt_bytes_are_an_error_and_change_nothing() -> Result<()> {
        let store = store_with(0..50, 2);
        let good = store.snapshot(0)?;
        let target = store_with(0..50, 2);
        let cases = [
            good.bytes[..good.bytes.len() / 2].to_vec(),
            [good.bytes.clone(), vec![0]].concat(),
            vec![0xff; 12],
            Vec::new(),
        ];
        for bytes in cases {
            let bad = StateSnapshot {
                bytes,
                ..good.clone()
            };
            let err = restore_error(&target, &bad);
            assert!(err.contains("corrupt"), "{err}");
        }
        // Other types: `u32` states cannot be read as `String`s.
        let numbers = StateStore::<u32, u32>::new("test_op", 2);
        numbers.load((0..50).map(|k| (k, k * 1_000)));
        let err = restore_error(&target, &numbers.snapshot(0)?);
        assert!(err.starts_with("state of `test_op`: "), "{err}");
        assert_eq!(target.stats().keys, 50);
        // Bad hex in JSON is a deserialization error, not a panic.
        let json = r#"{"operator":"test_op","partition":0,"num_partitions":2,"version":null,"bytes":"0g"}"#;
        assert!(serde_json::from_str::<StateSnapshot>(json).is_err());
        Ok(())
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
