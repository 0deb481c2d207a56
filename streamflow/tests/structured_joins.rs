//! Structured Streaming's joins: stream–static (inner, left outer) and stream–stream (inner,
//! left / right / full outer, left semi) on a key and an event-time range, with the state of
//! each side evicted exactly when Spark's bounds say so, unmatched outer rows emitted at
//! eviction only, late rows dropped and counted, self-joins, and restarts on a checkpoint.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use std::path::Path;

use common::*;
use streamflow::structured::*;

/// `key@minute` of an event.
fn at(e: &Ev) -> String {
    format!("{}@{}", e.key, e.ts.millis() / 60_000)
}

/// `key@minute` of an event shifted by `ms` milliseconds.
fn ev_ms(key: &str, minute: i64, ms: i64) -> Ev {
    let mut e = ev(key, minute);
    e.ts = streamflow::Time::from_millis(e.ts.millis() + ms);
    e
}

/// Sorted `left|right` of joined rows (`-` for a missing side).
fn pairs(rows: &[(Option<Ev>, Option<Ev>)]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|(l, r)| {
            let side = |e: &Option<Ev>| e.as_ref().map_or("-".to_string(), at);
            format!("{}|{}", side(l), side(r))
        })
        .collect();
    out.sort();
    out
}

/// Both sides, each with a watermark of `delay`.
fn sides(
    s: &Session,
    left: &MemoryStream<Ev>,
    right: &MemoryStream<Ev>,
    delay: &str,
) -> (Dataset<Ev, shape::Watermarked>, Dataset<Ev, shape::Watermarked>) {
    (
        s.read_stream::<Ev>().memory(left).with_watermark(|e| e.ts, delay),
        s.read_stream::<Ev>()
            .memory(right)
            .with_watermark(|e| e.ts, delay),
    )
}

/// Starts a query writing `join(left, right)` of two inputs, each watermarked by `delay`, to
/// the memory table `table`; returns it and its inputs.
fn start_join<U: streamflow::Data>(
    s: &Session,
    delay: &str,
    table: &str,
    join: impl FnOnce(
        Dataset<Ev, shape::Watermarked>,
        Dataset<Ev, shape::Watermarked>,
    ) -> Dataset<U, shape::Joined>,
) -> Result<(StreamingQuery, MemoryStream<Ev>, MemoryStream<Ev>), streamflow::Error> {
    let (left, right) = (MemoryStream::<Ev>::new(), MemoryStream::<Ev>::new());
    let (l, r) = sides(s, &left, &right, delay);
    let q = join(l, r).write_stream().memory(table).start()?;
    Ok((q, left, right))
}

/// On equal keys, the right row within the hour after the left one (both bounds inclusive).
fn within_the_hour() -> JoinOn<Ev, Ev, String> {
    JoinOn::keys(|l: &Ev| l.key.clone(), |r: &Ev| r.key.clone())
        .time_range(TimeRange::between("0 minutes", "60 minutes"))
}

/// The join's progress after the last batch.
fn join_progress(q: &StreamingQuery) -> StateOperatorProgress {
    q.last_progress().unwrap().state_operators[0].clone()
}

/// The rows of table `name` as sorted pairs.
fn table_pairs(s: &Session, name: &str) -> Vec<String> {
    pairs(&s.memory_table::<(Option<Ev>, Option<Ev>)>(name).unwrap().rows())
}

#[test]
fn inner_join_without_a_range_pairs_every_match_once_whichever_side_comes_first() -> TestResult {
    let s = session();
    let (left, right) = (MemoryStream::<Ev>::new(), MemoryStream::<Ev>::new());
    let q = s
        .read_stream::<Ev>()
        .memory(&left)
        .join(
            &s.read_stream::<Ev>().memory(&right),
            JoinOn::keys(|l: &Ev| l.key.clone(), |r: &Ev| r.key.clone()),
        )
        .map(|(l, r)| (Some(l), Some(r)))
        .write_stream()
        .memory("inner")
        .start()?;
    left.add_data([ev("a", 1), ev("b", 2)]);
    right.add_data([ev("a", 5)]);
    q.process_all_available()?;
    assert_eq!(table_pairs(&s, "inner"), ["a@1|a@5"]);
    left.add_data([ev("a", 7)]);
    right.add_data([ev("a", 100), ev("b", 3), ev("c", 9)]);
    q.process_all_available()?;
    assert_eq!(
        table_pairs(&s, "inner"),
        ["a@1|a@100", "a@1|a@5", "a@7|a@100", "a@7|a@5", "b@2|b@3"]
    );
    assert_eq!(
        join_progress(&q).num_rows_total,
        7,
        "without a watermark every row stays"
    );
    q.stop()?;
    Ok(())
}

#[test]
fn inner_join_with_a_range_matches_rows_exactly_at_both_bounds_and_none_outside() -> TestResult {
    let s = session();
    let (q, left, right) = start_join(&s, "3 hours", "ranged", |l, r| {
        l.join(&r, within_the_hour()).map(|(l, r)| (Some(l), Some(r)))
    })?;
    left.add_data([ev("lo", 10), ev("hi", 10), ev("before", 10), ev("after", 10)]);
    right.add_data([
        ev("lo", 10),            // right.ts = left.ts: the lower bound, included
        ev("hi", 70),            // right.ts = left.ts + 1 hour: the upper bound, included
        ev_ms("before", 10, -1), // a millisecond before
        ev_ms("after", 70, 1),   // a millisecond after the hour
    ]);
    q.process_all_available()?;
    assert_eq!(table_pairs(&s, "ranged"), ["hi@10|hi@70", "lo@10|lo@10"]);
    q.stop()?;
    Ok(())
}

#[test]
fn strict_bounds_exclude_the_rows_exactly_at_them() -> TestResult {
    let s = session();
    let (left, right) = (MemoryStream::<Ev>::new(), MemoryStream::<Ev>::new());
    let (l, r) = sides(&s, &left, &right, "3 hours");
    let range = TimeRange::between("0 minutes", "60 minutes")
        .exclusive_lower()
        .exclusive_upper();
    let q = l
        .join(
            &r,
            JoinOn::keys(|l: &Ev| l.key.clone(), |r: &Ev| r.key.clone()).time_range(range),
        )
        .map(|(l, r)| (Some(l), Some(r)))
        .write_stream()
        .memory("strict")
        .start()?;
    left.add_data([ev("k", 10)]);
    right.add_data([ev("k", 10), ev("k", 70), ev_ms("k", 10, 1), ev_ms("k", 70, -1)]);
    q.process_all_available()?;
    let rows = s.memory_table::<(Option<Ev>, Option<Ev>)>("strict")?.rows();
    let mut offsets: Vec<i64> = rows
        .iter()
        .map(|(_, r)| r.as_ref().unwrap().ts.millis() - 600_000)
        .collect();
    offsets.sort();
    assert_eq!(offsets, [1, 3_600_000 - 1]);
    q.stop()?;
    Ok(())
}

#[test]
fn left_outer_join_emits_an_unmatched_row_only_when_the_watermark_evicts_it() -> TestResult {
    let s = session();
    let (q, left, right) = start_join(&s, "0 minutes", "left_outer", |l, r| {
        l.left_outer_join(&r, within_the_hour())
            .map(|(l, r)| (Some(l), r))
    })?;
    left.add_data([ev("a", 1), ev("d", 2), ev("b", 5)]);
    right.add_data([ev("b", 30)]);
    q.process_all_available()?; // the watermark moves to minute 5
    assert_eq!(
        table_pairs(&s, "left_outer"),
        ["b@5|b@30"],
        "a and d may still match"
    );
    left.add_data([ev("c", 62)]);
    right.add_data([ev("z", 62)]);
    q.process_all_available()?;
    // Watermark 62: left rows at ts ≤ 62 − 60 min − 1 ms go; d at exactly 2 minutes stays.
    assert_eq!(table_pairs(&s, "left_outer"), ["a@1|-", "b@5|b@30"]);
    left.add_data([ev("e", 63)]);
    right.add_data([ev("y", 63)]);
    q.process_all_available()?;
    assert_eq!(table_pairs(&s, "left_outer"), ["a@1|-", "b@5|b@30", "d@2|-"]);
    q.stop()?;
    Ok(())
}

#[test]
fn right_outer_join_emits_an_unmatched_right_row_at_its_eviction() -> TestResult {
    let s = session();
    let (q, left, right) = start_join(&s, "0 minutes", "right_outer", |l, r| {
        l.right_outer_join(&r, within_the_hour())
            .map(|(l, r)| (l, Some(r)))
    })?;
    left.add_data([ev("x", 30), ev("m", 20)]);
    right.add_data([ev("r", 30), ev("m", 25)]);
    q.process_all_available()?; // the watermark moves to minute 30
    // Right rows at ts ≤ 30 min − 1 ms go: m@25 matched (no row), r@30 exactly at the watermark stays.
    assert_eq!(table_pairs(&s, "right_outer"), ["m@20|m@25"]);
    left.add_data([ev("x", 31)]);
    right.add_data([ev("y", 31)]);
    q.process_all_available()?;
    assert_eq!(table_pairs(&s, "right_outer"), ["-|r@30", "m@20|m@25"]);
    q.stop()?;
    Ok(())
}

#[test]
fn full_outer_join_emits_the_unmatched_rows_of_both_sides_at_eviction() -> TestResult {
    let s = session();
    let (q, left, right) = start_join(&s, "0 minutes", "full_outer", |l, r| {
        l.full_outer_join(&r, within_the_hour())
    })?;
    left.add_data([ev("a", 1), ev("b", 1)]);
    right.add_data([ev("b", 10), ev("z", 30)]);
    q.process_all_available()?;
    assert_eq!(table_pairs(&s, "full_outer"), ["b@1|b@10"]);
    left.add_data([ev("c", 62)]);
    right.add_data([ev("y", 62)]);
    q.process_all_available()?;
    assert_eq!(table_pairs(&s, "full_outer"), ["-|z@30", "a@1|-", "b@1|b@10"]);
    q.stop()?;
    Ok(())
}

#[test]
fn left_semi_join_emits_each_matching_left_row_once() -> TestResult {
    let s = session();
    let (q, left, right) = start_join(&s, "0 minutes", "semi", |l, r| {
        l.left_semi_join(&r, within_the_hour())
    })?;
    left.add_data([ev("a", 1), ev("b", 1), ev("c", 1)]);
    right.add_data([ev("a", 10), ev("a", 20)]);
    q.process_all_available()?;
    right.add_data([ev("b", 30), ev("a", 40)]);
    q.process_all_available()?;
    let mut rows: Vec<String> = s.memory_table::<Ev>("semi")?.rows().iter().map(at).collect();
    rows.sort();
    assert_eq!(rows, ["a@1", "b@1"]);
    q.stop()?;
    Ok(())
}

#[test]
fn join_state_stays_flat_as_event_time_advances() -> TestResult {
    let s = session();
    let (q, left, right) = start_join(&s, "0 minutes", "flat", |l, r| {
        l.join(&r, within_the_hour()).map(|(l, r)| (Some(l), Some(r)))
    })?;
    let mut totals = Vec::new();
    for round in 0..30 {
        let key = format!("k{}", round % 3);
        left.add_data([ev(&key, round * 10)]);
        right.add_data([ev(&key, round * 10 + 5)]);
        q.process_all_available()?;
        totals.push(join_progress(&q).num_rows_total);
    }
    let steady = &totals[15..];
    assert!(
        steady.iter().all(|t| *t == steady[0]),
        "rows in state keep changing: {totals:?}"
    );
    assert!(steady[0] <= 8, "{totals:?}");
    assert!(
        s.memory_table::<(Option<Ev>, Option<Ev>)>("flat")?.rows().len() >= 30,
        "every round matched"
    );
    q.stop()?;
    Ok(())
}

#[test]
fn rows_at_or_before_the_watermark_are_late_dropped_and_counted() -> TestResult {
    let s = session();
    let (q, left, right) = start_join(&s, "10 minutes", "late", |l, r| {
        l.join(&r, within_the_hour()).map(|(l, r)| (Some(l), Some(r)))
    })?;
    left.add_data([ev("a", 100)]);
    right.add_data([ev("a", 100)]);
    q.process_all_available()?; // the watermark moves to minute 90
    left.add_data([ev("a", 90), ev("a", 91)]);
    right.add_data([ev("b", 90)]);
    q.process_all_available()?;
    let dropped: u64 = q
        .recent_progress()
        .iter()
        .map(|p| p.state_operators[0].num_rows_dropped_by_watermark)
        .sum();
    assert_eq!(dropped, 2, "a@90 and b@90 are late, a@91 is not");
    assert_eq!(table_pairs(&s, "late"), ["a@100|a@100", "a@91|a@100"]);
    q.stop()?;
    Ok(())
}

#[test]
fn a_dataset_joins_itself() -> TestResult {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let events = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "0 minutes");
    let strictly_after = TimeRange::between("0 minutes", "10 minutes").exclusive_lower();
    let q = events
        .join(
            &events,
            JoinOn::keys(|l: &Ev| l.key.clone(), |r: &Ev| r.key.clone()).time_range(strictly_after),
        )
        .map(|(l, r)| (Some(l), Some(r)))
        .write_stream()
        .memory("follow_ups")
        .start()?;
    input.add_data([ev("a", 1), ev("a", 6), ev("a", 31), ev("b", 32)]);
    q.process_all_available()?;
    assert_eq!(table_pairs(&s, "follow_ups"), ["a@1|a@6"]);
    q.stop()?;
    Ok(())
}

/// One run of a left outer join on `dir`: adds `lefts` and `rights`, returns its rows.
fn join_run(
    s: &Session,
    left: &MemoryStream<Ev>,
    right: &MemoryStream<Ev>,
    dir: &Path,
    table: &str,
    lefts: Vec<Ev>,
    rights: Vec<Ev>,
) -> Vec<String> {
    let (l, r) = sides(s, left, right, "0 minutes");
    let q = l
        .left_outer_join(&r, within_the_hour())
        .map(|(l, r)| (Some(l), r))
        .write_stream()
        .checkpoint_location(dir)
        .memory(table)
        .start()
        .unwrap();
    left.add_data(lefts);
    right.add_data(rights);
    q.process_all_available().unwrap();
    q.stop().unwrap();
    table_pairs(s, table)
}

#[test]
fn join_state_survives_a_restart_on_the_checkpoint() -> TestResult {
    let s = session();
    let (left, right) = (MemoryStream::<Ev>::new(), MemoryStream::<Ev>::new());
    let dir = tempfile::tempdir()?;
    let first = join_run(
        &s,
        &left,
        &right,
        dir.path(),
        "run0",
        vec![ev("a", 1), ev("b", 1)],
        vec![ev("z", 2)],
    );
    assert!(first.is_empty(), "{first:?}");
    let second = join_run(&s, &left, &right, dir.path(), "run1", vec![], vec![ev("a", 30)]);
    assert_eq!(second, ["a@1|a@30"], "a's left row was restored");
    let third = join_run(
        &s,
        &left,
        &right,
        dir.path(),
        "run2",
        vec![ev("x", 70)],
        vec![ev("y", 70)],
    );
    assert_eq!(
        third,
        ["b@1|-"],
        "b was restored and evicted unmatched, a was matched"
    );
    Ok(())
}

#[test]
fn outer_joins_without_what_evicts_them_and_joins_in_update_mode_are_refused() {
    let s = session();
    let (left, right) = (MemoryStream::<Ev>::new(), MemoryStream::<Ev>::new());
    let (l, r) = sides(&s, &left, &right, "0 minutes");
    let keys = || JoinOn::keys(|l: &Ev| l.key.clone(), |r: &Ev| r.key.clone());
    let err = l
        .left_outer_join(&r, keys())
        .write_stream()
        .memory("x")
        .start()
        .err()
        .unwrap();
    assert!(err.to_string().contains("Stream-stream LeftOuter join"), "{err}");
    assert!(
        err.to_string().contains("its time range needs an upper bound"),
        "{err}"
    );
    let unwatermarked = s.read_stream::<Ev>().memory(&right).with_event_time(|e| e.ts);
    let err = l
        .right_outer_join(&unwatermarked, within_the_hour())
        .write_stream()
        .memory("x")
        .start()
        .err()
        .unwrap();
    assert!(err.to_string().contains("each side needs a watermark"), "{err}");
    let err = l
        .join(&r, keys())
        .write_stream()
        .output_mode(OutputMode::Update)
        .memory("x")
        .start()
        .err()
        .unwrap();
    assert!(
        err.to_string().contains("not supported in Update output mode"),
        "{err}"
    );
    let timeless = s.read_stream::<Ev>().memory(&right);
    let err = l
        .join(&timeless, within_the_hour())
        .write_stream()
        .memory("x")
        .start()
        .err()
        .unwrap();
    assert!(err.to_string().contains("a side has no event time"), "{err}");
}

#[test]
fn stream_static_joins_probe_the_rows_loaded_once() -> TestResult {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let names = vec![
        ("a".to_string(), "Ann"),
        ("b".to_string(), "Bob"),
        ("b".to_string(), "Bea"),
    ];
    let events = s.read_stream::<Ev>().memory(&input);
    let inner = events
        .join_static(names.clone(), |e| e.key.clone(), |n| n.0.clone())
        .map(|(e, n)| (at(&e), n.1.to_string()))
        .write_stream()
        .memory("static_inner")
        .start()?;
    let outer = events
        .left_outer_join_static(names, |e| e.key.clone(), |n| n.0.clone())
        .map(|(e, n)| (at(&e), n.map(|n| n.1.to_string())))
        .write_stream()
        .output_mode(OutputMode::Update)
        .memory("static_outer")
        .start()?;
    input.add_data([ev("a", 1), ev("b", 2), ev("c", 3)]);
    inner.process_all_available()?;
    outer.process_all_available()?;
    let mut rows = s.memory_table::<(String, String)>("static_inner")?.rows();
    rows.sort();
    let own = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(rows, [own("a@1", "Ann"), own("b@2", "Bea"), own("b@2", "Bob")]);
    let mut rows = s.memory_table::<(String, Option<String>)>("static_outer")?.rows();
    rows.sort();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[3], ("c@3".to_string(), None));
    inner.stop()?;
    outer.stop()?;
    Ok(())
}
