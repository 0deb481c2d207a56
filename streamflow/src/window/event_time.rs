//! Event-time windows: tumbling and sliding windows aligned to the epoch plus an offset, and
//! session windows that close after a gap without events.
//!
//! A window is half-open, `[start, end)`. A sliding window of `size` every `slide` with
//! `offset` has its starts at `offset + k·slide` for every integer `k`; a row with event time
//! `ts` belongs to every window with `start ≤ ts < end` (`size / slide` of them when `slide`
//! divides `size`). Spark's rules hold: `slide ≤ size` and `|offset| < slide`.

use crate::error::Result;
use crate::time::{Duration, IntoDuration, Time};
use crate::window::rules::{self, Part};

/// An event-time window, `[start, end)`.
///
/// Serialized as `{"start": …, "end": …}` with ISO-8601 UTC times, like Spark's `window`
/// column.
///
/// ```
/// use streamflow::structured::Window;
/// use streamflow::Time;
///
/// let w = Window { start: Time::from_millis(0), end: Time::from_millis(600_000) };
/// assert!(w.contains(Time::from_millis(0)) && !w.contains(Time::from_millis(600_000)));
/// assert_eq!(
///     serde_json::to_string(&w).unwrap(),
///     r#"{"start":"1970-01-01T00:00:00.000Z","end":"1970-01-01T00:10:00.000Z"}"#
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Window {
    /// The first instant in the window.
    pub start: Time,
    /// The first instant after the window.
    pub end: Time,
}

/// Hashes the start only: windows of one operator that share a start almost always share an end
/// (all time windows have one size), and every aggregated row hashes its window.
impl std::hash::Hash for Window {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.start.hash(state);
    }
}

impl Window {
    /// Whether `ts` lies in `[start, end)`.
    ///
    /// ```
    /// use streamflow::structured::Window;
    /// use streamflow::Time;
    ///
    /// let w = Window { start: Time::from_millis(1_000), end: Time::from_millis(2_000) };
    /// assert!(w.contains(Time::from_millis(1_000))); // the start is in
    /// assert!(w.contains(Time::from_millis(1_999)));
    /// assert!(!w.contains(Time::from_millis(2_000))); // the end is not
    /// ```
    pub fn contains(&self, ts: Time) -> bool {
        self.start <= ts && ts < self.end
    }
}

impl serde::Serialize for Window {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Window", 2)?;
        s.serialize_field("start", &crate::event_time::iso(self.start))?;
        s.serialize_field("end", &crate::event_time::iso(self.end))?;
        s.end()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WindowKind {
    /// Tumbling (`size == slide`) or sliding windows, in milliseconds.
    Sliding { size: i64, slide: i64, offset: i64 },
    /// Session windows closing after `gap` milliseconds without events.
    Session { gap: i64 },
}

/// How rows are assigned to event-time windows: made by [`window`], [`tumbling_window`] or
/// [`session_window`], and given to [`group_by_window`](crate::structured::Dataset::group_by_window).
///
/// A malformed duration or an impossible geometry is reported by `start()` with the reason.
///
/// ```
/// use streamflow::structured::window;
/// use streamflow::Time;
///
/// let spec = window("10 minutes", "5 minutes");
/// let min = |m: i64| Time::from_millis(m * 60_000);
/// let windows: Vec<_> = spec.windows_of(min(12)).map(|w| (w.start, w.end)).collect();
/// assert_eq!(windows, vec![(min(5), min(15)), (min(10), min(20))]);
/// assert!(window("10 minuts", "5 minutes").check().is_err());
/// ```
#[derive(Clone, Debug)]
pub struct WindowSpec {
    pub(crate) kind: WindowKind,
    errors: Vec<String>,
}

/// Sliding windows of `size` every `slide` (Spark's `window(col, size, slide)`); equal values
/// give tumbling windows. Add an offset with [`WindowSpec::start_offset`].
///
/// ```
/// let spec = streamflow::structured::window("1 hour", "15 minutes").start_offset("-5 minutes");
/// assert!(spec.check().is_ok());
/// ```
pub fn window(size: impl IntoDuration, slide: impl IntoDuration) -> WindowSpec {
    let mut errors = Vec::new();
    let size = duration_ms(Part::Size, size, &mut errors);
    let slide = duration_ms(Part::Slide, slide, &mut errors);
    let mut spec = WindowSpec {
        kind: WindowKind::Sliding {
            size,
            slide,
            offset: 0,
        },
        errors,
    };
    spec.validate();
    spec
}

/// Tumbling windows of `size` (Spark's `window(col, size)`).
///
/// ```
/// use streamflow::Time;
/// let spec = streamflow::structured::tumbling_window("10 minutes");
/// let w: Vec<_> = spec.windows_of(Time::from_millis(61_000)).collect();
/// assert_eq!(w.len(), 1);
/// assert_eq!(w[0].start, Time::from_millis(0));
/// ```
#[doc(alias = "window")]
pub fn tumbling_window(size: impl IntoDuration) -> WindowSpec {
    let mut errors = Vec::new();
    let size = duration_ms(Part::Size, size, &mut errors);
    let mut spec = WindowSpec {
        kind: WindowKind::Sliding {
            size,
            slide: size,
            offset: 0,
        },
        errors,
    };
    spec.validate();
    spec
}

/// Session windows: a session lasts while events keep arriving at most `gap` apart (Spark's
/// `session_window(col, gap)`). An event opens `[ts, ts + gap)`; sessions of a key that overlap
/// or touch (`start ≤ end` of the other, as in Spark) merge, so one event can bridge two
/// sessions. A session window needs a grouping key besides the window: Spark rejects a global
/// aggregation by session window, and so does `start()`.
///
/// ```
/// assert!(streamflow::structured::session_window("5 minutes").check().is_ok());
/// assert!(streamflow::structured::session_window("0 s").check().is_err());
/// ```
pub fn session_window(gap: impl IntoDuration) -> WindowSpec {
    let mut errors = Vec::new();
    let gap = duration_ms(Part::Gap, gap, &mut errors);
    if errors.is_empty() {
        errors.extend(
            rules::session_gap(gap.unsigned_abs())
                .err()
                .map(|v| v.to_string()),
        );
    }
    WindowSpec {
        kind: WindowKind::Session { gap },
        errors,
    }
}

fn duration_ms(what: Part, d: impl IntoDuration, errors: &mut Vec<String>) -> i64 {
    match d.into_duration() {
        Ok(d) => i64::try_from(d.millis()).unwrap_or(i64::MAX),
        Err(e) => {
            errors.push(format!("{}: {e}", what.label()));
            0
        }
    }
}

impl WindowSpec {
    /// Moves the window starts by `offset` from the epoch (Spark's `startTime`): `"15 minutes"`
    /// gives hourly windows 12:15–13:15 …; a leading `-` gives a negative offset. Its absolute
    /// value must be less than the slide. Ignored for session windows.
    ///
    /// ```
    /// use streamflow::Time;
    /// let min = |m: i64| Time::from_millis(m * 60_000);
    /// let spec = streamflow::structured::window("10 minutes", "10 minutes").start_offset("-3 minutes");
    /// let w: Vec<_> = spec.windows_of(min(8)).collect();
    /// assert_eq!((w[0].start, w[0].end), (min(7), min(17)));
    /// ```
    #[doc(alias = "startTime")]
    pub fn start_offset(mut self, offset: &str) -> Self {
        let text = offset.trim();
        let (negative, magnitude) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        match Duration::parse(magnitude) {
            Ok(d) => {
                let ms = i64::try_from(d.millis()).unwrap_or(i64::MAX);
                if let WindowKind::Sliding { offset, .. } = &mut self.kind {
                    *offset = if negative { -ms } else { ms };
                }
                self.validate();
            }
            Err(e) => self.errors.push(format!("{}: {e}", Part::Offset.label())),
        }
        self
    }

    fn validate(&mut self) {
        if !self.errors.is_empty() {
            return;
        }
        // The rules and their words are shared with `#[stream_job]` (`window/rules.rs`).
        if let WindowKind::Sliding { size, slide, offset } = self.kind {
            if let Err(violation) = rules::sliding_geometry(size.unsigned_abs(), slide.unsigned_abs(), offset)
            {
                self.errors.push(violation.to_string());
            }
        }
    }

    /// `Ok` if the durations parsed and the geometry is valid; otherwise every problem.
    ///
    /// ```
    /// use streamflow::structured::window;
    /// assert!(window("10 minutes", "5 minutes").check().is_ok());
    /// let err = window("5 minutes", "10 minutes").check().unwrap_err();
    /// assert!(err.contains("must be less than or equal to the window size"), "{err}");
    /// let both = window("10 minuts", "5 minits").check().unwrap_err();
    /// assert!(both.starts_with("window size: ") && both.contains("; window slide: "), "{both}");
    /// ```
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors.join("; "))
        }
    }

    pub(crate) fn errors(&self) -> &[String] {
        &self.errors
    }

    /// Whether these are session windows.
    ///
    /// ```
    /// use streamflow::structured::{session_window, tumbling_window};
    /// assert!(session_window("5 minutes").is_session());
    /// assert!(!tumbling_window("5 minutes").is_session());
    /// ```
    pub fn is_session(&self) -> bool {
        matches!(self.kind, WindowKind::Session { .. })
    }

    /// The windows `ts` belongs to, earliest first. Session windows: the event's own session
    /// `[ts, ts + gap)`, before merging.
    ///
    /// ```
    /// use streamflow::Time;
    /// use streamflow::structured::{session_window, window};
    ///
    /// let s = |secs: i64| Time::from_millis(secs * 1_000);
    /// let sliding: Vec<Time> = window("30 s", "10 s").windows_of(s(25)).map(|w| w.start).collect();
    /// assert_eq!(sliding, [s(0), s(10), s(20)]);
    /// let own: Vec<_> = session_window("1 minute").windows_of(s(25)).map(|w| (w.start, w.end)).collect();
    /// assert_eq!(own, [(s(25), s(85))]);
    /// assert_eq!(window("1 s", "2 s").windows_of(s(25)).count(), 0); // an invalid spec has none
    /// ```
    pub fn windows_of(&self, ts: Time) -> WindowsOf {
        match self.kind {
            WindowKind::Sliding { size, slide, offset } if self.errors.is_empty() => {
                // An event time from the input may lie anywhere in i64: the window arithmetic
                // is checked, and a time whose windows cannot be represented gets none.
                let t = ts.millis();
                let bounds = || -> Option<(i64, i64)> {
                    let last_start = t.checked_sub(t.checked_sub(offset)?.rem_euclid(slide))?;
                    let reach = last_start.checked_sub(t.checked_sub(size)?)?;
                    let first = last_start.checked_sub(((reach - 1).max(0) / slide).checked_mul(slide)?)?;
                    Some((first, last_start))
                };
                let (next, last) = bounds().unwrap_or((1, 0));
                WindowsOf {
                    next,
                    last,
                    size,
                    slide,
                }
            }
            WindowKind::Session { gap } => WindowsOf {
                next: ts.millis(),
                last: ts.millis(),
                size: gap,
                slide: 1,
            },
            WindowKind::Sliding { .. } => WindowsOf {
                next: 1,
                last: 0,
                size: 0,
                slide: 1,
            },
        }
    }
}

/// The windows one event time belongs to; see [`WindowSpec::windows_of`].
#[derive(Clone, Debug)]
pub struct WindowsOf {
    next: i64,
    last: i64,
    size: i64,
    slide: i64,
}

impl Iterator for WindowsOf {
    type Item = Window;

    fn next(&mut self) -> Option<Window> {
        while self.next <= self.last {
            let start = self.next;
            match start.checked_add(self.slide) {
                Some(next) => self.next = next,
                // The last representable start: nothing follows it.
                None => self.last = i64::MIN,
            }
            // A window whose end lies beyond the representable times is skipped.
            if let Some(end) = start.checked_add(self.size) {
                return Some(Window {
                    start: Time::from_millis(start),
                    end: Time::from_millis(end),
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn min(m: i64) -> Time {
        Time::from_millis(m * 60_000)
    }

    fn starts(spec: &WindowSpec, ts: Time) -> Vec<i64> {
        spec.windows_of(ts).map(|w| w.start.millis() / 60_000).collect()
    }

    #[test]
    fn every_window_containing_the_row_and_no_other() {
        let spec = window("10 minutes", "5 minutes");
        for t in -30..30 {
            let ts = min(t);
            let got: Vec<Window> = spec.windows_of(ts).collect();
            assert!(got.iter().all(|w| w.contains(ts)), "{t}: {got:?}");
            assert_eq!(got.len(), 2, "{t}");
        }
        assert_eq!(starts(&spec, min(10)), vec![5, 10]);
        assert_eq!(starts(&spec, min(-1)), vec![-10, -5]);
    }

    #[test]
    fn uneven_slide_and_negative_offset() {
        let spec = window("10 minutes", "3 minutes").start_offset("-1 minute");
        for t in 0..40 {
            let ts = min(t) + Duration::seconds(30);
            let got: Vec<Window> = spec.windows_of(ts).collect();
            assert!(!got.is_empty());
            for w in &got {
                assert!(w.contains(ts));
                assert_eq!((w.start.millis() / 60_000 + 1).rem_euclid(3), 0, "{w:?}");
            }
            // Every start s ≡ -1 (mod 3) with s ≤ ts < s + 10 is present.
            let expected = (-20..40)
                .filter(|s: &i64| (s + 1).rem_euclid(3) == 0 && min(*s) <= ts && ts < min(s + 10))
                .count();
            assert_eq!(got.len(), expected, "{t}");
        }
    }

    #[test]
    fn geometry_errors() {
        assert!(
            window("5 minutes", "10 minutes")
                .check()
                .unwrap_err()
                .contains("less than or equal")
        );
        assert!(
            window("10 minutes", "5 minutes")
                .start_offset("-5 minutes")
                .check()
                .unwrap_err()
                .contains("absolute value")
        );
        assert!(window("0 s", "0 s").check().is_err());
        assert!(
            window("10 minuts", "1 minute")
                .check()
                .unwrap_err()
                .contains("unknown unit")
        );
    }
}
