//! Questions answered on the graph: multi-hop reach with shortest paths, exposure to outside.

use std::collections::VecDeque;

use petgraph::Direction as EdgeDirection;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use serde::Serialize;

use super::{Bits, Graph, Node};

/// One edge of a path and the ports it allows.
#[derive(Debug, Clone, Serialize)]
pub struct Hop {
    pub from: String,
    pub to: String,
    pub ports: String,
}

/// A node reached from the sources, with one shortest path to it.
#[derive(Debug, Clone, Serialize)]
pub struct Reached {
    #[serde(skip)]
    pub node: NodeIndex,
    pub target: String,
    pub hops: usize,
    pub path: Vec<Hop>,
}

impl Graph {
    /// `ns/{labels}` for a class, the CIDRs for an outside atom.
    pub fn describe_node(&self, node: NodeIndex) -> String {
        match self.graph.node_weight(node) {
            Some(Node::Class(c)) => self
                .classes
                .classes
                .get(*c)
                .map_or_else(String::new, |c| c.describe()),
            Some(Node::External(x)) => self
                .externals
                .get(*x)
                .map_or_else(String::new, |a| format!("outside {a}")),
            None => String::new(),
        }
    }

    /// Every node reachable from `sources` in 1 to `max_hops` edges, each with
    /// a shortest path. Paths continue only through classes, never through
    /// outside addresses. `ports` restricts which edges count (`None`: any port).
    pub fn reach(
        &self,
        sources: &[NodeIndex],
        max_hops: usize,
        ports: Option<&Bits>,
    ) -> Vec<Reached> {
        let (order, distance, previous) = self.reach_nodes(sources, max_hops, ports);
        order
            .into_iter()
            .map(|node| self.reached(node, &distance, &previous))
            .collect()
    }

    /// The breadth-first search behind [`Graph::reach`]: nodes in the order
    /// reached, the hop count of each node, and the predecessor on a shortest path.
    #[allow(
        clippy::type_complexity,
        reason = "three parallel results of one search"
    )]
    pub fn reach_nodes(
        &self,
        sources: &[NodeIndex],
        max_hops: usize,
        ports: Option<&Bits>,
    ) -> (Vec<NodeIndex>, Vec<Option<usize>>, Vec<Option<NodeIndex>>) {
        let count = self.graph.node_count();
        let mut previous: Vec<Option<NodeIndex>> = vec![None; count];
        let mut distance: Vec<Option<usize>> = vec![None; count];
        let mut queue: VecDeque<(NodeIndex, usize)> = sources.iter().map(|&s| (s, 0)).collect();
        let mut order = Vec::new();
        while let Some((node, hops)) = queue.pop_front() {
            if hops >= max_hops {
                continue;
            }
            let is_source = hops == 0;
            let passes = matches!(self.graph.node_weight(node), Some(Node::Class(_)));
            if !is_source && !passes {
                continue;
            }
            for edge in self.graph.edges_directed(node, EdgeDirection::Outgoing) {
                if ports.is_some_and(|p| p.and(edge.weight()).is_empty()) {
                    continue;
                }
                let next = edge.target();
                let Some(slot) = distance.get_mut(next.index()) else {
                    continue;
                };
                if slot.is_some() {
                    continue;
                }
                *slot = Some(hops + 1);
                if let Some(prev) = previous.get_mut(next.index()) {
                    *prev = Some(node);
                }
                order.push(next);
                queue.push_back((next, hops + 1));
            }
        }
        (order, distance, previous)
    }

    fn reached(
        &self,
        node: NodeIndex,
        distance: &[Option<usize>],
        previous: &[Option<NodeIndex>],
    ) -> Reached {
        let mut path = Vec::new();
        let mut current = node;
        let hops = distance.get(node.index()).copied().flatten().unwrap_or(0);
        for _ in 0..hops {
            let Some(&Some(prev)) = previous.get(current.index()) else {
                break;
            };
            let ports = self
                .edge_ports(prev, current)
                .map_or_else(String::new, |p| self.ports.describe(p));
            path.push(Hop {
                from: self.describe_node(prev),
                to: self.describe_node(current),
                ports,
            });
            current = prev;
        }
        path.reverse();
        Reached {
            node,
            target: self.describe_node(node),
            hops,
            path,
        }
    }

    /// Classes that some outside address may connect to, with the union of those ports.
    pub fn exposed_to_outside(&self) -> Vec<(usize, Bits)> {
        let mut out = Vec::new();
        for (c, _) in self.classes.classes.iter().enumerate() {
            let mut ports = Bits::empty(self.ports.len());
            for x in 0..self.externals.len() {
                if let Some(p) = self.edge_ports(self.external_node(x), self.class_node(c)) {
                    ports.union_with(p);
                }
            }
            if !ports.is_empty() {
                out.push((c, ports));
            }
        }
        out
    }
}
