//! Clocks: the system clock, and a manual clock that tests move forward.

use std::sync::{Arc, Condvar, Mutex};

use super::Time;

/// A source of the current time, with a way to block until a given time.
///
/// The scheduler asks the clock for the time and waits on it between batches; a
/// [`ManualClock`] lets a test decide when each batch runs.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Time;

    /// Blocks until the clock reaches `target` or `cancelled()` returns true; returns the time
    /// reached. Implementations wake at least every `poll` so that cancellation is seen.
    fn wait_until(&self, target: Time, poll: std::time::Duration, cancelled: &dyn Fn() -> bool) -> Time;

    /// Wakes every thread blocked in `wait_until` (used when a context stops).
    fn notify_all(&self) {}
}

/// The wall clock.
///
/// ```
/// use streamflow::{Clock, SystemClock};
/// assert!(SystemClock.now().millis() > 1_600_000_000_000);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Time {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Time::from_millis(millis)
    }

    fn wait_until(&self, target: Time, poll: std::time::Duration, cancelled: &dyn Fn() -> bool) -> Time {
        loop {
            let now = self.now();
            if now >= target || cancelled() {
                return now;
            }
            let left = std::time::Duration::from_millis((target - now) as u64);
            std::thread::park_timeout(left.min(poll));
        }
    }
}

/// A clock that only moves when told to: the test clock.
///
/// Clones share the same time. `advance` wakes the scheduler, which then runs every batch
/// whose time has come.
///
/// ```
/// use streamflow::{Clock, Duration, ManualClock};
///
/// let clock = ManualClock::new(0);
/// clock.advance(Duration::seconds(1));
/// assert_eq!(clock.now().millis(), 1_000);
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    inner: Arc<(Mutex<i64>, Condvar)>,
}

impl ManualClock {
    /// A manual clock showing `start_millis`.
    pub fn new(start_millis: i64) -> Self {
        ManualClock {
            inner: Arc::new((Mutex::new(start_millis), Condvar::new())),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: super::Duration) {
        let (lock, cvar) = &*self.inner;
        let mut now = lock.lock().unwrap_or_else(|e| e.into_inner());
        *now = now.saturating_add(by.millis() as i64);
        cvar.notify_all();
    }

    /// Sets the clock to `to` (it may not go back: an earlier time is ignored).
    pub fn set_time(&self, to: Time) {
        let (lock, cvar) = &*self.inner;
        let mut now = lock.lock().unwrap_or_else(|e| e.into_inner());
        *now = (*now).max(to.millis());
        cvar.notify_all();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Time {
        let (lock, _) = &*self.inner;
        Time::from_millis(*lock.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn wait_until(&self, target: Time, poll: std::time::Duration, cancelled: &dyn Fn() -> bool) -> Time {
        let (lock, cvar) = &*self.inner;
        let mut now = lock.lock().unwrap_or_else(|e| e.into_inner());
        while *now < target.millis() && !cancelled() {
            now = cvar
                .wait_timeout(now, poll)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        Time::from_millis(*now)
    }

    fn notify_all(&self) {
        self.inner.1.notify_all();
    }
}
