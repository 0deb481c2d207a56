//! Sources: files in CSV (quoted fields, a byte-order mark), JSON lines and text with each
//! malformed-record policy, `max_files_per_trigger`, the `once` and `available_now` triggers
//! (with and without data), the rate source and a socket on loopback.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::io::Write;
use std::path::Path;

use streamflow::structured::*;
use streamflow::{Duration, Error, ManualClock};

mod common;
use common::{Ev, ev, session, window_rows, windowed_count};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Event {
    user: String,
    clicks: u32,
}

fn write(dir: &Path, name: &str, text: &str) {
    // Written under a hidden name, then renamed in: the source never sees half a file.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(tmp, dir.join(name)).unwrap();
}

const CSV: &str = "user,clicks\nann,3\nbob,not-a-number\ncid,1,extra\ndan,2\n";
const JSON: &str = "{\"user\":\"ann\",\"clicks\":3}\n{\"user\":\"bob\"\n\n{\"user\":\"dan\",\"clicks\":2}\n";

fn users(s: &Session, table: &str) -> Vec<String> {
    let mut rows: Vec<String> = s
        .memory_table::<Event>(table)
        .unwrap()
        .rows()
        .into_iter()
        .map(|e| e.user)
        .collect();
    rows.sort();
    rows
}

fn start(reader: DataStreamReader<Event>, dir: &Path, table: &str) -> StreamingQuery {
    reader.files(dir).write_stream().memory(table).start().unwrap()
}

#[test]
fn permissive_keeps_malformed_records_aside_and_counts_them() {
    for (format, text, bad_lines) in [(Format::Csv, CSV, vec![3, 4]), (Format::Json, JSON, vec![2])] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "events", text);
        let s = session();
        let reader = s.read_stream::<Event>().format(format);
        let corrupt = reader.corrupt_records();
        let q = start(reader, dir.path(), "permissive");
        q.process_all_available().unwrap();
        assert_eq!(users(&s, "permissive"), ["ann", "dan"], "{format:?}");
        let kept = corrupt.records();
        assert_eq!(
            kept.iter().map(|r| r.line).collect::<Vec<_>>(),
            bad_lines,
            "{format:?}: {kept:?}"
        );
        assert!(
            kept.iter()
                .all(|r| r.origin.ends_with("events") && !r.error.is_empty())
        );
        assert!(kept[0].text.contains("bob"), "{kept:?}");
        let progress = q.last_progress().unwrap();
        assert_eq!(progress.sources[0].num_malformed_rows, bad_lines.len() as u64);
        assert_eq!(progress.num_input_rows, 2);
        q.stop().unwrap();
    }
}

#[test]
fn drop_malformed_drops_and_counts() {
    for (format, text, bad) in [(Format::Csv, CSV, 2), (Format::Json, JSON, 1)] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "events", text);
        let s = session();
        let reader = s
            .read_stream::<Event>()
            .format(format)
            .mode(MalformedPolicy::DropMalformed);
        let corrupt = reader.corrupt_records();
        let q = start(reader, dir.path(), "dropped");
        q.process_all_available().unwrap();
        assert_eq!(users(&s, "dropped"), ["ann", "dan"]);
        assert!(corrupt.is_empty());
        assert_eq!(q.last_progress().unwrap().sources[0].num_malformed_rows, bad);
        q.stop().unwrap();
    }
}

#[test]
fn fail_fast_stops_the_query_naming_the_file_and_line() {
    for (format, text, line) in [(Format::Csv, CSV, "line 3"), (Format::Json, JSON, "line 2")] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "events", text);
        let s = session();
        let reader = s
            .read_stream::<Event>()
            .format(format)
            .mode(MalformedPolicy::FailFast);
        let q = start(reader, dir.path(), "failfast");
        let err = q.process_all_available().unwrap_err();
        assert!(matches!(err, Error::Source { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("events") && msg.contains(line), "{format:?}: {msg}");
        assert!(!q.is_active());
        assert!(q.exception().is_some());
        assert!(q.await_termination().is_err());
    }
}

/// Malformed JSON under each policy, with the exact counts in progress.
#[test]
fn malformed_json_lines_per_policy_are_counted_in_progress() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a.json",
        "{\"user\":\"ann\",\"clicks\":1}\nnot json\n\n{\"user\":\"bob\"}\n{\"user\":\"cy\",\"clicks\":3}\n",
    );
    let s = session();
    let reader = s.read_stream::<Event>();
    let corrupt = reader.corrupt_records();
    let q = reader
        .files(dir.path())
        .write_stream()
        .memory("perm")
        .start()
        .unwrap();
    q.process_all_available().unwrap();
    let users: Vec<String> = s
        .memory_table::<Event>("perm")
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
        .read_stream::<Event>()
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
        "user,clicks\n\"doe, jane\",1\nbob,2,extra\ncy,x\ndan,4\n",
    );
    let s = session();
    let q = s
        .read_stream::<Event>()
        .format(Format::Csv)
        .mode(MalformedPolicy::DropMalformed)
        .files(dir.path())
        .write_stream()
        .memory("csv")
        .start()
        .unwrap();
    q.process_all_available().unwrap();
    let got = s.memory_table::<Event>("csv").unwrap().rows();
    assert_eq!(
        got,
        [
            Event {
                user: "doe, jane".into(),
                clicks: 1
            },
            Event {
                user: "dan".into(),
                clicks: 4
            }
        ]
    );
    assert_eq!(q.last_progress().unwrap().sources[0].num_malformed_rows, 2);
    q.stop().unwrap();
}

#[test]
fn text_files_and_csv_without_header() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.txt", "hello world\nbye\n");
    let s = session();
    let q = s
        .read_stream::<String>()
        .format(Format::Text)
        .files(dir.path())
        .write_stream()
        .memory("lines")
        .start()
        .unwrap();
    q.process_all_available().unwrap();
    assert_eq!(
        s.memory_table::<String>("lines").unwrap().rows(),
        ["hello world", "bye"]
    );
    q.stop().unwrap();

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.csv", "ann,3\nbob,4\n");
    let reader = s.read_stream::<Event>().format(Format::Csv).header(false);
    let q = start(reader, dir.path(), "no_header");
    q.process_all_available().unwrap();
    assert_eq!(users(&s, "no_header"), ["ann", "bob"]);
    q.stop().unwrap();
}

/// A CSV file saved with a UTF-8 byte-order mark (Excel's "CSV UTF-8") is read like any other.
#[test]
fn a_csv_file_with_a_byte_order_mark_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("excel.csv"),
        b"\xEF\xBB\xBFuser,clicks\nann,1\nbob,2\n",
    )
    .unwrap();
    let s = session();
    let q = s
        .read_stream::<Event>()
        .format(Format::Csv)
        .header(true)
        .files(dir.path())
        .write_stream()
        .memory("bom")
        .start()
        .unwrap();
    q.process_all_available().unwrap();
    let table = s.memory_table::<Event>("bom").unwrap();
    assert_eq!(
        table.rows(),
        [
            Event {
                user: "ann".into(),
                clicks: 1
            },
            Event {
                user: "bob".into(),
                clicks: 2
            }
        ]
    );
    assert_eq!(q.last_progress().unwrap().sources[0].num_malformed_rows, 0);
    q.stop().unwrap();
}

#[test]
fn max_files_per_trigger_and_available_now() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..5 {
        write(
            dir.path(),
            &format!("{i}.json"),
            &format!("{{\"user\":\"u{i}\",\"clicks\":{i}}}\n"),
        );
    }
    let s = session();
    let q = s
        .read_stream::<Event>()
        .max_files_per_trigger(2)
        .files(dir.path())
        .write_stream()
        .trigger(Trigger::available_now())
        .memory("capped")
        .start()
        .unwrap();
    q.await_termination().unwrap();
    let batches = s.memory_table::<Event>("capped").unwrap().batches();
    assert_eq!(
        batches
            .iter()
            .map(|(id, rows)| (*id, rows.len()))
            .collect::<Vec<_>>(),
        [(0, 2), (1, 2), (2, 1)]
    );
}

/// A once trigger reads everything available in one batch whatever `max_files_per_trigger`
/// says (Spark: the read limit is ignored under `Trigger.Once`).
#[test]
fn once_ignores_max_files_per_trigger() {
    let dir = tempfile::tempdir().unwrap();
    for (i, user) in ["ann", "bob", "cy"].iter().enumerate() {
        write(
            dir.path(),
            &format!("{i}.csv"),
            &format!("user,clicks\n{user},{i}\n"),
        );
    }
    let s = session();
    let q = s
        .read_stream::<Event>()
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
    let table = s.memory_table::<Event>("once").unwrap();
    assert_eq!(table.batches().len(), 1);
    let mut users: Vec<_> = table.rows().into_iter().map(|c| c.user).collect();
    users.sort();
    assert_eq!(users, ["ann", "bob", "cy"]);
}

#[test]
fn once_runs_one_batch_with_everything_then_stops() {
    let s = session();
    let input = MemoryStream::new();
    input.add_data([Event {
        user: "ann".into(),
        clicks: 1,
    }]);
    input.add_data([Event {
        user: "bob".into(),
        clicks: 1,
    }]);
    let q = s
        .read_stream::<Event>()
        .memory(&input)
        .write_stream()
        .trigger(Trigger::once())
        .memory("once")
        .start()
        .unwrap();
    assert!(q.await_termination_or_timeout("10 s").unwrap());
    assert_eq!(s.memory_table::<Event>("once").unwrap().batches().len(), 1);
    assert_eq!(users(&s, "once"), ["ann", "bob"]);
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
    let q = windowed_count(
        &s,
        &input,
        tumbling_window("10 minutes"),
        OutputMode::Append,
        "avail",
    )
    .trigger(Trigger::available_now())
    .start()
    .unwrap();
    assert!(q.await_termination_or_timeout("10 s").unwrap());
    let table = s.memory_table::<AggRow<String, u64>>("avail").unwrap();
    // Both memory batches in one batch (no cap), then a no-data batch at watermark 20 that
    // closes [0, 10); [30, 40) stays open.
    assert_eq!(window_rows(&table.rows()), [(0, 10, "a".to_string(), 1)]);
    let ids: Vec<u64> = q.recent_progress().iter().map(|p| p.batch_id).collect();
    assert_eq!(ids, [0, 1]);
    assert!(q.exception().is_none());
}

#[test]
fn a_missing_directory_is_an_error_from_start() {
    let s = session();
    let err = s
        .read_stream::<Event>()
        .files("/definitely/not/here")
        .write_stream()
        .memory("missing")
        .start()
        .unwrap_err()
        .to_string();
    assert!(err.contains("/definitely/not/here"), "{err}");
}

#[test]
fn the_rate_source_follows_the_clock() {
    let clock = ManualClock::new(0);
    let s = Session::builder().clock(clock.clone()).build().unwrap();
    let q = s
        .read_stream::<RateRow>()
        .rate(4)
        .write_stream()
        .memory("rate")
        .start()
        .unwrap();
    clock.advance(Duration::milliseconds(500)).unwrap();
    q.process_all_available().unwrap();
    clock.advance(Duration::milliseconds(500)).unwrap();
    q.process_all_available().unwrap();
    let batches = s.memory_table::<RateRow>("rate").unwrap().batches();
    let values: Vec<Vec<u64>> = batches
        .iter()
        .map(|(_, rows)| rows.iter().map(|r| r.value).collect())
        .collect();
    assert_eq!(values, [vec![0, 1], vec![2, 3]]);
    assert_eq!(batches[1].1[1].timestamp.millis(), 750);
    q.stop().unwrap();
}

#[test]
fn a_socket_source_on_loopback_reads_json_lines() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let s = session();
    let reader = s.read_stream::<Event>();
    let corrupt = reader.corrupt_records();
    let q = reader
        .socket("127.0.0.1", port)
        .write_stream()
        .memory("socket")
        .start()
        .unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    conn.write_all(b"{\"user\":\"ann\",\"clicks\":1}\nnot json\n{\"user\":\"bob\",\"clicks\":2}\n")
        .unwrap();
    conn.flush().unwrap();
    // The socket is read by its own thread: wait (without sleeping) until both rows are processed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while users(&s, "socket").len() < 2 && std::time::Instant::now() < deadline {
        q.process_all_available().unwrap();
    }
    assert_eq!(users(&s, "socket"), ["ann", "bob"]);
    assert_eq!(corrupt.records()[0].line, 2);
    q.stop().unwrap();
}
