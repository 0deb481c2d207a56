//! Group keys looked up by borrow — `group_by_ref`, `group_by_value`, `group_by_window_ref` —
//! give the answers of owned keys (`group_by(|w| w.clone())`, `group_by_window(|e|
//! e.key.clone(), ..)`) batch by batch, in every output mode, across restarts from a
//! checkpoint, and keep the same state: a checkpoint written by one spelling is restored by the
//! other.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use proptest::prelude::*;
use streamflow::structured::*;
use streamflow::testing::StreamTest;

mod common;
use common::{Ev, WindowRow, ev, key_counts, minute_row, session};

/// How a test groups its records: the owned key every record builds, or a borrowed one.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Spelling {
    /// `group_by(|w| w.clone())`, `group_by_window(|e| e.key.clone(), ..)`.
    Owned,
    /// `group_by_ref(String::as_str)`, `group_by_window_ref(|e| e.key.as_str(), ..)`.
    AsStr,
    /// `group_by_ref(|w| w)`, `group_by_window_ref(|e| &e.key, ..)`: borrowed as the owned type.
    Field,
    /// `group_by_value()` (words only).
    Value,
}

const WORD_SPELLINGS: [Spelling; 4] = [Spelling::Owned, Spelling::AsStr, Spelling::Field, Spelling::Value];
const WINDOW_SPELLINGS: [Spelling; 3] = [Spelling::Owned, Spelling::AsStr, Spelling::Field];

/// Words grouped by `spelling`.
fn words_grouped<S: shape::Shape>(
    ds: &Dataset<String, S>,
    spelling: Spelling,
) -> GroupedDataset<String, String, S> {
    match spelling {
        Spelling::Owned => ds.group_by(|w| w.clone()),
        Spelling::AsStr => ds.group_by_ref(String::as_str),
        Spelling::Field => ds.group_by_ref(|w| w),
        Spelling::Value => ds.group_by_value(),
    }
}

/// Events grouped by key and `spec`'s windows, by `spelling`.
fn events_grouped<S: shape::Shape>(
    ds: &Dataset<Ev, S>,
    spelling: Spelling,
    spec: WindowSpec,
) -> GroupedDataset<Ev, String, S, S::ByWindow> {
    match spelling {
        Spelling::AsStr => ds.group_by_window_ref(|e| e.key.as_str(), spec),
        Spelling::Field => ds.group_by_window_ref(|e| &e.key, spec),
        _ => ds.group_by_window(|e| e.key.clone(), spec),
    }
}

/// The word count by `spelling` in `mode`, as `(word, count)` rows.
fn word_count_test(spelling: Spelling, mode: OutputMode) -> StreamTest<String, (String, u64)> {
    StreamTest::new(move |s, input| {
        let words = s
            .read_stream::<String>()
            .memory(input)
            .flat_map(|l: String| l.split(' ').map(str::to_owned).collect::<Vec<_>>());
        words_grouped(&words, spelling)
            .count()
            .map(|r| (r.key, r.value))
            .write_stream()
            .output_mode(mode)
    })
    .unwrap()
}

/// Count and sum of the amounts per key and window of `spec`, 10-minute watermark, by
/// `spelling` in `mode`.
fn window_test(
    spelling: Spelling,
    spec: WindowSpec,
    mode: OutputMode,
) -> StreamTest<Ev, WindowRow<(u64, i64)>> {
    StreamTest::new(move |s, input| {
        let events = s
            .read_stream::<Ev>()
            .memory(input)
            .with_watermark(|e| e.ts, "10 minutes");
        events_grouped(&events, spelling, spec.clone())
            .agg((Count, Sum::new(|e: &Ev| e.amount)))
            .map(minute_row)
            .write_stream()
            .output_mode(mode)
    })
    .unwrap()
}

/// Every sink batch of `t`, each sorted (two workers emit rows in any order).
fn sorted_batches<I, O>(t: &StreamTest<I, O>) -> Vec<(u64, Vec<O>)>
where
    I: Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + std::fmt::Debug + PartialOrd + 'static,
{
    let mut batches = t.batches();
    for (_, rows) in &mut batches {
        rows.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    batches
}

/// A step of a test run: a batch of input, or a restart from the checkpoint.
#[derive(Clone, Debug)]
enum Step<I> {
    Batch(Vec<I>),
    Restart,
}

/// Runs `steps` through one test per spelling and checks every batch each emitted is the
/// owned spelling's (the first).
fn same_batches<I, O>(mut tests: Vec<(Spelling, StreamTest<I, O>)>, steps: &[Step<I>]) -> usize
where
    I: Clone + Send + Sync + 'static,
    O: Clone + Send + Sync + std::fmt::Debug + PartialOrd + 'static,
{
    for step in steps {
        for (_, t) in &mut tests {
            match step {
                Step::Batch(rows) => {
                    t.add_data(rows.clone());
                }
                Step::Restart => {
                    t.stop_stream().start_stream();
                }
            }
        }
    }
    // Nothing more: panics if a query failed.
    tests.iter_mut().for_each(|(_, t)| {
        t.add_data(Vec::new());
    });
    let state_rows = |t: &StreamTest<I, O>| {
        t.state_operators()
            .iter()
            .map(|s| s.num_rows_total)
            .collect::<Vec<_>>()
    };
    let (owned, others) = tests.split_first().unwrap();
    let expected = sorted_batches(&owned.1);
    for (spelling, t) in others {
        assert_eq!(
            sorted_batches(t),
            expected,
            "{spelling:?} differs from the owned key"
        );
        assert_eq!(
            state_rows(t),
            state_rows(&owned.1),
            "{spelling:?} keeps other state"
        );
    }
    expected.iter().map(|(_, rows)| rows.len()).sum()
}

/// Words from a small vocabulary with the corner cases of a key: empty (two spaces in a row),
/// one byte, longer than a small string's inline 24 bytes, not ASCII.
fn word() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "",
        "a",
        "b",
        "to",
        "be",
        "or",
        "not",
        "naïve",
        "日本",
        "a-word-longer-than-twenty-four-bytes",
        "a-word-longer-than-twenty-four-bytez",
    ])
    .prop_map(str::to_owned)
}

fn line() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 1..8).prop_map(|w| w.join(" "))
}

fn steps<I: std::fmt::Debug + Clone>(
    record: impl Strategy<Value = I>,
) -> impl Strategy<Value = Vec<Step<I>>> {
    let step = prop_oneof![
        4 => prop::collection::vec(record, 0..12).prop_map(Step::Batch),
        1 => Just(Step::Restart),
    ];
    prop::collection::vec(step, 1..6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    /// The word count: Complete and Update (Append is refused for an aggregation without a
    /// window, whatever the spelling: `append_is_refused_without_a_window_as_for_group_by`).
    #[test]
    fn words_by_borrow_count_as_owned_keys(steps in steps(line()), complete in any::<bool>()) {
        let mode = if complete { OutputMode::Complete } else { OutputMode::Update };
        let tests = WORD_SPELLINGS.iter().map(|&s| (s, word_count_test(s, mode))).collect();
        same_batches(tests, &steps);
    }

    /// Windowed count and sum: tumbling, sliding and session windows, every output mode,
    /// events out of order and late.
    #[test]
    fn windows_by_borrow_aggregate_as_owned_keys(
        steps in steps((prop::sample::select(vec!["a", "b", "", "a-key-longer-than-twenty-four-bytes"]), 0..90_i64)
            .prop_map(|(k, minute)| ev(k, minute))),
        spec in prop::sample::select(vec![0, 1, 2]),
        mode in prop::sample::select(vec![OutputMode::Append, OutputMode::Update, OutputMode::Complete]),
    ) {
        let spec = [tumbling_window("10 minutes"), window("10 minutes", "5 minutes"), session_window("5 minutes")][spec].clone();
        let tests = WINDOW_SPELLINGS.iter().map(|&s| (s, window_test(s, spec.clone(), mode))).collect();
        same_batches(tests, &steps);
    }
}

/// A table of the cases the properties may miss: many batches, restarts between them, a word
/// first met after a restart, every mode.
#[test]
fn a_table_of_word_counts_and_windows_matches_the_owned_keys() {
    let lines = |l: &[&str]| Step::Batch(l.iter().map(|s| s.to_string()).collect());
    let word_steps = [
        lines(&["to be or not to be", "be"]),
        Step::Restart,
        lines(&["", "  to  "]),
        lines(&["that is the question"]),
        Step::Restart,
        Step::Restart,
        lines(&["to be"]),
    ];
    for mode in [OutputMode::Complete, OutputMode::Update] {
        let tests = WORD_SPELLINGS
            .iter()
            .map(|&s| (s, word_count_test(s, mode)))
            .collect();
        assert!(same_batches(tests, &word_steps) > 0);
    }
    let events = |e: &[(&str, i64)]| Step::Batch(e.iter().map(|(k, m)| ev(k, *m)).collect());
    let window_steps = [
        events(&[("a", 1), ("a", 5), ("b", 12)]),
        Step::Restart,
        events(&[("a", 8), ("b", 25), ("c", 26)]),
        events(&[("a", 3), ("b", 41)]), // a@3 is late in Append and Update
        Step::Restart,
        events(&[("c", 70)]),
    ];
    for spec in [
        tumbling_window("10 minutes"),
        window("10 minutes", "5 minutes"),
        session_window("5 minutes"),
    ] {
        for mode in [OutputMode::Append, OutputMode::Update, OutputMode::Complete] {
            let tests = WINDOW_SPELLINGS
                .iter()
                .map(|&s| (s, window_test(s, spec.clone(), mode)))
                .collect();
            assert!(same_batches(tests, &window_steps) > 0, "{mode:?}");
        }
    }
}

/// The state of a borrowed key is the owned key's: a checkpoint written by `group_by(|w|
/// w.clone())` is restored by `group_by_value()` and `group_by_ref(..)`, and back.
#[test]
fn a_checkpoint_carries_over_between_owned_and_borrowed_keys() {
    let dir = tempfile::tempdir().unwrap();
    let input = MemoryStream::<String>::new();
    let run = |spelling: Spelling, lines: &[&str]| {
        let s = session();
        let words = s.read_stream::<String>().memory(&input);
        let query = words_grouped(&words, spelling)
            .count()
            .write_stream()
            .complete()
            .checkpoint_location(dir.path())
            .memory("counts")
            .start()
            .unwrap();
        input.add_data(lines.iter().map(|l| l.to_string()));
        query.process_all_available().unwrap();
        query.stop().unwrap();
        key_counts(&s, "counts")
    };
    let own = |rows: &[(&str, u64)]| rows.iter().map(|(w, n)| (w.to_string(), *n)).collect::<Vec<_>>();
    assert_eq!(run(Spelling::Owned, &["a", "b", "a"]), own(&[("a", 2), ("b", 1)]));
    assert_eq!(
        run(Spelling::Value, &["a", "c"]),
        own(&[("a", 3), ("b", 1), ("c", 1)])
    );
    assert_eq!(run(Spelling::AsStr, &["b"]), own(&[("a", 3), ("b", 2), ("c", 1)]));
    assert_eq!(run(Spelling::Owned, &["c"]), own(&[("a", 3), ("b", 2), ("c", 2)]));
}

/// Windows too: open windows written by `group_by_window(|e| e.key.clone(), ..)` are closed
/// and emitted by `group_by_window_ref(|e| e.key.as_str(), ..)` after a restart.
#[test]
fn open_windows_carry_over_to_borrowed_keys() {
    let dir = tempfile::tempdir().unwrap();
    let input = MemoryStream::<Ev>::new();
    let run = |spelling: Spelling, events: Vec<Ev>| {
        let s = session();
        let events_ds = s
            .read_stream::<Ev>()
            .memory(&input)
            .with_watermark(|e| e.ts, "10 minutes");
        let query = events_grouped(&events_ds, spelling, tumbling_window("10 minutes"))
            .count()
            .map(minute_row)
            .write_stream()
            .append()
            .checkpoint_location(dir.path())
            .memory("windows")
            .start()
            .unwrap();
        input.add_data(events);
        query.process_all_available().unwrap();
        query.stop().unwrap();
        let mut rows = s.memory_table::<WindowRow<u64>>("windows").unwrap().rows();
        rows.sort();
        rows
    };
    assert_eq!(run(Spelling::Owned, vec![ev("a", 1), ev("a", 2), ev("b", 5)]), []);
    // 25 moves the watermark to 15: [0, 10) closes, with the counts of the first run.
    assert_eq!(
        run(Spelling::AsStr, vec![ev("a", 3), ev("b", 25)]),
        [(0, 10, "a".to_string(), 3), (0, 10, "b".to_string(), 1)]
    );
}

/// An aggregation without a window is refused in Append mode whichever way it groups, with
/// the same message (Spark's rule).
#[test]
fn append_is_refused_without_a_window_as_for_group_by() {
    let error = |spelling: Spelling| {
        let s = session();
        let words = s.read_stream::<String>().memory(&MemoryStream::new());
        words_grouped(&words, spelling)
            .count()
            .write_stream()
            .output_mode(OutputMode::Append)
            .memory("counts")
            .start()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let owned = error(Spelling::Owned);
    assert!(owned.contains("Append"), "{owned}");
    for spelling in [Spelling::AsStr, Spelling::Value] {
        assert_eq!(error(spelling), owned, "{spelling:?}");
    }
}

/// A panicking key function fails the query with an error naming `group_by`, as an owned one
/// does.
#[test]
fn a_panicking_borrowed_key_fails_the_query_naming_group_by() {
    let s = session();
    let input = MemoryStream::<String>::new();
    let query = s
        .read_stream::<String>()
        .memory(&input)
        .group_by_ref(|w: &String| -> &str {
            assert!(!w.is_empty(), "an empty word");
            w
        })
        .count()
        .write_stream()
        .complete()
        .memory("counts")
        .start()
        .unwrap();
    input.add_data(["a".to_string(), String::new()]);
    let err = query.process_all_available().unwrap_err().to_string();
    assert!(err.contains("group_by") && err.contains("an empty word"), "{err}");
}

/// The other consumers of a grouped dataset take the owned key: `map_groups_with_state` after
/// `group_by_value`.
#[test]
fn groups_with_state_after_a_borrowed_key() {
    let s = session();
    let input = MemoryStream::<String>::new();
    let query = s
        .read_stream::<String>()
        .memory(&input)
        .group_by_value()
        .map_groups_with_state(
            GroupStateTimeout::NoTimeout,
            |word: &String, new: Vec<String>, state: &mut GroupState<u64>| {
                let seen = state.get().copied().unwrap_or(0) + new.len() as u64;
                state.update(seen);
                (word.clone(), seen)
            },
        )
        .write_stream()
        .update()
        .memory("seen")
        .start()
        .unwrap();
    input.add_data(["x", "y", "x"].map(String::from));
    query.process_all_available().unwrap();
    input.add_data(["x".to_string()]);
    query.process_all_available().unwrap();
    let mut rows = s.memory_table::<(String, u64)>("seen").unwrap().rows();
    rows.sort();
    assert_eq!(rows, [("x".into(), 2), ("x".into(), 3), ("y".into(), 1)]);
    query.stop().unwrap();
}
