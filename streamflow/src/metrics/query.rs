//! What a Structured query reports, batch by batch: its hooks on the one driver
//! ([`Vocabulary`]) — the watermark (computed at the end of each batch and used from the next),
//! a no-data batch when the watermark moved and a stateful operator may have something to emit
//! or drop, status, a [`QueryProgress`] per batch and the listeners' events — and the record of
//! all that which the query's handle reads ([`QueryRecord`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use super::ListenerBus;
use super::progress::{
    EventTimeProgress, QueryIdleEvent, QueryProgress, QueryStartedEvent, QueryStatus, QueryTerminatedEvent,
    SinkProgress, SourceProgress,
};
use super::report::BatchReport;
use crate::checkpoint::CommitInfo;
use crate::error::{Error, Result};
use crate::event_time::iso;
use crate::event_time::watermark::{BatchEnd, WatermarkTracker};
use crate::exec::{BatchPlan, Completed, Vocabulary, lock};
use crate::source::SourceRun;
use crate::structured::plan::{RunShared, StatefulRun};
use crate::structured::resume::ResumeState;
use crate::time::{Clock, Time};

/// How many progress reports a query keeps (Spark's `spark.sql.streaming.numRecentProgressUpdates`).
const RECENT_PROGRESS: usize = 100;

/// What a query has reported so far, as its handle shows it: who it is, its status, its recent
/// progress, and where a new run would carry on.
pub(crate) struct QueryRecord {
    pub(crate) id: String,
    pub(crate) run_id: String,
    pub(crate) name: Option<String>,
    info: Mutex<QueryInfo>,
}

struct QueryInfo {
    status: QueryStatus,
    recent: VecDeque<QueryProgress>,
    resume: ResumeState,
}

impl QueryRecord {
    /// The record of a run starting from `resume`.
    pub(crate) fn new(id: String, run_id: String, name: Option<String>, resume: ResumeState) -> Self {
        QueryRecord {
            id,
            run_id,
            name,
            info: Mutex::new(QueryInfo {
                status: QueryStatus {
                    message: "Initializing sources".into(),
                    is_data_available: false,
                    is_trigger_active: false,
                },
                recent: VecDeque::new(),
                resume,
            }),
        }
    }

    pub(crate) fn status(&self) -> QueryStatus {
        lock(&self.info).status.clone()
    }

    pub(crate) fn last_progress(&self) -> Option<QueryProgress> {
        lock(&self.info).recent.back().cloned()
    }

    pub(crate) fn recent_progress(&self) -> Vec<QueryProgress> {
        lock(&self.info).recent.iter().cloned().collect()
    }

    /// Where the query stands (see `StreamingQuery::resume_state`).
    pub(crate) fn resume(&self) -> ResumeState {
        lock(&self.info).resume.clone()
    }

    fn update(&self, f: impl FnOnce(&mut QueryInfo)) {
        f(&mut lock(&self.info));
    }
}

/// A query's hooks on the driver: watermark, no-data batches, status, progress, listeners.
pub(crate) struct QueryReports {
    record: Arc<QueryRecord>,
    clock: Arc<dyn Clock>,
    bus: Arc<ListenerBus>,
    run: Arc<RunShared>,
    sources: Vec<Arc<dyn SourceRun>>,
    stateful: Vec<Arc<dyn StatefulRun>>,
    sink_name: String,
    /// The watermark moved in the last batch and a stateful operator may have rows to emit.
    need_no_data: bool,
    last_trigger: Option<Time>,
    /// What the end of the current batch changed (set by `end_batch`).
    ended: Option<BatchEnd>,
    report: BatchReport,
}

impl QueryReports {
    /// The reports of a query run whose operators share `run`, reading `sources`, with the
    /// stateful operators `stateful`, writing to the sink `sink_name`.
    pub(crate) fn new(
        record: Arc<QueryRecord>,
        clock: Arc<dyn Clock>,
        bus: Arc<ListenerBus>,
        run: Arc<RunShared>,
        sources: Vec<Arc<dyn SourceRun>>,
        stateful: Vec<Arc<dyn StatefulRun>>,
        sink_name: String,
    ) -> Self {
        QueryReports {
            report: BatchReport::query(record.name.as_deref(), &record.id),
            record,
            clock,
            bus,
            run,
            sources,
            stateful,
            sink_name,
            need_no_data: false,
            last_trigger: None,
            ended: None,
        }
    }

    fn tracker(&self) -> &WatermarkTracker {
        &self.run.watermark
    }

    /// Tells the listeners that the query started at `now`.
    pub(crate) fn started(&self, now: Time) {
        let started = QueryStartedEvent {
            id: self.record.id.clone(),
            run_id: self.record.run_id.clone(),
            name: self.record.name.clone(),
            timestamp: iso(now),
        };
        self.bus
            .post_query("on_query_started", |l| l.on_query_started(&started));
    }
}

impl Vocabulary for QueryReports {
    fn watermark(&self) -> Option<Time> {
        self.tracker().has_inputs().then(|| self.tracker().current())
    }

    fn wants_no_data_batch(&self) -> bool {
        let watermark = self.tracker().has_inputs().then(|| self.tracker().current());
        self.need_no_data
            || (self.run.no_data_batches
                && self
                    .stateful
                    .iter()
                    .any(|s| s.wants_no_data_batch(self.clock.now(), watermark)))
    }

    fn status(&mut self, message: &str, data_available: bool, trigger_active: bool) {
        self.record.update(|s| {
            s.status = QueryStatus {
                message: message.to_string(),
                is_data_available: data_available,
                is_trigger_active: trigger_active,
            }
        });
    }

    fn planned(&mut self, plan: &BatchPlan) {
        self.run.batch_id.store(plan.batch.id, Ordering::Release);
    }

    fn end_batch(&mut self) -> CommitInfo {
        let end = self.tracker().end_batch(self.clock.now());
        self.need_no_data = end.advanced && !self.stateful.is_empty() && self.run.no_data_batches;
        self.ended = Some(end);
        CommitInfo {
            next_watermark: self.tracker().has_inputs().then(|| self.tracker().current()),
            no_data_batch: self.need_no_data,
        }
    }

    fn recovered(&mut self, info: &CommitInfo) {
        if let Some(watermark) = info.next_watermark {
            self.tracker().restore_global(watermark);
        }
        self.need_no_data = info.no_data_batch;
    }

    fn completed(&mut self, batch: &Completed<'_>) -> Result<()> {
        let plan = batch.plan;
        let id = plan.batch.id;
        let trigger_time = batch.trigger_time;
        let watermark = plan.watermark.unwrap_or_else(|| self.tracker().current());
        let end = self
            .ended
            .take()
            .unwrap_or_else(|| self.tracker().end_batch(self.clock.now()));
        let timings = batch.timings;
        let num_input_rows: u64 = batch.source_rows.iter().sum();
        let secs_since_last = self
            .last_trigger
            .map(|t| (trigger_time - t) as f64 / 1_000.0)
            .filter(|s| *s > 0.0);
        self.last_trigger = Some(trigger_time);
        let per_sec = |n: u64, secs: Option<f64>| secs.map_or(0.0, |s| n as f64 / s);
        let processing_secs = Some(timings.total.as_secs_f64()).filter(|s| *s > 0.0);
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        let duration_ms: BTreeMap<String, u64> = [
            ("latestOffset", ms(timings.latest_offset)),
            ("walCommit", ms(timings.plan)),
            ("addBatch", ms(timings.run)),
            ("stateCommit", ms(timings.state_commit)),
            ("sink", ms(timings.commit)),
            ("commitOffsets", ms(timings.commit_offsets)),
            ("triggerExecution", ms(timings.total)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let progress = QueryProgress {
            id: self.record.id.clone(),
            run_id: self.record.run_id.clone(),
            name: self.record.name.clone(),
            timestamp: iso(trigger_time),
            batch_id: id,
            num_input_rows,
            input_rows_per_second: per_sec(num_input_rows, secs_since_last),
            processed_rows_per_second: per_sec(num_input_rows, processing_secs),
            duration_ms,
            event_time: EventTimeProgress {
                min: (end.stats.count > 0).then(|| iso(Time::from_millis(end.stats.min))),
                max: (end.stats.count > 0).then(|| iso(Time::from_millis(end.stats.max))),
                avg: end.stats.avg().map(|a| iso(Time::from_millis(a))),
                watermark: self.tracker().has_inputs().then(|| iso(watermark)),
            },
            state_operators: self.stateful.iter().map(|s| s.progress()).collect(),
            sources: plan
                .sources
                .iter()
                .enumerate()
                .map(|(i, range)| SourceProgress {
                    description: range.source.clone(),
                    start_offset: range.start.clone(),
                    end_offset: range.end.clone(),
                    num_input_rows: batch.source_rows[i],
                    input_rows_per_second: per_sec(batch.source_rows[i], secs_since_last),
                    processed_rows_per_second: per_sec(batch.source_rows[i], processing_secs),
                    num_malformed_rows: batch.source_malformed[i],
                })
                .collect(),
            sink: SinkProgress {
                description: self.sink_name.clone(),
                num_output_rows: batch.output_rows,
            },
            checkpoint: batch.checkpoint.enabled.then(|| batch.checkpoint_progress()),
        };
        let resume = ResumeState {
            id: self.record.id.clone(),
            next_batch_id: id + 1,
            source_offsets: self.sources.iter().map(|s| s.committed()).collect(),
            watermark: self.tracker().state(),
        };
        self.report
            .query_batch(&progress, trigger_time, plan.watermark, batch.interval);
        // Recorded first, as Spark does: a listener that hears of the batch finds it in
        // `recent_progress`.
        self.record.update(|s| {
            if s.recent.len() == RECENT_PROGRESS {
                s.recent.pop_front();
            }
            s.recent.push_back(progress.clone());
            s.resume = resume;
        });
        self.bus
            .post_query("on_query_progress", |l| l.on_query_progress(&progress));
        Ok(())
    }

    fn idle(&mut self) {
        let event = QueryIdleEvent {
            id: self.record.id.clone(),
            run_id: self.record.run_id.clone(),
            timestamp: iso(self.clock.now()),
        };
        self.bus.post_query("on_query_idle", |l| l.on_query_idle(&event));
    }

    fn terminated(&mut self, error: Option<&Error>) {
        if let Some(e) = error {
            log::error!("query {}: {e}", self.record.id);
        }
        let event = QueryTerminatedEvent {
            id: self.record.id.clone(),
            run_id: self.record.run_id.clone(),
            exception: error.map(|e| e.to_string()),
        };
        // Listeners hear about the end before anyone waiting for it wakes up.
        self.bus
            .post_query("on_query_terminated", |l| l.on_query_terminated(&event));
        self.status("Stopped", false, false);
    }
}
