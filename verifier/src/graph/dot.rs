//! Graphviz DOT output of reachability results.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use petgraph::graph::NodeIndex;

use super::Graph;
use super::query::Reached;

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A digraph of the sources, what they reach and the shortest-path edges.
pub fn render(graph: &Graph, sources: &[NodeIndex], reached: &[Reached]) -> String {
    let mut out = String::from(
        "digraph moat {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    for &source in sources {
        let _ = writeln!(
            out,
            "  {} [style=bold];",
            quote(&graph.describe_node(source))
        );
    }
    let mut edges = BTreeSet::new();
    for target in reached {
        for hop in &target.path {
            edges.insert((hop.from.clone(), hop.to.clone(), hop.ports.clone()));
        }
    }
    for (from, to, ports) in edges {
        let _ = writeln!(
            out,
            "  {} -> {} [label={}];",
            quote(&from),
            quote(&to),
            quote(&ports)
        );
    }
    out.push_str("}\n");
    out
}
