//! Flows of pods that exist in only one version: the access an added pod
//! gains and the access a removed pod loses.

use std::collections::{BTreeMap, HashSet};

use moat_ir::{Cluster, Flow, FlowEnd};
use serde::Serialize;

use super::{Group, allowed_atoms, describe_atoms, group_name, reasons};
use crate::graph::{Graph, PortAtom};

/// Whether the pods of a [`PresenceChange`] are new or gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    /// Only in the new version.
    Added,
    /// Only in the old version.
    Removed,
}

/// A flow class of pods that exist in one version only. `allowed` is false
/// for the one entry per pod group that covers all its other flows, which
/// are denied.
#[derive(Debug, Clone, Serialize)]
pub struct PresenceChange {
    pub presence: Presence,
    /// The added or removed pods (`ns/name` or `ns/prefix-*`).
    pub pods: String,
    pub from: String,
    pub to: String,
    pub ports: String,
    pub allowed: bool,
    /// The rules that decide a representative flow in the version where the pods exist.
    pub because: String,
}

impl PresenceChange {
    /// `added pod ns/a-0: ns/a-0 -> ns/b-0 tcp/80: (absent) -> allowed`.
    pub fn headline(&self) -> String {
        let verdict = if self.allowed { "allowed" } else { "denied" };
        let (word, verdicts) = match self.presence {
            Presence::Added => ("added", format!("(absent) -> {verdict}")),
            Presence::Removed => ("removed", format!("{verdict} -> (absent)")),
        };
        if !self.allowed {
            return format!("{word} pod {}: every other flow: {verdicts}", self.pods);
        }
        format!(
            "{word} pod {}: {} -> {} {}: {verdicts}",
            self.pods, self.from, self.to, self.ports
        )
    }
}

/// One version's side of the comparison.
pub(super) struct Side<'a> {
    pub cluster: &'a Cluster,
    pub graph: &'a Graph,
    pub presence: Presence,
}

/// A flow end of one version: a pod group or an outside address range.
pub(super) struct End {
    pub name: String,
    pub end: FlowEnd,
    pub outside: bool,
    /// Whether the pods exist in this version only.
    pub only: bool,
}

/// Lists the flow classes of the pods that exist only in `side`, against
/// each other and against `ends`, the groups of both versions. It returns
/// one entry per allowed class, then one per pod group for the rest of its
/// flows, which are denied.
pub(super) fn presence_changes(
    side: &Side,
    other: &Cluster,
    mut ends: Vec<End>,
    atoms: &[PortAtom],
) -> Vec<PresenceChange> {
    let only = only_groups(side, other);
    ends.extend(only.iter().map(|g| End {
        name: g.name.clone(),
        end: g.new,
        outside: false,
        only: true,
    }));
    let mut out = Vec::new();
    for a in &ends {
        for b in &ends {
            if !(a.only || b.only) || (a.outside && b.outside) {
                continue;
            }
            out.extend(allowed_class(side, a, b, atoms));
        }
    }
    for group in &only {
        out.push(PresenceChange {
            presence: side.presence,
            pods: group.name.clone(),
            from: group.name.clone(),
            to: String::new(),
            ports: String::new(),
            allowed: false,
            because: String::new(),
        });
    }
    out
}

fn allowed_class(side: &Side, a: &End, b: &End, atoms: &[PortAtom]) -> Option<PresenceChange> {
    let allowed = allowed_atoms(side.graph, a.end, b.end, atoms);
    let first = allowed.iter().next().and_then(|i| atoms.get(i))?;
    let flow = Flow {
        src: a.end,
        dst: b.end,
        protocol: first.protocol,
        port: first.start,
    };
    Some(PresenceChange {
        presence: side.presence,
        pods: if a.only {
            a.name.clone()
        } else {
            b.name.clone()
        },
        from: a.name.clone(),
        to: b.name.clone(),
        ports: describe_atoms(atoms, &allowed),
        allowed: true,
        because: reasons(side.cluster, &flow),
    })
}

/// Groups the pods of `side` that are missing from `other` by identity class.
fn only_groups(side: &Side, other: &Cluster) -> Vec<Group> {
    let known: HashSet<String> = other.pods.iter().map(moat_ir::Pod::key).collect();
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, pod) in side.cluster.pods.iter().enumerate() {
        if known.contains(&pod.key()) {
            continue;
        }
        if let Some(&class) = side.graph.classes.class_of_pod.get(i) {
            members.entry(class).or_default().push(i);
        }
    }
    members
        .into_values()
        .filter_map(|pods| {
            let &first = pods.first()?;
            let names: Vec<&moat_ir::Pod> = pods
                .iter()
                .filter_map(|&i| side.cluster.pods.get(i))
                .collect();
            Some(Group {
                name: group_name(&names),
                old: FlowEnd::Pod(first),
                new: FlowEnd::Pod(first),
                outside: false,
            })
        })
        .collect()
}
