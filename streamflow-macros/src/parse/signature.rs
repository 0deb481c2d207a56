//! The signature: which vocabulary the job is written in, its context parameter, and the
//! parameters that are streams.

use syn::{FnArg, Ident, ItemFn, Lifetime, Pat, Type};

use crate::diagnostic::Diagnostics;
use crate::model::Vocabulary;
use crate::registry::Shape;

/// Which vocabulary the function is written in: `&Session` first means a Structured Streaming
/// query; anything else is taken for a DStream job (and checked as one).
pub(crate) fn vocabulary(item: &ItemFn) -> Vocabulary {
    match item.sig.inputs.first() {
        Some(FnArg::Typed(param)) => match &*param.ty {
            Type::Reference(reference) if is_plain(&reference.elem, "Session") => Vocabulary::Structured,
            _ => Vocabulary::DStream,
        },
        _ => Vocabulary::DStream,
    }
}

/// The first parameter of a job function: `&StreamingContext` or `&Session`.
pub(crate) struct ContextParam {
    /// Its name, unless it is `_`.
    pub(crate) name: Option<Ident>,
    /// The lifetime of the reference, if one is written (`&'a StreamingContext`).
    pub(crate) lifetime: Option<Lifetime>,
    /// A query's declared return type, `DataStreamWriter<T>`, if written.
    pub(crate) writer: Option<Type>,
}

/// Checks the function's shape. Returns the context parameter when the shape is one the macro
/// can generate code for.
pub(crate) fn parse_signature(
    item: &ItemFn,
    vocabulary: Vocabulary,
    diags: &mut Diagnostics,
) -> Option<ContextParam> {
    let sig = &item.sig;
    let structured = vocabulary == Vocabulary::Structured;
    let (context_type, example) = if structured {
        ("&Session", "session: &Session")
    } else {
        ("&StreamingContext", "ssc: &StreamingContext")
    };
    let mut ok = true;
    if let Some(token) = &sig.asyncness {
        diags.error(
            token.span,
            "a #[stream_job] function cannot be `async`",
            Some("remove `async`: the function only builds the pipeline; it runs after `start()`".into()),
        );
        ok = false;
    }
    let mut writer = None;
    if let syn::ReturnType::Type(arrow, ty) = &sig.output {
        if structured && is_named(ty, "DataStreamWriter") {
            writer = Some((**ty).clone());
        } else if structured {
            diags.error_spanned(
                &quote::quote!(#arrow #ty),
                "a Structured Streaming job returns the query's writer, not a running query",
                Some(format!(
                    "declare `-> DataStreamWriter<T>` (the type of the body's `.write_stream()..`) \
                     or no return type: the macro generates `fn {}(session, ..) -> \
                     streamflow::Result<StreamingQuery>`, which starts it",
                    sig.ident
                )),
            );
            ok = false;
        } else {
            diags.error_spanned(
                &quote::quote!(#arrow #ty),
                "a #[stream_job] function must not declare a return type",
                Some(format!(
                    "remove it: the macro generates `fn {}(..) -> streamflow::Result<StreamingContext>`, \
                     and `?` works in the body",
                    sig.ident
                )),
            );
            ok = false;
        }
    }
    let help = Some(if structured {
        format!(
            "write `fn {}({example}, ..)`: the caller passes the session the query runs in",
            sig.ident
        )
    } else {
        format!(
            "write `fn {}({example}, ..)`: the macro builds the context from the \
             attribute and passes it in",
            sig.ident
        )
    });
    let Some(first) = sig.inputs.first() else {
        diags.error(
            sig.ident.span(),
            "a #[stream_job] function must take `&StreamingContext` (a DStream job) or `&Session` \
             (a Structured Streaming query) as its first parameter",
            help,
        );
        return None;
    };
    let first_message = format!("the first parameter of a #[stream_job] function must be `{context_type}`");
    let FnArg::Typed(param) = first else {
        diags.error_spanned(first, &first_message, help);
        return None;
    };
    let context_name = if structured { "Session" } else { "StreamingContext" };
    let lifetime = match &*param.ty {
        Type::Reference(reference)
            if reference.mutability.is_none() && is_plain(&reference.elem, context_name) =>
        {
            reference.lifetime.clone()
        }
        _ => {
            diags.error_spanned(&param.ty, &first_message, help);
            return None;
        }
    };
    let name = match &*param.pat {
        Pat::Ident(ident) if ident.subpat.is_none() => Some(ident.ident.clone()),
        Pat::Wild(_) => None,
        other => {
            let example = if structured { "session" } else { "ssc" };
            diags.error_spanned(
                other,
                format!("expected a plain name for the context parameter, like `{example}`"),
                None,
            );
            return None;
        }
    };
    ok.then_some(ContextParam {
        name,
        lifetime,
        writer,
    })
}

/// The parameters that are streams (`lines: DStream<String>`, `&DStream<T>`; in a query,
/// `words: Dataset<Word>`): the body's chains may start from them as from a source.
pub(crate) fn stream_params(item: &ItemFn, vocabulary: Vocabulary) -> Vec<(Ident, Shape)> {
    let (type_name, shape) = match vocabulary {
        Vocabulary::DStream => ("DStream", Shape::Stream),
        Vocabulary::Structured => ("Dataset", Shape::Dataset),
    };
    item.sig
        .inputs
        .iter()
        .skip(1)
        .filter_map(|arg| match arg {
            FnArg::Typed(param) if is_named(&param.ty, type_name) => match &*param.pat {
                Pat::Ident(pat) if pat.subpat.is_none() => Some((pat.ident.clone(), shape)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Whether `ty` is (a reference to) a path ending in `name`.
fn is_named(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(path) => {
            path.qself.is_none() && path.path.segments.last().is_some_and(|last| last.ident == name)
        }
        Type::Reference(reference) => is_named(&reference.elem, name),
        Type::Paren(inner) => is_named(&inner.elem, name),
        Type::Group(inner) => is_named(&inner.elem, name),
        _ => false,
    }
}

/// Whether `ty` is a path ending in `name`, without generics (`StreamingContext`,
/// `streamflow::structured::Session`).
fn is_plain(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|last| last.ident == name && last.arguments.is_none())
        }
        Type::Paren(inner) => is_plain(&inner.elem, name),
        Type::Group(inner) => is_plain(&inner.elem, name),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_parameter_must_be_the_context() {
        let mut diags = Diagnostics::default();
        let item: ItemFn = syn::parse_quote!(
            fn job(ssc: &StreamingContext, port: u16) {}
        );
        let param = parse_signature(&item, Vocabulary::DStream, &mut diags);
        assert!(param.is_some_and(|p| p.name.is_some_and(|n| n == "ssc")));

        for item in [
            syn::parse_quote!(
                fn job(port: u16) {}
            ),
            syn::parse_quote!(
                fn job() {}
            ),
            syn::parse_quote!(
                fn job(ssc: &mut StreamingContext) {}
            ),
            syn::parse_quote!(
                fn job(ssc: &StreamingContext) -> Result<()> {}
            ),
        ] {
            let mut diags = Diagnostics::default();
            let item: ItemFn = item;
            assert!(parse_signature(&item, Vocabulary::DStream, &mut diags).is_none());
            assert_eq!(diags.messages().len(), 1);
        }
    }

    #[test]
    fn a_session_first_makes_a_query() {
        let query: ItemFn = syn::parse_quote!(
            fn job(session: &streamflow::structured::Session) {}
        );
        assert_eq!(vocabulary(&query), Vocabulary::Structured);
        for item in [
            syn::parse_quote!(
                fn job(ssc: &StreamingContext) {}
            ),
            syn::parse_quote!(
                fn job(session: Session) {}
            ),
            syn::parse_quote!(
                fn job() {}
            ),
        ] {
            let item: ItemFn = item;
            assert_eq!(vocabulary(&item), Vocabulary::DStream);
        }
    }

    #[test]
    fn a_query_may_return_its_writer_only() {
        let mut diags = Diagnostics::default();
        let item: ItemFn = syn::parse_quote!(
            fn job(session: &Session) -> DataStreamWriter<Word> {}
        );
        let param = parse_signature(&item, Vocabulary::Structured, &mut diags);
        assert!(param.is_some_and(|p| p.writer.is_some()));
        let item: ItemFn = syn::parse_quote!(
            fn job(session: &Session) -> StreamingQuery {}
        );
        assert!(parse_signature(&item, Vocabulary::Structured, &mut diags).is_none());
        assert!(diags.messages()[0].starts_with("a Structured Streaming job returns the query's writer"));
    }
}
