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
use crate::model::{Arg, Input, JobConfig, Node, NodeId, Pipeline};
use crate::registry::{self, Category};
use crate::suggest;

/// The keys `#[stream_job(...)]` accepts.
pub(crate) const ATTRIBUTE_KEYS: &[&str] = &["batch", "parallelism", "checkpoint", "name"];

/// Keys that belong to Structured Streaming queries, which are not supported yet.
const STRUCTURED_KEYS: &[&str] = &["trigger", "output_mode"];

/// Parses the attribute's arguments. Returns `None` when they are not even `key = value` pairs
/// (the syntax error is reported).
pub(crate) fn parse_attribute(args: TokenStream, diags: &mut Diagnostics) -> Option<JobConfig> {
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
            diags.error_spanned(
                &meta,
                "expected `key = value` in #[stream_job(...)]",
                Some(format!(
                    "the keys are {}, e.g. `#[stream_job(batch = \"1s\")]`",
                    suggest::one_of(ATTRIBUTE_KEYS.iter().copied())
                )),
            );
            continue;
        };
        let Some(key) = entry.path.get_ident() else {
            diags.error_spanned(&entry.path, "expected a plain key, like `batch`", None);
            continue;
        };
        let name = key.to_string();
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
            key_name if STRUCTURED_KEYS.contains(&key_name) => {
                diags.error(
                    key.span(),
                    format!("`{key_name}` is not yet supported for DStream jobs"),
                    Some(
                        "a DStream job runs one micro-batch per `batch` interval; triggers and \
                         output modes come with Structured Streaming queries"
                            .into(),
                    ),
                );
                false
            }
            _ => {
                let help = match suggest::did_you_mean(&name, ATTRIBUTE_KEYS.iter().copied()) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => format!("the keys are {}", suggest::one_of(ATTRIBUTE_KEYS.iter().copied())),
                };
                diags.error(
                    key.span(),
                    format!("unknown key `{name}` in #[stream_job(...)]"),
                    Some(help),
                );
                false
            }
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

/// The `&StreamingContext` parameter of a job function.
pub(crate) struct ContextParam {
    /// Its name, unless it is `_`.
    pub(crate) name: Option<Ident>,
    /// The lifetime of the reference, if one is written (`&'a StreamingContext`).
    pub(crate) lifetime: Option<Lifetime>,
}

/// Checks the function's shape. Returns the context parameter when the shape is one the macro
/// can generate code for.
pub(crate) fn parse_signature(item: &ItemFn, diags: &mut Diagnostics) -> Option<ContextParam> {
    let sig = &item.sig;
    let mut ok = true;
    if let Some(token) = &sig.asyncness {
        diags.error(
            token.span,
            "a #[stream_job] function cannot be `async`",
            Some("remove `async`: the function only builds the pipeline; it runs after `start()`".into()),
        );
        ok = false;
    }
    if let syn::ReturnType::Type(arrow, ty) = &sig.output {
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
    let help = Some(format!(
        "write `fn {}(ssc: &StreamingContext, ..)`: the macro builds the context from the \
         attribute and passes it in",
        sig.ident
    ));
    let Some(first) = sig.inputs.first() else {
        diags.error(
            sig.ident.span(),
            "a #[stream_job] function must take `&StreamingContext` as its first parameter",
            help,
        );
        return None;
    };
    let FnArg::Typed(param) = first else {
        diags.error_spanned(
            first,
            "the first parameter of a #[stream_job] function must be `&StreamingContext`",
            help,
        );
        return None;
    };
    let lifetime = match &*param.ty {
        Type::Reference(reference)
            if reference.mutability.is_none() && is_streaming_context(&reference.elem) =>
        {
            reference.lifetime.clone()
        }
        _ => {
            diags.error_spanned(
                &param.ty,
                "the first parameter of a #[stream_job] function must be `&StreamingContext`",
                help,
            );
            return None;
        }
    };
    let name = match &*param.pat {
        Pat::Ident(ident) if ident.subpat.is_none() => Some(ident.ident.clone()),
        Pat::Wild(_) => None,
        other => {
            diags.error_spanned(
                other,
                "expected a plain name for the context parameter, like `ssc`",
                None,
            );
            return None;
        }
    };
    ok.then_some(ContextParam { name, lifetime })
}

/// The parameters that are streams (`lines: DStream<String>`, `&DStream<T>`): the body's
/// chains may start from them as from a source.
pub(crate) fn stream_params(item: &ItemFn) -> Vec<Ident> {
    item.sig
        .inputs
        .iter()
        .skip(1)
        .filter_map(|arg| match arg {
            FnArg::Typed(param) if is_named(&param.ty, "DStream") => match &*param.pat {
                Pat::Ident(pat) if pat.subpat.is_none() => Some(pat.ident.clone()),
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

fn is_streaming_context(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => {
            path.qself.is_none()
                && path
                    .path
                    .segments
                    .last()
                    .is_some_and(|last| last.ident == "StreamingContext" && last.arguments.is_none())
        }
        Type::Paren(inner) => is_streaming_context(&inner.elem),
        Type::Group(inner) => is_streaming_context(&inner.elem),
        _ => false,
    }
}

/// Follows the body's method chains into a [`Pipeline`]. `context` is the name of the context
/// parameter (`None` for `_`).
pub(crate) fn parse_body(block: &Block, context: Option<&Ident>, streams: &[Ident]) -> Pipeline {
    let mut parser = BodyParser::default();
    if let Some(name) = context {
        parser.bindings.insert(name.to_string(), Value::Context);
    }
    for name in streams {
        parser.pipeline.nodes.push(Node {
            name: name.clone(),
            input: Input::Parameter,
            other_inputs: Vec::new(),
            args: Vec::new(),
        });
        let id = parser.pipeline.nodes.len() - 1;
        parser.bindings.insert(name.to_string(), Value::Stream(id));
    }
    parser.statements(&block.stmts);
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
    bindings: HashMap<String, Value>,
    pipeline: Pipeline,
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
        let mut node = Node {
            name: call.method.clone(),
            input,
            other_inputs: Vec::new(),
            args: Vec::with_capacity(call.args.len()),
        };
        for arg in &call.args {
            node.args.push(self.argument(arg, &mut node.other_inputs));
        }
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
fn duration_constructor(expr: &Expr) -> Option<u64> {
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
        parse_body(&block, Some(&syn::parse_quote!(ssc)), &[])
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
        let streams = stream_params(&item);
        assert_eq!(streams, ["lines", "other"]);
        let pipeline = parse_body(&item.block, Some(&syn::parse_quote!(ssc)), &streams);
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
            &mut diags,
        );
        let messages = diags.messages();
        assert_eq!(messages.len(), 4, "{messages:#?}");
        assert!(messages[0].starts_with("`batch` expects a duration string"));
        assert_eq!(
            messages[1],
            "unknown key `paralelism` in #[stream_job(...)]\nhelp: did you mean `parallelism`?"
        );
        assert!(messages[2].starts_with("`trigger` is not yet supported for DStream jobs"));
        assert!(messages[3].starts_with("duplicate key `name`"));
    }

    #[test]
    fn the_first_parameter_must_be_the_context() {
        let mut diags = Diagnostics::default();
        let item: ItemFn = syn::parse_quote!(
            fn job(ssc: &StreamingContext, port: u16) {}
        );
        let param = parse_signature(&item, &mut diags);
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
            assert!(parse_signature(&item, &mut diags).is_none());
            assert_eq!(diags.messages().len(), 1);
        }
    }
}
