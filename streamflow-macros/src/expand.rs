//! The macro's pipeline: parse, then check, then generate — each its own module.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ItemFn;

use crate::diagnostic::Diagnostics;
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
                "#[stream_job] goes on a function: `fn job(ssc: &StreamingContext, ..) { .. }`",
            )
            .to_compile_error();
            return quote!(#error #item);
        }
    };
    let mut diags = Diagnostics::default();
    let config = parse::parse_attribute(attr, &mut diags);
    let parsed = config.is_some();
    let config = config.unwrap_or_default();
    let settings = validate::check_config(&config, parsed, &mut diags);
    let Some(context) = parse::parse_signature(&item, &mut diags) else {
        let errors = diags.to_compile_errors();
        return quote!(#errors #item);
    };
    let streams = parse::stream_params(&item);
    let pipeline = parse::parse_body(&item.block, context.name.as_ref(), &streams);
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
    let plan = fuse::fuse(&pipeline).to_string();
    let generated = codegen::generate(&codegen::Job {
        item: &item,
        context: &context,
        config: &config,
        settings,
        plan,
        runtime: codegen::runtime_path(),
    });
    let errors = diags.to_compile_errors();
    quote!(#errors #generated)
}
