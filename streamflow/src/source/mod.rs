//! Sources: where a stream's data comes from.
//!
//! | source | method | replayable |
//! |---|---|---|
//! | TCP text, one record per line | [`socket_text_stream`](crate::StreamingContext::socket_text_stream) | no (receiver) |
//! | new files in a directory | [`text_file_stream`](crate::StreamingContext::text_file_stream) | yes |
//! | a queue of batches, for tests and demos | [`queue_stream`](crate::StreamingContext::queue_stream) | no |
//! | a user-defined [`Receiver`] | [`receiver_stream`](crate::StreamingContext::receiver_stream) | no |
//! | a deterministic generator | [`generator_stream`](crate::StreamingContext::generator_stream), [`rate_stream`](crate::StreamingContext::rate_stream) | yes |
//!
//! Receivers run on their own threads and push records into a buffer; at each batch time the
//! buffer's content becomes the batch. Pull sources (files, generators, queues) compute their
//! batch at the batch time.

mod api;
mod file;
mod generator;
mod offset;
mod queue;
mod receiver;
mod slot;
pub(crate) mod socket;

pub use api::{Source, SourceBatch, SourceContext};
pub use offset::{Offset, ReadLimit};
pub(crate) use queue::BatchLog;
pub use queue::StreamQueue;
pub use receiver::{Receiver, ReceiverContext};
pub(crate) use slot::{Limit, SourceRange, SourceRun, SourceSlot};

use crate::StreamingContext;
use crate::batch::Batch;
use crate::data::Data;
use crate::dstream::DStream;
use crate::error::Result;
use crate::graph::{NodeKind, NodeSpec};
use crate::metrics::ReceiverStatus;
use crate::time::Time;

/// The UTF-8 byte-order mark some editors put at the start of a text file.
pub(crate) const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// The lifecycle of a source, as the context drives it.
pub(crate) trait SourceControl: Send + Sync {
    /// Called by `start()`; an error here fails `start()` (e.g. a missing directory).
    fn start(&self) -> Result<()>;
    /// Called by `stop()`: stop receiving (idempotent).
    fn stop(&self);
    /// Whether data was received that no batch has taken yet (a graceful stop waits for it).
    fn has_pending(&self) -> bool;
    /// The receiver status, for receivers.
    fn status(&self) -> Option<ReceiverStatus> {
        None
    }
}

impl StreamingContext {
    /// A stream read from a user-defined [`Source`] (see its docs for an example): at each
    /// batch the source is asked for its latest offset, and the batch holds the records
    /// between the previous batch's end and that offset. The same source type works for a
    /// Structured query through
    /// [`DataStreamReader::source`](crate::structured::DataStreamReader::source).
    ///
    /// ```
    /// use streamflow::source::{ReadLimit, Source, SourceBatch};
    /// use streamflow::testing::TestContext;
    /// use streamflow::{Duration, Time};
    ///
    /// /// One record per batch: the batch's time.
    /// struct Ticks;
    /// impl Source for Ticks {
    ///     type Item = i64;
    ///     type Offset = i64;
    ///     fn name(&self) -> String { "ticks".into() }
    ///     fn initial_offset(&self) -> i64 { 0 }
    ///     fn latest_offset(&self, _: &i64, _: ReadLimit, time: Time) -> streamflow::Result<i64> {
    ///         Ok(time.millis())
    ///     }
    ///     fn get_batch(&self, _: &i64, end: &i64) -> streamflow::Result<SourceBatch<i64>> {
    ///         Ok(SourceBatch::from_vec(vec![*end]))
    ///     }
    ///     fn is_replayable(&self) -> bool { true }
    /// }
    ///
    /// let t = TestContext::new(Duration::seconds(1), 2)?;
    /// let out = t.collect(&t.context().source_stream(Ticks));
    /// t.run(2)?;
    /// assert_eq!(out.batches(), vec![vec![1_000], vec![2_000]]);
    /// # Ok::<(), streamflow::Error>(())
    /// ```
    pub fn source_stream<S: Source>(&self, source: S) -> DStream<S::Item> {
        let slot = SourceSlot::new(std::sync::Arc::new(source));
        let name = slot.name();
        if let Err(e) = self.ensure_initialized(&name) {
            self.defer_error(e.to_string());
        }
        self.inner
            .sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(slot.clone());
        let node = slot.add_node(
            &name,
            &mut self.inner.lock_graph(),
            self.inner.exec.clone(),
            self.batch_duration(),
        );
        DStream::new(self.clone(), node)
    }

    /// Adds a source node whose batch at each time is computed by `compute`.
    pub(crate) fn source<T: Data>(
        &self,
        name: String,
        compute: impl Fn(Time) -> Result<Batch<T>> + Send + Sync + 'static,
    ) -> DStream<T> {
        if let Err(e) = self.ensure_initialized(&name) {
            self.defer_error(e.to_string());
        }
        let spec = NodeSpec {
            name,
            kind: NodeKind::Source,
            parents: Vec::new(),
            slide: self.batch_duration(),
        };
        let node = self
            .inner
            .lock_graph()
            .add_node(spec, self.inner.exec.clone(), move |time| compute(time).map(Some));
        DStream::new(self.clone(), node)
    }
}
