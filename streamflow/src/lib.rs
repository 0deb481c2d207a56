//! # streamflow
//!
//! Spark Streaming's model — micro-batches, keyed state, windows, checkpoints — as compiled,
//! statically typed Rust.
//!
//! A [`StreamingContext`] cuts the input into batches, one per batch interval. A
//! [`DStream<T>`](DStream) is the stream of those batches; its operators (`map`, `flat_map`,
//! `reduce_by_key`, `join` …) are Spark's, in snake_case, and each batch is a [`Batch<T>`]
//! (Spark's RDD) split into partitions that run in parallel on a rayon pool of `local[N]`
//! threads. Output operations (`print`, `save_as_text_files`, `foreach_batch`,
//! `foreach_partition`) make the graph run.
//!
//! | Spark | streamflow |
//! |---|---|
//! | `new StreamingContext(conf, Seconds(1))` with `local[2]` | [`StreamingContext::new("1 second", 2)`](StreamingContext::new) |
//! | `ssc.socketTextStream("localhost", 9999)` | [`ssc.socket_text_stream("localhost", 9999)`](StreamingContext::socket_text_stream) |
//! | `lines.flatMap(_.split(" "))` | [`lines.flat_map(streamflow::text::words)`](text::words) |
//! | `pairs.reduceByKey(_ + _)` | `pairs.reduce_by_key(\|a, b\| a + b)` |
//! | `dstream.foreachRDD { rdd => … }` | [`dstream.foreach_batch(\|batch, time\| …)`](DStream::foreach_batch) |
//! | `pairs.reduceByKeyAndWindow(_ + _, _ - _, Seconds(30), Seconds(10))` | [`pairs.reduce_by_key_and_window_inv(\|a, b\| a + b, \|a, b\| a - b, "30s", "10s", None)`](DStream::reduce_by_key_and_window_inv) |
//! | `pairs.updateStateByKey(update)` | [`pairs.update_state_by_key(update)`](DStream::update_state_by_key) |
//! | `spark.readStream … .withWatermark(…).groupBy(window(…)).count()` | [`session.read_stream::<T>() … .with_watermark(…).group_by_window(…).count()`](structured) |
//! | `pairs.updateStateByKey((time, key, values, state) => …, partitioner, initialRDD)` | [`pairs.update_state_by_key_with_time_and_initial(f, initial)`](DStream::update_state_by_key_with_time_and_initial) |
//! | `pairs.mapWithState(StateSpec.function((time, key, value, state) => Option[…]))` | [`pairs.map_with_state(StateSpec::function_with_time(f))`](StateSpec::function_with_time) |
//! | `ssc.transform(Seq(a, b), (rdds, time) => …)` | [`ssc.transform(&[a, b], \|batches, time\| …)`](StreamingContext::transform) |
//! | `ssc.union(Seq(a, b))` | [`ssc.union(&[a, b])`](StreamingContext::union) |
//! | `dstream.print()` / `pprint()` (any `toString`) | [`dstream.print()`](DStream::print) (any `Debug`), [`print_to(n, writer)`](DStream::print_to) |
//! | `dstream.saveAsTextFiles(prefix, suffix)` | [`dstream.save_as_text_files(prefix, suffix)`](DStream::save_as_text_files) |
//! | `ssc.getState()` | [`ssc.state()`](StreamingContext::state) |
//! | `Seconds(1)`, `Minutes(10)`, `"10 seconds"` | `"1 second"`, `std::time::Duration::from_secs(1)` or [`Duration::seconds(1)`](Duration) — every API takes all three |
//! | `spark.readStream.format("socket")…` (text) | [`session.read_stream::<String>().socket(host, port)`](structured::DataStreamReader::socket) (text lines; other types read JSON unless told [`format`](structured::DataStreamReader::format)) |
//! | `query.lastProgress.eventTime("watermark")` | [`query.last_progress()?.event_time.watermark_time()`](structured::EventTimeProgress::watermark_time) |
//! | `StreamTest`: `testStream(df)(AddData(…), CheckAnswer(…), StopStream, StartStream())` | [`testing::StreamTest`]: `add_data(…)`, `check_answer(…)`, `stop_stream()`, `start_stream()` |
//! | `ssc.start(); ssc.awaitTermination()` | `ssc.start()?; ssc.await_termination()?` |
//!
//! Searching the docs for a Spark name (`foreachRDD`, `reduceByKeyAndWindow`, `pprint`,
//! `getState`, `groupByKey` …) finds the operator that does its job here.
//!
//! ## How it runs
//!
//! Operators build a graph; nothing runs until [`StreamingContext::start`]. One driver runs
//! both vocabularies: at every batch it asks each [`Source`](source::Source) for its end
//! offset, records the batch's plan ([`BatchId`], offset ranges), asks each output for its
//! batch — the request travels up the graph to the sources — hands the rows to each
//! [`Sink`](sink::Sink), then commits sinks and offsets. Runs of stateless operators (`map`, `filter`, `flat_map` …) are fused: they run
//! as one pass over each partition, with no collection in between
//! ([`StreamingContext::explain`] shows the stages). Keyed aggregations shuffle by a stable
//! hash of the key after combining within each partition. A panic in user code stops the job,
//! and [`StreamingContext::await_termination`] returns an error naming the operator.
//!
//! ## Example: the network word count
//!
//! ```no_run
//! use streamflow::prelude::*;
//!
//! fn main() -> streamflow::Result<()> {
//!     let ssc = StreamingContext::new("1 second", 2)?;
//!     ssc.socket_text_stream("localhost", 9999)
//!         .flat_map(streamflow::text::words) // no allocation per word
//!         .map(|word| (word, 1))
//!         .reduce_by_key(|a, b| a + b)
//!         .print();
//!     ssc.start()?;
//!     ssc.await_termination()
//! }
//! ```
//!
//! ## Two vocabularies, one engine
//!
//! The DStream API above (with [windows](DStream::window) and
//! [state](DStream::update_state_by_key) across batches) and the Structured Streaming API in
//! [`structured`] (typed records, event time, watermarks, output modes, queries) build the same
//! operator graph, run the same [`Batch`]es on the same worker pool, and keep keyed state in the
//! same per-partition state store.
//!
//! ## Your own sources and sinks
//!
//! A [`Source`](source::Source) (serializable offsets, `latest_offset`, `get_batch(start, end)`,
//! `commit`) and a [`Sink`](sink::Sink) (`add_batch(batch id, rows)`, `commit`) are written once
//! and used from both vocabularies: [`StreamingContext::source_stream`], [`DStream::sink`],
//! [`DataStreamReader::source`](structured::DataStreamReader::source),
//! [`DataStreamWriter::sink`](structured::DataStreamWriter::sink).
//!
//! ## `#[stream_job]`
//!
//! [`stream_job`] turns an ordinary function that builds a pipeline into a validated job:
//! mistakes Spark reports at run time — an unknown operator, `"10 minuts"`, a window that is not
//! a multiple of the batch interval, no output, a stateful operator without a checkpoint
//! directory — are compile errors pointing at the tokens at fault.
//!
//! ```
//! use streamflow::prelude::*;
//!
//! #[stream_job(batch = "1s", parallelism = 2)]
//! fn word_count(ssc: &StreamingContext, host: &str, port: u16) {
//!     ssc.socket_text_stream(host, port)
//!         .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
//!         .map(|word| (word, 1))
//!         .reduce_by_key(|a, b| a + b)
//!         .print();
//! }
//!
//! let ssc = word_count("localhost", 9999)?; // built and checked, not started
//! assert_eq!(ssc.batch_duration(), streamflow::Duration::seconds(1));
//! assert!(word_count_plan().contains("reduce_by_key"));
//! # Ok::<(), streamflow::Error>(())
//! ```
//!
//! ## Testing
//!
//! [`testing`] runs a pipeline over input given per batch on a manual clock and returns the
//! output per batch — deterministic, no sleeping.
//!
//! ```
//! use streamflow::testing::{run_batches, sorted};
//!
//! let out = run_batches(
//!     vec![vec!["a b", "a"], vec![], vec!["b"]],
//!     |lines| lines.flat_map(|l| l.split(' ').map(str::to_owned).collect::<Vec<_>>())
//!                  .map(|w| (w, 1))
//!                  .reduce_by_key(|a, b| a + b),
//!     3,
//! );
//! assert_eq!(sorted(&out[0]), [("a".to_string(), 2), ("b".to_string(), 1)]);
//! assert!(out[1].is_empty());
//! ```

mod batch;
mod checkpoint;
mod context;
mod data;
mod dstream;
mod error;
mod event_time;
mod exec;
mod graph;
mod join;
#[cfg(feature = "kafka")]
pub mod kafka;
#[doc(hidden)]
pub mod macro_support;
pub mod metrics;
pub mod sink;
pub mod source;
#[cfg(feature = "sql")]
pub mod sql;
pub mod state;
pub mod structured;
pub mod testing;
pub mod text;
mod time;
mod window;

pub use batch::Batch;
pub use context::{ContextBuilder, ContextState, StreamingContext};
pub use data::{Data, Key, Pair, StateData};
pub use dstream::DStream;
pub use error::{Error, Result};
pub use exec::BatchId;
pub use metrics::{BatchInfo, ReceiverStatus, StreamingListener};
pub use sink::{OutputResult, Show};
pub use source::{Receiver, ReceiverContext, StreamQueue};
pub use state::{MapWithStateDStream, State, StateSpec};
pub use streamflow_macros::stream_job;
pub use time::{Clock, Duration, IntoDuration, ManualClock, SystemClock, Time, parse_duration_ms};

/// Everything a job needs, in one import: `use streamflow::prelude::*;`.
///
/// It does not shadow std's names: `Duration` stays `std::time::Duration` in your code, and
/// every streamflow API that takes a duration accepts it, a string, or
/// [`streamflow::Duration`](crate::Duration).
///
/// ```
/// use streamflow::prelude::*;
/// use std::time::Duration;
/// let ssc = StreamingContext::new(Duration::from_secs(1), 2)?;
/// let ssc = StreamingContext::new("1 second", 2)?;
/// let ssc = StreamingContext::new(streamflow::Duration::seconds(1), 2)?;
/// # Ok::<(), streamflow::Error>(())
/// ```
pub mod prelude {
    pub use crate::{
        Batch, DStream, IntoDuration, ManualClock, Result, Show, State, StateData, StateSpec, StreamQueue,
        StreamingContext, Time, stream_job,
    };
}
