//! The checkpoint's writer thread: files are written and synced while the next batch runs.
//!
//! Syncing a file to disk takes milliseconds; a batch of a fast job takes not many more. The
//! driver therefore hands the files to this thread, in order, and waits only where the
//! guarantee needs it:
//!
//! - a batch's plan (`offsets/<id>`) is durable before any sink sees the batch
//!   ([`Writer::await_plan`]): a restart re-runs exactly what a sink may have seen;
//! - a batch's state files are durable before its `commits/<id>`, and `commits/<id>` before
//!   the next batch's plan — the jobs run one by one, in the order they were given;
//! - when the job ends, everything handed over is written ([`Writer::flush`]).
//!
//! A job killed before its commit was written simply re-runs that batch after a restart, which
//! is what a kill one moment earlier would have caused.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, unbounded};

use super::state::PreparedState;
use super::{Checkpoint, CommitInfo};
use crate::error::{Error, Result};

enum Job {
    /// `offsets/<id>` with these bytes.
    Plan { id: u64, payload: Vec<u8> },
    /// The batch's state files, then `commits/<id>`.
    Commit {
        id: u64,
        info: CommitInfo,
        state: PreparedState,
    },
}

#[derive(Default)]
struct Progress {
    /// The newest batch whose plan is durable.
    plan: Option<u64>,
    /// Jobs handed over and not yet done.
    pending: usize,
    /// The first write that failed: the job fails with it.
    error: Option<Error>,
}

struct Shared {
    progress: Mutex<Progress>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Writes a job's checkpoint files on a thread of its own, in order.
pub(crate) struct Writer {
    jobs: Option<Sender<Job>>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer of `checkpoint`.
    pub(crate) fn start(checkpoint: Arc<Checkpoint>, name: &str) -> Result<Writer> {
        let (tx, rx) = unbounded::<Job>();
        let shared = Arc::new(Shared {
            progress: Mutex::new(Progress::default()),
            changed: Condvar::new(),
        });
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("{name}-checkpoint"))
            .spawn(move || {
                for job in rx {
                    let failed = state.lock().error.is_some();
                    // After a failure nothing more is written: a later commit must not cover
                    // for a missing earlier file.
                    let outcome = if failed { Ok(None) } else { run(&checkpoint, job) };
                    let mut progress = state.lock();
                    progress.pending -= 1;
                    match outcome {
                        Ok(Some(plan)) => progress.plan = Some(plan),
                        Ok(None) => {}
                        Err(e) => {
                            if progress.error.is_none() {
                                progress.error = Some(e);
                            }
                        }
                    }
                    drop(progress);
                    state.changed.notify_all();
                }
            })
            .map_err(|e| Error::io("cannot start the checkpoint writer thread", e))?;
        Ok(Writer {
            jobs: Some(tx),
            shared,
            thread: Some(thread),
        })
    }

    fn send(&self, job: Job) -> Result<()> {
        self.shared.lock().pending += 1;
        let sent = self.jobs.as_ref().is_some_and(|jobs| jobs.send(job).is_ok());
        if sent {
            Ok(())
        } else {
            self.shared.lock().pending -= 1;
            Err(Error::illegal_state("the checkpoint writer has stopped"))
        }
    }

    /// Hands over `offsets/<id>` with `payload` (the plan, encoded).
    pub(crate) fn write_plan(&self, id: u64, payload: Vec<u8>) -> Result<()> {
        self.send(Job::Plan { id, payload })
    }

    /// Hands over the state files of batch `id`, then its `commits/<id>`.
    pub(crate) fn commit(&self, id: u64, info: CommitInfo, state: PreparedState) -> Result<()> {
        self.send(Job::Commit { id, info, state })
    }

    /// Notes that the plan of batch `id` is on disk already (a batch re-run after a restart).
    pub(crate) fn plan_written(&self, id: u64) {
        let mut progress = self.shared.lock();
        progress.plan = Some(progress.plan.map_or(id, |p| p.max(id)));
    }

    /// Waits until the plan of batch `id` is durable; the writer's error if a write failed.
    pub(crate) fn await_plan(&self, id: u64) -> Result<()> {
        let mut progress = self.shared.lock();
        loop {
            if let Some(e) = progress.error.as_ref() {
                return Err(e.clone());
            }
            if progress.plan.is_some_and(|p| p >= id) {
                return Ok(());
            }
            progress = self
                .shared
                .changed
                .wait(progress)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Waits until everything handed over is written; the writer's error if a write failed.
    pub(crate) fn flush(&self) -> Result<()> {
        let mut progress = self.shared.lock();
        while progress.pending > 0 && progress.error.is_none() {
            progress = self
                .shared
                .changed
                .wait(progress)
                .unwrap_or_else(|e| e.into_inner());
        }
        match progress.error.as_ref() {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the channel ends the thread once it wrote what it was given.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Runs one job; returns the plan made durable, if it was one.
fn run(checkpoint: &Checkpoint, job: Job) -> Result<Option<u64>> {
    match job {
        Job::Plan { id, payload } => {
            checkpoint.write_plan_bytes(id, &payload)?;
            Ok(Some(id))
        }
        Job::Commit { id, info, state } => {
            state.write()?;
            checkpoint.write_commit(id, &info)?;
            Ok(None)
        }
    }
}
