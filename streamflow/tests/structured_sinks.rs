//! Sinks: the console format (like Spark's `show()`, headers of empty batches), the foreach
//! writer's lifecycle and its failures, foreach_batch ids (also under a processing-time
//! trigger), and the JSON-lines and CSV file sinks.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::sync::{Arc, Mutex};

use streamflow::structured::*;
use streamflow::{Error, ManualClock, Time};

mod common;
use common::{Ev, batch_events, ev, session, session_on, session_with_parallelism, wait_for_batch};

/// A `Write` into a shared buffer, to read what the console sink printed.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[test]
fn console_prints_sparks_batch_header_and_table() {
    let s = session_with_parallelism(1);
    let input = MemoryStream::new();
    let out = Shared::default();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "10 minutes")
        .group_by_window(|e| e.key.clone(), tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Complete)
        .console_with(20, true, out.clone())
        .start()
        .unwrap();
    input.add_data([ev("cat", 1), ev("cat", 2)]);
    q.process_all_available().unwrap();
    assert_eq!(
        out.text(),
        "\
-------------------------------------------
Batch: 0
-------------------------------------------
+--------------------+---+-----+
|              window|key|count|
+--------------------+---+-----+
|{1970-01-01T00:00...|cat|    2|
+--------------------+---+-----+

"
    );
    q.stop().unwrap();

    // Untruncated, left-aligned, at most `num_rows` rows.
    let out = Shared::default();
    let input = MemoryStream::new();
    let q = s
        .read_stream::<(String, i64)>()
        .memory(&input)
        .write_stream()
        .console_with(2, false, out.clone())
        .start()
        .unwrap();
    input.add_data([
        ("a".to_string(), 1),
        ("bb".to_string(), 22),
        ("ccc".to_string(), 333),
    ]);
    q.process_all_available().unwrap();
    assert_eq!(
        out.text(),
        "\
-------------------------------------------
Batch: 0
-------------------------------------------
+---+---+
|_1 |_2 |
+---+---+
|a  |1  |
|bb |22 |
+---+---+
only showing top 2 rows

"
    );
    q.stop().unwrap();
}

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
    let text = out.text();
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

#[derive(Clone)]
struct Recorder {
    events: Arc<Mutex<Vec<String>>>,
    partition: u64,
    skip_partition: Option<u64>,
    fail_on: Option<i64>,
}

impl ForeachWriter<i64> for Recorder {
    fn open(&mut self, partition_id: u64, epoch_id: u64) -> bool {
        self.partition = partition_id;
        self.events
            .lock()
            .unwrap()
            .push(format!("open {partition_id} {epoch_id}"));
        self.skip_partition != Some(partition_id)
    }
    fn process(&mut self, row: i64) {
        if self.fail_on == Some(row) {
            panic!("cannot write {row}");
        }
        self.events
            .lock()
            .unwrap()
            .push(format!("process {} {row}", self.partition));
    }
    fn close(&mut self, error: Option<&str>) {
        self.events
            .lock()
            .unwrap()
            .push(format!("close {} {error:?}", self.partition));
    }
}

#[test]
fn foreach_writer_opens_processes_and_closes_each_partition() {
    let s = session();
    let input = MemoryStream::new();
    let events = Arc::new(Mutex::new(Vec::new()));
    let writer = Recorder {
        events: events.clone(),
        partition: 0,
        skip_partition: Some(1),
        fail_on: None,
    };
    let q = s
        .read_stream::<i64>()
        .memory(&input)
        .write_stream()
        .foreach(writer)
        .start()
        .unwrap();
    input.add_data([1, 2, 3, 4]);
    q.process_all_available().unwrap();
    input.add_data([5, 6]);
    q.process_all_available().unwrap();
    let mut got = events.lock().unwrap().clone();
    got.sort();
    // Two partitions per batch; partition 1 declines in open() and is closed at once.
    assert_eq!(
        got,
        [
            "close 0 None",
            "close 0 None",
            "close 1 None",
            "close 1 None",
            "open 0 0",
            "open 0 1",
            "open 1 0",
            "open 1 1",
            "process 0 1",
            "process 0 2",
            "process 0 5"
        ]
    );
    q.stop().unwrap();

    // A failure in process() closes the partition with the error and stops the query.
    let events = Arc::new(Mutex::new(Vec::new()));
    let writer = Recorder {
        events: events.clone(),
        partition: 0,
        skip_partition: None,
        fail_on: Some(2),
    };
    let input = MemoryStream::new();
    let q = s
        .read_stream::<i64>()
        .memory(&input)
        .write_stream()
        .foreach(writer)
        .start()
        .unwrap();
    input.add_data([1, 2]);
    let err = q.process_all_available().unwrap_err();
    assert!(
        matches!(&err, Error::UserCode { operator, message, .. } if operator == "foreach" && message.contains("cannot write 2")),
        "{err}"
    );
    assert!(
        events
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.contains("Some(\"cannot write 2\")"))
    );
}

/// Logs each call with its partition, and panics on a row keyed `boom`.
#[derive(Clone)]
struct EventRecorder {
    log: Arc<Mutex<Vec<String>>>,
    partition: Option<u64>,
}

impl ForeachWriter<Ev> for EventRecorder {
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
    let s = session_with_parallelism(1);
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
        .foreach(EventRecorder {
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

#[test]
fn foreach_batch_gets_batch_ids_0_1_2_including_no_data_batches() {
    let s = session();
    let input = MemoryStream::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let q = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "0 minutes")
        .group_by_window(|e| e.key.clone(), tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .foreach_batch(move |batch, id| {
            let rows: Vec<(String, u64)> = batch.collect().into_iter().map(|r| (r.key, r.value)).collect();
            sink.lock().unwrap().push((id, rows));
        })
        .start()
        .unwrap();
    input.add_data([ev("a", 1), ev("a", 2)]);
    q.process_all_available().unwrap();
    input.add_data([ev("b", 15)]);
    q.process_all_available().unwrap();
    let seen = seen.lock().unwrap().clone();
    let ids: Vec<u64> = seen.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [0, 1, 2, 3]);
    // Batch 2 read b@15; batch 3, a no-data batch at watermark 15, closed [0, 10).
    assert_eq!(seen[3].1, [("a".to_string(), 2)]);
    q.stop().unwrap();

    // An error returned by foreach_batch stops the query with it.
    let input = MemoryStream::<i64>::new();
    let q = s
        .read_stream::<i64>()
        .memory(&input)
        .write_stream()
        .foreach_batch(|_, id| if id == 1 { Err("database down") } else { Ok(()) })
        .start()
        .unwrap();
    input.add_data([1]);
    q.process_all_available().unwrap();
    input.add_data([2]);
    let err = q.process_all_available().unwrap_err().to_string();
    assert!(
        err.contains("foreach_batch") && err.contains("database down"),
        "{err}"
    );
}

/// foreach_batch under a processing-time trigger: ids 0, 1, 2 … with the no-data batch in
/// between, which runs at the next trigger time, not at once.
#[test]
fn foreach_batch_ids_follow_no_data_batches_under_a_processing_time_trigger() {
    let clock = ManualClock::new(0);
    let s = session_on(&clock);
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
    clock.advance(streamflow::Duration::seconds(10)).unwrap();
    wait_for_batch(&events, 1);
    // The no-data batch at the next trigger closes [1, 2).
    assert_eq!(seen.lock().unwrap().clone(), [(0, 0), (1, 1)]);
    input.add_data([ev("b", 2)]);
    clock.advance(streamflow::Duration::seconds(10)).unwrap();
    wait_for_batch(&events, 2);
    // Nothing was due at 20 s besides the new data: the ids stay consecutive.
    assert_eq!(seen.lock().unwrap().clone(), [(0, 0), (1, 1), (2, 0)]);
    q.stop().unwrap();
}

#[test]
fn json_and_csv_file_sinks_write_one_committed_file_per_batch() {
    let s = session();
    let input = MemoryStream::new();
    let json_dir = tempfile::tempdir().unwrap();
    let csv_dir = tempfile::tempdir().unwrap();
    let counts = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "0 minutes")
        .group_by_window(|e| e.key.clone(), tumbling_window("10 minutes"))
        .count();
    let json = counts.write_stream().json(json_dir.path()).start().unwrap();
    let csv = counts.write_stream().csv(csv_dir.path()).start().unwrap();
    input.add_data([ev("cat", 1), ev("cat", 2), ev("dog", 12)]);
    for q in [&json, &csv] {
        q.process_all_available().unwrap();
    }
    // Batch 0 read the rows (nothing final yet); batch 1 (watermark 12) closed [0, 10).
    assert_eq!(
        std::fs::read_to_string(json_dir.path().join("part-00001.json")).unwrap(),
        "{\"window\":{\"start\":\"1970-01-01T00:00:00.000Z\",\"end\":\"1970-01-01T00:10:00.000Z\"},\"key\":\"cat\",\"count\":2}\n"
    );
    assert_eq!(
        std::fs::read_to_string(csv_dir.path().join("part-00001.csv")).unwrap(),
        "window,key,count\n\"{\"\"start\"\":\"\"1970-01-01T00:00:00.000Z\"\",\"\"end\"\":\"\"1970-01-01T00:10:00.000Z\"\"}\",cat,2\n"
    );
    // The manifest entry (a checksummed checkpoint file) names the batch's file.
    let entry = std::fs::read_to_string(json_dir.path().join("_manifest").join("1")).unwrap();
    assert!(
        entry.starts_with("streamflow-checkpoint file-sink-manifest v1 ")
            && entry.contains("\"part-00001.json\""),
        "{entry}"
    );
    json.stop().unwrap();
    csv.stop().unwrap();
}
