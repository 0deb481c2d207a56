//! The rate source's rows, and the reader method that makes one (the source itself is the
//! generator source of `source/generator.rs`).

use super::dataset::Dataset;
use super::reader::DataStreamReader;
use crate::source::{GeneratorSource, Pace, due_time};
use crate::time::Time;

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
        self.source_per_query("rate_source", move || {
            GeneratorSource::new(
                format!("RateSource[rowsPerSecond={rows_per_second}]"),
                "rate_source",
                Pace::PerSecond(rows_per_second),
                move |value, start| RateRow {
                    timestamp: due_time(start, value, rows_per_second),
                    value,
                },
            )
        })
    }
}
