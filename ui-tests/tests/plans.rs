//! Snapshots of the plans of the example jobs: the fused stages `#[stream_job]` computes at
//! compile time (`job_plan()`) beside the stages the runtime builds (`StreamingContext::explain()`),
//! for the same job. A change in either fusion shows up as a snapshot diff.
//!
//! The job bodies are copied from `examples/src/*.rs` (a bin crate, so not importable); keep
//! them in step. Review a changed snapshot with `cargo insta review`, or accept it with
//! `INSTA_UPDATE=always cargo test -p streamflow-ui-tests --test plans`; with `CI=true` insta
//! never writes and a mismatch fails.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use streamflow::prelude::*;

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

#[test]
fn network_word_count_plans() -> TestResult {
    let ssc = network_word_count("127.0.0.1", 9)?;
    insta::assert_snapshot!(both(network_word_count_plan(), &ssc));
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
    insta::assert_snapshot!(both(running_totals_plan(), &ssc));
    Ok(())
}
