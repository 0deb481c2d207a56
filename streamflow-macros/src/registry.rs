//! The operator table: every method `#[stream_job]` knows, with what it does to the pipeline.
//!
//! This is the one place to update when the runtime grows an operator. Parsing, validation and
//! fusion all read it; nothing else hard-codes operator names.

/// What an operator does, as far as validation and fusion care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Category {
    /// Creates a stream; called on the streaming context.
    Source,
    /// Per-record or per-partition work; runs of these fuse into one pass.
    Stateless,
    /// Per-batch aggregation or repartitioning; needs all of a batch, so it starts a stage.
    Shuffle,
    /// Works over several batches (a window); starts a stage.
    Window,
    /// Keeps state across batches; starts a stage.
    Stateful,
    /// An output operation: ends its chain.
    Sink,
    /// A call on the context that is not an operator (`checkpoint`, `remember`).
    Context,
    /// A call that hands back the same stream (`clone`).
    Passthrough,
    /// A getter that is not part of the pipeline (`slide_duration`, `batch_duration`).
    Accessor,
    /// Runs or stops the context (`start`, `await_termination`): never in a job's body.
    Lifecycle,
    /// Hands the context to another API (`session()`, Structured Streaming): what is built
    /// there is not checked here, and may include the job's outputs.
    Handoff,
}

/// What an operator is called on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Receiver {
    /// The streaming context (`ssc.socket_text_stream(..)`).
    Context,
    /// A stream (`lines.map(..)`).
    Stream,
    /// Either (`ssc.union(&[a, b])` and `a.union(&b)`).
    Both,
}

impl Receiver {
    /// Whether a call on the context (`true`) or on a stream (`false`) is allowed.
    pub(crate) fn accepts(self, on_context: bool) -> bool {
        match self {
            Receiver::Both => true,
            Receiver::Context => on_context,
            Receiver::Stream => !on_context,
        }
    }
}

/// Which arguments of an operator are durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Durations {
    /// No duration arguments.
    None,
    /// A window: the argument indices of its length and its slide.
    Window { len: usize, slide: usize },
    /// One plain duration (e.g. `remember(d)`), at this index.
    Single(usize),
}

/// One operator of the runtime.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Operator {
    pub(crate) name: &'static str,
    pub(crate) category: Category,
    pub(crate) receiver: Receiver,
    pub(crate) durations: Durations,
    /// Why it needs a checkpoint directory, if it does (completes "`op` … and needs a
    /// checkpoint directory").
    pub(crate) needs_checkpoint: Option<&'static str>,
}

const fn op(name: &'static str, category: Category) -> Operator {
    let receiver = match category {
        Category::Source | Category::Context | Category::Lifecycle | Category::Handoff => Receiver::Context,
        _ => Receiver::Stream,
    };
    Operator {
        name,
        category,
        receiver,
        durations: Durations::None,
        needs_checkpoint: None,
    }
}

const fn window(name: &'static str, len: usize, slide: usize) -> Operator {
    Operator {
        name,
        category: Category::Window,
        receiver: Receiver::Stream,
        durations: Durations::Window { len, slide },
        needs_checkpoint: None,
    }
}

/// An operator called on either the context or a stream.
const fn either(mut operator: Operator) -> Operator {
    operator.receiver = Receiver::Both;
    operator
}

/// A getter: on the context, or on a stream.
const fn accessor(name: &'static str, receiver: Receiver) -> Operator {
    let mut operator = op(name, Category::Accessor);
    operator.receiver = receiver;
    operator
}

const fn checkpointed(mut operator: Operator, why: &'static str) -> Operator {
    operator.needs_checkpoint = Some(why);
    operator
}

const STATE: &str = "keeps state across batches";
const INVERSE: &str = "updates its window incrementally with an inverse function";

use Category::{Context, Handoff, Lifecycle, Passthrough, Shuffle, Sink, Source, Stateful, Stateless};

/// Every operator `#[stream_job]` accepts.
pub(crate) const OPERATORS: &[Operator] = &[
    // Sources.
    op("socket_text_stream", Source),
    op("text_file_stream", Source),
    op("queue_stream", Source),
    op("receiver_stream", Source),
    op("receiver_stream_with_write_ahead_log", Source),
    op("generator_stream", Source),
    op("rate_stream", Source),
    op("source_stream", Source),
    op("kafka_direct_stream", Source),
    // Stateless: fused into one pass per partition.
    op("map", Stateless),
    op("flat_map", Stateless),
    op("filter", Stateless),
    op("map_partitions", Stateless),
    op("glom", Stateless),
    op("map_values", Stateless),
    op("flat_map_values", Stateless),
    either(op("union", Stateless)),
    op("persist", Stateless),
    op("cache", Stateless),
    // Per-batch aggregations and shuffles.
    op("repartition", Shuffle),
    op("count", Shuffle),
    op("reduce", Shuffle),
    op("count_by_value", Shuffle),
    op("reduce_by_key", Shuffle),
    op("reduce_by_key_into", Shuffle),
    op("group_by_key", Shuffle),
    op("combine_by_key", Shuffle),
    op("join", Shuffle),
    op("left_outer_join", Shuffle),
    op("right_outer_join", Shuffle),
    op("full_outer_join", Shuffle),
    op("cogroup", Shuffle),
    // The user's function sees the whole batch, so the runtime ends a stage there.
    op("transform", Shuffle),
    op("transform_with", Shuffle),
    // SQL over each batch (feature `sql`): the query sees the whole batch.
    op("transform_sql", Shuffle),
    // Windows.
    window("window", 0, 1),
    window("count_by_window", 0, 1),
    window("reduce_by_window", 1, 2),
    checkpointed(window("reduce_by_window_inv", 2, 3), INVERSE),
    window("reduce_by_key_and_window", 1, 2),
    checkpointed(window("reduce_by_key_and_window_inv", 2, 3), INVERSE),
    checkpointed(
        window("count_by_value_and_window", 0, 1),
        "is computed incrementally, with an inverse function,",
    ),
    window("group_by_key_and_window", 0, 1),
    // State across batches.
    checkpointed(op("update_state_by_key", Stateful), STATE),
    checkpointed(op("update_state_by_key_with_initial", Stateful), STATE),
    checkpointed(op("update_state_by_key_with_time", Stateful), STATE),
    checkpointed(op("update_state_by_key_with_time_and_initial", Stateful), STATE),
    checkpointed(op("map_with_state", Stateful), STATE),
    op("state_snapshots", Stateful),
    // Outputs.
    op("print", Sink),
    op("print_n", Sink),
    op("print_to", Sink),
    op("save_as_text_files", Sink),
    op("foreach_batch", Sink),
    op("foreach_partition", Sink),
    op("sink", Sink),
    // Calls on the context that are not operators; `checkpoint(interval)` on a stream gives the
    // same stream, snapshotted every `interval`.
    either(op("checkpoint", Context)),
    Operator {
        durations: Durations::Single(0),
        ..op("remember", Context)
    },
    // Calls that hand back the same stream, or the same context (`let stopper = ssc.clone();`
    // to stop the context from an output, as the examples do).
    either(op("clone", Passthrough)),
    // `map_with_state(..)` returns a `MapWithStateDStream`; this is its plain stream.
    op("into_dstream", Passthrough),
    // Structured Streaming on the same engine.
    op("session", Handoff),
    // Getters, allowed anywhere and not part of the pipeline.
    accessor("slide_duration", Receiver::Stream),
    accessor("context", Receiver::Stream),
    accessor("batch_duration", Receiver::Context),
    accessor("parallelism", Receiver::Context),
    accessor("app_name", Receiver::Context),
    accessor("clock", Receiver::Context),
    accessor("checkpoint_dir", Receiver::Context),
    accessor("state", Receiver::Context),
    accessor("explain", Receiver::Context),
    accessor("add_streaming_listener", Receiver::Context),
    accessor("recent_batches", Receiver::Context),
    accessor("receiver_statuses", Receiver::Context),
    accessor("ui_url", Receiver::Context),
    accessor("source_limits", Receiver::Context),
    // Running the context: the caller does this with the built context, after the job.
    op("start", Lifecycle),
    op("stop", Lifecycle),
    op("await_termination", Lifecycle),
    op("await_termination_or_timeout", Lifecycle),
    op("await_batch", Lifecycle),
    op("await_records_received", Lifecycle),
];

/// Spark names (after camelCase → snake_case) whose streamflow name is different.
const SPARK_ALIASES: &[(&str, &str)] = &[
    ("foreach_rdd", "foreach_batch"),
    ("pprint", "print"),
    ("save_as_hadoop_files", "save_as_text_files"),
    ("save_as_object_files", "save_as_text_files"),
    ("slice", "window"),
];

/// The operator called `name`, if there is one.
pub(crate) fn lookup(name: &str) -> Option<&'static Operator> {
    OPERATORS.iter().find(|op| op.name == name)
}

/// The streamflow name of a Spark spelling (`reduceByKey`, `foreachRDD`), if `name` is one.
pub(crate) fn spark_alias(name: &str) -> Option<&'static str> {
    let snake = camel_to_snake(name);
    if let Some(op) = lookup(&snake) {
        return (snake != name).then_some(op.name);
    }
    SPARK_ALIASES
        .iter()
        .find(|(spark, _)| *spark == snake)
        .map(|(_, ours)| *ours)
}

/// `reduceByKeyAndWindow` → `reduce_by_key_and_window`; `foreachRDD` → `foreach_rdd`.
pub(crate) fn camel_to_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous_lower = false;
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            previous_lower = false;
        } else {
            out.push(c);
            previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        }
    }
    out
}

/// How the macro reads a method name, given what it is called on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// A method of what it is called on.
    Known,
    /// A near miss or Spark's spelling of this method of what it is called on: reported, then
    /// read as that method, so that one mistake does not make others.
    Misspelt(&'static str),
    /// A method called on the wrong thing, one of the other vocabulary, or one the runtime does
    /// not have yet: reported; what it makes is not known.
    Misplaced,
    /// The user's own method (an extension trait, far from every name here): rustc types it,
    /// and what it makes is not known to the macro.
    User,
}

/// Whether an operator can be what a misspelt name on the context (`true`) or on a stream
/// meant.
fn suggestable(op: &Operator, on_context: bool) -> bool {
    op.receiver.accepts(on_context)
        && !matches!(
            op.category,
            Category::Passthrough | Category::Accessor | Category::Lifecycle | Category::Handoff
        )
}

/// What a misspelt `name` called on the context (`true`) or on a stream meant: Spark's
/// spelling of an operator (`reduceByKey`, `foreachRDD`, `pprint`) or a typo of one.
pub(crate) fn suggestion(name: &str, on_context: bool) -> Option<&'static str> {
    spark_alias(name)
        .filter(|alias| lookup(alias).is_some_and(|op| suggestable(op, on_context)))
        .or_else(|| crate::suggest::typo_of(name, names(|op| suggestable(op, on_context))))
}

/// How a call of `name` in a DStream job reads, on the context (`true`) or on a stream.
pub(crate) fn resolve(name: &str, on_context: bool) -> Resolved {
    match lookup(name) {
        Some(op) if op.category == Category::Lifecycle => Resolved::Misplaced,
        Some(op) if op.receiver.accepts(on_context) => Resolved::Known,
        Some(_) => Resolved::Misplaced,
        None => match suggestion(name, on_context) {
            Some(meant) => Resolved::Misspelt(meant),
            None if structured_only(name).is_some() => Resolved::Misplaced,
            None => Resolved::User,
        },
    }
}

/// The Structured Streaming method `name` is (in snake_case), if it belongs to that vocabulary
/// only and is not a plain word a user's own method could have (`sum`, `format`).
pub(crate) fn structured_only(name: &str) -> Option<&'static Method> {
    let snake = camel_to_snake(name);
    STRUCTURED.iter().find(|m| {
        m.name == snake
            && lookup(m.name).is_none()
            && !matches!(m.kind, Kind::Passthrough | Kind::Accessor)
            && (m.name.contains('_') || m.name == "console")
    })
}

/// The DStream operator `name` is (in snake_case, or Spark's spelling of one), if it is one
/// that Structured Streaming does not have under the same name.
pub(crate) fn dstream_only(name: &str) -> Option<&'static Operator> {
    let snake = camel_to_snake(name);
    let ours = lookup(&snake).map(|op| op.name).or_else(|| spark_alias(name));
    ours.and_then(lookup).filter(|op| {
        !matches!(
            op.category,
            Category::Passthrough | Category::Accessor | Category::Lifecycle | Category::Handoff
        ) && STRUCTURED.iter().all(|m| m.name != op.name)
    })
}

/// How a call of `name` in a Structured Streaming query reads, on a value of `shape`.
pub(crate) fn resolve_structured(name: &str, shape: Shape) -> Resolved {
    if shape == Shape::Unknown || shape == Shape::Stream {
        return Resolved::User;
    }
    if structured(name, shape).is_some() {
        return Resolved::Known;
    }
    if NOT_YET_STRUCTURED.contains(&camel_to_snake(name).as_str()) {
        return Resolved::Misplaced;
    }
    if let Some(meant) = structured_suggestion(name, shape) {
        return Resolved::Misspelt(meant.name);
    }
    let snake = camel_to_snake(name);
    let elsewhere = STRUCTURED
        .iter()
        .any(|m| m.name == snake && !matches!(m.kind, Kind::Passthrough | Kind::Accessor));
    let writer_alias = STRUCTURED_ALIASES
        .iter()
        .any(|(spark, ours)| *spark == snake && structured(ours, Shape::Writer).is_some());
    if elsewhere || writer_alias || dstream_only(name).is_some() {
        return Resolved::Misplaced;
    }
    Resolved::User
}

/// The value a value the macro does not know is, told by the method called on it (or by its
/// snake_case spelling): the first type of the vocabulary that has it (a helper's
/// `counts(&words).write_stream()` is a dataset).
pub(crate) fn shape_of_method(name: &str) -> Option<Shape> {
    let snake = camel_to_snake(name);
    [Shape::Dataset, Shape::Writer, Shape::Grouped, Shape::Reader]
        .into_iter()
        .find(|shape| {
            structured(&snake, *shape).is_some_and(|m| !matches!(m.kind, Kind::Passthrough | Kind::Accessor))
        })
}

/// What a misplaced call in a query is taken to give, so the checks after it go on where the
/// mistake is clear: a sink on a dataset (`.print()`, `.console()`) is that dataset's writer,
/// `.format("console")` on a writer keeps the writer, a DStream operator on a dataset
/// (`reduce_by_key`) gives a dataset.
pub(crate) fn misplaced_gives(name: &str, on: Shape) -> Shape {
    match on {
        Shape::Dataset if sink_on_dataset(name).is_some() => Shape::Writer,
        Shape::Dataset if dstream_only(name).is_some() => Shape::Dataset,
        Shape::Writer if camel_to_snake(name) == "format" => Shape::Writer,
        _ => Shape::Unknown,
    }
}

/// The writer method a sink called on a dataset means (`console`, `print` → `console`,
/// `foreachRDD` → `foreach_batch`), if it is one.
pub(crate) fn sink_on_dataset(name: &str) -> Option<&'static Method> {
    let snake = camel_to_snake(name);
    let ours = STRUCTURED_ALIASES
        .iter()
        .find(|(spark, _)| *spark == snake)
        .map_or(snake.as_str(), |(_, ours)| ours);
    structured(ours, Shape::Writer).filter(|m| matches!(m.kind, Kind::Sink(_)))
}

/// The names of the operators this filter keeps, in table order.
pub(crate) fn names(mut keep: impl FnMut(&Operator) -> bool) -> impl Iterator<Item = &'static str> {
    OPERATORS.iter().filter(move |op| keep(op)).map(|op| op.name)
}

/// What a value of a Structured Streaming job is: the receiver an operator is called on, and
/// what it gives back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A DStream (the DStream vocabulary has only streams).
    Stream,
    /// The `&Session` the job takes.
    Session,
    /// `session.read_stream::<T>()`: a `DataStreamReader<T>`.
    Reader,
    /// A `Dataset<T>`.
    Dataset,
    /// `group_by(..)` / `group_by_window(..)`: a `GroupedDataset<T, K>`.
    Grouped,
    /// `write_stream()`: a `DataStreamWriter<T>`.
    Writer,
    /// `start()`: a running `StreamingQuery`.
    Query,
    /// What an unknown method gives: nothing more is checked on it.
    Unknown,
}

impl Shape {
    /// The runtime's type, for messages.
    pub(crate) fn type_name(self) -> &'static str {
        match self {
            Shape::Stream => "DStream",
            Shape::Session => "Session",
            Shape::Reader => "DataStreamReader",
            Shape::Dataset => "Dataset",
            Shape::Grouped => "GroupedDataset",
            Shape::Writer => "DataStreamWriter",
            Shape::Query => "StreamingQuery",
            Shape::Unknown => "value",
        }
    }
}

/// What a Structured Streaming method does, as far as validation and planning care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `session.read_stream::<T>()`.
    ReadStream,
    /// A reader option (`format`, `mode`, `header`, `max_files_per_trigger`).
    ReaderOption,
    /// Makes a dataset from a reader; the runtime's name for its node.
    Source(&'static str),
    /// Per-record work that keeps the event time (`filter`).
    Stateless,
    /// Per-record work that changes the record type, so the event time is gone (`map`).
    Retyping,
    /// `a.union(&b)`.
    Union,
    /// `map_groups_with_state` / `flat_map_groups_with_state` of a grouped dataset: a stateful
    /// operator giving records of a new type.
    GroupsWithState,
    /// A deduplication (`drop_duplicates`): a stateful operator that keeps the record type and
    /// the event time.
    Deduplicate,
    /// A stream–stream join (`a.left_outer_join(&b, on)`), Spark's name of its type: the other
    /// dataset is argument 0, the `JoinOn` argument 1. A stateful operator, Append only.
    Join(&'static str),
    /// A stream–static join (`join_static`): per-record work that changes the record type.
    StaticJoin,
    /// `with_watermark(event_time, delay)`: the delay is argument 1.
    Watermark,
    /// `with_event_time(event_time)`: declares the event time, adds no node.
    EventTime,
    /// `group_by(key)` (false) or `group_by_window(key, window)` (true, the window is argument 1).
    Group { window: bool },
    /// An aggregation of a grouped dataset; the runtime's name for its result column.
    Aggregation(&'static str),
    /// `write_stream()`.
    WriteStream,
    /// A writer setting.
    Setting(Setting),
    /// A sink; the output modes it accepts (`None`: all).
    Sink(Option<&'static [Mode]>),
    /// `start()`: the generated function does it.
    Start,
    /// A getter, not part of the pipeline.
    Accessor,
    /// Gives back the same value (`clone`).
    Passthrough,
}

/// A writer setting the attribute may also give.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Setting {
    OutputMode,
    Trigger,
    QueryName,
    /// `checkpoint_location(dir)`, also the attribute's `checkpoint`.
    Checkpoint,
    /// `watermark_idle_timeout(d)`: a duration at argument 0.
    IdleTimeout,
    /// Anything else (`multiple_watermark_policy`, `discard_torn_last_batch`).
    Other,
}

/// An output mode: the runtime's own, with its rules (`streamflow/src/event_time/rules.rs`).
pub(crate) use crate::output_mode_rules::Mode;

/// One method of the Structured Streaming vocabulary.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Method {
    pub(crate) name: &'static str,
    pub(crate) on: Shape,
    pub(crate) gives: Shape,
    pub(crate) kind: Kind,
}

const fn method(name: &'static str, on: Shape, gives: Shape, kind: Kind) -> Method {
    Method {
        name,
        on,
        gives,
        kind,
    }
}

const APPEND_ONLY: &[Mode] = &[Mode::Append];

/// Every method `#[stream_job]` follows in a Structured Streaming job, by the type it is
/// called on.
pub(crate) const STRUCTURED: &[Method] = {
    use Shape::{Dataset as D, Grouped as G, Query as Q, Reader as R, Session as S, Writer as W};
    &[
        // The session.
        method("read_stream", S, R, Kind::ReadStream),
        method("clone", S, S, Kind::Passthrough),
        method("parallelism", S, Shape::Unknown, Kind::Accessor),
        method("app_name", S, Shape::Unknown, Kind::Accessor),
        method("clock", S, Shape::Unknown, Kind::Accessor),
        method("add_listener", S, Shape::Unknown, Kind::Accessor),
        method("memory_table", S, Shape::Unknown, Kind::Accessor),
        method("ui_url", S, Shape::Unknown, Kind::Accessor),
        // The reader: options, then a source.
        method("format", R, R, Kind::ReaderOption),
        method("mode", R, R, Kind::ReaderOption),
        method("header", R, R, Kind::ReaderOption),
        method("max_files_per_trigger", R, R, Kind::ReaderOption),
        method("max_bytes_per_trigger", R, R, Kind::ReaderOption),
        method("limits", R, R, Kind::ReaderOption),
        method("corrupt_records", R, Shape::Unknown, Kind::Accessor),
        method("memory", R, D, Kind::Source("memory_stream")),
        method("files", R, D, Kind::Source("file_source")),
        method("socket", R, D, Kind::Source("socket_source")),
        method("rate", R, D, Kind::Source("rate_source")),
        method("source", R, D, Kind::Source("source")),
        method("kafka", R, D, Kind::Source("kafka_source")),
        // Datasets.
        method("map", D, D, Kind::Retyping),
        method("flat_map", D, D, Kind::Retyping),
        method("transform_sql", D, D, Kind::Retyping),
        method("filter", D, D, Kind::Stateless),
        method("union", D, D, Kind::Union),
        method("with_watermark", D, D, Kind::Watermark),
        method("with_event_time", D, D, Kind::EventTime),
        method("drop_duplicates", D, D, Kind::Deduplicate),
        method("drop_duplicates_with_event_time", D, D, Kind::Deduplicate),
        method("drop_duplicates_within_watermark", D, D, Kind::Deduplicate),
        method("join", D, D, Kind::Join("Inner")),
        method("left_outer_join", D, D, Kind::Join("LeftOuter")),
        method("right_outer_join", D, D, Kind::Join("RightOuter")),
        method("full_outer_join", D, D, Kind::Join("FullOuter")),
        method("left_semi_join", D, D, Kind::Join("LeftSemi")),
        method("join_static", D, D, Kind::StaticJoin),
        // The late-data side output: a mark for the next stateful operator, and its rows.
        method("late_rows_to", D, D, Kind::Stateless),
        method("late_rows", D, D, Kind::Retyping),
        method("left_outer_join_static", D, D, Kind::StaticJoin),
        method("group_by", D, G, Kind::Group { window: false }),
        method("group_by_window", D, G, Kind::Group { window: true }),
        // The same groups, the key looked up by borrow (made owned for a group's first record).
        method("group_by_ref", D, G, Kind::Group { window: false }),
        method("group_by_value", D, G, Kind::Group { window: false }),
        method("group_by_window_ref", D, G, Kind::Group { window: true }),
        // Grouped by the event time itself: final once the watermark passes it, like a window.
        method("group_by_event_time", D, G, Kind::Group { window: true }),
        method("write_stream", D, W, Kind::WriteStream),
        method("session", D, Shape::Unknown, Kind::Accessor),
        method("clone", D, D, Kind::Passthrough),
        // Aggregations of grouped datasets.
        method("count", G, D, Kind::Aggregation("count")),
        method("sum", G, D, Kind::Aggregation("sum")),
        method("min", G, D, Kind::Aggregation("min")),
        method("max", G, D, Kind::Aggregation("max")),
        method("avg", G, D, Kind::Aggregation("avg")),
        method("agg", G, D, Kind::Aggregation("agg")),
        // Arbitrary keyed state of grouped datasets.
        method("map_groups_with_state", G, D, Kind::GroupsWithState),
        method("flat_map_groups_with_state", G, D, Kind::GroupsWithState),
        // The writer: settings, a sink, and `start()` (the generated function's job).
        method("output_mode", W, W, Kind::Setting(Setting::OutputMode)),
        // The typed output modes: their rules are the types' (`structured/shape.rs`).
        method("append", W, W, Kind::Setting(Setting::OutputMode)),
        method("update", W, W, Kind::Setting(Setting::OutputMode)),
        method("complete", W, W, Kind::Setting(Setting::OutputMode)),
        method("trigger", W, W, Kind::Setting(Setting::Trigger)),
        method("query_name", W, W, Kind::Setting(Setting::QueryName)),
        method("multiple_watermark_policy", W, W, Kind::Setting(Setting::Other)),
        method(
            "watermark_idle_timeout",
            W,
            W,
            Kind::Setting(Setting::IdleTimeout),
        ),
        method("checkpoint_location", W, W, Kind::Setting(Setting::Checkpoint)),
        method("discard_torn_last_batch", W, W, Kind::Setting(Setting::Other)),
        method("no_data_micro_batches", W, W, Kind::Setting(Setting::Other)),
        method("console", W, W, Kind::Sink(None)),
        method("console_with", W, W, Kind::Sink(None)),
        method("memory", W, W, Kind::Sink(None)),
        method("foreach_batch", W, W, Kind::Sink(None)),
        method("foreach", W, W, Kind::Sink(None)),
        method("sink", W, W, Kind::Sink(None)),
        method("json", W, W, Kind::Sink(Some(APPEND_ONLY))),
        method("csv", W, W, Kind::Sink(Some(APPEND_ONLY))),
        method("start", W, Q, Kind::Start),
    ]
};

/// Operators of Spark's Structured Streaming (SPEC §3) that the runtime does not have yet:
/// named so that using one says so instead of "unknown operator".
pub(crate) const NOT_YET_STRUCTURED: &[&str] = &[];

/// Spark and DStream spellings (after camelCase → snake_case) whose Structured Streaming name
/// is different.
const STRUCTURED_ALIASES: &[(&str, &str)] = &[
    ("print", "console"),
    ("pprint", "console"),
    ("show", "console"),
    ("foreach_rdd", "foreach_batch"),
    ("group_by_key", "group_by"),
    ("load", "files"),
    ("text_file_stream", "files"),
    ("socket_text_stream", "socket"),
    ("select", "map"),
];

/// The method `name` called on a `shape`, if there is one.
pub(crate) fn structured(name: &str, shape: Shape) -> Option<&'static Method> {
    STRUCTURED.iter().find(|m| m.name == name && m.on == shape)
}

/// What an unknown `name` called on `shape` most likely meant: its Spark or DStream spelling's
/// counterpart, or the closest name among the methods of `shape`.
pub(crate) fn structured_suggestion(name: &str, shape: Shape) -> Option<&'static Method> {
    let suggestable =
        |m: &&Method| m.on == shape && !matches!(m.kind, Kind::Passthrough | Kind::Accessor | Kind::Start);
    if let Some(alias) = structured_alias(name, shape) {
        return structured(alias, shape);
    }
    let close = crate::suggest::typo_of(name, STRUCTURED.iter().filter(suggestable).map(|m| m.name))?;
    structured(close, shape)
}

/// The Structured Streaming name of a Spark or DStream spelling called on `shape`
/// (`withWatermark` → `with_watermark`, `print` → `console`), if `name` is one.
pub(crate) fn structured_alias(name: &str, shape: Shape) -> Option<&'static str> {
    let snake = camel_to_snake(name);
    if let Some(m) = structured(&snake, shape) {
        return (snake != name).then_some(m.name);
    }
    STRUCTURED_ALIASES
        .iter()
        .find(|(spark, ours)| *spark == snake && structured(ours, shape).is_some())
        .map(|(_, ours)| *ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        for (i, a) in OPERATORS.iter().enumerate() {
            assert!(
                OPERATORS[i + 1..].iter().all(|b| b.name != a.name),
                "{} listed twice",
                a.name
            );
        }
    }

    #[test]
    fn window_durations_point_at_len_and_slide() {
        let Some(op) = lookup("reduce_by_key_and_window_inv") else {
            panic!("missing operator");
        };
        assert_eq!(op.durations, Durations::Window { len: 2, slide: 3 });
        assert!(op.needs_checkpoint.is_some());
        assert!(lookup("reduce_by_key_and_window").is_some_and(|op| op.needs_checkpoint.is_none()));
    }

    /// Every public method with a `self` receiver that the runtime defines on `DStream`,
    /// `MapWithStateDStream` or `StreamingContext` is in `OPERATORS`, and every one on
    /// `Session`, `DataStreamReader`, `Dataset`, `GroupedDataset` or `DataStreamWriter` is in
    /// `STRUCTURED` under that type, so an operator cannot be added to the runtime without the
    /// macro knowing it. Read from the runtime's sources.
    #[test]
    fn every_runtime_method_is_registered() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../streamflow/src");
        let mut methods = Vec::new();
        collect_runtime_methods(&root, &mut methods);
        assert!(
            methods.iter().any(|(_, name)| name == "reduce_by_key"),
            "the runtime's sources were not found under {}",
            root.display()
        );
        let missing: Vec<String> = methods
            .iter()
            .filter(|(ty, name)| match structured_shape(ty) {
                Some(shape) => structured(name, shape).is_none(),
                None => lookup(name).is_none(),
            })
            .map(|(ty, name)| format!("{ty}::{name}"))
            .collect();
        assert!(
            missing.is_empty(),
            "add to OPERATORS (DStream) or STRUCTURED in registry.rs: {missing:?}"
        );
        for shape in [Shape::Reader, Shape::Dataset, Shape::Grouped, Shape::Writer] {
            assert!(
                methods.iter().any(|(ty, _)| structured_shape(ty) == Some(shape)),
                "no runtime method found on {shape:?}"
            );
        }
        // A method the runtime has gained is no longer "not yet".
        let arrived: Vec<&String> = methods
            .iter()
            .filter(|(ty, name)| {
                structured_shape(ty).is_some() && NOT_YET_STRUCTURED.contains(&name.as_str())
            })
            .map(|(_, name)| name)
            .collect();
        assert!(
            arrived.is_empty(),
            "register these and remove them from NOT_YET_STRUCTURED: {arrived:?}"
        );
        // And every registered structured method still exists (nothing stale).
        let stale: Vec<String> = STRUCTURED
            .iter()
            .filter(|m| m.kind != Kind::Passthrough)
            .filter(|m| {
                !methods
                    .iter()
                    .any(|(ty, name)| structured_shape(ty) == Some(m.on) && name == m.name)
            })
            .map(|m| format!("{}::{}", m.on.type_name(), m.name))
            .collect();
        assert!(stale.is_empty(), "not in the runtime any more: {stale:?}");
    }

    /// The shape of a runtime type of the Structured vocabulary.
    fn structured_shape(ty: &str) -> Option<Shape> {
        Some(match ty {
            "Session" => Shape::Session,
            "DataStreamReader" => Shape::Reader,
            "Dataset" => Shape::Dataset,
            "GroupedDataset" => Shape::Grouped,
            "DataStreamWriter" => Shape::Writer,
            _ => return None,
        })
    }

    fn collect_runtime_methods(dir: &std::path::Path, out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for path in entries.flatten().map(|entry| entry.path()) {
            if path.is_dir() {
                collect_runtime_methods(&path, out);
                continue;
            }
            if path.extension().is_none_or(|ext| ext != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let file = match syn::parse_file(&text) {
                Ok(file) => file,
                Err(error) => panic!("{}: {error}", path.display()),
            };
            for item in file.items {
                let syn::Item::Impl(block) = item else { continue };
                let syn::Type::Path(ty) = &*block.self_ty else {
                    continue;
                };
                let Some(last) = ty.path.segments.last() else {
                    continue;
                };
                let ty = last.ident.to_string();
                if block.trait_.is_some()
                    || !(["DStream", "MapWithStateDStream", "StreamingContext"].contains(&ty.as_str())
                        || structured_shape(&ty).is_some())
                {
                    continue;
                }
                for item in block.items {
                    let syn::ImplItem::Fn(method) = item else { continue };
                    let public = matches!(method.vis, syn::Visibility::Public(_));
                    if public && method.sig.receiver().is_some() {
                        out.push((ty.clone(), method.sig.ident.to_string()));
                    }
                }
            }
        }
    }

    #[test]
    fn spark_spellings_map_to_ours() {
        assert_eq!(spark_alias("reduceByKey"), Some("reduce_by_key"));
        assert_eq!(spark_alias("updateStateByKey"), Some("update_state_by_key"));
        assert_eq!(spark_alias("foreachRDD"), Some("foreach_batch"));
        assert_eq!(spark_alias("flatMap"), Some("flat_map"));
        assert_eq!(spark_alias("map"), None);
        assert_eq!(spark_alias("frobnicate"), None);
    }
}
