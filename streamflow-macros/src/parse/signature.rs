//! The signature: which vocabulary the job is written in, its context parameter, and the
//! parameters that are streams.
//!
//! A signature the macro cannot generate code for as written is reported, and read as the one
//! it most likely meant (the context by reference, a context parameter added in front, no
//! `async`), so the functions a caller expects exist with the intended signatures and the
//! callers type-check: one mistake, one error.

use proc_macro2::TokenStream;
use syn::{FnArg, GenericArgument, Ident, ItemFn, Lifetime, Pat, PathArguments, ReturnType, Type};

use crate::diagnostic::Diagnostics;
use crate::model::Vocabulary;
use crate::registry::Shape;

/// Which vocabulary the function is written in: a first parameter `&Session` means a
/// Structured Streaming query, `&StreamingContext` a DStream job. A first parameter of another
/// name (a type alias) is told by the attribute's keys, a declared writer, or the body calling
/// `read_stream` on it; otherwise it is taken for a DStream job (and checked as one).
pub(crate) fn vocabulary(item: &ItemFn, attr: &TokenStream) -> Vocabulary {
    let Some(FnArg::Typed(param)) = item.sig.inputs.first() else {
        return Vocabulary::DStream;
    };
    let referent = match &*param.ty {
        Type::Reference(reference) => &*reference.elem,
        other => other,
    };
    match last_name(referent).as_deref() {
        Some("Session") => return Vocabulary::Structured,
        Some("StreamingContext") => return Vocabulary::DStream,
        _ => {}
    }
    let keys: Vec<String> = attr
        .clone()
        .into_iter()
        .filter_map(|token| match token {
            proc_macro2::TokenTree::Ident(ident) => Some(ident.to_string()),
            _ => None,
        })
        .collect();
    let has = |key: &str| keys.iter().any(|k| k == key);
    if has("batch") || has("parallelism") {
        return Vocabulary::DStream;
    }
    if has("output_mode") || has("trigger") {
        return Vocabulary::Structured;
    }
    if matches!(&item.sig.output, ReturnType::Type(_, ty) if is_named(ty, "DataStreamWriter")) {
        return Vocabulary::Structured;
    }
    let Pat::Ident(name) = &*param.pat else {
        return Vocabulary::DStream;
    };
    if calls_read_stream(&item.block, &name.ident) {
        Vocabulary::Structured
    } else {
        Vocabulary::DStream
    }
}

/// Whether the body calls `name.read_stream`.
fn calls_read_stream(block: &syn::Block, name: &Ident) -> bool {
    struct Finder<'a> {
        name: &'a Ident,
        found: bool,
    }
    impl<'ast> syn::visit::Visit<'ast> for Finder<'_> {
        fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
            if call.method == "read_stream" {
                if let syn::Expr::Path(path) = &*call.receiver {
                    if path.path.is_ident(self.name) {
                        self.found = true;
                    }
                }
            }
            syn::visit::visit_expr_method_call(self, call);
        }
    }
    let mut finder = Finder { name, found: false };
    syn::visit::Visit::visit_block(&mut finder, block);
    finder.found
}

/// What a DStream job's body returns.
#[derive(Clone)]
pub(crate) enum Returns {
    /// Nothing (no return type, or `-> ()`): the body is run as if it returned
    /// `streamflow::Result<()>`, so `?` works in it, and `return;` returns `Ok(())`.
    Unit,
    /// `-> Result<(), E>` (or an alias such as `streamflow::Result<()>`): the body as
    /// written; the builder returns the same `Result` with the context in place of `()`.
    Declared(Box<Type>),
}

/// The first parameter of a job function: `&StreamingContext` or `&Session`, as the
/// generated functions take it.
pub(crate) struct ContextParam {
    /// Its name, unless it is `_` (or was not written).
    pub(crate) name: Option<Ident>,
    /// The lifetime of the reference, if one is written (`&'a StreamingContext`).
    pub(crate) lifetime: Option<Lifetime>,
    /// The type as written, when it is not the runtime's type by name (an alias): the
    /// functions take it as written, and the builder checks that it is the context.
    pub(crate) alias: Option<Type>,
    /// Whether the function has no context parameter and the generated ones add it: then all
    /// of its parameters are the job's own.
    pub(crate) added: bool,
    /// A query's declared return type, `DataStreamWriter<T>`, if written.
    pub(crate) writer: Option<Type>,
    /// What a DStream job's body returns.
    pub(crate) returns: Returns,
    /// Whether the body can be emitted: not when the function takes `self`.
    pub(crate) body: bool,
}

/// Types that are certainly not a context: a first parameter of one of these is a job's own
/// parameter, written without the context in front.
const NOT_CONTEXTS: &[&str] = &[
    "str",
    "String",
    "Path",
    "PathBuf",
    "Vec",
    "Option",
    "Arc",
    "Rc",
    "Box",
    "DStream",
    "Dataset",
    "MemoryStream",
    "StreamQueue",
    "Duration",
    "Time",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "isize",
    "f32",
    "f64",
    "bool",
    "char",
];

/// Reads the function's signature; reports what the macro cannot generate as written, and
/// returns what it most likely meant.
pub(crate) fn parse_signature(
    item: &ItemFn,
    vocabulary: Vocabulary,
    diags: &mut Diagnostics,
) -> ContextParam {
    let sig = &item.sig;
    let structured = vocabulary == Vocabulary::Structured;
    let (context_type, example) = if structured {
        ("&Session", "session: &Session")
    } else {
        ("&StreamingContext", "ssc: &StreamingContext")
    };
    let mut param = ContextParam {
        name: None,
        lifetime: None,
        alias: None,
        added: false,
        writer: None,
        returns: Returns::Unit,
        body: true,
    };
    if let Some(token) = &sig.asyncness {
        diags.error(
            token.span,
            "a #[stream_job] function cannot be `async`",
            Some("remove `async`: the function only builds the pipeline; it runs after `start()`".into()),
        );
    }
    return_type(item, vocabulary, &mut param, diags);
    let help = Some(if structured {
        format!(
            "write `fn {}({example}, ..)`: the caller passes the session the query runs in",
            sig.ident
        )
    } else {
        format!(
            "write `fn {}({example}, ..)`: the macro builds the context from the attribute and \
             passes it in",
            sig.ident
        )
    });
    let first_message = format!("the first parameter of a #[stream_job] function must be `{context_type}`");
    let context_name = if structured { "Session" } else { "StreamingContext" };
    match sig.inputs.first() {
        None => {
            diags.error(sig.ident.span(), &first_message, help);
            param.added = true;
        }
        Some(FnArg::Receiver(receiver)) => {
            diags.error_spanned(receiver, &first_message, help);
            param.body = false;
        }
        Some(FnArg::Typed(typed)) => {
            match &*typed.ty {
                Type::Reference(reference) if last_name(&reference.elem).as_deref() == Some(context_name) => {
                    if reference.mutability.is_some() || !is_plain(&reference.elem, context_name) {
                        diags.error_spanned(&typed.ty, &first_message, help);
                    }
                    param.lifetime = reference.lifetime.clone();
                }
                Type::Reference(reference)
                    if reference.mutability.is_none()
                        && plain_path(&reference.elem)
                        && !last_name(&reference.elem)
                            .is_some_and(|name| NOT_CONTEXTS.contains(&name.as_str())) =>
                {
                    // Another name: a type alias of the context, checked by the builder.
                    param.lifetime = reference.lifetime.clone();
                    param.alias = Some((*reference.elem).clone());
                }
                ty if last_name(ty).as_deref() == Some(context_name) => {
                    diags.error_spanned(ty, &first_message, help);
                }
                ty => {
                    // The job's own parameter: the context was left out.
                    diags.error_spanned(ty, &first_message, help);
                    param.added = true;
                }
            }
            if !param.added {
                param.name = match &*typed.pat {
                    Pat::Ident(ident) if ident.subpat.is_none() && ident.by_ref.is_none() => {
                        Some(ident.ident.clone())
                    }
                    Pat::Wild(_) => None,
                    other => {
                        let example = if structured { "session" } else { "ssc" };
                        diags.error_spanned(
                            other,
                            format!("expected a plain name for the context parameter, like `{example}`"),
                            None,
                        );
                        None
                    }
                };
            }
        }
    }
    param
}

/// The declared return type: nothing or `Result<(), E>` for a DStream job, nothing or the
/// writer for a query.
fn return_type(item: &ItemFn, vocabulary: Vocabulary, param: &mut ContextParam, diags: &mut Diagnostics) {
    let sig = &item.sig;
    let ReturnType::Type(arrow, ty) = &sig.output else {
        return;
    };
    if matches!(&**ty, Type::Tuple(tuple) if tuple.elems.is_empty()) {
        return;
    }
    match vocabulary {
        Vocabulary::Structured if is_named(ty, "DataStreamWriter") => param.writer = Some((**ty).clone()),
        Vocabulary::Structured => diags.error_spanned(
            &quote::quote!(#arrow #ty),
            "a Structured Streaming job returns the query's writer, not a running query",
            Some(format!(
                "declare `-> DataStreamWriter<T>` (the type of the body's `.write_stream()..`) or no \
                 return type: the macro generates `fn {}(session, ..) -> streamflow::Result<StreamingQuery>`, \
                 which starts it",
                sig.ident
            )),
        ),
        Vocabulary::DStream if unit_result(ty) => param.returns = Returns::Declared(ty.clone()),
        Vocabulary::DStream => diags.error_spanned(
            &quote::quote!(#arrow #ty),
            "a DStream job returns nothing or `Result<(), E>`",
            Some(format!(
                "remove it, or declare `-> Result<(), E>` with your error type: the macro generates \
                 `fn {}(..) -> Result<StreamingContext, E>`, which builds the context",
                sig.ident
            )),
        ),
    }
}

/// Whether `ty` is `Result<(), ..>` (any path ending in `Result`, such as an alias).
fn unit_result(ty: &Type) -> bool {
    let Type::Path(path) = ty else { return false };
    let Some(last) = path.path.segments.last() else {
        return false;
    };
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return false;
    };
    last.ident == "Result"
        && matches!(args.args.first(), Some(GenericArgument::Type(Type::Tuple(unit))) if unit.elems.is_empty())
}

/// `Result<(), E>` with `ok` in place of `()`.
pub(crate) fn with_ok(result: &Type, ok: Type) -> Type {
    let mut result = result.clone();
    if let Type::Path(path) = &mut result {
        if let Some(last) = path.path.segments.last_mut() {
            if let PathArguments::AngleBracketed(args) = &mut last.arguments {
                if let Some(first) = args.args.first_mut() {
                    *first = GenericArgument::Type(ok);
                }
            }
        }
    }
    result
}

/// The parameters that are streams (`lines: DStream<String>`, `&DStream<T>`; in a query,
/// `words: Dataset<Word>`): the body's chains may start from them as from a source.
pub(crate) fn stream_params(
    item: &ItemFn,
    vocabulary: Vocabulary,
    context: &ContextParam,
) -> Vec<(Ident, Shape)> {
    let (type_name, shape) = match vocabulary {
        Vocabulary::DStream => ("DStream", Shape::Stream),
        Vocabulary::Structured => ("Dataset", Shape::Dataset),
    };
    item.sig
        .inputs
        .iter()
        .skip(usize::from(!context.added))
        .filter_map(|arg| match arg {
            FnArg::Typed(param) if is_named(&param.ty, type_name) => match &*param.pat {
                Pat::Ident(pat) if pat.subpat.is_none() => Some((pat.ident.clone(), shape)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The last name of a path type (`streamflow::StreamingContext` → `StreamingContext`).
fn last_name(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(path) if path.qself.is_none() => {
            path.path.segments.last().map(|last| last.ident.to_string())
        }
        Type::Paren(inner) => last_name(&inner.elem),
        Type::Group(inner) => last_name(&inner.elem),
        _ => None,
    }
}

/// Whether `ty` is a path without generic arguments (`Ctx`, `app::Ctx`, `Self::Ctx`).
fn plain_path(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .iter()
            .all(|segment| segment.arguments.is_none()),
        Type::Paren(inner) => plain_path(&inner.elem),
        Type::Group(inner) => plain_path(&inner.elem),
        _ => false,
    }
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
    use quote::quote;

    fn read(item: ItemFn, vocabulary: Vocabulary) -> (ContextParam, Vec<String>) {
        let mut diags = Diagnostics::default();
        let param = parse_signature(&item, vocabulary, &mut diags);
        (param, diags.messages())
    }

    #[test]
    fn the_first_parameter_is_the_context() {
        let (param, messages) = read(
            syn::parse_quote!(
                fn job(ssc: &StreamingContext, port: u16) {}
            ),
            Vocabulary::DStream,
        );
        assert!(messages.is_empty(), "{messages:#?}");
        assert!(param.name.is_some_and(|n| n == "ssc"));
        assert!(!param.added && param.alias.is_none());
    }

    #[test]
    fn a_wrong_first_parameter_is_one_error_and_read_as_meant() {
        // Left out: the generated functions add it, and every parameter is the job's.
        for item in [
            syn::parse_quote!(
                fn job(port: u16) {}
            ),
            syn::parse_quote!(
                fn job() {}
            ),
            syn::parse_quote!(
                fn job(dir: &Path) {}
            ),
        ] {
            let (param, messages) = read(item, Vocabulary::DStream);
            assert_eq!(messages.len(), 1, "{messages:#?}");
            assert!(messages[0].starts_with("the first parameter of a #[stream_job] function must be"));
            assert!(param.added);
        }
        // Written, but not as a shared reference: taken as one.
        for item in [
            syn::parse_quote!(
                fn job(ssc: &mut StreamingContext) {}
            ),
            syn::parse_quote!(
                fn job(ssc: StreamingContext) {}
            ),
        ] {
            let (param, messages) = read(item, Vocabulary::DStream);
            assert_eq!(messages.len(), 1, "{messages:#?}");
            assert!(!param.added && param.name.is_some());
        }
    }

    #[test]
    fn another_name_for_the_context_is_an_alias() {
        let (param, messages) = read(
            syn::parse_quote!(
                fn job(ctx: &'a Ctx) {}
            ),
            Vocabulary::DStream,
        );
        assert!(messages.is_empty(), "{messages:#?}");
        assert!(param.alias.is_some() && param.lifetime.is_some());
    }

    #[test]
    fn a_dstream_job_returns_nothing_or_a_unit_result() {
        for item in [
            syn::parse_quote!(
                fn job(ssc: &StreamingContext) {}
            ),
            syn::parse_quote!(
                fn job(ssc: &StreamingContext) -> () {}
            ),
        ] {
            let (param, messages) = read(item, Vocabulary::DStream);
            assert!(messages.is_empty());
            assert!(matches!(param.returns, Returns::Unit));
        }
        for item in [
            syn::parse_quote!(
                fn job(ssc: &StreamingContext) -> Result<(), AppError> {}
            ),
            syn::parse_quote!(
                fn job(ssc: &StreamingContext) -> streamflow::Result<()> {}
            ),
        ] {
            let (param, messages) = read(item, Vocabulary::DStream);
            assert!(messages.is_empty());
            let Returns::Declared(result) = param.returns else {
                panic!("not declared")
            };
            let built = with_ok(&result, syn::parse_quote!(StreamingContext));
            assert!(quote!(#built).to_string().contains("Result < StreamingContext"));
        }
        let (_, messages) = read(
            syn::parse_quote!(
                fn job(ssc: &StreamingContext) -> u32 {}
            ),
            Vocabulary::DStream,
        );
        assert!(messages[0].starts_with("a DStream job returns nothing or `Result<(), E>`"));
    }

    #[test]
    fn the_vocabulary_is_told_by_the_context_or_else_by_the_job() {
        let query: ItemFn = syn::parse_quote!(
            fn job(session: &streamflow::structured::Session) {}
        );
        assert_eq!(vocabulary(&query, &quote!()), Vocabulary::Structured);
        let aliased: ItemFn = syn::parse_quote!(
            fn job(spark: &Spark) {
                spark
                    .read_stream::<String>()
                    .memory(&input)
                    .write_stream()
                    .console()
            }
        );
        assert_eq!(vocabulary(&aliased, &quote!()), Vocabulary::Structured);
        let aliased: ItemFn = syn::parse_quote!(
            fn job(ctx: &Ctx) {}
        );
        assert_eq!(
            vocabulary(&aliased, &quote!(output_mode = update)),
            Vocabulary::Structured
        );
        assert_eq!(vocabulary(&aliased, &quote!(batch = "1s")), Vocabulary::DStream);
        for item in [
            syn::parse_quote!(
                fn job(ssc: &StreamingContext) {}
            ),
            syn::parse_quote!(
                fn job() {}
            ),
        ] {
            let item: ItemFn = item;
            assert_eq!(vocabulary(&item, &quote!()), Vocabulary::DStream);
        }
    }

    #[test]
    fn a_query_may_return_its_writer_only() {
        let (param, messages) = read(
            syn::parse_quote!(
                fn job(session: &Session) -> DataStreamWriter<Word> {}
            ),
            Vocabulary::Structured,
        );
        assert!(messages.is_empty() && param.writer.is_some());
        let (param, messages) = read(
            syn::parse_quote!(
                fn job(session: &Session) -> StreamingQuery {}
            ),
            Vocabulary::Structured,
        );
        assert!(param.writer.is_none());
        assert!(messages[0].starts_with("a Structured Streaming job returns the query's writer"));
    }
}
