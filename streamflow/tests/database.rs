//! The database sink against real databases: SQLite files and a PostgreSQL server started by
//! `scripts/postgres.sh`. Rows exactly once when a batch is run again, upserts by key, a pool
//! of N connections serving more partitions than N, a server restart survived by retries,
//! failures named by table and batch. (Kills of a real process: `database_crash.rs`.)

#![cfg(any(feature = "sqlite", feature = "postgres"))]
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod db;

use std::sync::Arc;

use streamflow::sink::database::{DatabaseSink, DatabaseStats};
use streamflow::structured::{AggRow, MemoryStream, OutputMode, Session};
use streamflow::testing::TestContext;
use streamflow::{Duration, Error, ManualClock, StreamingContext};

const EVENTS: &str = "CREATE TABLE IF NOT EXISTS events (id BIGINT NOT NULL, word TEXT NOT NULL)";
const TOTALS: &str = "CREATE TABLE IF NOT EXISTS totals (word TEXT PRIMARY KEY, total BIGINT NOT NULL)";

/// `batches` batches of `per_batch` events `(id, word)`, ids 0, 1, 2 … .
fn events(batches: usize, per_batch: usize) -> Vec<Vec<(i64, String)>> {
    (0..batches)
        .map(|b| {
            (0..per_batch)
                .map(|i| {
                    let id = (b * per_batch + i) as i64;
                    (id, format!("w{}", id * 7919 % 11))
                })
                .collect()
        })
        .collect()
}

/// Word counts of `events`, sorted.
fn counts(events: &[Vec<(i64, String)>]) -> Vec<(String, i64)> {
    let mut map = std::collections::BTreeMap::new();
    for (_, w) in events.iter().flatten() {
        *map.entry(w.clone()).or_insert(0) += 1;
    }
    map.into_iter().collect()
}

/// A DStream job named `name` writing `input` (repartitioned into `partitions`) with `sink`,
/// on `parallelism` workers.
fn run_dstream<S>(name: &str, input: Vec<Vec<(i64, String)>>, partitions: usize, parallelism: usize, sink: S)
where
    S: streamflow::sink::Sink<(i64, String)>,
{
    let builder = StreamingContext::builder()
        .batch_duration(Duration::seconds(1))
        .parallelism(parallelism)
        .clock(ManualClock::new(0))
        .app_name(name);
    let t = TestContext::from_builder(builder).unwrap();
    let n = input.len();
    t.input(input).repartition(partitions).sink(sink);
    t.run(n).unwrap();
}

/// Runs the same job twice on the same database: the second run's batches all find their
/// markers, and the table is as after the first.
fn check_rerun_writes_nothing_twice(
    make: impl Fn() -> DatabaseSink<(i64, String)>,
    ids: impl Fn() -> (i64, i64),
) {
    let input = events(3, 40);
    let first = Arc::new(make());
    run_dstream("rerun", input.clone(), 4, 2, first.clone());
    assert_eq!(ids(), (120, 120), "(rows, distinct ids) after one run");
    assert_eq!(first.stats().partitions_written, 12);
    let again = Arc::new(make());
    run_dstream("rerun", input, 4, 2, again.clone());
    assert_eq!(ids(), (120, 120), "a re-run wrote rows again");
    let stats = again.stats();
    assert_eq!((stats.partitions_written, stats.partitions_skipped), (0, 12));
}

/// A pool of 2 connections, 8 partitions per batch on 4 workers: every row arrives, never more
/// than 2 connections exist or are in use at once.
fn check_small_pool(sink: Arc<DatabaseSink<(i64, String)>>, ids: impl Fn() -> (i64, i64)) {
    run_dstream("pool", events(4, 80), 8, 4, sink.clone());
    assert_eq!(ids(), (320, 320));
    let DatabaseStats {
        connections_opened,
        pool_connections,
        max_in_use,
        partitions_written,
        ..
    } = sink.stats();
    assert_eq!(partitions_written, 32);
    assert!(
        connections_opened <= 2 && pool_connections <= 2,
        "{:?}",
        sink.stats()
    );
    assert!(max_in_use <= 2, "{:?}", sink.stats());
}

/// A query in Update mode, counts per word, upserted by word.
fn check_update_mode_upserts(
    sink: DatabaseSink<AggRow<String, u64>>,
    totals: impl Fn() -> Vec<(String, i64)>,
) {
    let input = events(3, 30);
    let session = Session::new(2).unwrap();
    let words = MemoryStream::new();
    let query = session
        .read_stream::<String>()
        .memory(&words)
        .group_by(|w| w.clone())
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .sink(sink)
        .start()
        .unwrap();
    for batch in &input {
        words.add_data(batch.iter().map(|(_, w)| w.clone()));
        query.process_all_available().unwrap();
    }
    query.stop().unwrap();
    assert_eq!(totals(), counts(&input));
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;

    fn ids(db: &std::path::Path) -> (i64, i64) {
        let rows = db::sqlite_pairs(
            db,
            "SELECT 'all', count(*) FROM events UNION ALL SELECT 'distinct', count(DISTINCT id) FROM events",
        );
        (rows[0].1, rows[1].1)
    }

    #[test]
    fn a_rerun_batch_writes_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("events.db");
        check_rerun_writes_nothing_twice(
            || {
                DatabaseSink::sqlite(&db, "events")
                    .create_table(EVENTS)
                    .columns(&["id", "word"])
            },
            || ids(&db),
        );
    }

    #[test]
    fn a_pool_of_two_serves_eight_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("events.db");
        let sink = DatabaseSink::sqlite_with_pool(&db, "events", 2)
            .create_table(EVENTS)
            .columns(&["id", "word"]);
        check_small_pool(Arc::new(sink), || ids(&db));
    }

    #[test]
    fn update_mode_upserts_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("totals.db");
        let sink = DatabaseSink::sqlite(&db, "totals")
            .create_table(TOTALS)
            .columns(&["word", "total"])
            .key(&["word"]);
        check_update_mode_upserts(sink, || db::sqlite_pairs(&db, "SELECT word, total FROM totals"));
    }

    #[test]
    fn update_mode_without_a_key_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let session = Session::new(1).unwrap();
        let err = session
            .read_stream::<String>()
            .memory(&MemoryStream::new())
            .group_by(|w| w.clone())
            .count()
            .write_stream()
            .output_mode(OutputMode::Update)
            .sink(DatabaseSink::sqlite(dir.path().join("x.db"), "totals"))
            .start()
            .err()
            .unwrap();
        assert!(err.to_string().contains("needs a key"), "{err}");
    }

    #[test]
    fn a_failure_names_the_table_and_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let sink = DatabaseSink::sqlite(&db, "events")
            .create_table(EVENTS)
            .columns(&["id", "no_such_column"]);
        let t = TestContext::new(Duration::seconds(1), 2).unwrap();
        t.input(events(1, 5)).sink(sink);
        let err = t.run(1).unwrap_err();
        match &err {
            Error::Database {
                table,
                batch,
                message,
            } => {
                assert_eq!((table.as_str(), *batch), ("events", 0));
                assert!(
                    message.contains("no_such_column") && message.contains("1 attempt"),
                    "{message}"
                );
            }
            other => panic!("expected a database error, got {other}"),
        }
    }

    #[test]
    fn connection_per_batch_opens_one_connection_each_batch() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("events.db");
        let sink = Arc::new(
            DatabaseSink::sqlite(&db, "events")
                .create_table(EVENTS)
                .columns(&["id", "word"])
                .connection_per_batch(),
        );
        run_dstream("per_batch", events(3, 20), 4, 2, sink.clone());
        assert_eq!(ids(&db), (60, 60));
        // One from the pool for the setup, then one per batch.
        assert_eq!(sink.stats().connections_opened, 1 + 3);
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use db::Postgres;

    fn ids(pg: &Postgres) -> (i64, i64) {
        let rows = pg.pairs(
            "SELECT 'all', count(*) FROM events UNION ALL SELECT 'distinct', count(DISTINCT id) FROM events",
        );
        (rows[0].1, rows[1].1)
    }

    fn sink(pg: &Postgres, pool: u32) -> DatabaseSink<(i64, String)> {
        DatabaseSink::postgres_with_pool(&pg.url, "events", pool)
            .unwrap()
            .create_table(EVENTS)
            .columns(&["id", "word"])
    }

    #[test]
    fn against_a_real_server() {
        let Some(pg) = Postgres::start() else { return };
        check_rerun_writes_nothing_twice(|| sink(&pg, 4), || ids(&pg));
        pg.client().batch_execute("DROP TABLE events").unwrap();
        check_small_pool(Arc::new(sink(&pg, 2)), || ids(&pg));
        let totals = DatabaseSink::postgres(&pg.url, "totals")
            .unwrap()
            .create_table(TOTALS)
            .columns(&["word", "total"])
            .key(&["word"]);
        check_update_mode_upserts(totals, || pg.pairs("SELECT word, total FROM totals"));

        let t = TestContext::new(Duration::seconds(1), 2).unwrap();
        t.input(events(1, 5)).sink(sink(&pg, 2).columns(&["id", "nope"]));
        let err = t.run(1).unwrap_err();
        assert!(
            matches!(&err, Error::Database { table, batch: 0, message } if table == "events" && message.contains("nope")),
            "{err}"
        );
    }

    #[test]
    fn a_server_restart_during_the_job_is_survived_by_retries() {
        let Some(pg) = Postgres::start() else { return };
        let sink = Arc::new(sink(&pg, 2).retries(12, "100 ms").unwrap());
        let session = Session::new(2).unwrap();
        let input = MemoryStream::new();
        let query = session
            .read_stream::<(i64, String)>()
            .memory(&input)
            .write_stream()
            .sink(sink.clone())
            .start()
            .unwrap();
        let batches = events(6, 50);
        for (i, batch) in batches.iter().enumerate() {
            if i == 2 {
                // Down while the batch is written: its connections are gone, new ones refused.
                pg.halt();
                input.add_data(batch.clone());
                let resume = std::thread::spawn({
                    let url = pg.url.clone();
                    move || {
                        // The server stays down a moment (the test's timing, not the engine's).
                        std::thread::sleep(std::time::Duration::from_millis(1500));
                        db::resume(&url);
                    }
                });
                query.process_all_available().unwrap();
                resume.join().unwrap();
            } else if i == 4 {
                // Restarted between batches: the pool's idle connections are broken.
                pg.halt();
                pg.resume();
                input.add_data(batch.clone());
                query.process_all_available().unwrap();
            } else {
                input.add_data(batch.clone());
                query.process_all_available().unwrap();
            }
        }
        query.stop().unwrap();
        assert_eq!(ids(&pg), (300, 300));
        assert!(
            sink.stats().connections_opened > 2,
            "the restarts made it reconnect: {:?}",
            sink.stats()
        );
    }
}
