//! The rules a window's durations must follow, and their messages: windows over batches
//! (length and slide are multiples of the slide of the stream they read) and event-time windows
//! (Spark's `window` / `session_window` geometry).
//!
//! This file uses only `std` on purpose: the `#[stream_job]` macro includes it with `#[path]`,
//! so a mistake reported at compile time reads exactly as `start()` reports it at run time. The
//! runtime puts a [`Violation`] in its error; the macro points it at the duration at fault.

use std::fmt;

/// Which duration of a window a rule is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// The length of a window over batches (Spark's `windowDuration`).
    Length,
    /// The size of an event-time window.
    Size,
    /// The slide of either kind of window.
    Slide,
    /// The start offset of an event-time window (Spark's `startTime`).
    Offset,
    /// The gap of a session window.
    Gap,
}

impl Part {
    /// How messages name it: `"window length"`, `"session gap"`, …
    pub fn label(self) -> &'static str {
        match self {
            Part::Length => "window length",
            Part::Size => "window size",
            Part::Slide => "window slide",
            Part::Offset => "window start offset",
            Part::Gap => "session gap",
        }
    }
}

/// A broken rule: the duration at fault, what is wrong, and what to do instead.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// The duration at fault (the macro puts the diagnostic on it).
    #[allow(
        dead_code,
        reason = "read by streamflow-macros only, which includes this file"
    )]
    pub at: Part,
    /// What is wrong, in lowercase, as rustc words a diagnostic.
    pub message: String,
    /// The fix.
    pub help: String,
}

/// `message: help`, the runtime's one-line form.
impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.message, self.help)
    }
}

/// What the length and slide of a window over batches are measured in: the slide of the
/// stream the window reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unit<'a> {
    /// The batch interval, in milliseconds.
    BatchInterval(u64),
    /// The slide (in milliseconds) set by the window operator `window` upstream.
    SlideOf {
        /// The slide.
        ms: u64,
        /// The operator that set it (`"window"`, `"reduce_by_key_and_window"`, …).
        window: &'a str,
    },
}

impl Unit<'_> {
    /// The unit in milliseconds.
    pub fn millis(self) -> u64 {
        match self {
            Unit::BatchInterval(ms) | Unit::SlideOf { ms, .. } => ms,
        }
    }
}

impl fmt::Display for Unit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unit::BatchInterval(ms) => write!(f, "the batch interval {}", format_ms(*ms)),
            Unit::SlideOf { ms, window } => {
                write!(f, "the slide {} of the `{window}` it reads", format_ms(*ms))
            }
        }
    }
}

/// The length or the slide (`what`) of a window over batches, `ms`, is a non-zero multiple of
/// `unit`. A zero `unit` (never a valid slide) accepts anything.
pub fn multiple_of_unit(what: Part, ms: u64, unit: Unit<'_>) -> Result<(), Violation> {
    let step = unit.millis();
    if ms == 0 {
        return Err(Violation {
            at: what,
            message: format!("the {} must be greater than zero", what.label()),
            help: format!("use a multiple of {}", format_ms(step)),
        });
    }
    if step == 0 || ms % step == 0 {
        return Ok(());
    }
    let over = ms % step;
    let below = ms - over;
    let above = below + step;
    let distance = if below == 0 || step - over < over {
        format!("it is {} short of {}", format_ms(step - over), format_ms(above))
    } else {
        format!("it is {} over {}", format_ms(over), format_ms(below))
    };
    Err(Violation {
        at: what,
        message: format!(
            "{} {} is not a multiple of {unit} ({distance})",
            what.label(),
            format_ms(ms)
        ),
        help: if below == 0 {
            format!("use \"{}\"", format_ms(above))
        } else {
            format!("use \"{}\" or \"{}\"", format_ms(below), format_ms(above))
        },
    })
}

/// The geometry of sliding (or, with `slide == size`, tumbling) event-time windows: a size and
/// a slide greater than zero, `slide <= size` and `|offset| < slide`. The first rule broken.
pub fn sliding_geometry(size: u64, slide: u64, offset: i64) -> Result<(), Violation> {
    if size == 0 {
        return Err(Violation {
            at: Part::Size,
            message: "the window size must be greater than zero".into(),
            help: "use e.g. \"10 minutes\"".into(),
        });
    }
    if slide == 0 {
        return Err(Violation {
            at: Part::Slide,
            message: "the window slide must be greater than zero".into(),
            help: format!("use at most the size, e.g. \"{}\"", format_ms(size)),
        });
    }
    if slide > size {
        return Err(Violation {
            at: Part::Slide,
            message: format!(
                "the window slide ({}) must be less than or equal to the window size ({})",
                format_ms(slide),
                format_ms(size)
            ),
            help: format!(
                "a slide larger than the size would skip events between windows: use a slide of \
                 at most \"{}\", or swap the two if the size came second",
                format_ms(size)
            ),
        });
    }
    let magnitude = offset.unsigned_abs();
    if magnitude >= slide {
        let sign = if offset < 0 { "-" } else { "" };
        return Err(Violation {
            at: Part::Offset,
            message: format!(
                "the absolute value of the window start offset ({sign}{}) must be less than the slide ({})",
                format_ms(magnitude),
                format_ms(slide)
            ),
            help: match magnitude % slide {
                0 => "an offset of whole slides gives the windows of no offset: remove `.start_offset(..)`"
                    .to_owned(),
                rest => format!(
                    "an offset of a whole slide gives the same windows: use the remainder, \"{sign}{}\"",
                    format_ms(rest)
                ),
            },
        });
    }
    Ok(())
}

/// The gap of session windows is greater than zero.
pub fn session_gap(gap: u64) -> Result<(), Violation> {
    if gap > 0 {
        return Ok(());
    }
    Err(Violation {
        at: Part::Gap,
        message: "the session gap must be greater than zero".into(),
        help: "a session lasts while events come less than the gap apart: use e.g. \"5 minutes\"".into(),
    })
}

/// A duration in its largest whole unit, as the messages write it: `45000` → `45s`,
/// `120000` → `2min`, `1500` → `1500ms`.
pub fn format_ms(ms: u64) -> String {
    const UNITS: &[(u64, &str)] = &[(86_400_000, "d"), (3_600_000, "h"), (60_000, "min"), (1_000, "s")];
    if ms == 0 {
        return "0s".into();
    }
    UNITS
        .iter()
        .find(|(size, _)| ms % size == 0)
        .map(|(size, unit)| format!("{}{unit}", ms / size))
        .unwrap_or_else(|| format!("{ms}ms"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000;
    const MIN: u64 = 60 * S;

    #[test]
    fn durations_are_shown_in_their_largest_whole_unit() {
        assert_eq!(format_ms(45_000), "45s");
        assert_eq!(format_ms(120_000), "2min");
        assert_eq!(format_ms(1_500), "1500ms");
        assert_eq!(format_ms(7_200_000), "2h");
        assert_eq!(format_ms(0), "0s");
    }

    #[test]
    fn multiples_of_the_unit_say_how_far_off_a_value_is() {
        let batch = Unit::BatchInterval(10 * S);
        assert_eq!(multiple_of_unit(Part::Length, 30 * S, batch), Ok(()));
        let over = multiple_of_unit(Part::Length, 45 * S, batch).unwrap_err();
        assert_eq!(
            over.to_string(),
            "window length 45s is not a multiple of the batch interval 10s (it is 5s over 40s): use \"40s\" or \"50s\""
        );
        let short = multiple_of_unit(Part::Slide, 5 * S, batch).unwrap_err();
        assert_eq!(
            short.message,
            "window slide 5s is not a multiple of the batch interval 10s (it is 5s short of 10s)"
        );
        assert_eq!(short.help, "use \"10s\"");
        let zero = multiple_of_unit(Part::Slide, 0, batch).unwrap_err();
        assert_eq!(
            zero.to_string(),
            "the window slide must be greater than zero: use a multiple of 10s"
        );
        let window = Unit::SlideOf {
            ms: 20 * S,
            window: "window",
        };
        assert!(
            multiple_of_unit(Part::Length, 30 * S, window)
                .unwrap_err()
                .message
                .starts_with("window length 30s is not a multiple of the slide 20s of the `window` it reads")
        );
    }

    #[test]
    fn sliding_geometry_reports_the_first_broken_rule() {
        assert_eq!(sliding_geometry(10 * MIN, 5 * MIN, -4 * MIN as i64), Ok(()));
        assert_eq!(sliding_geometry(0, 0, 0).unwrap_err().at, Part::Size);
        assert_eq!(sliding_geometry(MIN, 0, 0).unwrap_err().at, Part::Slide);
        let larger = sliding_geometry(5 * MIN, 10 * MIN, 0).unwrap_err();
        assert_eq!(
            larger.message,
            "the window slide (10min) must be less than or equal to the window size (5min)"
        );
        let whole = sliding_geometry(10 * MIN, 5 * MIN, -5 * MIN as i64).unwrap_err();
        assert_eq!(whole.at, Part::Offset);
        assert_eq!(
            whole.message,
            "the absolute value of the window start offset (-5min) must be less than the slide (5min)"
        );
        let rest = sliding_geometry(10 * MIN, 5 * MIN, 6 * MIN as i64).unwrap_err();
        assert!(
            rest.help.ends_with("use the remainder, \"1min\""),
            "{}",
            rest.help
        );
    }

    #[test]
    fn session_gaps_are_positive() {
        assert_eq!(session_gap(1), Ok(()));
        assert_eq!(
            session_gap(0).unwrap_err().message,
            "the session gap must be greater than zero"
        );
    }
}
