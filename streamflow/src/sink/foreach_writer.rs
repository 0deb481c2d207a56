//! `foreach` and `foreach_batch`: hand a query's rows to user code.

use std::panic::{self, AssertUnwindSafe};

use crate::batch::Batch;
use crate::data::Data;
use crate::error::{Error, Failure, Result, UserError};
use crate::exec::{BatchId, panic_message};
use crate::sink::{OutputResult, Sink};

/// Writes rows to an external system, one partition at a time (Spark's `ForeachWriter`).
///
/// For every partition of every batch, the query clones the writer and calls
/// [`open`](Self::open) with the partition and the batch (epoch) id; if it returns true,
/// [`process`](Self::process) with each row; and in every case [`close`](Self::close), with the
/// error if processing failed. `(partition_id, epoch_id)` identifies the data, so a writer can
/// skip what it already wrote and be idempotent. Clones run in parallel on the worker pool.
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use streamflow::structured::{ForeachWriter, MemoryStream, Session};
///
/// #[derive(Clone, Default)]
/// struct Collect { seen: Arc<Mutex<Vec<i64>>> }
/// impl ForeachWriter<i64> for Collect {
///     fn open(&mut self, _partition_id: u64, _epoch_id: u64) -> bool { true }
///     fn process(&mut self, row: i64) { self.seen.lock().unwrap().push(row) }
///     fn close(&mut self, _error: Option<&str>) {}
/// }
/// let session = Session::new(2)?;
/// let input = MemoryStream::new();
/// let writer = Collect::default();
/// let query = session.read_stream::<i64>().memory(&input).write_stream().foreach(writer.clone()).start()?;
/// input.add_data([1, 2, 3]);
/// query.process_all_available()?;
/// let mut seen = writer.seen.lock().unwrap().clone();
/// seen.sort();
/// assert_eq!(seen, [1, 2, 3]);
/// query.stop()?;
/// # Ok::<(), streamflow::Error>(())
/// ```
pub trait ForeachWriter<T>: Clone + Send + Sync + 'static {
    /// Prepares to write partition `partition_id` of batch `epoch_id`; false skips it.
    fn open(&mut self, partition_id: u64, epoch_id: u64) -> bool;
    /// Writes one row.
    fn process(&mut self, row: T);
    /// Ends the partition; `error` is set when `process` failed.
    fn close(&mut self, error: Option<&str>);
}

pub(crate) struct ForeachSink<W> {
    pub(crate) writer: W,
}

impl<T: Data, W: ForeachWriter<T>> Sink<T> for ForeachSink<W> {
    fn name(&self) -> String {
        "ForeachSink".into()
    }

    fn add_batch(&self, batch: BatchId, rows: Batch<T>) -> Result<()> {
        let batch_id = batch.id;
        let (exec, time) = (rows.executor().clone(), rows.time());
        let parts: Vec<(usize, crate::batch::Part<T>)> = rows.into_parts().into_iter().enumerate().collect();
        let failures: Vec<Option<String>> = exec.run(parts, |(partition, part)| {
            let mut writer = self.writer.clone();
            let opened = panic::catch_unwind(AssertUnwindSafe(|| writer.open(partition as u64, batch_id)));
            match opened {
                Ok(true) => {}
                Ok(false) => {
                    writer.close(None);
                    return None;
                }
                Err(payload) => return Some(format!("open: {}", panic_message(payload.as_ref()))),
            }
            let outcome = panic::catch_unwind(AssertUnwindSafe(|| part.run(&mut |row| writer.process(row))));
            match outcome {
                Ok(()) => {
                    writer.close(None);
                    None
                }
                Err(payload) => {
                    let message = panic_message(payload.as_ref());
                    writer.close(Some(&message));
                    Some(message)
                }
            }
        });
        match failures.into_iter().flatten().next() {
            None => Ok(()),
            Some(message) => Err(Error::user_code(
                "foreach",
                time.millis(),
                Failure::Panic(message),
            )),
        }
    }
}

type BatchFn<T> = dyn Fn(Batch<T>, u64) -> std::result::Result<(), UserError> + Send + Sync;

pub(crate) struct ForeachBatchSink<T> {
    pub(crate) f: Box<BatchFn<T>>,
}

impl<T> ForeachBatchSink<T> {
    pub(crate) fn new<R: OutputResult>(f: impl Fn(Batch<T>, u64) -> R + Send + Sync + 'static) -> Self {
        ForeachBatchSink {
            f: Box::new(move |batch, id| f(batch, id).into_result()),
        }
    }
}

impl<T: Data> Sink<T> for ForeachBatchSink<T> {
    fn name(&self) -> String {
        "ForeachBatchSink".into()
    }

    fn add_batch(&self, batch: BatchId, rows: Batch<T>) -> Result<()> {
        let batch_id = batch.id;
        let time = rows.time();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| (self.f)(rows, batch_id)));
        let failure = match outcome {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(cause)) => Failure::Returned(cause),
            Err(payload) => Failure::Panic(panic_message(payload.as_ref())),
        };
        Err(Error::user_code("foreach_batch", time.millis(), failure))
    }
}
