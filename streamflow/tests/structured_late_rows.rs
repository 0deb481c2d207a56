//! The late-data side output: the rows a stateful operator drops as too late for the watermark
//! go to a second dataset of the same query — exactly the rows its progress counts as dropped.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use common::*;
use streamflow::structured::*;

/// Sorted `key@minute` of events.
fn names(rows: &[Ev]) -> Vec<String> {
    let mut out: Vec<String> = rows
        .iter()
        .map(|e| format!("{}@{}", e.key, e.ts.millis() / 60_000))
        .collect();
    out.sort();
    out
}

/// Rows dropped by the watermark in every batch, summed over the query's stateful operators.
fn dropped(q: &StreamingQuery) -> u64 {
    q.recent_progress()
        .iter()
        .flat_map(|p| p.state_operators.iter().map(|o| o.num_rows_dropped_by_watermark))
        .sum()
}

/// Events with a 10-minute watermark, their late rows routed to `late`.
fn events(s: &Session, input: &MemoryStream<Ev>, late: &LateRows<Ev>) -> Dataset<Ev, shape::Watermarked> {
    s.read_stream::<Ev>()
        .memory(input)
        .with_watermark(|e| e.ts, "10 minutes")
        .late_rows_to(late)
}

#[test]
fn a_deduplication_routes_exactly_the_rows_it_counts_as_late() -> TestResult {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let late = LateRows::new();
    let unique = events(&s, &input, &late).drop_duplicates_within_watermark(|e| e.key.clone());
    let q = unique.late_rows(&late).write_stream().memory("late").start()?;
    input.add_data([ev("a", 30)]);
    q.process_all_available()?; // the watermark moves to minute 20
    input.add_data([ev("b", 20), ev("c", 19), ev("d", 21), ev("a", 31)]);
    q.process_all_available()?;
    input.add_data([ev("e", 5)]);
    q.process_all_available()?;
    let rows = s.memory_table::<Ev>("late")?.rows();
    assert_eq!(names(&rows), ["b@20", "c@19", "e@5"]);
    assert_eq!(dropped(&q), rows.len() as u64);
    q.stop()?;
    Ok(())
}

#[test]
fn a_windowed_aggregation_routes_its_late_rows_beside_its_counts() -> TestResult {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let late = LateRows::new();
    let counts = events(&s, &input, &late)
        .group_by_window(|e| e.key.clone(), window("10 minutes", "10 minutes"))
        .count();
    // One query, two outputs: the counts and the late rows, as one stream of results.
    let q = counts
        .map(|row| (Some(row.value), None::<Ev>))
        .union(&counts.late_rows(&late).map(|e| (None, Some(e))))
        .write_stream()
        .output_mode(OutputMode::Append)
        .memory("both")
        .start()?;
    input.add_data([ev("a", 31), ev("a", 32)]);
    q.process_all_available()?; // the watermark moves to minute 22: the window [10, 20) closed
    input.add_data([ev("a", 19), ev("b", 20), ev("c", 11)]);
    q.process_all_available()?;
    let rows = s.memory_table::<(Option<u64>, Option<Ev>)>("both")?.rows();
    let late_rows: Vec<Ev> = rows.iter().filter_map(|(_, e)| e.clone()).collect();
    assert_eq!(
        names(&late_rows),
        ["a@19", "c@11"],
        "b@20 is in the open window [20, 30)"
    );
    assert_eq!(dropped(&q), 2);
    q.stop()?;
    Ok(())
}

#[test]
fn each_side_of_a_join_routes_its_own_late_rows() -> TestResult {
    let s = session();
    let (left, right) = (MemoryStream::<Ev>::new(), MemoryStream::<Ev>::new());
    let (late_left, late_right) = (LateRows::new(), LateRows::new());
    let joined = events(&s, &left, &late_left).join(
        &events(&s, &right, &late_right),
        JoinOn::keys(|l: &Ev| l.key.clone(), |r: &Ev| r.key.clone())
            .time_range(TimeRange::between("0 minutes", "60 minutes")),
    );
    let q = joined
        .late_rows(&late_left)
        .map(|e| ("left".to_string(), e))
        .union(&joined.late_rows(&late_right).map(|e| ("right".to_string(), e)))
        .write_stream()
        .memory("late_sides")
        .start()?;
    left.add_data([ev("a", 100)]);
    right.add_data([ev("a", 100)]);
    q.process_all_available()?; // the watermark moves to minute 90
    left.add_data([ev("x", 90), ev("y", 95)]);
    right.add_data([ev("z", 80), ev("w", 91)]);
    q.process_all_available()?;
    let mut rows: Vec<(String, String)> = s
        .memory_table::<(String, Ev)>("late_sides")?
        .rows()
        .into_iter()
        .map(|(side, e)| (side, e.key))
        .collect();
    rows.sort();
    let own = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(rows, [own("left", "x"), own("right", "z")]);
    assert_eq!(dropped(&q), 2);
    q.stop()?;
    Ok(())
}
