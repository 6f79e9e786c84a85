//! `selects-nothing` and `peer-matches-nothing`: selectors that match no pod.
//!
//! A selector whose requirements contradict each other can never match
//! (decided by the SMT engine). Otherwise, when the input contains pods, a
//! selector that matches none of them is reported too, because that is
//! often a typo in a label.

use moat_ir::eval::{pod_set_contains, subject_selects};
use moat_ir::{Cluster, NamespaceMatch, Peer, Peers, PodSet, Subject};

use crate::describe::policy_text;
use crate::finding::{Finding, Severity};
use crate::smt::query::selector_satisfiable;

/// Returns the reason a pod set matches nothing, or `None` when it matches some pod.
fn empty_reason(cluster: &Cluster, set: &PodSet, matches_some: bool) -> Option<(String, Severity)> {
    if !selector_satisfiable(&set.pods) {
        return Some((
            format!(
                "pod selector `{}` can never match: its requirements contradict each other",
                set.pods
            ),
            Severity::Error,
        ));
    }
    if let NamespaceMatch::Selector(selector) = &set.namespaces
        && !selector_satisfiable(selector)
    {
        return Some((
            format!(
                "namespace selector `{selector}` can never match: its requirements contradict each other"
            ),
            Severity::Error,
        ));
    }
    if cluster.pods.is_empty() || matches_some {
        return None;
    }
    Some((
        format!(
            "selects none of the {} pods in the input",
            cluster.pods.len()
        ),
        Severity::Warning,
    ))
}

pub fn selects_nothing(cluster: &Cluster) -> Vec<Finding> {
    let mut out = Vec::new();
    for (p, policy) in cluster.policies.iter().enumerate() {
        let Subject::Pods(set) = &policy.subject;
        let some = cluster
            .pods
            .iter()
            .any(|pod| subject_selects(cluster, policy, pod));
        let Some((reason, severity)) = empty_reason(cluster, set, some) else {
            continue;
        };
        out.push(
            Finding::new(
                "selects-nothing",
                format!("{} {reason}", policy_text(cluster, p)),
            )
            .with_severity(severity)
            .at(policy.origin.clone())
            .with_label("this policy applies to no pod")
            .with_help(format!(
                "the subject is `{}`; check its labels against the pods",
                set_text(set)
            )),
        );
    }
    out
}

/// Pods by namespace, so that a peer of one namespace only scans its pods.
fn pods_by_namespace(cluster: &Cluster) -> std::collections::HashMap<&str, Vec<&moat_ir::Pod>> {
    let mut map: std::collections::HashMap<&str, Vec<&moat_ir::Pod>> = Default::default();
    for pod in &cluster.pods {
        map.entry(pod.namespace.as_str()).or_default().push(pod);
    }
    map
}

pub fn peer_matches_nothing(cluster: &Cluster) -> Vec<Finding> {
    let mut out = Vec::new();
    let by_namespace = pods_by_namespace(cluster);
    let all: Vec<&moat_ir::Pod> = cluster.pods.iter().collect();
    for (p, policy) in cluster.policies.iter().enumerate() {
        for rule in &policy.rules {
            let Peers::List(peers) = &rule.peers else {
                continue;
            };
            for peer in peers {
                let Peer::Pods(set) = peer else { continue };
                let candidates = match &set.namespaces {
                    NamespaceMatch::Name(name) => by_namespace
                        .get(name.as_str())
                        .unwrap_or(&Vec::new())
                        .clone(),
                    NamespaceMatch::Selector(_) => all.clone(),
                };
                let some = candidates
                    .iter()
                    .any(|pod| !pod.host_network && pod_set_contains(cluster, set, pod));
                let Some((reason, severity)) = empty_reason(cluster, set, some) else {
                    continue;
                };
                let message = format!(
                    "peer `{}` of {} {}[{}] {reason}",
                    set_text(set),
                    policy_text(cluster, p),
                    rule.direction,
                    rule.index
                );
                out.push(
                    Finding::new("peer-matches-nothing", message)
                        .with_severity(severity)
                        .at(rule.origin.clone())
                        .with_label("this peer matches no pod"),
                );
            }
        }
    }
    out
}

/// `namespace x: app=db` or `namespaces env=prod: app=db`.
pub fn set_text(set: &PodSet) -> String {
    match &set.namespaces {
        NamespaceMatch::Name(name) => format!("namespace {name}: {}", set.pods),
        NamespaceMatch::Selector(selector) => format!("namespaces {selector}: {}", set.pods),
    }
}
