//! Event-time tumbling-window count: one micro-batch of 1M events through a Structured
//! Streaming query (`with_watermark` → `group_by_window(key, 10 minutes)` → `count`, Update
//! mode), with 1k, 100k and 1M distinct keys, beside a hand-written single-threaded loop doing
//! the same windowed count. Throughput is in events per second.
//!
//! `cargo bench -p streamflow-benches --bench event_time`; results in `benches/RESULTS.md`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BatchSize, Criterion, Throughput};
use hashbrown::HashMap;
use streamflow::structured::{MemoryStream, OutputMode, Session, StreamingQuery, tumbling_window};
use streamflow::{ManualClock, Time};

const EVENTS: u64 = 1_000_000;
const WINDOW_MS: i64 = 600_000;

#[derive(Clone, Copy, Debug)]
struct Event {
    key: u64,
    ts: Time,
}

/// `EVENTS` events over `keys` keys, spread over 20 minutes (two or three windows).
fn events(keys: u64) -> Vec<Event> {
    (0..EVENTS)
        .map(|i| Event {
            key: i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % keys,
            ts: Time::from_millis((i * 1_200_000 / EVENTS) as i64),
        })
        .collect()
}

/// The hand-written baseline: one thread, one hash map of `(window start, key)`.
fn baseline(events: &[Event]) -> usize {
    let mut counts: HashMap<(i64, u64), u64, foldhash::fast::RandomState> = HashMap::default();
    for e in events {
        let start = e.ts.millis() - e.ts.millis().rem_euclid(WINDOW_MS);
        *counts.entry((start, e.key)).or_insert(0) += 1;
    }
    counts.len()
}

/// A fresh query (fresh state) with the batch already queued; returns it and its row counter.
fn prepare(parallelism: usize, batch: &[Event]) -> (StreamingQuery, Arc<AtomicU64>) {
    let session = Session::builder()
        .parallelism(parallelism)
        .clock(ManualClock::new(0))
        .build()
        .expect("a session starts");
    let input = MemoryStream::new();
    let rows = Arc::new(AtomicU64::new(0));
    let seen = rows.clone();
    let query = session
        .read_stream::<Event>()
        .memory(&input)
        .with_watermark(|e| e.ts, "10 minutes")
        .group_by_window(|e| e.key, tumbling_window("10 minutes"))
        .count()
        .write_stream()
        .output_mode(OutputMode::Update)
        .foreach_batch(move |batch, _| {
            seen.fetch_add(batch.count(), Ordering::Relaxed);
        })
        .start()
        .expect("the query starts");
    input.add_data(batch.iter().copied());
    (query, rows)
}

fn run(query: StreamingQuery, rows: Arc<AtomicU64>) -> u64 {
    query.process_all_available().expect("the batch runs");
    query.stop().expect("the query stops");
    rows.load(Ordering::Relaxed)
}

fn event_time(c: &mut Criterion) {
    let mut group = c.benchmark_group("event_time_window_count");
    group.sample_size(10);
    group.measurement_time(std::time::Duration::from_secs(8));
    group.throughput(Throughput::Elements(EVENTS));
    for keys in [1_000_u64, 100_000, 1_000_000] {
        let batch = events(keys);
        let expected = baseline(&batch) as u64;
        for parallelism in [1, 2] {
            let (q, rows) = prepare(parallelism, &batch);
            assert_eq!(
                run(q, rows),
                expected,
                "engine and baseline disagree ({keys} keys)"
            );
        }
        group.bench_function(format!("baseline/{keys}_keys"), |b| {
            b.iter(|| baseline(black_box(&batch)))
        });
        for parallelism in [1, 2] {
            group.bench_function(format!("engine_p{parallelism}/{keys}_keys"), |b| {
                b.iter_batched(
                    || prepare(parallelism, &batch),
                    |(q, rows)| run(q, rows),
                    BatchSize::PerIteration,
                )
            });
        }
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    event_time(&mut criterion);
    criterion.final_summary();
}
