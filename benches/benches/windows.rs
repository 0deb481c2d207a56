//! `reduce_by_key_and_window` over 100k distinct keys with a window of 30 batches: the plain
//! form (each window merges the 30 per-batch results again) against the incremental form
//! (previous window + entering batch − leaving batch), in the same run, and a per-batch
//! `reduce_by_key` without a window as the floor both pay.
//!
//! Each measured iteration is one batch of a running job in its steady state (window full):
//! the input batch is queued outside the timing, then the manual clock moves one batch and the
//! iteration ends when the batch has run. The output action counts the window's keys.
//!
//! ```text
//! cargo bench -p streamflow-benches --bench windows
//! ```

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use criterion::{Criterion, SamplingMode};
use streamflow::testing::TestContext;
use streamflow::{DStream, Duration, StreamQueue};

/// Distinct keys, and records per batch.
const KEYS: u64 = 100_000;
/// Window length in batches (of one second).
const WINDOW_BATCHES: u64 = 30;

/// Batch `k`: every key once, in a different order each batch, with a value depending on `k`.
fn batch(k: u64) -> Vec<(u64, u64)> {
    // 7_919 is prime and does not divide KEYS, so i ↦ i·7919 + k mod KEYS is a permutation.
    (0..KEYS)
        .map(|i| ((i * 7_919 + k * 104_729) % KEYS, 1 + (i + k) % 7))
        .collect()
}

/// A job running one of the pipelines, warmed up until its window is full.
struct Job {
    t: TestContext,
    queue: StreamQueue<(u64, u64)>,
    next: u64,
    checkpoint: PathBuf,
}

impl Job {
    fn start(name: &str, pipeline: impl FnOnce(DStream<(u64, u64)>) -> DStream<(u64, u64)>) -> Job {
        let t = TestContext::new(Duration::seconds(1), 2).expect("context");
        let checkpoint = std::env::temp_dir().join(format!("streamflow-bench-{name}-{}", std::process::id()));
        t.context().checkpoint(&checkpoint).expect("checkpoint dir");
        let queue = StreamQueue::new();
        pipeline(t.context().queue_stream(queue.clone(), true, None)).foreach_batch(|batch, _| {
            black_box(batch.count());
        });
        t.start().expect("start");
        let mut job = Job {
            t,
            queue,
            next: 1,
            checkpoint,
        };
        for _ in 0..WINDOW_BATCHES {
            job.step();
        }
        job
    }

    /// Runs one batch; returns how long the engine took.
    fn step(&mut self) -> std::time::Duration {
        self.queue.push(batch(self.next));
        self.next += 1;
        let start = Instant::now();
        self.t.advance_batches(1).expect("batch");
        start.elapsed()
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        let _ = self.t.context().stop(false);
        let _ = std::fs::remove_dir_all(&self.checkpoint);
    }
}

fn windows(c: &mut Criterion) {
    let window = Duration::seconds(WINDOW_BATCHES);
    let slide = Duration::seconds(1);
    let mut group = c.benchmark_group("reduce_by_key_and_window/100k_keys/30_batches");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(std::time::Duration::from_secs(1));
    group.measurement_time(std::time::Duration::from_secs(8));

    type Pipeline = fn(DStream<(u64, u64)>, Duration, Duration) -> DStream<(u64, u64)>;
    let pipelines: [(&str, Pipeline); 3] = [
        ("per_batch_reduce_by_key_no_window", |s, _, _| {
            s.reduce_by_key(|a, b| a + b)
        }),
        ("incremental", |s, len, slide| {
            s.reduce_by_key_and_window_inv(|a, b| a + b, |a, b| a - b, len, slide, None)
        }),
        ("plain", |s, len, slide| {
            s.reduce_by_key_and_window(|a, b| a + b, len, slide)
        }),
    ];
    for (name, pipeline) in pipelines {
        let mut job = Job::start(name, |s| pipeline(s, window, slide));
        group.bench_function(name, |b| {
            b.iter_custom(|iters| (0..iters).map(|_| job.step()).sum())
        });
    }
    group.finish();
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    windows(&mut criterion);
    criterion.final_summary();
}
