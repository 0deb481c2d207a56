//! `explain()`: the fused stages of a graph, as text.
//!
//! A stage is what runs as one pass per partition: it starts at a node that materializes its
//! output (a source, a shuffle, a window, a stateful or a persisted node) and takes in the
//! stateless operators that follow, up to the next such node or an output.

use super::{Graph, NodeKind};

/// Renders the stages of `graph`, one line per stage, in the order they were built.
pub(crate) fn explain(graph: &Graph, header: &str) -> String {
    let metas = &graph.metas;
    // stage_of[node] = index of the stage the node's work runs in.
    let mut stage_of: Vec<usize> = Vec::with_capacity(metas.len());
    let mut stages: Vec<Vec<String>> = Vec::new();
    for meta in metas {
        let fuses_into_parent =
            meta.kind == NodeKind::Stateless && meta.parents.len() == 1 && !metas[meta.parents[0]].memoizes();
        let stage = if fuses_into_parent {
            stage_of[meta.parents[0]]
        } else {
            stages.push(Vec::new());
            stages.len() - 1
        };
        let mut label = meta.name.clone();
        if !fuses_into_parent {
            let from: Vec<String> = meta
                .parents
                .iter()
                .map(|p| format!("stage {}", stage_of[*p] + 1))
                .collect();
            if !from.is_empty() {
                label = format!("{label} [reads {}]", from.join(", "));
            }
        }
        stages[stage].push(label);
        stage_of.push(stage);
    }
    for out in &graph.outputs {
        stages[stage_of[out.parent]].push(format!("{} (output)", out.run.name()));
    }
    let mut text = format!("{header}\n");
    for (i, ops) in stages.iter().enumerate() {
        text.push_str(&format!("stage {}: {}\n", i + 1, ops.join(" -> ")));
    }
    text
}
