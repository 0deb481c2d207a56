//! Every batch's figures through the `metrics` facade (feature `metrics`), under the names of
//! [`names`](super::names). With no recorder installed the facade drops them at the cost of a
//! load and a branch each.

use ::metrics::{
    Label, Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};

use super::names::*;
use super::progress::QueryProgress;
use super::{BatchInfo, ReceiverStatus};
use crate::time::{Duration, Time};

/// The labels every metric of one job carries.
pub(crate) struct Labels(Vec<Label>);

impl Labels {
    pub(crate) fn new(job: &str, vocabulary: &'static str) -> Self {
        Labels(vec![
            Label::new(JOB, job.to_string()),
            Label::new(VOCABULARY, vocabulary),
        ])
    }

    fn with(&self, key: &'static str, value: &str) -> Vec<Label> {
        let mut labels = self.0.clone();
        labels.push(Label::new(key, value.to_string()));
        labels
    }

    fn all(&self) -> Vec<Label> {
        self.0.clone()
    }
}

/// Gives every metric its help text and unit (once per recorder; repeating is harmless).
pub(crate) fn describe() {
    describe_counter!(BATCHES, "Batches completed.");
    describe_counter!(INPUT_ROWS, "Records read from all sources.");
    describe_counter!(OUTPUT_ROWS, "Rows handed to the sink.");
    describe_gauge!(INPUT_RATE, "Input records per second of clock time, last batch.");
    describe_gauge!(
        PROCESSING_RATE,
        "Records per second of processing time, last batch."
    );
    describe_histogram!(BATCH_DURATION, Unit::Seconds, "How long a batch ran.");
    describe_histogram!(
        PHASE_DURATION,
        Unit::Seconds,
        "How long a phase of a query batch took."
    );
    describe_histogram!(
        SCHEDULING_DELAY,
        Unit::Seconds,
        "How long a batch waited after its batch time before it ran."
    );
    describe_histogram!(
        TOTAL_DELAY,
        Unit::Seconds,
        "Scheduling delay plus processing time."
    );
    describe_gauge!(LAST_BATCH_ID, "The id of the last completed batch.");
    describe_gauge!(
        WATERMARK,
        Unit::Seconds,
        "The watermark, seconds since the Unix epoch."
    );
    describe_gauge!(
        WATERMARK_GAP,
        Unit::Seconds,
        "The batch's time minus the watermark."
    );
    describe_gauge!(STATE_ROWS, "Keys in a stateful operator's state.");
    describe_gauge!(
        STATE_MEMORY,
        Unit::Bytes,
        "Approximate memory of a stateful operator's state."
    );
    describe_counter!(STATE_ROWS_UPDATED, "State rows created or changed.");
    describe_counter!(STATE_ROWS_REMOVED, "State rows dropped by the watermark.");
    describe_counter!(
        LATE_ROWS_DROPPED,
        "Input rows too late for the watermark, dropped."
    );
    describe_counter!(SOURCE_INPUT_ROWS, "Records read from one source.");
    describe_counter!(
        SOURCE_MALFORMED_ROWS,
        "Malformed or undecodable records met by one source."
    );
    describe_gauge!(RECEIVER_ACTIVE, "1 while a receiver is connected.");
    describe_gauge!(RECEIVER_RECORDS, "Records a receiver stored so far.");
    describe_gauge!(RECEIVER_ERRORS, "Errors a receiver met so far.");
}

/// A DStream batch's figures.
pub(crate) fn dstream_batch(
    labels: &Labels,
    info: &BatchInfo,
    interval: Duration,
    receivers: &[ReceiverStatus],
) {
    counter!(BATCHES, labels.all()).increment(1);
    counter!(INPUT_ROWS, labels.all()).increment(info.num_records);
    gauge!(LAST_BATCH_ID, labels.all()).set(info.batch_id as f64);
    let interval_secs = interval.to_std().as_secs_f64();
    if interval_secs > 0.0 {
        gauge!(INPUT_RATE, labels.all()).set(info.num_records as f64 / interval_secs);
    }
    let processing = info.processing_time.as_secs_f64();
    gauge!(PROCESSING_RATE, labels.all()).set(if processing > 0.0 {
        info.num_records as f64 / processing
    } else {
        0.0
    });
    histogram!(BATCH_DURATION, labels.all()).record(processing);
    histogram!(SCHEDULING_DELAY, labels.all()).record(info.scheduling_delay.as_secs_f64());
    histogram!(TOTAL_DELAY, labels.all()).record(info.total_delay.as_secs_f64());
    for r in receivers {
        gauge!(RECEIVER_ACTIVE, labels.with(SOURCE, &r.name)).set(if r.active { 1.0 } else { 0.0 });
        gauge!(RECEIVER_RECORDS, labels.with(SOURCE, &r.name)).set(r.records as f64);
        gauge!(RECEIVER_ERRORS, labels.with(SOURCE, &r.name)).set(r.errors as f64);
    }
}

/// A query batch's figures: its progress record, with the batch's time and watermark.
pub(crate) fn query_batch(labels: &Labels, p: &QueryProgress, trigger_time: Time, watermark: Option<Time>) {
    counter!(BATCHES, labels.all()).increment(1);
    counter!(INPUT_ROWS, labels.all()).increment(p.num_input_rows);
    counter!(OUTPUT_ROWS, labels.all()).increment(p.sink.num_output_rows);
    gauge!(LAST_BATCH_ID, labels.all()).set(p.batch_id as f64);
    gauge!(INPUT_RATE, labels.all()).set(p.input_rows_per_second);
    gauge!(PROCESSING_RATE, labels.all()).set(p.processed_rows_per_second);
    let secs = |ms: u64| ms as f64 / 1_000.0;
    if let Some(total) = p.duration_ms.get("triggerExecution") {
        histogram!(BATCH_DURATION, labels.all()).record(secs(*total));
    }
    for (phase, ms) in p
        .duration_ms
        .iter()
        .filter(|(k, _)| k.as_str() != "triggerExecution")
    {
        histogram!(PHASE_DURATION, labels.with(PHASE, phase)).record(secs(*ms));
    }
    if let Some(w) = watermark {
        gauge!(WATERMARK, labels.all()).set(w.millis() as f64 / 1_000.0);
        gauge!(WATERMARK_GAP, labels.all()).set((trigger_time.millis() - w.millis()) as f64 / 1_000.0);
    }
    for op in &p.state_operators {
        let op_labels = || labels.with(OPERATOR, &op.operator_name);
        gauge!(STATE_ROWS, op_labels()).set(op.num_rows_total as f64);
        gauge!(STATE_MEMORY, op_labels()).set(op.memory_used_bytes as f64);
        counter!(STATE_ROWS_UPDATED, op_labels()).increment(op.num_rows_updated);
        counter!(STATE_ROWS_REMOVED, op_labels()).increment(op.num_rows_removed);
        counter!(LATE_ROWS_DROPPED, op_labels()).increment(op.num_rows_dropped_by_watermark);
    }
    for source in &p.sources {
        let source_labels = || labels.with(SOURCE, &source.description);
        counter!(SOURCE_INPUT_ROWS, source_labels()).increment(source.num_input_rows);
        counter!(SOURCE_MALFORMED_ROWS, source_labels()).increment(source.num_malformed_rows);
    }
}
