//! Kernel conformance: every case of `testdata/conformance` brought up in a
//! sandbox, its expected verdicts compared with real packets.
//!
//! Cases are read with `moat_ir::conformance`, the reader every engine
//! shares. Port-form lines are probed as written. Connection-set lines
//! (`netpol-analyzer`) are probed on the ports the pods declare and the
//! ports the line names, with one outside address standing for an `ext:`
//! range. Loopback lines are left out: the kernel never sees a pod's
//! traffic to itself, because it never leaves the pod's namespace.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failed step fails the test that called it"
)]

mod sandbox_support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use moat_ir::conformance::{Case, ConnSet, End, Expectation, Expected, discover};
use moat_ir::{Cluster, LoadOptions, Protocol, load_paths};
use sandbox_support::{Sandbox, kernel_or_skip, repo};

/// Sandboxes brought up at once: two keep a 2-core machine busy without
/// starving the probes' timers.
const WORKERS: usize = 2;

/// Addresses tried first for an `ext:` range: documentation ranges that no
/// case's pods use.
const RANGE_SAMPLES: [Ipv4Addr; 3] = [
    Ipv4Addr::new(203, 0, 113, 77),
    Ipv4Addr::new(198, 51, 100, 77),
    Ipv4Addr::new(192, 0, 2, 77),
];

/// One flow to probe and the verdict the case expects for it.
struct Check {
    line: usize,
    flow: (String, String, String),
    allowed: bool,
}

/// What a case asks of the kernel.
#[derive(Default)]
struct Plan {
    checks: Vec<Check>,
    outside: BTreeSet<Ipv4Addr>,
    ports: BTreeSet<String>,
    /// Lines the kernel cannot check, with the reason.
    left_out: Vec<String>,
}

/// Totals over all cases.
#[derive(Default)]
struct Tally {
    cases: usize,
    checked: usize,
    /// Flows probed, expected or not, each compared with the evaluator.
    probed: usize,
    left_out: Vec<String>,
    failures: Vec<String>,
}

#[test]
fn conformance_cases_match_expected() {
    if !kernel_or_skip() {
        return;
    }
    let cases = discover(&repo().join("testdata/conformance")).unwrap();
    assert!(!cases.is_empty(), "no conformance cases found");
    let tally = Mutex::new(Tally::default());
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| {
                while let Some(case) = cases.get(next.fetch_add(1, Ordering::SeqCst)) {
                    run_case(case, &tally);
                }
            });
        }
    });

    let tally = tally.into_inner().unwrap();
    eprintln!(
        "conformance: {} cases, {} expected verdicts checked in the kernel, \
         {} probed flows compared with the evaluator, {} lines left out",
        tally.cases,
        tally.checked,
        tally.probed,
        tally.left_out.len()
    );
    for line in &tally.left_out {
        eprintln!("  left out: {line}");
    }
    assert_eq!(tally.cases, cases.len(), "a case did not run");
    assert!(
        tally.checked > 2000,
        "only {} expected verdicts found",
        tally.checked
    );
    assert!(
        tally.failures.is_empty(),
        "{} of {} flows differ:\n{}",
        tally.failures.len(),
        tally.checked,
        tally.failures.join("\n")
    );
}

/// Brings one case up, probes every port its lines need, and records each
/// line's outcome.
fn run_case(case: &Case, tally: &Mutex<Tally>) {
    let loaded = load_paths(&case.manifests(), &LoadOptions::default());
    let plan = plan(case, &loaded.cluster);
    let mut extra = Vec::new();
    for ip in &plan.outside {
        extra.extend(["--outside".to_string(), ip.to_string()]);
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let sandbox = Sandbox::up(&case.manifests(), &extra);
    let ports: Vec<&str> = plan.ports.iter().map(String::as_str).collect();
    let report = sandbox.probe_report(&ports);
    sandbox.finish();

    let observed = report.flows;
    let mut failures: Vec<String> = report
        .disagreements
        .iter()
        .map(|line| format!("{}: {line}", case.name))
        .collect();
    for check in &plan.checks {
        let (src, dst, port) = &check.flow;
        let expected = verdict_word(check.allowed);
        match observed.get(&check.flow) {
            Some(seen) if seen == expected => {}
            Some(seen) => failures.push(format!(
                "{}:{}: {src} -> {dst} {port}: kernel {seen}, expected {expected}",
                case.name, check.line
            )),
            None => failures.push(format!(
                "{}:{}: {src} -> {dst} {port} not probed",
                case.name, check.line
            )),
        }
    }
    let mut tally = tally.lock().unwrap();
    tally.cases += 1;
    tally.checked += plan.checks.len();
    tally.probed += observed.len();
    tally.failures.extend(failures);
    tally.left_out.extend(
        plan.left_out
            .into_iter()
            .map(|why| format!("{}: {why}", case.name)),
    );
}

fn plan(case: &Case, cluster: &Cluster) -> Plan {
    let mut plan = Plan::default();
    for e in &case.expectations {
        if e.loopback || (e.src == e.dst && matches!(e.src, End::Pod { .. })) {
            plan.left_out.push(format!(
                "line {}: a pod to itself never reaches the datapath",
                e.line
            ));
            continue;
        }
        let (Some(src), Some(dst)) = (end_name(cluster, &e.src), end_name(cluster, &e.dst)) else {
            plan.left_out.push(format!(
                "line {}: an `ext:` range with no address the sandbox can serve",
                e.line
            ));
            continue;
        };
        for end in [&src, &dst] {
            if let Some(ip) = end.strip_prefix("ip:") {
                plan.outside.insert(ip.parse().unwrap());
            }
        }
        for (port, allowed) in port_verdicts(cluster, e) {
            plan.ports.insert(port.clone());
            plan.checks.push(Check {
                line: e.line,
                flow: (src.clone(), dst.clone(), port),
                allowed,
            });
        }
    }
    plan
}

/// The ports a line is probed on, each with its expected verdict.
fn port_verdicts(cluster: &Cluster, e: &Expectation) -> Vec<(String, bool)> {
    let set = match &e.expected {
        Expected::Port {
            protocol,
            port,
            allowed,
        } => return vec![(proto_port(*protocol, *port), *allowed)],
        Expected::Set(set) => set,
    };
    let mut ports: BTreeSet<(Protocol, u16)> = match &e.dst {
        End::Pod { namespace, name } => declared_ports(cluster, Some((namespace, name))),
        _ => declared_ports(cluster, None),
    };
    if ports.is_empty() {
        ports.insert((Protocol::Tcp, 80));
    }
    if let ConnSet::Ports(list) = set {
        ports.extend(list.iter().copied());
    }
    ports
        .into_iter()
        .map(|(protocol, port)| {
            let allowed = match set {
                ConnSet::All => true,
                ConnSet::None => false,
                ConnSet::Ports(list) => list.contains(&(protocol, port)),
            };
            (proto_port(protocol, port), allowed)
        })
        .collect()
}

/// The container ports of one pod, or of every pod.
fn declared_ports(cluster: &Cluster, pod: Option<(&String, &String)>) -> BTreeSet<(Protocol, u16)> {
    cluster
        .pods
        .iter()
        .filter(|p| pod.is_none_or(|(ns, name)| &p.namespace == ns && &p.name == name))
        .flat_map(|p| p.ports.iter().map(|c| (c.protocol, c.port)))
        .collect()
}

/// The name of an end in the probe's output: `ns/pod` or `ip:<addr>`; an
/// `ext:` range becomes one address of it that no pod has.
fn end_name(cluster: &Cluster, end: &End) -> Option<String> {
    match end {
        End::Pod { namespace, name } => Some(format!("{namespace}/{name}")),
        End::Ip(ip) => Some(format!("ip:{ip}")),
        End::Range(first, last) => {
            range_sample(cluster, *first, *last).map(|ip| format!("ip:{ip}"))
        }
    }
}

fn range_sample(cluster: &Cluster, first: Ipv4Addr, last: Ipv4Addr) -> Option<Ipv4Addr> {
    let pod_ips: BTreeSet<IpAddr> = cluster.pods.iter().filter_map(|p| p.ip).collect();
    let start = u32::from(first);
    let near_ends = [start.saturating_add(1), u32::from(last).saturating_sub(1)];
    RANGE_SAMPLES
        .into_iter()
        .chain(near_ends.map(Ipv4Addr::from))
        .filter(|ip| first <= *ip && *ip <= last)
        .filter(|ip| !pod_ips.contains(&IpAddr::V4(*ip)))
        .find(|ip| routable(*ip))
}

/// Whether the sandbox can put an address on its outside namespace.
fn routable(ip: Ipv4Addr) -> bool {
    let first = ip.octets()[0];
    !(first == 0 || first >= 224 || ip.is_loopback() || ip.is_link_local())
}

fn proto_port(protocol: Protocol, port: u16) -> String {
    format!("{}/{port}", protocol.lower())
}

fn verdict_word(allowed: bool) -> &'static str {
    if allowed { "allow" } else { "deny" }
}
