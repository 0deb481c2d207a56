//! Keyed operators on streams of `(key, value)` pairs (Spark's `PairDStreamFunctions`).
//!
//! They are methods of every `DStream<T>` with the bound `T: Pair`, so calling one on a stream
//! that is not of pairs is a compile error that says so (through
//! `#[diagnostic::on_unimplemented]` on [`Pair`]).

use std::sync::Arc;

use super::DStream;
use crate::data::{Data, Key, Pair};
use crate::graph::NodeKind;

impl<T: Data> DStream<T> {
    /// Merges the values of each key in a batch with `f` (Spark's `reduceByKey`), combining
    /// within each partition before the shuffle. The result has as many partitions as the
    /// context's parallelism.
    ///
    /// ```
    /// # use streamflow::testing::{run_batches, sorted};
    /// let out = run_batches(vec![vec![("a", 1), ("b", 1), ("a", 1)]], |s| s.reduce_by_key(|x, y| x + y), 1);
    /// assert_eq!(sorted(&out[0]), [("a", 2), ("b", 1)]);
    /// ```
    pub fn reduce_by_key<K, V>(&self, f: impl Fn(V, V) -> V + Send + Sync + 'static) -> DStream<(K, V)>
    where
        T: Pair<K = K, V = V>,
        K: Key,
        V: Data,
    {
        let f = Arc::new(f);
        self.derive("reduce_by_key", NodeKind::Shuffle, move |b, _| {
            b.reduce_by_key(|x, y| f(x, y))
        })
    }

    /// [`reduce_by_key`](Self::reduce_by_key) into `num_partitions` partitions.
    ///
    /// ```
    /// # use streamflow::testing::run_batches;
    /// let out = run_batches(vec![vec![(1, 1), (2, 1)]], |s| s.reduce_by_key_into(|x, y| x + y, 1).glom().map(|p| p.len()), 1);
    /// assert_eq!(out, vec![vec![2]]);
    /// ```
    pub fn reduce_by_key_into<K, V>(
        &self,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
        num_partitions: usize,
    ) -> DStream<(K, V)>
    where
        T: Pair<K = K, V = V>,
        K: Key,
        V: Data,
    {
        let f = Arc::new(f);
        self.derive("reduce_by_key", NodeKind::Shuffle, move |b, _| {
            b.reduce_by_key_into(|x, y| f(x, y), num_partitions)
        })
    }

    /// All values of each key in a batch (Spark's `groupByKey`).
    ///
    /// ```
    /// # use streamflow::testing::run_batches;
    /// let out = run_batches(vec![vec![("a", 1), ("a", 2)]], |s| s.group_by_key(), 1);
    /// assert_eq!(out, vec![vec![("a", vec![1, 2])]]);
    /// ```
    pub fn group_by_key<K, V>(&self) -> DStream<(K, Vec<V>)>
    where
        T: Pair<K = K, V = V>,
        K: Key,
        V: Data,
    {
        self.derive("group_by_key", NodeKind::Shuffle, |b, _| b.group_by_key())
    }

    /// The general keyed aggregation (Spark's `combineByKey`).
    ///
    /// ```
    /// # use streamflow::testing::{run_batches, sorted};
    /// // Average per key: combine into (sum, count).
    /// let out = run_batches(vec![vec![("a", 1.0), ("a", 3.0), ("b", 5.0)]], |s| {
    ///     s.combine_by_key(|v| (v, 1), |(s, n), v| (s + v, n + 1), |(s1, n1), (s2, n2)| (s1 + s2, n1 + n2), 2)
    ///         .map_values(|(sum, n)| sum / n as f64)
    /// }, 1);
    /// assert_eq!(sorted(&out[0]), [("a", 2.0), ("b", 5.0)]);
    /// ```
    pub fn combine_by_key<K, V, C: Data>(
        &self,
        create: impl Fn(V) -> C + Send + Sync + 'static,
        merge_value: impl Fn(C, V) -> C + Send + Sync + 'static,
        merge_combiners: impl Fn(C, C) -> C + Send + Sync + 'static,
        num_partitions: usize,
    ) -> DStream<(K, C)>
    where
        T: Pair<K = K, V = V>,
        K: Key,
        V: Data,
    {
        let functions = Arc::new((create, merge_value, merge_combiners));
        self.derive("combine_by_key", NodeKind::Shuffle, move |b, _| {
            let f = functions.clone();
            b.combine_by_key(
                |v| (f.0)(v),
                |c, v| (f.1)(c, v),
                |a, c| (f.2)(a, c),
                num_partitions,
            )
        })
    }

    /// Applies `f` to every value, keeping keys (and partitioning) as they are (Spark's
    /// `mapValues`).
    ///
    /// ```
    /// # use streamflow::testing::run_batches;
    /// assert_eq!(run_batches(vec![vec![("a", 1)]], |s| s.map_values(|v| v * 10), 1), vec![vec![("a", 10)]]);
    /// ```
    pub fn map_values<K, V, U: Data>(&self, f: impl Fn(V) -> U + Send + Sync + 'static) -> DStream<(K, U)>
    where
        T: Pair<K = K, V = V>,
        K: Key,
        V: Data,
    {
        let f = Arc::new(f);
        self.derive("map_values", NodeKind::Stateless, move |b, _| {
            let f = f.clone();
            b.map_values(move |v| f(v))
        })
    }

    /// Replaces every value by the values `f` returns for it (Spark's `flatMapValues`).
    ///
    /// ```
    /// # use streamflow::testing::run_batches;
    /// let out = run_batches(vec![vec![("a", 2)]], |s| s.flat_map_values(|n| 0..n), 1);
    /// assert_eq!(out, vec![vec![("a", 0), ("a", 1)]]);
    /// ```
    pub fn flat_map_values<K, V, U: Data, I>(
        &self,
        f: impl Fn(V) -> I + Send + Sync + 'static,
    ) -> DStream<(K, U)>
    where
        T: Pair<K = K, V = V>,
        K: Key,
        V: Data,
        I: IntoIterator<Item = U>,
    {
        let f = Arc::new(f);
        self.derive("flat_map_values", NodeKind::Stateless, move |b, _| {
            let f = f.clone();
            b.flat_map_values(move |v| f(v))
        })
    }

    /// Inner join of the batches at each time (Spark's `join`): every value of a key on the
    /// left with every value of that key on the right.
    ///
    /// ```
    /// # use streamflow::testing::run_batches2;
    /// let out = run_batches2(vec![vec![(1, 'a'), (2, 'b')]], vec![vec![(1, true)]], |l, r| l.join(&r), 1);
    /// assert_eq!(out, vec![vec![(1, ('a', true))]]);
    /// ```
    pub fn join<K, V, W: Data>(&self, other: &DStream<(K, W)>) -> DStream<(K, (V, W))>
    where
        T: Pair<K = K, V = V>,
        K: Key,
        V: Data,
    {
        self.derive_with(other, "join", NodeKind::Shuffle, |l, r, _| {
            let n = l.executor().parallelism();
            l.join(r, n)
        })
    }

    /// Left outer join: keys only on the left come with `None` (Spark's `leftOuterJoin`).
    ///
    /// ```
    /// # use streamflow::testing::{run_batches2, sorted};
    /// let out = run_batches2(vec![vec![(1, 'a'), (2, 'b')]], vec![vec![(1, true)]], |l, r| l.left_outer_join(&r), 1);
    /// assert_eq!(sorted(&out[0]), [(1, ('a', Some(true))), (2, ('b', None))]);
    /// ```
    pub fn left_outer_join<K, V, W: Data>(&self, other: &DStream<(K, W)>) -> DStream<(K, (V, Option<W>))>
    where
        T: Pair<K = K, V = V>,
        K: Key,
        V: Data,
    {
        self.derive_with(other, "left_outer_join", NodeKind::Shuffle, |l, r, _| {
            let n = l.executor().parallelism();
            l.left_outer_join(r, n)
        })
    }

    /// Right outer join: keys only on the right come with `None` (Spark's `rightOuterJoin`).
    ///
    /// ```
    /// # use streamflow::testing::{run_batches2, sorted};
    /// let out = run_batches2(vec![vec![(1, 'a')]], vec![vec![(1, true), (3, false)]], |l, r| l.right_outer_join(&r), 1);
    /// assert_eq!(sorted(&out[0]), [(1, (Some('a'), true)), (3, (None, false))]);
    /// ```
    pub fn right_outer_join<K, V, W: Data>(&self, other: &DStream<(K, W)>) -> DStream<(K, (Option<V>, W))>
    where
        T: Pair<K = K, V = V>,
        K: Key,
        V: Data,
    {
        self.derive_with(other, "right_outer_join", NodeKind::Shuffle, |l, r, _| {
            let n = l.executor().parallelism();
            l.right_outer_join(r, n)
        })
    }

    /// Full outer join: keys on either side only come with `None` on the other
    /// (Spark's `fullOuterJoin`).
    ///
    /// ```
    /// # use streamflow::testing::{run_batches2, sorted};
    /// let out = run_batches2(vec![vec![(1, 'a'), (2, 'b')]], vec![vec![(1, true), (3, false)]], |l, r| l.full_outer_join(&r), 1);
    /// assert_eq!(sorted(&out[0]), [(1, (Some('a'), Some(true))), (2, (Some('b'), None)), (3, (None, Some(false)))]);
    /// ```
    pub fn full_outer_join<K, V, W: Data>(
        &self,
        other: &DStream<(K, W)>,
    ) -> DStream<(K, (Option<V>, Option<W>))>
    where
        T: Pair<K = K, V = V>,
        K: Key,
        V: Data,
    {
        self.derive_with(other, "full_outer_join", NodeKind::Shuffle, |l, r, _| {
            let n = l.executor().parallelism();
            l.full_outer_join(r, n)
        })
    }

    /// For each key in either batch, all of its values on both sides (Spark's `cogroup`).
    ///
    /// ```
    /// # use streamflow::testing::{run_batches2, sorted};
    /// let out = run_batches2(vec![vec![(1, 'a'), (1, 'b')]], vec![vec![(2, 0)]], |l, r| l.cogroup(&r), 1);
    /// assert_eq!(sorted(&out[0]), [(1, (vec!['a', 'b'], vec![])), (2, (vec![], vec![0]))]);
    /// ```
    pub fn cogroup<K, V, W: Data>(&self, other: &DStream<(K, W)>) -> DStream<(K, (Vec<V>, Vec<W>))>
    where
        T: Pair<K = K, V = V>,
        K: Key,
        V: Data,
    {
        self.derive_with(other, "cogroup", NodeKind::Shuffle, |l, r, _| {
            let n = l.executor().parallelism();
            l.cogroup(r, n)
        })
    }
}
