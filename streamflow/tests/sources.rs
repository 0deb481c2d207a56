//! Sources against real components: a TCP server on 127.0.0.1, real files in a temporary
//! directory, queues, generators and a user-defined receiver. The tests never sleep to wait
//! for the engine: they wait for the records to be received (`await_records_received`) or for
//! a receiver error to be reported (a listener), and then move the manual clock.
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use streamflow::testing::{TestContext, sorted};
use streamflow::{
    Duration, Error, Receiver, ReceiverContext, ReceiverStatus, StreamQueue, StreamingListener,
};

mod common;
use common::{PATIENCE, TestResult, owned, test_context};

/// A TCP server on 127.0.0.1 that accepts one connection per entry of `sessions`, runs the
/// entry on it, and closes it.
type Session = Box<dyn FnOnce(&mut TcpStream) -> std::io::Result<()> + Send>;

fn serve(sessions: Vec<Session>) -> (u16, JoinHandle<std::io::Result<()>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (port, serve_on(listener, sessions))
}

fn serve_on(listener: TcpListener, sessions: Vec<Session>) -> JoinHandle<std::io::Result<()>> {
    std::thread::spawn(move || {
        for session in sessions {
            let (mut conn, _) = listener.accept()?;
            session(&mut conn)?;
            conn.flush()?;
        }
        Ok(())
    })
}

fn send(bytes: &'static [u8]) -> Session {
    Box::new(move |conn| conn.write_all(bytes))
}

/// Sends every receiver error reported to the listener into a channel.
struct ReceiverErrors(Mutex<mpsc::Sender<ReceiverStatus>>);

impl StreamingListener for ReceiverErrors {
    fn on_receiver_error(&self, status: &ReceiverStatus) {
        let _ = self.0.lock().unwrap().send(status.clone());
    }
}

fn listen_for_receiver_errors(t: &TestContext) -> mpsc::Receiver<ReceiverStatus> {
    let (tx, rx) = mpsc::channel();
    t.context()
        .add_streaming_listener(Arc::new(ReceiverErrors(Mutex::new(tx))));
    rx
}

// ---------------------------------------------------------------- socket_text_stream

#[test]
fn socket_lines_arrive_in_the_next_batch() -> TestResult {
    let (port, server) = serve(vec![send(b"first line\nsecond line\n\nlast\n")]);
    let t = test_context();
    let out = t.collect(&t.context().socket_text_stream("127.0.0.1", port));
    t.start()?;
    assert!(t.context().await_records_received(4, PATIENCE)?);
    t.advance_batches(2)?;
    t.context().stop(false)?;
    server.join().unwrap()?;
    // An empty line is a record, as in Spark.
    assert_eq!(
        out.batches(),
        vec![owned(&["first line", "second line", "", "last"]), vec![]]
    );
    let status = &t.context().receiver_statuses()[0];
    assert_eq!(status.name, format!("socket_text_stream 127.0.0.1:{port}"));
    assert_eq!(status.records, 4);
    assert_eq!(status.undecodable, 0);
    Ok(())
}

#[test]
fn socket_handles_crlf_and_a_last_line_without_newline() -> TestResult {
    let (port, server) = serve(vec![send(b"windows\r\nline\r\nunfinished")]);
    let t = test_context();
    let out = t.collect(&t.context().socket_text_stream("127.0.0.1", port));
    t.start()?;
    assert!(t.context().await_records_received(3, PATIENCE)?);
    t.advance_batches(1)?;
    t.context().stop(false)?;
    server.join().unwrap()?;
    assert_eq!(out.batches(), vec![owned(&["windows", "line", "unfinished"])]);
    Ok(())
}

#[test]
fn socket_keeps_a_line_split_across_slow_writes() -> TestResult {
    // The pause is longer than the receiver's read poll, so the read times out mid-line.
    let (port, server) = serve(vec![Box::new(|conn| {
        conn.write_all(b"hel")?;
        conn.flush()?;
        std::thread::sleep(std::time::Duration::from_millis(300));
        conn.write_all(b"lo\nworld\n")
    })]);
    let t = test_context();
    let out = t.collect(&t.context().socket_text_stream("127.0.0.1", port));
    t.start()?;
    assert!(t.context().await_records_received(2, PATIENCE)?);
    t.advance_batches(1)?;
    t.context().stop(false)?;
    server.join().unwrap()?;
    assert_eq!(out.batches(), vec![owned(&["hello", "world"])]);
    Ok(())
}

#[test]
fn socket_delivers_many_lines_in_order() -> TestResult {
    let (port, server) = serve(vec![Box::new(|conn| {
        let text: String = (0..20_000).map(|i| format!("record {i}\n")).collect();
        conn.write_all(text.as_bytes())
    })]);
    let t = test_context();
    let out = t.collect(&t.context().socket_text_stream("127.0.0.1", port));
    t.start()?;
    assert!(t.context().await_records_received(20_000, PATIENCE)?);
    t.advance_batches(1)?;
    t.context().stop(false)?;
    server.join().unwrap()?;
    let expected: Vec<String> = (0..20_000).map(|i| format!("record {i}")).collect();
    assert_eq!(out.batches(), vec![expected]);
    Ok(())
}

#[test]
fn socket_counts_and_skips_lines_that_are_not_utf8() -> TestResult {
    let (port, server) = serve(vec![send(
        b"good 1\n\xff\xfe\x00\xc3garbage\nalso \xe2\x82 bad\r\ngood 2\n",
    )]);
    let t = test_context();
    let out = t.collect(&t.context().socket_text_stream("127.0.0.1", port));
    t.start()?;
    assert!(t.context().await_records_received(2, PATIENCE)?);
    t.advance_batches(1)?;
    assert_eq!(t.context().state(), streamflow::ContextState::Active);
    t.context().stop(false)?;
    server.join().unwrap()?;
    assert_eq!(out.batches(), vec![owned(&["good 1", "good 2"])]);
    let status = &t.context().receiver_statuses()[0];
    assert_eq!((status.records, status.undecodable), (2, 2), "{status:?}");
    t.context().await_termination()?;
    Ok(())
}

#[test]
fn socket_survives_a_megabyte_of_binary_without_newlines() -> TestResult {
    let (port, server) = serve(vec![Box::new(|conn| {
        // Bytes 0x80..=0xff never form valid UTF-8 on their own, and contain no '\n'.
        let garbage: Vec<u8> = (0..1_000_000).map(|i| 0x80 | (i % 0x80) as u8).collect();
        conn.write_all(&garbage)?;
        conn.write_all(b"\nafter\n")
    })]);
    let t = test_context();
    let out = t.collect(&t.context().socket_text_stream("127.0.0.1", port));
    t.start()?;
    assert!(t.context().await_records_received(1, PATIENCE)?);
    t.advance_batches(1)?;
    t.context().stop(false)?;
    server.join().unwrap()?;
    assert_eq!(out.batches(), vec![owned(&["after"])]);
    assert_eq!(t.context().receiver_statuses()[0].undecodable, 1);
    Ok(())
}

#[test]
fn socket_retries_a_refused_connection_until_a_server_appears() -> TestResult {
    // Find a free port, and free it again.
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let t = test_context();
    let errors = listen_for_receiver_errors(&t);
    let out = t.collect(&t.context().socket_text_stream("127.0.0.1", port));
    t.start()?;
    let reported = errors.recv_timeout(PATIENCE)?;
    let message = reported.last_error.clone().unwrap_or_default();
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
    assert!(message.contains("retrying"), "{message}");
    // The job keeps running while the receiver retries.
    t.advance_batches(1)?;
    assert_eq!(t.context().state(), streamflow::ContextState::Active);
    let status = &t.context().receiver_statuses()[0];
    assert!(status.errors >= 1 && !status.active, "{status:?}");
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains(&format!("127.0.0.1:{port}")))
    );

    // Now a server appears on that port: the data flows.
    let server = serve_on(TcpListener::bind(("127.0.0.1", port))?, vec![send(b"finally\n")]);
    assert!(t.context().await_records_received(1, PATIENCE)?);
    t.advance_batches(1)?;
    t.context().stop(false)?;
    server.join().unwrap()?;
    assert_eq!(out.batches(), vec![vec![], owned(&["finally"])]);
    Ok(())
}

#[test]
fn socket_reconnects_when_the_server_closes_the_connection() -> TestResult {
    let (port, server) = serve(vec![send(b"one\n"), send(b"two\n"), send(b"three\n")]);
    let t = test_context();
    let out = t.collect(&t.context().socket_text_stream("127.0.0.1", port));
    t.start()?;
    assert!(t.context().await_records_received(3, PATIENCE)?);
    t.advance_batches(1)?;
    server.join().unwrap()?;
    t.context().stop(false)?;
    assert_eq!(out.batches(), vec![owned(&["one", "two", "three"])]);
    Ok(())
}

#[test]
fn socket_with_an_unknown_host_keeps_retrying_and_reports_it() -> TestResult {
    let t = test_context();
    let errors = listen_for_receiver_errors(&t);
    t.collect(&t.context().socket_text_stream("no-such-host.invalid", 9));
    t.start()?;
    let status = errors.recv_timeout(PATIENCE)?;
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("no-such-host.invalid:9")),
        "{status:?}"
    );
    t.advance_batches(1)?;
    t.context().stop(false)?;
    t.context().await_termination()?;
    Ok(())
}

// ---------------------------------------------------------------- text_file_stream

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn files_that_appear_after_start_are_read_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let t = test_context();
    let out = t.collect(&t.context().text_file_stream(dir.path()));
    t.start()?;
    write(&dir.path().join("a.txt"), b"1\n2\n");
    t.advance_batches(2)?;
    write(&dir.path().join("b.txt"), b"3");
    t.advance_batches(1)?;
    t.context().stop(false)?;
    assert_eq!(out.batches(), vec![owned(&["1", "2"]), vec![], owned(&["3"])]);
    let status = &t.context().receiver_statuses()[0];
    assert_eq!(status.records, 3);
    assert!(
        status.name.contains(&dir.path().display().to_string()),
        "{status:?}"
    );
    Ok(())
}

#[test]
fn files_present_at_start_are_ignored() -> TestResult {
    let dir = tempfile::tempdir()?;
    write(&dir.path().join("old.txt"), b"old\n");
    let t = test_context();
    let out = t.collect(&t.context().text_file_stream(dir.path()));
    t.start()?;
    t.advance_batches(1)?;
    write(&dir.path().join("new.txt"), b"new\n");
    t.advance_batches(1)?;
    t.context().stop(false)?;
    assert_eq!(out.batches(), vec![vec![], owned(&["new"])]);
    Ok(())
}

#[test]
fn hidden_files_are_ignored_until_renamed_in() -> TestResult {
    let dir = tempfile::tempdir()?;
    let t = test_context();
    let out = t.collect(&t.context().text_file_stream(dir.path()));
    t.start()?;
    write(&dir.path().join(".writing.txt"), b"dot\n");
    write(&dir.path().join("_COPYING_"), b"underscore\n");
    std::fs::create_dir(dir.path().join("subdir"))?;
    write(&dir.path().join("subdir").join("nested.txt"), b"nested\n");
    t.advance_batches(1)?;
    std::fs::rename(dir.path().join(".writing.txt"), dir.path().join("dot.txt"))?;
    t.advance_batches(1)?;
    std::fs::rename(dir.path().join("_COPYING_"), dir.path().join("copied.txt"))?;
    t.advance_batches(2)?;
    t.context().stop(false)?;
    assert_eq!(
        out.batches(),
        vec![vec![], owned(&["dot"]), owned(&["underscore"]), vec![]]
    );
    Ok(())
}

#[test]
fn files_of_one_batch_are_read_oldest_first() -> TestResult {
    let dir = tempfile::tempdir()?;
    let t = test_context();
    let out = t.collect(&t.context().text_file_stream(dir.path()));
    t.start()?;
    let now = std::time::SystemTime::now();
    for (name, age_s) in [("a.txt", 10), ("b.txt", 30), ("c.txt", 20)] {
        let path = dir.path().join(name);
        write(&path, name.as_bytes());
        let file = std::fs::File::options().write(true).open(&path)?;
        file.set_modified(now - std::time::Duration::from_secs(age_s))?;
    }
    t.advance_batches(1)?;
    t.context().stop(false)?;
    assert_eq!(out.batches(), vec![owned(&["b.txt", "c.txt", "a.txt"])]);
    Ok(())
}

/// Writes `text` to `dir/name`, modified `secs_after_epoch` seconds after the epoch.
fn write_with_mtime(dir: &Path, name: &str, text: &str, secs_after_epoch: u64) {
    let path = dir.join(name);
    write(&path, text.as_bytes());
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    file.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs_after_epoch))
        .unwrap();
}

/// Files of one batch are read by modification time, then name — not by name alone; files
/// whose names start with `.` or `_` are skipped.
#[test]
fn files_of_one_batch_are_read_by_modification_time_not_name() -> TestResult {
    let dir = tempfile::tempdir()?;
    let t = test_context();
    let lines = t.collect(&t.context().text_file_stream(dir.path()));
    t.start()?;
    write_with_mtime(dir.path(), "a.txt", "a1\na2\n", 3_000);
    write_with_mtime(dir.path(), "b.txt", "b1\n", 1_000);
    write_with_mtime(dir.path(), "c.txt", "c1", 2_000);
    write_with_mtime(dir.path(), "_tmp.txt", "hidden", 500);
    t.advance_batches(1)?;
    t.context().stop(false)?;
    assert_eq!(lines.batches(), [vec!["b1", "c1", "a1", "a2"]]);
    Ok(())
}

/// A file saved with a UTF-8 byte-order mark is read without it.
#[test]
fn text_file_stream_skips_a_byte_order_mark() -> TestResult {
    let dir = tempfile::tempdir()?;
    let t = test_context();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    t.context()
        .text_file_stream(dir.path())
        .foreach_batch(move |batch, _| sink.lock().unwrap().extend(batch.collect()));
    t.start()?;
    write(&dir.path().join("a.txt"), b"\xEF\xBB\xBFfirst\nsecond\n");
    t.advance_batches(1)?;
    assert_eq!(*seen.lock().unwrap(), ["first", "second"]);
    Ok(())
}

#[test]
fn file_lines_keep_empty_lines_and_drop_crlf() -> TestResult {
    let dir = tempfile::tempdir()?;
    let t = test_context();
    let out = t.collect(&t.context().text_file_stream(dir.path()));
    t.start()?;
    write(&dir.path().join("a.txt"), b"x\r\n\r\ny\n\nz");
    t.advance_batches(1)?;
    t.context().stop(false)?;
    assert_eq!(out.batches(), vec![owned(&["x", "", "y", "", "z"])]);
    Ok(())
}

#[test]
fn an_empty_file_has_no_lines() -> TestResult {
    let dir = tempfile::tempdir()?;
    let t = test_context();
    let out = t.collect(&t.context().text_file_stream(dir.path()));
    t.start()?;
    write(&dir.path().join("empty.txt"), b"");
    t.advance_batches(1)?;
    t.context().stop(false)?;
    assert_eq!(out.batches(), vec![Vec::<String>::new()]);
    assert_eq!(t.context().receiver_statuses()[0].records, 0);
    Ok(())
}

#[test]
fn file_lines_that_are_not_utf8_are_counted_and_skipped() -> TestResult {
    let dir = tempfile::tempdir()?;
    let t = test_context();
    let out = t.collect(&t.context().text_file_stream(dir.path()));
    t.start()?;
    write(&dir.path().join("mixed.txt"), b"ok 1\n\xff\xfe\nok 2\n\xc3\x28\n");
    t.advance_batches(1)?;
    t.context().stop(false)?;
    assert_eq!(out.batches(), vec![owned(&["ok 1", "ok 2"])]);
    let status = &t.context().receiver_statuses()[0];
    assert_eq!((status.records, status.undecodable), (2, 2), "{status:?}");
    Ok(())
}

#[test]
fn a_missing_directory_fails_start_naming_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("does-not-exist");
    let t = test_context();
    t.collect(&t.context().text_file_stream(&missing));
    let err = t.context().start().unwrap_err();
    let Error::Directory { path, reason } = &err else {
        panic!("expected a directory error, got {err:?}");
    };
    assert_eq!(path, &missing);
    assert!(reason.contains("text_file_stream"), "{reason}");
    assert!(err.to_string().contains(&missing.display().to_string()), "{err}");
    assert_ne!(t.context().state(), streamflow::ContextState::Active);
    Ok(())
}

#[test]
fn a_file_instead_of_a_directory_fails_start() -> TestResult {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("plain.txt");
    write(&file, b"x");
    let t = test_context();
    t.collect(&t.context().text_file_stream(&file));
    let err = t.context().start().unwrap_err();
    assert!(
        matches!(&err, Error::Directory { path, .. } if path == &file),
        "{err:?}"
    );
    assert!(err.to_string().contains("needs a directory"), "{err}");
    Ok(())
}

/// Counts its starts and stops.
struct Counting {
    starts: Arc<AtomicUsize>,
    stops: Arc<AtomicUsize>,
}

impl Receiver<i32> for Counting {
    fn on_start(&self, _ctx: ReceiverContext<i32>) {
        self.starts.fetch_add(1, Ordering::SeqCst);
    }
    fn on_stop(&self) {
        self.stops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_failed_start_stops_the_sources_it_had_started() -> TestResult {
    // The receiver starts first; the missing directory then fails start(). The receiver must
    // not be left running.
    let dir = tempfile::tempdir()?;
    let (starts, stops) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let t = test_context();
    t.collect(&t.context().receiver_stream(Counting {
        starts: starts.clone(),
        stops: stops.clone(),
    }));
    t.collect(&t.context().text_file_stream(dir.path().join("missing")));
    assert!(t.context().start().is_err());
    assert_eq!(starts.load(Ordering::SeqCst), stops.load(Ordering::SeqCst));
    Ok(())
}

// ---------------------------------------------------------------- queue_stream

#[test]
fn queue_one_at_a_time_takes_one_queued_batch_per_batch() -> TestResult {
    let t = test_context();
    let queue = StreamQueue::new();
    queue.push(vec![1, 2]);
    queue.push(vec![]);
    queue.push(vec![3]);
    let out = t.collect(&t.context().queue_stream(queue.clone(), true, None));
    t.start()?;
    t.advance_batches(4)?;
    assert!(queue.is_empty());
    // Pushed while running: goes into the next batch.
    queue.push(vec![4]);
    t.advance_batches(1)?;
    t.context().stop(false)?;
    assert_eq!(out.batches(), vec![vec![1, 2], vec![], vec![3], vec![], vec![4]]);
    Ok(())
}

#[test]
fn queue_not_one_at_a_time_takes_everything_queued() -> TestResult {
    let t = test_context();
    let queue = StreamQueue::new();
    queue.push(vec![1, 2]);
    queue.push(vec![3]);
    let out = t.collect(&t.context().queue_stream(queue.clone(), false, None));
    t.start()?;
    t.advance_batches(2)?;
    queue.push(vec![4]);
    queue.push(vec![5, 6]);
    t.advance_batches(1)?;
    t.context().stop(false)?;
    assert_eq!(out.batches(), vec![vec![1, 2, 3], vec![], vec![4, 5, 6]]);
    Ok(())
}

#[test]
fn queue_default_fills_batches_when_the_queue_is_empty() -> TestResult {
    let t = test_context();
    let queue = StreamQueue::new();
    queue.push(vec!["real"]);
    let one = t.collect(&t.context().queue_stream(queue, true, Some(vec!["default"])));
    let all_queue = StreamQueue::new();
    all_queue.push(vec!["x"]);
    let all = t.collect(&t.context().queue_stream(all_queue, false, Some(vec!["d1", "d2"])));
    t.run(3)?;
    assert_eq!(
        one.batches(),
        vec![vec!["real"], vec!["default"], vec!["default"]]
    );
    assert_eq!(all.batches(), vec![vec!["x"], vec!["d1", "d2"], vec!["d1", "d2"]]);
    Ok(())
}

// ---------------------------------------------------------------- generators

#[test]
fn generator_stream_is_deterministic_and_replayable() -> TestResult {
    let run = || -> Result<Vec<Vec<(u64, u64)>>, Error> {
        let t = TestContext::new(Duration::seconds(1), 3)?;
        let out = t.collect(&t.context().generator_stream(5, |i| (i, i * i % 7)));
        t.run(3)?;
        Ok(out.batches())
    };
    let first = run()?;
    assert_eq!(first, run()?);
    let indices: Vec<Vec<u64>> = first
        .iter()
        .map(|b| b.iter().map(|(i, _)| *i).collect())
        .collect();
    assert_eq!(
        indices,
        vec![vec![0, 1, 2, 3, 4], vec![5, 6, 7, 8, 9], vec![10, 11, 12, 13, 14]]
    );
    Ok(())
}

#[test]
fn generator_stream_splits_each_batch_over_the_workers() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 3)?;
    let out = t.collect(&t.context().generator_stream(9, |i| i).glom().map(|p| p.len()));
    let none = t.collect(&t.context().generator_stream(0, |i| i));
    t.run(1)?;
    assert_eq!(out.batches(), vec![vec![3, 3, 3]]);
    assert_eq!(none.batches(), vec![Vec::<u64>::new()]);
    Ok(())
}

#[test]
fn rate_stream_spreads_rows_evenly_over_each_interval() -> TestResult {
    let run = || -> Result<Vec<Vec<(i64, u64)>>, Error> {
        let t = test_context();
        let out = t.collect(&t.context().rate_stream(4).map(|(ts, v)| (ts.millis(), v)));
        t.run(2)?;
        Ok(out.batches())
    };
    let first = run()?;
    assert_eq!(
        first,
        vec![
            vec![(0, 0), (250, 1), (500, 2), (750, 3)],
            vec![(1000, 4), (1250, 5), (1500, 6), (1750, 7)],
        ]
    );
    assert_eq!(first, run()?, "the same rows in every run");
    Ok(())
}

#[test]
fn rate_stream_keeps_its_rate_when_a_batch_holds_less_than_one_row() -> TestResult {
    let t = TestContext::new(Duration::from_millis(500), 2)?;
    let out = t.collect(&t.context().rate_stream(1));
    let three = t.collect(&t.context().rate_stream(3));
    t.run(4)?;
    // Two seconds at one row per second, and at three rows per second.
    assert_eq!(out.batches().concat().len(), 2, "{:?}", out.batches());
    assert_eq!(three.batches().concat().len(), 6, "{:?}", three.batches());
    Ok(())
}

// ---------------------------------------------------------------- receiver_stream

/// A receiver that stores 1 and 2, reports an error and asks for a restart the first time it
/// starts; after the restart it stores 3 and waits to be stopped.
struct Flaky {
    starts: Arc<AtomicUsize>,
    stops: Arc<AtomicUsize>,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Receiver<i32> for Flaky {
    fn on_start(&self, ctx: ReceiverContext<i32>) {
        let attempt = self.starts.fetch_add(1, Ordering::SeqCst);
        let handle = std::thread::spawn(move || {
            if attempt == 0 {
                ctx.store_all([1, 2]);
                ctx.report_error("feed hiccup");
                ctx.restart("feed hiccup");
            } else {
                ctx.set_active(true);
                ctx.store(3);
                while !ctx.wait_stopped("1 second").unwrap() {}
                ctx.set_active(false);
            }
        });
        *self.worker.lock().unwrap() = Some(handle);
    }

    fn on_stop(&self) {
        self.stops.fetch_add(1, Ordering::SeqCst);
        if let Some(handle) = self.worker.lock().unwrap().take() {
            handle.join().unwrap();
        }
    }

    fn name(&self) -> String {
        "flaky feed".into()
    }

    fn restart_delay(&self) -> Duration {
        Duration::from_millis(10)
    }
}

#[test]
fn a_custom_receiver_is_started_restarted_and_stopped() -> TestResult {
    let (starts, stops) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let t = test_context();
    let errors = listen_for_receiver_errors(&t);
    let out = t.collect(&t.context().receiver_stream(Flaky {
        starts: starts.clone(),
        stops: stops.clone(),
        worker: Mutex::new(None),
    }));
    assert_eq!(
        starts.load(Ordering::SeqCst),
        0,
        "nothing starts before the context"
    );
    t.start()?;
    assert!(t.context().await_records_received(3, PATIENCE)?);
    let reported = errors.recv_timeout(PATIENCE)?;
    assert_eq!(reported.name, "flaky feed");
    assert_eq!(reported.last_error.as_deref(), Some("feed hiccup"));
    t.advance_batches(1)?;
    let status = t.context().receiver_statuses()[0].clone();
    assert_eq!(
        (status.records, status.errors, status.restarts),
        (3, 1, 1),
        "{status:?}"
    );
    assert!(status.active, "{status:?}");
    t.context().stop(false)?;
    assert_eq!(sorted(&out.batches()[0]), vec![1, 2, 3]);
    assert_eq!(starts.load(Ordering::SeqCst), 2);
    assert_eq!(
        stops.load(Ordering::SeqCst),
        2,
        "stopped for the restart, and at the end"
    );
    assert!(!t.context().receiver_statuses()[0].active);
    Ok(())
}

/// Stores from several threads at once.
struct Parallel {
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Receiver<(usize, usize)> for Parallel {
    fn on_start(&self, ctx: ReceiverContext<(usize, usize)>) {
        let mut workers = self.workers.lock().unwrap();
        for w in 0..4 {
            let ctx = ctx.clone();
            workers.push(std::thread::spawn(move || {
                for i in 0..1_000 {
                    ctx.store((w, i));
                }
            }));
        }
    }

    fn on_stop(&self) {
        for handle in self.workers.lock().unwrap().drain(..) {
            handle.join().unwrap();
        }
    }
}

#[test]
fn a_receiver_may_store_from_many_threads() -> TestResult {
    let t = test_context();
    let out = t.collect(&t.context().receiver_stream(Parallel {
        workers: Mutex::default(),
    }));
    t.start()?;
    assert!(t.context().await_records_received(4_000, PATIENCE)?);
    t.advance_batches(2)?;
    t.context().stop(false)?;
    let batches = out.batches();
    assert_eq!(batches[0].len(), 4_000);
    assert!(batches[1].is_empty());
    let mut per_thread = [0_usize; 4];
    for (w, _) in &batches[0] {
        per_thread[*w] += 1;
    }
    assert_eq!(per_thread, [1_000; 4]);
    assert_eq!(t.context().receiver_statuses()[0].name, "receiver_stream");
    Ok(())
}
