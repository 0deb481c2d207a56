//! The state of an aggregation by time windows, one table per window: a state partition's
//! groups `(window, key)` kept as a table of keys for each window, in window order.
//!
//! A flat table of every `(window, key)` group is probed at random by the shuffle's pairs and
//! holds every window until each group is found closed; here the pairs of one window (the map
//! side drains them window by window) probe that window's table alone, small and in cache, and
//! a closed window leaves the state whole, its table freed as its rows go out.
//!
//! A window's table is its entries in a vector plus an index of their positions (4 bytes a
//! slot): a group costs its `(key, state)` and about 5 to 10 bytes, where a hash table of the
//! entries themselves costs the entry again in empty slots (a table is a power of two, between
//! 44% and 88% full).
//!
//! The table is saved as the flat one is — a sequence of `((window, key), state)` pairs — so a
//! checkpoint written before this layout, or by a flat store, restores into it and back.

use std::hash::{BuildHasher, Hash};

use hashbrown::HashTable;
use serde::{Serialize, Serializer};

use super::store::Table;
use crate::batch::shuffle::{FixedHasher, fixed_hasher};
use crate::error::{Error, Result};

/// The groups of one window: `(key, state)` entries, and where each key's entry is.
pub(crate) struct WindowTable<K, S> {
    entries: Vec<(K, S)>,
    /// Positions in `entries`, by the key's hash.
    index: HashTable<u32>,
    hasher: FixedHasher,
}

impl<K: Hash + Eq, S> WindowTable<K, S> {
    /// An empty table with room for `capacity` entries.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        WindowTable {
            entries: Vec::with_capacity(capacity),
            index: HashTable::with_capacity(capacity),
            hasher: fixed_hasher(),
        }
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The hash of `key` in this table.
    #[inline]
    pub(crate) fn hash(&self, key: &K) -> u64 {
        self.hasher.hash_one(key)
    }

    fn position(&self, hash: u64, key: &K) -> Option<usize> {
        let entries = &self.entries;
        self.index
            .find(hash, |&i| entries[i as usize].0 == *key)
            .map(|&i| i as usize)
    }

    /// The state of `key`, whose hash is `hash`.
    #[inline]
    pub(crate) fn get_mut(&mut self, hash: u64, key: &K) -> Option<&mut S> {
        let i = self.position(hash, key)?;
        Some(&mut self.entries[i].1)
    }

    /// Adds `key`, which is not in the table, with its hash and state. An error only past
    /// 4 294 967 295 entries in one window.
    #[inline]
    pub(crate) fn insert_new(&mut self, hash: u64, key: K, state: S) -> Result<()> {
        let Ok(at) = u32::try_from(self.entries.len()) else {
            return Err(Error::illegal_state(
                "more than 4 294 967 295 groups in one window of a state partition",
            ));
        };
        self.entries.push((key, state));
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index
            .insert_unique(hash, at, |&i| hasher.hash_one(&entries[i as usize].0));
        Ok(())
    }

    /// Sets the state of `key`.
    pub(crate) fn insert(&mut self, key: K, state: S) -> Result<()> {
        let hash = self.hash(&key);
        match self.get_mut(hash, &key) {
            Some(s) => {
                *s = state;
                Ok(())
            }
            None => self.insert_new(hash, key, state),
        }
    }

    /// Removes `key`; the last entry takes its place.
    pub(crate) fn remove(&mut self, key: &K) -> Option<S> {
        let hash = self.hash(key);
        let entries = &self.entries;
        let Ok(found) = self.index.find_entry(hash, |&i| entries[i as usize].0 == *key) else {
            return None;
        };
        let (at, _) = found.remove();
        let at = at as usize;
        let last = self.entries.len() - 1;
        let (_, state) = self.entries.swap_remove(at);
        if at != last {
            // The entry that was last now sits at `at`.
            let moved = self.hasher.hash_one(&self.entries[at].0);
            if let Some(i) = self.index.find_mut(moved, |&i| i as usize == last) {
                *i = at as u32;
            }
        }
        Some(state)
    }

    /// The entries, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &(K, S)> {
        self.entries.iter()
    }

    /// The entries, the index freed at once.
    pub(crate) fn into_entries(self) -> Vec<(K, S)> {
        self.entries
    }

    fn allocation_size(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<(K, S)>() + self.index.allocation_size()
    }
}

/// A state partition's groups `(window, key)`: one [`WindowTable`] per window, in window order.
pub(crate) struct WindowTables<W, K, S> {
    windows: Vec<(W, WindowTable<K, S>)>,
    /// The window last looked up: the shuffle's pairs come window by window.
    last: usize,
}

impl<W: Copy + Ord, K: Hash + Eq, S> WindowTables<W, K, S> {
    /// The windows and their tables, in window order.
    pub(crate) fn windows(&self) -> impl Iterator<Item = &(W, WindowTable<K, S>)> {
        self.windows.iter()
    }

    /// The table of `window`, made with room for `capacity()` entries if the window has none.
    #[inline]
    pub(crate) fn window_mut(
        &mut self,
        window: W,
        capacity: impl FnOnce() -> usize,
    ) -> &mut WindowTable<K, S> {
        if self.windows.get(self.last).is_none_or(|(w, _)| *w != window) {
            self.last = match self.windows.binary_search_by_key(&window, |(w, _)| *w) {
                Ok(i) => i,
                Err(i) => {
                    self.windows
                        .insert(i, (window, WindowTable::with_capacity(capacity())));
                    i
                }
            };
        }
        &mut self.windows[self.last].1
    }

    /// Takes the windows `closed` says are, in window order, each table's index freed.
    pub(crate) fn take_windows(&mut self, mut closed: impl FnMut(W) -> bool) -> Vec<(W, Vec<(K, S)>)> {
        let mut taken = Vec::new();
        let mut kept = Vec::with_capacity(self.windows.len());
        for (w, table) in self.windows.drain(..) {
            match closed(w) {
                true => taken.push((w, table.into_entries())),
                false => kept.push((w, table)),
            }
        }
        self.windows = kept;
        self.last = 0;
        taken
    }

    fn window(&self, window: W) -> Option<&WindowTable<K, S>> {
        let i = self.windows.binary_search_by_key(&window, |(w, _)| *w).ok()?;
        Some(&self.windows[i].1)
    }
}

impl<W, K, S> Table<(W, K), S> for WindowTables<W, K, S>
where
    W: Copy + Ord + Send + Serialize,
    K: Hash + Eq + Send + Serialize,
    S: Send,
{
    fn empty() -> Self {
        WindowTables {
            windows: Vec::new(),
            last: 0,
        }
    }

    fn len(&self) -> usize {
        self.windows.iter().map(|(_, t)| t.len()).sum()
    }

    fn allocation_size(&self) -> usize {
        self.windows.capacity() * std::mem::size_of::<(W, WindowTable<K, S>)>()
            + self
                .windows
                .iter()
                .map(|(_, t)| t.allocation_size())
                .sum::<usize>()
    }

    fn get(&self, (window, key): &(W, K)) -> Option<&S> {
        let table = self.window(*window)?;
        let i = table.position(table.hash(key), key)?;
        Some(&table.entries[i].1)
    }

    fn insert(&mut self, (window, key): (W, K), state: S) -> Result<()> {
        self.window_mut(window, || 0).insert(key, state)
    }

    fn remove(&mut self, (window, key): &(W, K)) {
        let Ok(i) = self.windows.binary_search_by_key(window, |(w, _)| *w) else {
            return;
        };
        let table = &mut self.windows[i].1;
        table.remove(key);
        if table.len() == 0 {
            self.windows.remove(i);
            self.last = 0;
        }
    }

    fn clear(&mut self) {
        self.windows = Vec::new();
        self.last = 0;
    }

    /// Nothing: a window's table is sized when its entries come.
    fn reserve(&mut self, _additional: usize) {}

    fn serialize_entries<Z: Serializer>(&self, serializer: Z) -> std::result::Result<Z::Ok, Z::Error>
    where
        (W, K): Serialize,
        S: Serialize,
    {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for (w, table) in &self.windows {
            for (k, s) in table.iter() {
                // `((window, key), state)`, as the flat table writes its pairs.
                seq.serialize_element(&((w, k), s))?;
            }
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::{StateHandle, StateStore};
    use crate::time::Time;

    type Flat = StateStore<(i64, String), u64>;
    type ByWindow = StateStore<(i64, String), u64, WindowTables<i64, String, u64>>;

    /// Every entry of every partition, sorted.
    fn entries(store: &dyn StateHandle) -> Vec<((i64, String), u64)> {
        let mut all = Vec::new();
        for snapshot in store.snapshot_all().unwrap_or_default() {
            let decoded: Vec<((i64, String), u64)> =
                postcard::from_bytes(&snapshot.bytes).unwrap_or_default();
            all.extend(decoded);
        }
        all.sort();
        all
    }

    fn groups(n: u64) -> impl Iterator<Item = ((i64, String), u64)> {
        (0..n).map(|i| (((i % 7) as i64 * 60_000, format!("k{}", i * 31 % 101)), i))
    }

    #[test]
    fn a_window_table_finds_its_keys_after_removals() -> Result<()> {
        let mut table = WindowTable::with_capacity(0);
        for i in 0..1_000_u32 {
            table.insert(i, i * 2)?;
        }
        table.insert(7, 70)?;
        for i in (0..1_000).step_by(3) {
            assert_eq!(table.remove(&i), Some(if i == 7 { 70 } else { i * 2 }));
        }
        assert_eq!(table.remove(&0), None);
        assert_eq!(table.len(), 666);
        for i in 0..1_000_u32 {
            let hash = table.hash(&i);
            let expected = (i % 3 != 0).then_some(if i == 7 { 70 } else { i * 2 });
            assert_eq!(table.get_mut(hash, &i).copied(), expected, "{i}");
        }
        let mut left: Vec<_> = table.into_entries().into_iter().map(|(k, _)| k).collect();
        left.sort();
        assert_eq!(left, (0..1_000).filter(|i| i % 3 != 0).collect::<Vec<_>>());
        Ok(())
    }

    /// A partition is saved as the flat table's `((window, key), state)` pairs: a checkpoint
    /// written by the flat layout (before the state was kept per window) restores into the
    /// per-window one and back, snapshots and deltas alike.
    #[test]
    fn snapshots_and_deltas_read_across_the_two_layouts() -> Result<()> {
        let flat = Flat::new("count", 2);
        flat.load(groups(500));
        for p in 0..2 {
            flat.lock(p).commit("count", Time::from_millis(1_000))?;
        }
        let by_window = ByWindow::new("count", 2);
        by_window.restore_all(&flat.snapshot_all()?)?;
        assert_eq!(entries(&by_window), entries(&flat));
        assert_eq!(by_window.stats().keys, 500);
        assert_eq!(by_window.version(), Some(Time::from_millis(1_000)));
        assert_eq!(by_window.schema(), flat.schema());
        let back = Flat::new("count", 2);
        back.restore_all(&by_window.snapshot_all()?)?;
        assert_eq!(entries(&back), entries(&flat));

        // A delta written by the flat store: one window gone, a group changed, groups added.
        flat.track_changes();
        by_window.track_changes();
        for p in 0..2 {
            let mut part = flat.lock(p);
            let gone: Vec<_> = part.map.keys().filter(|(w, _)| *w == 0).cloned().collect();
            for g in gone {
                part.map.remove(&g);
                part.touch(&g);
            }
            let changed = (60_000, String::from("k31"));
            if let Some(n) = part.map.get_mut(&changed) {
                *n += 1_000;
                part.touch(&changed);
            }
            part.commit("count", Time::from_millis(2_000))?;
        }
        flat.load([((9 * 60_000, String::from("new")), 1)]);
        let home = flat.partition_of(&(9 * 60_000, String::from("new")));
        flat.lock(home).touch(&(9 * 60_000, String::from("new")));
        for p in 0..2 {
            let delta = flat.delta(p)?.ok_or_else(|| Error::illegal_state("no delta"))?;
            by_window.apply_delta(&delta)?;
        }
        assert_eq!(entries(&by_window), entries(&flat));
        assert!(entries(&by_window).iter().all(|((w, _), _)| *w != 0));

        // And a delta written per window, a window taken out whole, applies to the flat one.
        let back = Flat::new("count", 2);
        back.restore_all(&by_window.snapshot_all()?)?;
        back.track_changes();
        let p = by_window.partition_of(&(60_000, String::from("k31")));
        {
            let mut part = by_window.lock(p);
            let (table, changes) = part.table_and_changes();
            let taken = table.take_windows(|w| w == 60_000);
            assert!(!taken.is_empty());
            for (w, groups) in taken {
                groups.into_iter().for_each(|(k, _)| changes.touch(&(w, k)));
            }
            part.commit("count", Time::from_millis(3_000))?;
        }
        let delta = by_window
            .delta(p)?
            .ok_or_else(|| Error::illegal_state("no delta"))?;
        back.apply_delta(&delta)?;
        assert_eq!(entries(&back), entries(&by_window));
        assert!(
            entries(&back)
                .iter()
                .all(|((w, k), _)| *w != 60_000 || by_window.partition_of(&(*w, k.clone())) != p)
        );
        Ok(())
    }
}
