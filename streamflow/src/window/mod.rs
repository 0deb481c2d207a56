//! Windows, for both vocabularies: windows over batches (Spark's windowed DStream operations,
//! here and in `reduce.rs`), event-time windows of a Structured query (`event_time.rs`:
//! tumbling, sliding and session windows, which an aggregation groups by), and the rules both
//! kinds' durations must follow (`rules.rs`, shared with the `#[stream_job]` macro).
//!
//! # Windows over batches
//!
//! A window of length `len` sliding every `slide` turns a stream into one whose batch at time
//! `t` holds every batch of the parent with a time in `(t − len, t]`. It produces a batch only
//! at the times where `t − zero` is a multiple of `slide`, beginning with the first such time —
//! before the window is full, when it covers fewer batches. Both durations must be multiples of
//! the parent's slide (the batch interval, for a stream that is not windowed yet); anything else
//! is reported by `start()`, saying by how much the value is off.
//!
//! | operator | what it produces at each window time |
//! |---|---|
//! | [`window`](DStream::window) | every element of the covered batches |
//! | [`count_by_window`](DStream::count_by_window) | the number of those elements |
//! | [`reduce_by_window`](DStream::reduce_by_window) | their reduction |
//! | [`reduce_by_window_inv`](DStream::reduce_by_window_inv) | the same, computed incrementally |
//! | [`count_by_value_and_window`](DStream::count_by_value_and_window) | each distinct element with its count |
//! | [`reduce_by_key_and_window`](DStream::reduce_by_key_and_window) | per key, the reduction of its values |
//! | [`reduce_by_key_and_window_inv`](DStream::reduce_by_key_and_window_inv) | the same, incrementally, with a filter |
//! | [`group_by_key_and_window`](DStream::group_by_key_and_window) | per key, all of its values |
//!
//! **Plain or incremental.** A plain window re-reads every covered batch at each window time:
//! the per-batch work is done once (each batch is reduced when it arrives and kept), the
//! window then merges `len / slide`-many small results. An *incremental* window (the `_inv`
//! operators, Spark's `ReducedWindowedDStream`) keeps the previous window's result per key in
//! a [state store](crate::state) and updates it: previous window ⊕ entering batches ⊖
//! leaving batches. That costs two batches of work however long the window is, needs an
//! inverse function, and — because it keeps state — a checkpoint directory. A key whose value
//! goes back to the identity stays in the output (`("a", 0)`) unless the filter drops it.
//!
//! **Memory.** A window makes its parent keep the batches it will read again (`remember`):
//! `len` for a plain window, `len + slide` for an incremental one (the leaving batches), and
//! nothing older — batches are dropped as soon as no window can need them. Further up, the
//! sources (and stateful operators) keep only what the parent may still have to compute: with a
//! slide of one batch, nothing but the current batch.

pub(crate) mod event_time;
mod reduce;
pub(crate) mod rules;

use reduce::Incremental;

use std::sync::Arc;

use crate::batch::Batch;
use crate::data::{Data, Key, StateData};
use crate::dstream::DStream;
use crate::graph::{Graph, GraphClock, NodeKind};
use crate::time::{Duration, IntoDuration, Time};
use rules::{Part, Unit};

/// A checked window length and slide.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub(crate) len: Duration,
    pub(crate) slide: Duration,
}

/// The times of a stream stepping by `step` that lie in `(end − span, end]` and after `zero`,
/// oldest first. `end` must be one of those times.
pub(crate) fn covered_times(end: Time, span: Duration, step: Duration, zero: Time) -> Vec<Time> {
    let mut times = Vec::new();
    let mut time = end;
    while time > zero && end - time < span.millis() as i64 {
        times.push(time);
        if step.is_zero() {
            break;
        }
        time = time - step;
    }
    times.reverse();
    times
}

/// Whether node `id` reads, directly or not, from a stateful node. Such a node must be computed
/// at every one of its times, in order, so a window over it reads its skipped batches too.
fn reads_state(graph: &Graph, id: usize) -> bool {
    let mut seen = vec![false; graph.metas.len()];
    let mut pending = vec![id];
    while let Some(node) = pending.pop() {
        if std::mem::replace(&mut seen[node], true) {
            continue;
        }
        let meta = &graph.metas[node];
        if meta.kind == NodeKind::Stateful {
            return true;
        }
        pending.extend(meta.parents.iter().copied());
    }
    false
}

/// The node upstream of `id` (or `id` itself) that set its slide: the nearest one whose slide
/// differs from its first parent's. Other operators keep the slide of what they read.
fn slide_set_by(graph: &Graph, id: usize) -> &str {
    let mut meta = &graph.metas[id];
    while let Some(&parent) = meta.parents.first() {
        let parent = &graph.metas[parent];
        if parent.slide != meta.slide {
            break;
        }
        meta = parent;
    }
    &meta.name
}

impl<T: Data> DStream<T> {
    /// Checks a window length and slide against this stream's slide, recording every mistake
    /// for `start()`. A rejected value is replaced by a usable one so the graph still builds.
    pub(crate) fn window_geometry(
        &self,
        operator: &str,
        len: impl IntoDuration,
        slide: impl IntoDuration,
    ) -> Geometry {
        Geometry {
            len: self.checked_window_duration(operator, Part::Length, len.into_duration()),
            slide: self.checked_window_duration(operator, Part::Slide, slide.into_duration()),
        }
    }

    /// The rule and its words are shared with `#[stream_job]` (`window/rules.rs`).
    fn checked_window_duration(
        &self,
        operator: &str,
        what: Part,
        duration: crate::Result<Duration>,
    ) -> Duration {
        let parent = self.slide_duration();
        let d = match duration {
            Ok(d) => d,
            Err(e) => {
                self.ssc
                    .defer_error(format!("`{operator}`: {}: {e}", what.label()));
                return parent;
            }
        };
        let set_by = (parent != self.ssc.batch_duration())
            .then(|| slide_set_by(&self.ssc.inner.lock_graph(), self.node.meta.id).to_owned());
        let unit = match &set_by {
            None => Unit::BatchInterval(parent.millis()),
            Some(window) => Unit::SlideOf {
                ms: parent.millis(),
                window,
            },
        };
        match rules::multiple_of_unit(what, d.millis(), unit) {
            Ok(()) => d,
            Err(violation) => {
                self.ssc.defer_error(format!("`{operator}`: {violation}"));
                // The next multiple up (the unit itself for zero).
                Duration::from_millis((d.millis() / parent.millis() + 1) * parent.millis())
            }
        }
    }

    /// The graph clock (zero time) and whether this stream reads from a stateful node.
    pub(crate) fn window_context(&self) -> (Arc<GraphClock>, bool) {
        let graph = self.ssc.inner.lock_graph();
        (graph.clock.clone(), reads_state(&graph, self.node.meta.id))
    }

    /// Makes this stream keep `reach` worth of batches, which a window over it reads again.
    pub(crate) fn keep_for_window(&self, reach: Duration) {
        self.node.remember(reach);
    }

    /// Registers `window` (a node reading this stream back `reach`) so that the nodes further
    /// up keep the batches it will make this stream compute late.
    pub(crate) fn register_window<U>(&self, window: &DStream<U>, reach: Duration) {
        self.ssc
            .inner
            .lock_graph()
            .remember_for_window(window.node.meta.id, reach);
    }

    /// The window node itself, named after the operator that asked for it.
    pub(crate) fn window_named(
        &self,
        name: &str,
        len: impl IntoDuration,
        slide: impl IntoDuration,
    ) -> DStream<T> {
        let geometry = self.window_geometry(name, len, slide);
        let (clock, reads_state) = self.window_context();
        // A stateful node upstream must see every batch time; with a window shorter than its
        // slide, the batches between two windows are read (and dropped) for its sake.
        let reach = if reads_state {
            geometry.len.max(geometry.slide)
        } else {
            geometry.len
        };
        self.keep_for_window(reach);
        let parent = self.clone();
        let parent_slide = self.slide_duration();
        let exec = self.ssc.inner.exec.clone();
        let window = self.add_node(
            name,
            NodeKind::Window,
            vec![self.node.meta.clone()],
            geometry.slide,
            move |time| {
                let mut window: Option<Batch<T>> = None;
                for covered in covered_times(time, reach, parent_slide, clock.zero()) {
                    let batch = parent.batch_at(covered)?;
                    if time - covered >= geometry.len.millis() as i64 {
                        continue;
                    }
                    if let Some(batch) = batch {
                        window = Some(match window {
                            Some(acc) => acc.union(batch),
                            None => batch,
                        });
                    }
                }
                Ok(Some(window.unwrap_or_else(|| {
                    Batch::from_partitions(vec![Vec::new()], time, exec.clone())
                })))
            },
        );
        self.register_window(&window, reach);
        window
    }

    /// A stream whose batch at time `t` holds every element of this stream's batches with times
    /// in `(t − len, t]`, produced every `slide` (Spark's `window`). Both durations are
    /// [`Duration`]s, `std::time::Duration`s or strings like `"30s"`, and must be multiples of
    /// this stream's slide (the batch interval); `start()` reports any that is not.
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::testing::run_batches;
    ///
    /// // Batches of one second; a window of 3 s sliding every 2 s: outputs at 2 s and 4 s.
    /// let out = run_batches(vec![vec![1], vec![2], vec![3], vec![4]], |s| s.window("3s", "2s"), 4);
    /// assert_eq!(out, vec![vec![1, 2], vec![2, 3, 4]]);
    /// ```
    pub fn window(&self, len: impl IntoDuration, slide: impl IntoDuration) -> DStream<T> {
        self.window_named("window", len, slide)
    }

    /// The number of elements in each window, one element per window time, `0` for an empty
    /// window (Spark's `countByWindow`). Each batch is counted once, when it arrives; the
    /// window adds the counts, so no checkpoint directory is needed.
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::testing::run_batches;
    ///
    /// let out = run_batches(vec![vec!["a", "b"], vec![], vec!["c"]], |s| s.count_by_window("2s", "1s"), 3);
    /// assert_eq!(out, vec![vec![2], vec![2], vec![1]]);
    /// ```
    pub fn count_by_window(&self, len: impl IntoDuration, slide: impl IntoDuration) -> DStream<u64> {
        self.count()
            .window_named("count_by_window", len, slide)
            .reduce(|a, b| a + b)
    }

    /// The reduction by `f` of all elements in each window; nothing for an empty window
    /// (Spark's `reduceByWindow`). Each batch is reduced once, when it arrives; the window
    /// reduces those partial results.
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::testing::run_batches;
    ///
    /// let out = run_batches(vec![vec![1, 2], vec![3], vec![]], |s| s.reduce_by_window(|a, b| a + b, "2s", "1s"), 3);
    /// assert_eq!(out, vec![vec![3], vec![6], vec![3]]);
    /// ```
    pub fn reduce_by_window(
        &self,
        f: impl Fn(T, T) -> T + Send + Sync + 'static,
        len: impl IntoDuration,
        slide: impl IntoDuration,
    ) -> DStream<T> {
        let f = Arc::new(f);
        let g = f.clone();
        self.reduce(move |a, b| f(a, b))
            .window_named("reduce_by_window", len, slide)
            .reduce(move |a, b| g(a, b))
    }

    /// [`reduce_by_window`](Self::reduce_by_window) computed incrementally: the previous
    /// window's value, plus the batches that entered (with `f`), minus the batches that left
    /// (with `inv`, the inverse of `f`: `inv(f(a, b), b) == a`). Once the stream had data, every
    /// window has a value — the identity when everything left. Needs a checkpoint directory.
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let dir = tempfile::tempdir()?;
    /// t.context().checkpoint(dir.path())?;
    /// let sums = t.collect(
    ///     &t.input(vec![vec![1, 2], vec![3], vec![], vec![]])
    ///         .reduce_by_window_inv(|a, b| a + b, |a, b| a - b, "2s", "1s"),
    /// );
    /// t.run(4)?;
    /// assert_eq!(sums.batches(), vec![vec![3], vec![6], vec![3], vec![0]]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reduce_by_window_inv(
        &self,
        f: impl Fn(T, T) -> T + Send + Sync + 'static,
        inv: impl Fn(T, T) -> T + Send + Sync + 'static,
        len: impl IntoDuration,
        slide: impl IntoDuration,
    ) -> DStream<T>
    where
        T: StateData,
    {
        let functions = Incremental {
            reduce: Arc::new(f),
            inverse: Arc::new(inv),
            keep: None,
        };
        self.map(|t| ((), t))
            .incremental_window("reduce_by_window", functions, len, slide, 1)
            .map(|((), t)| t)
    }

    /// Each distinct element of the window with its number of occurrences (Spark's
    /// `countByValueAndWindow`). Computed incrementally — counts of entering batches added,
    /// of leaving batches subtracted — and elements whose count drops to zero are left out.
    /// Needs a checkpoint directory.
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::{testing::{sorted, TestContext}, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let dir = tempfile::tempdir()?;
    /// t.context().checkpoint(dir.path())?;
    /// let words = |ws: &[&str]| ws.iter().map(|w| w.to_string()).collect::<Vec<_>>();
    /// let input = t.input(vec![words(&["a", "b", "a"]), words(&["b"]), vec![]]);
    /// let counts = t.collect(&input.count_by_value_and_window("2s", "1s"));
    /// t.run(3)?;
    /// let out: Vec<_> = counts.batches().iter().map(|b| sorted(b)).collect();
    /// let counted = |cs: &[(&str, u64)]| cs.iter().map(|(w, n)| (w.to_string(), *n)).collect::<Vec<_>>();
    /// assert_eq!(out, [counted(&[("a", 2), ("b", 1)]), counted(&[("a", 2), ("b", 2)]), counted(&[("b", 1)])]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn count_by_value_and_window(
        &self,
        len: impl IntoDuration,
        slide: impl IntoDuration,
    ) -> DStream<(T, u64)>
    where
        T: Key + StateData,
    {
        let n = self.ssc.parallelism();
        let functions = Incremental {
            reduce: Arc::new(|a, b| a + b),
            inverse: Arc::new(|a, b| a - b),
            keep: Some(Arc::new(|(_, count): &(T, u64)| *count != 0)),
        };
        self.map(|t| (t, 1_u64))
            .incremental_window("count_by_value_and_window", functions, len, slide, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestContext;

    #[test]
    fn covered_times_are_the_half_open_window() {
        let ms = Time::from_millis;
        let s = Duration::seconds;
        assert_eq!(
            covered_times(ms(5_000), s(3), s(1), ms(0)),
            vec![ms(3_000), ms(4_000), ms(5_000)]
        );
        // Before the window is full: only times after zero.
        assert_eq!(
            covered_times(ms(2_000), s(3), s(1), ms(0)),
            vec![ms(1_000), ms(2_000)]
        );
        assert_eq!(
            covered_times(ms(6_000), s(4), s(2), ms(0)),
            vec![ms(4_000), ms(6_000)]
        );
        assert!(covered_times(ms(0), s(3), s(1), ms(0)).is_empty());
    }

    /// The batches a window's parent stores stay within the window: nothing older is kept.
    #[test]
    fn window_parent_forgets_batches_no_window_needs() -> crate::Result<()> {
        let t = TestContext::new(Duration::seconds(1), 2)?;
        let source = t.input((0..20).map(|i| vec![i]).collect());
        let parent = source.map(|x| x * 2);
        let counts = t.collect(&parent.window("3s", "1s").count());
        t.start()?;
        t.advance_batches(20)?;
        let at = |s: i64| Time::from_millis(s * 1_000);
        for node in [&parent.node.meta, &source.node.meta] {
            assert!(node.memoizes(), "{} should store its batches", node.name);
        }
        // After batch 20, only (17 s, 20 s] can be read again.
        for s in 1..=17 {
            assert_eq!(
                parent.node.stored_len(at(s)),
                None,
                "batch {s} s of the parent leaked"
            );
            assert_eq!(
                source.node.stored_len(at(s)),
                None,
                "batch {s} s of the source leaked"
            );
        }
        for s in 18..=20 {
            assert_eq!(parent.node.stored_len(at(s)), Some(1));
        }
        assert_eq!(counts.batches().len(), 20);
        assert!(counts.batches()[2..].iter().all(|b| b == &vec![3]));
        t.context().stop(false)
    }
}
