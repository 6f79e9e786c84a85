//! Connectivity differences between two versions of a cluster, grouped
//! into flow classes with the rules that decide each side.
//!
//! Pods are matched between versions by `namespace/name`. Pods that share
//! their identity class in both versions form one group, so one line covers
//! every pod pair and port that changed the same way. Pods of one version
//! only are listed by [`presence_diff`].

mod presence;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use moat_ir::{Cluster, Flow, FlowEnd, Protocol, Reason, verdict};
use serde::Serialize;

use crate::describe::rule_text;
use crate::graph::{Bits, Graph, PortAtom};
use crate::smt::{Answer, EndWitness, Scope, Witness};

pub use presence::{Presence, PresenceChange};

/// One changed flow class.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub from: String,
    pub to: String,
    pub ports: String,
    pub before: bool,
    pub after: bool,
    /// The rules or reasons that decide a representative flow, before and after.
    pub before_because: String,
    pub after_because: String,
}

impl Change {
    /// `prod/frontend-* -> prod/api-* tcp/8080: allowed -> denied`.
    pub fn headline(&self) -> String {
        let word = |b: bool| if b { "allowed" } else { "denied" };
        format!(
            "{} -> {} {}: {} -> {}",
            self.from,
            self.to,
            self.ports,
            word(self.before),
            word(self.after)
        )
    }
}

/// A group of pods (same class in both versions) or an outside address range.
#[derive(Debug, Clone)]
struct Group {
    name: String,
    /// Representative end in the old and in the new cluster.
    old: FlowEnd,
    new: FlowEnd,
    outside: bool,
}

/// Lists the flow classes whose verdict differs between `old` and `new`, over
/// the pods present in both versions and outside addresses.
pub fn diff(old: &Cluster, new: &Cluster) -> Vec<Change> {
    let old_graph = Graph::build(old);
    let new_graph = Graph::build(new);
    let mut groups = pod_groups(old, new, &old_graph, &new_graph);
    groups.extend(outside_groups(&old_graph, &new_graph));
    let atoms = joint_port_atoms(&old_graph, &new_graph);
    let mut out = Vec::new();
    for a in &groups {
        for b in &groups {
            if a.outside && b.outside {
                continue;
            }
            let before = allowed_atoms(&old_graph, a.old, b.old, &atoms);
            let after = allowed_atoms(&new_graph, a.new, b.new, &atoms);
            out.extend(changes_between(old, new, a, b, &atoms, &before, &after));
        }
    }
    out
}

/// Lists the allowed flow classes of pods that exist in only one version:
/// access that an added pod gains and a removed pod loses.
pub fn presence_diff(old: &Cluster, new: &Cluster) -> Vec<PresenceChange> {
    let old_graph = Graph::build(old);
    let new_graph = Graph::build(new);
    let mut shared = pod_groups(old, new, &old_graph, &new_graph);
    shared.extend(outside_groups(&old_graph, &new_graph));
    let atoms = joint_port_atoms(&old_graph, &new_graph);
    let ends = |pick: fn(&Group) -> FlowEnd| -> Vec<presence::End> {
        shared
            .iter()
            .map(|g| presence::End {
                name: g.name.clone(),
                end: pick(g),
                outside: g.outside,
                only: false,
            })
            .collect()
    };
    let removed = presence::Side {
        cluster: old,
        graph: &old_graph,
        presence: Presence::Removed,
    };
    let added = presence::Side {
        cluster: new,
        graph: &new_graph,
        presence: Presence::Added,
    };
    let mut out = presence::presence_changes(&removed, new, ends(|g| g.old), &atoms);
    out.extend(presence::presence_changes(
        &added,
        old,
        ends(|g| g.new),
        &atoms,
    ));
    out
}

fn pod_groups(old: &Cluster, new: &Cluster, old_graph: &Graph, new_graph: &Graph) -> Vec<Group> {
    let new_index: HashMap<String, usize> = new
        .pods
        .iter()
        .enumerate()
        .map(|(i, p)| (p.key(), i))
        .collect();
    let mut members: BTreeMap<(usize, usize), Vec<(usize, usize)>> = BTreeMap::new();
    for (i, pod) in old.pods.iter().enumerate() {
        let Some(&j) = new_index.get(&pod.key()) else {
            continue;
        };
        let (Some(&a), Some(&b)) = (
            old_graph.classes.class_of_pod.get(i),
            new_graph.classes.class_of_pod.get(j),
        ) else {
            continue;
        };
        members.entry((a, b)).or_default().push((i, j));
    }
    members
        .into_values()
        .filter_map(|pods| {
            let &(i, j) = pods.first()?;
            let names: Vec<&moat_ir::Pod> =
                pods.iter().filter_map(|&(i, _)| old.pods.get(i)).collect();
            Some(Group {
                name: group_name(&names),
                old: FlowEnd::Pod(i),
                new: FlowEnd::Pod(j),
                outside: false,
            })
        })
        .collect()
}

/// `ns/name` for one pod, `ns/prefix-*` for pods that share a name prefix.
fn group_name(pods: &[&moat_ir::Pod]) -> String {
    let Some(first) = pods.first() else {
        return String::new();
    };
    if pods.len() == 1 {
        return first.key();
    }
    let mut prefix = first.name.clone();
    for pod in pods {
        while !pod.name.starts_with(&prefix) {
            prefix.pop();
        }
    }
    let trimmed = match prefix.rfind('-') {
        Some(i) if i + 1 < prefix.len() => prefix.get(..=i).unwrap_or(&prefix).to_string(),
        _ => prefix,
    };
    if trimmed.is_empty() {
        let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
        return format!("{}/{{{}}}", first.namespace, names.join(","));
    }
    format!("{}/{trimmed}*", first.namespace)
}

/// Outside address ranges on which neither version's rules change.
fn outside_groups(old_graph: &Graph, new_graph: &Graph) -> Vec<Group> {
    let starts: BTreeSet<(bool, u128)> = old_graph
        .externals
        .iter()
        .chain(&new_graph.externals)
        .map(|a| (a.v6, a.start))
        .collect();
    let starts: Vec<(bool, u128)> = starts.into_iter().collect();
    let mut out = Vec::new();
    for (k, &(v6, start)) in starts.iter().enumerate() {
        let end = match starts.get(k + 1) {
            Some(&(next_v6, next)) if next_v6 == v6 => next - 1,
            _ if v6 => u128::MAX,
            _ => u128::from(u32::MAX),
        };
        let atom = crate::graph::AddressAtom { v6, start, end };
        let ip: IpAddr = atom.first();
        out.push(Group {
            name: format!("outside {atom}"),
            old: FlowEnd::External(ip),
            new: FlowEnd::External(ip),
            outside: true,
        });
    }
    out
}

/// The union of both versions' port cuts, as atoms.
fn joint_port_atoms(old_graph: &Graph, new_graph: &Graph) -> Vec<PortAtom> {
    let mut cuts: BTreeMap<Protocol, BTreeSet<u32>> = BTreeMap::new();
    for atom in old_graph.ports.atoms.iter().chain(&new_graph.ports.atoms) {
        let set = cuts.entry(atom.protocol).or_default();
        set.insert(u32::from(atom.start));
        set.insert(u32::from(atom.end) + 1);
    }
    let mut out = Vec::new();
    for (protocol, set) in cuts {
        let points: Vec<u32> = set.into_iter().collect();
        for pair in points.windows(2) {
            if let [start, next] = pair {
                out.push(PortAtom {
                    protocol,
                    start: u16::try_from(*start).unwrap_or(u16::MAX),
                    end: u16::try_from(next - 1).unwrap_or(u16::MAX),
                });
            }
        }
    }
    out
}

fn allowed_atoms(graph: &Graph, from: FlowEnd, to: FlowEnd, atoms: &[PortAtom]) -> Bits {
    let mut out = Bits::empty(atoms.len());
    let (Some(a), Some(b)) = (graph.node_of(from), graph.node_of(to)) else {
        return out;
    };
    let Some(ports) = graph.edge_ports(a, b) else {
        return out;
    };
    for (i, atom) in atoms.iter().enumerate() {
        if graph
            .ports
            .atom_of(atom.protocol, atom.start)
            .is_some_and(|x| ports.contains(x))
        {
            out.insert(i);
        }
    }
    out
}

fn changes_between(
    old: &Cluster,
    new: &Cluster,
    a: &Group,
    b: &Group,
    atoms: &[PortAtom],
    before: &Bits,
    after: &Bits,
) -> Vec<Change> {
    let mut out = Vec::new();
    for (was, now) in [(true, false), (false, true)] {
        let mut set = if was { before.clone() } else { after.clone() };
        set.difference_with(if was { after } else { before });
        let Some(first) = set.iter().next().and_then(|i| atoms.get(i)) else {
            continue;
        };
        let because = |cluster: &Cluster, src: FlowEnd, dst: FlowEnd| {
            let flow = Flow {
                src,
                dst,
                protocol: first.protocol,
                port: first.start,
            };
            reasons(cluster, &flow)
        };
        out.push(Change {
            from: a.name.clone(),
            to: b.name.clone(),
            ports: describe_atoms(atoms, &set),
            before: was,
            after: now,
            before_because: because(old, a.old, b.old),
            after_because: because(new, a.new, b.new),
        });
    }
    out
}

fn describe_atoms(atoms: &[PortAtom], set: &Bits) -> String {
    let table = crate::graph::PortAtoms {
        atoms: atoms.to_vec(),
    };
    table.describe(set)
}

/// The deciding rules of both sides, or the reason when no rule decides.
fn reasons(cluster: &Cluster, flow: &Flow) -> String {
    let result = verdict(cluster, flow);
    let mut parts = Vec::new();
    for (side, decision) in [("egress", &result.egress), ("ingress", &result.ingress)] {
        let text = match &decision.reason {
            Reason::Rule(rule) => rule_text(cluster, *rule),
            Reason::NoRuleMatched { .. } => "isolated, no rule matched".to_string(),
            Reason::NotIsolated => "not isolated".to_string(),
            Reason::Outside | Reason::HostNetwork => continue,
        };
        parts.push(format!("{side}: {text}"));
    }
    parts.join("; ")
}

/// Finds, with the SMT engine, flows in which a pod that exists in neither
/// version gets different verdicts. Returns at most `limit`, one per pair of
/// label sets and protocol.
pub fn new_pod_differences(old: &Cluster, new: &Cluster, limit: usize) -> Vec<Witness> {
    use crate::smt::{Guards, Session};
    let session = Session::new(new, &[old, new], Scope::AnyPod);
    let a = session.encode(old, &Guards::default());
    let b = session.encode(new, &Guards::default());
    let differ = a.allowed.xor(&b.allowed);
    let mut blocked: Vec<z3::ast::Bool> = Vec::new();
    let mut out = Vec::new();
    let some_new = z3::ast::Bool::or(&[
        crate::smt::flow::new_pod(&session.flow.src, &session.universe, new),
        crate::smt::flow::new_pod(&session.flow.dst, &session.universe, new),
    ]);
    while out.len() < limit {
        let mut formulas: Vec<&z3::ast::Bool> = vec![&differ, &some_new];
        formulas.extend(blocked.iter());
        let Answer::Counterexample(witness) = session.find(&formulas) else {
            break;
        };
        blocked
            .push(crate::smt::flow::same_class(&session.flow, &session.universe, &witness).not());
        out.push(witness);
    }
    out
}

/// Whether a witness involves a pod that does not exist.
pub fn involves_new_pod(witness: &Witness) -> bool {
    [&witness.src, &witness.dst]
        .iter()
        .any(|e| matches!(e, EndWitness::Pod { existing: None, .. }))
}
