//! The driver: the one micro-batch loop under both vocabularies.
//!
//! Per batch: wait for the trigger → ask every source for its end offset (its read limit
//! applied) → record the [`BatchPlan`] (batch id, batch time, offset ranges, watermark) — the
//! record the checkpoint writes to `offsets/<id>` — → run the graph (sources' batches, then
//! every output, pulling its batch through the graph on the worker pool) → commit the sinks →
//! commit the sources' offsets → let nodes forget old batches → report to the vocabulary
//! (DStream `BatchInfo`s, Structured progress), whose listeners are called under a guard.
//!
//! A DStream context is [`Schedule::Interval`]: one batch per interval, with or without data.
//! A query's trigger is one of the others: a batch runs when there is new data or when the
//! vocabulary asks for one without (a no-data batch after the watermark moved).

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use super::control::{JobControl, REAL_POLL};
use super::failure::{OperatorPanic, TaskError, panic_message, set_current_operator, tag};
use crate::checkpoint::state::StateFiles;
use crate::checkpoint::writer::Writer;
use crate::checkpoint::{Checkpoint, CommitInfo, Recovered};
use crate::error::{Error, Failure, Result};
use crate::graph::{ForgetOld, InputNode, OutputOp};
use crate::source::{BatchStats, Limit, SourceRange, SourceRun};
use crate::time::{Clock, Duration, Time};

/// The identity of a batch: its id (0, 1, 2 … in order) and its time (for a DStream the
/// batch time `zero + k·interval`; for a query the time its trigger fired).
///
/// Sinks receive it with each batch; a sink that must not write a batch twice keys its writes
/// by `id`.
///
/// ```
/// use streamflow::{BatchId, Time};
///
/// let b = BatchId { id: 3, time: Time::from_millis(4_000) };
/// assert_eq!(b.to_string(), "batch 3 (4000 ms)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct BatchId {
    /// 0 for the first batch of a job, then one more per batch.
    pub id: u64,
    /// The batch's time.
    pub time: Time,
}

impl std::fmt::Display for BatchId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "batch {} ({})", self.id, self.time)
    }
}

/// What a batch reads, decided before it runs: the record the checkpoint writes to
/// `offsets/<id>`, and from which a restarted job re-runs the batch exactly.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct BatchPlan {
    pub(crate) batch: BatchId,
    /// Each source's range, in the job's source order.
    pub(crate) sources: Vec<SourceRange>,
    /// The watermark the batch runs with (queries with event time).
    pub(crate) watermark: Option<Time>,
}

/// When batches run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Schedule {
    /// A DStream context: a batch at `first`, `first + interval` …, with or without data.
    Interval { first: Time, interval: Duration },
    /// The next batch as soon as the previous one ended and there is something to do.
    Default,
    /// A batch at each multiple of the interval when there is something to do.
    ProcessingTime(Duration),
    /// One batch with everything available at start, then stop.
    Once,
    /// Everything available at start, in batches within the read limits, then stop.
    AvailableNow,
}

/// How long the parts of a batch took.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Timings {
    pub(crate) latest_offset: std::time::Duration,
    /// Recording the plan (writing `offsets/<id>` when there is a checkpoint).
    pub(crate) plan: std::time::Duration,
    /// Writing the state's snapshots and deltas to the checkpoint.
    pub(crate) state_commit: std::time::Duration,
    /// Writing `commits/<id>`.
    pub(crate) commit_offsets: std::time::Duration,
    pub(crate) run: std::time::Duration,
    pub(crate) commit: std::time::Duration,
    pub(crate) total: std::time::Duration,
}

/// A batch that ran and committed, as the vocabulary hears about it.
pub(crate) struct Completed<'a> {
    pub(crate) plan: &'a BatchPlan,
    /// The clock when the trigger fired (a DStream batch may start after its batch time).
    pub(crate) trigger_time: Time,
    /// Records all sources handed to this batch.
    pub(crate) input_rows: u64,
    pub(crate) source_rows: Vec<u64>,
    pub(crate) source_malformed: Vec<u64>,
    pub(crate) output_rows: u64,
    /// The batch interval or trigger interval, for triggers that have one.
    pub(crate) interval: Option<Duration>,
    pub(crate) timings: Timings,
    /// What the batch wrote to the checkpoint.
    pub(crate) checkpoint: CheckpointWrites,
}

impl Completed<'_> {
    /// What the batch wrote to the checkpoint, for progress reports.
    pub(crate) fn checkpoint_progress(&self) -> crate::structured::CheckpointProgress {
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        crate::structured::CheckpointProgress {
            offsets_bytes: self.checkpoint.plan_bytes,
            state_files: self.checkpoint.state_files,
            state_bytes: self.checkpoint.state_bytes,
            wal_commit_ms: ms(self.timings.plan),
            state_commit_ms: ms(self.timings.state_commit),
        }
    }
}

/// What a batch wrote to the checkpoint directory.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CheckpointWrites {
    /// Bytes of its `offsets/<id>` file.
    pub(crate) plan_bytes: u64,
    /// State files written, and their bytes.
    pub(crate) state_files: u64,
    pub(crate) state_bytes: u64,
    /// Whether the job has a checkpoint at all.
    pub(crate) enabled: bool,
}

/// What differs between the vocabularies, as hooks the driver calls.
pub(crate) trait Vocabulary: Send {
    /// The watermark the next batch runs with.
    fn watermark(&self) -> Option<Time> {
        None
    }
    /// Whether a batch should run although no source has new data.
    fn wants_no_data_batch(&self) -> bool {
        false
    }
    /// A batch is planned and about to run.
    fn planned(&mut self, _plan: &BatchPlan) {}
    /// The batch's sinks committed: what the next batch starts from (its watermark, whether a
    /// batch without data is due) — recorded in `commits/<id>`.
    fn end_batch(&mut self) -> CommitInfo {
        CommitInfo::default()
    }
    /// A restarted job carries on from a batch whose commit recorded `info`.
    fn recovered(&mut self, _info: &CommitInfo) {}
    /// A restarted job's last committed batch was `last`.
    fn restored(&mut self, _last: BatchId) {}
    /// A batch ran and committed.
    fn completed(&mut self, batch: &Completed<'_>) -> Result<()>;
    /// The driver has nothing to do (once per stretch of idleness).
    fn idle(&mut self) {}
    /// What the driver is doing now, for status displays.
    fn status(&mut self, _message: &str, _data_available: bool, _trigger_active: bool) {}
    /// The driver ended.
    fn terminated(&mut self, _error: Option<&Error>) {}
}

/// Everything the driver runs, frozen when the job starts.
pub(crate) struct Driver {
    pub(crate) control: Arc<JobControl>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) sources: Vec<Arc<dyn SourceRun>>,
    pub(crate) inputs: Vec<Arc<dyn InputNode>>,
    pub(crate) outputs: Vec<Arc<OutputOp>>,
    pub(crate) forgetters: Vec<Arc<dyn ForgetOld>>,
    /// The nodes a restart computes again at past batch times (see `Graph::rebuildable`).
    pub(crate) rebuildable: Vec<Arc<dyn ForgetOld>>,
    /// Windows over stateful streams, which a restart cannot rebuild
    /// (`Graph::windows_over_state`).
    pub(crate) windows_over_state: Vec<String>,
    pub(crate) schedule: Schedule,
    pub(crate) vocabulary: Box<dyn Vocabulary>,
    pub(crate) next_id: u64,
    pub(crate) last_time: Option<Time>,
    /// The checkpoint, when the job has one.
    pub(crate) durability: Option<Durability>,
}

/// A job's checkpoint, as the driver writes it.
pub(crate) struct Durability {
    pub(crate) checkpoint: Arc<Checkpoint>,
    /// The state of the job's stateful operators.
    pub(crate) state: StateFiles,
    /// Writes the files while the next batch runs.
    pub(crate) writer: Writer,
    /// Where the checkpoint says the job carries on (taken when the driver starts).
    pub(crate) recovered: Option<Recovered>,
}

/// How often the default trigger looks at sources that cannot wake it (clock time), at first:
/// the delay doubles with each look that finds nothing, up to [`MAX_POLL_DELAY`], and starts
/// again after a batch ran (so an idle file source does not list its directory 100 times a
/// second). A source that can wake the driver (a receiver, a memory stream) is heard at once.
const POLL_DELAY: Duration = Duration::from_millis(10);
/// The longest wait between two looks of an idle default trigger.
const MAX_POLL_DELAY: Duration = Duration::from_millis(1_000);

impl Driver {
    /// Runs the job to its end, then marks it stopped. Never panics out: whatever happens, the
    /// job reaches its terminal state and everyone waiting is woken.
    pub(crate) fn run(self) {
        self.run_with(|driver, pending| match driver.schedule.clone() {
            Schedule::Interval { first, interval } => driver.run_interval(first, interval, pending),
            _ => driver.run_triggered(pending),
        })
    }

    /// Runs the job with `body` in place of the micro-batch loop — the seam of long-lived
    /// operators (continuous mode, `exec/continuous/`): recovery first (`body` gets the batch
    /// to re-run), and whatever `body` does, the same ending (writer flushed, sources stopped,
    /// the vocabulary told, the job finished).
    pub(crate) fn run_with(mut self, body: impl FnOnce(&mut Driver, Option<BatchPlan>) -> Result<()>) {
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            let pending = self.recover()?;
            body(&mut self, pending)
        }))
        .unwrap_or_else(|payload| {
            Err(Error::illegal_state(format!(
                "internal error in the driver of {}: {}",
                self.control.name,
                panic_message(payload.as_ref())
            )))
        });
        if let Err(e) = outcome {
            self.control.fail(e);
        }
        // What the writer was handed is written before anyone hears that the job stopped.
        if let Some(d) = &self.durability {
            if let Err(e) = d.writer.flush() {
                self.control.fail(e);
            }
        }
        for source in &self.sources {
            source.stop();
        }
        let error = self.control.error();
        self.vocabulary.terminated(error.as_ref());
        self.control.finish();
    }

    /// Restores the job from its checkpoint: state at the last committed batch, sources'
    /// committed offsets, the batch ids and times, the vocabulary's watermark; rebuilds the
    /// source batches that windows still read. Returns the batch that was planned and never
    /// committed, to be re-run with exactly its plan.
    pub(crate) fn recover(&mut self) -> Result<Option<BatchPlan>> {
        let Some(durability) = &mut self.durability else {
            return Ok(None);
        };
        let Some(recovered) = durability.recovered.take() else {
            return Ok(None);
        };
        let committed = recovered.committed.as_ref();
        if committed.is_some() && !self.windows_over_state.is_empty() {
            return Err(Error::illegal_state(format!(
                "cannot restart from the checkpoint at {}: {} reads past batches of a stateful stream, which a restart cannot compute again and the checkpoint does not keep; window the input before the stateful operator, or start on a new checkpoint directory",
                durability.checkpoint.dir().display(),
                self.windows_over_state.join(", ")
            )));
        }
        durability
            .state
            .restore(committed.map(|(plan, _)| plan.batch.id))?;
        if !recovered.is_restart() {
            return Ok(None);
        }
        // Each source carries on from the end of the last committed batch (the start of the
        // pending one).
        let resume_from = recovered.pending.as_ref().or(committed.map(|(plan, _)| plan));
        if let Some(plan) = resume_from {
            if plan.sources.len() != self.sources.len() {
                return Err(Error::IncompatibleRestart {
                    setting: "sources".into(),
                    message: format!(
                        "were {} when the checkpoint was written and are {} now: restart the same job, or use a new checkpoint directory",
                        plan.sources.len(),
                        self.sources.len()
                    ),
                });
            }
            let pending = recovered.pending.is_some();
            for (source, range) in self.sources.iter().zip(&plan.sources) {
                source.restore_committed(if pending { &range.start } else { &range.end })?;
            }
        }
        self.next_id = recovered.next_id();
        if let Some((plan, info)) = committed {
            self.last_time = Some(plan.batch.time);
            self.vocabulary.recovered(info);
            self.vocabulary.restored(plan.batch);
        }
        if let Some(pending) = &recovered.pending {
            self.vocabulary.recovered(&CommitInfo {
                next_watermark: pending.watermark,
                no_data_batch: false,
            });
        }
        self.rebuild_windows(&recovered)?;
        log::info!(
            "{}: restarted from the checkpoint at {}: {}",
            self.control.name,
            durability_dir(&self.durability),
            match (&recovered.pending, committed) {
                (Some(p), _) => format!("re-running {} as planned", p.batch),
                (None, Some((c, _))) => format!("{} was the last committed", c.batch),
                (None, None) => String::from("nothing committed yet"),
            }
        );
        Ok(recovered.pending)
    }

    /// Reads again the source batches of committed batches that windows still look back on
    /// (a DStream window over the last minute needs the last minute of input), so that the
    /// first windows after a restart are whole.
    fn rebuild_windows(&mut self, recovered: &Recovered) -> Result<()> {
        let Some(last) = self.last_time else {
            return Ok(());
        };
        // Any node may be asked for a batch that far back, and compute it from the sources'.
        let reach = self
            .forgetters
            .iter()
            .map(|n| n.remembers())
            .max()
            .unwrap_or(Duration::ZERO);
        if reach.is_zero() {
            return Ok(());
        }
        for plan in recovered
            .history
            .iter()
            .filter(|p| last - p.batch.time < reach.millis() as i64)
        {
            if plan.sources.len() != self.sources.len() {
                continue;
            }
            for (source, range) in self.sources.iter().zip(&plan.sources) {
                source.set_planned(range)?;
            }
            let time = plan.batch.time;
            for input in &self.inputs {
                input.generate(time)?;
            }
            // Nodes that keep batches keep these too: the sources forget theirs after the next
            // batch, and a window reads a past batch of its parent later.
            for node in &self.rebuildable {
                if last - time < node.remembers().millis() as i64 {
                    node.rebuild(time)?;
                }
            }
        }
        Ok(())
    }

    fn run_interval(&mut self, first: Time, interval: Duration, pending: Option<BatchPlan>) -> Result<()> {
        if let Some(plan) = pending {
            let now = self.clock.now();
            self.rerun(plan, now)?;
        }
        // After a restart, batches carry on from the last one: those missed while the job was
        // down run at once, one by one, as Spark's do.
        let mut next = self.last_time.map_or(first, |last| last + interval);
        loop {
            let control = self.control.clone();
            self.clock.wait_until(next, REAL_POLL, &|| control.stopping());
            if let Some(graceful) = self.control.stop_requested() {
                if graceful && self.control.error().is_none() {
                    self.drain(next, interval)?;
                }
                return Ok(());
            }
            if self.clock.now() < next {
                continue;
            }
            let now = self.clock.now();
            self.run_batch(next, now, Limit::Default, true)?;
            next = next + interval;
        }
    }

    /// A graceful stop: stop receiving, fix the end at what was received, then run batches
    /// (without waiting for the clock) until it is all processed.
    fn drain(&mut self, mut next: Time, interval: Duration) -> Result<()> {
        for source in &self.sources {
            source.stop();
        }
        let fixed_at = self.last_time.unwrap_or(next - interval);
        for source in &self.sources {
            source.fix_end(fixed_at)?;
        }
        loop {
            if !self.run_batch(next, next, Limit::Default, false)? {
                return Ok(());
            }
            next = next + interval;
        }
    }

    fn run_triggered(&mut self, pending: Option<BatchPlan>) -> Result<()> {
        if let Some(plan) = pending {
            let now = self.clock.now();
            self.rerun(plan, now)?;
        }
        self.trigger_loop()?;
        if self.control.stop_requested() == Some(true) && self.control.error().is_none() {
            self.drain_triggered()?;
        }
        Ok(())
    }

    /// A graceful stop of a query: stop receiving, fix the end at what was received, run
    /// batches until it is all processed.
    fn drain_triggered(&mut self) -> Result<()> {
        for source in &self.sources {
            source.stop();
        }
        let now = self.clock.now();
        for source in &self.sources {
            source.fix_end(now)?;
        }
        loop {
            let time = match self.last_time {
                Some(last) => now.max(last + Duration::from_millis(1)),
                None => now,
            };
            if !self.run_batch(time, now, Limit::Default, false)? {
                return Ok(());
            }
        }
    }

    fn trigger_loop(&mut self) -> Result<()> {
        let limit = if self.schedule == Schedule::Once {
            Limit::All
        } else {
            Limit::Default
        };
        if matches!(self.schedule, Schedule::AvailableNow | Schedule::Once) {
            let now = self.clock.now();
            for source in &self.sources {
                source.fix_end(now)?;
            }
        }
        let mut next_trigger: Option<Time> = None;
        let mut idle = false;
        let mut poll_delay = POLL_DELAY;
        // The highest wake-up number this loop has answered with "nothing left".
        let mut marked = 0_u64;
        loop {
            if self.control.stopping() {
                return Ok(());
            }
            if let (Schedule::ProcessingTime(_), Some(at)) = (&self.schedule, next_trigger) {
                self.vocabulary.status("Waiting for next trigger", false, false);
                loop {
                    // A trigger that is due (with a no-data batch pending, say) runs before
                    // anyone is told there is nothing to do.
                    if self.clock.now() >= at {
                        break;
                    }
                    // Someone may be waiting in process_all_available since the last look: if
                    // there is nothing to do before the trigger, tell them.
                    let seen = self.control.wake_seq();
                    if seen > marked && !self.has_data(limit, at)? {
                        self.control.mark_idle(seen);
                        marked = seen;
                    }
                    let control = self.control.clone();
                    self.clock.wait_until(at, REAL_POLL, &|| {
                        control.stopping() || control.wake_seq() != seen
                    });
                    if self.control.stopping() {
                        return Ok(());
                    }
                }
            }
            let seq = self.control.wake_seq();
            let trigger_time = self.clock.now();
            let time = match self.last_time {
                // Batch times order batches: a batch never shares its time with the one before.
                Some(last) => trigger_time.max(last + Duration::from_millis(1)),
                None => trigger_time,
            };
            let ran = self.run_batch(time, trigger_time, limit, false)?;
            if ran {
                idle = false;
                poll_delay = POLL_DELAY;
            }
            if let Schedule::ProcessingTime(interval) = self.schedule {
                let iv = interval.millis().max(1) as i64;
                next_trigger = Some(Time::from_millis((trigger_time.millis().div_euclid(iv) + 1) * iv));
            }
            let finished = match self.schedule {
                Schedule::Once => true,
                Schedule::AvailableNow => !ran,
                _ => false,
            };
            if finished {
                return Ok(());
            }
            // Nothing left to do right now: say so (process_all_available waits for this).
            let nothing_left = if ran {
                let no_data_next =
                    self.vocabulary.wants_no_data_batch() && self.schedule == Schedule::Default;
                !no_data_next && !self.has_data(limit, self.clock.now())?
            } else {
                true
            };
            if nothing_left {
                self.vocabulary.status("Waiting for data to arrive", false, false);
                self.control.mark_idle(seq);
                marked = marked.max(seq);
                if !idle {
                    idle = true;
                    self.vocabulary.idle();
                }
                if self.schedule == Schedule::Default {
                    let at = self.clock.now() + poll_delay;
                    poll_delay = (poll_delay + poll_delay).min(MAX_POLL_DELAY);
                    let control = self.control.clone();
                    self.clock
                        .wait_until(at, REAL_POLL, &|| control.stopping() || control.wake_seq() != seq);
                }
            }
        }
    }

    /// Whether some source has new data for a batch at `time`.
    fn has_data(&self, limit: Limit, time: Time) -> Result<bool> {
        for source in &self.sources {
            if source.plan(limit, time)?.1 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Plans and, if there is something to do (or `always`), runs one batch at `time`.
    /// Returns whether it ran.
    fn run_batch(&mut self, time: Time, trigger_time: Time, limit: Limit, always: bool) -> Result<bool> {
        let wall = Instant::now();
        let mut ranges = Vec::with_capacity(self.sources.len());
        let mut has_data = false;
        for source in &self.sources {
            let (range, data) = source.plan(limit, time)?;
            has_data |= data;
            ranges.push(range);
        }
        let latest_offset = wall.elapsed();
        if !(has_data || always || self.vocabulary.wants_no_data_batch()) {
            return Ok(false);
        }
        self.vocabulary.status("Processing new data", has_data, true);
        let plan = BatchPlan {
            batch: BatchId {
                id: self.next_id,
                time,
            },
            sources: ranges,
            watermark: self.vocabulary.watermark(),
        };
        self.execute(plan, trigger_time, wall, latest_offset, true)?;
        Ok(true)
    }

    /// Re-runs a batch that a restarted job finds planned and never committed, with exactly
    /// its recorded offsets, time and watermark.
    fn rerun(&mut self, plan: BatchPlan, trigger_time: Time) -> Result<()> {
        let wall = Instant::now();
        for (source, range) in self.sources.iter().zip(&plan.sources) {
            source.set_planned(range)?;
        }
        self.vocabulary.status("Processing new data", true, true);
        self.next_id = plan.batch.id;
        self.execute(plan, trigger_time, wall, std::time::Duration::ZERO, false)
    }

    /// Runs a planned batch: records the plan, runs the graph, writes the state, commits the
    /// sinks, records the commit, commits the sources' offsets, reports.
    fn execute(
        &mut self,
        plan: BatchPlan,
        trigger_time: Time,
        wall: Instant,
        latest_offset: std::time::Duration,
        record_plan: bool,
    ) -> Result<()> {
        let time = plan.batch.time;
        let id = plan.batch.id;
        let _span = crate::metrics::spans::batch(&self.control.name, plan.batch.id, time);
        let planned = Instant::now();
        let mut writes = CheckpointWrites {
            enabled: self.durability.is_some(),
            ..CheckpointWrites::default()
        };
        if let Some(d) = &self.durability {
            if record_plan {
                let payload = Checkpoint::encode_plan(&plan)?;
                writes.plan_bytes = payload.len() as u64;
                d.writer.write_plan(id, payload)?;
            } else {
                // A re-run batch: its plan is on disk already.
                d.writer.plan_written(id);
            }
        }
        self.vocabulary.planned(&plan);
        let mut plan_time = planned.elapsed();
        let ran = Instant::now();
        let waited = std::cell::Cell::new(std::time::Duration::ZERO);
        let (input_rows, output_rows) = self.run_graph(plan.batch, &|| self.await_plan(id, &waited))?;
        self.await_plan(id, &waited)?;
        plan_time += waited.get();
        let run_time = ran.elapsed().saturating_sub(waited.get());
        let state_started = Instant::now();
        let prepared = match &mut self.durability {
            Some(d) => {
                let prepared = d.state.prepare(id)?;
                let size = prepared.size();
                writes.state_files = size.files;
                writes.state_bytes = size.bytes;
                Some(prepared)
            }
            None => None,
        };
        let state_commit = state_started.elapsed();
        let committing = Instant::now();
        let commit_span = crate::metrics::spans::commit();
        for output in &self.outputs {
            if output_rows.1.contains(&output.parent) || output_rows.2 {
                self.guarded(plan.batch, &output.run.name(), || output.run.commit(plan.batch))?;
            }
        }
        let commit_time = committing.elapsed();
        let info = self.vocabulary.end_batch();
        let offsets_started = Instant::now();
        if let (Some(d), Some(prepared)) = (&self.durability, prepared) {
            d.writer.commit(id, info, prepared)?;
        }
        for source in &self.sources {
            source.commit();
        }
        commit_span.exit();
        let commit_offsets = offsets_started.elapsed();
        let source_rows: Vec<u64> = self.sources.iter().map(|s| s.rows(time)).collect();
        let source_malformed: Vec<u64> = self.sources.iter().map(|s| s.take_malformed()).collect();
        for node in &self.forgetters {
            node.forget_before(time);
        }
        self.next_id = plan.batch.id + 1;
        self.last_time = Some(time);
        let completed = Completed {
            plan: &plan,
            trigger_time,
            input_rows,
            source_rows,
            source_malformed,
            output_rows: output_rows.0,
            interval: match self.schedule {
                Schedule::Interval { interval, .. } | Schedule::ProcessingTime(interval) => Some(interval),
                _ => None,
            },
            timings: Timings {
                latest_offset,
                plan: plan_time,
                run: run_time,
                state_commit,
                commit: commit_time,
                commit_offsets,
                total: wall.elapsed(),
            },
            checkpoint: writes,
        };
        self.vocabulary.completed(&completed)?;
        self.tell_sources(&completed);
        Ok(())
    }

    /// Waits until the plan of batch `id` is durable (no wait without a checkpoint), adding
    /// the time waited to `waited`.
    fn await_plan(&self, id: u64, waited: &std::cell::Cell<std::time::Duration>) -> Result<()> {
        if let Some(d) = &self.durability {
            let started = Instant::now();
            d.writer.await_plan(id)?;
            waited.set(waited.get() + started.elapsed());
        }
        Ok(())
    }

    /// Hands each source its share of a completed batch (what its rate estimator reads).
    pub(crate) fn tell_sources(&self, batch: &Completed<'_>) {
        let batch_interval = match self.schedule {
            Schedule::Interval { interval, .. } | Schedule::ProcessingTime(interval) => Some(interval),
            _ => None,
        };
        let (time, start) = (batch.plan.batch.time, batch.trigger_time);
        for (source, &records) in self.sources.iter().zip(&batch.source_rows) {
            source.batch_completed(&BatchStats {
                processing_end: self.clock.now(),
                records,
                processing_delay: batch.timings.total,
                scheduling_delay: std::time::Duration::from_millis((start - time).max(0) as u64),
                batch_interval,
            });
        }
    }

    /// Runs the sources' batches and every output; a panic in user code becomes an error
    /// naming the operator. Returns the rows read, and the rows written, the outputs (by
    /// parent) that wrote and whether all did.
    fn run_graph(
        &self,
        batch: BatchId,
        ready: &dyn Fn() -> Result<()>,
    ) -> Result<(u64, (u64, Vec<usize>, bool))> {
        let mut current = String::from("source");
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| -> Result<(u64, (u64, Vec<usize>, bool))> {
            let mut input_rows = 0;
            for (i, input) in self.inputs.iter().enumerate() {
                set_current_operator("");
                let _span = crate::metrics::spans::read(i);
                input_rows += input.generate(batch.time)?;
            }
            let mut rows = 0;
            let mut wrote = Vec::new();
            let mut all = true;
            for output in &self.outputs {
                set_current_operator("");
                current = output.run.name();
                let _span = crate::metrics::spans::output(&current);
                match output.run.run(batch, ready)? {
                    Some(n) => {
                        rows += n;
                        wrote.push(output.parent);
                    }
                    None => all = false,
                }
            }
            // A source's batch handed on lazily counts its records as the outputs read them.
            let input_rows = input_rows.max(self.inputs.iter().map(|i| i.rows(batch.time)).sum());
            Ok((input_rows, (rows, wrote, all)))
        }));
        match outcome {
            Ok(result) => result,
            Err(payload) => Err(user_code_error(payload, &current, batch.time)),
        }
    }

    /// Runs `f` (a sink's commit, say) so that a panic in it becomes an error naming `what`.
    pub(crate) fn guarded<R>(&self, batch: BatchId, what: &str, f: impl FnOnce() -> Result<R>) -> Result<R> {
        set_current_operator("");
        panic::catch_unwind(AssertUnwindSafe(f))
            .unwrap_or_else(|payload| Err(user_code_error(payload, what, batch.time)))
    }
}

fn durability_dir(durability: &Option<Durability>) -> String {
    durability
        .as_ref()
        .map(|d| d.checkpoint.dir().display().to_string())
        .unwrap_or_default()
}

/// A panic payload as `Error::UserCode`: a panic on a worker comes tagged with its operator;
/// one on the driver's thread (in `foreach_batch`, say) is tagged from the operator noted last
/// there, or else blamed on `fallback`.
pub(crate) fn user_code_error(payload: Box<dyn std::any::Any + Send>, fallback: &str, time: Time) -> Error {
    let payload = match payload.downcast::<TaskError>() {
        Ok(raised) => return raised.0,
        Err(payload) => tag(payload),
    };
    let operator = match payload.downcast_ref::<OperatorPanic>() {
        Some(p) if p.operator != "task" => p.operator.to_string(),
        _ => fallback.to_string(),
    };
    Error::user_code(
        operator,
        time.millis(),
        Failure::Panic(panic_message(payload.as_ref())),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan is what the checkpoint writes to `offsets/<id>`: it must come back whole.
    #[test]
    fn a_batch_plan_round_trips_through_json() {
        let plan = BatchPlan {
            batch: BatchId {
                id: 7,
                time: Time::from_millis(8_000),
            },
            sources: vec![
                SourceRange {
                    source: "numbers".into(),
                    start: serde_json::json!(4),
                    end: serde_json::json!(8),
                },
                SourceRange {
                    source: "kafka".into(),
                    start: serde_json::json!({"0": 10, "1": 3}),
                    end: serde_json::json!({"0": 12, "1": 3}),
                },
            ],
            watermark: Some(Time::from_millis(5_000)),
        };
        let text = serde_json::to_string(&plan).unwrap_or_default();
        assert!(text.contains("\"id\":7"), "{text}");
        let back: BatchPlan = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(back, plan);
    }
}
