//! The shape of a query in its types: whether a [`Dataset`](super::Dataset) has a streaming
//! aggregation, a watermark, and whether its aggregation may run in Append mode. The typed output modes
//! of the writer — [`append`](super::DataStreamWriter::append),
//! [`update`](super::DataStreamWriter::update) and
//! [`complete`](super::DataStreamWriter::complete) — are bounds on it, so a query whose mode
//! its shape does not allow fails to compile wherever it is built: in a helper function, in an
//! arm of an `if`, in a loop.
//!
//! | shape | made by | `.append()` | `.update()` | `.complete()` |
//! |---|---|---|---|---|
//! | [`Plain`] | a source, and operators that keep the shape (`map`, `filter`, `with_event_time`, …) | yes | yes | no |
//! | [`Watermarked`] | [`with_watermark`](super::Dataset::with_watermark) on a dataset without aggregation | yes | yes | no |
//! | [`Joined`] | a stream–stream join (`join`, `left_outer_join`, …) of datasets without aggregation | yes | no | no |
//! | [`WindowAggregated`] | an aggregation of `group_by_window` or `group_by_event_time` of a [`Watermarked`] dataset | yes | yes | yes |
//! | [`WindowAggregatedWithoutWatermark`] | the same aggregation of a dataset without watermark | no | yes | yes |
//! | [`Aggregated`] | an aggregation of `group_by` | no | yes | yes |
//!
//! A `union` or a join has the larger shape of its inputs, in the order of the table. The
//! shape is a type parameter with a default, `Dataset<T, S = Plain>`: a dataset written
//! without it is one without aggregation and without watermark, so a helper returning a
//! mapped dataset keeps its type; one returning a watermarked dataset names its shape
//! (`Dataset<Click, shape::Watermarked>`), as one returning an aggregation does
//! (`Dataset<AggRow<String, u64>, shape::Aggregated>`). A helper that only adds operators
//! may keep any shape: `fn f<S: shape::Shape>(ds: &Dataset<Ev, S>) -> Dataset<Ev, S>`.
//!
//! What the shape does not carry — the Append only of a stream–stream join followed by an
//! aggregation, the watermarks a join needs, `map_groups_with_state`'s Update only, a second aggregation, an event time lost by `map`,
//! the modes a sink accepts — and a mode chosen with
//! [`output_mode`](super::DataStreamWriter::output_mode) are checked by
//! [`start()`](super::DataStreamWriter::start), before anything runs.
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
//! An aggregation by key cannot run in Append mode, and this does not compile:
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
//! nor does Append mode on an aggregation by window of a dataset without watermark, even
//! when a helper makes it:
//!
//! ```compile_fail,E0277
//! use streamflow::structured::*;
//! use streamflow::Time;
//!
//! fn per_minute(clicks: &Dataset<(String, Time)>) -> Dataset<AggRow<String, u64>, shape::WindowAggregatedWithoutWatermark> {
//!     clicks.with_event_time(|c| c.1).group_by_window(|c| c.0.clone(), window("1 minute", "1 minute")).count()
//! }
//! let session = Session::new(1)?;
//! let clicks = session.read_stream::<(String, Time)>().memory(&MemoryStream::new());
//! let _ = per_minute(&clicks).write_stream().append().console();
//! # Ok::<(), streamflow::Error>(())
//! ```
//!
//! while with the watermark it does:
//!
//! ```
//! use streamflow::structured::*;
//! use streamflow::Time;
//!
//! fn recent(clicks: &Dataset<(String, Time)>) -> Dataset<(String, Time), shape::Watermarked> {
//!     clicks.with_watermark(|c| c.1, "10 minutes")
//! }
//! let session = Session::new(1)?;
//! let clicks = session.read_stream::<(String, Time)>().memory(&MemoryStream::new());
//! let per_minute = recent(&clicks).group_by_window(|c| c.0.clone(), window("1 minute", "1 minute")).count();
//! let query = per_minute.write_stream().append().console().start()?;
//! query.stop()?;
//! # Ok::<(), streamflow::Error>(())
//! ```
//!
//! Nor does Update mode on a stream–stream join, which Spark runs in Append mode only:
//!
//! ```compile_fail,E0277
//! use streamflow::structured::*;
//! let session = Session::new(1)?;
//! let a = session.read_stream::<(u64, i64)>().memory(&MemoryStream::new()).with_watermark(|r| r.1, "1 s");
//! let b = session.read_stream::<(u64, i64)>().memory(&MemoryStream::new()).with_watermark(|r| r.1, "1 s");
//! let joined = a.join(&b, JoinOn::keys(|l: &(u64, i64)| l.0, |r: &(u64, i64)| r.0));
//! let _ = joined.write_stream().update().console();
//! # Ok::<(), streamflow::Error>(())
//! ```
//!
//! nor Complete mode without an aggregation:
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
pub trait Shape: sealed::Sealed + Send + Sync + 'static {
    /// The shape after [`with_watermark`](super::Dataset::with_watermark): a dataset without
    /// aggregation becomes [`Watermarked`]; an aggregation keeps its shape (its rules were
    /// fixed when it was made).
    type WithWatermark: Shape;
    /// The shape of an aggregation by an event-time window (or by the event time) of a
    /// dataset of this shape: [`WindowAggregated`] when it is [`Watermarked`],
    /// [`WindowAggregatedWithoutWatermark`] otherwise.
    type ByWindow: Shape;
    /// The shape of a stream–stream join with this shape as the larger side: [`Joined`] when
    /// it has no aggregation; an aggregation keeps its shape (`start()` checks the rest).
    type Joined: Shape;
}

/// No aggregation and no watermark: a source, and what is made from it by operators that keep
/// the shape (`map`, `filter`, `with_event_time`, …).
#[derive(Clone, Copy, Debug, Default)]
pub struct Plain;

/// No aggregation, a watermark: made by [`with_watermark`](super::Dataset::with_watermark).
/// Grouped by a window, it makes a [`WindowAggregated`], which Append mode runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Watermarked;

/// A stream–stream join (`join`, `left_outer_join`, …) without aggregation: it emits a row
/// once, when it is final, so only Append mode runs it (Spark's rule). Grouped, it makes an
/// aggregation whose modes `start()` checks (the join still allows only Append).
#[derive(Clone, Copy, Debug, Default)]
pub struct Joined;

/// An aggregation by an event-time window (or by the event time) of a [`Watermarked`]
/// dataset: its groups are final once the watermark passes them, so every output mode runs it.
#[derive(Clone, Copy, Debug, Default)]
pub struct WindowAggregated;

/// An aggregation by an event-time window (or by the event time) of a dataset without a
/// watermark: its groups are never known to be final, so Update and Complete run it, Append
/// cannot (call `with_watermark` before grouping for Append).
#[derive(Clone, Copy, Debug, Default)]
pub struct WindowAggregatedWithoutWatermark;

/// An aggregation by key only: its groups are never final, so Update and Complete run it,
/// Append cannot.
#[derive(Clone, Copy, Debug, Default)]
pub struct Aggregated;

/// A writer whose sink is chosen: its type no longer knows the shape, and its mode is checked
/// by `start()`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unchecked;

macro_rules! shapes {
    ($($shape:ident: with_watermark => $wm:ident, by_window => $win:ident, joined => $join:ident;)*) => {$(
        impl sealed::Sealed for $shape {}
        impl Shape for $shape {
            type WithWatermark = $wm;
            type ByWindow = $win;
            type Joined = $join;
        }
    )*};
}

shapes! {
    Plain: with_watermark => Watermarked, by_window => WindowAggregatedWithoutWatermark,
        joined => Joined;
    Watermarked: with_watermark => Watermarked, by_window => WindowAggregated, joined => Joined;
    // Whether a join's sides have watermarks is not in its shape: its aggregation by window
    // allows every mode the types can, and `start()` checks the watermark and the join's Append.
    Joined: with_watermark => Joined, by_window => WindowAggregated, joined => Joined;
    // A second aggregation is refused by `start()`; its shape allows no more than the first.
    WindowAggregated: with_watermark => WindowAggregated, by_window => WindowAggregated,
        joined => WindowAggregated;
    WindowAggregatedWithoutWatermark: with_watermark => WindowAggregatedWithoutWatermark,
        by_window => WindowAggregatedWithoutWatermark, joined => WindowAggregatedWithoutWatermark;
    Aggregated: with_watermark => Aggregated, by_window => WindowAggregatedWithoutWatermark,
        joined => Aggregated;
}
impl sealed::Sealed for Unchecked {}

/// The shape of a `union` or a join of datasets of the shapes `Self` and `Other`: the larger
/// of the two (see the [module docs](self)).
pub trait Union<Other: Shape>: Shape {
    /// The larger shape.
    type Output: Shape;
}

/// `Union` for every pair of the shapes listed, the output being the later of the two.
macro_rules! unions {
    (@pairs [$($done:ident)*]) => {};
    (@pairs [$($done:ident)*] $next:ident $($rest:ident)*) => {
        impl Union<$next> for $next {
            type Output = $next;
        }
        $(
            impl Union<$next> for $done {
                type Output = $next;
            }
            impl Union<$done> for $next {
                type Output = $next;
            }
        )*
        unions!(@pairs [$($done)* $next] $($rest)*);
    };
    ($($shape:ident)<*) => {
        unions!(@pairs [] $($shape)*);
    };
}

unions!(Plain < Watermarked < Joined < WindowAggregated < WindowAggregatedWithoutWatermark < Aggregated);

/// The shape of a stream–stream join of datasets of the shapes `L` and `R`: [`Joined`], or
/// the larger side's aggregation.
pub type JoinOf<L, R> = <<L as Union<R>>::Output as Shape>::Joined;

/// The query may run in Append mode: [`DataStreamWriter::append`](super::DataStreamWriter::append).
#[diagnostic::on_unimplemented(
    message = "Append output mode not supported here: the dataset written has the shape `{Self}`",
    label = "Append emits a group once, when it is final: only an aggregation by event-time window of a watermarked dataset knows that",
    note = "call `.with_watermark(|r| r.ts, \"10 minutes\")` on the event-time column before `.group_by_window(..)` (or `.group_by_event_time(..)`), or choose `.update()` or `.complete()`",
    note = "a writer whose sink is chosen is `Unchecked`: choose the mode before the sink"
)]
pub trait AllowsAppend: Shape {}

/// The query may run in Update mode: [`DataStreamWriter::update`](super::DataStreamWriter::update).
#[diagnostic::on_unimplemented(
    message = "Update output mode not supported here: the writer has the shape `{Self}`",
    label = "Update mode does not run a query of this shape",
    note = "`Joined` (a stream–stream join): Spark runs a join in Append mode only, each joined row once, when it is final: choose `.append()`",
    note = "`Unchecked` (a writer whose sink is chosen): choose the mode before the sink, `.write_stream().update().console()`, or `.output_mode(OutputMode::Update)`, checked by `start()`"
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
impl AllowsAppend for Watermarked {}
impl AllowsAppend for Joined {}
impl AllowsAppend for WindowAggregated {}
impl AllowsUpdate for Plain {}
impl AllowsUpdate for Watermarked {}
impl AllowsUpdate for WindowAggregated {}
impl AllowsUpdate for WindowAggregatedWithoutWatermark {}
impl AllowsUpdate for Aggregated {}
impl AllowsComplete for WindowAggregated {}
impl AllowsComplete for WindowAggregatedWithoutWatermark {}
impl AllowsComplete for Aggregated {}
