//! Fusion: runs of stateless operators become one stage, a single pass over each partition.
//!
//! The rules are the runtime's (`streamflow/src/graph/explain.rs`), so that `job_plan()` and
//! the runtime's `explain()` cut a job into the same stages:
//!
//! - a node that keeps (memoizes) its batch ends the pass that made it, and whoever reads it
//!   starts a new stage: a source (it is generated once per batch and stored), a stateful or
//!   incremental-window operator, a `persist`ed stream, and a stream read by more than one
//!   operator (fan-out);
//! - an operator that needs the whole batch or several batches (shuffles, windows, state) or
//!   several streams (`union`) starts a stage;
//! - a stateless operator joins the stage of the stream it reads, unless that stream is kept;
//! - an output joins the stage of the stream it reads, always — even when other operators read
//!   that stream too, since it is the pass that made the stream that feeds the output.
//!
//! Where the runtime builds one operator from several nodes, the plan still shows the one
//! operator the user wrote: see "The plan" in the crate docs.

use std::fmt;

use crate::model::{Input, Node, NodeId, Pipeline, Tail};
use crate::registry::{self, Category, Kind, Resolved};

/// The fused stages of a pipeline, in source order.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) stages: Vec<Stage>,
    /// Whether streams were handed to code the macro cannot see, which may add more.
    pub(crate) partial: bool,
}

/// One fused stage: operators that run as one pass.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Stage {
    /// Operator names, in order.
    pub(crate) operators: Vec<String>,
    /// The stages whose output this stage reads (indices into [`Plan::stages`]).
    pub(crate) inputs: Vec<usize>,
    /// Whether it reads one of its inputs, chosen by an `if`/`else` or a `match`.
    pub(crate) either: bool,
}

/// How one operator takes part in the plan.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Starts a stage (source, shuffle, window, state, fan-in).
    Starts,
    /// Joins the stage of the stream it reads, unless that stream is kept.
    Fuses,
    /// An output: joins the stage of the stream it reads.
    Output,
}

/// Groups the operators of a DStream job into stages.
pub(crate) fn fuse(pipeline: &Pipeline) -> Plan {
    let roles: Vec<Role> = pipeline.nodes.iter().map(dstream_role).collect();
    let keeps: Vec<bool> = (0..pipeline.nodes.len())
        .map(|id| dstream_keeps(pipeline, id))
        .collect();
    let graph: Vec<Option<GraphNode>> = pipeline
        .nodes
        .iter()
        .enumerate()
        .map(|(id, node)| {
            // A helper that gave nothing the body uses is only in the footer.
            if node.input == Input::Built && pipeline.consumers(id) == 0 {
                return None;
            }
            let mut parents = Vec::new();
            if let Input::Stream(parent) = node.input {
                parents.push(parent);
            }
            parents.extend(node.other_inputs.iter().copied());
            Some(GraphNode {
                label: label(node, node.operator()),
                parents,
                role: roles[id],
                keeps: keeps[id],
                either: node.input == Input::Branch,
            })
        })
        .collect();
    let mut plan = cut(&graph);
    plan.partial = pipeline.escapes;
    plan
}

/// How the plan names a node: the operator (`map`), what made a stream the macro cannot
/// follow (`built by `parse``), nothing for a branch (its stage says what it reads); and
/// `(in a loop)` after an operator called in a loop.
fn label(node: &Node, operator: String) -> String {
    let label = match node.input {
        // The stream a loop left in a binding: its operators are marked `(in a loop)`.
        Input::Built if is_loop(node) => String::new(),
        Input::Built => format!("built by `{}`", node.name),
        Input::Branch => String::new(),
        _ => operator,
    };
    if node.in_loop && !label.is_empty() {
        format!("{label} (in a loop)")
    } else {
        label
    }
}

/// Whether a node is the stream a loop left in a binding (see `parse/body.rs`).
fn is_loop(node: &Node) -> bool {
    node.input == Input::Built && node.name == "loop"
}

fn dstream_role(node: &Node) -> Role {
    // The user's own methods are shown as if stateless.
    let category = if node.is_operator() {
        registry::lookup(&node.operator()).map_or(Category::Stateless, |op| op.category)
    } else {
        Category::Stateless
    };
    match (node.input, category) {
        (Input::Built, _) if is_loop(node) => Role::Fuses,
        (Input::Context | Input::Parameter | Input::Built | Input::Branch, _) => Role::Starts,
        (_, Category::Sink) => Role::Output,
        (_, Category::Stateless | Category::Passthrough) if node.other_inputs.is_empty() => Role::Fuses,
        _ => Role::Starts,
    }
}

/// Whether the runtime keeps this node's batches, so that its readers start new stages.
fn dstream_keeps(pipeline: &Pipeline, id: NodeId) -> bool {
    let node = &pipeline.nodes[id];
    let operator = registry::lookup(&node.operator()).filter(|_| node.is_operator());
    matches!(node.input, Input::Parameter | Input::Built) && !is_loop(node)
        || operator.is_some_and(|op| {
            op.category == Category::Source
                || op.needs_checkpoint.is_some()
                || matches!(op.name, "persist" | "cache")
        })
        || pipeline.consumers(id) > 1
}

/// The plan of a Structured Streaming query: the nodes the runtime's planner builds for the
/// body's writer — sources, per-record operators, `with_watermark`, `union`, aggregations —
/// and the sink as its output. Reader options, `group_by`, `write_stream` and writer settings
/// are not nodes.
pub(crate) fn fuse_structured(pipeline: &Pipeline) -> Plan {
    let nodes = &pipeline.nodes;
    // Only what the started writer reads is planned (each query plans its own lineage).
    let mut wanted = vec![false; nodes.len()];
    match pipeline.tail {
        Tail::Node(id) | Tail::Discarded(id, _) => mark_lineage(pipeline, id, &mut wanted),
        Tail::Missing | Tail::Other => wanted.iter_mut().for_each(|w| *w = true),
    }
    // The graph node (or nothing) each pipeline node stands for.
    let mut graph: Vec<Option<GraphNode>> = Vec::with_capacity(nodes.len());
    // For a node that is not a graph node, the graph node its value comes from.
    let mut from: Vec<Option<NodeId>> = Vec::with_capacity(nodes.len());
    for (id, node) in nodes.iter().enumerate() {
        let parent_graph = match node.input {
            Input::Stream(parent) => from[parent],
            Input::Context | Input::Parameter | Input::Built | Input::Branch => None,
        };
        let kind = node_kind(pipeline, id);
        let made = match (node.input, kind) {
            _ if !wanted[id] => None,
            (Input::Built, _) if is_loop(node) => Some((String::new(), Role::Fuses)),
            (Input::Parameter | Input::Built | Input::Branch, _) => {
                Some((label(node, String::new()), Role::Starts))
            }
            (Input::Stream(_), None) if node.resolved == Resolved::User => {
                Some((label(node, node.name.to_string()), Role::Fuses))
            }
            (_, Some(Kind::Source(name))) => Some((name.to_owned(), Role::Starts)),
            (_, Some(Kind::Stateless | Kind::Retyping | Kind::Watermark | Kind::StaticJoin)) => {
                Some((label(node, node.operator()), Role::Fuses))
            }
            (_, Some(Kind::Union)) => Some((label(node, "union".to_owned()), Role::Starts)),
            (_, Some(Kind::GroupsWithState)) => Some((label(node, node.operator()), Role::Starts)),
            (_, Some(Kind::Deduplicate | Kind::Join(_))) => {
                Some((label(node, format!("{}(..)", node.operator())), Role::Starts))
            }
            (Input::Stream(parent), Some(Kind::Aggregation(column))) => {
                let group = nodes[parent].operator();
                Some((label(node, format!("{group}(..).{column}()")), Role::Starts))
            }
            (_, Some(Kind::Sink(_))) => Some((label(node, node.operator()), Role::Output)),
            _ => None,
        };
        match made {
            Some((label, role)) => {
                let mut parents: Vec<NodeId> = parent_graph.into_iter().collect();
                parents.extend(node.other_inputs.iter().filter_map(|other| from[*other]));
                graph.push(Some(GraphNode {
                    label,
                    parents,
                    role,
                    keeps: false,
                    either: node.input == Input::Branch,
                }));
                // A sink is the query's output; what follows on the writer still reads the
                // dataset, not the sink.
                from.push(if role == Role::Output {
                    parent_graph
                } else {
                    Some(id)
                });
            }
            None => {
                graph.push(None);
                from.push(parent_graph);
            }
        }
    }
    // The runtime keeps sources' and aggregations' batches, and those read more than once.
    for id in 0..graph.len() {
        if graph[id].is_none() {
            continue;
        }
        let kind = node_kind(pipeline, id);
        let readers = graph
            .iter()
            .flatten()
            .map(|other| other.parents.iter().filter(|p| **p == id).count())
            .sum::<usize>();
        let keeps = matches!(kind, Some(Kind::Source(_) | Kind::Aggregation(_)))
            || (matches!(nodes[id].input, Input::Parameter | Input::Built) && !is_loop(&nodes[id]))
            || readers > 1;
        if let Some(node) = &mut graph[id] {
            node.keeps = keeps;
        }
    }
    let mut plan = cut(&graph);
    plan.partial = pipeline.escapes;
    plan
}

fn node_kind(pipeline: &Pipeline, id: NodeId) -> Option<Kind> {
    let node = &pipeline.nodes[id];
    if !node.is_operator() {
        return None;
    }
    registry::structured(&node.operator(), node.on).map(|m| m.kind)
}

fn mark_lineage(pipeline: &Pipeline, id: NodeId, wanted: &mut [bool]) {
    if wanted[id] {
        return;
    }
    wanted[id] = true;
    let node = &pipeline.nodes[id];
    if let Input::Stream(parent) = node.input {
        mark_lineage(pipeline, parent, wanted);
    }
    for other in &node.other_inputs {
        mark_lineage(pipeline, *other, wanted);
    }
}

/// A node of the runtime's graph, as the plan sees it.
struct GraphNode {
    label: String,
    /// Graph nodes it reads (indices into the same list).
    parents: Vec<NodeId>,
    role: Role,
    /// Whether the runtime keeps its batches, ending the pass that made them.
    keeps: bool,
    /// A branch: it reads one of its parents, not all.
    either: bool,
}

/// Cuts graph nodes (`None`: not a node) into stages, with the rules in the module docs.
fn cut(graph: &[Option<GraphNode>]) -> Plan {
    let mut plan = Plan::default();
    let mut stage_of: Vec<Option<usize>> = Vec::with_capacity(graph.len());
    for node in graph {
        let Some(node) = node else {
            stage_of.push(None);
            continue;
        };
        let parent_stage = match node.parents.as_slice() {
            [parent] => stage_of[*parent].map(|stage| (stage, *parent)),
            _ => None,
        };
        let joins = match (node.role, parent_stage) {
            (Role::Output, Some((stage, _))) => Some(stage),
            (Role::Fuses, Some((stage, parent))) if !graph[parent].as_ref().is_some_and(|p| p.keeps) => {
                Some(stage)
            }
            _ => None,
        };
        let stage = match joins {
            Some(stage) => stage,
            None => {
                let mut inputs = Vec::new();
                for parent in &node.parents {
                    if let Some(stage) = stage_of[*parent] {
                        if !inputs.contains(&stage) {
                            inputs.push(stage);
                        }
                    }
                }
                plan.stages.push(Stage {
                    operators: Vec::new(),
                    inputs,
                    either: node.either,
                });
                plan.stages.len() - 1
            }
        };
        if !node.label.is_empty() {
            plan.stages[stage].operators.push(node.label.clone());
        }
        stage_of.push(Some(stage));
    }
    without_empty_stages(plan)
}

/// The plan without stages that hold no operator (a branch nothing follows): a stage that read
/// one reads what it read, and the others are numbered again.
fn without_empty_stages(plan: Plan) -> Plan {
    let mut kept: Vec<Stage> = Vec::with_capacity(plan.stages.len());
    // For each stage of `plan`, where it went: `Ok(index in kept)`, or `Err(what it read)`.
    let mut moved: Vec<Result<usize, (Vec<usize>, bool)>> = Vec::with_capacity(plan.stages.len());
    for stage in plan.stages {
        let mut inputs = Vec::new();
        let mut either = stage.either;
        for input in &stage.inputs {
            match &moved[*input] {
                Ok(index) => inputs.push(*index),
                Err((read, was_either)) => {
                    inputs.extend(read.iter().copied());
                    either |= *was_either;
                }
            }
        }
        if stage.operators.is_empty() {
            moved.push(Err((inputs, either)));
        } else {
            kept.push(Stage {
                operators: stage.operators,
                inputs,
                either,
            });
            moved.push(Ok(kept.len() - 1));
        }
    }
    Plan {
        stages: kept,
        partial: plan.partial,
    }
}

impl fmt::Display for Plan {
    /// One line per stage: `stage 2: reduce_by_key → print`. A stage that reads anything but
    /// the stage just before it says so: `stage 4: union → print (reads stages 2, 3)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, stage) in self.stages.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "stage {}: {}", index + 1, stage.operators.join(" → "))?;
            let reads_previous = index > 0 && stage.inputs == [index - 1];
            if !stage.inputs.is_empty() && !reads_previous {
                let numbers: Vec<String> = stage.inputs.iter().map(|input| (input + 1).to_string()).collect();
                let noun = if numbers.len() == 1 { "stage" } else { "stages" };
                let list = match numbers.split_last() {
                    Some((last, rest)) if stage.either && !rest.is_empty() => {
                        format!("{} or {last}", rest.join(", "))
                    }
                    _ => numbers.join(", "),
                };
                let noun = if stage.either { "stage" } else { noun };
                write!(f, " (reads {noun} {list})")?;
            }
        }
        if self.partial {
            if !self.stages.is_empty() {
                writeln!(f)?;
            }
            write!(f, "(and operators added by code the macro cannot see)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Vocabulary;
    use crate::parse::parse_body;

    fn plan(block: syn::Block) -> String {
        fuse(&parse_body(
            &block,
            Some(&syn::parse_quote!(ssc)),
            &[],
            Vocabulary::DStream,
        ))
        .to_string()
    }

    #[test]
    fn word_count_is_a_source_then_two_passes() {
        let plan = plan(syn::parse_quote!({
            ssc.socket_text_stream(host, port)
                .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
                .map(|word| (word, 1))
                .reduce_by_key(|a, b| a + b)
                .print();
        }));
        assert_eq!(
            plan,
            "stage 1: socket_text_stream\nstage 2: flat_map → map\nstage 3: reduce_by_key → print"
        );
    }

    #[test]
    fn windows_and_state_start_stages() {
        let plan = plan(syn::parse_quote!({
            ssc.socket_text_stream(host, port)
                .map(|word| (word, 1))
                .reduce_by_key_and_window(|a, b| a + b, "30s", "10s")
                .filter(|(_, n)| *n > 1)
                .update_state_by_key(f)
                .print();
        }));
        assert_eq!(
            plan,
            "stage 1: socket_text_stream\n\
             stage 2: map\n\
             stage 3: reduce_by_key_and_window → filter\n\
             stage 4: update_state_by_key → print"
        );
    }

    #[test]
    fn fan_out_and_fan_in_cut_stages() {
        let plan = plan(syn::parse_quote!({
            let lines = ssc.socket_text_stream("h", 1).map(|l| l.to_lowercase());
            let errors = lines.filter(|l| l.contains("error"));
            let warnings = lines.filter(|l| l.contains("warn")).map(|l| l.len().to_string());
            errors.union(&warnings).print();
        }));
        assert_eq!(
            plan,
            "stage 1: socket_text_stream\n\
             stage 2: map\n\
             stage 3: filter\n\
             stage 4: filter → map (reads stage 2)\n\
             stage 5: union → print (reads stages 3, 4)"
        );
    }

    #[test]
    fn a_stream_parameter_starts_a_stage_like_a_source() {
        let block: syn::Block = syn::parse_quote!({
            lines.map(|l| (l, 1)).reduce_by_key(|a, b| a + b).print();
        });
        let pipeline = parse_body(
            &block,
            Some(&syn::parse_quote!(ssc)),
            &[(syn::parse_quote!(lines), crate::registry::Shape::Stream)],
            Vocabulary::DStream,
        );
        assert_eq!(
            fuse(&pipeline).to_string(),
            "stage 1: lines\nstage 2: map\nstage 3: reduce_by_key → print"
        );
    }

    #[test]
    fn clone_is_not_an_operator() {
        let plan = plan(syn::parse_quote!({
            let lines = ssc.socket_text_stream("h", 1);
            lines.clone().map(|l| l.len()).print();
        }));
        assert_eq!(plan, "stage 1: socket_text_stream\nstage 2: map → print");
    }

    #[test]
    fn a_clone_of_the_context_is_the_context() {
        let plan = plan(syn::parse_quote!({
            let stopper = ssc.clone();
            let again = stopper.clone();
            again
                .socket_text_stream("h", 1)
                .foreach_batch(move |_, _| stopper.stop(false));
        }));
        assert_eq!(plan, "stage 1: socket_text_stream → foreach_batch");
    }

    #[test]
    fn a_structured_session_is_code_the_macro_cannot_see() {
        let plan = plan(syn::parse_quote!({
            let lines = ssc.socket_text_stream("h", 1);
            let session = ssc.session();
            lines.print();
            let _ = session;
        }));
        assert_eq!(
            plan,
            "stage 1: socket_text_stream → print\n(and operators added by code the macro cannot see)"
        );
    }

    #[test]
    fn code_the_macro_cannot_see_is_mentioned() {
        let plan = plan(syn::parse_quote!({
            let lines = ssc.socket_text_stream("h", 1).map(|l| l.len());
            write_to_database(lines);
        }));
        assert_eq!(
            plan,
            "stage 1: socket_text_stream\nstage 2: map\n(and operators added by code the macro cannot see)"
        );
    }

    #[test]
    fn kept_streams_end_a_pass_and_outputs_join_the_stream_they_read() {
        let plan = plan(syn::parse_quote!({
            let counts = ssc
                .socket_text_stream("h", 1)
                .map(|w| (w, 1))
                .reduce_by_key(|a, b| a + b);
            counts.print();
            counts.save_as_text_files("out", "txt");
            counts.filter(|(_, n)| *n > 1).print();
            let totals = counts.update_state_by_key(f);
            totals.map(|(w, n)| format!("{w}={n}")).print();
            counts.persist().map(|x| x).print();
        }));
        assert_eq!(
            plan,
            "stage 1: socket_text_stream\n\
             stage 2: map\n\
             stage 3: reduce_by_key → print → save_as_text_files\n\
             stage 4: filter → print\n\
             stage 5: update_state_by_key (reads stage 3)\n\
             stage 6: map → print\n\
             stage 7: persist (reads stage 3)\n\
             stage 8: map → print"
        );
    }

    #[test]
    fn transform_sees_the_whole_batch_so_it_starts_a_stage() {
        let plan = plan(syn::parse_quote!({
            ssc.queue_stream(q, true, None)
                .transform(|b, _| b)
                .map(|x| x)
                .print();
        }));
        assert_eq!(plan, "stage 1: queue_stream\nstage 2: transform → map → print");
    }

    #[test]
    fn a_helper_stream_is_said_to_be_built_by_it() {
        let plan = plan(syn::parse_quote!({
            pairs(ssc)
                .reduce_by_key_and_window(|a, b| a + b, "30s", "10s")
                .print();
            register_more(ssc);
        }));
        assert_eq!(
            plan,
            "stage 1: built by `pairs`\n\
             stage 2: reduce_by_key_and_window → print\n\
             (and operators added by code the macro cannot see)"
        );
    }

    #[test]
    fn an_if_else_reads_one_of_its_arms() {
        let plan = plan(syn::parse_quote!({
            let lines = ssc.socket_text_stream("h", 1);
            let words = if lowercase {
                lines.map(|l| l.to_lowercase())
            } else {
                lines.filter(|l| !l.is_empty())
            };
            words.map(|w| (w, 1)).reduce_by_key(|a, b| a + b).print();
        }));
        assert_eq!(
            plan,
            "stage 1: socket_text_stream\n\
             stage 2: map\n\
             stage 3: filter (reads stage 1)\n\
             stage 4: map (reads stage 2 or 3)\n\
             stage 5: reduce_by_key → print"
        );
    }

    #[test]
    fn operators_in_a_loop_say_so() {
        let plan = plan(syn::parse_quote!({
            let lines = ssc.socket_text_stream("h", 1);
            let mut words = lines.map(|l| l.to_lowercase());
            for stop in stopwords {
                words = words.filter(move |w| *w != stop);
            }
            words.count().print();
            for limit in limits {
                lines.filter(move |l| l.len() > limit).print();
            }
        }));
        assert_eq!(
            plan,
            "stage 1: socket_text_stream\n\
             stage 2: map → filter (in a loop)\n\
             stage 3: count → print\n\
             stage 4: filter (in a loop) → print (in a loop) (reads stage 1)"
        );
    }

    fn query(block: syn::Block) -> String {
        fuse_structured(&parse_body(
            &block,
            Some(&syn::parse_quote!(session)),
            &[],
            Vocabulary::Structured,
        ))
        .to_string()
    }

    #[test]
    fn a_query_is_cut_like_the_runtime_cuts_it() {
        let plan = query(syn::parse_quote!({
            session
                .read_stream::<Word>()
                .socket(host, port)
                .with_watermark(|w| w.ts, "10 minutes")
                .group_by_window(|w| w.word.clone(), window("10 minutes", "5 minutes"))
                .count()
                .write_stream()
                .console()
        }));
        assert_eq!(
            plan,
            "stage 1: socket_source\n\
             stage 2: with_watermark\n\
             stage 3: group_by_window(..).count() → console"
        );
    }

    #[test]
    fn a_query_plans_only_what_its_writer_reads() {
        let plan = query(syn::parse_quote!({
            let reader = session.read_stream::<Event>().format(Format::Csv);
            let events = reader.files(dir).filter(|e| e.ok);
            let unused = events.map(|e| e.user);
            let other = session.read_stream::<Event>().memory(&input);
            events
                .union(&other)
                .map(|e| e.user)
                .write_stream()
                .output_mode(OutputMode::Append)
                .memory("users")
                .query_name("users")
        }));
        assert_eq!(
            plan,
            "stage 1: file_source\n\
             stage 2: filter\n\
             stage 3: memory_stream\n\
             stage 4: union → map → memory (reads stages 2, 3)"
        );
    }
}
