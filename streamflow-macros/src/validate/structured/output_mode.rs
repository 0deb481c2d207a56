//! The output-mode rules on the writer the body ends with: the runtime's own rules and words
//! (`streamflow/src/event_time/rules.rs`), each diagnostic on the tokens at fault.

use proc_macro2::TokenStream;
use syn::{Expr, Ident};

use super::value::{BodySetting, Sink, Writer};
use crate::diagnostic::Diagnostics;
use crate::model::JobConfig;
use crate::output_mode_rules::{self as rules, Culprit};
use crate::registry::Mode;

/// Where the mode was chosen: a span in the body, or tokens of the attribute.
enum At<'a> {
    Span(proc_macro2::Span),
    Tokens(&'a TokenStream),
}

/// Checks the mode the query runs in against its aggregations and its sink.
pub(super) fn check(writer: &Writer, sink: &Sink, config: &JobConfig, job: &Ident, diags: &mut Diagnostics) {
    // The mode the query runs in: the attribute's, the body's, or the runtime's default.
    let (mode, at, from_attribute, typed) = match (&config.output_mode, &writer.mode) {
        (Some(given), _) => (given.value, At::Tokens(&given.tokens), true, false),
        (
            None,
            Some(BodySetting {
                mode: Some(mode),
                span,
                typed,
            }),
        ) => (*mode, At::Span(*span), false, *typed),
        // Chosen by code the macro cannot read: the runtime checks it.
        (None, Some(_)) => return,
        // Given in the attribute but not readable (reported): no rule is checked against a
        // mode that was not chosen.
        (None, None) if config.is_invalid("output_mode") => return,
        (None, None) => (Mode::Append, At::Span(job.span()), true, false),
    };
    let spell = |mode: Mode| {
        if from_attribute {
            format!("`output_mode = {}`", mode.key())
        } else if typed {
            format!("`.{}()`", mode.key())
        } else {
            format!("`.output_mode(OutputMode::{})`", mode.name())
        }
    };
    let logical = &writer.logical;
    // A typed mode the dataset's shape does not allow is rustc's error (the shape's
    // `on_unimplemented` message): not reported twice. The shape knows an aggregation by key
    // and one by window of a dataset without watermark (`shape::Watermarked`).
    let not_final = logical
        .aggregations
        .iter()
        .any(|agg| !(agg.facts.event_time_window && agg.facts.watermarked));
    // A stream–stream join without aggregation is `shape::Joined`: Append only.
    let joined = logical.aggregations.is_empty() && logical.joins.iter().any(|j| j.facts.stream_stream);
    let shape_refuses = typed
        && match mode {
            Mode::Complete => logical.aggregations.is_empty(),
            Mode::Append => not_final,
            Mode::Update => joined,
        };
    if !logical.opaque && !shape_refuses {
        for violation in rules::check_aggregations(
            &logical.ops,
            logical.aggregations.iter().map(|agg| &agg.facts),
            mode,
            &spell,
        ) {
            let help = Some(violation.help);
            match (violation.at, &at) {
                (Culprit::Aggregation(index), _) => {
                    diags.error(logical.aggregations[index].span, violation.message, help);
                }
                (_, At::Span(span)) => diags.error(*span, violation.message, help),
                (_, At::Tokens(tokens)) => diags.error_spanned(*tokens, violation.message, help),
            }
        }
    }
    for violation in rules::check_groups_with_state(
        logical.groups_with_state.iter().map(|(facts, _)| facts),
        !logical.aggregations.is_empty(),
        mode,
        &spell,
    ) {
        if let Culprit::GroupsWithState(index) = violation.at {
            diags.error(
                logical.groups_with_state[index].1,
                violation.message,
                Some(violation.help),
            );
        }
    }
    let checked: Vec<&super::value::Join> = logical.joins.iter().filter(|j| j.checked).collect();
    let stream_stream: Vec<&super::value::Join> =
        logical.joins.iter().filter(|j| j.facts.stream_stream).collect();
    // Append only, for every join; what evicts an outer join, for those the macro can read.
    let append_only = if typed && logical.aggregations.is_empty() {
        Vec::new() // the shape's error (`Joined` allows Append only)
    } else {
        rules::check_join_modes(stream_stream.iter().map(|j| &j.facts), mode, &spell)
    };
    let evictable = rules::check_join_eviction(checked.iter().map(|j| &j.facts));
    for (violations, joins) in [(append_only, &stream_stream), (evictable, &checked)] {
        for violation in violations {
            if let Culprit::Join(index) = violation.at {
                diags.error(joins[index].span, violation.message, Some(violation.help));
            }
        }
    }
    // `trigger = continuous(..)`: the operators it cannot run, named (the runtime's words).
    if let Some(given) = &config.trigger {
        if matches!(given.value, crate::model::TriggerAttr::Continuous(_)) && !logical.opaque {
            let ops = logical.ops.iter().skip(1).map(String::as_str);
            for problem in crate::continuous_rules::check(ops, mode.name()) {
                let help = if problem.contains(" mode is not supported by Trigger::continuous") {
                    "use `output_mode = update`, or a micro-batch trigger (e.g. `trigger = processing_time(\"1 second\")`)"
                } else {
                    "use a micro-batch trigger (e.g. `trigger = processing_time(\"1 second\")`), or drop the operator"
                };
                diags.error_spanned(&given.tokens, problem, Some(help.into()));
            }
        }
    }
    if let Some(allowed) = sink.modes {
        if let Some(violation) = rules::check_sink(&sink.name, allowed, mode, &spell) {
            diags.error(sink.span, violation.message, Some(violation.help));
        }
    }
}

/// `OutputMode::Complete` (any path ending so).
pub(super) fn mode_of(expr: &Expr) -> Option<Mode> {
    match expr {
        Expr::Path(path) if path.qself.is_none() && path.path.segments.len() >= 2 => {
            let mut segments = path.path.segments.iter().rev();
            let variant = segments.next()?;
            (segments.next()?.ident == "OutputMode")
                .then(|| Mode::parse(&variant.ident.to_string()))
                .flatten()
        }
        Expr::Paren(inner) => mode_of(&inner.expr),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::words;
    use super::*;
    use quote::quote;

    #[test]
    fn a_mode_the_macro_cannot_read_is_left_to_the_runtime() {
        let messages = words(
            quote!(),
            quote!(.group_by(|w| w.word.clone()).count().write_stream().output_mode(mode).console()),
        );
        assert!(messages.is_empty(), "{messages:#?}");
        // Without it, the default (Append) applies, as in the runtime.
        let messages = words(
            quote!(),
            quote!(.group_by(|w| w.word.clone()).count().write_stream().console()),
        );
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(messages[0].starts_with("Append output mode not supported"));
    }

    #[test]
    fn the_help_spells_modes_where_the_mode_was_chosen() {
        let in_body = words(
            quote!(),
            quote!(.map(|w| w.word).write_stream().output_mode(OutputMode::Complete).console()),
        );
        assert_eq!(
            in_body,
            [
                "Complete output mode not supported when there are no streaming aggregations: the query \
              `memory_stream -> map` has no aggregation to keep whole\nhelp: use \
              `.output_mode(OutputMode::Append)` or `.output_mode(OutputMode::Update)`, or add .group_by(..).count()"
            ]
        );
        let in_attribute = words(quote!(output_mode = complete), quote!(.write_stream().console()));
        assert!(
            in_attribute[0].ends_with(
                "help: use `output_mode = append` or `output_mode = update`, or add .group_by(..).count()"
            ),
            "{in_attribute:#?}"
        );
    }

    #[test]
    fn a_file_sink_takes_append_only() {
        let messages = words(
            quote!(output_mode = update),
            quote!(.group_by(|w| w.word.clone()).count().write_stream().csv("out")),
        );
        assert_eq!(
            messages,
            [
                "the `csv` sink does not support Update output mode: it supports Append\nhelp: use \
              `output_mode = append`, or a sink that takes every mode: console, memory, foreach_batch, foreach"
            ]
        );
    }

    #[test]
    fn modes_are_read_from_any_path_ending_in_output_mode() {
        let mode = |expr: Expr| mode_of(&expr);
        assert_eq!(
            mode(syn::parse_quote!(OutputMode::Complete)),
            Some(Mode::Complete)
        );
        assert_eq!(
            mode(syn::parse_quote!(streamflow::structured::OutputMode::Update)),
            Some(Mode::Update)
        );
        assert_eq!(mode(syn::parse_quote!((OutputMode::Append))), Some(Mode::Append));
        assert_eq!(mode(syn::parse_quote!(Mode::Append)), None);
        assert_eq!(mode(syn::parse_quote!(OutputMode::Upsert)), None);
        assert_eq!(mode(syn::parse_quote!(mode)), None);
    }
}
