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
    /// Whether some values have no event time ([`Option`]): the watermark operator then drops
    /// the rows without one, as Spark drops rows whose event time is null.
    const MAY_BE_MISSING: bool = false;

    /// The point in time.
    fn event_time(&self) -> Time;

    /// The point in time, if there is one.
    fn event_time_if_any(&self) -> Option<Time> {
        Some(self.event_time())
    }
}

/// A missing event time: the row is dropped by
/// [`with_watermark`](crate::structured::Dataset::with_watermark), as Spark drops null event
/// times. Without a watermark ([`with_event_time`](crate::structured::Dataset::with_event_time))
/// a missing event time counts as the epoch.
///
/// ```
/// use streamflow::structured::EventTime;
/// use streamflow::Time;
/// assert_eq!(Some(Time::from_millis(5)).event_time_if_any(), Some(Time::from_millis(5)));
/// assert_eq!(None::<i64>.event_time_if_any(), None);
/// ```
impl<E: EventTime> EventTime for Option<E> {
    const MAY_BE_MISSING: bool = true;

    fn event_time(&self) -> Time {
        self.as_ref().map_or(Time::from_millis(0), EventTime::event_time)
    }

    fn event_time_if_any(&self) -> Option<Time> {
        self.as_ref().and_then(EventTime::event_time_if_any)
    }
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
