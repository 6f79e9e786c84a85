//! CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy at L3/L4.

#[allow(dead_code)]
mod tiers_support;

use moat_ir::{PolicyKind, Reason};
use tiers_support::{codes, expect, judge, load, load_any};

/// Builds a CiliumNetworkPolicy in `x` with one rule under `spec`.
fn cnp(name: &str, rule: &str) -> String {
    format!(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: {name}, namespace: x}}\nspec:\n{rule}---\n"
    )
}

/// Builds a CiliumClusterwideNetworkPolicy with one rule under `spec`.
fn ccnp(name: &str, rule: &str) -> String {
    format!(
        "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {{name: {name}}}\nspec:\n{rule}---\n"
    )
}

const SELECT_A: &str = "  endpointSelector: {matchLabels: {pod: a}}\n";

#[test]
fn endpoints_default_to_policy_namespace() {
    let rule = format!("{SELECT_A}  ingress:\n  - fromEndpoints: [{{matchLabels: {{pod: b}}}}]\n");
    let loaded = load(&cnp("from-b", &rule));
    // y/a is not selected: the endpoint selector stays in the policy's namespace.
    expect(
        &loaded,
        "x/b -> x/a tcp/80 allow\ny/b -> x/a tcp/80 deny\nx/a -> x/b tcp/80 allow\nx/b -> y/a tcp/80 allow",
    );
}

#[test]
fn namespace_label_selects_other_namespaces() {
    let rule = format!(
        "{SELECT_A}  ingress:\n  - fromEndpoints: [{{matchLabels: {{k8s:io.kubernetes.pod.namespace: y, k8s:pod: b}}}}]\n"
    );
    let loaded = load(&cnp("from-y-b", &rule));
    expect(
        &loaded,
        "y/b -> x/a tcp/80 allow\nx/b -> x/a tcp/80 deny\ny/a -> x/a tcp/80 deny",
    );

    let by_label = format!(
        "{SELECT_A}  ingress:\n  - fromEndpoints: [{{matchLabels: {{io.cilium.k8s.namespace.labels.team: blue}}}}]\n"
    );
    let loaded = load(&cnp("from-blue", &by_label));
    expect(&loaded, "y/a -> x/a tcp/80 allow\nx/b -> x/a tcp/80 deny");
}

#[test]
fn clusterwide_endpoints_span_every_namespace() {
    let rule = format!("{SELECT_A}  ingress:\n  - fromEndpoints: [{{matchLabels: {{pod: b}}}}]\n");
    let loaded = load(&ccnp("from-any-b", &rule));
    assert_eq!(
        loaded.cluster.policies[0].kind,
        PolicyKind::CiliumClusterwideNetworkPolicy
    );
    expect(
        &loaded,
        "x/b -> x/a tcp/80 allow\ny/b -> x/a tcp/80 allow\ny/b -> y/a tcp/80 allow\nx/a -> y/a tcp/80 deny",
    );
}

#[test]
fn cidr_sets_honour_except() {
    let rule = format!(
        "{SELECT_A}  egress:\n  - toCIDRSet: [{{cidr: 192.0.2.0/24, except: [192.0.2.128/25]}}]\n  - toCIDR: [198.51.100.7]\n"
    );
    let loaded = load(&cnp("cidrs", &rule));
    expect(
        &loaded,
        "x/a -> ip:192.0.2.1 tcp/443 allow
x/a -> ip:192.0.2.200 tcp/443 deny
x/a -> ip:198.51.100.7 udp/53 allow
x/a -> ip:198.51.100.8 udp/53 deny
x/a -> x/b tcp/80 deny",
    );
}

#[test]
fn entities_world_cluster_and_all() {
    let world = format!("{SELECT_A}  egress:\n  - toEntities: [world]\n");
    let loaded = load(&cnp("world", &world));
    expect(
        &loaded,
        "x/a -> ip:8.8.8.8 tcp/443 allow\nx/a -> y/a tcp/80 deny",
    );

    let cluster = format!("{SELECT_A}  egress:\n  - toEntities: [cluster]\n");
    let loaded = load(&cnp("cluster", &cluster));
    expect(
        &loaded,
        "x/a -> ip:8.8.8.8 tcp/443 deny\nx/a -> y/a tcp/80 allow",
    );

    let all = format!("{SELECT_A}  ingress:\n  - fromEntities: [all]\n");
    let loaded = load(&cnp("all", &all));
    expect(
        &loaded,
        "ip:8.8.8.8 -> x/a tcp/80 allow\ny/b -> x/a udp/53 allow",
    );
}

#[test]
fn ports_default_to_any_protocol() {
    let range = format!(
        "{SELECT_A}  egress:\n  - toPorts: [{{ports: [{{port: \"9000\", endPort: 9100}}]}}]\n"
    );
    let loaded = load(&cnp("range", &range));
    // No L3 field: the ports apply to every peer.
    expect(
        &loaded,
        "x/a -> y/a tcp/9090 allow\nx/a -> y/a udp/9050 allow\nx/a -> ip:8.8.8.8 tcp/9100 allow\nx/a -> y/a tcp/9101 deny",
    );

    let named = format!(
        "{SELECT_A}  ingress:\n  - fromEndpoints: [{{}}]\n    toPorts: [{{ports: [{{port: http, protocol: TCP}}]}}]\n"
    );
    let loaded = load(&cnp("named", &named));
    expect(
        &loaded,
        "x/b -> x/a tcp/80 allow\nx/b -> x/a tcp/9090 deny\ny/b -> x/a tcp/80 deny",
    );
}

#[test]
fn deny_wins_over_allow_of_any_kind() {
    let rule = format!(
        "{SELECT_A}  ingress:\n  - fromEntities: [all]\n  ingressDeny:\n  - fromEndpoints: [{{matchLabels: {{pod: b}}}}]\n"
    );
    let loaded = load(&cnp("deny-b", &rule));
    expect(&loaded, "x/b -> x/a tcp/80 deny\ny/b -> x/a tcp/80 allow");

    let netpol_allow_all = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all, namespace: x}
spec:
  podSelector: {}
  ingress: [{}]
---
";
    let deny_only =
        format!("{SELECT_A}  ingressDeny:\n  - fromEndpoints: [{{matchLabels: {{pod: b}}}}]\n");
    let loaded = load(&(cnp("deny-b", &deny_only) + netpol_allow_all));
    expect(&loaded, "x/b -> x/a tcp/80 deny\ny/a -> x/a tcp/80 allow");

    let verdict = judge(&loaded.cluster, "x/b", "x/a", 80);
    let Reason::Rule(rule) = verdict.ingress.reason else {
        panic!("a rule decides")
    };
    let policy = &loaded.cluster.policies[rule.policy];
    assert_eq!(policy.rule_section(&policy.rules[rule.rule]), "ingressDeny");
}

#[test]
fn section_isolates_its_direction() {
    let deny_only =
        format!("{SELECT_A}  ingressDeny:\n  - fromEndpoints: [{{matchLabels: {{pod: b}}}}]\n");
    let loaded = load(&cnp("deny-b", &deny_only));
    expect(
        &loaded,
        "x/b -> x/a tcp/80 deny\ny/a -> x/a tcp/80 deny\nx/a -> y/a tcp/80 allow",
    );

    let empty = format!("{SELECT_A}  ingress:\n  - {{}}\n");
    let loaded = load(&cnp("deny-all", &empty));
    expect(
        &loaded,
        "x/b -> x/a tcp/80 deny\nip:8.8.8.8 -> x/a tcp/80 deny",
    );
}

#[test]
fn enable_default_deny_false_keeps_other_traffic() {
    let rule = format!(
        "{SELECT_A}  enableDefaultDeny: {{ingress: false}}\n  ingressDeny:\n  - fromEndpoints: [{{matchLabels: {{pod: b}}}}]\n"
    );
    let loaded = load(&cnp("deny-b-only", &rule));
    expect(&loaded, "x/b -> x/a tcp/80 deny\ny/a -> x/a tcp/80 allow");
}

#[test]
fn layer7_rules_warn_and_layer4_is_enforced() {
    let rule = format!(
        "{SELECT_A}  ingress:
  - fromEndpoints: [{{matchLabels: {{pod: b}}}}]
    toPorts:
    - ports: [{{port: \"80\", protocol: TCP}}]
      rules:
        http: [{{method: GET, path: /}}]
"
    );
    let loaded = load(&cnp("http", &rule));
    assert_eq!(codes(&loaded), ["moat::not-enforced"]);
    let at = loaded.diagnostics[0].origin.as_ref().unwrap();
    assert!(
        at.file.text[at.offset..].starts_with("rules:"),
        "points at the L7 rules"
    );
    expect(&loaded, "x/b -> x/a tcp/80 allow\nx/b -> x/a tcp/9090 deny");
}

#[test]
fn fqdn_peers_warn_and_match_nothing() {
    let rule = format!("{SELECT_A}  egress:\n  - toFQDNs: [{{matchName: example.com}}]\n");
    let loaded = load(&cnp("fqdn", &rule));
    assert_eq!(codes(&loaded), ["moat::not-enforced"]);
    expect(
        &loaded,
        "x/a -> ip:93.184.216.34 tcp/443 deny\nx/a -> y/a tcp/80 deny",
    );
}

#[test]
fn specs_hold_several_rules() {
    let text = "apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: two, namespace: x}
specs:
- endpointSelector: {matchLabels: {pod: a}}
  ingress:
  - fromEndpoints: [{matchLabels: {pod: b}}]
- endpointSelector: {matchLabels: {pod: b}}
  egress:
  - toEntities: [world]
";
    let loaded = load(text);
    assert_eq!(loaded.cluster.policies.len(), 2);
    expect(
        &loaded,
        "x/b -> x/a tcp/80 deny\nx/b -> ip:8.8.8.8 tcp/443 allow\ny/a -> x/a tcp/80 deny",
    );
}

#[test]
fn unknown_entity_suggests_the_closest() {
    let rule = format!("{SELECT_A}  egress:\n  - toEntities: [wrold]\n");
    let loaded = load_any(&cnp("typo", &rule));
    assert_eq!(codes(&loaded), ["moat::unknown-entity"]);
    assert_eq!(
        loaded.diagnostics[0].help.as_deref(),
        Some("did you mean `world`?")
    );
}

#[test]
fn cidr_peers_never_match_pods() {
    // 10.0.0.0/8 holds every pod IP of the base cluster. Cilium selects
    // endpoints by identity only, so neither CIDR form admits a pod, even
    // though the default settings let a NetworkPolicy ipBlock match pod IPs.
    let rule = format!(
        "{SELECT_A}  egress:\n  - toCIDR: [10.0.0.0/8]\n  - toCIDRSet: [{{cidr: 10.0.0.0/8}}]\n"
    );
    let loaded = load(&cnp("to-tens", &rule));
    expect(
        &loaded,
        "x/a -> x/b tcp/80 deny\nx/a -> y/a tcp/80 deny\nx/a -> ip:10.9.9.9 tcp/80 allow",
    );

    let netpol = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: to-tens, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 10.0.0.0/8}}]
---
";
    expect(
        &load(netpol),
        "x/a -> x/b tcp/80 allow\nx/a -> ip:10.9.9.9 tcp/80 allow",
    );
}
