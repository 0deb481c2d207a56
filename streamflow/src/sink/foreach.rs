//! `foreach_batch` and `foreach_partition`: hand each batch to user code.

use crate::batch::Batch;
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::{Error, Failure, UserError};
use crate::exec::guard;
use crate::time::Time;

/// What user code in an output operation may return: `()`, or a `Result` whose error stops
/// the job and comes back from `await_termination`.
///
/// ```
/// use streamflow::OutputResult;
/// assert!(().into_result().is_ok());
/// let err = Err::<(), _>("db down").into_result().unwrap_err();
/// assert_eq!(err.to_string(), "db down");
/// // any `std::error::Error` (or `Box<dyn Error>`, `String` …) is kept as it is
/// let io = Err::<(), _>(std::io::Error::other("disk full")).into_result().unwrap_err();
/// assert!(io.downcast_ref::<std::io::Error>().is_some());
/// ```
pub trait OutputResult {
    /// `Ok` to go on, or the error, kept as the job's error's `source()`.
    fn into_result(self) -> Result<(), UserError>;
}

impl OutputResult for () {
    fn into_result(self) -> Result<(), UserError> {
        Ok(())
    }
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync + 'static>>> OutputResult for Result<(), E> {
    fn into_result(self) -> Result<(), UserError> {
        self.map_err(|e| UserError::from(e.into()))
    }
}

fn user_error(operator: &str, time: Time, cause: UserError) -> Error {
    Error::user_code(operator, time.millis(), Failure::Returned(cause))
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
    #[doc(alias = "foreachRDD")]
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
