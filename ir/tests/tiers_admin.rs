//! AdminNetworkPolicy and BaselineAdminNetworkPolicy: one test per rule of the tiers.

#[allow(dead_code)]
mod tiers_support;

use moat_ir::{Reason, Severity};
use tiers_support::{codes, expect, judge, load, load_any};

const ANP: &str = "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\n";
const BANP: &str =
    "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\n";

/// Builds an ANP whose subject is every pod of `x`.
fn anp(name: &str, priority: u32, rules: &str) -> String {
    format!(
        "{ANP}metadata: {{name: {name}}}
spec:
  priority: {priority}
  subject: {{namespaces: {{matchLabels: {{team: red}}}}}}
{rules}---
"
    )
}

/// Builds the BANP, whose subject is every pod of `x`.
fn banp(rules: &str) -> String {
    format!(
        "{BANP}metadata: {{name: default}}
spec:
  subject: {{namespaces: {{matchLabels: {{team: red}}}}}}
{rules}---
"
    )
}

const DENY_FROM_B: &str = "  ingress:
  - {action: Deny, from: [{pods: {namespaceSelector: {}, podSelector: {matchLabels: {pod: b}}}}]}
";
const ALLOW_FROM_ALL: &str = "  ingress:
  - {action: Allow, from: [{namespaces: {}}]}
";

#[test]
fn lower_priority_number_wins() {
    let loaded = load(&(anp("deny-b", 10, DENY_FROM_B) + &anp("allow-all", 20, ALLOW_FROM_ALL)));
    expect(
        &loaded,
        "x/b -> x/a tcp/80 deny\ny/b -> x/a tcp/80 deny\ny/a -> x/a tcp/80 allow",
    );

    let loaded = load(&(anp("deny-b", 30, DENY_FROM_B) + &anp("allow-all", 20, ALLOW_FROM_ALL)));
    expect(&loaded, "x/b -> x/a tcp/80 allow\ny/b -> x/a tcp/80 allow");
}

#[test]
fn first_matching_rule_wins_within_a_policy() {
    let rules = "  ingress:
  - {action: Allow, from: [{namespaces: {matchLabels: {team: blue}}}]}
  - {action: Deny, from: [{namespaces: {}}]}
  - {action: Allow, from: [{namespaces: {}}]}
";
    let loaded = load(&anp("ordered", 5, rules));
    expect(
        &loaded,
        "y/a -> x/a tcp/80 allow\nx/b -> x/a tcp/80 deny\ny/b -> x/b udp/53 allow",
    );
}

/// NetworkPolicy in `x` that isolates `x/a` for ingress and allows only `x/b`.
const NP_ALLOW_B: &str = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: only-b, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {pod: b}}}]
---
";

#[test]
fn pass_defers_to_lower_tiers() {
    let pass = "  ingress:
  - {action: Pass, from: [{namespaces: {}}]}
";
    let baseline =
        banp("  ingress:\n  - {action: Deny, from: [{namespaces: {matchLabels: {team: blue}}}]}\n");
    let loaded = load(&(anp("pass-all", 1, pass) + NP_ALLOW_B + &baseline));
    expect(
        &loaded,
        "x/b -> x/a tcp/80 allow\ny/a -> x/a tcp/80 deny\ny/a -> x/b tcp/80 deny\nx/a -> x/b tcp/80 allow",
    );

    let verdict = judge(&loaded.cluster, "y/a", "x/b", 80);
    assert_eq!(
        verdict.ingress.passed.len(),
        1,
        "the Pass rule is in the chain"
    );
    let Reason::Rule(rule) = verdict.ingress.reason else {
        panic!("a rule decides")
    };
    assert_eq!(loaded.cluster.policies[rule.policy].name, "default");
}

#[test]
fn baseline_decides_only_where_no_network_policy_isolates() {
    let baseline = banp("  ingress:\n  - {action: Deny, from: [{namespaces: {}}]}\n");
    let loaded = load(&(String::from(NP_ALLOW_B) + &baseline));
    // x/a is isolated by the NetworkPolicy, so the baseline deny does not reach it.
    expect(
        &loaded,
        "x/b -> x/a tcp/80 allow\ny/a -> x/a tcp/80 deny\ny/a -> x/b tcp/80 deny",
    );

    let allow = banp("  ingress:\n  - {action: Allow, from: [{namespaces: {}}]}\n");
    let loaded = load(&(String::from(NP_ALLOW_B) + &allow));
    expect(&loaded, "y/a -> x/a tcp/80 deny\ny/a -> x/b tcp/80 allow");
}

#[test]
fn admin_deny_overrides_network_policy_allow() {
    let loaded = load(&(anp("deny-b", 10, DENY_FROM_B) + NP_ALLOW_B));
    expect(&loaded, "x/b -> x/a tcp/80 deny");
}

#[test]
fn networks_peer_matches_pod_addresses_too() {
    let rules = "  egress:
  - {action: Deny, to: [{networks: [10.0.2.0/24]}]}
";
    let loaded = load(&anp("deny-net", 10, rules));
    expect(
        &loaded,
        "x/a -> y/a tcp/80 deny\nx/a -> ip:10.0.2.200 tcp/80 deny\nx/a -> ip:8.8.8.8 tcp/80 allow\nx/a -> x/b tcp/80 allow",
    );
}

#[test]
fn nodes_peer_warns_and_matches_nothing() {
    let rules = "  egress:
  - {action: Deny, to: [{nodes: {}}]}
";
    let loaded = load(&anp("deny-nodes", 10, rules));
    assert_eq!(codes(&loaded), ["moat::not-enforced"]);
    assert_eq!(loaded.diagnostics[0].severity, Severity::Warning);
    expect(
        &loaded,
        "x/a -> ip:192.168.0.1 tcp/10250 allow\nx/a -> y/a tcp/80 allow",
    );
}

#[test]
fn anp_ports_default_to_tcp() {
    let rules = "  ingress:
  - action: Deny
    from: [{namespaces: {}}]
    ports:
    - portNumber: {port: 80}
    - namedPort: dns
    - portRange: {protocol: TCP, start: 9000, end: 9100}
";
    let loaded = load(&anp("ports", 10, rules));
    expect(
        &loaded,
        "y/a -> x/a tcp/80 deny
y/a -> x/a udp/80 allow
y/a -> x/a udp/53 deny
y/a -> x/a tcp/53 allow
y/a -> x/a tcp/9090 deny
y/a -> x/a tcp/9101 allow
y/a -> x/a udp/9090 allow",
    );
}

#[test]
fn equal_priorities_that_overlap_are_a_warning() {
    let loaded = load(&(anp("one", 10, DENY_FROM_B) + &anp("two", 10, ALLOW_FROM_ALL)));
    assert_eq!(codes(&loaded), ["moat::equal-priority"]);
    assert!(!loaded.has_errors());
    // moat orders equal priorities by name, so `one` comes first.
    expect(&loaded, "x/b -> x/a tcp/80 deny");
}

#[test]
fn baseline_must_be_named_default() {
    let wrong =
        format!("{BANP}metadata: {{name: baseline}}\nspec:\n  subject: {{namespaces: {{}}}}\n");
    let loaded = load_any(&wrong);
    assert_eq!(codes(&loaded), ["moat::baseline-name"]);
    assert!(loaded.cluster.policies.is_empty());
}

#[test]
fn priority_must_be_within_0_to_1000() {
    let loaded = load_any(&anp("too-high", 1001, DENY_FROM_B));
    assert_eq!(codes(&loaded), ["moat::priority-out-of-range"]);
    let loaded = load(&anp("highest", 1000, DENY_FROM_B));
    assert_eq!(loaded.cluster.policies.len(), 1);
}

#[test]
fn baseline_cannot_pass() {
    let loaded = load_any(&banp(
        "  ingress:\n  - {action: Pass, from: [{namespaces: {}}]}\n",
    ));
    assert_eq!(codes(&loaded), ["moat::unknown-action"]);
    let help = loaded.diagnostics[0].help.as_deref().unwrap();
    assert!(help.contains("nothing to pass to"), "{help}");
}

#[test]
fn policy_kinds_count_only_from_their_own_group() {
    let foreign = "apiVersion: crd.antrea.io/v1beta1
kind: NetworkPolicy
metadata: {name: other, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: example.com/v1
kind: AdminNetworkPolicy
metadata: {name: other}
spec: {priority: 1}
";
    let loaded = load(foreign);
    assert!(loaded.cluster.policies.is_empty());
    assert_eq!(
        codes(&loaded),
        ["moat::foreign-policy-kind", "moat::foreign-policy-kind"]
    );
    assert_eq!(loaded.skipped.get("NetworkPolicy"), Some(&1));
    expect(&loaded, "y/a -> x/a tcp/80 allow");
}

#[test]
fn older_namespaces_form_reads_the_same() {
    let rules = "  ingress:
  - action: Deny
    from:
    - pods:
        namespaces: {namespaceSelector: {matchLabels: {team: blue}}}
        podSelector: {matchLabels: {pod: b}}
";
    let loaded = load(&anp("legacy", 10, rules));
    assert_eq!(codes(&loaded), ["moat::legacy-field"]);
    expect(
        &loaded,
        "y/b -> x/a tcp/80 deny\ny/a -> x/a tcp/80 allow\nx/b -> x/a tcp/80 allow",
    );
}

#[test]
fn rule_sections_name_the_manifest_field() {
    let loaded = load(&anp("deny-b", 10, DENY_FROM_B));
    let policy = &loaded.cluster.policies[0];
    assert_eq!(policy.key(), "deny-b");
    assert_eq!(policy.rule_section(&policy.rules[0]), "ingress");
}

#[test]
fn equal_priorities_in_other_directions_are_quiet() {
    let egress = "  egress:\n  - {action: Deny, to: [{namespaces: {}}]}\n";
    let loaded = load(&(anp("ingress-only", 10, DENY_FROM_B) + &anp("egress-only", 10, egress)));
    assert!(loaded.diagnostics.is_empty());
}

#[test]
fn named_port_rejects_network_peers() {
    let rules = "  egress:
  - action: Deny
    to: [{networks: [10.0.0.0/8]}]
    ports: [{namedPort: http}]
";
    let loaded = load_any(&anp("named-net", 10, rules));
    assert_eq!(codes(&loaded), ["moat::named-port-without-pods"]);
}
