//! Code generation: the three functions a job becomes.
//!
//! For `fn word_count(ssc: &StreamingContext, port: u16) { BODY }` under
//! `#[stream_job(batch = "1s")]`:
//!
//! - `fn word_count(port: u16) -> streamflow::Result<StreamingContext>` builds the context from
//!   the attribute, runs the body on it and returns it, not started;
//! - `fn word_count_on(ssc: &StreamingContext, port: u16) -> streamflow::Result<()>` runs the
//!   body on a context the caller made (tests use it with a manual clock);
//! - `fn word_count_plan() -> &'static str` lists the fused stages, one line per stage.
//!
//! The body is emitted as written, so its spans, inference and errors are the user's own, with
//! three changes: a call the macro reported as a mistake rustc would also report is replaced
//! by the error (`replace_calls`); `return;` in a body that declares no return type returns
//! `Ok(())`; and on errors, a query's body is not started (nothing is applied to its value).

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::{self, VisitMut};
use syn::{Attribute, Block, Expr, FnArg, Ident, ItemFn, Pat, Stmt};

use crate::model::{CallId, JobConfig, TriggerAttr};
use crate::parse::{ContextParam, Returns, call_id, with_ok};
use crate::validate::Settings;

/// A stand-in batch interval, used only when the real one was reported as an error.
const PLACEHOLDER_BATCH_MS: u64 = 1_000;

/// Everything codegen needs about a job.
pub(crate) struct Job<'a> {
    pub(crate) item: &'a ItemFn,
    pub(crate) context: &'a ContextParam,
    pub(crate) config: &'a JobConfig,
    pub(crate) settings: Settings,
    pub(crate) plan: String,
    /// The path of the runtime crate, e.g. `::streamflow`.
    pub(crate) runtime: TokenStream,
    /// Whether the job is an associated function (its functions call each other via `Self::`).
    pub(crate) in_impl: bool,
    /// The stateful operator that needs a checkpoint none is set for, if there is one: where
    /// the builder's bound points.
    pub(crate) needs_checkpoint: Option<Span>,
}

/// The builder, the `_on` function and the `_plan` function of a job.
pub(crate) fn generate(job: &Job<'_>) -> TokenStream {
    let krate = &job.runtime;
    let item = job.item;
    let sig = &item.sig;
    let vis = &item.vis;
    let ident = &sig.ident;
    let on_ident = format_ident!("{}_on", ident);
    let plan_ident = format_ident!("{}_plan", ident);
    let on_path = sibling(job.in_impl, &on_ident);
    let (docs, others): (Vec<&Attribute>, Vec<&Attribute>) =
        item.attrs.iter().partition(|attr| attr.path().is_ident("doc"));

    // Parameters after the context: kept as written on `_on`; on the builder, without `mut`
    // and with a name for each, to pass them on.
    let rest: Vec<&FnArg> = own_params(sig, job.context);
    let (builder_params, forwarded) = forwarding(&rest);

    let ssc = Ident::new("ssc", Span::mixed_site());
    let batch_ms = Literal::u64_unsuffixed(job.settings.batch_ms.unwrap_or(PLACEHOLDER_BATCH_MS));
    let parallelism = Literal::usize_unsuffixed(job.settings.parallelism);
    let app_name = job
        .config
        .name
        .as_ref()
        .map_or_else(|| ident.to_string(), syn::LitStr::value);
    let checkpoint = job
        .config
        .checkpoint
        .as_ref()
        .map(|dir| quote!(.checkpoint(#dir)));

    let context_pat = match &job.context.name {
        Some(name) => quote!(#name),
        None => quote!(_),
    };
    let lifetime = &job.context.lifetime;
    let context_type = match &job.context.alias {
        Some(alias) => alias.to_token_stream(),
        None => quote!(#krate::StreamingContext),
    };
    // The builder's context as the `_on` function takes it: through a check that an alias
    // names the context, with the message of a wrong first parameter.
    let context_arg = match &job.context.alias {
        None => quote!(&#ssc),
        Some(alias) => {
            let check = quote_spanned! {alias.span()=>
                <#alias as JobContext>::context(&#ssc)
            };
            quote!({
                #[diagnostic::on_unimplemented(
                    message = "the first parameter of a #[stream_job] function must be `&StreamingContext`",
                    label = "`{Self}` is not `StreamingContext`",
                    note = "a DStream job takes the streaming context its builder makes; a query takes `&Session`"
                )]
                trait JobContext {
                    fn context(ssc: &#krate::StreamingContext) -> &Self;
                }
                impl JobContext for #krate::StreamingContext {
                    fn context(ssc: &#krate::StreamingContext) -> &Self {
                        ssc
                    }
                }
                #check
            })
        }
    };
    let ok = quote_spanned!(Span::call_site()=> ::core::result::Result::Ok);
    let context_result = quote!(#krate::StreamingContext);
    let (builder_result, on_result, on_body) = match &job.context.returns {
        Returns::Unit => {
            let mut block = item.block.as_ref().clone();
            UnitReturns.visit_block_mut(&mut block);
            let body = body_statements(&block.stmts);
            // A `?` of the body may be on the user's own errors (`port.parse()?`): the body
            // runs in a closure whose error is any error, handed back as a streamflow error.
            let on_body = if has_try(&block) {
                let job_name = ident.to_string();
                let run = Ident::new("body", Span::mixed_site());
                quote!({
                    let #run = || -> ::core::result::Result<(), #krate::macro_support::BodyError> {
                        #(#body)*
                        #ok(())
                    };
                    #run().map_err(|error| #krate::macro_support::body_error(#job_name, error))
                })
            } else {
                quote!({
                    #(#body)*
                    #ok(())
                })
            };
            (
                quote!(#krate::Result<#context_result>),
                quote!(#krate::Result<()>),
                on_body,
            )
        }
        Returns::Declared(result) => {
            let builder = with_ok(result, syn::parse_quote!(#context_result));
            let block = &item.block;
            (
                builder.to_token_stream(),
                result.to_token_stream(),
                quote!(#block),
            )
        }
    };
    let on_body = if job.context.body {
        on_body
    } else {
        unreachable_body()
    };

    // The builder's generics: the job's, and for the bound of a missing checkpoint, a
    // lifetime of its own (a bound without one would be checked here, not at the call).
    let mut generics = sig.generics.clone();
    if let Some(at) = job.needs_checkpoint {
        let lifetime: syn::LifetimeParam = syn::parse_quote!('__streamflow_context);
        generics.params.insert(0, syn::GenericParam::Lifetime(lifetime));
        let bound = respan(
            quote! {
                #krate::macro_support::ContextFromAttribute<'__streamflow_context>:
                    #krate::macro_support::CheckpointDirectory
            },
            at,
        );
        generics
            .make_where_clause()
            .predicates
            .push(syn::parse_quote!(#bound));
    }
    let (builder_generics, builder_where) = (&generics, &generics.where_clause);
    let (on_generics, on_where) = (&sig.generics, &sig.generics.where_clause);

    let on_doc = format!(
        " Builds the pipeline of `{ident}` on a context the caller made, e.g. one with a manual \
         clock in a test. Generated by `#[stream_job]`."
    );
    let plan_doc = format!(
        " The fused stages of `{ident}` as `#[stream_job]` sees them, one line per stage. \
         Generated by `#[stream_job]`."
    );
    let plan = Literal::string(&job.plan);

    quote! {
        #(#docs)*
        #(#others)*
        #vis fn #ident #builder_generics (#(#builder_params),*) -> #builder_result #builder_where {
            let #ssc = #krate::StreamingContext::builder()
                .batch_duration(#krate::Duration::from_millis(#batch_ms))
                .parallelism(#parallelism)
                .app_name(#app_name)
                #checkpoint
                .build()?;
            #on_path(#context_arg, #(#forwarded),*)?;
            #ok(#ssc)
        }

        #[doc = #on_doc]
        #(#others)*
        #vis fn #on_ident #on_generics (
            #context_pat: &#lifetime #context_type,
            #(#rest),*
        ) -> #on_result #on_where #on_body

        #[doc = #plan_doc]
        #(#others)*
        #vis fn #plan_ident() -> &'static str {
            #plan
        }
    }
}

/// Everything codegen needs about a Structured Streaming query.
pub(crate) struct Query<'a> {
    pub(crate) item: &'a ItemFn,
    pub(crate) context: &'a ContextParam,
    pub(crate) config: &'a JobConfig,
    /// Whether the body names the query itself (`.query_name(..)`): then the function's name
    /// is not given as the default.
    pub(crate) body_names_query: bool,
    pub(crate) plan: String,
    pub(crate) runtime: TokenStream,
    /// Whether the job is an associated function (its functions call each other via `Self::`).
    pub(crate) in_impl: bool,
    /// Whether an error was reported: then the body's value is not started (what it is may
    /// be the mistake), only type-checked.
    pub(crate) failed: bool,
}

/// The functions of a query: `job(session, ..) -> Result<StreamingQuery>`, `job_plan()`, and,
/// when the function declares `-> DataStreamWriter<T>`, `job_writer(session, ..)`.
pub(crate) fn generate_query(job: &Query<'_>) -> TokenStream {
    let krate = &job.runtime;
    let item = job.item;
    let sig = &item.sig;
    let vis = &item.vis;
    let ident = &sig.ident;
    let writer_ident = format_ident!("{}_writer", ident);
    let writer_path = sibling(job.in_impl, &writer_ident);
    let plan_ident = format_ident!("{}_plan", ident);
    let (generics, where_clause) = (&sig.generics, &sig.generics.where_clause);
    let (docs, others): (Vec<&Attribute>, Vec<&Attribute>) =
        item.attrs.iter().partition(|attr| attr.path().is_ident("doc"));
    let rest: Vec<&FnArg> = own_params(sig, job.context);
    let (builder_params, forwarded) = forwarding(&rest);

    let lifetime = &job.context.lifetime;
    let session_type = match &job.context.alias {
        Some(alias) => quote!(&#lifetime #alias),
        None => quote!(&#lifetime #krate::structured::Session),
    };
    let session_pat = match &job.context.name {
        Some(name) => quote!(#name),
        None => quote!(_),
    };
    let writer = Ident::new("writer", Span::mixed_site());
    let session = Ident::new("session", Span::mixed_site());

    let mut settings = Vec::new();
    if let Some(mode) = &job.config.output_mode {
        let variant = Ident::new(mode.value.name(), Span::call_site());
        settings.push(quote!(.output_mode(#krate::structured::OutputMode::#variant)));
    }
    if let Some(trigger) = &job.config.trigger {
        let made = match &trigger.value {
            TriggerAttr::Default => {
                quote!(<#krate::structured::Trigger as ::core::default::Default>::default())
            }
            TriggerAttr::ProcessingTime(interval) => {
                quote!(#krate::structured::Trigger::processing_time(#interval))
            }
            TriggerAttr::Once => quote!(#krate::structured::Trigger::once()),
            TriggerAttr::AvailableNow => quote!(#krate::structured::Trigger::available_now()),
            TriggerAttr::Continuous(interval) => {
                quote!(#krate::structured::Trigger::continuous(#interval))
            }
        };
        settings.push(quote!(.trigger(#made)));
    }
    match &job.config.name {
        Some(name) => settings.push(quote!(.query_name(#name))),
        None if !job.body_names_query => {
            let name = ident.to_string();
            settings.push(quote!(.query_name(#name)));
        }
        None => {}
    }
    if let Some(dir) = &job.config.checkpoint {
        settings.push(quote!(.checkpoint_location(#dir)));
    }
    let stmts = &item.block.stmts;
    // A `return` in the body returns the writer: the body is a closure's then.
    let value = if job.context.body && has_return(&item.block) {
        quote!((|| { #(#stmts)* })())
    } else if job.context.body {
        quote!({ #(#stmts)* })
    } else {
        quote!(::core::unreachable!())
    };
    let plan = Literal::string(&job.plan);
    let plan_doc = format!(
        " The stages of the query `{ident}` as `#[stream_job]` sees them, one line per stage. \
         Generated by `#[stream_job]`."
    );
    let ok = quote_spanned!(Span::call_site()=> ::core::result::Result::Ok);
    let query_type = quote!(#krate::Result<#krate::structured::StreamingQuery>);
    let failed = quote!(
        let _ = #value;
        ::core::unreachable!("#[stream_job] reported an error")
    );

    let functions = match &job.context.writer {
        Some(writer_type) => {
            let writer_doc = format!(
                " The writer of the query `{ident}` with the settings of its `#[stream_job]` \
                 attribute applied, not started (`{ident}` starts it). Generated by `#[stream_job]`."
            );
            let body = if job.failed {
                failed
            } else {
                quote! {
                    let #writer: #writer_type = #value;
                    #ok(#writer #(#settings)*)
                }
            };
            quote! {
                #(#docs)*
                #(#others)*
                #vis fn #ident #generics (#session: #session_type, #(#builder_params),*) -> #query_type #where_clause {
                    #writer_path(#session, #(#forwarded),*)?.start()
                }

                #[doc = #writer_doc]
                #(#others)*
                #vis fn #writer_ident #generics (
                    #session_pat: #session_type,
                    #(#rest),*
                ) -> #krate::Result<#writer_type> #where_clause {
                    #body
                }
            }
        }
        None => {
            let body = if job.failed {
                failed
            } else {
                quote! {
                    let #writer = #value;
                    #writer #(#settings)* .start()
                }
            };
            quote! {
                #(#docs)*
                #(#others)*
                #vis fn #ident #generics (#session_pat: #session_type, #(#rest),*) -> #query_type #where_clause {
                    #body
                }
            }
        }
    };
    quote! {
        #functions

        #[doc = #plan_doc]
        #(#others)*
        #vis fn #plan_ident() -> &'static str {
            #plan
        }
    }
}

/// `tokens` with every span set to `span` (rustc points at a bound by its tokens' span).
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let proc_macro2::TokenTree::Group(group) = &token {
                let mut inner = proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                token = proc_macro2::TokenTree::Group(inner);
            }
            token.set_span(span);
            token
        })
        .collect()
}

/// The path by which one generated function calls another: `Self::name` in an `impl` block.
fn sibling(in_impl: bool, name: &Ident) -> TokenStream {
    if in_impl {
        quote!(Self::#name)
    } else {
        quote!(#name)
    }
}

/// The job's own parameters: those after the context, or all of them when the context
/// parameter was left out (and the generated functions add it).
fn own_params<'a>(sig: &'a syn::Signature, context: &ContextParam) -> Vec<&'a FnArg> {
    let skip = usize::from(!context.added);
    sig.inputs
        .iter()
        .skip(skip)
        .filter(|arg| matches!(arg, FnArg::Typed(_)))
        .collect()
}

/// The body of a function whose body cannot be emitted (the error is reported).
fn unreachable_body() -> TokenStream {
    quote!({ ::core::unreachable!("#[stream_job] reported an error") })
}

/// Replaces each method call of `block` that an error is about (see `diagnostic.rs`) by
/// `{ let _ = &receiver; compile_error!(..) }`: the receiver is still type-checked, the call
/// is the error, and its value has rustc's error type, so nothing after it is an error too.
/// Gives back the errors whose call was not found.
pub(crate) fn replace_calls(block: &mut Block, errors: Vec<(CallId, syn::Error)>) -> Vec<syn::Error> {
    let mut replacer = Replacer { errors };
    replacer.visit_block_mut(block);
    replacer.errors.into_iter().map(|(_, error)| error).collect()
}

struct Replacer {
    errors: Vec<(CallId, syn::Error)>,
}

impl VisitMut for Replacer {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        if let Expr::MethodCall(call) = expr {
            let id = call_id(call);
            if let Some(at) = self.errors.iter().position(|(call, _)| *call == id) {
                let (_, error) = self.errors.remove(at);
                let error = error.to_compile_error();
                let mut replaced: Expr = syn::parse_quote!({
                    let _ = &();
                    (#error)
                });
                // The receiver moves in as its box, so the calls inside it keep their place in
                // memory, and are found after this one is replaced.
                if let Expr::Block(block) = &mut replaced {
                    if let Some(Stmt::Local(local)) = block.block.stmts.first_mut() {
                        if let Some(init) = &mut local.init {
                            if let Expr::Reference(reference) = &mut *init.expr {
                                let placeholder = Box::new(Expr::Verbatim(TokenStream::new()));
                                reference.expr = std::mem::replace(&mut call.receiver, placeholder);
                            }
                        }
                    }
                }
                visit_mut::visit_expr_mut(self, &mut replaced);
                *expr = replaced;
                return;
            }
        }
        visit_mut::visit_expr_mut(self, expr);
    }
}

/// `recv.write_stream()` → `recv.write_stream().append()` for each call of `calls`: the typed
/// output mode `mode`, its name spanned `at` (where the mode is chosen), so that a mode the
/// dataset's shape does not allow is rustc's error there.
pub(crate) fn typed_modes(block: &mut Block, calls: Vec<CallId>, mode: &str, at: Span) {
    struct Typed {
        calls: Vec<CallId>,
        method: Ident,
    }
    impl VisitMut for Typed {
        fn visit_expr_mut(&mut self, expr: &mut Expr) {
            visit_mut::visit_expr_mut(self, expr);
            let Expr::MethodCall(call) = expr else { return };
            if !self.calls.contains(&call_id(call)) {
                return;
            }
            let method = &self.method;
            let written = std::mem::replace(expr, Expr::Verbatim(TokenStream::new()));
            *expr = syn::parse_quote!(#written.#method());
        }
    }
    if !calls.is_empty() {
        Typed {
            calls,
            method: Ident::new(mode, at),
        }
        .visit_block_mut(block);
    }
}

/// `return;` → `return Ok(());` in a body run as if it returned `streamflow::Result<()>`
/// (closures and nested items have returns of their own).
struct UnitReturns;

impl VisitMut for UnitReturns {
    fn visit_expr_mut(&mut self, expr: &mut Expr) {
        match expr {
            Expr::Return(ret) if ret.expr.is_none() => {
                let span = ret.return_token.span;
                ret.expr = Some(Box::new(
                    syn::parse_quote_spanned!(span=> ::core::result::Result::Ok(())),
                ));
            }
            Expr::Closure(_) | Expr::Async(_) => {}
            other => visit_mut::visit_expr_mut(self, other),
        }
    }

    fn visit_item_mut(&mut self, _: &mut syn::Item) {}
}

/// Whether the body has a `return` of its own (not a closure's or a nested item's).
fn has_return(block: &Block) -> bool {
    body_has(block, |expr| matches!(expr, Expr::Return(_)))
}

/// Whether the body has a `?` of its own (not a closure's or a nested item's).
fn has_try(block: &Block) -> bool {
    body_has(block, |expr| matches!(expr, Expr::Try(_)))
}

/// Whether an expression of the body itself (not of a closure or a nested item) is `what`.
fn body_has(block: &Block, what: fn(&Expr) -> bool) -> bool {
    struct Finder(bool, fn(&Expr) -> bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_expr(&mut self, expr: &'ast Expr) {
            if (self.1)(expr) {
                self.0 = true;
            }
            if !matches!(expr, Expr::Closure(_) | Expr::Async(_)) {
                syn::visit::visit_expr(self, expr);
            }
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
    }
    let mut finder = Finder(false, what);
    syn::visit::Visit::visit_block(&mut finder, block);
    finder.0
}

/// The parameters after the context, for a function that forwards them: without `mut` and
/// with a name for each; and those names.
fn forwarding(rest: &[&FnArg]) -> (Vec<TokenStream>, Vec<Ident>) {
    let mut params = Vec::with_capacity(rest.len());
    let mut forwarded = Vec::with_capacity(rest.len());
    for (index, arg) in rest.iter().enumerate() {
        let FnArg::Typed(param) = arg else { continue };
        let name = match &*param.pat {
            Pat::Ident(pat) if pat.subpat.is_none() && pat.by_ref.is_none() => pat.ident.clone(),
            _ => Ident::new(&format!("__streamflow_arg{index}"), Span::mixed_site()),
        };
        let (attrs, ty) = (&param.attrs, &param.ty);
        params.push(quote!(#(#attrs)* #name: #ty));
        forwarded.push(name);
    }
    (params, forwarded)
}

/// The body's statements, with a tail expression turned into a statement (the generated
/// function goes on to return `Ok(())`). Block-like tails need no `;` and get none, so no
/// `redundant_semicolons` lint fires.
fn body_statements(stmts: &[Stmt]) -> Vec<TokenStream> {
    stmts
        .iter()
        .map(|stmt| match stmt {
            Stmt::Expr(expr, None) if !is_block_like(expr) => quote!(#expr;),
            other => quote!(#other),
        })
        .collect()
}

fn is_block_like(expr: &syn::Expr) -> bool {
    use syn::Expr;
    matches!(
        expr,
        Expr::Block(_)
            | Expr::If(_)
            | Expr::Match(_)
            | Expr::Loop(_)
            | Expr::While(_)
            | Expr::ForLoop(_)
            | Expr::Unsafe(_)
            | Expr::TryBlock(_)
            | Expr::Const(_)
    )
}

/// The path of the runtime crate as the user's crate names it: `::streamflow`, or the
/// renamed dependency (`sf = { package = "streamflow" }` gives `::sf`).
pub(crate) fn runtime_path() -> TokenStream {
    use proc_macro_crate::{FoundCrate, crate_name};
    match crate_name("streamflow") {
        Ok(FoundCrate::Name(name)) if name != "streamflow" => {
            let name = Ident::new(&name, Span::call_site());
            quote!(::#name)
        }
        // `Itself` also covers the runtime's own tests and examples, where `::streamflow` is
        // right; inside its library, `extern crate self as streamflow;` makes it right too.
        _ => quote!(::streamflow),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expand::expand;

    fn pretty(tokens: TokenStream) -> String {
        match syn::parse2::<syn::File>(tokens.clone()) {
            Ok(file) => prettyplease::unparse(&file),
            Err(error) => panic!("expansion does not parse: {error}\n{tokens}"),
        }
    }

    #[test]
    fn generates_the_builder_the_on_function_and_the_plan() {
        let out = pretty(expand(
            quote!(batch = "1s", checkpoint = "/tmp/cp"),
            quote! {
                /// Counts words.
                pub fn word_count(ssc: &StreamingContext, host: &str, mut port: u16) {
                    port += 1;
                    ssc.socket_text_stream(host, port).map(|w| (w, 1)).reduce_by_key(|a, b| a + b).print()
                }
            },
        ));
        let expected = r#"/// Counts words.
pub fn word_count(
    host: &str,
    port: u16,
) -> ::streamflow::Result<::streamflow::StreamingContext> {
    let ssc = ::streamflow::StreamingContext::builder()
        .batch_duration(::streamflow::Duration::from_millis(1000))
        .parallelism(2)
        .app_name("word_count")
        .checkpoint("/tmp/cp")
        .build()?;
    word_count_on(&ssc, host, port)?;
    ::core::result::Result::Ok(ssc)
}
/// Builds the pipeline of `word_count` on a context the caller made, e.g. one with a manual clock in a test. Generated by `#[stream_job]`.
pub fn word_count_on(
    ssc: &::streamflow::StreamingContext,
    host: &str,
    mut port: u16,
) -> ::streamflow::Result<()> {
    port += 1;
    ssc.socket_text_stream(host, port)
        .map(|w| (w, 1))
        .reduce_by_key(|a, b| a + b)
        .print();
    ::core::result::Result::Ok(())
}
/// The fused stages of `word_count` as `#[stream_job]` sees them, one line per stage. Generated by `#[stream_job]`.
pub fn word_count_plan() -> &'static str {
    "stage 1: socket_text_stream\nstage 2: map\nstage 3: reduce_by_key → print"
}
"#;
        assert_eq!(out, expected, "\n{out}");
    }

    #[test]
    fn errors_come_with_the_functions_so_later_code_still_compiles() {
        let out = pretty(expand(
            quote!(batch = "1s"),
            quote!(
                fn job(ssc: &StreamingContext) {
                    ssc.socket_text_stream("h", 1).mapp(|x| x).print();
                }
            ),
        ));
        assert!(out.contains("compile_error!"), "{out}");
        assert!(out.contains("fn job()"), "{out}");
        assert!(out.contains("fn job_on("), "{out}");
        assert!(out.contains("fn job_plan()"), "{out}");
    }

    #[test]
    fn a_wrong_signature_gives_the_functions_their_intended_signatures() {
        let out = pretty(expand(
            quote!(batch = "1s"),
            quote!(
                fn job(port: u16) {
                    let _ = port;
                }
            ),
        ));
        assert!(out.contains("compile_error!"), "{out}");
        assert!(out.contains("fn job(port: u16)"), "{out}");
        assert!(
            out.contains("fn job_on(_: &::streamflow::StreamingContext, port: u16)"),
            "{out}"
        );
    }

    #[test]
    fn a_reported_call_is_replaced_by_its_error() {
        let out = pretty(expand(
            quote!(batch = "1s"),
            quote!(
                fn job(ssc: &StreamingContext) {
                    ssc.socket_text_stream("h", 1).mapp(|x| x).prnt();
                }
            ),
        ));
        assert!(!out.contains(".mapp("), "{out}");
        assert!(!out.contains(".prnt("), "{out}");
        assert_eq!(out.matches("compile_error!").count(), 2, "{out}");
        assert!(
            out.contains("let _ = &ssc.socket_text_stream(\"h\", 1);"),
            "{out}"
        );
    }

    #[test]
    fn return_in_a_body_without_a_return_type_returns_ok() {
        let out = pretty(expand(
            quote!(batch = "1s"),
            quote!(
                fn job(ssc: &StreamingContext, on: bool) {
                    if !on {
                        return;
                    }
                    let f = || {
                        return;
                    };
                    ssc.socket_text_stream("h", 1).print();
                }
            ),
        ));
        assert_eq!(
            out.matches("return ::core::result::Result::Ok(());").count(),
            1,
            "{out}"
        );
    }
}
