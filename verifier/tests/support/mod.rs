//! Test helpers shared by the engine agreement tests: exhaustive comparison
//! with the evaluator and a generator of random clusters.

#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    reason = "test support code may abort on bad fixtures"
)]

pub mod random;

use std::net::IpAddr;

use moat_ir::{Cluster, Flow, FlowEnd, verdict};
use moat_verifier::graph::Graph;

/// Every flow end worth probing: each pod, and one outside address per atom.
pub fn ends(cluster: &Cluster, graph: &Graph) -> Vec<FlowEnd> {
    let mut ends: Vec<FlowEnd> = (0..cluster.pods.len()).map(FlowEnd::Pod).collect();
    for atom in &graph.externals {
        let ip = atom.first();
        if cluster.pod_by_ip(ip).is_none() {
            ends.push(FlowEnd::External(ip));
        }
    }
    ends.push(FlowEnd::External(IpAddr::from([8, 8, 8, 8])));
    ends
}

/// Probe ports: the first and last port of every atom.
pub fn probes(graph: &Graph) -> Vec<(moat_ir::Protocol, u16)> {
    let mut out = Vec::new();
    for atom in &graph.ports.atoms {
        out.push((atom.protocol, atom.start));
        if atom.end != atom.start {
            out.push((atom.protocol, atom.end));
        }
    }
    out
}

/// Asserts that the graph and the evaluator agree on every end pair and
/// probe port; returns the number of flows compared.
pub fn assert_graph_agrees(cluster: &Cluster, name: &str) -> usize {
    let graph = Graph::build(cluster);
    let ends = ends(cluster, &graph);
    let probes = probes(&graph);
    let mut count = 0;
    for &src in &ends {
        for &dst in &ends {
            if matches!((src, dst), (FlowEnd::External(_), FlowEnd::External(_))) {
                continue;
            }
            for &(protocol, port) in &probes {
                let flow = Flow {
                    src,
                    dst,
                    protocol,
                    port,
                };
                let expected = verdict(cluster, &flow).allowed;
                assert_eq!(graph.allows(&flow), expected, "{name}: {flow:?}");
                count += 1;
            }
        }
    }
    count
}

/// Asserts that the SMT engine (existing pods) agrees with the evaluator on
/// every end pair and the first port of each atom; returns the flow count.
pub fn assert_smt_agrees(cluster: &Cluster, name: &str) -> usize {
    use moat_verifier::smt::{Guards, Scope, Session, query::flow_allowed};

    let graph = Graph::build(cluster);
    let session = Session::new(cluster, &[cluster], Scope::Existing);
    let encoding = session.encode(cluster, &Guards::default());
    // The SMT encoding covers IPv4 only.
    let mut ends = ends(cluster, &graph);
    ends.retain(|e| !matches!(e, FlowEnd::External(IpAddr::V6(_))));
    let mut count = 0;
    for &src in &ends {
        for &dst in &ends {
            if matches!((src, dst), (FlowEnd::External(_), FlowEnd::External(_))) {
                continue;
            }
            for atom in &graph.ports.atoms {
                let flow = Flow {
                    src,
                    dst,
                    protocol: atom.protocol,
                    port: atom.start,
                };
                let expected = verdict(cluster, &flow).allowed;
                let smt = flow_allowed(&session, &encoding, &flow);
                assert_eq!(smt, Some(expected), "{name}: {flow:?}");
                assert_eq!(graph.allows(&flow), expected, "{name}: graph {flow:?}");
                count += 1;
            }
        }
    }
    count
}
