//! Windows over batches, through the test harness: the window geometry of SPEC §2 (a window at
//! time t covers the batches in (t − len, t], output only at slide multiples, starting before the
//! window is full), plain and incremental reductions, the zero-value rule, the errors for bad
//! geometry and a missing checkpoint directory, and that windows do not keep batches longer
//! than they need them.
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use streamflow::testing::{TestContext, run_batches, sorted};
use streamflow::{DStream, Duration, Error, StreamQueue, Time};

mod common;
use common::{TestResult, as_str, checkpointed, keyed, sorted_batches, sorted_timed};

fn secs(s: i64) -> Time {
    Time::from_millis(s * 1_000)
}

/// Batch k (k = 1, 2, …) holds the single element k.
fn numbered(n: i32) -> Vec<Vec<i32>> {
    (1..=n).map(|k| vec![k]).collect()
}

fn timed_windows(len: &str, slide: &str, batches: usize) -> Vec<(Time, Vec<i32>)> {
    let t = TestContext::new(Duration::seconds(1), 2).unwrap();
    let out = t.collect(&t.input(numbered(batches as i32)).window(len, slide));
    t.run(batches).unwrap();
    out.timed()
        .into_iter()
        .map(|(time, b)| (time, sorted(&b)))
        .collect()
}

// ---------------------------------------------------------------- geometry

#[test]
fn tumbling_window_len_equals_slide() {
    assert_eq!(
        timed_windows("2s", "2s", 6),
        vec![
            (secs(2), vec![1, 2]),
            (secs(4), vec![3, 4]),
            (secs(6), vec![5, 6])
        ]
    );
}

#[test]
fn sliding_window_len_greater_than_slide_starts_before_it_is_full() {
    assert_eq!(
        timed_windows("3s", "1s", 5),
        vec![
            (secs(1), vec![1]),
            (secs(2), vec![1, 2]),
            (secs(3), vec![1, 2, 3]),
            (secs(4), vec![2, 3, 4]),
            (secs(5), vec![3, 4, 5]),
        ]
    );
    assert_eq!(
        timed_windows("4s", "2s", 8),
        vec![
            (secs(2), vec![1, 2]),
            (secs(4), vec![1, 2, 3, 4]),
            (secs(6), vec![3, 4, 5, 6]),
            (secs(8), vec![5, 6, 7, 8]),
        ]
    );
}

#[test]
fn sampling_window_len_less_than_slide_skips_batches() {
    assert_eq!(
        timed_windows("1s", "3s", 9),
        vec![(secs(3), vec![3]), (secs(6), vec![6]), (secs(9), vec![9])]
    );
    assert_eq!(
        timed_windows("2s", "3s", 6),
        vec![(secs(3), vec![2, 3]), (secs(6), vec![5, 6])]
    );
}

#[test]
fn a_window_of_a_window_uses_the_parent_slide() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let out = t.collect(&t.input(numbered(8)).window("2s", "2s").window("4s", "4s"));
    t.run(8)?;
    let timed: Vec<_> = out
        .timed()
        .into_iter()
        .map(|(time, b)| (time, sorted(&b)))
        .collect();
    assert_eq!(
        timed,
        vec![(secs(4), vec![1, 2, 3, 4]), (secs(8), vec![5, 6, 7, 8])]
    );
    Ok(())
}

/// A window of a window: the outer window unions the inner windows at its covered times, so an
/// element appears once per inner window that holds it (Spark's semantics: no deduplication).
#[test]
fn a_window_of_a_sliding_window_repeats_elements_like_spark() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let inner = t.input(numbered(6)).window("2s", "1s");
    let outer = t.collect(&inner.window("2s", "2s"));
    t.run(6)?;
    // Inner at 1: [1]; 2: [1,2]; 3: [2,3]; 4: [3,4] … outer at 2 = inner(1) ∪ inner(2).
    assert_eq!(
        sorted_timed(outer.timed()),
        [(2, vec![1, 1, 2]), (4, vec![2, 3, 3, 4]), (6, vec![4, 5, 5, 6])]
    );
    Ok(())
}

#[test]
fn a_window_reaches_past_batches_through_stateless_operators() -> TestResult {
    // The window at 2 s reads batch 1 s, which nothing computed at 1 s: the map and the filter
    // run then, from the source's stored batch.
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let windowed = t
        .input(numbered(6))
        .map(|x| x * 10)
        .filter(|x| *x != 30)
        .window("4s", "2s");
    let out = t.collect(&windowed);
    t.run(6)?;
    assert_eq!(
        sorted_batches(&out.batches()),
        vec![vec![10, 20], vec![10, 20, 40], vec![40, 50, 60]]
    );
    Ok(())
}

/// The window of SPEC §2 computed from its definition: `parent` maps each of its batch times
/// (in seconds) to its elements; the result at each multiple of `slide` up to `end`.
fn model_window(parent: &[(i64, Vec<i32>)], len: i64, slide: i64, end: i64) -> Vec<(i64, Vec<i32>)> {
    (1..=end / slide)
        .map(|k| {
            let t = k * slide;
            let mut items: Vec<i32> = parent
                .iter()
                .filter(|(u, _)| t - len < *u && *u <= t)
                .flat_map(|(_, b)| b.clone())
                .collect();
            items.sort();
            (t, items)
        })
        .collect()
}

#[test]
fn nested_windows_over_stateless_operators_match_the_definition() -> TestResult {
    let batches = 24_i64;
    let input: Vec<(i64, Vec<i32>)> = (1..=batches).map(|k| (k, vec![k as i32])).collect();
    for (len1, slide1, len2, slide2) in [
        (2, 1, 6, 3),
        (3, 2, 4, 4),
        (1, 3, 6, 6),
        (4, 2, 2, 6),
        (5, 5, 10, 5),
    ] {
        let t = TestContext::new(Duration::seconds(1), 2)?;
        let stream = t
            .input(input.iter().map(|(_, b)| b.clone()).collect())
            .map(|x| x * 2)
            .window(Duration::seconds(len1 as u64), Duration::seconds(slide1 as u64))
            .filter(|_| true)
            .window(Duration::seconds(len2 as u64), Duration::seconds(slide2 as u64));
        let out = t.collect(&stream);
        t.run(batches as usize)?;
        let doubled: Vec<_> = input
            .iter()
            .map(|(k, b)| (*k, b.iter().map(|x| x * 2).collect()))
            .collect();
        let inner = model_window(&doubled, len1, slide1, batches);
        let expected = model_window(&inner, len2, slide2, batches);
        let actual = sorted_timed(out.timed());
        assert_eq!(
            actual, expected,
            "window({len1}, {slide1}) then window({len2}, {slide2})"
        );
    }
    Ok(())
}

#[test]
fn the_window_slide_is_the_stream_slide() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let windowed = t.input::<i32>(vec![]).window("30 seconds", "10 seconds");
    assert_eq!(windowed.slide_duration(), Duration::seconds(10));
    assert_eq!(windowed.map(|x| x + 1).slide_duration(), Duration::seconds(10));
    Ok(())
}

#[test]
fn empty_windows_still_produce_a_batch() {
    let out = run_batches(vec![vec![1], vec![], vec![], vec![]], |s| s.window("2s", "1s"), 4);
    assert_eq!(out, vec![vec![1], vec![1], vec![], vec![]]);
}

// ---------------------------------------------------------------- errors

fn start_error(build: impl FnOnce(&TestContext)) -> String {
    let t = TestContext::new(Duration::seconds(10), 2).unwrap();
    build(&t);
    match t.context().start() {
        Err(e) => e.to_string(),
        Ok(()) => {
            t.context().stop(false).unwrap();
            panic!("start() should have failed")
        }
    }
}

#[test]
fn window_length_and_slide_must_be_multiples_of_the_batch_interval() {
    let err = start_error(|t| t.input::<i32>(vec![]).window("25s", "10s").print());
    assert!(
        err.contains(
            "`window`: window length 25s is not a multiple of the batch interval 10s (it is 5s over 20s)"
        ),
        "{err}"
    );
    assert!(err.contains(r#"use "20s" or "30s""#), "{err}");

    let err = start_error(|t| t.input::<i32>(vec![]).window("30s", "15s").print());
    assert!(
        err.contains("window slide 15s is not a multiple of the batch interval 10s (it is 5s over 10s)"),
        "{err}"
    );
    assert!(!err.contains("window length"), "{err}");

    let err = start_error(|t| t.input::<i32>(vec![]).window("3s", "10s").print());
    assert!(err.contains(r#"(it is 7s short of 10s): use "10s""#), "{err}");
}

#[test]
fn every_geometry_mistake_is_reported_at_once_naming_the_operator() {
    let err = start_error(|t| {
        let pairs = t.input::<(String, i32)>(vec![]);
        pairs
            .reduce_by_key_and_window(|a, b| a + b, "10 minuts", "10s")
            .print();
        pairs.group_by_key_and_window("20s", "0s").print();
        pairs.count_by_window("45s", "10s").print();
    });
    assert!(
        err.contains("`reduce_by_key_and_window`: window length: invalid duration"),
        "{err}"
    );
    assert!(err.contains("minuts"), "{err}");
    assert!(
        err.contains("`group_by_key_and_window`: the window slide must be greater than zero"),
        "{err}"
    );
    assert!(err.contains("`count_by_window`: window length 45s"), "{err}");
}

#[test]
fn a_window_of_a_window_is_checked_against_the_parent_slide() {
    let err = start_error(|t| {
        t.input::<i32>(vec![])
            .window("20s", "20s")
            .window("30s", "20s")
            .print()
    });
    assert!(
        err.contains("window length 30s is not a multiple of the slide 20s of the `window` it reads (it is 10s over 20s)"),
        "{err}"
    );
    // Named after the window that changed the slide, as `#[stream_job]` names it.
    let err = start_error(|t| {
        t.input::<i32>(vec![])
            .reduce_by_window(|a, b| a + b, "20s", "20s")
            .window("40s", "20s")
            .window("30s", "20s")
            .print()
    });
    assert!(
        err.contains(
            "`window`: window length 30s is not a multiple of the slide 20s of the `reduce_by_window` it reads (it is 10s over 20s): use \"20s\" or \"40s\""
        ),
        "{err}"
    );
}

#[test]
fn incremental_windows_need_a_checkpoint_directory() {
    let err = start_error(|t| {
        t.input::<(String, i32)>(vec![])
            .reduce_by_key_and_window_inv(|a, b| a + b, |a, b| a - b, "30s", "10s", None)
            .print()
    });
    assert!(err.contains("checkpoint directory has not been set"), "{err}");
    assert!(err.contains("`reduce_by_key_and_window`"), "{err}");
    assert!(err.contains("ssc.checkpoint(dir)"), "{err}");

    let err = start_error(|t| {
        t.input::<String>(vec![])
            .count_by_value_and_window("30s", "10s")
            .print()
    });
    assert!(err.contains("`count_by_value_and_window`"), "{err}");
    let err = start_error(|t| {
        t.input::<i64>(vec![])
            .reduce_by_window_inv(|a, b| a + b, |a, b| a - b, "30s", "10s")
            .print()
    });
    assert!(err.contains("`reduce_by_window`"), "{err}");
}

#[test]
fn plain_windows_need_no_checkpoint_directory() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let pairs = t.input(vec![vec![("a", 1)]]);
    pairs.reduce_by_key_and_window(|a, b| a + b, "2s", "1s").print();
    pairs.group_by_key_and_window("2s", "1s").print();
    pairs.map(|(k, _)| k).count_by_window("2s", "1s").print();
    pairs
        .map(|(_, v)| v)
        .reduce_by_window(|a, b| a + b, "2s", "1s")
        .print();
    t.run(1)?;
    Ok(())
}

#[test]
fn errors_are_typed() {
    let t = TestContext::new(Duration::seconds(10), 2).unwrap();
    t.input::<i32>(vec![]).window("25s", "10s").print();
    assert!(matches!(t.context().start(), Err(Error::InvalidGraph(problems)) if problems.len() == 1));
}

// ---------------------------------------------------------------- reductions

/// A deterministic pseudo-random sequence (a linear congruential generator).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

fn random_batches(seed: u64, batches: usize) -> Vec<Vec<(String, i64)>> {
    let mut rng = Lcg(seed);
    (0..batches)
        .map(|_| {
            // Some batches are empty, some keys come and go.
            let n = if rng.next(5) == 0 { 0 } else { rng.next(40) };
            (0..n)
                .map(|_| (format!("k{}", rng.next(25)), 1 + rng.next(9) as i64))
                .collect()
        })
        .collect()
}

#[test]
fn incremental_equals_plain_on_random_data() -> TestResult {
    for (seed, len, slide) in [
        (1, "3s", "1s"),
        (2, "4s", "2s"),
        (3, "2s", "2s"),
        (4, "2s", "3s"),
        (5, "6s", "3s"),
    ] {
        let (t, _dir) = checkpointed()?;
        let pairs = t.input(random_batches(seed, 24));
        let plain = t.collect(&pairs.reduce_by_key_and_window(|a, b| a + b, len, slide));
        let incremental = t.collect(&pairs.reduce_by_key_and_window_inv(
            |a, b| a + b,
            |a, b| a - b,
            len,
            slide,
            Some(|(_, v): &(String, i64)| *v != 0),
        ));
        let unfiltered =
            t.collect(&pairs.reduce_by_key_and_window_inv(|a, b| a + b, |a, b| a - b, len, slide, None));
        t.run(24)?;
        let plain = plain.timed();
        assert!(!plain.is_empty());
        let incremental = incremental.timed();
        let unfiltered = unfiltered.timed();
        assert_eq!(plain.len(), incremental.len(), "window {len}/{slide}");
        for ((p, i), u) in plain.iter().zip(&incremental).zip(&unfiltered) {
            assert_eq!(p.0, i.0, "same window times");
            assert_eq!(sorted(&p.1), sorted(&i.1), "window {len}/{slide} at {}", p.0);
            // Without the filter: the same, plus the keys that went back to zero.
            let nonzero: Vec<_> = u.1.iter().filter(|(_, v)| *v != 0).cloned().collect();
            assert_eq!(sorted(&nonzero), sorted(&p.1), "window {len}/{slide} at {}", p.0);
        }
    }
    Ok(())
}

/// Deterministic pseudo-random keyed batches with small keys and values that may cancel out;
/// some batches are empty.
fn small_keyed_batches(seed: u64, batches: usize) -> Vec<Vec<(u8, i64)>> {
    let mut rng = Lcg(seed);
    (0..batches)
        .map(|_| {
            let n = rng.next(5); // 0..=4 records, so some batches are empty
            (0..n)
                .map(|_| (rng.next(4) as u8, rng.next(7) as i64 - 2))
                .collect()
        })
        .collect()
}

/// The definition: per key, the sum over the batches with times in `(t − len, t]`, at every
/// `t` that is a multiple of `slide`, leaving out keys with no values in the window.
fn model_key_sums(input: &[Vec<(u8, i64)>], len: i64, slide: i64, until: i64) -> Vec<(i64, Vec<(u8, i64)>)> {
    let mut out = Vec::new();
    let mut t = slide;
    while t <= until {
        let mut sums = std::collections::BTreeMap::new();
        for k in (t - len + 1).max(1)..=t {
            if let Some(batch) = input.get(k as usize - 1) {
                for (key, v) in batch {
                    *sums.entry(*key).or_insert(0) += v;
                }
            }
        }
        out.push((t, sums.into_iter().collect()));
        t += slide;
    }
    out
}

/// Incremental and plain keyed windows against the definition, for every geometry: len = slide,
/// len > slide with slide dividing len or not, len < slide; with empty batches and values that
/// cancel out (the incremental form keeps such keys at 0 without a filter).
#[test]
fn incremental_and_plain_windows_match_the_definition_for_every_geometry() -> TestResult {
    let n = 14;
    for (seed, len, slide) in [
        (1, 1, 1),
        (2, 3, 1),
        (3, 4, 2),
        (4, 3, 2),
        (5, 5, 3),
        (6, 1, 3),
        (7, 2, 3),
        (8, 2, 2),
    ] {
        let input = small_keyed_batches(seed, n);
        let (t, _dir) = checkpointed()?;
        let s = t.input(input.clone());
        let (l, sl) = (format!("{len}s"), format!("{slide}s"));
        let plain = t.collect(&s.reduce_by_key_and_window(|a, b| a + b, l.as_str(), sl.as_str()));
        let inv = t.collect(&s.reduce_by_key_and_window_inv(
            |a, b| a + b,
            |a, b| a - b,
            l.as_str(),
            sl.as_str(),
            None,
        ));
        // A filter is only sound when a zero sum means every value left (Spark's contract, and
        // Spark's behaviour: a key dropped while values remain gets them subtracted later), so
        // the filtered run uses positive values.
        let positive = s.map(|(k, v)| (k, v.abs() + 1));
        let filtered = t.collect(&positive.reduce_by_key_and_window_inv(
            |a, b| a + b,
            |a, b| a - b,
            l.as_str(),
            sl.as_str(),
            Some(|(_, v): &(u8, i64)| *v != 0),
        ));
        t.run(n)?;
        let expected = model_key_sums(&input, len, slide, n as i64);
        let plain = sorted_timed(plain.timed());
        assert_eq!(plain, expected, "plain len {len} slide {slide}");
        let inv = sorted_timed(inv.timed());
        // Without a filter, a key stays once seen; drop zeros to compare sums, and check that
        // every key in the plain window is in the incremental one.
        let nonzero = |b: &Vec<(u8, i64)>| b.iter().copied().filter(|(_, v)| *v != 0).collect::<Vec<_>>();
        assert_eq!(inv.len(), expected.len());
        for ((ti, bi), (te, be)) in inv.iter().zip(&expected) {
            assert_eq!(ti, te);
            assert_eq!(nonzero(bi), nonzero(be), "inv len {len} slide {slide} at {ti}");
            assert!(be.iter().all(|(k, _)| bi.iter().any(|(k2, _)| k2 == k)));
        }
        let positive_input: Vec<Vec<(u8, i64)>> = input
            .iter()
            .map(|b| b.iter().map(|(k, v)| (*k, v.abs() + 1)).collect())
            .collect();
        let expected_positive = model_key_sums(&positive_input, len, slide, n as i64);
        assert_eq!(
            sorted_timed(filtered.timed()),
            expected_positive,
            "filtered len {len} slide {slide}"
        );
    }
    Ok(())
}

#[test]
fn keys_back_at_the_identity_stay_unless_filtered() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let pairs = t.input(keyed(vec![
        vec![("a", 1), ("b", 2)],
        vec![("b", 1)],
        vec![],
        vec![],
        vec![("a", 5)],
    ]));
    let kept = t.collect(&pairs.reduce_by_key_and_window_inv(|x, y| x + y, |x, y| x - y, "2s", "1s", None));
    let filtered = t.collect(&pairs.reduce_by_key_and_window_inv(
        |x, y| x + y,
        |x, y| x - y,
        "2s",
        "1s",
        Some(|(_, n): &(String, i32)| *n != 0),
    ));
    t.run(5)?;
    assert_eq!(
        sorted_batches(&as_str(&kept.batches())),
        vec![
            vec![("a", 1), ("b", 2)],
            vec![("a", 1), ("b", 3)],
            vec![("a", 0), ("b", 1)],
            vec![("a", 0), ("b", 0)],
            vec![("a", 5), ("b", 0)],
        ]
    );
    assert_eq!(
        sorted_batches(&as_str(&filtered.batches())),
        vec![
            vec![("a", 1), ("b", 2)],
            vec![("a", 1), ("b", 3)],
            vec![("b", 1)],
            vec![],
            vec![("a", 5)],
        ]
    );
    Ok(())
}

#[test]
fn tumbling_incremental_window_keeps_zero_keys_like_spark() -> TestResult {
    // len = slide: every batch of the previous window leaves, every new one enters.
    let (t, _dir) = checkpointed()?;
    let pairs = t.input(keyed(vec![
        vec![("a", 1)],
        vec![("a", 1)],
        vec![("b", 1)],
        vec![],
    ]));
    let out = t.collect(&pairs.reduce_by_key_and_window_inv(|x, y| x + y, |x, y| x - y, "2s", "2s", None));
    t.run(4)?;
    let (times, batches): (Vec<Time>, Vec<Vec<(String, i32)>>) = out.timed().into_iter().unzip();
    assert_eq!(times, vec![secs(2), secs(4)]);
    assert_eq!(
        sorted_batches(&as_str(&batches)),
        vec![vec![("a", 2)], vec![("a", 0), ("b", 1)]]
    );
    Ok(())
}

#[test]
fn reduce_and_count_by_window() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let numbers = t.input(vec![vec![1_i64, 2], vec![3], vec![], vec![], vec![4]]);
    let plain = t.collect(&numbers.reduce_by_window(|a, b| a + b, "2s", "1s"));
    let incremental = t.collect(&numbers.reduce_by_window_inv(|a, b| a + b, |a, b| a - b, "2s", "1s"));
    let counts = t.collect(&numbers.count_by_window("2s", "1s"));
    t.run(5)?;
    assert_eq!(plain.batches(), vec![vec![3], vec![6], vec![3], vec![], vec![4]]);
    // Once there was data, the incremental reduction always has a value (Spark's behaviour).
    assert_eq!(
        incremental.batches(),
        vec![vec![3], vec![6], vec![3], vec![0], vec![4]]
    );
    assert_eq!(
        counts.batches(),
        vec![vec![2], vec![3], vec![1], vec![0], vec![1]]
    );
    Ok(())
}

/// A slide longer than the window samples: batches between two windows are never output, and
/// nothing is kept for them.
#[test]
fn a_count_by_window_shorter_than_its_slide_counts_only_covered_batches() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let counts = t.collect(
        &t.input(vec![vec![1], vec![2, 2], vec![3, 3, 3], vec![], vec![5], vec![6]])
            .count_by_window("1s", "3s"),
    );
    t.run(6)?;
    assert_eq!(sorted_timed(counts.timed()), [(3, vec![3]), (6, vec![1])]);
    Ok(())
}

/// `reduce_by_window_inv`: no output until the stream had data, then a value at every window
/// time — the identity once everything left (Spark's `reduceByWindow` with an inverse maps to
/// a single key without a filter).
#[test]
fn reduce_by_window_inv_with_leading_and_trailing_empty_batches() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let out = t.collect(
        &t.input(vec![vec![], vec![], vec![4], vec![], vec![], vec![]])
            .reduce_by_window_inv(|a, b| a + b, |a, b| a - b, "2s", "1s"),
    );
    t.run(6)?;
    assert_eq!(
        out.batches(),
        [vec![], vec![], vec![4], vec![4], vec![0], vec![0]]
    );
    Ok(())
}

#[test]
fn count_by_value_and_window_drops_zero_counts() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let words = t.input(vec![vec!["a", "b", "a"], vec!["b"], vec![], vec![]]);
    let out = t.collect(&words.map(str::to_owned).count_by_value_and_window("2s", "1s"));
    t.run(4)?;
    assert_eq!(
        sorted_batches(&as_str(&out.batches())),
        vec![
            vec![("a", 2), ("b", 1)],
            vec![("a", 2), ("b", 2)],
            vec![("b", 1)],
            vec![]
        ]
    );
    Ok(())
}

#[test]
fn group_by_key_and_window_keeps_batch_order() {
    let out = run_batches(
        vec![vec![("a", 1), ("b", 9)], vec![("a", 2)], vec![("a", 3), ("a", 4)]],
        |pairs| pairs.group_by_key_and_window("3s", "1s"),
        4,
    );
    assert_eq!(
        sorted_batches(&out),
        vec![
            vec![("a", vec![1]), ("b", vec![9])],
            vec![("a", vec![1, 2]), ("b", vec![9])],
            vec![("a", vec![1, 2, 3, 4]), ("b", vec![9])],
            vec![("a", vec![2, 3, 4])],
        ]
    );
}

#[test]
fn the_windowed_word_count_of_the_seeds() -> TestResult {
    // Last 30 s every 10 s over 10 s batches, incremental, zero counts filtered out.
    let t = TestContext::new(Duration::seconds(10), 2)?;
    let dir = tempfile::tempdir()?;
    t.context().checkpoint(dir.path())?;
    let lines = t.input(vec![vec!["a b"], vec!["a"], vec![], vec![], vec!["c"]]);
    let counts = lines
        .flat_map(|l: &str| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|w| (w, 1))
        .reduce_by_key_and_window_inv(
            |a, b| a + b,
            |a, b| a - b,
            "30s",
            "10s",
            Some(|(_, n): &(String, i32)| *n > 0),
        );
    let out = t.collect(&counts);
    t.run(5)?;
    let owned = |pairs: &[(&str, i32)]| pairs.iter().map(|(w, n)| (w.to_string(), *n)).collect::<Vec<_>>();
    assert_eq!(
        sorted_batches(&out.batches()),
        vec![
            owned(&[("a", 1), ("b", 1)]),
            owned(&[("a", 2), ("b", 1)]),
            owned(&[("a", 2), ("b", 1)]),
            owned(&[("a", 1)]),
            owned(&[("c", 1)]),
        ]
    );
    Ok(())
}

#[test]
fn a_panicking_inverse_function_fails_the_job_naming_the_operator() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let pairs = t.input(keyed(vec![vec![("a", 1)], vec![], vec![]]));
    pairs
        .reduce_by_key_and_window_inv(|a, b| a + b, |_, _| panic!("inverse exploded"), "1s", "1s", None)
        .print();
    let err = t.run(3).unwrap_err().to_string();
    assert!(err.contains("reduce_by_key_and_window"), "{err}");
    assert!(err.contains("inverse exploded"), "{err}");
    Ok(())
}

// ---------------------------------------------------------------- memory

/// An element that counts its live copies, to see whether batches are dropped.
#[derive(Debug)]
struct Tracked {
    id: u64,
    live: Arc<AtomicI64>,
}

impl Tracked {
    fn new(id: u64, live: &Arc<AtomicI64>) -> Self {
        live.fetch_add(1, Ordering::Relaxed);
        Tracked {
            id,
            live: live.clone(),
        }
    }
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        Tracked::new(self.id, &self.live)
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::Relaxed);
    }
}

impl PartialEq for Tracked {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Tracked {}

impl Hash for Tracked {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state)
    }
}

/// A key's partition is a hash of its serialized form: the id.
impl serde::Serialize for Tracked {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.id.serialize(serializer)
    }
}

/// State keys must read back from bytes; these tests never snapshot, and a `Tracked` read back
/// would not be counted, so reading one is refused.
impl<'de> serde::Deserialize<'de> for Tracked {
    fn deserialize<D: serde::Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom("a Tracked element cannot be read back"))
    }
}

/// Runs `batches` batches of `per_batch` fresh elements through `pipeline` (with a checkpoint
/// directory) and returns the most copies alive after any batch, and how many were alive at
/// the end.
fn live_copies(
    batches: u64,
    per_batch: u64,
    pipeline: impl FnOnce(DStream<Tracked>) -> DStream<u64>,
) -> Result<(i64, i64), Box<dyn std::error::Error>> {
    let (t, _dir) = checkpointed()?;
    let live = Arc::new(AtomicI64::new(0));
    let queue = StreamQueue::new();
    let out = t.collect(&pipeline(t.context().queue_stream(queue.clone(), true, None)));
    t.start()?;
    let mut peak = 0;
    for b in 0..batches {
        queue.push((0..per_batch).map(|i| Tracked::new(b * per_batch + i, &live)));
        t.advance_batches(1)?;
        peak = peak.max(live.load(Ordering::Relaxed));
    }
    assert_eq!(out.batches().len() as u64, batches);
    let end = live.load(Ordering::Relaxed);
    t.context().stop(false)?;
    Ok((peak, end))
}

#[test]
fn plain_windows_keep_only_the_batches_they_cover() -> TestResult {
    // A 3-batch window over a mapped stream: the map keeps the 3 batches the next window reads
    // again, the source only its current batch, whatever the number of batches run.
    let (peak, end) = live_copies(40, 100, |s| s.map(|t| t).window("3s", "1s").count())?;
    assert!(peak <= (3 + 1) * 100, "peak {peak} copies: batches leak");
    assert!(end <= (3 + 1) * 100, "{end} copies alive at the end");
    Ok(())
}

#[test]
fn incremental_windows_keep_only_the_batches_that_will_leave() -> TestResult {
    // Keys are fresh each batch: the window's state holds 3 batches' worth of keys (the filter
    // drops those that left), the per-batch reductions 3 + 1 batches (with the one that leaves
    // next), the source its current batch.
    let (peak, _) = live_copies(40, 100, |s| {
        s.map(|t| (t, 1_i64))
            .reduce_by_key_and_window_inv(
                |a, b| a + b,
                |a, b| a - b,
                "3s",
                "1s",
                Some(|(_, n): &(Tracked, i64)| *n != 0),
            )
            .count()
    })?;
    assert!(
        peak <= (3 + 4 + 1) * 100,
        "peak {peak} copies: batches or keys leak"
    );
    // Without the filter, every key stays (with 0): the state grows, by design.
    let (peak, _) = live_copies(40, 100, |s| {
        s.map(|t| (t, 1_i64))
            .reduce_by_key_and_window_inv(|a, b| a + b, |a, b| a - b, "3s", "1s", None)
            .count()
    })?;
    assert!(
        peak >= 40 * 100,
        "peak {peak}: zero-valued keys are kept without a filter"
    );
    Ok(())
}

#[test]
fn window_computes_each_parent_batch_once() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let mapped = t.input(numbered(6)).map(move |x| {
        c.fetch_add(1, Ordering::Relaxed);
        x
    });
    let out = t.collect(&mapped.window("3s", "1s"));
    t.run(6)?;
    assert_eq!(out.batches().len(), 6);
    assert_eq!(
        calls.load(Ordering::Relaxed),
        6,
        "each batch is mapped once and kept"
    );
    Ok(())
}
