//! `#[stream_job]`: a streaming pipeline written as an ordinary function body, checked and
//! fused at compile time.
//!
//! This crate is the procedural-macro half of [streamflow]; use it through the runtime's
//! re-export, `streamflow::stream_job` (also in `streamflow::prelude`). The job's body uses the
//! runtime's method chains as they are, so rust-analyzer, rustfmt and type inference work
//! unchanged; the macro reads the chains and turns the mistakes Spark reports at run time into
//! compile errors that point at the tokens at fault, all of them in one compile.
//!
//! # How it works
//!
//! The macro runs in separate stages, each in its own module and unit-tested on its own:
//!
//! 1. **parse** (`parse.rs`): the attribute into a job config, the signature into
//!    the context parameter, the body into a pipeline model — every operator call with its span,
//!    its input streams and its literal arguments — by following method chains rooted at the
//!    context or at `let` bindings of streams;
//! 2. **validate**: every rule, each error collected with its span;
//! 3. **fuse**: runs of stateless operators become one stage, as Spark cuts stages at shuffles;
//! 4. **codegen**: the job's three functions. On errors the functions are still generated, so
//!    the IDE and the rest of the crate keep working while the job is fixed.
//!
//! The operator table lives in one place, `registry.rs`. Duration strings are parsed by the
//! runtime's own parser (`streamflow/src/time/parse.rs`, included here), so the compile-time
//! check and the runtime accept exactly the same strings.
//!
//! [streamflow]: https://docs.rs/streamflow

mod codegen;
mod diagnostic;
mod expand;
mod fuse;
mod model;
mod parse;
mod registry;
mod suggest;
mod validate;

/// The runtime's duration parser, shared so both accept exactly the same strings.
#[path = "../../streamflow/src/time/parse.rs"]
mod duration_parse;

use proc_macro::TokenStream;

/// Compiles a pipeline written as a function body into a validated streaming job.
///
/// ```ignore
/// use streamflow::prelude::*;
///
/// /// Words from a TCP socket, counted per one-second batch.
/// #[stream_job(batch = "1s", parallelism = 2)]
/// fn network_word_count(ssc: &StreamingContext, host: &str, port: u16) {
///     ssc.socket_text_stream(host, port)
///         .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
///         .map(|word| (word, 1))
///         .reduce_by_key(|a, b| a + b)
///         .print();
/// }
///
/// fn main() -> streamflow::Result<()> {
///     let ssc = network_word_count("localhost", 9999)?; // built and checked, not started
///     println!("{}", network_word_count_plan());
///     ssc.start()?;
///     ssc.await_termination()
/// }
/// ```
///
/// (This example is compiled and run by `ui-tests/tests/ui/pass/network_word_count.rs`.)
///
/// # The function
///
/// Its first parameter is the streaming context, `&StreamingContext` (any name); the others
/// are the job's own. It declares no return type, and `?` works in its body. It becomes three
/// functions with the same visibility:
///
/// | generated | what it does |
/// |---|---|
/// | `fn job(params..) -> streamflow::Result<StreamingContext>` | builds the context from the attribute, runs the body on it, returns it **not started** |
/// | `fn job_on(ssc: &StreamingContext, params..) -> streamflow::Result<()>` | runs the body on a context the caller made (a test's manual clock) |
/// | `fn job_plan() -> &'static str` | the fused stages, one line per stage: `stage 1: socket_text_stream → flat_map → map` |
///
/// # The attribute
///
/// | key | value | default |
/// |---|---|---|
/// | `batch` | the batch interval, a duration string: `"500ms"`, `"1s"`, `"10 seconds"`, `"1 minute"` | required |
/// | `parallelism` | worker threads (Spark's `local[N]`), at least 1 | `2` |
/// | `checkpoint` | the checkpoint directory | none |
/// | `name` | the application name | the function's name |
///
/// `trigger` and `output_mode` belong to Structured Streaming queries and are rejected for
/// DStream jobs.
///
/// # What is checked at compile time
///
/// - every method called on the context or on a stream is a known operator (with a "did you
///   mean" for typos and for Spark's camelCase names), called on the right thing;
/// - duration literals parse (`"10 minuts"` does not), and window lengths and slides are
///   multiples of the batch interval (or of the slide of the window they read);
/// - the job has an output operation, and nothing is chained after one;
/// - stateful and inverse-window operators have a checkpoint directory, from the attribute or
///   from `ssc.checkpoint(dir)` in the body.
///
/// A stream handed to code the macro cannot see (a helper function) may get its output there,
/// so then the "no output operation" check is left to the runtime.
///
/// # Operators
///
/// - sources, on the context: `socket_text_stream`, `text_file_stream`, `queue_stream`,
///   `receiver_stream`, `generator_stream`, `rate_stream`;
/// - stateless, fused into one pass: `map`, `flat_map`, `filter`, `map_partitions`, `glom`,
///   `map_values`, `flat_map_values`, `transform`, `union`, `persist`, `cache`;
/// - per-batch aggregations (each starts a stage): `repartition`, `count`, `reduce`,
///   `count_by_value`, `reduce_by_key`, `reduce_by_key_into`, `group_by_key`,
///   `combine_by_key`, `join`, `left_outer_join`, `right_outer_join`, `full_outer_join`,
///   `cogroup`, `transform_with`;
/// - windows: `window`, `count_by_window`, `reduce_by_window`, `reduce_by_window_inv`,
///   `reduce_by_key_and_window`, `reduce_by_key_and_window_inv`, `count_by_value_and_window`,
///   `group_by_key_and_window`;
/// - state: `update_state_by_key`, `update_state_by_key_with_initial`,
///   `update_state_by_key_with_time`, `map_with_state`, `state_snapshots`;
/// - outputs: `print`, `print_n`, `save_as_text_files`, `foreach_batch`,
///   `foreach_partition`;
/// - context calls: `checkpoint`, `remember`.
///
/// `union` works on a stream (`a.union(&b)`) and on the context (`ssc.union(&[a, b])?`).
/// Getters such as `slide_duration` and `batch_duration` may be called anywhere;
/// `start`, `stop` and `await_termination` belong to the caller, not the body. `clone()` of the
/// context or of a stream, and `into_dstream()` of `map_with_state`'s result, are the same
/// context or stream. `ssc.session()` hands the context to Structured Streaming, which this
/// macro does not check; a job that calls it leaves the "no output operation" check to the
/// runtime.
///
/// # Seeing the expansion
///
/// `STREAMFLOW_DUMP=1 cargo build` prints every job's expansion, pretty-printed, to stderr;
/// `STREAMFLOW_DUMP=job_name` prints only that job's. Cargo does not rebuild for a change of
/// the variable alone: touch the file or `cargo clean -p` the crate first.
#[proc_macro_attribute]
pub fn stream_job(attr: TokenStream, item: TokenStream) -> TokenStream {
    let expanded = expand::expand(attr.into(), item.into());
    dump_if_asked(&expanded);
    expanded.into()
}

/// Prints the expansion to stderr when `STREAMFLOW_DUMP` asks for it.
fn dump_if_asked(expanded: &proc_macro2::TokenStream) {
    let Some(wanted) = std::env::var_os("STREAMFLOW_DUMP") else {
        return;
    };
    let wanted = wanted.to_string_lossy();
    if wanted.is_empty() || wanted == "0" {
        return;
    }
    let text = match syn::parse2::<syn::File>(expanded.clone()) {
        Ok(file) => {
            let all = wanted == "1" || wanted.eq_ignore_ascii_case("all");
            let named = file
                .items
                .iter()
                .any(|item| matches!(item, syn::Item::Fn(f) if f.sig.ident == *wanted));
            if !all && !named {
                return;
            }
            prettyplease::unparse(&file)
        }
        Err(_) => expanded.to_string(),
    };
    eprintln!("// ---- #[stream_job] expansion ----\n{text}");
}

#[cfg(test)]
mod tests {
    /// The operator list in the docs above is the registry's.
    #[test]
    fn the_documented_operators_are_the_registry() {
        let docs = include_str!("lib.rs");
        let section = docs
            .split("/// # Operators")
            .nth(1)
            .and_then(|rest| rest.split("/// `union` works").next())
            .unwrap_or_default();
        let documented: Vec<&str> = section.split('`').skip(1).step_by(2).collect();
        let registered: Vec<&str> = crate::registry::OPERATORS
            .iter()
            .filter(|op| {
                !matches!(
                    op.category,
                    crate::registry::Category::Passthrough
                        | crate::registry::Category::Accessor
                        | crate::registry::Category::Lifecycle
                        | crate::registry::Category::Handoff
                )
            })
            .map(|op| op.name)
            .collect();
        assert_eq!(documented, registered);
    }
}
