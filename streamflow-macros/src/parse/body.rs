//! The body into a [`Pipeline`].
//!
//! The body is followed the way a reader follows it: method chains rooted at the context
//! parameter or at a `let` binding of a stream, in source order. Calls on anything else
//! (closure parameters, iterators, strings) are not the pipeline and are left alone; closures
//! are not entered at all, so `|line| line.split(' ').map(..)` is never taken for an operator.
//!
//! What the macro cannot follow is still recorded, so that the rules hold where they can and
//! the plan says where they cannot: a stream made by a helper function (`parse(&lines)`) is a
//! node "built by `parse`"; a stream chosen by `if`/`else` or `match` is a branch node reading
//! each arm's stream; operators called in a loop are marked so, and a stream reassigned in a
//! loop is "built in a loop".

use std::collections::HashMap;

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::visit::{self, Visit};
use syn::{Block, Expr, ExprLit, ExprMethodCall, Ident, Lit, Local, Pat, Stmt, Token};

use super::durations::duration_constructor;
use crate::model::{Arg, CallId, Input, Node, NodeId, Pipeline, Tail, Vocabulary};
use crate::registry::{self, Category, Resolved, Shape};

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
        parser.bind(name.to_string(), Value::Context);
    }
    for (name, shape) in streams {
        let id = parser.push(Node::opaque(name.clone(), Input::Parameter, *shape));
        parser.bind(name.to_string(), Value::Stream(id));
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

impl Node {
    /// A node that is not a method call: a parameter, a helper's stream, a branch.
    fn opaque(name: Ident, input: Input, shape: Shape) -> Node {
        Node {
            name,
            input,
            other_inputs: Vec::new(),
            args: Vec::new(),
            exprs: Vec::new(),
            shape,
            on: shape,
            resolved: Resolved::Known,
            call: None,
            in_loop: false,
        }
    }
}

/// What an expression evaluates to, when it is part of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    Context,
    Stream(NodeId),
}

/// A name bound to the context or a stream, and the depth of the block that bound it.
#[derive(Clone, Copy)]
struct Binding {
    value: Value,
    depth: usize,
}

#[derive(Default)]
struct BodyParser {
    vocabulary: Vocabulary,
    bindings: HashMap<String, Binding>,
    /// How many blocks deep the walk is.
    depth: usize,
    pipeline: Pipeline,
    /// The value of the last expression statement walked.
    last_value: Option<Value>,
    /// How many loops the walk is in.
    loops: usize,
    /// Bindings given a new stream inside the current loops (`s = s.map(..)`).
    reassigned_in_loop: Vec<String>,
}

impl BodyParser {
    fn bind(&mut self, name: String, value: Value) {
        let depth = self.depth;
        self.bindings.insert(name, Binding { value, depth });
    }

    fn value_of(&self, name: &str) -> Option<Value> {
        self.bindings.get(name).map(|binding| binding.value)
    }

    fn push(&mut self, mut node: Node) -> NodeId {
        node.in_loop = self.loops > 0;
        self.pipeline.nodes.push(node);
        self.pipeline.nodes.len() - 1
    }

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
                self.bind(name.to_string(), value);
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
                .and_then(|ident| self.value_of(&ident.to_string())),
            Expr::Paren(inner) => self.expr(&inner.expr),
            Expr::Group(inner) => self.expr(&inner.expr),
            Expr::Reference(inner) => self.expr(&inner.expr),
            Expr::Try(inner) => self.expr(&inner.expr),
            Expr::MethodCall(call) => self.method_call(call),
            Expr::Call(call) => {
                let by = match &*call.func {
                    Expr::Path(path) => path.path.segments.last().map(|last| last.ident.clone()),
                    _ => None,
                };
                self.visit_expr(&call.func);
                self.helper(by, call.args.iter())
            }
            Expr::Block(block) => self.scoped(|parser| parser.statements(&block.block.stmts)),
            Expr::If(branch) if branch.else_branch.is_some() => {
                self.visit_expr(&branch.cond);
                let mut arms = vec![self.scoped(|parser| parser.statements(&branch.then_branch.stmts))];
                let mut rest = branch.else_branch.as_ref().map(|(_, rest)| &**rest);
                while let Some(next) = rest {
                    match next {
                        Expr::If(inner) => {
                            self.visit_expr(&inner.cond);
                            arms.push(self.scoped(|parser| parser.statements(&inner.then_branch.stmts)));
                            rest = inner.else_branch.as_ref().map(|(_, rest)| &**rest);
                        }
                        other => {
                            arms.push(self.expr(other));
                            rest = None;
                        }
                    }
                }
                self.branch(arms, syn::spanned::Spanned::span(&branch.if_token))
            }
            Expr::Match(choice) => {
                self.visit_expr(&choice.expr);
                let mut arms = Vec::with_capacity(choice.arms.len());
                for arm in &choice.arms {
                    if let Some((_, guard)) = &arm.guard {
                        self.visit_expr(guard);
                    }
                    arms.push(self.scoped(|parser| parser.expr(&arm.body)));
                }
                self.branch(arms, choice.match_token.span)
            }
            Expr::ForLoop(each) => {
                self.visit_expr(&each.expr);
                self.in_loop(|parser| parser.statements(&each.body.stmts));
                None
            }
            Expr::While(repeat) => {
                self.in_loop(|parser| {
                    parser.visit_expr(&repeat.cond);
                    parser.statements(&repeat.body.stmts)
                });
                None
            }
            Expr::Loop(repeat) => {
                self.in_loop(|parser| parser.statements(&repeat.body.stmts));
                None
            }
            Expr::Assign(assign) => {
                let value = self.expr(&assign.right);
                if let Expr::Path(path) = &*assign.left {
                    if let Some(name) = path.path.get_ident() {
                        let name = name.to_string();
                        if self.bindings.contains_key(&name) {
                            match value {
                                Some(value) => {
                                    if self.loops > 0 {
                                        self.reassigned_in_loop.push(name.clone());
                                    }
                                    if let Some(binding) = self.bindings.get_mut(&name) {
                                        binding.value = value;
                                    }
                                }
                                None => {
                                    self.bindings.remove(&name);
                                }
                            }
                            return None;
                        }
                    }
                }
                if value.is_some() {
                    self.pipeline.escapes = true;
                }
                self.visit_expr(&assign.left);
                None
            }
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

    /// The value of an `if`/`else` or `match` whose arms gave `arms`: the stream of the one arm
    /// that gives a stream, or a branch node reading each arm's stream.
    fn branch(&mut self, arms: Vec<Option<Value>>, span: Span) -> Option<Value> {
        let streams: Vec<NodeId> = arms
            .iter()
            .filter_map(|arm| match arm {
                Some(Value::Stream(id)) => Some(*id),
                _ => None,
            })
            .collect();
        match streams.as_slice() {
            [] => {
                if arms.contains(&Some(Value::Context)) {
                    self.pipeline.escapes = true;
                }
                None
            }
            [one] => Some(Value::Stream(*one)),
            [first, rest @ ..] => {
                let first_shape = self.pipeline.nodes[*first].shape;
                let shape = if rest
                    .iter()
                    .all(|id| self.pipeline.nodes[*id].shape == first_shape)
                {
                    first_shape
                } else {
                    Shape::Unknown
                };
                let mut node = Node::opaque(Ident::new("branch", span), Input::Branch, shape);
                node.other_inputs = streams;
                Some(Value::Stream(self.push(node)))
            }
        }
    }

    /// Walks a loop's body; a binding given a new stream in it is afterwards a stream "built
    /// in a loop" (the macro does not know how many times the loop ran).
    fn in_loop(&mut self, walk: impl FnOnce(&mut Self) -> Option<Value>) {
        let outer = std::mem::take(&mut self.reassigned_in_loop);
        self.loops += 1;
        self.scoped(walk);
        self.loops -= 1;
        let mut reassigned = std::mem::replace(&mut self.reassigned_in_loop, outer);
        reassigned.dedup();
        for name in reassigned {
            let Some(Value::Stream(last)) = self.value_of(&name) else {
                continue;
            };
            let shape = self.pipeline.nodes[last].shape;
            let mut node = Node::opaque(Ident::new("loop", Span::call_site()), Input::Built, shape);
            node.other_inputs = vec![last];
            let id = self.push(node);
            if let Some(binding) = self.bindings.get_mut(&name) {
                binding.value = Value::Stream(id);
            }
            if self.loops > 0 {
                self.reassigned_in_loop.push(name);
            }
        }
    }

    /// A call of a function or method the macro does not follow, with `by` its name: when it is
    /// handed the context or a stream, what it gives is taken for a stream "built by" it.
    fn helper<'a>(&mut self, by: Option<Ident>, args: impl Iterator<Item = &'a Expr>) -> Option<Value> {
        let mut handed = false;
        for arg in args {
            if self.expr(arg).is_some() {
                handed = true;
            }
        }
        if !handed {
            return None;
        }
        // The helper may add operators of its own, outputs included.
        self.pipeline.escapes = true;
        let by = by?;
        let shape = match self.vocabulary {
            Vocabulary::DStream => Shape::Stream,
            Vocabulary::Structured => Shape::Unknown,
        };
        Some(Value::Stream(self.push(Node::opaque(by, Input::Built, shape))))
    }

    fn method_call(&mut self, call: &ExprMethodCall) -> Option<Value> {
        let receiver = self.expr(&call.receiver);
        let input = match receiver {
            None => return self.helper(Some(call.method.clone()), call.args.iter()),
            Some(Value::Context) => Input::Context,
            Some(Value::Stream(id)) => Input::Stream(id),
        };
        if self.vocabulary == Vocabulary::Structured {
            return self.structured_call(call, input, receiver);
        }
        let name = call.method.to_string();
        let on_context = input == Input::Context;
        let resolved = registry::resolve(&name, on_context);
        if resolved == Resolved::Known {
            match registry::lookup(&name).map(|op| op.category) {
                Some(Category::Passthrough) => return receiver,
                Some(Category::Accessor) => {
                    for arg in &call.args {
                        self.visit_expr(arg);
                    }
                    return None;
                }
                Some(Category::Handoff) => {
                    self.pipeline.escapes = true;
                    for arg in &call.args {
                        self.visit_expr(arg);
                    }
                    return None;
                }
                _ => {}
            }
        }
        let node = self.node(call, input, Shape::Stream, Shape::Stream, resolved);
        let context_call =
            registry::lookup(&node.operator()).is_some_and(|op| op.category == Category::Context);
        if !on_context && resolved == Resolved::Known && context_call {
            // `stream.checkpoint(interval)`: the same stream; its interval is checked.
            self.pipeline.context_calls.push(node);
            return receiver;
        }
        if on_context && resolved == Resolved::Known && context_call {
            if call.method == "checkpoint" {
                self.pipeline.checkpoint_call = Some(call.method.span());
            }
            self.pipeline.context_calls.push(node);
            return None;
        }
        Some(Value::Stream(self.push(node)))
    }

    /// A call in a Structured Streaming job: what it gives depends on what it is called on.
    fn structured_call(
        &mut self,
        call: &ExprMethodCall,
        input: Input,
        receiver: Option<Value>,
    ) -> Option<Value> {
        let parent_shape = match input {
            Input::Stream(id) => self.pipeline.nodes[id].shape,
            Input::Context | Input::Parameter | Input::Built | Input::Branch => Shape::Session,
        };
        let name = call.method.to_string();
        // On a value the macro does not know (a helper's), the method tells what it is.
        let on = match parent_shape {
            Shape::Unknown => registry::shape_of_method(&name).unwrap_or(Shape::Unknown),
            shape => shape,
        };
        let resolved = registry::resolve_structured(&name, on);
        let method = match resolved {
            Resolved::Known => registry::structured(&name, on),
            Resolved::Misspelt(meant) => registry::structured(meant, on),
            Resolved::Misplaced | Resolved::User => None,
        };
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
        // A misspelt method goes on as the one it meant, so one typo does not make every
        // later call an error too.
        let gives = match (method, resolved) {
            (Some(m), _) => m.gives,
            (None, Resolved::Misplaced) => registry::misplaced_gives(&name, on),
            (None, _) => Shape::Unknown,
        };
        let node = self.node(call, input, on, gives, resolved);
        Some(Value::Stream(self.push(node)))
    }

    /// The node of an operator call, its arguments read.
    fn node(
        &mut self,
        call: &ExprMethodCall,
        input: Input,
        on: Shape,
        shape: Shape,
        resolved: Resolved,
    ) -> Node {
        let mut node = Node {
            name: call.method.clone(),
            input,
            other_inputs: Vec::new(),
            args: Vec::with_capacity(call.args.len()),
            exprs: call.args.iter().cloned().collect(),
            shape,
            on,
            resolved,
            call: Some(call_id(call)),
            in_loop: false,
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

    /// Runs `f` with the bindings restored afterwards (a nested block's `let`s end with it);
    /// outer bindings given a new stream inside (`s = s.map(..)`) keep it.
    fn scoped<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        let saved = self.bindings.clone();
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        let inner = std::mem::replace(&mut self.bindings, saved);
        for (name, binding) in &mut self.bindings {
            if let Some(now) = inner.get(name) {
                if now.depth == binding.depth {
                    binding.value = now.value;
                }
            }
        }
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

/// The identity of a method call of the parsed body (see [`CallId`]).
pub(crate) fn call_id(call: &ExprMethodCall) -> CallId {
    std::ptr::from_ref(call) as usize
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
    use crate::parse::stream_params;

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
        let item: syn::ItemFn = syn::parse_quote! {
            fn job(ssc: &StreamingContext, lines: DStream<String>, other: &streamflow::DStream<u8>, n: u32) {
                lines.map(|l| l.len()).print();
            }
        };
        let mut diags = crate::diagnostic::Diagnostics::default();
        let context = crate::parse::parse_signature(&item, Vocabulary::DStream, &mut diags);
        let streams = stream_params(&item, Vocabulary::DStream, &context);
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
}
