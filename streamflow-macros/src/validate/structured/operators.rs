//! Each call of the body: the value it makes, its mistakes reported; and for an unknown
//! method, the closest one or the type it belongs to.

use syn::Ident;

use super::value::{Aggregation, BodySetting, Join, Logical, Sink, Value, Writer};
use super::{output_mode, trigger, watermark, window};
use crate::diagnostic::Diagnostics;
use crate::model::{Input, Node};
use crate::output_mode_rules;
use crate::registry::{self, Kind, Mode, Resolved, Setting, Shape};
use crate::validate::names;

/// The value one call makes, its mistakes reported.
pub(super) fn step(values: &[Value], node: &Node, job: &Ident, diags: &mut Diagnostics) -> Value {
    let receiver = match node.input {
        // What a loop left in a binding: what one pass of the loop made (the loop's operators
        // are the macro's to see; how many times it runs is not).
        Input::Built if node.name == "loop" => {
            return node
                .other_inputs
                .first()
                .map_or(Value::Opaque, |last| values[*last].clone());
        }
        Input::Parameter | Input::Built => return Value::Opaque,
        Input::Branch => {
            return Value::Branch(node.other_inputs.iter().map(|arm| values[*arm].clone()).collect());
        }
        Input::Context => Value::Session,
        Input::Stream(parent) => values[parent].clone(),
    };
    let others: Vec<Value> = node
        .other_inputs
        .iter()
        .map(|other| values[*other].clone())
        .collect();
    call(receiver, &others, node, job, diags)
}

/// The value a call makes on `receiver` (with `others`, the values of its other inputs), its
/// mistakes reported.
fn call(receiver: Value, others: &[Value], node: &Node, job: &Ident, diags: &mut Diagnostics) -> Value {
    let on = node.on;
    let receiver = match receiver {
        // Each arm of a branch is its own query: the call applies to each.
        Value::Branch(arms) => {
            return Value::Branch(
                arms.into_iter()
                    .map(|arm| call(arm, others, node, job, diags))
                    .collect(),
            );
        }
        // A value made by code the macro cannot see: what the method tells it is, with
        // contents unknown.
        Value::Opaque => match on {
            Shape::Dataset => Value::Dataset(Logical::opaque()),
            Shape::Grouped => Value::Grouped {
                logical: Logical::opaque(),
                window: false,
                method: "group_by".to_owned(),
                span: node.name.span(),
            },
            Shape::Writer => Value::Writer(Box::new(Writer::opaque(node.name.span()))),
            Shape::Reader => Value::Reader,
            _ => return Value::Unknown,
        },
        Value::Unknown => return Value::Unknown,
        other => other,
    };
    if on == Shape::Unknown {
        return Value::Unknown;
    }
    names::report_structured(node, diags);
    let name = node.operator();
    let method = match node.resolved {
        Resolved::Known | Resolved::Misspelt(_) => registry::structured(&name, on),
        Resolved::Misplaced | Resolved::User => None,
    };
    let Some(method) = method else {
        return misplaced(receiver, node);
    };
    let span = node.name.span();
    match (method.kind, receiver) {
        (Kind::ReadStream | Kind::ReaderOption, _) => Value::Reader,
        (Kind::Source(source), _) => Value::Dataset(Logical {
            ops: vec![source.to_owned()],
            ..Logical::default()
        }),
        (Kind::Stateless | Kind::Deduplicate, Value::Dataset(logical)) => Value::Dataset(logical.then(&name)),
        (Kind::Join(join_type), Value::Dataset(logical)) => {
            let other = match others.first() {
                Some(Value::Dataset(other)) => Some(other),
                _ => None,
            };
            let operator = format!("{name}(..)");
            let mut next = logical.then(&operator);
            let side = |l: &Logical| l.watermarked && l.event_time;
            let bounds = node.exprs.get(1).and_then(join_bounds);
            if let Some(other) = other {
                next.aggregations.extend(other.aggregations.iter().cloned());
                next.joins.extend(other.joins.iter().cloned());
                next.groups_with_state
                    .extend(other.groups_with_state.iter().cloned());
                next.watermarked |= other.watermarked;
                next.opaque |= other.opaque;
            }
            next.joins.push(Join {
                facts: output_mode_rules::Join {
                    operator,
                    join_type,
                    stream_stream: true,
                    left_watermarked: side(&logical),
                    right_watermarked: other.is_some_and(side),
                    bounds_left: bounds.is_some_and(|(_, upper)| upper),
                    bounds_right: bounds.is_some_and(|(lower, _)| lower),
                },
                checked: bounds.is_some() && other.is_some_and(|o| !o.opaque) && !logical.opaque,
                span,
            });
            next.event_time = false;
            Value::Dataset(next)
        }
        (Kind::StaticJoin, Value::Dataset(logical)) => {
            let mut next = logical.then(&name);
            next.event_time = false;
            Value::Dataset(next)
        }
        (Kind::Retyping, Value::Dataset(logical)) => {
            let mut next = logical.then(&name);
            next.event_time = false;
            Value::Dataset(next)
        }
        (Kind::Union, Value::Dataset(logical)) => {
            let mut next = logical.then("union");
            for other in others {
                match other {
                    Value::Dataset(other) => {
                        next.aggregations.extend(other.aggregations.iter().cloned());
                        next.groups_with_state
                            .extend(other.groups_with_state.iter().cloned());
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
            // The runtime names an aggregation by how it groups, not by how its key is
            // looked up: `group_by_ref(..).count()` is `group_by(..).count()`.
            let method = match name.as_str() {
                "group_by_ref" | "group_by_value" => "group_by".to_owned(),
                "group_by_window_ref" => "group_by_window".to_owned(),
                _ => name.clone(),
            };
            Value::Grouped {
                logical,
                window,
                method,
                span,
            }
        }
        (Kind::GroupsWithState, Value::Grouped { logical, .. }) => {
            let mut next = logical.then(&name);
            // flat_map_groups_with_state's own output mode is argument 0.
            let own = node.exprs.first().and_then(output_mode::mode_of);
            if name == "map_groups_with_state" || own.is_some() {
                let facts = output_mode_rules::GroupsWithState {
                    operator: name.clone(),
                    mode: own,
                    after_aggregation: !logical.aggregations.is_empty(),
                };
                next.groups_with_state.push((facts, span));
            }
            next.event_time = false;
            Value::Dataset(next)
        }
        (
            Kind::Aggregation(column),
            Value::Grouped {
                logical,
                window,
                method: group,
                span: group_span,
            },
        ) => {
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
        (Kind::WriteStream, Value::Dataset(logical)) => Value::Writer(Box::new(Writer::of(logical, span))),
        (Kind::Setting(setting), Value::Writer(mut writer)) => {
            // `.complete()`: a typed output mode, named by the method.
            let typed = (setting == Setting::OutputMode)
                .then(|| Mode::parse(&node.operator()))
                .flatten();
            let mode = (setting == Setting::OutputMode)
                .then(|| {
                    node.exprs
                        .first()
                        .and_then(output_mode::mode_of)
                        .or_else(|| node.args.first().and_then(names::string_mode))
                        .or(typed)
                })
                .flatten();
            if setting == Setting::OutputMode && node.resolved == Resolved::Known {
                if let (Some(mode), Some(crate::model::Arg::Str(_))) = (mode, node.args.first()) {
                    diags.replacing(
                        node.call,
                        span,
                        "`output_mode` takes an `OutputMode`, not a string",
                        Some(format!("write `.output_mode(OutputMode::{})`", mode.name())),
                    );
                }
            }
            let given = Some(BodySetting {
                span,
                mode,
                typed: typed.is_some(),
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
                Setting::Checkpoint => writer.checkpoint = given,
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
            let _ = &node.resolved;
            Value::Writer(writer)
        }
        (Kind::Start, _) => {
            diags.replacing(
                node.call,
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

/// The value a misplaced or unknown call is taken to make: where the mistake is clear (a
/// sink called on a dataset, `format("console")` on a writer, a DStream operator on a
/// dataset), the value it was meant to make, with what is not known marked so; otherwise
/// nothing more is checked on it.
fn misplaced(receiver: Value, node: &Node) -> Value {
    let span = node.name.span();
    match (receiver, node.shape) {
        (Value::Dataset(logical), Shape::Writer) => {
            let sink = registry::sink_on_dataset(&node.name.to_string());
            Value::Writer(Box::new(Writer {
                sink: sink.map(|m| Sink::of(m, span)),
                ..Writer::of(logical, span)
            }))
        }
        (Value::Writer(mut writer), Shape::Writer) => {
            writer.sink = Some(match names::format_sink(node) {
                Some(m) => Sink::of(m, span),
                None => Sink {
                    name: node.name.to_string(),
                    modes: None,
                    span,
                },
            });
            Value::Writer(writer)
        }
        (Value::Dataset(mut logical), Shape::Dataset) => {
            logical.opaque = true;
            Value::Dataset(logical.then(&node.name.to_string()))
        }
        _ => Value::Unknown,
    }
}

/// The bounds (lower, upper) of the time range a `JoinOn` written in the call gives:
/// `JoinOn::keys(..)` alone has none, `.time_range(TimeRange::between(..))` or `millis` both,
/// `at_least` the lower, `at_most` the upper. `None` when the macro cannot tell (a variable).
fn join_bounds(on: &syn::Expr) -> Option<(bool, bool)> {
    let text = quote::quote!(#on).to_string();
    if !text.contains("JoinOn") {
        return None;
    }
    let Some(range) = text.split("time_range").nth(1) else {
        return Some((false, false));
    };
    if range.contains("between") || range.contains("millis") {
        Some((true, true))
    } else if range.contains("at_least") {
        Some((true, false))
    } else if range.contains("at_most") {
        Some((false, true))
    } else {
        None
    }
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
                "unknown operator `console` on a `Dataset`\nhelp: a dataset is written by its writer: \
                 `.write_stream().console()`",
            ]
        );
        let messages = words(quote!(), quote!(.count().write_stream().console()));
        assert!(
            messages[0].ends_with("help: `count` aggregates groups: call `.group_by(|r| key)` first"),
            "{messages:#?}"
        );
    }

    #[test]
    fn an_aggregation_is_named_by_the_method_that_grouped() {
        let messages = words(
            quote!(output_mode = complete),
            quote!(.with_watermark(|w| w.ts, "1 minute")
                .group_by_event_time(|w| w.word.clone()).count()
                .group_by(|r| r.value).count()
                .write_stream().console()),
        );
        assert!(
            messages[0].contains(
                "`group_by(..).count()` aggregates the result of `group_by_event_time(..).count()`"
            ),
            "{messages:#?}"
        );
    }

    /// The borrowed-key groupings are checked as `group_by` / `group_by_window` and named as
    /// the runtime names them (by how they group): the modes, the window, the event time.
    #[test]
    fn borrowed_key_groupings_are_group_by_and_group_by_window() {
        let messages = words(
            quote!(output_mode = complete),
            quote!(.group_by_value().count()
                .group_by_ref(|r| &r.key).count()
                .write_stream().console()),
        );
        assert!(
            messages[0].contains("`group_by(..).count()` aggregates the result of `group_by(..).count()`"),
            "{messages:#?}"
        );
        // Append needs a window, whichever way the key is looked up.
        let append = |grouping| {
            words(
                quote!(output_mode = append),
                quote!(#grouping.count().write_stream().console()),
            )
        };
        let owned = append(quote!(.group_by(|w| w.word.clone())));
        assert!(!owned.is_empty(), "{owned:#?}");
        assert_eq!(append(quote!(.group_by_ref(|w| w.word.as_str()))), owned);
        assert_eq!(append(quote!(.group_by_value())), owned);
        // A window's key by borrow needs an event time, and its window is checked.
        let messages = words(
            quote!(output_mode = update),
            quote!(.group_by_window_ref(|w| w.word.as_str(), window("10 minuts", "5 minutes"))
                .count().write_stream().console()),
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("group_by_window(..).count()") && m.contains("event time")),
            "{messages:#?}"
        );
        assert!(messages.iter().any(|m| m.contains("minuts")), "{messages:#?}");
    }

    #[test]
    fn groups_with_state_follow_sparks_modes() {
        let messages = words(
            quote!(),
            quote!(.group_by(|w| w.word.clone())
                .flat_map_groups_with_state(OutputMode::Update, GroupStateTimeout::NoTimeout, f)
                .write_stream().console()),
        );
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(
            messages[0].starts_with(
                "flatMapGroupsWithState in update mode is not supported with Append output mode"
            ),
            "{messages:#?}"
        );
        let messages = words(
            quote!(output_mode = complete),
            quote!(.group_by(|w| w.word.clone())
                .flat_map_groups_with_state(OutputMode::Append, GroupStateTimeout::NoTimeout, f)
                .group_by(|r| r.0).count()
                .write_stream().console()),
        );
        assert!(messages.is_empty(), "{messages:#?}");
        let messages = words(
            quote!(),
            quote!(.group_by(|w| w.word.clone())
                .map_groups_with_state(GroupStateTimeout::NoTimeout, f)
                .write_stream().console()),
        );
        assert!(
            messages[0].starts_with("mapGroupsWithState is not supported with Append"),
            "{messages:#?}"
        );
    }

    #[test]
    fn joins_follow_sparks_rules() {
        let clicks = quote!(
            &session
                .read_stream::<Word>()
                .memory(&clicks)
                .with_watermark(|c| c.ts, "3 hours")
        );
        let messages = words(
            quote!(),
            quote!(.with_watermark(|w| w.ts, "2 hours")
                .join(#clicks, JoinOn::keys(|i: &Word| i.id, |c: &Word| c.id))
                .write_stream().output_mode(OutputMode::Update).console()),
        );
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(
            messages[0].contains("not supported in Update output mode"),
            "{messages:#?}"
        );
        let messages = words(
            quote!(),
            quote!(.with_watermark(|w| w.ts, "2 hours")
                .left_outer_join(#clicks, JoinOn::keys(|i: &Word| i.id, |c: &Word| c.id)
                    .time_range(TimeRange::at_least(0)))
                .write_stream().console()),
        );
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(
            messages[0].contains("its time range needs an upper bound"),
            "{messages:#?}"
        );
        let messages = words(
            quote!(),
            quote!(.with_watermark(|w| w.ts, "2 hours")
                .full_outer_join(#clicks, JoinOn::keys(|i: &Word| i.id, |c: &Word| c.id)
                    .time_range(TimeRange::between("0 s", "1 hour")))
                .write_stream().console()),
        );
        assert!(messages.is_empty(), "{messages:#?}");
        // A `JoinOn` the macro cannot read is left to `start()`.
        let messages = words(
            quote!(),
            quote!(.with_watermark(|w| w.ts, "2 hours").left_outer_join(#clicks, on).write_stream().console()),
        );
        assert!(messages.is_empty(), "{messages:#?}");
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
