//! Output modes and Spark's rules for which modes a query may use, checked before it runs.

use super::dataset::Logical;

/// What a query writes to its sink at each batch (Spark's `OutputMode`).
///
/// | query | Append | Update | Complete |
/// |---|---|---|---|
/// | no aggregation | yes | yes | no |
/// | aggregation without an event-time window and watermark | no | yes | yes |
/// | aggregation by event-time window with a watermark | yes | yes | yes |
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
        f.write_str(match self {
            OutputMode::Append => "Append",
            OutputMode::Update => "Update",
            OutputMode::Complete => "Complete",
        })
    }
}

impl std::str::FromStr for OutputMode {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "append" => Ok(OutputMode::Append),
            "update" => Ok(OutputMode::Update),
            "complete" => Ok(OutputMode::Complete),
            _ => Err(crate::Error::InvalidConfig(format!(
                "unknown output mode \"{s}\": use append, update or complete"
            ))),
        }
    }
}

/// Every reason why `logical` may not run in `mode` into a sink that `sink_modes` allows
/// (`None`: every mode).
pub(crate) fn check(
    logical: &Logical,
    mode: OutputMode,
    sink: &str,
    sink_modes: Option<&[OutputMode]>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if let [first, second, ..] = logical.aggregations.as_slice() {
        problems.push(format!(
            "multiple streaming aggregations are not supported: `{}` aggregates the result of `{}`; aggregate once, or aggregate the second time in foreach_batch",
            second.operator, first.operator
        ));
    }
    match (logical.aggregations.first(), mode) {
        (Some(agg), OutputMode::Append) if !(agg.event_time_window && agg.watermarked) => {
            let missing = if agg.event_time_window {
                "it has no watermark: call .with_watermark(|r| r.ts, delay) before group_by_window"
            } else {
                "it is not grouped by an event-time window, so no group is ever final: use group_by_window(..) with a watermark"
            };
            problems.push(format!(
                "Append output mode not supported when there are streaming aggregations without watermark: `{}` cannot run in Append mode because {missing}, or use OutputMode::Update or OutputMode::Complete",
                agg.operator
            ));
        }
        (None, OutputMode::Complete) => problems.push(format!(
            "Complete output mode not supported when there are no streaming aggregations: the query `{}` has no aggregation to keep whole; use OutputMode::Append or OutputMode::Update, or add .group_by(..).count()",
            logical.ops.join(" -> ")
        )),
        _ => {}
    }
    if let Some(allowed) = sink_modes {
        if !allowed.contains(&mode) {
            problems.push(format!(
                "the {sink} sink does not support {mode} output mode: it supports {}",
                allowed
                    .iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    problems
}
