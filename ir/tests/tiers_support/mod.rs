//! A small cluster and checks shared by the tier tests.

// Test helpers: a bad fixture should fail the test right there.
#![allow(clippy::expect_used)]

use moat_ir::conformance::{check_case, evaluator_judge, parse_expected};
use moat_ir::{Cluster, Flow, FlowEnd, LoadOptions, Loaded, Protocol, Verdict, load_str, verdict};

/// Namespaces `x` (team=red) and `y` (team=blue); pods `x/a`, `x/b`, `y/a`,
/// `y/b`, each labelled `pod: <name>`, with the ports `http` TCP 80, `dns`
/// UDP 53 and `metrics` TCP 9090. Pod IPs are 10.0.1.1, 10.0.1.2, 10.0.2.1, 10.0.2.2.
pub fn base() -> String {
    let mut text = String::new();
    for (ns, team) in [("x", "red"), ("y", "blue")] {
        text += &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{team: {team}}}}}\n---\n"
        );
    }
    let pods = [
        ("x", "a", "10.0.1.1"),
        ("x", "b", "10.0.1.2"),
        ("y", "a", "10.0.2.1"),
        ("y", "b", "10.0.2.2"),
    ];
    for (ns, name, ip) in pods {
        text += &format!(
            "apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}, labels: {{pod: {name}}}}}
spec:
  containers:
  - name: main
    image: busybox
    ports:
    - {{name: http, containerPort: 80}}
    - {{name: dns, containerPort: 53, protocol: UDP}}
    - {{name: metrics, containerPort: 9090}}
status: {{podIP: {ip}}}
---
"
        );
    }
    text
}

/// Loads the base cluster and `policies`, whatever the diagnostics.
pub fn load_any(policies: &str) -> Loaded {
    load_str(
        "test.yaml",
        &format!("{}{policies}", base()),
        &LoadOptions::default(),
    )
}

/// Loads the base cluster and `policies`, which must raise no error.
pub fn load(policies: &str) -> Loaded {
    let loaded = load_any(policies);
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.one_line())
        .collect();
    assert!(
        errors.is_empty(),
        "unexpected errors:\n{}",
        errors.join("\n")
    );
    loaded
}

/// Checks lines such as `x/b -> x/a tcp/80 deny` or `x/a -> ip:8.8.8.8 udp/53 allow`.
pub fn expect(loaded: &Loaded, lines: &str) {
    let expectations = parse_expected(lines).expect("expectation lines parse");
    assert!(!expectations.is_empty(), "no expectation lines");
    let mismatches = check_case(&loaded.cluster, &expectations, &evaluator_judge);
    let text: Vec<String> = mismatches
        .iter()
        .map(|m| format!("line {}: {}", m.line, m.message))
        .collect();
    assert!(mismatches.is_empty(), "mismatches:\n{}", text.join("\n"));
}

/// Diagnostic codes, in report order.
pub fn codes(loaded: &Loaded) -> Vec<&'static str> {
    loaded.diagnostics.iter().map(|d| d.code).collect()
}

/// The full verdict of one TCP flow between two pods given as `ns/name`.
pub fn judge(cluster: &Cluster, src: &str, dst: &str, port: u16) -> Verdict {
    let flow = Flow {
        src: pod(cluster, src),
        dst: pod(cluster, dst),
        protocol: Protocol::Tcp,
        port,
    };
    verdict(cluster, &flow)
}

fn pod(cluster: &Cluster, key: &str) -> FlowEnd {
    let index = cluster
        .pods
        .iter()
        .position(|p| p.key() == key)
        .expect("pod exists");
    FlowEnd::Pod(index)
}
