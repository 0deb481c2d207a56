//! The macro's pipeline: parse, then check, then generate — each its own module.

use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::ItemFn;

use crate::diagnostic::Diagnostics;
use crate::model::{Input, Vocabulary};
use crate::{codegen, fuse, parse, registry, validate};

/// Expands `#[stream_job(attr)] item`. Always returns the job's functions, with the intended
/// signatures, after every diagnostic, so the IDE and the rest of the crate keep working while
/// the user fixes the job.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let mut item: ItemFn = match syn::parse2(item.clone()) {
        Ok(item) => item,
        Err(error) => {
            let error = syn::Error::new(
                error.span(),
                "#[stream_job] goes on a function: `fn job(ssc: &StreamingContext, ..) { .. }` \
                 or `fn query(session: &Session, ..) { .. }`",
            )
            .to_compile_error();
            return quote!(#error #item);
        }
    };
    let mut diags = Diagnostics::default();
    let vocabulary = parse::vocabulary(&item, &attr);
    let config = parse::parse_attribute(attr, vocabulary, &mut diags);
    let parsed = config.is_some();
    let config = config.unwrap_or_default();
    let settings = validate::check_config(&config, parsed, vocabulary, &mut diags);
    let context = parse::parse_signature(&item, vocabulary, &mut diags);
    let streams = parse::stream_params(&item, vocabulary, &context);
    let pipeline = parse::parse_body(&item.block, context.name.as_ref(), &streams, vocabulary);
    let in_impl = parse::in_impl_block(Span::call_site(), &item.sig.ident);
    // The context's name for help lines; none when the function has no context parameter.
    let context_name = match (&context.name, context.added) {
        (_, true) => None,
        (Some(name), false) => Some(name.to_string()),
        (None, false) => Some("ssc".to_owned()),
    };
    let mut unseen = Vec::new();
    match vocabulary {
        Vocabulary::DStream => {
            validate::check_pipeline(
                &pipeline,
                &config,
                settings,
                &item.sig.ident,
                context_name.as_deref(),
                &mut diags,
            );
        }
        Vocabulary::Structured => {
            unseen = validate::structured::check_query(&pipeline, &config, &item.sig.ident, &mut diags);
        }
    }
    // Every error about a call of the body takes the call's place there.
    let in_place = diags.take_in_place();
    let failed = diags.any() || !in_place.is_empty();
    let unplaced = codegen::replace_calls(&mut item.block, in_place);
    diags.unplaced(unplaced);
    // A dataset the macro cannot see into is written in the query's mode as a typed method,
    // checked by rustc against its shape; where the mode is chosen is where an error points.
    let mode = match &config.output_mode {
        Some(given) => {
            let at = given.tokens.clone().into_iter().next().map(|token| token.span());
            Some((given.value, at.unwrap_or_else(Span::call_site)))
        }
        None if config.is_invalid("output_mode") => None,
        None => Some((registry::Mode::Append, item.sig.ident.span())),
    };
    if let Some((mode, at)) = mode {
        codegen::typed_modes(&mut item.block, unseen, mode.key(), at);
    }
    let generated = match vocabulary {
        Vocabulary::DStream => codegen::generate(&codegen::Job {
            item: &item,
            context: &context,
            config: &config,
            settings,
            plan: fuse::fuse(&pipeline).to_string(),
            runtime: codegen::runtime_path(),
            in_impl,
            needs_checkpoint: validate::needs_checkpoint(&pipeline, &config).map(|(span, _)| span),
        }),
        Vocabulary::Structured => {
            let body_names_query = pipeline
                .nodes
                .iter()
                .any(|node| node.operator() == "query_name" && matches!(node.input, Input::Stream(_)));
            codegen::generate_query(&codegen::Query {
                item: &item,
                context: &context,
                config: &config,
                body_names_query,
                plan: fuse::fuse_structured(&pipeline).to_string(),
                runtime: codegen::runtime_path(),
                in_impl,
                failed,
            })
        }
    };
    let errors = diags.to_compile_errors();
    quote!(#errors #generated)
}
