//! Keyed operators on a batch: the hash shuffle with map-side combining, and everything built
//! on it (reduce_by_key, group_by_key, cogroup and the joins).
//!
//! A shuffle runs in two parallel steps. The map side combines each input partition into a hash
//! map (so a word seen a million times in a partition crosses the shuffle once) and splits the
//! result into one bucket per output partition by the key's hash. The reduce side merges, for
//! each output partition, the buckets that all map tasks made for it. The hasher has a fixed
//! seed, so a key lands in the same partition in every run and every process — keyed state can
//! then be stored and restored per partition.

use std::hash::{BuildHasher, Hash};

use hashbrown::HashMap;
use hashbrown::hash_map::Entry;

use super::{Batch, Part, transpose};
use crate::data::{Data, Pair};
use crate::exec::guard;

/// The hasher of every shuffle and state map: fast, with a fixed seed so partitioning is stable.
pub(crate) type FixedHasher = foldhash::fast::FixedState;

/// A hash map with the shuffle's hasher.
pub(crate) type FastMap<K, V> = HashMap<K, V, FixedHasher>;

pub(crate) fn new_map<K, V>() -> FastMap<K, V> {
    HashMap::with_hasher(FixedHasher::with_seed(0x5eed_f10c))
}

/// The output partition of `key` among `n` (Spark's `HashPartitioner`).
pub(crate) fn partition_of<K: Hash + ?Sized>(key: &K, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    let hash = FixedHasher::with_seed(0x9a27_71f1).hash_one(key);
    // Multiply-shift maps the 64-bit hash onto 0..n without a division.
    ((u128::from(hash) * n as u128) >> 64) as usize
}

/// One side of a cogroup, tagged so both sides can share one shuffle.
#[derive(Clone)]
enum Side<V, W> {
    Left(V),
    Right(W),
}

impl<T: Pair> Batch<T> {
    /// The general keyed aggregation (Spark's `combineByKey`): `create` starts a combiner from a
    /// key's first value in a partition, `merge_value` adds a value to it, `merge_combiners`
    /// joins the combiners of different partitions. The result has `num_partitions` partitions.
    ///
    /// ```
    /// # use streamflow::testing;
    /// // (sum, count) per key, e.g. for an average.
    /// let out = testing::run_batches(vec![vec![("a", 1), ("b", 5), ("a", 3)]], |s| {
    ///     s.transform(|b, _| {
    ///         b.combine_by_key(|v| (v, 1), |(sum, n), v| (sum + v, n + 1), |x, y| (x.0 + y.0, x.1 + y.1), 2)
    ///     })
    /// }, 1);
    /// assert_eq!(testing::sorted(&out[0]), [("a", (4, 2)), ("b", (5, 1))]);
    /// ```
    pub fn combine_by_key<C: Data>(
        self,
        create: impl Fn(T::V) -> C + Send + Sync,
        merge_value: impl Fn(C, T::V) -> C + Send + Sync,
        merge_combiners: impl Fn(C, C) -> C + Send + Sync,
        num_partitions: usize,
    ) -> Batch<(T::K, C)> {
        self.shuffle_combine(
            "combine_by_key",
            &create,
            &merge_value,
            &merge_combiners,
            num_partitions,
        )
    }

    fn shuffle_combine<C: Data>(
        self,
        operator: &'static str,
        create: &(dyn Fn(T::V) -> C + Send + Sync),
        merge_value: &(dyn Fn(C, T::V) -> C + Send + Sync),
        merge_combiners: &(dyn Fn(C, C) -> C + Send + Sync),
        num_partitions: usize,
    ) -> Batch<(T::K, C)> {
        let n = num_partitions.max(1);
        let (time, exec) = (self.time, self.exec.clone());
        let map_side: Vec<Vec<Vec<(T::K, C)>>> = exec.run(self.parts, |part: Part<T>| {
            let mut combined: FastMap<T::K, C> = new_map();
            part.run(&mut |t: T| {
                let (k, v) = t.into_pair();
                match combined.entry(k) {
                    Entry::Occupied(e) => {
                        e.replace_entry_with(|_, c| Some(guard(operator, || merge_value(c, v))));
                    }
                    Entry::Vacant(e) => {
                        e.insert(guard(operator, || create(v)));
                    }
                }
            });
            let mut buckets: Vec<Vec<(T::K, C)>> = (0..n).map(|_| Vec::new()).collect();
            for (k, c) in combined {
                buckets[partition_of(&k, n)].push((k, c));
            }
            buckets
        });
        let reduce_side = exec.run(transpose(map_side, n), |bucket: Vec<(T::K, C)>| {
            let mut merged: FastMap<T::K, C> = new_map();
            merged.reserve(bucket.len());
            for (k, c) in bucket {
                match merged.entry(k) {
                    Entry::Occupied(e) => {
                        e.replace_entry_with(|_, prev| Some(guard(operator, || merge_combiners(prev, c))));
                    }
                    Entry::Vacant(e) => {
                        e.insert(c);
                    }
                }
            }
            merged.into_iter().collect::<Vec<_>>()
        });
        Batch::from_partitions(reduce_side, time, exec)
    }

    /// Merges the values of each key with `f`, combining on the map side first
    /// (Spark's `reduceByKey`). The result has as many partitions as the context's parallelism.
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec![("a", 1), ("b", 2), ("a", 3)]], |s| {
    ///     s.transform(|b, _| b.reduce_by_key(|x, y| x + y))
    /// }, 1);
    /// assert_eq!(testing::sorted(&out[0]), [("a", 4), ("b", 2)]);
    /// ```
    pub fn reduce_by_key(self, f: impl Fn(T::V, T::V) -> T::V + Send + Sync) -> Batch<(T::K, T::V)> {
        let n = self.exec.parallelism();
        self.reduce_by_key_into(f, n)
    }

    /// [`reduce_by_key`](Self::reduce_by_key) into `num_partitions` partitions.
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec![("a", 1), ("b", 2), ("a", 3)]], |s| {
    ///     s.transform(|b, _| b.reduce_by_key_into(|x, y| x + y, 1).glom())
    /// }, 1);
    /// assert_eq!(out[0].len(), 1); // one partition, holding every key
    /// assert_eq!(testing::sorted(&out[0][0]), [("a", 4), ("b", 2)]);
    /// ```
    pub fn reduce_by_key_into(
        self,
        f: impl Fn(T::V, T::V) -> T::V + Send + Sync,
        num_partitions: usize,
    ) -> Batch<(T::K, T::V)> {
        self.shuffle_combine("reduce_by_key", &|v| v, &f, &f, num_partitions)
    }

    /// All values of each key, in arrival order within a partition (Spark's `groupByKey`).
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec![("a", 1), ("b", 2), ("a", 3)]], |s| {
    ///     s.transform(|b, _| b.group_by_key().map_values(|mut vs| { vs.sort(); vs }))
    /// }, 1);
    /// assert_eq!(testing::sorted(&out[0]), [("a", vec![1, 3]), ("b", vec![2])]);
    /// ```
    pub fn group_by_key(self) -> Batch<(T::K, Vec<T::V>)> {
        let n = self.exec.parallelism();
        self.group_by_key_into(n)
    }

    /// [`group_by_key`](Self::group_by_key) into `num_partitions` partitions.
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec![("a", 1), ("b", 2), ("c", 3)]], |s| {
    ///     s.transform(|b, _| b.group_by_key_into(4).glom().map(|part| part.len()))
    /// }, 1);
    /// assert_eq!(out[0].len(), 4); // four partitions …
    /// assert_eq!(out[0].iter().sum::<usize>(), 3); // … sharing the three keys
    /// ```
    pub fn group_by_key_into(self, num_partitions: usize) -> Batch<(T::K, Vec<T::V>)> {
        self.shuffle_combine(
            "group_by_key",
            &|v| vec![v],
            &|mut c, v| {
                c.push(v);
                c
            },
            &|mut a, b| {
                a.extend(b);
                a
            },
            num_partitions,
        )
    }

    /// Applies `f` to every value, keeping the key.
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec![("a", 1), ("b", 2)]], |s| {
    ///     s.transform(|b, _| b.map_values(|v| v * 10))
    /// }, 1);
    /// assert_eq!(out, vec![vec![("a", 10), ("b", 20)]]);
    /// ```
    pub fn map_values<U: Data>(self, f: impl Fn(T::V) -> U + Send + Sync + 'static) -> Batch<(T::K, U)> {
        self.push_through(move |t: T, emit| {
            let (k, v) = t.into_pair();
            emit((k, guard("map_values", || f(v))))
        })
    }

    /// Replaces every value by the values `f` returns for it, keeping the key.
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec![("a", 2), ("b", 0), ("c", 1)]], |s| {
    ///     s.transform(|b, _| b.flat_map_values(|n| 0..n))
    /// }, 1);
    /// assert_eq!(out, vec![vec![("a", 0), ("a", 1), ("c", 0)]]);
    /// ```
    pub fn flat_map_values<U: Data, I>(
        self,
        f: impl Fn(T::V) -> I + Send + Sync + 'static,
    ) -> Batch<(T::K, U)>
    where
        I: IntoIterator<Item = U>,
    {
        self.push_through(move |t: T, emit| {
            let (k, v) = t.into_pair();
            for u in guard("flat_map_values", || f(v)) {
                emit((k.clone(), u))
            }
        })
    }

    /// For each key in either batch, all its values on each side (Spark's `cogroup`).
    ///
    /// ```
    /// # use streamflow::testing::{run_batches2, sorted};
    /// let out = run_batches2(vec![vec![("a", 1), ("b", 2)]], vec![vec![("a", 'x'), ("c", 'y')]], |l, r| {
    ///     l.transform_with(&r, |left, right, _| left.cogroup(right, 2))
    /// }, 1);
    /// assert_eq!(
    ///     sorted(&out[0]),
    ///     [("a", (vec![1], vec!['x'])), ("b", (vec![2], vec![])), ("c", (vec![], vec!['y']))]
    /// );
    /// ```
    pub fn cogroup<W: Data>(
        self,
        other: Batch<(T::K, W)>,
        num_partitions: usize,
    ) -> Batch<(T::K, (Vec<T::V>, Vec<W>))> {
        let left = self.push_through(|t: T, emit: &mut dyn FnMut((T::K, Side<T::V, W>))| {
            let (k, v) = t.into_pair();
            emit((k, Side::Left(v)))
        });
        let right = other.push_through(|(k, w): (T::K, W), emit: &mut dyn FnMut((T::K, Side<T::V, W>))| {
            emit((k, Side::Right(w)))
        });
        fn add<V, W>(mut c: (Vec<V>, Vec<W>), side: Side<V, W>) -> (Vec<V>, Vec<W>) {
            match side {
                Side::Left(v) => c.0.push(v),
                Side::Right(w) => c.1.push(w),
            }
            c
        }
        left.union(right).shuffle_combine(
            "cogroup",
            &|side| add((Vec::new(), Vec::new()), side),
            &add,
            &|mut a, b| {
                a.0.extend(b.0);
                a.1.extend(b.1);
                a
            },
            num_partitions,
        )
    }

    /// Pairs every value of a key in `self` with every value of that key in `other`
    /// (Spark's `join`: inner).
    ///
    /// ```
    /// # use streamflow::testing::{run_batches2, sorted};
    /// let left = vec![vec![("a", 1), ("a", 2), ("b", 3)]];
    /// let right = vec![vec![("a", 'x'), ("c", 'y')]];
    /// let out = run_batches2(left, right, |l, r| {
    ///     l.transform_with(&r, |left, right, _| left.join(right, 2))
    /// }, 1);
    /// assert_eq!(sorted(&out[0]), [("a", (1, 'x')), ("a", (2, 'x'))]);
    /// ```
    pub fn join<W: Data>(self, other: Batch<(T::K, W)>, num_partitions: usize) -> Batch<(T::K, (T::V, W))> {
        self.cogroup(other, num_partitions)
            .push_through(|(k, (vs, ws)), emit| {
                for v in &vs {
                    for w in &ws {
                        emit((k.clone(), (v.clone(), w.clone())))
                    }
                }
            })
    }

    /// Like [`join`](Self::join), keeping keys of `self` that have no match, with `None`.
    ///
    /// ```
    /// # use streamflow::testing::{run_batches2, sorted};
    /// let out = run_batches2(vec![vec![("a", 1), ("b", 2)]], vec![vec![("a", 'x'), ("c", 'y')]], |l, r| {
    ///     l.transform_with(&r, |left, right, _| left.left_outer_join(right, 2))
    /// }, 1);
    /// assert_eq!(sorted(&out[0]), [("a", (1, Some('x'))), ("b", (2, None))]);
    /// ```
    pub fn left_outer_join<W: Data>(
        self,
        other: Batch<(T::K, W)>,
        num_partitions: usize,
    ) -> Batch<(T::K, (T::V, Option<W>))> {
        self.cogroup(other, num_partitions)
            .push_through(|(k, (vs, ws)), emit| {
                for v in vs {
                    if ws.is_empty() {
                        emit((k.clone(), (v, None)))
                    } else {
                        for w in &ws {
                            emit((k.clone(), (v.clone(), Some(w.clone()))))
                        }
                    }
                }
            })
    }

    /// Like [`join`](Self::join), keeping keys of `other` that have no match, with `None`.
    ///
    /// ```
    /// # use streamflow::testing::{run_batches2, sorted};
    /// let out = run_batches2(vec![vec![("a", 1), ("b", 2)]], vec![vec![("a", 'x'), ("c", 'y')]], |l, r| {
    ///     l.transform_with(&r, |left, right, _| left.right_outer_join(right, 2))
    /// }, 1);
    /// assert_eq!(sorted(&out[0]), [("a", (Some(1), 'x')), ("c", (None, 'y'))]);
    /// ```
    pub fn right_outer_join<W: Data>(
        self,
        other: Batch<(T::K, W)>,
        num_partitions: usize,
    ) -> Batch<(T::K, (Option<T::V>, W))> {
        self.cogroup(other, num_partitions)
            .push_through(|(k, (vs, ws)), emit| {
                for w in ws {
                    if vs.is_empty() {
                        emit((k.clone(), (None, w)))
                    } else {
                        for v in &vs {
                            emit((k.clone(), (Some(v.clone()), w.clone())))
                        }
                    }
                }
            })
    }

    /// Like [`join`](Self::join), keeping unmatched keys of both sides, with `None`.
    ///
    /// ```
    /// # use streamflow::testing::{run_batches2, sorted};
    /// let out = run_batches2(vec![vec![("a", 1), ("b", 2)]], vec![vec![("a", 'x'), ("c", 'y')]], |l, r| {
    ///     l.transform_with(&r, |left, right, _| left.full_outer_join(right, 2))
    /// }, 1);
    /// assert_eq!(
    ///     sorted(&out[0]),
    ///     [("a", (Some(1), Some('x'))), ("b", (Some(2), None)), ("c", (None, Some('y')))]
    /// );
    /// ```
    pub fn full_outer_join<W: Data>(
        self,
        other: Batch<(T::K, W)>,
        num_partitions: usize,
    ) -> Batch<(T::K, (Option<T::V>, Option<W>))> {
        self.cogroup(other, num_partitions)
            .push_through(|(k, (vs, ws)), emit| match (vs.is_empty(), ws.is_empty()) {
                (_, true) => vs.into_iter().for_each(|v| emit((k.clone(), (Some(v), None)))),
                (true, false) => ws.into_iter().for_each(|w| emit((k.clone(), (None, Some(w))))),
                (false, false) => {
                    for v in &vs {
                        for w in &ws {
                            emit((k.clone(), (Some(v.clone()), Some(w.clone()))))
                        }
                    }
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::partition_of;

    #[test]
    fn partitioning_is_stable_and_in_range() {
        for n in 1..8 {
            for key in ["apple", "banana", "cherry", ""] {
                let p = partition_of(key, n);
                assert!(p < n);
                assert_eq!(p, partition_of(key, n));
            }
        }
    }

    #[test]
    fn partitioning_spreads_keys() {
        let mut counts = [0_usize; 4];
        for i in 0..10_000 {
            counts[partition_of(&i, 4)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 2_000), "{counts:?}");
    }
}
