//! What every batch tells the world outside the process: one INFO log line with its summary
//! (as Spark logs each query's progress), a warning when the job falls behind its interval, and
//! its figures through the `metrics` facade (feature `metrics`, see [`names`](super::names)).
//!
//! Both vocabularies' driver hooks (`dstream.rs`, `query.rs`) own one [`BatchReport`] and call
//! it once per completed batch, after the listeners.

use super::BatchInfo;
use super::ReceiverStatus;
use super::progress::QueryProgress;
use crate::time::{Duration, Time};

/// After how many batches in a row that ran longer than the interval a job is said to fall
/// behind.
pub(crate) const BEHIND_AFTER: u32 = 3;

/// Whether a job keeps up with its batch interval, batch after batch.
#[derive(Debug, Default)]
pub(crate) struct Pace {
    /// Batches in a row that ran longer than the interval.
    slow_streak: u32,
    /// The warning was given for this streak.
    warned: bool,
}

/// What [`Pace::observe`] found worth saying.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum PaceChange {
    /// `BEHIND_AFTER` batches in a row ran longer than the interval.
    FallingBehind,
    /// A job that was behind ran a batch within its interval.
    CaughtUp,
}

impl Pace {
    /// Notes a batch that ran for `took` under an interval of `interval` (none: no pace to keep).
    pub(crate) fn observe(
        &mut self,
        took: std::time::Duration,
        interval: Option<Duration>,
    ) -> Option<PaceChange> {
        let interval = interval?.to_std();
        if interval.is_zero() {
            return None;
        }
        if took > interval {
            self.slow_streak += 1;
            if self.slow_streak >= BEHIND_AFTER && !self.warned {
                self.warned = true;
                return Some(PaceChange::FallingBehind);
            }
            None
        } else {
            self.slow_streak = 0;
            std::mem::take(&mut self.warned).then_some(PaceChange::CaughtUp)
        }
    }
}

/// One job's reports to the outside: its name, its vocabulary, and its pace.
pub(crate) struct BatchReport {
    job: String,
    vocabulary: &'static str,
    pace: Pace,
}

impl BatchReport {
    /// The reports of the DStream context `app_name`.
    pub(crate) fn dstream(app_name: &str) -> Self {
        Self::new(app_name.to_string(), "dstream")
    }

    /// The reports of a query: `name`, or its id when unnamed.
    pub(crate) fn query(name: Option<&str>, id: &str) -> Self {
        Self::new(name.unwrap_or(id).to_string(), "query")
    }

    fn new(job: String, vocabulary: &'static str) -> Self {
        #[cfg(feature = "metrics")]
        super::export::describe();
        BatchReport {
            job,
            vocabulary,
            pace: Pace::default(),
        }
    }

    /// A DStream batch completed, under the batch interval `interval`.
    pub(crate) fn dstream_batch(
        &mut self,
        info: &BatchInfo,
        interval: Duration,
        receivers: &[ReceiverStatus],
    ) {
        log::info!(
            "{}: batch {} ({}): {} records, processing {} ms, scheduling delay {} ms, total delay {} ms",
            self.job,
            info.batch_id,
            info.batch_time,
            info.num_records,
            info.processing_time.as_millis(),
            info.scheduling_delay.as_millis(),
            info.total_delay.as_millis(),
        );
        self.pace(info.processing_time, Some(interval));
        #[cfg(feature = "metrics")]
        super::export::dstream_batch(&self.labels(), info, interval, receivers);
        #[cfg(not(feature = "metrics"))]
        let _ = receivers;
    }

    /// A query batch completed with `progress`, at `trigger_time` with `watermark`, under the
    /// trigger interval `interval` (none for triggers without one).
    pub(crate) fn query_batch(
        &mut self,
        progress: &QueryProgress,
        trigger_time: Time,
        watermark: Option<Time>,
        interval: Option<Duration>,
    ) {
        log::info!("query {}: {}", self.job, summary(progress));
        let took = progress.duration_ms.get("triggerExecution").copied().unwrap_or(0);
        self.pace(std::time::Duration::from_millis(took), interval);
        #[cfg(feature = "metrics")]
        super::export::query_batch(&self.labels(), progress, trigger_time, watermark);
        #[cfg(not(feature = "metrics"))]
        let _ = (trigger_time, watermark);
    }

    fn pace(&mut self, took: std::time::Duration, interval: Option<Duration>) {
        match self.pace.observe(took, interval) {
            Some(PaceChange::FallingBehind) => log::warn!(
                "{} {} is falling behind: the last {BEHIND_AFTER} batches each ran longer than the {} ms interval (the last {} ms); \
                 batches will queue up: raise the interval, the parallelism, or a source's read limit",
                self.vocabulary_word(),
                self.job,
                interval.map_or(0, |i| i.millis()),
                took.as_millis(),
            ),
            Some(PaceChange::CaughtUp) => log::info!(
                "{} {} caught up: the last batch ran within its interval ({} ms)",
                self.vocabulary_word(),
                self.job,
                took.as_millis()
            ),
            None => {}
        }
    }

    fn vocabulary_word(&self) -> &'static str {
        match self.vocabulary {
            "query" => "query",
            _ => "context",
        }
    }

    #[cfg(feature = "metrics")]
    fn labels(&self) -> super::export::Labels {
        super::export::Labels::new(&self.job, self.vocabulary)
    }
}

/// A progress record in one line: rows, rates, how long each phase took, the watermark, state
/// and late rows.
pub(crate) fn summary(p: &QueryProgress) -> String {
    use std::fmt::Write;
    let mut line = format!(
        "batch {}: {} input rows, {} output rows, {:.1} rows/s input, {:.1} rows/s processed, {} ms",
        p.batch_id,
        p.num_input_rows,
        p.sink.num_output_rows,
        p.input_rows_per_second,
        p.processed_rows_per_second,
        p.duration_ms.get("triggerExecution").copied().unwrap_or(0)
    );
    let phases: Vec<String> = ["latestOffset", "walCommit", "addBatch", "sink"]
        .iter()
        .filter_map(|k| p.duration_ms.get(*k).map(|v| format!("{k} {v}")))
        .collect();
    if !phases.is_empty() {
        let _ = write!(line, " ({})", phases.join(", "));
    }
    if let Some(w) = &p.event_time.watermark {
        let _ = write!(line, ", watermark {w}");
    }
    if !p.state_operators.is_empty() {
        let rows: u64 = p.state_operators.iter().map(|s| s.num_rows_total).sum();
        let late: u64 = p
            .state_operators
            .iter()
            .map(|s| s.num_rows_dropped_by_watermark)
            .sum();
        let _ = write!(line, ", state {rows} rows, {late} late rows dropped");
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> std::time::Duration {
        std::time::Duration::from_millis(n)
    }

    #[test]
    fn a_job_falls_behind_after_three_slow_batches_in_a_row_and_is_told_once() {
        let mut pace = Pace::default();
        let interval = Some(Duration::from_millis(100));
        let seen: Vec<_> = [150, 150, 50, 150, 150, 150, 150, 150, 90, 150]
            .into_iter()
            .map(|t| pace.observe(ms(t), interval))
            .collect();
        use PaceChange::*;
        assert_eq!(
            seen,
            [
                None,
                None,
                None,
                None,
                None,
                Some(FallingBehind),
                None,
                None,
                Some(CaughtUp),
                None
            ]
        );
    }

    #[test]
    fn a_trigger_without_interval_has_no_pace_to_keep() {
        let mut pace = Pace::default();
        for _ in 0..10 {
            assert_eq!(pace.observe(ms(10_000), None), None);
        }
    }

    #[test]
    fn the_summary_says_rows_rates_phases_watermark_and_state() {
        let mut p = QueryProgress {
            id: "id".into(),
            run_id: "run".into(),
            name: None,
            timestamp: "t".into(),
            batch_id: 4,
            num_input_rows: 120,
            input_rows_per_second: 400.0,
            processed_rows_per_second: 3000.0,
            duration_ms: [("triggerExecution", 40), ("addBatch", 35), ("latestOffset", 1)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            event_time: Default::default(),
            state_operators: vec![],
            sources: vec![],
            sink: Default::default(),
            checkpoint: None,
        };
        p.event_time.watermark = Some("2024-01-01T00:00:00.000Z".into());
        p.state_operators.push(crate::structured::StateOperatorProgress {
            num_rows_total: 12,
            num_rows_dropped_by_watermark: 3,
            ..crate::structured::StateOperatorProgress::new("agg")
        });
        assert_eq!(
            summary(&p),
            "batch 4: 120 input rows, 0 output rows, 400.0 rows/s input, 3000.0 rows/s processed, 40 ms \
             (latestOffset 1, addBatch 35), watermark 2024-01-01T00:00:00.000Z, state 12 rows, 3 late rows dropped"
        );
    }
}
