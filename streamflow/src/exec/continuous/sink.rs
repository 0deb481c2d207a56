//! The end of a continuous pipeline: one sink writer per task. An epoch's rows go to the
//! query's [`Sink`] as one batch with the epoch's id when the epoch commits; a `foreach`
//! writer gets each row as it comes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;

use super::{Downstream, Out, Push, Report, Wiring};
use crate::batch::Batch;
use crate::data::Data;
use crate::error::Result;
use crate::exec::{BatchId, Executor, lock};
use crate::sink::foreach_writer::ForeachWriter;
use crate::sink::{Sink, SinkContext};

/// A per-row writer (what `foreach` gives): opened per partition and epoch.
pub(crate) trait RowWriter<T>: Send {
    fn open(&mut self, partition: u64, epoch: u64) -> bool;
    fn process(&mut self, row: T);
    fn close(&mut self, error: Option<&str>);
}

impl<T, W: ForeachWriter<T>> RowWriter<T> for W {
    fn open(&mut self, partition: u64, epoch: u64) -> bool {
        ForeachWriter::open(self, partition, epoch)
    }
    fn process(&mut self, row: T) {
        ForeachWriter::process(self, row)
    }
    fn close(&mut self, error: Option<&str>) {
        ForeachWriter::close(self, error)
    }
}

/// Makes the row writer of one more sink writer.
pub(crate) type RowWriters<T> = Arc<dyn Fn() -> Box<dyn RowWriter<T>> + Send + Sync>;

/// The sink as the committer sees it.
pub(crate) trait EpochOutput: Send + Sync {
    fn name(&self) -> String;
    fn start(&self, ctx: &SinkContext) -> Result<()>;
    /// Hands the sink the rows of `epoch` (if it buffers them) and commits it.
    fn commit(&self, epoch: BatchId, exec: &Arc<Executor>) -> Result<()>;
}

/// The rows of each epoch not committed yet, per sink writer.
type EpochRows<T> = Mutex<BTreeMap<u64, Vec<Vec<T>>>>;

struct Buffered<T: Data> {
    sink: Arc<dyn Sink<T>>,
    rows: Arc<EpochRows<T>>,
}

impl<T: Data> EpochOutput for Buffered<T> {
    fn name(&self) -> String {
        self.sink.name()
    }

    fn start(&self, ctx: &SinkContext) -> Result<()> {
        self.sink.start(ctx)
    }

    fn commit(&self, epoch: BatchId, exec: &Arc<Executor>) -> Result<()> {
        let partitions = lock(&self.rows).remove(&epoch.id).unwrap_or_default();
        self.sink.add_batch(
            epoch,
            Batch::from_partitions(partitions, epoch.time, exec.clone()),
        )?;
        self.sink.commit(epoch)
    }
}

/// Buffers its task's rows of the epoch; hands them over at the marker.
struct BufferWriter<T> {
    rows: Vec<T>,
    epochs: Arc<EpochRows<T>>,
    reports: Sender<Report>,
}

impl<T: Data> Push<T> for BufferWriter<T> {
    #[inline]
    fn record(&mut self, record: T) {
        self.rows.push(record)
    }

    fn marker(&mut self, epoch: BatchId) {
        let rows = std::mem::take(&mut self.rows);
        let n = rows.len() as u64;
        lock(&self.epochs).entry(epoch.id).or_default().push(rows);
        let _ = self.reports.send(Report::SinkReady {
            epoch: epoch.id,
            rows: n,
        });
    }
}

/// Hands each row to a `foreach` writer at once.
struct ForeachPush<T> {
    writer: Box<dyn RowWriter<T>>,
    partition: u64,
    /// The epoch being written, whether `open` was called for it and what it answered.
    epoch: Option<u64>,
    opened: Option<bool>,
    rows: u64,
    reports: Sender<Report>,
    first_epoch: Arc<AtomicU64>,
}

impl<T: Data> Push<T> for ForeachPush<T> {
    #[inline]
    fn record(&mut self, record: T) {
        let open = match self.opened {
            Some(open) => open,
            None => {
                let epoch = self
                    .epoch
                    .unwrap_or_else(|| self.first_epoch.load(Ordering::Acquire));
                let open = crate::exec::guard("foreach", || self.writer.open(self.partition, epoch));
                self.opened = Some(open);
                open
            }
        };
        if open {
            self.rows += 1;
            crate::exec::guard("foreach", || self.writer.process(record));
        }
    }

    fn marker(&mut self, epoch: BatchId) {
        if self.opened.take().is_some() {
            crate::exec::guard("foreach", || self.writer.close(None));
        }
        self.epoch = Some(epoch.id + 1);
        let rows = std::mem::take(&mut self.rows);
        let _ = self.reports.send(Report::SinkReady {
            epoch: epoch.id,
            rows,
        });
    }
}

/// A writer whose epoch cannot end — its task failed (a panic upstream or in `process`) or the
/// query stopped in the middle of it — is closed with an error, as Spark (and a micro-batch
/// `foreach`) does, so that it can roll back what it wrote.
impl<T> Drop for ForeachPush<T> {
    fn drop(&mut self) {
        if self.opened == Some(true) {
            let writer = &mut self.writer;
            crate::exec::failure::call_hook("a foreach writer's close", || {
                writer.close(Some(
                    "the epoch did not complete: the query failed or was stopped",
                ))
            });
        }
    }
}

/// Nothing is left to do at an epoch's commit: the rows were written as they came.
struct Written {
    name: String,
}

impl EpochOutput for Written {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn start(&self, _ctx: &SinkContext) -> Result<()> {
        Ok(())
    }
    fn commit(&self, _epoch: BatchId, _exec: &Arc<Executor>) -> Result<()> {
        Ok(())
    }
}

/// The sink writers of a pipeline (each call of the returned downstream makes one more) and
/// the sink as the committer sees it.
pub(crate) fn writers<T: Data>(
    sink: Arc<dyn Sink<T>>,
    rows: Option<RowWriters<T>>,
    w: &Wiring<'_>,
) -> (Downstream<T>, Arc<dyn EpochOutput>) {
    let count: Arc<AtomicUsize> = w.sink_writers.clone();
    let reports = w.reports.clone();
    let first_epoch = w.first_epoch.clone();
    match rows {
        Some(make) => {
            let down: Downstream<T> = Arc::new(move || {
                let partition = count.fetch_add(1, Ordering::AcqRel) as u64;
                Box::new(ForeachPush {
                    writer: make(),
                    partition,
                    epoch: None,
                    opened: None,
                    rows: 0,
                    reports: reports.clone(),
                    first_epoch: first_epoch.clone(),
                }) as Out<T>
            });
            (down, Arc::new(Written { name: sink.name() }))
        }
        None => {
            let epochs: Arc<EpochRows<T>> = Arc::default();
            let buffers = epochs.clone();
            let down: Downstream<T> = Arc::new(move || {
                count.fetch_add(1, Ordering::AcqRel);
                Box::new(BufferWriter {
                    rows: Vec::new(),
                    epochs: buffers.clone(),
                    reports: reports.clone(),
                }) as Out<T>
            });
            (down, Arc::new(Buffered { sink, rows: epochs }))
        }
    }
}
