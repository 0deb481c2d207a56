//! Planning a query: turning the logical chain of a [`Dataset`](super::Dataset) into nodes of
//! the engine's [`Graph`] when the query starts.
//!
//! A dataset is a description, not a running thing: every query started from it gets its own
//! graph, its own source offsets and its own state, as in Spark. The planner builds each
//! logical operator once per query (so fan-out shares one node) and collects what the query's
//! runner drives: the sources (offsets) and the stateful operators (progress).

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::output_mode::OutputMode;
use super::progress::StateOperatorProgress;
use super::session::lock;
use super::watermark::WatermarkTracker;
use crate::batch::Batch;
use crate::data::Data;
use crate::error::Result;
use crate::exec::Executor;
use crate::graph::{Graph, Node, NodeKind, NodeMeta, NodeSpec};
use crate::state::StateHandle;
use crate::time::{Duration, Time};

/// Wakes a waiting query when a source has new data.
pub(crate) type Waker = Arc<dyn Fn() + Send + Sync>;

/// What every operator of a running query can read: the current batch and its watermark.
pub(crate) struct RunShared {
    pub(crate) batch_id: AtomicU64,
    pub(crate) watermark: Arc<WatermarkTracker>,
    pub(crate) mode: OutputMode,
}

impl RunShared {
    pub(crate) fn batch_id(&self) -> u64 {
        self.batch_id.load(Ordering::Acquire)
    }
}

/// A source of typed records with ordinal offsets: offset `n` means "the first `n` units"
/// (batches added, files found, rows generated, lines received).
pub(crate) trait RecordSource<T>: Send + Sync + 'static {
    fn description(&self) -> String;
    fn start(&self) -> Result<()> {
        Ok(())
    }
    fn stop(&self) {}
    /// The offset up to which data is available, given what was committed (a per-trigger
    /// limit such as `max_files_per_trigger` caps it).
    fn latest_offset(&self, committed: u64) -> Result<u64>;
    /// The offset up to which data is available, ignoring per-trigger limits (what
    /// `Trigger::available_now` takes as its end).
    fn available_offset(&self, committed: u64) -> Result<u64> {
        self.latest_offset(committed)
    }
    /// The records in `[start, end)`.
    fn get_batch(&self, start: u64, end: u64) -> Result<Vec<T>>;
    /// Everything before `end` was processed and may be forgotten.
    fn commit(&self, _end: u64) {}
    /// Malformed records met since the last call.
    fn take_malformed(&self) -> u64 {
        0
    }
    fn set_waker(&self, _waker: Waker) {}
}

/// The type-erased view of a source that the query runner drives.
pub(crate) trait SourceRun: Send + Sync {
    fn description(&self) -> String;
    fn start(&self) -> Result<()>;
    fn stop(&self);
    fn latest_offset(&self) -> Result<u64>;
    fn available_offset(&self) -> Result<u64>;
    fn committed(&self) -> u64;
    fn set_committed(&self, offset: u64);
    fn plan_batch(&self, start: u64, end: u64);
    fn commit(&self, end: u64);
    fn rows(&self) -> u64;
    fn take_malformed(&self) -> u64;
    fn set_waker(&self, waker: Waker);
}

pub(crate) struct SourceSlot<T> {
    source: Arc<dyn RecordSource<T>>,
    range: Mutex<(u64, u64)>,
    committed: AtomicU64,
    rows: AtomicU64,
}

impl<T: Data> SourceRun for SourceSlot<T> {
    fn description(&self) -> String {
        self.source.description()
    }
    fn start(&self) -> Result<()> {
        self.source.start()
    }
    fn stop(&self) {
        self.source.stop()
    }
    fn latest_offset(&self) -> Result<u64> {
        self.source.latest_offset(self.committed())
    }
    fn available_offset(&self) -> Result<u64> {
        self.source.available_offset(self.committed())
    }
    fn committed(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }
    fn set_committed(&self, offset: u64) {
        self.committed.store(offset, Ordering::Release);
    }
    fn plan_batch(&self, start: u64, end: u64) {
        *lock(&self.range) = (start, end);
        self.rows.store(0, Ordering::Release);
    }
    fn commit(&self, end: u64) {
        self.set_committed(end);
        self.source.commit(end);
    }
    fn rows(&self) -> u64 {
        self.rows.load(Ordering::Acquire)
    }
    fn take_malformed(&self) -> u64 {
        self.source.take_malformed()
    }
    fn set_waker(&self, waker: Waker) {
        self.source.set_waker(waker)
    }
}

/// A stateful operator, as the runner sees it.
pub(crate) trait StatefulRun: Send + Sync {
    /// Its metrics for the batch that just ran.
    fn progress(&self) -> StateOperatorProgress;
    /// The operator's name, for errors.
    fn name(&self) -> &str;
    /// Its state store: snapshot between batches for a later run to carry on from, restored
    /// before the first batch of that run.
    fn state(&self) -> &dyn StateHandle;
}

/// Builds the graph of one query run.
pub(crate) struct Planner {
    pub(crate) graph: Graph,
    pub(crate) exec: Arc<Executor>,
    pub(crate) run: Arc<RunShared>,
    built: HashMap<u64, Box<dyn Any + Send + Sync>>,
    pub(crate) sources: Vec<Arc<dyn SourceRun>>,
    pub(crate) stateful: Vec<Arc<dyn StatefulRun>>,
}

impl Planner {
    pub(crate) fn new(exec: Arc<Executor>, run: Arc<RunShared>) -> Self {
        Planner {
            // Micro-batch "times" are strictly increasing milliseconds, so every node slides
            // by one millisecond: any batch time is a valid time for every node.
            graph: Graph::new(Duration::from_millis(1)),
            exec,
            run,
            built: HashMap::new(),
            sources: Vec::new(),
            stateful: Vec::new(),
        }
    }

    /// The node of logical operator `id`, built by `build` the first time.
    pub(crate) fn node<T: Data>(
        &mut self,
        id: u64,
        build: &dyn Fn(&mut Planner) -> Result<Arc<Node<T>>>,
    ) -> Result<Arc<Node<T>>> {
        if let Some(node) = self.built.get(&id).and_then(|b| b.downcast_ref::<Arc<Node<T>>>()) {
            return Ok(node.clone());
        }
        let node = build(self)?;
        self.built.insert(id, Box::new(node.clone()));
        Ok(node)
    }

    /// Adds a node to the query's graph.
    pub(crate) fn add<T: Data>(
        &mut self,
        name: &str,
        kind: NodeKind,
        parents: Vec<Arc<NodeMeta>>,
        compute: impl Fn(Time) -> Result<Option<Batch<T>>> + Send + Sync + 'static,
    ) -> Arc<Node<T>> {
        let spec = NodeSpec {
            name: name.to_string(),
            kind,
            parents,
            slide: Duration::from_millis(1),
        };
        self.graph.add_node(spec, self.exec.clone(), compute)
    }

    /// Adds a source node reading `source`.
    pub(crate) fn add_source<T: Data>(
        &mut self,
        name: &str,
        source: Arc<dyn RecordSource<T>>,
    ) -> Arc<Node<T>> {
        let slot = Arc::new(SourceSlot {
            source,
            range: Mutex::new((0, 0)),
            committed: AtomicU64::new(0),
            rows: AtomicU64::new(0),
        });
        self.sources.push(slot.clone());
        let exec = self.exec.clone();
        let parallelism = exec.parallelism();
        self.add(name, NodeKind::Source, Vec::new(), move |time| {
            let (start, end) = *lock(&slot.range);
            let items = if start < end {
                slot.source.get_batch(start, end)?
            } else {
                Vec::new()
            };
            slot.rows.store(items.len() as u64, Ordering::Release);
            Ok(Some(Batch::from_vec(items, parallelism, time, exec.clone())))
        })
    }
}
