//! Review tests for the Structured Streaming vocabulary: the exact semantics of SPEC §3, one
//! behaviour per test.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::path::Path;
use std::sync::{Arc, Mutex};

use streamflow::structured::*;
use streamflow::{ManualClock, Time};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
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

fn session() -> Session {
    Session::builder()
        .parallelism(2)
        .clock(ManualClock::new(0))
        .build()
        .unwrap()
}

/// `(window start minute, window end minute, key, value)`, sorted.
fn rows(batch: &[AggRow<String, u64>]) -> Vec<(i64, i64, String, u64)> {
    let mut out: Vec<_> = batch
        .iter()
        .map(|r| {
            let w = r.window.unwrap();
            (
                w.start.millis() / 60_000,
                w.end.millis() / 60_000,
                r.key.clone(),
                r.value,
            )
        })
        .collect();
    out.sort();
    out
}

/// The watermark each batch ran with, in minutes.
fn watermark_minutes(p: &QueryProgress) -> i64 {
    let text = p.event_time.watermark.clone().unwrap();
    chrono::DateTime::parse_from_rfc3339(&text)
        .unwrap()
        .timestamp_millis()
        / 60_000
}

fn windowed(
    s: &Session,
    input: &MemoryStream<Ev>,
    spec: WindowSpec,
    mode: OutputMode,
    table: &str,
) -> StreamingQuery {
    s.read_stream::<Ev>()
        .memory(input)
        .with_watermark(|e| e.ts, "10 minutes")
        .group_by_window(|e| e.key.clone(), spec)
        .count()
        .write_stream()
        .output_mode(mode)
        .memory(table)
        .start()
        .unwrap()
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Watermark, late rows, output modes
// ---------------------------------------------------------------------------------------------

/// Append: a window is emitted exactly once, in the batch whose watermark passes its end, its
/// state is then gone (numRowsTotal drops, numRowsRemoved counts it), and a row for it that
/// arrives afterwards is dropped and counted, never re-opening the window.
#[test]
fn append_emits_once_drops_state_and_counts_a_late_row_for_the_closed_window() {
    let s = session();
    let input = MemoryStream::new();
    let q = windowed(
        &s,
        &input,
        tumbling_window("10 minutes"),
        OutputMode::Append,
        "append_once",
    );
    input.add_data([ev("a", 1), ev("a", 2), ev("b", 12)]);
    q.process_all_available().unwrap();
    // Watermark is now 12 - 10 = 2: nothing closed yet.
    input.add_data([ev("a", 25)]); // watermark -> 15 at the end of this batch
    q.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("append_once").unwrap();
    let emitted: Vec<_> = table
        .batches()
        .into_iter()
        .filter(|(_, r)| !r.is_empty())
        .collect();
    assert_eq!(emitted.len(), 1, "{emitted:?}");
    assert_eq!(rows(&emitted[0].1), [(0, 10, "a".to_string(), 2)]);
    let last = q.last_progress().unwrap();
    assert_eq!(watermark_minutes(&last), 15);
    let state = &last.state_operators[0];
    assert_eq!(state.num_rows_removed, 1, "{state:?}");
    assert_eq!(
        state.num_rows_total, 2,
        "[10,20) b and [20,30) a are open: {state:?}"
    );

    // A row for the closed window [0, 10): dropped, counted, the window is not emitted again.
    input.add_data([ev("a", 9)]);
    q.process_all_available().unwrap();
    let last = q.last_progress().unwrap();
    assert_eq!(last.num_input_rows, 1);
    assert_eq!(last.state_operators[0].num_rows_dropped_by_watermark, 1);
    assert_eq!(last.state_operators[0].num_rows_updated, 0);
    let all: Vec<_> = table.rows();
    assert_eq!(rows(&all), [(0, 10, "a".to_string(), 2)]);
    q.stop().unwrap();
}

/// A row on the edge: event time exactly equal to the watermark is late (`≤`), one just after
/// it is not; a window whose end equals the watermark is closed.
#[test]
fn lateness_boundary_is_inclusive_of_the_watermark() {
    let s = session();
    let input = MemoryStream::new();
    let q = windowed(
        &s,
        &input,
        tumbling_window("5 minutes"),
        OutputMode::Update,
        "edge",
    );
    input.add_data([ev("x", 20)]); // watermark -> 10
    q.process_all_available().unwrap();
    // Window [5, 10) ends at the watermark: closed. Window [10, 15) is open.
    input.add_data([ev("late", 9), ev("ok", 10)]);
    q.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("edge").unwrap();
    let (_, last) = table
        .batches()
        .into_iter()
        .rev()
        .find(|(_, r)| !r.is_empty())
        .unwrap();
    assert_eq!(rows(&last), [(10, 15, "ok".to_string(), 1)]);
    let dropped: u64 = q
        .recent_progress()
        .iter()
        .map(|p| p.state_operators[0].num_rows_dropped_by_watermark)
        .sum();
    assert_eq!(dropped, 1);
    q.stop().unwrap();
}

/// Sliding windows: a row older than the watermark can still fall into a later window that is
/// open; only its closed windows are dropped (Spark counts each row-window pair).
#[test]
fn a_partly_late_row_counts_in_its_open_sliding_window_only() {
    let s = session();
    let input = MemoryStream::new();
    let q = windowed(
        &s,
        &input,
        window("10 minutes", "5 minutes"),
        OutputMode::Update,
        "partly",
    );
    input.add_data([ev("x", 20)]); // watermark -> 10
    q.process_all_available().unwrap();
    // ts 7 belongs to [0, 10) (closed) and [5, 15) (open).
    input.add_data([ev("a", 7)]);
    q.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("partly").unwrap();
    let (_, last) = table.last_batch().unwrap();
    assert_eq!(rows(&last), [(5, 15, "a".to_string(), 1)]);
    let p = q.last_progress().unwrap();
    assert_eq!(p.state_operators[0].num_rows_dropped_by_watermark, 1);
    q.stop().unwrap();
}

/// Update: only the groups that changed in a batch are written; closed windows are evicted
/// (counted as removed) without being written again; a no-data batch writes nothing.
#[test]
fn update_writes_changed_rows_and_evicts_closed_windows_silently() {
    let s = session();
    let input = MemoryStream::new();
    let q = windowed(
        &s,
        &input,
        tumbling_window("10 minutes"),
        OutputMode::Update,
        "upd",
    );
    input.add_data([ev("a", 1), ev("b", 2)]);
    q.process_all_available().unwrap();
    input.add_data([ev("a", 3)]);
    q.process_all_available().unwrap();
    input.add_data([ev("c", 31)]); // watermark -> 21: [0,10) closes in the no-data batch
    q.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("upd").unwrap();
    let batches = table.batches();
    assert_eq!(
        batches.len(),
        4,
        "3 data batches and 1 no-data batch: {batches:?}"
    );
    assert_eq!(
        rows(&batches[0].1),
        [(0, 10, "a".to_string(), 1), (0, 10, "b".to_string(), 1)]
    );
    assert_eq!(rows(&batches[1].1), [(0, 10, "a".to_string(), 2)]);
    assert_eq!(rows(&batches[2].1), [(30, 40, "c".to_string(), 1)]);
    assert!(batches[3].1.is_empty(), "no-data batch wrote {:?}", batches[3].1);
    let p = q.last_progress().unwrap();
    assert_eq!(p.num_input_rows, 0);
    assert_eq!(p.state_operators[0].num_rows_removed, 2);
    assert_eq!(p.state_operators[0].num_rows_total, 1);
    q.stop().unwrap();
}

/// Complete: state is never dropped and a row older than the watermark is still counted
/// (Spark's Complete mode keeps every group, so nothing is too late).
#[test]
fn complete_keeps_old_windows_and_accepts_late_rows() {
    let s = session();
    let input = MemoryStream::new();
    let q = windowed(
        &s,
        &input,
        tumbling_window("10 minutes"),
        OutputMode::Complete,
        "complete",
    );
    input.add_data([ev("a", 1)]);
    q.process_all_available().unwrap();
    input.add_data([ev("a", 45)]); // watermark -> 35
    q.process_all_available().unwrap();
    input.add_data([ev("a", 2)]); // older than the watermark
    q.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("complete").unwrap();
    assert_eq!(
        rows(&table.rows()),
        [(0, 10, "a".to_string(), 2), (40, 50, "a".to_string(), 1)]
    );
    for p in q.recent_progress() {
        assert_eq!(p.state_operators[0].num_rows_dropped_by_watermark, 0);
        assert_eq!(p.state_operators[0].num_rows_removed, 0);
    }
    q.stop().unwrap();
}

/// A query without a stateful operator never drops a row, however late.
#[test]
fn a_stateless_query_with_a_watermark_keeps_late_rows() {
    let s = session();
    let input = MemoryStream::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "1 minute")
        .filter(|e| e.key != "skip")
        .write_stream()
        .memory("stateless")
        .start()
        .unwrap();
    input.add_data([ev("a", 100)]);
    q.process_all_available().unwrap();
    input.add_data([ev("old", 1), ev("skip", 1)]);
    q.process_all_available().unwrap();
    let table = s.memory_table::<Ev>("stateless").unwrap();
    assert_eq!(table.rows(), [ev("a", 100), ev("old", 1)]);
    // No stateful operator: no no-data batch either, although the watermark moved.
    assert_eq!(table.batches().len(), 2);
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
    assert_eq!(rows(&table.rows()), [(0, 10, "a".to_string(), 1)]);
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
        rows(&batches[0].1),
        [(0, 10, "a".to_string(), 2), (0, 10, "b".to_string(), 2)]
    );
    assert_eq!(rows(&batches[1].1), [(0, 10, "a".to_string(), 4)]);
    let p = &q.recent_progress()[0];
    assert_eq!(p.num_input_rows, 2);
    assert_eq!(p.event_time.avg.as_deref(), Some("1970-01-01T00:02:00.000Z"));
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

// ---------------------------------------------------------------------------------------------
// Windows
// ---------------------------------------------------------------------------------------------

#[test]
fn window_geometry_errors_reach_start() {
    let s = session();
    let input = MemoryStream::<Ev>::new();
    let start = |spec: WindowSpec| {
        s.read_stream::<Ev>()
            .memory(&input)
            .with_watermark(|e| e.ts, "1 minute")
            .group_by_window(|e| e.key.clone(), spec)
            .count()
            .write_stream()
            .output_mode(OutputMode::Update)
            .memory("geom")
            .start()
            .map(|q| q.stop())
            .unwrap_err()
            .to_string()
    };
    let e = start(window("10 minutes", "5 minutes").start_offset("5 minutes"));
    assert!(e.contains("start offset"), "{e}");
    let e = start(window("10 minutes", "5 minutes").start_offset("-6 minutes"));
    assert!(e.contains("start offset"), "{e}");
    let e = start(window("5 minutes", "10 minutes"));
    assert!(e.contains("less than or equal"), "{e}");
    let e = start(window("10 minutes", "5 minutes").start_offset("5 minits"));
    assert!(e.contains("unknown unit"), "{e}");
}

/// Windows whose slide does not divide the size, with a negative offset: a row lands in
/// exactly the windows `[start, start + size)` with `start ≡ offset (mod slide)` containing it.
#[test]
fn uneven_sliding_windows_with_negative_offset_through_a_query() {
    let s = session();
    let input = MemoryStream::new();
    let q = windowed(
        &s,
        &input,
        window("7 minutes", "3 minutes").start_offset("-1 minute"),
        OutputMode::Update,
        "uneven",
    );
    input.add_data([ev("a", 10)]);
    q.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("uneven").unwrap();
    // Starts ≡ 2 (mod 3) with start ≤ 10 < start + 7: 5 and 8.
    assert_eq!(
        rows(&table.rows()),
        [(5, 12, "a".to_string(), 1), (8, 15, "a".to_string(), 1)]
    );
    q.stop().unwrap();
}

/// A session bridged across batches: two sessions of a key kept open in state merge when a
/// later batch brings an event within the gap of both; Update writes the merged one.
#[test]
fn session_windows_bridge_sessions_from_earlier_batches() {
    let s = session();
    let input = MemoryStream::new();
    let q = windowed(
        &s,
        &input,
        session_window("5 minutes"),
        OutputMode::Update,
        "bridge",
    );
    input.add_data([ev("u", 100), ev("u", 108)]);
    q.process_all_available().unwrap();
    input.add_data([ev("u", 104)]);
    q.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("bridge").unwrap();
    let batches = table.batches();
    assert_eq!(
        rows(&batches[0].1),
        [(100, 105, "u".to_string(), 1), (108, 113, "u".to_string(), 1)]
    );
    // Batch 1 is the no-data batch of watermark 98: nothing changed, nothing closed.
    assert!(batches[1].1.is_empty());
    assert_eq!(
        rows(&table.last_batch().unwrap().1),
        [(100, 113, "u".to_string(), 3)]
    );
    assert_eq!(q.last_progress().unwrap().state_operators[0].num_rows_total, 1);
    q.stop().unwrap();
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Click {
    user: String,
    n: i64,
}

/// A once trigger with no data stops without a batch; available-now runs its final no-data
/// batch.
#[test]
fn once_without_data_stops_and_available_now_runs_the_final_no_data_batch() {
    let s = session();
    let empty = MemoryStream::<Ev>::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&empty)
        .write_stream()
        .trigger(Trigger::once())
        .memory("once_empty")
        .start()
        .unwrap();
    assert!(q.await_termination_or_timeout("10 s").unwrap());
    assert!(q.recent_progress().is_empty());

    let input = MemoryStream::new();
    input.add_data([ev("a", 1)]);
    input.add_data([ev("a", 30)]);
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "10 minutes")
        .group_by_window(|e| e.key.clone(), tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Append)
        .trigger(Trigger::available_now())
        .memory("avail")
        .start()
        .unwrap();
    assert!(q.await_termination_or_timeout("10 s").unwrap());
    let table = s.memory_table::<AggRow<String, u64>>("avail").unwrap();
    // Both memory batches in one batch (no cap), then a no-data batch at watermark 20 that
    // closes [0, 10); [30, 40) stays open.
    assert_eq!(rows(&table.rows()), [(0, 10, "a".to_string(), 1)]);
    let ids: Vec<u64> = q.recent_progress().iter().map(|p| p.batch_id).collect();
    assert_eq!(ids, [0, 1]);
    assert!(q.exception().is_none());
}

/// Malformed JSON under each policy, with the exact counts in progress.
#[test]
fn malformed_json_lines_per_policy_are_counted_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.json",
        "{\"user\":\"ann\",\"n\":1}\nnot json\n\n{\"user\":\"bob\"}\n{\"user\":\"cy\",\"n\":3}\n",
    );
    let s = session();
    let reader = s.read_stream::<Click>();
    let corrupt = reader.corrupt_records();
    let q = reader
        .files(dir.path())
        .write_stream()
        .memory("perm")
        .start()
        .unwrap();
    q.process_all_available().unwrap();
    let users: Vec<String> = s
        .memory_table::<Click>("perm")
        .unwrap()
        .rows()
        .into_iter()
        .map(|c| c.user)
        .collect();
    assert_eq!(users, ["ann", "cy"]);
    let bad = corrupt.records();
    assert_eq!(bad.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 4]);
    assert_eq!(bad[0].text, "not json");
    assert_eq!(q.last_progress().unwrap().sources[0].num_malformed_rows, 2);
    q.stop().unwrap();

    let q = s
        .read_stream::<Click>()
        .mode(MalformedPolicy::FailFast)
        .files(dir.path())
        .write_stream()
        .memory("fail")
        .start()
        .unwrap();
    let err = q.await_termination().unwrap_err().to_string();
    assert!(err.contains("a.json") && err.contains("line 2"), "{err}");
    // Stopping a failed query is harmless; the error stays.
    q.stop().unwrap();
    q.stop().unwrap();
    assert!(q.exception().is_some());
    assert!(q.process_all_available().is_err());
}

/// CSV: a header per file, a row with the wrong number of fields is malformed, quoted fields
/// with commas are one field.
#[test]
fn csv_rows_with_wrong_field_counts_are_malformed_and_quotes_work() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.csv",
        "user,n\n\"doe, jane\",1\nbob,2,extra\ncy,x\ndan,4\n",
    );
    let s = session();
    let q = s
        .read_stream::<Click>()
        .format(Format::Csv)
        .mode(MalformedPolicy::DropMalformed)
        .files(dir.path())
        .write_stream()
        .memory("csv")
        .start()
        .unwrap();
    q.process_all_available().unwrap();
    let got = s.memory_table::<Click>("csv").unwrap().rows();
    assert_eq!(
        got,
        [
            Click {
                user: "doe, jane".into(),
                n: 1
            },
            Click {
                user: "dan".into(),
                n: 4
            }
        ]
    );
    assert_eq!(q.last_progress().unwrap().sources[0].num_malformed_rows, 2);
    q.stop().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Sinks
// ---------------------------------------------------------------------------------------------

/// Spark's `show()` for rows with long cells, `num_rows` cut with its footer, and the header of
/// nested structs.
#[test]
fn console_truncates_and_reports_hidden_rows_like_show() {
    let text = format_console_batch(
        7,
        &[("a-very-long-word-indeed-yes", 1_u64), ("b", 2), ("c", 3)],
        2,
        true,
    )
    .unwrap();
    assert_eq!(
        text,
        "-------------------------------------------\n\
         Batch: 7\n\
         -------------------------------------------\n\
         +--------------------+---+\n\
         |                  _1| _2|\n\
         +--------------------+---+\n\
         |a-very-long-word-...|  1|\n\
         |                   b|  2|\n\
         +--------------------+---+\n\
         only showing top 2 rows\n\
         \n"
    );
    let whole = format_console_batch(0, &[("a-very-long-word-indeed-yes", 1_u64)], 20, false).unwrap();
    assert!(whole.contains("|a-very-long-word-indeed-yes|1  |"), "{whole}");
}

#[derive(Clone)]
struct Recorder {
    log: Arc<Mutex<Vec<String>>>,
    partition: Option<u64>,
}

impl ForeachWriter<Ev> for Recorder {
    fn open(&mut self, partition_id: u64, epoch_id: u64) -> bool {
        self.partition = Some(partition_id);
        self.log
            .lock()
            .unwrap()
            .push(format!("open {partition_id} {epoch_id}"));
        true
    }
    fn process(&mut self, row: Ev) {
        if row.key == "boom" {
            panic!("cannot write boom");
        }
        self.log
            .lock()
            .unwrap()
            .push(format!("process {:?} {}", self.partition, row.key));
    }
    fn close(&mut self, error: Option<&str>) {
        self.log
            .lock()
            .unwrap()
            .push(format!("close {:?} {error:?}", self.partition));
    }
}

/// A failing `process` closes its partition with the error, fails the query with
/// `foreach` named, and the error surfaces from `await_termination`, `exception()` and the
/// terminated event.
#[test]
fn foreach_close_gets_the_error_and_the_query_fails() {
    let s = Session::builder()
        .parallelism(1)
        .clock(ManualClock::new(0))
        .build()
        .unwrap();
    let events = Arc::new(Mutex::new(Vec::<String>::new()));
    struct L(Arc<Mutex<Vec<String>>>);
    impl StreamingQueryListener for L {
        fn on_query_started(&self, _: &QueryStartedEvent) {
            self.0.lock().unwrap().push("started".into());
        }
        fn on_query_progress(&self, p: &QueryProgress) {
            self.0.lock().unwrap().push(format!("progress {}", p.batch_id));
        }
        fn on_query_terminated(&self, e: &QueryTerminatedEvent) {
            self.0
                .lock()
                .unwrap()
                .push(format!("terminated {}", e.exception.is_some()));
        }
    }
    s.add_listener(Arc::new(L(events.clone())));
    let log = Arc::new(Mutex::new(Vec::new()));
    let input = MemoryStream::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .write_stream()
        .foreach(Recorder {
            log: log.clone(),
            partition: None,
        })
        .start()
        .unwrap();
    input.add_data([ev("a", 1)]);
    q.process_all_available().unwrap();
    input.add_data([ev("boom", 2)]);
    let err = q.process_all_available().unwrap_err().to_string();
    assert!(err.contains("cannot write boom"), "{err}");
    assert!(err.contains("foreach"), "{err}");
    assert!(q.await_termination().is_err());
    assert!(!q.is_active());
    assert!(q.exception().unwrap().to_string().contains("boom"));
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            "open 0 0",
            "process Some(0) a",
            "close Some(0) None",
            "open 0 1",
            "close Some(0) Some(\"cannot write boom\")",
        ]
    );
    assert_eq!(
        events.lock().unwrap().clone(),
        ["started", "progress 0", "terminated true"]
    );
}

/// A panic in an operator upstream of a foreach writer is reported under that operator, not
/// blamed on `foreach`: the query materializes the batch before handing it to the sink.
#[test]
fn a_panic_upstream_of_foreach_names_the_operator() {
    #[derive(Clone)]
    struct Nop;
    impl ForeachWriter<Ev> for Nop {
        fn open(&mut self, _: u64, _: u64) -> bool {
            true
        }
        fn process(&mut self, _: Ev) {}
        fn close(&mut self, _: Option<&str>) {}
    }
    let s = session();
    let input = MemoryStream::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(
            |e| -> Time {
                if e.key == "bad" {
                    panic!("bad event time")
                } else {
                    e.ts
                }
            },
            "1 minute",
        )
        .write_stream()
        .foreach(Nop)
        .start()
        .unwrap();
    input.add_data([ev("bad", 1)]);
    let err = q.process_all_available().unwrap_err();
    match err {
        streamflow::Error::UserCode { operator, .. } => assert_eq!(operator, "with_watermark"),
        other => panic!("unexpected {other}"),
    }
}

/// Progress events of a query, for tests that must wait for a batch that runs at a trigger time
/// (`process_all_available` may return before it: see the ignored test below).
struct BatchDone(Mutex<std::sync::mpsc::Sender<u64>>);

impl StreamingQueryListener for BatchDone {
    fn on_query_progress(&self, p: &QueryProgress) {
        let _ = self.0.lock().unwrap().send(p.batch_id);
    }
}

fn batch_events(s: &Session) -> std::sync::mpsc::Receiver<u64> {
    let (tx, rx) = std::sync::mpsc::channel();
    s.add_listener(Arc::new(BatchDone(Mutex::new(tx))));
    rx
}

/// Waits for the progress event of batch `id` (the timeout only keeps a broken engine from
/// hanging the test suite).
fn wait_for_batch(events: &std::sync::mpsc::Receiver<u64>, id: u64) {
    loop {
        let got = events.recv_timeout(std::time::Duration::from_secs(60)).unwrap();
        if got >= id {
            return;
        }
    }
}

/// foreach_batch under a processing-time trigger: ids 0, 1, 2 … with the no-data batch in
/// between, which runs at the next trigger time, not at once.
#[test]
fn foreach_batch_ids_follow_no_data_batches_under_a_processing_time_trigger() {
    let clock = ManualClock::new(0);
    let s = Session::builder()
        .parallelism(2)
        .clock(clock.clone())
        .build()
        .unwrap();
    let events = batch_events(&s);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let input = MemoryStream::new();
    // Data before start: a processing-time trigger runs its first batch at once, then only
    // at the trigger times.
    input.add_data([ev("a", 1), ev("a", 5)]);
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "1 minute")
        .group_by_window(|e| e.key.clone(), tumbling_window("1 minute"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Append)
        .trigger(Trigger::processing_time("10 seconds"))
        .foreach_batch(move |batch, id| {
            sink.lock().unwrap().push((id, batch.collect().len()));
        })
        .start()
        .unwrap();
    wait_for_batch(&events, 0);
    assert_eq!(seen.lock().unwrap().clone(), [(0, 0)]);
    clock.advance(streamflow::Duration::seconds(10));
    wait_for_batch(&events, 1);
    // The no-data batch at the next trigger closes [1, 2).
    assert_eq!(seen.lock().unwrap().clone(), [(0, 0), (1, 1)]);
    input.add_data([ev("b", 2)]);
    clock.advance(streamflow::Duration::seconds(10));
    wait_for_batch(&events, 2);
    // Nothing was due at 20 s besides the new data: the ids stay consecutive.
    assert_eq!(seen.lock().unwrap().clone(), [(0, 0), (1, 1), (2, 0)]);
    q.stop().unwrap();
}

#[test]
fn progress_rates_and_event_time_of_a_no_data_batch() {
    let clock = ManualClock::new(0);
    let s = Session::builder()
        .parallelism(2)
        .clock(clock.clone())
        .build()
        .unwrap();
    let events = batch_events(&s);
    let input = MemoryStream::new();
    input.add_data([ev("a", 30), ev("b", 31), ev("c", 35), ev("d", 40)]);
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "10 minutes")
        .group_by_window(|e| e.key.clone(), tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Append)
        .trigger(Trigger::processing_time("2 seconds"))
        .memory("rates")
        .start()
        .unwrap();
    wait_for_batch(&events, 0);
    clock.advance(streamflow::Duration::seconds(2));
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

// ---------------------------------------------------------------------------------------------
// Restart
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Regressions: defects this review found, each fixed; every test below failed before its fix
// ---------------------------------------------------------------------------------------------

fn windowed_count(
    s: &Session,
    input: &MemoryStream<Ev>,
    table: &str,
) -> DataStreamWriter<AggRow<String, u64>> {
    s.read_stream::<Ev>()
        .memory(input)
        .with_watermark(|e| e.ts, "10 minutes")
        .group_by_window(|e| e.key.clone(), tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Append)
        .memory(table)
}

/// Resuming a windowed count from a stopped query carries its open windows, also through the
/// state's JSON form; resuming from a state without them (taken while running) is refused, not
/// lossy.
#[test]
fn a_resumed_windowed_count_keeps_its_open_windows() {
    let s = session();
    let input = MemoryStream::new();
    let first = windowed_count(&s, &input, "before").start().unwrap();
    input.add_data([ev("a", 22), ev("a", 25)]);
    first.process_all_available().unwrap();
    let while_running = first.resume_state();
    first.stop().unwrap();
    let saved = first.resume_state();

    let refused = windowed_count(&s, &input, "refused")
        .resume_from(while_running)
        .start();
    let err = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("carries no state"), "{err}");

    input.add_data([ev("a", 27), ev("a", 45)]); // 45 moves the watermark to 35: [20, 30) closes
    let saved: ResumeState = serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
    let second = windowed_count(&s, &input, "after")
        .resume_from(saved)
        .start()
        .unwrap();
    second.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("after").unwrap();
    assert_eq!(rows(&table.rows()), [(20, 30, "a".to_string(), 3)]);
    second.stop().unwrap();
}

/// An event time at the edge of `i64` (a corrupt timestamp) must not crash the windowed
/// aggregation; the other rows are counted as usual.
#[test]
fn an_extreme_event_time_does_not_crash_the_query() {
    let s = session();
    let input = MemoryStream::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_event_time(|e| e.ts)
        .group_by_window(|e| e.key.clone(), window("10 minutes", "5 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .memory("extreme")
        .start()
        .unwrap();
    input.add_data([
        Ev {
            key: "low".into(),
            ts: Time::from_millis(i64::MIN),
        },
        Ev {
            key: "high".into(),
            ts: Time::from_millis(i64::MAX),
        },
        ev("a", 1),
    ]);
    q.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("extreme").unwrap();
    assert_eq!(
        rows(&table.rows()),
        [(-5, 5, "a".to_string(), 1), (0, 10, "a".to_string(), 1)]
    );
    q.stop().unwrap();
}

/// Under a processing-time trigger, `process_all_available` after the clock passed the time of
/// a pending no-data batch waits for that batch (which closes the window in Append mode).
#[test]
fn process_all_available_waits_for_a_due_no_data_batch() {
    let clock = ManualClock::new(0);
    let s = Session::builder()
        .parallelism(2)
        .clock(clock.clone())
        .build()
        .unwrap();
    let input = MemoryStream::new();
    let q = windowed_count(&s, &input, "due")
        .trigger(Trigger::processing_time("10 seconds"))
        .start()
        .unwrap();
    input.add_data([ev("a", 22), ev("a", 45)]);
    clock.advance(streamflow::Duration::seconds(10));
    q.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("due").unwrap();
    assert!(
        table.rows().is_empty(),
        "the window closes only in the next batch"
    );
    for _ in 0..3 {
        clock.advance(streamflow::Duration::seconds(10));
        q.process_all_available().unwrap();
    }
    assert_eq!(rows(&table.rows()), [(20, 30, "a".to_string(), 1)]);
    q.stop().unwrap();
}

/// An aggregation keyed by value only (no window) never closes its groups, so the watermark
/// drops nothing there, as in Spark.
#[test]
fn a_key_only_aggregation_does_not_drop_late_rows() {
    let s = session();
    let input = MemoryStream::new();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "10 minutes")
        .group_by(|e| e.key.clone())
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .memory("keyed")
        .start()
        .unwrap();
    input.add_data([ev("a", 30)]);
    q.process_all_available().unwrap();
    input.add_data([ev("a", 5)]); // older than the watermark (20)
    q.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("keyed").unwrap();
    let (_, last) = table.last_batch().unwrap();
    assert_eq!(
        last.iter().map(|r| (r.key.clone(), r.value)).collect::<Vec<_>>(),
        [("a".to_string(), 2)]
    );
    let progress = q.last_progress().unwrap();
    assert_eq!(progress.state_operators[0].num_rows_dropped_by_watermark, 0);
    q.stop().unwrap();
}

/// A once trigger reads everything available in one batch whatever `max_files_per_trigger`
/// says (Spark: the read limit is ignored under `Trigger.Once`).
#[test]
fn once_ignores_max_files_per_trigger() {
    let dir = tempfile::tempdir().unwrap();
    for (i, user) in ["ann", "bob", "cy"].iter().enumerate() {
        std::fs::write(
            dir.path().join(format!("{i}.csv")),
            format!("user,n\n{user},{i}\n"),
        )
        .unwrap();
    }
    let s = session();
    let q = s
        .read_stream::<Click>()
        .format(Format::Csv)
        .header(true)
        .max_files_per_trigger(1)
        .files(dir.path())
        .write_stream()
        .trigger(Trigger::once())
        .memory("once")
        .start()
        .unwrap();
    assert!(q.await_termination_or_timeout("10 s").unwrap());
    let table = s.memory_table::<Click>("once").unwrap();
    assert_eq!(table.batches().len(), 1);
    let mut users: Vec<_> = table.rows().into_iter().map(|c| c.user).collect();
    users.sort();
    assert_eq!(users, ["ann", "bob", "cy"]);
}

/// A CSV file saved with a UTF-8 byte-order mark (Excel's "CSV UTF-8") is read like any other.
#[test]
fn a_csv_file_with_a_byte_order_mark_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("excel.csv"),
        b"\xEF\xBB\xBFuser,n\nann,1\nbob,2\n",
    )
    .unwrap();
    let s = session();
    let q = s
        .read_stream::<Click>()
        .format(Format::Csv)
        .header(true)
        .files(dir.path())
        .write_stream()
        .memory("bom")
        .start()
        .unwrap();
    q.process_all_available().unwrap();
    let table = s.memory_table::<Click>("bom").unwrap();
    assert_eq!(
        table.rows(),
        [
            Click {
                user: "ann".into(),
                n: 1
            },
            Click {
                user: "bob".into(),
                n: 2
            }
        ]
    );
    assert_eq!(q.last_progress().unwrap().sources[0].num_malformed_rows, 0);
    q.stop().unwrap();
}

/// The DStream file source skips the byte-order mark too.
#[test]
fn text_file_stream_skips_a_byte_order_mark() {
    let dir = tempfile::tempdir().unwrap();
    let t = streamflow::testing::TestContext::new(streamflow::Duration::seconds(1), 2).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    t.context()
        .text_file_stream(dir.path())
        .foreach_batch(move |batch, _| sink.lock().unwrap().extend(batch.collect()));
    t.start().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"\xEF\xBB\xBFfirst\nsecond\n").unwrap();
    t.advance_batches(1).unwrap();
    assert_eq!(*seen.lock().unwrap(), ["first", "second"]);
}

/// A `Write` into a shared buffer, to read what the console sink printed.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An aggregation's first batch may have no rows (Append: no window closed yet); the console
/// still prints the column header, as Spark does.
#[test]
fn console_prints_the_header_of_an_empty_first_batch() {
    let s = session();
    let input = MemoryStream::new();
    let out = Shared::default();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "10 minutes")
        .group_by_window(|e| e.key.clone(), tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Append)
        .console_with(20, true, out.clone())
        .start()
        .unwrap();
    input.add_data([ev("a", 22)]);
    q.process_all_available().unwrap();
    q.stop().unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    // Batch 1 is the no-data batch for the moved watermark: empty too, with its header.
    assert!(text.contains("Batch: 1"), "{text}");
    assert_eq!(
        text.find("-------------------------------------------\nBatch: 1")
            .map(|end| &text[..end]),
        Some(
            "-------------------------------------------\n\
         Batch: 0\n\
         -------------------------------------------\n\
         +------+---+-----+\n\
         |window|key|count|\n\
         +------+---+-----+\n\
         +------+---+-----+\n\
         \n"
        )
    );
}
