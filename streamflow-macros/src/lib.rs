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
//! 1. **parse** (`parse/`): the attribute into a job config, the signature into
//!    the context parameter (which also tells the vocabulary: `&StreamingContext` for a DStream
//!    job, `&Session` for a Structured Streaming query), the body into a pipeline model — every
//!    operator call with its span, its inputs and its literal arguments — by following method
//!    chains rooted at the context or at `let` bindings;
//! 2. **validate** (`validate/`): every rule, each error collected with its span; the query
//!    rules are the runtime's own `start()` checks (`validate/structured/`);
//! 3. **fuse**: the stages, cut with the runtime's rules (see "The plan" below);
//! 4. **codegen**: the job's functions. On errors the functions are still generated, so
//!    the IDE and the rest of the crate keep working while the job is fixed.
//!
//! The operator table lives in one place, `registry.rs`. The rules the runtime also checks
//! are the runtime's own files, included here: the duration parser
//! (`streamflow/src/time/parse.rs`), the output-mode rules (`streamflow/src/event_time/rules.rs`)
//! and the window rules (`streamflow/src/window/rules.rs`). So the compile-time check and the
//! runtime accept exactly the same jobs, and say the same words about the others.
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

/// The runtime's output-mode rules, shared so both reject the same queries in the same words.
#[path = "../../streamflow/src/event_time/rules.rs"]
mod output_mode_rules;

/// The runtime's rules of continuous mode, shared so both refuse the same operators in the
/// same words.
#[path = "../../streamflow/src/exec/continuous/rules.rs"]
mod continuous_rules;

/// The runtime's window rules, shared so both reject the same windows in the same words.
#[path = "../../streamflow/src/window/rules.rs"]
mod window_rules;

use proc_macro::TokenStream;

/// Compiles a pipeline written as a function body into a validated streaming job: a DStream
/// job (first parameter `&StreamingContext`) or a Structured Streaming query (first parameter
/// `&Session`).
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
/// # A DStream job
///
/// Its first parameter is the streaming context, `&StreamingContext` (any name, or a type
/// alias of it); the others are the job's own. It becomes three functions with the same
/// visibility (associated functions, calling each other through `Self::`, when the job is in
/// an `impl` block):
///
/// | generated | what it does |
/// |---|---|
/// | `fn job(params..) -> streamflow::Result<StreamingContext>` | builds the context from the attribute, runs the body on it, returns it **not started** |
/// | `fn job_on(ssc: &StreamingContext, params..) -> streamflow::Result<()>` | runs the body on a context the caller made (a test's manual clock, a checkpoint chosen at run time) |
/// | `fn job_plan() -> &'static str` | the stages, one line per stage: `stage 2: flat_map → map` |
///
/// A job without a return type (or `-> ()`) returns `streamflow::Result`s, and its body runs
/// as if it returned `Result<(), Box<dyn Error + Send + Sync>>`: `?` works on streamflow's
/// results and on any error (`let port: u16 = port.parse()?;`), which comes back as
/// `streamflow::Error::Job` naming the job (streamflow's own errors come back as they are),
/// and `return;` ends the body. A job that declares `-> Result<(), E>` (or an alias such as `anyhow::Result<()>`) keeps its
/// body as written, so `?` works on the user's own errors; then `job` returns
/// `Result<StreamingContext, E>` and `job_on` the declared type (`E` must hold a
/// `streamflow::Error`: `impl From<streamflow::Error> for E`).
///
/// | key | value | default |
/// |---|---|---|
/// | `batch` | the batch interval, a duration string: `"500ms"`, `"1s"`, `"10 seconds"`, `"1 minute"` | required |
/// | `parallelism` | worker threads (Spark's `local[N]`), at least 1 | `2` |
/// | `checkpoint` | the checkpoint directory | none |
/// | `name` | the application name | the function's name |
///
/// `trigger` and `output_mode` belong to Structured Streaming queries and are rejected here.
///
/// A job with stateful or inverse-window operators needs a checkpoint directory. When neither
/// the attribute nor the body sets one, `job()` cannot run it: calling `job()` is the compile
/// error (at the call, naming the operator), while `job_on(&ssc, ..)` with a context the
/// caller built with a checkpoint compiles and runs.
///
/// # A Structured Streaming query
///
/// ```ignore
/// use streamflow::prelude::*;
/// use streamflow::structured::*;
///
/// #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
/// struct Word { word: String, ts: Time }
///
/// #[stream_job(trigger = processing_time("10 seconds"), output_mode = append)]
/// fn event_time_word_count(session: &Session, host: &str, port: u16) {
///     session.read_stream::<Word>().socket(host, port)
///         .with_watermark(|w| w.ts, "10 minutes")
///         .group_by_window(|w| w.word.clone(), window("10 minutes", "5 minutes"))
///         .count()
///         .write_stream()
///         .console()
/// }
///
/// fn main() -> streamflow::Result<()> {
///     let session = Session::new(2)?;
///     let query = event_time_word_count(&session, "localhost", 9999)?; // checked and started
///     println!("{}", event_time_word_count_plan());
///     query.await_termination()
/// }
/// ```
///
/// (Compiled by `ui-tests/tests/ui/pass/event_time_word_count.rs`.)
///
/// Its first parameter is the session the query runs in, `&Session`; the others are the
/// job's own. The body's value is the query's **writer** — `.write_stream()` and a sink, not
/// started — so it ends without `;`. The function may declare that type,
/// `-> DataStreamWriter<AggRow<String, u64>>`, or nothing. It becomes:
///
/// | generated | what it does |
/// |---|---|
/// | `fn job(session: &Session, params..) -> streamflow::Result<StreamingQuery>` | runs the body, applies the attribute's settings to the writer and **starts** the query |
/// | `fn job_writer(session: &Session, params..) -> streamflow::Result<DataStreamWriter<T>>` | only when the return type is declared: the writer with the settings applied, not started (e.g. to add `.checkpoint_location(dir)`) |
/// | `fn job_plan() -> &'static str` | the stages of the query, one line per stage |
///
/// | key | value | default |
/// |---|---|---|
/// | `output_mode` | `append`, `update` or `complete` | the runtime's, `append` |
/// | `trigger` | `processing_time("10 seconds")`, `once`, `available_now` or `default` | `default` |
/// | `name` | the query's name | the function's name |
/// | `checkpoint` | the query's checkpoint directory (`.checkpoint_location(dir)`) | none |
///
/// The session, made by the caller, decides the parallelism and the clock (a test passes one
/// with a `ManualClock`), so `batch` and `parallelism` are rejected here. The continuous
/// trigger is rejected: the runtime runs queries as micro-batches only.
///
/// The output mode, the trigger, the name and the checkpoint may be given in the attribute
/// *or* in the body (`.output_mode(OutputMode::Update)` on the writer, or the typed
/// `.append()`, `.update()`, `.complete()` before the sink), not both: the attribute's would
/// silently win, so giving one twice is an error. A `return writer;` in the
/// body returns the query's writer.
///
/// # One error per mistake
///
/// Every mistake the macro finds is reported in one compile, and each once:
///
/// - a call the macro reports that rustc would report too (a misspelt operator, a method of
///   the other vocabulary or of another type, a call after an output, `start()` in the body)
///   is replaced, in the body it emits, by the error itself: rustc neither reports it again
///   nor anything that follows from it (the error's value has rustc's error type);
/// - a misspelt operator is read as the one it meant, so the checks after it go on (one
///   compile lists every Spark spelling of a query: `readStream`, `withWatermark`, `groupBy`,
///   `writeStream`, `outputMode("update")`, `format("console")`);
/// - a setting of the attribute that cannot be read (`output_mode = Updat`, `batch = 1`)
///   turns off the checks that depend on it, instead of checking against a default;
/// - a signature the macro cannot use as written is reported and read as meant (the context
///   by reference, or added in front when left out): the generated functions have the
///   intended signatures, so callers type-check.
///
/// A method far from every name here is the user's own (an extension trait): the macro
/// leaves it to rustc and follows the chain after it, knowing nothing of what it does. Near
/// misses (one or two letters off, Spark's spellings) are reported with the name they meant.
///
/// # What is checked at compile time
///
/// In a DStream job:
///
/// - every method called on the context or on a stream is a known operator (with a "did you
///   mean" for typos and for Spark's camelCase names), called on the right thing;
/// - duration literals parse (`"10 minuts"` does not), and window lengths and slides are
///   multiples of the batch interval (or of the slide of the window they read);
/// - the job has an output operation, and nothing is chained after one;
/// - stateful and inverse-window operators have a checkpoint directory when `job()` builds
///   the context (see above).
///
/// What the macro cannot see it does not guess at: a stream made by a helper function
/// (`pairs(ssc).window(..)`) may be windowed already, so its windows are checked by the
/// runtime's `start()`, and the plan says "built by `pairs`"; a stream or context handed to a
/// helper may get its output there, so then the "no output operation" check is left to the
/// runtime too. Both arms of an `if`/`else` or a `match` are followed (a window after it is
/// checked when the arms agree on the slide), and operators called in a loop are checked once
/// and marked `(in a loop)` in the plan.
///
/// In a query, the rules `DataStreamWriter::start()` applies at run time, with its words:
///
/// - every method is one of the type it is called on — session, reader, dataset, grouped
///   dataset, writer — with a "did you mean" (Spark's `withWatermark`, `groupBy`, DStream's
///   `print` → `console`), or a note saying where it belongs (`console` on a dataset: after
///   `.write_stream()`); Spark operators the runtime does not have yet (`join`,
///   `left_outer_join` …) say so;
/// - Append mode on an aggregation that is not by an event-time window with a watermark;
///   Complete mode without an aggregation; a second aggregation of an aggregation; a sink that
///   does not take the mode (the file sinks are Append only);
/// - `group_by_window` on records without an event time (none declared, or dropped by a
///   `map`);
/// - duration literals of `with_watermark`, `window`, `tumbling_window`, `session_window`,
///   `start_offset`, `processing_time` and `watermark_idle_timeout` parse, and window
///   geometry holds: size and slide above zero, slide at most the size, the offset's absolute
///   value below the slide, a session gap above zero;
/// - the body ends with a writer that has a sink; `start()` is not called in the body.
///
/// Each arm of an `if`/`else` or `match` is its own query and is checked; a loop is checked as
/// one pass of it. A dataset made by a helper (`counts(&words).write_stream()`) is not
/// guessed at: the plan says "built by `counts`". Its type is: when the body chooses no mode,
/// the macro writes it in the attribute's mode (or the default, Append) as the typed method
/// (`.write_stream().append()`), so a mode the dataset's shape does not allow (`Complete`
/// without aggregation, `Append` on an aggregation by key; `streamflow::structured::shape`)
/// is a compile error at the mode; what the shape does not carry (the watermark of a window)
/// is checked by the runtime's `start()`, which the generated `job(session, ..)` calls before
/// anything runs. A typed mode written in the body (`.complete()`) is checked by rustc
/// wherever the query is built — helper, branch, loop — and the macro leaves those rules to
/// rustc, so each mistake is one error.
///
/// # The plan
///
/// `job_plan()` lists the stages with the rules the runtime's `explain()` uses
/// (`streamflow/src/graph/explain.rs`), so both cut a job in the same places: a source is a
/// stage of its own (the runtime generates it once per batch and stores it); a stream that is
/// kept — a source, stateful and incremental-window operators, a `persist`ed stream, a stream
/// read by several operators — ends the pass that made it; shuffles, windows, state, `union`
/// and `transform` start a stage; other stateless operators join the stage of the stream they
/// read; an output joins that stage always. Two differences remain, on purpose: the plan shows
/// the operators as written, where the runtime shows the nodes it builds for them
/// (`reduce_by_key_and_window_inv` is a per-batch `reduce_by_key` and a window node there,
/// `map_with_state` a state node and a `map_with_state.mapped` node), and the runtime adds the
/// arguments it knows only when running (`socket_text_stream 127.0.0.1:9`). In a query, reader
/// options, `group_by`, `write_stream` and writer settings are not nodes; an aggregation reads
/// as the runtime names it, `group_by_window(..).count()`, and sources as the runtime's
/// (`socket_source`, `memory_stream`, `file_source`, `rate_source`).
///
/// Where the macro cannot see, the plan says so instead of guessing: a stream made by a
/// helper is a stage ``built by `pairs` ``, the user's own method is shown by its name, a stage
/// after an `if`/`else` says it `(reads stage 2 or 3)` (both arms are planned; the runtime
/// builds one), an operator called in a loop is marked `(in a loop)` (the runtime builds it
/// once per pass), and a job that hands a stream or the context to a helper ends with
/// `(and operators added by code the macro cannot see)`.
///
/// # Operators
///
/// - sources, on the context: `socket_text_stream`, `text_file_stream`, `queue_stream`,
///   `receiver_stream`, `receiver_stream_with_write_ahead_log`, `generator_stream`,
///   `rate_stream`, `source_stream`, `kafka_direct_stream`;
/// - stateless, fused into one pass: `map`, `flat_map`, `filter`, `map_partitions`, `glom`,
///   `map_values`, `flat_map_values`, `union`, `persist`, `cache`;
/// - per-batch aggregations and whole-batch functions (each starts a stage): `repartition`,
///   `count`, `reduce`, `count_by_value`, `reduce_by_key`, `reduce_by_key_into`,
///   `group_by_key`, `combine_by_key`, `join`, `left_outer_join`, `right_outer_join`,
///   `full_outer_join`, `cogroup`, `transform`, `transform_with`, `transform_sql`;
/// - windows: `window`, `count_by_window`, `reduce_by_window`, `reduce_by_window_inv`,
///   `reduce_by_key_and_window`, `reduce_by_key_and_window_inv`, `count_by_value_and_window`,
///   `group_by_key_and_window`;
/// - state: `update_state_by_key`, `update_state_by_key_with_initial`,
///   `update_state_by_key_with_time`, `update_state_by_key_with_time_and_initial`,
///   `map_with_state`, `state_snapshots`;
/// - outputs: `print`, `print_n`, `print_to`, `save_as_text_files`, `foreach_batch`,
///   `foreach_partition`, `sink`;
/// - context calls: `checkpoint`, `remember`.
///
/// In a query (the table `STRUCTURED` in `registry.rs`, checked against the runtime by a test):
/// on the session `read_stream`; on the reader `format`, `mode`, `header`,
/// `max_files_per_trigger`, then a source: `memory`, `files`, `socket`, `rate`, `kafka`; on a dataset
/// `map`, `flat_map`, `transform_sql`, `filter`, `union`, `with_watermark`, `with_event_time`,
/// `group_by`, `group_by_ref`, `group_by_value`, `group_by_window`, `group_by_window_ref`,
/// `write_stream`; on grouped records `count`, `sum`, `min`, `max`, `avg`,
/// `agg`; on the writer `output_mode`, `trigger`, `query_name`, `multiple_watermark_policy`,
/// `watermark_idle_timeout`, `checkpoint_location`, and a sink: `console`, `console_with`, `memory`,
/// `foreach_batch`, `foreach`, `json`, `csv`. Getters (`corrupt_records`, `session`,
/// `memory_table` …) may be called anywhere.
///
/// `union` works on a stream (`a.union(&b)`) and on the context (`ssc.union(&[a, b])?`);
/// `checkpoint` too: the directory on the context, `stream.checkpoint(interval)` on a stream.
/// Getters such as `slide_duration` and `batch_duration` may be called anywhere;
/// `start`, `stop` and `await_termination` belong to the caller, not the body. `clone()` of the
/// context or of a stream, and `into_dstream()` of `map_with_state`'s result, are the same
/// context or stream. `ssc.session()` inside a DStream job hands the context to Structured
/// Streaming, which is not checked there (write the query as its own `&Session` job to have
/// it checked); a job that calls it leaves the "no output operation" check to the runtime.
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
            .and_then(|rest| rest.split("/// In a query").next())
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
