//! The checks of a Structured Streaming query: the runtime's own `start()` checks
//! (`streamflow/src/structured/output_mode.rs`, `writer.rs`, `window.rs`, `dataset.rs`,
//! `aggregate.rs`), made at compile time with the same rules and, for the output-mode and
//! window rules, the same words: those rules are the runtime's own files
//! (`streamflow/src/event_time/rules.rs`, `streamflow/src/window/rules.rs`).
//!
//! Like the runtime, this follows each value the body builds — reader, dataset, grouped
//! dataset, writer — keeping what the rules need: the operators, the aggregations, whether a
//! watermark and an event time are declared. The rules about output modes apply to the writer
//! the body ends with, which is the query the generated function starts.
//!
//! | module | checks |
//! |---|---|
//! | `value` | (what each value of the body is, for the rules) |
//! | `operators` | each call: known on what it is called on, the value it makes |
//! | `watermark` | watermark and idle-timeout durations; event time for windows |
//! | `window` | event-time window specs: durations and geometry |
//! | `trigger` | trigger intervals, in the attribute and in the body |
//! | `writer` | the body ends with a writer that has a sink; no setting given twice |
//! | `output_mode` | the output mode against the aggregations and the sink |

mod operators;
mod output_mode;
mod trigger;
mod value;
mod watermark;
mod window;
mod writer;

use syn::Ident;

use crate::diagnostic::Diagnostics;
use crate::model::{CallId, Input, JobConfig, Pipeline, Tail};
use crate::registry::Resolved;
use value::Value;

/// Checks a query's attribute and body.
///
/// Gives back the `write_stream()` calls of datasets the macro cannot see into (made by a
/// helper, a parameter): their output-mode rules are left to the types (see
/// [`unseen_datasets`]).
pub(crate) fn check_query(
    pipeline: &Pipeline,
    config: &JobConfig,
    job: &Ident,
    diags: &mut Diagnostics,
) -> Vec<CallId> {
    trigger::check_attribute(config, diags);
    let mut values: Vec<Value> = Vec::with_capacity(pipeline.nodes.len());
    for node in &pipeline.nodes {
        let value = operators::step(&values, node, job, diags);
        values.push(value);
    }
    let unseen = unseen_datasets(pipeline, &values);
    match pipeline.tail {
        Tail::Node(id) => writer::ending(&values[id], &pipeline.nodes[id], config, job, diags),
        Tail::Discarded(id, semi) => {
            if matches!(&values[id], Value::Writer(_) | Value::Branch(_)) {
                diags.error(
                    semi,
                    "the query's writer must be the value of the body",
                    Some(format!(
                        "remove this `;`: the generated `{job}(session, ..)` starts the writer the body ends with"
                    )),
                );
                writer::ending(&values[id], &pipeline.nodes[id], config, job, diags);
            } else if !pipeline.escapes {
                missing_writer(job, diags);
            }
        }
        Tail::Missing if !pipeline.escapes => missing_writer(job, diags),
        Tail::Missing | Tail::Other => {}
    }
    unseen
}

/// The `write_stream()` calls on a dataset made by code the macro cannot see (a helper's, a
/// parameter's): the macro cannot tell whether it aggregates, but its type can. When the
/// body chooses no output mode, codegen gives each the attribute's mode (or the default,
/// Append) as the typed method (`.append()`), so a mode its shape does not allow is a compile
/// error (`streamflow/src/structured/shape.rs`) instead of `start()`'s.
/// Only writers the body's value is made of, through calls the macro sees, are given it: a
/// writer handed to other code may get its mode there.
fn unseen_datasets(pipeline: &Pipeline, values: &[Value]) -> Vec<CallId> {
    let body_chooses_mode = pipeline.nodes.iter().any(|node| {
        matches!(
            node.operator().as_str(),
            "output_mode" | "append" | "update" | "complete"
        )
    });
    let Tail::Node(tail) = pipeline.tail else {
        return Vec::new();
    };
    if body_chooses_mode {
        return Vec::new();
    }
    // The nodes the body's value is made of: the tail, what it is called on, the arms of a
    // branch.
    let mut value_of = vec![false; pipeline.nodes.len()];
    let mut next = vec![tail];
    while let Some(id) = next.pop() {
        if std::mem::replace(&mut value_of[id], true) {
            continue;
        }
        let node = &pipeline.nodes[id];
        match node.input {
            Input::Stream(parent) => next.push(parent),
            Input::Branch => next.extend(node.other_inputs.iter().copied()),
            _ => {}
        }
    }
    pipeline
        .nodes
        .iter()
        .enumerate()
        .filter(|(id, _)| value_of[*id])
        .map(|(_, node)| node)
        .filter(|node| node.operator() == "write_stream" && node.resolved == Resolved::Known)
        .filter(|node| match node.input {
            Input::Built | Input::Parameter => true,
            Input::Stream(parent) => match &values[parent] {
                Value::Opaque => true,
                Value::Dataset(logical) => logical.opaque,
                _ => false,
            },
            Input::Context | Input::Branch => false,
        })
        .filter_map(|node| node.call)
        .collect()
}

fn missing_writer(job: &Ident, diags: &mut Diagnostics) {
    diags.error(
        job.span(),
        format!("`{job}` does not end with the query's writer"),
        Some(format!(
            "end the body with the writer, without `;`, e.g. `session.read_stream::<T>()..\
             .write_stream().console()`: the generated `{job}(session, ..)` starts it"
        )),
    );
}

/// Every message `check_query` reports for a query with this attribute and body, in order:
/// the tests of each check use it.
#[cfg(test)]
fn messages(attr: proc_macro2::TokenStream, body: syn::Block) -> Vec<String> {
    use crate::model::Vocabulary;
    use crate::parse::{parse_attribute, parse_body};

    let mut diags = Diagnostics::default();
    let config = parse_attribute(attr, Vocabulary::Structured, &mut diags).unwrap_or_default();
    let pipeline = parse_body(
        &body,
        Some(&syn::parse_quote!(session)),
        &[],
        Vocabulary::Structured,
    );
    check_query(&pipeline, &config, &syn::parse_quote!(job), &mut diags);
    diags.messages()
}

/// The messages for a query on words from memory: `session.read_stream::<Word>().memory(&input)`
/// followed by `then`.
#[cfg(test)]
fn words(attr: proc_macro2::TokenStream, then: proc_macro2::TokenStream) -> Vec<String> {
    messages(
        attr,
        syn::parse_quote!({ session.read_stream::<Word>().memory(&input) #then }),
    )
}

#[cfg(test)]
mod tests {
    use super::{messages as check, words};
    use quote::quote;

    #[test]
    fn the_sketch_of_spec_8_has_no_errors() {
        let messages = check(
            quote!(trigger = processing_time("10 seconds"), output_mode = append),
            syn::parse_quote!({
                session
                    .read_stream::<Word>()
                    .socket(host, port)
                    .with_watermark(|w| w.ts, "10 minutes")
                    .group_by_window(|w| w.word.clone(), window("10 minutes", "5 minutes"))
                    .count()
                    .write_stream()
                    .console()
            }),
        );
        assert!(messages.is_empty(), "{messages:#?}");
    }

    #[test]
    fn each_arm_of_a_branch_is_checked_once() {
        let messages = check(
            quote!(output_mode = complete),
            syn::parse_quote!({
                let words = session.read_stream::<Word>().memory(&input);
                if to_memory {
                    words.write_stream().memory("words")
                } else {
                    words.write_stream().console()
                }
            }),
        );
        // The same mistake in both arms, at the same tokens: one error.
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(
            messages[0]
                .starts_with("Complete output mode not supported when there are no streaming aggregations")
        );
        let messages = check(
            quote!(),
            syn::parse_quote!({
                let words = session.read_stream::<Word>().memory(&input);
                let counts = match mode {
                    Mode::Fast => words.group_by(|w| w.word.clone()).count(),
                    Mode::Slow => words.filter(|w| w.ok).group_by(|w| w.word.clone()).count(),
                };
                counts.write_stream().consol()
            }),
        );
        let firsts: Vec<&str> = messages.iter().map(|m| m.lines().next().unwrap_or("")).collect();
        assert_eq!(
            firsts,
            [
                "unknown operator `consol` on a `DataStreamWriter`",
                "Append output mode not supported when there are streaming aggregations without watermark: \
                 `group_by(..).count()` cannot run in Append mode because it is not grouped by an event-time \
                 window, so no group is ever final",
            ]
        );
    }

    #[test]
    fn a_helper_dataset_is_not_guessed_at() {
        // What `counts` made is not known: no rule is checked on it (the runtime's `start()`
        // checks it), but the names called on it are.
        let messages = check(
            quote!(output_mode = append),
            syn::parse_quote!({
                let words = session.read_stream::<Word>().memory(&input);
                counts(&words).writeStream().console()
            }),
        );
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(messages[0].starts_with("unknown operator `writeStream` on a `Dataset`"));
    }

    #[test]
    fn a_loop_is_checked_as_one_pass() {
        let messages = check(
            quote!(output_mode = append),
            syn::parse_quote!({
                let mut words = session.read_stream::<Word>().memory(&input);
                for stop in stopwords {
                    words = words.filter(move |w| w.word != stop);
                }
                words
                    .group_by(|w| w.word.clone())
                    .count()
                    .write_stream()
                    .console()
            }),
        );
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(messages[0].starts_with("Append output mode not supported"));
    }

    #[test]
    fn every_mistake_of_a_query_is_reported_at_once() {
        let messages = words(
            quote!(output_mode = complete, checkpoint = "cp"),
            quote!(.with_watermark(|w| w.ts, "10 minuts")
                .filtr(|w| true)
                .map(|w| w.word)
                .write_stream()
                .json("out")),
        );
        let firsts: Vec<&str> = messages.iter().map(|m| m.lines().next().unwrap_or("")).collect();
        assert_eq!(
            firsts,
            [
                "malformed duration literal: unknown unit \"minuts\" in \"10 minuts\" (expected ms, s, min, h, d, w or their long names)",
                "unknown operator `filtr` on a `Dataset`",
                // A misspelt operator is read as the one it meant: the rules go on.
                "Complete output mode not supported when there are no streaming aggregations: the query \
                 `memory_stream -> with_watermark -> filter -> map` has no aggregation to keep whole",
                "the `json` sink does not support Complete output mode: it supports Append",
            ]
        );
    }
}
