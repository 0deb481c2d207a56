//! Fusion: a run of map / filter / flat_map executes as one pass over each partition, with no
//! collection between operators — shown in `explain()` and by watching the closures run.
//! A stream read by several consumers is computed once per batch and shared.
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use streamflow::Duration;
use streamflow::testing::{TestContext, sorted};

mod common;
use common::{TestResult, checkpointed, key, sorted_batches};

/// The `stage N: …` lines of a plan.
fn stages(plan: &str) -> Vec<&str> {
    plan.lines().filter(|l| l.starts_with("stage ")).collect()
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Map(i32),
    Filter(i32),
    FlatMap(i32),
}

/// A shared log of which closure saw which element, on which thread.
type Log = Arc<Mutex<Vec<(String, Step)>>>;

fn record(log: &Log, step: Step) {
    let thread = std::thread::current().name().unwrap_or("?").to_string();
    log.lock().unwrap().push((thread, step));
}

/// `input -> map(x*10, logged) -> filter(!= 20, logged) -> flat_map([v, v+1], logged)`.
fn logged_chain(t: &TestContext, input: Vec<i32>, log: &Log) -> streamflow::DStream<i32> {
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    t.input(vec![input])
        .map(move |x| {
            record(&l1, Step::Map(x));
            x * 10
        })
        .filter(move |v| {
            record(&l2, Step::Filter(*v));
            *v != 20
        })
        .flat_map(move |v| {
            record(&l3, Step::FlatMap(v));
            vec![v, v + 1]
        })
}

#[test]
fn explain_shows_a_map_filter_flat_map_chain_as_one_stage() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    t.input(vec![vec!["a b"]])
        .map(|l: &str| l.to_uppercase())
        .filter(|l| !l.is_empty())
        .flat_map(|l| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .foreach_batch(|_, _| {});
    let plan = t.context().explain();
    assert_eq!(
        stages(&plan),
        vec![
            // The source stores its batch; the whole chain is one pass over it.
            "stage 1: queue_stream",
            "stage 2: map [reads stage 1] -> filter -> flat_map -> foreach_batch (output)",
        ],
        "{plan}"
    );
    assert!(plan.starts_with("== test (batch 1000 ms, local[2]) =="), "{plan}");
    Ok(())
}

#[test]
fn explain_ends_a_stage_at_a_shuffle() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    t.input(vec![vec!["a b"]])
        .flat_map(|l: &str| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .filter(|w| !w.is_empty())
        .map(|w| (w, 1))
        .reduce_by_key(|a, b| a + b)
        .map_values(|n| n * 2)
        .filter(|(_, n)| *n > 0)
        .print();
    let plan = t.context().explain();
    assert_eq!(
        stages(&plan),
        vec![
            "stage 1: queue_stream",
            "stage 2: flat_map [reads stage 1] -> filter -> map",
            "stage 3: reduce_by_key [reads stage 2] -> map_values -> filter -> print (output)",
        ],
        "{plan}"
    );
    Ok(())
}

#[test]
fn the_chain_runs_as_one_pass_element_by_element() -> TestResult {
    // One worker: one partition, so the log is one sequence.
    let t = TestContext::new(Duration::seconds(1), 1)?;
    let log: Log = Arc::default();
    let out = t.collect(&logged_chain(&t, vec![1, 2, 3, 4], &log));
    t.run(1)?;
    assert_eq!(out.batches(), vec![vec![10, 11, 30, 31, 40, 41]]);
    let steps: Vec<Step> = log.lock().unwrap().iter().map(|(_, s)| s.clone()).collect();
    // Each element goes through all three closures before the next element is read. Run
    // operator by operator, the log would be map 1, map 2, map 3, map 4, filter 10, …
    use Step::*;
    assert_eq!(
        steps,
        vec![
            Map(1),
            Filter(10),
            FlatMap(10),
            Map(2),
            Filter(20), // filtered out: flat_map never sees it
            Map(3),
            Filter(30),
            FlatMap(30),
            Map(4),
            Filter(40),
            FlatMap(40),
        ]
    );
    Ok(())
}

#[test]
fn the_chain_runs_as_one_pass_in_every_partition() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 3)?;
    let log: Log = Arc::default();
    let input: Vec<i32> = (1..=30).collect();
    let out = t.collect(&logged_chain(&t, input, &log));
    t.run(1)?;
    assert_eq!(out.batches()[0].len(), 29 * 2);
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), 30 + 30 + 29);
    // Per thread, every map is immediately followed by the filter of the same element, and
    // every kept element by its flat_map: no operator runs ahead of the others.
    let mut threads: Vec<&str> = log.iter().map(|(t, _)| t.as_str()).collect();
    threads.sort();
    threads.dedup();
    for thread in threads {
        let steps: Vec<&Step> = log.iter().filter(|(t, _)| t == thread).map(|(_, s)| s).collect();
        let mut i = 0;
        while i < steps.len() {
            let Step::Map(x) = steps[i] else {
                panic!("thread {thread}: expected a map at {i}: {steps:?}");
            };
            assert_eq!(
                steps.get(i + 1),
                Some(&&Step::Filter(x * 10)),
                "thread {thread}: {steps:?}"
            );
            if x * 10 == 20 {
                i += 2;
            } else {
                assert_eq!(
                    steps.get(i + 2),
                    Some(&&Step::FlatMap(x * 10)),
                    "thread {thread}: {steps:?}"
                );
                i += 3;
            }
        }
    }
    Ok(())
}

#[test]
fn a_fan_out_materializes_the_shared_stream_once() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let shared = t.input(vec![vec![1, 2, 3, 4, 5], vec![], vec![6]]).map(move |x| {
        counted.fetch_add(1, Ordering::SeqCst);
        x * 10
    });
    let evens = t.collect(&shared.filter(|x| x % 20 == 0));
    let shifted = t.collect(&shared.map(|x| x + 1));
    let plan = t.context().explain();
    assert_eq!(
        stages(&plan),
        vec![
            "stage 1: queue_stream",
            "stage 2: map [reads stage 1]",
            "stage 3: filter [reads stage 2] -> foreach_batch (output)",
            "stage 4: map [reads stage 2] -> foreach_batch (output)",
        ],
        "{plan}"
    );
    t.start()?;
    t.advance_batches(1)?;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        5,
        "two consumers, one pass of the upstream map"
    );
    t.advance_batches(2)?;
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    t.context().stop(false)?;
    assert_eq!(
        sorted_batches(&evens.batches()),
        vec![vec![20, 40], vec![], vec![60]]
    );
    assert_eq!(
        sorted_batches(&shifted.batches()),
        vec![vec![11, 21, 31, 41, 51], vec![], vec![61]]
    );
    Ok(())
}

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

#[test]
fn two_outputs_on_one_stream_share_its_computation() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let shared = t.input(vec![vec![1, 2, 3]]).flat_map(move |x| {
        counted.fetch_add(1, Ordering::SeqCst);
        vec![x; 2]
    });
    let first = t.collect(&shared);
    let second = t.collect(&shared);
    t.run(1)?;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(sorted(&first.batches()[0]), vec![1, 1, 2, 2, 3, 3]);
    assert_eq!(first.batches(), second.batches());
    Ok(())
}

#[test]
fn a_single_consumer_chain_is_not_materialized_in_between() -> TestResult {
    // Without fan-out, the shared-computation counter still counts one call per element,
    // and the plan shows no stage boundary between the operators.
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let out = t.collect(
        &t.input(vec![vec![1, 2, 3]])
            .map(move |x| {
                counted.fetch_add(1, Ordering::SeqCst);
                x
            })
            .map(|x| x * 2),
    );
    assert_eq!(
        stages(&t.context().explain()),
        vec![
            "stage 1: queue_stream",
            "stage 2: map [reads stage 1] -> map -> foreach_batch (output)"
        ]
    );
    t.run(1)?;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(out.batches(), vec![vec![2, 4, 6]]);
    Ok(())
}

#[test]
fn persist_ends_a_stage() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    t.input(vec![vec![1]])
        .map(|x: i32| x + 1)
        .persist()
        .filter(|x| *x > 0)
        .foreach_batch(|_, _| {});
    assert_eq!(
        stages(&t.context().explain()),
        vec![
            "stage 1: queue_stream",
            "stage 2: map [reads stage 1]",
            "stage 3: filter [reads stage 2] -> foreach_batch (output)",
        ]
    );
    Ok(())
}
