//! Watermarks: max event time seen in earlier batches minus the delay, used from the next
//! batch, never going back, surviving a restart, moved by rows a filter removes later and
//! counted once under a fan-out; several inputs under the min and max policies; idle inputs;
//! which rows are late (the boundary, rows late for only some of their sliding windows) and
//! which queries drop them.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use streamflow::structured::*;
use streamflow::{Duration, ManualClock};

mod common;
use common::{Ev, ev, min, session, session_on, w, watermark_minutes, window_rows, windowed_count_test};
use streamflow::testing::StreamTest;

/// The watermark each batch ran with, in minutes.
fn watermarks(q: &StreamingQuery) -> Vec<(u64, i64)> {
    q.recent_progress()
        .iter()
        .map(|p| (p.batch_id, watermark_minutes(p)))
        .collect()
}

fn count_query(
    s: &Session,
    ds: &Dataset<Ev, shape::Watermarked>,
    table: &str,
) -> DataStreamWriter<AggRow<String, u64>> {
    let _ = s;
    ds.group_by_window(|e| e.key.clone(), tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Append)
        .memory(table)
}

#[test]
fn watermark_progresses_across_batches_and_never_goes_back() {
    let clock = ManualClock::new(0);
    let s = session_on(&clock);
    let input = MemoryStream::new();
    let ds = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "10 minutes");
    let q = count_query(&s, &ds, "wm").start().unwrap();
    for batch in [
        vec![ev("a", 30)],
        vec![ev("a", 25)],
        vec![ev("a", 50), ev("b", 41)],
        vec![ev("a", 5)],
    ] {
        input.add_data(batch);
        q.process_all_available().unwrap();
    }
    // Batch 0 runs at 0 and moves it to 20 → no-data batch 1 at 20; a smaller max (25) does not
    // move it back; 50 moves it to 40 → no-data batch; a late row changes nothing.
    assert_eq!(
        watermarks(&q),
        [(0, 0), (1, 20), (2, 20), (3, 20), (4, 40), (5, 40)]
    );
    let state = q.resume_state();
    assert_eq!(state.watermark.watermark, min(40));
    assert_eq!(state.watermark.inputs[0].max_event_time, Some(min(50)));
    assert_eq!(state.next_batch_id, 6);
    q.stop().unwrap();
}

/// The watermark's rows are observed before any filter: a row a filter removes still moves
/// the watermark (Spark's EventTimeWatermark sits below the filter).
#[test]
fn rows_filtered_out_after_with_watermark_still_move_it() {
    let s = session();
    let input = MemoryStream::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "10 minutes")
        .filter(|e| e.key != "drop")
        .group_by_window(|e| e.key.clone(), tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Append)
        .memory("filtered")
        .start()
        .unwrap();
    input.add_data([ev("a", 1), ev("drop", 50)]);
    q.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("filtered").unwrap();
    assert_eq!(window_rows(&table.rows()), [(0, 10, "a".to_string(), 1)]);
    q.stop().unwrap();
}

/// A watermarked dataset read by two branches (fan-out) is computed once per batch: its
/// statistics are not counted twice, and the shared batch is handed to both readers.
#[test]
fn fan_out_of_a_watermarked_dataset_reads_each_batch_once_per_reader() {
    let s = session();
    let input = MemoryStream::new();
    let base = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "10 minutes");
    let a = base.filter(|e| e.key == "a");
    let b = base.filter(|e| e.key != "a");
    let q = a
        .union(&b)
        .union(&base)
        .group_by_window(|e| e.key.clone(), tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .memory("fan")
        .start()
        .unwrap();
    input.add_data([ev("a", 1), ev("b", 3)]);
    q.process_all_available().unwrap();
    input.add_data([ev("a", 2)]);
    q.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("fan").unwrap();
    let batches = table.batches();
    assert_eq!(
        window_rows(&batches[0].1),
        [(0, 10, "a".to_string(), 2), (0, 10, "b".to_string(), 2)]
    );
    assert_eq!(window_rows(&batches[1].1), [(0, 10, "a".to_string(), 4)]);
    let p = &q.recent_progress()[0];
    assert_eq!(p.num_input_rows, 2);
    assert_eq!(p.event_time.avg.as_deref(), Some("1970-01-01T00:02:00.000Z"));
    q.stop().unwrap();
}

#[test]
fn a_restarted_query_resumes_its_id_offsets_and_watermark() {
    let clock = ManualClock::new(0);
    let s = session_on(&clock);
    let dir = tempfile::tempdir().unwrap();
    let input = MemoryStream::new();
    let ds = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "10 minutes");
    let first = count_query(&s, &ds, "restart")
        .checkpoint_location(dir.path())
        .start()
        .unwrap();
    input.add_data([ev("a", 22), ev("a", 25)]);
    first.process_all_available().unwrap();
    let id = first.id().to_string();
    first.stop().unwrap();
    assert_eq!(first.resume_state().watermark.watermark, min(15));

    // Offsets, watermark and the aggregation's state come back from the checkpoint.
    input.add_data([ev("a", 3), ev("a", 36)]);
    let second = count_query(&s, &ds, "restart")
        .checkpoint_location(dir.path())
        .start()
        .unwrap();
    second.process_all_available().unwrap();
    assert_eq!(second.id(), id, "the id is stable across restarts");
    assert_ne!(second.run_id(), first.run_id());
    // Batch ids continue; the first batch of the new run used the restored watermark 15 (so
    // the row at minute 3, whose window [0, 10) had closed, was too late), and the old rows
    // were not read again.
    assert_eq!(watermarks(&second), [(2, 15), (3, 26)]);
    let resumed = &second.recent_progress()[0];
    assert_eq!(resumed.num_input_rows, 2);
    assert_eq!(resumed.sources[0].start_offset, serde_json::json!(1));
    assert_eq!(resumed.state_operators[0].num_rows_dropped_by_watermark, 1);
    // The open window [20, 30) came back from the checkpoint; 36 opened [30, 40).
    assert_eq!(resumed.state_operators[0].num_rows_total, 2);
    second.stop().unwrap();

    // A query of another pipeline is refused on that checkpoint.
    let other = s.read_stream::<Ev>().memory(&input);
    let err = other
        .write_stream()
        .memory("other")
        .checkpoint_location(dir.path())
        .start()
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot restart from the checkpoint"), "{err}");
}

#[test]
fn min_policy_holds_at_the_start_until_every_input_has_data() {
    let clock = ManualClock::new(0);
    let s = session_on(&clock);
    let (left, right) = (MemoryStream::new(), MemoryStream::new());
    let l = s
        .read_stream::<Ev>()
        .memory(&left)
        .with_watermark(|e| e.ts, "5 minutes");
    let r = s
        .read_stream::<Ev>()
        .memory(&right)
        .with_watermark(|e| e.ts, "10 minutes");
    let q = count_query(&s, &l.union(&r), "min").start().unwrap();
    left.add_data([ev("a", 60)]);
    q.process_all_available().unwrap();
    left.add_data([ev("a", 70)]);
    q.process_all_available().unwrap();
    assert_eq!(
        q.resume_state().watermark.watermark,
        min(0),
        "the right input has no data yet"
    );
    right.add_data([ev("b", 40)]);
    q.process_all_available().unwrap();
    // min(70 − 5, 40 − 10) = 30
    assert_eq!(q.resume_state().watermark.watermark, min(30));
    q.stop().unwrap();
}

/// Two watermarked inputs under the min policy: the watermark stays at the epoch until both
/// have data, then follows the slower one.
#[test]
fn min_policy_over_a_union_of_two_watermarked_inputs() {
    let s = session();
    let left = MemoryStream::new();
    let right = MemoryStream::new();
    let l = s
        .read_stream::<Ev>()
        .memory(&left)
        .with_watermark(|e| e.ts, "5 minutes");
    let r = s
        .read_stream::<Ev>()
        .memory(&right)
        .with_watermark(|e| e.ts, "1 minute");
    let q = l
        .union(&r)
        .group_by_window(|e| e.key.clone(), tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .memory("minpol")
        .start()
        .unwrap();
    left.add_data([ev("l", 60)]);
    q.process_all_available().unwrap();
    right.add_data([ev("r", 20)]);
    q.process_all_available().unwrap();
    left.add_data([ev("l", 61)]);
    q.process_all_available().unwrap();
    let wms: Vec<i64> = q.recent_progress().iter().map(watermark_minutes).collect();
    // After batch 0 only the left input has data: held at 0. After batch 1: min(55, 19) = 19
    // (plus its no-data batch). It never goes back.
    assert_eq!(wms, [0, 0, 19, 19], "{wms:?}");
    q.stop().unwrap();
}

#[test]
fn max_policy_follows_the_fastest_input() {
    let clock = ManualClock::new(0);
    let s = session_on(&clock);
    let (left, right) = (MemoryStream::new(), MemoryStream::new());
    let l = s
        .read_stream::<Ev>()
        .memory(&left)
        .with_watermark(|e| e.ts, "5 minutes");
    let r = s
        .read_stream::<Ev>()
        .memory(&right)
        .with_watermark(|e| e.ts, "10 minutes");
    let q = count_query(&s, &l.union(&r), "max")
        .multiple_watermark_policy(MultipleWatermarkPolicy::Max)
        .start()
        .unwrap();
    left.add_data([ev("a", 60)]);
    q.process_all_available().unwrap();
    assert_eq!(q.resume_state().watermark.watermark, min(55));
    right.add_data([ev("b", 100)]);
    q.process_all_available().unwrap();
    assert_eq!(q.resume_state().watermark.watermark, min(90));
    q.stop().unwrap();
}

#[test]
fn an_idle_input_stops_holding_the_minimum_back() {
    let clock = ManualClock::new(0);
    let s = session_on(&clock);
    let (left, right) = (MemoryStream::new(), MemoryStream::new());
    let l = s
        .read_stream::<Ev>()
        .memory(&left)
        .with_watermark(|e| e.ts, "5 minutes");
    let r = s
        .read_stream::<Ev>()
        .memory(&right)
        .with_watermark(|e| e.ts, "5 minutes");
    let q = count_query(&s, &l.union(&r), "idle")
        .watermark_idle_timeout("1 minute")
        .start()
        .unwrap();
    left.add_data([ev("a", 60)]);
    q.process_all_available().unwrap();
    assert_eq!(
        q.resume_state().watermark.watermark,
        min(0),
        "right is not idle yet"
    );
    clock.advance(Duration::minutes(2)).unwrap();
    left.add_data([ev("a", 61)]);
    q.process_all_available().unwrap();
    assert_eq!(
        q.resume_state().watermark.watermark,
        min(56),
        "right idle for 2 minutes"
    );
    q.stop().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Late rows
// ---------------------------------------------------------------------------------------------

/// A row on the edge: event time exactly equal to the watermark is late (`≤`), one just after
/// it is not; a window whose end equals the watermark is closed.
#[test]
fn lateness_boundary_is_inclusive_of_the_watermark() {
    let mut t = windowed_count_test(tumbling_window("5 minutes"), OutputMode::Update);
    t.add_data([ev("x", 20)]) // watermark -> 10
        .check_answer([w(20, 25, "x", 1)]);
    // Window [5, 10) ends at the watermark: closed. Window [10, 15) is open.
    t.add_data([ev("late", 9), ev("ok", 10)])
        .check_new_answer([w(10, 15, "ok", 1)]);
    assert_eq!(t.rows_dropped_by_watermark(), 1);
}

/// Sliding windows: a row older than the watermark can still fall into a later window that is
/// open; only its closed windows are dropped (Spark counts each row-window pair).
#[test]
fn a_partly_late_row_counts_in_its_open_sliding_window_only() {
    let mut t = windowed_count_test(window("10 minutes", "5 minutes"), OutputMode::Update);
    t.add_data([ev("x", 20)]); // watermark -> 10
    // ts 7 belongs to [0, 10) (closed) and [5, 15) (open).
    t.add_data([ev("a", 7)]).check_last_batch([w(5, 15, "a", 1)]);
    assert_eq!(t.state_operators()[0].num_rows_dropped_by_watermark, 1);
}

/// A query without a stateful operator never drops a row, however late.
#[test]
fn a_stateless_query_with_a_watermark_keeps_late_rows() {
    let mut t = StreamTest::new(|s, input: &MemoryStream<Ev>| {
        s.read_stream::<Ev>()
            .memory(input)
            .with_watermark(|e| e.ts, "1 minute")
            .filter(|e| e.key != "skip")
            .write_stream()
    })
    .unwrap();
    t.add_data([ev("a", 100)]);
    t.add_data([ev("old", 1), ev("skip", 1)])
        .check_answer([ev("a", 100), ev("old", 1)]);
    // No stateful operator: no no-data batch either, although the watermark moved.
    assert_eq!(t.batches().len(), 2);
}

/// An aggregation keyed by value only (no window) never closes its groups, so the watermark
/// drops nothing there, as in Spark.
#[test]
fn a_key_only_aggregation_does_not_drop_late_rows() {
    let mut t = StreamTest::new(|s, input: &MemoryStream<Ev>| {
        s.read_stream::<Ev>()
            .memory(input)
            .with_watermark(|e| e.ts, "10 minutes")
            .group_by(|e| e.key.clone())
            .count()
            .map(|r| (r.key, r.value))
            .write_stream()
            .output_mode(OutputMode::Update)
    })
    .unwrap();
    t.add_data([ev("a", 30)]).check_answer([("a".to_string(), 1)]);
    t.add_data([ev("a", 5)]) // older than the watermark (20)
        .check_new_answer([("a".to_string(), 2)]);
    assert_eq!(t.state_operators()[0].num_rows_dropped_by_watermark, 0);
}

/// The watermark survives a stop and a start on the same checkpoint: the first batch of the
/// new run drops a row that was late before the stop.
#[test]
fn the_watermark_survives_a_restart_of_the_test_kit() {
    let mut t = windowed_count_test(tumbling_window("10 minutes"), OutputMode::Append);
    t.add_data([ev("a", 22), ev("a", 25)]).check_answer([]);
    assert_eq!(t.watermark(), Some(min(15)));
    t.stop_stream().start_stream();
    // 3 is late ([0, 10) closed at watermark 15); 45 moves the watermark to 35, which closes
    // [20, 30), open since the first run.
    t.add_data([ev("a", 3), ev("a", 45)])
        .check_answer([w(20, 30, "a", 2)])
        .check_state_rows(&[1]);
    assert_eq!(t.rows_dropped_by_watermark(), 1);
    assert_eq!(t.watermark(), Some(min(35)));
}
