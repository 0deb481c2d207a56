//! Review tests for the DStream vocabulary: window geometry corner cases, incremental windows
//! against their definition, state timeouts, the memoized-batch handover between readers, and
//! file sources and sinks.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use streamflow::testing::{TestContext, sorted};
use streamflow::{Duration, State, StateSpec, Time};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn checkpointed() -> Result<(TestContext, tempfile::TempDir), Box<dyn std::error::Error>> {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let dir = tempfile::tempdir()?;
    t.context().checkpoint(dir.path())?;
    Ok((t, dir))
}

/// An owned key: state keys are serde data that reads back from bytes, so not `&str`.
fn key(k: &str) -> String {
    k.to_string()
}

fn sorted_timed<T: Clone + PartialOrd>(out: Vec<(Time, Vec<T>)>) -> Vec<(i64, Vec<T>)> {
    out.into_iter()
        .map(|(t, b)| (t.millis() / 1_000, sorted(&b)))
        .collect()
}

/// Deterministic pseudo-random keyed batches, some empty.
fn batches(seed: u64, n: usize) -> Vec<Vec<(u8, i64)>> {
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            let len = (next() % 5) as usize; // 0..=4 records, so some batches are empty
            (0..len)
                .map(|_| ((next() % 4) as u8, (next() % 7) as i64 - 2))
                .collect()
        })
        .collect()
}

/// The definition: per key, the sum over the batches with times in `(t − len, t]`, at every
/// `t` that is a multiple of `slide`, leaving out keys with no values in the window.
fn model(input: &[Vec<(u8, i64)>], len: i64, slide: i64, until: i64) -> Vec<(i64, Vec<(u8, i64)>)> {
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

// ---------------------------------------------------------------------------------------------
// Window geometry
// ---------------------------------------------------------------------------------------------

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
        let input = batches(seed, n);
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
        let expected = model(&input, len, slide, n as i64);
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
        let expected_positive = model(&positive_input, len, slide, n as i64);
        assert_eq!(
            sorted_timed(filtered.timed()),
            expected_positive,
            "filtered len {len} slide {slide}"
        );
    }
    Ok(())
}

/// A window of a window: the outer window unions the inner windows at its covered times, so an
/// element appears once per inner window that holds it (Spark's semantics: no deduplication).
#[test]
fn a_window_of_a_sliding_window_repeats_elements_like_spark() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let inner = t.input((1..=6).map(|k| vec![k]).collect()).window("2s", "1s");
    let outer = t.collect(&inner.window("2s", "2s"));
    t.run(6)?;
    // Inner at 1: [1]; 2: [1,2]; 3: [2,3]; 4: [3,4] … outer at 2 = inner(1) ∪ inner(2).
    assert_eq!(
        sorted_timed(outer.timed()),
        [(2, vec![1, 1, 2]), (4, vec![2, 3, 3, 4]), (6, vec![4, 5, 5, 6])]
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

/// An incremental window over a stateful stream, with a slide longer than the window: the state
/// upstream still sees every batch, in order, once.
#[test]
fn an_incremental_window_over_state_with_a_long_slide_sees_every_state_batch() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let totals = t
        .input((1..=6).map(|k| vec![(key("a"), k)]).collect())
        .update_state_by_key(move |values: Vec<i64>, state: Option<i64>| {
            counter.fetch_add(1, Ordering::Relaxed);
            Some(state.unwrap_or(0) + values.iter().sum::<i64>())
        });
    let windowed =
        t.collect(&totals.reduce_by_key_and_window_inv(|a, b| a + b, |a, b| a - b, "1s", "3s", None));
    t.run(6)?;
    assert_eq!(calls.load(Ordering::Relaxed), 6);
    // Running totals 1, 3, 6, 10, 15, 21; a window of one batch at 3 s and 6 s.
    assert_eq!(
        sorted_timed(windowed.timed()),
        [(3, vec![(key("a"), 6)]), (6, vec![(key("a"), 21)])]
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The memoized batch handed to its last reader
// ---------------------------------------------------------------------------------------------

/// Every way a batch can be read more than once per batch time — self-union, self-join, a
/// stream read by two windows and an output, union of many copies of one stream,
/// transform_with itself, cogroup with its own map — gives the right result and never trips
/// the "read more often than it has readers" internal error.
#[test]
fn fan_out_in_every_shape_reads_each_batch_once_per_reader() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let src = t.input(vec![
        vec![(key("a"), 1), (key("b"), 2)],
        vec![(key("a"), 3)],
        vec![],
    ]);
    let m = src.map(|(k, v)| (k, v * 10));
    let self_union = t.collect(&m.union(&m));
    let self_join = t.collect(&m.join(&m));
    let many = t.collect(&t.context().union(&[m.clone(), m.clone(), m.clone()])?);
    let with = t.collect(&m.transform_with(&m, |a, b, _| a.union(b)));
    let cogroup = t.collect(&m.cogroup(&m.map_values(|v| v + 1)));
    let w1 = t.collect(&m.window("2s", "1s").count());
    let w2 = t.collect(&m.reduce_by_key_and_window_inv(|a, b| a + b, |a, b| a - b, "2s", "2s", None));
    let direct = t.collect(&m);
    let persisted = m.persist();
    let after_persist = t.collect(&persisted.map(|(_, v)| v));
    t.run(3)?;
    assert_eq!(
        sorted(&self_union.batches()[0]),
        [(key("a"), 10), (key("a"), 10), (key("b"), 20), (key("b"), 20)]
    );
    assert_eq!(sorted(&self_join.batches()[1]), [(key("a"), (30, 30))]);
    assert_eq!(many.batches()[1].len(), 3);
    assert_eq!(with.batches()[0].len(), 4);
    assert_eq!(sorted(&cogroup.batches()[1]), [(key("a"), (vec![30], vec![31]))]);
    assert_eq!(w1.batches(), [vec![2], vec![3], vec![1]]);
    assert_eq!(sorted(&w2.batches()[0]), [(key("a"), 40), (key("b"), 20)]);
    assert_eq!(direct.batches()[2], []);
    assert_eq!(after_persist.batches()[0].len(), 2);
    Ok(())
}

/// A node whose only reader is a window with a slide of several batches, above a stateful
/// node: the nodes in between are computed late (at the window time) from batches the source
/// and the state kept for them.
#[test]
fn a_nested_window_over_state_computes_skipped_batches_late_in_order() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let totals = t
        .input((1..=8).map(|k| vec![(key("a"), k)]).collect())
        .update_state_by_key_with_time(
            move |time: Time, _: &String, values: Vec<i64>, state: Option<i64>| {
                log.lock().unwrap().push(time.millis() / 1_000);
                Some(state.unwrap_or(0) + values.iter().sum::<i64>())
            },
        );
    let inner = totals.map(|(k, v)| (k, v * 2)).window("2s", "2s");
    let outer = t.collect(&inner.window("4s", "4s").map(|(_, v)| v));
    t.run(8)?;
    assert_eq!(seen.lock().unwrap().clone(), (1..=8).collect::<Vec<_>>());
    // Totals 1 3 6 10 15 21 28 36, doubled.
    assert_eq!(
        sorted_timed(outer.timed()),
        [(4, vec![2, 6, 12, 20]), (8, vec![30, 42, 56, 72])]
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// `map_with_state` timeouts on the exact boundary: with a 2 s timeout and 1 s batches, a key
/// last seen at 1 s is still there at 3 s (idle for exactly the timeout) and times out at 4 s,
/// called once with no value, and is gone from the snapshots from then on. A key that gets
/// data in its timeout batch does not time out.
#[test]
fn map_with_state_timeout_boundary_and_snapshots() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let spec = StateSpec::function(
        |key: &String, value: Option<i32>, state: &mut State<i32>| match value {
            Some(v) => {
                let total = state.get_option().copied().unwrap_or(0) + v;
                state.update(total).unwrap();
                format!("{key}={total}")
            }
            None => {
                assert!(state.is_timing_out());
                format!("{key} timed out at {}", state.get().unwrap())
            }
        },
    )
    .timeout("2s");
    let input = t.input(vec![
        vec![(key("a"), 1), (key("b"), 1)],
        vec![],
        vec![],
        vec![(key("b"), 1)],
        vec![],
        vec![],
        vec![],
    ]);
    let mapped = input.map_with_state(spec);
    let out = t.collect(&mapped);
    let snaps = t.collect(&mapped.state_snapshots());
    t.run(7)?;
    let at = |i: usize| sorted(&snaps.batches()[i]);
    assert_eq!(at(2), [(key("a"), 1), (key("b"), 1)]);
    assert_eq!(at(3), [(key("b"), 2)]);
    assert_eq!(at(5), [(key("b"), 2)]);
    assert!(at(6).is_empty());
    let expected: Vec<Vec<String>> = vec![
        vec!["a=1".into(), "b=1".into()],
        vec![],
        vec![],
        vec!["a timed out at 1".into(), "b=2".into()],
        vec![],
        vec![],
        vec!["b timed out at 2".into()],
    ];
    let got: Vec<Vec<String>> = out.batches().iter().map(|b| sorted(b)).collect();
    assert_eq!(got, expected);
    Ok(())
}

/// `update_state_by_key` under a window with a slide of two batches, and an initial state for
/// a key that never gets data: it is still called every batch.
#[test]
fn update_state_by_key_with_initial_state_under_a_window() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let totals = t
        .input(vec![vec![(key("a"), 1)], vec![], vec![(key("a"), 2)], vec![]])
        .update_state_by_key_with_initial(
            |values: Vec<i32>, state: Option<i32>| {
                Some(state.unwrap_or(0) + values.iter().sum::<i32>() + 100)
            },
            vec![(key("z"), 0)],
        )
        .window("2s", "2s");
    let out = t.collect(&totals);
    t.run(4)?;
    assert_eq!(
        sorted_timed(out.timed()),
        [
            (
                2,
                vec![(key("a"), 101), (key("a"), 201), (key("z"), 100), (key("z"), 200)]
            ),
            (
                4,
                vec![(key("a"), 303), (key("a"), 403), (key("z"), 300), (key("z"), 400)]
            )
        ]
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

fn write_with_mtime(dir: &Path, name: &str, text: &str, secs_after_epoch: u64) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs_after_epoch))
        .unwrap();
}

/// Files of one batch are read by modification time, then name — not by name alone; files
/// whose names start with `.` or `_` are skipped.
#[test]
fn text_file_stream_reads_files_of_a_batch_by_modification_time() -> TestResult {
    let dir = tempfile::tempdir()?;
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let lines = t.collect(&t.context().text_file_stream(dir.path()));
    t.start()?;
    write_with_mtime(dir.path(), "a.txt", "a1\na2\n", 3_000);
    write_with_mtime(dir.path(), "b.txt", "b1\n", 1_000);
    write_with_mtime(dir.path(), "c.txt", "c1", 2_000);
    write_with_mtime(dir.path(), "_tmp.txt", "hidden", 500);
    t.advance_batches(1)?;
    t.context().stop(false)?;
    assert_eq!(lines.batches(), [vec!["b1", "c1", "a1", "a2"]]);
    Ok(())
}

/// Running the same job twice over the same prefix replaces each batch directory whole: a
/// batch that has fewer partitions the second time leaves no stale part file behind.
#[test]
fn save_as_text_files_rerun_replaces_batch_directories_whole() -> TestResult {
    let dir = tempfile::tempdir()?;
    let prefix = dir.path().join("out").display().to_string();
    for (parallelism, data) in [(4, vec![1, 2, 3, 4, 5, 6, 7, 8]), (1, vec![9])] {
        let t = TestContext::new(Duration::seconds(1), parallelism)?;
        t.input(vec![data]).save_as_text_files(&prefix, "txt");
        t.run(1)?;
    }
    let batch = dir.path().join("out-1000.txt");
    let mut parts: Vec<String> = std::fs::read_dir(&batch)?
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    parts.sort();
    assert_eq!(parts, ["_SUCCESS", "part-00000"]);
    assert_eq!(std::fs::read_to_string(batch.join("part-00000"))?, "9\n");
    Ok(())
}
