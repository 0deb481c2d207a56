//! `queue_stream`: batches pushed by the program itself (Spark's `queueStream`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{ReadLimit, Source, SourceBatch, SourceContext};
use crate::StreamingContext;
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::Result;
use crate::time::Time;

/// Batches of records pushed by the program, each one offset unit: the one implementation
/// under [`StreamQueue`] and [`MemoryStream`](crate::structured::MemoryStream).
///
/// Offset `n` means "the first `n` batches pushed". Batches before `base` were dropped (a
/// queue drops what was committed; a memory stream keeps everything, since every query
/// reading it keeps its own offset).
pub(crate) struct BatchLog<T> {
    state: Mutex<LogState<T>>,
    wakers: Mutex<Vec<SourceContext>>,
}

struct LogState<T> {
    batches: VecDeque<Vec<T>>,
    base: u64,
}

impl<T> Default for BatchLog<T> {
    fn default() -> Self {
        BatchLog {
            state: Mutex::new(LogState {
                batches: VecDeque::new(),
                base: 0,
            }),
            wakers: Mutex::new(Vec::new()),
        }
    }
}

impl<T> BatchLog<T> {
    fn lock(&self) -> MutexGuard<'_, LogState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a batch; returns the new end offset. Waiting queries wake up.
    pub(crate) fn push(&self, batch: Vec<T>) -> u64 {
        let end = {
            let mut state = self.lock();
            state.batches.push_back(batch);
            state.base + state.batches.len() as u64
        };
        for ctx in self.wakers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            ctx.wake();
        }
        end
    }

    /// Batches held (pushed and not dropped).
    pub(crate) fn len(&self) -> usize {
        self.lock().batches.len()
    }

    /// The offset after the last batch pushed.
    pub(crate) fn end(&self) -> u64 {
        let state = self.lock();
        state.base + state.batches.len() as u64
    }

    pub(crate) fn watch(&self, ctx: &SourceContext) {
        self.wakers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ctx.clone());
    }

    /// The end of the next batch starting at `start`, taking at most `limit` batches.
    pub(crate) fn latest(&self, start: u64, limit: ReadLimit) -> u64 {
        start + limit.cap(self.end().saturating_sub(start))
    }

    /// The records of batches `start..end` (those still held), in order.
    pub(crate) fn read(&self, start: u64, end: u64) -> Vec<T>
    where
        T: Clone,
    {
        let state = self.lock();
        let from = start.saturating_sub(state.base) as usize;
        let to = (end.saturating_sub(state.base) as usize).min(state.batches.len());
        state.batches.range(from.min(to)..to).flatten().cloned().collect()
    }

    /// Moves the records of batches `start..end` out (no copy), leaving those batches empty:
    /// for a queue, whose batches are read once and dropped at commit.
    pub(crate) fn take(&self, start: u64, end: u64) -> Vec<T> {
        let mut state = self.lock();
        let from = start.saturating_sub(state.base) as usize;
        let to = (end.saturating_sub(state.base) as usize).min(state.batches.len());
        let mut taken = state.batches.range_mut(from.min(to)..to).map(std::mem::take);
        match taken.next() {
            // One batch (the common case): moved as it is.
            Some(first) => taken.fold(first, |mut all, mut more| {
                all.append(&mut more);
                all
            }),
            None => Vec::new(),
        }
    }

    /// Drops the batches before `end`.
    pub(crate) fn drop_before(&self, end: u64) {
        let mut state = self.lock();
        while state.base < end && state.batches.pop_front().is_some() {
            state.base += 1;
        }
    }
}

/// A [`StreamQueue`] as the source of one `queue_stream`.
struct QueueSource<T> {
    queue: StreamQueue<T>,
    one_at_a_time: bool,
    default: Option<Vec<T>>,
}

impl<T: Data> Source for QueueSource<T> {
    type Item = T;
    type Offset = u64;

    fn name(&self) -> String {
        "queue_stream".into()
    }

    fn start(&self, ctx: &SourceContext) -> Result<()> {
        self.queue.log.watch(ctx);
        Ok(())
    }

    fn initial_offset(&self) -> u64 {
        0
    }

    fn default_read_limit(&self) -> ReadLimit {
        if self.one_at_a_time {
            ReadLimit::Max(1)
        } else {
            ReadLimit::AllAvailable
        }
    }

    fn latest_offset(&self, start: &u64, limit: ReadLimit, _batch_time: Time) -> Result<u64> {
        Ok(self.queue.log.latest(*start, limit))
    }

    fn get_batch(&self, start: &u64, end: &u64) -> Result<SourceBatch<T>> {
        if start == end {
            // Spark: the default batch when the queue is empty.
            return Ok(SourceBatch::from_vec(self.default.clone().unwrap_or_default()));
        }
        // Moved, not copied: a queue's batch is read once, then dropped at commit.
        Ok(SourceBatch::from_vec(self.queue.log.take(*start, *end)))
    }

    fn commit(&self, end: &u64) {
        self.queue.log.drop_before(*end);
    }

    /// Batches are dropped once committed, so a restarted job cannot read them again.
    fn is_replayable(&self) -> bool {
        false
    }
}

/// A queue of batches feeding a [`queue_stream`](StreamingContext::queue_stream); clones share
/// the queue, so the program can keep pushing after the stream started.
///
/// ```
/// let queue = streamflow::StreamQueue::new();
/// queue.push(vec![1, 2, 3]);
/// queue.push(Vec::new());
/// assert_eq!(queue.len(), 2);
/// ```
pub struct StreamQueue<T> {
    log: Arc<BatchLog<T>>,
}

impl<T> Clone for StreamQueue<T> {
    fn clone(&self) -> Self {
        StreamQueue {
            log: self.log.clone(),
        }
    }
}

impl<T> Default for StreamQueue<T> {
    fn default() -> Self {
        StreamQueue {
            log: Arc::new(BatchLog::default()),
        }
    }
}

impl<T> StreamQueue<T> {
    /// An empty queue.
    ///
    /// ```
    /// use streamflow::StreamQueue;
    ///
    /// let queue: StreamQueue<String> = StreamQueue::new();
    /// assert!(queue.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one batch's worth of elements at the back.
    ///
    /// ```
    /// use streamflow::{Duration, StreamQueue, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let queue = StreamQueue::new();
    /// let out = t.collect(&t.context().queue_stream(queue.clone(), true, None));
    /// t.start()?;
    /// queue.push([1, 2]); // the program keeps feeding the running stream
    /// t.advance_batches(1)?;
    /// queue.push(3..=4);
    /// t.advance_batches(1)?;
    /// assert_eq!(out.batches(), vec![vec![1, 2], vec![3, 4]]);
    /// # t.context().stop(false)?;
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn push(&self, batch: impl IntoIterator<Item = T>) {
        self.log.push(batch.into_iter().collect());
    }

    /// The number of batches waiting.
    ///
    /// ```
    /// use streamflow::{Duration, StreamQueue, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let queue = StreamQueue::new();
    /// queue.push(vec![1]);
    /// queue.push(vec![2]);
    /// assert_eq!(queue.len(), 2);
    /// t.context().queue_stream(queue.clone(), true, None).print();
    /// t.run(1)?; // one batch takes one queued batch
    /// assert_eq!(queue.len(), 1);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn len(&self) -> usize {
        self.log.len()
    }

    /// Whether no batch is waiting.
    ///
    /// ```
    /// use streamflow::{Duration, StreamQueue, testing::TestContext};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let queue = StreamQueue::new();
    /// queue.push(vec![1]);
    /// queue.push(vec![2]);
    /// let out = t.collect(&t.context().queue_stream(queue.clone(), false, None));
    /// t.run(1)?; // not one at a time: the batch takes everything queued
    /// assert!(queue.is_empty());
    /// assert_eq!(out.batches(), vec![vec![1, 2]]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.log.len() == 0
    }
}

impl StreamingContext {
    /// A stream fed from `queue` (Spark's `queueStream`): with `one_at_a_time`, each batch takes
    /// the next queued batch; otherwise each batch takes everything queued. When the queue is
    /// empty the batch is `default`, or empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use streamflow::{testing::TestContext, Duration, StreamQueue};
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let queue = StreamQueue::new();
    /// queue.push(vec![1, 2]);
    /// queue.push(vec![3]);
    /// let out = t.collect(&t.context().queue_stream(queue, true, Some(vec![0])));
    /// t.run(3)?;
    /// assert_eq!(out.batches(), vec![vec![1, 2], vec![3], vec![0]]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn queue_stream<T: Data>(
        &self,
        queue: StreamQueue<T>,
        one_at_a_time: bool,
        default: Option<Vec<T>>,
    ) -> DStream<T> {
        self.source_stream(QueueSource {
            queue,
            one_at_a_time,
            default,
        })
    }
}
