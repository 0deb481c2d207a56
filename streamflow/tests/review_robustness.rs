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

impl streamflow::sink::Sink<i64> for Gated {
    fn name(&self) -> String {
        "gated".into()
    }
    fn add_batch(&self, _: streamflow::BatchId, rows: streamflow::Batch<i64>) -> streamflow::Result<()> {
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

/// A source that always has 10,000 more records, noting how far it was asked to read.
struct Endless {
    asked: Arc<AtomicU64>,
}

impl Source for Endless {
    type Item = i64;
    type Offset = u64;
    fn name(&self) -> String {
        "endless".into()
    }
    fn initial_offset(&self) -> u64 {
        0
    }
    fn latest_offset(&self, start: &u64, _: ReadLimit, _: Time) -> streamflow::Result<u64> {
        self.asked.fetch_max(*start, Ordering::AcqRel);
        Ok(start + 10_000)
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
    let asked = Arc::new(AtomicU64::new(0));
    let open = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let entered = Arc::new(AtomicBool::new(false));
    let rows = Arc::new(AtomicU64::new(0));
    let query = session
        .read_stream::<i64>()
        .source(Endless { asked: asked.clone() })
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
