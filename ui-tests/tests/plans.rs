//! Snapshots of the plans of the example jobs: the fused stages `#[stream_job]` computes at
//! compile time (`job_plan()`) beside the stages the runtime builds (`StreamingContext::explain()`,
//! `StreamingQuery::explain()`), for the same job. A change in either fusion shows up as a
//! snapshot diff, and where each operator is one runtime node the two must cut the job into
//! the same stages (`same_stages`).
//!
//! The job bodies are copied from `examples/src/*.rs` (a bin crate, so not importable); keep
//! them in step. Review a changed snapshot with `cargo insta review`, or accept it with
//! `INSTA_UPDATE=always cargo test -p streamflow-ui-tests --test plans`; with `CI=true` insta
//! never writes and a mismatch fails.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use streamflow::prelude::*;
use streamflow::structured::{
    AggRow, CorruptRecords, Dataset, Format, MalformedPolicy, MemoryStream, Session, window,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// `examples/src/network_word_count.rs`, as written there.
#[stream_job(batch = "1s", parallelism = 2)]
fn network_word_count(ssc: &StreamingContext, host: &str, port: u16) {
    ssc.socket_text_stream(host, port)
        .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1))
        .reduce_by_key(|a, b| a + b)
        .print();
}

/// `examples/src/windowed_word_count.rs`: counts over the last 30 s every 10 s, computed
/// incrementally, words whose count fell to zero filtered out.
#[stream_job(batch = "1s", parallelism = 2)]
fn windowed_word_count(ssc: &StreamingContext, host: &str, port: u16, checkpoint: &Path) {
    ssc.checkpoint(checkpoint)?;
    ssc.socket_text_stream(host, port)
        .flat_map(|line| line.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|word| (word, 1_i64))
        .reduce_by_key_and_window_inv(
            |a, b| a + b,
            |a, b| a - b,
            "30s",
            "10s",
            Some(|(_, count): &(String, i64)| *count > 0),
        )
        .print();
}

const PRODUCTS: [&str; 5] = ["phone", "laptop", "tablet", "watch", "camera"];
const ORDERS_PER_BATCH: u64 = 7;

/// Order `i` of the built-in feed of `examples/src/running_totals.rs`.
fn order(i: u64) -> String {
    if i % 23 == 22 {
        return "camera,free".to_string();
    }
    let product = PRODUCTS[((i * 7 + i / 5) % if i < ORDERS_PER_BATCH { 5 } else { 4 }) as usize];
    let amount = 100 + (i * 37) % 900;
    format!("{product},{amount}")
}

fn parse_order(line: &str) -> Option<(String, u64)> {
    let (product, amount) = line.split_once(',')?;
    Some((product.trim().to_string(), amount.trim().parse().ok()?))
}

/// `examples/src/running_totals.rs`: sales per product, accumulated forever with
/// `update_state_by_key`, every total printed each batch.
#[stream_job(batch = "1s", parallelism = 2)]
fn running_totals(ssc: &StreamingContext, checkpoint: &Path, malformed: Arc<AtomicU64>) {
    ssc.checkpoint(checkpoint)?;
    ssc.generator_stream(ORDERS_PER_BATCH, order)
        .flat_map(move |line| {
            let parsed = parse_order(&line);
            if parsed.is_none() {
                malformed.fetch_add(1, Ordering::Relaxed);
            }
            parsed
        })
        .update_state_by_key(|amounts: Vec<u64>, total: Option<u64>| {
            Some(total.unwrap_or(0) + amounts.iter().sum::<u64>())
        })
        .print();
}

/// Both plans of one job, in one snapshot so that they are read side by side.
fn both(plan: &str, ssc: &StreamingContext) -> String {
    format!(
        "#[stream_job] plan:\n{plan}\n\nruntime explain():\n{}",
        ssc.explain()
    )
}

/// The stages of a plan as lists of operator names: `job_plan()`'s lines
/// (`stage 2: flat_map → map (reads stage 1)`) or the runtime's (`stage 2: flat_map [reads
/// stage 1] -> map`, sources with their address, outputs marked). With `outputs` false, outputs
/// are left out (a query's sink is `console` in one and `ConsoleSink` in the other).
fn stages(text: &str, outputs: bool) -> Vec<Vec<String>> {
    text.lines()
        .filter_map(|line| line.strip_prefix("stage ")?.split_once(": ").map(|(_, ops)| ops))
        .map(|ops| {
            let ops = ops.split(" (reads").next().unwrap_or(ops);
            ops.split(" -> ")
                .flat_map(|op| op.split(" → "))
                .filter(|op| outputs || !op.ends_with("(output)"))
                .map(|op| op.split([' ', '[']).next().unwrap_or(op).to_string())
                .collect()
        })
        .collect()
}

/// The macro's plan and the runtime's cut the job into the same stages.
fn same_stages(plan: &str, explain: &str, outputs: bool) {
    let mut ours = stages(plan, outputs);
    if !outputs {
        let sinks = [
            "console",
            "console_with",
            "memory",
            "foreach_batch",
            "foreach",
            "json",
            "csv",
        ];
        for stage in &mut ours {
            stage.retain(|op| !sinks.contains(&op.as_str()));
        }
    }
    assert_eq!(ours, stages(explain, outputs), "\n{plan}\n---\n{explain}");
}

#[test]
fn network_word_count_plans() -> TestResult {
    let ssc = network_word_count("127.0.0.1", 9)?;
    same_stages(network_word_count_plan(), &ssc.explain(), true);
    insta::assert_snapshot!(both(network_word_count_plan(), &ssc));
    Ok(())
}

/// Fan-out and fan-in: a source read twice, a stream read by a stateless operator and two
/// outputs, `union`, and a stateful operator whose reader starts a new pass.
#[stream_job(batch = "1s", checkpoint = "target/plans-fan-out")]
fn fan_out(ssc: &StreamingContext, port: u16) {
    let lines = ssc.socket_text_stream("localhost", port);
    let errors = lines.filter(|line| line.starts_with("ERROR"));
    let warnings = lines.filter(|line| line.starts_with("WARN"));
    let both = errors.union(&warnings).map(|line| (line, 1));
    both.print();
    both.count().print();
    both.update_state_by_key(|new: Vec<i32>, seen: Option<i32>| Some(seen.unwrap_or(0) + new.len() as i32))
        .filter(|(_, n)| *n > 1)
        .print();
}

#[test]
fn fan_out_plans() -> TestResult {
    let ssc = fan_out(9)?;
    same_stages(fan_out_plan(), &ssc.explain(), true);
    insta::assert_snapshot!(both(fan_out_plan(), &ssc));
    Ok(())
}

/// The query's plan beside its `explain()`, without the header (it has the query's random id).
fn both_query(plan: &str, explain: &str) -> String {
    let stages: Vec<&str> = explain
        .lines()
        .filter(|line| line.starts_with("stage "))
        .collect();
    format!(
        "#[stream_job] plan:\n{plan}\n\nruntime explain():\n{}",
        stages.join("\n")
    )
}

/// A word of `examples/src/event_time_word_count.rs`.
#[derive(Clone, Debug)]
struct Word {
    word: String,
    timestamp: Time,
}

/// `examples/src/event_time_word_count.rs`, as written there.
#[stream_job(output_mode = append)]
fn event_time_word_count(session: &Session, lines: &MemoryStream<Word>) {
    session
        .read_stream::<Word>()
        .memory(lines)
        .with_watermark(|w| w.timestamp, "10 minutes")
        .group_by_window(|w| w.word.clone(), window("10 minutes", "5 minutes"))
        .count()
        .write_stream()
        .console_with(20, false, std::io::stdout())
}

#[test]
fn event_time_word_count_plans() -> TestResult {
    let session = Session::builder().clock(ManualClock::new(0)).build()?;
    let query = event_time_word_count(&session, &MemoryStream::new())?;
    let explain = query.explain();
    query.stop()?;
    same_stages(event_time_word_count_plan(), &explain, false);
    insta::assert_snapshot!(both_query(event_time_word_count_plan(), &explain));
    Ok(())
}

/// An event of `examples/src/csv_events_per_user.rs`.
#[derive(Clone, Debug, serde::Deserialize)]
struct Event {
    user: String,
    action: String,
}

/// `examples/src/csv_events_per_user.rs`, as written there.
#[stream_job(output_mode = complete, trigger = available_now)]
fn events_per_user(session: &Session, dir: &Path, malformed: &mut CorruptRecords) {
    let reader = session
        .read_stream::<Event>()
        .format(Format::Csv)
        .mode(MalformedPolicy::Permissive)
        .max_files_per_trigger(2);
    *malformed = reader.corrupt_records();
    reader
        .files(dir)
        .filter(|e| !e.action.is_empty())
        .group_by(|e| e.user.clone())
        .count()
        .write_stream()
        .console()
}

#[test]
fn csv_events_per_user_plans() -> TestResult {
    let dir = TempDir::new("csv");
    std::fs::create_dir_all(&dir.0)?;
    let session = Session::builder().clock(ManualClock::new(0)).build()?;
    let query = events_per_user(&session, &dir.0, &mut CorruptRecords::default())?;
    let explain = query.explain();
    query.stop()?;
    same_stages(events_per_user_plan(), &explain, false);
    insta::assert_snapshot!(both_query(events_per_user_plan(), &explain));
    Ok(())
}

/// A checkpoint directory of the test's own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        TempDir(std::env::temp_dir().join(format!("streamflow-plans-{name}-{}", std::process::id())))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// The runtime builds `reduce_by_key_and_window_inv` from two nodes, a per-batch
/// `reduce_by_key` and the window; the plan shows the one operator written (see "The plan" in
/// the macro's docs), so the two differ by that stage here.
#[test]
fn windowed_word_count_plans() -> TestResult {
    let dir = TempDir::new("windowed");
    let ssc = windowed_word_count("127.0.0.1", 9, &dir.0)?;
    insta::assert_snapshot!(both(windowed_word_count_plan(), &ssc));
    Ok(())
}

#[test]
fn running_totals_plans() -> TestResult {
    let dir = TempDir::new("totals");
    let ssc = running_totals(&dir.0, Arc::default())?;
    same_stages(running_totals_plan(), &ssc.explain(), true);
    insta::assert_snapshot!(both(running_totals_plan(), &ssc));
    Ok(())
}

// Jobs the macro cannot see all of. What a helper builds is named in the plan ("built by
// `pairs`") and not guessed at: its rules are the runtime's, checked by `start()` before
// anything runs. Both arms of an `if`/`else` are planned (a stage after it reads one of them);
// operators called in a loop say so.

/// A helper that makes the job's stream.
fn pairs(ssc: &StreamingContext) -> DStream<(String, u64)> {
    ssc.socket_text_stream("localhost", 9).map(|word| (word, 1))
}

/// A window over a helper's stream: its slide is the helper's, so `start()` checks the window.
#[stream_job(batch = "10s")]
fn helper_window(ssc: &StreamingContext) {
    pairs(ssc)
        .reduce_by_key_and_window(|a, b| a + b, "45s", "10s")
        .print();
}

#[test]
fn a_helper_is_named_in_the_plan_and_its_window_checked_by_start() -> TestResult {
    let ssc = helper_window()?;
    let error = match ssc.start() {
        Ok(()) => panic!("a 45s window over 10s batches started"),
        Err(error) => error.to_string(),
    };
    insta::assert_snapshot!(format!(
        "#[stream_job] plan:\n{}\n\nruntime explain():\n{}\n\nstart(): {error}",
        helper_window_plan(),
        ssc.explain()
    ));
    Ok(())
}

/// A stream chosen by `if`/`else`.
#[stream_job(batch = "1s")]
fn branch(ssc: &StreamingContext, lowercase: bool) {
    let lines = ssc.socket_text_stream("localhost", 9);
    let words = if lowercase {
        lines.map(|l| l.to_lowercase())
    } else {
        lines.filter(|l| !l.is_empty())
    };
    words.map(|word| (word, 1)).reduce_by_key(|a, b| a + b).print();
}

#[test]
fn both_arms_of_a_branch_are_planned() -> TestResult {
    let (lower, plain) = (branch(true)?, branch(false)?);
    insta::assert_snapshot!(format!(
        "{}\nruntime explain(), not lowercase:\n{}",
        both(branch_plan(), &lower),
        plain.explain()
    ));
    Ok(())
}

/// Operators called in a loop, and a stream given a new value in one.
#[stream_job(batch = "1s")]
fn looped(ssc: &StreamingContext, stopwords: &[&'static str], limits: &[usize]) {
    let lines = ssc.socket_text_stream("localhost", 9);
    let mut words = lines.map(|l| l.to_lowercase());
    for stop in stopwords.iter().copied() {
        words = words.filter(move |w| w != stop);
    }
    words.count().print();
    for limit in limits.iter().copied() {
        lines.filter(move |l| l.len() > limit).print();
    }
}

#[test]
fn operators_in_a_loop_are_marked() -> TestResult {
    let ssc = looped(&["a", "the"], &[3, 10])?;
    insta::assert_snapshot!(both(looped_plan(), &ssc));
    Ok(())
}

/// A query's aggregation made by a helper: by event-time window of a watermarked dataset, but
/// the event time the watermark declared is lost by `map` (a change of type).
fn counts(
    words: &Dataset<Word>,
) -> Dataset<AggRow<String, u64>, streamflow::structured::shape::WindowAggregated> {
    words
        .with_watermark(|w| w.timestamp, "10 minutes")
        .map(|w| Word {
            word: w.word.to_lowercase(),
            ..w
        })
        .group_by_window(|w| w.word.clone(), window("10 minutes", "10 minutes"))
        .count()
}

/// Append mode on a helper's aggregation: its type says it is by event-time window of a
/// watermarked dataset (so the typed `.append()` the macro gives it compiles), `start()` that
/// its rows have no event time (what the type does not carry).
#[stream_job(output_mode = append)]
fn helper_counts(session: &Session, input: &MemoryStream<Word>) {
    let words = session.read_stream::<Word>().memory(input);
    counts(&words).write_stream().console()
}

/// A query whose writer is chosen by `if`/`else`.
#[stream_job(output_mode = update)]
fn branch_query(session: &Session, input: &MemoryStream<Word>, to_memory: bool) {
    let counts = session
        .read_stream::<Word>()
        .memory(input)
        .group_by(|w| w.word.clone())
        .count();
    if to_memory {
        counts.write_stream().memory("branch_counts")
    } else {
        counts.filter(|row| row.value > 1).write_stream().console()
    }
}

#[test]
fn a_query_helper_is_named_and_both_writers_of_a_branch_planned() -> TestResult {
    let session = Session::builder().clock(ManualClock::new(0)).build()?;
    let error = match helper_counts(&session, &MemoryStream::new()) {
        Ok(query) => {
            query.stop()?;
            panic!("an aggregation by window started without the event time of its rows")
        }
        Err(error) => error.to_string(),
    };
    let to_memory = branch_query(&session, &MemoryStream::new(), true)?;
    let explain = to_memory.explain();
    to_memory.stop()?;
    insta::assert_snapshot!(format!(
        "helper_counts plan:\n{}\nstart(): {error}\n\n{}",
        helper_counts_plan(),
        both_query(branch_query_plan(), &explain)
    ));
    Ok(())
}
