//! State across batches, through the test harness: `update_state_by_key` (called for every key
//! with state or new values, `None` removes, initial state, batch time), `map_with_state`
//! (called only for keys with data, timeouts, `State` rules, snapshots), and the rules every
//! stateful operator follows (a checkpoint directory, computed once per batch, in order).
//!
//! State keys are owned (`String`): state is serde data that must read back from bytes.
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use streamflow::testing::{TestContext, sorted};
use streamflow::{Duration, State, StateSpec, Time};

mod common;
use common::{TestResult, as_str, checkpointed, key, keyed, own, sorted_batches, sorted_timed};

/// A shared log of calls made by user functions on worker threads.
type Calls<T> = Arc<Mutex<Vec<T>>>;

fn take<T: Clone + PartialOrd>(calls: &Calls<T>) -> Vec<T> {
    sorted(&std::mem::take(&mut *calls.lock().unwrap()))
}

// ---------------------------------------------------------------- update_state_by_key

#[test]
fn update_state_by_key_is_called_for_keys_without_new_data() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let calls: Calls<(String, (Vec<i32>, Option<i32>))> = Arc::default();
    let log = calls.clone();
    let pairs = t.input(keyed(vec![
        vec![("a", 1), ("b", 2), ("a", 3)],
        vec![("b", 5)],
        vec![],
    ]));
    let totals = t.collect(&pairs.update_state_by_key_with_time(
        move |_time: Time, key: &String, mut values: Vec<i32>, state: Option<i32>| {
            values.sort();
            log.lock().unwrap().push((key.clone(), (values.clone(), state)));
            Some(state.unwrap_or(0) + values.iter().sum::<i32>())
        },
    ));
    t.start()?;
    t.advance_batches(1)?;
    assert_eq!(
        take(&calls),
        own(vec![("a", (vec![1, 3], None)), ("b", (vec![2], None))])
    );
    t.advance_batches(1)?;
    // "a" has no new data and is called anyway, with no values.
    assert_eq!(
        take(&calls),
        own(vec![("a", (vec![], Some(4))), ("b", (vec![5], Some(2)))])
    );
    t.advance_batches(1)?;
    assert_eq!(
        take(&calls),
        own(vec![("a", (vec![], Some(4))), ("b", (vec![], Some(7)))])
    );
    t.context().stop(false)?;
    assert_eq!(
        sorted_batches(&as_str(&totals.batches())),
        vec![
            vec![("a", 4), ("b", 2)],
            vec![("a", 4), ("b", 7)],
            vec![("a", 4), ("b", 7)]
        ]
    );
    Ok(())
}

#[test]
fn returning_none_removes_the_key() -> TestResult {
    // A countdown per key: each value sets it, every batch without data takes one off, and
    // the key goes away at zero.
    let (t, _dir) = checkpointed()?;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let pairs = t.input(keyed(vec![vec![("a", 2), ("b", 1)], vec![], vec![], vec![]]));
    let left = t.collect(
        &pairs.update_state_by_key(move |values: Vec<u32>, state: Option<u32>| {
            counter.fetch_add(1, Ordering::Relaxed);
            match values.last() {
                Some(v) => Some(*v),
                None => state.map(|s| s - 1).filter(|s| *s > 0),
            }
        }),
    );
    t.run(4)?;
    assert_eq!(
        sorted_batches(&as_str(&left.batches())),
        vec![vec![("a", 2), ("b", 1)], vec![("a", 1)], vec![], vec![]]
    );
    // 2 calls, then 2 (b removed), then 1 (a removed), then none: removed keys are not called.
    assert_eq!(calls.load(Ordering::Relaxed), 5);
    Ok(())
}

#[test]
fn update_state_by_key_with_initial_state() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let pairs = t.input(keyed(vec![vec![("apple", 1)], vec![("kiwi", 1)]]));
    let totals = t.collect(&pairs.update_state_by_key_with_initial(
        |values: Vec<i64>, total: Option<i64>| Some(total.unwrap_or(0) + values.iter().sum::<i64>()),
        own(vec![("apple", 10), ("pear", 5)]),
    ));
    t.run(2)?;
    assert_eq!(
        sorted_batches(&as_str(&totals.batches())),
        vec![
            vec![("apple", 11), ("pear", 5)],
            vec![("apple", 11), ("kiwi", 1), ("pear", 5)],
        ]
    );
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

#[test]
fn update_state_by_key_with_time_sees_the_batch_time() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let first_seen = t.collect(
        &t.input(keyed(vec![vec![("a", ())], vec![("b", ())], vec![("a", ())]]))
            .update_state_by_key_with_time(
                |time: Time, _key: &String, _values: Vec<()>, seen: Option<i64>| {
                    Some(seen.unwrap_or(time.millis()))
                },
            ),
    );
    t.run(3)?;
    assert_eq!(
        sorted(&first_seen.batches()[2]),
        own(vec![("a", 1_000), ("b", 2_000)])
    );
    Ok(())
}

#[test]
fn state_is_computed_once_per_batch_with_several_consumers() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let totals = t
        .input(keyed(vec![vec![("a", 1)], vec![("a", 1)]]))
        .update_state_by_key(move |values: Vec<i32>, state: Option<i32>| {
            counter.fetch_add(1, Ordering::Relaxed);
            Some(state.unwrap_or(0) + values.iter().sum::<i32>())
        });
    let first = t.collect(&totals);
    let second = t.collect(&totals.map(|(k, v)| (k, v * 10)));
    t.run(2)?;
    assert_eq!(calls.load(Ordering::Relaxed), 2);
    assert_eq!(as_str(&first.batches()), vec![vec![("a", 1)], vec![("a", 2)]]);
    assert_eq!(as_str(&second.batches()), vec![vec![("a", 10)], vec![("a", 20)]]);
    Ok(())
}

#[test]
fn state_under_a_sampling_window_still_sees_every_batch() -> TestResult {
    // The window only reads every other batch; the running total must still count them all.
    let (t, _dir) = checkpointed()?;
    let totals = t
        .input(keyed(vec![
            vec![("a", 1)],
            vec![("a", 10)],
            vec![("a", 100)],
            vec![("a", 1_000)],
        ]))
        .update_state_by_key(|values: Vec<i32>, state: Option<i32>| {
            Some(state.unwrap_or(0) + values.iter().sum::<i32>())
        })
        .window("1s", "2s");
    let out = t.collect(&totals);
    t.run(4)?;
    assert_eq!(as_str(&out.batches()), vec![vec![("a", 11)], vec![("a", 1_111)]]);
    Ok(())
}

#[test]
fn state_under_a_sliding_window() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let totals = t
        .input(keyed(vec![
            vec![("a", 1)],
            vec![("a", 10)],
            vec![("a", 100)],
            vec![("a", 1_000)],
        ]))
        .update_state_by_key(|values: Vec<i32>, state: Option<i32>| {
            Some(state.unwrap_or(0) + values.iter().sum::<i32>())
        })
        .map(|(_, total)| total)
        .window("4s", "2s");
    let out = t.collect(&totals);
    t.run(4)?;
    assert_eq!(
        sorted_batches(&out.batches()),
        vec![vec![1, 11], vec![1, 11, 111, 1_111]]
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

#[test]
fn stateful_operators_need_a_checkpoint_directory() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let pairs = t.input::<(String, i32)>(vec![]);
    pairs
        .update_state_by_key(|v: Vec<i32>, s: Option<i32>| s.or(v.first().copied()))
        .print();
    pairs
        .map_with_state(StateSpec::function(
            |_: &String, v: Option<i32>, _: &mut State<i32>| v,
        ))
        .print();
    let err = t.context().start().unwrap_err().to_string();
    assert!(err.contains("checkpoint directory has not been set"), "{err}");
    assert!(err.contains("`update_state_by_key`, `map_with_state`"), "{err}");
    assert!(err.contains("call ssc.checkpoint(dir) before start()"), "{err}");
    Ok(())
}

#[test]
fn a_panic_in_the_update_function_names_the_operator() -> TestResult {
    let (t, _dir) = checkpointed()?;
    t.input(keyed(vec![vec![("a", 1)]]))
        .update_state_by_key(|_: Vec<i32>, _: Option<i32>| -> Option<i32> { panic!("bad state") })
        .print();
    let err = t.run(1).unwrap_err().to_string();
    assert!(
        err.contains("in operator `update_state_by_key`: bad state"),
        "{err}"
    );
    Ok(())
}

// ---------------------------------------------------------------- map_with_state

/// A running count per key, logging every call as (key, value, state before, timing out).
fn counting_spec(
    calls: &Calls<(String, (Option<i32>, Option<i32>, bool))>,
) -> StateSpec<String, i32, i32, (String, i32)> {
    let log = calls.clone();
    StateSpec::function(move |key: &String, value: Option<i32>, state: &mut State<i32>| {
        let before = state.get_option().copied();
        log.lock()
            .unwrap()
            .push((key.clone(), (value, before, state.is_timing_out())));
        let count = before.unwrap_or(0) + value.unwrap_or(0);
        if !state.is_timing_out() {
            state.update(count).unwrap();
        }
        (key.clone(), count)
    })
}

#[test]
fn map_with_state_is_called_only_for_keys_with_data() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let calls = Calls::default();
    let pairs = t.input(keyed(vec![
        vec![("a", 1), ("b", 1)],
        vec![("a", 1), ("a", 1)],
        vec![],
    ]));
    let counts = pairs.map_with_state(counting_spec(&calls));
    let mapped = t.collect(&counts);
    let snapshots = t.collect(&counts.state_snapshots());
    t.start()?;
    t.advance_batches(1)?;
    assert_eq!(
        take(&calls),
        own(vec![("a", (Some(1), None, false)), ("b", (Some(1), None, false))])
    );
    t.advance_batches(1)?;
    // Once per value, in order, each call seeing the state the previous one left.
    assert_eq!(
        take(&calls),
        own(vec![
            ("a", (Some(1), Some(1), false)),
            ("a", (Some(1), Some(2), false))
        ])
    );
    t.advance_batches(1)?;
    assert_eq!(take(&calls), vec![]);
    t.context().stop(false)?;
    assert_eq!(
        sorted_batches(&as_str(&mapped.batches())),
        vec![vec![("a", 1), ("b", 1)], vec![("a", 2), ("a", 3)], vec![]]
    );
    // The snapshots hold every key each batch, with or without data.
    assert_eq!(
        sorted_batches(&as_str(&snapshots.batches())),
        vec![
            vec![("a", 1), ("b", 1)],
            vec![("a", 3), ("b", 1)],
            vec![("a", 3), ("b", 1)]
        ]
    );
    Ok(())
}

#[test]
fn idle_keys_time_out_once_then_are_removed() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let calls = Calls::default();
    // "a" has data at 1 s and 3 s, "b" only at 1 s; the timeout is 2 s.
    let pairs = t.input(keyed(vec![vec![("a", 1), ("b", 1)], vec![], vec![("a", 1)]]));
    let counts = pairs.map_with_state(counting_spec(&calls).timeout("2s"));
    let mapped = t.collect(&counts);
    let snapshots = t.collect(&counts.state_snapshots());
    t.run(8)?;
    let calls = take(&calls);
    assert_eq!(
        calls,
        own(vec![
            ("a", (None, Some(2), true)),
            ("a", (Some(1), None, false)),
            ("a", (Some(1), Some(1), false)),
            ("b", (None, Some(1), true)),
            ("b", (Some(1), None, false)),
        ])
    );
    let mapped = mapped.batches();
    let mapped = as_str(&mapped);
    // "b" was last seen at 1 s: idle longer than 2 s at 4 s. "a" (3 s) at 6 s.
    assert_eq!(mapped[3], vec![("b", 1)]);
    assert_eq!(mapped[5], vec![("a", 2)]);
    assert!(mapped[6].is_empty() && mapped[7].is_empty());
    let snapshots = snapshots.batches();
    let snapshots = sorted_batches(&as_str(&snapshots));
    assert_eq!(snapshots[2], vec![("a", 2), ("b", 1)]);
    assert_eq!(snapshots[3], vec![("a", 2)]);
    assert_eq!(snapshots[4], vec![("a", 2)]);
    assert!(snapshots[5].is_empty() && snapshots[7].is_empty());
    Ok(())
}

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
    assert_eq!(sorted_batches(&out.batches()), expected);
    Ok(())
}

#[test]
fn a_call_with_data_keeps_a_key_alive_even_without_an_update() -> TestResult {
    // Spark's rule: with a timeout, data for a key counts as activity.
    let (t, _dir) = checkpointed()?;
    let timed_out = Arc::new(Mutex::new(Vec::new()));
    let log = timed_out.clone();
    let spec = StateSpec::function(move |key: &String, value: Option<i32>, state: &mut State<i32>| {
        if state.is_timing_out() {
            log.lock().unwrap().push(key.clone());
        } else if !state.exists() {
            state.update(value.unwrap_or(0)).unwrap();
        }
    })
    .timeout("1s");
    let pairs = t.input(keyed(vec![
        vec![("a", 1)],
        vec![("a", 1)],
        vec![("a", 1)],
        vec![],
    ]));
    pairs.map_with_state(spec).foreach_batch(|_, _| {});
    t.start()?;
    t.advance_batches(3)?;
    assert!(timed_out.lock().unwrap().is_empty());
    t.advance_batches(2)?;
    assert_eq!(*timed_out.lock().unwrap(), vec!["a"]);
    t.context().stop(false)?;
    Ok(())
}

#[test]
fn updating_a_timing_out_state_is_an_error_not_a_panic() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let results = Arc::new(Mutex::new(Vec::new()));
    let log = results.clone();
    let spec = StateSpec::function(move |_key: &String, value: Option<i32>, state: &mut State<i32>| {
        let result = state.update(value.unwrap_or(-1));
        log.lock()
            .unwrap()
            .push((state.is_timing_out(), result.map_err(|e| e.to_string())));
    })
    .timeout("1s");
    t.input(keyed(vec![vec![("a", 1)]]))
        .map_with_state(spec)
        .foreach_batch(|_, _| {});
    t.run(4)?;
    let results = results.lock().unwrap().clone();
    assert_eq!(results.len(), 2, "{results:?}");
    assert_eq!(results[0], (false, Ok(())));
    assert!(results[1].0);
    let err = results[1].1.clone().unwrap_err();
    assert!(err.contains("cannot update a state that is timing out"), "{err}");
    Ok(())
}

#[test]
fn removing_a_state_and_get_on_a_missing_state() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let spec = StateSpec::function(|_key: &String, value: Option<i32>, state: &mut State<i32>| {
        let missing = state.get().is_err();
        match value {
            Some(0) => state.remove(),
            Some(v) => state.update(v).unwrap(),
            None => {}
        }
        missing
    });
    let pairs = t.input(keyed(vec![
        vec![("a", 1), ("b", 2)],
        vec![("a", 0)],
        vec![("a", 3)],
    ]));
    let counts = pairs.map_with_state(spec);
    let missing = t.collect(&counts);
    let snapshots = t.collect(&counts.state_snapshots());
    t.run(3)?;
    assert_eq!(missing.batches(), vec![vec![true, true], vec![false], vec![true]]);
    assert_eq!(
        sorted_batches(&as_str(&snapshots.batches())),
        vec![vec![("a", 1), ("b", 2)], vec![("b", 2)], vec![("a", 3), ("b", 2)]]
    );
    Ok(())
}

#[test]
fn map_with_state_initial_state_and_partitions() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let calls = Calls::default();
    let pairs = t.input(keyed(vec![vec![("a", 1), ("b", 1), ("c", 1), ("d", 1)]]));
    let counts = pairs.map_with_state(
        counting_spec(&calls)
            .initial_state(own(vec![("a", 10), ("z", 5)]))
            .num_partitions(3),
    );
    let mapped = t.collect(&counts);
    let partitions = t.collect(&counts.glom().map(|p| p.len()));
    let snapshots = t.collect(&counts.state_snapshots());
    t.run(1)?;
    assert_eq!(
        sorted(&mapped.batches()[0]),
        own(vec![("a", 11), ("b", 1), ("c", 1), ("d", 1)])
    );
    assert_eq!(partitions.batches()[0].len(), 3);
    assert_eq!(
        sorted(&snapshots.batches()[0]),
        own(vec![("a", 11), ("b", 1), ("c", 1), ("d", 1), ("z", 5)])
    );
    Ok(())
}

#[test]
fn initial_states_time_out_from_the_first_batch() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let calls = Calls::default();
    let counts = t.input::<(String, i32)>(vec![]).map_with_state(
        counting_spec(&calls)
            .initial_state(own(vec![("z", 5)]))
            .timeout("2s"),
    );
    let mapped = t.collect(&counts);
    t.run(4)?;
    // Loaded at 1 s: idle longer than 2 s at 4 s.
    assert_eq!(
        as_str(&mapped.batches()),
        vec![vec![], vec![], vec![], vec![("z", 5)]]
    );
    assert_eq!(take(&calls), own(vec![("z", (None, Some(5), true))]));
    Ok(())
}

#[test]
fn a_bad_timeout_is_reported_by_start() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let calls = Calls::default();
    t.input::<(String, i32)>(vec![])
        .map_with_state(counting_spec(&calls).timeout("ten seconds"))
        .print();
    let err = t.context().start().unwrap_err().to_string();
    assert!(
        err.contains("`map_with_state`: timeout: invalid duration"),
        "{err}"
    );
    Ok(())
}

#[test]
fn map_with_state_output_is_an_ordinary_stream() -> TestResult {
    let (t, _dir) = checkpointed()?;
    let calls = Calls::default();
    let counts = t
        .input(keyed(vec![vec![("a", 1), ("a", 1)]]))
        .map_with_state(counting_spec(&calls))
        .into_dstream()
        .map(|(_, n)| n)
        .reduce(|a, b| a.max(b));
    let out = t.collect(&counts);
    t.run(1)?;
    assert_eq!(out.batches(), vec![vec![2]]);
    Ok(())
}
