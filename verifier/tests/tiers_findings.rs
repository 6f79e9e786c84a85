//! Findings across policy tiers: a NetworkPolicy allow that an
//! AdminNetworkPolicy deny shadows, and admin policies of equal priority
//! whose allow and deny rules overlap, each with a witness flow that the
//! reference evaluator confirms.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "helpers of a test fail it by panicking"
)]

use moat_ir::{Cluster, Flow, FlowEnd, LoadOptions, RuleRef, load_str, verdict};
use moat_verifier::smt::query::{Conflict, Cover, conflicts, shadowed_rules};
use moat_verifier::smt::{EndWitness, Scope};

const PODS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {env: prod}}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: prod, labels: {app: api}}
spec: {containers: [{name: c, image: x, ports: [{containerPort: 8080}]}]}
status: {podIP: 10.244.0.10}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: prod, labels: {app: web}}
spec: {containers: [{name: c, image: x}]}
status: {podIP: 10.244.0.11}
"#;

/// The allow rule under test: web may reach api on tcp/8080.
const API_FROM_WEB: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-from-web, namespace: prod}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 8080}]
"#;

/// Denies every ingress to api pods in prod, above the NetworkPolicy tier.
const DENY_API: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: lock-api}
spec:
  priority: 10
  subject:
    pods:
      namespaceSelector: {matchLabels: {env: prod}}
      podSelector: {matchLabels: {app: api}}
  ingress:
  - name: deny-all
    action: Deny
    from: [{namespaces: {}}]
"#;

/// Allows web to api at the same priority as `lock-api`.
const ALLOW_WEB_SAME_PRIORITY: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: open-api}
spec:
  priority: 10
  subject:
    pods:
      namespaceSelector: {matchLabels: {env: prod}}
      podSelector: {matchLabels: {app: api}}
  ingress:
  - name: allow-web
    action: Allow
    from:
    - pods:
        namespaceSelector: {}
        podSelector: {matchLabels: {app: web}}
"#;

fn cluster(documents: &[&str]) -> Cluster {
    let text = [PODS]
        .iter()
        .chain(documents)
        .copied()
        .collect::<Vec<_>>()
        .join("\n---\n");
    let loaded = load_str("tiers.yaml", &text, &LoadOptions::default());
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.one_line())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    loaded.cluster
}

fn policy_index(cluster: &Cluster, name: &str) -> usize {
    cluster
        .policies
        .iter()
        .position(|p| p.name == name)
        .unwrap()
}

/// The witness as a flow between existing pods, judged by the evaluator.
fn judge_witness(cluster: &Cluster, conflict: &Conflict) -> bool {
    let end = |end: &EndWitness| match end {
        EndWitness::Pod {
            existing: Some(key),
            ..
        } => {
            let (ns, name) = key.split_once('/').unwrap();
            FlowEnd::Pod(cluster.pod_index(ns, name).unwrap())
        }
        other => panic!("witness end is not an existing pod: {other:?}"),
    };
    let flow = Flow {
        src: end(&conflict.witness.src),
        dst: end(&conflict.witness.dst),
        protocol: conflict.witness.protocol,
        port: conflict.witness.port,
    };
    verdict(cluster, &flow).allowed
}

#[test]
fn admin_deny_shadows_network_policy_allow() {
    let cluster = cluster(&[API_FROM_WEB, DENY_API]);
    let allow = RuleRef {
        policy: policy_index(&cluster, "api-from-web"),
        rule: 0,
    };
    let deny = RuleRef {
        policy: policy_index(&cluster, "lock-api"),
        rule: 0,
    };

    let shadowed = shadowed_rules(&cluster, Scope::Existing);
    let found = shadowed.iter().find(|s| s.rule == allow);
    let found = found.unwrap_or_else(|| panic!("allow rule not shadowed: {shadowed:?}"));
    assert_eq!(found.covered_by, vec![Cover::Rule { rule: deny }]);

    let overlaps = conflicts(&cluster, Scope::Existing);
    let conflict = overlaps.iter().find(|c| c.allow == allow && c.deny == deny);
    let conflict = conflict.unwrap_or_else(|| panic!("no witness: {overlaps:?}"));
    assert_eq!(conflict.witness.port, 8080);
    assert!(
        !judge_witness(&cluster, conflict),
        "the deny must decide the witness"
    );
}

#[test]
fn allow_alone_is_not_shadowed() {
    let cluster = cluster(&[API_FROM_WEB]);
    assert!(shadowed_rules(&cluster, Scope::Existing).is_empty());
    assert!(conflicts(&cluster, Scope::Existing).is_empty());
}

#[test]
fn equal_priority_admin_overlap_has_witness() {
    let cluster = cluster(&[DENY_API, ALLOW_WEB_SAME_PRIORITY]);
    let allow = RuleRef {
        policy: policy_index(&cluster, "open-api"),
        rule: 0,
    };
    let deny = RuleRef {
        policy: policy_index(&cluster, "lock-api"),
        rule: 0,
    };

    let overlaps = conflicts(&cluster, Scope::Existing);
    let conflict = overlaps.iter().find(|c| c.allow == allow && c.deny == deny);
    let conflict = conflict.unwrap_or_else(|| panic!("no equal-priority conflict: {overlaps:?}"));
    let EndWitness::Pod { labels, .. } = &conflict.witness.src else {
        panic!("source must be a pod");
    };
    assert_eq!(labels.get("app").map(String::as_str), Some("web"));
}

#[test]
fn different_priorities_do_not_conflict() {
    let later = ALLOW_WEB_SAME_PRIORITY.replace("priority: 10", "priority: 20");
    let cluster = cluster(&[DENY_API, &later]);
    let allow = policy_index(&cluster, "open-api");
    let overlaps = conflicts(&cluster, Scope::Existing);
    assert!(
        overlaps.iter().all(|c| c.allow.policy != allow),
        "admin tiers of different priority are ordered, not conflicting: {overlaps:?}"
    );
}
