//! [`DStream`]: a typed stream of batches (Spark's `DStream`), and its per-batch operators.
//!
//! Each operator adds a node to the context's graph and returns the new stream; nothing runs
//! until the context starts. Operators take `&self`, so a stream can feed several others
//! (`let` bindings for fan-out). Keyed operators are in [`pair`](self) and need elements that
//! are `(key, value)` tuples.

mod pair;

use std::sync::Arc;

use crate::StreamingContext;
use crate::batch::Batch;
use crate::data::{Data, Key};
use crate::error::Result;
use crate::graph::{Node, NodeKind, NodeSpec};
use crate::time::{Duration, Time};

/// A stream of batches of `T` (Spark's `DStream[T]`).
///
/// # Examples
///
/// ```
/// use streamflow::testing;
///
/// let out = testing::run_batches(
///     vec![vec!["a b", "a"], vec![], vec!["b"]],
///     |lines| {
///         lines
///             .flat_map(|l| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
///             .map(|w| (w, 1))
///             .reduce_by_key(|a, b| a + b)
///     },
///     3,
/// );
/// assert_eq!(testing::sorted(&out[0]), [("a".to_string(), 2), ("b".to_string(), 1)]);
/// assert!(out[1].is_empty());
/// assert_eq!(out[2], [("b".to_string(), 1)]);
/// ```
pub struct DStream<T> {
    pub(crate) ssc: StreamingContext,
    pub(crate) node: Arc<Node<T>>,
}

impl<T> Clone for DStream<T> {
    fn clone(&self) -> Self {
        DStream {
            ssc: self.ssc.clone(),
            node: self.node.clone(),
        }
    }
}

impl<T: Data> DStream<T> {
    pub(crate) fn new(ssc: StreamingContext, node: Arc<Node<T>>) -> Self {
        DStream { ssc, node }
    }

    /// The context this stream belongs to.
    ///
    /// ```
    /// use streamflow::{Duration, StreamQueue, StreamingContext};
    ///
    /// let ssc = StreamingContext::new(Duration::seconds(2), 2)?;
    /// let numbers = ssc.queue_stream(StreamQueue::<i32>::new(), true, None);
    /// assert_eq!(numbers.map(|x| x + 1).context().batch_duration(), Duration::seconds(2));
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn context(&self) -> &StreamingContext {
        &self.ssc
    }

    /// How often this stream produces a batch: the batch interval, or a window's slide.
    ///
    /// ```
    /// use streamflow::{Duration, StreamQueue, StreamingContext};
    ///
    /// let ssc = StreamingContext::new(Duration::seconds(1), 2)?;
    /// let numbers = ssc.queue_stream(StreamQueue::<i32>::new(), true, None);
    /// assert_eq!(numbers.slide_duration(), Duration::seconds(1));
    /// assert_eq!(numbers.window("6s", "2s").slide_duration(), Duration::seconds(2));
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn slide_duration(&self) -> Duration {
        self.node.meta.slide
    }

    /// The batch of this stream at `time`, computing it if needed — for operators that read
    /// other batches than the current one (windows).
    pub(crate) fn batch_at(&self, time: Time) -> Result<Option<Batch<T>>> {
        self.node.get_or_compute(time)
    }

    /// Adds a node computed from this stream's batch by `f`, with this stream's slide.
    pub(crate) fn derive<U: Data>(
        &self,
        name: &str,
        kind: NodeKind,
        f: impl Fn(Batch<T>, Time) -> Batch<U> + Send + Sync + 'static,
    ) -> DStream<U> {
        let parent = self.node.clone();
        self.add_node(
            name,
            kind,
            vec![self.node.meta.clone()],
            self.slide_duration(),
            move |time| Ok(parent.get_or_compute(time)?.map(|batch| f(batch, time))),
        )
    }

    /// Adds a node with the given parents, slide and compute function. An operator added after
    /// start is reported (and fails the running job) instead of silently doing nothing.
    pub(crate) fn add_node<U: Data>(
        &self,
        name: &str,
        kind: NodeKind,
        parents: Vec<Arc<crate::graph::NodeMeta>>,
        slide: Duration,
        compute: impl Fn(Time) -> Result<Option<Batch<U>>> + Send + Sync + 'static,
    ) -> DStream<U> {
        if let Err(e) = self.ssc.ensure_initialized(name) {
            self.ssc.defer_error(e.to_string());
        }
        let spec = NodeSpec {
            name: name.to_string(),
            kind,
            parents,
            slide,
        };
        let node = self
            .ssc
            .inner
            .lock_graph()
            .add_node(spec, self.ssc.inner.exec.clone(), compute);
        DStream::new(self.ssc.clone(), node)
    }

    /// Adds a node combining this stream's batch with `other`'s at each time.
    pub(crate) fn derive_with<U: Data, V: Data>(
        &self,
        other: &DStream<U>,
        name: &str,
        kind: NodeKind,
        f: impl Fn(Batch<T>, Batch<U>, Time) -> Batch<V> + Send + Sync + 'static,
    ) -> DStream<V> {
        self.check_same_slide(name, &[other.slide_duration()]);
        self.check_same_context(name, &other.ssc);
        let (left, right) = (self.node.clone(), other.node.clone());
        let parents = vec![self.node.meta.clone(), other.node.meta.clone()];
        self.add_node(name, kind, parents, self.slide_duration(), move |time| {
            match (left.get_or_compute(time)?, right.get_or_compute(time)?) {
                (Some(l), Some(r)) => Ok(Some(f(l, r, time))),
                _ => Ok(None),
            }
        })
    }

    fn check_same_context(&self, name: &str, other: &StreamingContext) {
        if !Arc::ptr_eq(&self.ssc.inner, &other.inner) {
            self.ssc.defer_error(format!(
                "`{name}` combines streams of two different StreamingContexts: build every stream of a job from the same context"
            ));
        }
    }

    fn check_same_slide(&self, name: &str, others: &[Duration]) {
        if let Some(bad) = others.iter().find(|d| **d != self.slide_duration()) {
            self.ssc.defer_error(format!(
                "`{name}` combines streams with different slide durations ({} and {}): window them to the same slide first",
                self.slide_duration(),
                bad
            ));
        }
    }

    /// Applies `f` to every element (Spark's `map`).
    ///
    /// ```
    /// # use streamflow::testing::run_batches;
    /// assert_eq!(run_batches(vec![vec![1, 2]], |s| s.map(|x| x * 2), 1), vec![vec![2, 4]]);
    /// ```
    pub fn map<U: Data>(&self, f: impl Fn(T) -> U + Send + Sync + 'static) -> DStream<U> {
        let f = Arc::new(f);
        self.derive("map", NodeKind::Stateless, move |b, _| {
            let f = f.clone();
            b.map(move |t| f(t))
        })
    }

    /// Replaces every element by the elements `f` returns for it (Spark's `flatMap`).
    ///
    /// ```
    /// # use streamflow::testing::run_batches;
    /// let out = run_batches(vec![vec!["a b"]], |s| s.flat_map(|l| l.split(' ').map(str::to_owned).collect::<Vec<_>>()), 1);
    /// assert_eq!(out, vec![vec!["a".to_string(), "b".to_string()]]);
    /// ```
    pub fn flat_map<U: Data, I>(&self, f: impl Fn(T) -> I + Send + Sync + 'static) -> DStream<U>
    where
        I: IntoIterator<Item = U>,
    {
        let f = Arc::new(f);
        self.derive("flat_map", NodeKind::Stateless, move |b, _| {
            let f = f.clone();
            b.flat_map(move |t| f(t))
        })
    }

    /// Keeps the elements for which `f` is true (Spark's `filter`).
    ///
    /// ```
    /// # use streamflow::testing::run_batches;
    /// assert_eq!(run_batches(vec![vec![1, 2, 3]], |s| s.filter(|x| x % 2 == 1), 1), vec![vec![1, 3]]);
    /// ```
    pub fn filter(&self, f: impl Fn(&T) -> bool + Send + Sync + 'static) -> DStream<T> {
        let f = Arc::new(f);
        self.derive("filter", NodeKind::Stateless, move |b, _| {
            let f = f.clone();
            b.filter(move |t| f(t))
        })
    }

    /// Replaces each partition by what `f` makes of all its elements (Spark's `mapPartitions`):
    /// the place for per-partition set-up such as opening a connection.
    ///
    /// ```
    /// # use streamflow::testing::run_batches;
    /// let out = run_batches(vec![vec![1, 2, 3]], |s| s.repartition(1).map_partitions(|it| vec![it.sum::<i32>()]), 1);
    /// assert_eq!(out, vec![vec![6]]);
    /// ```
    pub fn map_partitions<U: Data, I>(
        &self,
        f: impl Fn(std::vec::IntoIter<T>) -> I + Send + Sync + 'static,
    ) -> DStream<U>
    where
        I: IntoIterator<Item = U>,
    {
        let f = Arc::new(f);
        self.derive("map_partitions", NodeKind::Stateless, move |b, _| {
            let f = f.clone();
            b.map_partitions(move |it| f(it))
        })
    }

    /// Turns each partition into one element holding all of its elements (Spark's `glom`).
    ///
    /// ```
    /// # use streamflow::testing::run_batches;
    /// let out = run_batches(vec![vec![1, 2, 3, 4]], |s| s.repartition(2).glom().map(|p| p.len()), 1);
    /// assert_eq!(out, vec![vec![2, 2]]);
    /// ```
    pub fn glom(&self) -> DStream<Vec<T>> {
        self.derive("glom", NodeKind::Stateless, |b, _| b.glom())
    }

    /// Redistributes each batch into exactly `num_partitions` partitions (Spark's
    /// `repartition`): more parallelism for a costly next step.
    ///
    /// ```
    /// # use streamflow::testing::run_batches;
    /// let out = run_batches(vec![(0..10).collect()], |s| s.repartition(3).glom().map(|p| p.len()), 1);
    /// assert_eq!(out[0].len(), 3);
    /// assert_eq!(out[0].iter().sum::<usize>(), 10);
    /// ```
    pub fn repartition(&self, num_partitions: usize) -> DStream<T> {
        if num_partitions == 0 {
            self.ssc
                .defer_error("`repartition` needs at least one partition, got 0".into());
        }
        self.derive("repartition", NodeKind::Shuffle, move |b, _| {
            b.repartition(num_partitions)
        })
    }

    /// The elements of this stream and of `other`, batch by batch (Spark's `union`).
    ///
    /// ```
    /// # use streamflow::testing::run_batches2;
    /// let out = run_batches2(vec![vec![1]], vec![vec![2]], |a, b| a.union(&b), 1);
    /// assert_eq!(out, vec![vec![1, 2]]);
    /// ```
    pub fn union(&self, other: &DStream<T>) -> DStream<T> {
        self.derive_with(other, "union", NodeKind::Stateless, |a, b, _| a.union(b))
    }

    /// A one-element stream: the number of elements of each batch, 0 for an empty batch
    /// (Spark's `count`).
    ///
    /// ```
    /// # use streamflow::testing::run_batches;
    /// assert_eq!(run_batches(vec![vec![7, 8], vec![]], |s| s.count(), 2), vec![vec![2], vec![0]]);
    /// ```
    pub fn count(&self) -> DStream<u64> {
        self.derive("count", NodeKind::Shuffle, |b, _| b.count_batch())
    }

    /// A stream with the reduction of each batch by `f`; nothing for an empty batch
    /// (Spark's `reduce`).
    ///
    /// ```
    /// # use streamflow::testing::run_batches;
    /// assert_eq!(run_batches(vec![vec![1, 2, 3], vec![]], |s| s.reduce(|a, b| a + b), 2), vec![vec![6], vec![]]);
    /// ```
    pub fn reduce(&self, f: impl Fn(T, T) -> T + Send + Sync + 'static) -> DStream<T> {
        let f = Arc::new(f);
        self.derive("reduce", NodeKind::Shuffle, move |b, _| b.reduce(|x, y| f(x, y)))
    }

    /// Each distinct element of a batch with its number of occurrences (Spark's
    /// `countByValue`).
    ///
    /// ```
    /// # use streamflow::testing::{run_batches, sorted};
    /// let out = run_batches(vec![vec!["a", "b", "a"]], |s| s.count_by_value(), 1);
    /// assert_eq!(sorted(&out[0]), [("a", 2), ("b", 1)]);
    /// ```
    pub fn count_by_value(&self) -> DStream<(T, u64)>
    where
        T: Key,
    {
        self.derive("count_by_value", NodeKind::Shuffle, |b, _| b.count_by_value())
    }

    /// Any batch-to-batch function, with the batch time (Spark's `transform`): the way to use
    /// every [`Batch`] operation, e.g. a join with a static dataset.
    ///
    /// ```
    /// # use streamflow::testing::run_batches;
    /// let out = run_batches(vec![vec![1, 2]], |s| s.transform(|b, t| b.map(move |x| x + t.millis())), 1);
    /// assert_eq!(out, vec![vec![1001, 1002]]);
    /// ```
    pub fn transform<U: Data>(
        &self,
        f: impl Fn(Batch<T>, Time) -> Batch<U> + Send + Sync + 'static,
    ) -> DStream<U> {
        self.derive("transform", NodeKind::Shuffle, move |b, t| {
            crate::exec::guard("transform", || f(b, t))
        })
    }

    /// Combines each batch with the batch of `other` at the same time (Spark's
    /// `transformWith`).
    ///
    /// ```
    /// # use streamflow::testing::run_batches2;
    /// let out = run_batches2(vec![vec![1, 2]], vec![vec![10]], |a, b| {
    ///     a.transform_with(&b, |x, y, _| {
    ///         let offset: i32 = y.collect().into_iter().sum();
    ///         x.map(move |v| v + offset)
    ///     })
    /// }, 1);
    /// assert_eq!(out, vec![vec![11, 12]]);
    /// ```
    pub fn transform_with<U: Data, V: Data>(
        &self,
        other: &DStream<U>,
        f: impl Fn(Batch<T>, Batch<U>, Time) -> Batch<V> + Send + Sync + 'static,
    ) -> DStream<V> {
        self.derive_with(other, "transform_with", NodeKind::Shuffle, move |a, b, t| {
            crate::exec::guard("transform_with", || f(a, b, t))
        })
    }

    /// Sets how often the state of this stream is snapshotted in the checkpoint (Spark's
    /// `DStream.checkpoint(interval)`): a stateful stream (`update_state_by_key`,
    /// `map_with_state`, `reduce_by_key_and_window_inv` …) writes a full snapshot of its state
    /// every `interval` and only the keys each batch changed in between. The default, as in
    /// Spark, is the smallest multiple of the stream's slide that is at least 10 seconds. The
    /// interval must be a multiple of the slide. A stream without state has nothing to
    /// snapshot: its batches are computed again from the sources after a restart, and the call
    /// changes nothing for it. Returns the same stream.
    ///
    /// ```
    /// use streamflow::{Duration, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let dir = tempfile::tempdir().unwrap();
    /// t.context().checkpoint(dir.path())?;
    /// let queue = streamflow::StreamQueue::new();
    /// queue.push(vec![("a".to_string(), 1)]);
    /// let totals = t.context().queue_stream(queue, true, None)
    ///     .update_state_by_key(|values: Vec<i32>, total: Option<i32>| {
    ///         Some(total.unwrap_or(0) + values.iter().sum::<i32>())
    ///     })
    ///     .checkpoint("5 seconds"); // a snapshot every 5 batches
    /// let out = t.collect(&totals);
    /// t.start()?;
    /// t.advance_batches(1)?;
    /// assert_eq!(out.batches(), vec![vec![("a".to_string(), 1)]]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn checkpoint(&self, interval: impl crate::time::IntoDuration) -> DStream<T> {
        let interval = match interval.into_duration() {
            Ok(d) => d,
            Err(e) => {
                self.ssc.defer_error(format!("checkpoint: {e}"));
                return self.clone();
            }
        };
        let id = self.node.meta.id;
        let slide = self.slide_duration();
        if interval.is_zero() || interval.millis() % slide.millis().max(1) != 0 {
            self.ssc.defer_error(format!(
                "checkpoint: the interval {interval} must be a positive multiple of the stream's slide {slide}"
            ));
            return self.clone();
        }
        let mut graph = self.ssc.inner.lock_graph();
        if let Some(entry) = graph.stateful.iter_mut().find(|e| e.node == id) {
            entry.interval = Some(interval);
        }
        drop(graph);
        self.clone()
    }

    /// Keeps each generated batch in memory, so that several consumers (and windows) read it
    /// without computing it again (Spark's `persist`/`cache`). Returns the same stream.
    ///
    /// ```
    /// # use streamflow::testing::run_batches;
    /// assert_eq!(run_batches(vec![vec![1]], |s| s.persist().map(|x| x + 1), 1), vec![vec![2]]);
    /// ```
    pub fn persist(&self) -> DStream<T> {
        self.node.persist();
        self.clone()
    }

    /// Same as [`persist`](Self::persist).
    ///
    /// ```
    /// use streamflow::{Duration, StreamQueue, StreamingContext};
    ///
    /// let ssc = StreamingContext::new(Duration::seconds(1), 2)?;
    /// let lines = ssc.queue_stream(StreamQueue::<String>::new(), true, None);
    /// lines.map(|l| l.to_uppercase()).cache().filter(|l| !l.is_empty()).print();
    /// // The cached `map` keeps its batches, so it ends a stage instead of fusing with `filter`.
    /// let plan = ssc.explain();
    /// assert!(plan.contains("stage 2: map [reads stage 1]\nstage 3: filter [reads stage 2]"), "{plan}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn cache(&self) -> DStream<T> {
        self.persist()
    }
}

impl StreamingContext {
    /// The union of many streams of the same type and slide (Spark's `ssc.union`).
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration};
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let streams: Vec<_> = (0..3).map(|i| t.input(vec![vec![i]])).collect();
    /// let out = t.collect(&t.context().union(&streams)?);
    /// t.run(1)?;
    /// assert_eq!(out.batches(), vec![vec![0, 1, 2]]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn union<T: Data>(&self, streams: &[DStream<T>]) -> Result<DStream<T>> {
        self.combine("union", streams, NodeKind::Stateless, |batches, _| {
            Ok(batches.into_iter().flatten().reduce(Batch::union))
        })
    }

    /// Combines the batches of several streams of the same type and slide at each batch time
    /// (Spark's `ssc.transform(dstreams, transformFunc)`): `f` gets them in the order of
    /// `streams`, with the batch time, and returns the batch of the new stream.
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration};
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let streams: Vec<_> = [1, 10, 100].map(|n| t.input(vec![vec![n, n]])).into();
    /// // The first stream's records, scaled by the sum of the others' at the same time.
    /// let out = t.collect(&t.context().transform(&streams, |mut batches, _time| {
    ///     let first = batches.remove(0);
    ///     let scale: i32 = batches.into_iter().flat_map(|b| b.collect()).sum();
    ///     first.map(move |x| x * scale)
    /// })?);
    /// t.run(1)?;
    /// assert_eq!(out.batches(), vec![vec![220, 220]]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn transform<T: Data, U: Data>(
        &self,
        streams: &[DStream<T>],
        f: impl Fn(Vec<Batch<T>>, Time) -> Batch<U> + Send + Sync + 'static,
    ) -> Result<DStream<U>> {
        self.combine("transform", streams, NodeKind::Shuffle, move |batches, time| {
            let batches: Option<Vec<Batch<T>>> = batches.into_iter().collect();
            Ok(batches.map(|b| crate::exec::guard("transform", || f(b, time))))
        })
    }

    /// A node over several streams of the same type and slide: `f` gets each one's batch at
    /// the batch time (`None` for a stream without one).
    fn combine<T: Data, U: Data>(
        &self,
        name: &str,
        streams: &[DStream<T>],
        kind: NodeKind,
        f: impl Fn(Vec<Option<Batch<T>>>, Time) -> Result<Option<Batch<U>>> + Send + Sync + 'static,
    ) -> Result<DStream<U>> {
        let Some((first, rest)) = streams.split_first() else {
            return Err(crate::Error::InvalidConfig(format!(
                "{name} needs at least one stream"
            )));
        };
        first.check_same_slide(name, &rest.iter().map(|s| s.slide_duration()).collect::<Vec<_>>());
        for stream in rest {
            first.check_same_context(name, &stream.ssc);
        }
        let nodes: Vec<_> = streams.iter().map(|s| s.node.clone()).collect();
        let parents = streams.iter().map(|s| s.node.meta.clone()).collect();
        Ok(
            first.add_node(name, kind, parents, first.slide_duration(), move |time| {
                let batches = nodes
                    .iter()
                    .map(|node| node.get_or_compute(time))
                    .collect::<Result<Vec<_>>>()?;
                f(batches, time)
            }),
        )
    }
}
