//! The life of a `StreamingContext`: start, stop, await termination, and the errors of SPEC §2
//! (no output, operators added after start, restarting a stopped context, failures in user
//! code, bad settings).
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use streamflow::testing::{TestContext, sorted};
use streamflow::{
    BatchInfo, ContextState, Duration, Error, ManualClock, Receiver, ReceiverContext, StreamQueue,
    StreamingContext, StreamingListener, Time,
};

mod common;
use common::{PATIENCE, TestResult, test_context};

/// Waits for the context to stop and returns the error it stopped with.
fn termination_error(ssc: &StreamingContext) -> Error {
    match ssc.await_termination_or_timeout(PATIENCE) {
        Err(e) => e,
        Ok(true) => panic!("the context stopped without an error"),
        Ok(false) => panic!("the context did not stop within {PATIENCE:?}"),
    }
}

// ---------------------------------------------------------------- start

#[test]
fn start_without_an_output_operation_is_an_error_with_sparks_message() {
    let t = test_context();
    let _unused = t.input(vec![vec![1]]).map(|x| x + 1);
    let err = t.context().start().unwrap_err();
    assert!(matches!(err, Error::NoOutputOperations), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("no output operations registered, so nothing to execute"),
        "{err}"
    );
    assert_ne!(t.context().state(), ContextState::Active);
}

#[test]
fn state_goes_from_initialized_to_active_to_stopped() -> TestResult {
    let t = test_context();
    t.input(vec![vec![1]]).foreach_batch(|_, _| {});
    assert_eq!(t.context().state(), ContextState::Initialized);
    t.start()?;
    assert_eq!(t.context().state(), ContextState::Active);
    t.advance_batches(1)?;
    assert_eq!(t.context().state(), ContextState::Active);
    t.context().stop(false)?;
    assert_eq!(t.context().state(), ContextState::Stopped);
    t.context().await_termination()?;
    Ok(())
}

#[test]
fn starting_twice_is_harmless_and_runs_one_scheduler() -> TestResult {
    let t = test_context();
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    t.input(Vec::<Vec<i32>>::new()).foreach_batch(move |_, _| {
        r.fetch_add(1, Ordering::SeqCst);
    });
    t.context().start()?;
    t.context().start()?;
    assert_eq!(t.context().state(), ContextState::Active);
    t.advance_batches(3)?;
    t.context().stop(false)?;
    assert_eq!(runs.load(Ordering::SeqCst), 3, "one run per batch time");
    Ok(())
}

#[test]
fn starting_a_stopped_context_is_an_error() -> TestResult {
    let t = test_context();
    t.input(vec![vec![1]]).print();
    t.start()?;
    t.context().stop(false)?;
    let err = t.context().start().unwrap_err();
    assert!(matches!(err, Error::IllegalState(_)), "{err:?}");
    assert!(err.to_string().contains("already been stopped"), "{err}");
    assert_eq!(t.context().state(), ContextState::Stopped);
    Ok(())
}

#[test]
fn stop_on_an_initialized_context_stops_it_for_good() -> TestResult {
    let t = test_context();
    t.input(vec![vec![1]]).print();
    t.context().stop(true)?;
    assert_eq!(t.context().state(), ContextState::Stopped);
    assert!(t.context().await_termination_or_timeout(Duration::ZERO)?);
    t.context().await_termination()?;
    assert!(t.context().start().is_err());
    // Stopping again does nothing.
    t.context().stop(false)?;
    Ok(())
}

#[test]
fn start_reports_every_mistake_made_while_building() -> TestResult {
    let t = test_context();
    let s = t.input(vec![vec![1]]);
    s.repartition(0).print();
    s.repartition(0).map(|x| x * 2).print();
    let err = t.start().unwrap_err();
    let Error::InvalidGraph(problems) = &err else {
        panic!("expected an invalid graph, got {err:?}");
    };
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert_ne!(t.context().state(), ContextState::Active);
    Ok(())
}

// ---------------------------------------------------------------- changing the graph after start

#[test]
fn adding_an_operator_after_start_fails_the_job_with_a_clear_error() -> TestResult {
    let t = test_context();
    let s = t.input(vec![vec![1]]);
    s.foreach_batch(|_, _| {});
    t.start()?;
    let _late = s.map(|x| x + 1);
    let err = termination_error(t.context());
    assert!(matches!(err, Error::IllegalState(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("cannot add `map`"), "{text}");
    assert!(
        text.contains("after starting a context is not supported"),
        "{text}"
    );
    assert_eq!(t.context().state(), ContextState::Stopped);
    Ok(())
}

#[test]
fn adding_an_output_after_start_fails_the_job() -> TestResult {
    let t = test_context();
    let s = t.input(vec![vec![1]]);
    s.foreach_batch(|_, _| {});
    t.start()?;
    s.print();
    let err = termination_error(t.context());
    assert!(err.to_string().contains("cannot add `print`"), "{err}");
    Ok(())
}

#[test]
fn adding_a_source_after_start_fails_the_job() -> TestResult {
    let t = test_context();
    t.input(vec![vec![1]]).foreach_batch(|_, _| {});
    t.start()?;
    let _late = t.context().queue_stream(StreamQueue::<i32>::new(), true, None);
    let err = termination_error(t.context());
    assert!(err.to_string().contains("cannot add `queue_stream`"), "{err}");
    Ok(())
}

#[test]
fn remember_after_start_is_an_error() -> TestResult {
    let t = test_context();
    t.input(vec![vec![1]]).print();
    t.context().remember(Duration::seconds(5))?;
    t.start()?;
    let err = t.context().remember(Duration::seconds(5)).unwrap_err();
    assert!(err.to_string().contains("cannot add `remember`"), "{err}");
    t.context().stop(false)?;
    Ok(())
}

#[test]
fn adding_an_operator_after_stop_is_reported_by_await_termination() -> TestResult {
    let t = test_context();
    let s = t.input(vec![vec![1]]);
    s.print();
    t.run(1)?;
    let _late = s.filter(|_| true);
    let err = t.context().await_termination().unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot add `filter`: the context has already been stopped"),
        "{err}"
    );
    Ok(())
}

// ---------------------------------------------------------------- waiting

#[test]
fn await_termination_or_timeout_is_false_on_timeout_and_true_after_stop() -> TestResult {
    let t = test_context();
    t.input(vec![vec![1]]).print();
    t.start()?;
    let begin = Instant::now();
    assert!(
        !t.context()
            .await_termination_or_timeout(Duration::from_millis(50))?
    );
    assert!(begin.elapsed() >= std::time::Duration::from_millis(50));
    assert!(!t.context().await_termination_or_timeout("20 ms")?);
    let ssc = t.context().clone();
    let stopper = std::thread::spawn(move || ssc.stop(false));
    assert!(t.context().await_termination_or_timeout(PATIENCE)?);
    stopper.join().unwrap()?;
    // And again, at once, once stopped.
    assert!(t.context().await_termination_or_timeout(Duration::ZERO)?);
    Ok(())
}

#[test]
fn await_termination_or_timeout_rejects_a_bad_duration() -> TestResult {
    let t = test_context();
    let err = t.context().await_termination_or_timeout("10 minuts").unwrap_err();
    assert!(matches!(err, Error::InvalidDuration(_)), "{err:?}");
    Ok(())
}

#[test]
fn await_termination_returns_when_another_thread_stops_the_context() -> TestResult {
    let t = test_context();
    t.input(vec![vec![1]]).print();
    t.start()?;
    let ssc = t.context().clone();
    let waiter = std::thread::spawn(move || ssc.await_termination());
    t.context().stop(true)?;
    waiter.join().unwrap()?;
    Ok(())
}

// ---------------------------------------------------------------- failures in user code

#[test]
fn a_panic_in_map_stops_the_job_and_names_the_operator_and_batch() -> TestResult {
    let t = test_context();
    let out = t.collect(&t.input(vec![vec![1, 2], vec![3, 0, 4]]).map(|x: i32| 12 / x));
    t.start()?;
    t.advance_batches(1)?;
    let err = t.advance_batches(1).unwrap_err();
    let Error::UserCode {
        operator,
        time,
        message,
        ..
    } = &err
    else {
        panic!("expected a user-code error, got {err:?}");
    };
    assert_eq!(operator, "map");
    assert_eq!(*time, 2_000);
    assert!(message.contains("divide by zero"), "{message}");
    let text = err.to_string();
    assert!(
        text.contains("in operator `map`") && text.contains("2000"),
        "{text}"
    );
    // await_termination hands out the same error, every time it is asked.
    let again = t.context().await_termination().unwrap_err();
    assert_eq!(again.to_string(), text);
    assert_eq!(t.context().await_termination().unwrap_err().to_string(), text);
    assert_eq!(t.context().state(), ContextState::Stopped);
    assert_eq!(
        out.batches(),
        vec![vec![12, 6]],
        "the failed batch produced no output"
    );
    Ok(())
}

#[test]
fn a_panic_in_each_kind_of_user_function_names_its_operator() {
    fn failing(operator: &str, pipeline: impl FnOnce(streamflow::DStream<i32>) -> streamflow::DStream<i32>) {
        let err = streamflow::testing::try_run_batches(vec![vec![1, 2, 3]], pipeline, 1).unwrap_err();
        match &err {
            Error::UserCode {
                operator: got,
                time,
                message,
                ..
            } => {
                assert_eq!(got, operator, "{err}");
                assert_eq!(*time, 1_000);
                assert!(message.contains("boom"), "{message}");
            }
            other => panic!("{operator}: expected a user-code error, got {other:?}"),
        }
    }
    failing("filter", |s| s.filter(|_| panic!("boom")));
    failing("flat_map", |s| s.flat_map(|_| -> Vec<i32> { panic!("boom") }));
    failing("map_partitions", |s| {
        s.map_partitions(|_| -> Vec<i32> { panic!("boom") })
    });
    failing("reduce", |s| s.reduce(|_, _| panic!("boom")));
    failing("reduce_by_key", |s| {
        s.map(|x| (x % 2, x))
            .reduce_by_key(|_, _| panic!("boom"))
            .map(|(k, _)| k)
    });
    failing("map_values", |s| {
        s.map(|x| (x, x))
            .map_values(|_| -> i32 { panic!("boom") })
            .map(|(k, _)| k)
    });
    failing("transform", |s| {
        s.transform(|_, _| -> streamflow::Batch<i32> { panic!("boom") })
    });
    // A map upstream of a shuffle, run inside the shuffle's tasks, is still named.
    failing("map", |s| {
        s.map(|_| -> (i32, i32) { panic!("boom") })
            .reduce_by_key(|a, b| a + b)
            .map(|(k, _)| k)
    });
}

#[test]
fn a_panic_in_foreach_batch_stops_the_job() -> TestResult {
    let t = test_context();
    let later = Arc::new(AtomicUsize::new(0));
    let l = later.clone();
    t.input(vec![vec![1], vec![2], vec![3]])
        .foreach_batch(move |batch, time| {
            l.fetch_add(1, Ordering::SeqCst);
            if time.millis() == 2_000 {
                panic!("sink exploded on {:?}", batch.collect());
            }
        });
    t.start()?;
    let err = t.advance_batches(3).unwrap_err();
    let Error::UserCode {
        operator,
        time,
        message,
        ..
    } = &err
    else {
        panic!("expected a user-code error, got {err:?}");
    };
    assert_eq!((operator.as_str(), *time), ("foreach_batch", 2_000));
    assert_eq!(message, "sink exploded on [2]");
    assert_eq!(later.load(Ordering::SeqCst), 2, "no batch runs after the failure");
    assert_eq!(termination_error(t.context()).to_string(), err.to_string());
    Ok(())
}

#[test]
fn a_panic_with_a_non_string_payload_still_fails_cleanly() -> TestResult {
    let t = test_context();
    t.input(vec![vec![1]])
        .foreach_batch(|_, _| -> Result<(), String> { std::panic::panic_any(42_u8) });
    t.start()?;
    let err = t.advance_batches(1).unwrap_err();
    assert!(
        matches!(&err, Error::UserCode { operator, .. } if operator == "foreach_batch"),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn an_err_from_foreach_batch_stops_the_job_with_that_error() -> TestResult {
    let t = test_context();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    t.input(vec![vec![1], vec![2], vec![3]])
        .foreach_batch(move |_, time| {
            c.fetch_add(1, Ordering::SeqCst);
            if time.millis() == 2_000 {
                Err(format!("database unreachable at {time}"))
            } else {
                Ok(())
            }
        });
    t.start()?;
    let err = t.advance_batches(3).unwrap_err();
    let Error::UserCode {
        operator,
        time,
        message,
        ..
    } = &err
    else {
        panic!("expected a user-code error, got {err:?}");
    };
    assert_eq!((operator.as_str(), *time), ("foreach_batch", 2_000));
    assert_eq!(message, "database unreachable at 2000 ms");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(t.context().state(), ContextState::Stopped);
    Ok(())
}

#[test]
fn an_err_from_foreach_partition_stops_the_job_with_that_error() -> TestResult {
    let t = test_context();
    t.input(vec![vec![1, 2, 3, 4]]).foreach_partition(|records| {
        let records: Vec<i32> = records.collect();
        if records.contains(&4) {
            Err(std::io::Error::other("connection reset"))
        } else {
            Ok(())
        }
    });
    t.start()?;
    let err = t.advance_batches(1).unwrap_err();
    let Error::UserCode {
        operator,
        time,
        message,
        ..
    } = &err
    else {
        panic!("expected a user-code error, got {err:?}");
    };
    assert_eq!((operator.as_str(), *time), ("foreach_partition", 1_000));
    assert_eq!(message, "connection reset");
    Ok(())
}

#[test]
fn a_panic_in_foreach_partition_names_it() -> TestResult {
    let t = test_context();
    t.input(vec![vec![1, 2, 3, 4]])
        .foreach_partition(|_| -> Result<(), String> { panic!("pool exhausted") });
    t.start()?;
    let err = t.advance_batches(1).unwrap_err();
    assert!(
        matches!(&err, Error::UserCode { operator, message, .. }
            if operator == "foreach_partition" && message == "pool exhausted"),
        "{err:?}"
    );
    Ok(())
}

#[test]
fn a_panic_in_a_generator_names_it() -> TestResult {
    let t = test_context();
    t.collect(
        &t.context()
            .generator_stream(4, |i| if i == 6 { panic!("bad row {i}") } else { i }),
    );
    t.start()?;
    t.advance_batches(1)?;
    let err = t.advance_batches(1).unwrap_err();
    assert!(
        matches!(&err, Error::UserCode { operator, time: 2_000, message, .. }
            if operator == "generator_stream" && message == "bad row 6"),
        "{err:?}"
    );
    Ok(())
}

/// A receiver whose user code panics in `on_start`.
struct PanickingReceiver;

impl Receiver<i32> for PanickingReceiver {
    fn on_start(&self, _ctx: ReceiverContext<i32>) {
        panic!("cannot open the feed");
    }
    fn on_stop(&self) {}
    fn name(&self) -> String {
        "broken feed".into()
    }
}

#[test]
fn a_panic_in_a_receiver_stops_the_job_and_names_the_receiver() -> TestResult {
    let t = test_context();
    t.collect(&t.context().receiver_stream(PanickingReceiver));
    t.start()?;
    let err = termination_error(t.context());
    assert!(err.to_string().contains("broken feed"), "{err}");
    assert!(err.to_string().contains("cannot open the feed"), "{err}");
    Ok(())
}

#[test]
fn stop_from_inside_foreach_batch_ends_the_job_after_that_batch() -> TestResult {
    let t = test_context();
    let ssc = t.context().clone();
    let runs = Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    t.input(vec![vec![1], vec![2]]).foreach_batch(move |_, _| {
        r.fetch_add(1, Ordering::SeqCst);
        ssc.stop(false)
    });
    t.start()?;
    t.clock().advance(Duration::seconds(5))?;
    assert!(t.context().await_termination_or_timeout(PATIENCE)?);
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(t.context().state(), ContextState::Stopped);
    Ok(())
}

#[test]
fn stop_from_inside_foreach_partition_does_not_deadlock() -> TestResult {
    let t = test_context();
    let ssc = t.context().clone();
    // Two partitions, so the partitions run on the worker pool; one of them stops the job.
    t.input(vec![vec![1, 2, 3, 4]])
        .foreach_partition(move |mut records| {
            if records.any(|r| r == 1) {
                ssc.stop(false)
            } else {
                Ok(())
            }
        });
    t.start()?;
    t.clock().advance(Duration::seconds(1))?;
    assert!(
        t.context()
            .await_termination_or_timeout(std::time::Duration::from_secs(5))?,
        "the context is stuck"
    );
    Ok(())
}

// ---------------------------------------------------------------- graceful stop

#[test]
fn a_graceful_stop_processes_every_queued_batch() -> TestResult {
    let t = test_context();
    let out = t.collect(&t.input(vec![vec![1, 2], vec![3], vec![4, 5, 6]]));
    t.start()?;
    // The clock never moves: only the graceful stop runs these batches.
    t.context().stop(true)?;
    assert_eq!(out.batches(), vec![vec![1, 2], vec![3], vec![4, 5, 6]]);
    let times: Vec<i64> = out.timed().iter().map(|(t, _)| t.millis()).collect();
    assert_eq!(times, vec![1_000, 2_000, 3_000]);
    t.context().await_termination()?;
    Ok(())
}

#[test]
fn a_stop_that_is_not_graceful_drops_what_was_not_processed() -> TestResult {
    let t = test_context();
    let out = t.collect(&t.input(vec![vec![1], vec![2]]));
    t.start()?;
    t.context().stop(false)?;
    assert!(out.batches().is_empty());
    Ok(())
}

/// Stores `0..n` as soon as it starts, from its own thread.
struct Burst {
    n: u64,
    worker: Mutex<Option<JoinHandle<()>>>,
}

impl Receiver<u64> for Burst {
    fn on_start(&self, ctx: ReceiverContext<u64>) {
        let n = self.n;
        *self.worker.lock().unwrap() = Some(std::thread::spawn(move || {
            for i in 0..n {
                ctx.store(i);
            }
        }));
    }
    fn on_stop(&self) {
        if let Some(h) = self.worker.lock().unwrap().take() {
            h.join().unwrap();
        }
    }
}

#[test]
fn a_graceful_stop_processes_every_record_a_receiver_stored() -> TestResult {
    let t = test_context();
    let out = t.collect(&t.context().receiver_stream(Burst {
        n: 500,
        worker: Mutex::new(None),
    }));
    t.start()?;
    assert!(t.context().await_records_received(500, PATIENCE)?);
    t.context().stop(true)?;
    let all: Vec<u64> = out.batches().concat();
    assert_eq!(sorted(&all), (0..500).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn a_graceful_stop_processes_every_line_received_from_a_socket() -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut conn, _) = listener.accept()?;
        for i in 0..100 {
            writeln!(conn, "line {i}")?;
        }
        conn.flush()
    });
    let t = test_context();
    let out = t.collect(&t.context().socket_text_stream("127.0.0.1", port));
    t.start()?;
    assert!(t.context().await_records_received(100, PATIENCE)?);
    t.context().stop(true)?;
    server.join().unwrap()?;
    let lines: Vec<String> = out.batches().concat();
    assert_eq!(lines.len(), 100);
    assert_eq!(lines[99], "line 99");
    Ok(())
}

// ---------------------------------------------------------------- settings

#[test]
fn a_zero_batch_interval_is_an_error() {
    let err = StreamingContext::new(Duration::ZERO, 2).unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("batch interval must be greater than zero"),
        "{err}"
    );
    assert!(TestContext::new(Duration::ZERO, 1).is_err());
}

#[test]
fn zero_parallelism_is_an_error() {
    let err = StreamingContext::new(Duration::seconds(1), 0).unwrap_err();
    assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
    assert!(
        err.to_string().contains("parallelism must be at least 1"),
        "{err}"
    );
}

#[test]
fn a_missing_batch_interval_is_an_error() {
    let err = StreamingContext::builder().build().unwrap_err();
    assert!(err.to_string().contains("batch interval is not set"), "{err}");
}

#[test]
fn master_strings() -> TestResult {
    let with = |master: &str| {
        StreamingContext::builder()
            .batch_duration(Duration::seconds(1))
            .master(master)
    };
    assert_eq!(with("local")?.build()?.parallelism(), 1);
    assert_eq!(with("local[3]")?.build()?.parallelism(), 3);
    assert_eq!(with(" local[2] ")?.build()?.parallelism(), 2);
    assert!(with("local[*]")?.build()?.parallelism() >= 1);
    for bad in [
        "",
        "local[0]",
        "local[-1]",
        "local[]",
        "local[2",
        "local[2]x",
        "yarn",
        "spark://h:7077",
    ] {
        let Err(err) = with(bad) else {
            panic!("master {bad:?} must be rejected");
        };
        assert!(matches!(err, Error::InvalidConfig(_)), "{bad:?}: {err:?}");
        assert!(
            err.to_string().contains(&format!("unsupported master \"{bad}\"")),
            "{err}"
        );
    }
    Ok(())
}

#[test]
fn the_first_batch_is_one_interval_after_the_start_time() -> TestResult {
    // Like Spark's RecurringTimer: batch times are multiples of the interval.
    let clock = ManualClock::new(10_300);
    let ssc = StreamingContext::builder()
        .batch_duration(Duration::seconds(2))
        .clock(clock.clone())
        .build()?;
    let times = Arc::new(Mutex::new(Vec::new()));
    let sink = times.clone();
    ssc.queue_stream(StreamQueue::<i32>::new(), true, None)
        .foreach_batch(move |_, time| sink.lock().unwrap().push(time));
    ssc.start()?;
    clock.advance(Duration::seconds(4))?;
    ssc.await_batch(Time::from_millis(14_000))?;
    ssc.stop(false)?;
    assert_eq!(
        *times.lock().unwrap(),
        vec![Time::from_millis(12_000), Time::from_millis(14_000)]
    );
    Ok(())
}

#[derive(Default)]
struct Events(Mutex<Vec<String>>);

impl StreamingListener for Events {
    fn on_streaming_started(&self, zero_time: Time) {
        self.0
            .lock()
            .unwrap()
            .push(format!("started {}", zero_time.millis()));
    }
    fn on_batch_completed(&self, info: &BatchInfo) {
        self.0
            .lock()
            .unwrap()
            .push(format!("batch {}", info.batch_time.millis()));
    }
    fn on_streaming_stopped(&self) {
        self.0.lock().unwrap().push("stopped".into());
    }
}

#[test]
fn listeners_hear_start_batches_and_stop_once() -> TestResult {
    let t = test_context();
    let events = Arc::new(Events::default());
    t.context().add_streaming_listener(events.clone());
    t.input(vec![vec![1]]).print();
    t.run(2)?;
    t.context().stop(true)?;
    assert_eq!(
        *events.0.lock().unwrap(),
        vec!["started 0", "batch 1000", "batch 2000", "stopped"]
    );
    Ok(())
}

#[test]
fn await_termination_or_timeout_accepts_the_longest_timeout() -> TestResult {
    let t = test_context();
    t.input(vec![vec![1]]).print();
    t.run(1)?;
    // `Duration::MAX` is the idiomatic "no timeout"; it must not overflow the deadline.
    assert!(
        t.context()
            .await_termination_or_timeout(std::time::Duration::MAX)?
    );
    Ok(())
}

#[test]
fn combining_streams_of_two_contexts_is_an_error_at_start() -> TestResult {
    let first = test_context();
    let second = test_context();
    let mine = first.input(vec![vec![1]]);
    let theirs = second.input(vec![vec![2]]).map(|x| x * 10).filter(|x| *x > 0);
    first.collect(&mine.union(&theirs));
    let plan = first.context().explain();
    assert!(plan.contains("union"), "{plan}");
    let err = first.start().unwrap_err();
    assert!(err.to_string().contains("context"), "{err}");
    Ok(())
}
