//! Each call of the body: the value it makes, its mistakes reported; and for an unknown
//! method, the closest one or the type it belongs to.

use syn::Ident;

use super::value::{Aggregation, BodySetting, Logical, Sink, Value, Writer};
use super::{output_mode, trigger, watermark, window};
use crate::diagnostic::Diagnostics;
use crate::model::{Input, Node, Pipeline};
use crate::output_mode_rules;
use crate::registry::{self, Kind, Method, Setting, Shape};

/// The value one call makes, its mistakes reported.
pub(super) fn step(
    pipeline: &Pipeline,
    values: &[Value],
    node: &Node,
    job: &Ident,
    diags: &mut Diagnostics,
) -> Value {
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
                watermark::check_duration(delay, diags);
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
                    window::check_spec(spec, diags);
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
                watermark::missing_event_time(&operator, group_span, diags);
            }
            let mut next = logical.then(&operator);
            next.aggregations.push(Aggregation {
                facts: output_mode_rules::Aggregation {
                    operator,
                    event_time_window: window,
                    watermarked: logical.watermarked,
                },
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
                    .then(|| node.exprs.first().and_then(output_mode::mode_of))
                    .flatten(),
            });
            match setting {
                Setting::OutputMode => writer.mode = given,
                Setting::Trigger => {
                    if let Some(trigger) = node.exprs.first() {
                        trigger::check_body(trigger, diags);
                    }
                    writer.trigger = given;
                }
                Setting::QueryName => writer.name = given,
                Setting::IdleTimeout => {
                    if let Some(timeout) = node.args.first() {
                        watermark::check_duration(timeout, diags);
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

#[cfg(test)]
mod tests {
    use super::super::words;
    use quote::quote;

    #[test]
    fn unknown_methods_get_the_closest_name_or_their_type() {
        let messages = words(quote!(), quote!(.fliter(|w| true).console()));
        assert_eq!(
            messages,
            [
                "unknown operator `fliter` on a `Dataset`\nhelp: did you mean `filter`?",
                "unknown operator `console` on a `Dataset`\nhelp: `console` is a method of the writer: \
                 call `.write_stream()` first",
            ]
        );
        let messages = words(quote!(), quote!(.count().write_stream().console()));
        assert!(
            messages[0].ends_with("help: `count` aggregates groups: call `.group_by(|r| key)` first"),
            "{messages:#?}"
        );
    }

    #[test]
    fn what_the_runtime_cannot_do_yet_is_said_so() {
        let messages = words(quote!(), quote!(.drop_duplicates().write_stream().console()));
        assert!(
            messages[0].starts_with("`drop_duplicates` is not supported in Structured Streaming queries yet"),
            "{messages:#?}"
        );
    }

    #[test]
    fn the_body_does_not_start_the_query() {
        let messages = words(quote!(), quote!(.write_stream().console().start()));
        assert!(
            messages[0].starts_with("`start` cannot be called in the body of a #[stream_job] function"),
            "{messages:#?}"
        );
    }
}
