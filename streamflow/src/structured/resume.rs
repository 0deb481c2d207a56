//! [`ResumeState`]: what a new run of a query needs to carry on where an earlier run stopped.

use crate::event_time::watermark::WatermarkState;
use crate::state::StateSnapshot;

/// What a query needs to carry on where an earlier run stopped: its id, the next batch id, the
/// sources' committed offsets, the watermark and — taken from a stopped query — the state of its
/// stateful operators (open windows, running counts). Full checkpointing writes this to disk;
/// until then a program (or test harness) can keep it, or write it out with serde, and pass it
/// to [`DataStreamWriter::resume_from`](super::DataStreamWriter::resume_from).
///
/// The operator state is serialized with the rest: each partition of each stateful operator
/// as bytes (see [`crate::state`]), so a `ResumeState` written to JSON and read back resumes
/// with its open windows. A query must be resumed with the same pipeline and parallelism
/// (state partitions are not re-split). Resuming a stateful query from a state that has offsets
/// but no operator state (taken from a running query) is refused rather than losing the open
/// windows.
///
/// ```
/// # use streamflow::structured::*;
/// # let session = Session::builder().parallelism(1).clock(streamflow::ManualClock::new(0)).build()?;
/// let input = MemoryStream::<String>::new();
/// let counts = || session.read_stream::<String>().memory(&input).group_by(|w| w.clone()).count()
///     .write_stream().output_mode(OutputMode::Complete);
/// let first = counts().memory("first").start()?;
/// input.add_data(["cat".to_string()]);
/// first.process_all_available()?;
/// first.stop()?;
/// let saved = serde_json::to_string(&first.resume_state()).unwrap(); // e.g. to a file
///
/// let state: ResumeState = serde_json::from_str(&saved).unwrap();
/// let second = counts().memory("second").resume_from(state).start()?;
/// input.add_data(["cat".to_string()]);
/// second.process_all_available()?;
/// let rows = session.memory_table::<AggRow<String, u64>>("second")?.rows();
/// assert_eq!(rows[0].value, 2); // the count carried over
/// second.stop()?;
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResumeState {
    /// The query's id, kept across restarts.
    pub id: String,
    /// The id of the next batch to run.
    pub next_batch_id: u64,
    /// Each source's committed offset, in plan order.
    pub source_offsets: Vec<u64>,
    /// The watermark and its inputs.
    pub watermark: WatermarkState,
    /// The state of each stateful operator, in plan order (present when taken from a stopped
    /// query).
    #[serde(default)]
    pub(crate) operator_state: OperatorState,
}

/// The state of a query's stateful operators: per operator, a snapshot of each partition.
#[derive(Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub(crate) struct OperatorState(pub(crate) Vec<Vec<StateSnapshot>>);

impl std::fmt::Debug for OperatorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes: usize = self.0.iter().flatten().map(|s| s.bytes.len()).sum();
        write!(f, "OperatorState({} operators, {bytes} bytes)", self.0.len())
    }
}
