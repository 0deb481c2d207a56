//! Clocks: the system clock, and a manual clock that tests move forward.

use std::sync::{Arc, Condvar, Mutex};

use super::{IntoDuration, Time};
use crate::error::Result;

/// A source of the current time, with a way to block until a given time.
///
/// The driver asks the clock for the time and waits on it between batches; a
/// [`ManualClock`] lets a test decide when each batch runs.
///
/// # Examples
///
/// ```
/// use streamflow::{Clock, Duration, ManualClock, Time};
///
/// /// How long until the next batch boundary, on any clock.
/// fn ms_to_next_batch(clock: &dyn Clock, batch: Duration) -> i64 {
///     let now = clock.now().millis();
///     let batch = batch.millis() as i64;
///     (now.div_euclid(batch) + 1) * batch - now
/// }
///
/// let clock = ManualClock::new(0);
/// clock.set_time(Time::from_millis(2_300));
/// assert_eq!(ms_to_next_batch(&clock, Duration::seconds(1)), 700);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    ///
    /// ```
    /// use streamflow::{Clock, ManualClock, SystemClock, Time};
    ///
    /// assert_eq!(ManualClock::new(42).now(), Time::from_millis(42));
    /// assert!(SystemClock.now() > Time::from_millis(1_600_000_000_000));
    /// ```
    fn now(&self) -> Time;

    /// Blocks until the clock reaches `target` or `cancelled()` returns true; returns the time
    /// reached. Implementations wake at least every `poll` so that cancellation is seen.
    ///
    /// ```
    /// use streamflow::{Clock, ManualClock, Time};
    ///
    /// let clock = ManualClock::new(1_000);
    /// let poll = std::time::Duration::from_millis(10);
    /// // A target already reached returns at once, with the clock's time.
    /// assert_eq!(clock.wait_until(Time::from_millis(500), poll, &|| false), Time::from_millis(1_000));
    /// // A cancelled wait returns at once too, before the target.
    /// assert_eq!(clock.wait_until(Time::from_millis(9_000), poll, &|| true), Time::from_millis(1_000));
    /// ```
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
/// Clones share the same time. `advance` wakes the driver, which then runs every batch
/// whose time has come.
///
/// ```
/// use streamflow::{Clock, ManualClock};
///
/// let clock = ManualClock::new(0);
/// clock.advance("1 second")?;
/// assert_eq!(clock.now().millis(), 1_000);
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    inner: Arc<(Mutex<i64>, Condvar)>,
}

impl ManualClock {
    /// A manual clock showing `start_millis`.
    ///
    /// ```
    /// use streamflow::{Clock, Duration, ManualClock, Time};
    ///
    /// let clock = ManualClock::new(5_000);
    /// assert_eq!(clock.now(), Time::from_millis(5_000));
    /// let shared = clock.clone(); // clones show the same time
    /// clock.advance(Duration::seconds(1))?;
    /// assert_eq!(shared.now().millis(), 6_000);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn new(start_millis: i64) -> Self {
        ManualClock {
            inner: Arc::new((Mutex::new(start_millis), Condvar::new())),
        }
    }

    /// Moves the clock forward by `by`: a string such as `"10 seconds"`, a
    /// `std::time::Duration` or a [`Duration`](super::Duration), as every API that takes a
    /// duration; an error if `by` is no duration (the clock does not move then).
    ///
    /// ```
    /// use streamflow::{Clock, Duration, ManualClock};
    ///
    /// let clock = ManualClock::new(0);
    /// clock.advance("1 minute")?;
    /// clock.advance(std::time::Duration::from_secs(1))?;
    /// clock.advance(Duration::milliseconds(500))?;
    /// assert_eq!(clock.now().millis(), 61_500);
    /// assert!(clock.advance("a while").is_err());
    /// assert_eq!(clock.now().millis(), 61_500);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    ///
    /// A thread blocked in [`wait_until`](Clock::wait_until) wakes once the clock reaches its target:
    ///
    /// ```
    /// use streamflow::{Clock, Duration, ManualClock, Time};
    ///
    /// let clock = ManualClock::new(0);
    /// let waiter = clock.clone();
    /// let woke_at = std::thread::spawn(move || {
    ///     waiter.wait_until(Time::from_millis(2_000), std::time::Duration::from_secs(60), &|| false)
    /// });
    /// clock.advance(Duration::seconds(1))?;
    /// clock.advance(Duration::seconds(1))?;
    /// assert_eq!(woke_at.join().unwrap(), Time::from_millis(2_000));
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn advance(&self, by: impl IntoDuration) -> Result<()> {
        let by = by.into_duration()?;
        let (lock, cvar) = &*self.inner;
        let mut now = lock.lock().unwrap_or_else(|e| e.into_inner());
        *now = now.saturating_add(by.millis() as i64);
        cvar.notify_all();
        Ok(())
    }

    /// Sets the clock to `to` (it may not go back: an earlier time is ignored).
    ///
    /// ```
    /// use streamflow::{Clock, ManualClock, Time};
    ///
    /// let clock = ManualClock::new(0);
    /// clock.set_time(Time::from_millis(10_000));
    /// assert_eq!(clock.now().millis(), 10_000);
    /// clock.set_time(Time::from_millis(3_000)); // ignored: the clock never goes back
    /// assert_eq!(clock.now().millis(), 10_000);
    /// ```
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
        // Under the lock, so a waiter between its `cancelled()` check and its wait is not missed.
        let (lock, cvar) = &*self.inner;
        let _guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        cvar.notify_all();
    }
}
