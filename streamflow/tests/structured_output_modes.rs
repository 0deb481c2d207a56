//! Output modes of event-time aggregations: Append emits a window once, after the watermark
//! passes its end; Update emits the changed rows; Complete keeps everything; late rows are
//! dropped only by stateful operators and counted; disallowed combinations are rejected.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use streamflow::Error;
use streamflow::structured::*;

mod common;
use common::{Ev, ev, min, session, w, window_rows, windowed_count_test};

#[test]
fn append_emits_each_window_once_after_the_watermark_passes_its_end() {
    let mut t = windowed_count_test(tumbling_window("10 minutes"), OutputMode::Append);
    // Batch 0 ran with watermark 0 and moved it to 12 − 10 = minute 2; the no-data batch 1
    // ran with it: no window has ended by minute 2.
    t.add_data([ev("a", 1), ev("a", 5), ev("b", 12)]).check_answer([]);
    let last = t.last_progress().unwrap();
    assert_eq!((last.batch_id, last.num_input_rows), (1, 0));
    assert_eq!(t.watermark(), Some(min(2)));

    // Batch 2 (watermark 2) counted a@8 into [0, 10) and moved the watermark to 15; the
    // no-data batch 3 emitted [0, 10), once.
    t.add_data([ev("a", 8), ev("b", 25)])
        .check_new_answer([w(0, 10, "a", 3)])
        .check_last_batch([w(0, 10, "a", 3)]);
    let batches = t.batches();
    assert_eq!(batches.iter().map(|b| b.0).collect::<Vec<_>>(), [0, 1, 2, 3]);
    assert!(batches[..3].iter().all(|b| b.1.is_empty()));
    let no_data = t.last_progress().unwrap();
    assert_eq!((no_data.batch_id, no_data.num_input_rows), (3, 0));
    assert_eq!(no_data.event_time.watermark_time(), Some(min(15)));
    assert_eq!(t.state_operators()[0].num_rows_removed, 1);

    // A row for the closed window is dropped and counted; the window is never emitted again.
    // Watermark 31 closed [10, 20) and [20, 30).
    t.add_data([ev("a", 3), ev("b", 41)]).check_answer([
        w(0, 10, "a", 3),
        w(10, 20, "b", 1),
        w(20, 30, "b", 1),
    ]);
    let progress = t.query().unwrap().recent_progress();
    let batch4 = progress.iter().find(|p| p.batch_id == 4).unwrap();
    assert_eq!(batch4.state_operators[0].num_rows_dropped_by_watermark, 1);
    // Emitted windows were dropped from state: only [40, 50) for b remains.
    t.check_state_rows(&[1]);
}

/// Append: a window is emitted exactly once, in the batch whose watermark passes its end, its
/// state is then gone (numRowsTotal drops, numRowsRemoved counts it), and a row for it that
/// arrives afterwards is dropped and counted, never re-opening the window.
#[test]
fn append_emits_once_drops_state_and_counts_a_late_row_for_the_closed_window() {
    let mut t = windowed_count_test(tumbling_window("10 minutes"), OutputMode::Append);
    // Watermark is now 12 - 10 = 2: nothing closed yet.
    t.add_data([ev("a", 1), ev("a", 2), ev("b", 12)]).check_answer([]);
    // Watermark -> 15 at the end of this batch: [0, 10) closes, once.
    t.add_data([ev("a", 25)]).check_answer([w(0, 10, "a", 2)]);
    let emitted = t.batches().into_iter().filter(|(_, r)| !r.is_empty()).count();
    assert_eq!(emitted, 1);
    assert_eq!(t.watermark(), Some(min(15)));
    let state = &t.state_operators()[0];
    assert_eq!(state.num_rows_removed, 1, "{state:?}");
    // [10,20) b and [20,30) a are open.
    t.check_state_rows(&[2]);

    // A row for the closed window [0, 10): dropped, counted, the window is not emitted again.
    t.add_data([ev("a", 9)])
        .check_new_answer([])
        .check_answer([w(0, 10, "a", 2)]);
    let last = t.last_progress().unwrap();
    assert_eq!(last.num_input_rows, 1);
    assert_eq!(last.state_operators[0].num_rows_dropped_by_watermark, 1);
    assert_eq!(last.state_operators[0].num_rows_updated, 0);
}

#[test]
fn update_emits_only_the_rows_changed_in_the_batch() {
    let mut t = windowed_count_test(tumbling_window("10 minutes"), OutputMode::Update);
    t.add_data([ev("a", 1), ev("b", 2), ev("a", 3)])
        .check_last_batch([w(0, 10, "a", 2), w(0, 10, "b", 1)]);
    // a did not change; batch 2 is the no-data batch after the watermark moved to minute 1:
    // nothing changed.
    t.add_data([ev("b", 4), ev("c", 11)])
        .check_new_answer([w(0, 10, "b", 2), w(10, 20, "c", 1)])
        .check_last_batch([]);
    let batches = t.batches();
    assert_eq!(batches.iter().map(|b| b.0).collect::<Vec<_>>(), [0, 1, 2]);
}

/// Update: only the groups that changed in a batch are written; closed windows are evicted
/// (counted as removed) without being written again; a no-data batch writes nothing.
#[test]
fn update_writes_changed_rows_and_evicts_closed_windows_silently() {
    let mut t = windowed_count_test(tumbling_window("10 minutes"), OutputMode::Update);
    t.add_data([ev("a", 1), ev("b", 2)])
        .check_new_answer([w(0, 10, "a", 1), w(0, 10, "b", 1)]);
    t.add_data([ev("a", 3)]).check_new_answer([w(0, 10, "a", 2)]);
    // Watermark -> 21: [0,10) closes in the no-data batch, which writes nothing.
    t.add_data([ev("c", 31)])
        .check_new_answer([w(30, 40, "c", 1)])
        .check_last_batch([]);
    assert_eq!(t.batches().len(), 4, "3 data batches and 1 no-data batch");
    let p = t.last_progress().unwrap();
    assert_eq!(p.num_input_rows, 0);
    assert_eq!(p.state_operators[0].num_rows_removed, 2);
    t.check_state_rows(&[1]);
}

#[test]
fn complete_keeps_and_emits_everything_every_batch() {
    let mut t = windowed_count_test(tumbling_window("10 minutes"), OutputMode::Complete);
    t.add_data([ev("a", 1), ev("b", 2)]);
    t.add_data([ev("a", 45)]);
    // Watermark 35 is far past [0, 10), which Complete mode keeps anyway; a row for it still
    // counts.
    t.add_data([ev("a", 2)])
        .check_answer([w(0, 10, "a", 2), w(0, 10, "b", 1), w(40, 50, "a", 1)]);
    let state = &t.state_operators()[0];
    assert_eq!(state.num_rows_removed, 0);
    assert_eq!(state.num_rows_dropped_by_watermark, 0);
    t.check_state_rows(&[3]);
}

/// Complete: state is never dropped and a row older than the watermark is still counted
/// (Spark's Complete mode keeps every group, so nothing is too late).
#[test]
fn complete_keeps_old_windows_and_accepts_late_rows() {
    let mut t = windowed_count_test(tumbling_window("10 minutes"), OutputMode::Complete);
    t.add_data([ev("a", 1)]).check_answer([w(0, 10, "a", 1)]);
    t.add_data([ev("a", 45)]); // watermark -> 35
    t.add_data([ev("a", 2)]) // older than the watermark
        .check_answer([w(0, 10, "a", 2), w(40, 50, "a", 1)]);
    for p in t.query().unwrap().recent_progress() {
        assert_eq!(p.state_operators[0].num_rows_dropped_by_watermark, 0);
        assert_eq!(p.state_operators[0].num_rows_removed, 0);
    }
}

/// A query stopped and started again on its checkpoint goes on where it was: its open windows
/// come back from the state, and a window is still emitted once.
#[test]
fn append_resumes_its_open_windows_after_a_restart() {
    let mut t = windowed_count_test(tumbling_window("10 minutes"), OutputMode::Append);
    t.add_data([ev("a", 1), ev("a", 5), ev("b", 12)]).check_answer([]);
    t.stop_stream().add_data([ev("a", 8), ev("b", 25)]);
    t.start_stream()
        .check_new_answer([w(0, 10, "a", 3)])
        .check_state_rows(&[2]);
    t.add_data([ev("b", 41)])
        .check_answer([w(0, 10, "a", 3), w(10, 20, "b", 1), w(20, 30, "b", 1)]);
}

#[test]
fn late_rows_are_dropped_only_by_stateful_operators() {
    let s = session();
    let input = MemoryStream::new();
    let watermarked = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "5 minutes");
    // Stateless: every row passes, late or not.
    let passthrough = watermarked
        .map(|e| e.key)
        .write_stream()
        .memory("all_rows")
        .start()
        .unwrap();
    // Stateful: a windowed count drops the rows whose window already closed.
    let counts = watermarked
        .group_by_window(|e| e.key.clone(), tumbling_window("5 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .memory("key_counts")
        .start()
        .unwrap();
    input.add_data([ev("a", 20)]);
    input.add_data([]);
    passthrough.process_all_available().unwrap();
    counts.process_all_available().unwrap();
    // Both watermarks are now 15: the row at minute 10 is late for its closed window
    // [10, 15); the one at 12 too; the one at 15 belongs to the open window [15, 20).
    input.add_data([ev("late", 10), ev("late", 12), ev("late", 15), ev("a", 16)]);
    passthrough.process_all_available().unwrap();
    counts.process_all_available().unwrap();
    let mut all = s.memory_table::<String>("all_rows").unwrap().rows();
    all.sort();
    assert_eq!(all, ["a", "a", "late", "late", "late"]);
    let last = counts.last_progress().unwrap();
    assert_eq!(last.state_operators[0].num_rows_dropped_by_watermark, 2);
    assert_eq!(
        window_rows(
            &s.memory_table::<AggRow<String, u64>>("key_counts")
                .unwrap()
                .last_batch()
                .unwrap()
                .1
        ),
        [(15, 20, "a".to_string(), 1), (15, 20, "late".to_string(), 1)]
    );
    assert!(passthrough.last_progress().unwrap().state_operators.is_empty());
    passthrough.stop().unwrap();
    counts.stop().unwrap();
}

fn rejected<T: streamflow::Data>(writer: DataStreamWriter<T>) -> String {
    match writer.start() {
        Err(Error::InvalidGraph(problems)) => problems.join("\n"),
        Err(other) => panic!("expected an invalid graph, got {other}"),
        Ok(q) => {
            q.stop().unwrap();
            panic!("the query started")
        }
    }
}

#[test]
fn every_disallowed_output_mode_is_rejected_before_running() {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let events = s.read_stream::<Ev>().memory(&input);

    // Aggregation without watermark: Append is not allowed …
    let msg = rejected(
        events
            .group_by(|e| e.key.clone())
            .count()
            .write_stream()
            .output_mode(OutputMode::Append)
            .memory("x"),
    );
    assert!(msg.contains("Append output mode not supported"), "{msg}");
    assert!(msg.contains("`group_by(..).count()`"), "{msg}");
    // … also with an event-time window but no watermark …
    let msg = rejected(
        events
            .with_event_time(|e| e.ts)
            .group_by_window(|e| e.key.clone(), tumbling_window("1 minute"))
            .count()
            .write_stream()
            .memory("x"),
    );
    assert!(
        msg.contains("`group_by_window(..).count()` cannot run in Append mode because it has no watermark"),
        "{msg}"
    );
    // … and with a watermark but no event-time window in the key.
    let msg = rejected(
        events
            .with_watermark(|e| e.ts, "1 minute")
            .group_by(|e| e.key.clone())
            .sum(|_| 1_u64)
            .write_stream()
            .memory("x"),
    );
    assert!(
        msg.contains(
            "`group_by(..).sum()` cannot run in Append mode because it is not grouped by an event-time window"
        ),
        "{msg}"
    );

    // No aggregation: Complete is not allowed.
    let msg = rejected(
        events
            .map(|e| e.key)
            .write_stream()
            .output_mode(OutputMode::Complete)
            .memory("x"),
    );
    assert!(
        msg.contains("Complete output mode not supported when there are no streaming aggregations"),
        "{msg}"
    );
    assert!(msg.contains("memory_stream -> map"), "{msg}");

    // Two aggregations in a row.
    let msg = rejected(
        events
            .group_by(|e| e.key.clone())
            .count()
            .group_by(|r| r.value)
            .count()
            .write_stream()
            .output_mode(OutputMode::Complete)
            .memory("x"),
    );
    assert!(
        msg.contains("multiple streaming aggregations are not supported"),
        "{msg}"
    );

    // File sinks take Append only.
    let dir = tempfile::tempdir().unwrap();
    let msg = rejected(
        events
            .group_by(|e| e.key.clone())
            .count()
            .write_stream()
            .output_mode(OutputMode::Update)
            .json(dir.path()),
    );
    assert!(msg.contains("does not support Update output mode"), "{msg}");

    // Every allowed combination starts.
    for mode in [OutputMode::Append, OutputMode::Update, OutputMode::Complete] {
        let q = events
            .with_watermark(|e| e.ts, "1 minute")
            .group_by_window(|e| e.key.clone(), window("10 minutes", "5 minutes"))
            .count()
            .write_stream()
            .output_mode(mode)
            .memory("ok")
            .start()
            .unwrap();
        q.stop().unwrap();
    }
    for mode in [OutputMode::Update, OutputMode::Complete] {
        let q = events
            .group_by(|e| e.key.clone())
            .count()
            .write_stream()
            .output_mode(mode)
            .memory("ok")
            .start()
            .unwrap();
        q.stop().unwrap();
    }
}

#[test]
fn malformed_durations_and_window_geometry_are_reported_together() {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let msg = rejected(
        s.read_stream::<Ev>()
            .memory(&input)
            .with_watermark(|e| e.ts, "10 minuts")
            .group_by_window(|e| e.key.clone(), window("5 minutes", "10 minutes"))
            .count()
            .write_stream()
            .trigger(Trigger::processing_time("1 fortnight"))
            .memory("x"),
    );
    assert!(
        msg.contains("with_watermark: invalid duration: unknown unit \"minuts\""),
        "{msg}"
    );
    assert!(
        msg.contains("must be less than or equal to the window size"),
        "{msg}"
    );
    assert!(msg.contains("Trigger::processing_time"), "{msg}");
}
