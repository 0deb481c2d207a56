//! Fusion: runs of stateless operators become one stage, a single pass over each partition.
//!
//! A stage starts at a source, at an operator that needs the whole batch or several batches
//! (shuffles, windows, state), at an operator that reads several streams (`union`), and after a
//! fan-out (a stream read by more than one operator). Stateless operators and outputs join the
//! stage of the stream they read. This mirrors how Spark cuts stages at shuffle boundaries.

use std::fmt;

use crate::model::{Input, NodeId, Pipeline};
use crate::registry::{self, Category};

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
}

/// Groups the pipeline's operators into stages.
pub(crate) fn fuse(pipeline: &Pipeline) -> Plan {
    let mut plan = Plan {
        stages: Vec::new(),
        partial: pipeline.escapes,
    };
    let mut stage_of: Vec<usize> = Vec::with_capacity(pipeline.nodes.len());
    // The last node of each stage so far: only there can a stage go on.
    let mut tail_of: Vec<NodeId> = Vec::new();
    for (id, node) in pipeline.nodes.iter().enumerate() {
        // Unknown operators were reported; show them as if stateless.
        let category = registry::lookup(&node.name.to_string()).map_or(Category::Stateless, |op| op.category);
        let joins = match node.input {
            Input::Stream(parent) => {
                let fusable = matches!(
                    category,
                    Category::Stateless | Category::Sink | Category::Passthrough
                );
                let stage = stage_of[parent];
                (fusable
                    && node.other_inputs.is_empty()
                    && tail_of[stage] == parent
                    && pipeline.consumers(parent) == 1)
                    .then_some(stage)
            }
            Input::Context | Input::Parameter => None,
        };
        let stage = match joins {
            Some(stage) => stage,
            None => {
                let mut inputs: Vec<usize> = match node.input {
                    Input::Stream(parent) => vec![stage_of[parent]],
                    Input::Context | Input::Parameter => Vec::new(),
                };
                for other in &node.other_inputs {
                    if !inputs.contains(&stage_of[*other]) {
                        inputs.push(stage_of[*other]);
                    }
                }
                plan.stages.push(Stage {
                    operators: Vec::new(),
                    inputs,
                });
                tail_of.push(id);
                plan.stages.len() - 1
            }
        };
        plan.stages[stage].operators.push(node.name.to_string());
        tail_of[stage] = id;
        stage_of.push(stage);
    }
    plan
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
                write!(f, " (reads {noun} {})", numbers.join(", "))?;
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
    use crate::parse::parse_body;

    fn plan(block: syn::Block) -> String {
        fuse(&parse_body(&block, Some(&syn::parse_quote!(ssc)), &[])).to_string()
    }

    #[test]
    fn word_count_fuses_into_two_stages() {
        let plan = plan(syn::parse_quote!({
            ssc.socket_text_stream(host, port)
                .flat_map(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
                .map(|word| (word, 1))
                .reduce_by_key(|a, b| a + b)
                .print();
        }));
        assert_eq!(
            plan,
            "stage 1: socket_text_stream → flat_map → map\nstage 2: reduce_by_key → print"
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
            "stage 1: socket_text_stream → map\n\
             stage 2: reduce_by_key_and_window → filter\n\
             stage 3: update_state_by_key → print"
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
            "stage 1: socket_text_stream → map\n\
             stage 2: filter\n\
             stage 3: filter → map (reads stage 1)\n\
             stage 4: union → print (reads stages 2, 3)"
        );
    }

    #[test]
    fn a_stream_parameter_starts_a_stage_like_a_source() {
        let block: syn::Block = syn::parse_quote!({
            lines.map(|l| (l, 1)).reduce_by_key(|a, b| a + b).print();
        });
        let pipeline = parse_body(&block, Some(&syn::parse_quote!(ssc)), &[syn::parse_quote!(lines)]);
        assert_eq!(
            fuse(&pipeline).to_string(),
            "stage 1: lines → map\nstage 2: reduce_by_key → print"
        );
    }

    #[test]
    fn clone_is_not_an_operator() {
        let plan = plan(syn::parse_quote!({
            let lines = ssc.socket_text_stream("h", 1);
            lines.clone().map(|l| l.len()).print();
        }));
        assert_eq!(plan, "stage 1: socket_text_stream → map → print");
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
            "stage 1: socket_text_stream → map\n(and operators added by code the macro cannot see)"
        );
    }
}
