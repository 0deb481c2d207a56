//! Spark's rules for which output modes a Structured Streaming query may use, and their
//! messages.
//!
//! | query | Append | Update | Complete |
//! |---|---|---|---|
//! | no aggregation | yes | yes | no |
//! | aggregation without an event-time window and watermark | no | yes | yes |
//! | aggregation by event-time window with a watermark | yes | yes | yes |
//! | two aggregations in a row | no | no | no |
//! | a stream–stream join | yes | no | no |
//!
//! and a sink may accept only some modes (the file sinks: Append). A stream–stream outer (or
//! left semi) join must be able to evict the side whose unmatched rows it emits: both sides
//! need a watermark, and the range condition the bound that limits that side.
//!
//! This file uses only `std` on purpose: the `#[stream_job]` macro includes it with `#[path]`,
//! so a query rejected at compile time reads exactly as `start()` rejects it at run time. The
//! runtime puts a [`Violation`] in its error; the macro points it at the tokens at fault.

use std::fmt;

/// An output mode (the runtime's `OutputMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mode {
    /// Only new, final rows.
    Append,
    /// The rows that changed.
    Update,
    /// The whole result table.
    Complete,
}

impl Mode {
    /// Every mode, in the order messages list them.
    pub const ALL: [Mode; 3] = [Mode::Append, Mode::Update, Mode::Complete];

    /// The variant name, as messages write it: `"Append"`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Append => "Append",
            Mode::Update => "Update",
            Mode::Complete => "Complete",
        }
    }

    /// The lowercase spelling a mode is parsed from: `"append"`.
    pub fn key(self) -> &'static str {
        match self {
            Mode::Append => "append",
            Mode::Update => "update",
            Mode::Complete => "complete",
        }
    }

    /// `"append"`, `"Append"` → the mode.
    pub fn parse(text: &str) -> Option<Mode> {
        Mode::ALL
            .into_iter()
            .find(|mode| mode.key().eq_ignore_ascii_case(text))
    }
}

/// What the rules need to know of one streaming aggregation.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Aggregation {
    /// How messages name it: `group_by_window(..).count()`.
    pub operator: String,
    /// Whether it groups by an event-time window.
    pub event_time_window: bool,
    /// Whether its input has a watermark.
    pub watermarked: bool,
}

/// What the rules need to know of one join.
#[derive(Clone, Debug)]
pub struct Join {
    /// How messages name it: `left_outer_join(..)`.
    pub operator: String,
    /// Spark's name of its type: `Inner`, `LeftOuter`, `RightOuter`, `FullOuter`, `LeftSemi`.
    pub join_type: &'static str,
    /// Both sides are streams (a stream–static join keeps no state).
    pub stream_stream: bool,
    /// Whether each side has a watermark.
    pub left_watermarked: bool,
    /// Whether the right side has a watermark.
    pub right_watermarked: bool,
    /// Whether the range condition has an upper bound (`right.ts ≤ left.ts + upper`): what
    /// lets the left side's rows be evicted.
    pub bounds_left: bool,
    /// Whether it has a lower bound (`right.ts ≥ left.ts + lower`): what evicts the right side.
    pub bounds_right: bool,
}

impl Join {
    /// Whether its left rows must be evicted to be emitted (null-padded, or once in a semi
    /// join) and whether its right rows must.
    fn must_evict(&self) -> (bool, bool) {
        match self.join_type {
            "LeftOuter" | "LeftSemi" => (true, false),
            "RightOuter" => (false, true),
            "FullOuter" => (true, true),
            _ => (false, false),
        }
    }
}

/// What the rules need to know of one `map_groups_with_state` / `flat_map_groups_with_state`.
#[derive(Clone, Debug)]
pub struct GroupsWithState {
    /// `flat_map_groups_with_state` or `map_groups_with_state`.
    pub operator: String,
    /// The operator's own output mode (`flat_map_groups_with_state`'s first argument); `None`
    /// for `map_groups_with_state`.
    pub mode: Option<Mode>,
    /// Whether an aggregation comes before it.
    pub after_aggregation: bool,
}

/// Spark's rules on keyed state (`UnsupportedOperationChecker`): `map_groups_with_state` runs in
/// Update mode and without aggregation; `flat_map_groups_with_state` in Append or Update mode,
/// its own mode the query's when there is no aggregation, and Append, before any aggregation,
/// when there is one.
pub fn check_groups_with_state<'a>(
    operators: impl IntoIterator<Item = &'a GroupsWithState>,
    aggregations: bool,
    mode: Mode,
    spell: &dyn Fn(Mode) -> String,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (index, op) in operators.into_iter().enumerate() {
        let (message, help) = match (op.mode, aggregations) {
            (None, true) => (
                "mapGroupsWithState is not supported with aggregation on a streaming DataFrame/Dataset".to_string(),
                "aggregate in the function, or use flat_map_groups_with_state(OutputMode::Append, ..) before the aggregation".to_string(),
            ),
            (None, false) if mode != Mode::Update => (
                format!("mapGroupsWithState is not supported with {} output mode on a streaming DataFrame/Dataset", mode.name()),
                format!("use {}, or flat_map_groups_with_state(OutputMode::Append, ..) for Append", spell(Mode::Update)),
            ),
            (Some(Mode::Complete), _) => (
                "the output mode of flatMapGroupsWithState should be Append or Update".to_string(),
                "pass OutputMode::Append or OutputMode::Update as its first argument".to_string(),
            ),
            (Some(own), false) if own != mode => (
                format!(
                    "flatMapGroupsWithState in {} mode is not supported with {} output mode on a streaming DataFrame/Dataset",
                    own.key(),
                    mode.name()
                ),
                format!("give it OutputMode::{} as its first argument, or use {}", mode.name(), spell(own)),
            ),
            (Some(Mode::Update), true) => (
                "flatMapGroupsWithState in update mode is not supported with aggregation on a streaming DataFrame/Dataset".to_string(),
                "give it OutputMode::Append as its first argument".to_string(),
            ),
            (Some(_), true) if op.after_aggregation => (
                "flatMapGroupsWithState in append mode is not supported after aggregation on a streaming DataFrame/Dataset".to_string(),
                "aggregate after it, or in its function".to_string(),
            ),
            _ => continue,
        };
        violations.push(Violation {
            at: Culprit::GroupsWithState(index),
            message: format!("{message}: `{}(..)`", op.operator),
            help,
        });
    }
    violations
}

/// A stream–stream join runs in Append mode only (Spark's `UnsupportedOperationChecker`).
pub fn check_join_modes<'a>(
    joins: impl IntoIterator<Item = &'a Join>,
    mode: Mode,
    spell: &dyn Fn(Mode) -> String,
) -> Vec<Violation> {
    if mode == Mode::Append {
        return Vec::new();
    }
    joins
        .into_iter()
        .enumerate()
        .filter(|(_, join)| join.stream_stream)
        .map(|(index, join)| Violation {
            at: Culprit::Join(index),
            message: format!(
                "Join between two streaming DataFrames/Datasets is not supported in {} output \
                 mode, only in Append output mode: `{}` emits a row once, when it is final",
                mode.name(),
                join.operator
            ),
            help: format!("use {}", spell(Mode::Append)),
        })
        .collect()
}

/// An outer (or left semi) stream–stream join needs a watermark on both sides and the range
/// bound that evicts the side whose unmatched rows it emits (Spark's
/// `UnsupportedOperationChecker`).
pub fn check_join_eviction<'a>(joins: impl IntoIterator<Item = &'a Join>) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (index, join) in joins.into_iter().enumerate() {
        let (left, right) = join.must_evict();
        if !join.stream_stream || !(left || right) {
            continue;
        }
        let watermarks = join.left_watermarked && join.right_watermarked;
        let missing = match (left && !join.bounds_left, right && !join.bounds_right) {
            (true, true) => Some("both bounds (`TimeRange::between(lower, upper)`)"),
            (true, false) => Some("an upper bound (`right.ts ≤ left.ts + upper`)"),
            (false, true) => Some("a lower bound (`right.ts ≥ left.ts + lower`)"),
            (false, false) => None,
        };
        let why = match (watermarks, missing) {
            (false, _) => "each side needs a watermark".to_string(),
            (true, Some(bound)) => format!("its time range needs {bound}"),
            (true, None) => continue,
        };
        violations.push(Violation {
            at: Culprit::Join(index),
            message: format!(
                "Stream-stream {} join between two streaming DataFrame/Datasets is not \
                 supported without a watermark on both sides and an appropriate range \
                 condition: `{}` could never tell that a row has no match; {why}",
                join.join_type, join.operator
            ),
            help: "call .with_watermark(|r| r.ts, delay) on both sides and join on \
                   JoinOn::keys(..).time_range(TimeRange::between(lower, upper))"
                .into(),
        });
    }
    violations
}

/// What a rule found at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Culprit {
    /// The aggregation at this index of the query's aggregations.
    Aggregation(usize),
    /// The join at this index of the query's joins.
    Join(usize),
    /// The groups-with-state operator at this index of the query's.
    GroupsWithState(usize),
    /// The output mode itself.
    Mode,
    /// The sink.
    Sink,
}

/// A broken rule: what is at fault, what is wrong, and what to do instead.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// What is at fault (the macro puts the diagnostic on it).
    #[allow(
        dead_code,
        reason = "read by streamflow-macros only, which includes this file"
    )]
    pub at: Culprit,
    /// What is wrong.
    pub message: String,
    /// The fix.
    pub help: String,
}

/// `message: help`, the runtime's one-line form.
impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.message, self.help)
    }
}

/// The rules on a query's aggregations in `mode`: `ops` names its operators in order,
/// `aggregations` are its aggregations in order. `spell` writes how the user chooses a mode
/// (`.output_mode(OutputMode::Update)` in code, `output_mode = update` in the macro's attribute).
pub fn check_aggregations<'a>(
    ops: &[String],
    aggregations: impl IntoIterator<Item = &'a Aggregation>,
    mode: Mode,
    spell: &dyn Fn(Mode) -> String,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut aggregations = aggregations.into_iter();
    let (first, second) = (aggregations.next(), aggregations.next());
    if let (Some(first), Some(second)) = (first, second) {
        violations.push(Violation {
            at: Culprit::Aggregation(1),
            message: format!(
                "multiple streaming aggregations are not supported: `{}` aggregates the result of `{}`",
                second.operator, first.operator
            ),
            help: "aggregate once, or aggregate the second time in foreach_batch".into(),
        });
    }
    match (first, mode) {
        (Some(agg), Mode::Append) if !(agg.event_time_window && agg.watermarked) => {
            let (why, fix) = if agg.event_time_window {
                (
                    "it has no watermark",
                    "call .with_watermark(|r| r.ts, delay) before group_by_window",
                )
            } else {
                (
                    "it is not grouped by an event-time window, so no group is ever final",
                    "use group_by_window(..) with a watermark",
                )
            };
            violations.push(Violation {
                at: Culprit::Aggregation(0),
                message: format!(
                    "Append output mode not supported when there are streaming aggregations \
                     without watermark: `{}` cannot run in Append mode because {why}",
                    agg.operator
                ),
                help: format!(
                    "{fix}, or use {} or {}",
                    spell(Mode::Update),
                    spell(Mode::Complete)
                ),
            });
        }
        (None, Mode::Complete) => violations.push(Violation {
            at: Culprit::Mode,
            message: format!(
                "Complete output mode not supported when there are no streaming aggregations: \
                 the query `{}` has no aggregation to keep whole",
                ops.join(" -> ")
            ),
            help: format!(
                "use {} or {}, or add .group_by(..).count()",
                spell(Mode::Append),
                spell(Mode::Update)
            ),
        }),
        _ => {}
    }
    violations
}

/// The rule of a sink that accepts only the modes `allowed`: `sink` is how the user chose it
/// (`json`).
pub fn check_sink(
    sink: &str,
    allowed: &[Mode],
    mode: Mode,
    spell: &dyn Fn(Mode) -> String,
) -> Option<Violation> {
    if allowed.contains(&mode) {
        return None;
    }
    let names: Vec<&str> = allowed.iter().map(|m| m.name()).collect();
    let spelled: Vec<String> = allowed.iter().map(|m| spell(*m)).collect();
    Some(Violation {
        at: Culprit::Sink,
        message: format!(
            "the `{sink}` sink does not support {} output mode: it supports {}",
            mode.name(),
            names.join(", ")
        ),
        help: format!(
            "use {}, or a sink that takes every mode: console, memory, foreach_batch, foreach",
            spelled.join(" or ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spell(mode: Mode) -> String {
        format!("`OutputMode::{}`", mode.name())
    }

    fn agg(operator: &str, event_time_window: bool, watermarked: bool) -> Aggregation {
        Aggregation {
            operator: operator.to_owned(),
            event_time_window,
            watermarked,
        }
    }

    #[test]
    fn modes_parse_in_any_case() {
        assert_eq!(Mode::parse("update"), Some(Mode::Update));
        assert_eq!(Mode::parse("Complete"), Some(Mode::Complete));
        assert_eq!(Mode::parse("upsert"), None);
    }

    #[test]
    fn append_needs_a_watermarked_event_time_window() {
        let ops = ["memory_stream".to_owned()];
        let windowed = agg("group_by_window(..).count()", true, true);
        for mode in Mode::ALL {
            assert!(check_aggregations(&ops, [&windowed], mode, &spell).is_empty());
        }
        let found = check_aggregations(
            &ops,
            &[agg("group_by(..).count()", false, true)],
            Mode::Append,
            &spell,
        );
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].at, Culprit::Aggregation(0));
        assert!(
            found[0]
                .message
                .ends_with("because it is not grouped by an event-time window, so no group is ever final")
        );
        assert!(
            found[0]
                .help
                .ends_with("or use `OutputMode::Update` or `OutputMode::Complete`")
        );
        let unwatermarked = agg("group_by_window(..).count()", true, false);
        let found = check_aggregations(&ops, [&unwatermarked], Mode::Append, &spell);
        assert!(found[0].message.ends_with("because it has no watermark"));
        assert!(check_aggregations(&ops, [&unwatermarked], Mode::Update, &spell).is_empty());
    }

    #[test]
    fn complete_needs_an_aggregation_and_one_aggregation_is_the_most() {
        let ops = ["memory_stream".to_owned(), "map".to_owned()];
        let found = check_aggregations(&ops, std::iter::empty(), Mode::Complete, &spell);
        assert_eq!(found[0].at, Culprit::Mode);
        assert!(
            found[0]
                .message
                .contains("the query `memory_stream -> map` has no aggregation")
        );
        let two = [
            agg("group_by(..).count()", false, false),
            agg("group_by(..).sum()", false, false),
        ];
        let found = check_aggregations(&ops, &two, Mode::Complete, &spell);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].at, Culprit::Aggregation(1));
        assert_eq!(
            found[0].to_string(),
            "multiple streaming aggregations are not supported: `group_by(..).sum()` aggregates the \
             result of `group_by(..).count()`: aggregate once, or aggregate the second time in foreach_batch"
        );
    }

    fn check_joins(joins: [&Join; 1], mode: Mode, spell: &dyn Fn(Mode) -> String) -> Vec<Violation> {
        let mut found = check_join_modes(joins, mode, spell);
        found.extend(check_join_eviction(joins));
        found
    }

    fn join(join_type: &'static str, watermarks: bool, lower: bool, upper: bool) -> Join {
        Join {
            operator: "j(..)".into(),
            join_type,
            stream_stream: true,
            left_watermarked: watermarks,
            right_watermarked: watermarks,
            bounds_left: upper,
            bounds_right: lower,
        }
    }

    #[test]
    fn stream_stream_joins_run_in_append_and_outer_ones_need_what_evicts_them() {
        let inner = join("Inner", false, false, false);
        assert!(check_joins([&inner], Mode::Append, &spell).is_empty());
        let found = check_joins([&inner], Mode::Update, &spell);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].at, Culprit::Join(0));
        assert!(found[0].message.contains("not supported in Update output mode"));
        let static_join = Join {
            stream_stream: false,
            ..inner
        };
        assert!(check_joins([&static_join], Mode::Update, &spell).is_empty());
        for (kind, lower, upper) in [
            ("LeftOuter", false, true),
            ("LeftSemi", false, true),
            ("RightOuter", true, false),
            ("FullOuter", true, true),
        ] {
            assert!(check_joins([&join(kind, true, lower, upper)], Mode::Append, &spell).is_empty());
            let unbounded = check_joins([&join(kind, true, false, false)], Mode::Append, &spell);
            assert!(unbounded[0].message.contains("its time range needs"), "{kind}");
            let unwatermarked = check_joins([&join(kind, false, true, true)], Mode::Append, &spell);
            assert!(
                unwatermarked[0].message.ends_with("each side needs a watermark"),
                "{}",
                unwatermarked[0].message
            );
        }
        let wrong_bound = check_joins([&join("LeftOuter", true, true, false)], Mode::Append, &spell);
        assert!(wrong_bound[0].message.contains("an upper bound"));
    }

    #[test]
    fn groups_with_state_follow_sparks_modes() {
        let op = |mode: Option<Mode>, after_aggregation: bool| GroupsWithState {
            operator: "f".into(),
            mode,
            after_aggregation,
        };
        let check =
            |o: GroupsWithState, aggs: bool, mode: Mode| check_groups_with_state([&o], aggs, mode, &spell);
        assert!(check(op(None, false), false, Mode::Update).is_empty());
        assert!(
            check(op(None, false), false, Mode::Append)[0]
                .message
                .starts_with("mapGroupsWithState is not supported with Append")
        );
        assert!(
            check(op(None, false), true, Mode::Update)[0]
                .message
                .contains("with aggregation")
        );
        for mode in [Mode::Append, Mode::Update] {
            assert!(check(op(Some(mode), false), false, mode).is_empty());
        }
        let found = check(op(Some(Mode::Update), false), false, Mode::Append);
        assert!(
            found[0]
                .message
                .starts_with("flatMapGroupsWithState in update mode is not supported with Append")
        );
        assert!(check(op(Some(Mode::Append), false), true, Mode::Complete).is_empty());
        assert!(
            check(op(Some(Mode::Update), false), true, Mode::Complete)[0]
                .message
                .contains("with aggregation")
        );
        assert!(
            check(op(Some(Mode::Append), true), true, Mode::Complete)[0]
                .message
                .contains("after aggregation")
        );
        assert!(
            check(op(Some(Mode::Complete), false), false, Mode::Complete)[0]
                .message
                .contains("Append or Update")
        );
    }

    #[test]
    fn a_sink_may_take_some_modes_only() {
        assert_eq!(check_sink("json", &[Mode::Append], Mode::Append, &spell), None);
        let found = check_sink("json", &[Mode::Append], Mode::Update, &spell).unwrap();
        assert_eq!(
            found.message,
            "the `json` sink does not support Update output mode: it supports Append"
        );
        assert!(
            found.help.starts_with("use `OutputMode::Append`, or a sink"),
            "{}",
            found.help
        );
    }
}
