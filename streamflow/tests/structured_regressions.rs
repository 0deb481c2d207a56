//! Regression tests for defects found in review of the Structured Streaming engine: each test
//! failed before its fix.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::sync::{Arc, Mutex};

use streamflow::structured::*;
use streamflow::{Duration, ManualClock, Time};

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

/// `(window start, window end, key, count)` in minutes, sorted.
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

/// Resuming a windowed count from a stopped query carries its open windows; resuming from a
/// state without them (taken while running, or read back from JSON) is refused, not lossy.
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
    clock.advance(Duration::seconds(10));
    q.process_all_available().unwrap();
    let table = s.memory_table::<AggRow<String, u64>>("due").unwrap();
    assert!(
        table.rows().is_empty(),
        "the window closes only in the next batch"
    );
    for _ in 0..3 {
        clock.advance(Duration::seconds(10));
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

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Click {
    user: String,
    n: i64,
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
    let t = streamflow::testing::TestContext::new(Duration::seconds(1), 2).unwrap();
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
