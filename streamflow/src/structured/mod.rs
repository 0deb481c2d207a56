//! The Structured Streaming vocabulary: typed records, event time, watermarks, event-time
//! windows, output modes, triggers, queries and their progress.
//!
//! This is a second set of methods over the same engine as [`DStream`](crate::DStream): a
//! query's operators become nodes of the engine's operator graph whose batches are
//! [`Batch`](crate::Batch)es run on the context's rayon pool. What differs is the driver: a
//! query runs *micro-batches* with ids 0, 1, 2 … whose content is decided by source offsets,
//! not by a fixed batch interval, and it keeps a watermark that moves with event time.
//!
//! This module is the typed API: [`Session`], [`DataStreamReader`], [`Dataset`],
//! [`GroupedDataset`], [`DataStreamWriter`], [`StreamingQuery`] and its [`ResumeState`],
//! [`Trigger`], [`OutputMode`], and the planning of a dataset into the engine's graph. The
//! mechanisms live with those of the DStream vocabulary, and their public types are re-exported
//! here: sources (`MemoryStream`, `RateRow`, formats) in `source/`, sinks (console, memory,
//! files, `ForeachWriter`) in `sink/`, watermarks and `EventTime` in `event_time/`, event-time
//! windows in `window/`, aggregators and the aggregation operator in `state/`, progress reports
//! and listeners in `metrics/`.
//!
//! | Spark | streamflow |
//! |---|---|
//! | `spark.readStream.format("json").load(dir)` | [`session.read_stream::<T>().format(Format::Json).files(dir)`](DataStreamReader::files) |
//! | `MemoryStream[T]` | [`MemoryStream<T>`] + [`DataStreamReader::memory`] |
//! | `.withWatermark("ts", "10 minutes")` | [`.with_watermark(\|r\| r.ts, "10 minutes")`](Dataset::with_watermark) |
//! | `.groupBy(window($"ts", "10 minutes", "5 minutes"), $"word").count()` | [`.group_by_window(\|r\| r.word.clone(), window("10 minutes", "5 minutes")).count()`](Dataset::group_by_window) |
//! | `.writeStream.outputMode("append").format("console").start()` | [`.write_stream().output_mode(OutputMode::Append).console().start()`](DataStreamWriter) |
//! | `query.lastProgress` | [`query.last_progress()`](StreamingQuery::last_progress) |
//!
//! # Example
//!
//! ```
//! use streamflow::structured::*;
//! use streamflow::{ManualClock, Time};
//!
//! #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
//! struct Word { word: String, ts: Time }
//!
//! let session = Session::builder().clock(ManualClock::new(0)).build()?;
//! let words = MemoryStream::<Word>::new();
//! let query = session
//!     .read_stream::<Word>()
//!     .memory(&words)
//!     .with_watermark(|w| w.ts, "10 minutes")
//!     .group_by_window(|w| w.word.clone(), window("10 minutes", "5 minutes"))
//!     .count()
//!     .write_stream()
//!     .output_mode(OutputMode::Append)
//!     .memory("counts")
//!     .start()?;
//! let at = |min: i64| Time::from_millis(min * 60_000);
//! words.add_data([Word { word: "cat".into(), ts: at(7) }, Word { word: "dog".into(), ts: at(12) }]);
//! words.add_data([Word { word: "cat".into(), ts: at(31) }]); // moves the watermark to minute 21
//! query.process_all_available()?;
//! let rows = session.memory_table::<AggRow<String, u64>>("counts")?.rows();
//! // The windows that ended by minute 21 were emitted, once, when the watermark passed them.
//! assert_eq!(rows.len(), 4);
//! assert!(rows.iter().all(|r| r.value == 1));
//! query.stop()?;
//! # Ok::<(), streamflow::Error>(())
//! ```

mod dataset;
mod grouped;
mod output_mode;
pub(crate) mod plan;
mod query;
mod reader;
pub(crate) mod resume;
mod session;
pub mod shape;
mod trigger;
mod writer;

pub use crate::event_time::late::LateRows;
pub use crate::event_time::timestamp::EventTime;
pub use crate::event_time::watermark::{InputWatermark, MultipleWatermarkPolicy, WatermarkState};
pub use crate::join::{JoinOn, TimeRange};
pub use crate::metrics::progress::{
    CheckpointProgress, EventTimeProgress, QueryIdleEvent, QueryProgress, QueryStartedEvent, QueryStatus,
    QueryTerminatedEvent, SinkProgress, SourceProgress, StateOperatorProgress, StreamingQueryListener,
};
pub use crate::sink::console::format_console_batch;
pub use crate::sink::foreach_writer::ForeachWriter;
pub use crate::sink::memory::MemoryTable;
pub use crate::source::format::{CorruptRecord, CorruptRecords, Format, MalformedPolicy};
pub use crate::source::generator::RateRow;
pub use crate::source::memory::MemoryStream;
pub use crate::state::aggregators::{AggRow, Aggregator, Avg, Count, Max, Min, Sum};
pub use crate::state::group_state::{GroupState, GroupStateTimeout};
pub use crate::window::event_time::{Window, WindowSpec, WindowsOf, session_window, tumbling_window, window};
pub use dataset::Dataset;
pub(crate) use dataset::next_id as next_dataset_id;
pub use grouped::GroupedDataset;
pub use output_mode::OutputMode;
pub use query::StreamingQuery;
pub use reader::DataStreamReader;
pub use resume::ResumeState;
pub use session::{Session, SessionBuilder};
pub use trigger::Trigger;
pub use writer::DataStreamWriter;
