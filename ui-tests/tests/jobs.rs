//! Jobs built with `#[stream_job]` behave exactly like the same jobs built by hand with the
//! runtime API: same output on the same input, batch by batch, on a manual clock.

use std::sync::{Arc, Mutex};

use streamflow::Duration;
use streamflow::prelude::*;
use streamflow::testing::{TestContext, sorted};

type Counts = Vec<(String, i32)>;
type Output = Arc<Mutex<Vec<Counts>>>;
type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Word count over a queue of lines, written for the macro.
#[stream_job(batch = "1s", parallelism = 2)]
fn word_count(ssc: &StreamingContext, queue: StreamQueue<String>, out: Output) {
    ssc.queue_stream(queue, true, None)
        .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1))
        .reduce_by_key(|a, b| a + b)
        .foreach_batch(move |batch, _time| {
            out.lock()
                .map_err(|e| e.to_string())?
                .push(sorted(&batch.collect()));
            Ok::<(), String>(())
        });
}

/// The same pipeline on a stream the caller hands in: only the `_on` form applies.
#[allow(
    dead_code,
    reason = "a stream made elsewhere cannot go to a context built here"
)]
#[stream_job(batch = "1s")]
fn count_words_of(_ssc: &StreamingContext, lines: DStream<String>, out: Output) {
    lines
        .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1))
        .reduce_by_key(|a, b| a + b)
        .foreach_batch(move |batch, _time| {
            out.lock()
                .map_err(|e| e.to_string())?
                .push(sorted(&batch.collect()));
            Ok::<(), String>(())
        });
}

fn input() -> Vec<Vec<String>> {
    let batch = |lines: &[&str]| lines.iter().map(|line| line.to_string()).collect::<Vec<_>>();
    vec![batch(&["a b", "a"]), batch(&[]), batch(&["b c c", "c"])]
}

fn queue_of(batches: Vec<Vec<String>>) -> StreamQueue<String> {
    let queue = StreamQueue::new();
    for batch in batches {
        queue.push(batch);
    }
    queue
}

/// The job built by hand, as a user without the macro would write it.
fn by_hand(t: &TestContext, out: Output) {
    t.context()
        .queue_stream(queue_of(input()), true, None)
        .flat_map(|line: String| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1))
        .reduce_by_key(|a, b| a + b)
        .foreach_batch(move |batch, _time| {
            out.lock()
                .map_err(|e| e.to_string())?
                .push(sorted(&batch.collect()));
            Ok::<(), String>(())
        });
}

fn counts(pairs: &[(&str, i32)]) -> Counts {
    pairs.iter().map(|(word, n)| (word.to_string(), *n)).collect()
}

#[test]
fn the_macro_job_and_the_hand_built_job_give_the_same_output() -> TestResult {
    let with_macro = Output::default();
    let t = TestContext::new(Duration::from_millis(1_000), 2)?;
    word_count_on(t.context(), queue_of(input()), with_macro.clone())?;
    t.run(3)?;

    let handwritten = Output::default();
    let t = TestContext::new(Duration::from_millis(1_000), 2)?;
    by_hand(&t, handwritten.clone());
    t.run(3)?;

    let with_macro = with_macro.lock().map_err(|e| e.to_string())?.clone();
    let handwritten = handwritten.lock().map_err(|e| e.to_string())?.clone();
    assert_eq!(with_macro, handwritten);
    assert_eq!(
        with_macro,
        [
            counts(&[("a", 2), ("b", 1)]),
            counts(&[]),
            counts(&[("b", 1), ("c", 3)])
        ]
    );
    Ok(())
}

#[test]
fn a_stream_handed_in_runs_through_the_on_function() -> TestResult {
    let out = Output::default();
    let t = TestContext::new(Duration::from_millis(1_000), 2)?;
    count_words_of_on(t.context(), t.input(input()), out.clone())?;
    t.run(3)?;
    let out = out.lock().map_err(|e| e.to_string())?.clone();
    assert_eq!(out[0], counts(&[("a", 2), ("b", 1)]));
    assert_eq!(
        count_words_of_plan(),
        "stage 1: lines\nstage 2: flat_map → map\nstage 3: reduce_by_key → foreach_batch"
    );
    Ok(())
}

#[test]
fn the_builder_makes_an_unstarted_context_from_the_attribute() -> TestResult {
    let ssc = word_count(StreamQueue::new(), Output::default())?;
    assert_eq!(ssc.app_name(), "word_count");
    assert_eq!(ssc.parallelism(), 2);
    assert_eq!(ssc.batch_duration(), Duration::from_millis(1_000));
    assert_eq!(ssc.state(), streamflow::ContextState::Initialized);
    assert_eq!(
        word_count_plan(),
        "stage 1: queue_stream\nstage 2: flat_map → map\nstage 3: reduce_by_key → foreach_batch"
    );
    Ok(())
}
