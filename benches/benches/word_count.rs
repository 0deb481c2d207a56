//! Word count over ≥ 50 MiB of Zipf text: the engine (flat_map → map → reduce_by_key, one batch
//! on a manual clock) beside a strong hand-written single-threaded loop, in the same run.
//!
//! `cargo bench -p streamflow-benches --bench word_count`; results and analysis in
//! `benches/RESULTS.md`.
//!
//! Groups:
//! - `word_count`: the comparison of issue 2 — `baseline` (hand-written, 1 thread) and the engine
//!   with the plain Spark-like pipeline and with `streamflow::text::words`, at parallelism 1
//!   and 2.
//! - `word_count_parts`: reference points that explain the engine's numbers — the hand-written
//!   loop allocating a `String` per word, the hand-written loop on 2 threads, a deep clone of the
//!   input lines, and the engine running the source with no operator at all.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, SamplingMode, Throughput};
use streamflow_benches::{
    EngineBatch, Pipeline, ZipfText, count_words, count_words_alloc_per_word, count_words_threads, text_bytes,
};

/// 50 MiB of line content (line ends not counted).
const TEXT_BYTES: usize = 50 << 20;

fn word_count(c: &mut Criterion) {
    let started = std::time::Instant::now();
    let lines = ZipfText::default().lines(TEXT_BYTES);
    let bytes = text_bytes(&lines);
    let expected = count_words(&lines);
    let words: u64 = expected.values().sum();
    eprintln!(
        "input: {} lines, {words} words, {} distinct, {:.1} MiB, generated in {:.1?}",
        lines.len(),
        expected.len(),
        bytes as f64 / (1 << 20) as f64,
        started.elapsed()
    );

    // Every variant must produce the same counts before anything is timed. (Profiling runs may
    // skip this with WORD_COUNT_SKIP_CHECK=1 so that the profile holds only the measured code.)
    if std::env::var_os("WORD_COUNT_SKIP_CHECK").is_none() {
        check_all_variants(&lines, &expected);
    }

    if let Some(rounds) = std::env::var("WORD_COUNT_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
    {
        interleaved(&lines, bytes, rounds);
        return;
    }

    let mut group = c.benchmark_group("word_count");
    configure(&mut group, bytes);
    group.bench_function("baseline", |b| b.iter(|| count_words(black_box(&lines)).len()));
    for pipeline in [Pipeline::Plain, Pipeline::Words] {
        for parallelism in [1, 2] {
            bench_engine(&mut group, &lines, pipeline, parallelism);
        }
    }
    group.finish();

    let mut group = c.benchmark_group("word_count_parts");
    configure(&mut group, bytes);
    group.bench_function("baseline_alloc_per_word", |b| {
        b.iter(|| count_words_alloc_per_word(black_box(&lines)).len())
    });
    group.bench_function("baseline_2_threads", |b| {
        b.iter(|| count_words_threads(black_box(&lines), 2).len())
    });
    group.bench_function("clone_and_drop_lines", |b| {
        b.iter(|| black_box(lines.clone()).len())
    });
    bench_engine(&mut group, &lines, Pipeline::SourceOnly, 2);
    group.finish();
}

fn check_all_variants(lines: &[String], expected: &streamflow_benches::Counts) {
    assert_eq!(count_words_alloc_per_word(lines), *expected);
    assert_eq!(count_words_threads(lines, 2), *expected);
    for parallelism in [1, 2] {
        for pipeline in [Pipeline::Plain, Pipeline::Words] {
            let done = EngineBatch::prepare(lines.to_vec(), parallelism, pipeline, true)
                .and_then(EngineBatch::run)
                .expect("the engine's word count runs");
            assert!(
                done.counts().as_ref() == Some(expected),
                "engine ({}, parallelism {parallelism}) and baseline disagree",
                pipeline.name()
            );
        }
    }
}

/// `WORD_COUNT_ROUNDS=n`: instead of criterion, runs every variant once per round, `n` rounds,
/// and prints each variant's fastest and median time and the per-round ratio to the baseline.
/// Variants measured side by side in each round see the same background load, which makes
/// the ratios trustworthy on a busy machine where criterion's minutes-apart groups are not.
fn interleaved(lines: &[String], bytes: u64, rounds: usize) {
    type Variant<'a> = (String, Box<dyn Fn() -> (Duration, Duration) + 'a>);
    let timed = |f: &dyn Fn()| {
        let (start, cpu) = (std::time::Instant::now(), process_cpu_time());
        f();
        (start.elapsed(), process_cpu_time().saturating_sub(cpu))
    };
    let mut variants: Vec<Variant<'_>> = vec![
        (
            "baseline".into(),
            Box::new(move || timed(&|| drop(black_box(count_words(lines))))),
        ),
        (
            "baseline_2_threads".into(),
            Box::new(move || timed(&|| drop(black_box(count_words_threads(lines, 2))))),
        ),
        (
            "clone_and_drop_lines".into(),
            Box::new(move || timed(&|| drop(black_box(lines.to_vec())))),
        ),
    ];
    for (pipeline, parallelism) in [
        (Pipeline::Plain, 1),
        (Pipeline::Plain, 2),
        (Pipeline::Words, 1),
        (Pipeline::Words, 2),
        (Pipeline::SourceOnly, 2),
    ] {
        variants.push((
            format!("engine_{}/{parallelism}", pipeline.name()),
            Box::new(move || {
                let batch = EngineBatch::prepare(lines.to_vec(), parallelism, pipeline, false)
                    .expect("the context starts");
                let (start, cpu) = (std::time::Instant::now(), process_cpu_time());
                let done = batch.run().expect("the batch runs");
                let elapsed = (start.elapsed(), process_cpu_time().saturating_sub(cpu));
                drop(done);
                elapsed
            }),
        ));
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    let mut cpu: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    let rounds = rounds.max(1);
    for _ in 0..rounds {
        for (i, (_, run)) in variants.iter().enumerate() {
            let (wall, used) = run();
            times[i].push(wall);
            cpu[i].push(used);
        }
    }
    let mib = bytes as f64 / (1 << 20) as f64;
    println!("{rounds} interleaved rounds; MiB/s of the fastest run; ratio = baseline / variant, per round");
    for (((name, _), t), c) in variants.iter().zip(&times).zip(&cpu) {
        let mut cpu_sorted = c.clone();
        cpu_sorted.sort();
        let mut sorted = t.clone();
        sorted.sort();
        let mut ratios: Vec<f64> = t
            .iter()
            .zip(&times[0])
            .map(|(v, b)| b.as_secs_f64() / v.as_secs_f64())
            .collect();
        ratios.sort_by(f64::total_cmp);
        println!(
            "{name:28} min {:8.1} ms ({:6.1} MiB/s)  median {:8.1} ms ({:6.1} MiB/s)  ratio median {:.2} (range {:.2}..{:.2})  cpu median {:7.1} ms",
            sorted[0].as_secs_f64() * 1e3,
            mib / sorted[0].as_secs_f64(),
            sorted[sorted.len() / 2].as_secs_f64() * 1e3,
            mib / sorted[sorted.len() / 2].as_secs_f64(),
            ratios[ratios.len() / 2],
            ratios[0],
            ratios[ratios.len() - 1],
            cpu_sorted[cpu_sorted.len() / 2].as_secs_f64() * 1e3,
        );
    }
}

/// CPU time used so far by all threads of this process (user + system), from
/// `/proc/self/stat` in clock ticks of 10 ms; zero where that file does not exist.
fn process_cpu_time() -> Duration {
    let ticks = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            let fields: Vec<u64> = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse().ok())
                .collect();
            Some(fields.iter().sum::<u64>())
        })
        .unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn configure(group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>, bytes: u64) {
    group
        .throughput(Throughput::Bytes(bytes))
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
}

fn bench_engine(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    lines: &[String],
    pipeline: Pipeline,
    parallelism: usize,
) {
    group.bench_function(format!("engine_{}/{parallelism}", pipeline.name()), |b| {
        b.iter_batched(
            || {
                EngineBatch::prepare(lines.to_vec(), parallelism, pipeline, false)
                    .expect("the context starts")
            },
            |batch| batch.run().expect("the batch runs"),
            BatchSize::PerIteration,
        )
    });
}

fn main() {
    let mut criterion = Criterion::default().configure_from_args();
    word_count(&mut criterion);
    criterion.final_summary();
}
