//! Sinks: the console format, the foreach writer's lifecycle, foreach_batch ids, and the
//! JSON-lines and CSV file sinks.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::sync::{Arc, Mutex};

use streamflow::structured::*;
use streamflow::{Error, ManualClock, Time};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Word {
    word: String,
    ts: Time,
}

fn min(m: i64) -> Time {
    Time::from_millis(m * 60_000)
}

fn word(w: &str, minute: i64) -> Word {
    Word {
        word: w.to_string(),
        ts: min(minute),
    }
}

fn session(parallelism: usize) -> Session {
    Session::builder()
        .parallelism(parallelism)
        .clock(ManualClock::new(0))
        .build()
        .unwrap()
}

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
    let s = session(1);
    let input = MemoryStream::new();
    let out = Shared::default();
    let q = s
        .read_stream::<Word>()
        .memory(&input)
        .with_watermark(|w| w.ts, "10 minutes")
        .group_by_window(|w| w.word.clone(), tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Complete)
        .console_with(20, true, out.clone())
        .start()
        .unwrap();
    input.add_data([word("cat", 1), word("cat", 2)]);
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
    let s = session(2);
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

#[test]
fn foreach_batch_gets_batch_ids_0_1_2_including_no_data_batches() {
    let s = session(2);
    let input = MemoryStream::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let q = s
        .read_stream::<Word>()
        .memory(&input)
        .with_watermark(|w| w.ts, "0 minutes")
        .group_by_window(|w| w.word.clone(), tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .foreach_batch(move |batch, id| {
            let rows: Vec<(String, u64)> = batch.collect().into_iter().map(|r| (r.key, r.value)).collect();
            sink.lock().unwrap().push((id, rows));
        })
        .start()
        .unwrap();
    input.add_data([word("a", 1), word("a", 2)]);
    q.process_all_available().unwrap();
    input.add_data([word("b", 15)]);
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

#[test]
fn json_and_csv_file_sinks_write_one_committed_file_per_batch() {
    let s = session(2);
    let input = MemoryStream::new();
    let json_dir = tempfile::tempdir().unwrap();
    let csv_dir = tempfile::tempdir().unwrap();
    let counts = s
        .read_stream::<Word>()
        .memory(&input)
        .with_watermark(|w| w.ts, "0 minutes")
        .group_by_window(|w| w.word.clone(), tumbling_window("10 minutes"))
        .count();
    let json = counts.write_stream().json(json_dir.path()).start().unwrap();
    let csv = counts.write_stream().csv(csv_dir.path()).start().unwrap();
    input.add_data([word("cat", 1), word("cat", 2), word("dog", 12)]);
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
    assert_eq!(
        std::fs::read_to_string(json_dir.path().join("_manifest").join("1")).unwrap(),
        "part-00001.json\n"
    );
    json.stop().unwrap();
    csv.stop().unwrap();
}
