//! Output modes and Spark's rules for which modes a query may use, checked before it runs.

use super::dataset::Logical;
use crate::event_time::rules::{self, Aggregation, Mode};

/// What a query writes to its sink at each batch (Spark's `OutputMode`).
///
/// | query | Append | Update | Complete |
/// |---|---|---|---|
/// | no aggregation | yes | yes | no |
/// | aggregation without an event-time window and watermark | no | yes | yes |
/// | aggregation by event-time window (or by the event time itself, `group_by_event_time`) with a watermark | yes | yes | yes |
/// | deduplication (`drop_duplicates` …) without aggregation | yes | yes | no |
///
/// A query that breaks these rules is rejected by `start()` with an error naming the operator
/// and the mode.
///
/// ```
/// use streamflow::structured::OutputMode;
/// assert_eq!("update".parse::<OutputMode>()?, OutputMode::Update);
/// assert!("upsert".parse::<OutputMode>().is_err());
/// # Ok::<(), streamflow::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum OutputMode {
    /// Only new rows, each emitted once when it is final: for a windowed aggregation, a
    /// window when the watermark passes its end. The default.
    #[default]
    Append,
    /// The rows that changed in this batch.
    Update,
    /// The whole result table, every batch.
    Complete,
}

impl std::fmt::Display for OutputMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Mode::from(*self).name())
    }
}

impl std::str::FromStr for OutputMode {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        Mode::parse(s.trim()).map(OutputMode::from).ok_or_else(|| {
            crate::Error::InvalidConfig(format!(
                "unknown output mode \"{s}\": use append, update or complete"
            ))
        })
    }
}

impl From<Mode> for OutputMode {
    fn from(mode: Mode) -> Self {
        match mode {
            Mode::Append => OutputMode::Append,
            Mode::Update => OutputMode::Update,
            Mode::Complete => OutputMode::Complete,
        }
    }
}

impl From<OutputMode> for Mode {
    fn from(mode: OutputMode) -> Self {
        match mode {
            OutputMode::Append => Mode::Append,
            OutputMode::Update => Mode::Update,
            OutputMode::Complete => Mode::Complete,
        }
    }
}

/// How the runtime's messages tell a user to choose `mode`.
fn spell(mode: Mode) -> String {
    format!("`.output_mode(OutputMode::{})`", mode.name())
}

/// Every reason why `logical` may not run in `mode` into the sink `sink` (named as the writer
/// method that chose it) that allows `sink_modes` (`None`: every mode). The rules and their
/// words are shared with `#[stream_job]` (`event_time/rules.rs`).
pub(crate) fn check(
    logical: &Logical,
    mode: OutputMode,
    sink: &str,
    sink_modes: Option<&[OutputMode]>,
) -> Vec<String> {
    let aggregations: Vec<Aggregation> = logical
        .aggregations
        .iter()
        .map(|agg| Aggregation {
            operator: agg.operator.clone(),
            event_time_window: agg.event_time_window,
            watermarked: agg.watermarked,
        })
        .collect();
    let mut problems = rules::check_aggregations(&logical.ops, &aggregations, mode.into(), &spell);
    let joins: Vec<&rules::Join> = logical.joins.iter().map(|(_, join)| join).collect();
    problems.extend(rules::check_join_modes(
        joins.iter().copied(),
        mode.into(),
        &spell,
    ));
    problems.extend(rules::check_join_eviction(joins.iter().copied()));
    problems.extend(rules::check_groups_with_state(
        &logical.groups_with_state,
        !logical.aggregations.is_empty(),
        mode.into(),
        &spell,
    ));
    if let Some(allowed) = sink_modes {
        let allowed: Vec<Mode> = allowed.iter().map(|m| Mode::from(*m)).collect();
        problems.extend(rules::check_sink(sink, &allowed, mode.into(), &spell));
    }
    problems.iter().map(ToString::to_string).collect()
}
