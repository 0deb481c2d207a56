//! The operator graph: one node per DStream, computed per batch time.
//!
//! A node knows its parents, its slide, and how to compute its batch for a batch time (Spark's
//! `DStream.compute(time)`). Its compute function is a closure over its parents, so the typed
//! API can build any node without a type per operator; windows and state keep their logic in
//! their own modules and hand the graph a closure.
//!
//! A node keeps the batches it computed (memoizes them) when more than one consumer reads it,
//! when a window needs its past batches (`remember`), when the user asked to `persist` it, or
//! when it must run exactly once per batch time (sources and stateful operators). Otherwise
//! it hands its still-lazy batch straight to its one consumer, which is what makes a chain of
//! stateless operators run as one pass. A source that can read a range again (files, rate),
//! read by one consumer and no window, runs once per batch time but hands its batch on still
//! lazy too, its records counted as they are read (`NodeMeta::hands_on_lazily`).

mod explain;

pub(crate) use explain::explain;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use crate::batch::Batch;
use crate::data::Data;
use crate::error::{Error, Result};
use crate::exec::Executor;
use crate::time::{Duration, Time};

/// What a node does, for planning and for `explain()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeKind {
    /// Reads data from outside; computed first, once per batch.
    Source,
    /// Map-like: fuses with its parent and its consumer.
    Stateless,
    /// Redistributes by key or combines a whole batch: ends a fused stage.
    Shuffle,
    /// Reads several past batches of its parent.
    Window,
    /// Keeps state across batches: computed once per batch time, in order.
    Stateful,
}

impl NodeKind {
    fn always_memoized(self) -> bool {
        matches!(self, NodeKind::Source | NodeKind::Stateful)
    }
}

/// The type-independent description of a node.
pub(crate) struct NodeMeta {
    pub(crate) id: usize,
    pub(crate) name: String,
    pub(crate) kind: NodeKind,
    pub(crate) parents: Vec<usize>,
    pub(crate) slide: Duration,
    consumers: AtomicUsize,
    remember_ms: AtomicU64,
    /// For a window node: how far back it reads its parent (0 for other nodes).
    window_reach_ms: AtomicU64,
    persisted: AtomicBool,
    /// A source node whose batches may be read again (files, rate): with one reader and no
    /// window over it, it hands its batch on still lazy, read as it is consumed.
    replayable_source: AtomicBool,
}

impl NodeMeta {
    pub(crate) fn consumers(&self) -> usize {
        self.consumers.load(Ordering::Relaxed)
    }

    pub(crate) fn add_consumer(&self) {
        self.consumers.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether this node materializes its batches (and so ends a fused stage for readers).
    /// Whether the batch is handed to its one reader still lazy — read where it is consumed,
    /// never held whole — while the node still runs once per batch (to count its records).
    /// A stateful node's batch is its output after the state changed, which no later read
    /// needs again: an aggregation's rows are made from groups it took out of its state.
    fn hands_on_lazily(&self) -> bool {
        (self.kind == NodeKind::Stateful
            || self.kind == NodeKind::Source && self.replayable_source.load(Ordering::Relaxed))
            && self.consumers() == 1
            && self.remember_ms.load(Ordering::Relaxed) == 0
            && !self.persisted.load(Ordering::Relaxed)
    }

    /// Marks a source node whose source reads the same records for the same range again.
    pub(crate) fn set_replayable_source(&self) {
        self.replayable_source.store(true, Ordering::Relaxed);
    }

    pub(crate) fn memoizes(&self) -> bool {
        self.kind.always_memoized()
            || self.consumers() > 1
            || self.remember_ms.load(Ordering::Relaxed) > 0
            || self.persisted.load(Ordering::Relaxed)
    }
}

/// Settings every node needs at compute time, fixed when the context starts.
pub(crate) struct GraphClock {
    /// The batch interval of a DStream graph; a query's graph has none (its batches come when
    /// its trigger fires, and every node has a batch in every one of them).
    pub(crate) interval: Option<Duration>,
    zero: OnceLock<Time>,
}

impl GraphClock {
    pub(crate) fn new(interval: Option<Duration>) -> Self {
        GraphClock {
            interval,
            zero: OnceLock::new(),
        }
    }

    pub(crate) fn set_zero(&self, zero: Time) {
        let _ = self.zero.set(zero);
    }

    /// The zero time (start time minus one batch interval); the epoch before start.
    pub(crate) fn zero(&self) -> Time {
        self.zero.get().copied().unwrap_or_default()
    }
}

/// A batch a node keeps: shared by its readers, taken by the last one.
struct Stored<T> {
    /// `None` once the last reader took it.
    partitions: Option<Arc<Vec<Vec<T>>>>,
    /// A batch handed on lazily (`NodeMeta::hands_on_lazily`) until its reader takes it,
    /// with the count of its elements so far, which grows as the reader consumes it.
    lazy: Option<(Option<Batch<T>>, Arc<AtomicU64>)>,
    /// Readers that have not read it yet in this batch.
    reads_left: usize,
    /// The number of elements, for metrics.
    len: u64,
}

type ComputeFn<T> = Box<dyn Fn(Time) -> Result<Option<Batch<T>>> + Send + Sync>;

/// A node of the graph carrying elements of type `T`.
pub(crate) struct Node<T> {
    pub(crate) meta: Arc<NodeMeta>,
    compute: ComputeFn<T>,
    memo: Mutex<BTreeMap<Time, Stored<T>>>,
    clock: Arc<GraphClock>,
    exec: Arc<Executor>,
}

impl<T: Data> Node<T> {
    /// Whether `time` is one at which this node produces a batch (a multiple of its slide).
    pub(crate) fn is_valid_time(&self, time: Time) -> bool {
        match self.clock.interval {
            None => true,
            Some(_) => time > self.clock.zero() && time.is_multiple_of(self.clock.zero(), self.meta.slide),
        }
    }

    /// The batch at `time`, computing it if needed; `None` if the node produces nothing then.
    ///
    /// A memoized batch is handed to its last reader without a copy (earlier readers get a
    /// copy), unless a window needs it later (`remember`).
    pub(crate) fn get_or_compute(&self, time: Time) -> Result<Option<Batch<T>>> {
        if !self.is_valid_time(time) {
            return Ok(None);
        }
        if !self.stored(time) {
            let Some(batch) = (self.compute)(time)? else {
                return Ok(None);
            };
            if !self.meta.memoizes() {
                return Ok(Some(batch));
            }
            self.store(time, batch);
        }
        self.read_stored(time).map(Some)
    }

    /// Computes and stores the batch at `time` without reading it (sources, at batch start).
    /// Returns the number of elements stored.
    pub(crate) fn prepare(&self, time: Time) -> Result<u64> {
        if self.is_valid_time(time) && !self.stored(time) {
            if let Some(batch) = (self.compute)(time)? {
                self.store(time, batch);
            }
        }
        Ok(self.lock_memo().get(&time).map_or(0, |s| s.len))
    }

    /// The number of elements this node keeps for `time`, if it keeps that batch.
    #[cfg_attr(not(test), allow(dead_code, reason = "used by tests of memo eviction"))]
    pub(crate) fn stored_len(&self, time: Time) -> Option<u64> {
        self.lock_memo().get(&time).map(|s| match &s.lazy {
            Some((_, counted)) => counted.load(Ordering::Relaxed),
            None => s.len,
        })
    }

    fn stored(&self, time: Time) -> bool {
        self.lock_memo().contains_key(&time)
    }

    fn store(&self, time: Time, batch: Batch<T>) {
        if self.meta.hands_on_lazily() {
            let counted = Arc::new(AtomicU64::new(0));
            let stored = Stored {
                partitions: None,
                lazy: Some((Some(batch.counted(counted.clone())), counted)),
                reads_left: 1,
                len: 0,
            };
            self.lock_memo().insert(time, stored);
            return;
        }
        let partitions = batch.collect_partitions();
        let len = partitions.iter().map(|p| p.len() as u64).sum();
        let stored = Stored {
            partitions: Some(Arc::new(partitions)),
            lazy: None,
            reads_left: self.meta.consumers(),
            len,
        };
        self.lock_memo().insert(time, stored);
    }

    fn read_stored(&self, time: Time) -> Result<Batch<T>> {
        let keep = self.meta.remember_ms.load(Ordering::Relaxed) > 0;
        let mut memo = self.lock_memo();
        let consumed = || {
            Error::illegal_state(format!(
                "internal error: the batch at {time} of `{}` was read more often than it has readers",
                self.meta.name
            ))
        };
        let stored = memo.get_mut(&time).ok_or_else(consumed)?;
        if let Some((batch, _)) = &mut stored.lazy {
            return batch.take().ok_or_else(consumed);
        }
        stored.reads_left = stored.reads_left.saturating_sub(1);
        let partitions = if stored.reads_left == 0 && !keep {
            // The last reader takes the data itself.
            let shared = stored.partitions.take().ok_or_else(consumed)?;
            drop(memo);
            Arc::try_unwrap(shared).unwrap_or_else(|shared| (*shared).clone())
        } else {
            let shared = stored.partitions.clone().ok_or_else(consumed)?;
            drop(memo);
            (*shared).clone()
        };
        Ok(Batch::from_partitions(partitions, time, self.exec.clone()))
    }

    /// Asks this node to keep its batches for `duration` (windows over it need them).
    pub(crate) fn remember(&self, duration: Duration) {
        self.meta
            .remember_ms
            .fetch_max(duration.millis(), Ordering::Relaxed);
    }

    pub(crate) fn persist(&self) {
        self.meta.persisted.store(true, Ordering::Relaxed);
    }

    fn lock_memo(&self) -> std::sync::MutexGuard<'_, BTreeMap<Time, Stored<T>>> {
        self.memo.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What the driver needs of every node regardless of its element type.
pub(crate) trait ForgetOld: Send + Sync {
    /// Drops memoized batches that no window can need any more after `time` ran.
    fn forget_before(&self, time: Time);
    /// How long the node keeps its batches (windows read that far back).
    fn remembers(&self) -> Duration;
    /// Computes and keeps the batch at `time`, a past batch time (a restarted job rebuilding
    /// what its windows look back on).
    fn rebuild(&self, time: Time) -> Result<()>;
}

impl<T: Data> ForgetOld for Node<T> {
    fn remembers(&self) -> Duration {
        Duration::from_millis(self.meta.remember_ms.load(Ordering::Relaxed))
    }

    fn rebuild(&self, time: Time) -> Result<()> {
        self.prepare(time).map(|_| ())
    }

    fn forget_before(&self, time: Time) {
        let keep = Duration::from_millis(self.meta.remember_ms.load(Ordering::Relaxed));
        // Keep the batches in (time - remember, time]; with no remember, keep none.
        let oldest_kept = time - keep;
        let mut memo = self.lock_memo();
        if keep.is_zero() {
            memo.clear();
        } else {
            *memo = memo.split_off(&(oldest_kept + Duration::from_millis(1)));
        }
    }
}

/// An input node whose batch must be generated at every batch time, before the outputs run.
pub(crate) trait InputNode: Send + Sync {
    /// Generates (and stores) the batch at `time`; returns the number of records in it, or 0
    /// for a batch handed on lazily (its records are counted as they are read).
    fn generate(&self, time: Time) -> Result<u64>;
    /// The number of records of the batch at `time` read so far: all of them once the
    /// outputs ran.
    fn rows(&self, time: Time) -> u64;
}

impl<T: Data> InputNode for Node<T> {
    fn generate(&self, time: Time) -> Result<u64> {
        self.prepare(time)
    }

    fn rows(&self, time: Time) -> u64 {
        self.stored_len(time).unwrap_or(0)
    }
}

/// An output of the graph, as the driver runs it: a [`Sink`](crate::sink::Sink) reading a node.
pub(crate) trait OutputRun: Send + Sync {
    /// The sink's name, for errors and `explain()`.
    fn name(&self) -> String;
    /// Called once before the first batch.
    fn start(&self, ctx: &crate::sink::SinkContext) -> Result<()>;
    /// Hands the sink the node's batch — once `ready` returned (the batch's plan is durable) —;
    /// `Ok(None)` when the node has no batch at this time (a window between its slides), else
    /// the number of rows (if counted).
    fn run(&self, batch: crate::exec::BatchId, ready: &dyn Fn() -> Result<()>) -> Result<Option<u64>>;
    /// Commits the batch in the sink (called only if `run` handed it rows).
    fn commit(&self, batch: crate::exec::BatchId) -> Result<()>;
}

/// An output operation: the node it reads and what writes its batches.
pub(crate) struct OutputOp {
    pub(crate) parent: usize,
    pub(crate) run: Box<dyn OutputRun>,
}

/// The whole graph of a context.
pub(crate) struct Graph {
    pub(crate) clock: Arc<GraphClock>,
    pub(crate) metas: Vec<Arc<NodeMeta>>,
    pub(crate) inputs: Vec<Arc<dyn InputNode>>,
    pub(crate) outputs: Vec<Arc<OutputOp>>,
    pub(crate) forgetters: Vec<Arc<dyn ForgetOld>>,
    /// Mistakes found while the graph was built (bad durations, bad window geometry …),
    /// reported together by `start()`.
    pub(crate) errors: Vec<String>,
    /// Operators that keep state and so need a checkpoint directory.
    pub(crate) needs_checkpoint: Vec<String>,
    /// The stores of the stateful nodes, which the checkpoint writes.
    pub(crate) stateful: Vec<StatefulNode>,
}

/// A stateful node's store, and how often the checkpoint snapshots it.
pub(crate) struct StatefulNode {
    /// The node whose store it is.
    pub(crate) node: usize,
    pub(crate) store: Arc<dyn crate::state::StateHandle>,
    /// How often the node's step runs.
    pub(crate) slide: Duration,
    /// `DStream::checkpoint(interval)`: a snapshot every interval, deltas in between.
    pub(crate) interval: Option<Duration>,
}

impl StatefulNode {
    /// Spark's default checkpoint interval of a stateful stream: the smallest multiple of its
    /// slide that is at least 10 seconds.
    pub(crate) fn default_interval(slide: Duration) -> Duration {
        let slide = slide.millis().max(1);
        Duration::from_millis(10_000_u64.div_ceil(slide) * slide)
    }

    /// Steps between two snapshots: the interval over the slide.
    pub(crate) fn snapshot_every(&self) -> u64 {
        let interval = self
            .interval
            .unwrap_or_else(|| Self::default_interval(self.slide));
        (interval.millis() / self.slide.millis().max(1)).max(1)
    }
}

/// How to build a node: its name, kind, parents and slide.
pub(crate) struct NodeSpec {
    pub(crate) name: String,
    pub(crate) kind: NodeKind,
    pub(crate) parents: Vec<Arc<NodeMeta>>,
    pub(crate) slide: Duration,
}

impl Graph {
    /// The graph of a DStream context with batch interval `batch`, or (`None`) of a query.
    pub(crate) fn new(batch: Option<Duration>) -> Self {
        Graph {
            clock: Arc::new(GraphClock::new(batch)),
            metas: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            forgetters: Vec::new(),
            errors: Vec::new(),
            needs_checkpoint: Vec::new(),
            stateful: Vec::new(),
        }
    }

    /// Adds a node computed by `compute`.
    pub(crate) fn add_node<T: Data>(
        &mut self,
        spec: NodeSpec,
        exec: Arc<Executor>,
        compute: impl Fn(Time) -> Result<Option<Batch<T>>> + Send + Sync + 'static,
    ) -> Arc<Node<T>> {
        for parent in &spec.parents {
            parent.add_consumer();
        }
        let meta = Arc::new(NodeMeta {
            id: self.metas.len(),
            name: spec.name,
            kind: spec.kind,
            // A parent from another context's graph is an error reported by start(); it is
            // left out here so that the graph's ids stay its own.
            parents: spec
                .parents
                .iter()
                .filter(|p| self.metas.get(p.id).is_some_and(|m| Arc::ptr_eq(m, p)))
                .map(|p| p.id)
                .collect(),
            slide: spec.slide,
            consumers: AtomicUsize::new(0),
            remember_ms: AtomicU64::new(0),
            window_reach_ms: AtomicU64::new(0),
            persisted: AtomicBool::new(false),
            replayable_source: AtomicBool::new(false),
        });
        self.metas.push(meta.clone());
        let node = Arc::new(Node {
            meta,
            compute: Box::new(compute),
            memo: Mutex::new(BTreeMap::new()),
            clock: self.clock.clone(),
            exec,
        });
        self.forgetters.push(node.clone());
        if spec.kind == NodeKind::Source {
            self.inputs.push(node.clone());
        }
        node
    }

    /// Registers an output operation reading `parent`.
    pub(crate) fn add_output(&mut self, parent: &Arc<NodeMeta>, run: Box<dyn OutputRun>) {
        parent.add_consumer();
        self.outputs.push(Arc::new(OutputOp {
            parent: parent.id,
            run,
        }));
    }

    /// The nodes a restarted job computes again at past batch times so that windows find them:
    /// those that keep batches, are not sources (the driver reads those again itself) and
    /// read no state (a stateful node cannot run a past batch again), in the order they were
    /// built (parents first).
    pub(crate) fn rebuildable(&self) -> Vec<Arc<dyn ForgetOld>> {
        let mut reads_state = vec![false; self.metas.len()];
        let mut out = Vec::new();
        for (i, meta) in self.metas.iter().enumerate() {
            reads_state[i] = meta.kind == NodeKind::Stateful || meta.parents.iter().any(|&p| reads_state[p]);
            let keeps = meta.remember_ms.load(Ordering::Relaxed) > 0;
            if keeps && !reads_state[i] && meta.kind != NodeKind::Source {
                out.push(self.forgetters[i].clone());
            }
        }
        out
    }

    /// Windows that read past batches of a stateful stream (a window over
    /// `update_state_by_key`'s output, say), as `window` over `stateful`: a restart cannot
    /// compute those past batches again (the state is at its last version) and the checkpoint
    /// does not keep them.
    pub(crate) fn windows_over_state(&self) -> Vec<String> {
        let mut stateful_above: Vec<Option<usize>> = vec![None; self.metas.len()];
        let mut out = Vec::new();
        for (i, meta) in self.metas.iter().enumerate() {
            let parent_state = meta.parents.iter().find_map(|&p| {
                if self.metas[p].kind == NodeKind::Stateful {
                    Some(p)
                } else {
                    stateful_above[p]
                }
            });
            stateful_above[i] = parent_state;
            if meta.window_reach_ms.load(Ordering::Relaxed) > 0 {
                if let Some(state) = parent_state {
                    out.push(format!("`{}` over `{}`", meta.name, self.metas[state].name));
                }
            }
        }
        out
    }

    /// Makes every node keep its batches for at least `duration`.
    pub(crate) fn remember_all(&self, duration: Duration) {
        for meta in &self.metas {
            meta.remember_ms.fetch_max(duration.millis(), Ordering::Relaxed);
        }
    }

    /// Makes the nodes that window node `window` reads from keep the batches it will ask for.
    ///
    /// The window's direct parent keeps `reach` (it calls [`Node::remember`] itself). Above it,
    /// a node is asked for a batch it never computed at most `lateness` after that batch's time:
    /// the window's slide minus its parent's slide, plus, through every window further up
    /// (whose `reach` was recorded here when it was built), that window's slide minus its
    /// parent's. Sources and stateful nodes, which cannot compute a past batch again, keep
    /// `lateness` worth; a window further up makes its parent keep its `reach + lateness`.
    pub(crate) fn remember_for_window(&self, window: usize, reach: Duration) {
        let meta = &self.metas[window];
        meta.window_reach_ms.store(reach.millis(), Ordering::Relaxed);
        let mut lateness: Vec<Option<u64>> = vec![None; self.metas.len()];
        let mut pending: Vec<(usize, u64)> = meta
            .parents
            .iter()
            .map(|&p| {
                (
                    p,
                    meta.slide.millis().saturating_sub(self.metas[p].slide.millis()),
                )
            })
            .collect();
        while let Some((node, late)) = pending.pop() {
            if lateness[node].is_some_and(|seen| seen >= late) {
                continue;
            }
            lateness[node] = Some(late);
            let meta = &self.metas[node];
            if meta.kind.always_memoized() {
                meta.remember_ms.fetch_max(late, Ordering::Relaxed);
            }
            let window_reach = meta.window_reach_ms.load(Ordering::Relaxed);
            for &p in &meta.parents {
                let parent = &self.metas[p];
                if window_reach > 0 {
                    parent
                        .remember_ms
                        .fetch_max(window_reach + late, Ordering::Relaxed);
                    let slide_gap = meta.slide.millis().saturating_sub(parent.slide.millis());
                    pending.push((p, late + slide_gap));
                } else {
                    pending.push((p, late));
                }
            }
        }
    }

    /// The checks `start()` makes on the graph itself.
    pub(crate) fn validate(&self, has_checkpoint: bool) -> Result<()> {
        if self.outputs.is_empty() {
            return Err(Error::NoOutputOperations);
        }
        let mut problems = self.errors.clone();
        if !has_checkpoint && !self.needs_checkpoint.is_empty() {
            problems.push(format!(
                "the checkpoint directory has not been set: `{}` keeps state across batches, so call ssc.checkpoint(dir) before start()",
                self.needs_checkpoint.join("`, `")
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::InvalidGraph(problems))
        }
    }
}
