//! ClusterNetworkPolicy (policy.networking.k8s.io/v1alpha2) in the admin and baseline tiers.

#[allow(dead_code)]
mod tiers_support;

use moat_ir::{Reason, Tier};
use tiers_support::{codes, expect, judge, load, load_any};

/// Builds a ClusterNetworkPolicy whose subject is every pod of `x`.
fn cnp(name: &str, tier: &str, priority: u32, rules: &str) -> String {
    format!(
        "apiVersion: policy.networking.k8s.io/v1alpha2
kind: ClusterNetworkPolicy
metadata: {{name: {name}}}
spec:
  tier: {tier}
  priority: {priority}
  subject: {{namespaces: {{matchLabels: {{team: red}}}}}}
{rules}---
"
    )
}

/// Isolates every pod of `x` for ingress, allowing nothing.
const NP_DENY_ALL: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
";

#[test]
fn admin_accept_overrides_network_policy() {
    let rules =
        "  ingress:\n  - {action: Accept, from: [{namespaces: {matchLabels: {team: blue}}}]}\n";
    let loaded = load(&(cnp("accept-blue", "Admin", 10, rules) + NP_DENY_ALL));
    assert_eq!(loaded.cluster.policies[0].tier, Tier::Admin);
    expect(&loaded, "y/a -> x/a tcp/80 allow\nx/b -> x/a tcp/80 deny");
}

#[test]
fn baseline_tier_yields_to_network_policy() {
    let rules = "  ingress:\n  - {action: Deny, from: [{namespaces: {}}]}\n";
    let allow_a = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-a, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress: [{}]
---
";
    let loaded = load(&(cnp("baseline-deny", "Baseline", 10, rules) + allow_a));
    assert_eq!(loaded.cluster.policies[0].tier, Tier::Baseline);
    expect(&loaded, "y/a -> x/a tcp/80 allow\ny/a -> x/b tcp/80 deny");
}

#[test]
fn protocols_match_ports_ranges_and_names() {
    let rules = "  ingress:
  - action: Deny
    from: [{namespaces: {}}]
    protocols:
    - tcp: {destinationPort: {number: 80}}
    - udp: {destinationPort: {range: {start: 50, end: 60}}}
    - destinationNamedPort: metrics
";
    let loaded = load(&cnp("ports", "Admin", 10, rules));
    expect(
        &loaded,
        "y/a -> x/a tcp/80 deny
y/a -> x/a udp/80 allow
y/a -> x/a udp/53 deny
y/a -> x/a tcp/53 allow
y/a -> x/a tcp/9090 deny
y/a -> x/a udp/9090 allow",
    );
}

#[test]
fn baseline_pass_falls_through_to_the_default() {
    let rules = "  ingress:
  - {action: Pass, from: [{namespaces: {matchLabels: {team: blue}}}]}
  - {action: Deny, from: [{namespaces: {}}]}
";
    let loaded = load(&cnp("baseline", "Baseline", 10, rules));
    expect(&loaded, "y/a -> x/a tcp/80 allow\nx/b -> x/a tcp/80 deny");
    let verdict = judge(&loaded.cluster, "y/a", "x/a", 80);
    assert_eq!(verdict.ingress.reason, Reason::NotIsolated);
    assert_eq!(verdict.ingress.passed.len(), 1);
}

#[test]
fn admin_kinds_share_priority_order() {
    let anp = "apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: deny-blue}
spec:
  priority: 20
  subject: {namespaces: {}}
  ingress:
  - {action: Deny, from: [{namespaces: {matchLabels: {team: blue}}}]}
---
";
    let accept =
        "  ingress:\n  - {action: Accept, from: [{namespaces: {matchLabels: {team: blue}}}]}\n";
    let loaded = load(&(cnp("accept-blue", "Admin", 10, accept) + anp));
    expect(&loaded, "y/a -> x/a tcp/80 allow\ny/b -> y/a tcp/80 deny");
}

#[test]
fn baseline_policies_rank_by_priority() {
    let accept = "  ingress:\n  - {action: Accept, from: [{namespaces: {}}]}\n";
    let deny = "  ingress:\n  - {action: Deny, from: [{namespaces: {}}]}\n";
    let loaded =
        load(&(cnp("a-accept", "Baseline", 5, accept) + &cnp("b-deny", "Baseline", 1, deny)));
    expect(&loaded, "y/a -> x/a tcp/80 deny");
}

#[test]
fn allow_is_spelt_accept() {
    let rules = "  ingress:\n  - {action: Allow, from: [{namespaces: {}}]}\n";
    let loaded = load_any(&cnp("old-word", "Admin", 10, rules));
    assert_eq!(codes(&loaded), ["moat::unknown-action"]);
    let help = loaded.diagnostics[0].help.as_deref().unwrap();
    assert_eq!(help, "ClusterNetworkPolicy (v1alpha2) spells it `Accept`");
}

#[test]
fn tier_is_required_and_checked() {
    let loaded = load_any(&cnp("typo", "Admn", 10, ""));
    assert_eq!(codes(&loaded), ["moat::unknown-tier"]);
    assert_eq!(
        loaded.diagnostics[0].help.as_deref(),
        Some("did you mean `Admin`?")
    );
    assert!(loaded.cluster.policies.is_empty());
}
