//! Parsing of duration strings such as `"10 seconds"` or `"500ms"`.
//!
//! This file uses only `std` on purpose: the `#[stream_job]` macro includes it with `#[path]`
//! so that the compile-time check and the runtime accept exactly the same strings.

// The doctest is on the re-export in time/mod.rs: this file is also compiled into
// streamflow-macros, whose doctests cannot name `streamflow`.
/// Parses a duration such as `"10s"`, `"10 seconds"`, `"1 minute"`, `"500ms"`, `"2 hours"` or
/// `"1 day"` into milliseconds.
///
/// The number must be a non-negative integer; units are case-insensitive. A duration longer than
/// [`Duration::MAX`](crate::Duration::MAX) (2^53 ms, about 285,000 years) is an error, never wrapped or clamped. The
/// error message says what was wrong and what is accepted.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration (expected a number and a unit, like \"10 seconds\")".into());
    }
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, rest) = trimmed.split_at(digits_end);
    if number.is_empty() {
        return Err(format!(
            "missing number in \"{text}\" (expected a whole number then a unit, like \"10 seconds\")"
        ));
    }
    let unit = rest.trim();
    if unit.is_empty() {
        return Err(format!(
            "missing unit in \"{text}\" (expected ms, s, min, h, d, w or their long names)"
        ));
    }
    let factor = unit_millis(unit).ok_or_else(|| {
        if unit.starts_with('.') || unit.starts_with(',') {
            format!(
                "fractional durations are not supported in \"{text}\": use a smaller unit, like \"1500 ms\""
            )
        } else {
            format!(
                "unknown unit \"{unit}\" in \"{text}\" (expected ms, s, min, h, d, w or their long names)"
            )
        }
    })?;
    let too_large =
        || format!("duration \"{text}\" is too large: the longest accepted is 2^53 ms (about 285,000 years)");
    let value: u64 = number.parse().map_err(|_| too_large())?;
    value
        .checked_mul(factor)
        .filter(|ms| *ms <= MAX_DURATION_MS)
        .ok_or_else(too_large)
}

/// The longest duration accepted anywhere, in milliseconds: 2^53 (about 285,000 years). Longer
/// ones are mistakes (a `u64::MAX` meant as "forever"), and added to a time they would overflow;
/// 2^53 is also the largest count of milliseconds a JSON number (a double) holds exactly.
pub const MAX_DURATION_MS: u64 = 1 << 53;

fn unit_millis(unit: &str) -> Option<u64> {
    const SECOND: u64 = 1_000;
    const MINUTE: u64 = 60 * SECOND;
    const HOUR: u64 = 60 * MINUTE;
    let lower = unit.to_ascii_lowercase();
    Some(match lower.as_str() {
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => SECOND,
        "m" | "min" | "mins" | "minute" | "minutes" => MINUTE,
        "h" | "hr" | "hrs" | "hour" | "hours" => HOUR,
        "d" | "day" | "days" => 24 * HOUR,
        "w" | "week" | "weeks" => 7 * 24 * HOUR,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_duration_ms;

    #[test]
    fn accepts_short_and_long_units() {
        assert_eq!(parse_duration_ms("10s"), Ok(10_000));
        assert_eq!(parse_duration_ms("10 seconds"), Ok(10_000));
        assert_eq!(parse_duration_ms("1 minute"), Ok(60_000));
        assert_eq!(parse_duration_ms("10 Minutes"), Ok(600_000));
        assert_eq!(parse_duration_ms("500ms"), Ok(500));
        assert_eq!(parse_duration_ms(" 2 hours "), Ok(7_200_000));
        assert_eq!(parse_duration_ms("1 day"), Ok(86_400_000));
        assert_eq!(parse_duration_ms("0s"), Ok(0));
    }

    #[test]
    fn rejects_with_a_reason() {
        let err = parse_duration_ms("10 minuts").unwrap_err();
        assert!(err.contains("unknown unit \"minuts\""), "{err}");
        assert!(
            parse_duration_ms("minutes")
                .unwrap_err()
                .contains("missing number")
        );
        assert!(parse_duration_ms("10").unwrap_err().contains("missing unit"));
        assert!(parse_duration_ms("").unwrap_err().contains("empty"));
        assert!(parse_duration_ms("1.5 s").unwrap_err().contains("fractional"));
        assert!(
            parse_duration_ms("99999999999999999999 s")
                .unwrap_err()
                .contains("too large")
        );
        // Past 2^53 ms, whatever the unit: an error, never wrapped.
        assert_eq!(parse_duration_ms("9007199254740992 ms"), Ok(1 << 53));
        assert!(
            parse_duration_ms("9007199254740993 ms")
                .unwrap_err()
                .contains("2^53 ms")
        );
        assert!(parse_duration_ms("18446744073709551615 ms").is_err());
        assert!(
            parse_duration_ms("30000000000 weeks")
                .unwrap_err()
                .contains("too large")
        );
        assert!(parse_duration_ms("-1 s").unwrap_err().contains("missing number"));
    }
}
