//! `#[stream_job]` costs nothing at run time: the same word-count job built with the macro
//! (its generated `word_count_on`, on a context with a manual clock) and built by hand with the
//! runtime API, on the same ≥ 10 MiB of Zipf text, one batch each, in the same run.
//!
//! `cargo bench -p streamflow-benches --bench macro_job`; results in `benches/RESULTS.md`.
//!
//! - `macro_job/{macro,by_hand}`: criterion, one group, both variants side by side.
//! - `MACRO_JOB_ROUNDS=n`: instead of criterion, both variants alternately, `n` rounds, with the
//!   per-round ratio — robust on a busy machine, where load changes between criterion runs.
//!
//! Before anything is timed, both variants must produce the counts of the hand-written loop.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput};
use streamflow::prelude::*;
use streamflow_benches::{Counts, ZipfText, count_words, text_bytes};

/// 10 MiB of line content (line ends not counted).
const TEXT_BYTES: usize = 10 << 20;

/// Worker threads: the bench machine has 2 cores.
const PARALLELISM: usize = 2;

/// What the job's output records: the number of distinct words of the batch, and (when
/// checking) the counts themselves.
#[derive(Clone, Default)]
struct Output {
    distinct: Arc<AtomicU64>,
    counts: Option<Arc<Mutex<Counts>>>,
}

impl Output {
    fn record(&self, batch: Batch<(String, u64)>) {
        match &self.counts {
            None => self.distinct.store(batch.count(), Ordering::Relaxed),
            Some(counts) => {
                let pairs = batch.collect();
                self.distinct.store(pairs.len() as u64, Ordering::Relaxed);
                let mut counts = counts.lock().unwrap_or_else(|e| e.into_inner());
                for (word, n) in pairs {
                    *counts.entry(word).or_insert(0) += n;
                }
            }
        }
    }
}

/// The job, written for the macro: Spark's word count, word for word.
#[stream_job(batch = "1s", parallelism = 2)]
fn word_count(ssc: &StreamingContext, queue: StreamQueue<String>, out: Output) {
    ssc.queue_stream(queue, true, None)
        .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1_u64))
        .reduce_by_key(|a, b| a + b)
        .foreach_batch(move |batch, _| out.record(batch));
}

/// The same job built by hand with the runtime API.
fn word_count_by_hand(ssc: &StreamingContext, queue: StreamQueue<String>, out: Output) {
    ssc.queue_stream(queue, true, None)
        .flat_map(|line: String| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1_u64))
        .reduce_by_key(|a, b| a + b)
        .foreach_batch(move |batch, _| out.record(batch));
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Build {
    Macro,
    ByHand,
}

impl Build {
    fn name(self) -> &'static str {
        match self {
            Build::Macro => "macro",
            Build::ByHand => "by_hand",
        }
    }
}

/// A started context whose only batch holds the lines; dropping it stops the context.
struct Prepared {
    ssc: StreamingContext,
    clock: ManualClock,
    out: Output,
}

impl Prepared {
    fn new(lines: Vec<String>, build: Build, check: bool) -> streamflow::Result<Self> {
        let clock = ManualClock::new(0);
        let ssc = StreamingContext::builder()
            .batch_duration("1 second")
            .parallelism(PARALLELISM)
            .clock(clock.clone())
            .app_name("macro-job-bench")
            .build()?;
        let queue = StreamQueue::new();
        queue.push(lines);
        let out = Output {
            distinct: Arc::default(),
            counts: check.then(Arc::default),
        };
        match build {
            Build::Macro => word_count_on(&ssc, queue, out.clone())?,
            Build::ByHand => word_count_by_hand(&ssc, queue, out.clone()),
        }
        ssc.start()?;
        Ok(Prepared { ssc, clock, out })
    }

    /// Runs the batch: moves the clock one interval and waits for the batch to finish.
    fn run(self) -> streamflow::Result<Self> {
        self.clock.advance(self.ssc.batch_duration())?;
        self.ssc.await_batch(Time::from_millis(1_000))?;
        Ok(self)
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if let Err(e) = self.ssc.stop(false) {
            eprintln!("macro_job bench: stopping the context failed: {e}");
        }
    }
}

fn check(lines: &[String], expected: &Counts) {
    for build in [Build::Macro, Build::ByHand] {
        let done = Prepared::new(lines.to_vec(), build, true)
            .and_then(Prepared::run)
            .expect("the word count runs");
        let counts = done
            .out
            .counts
            .as_ref()
            .map(|c| c.lock().expect("not poisoned").clone());
        assert!(
            counts.as_ref() == Some(expected),
            "the {} job and the hand-written loop disagree",
            build.name()
        );
        assert_eq!(done.out.distinct.load(Ordering::Relaxed), expected.len() as u64);
    }
}

fn macro_job(c: &mut Criterion) {
    let lines = ZipfText::default().lines(TEXT_BYTES);
    let bytes = text_bytes(&lines);
    let expected = count_words(&lines);
    eprintln!(
        "input: {} lines, {} words, {} distinct, {:.1} MiB; plan of the macro job:\n{}",
        lines.len(),
        expected.values().sum::<u64>(),
        expected.len(),
        bytes as f64 / (1 << 20) as f64,
        word_count_plan()
    );
    check(&lines, &expected);

    if let Some(rounds) = std::env::var("MACRO_JOB_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
    {
        interleaved(&lines, bytes, rounds);
        return;
    }

    let mut group = c.benchmark_group("macro_job");
    group
        .throughput(Throughput::Bytes(bytes))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(StdDuration::from_secs(1))
        .measurement_time(StdDuration::from_secs(4));
    for build in [Build::Macro, Build::ByHand] {
        group.bench_function(build.name(), |b| {
            b.iter_batched(
                || Prepared::new(lines.clone(), build, false).expect("the context starts"),
                |prepared| black_box(prepared.run().expect("the batch runs")),
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

/// Both variants alternately, `rounds` times; prints each one's fastest and median time and
/// the median per-round ratio `by_hand / macro` (above 1: the macro-built job is faster).
fn interleaved(lines: &[String], bytes: u64, rounds: usize) {
    let once = |build: Build| {
        let prepared = Prepared::new(lines.to_vec(), build, false).expect("the context starts");
        let start = std::time::Instant::now();
        let done = prepared.run().expect("the batch runs");
        let elapsed = start.elapsed();
        drop(done);
        elapsed
    };
    let rounds = rounds.max(1);
    let mut times = [Vec::with_capacity(rounds), Vec::with_capacity(rounds)];
    for round in 0..rounds {
        // Alternate which one goes first, so neither always runs on a warmer machine.
        let order = if round % 2 == 0 {
            [Build::Macro, Build::ByHand]
        } else {
            [Build::ByHand, Build::Macro]
        };
        for build in order {
            times[build as usize].push(once(build));
        }
    }
    let mib = bytes as f64 / (1 << 20) as f64;
    println!("{rounds} interleaved rounds, {mib:.1} MiB per batch, parallelism {PARALLELISM}");
    for build in [Build::Macro, Build::ByHand] {
        let mut sorted = times[build as usize].clone();
        sorted.sort();
        let (min, median) = (sorted[0].as_secs_f64(), sorted[sorted.len() / 2].as_secs_f64());
        println!(
            "{:8} min {:7.1} ms ({:6.1} MiB/s)  median {:7.1} ms ({:6.1} MiB/s)",
            build.name(),
            min * 1e3,
            mib / min,
            median * 1e3,
            mib / median
        );
    }
    let mut ratios: Vec<f64> = times[Build::ByHand as usize]
        .iter()
        .zip(&times[Build::Macro as usize])
        .map(|(hand, with_macro)| hand.as_secs_f64() / with_macro.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    println!(
        "by_hand / macro per round: median {:.3} (range {:.3}..{:.3})",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    macro_job(&mut criterion);
    criterion.final_summary();
}
