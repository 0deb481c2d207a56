//! Triggers: when a query runs its next micro-batch.

use crate::time::{Duration, IntoDuration};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum TriggerKind {
    Default,
    ProcessingTime(Duration),
    Once,
    AvailableNow,
    /// Continuous processing: an epoch (checkpoint) every `interval`; an aggregation's changed
    /// rows at once, or every `emit` when set.
    Continuous {
        interval: Duration,
        emit: Option<Duration>,
    },
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
///   (see `max_files_per_trigger`), with the no-data batches it needs, then stop;
/// - [`Trigger::continuous`]: no batches at all — long-running tasks take records one at a
///   time, and an epoch marks a checkpoint every interval (Spark's continuous processing, with
///   keyed running aggregations too).
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

    /// Continuous processing (Spark's `Trigger.Continuous`): one long-running task per
    /// partition takes records one at a time through the fused operators, with millisecond
    /// latency; every `checkpoint_interval` an epoch ends, and its offsets, state and sink
    /// commit are recorded as a micro-batch's are (epoch ids are batch ids). Beyond Spark, a
    /// keyed aggregation (`group_by(..).count()`, `sum`, `min`, `max`, `avg`, `agg`) runs too,
    /// in Update mode, emitting each group's new row as it changes. Operators that need whole
    /// batches (event-time windows, deduplication, groups with state, joins) are refused by
    /// `start()`, naming the operator. A bad duration is reported by `start()`.
    ///
    /// Sinks get an epoch's rows as one batch with the epoch's id when it ends (so the
    /// idempotent sinks stay exactly-once); [`foreach`](super::DataStreamWriter::foreach) gets
    /// each row as it comes, as in Spark.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(2).clock(streamflow::ManualClock::new(0)).build()?;
    /// let words = MemoryStream::<String>::new();
    /// let query = session.read_stream::<String>().memory(&words)
    ///     .filter(|w| w.len() > 2)
    ///     .group_by(|w| w.clone()).count()
    ///     .write_stream().output_mode(OutputMode::Update)
    ///     .trigger(Trigger::continuous("1 second"))
    ///     .memory("counts").start()?;
    /// words.add_data(["cat", "ox", "cat"].map(String::from));
    /// query.process_all_available()?; // ends the epoch once everything was read
    /// let rows = session.memory_table::<AggRow<String, u64>>("counts")?.rows();
    /// // Each change of a group is a row, in the order it happened.
    /// assert_eq!(rows.iter().map(|r| r.value).collect::<Vec<_>>(), [1, 2]);
    /// query.stop()?;
    /// assert_eq!(Trigger::continuous("1 second").to_string(), "Continuous(1000 ms)");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn continuous(checkpoint_interval: impl IntoDuration) -> Trigger {
        let kind = match checkpoint_interval.into_duration() {
            Ok(d) if d.is_zero() => {
                TriggerKind::Invalid("Trigger::continuous: the checkpoint interval must be positive".into())
            }
            Ok(interval) => TriggerKind::Continuous { interval, emit: None },
            Err(e) => TriggerKind::Invalid(format!("Trigger::continuous: {e}")),
        };
        Trigger { kind }
    }

    /// A continuous trigger whose keyed aggregations emit a changed group at most once per
    /// `interval` (its latest row) instead of at every change; every change is still emitted
    /// by the end of its epoch. Other triggers are unchanged.
    ///
    /// ```
    /// use streamflow::structured::Trigger;
    /// let t = Trigger::continuous("1 second").with_emit_interval("100 ms");
    /// assert_eq!(t.to_string(), "Continuous(1000 ms, emit every 100 ms)");
    /// assert!(Trigger::continuous("1 second").with_emit_interval("soon").check().is_err());
    /// ```
    pub fn with_emit_interval(self, interval: impl IntoDuration) -> Trigger {
        let kind = match (self.kind, interval.into_duration()) {
            (TriggerKind::Continuous { interval: every, .. }, Ok(emit)) => TriggerKind::Continuous {
                interval: every,
                emit: (!emit.is_zero()).then_some(emit),
            },
            (TriggerKind::Continuous { .. }, Err(e)) => {
                TriggerKind::Invalid(format!("Trigger::with_emit_interval: {e}"))
            }
            (kind, _) => kind,
        };
        Trigger { kind }
    }

    /// Whether this is a [`continuous`](Self::continuous) trigger.
    ///
    /// ```
    /// use streamflow::structured::Trigger;
    /// assert!(Trigger::continuous("5 seconds").is_continuous());
    /// assert!(!Trigger::once().is_continuous());
    /// ```
    pub fn is_continuous(&self) -> bool {
        matches!(self.kind, TriggerKind::Continuous { .. })
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
            TriggerKind::Continuous { interval, emit: None } => write!(f, "Continuous({interval})"),
            TriggerKind::Continuous {
                interval,
                emit: Some(emit),
            } => write!(f, "Continuous({interval}, emit every {emit})"),
            TriggerKind::Invalid(e) => write!(f, "Invalid({e})"),
        }
    }
}
