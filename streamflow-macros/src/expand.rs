//! The macro's pipeline: parse, then check, then generate — each its own module.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

use crate::diagnostic::Diagnostics;
use crate::model::{Input, Vocabulary};
use crate::{codegen, fuse, parse, validate};

/// Expands `#[stream_job(attr)] item`. Always returns the job's functions (or, when their
/// shape cannot be made, the function as written) after every diagnostic, so the IDE and
/// the rest of the crate keep working while the user fixes the job.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item: ItemFn = match syn::parse2(item.clone()) {
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
    let vocabulary = parse::vocabulary(&item);
    let config = parse::parse_attribute(attr, vocabulary, &mut diags);
    let parsed = config.is_some();
    let config = config.unwrap_or_default();
    let settings = validate::check_config(&config, parsed, vocabulary, &mut diags);
    let Some(context) = parse::parse_signature(&item, vocabulary, &mut diags) else {
        let errors = diags.to_compile_errors();
        return quote!(#errors #item);
    };
    let streams = parse::stream_params(&item, vocabulary);
    let pipeline = parse::parse_body(&item.block, context.name.as_ref(), &streams, vocabulary);
    let generated = match vocabulary {
        Vocabulary::DStream => {
            let context_name = context
                .name
                .as_ref()
                .map_or_else(|| "ssc".to_owned(), ToString::to_string);
            validate::check_pipeline(
                &pipeline,
                &config,
                settings,
                &item.sig.ident,
                &context_name,
                &mut diags,
            );
            codegen::generate(&codegen::Job {
                item: &item,
                context: &context,
                config: &config,
                settings,
                plan: fuse::fuse(&pipeline).to_string(),
                runtime: codegen::runtime_path(),
            })
        }
        Vocabulary::Structured => {
            validate::structured::check_query(&pipeline, &config, &item.sig.ident, &mut diags);
            let body_names_query = pipeline
                .nodes
                .iter()
                .any(|node| node.name == "query_name" && matches!(node.input, Input::Stream(_)));
            codegen::generate_query(&codegen::Query {
                item: &item,
                context: &context,
                config: &config,
                body_names_query,
                plan: fuse::fuse_structured(&pipeline).to_string(),
                runtime: codegen::runtime_path(),
            })
        }
    };
    let errors = diags.to_compile_errors();
    quote!(#errors #generated)
}
