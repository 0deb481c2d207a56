//! What each value the body builds is, as far as the rules go: the runtime's `Logical` plan
//! of a dataset, grouped records, a writer with its settings and sink.

use proc_macro2::Span;

use crate::output_mode_rules;
use crate::registry::Mode;

/// What a query reads and does, as far as the rules go (the runtime's `Logical`).
#[derive(Clone, Default)]
pub(super) struct Logical {
    /// Node names, as the runtime's message on Complete mode lists them.
    pub(super) ops: Vec<String>,
    pub(super) aggregations: Vec<Aggregation>,
    pub(super) watermarked: bool,
    /// Whether the records carry an event time (`with_watermark`/`with_event_time`, and no
    /// `map`/`flat_map` since).
    pub(super) event_time: bool,
    /// Built from a dataset handed in: what it holds is not known here.
    pub(super) opaque: bool,
}

impl Logical {
    /// The same plan, with one more operator.
    pub(super) fn then(&self, op: &str) -> Logical {
        let mut next = self.clone();
        next.ops.push(op.to_owned());
        next
    }
}

/// One aggregation of the query: what the runtime's rules know of it, and where it is.
#[derive(Clone)]
pub(super) struct Aggregation {
    pub(super) facts: output_mode_rules::Aggregation,
    /// The aggregation's method name.
    pub(super) span: Span,
}

/// Where the output mode, trigger or name was given in the body.
#[derive(Clone)]
pub(super) struct BodySetting {
    pub(super) span: Span,
    /// For the output mode: the mode, if written as `OutputMode::X`.
    pub(super) mode: Option<Mode>,
}

/// A writer: the query it writes, and what was chosen on it.
#[derive(Clone)]
pub(super) struct Writer {
    pub(super) logical: Logical,
    /// `write_stream`.
    pub(super) span: Span,
    pub(super) sink: Option<Sink>,
    pub(super) mode: Option<BodySetting>,
    pub(super) trigger: Option<BodySetting>,
    pub(super) name: Option<BodySetting>,
}

/// The sink chosen on a writer.
#[derive(Clone)]
pub(super) struct Sink {
    /// The writer method that chose it (`json`).
    pub(super) name: String,
    /// The output modes it accepts (`None`: all).
    pub(super) modes: Option<&'static [Mode]>,
    pub(super) span: Span,
}

/// What each node of the body is, for the rules.
#[derive(Clone)]
pub(super) enum Value {
    Session,
    Reader,
    Dataset(Logical),
    Grouped {
        logical: Logical,
        window: bool,
        span: Span,
    },
    Writer(Box<Writer>),
    /// A running query, or anything the macro stopped following.
    Unknown,
}

impl Value {
    /// The same value, made by something the macro does not understand.
    pub(super) fn opaque(self) -> Value {
        match self {
            Value::Dataset(mut logical) => {
                logical.opaque = true;
                Value::Dataset(logical)
            }
            Value::Grouped {
                mut logical,
                window,
                span,
            } => {
                logical.opaque = true;
                Value::Grouped {
                    logical,
                    window,
                    span,
                }
            }
            Value::Writer(mut writer) => {
                writer.logical.opaque = true;
                Value::Writer(writer)
            }
            other => other,
        }
    }
}
