//! Vacuous assertions: an end whose selector matches no pod, so the
//! assertion would hold without checking a single flow.

use moat_ir::eval::pod_set_contains;
use moat_ir::{Cluster, NamespaceMatch, PodSet};

use crate::assert::Assertion;
use crate::smt::encode::pod_set_formula;
use crate::smt::{Scope, Session, Universe};

/// Returns why an assertion is vacuous in `scope`, or `None` when both ends
/// select some pod.
///
/// Over existing pods an end is empty when no pod of the input is in its
/// set, not counting host-network pods, which policies do not select. Over every pod that could exist it is empty when its selectors
/// cannot be satisfied by any labels, which the SMT engine decides.
pub fn vacuous(cluster: &Cluster, assertion: &Assertion, scope: Scope) -> Option<String> {
    let ends = [("from", &assertion.from), ("to", &assertion.to)];
    let empty: Vec<String> = ends
        .iter()
        .filter(|(_, set)| !selects_some_pod(cluster, set, scope))
        .map(|(word, set)| end_text(cluster, word, set, scope))
        .collect();
    if empty.is_empty() {
        None
    } else {
        Some(empty.join("; "))
    }
}

fn selects_some_pod(cluster: &Cluster, set: &PodSet, scope: Scope) -> bool {
    match scope {
        Scope::Existing => cluster
            .pods
            .iter()
            .any(|p| !p.host_network && pod_set_contains(cluster, set, p)),
        Scope::AnyPod => {
            let universe = Universe::with_sets(&[cluster], &[set]);
            let session = Session::with_universe(cluster, universe, Scope::AnyPod);
            let member = pod_set_formula(&session.universe, set, &session.flow.src);
            session.satisfiable(&[&session.flow.src.is_pod, &member])
        }
    }
}

fn end_text(cluster: &Cluster, word: &str, set: &PodSet, scope: Scope) -> String {
    let mut text = match scope {
        Scope::Existing => format!("`{word}` selects no pod in the input"),
        Scope::AnyPod => format!("`{word}` selects no pod that could exist"),
    };
    let host_network = cluster
        .pods
        .iter()
        .any(|p| p.host_network && pod_set_contains(cluster, set, p));
    if scope == Scope::Existing && host_network {
        text.push_str(" (only host-network pods, which are not pod ends)");
    }
    if let NamespaceMatch::Name(name) = &set.namespaces
        && !cluster.namespaces.contains_key(name)
    {
        text.push_str(&format!(" (namespace `{name}` does not exist"));
        let names: Vec<&str> = cluster.namespaces.keys().map(String::as_str).collect();
        if let Some(close) = crate::describe::closest(name, &names) {
            text.push_str(&format!(": did you mean `{close}`?"));
        }
        text.push(')');
    }
    text
}
