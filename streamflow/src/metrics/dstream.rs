//! What a DStream context reports after each batch: a [`BatchInfo`] to its metrics and
//! listeners, and that it stopped.

use std::sync::Arc;

use super::BatchInfo;
use super::report::BatchReport;
use crate::context::ContextInner;
use crate::exec::{Completed, Vocabulary};

/// What a DStream context reports per batch: a [`BatchInfo`] to its metrics and listeners.
pub(crate) struct DStreamReports {
    inner: Arc<ContextInner>,
    report: BatchReport,
}

impl DStreamReports {
    pub(crate) fn new(inner: Arc<ContextInner>) -> Self {
        let report = BatchReport::dstream(&inner.app_name);
        DStreamReports { inner, report }
    }
}

impl Vocabulary for DStreamReports {
    fn restored(&mut self, last: crate::BatchId) {
        self.inner.metrics.restored(last.time);
    }

    fn completed(&mut self, batch: &Completed<'_>) -> crate::Result<()> {
        let time = batch.plan.batch.time;
        let start = batch.trigger_time;
        let processing_time = batch.timings.total;
        let scheduling_delay = std::time::Duration::from_millis((start - time).max(0) as u64);
        let info = BatchInfo {
            batch_id: batch.plan.batch.id,
            batch_time: time,
            num_records: batch.input_rows,
            processing_start_time: start,
            processing_end_time: self.inner.clock.now(),
            scheduling_delay,
            processing_time,
            total_delay: scheduling_delay + processing_time,
            checkpoint: batch.checkpoint.enabled.then(|| batch.checkpoint_progress()),
        };
        let receivers: Vec<_> = crate::exec::lock(&self.inner.sources)
            .iter()
            .filter_map(|s| s.status())
            .collect();
        self.report.dstream_batch(&info, self.inner.batch, &receivers);
        self.inner.metrics.batch_completed(info);
        Ok(())
    }

    fn terminated(&mut self, _error: Option<&crate::Error>) {
        self.inner.metrics.stopped();
        log::info!("{}: stopped", self.inner.app_name);
    }
}
