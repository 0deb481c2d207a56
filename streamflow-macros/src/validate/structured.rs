//! The checks of a Structured Streaming query: the runtime's own `start()` checks
//! (`streamflow/src/structured/output_mode.rs`, `writer.rs`, `window.rs`, `dataset.rs`,
//! `aggregate.rs`), made at compile time with the same rules and, where it fits a compiler
//! message, the same words.
//!
//! Like the runtime, this follows each value the body builds — reader, dataset, grouped
//! dataset, writer — keeping what the rules need: the operators, the aggregations, whether a
//! watermark and an event time are declared. The rules about output modes apply to the writer
//! the body ends with, which is the query the generated function starts.

use proc_macro2::{Span, TokenStream};
use syn::{Expr, ExprLit, Ident, Lit};

use super::{format_ms, parse_literal};
use crate::diagnostic::Diagnostics;
use crate::model::{Arg, Input, JobConfig, Node, Pipeline, Tail, TriggerAttr};
use crate::parse::duration_constructor;
use crate::registry::{self, Kind, Method, Mode, Setting, Shape};

/// What a query reads and does, as far as the rules go (the runtime's `Logical`).
#[derive(Clone, Default)]
struct Logical {
    /// Node names, as the runtime's message on Complete mode lists them.
    ops: Vec<String>,
    aggregations: Vec<Aggregation>,
    watermarked: bool,
    /// Whether the records carry an event time (`with_watermark`/`with_event_time`, and no
    /// `map`/`flat_map` since).
    event_time: bool,
    /// Built from a dataset handed in: what it holds is not known here.
    opaque: bool,
}

impl Logical {
    fn then(&self, op: &str) -> Logical {
        let mut next = self.clone();
        next.ops.push(op.to_owned());
        next
    }
}

#[derive(Clone)]
struct Aggregation {
    /// `group_by_window(..).count()`, as the runtime names it.
    operator: String,
    event_time_window: bool,
    watermarked: bool,
    /// The aggregation's method name.
    span: Span,
}

/// Where the output mode, trigger or name was given in the body.
#[derive(Clone)]
struct BodySetting {
    span: Span,
    /// For the output mode: the mode, if written as `OutputMode::X`.
    mode: Option<Mode>,
}

#[derive(Clone)]
struct Writer {
    logical: Logical,
    /// `write_stream`.
    span: Span,
    sink: Option<Sink>,
    mode: Option<BodySetting>,
    trigger: Option<BodySetting>,
    name: Option<BodySetting>,
}

#[derive(Clone)]
struct Sink {
    name: String,
    modes: Option<&'static [Mode]>,
    span: Span,
}

/// What each node of the body is, for the rules.
#[derive(Clone)]
enum Value {
    Session,
    Reader,
    Dataset(Logical),
    Grouped {
        logical: Logical,
        window: bool,
        span: Span,
    },
    Writer(Box<Writer>),
    /// A running query, or anything the macro stopped following.
    Unknown,
}

impl Value {
    /// The same value, made by something the macro does not understand.
    fn opaque(self) -> Value {
        match self {
            Value::Dataset(mut logical) => {
                logical.opaque = true;
                Value::Dataset(logical)
            }
            Value::Grouped {
                mut logical,
                window,
                span,
            } => {
                logical.opaque = true;
                Value::Grouped {
                    logical,
                    window,
                    span,
                }
            }
            Value::Writer(mut writer) => {
                writer.logical.opaque = true;
                Value::Writer(writer)
            }
            other => other,
        }
    }
}

/// Where a diagnostic points: a span in the body, or tokens of the attribute.
enum At<'a> {
    Span(Span),
    Tokens(&'a TokenStream),
}

fn report(diags: &mut Diagnostics, at: &At<'_>, message: impl AsRef<str>, help: String) {
    match at {
        At::Span(span) => diags.error(*span, message, Some(help)),
        At::Tokens(tokens) => diags.error_spanned(*tokens, message, Some(help)),
    }
}

/// Checks a query's attribute and body.
pub(crate) fn check_query(pipeline: &Pipeline, config: &JobConfig, job: &Ident, diags: &mut Diagnostics) {
    if let Some(dir) = &config.checkpoint {
        diags.error(
            dir.span(),
            "`checkpoint` is not supported for Structured Streaming queries yet",
            Some(
                "the runtime cannot keep a query's offsets and state in a directory yet; to carry \
                 on after a restart, keep `query.resume_state()` and pass it to \
                 `.resume_from(state)` on the writer"
                    .into(),
            ),
        );
    }
    if let Some(given) = &config.trigger {
        if let TriggerAttr::ProcessingTime(interval) = &given.value {
            parse_literal(interval, diags);
        }
    }
    let mut values: Vec<Value> = Vec::with_capacity(pipeline.nodes.len());
    for node in &pipeline.nodes {
        let value = step(pipeline, &values, node, job, diags);
        values.push(value);
    }
    match pipeline.tail {
        Tail::Node(id) => ending(&values[id], &pipeline.nodes[id], config, job, diags),
        Tail::Discarded(id, semi) => {
            if let Value::Writer(_) = &values[id] {
                diags.error(
                    semi,
                    "the query's writer must be the value of the body",
                    Some(format!(
                        "remove this `;`: the generated `{job}(session, ..)` starts the writer the body ends with"
                    )),
                );
                ending(&values[id], &pipeline.nodes[id], config, job, diags);
            } else if !pipeline.escapes {
                missing_writer(job, diags);
            }
        }
        Tail::Missing if !pipeline.escapes => missing_writer(job, diags),
        Tail::Missing | Tail::Other => {}
    }
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

/// The value one call makes, its mistakes reported.
fn step(pipeline: &Pipeline, values: &[Value], node: &Node, job: &Ident, diags: &mut Diagnostics) -> Value {
    let (on, receiver) = match node.input {
        Input::Parameter => {
            return Value::Dataset(Logical {
                ops: vec![node.name.to_string()],
                opaque: true,
                ..Logical::default()
            });
        }
        Input::Context => (Shape::Session, Value::Session),
        Input::Stream(parent) => (pipeline.nodes[parent].shape, values[parent].clone()),
    };
    if on == Shape::Unknown || matches!(receiver, Value::Unknown) {
        return Value::Unknown;
    }
    let name = node.name.to_string();
    let Some(method) = registry::structured(&name, on) else {
        unknown(node, on, diags);
        // Go on with the same kind of value if the closest method keeps it (parse did the
        // same), but what it did is not known: no rule that depends on it is checked.
        return if node.shape == on {
            receiver.opaque()
        } else {
            Value::Unknown
        };
    };
    let span = node.name.span();
    match (method.kind, receiver) {
        (Kind::ReadStream | Kind::ReaderOption, _) => Value::Reader,
        (Kind::Source(source), _) => Value::Dataset(Logical {
            ops: vec![source.to_owned()],
            ..Logical::default()
        }),
        (Kind::Stateless, Value::Dataset(logical)) => Value::Dataset(logical.then(&name)),
        (Kind::Retyping, Value::Dataset(logical)) => {
            let mut next = logical.then(&name);
            next.event_time = false;
            Value::Dataset(next)
        }
        (Kind::Union, Value::Dataset(logical)) => {
            let mut next = logical.then("union");
            for other in &node.other_inputs {
                match &values[*other] {
                    Value::Dataset(other) => {
                        next.aggregations.extend(other.aggregations.iter().cloned());
                        next.watermarked |= other.watermarked;
                        next.event_time |= other.event_time;
                        next.opaque |= other.opaque;
                    }
                    _ => next.opaque = true,
                }
            }
            if node.other_inputs.is_empty() {
                next.opaque = true;
            }
            Value::Dataset(next)
        }
        (Kind::Watermark, Value::Dataset(logical)) => {
            if let Some(delay) = node.args.get(1) {
                duration(delay, diags);
            }
            let mut next = logical.then("with_watermark");
            next.watermarked = true;
            next.event_time = true;
            Value::Dataset(next)
        }
        (Kind::EventTime, Value::Dataset(mut logical)) => {
            logical.event_time = true;
            Value::Dataset(logical)
        }
        (Kind::Group { window }, Value::Dataset(logical)) => {
            if window {
                if let Some(spec) = node.exprs.get(1) {
                    window_spec(spec, diags);
                }
            }
            Value::Grouped {
                logical,
                window,
                span,
            }
        }
        (
            Kind::Aggregation(column),
            Value::Grouped {
                logical,
                window,
                span: group_span,
            },
        ) => {
            let group = if window { "group_by_window" } else { "group_by" };
            let operator = format!("{group}(..).{column}()");
            if window && !logical.event_time && !logical.opaque {
                diags.error(
                    group_span,
                    format!("`{operator}` needs the event time of each record"),
                    Some(
                        "call .with_watermark(|r| r.ts, \"10 minutes\") or .with_event_time(|r| r.ts) \
                         before group_by_window (after any `map`/`flat_map`: a change of type drops \
                         the event time)"
                            .into(),
                    ),
                );
            }
            let mut next = logical.then(&operator);
            next.aggregations.push(Aggregation {
                operator,
                event_time_window: window,
                watermarked: logical.watermarked,
                span,
            });
            next.event_time = false;
            Value::Dataset(next)
        }
        (Kind::WriteStream, Value::Dataset(logical)) => Value::Writer(Box::new(Writer {
            logical,
            span,
            sink: None,
            mode: None,
            trigger: None,
            name: None,
        })),
        (Kind::Setting(setting), Value::Writer(mut writer)) => {
            let given = Some(BodySetting {
                span,
                mode: (setting == Setting::OutputMode)
                    .then(|| node.exprs.first().and_then(mode_of))
                    .flatten(),
            });
            match setting {
                Setting::OutputMode => writer.mode = given,
                Setting::Trigger => {
                    if let Some(trigger) = node.exprs.first() {
                        body_trigger(trigger, diags);
                    }
                    writer.trigger = given;
                }
                Setting::QueryName => writer.name = given,
                Setting::IdleTimeout => {
                    if let Some(timeout) = node.args.first() {
                        duration(timeout, diags);
                    }
                }
                Setting::Other => {}
            }
            Value::Writer(writer)
        }
        (Kind::Sink(modes), Value::Writer(mut writer)) => {
            writer.sink = Some(Sink { name, modes, span });
            Value::Writer(writer)
        }
        (Kind::Start, _) => {
            diags.error(
                span,
                "`start` cannot be called in the body of a #[stream_job] function",
                Some(format!(
                    "end the body with the writer: the generated `{job}(session, ..)` applies the \
                     attribute's settings and starts it"
                )),
            );
            Value::Unknown
        }
        _ => Value::Unknown,
    }
}

/// Reports a method that is not one of `on`'s.
fn unknown(node: &Node, on: Shape, diags: &mut Diagnostics) {
    let name = node.name.to_string();
    let span = node.name.span();
    if registry::NOT_YET_STRUCTURED.contains(&name.as_str()) {
        diags.error(
            span,
            format!("`{name}` is not supported in Structured Streaming queries yet"),
            Some(
                "the runtime's queries have sources, map/filter/flat_map, union, with_watermark, \
                 group_by/group_by_window aggregations and sinks; for this, use the DStream \
                 vocabulary or do it in foreach_batch"
                    .into(),
            ),
        );
        return;
    }
    if let Some(suggestion) = registry::structured_suggestion(&name, on) {
        diags.error(
            span,
            format!("unknown operator `{name}` on a `{}`", on.type_name()),
            Some(format!("did you mean `{}`?", suggestion.name)),
        );
        return;
    }
    // A method of another type of the vocabulary: say where it belongs.
    let elsewhere: Option<&Method> = registry::STRUCTURED
        .iter()
        .find(|m| m.name == name && !matches!(m.kind, Kind::Passthrough));
    let help = match elsewhere.map(|m| m.on) {
        Some(Shape::Writer) => format!("`{name}` is a method of the writer: call `.write_stream()` first"),
        Some(Shape::Grouped) => format!("`{name}` aggregates groups: call `.group_by(|r| key)` first"),
        Some(Shape::Reader) => {
            format!("`{name}` is a method of `session.read_stream::<T>()`, called before the source")
        }
        Some(Shape::Dataset) if on == Shape::Writer => {
            format!("`{name}` is a method of the dataset: call it before `.write_stream()`")
        }
        Some(Shape::Dataset) if on == Shape::Grouped => {
            format!("`{name}` is a method of the dataset: aggregate the groups first, e.g. `.count()`")
        }
        Some(Shape::Dataset) => {
            format!("`{name}` is a method of the dataset: pick a source first, e.g. `.memory(&input)`")
        }
        _ => "see the operator list in the docs of `streamflow::stream_job`".into(),
    };
    diags.error(
        span,
        format!("unknown operator `{name}` on a `{}`", on.type_name()),
        Some(help),
    );
}

/// The checks of the writer the body ends with: its sink and the output-mode rules.
fn ending(value: &Value, node: &Node, config: &JobConfig, job: &Ident, diags: &mut Diagnostics) {
    let span = node.name.span();
    let writer = match value {
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
        Value::Session | Value::Unknown => return,
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
    // The mode the query runs in: the attribute's, the body's, or the runtime's default.
    let (mode, at, from_attribute) = match (&config.output_mode, &writer.mode) {
        (Some(given), _) => (given.value, At::Tokens(&given.tokens), true),
        (
            None,
            Some(BodySetting {
                mode: Some(mode),
                span,
                ..
            }),
        ) => (*mode, At::Span(*span), false),
        // Chosen by code the macro cannot read: the runtime checks it.
        (None, Some(_)) => return,
        (None, None) => (Mode::Append, At::Span(job.span()), true),
    };
    let use_mode = |mode: Mode| {
        if from_attribute {
            format!("`output_mode = {}`", mode.key())
        } else {
            format!("`.output_mode(OutputMode::{})`", mode.variant())
        }
    };
    let logical = &writer.logical;
    if !logical.opaque {
        if let [first, second, ..] = logical.aggregations.as_slice() {
            diags.error(
                second.span,
                format!(
                    "multiple streaming aggregations are not supported: `{}` aggregates the result of `{}`",
                    second.operator, first.operator
                ),
                Some("aggregate once, or aggregate the second time in foreach_batch".into()),
            );
        }
        match (logical.aggregations.first(), mode) {
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
                diags.error(
                    agg.span,
                    format!(
                        "append output mode not supported when there are streaming aggregations \
                         without watermark: `{}` cannot run in Append mode because {why}",
                        agg.operator
                    ),
                    Some(format!(
                        "{fix}, or use {} or {}",
                        use_mode(Mode::Update),
                        use_mode(Mode::Complete)
                    )),
                );
            }
            (None, Mode::Complete) => report(
                diags,
                &at,
                format!(
                    "complete output mode not supported when there are no streaming aggregations: \
                     the query `{}` has no aggregation to keep whole",
                    logical.ops.join(" -> ")
                ),
                format!(
                    "use {} or {}, or add .group_by(..).count()",
                    use_mode(Mode::Append),
                    use_mode(Mode::Update)
                ),
            ),
            _ => {}
        }
    }
    if let Some(allowed) = sink.modes {
        if !allowed.contains(&mode) {
            let names: Vec<&str> = allowed.iter().map(|m| m.variant()).collect();
            diags.error(
                sink.span,
                format!(
                    "the `{}` sink does not support {} output mode: it supports {}",
                    sink.name,
                    mode.variant(),
                    names.join(", ")
                ),
                Some(format!(
                    "use {}, or a sink that takes every mode: console, memory, foreach_batch, foreach",
                    allowed
                        .iter()
                        .map(|m| use_mode(*m))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )),
            );
        }
    }
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

/// `OutputMode::Complete` (any path ending so).
fn mode_of(expr: &Expr) -> Option<Mode> {
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

/// `Trigger::processing_time("10 seconds")` in the body: its interval parses.
fn body_trigger(expr: &Expr, diags: &mut Diagnostics) {
    let Expr::Call(call) = expr else { return };
    let Expr::Path(func) = &*call.func else { return };
    if func
        .path
        .segments
        .last()
        .is_some_and(|last| last.ident == "processing_time")
    {
        if let Some(Expr::Lit(ExprLit {
            lit: Lit::Str(text), ..
        })) = call.args.first()
        {
            parse_literal(text, diags);
        }
    }
}

/// A duration argument in milliseconds, if the macro can read it; a malformed literal is
/// reported.
fn duration(arg: &Arg, diags: &mut Diagnostics) -> Option<(u64, Span)> {
    super::duration_arg(arg, diags)
}

/// The same for an expression (inside a window spec).
fn duration_expr(expr: &Expr, diags: &mut Diagnostics) -> Option<(u64, Span)> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text), ..
        }) => parse_literal(text, diags).map(|ms| (ms, text.span())),
        Expr::Reference(inner) => duration_expr(&inner.expr, diags),
        other => duration_constructor(other).map(|ms| (ms, syn::spanned::Spanned::span(other))),
    }
}

/// Whether a window spec's duration parsed: `Some(None)` when it is not a literal.
type Part = Option<(u64, Span)>;

/// Checks `window(size, slide)`, `tumbling_window(size)` or `session_window(gap)`, with an
/// optional `.start_offset("..")`, as `WindowSpec`'s own validation does.
fn window_spec(expr: &Expr, diags: &mut Diagnostics) {
    let mut offset: Option<(i64, Span)> = None;
    let mut malformed = false;
    let mut call_expr = expr;
    if let Expr::MethodCall(call) = expr {
        if call.method == "start_offset" {
            if let Some(Expr::Lit(ExprLit {
                lit: Lit::Str(text), ..
            })) = call.args.first()
            {
                let value = text.value();
                let trimmed = value.trim();
                let (negative, magnitude) = match trimmed.strip_prefix('-') {
                    Some(rest) => (true, rest),
                    None => (false, trimmed),
                };
                let literal = syn::LitStr::new(magnitude, text.span());
                match parse_literal(&literal, diags) {
                    Some(ms) => {
                        let ms = i64::try_from(ms).unwrap_or(i64::MAX);
                        offset = Some((if negative { -ms } else { ms }, text.span()));
                    }
                    None => malformed = true,
                }
            }
            call_expr = &call.receiver;
        }
    }
    let Expr::Call(call) = call_expr else { return };
    let Expr::Path(func) = &*call.func else { return };
    let Some(function) = func.path.segments.last().map(|last| last.ident.to_string()) else {
        return;
    };
    let args: Vec<&Expr> = call.args.iter().collect();
    let mut parts: Vec<Part> = Vec::with_capacity(args.len());
    for arg in &args {
        let part = duration_expr(arg, diags);
        if part.is_none() && matches!(arg, Expr::Lit(_)) {
            malformed = true;
        }
        parts.push(part);
    }
    if malformed {
        // Like the runtime: geometry is checked only once every duration parsed.
        return;
    }
    match (function.as_str(), parts.as_slice()) {
        ("window", [size, slide]) => geometry(*size, *slide, offset, diags),
        ("tumbling_window", [size]) => geometry(*size, *size, offset, diags),
        ("session_window", [Some((0, span))]) => diags.error(
            *span,
            "the session gap must be greater than zero",
            Some("a session lasts while events come less than the gap apart: use e.g. \"5 minutes\"".into()),
        ),
        _ => {}
    }
}

/// `WindowSpec`'s geometry rules, first failing rule only, as the runtime reports them.
fn geometry(size: Part, slide: Part, offset: Option<(i64, Span)>, diags: &mut Diagnostics) {
    let (Some((size, size_span)), Some((slide, slide_span))) = (size, slide) else {
        return;
    };
    if size == 0 {
        diags.error(
            size_span,
            "the window size must be greater than zero",
            Some("use e.g. \"10 minutes\"".into()),
        );
    } else if slide == 0 {
        diags.error(
            slide_span,
            "the window slide must be greater than zero",
            Some(format!("use at most the size, e.g. \"{}\"", format_ms(size))),
        );
    } else if slide > size {
        diags.error(
            slide_span,
            format!(
                "the window slide ({}) must be less than or equal to the window size ({})",
                format_ms(slide),
                format_ms(size)
            ),
            Some(format!(
                "a slide larger than the size would skip events between windows: use a slide of \
                 at most \"{}\", or swap the two if the size came second",
                format_ms(size)
            )),
        );
    } else if let Some((offset, span)) = offset {
        if offset.unsigned_abs() >= slide {
            let shown = if offset < 0 {
                format!("-{}", format_ms(offset.unsigned_abs()))
            } else {
                format_ms(offset.unsigned_abs())
            };
            diags.error(
                span,
                format!(
                    "the absolute value of the window start offset ({shown}) must be less than the slide ({})",
                    format_ms(slide)
                ),
                Some(match offset.unsigned_abs() % slide {
                    0 => "an offset of whole slides gives the windows of no offset: remove `.start_offset(..)`"
                        .to_owned(),
                    rest => format!(
                        "an offset of a whole slide gives the same windows: use the remainder, \"{}{}\"",
                        if offset < 0 { "-" } else { "" },
                        format_ms(rest)
                    ),
                }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Vocabulary;
    use crate::parse::{parse_attribute, parse_body};
    use quote::quote;

    fn check(attr: TokenStream, body: syn::Block) -> Vec<String> {
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
    fn every_mistake_of_a_query_is_reported_at_once() {
        let messages = check(
            quote!(output_mode = complete, checkpoint = "cp"),
            syn::parse_quote!({
                session
                    .read_stream::<Word>()
                    .memory(&input)
                    .with_watermark(|w| w.ts, "10 minuts")
                    .filtr(|w| true)
                    .map(|w| w.word)
                    .write_stream()
                    .json("out")
            }),
        );
        let firsts: Vec<&str> = messages.iter().map(|m| m.lines().next().unwrap_or("")).collect();
        assert_eq!(
            firsts,
            [
                "`checkpoint` is not supported for Structured Streaming queries yet",
                "malformed duration literal: unknown unit \"minuts\" in \"10 minuts\" (expected ms, s, min, h, d, w or their long names)",
                "unknown operator `filtr` on a `Dataset`",
                // After an unknown operator the mode rules are not checked; the sink's are.
                "the `json` sink does not support Complete output mode: it supports Append",
            ]
        );
    }

    #[test]
    fn a_mode_the_macro_cannot_read_is_left_to_the_runtime() {
        let messages = check(
            quote!(),
            syn::parse_quote!({
                session
                    .read_stream::<Word>()
                    .memory(&input)
                    .group_by(|w| w.word.clone())
                    .count()
                    .write_stream()
                    .output_mode(mode)
                    .console()
            }),
        );
        assert!(messages.is_empty(), "{messages:#?}");
        // Without it, the default (Append) applies, as in the runtime.
        let messages = check(
            quote!(),
            syn::parse_quote!({
                session
                    .read_stream::<Word>()
                    .memory(&input)
                    .group_by(|w| w.word.clone())
                    .count()
                    .write_stream()
                    .console()
            }),
        );
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(messages[0].starts_with("append output mode not supported"));
    }
}
