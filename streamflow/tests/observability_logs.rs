//! Progress logs: one INFO line per batch of either vocabulary with its summary, and a warning
//! when a job falls behind its interval.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::sync::{Mutex, OnceLock};

use streamflow::structured::{MemoryStream, Session};
use streamflow::{Duration, ManualClock, StreamQueue, StreamingContext, Time};

/// Every log record of this test binary, as `LEVEL message`.
struct Captured(Mutex<Vec<String>>);

impl log::Log for Captured {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {}", record.level(), record.args());
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(line);
    }
    fn flush(&self) {}
}

fn captured() -> &'static Captured {
    static LOGGER: OnceLock<&'static Captured> = OnceLock::new();
    LOGGER.get_or_init(|| {
        let logger: &'static Captured = Box::leak(Box::new(Captured(Mutex::new(Vec::new()))));
        log::set_logger(logger).unwrap();
        log::set_max_level(log::LevelFilter::Info);
        logger
    })
}

/// The lines logged so far that contain `needle`.
fn lines_with(needle: &str) -> Vec<String> {
    let lines = captured().0.lock().unwrap_or_else(|e| e.into_inner());
    lines.iter().filter(|l| l.contains(needle)).cloned().collect()
}

fn context(name: &str, batch: Duration, clock: &ManualClock) -> StreamingContext {
    StreamingContext::builder()
        .batch_duration(batch)
        .parallelism(2)
        .clock(clock.clone())
        .app_name(name)
        .build()
        .unwrap()
}

#[test]
fn every_dstream_batch_logs_one_info_line() {
    captured();
    let clock = ManualClock::new(0);
    let ssc = context("logs-dstream", Duration::seconds(1), &clock);
    let queue = StreamQueue::new();
    queue.push(vec![1, 2, 3]);
    queue.push(vec![4]);
    ssc.queue_stream(queue, true, None).foreach_batch(|_, _| {});
    ssc.start().unwrap();
    for t in [1_000, 2_000] {
        clock.advance(Duration::seconds(1)).unwrap();
        ssc.await_batch(Time::from_millis(t)).unwrap();
    }
    ssc.stop(false).unwrap();
    let lines = lines_with("logs-dstream: batch");
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with("INFO logs-dstream: batch 0 (1000 ms): 3 records, processing "),
        "{lines:#?}"
    );
    assert!(
        lines[1].starts_with("INFO logs-dstream: batch 1 (2000 ms): 1 records, "),
        "{lines:#?}"
    );
    assert!(
        lines[1].contains("scheduling delay 0 ms, total delay "),
        "{lines:#?}"
    );
}

#[test]
fn every_query_batch_logs_one_info_line_with_its_progress_summary() {
    captured();
    let session = Session::builder()
        .parallelism(1)
        .clock(ManualClock::new(0))
        .build()
        .unwrap();
    let input = MemoryStream::<i64>::new();
    let query = session
        .read_stream::<i64>()
        .memory(&input)
        .filter(|x| *x > 1)
        .write_stream()
        .query_name("logs-query")
        .memory("logs_query")
        .start()
        .unwrap();
    input.add_data([1, 2, 3]);
    query.process_all_available().unwrap();
    input.add_data([4]);
    query.process_all_available().unwrap();
    query.stop().unwrap();
    let lines = lines_with("query logs-query: batch");
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert!(
        lines[0].starts_with("INFO query logs-query: batch 0: 3 input rows, 2 output rows, "),
        "{lines:#?}"
    );
    assert!(lines[0].contains("(latestOffset "), "{lines:#?}");
    assert!(
        lines[1].starts_with("INFO query logs-query: batch 1: 1 input rows, 1 output rows, "),
        "{lines:#?}"
    );
}

#[test]
fn a_context_whose_batches_run_longer_than_the_interval_warns_once_that_it_falls_behind() {
    captured();
    let clock = ManualClock::new(0);
    // A 1 ms interval, and batches that take at least 5 ms of wall time each.
    let ssc = context("logs-slow", Duration::from_millis(1), &clock);
    let queue = StreamQueue::new();
    for _ in 0..4 {
        queue.push(vec![1]);
    }
    ssc.queue_stream(queue, true, None)
        .map(|x: i32| {
            std::thread::sleep(std::time::Duration::from_millis(5)); // the slow batch under test
            x
        })
        .foreach_batch(|batch, _| {
            batch.count();
        });
    ssc.start().unwrap();
    for t in 1..=4 {
        clock.advance(Duration::from_millis(1)).unwrap();
        ssc.await_batch(Time::from_millis(t)).unwrap();
    }
    ssc.stop(false).unwrap();
    let warnings = lines_with("logs-slow is falling behind");
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    assert!(
        warnings[0].starts_with("WARN context logs-slow is falling behind: the last 3 batches each ran longer than the 1 ms interval"),
        "{warnings:#?}"
    );
}
