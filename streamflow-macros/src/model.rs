//! The pipeline model: what parsing produces and validation, fusion and codegen read.

use proc_macro2::Span;
use syn::{Expr, Ident, LitInt, LitStr};

use crate::registry::{Mode, Resolved, Shape};

/// Which of the runtime's two vocabularies a job is written in, told by its first parameter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Vocabulary {
    /// `ssc: &StreamingContext`: DStreams, one micro-batch per batch interval.
    #[default]
    DStream,
    /// `session: &Session`: a Structured Streaming query.
    Structured,
}

/// `trigger = ..` in the attribute.
#[derive(Clone)]
pub(crate) enum TriggerAttr {
    /// `default`: the next batch as soon as the previous one ends.
    Default,
    /// `processing_time("10 seconds")`.
    ProcessingTime(LitStr),
    /// `once`.
    Once,
    /// `available_now`.
    AvailableNow,
    /// `continuous("1 second")`: the checkpoint interval.
    Continuous(LitStr),
}

/// A setting given in the attribute, with its tokens (`output_mode = append`).
#[derive(Clone)]
pub(crate) struct Given<T> {
    pub(crate) value: T,
    /// `key = value` as written, for diagnostics that point at it.
    pub(crate) tokens: proc_macro2::TokenStream,
}

/// The settings written in `#[stream_job(...)]`, as written (validation checks the values).
#[derive(Default)]
pub(crate) struct JobConfig {
    /// `batch = "1s"`: the batch interval.
    pub(crate) batch: Option<LitStr>,
    /// `parallelism = 2`: worker threads.
    pub(crate) parallelism: Option<LitInt>,
    /// `checkpoint = "dir"`: the checkpoint directory.
    pub(crate) checkpoint: Option<LitStr>,
    /// `name = "..."`: the application name, or the query name (the function's name otherwise).
    pub(crate) name: Option<LitStr>,
    /// `trigger = processing_time("10 seconds")`: a query's trigger.
    pub(crate) trigger: Option<Given<TriggerAttr>>,
    /// `output_mode = append`: a query's output mode.
    pub(crate) output_mode: Option<Given<Mode>>,
    /// Keys whose value was given but could not be read (already reported): the checks that
    /// depend on them are not made, so one mistake is one error.
    pub(crate) invalid: Vec<&'static str>,
}

impl JobConfig {
    /// Whether `key` was given with a value that could not be read.
    pub(crate) fn is_invalid(&self, key: &str) -> bool {
        self.invalid.contains(&key)
    }
}

/// Index of a node in [`Pipeline::nodes`].
pub(crate) type NodeId = usize;

/// Where an operator call gets its stream from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// Called on the streaming context (sources).
    Context,
    /// Called on the stream made by this node.
    Stream(NodeId),
    /// Not a call: a stream the caller hands in as a parameter (`lines: DStream<String>`).
    Parameter,
    /// Not a call the macro follows: a stream made by a helper function (`parse(&lines)`) or
    /// by a loop. What it holds (its operators, slide, aggregations) is not known here.
    Built,
    /// Not a call: one of the streams in `other_inputs`, chosen by an `if`/`else` or a
    /// `match`.
    Branch,
}

/// Where a method call is in the body, so that an error about it can take its place in the
/// emitted body (see `codegen::replace_calls`): the address of its `ExprMethodCall` in the
/// parsed function, which stays put until codegen.
pub(crate) type CallId = usize;

/// An argument of an operator call, as far as the macro can see it.
#[derive(Clone)]
pub(crate) enum Arg {
    /// A string literal (durations are written this way).
    Str(LitStr),
    /// `Duration::from_millis(n)` / `Duration::from_secs(n)` with a literal `n`, in milliseconds.
    Millis(u64, Span),
    /// Anything else: a closure, a variable, another stream.
    Other,
}

/// One operator call in the pipeline, e.g. `.reduce_by_key(|a, b| a + b)`.
#[derive(Clone)]
pub(crate) struct Node {
    /// The method name, with its span (diagnostics point here).
    pub(crate) name: Ident,
    /// The stream (or context) it is called on.
    pub(crate) input: Input,
    /// Other streams passed as arguments (`union`, `join`, …).
    pub(crate) other_inputs: Vec<NodeId>,
    /// The arguments, in order.
    pub(crate) args: Vec<Arg>,
    /// The arguments as written (structured checks read window specs and modes from them).
    pub(crate) exprs: Vec<Expr>,
    /// What the call gives back: always a stream in a DStream job.
    pub(crate) shape: Shape,
    /// What it is called on, as the macro reads it (in a query, a helper's value is read as
    /// the type whose method is called on it).
    pub(crate) on: Shape,
    /// How the method's name reads on what it is called on.
    pub(crate) resolved: Resolved,
    /// The call in the body, if this node is one.
    pub(crate) call: Option<CallId>,
    /// Whether the call is in the body of a loop (it may run several times).
    pub(crate) in_loop: bool,
}

impl Node {
    /// The operator this node is read as: its own name, or what a misspelt name meant.
    pub(crate) fn operator(&self) -> String {
        match self.resolved {
            Resolved::Misspelt(meant) => meant.to_owned(),
            _ => self.name.to_string(),
        }
    }

    /// Whether this node is a call of the macro's vocabulary (known, or reported as misspelt
    /// and read as what it meant).
    pub(crate) fn is_operator(&self) -> bool {
        matches!(self.input, Input::Context | Input::Stream(_))
            && matches!(self.resolved, Resolved::Known | Resolved::Misspelt(_))
    }
}

/// Everything the function body does with the context and its streams.
#[derive(Default)]
pub(crate) struct Pipeline {
    /// Operator calls, in source order (inputs always come before the nodes that read them).
    pub(crate) nodes: Vec<Node>,
    /// The span of a `ssc.checkpoint(..)` call in the body, if there is one.
    pub(crate) checkpoint_call: Option<Span>,
    /// `ssc.remember(..)` and other context calls with a duration: their arguments.
    pub(crate) context_calls: Vec<Node>,
    /// Whether the context or a stream is handed to code the macro cannot see (a helper
    /// function, a collection): then that code may add operators, including outputs.
    pub(crate) escapes: bool,
    /// What the body's tail expression is.
    pub(crate) tail: Tail,
}

/// The value of a function body.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) enum Tail {
    /// No tail expression.
    #[default]
    Missing,
    /// Ends with `value;`, where `value` is this node: the `;` is at the span.
    Discarded(NodeId, Span),
    /// The node's value.
    Node(NodeId),
    /// Something the macro does not follow.
    Other,
}

impl Pipeline {
    /// The nodes that read `id`'s stream, as their main input or as another input.
    pub(crate) fn consumers(&self, id: NodeId) -> usize {
        self.nodes
            .iter()
            .filter(|node| node.input == Input::Stream(id) || node.other_inputs.contains(&id))
            .count()
    }
}
