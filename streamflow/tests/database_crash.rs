//! Exactly once through SIGKILL: a job writing events (inserted) and running totals (upserted
//! by word) into SQLite and into a real PostgreSQL is killed at seeded random moments —
//! often in the middle of a batch, some partitions written and others not — and restarted on
//! its checkpoint each time; its tables must then equal those of an uninterrupted run.
//!
//! The job is this test binary itself, run as a child (`child_job`, with its settings in
//! `STREAMFLOW_DB_CRASH_*` variables). The seed is printed; `STREAMFLOW_CRASH_SEED=N` repeats a
//! run, `STREAMFLOW_CRASH_KILLS=N` sets the kills per database.

#![cfg(any(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod db;
#[path = "support/kill.rs"]
mod kill;

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration as StdDuration, Instant};

use kill::{Rng, setting};
use streamflow::sink::database::DatabaseSink;
use streamflow::{Duration, ManualClock, StreamingContext, Time};

const BATCHES: i64 = 30;
const PER_BATCH: u64 = 2_000;
const PARTITIONS: usize = 4;

fn sinks(target: &str, suffix: &str) -> (DatabaseSink<(i64, String)>, DatabaseSink<(String, i64)>) {
    let (events, totals) = (format!("events_{suffix}"), format!("totals_{suffix}"));
    let create_events =
        format!("CREATE TABLE IF NOT EXISTS {events} (id BIGINT NOT NULL, word TEXT NOT NULL)");
    let create_totals =
        format!("CREATE TABLE IF NOT EXISTS {totals} (word TEXT PRIMARY KEY, total BIGINT NOT NULL)");
    let (e, t) = if target.starts_with("postgresql://") {
        (
            DatabaseSink::postgres(target, &events).unwrap(),
            DatabaseSink::postgres(target, &totals).unwrap(),
        )
    } else {
        (
            DatabaseSink::sqlite(target, &events),
            DatabaseSink::sqlite(target, &totals),
        )
    };
    (
        e.create_table(&create_events).columns(&["id", "word"]),
        t.create_table(&create_totals)
            .columns(&["word", "total"])
            .key(&["word"]),
    )
}

/// The job run as a child process; does nothing unless the parent set its variables.
#[test]
#[ignore = "the crash tests run it as their child process"]
fn child_job() {
    let (Ok(target), Ok(suffix), Ok(checkpoint)) = (
        std::env::var("STREAMFLOW_DB_CRASH_TARGET"),
        std::env::var("STREAMFLOW_DB_CRASH_SUFFIX"),
        std::env::var("STREAMFLOW_DB_CRASH_CHECKPOINT"),
    ) else {
        return;
    };
    let clock = ManualClock::new(0);
    let job_clock = clock.clone();
    let ssc = StreamingContext::get_or_create(&checkpoint, move || {
        let ssc = StreamingContext::builder()
            .batch_duration(Duration::seconds(1))
            .parallelism(PARTITIONS)
            .clock(job_clock)
            .app_name("db_crash")
            .build()?;
        let (events_sink, totals_sink) = sinks(&target, &suffix);
        let events = ssc.generator_stream(PER_BATCH, |i| (i as i64, format!("w{}", (i * 7919) % 13)));
        events.sink(events_sink);
        events
            .map(|(_, word)| (word, 1_i64))
            .update_state_by_key(|new: Vec<i64>, total: Option<i64>| {
                Some(total.unwrap_or(0) + new.iter().sum::<i64>())
            })
            .sink(totals_sink);
        Ok(ssc)
    })
    .unwrap();
    ssc.start().unwrap();
    let last = Time::from_millis(BATCHES * 1_000);
    clock.set_time(last);
    ssc.await_batch(last).unwrap();
    ssc.stop(false).unwrap();
    ssc.await_termination().unwrap();
}

fn spawn(target: &str, suffix: &str, checkpoint: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_job",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("STREAMFLOW_DB_CRASH_TARGET", target)
        .env("STREAMFLOW_DB_CRASH_SUFFIX", suffix)
        .env("STREAMFLOW_DB_CRASH_CHECKPOINT", checkpoint)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Runs the job to its end; how long it took.
fn run_whole(target: &str, suffix: &str, checkpoint: &Path) -> StdDuration {
    let started = Instant::now();
    let status = spawn(target, suffix, checkpoint).wait().unwrap();
    assert!(status.success(), "the uninterrupted run failed: {status}");
    started.elapsed()
}

/// Kills the job `kills` times and restarts it each time, then lets it finish: every other
/// kill comes at a random moment within a share of `span`, the others as soon as `partial()` sees a batch
/// partly written (some partitions committed, others not). Returns (kills made, kills that
/// left a batch partly written).
fn run_with_kills(
    target: &str,
    checkpoint: &Path,
    rng: &mut Rng,
    kills: u64,
    span: StdDuration,
    mut partial: impl FnMut() -> bool,
) -> (u64, u64) {
    let (mut made, mut mid_batch) = (0, 0);
    while made < kills {
        let mut child = spawn(target, "b", checkpoint);
        let started = Instant::now();
        // Within a share of the run, so that the kills spread over the whole job.
        let window = span.as_micros() as u64 / (kills / 2).max(1);
        let moment = StdDuration::from_micros(rng.below(window));
        // Every other kill as soon as the tables show a batch partly written.
        let ended = kill::wait_until(&mut child, || {
            if made % 2 == 0 {
                started.elapsed() >= moment
            } else {
                partial() || started.elapsed() >= span * 3
            }
        });
        if let Some(status) = ended.or_else(|| child.try_wait().unwrap()) {
            assert!(status.success(), "a run failed by itself: {status}");
            return (made, mid_batch);
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        made += 1;
        if partial() {
            mid_batch += 1;
        }
    }
    let status = spawn(target, "b", checkpoint).wait().unwrap();
    assert!(status.success(), "the final run failed: {status}");
    (made, mid_batch)
}

/// Batches whose events are marked for some partitions but not all.
const PARTIAL: &str = "SELECT count(*) FROM (SELECT batch_id FROM streamflow_batches \
     WHERE table_name = 'events_b' GROUP BY batch_id HAVING count(*) < 4) AS partial";

fn seed() -> u64 {
    kill::seed(kill::fresh_seed())
}

#[cfg(feature = "sqlite")]
#[test]
fn sqlite_rows_exactly_once_after_sigkills() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let target = db.to_str().unwrap();
    let span = run_whole(target, "a", &dir.path().join("ck-a"));
    let mut rng = Rng::new(seed());
    let partial =
        || db::sqlite_pairs(&db, &PARTIAL.replace("count(*) FROM (", "'n', count(*) FROM ("))[0].1 > 0;
    let kills = setting("STREAMFLOW_CRASH_KILLS", 12);
    let (made, mid) = run_with_kills(target, &dir.path().join("ck-b"), &mut rng, kills, span, partial);
    println!("SQLite: {made} kills (run: {span:?}), {mid} left a batch partly written");
    assert!(mid > 0, "no kill came in the middle of a batch");
    let rows = |table: &str| db::sqlite_pairs(&db, &format!("SELECT word, id FROM {table}"));
    let events = rows("events_a");
    assert_eq!(events.len(), (BATCHES as u64 * PER_BATCH) as usize);
    assert_eq!(
        rows("events_b"),
        events,
        "events differ from the uninterrupted run's"
    );
    let totals = |table: &str| db::sqlite_pairs(&db, &format!("SELECT word, total FROM {table}"));
    assert_eq!(totals("totals_b"), totals("totals_a"));
}

#[cfg(feature = "postgres")]
#[test]
fn postgres_rows_exactly_once_after_sigkills() {
    let Some(pg) = db::Postgres::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let span = run_whole(&pg.url, "a", &dir.path().join("ck-a"));
    let mut rng = Rng::new(seed());
    let mut client = pg.client();
    let partial = move || client.query_one(PARTIAL, &[]).unwrap().get::<_, i64>(0) > 0;
    let kills = setting("STREAMFLOW_CRASH_KILLS", 8);
    let (made, mid) = run_with_kills(&pg.url, &dir.path().join("ck-b"), &mut rng, kills, span, partial);
    println!("PostgreSQL: {made} kills (run: {span:?}), {mid} left a batch partly written");
    assert!(mid > 0, "no kill came in the middle of a batch");
    let rows = |table: &str| pg.pairs(&format!("SELECT word, id FROM {table}"));
    let events = rows("events_a");
    assert_eq!(events.len(), (BATCHES as u64 * PER_BATCH) as usize);
    assert_eq!(
        rows("events_b"),
        events,
        "events differ from the uninterrupted run's"
    );
    let totals = |table: &str| pg.pairs(&format!("SELECT word, total FROM {table}"));
    assert_eq!(totals("totals_b"), totals("totals_a"));
}
