//! Method names that are not methods of what they are called on: a near miss or Spark's
//! spelling ("did you mean"), a method of another type or of the other vocabulary ("it belongs
//! to …"), a method the runtime does not have yet. Each is reported in place of the call (see
//! `diagnostic.rs`), so rustc does not report it again; a name far from every name is the
//! user's own method and is left to rustc.

use crate::diagnostic::Diagnostics;
use crate::model::{Input, Node};
use crate::registry::{self, Category, Kind, Resolved, Shape};

/// Reports a call of a DStream job whose name does not read as an operator of what it is
/// called on. `context` is the context parameter's name, for the help lines.
pub(crate) fn report_dstream(node: &Node, context: &str, diags: &mut Diagnostics) {
    let name = node.name.to_string();
    let on_context = node.input == Input::Context;
    let span = node.name.span();
    let (message, help) = match node.resolved {
        Resolved::Known | Resolved::User => return,
        Resolved::Misspelt(meant) => (
            format!(
                "unknown {} `{name}`",
                if on_context { "source" } else { "operator" }
            ),
            format!("did you mean `{meant}`?"),
        ),
        Resolved::Misplaced => match registry::lookup(&name) {
            Some(op) if op.category == Category::Lifecycle => (
                format!("`{name}` cannot be called in the body of a #[stream_job] function"),
                format!(
                    "the body only builds the pipeline; call `.{name}(..)` on the context the job \
                     function returns"
                ),
            ),
            Some(_) if on_context => (
                format!("`{name}` is a stream operator, not a source"),
                format!("make a stream first, e.g. `{context}.socket_text_stream(host, port).{name}(..)`"),
            ),
            Some(_) => (
                format!("`{name}` is a source: call it on the streaming context"),
                format!("write `{context}.{name}(..)`"),
            ),
            None => {
                let query_method = registry::structured_only(&name).map_or(name.as_str(), |m| m.name);
                (
                    format!("`{name}` belongs to Structured Streaming queries, not DStream jobs"),
                    match dstream_counterpart(query_method) {
                        Some(ours) => format!("in a DStream job, use {ours}"),
                        None => "write the job as a query: take `session: &Session` as the first parameter \
                                 and start from `session.read_stream::<T>()`"
                            .to_owned(),
                    },
                )
            }
        },
    };
    diags.replacing(node.call, span, message, Some(help));
}

/// Reports a call of a query whose name does not read as a method of what it is called on.
pub(crate) fn report_structured(node: &Node, diags: &mut Diagnostics) {
    let name = node.name.to_string();
    let span = node.name.span();
    let on = node.on;
    let snake = registry::camel_to_snake(&name);
    let unknown = format!("unknown operator `{name}` on a `{}`", on.type_name());
    let (message, help) = match node.resolved {
        Resolved::Known | Resolved::User => return,
        Resolved::Misspelt(meant) => (unknown, misspelt_help(node, meant)),
        Resolved::Misplaced if registry::NOT_YET_STRUCTURED.contains(&snake.as_str()) => (
            format!("`{name}` is not supported in Structured Streaming queries yet"),
            "the runtime's queries have sources, map/filter/flat_map, union, with_watermark, \
             group_by/group_by_window aggregations and sinks; for this, use the DStream \
             vocabulary or do it in foreach_batch"
                .to_owned(),
        ),
        Resolved::Misplaced => {
            if let (Shape::Dataset, Some(sink)) = (on, registry::sink_on_dataset(&name)) {
                (
                    unknown,
                    format!(
                        "a dataset is written by its writer: `.write_stream().{}({})`",
                        sink.name,
                        sink_arguments(sink.name)
                    ),
                )
            } else if on == Shape::Writer && snake == "format" {
                (unknown, format_help(node))
            } else if let Some(elsewhere) = registry::STRUCTURED
                .iter()
                .find(|m| m.name == snake && !matches!(m.kind, Kind::Passthrough | Kind::Accessor))
            {
                (unknown, elsewhere_help(&name, elsewhere.on, on))
            } else if let Some(op) = registry::dstream_only(&name) {
                (
                    format!(
                        "`{name}` is a DStream operator, not a method of a query's `{}`",
                        on.type_name()
                    ),
                    match structured_counterpart(op.name) {
                        Some(ours) => format!("in a query, use {ours}"),
                        None => {
                            "write it as a DStream job (first parameter `ssc: &StreamingContext`), or do \
                                 it in `.foreach_batch(..)`"
                                .to_owned()
                        }
                    },
                )
            } else {
                (
                    unknown,
                    "see the operator list in the docs of `streamflow::stream_job`".to_owned(),
                )
            }
        }
    };
    diags.replacing(node.call, span, message, Some(help));
}

/// "did you mean …?", with the argument Spark passes as a string spelled as ours
/// (`outputMode("update")` → `.update()`, the typed mode, or `.output_mode(OutputMode::Update)`).
fn misspelt_help(node: &Node, meant: &str) -> String {
    if meant == "output_mode" {
        if let Some(mode) = node.args.first().and_then(string_mode) {
            return format!(
                "did you mean `.{}()` (checked against the query's shape at compile time) or `.output_mode(OutputMode::{})`?",
                mode.key(),
                mode.name()
            );
        }
    }
    format!("did you mean `{meant}`?")
}

/// The mode a string argument names (`"update"`), if it is one.
pub(crate) fn string_mode(arg: &crate::model::Arg) -> Option<registry::Mode> {
    match arg {
        crate::model::Arg::Str(text) => registry::Mode::parse(text.value().trim()),
        _ => None,
    }
}

/// The sink a writer's `format("console")` names, if the macro can read it.
pub(crate) fn format_sink(node: &Node) -> Option<&'static registry::Method> {
    let crate::model::Arg::Str(text) = node.args.first()? else {
        return None;
    };
    let format = text.value().trim().to_ascii_lowercase();
    let sink = match format.as_str() {
        "console" => "console",
        "memory" => "memory",
        "json" => "json",
        "csv" => "csv",
        "foreach" => "foreach",
        _ => return None,
    };
    registry::structured(sink, Shape::Writer)
}

/// `.format("console")` on a writer: the sink is a method of its own here.
fn format_help(node: &Node) -> String {
    match format_sink(node) {
        Some(sink) => format!(
            "each sink is a method of the writer: write `.{}({})`",
            sink.name,
            sink_arguments(sink.name)
        ),
        None => "each sink is a method of the writer: `.console()`, `.memory(name)`, `.foreach_batch(..)`, \
                 `.foreach(..)`, `.json(dir)` or `.csv(dir)`"
            .to_owned(),
    }
}

fn sink_arguments(sink: &str) -> &'static str {
    match sink {
        "memory" => "name",
        "json" | "csv" => "dir",
        "foreach_batch" => "|rows, batch_id| ..",
        "foreach" => "writer",
        "sink" => "your_sink",
        _ => "",
    }
}

/// Where a method of another type of the vocabulary belongs.
fn elsewhere_help(name: &str, belongs: Shape, on: Shape) -> String {
    match (belongs, on) {
        (Shape::Writer, _) => format!("`{name}` is a method of the writer: call `.write_stream()` first"),
        (Shape::Grouped, _) => format!("`{name}` aggregates groups: call `.group_by(|r| key)` first"),
        (Shape::Reader, _) => {
            format!("`{name}` is a method of `session.read_stream::<T>()`, called before the source")
        }
        (Shape::Dataset, Shape::Writer) => {
            format!("`{name}` is a method of the dataset: call it before `.write_stream()`")
        }
        (Shape::Dataset, Shape::Grouped) => {
            format!("`{name}` is a method of the dataset: aggregate the groups first, e.g. `.count()`")
        }
        (Shape::Dataset, _) => {
            format!("`{name}` is a method of the dataset: pick a source first, e.g. `.memory(&input)`")
        }
        _ => "see the operator list in the docs of `streamflow::stream_job`".to_owned(),
    }
}

/// What a DStream job writes for a query's method, when there is a counterpart.
fn dstream_counterpart(query_method: &str) -> Option<&'static str> {
    Some(match query_method {
        "read_stream" => "a source on the context, e.g. `ssc.socket_text_stream(host, port)`",
        "group_by" | "group_by_ref" => "`.map(|r| (key, value)).reduce_by_key(..)` or `.group_by_key()`",
        "group_by_value" => "`.count_by_value()`",
        "group_by_window" | "group_by_window_ref" => "`.reduce_by_key_and_window(f, length, slide)`",
        "write_stream" | "console" | "console_with" => "an output operation, e.g. `.print()`",
        _ => return None,
    })
}

/// What a query writes for a DStream operator, when there is a counterpart.
fn structured_counterpart(operator: &str) -> Option<&'static str> {
    Some(match operator {
        "reduce_by_key" | "reduce_by_key_into" | "combine_by_key" | "group_by_key" => {
            "`.group_by(|r| key)` and an aggregation: `.count()`, `.sum(|r| value)`, `.agg(aggregator)`"
        }
        "count_by_value" => "`.group_by_value().count()`",
        "window"
        | "reduce_by_window"
        | "reduce_by_key_and_window"
        | "count_by_window"
        | "count_by_value_and_window"
        | "group_by_key_and_window" => {
            "`.group_by_window(|r| key, window(size, slide))` and an aggregation, over the event time \
             declared by `.with_watermark(..)`"
        }
        "print" | "print_n" => "`.write_stream().console()`",
        "foreach_batch" | "foreach_partition" | "save_as_text_files" => {
            "a sink of the writer: `.write_stream().foreach_batch(..)`, `.json(dir)` or `.csv(dir)`"
        }
        "socket_text_stream" => "`session.read_stream::<String>().socket(host, port)`",
        "text_file_stream" => "`session.read_stream::<T>().files(dir)`",
        "rate_stream" | "generator_stream" => "`session.read_stream::<RateRow>().rate(rows_per_second)`",
        _ => return None,
    })
}
