//! Output operations and batch metrics: `save_as_text_files` on real directories,
//! `foreach_partition`, `print` on empty batches, `BatchInfo` and listeners — and the issue's
//! headline, the network word count over a real socket, checked against Spark's print format.
//! (The exact `print` format itself is unit-tested in `sink/print.rs`.)
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::BTreeSet;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use streamflow::sink::format_batch;
use streamflow::testing::{TestContext, sorted};
use streamflow::{BatchInfo, Duration, Error, ReceiverStatus, StreamingListener, Time};

mod common;
use common::{PATIENCE, TestResult, test_context};

/// The names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every line of the `part-*` files of a batch directory, sorted.
fn lines_in(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for name in names(dir).into_iter().filter(|n| n.starts_with("part-")) {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(text.is_empty() || text.ends_with('\n'), "{text:?}");
        lines.extend(text.lines().map(str::to_owned));
    }
    lines.sort();
    lines
}

// ---------------------------------------------------------------- the headline

#[test]
fn network_word_count_over_a_socket_prints_sparks_batch() -> TestResult {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut conn, _) = listener.accept()?;
        conn.write_all(b"apple banana apple cherry apple banana orange apple\n")?;
        conn.flush()
    });

    let t = test_context();
    let printed = Arc::new(Mutex::new(String::new()));
    let sink = printed.clone();
    t.context()
        .socket_text_stream("127.0.0.1", port)
        .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1))
        .reduce_by_key(|a, b| a + b)
        .foreach_batch(move |batch, time| {
            // print() shows partition order; sort so that the text is one exact string.
            let counts = sorted(&batch.collect());
            sink.lock().unwrap().push_str(&format_batch(time, &counts, 10));
        });
    t.start()?;
    assert!(t.context().await_records_received(1, PATIENCE)?);
    t.advance_batches(2)?;
    t.context().stop(false)?;
    server.join().unwrap()?;

    let dashes = "-".repeat(43);
    assert_eq!(
        *printed.lock().unwrap(),
        format!(
            "{dashes}\nTime: 1000 ms\n{dashes}\n(apple,4)\n(banana,2)\n(cherry,1)\n(orange,1)\n\n\
             {dashes}\nTime: 2000 ms\n{dashes}\n\n"
        )
    );
    let info = t.context().recent_batches();
    assert_eq!(info[0].num_records, 1, "one line read in the first batch");
    Ok(())
}

// ---------------------------------------------------------------- save_as_text_files

#[test]
fn save_as_text_files_writes_one_directory_per_batch_with_sparks_names() -> TestResult {
    let out = tempfile::tempdir()?;
    let t = test_context();
    let counts = t.input(vec![vec![("apple", 4), ("banana", 2), ("cherry", 1)], vec![]]);
    counts.save_as_text_files(out.path().join("counts").to_str().unwrap(), "txt");
    counts.save_as_text_files(out.path().join("plain").to_str().unwrap(), "");
    t.run(2)?;

    assert_eq!(
        names(out.path()),
        vec!["counts-1000.txt", "counts-2000.txt", "plain-1000", "plain-2000"],
        "no temporary directory is left behind"
    );
    for dir in ["counts-1000.txt", "plain-1000"] {
        let dir = out.path().join(dir);
        // One file per partition (two workers), and the marker Hadoop writes.
        assert_eq!(names(&dir), vec!["_SUCCESS", "part-00000", "part-00001"]);
        assert_eq!(std::fs::read(dir.join("_SUCCESS"))?, b"");
        assert_eq!(lines_in(&dir), vec!["(apple,4)", "(banana,2)", "(cherry,1)"]);
    }
    // An empty batch is still written, complete with its marker.
    let empty = out.path().join("plain-2000");
    assert!(empty.join("_SUCCESS").exists());
    assert!(lines_in(&empty).is_empty());
    Ok(())
}

#[test]
fn save_as_text_files_rewrites_a_batch_idempotently() -> TestResult {
    let out = tempfile::tempdir()?;
    let prefix = out.path().join("wc");
    let run = |items: Vec<&'static str>| -> Result<(), Error> {
        let t = test_context();
        t.input(vec![items])
            .save_as_text_files(prefix.to_str().unwrap(), "");
        t.run(1)
    };
    run(vec!["old-1", "old-2", "old-3"])?;
    let dir = out.path().join("wc-1000");
    std::fs::write(dir.join("part-00042"), "stale\n")?;
    // The same batch time again, e.g. after a restart: the directory is replaced as a whole.
    run(vec!["new"])?;
    assert_eq!(lines_in(&dir), vec!["new"]);
    assert_eq!(names(&dir), vec!["_SUCCESS", "part-00000", "part-00001"]);
    assert_eq!(names(out.path()), vec!["wc-1000"]);
    Ok(())
}

/// Running the same job twice over the same prefix replaces each batch directory whole: a
/// batch that has fewer partitions the second time leaves no stale part file behind.
#[test]
fn save_as_text_files_rerun_with_fewer_partitions_leaves_no_stale_part() -> TestResult {
    let dir = tempfile::tempdir()?;
    let prefix = dir.path().join("out").display().to_string();
    for (parallelism, data) in [(4, vec![1, 2, 3, 4, 5, 6, 7, 8]), (1, vec![9])] {
        let t = TestContext::new(Duration::seconds(1), parallelism)?;
        t.input(vec![data]).save_as_text_files(&prefix, "txt");
        t.run(1)?;
    }
    let batch = dir.path().join("out-1000.txt");
    assert_eq!(names(&batch), ["_SUCCESS", "part-00000"]);
    assert_eq!(std::fs::read_to_string(batch.join("part-00000"))?, "9\n");
    Ok(())
}

#[test]
fn save_as_text_files_creates_missing_parent_directories() -> TestResult {
    let out = tempfile::tempdir()?;
    let prefix = out.path().join("a").join("b").join("events");
    let t = test_context();
    t.input(vec![vec![1.5_f64, 2.0]])
        .save_as_text_files(prefix.to_str().unwrap(), "");
    t.run(1)?;
    assert_eq!(lines_in(&out.path().join("a/b/events-1000")), vec!["1.5", "2.0"]);
    Ok(())
}

#[test]
fn save_as_text_files_into_an_unwritable_place_fails_the_job_with_an_io_error() -> TestResult {
    let out = tempfile::tempdir()?;
    let blocker = out.path().join("not-a-dir");
    std::fs::write(&blocker, "")?;
    let t = test_context();
    t.input(vec![vec![1]])
        .save_as_text_files(blocker.join("out").to_str().unwrap(), "");
    t.start()?;
    let err = t.advance_batches(1).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("save_as_text_files"), "{err}");
    assert_eq!(t.context().state(), streamflow::ContextState::Stopped);
    Ok(())
}

// ---------------------------------------------------------------- foreach_partition, print

#[test]
fn foreach_partition_runs_once_per_partition_on_the_workers() -> TestResult {
    let t = TestContext::new(Duration::seconds(1), 3)?;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let threads = Arc::new(Mutex::new(BTreeSet::new()));
    let input = t.input(vec![(0..30).collect(), vec![]]);
    let (c, s, th) = (calls.clone(), seen.clone(), threads.clone());
    input.foreach_partition(move |records| {
        // The connection-pool pattern: one connection per partition, here a counter.
        c.fetch_add(1, Ordering::SeqCst);
        th.lock()
            .unwrap()
            .insert(std::thread::current().name().unwrap_or("?").to_string());
        s.lock().unwrap().extend(records);
    });
    let repartitioned = Arc::new(AtomicUsize::new(0));
    let r = repartitioned.clone();
    input.repartition(5).foreach_partition(move |_| {
        r.fetch_add(1, Ordering::SeqCst);
    });
    t.run(2)?;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3 * 2,
        "3 partitions, 2 batches (one empty)"
    );
    assert_eq!(repartitioned.load(Ordering::SeqCst), 5 * 2);
    assert_eq!(
        sorted(&seen.lock().unwrap()),
        (0..30).collect::<Vec<_>>(),
        "each record once"
    );
    let threads = threads.lock().unwrap();
    assert!(
        threads.iter().all(|n| n.starts_with("test-worker")),
        "{threads:?}"
    );
    Ok(())
}

#[test]
fn print_on_empty_and_short_batches_does_not_fail() -> TestResult {
    let t = test_context();
    let s = t.input(vec![vec![], vec![1, 2, 3], vec![]]);
    s.print();
    s.print_n(0);
    s.print_n(2);
    s.map(|x| (x, Some(x as f64))).print_n(1);
    t.run(4)?;
    assert_eq!(t.context().recent_batches().len(), 4);
    Ok(())
}

// ---------------------------------------------------------------- metrics

#[test]
fn batch_info_records_time_records_and_delays() -> TestResult {
    let t = test_context();
    let a = t.input(vec![vec![1, 2], vec![], vec![3, 4, 5]]);
    let b = t.input(vec![vec![9]]);
    a.union(&b).count().foreach_batch(|_, _| {});
    t.run(3)?;
    let infos = t.context().recent_batches();
    let summary: Vec<(i64, u64)> = infos
        .iter()
        .map(|i| (i.batch_time.millis(), i.num_records))
        .collect();
    assert_eq!(
        summary,
        vec![(1_000, 3), (2_000, 0), (3_000, 3)],
        "records of all inputs"
    );
    for info in &infos {
        // The manual clock moved one interval at a time: no batch waited.
        assert_eq!(info.scheduling_delay, std::time::Duration::ZERO, "{info:?}");
        assert_eq!(info.processing_start_time, info.batch_time);
        assert_eq!(info.total_delay, info.scheduling_delay + info.processing_time);
        assert!(info.processing_end_time >= info.processing_start_time);
    }
    let json = serde_json::to_value(&infos[0])?;
    assert_eq!(json["batch_time"], 1_000);
    assert_eq!(json["num_records"], 3);
    Ok(())
}

#[test]
fn batches_that_fall_behind_show_a_scheduling_delay() -> TestResult {
    let t = test_context();
    t.input(vec![vec![1]; 3]).foreach_batch(|_, _| {});
    t.start()?;
    // Three intervals at once: batch 1000 runs at clock time 3000.
    t.clock().advance(Duration::seconds(3))?;
    t.context().await_batch(Time::from_millis(3_000))?;
    t.context().stop(false)?;
    let delays: Vec<(i64, u128)> = t
        .context()
        .recent_batches()
        .iter()
        .map(|i| (i.batch_time.millis(), i.scheduling_delay.as_millis()))
        .collect();
    assert_eq!(delays, vec![(1_000, 2_000), (2_000, 1_000), (3_000, 0)]);
    let info = &t.context().recent_batches()[0];
    assert_eq!(info.processing_start_time, Time::from_millis(3_000));
    assert!(info.total_delay >= std::time::Duration::from_secs(2));
    Ok(())
}

#[derive(Default)]
struct Recorder {
    batches: Mutex<Vec<BatchInfo>>,
    receiver_errors: Mutex<Option<mpsc::Sender<ReceiverStatus>>>,
}

impl StreamingListener for Recorder {
    fn on_batch_completed(&self, info: &BatchInfo) {
        self.batches.lock().unwrap().push(info.clone());
    }
    fn on_receiver_error(&self, status: &ReceiverStatus) {
        if let Some(tx) = &*self.receiver_errors.lock().unwrap() {
            let _ = tx.send(status.clone());
        }
    }
}

#[test]
fn a_listener_hears_every_batch_and_receiver_errors() -> TestResult {
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let (tx, rx) = mpsc::channel();
    let recorder = Arc::new(Recorder {
        receiver_errors: Mutex::new(Some(tx)),
        ..Recorder::default()
    });
    let t = test_context();
    t.context().add_streaming_listener(recorder.clone());
    t.context().socket_text_stream("127.0.0.1", port).print();
    t.input(vec![vec![1, 2, 3]]).print();
    t.start()?;
    let status = rx.recv_timeout(PATIENCE)?;
    assert_eq!(status.name, format!("socket_text_stream 127.0.0.1:{port}"));
    assert!(status.errors >= 1);
    assert!(
        status
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("cannot connect to 127.0.0.1")),
        "{status:?}"
    );
    t.advance_batches(2)?;
    t.context().stop(false)?;
    let heard = recorder.batches.lock().unwrap().clone();
    assert_eq!(heard, t.context().recent_batches());
    assert_eq!(
        heard.iter().map(|i| i.num_records).collect::<Vec<_>>(),
        vec![3, 0]
    );
    Ok(())
}
