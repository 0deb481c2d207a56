//! The per-batch semantics of every DStream operator, through the test harness: input per
//! batch on a manual clock, output per batch. Empty batches are part of every test, because
//! that is where Spark's semantics are easiest to get wrong (`count` gives 0, `reduce` nothing).
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use streamflow::testing::{TestContext, run_batches, run_batches2, sorted, try_run_batches};
use streamflow::{Duration, Error};

mod common;
use common::{TestResult, owned, sorted_batches};

fn words(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

// ---------------------------------------------------------------- narrow operators

#[test]
fn map_applies_f_to_every_element_of_every_batch() {
    let out = run_batches(vec![vec![1, 2, 3], vec![], vec![10]], |s| s.map(|x| x * 2), 4);
    // Batch 4 has no input: it still exists, empty.
    assert_eq!(out, vec![vec![2, 4, 6], vec![], vec![20], vec![]]);
}

#[test]
fn map_can_change_the_element_type() {
    let out = run_batches(
        vec![vec![1, 22]],
        |s| s.map(|x: i32| (x.to_string(), x % 2 == 0)),
        1,
    );
    assert_eq!(
        out,
        vec![vec![("1".to_string(), false), ("22".to_string(), true)]]
    );
}

#[test]
fn flat_map_replaces_each_element_by_zero_or_more() {
    let out = run_batches(
        vec![vec!["a b", "", "c"], vec![], vec!["  "]],
        |lines| lines.flat_map(words),
        3,
    );
    assert_eq!(out, vec![owned(&["a", "b", "c"]), vec![], vec![]]);
}

#[test]
fn filter_keeps_matching_elements_in_order() {
    let out = run_batches(
        vec![vec![1, 2, 3, 4, 5], vec![2, 4], vec![]],
        |s| s.filter(|x| x % 2 == 1),
        3,
    );
    assert_eq!(out, vec![vec![1, 3, 5], vec![], vec![]]);
}

#[test]
fn map_partitions_runs_once_per_partition_even_when_empty() {
    // Two workers: the queue splits every batch into two partitions.
    let out = run_batches(
        vec![(1..=6).collect(), vec![]],
        |s| s.map_partitions(|it| vec![it.count()]),
        2,
    );
    assert_eq!(out[0].len(), 2, "one result per partition: {out:?}");
    assert_eq!(out[0].iter().sum::<usize>(), 6);
    assert_eq!(out[1], vec![0, 0], "empty partitions are still visited");

    let out = run_batches(
        vec![(1..=10).collect()],
        |s| s.repartition(4).map_partitions(|it| vec![it.sum::<i32>()]),
        1,
    );
    assert_eq!(out[0].len(), 4);
    assert_eq!(out[0].iter().sum::<i32>(), 55);
}

#[test]
fn glom_gives_one_vector_per_partition_with_all_elements() {
    let out = run_batches(vec![(0..7).collect(), vec![]], |s| s.glom(), 2);
    assert_eq!(out[0].len(), 2);
    let mut all: Vec<i32> = out[0].iter().flatten().copied().collect();
    all.sort();
    assert_eq!(all, (0..7).collect::<Vec<_>>());
    assert_eq!(out[1], vec![Vec::<i32>::new(), vec![]]);
}

#[test]
fn repartition_gives_exactly_n_partitions() {
    for n in [1, 2, 3, 5, 16] {
        let input: Vec<i32> = (0..10).collect();
        let out = run_batches(vec![input.clone(), vec![]], move |s| s.repartition(n).glom(), 2);
        assert_eq!(out[0].len(), n, "repartition({n}) of 10 elements");
        let mut all: Vec<i32> = out[0].iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, input, "repartition({n}) keeps every element once");
        let sizes: Vec<usize> = out[0].iter().map(Vec::len).collect();
        let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
        assert!(max - min <= 2, "repartition({n}) spreads the elements: {sizes:?}");
        assert_eq!(out[1].len(), n, "an empty batch also has {n} partitions");
        assert!(out[1].iter().all(Vec::is_empty));
    }
}

#[test]
fn repartition_to_zero_partitions_is_an_error_at_start() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    t.collect(&t.input(vec![vec![1]]).repartition(0));
    let err = t.start().unwrap_err();
    assert!(matches!(err, Error::InvalidGraph(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("`repartition` needs at least one partition"),
        "{err}"
    );
    Ok(())
}

// ---------------------------------------------------------------- unions

#[test]
fn union_of_two_streams_has_both_batches_at_each_time() {
    let out = run_batches2(
        vec![vec![1, 2], vec![], vec![5]],
        vec![vec![3], vec![4], vec![]],
        |a, b| a.union(&b),
        4,
    );
    assert_eq!(
        sorted_batches(&out),
        vec![vec![1, 2, 3], vec![4], vec![5], vec![]]
    );
}

#[test]
fn union_keeps_the_partitions_of_both_sides() {
    let out = run_batches2(
        vec![vec![1, 2]],
        vec![vec![3, 4, 5]],
        |a, b| a.repartition(3).union(&b).glom().map(|p| p.len()),
        1,
    );
    // 3 partitions from the left, 2 (the parallelism) from the right.
    assert_eq!(out[0].len(), 5, "{out:?}");
    assert_eq!(out[0].iter().sum::<usize>(), 5);
}

#[test]
fn union_of_a_stream_with_itself_doubles_it() {
    let out = run_batches(vec![vec![1, 2], vec![3]], |s| s.union(&s), 2);
    assert_eq!(sorted_batches(&out), vec![vec![1, 1, 2, 2], vec![3, 3]]);
}

#[test]
fn union_of_many_streams() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let streams: Vec<_> = (0..6)
        .map(|i| {
            // Stream i has i elements in batch 1 and nothing afterwards.
            t.input(vec![(0..i).map(|j| i * 10 + j).collect::<Vec<_>>()])
        })
        .collect();
    let out = t.collect(&t.context().union(&streams)?);
    t.run(2)?;
    let batches = out.batches();
    let expected: Vec<i32> = (0..6).flat_map(|i| (0..i).map(move |j| i * 10 + j)).collect();
    assert_eq!(sorted(&batches[0]), sorted(&expected));
    assert!(batches[1].is_empty());
    Ok(())
}

#[test]
fn union_of_one_stream_is_that_stream_and_of_none_is_an_error() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let one = t.input(vec![vec![7, 8]]);
    let out = t.collect(&t.context().union(std::slice::from_ref(&one))?);
    let Err(err) = t.context().union::<i32>(&[]) else {
        panic!("a union of no streams must be an error");
    };
    assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
    t.run(1)?;
    assert_eq!(sorted(&out.batches()[0]), vec![7, 8]);
    Ok(())
}

// ---------------------------------------------------------------- whole-batch aggregations

#[test]
fn count_is_the_size_of_each_batch_and_zero_for_an_empty_one() {
    let out = run_batches(vec![(0..1000).collect(), vec![], vec![42]], |s| s.count(), 4);
    assert_eq!(out, vec![vec![1000], vec![0], vec![1], vec![0]]);
}

#[test]
fn reduce_gives_one_element_and_nothing_for_an_empty_batch() {
    let out = run_batches(
        vec![(1..=100).collect(), vec![], vec![7]],
        |s| s.reduce(|a, b| a + b),
        4,
    );
    assert_eq!(out, vec![vec![5050], vec![], vec![7], vec![]]);
}

#[test]
fn reduce_combines_across_partitions() {
    let out = run_batches(
        vec![(1..=20).collect()],
        |s| s.repartition(7).reduce(|a: i64, b| a.max(b)),
        1,
    );
    assert_eq!(out, vec![vec![20]]);
}

#[test]
fn count_by_value_counts_each_distinct_element() {
    let out = run_batches(
        vec![vec!["a", "b", "a", "c", "a"], vec![], vec!["b"]],
        |s| s.count_by_value(),
        3,
    );
    assert_eq!(sorted(&out[0]), vec![("a", 3), ("b", 1), ("c", 1)]);
    assert!(out[1].is_empty());
    assert_eq!(out[2], vec![("b", 1)]);
}

// ---------------------------------------------------------------- keyed aggregations

#[test]
fn reduce_by_key_merges_values_of_each_key_per_batch_only() {
    let out = run_batches(
        vec![vec!["a b a", "c a", "b"], vec![], vec!["a"]],
        |lines| lines.flat_map(words).map(|w| (w, 1)).reduce_by_key(|x, y| x + y),
        3,
    );
    let s = |w: &str, n| (w.to_string(), n);
    assert_eq!(sorted(&out[0]), vec![s("a", 3), s("b", 2), s("c", 1)]);
    assert!(out[1].is_empty());
    // No state from batch 1 leaks into batch 3.
    assert_eq!(out[2], vec![s("a", 1)]);
}

#[test]
fn reduce_by_key_puts_each_key_in_one_partition_stably() {
    // Many copies of each key, spread over all input partitions.
    let batch: Vec<(u32, u32)> = (0..400).map(|i| (i % 13, 1)).collect();
    let out = run_batches(
        vec![batch.clone(), batch],
        |s| s.repartition(4).reduce_by_key(|a, b| a + b).glom(),
        2,
    );
    let partition_of = |parts: &Vec<Vec<(u32, u32)>>| {
        let mut placed = Vec::new();
        for (p, part) in parts.iter().enumerate() {
            for (k, n) in part {
                assert!(*n > 25, "key {k} was not fully combined: {n}");
                placed.push((*k, p));
            }
        }
        placed.sort();
        placed
    };
    assert_eq!(
        out[0].len(),
        2,
        "reduce_by_key gives the context's parallelism in partitions"
    );
    let first = partition_of(&out[0]);
    assert_eq!(first.len(), 13, "each key exactly once: {first:?}");
    assert_eq!(
        first,
        partition_of(&out[1]),
        "a key lands in the same partition every batch"
    );
    let total: u32 = out[0].iter().flatten().map(|(_, n)| n).sum();
    assert_eq!(total, 400);
}

#[test]
fn reduce_by_key_into_gives_the_asked_number_of_partitions() {
    let out = run_batches(
        vec![(0..50).map(|i| (i % 10, 1)).collect()],
        |s| s.reduce_by_key_into(|a, b| a + b, 5).glom(),
        1,
    );
    assert_eq!(out[0].len(), 5);
    let all: Vec<(i32, i32)> = sorted(&out[0].iter().flatten().copied().collect::<Vec<_>>());
    assert_eq!(all, (0..10).map(|k| (k, 5)).collect::<Vec<_>>());
}

#[test]
fn group_by_key_collects_all_values_of_each_key() {
    let out = run_batches(
        vec![vec![("a", 1), ("b", 2), ("a", 3), ("a", 1)], vec![]],
        |s| {
            s.repartition(3).group_by_key().map(|(k, mut vs)| {
                vs.sort();
                (k, vs)
            })
        },
        2,
    );
    assert_eq!(sorted(&out[0]), vec![("a", vec![1, 1, 3]), ("b", vec![2])]);
    assert!(out[1].is_empty());
}

#[test]
fn combine_by_key_builds_per_key_combiners() {
    // Per key: (min, max, count).
    let out = run_batches(
        vec![vec![("x", 5), ("y", 1), ("x", -2), ("x", 9), ("y", 1)], vec![]],
        |s| {
            s.repartition(3).combine_by_key(
                |v| (v, v, 1),
                |(lo, hi, n), v| (lo.min(v), hi.max(v), n + 1),
                |(lo1, hi1, n1), (lo2, hi2, n2)| (lo1.min(lo2), hi1.max(hi2), n1 + n2),
                4,
            )
        },
        2,
    );
    assert_eq!(sorted(&out[0]), vec![("x", (-2, 9, 3)), ("y", (1, 1, 2))]);
    assert!(out[1].is_empty());

    let parts = run_batches(
        vec![vec![("x", 1)]],
        |s| s.combine_by_key(|v| v, |a, b| a + b, |a, b| a + b, 4).glom(),
        1,
    );
    assert_eq!(parts[0].len(), 4, "combine_by_key honours num_partitions");
}

#[test]
fn map_values_keeps_keys() {
    let out = run_batches(
        vec![vec![("a", 1), ("b", 2), ("a", 3)], vec![]],
        |s| s.map_values(|v| v * 100),
        2,
    );
    assert_eq!(out, vec![vec![("a", 100), ("b", 200), ("a", 300)], vec![]]);
}

#[test]
fn flat_map_values_repeats_the_key_for_each_value() {
    let out = run_batches(
        vec![vec![("a", 2), ("b", 0), ("c", 1)]],
        |s| s.flat_map_values(|n| (0..n).map(|i| i * 10)),
        1,
    );
    // "b" has no values left, so it disappears.
    assert_eq!(out, vec![vec![("a", 0), ("a", 10), ("c", 0)]]);
}

// ---------------------------------------------------------------- joins

type L = Vec<Vec<(i32, char)>>;
type R = Vec<Vec<(i32, &'static str)>>;

fn join_input() -> (L, R) {
    (
        vec![vec![(1, 'a'), (1, 'b'), (2, 'c')], vec![(5, 'e')], vec![]],
        vec![vec![(1, "x"), (1, "y"), (3, "z")], vec![], vec![(6, "f")]],
    )
}

#[test]
fn join_pairs_every_left_value_with_every_right_value_of_a_key() {
    let (l, r) = join_input();
    let out = run_batches2(l, r, |l, r| l.join(&r), 4);
    assert_eq!(
        sorted_batches(&out),
        vec![
            vec![(1, ('a', "x")), (1, ('a', "y")), (1, ('b', "x")), (1, ('b', "y"))],
            vec![],
            vec![],
            vec![],
        ]
    );
}

#[test]
fn left_outer_join_gives_none_for_keys_only_on_the_left() {
    let (l, r) = join_input();
    let out = run_batches2(l, r, |l, r| l.left_outer_join(&r), 3);
    assert_eq!(
        sorted_batches(&out),
        vec![
            vec![
                (1, ('a', Some("x"))),
                (1, ('a', Some("y"))),
                (1, ('b', Some("x"))),
                (1, ('b', Some("y"))),
                (2, ('c', None)),
            ],
            // The right batch is empty: every left row comes with None.
            vec![(5, ('e', None))],
            // The left batch is empty: nothing, whatever the right holds.
            vec![],
        ]
    );
}

#[test]
fn right_outer_join_gives_none_for_keys_only_on_the_right() {
    let (l, r) = join_input();
    let out = run_batches2(l, r, |l, r| l.right_outer_join(&r), 3);
    assert_eq!(
        sorted_batches(&out),
        vec![
            vec![
                (1, (Some('a'), "x")),
                (1, (Some('a'), "y")),
                (1, (Some('b'), "x")),
                (1, (Some('b'), "y")),
                (3, (None, "z")),
            ],
            vec![],
            vec![(6, (None, "f"))],
        ]
    );
}

#[test]
fn full_outer_join_gives_none_on_whichever_side_is_missing() {
    let (l, r) = join_input();
    let out = run_batches2(l, r, |l, r| l.full_outer_join(&r), 4);
    assert_eq!(
        sorted_batches(&out),
        vec![
            vec![
                (1, (Some('a'), Some("x"))),
                (1, (Some('a'), Some("y"))),
                (1, (Some('b'), Some("x"))),
                (1, (Some('b'), Some("y"))),
                (2, (Some('c'), None)),
                (3, (None, Some("z"))),
            ],
            vec![(5, (Some('e'), None))],
            vec![(6, (None, Some("f")))],
            vec![],
        ]
    );
}

#[test]
fn cogroup_gives_all_values_of_both_sides_for_every_key() {
    let (l, r) = join_input();
    let out = run_batches2(l, r, |l, r| l.cogroup(&r), 4);
    let normalized: Vec<Vec<(i32, (Vec<char>, Vec<&str>))>> = out
        .iter()
        .map(|b| {
            sorted(
                &b.iter()
                    .map(|(k, (vs, ws))| (*k, (sorted(vs), sorted(ws))))
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(
        normalized,
        vec![
            vec![
                (1, (vec!['a', 'b'], vec!["x", "y"])),
                (2, (vec!['c'], vec![])),
                (3, (vec![], vec!["z"])),
            ],
            vec![(5, (vec!['e'], vec![]))],
            vec![(6, (vec![], vec!["f"]))],
            vec![],
        ]
    );
}

#[test]
fn join_of_a_stream_with_itself() {
    let out = run_batches(vec![vec![(1, 'a'), (1, 'b')]], |s| s.join(&s), 1);
    assert_eq!(
        sorted(&out[0]),
        vec![(1, ('a', 'a')), (1, ('a', 'b')), (1, ('b', 'a')), (1, ('b', 'b'))]
    );
}

// ---------------------------------------------------------------- transform

#[test]
fn transform_gets_each_batch_with_its_time() {
    let out = run_batches(
        vec![vec![1, 2], vec![], vec![3]],
        |s| s.transform(|batch, time| batch.map(move |x| (time.millis(), x))),
        3,
    );
    assert_eq!(out, vec![vec![(1000, 1), (1000, 2)], vec![], vec![(3000, 3)]]);
}

#[test]
fn transform_may_replace_the_batch_and_its_partitioning() {
    let out = run_batches(
        vec![vec![1, 2, 3], vec![]],
        |s| {
            s.transform(|batch, time| {
                assert_eq!(batch.time(), time);
                let template = batch.with_partitions::<u64>(Vec::new());
                let n = batch.count();
                // A brand-new batch at the same time: n partitions holding n each.
                template.with_partitions((0..n).map(|_| vec![n]).collect())
            })
            .glom()
        },
        2,
    );
    assert_eq!(out[0], vec![vec![3_u64], vec![3], vec![3]]);
    assert!(
        out[1].is_empty(),
        "no partitions for an empty batch: {:?}",
        out[1]
    );
}

#[test]
fn transform_with_combines_the_batches_of_two_streams_at_the_same_time() {
    // Keep the left elements that the right stream marks as allowed in the same batch.
    let out = run_batches2(
        vec![vec!["a", "b", "c"], vec!["a", "b"], vec!["c"]],
        vec![vec!["b", "c"], vec![], vec!["c"]],
        |events, allowed| {
            events.transform_with(&allowed, |events, allowed, time| {
                let allowed: HashSet<&str> = allowed.collect().into_iter().collect();
                events
                    .filter(move |e| allowed.contains(e))
                    .map(move |e| (time.millis(), e))
            })
        },
        3,
    );
    assert_eq!(
        sorted_batches(&out),
        vec![vec![(1000, "b"), (1000, "c")], vec![], vec![(3000, "c")]]
    );
}

// ---------------------------------------------------------------- persist

#[test]
fn persist_with_fan_out_computes_the_shared_stream_once_per_batch() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 2)?;
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let shared = t
        .input(vec![vec![1, 2, 3], vec![4, 5]])
        .map(move |x| {
            counted.fetch_add(1, Ordering::SeqCst);
            x * 10
        })
        .persist();
    let evens = t.collect(&shared.filter(|x| x % 20 == 0));
    let plus_one = t.collect(&shared.map(|x| x + 1));
    let count = t.collect(&shared.count());
    t.start()?;
    t.advance_batches(1)?;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "three consumers, one computation"
    );
    t.advance_batches(1)?;
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    t.context().stop(false)?;
    assert_eq!(sorted_batches(&evens.batches()), vec![vec![20], vec![40]]);
    assert_eq!(
        sorted_batches(&plus_one.batches()),
        vec![vec![11, 21, 31], vec![41, 51]]
    );
    assert_eq!(count.batches(), vec![vec![3], vec![2]]);
    Ok(())
}

#[test]
fn cache_is_persist() {
    let out = run_batches(vec![vec![1, 2]], |s| s.map(|x| x + 1).cache(), 1);
    assert_eq!(out, vec![vec![2, 3]]);
}

// ---------------------------------------------------------------- pipelines

#[test]
fn a_word_count_pipeline_gives_spark_results_for_every_batch() {
    let out = try_run_batches(
        vec![
            vec!["apple banana apple", "cherry apple banana orange apple"],
            vec![],
            vec!["kiwi"],
        ],
        |lines| {
            lines
                .flat_map(words)
                .map(|w| (w, 1_u64))
                .reduce_by_key(|a, b| a + b)
        },
        3,
    )
    .unwrap();
    let s = |w: &str, n| (w.to_string(), n);
    assert_eq!(
        sorted(&out[0]),
        vec![s("apple", 4), s("banana", 2), s("cherry", 1), s("orange", 1)]
    );
    assert!(out[1].is_empty());
    assert_eq!(out[2], vec![s("kiwi", 1)]);
}
