//! Kernel tests of the policy kinds beyond NetworkPolicy: Cilium rules
//! probed against verdicts written from their semantics, and `moat monitor`
//! naming the AdminNetworkPolicy, BaselineAdminNetworkPolicy and
//! CiliumNetworkPolicy rule behind each drop.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failed step fails the test that called it"
)]

mod sandbox_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use moat_ir::conformance::{End, Expected, parse_expected};
use sandbox_support::{Sandbox, kernel_or_skip, moat, repo};

#[test]
fn cilium_endpoint_selector_admits_from_endpoints() {
    check_against_expected("testdata/sandbox/cilium-allow");
}

#[test]
fn cilium_ingress_deny_wins_over_allows() {
    check_against_expected("testdata/sandbox/cilium-deny");
}

#[test]
fn cilium_egress_cidr_set_world_and_port_range() {
    check_against_expected("testdata/sandbox/cilium-egress");
}

/// Brings the folder up, probes the ports its `expected.txt` names, and
/// checks that the kernel agrees with the evaluator on every flow and with
/// each expected line.
fn check_against_expected(folder: &str) {
    if !kernel_or_skip() {
        return;
    }
    let dir = repo().join(folder);
    let text = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
    let expected = parse_expected(&text).unwrap();
    let mut outside = BTreeSet::new();
    let mut ports = BTreeSet::new();
    let mut lines = Vec::new();
    for e in &expected {
        let Expected::Port {
            protocol,
            port,
            allowed,
        } = &e.expected
        else {
            panic!("{folder}: line {} is not in port form", e.line);
        };
        let port = format!("{}/{port}", protocol.lower());
        let verdict = if *allowed { "allow" } else { "deny" };
        lines.push(format!(
            "{} -> {} {port} {verdict}",
            end(&e.src, &mut outside),
            end(&e.dst, &mut outside)
        ));
        ports.insert(port);
    }

    let mut extra = Vec::new();
    for ip in &outside {
        extra.extend(["--outside".to_string(), ip.clone()]);
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let sandbox = Sandbox::up(&[dir], &extra);
    let mut probe = moat();
    probe.args(["sandbox", "probe", "--name", &sandbox.name, "-o", "flows"]);
    for port in &ports {
        probe.args(["--port", port]);
    }
    let output = probe.output().unwrap();
    let flows = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kernel and evaluator disagree: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen: BTreeSet<&str> = flows.lines().collect();
    let missing: Vec<&String> = lines
        .iter()
        .filter(|l| !seen.contains(l.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "expected lines the kernel contradicts:\n{missing:#?}\nkernel:\n{flows}"
    );
    eprintln!(
        "{folder}: {} expected lines held, {} flows agreed",
        lines.len(),
        seen.len()
    );
    sandbox.finish();
}

/// Returns the probe's name for an end and records outside addresses to serve.
fn end(end: &End, outside: &mut BTreeSet<String>) -> String {
    match end {
        End::Pod { namespace, name } => format!("{namespace}/{name}"),
        End::Ip(ip) => {
            outside.insert(ip.to_string());
            format!("ip:{ip}")
        }
        End::Range(..) => panic!("ranges have no single address to probe"),
    }
}

#[test]
fn monitor_names_tier_rules_of_drops() {
    if !kernel_or_skip() {
        return;
    }
    let dir = repo().join("testdata/sandbox/tiers-monitor");
    let sandbox = Sandbox::up(std::slice::from_ref(&dir), &[]);
    let events_path = std::env::temp_dir().join(format!("{}-tiers.json", sandbox.name));
    let mut monitor = sandbox.monitor(&events_path);
    std::thread::sleep(Duration::from_millis(300));
    for target in ["10.244.23.11", "10.244.23.12", "10.244.23.13"] {
        let answer = sandbox.connect("mon/a", target, "tcp/80", None);
        assert_eq!(answer, "timeout", "mon/a -> {target} was not dropped");
    }
    let allowed = sandbox.connect("mon/b", "10.244.23.12", "tcp/80", None);
    assert!(
        allowed.starts_with("connected"),
        "mon/b -> mon/c: {allowed}"
    );
    std::thread::sleep(Duration::from_millis(300));
    monitor.kill().unwrap();
    monitor.wait().unwrap();
    let events = std::fs::read_to_string(&events_path).unwrap();
    std::fs::remove_file(&events_path).unwrap();

    let policies = dir.join("policies.yaml");
    let cases = [
        (
            "mon/b",
            "AdminNetworkPolicy",
            "a-not-to-b",
            "- name: deny-to-b",
        ),
        (
            "mon/c",
            "BaselineAdminNetworkPolicy",
            "default",
            "- name: deny-from-a",
        ),
        (
            "mon/d",
            "CiliumNetworkPolicy",
            "mon/d-not-from-a",
            "- fromEndpoints:",
        ),
    ];
    for (destination, kind, policy, rule_line) in cases {
        let drop = dropped_towards(&events, destination);
        assert_eq!(drop["rule"]["kind"], kind, "{drop}");
        assert_eq!(drop["rule"]["policy"], policy, "{drop}");
        let location = drop["rule"]["location"].as_str().unwrap();
        let line = line_of(&policies, rule_line);
        assert!(
            location.ends_with(&format!("tiers-monitor/policies.yaml:{line}")),
            "{kind} drop at {location}, rule at line {line}"
        );
    }
    sandbox.finish();
}

/// Finds the first drop event of `mon/a` towards `destination`.
fn dropped_towards(events: &str, destination: &str) -> serde_json::Value {
    events
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|e| {
            e["verdict"] == "dropped"
                && e["source_pod"] == "mon/a"
                && e["destination_pod"] == destination
        })
        .unwrap_or_else(|| panic!("no drop towards {destination}: {events}"))
}

/// Returns the 1-based number of the only line of `path` that ends with `text`.
fn line_of(path: &Path, text: &str) -> usize {
    let content = std::fs::read_to_string(path).unwrap();
    let found: Vec<usize> = content
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_end().ends_with(text))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(found.len(), 1, "`{text}` in {}: {found:?}", path.display());
    found[0]
}
