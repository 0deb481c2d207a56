//! Watermarks: max event time seen in earlier batches minus the delay, used from the next
//! batch, never going back, surviving a restart; several inputs under the min and max
//! policies; idle inputs.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use streamflow::structured::*;
use streamflow::{Duration, ManualClock, Time};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Ev {
    key: String,
    ts: Time,
}

fn min(m: i64) -> Time {
    Time::from_millis(m * 60_000)
}

fn ev(key: &str, minute: i64) -> Ev {
    Ev {
        key: key.to_string(),
        ts: min(minute),
    }
}

fn session(clock: &ManualClock) -> Session {
    Session::builder()
        .parallelism(2)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// The watermark each batch ran with, in minutes.
fn watermarks(q: &StreamingQuery) -> Vec<(u64, i64)> {
    q.recent_progress()
        .iter()
        .map(|p| {
            let text = p.event_time.watermark.clone().unwrap_or_default();
            let t = chrono::DateTime::parse_from_rfc3339(&text).unwrap();
            (p.batch_id, t.timestamp_millis() / 60_000)
        })
        .collect()
}

fn count_query(s: &Session, ds: &Dataset<Ev>, table: &str) -> DataStreamWriter<AggRow<String, u64>> {
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
    let s = session(&clock);
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

#[test]
fn a_restarted_query_resumes_its_id_offsets_and_watermark() {
    let clock = ManualClock::new(0);
    let s = session(&clock);
    let input = MemoryStream::new();
    let ds = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "10 minutes");
    let first = count_query(&s, &ds, "restart").start().unwrap();
    input.add_data([ev("a", 22), ev("a", 25)]);
    first.process_all_available().unwrap();
    let id = first.id().to_string();
    first.stop().unwrap();
    // Taken from the stopped query, the state carries the open window [20, 30) as well.
    let saved = first.resume_state();
    assert_eq!(saved.watermark.watermark, min(15));

    // Offsets, watermark and the aggregation's state survive serialization, as a checkpoint
    // would keep them: the query resumes from the JSON form with its open window.
    let from_json: ResumeState = serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
    assert_eq!(from_json, saved);

    input.add_data([ev("a", 3), ev("a", 36)]);
    let second = count_query(&s, &ds, "restart")
        .resume_from(from_json)
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
    assert_eq!(resumed.sources[0].start_offset, 1);
    assert_eq!(resumed.state_operators[0].num_rows_dropped_by_watermark, 1);
    // The open window [20, 30) came back from the JSON form; 36 opened [30, 40).
    assert_eq!(resumed.state_operators[0].num_rows_total, 2);
    second.stop().unwrap();

    // A state from another pipeline is refused.
    let other = s.read_stream::<Ev>().memory(&input);
    let err = other
        .write_stream()
        .memory("other")
        .resume_from(second.resume_state())
        .start()
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot resume"), "{err}");
}

#[test]
fn min_policy_holds_at_the_start_until_every_input_has_data() {
    let clock = ManualClock::new(0);
    let s = session(&clock);
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

#[test]
fn max_policy_follows_the_fastest_input() {
    let clock = ManualClock::new(0);
    let s = session(&clock);
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
    let s = session(&clock);
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
    clock.advance(Duration::minutes(2));
    left.add_data([ev("a", 61)]);
    q.process_all_available().unwrap();
    assert_eq!(
        q.resume_state().watermark.watermark,
        min(56),
        "right idle for 2 minutes"
    );
    q.stop().unwrap();
}
