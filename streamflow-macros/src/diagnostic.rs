//! Collecting diagnostics: every check reports here, and all of them are emitted at once.

//!
//! An error about a method call of the body that rustc would report too (an unknown method,
//! a method of another type, a method called on the `()` an output returns) takes the place of
//! that call in the emitted body (`codegen::replace_calls`): the call becomes
//! `compile_error!(..)`, whose value has rustc's error type, on which any method and any use
//! type-check without a word. So each such mistake is one error, the macro's, and nothing
//! after it is a consequence of it.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

use crate::model::CallId;

/// Every error found so far, each with the span of the tokens it is about.
#[derive(Default)]
pub(crate) struct Diagnostics {
    errors: Vec<syn::Error>,
    /// Errors that replace a method call of the body, by call.
    in_place: Vec<(CallId, syn::Error)>,
    /// What was reported, to report nothing twice (a rule broken by both arms of an `if`).
    seen: Vec<(String, Option<(usize, usize, usize, usize)>)>,
}

impl Diagnostics {
    /// An error at `span`, with an optional `help:` line saying how to fix it.
    pub(crate) fn error(&mut self, span: Span, message: impl AsRef<str>, help: Option<String>) {
        let error = syn::Error::new(span, render(message.as_ref(), help));
        if self.first_time(&error, span) {
            self.errors.push(error);
        }
    }

    /// An error about a method call of the body that takes the call's place (see the module
    /// docs); an error at `span` if the call is not known.
    pub(crate) fn replacing(
        &mut self,
        call: Option<CallId>,
        span: Span,
        message: impl AsRef<str>,
        help: Option<String>,
    ) {
        let error = syn::Error::new(span, render(message.as_ref(), help));
        if !self.first_time(&error, span) {
            return;
        }
        match call {
            Some(call) => self.in_place.push((call, error)),
            None => self.errors.push(error),
        }
    }

    /// The errors that take the place of calls, for codegen; those it could not place are
    /// given back with [`Diagnostics::unplaced`].
    pub(crate) fn take_in_place(&mut self) -> Vec<(CallId, syn::Error)> {
        std::mem::take(&mut self.in_place)
    }

    /// Errors meant to replace a call that codegen did not find: reported as they are.
    pub(crate) fn unplaced(&mut self, errors: impl IntoIterator<Item = syn::Error>) {
        self.errors.extend(errors);
    }

    /// How many errors were reported so far.
    pub(crate) fn count(&self) -> usize {
        self.seen.len()
    }

    /// Whether any error was reported.
    pub(crate) fn any(&self) -> bool {
        !self.errors.is_empty() || !self.in_place.is_empty()
    }

    fn first_time(&mut self, error: &syn::Error, span: Span) -> bool {
        let key = (error.to_string(), location(span));
        if key.1.is_some() && self.seen.contains(&key) {
            return false;
        }
        self.seen.push(key);
        true
    }

    /// An error covering all of `tokens` (first to last token), with an optional `help:` line.
    pub(crate) fn error_spanned(
        &mut self,
        tokens: &dyn ToTokens,
        message: impl AsRef<str>,
        help: Option<String>,
    ) {
        let error = syn::Error::new_spanned(tokens, render(message.as_ref(), help));
        if self.first_time(&error, error.span()) {
            self.errors.push(error);
        }
    }

    /// Adds an error made elsewhere (e.g. by syn's parser).
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.seen.push((error.to_string(), None));
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
        self.seen.iter().map(|(message, _)| message.clone()).collect()
    }

    /// `compile_error!` invocations for every error, in the order they were reported.
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.errors.iter().map(syn::Error::to_compile_error).collect()
    }
}

/// Where a span is, when the compiler (or proc-macro2 outside of it) says: line and column of
/// its start and end.
fn location(span: Span) -> Option<(usize, usize, usize, usize)> {
    let (start, end) = (span.start(), span.end());
    (start.line > 0).then_some((start.line, start.column, end.line, end.column))
}

/// The message as rustc will show it: `help:` on its own line, since `proc_macro::Diagnostic`
/// (which has real notes) is not stable.
fn render(message: &str, help: Option<String>) -> String {
    match help {
        Some(help) => format!("{message}\nhelp: {help}"),
        None => message.to_owned(),
    }
}
