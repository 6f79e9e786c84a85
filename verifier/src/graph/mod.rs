//! The graph engine: a petgraph over identity classes and outside address atoms.
//!
//! Nodes are [`IdentityClass`]es and [`AddressAtom`]s; an edge from `a` to
//! `b` carries the port atoms on which every pod of `a` may open a connection
//! to every pod (or address) of `b`. Edges are exact: for every pod pair and
//! port, [`Graph::allows`] equals `moat_ir::verdict(..).allowed`.

pub mod atoms;
pub mod bits;
pub mod classes;
mod decide;
pub mod dot;
pub mod query;
pub mod select;

use std::net::IpAddr;

use moat_ir::{Cluster, Direction, Flow, FlowEnd, Tier};
use petgraph::graph::{DiGraph, NodeIndex};

pub use atoms::{AddressAtom, PortAtom, PortAtoms};
pub use bits::Bits;
pub use classes::{Classes, IdentityClass};
use decide::Decider;
pub use decide::rules_apply;

/// A node of the connectivity graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Class(usize),
    /// Index into [`Graph::externals`].
    External(usize),
}

/// Whether each class is isolated in each direction by some policy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Isolation {
    pub ingress: bool,
    pub egress: bool,
}

/// The connectivity graph of one cluster.
pub struct Graph {
    pub classes: Classes,
    pub ports: PortAtoms,
    pub externals: Vec<AddressAtom>,
    /// Node `i < classes.len()` is class `i`; the rest are outside atoms in order.
    pub graph: DiGraph<Node, Bits>,
    pub isolation: Vec<Isolation>,
}

impl Graph {
    /// Builds the graph: classes, atoms, and one edge per pair with allowed ports.
    pub fn build(cluster: &Cluster) -> Self {
        let classes = Classes::build(cluster);
        let ports = PortAtoms::build(cluster);
        let externals = atoms::address_atoms(cluster);
        let (graph, isolation) = {
            let decider = Decider::new(cluster, &classes, &ports, &externals);
            (
                connect(&decider, &classes, &externals),
                isolation(cluster, &classes),
            )
        };
        Self {
            classes,
            ports,
            externals,
            graph,
            isolation,
        }
    }

    pub fn class_node(&self, class: usize) -> NodeIndex {
        NodeIndex::new(class)
    }

    pub fn external_node(&self, atom: usize) -> NodeIndex {
        NodeIndex::new(self.classes.len() + atom)
    }

    /// The node of a flow end: the pod's class, or the atom holding the address.
    pub fn node_of(&self, end: FlowEnd) -> Option<NodeIndex> {
        match end {
            FlowEnd::Pod(pod) => self
                .classes
                .class_of_pod
                .get(pod)
                .map(|&c| self.class_node(c)),
            FlowEnd::External(ip) => self.external_of(ip).map(|x| self.external_node(x)),
        }
    }

    pub fn external_of(&self, ip: IpAddr) -> Option<usize> {
        self.externals.iter().position(|a| a.contains(ip))
    }

    /// Port atoms allowed from one node to another.
    pub fn edge_ports(&self, from: NodeIndex, to: NodeIndex) -> Option<&Bits> {
        let edge = self.graph.find_edge(from, to)?;
        self.graph.edge_weight(edge)
    }

    /// Whether the flow is allowed; agrees with `moat_ir::verdict`.
    pub fn allows(&self, flow: &Flow) -> bool {
        let (Some(from), Some(to)) = (self.node_of(flow.src), self.node_of(flow.dst)) else {
            return false;
        };
        let Some(atom) = self.ports.atom_of(flow.protocol, flow.port) else {
            return false;
        };
        self.edge_ports(from, to)
            .is_some_and(|ports| ports.contains(atom))
    }
}

/// Adds one edge per node pair that allows at least one port atom.
fn connect(decider: &Decider, classes: &Classes, externals: &[AddressAtom]) -> DiGraph<Node, Bits> {
    let count = classes.len();
    let mut graph = DiGraph::with_capacity(count + externals.len(), 0);
    for c in 0..count {
        graph.add_node(Node::Class(c));
    }
    for x in 0..externals.len() {
        graph.add_node(Node::External(x));
    }
    let ingress: Vec<decide::Side> = (0..count)
        .map(|c| decider.side(c, Direction::Ingress))
        .collect();
    let all = decider.ports.all();

    for src in 0..count {
        let egress = decider.side(src, Direction::Egress);
        for peer in 0..egress_peers(&egress) {
            let allowed = egress.row(peer);
            let words: Vec<u64> = match ingress.get(peer) {
                Some(row) => allowed
                    .iter()
                    .zip(row.row(src))
                    .map(|(a, b)| a & b)
                    .collect(),
                None => allowed.to_vec(),
            };
            if words.iter().any(|w| *w != 0) {
                graph.add_edge(
                    NodeIndex::new(src),
                    NodeIndex::new(peer),
                    Bits::from_words(words),
                );
            }
        }
    }
    for (x, _) in externals.iter().enumerate() {
        let peer = count + x;
        for (dst, row) in ingress.iter().enumerate() {
            let words = row.row(peer);
            let ports = if words.is_empty() {
                all.clone()
            } else {
                Bits::from_words(words.to_vec())
            };
            if !ports.is_empty() {
                graph.add_edge(NodeIndex::new(peer), NodeIndex::new(dst), ports);
            }
        }
    }
    graph
}

fn egress_peers(side: &decide::Side) -> usize {
    side.allowed.len() / side.words.max(1)
}

/// A class is isolated in a direction when a NetworkPolicy isolates it, or an
/// admin or baseline policy selects it with rules for that direction.
fn isolation(cluster: &Cluster, classes: &Classes) -> Vec<Isolation> {
    classes
        .classes
        .iter()
        .map(|class| {
            let Some(pod) = cluster.pods.get(class.representative()) else {
                return Isolation::default();
            };
            let mut out = Isolation::default();
            for policy in &cluster.policies {
                if !moat_ir::eval::subject_selects(cluster, policy, pod) {
                    continue;
                }
                let covers = |direction: Direction| match policy.tier {
                    Tier::Namespaced => policy.isolates(direction),
                    Tier::Admin | Tier::Baseline => {
                        policy.rules.iter().any(|r| r.direction == direction)
                    }
                };
                out.ingress |= covers(Direction::Ingress);
                out.egress |= covers(Direction::Egress);
            }
            out
        })
        .collect()
}
