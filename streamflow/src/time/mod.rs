//! Time: batch times, durations and clocks.
//!
//! [`Time`] is a point in milliseconds since the Unix epoch, [`Duration`] a length of time in
//! milliseconds; both mirror Spark Streaming's `Time` and `Duration`. A [`Clock`] tells the
//! driver what time it is: [`SystemClock`] in production, [`ManualClock`] in tests, where
//! the test moves time forward and the engine never waits on the wall clock.

mod clock;
mod parse;

pub use clock::{Clock, ManualClock, SystemClock};
use parse::MAX_DURATION_MS;
/// Parses a duration string into milliseconds, or says what is wrong with it: the grammar of
/// [`Duration::parse`] and of every duration argument, shared with the `#[stream_job]` macro's
/// compile-time check.
///
/// ```
/// use streamflow::parse_duration_ms;
///
/// assert_eq!(parse_duration_ms("10 seconds"), Ok(10_000));
/// assert_eq!(parse_duration_ms("1 MINUTE"), Ok(60_000));
/// assert_eq!(parse_duration_ms(" 500ms "), Ok(500));
/// let err = parse_duration_ms("10 minuts").unwrap_err();
/// assert!(err.contains("unknown unit \"minuts\""), "{err}");
/// assert!(parse_duration_ms("1.5 s").unwrap_err().contains("fractional"));
/// ```
///
/// # Grammar
///
// The function's own docs, in parse.rs, follow under this heading. Its doctest lives here
// because parse.rs is also compiled into streamflow-macros, whose doctests cannot name
// `streamflow`.
pub use parse::parse_duration_ms;

use std::fmt;
use std::ops::{Add, Sub};

use crate::error::{Error, Result};

/// A point in time, in milliseconds since the Unix epoch (Spark's `Time`).
///
/// # Examples
///
/// ```
/// use streamflow::{Duration, Time};
///
/// let t = Time::from_millis(1_000) + Duration::seconds(2);
/// assert_eq!(t.millis(), 3_000);
/// assert_eq!(t.to_string(), "3000 ms");
/// ```
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Time(i64);

/// As Spark's `Time.toString`: `3000 ms`.
impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Time {
    /// The time `millis` milliseconds after the epoch.
    ///
    /// ```
    /// use streamflow::Time;
    ///
    /// let t = Time::from_millis(1_500);
    /// assert_eq!(t.millis(), 1_500);
    /// assert!(Time::from_millis(-1) < Time::default()); // before the epoch
    /// ```
    pub const fn from_millis(millis: i64) -> Self {
        Time(millis)
    }

    /// Milliseconds since the epoch.
    ///
    /// ```
    /// use streamflow::{Duration, Time};
    ///
    /// let t = Time::from_millis(2_000) - Duration::milliseconds(500);
    /// assert_eq!(t.millis(), 1_500);
    /// assert_eq!(t - Time::from_millis(2_000), -500); // the distance between two times, in ms
    /// ```
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Whether `self - zero` is a whole number of `interval`s (Spark's `Time.isMultipleOf`).
    ///
    /// ```
    /// use streamflow::{Duration, Time};
    /// assert!(Time::from_millis(3_000).is_multiple_of(Time::from_millis(1_000), Duration::seconds(2)));
    /// ```
    pub fn is_multiple_of(self, zero: Time, interval: Duration) -> bool {
        interval.0 != 0 && (self.0 - zero.0).rem_euclid(interval.0 as i64) == 0
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0)
    }
}

impl Add<Duration> for Time {
    type Output = Time;
    /// Saturates at the end of time rather than wrapping (a `Duration` past `i64::MAX` ms
    /// would otherwise turn negative and move time backwards).
    fn add(self, rhs: Duration) -> Time {
        Time(self.0.saturating_add(i64::try_from(rhs.0).unwrap_or(i64::MAX)))
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, rhs: Duration) -> Time {
        Time(self.0.saturating_sub(i64::try_from(rhs.0).unwrap_or(i64::MAX)))
    }
}

impl Sub<Time> for Time {
    type Output = i64;
    /// The signed distance in milliseconds.
    fn sub(self, rhs: Time) -> i64 {
        self.0 - rhs.0
    }
}

/// A length of time in milliseconds (Spark's `Duration`; `Seconds(5)` is `Duration::seconds(5)`).
///
/// Parse one from text with [`Duration::parse`] or `"10 minutes".parse()`.
///
/// The constructors never wrap: a length past `u64::MAX` ms saturates there. Anything longer
/// than [`Duration::MAX`] (2^53 ms, about 285,000 years) is refused with an error wherever a
/// duration is taken — by [`parse`](Duration::parse), by every operator through
/// [`IntoDuration`], and as a batch interval — so an absurd value fails at construction instead
/// of making batch times overflow. (A `std::time::Duration` given to an operator is capped at
/// `Duration::MAX` instead: `std::time::Duration::MAX` is the usual "no timeout".)
///
/// # Examples
///
/// ```
/// use streamflow::Duration;
///
/// assert_eq!(Duration::parse("10 minutes")?, Duration::minutes(10));
/// assert_eq!(Duration::seconds(30).millis(), 30_000);
/// assert!(Duration::seconds(30).is_multiple_of(Duration::seconds(10)));
/// assert!(Duration::parse("10 minuts").is_err());
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(
    Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Duration(u64);

/// As its `Display`: `10000 ms`.
impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Duration {
    /// The empty duration.
    pub const ZERO: Duration = Duration(0);

    /// The longest duration accepted: 2^53 ms (about 285,000 years). Longer ones are refused
    /// where a duration is taken ([`Duration::check`]).
    ///
    /// ```
    /// use streamflow::Duration;
    ///
    /// assert_eq!(Duration::MAX.millis(), 1 << 53);
    /// assert!(Duration::MAX.check().is_ok());
    /// assert!(Duration::from_millis(u64::MAX).check().is_err());
    /// ```
    pub const MAX: Duration = Duration(MAX_DURATION_MS);

    /// `ms` milliseconds.
    ///
    /// ```
    /// use streamflow::Duration;
    ///
    /// assert_eq!(Duration::from_millis(2_000), Duration::seconds(2));
    /// assert_eq!(Duration::from_millis(1_500).millis(), 1_500);
    /// ```
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms)
    }

    /// `ms` milliseconds (Spark's `Milliseconds(ms)`).
    ///
    /// ```
    /// use streamflow::Duration;
    ///
    /// assert_eq!(Duration::milliseconds(250).millis(), 250);
    /// assert_eq!(Duration::milliseconds(1_000), Duration::seconds(1));
    /// ```
    pub const fn milliseconds(ms: u64) -> Self {
        Duration(ms)
    }

    /// `s` seconds (Spark's `Seconds(s)`). Saturates instead of wrapping; a length past
    /// [`Duration::MAX`] is then refused where it is used.
    ///
    /// ```
    /// use streamflow::{Duration, IntoDuration};
    ///
    /// assert_eq!(Duration::seconds(5).millis(), 5_000);
    /// assert_eq!(Duration::seconds(60), Duration::minutes(1));
    /// assert_eq!(Duration::seconds(u64::MAX).millis(), u64::MAX); // not wrapped
    /// assert!(Duration::seconds(u64::MAX).into_duration().is_err());
    /// ```
    pub const fn seconds(s: u64) -> Self {
        Duration(s.saturating_mul(1_000))
    }

    /// `m` minutes (Spark's `Minutes(m)`).
    ///
    /// ```
    /// use streamflow::Duration;
    ///
    /// assert_eq!(Duration::minutes(10), "10 minutes".parse::<Duration>()?);
    /// assert_eq!(Duration::minutes(1).millis(), 60_000);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub const fn minutes(m: u64) -> Self {
        Duration(m.saturating_mul(60_000))
    }

    /// `h` hours.
    ///
    /// ```
    /// use streamflow::Duration;
    ///
    /// assert_eq!(Duration::hours(2), Duration::minutes(120));
    /// assert_eq!(Duration::hours(1).millis(), 3_600_000);
    /// ```
    pub const fn hours(h: u64) -> Self {
        Duration(h.saturating_mul(3_600_000))
    }

    /// Parses `"10 minutes"`, `"1s"`, `"500 ms"` …; see [`parse_duration_ms`] for the grammar.
    ///
    /// ```
    /// use streamflow::{Duration, Error};
    ///
    /// assert_eq!(Duration::parse("500 ms")?, Duration::milliseconds(500));
    /// assert_eq!(Duration::parse("1 Hour")?, Duration::hours(1));
    /// let err = Duration::parse("1.5 s").unwrap_err();
    /// assert!(matches!(err, Error::InvalidDuration(_)));
    /// assert!(err.to_string().contains("use a smaller unit"), "{err}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Self> {
        parse_duration_ms(text)
            .map(Duration)
            .map_err(Error::InvalidDuration)
    }

    /// This duration, or an [`Error::InvalidDuration`] if it is longer than [`Duration::MAX`]:
    /// what every operator does with the durations it is given.
    ///
    /// ```
    /// use streamflow::Duration;
    ///
    /// assert_eq!(Duration::hours(1).check()?, Duration::hours(1));
    /// let err = Duration::from_millis(u64::MAX).check().unwrap_err();
    /// assert!(err.to_string().contains("longer than 2^53 ms"), "{err}");
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn check(self) -> Result<Self> {
        if self.0 > MAX_DURATION_MS {
            return Err(Error::InvalidDuration(format!(
                "a duration of {} ms is longer than 2^53 ms (about 285,000 years), the longest accepted; for \"never\", leave the setting out",
                self.0
            )));
        }
        Ok(self)
    }

    /// The length in milliseconds.
    ///
    /// ```
    /// use streamflow::Duration;
    ///
    /// assert_eq!(Duration::minutes(1).millis(), 60_000);
    /// assert_eq!((Duration::seconds(1) + Duration::milliseconds(5)).millis(), 1_005);
    /// ```
    pub const fn millis(self) -> u64 {
        self.0
    }

    /// Whether this is zero.
    ///
    /// ```
    /// use streamflow::Duration;
    ///
    /// assert!(Duration::ZERO.is_zero());
    /// assert!(Duration::parse("0 s")?.is_zero());
    /// assert!(!Duration::milliseconds(1).is_zero());
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Whether this is a non-zero whole multiple of `other`.
    ///
    /// ```
    /// use streamflow::Duration;
    ///
    /// assert!(Duration::seconds(30).is_multiple_of(Duration::seconds(10)));
    /// assert!(!Duration::seconds(25).is_multiple_of(Duration::seconds(10)));
    /// assert!(!Duration::ZERO.is_multiple_of(Duration::seconds(10))); // zero is no multiple
    /// assert!(!Duration::seconds(10).is_multiple_of(Duration::ZERO));
    /// ```
    pub const fn is_multiple_of(self, other: Duration) -> bool {
        other.0 != 0 && self.0 != 0 && self.0 % other.0 == 0
    }

    /// As a `std::time::Duration`.
    ///
    /// ```
    /// use streamflow::Duration;
    ///
    /// assert_eq!(Duration::seconds(2).to_std(), std::time::Duration::from_secs(2));
    /// assert_eq!(Duration::from(std::time::Duration::from_millis(750)).to_std().as_millis(), 750);
    /// ```
    pub const fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ms", self.0)
    }
}

impl std::str::FromStr for Duration {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Duration::parse(s)
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Self {
        Duration(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_add(rhs.0))
    }
}

/// Anything an operator accepts as a duration: a [`Duration`], a `std::time::Duration`, or a
/// string such as `"30 seconds"`.
///
/// A string that does not parse is reported by `start()` (and at compile time under
/// `#[stream_job]`), so pipelines can be written as plain method chains.
///
/// ```
/// use streamflow::{Duration, IntoDuration};
///
/// assert_eq!("30s".into_duration()?, Duration::seconds(30));
/// assert_eq!(std::time::Duration::from_secs(2).into_duration()?, Duration::seconds(2));
/// # Ok::<(), streamflow::Error>(())
/// ```
pub trait IntoDuration {
    /// The duration, or why this is not one.
    fn into_duration(self) -> Result<Duration>;
}

impl IntoDuration for Duration {
    fn into_duration(self) -> Result<Duration> {
        self.check()
    }
}

/// A `std::time::Duration` past [`Duration::MAX`] becomes `Duration::MAX`: its own `MAX` is the
/// usual way to say "no timeout", and 285,000 years serve as well.
impl IntoDuration for std::time::Duration {
    fn into_duration(self) -> Result<Duration> {
        Ok(Duration::from(self).min(Duration::MAX))
    }
}

impl IntoDuration for &str {
    fn into_duration(self) -> Result<Duration> {
        Duration::parse(self)
    }
}

impl IntoDuration for String {
    fn into_duration(self) -> Result<Duration> {
        Duration::parse(&self)
    }
}
