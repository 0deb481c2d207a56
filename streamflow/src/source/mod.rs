//! Sources: where a stream's data comes from, in both vocabularies.
//!
//! Every source is a [`Source`]: a position that is a serializable [`Offset`], the end of the
//! data available for a batch ([`latest_offset`](Source::latest_offset)), the records of a range
//! ([`get_batch`](Source::get_batch)), and a commit. One implementation per mechanism serves
//! both vocabularies:
//!
//! | mechanism | offset | DStream | Structured | replayable |
//! |---|---|---|---|---|
//! | files of a directory (`file.rs`) | files taken, from a log of files in the order found | [`text_file_stream`](crate::StreamingContext::text_file_stream) | [`files`](crate::structured::DataStreamReader::files) | yes |
//! | rows computed from their index (`generator.rs`, with the rate source's `RateRow`) | rows due by the batch time | [`generator_stream`](crate::StreamingContext::generator_stream), [`rate_stream`](crate::StreamingContext::rate_stream) | [`rate`](crate::structured::DataStreamReader::rate) | yes |
//! | batches pushed by the program (`queue.rs`: `StreamQueue` and the `BatchLog` it shares with `memory.rs`: `MemoryStream`) | batches pushed | [`queue_stream`](crate::StreamingContext::queue_stream) | [`memory`](crate::structured::DataStreamReader::memory) | queue: no; memory: yes |
//! | a [`Receiver`] on its own threads (`receiver.rs`) | blocks of stored records | [`receiver_stream`](crate::StreamingContext::receiver_stream), [`receiver_stream_with_write_ahead_log`](crate::StreamingContext::receiver_stream_with_write_ahead_log) | — | with a write-ahead log and a checkpoint |
//! | lines of a TCP server, a receiver (`socket.rs`) | blocks of received lines | [`socket_text_stream`](crate::StreamingContext::socket_text_stream) | [`socket`](crate::structured::DataStreamReader::socket) | with a checkpoint (write-ahead log) |
//! | Kafka topics (`kafka/`, feature `kafka`) | the next offset per partition | `kafka_direct_stream` | `kafka` | yes |
//! | your own [`Source`] | yours | [`source_stream`](crate::StreamingContext::source_stream) | [`source`](crate::structured::DataStreamReader::source) | yours |
//!
//! Text becomes records the same way for files and sockets (`format.rs`: plain lines, JSON
//! lines, CSV, and the malformed policy).
//!
//! With a checkpoint, each source keeps what a restart needs to replay its batches in its own
//! directory of it ([`SourceContext::metadata_path`]): the file source its log of files taken,
//! the generator its start time, a receiver that logs its write-ahead log of blocks
//! (`wal.rs`).

mod api;
mod csv_fields;
mod file;
pub(crate) mod format;
pub(crate) mod generator;
mod lines;
pub(crate) mod memory;
#[cfg(feature = "nexmark")]
pub mod nexmark;
mod offset;
mod queue;
pub(crate) mod rate_control;
mod receiver;
mod slot;
mod socket;
mod wal;

pub use api::{Source, SourceBatch, SourceContext};
pub(crate) use file::FileSource;
pub(crate) use generator::{GeneratorSource, Pace, due_time};
pub use offset::{Offset, ReadLimit};
pub(crate) use queue::BatchLog;
pub use queue::StreamQueue;
pub use rate_control::{BatchStats, PidRateEstimator, SourceLimits};
pub(crate) use receiver::ReceiverSource;
pub use receiver::{Receiver, ReceiverContext};
pub(crate) use slot::{Limit, SourceRange, SourceRun, SourceSlot};
pub(crate) use socket::socket_source;

use crate::StreamingContext;
use crate::dstream::DStream;

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
        let slot = SourceSlot::with_rate_limits(
            std::sync::Arc::new(source),
            self.source_limits(),
            self.batch_duration(),
        );
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
}

/// Reading a [`SourceBatch`] by hand, for the sources' unit tests.
#[cfg(test)]
pub(crate) mod testing {
    use super::SourceBatch;
    use crate::error::Error;
    use crate::exec::TaskError;

    /// Every record of `batch`, partitions in order.
    pub(crate) fn read_all<T>(batch: SourceBatch<T>) -> Vec<T> {
        let SourceBatch { items, parts } = batch;
        let mut out: Vec<T> = parts.into_iter().flat_map(|p| p.into_vec()).collect();
        out.extend(items);
        out
    }

    /// The names in the directory `dir`, sorted.
    pub(crate) fn dir_names(dir: &std::path::Path) -> std::io::Result<Vec<String>> {
        let mut names = std::fs::read_dir(dir)?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<std::io::Result<Vec<_>>>()?;
        names.sort();
        Ok(names)
    }

    /// The error with which reading `batch` fails the task that reads it.
    pub(crate) fn read_failure<T>(batch: SourceBatch<T>) -> Error {
        let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| read_all(batch)))
            .err()
            .expect("reading the batch should fail");
        match payload.downcast::<TaskError>() {
            Ok(raised) => raised.0,
            Err(_) => panic!("the batch failed with a panic, not an error"),
        }
    }
}
