//! The attribute, `#[stream_job(key = value, ..)]`, into a [`JobConfig`]: every key checked
//! against the job's vocabulary, every value against what the key takes.

use proc_macro2::TokenStream;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Ident, Lit, Meta, Token};

use crate::diagnostic::Diagnostics;
use crate::model::{Given, JobConfig, TriggerAttr, Vocabulary};
use crate::registry::Mode;
use crate::suggest;

/// The keys `#[stream_job(...)]` accepts for a DStream job.
pub(crate) const ATTRIBUTE_KEYS: &[&str] = &["batch", "parallelism", "checkpoint", "name"];

/// The keys `#[stream_job(...)]` accepts for a Structured Streaming query.
pub(crate) const QUERY_KEYS: &[&str] = &["trigger", "output_mode", "name", "checkpoint"];

/// The triggers the attribute accepts, as written there.
const TRIGGERS: &[&str] = &[
    "processing_time",
    "once",
    "available_now",
    "default",
    "continuous",
];

/// Parses the attribute's arguments. Returns `None` when they are not even `key = value` pairs
/// (the syntax error is reported).
pub(crate) fn parse_attribute(
    args: TokenStream,
    vocabulary: Vocabulary,
    diags: &mut Diagnostics,
) -> Option<JobConfig> {
    let keys = match vocabulary {
        Vocabulary::DStream => ATTRIBUTE_KEYS,
        Vocabulary::Structured => QUERY_KEYS,
    };
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => metas,
        Err(error) => {
            diags.push(error);
            return None;
        }
    };
    let mut config = JobConfig::default();
    for meta in metas {
        let Meta::NameValue(entry) = meta else {
            let example = match vocabulary {
                Vocabulary::DStream => "#[stream_job(batch = \"1s\")]",
                Vocabulary::Structured => "#[stream_job(output_mode = append)]",
            };
            diags.error_spanned(
                &meta,
                "expected `key = value` in #[stream_job(...)]",
                Some(format!(
                    "the keys are {}, e.g. `{example}`",
                    suggest::one_of(keys.iter().copied())
                )),
            );
            continue;
        };
        let Some(key) = entry.path.get_ident() else {
            diags.error_spanned(&entry.path, "expected a plain key, like `name`", None);
            continue;
        };
        let name = key.to_string();
        if !keys.contains(&name.as_str()) {
            wrong_key(key, &name, vocabulary, keys, diags);
            continue;
        }
        let value = &entry.value;
        let tokens = quote::quote!(#key = #value);
        let errors_before = diags.count();
        let duplicate = match name.as_str() {
            "batch" => set_str(
                &mut config.batch,
                &entry.value,
                key,
                "a duration string, like `batch = \"1s\"`",
                diags,
            ),
            "checkpoint" => set_str(
                &mut config.checkpoint,
                &entry.value,
                key,
                "a directory path string, like `checkpoint = \"/tmp/checkpoints\"`",
                diags,
            ),
            "name" => set_str(
                &mut config.name,
                &entry.value,
                key,
                "a string, like `name = \"word count\"`",
                diags,
            ),
            "parallelism" => match &entry.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(int), ..
                }) => config.parallelism.replace(int.clone()).is_some(),
                other => {
                    diags.error_spanned(
                        other,
                        "`parallelism` expects a whole number of worker threads",
                        Some("write e.g. `parallelism = 4`".into()),
                    );
                    false
                }
            },
            "output_mode" => match output_mode_value(&entry.value, diags) {
                Some(mode) => config
                    .output_mode
                    .replace(Given {
                        value: mode,
                        tokens: tokens.clone(),
                    })
                    .is_some(),
                None => false,
            },
            "trigger" => match trigger_value(&entry.value, diags) {
                Some(trigger) => config
                    .trigger
                    .replace(Given {
                        value: trigger,
                        tokens: tokens.clone(),
                    })
                    .is_some(),
                None => false,
            },
            _ => false,
        };
        if diags.count() > errors_before {
            if let Some(key) = keys.iter().find(|known| **known == name) {
                config.invalid.push(*key);
            }
        }
        if duplicate {
            diags.error(
                key.span(),
                format!("duplicate key `{name}`"),
                Some("give each key once".into()),
            );
        }
    }
    Some(config)
}

/// Reports a key this kind of job does not take.
fn wrong_key(key: &Ident, name: &str, vocabulary: Vocabulary, keys: &[&str], diags: &mut Diagnostics) {
    let (message, help) = match (vocabulary, name) {
        (Vocabulary::DStream, "trigger" | "output_mode") => (
            format!("`{name}` belongs to Structured Streaming queries, not DStream jobs"),
            "a DStream job runs one micro-batch per `batch` interval; for a query, take \
             `session: &Session` as the first parameter and end the body with its writer"
                .to_owned(),
        ),
        (Vocabulary::Structured, "batch") => (
            "`batch` belongs to DStream jobs, not Structured Streaming queries".to_owned(),
            "a query runs a micro-batch when its trigger fires: write e.g. \
             `trigger = processing_time(\"1 second\")`"
                .to_owned(),
        ),
        (Vocabulary::Structured, "parallelism") => (
            "`parallelism` is the session's, not the query's".to_owned(),
            "the query runs on the worker threads of the session passed in: build it with \
             `Session::builder().parallelism(n)`"
                .to_owned(),
        ),
        _ => (
            format!("unknown key `{name}` in #[stream_job(...)]"),
            match suggest::did_you_mean(name, keys.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("the keys are {}", suggest::one_of(keys.iter().copied())),
            },
        ),
    };
    diags.error(key.span(), message, Some(help));
}

/// `output_mode = append` (or `"append"`, or `OutputMode::Append`).
fn output_mode_value(value: &Expr, diags: &mut Diagnostics) -> Option<Mode> {
    let written = match value {
        Expr::Path(path) if path.qself.is_none() => path.path.segments.last().map(|s| s.ident.to_string()),
        Expr::Lit(ExprLit {
            lit: Lit::Str(text), ..
        }) => Some(text.value()),
        _ => None,
    };
    let modes = Mode::ALL.iter().map(|mode| mode.key());
    match written {
        Some(name) => match Mode::parse(&name) {
            Some(mode) => Some(mode),
            None => {
                let help = match suggest::did_you_mean(&name.to_ascii_lowercase(), modes.clone()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("the output modes are {}", suggest::one_of(modes)),
                };
                diags.error_spanned(value, format!("unknown output mode `{name}`"), Some(help));
                None
            }
        },
        None => {
            diags.error_spanned(
                value,
                "`output_mode` expects `append`, `update` or `complete`",
                Some("write e.g. `output_mode = append`".into()),
            );
            None
        }
    }
}

/// `trigger = processing_time("10 seconds")`, `once`, `available_now` or `default` (with or
/// without `()`, with or without a `Trigger::` prefix).
fn trigger_value(value: &Expr, diags: &mut Diagnostics) -> Option<TriggerAttr> {
    let (path, args) = match value {
        Expr::Path(path) if path.qself.is_none() => (&path.path, None),
        Expr::Call(call) => match &*call.func {
            Expr::Path(path) if path.qself.is_none() => (&path.path, Some(&call.args)),
            _ => return bad_trigger(value, diags),
        },
        _ => return bad_trigger(value, diags),
    };
    let Some(last) = path.segments.last() else {
        return bad_trigger(value, diags);
    };
    let name = last.ident.to_string();
    let arg_count = args.map_or(0, Punctuated::len);
    match name.as_str() {
        "processing_time" => match args.and_then(|args| args.first()) {
            Some(Expr::Lit(ExprLit {
                lit: Lit::Str(text), ..
            })) if arg_count == 1 => Some(TriggerAttr::ProcessingTime(text.clone())),
            _ => {
                diags.error_spanned(
                    value,
                    "`processing_time` takes the interval as one duration string",
                    Some("write e.g. `trigger = processing_time(\"10 seconds\")`".into()),
                );
                None
            }
        },
        "once" | "available_now" | "default" if arg_count == 0 => Some(match name.as_str() {
            "once" => TriggerAttr::Once,
            "available_now" => TriggerAttr::AvailableNow,
            _ => TriggerAttr::Default,
        }),
        "once" | "available_now" | "default" => {
            diags.error_spanned(
                value,
                format!("the `{name}` trigger takes no arguments"),
                Some(format!("write `trigger = {name}`")),
            );
            None
        }
        "continuous" => match args.and_then(|args| args.first()) {
            Some(Expr::Lit(ExprLit {
                lit: Lit::Str(text), ..
            })) if arg_count == 1 => Some(TriggerAttr::Continuous(text.clone())),
            _ => {
                diags.error_spanned(
                    value,
                    "`continuous` takes the checkpoint interval as one duration string",
                    Some("write e.g. `trigger = continuous(\"1 second\")`".into()),
                );
                None
            }
        },
        other => {
            let help = match suggest::did_you_mean(&camel_to_snake_simple(other), TRIGGERS.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("the triggers are {}", suggest::one_of(TRIGGERS.iter().copied())),
            };
            diags.error(
                last.ident.span(),
                format!("unknown trigger `{other}`"),
                Some(help),
            );
            None
        }
    }
}

fn bad_trigger(value: &Expr, diags: &mut Diagnostics) -> Option<TriggerAttr> {
    diags.error_spanned(
        value,
        "`trigger` expects `processing_time(\"interval\")`, `once`, `available_now` or `default`",
        Some("write e.g. `trigger = processing_time(\"10 seconds\")`".into()),
    );
    None
}

/// `processingTime` → `processing_time`, `AvailableNow` → `available_now`.
fn camel_to_snake_simple(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Stores a string literal value; reports a value of the wrong kind. Returns whether the key
/// was already set.
fn set_str(
    slot: &mut Option<syn::LitStr>,
    value: &Expr,
    key: &Ident,
    expected: &str,
    diags: &mut Diagnostics,
) -> bool {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text), ..
        }) => slot.replace(text.clone()).is_some(),
        other => {
            diags.error_spanned(other, format!("`{key}` expects {expected}"), None);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn attribute_keys_are_read_and_checked() {
        let mut diags = Diagnostics::default();
        let config = parse_attribute(
            quote!(batch = "1s", parallelism = 4, checkpoint = "/tmp/cp", name = "wc"),
            Vocabulary::DStream,
            &mut diags,
        );
        assert!(diags.is_empty());
        let Some(config) = config else {
            panic!("attribute did not parse")
        };
        assert_eq!(config.batch.map(|b| b.value()).as_deref(), Some("1s"));
        assert_eq!(config.parallelism.map(|p| p.to_string()).as_deref(), Some("4"));

        let mut diags = Diagnostics::default();
        parse_attribute(
            quote!(
                batch = 1,
                paralelism = 2,
                trigger = processing_time("1s"),
                name = "a",
                name = "b"
            ),
            Vocabulary::DStream,
            &mut diags,
        );
        let messages = diags.messages();
        assert_eq!(messages.len(), 4, "{messages:#?}");
        assert!(messages[0].starts_with("`batch` expects a duration string"));
        assert_eq!(
            messages[1],
            "unknown key `paralelism` in #[stream_job(...)]\nhelp: did you mean `parallelism`?"
        );
        assert!(
            messages[2].starts_with("`trigger` belongs to Structured Streaming queries, not DStream jobs")
        );
        assert!(messages[3].starts_with("duplicate key `name`"));
    }

    /// The messages for a query attribute, and the config read from it.
    fn query(attr: TokenStream) -> (Option<JobConfig>, Vec<String>) {
        let mut diags = Diagnostics::default();
        let config = parse_attribute(attr, Vocabulary::Structured, &mut diags);
        (config, diags.messages())
    }

    #[test]
    fn output_modes_are_read_in_every_spelling() {
        for attr in [
            quote!(output_mode = update),
            quote!(output_mode = "Update"),
            quote!(output_mode = OutputMode::Update),
        ] {
            let (config, messages) = query(attr);
            assert!(messages.is_empty(), "{messages:#?}");
            assert_eq!(
                config.and_then(|c| c.output_mode).map(|m| m.value),
                Some(Mode::Update)
            );
        }
        let (_, messages) = query(quote!(output_mode = updte));
        assert_eq!(
            messages,
            ["unknown output mode `updte`\nhelp: did you mean `update`?"]
        );
        let (_, messages) = query(quote!(output_mode = 1));
        assert!(messages[0].starts_with("`output_mode` expects `append`, `update` or `complete`"));
    }

    #[test]
    fn triggers_are_read_and_misspellings_suggested() {
        let (config, messages) = query(quote!(trigger = Trigger::processing_time("10 seconds")));
        assert!(messages.is_empty(), "{messages:#?}");
        let trigger = config.and_then(|c| c.trigger).map(|t| t.value);
        assert!(matches!(trigger, Some(TriggerAttr::ProcessingTime(text)) if text.value() == "10 seconds"));
        let (config, _) = query(quote!(trigger = available_now));
        assert!(matches!(
            config.and_then(|c| c.trigger).map(|t| t.value),
            Some(TriggerAttr::AvailableNow)
        ));

        let (_, messages) = query(quote!(trigger = availableNow));
        assert_eq!(
            messages,
            ["unknown trigger `availableNow`\nhelp: did you mean `available_now`?"]
        );
        let (_, messages) = query(quote!(trigger = once(1)));
        assert!(messages[0].starts_with("the `once` trigger takes no arguments"));
        let (_, messages) = query(quote!(trigger = processing_time(10)));
        assert!(messages[0].starts_with("`processing_time` takes the interval as one duration string"));
        let (config, messages) = query(quote!(trigger = continuous("1 second")));
        assert!(messages.is_empty(), "{messages:#?}");
        assert!(matches!(
            config.and_then(|c| c.trigger).map(|t| t.value),
            Some(TriggerAttr::Continuous(text)) if text.value() == "1 second"
        ));
        let (_, messages) = query(quote!(trigger = continuous));
        assert!(messages[0].starts_with("`continuous` takes the checkpoint interval"));
    }

    #[test]
    fn keys_of_the_other_vocabulary_say_where_they_belong() {
        let (_, messages) = query(quote!(batch = "1s", parallelism = 2));
        assert!(
            messages[0].starts_with("`batch` belongs to DStream jobs"),
            "{}",
            messages[0]
        );
        assert!(
            messages[1].starts_with("`parallelism` is the session's"),
            "{}",
            messages[1]
        );
    }
}
