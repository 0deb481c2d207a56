//! The pipeline model: what parsing produces and validation, fusion and codegen read.

use proc_macro2::Span;
use syn::{Ident, LitInt, LitStr};

/// The settings written in `#[stream_job(...)]`, as written (validation checks the values).
#[derive(Default)]
pub(crate) struct JobConfig {
    /// `batch = "1s"`: the batch interval.
    pub(crate) batch: Option<LitStr>,
    /// `parallelism = 2`: worker threads.
    pub(crate) parallelism: Option<LitInt>,
    /// `checkpoint = "dir"`: the checkpoint directory.
    pub(crate) checkpoint: Option<LitStr>,
    /// `name = "..."`: the application name (the function's name otherwise).
    pub(crate) name: Option<LitStr>,
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
}

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
