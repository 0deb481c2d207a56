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

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
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

    // Every variant must produce the same counts before anything is timed.
    assert_eq!(count_words_alloc_per_word(&lines), expected);
    assert_eq!(count_words_threads(&lines, 2), expected);
    for parallelism in [1, 2] {
        for pipeline in [Pipeline::Plain, Pipeline::Words] {
            let done = EngineBatch::prepare(lines.clone(), parallelism, pipeline, true)
                .and_then(EngineBatch::run)
                .expect("the engine's word count runs");
            assert!(
                done.counts().as_ref() == Some(&expected),
                "engine ({}, parallelism {parallelism}) and baseline disagree",
                pipeline.name()
            );
        }
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

criterion_group!(benches, word_count);
criterion_main!(benches);
