//! Event-time windows: `window(size, slide)`, `tumbling_window(size)` and
//! `session_window(gap)`, with `.start_offset(..)`, checked with the runtime's own rules and
//! words (`streamflow/src/window/rules.rs`).

use proc_macro2::Span;
use syn::{Expr, ExprLit, Lit};

use crate::diagnostic::Diagnostics;
use crate::parse::duration_constructor;
use crate::validate::parse_literal;
use crate::window_rules::{self as rules, Part};

/// A duration the macro read, in milliseconds, and where it is written.
type Literal<T = u64> = (T, Span);

/// A duration of a window spec in milliseconds, if the macro can read it; a malformed literal
/// is reported.
fn duration(expr: &Expr, diags: &mut Diagnostics) -> Option<Literal> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text), ..
        }) => parse_literal(text, diags).map(|ms| (ms, text.span())),
        Expr::Reference(inner) => duration(&inner.expr, diags),
        other => duration_constructor(other).map(|ms| (ms, syn::spanned::Spanned::span(other))),
    }
}

/// Checks `window(size, slide)`, `tumbling_window(size)` or `session_window(gap)`, with an
/// optional `.start_offset("..")`, as `WindowSpec`'s own validation does.
pub(super) fn check_spec(expr: &Expr, diags: &mut Diagnostics) {
    let mut offset: Option<Literal<i64>> = None;
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
    let mut parts: Vec<Option<Literal>> = Vec::with_capacity(args.len());
    for arg in &args {
        let part = duration(arg, diags);
        if part.is_none() && matches!(arg, Expr::Lit(_)) {
            malformed = true;
        }
        parts.push(part);
    }
    if malformed {
        // Like the runtime: geometry is checked only once every duration parsed.
        return;
    }
    let (violation, spans) = match (function.as_str(), parts.as_slice()) {
        ("window", [Some(size), Some(slide)]) => (
            rules::sliding_geometry(size.0, slide.0, offset.map_or(0, |o| o.0)),
            (size.1, slide.1),
        ),
        ("tumbling_window", [Some(size)]) => (
            rules::sliding_geometry(size.0, size.0, offset.map_or(0, |o| o.0)),
            (size.1, size.1),
        ),
        ("session_window", [Some(gap)]) => (rules::session_gap(gap.0), (gap.1, gap.1)),
        _ => return,
    };
    let Err(violation) = violation else { return };
    let span = match violation.at {
        Part::Slide => spans.1,
        Part::Offset => offset.map_or(spans.1, |o| o.1),
        Part::Size | Part::Length | Part::Gap => spans.0,
    };
    diags.error(span, violation.message, Some(violation.help));
}

#[cfg(test)]
mod tests {
    use super::super::words;
    use quote::quote;

    /// The messages for a watermarked query grouped by `spec`.
    fn windowed(spec: syn::Expr) -> Vec<String> {
        words(
            quote!(output_mode = update),
            quote!(.with_watermark(|w| w.ts, "10 minutes")
                .group_by_window(|w| w.word.clone(), #spec)
                .count()
                .write_stream()
                .console()),
        )
    }

    #[test]
    fn good_windows_pass() {
        for spec in [
            syn::parse_quote!(window("10 minutes", "5 minutes")),
            syn::parse_quote!(tumbling_window("1 hour").start_offset("-15 minutes")),
            syn::parse_quote!(session_window(Duration::from_secs(300))),
            syn::parse_quote!(window(size, "5 minutes")),
        ] {
            let messages = windowed(spec);
            assert!(messages.is_empty(), "{messages:#?}");
        }
    }

    #[test]
    fn geometry_is_the_runtimes() {
        assert_eq!(
            windowed(syn::parse_quote!(window("5 minutes", "10 minutes"))),
            [
                "the window slide (10min) must be less than or equal to the window size (5min)\nhelp: a \
              slide larger than the size would skip events between windows: use a slide of at most \
              \"5min\", or swap the two if the size came second"
            ]
        );
        let offset = windowed(syn::parse_quote!(
            window("10 minutes", "5 minutes").start_offset("7 minutes")
        ));
        assert_eq!(
            offset,
            [
                "the absolute value of the window start offset (7min) must be less than the slide (5min)\n\
              help: an offset of a whole slide gives the same windows: use the remainder, \"2min\""
            ]
        );
        let zero = windowed(syn::parse_quote!(tumbling_window(Duration::from_secs(0))));
        assert!(
            zero[0].starts_with("the window size must be greater than zero"),
            "{zero:#?}"
        );
        let gap = windowed(syn::parse_quote!(session_window("0 s")));
        assert!(
            gap[0].starts_with("the session gap must be greater than zero"),
            "{gap:#?}"
        );
    }

    #[test]
    fn a_malformed_duration_is_reported_alone() {
        let messages = windowed(syn::parse_quote!(window("5 minuts", "10 minutes")));
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(messages[0].starts_with("malformed duration literal"));
        let messages = windowed(syn::parse_quote!(
            window("10 minutes", "5 minutes").start_offset("-5 mins!")
        ));
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(messages[0].starts_with("malformed duration literal"));
    }
}
