//! Restarting on a checkpoint, in process: both vocabularies carry on where they stopped, a
//! batch that failed before its commit is re-run with exactly its input, committed batches
//! never run again, and a damaged or foreign checkpoint is refused by name. (Killing real
//! processes is `crash.rs`.)

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use streamflow::structured::*;
use streamflow::testing::sorted;
use streamflow::{Clock, Duration, Error, ManualClock, StreamingContext, Time};

type Out = Arc<Mutex<Vec<(i64, Vec<(String, u64)>)>>>;

/// A DStream job: running counts of `w0`…`w2` (update_state_by_key) from a generator of five
/// words a batch, plus a 3-second window of counts sliding by one (the incremental form),
/// both collected per batch time. `fail_at`: the sink panics once at that batch time.
fn dstream_job(
    dir: &Path,
    clock: &ManualClock,
    parallelism: usize,
    fail_at: Option<i64>,
) -> Result<(StreamingContext, Out, Out), Error> {
    let totals: Out = Arc::default();
    let windows: Out = Arc::default();
    let (t, w) = (totals.clone(), windows.clone());
    let clock = clock.clone();
    let ssc = StreamingContext::get_or_create(dir, move || {
        let ssc = StreamingContext::builder()
            .batch_duration(Duration::seconds(1))
            .parallelism(parallelism)
            .clock(clock)
            .build()?;
        let pairs = ssc.generator_stream(5, |i| (format!("w{}", (i * 7) % 3), 1_u64));
        let failed = Arc::new(AtomicBool::new(false));
        pairs
            .update_state_by_key(|new: Vec<u64>, total: Option<u64>| {
                Some(total.unwrap_or(0) + new.iter().sum::<u64>())
            })
            .foreach_batch(move |batch, time| {
                if fail_at == Some(time.millis()) && !failed.swap(true, Ordering::SeqCst) {
                    panic!("the sink fails once at {time}");
                }
                t.lock().unwrap().push((time.millis(), sorted(&batch.collect())));
            });
        pairs
            .reduce_by_key_and_window_inv(|a, b| a + b, |a, b| a - b, "3s", "1s", None)
            .foreach_batch(move |batch, time| {
                w.lock().unwrap().push((time.millis(), sorted(&batch.collect())))
            });
        Ok(ssc)
    })?;
    Ok((ssc, totals, windows))
}

/// Runs the job's batches up to `until` seconds, then stops it (not gracefully).
fn run_until(ssc: &StreamingContext, clock: &ManualClock, until: i64) -> Result<(), Error> {
    ssc.start()?;
    while clock.now().millis() < until * 1_000 {
        clock.advance(Duration::seconds(1))?;
        ssc.await_batch(clock.now())?;
    }
    ssc.stop(false)
}

fn taken(out: &Out) -> Vec<(i64, Vec<(String, u64)>)> {
    out.lock().unwrap().clone()
}

#[test]
fn a_dstream_job_carries_on_from_its_checkpoint_as_if_never_stopped() -> TestResult {
    // One run of eight batches.
    let whole = tempfile::tempdir()?;
    let clock = ManualClock::new(0);
    let (ssc, totals, windows) = dstream_job(whole.path(), &clock, 2, None)?;
    run_until(&ssc, &clock, 8)?;
    let (expected_totals, expected_windows) = (taken(&totals), taken(&windows));
    assert_eq!(expected_totals.len(), 8);
    assert_eq!(expected_totals[7].1.iter().map(|(_, n)| n).sum::<u64>(), 40);

    // The same in three runs: 3 batches, 2 more, then the rest.
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(0);
    let mut all_totals = Vec::new();
    let mut all_windows = Vec::new();
    for until in [3, 5, 8] {
        let (ssc, totals, windows) = dstream_job(dir.path(), &clock, 2, None)?;
        run_until(&ssc, &clock, until)?;
        all_totals.extend(taken(&totals));
        all_windows.extend(taken(&windows));
    }
    assert_eq!(all_totals, expected_totals);
    assert_eq!(all_windows, expected_windows);
    // What a batch wrote to the checkpoint is in its BatchInfo.
    let (ssc, _, _) = dstream_job(dir.path(), &clock, 2, None)?;
    run_until(&ssc, &clock, 9)?;
    let last = ssc.recent_batches().pop().ok_or("no batch")?;
    let written = last.checkpoint.ok_or("no checkpoint figures")?;
    assert!(written.offsets_bytes > 100, "{written:?}");
    assert!(written.state_files >= 2 && written.state_bytes > 0, "{written:?}");
    Ok(())
}

#[test]
fn a_dstream_batch_that_failed_before_its_commit_is_re_run_once_with_its_input() -> TestResult {
    let whole = tempfile::tempdir()?;
    let clock = ManualClock::new(0);
    let (ssc, totals, windows) = dstream_job(whole.path(), &clock, 2, None)?;
    run_until(&ssc, &clock, 8)?;
    let (expected, expected_windows) = (taken(&totals), taken(&windows));

    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(0);
    let (ssc, totals, windows) = dstream_job(dir.path(), &clock, 2, Some(5_000))?;
    let err = run_until(&ssc, &clock, 8)
        .and_then(|_| ssc.await_termination())
        .unwrap_err();
    assert!(err.to_string().contains("fails once at 5000 ms"), "{err}");
    let mut all = taken(&totals);
    let mut all_windows: Vec<_> = taken(&windows).into_iter().filter(|(t, _)| *t < 5_000).collect();
    assert_eq!(all.len(), 4, "batches 1 to 4 committed, 5 failed");
    // The plan of batch 5 is in the checkpoint, its commit is not.
    assert!(dir.path().join("offsets/4").exists());
    assert!(!dir.path().join("commits/4").exists());
    // Restarted later: batch 5 runs as planned, then 6 to 8 — none twice, none lost.
    clock.advance(Duration::seconds(30))?;
    let (ssc, totals, windows) = dstream_job(dir.path(), &clock, 2, None)?;
    ssc.start()?;
    ssc.await_batch(Time::from_millis(8_000))?;
    ssc.stop(false)?;
    all.extend(taken(&totals).into_iter().filter(|(t, _)| *t <= 8_000));
    all_windows.extend(taken(&windows).into_iter().filter(|(t, _)| *t <= 8_000));
    assert_eq!(all, expected);
    assert_eq!(all_windows, expected_windows);
    Ok(())
}

#[test]
fn a_dstream_restart_with_other_state_partitions_is_refused_by_name() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(0);
    let (ssc, _, _) = dstream_job(dir.path(), &clock, 2, None)?;
    run_until(&ssc, &clock, 1)?;
    let err = match dstream_job(dir.path(), &clock, 3, None) {
        Ok(_) => panic!("a restart with 3 state partitions instead of 2 was accepted"),
        Err(e) => e,
    };
    assert!(
        matches!(&err, Error::IncompatibleRestart { setting, .. } if setting.contains("state partitions")),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("was 2 when the checkpoint was written and is 3 now"),
        "{err}"
    );
    Ok(())
}

#[test]
fn get_or_create_reports_a_damaged_checkpoint_before_anything_runs() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(0);
    let (ssc, _, _) = dstream_job(dir.path(), &clock, 2, None)?;
    run_until(&ssc, &clock, 2)?;
    let path = dir.path().join("commits/1");
    let bytes = fs::read(&path)?;
    fs::write(&path, &bytes[..bytes.len() / 2])?;
    let err = match dstream_job(dir.path(), &clock, 2, None) {
        Ok(_) => panic!("a torn commit was not noticed"),
        Err(e) => e,
    };
    match &err {
        Error::CorruptCheckpoint { path: p, .. } => assert!(p.ends_with("commits/1"), "{err}"),
        other => panic!("expected a corrupt checkpoint, got {other}"),
    }
    Ok(())
}

/// A Structured query: 10-minute tumbling counts of events with a 10-minute watermark, Append,
/// into a memory table; on `dir` if given.
fn windowed(
    s: &Session,
    input: &MemoryStream<Ev>,
    dir: &Path,
    table: &str,
) -> DataStreamWriter<AggRow<String, u64>> {
    windowed_count(s, input, tumbling_window("10 minutes"), OutputMode::Append, table)
        .checkpoint_location(dir)
}

#[test]
fn a_query_carries_on_from_its_checkpoint_with_state_and_watermark() -> TestResult {
    let batches = [
        vec![ev("a", 1), ev("b", 2)],
        vec![ev("a", 12), ev("a", 5)],
        vec![ev("b", 25)],
        vec![ev("a", 26), ev("c", 41)],
    ];
    // Uninterrupted.
    let s = session();
    let input = MemoryStream::new();
    let whole = tempfile::tempdir()?;
    let q = windowed(&s, &input, whole.path(), "whole").start()?;
    for b in &batches {
        input.add_data(b.clone());
        q.process_all_available()?;
    }
    q.stop()?;
    let expected = window_rows(&s.memory_table::<AggRow<String, u64>>("whole")?.rows());
    assert_eq!(
        expected,
        [
            (0, 10, "a".to_string(), 2),
            (0, 10, "b".to_string(), 1),
            (10, 20, "a".to_string(), 1),
            (20, 30, "a".to_string(), 1),
            (20, 30, "b".to_string(), 1)
        ]
    );

    // Stopped after each batch and started again on the same checkpoint.
    let s = session();
    let input = MemoryStream::new();
    let dir = tempfile::tempdir()?;
    let mut rows = Vec::new();
    let mut ids = Vec::new();
    for (i, b) in batches.iter().enumerate() {
        let table = format!("run{i}");
        let q = windowed(&s, &input, dir.path(), &table).start()?;
        ids.push(q.id().to_string());
        input.add_data(b.clone());
        q.process_all_available()?;
        q.stop()?;
        rows.extend(s.memory_table::<AggRow<String, u64>>(&table)?.rows());
    }
    assert_eq!(window_rows(&rows), expected);
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "the id is kept: {ids:?}");
    Ok(())
}

#[test]
fn a_query_batch_whose_sink_failed_is_re_run_with_the_same_id_and_rows() -> TestResult {
    let s = session();
    let input = MemoryStream::<i64>::new();
    let dir = tempfile::tempdir()?;
    let seen: Arc<Mutex<Vec<(u64, Vec<i64>)>>> = Arc::default();
    let fail = Arc::new(AtomicBool::new(true));
    let start = |fail: Arc<AtomicBool>| {
        let seen = seen.clone();
        s.read_stream::<i64>()
            .memory(&input)
            .write_stream()
            .checkpoint_location(dir.path())
            .foreach_batch(move |batch, id| {
                let rows = sorted(&batch.collect());
                if rows.contains(&3) && fail.swap(false, Ordering::SeqCst) {
                    panic!("the sink fails once on batch {id}");
                }
                seen.lock().unwrap().push((id, rows));
            })
            .start()
    };
    let q = start(fail.clone())?;
    input.add_data([1, 2]);
    q.process_all_available()?;
    input.add_data([3, 4]);
    let err = q.process_all_available().unwrap_err();
    assert!(err.to_string().contains("fails once on batch 1"), "{err}");
    // More data arrives while it is down: it is not mixed into the re-run batch.
    input.add_data([5]);
    let q = start(fail)?;
    q.process_all_available()?;
    q.stop()?;
    assert_eq!(
        *seen.lock().unwrap(),
        [(0, vec![1, 2]), (1, vec![3, 4]), (2, vec![5])]
    );
    Ok(())
}

#[test]
fn a_query_restart_keeps_only_the_global_watermark_and_the_first_policy() -> TestResult {
    let s = session();
    let dir = tempfile::tempdir()?;
    let (fast, slow) = (MemoryStream::<Ev>::new(), MemoryStream::<Ev>::new());
    let query = |policy: MultipleWatermarkPolicy, table: &str| {
        let a = s
            .read_stream::<Ev>()
            .memory(&fast)
            .with_watermark(|e| e.ts, "10 minutes");
        let b = s
            .read_stream::<Ev>()
            .memory(&slow)
            .with_watermark(|e| e.ts, "10 minutes");
        a.union(&b)
            .write_stream()
            .multiple_watermark_policy(policy)
            .checkpoint_location(dir.path())
            .memory(table)
            .start()
    };
    let q = query(MultipleWatermarkPolicy::Max, "first")?;
    fast.add_data([ev("a", 60)]);
    slow.add_data([ev("b", 20)]);
    q.process_all_available()?;
    q.stop()?;
    // Max policy: 60 − 10 minutes.
    let q = query(MultipleWatermarkPolicy::Min, "second")?;
    slow.add_data([ev("b", 25)]);
    q.process_all_available()?;
    let progress = q.last_progress().ok_or("no progress")?;
    // The batch ran with the restored global watermark.
    assert_eq!(watermark_minutes(&progress), 50);
    fast.add_data([ev("a", 80)]);
    q.process_all_available()?;
    q.process_all_available()?;
    // The first run's Max policy still decides (Min would hold it at 25 − 10 = 15 → 50).
    assert_eq!(
        q.resume_state().watermark.watermark,
        Time::from_millis(70 * 60_000)
    );
    q.stop()?;
    Ok(())
}

#[test]
fn a_query_restart_with_a_damaged_or_foreign_checkpoint_is_refused_by_name() -> TestResult {
    let dir = tempfile::tempdir()?;
    let input = MemoryStream::new();
    let s = session();
    let q = windowed(&s, &input, dir.path(), "t").start()?;
    input.add_data([ev("a", 1)]);
    q.process_all_available()?;
    q.stop()?;
    // Another number of state partitions.
    let other = session_with_parallelism(3);
    let err = windowed(&other, &input, dir.path(), "t")
        .start()
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(&err, Error::IncompatibleRestart { setting, .. } if setting == "state partitions"),
        "{err}"
    );
    // Another operator: a sum of amounts instead of a count.
    let err = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "10 minutes")
        .group_by_window(|e| e.key.clone(), tumbling_window("10 minutes"))
        .sum(|e: &Ev| e.amount)
        .write_stream()
        .checkpoint_location(dir.path())
        .memory("sum")
        .start()
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(&err, Error::IncompatibleRestart { setting, .. } if setting == "stateful operators"),
        "{err}"
    );
    // The same operator over another key type.
    let err = s
        .read_stream::<Ev>()
        .memory(&input)
        .with_watermark(|e| e.ts, "10 minutes")
        .group_by_window(|e| e.amount, tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .checkpoint_location(dir.path())
        .memory("by_amount")
        .start()
        .map(|_| ())
        .unwrap_err();
    assert!(err.to_string().contains("state type"), "{err}");
    // A flipped byte in the state.
    let state = dir.path().join("state/0");
    let file = fs::read_dir(&state)?
        .flatten()
        .flat_map(|p| fs::read_dir(p.path()).into_iter().flatten().flatten())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "snapshot"))
        .ok_or("no snapshot")?;
    let mut bytes = fs::read(&file)?;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    fs::write(&file, bytes)?;
    let err = windowed(&s, &input, dir.path(), "t2").start().and_then(|q| {
        let r = q.process_all_available();
        let _ = q.stop();
        r
    });
    let err = err.unwrap_err();
    assert!(
        matches!(&err, Error::CorruptCheckpoint { path, .. } if *path == file),
        "{err}"
    );
    Ok(())
}

/// A window over a stateful stream reads past batches of it, which a restart cannot compute
/// again (the state is at its last version) and the checkpoint does not keep: the restart is
/// refused with what to do, rather than failing at its first batch.
#[test]
fn a_restart_with_a_window_over_a_stateful_stream_is_refused_with_what_to_do() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(0);
    let job = |clock: ManualClock| {
        StreamingContext::get_or_create(dir.path(), move || {
            let ssc = StreamingContext::builder()
                .batch_duration(Duration::seconds(1))
                .clock(clock)
                .build()?;
            ssc.generator_stream(3, |i| (format!("w{}", i % 2), 1_u64))
                .update_state_by_key(|n: Vec<u64>, s: Option<u64>| {
                    Some(s.unwrap_or(0) + n.iter().sum::<u64>())
                })
                .window("3s", "1s")
                .print();
            Ok(ssc)
        })
    };
    let ssc = job(clock.clone())?;
    run_until(&ssc, &clock, 3)?;
    let ssc = job(clock.clone())?;
    ssc.start()?;
    let err = ssc.await_termination().unwrap_err().to_string();
    assert!(err.contains("`window` over `update_state_by_key`"), "{err}");
    assert!(
        err.contains("window the input before the stateful operator"),
        "{err}"
    );
    Ok(())
}

/// Asked to, a DStream context drops a torn last commit and runs that batch again.
#[test]
fn a_context_may_discard_a_torn_last_batch_when_asked() -> TestResult {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(0);
    let job = |clock: ManualClock, discard: bool, out: Out| {
        StreamingContext::get_or_create(dir.path(), move || {
            let ssc = StreamingContext::builder()
                .batch_duration(Duration::seconds(1))
                .clock(clock)
                .discard_torn_last_batch(discard)
                .build()?;
            ssc.generator_stream(2, |i| (format!("w{}", i % 2), 1_u64))
                .update_state_by_key(|n: Vec<u64>, s: Option<u64>| {
                    Some(s.unwrap_or(0) + n.iter().sum::<u64>())
                })
                .foreach_batch(move |b, t| out.lock().unwrap().push((t.millis(), sorted(&b.collect()))));
            Ok(ssc)
        })
    };
    let first: Out = Arc::default();
    let ssc = job(clock.clone(), false, first.clone())?;
    run_until(&ssc, &clock, 3)?;
    fs::write(dir.path().join("commits/2"), b"")?;
    assert!(
        job(clock.clone(), false, Arc::default()).is_err(),
        "refused unless asked"
    );
    let second: Out = Arc::default();
    let ssc = job(clock.clone(), true, second.clone())?;
    ssc.start()?;
    ssc.await_batch(Time::from_millis(3_000))?;
    ssc.stop(false)?;
    // Batch 3 ran again, from the state of batch 2: the same totals.
    assert_eq!(taken(&second), taken(&first)[2..]);
    Ok(())
}

/// A DStream job over a directory: a 3-second window of line counts sliding by one.
fn file_window_job(dir: &Path, input: &Path, clock: &ManualClock) -> Result<(StreamingContext, Out), Error> {
    let windows: Out = Arc::default();
    let w = windows.clone();
    let (clock, input) = (clock.clone(), input.to_path_buf());
    let ssc = StreamingContext::get_or_create(dir, move || {
        let ssc = StreamingContext::builder()
            .batch_duration(Duration::seconds(1))
            .parallelism(2)
            .clock(clock)
            .build()?;
        ssc.text_file_stream(&input)
            .map(|line| (line, 1_u64))
            .reduce_by_key_and_window(|a, b| a + b, "3s", "1s")
            .foreach_batch(move |batch, time| {
                w.lock().unwrap().push((time.millis(), sorted(&batch.collect())))
            });
        Ok(ssc)
    })?;
    Ok((ssc, windows))
}

/// Runs `file_window_job` on `input` up to `until` seconds, writing file `n` (settled: an
/// hour old, oldest first) before batch `n`.
fn run_files_until(dir: &Path, input: &Path, clock: &ManualClock, until: i64) -> Result<Out, Error> {
    let (ssc, windows) = file_window_job(dir, input, clock)?;
    ssc.start()?;
    while clock.now().millis() < until * 1_000 {
        let n = clock.now().millis() / 1_000 + 1;
        let path = input.join(format!("{n:03}.txt"));
        fs::write(&path, format!("a\nb{}\n", n % 2)).map_err(|e| Error::io("writing", e))?;
        let age = std::time::Duration::from_secs(3_600 - n as u64);
        fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(std::time::SystemTime::now() - age))
            .map_err(|e| Error::io("dating", e))?;
        clock.advance(Duration::seconds(1))?;
        ssc.await_batch(clock.now())?;
    }
    ssc.stop(false)?;
    Ok(windows)
}

/// A file source forgets the files of committed batches; a restarted window still sees the
/// lines of the files its first windows look back on (read back from the source's log in the
/// checkpoint), and its windows equal an uninterrupted run's.
#[test]
fn a_restarted_window_over_a_file_stream_reads_back_the_files_it_looks_back_on() -> TestResult {
    let (whole, whole_in) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let expected = taken(&run_files_until(
        whole.path(),
        whole_in.path(),
        &ManualClock::new(0),
        8,
    )?);
    assert_eq!(expected.len(), 8);
    assert!(expected[5].1.contains(&("a".into(), 3)), "{expected:?}");

    let (dir, input) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let clock = ManualClock::new(0);
    let mut all = Vec::new();
    for until in [3, 5, 8] {
        all.extend(taken(&run_files_until(dir.path(), input.path(), &clock, until)?));
    }
    assert_eq!(all, expected);
    Ok(())
}
