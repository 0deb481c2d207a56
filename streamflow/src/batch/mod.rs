//! [`Batch`]: the data of one stream at one batch time — streamflow's RDD.
//!
//! A batch is a list of partitions. Until something needs the data (a shuffle, an output, a
//! `collect`), a partition is not a vector but a *producer*: a function that pushes its
//! elements into a sink. `map`, `filter` and `flat_map` wrap the producer instead of running,
//! so a chain of them runs as one pass over each partition with no vector in between — the
//! fusion that Spark gets from pipelining narrow dependencies.
//!
//! Every DStream operator is a batch operator applied at each batch time, so the per-batch
//! semantics live here once, and [`crate::DStream::transform`] gives user code the same API.

pub(crate) mod shuffle;
mod stable_hash;

use std::sync::Arc;

use crate::data::{Data, Key};
use crate::exec::{Executor, guard};
use crate::time::Time;

/// One partition: either elements already in memory, or a producer not yet run that pushes
/// every element into the sink it is given (a chain of fused narrow operators).
pub(crate) enum Part<T> {
    /// Materialized: taken as a whole by whoever needs a vector, without a copy.
    Ready(Vec<T>),
    /// Lazy: runs when its elements are needed; with their number when it is known ahead.
    Lazy(Box<dyn FnOnce(&mut dyn FnMut(T)) + Send>, Option<usize>),
}

impl<T> Part<T> {
    /// A lazy partition.
    pub(crate) fn lazy(produce: impl FnOnce(&mut dyn FnMut(T)) + Send + 'static) -> Self {
        Part::Lazy(Box::new(produce), None)
    }

    /// A lazy partition that produces exactly `len` elements (rows of groups taken out of a
    /// state, say): collected into a vector of that size, counted without being run.
    pub(crate) fn lazy_exact(len: usize, produce: impl FnOnce(&mut dyn FnMut(T)) + Send + 'static) -> Self {
        Part::Lazy(Box::new(produce), Some(len))
    }

    /// The number of elements, if known without running the partition.
    pub(crate) fn known_len(&self) -> Option<usize> {
        match self {
            Part::Ready(items) => Some(items.len()),
            Part::Lazy(_, len) => *len,
        }
    }

    /// Pushes every element into `emit`, a materialized partition's moved out whole (see
    /// [`HandOver`]).
    pub(crate) fn run(self, emit: &mut dyn FnMut(T)) {
        match self {
            Part::Ready(mut items) => items.drain(..).for_each(emit),
            Part::Lazy(produce, _) => produce(emit),
        }
    }

    /// The elements as a vector: moved if materialized, collected if lazy.
    pub(crate) fn into_vec(self) -> Vec<T> {
        match self {
            Part::Ready(items) => items,
            Part::Lazy(produce, len) => {
                let mut out = Vec::with_capacity(len.unwrap_or(0));
                produce(&mut |t| out.push(t));
                out
            }
        }
    }
}

/// The most records [`HandOver`] holds at once, unless told otherwise.
const HAND_OVER: usize = 64;

/// Hands records to the next operator out of a small reused buffer, a few at a time — the
/// records a `flat_map` makes from one record, the records a source decodes from one buffer of
/// input — rather than one by one as they are made.
///
/// Why: a record passed by value to the next operator through `&mut dyn FnMut(T)` is written
/// to the stack by the producer and read back by the consumer. An iterator's `next` writes a
/// `String` as its capacity (read apart, for the `None` check) then its pointer and length,
/// and the consumer copies it as 16 + 8 bytes: the 16-byte read spans two writes, so the CPU
/// cannot forward them and the read waits until every older instruction has retired —
/// including the previous record's hash-table probe, two cache misses. Each record then waits
/// for the last one's misses, none overlapped: the word count's probe cost 2.5× a loop's.
/// A record moved out of a buffer by `drain` is copied whole, in the same pieces the consumer
/// reads, and the misses of consecutive records overlap again.
pub(crate) struct HandOver<U> {
    buffer: Vec<U>,
    /// The most records held.
    limit: usize,
}

impl<U> Default for HandOver<U> {
    fn default() -> Self {
        HandOver::new(HAND_OVER)
    }
}

impl<U> HandOver<U> {
    /// A buffer that holds at most `limit` records (at least one).
    pub(crate) fn new(limit: usize) -> Self {
        HandOver {
            buffer: Vec::new(),
            limit: limit.max(1),
        }
    }

    /// Emits every record of `items`, in order. The iterator (user code) runs under the
    /// `flat_map` guard.
    pub(crate) fn emit_all(&mut self, items: impl IntoIterator<Item = U>, emit: &mut dyn FnMut(U)) {
        let mut items = items.into_iter();
        loop {
            guard("flat_map", || self.buffer.extend(items.by_ref().take(self.limit)));
            let more = self.buffer.len() == self.limit;
            self.flush(emit);
            if !more {
                return;
            }
        }
    }

    /// Keeps `record` for the next [`flush`](Self::flush), flushing first when full.
    pub(crate) fn push(&mut self, record: U, emit: &mut dyn FnMut(U)) {
        if self.buffer.len() >= self.limit {
            self.flush(emit);
        }
        self.buffer.push(record);
    }

    /// Emits the records kept, in order.
    pub(crate) fn flush(&mut self, emit: &mut dyn FnMut(U)) {
        for u in self.buffer.drain(..) {
            emit(u)
        }
    }
}

/// The data of a stream for one batch time, split into partitions (Spark's RDD).
///
/// User code meets batches in [`DStream::transform`](crate::DStream::transform) and
/// [`DStream::foreach_batch`](crate::DStream::foreach_batch). Transformations are lazy and
/// fuse; actions (`collect`, `count`, `foreach_partition` …) run the partitions in parallel on
/// the context's worker pool.
///
/// # Examples
///
/// ```
/// use streamflow::testing;
///
/// let out = testing::run_batches(vec![vec![1, 2, 3, 4]], |s| {
///     s.transform(|batch, _time| batch.filter(|x| x % 2 == 0).map(|x| x * 10))
/// }, 1);
/// assert_eq!(out, vec![vec![20, 40]]);
/// ```
pub struct Batch<T> {
    parts: Vec<Part<T>>,
    time: Time,
    exec: Arc<Executor>,
}

impl<T: Data> Batch<T> {
    /// A batch over materialized partitions.
    pub(crate) fn from_partitions(partitions: Vec<Vec<T>>, time: Time, exec: Arc<Executor>) -> Self {
        let parts = partitions.into_iter().map(Part::Ready).collect();
        Batch { parts, time, exec }
    }

    /// A batch over still-lazy partition producers (operators that wrap partitions themselves).
    pub(crate) fn from_parts(parts: Vec<Part<T>>, time: Time, exec: Arc<Executor>) -> Self {
        Batch { parts, time, exec }
    }

    /// The batch time this data belongs to.
    ///
    /// ```
    /// # use streamflow::testing;
    /// // `run_batches` runs one-second batches on a clock that starts at 0.
    /// let out = testing::run_batches(vec![vec!["a"], vec!["b"]], |s| {
    ///     s.transform(|batch, _| {
    ///         let millis = batch.time().millis();
    ///         batch.map(move |x| (x, millis))
    ///     })
    /// }, 2);
    /// assert_eq!(out, vec![vec![("a", 1_000)], vec![("b", 2_000)]]);
    /// ```
    pub fn time(&self) -> Time {
        self.time
    }

    /// The number of partitions.
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec![1, 2]], |s| {
    ///     s.transform(|batch, _| {
    ///         let batch = batch.repartition(3);
    ///         let n = batch.num_partitions();
    ///         batch.map(move |x| (x, n))
    ///     })
    /// }, 1);
    /// assert_eq!(testing::sorted(&out[0]), [(1, 3), (2, 3)]);
    /// ```
    pub fn num_partitions(&self) -> usize {
        self.parts.len()
    }

    /// A new batch at the same time, on the same worker pool, over `partitions`
    /// (Spark's `sc.parallelize` inside `transform`).
    ///
    /// ```
    /// use streamflow::testing;
    /// let out = testing::run_batches(vec![vec![1]], |s| {
    ///     s.transform(|batch, _| batch.with_partitions(vec![vec![7], vec![8, 9]]))
    /// }, 1);
    /// assert_eq!(out, vec![vec![7, 8, 9]]);
    /// ```
    pub fn with_partitions<U: Data>(&self, partitions: Vec<Vec<U>>) -> Batch<U> {
        Batch::from_partitions(partitions, self.time, self.exec.clone())
    }

    /// The same batch, adding to `counter` the number of its elements as they are produced
    /// (materialized partitions at once).
    pub(crate) fn counted(self, counter: Arc<std::sync::atomic::AtomicU64>) -> Batch<T> {
        use std::sync::atomic::Ordering;
        let parts = self
            .parts
            .into_iter()
            .map(|part| match part {
                Part::Ready(items) => {
                    counter.fetch_add(items.len() as u64, Ordering::Relaxed);
                    Part::Ready(items)
                }
                Part::Lazy(produce, len) => {
                    let counter = counter.clone();
                    let counting = move |emit: &mut dyn FnMut(T)| {
                        let mut n = 0_u64;
                        produce(&mut |t| {
                            n += 1;
                            emit(t)
                        });
                        counter.fetch_add(n, Ordering::Relaxed);
                    };
                    Part::Lazy(Box::new(counting), len)
                }
            })
            .collect();
        Batch {
            parts,
            time: self.time,
            exec: self.exec,
        }
    }

    pub(crate) fn executor(&self) -> &Arc<Executor> {
        &self.exec
    }

    pub(crate) fn into_parts(self) -> Vec<Part<T>> {
        self.parts
    }

    /// Wraps every partition's producer with `f`, which receives each element and a sink.
    /// This is the one place where narrow transformations are built, so they all fuse alike.
    fn push_through<U: Data>(self, f: impl Fn(T, &mut dyn FnMut(U)) + Send + Sync + 'static) -> Batch<U> {
        let f = Arc::new(f);
        self.wrap_parts(|part| {
            let f = f.clone();
            Part::lazy(move |emit: &mut dyn FnMut(U)| part.run(&mut |t| f(t, emit)))
        })
    }

    /// The same batch with every partition replaced by what `wrap` makes of it.
    fn wrap_parts<U>(self, wrap: impl FnMut(Part<T>) -> Part<U>) -> Batch<U> {
        Batch {
            parts: self.parts.into_iter().map(wrap).collect(),
            time: self.time,
            exec: self.exec,
        }
    }

    /// Applies `f` to every element.
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec![1, 2]], |s| s.transform(|b, _| b.map(|x| x + 1)), 1);
    /// assert_eq!(out, vec![vec![2, 3]]);
    /// ```
    pub fn map<U: Data>(self, f: impl Fn(T) -> U + Send + Sync + 'static) -> Batch<U> {
        // One element for one: a partition's known number of elements stays known.
        let lens: Vec<_> = self.parts.iter().map(Part::known_len).collect();
        let mut mapped = self.push_through(move |t, emit| emit(guard("map", || f(t))));
        for (part, len) in mapped.parts.iter_mut().zip(lens) {
            if let Part::Lazy(_, known) = part {
                *known = len;
            }
        }
        mapped
    }

    /// The number of elements, if every partition knows its own without being run.
    pub(crate) fn known_len(&self) -> Option<u64> {
        self.parts.iter().map(|p| p.known_len().map(|n| n as u64)).sum()
    }

    /// Keeps the elements for which `f` is true.
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec![1, 2, 3]], |s| s.transform(|b, _| b.filter(|x| *x != 2)), 1);
    /// assert_eq!(out, vec![vec![1, 3]]);
    /// ```
    pub fn filter(self, f: impl Fn(&T) -> bool + Send + Sync + 'static) -> Batch<T> {
        self.push_through(move |t, emit| {
            if guard("filter", || f(&t)) {
                emit(t)
            }
        })
    }

    /// Replaces every element by the elements `f` returns for it.
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec![2, 3]], |s| s.transform(|b, _| b.flat_map(|x| 0..x)), 1);
    /// assert_eq!(out, vec![vec![0, 1, 0, 1, 2]]);
    /// ```
    pub fn flat_map<U: Data, I>(self, f: impl Fn(T) -> I + Send + Sync + 'static) -> Batch<U>
    where
        I: IntoIterator<Item = U>,
    {
        let f = Arc::new(f);
        self.wrap_parts(|part| {
            let f = f.clone();
            Part::lazy(move |emit: &mut dyn FnMut(U)| {
                let mut out = HandOver::default();
                part.run(&mut |t| out.emit_all(guard("flat_map", || f(t)), emit))
            })
        })
    }

    /// Replaces each partition by what `f` makes of all its elements at once.
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec![1, 2, 3]], |s| {
    ///     s.transform(|b, _| b.map_partitions(|it| std::iter::once(it.sum::<i32>())))
    /// }, 1);
    /// assert_eq!(out[0].iter().sum::<i32>(), 6);
    /// ```
    pub fn map_partitions<U: Data, I>(
        self,
        f: impl Fn(std::vec::IntoIter<T>) -> I + Send + Sync + 'static,
    ) -> Batch<U>
    where
        I: IntoIterator<Item = U>,
    {
        let f = Arc::new(f);
        self.wrap_parts(|part| {
            let f = f.clone();
            Part::lazy(move |emit: &mut dyn FnMut(U)| {
                let items = part.into_vec();
                for u in guard("map_partitions", || f(items.into_iter())) {
                    emit(u)
                }
            })
        })
    }

    /// Turns each partition into one element: the vector of its elements.
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec![1, 2, 3]], |s| s.transform(|b, _| b.glom()), 1);
    /// // The test input is split over the two workers in order.
    /// assert_eq!(out, vec![vec![vec![1], vec![2, 3]]]);
    /// ```
    pub fn glom(self) -> Batch<Vec<T>> {
        let parts = self
            .parts
            .into_iter()
            .map(|part| Part::lazy(move |emit: &mut dyn FnMut(Vec<T>)| emit(part.into_vec())))
            .collect();
        Batch {
            parts,
            time: self.time,
            exec: self.exec,
        }
    }

    /// The partitions of `self` followed by those of `other`.
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec![1, 2]], |s| {
    ///     s.transform(|batch, _| {
    ///         let extra = batch.with_partitions(vec![vec![9]]);
    ///         batch.union(extra)
    ///     })
    /// }, 1);
    /// assert_eq!(out, vec![vec![1, 2, 9]]);
    /// ```
    pub fn union(mut self, other: Batch<T>) -> Batch<T> {
        self.parts.extend(other.parts);
        self
    }

    /// Redistributes the elements round-robin into exactly `num_partitions` partitions
    /// (at least one).
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![(1..=6).collect::<Vec<_>>()], |s| {
    ///     s.transform(|batch, _| batch.repartition(3).glom().map(|part| part.len()))
    /// }, 1);
    /// assert_eq!(out, vec![vec![2, 2, 2]]);
    /// ```
    pub fn repartition(self, num_partitions: usize) -> Batch<T> {
        let n = num_partitions.max(1);
        let exec = self.exec.clone();
        let time = self.time;
        let scattered: Vec<Vec<Vec<T>>> =
            exec.run(self.parts.into_iter().enumerate().collect(), |(i, part)| {
                let mut buckets: Vec<Vec<T>> = (0..n).map(|_| Vec::new()).collect();
                let mut next = i % n;
                part.run(&mut |t| {
                    buckets[next].push(t);
                    next = (next + 1) % n;
                });
                buckets
            });
        Batch::from_partitions(transpose(scattered, n), time, exec)
    }

    /// Runs the partitions and returns them as vectors (an action).
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// t.input(vec![vec![1, 2, 3, 4]])
    ///     .foreach_batch(move |batch, _time| tx.send(batch.collect_partitions()).unwrap());
    /// t.run(1)?;
    /// // The test input is split over the two workers in order.
    /// assert_eq!(rx.recv().unwrap(), vec![vec![1, 2], vec![3, 4]]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn collect_partitions(self) -> Vec<Vec<T>> {
        self.exec.clone().run(self.parts, Part::into_vec)
    }

    /// Runs the partitions and returns every element, partition after partition (an action).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use streamflow::{testing::TestContext, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let sink = seen.clone();
    /// t.input(vec![vec![3, 1, 2]])
    ///     .foreach_batch(move |batch, _time| sink.lock().unwrap().extend(batch.collect()));
    /// t.run(1)?;
    /// let mut all = seen.lock().unwrap().clone();
    /// all.sort();
    /// assert_eq!(all, vec![1, 2, 3]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn collect(self) -> Vec<T> {
        // Lazy partitions that know their number of elements (an aggregation's rows) are run
        // one after the other straight into one vector of the batch's size: no partition's
        // vector is held beside the whole.
        let lazy = self.parts.iter().any(|p| matches!(p, Part::Lazy(..)));
        if let (true, Some(total)) = (lazy, self.known_len()) {
            let mut all = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
            for part in self.parts {
                part.run(&mut |t| all.push(t));
            }
            return all;
        }
        // The first partition's vector grown once to hold them all, each other one moved in
        // and freed in turn: never a second copy of the whole batch.
        let parts = self.collect_partitions();
        let total: usize = parts.iter().map(Vec::len).sum();
        let mut parts = parts.into_iter();
        let mut all = parts.next().unwrap_or_default();
        all.reserve_exact(total - all.len());
        parts.for_each(|part| all.extend(part));
        all
    }

    /// Counts the elements, in parallel (an action).
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// t.input(vec![vec!["a", "b", "c"], vec![]])
    ///     .foreach_batch(move |batch, _time| tx.send(batch.count()).unwrap());
    /// t.run(2)?;
    /// assert_eq!(rx.try_iter().collect::<Vec<u64>>(), [3, 0]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn count(self) -> u64 {
        self.exec
            .clone()
            .run(self.parts, |part| {
                let mut n = 0_u64;
                part.run(&mut |_| n += 1);
                n
            })
            .into_iter()
            .sum()
    }

    /// The first `n` elements in partition order (an action).
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// t.input(vec![vec![5, 6, 7]])
    ///     .foreach_batch(move |batch, _time| tx.send(batch.take(2)).unwrap());
    /// t.run(1)?;
    /// assert_eq!(rx.recv().unwrap(), vec![5, 6]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn take(self, n: usize) -> Vec<T> {
        let mut out = Vec::with_capacity(n.min(1024));
        for part in self.parts {
            if out.len() >= n {
                break;
            }
            part.run(&mut |t| {
                if out.len() < n {
                    out.push(t)
                }
            });
        }
        out
    }

    /// Runs `f` once per partition, in parallel on the worker pool, with that partition's
    /// elements — the place to open one connection per partition, never one per record.
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// t.input(vec![vec![1, 2, 3, 4]]).foreach_batch(move |batch, _time| {
    ///     // One message per partition, e.g. one write per connection.
    ///     batch.foreach_partition(|part| tx.send(part.sum::<i32>()).unwrap())
    /// });
    /// t.run(1)?;
    /// let mut sums: Vec<i32> = rx.try_iter().collect();
    /// sums.sort();
    /// assert_eq!(sums, [3, 7]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn foreach_partition(self, f: impl Fn(std::vec::IntoIter<T>) + Send + Sync) {
        self.exec.clone().run(self.parts, |part| {
            guard("foreach_partition", || f(part.into_vec().into_iter()))
        });
    }

    /// Runs `f` on every element, in parallel (an action).
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// t.input(vec![vec![1, 2, 3]])
    ///     .foreach_batch(move |batch, _time| batch.foreach(|x| tx.send(x * 10).unwrap()));
    /// t.run(1)?;
    /// let mut seen: Vec<i32> = rx.try_iter().collect();
    /// seen.sort();
    /// assert_eq!(seen, [10, 20, 30]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn foreach(self, f: impl Fn(T) + Send + Sync) {
        self.exec
            .clone()
            .run(self.parts, |part| part.run(&mut |t| guard("foreach", || f(t))));
    }

    /// Reduces all elements with `f`; `None` when the batch is empty (an action).
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// t.input(vec![vec![1, 2, 3, 4]])
    ///     .foreach_batch(move |batch, _time| tx.send(batch.reduce_all(|a, b| a + b)).unwrap());
    /// t.run(2)?; // the second batch is empty
    /// assert_eq!(rx.try_iter().collect::<Vec<_>>(), [Some(10), None]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn reduce_all(self, f: impl Fn(T, T) -> T + Send + Sync) -> Option<T> {
        let partials = self.exec.clone().run(self.parts, |part| {
            let mut acc: Option<T> = None;
            part.run(&mut |t| {
                acc = Some(match acc.take() {
                    Some(a) => guard("reduce", || f(a, t)),
                    None => t,
                })
            });
            acc
        });
        partials
            .into_iter()
            .flatten()
            .reduce(|a, b| guard("reduce", || f(a, b)))
    }

    /// A one-partition batch with the number of elements: `[0]` for an empty batch
    /// (Spark's `DStream.count`).
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec!["a", "b", "c"]], |s| s.transform(|b, _| b.count_batch()), 2);
    /// assert_eq!(out, vec![vec![3], vec![0]]);
    /// ```
    pub fn count_batch(self) -> Batch<u64> {
        let (time, exec) = (self.time, self.exec.clone());
        let n = self.count();
        Batch::from_partitions(vec![vec![n]], time, exec)
    }

    /// A batch with the reduction of all elements, or no element when empty
    /// (Spark's `DStream.reduce`).
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec![3, 9, 4]], |s| s.transform(|b, _| b.reduce(i32::max)), 2);
    /// assert_eq!(out, vec![vec![9], vec![]]);
    /// ```
    pub fn reduce(self, f: impl Fn(T, T) -> T + Send + Sync) -> Batch<T> {
        let (time, exec) = (self.time, self.exec.clone());
        let reduced = self.reduce_all(f);
        Batch::from_partitions(vec![reduced.into_iter().collect()], time, exec)
    }
}

impl<T: Key> Batch<T> {
    /// Each distinct element with how often it occurs (Spark's `countByValue`).
    ///
    /// ```
    /// # use streamflow::testing;
    /// let out = testing::run_batches(vec![vec!["a", "b", "a"]], |s| {
    ///     s.transform(|b, _| b.count_by_value())
    /// }, 1);
    /// assert_eq!(testing::sorted(&out[0]), [("a", 2), ("b", 1)]);
    /// ```
    pub fn count_by_value(self) -> Batch<(T, u64)> {
        let n = self.exec.parallelism();
        self.map(|t| (t, 1_u64)).reduce_by_key_into(|a, b| a + b, n)
    }
}

/// `items` split into `n` (at least one) nearly equal consecutive partitions.
pub(crate) fn split_evenly<T>(mut items: Vec<T>, n: usize) -> Vec<Vec<T>> {
    let n = n.max(1);
    let len = items.len();
    let mut parts = Vec::with_capacity(n);
    for i in (0..n).rev() {
        let start = len * i / n;
        parts.push(items.split_off(start));
    }
    parts.reverse();
    parts
}

/// Regroups `rows[mapper][reducer]` into `[reducer]` partitions, concatenating mappers in order.
pub(crate) fn transpose<T>(rows: Vec<Vec<Vec<T>>>, n: usize) -> Vec<Vec<T>> {
    let mut out: Vec<Vec<T>> = (0..n).map(|_| Vec::new()).collect();
    for row in rows {
        for (r, bucket) in row.into_iter().enumerate() {
            if out[r].is_empty() {
                out[r] = bucket;
            } else {
                out[r].extend(bucket);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_evenly_keeps_order_and_count() {
        let parts = split_evenly((0..10).collect::<Vec<_>>(), 3);
        assert_eq!(parts, vec![vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8, 9]]);
        assert_eq!(
            split_evenly(Vec::<i32>::new(), 2),
            vec![Vec::<i32>::new(), vec![]]
        );
    }

    /// A `flat_map` hands its records on through a buffer of `HAND_OVER`: every record, in
    /// order, for any number per input record around the buffer's size.
    #[test]
    fn flat_map_hands_on_every_record_in_order() {
        let sizes = [
            0,
            1,
            2,
            HAND_OVER - 1,
            HAND_OVER,
            HAND_OVER + 1,
            3 * HAND_OVER + 5,
            0,
            7,
        ];
        let mut out = Vec::new();
        let mut handed = HandOver::default();
        let mut expected = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let items: Vec<String> = (0..n).map(|j| format!("{i}-{j}")).collect();
            expected.extend(items.iter().cloned());
            handed.emit_all(items, &mut |s| out.push(s));
        }
        assert_eq!(out, expected);
        assert!(handed.buffer.is_empty());
    }

    /// A lazy iterator is read as far as it goes, even one longer than the buffer, and
    /// whatever comes out of it is dropped exactly once (no leak, no double drop).
    #[test]
    fn hand_over_reads_lazy_iterators_to_their_end() {
        let counter = std::rc::Rc::new(());
        let mut handed = HandOver::default();
        let mut seen = 0;
        handed.emit_all((0..1000).map(|_| counter.clone()), &mut |_| seen += 1);
        assert_eq!(seen, 1000);
        assert_eq!(std::rc::Rc::strong_count(&counter), 1);
    }

    /// Lazy partitions that know their length are counted without being run, keep it through
    /// `map`, and are collected into one vector in partition order.
    #[test]
    fn a_known_length_is_kept_through_map_and_collect() -> crate::error::Result<()> {
        let exec = Arc::new(Executor::new(2, "test")?);
        let parts = vec![
            Part::lazy_exact(3, |emit: &mut dyn FnMut(i32)| (0..3).for_each(emit)),
            Part::Ready(vec![10, 11]),
        ];
        let batch = Batch::from_parts(parts, Time::from_millis(0), exec.clone());
        assert_eq!(batch.known_len(), Some(5));
        let mapped = batch.map(|x| x * 2);
        assert_eq!(mapped.known_len(), Some(5));
        assert_eq!(mapped.collect(), [0, 2, 4, 20, 22]);
        let unknown = Batch::from_parts(
            vec![Part::lazy(|emit: &mut dyn FnMut(i32)| emit(1))],
            Time::from_millis(0),
            exec,
        );
        assert_eq!(unknown.filter(|_| true).known_len(), None);
        Ok(())
    }
}
