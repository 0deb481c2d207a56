//! [`MemoryStream`]: a source the program feeds itself — for tests, demos and notebooks.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{BatchLog, ReadLimit, Source, SourceBatch, SourceContext};
use crate::data::Data;
use crate::error::Result;
use crate::time::Time;

static NEXT_STREAM: AtomicU64 = AtomicU64::new(0);

struct Inner<T> {
    id: u64,
    log: BatchLog<T>,
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
                log: BatchLog::default(),
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
        self.inner.log.push(records.into_iter().collect())
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
        self.inner.log.len()
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
}

impl<T: Data> Source for MemoryStream<T> {
    type Item = T;
    type Offset = u64;

    fn name(&self) -> String {
        format!("MemoryStream[{}]", self.inner.id)
    }

    fn start(&self, ctx: &SourceContext) -> Result<()> {
        self.inner.log.watch(ctx);
        Ok(())
    }

    fn initial_offset(&self) -> u64 {
        0
    }

    fn latest_offset(&self, start: &u64, limit: ReadLimit, _batch_time: Time) -> Result<u64> {
        Ok(self.inner.log.latest(*start, limit))
    }

    fn get_batch(&self, start: &u64, end: &u64) -> Result<SourceBatch<T>> {
        Ok(SourceBatch::from_vec(self.inner.log.read(*start, *end)))
    }

    /// Everything added is kept (every query reading the stream has its own offset), so a
    /// batch reads the same records every time within this process.
    fn is_replayable(&self) -> bool {
        true
    }
}
