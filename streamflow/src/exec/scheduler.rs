//! The scheduler thread: one batch per batch interval, in order.
//!
//! It waits on the context's clock for the next batch time, generates every input's batch,
//! runs every output operation (each pulls its batch through the graph, the work running on the
//! worker pool), records metrics, and lets nodes forget batches no window needs any more.
//! A failure in user code stops the job with an error naming the operator.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;

use crate::context::{ContextInner, StreamingContext};
use crate::error::{Error, Result};
use crate::exec::{OperatorPanic, panic_message, set_current_operator, tag};
use crate::graph::{ForgetOld, InputNode, OutputOp};
use crate::metrics::BatchInfo;
use crate::time::Time;

/// How often a waiting scheduler looks for a stop request even if nobody notifies it.
const POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The frozen graph the scheduler runs: taken once at start, so the graph lock is never held
/// while user code runs.
struct Plan {
    inputs: Vec<Arc<dyn InputNode>>,
    outputs: Vec<Arc<OutputOp>>,
    forgetters: Vec<Arc<dyn ForgetOld>>,
}

pub(crate) fn run(inner: Arc<ContextInner>, first: Time) {
    let plan = {
        let graph = inner.lock_graph();
        Plan {
            inputs: graph.inputs.clone(),
            outputs: graph.outputs.clone(),
            forgetters: graph.forgetters.clone(),
        }
    };
    let mut next = first;
    loop {
        let stop_requested = || inner.lock_lifecycle().stop_requested;
        inner.clock.wait_until(next, POLL, &|| stop_requested().is_some());
        if let Some(graceful) = stop_requested() {
            if graceful {
                drain(&inner, &plan, next);
            }
            break;
        }
        if inner.clock.now() < next {
            continue;
        }
        if let Err(e) = run_batch(&inner, &plan, next) {
            inner.fail(e);
            break;
        }
        next = next + inner.batch;
    }
    StreamingContext { inner }.finish_stop();
}

/// A graceful stop: stop receiving, then run batches (without waiting for the clock) until
/// every record already received has been processed.
fn drain(inner: &Arc<ContextInner>, plan: &Plan, mut next: Time) {
    let controls = inner.controls.lock().unwrap_or_else(|e| e.into_inner()).clone();
    for control in &controls {
        control.stop();
    }
    while controls.iter().any(|c| c.has_pending()) {
        if let Err(e) = run_batch(inner, plan, next) {
            inner.fail(e);
            return;
        }
        next = next + inner.batch;
    }
}

fn run_batch(inner: &ContextInner, plan: &Plan, time: Time) -> Result<()> {
    let start = inner.clock.now();
    let wall = std::time::Instant::now();
    let mut current = "source";
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| -> Result<u64> {
        let mut records = 0;
        for input in &plan.inputs {
            set_current_operator("");
            records += input.generate(time)?;
        }
        for output in &plan.outputs {
            set_current_operator("");
            current = &output.name;
            (output.run)(time)?;
        }
        Ok(records)
    }));
    let records = match outcome {
        Ok(result) => result?,
        Err(payload) => {
            // A panic on a worker comes tagged; one on this thread (in foreach_batch, say) is
            // tagged here from the operator noted last, or else blamed on the output.
            let payload = tag(payload);
            let operator = match payload.downcast_ref::<OperatorPanic>() {
                Some(p) if p.operator != "task" => p.operator.to_string(),
                _ => current.to_string(),
            };
            return Err(Error::UserCode {
                operator,
                time: time.millis(),
                message: panic_message(payload.as_ref()),
            });
        }
    };
    for node in &plan.forgetters {
        node.forget_before(time);
    }
    let processing_time = wall.elapsed();
    let scheduling_delay = std::time::Duration::from_millis((start - time).max(0) as u64);
    inner.metrics.batch_completed(BatchInfo {
        batch_time: time,
        num_records: records,
        processing_start_time: start,
        processing_end_time: inner.clock.now(),
        scheduling_delay,
        processing_time,
        total_delay: scheduling_delay + processing_time,
    });
    Ok(())
}
