//! Keyed operators on a batch: the hash shuffle with map-side combining, and everything built
//! on it (reduce_by_key, group_by_key, cogroup and the joins, and through
//! [`crate::state`] every stateful operator).
//!
//! A shuffle runs in two parallel steps. The map side combines each input partition into a hash
//! map (so a word seen a million times in a partition crosses the shuffle once) and splits the
//! result into one bucket per output partition by [`partition_of`]. The reduce side merges, for
//! each output partition, the buckets that all map tasks made for it. [`partition_of`] is a
//! specified hash of the key's serialized bytes, so a key lands in the same partition in every
//! run, every process and every build — keyed state can then be stored and restored per
//! partition. The in-memory tables use a faster hasher whose output nobody keeps.

use hashbrown::HashMap;
use hashbrown::hash_map::Entry;
use serde::Serialize;

use super::stable_hash::stable_hash;
use super::{Batch, Part, transpose};
use crate::data::{Data, Key, Pair};
use crate::exec::{Executor, guard};

/// The hasher of in-memory tables: fast, with a fixed seed (iteration order is repeatable).
/// Not used to place keys in partitions: its output may change with a new crate version.
pub(crate) type FixedHasher = foldhash::fast::FixedState;

/// A hash map with the in-memory tables' hasher.
pub(crate) type FastMap<K, V> = HashMap<K, V, FixedHasher>;

pub(crate) fn new_map<K, V>() -> FastMap<K, V> {
    HashMap::with_hasher(fixed_hasher())
}

/// The hasher of [`new_map`]'s tables, for a table built by hand.
pub(crate) fn fixed_hasher() -> FixedHasher {
    FixedHasher::with_seed(0x5eed_f10c)
}

/// The partition of `key` among `n` (Spark's `HashPartitioner`, over a stable hash):
///
/// ```text
/// partition_of(key, n) = (stable_hash(key) as u128 * n as u128) >> 64    (0 if n <= 1)
/// stable_hash(key)     = XXH3-64 chained over key's serde values (batch/stable_hash.rs)
/// ```
///
/// The multiply-shift maps the 64-bit hash onto `0..n` without a division. The shuffles and the
/// state stores place keys with this one function, so a key's partition is the same in both.
pub(crate) fn partition_of<K: Serialize + ?Sized>(key: &K, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    ((u128::from(stable_hash(key)) * n as u128) >> 64) as usize
}

/// How a shuffle combines the records of a key: `add` puts one record into the table of its
/// map-side partition, `merge` joins the values of one key from two map-side partitions.
/// Both call user code under [`guard`] themselves, naming the operator at fault.
pub(crate) struct Combine<'a, T, K, C> {
    pub(crate) add: &'a (dyn Fn(&mut FastMap<K, C>, T) + Sync),
    pub(crate) merge: &'a (dyn Fn(C, C) -> C + Sync),
}

/// The keyed shuffle with map-side combining — the one every keyed operator and every
/// stateful operator runs. Each of `parts` is combined into a table by `combine.add` and split
/// into `n` buckets by [`partition_of`]; then, for each output partition `p`, the buckets of
/// all map tasks are merged (`combine.merge`, map tasks in order) and `reduce(p, merged)` runs.
/// Both steps run in parallel on `exec`; the results are in partition order.
pub(crate) fn shuffle<T: Send, K: Key, C: Send, R: Send>(
    exec: &Executor,
    parts: Vec<Part<T>>,
    n: usize,
    combine: Combine<'_, T, K, C>,
    reduce: impl Fn(usize, FastMap<K, C>) -> R + Sync + Send,
) -> Vec<R> {
    let buckets: Vec<_> = shuffle_buckets(exec, parts, n, combine.add)
        .into_iter()
        .enumerate()
        .collect();
    exec.run(buckets, |(p, bucket): (usize, Vec<(K, C)>)| {
        let mut merged: FastMap<K, C> = new_map();
        merged.reserve(bucket.len());
        for (k, c) in bucket {
            match merged.entry(k) {
                Entry::Occupied(e) => {
                    e.replace_entry_with(|_, prev| Some((combine.merge)(prev, c)));
                }
                Entry::Vacant(e) => {
                    e.insert(c);
                }
            }
        }
        reduce(p, merged)
    })
}

/// The map side of [`shuffle`] alone: each of `parts` combined into a table by `add`, split
/// by [`partition_of`]; returns, per output partition, the `(key, combined)` pairs of every map
/// task in map-task order — a key appears once per map task that saw it. For a consumer that
/// folds them into a table of its own (a state store) without merging them first.
pub(crate) fn shuffle_buckets<T: Send, K: Key, C: Send>(
    exec: &Executor,
    parts: Vec<Part<T>>,
    n: usize,
    add: &(dyn Fn(&mut FastMap<K, C>, T) + Sync),
) -> Vec<Vec<(K, C)>> {
    let n = n.max(1);
    transpose(map_side(exec, parts, n, &new_map, add), n)
}

/// A map task's table of combined records: records are added to it one by one (by the
/// shuffle's `add`), then it is emptied, pair by pair, into the shuffle's buckets. A
/// [`FastMap`] is one; an operator may keep a table of its own shape (an aggregation keeps one
/// table per event-time window).
pub(crate) trait MapTable<K, C>: Send {
    /// The number of pairs it holds.
    fn len(&self) -> usize;
    /// Hands every `(key, combined)` pair to `out`, emptying the table.
    fn drain_into(self, out: &mut dyn FnMut(K, C));
    /// [`drain_into`](Self::drain_into) in runs (a table per event-time window drains window
    /// by window): [`Drained::Run`] starts each run, then its pairs follow. The pairs of a run
    /// stay together after the shuffle, and are freed together once consumed.
    fn drain_runs(self, out: &mut dyn FnMut(Drained<K, C>))
    where
        Self: Sized,
    {
        out(Drained::Run(self.len()));
        self.drain_into(&mut |k, c| out(Drained::Pair(k, c)))
    }
}

/// What [`MapTable::drain_runs`] hands out.
pub(crate) enum Drained<K, C> {
    /// A run of this many pairs starts.
    Run(usize),
    /// A pair of the current run.
    Pair(K, C),
}

impl<K: Send, C: Send> MapTable<K, C> for FastMap<K, C> {
    fn len(&self) -> usize {
        HashMap::len(self)
    }

    fn drain_into(self, out: &mut dyn FnMut(K, C)) {
        for (k, c) in self {
            out(k, c)
        }
    }
}

/// The map side of a shuffle into `n` partitions, with tables made by `new`: for each map task
/// (a lane of consecutive parts, one per worker), its pairs split into `n` buckets by
/// [`partition_of`].
pub(crate) fn map_side<T: Send, K: Key, C: Send, M: MapTable<K, C>>(
    exec: &Executor,
    parts: Vec<Part<T>>,
    n: usize,
    new: &(dyn Fn() -> M + Sync),
    add: &(dyn Fn(&mut M, T) + Sync),
) -> Vec<Vec<Vec<(K, C)>>> {
    let one_run = |runs: Buckets<K, C>| match <[_; 1]>::try_from(runs.0) {
        Ok([run]) => run,
        Err(runs) => runs.into_iter().flatten().collect(),
    };
    map_side_runs(exec, parts, n, new, add)
        .into_iter()
        .map(|task| task.into_iter().map(one_run).collect())
        .collect()
}

/// [`map_side`] keeping the runs each table drains in ([`MapTable::drain_runs`]): for each map
/// task, for each of the `n` partitions, its runs in order.
pub(crate) fn map_side_runs<T: Send, K: Key, C: Send, M: MapTable<K, C>>(
    exec: &Executor,
    parts: Vec<Part<T>>,
    n: usize,
    new: &(dyn Fn() -> M + Sync),
    add: &(dyn Fn(&mut M, T) + Sync),
) -> Vec<Vec<Buckets<K, C>>> {
    let n = n.max(1);
    exec.run(lanes(parts, exec.parallelism()), |lane| {
        // One table for all the parts of a lane: a key seen in several of them is stored and
        // shuffled once, and the table is built (and grown) once per worker, not per part.
        let mut table = new();
        for part in lane {
            part.run(&mut |t: T| add(&mut table, t));
        }
        let mut runs: Vec<Vec<Vec<(K, C)>>> = (0..n).map(|_| Vec::new()).collect();
        table.drain_runs(&mut |drained| match drained {
            Drained::Run(len) => {
                // Sized for an even spread (the stable hash spreads keys evenly).
                let each = len / n + len / (8 * n) + 1;
                for bucket in runs.iter_mut() {
                    if bucket.last().is_some_and(Vec::is_empty) {
                        bucket.pop();
                    }
                    bucket.push(Vec::with_capacity(each));
                }
            }
            Drained::Pair(k, c) => {
                let bucket = &mut runs[partition_of(&k, n)];
                match bucket.last_mut() {
                    Some(run) => run.push((k, c)),
                    None => bucket.push(vec![(k, c)]),
                }
            }
        });
        runs.into_iter()
            .map(|mut bucket| {
                bucket.retain(|run| !run.is_empty());
                Buckets(bucket)
            })
            .collect()
    })
}

/// The pairs that the map tasks of a shuffle made for one output partition: one run per map
/// task, in map-task order, iterated as one sequence without being copied into one vector.
pub(crate) struct Buckets<K, C>(Vec<Vec<(K, C)>>);

impl<K, C> Buckets<K, C> {
    /// The number of pairs.
    pub(crate) fn len(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }

    /// Per output partition, the runs every map task of [`map_side_runs`] made for it, in
    /// map-task order.
    pub(crate) fn by_partition(map_side: Vec<Vec<Buckets<K, C>>>, n: usize) -> Vec<Self> {
        let mut out: Vec<Vec<Vec<(K, C)>>> = (0..n).map(|_| Vec::new()).collect();
        for task in map_side {
            for (p, runs) in task.into_iter().enumerate() {
                out[p].extend(runs.0.into_iter().filter(|run| !run.is_empty()));
            }
        }
        out.into_iter().map(Buckets).collect()
    }

    /// The runs, in order.
    pub(crate) fn runs(&self) -> impl Iterator<Item = &[(K, C)]> {
        self.0.iter().map(Vec::as_slice)
    }
}

impl<K, C> IntoIterator for Buckets<K, C> {
    type Item = (K, C);
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<(K, C)>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter().flatten()
    }
}

/// `parts` cut into at most `lanes` runs of consecutive parts, as even in number as can be:
/// the map tasks of a shuffle. Fewer tasks than parts means fewer tables (less memory, less to
/// shuffle); consecutive parts keep the records of every key in their order.
fn lanes<T>(parts: Vec<T>, lanes: usize) -> Vec<Vec<T>> {
    let lanes = lanes.max(1);
    if parts.len() <= lanes {
        return parts.into_iter().map(|p| vec![p]).collect();
    }
    let (each, extra) = (parts.len() / lanes, parts.len() % lanes);
    let mut parts = parts.into_iter();
    (0..lanes)
        .map(|i| parts.by_ref().take(each + usize::from(i < extra)).collect())
        .collect()
}

/// The [`Combine`] that collects the values of each key in arrival order (`group_by_key`).
pub(crate) fn group_values<K: Key, V>(table: &mut FastMap<K, Vec<V>>, (k, v): (K, V)) {
    table.entry(k).or_default().push(v);
}

/// Appends the values of `b` to those of `a`: [`group_values`]'s merge.
pub(crate) fn append<V>(mut a: Vec<V>, b: Vec<V>) -> Vec<V> {
    a.extend(b);
    a
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
        let (time, exec) = (self.time, self.exec.clone());
        let add = |table: &mut FastMap<T::K, C>, t: T| {
            let (k, v) = t.into_pair();
            match table.entry(k) {
                Entry::Occupied(e) => {
                    e.replace_entry_with(|_, c| Some(guard(operator, || merge_value(c, v))));
                }
                Entry::Vacant(e) => {
                    e.insert(guard(operator, || create(v)));
                }
            }
        };
        let merge = |a, b| guard(operator, || merge_combiners(a, b));
        let combine = Combine {
            add: &add,
            merge: &merge,
        };
        let partitions = shuffle(&exec, self.parts, num_partitions, combine, |_, merged| {
            merged.into_iter().collect::<Vec<_>>()
        });
        Batch::from_partitions(partitions, time, exec)
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
    use serde::Serialize;

    use super::{lanes, partition_of, stable_hash};

    #[test]
    fn lanes_are_runs_of_consecutive_parts_as_even_as_can_be() {
        assert_eq!(lanes((0..5).collect(), 2), [vec![0, 1, 2], vec![3, 4]]);
        assert_eq!(
            lanes((0..6).collect(), 4),
            [vec![0, 1], vec![2, 3], vec![4], vec![5]]
        );
        assert_eq!(lanes((0..2).collect(), 4), [vec![0], vec![1]]);
        assert_eq!(lanes(Vec::<u8>::new(), 2), Vec::<Vec<u8>>::new());
        assert_eq!(lanes((0..3).collect(), 0), [vec![0, 1, 2]]);
    }

    /// Prints the pinned values of a key (run with `--nocapture` when adding a case).
    fn pinned<K: Serialize + std::fmt::Debug + ?Sized>(key: &K) -> (u64, [usize; 3]) {
        let hash = stable_hash(key);
        let parts = [partition_of(key, 2), partition_of(key, 4), partition_of(key, 7)];
        println!("{key:?} => ({hash:#018x}, {parts:?})");
        (hash, parts)
    }

    /// Keys must keep their partitions across crate, encoding and compiler versions: saved
    /// state is found again by them. If this test fails, a change moved keys — that breaks
    /// every checkpoint written before it.
    #[test]
    fn partitions_of_fixed_keys_are_pinned() {
        // (hash, [partition among 2, 4, 7]).
        assert_eq!(pinned(&0_u64), (0xc77b_3abb_6f87_acd9, [1, 3, 5]));
        assert_eq!(pinned(&1_u64), (0x2fbc_5935_64db_792e, [0, 0, 1]));
        assert_eq!(pinned(&42_u64), (0xd5a6_f8c8_38df_27c8, [1, 3, 5]));
        assert_eq!(pinned(&u64::MAX), (0x5111_c7e4_7d78_4413, [0, 1, 2]));
        assert_eq!(pinned(&-1_i32), (0xcd6b_1c92_0d3f_662c, [1, 3, 5]));
        assert_eq!(pinned(&123_456_i32), (0x2d97_eeb5_95ad_1363, [0, 0, 1]));
        assert_eq!(pinned(""), (0x3509_6e34_fb7c_e7fa, [0, 0, 1]));
        assert_eq!(pinned("apple"), (0xfcb2_5c20_f946_143b, [1, 3, 6]));
        assert_eq!(pinned("naïve café ☕"), (0x5aac_85ee_0212_ec3f, [0, 1, 2]));
        assert_eq!(pinned("日本語のキー"), (0xc3c3_2d7b_5b62_a18c, [1, 3, 5]));
        assert_eq!(pinned(&("user-7", 2024_u16)), (0xb5e0_f4f2_e9b8_d5af, [1, 2, 4]));
        assert_eq!(pinned(&Some(3_u8)), (0xb6e3_f9ca_653f_790c, [1, 2, 5]));
        assert_eq!(pinned(&None::<u8>), (0xc44b_dff4_074e_ecdb, [1, 3, 5]));
        assert_eq!(pinned(&"ü".repeat(100)), (0x83e8_c3f4_7b33_fa14, [1, 2, 3]));
        // A `String` key and a `&str` key with the same text live in the same partition.
        assert_eq!(pinned(&"apple".to_string()), pinned("apple"));
    }

    /// The definition in `batch/stable_hash.rs`, recomputed by hand for a few keys.
    #[test]
    fn the_hash_follows_its_definition() {
        use xxhash_rust::xxh3::xxh3_64_with_seed as xxh3;
        let feed_str = |h: u64, s: &str| xxh3(s.as_bytes(), xxh3(&(s.len() as u64).to_le_bytes(), h));
        assert_eq!(stable_hash(&7_u64), xxh3(&7_u64.to_le_bytes(), 0));
        assert_eq!(stable_hash(&-1_i32), xxh3(&(-1_i32).to_le_bytes(), 0));
        assert_eq!(stable_hash("apple"), feed_str(0, "apple"));
        assert_eq!(stable_hash(&"apple".to_string()), feed_str(0, "apple"));
        let long = "ü".repeat(300);
        assert_eq!(stable_hash(&long), feed_str(0, &long));
        assert_eq!(
            stable_hash(&("user-7", 2024_u16)),
            xxh3(&2024_u16.to_le_bytes(), feed_str(0, "user-7"))
        );
        assert_eq!(stable_hash(&Some(3_u8)), xxh3(&[3], xxh3(&[1], 0)));
        assert_eq!(stable_hash(&None::<u8>), xxh3(&[0], 0));
        assert_eq!(
            stable_hash(&vec![1_u8, 2]),
            xxh3(&[2], xxh3(&[1], xxh3(&2_u64.to_le_bytes(), 0)))
        );
        // A word hashes as the same text in a `String`.
        assert_eq!(
            stable_hash(&crate::text::Word::from("apple")),
            feed_str(0, "apple")
        );
    }

    #[test]
    fn partitioning_is_in_range_and_spreads_keys() {
        for n in 1..8 {
            for key in ["apple", "banana", "cherry", ""] {
                assert!(partition_of(key, n) < n);
            }
        }
        let mut counts = [0_usize; 4];
        for i in 0..10_000 {
            counts[partition_of(&i, 4)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 2_000), "{counts:?}");
    }
}
