//! `foreach_batch` and `foreach_partition`: hand each batch to user code.

use crate::batch::Batch;
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::Error;
use crate::exec::guard;
use crate::time::Time;

/// What user code in an output operation may return: `()`, or a `Result` whose error stops
/// the job and comes back from `await_termination`.
///
/// ```
/// use streamflow::OutputResult;
/// assert!(().into_result().is_ok());
/// assert_eq!(Err::<(), _>("db down").into_result(), Err("db down".to_string()));
/// ```
pub trait OutputResult {
    /// `Ok` to go on, or the error message.
    fn into_result(self) -> Result<(), String>;
}

impl OutputResult for () {
    fn into_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: std::fmt::Display> OutputResult for Result<(), E> {
    fn into_result(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

fn user_error(operator: &str, time: Time, message: String) -> Error {
    Error::UserCode {
        operator: operator.to_string(),
        time: time.millis(),
        message,
    }
}

impl<T: Data> DStream<T> {
    /// Gives every batch, with its time, to `f` on the driver thread (Spark's
    /// `foreachRDD`). Use the batch's own actions (`collect`, `foreach_partition` …) to work
    /// on the data; returning an `Err` stops the job with that error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// # use streamflow::{testing::TestContext, Duration};
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let totals = Arc::new(Mutex::new(Vec::new()));
    /// let sink = totals.clone();
    /// t.input(vec![vec![1, 2], vec![3]]).foreach_batch(move |batch, time| {
    ///     let sum: i32 = batch.collect().into_iter().sum();
    ///     sink.lock().unwrap().push((time.millis(), sum));
    /// });
    /// t.run(2)?;
    /// assert_eq!(*totals.lock().unwrap(), vec![(1000, 3), (2000, 3)]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn foreach_batch<R: OutputResult>(&self, f: impl Fn(Batch<T>, Time) -> R + Send + Sync + 'static) {
        self.output("foreach_batch", move |batch, time| {
            guard("foreach_batch", || f(batch, time))
                .into_result()
                .map_err(|message| user_error("foreach_batch", time, message))
        })
    }

    /// Gives each partition of every batch to `f`, in parallel on the worker pool — the
    /// connection-pool pattern: take one connection per partition, never one per record.
    /// The first `Err` stops the job with that error.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    /// # use streamflow::{testing::TestContext, Duration};
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let written = Arc::new(AtomicUsize::new(0));
    /// let w = written.clone();
    /// t.input(vec![vec!["a", "b", "c"]]).foreach_partition(move |records| {
    ///     // let conn = pool.get();   // once per partition
    ///     for _record in records {
    ///         w.fetch_add(1, Ordering::Relaxed); // conn.send(record)
    ///     }
    /// });
    /// t.run(1)?;
    /// assert_eq!(written.load(Ordering::Relaxed), 3);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn foreach_partition<R: OutputResult>(
        &self,
        f: impl Fn(std::vec::IntoIter<T>) -> R + Send + Sync + 'static,
    ) {
        self.output("foreach_partition", move |batch, time| {
            let exec = batch.executor().clone();
            let results = exec.run(batch.into_parts(), |part| {
                let records = part.into_vec();
                guard("foreach_partition", || f(records.into_iter())).into_result()
            });
            match results.into_iter().find_map(Result::err) {
                Some(message) => Err(user_error("foreach_partition", time, message)),
                None => Ok(()),
            }
        })
    }
}
