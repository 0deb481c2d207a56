//! Metrics through the `metrics` facade, read back from a Prometheus recorder: the figures of
//! the progress records of a running context and a running query, with stable names and labels.

#![cfg(feature = "prometheus")]
#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use streamflow::{Duration, ManualClock, StreamQueue, StreamingContext, Time};

mod common;
use common::{count_with_a_late_row, session_on};

fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap())
}

/// The sample lines of `text` for metric `name` whose labels include `labels`.
fn samples(text: &str, name: &str, labels: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(labels))
        .map(str::to_owned)
        .collect()
}

/// The value of the one sample of `name` with `labels`.
fn value(text: &str, name: &str, labels: &str) -> f64 {
    let found = samples(text, name, labels);
    assert_eq!(found.len(), 1, "{name} {labels}: {found:?}\n{text}");
    found[0].rsplit(' ').next().unwrap().parse().unwrap()
}

#[test]
fn a_dstream_context_reports_batches_rows_and_delays() {
    let handle = recorder();
    let clock = ManualClock::new(0);
    let ssc = StreamingContext::builder()
        .batch_duration(Duration::seconds(1))
        .clock(clock.clone())
        .app_name("prom-dstream")
        .build()
        .unwrap();
    let queue = StreamQueue::new();
    queue.push(vec![1, 2, 3]);
    queue.push(vec![4, 5]);
    ssc.queue_stream(queue, true, None).foreach_batch(|_, _| {});
    ssc.start().unwrap();
    for t in [1_000, 2_000, 3_000] {
        clock.advance(Duration::seconds(1)).unwrap();
        ssc.await_batch(Time::from_millis(t)).unwrap();
    }
    ssc.stop(false).unwrap();
    let text = handle.render();
    let job = r#"job="prom-dstream",vocabulary="dstream""#;
    assert_eq!(value(&text, "streamflow_batches_total", job), 3.0);
    assert_eq!(value(&text, "streamflow_input_rows_total", job), 5.0);
    assert_eq!(value(&text, "streamflow_last_batch_id", job), 2.0);
    assert_eq!(value(&text, "streamflow_input_rows_per_second", job), 0.0); // the last batch was empty
    assert_eq!(
        value(&text, "streamflow_scheduling_delay_seconds_count", job),
        3.0
    );
    assert_eq!(value(&text, "streamflow_total_delay_seconds_count", job), 3.0);
    assert_eq!(value(&text, "streamflow_batch_duration_seconds_count", job), 3.0);
    assert!(
        text.contains("# HELP streamflow_batches_total Batches completed."),
        "{text}"
    );
}

#[test]
fn a_query_reports_its_progress_record_per_operator_and_source() {
    let handle = recorder();
    let clock = ManualClock::new(0);
    let s = session_on(&clock);
    // The watermark ends at 22 minutes: the row at minute 5 is late and dropped.
    let q = count_with_a_late_row(&s, "prom-query");
    q.stop().unwrap();
    let progress = q.recent_progress();
    let text = handle.render();
    let job = r#"job="prom-query",vocabulary="query""#;
    let batches = progress.len() as f64;
    assert_eq!(value(&text, "streamflow_batches_total", job), batches);
    assert_eq!(value(&text, "streamflow_input_rows_total", job), 5.0);
    let output: u64 = progress.iter().map(|p| p.sink.num_output_rows).sum();
    assert_eq!(value(&text, "streamflow_output_rows_total", job), output as f64);
    let last = progress.last().unwrap();
    let op = &last.state_operators[0];
    let op_labels = format!(r#"{job},operator="{}""#, op.operator_name);
    assert_eq!(
        value(&text, "streamflow_state_rows", &op_labels),
        op.num_rows_total as f64
    );
    assert_eq!(
        value(&text, "streamflow_state_memory_bytes", &op_labels),
        op.memory_used_bytes as f64
    );
    assert_eq!(
        value(&text, "streamflow_late_rows_dropped_total", &op_labels),
        1.0
    );
    let source_labels = format!(r#"{job},source="{}""#, last.sources[0].description);
    assert_eq!(
        value(&text, "streamflow_source_input_rows_total", &source_labels),
        5.0
    );
    // The watermark (minutes since the epoch, in seconds), and the gap to the batch's time.
    let watermark_minutes = common::watermark_minutes(last) as f64;
    assert_eq!(
        value(&text, "streamflow_watermark_seconds", job),
        watermark_minutes * 60.0
    );
    assert_eq!(
        value(&text, "streamflow_watermark_gap_seconds", job),
        -watermark_minutes * 60.0
    ); // the clock is at 0
    let phase = format!(r#"{job},phase="addBatch""#);
    assert_eq!(
        value(&text, "streamflow_batch_phase_duration_seconds_count", &phase),
        batches
    );
}
