//! Triggers: the interval of `processing_time`, in the attribute or in the body, parses.

use syn::{Expr, ExprLit, Lit};

use crate::diagnostic::Diagnostics;
use crate::model::{JobConfig, TriggerAttr};
use crate::validate::parse_literal;

/// The attribute's `trigger = processing_time("10 seconds")`: its interval parses.
pub(super) fn check_attribute(config: &JobConfig, diags: &mut Diagnostics) {
    if let Some(given) = &config.trigger {
        if let TriggerAttr::ProcessingTime(interval) | TriggerAttr::Continuous(interval) = &given.value {
            parse_literal(interval, diags);
        }
    }
}

/// `Trigger::processing_time("10 seconds")` in the body: its interval parses.
pub(super) fn check_body(expr: &Expr, diags: &mut Diagnostics) {
    let Expr::Call(call) = expr else { return };
    let Expr::Path(func) = &*call.func else { return };
    if func
        .path
        .segments
        .last()
        .is_some_and(|last| last.ident == "processing_time" || last.ident == "continuous")
    {
        if let Some(Expr::Lit(ExprLit {
            lit: Lit::Str(text), ..
        })) = call.args.first()
        {
            parse_literal(text, diags);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::words;
    use quote::quote;

    fn console(trigger: syn::Expr) -> Vec<String> {
        words(quote!(), quote!(.write_stream().trigger(#trigger).console()))
    }

    #[test]
    fn intervals_parse_in_the_attribute_and_in_the_body() {
        assert!(console(syn::parse_quote!(Trigger::processing_time("10 seconds"))).is_empty());
        let messages = words(
            quote!(trigger = processing_time("1 secnd")),
            quote!(.write_stream().console()),
        );
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(
            messages[0].ends_with("help: did you mean \"1 second\"?"),
            "{}",
            messages[0]
        );
        let messages = console(syn::parse_quote!(Trigger::processing_time("10 minuts")));
        assert_eq!(messages.len(), 1, "{messages:#?}");
        assert!(messages[0].starts_with("malformed duration literal: unknown unit \"minuts\""));
    }

    #[test]
    fn other_triggers_are_left_alone() {
        for trigger in [
            syn::parse_quote!(Trigger::once()),
            syn::parse_quote!(Trigger::processing_time(interval)),
            syn::parse_quote!(trigger),
        ] {
            assert!(console(trigger).is_empty());
        }
    }
}
