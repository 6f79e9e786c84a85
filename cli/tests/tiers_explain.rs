//! `moat query` names the deciding rule of every policy kind, and the Pass rules before it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code fails loudly on broken fixtures"
)]

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `moat query` on a conformance case and returns its standard output.
fn query(case: &str, from: &str, to: &str, port: &str) -> String {
    let dir = format!("testdata/conformance/{case}");
    let out = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["query", &dir, "--from", from, "--to", to, "--port", port])
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn pass_rule_shows_in_chain() {
    let text = query(
        "npapi-conformance/a2-anp-np-banp-integration/step2",
        "network-policy-conformance-slytherin/draco-malfoy-0",
        "network-policy-conformance-gryffindor/harry-potter-0",
        "tcp/80",
    );
    assert!(text.contains(": allow\n"), "{text}");
    assert!(
        text.contains("allowed by NetworkPolicy network-policy-conformance-gryffindor/allow-gress-from-to-slytherin-to-gryffindor ingress[0]"),
        "{text}"
    );
    assert!(
        text.contains("passed on by AdminNetworkPolicy pass-example ingress[0]"),
        "{text}"
    );
}

#[test]
fn baseline_rule_decides_after_pass() {
    let text = query(
        "netpol-analyzer/n5-anp_and_banp_using_networks_test",
        "ns2/pod1-0",
        "ip:1.1.1.1",
        "tcp/80",
    );
    assert!(text.contains(": deny\n"), "{text}");
    assert!(
        text.contains("denied by BaselineAdminNetworkPolicy default egress[0]"),
        "{text}"
    );
    assert!(
        text.contains("passed on by AdminNetworkPolicy network-as-egress-peer egress[3]"),
        "{text}"
    );
}

#[test]
fn admin_deny_names_its_rule() {
    let text = query(
        "npapi-conformance/a2-anp-np-banp-integration/step1",
        "network-policy-conformance-slytherin/draco-malfoy-0",
        "network-policy-conformance-gryffindor/harry-potter-0",
        "tcp/80",
    );
    assert!(
        text.contains("denied by AdminNetworkPolicy pass-example ingress[0]"),
        "{text}"
    );
}
