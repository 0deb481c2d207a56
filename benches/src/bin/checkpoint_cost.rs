//! What a checkpoint costs: an event-time windowed count over 100k keys, run batch after batch
//! with its checkpoint written every batch (plan, state deltas or snapshots, commit — each
//! file synced) and without one, alternately; and how long a query with 1M keys of state
//! takes to restart on its checkpoint.
//!
//! `cargo run --release -p streamflow-benches --bin checkpoint_cost [ROUNDS]`; results in
//! `benches/RESULTS.md`.

use std::path::Path;
use std::time::Instant;

use streamflow::structured::{MemoryStream, OutputMode, Session, tumbling_window};
use streamflow::{ManualClock, Time};

const KEYS: u64 = 100_000;
/// Batches per run, and events per batch (`CHECKPOINT_COST_PER_BATCH` to change it: the
/// smaller the batch, the larger the share of the checkpoint's fixed cost per batch).
const BATCHES: u64 = 10;

fn per_batch() -> u64 {
    std::env::var("CHECKPOINT_COST_PER_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

#[derive(Clone, Copy, Debug)]
struct Event {
    key: u64,
    ts: Time,
}

fn session() -> Session {
    Session::builder()
        .parallelism(2)
        .clock(ManualClock::new(0))
        .build()
        .expect("a session starts")
}

/// Batch `b`: `PER_BATCH` events over `KEYS` keys, one minute of event time per batch, so that
/// 10-minute windows close as the watermark passes them.
fn batch(b: u64) -> Vec<Event> {
    let per_batch = per_batch();
    (0..per_batch)
        .map(|i| {
            let n = b * per_batch + i;
            Event {
                key: n.wrapping_mul(0x9e37_79b9_7f4a_7c15) % KEYS,
                ts: Time::from_millis((b * 60_000 + i * 60_000 / per_batch) as i64),
            }
        })
        .collect()
}

/// Runs the windowed count over `BATCHES` batches; returns events per second.
fn windowed(checkpoint: Option<&Path>, batches: &[Vec<Event>]) -> f64 {
    let session = session();
    let input = MemoryStream::new();
    let writer = session
        .read_stream::<Event>()
        .memory(&input)
        .with_watermark(|e| e.ts, "2 minutes")
        .group_by_window(|e| e.key, tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .foreach_batch(|batch, _| {
            std::hint::black_box(batch.count());
        });
    let writer = match checkpoint {
        Some(dir) => writer.checkpoint_location(dir),
        None => writer,
    };
    let query = writer.start().expect("the query starts");
    let started = Instant::now();
    for b in batches {
        input.add_data(b.iter().copied());
        query.process_all_available().expect("the batch runs");
    }
    let secs = started.elapsed().as_secs_f64();
    if std::env::var_os("CHECKPOINT_COST_DETAIL").is_some() {
        let progress = query.recent_progress();
        let total = |key: &str| {
            progress
                .iter()
                .map(|p| p.duration_ms.get(key).copied().unwrap_or(0))
                .sum::<u64>()
        };
        println!(
            "  loop {:.0} ms; {} batches: addBatch {} ms, stateCommit {} ms, walCommit {} ms, commitOffsets {} ms, total {} ms",
            secs * 1000.0,
            progress.len(),
            total("addBatch"),
            total("stateCommit"),
            total("walCommit"),
            total("commitOffsets"),
            total("triggerExecution")
        );
    }
    query.stop().expect("the query stops");
    (batches.len() as u64 * per_batch()) as f64 / secs
}

/// Builds 1M keys of state on a checkpoint, then measures the restart: start on the
/// checkpoint and run one one-row batch. Returns (seconds to build, seconds to restart,
/// checkpoint bytes).
fn recovery(dir: &Path) -> (f64, f64, u64) {
    let keys = 1_000_000_u64;
    let session = session();
    let input = MemoryStream::<u64>::new();
    let start = || {
        session
            .read_stream::<u64>()
            .memory(&input)
            .group_by(|k| *k)
            .count()
            .write_stream()
            .output_mode(OutputMode::Update)
            .foreach_batch(|batch, _| {
                std::hint::black_box(batch.count());
            })
            .checkpoint_location(dir)
            .start()
            .expect("the query starts")
    };
    let built = Instant::now();
    let query = start();
    for part in 0..4 {
        input.add_data(part * keys / 4..(part + 1) * keys / 4);
        query.process_all_available().expect("the batch runs");
    }
    query.stop().expect("the query stops");
    let build = built.elapsed().as_secs_f64();
    let restarted = Instant::now();
    let query = start();
    input.add_data([7]);
    query.process_all_available().expect("the batch runs");
    let restart = restarted.elapsed().as_secs_f64();
    query.stop().expect("the query stops");
    (build, restart, dir_size(dir))
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type() {
                    Ok(t) if t.is_dir() => dir_size(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    let batches: Vec<Vec<Event>> = (0..BATCHES).map(batch).collect();
    // One configuration only (to compare CPU time with `time`): `with` or `without`.
    if let Some(only) = std::env::args().nth(2) {
        for _ in 0..rounds {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let rate = windowed((only == "with").then_some(dir.path()), &batches);
            println!("{only}: {rate:.0} events/s");
        }
        return;
    }
    let (mut with, mut without) = (Vec::new(), Vec::new());
    // Alternate, so that the machine's drift affects both alike.
    for round in 0..rounds {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (a, b) = if round % 2 == 0 {
            let a = windowed(None, &batches);
            (a, windowed(Some(dir.path()), &batches))
        } else {
            let b = windowed(Some(dir.path()), &batches);
            (windowed(None, &batches), b)
        };
        without.push(a);
        with.push(b);
        println!("round {round}: without {a:.0} events/s, with a checkpoint every batch {b:.0} events/s");
    }
    let (a, b) = (median(without.clone()), median(with.clone()));
    let range = |v: &[f64]| {
        let (lo, hi) = v
            .iter()
            .fold((f64::MAX, 0.0_f64), |(lo, hi), x| (lo.min(*x), hi.max(*x)));
        format!("{lo:.0}–{hi:.0}")
    };
    println!(
        "windowed count, {KEYS} keys, {BATCHES} batches of {}: without {a:.0} events/s ({}), with checkpoint {b:.0} events/s ({}): {:.1}% slower",
        per_batch(),
        range(&without),
        range(&with),
        (1.0 - b / a) * 100.0
    );
    let mut restarts = Vec::new();
    for _ in 0..rounds.min(3) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let (build, restart, bytes) = recovery(dir.path());
        println!(
            "1M keys: built in {build:.2} s, checkpoint {:.1} MB, restart + one batch {restart:.3} s",
            bytes as f64 / 1e6
        );
        restarts.push(restart);
    }
    println!("restart with 1M keys of state: median {:.3} s", median(restarts));
}
