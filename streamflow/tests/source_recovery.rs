//! Sources restarted on a checkpoint, in process: the file source takes no file twice and
//! still ignores the files of its first start, a receiver's write-ahead log hands back what was
//! stored before the job stopped or failed (sockets included), and the rate source's rows keep
//! their values and timestamps. (The sources' own unit tests cover torn and damaged files.)

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use common::*;
use streamflow::structured::RateRow;
use streamflow::testing::sorted;
use streamflow::{Clock, Duration, Error, ManualClock, Receiver, ReceiverContext, StreamingContext, Time};

/// What a job's output holds: each batch's sorted records by batch time, empty batches left
/// out.
type Out<T> = Arc<Mutex<BTreeMap<i64, Vec<T>>>>;

fn collect_into<T: Clone + PartialOrd + Send + Sync + 'static>(
    out: &Out<T>,
) -> impl Fn(streamflow::Batch<T>, Time) + Send + Sync + 'static {
    let out = out.clone();
    move |batch, time| record(&out, time, batch.collect())
}

/// Notes a batch's records; a batch re-run after a restart replaces what its first attempt
/// noted.
fn record<T: Clone + PartialOrd>(out: &Out<T>, time: Time, rows: Vec<T>) {
    if !rows.is_empty() {
        out.lock().unwrap().insert(time.millis(), sorted(&rows));
    }
}

fn context(clock: &ManualClock) -> Result<StreamingContext, Error> {
    StreamingContext::builder()
        .batch_duration(Duration::seconds(1))
        .parallelism(2)
        .clock(clock.clone())
        .build()
}

/// What `out` holds, in batch order.
fn taken<T: Clone>(out: &Out<T>) -> Vec<(i64, Vec<T>)> {
    out.lock().unwrap().clone().into_iter().collect()
}

/// Starts `ssc`, runs one batch and stops it.
fn run_one_batch(ssc: &StreamingContext, clock: &ManualClock) -> Result<(), Error> {
    ssc.start()?;
    next_batch(ssc, clock)?;
    ssc.stop(false)
}

/// Advances the clock one batch and waits for that batch.
fn next_batch(ssc: &StreamingContext, clock: &ManualClock) -> Result<(), Error> {
    clock.advance(Duration::seconds(1))?;
    ssc.await_batch(clock.now())
}

#[test]
fn text_file_stream_takes_each_file_once_across_restarts() -> TestResult {
    let (input, checkpoint) = (tempfile::tempdir()?, tempfile::tempdir()?);
    std::fs::write(input.path().join("before-start.txt"), "old\n")?;
    let clock = ManualClock::new(0);
    let out: Out<String> = Arc::default();
    let job = || {
        let (dir, out, clock) = (input.path().to_path_buf(), out.clone(), clock.clone());
        StreamingContext::get_or_create(checkpoint.path(), move || {
            let ssc = context(&clock)?;
            ssc.text_file_stream(&dir).foreach_batch(collect_into(&out));
            Ok(ssc)
        })
    };

    let ssc = job()?;
    ssc.start()?;
    std::fs::write(input.path().join("a.txt"), "a\n")?;
    next_batch(&ssc, &clock)?;
    ssc.stop(false)?;
    // While the job is down.
    std::fs::write(input.path().join("b.txt"), "b\n")?;

    for _ in 0..2 {
        run_one_batch(&job()?, &clock)?;
    }
    assert_eq!(
        taken(&out),
        [(1_000, vec!["a".to_string()]), (2_000, vec!["b".to_string()])],
        "a file of the first start, or one taken twice, would show here"
    );
    Ok(())
}

/// Hands the context it is started with to the test, which stores records itself.
struct Handover(Mutex<mpsc::Sender<ReceiverContext<u64>>>);

impl Receiver<u64> for Handover {
    fn on_start(&self, ctx: ReceiverContext<u64>) {
        let _ = self.0.lock().unwrap().send(ctx);
    }
    fn on_stop(&self) {}
}

#[test]
fn a_receivers_write_ahead_log_replays_its_blocks_and_keeps_what_no_batch_took() -> TestResult {
    let checkpoint = tempfile::tempdir()?;
    let clock = ManualClock::new(0);
    let out: Out<u64> = Arc::default();
    // The sink fails the first time it sees 3: that batch is planned, and never committed.
    let fail = Arc::new(AtomicBool::new(true));
    let job = || -> Result<(StreamingContext, mpsc::Receiver<ReceiverContext<u64>>), Error> {
        let (tx, rx) = mpsc::channel();
        let (out, clock, fail) = (out.clone(), clock.clone(), fail.clone());
        let ssc = StreamingContext::get_or_create(checkpoint.path(), move || {
            let ssc = context(&clock)?;
            ssc.receiver_stream_with_write_ahead_log(Handover(Mutex::new(tx)))
                .foreach_batch(move |batch, time| {
                    let rows = batch.collect();
                    if rows.contains(&3) && fail.swap(false, Ordering::SeqCst) {
                        panic!("the sink fails once at {time}");
                    }
                    record(&out, time, rows);
                });
            Ok(ssc)
        })?;
        Ok((ssc, rx))
    };

    // Run 1: batch 1 commits [1, 2]; batch 2 takes [3] and fails.
    let (ssc, rx) = job()?;
    ssc.start()?;
    let receiver = rx.recv_timeout(PATIENCE)?;
    receiver.store_all([1, 2]);
    next_batch(&ssc, &clock)?;
    receiver.store(3);
    clock.advance(Duration::seconds(1))?;
    let err = ssc
        .await_batch(clock.now())
        .and_then(|()| ssc.await_termination());
    assert!(err.is_err_and(|e| e.to_string().contains("fails once")));
    let _ = ssc.stop(false);

    // Run 2: batch 2 re-runs with [3] from the log; 4 is stored, and the job stops before any
    // batch takes it.
    let (ssc, rx) = job()?;
    ssc.start()?;
    ssc.await_batch(Time::from_millis(2_000))?;
    let receiver = rx.recv_timeout(PATIENCE)?;
    receiver.store(4);
    ssc.stop(false)?;

    // Run 3: 4 was in the log, so the next batch has it.
    let (ssc, rx) = job()?;
    ssc.start()?;
    let receiver = rx.recv_timeout(PATIENCE)?;
    receiver.store(5);
    next_batch(&ssc, &clock)?;
    ssc.stop(false)?;

    assert_eq!(
        taken(&out),
        [(1_000, vec![1, 2]), (2_000, vec![3]), (3_000, vec![4, 5])]
    );
    Ok(())
}

#[test]
fn lines_a_socket_received_before_a_stop_are_processed_after_the_restart() -> TestResult {
    let checkpoint = tempfile::tempdir()?;
    let clock = ManualClock::new(0);
    let out: Out<String> = Arc::default();
    let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = server.local_addr()?.port();
    let job = || {
        let (out, clock) = (out.clone(), clock.clone());
        StreamingContext::get_or_create(checkpoint.path(), move || {
            let ssc = context(&clock)?;
            ssc.socket_text_stream("127.0.0.1", port)
                .foreach_batch(collect_into(&out));
            Ok(ssc)
        })
    };
    let ssc = job()?;
    ssc.start()?;
    let (mut conn, _) = server.accept()?;
    conn.write_all(b"to be\nor not\n")?;
    // Counted once stored, and stored once in the log: the job may stop now.
    assert!(ssc.await_records_received(2, PATIENCE)?);
    ssc.stop(false)?;
    drop((conn, server));

    // The server is gone; what it sent comes from the log.
    run_one_batch(&job()?, &clock)?;
    assert_eq!(
        taken(&out),
        [(1_000, vec!["or not".to_string(), "to be".to_string()])]
    );
    Ok(())
}

#[test]
fn the_rate_source_keeps_its_start_time_across_restarts() -> TestResult {
    let checkpoint = tempfile::tempdir()?;
    let clock = ManualClock::new(0);
    let s = session_on(&clock);
    let rows: Arc<Mutex<Vec<RateRow>>> = Arc::default();
    let run = |advance: u64| -> TestResult {
        let seen = rows.clone();
        let query = s
            .read_stream::<RateRow>()
            .rate(4)
            .write_stream()
            .checkpoint_location(checkpoint.path())
            .foreach_batch(move |batch, _id| seen.lock().unwrap().extend(batch.collect()))
            .start()?;
        clock.advance(Duration::milliseconds(advance))?;
        query.process_all_available()?;
        query.stop()?;
        Ok(())
    };
    run(1_000)?;
    // Restarted 2 s later: the rows due meanwhile come, stamped from the first start.
    clock.advance(Duration::seconds(2))?;
    run(1_000)?;
    let mut rows = rows.lock().unwrap().clone();
    rows.sort();
    let expected: Vec<RateRow> = (0..16)
        .map(|value| RateRow {
            timestamp: Time::from_millis(value as i64 * 250),
            value,
        })
        .collect();
    assert_eq!(rows, expected, "every row once, stamped from the first start");
    Ok(())
}
