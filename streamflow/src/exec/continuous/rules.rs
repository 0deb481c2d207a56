//! Which operators continuous mode runs, and the message for those it does not: one text for
//! the runtime's `start()` and for `#[stream_job]` (which includes this file by `#[path]`), so
//! both say the same. Standard library only.

/// Where the operators continuous mode refuses run instead.
pub(crate) const MICRO_BATCH_TRIGGERS: &str =
    "the micro-batch triggers (default, processing_time, once, available_now)";

/// The stateless operators continuous mode fuses into its tasks.
pub(crate) const STATELESS: &[&str] = &["map", "filter", "flat_map", "union", "with_watermark", "select"];

/// Whether `op` is a keyed aggregation without a window (`group_by(..).count()`), the one
/// stateful operator continuous mode runs.
pub(crate) fn is_keyed_aggregation(op: &str) -> bool {
    op.starts_with("group_by(..).") || op == "group_by"
}

/// Why continuous mode cannot run operator `op` of a query in output mode `mode` (`Append`,
/// `Update`, `Complete`), or `None` if it can.
pub(crate) fn operator_problem(op: &str, mode: &str) -> Option<String> {
    if STATELESS.contains(&op) {
        return None;
    }
    if is_keyed_aggregation(op) {
        return (mode != "Update").then(|| {
            format!(
                "`{op}` in {mode} mode is not supported by Trigger::continuous: a continuous aggregation emits each changed group in Update mode (.output_mode(OutputMode::Update)); {mode} mode runs with {MICRO_BATCH_TRIGGERS}"
            )
        });
    }
    if op.starts_with("group_by_window") || op.starts_with("group_by_event_time") {
        return Some(format!(
            "`{op}` is not supported by Trigger::continuous: event-time windows run with {MICRO_BATCH_TRIGGERS}, in Append, Update or Complete mode; continuous mode aggregates by key only (group_by(..), Update mode)"
        ));
    }
    Some(format!(
        "`{op}` is not supported by Trigger::continuous: it runs with {MICRO_BATCH_TRIGGERS}; continuous mode runs map, filter, flat_map, union, with_watermark and keyed aggregations (group_by(..), Update mode)"
    ))
}

/// Every problem of a continuous query whose operators (after its source) are `ops`, in
/// output mode `mode`: unsupported operators, and Update mode without an aggregation.
pub(crate) fn check<'a>(ops: impl IntoIterator<Item = &'a str>, mode: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut aggregations = 0;
    for op in ops {
        aggregations += usize::from(is_keyed_aggregation(op));
        problems.extend(operator_problem(op, mode));
    }
    if aggregations > 1 {
        problems.push(
            "Trigger::continuous runs one keyed aggregation per query: chained aggregations are not supported"
                .to_string(),
        );
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stateless_operators_and_keyed_aggregations_in_update_mode_pass() {
        assert!(check(["map", "filter", "group_by(..).count()", "map"], "Update").is_empty());
        assert!(check(["flat_map", "with_watermark"], "Append").is_empty());
    }

    #[test]
    fn every_other_operator_is_named_with_the_modes_that_run_it() {
        let problems = check(
            ["map", "drop_duplicates(..)", "group_by_window(..).count()"],
            "Update",
        );
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("`drop_duplicates(..)` is not supported by Trigger::continuous"));
        assert!(problems[0].contains(MICRO_BATCH_TRIGGERS));
        assert!(problems[1].contains("event-time windows run with"));
        let append = check(["group_by(..).sum()"], "Append");
        assert!(
            append[0].contains("in Append mode") && append[0].contains("Update mode"),
            "{append:?}"
        );
        let chained = check(["group_by(..).count()", "group_by(..).sum()"], "Update");
        assert!(chained[0].contains("one keyed aggregation"), "{chained:?}");
    }
}
