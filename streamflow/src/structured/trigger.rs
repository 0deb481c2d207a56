//! Triggers: when a query runs its next micro-batch.

use crate::time::{Duration, IntoDuration};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TriggerKind {
    Default,
    ProcessingTime(Duration),
    Once,
    AvailableNow,
    Invalid(String),
}

/// When a query runs its micro-batches (Spark's `Trigger`).
///
/// - [`Trigger::default()`]: the next batch as soon as the previous one ends and there is new
///   data (or the watermark moved, for a no-data batch);
/// - [`Trigger::processing_time`]: at every multiple of the interval on the clock, if there is
///   something to do;
/// - [`Trigger::once`]: one batch with everything available, then stop;
/// - [`Trigger::available_now`]: everything available at start, possibly in several batches
///   (see `max_files_per_trigger`), with the no-data batches it needs, then stop.
///
/// ```
/// use streamflow::structured::Trigger;
/// assert_eq!(Trigger::processing_time("10 seconds").to_string(), "ProcessingTime(10000 ms)");
/// assert_eq!(Trigger::default().to_string(), "Default");
/// assert!(Trigger::processing_time("10 secs!").check().is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub(crate) kind: TriggerKind,
}

impl Default for Trigger {
    fn default() -> Self {
        Trigger {
            kind: TriggerKind::Default,
        }
    }
}

impl Trigger {
    /// A batch at every multiple of `interval` on the clock; a bad duration is reported by
    /// `start()`. A zero interval is the default trigger.
    ///
    /// ```
    /// use streamflow::Duration;
    /// use streamflow::structured::Trigger;
    ///
    /// assert_eq!(Trigger::processing_time(Duration::seconds(5)).to_string(), "ProcessingTime(5000 ms)");
    /// assert_eq!(Trigger::processing_time("0 seconds"), Trigger::default());
    /// assert!(Trigger::processing_time("5 secs!").check().is_err());
    /// ```
    pub fn processing_time(interval: impl IntoDuration) -> Trigger {
        let kind = match interval.into_duration() {
            Ok(d) if d.is_zero() => TriggerKind::Default,
            Ok(d) => TriggerKind::ProcessingTime(d),
            Err(e) => TriggerKind::Invalid(format!("Trigger::processing_time: {e}")),
        };
        Trigger { kind }
    }

    /// One batch with all available data, then the query stops (Spark's `Trigger.Once`).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// input.add_data([1]);
    /// input.add_data([2, 3]);
    /// let query = session.read_stream::<i64>().memory(&input).write_stream()
    ///     .trigger(Trigger::once()).memory("once").start()?;
    /// query.await_termination()?;
    /// // One batch with everything available at start, then the query stopped.
    /// assert_eq!(session.memory_table::<i64>("once")?.batches(), [(0, vec![1, 2, 3])]);
    /// assert!(!query.is_active());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn once() -> Trigger {
        Trigger {
            kind: TriggerKind::Once,
        }
    }

    /// All data available at start, in as many batches as the sources' limits need, then the
    /// query stops (Spark's `Trigger.AvailableNow`).
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("a.json"), "1\n")?;
    /// std::fs::write(dir.path().join("b.json"), "2\n")?;
    /// let query = session.read_stream::<i64>().max_files_per_trigger(1).files(dir.path())
    ///     .write_stream().trigger(Trigger::available_now()).memory("backfill").start()?;
    /// query.await_termination()?;
    /// // Everything there at start, one file per batch as the reader asks, then the query stopped.
    /// assert_eq!(session.memory_table::<i64>("backfill")?.batches().len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn available_now() -> Trigger {
        Trigger {
            kind: TriggerKind::AvailableNow,
        }
    }

    /// `Ok` unless the trigger was made from a malformed duration.
    ///
    /// ```
    /// use streamflow::structured::Trigger;
    /// assert!(Trigger::once().check().is_ok());
    /// let err = Trigger::processing_time("every minute").check().unwrap_err();
    /// assert!(err.starts_with("Trigger::processing_time: "), "{err}");
    /// ```
    pub fn check(&self) -> Result<(), String> {
        match &self.kind {
            TriggerKind::Invalid(e) => Err(e.clone()),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            TriggerKind::Default => f.write_str("Default"),
            TriggerKind::ProcessingTime(d) => write!(f, "ProcessingTime({d})"),
            TriggerKind::Once => f.write_str("Once"),
            TriggerKind::AvailableNow => f.write_str("AvailableNow"),
            TriggerKind::Invalid(e) => write!(f, "Invalid({e})"),
        }
    }
}
