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
    /// Its joins, for the join rules.
    pub(super) joins: Vec<Join>,
    /// Its groups-with-state operators whose output mode the macro can read, and where.
    pub(super) groups_with_state: Vec<(output_mode_rules::GroupsWithState, Span)>,
    pub(super) watermarked: bool,
    /// Whether the records carry an event time (`with_watermark`/`with_event_time`, and no
    /// `map`/`flat_map` since).
    pub(super) event_time: bool,
    /// Built from a dataset handed in: what it holds is not known here.
    pub(super) opaque: bool,
}

impl Logical {
    /// A dataset made by code the macro cannot see.
    pub(super) fn opaque() -> Logical {
        Logical {
            opaque: true,
            ..Logical::default()
        }
    }

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

/// One join of the query: what the runtime's rules know of it, and where it is. `checked` is
/// false when its range condition is not written in the call (the runtime checks it then).
#[derive(Clone)]
pub(super) struct Join {
    pub(super) facts: output_mode_rules::Join,
    pub(super) checked: bool,
    /// The join's method name.
    pub(super) span: Span,
}

/// Where the output mode, trigger or name was given in the body.
#[derive(Clone)]
pub(super) struct BodySetting {
    pub(super) span: Span,
    /// For the output mode: the mode, if written as `OutputMode::X` or chosen by a typed
    /// method (`.complete()`).
    pub(super) mode: Option<Mode>,
    /// Whether the mode was chosen by a typed method, whose rules rustc checks on the
    /// dataset's shape (`streamflow/src/structured/shape.rs`).
    pub(super) typed: bool,
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
    pub(super) checkpoint: Option<BodySetting>,
}

impl Writer {
    /// The writer of `logical`, made by `write_stream` at `span`, with nothing chosen yet.
    pub(super) fn of(logical: Logical, span: Span) -> Writer {
        Writer {
            logical,
            span,
            sink: None,
            mode: None,
            trigger: None,
            name: None,
            checkpoint: None,
        }
    }

    /// A writer made by code the macro cannot see: its query and sink are not known.
    pub(super) fn opaque(span: Span) -> Writer {
        Writer {
            sink: Some(Sink {
                name: String::new(),
                modes: None,
                span,
            }),
            ..Writer::of(Logical::opaque(), span)
        }
    }
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

impl Sink {
    /// The sink a writer method chooses, called at `span`.
    pub(super) fn of(method: &crate::registry::Method, span: Span) -> Sink {
        let modes = match method.kind {
            crate::registry::Kind::Sink(modes) => modes,
            _ => None,
        };
        Sink {
            name: method.name.to_owned(),
            modes,
            span,
        }
    }
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
        /// The method that grouped: `group_by`, `group_by_window`, `group_by_event_time`.
        method: String,
        span: Span,
    },
    Writer(Box<Writer>),
    /// Made by code the macro cannot see (a parameter, a helper, a loop): what the next method
    /// called on it tells it is, with contents unknown.
    Opaque,
    /// One of these, chosen by an `if`/`else` or a `match`: each is checked.
    Branch(Vec<Value>),
    /// A running query, or anything the macro stopped following.
    Unknown,
}
