//! Nexmark: the standard streaming benchmark's events — persons, auctions and bids at 1:3:46 —
//! from a built-in, seeded, deterministic generator, as a [`Source`] for either vocabulary
//! (behind the `nexmark` cargo feature).
//!
//! [`NexmarkGenerator`] computes each event from its position alone, following the reference
//! generator of Apache Beam's Nexmark suite (the one Flink's Nexmark uses): same proportions,
//! hot auctions, hot bidders and hot sellers, log-uniform prices, auction lengths, padding, and
//! out-of-order groups; with the default [`NexmarkConfig`] the values are the reference's (see
//! [`NexmarkGenerator`] for what it draws). [`NexmarkSource`] hands them out a batch at a
//! time — generated on the worker threads, one range of positions per partition — until
//! [`NexmarkConfig::events`] are out; its offset is the number of events handed out, so a
//! range is the same every time it is read (replayable, restartable).
//!
//! ```
//! use streamflow::prelude::*;
//! use streamflow::source::nexmark::{Event, NexmarkConfig, NexmarkSource};
//! use streamflow::structured::{Session, Trigger};
//!
//! let session = Session::new(2)?;
//! let config = NexmarkConfig { events: 10_000, events_per_batch: 4_000, ..NexmarkConfig::default() };
//! let query = session
//!     .read_stream::<Event>()
//!     .source(NexmarkSource::new(config))
//!     .flat_map(Event::into_bid)
//!     .filter(|bid| bid.auction % 123 == 0) // Nexmark q2
//!     .write_stream()
//!     .trigger(Trigger::available_now())
//!     .memory("q2")
//!     .start()?;
//! query.await_termination()?;
//! let rows = session.memory_table::<streamflow::source::nexmark::Bid>("q2")?.rows();
//! assert!(!rows.is_empty() && rows.iter().all(|b| b.auction % 123 == 0));
//! # Ok::<(), streamflow::Error>(())
//! ```

mod generator;
mod model;
mod random;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use generator::{NexmarkConfig, NexmarkGenerator};
pub use model::{Auction, Bid, Event, Person};

use super::{ReadLimit, Source, SourceBatch, SourceContext};
use crate::error::Result;
use crate::time::Time;

/// The Nexmark events of a [`NexmarkConfig`] as a source: `events_per_batch` per micro-batch
/// (a read limit), generated in parallel on the workers, until `events` are out.
///
/// ```
/// use streamflow::source::nexmark::{NexmarkConfig, NexmarkSource};
/// use streamflow::source::{ReadLimit, Source};
/// use streamflow::Time;
///
/// let source = NexmarkSource::new(NexmarkConfig { events: 10, events_per_batch: 4, ..Default::default() });
/// assert_eq!(source.latest_offset(&0, source.default_read_limit(), Time::from_millis(0))?, 4);
/// assert_eq!(source.latest_offset(&8, source.default_read_limit(), Time::from_millis(0))?, 10);
/// # Ok::<(), streamflow::Error>(())
/// ```
pub struct NexmarkSource {
    generator: Arc<NexmarkGenerator>,
    /// Partitions per batch: the job's parallelism, once started.
    parts: AtomicUsize,
}

impl NexmarkSource {
    /// A source of `config`'s events.
    ///
    /// ```
    /// # use streamflow::source::nexmark::{NexmarkConfig, NexmarkSource};
    /// let source = NexmarkSource::new(NexmarkConfig::default());
    /// # let _ = source;
    /// ```
    pub fn new(config: NexmarkConfig) -> Self {
        NexmarkSource {
            generator: Arc::new(NexmarkGenerator::new(config)),
            parts: AtomicUsize::new(1),
        }
    }
}

impl Source for NexmarkSource {
    type Item = Event;
    type Offset = u64;

    fn name(&self) -> String {
        let c = self.generator.config();
        format!("nexmark[events={}, seed={}]", c.events, c.seed)
    }

    fn start(&self, ctx: &SourceContext) -> Result<()> {
        self.parts.store(ctx.parallelism().max(1), Ordering::Relaxed);
        Ok(())
    }

    fn initial_offset(&self) -> u64 {
        0
    }

    fn default_read_limit(&self) -> ReadLimit {
        ReadLimit::Max(self.generator.config().events_per_batch.max(1))
    }

    fn latest_offset(&self, start: &u64, limit: ReadLimit, _batch_time: Time) -> Result<u64> {
        let left = self.generator.config().events.saturating_sub(*start);
        Ok(start + limit.cap(left))
    }

    fn get_batch(&self, start: &u64, end: &u64) -> Result<SourceBatch<Event>> {
        let mut batch = SourceBatch::empty();
        let (start, end) = (*start, (*end).min(self.generator.config().events));
        if end <= start {
            return Ok(batch);
        }
        let parts = self.parts.load(Ordering::Relaxed) as u64;
        let per_part = (end - start).div_ceil(parts);
        let mut from = start;
        while from < end {
            let to = (from + per_part).min(end);
            let generator = self.generator.clone();
            batch.push_lazy(move |emit| (from..to).for_each(|n| emit(generator.event(n))));
            from = to;
        }
        Ok(batch)
    }

    fn is_replayable(&self) -> bool {
        true
    }
}
