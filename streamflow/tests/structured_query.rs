//! The query handle: triggers on a manual clock (and `process_all_available` waiting for a due
//! no-data batch), listeners, status, progress as JSON (also of a no-data batch), explain,
//! failures in user code, and a session sharing a DStream context's engine.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::sync::{Arc, Mutex};

use streamflow::structured::*;
use streamflow::{Duration, Error, ManualClock, StreamingContext};

mod common;
use common::{
    Ev, batch_events, ev, session_on, wait_for_batch, watermark_minutes, window_rows, windowed_count,
};

#[derive(Default)]
struct Events(Mutex<Vec<String>>);

impl StreamingQueryListener for Events {
    fn on_query_started(&self, e: &QueryStartedEvent) {
        self.0
            .lock()
            .unwrap()
            .push(format!("started {}", e.name.clone().unwrap_or_default()));
    }
    fn on_query_progress(&self, p: &QueryProgress) {
        self.0
            .lock()
            .unwrap()
            .push(format!("progress {} rows {}", p.batch_id, p.num_input_rows));
    }
    fn on_query_idle(&self, _: &QueryIdleEvent) {
        self.0.lock().unwrap().push("idle".into());
    }
    fn on_query_terminated(&self, e: &QueryTerminatedEvent) {
        self.0
            .lock()
            .unwrap()
            .push(format!("terminated {:?}", e.exception));
    }
}

#[test]
fn processing_time_trigger_runs_at_interval_multiples_on_the_clock() {
    let clock = ManualClock::new(0);
    let s = Session::builder().clock(clock.clone()).build().unwrap();
    let events = Arc::new(Events::default());
    s.add_listener(events.clone());
    let input = MemoryStream::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .map(|e| e.key)
        .write_stream()
        .trigger(Trigger::processing_time("10 seconds"))
        .query_name("words")
        .memory("words")
        .start()
        .unwrap();
    q.process_all_available().unwrap(); // the first trigger, at 0, found nothing
    input.add_data([ev("a", 0)]);
    input.add_data([ev("b", 0)]);
    clock.advance(Duration::seconds(9)).unwrap();
    // The next trigger is at 10 s: nothing can have run at 9 s.
    assert!(s.memory_table::<String>("words").unwrap().rows().is_empty());
    clock.advance(Duration::seconds(1)).unwrap();
    q.process_all_available().unwrap();
    let table = s.memory_table::<String>("words").unwrap();
    assert_eq!(table.batches(), [(0, vec!["a".to_string(), "b".to_string()])]);
    let p = q.last_progress().unwrap();
    assert_eq!(p.timestamp, "1970-01-01T00:00:10.000Z");
    q.stop().unwrap();
    let got = events.0.lock().unwrap().clone();
    assert_eq!(
        got,
        [
            "started words",
            "idle",
            "progress 0 rows 2",
            "idle",
            "terminated None"
        ]
    );
}

/// Under a processing-time trigger, `process_all_available` after the clock passed the time of
/// a pending no-data batch waits for that batch (which closes the window in Append mode).
#[test]
fn process_all_available_waits_for_a_due_no_data_batch() {
    let clock = ManualClock::new(0);
    let s = session_on(&clock);
    let input = MemoryStream::new();
    let q = windowed_count(
        &s,
        &input,
        tumbling_window("10 minutes"),
        OutputMode::Append,
        "due",
    )
    .trigger(Trigger::processing_time("10 seconds"))
    .start()
    .unwrap();
    input.add_data([ev("a", 22), ev("a", 45)]);
    clock.advance(Duration::seconds(10)).unwrap();
    q.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("due").unwrap();
    assert!(
        table.rows().is_empty(),
        "the window closes only in the next batch"
    );
    for _ in 0..3 {
        clock.advance(Duration::seconds(10)).unwrap();
        q.process_all_available().unwrap();
    }
    assert_eq!(window_rows(&table.rows()), [(20, 30, "a".to_string(), 1)]);
    q.stop().unwrap();
}

#[test]
fn progress_serializes_with_sparks_field_names() {
    let s = Session::builder().clock(ManualClock::new(0)).build().unwrap();
    let input = MemoryStream::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "10 minutes")
        .group_by_window(|e| e.key.clone(), window("10 minutes", "5 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .memory("progress")
        .start()
        .unwrap();
    input.add_data([ev("a", 1), ev("b", 7)]);
    q.process_all_available().unwrap();
    let p = &q.recent_progress()[0];
    assert_eq!(p.event_time.min.as_deref(), Some("1970-01-01T00:01:00.000Z"));
    assert_eq!(p.event_time.max.as_deref(), Some("1970-01-01T00:07:00.000Z"));
    assert_eq!(p.event_time.avg.as_deref(), Some("1970-01-01T00:04:00.000Z"));
    assert_eq!(p.state_operators[0].num_rows_updated, 4, "two windows per row");
    assert_eq!(p.sink.num_output_rows, 4);
    let json: serde_json::Value = serde_json::to_value(p).unwrap();
    for field in [
        "id",
        "runId",
        "batchId",
        "numInputRows",
        "inputRowsPerSecond",
        "processedRowsPerSecond",
    ] {
        assert!(json.get(field).is_some(), "{field} missing in {json}");
    }
    for d in [
        "latestOffset",
        "walCommit",
        "addBatch",
        "sink",
        "triggerExecution",
    ] {
        assert!(json["durationMs"].get(d).is_some(), "{d}");
    }
    let state = &json["stateOperators"][0];
    for field in [
        "numRowsTotal",
        "numRowsUpdated",
        "numRowsRemoved",
        "numRowsDroppedByWatermark",
        "memoryUsedBytes",
    ] {
        assert!(state.get(field).is_some(), "{field}");
    }
    assert!(state["memoryUsedBytes"].as_u64().unwrap() > 0);
    assert_eq!(json["sources"][0]["endOffset"], 1);
    assert_eq!(json["eventTime"]["watermark"], "1970-01-01T00:00:00.000Z");
    let back: QueryProgress = serde_json::from_value(json).unwrap();
    assert_eq!(&back, p);
    assert!(
        q.explain().contains("group_by_window(..).count()"),
        "{}",
        q.explain()
    );
    assert!(q.explain().contains("Update mode"), "{}", q.explain());
    let status = q.status();
    assert_eq!(status.message, "Waiting for data to arrive");
    assert!(!status.is_trigger_active);
    q.stop().unwrap();
    assert_eq!(q.status().message, "Stopped");
}

/// Progress of a batch that found data and of the no-data batch after it: rates, event-time
/// statistics and the watermark, also in the JSON form.
#[test]
fn progress_rates_and_event_time_of_a_no_data_batch() {
    let clock = ManualClock::new(0);
    let s = session_on(&clock);
    let events = batch_events(&s);
    let input = MemoryStream::new();
    input.add_data([ev("a", 30), ev("b", 31), ev("c", 35), ev("d", 40)]);
    let q = windowed_count(
        &s,
        &input,
        tumbling_window("10 minutes"),
        OutputMode::Append,
        "rates",
    )
    .trigger(Trigger::processing_time("2 seconds"))
    .start()
    .unwrap();
    wait_for_batch(&events, 0);
    clock.advance(Duration::seconds(2)).unwrap();
    wait_for_batch(&events, 1);
    let progress = q.recent_progress();
    assert_eq!(progress.len(), 2);
    let (first, second) = (&progress[0], &progress[1]);
    assert_eq!(first.num_input_rows, 4);
    assert_eq!(first.input_rows_per_second, 0.0, "no previous trigger");
    assert_eq!(first.event_time.avg.as_deref(), Some("1970-01-01T00:34:00.000Z"));
    assert_eq!(watermark_minutes(first), 0);
    // The no-data batch: no input, no event-time stats, the new watermark.
    assert_eq!(second.num_input_rows, 0);
    assert_eq!(second.input_rows_per_second, 0.0);
    assert!(second.event_time.min.is_none() && second.event_time.avg.is_none());
    assert_eq!(watermark_minutes(second), 30);
    assert_eq!(second.timestamp, "1970-01-01T00:00:02.000Z");
    assert_eq!(second.sources[0].start_offset, second.sources[0].end_offset);
    let json = serde_json::to_value(second).unwrap();
    assert!(json["eventTime"].get("min").is_none(), "{json}");
    assert_eq!(json["eventTime"]["watermark"], "1970-01-01T00:30:00.000Z");
    q.stop().unwrap();
}

#[test]
fn a_panic_in_user_code_stops_the_query_naming_the_operator() {
    let s = Session::builder().clock(ManualClock::new(0)).build().unwrap();
    let events = Arc::new(Events::default());
    s.add_listener(events.clone());
    let input = MemoryStream::<i64>::new();
    let q = s
        .read_stream::<i64>()
        .memory(&input)
        .map(|x| 100 / x)
        .write_stream()
        .memory("div")
        .start()
        .unwrap();
    input.add_data([0]);
    let err = q.process_all_available().unwrap_err();
    assert!(
        matches!(&err, Error::UserCode { operator, .. } if operator == "map"),
        "{err}"
    );
    assert!(q.exception().unwrap().to_string().contains("in operator `map`"));
    assert!(matches!(q.await_termination(), Err(Error::UserCode { .. })));
    let got = events.0.lock().unwrap().clone();
    assert!(got.last().unwrap().starts_with("terminated Some("), "{got:?}");
}

#[test]
fn a_session_from_a_streaming_context_shares_its_engine() {
    let clock = ManualClock::new(0);
    let ssc = StreamingContext::builder()
        .batch_duration(Duration::seconds(1))
        .parallelism(3)
        .clock(clock.clone())
        .build()
        .unwrap();
    let s = ssc.session();
    assert_eq!(s.parallelism(), 3);
    let input = MemoryStream::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .group_by(|e| e.key.clone())
        .count()
        .write_stream()
        .output_mode(OutputMode::Complete)
        .memory("shared")
        .start()
        .unwrap();
    input.add_data([ev("x", 1), ev("x", 2), ev("y", 3)]);
    q.process_all_available().unwrap();
    assert_eq!(
        common::key_counts(&s, "shared"),
        [("x".to_string(), 2), ("y".to_string(), 1)]
    );
    // State partitions follow the parallelism.
    assert_eq!(q.last_progress().unwrap().state_operators[0].num_rows_total, 2);
    q.stop().unwrap();
    assert!(!q.is_active());
}
