//! How the driver holds a [`Source`] of any type: its committed and planned offsets, behind an
//! object-safe interface, and the graph node that reads the planned range.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde_json::Value;

use super::api::{Source, SourceBatch, SourceContext};
use super::offset::{Offset, ReadLimit};
use super::rate_control::{BatchStats, RateController, SourceLimits};
use crate::batch::{Batch, Part, split_evenly};
use crate::error::{Error, Result};
use crate::exec::Executor;
use crate::graph::{Graph, Node, NodeKind, NodeSpec};
use crate::metrics::ReceiverStatus;
use crate::time::{Duration, Time};

/// Which read limit a batch plans with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The source's own default (`max_files_per_trigger` …).
    Default,
    /// Everything available (`Trigger::once`).
    All,
}

/// One source's part of a batch plan: the range it reads, as JSON (what `offsets/<id>` holds).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SourceRange {
    pub(crate) source: String,
    pub(crate) start: Value,
    pub(crate) end: Value,
}

/// A source as the driver sees it, whatever its types.
pub(crate) trait SourceRun: Send + Sync {
    fn name(&self) -> String;
    fn start(&self, ctx: &SourceContext) -> Result<()>;
    fn stop(&self);
    fn is_replayable(&self) -> bool;
    fn status(&self) -> Option<ReceiverStatus>;
    /// Fixes the end that no later batch goes past: what is available at `time`
    /// (`Trigger::available_now`, a graceful stop).
    fn fix_end(&self, time: Time) -> Result<()>;
    /// Plans the next batch's range from the committed offset; returns it and whether it
    /// holds new data.
    fn plan(&self, limit: Limit, time: Time) -> Result<(SourceRange, bool)>;
    /// Sets the planned range (a batch re-run from a recorded plan).
    #[allow(
        dead_code,
        reason = "checkpoint recovery (the fault-tolerance issue) re-runs the last planned batch"
    )]
    fn set_planned(&self, range: &SourceRange) -> Result<()>;
    /// The planned end is processed: it becomes the committed offset.
    fn commit(&self);
    /// The committed offset, as JSON.
    fn committed(&self) -> Value;
    /// Sets the committed offset (resuming from a saved position).
    fn restore_committed(&self, offset: &Value) -> Result<()>;
    /// The records the batch at `time` read from this source.
    fn rows(&self, time: Time) -> u64;
    /// The batch completed (see [`Source::batch_completed`]).
    fn batch_completed(&self, stats: &BatchStats);
    /// The malformed records the source counted since the last call: what a batch (or an
    /// epoch) reports as its `numMalformedRows`, whether the source decodes while the batch runs
    /// (files) or as its input arrives (a socket, between batches too).
    fn take_malformed(&self) -> u64;
}

struct Offsets<O> {
    committed: O,
    planned: (O, O),
    cap: Option<O>,
}

/// A typed source with its offsets.
pub(crate) struct SourceSlot<S: Source> {
    source: Arc<S>,
    name: String,
    offsets: Mutex<Offsets<S::Offset>>,
    node: OnceLock<Arc<Node<S::Item>>>,
    /// The rate a pull source whose limit counts records takes at, with its batch interval:
    /// `max_rate`, and with backpressure Spark's PID estimate.
    rate: Option<(RateController, Duration)>,
    /// The source's count of malformed records when last reported.
    malformed_reported: AtomicU64,
}

impl<S: Source> SourceSlot<S> {
    pub(crate) fn new(source: Arc<S>) -> Arc<Self> {
        Arc::new(Self::build(source, None))
    }

    /// A source whose batches are capped by `limits` (`max_rate`, backpressure) when its read
    /// limit counts records ([`Source::read_limit_counts_records`]); other sources are not
    /// affected. `interval` is the batch interval the rate is spread over.
    pub(crate) fn with_rate_limits(source: Arc<S>, limits: &SourceLimits, interval: Duration) -> Arc<Self> {
        let limited = limits.max_rate.is_some() || limits.backpressure;
        let rate = (limited && source.read_limit_counts_records())
            .then(|| (RateController::new(limits.clone()), interval));
        Arc::new(Self::build(source, rate))
    }

    fn build(source: Arc<S>, rate: Option<(RateController, Duration)>) -> Self {
        let initial = source.initial_offset();
        SourceSlot {
            name: source.name(),
            offsets: Mutex::new(Offsets {
                committed: initial.clone(),
                planned: (initial.clone(), initial),
                cap: None,
            }),
            node: OnceLock::new(),
            rate,
            malformed_reported: AtomicU64::new(0),
            source,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Offsets<S::Offset>> {
        self.offsets.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn decode(&self, what: &str, value: &Value) -> Result<S::Offset> {
        serde_json::from_value(value.clone()).map_err(|e| {
            Error::IncompatibleRestart {
                setting: "sources".into(),
                message: format!(
                    "changed: source `{}`'s recorded {what} offset {value} is not an offset of this source ({e}); resume with the same sources in the same order",
                    self.name
                ),
            }
        })
    }

    fn encode(&self, offset: &S::Offset) -> Value {
        // Offsets are plain serde data; one that cannot become JSON (a map with non-string
        // keys, say) is recorded by its debug text so the plan still says where it was.
        serde_json::to_value(offset).unwrap_or_else(|_| Value::String(format!("{offset:?}")))
    }

    /// Adds the node that reads this source's planned range at each batch to `graph`.
    /// The node is named `name` in plans (the source's own name by default).
    pub(crate) fn add_node(
        self: &Arc<Self>,
        name: &str,
        graph: &mut Graph,
        exec: Arc<Executor>,
        slide: Duration,
    ) -> Arc<Node<S::Item>> {
        let slot = self.clone();
        let spec = NodeSpec {
            name: name.to_string(),
            kind: NodeKind::Source,
            parents: Vec::new(),
            slide,
        };
        let parallelism = exec.parallelism();
        let node_exec = exec.clone();
        let node = graph.add_node(spec, exec, move |time| {
            let (start, end) = slot.lock().planned.clone();
            let batch = slot.source.get_batch(&start, &end)?;
            Ok(Some(into_batch(batch, parallelism, time, node_exec.clone())))
        });
        if self.source.is_replayable() {
            node.meta.set_replayable_source();
        }
        let _ = self.node.set(node.clone());
        node
    }
}

fn into_batch<T: crate::Data>(
    batch: SourceBatch<T>,
    parallelism: usize,
    time: Time,
    exec: Arc<Executor>,
) -> Batch<T> {
    let SourceBatch { items, mut parts } = batch;
    if parts.is_empty() {
        // Records in memory only: spread over one partition per worker (empty ones included,
        // as Spark's parallelize makes them).
        return Batch::from_partitions(split_evenly(items, parallelism.max(1)), time, exec);
    }
    if !items.is_empty() {
        let n = parallelism.saturating_sub(parts.len()).max(1);
        parts.extend(split_evenly(items, n).into_iter().map(Part::Ready));
    }
    Batch::from_parts(parts, time, exec)
}

impl<S: Source> SourceRun for SourceSlot<S> {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn start(&self, ctx: &SourceContext) -> Result<()> {
        self.source.start(ctx)
    }

    fn stop(&self) {
        self.source.stop()
    }

    fn is_replayable(&self) -> bool {
        self.source.is_replayable()
    }

    fn status(&self) -> Option<ReceiverStatus> {
        self.source.status()
    }

    fn fix_end(&self, time: Time) -> Result<()> {
        let start = self.lock().committed.clone();
        let end = self.source.latest_offset(&start, ReadLimit::AllAvailable, time)?;
        self.lock().cap = Some(end);
        Ok(())
    }

    fn plan(&self, limit: Limit, time: Time) -> Result<(SourceRange, bool)> {
        let (start, cap) = {
            let offsets = self.lock();
            (offsets.committed.clone(), offsets.cap.clone())
        };
        let limit = match limit {
            Limit::Default => {
                let own = self.source.default_read_limit();
                let rated = self
                    .rate
                    .as_ref()
                    .and_then(|(rate, interval)| rate.units_per_batch(Some(*interval)));
                match (own, rated) {
                    (ReadLimit::Max(own), Some(rated)) => ReadLimit::Max(own.min(rated)),
                    (_, Some(rated)) => ReadLimit::Max(rated),
                    (own, None) => own,
                }
            }
            Limit::All => ReadLimit::AllAvailable,
        };
        let mut end = self.source.latest_offset(&start, limit, time)?;
        if let Some(cap) = &cap {
            end = end.earliest(cap);
        }
        let has_data = end != start;
        let range = SourceRange {
            source: self.name.clone(),
            start: self.encode(&start),
            end: self.encode(&end),
        };
        self.lock().planned = (start, end);
        Ok((range, has_data))
    }

    fn set_planned(&self, range: &SourceRange) -> Result<()> {
        let start = self.decode("start", &range.start)?;
        let end = self.decode("end", &range.end)?;
        self.lock().planned = (start, end);
        Ok(())
    }

    fn commit(&self) {
        let end = {
            let mut offsets = self.lock();
            offsets.committed = offsets.planned.1.clone();
            offsets.committed.clone()
        };
        self.source.commit(&end);
    }

    fn committed(&self) -> Value {
        let committed = self.lock().committed.clone();
        self.encode(&committed)
    }

    fn restore_committed(&self, offset: &Value) -> Result<()> {
        let offset = self.decode("committed", offset)?;
        let mut offsets = self.lock();
        offsets.planned = (offset.clone(), offset.clone());
        offsets.committed = offset;
        Ok(())
    }

    fn rows(&self, time: Time) -> u64 {
        self.node.get().and_then(|n| n.stored_len(time)).unwrap_or(0)
    }

    fn batch_completed(&self, stats: &BatchStats) {
        // No let chain: the MSRV (1.85) has none (scripts/msrv.sh).
        if let Some(new_rate) = self
            .rate
            .as_ref()
            .and_then(|(rate, _)| rate.update(stats, stats.records))
        {
            log::debug!(
                "source `{}`: backpressure sets the rate to {new_rate:.0} records/s",
                self.name
            );
        }
        self.source.batch_completed(stats)
    }

    fn take_malformed(&self) -> u64 {
        let total = self.status().map_or(0, |s| s.undecodable);
        total.saturating_sub(self.malformed_reported.swap(total, Ordering::AcqRel))
    }
}
