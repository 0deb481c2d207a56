//! Parsing: the attribute into a [`JobConfig`], the signature into the context parameter, and
//! the function body into a [`Pipeline`].
//!
//! The body is followed the way a reader follows it: method chains rooted at the context
//! parameter or at a `let` binding of a stream, in source order. Calls on anything else
//! (closure parameters, iterators, strings) are not the pipeline and are left alone; closures
//! are not entered at all, so `|line| line.split(' ').map(..)` is never taken for an operator.

use std::collections::HashMap;

use proc_macro2::{TokenStream, TokenTree};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{
    Block, Expr, ExprLit, ExprMethodCall, FnArg, Ident, ItemFn, Lifetime, Lit, Local, Meta, Pat, Stmt, Token,
    Type,
};

use crate::diagnostic::Diagnostics;
use crate::model::{Arg, Given, Input, JobConfig, Node, NodeId, Pipeline, Tail, TriggerAttr, Vocabulary};
use crate::registry::{self, Category, Mode, Shape};
use crate::suggest;

/// The keys `#[stream_job(...)]` accepts for a DStream job.
pub(crate) const ATTRIBUTE_KEYS: &[&str] = &["batch", "parallelism", "checkpoint", "name"];

/// The keys `#[stream_job(...)]` accepts for a Structured Streaming query.
pub(crate) const QUERY_KEYS: &[&str] = &["trigger", "output_mode", "name", "checkpoint"];

/// The triggers the attribute accepts, as written there.
const TRIGGERS: &[&str] = &["processing_time", "once", "available_now", "default"];

/// Which vocabulary the function is written in: `&Session` first means a Structured Streaming
/// query; anything else is taken for a DStream job (and checked as one).
pub(crate) fn vocabulary(item: &ItemFn) -> Vocabulary {
    match item.sig.inputs.first() {
        Some(FnArg::Typed(param)) => match &*param.ty {
            Type::Reference(reference) if is_plain(&reference.elem, "Session") => Vocabulary::Structured,
            _ => Vocabulary::DStream,
        },
        _ => Vocabulary::DStream,
    }
}

/// Parses the attribute's arguments. Returns `None` when they are not even `key = value` pairs
/// (the syntax error is reported).
pub(crate) fn parse_attribute(
    args: TokenStream,
    vocabulary: Vocabulary,
    diags: &mut Diagnostics,
) -> Option<JobConfig> {
    let keys = match vocabulary {
        Vocabulary::DStream => ATTRIBUTE_KEYS,
        Vocabulary::Structured => QUERY_KEYS,
    };
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => metas,
        Err(error) => {
            diags.push(error);
            return None;
        }
    };
    let mut config = JobConfig::default();
    for meta in metas {
        let Meta::NameValue(entry) = meta else {
            let example = match vocabulary {
                Vocabulary::DStream => "#[stream_job(batch = \"1s\")]",
                Vocabulary::Structured => "#[stream_job(output_mode = append)]",
            };
            diags.error_spanned(
                &meta,
                "expected `key = value` in #[stream_job(...)]",
                Some(format!(
                    "the keys are {}, e.g. `{example}`",
                    suggest::one_of(keys.iter().copied())
                )),
            );
            continue;
        };
        let Some(key) = entry.path.get_ident() else {
            diags.error_spanned(&entry.path, "expected a plain key, like `name`", None);
            continue;
        };
        let name = key.to_string();
        if !keys.contains(&name.as_str()) {
            wrong_key(key, &name, vocabulary, keys, diags);
            continue;
        }
        let value = &entry.value;
        let tokens = quote::quote!(#key = #value);
        let duplicate = match name.as_str() {
            "batch" => set_str(
                &mut config.batch,
                &entry.value,
                key,
                "a duration string, like `batch = \"1s\"`",
                diags,
            ),
            "checkpoint" => set_str(
                &mut config.checkpoint,
                &entry.value,
                key,
                "a directory path string, like `checkpoint = \"/tmp/checkpoints\"`",
                diags,
            ),
            "name" => set_str(
                &mut config.name,
                &entry.value,
                key,
                "a string, like `name = \"word count\"`",
                diags,
            ),
            "parallelism" => match &entry.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Int(int), ..
                }) => config.parallelism.replace(int.clone()).is_some(),
                other => {
                    diags.error_spanned(
                        other,
                        "`parallelism` expects a whole number of worker threads",
                        Some("write e.g. `parallelism = 4`".into()),
                    );
                    false
                }
            },
            "output_mode" => match output_mode_value(&entry.value, diags) {
                Some(mode) => config
                    .output_mode
                    .replace(Given {
                        value: mode,
                        tokens: tokens.clone(),
                    })
                    .is_some(),
                None => false,
            },
            "trigger" => match trigger_value(&entry.value, diags) {
                Some(trigger) => config
                    .trigger
                    .replace(Given {
                        value: trigger,
                        tokens: tokens.clone(),
                    })
                    .is_some(),
                None => false,
            },
            _ => false,
        };
        if duplicate {
            diags.error(
                key.span(),
                format!("duplicate key `{name}`"),
                Some("give each key once".into()),
            );
        }
    }
    Some(config)
}

/// Reports a key this kind of job does not take.
fn wrong_key(key: &Ident, name: &str, vocabulary: Vocabulary, keys: &[&str], diags: &mut Diagnostics) {
    let (message, help) = match (vocabulary, name) {
        (Vocabulary::DStream, "trigger" | "output_mode") => (
            format!("`{name}` belongs to Structured Streaming queries, not DStream jobs"),
            "a DStream job runs one micro-batch per `batch` interval; for a query, take \
             `session: &Session` as the first parameter and end the body with its writer"
                .to_owned(),
        ),
        (Vocabulary::Structured, "batch") => (
            "`batch` belongs to DStream jobs, not Structured Streaming queries".to_owned(),
            "a query runs a micro-batch when its trigger fires: write e.g. \
             `trigger = processing_time(\"1 second\")`"
                .to_owned(),
        ),
        (Vocabulary::Structured, "parallelism") => (
            "`parallelism` is the session's, not the query's".to_owned(),
            "the query runs on the worker threads of the session passed in: build it with \
             `Session::builder().parallelism(n)`"
                .to_owned(),
        ),
        _ => (
            format!("unknown key `{name}` in #[stream_job(...)]"),
            match suggest::did_you_mean(name, keys.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("the keys are {}", suggest::one_of(keys.iter().copied())),
            },
        ),
    };
    diags.error(key.span(), message, Some(help));
}

/// `output_mode = append` (or `"append"`, or `OutputMode::Append`).
fn output_mode_value(value: &Expr, diags: &mut Diagnostics) -> Option<Mode> {
    let written = match value {
        Expr::Path(path) if path.qself.is_none() => path.path.segments.last().map(|s| s.ident.to_string()),
        Expr::Lit(ExprLit {
            lit: Lit::Str(text), ..
        }) => Some(text.value()),
        _ => None,
    };
    let modes = Mode::ALL.iter().map(|(name, _)| *name);
    match written {
        Some(name) => match Mode::parse(&name) {
            Some(mode) => Some(mode),
            None => {
                let help = match suggest::did_you_mean(&name.to_ascii_lowercase(), modes.clone()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("the output modes are {}", suggest::one_of(modes)),
                };
                diags.error_spanned(value, format!("unknown output mode `{name}`"), Some(help));
                None
            }
        },
        None => {
            diags.error_spanned(
                value,
                "`output_mode` expects `append`, `update` or `complete`",
                Some("write e.g. `output_mode = append`".into()),
            );
            None
        }
    }
}

/// `trigger = processing_time("10 seconds")`, `once`, `available_now` or `default` (with or
/// without `()`, with or without a `Trigger::` prefix).
fn trigger_value(value: &Expr, diags: &mut Diagnostics) -> Option<TriggerAttr> {
    let (path, args) = match value {
        Expr::Path(path) if path.qself.is_none() => (&path.path, None),
        Expr::Call(call) => match &*call.func {
            Expr::Path(path) if path.qself.is_none() => (&path.path, Some(&call.args)),
            _ => return bad_trigger(value, diags),
        },
        _ => return bad_trigger(value, diags),
    };
    let Some(last) = path.segments.last() else {
        return bad_trigger(value, diags);
    };
    let name = last.ident.to_string();
    let arg_count = args.map_or(0, Punctuated::len);
    match name.as_str() {
        "processing_time" => match args.and_then(|args| args.first()) {
            Some(Expr::Lit(ExprLit {
                lit: Lit::Str(text), ..
            })) if arg_count == 1 => Some(TriggerAttr::ProcessingTime(text.clone())),
            _ => {
                diags.error_spanned(
                    value,
                    "`processing_time` takes the interval as one duration string",
                    Some("write e.g. `trigger = processing_time(\"10 seconds\")`".into()),
                );
                None
            }
        },
        "once" | "available_now" | "default" if arg_count == 0 => Some(match name.as_str() {
            "once" => TriggerAttr::Once,
            "available_now" => TriggerAttr::AvailableNow,
            _ => TriggerAttr::Default,
        }),
        "once" | "available_now" | "default" => {
            diags.error_spanned(
                value,
                format!("the `{name}` trigger takes no arguments"),
                Some(format!("write `trigger = {name}`")),
            );
            None
        }
        "continuous" => {
            diags.error_spanned(
                value,
                "the continuous trigger is not supported by the runtime yet",
                Some(
                    "queries run as micro-batches: for low latency use \
                     `trigger = processing_time(\"100ms\")`, or the default trigger (no `trigger`)"
                        .into(),
                ),
            );
            None
        }
        other => {
            let help = match suggest::did_you_mean(&camel_to_snake_simple(other), TRIGGERS.iter().copied()) {
                Some(close) => format!("did you mean `{close}`?"),
                None => format!("the triggers are {}", suggest::one_of(TRIGGERS.iter().copied())),
            };
            diags.error(
                last.ident.span(),
                format!("unknown trigger `{other}`"),
                Some(help),
            );
            None
        }
    }
}

fn bad_trigger(value: &Expr, diags: &mut Diagnostics) -> Option<TriggerAttr> {
    diags.error_spanned(
        value,
        "`trigger` expects `processing_time(\"interval\")`, `once`, `available_now` or `default`",
        Some("write e.g. `trigger = processing_time(\"10 seconds\")`".into()),
    );
    None
}

/// `processingTime` → `processing_time`, `AvailableNow` → `available_now`.
fn camel_to_snake_simple(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Stores a string literal value; reports a value of the wrong kind. Returns whether the key
/// was already set.
fn set_str(
    slot: &mut Option<syn::LitStr>,
    value: &Expr,
    key: &Ident,
    expected: &str,
    diags: &mut Diagnostics,
) -> bool {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text), ..
        }) => slot.replace(text.clone()).is_some(),
        other => {
            diags.error_spanned(other, format!("`{key}` expects {expected}"), None);
            false
        }
    }
}

/// The first parameter of a job function: `&StreamingContext` or `&Session`.
pub(crate) struct ContextParam {
    /// Its name, unless it is `_`.
    pub(crate) name: Option<Ident>,
    /// The lifetime of the reference, if one is written (`&'a StreamingContext`).
    pub(crate) lifetime: Option<Lifetime>,
    /// A query's declared return type, `DataStreamWriter<T>`, if written.
    pub(crate) writer: Option<Type>,
}

/// Checks the function's shape. Returns the context parameter when the shape is one the macro
/// can generate code for.
pub(crate) fn parse_signature(
    item: &ItemFn,
    vocabulary: Vocabulary,
    diags: &mut Diagnostics,
) -> Option<ContextParam> {
    let sig = &item.sig;
    let structured = vocabulary == Vocabulary::Structured;
    let (context_type, example) = if structured {
        ("&Session", "session: &Session")
    } else {
        ("&StreamingContext", "ssc: &StreamingContext")
    };
    let mut ok = true;
    if let Some(token) = &sig.asyncness {
        diags.error(
            token.span,
            "a #[stream_job] function cannot be `async`",
            Some("remove `async`: the function only builds the pipeline; it runs after `start()`".into()),
        );
        ok = false;
    }
    let mut writer = None;
    if let syn::ReturnType::Type(arrow, ty) = &sig.output {
        if structured && is_named(ty, "DataStreamWriter") {
            writer = Some((**ty).clone());
        } else if structured {
            diags.error_spanned(
                &quote::quote!(#arrow #ty),
                "a Structured Streaming job returns the query's writer, not a running query",
                Some(format!(
                    "declare `-> DataStreamWriter<T>` (the type of the body's `.write_stream()..`) \
                     or no return type: the macro generates `fn {}(session, ..) -> \
                     streamflow::Result<StreamingQuery>`, which starts it",
                    sig.ident
                )),
            );
            ok = false;
        } else {
            diags.error_spanned(
                &quote::quote!(#arrow #ty),
                "a #[stream_job] function must not declare a return type",
                Some(format!(
                    "remove it: the macro generates `fn {}(..) -> streamflow::Result<StreamingContext>`, \
                     and `?` works in the body",
                    sig.ident
                )),
            );
            ok = false;
        }
    }
    let help = Some(if structured {
        format!(
            "write `fn {}({example}, ..)`: the caller passes the session the query runs in",
            sig.ident
        )
    } else {
        format!(
            "write `fn {}({example}, ..)`: the macro builds the context from the \
             attribute and passes it in",
            sig.ident
        )
    });
    let Some(first) = sig.inputs.first() else {
        diags.error(
            sig.ident.span(),
            "a #[stream_job] function must take `&StreamingContext` (a DStream job) or `&Session` \
             (a Structured Streaming query) as its first parameter",
            help,
        );
        return None;
    };
    let first_message = format!("the first parameter of a #[stream_job] function must be `{context_type}`");
    let FnArg::Typed(param) = first else {
        diags.error_spanned(first, &first_message, help);
        return None;
    };
    let context_name = if structured { "Session" } else { "StreamingContext" };
    let lifetime = match &*param.ty {
        Type::Reference(reference)
            if reference.mutability.is_none() && is_plain(&reference.elem, context_name) =>
        {
            reference.lifetime.clone()
        }
        _ => {
            diags.error_spanned(&param.ty, &first_message, help);
            return None;
        }
    };
    let name = match &*param.pat {
        Pat::Ident(ident) if ident.subpat.is_none() => Some(ident.ident.clone()),
        Pat::Wild(_) => None,
        other => {
            let example = if structured { "session" } else { "ssc" };
            diags.error_spanned(
                other,
                format!("expected a plain name for the context parameter, like `{example}`"),
                None,
            );
            return None;
        }
    };
    ok.then_some(ContextParam {
        name,
        lifetime,
        writer,
    })
}

/// The parameters that are streams (`lines: DStream<String>`, `&DStream<T>`; in a query,
/// `words: Dataset<Word>`): the body's chains may start from them as from a source.
pub(crate) fn stream_params(item: &ItemFn, vocabulary: Vocabulary) -> Vec<(Ident, Shape)> {
    let (type_name, shape) = match vocabulary {
        Vocabulary::DStream => ("DStream", Shape::Stream),
        Vocabulary::Structured => ("Dataset", Shape::Dataset),
    };
    item.sig
        .inputs
        .iter()
        .skip(1)
        .filter_map(|arg| match arg {
            FnArg::Typed(param) if is_named(&param.ty, type_name) => match &*param.pat {
                Pat::Ident(pat) if pat.subpat.is_none() => Some((pat.ident.clone(), shape)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Whether `ty` is (a reference to) a path ending in `name`.
fn is_named(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(path) => {
            path.qself.is_none() && path.path.segments.last().is_some_and(|last| last.ident == name)
        }
        Type::Reference(reference) => is_named(&reference.elem, name),
        Type::Paren(inner) => is_named(&inner.elem, name),
        Type::Group(inner) => is_named(&inner.elem, name),
        _ => false,
    }
}

/// Whether `ty` is a path ending in `name`, without generics (`StreamingContext`,
/// `streamflow::structured::Session`).
fn is_plain(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|last| last.ident == name && last.arguments.is_none())
        }
        Type::Paren(inner) => is_plain(&inner.elem, name),
        Type::Group(inner) => is_plain(&inner.elem, name),
        _ => false,
    }
}

/// Follows the body's method chains into a [`Pipeline`]. `context` is the name of the context
/// parameter (`None` for `_`).
pub(crate) fn parse_body(
    block: &Block,
    context: Option<&Ident>,
    streams: &[(Ident, Shape)],
    vocabulary: Vocabulary,
) -> Pipeline {
    let mut parser = BodyParser {
        vocabulary,
        ..BodyParser::default()
    };
    if let Some(name) = context {
        parser.bindings.insert(name.to_string(), Value::Context);
    }
    for (name, shape) in streams {
        parser.pipeline.nodes.push(Node {
            name: name.clone(),
            input: Input::Parameter,
            other_inputs: Vec::new(),
            args: Vec::new(),
            exprs: Vec::new(),
            shape: *shape,
        });
        let id = parser.pipeline.nodes.len() - 1;
        parser.bindings.insert(name.to_string(), Value::Stream(id));
    }
    let tail = parser.statements(&block.stmts);
    parser.pipeline.tail = match block.stmts.last() {
        Some(Stmt::Expr(_, None)) => match tail {
            Some(Value::Stream(id)) => Tail::Node(id),
            _ => Tail::Other,
        },
        Some(Stmt::Expr(_, Some(semi))) => match parser.last_value {
            Some(Value::Stream(id)) => Tail::Discarded(id, semi.span),
            _ => Tail::Missing,
        },
        Some(Stmt::Macro(mac)) if mac.semi_token.is_none() => Tail::Other,
        _ => Tail::Missing,
    };
    parser.pipeline
}

/// What an expression evaluates to, when it is part of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    Context,
    Stream(NodeId),
}

#[derive(Default)]
struct BodyParser {
    vocabulary: Vocabulary,
    bindings: HashMap<String, Value>,
    pipeline: Pipeline,
    /// The value of the last expression statement walked.
    last_value: Option<Value>,
}

impl BodyParser {
    /// Walks statements in order; returns the value of a tail expression.
    fn statements(&mut self, stmts: &[Stmt]) -> Option<Value> {
        let mut tail = None;
        for stmt in stmts {
            tail = None;
            match stmt {
                Stmt::Local(local) => self.local(local),
                Stmt::Expr(expr, semi) => {
                    let value = self.expr(expr);
                    self.last_value = value;
                    if semi.is_none() {
                        tail = value;
                    }
                }
                Stmt::Macro(mac) => self.macro_tokens(mac.mac.tokens.clone()),
                Stmt::Item(_) => {}
            }
        }
        tail
    }

    fn local(&mut self, local: &Local) {
        let value = local.init.as_ref().and_then(|init| {
            let value = self.expr(&init.expr);
            if let Some((_, diverge)) = &init.diverge {
                self.visit_expr(diverge);
            }
            value
        });
        let mut names = Vec::new();
        collect_bound_names(&local.pat, &mut names);
        match (value, &names[..]) {
            (Some(value), [name]) if simple_binding(&local.pat) => {
                self.bindings.insert(name.to_string(), value);
            }
            (value, _) => {
                if value.is_some() {
                    // A stream bound by a pattern the macro does not follow.
                    self.pipeline.escapes = true;
                }
                for name in names {
                    self.bindings.remove(&name.to_string());
                }
            }
        }
    }

    /// The value of `expr` if it is the context or a stream; records every operator call in it.
    fn expr(&mut self, expr: &Expr) -> Option<Value> {
        match expr {
            Expr::Path(path) => path
                .path
                .get_ident()
                .and_then(|ident| self.bindings.get(&ident.to_string()).copied()),
            Expr::Paren(inner) => self.expr(&inner.expr),
            Expr::Group(inner) => self.expr(&inner.expr),
            Expr::Reference(inner) => self.expr(&inner.expr),
            Expr::Try(inner) => self.expr(&inner.expr),
            Expr::MethodCall(call) => self.method_call(call),
            Expr::Block(block) => self.scoped(|parser| parser.statements(&block.block.stmts)),
            Expr::Closure(_) => None,
            Expr::Macro(mac) => {
                self.macro_tokens(mac.mac.tokens.clone());
                None
            }
            other => {
                visit::visit_expr(self, other);
                None
            }
        }
    }

    fn method_call(&mut self, call: &ExprMethodCall) -> Option<Value> {
        let receiver = self.expr(&call.receiver);
        let input = match receiver {
            None => {
                for arg in &call.args {
                    self.visit_expr(arg);
                }
                return None;
            }
            Some(Value::Context) => Input::Context,
            Some(Value::Stream(id)) => Input::Stream(id),
        };
        if self.vocabulary == Vocabulary::Structured {
            return self.structured_call(call, input, receiver);
        }
        let operator = registry::lookup(&call.method.to_string());
        let category = operator.map(|op| op.category);
        let fits = operator.is_some_and(|op| op.receiver.accepts(input == Input::Context));
        match category {
            Some(Category::Passthrough) if fits => return receiver,
            Some(Category::Accessor) if fits => {
                for arg in &call.args {
                    self.visit_expr(arg);
                }
                return None;
            }
            Some(Category::Handoff) if fits => {
                self.pipeline.escapes = true;
                for arg in &call.args {
                    self.visit_expr(arg);
                }
                return None;
            }
            _ => {}
        }
        let node = self.node(call, input, Shape::Stream);
        if input == Input::Context && category == Some(Category::Context) {
            if call.method == "checkpoint" {
                self.pipeline.checkpoint_call = Some(call.method.span());
            }
            self.pipeline.context_calls.push(node);
            return None;
        }
        self.pipeline.nodes.push(node);
        Some(Value::Stream(self.pipeline.nodes.len() - 1))
    }

    /// A call in a Structured Streaming job: what it gives depends on what it is called on.
    fn structured_call(
        &mut self,
        call: &ExprMethodCall,
        input: Input,
        receiver: Option<Value>,
    ) -> Option<Value> {
        let on = match input {
            Input::Stream(id) => self.pipeline.nodes[id].shape,
            Input::Context | Input::Parameter => Shape::Session,
        };
        let name = call.method.to_string();
        let method = registry::structured(&name, on);
        match method.map(|m| m.kind) {
            Some(registry::Kind::Passthrough) => return receiver,
            Some(registry::Kind::Accessor) => {
                for arg in &call.args {
                    self.visit_expr(arg);
                }
                return None;
            }
            _ => {}
        }
        // An unknown method: go on as if it were the one it is closest to, so one typo does
        // not make every later call an error too.
        let gives = match method {
            Some(m) => m.gives,
            None if on == Shape::Unknown => Shape::Unknown,
            None => registry::structured_suggestion(&name, on).map_or(Shape::Unknown, |m| m.gives),
        };
        let node = self.node(call, input, gives);
        self.pipeline.nodes.push(node);
        Some(Value::Stream(self.pipeline.nodes.len() - 1))
    }

    /// The node of an operator call, its arguments read.
    fn node(&mut self, call: &ExprMethodCall, input: Input, shape: Shape) -> Node {
        let mut node = Node {
            name: call.method.clone(),
            input,
            other_inputs: Vec::new(),
            args: Vec::with_capacity(call.args.len()),
            exprs: call.args.iter().cloned().collect(),
            shape,
        };
        for arg in &call.args {
            node.args.push(self.argument(arg, &mut node.other_inputs));
        }
        node
    }

    /// What the macro can see of an operator's argument; streams passed in become inputs.
    fn argument(&mut self, arg: &Expr, other_inputs: &mut Vec<NodeId>) -> Arg {
        match arg {
            Expr::Lit(ExprLit {
                lit: Lit::Str(text), ..
            }) => return Arg::Str(text.clone()),
            Expr::Closure(_) => return Arg::Other,
            // `ssc.union(&[a, b])`, `ssc.union(&vec![a, b])`: each element is an input.
            Expr::Reference(reference) => return self.argument(&reference.expr, other_inputs),
            Expr::Array(array) => {
                for element in &array.elems {
                    self.argument(element, other_inputs);
                }
                return Arg::Other;
            }
            Expr::Macro(mac) if mac.mac.path.is_ident("vec") => {
                let elements = Punctuated::<Expr, Token![,]>::parse_terminated.parse2(mac.mac.tokens.clone());
                if let Ok(elements) = elements {
                    for element in &elements {
                        self.argument(element, other_inputs);
                    }
                    return Arg::Other;
                }
            }
            _ => {}
        }
        if let Some(millis) = duration_constructor(arg) {
            return Arg::Millis(millis, syn::spanned::Spanned::span(arg));
        }
        match self.expr(arg) {
            Some(Value::Stream(id)) => other_inputs.push(id),
            Some(Value::Context) => self.pipeline.escapes = true,
            None => {}
        }
        Arg::Other
    }

    /// Runs `f` with the bindings restored afterwards (a nested block's `let`s end with it).
    fn scoped<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let saved = self.bindings.clone();
        let result = f(self);
        self.bindings = saved;
        result
    }

    /// A macro's tokens are opaque: if they name the context or a stream, it escapes.
    fn macro_tokens(&mut self, tokens: TokenStream) {
        for token in tokens {
            match token {
                TokenTree::Ident(ident) if self.bindings.contains_key(&ident.to_string()) => {
                    self.pipeline.escapes = true;
                }
                TokenTree::Group(group) => self.macro_tokens(group.stream()),
                _ => {}
            }
        }
    }
}

impl<'ast> Visit<'ast> for BodyParser {
    /// Reached only for sub-expressions of things that are not operator calls (a function
    /// call's argument, an array element …): a stream found there is handed to code the macro
    /// cannot see.
    fn visit_expr(&mut self, expr: &'ast Expr) {
        if self.expr(expr).is_some() {
            self.pipeline.escapes = true;
        }
    }

    fn visit_block(&mut self, block: &'ast Block) {
        self.scoped(|parser| parser.statements(&block.stmts));
    }

    fn visit_expr_closure(&mut self, _: &'ast syn::ExprClosure) {}

    fn visit_item(&mut self, _: &'ast syn::Item) {}

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.macro_tokens(mac.tokens.clone());
    }
}

/// `Duration::from_millis(500)`, `Duration::from_secs(10)` (any path ending so): milliseconds.
pub(crate) fn duration_constructor(expr: &Expr) -> Option<u64> {
    let Expr::Call(call) = expr else { return None };
    let Expr::Path(func) = &*call.func else {
        return None;
    };
    let mut segments = func.path.segments.iter().rev();
    let constructor = segments.next()?;
    if segments.next()?.ident != "Duration" || call.args.len() != 1 {
        return None;
    }
    let Some(Expr::Lit(ExprLit {
        lit: Lit::Int(int), ..
    })) = call.args.first()
    else {
        return None;
    };
    let n: u64 = int.base10_parse().ok()?;
    let factor = match constructor.ident.to_string().as_str() {
        "from_millis" => 1,
        "from_secs" | "seconds" => 1_000,
        "minutes" | "from_mins" => 60_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

fn simple_binding(pat: &Pat) -> bool {
    match pat {
        Pat::Ident(ident) => ident.subpat.is_none(),
        Pat::Type(typed) => simple_binding(&typed.pat),
        _ => false,
    }
}

fn collect_bound_names(pat: &Pat, names: &mut Vec<Ident>) {
    struct Names<'a>(&'a mut Vec<Ident>);
    impl<'ast> Visit<'ast> for Names<'_> {
        fn visit_pat_ident(&mut self, pat: &'ast syn::PatIdent) {
            self.0.push(pat.ident.clone());
            visit::visit_pat_ident(self, pat);
        }
    }
    Names(names).visit_pat(pat);
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn body(block: Block) -> Pipeline {
        parse_body(&block, Some(&syn::parse_quote!(ssc)), &[], Vocabulary::DStream)
    }

    fn names(pipeline: &Pipeline) -> Vec<String> {
        pipeline.nodes.iter().map(|node| node.name.to_string()).collect()
    }

    #[test]
    fn follows_a_chain_from_the_context() {
        let pipeline = body(syn::parse_quote!({
            ssc.socket_text_stream(host, port)
                .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
                .map(|word| (word, 1))
                .reduce_by_key(|a, b| a + b)
                .print();
        }));
        assert_eq!(
            names(&pipeline),
            ["socket_text_stream", "flat_map", "map", "reduce_by_key", "print"]
        );
        assert_eq!(pipeline.nodes[0].input, Input::Context);
        assert_eq!(pipeline.nodes[3].input, Input::Stream(2));
        assert!(!pipeline.escapes);
    }

    #[test]
    fn follows_let_bindings_for_fan_out_and_fan_in() {
        let pipeline = body(syn::parse_quote!({
            let lines = ssc.socket_text_stream("localhost", 9999);
            let errors = lines.filter(|l| l.contains("ERROR"));
            let warnings = lines.clone().filter(|l| l.contains("WARN"));
            errors.union(&warnings).count().print();
        }));
        assert_eq!(
            names(&pipeline),
            [
                "socket_text_stream",
                "filter",
                "filter",
                "union",
                "count",
                "print"
            ]
        );
        assert_eq!(pipeline.nodes[2].input, Input::Stream(0));
        assert_eq!(pipeline.nodes[3].input, Input::Stream(1));
        assert_eq!(pipeline.nodes[3].other_inputs, [2]);
        assert_eq!(pipeline.consumers(0), 2);
    }

    #[test]
    fn ignores_method_calls_that_are_not_the_pipeline() {
        let pipeline = body(syn::parse_quote!({
            let words = vec!["a"].into_iter().map(str::len).collect::<Vec<_>>();
            let lines = ssc.socket_text_stream("h", 1);
            lines.map(|lines| lines.trim().to_owned().mapp()).print();
        }));
        assert_eq!(names(&pipeline), ["socket_text_stream", "map", "print"]);
    }

    #[test]
    fn records_durations_and_checkpoint_calls() {
        let pipeline = body(syn::parse_quote!({
            ssc.checkpoint("/tmp/cp")?;
            ssc.socket_text_stream("h", 1)
                .window("30 seconds", Duration::from_secs(10))
                .print();
        }));
        assert!(pipeline.checkpoint_call.is_some());
        let window = &pipeline.nodes[1];
        assert!(matches!(&window.args[0], Arg::Str(text) if text.value() == "30 seconds"));
        assert!(matches!(window.args[1], Arg::Millis(10_000, _)));
    }

    #[test]
    fn union_on_the_context_reads_every_stream_of_its_slice() {
        let pipeline = body(syn::parse_quote!({
            let a = ssc.socket_text_stream("h", 1);
            let b = ssc.socket_text_stream("h", 2);
            let c = ssc.text_file_stream("dir");
            ssc.union(&[a, b.clone()])?.union(&c).print();
            let n = ssc.batch_duration();
        }));
        assert_eq!(
            names(&pipeline),
            [
                "socket_text_stream",
                "socket_text_stream",
                "text_file_stream",
                "union",
                "union",
                "print"
            ]
        );
        assert_eq!(pipeline.nodes[3].input, Input::Context);
        assert_eq!(pipeline.nodes[3].other_inputs, [0, 1]);
        assert_eq!(pipeline.nodes[4].other_inputs, [2]);
        assert!(!pipeline.escapes);
    }

    #[test]
    fn stream_parameters_are_roots() {
        let item: ItemFn = syn::parse_quote! {
            fn job(ssc: &StreamingContext, lines: DStream<String>, other: &streamflow::DStream<u8>, n: u32) {
                lines.map(|l| l.len()).print();
            }
        };
        let streams = stream_params(&item, Vocabulary::DStream);
        let params: Vec<String> = streams.iter().map(|(name, _)| name.to_string()).collect();
        assert_eq!(params, ["lines", "other"]);
        let pipeline = parse_body(
            &item.block,
            Some(&syn::parse_quote!(ssc)),
            &streams,
            Vocabulary::DStream,
        );
        assert_eq!(names(&pipeline), ["lines", "other", "map", "print"]);
        assert_eq!(pipeline.nodes[0].input, Input::Parameter);
        assert_eq!(pipeline.nodes[2].input, Input::Stream(0));
    }

    #[test]
    fn streams_handed_to_other_code_escape() {
        let pipeline = body(syn::parse_quote!({
            let lines = ssc.socket_text_stream("h", 1);
            my_sink(&lines);
        }));
        assert!(pipeline.escapes);
        let pipeline = body(syn::parse_quote!({
            register_sources(ssc);
        }));
        assert!(pipeline.escapes);
    }

    #[test]
    fn shadowing_ends_a_binding() {
        let pipeline = body(syn::parse_quote!({
            let lines = ssc.socket_text_stream("h", 1);
            lines.print();
            let lines = "not a stream";
            lines.map_it();
        }));
        assert_eq!(names(&pipeline), ["socket_text_stream", "print"]);
    }

    #[test]
    fn attribute_keys_are_read_and_checked() {
        let mut diags = Diagnostics::default();
        let config = parse_attribute(
            quote!(batch = "1s", parallelism = 4, checkpoint = "/tmp/cp", name = "wc"),
            Vocabulary::DStream,
            &mut diags,
        );
        assert!(diags.is_empty());
        let Some(config) = config else {
            panic!("attribute did not parse")
        };
        assert_eq!(config.batch.map(|b| b.value()).as_deref(), Some("1s"));
        assert_eq!(config.parallelism.map(|p| p.to_string()).as_deref(), Some("4"));

        let mut diags = Diagnostics::default();
        parse_attribute(
            quote!(
                batch = 1,
                paralelism = 2,
                trigger = processing_time("1s"),
                name = "a",
                name = "b"
            ),
            Vocabulary::DStream,
            &mut diags,
        );
        let messages = diags.messages();
        assert_eq!(messages.len(), 4, "{messages:#?}");
        assert!(messages[0].starts_with("`batch` expects a duration string"));
        assert_eq!(
            messages[1],
            "unknown key `paralelism` in #[stream_job(...)]\nhelp: did you mean `parallelism`?"
        );
        assert!(
            messages[2].starts_with("`trigger` belongs to Structured Streaming queries, not DStream jobs")
        );
        assert!(messages[3].starts_with("duplicate key `name`"));
    }

    #[test]
    fn the_first_parameter_must_be_the_context() {
        let mut diags = Diagnostics::default();
        let item: ItemFn = syn::parse_quote!(
            fn job(ssc: &StreamingContext, port: u16) {}
        );
        let param = parse_signature(&item, Vocabulary::DStream, &mut diags);
        assert!(param.is_some_and(|p| p.name.is_some_and(|n| n == "ssc")));

        for item in [
            syn::parse_quote!(
                fn job(port: u16) {}
            ),
            syn::parse_quote!(
                fn job() {}
            ),
            syn::parse_quote!(
                fn job(ssc: &mut StreamingContext) {}
            ),
            syn::parse_quote!(
                fn job(ssc: &StreamingContext) -> Result<()> {}
            ),
        ] {
            let mut diags = Diagnostics::default();
            let item: ItemFn = item;
            assert!(parse_signature(&item, Vocabulary::DStream, &mut diags).is_none());
            assert_eq!(diags.messages().len(), 1);
        }
    }
}
