//! The generator source: rows computed from their index, at a pace that follows the batch
//! time — DStream `generator_stream` and `rate_stream`, and the Structured `rate` source.
//!
//! Its offset counts rows: offset `n` means "rows `0..n`". The rows due for a batch depend only
//! on the batch time (rows due by `batch_time`, counted from the job's start time, with no
//! rounding loss: a fraction of a row is carried into the next batch), and row `i` only on `i`
//! and the start time, so the same range always yields the same rows: deterministic and
//! replayable.
//!
//! With a checkpoint, the start time and the pace are recorded at the first start
//! (`<metadata>/start`, Spark's rate source keeps its `startTimeMs` the same way) and reused by
//! every restart, so an offset means the same rows — values and timestamps — after a restart.
//! A restart with another pace is refused ([`Error::IncompatibleRestart`]): the rows of the
//! batch it re-runs would differ.

use std::sync::{Arc, Mutex};

use super::{ReadLimit, Source, SourceBatch, SourceContext};
use crate::StreamingContext;
use crate::checkpoint::file as checkpoint_file;
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::{Error, Result};
use crate::exec::guard;
use crate::time::{Duration, Time};

/// The fastest pace a generator runs at: a billion rows per second.
const MAX_ROWS_PER_SECOND: u64 = 1_000_000_000;

/// How many rows are due after some time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pace {
    /// `rows` at the end of each `interval` (a DStream batch).
    PerInterval { rows: u64, interval: Duration },
    /// This many rows per second, spread evenly.
    PerSecond(u64),
}

impl Pace {
    /// The setting it comes from, as a user wrote it, and its value.
    fn describe(self) -> (&'static str, String) {
        match self {
            Pace::PerInterval { rows, interval } => (
                "rows per batch",
                format!("{rows} rows every {} ms", interval.millis()),
            ),
            Pace::PerSecond(rate) => ("rowsPerSecond", format!("{rate} rows per second")),
        }
    }

    /// An error if the pace is beyond [`MAX_ROWS_PER_SECOND`]: a batch could never finish
    /// (and `stop()` would wait on it), where a clear error is what the user needs.
    fn check(self, source: &str) -> Result<()> {
        let per_second = match self {
            Pace::PerInterval { rows, interval } => {
                u128::from(rows) * 1_000 / u128::from(interval.millis().max(1))
            }
            Pace::PerSecond(rate) => u128::from(rate),
        };
        if per_second > u128::from(MAX_ROWS_PER_SECOND) {
            let (setting, pace) = self.describe();
            return Err(Error::InvalidConfig(format!(
                "`{source}`: {setting} of {pace} is more than the {MAX_ROWS_PER_SECOND} rows per second a generator makes at most: each batch would hold more rows than it can finish"
            )));
        }
        Ok(())
    }

    /// Rows due `elapsed_ms` after the start, rounded down.
    fn rows_due(self, elapsed_ms: i64) -> u64 {
        let elapsed = u128::try_from(elapsed_ms).unwrap_or(0);
        let due = match self {
            Pace::PerInterval { rows, interval } => {
                elapsed / u128::from(interval.millis().max(1)) * u128::from(rows)
            }
            Pace::PerSecond(rate) => elapsed * u128::from(rate) / 1_000,
        };
        u64::try_from(due).unwrap_or(u64::MAX)
    }
}

/// When row `i` of a source of `rows_per_second` is due, `start` being its start time.
pub(crate) fn due_time(start: Time, i: u64, rows_per_second: u64) -> Time {
    let offset = u128::from(i) * 1_000 / u128::from(rows_per_second.max(1));
    Time::from_millis(
        start
            .millis()
            .saturating_add(i64::try_from(offset).unwrap_or(i64::MAX)),
    )
}

const START_KIND: &str = "generator-start";

/// What a generator records at its first start: what an exact replay needs.
#[derive(serde::Serialize, serde::Deserialize)]
struct Recorded {
    /// The start time its rows are computed from, in milliseconds.
    start_time_ms: i64,
    /// Its pace, described.
    pace: String,
}

/// Rows `row(i, start_time)` for `i = 0, 1, 2 …`, at `pace`.
pub(crate) struct GeneratorSource<F> {
    name: String,
    /// The operator named when `row` panics.
    operator: &'static str,
    pace: Pace,
    row: Arc<F>,
    /// The start time and parallelism of the job, once started.
    started: Mutex<Option<(Time, usize)>>,
}

impl<F> GeneratorSource<F> {
    /// A source called `name` whose user function is blamed as `operator` when it panics.
    pub(crate) fn new(name: impl Into<String>, operator: &'static str, pace: Pace, row: F) -> Self {
        GeneratorSource {
            name: name.into(),
            operator,
            pace,
            row: Arc::new(row),
            started: Mutex::new(None),
        }
    }

    fn started(&self) -> Option<(Time, usize)> {
        *self.started.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Data, F: Fn(u64, Time) -> T + Send + Sync + 'static> Source for GeneratorSource<F> {
    type Item = T;
    type Offset = u64;

    fn name(&self) -> String {
        self.name.clone()
    }

    /// Notes the start time — the one recorded in the checkpoint by the first start, if there
    /// is one, else the job's (recorded now).
    fn start(&self, ctx: &SourceContext) -> Result<()> {
        self.pace.check(&self.name)?;
        let (setting, pace) = self.pace.describe();
        let mut zero = ctx.start_time();
        if let Some(metadata) = ctx.metadata_path() {
            checkpoint_file::remove_stray_temps(metadata)?;
            let path = metadata.join("start");
            match checkpoint_file::read_json::<Recorded>(&path, START_KIND)? {
                Some(recorded) if recorded.pace != pace => {
                    return Err(Error::IncompatibleRestart {
                        setting: setting.to_string(),
                        message: format!(
                            "of `{}` was {} at its first start and is {pace} now: the rows of a re-run batch would differ; keep it, or start on a new checkpoint directory",
                            self.name, recorded.pace
                        ),
                    });
                }
                Some(recorded) => zero = Time::from_millis(recorded.start_time_ms),
                None => {
                    let recorded = Recorded {
                        start_time_ms: zero.millis(),
                        pace,
                    };
                    checkpoint_file::write_json(&path, START_KIND, &recorded)?;
                }
            }
        }
        *self.started.lock().unwrap_or_else(|e| e.into_inner()) = Some((zero, ctx.parallelism()));
        Ok(())
    }

    fn read_limit_counts_records(&self) -> bool {
        true
    }

    fn initial_offset(&self) -> u64 {
        0
    }

    fn latest_offset(&self, start: &u64, limit: ReadLimit, batch_time: Time) -> Result<u64> {
        let Some((zero, _)) = self.started() else {
            return Ok(*start);
        };
        let due = self
            .pace
            .rows_due(batch_time.millis().saturating_sub(zero.millis()));
        Ok(start + limit.cap(due.saturating_sub(*start)))
    }

    /// Rows `start..end`, one slice per worker, each computed on its worker.
    fn get_batch(&self, start: &u64, end: &u64) -> Result<SourceBatch<T>> {
        let (zero, parallelism) = self.started().unwrap_or((Time::from_millis(0), 1));
        let mut batch = SourceBatch::empty();
        if start >= end {
            return Ok(batch);
        }
        let (first, rows, slices) = (*start, end - start, parallelism.max(1) as u64);
        for p in 0..slices {
            let lo = first + (u128::from(rows) * u128::from(p) / u128::from(slices)) as u64;
            let hi = first + (u128::from(rows) * u128::from(p + 1) / u128::from(slices)) as u64;
            let (row, operator) = (self.row.clone(), self.operator);
            batch.push_lazy(move |emit| {
                for i in lo..hi {
                    emit(guard(operator, || row(i, zero)));
                }
            });
        }
        Ok(batch)
    }

    fn is_replayable(&self) -> bool {
        true
    }
}

/// A row of the rate source (Spark's `rate` format): `value` counts up from 0, `timestamp` is
/// when the row was due.
///
/// ```
/// let row = streamflow::structured::RateRow { timestamp: streamflow::Time::from_millis(0), value: 0 };
/// assert_eq!(row.value, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct RateRow {
    /// When the row was due on the query's clock.
    pub timestamp: Time,
    /// 0, 1, 2 …
    pub value: u64,
}

impl StreamingContext {
    /// A stream whose batch k (k = 1, 2, …) holds `f(i)` for the `per_batch` indices
    /// `i` in `[(k−1)·per_batch, k·per_batch)`, computed in parallel, one slice per worker.
    /// Deterministic and replayable: the same batch time always yields the same data. Good for
    /// demos, benchmarks and tests.
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let out = t.collect(&t.context().generator_stream(3, |i| i * 10));
    /// t.run(2)?;
    /// assert_eq!(out.batches(), vec![vec![0, 10, 20], vec![30, 40, 50]]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn generator_stream<T: Data>(
        &self,
        per_batch: u64,
        f: impl Fn(u64) -> T + Send + Sync + 'static,
    ) -> DStream<T> {
        let pace = Pace::PerInterval {
            rows: per_batch,
            interval: self.batch_duration(),
        };
        self.source_stream(GeneratorSource::new(
            "generator_stream",
            "generator_stream",
            pace,
            move |i, _| f(i),
        ))
    }

    /// A stream of `(timestamp, value)` rows at `rows_per_second` (Spark's `rate` source):
    /// values count up from 0 and row `i` is stamped `i / rows_per_second` seconds after the zero
    /// time; a rate that does not divide the batch interval carries the fraction into the next
    /// batch, so no row is lost.
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let out = t.collect(&t.context().rate_stream(2));
    /// t.run(1)?;
    /// let rows = &out.batches()[0];
    /// assert_eq!(rows.iter().map(|r| r.1).collect::<Vec<_>>(), vec![0, 1]);
    /// assert_eq!(rows[0].0.millis(), 0);
    /// assert_eq!(rows[1].0.millis(), 500);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn rate_stream(&self, rows_per_second: u64) -> DStream<(Time, u64)> {
        self.source_stream(GeneratorSource::new(
            "rate_stream",
            "rate_stream",
            Pace::PerSecond(rows_per_second),
            move |i, zero| (due_time(zero, i, rows_per_second), i),
        ))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

    use super::*;
    use crate::source::testing::read_all;

    fn started<F>(source: GeneratorSource<F>, zero: i64, parallelism: usize) -> GeneratorSource<F>
    where
        GeneratorSource<F>: Source,
    {
        source
            .start(&SourceContext::detached(Time::from_millis(zero), parallelism))
            .unwrap();
        source
    }

    #[test]
    fn rows_due_follow_the_batch_time_without_rounding_loss() {
        let rate = started(
            GeneratorSource::new("r", "r", Pace::PerSecond(3), |i, _| i),
            5_000,
            2,
        );
        let at = |ms: i64| Time::from_millis(5_000 + ms);
        // 3 rows per second read every 500 ms: 1, 2, 1, 2 … — never 1, 1, 1, 1.
        let mut ends = Vec::new();
        let mut start = 0;
        for k in 1..=4 {
            start = rate
                .latest_offset(&start, ReadLimit::AllAvailable, at(500 * k))
                .unwrap();
            ends.push(start);
        }
        assert_eq!(ends, [1, 3, 4, 6]);
        assert_eq!(rate.latest_offset(&0, ReadLimit::Max(2), at(2_000)).unwrap(), 2);
        assert_eq!(
            rate.latest_offset(&6, ReadLimit::AllAvailable, at(-1_000))
                .unwrap(),
            6
        );
    }

    #[test]
    fn a_source_not_started_has_nothing() {
        let generator = GeneratorSource::new("g", "g", Pace::PerSecond(10), |i, _| i);
        assert_eq!(
            generator
                .latest_offset(&0, ReadLimit::AllAvailable, Time::from_millis(9_000))
                .unwrap(),
            0
        );
    }

    #[test]
    fn per_interval_pace_and_the_same_range_gives_the_same_rows() {
        let pace = Pace::PerInterval {
            rows: 4,
            interval: Duration::seconds(1),
        };
        let generator = started(
            GeneratorSource::new("g", "g", pace, |i, zero: Time| (i, zero.millis())),
            0,
            3,
        );
        assert_eq!(
            generator
                .latest_offset(&0, ReadLimit::AllAvailable, Time::from_millis(999))
                .unwrap(),
            0
        );
        assert_eq!(
            generator
                .latest_offset(&0, ReadLimit::AllAvailable, Time::from_millis(2_000))
                .unwrap(),
            8
        );
        let batch = generator.get_batch(&4, &8).unwrap();
        assert_eq!(batch.num_parts(), 3, "one slice per worker");
        let rows = read_all(batch);
        assert_eq!(rows, [(4, 0), (5, 0), (6, 0), (7, 0)]);
        assert_eq!(read_all(generator.get_batch(&4, &8).unwrap()), rows);
        generator.commit(&8);
        assert_eq!(
            read_all(generator.get_batch(&4, &8).unwrap()),
            rows,
            "replayable after commit"
        );
        assert!(generator.is_replayable());
    }

    #[test]
    fn rows_are_stamped_when_they_were_due() {
        assert_eq!(due_time(Time::from_millis(1_000), 3, 4), Time::from_millis(1_750));
        assert_eq!(due_time(Time::from_millis(0), 5, 0), Time::from_millis(5_000));
        assert_eq!(Pace::PerSecond(u64::MAX).rows_due(i64::MAX), u64::MAX);
    }

    type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn a_restart_reuses_the_recorded_start_time_and_refuses_another_pace() -> TestResult {
        let checkpoint = tempfile::tempdir()?;
        let rate = |rows_per_second: u64| {
            GeneratorSource::new(
                "rate",
                "rate",
                Pace::PerSecond(rows_per_second),
                move |i, zero| (due_time(zero, i, rows_per_second), i),
            )
        };
        let ctx = |zero: i64| {
            SourceContext::detached(Time::from_millis(zero), 2)
                .with_metadata_path(checkpoint.path().to_path_buf())
        };
        let first = rate(4);
        first.start(&ctx(10_000))?;
        let end = first.latest_offset(&0, ReadLimit::AllAvailable, Time::from_millis(11_000))?;
        assert_eq!(end, 4);
        let rows = read_all(first.get_batch(&0, &end)?);
        drop(first);

        // Restarted later (the job's clock says 50 s): the same rows for the same range, and
        // the rows due by a batch time still count from the first start.
        let again = rate(4);
        again.start(&ctx(50_000))?;
        assert_eq!(read_all(again.get_batch(&0, &end)?), rows);
        assert_eq!(rows[1].0, Time::from_millis(10_250));
        assert_eq!(
            again.latest_offset(&end, ReadLimit::AllAvailable, Time::from_millis(12_000))?,
            8
        );

        let faster = rate(8);
        let err = faster
            .start(&ctx(50_000))
            .err()
            .ok_or("a changed rate was accepted")?;
        assert!(matches!(err, Error::IncompatibleRestart { .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.contains("rowsPerSecond")
                && message.contains("4 rows per second")
                && message.contains("8 rows per second"),
            "{message}"
        );
        Ok(())
    }

    #[test]
    fn a_context_max_rate_caps_a_rate_source_and_loses_nothing() -> TestResult {
        use crate::source::{BatchStats, SourceLimits};
        use crate::source::{Limit, SourceRun, SourceSlot};
        use crate::testing::TestContext;

        // 50 rows a second, at most 20 a second taken: batches of 20, in order, none skipped.
        let t = TestContext::from_builder(
            crate::StreamingContext::builder()
                .batch_duration(Duration::seconds(1))
                .source_limits(SourceLimits::default().max_rate(20)),
        )?;
        let out = t.collect(&t.context().rate_stream(50));
        t.run(3)?;
        let values: Vec<Vec<u64>> = out
            .batches()
            .iter()
            .map(|b| b.iter().map(|r| r.1).collect())
            .collect();
        assert_eq!(
            values,
            vec![
                (0..20).collect::<Vec<_>>(),
                (20..40).collect(),
                (40..60).collect()
            ]
        );

        // With backpressure, the PID estimate of each batch sets how many the next takes.
        let limits = SourceLimits::default().backpressure(true).initial_rate(1_000);
        let source = Arc::new(started(
            GeneratorSource::new("r", "r", Pace::PerSecond(10_000), |i, _| i),
            0,
            2,
        ));
        let slot = SourceSlot::with_rate_limits(source, &limits, Duration::seconds(1));
        let planned = |slot: &SourceSlot<_>, at: i64| -> Result<u64> {
            let (range, _) = slot.plan(Limit::Default, Time::from_millis(at))?;
            slot.commit();
            Ok(range.end.as_u64().unwrap_or(0) - range.start.as_u64().unwrap_or(0))
        };
        assert_eq!(planned(&slot, 1_000)?, 1_000, "the initial rate");
        let stats = |end: i64, records: u64, proc_ms: u64| BatchStats {
            processing_end: Time::from_millis(end),
            records,
            processing_delay: std::time::Duration::from_millis(proc_ms),
            scheduling_delay: std::time::Duration::ZERO,
            batch_interval: Some(Duration::seconds(1)),
        };
        // The first batch only records its figures; the second processed 1000 records in 2 s
        // (500/s): the error is 1000 - 500, so the rate falls to 500.
        slot.batch_completed(&stats(1_000, 1_000, 500));
        assert_eq!(planned(&slot, 2_000)?, 1_000);
        slot.batch_completed(&stats(3_000, 1_000, 2_000));
        assert_eq!(planned(&slot, 3_000)?, 500, "backpressure halves the batch");

        // A source whose limit does not count records is never capped by the rate.
        struct Hundred;
        impl Source for Hundred {
            type Item = u64;
            type Offset = u64;
            fn name(&self) -> String {
                "hundred".into()
            }
            fn initial_offset(&self) -> u64 {
                0
            }
            fn latest_offset(&self, start: &u64, limit: ReadLimit, _: Time) -> Result<u64> {
                Ok(start + limit.cap(100))
            }
            fn get_batch(&self, _: &u64, _: &u64) -> Result<SourceBatch<u64>> {
                Ok(SourceBatch::empty())
            }
            fn is_replayable(&self) -> bool {
                true
            }
        }
        let files = Arc::new(Hundred);
        let slot =
            SourceSlot::with_rate_limits(files, &SourceLimits::default().max_rate(1), Duration::seconds(1));
        let (range, _) = slot.plan(Limit::Default, Time::from_millis(1_000))?;
        assert_eq!(range.end.as_u64(), Some(100));
        Ok(())
    }
}
