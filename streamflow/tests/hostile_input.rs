//! Input a careless user or a hostile network can give: absurd durations and parallelism, and
//! arbitrary text for the duration parser. Nothing panics, nothing wraps, every refusal says why.
//!
//! The property tests run 256 cases each by default; `PROPTEST_CASES=N` runs more (see
//! `benches/RESULTS.md` for the long run).

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use proptest::prelude::*;
use streamflow::structured::{Session, Trigger};
use streamflow::{Duration, IntoDuration, StreamingContext, Time, parse_duration_ms};

#[test]
fn an_absurd_batch_interval_is_an_error_not_a_busy_loop() {
    for absurd in [
        Duration::from_millis(u64::MAX),
        Duration::seconds(u64::MAX / 10),
        Duration::hours(u64::MAX),
        Duration::from_millis((1 << 53) + 1),
    ] {
        let err = StreamingContext::new(absurd, 2).unwrap_err();
        assert!(err.to_string().contains("the batch interval"), "{err}");
    }
    assert!(StreamingContext::new(Duration::MAX, 1).is_ok());
}

#[test]
fn constructors_saturate_instead_of_wrapping() {
    // 2^64 / 1000 + 1 seconds would wrap to a few milliseconds.
    let s = u64::MAX / 1_000 + 1;
    assert_eq!(Duration::seconds(s).millis(), u64::MAX);
    assert_eq!(Duration::minutes(u64::MAX).millis(), u64::MAX);
    assert!(Duration::seconds(s).into_duration().is_err());
    // std's MAX is the usual "no timeout": capped at the longest duration, not refused.
    assert_eq!(std::time::Duration::MAX.into_duration().unwrap(), Duration::MAX);
    // Time arithmetic with the longest duration stays ordered.
    let t = Time::from_millis(1_000);
    assert!(t + Duration::MAX > t);
    assert!(
        t + Duration::from_millis(u64::MAX) > t,
        "saturates, never goes back"
    );
}

#[test]
fn an_absurd_trigger_or_window_is_refused_before_the_query_runs() {
    let session = Session::builder().parallelism(1).build().unwrap();
    let input = streamflow::structured::MemoryStream::<i64>::new();
    let err = session
        .read_stream::<i64>()
        .memory(&input)
        .write_stream()
        .trigger(Trigger::processing_time(Duration::from_millis(u64::MAX)))
        .memory("never")
        .start()
        .unwrap_err();
    assert!(err.to_string().contains("longer than 2^53 ms"), "{err}");
}

#[test]
fn parallelism_far_beyond_the_cores_is_a_clear_error() {
    let err = StreamingContext::builder()
        .batch_duration(Duration::seconds(1))
        .parallelism(10_000)
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("parallelism 10000 is more than"),
        "{err}"
    );
    assert!(Session::builder().parallelism(1 << 20).build().is_err());
}

proptest! {
    /// Any text: a duration within 2^53 ms, or an error — never a panic.
    #[test]
    fn the_duration_parser_takes_any_text(text in ".{0,40}") {
        if let Ok(ms) = parse_duration_ms(&text) {
            prop_assert!(ms <= Duration::MAX.millis());
            prop_assert_eq!(Duration::parse(&text).map(|d| d.millis()).ok(), Some(ms));
        }
    }

    /// Numbers with units, near and past the limit: exact when it fits, an error otherwise.
    #[test]
    fn the_duration_parser_is_exact_or_refuses(n in any::<u64>(), unit in 0_usize..6, shift in 0_u32..64) {
        let n = n >> shift;
        let (name, factor) = [("ms", 1_u64), ("s", 1_000), ("min", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000)][unit];
        let parsed = parse_duration_ms(&format!("{n} {name}"));
        match n.checked_mul(factor).filter(|ms| *ms <= 1 << 53) {
            Some(ms) => prop_assert_eq!(parsed, Ok(ms)),
            None => prop_assert!(parsed.unwrap_err().contains("too large")),
        }
    }
}
