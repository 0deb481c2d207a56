//! [`JobControl`]: the lifecycle every job shares — a DStream context or a Structured query.
//!
//! It holds where the job is (initialized, active, stopped), the error that stopped it, a stop
//! request, and the wake-up counter that sources and `process_all_available` use. Every wait
//! here is on a condition variable, never a sleep; the driver always ends by calling
//! [`JobControl::finish`], so `await_termination`, `process_all_available` and `stop` return.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::context::ContextState;
use crate::error::{Error, Result};
use crate::time::Clock;

/// How often a waiter looks again even if nobody notified it (wall time).
pub(crate) const REAL_POLL: std::time::Duration = std::time::Duration::from_millis(50);

pub(crate) struct ControlState {
    pub(crate) phase: ContextState,
    pub(crate) error: Option<Error>,
    /// `Some(graceful)` once a stop was asked for.
    pub(crate) stop: Option<bool>,
    /// The highest wake-up number at which the driver found nothing left to do.
    pub(crate) idle_seq: u64,
}

pub(crate) struct JobControl {
    pub(crate) name: String,
    clock: Arc<dyn Clock>,
    state: Mutex<ControlState>,
    changed: Condvar,
    wake: AtomicU64,
    /// The highest wake-up number `process_all_available` waits to see answered.
    idle_wanted: AtomicU64,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl JobControl {
    pub(crate) fn new(name: impl Into<String>, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(JobControl {
            name: name.into(),
            clock,
            state: Mutex::new(ControlState {
                phase: ContextState::Initialized,
                error: None,
                stop: None,
                idle_seq: 0,
            }),
            changed: Condvar::new(),
            wake: AtomicU64::new(1),
            idle_wanted: AtomicU64::new(0),
            thread: Mutex::new(None),
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, ControlState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the state and wakes everyone waiting on it.
    pub(crate) fn update(&self, f: impl FnOnce(&mut ControlState)) {
        f(&mut self.lock());
        self.changed.notify_all();
    }

    pub(crate) fn phase(&self) -> ContextState {
        self.lock().phase
    }

    pub(crate) fn stop_requested(&self) -> Option<bool> {
        self.lock().stop
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop_requested().is_some()
    }

    /// Asks the driver to stop (a non-graceful request wins over a graceful one); wakes it.
    pub(crate) fn request_stop(&self, graceful: bool) {
        self.update(|s| s.stop = Some(s.stop.unwrap_or(graceful) && graceful));
        self.clock.notify_all();
    }

    /// New data or a waiter: the driver should look again.
    pub(crate) fn wake(&self) {
        self.wake.fetch_add(1, Ordering::AcqRel);
        self.clock.notify_all();
    }

    pub(crate) fn wake_seq(&self) -> u64 {
        self.wake.load(Ordering::Acquire)
    }

    /// Records the first error, asks for a stop and wakes everyone.
    /// Whether someone waits in `process_all_available` for an answer not given yet (a
    /// continuous query ends its epoch early for them).
    pub(crate) fn idle_wanted(&self) -> bool {
        self.idle_wanted.load(Ordering::Acquire) > self.lock().idle_seq
    }

    pub(crate) fn fail(&self, error: Error) {
        log::error!("{}: {error}", self.name);
        self.update(|s| {
            if s.error.is_none() {
                s.error = Some(error);
            }
            s.stop.get_or_insert(false);
        });
        self.clock.notify_all();
    }

    /// Says the driver had nothing left to do at wake-up number `seq`.
    pub(crate) fn mark_idle(&self, seq: u64) {
        self.update(|s| s.idle_seq = s.idle_seq.max(seq));
    }

    /// The driver ended: the job is stopped.
    pub(crate) fn finish(&self) {
        self.update(|s| s.phase = ContextState::Stopped);
        self.clock.notify_all();
    }

    pub(crate) fn set_thread(&self, handle: JoinHandle<()>) {
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
    }

    /// Waits for the driver thread to end, unless called from it (or from a task it runs,
    /// `on_worker`): joining would wait for ourselves; the driver ends after this batch.
    pub(crate) fn join(&self, on_worker: bool) {
        let handle = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(handle) = handle {
            if handle.thread().id() == std::thread::current().id() || on_worker {
                self.set_thread(handle);
                return;
            }
            let _ = handle.join();
        }
    }

    /// The error that stopped the job, if any (a copy: later callers get it too).
    pub(crate) fn error(&self) -> Option<Error> {
        self.lock().error.as_ref().cloned()
    }

    /// Waits until the job stopped, or `timeout` passed: `Ok(true)` if it stopped, the error
    /// that stopped it if one did.
    pub(crate) fn await_termination(&self, timeout: Option<std::time::Duration>) -> Result<bool> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        let mut state = self.lock();
        while state.phase != ContextState::Stopped {
            let wait = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    left.min(REAL_POLL)
                }
                None => REAL_POLL,
            };
            state = self
                .changed
                .wait_timeout(state, wait)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        state.error.as_ref().map_or(Ok(true), |e| Err(e.clone()))
    }

    /// Waits until the driver has found nothing left to do after this call, or stopped
    /// (Spark's `processAllAvailable`).
    pub(crate) fn await_idle(&self) -> Result<()> {
        let target = self.wake.fetch_add(1, Ordering::AcqRel) + 1;
        self.idle_wanted.fetch_max(target, Ordering::AcqRel);
        self.clock.notify_all();
        let mut state = self.lock();
        while state.phase == ContextState::Active && state.idle_seq < target {
            state = self
                .changed
                .wait_timeout(state, REAL_POLL)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        state.error.as_ref().map_or(Ok(()), |e| Err(e.clone()))
    }
}
