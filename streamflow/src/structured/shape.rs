//! The shape of a query in its types: whether a [`Dataset`](super::Dataset) has a streaming
//! aggregation, and whether that aggregation may run in Append mode. The typed output modes
//! of the writer — [`append`](super::DataStreamWriter::append),
//! [`update`](super::DataStreamWriter::update) and
//! [`complete`](super::DataStreamWriter::complete) — are bounds on it, so a query whose mode
//! its shape does not allow fails to compile wherever it is built: in a helper function, in an
//! arm of an `if`, in a loop.
//!
//! | shape | made by | `.append()` | `.update()` | `.complete()` |
//! |---|---|---|---|---|
//! | [`Plain`] | a source, and operators that keep the shape (`map`, `filter`, `with_watermark`, …) | yes | yes | no |
//! | [`WindowAggregated`] | an aggregation of `group_by_window` or `group_by_event_time` | yes, with a watermark | yes | yes |
//! | [`Aggregated`] | an aggregation of `group_by` | no | yes | yes |
//!
//! A `union` or a join has the larger shape of its inputs, in the order of the table. The
//! shape is a type parameter with a default, `Dataset<T, S = Plain>`: a dataset written
//! without it is one without aggregation, so a helper returning a watermarked or mapped
//! dataset keeps its type, and one returning an aggregation names its shape
//! (`Dataset<AggRow<String, u64>, shape::Aggregated>`). What the shape does not carry — the
//! watermark an event-time aggregation needs for Append, a stream–stream join's Append only,
//! `map_groups_with_state`'s Update only, a second aggregation, the modes a sink accepts —
//! and a mode chosen with [`output_mode`](super::DataStreamWriter::output_mode) are checked
//! by [`start()`](super::DataStreamWriter::start), before anything runs.
//!
//! A sink (`.console()`, `.memory(..)`, …) ends what the writer's type knows: its writer is a
//! `DataStreamWriter<T>` (shape [`Unchecked`]), the type a function returning a query's writer
//! declares; so the typed mode comes before the sink, as Spark writes
//! `writeStream.outputMode("complete").format("console")`.
//!
//! ```
//! use streamflow::structured::*;
//!
//! /// Counts per word, built away from where the mode is chosen.
//! fn counts(words: &Dataset<String>) -> Dataset<AggRow<String, u64>, shape::Aggregated> {
//!     words.group_by(|w| w.clone()).count()
//! }
//!
//! let session = Session::new(1)?;
//! let words = session.read_stream::<String>().memory(&MemoryStream::new());
//! let query = counts(&words).write_stream().complete().memory("counts").start()?;
//! query.stop()?;
//! # Ok::<(), streamflow::Error>(())
//! ```
//!
//! An aggregation without a watermark cannot run in Append mode, and this does not compile:
//!
//! ```compile_fail,E0277
//! use streamflow::structured::*;
//! let session = Session::new(1)?;
//! let words = session.read_stream::<String>().memory(&MemoryStream::new());
//! let counts = words.group_by(|w| w.clone()).count();
//! let _ = counts.write_stream().append().console();
//! # Ok::<(), streamflow::Error>(())
//! ```
//!
//! nor does Complete mode without an aggregation:
//!
//! ```compile_fail,E0277
//! use streamflow::structured::*;
//! let session = Session::new(1)?;
//! let words = session.read_stream::<String>().memory(&MemoryStream::new());
//! let _ = words.map(|w| w.len()).write_stream().complete().console();
//! # Ok::<(), streamflow::Error>(())
//! ```

mod sealed {
    pub trait Sealed {}
}

/// The shape of a dataset (see the [module docs](self)).
pub trait Shape: sealed::Sealed + Send + Sync + 'static {}

/// No aggregation: a source, and what is made from it by operators that keep the shape.
#[derive(Clone, Copy, Debug, Default)]
pub struct Plain;

/// An aggregation by an event-time window (or by the event time): its groups are final once
/// the watermark passes them, so every output mode runs it (Append when it has a watermark,
/// which `start()` checks).
#[derive(Clone, Copy, Debug, Default)]
pub struct WindowAggregated;

/// An aggregation by key only: its groups are never final, so Update and Complete run it,
/// Append cannot.
#[derive(Clone, Copy, Debug, Default)]
pub struct Aggregated;

/// A writer whose sink is chosen: its type no longer knows the shape, and its mode is checked
/// by `start()`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unchecked;

impl sealed::Sealed for Plain {}
impl sealed::Sealed for WindowAggregated {}
impl sealed::Sealed for Aggregated {}
impl sealed::Sealed for Unchecked {}
impl Shape for Plain {}
impl Shape for WindowAggregated {}
impl Shape for Aggregated {}

/// The shape of a `union` or a join of datasets of the shapes `Self` and `Other`: the larger
/// of the two (see the [module docs](self)).
pub trait Union<Other: Shape>: Shape {
    /// The larger shape.
    type Output: Shape;
}

macro_rules! unions {
    ($($left:ident | $right:ident => $out:ident;)*) => {$(
        impl Union<$right> for $left {
            type Output = $out;
        }
    )*};
}

unions! {
    Plain | Plain => Plain;
    Plain | WindowAggregated => WindowAggregated;
    Plain | Aggregated => Aggregated;
    WindowAggregated | Plain => WindowAggregated;
    WindowAggregated | WindowAggregated => WindowAggregated;
    WindowAggregated | Aggregated => Aggregated;
    Aggregated | Plain => Aggregated;
    Aggregated | WindowAggregated => Aggregated;
    Aggregated | Aggregated => Aggregated;
}

/// The query may run in Append mode: [`DataStreamWriter::append`](super::DataStreamWriter::append).
#[diagnostic::on_unimplemented(
    message = "Append output mode not supported here: the dataset written has the shape `{Self}`",
    label = "an aggregation by key only never knows a group is final",
    note = "Append emits a group once, when it is final: aggregate with `.with_watermark(|r| r.ts, \"10 minutes\")` before `.group_by_window(..)`, or choose `.update()` or `.complete()`",
    note = "a writer whose sink is chosen is `Unchecked`: choose the mode before the sink"
)]
pub trait AllowsAppend: Shape {}

/// The query may run in Update mode: [`DataStreamWriter::update`](super::DataStreamWriter::update).
#[diagnostic::on_unimplemented(
    message = "the output mode of a writer is chosen before its sink",
    label = "the writer's sink is chosen: its type no longer knows the query's shape",
    note = "write `.write_stream().update().console()`, or `.output_mode(OutputMode::Update)`, checked by `start()`"
)]
pub trait AllowsUpdate: Shape {}

/// The query may run in Complete mode: [`DataStreamWriter::complete`](super::DataStreamWriter::complete).
#[diagnostic::on_unimplemented(
    message = "Complete output mode not supported when there are no streaming aggregations: the dataset written has the shape `{Self}`",
    label = "Complete mode writes the whole result table of an aggregation",
    note = "aggregate before `.write_stream()` (`.group_by(..).count()`, `.group_by_window(..).sum(..)` …), or choose `.append()` or `.update()`",
    note = "a writer whose sink is chosen is `Unchecked`: choose the mode before the sink"
)]
pub trait AllowsComplete: Shape {}

impl AllowsAppend for Plain {}
impl AllowsAppend for WindowAggregated {}
impl AllowsUpdate for Plain {}
impl AllowsUpdate for WindowAggregated {}
impl AllowsUpdate for Aggregated {}
impl AllowsComplete for WindowAggregated {}
impl AllowsComplete for Aggregated {}
