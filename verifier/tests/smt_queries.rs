//! SMT queries on small manifests: each property once true and once false.

use moat_ir::{Cluster, LoadOptions, RuleRef, load_str};
use moat_verifier::smt::query::{
    Cover, conflicts, contained, equivalent, redundant_policies, redundant_rules,
    selector_satisfiable, shadowed_rules,
};
use moat_verifier::smt::{Answer, EndWitness, Scope};

const PODS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {env: prod}}
---
apiVersion: v1
kind: Namespace
metadata: {name: dev, labels: {env: dev}}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: prod, labels: {app: api}}
spec: {containers: [{name: c, image: x, ports: [{containerPort: 8080, name: http}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: prod, labels: {app: web}}
spec: {containers: [{name: c, image: x}]}
"#;

fn cluster(policies: &str) -> Cluster {
    let text = format!("{PODS}\n---\n{policies}");
    let loaded = load_str("test.yaml", &text, &LoadOptions::default());
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.one_line())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    loaded.cluster
}

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

const API_FROM_WEB_NAMED: &str = r#"
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-from-web, namespace: prod}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: http}]
"#;

#[test]
fn equivalence_holds_on_existing_pods_only() {
    let numbered = cluster(API_FROM_WEB);
    let named = cluster(API_FROM_WEB_NAMED);
    assert_eq!(
        equivalent(&numbered, &named, Scope::Existing),
        Answer::Holds
    );
    let Answer::Counterexample(witness) = equivalent(&numbered, &named, Scope::AnyPod) else {
        panic!("a new api pod with another http port must tell them apart");
    };
    let EndWitness::Pod {
        existing, labels, ..
    } = &witness.dst
    else {
        panic!("destination must be a pod: {witness}");
    };
    assert_eq!(existing, &None, "{witness}");
    assert_eq!(
        labels.get("app").map(String::as_str),
        Some("api"),
        "{witness}"
    );
}

#[test]
fn containment_in_both_directions() {
    let open = cluster("");
    let closed = cluster(API_FROM_WEB);
    assert_eq!(contained(&closed, &open, Scope::AnyPod), Answer::Holds);
    assert!(matches!(
        contained(&open, &closed, Scope::AnyPod),
        Answer::Counterexample(_)
    ));
}

#[test]
fn redundant_rule_and_policy_found() {
    let twice = format!(
        "{API_FROM_WEB}\n---\n{}",
        API_FROM_WEB.replace("name: api-from-web", "name: copy")
    );
    let both = cluster(&twice);
    let rules = redundant_rules(&both, Scope::AnyPod);
    assert_eq!(
        rules,
        vec![
            RuleRef { policy: 0, rule: 0 },
            RuleRef { policy: 1, rule: 0 }
        ]
    );
    assert_eq!(redundant_policies(&both, Scope::AnyPod), vec![0, 1]);
    let single = cluster(API_FROM_WEB);
    assert!(redundant_rules(&single, Scope::AnyPod).is_empty());
    assert!(redundant_policies(&single, Scope::AnyPod).is_empty());
}

const ADMIN: &str = r#"
apiVersion: policy.networking.k8s.io/v1alpha1
kind: AdminNetworkPolicy
metadata: {name: guard}
spec:
  priority: 10
  subject: {namespaces: {matchLabels: {env: prod}}}
  ingress:
  - name: deny-dev
    action: Deny
    from: [{namespaces: {matchLabels: {env: dev}}}]
  - name: allow-dev-web
    action: Allow
    from: [{pods: {namespaceSelector: {matchLabels: {env: dev}}, podSelector: {matchLabels: {app: web}}}}]
"#;

#[test]
fn shadowed_rule_names_its_cover() {
    let shadowed = shadowed_rules(&cluster(ADMIN), Scope::AnyPod);
    assert_eq!(shadowed.len(), 1, "{shadowed:?}");
    let first = shadowed.first().unwrap();
    assert_eq!(first.rule, RuleRef { policy: 0, rule: 1 });
    assert_eq!(
        first.covered_by,
        vec![Cover::Rule {
            rule: RuleRef { policy: 0, rule: 0 }
        }]
    );
    assert!(shadowed_rules(&cluster(API_FROM_WEB), Scope::AnyPod).is_empty());
}

#[test]
fn conflict_between_tiers_has_witness() {
    let text = format!(
        "{ADMIN}\n---\n{}",
        API_FROM_WEB.replace("app: web}}}]", "app: web}}, namespaceSelector: {}}]")
    );
    let found = conflicts(&cluster(&text), Scope::AnyPod);
    assert!(!found.is_empty());
    let conflict = found.iter().find(|c| c.allow.policy == 1).unwrap();
    let EndWitness::Pod {
        namespace_labels, ..
    } = &conflict.witness.src
    else {
        panic!("source must be a pod");
    };
    assert_eq!(namespace_labels.get("env").map(String::as_str), Some("dev"));
    assert!(conflicts(&cluster(API_FROM_WEB), Scope::AnyPod).is_empty());
}

#[test]
fn contradictory_selector_is_unsatisfiable() {
    use moat_ir::selector::{LabelSelector, Operator, Requirement};
    let req = |operator, values: &[&str]| Requirement {
        key: "app".into(),
        operator,
        values: values.iter().map(|v| v.to_string()).collect(),
    };
    let contradiction = LabelSelector {
        requirements: vec![req(Operator::In, &["a"]), req(Operator::NotIn, &["a"])],
    };
    let fine = LabelSelector {
        requirements: vec![req(Operator::In, &["a", "b"]), req(Operator::NotIn, &["a"])],
    };
    let absent = LabelSelector {
        requirements: vec![req(Operator::Exists, &[]), req(Operator::DoesNotExist, &[])],
    };
    assert!(!selector_satisfiable(&contradiction));
    assert!(selector_satisfiable(&fine));
    assert!(!selector_satisfiable(&absent));
}
