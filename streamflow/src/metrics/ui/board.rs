//! What the dashboard watches — contexts and queries — and the JSON the API answers with.
//!
//! The board reads the records the engine keeps anyway (a context's recent `BatchInfo`s, a
//! query's recent progress), so watching a job adds nothing to its batches.

use std::sync::{Arc, Mutex, Weak};

use serde_json::{Value, json};

use crate::StreamingContext;
use crate::context::{ContextInner, ContextState};
use crate::exec::{JobControl, lock};
use crate::metrics::BatchInfo;
use crate::metrics::query::QueryRecord;

/// How many jobs a board lists; the oldest stopped ones make room for new ones.
const MAX_JOBS: usize = 100;

enum Watched {
    Context {
        id: String,
        inner: Weak<ContextInner>,
    },
    Query {
        record: Arc<QueryRecord>,
        plan: String,
        control: Arc<JobControl>,
    },
}

impl Watched {
    fn id(&self) -> &str {
        match self {
            Watched::Context { id, .. } => id,
            Watched::Query { record, .. } => &record.id,
        }
    }

    fn is_stopped(&self) -> bool {
        match self {
            Watched::Context { inner, .. } => inner
                .upgrade()
                .is_none_or(|inner| inner.control.phase() == ContextState::Stopped),
            Watched::Query { control, .. } => control.phase() == ContextState::Stopped,
        }
    }
}

/// The jobs one dashboard shows.
#[derive(Default)]
pub(crate) struct Board {
    jobs: Mutex<Vec<Watched>>,
    contexts: Mutex<u64>,
}

impl Board {
    pub(crate) fn add_context(&self, inner: &Arc<ContextInner>) {
        let n = {
            let mut n = lock(&self.contexts);
            *n += 1;
            *n
        };
        self.add(Watched::Context {
            id: format!("context-{n}"),
            inner: Arc::downgrade(inner),
        });
    }

    pub(crate) fn add_query(&self, record: Arc<QueryRecord>, plan: String, control: Arc<JobControl>) {
        self.add(Watched::Query {
            record,
            plan,
            control,
        });
    }

    fn add(&self, job: Watched) {
        let mut jobs = lock(&self.jobs);
        // A query run again (resumed) keeps its id: the new run replaces the old.
        jobs.retain(|j| j.id() != job.id());
        if jobs.len() >= MAX_JOBS {
            if let Some(i) = jobs.iter().position(Watched::is_stopped) {
                jobs.remove(i);
            } else {
                jobs.remove(0);
            }
        }
        jobs.push(job);
    }

    /// `GET /api/jobs`.
    pub(crate) fn jobs(&self) -> Value {
        let jobs = lock(&self.jobs);
        Value::Array(jobs.iter().filter_map(summary).collect())
    }

    /// `GET /api/jobs/{id}`.
    pub(crate) fn job(&self, id: &str) -> Option<Value> {
        let jobs = lock(&self.jobs);
        let job = jobs.iter().find(|j| j.id() == id)?;
        let mut value = summary(job)?;
        let (plan, sources) = match job {
            Watched::Context { inner, .. } => {
                let ssc = StreamingContext {
                    inner: inner.upgrade()?,
                };
                let receivers = serde_json::to_value(ssc.receiver_statuses()).unwrap_or_default();
                (ssc.explain(), json!({ "receivers": receivers }))
            }
            Watched::Query {
                record,
                plan,
                control,
            } => {
                let last = record.last_progress();
                (
                    plan.clone(),
                    json!({
                        "sources": last.as_ref().map(|p| serde_json::to_value(&p.sources).unwrap_or_default()),
                        "sink": last.as_ref().map(|p| serde_json::to_value(&p.sink).unwrap_or_default()),
                        "status": serde_json::to_value(record.status()).unwrap_or_default(),
                        "exception": control.error().map(|e| e.to_string()),
                    }),
                )
            }
        };
        if let (Some(map), Value::Object(extra)) = (value.as_object_mut(), sources) {
            map.insert("stages".into(), stages(&plan));
            map.insert("plan".into(), Value::String(plan));
            map.extend(extra);
        }
        Some(value)
    }

    /// `GET /api/jobs/{id}/batches?since=N`: the batches after `since`, oldest first.
    pub(crate) fn batches(&self, id: &str, since: Option<u64>) -> Option<Value> {
        let after = |batch_id: u64| since.is_none_or(|s| batch_id > s);
        let jobs = lock(&self.jobs);
        match jobs.iter().find(|j| j.id() == id)? {
            Watched::Context { inner, .. } => {
                let inner = inner.upgrade()?;
                let interval_secs = inner.batch.to_std().as_secs_f64();
                Some(Value::Array(
                    inner
                        .metrics
                        .recent()
                        .iter()
                        .filter(|b| after(b.batch_id))
                        .map(|b| batch_info(b, interval_secs))
                        .collect(),
                ))
            }
            Watched::Query { record, .. } => Some(Value::Array(
                record
                    .recent_progress()
                    .iter()
                    .filter(|p| after(p.batch_id))
                    .filter_map(|p| serde_json::to_value(p).ok())
                    .collect(),
            )),
        }
    }

    /// `GET /api/jobs/{id}/batches/{batch}`.
    pub(crate) fn batch(&self, id: &str, batch: u64) -> Option<Value> {
        let all = self.batches(id, batch.checked_sub(1))?;
        all.as_array()?
            .iter()
            .find(|b| b.get("batchId").and_then(Value::as_u64) == Some(batch))
            .cloned()
    }
}

/// A job as listed: id, kind, name, state, batches so far, the last batch's record.
fn summary(job: &Watched) -> Option<Value> {
    Some(match job {
        Watched::Context { id, inner } => {
            let inner = inner.upgrade()?;
            let recent = inner.metrics.recent();
            let interval_secs = inner.batch.to_std().as_secs_f64();
            json!({
                "id": id,
                "kind": "context",
                "name": inner.app_name,
                "state": format!("{:?}", inner.control.phase()),
                "batchIntervalMs": inner.batch.millis(),
                "parallelism": inner.exec.parallelism(),
                "batches": recent.last().map_or(0, |b| b.batch_id + 1),
                "lastBatch": recent.last().map(|b| batch_info(b, interval_secs)),
            })
        }
        Watched::Query { record, control, .. } => {
            let last = record.last_progress();
            json!({
                "id": record.id,
                "runId": record.run_id,
                "kind": "query",
                "name": record.name.clone().unwrap_or_else(|| record.id.clone()),
                "state": format!("{:?}", control.phase()),
                "batches": last.as_ref().map_or(0, |p| p.batch_id + 1),
                "lastBatch": last.and_then(|p| serde_json::to_value(p).ok()),
            })
        }
    })
}

/// A context's batch, with durations in (fractional) milliseconds and its rates.
fn batch_info(b: &BatchInfo, interval_secs: f64) -> Value {
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1_000.0;
    let per_sec = |secs: f64| {
        if secs > 0.0 {
            b.num_records as f64 / secs
        } else {
            0.0
        }
    };
    json!({
        "batchId": b.batch_id,
        "batchTime": b.batch_time.millis(),
        "numRecords": b.num_records,
        "schedulingDelayMs": ms(b.scheduling_delay),
        "processingTimeMs": ms(b.processing_time),
        "totalDelayMs": ms(b.total_delay),
        "inputRowsPerSecond": per_sec(interval_secs),
        "processedRowsPerSecond": per_sec(b.processing_time.as_secs_f64()),
        "processingStartTime": b.processing_start_time.millis(),
        "processingEndTime": b.processing_end_time.millis(),
    })
}

/// The fused stages of an `explain()` text: `stage N: op [reads stage M] -> op -> out (output)`.
pub(crate) fn stages(plan: &str) -> Value {
    let mut stages = Vec::new();
    for line in plan.lines() {
        let Some((head, body)) = line.strip_prefix("stage ").and_then(|l| l.split_once(": ")) else {
            continue;
        };
        let Ok(id) = head.trim().parse::<u64>() else {
            continue;
        };
        let mut operators = Vec::new();
        let mut outputs = Vec::new();
        let mut reads = Vec::new();
        for op in body.split(" -> ") {
            let (name, rest) = match op.split_once(" [reads ") {
                Some((name, rest)) => (name, Some(rest.trim_end_matches(']'))),
                None => (op, None),
            };
            for read in rest.into_iter().flat_map(|r| r.split(", ")) {
                if let Some(n) = read
                    .strip_prefix("stage ")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                {
                    reads.push(n);
                }
            }
            match name.strip_suffix(" (output)") {
                Some(output) => outputs.push(output.to_string()),
                None => operators.push(name.to_string()),
            }
        }
        stages.push(json!({ "id": id, "operators": operators, "outputs": outputs, "reads": reads }));
    }
    Value::Array(stages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_read_back_from_the_explain_text() {
        let plan = "== job (batch 1000 ms, local[2]) ==\n\
                    stage 1: queue_stream\n\
                    stage 2: map [reads stage 1] -> filter -> print (output)\n\
                    stage 3: union [reads stage 1, stage 2] -> foreach_batch (output)\n";
        assert_eq!(
            stages(plan),
            json!([
                { "id": 1, "operators": ["queue_stream"], "outputs": [], "reads": [] },
                { "id": 2, "operators": ["map", "filter"], "outputs": ["print"], "reads": [1] },
                { "id": 3, "operators": ["union"], "outputs": ["foreach_batch"], "reads": [1, 2] },
            ])
        );
        assert_eq!(stages("nonsense\nstage x: y\n"), json!([]));
    }
}
