//! Words for decisions, shared by `query` and the JSON forms.

use moat_ir::{Cluster, Decision, Direction, Reason, RuleRef};
use serde::Serialize;

/// A rule as users refer to it.
#[derive(Serialize)]
pub struct RuleInfo {
    pub kind: String,
    pub policy: String,
    pub direction: String,
    /// The manifest field of the rule: `ingress`, `egress`, `ingressDeny` or `egressDeny`.
    pub section: String,
    pub index: usize,
    pub action: String,
    pub location: Option<String>,
}

pub fn rule_info(cluster: &Cluster, rule: RuleRef) -> Option<RuleInfo> {
    let policy = cluster.policies.get(rule.policy)?;
    let r = policy.rules.get(rule.rule)?;
    Some(RuleInfo {
        kind: policy.kind.to_string(),
        policy: policy.key(),
        direction: r.direction.to_string(),
        section: policy.rule_section(r).to_string(),
        index: r.index,
        action: format!("{:?}", r.action),
        location: r.origin.as_ref().map(|o| o.short()),
    })
}

/// `NetworkPolicy x/allow-b ingress[0] (policies.yaml:12)`, or for a Cilium
/// deny rule `CiliumNetworkPolicy x/deny-b ingressDeny[0] (...)`.
pub fn rule_text(cluster: &Cluster, rule: RuleRef) -> String {
    match rule_info(cluster, rule) {
        Some(info) => {
            let at = info.location.map(|l| format!(" ({l})")).unwrap_or_default();
            format!(
                "{} {} {}[{}]{at}",
                info.kind, info.policy, info.section, info.index
            )
        }
        None => "an unknown rule".to_string(),
    }
}

/// One sentence for one side's decision.
pub fn decision_text(cluster: &Cluster, decision: &Decision, direction: Direction) -> String {
    let verb = if decision.allowed {
        "allowed"
    } else {
        "denied"
    };
    let mut text = match &decision.reason {
        Reason::Outside => format!("{verb}: outside the cluster, no {direction} policy applies"),
        Reason::HostNetwork => format!("{verb}: host-network pod, pod policies do not apply"),
        Reason::NotIsolated => format!("{verb}: no policy isolates this pod for {direction}"),
        Reason::Rule(rule) => format!("{verb} by {}", rule_text(cluster, *rule)),
        Reason::NoRuleMatched { policies } => {
            let names: Vec<String> = policies
                .iter()
                .filter_map(|&i| cluster.policies.get(i))
                .map(|p| p.key())
                .collect();
            format!(
                "{verb}: isolated for {direction} by {}, and no rule of theirs matched",
                names.join(", ")
            )
        }
    };
    for pass in &decision.passed {
        text.push_str(&format!("; passed on by {}", rule_text(cluster, *pass)));
    }
    text
}

/// Policies of any tier whose subject selects the pod, as `kind ns/name`.
pub fn selecting_policies(cluster: &Cluster, pod: usize, direction: Direction) -> Vec<String> {
    let Some(pod) = cluster.pods.get(pod) else {
        return Vec::new();
    };
    cluster
        .policies
        .iter()
        .filter(|p| moat_ir::eval::subject_selects(cluster, p, pod))
        .filter(|p| p.isolates(direction) || p.rules.iter().any(|r| r.direction == direction))
        .map(|p| format!("{} {}", p.kind, p.key()))
        .collect()
}
