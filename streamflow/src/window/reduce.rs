//! Keyed windows: `reduce_by_key_and_window` (plain and incremental) and
//! `group_by_key_and_window`.
//!
//! The incremental form is Spark's `ReducedWindowedDStream`. Each batch is reduced by key once,
//! when it arrives, into `n` partitions by the shuffle's `partition_of`, and kept for
//! `len + slide`. The window's result lives in a [`StateStore`] with the same `n` partitions,
//! so partition `i` of a batch updates partition `i` of the store in place (the keyed-state
//! primitive's in-place form): first the batches that left the window are taken out with the
//! inverse function, then the batches that entered are added. The filter runs on the result,
//! and what it drops is gone from the store too — exactly what Spark does, since its next
//! window starts from the filtered one.

use std::sync::Arc;

use hashbrown::hash_map::Entry;

use super::covered_times;
use crate::batch::shuffle::FastMap;
use crate::data::{Data, Key, Pair, StateData};
use crate::dstream::DStream;
use crate::exec::guard;
use crate::state::keyed::run_in_place;
use crate::state::{StateHandle, StateStore};
use crate::time::IntoDuration;

/// A reduce (or inverse reduce) function shared by the nodes of a window.
pub(crate) type ReduceFn<V> = Arc<dyn Fn(V, V) -> V + Send + Sync>;

/// What the incremental window keeps in its output.
pub(crate) type KeepFn<K, V> = Arc<dyn Fn(&(K, V)) -> bool + Send + Sync>;

/// The functions of an incremental window: `reduce` adds a batch, `inverse` takes one out,
/// `keep` (optional) filters the result.
pub(crate) struct Incremental<K, V> {
    pub(crate) reduce: ReduceFn<V>,
    pub(crate) inverse: ReduceFn<V>,
    pub(crate) keep: Option<KeepFn<K, V>>,
}

/// Whether a batch leaves the window or enters it.
#[derive(Clone, Copy)]
enum Change {
    Leaving,
    Entering,
}

impl<T: Data> DStream<T> {
    /// Per key, the reduction by `f` of its values in each window (Spark's
    /// `reduceByKeyAndWindow`): at each window time, the window's batches are merged again.
    /// Each batch is reduced by key once, when it arrives, so a window time merges
    /// `len / batch`-many partial results. A key is in the output while it has values in the
    /// window.
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::testing::{run_batches, sorted};
    ///
    /// let out = run_batches(
    ///     vec![vec![("a", 1), ("b", 1)], vec![("a", 1)], vec![]],
    ///     |pairs| pairs.reduce_by_key_and_window(|x, y| x + y, "2s", "1s"),
    ///     3,
    /// );
    /// assert_eq!(sorted(&out[0]), [("a", 1), ("b", 1)]);
    /// assert_eq!(sorted(&out[1]), [("a", 2), ("b", 1)]);
    /// assert_eq!(out[2], [("a", 1)]);
    /// ```
    pub fn reduce_by_key_and_window<K, V>(
        &self,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
        len: impl IntoDuration,
        slide: impl IntoDuration,
    ) -> DStream<(K, V)>
    where
        T: Pair<K = K, V = V>,
        K: Key,
        V: Data,
    {
        let f = Arc::new(f);
        let g = f.clone();
        self.reduce_by_key(move |a, b| f(a, b))
            .window_named("reduce_by_key_and_window", len, slide)
            .reduce_by_key(move |a, b| g(a, b))
    }

    /// Per key, the reduction of its values in each window, computed incrementally (Spark's
    /// `reduceByKeyAndWindow` with an inverse function): the previous window's values, plus the
    /// batches that entered (with `f`), minus the batches that left (with `inv`, the inverse
    /// of `f`: `inv(f(a, b), b) == a`). The cost per window is that of two batches, whatever
    /// the window's length.
    ///
    /// A key whose values all left the window stays in the output with the identity value —
    /// `("a", 0)` for sums — unless `filter` returns `false` for it; what the filter drops is
    /// forgotten. Keeps the window's result as state, so it needs a checkpoint directory, and
    /// keys and values are [`StateData`] (owned serde types: `String`, not `&str`).
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::{testing::{sorted, TestContext}, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let dir = tempfile::tempdir()?;
    /// t.context().checkpoint(dir.path())?;
    /// let key = |k: &str| k.to_string();
    /// let pairs = t.input(vec![vec![(key("a"), 1), (key("b"), 1)], vec![(key("b"), 1)], vec![], vec![]]);
    /// let kept = t.collect(&pairs.reduce_by_key_and_window_inv(|x, y| x + y, |x, y| x - y, "2s", "1s", None));
    /// let dropped = t.collect(&pairs.reduce_by_key_and_window_inv(
    ///     |x, y| x + y, |x, y| x - y, "2s", "1s", Some(|(_, n): &(String, i32)| *n != 0),
    /// ));
    /// t.run(4)?;
    /// let kept: Vec<_> = kept.batches().iter().map(|b| sorted(b)).collect();
    /// assert_eq!(kept[2], [(key("a"), 0), (key("b"), 1)]);
    /// assert_eq!(kept[3], [(key("a"), 0), (key("b"), 0)]);
    /// let dropped: Vec<_> = dropped.batches().iter().map(|b| sorted(b)).collect();
    /// assert_eq!(dropped[2], [(key("b"), 1)]);
    /// assert!(dropped[3].is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[doc(alias = "reduceByKeyAndWindow")]
    pub fn reduce_by_key_and_window_inv<K, V>(
        &self,
        f: impl Fn(V, V) -> V + Send + Sync + 'static,
        inv: impl Fn(V, V) -> V + Send + Sync + 'static,
        len: impl IntoDuration,
        slide: impl IntoDuration,
        filter: Option<fn(&(K, V)) -> bool>,
    ) -> DStream<(K, V)>
    where
        T: Pair<K = K, V = V>,
        K: Key + StateData,
        V: StateData,
    {
        let functions = Incremental {
            reduce: Arc::new(f),
            inverse: Arc::new(inv),
            keep: filter.map(|keep| Arc::new(keep) as KeepFn<K, V>),
        };
        self.incremental_window(
            "reduce_by_key_and_window",
            functions,
            len,
            slide,
            self.ssc.parallelism(),
        )
    }

    /// Per key, all of its values in each window, oldest batch first (Spark's
    /// `groupByKeyAndWindow`). Each batch is grouped once, when it arrives.
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::testing::run_batches;
    ///
    /// let out = run_batches(
    ///     vec![vec![("a", 1)], vec![("a", 2)], vec![("a", 3)]],
    ///     |pairs| pairs.group_by_key_and_window("2s", "1s"),
    ///     3,
    /// );
    /// assert_eq!(out, vec![vec![("a", vec![1])], vec![("a", vec![1, 2])], vec![("a", vec![2, 3])]]);
    /// ```
    pub fn group_by_key_and_window<K, V>(
        &self,
        len: impl IntoDuration,
        slide: impl IntoDuration,
    ) -> DStream<(K, Vec<V>)>
    where
        T: Pair<K = K, V = V>,
        K: Key,
        V: Data,
    {
        let n = self.ssc.parallelism();
        let append = |mut a: Vec<V>, b: Vec<V>| {
            a.extend(b);
            a
        };
        self.group_by_key()
            .window_named("group_by_key_and_window", len, slide)
            .combine_by_key(|values| values, append, append, n)
    }

    /// The incremental keyed window behind every `_inv` operator, with `num_partitions`
    /// partitions of state.
    pub(crate) fn incremental_window<K, V>(
        &self,
        name: &'static str,
        functions: Incremental<K, V>,
        len: impl IntoDuration,
        slide: impl IntoDuration,
        num_partitions: usize,
    ) -> DStream<(K, V)>
    where
        T: Pair<K = K, V = V>,
        K: Key + StateData,
        V: StateData,
    {
        let geometry = self.window_geometry(name, len, slide);
        let n = num_partitions.max(1);
        let Incremental {
            reduce: f,
            inverse: inv,
            keep,
        } = functions;
        let reduce = f.clone();
        let per_batch = self.reduce_by_key_into(move |a, b| reduce(a, b), n);
        let (clock, reads_state) = per_batch.window_context();
        // The leaving batches are up to `len + slide` old when a window time comes.
        let reach = geometry.len + geometry.slide;
        per_batch.keep_for_window(reach);
        let store: Arc<StateStore<K, V>> = Arc::new(StateStore::new(name, n));
        let handle: Arc<dyn StateHandle> = store.clone();
        let parent = per_batch.clone();
        let parent_slide = per_batch.slide_duration();
        let exec = self.ssc.inner.exec.clone();
        let window = per_batch.stateful_node(name, handle, geometry.slide, move |time| {
            let zero = clock.zero();
            let (len, slide) = (geometry.len, geometry.slide);
            let previous = time - slide;
            let (leaving, entering) = if previous > zero && store.version() == Some(previous) {
                // Previous window (previous − len, previous]; this one (time − len, time].
                let leaving = covered_times(time - len.max(slide), len.min(slide), parent_slide, zero);
                let entering = covered_times(time, len.min(slide), parent_slide, zero);
                (leaving, entering)
            } else {
                store.clear();
                (Vec::new(), covered_times(time, len, parent_slide, zero))
            };
            if reads_state {
                // A stateful node upstream must see every batch time, also those between
                // two windows shorter than their slide.
                for skipped in covered_times(time, slide, parent_slide, zero) {
                    if time - skipped >= len.millis() as i64 {
                        parent.batch_at(skipped)?;
                    }
                }
            }
            // The per-batch reductions came out of a shuffle into the store's `n` partitions:
            // partition `p` of each updates partition `p` of the store in place, leaving
            // batches first.
            let mut placed: Vec<Vec<(Change, Vec<(K, V)>)>> = (0..n).map(|_| Vec::new()).collect();
            let changes = leaving
                .iter()
                .map(|t| (t, Change::Leaving))
                .chain(entering.iter().map(|t| (t, Change::Entering)));
            for (t, change) in changes {
                if let Some(mut batch) = parent.batch_at(*t)? {
                    if batch.num_partitions() != n {
                        batch = batch.reduce_by_key_into(|a, b| f(a, b), n);
                    }
                    for (p, part) in batch.collect_partitions().into_iter().enumerate() {
                        placed[p].push((change, part));
                    }
                }
            }
            let apply = |window: &mut FastMap<K, V>, (change, part): (Change, Vec<(K, V)>)| match change {
                // A key the filter dropped has nothing left to subtract from.
                Change::Leaving => {
                    for (k, v) in part {
                        if let Entry::Occupied(e) = window.entry(k) {
                            e.replace_entry_with(|_, current| Some(guard(name, || inv(current, v))));
                        }
                    }
                }
                Change::Entering => {
                    for (k, v) in part {
                        match window.entry(k) {
                            Entry::Occupied(e) => {
                                e.replace_entry_with(|_, current| Some(guard(name, || f(current, v))));
                            }
                            Entry::Vacant(e) => {
                                e.insert(v);
                            }
                        }
                    }
                }
            };
            run_in_place(&store, &exec, placed, apply, Some(time), |part| {
                let mut out = Vec::with_capacity(part.map.len());
                match &keep {
                    None => out.extend(part.map.iter().map(|(k, v)| (k.clone(), v.clone()))),
                    Some(keep) => part.map.retain(|k, v| {
                        let pair = (k.clone(), v.clone());
                        let kept = guard(name, || keep(&pair));
                        if kept {
                            out.push(pair);
                        }
                        kept
                    }),
                }
                Ok(out)
            })
        });
        per_batch.register_window(&window, reach);
        window
    }
}
