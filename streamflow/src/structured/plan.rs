//! Planning a query: turning the logical chain of a [`Dataset`](super::Dataset) into nodes of
//! the engine's [`Graph`] when the query starts.
//!
//! A dataset is a description, not a running thing: every query started from it gets its own
//! graph, its own source offsets and its own state, as in Spark. The planner builds each
//! logical operator once per query (so fan-out shares one node) and collects what the query's
//! runner drives: the sources (offsets) and the stateful operators (progress).

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::output_mode::OutputMode;
use crate::batch::Batch;
use crate::data::Data;
use crate::error::Result;
use crate::event_time::late::LateSlot;
use crate::event_time::watermark::WatermarkTracker;
use crate::exec::Executor;
use crate::graph::{Graph, Node, NodeKind, NodeMeta, NodeSpec};
use crate::metrics::progress::StateOperatorProgress;
use crate::source::{Source, SourceRun, SourceSlot};
use crate::state::StateHandle;
use crate::time::{Duration, Time};

/// What every operator of a running query can read: the current batch and its watermark.
pub(crate) struct RunShared {
    pub(crate) batch_id: AtomicU64,
    pub(crate) watermark: Arc<WatermarkTracker>,
    pub(crate) mode: OutputMode,
    /// Whether a batch runs without new data when the watermark moved (Spark's
    /// `spark.sql.streaming.noDataMicroBatches.enabled`).
    pub(crate) no_data_batches: bool,
}

impl RunShared {
    pub(crate) fn batch_id(&self) -> u64 {
        self.batch_id.load(Ordering::Acquire)
    }
}

/// A stateful operator, as the runner sees it.
pub(crate) trait StatefulRun: Send + Sync {
    /// Its metrics for the batch that just ran.
    fn progress(&self) -> StateOperatorProgress;
    /// Its state store, which the checkpoint writes and a restart restores.
    fn state(&self) -> &dyn StateHandle;
    /// Whether it needs a batch although no input has data (a timeout expired at clock time
    /// `now` or under `watermark`).
    fn wants_no_data_batch(&self, _now: Time, _watermark: Option<Time>) -> bool {
        false
    }
}

/// Builds the graph of one query run.
pub(crate) struct Planner {
    pub(crate) graph: Graph,
    pub(crate) exec: Arc<Executor>,
    pub(crate) run: Arc<RunShared>,
    built: HashMap<u64, Box<dyn Any + Send + Sync>>,
    pub(crate) sources: Vec<Arc<dyn SourceRun>>,
    pub(crate) stateful: Vec<Arc<dyn StatefulRun>>,
    /// The late-data side outputs of this query, by tag.
    late: HashMap<u64, Box<dyn Any + Send + Sync>>,
}

impl Planner {
    pub(crate) fn new(exec: Arc<Executor>, run: Arc<RunShared>) -> Self {
        Planner {
            // Micro-batch "times" are strictly increasing milliseconds, so every node slides
            // by one millisecond: any batch time is a valid time for every node.
            graph: Graph::new(None),
            exec,
            run,
            built: HashMap::new(),
            sources: Vec::new(),
            stateful: Vec::new(),
            late: HashMap::new(),
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

    /// This query's slot of the late-data side output `tag`.
    pub(crate) fn late_slot<T: Data>(&mut self, tag: u64) -> Arc<LateSlot<T>> {
        let slot = self
            .late
            .entry(tag)
            .or_insert_with(|| Box::new(Arc::new(LateSlot::<T>::new())));
        match slot.downcast_ref::<Arc<LateSlot<T>>>() {
            Some(slot) => slot.clone(),
            // A tag is typed: its id never meets another type.
            None => Arc::new(LateSlot::new()),
        }
    }

    /// The slot a stateful operator over `ds` routes its late rows to, if `ds` asks for one.
    pub(crate) fn late_slot_of<T: Data, S: super::shape::Shape>(
        &mut self,
        ds: &super::Dataset<T, S>,
    ) -> Option<Arc<LateSlot<T>>> {
        ds.late_to.map(|tag| self.late_slot(tag))
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

    /// Adds the node of a stateful operator `op` over `parent`: the operator is registered (its
    /// progress is reported and its state checkpointed), and at each batch `step` gets the
    /// parent's batch, if any.
    pub(crate) fn add_stateful<T: Data, U: Data>(
        &mut self,
        name: &str,
        parent: Arc<Node<T>>,
        op: Arc<dyn StatefulRun>,
        step: impl Fn(Option<Batch<T>>, Time) -> Result<Option<Batch<U>>> + Send + Sync + 'static,
    ) -> Arc<Node<U>> {
        let meta = parent.meta.clone();
        self.add_stateful_over(name, vec![meta], op, move |time| {
            step(parent.get_or_compute(time)?, time)
        })
    }

    /// [`add_stateful`](Self::add_stateful) for an operator over several `parents` (a join):
    /// `compute` reads them itself.
    pub(crate) fn add_stateful_over<U: Data>(
        &mut self,
        name: &str,
        parents: Vec<Arc<NodeMeta>>,
        op: Arc<dyn StatefulRun>,
        compute: impl Fn(Time) -> Result<Option<Batch<U>>> + Send + Sync + 'static,
    ) -> Arc<Node<U>> {
        self.stateful.push(op);
        self.add(name, NodeKind::Stateful, parents, compute)
    }

    /// Adds a source node reading a [`Source`].
    pub(crate) fn add_user_source<S: Source>(&mut self, name: &str, source: Arc<S>) -> Arc<Node<S::Item>> {
        let slot = SourceSlot::new(source);
        self.sources.push(slot.clone());
        slot.add_node(name, &mut self.graph, self.exec.clone(), Duration::from_millis(1))
    }
}
