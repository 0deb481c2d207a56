//! The crash test with Kafka in and Kafka out: `kafka_word_count` (a DStream word count per
//! batch, read from a topic of lines, written to a topic of counts) is killed with SIGKILL at
//! seeded random moments and restarted on its checkpoint each time; a reader of the output then
//! sees every count of an uninterrupted run exactly once.
//!
//! tansu 0.6 offers no transactions to librdkafka (`streamflow/tests/kafka.rs`), so the job
//! writes with commit markers (`KafkaSinkOptions::commit_markers`, `--delivery markers`) and the
//! reader applies `CommittedFilter`: of each batch, per partition, the first attempt whose
//! marker was written, once. Replays after a kill write a batch again (as Spark's Kafka sink
//! does); the filter drops them, and the attempts a kill cut short.
//!
//! ```text
//! STREAMFLOW_CRASH_SEED=7 STREAMFLOW_KAFKA_KILLS=50 cargo test -p streamflow-examples --features kafka --test kafka_crash -- --nocapture
//! ```

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

#[path = "../../streamflow/tests/support/kill.rs"]
mod kill;
#[path = "../../streamflow/tests/support/tansu.rs"]
mod tansu;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kill::{Rng, setting, wait_at_most};

const JOB: &str = env!("CARGO_BIN_EXE_kafka_word_count");
const PARTITIONS: i32 = 3;

fn spawn(args: &[String]) -> Child {
    Command::new(JOB)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {JOB}: {e}"))
}

fn run_args(broker: &str, run: &str, ck: &std::path::Path) -> Vec<String> {
    [
        "run",
        "--brokers",
        broker,
        "--input",
        "lines",
        "--output",
        &format!("counts-{run}"),
        "--checkpoint",
        &ck.join(run).to_string_lossy(),
        "--max-per-batch",
        "50",
        "--batches",
        "15",
        "--delivery",
        "markers",
    ]
    .map(String::from)
    .to_vec()
}

/// What a reader applying the commit markers sees (`CommittedFilter`): `(word, "batch,count")`s,
/// sorted; and how many records (markers, repeats of committed batches, attempts cut short by a
/// kill) it dropped.
fn committed_output(broker: &str, topic: &str) -> (Vec<(String, String)>, usize) {
    let (kept, dropped) = tansu::read_committed_by_markers(broker, topic, PARTITIONS);
    let text = |b: &Option<Vec<u8>>| String::from_utf8_lossy(b.as_deref().unwrap_or_default()).into_owned();
    let mut kept: Vec<(String, String)> = kept.iter().map(|r| (text(&r.key), text(&r.value))).collect();
    kept.sort();
    (kept, dropped)
}

#[test]
fn kafka_in_kafka_out_killed_at_random_moments_commits_every_count_exactly_once() {
    let Some(broker) = tansu::Tansu::start() else {
        return;
    };
    let addr = broker.addr.clone();
    let produced = Command::new(JOB)
        .args([
            "produce",
            "--brokers",
            &addr,
            "--topic",
            "lines",
            "--lines",
            "600",
            "--partitions",
            "3",
        ])
        .status()
        .unwrap();
    assert!(produced.success());
    let ck = tempfile::tempdir().unwrap();

    tansu::topic(&addr, "counts-whole", PARTITIONS);
    let started = Instant::now();
    let status = spawn(&run_args(&addr, "whole", ck.path())).wait().unwrap();
    assert!(status.success(), "the uninterrupted run failed: {status}");
    let span = started.elapsed();
    let (expected, dropped) = committed_output(&addr, "counts-whole");
    let raw = tansu::read_all(&addr, "counts-whole", PARTITIONS, "read_committed");
    let markers = raw
        .iter()
        .filter(|r| r.headers.contains_key("streamflow.commit"))
        .count();
    assert_eq!(
        dropped, markers,
        "an uninterrupted run leaves only its markers to drop"
    );
    let batches: std::collections::BTreeSet<&str> = expected
        .iter()
        .map(|(_, v)| v.split(',').next().unwrap())
        .collect();
    assert_eq!(batches.len(), 12, "600 lines, 50 a batch: {batches:?}");

    let kills = setting("STREAMFLOW_KAFKA_KILLS", 20);
    eprintln!("kafka crash test: {kills} kills");
    let mut rng = Rng::new(kill::seed(42));
    let (mut done, mut round, mut dropped_total) = (0, 0, 0);
    while done < kills {
        let run = format!("run{round}");
        tansu::topic(&addr, &format!("counts-{run}"), PARTITIONS);
        let args = run_args(&addr, &run, ck.path());
        loop {
            let mut child = spawn(&args);
            if done >= kills {
                let status = child.wait().unwrap();
                assert!(status.success(), "the final run failed: {status}");
                break;
            }
            let moment = Duration::from_micros(rng.below(span.as_micros() as u64));
            if let Some(status) = wait_at_most(&mut child, moment) {
                assert!(status.success(), "a run failed by itself: {status}");
                break;
            }
            child.kill().unwrap();
            child.wait().unwrap();
            done += 1;
        }
        let (got, dropped) = committed_output(&addr, &format!("counts-{run}"));
        dropped_total += dropped;
        assert_eq!(
            got.len(),
            expected.len(),
            "{run}: as many counts as the uninterrupted run"
        );
        assert_eq!(
            got, expected,
            "{run}: the committed counts differ from the uninterrupted run's"
        );
        round += 1;
        assert!(
            round < kills * 4 + 10,
            "the job keeps finishing before it can be killed"
        );
    }
    eprintln!(
        "kafka crash test: {done} SIGKILLs over {round} runs, output identical; uninterrupted run {span:?}; {dropped_total} records (markers, repeats, cut attempts) dropped by the reader's filter"
    );
}
