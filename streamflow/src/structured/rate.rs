//! The rate source: `rows_per_second` rows of `(timestamp, value)`, following the clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use super::dataset::Dataset;
use super::plan::RecordSource;
use super::reader::DataStreamReader;
use crate::error::Result;
use crate::time::{Clock, Time};

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

struct RateSource {
    rows_per_second: u64,
    clock: Arc<dyn Clock>,
    started: AtomicI64,
}

impl RateSource {
    fn row(&self, i: u64) -> RateRow {
        let offset_ms = (u128::from(i) * 1_000 / u128::from(self.rows_per_second.max(1))) as i64;
        RateRow {
            timestamp: Time::from_millis(self.started.load(Ordering::Acquire) + offset_ms),
            value: i,
        }
    }
}

impl RecordSource<RateRow> for RateSource {
    fn description(&self) -> String {
        format!("RateSource[rowsPerSecond={}]", self.rows_per_second)
    }

    fn start(&self) -> Result<()> {
        self.started.store(self.clock.now().millis(), Ordering::Release);
        Ok(())
    }

    fn latest_offset(&self, _committed: u64) -> Result<u64> {
        let elapsed = (self.clock.now().millis() - self.started.load(Ordering::Acquire)).max(0) as u128;
        Ok((elapsed * u128::from(self.rows_per_second) / 1_000) as u64)
    }

    fn get_batch(&self, start: u64, end: u64) -> Result<Vec<RateRow>> {
        Ok((start..end).map(|i| self.row(i)).collect())
    }
}

impl DataStreamReader<RateRow> {
    /// `rows_per_second` rows per second of the session's clock (Spark's `rate` source):
    /// replayable and deterministic on a manual clock.
    ///
    /// ```
    /// use streamflow::structured::{RateRow, Session, Trigger};
    /// use streamflow::{Duration, ManualClock};
    ///
    /// let clock = ManualClock::new(0);
    /// let session = Session::builder().clock(clock.clone()).build()?;
    /// let query = session.read_stream::<RateRow>().rate(10).write_stream().memory("rate").start()?;
    /// clock.advance(Duration::seconds(1));
    /// query.process_all_available()?;
    /// let rows = session.memory_table::<RateRow>("rate")?.rows();
    /// assert_eq!(rows.len(), 10);
    /// assert_eq!(rows[9].timestamp.millis(), 900);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn rate(&self, rows_per_second: u64) -> Dataset<RateRow> {
        let clock = self.session_clock();
        self.source_dataset("rate_source", move || {
            Arc::new(RateSource {
                rows_per_second,
                clock: clock.clone(),
                started: AtomicI64::new(0),
            })
        })
    }
}
