//! Event time and watermarks: the durations of `with_watermark` and
//! `watermark_idle_timeout` parse, and a window over event time has one to read.

use proc_macro2::Span;

use crate::diagnostic::Diagnostics;
use crate::model::Arg;
use crate::validate::duration_arg;

/// The delay of `with_watermark(|r| r.ts, "10 minutes")` or the timeout of
/// `watermark_idle_timeout("1 minute")`: a malformed literal is reported.
pub(super) fn check_duration(arg: &Arg, diags: &mut Diagnostics) {
    duration_arg(arg, diags);
}

/// Reports a `group_by_window(..)` aggregation (`operator`) over records without an event
/// time: `span` is the `group_by_window`.
pub(super) fn missing_event_time(operator: &str, span: Span, diags: &mut Diagnostics) {
    diags.error(
        span,
        format!("`{operator}` needs the event time of each record"),
        Some(
            "call .with_watermark(|r| r.ts, \"10 minutes\") or .with_event_time(|r| r.ts) \
             before group_by_window (after any `map`/`flat_map`: a change of type drops \
             the event time)"
                .into(),
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::super::words;
    use quote::quote;

    #[test]
    fn watermark_and_idle_timeout_durations_parse() {
        let messages = words(
            quote!(output_mode = update),
            quote!(.with_watermark(|w| w.ts, "10 minuts")
                .write_stream()
                .watermark_idle_timeout("5 seconds")
                .watermark_idle_timeout("soon")
                .console()),
        );
        assert_eq!(messages.len(), 2, "{messages:#?}");
        assert!(messages[0].contains("unknown unit \"minuts\""), "{}", messages[0]);
        assert!(
            messages[1].contains("missing number in \"soon\""),
            "{}",
            messages[1]
        );
    }

    #[test]
    fn a_window_over_event_time_needs_one() {
        let windowed = |before: proc_macro2::TokenStream| {
            words(
                quote!(output_mode = update),
                quote!(#before
                    .group_by_window(|w| w.word.clone(), window("10 minutes", "5 minutes"))
                    .count()
                    .write_stream()
                    .console()),
            )
        };
        let messages = windowed(quote!());
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(messages[0].starts_with("`group_by_window(..).count()` needs the event time of each record"));
        // A change of type drops it.
        let dropped = windowed(quote!(.with_watermark(|w| w.ts, "1 minute").map(|w| w)));
        assert_eq!(dropped.len(), 1, "{dropped:#?}");
        assert!(windowed(quote!(.with_event_time(|w| w.ts))).is_empty());
    }
}
