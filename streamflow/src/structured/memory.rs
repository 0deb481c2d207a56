//! [`MemoryStream`]: a source the program feeds itself — for tests, demos and notebooks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::plan::{RecordSource, Waker};
use super::session::lock;
use crate::data::Data;
use crate::error::Result;

static NEXT_STREAM: AtomicU64 = AtomicU64::new(0);

struct Inner<T> {
    id: u64,
    batches: Mutex<Vec<Vec<T>>>,
    wakers: Mutex<Vec<Waker>>,
}

/// Records pushed by the program (Spark's `MemoryStream[T]`). Each [`add_data`](Self::add_data)
/// appends one unit of data and moves the stream's offset by one; a query's next batch reads
/// everything added since its last batch. Clones share the stream; every query reading it keeps
/// its own offset.
///
/// ```
/// use streamflow::structured::MemoryStream;
/// let input = MemoryStream::<&'static str>::new();
/// assert_eq!(input.add_data(["a", "b"]), 1);
/// assert_eq!(input.add_data(["c"]), 2);
/// assert_eq!(input.len(), 2);
/// ```
pub struct MemoryStream<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for MemoryStream<T> {
    fn clone(&self) -> Self {
        MemoryStream {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Default for MemoryStream<T> {
    fn default() -> Self {
        MemoryStream {
            inner: Arc::new(Inner {
                id: NEXT_STREAM.fetch_add(1, Ordering::Relaxed),
                batches: Mutex::new(Vec::new()),
                wakers: Mutex::new(Vec::new()),
            }),
        }
    }
}

impl<T> MemoryStream<T> {
    /// An empty stream.
    ///
    /// ```
    /// use streamflow::structured::MemoryStream;
    /// let input = MemoryStream::<i64>::new();
    /// assert!(input.is_empty());
    /// let shared = input.clone(); // clones share the stream
    /// shared.add_data([1]);
    /// assert_eq!(input.len(), 1);
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `records`; returns the new offset. Queries waiting for data wake up.
    ///
    /// ```
    /// # use streamflow::structured::*;
    /// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
    /// let input = MemoryStream::<i64>::new();
    /// let query = session.read_stream::<i64>().memory(&input).write_stream().memory("out").start()?;
    /// assert_eq!(input.add_data([1, 2]), 1);
    /// assert_eq!(input.add_data([]), 2); // an empty unit moves the offset too
    /// query.process_all_available()?;
    /// assert_eq!(session.memory_table::<i64>("out")?.rows(), [1, 2]);
    /// query.stop()?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn add_data(&self, records: impl IntoIterator<Item = T>) -> u64 {
        let offset = {
            let mut batches = lock(&self.inner.batches);
            batches.push(records.into_iter().collect());
            batches.len() as u64
        };
        for wake in lock(&self.inner.wakers).iter() {
            wake();
        }
        offset
    }

    /// The number of `add_data` calls so far (the latest offset).
    ///
    /// ```
    /// use streamflow::structured::MemoryStream;
    /// let input = MemoryStream::<char>::new();
    /// input.add_data(['a', 'b', 'c']);
    /// input.add_data(['d']);
    /// assert_eq!(input.len(), 2); // two calls, four records
    /// ```
    pub fn len(&self) -> usize {
        lock(&self.inner.batches).len()
    }

    /// Whether nothing was added yet.
    ///
    /// ```
    /// use streamflow::structured::MemoryStream;
    /// let input = MemoryStream::<char>::new();
    /// assert!(input.is_empty());
    /// input.add_data([]);
    /// assert!(!input.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn source(&self) -> Arc<dyn RecordSource<T>>
    where
        T: Data,
    {
        Arc::new(self.clone())
    }
}

impl<T: Data> RecordSource<T> for MemoryStream<T> {
    fn description(&self) -> String {
        format!("MemoryStream[{}]", self.inner.id)
    }

    fn latest_offset(&self, _committed: u64) -> Result<u64> {
        Ok(self.len() as u64)
    }

    fn get_batch(&self, start: u64, end: u64) -> Result<Vec<T>> {
        let batches = lock(&self.inner.batches);
        let end = (end as usize).min(batches.len());
        let start = (start as usize).min(end);
        Ok(batches[start..end].iter().flatten().cloned().collect())
    }

    fn set_waker(&self, waker: Waker) {
        lock(&self.inner.wakers).push(waker);
    }
}
