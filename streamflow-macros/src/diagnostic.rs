//! Collecting diagnostics: every check reports here, and all of them are emitted at once.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// Every error found so far, each with the span of the tokens it is about.
#[derive(Default)]
pub(crate) struct Diagnostics {
    errors: Vec<syn::Error>,
}

impl Diagnostics {
    /// An error at `span`, with an optional `help:` line saying how to fix it.
    pub(crate) fn error(&mut self, span: Span, message: impl AsRef<str>, help: Option<String>) {
        self.errors
            .push(syn::Error::new(span, render(message.as_ref(), help)));
    }

    /// An error covering all of `tokens` (first to last token), with an optional `help:` line.
    pub(crate) fn error_spanned(
        &mut self,
        tokens: &dyn ToTokens,
        message: impl AsRef<str>,
        help: Option<String>,
    ) {
        self.errors
            .push(syn::Error::new_spanned(tokens, render(message.as_ref(), help)));
    }

    /// Adds an error made elsewhere (e.g. by syn's parser).
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.errors.push(error);
    }

    /// Whether no error was reported (for tests).
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The messages, in the order they were reported (for tests).
    #[cfg(test)]
    pub(crate) fn messages(&self) -> Vec<String> {
        self.errors.iter().map(ToString::to_string).collect()
    }

    /// `compile_error!` invocations for every error, in the order they were reported.
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.errors.iter().map(syn::Error::to_compile_error).collect()
    }
}

/// The message as rustc will show it: `help:` on its own line, since `proc_macro::Diagnostic`
/// (which has real notes) is not stable.
fn render(message: &str, help: Option<String>) -> String {
    match help {
        Some(help) => format!("{message}\nhelp: {help}"),
        None => message.to_owned(),
    }
}
