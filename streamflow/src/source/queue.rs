//! `queue_stream`: batches pushed by the program itself (Spark's `queueStream`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use super::SourceControl;
use crate::StreamingContext;
use crate::batch::Batch;
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::Result;

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
    batches: Arc<Mutex<VecDeque<Vec<T>>>>,
}

impl<T> Clone for StreamQueue<T> {
    fn clone(&self) -> Self {
        StreamQueue {
            batches: self.batches.clone(),
        }
    }
}

impl<T> Default for StreamQueue<T> {
    fn default() -> Self {
        StreamQueue {
            batches: Arc::new(Mutex::new(VecDeque::new())),
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
        self.lock().push_back(batch.into_iter().collect());
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
        self.lock().len()
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
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Vec<T>>> {
        self.batches.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Send + 'static> SourceControl for StreamQueue<T> {
    fn start(&self) -> Result<()> {
        Ok(())
    }
    fn stop(&self) {}
    fn has_pending(&self) -> bool {
        !self.is_empty()
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
        self.register_control(Arc::new(queue.clone()));
        let exec = self.inner.exec.clone();
        let parallelism = self.parallelism();
        self.source("queue_stream".into(), move |time| {
            let mut waiting = queue.lock();
            let items: Vec<T> = if waiting.is_empty() {
                default.clone().unwrap_or_default()
            } else if one_at_a_time {
                waiting.pop_front().unwrap_or_default()
            } else {
                waiting.drain(..).flatten().collect()
            };
            Ok(Batch::from_vec(items, parallelism, time, exec.clone()))
        })
    }
}
