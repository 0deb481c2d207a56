//! Running a continuous pipeline: the reader thread (polls the sources, ends epochs) and the
//! committer on the driver's thread (records each epoch as a micro-batch's plan and commit).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crossbeam_channel::{RecvTimeoutError, Sender};

use super::{Feeder, Pipeline, Report, TaskEnv};
use crate::checkpoint::Checkpoint;
use crate::checkpoint::state::PreparedState;
use crate::error::{Error, Result};
use crate::exec::control::REAL_POLL;
use crate::exec::driver::{CheckpointWrites, Timings};
use crate::exec::{BatchId, BatchPlan, Completed, Driver, Executor, JobControl};
use crate::time::{Clock, Duration, Time};

/// The shortest wait between two looks at the sources, after a look that found records.
const MIN_POLL: std::time::Duration = std::time::Duration::from_micros(20);
/// The longest wait between two looks at idle sources (sources that can wake the reader — a
/// memory stream, a receiver — are heard at once).
const MAX_POLL: std::time::Duration = std::time::Duration::from_millis(1);
/// After this long without a record, idle sources are looked at every [`IDLE_POLL`] instead:
/// a query left idle costs ten looks per second per source rather than a thousand, and the
/// first record after a long pause waits at most that long (a steady stream is unaffected).
const IDLE_AFTER: std::time::Duration = std::time::Duration::from_secs(1);
/// The wait between two looks at sources idle for [`IDLE_AFTER`].
const IDLE_POLL: std::time::Duration = std::time::Duration::from_millis(10);
/// The most epochs ended and not committed yet: past it the reader stops reading until the
/// committer catches up, so a sink slower than the input holds the sources back (a receiver's
/// buffer fills, TCP slows the sender) instead of piling up epochs' rows in memory.
const MAX_PENDING_EPOCHS: u64 = 8;
/// An epoch ends early once its sources handed it this many records, so that no epoch holds
/// an unbounded number of rows waiting for its commit (a long checkpoint interval, a manual
/// clock, a source that always has more).
const MAX_EPOCH_ROWS: u64 = 1 << 18;

/// An epoch the reader ended and the committer has not committed yet.
struct Epoch {
    plan: BatchPlan,
    rows: Vec<u64>,
    trigger_time: Time,
    cut: Instant,
    state_acks: usize,
    sink_acks: usize,
    output_rows: u64,
    prepared: Option<PreparedState>,
    state_commit: std::time::Duration,
    plan_bytes: u64,
    plan_time: std::time::Duration,
    /// Whether its plan must still be written (not for an epoch a restart re-runs), and
    /// whether it was handed to the checkpoint writer (only once the epoch before committed:
    /// the checkpoint's batches are planned and committed in order).
    record: bool,
    planned: bool,
}

/// Runs `pipeline` on `driver` (from `Driver::run_with`): starts the tasks and the reader,
/// then commits epochs until the query stops. `pending` is an epoch a restart re-runs.
pub(crate) fn run(driver: &mut Driver, pending: Option<BatchPlan>, pipeline: Pipeline) -> Result<()> {
    let Pipeline {
        mut feeders,
        tasks,
        resumers,
        epoch_hooks,
        sink_writers,
        output,
        interval,
        reports,
        report_rx,
        first_epoch,
        exec,
        start,
        ..
    } = pipeline;
    let durable = driver.durability.is_some();
    let state_tasks = if durable { resumers.len() } else { 0 };
    let first = pending.as_ref().map_or(driver.next_id, |p| p.batch.id);
    first_epoch.store(first, Ordering::Release);
    let env = TaskEnv {
        reports: reports.clone(),
        first_epoch: first,
        durable,
        clock: driver.clock.clone(),
    };
    let mut handles = Vec::with_capacity(tasks.len());
    for (_, spawn) in tasks {
        handles.push(spawn(env.clone())?);
    }
    for feeder in &mut feeders {
        feeder.restore()?;
        feeder.start(driver.control.clone());
    }
    // The id of the next epoch to commit, as the committer moves it.
    let committed = Arc::new(AtomicU64::new(first));
    let reader = Reader {
        committed: committed.clone(),
        feeders,
        reports: reports.clone(),
        control: driver.control.clone(),
        clock: driver.clock.clone(),
        interval,
        next_id: driver.next_id,
        last_time: driver.last_time,
    };
    let reader = std::thread::Builder::new()
        .name(format!("{}-reader", driver.control.name))
        .spawn(move || reader.run(pending, start))
        .map_err(|e| Error::io("cannot start the continuous reader", e))?;
    drop((reports, env));

    let mut committer = Committer {
        committed,
        epochs: VecDeque::new(),
        state_tasks,
        sink_writers,
        resumers,
        epoch_hooks,
        output,
        exec,
    };
    let outcome = committer.run(driver, &report_rx);
    if let Err(e) = &outcome {
        // The reader and the tasks stop on seeing the failure.
        driver.control.fail(e.clone());
    }
    // Paused tasks stop waiting, tasks blocked on a full channel see it close: everything ends.
    committer.resumers.clear();
    drop(report_rx);
    let reader_outcome = reader
        .join()
        .unwrap_or_else(|_| Err(Error::illegal_state("the continuous reader panicked")));
    for handle in handles {
        let _ = handle.join();
    }
    outcome.and(match driver.control.stopping() {
        true => Ok(()),
        false => reader_outcome,
    })
}

struct Committer {
    committed: Arc<AtomicU64>,
    epochs: VecDeque<Epoch>,
    state_tasks: usize,
    sink_writers: usize,
    resumers: Vec<Sender<u64>>,
    epoch_hooks: Vec<Box<dyn Fn() + Send>>,
    output: Arc<dyn super::sink::EpochOutput>,
    exec: Arc<Executor>,
}

impl Committer {
    fn run(&mut self, driver: &mut Driver, reports: &crossbeam_channel::Receiver<Report>) -> Result<()> {
        let mut quiet: Option<u64> = None;
        let mut idle = false;
        let mut reader_done = false;
        loop {
            if driver.control.stop_requested() == Some(false) {
                return Ok(());
            }
            let report = match reports.recv_timeout(REAL_POLL) {
                Ok(report) => report,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            };
            match report {
                Report::Cut {
                    plan,
                    rows,
                    trigger_time,
                    record,
                } => {
                    quiet = None;
                    idle = false;
                    self.cut(driver, plan, rows, trigger_time, record);
                }
                Report::StateReady(id) => self.state_ready(driver, id)?,
                Report::SinkReady { epoch, rows } => {
                    if let Some(e) = self.epochs.iter_mut().find(|e| e.plan.batch.id == epoch) {
                        e.sink_acks += 1;
                        e.output_rows += rows;
                    }
                }
                Report::Quiet(seq) => quiet = Some(seq),
                Report::Failed(e) => return Err(e),
                Report::ReaderDone => reader_done = true,
            }
            self.plan_front(driver)?;
            while self.epochs.front().is_some_and(|e| self.complete(e)) {
                if let Some(epoch) = self.epochs.pop_front() {
                    self.commit(driver, epoch)?;
                }
                self.plan_front(driver)?;
            }
            if self.epochs.is_empty() {
                if let Some(seq) = quiet.take() {
                    driver.control.mark_idle(seq);
                    if !idle {
                        idle = true;
                        driver
                            .vocabulary
                            .status("Waiting for data to arrive", false, false);
                        driver.vocabulary.idle();
                    }
                }
                if reader_done {
                    return Ok(());
                }
            }
        }
    }

    fn complete(&self, epoch: &Epoch) -> bool {
        epoch.planned
            && epoch.sink_acks >= self.sink_writers
            && (self.state_tasks == 0 || epoch.prepared.is_some())
    }

    /// The reader ended an epoch.
    fn cut(
        &mut self,
        driver: &mut Driver,
        plan: BatchPlan,
        rows: Vec<u64>,
        trigger_time: Time,
        record: bool,
    ) {
        driver.vocabulary.status("Processing new data", true, true);
        self.epochs.push_back(Epoch {
            plan,
            rows,
            trigger_time,
            cut: Instant::now(),
            state_acks: 0,
            sink_acks: 0,
            output_rows: 0,
            prepared: None,
            state_commit: std::time::Duration::ZERO,
            plan_bytes: 0,
            plan_time: std::time::Duration::ZERO,
            record,
            planned: false,
        });
    }

    /// Records the plan of the oldest epoch not committed yet — with the watermark the
    /// commit before it computed — and hands it to the checkpoint writer.
    fn plan_front(&mut self, driver: &mut Driver) -> Result<()> {
        let Some(epoch) = self.epochs.front_mut().filter(|e| !e.planned) else {
            return Ok(());
        };
        let started = Instant::now();
        if epoch.record {
            epoch.plan.watermark = driver.vocabulary.watermark();
        }
        if let Some(d) = &driver.durability {
            if epoch.record {
                let payload = Checkpoint::encode_plan(&epoch.plan)?;
                epoch.plan_bytes = payload.len() as u64;
                d.writer.write_plan(epoch.plan.batch.id, payload)?;
            } else {
                d.writer.plan_written(epoch.plan.batch.id);
            }
        }
        driver.vocabulary.planned(&epoch.plan);
        epoch.planned = true;
        epoch.plan_time = started.elapsed();
        Ok(())
    }

    /// An aggregation task reached the marker of epoch `id`: once all did, their state is
    /// captured for the checkpoint and they carry on.
    fn state_ready(&mut self, driver: &mut Driver, id: u64) -> Result<()> {
        let Some(epoch) = self.epochs.iter_mut().find(|e| e.plan.batch.id == id) else {
            return Err(Error::illegal_state(format!(
                "a task reached the marker of unknown epoch {id}"
            )));
        };
        epoch.state_acks += 1;
        if epoch.state_acks < self.state_tasks {
            return Ok(());
        }
        let started = Instant::now();
        if let Some(d) = &mut driver.durability {
            epoch.prepared = Some(d.state.prepare(id)?);
        }
        epoch.state_commit = started.elapsed();
        for resume in &self.resumers {
            let _ = resume.send(id);
        }
        Ok(())
    }

    /// Every task handed over epoch `epoch`: the steps of a micro-batch's commit.
    fn commit(&mut self, driver: &mut Driver, epoch: Epoch) -> Result<()> {
        let Epoch {
            plan,
            rows,
            trigger_time,
            cut,
            prepared,
            state_commit,
            plan_bytes,
            mut plan_time,
            output_rows,
            ..
        } = epoch;
        let (id, time) = (plan.batch.id, plan.batch.time);
        let run = cut.elapsed();
        let waiting = Instant::now();
        if let Some(d) = &driver.durability {
            d.writer.await_plan(id)?;
        }
        plan_time += waiting.elapsed();
        let committing = Instant::now();
        let output = self.output.clone();
        let exec = self.exec.clone();
        driver.guarded(plan.batch, &output.name(), || output.commit(plan.batch, &exec))?;
        let commit = committing.elapsed();
        let info = driver.vocabulary.end_batch();
        let offsets_started = Instant::now();
        let mut writes = CheckpointWrites {
            enabled: driver.durability.is_some(),
            plan_bytes,
            ..CheckpointWrites::default()
        };
        if let Some(d) = &mut driver.durability {
            let prepared = match prepared {
                Some(prepared) => prepared,
                None => d.state.prepare(id)?,
            };
            let size = prepared.size();
            writes.state_files = size.files;
            writes.state_bytes = size.bytes;
            d.writer.commit(id, info, prepared)?;
        }
        for (source, range) in driver.sources.iter().zip(&plan.sources) {
            source.set_planned(range)?;
            source.commit();
        }
        for hook in &self.epoch_hooks {
            hook();
        }
        driver.next_id = id + 1;
        self.committed.store(id + 1, Ordering::Release);
        driver.last_time = Some(time);
        let completed = Completed {
            plan: &plan,
            trigger_time,
            input_rows: rows.iter().sum(),
            source_malformed: driver.sources.iter().map(|s| s.take_malformed()).collect(),
            source_rows: rows,
            output_rows,
            interval: None,
            timings: Timings {
                latest_offset: std::time::Duration::ZERO,
                plan: plan_time,
                state_commit,
                commit_offsets: offsets_started.elapsed(),
                run,
                commit,
                total: cut.elapsed(),
            },
            checkpoint: writes,
        };
        driver.vocabulary.completed(&completed)?;
        driver.tell_sources(&completed);
        Ok(())
    }
}

/// The reader: polls the sources, hands records to the source tasks, ends epochs.
struct Reader {
    /// The id of the next epoch the committer commits.
    committed: Arc<AtomicU64>,
    feeders: Vec<Box<dyn Feeder>>,
    reports: Sender<Report>,
    control: Arc<JobControl>,
    clock: Arc<dyn Clock>,
    interval: Duration,
    next_id: u64,
    last_time: Option<Time>,
}

impl Reader {
    fn run(mut self, pending: Option<BatchPlan>, start: Time) -> Result<()> {
        // A source's own code runs here (its offsets, and the reading of its batch): a panic in
        // it, or an error it raised while reading (a file gone, a fail-fast record), fails the
        // query with what it said.
        crate::exec::failure::set_current_operator("");
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.read(pending, start)))
            .unwrap_or_else(|payload| {
                Err(crate::exec::driver::user_code_error(
                    payload,
                    "source",
                    self.clock.now(),
                ))
            });
        if let Err(e) = &outcome {
            let _ = self.reports.send(Report::Failed(e.clone()));
        }
        for feeder in &mut self.feeders {
            feeder.close();
        }
        let _ = self.reports.send(Report::ReaderDone);
        outcome
    }

    /// The next epoch boundary after `now`: a multiple of the interval on the clock.
    fn boundary(&self, now: Time) -> Time {
        let iv = self.interval.millis().max(1) as i64;
        Time::from_millis((now.millis().div_euclid(iv) + 1) * iv)
    }

    fn read(&mut self, pending: Option<BatchPlan>, start: Time) -> Result<()> {
        let n = self.feeders.len();
        if let Some(plan) = pending {
            // A restart: the epoch that was planned and never committed runs again with exactly
            // its recorded ranges.
            let mut rows = Vec::with_capacity(n);
            for (feeder, range) in self.feeders.iter_mut().zip(&plan.sources) {
                rows.push(feeder.replay(range)?);
            }
            for feeder in &mut self.feeders {
                feeder.cut();
            }
            let now = self.clock.now();
            self.end_epoch(plan, rows, now, false)?;
        }
        let mut next_epoch = self.boundary(start);
        let mut rows = vec![0_u64; n];
        let mut read_any = false;
        let mut delay = MIN_POLL;
        let mut last_record = Instant::now();
        let mut quiet_sent = 0;
        loop {
            if let Some(graceful) = self.control.stop_requested() {
                if graceful && self.control.error().is_none() {
                    // A graceful stop: take what the sources have, then end the last epoch.
                    let now = self.clock.now();
                    for (i, feeder) in self.feeders.iter_mut().enumerate() {
                        feeder.stop_source();
                        rows[i] += feeder.poll(now, true)?;
                    }
                    if read_any || rows.iter().any(|&r| r > 0) {
                        self.cut(now, rows)?;
                    }
                }
                return Ok(());
            }
            if self
                .next_id
                .saturating_sub(self.committed.load(Ordering::Acquire))
                >= MAX_PENDING_EPOCHS
            {
                // The sink is behind: wait for a commit (a stop is seen at the next turn).
                std::thread::sleep(MAX_POLL);
                continue;
            }
            let seq = self.control.wake_seq();
            let now = self.clock.now();
            let mut got = 0;
            for (i, feeder) in self.feeders.iter_mut().enumerate() {
                let read = feeder.poll(now, false)?;
                rows[i] += read;
                got += read;
            }
            read_any |= got > 0;
            // An epoch ends at its boundary, once it holds MAX_EPOCH_ROWS records, or at once
            // for someone waiting in process_all_available once everything available was read;
            // an epoch without records is skipped.
            let full = rows.iter().sum::<u64>() >= MAX_EPOCH_ROWS;
            if read_any && (now >= next_epoch || full || (got == 0 && self.control.idle_wanted())) {
                self.cut(now, std::mem::replace(&mut rows, vec![0; n]))?;
                read_any = false;
            }
            if now >= next_epoch {
                next_epoch = self.boundary(now);
            }
            if !read_any && got == 0 && seq != quiet_sent {
                let _ = self.reports.send(Report::Quiet(seq));
                quiet_sent = seq;
            }
            delay = if got > 0 {
                last_record = Instant::now();
                MIN_POLL
            } else if last_record.elapsed() >= IDLE_AFTER {
                IDLE_POLL
            } else {
                (delay * 2).min(MAX_POLL)
            };
            let deadline = Instant::now() + delay;
            let control = &self.control;
            self.clock.wait_until(next_epoch, delay, &|| {
                control.stopping() || control.wake_seq() != seq || Instant::now() >= deadline
            });
        }
    }

    /// Ends the current epoch at `now` with what each source read since the last one.
    fn cut(&mut self, now: Time, rows: Vec<u64>) -> Result<()> {
        let time = match self.last_time {
            // Epoch times order epochs, as batch times order batches.
            Some(last) => now.max(last + Duration::from_millis(1)),
            None => now,
        };
        let plan = BatchPlan {
            batch: BatchId {
                id: self.next_id,
                time,
            },
            sources: self.feeders.iter_mut().map(|f| f.cut()).collect(),
            watermark: None,
        };
        self.end_epoch(plan, rows, now, true)
    }

    fn end_epoch(&mut self, plan: BatchPlan, rows: Vec<u64>, now: Time, record: bool) -> Result<()> {
        let batch = plan.batch;
        self.reports
            .send(Report::Cut {
                plan,
                rows,
                trigger_time: now,
                record,
            })
            .map_err(|_| Error::illegal_state("the continuous committer stopped"))?;
        for feeder in &mut self.feeders {
            feeder.marker(batch)?;
        }
        self.next_id = batch.id + 1;
        self.last_time = Some(batch.time);
        Ok(())
    }
}
