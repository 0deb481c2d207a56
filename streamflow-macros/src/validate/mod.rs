//! Validation: every rule SPEC §5 lists, each reported with the span of the tokens at fault.
//!
//! Nothing here stops at the first error: each check adds to the [`Diagnostics`] and goes on,
//! so a user sees every mistake of a job in one compile. The DStream rules are here; the
//! Structured Streaming rules, the runtime's own `start()` checks, are in [`structured`].

mod names;
pub(crate) mod structured;

use proc_macro2::Span;
use syn::Ident;

use crate::diagnostic::Diagnostics;
use crate::duration_parse::parse_duration_ms;
use crate::model::{Arg, Input, JobConfig, Node, NodeId, Pipeline, Vocabulary};
use crate::registry::{self, Category, Durations, Resolved};
use crate::suggest;
use crate::window_rules::{self, Part};

/// The job's settings once checked; invalid or missing values have stand-ins (an error was
/// reported for them, so the stand-ins never reach a running program).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The batch interval in milliseconds, if it was given and is valid.
    pub(crate) batch_ms: Option<u64>,
    /// Worker threads.
    pub(crate) parallelism: usize,
}

/// The default of `parallelism`, like Spark's `local[2]` in the seeds.
pub(crate) const DEFAULT_PARALLELISM: usize = 2;

/// Checks the attribute's values. `parsed` is false when the attribute was not even
/// `key = value` pairs (already reported), so a missing `batch` is not reported twice.
pub(crate) fn check_config(
    config: &JobConfig,
    parsed: bool,
    vocabulary: Vocabulary,
    diags: &mut Diagnostics,
) -> Settings {
    let batch_ms = match &config.batch {
        Some(batch) => match parse_literal(batch, diags) {
            Some(0) => {
                diags.error(
                    batch.span(),
                    "the batch interval must be greater than zero",
                    Some("write e.g. `batch = \"1s\"`".into()),
                );
                None
            }
            ms => ms,
        },
        None => {
            if parsed && vocabulary == Vocabulary::DStream && !config.is_invalid("batch") {
                diags.error(
                    Span::call_site(),
                    "missing the batch interval in #[stream_job(...)]",
                    Some(
                        "add `batch = \"1s\"` (any duration: \"500ms\", \"10 seconds\", \"1 minute\")".into(),
                    ),
                );
            }
            None
        }
    };
    let parallelism = match &config.parallelism {
        Some(lit) => match lit.base10_parse::<usize>() {
            Ok(0) | Err(_) => {
                diags.error(
                    lit.span(),
                    "`parallelism` must be a whole number of at least 1",
                    Some("it is the number of worker threads, like Spark's `local[N]`".into()),
                );
                DEFAULT_PARALLELISM
            }
            Ok(n) => n,
        },
        None => DEFAULT_PARALLELISM,
    };
    if let Some(name) = &config.name {
        if name.value().trim().is_empty() {
            diags.error(name.span(), "the job `name` must not be empty", None);
        }
    }
    if let Some(dir) = &config.checkpoint {
        if dir.value().trim().is_empty() {
            diags.error(
                dir.span(),
                "the `checkpoint` directory must not be empty",
                Some("write e.g. `checkpoint = \"/tmp/streamflow/word-count\"`".into()),
            );
        }
    }
    Settings {
        batch_ms,
        parallelism,
    }
}

/// Checks the pipeline against the operator table and the job's settings.
pub(crate) fn check_pipeline(
    pipeline: &Pipeline,
    config: &JobConfig,
    settings: Settings,
    job: &Ident,
    context: Option<&str>,
    diags: &mut Diagnostics,
) {
    let context_given = context.is_some();
    let context = context.unwrap_or("ssc");
    // The slide of each node's stream, and the window that set it (if not the batch interval).
    let mut slides: Vec<(Option<u64>, Option<NodeId>)> = Vec::with_capacity(pipeline.nodes.len());
    // Whether a name was reported: then a missing output may be the misnamed call's.
    let mut misnamed = false;
    for (id, node) in pipeline.nodes.iter().enumerate() {
        let (input_slide, set_by) = match node.input {
            Input::Context => (settings.batch_ms, None),
            Input::Stream(parent) => slides[parent],
            // A stream handed in or made by a helper may be windowed already: its slide is not
            // known here.
            Input::Parameter | Input::Built => (None, None),
            // The arms' slide, if they agree.
            Input::Branch => {
                let mut arms = node.other_inputs.iter().map(|arm| slides[*arm]);
                let first = arms.next().unwrap_or((None, None));
                if arms.all(|arm| arm == first) {
                    first
                } else {
                    (None, None)
                }
            }
        };
        let mut slide = (input_slide, set_by);
        if !matches!(node.input, Input::Context | Input::Stream(_)) {
            // Not an operator call: nothing to check.
        } else if let Some(sink) = sink_before(pipeline, node) {
            misnamed = true;
            diags.replacing(
                node.call,
                node.name.span(),
                format!("`{}` is used after the output operation `{sink}`", node.name),
                Some(format!(
                    "an output operation ends its chain: bind the stream with `let` before \
                     `.{sink}(..)` and call `.{}(..)` on that binding",
                    node.name
                )),
            );
            slide = (None, None);
        } else if !node.is_operator() {
            // The user's own method, or a name reported here: what it makes is not known.
            misnamed |= node.resolved != Resolved::User;
            names::report_dstream(node, context, diags);
            slide = (None, None);
        } else if let Some(op) = registry::lookup(&node.operator()) {
            names::report_dstream(node, context, diags);
            if op.name == "state_snapshots" && !reads_map_with_state(pipeline, node) {
                diags.error(
                    node.name.span(),
                    "`state_snapshots` can only be called on the result of `map_with_state`",
                    Some("write `.map_with_state(spec).state_snapshots()`".into()),
                );
            }
            if let Durations::Window { len, slide: slide_at } = op.durations {
                let len_ms = node.args.get(len).and_then(|arg| duration_arg(arg, diags));
                let slide_ms = node.args.get(slide_at).and_then(|arg| duration_arg(arg, diags));
                let unit = Unit {
                    input: input_slide,
                    set_by,
                    pipeline,
                };
                unit.check(Part::Length, len_ms, diags);
                unit.check(Part::Slide, slide_ms, diags);
                // Like the runtime, a window that keeps its input's slide does not become the
                // unit's name: the one that changed it stays.
                let slide_ms = slide_ms.map(|(ms, _)| ms);
                if slide_ms != input_slide {
                    slide = (slide_ms, Some(id));
                }
            }
        }
        slides.push(slide);
    }
    for call in &pipeline.context_calls {
        if call.name == "checkpoint" && call.input != Input::Context {
            // `stream.checkpoint(interval)`.
            if let Some(arg) = call.args.first() {
                duration_arg(arg, diags);
            }
            continue;
        }
        if let Some(Durations::Single(at)) = registry::lookup(&call.name.to_string()).map(|op| op.durations) {
            if let Some(arg) = call.args.get(at) {
                duration_arg(arg, diags);
            }
        }
    }
    let has_output = pipeline.nodes.iter().enumerate().any(|(id, node)| {
        category(node) == Some(Category::Sink)
            // The user's own method at the end of a chain may be an output.
            || (node.resolved == Resolved::User && pipeline.consumers(id) == 0)
    });
    // Without a context parameter (reported) the body cannot have made an output.
    let no_context = pipeline.nodes.is_empty() && pipeline.context_calls.is_empty() && !context_given;
    if !has_output && !pipeline.escapes && !misnamed && !no_context {
        diags.error(
            job.span(),
            format!("`{job}` has no output operation, so its pipeline would never run"),
            Some(format!(
                "end a stream with an output operation: {}",
                suggest::one_of(
                    registry::names(
                        |op| op.category == Category::Sink && !["print_n", "print_to"].contains(&op.name)
                    )
                    .map(|name| {
                        match name {
                            "print" => ".print()",
                            "save_as_text_files" => ".save_as_text_files(prefix, suffix)",
                            "foreach_batch" => ".foreach_batch(|batch, time| ..)",
                            "foreach_partition" => ".foreach_partition(|partition| ..)",
                            "sink" => ".sink(your_sink)",
                            other => other,
                        }
                    })
                )
            )),
        );
    }
    let _ = config;
}

/// The stateful operators of a DStream job that need a checkpoint directory, with why, when
/// neither the attribute nor the body sets one: then the generated `job()`, which builds its
/// context from the attribute, cannot run it (`job_on` with the caller's context can).
pub(crate) fn needs_checkpoint(pipeline: &Pipeline, config: &JobConfig) -> Option<(Span, &'static str)> {
    if config.checkpoint.is_some() || pipeline.checkpoint_call.is_some() {
        return None;
    }
    pipeline.nodes.iter().find_map(|node| {
        if !node.is_operator() {
            return None;
        }
        let op = registry::lookup(&node.operator())?;
        op.needs_checkpoint.map(|why| (node.name.span(), why))
    })
}

/// The check of a window's length or slide against the slide of the stream it reads: the
/// runtime's rule, in its words (`streamflow/src/window/rules.rs`).
struct Unit<'a> {
    input: Option<u64>,
    set_by: Option<NodeId>,
    pipeline: &'a Pipeline,
}

impl Unit<'_> {
    fn check(&self, what: Part, value: Option<(u64, Span)>, diags: &mut Diagnostics) {
        let (Some((ms, span)), Some(unit)) = (value, self.input) else {
            return;
        };
        // As the runtime says it: the batch interval, unless a window made the slide another.
        let window = self.set_by.map(|id| self.pipeline.nodes[id].name.to_string());
        let unit = match &window {
            Some(window) => window_rules::Unit::SlideOf { ms: unit, window },
            None => window_rules::Unit::BatchInterval(unit),
        };
        if let Err(violation) = window_rules::multiple_of_unit(what, ms, unit) {
            diags.error(span, violation.message, Some(violation.help));
        }
    }
}

fn category(node: &Node) -> Option<Category> {
    if !node.is_operator() {
        return None;
    }
    registry::lookup(&node.operator()).map(|op| op.category)
}

/// The output operation this node is chained after, if it is.
fn sink_before<'a>(pipeline: &'a Pipeline, node: &Node) -> Option<&'a Ident> {
    let Input::Stream(parent) = node.input else {
        return None;
    };
    let parent = &pipeline.nodes[parent];
    (category(parent) == Some(Category::Sink)).then_some(&parent.name)
}

fn reads_map_with_state(pipeline: &Pipeline, node: &Node) -> bool {
    matches!(node.input, Input::Stream(parent) if pipeline.nodes[parent].operator() == "map_with_state")
}

/// A duration argument the macro can read, in milliseconds; reports a malformed literal.
pub(crate) fn duration_arg(arg: &Arg, diags: &mut Diagnostics) -> Option<(u64, Span)> {
    match arg {
        Arg::Str(text) => parse_literal(text, diags).map(|ms| (ms, text.span())),
        Arg::Millis(ms, span) => Some((*ms, *span)),
        Arg::Other => None,
    }
}

/// Parses a duration string literal with the runtime's own parser.
pub(crate) fn parse_literal(text: &syn::LitStr, diags: &mut Diagnostics) -> Option<u64> {
    let value = text.value();
    match parse_duration_ms(&value) {
        Ok(ms) => Some(ms),
        Err(reason) => {
            let help = match unit_suggestion(&value) {
                Some(fixed) => format!("did you mean \"{fixed}\"?"),
                None => {
                    "write a whole number and a unit, like \"10 seconds\", \"500ms\" or \"1 minute\"".into()
                }
            };
            diags.error(
                text.span(),
                format!("malformed duration literal: {reason}"),
                Some(help),
            );
            None
        }
    }
}

const UNIT_NAMES: &[&str] = &[
    "ms",
    "s",
    "min",
    "h",
    "d",
    "milliseconds",
    "seconds",
    "minutes",
    "hours",
    "days",
    "millisecond",
    "second",
    "minute",
    "hour",
    "day",
];

/// `"10 minuts"` → `"10 minutes"`.
fn unit_suggestion(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let digits = trimmed.find(|c: char| !c.is_ascii_digit())?;
    if digits == 0 {
        return None;
    }
    let (number, rest) = trimmed.split_at(digits);
    let unit = rest.trim_start();
    let close = suggest::did_you_mean(&unit.to_ascii_lowercase(), UNIT_NAMES.iter().copied())?;
    let space = &rest[..rest.len() - unit.len()];
    Some(format!("{number}{space}{close}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse_attribute, parse_body};
    use proc_macro2::TokenStream;
    use quote::quote;

    /// Every message for a job with this attribute and body.
    fn check(attr: TokenStream, body: syn::Block) -> Vec<String> {
        let mut diags = Diagnostics::default();
        let config = parse_attribute(attr, Vocabulary::DStream, &mut diags);
        let parsed = config.is_some();
        let config = config.unwrap_or_default();
        let settings = check_config(&config, parsed, Vocabulary::DStream, &mut diags);
        let pipeline = parse_body(&body, Some(&syn::parse_quote!(ssc)), &[], Vocabulary::DStream);
        check_pipeline(
            &pipeline,
            &config,
            settings,
            &syn::parse_quote!(job),
            Some("ssc"),
            &mut diags,
        );
        diags.messages()
    }

    #[test]
    fn a_good_job_has_no_errors() {
        let messages = check(
            quote!(batch = "1s", checkpoint = "/tmp/cp"),
            syn::parse_quote!({
                let pairs = ssc.socket_text_stream(host, port).map(|w| (w, 1));
                pairs.reduce_by_key_and_window(|a, b| a + b, "30s", "10s").print();
                pairs
                    .update_state_by_key(|values, state| Some(values.len()))
                    .print();
            }),
        );
        assert!(messages.is_empty(), "{messages:#?}");
    }

    #[test]
    fn unknown_operators_get_a_suggestion() {
        let messages = check(
            quote!(batch = "1s"),
            syn::parse_quote!({
                ssc.socket_text_strem("h", 1)
                    .map(|x| x)
                    .reduce_by_kye(|a, b| a + b)
                    .reduceByKey(f)
                    // Far from every name: the user's own method, left to rustc.
                    .frobnicate()
                    .print();
            }),
        );
        assert_eq!(
            messages,
            [
                "unknown source `socket_text_strem`\nhelp: did you mean `socket_text_stream`?",
                "unknown operator `reduce_by_kye`\nhelp: did you mean `reduce_by_key`?",
                "unknown operator `reduceByKey`\nhelp: did you mean `reduce_by_key`?",
            ]
        );
    }

    #[test]
    fn operators_on_the_wrong_receiver() {
        let messages = check(
            quote!(batch = "1s"),
            syn::parse_quote!({
                ssc.map(|x| x).print();
                ssc.socket_text_stream("h", 1).socket_text_stream("h", 2).print();
            }),
        );
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert!(messages[0].starts_with("`map` is a stream operator, not a source"));
        assert!(messages[1].starts_with("`socket_text_stream` is a source"));
    }

    #[test]
    fn malformed_durations_are_reported_with_a_fix() {
        let messages = check(
            quote!(batch = "1 secnd"),
            syn::parse_quote!({
                ssc.socket_text_stream("h", 1)
                    .window("10 minuts", "minutes")
                    .print();
            }),
        );
        assert_eq!(messages.len(), 3, "{messages:#?}");
        assert!(messages[0].contains("unknown unit \"secnd\""), "{}", messages[0]);
        assert!(
            messages[0].ends_with("help: did you mean \"1 second\"?"),
            "{}",
            messages[0]
        );
        assert!(
            messages[1].ends_with("help: did you mean \"10 minutes\"?"),
            "{}",
            messages[1]
        );
        assert!(messages[2].contains("missing number"), "{}", messages[2]);
    }

    #[test]
    fn windows_must_be_multiples_of_the_batch_interval() {
        let messages = check(
            quote!(batch = "10s"),
            syn::parse_quote!({
                ssc.socket_text_stream("h", 1).window("45s", "10s").print();
                ssc.socket_text_stream("h", 1)
                    .map(|w| (w, 1))
                    .reduce_by_key_and_window(f, "1 minute", "5s")
                    .print();
            }),
        );
        assert_eq!(
            messages,
            [
                "window length 45s is not a multiple of the batch interval 10s (it is 5s over 40s)\nhelp: use \"40s\" or \"50s\"",
                "window slide 5s is not a multiple of the batch interval 10s (it is 5s short of 10s)\nhelp: use \"10s\"",
            ]
        );
    }

    #[test]
    fn a_window_of_a_window_is_measured_in_its_input_slide() {
        let messages = check(
            quote!(batch = "1s"),
            syn::parse_quote!({
                ssc.socket_text_stream("h", 1)
                    .window("20s", "20s")
                    .window("30s", "20s")
                    .print();
            }),
        );
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(
            messages[0]
                .starts_with("window length 30s is not a multiple of the slide 20s of the `window` it reads"),
            "{}",
            messages[0]
        );
        // The unit is named after the window that changed the slide, as the runtime names it.
        let messages = check(
            quote!(batch = "1s"),
            syn::parse_quote!({
                ssc.socket_text_stream("h", 1)
                    .reduce_by_window(|a, b| a + b, "20s", "20s")
                    .window("40s", "20s")
                    .window("30s", "20s")
                    .print();
            }),
        );
        assert_eq!(
            messages,
            [
                "window length 30s is not a multiple of the slide 20s of the `reduce_by_window` it reads \
              (it is 10s over 20s)\nhelp: use \"20s\" or \"40s\""
            ]
        );
    }

    #[test]
    fn outputs_end_a_chain_and_one_is_required() {
        let messages = check(
            quote!(batch = "1s"),
            syn::parse_quote!({
                let printed = ssc.socket_text_stream("h", 1).print();
                printed.map(|x| x);
            }),
        );
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(messages[0].starts_with("`map` is used after the output operation `print`"));

        let messages = check(
            quote!(batch = "1s"),
            syn::parse_quote!({
                ssc.socket_text_stream("h", 1).map(|x| x);
            }),
        );
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(
            messages[0].starts_with("`job` has no output operation"),
            "{}",
            messages[0]
        );

        // Handed to a helper: the helper may add the output, so the macro cannot tell.
        let messages = check(
            quote!(batch = "1s"),
            syn::parse_quote!({
                write_out(ssc.socket_text_stream("h", 1));
            }),
        );
        assert!(messages.is_empty(), "{messages:#?}");
    }

    #[test]
    fn state_needs_a_checkpoint_for_the_builder() {
        let needs = |attr: TokenStream, body: syn::Block| {
            let mut diags = Diagnostics::default();
            let config = parse_attribute(attr, Vocabulary::DStream, &mut diags).unwrap_or_default();
            let pipeline = parse_body(&body, Some(&syn::parse_quote!(ssc)), &[], Vocabulary::DStream);
            needs_checkpoint(&pipeline, &config).map(|(_, why)| why)
        };
        let body: syn::Block = syn::parse_quote!({
            let pairs = ssc.socket_text_stream("h", 1).map(|w| (w, 1));
            pairs.reduce_by_key_and_window(f, "2s", "1s").print();
            pairs.update_state_by_key(f).print();
        });
        assert_eq!(
            needs(quote!(batch = "1s"), body.clone()),
            Some("keeps state across batches")
        );
        // Not a mistake of the job: its `_on` function runs on a context with a checkpoint.
        assert!(check(quote!(batch = "1s"), body.clone()).is_empty());
        assert_eq!(needs(quote!(batch = "1s", checkpoint = "cp"), body.clone()), None);
        let mut with_call = body;
        with_call
            .stmts
            .insert(0, syn::parse_quote!(ssc.checkpoint("cp")?;));
        assert_eq!(needs(quote!(batch = "1s"), with_call), None);
    }

    #[test]
    fn getters_are_allowed_and_running_the_context_is_not() {
        let messages = check(
            quote!(batch = "1s"),
            syn::parse_quote!({
                let every = ssc.batch_duration();
                let lines = ssc.socket_text_stream("h", 1);
                let slide = lines.slide_duration();
                lines.print();
                ssc.start()?;
            }),
        );
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(
            messages[0].starts_with("`start` cannot be called in the body"),
            "{}",
            messages[0]
        );
    }

    #[test]
    fn a_stream_parameter_is_not_an_operator() {
        let mut diags = Diagnostics::default();
        let block: syn::Block = syn::parse_quote!({
            lines.window("3s", "1s").print();
        });
        let pipeline = parse_body(
            &block,
            Some(&syn::parse_quote!(ssc)),
            &[(syn::parse_quote!(lines), crate::registry::Shape::Stream)],
            Vocabulary::DStream,
        );
        let settings = Settings {
            batch_ms: Some(2_000),
            parallelism: 2,
        };
        let config = JobConfig::default();
        check_pipeline(
            &pipeline,
            &config,
            settings,
            &syn::parse_quote!(job),
            Some("ssc"),
            &mut diags,
        );
        // `lines` may have any slide, so "3s" is not checked against the 2s batch.
        assert!(diags.is_empty(), "{:#?}", diags.messages());
    }

    #[test]
    fn attribute_values_are_checked() {
        let messages = check(
            quote!(parallelism = 0),
            syn::parse_quote!({
                ssc.socket_text_stream("h", 1).print();
            }),
        );
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert!(messages[0].starts_with("missing the batch interval"));
        assert!(messages[1].starts_with("`parallelism` must be a whole number of at least 1"));
    }

    #[test]
    fn every_mistake_is_reported_at_once() {
        let messages = check(
            quote!(batch = "10s", paralelism = 2),
            syn::parse_quote!({
                ssc.socket_text_stream("h", 1)
                    .window("10 minuts", "15s")
                    .map(|x| x);
            }),
        );
        assert_eq!(messages.len(), 4, "{messages:#?}");
    }
}
