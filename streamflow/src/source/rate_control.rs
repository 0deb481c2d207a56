//! How fast sources take input: [`SourceLimits`] (a fixed maximum rate, buffers, line length,
//! backpressure on or off), Spark's [`PidRateEstimator`], and the pieces that apply them — a
//! rate limiter that a receiver's `store` waits on, and a controller that turns each batch's
//! statistics into the next rate.
//!
//! With backpressure on, after every batch the driver hands each source the batch's
//! [`BatchStats`]; the source's PID estimator turns them into a new rate (records per second),
//! capped by the fixed `max_rate`. A receiver then stores no faster than that rate (its thread
//! waits in `store`, so a socket is read no faster and TCP slows the sender down); a pull source
//! of a DStream context whose read limit counts records
//! ([`Source::read_limit_counts_records`](super::Source::read_limit_counts_records): the rate
//! and generator sources, Kafka) takes no more than `rate × batch interval` records into a
//! batch — what is left waits for the next batches, nothing is dropped. File sources count
//! files, not records: they are bounded by `max_files_per_trigger` instead.

use std::sync::Mutex;
use std::time::Instant;

use crate::error::{Error, Result};
use crate::exec::lock;
use crate::time::{Duration, IntoDuration, Time};

/// How much a source may take in, and how fast (Spark's `spark.streaming.receiver.maxRate`,
/// `spark.streaming.backpressure.*`, plus the bounds that keep hostile input from growing memory).
///
/// Set it for every receiver of a DStream context with
/// [`ContextBuilder::source_limits`](crate::ContextBuilder::source_limits), and for one source
/// of a query with [`DataStreamReader::limits`](crate::structured::DataStreamReader::limits).
///
/// | setting | default | what |
/// |---|---|---|
/// | [`max_rate`](Self::max_rate) | none | records per second a receiver stores (or a DStream's pull source whose limit counts records, such as `rate_stream`, takes), at most |
/// | [`backpressure`](Self::backpressure) | off | adapt the rate to what batches manage ([`PidRateEstimator`]) |
/// | [`initial_rate`](Self::initial_rate) | none | the rate before the first estimate |
/// | [`max_buffered_records`](Self::max_buffered_records) | 1,000,000 | records a receiver holds before its batch takes them |
/// | [`max_buffered_bytes`](Self::max_buffered_bytes) | 64 MiB | bytes it holds (the text of lines; the records' own size otherwise) |
/// | [`max_line_length`](Self::max_line_length) | 1 MiB | longer socket or file lines are skipped, counted and logged |
/// | [`settle_time`](Self::settle_time) | 250 ms | how long a file must stay unchanged before a file source takes it |
///
/// A receiver whose buffer is full waits in `store` until a batch takes what it holds: a socket
/// receiver then stops reading, and TCP's flow control slows the sender down. Nothing is dropped.
///
/// # Examples
///
/// ```
/// use streamflow::source::SourceLimits;
/// use streamflow::{Duration, StreamingContext};
///
/// let limits = SourceLimits::default()
///     .max_rate(10_000)
///     .backpressure(true)
///     .max_line_length(64 * 1024);
/// let ssc = StreamingContext::builder()
///     .batch_duration(Duration::seconds(1))
///     .source_limits(limits.clone())
///     .build()?;
/// assert_eq!(ssc.source_limits(), &limits);
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SourceLimits {
    pub(crate) max_rate: Option<u64>,
    pub(crate) backpressure: bool,
    pub(crate) initial_rate: Option<u64>,
    pub(crate) pid: PidGains,
    pub(crate) max_buffered_records: usize,
    pub(crate) max_buffered_bytes: usize,
    pub(crate) max_line_length: usize,
    pub(crate) settle_time: std::time::Duration,
    pub(crate) max_file_age: std::time::Duration,
}

/// The gains of the PID estimator (Spark's `spark.streaming.backpressure.pid.*`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct PidGains {
    pub(crate) proportional: f64,
    pub(crate) integral: f64,
    pub(crate) derivative: f64,
    pub(crate) min_rate: f64,
}

impl Default for PidGains {
    fn default() -> Self {
        PidGains {
            proportional: 1.0,
            integral: 0.2,
            derivative: 0.0,
            min_rate: 100.0,
        }
    }
}

impl Default for SourceLimits {
    fn default() -> Self {
        SourceLimits {
            max_rate: None,
            backpressure: false,
            initial_rate: None,
            pid: PidGains::default(),
            max_buffered_records: 1_000_000,
            max_buffered_bytes: 64 << 20,
            max_line_length: 1 << 20,
            settle_time: std::time::Duration::from_millis(250),
            max_file_age: std::time::Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl SourceLimits {
    /// At most `records_per_second` records per second per receiver (Spark's
    /// `spark.streaming.receiver.maxRate`); with backpressure, the estimated rate never exceeds
    /// it. `0` means no limit.
    ///
    /// ```
    /// let limits = streamflow::source::SourceLimits::default().max_rate(500);
    /// # let _ = limits;
    /// ```
    pub fn max_rate(mut self, records_per_second: u64) -> Self {
        self.max_rate = (records_per_second > 0).then_some(records_per_second);
        self
    }

    /// Whether the rate adapts to what batches manage (Spark's
    /// `spark.streaming.backpressure.enabled`): after each batch a [`PidRateEstimator`] with
    /// Spark's gains computes the next rate from the batch's records, processing delay and
    /// scheduling delay.
    ///
    /// ```
    /// let limits = streamflow::source::SourceLimits::default().backpressure(true);
    /// # let _ = limits;
    /// ```
    pub fn backpressure(mut self, enabled: bool) -> Self {
        self.backpressure = enabled;
        self
    }

    /// The rate before backpressure's first estimate (Spark's
    /// `spark.streaming.backpressure.initialRate`); `0` means none.
    ///
    /// ```
    /// let limits = streamflow::source::SourceLimits::default().backpressure(true).initial_rate(1_000);
    /// # let _ = limits;
    /// ```
    pub fn initial_rate(mut self, records_per_second: u64) -> Self {
        self.initial_rate = (records_per_second > 0).then_some(records_per_second);
        self
    }

    /// The PID estimator's gains and its lowest rate (Spark's
    /// `spark.streaming.backpressure.pid.proportional`, `.integral`, `.derived`, `.minRate`;
    /// by default 1.0, 0.2, 0.0 and 100). An error if a gain is negative or not finite, or the
    /// lowest rate is not positive.
    ///
    /// ```
    /// use streamflow::source::SourceLimits;
    /// let limits = SourceLimits::default().backpressure(true).pid(1.0, 0.1, 0.0, 10.0)?;
    /// assert!(SourceLimits::default().pid(-1.0, 0.2, 0.0, 100.0).is_err());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn pid(mut self, proportional: f64, integral: f64, derivative: f64, min_rate: f64) -> Result<Self> {
        self.pid = PidGains::new(proportional, integral, derivative, min_rate)?;
        Ok(self)
    }

    /// At most `records` records held by a receiver before a batch takes them (at least 1).
    ///
    /// ```
    /// let limits = streamflow::source::SourceLimits::default().max_buffered_records(10_000);
    /// # let _ = limits;
    /// ```
    pub fn max_buffered_records(mut self, records: usize) -> Self {
        self.max_buffered_records = records.max(1);
        self
    }

    /// At most `bytes` held by a receiver before a batch takes them (at least 1): the text of
    /// the lines of a socket, `size_of::<T>()` per record otherwise.
    ///
    /// ```
    /// let limits = streamflow::source::SourceLimits::default().max_buffered_bytes(16 << 20);
    /// # let _ = limits;
    /// ```
    pub fn max_buffered_bytes(mut self, bytes: usize) -> Self {
        self.max_buffered_bytes = bytes.max(1);
        self
    }

    /// The longest line a socket or file source reads, in bytes (without its `\n`; at least 1):
    /// a longer line is skipped whole, counted as undecodable and logged, and never held in
    /// memory beyond this length.
    ///
    /// ```
    /// let limits = streamflow::source::SourceLimits::default().max_line_length(4096);
    /// # let _ = limits;
    /// ```
    pub fn max_line_length(mut self, bytes: usize) -> Self {
        self.max_line_length = bytes.max(1);
        self
    }
}

/// The longest settle time: a file source waits for a young file on the query's thread.
const MAX_SETTLE: std::time::Duration = std::time::Duration::from_secs(60);

impl SourceLimits {
    /// How long a file must have stayed unchanged before a file source takes it: a file last
    /// modified longer ago is taken when listed; a younger one is looked at again once it is
    /// that old, and taken only if its size and modification time did not change — otherwise
    /// it is still being written, and a later listing takes it whole.
    ///
    /// This catches a writer that writes under the file's final name with pauses shorter than
    /// the settle time. The reliable way remains Spark's: write the file elsewhere (or under a
    /// name starting with `.` or `_`, which sources skip) and rename it into place when whole.
    ///
    /// Like every API that takes a duration, it accepts a string, a `std::time::Duration` or a
    /// [`Duration`]; an error if `settle` is no duration, or longer than one minute (a file
    /// source waits for a young file on the query's thread).
    ///
    /// ```
    /// use streamflow::source::SourceLimits;
    ///
    /// let limits = SourceLimits::default().settle_time(std::time::Duration::from_secs(2))?;
    /// assert_eq!(limits, SourceLimits::default().settle_time("2 seconds")?);
    /// assert_eq!(limits, SourceLimits::default().settle_time(streamflow::Duration::seconds(2))?);
    /// assert!(SourceLimits::default().settle_time("2 sec0nds").is_err());
    /// assert!(SourceLimits::default().settle_time("1 hour").is_err());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn settle_time(mut self, settle: impl IntoDuration) -> Result<Self> {
        let settle = settle.into_duration()?.to_std();
        if settle > MAX_SETTLE {
            return Err(Error::InvalidConfig(format!(
                "a settle time of {settle:?} is longer than the {} s allowed: a file source waits \
                 that long for every file still young when listed; write files elsewhere (or \
                 under a name starting with `.` or `_`) and rename them into place instead",
                MAX_SETTLE.as_secs()
            )));
        }
        self.settle_time = settle;
        Ok(self)
    }

    /// How old a file may be, before the newest file a file source has seen, and still be
    /// taken (Spark's `maxFileAge`, one week by default). Older files are ignored, and the
    /// source forgets the names of the files it took once they are that old, so its memory
    /// stays bounded however many files the directory receives over the job's life.
    ///
    /// As in Spark, the age is measured from the newest file's modification time, not from
    /// the clock, and the first listing takes every file whatever its age.
    ///
    /// ```
    /// use streamflow::source::SourceLimits;
    ///
    /// let limits = SourceLimits::default().max_file_age("1 day")?;
    /// assert_ne!(limits, SourceLimits::default());
    /// assert!(SourceLimits::default().max_file_age("a week or so").is_err());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn max_file_age(mut self, age: impl IntoDuration) -> Result<Self> {
        self.max_file_age = age.into_duration()?.to_std();
        Ok(self)
    }
}

impl PidGains {
    /// The gains, if each is finite and not negative and the lowest rate is positive.
    fn new(proportional: f64, integral: f64, derivative: f64, min_rate: f64) -> Result<Self> {
        let gains = PidGains {
            proportional,
            integral,
            derivative,
            min_rate,
        };
        gains.check()?;
        Ok(gains)
    }

    fn check(&self) -> Result<()> {
        let gains = [
            ("proportional", self.proportional),
            ("integral", self.integral),
            ("derivative", self.derivative),
        ];
        for (name, gain) in gains {
            if !(gain.is_finite() && gain >= 0.0) {
                return Err(Error::InvalidConfig(format!(
                    "the PID estimator's {name} gain is {gain}: it must be a finite number, 0 or more (Spark's defaults: 1.0, 0.2, 0.0)"
                )));
            }
        }
        if !(self.min_rate.is_finite() && self.min_rate > 0.0) {
            return Err(Error::InvalidConfig(format!(
                "the PID estimator's lowest rate is {}: it must be more than 0 records per second, so that batches keep measuring (Spark's default: 100)",
                self.min_rate
            )));
        }
        Ok(())
    }
}

/// What a source hears after each batch it took part in (Spark's `BatchInfo` as its
/// `RateController` reads it): the input of a [`PidRateEstimator`].
///
/// ```
/// use streamflow::source::BatchStats;
/// use streamflow::{Duration, Time};
///
/// let stats = BatchStats {
///     processing_end: Time::from_millis(2_000),
///     records: 1_000,
///     processing_delay: std::time::Duration::from_millis(500),
///     scheduling_delay: std::time::Duration::ZERO,
///     batch_interval: Some(Duration::seconds(1)),
/// };
/// assert_eq!(stats.records, 1_000);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchStats {
    /// The clock when the batch finished.
    pub processing_end: Time,
    /// The records this source handed to the batch.
    pub records: u64,
    /// How long the batch ran.
    pub processing_delay: std::time::Duration,
    /// How long the batch waited after its time before it ran.
    pub scheduling_delay: std::time::Duration,
    /// The job's batch interval (a DStream context's, a query's processing-time trigger's);
    /// `None` when batches run back to back.
    pub batch_interval: Option<Duration>,
}

/// Spark's `PIDRateEstimator`: a proportional-integral-derivative controller of the rate at
/// which a source takes records, so that a batch's processing fits in the batch interval.
///
/// Each completed batch gives the processing rate it achieved, `records / processing delay`.
/// The error is the gap between the rate last set and that rate; the "historical" error is the
/// backlog the scheduling delay shows, as a rate over one batch interval:
///
/// ```text
/// processing_rate  = records / processing_delay_ms * 1000
/// error            = latest_rate - processing_rate
/// historical_error = scheduling_delay_ms * processing_rate / batch_interval_ms
/// d_error          = (error - latest_error) / ((time - latest_time) / 1000)
/// new_rate         = max(latest_rate - P·error - I·historical_error - D·d_error, min_rate)
/// ```
///
/// with Spark's defaults P = 1.0, I = 0.2, D = 0.0, min rate 100 records/s. The first batch
/// only records its processing rate; batches with no records, no processing time, or a time not
/// after the last one are ignored. This is the same arithmetic, in the same order, as Spark's.
///
/// # Examples
///
/// ```
/// use streamflow::Duration;
/// use streamflow::source::PidRateEstimator;
///
/// let mut pid = PidRateEstimator::new(Duration::seconds(1))?;
/// // The first batch: 1000 records in 500 ms. It only records 2000 records/s.
/// assert_eq!(pid.compute(1_000, 1_000, 500, 0), None);
/// // The next ran at 1000 records/s with 400 ms of scheduling delay:
/// // error 2000 - 1000 = 1000; historical error 400 * 1000 / 1000 = 400;
/// // new rate 2000 - 1000 - 0.2 * 400 = 920.
/// assert_eq!(pid.compute(2_000, 1_000, 1_000, 400), Some(920.0));
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct PidRateEstimator {
    batch_interval_ms: u64,
    gains: PidGains,
    first_run: bool,
    latest_time: i64,
    latest_rate: f64,
    latest_error: f64,
}

impl PidRateEstimator {
    /// An estimator with Spark's gains (1.0, 0.2, 0.0, min rate 100) for a job whose batches
    /// come every `batch_interval`; an error if the interval is zero.
    ///
    /// ```
    /// use streamflow::{Duration, source::PidRateEstimator};
    /// assert!(PidRateEstimator::new(Duration::seconds(1)).is_ok());
    /// assert!(PidRateEstimator::new(Duration::ZERO).is_err());
    /// ```
    pub fn new(batch_interval: impl IntoDuration) -> Result<Self> {
        Self::with_gains(batch_interval, 1.0, 0.2, 0.0, 100.0)
    }

    /// An estimator with the given gains and lowest rate; an error if the interval is zero, a
    /// gain negative or the lowest rate not positive (Spark's `require`s).
    ///
    /// ```
    /// use streamflow::{Duration, source::PidRateEstimator};
    /// let mut pid = PidRateEstimator::with_gains(Duration::seconds(1), 1.0, 0.0, 0.0, 5.0)?;
    /// pid.compute(1_000, 100, 1_000, 0);
    /// // P alone: the rate becomes what the batch managed, 50 records/s.
    /// assert_eq!(pid.compute(2_000, 50, 1_000, 0), Some(50.0));
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn with_gains(
        batch_interval: impl IntoDuration,
        proportional: f64,
        integral: f64,
        derivative: f64,
        min_rate: f64,
    ) -> Result<Self> {
        let gains = PidGains::new(proportional, integral, derivative, min_rate)?;
        Self::with(batch_interval.into_duration()?, gains)
    }

    pub(crate) fn with(batch_interval: Duration, gains: PidGains) -> Result<Self> {
        if batch_interval.is_zero() {
            return Err(Error::InvalidConfig(
                "the PID rate estimator needs a batch interval greater than zero".into(),
            ));
        }
        Ok(PidRateEstimator {
            batch_interval_ms: batch_interval.millis(),
            gains,
            first_run: true,
            latest_time: -1,
            latest_rate: -1.0,
            latest_error: -1.0,
        })
    }

    /// The new rate in records per second after a batch that ended at `time_ms` (clock
    /// milliseconds) with `elements` records, `processing_delay_ms` of processing and
    /// `scheduling_delay_ms` of waiting; `None` when the batch gives no estimate (the first one,
    /// or one with no records or no processing time).
    ///
    /// ```
    /// use streamflow::{Duration, source::PidRateEstimator};
    /// let mut pid = PidRateEstimator::new(Duration::seconds(1))?;
    /// assert_eq!(pid.compute(1_000, 0, 10, 0), None); // no records: no estimate
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn compute(
        &mut self,
        time_ms: i64,
        elements: u64,
        processing_delay_ms: u64,
        scheduling_delay_ms: u64,
    ) -> Option<f64> {
        if !(time_ms > self.latest_time && elements > 0 && processing_delay_ms > 0) {
            return None;
        }
        let delay_since_update = (time_ms - self.latest_time) as f64 / 1000.0;
        let processing_rate = elements as f64 / processing_delay_ms as f64 * 1000.0;
        let error = self.latest_rate - processing_rate;
        let historical_error = scheduling_delay_ms as f64 * processing_rate / self.batch_interval_ms as f64;
        let d_error = (error - self.latest_error) / delay_since_update;
        let g = self.gains;
        let new_rate = (self.latest_rate
            - g.proportional * error
            - g.integral * historical_error
            - g.derivative * d_error)
            .max(g.min_rate);
        self.latest_time = time_ms;
        if self.first_run {
            self.latest_rate = processing_rate;
            self.latest_error = 0.0;
            self.first_run = false;
            None
        } else {
            self.latest_rate = new_rate;
            self.latest_error = error;
            Some(new_rate)
        }
    }
}

/// A source's rate: the fixed maximum, and with backpressure the PID estimate (Spark's
/// `RateController`).
pub(crate) struct RateController {
    limits: SourceLimits,
    state: Mutex<ControllerState>,
}

struct ControllerState {
    estimator: Option<PidRateEstimator>,
    /// The rate in force, records per second; `None` for unlimited.
    rate: Option<f64>,
}

impl RateController {
    pub(crate) fn new(limits: SourceLimits) -> Self {
        let initial = if limits.backpressure {
            limits.initial_rate.or(limits.max_rate)
        } else {
            limits.max_rate
        };
        RateController {
            state: Mutex::new(ControllerState {
                estimator: None,
                rate: initial.map(|r| r as f64),
            }),
            limits,
        }
    }

    pub(crate) fn limits(&self) -> &SourceLimits {
        &self.limits
    }

    /// The rate in force (records, or the source's units, per second); `None` for unlimited.
    pub(crate) fn rate(&self) -> Option<f64> {
        lock(&self.state).rate
    }

    /// Feeds a batch's statistics (with `units` the records, or the source's own units, it
    /// took) to the estimator; returns the new rate if it changed.
    pub(crate) fn update(&self, stats: &BatchStats, units: u64) -> Option<f64> {
        if !self.limits.backpressure {
            return None;
        }
        let mut state = lock(&self.state);
        if state.estimator.is_none() {
            // Batches back to back have no interval: their scheduling delay is zero, and the
            // interval only scales it, so the processing delay stands in.
            let interval = stats
                .batch_interval
                .unwrap_or_else(|| Duration::from(stats.processing_delay))
                .max(Duration::from_millis(1));
            state.estimator = PidRateEstimator::with(interval, self.limits.pid).ok();
        }
        let estimate = state.estimator.as_mut()?.compute(
            stats.processing_end.millis(),
            units,
            millis(stats.processing_delay),
            millis(stats.scheduling_delay),
        )?;
        let rate = match self.limits.max_rate {
            Some(max) => estimate.min(max as f64),
            None => estimate,
        };
        state.rate = Some(rate);
        Some(rate)
    }

    /// How many units a pull source may take into one batch at the rate in force, if limited
    /// (at least one, so a batch always makes progress).
    pub(crate) fn units_per_batch(&self, interval: Option<Duration>) -> Option<u64> {
        let rate = self.rate()?;
        let seconds = interval.map_or(1.0, |i| i.millis() as f64 / 1000.0);
        Some(((rate * seconds) as u64).max(1))
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Spaces out a receiver's stores to a rate (Guava's smooth `RateLimiter`, as Spark's receivers
/// use it): a store of `n` records waits for the debt of the stores before it, then adds
/// `n / rate` seconds of its own; up to one second of unused permits is saved for a burst.
pub(crate) struct RateLimiter {
    state: Mutex<LimiterState>,
}

struct LimiterState {
    next_free: Instant,
    stored: f64,
}

impl RateLimiter {
    pub(crate) fn new() -> Self {
        RateLimiter {
            state: Mutex::new(LimiterState {
                next_free: Instant::now(),
                stored: 0.0,
            }),
        }
    }

    /// Reserves `n` permits at `rate` per second; returns how long the caller must wait first.
    pub(crate) fn reserve(&self, n: u64, rate: f64) -> std::time::Duration {
        if !(rate.is_finite() && rate > 0.0) {
            return std::time::Duration::ZERO;
        }
        let interval = 1.0 / rate;
        let now = Instant::now();
        let mut state = lock(&self.state);
        if now > state.next_free {
            let idle = (now - state.next_free).as_secs_f64();
            state.stored = (state.stored + idle / interval).min(rate);
            state.next_free = now;
        }
        let wait = state.next_free.saturating_duration_since(now);
        let from_stored = state.stored.min(n as f64);
        state.stored -= from_stored;
        let fresh = (n as f64 - from_stored) * interval;
        state.next_free += std::time::Duration::from_secs_f64(fresh.min(3600.0));
        wait
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use super::*;

    /// A recorded run of batch statistics (a job with a 1 s interval falling behind, then
    /// catching up) and the rates Spark's `PIDRateEstimator` gives for it, worked out by hand
    /// from its formula with P = 1.0, I = 0.2, D = 0.0, min rate 100:
    ///
    /// | batch | time | records | proc ms | sched ms | rate | error | historical | new rate |
    /// |---|---|---|---|---|---|---|---|---|
    /// | 1 | 1000 | 5000 | 2000 | 0 | 2500 | — | — | None (first: latest = 2500) |
    /// | 2 | 2000 | 5000 | 2500 | 1000 | 2000 | 2500-2000 = 500 | 1000·2000/1000 = 2000 | 2500-500-400 = 1600 |
    /// | 3 | 3000 | 1600 | 800 | 1500 | 2000 | 1600-2000 = -400 | 1500·2000/1000 = 3000 | 1600+400-600 = 1400 |
    /// | 4 | 4000 | 1400 | 700 | 500 | 2000 | -600 | 500·2 = 1000 | 1400+600-200 = 1800 |
    /// | 5 | 5000 | 1800 | 900 | 0 | 2000 | -200 | 0 | 1800+200 = 2000 |
    /// | 6 | 5000 | 2000 | 1000 | 0 | — | — | — | None (time not after 5000) |
    /// | 7 | 6000 | 0 | 1000 | 0 | — | — | — | None (no records) |
    /// | 8 | 7000 | 100 | 1000 | 9000 | 100 | 2000-100 = 1900 | 9000·100/1000 = 900 | 2000-1900-180 → min 100 |
    /// | 9 | 8000 | 100 | 400 | 0 | 250 | 100-250 = -150 | 0 | 100+150 = 250 |
    #[test]
    fn reproduces_sparks_rate_sequence_on_recorded_batches() {
        let mut pid = PidRateEstimator::new(Duration::seconds(1)).unwrap();
        let recorded = [
            (1_000, 5_000, 2_000, 0, None),
            (2_000, 5_000, 2_500, 1_000, Some(1_600.0)),
            (3_000, 1_600, 800, 1_500, Some(1_400.0)),
            (4_000, 1_400, 700, 500, Some(1_800.0)),
            (5_000, 1_800, 900, 0, Some(2_000.0)),
            (5_000, 2_000, 1_000, 0, None),
            (6_000, 0, 1_000, 0, None),
            (7_000, 100, 1_000, 9_000, Some(100.0)),
            (8_000, 100, 400, 0, Some(250.0)),
        ];
        let rates: Vec<Option<f64>> = recorded
            .iter()
            .map(|&(time, n, proc, sched, _)| pid.compute(time, n, proc, sched))
            .collect();
        let expected: Vec<Option<f64>> = recorded.iter().map(|r| r.4).collect();
        assert_eq!(rates, expected);
    }

    /// The derivative term, off by default, follows Spark's formula too: with D = 0.5, the
    /// change of the error per second of clock time.
    #[test]
    fn the_derivative_term_uses_the_change_of_the_error_per_second() {
        let mut pid = PidRateEstimator::with_gains(Duration::seconds(2), 1.0, 0.2, 0.5, 100.0).unwrap();
        assert_eq!(pid.compute(2_000, 4_000, 1_000, 0), None); // latest rate 4000, error 0
        // rate 3000, error 1000, historical 1000·3000/2000 = 1500, d_error (1000-0)/2 = 500:
        // 4000 - 1000 - 300 - 250 = 2450.
        assert_eq!(pid.compute(4_000, 3_000, 1_000, 1_000), Some(2_450.0));
        // rate 2450·… : 2450 records in 1000 ms = 2450, error 0, d_error (0-1000)/4 = -250:
        // 2450 - 0 - 0 + 125 = 2575.
        assert_eq!(pid.compute(8_000, 2_450, 1_000, 0), Some(2_575.0));
    }

    fn stats(end: i64, records: u64, proc_ms: u64, sched_ms: u64) -> BatchStats {
        BatchStats {
            processing_end: Time::from_millis(end),
            records,
            processing_delay: std::time::Duration::from_millis(proc_ms),
            scheduling_delay: std::time::Duration::from_millis(sched_ms),
            batch_interval: Some(Duration::seconds(1)),
        }
    }

    #[test]
    fn the_controller_caps_the_estimate_at_the_maximum_rate() {
        let limits = SourceLimits::default()
            .backpressure(true)
            .max_rate(1_500)
            .initial_rate(700);
        let controller = RateController::new(limits);
        assert_eq!(controller.rate(), Some(700.0));
        assert_eq!(controller.update(&stats(1_000, 5_000, 2_000, 0), 5_000), None);
        // Spark's estimate would be 1600 (batch 2 above): capped at 1500.
        assert_eq!(
            controller.update(&stats(2_000, 5_000, 2_500, 1_000), 5_000),
            Some(1_500.0)
        );
        assert_eq!(
            controller.units_per_batch(Some(Duration::milliseconds(500))),
            Some(750)
        );

        let fixed = RateController::new(SourceLimits::default().max_rate(10));
        assert_eq!(
            fixed.update(&stats(1_000, 5, 2_000, 0), 5),
            None,
            "no backpressure"
        );
        assert_eq!(fixed.rate(), Some(10.0));
        assert_eq!(RateController::new(SourceLimits::default()).rate(), None);
    }

    #[test]
    fn the_limiter_spaces_stores_out_to_the_rate() {
        let limiter = RateLimiter::new();
        // Nothing saved yet: the first store goes at once and owes 100 / 1000 s.
        assert_eq!(limiter.reserve(100, 1_000.0), std::time::Duration::ZERO);
        let wait = limiter.reserve(100, 1_000.0);
        assert!(
            wait > std::time::Duration::from_millis(80) && wait <= std::time::Duration::from_millis(100),
            "{wait:?}"
        );
        assert_eq!(limiter.reserve(5, f64::INFINITY), std::time::Duration::ZERO);
    }

    #[test]
    fn bad_gains_are_refused_with_the_reason() {
        let err = PidRateEstimator::with_gains(Duration::seconds(1), 1.0, f64::NAN, 0.0, 100.0).unwrap_err();
        assert!(err.to_string().contains("integral gain"), "{err}");
        let err = SourceLimits::default().pid(1.0, 0.2, 0.0, 0.0).unwrap_err();
        assert!(err.to_string().contains("lowest rate"), "{err}");
    }
}
