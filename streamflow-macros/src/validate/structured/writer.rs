//! The writer the body ends with: that it is one, that it has a sink, and that no setting is
//! given both in the body and in the attribute; then the output-mode rules.

use syn::Ident;

use super::output_mode;
use super::value::{BodySetting, Value};
use crate::diagnostic::Diagnostics;
use crate::model::{JobConfig, Node};

/// The checks of the writer the body ends with: its sink and the output-mode rules.
pub(super) fn ending(value: &Value, node: &Node, config: &JobConfig, job: &Ident, diags: &mut Diagnostics) {
    let span = node.name.span();
    let writer = match value {
        Value::Branch(arms) => {
            for arm in arms {
                ending(arm, node, config, job, diags);
            }
            return;
        }
        Value::Writer(writer) => writer,
        Value::Dataset(_) => {
            diags.error(
                span,
                "the body must end with the query's writer, not a dataset",
                Some(
                    "write it somewhere: add `.write_stream().console()` (or `.memory(name)`, \
                     `.foreach_batch(..)`, `.foreach(..)`, `.json(dir)`, `.csv(dir)`)"
                        .into(),
                ),
            );
            return;
        }
        Value::Grouped { .. } => {
            diags.error(
                span,
                "the body must end with the query's writer, not grouped records",
                Some("aggregate the groups and write them: add `.count().write_stream().console()`".into()),
            );
            return;
        }
        Value::Reader => {
            diags.error(
                span,
                "the body must end with the query's writer, not a reader",
                Some("pick a source and a sink, e.g. `.memory(&input).write_stream().console()`".into()),
            );
            return;
        }
        Value::Session | Value::Opaque | Value::Unknown => return,
    };
    let Some(sink) = &writer.sink else {
        diags.error(
            writer.span,
            "no sink chosen for the query",
            Some(
                "call .console(), .memory(name), .foreach_batch(..), .foreach(..), .json(dir) or \
                 .csv(dir) on the writer"
                    .into(),
            ),
        );
        return;
    };
    twice(
        config.output_mode.is_some(),
        &writer.mode,
        "output mode",
        "output_mode",
        diags,
    );
    twice(
        config.trigger.is_some(),
        &writer.trigger,
        "trigger",
        "trigger",
        diags,
    );
    twice(config.name.is_some(), &writer.name, "query name", "name", diags);
    twice(
        config.checkpoint.is_some(),
        &writer.checkpoint,
        "checkpoint location",
        "checkpoint",
        diags,
    );
    output_mode::check(writer, sink, config, job, diags);
}

/// Reports a setting given both in the attribute and in the body.
fn twice(in_attribute: bool, in_body: &Option<BodySetting>, what: &str, key: &str, diags: &mut Diagnostics) {
    let (true, Some(body)) = (in_attribute, in_body) else {
        return;
    };
    diags.error(
        body.span,
        format!("the {what} is given twice: here and in #[stream_job({key} = ..)]"),
        Some(format!(
            "keep one: remove this call, or `{key}` from the attribute (the attribute's is applied \
             after the body, so it would win)"
        )),
    );
}

#[cfg(test)]
mod tests {
    use super::super::{messages as check, words};
    use quote::quote;

    fn firsts(messages: &[String]) -> Vec<&str> {
        messages.iter().map(|m| m.lines().next().unwrap_or("")).collect()
    }

    #[test]
    fn the_body_ends_with_a_writer_that_has_a_sink() {
        let end = |then: proc_macro2::TokenStream| firsts(&words(quote!(), then)).join("|");
        assert_eq!(
            end(quote!()),
            "the body must end with the query's writer, not a dataset"
        );
        assert_eq!(
            end(quote!(.group_by(|w| w.word.clone()))),
            "the body must end with the query's writer, not grouped records"
        );
        assert_eq!(end(quote!(.write_stream())), "no sink chosen for the query");
        let reader = check(quote!(), syn::parse_quote!({ session.read_stream::<Word>() }));
        assert_eq!(
            firsts(&reader),
            ["the body must end with the query's writer, not a reader"]
        );
    }

    #[test]
    fn a_setting_is_given_once() {
        let messages = words(
            quote!(output_mode = update, trigger = once, name = "q"),
            quote!(.write_stream()
                .output_mode(OutputMode::Append)
                .trigger(Trigger::once())
                .query_name("q")
                .console()),
        );
        assert_eq!(
            firsts(&messages),
            [
                "the output mode is given twice: here and in #[stream_job(output_mode = ..)]",
                "the trigger is given twice: here and in #[stream_job(trigger = ..)]",
                "the query name is given twice: here and in #[stream_job(name = ..)]",
            ]
        );
    }
}
