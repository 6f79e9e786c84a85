//! How rules, policies and pods are named in findings and reports.

use moat_ir::{Cluster, RuleRef};

/// `NetworkPolicy prod/api ingress[0]`, or `... ingressDeny[0]` for a Cilium deny rule.
pub fn rule_text(cluster: &Cluster, rule: RuleRef) -> String {
    let Some(policy) = cluster.policies.get(rule.policy) else {
        return "an unknown rule".to_string();
    };
    match policy.rules.get(rule.rule) {
        Some(r) => format!(
            "{} {} {}[{}]",
            policy.kind,
            policy.key(),
            policy.rule_section(r),
            r.index
        ),
        None => format!("{} {}", policy.kind, policy.key()),
    }
}

/// `NetworkPolicy prod/api`.
pub fn policy_text(cluster: &Cluster, policy: usize) -> String {
    cluster.policies.get(policy).map_or_else(
        || "an unknown policy".to_string(),
        |p| format!("{} {}", p.kind, p.key()),
    )
}

/// `ns/name`, or the index when out of range.
pub fn pod_text(cluster: &Cluster, pod: usize) -> String {
    cluster
        .pods
        .get(pod)
        .map_or_else(|| format!("pod #{pod}"), |p| p.key())
}

/// Up to `max` names followed by `and N more`.
pub fn list_text(names: &[String], max: usize) -> String {
    if names.len() <= max {
        return names.join(", ");
    }
    let shown: Vec<&str> = names.iter().take(max).map(String::as_str).collect();
    format!("{} and {} more", shown.join(", "), names.len() - max)
}

/// Finds the known name closest to a typo; the loader's did-you-mean uses it too.
pub use moat_ir::load::closest;
