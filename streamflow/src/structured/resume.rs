//! [`ResumeState`]: where a query stands — what a restart on its checkpoint carries on from.

use crate::event_time::watermark::WatermarkState;

/// Where a query stands after its last batch: its id, the next batch id, each source's
/// committed offset and the watermark — what a restart on the query's checkpoint
/// ([`DataStreamWriter::checkpoint_location`](super::DataStreamWriter::checkpoint_location))
/// carries on from, as a value to look at. The checkpoint itself holds the same, durably, with
/// the state of the stateful operators.
///
/// ```
/// # use streamflow::structured::*;
/// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
/// let input = MemoryStream::<String>::new();
/// let query = session.read_stream::<String>().memory(&input).write_stream().memory("words").start()?;
/// input.add_data(["cat".to_string()]);
/// query.process_all_available()?;
/// let position = query.resume_state();
/// assert_eq!((position.next_batch_id, position.source_offsets.clone()), (1, vec![serde_json::json!(1)]));
/// query.stop()?;
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct ResumeState {
    /// The query's id, kept across restarts.
    pub id: String,
    /// The id of the next batch to run.
    pub next_batch_id: u64,
    /// Each source's committed offset, in plan order, as the checkpoint records it (a number
    /// for most sources, a map of partitions to offsets for Kafka).
    pub source_offsets: Vec<serde_json::Value>,
    /// The watermark and its inputs.
    pub watermark: WatermarkState,
}
