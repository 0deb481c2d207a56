//! An adversarial review of robustness (bounded memory, hostile input, absurd settings) and of
//! continuous processing: each test is an attack that once found a defect, or one that must keep
//! holding. Engines are waited on through their own events (`process_all_available`,
//! `await_termination`, a counter the pipeline moves), never with a sleep.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::{PATIENCE, TestResult};
use streamflow::source::{ReadLimit, Source, SourceBatch};
use streamflow::structured::*;
use streamflow::{Error, ManualClock, Time};

fn session(parallelism: usize) -> Session {
    Session::builder()
        .parallelism(parallelism)
        .clock(ManualClock::new(0))
        .build()
        .unwrap()
}

/// Waits until `done()` holds, looking again whenever the engine may have moved; `false` after
/// `patience`.
fn eventually(patience: std::time::Duration, done: impl Fn() -> bool) -> bool {
    let until = std::time::Instant::now() + patience;
    while std::time::Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::yield_now();
    }
    done()
}

// ---------------------------------------------------------------------------------------------
// Continuous mode: failures of user code and of sources
// ---------------------------------------------------------------------------------------------

/// A source whose `latest_offset` fails (or panics) once it handed out `good` records.
struct Failing {
    good: u64,
    panic: bool,
}

impl Source for Failing {
    type Item = u64;
    type Offset = u64;
    fn name(&self) -> String {
        "failing".into()
    }
    fn initial_offset(&self) -> u64 {
        0
    }
    fn latest_offset(&self, start: &u64, _: ReadLimit, _: Time) -> streamflow::Result<u64> {
        if *start >= self.good {
            if self.panic {
                panic!("the source broke at {start}");
            }
            return Err(Error::Source {
                source_name: "failing".into(),
                message: format!("the network is gone at {start}"),
            });
        }
        Ok(self.good)
    }
    fn get_batch(&self, start: &u64, end: &u64) -> streamflow::Result<SourceBatch<u64>> {
        Ok(SourceBatch::from_vec((*start..*end).collect()))
    }
    fn is_replayable(&self) -> bool {
        true
    }
}

/// A source that fails after some records: the continuous query stops with the source's own
/// error, not a hang and not a generic one.
/// The error a continuous query reading `source` (through a `map`) stops with.
fn continuous_failure(source: Failing) -> String {
    let query = session(2)
        .read_stream::<u64>()
        .source(source)
        .map(|n| n * 2)
        .write_stream()
        .trigger(Trigger::continuous("1 second"))
        .memory("failing")
        .start()
        .unwrap();
    query.await_termination().unwrap_err().to_string()
}

#[test]
fn continuous_a_source_that_fails_mid_epoch_stops_the_query_with_its_error() {
    let err = continuous_failure(Failing {
        good: 100,
        panic: false,
    });
    assert!(err.contains("the network is gone at 100"), "{err}");
}

/// A source that panics: the error names what it said, as a panic in a micro-batch's source
/// does — not only "the continuous reader panicked".
#[test]
fn continuous_a_source_that_panics_stops_the_query_with_its_message() {
    let err = continuous_failure(Failing {
        good: 10,
        panic: true,
    });
    assert!(err.contains("the source broke at 10"), "{err}");
}

/// A file source in continuous mode reads its files on the reader's thread: a malformed line
/// under fail-fast must fail the query with the error that names the file and the line.
#[test]
fn continuous_a_fail_fast_file_error_names_the_file_and_line() -> TestResult {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("in.json"), "1\noops\n3\n")?;
    let session = session(1);
    let query = session
        .read_stream::<i64>()
        .mode(MalformedPolicy::FailFast)
        .files(dir.path())
        .write_stream()
        .trigger(Trigger::continuous("1 second"))
        .memory("strict")
        .start()?;
    let err = query.await_termination().unwrap_err().to_string();
    assert!(err.contains("in.json at line 2"), "{err}");
    Ok(())
}

/// A panicking grouping key and a panicking `foreach` writer each stop the query naming their
/// operator.
#[test]
fn continuous_a_panic_in_a_key_or_a_foreach_writer_names_the_operator() {
    let session = session(2);
    let input = MemoryStream::<i64>::new();
    let query = session
        .read_stream::<i64>()
        .memory(&input)
        .group_by(|n| if *n == 7 { panic!("no sevens") } else { *n % 3 })
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .trigger(Trigger::continuous("1 second"))
        .memory("keyed")
        .start()
        .unwrap();
    input.add_data([1, 2, 7]);
    match query.await_termination().unwrap_err() {
        Error::UserCode { operator, .. } => assert_eq!(operator, "group_by"),
        other => panic!("{other}"),
    }

    #[derive(Clone)]
    struct Boom;
    impl ForeachWriter<i64> for Boom {
        fn open(&mut self, _: u64, _: u64) -> bool {
            true
        }
        fn process(&mut self, row: i64) {
            assert!(row != 2, "the writer cannot take 2");
        }
        fn close(&mut self, _: Option<&str>) {}
    }
    let input = MemoryStream::<i64>::new();
    let query = session
        .read_stream::<i64>()
        .memory(&input)
        .write_stream()
        .trigger(Trigger::continuous("1 second"))
        .foreach(Boom)
        .start()
        .unwrap();
    input.add_data([1, 2, 3]);
    match query.await_termination().unwrap_err() {
        Error::UserCode {
            operator, message, ..
        } => {
            assert_eq!(operator, "foreach");
            assert!(message.contains("cannot take 2"), "{message}");
        }
        other => panic!("{other}"),
    }
}

/// `process_all_available` with nothing to read returns at once — from a memory stream and an
/// empty directory alike — and again after the input was read.
#[test]
fn continuous_process_all_available_with_nothing_to_read_returns() -> TestResult {
    let session = session(2);
    let input = MemoryStream::<i64>::new();
    let query = session
        .read_stream::<i64>()
        .memory(&input)
        .write_stream()
        .trigger(Trigger::continuous("1 second"))
        .memory("nothing")
        .start()?;
    query.process_all_available()?;
    query.process_all_available()?;
    input.add_data([1]);
    query.process_all_available()?;
    query.process_all_available()?;
    assert_eq!(session.memory_table::<i64>("nothing")?.rows(), [1]);
    query.stop()?;

    let dir = tempfile::tempdir()?;
    let query = session
        .read_stream::<String>()
        .files(dir.path())
        .write_stream()
        .trigger(Trigger::continuous("1 second"))
        .memory("empty_dir")
        .start()?;
    query.process_all_available()?;
    std::fs::write(dir.path().join("a.txt"), "x\n")?;
    query.process_all_available()?;
    assert_eq!(session.memory_table::<String>("empty_dir")?.rows(), ["x"]);
    query.stop()?;
    Ok(())
}

/// A sink whose `add_batch` waits until the test opens its gate.
struct Gated {
    open: Arc<(Mutex<bool>, std::sync::Condvar)>,
    entered: Arc<AtomicBool>,
    rows: Arc<AtomicU64>,
}

impl<T: streamflow::Data> streamflow::sink::Sink<T> for Gated {
    fn name(&self) -> String {
        "gated".into()
    }
    fn add_batch(&self, _: streamflow::BatchId, rows: streamflow::Batch<T>) -> streamflow::Result<()> {
        self.entered.store(true, Ordering::Release);
        let (lock, cv) = &*self.open;
        let mut open = lock.lock().unwrap();
        while !*open {
            open = cv.wait(open).unwrap();
        }
        self.rows.fetch_add(rows.collect().len() as u64, Ordering::AcqRel);
        Ok(())
    }
}

/// `stop()` while an epoch is being committed (the sink is in the middle of its batch): the
/// commit finishes, then the query stops cleanly; nothing hangs.
#[test]
fn continuous_stop_while_an_epoch_commits_waits_for_the_commit_then_stops() -> TestResult {
    let session = session(2);
    let input = MemoryStream::<i64>::new();
    let open = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let entered = Arc::new(AtomicBool::new(false));
    let rows = Arc::new(AtomicU64::new(0));
    let query = session
        .read_stream::<i64>()
        .memory(&input)
        .write_stream()
        .trigger(Trigger::continuous("1 second"))
        .sink(Gated {
            open: open.clone(),
            entered: entered.clone(),
            rows: rows.clone(),
        })
        .start()?;
    input.add_data(0..10_000);
    // Someone waits for the input: the epoch ends and its commit blocks in the sink.
    let waiter = {
        let query = query.clone();
        std::thread::spawn(move || query.process_all_available())
    };
    assert!(eventually(PATIENCE, || entered.load(Ordering::Acquire)));
    // More input while the commit blocks: channels fill, the reader is held back.
    for i in 0..20 {
        input.add_data(i * 10_000..(i + 1) * 10_000);
    }
    let stopper = {
        let query = query.clone();
        std::thread::spawn(move || query.stop())
    };
    *open.0.lock().unwrap() = true;
    open.1.notify_all();
    stopper.join().unwrap()?;
    let _ = waiter.join().unwrap();
    assert!(rows.load(Ordering::Acquire) >= 10_000);
    assert!(!query.is_active());
    Ok(())
}

/// A source that has `step` more records each time it is asked (0: an idle source), noting
/// how often it was asked and how far it was asked to read.
struct Probe {
    step: u64,
    looks: Arc<AtomicU64>,
    furthest: Arc<AtomicU64>,
}

impl Probe {
    fn new(step: u64) -> Self {
        Probe {
            step,
            looks: Arc::default(),
            furthest: Arc::default(),
        }
    }
}

impl Source for Probe {
    type Item = i64;
    type Offset = u64;
    fn name(&self) -> String {
        "probe".into()
    }
    fn initial_offset(&self) -> u64 {
        0
    }
    fn latest_offset(&self, start: &u64, _: ReadLimit, _: Time) -> streamflow::Result<u64> {
        self.looks.fetch_add(1, Ordering::Relaxed);
        self.furthest.fetch_max(*start, Ordering::AcqRel);
        Ok(start + self.step)
    }
    fn get_batch(&self, start: &u64, end: &u64) -> streamflow::Result<SourceBatch<i64>> {
        Ok(SourceBatch::from_vec((*start as i64..*end as i64).collect()))
    }
    fn is_replayable(&self) -> bool {
        true
    }
}

/// A source that always has more, a clock that never reaches the end of the epoch, and a sink
/// that cannot keep up: epochs still end (at a bounded number of records each), and once a
/// bounded number of them wait for their commit the reader stops reading — memory stays
/// bounded instead of one epoch growing forever. Once the sink moves again, so does the query.
#[test]
fn continuous_an_endless_source_into_a_stuck_sink_reads_a_bounded_amount() -> TestResult {
    let session = session(2);
    let endless = Probe::new(10_000);
    let asked = endless.furthest.clone();
    let open = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let entered = Arc::new(AtomicBool::new(false));
    let rows = Arc::new(AtomicU64::new(0));
    let query = session
        .read_stream::<i64>()
        .source(endless)
        .write_stream()
        .trigger(Trigger::continuous("1 hour"))
        .sink(Gated {
            open: open.clone(),
            entered: entered.clone(),
            rows: rows.clone(),
        })
        .start()?;
    // The first epoch ends although its hour never passes, and its commit blocks in the sink.
    assert!(
        eventually(PATIENCE, || entered.load(Ordering::Acquire)),
        "no epoch ended: everything read waits in one epoch"
    );
    // Asserting that something does not happen takes a wait on the wall clock: the reader
    // holds back, far below what it would read in that time.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let read = asked.load(Ordering::Acquire);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(asked.load(Ordering::Acquire), read, "the reader went on reading");
    assert!(read <= 8_000_000, "{read} records read ahead of a stuck sink");
    *open.0.lock().unwrap() = true;
    open.1.notify_all();
    assert!(eventually(PATIENCE, || rows.load(Ordering::Acquire) > read));
    query.stop()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The file source: what lands in its directory
// ---------------------------------------------------------------------------------------------

/// Writes `text` to `dir/name` with a modification time `age` seconds ago (older than the
/// settle time: taken at once, in this order).
fn aged(dir: &std::path::Path, name: &str, text: &str, age: u64) -> std::io::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(age);
    std::fs::File::options()
        .write(true)
        .open(&path)?
        .set_modified(when)
}

/// The rows of each batch of a memory table.
fn batches<T: streamflow::Data>(session: &Session, table: &str) -> Vec<Vec<T>> {
    session
        .memory_table::<T>(table)
        .unwrap()
        .batches()
        .into_iter()
        .map(|(_, rows)| rows)
        .collect()
}

/// A file symlinked into the directory is a file of the directory (as Spark's local file
/// system sees it): read, not skipped in silence. A dangling link is skipped.
#[cfg(unix)]
#[test]
fn a_symlinked_file_is_read_and_a_dangling_link_skipped() -> TestResult {
    let dir = tempfile::tempdir()?;
    let elsewhere = tempfile::tempdir()?;
    aged(elsewhere.path(), "real.txt", "linked\n", 60)?;
    std::os::unix::fs::symlink(elsewhere.path().join("real.txt"), dir.path().join("link.txt"))?;
    std::os::unix::fs::symlink(elsewhere.path().join("gone.txt"), dir.path().join("dangling.txt"))?;
    aged(dir.path(), "plain.txt", "plain\n", 30)?;
    let session = session(1);
    let query = session
        .read_stream::<String>()
        .files(dir.path())
        .write_stream()
        .memory("linked")
        .start()?;
    query.process_all_available()?;
    let mut rows = session.memory_table::<String>("linked")?.rows();
    rows.sort();
    assert_eq!(rows, ["linked", "plain"]);
    query.stop()?;
    Ok(())
}

/// `max_bytes_per_trigger` with empty files between full ones, and a file larger than the
/// limit: empty files cost nothing and never stall a batch, the large file is read alone.
#[test]
fn max_bytes_per_trigger_takes_empty_files_along_and_a_large_file_alone() -> TestResult {
    let dir = tempfile::tempdir()?;
    aged(dir.path(), "a.json", "1\n2\n", 50)?; // 4 bytes
    aged(dir.path(), "b.json", "", 40)?;
    aged(dir.path(), "c.json", "", 35)?;
    aged(dir.path(), "d.json", "10000\n20000\n", 30)?; // 12 bytes, over the limit
    aged(dir.path(), "e.json", "5\n", 20)?;
    let session = session(1);
    let query = session
        .read_stream::<i64>()
        .max_bytes_per_trigger(6)
        .files(dir.path())
        .write_stream()
        .memory("by_bytes")
        .start()?;
    query.process_all_available()?;
    assert_eq!(
        batches::<i64>(&session, "by_bytes"),
        [vec![1, 2], vec![10_000, 20_000], vec![5]]
    );
    query.stop()?;
    Ok(())
}

/// With a checkpoint and `max_bytes_per_trigger`, a restart finds the sizes of the files it
/// took before (not recorded in the log) and carries on with the same batches; a file deleted
/// before its batch ran is a clear error naming it, not a silent skip.
#[test]
fn max_bytes_per_trigger_after_a_restart_and_a_file_deleted_before_its_batch() -> TestResult {
    let dir = tempfile::tempdir()?;
    let checkpoint = tempfile::tempdir()?;
    for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
        aged(dir.path(), &format!("{name}.json"), "1\n2\n", 60 - i as u64)?;
    }
    let session = session(1);
    let start = |table: &str| {
        session
            .read_stream::<i64>()
            .max_bytes_per_trigger(8)
            .files(dir.path())
            .write_stream()
            .checkpoint_location(checkpoint.path())
            .memory(table)
            .start()
    };
    let first = start("first")?;
    first.process_all_available()?;
    first.stop()?;
    assert_eq!(
        batches::<i64>(&session, "first"),
        [vec![1, 2, 1, 2], vec![1, 2, 1, 2]]
    );
    aged(dir.path(), "e.json", "3\n", 10)?;
    aged(dir.path(), "f.json", "4\n", 5)?;
    std::fs::remove_file(dir.path().join("a.json"))?; // read already: no harm
    let second = start("second")?;
    second.process_all_available()?;
    assert_eq!(batches::<i64>(&session, "second"), [vec![3, 4]]);
    second.stop()?;

    // A file listed, then deleted before its batch runs.
    let dir = tempfile::tempdir()?;
    aged(dir.path(), "x.json", "1\n", 30)?;
    aged(dir.path(), "y.json", "2\n", 20)?;
    *DELETE.lock().unwrap() = Some(dir.path().join("y.json"));
    let query = session
        .read_stream::<i64>()
        .max_files_per_trigger(1)
        .files(dir.path())
        .map(|n| {
            if n == 1 {
                // Runs after the listing took y.json in: the next batch finds it gone.
                let _ = std::fs::remove_file(DELETE.lock().unwrap().as_ref().unwrap());
            }
            n
        })
        .write_stream()
        .memory("deleted")
        .start()?;
    let err = query.process_all_available().unwrap_err().to_string();
    assert!(err.contains("y.json") && err.contains("cannot read"), "{err}");
    Ok(())
}

/// The file the `map` above deletes.
static DELETE: Mutex<Option<std::path::PathBuf>> = Mutex::new(None);

/// Files whose names are not UTF-8 are read, with or without a checkpoint: the source's log
/// keeps such a name as its bytes, so a restart names the same file and does not take it again.
#[cfg(target_os = "linux")]
#[test]
fn a_file_name_that_is_not_utf8_is_read_and_kept_across_a_restart() -> TestResult {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir()?;
    let write = |name: &[u8], line: &str| -> std::io::Result<()> {
        let path = dir.path().join(std::ffi::OsStr::from_bytes(name));
        std::fs::write(&path, line)?;
        let when = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(&path)?
            .set_modified(when)
    };
    write(b"caf\xe9.txt", "latin1\n")?;
    let session = session(1);
    let query = session
        .read_stream::<String>()
        .files(dir.path())
        .write_stream()
        .memory("latin1")
        .start()?;
    query.process_all_available()?;
    assert_eq!(session.memory_table::<String>("latin1")?.rows(), ["latin1"]);
    query.stop()?;
    let checkpoint = tempfile::tempdir()?;
    let start = || {
        session
            .read_stream::<String>()
            .files(dir.path())
            .write_stream()
            .checkpoint_location(checkpoint.path())
            .memory("latin1_checkpointed")
            .start()
    };
    let query = start()?;
    query.process_all_available()?;
    query.stop()?;
    let table = || session.memory_table::<String>("latin1_checkpointed");
    assert_eq!(table()?.rows(), ["latin1"]);
    // The restarted query (a new memory table) takes only the new file.
    write(b"na\xefve.txt", "second\n")?;
    let query = start()?;
    query.process_all_available()?;
    query.stop()?;
    assert_eq!(table()?.rows(), ["second"]);
    Ok(())
}

/// A directory of 5,000 files: each taken once, in order, with one batch per
/// `max_files_per_trigger`.
#[test]
fn a_directory_of_many_files_is_read_once_each_in_bounded_batches() -> TestResult {
    let dir = tempfile::tempdir()?;
    for i in 0..5_000 {
        aged(dir.path(), &format!("{i:05}.txt"), &format!("{i}\n"), 60)?;
    }
    let session = session(2);
    let query = session
        .read_stream::<String>()
        .max_files_per_trigger(1_000)
        .files(dir.path())
        .write_stream()
        .memory("many")
        .start()?;
    query.process_all_available()?;
    let got = batches::<String>(&session, "many");
    assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), [1_000; 5]);
    let mut all: Vec<u32> = got.concat().iter().map(|s| s.parse().unwrap()).collect();
    all.sort_unstable();
    assert_eq!(all, (0..5_000).collect::<Vec<_>>());
    query.stop()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Absurd settings: a clear error or sane behaviour, never a panic, a hang or a wrap
// ---------------------------------------------------------------------------------------------

/// The longest line limit there is reads lines as usual (no overflow in the limit's arithmetic:
/// a panic in a debug build, every line "too long" in a release build).
#[test]
fn the_largest_line_limit_reads_lines_as_usual() -> TestResult {
    let dir = tempfile::tempdir()?;
    aged(dir.path(), "in.txt", "one\ntwo\n", 30)?;
    let session = session(1);
    let reader = session
        .read_stream::<String>()
        .limits(streamflow::source::SourceLimits::default().max_line_length(usize::MAX));
    let corrupt = reader.corrupt_records();
    let query = reader
        .files(dir.path())
        .write_stream()
        .memory("unlimited")
        .start()?;
    query.process_all_available()?;
    assert_eq!(
        session.memory_table::<String>("unlimited")?.rows(),
        ["one", "two"]
    );
    assert_eq!(corrupt.total(), 0);
    query.stop()?;
    Ok(())
}

/// A settle time of hours would have the query's thread sleep that long on every young file,
/// deaf to `stop()`: it is refused, saying why and what to do instead.
#[test]
fn an_absurd_settle_time_is_refused() {
    let err = streamflow::source::SourceLimits::default()
        .settle_time(streamflow::Duration::hours(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("settle") && err.contains("rename"), "{err}");
}

/// A session of zero workers: an error, or one worker — never a query that hangs.
#[test]
fn a_session_of_zero_workers_is_refused_or_runs() {
    match Session::builder()
        .parallelism(0)
        .clock(ManualClock::new(0))
        .build()
    {
        Err(e) => assert!(e.to_string().contains("parallelism"), "{e}"),
        Ok(session) => {
            let input = MemoryStream::<i64>::new();
            let query = session
                .read_stream::<i64>()
                .memory(&input)
                .write_stream()
                .memory("zero")
                .start()
                .unwrap();
            input.add_data([1, 2]);
            query.process_all_available().unwrap();
            assert_eq!(session.memory_table::<i64>("zero").unwrap().rows(), [1, 2]);
            query.stop().unwrap();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The socket source against hostile servers
// ---------------------------------------------------------------------------------------------

/// Runs batches until `table` holds `n` rows (the socket is read on its own thread).
fn await_rows<T: streamflow::Data>(
    query: &StreamingQuery,
    session: &Session,
    table: &str,
    n: usize,
) -> Vec<T> {
    let table = session.memory_table::<T>(table).unwrap();
    let until = std::time::Instant::now() + PATIENCE;
    while table.rows().len() < n && std::time::Instant::now() < until {
        query.process_all_available().unwrap();
    }
    table.rows()
}

/// Garbage between good lines (bytes that are not UTF-8, NULs, lone `\r`, broken JSON, a very
/// long line), then a last line without its `\n` and the server closes: the good lines arrive,
/// the last one too, and each bad one is counted as a malformed row.
#[test]
fn socket_garbage_and_a_last_line_cut_by_the_close() -> TestResult {
    use std::io::Write;
    let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = server.local_addr()?.port();
    let session = session(2);
    let query = session
        .read_stream::<i64>()
        .limits(streamflow::source::SourceLimits::default().max_line_length(1_000))
        .socket("127.0.0.1", port)
        .write_stream()
        .memory("from_socket")
        .start()?;
    let (mut conn, _) = server.accept()?;
    conn.write_all(b"1\n\xff\xfe\xfd\n\0\0\0\n\r\n{\"half\n")?;
    conn.write_all(&vec![b'7'; 5_000])?;
    conn.write_all(b"\n2\n3")?;
    drop(conn);
    let rows = await_rows::<i64>(&query, &session, "from_socket", 3);
    assert_eq!(rows, [1, 2, 3]);
    let malformed: u64 = query
        .recent_progress()
        .iter()
        .map(|p| p.sources[0].num_malformed_rows)
        .sum();
    // Not UTF-8, NULs, the broken JSON and the long line; the empty line (`\r\n`) is no record.
    assert_eq!(malformed, 4);
    query.stop()?;
    Ok(())
}

/// A server that accepts and then says nothing, never closing (a half-open connection): the
/// query idles, and `stop()` returns promptly instead of waiting on the silent socket.
#[test]
fn socket_a_silent_server_does_not_hold_stop() -> TestResult {
    let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = server.local_addr()?.port();
    let session = session(1);
    let query = session
        .read_stream::<String>()
        .socket("127.0.0.1", port)
        .write_stream()
        .memory("silent")
        .start()?;
    let (_conn, _) = server.accept()?;
    query.process_all_available()?;
    let stopping = std::time::Instant::now();
    query.stop()?;
    assert!(
        stopping.elapsed() < std::time::Duration::from_secs(5),
        "stop() took {:?}",
        stopping.elapsed()
    );
    Ok(())
}

/// Malformed rows are counted in a continuous query's progress as in a micro-batch's.
#[test]
fn continuous_progress_counts_malformed_rows() -> TestResult {
    let dir = tempfile::tempdir()?;
    aged(dir.path(), "in.json", "1\n{oops\n2\nnope\n", 30)?;
    let session = session(1);
    let reader = session.read_stream::<i64>();
    let corrupt = reader.corrupt_records();
    let query = reader
        .files(dir.path())
        .write_stream()
        .trigger(Trigger::continuous("1 second"))
        .memory("counted")
        .start()?;
    query.process_all_available()?;
    assert_eq!(session.memory_table::<i64>("counted")?.rows(), [1, 2]);
    assert_eq!(corrupt.total(), 2);
    let malformed: u64 = query
        .recent_progress()
        .iter()
        .map(|p| p.sources[0].num_malformed_rows)
        .sum();
    assert_eq!(malformed, 2);
    query.stop()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Continuous mode and micro-batches sharing a checkpoint
// ---------------------------------------------------------------------------------------------

/// The last row of each key.
fn last_per_key(rows: &[AggRow<String, u64>]) -> std::collections::BTreeMap<String, u64> {
    rows.iter().map(|r| (r.key.clone(), r.value)).collect()
}

/// A word count in Update mode with `trigger`, on `input`, checkpointed in `dir` if given,
/// into `table`.
fn word_count(
    session: &Session,
    input: &MemoryStream<String>,
    trigger: Trigger,
    dir: Option<&std::path::Path>,
    table: &str,
) -> StreamingQuery {
    let writer = session
        .read_stream::<String>()
        .memory(input)
        .group_by(|w| w.clone())
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .trigger(trigger);
    match dir {
        Some(dir) => writer.checkpoint_location(dir),
        None => writer,
    }
    .memory(table)
    .start()
    .unwrap()
}

/// One query of `first`'s trigger runs two batches and "crashes" after planning the second
/// (its commit removed); one of `second`'s trigger re-runs that batch with exactly its recorded
/// input and state, then carries on: the counts are those of one uninterrupted run.
fn take_over_a_planned_batch(first: Trigger, second: Trigger) -> TestResult {
    let session = session(2);
    let dir = tempfile::tempdir()?;
    let input = MemoryStream::<String>::new();
    let q1 = word_count(&session, &input, first, Some(dir.path()), "first");
    input.add_data(["a", "b", "a"].map(String::from));
    q1.process_all_available()?;
    input.add_data(["a", "c"].map(String::from));
    q1.process_all_available()?;
    q1.stop()?;
    std::fs::remove_file(dir.path().join("commits/1"))?;
    let q2 = word_count(&session, &input, second, Some(dir.path()), "second");
    q2.process_all_available()?;
    input.add_data(["b", "c", "d"].map(String::from));
    q2.process_all_available()?;
    let batches = session.memory_table::<AggRow<String, u64>>("second")?.batches();
    assert_eq!(batches.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        last_per_key(&batches[0].1),
        [("a".to_string(), 3), ("c".to_string(), 1)].into()
    );
    assert_eq!(
        last_per_key(&batches[1].1),
        [("b".to_string(), 2), ("c".to_string(), 2), ("d".to_string(), 1)].into()
    );
    q2.stop()?;
    Ok(())
}

#[test]
fn continuous_takes_over_a_batch_a_micro_batch_query_planned_and_never_committed() -> TestResult {
    take_over_a_planned_batch(Trigger::default(), Trigger::continuous("1 second"))
}

#[test]
fn micro_batches_take_over_an_epoch_a_continuous_query_planned_and_never_committed() -> TestResult {
    take_over_a_planned_batch(Trigger::continuous("1 second"), Trigger::default())
}

/// A flood into a continuous query whose sink is stuck: the reader holds back, the socket's
/// receiver fills its bounded buffer and stops reading, and TCP stops the sender — then, with
/// the sink moving again, every line arrives exactly once.
#[test]
fn continuous_a_socket_flood_into_a_stuck_sink_stops_the_sender_and_loses_nothing() -> TestResult {
    use std::io::Write;
    const LINES: u64 = 6_000_000;
    let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = server.local_addr()?.port();
    let session = session(2);
    let open = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let entered = Arc::new(AtomicBool::new(false));
    let rows = Arc::new(AtomicU64::new(0));
    let query = session
        .read_stream::<i64>()
        .limits(streamflow::source::SourceLimits::default().max_buffered_records(10_000))
        .socket("127.0.0.1", port)
        .write_stream()
        .trigger(Trigger::continuous("1 hour"))
        .sink(Gated {
            open: open.clone(),
            entered: entered.clone(),
            rows: rows.clone(),
        })
        .start()?;
    let (mut conn, _) = server.accept()?;
    let sent = Arc::new(AtomicU64::new(0));
    let writer = {
        let sent = sent.clone();
        std::thread::spawn(move || -> std::io::Result<()> {
            let block: Vec<u8> = b"1234567\n".repeat(10_000);
            for _ in 0..LINES / 10_000 {
                conn.write_all(&block)?;
                sent.fetch_add(10_000, Ordering::AcqRel);
            }
            Ok(())
        })
    };
    assert!(eventually(PATIENCE * 3, || entered.load(Ordering::Acquire)));
    // Asserting that the sender is held takes a wait on the wall clock.
    let mut last = u64::MAX;
    let until = std::time::Instant::now() + PATIENCE * 3;
    while std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(300));
        let now = sent.load(Ordering::Acquire);
        if now == last {
            break;
        }
        last = now;
    }
    assert!(last < LINES, "the sender was never held back");
    *open.0.lock().unwrap() = true;
    open.1.notify_all();
    writer.join().unwrap()?;
    // The last epoch ends when someone waits for the input (its hour never passes).
    let until = std::time::Instant::now() + PATIENCE * 6;
    while rows.load(Ordering::Acquire) < LINES && std::time::Instant::now() < until {
        query.process_all_available()?;
    }
    assert!(
        rows.load(Ordering::Acquire) >= LINES,
        "{} of {LINES} lines arrived",
        rows.load(Ordering::Acquire)
    );
    query.stop()?;
    assert_eq!(rows.load(Ordering::Acquire), LINES);
    Ok(())
}

/// An idle continuous query looks at a source that cannot wake it less and less often: every
/// millisecond for the first second (latency after a short pause), then every 10 ms — not a
/// thousand times a second for ever. (A micro-batch query backs off to 1 s.)
#[test]
fn continuous_an_idle_query_looks_at_its_sources_less_and_less_often() -> TestResult {
    let idle = Probe::new(0);
    let looks = idle.looks.clone();
    let session = Session::builder().parallelism(1).build()?;
    let query = session
        .read_stream::<i64>()
        .source(idle)
        .write_stream()
        .trigger(Trigger::continuous("1 second"))
        .memory("idle")
        .start()?;
    // Measuring a rate takes time: this waits on the wall clock, not on the engine. The first
    // second idle is looked at every millisecond (for latency); after it, every 10 ms.
    std::thread::sleep(std::time::Duration::from_millis(1_500));
    let before = looks.load(Ordering::Relaxed);
    std::thread::sleep(std::time::Duration::from_millis(1_000));
    let n = looks.load(Ordering::Relaxed) - before;
    query.stop()?;
    assert!(n <= 150, "{n} looks in 1 s of a query idle for 1.5 s");
    Ok(())
}

/// A checkpointed continuous word count in Update mode on `input`, written to `sink`.
fn continuous_count_into(
    session: &Session,
    input: &MemoryStream<String>,
    dir: &std::path::Path,
    sink: impl streamflow::sink::Sink<AggRow<String, u64>>,
) -> streamflow::Result<StreamingQuery> {
    session
        .read_stream::<String>()
        .memory(input)
        .group_by(|w| w.clone())
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .trigger(Trigger::continuous("1 second"))
        .checkpoint_location(dir)
        .sink(sink)
        .start()
}

/// A checkpointed continuous count whose sink is stuck while input keeps coming, so that every
/// channel is full and the aggregation tasks wait: `stop()` returns once the sink moves, and a
/// micro-batch query restarted from the checkpoint ends with each word counted exactly once.
#[test]
fn continuous_stop_in_full_backpressure_then_restart_counts_each_word_once() -> TestResult {
    let session = session(2);
    let dir = tempfile::tempdir()?;
    let input = MemoryStream::<String>::new();
    let open = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let entered = Arc::new(AtomicBool::new(false));
    let gated = Gated {
        open: open.clone(),
        entered: entered.clone(),
        rows: Arc::default(),
    };
    let query = continuous_count_into(&session, &input, dir.path(), gated)?;
    let word = |i: u64| format!("w{}", (i * 7919) % 13);
    let mut expected = std::collections::BTreeMap::<String, u64>::new();
    let mut add = |from: u64, to: u64| {
        let words: Vec<String> = (from..to).map(word).collect();
        for w in &words {
            *expected.entry(w.clone()).or_default() += 1;
        }
        input.add_data(words);
    };
    add(0, 50_000);
    let waiter = {
        let query = query.clone();
        std::thread::spawn(move || query.process_all_available())
    };
    assert!(eventually(PATIENCE, || entered.load(Ordering::Acquire)));
    for round in 1..8 {
        add(round * 50_000, (round + 1) * 50_000);
    }
    let stopper = {
        let query = query.clone();
        std::thread::spawn(move || query.stop())
    };
    *open.0.lock().unwrap() = true;
    open.1.notify_all();
    stopper.join().unwrap()?;
    let _ = waiter.join().unwrap();
    // Micro-batches take over from the checkpoint: one more of each word shows every count.
    let after = word_count(&session, &input, Trigger::default(), Some(dir.path()), "after");
    after.process_all_available()?;
    add(0, 13);
    after.process_all_available()?;
    let rows = session.memory_table::<AggRow<String, u64>>("after")?.rows();
    assert_eq!(last_per_key(&rows), expected);
    after.stop()?;
    Ok(())
}

/// The most workers a session allows: a continuous count (a source task and an aggregation
/// task per worker, every source task routing to every aggregation task) starts, counts right
/// and stops.
#[test]
fn continuous_at_the_largest_parallelism_counts_and_stops() -> TestResult {
    let most = (1..=4096)
        .rev()
        .find(|&n| Session::builder().parallelism(n).build().is_ok())
        .unwrap();
    let session = session(most);
    let input = MemoryStream::<String>::new();
    let query = word_count(&session, &input, Trigger::continuous("1 second"), None, "wide");
    input.add_data((0..10_000).map(|i| format!("w{}", i % 100)).collect::<Vec<_>>());
    query.process_all_available()?;
    let rows = session.memory_table::<AggRow<String, u64>>("wide")?.rows();
    let counts = last_per_key(&rows);
    assert_eq!(counts.len(), 100);
    assert!(counts.values().all(|&n| n == 100), "{counts:?}");
    query.stop()?;
    Ok(())
}

/// Spark's convention: a file written under a hidden name (`.` or `_`) is never taken half
/// written; renamed into place (its modification time fresh), it is taken whole, once.
#[test]
fn a_file_written_hidden_then_renamed_into_place_is_taken_whole_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let session = session(1);
    let query = session
        .read_stream::<i64>()
        .files(dir.path())
        .write_stream()
        .memory("renamed")
        .start()?;
    let hidden = dir.path().join(".part.json");
    let mut file = std::fs::File::create(&hidden)?;
    use std::io::Write;
    writeln!(file, "1")?;
    file.flush()?;
    query.process_all_available()?;
    assert!(session.memory_table::<i64>("renamed")?.rows().is_empty());
    writeln!(file, "2")?;
    drop(file);
    std::fs::rename(&hidden, dir.path().join("part.json"))?;
    query.process_all_available()?;
    query.process_all_available()?;
    assert_eq!(session.memory_table::<i64>("renamed")?.rows(), [1, 2]);
    query.stop()?;
    Ok(())
}

/// The longest checkpoint and emit intervals there are: the query runs (epochs end when
/// someone waits for the input), its aggregation emits each group's latest row by the end of
/// the epoch — no overflow in the arithmetic of deadlines.
#[test]
fn continuous_with_the_longest_intervals_runs() -> TestResult {
    let session = session(2);
    let input = MemoryStream::<String>::new();
    let longest =
        Trigger::continuous(streamflow::Duration::MAX).with_emit_interval(streamflow::Duration::MAX);
    let query = word_count(&session, &input, longest, None, "longest");
    input.add_data(["a", "b", "a"].map(String::from));
    query.process_all_available()?;
    let rows = session.memory_table::<AggRow<String, u64>>("longest")?.rows();
    assert_eq!(
        last_per_key(&rows),
        [("a".to_string(), 2), ("b".to_string(), 1)].into()
    );
    assert_eq!(rows.len(), 2);
    query.stop()?;
    Ok(())
}

/// `max_files_per_trigger` and `max_bytes_per_trigger` together: the query refuses to start,
/// saying to set one (as Spark does).
#[test]
fn both_file_limits_refuse_to_start() -> TestResult {
    let dir = tempfile::tempdir()?;
    let err = session(1)
        .read_stream::<i64>()
        .max_files_per_trigger(2)
        .max_bytes_per_trigger(1_000)
        .files(dir.path())
        .write_stream()
        .memory("both")
        .start()
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("set one of them"), "{err}");
    Ok(())
}

/// A `foreach` writer that notes the rows it got and how each epoch it opened was closed.
#[derive(Clone, Default)]
struct Closes(Arc<Mutex<(Vec<i64>, Vec<Option<String>>)>>);

impl ForeachWriter<i64> for Closes {
    fn open(&mut self, _: u64, _: u64) -> bool {
        true
    }
    fn process(&mut self, row: i64) {
        self.0.lock().unwrap().0.push(row);
    }
    fn close(&mut self, error: Option<&str>) {
        self.0.lock().unwrap().1.push(error.map(str::to_string));
    }
}

/// As in Spark (and in this crate's micro-batches), a `foreach` writer whose epoch cannot
/// complete — a failure upstream in the middle of it, or a stop — is closed with an error, so
/// that it can roll back what it wrote; it is never left open in silence.
#[test]
fn continuous_a_foreach_writer_is_closed_with_an_error_when_its_epoch_fails_or_stops() -> TestResult {
    let session = session(1);
    let input = MemoryStream::<i64>::new();
    let writer = Closes::default();
    let query = session
        .read_stream::<i64>()
        .memory(&input)
        .map(|n| if n == 3 { panic!("three") } else { n })
        .write_stream()
        .trigger(Trigger::continuous("1 second"))
        .foreach(writer.clone())
        .start()?;
    input.add_data([1, 2, 3]);
    assert!(query.await_termination().is_err());
    let (rows, closes) = writer.0.lock().unwrap().clone();
    assert_eq!(rows, [1, 2]);
    assert_eq!(closes.len(), 1, "{closes:?}");
    assert!(closes[0].is_some(), "{closes:?}");

    let input = MemoryStream::<i64>::new();
    let writer = Closes::default();
    let query = session
        .read_stream::<i64>()
        .memory(&input)
        .write_stream()
        .trigger(Trigger::continuous("1 hour"))
        .foreach(writer.clone())
        .start()?;
    input.add_data([1, 2]);
    assert!(eventually(PATIENCE, || writer.0.lock().unwrap().0.len() == 2));
    query.stop()?;
    let (_, closes) = writer.0.lock().unwrap().clone();
    assert_eq!(closes.len(), 1, "{closes:?}");
    assert!(closes[0].is_some(), "{closes:?}");
    Ok(())
}

/// A rate source at `u64::MAX` rows per second would make a first batch that never ends (and a
/// `stop()` that waits on it): refused by `start()`, naming the setting. A billion rows per
/// second is the most.
#[test]
fn an_absurd_rate_is_refused_before_the_query_runs() {
    let session = session(1);
    for trigger in [Trigger::default(), Trigger::continuous("1 second")] {
        let err = session
            .read_stream::<RateRow>()
            .rate(u64::MAX)
            .write_stream()
            .trigger(trigger)
            .memory("flood")
            .start()
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("rowsPerSecond"), "{err}");
    }
    let query = session
        .read_stream::<RateRow>()
        .rate(1_000_000_000)
        .write_stream()
        .memory("fastest")
        .start()
        .unwrap();
    query.stop().unwrap();
}

/// A graceful stop (SIGTERM with `stop_gracefully_on_shutdown`) while a continuous query is
/// in full backpressure — its task busy in slow user code, its channel full, the reader
/// waiting to hand more — processes and commits everything read, and ends without an error.
#[cfg(unix)]
#[test]
fn continuous_a_graceful_stop_in_full_backpressure_commits_everything_read() -> TestResult {
    let session = Session::builder()
        .parallelism(1)
        .clock(ManualClock::new(0))
        .stop_gracefully_on_shutdown(true)
        .build()?;
    let input = MemoryStream::<i64>::new();
    let entered = Arc::new(AtomicBool::new(false));
    let seen = entered.clone();
    let query = session
        .read_stream::<i64>()
        .memory(&input)
        .map(move |n| {
            if n == 0 {
                seen.store(true, Ordering::Release);
                // Slow user code: the reader fills the channel and waits meanwhile.
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
            n
        })
        .write_stream()
        .trigger(Trigger::continuous("1 hour"))
        .memory("graceful")
        .start()?;
    input.add_data(0..100_000);
    assert!(eventually(PATIENCE, || entered.load(Ordering::Acquire)));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()?;
    assert!(killed.success());
    query.await_termination()?;
    assert_eq!(session.memory_table::<i64>("graceful")?.rows().len(), 100_000);
    Ok(())
}

/// A sink that fails its first batch, then works (the database was down for a moment).
struct Flaky {
    failed: AtomicBool,
    rows: Arc<Mutex<Vec<(u64, AggRow<String, u64>)>>>,
}

impl streamflow::sink::Sink<AggRow<String, u64>> for Flaky {
    fn name(&self) -> String {
        "flaky".into()
    }
    fn add_batch(
        &self,
        batch: streamflow::BatchId,
        rows: streamflow::Batch<AggRow<String, u64>>,
    ) -> streamflow::Result<()> {
        if !self.failed.swap(true, Ordering::AcqRel) {
            return Err(Error::IllegalState("the database is down".into()));
        }
        let mut kept = self.rows.lock().unwrap();
        kept.retain(|(id, _)| *id != batch.id); // idempotent per epoch, as sinks must be
        kept.extend(rows.collect().into_iter().map(|r| (batch.id, r)));
        Ok(())
    }
}

/// A sink error at an epoch's commit fails the continuous query with that error; restarted
/// from its checkpoint, the query writes that epoch again, and the counts are right.
#[test]
fn continuous_a_sink_error_fails_the_epoch_and_a_restart_writes_it_again() -> TestResult {
    let session = session(2);
    let dir = tempfile::tempdir()?;
    let input = MemoryStream::<String>::new();
    let sink = Arc::new(Flaky {
        failed: AtomicBool::new(false),
        rows: Arc::default(),
    });
    let start = || continuous_count_into(&session, &input, dir.path(), sink.clone());
    let first = start()?;
    input.add_data(["a", "b", "a"].map(String::from));
    // Waiting for the input ends the epoch (its second never passes): its commit fails.
    let err = first.process_all_available().unwrap_err().to_string();
    assert!(err.contains("the database is down"), "{err}");
    let second = start()?;
    second.process_all_available()?;
    input.add_data(["b"].map(String::from));
    second.process_all_available()?;
    second.stop()?;
    let rows = sink.rows.lock().unwrap().clone();
    assert_eq!(rows.iter().map(|(id, _)| *id).max(), Some(1));
    let last: Vec<AggRow<String, u64>> = rows.into_iter().map(|(_, r)| r).collect();
    assert_eq!(
        last_per_key(&last),
        [("a".to_string(), 2), ("b".to_string(), 2)].into()
    );
    Ok(())
}
