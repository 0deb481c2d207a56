//! [`EventTime`]: what an event-time function may return, and how reports write a time
//! (ISO-8601 UTC, as Spark does).

use std::sync::Arc;

use crate::time::Time;

/// The function that gives a record its event time.
pub(crate) type EventTimeFn<T> = Arc<dyn Fn(&T) -> Time + Send + Sync>;

/// A point in event time: what the function given to
/// [`with_watermark`](crate::structured::Dataset::with_watermark) returns for a record.
///
/// Implemented for [`Time`], `chrono::DateTime<Utc>`, `chrono::NaiveDateTime` (read as UTC),
/// and `i64` (milliseconds since the epoch).
///
/// ```
/// use streamflow::structured::EventTime;
/// use streamflow::Time;
///
/// assert_eq!(Time::from_millis(1_500).event_time(), Time::from_millis(1_500));
/// assert_eq!(1_500_i64.event_time(), Time::from_millis(1_500));
/// let t = chrono::DateTime::from_timestamp_millis(1_500).unwrap();
/// assert_eq!(t.event_time(), Time::from_millis(1_500));
/// ```
pub trait EventTime {
    /// The point in time.
    fn event_time(&self) -> Time;
}

impl EventTime for Time {
    fn event_time(&self) -> Time {
        *self
    }
}

impl EventTime for i64 {
    fn event_time(&self) -> Time {
        Time::from_millis(*self)
    }
}

impl EventTime for chrono::DateTime<chrono::Utc> {
    fn event_time(&self) -> Time {
        Time::from_millis(self.timestamp_millis())
    }
}

impl EventTime for chrono::NaiveDateTime {
    fn event_time(&self) -> Time {
        Time::from_millis(self.and_utc().timestamp_millis())
    }
}

impl<E: EventTime + ?Sized> EventTime for &E {
    fn event_time(&self) -> Time {
        (**self).event_time()
    }
}

/// Formats a time like Spark's progress reports: `2016-12-14T18:45:24.873Z`.
pub(crate) fn iso(time: Time) -> String {
    match chrono::DateTime::from_timestamp_millis(time.millis()) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("{} ms", time.millis()),
    }
}
