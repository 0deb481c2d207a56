//! What a stream–stream join matches on — an equality key ([`JoinOn`]) and an optional
//! event-time range ([`TimeRange`]) — and how far each side's state may be evicted under a
//! watermark: Spark's `StreamingJoinHelper.getStateValueWatermark`, solved for our one form of
//! range condition.
//!
//! A range is `left.ts + lower ≤ right.ts ≤ left.ts + upper` (either bound may be strict, or
//! absent). Spark solves each bound for the side it constrains, with the other side's event
//! time at least the watermark `W`, and evicts the rows with `ts ≤ state watermark`; an
//! inclusive bound takes one millisecond off (the state watermark is itself inclusive). Rows at
//! or before `W` are late, so this keeps a row at most one millisecond longer than it could
//! match — and never evicts one that could:
//!
//! | bound | constrains | state watermark (evict `ts ≤` it) |
//! |---|---|---|
//! | `right.ts ≤ left.ts + upper` | left | `W − upper − 1` |
//! | `right.ts < left.ts + upper` | left | `W − upper` |
//! | `right.ts ≥ left.ts + lower` | right | `W + lower − 1` |
//! | `right.ts > left.ts + lower` | right | `W + lower` |
//!
//! A side has a state watermark only if both sides have a watermark and the bound that
//! constrains it is given; without one its rows stay for ever.

use std::sync::Arc;

use crate::time::IntoDuration;

/// The event-time range condition of a stream–stream join: the right row's event time relative
/// to the left row's, `left.ts + lower ≤ right.ts ≤ left.ts + upper` — Spark's
/// `rightTime >= leftTime + lower AND rightTime <= leftTime + upper`. Each bound is inclusive
/// unless made strict, and either may be left out.
///
/// The range also tells the join when a buffered row can no longer match, so that its state
/// is evicted and, in an outer join, its null-padded row emitted (see the module `join`).
///
/// ```
/// use streamflow::structured::TimeRange;
///
/// // A click within the hour after its impression (the bounds inclusive).
/// let range = TimeRange::between("0 seconds", "1 hour");
/// assert!(range.contains(1_000, 1_000));
/// assert!(range.contains(1_000, 1_000 + 3_600_000));
/// assert!(!range.contains(1_000, 1_001 + 3_600_000));
/// // Strict bounds, and offsets before the left row's time.
/// let strict = TimeRange::millis(-10, 10).exclusive_lower().exclusive_upper();
/// assert!(!strict.contains(100, 90) && strict.contains(100, 91) && !strict.contains(100, 110));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeRange {
    pub(crate) lower: Option<Bound>,
    pub(crate) upper: Option<Bound>,
    /// A duration that did not parse: reported by `start()`.
    pub(crate) error: Option<String>,
}

/// One bound of a [`TimeRange`]: an offset from the left row's event time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bound {
    pub(crate) offset_ms: i64,
    pub(crate) inclusive: bool,
}

impl Bound {
    fn inclusive(offset_ms: i64) -> Option<Bound> {
        Some(Bound {
            offset_ms,
            inclusive: true,
        })
    }
}

impl TimeRange {
    /// `left.ts + lower ≤ right.ts ≤ left.ts + upper`, the right row at or after the left one
    /// (durations such as `"1 hour"`; a malformed one is reported by `start()`).
    ///
    /// ```
    /// # use streamflow::structured::TimeRange;
    /// assert!(TimeRange::between("0 s", "1 hour").contains(0, 3_600_000));
    /// ```
    pub fn between(lower: impl IntoDuration, upper: impl IntoDuration) -> TimeRange {
        let mut error = None;
        let mut ms = |d: crate::Result<crate::Duration>| match d {
            Ok(d) => d.millis() as i64,
            Err(e) => {
                error = Some(format!("TimeRange::between: {e}"));
                0
            }
        };
        let (lower, upper) = (ms(lower.into_duration()), ms(upper.into_duration()));
        TimeRange {
            lower: Bound::inclusive(lower),
            upper: Bound::inclusive(upper),
            error,
        }
    }

    /// `left.ts + lower_ms ≤ right.ts ≤ left.ts + upper_ms`, in signed milliseconds (a negative
    /// offset is before the left row's event time).
    ///
    /// ```
    /// # use streamflow::structured::TimeRange;
    /// let around = TimeRange::millis(-5_000, 5_000); // within 5 s either way
    /// assert!(around.contains(10_000, 5_000) && !around.contains(10_000, 4_999));
    /// ```
    pub fn millis(lower_ms: i64, upper_ms: i64) -> TimeRange {
        TimeRange {
            lower: Bound::inclusive(lower_ms),
            upper: Bound::inclusive(upper_ms),
            error: None,
        }
    }

    /// Only `right.ts ≥ left.ts + lower_ms`: the left side's rows are never evicted by it.
    ///
    /// ```
    /// # use streamflow::structured::TimeRange;
    /// assert!(TimeRange::at_least(0).contains(0, i64::MAX));
    /// ```
    pub fn at_least(lower_ms: i64) -> TimeRange {
        TimeRange {
            lower: Bound::inclusive(lower_ms),
            upper: None,
            error: None,
        }
    }

    /// Only `right.ts ≤ left.ts + upper_ms`: the right side's rows are never evicted by it.
    ///
    /// ```
    /// # use streamflow::structured::TimeRange;
    /// assert!(TimeRange::at_most(0).contains(0, i64::MIN));
    /// ```
    pub fn at_most(upper_ms: i64) -> TimeRange {
        TimeRange {
            lower: None,
            upper: Bound::inclusive(upper_ms),
            error: None,
        }
    }

    /// Makes the lower bound strict: `right.ts > left.ts + lower`.
    ///
    /// ```
    /// # use streamflow::structured::TimeRange;
    /// assert!(!TimeRange::millis(0, 10).exclusive_lower().contains(0, 0));
    /// ```
    pub fn exclusive_lower(mut self) -> TimeRange {
        if let Some(b) = &mut self.lower {
            b.inclusive = false;
        }
        self
    }

    /// Makes the upper bound strict: `right.ts < left.ts + upper`.
    ///
    /// ```
    /// # use streamflow::structured::TimeRange;
    /// assert!(!TimeRange::millis(0, 10).exclusive_upper().contains(0, 10));
    /// ```
    pub fn exclusive_upper(mut self) -> TimeRange {
        if let Some(b) = &mut self.upper {
            b.inclusive = false;
        }
        self
    }

    /// Whether a right row at `right_ms` is in range of a left row at `left_ms`.
    pub fn contains(&self, left_ms: i64, right_ms: i64) -> bool {
        let lower_ok = self.lower.is_none_or(|b| {
            let edge = left_ms.saturating_add(b.offset_ms);
            if b.inclusive {
                right_ms >= edge
            } else {
                right_ms > edge
            }
        });
        let upper_ok = self.upper.is_none_or(|b| {
            let edge = left_ms.saturating_add(b.offset_ms);
            if b.inclusive {
                right_ms <= edge
            } else {
                right_ms < edge
            }
        });
        lower_ok && upper_ok
    }

    /// Whether it bounds the left side's state: the upper bound.
    pub(crate) fn bounds_left(&self) -> bool {
        self.upper.is_some()
    }

    /// Whether it bounds the right side's state: the lower bound.
    pub(crate) fn bounds_right(&self) -> bool {
        self.lower.is_some()
    }

    /// The left side's state watermark under the watermark `w`: left rows with
    /// `ts ≤` it can no longer match (Spark's `getStateValueWatermark`).
    pub(crate) fn left_state_watermark(&self, w: i64) -> Option<i64> {
        self.upper.map(|b| {
            let edge = w.saturating_sub(b.offset_ms);
            if b.inclusive { edge.saturating_sub(1) } else { edge }
        })
    }

    /// The right side's state watermark under the watermark `w`.
    pub(crate) fn right_state_watermark(&self, w: i64) -> Option<i64> {
        self.lower.map(|b| {
            let edge = w.saturating_add(b.offset_ms);
            if b.inclusive { edge.saturating_sub(1) } else { edge }
        })
    }
}

/// What a stream–stream join of `L` and `R` rows matches on: the equality key of each side and
/// an optional [`TimeRange`] between their event times (the event times declared by
/// `with_watermark` on each side).
///
/// ```
/// use streamflow::structured::{JoinOn, TimeRange};
/// use streamflow::Time;
///
/// #[derive(Clone)]
/// struct Impression { ad: u64, ts: Time }
/// #[derive(Clone)]
/// struct Click { ad: u64, ts: Time }
///
/// let on = JoinOn::keys(|i: &Impression| i.ad, |c: &Click| c.ad)
///     .time_range(TimeRange::between("0 seconds", "1 hour"));
/// # let _ = on;
/// ```
pub struct JoinOn<L, R, K> {
    pub(crate) left_key: Arc<dyn Fn(&L) -> K + Send + Sync>,
    pub(crate) right_key: Arc<dyn Fn(&R) -> K + Send + Sync>,
    pub(crate) range: Option<TimeRange>,
}

impl<L, R, K> Clone for JoinOn<L, R, K> {
    fn clone(&self) -> Self {
        JoinOn {
            left_key: self.left_key.clone(),
            right_key: self.right_key.clone(),
            range: self.range.clone(),
        }
    }
}

impl<L, R, K> JoinOn<L, R, K> {
    /// Rows match when `left_key` of the left row equals `right_key` of the right row.
    pub fn keys(
        left_key: impl Fn(&L) -> K + Send + Sync + 'static,
        right_key: impl Fn(&R) -> K + Send + Sync + 'static,
    ) -> Self {
        JoinOn {
            left_key: Arc::new(left_key),
            right_key: Arc::new(right_key),
            range: None,
        }
    }

    /// Rows match only when their event times are also within `range` (both sides need an
    /// event time, from `with_watermark`).
    pub fn time_range(mut self, range: TimeRange) -> Self {
        self.range = Some(range);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No row the rule evicts could match a row of the other side at or after the watermark,
    /// and the first one it keeps could (Spark's solution, with the other side at `ts ≥ w`).
    #[test]
    fn state_watermarks_are_sparks_and_exact() {
        let w = 10_000;
        for range in [
            TimeRange::millis(-300, 500),
            TimeRange::millis(-300, 500).exclusive_lower().exclusive_upper(),
            TimeRange::millis(0, 3_600_000),
        ] {
            let left = range.left_state_watermark(w).unwrap();
            let matches_future_right = |l: i64| (w..w + 4_000_000).any(|r| range.contains(l, r));
            assert!(
                !matches_future_right(left),
                "{range:?}: evicted {left} could match"
            );
            assert!(
                matches_future_right(left + 1),
                "{range:?}: kept {} cannot",
                left + 1
            );
            let right = range.right_state_watermark(w).unwrap();
            let matches_future_left = |r: i64| (w..w + 4_000_000).any(|l| range.contains(l, r));
            assert!(
                !matches_future_left(right),
                "{range:?}: evicted {right} could match"
            );
            assert!(
                matches_future_left(right + 1),
                "{range:?}: kept {} cannot",
                right + 1
            );
        }
    }

    #[test]
    fn inclusive_bounds_take_a_millisecond_off_as_spark_does() {
        let range = TimeRange::between("0 s", "1 hour");
        assert_eq!(range.error, None);
        assert_eq!(range.left_state_watermark(7_200_000), Some(3_600_000 - 1));
        assert_eq!(range.right_state_watermark(7_200_000), Some(7_200_000 - 1));
        let strict = range.exclusive_lower().exclusive_upper();
        assert_eq!(strict.left_state_watermark(7_200_000), Some(3_600_000));
        assert_eq!(strict.right_state_watermark(7_200_000), Some(7_200_000));
        assert_eq!(TimeRange::at_least(0).left_state_watermark(1), None);
        assert_eq!(TimeRange::at_most(0).right_state_watermark(1), None);
        assert!(TimeRange::between("soon", "1 hour").error.is_some());
    }
}
