//! `moat explain`: the whole decision chain of one flow.

use std::fmt::Write as _;

use clap::Args;
use moat_ir::service::backends;
use moat_ir::{Cluster, Flow, FlowEnd, Protocol};
use moat_verifier::describe::closest;
use moat_verifier::explain::{Explanation, explain};
use moat_verifier::finding::{Finding, Severity};
use moat_verifier::output::Report;

use super::ci::{self, Output};
use crate::common::{EXIT_FAILURE, EXIT_USAGE, Inputs};
use crate::flows::{EndSpec, parse_end, parse_port, resolve_end};

/// Show every tier, policy and rule that judges one flow, on both sides.
///
/// A service destination (`svc:ns/name`, or `ip:` of its ClusterIP) is
/// translated to its ready backends, and each backend flow is explained.
/// With --expect, a verdict other than the expected one (on any backend)
/// also lists the rules that would have to change, and exits 1.
///
/// Exit codes: 0 when the flow was explained and has the expected verdict.
/// 1 for errors in the input or results: a pod or service that does not
/// exist, or an unexpected verdict. 2 for usage errors: invalid option
/// values or end syntax, or a path that cannot be read.
#[derive(Args)]
#[command(
    after_help = "Examples:\n  moat explain policies/demo-isolated --from default/client-0 --to default/web-server-0 --port tcp/80 --expect allow\n  moat explain policies/demo-isolated --from default/client-0 --to svc:default/web-service --port tcp/80"
)]
pub struct ExplainArgs {
    #[command(flatten)]
    inputs: Inputs,

    /// Source: `namespace/pod` or `ip:<address>`.
    #[arg(long, value_name = "END")]
    from: String,

    /// Destination: `namespace/pod`, `ip:<address>` or `svc:namespace/name`.
    #[arg(long, value_name = "END")]
    to: String,

    /// `tcp/80`, `udp/53` or `sctp/9000`; for a service, its port.
    #[arg(long, value_name = "PROTO/PORT")]
    port: String,

    /// The verdict you expect: allow or deny.
    #[arg(long, value_name = "VERDICT")]
    expect: Option<String>,

    #[command(flatten)]
    output: Output,
}

/// The parsed ends and port of the command line.
struct Request {
    src: EndSpec,
    dst: EndSpec,
    protocol: Protocol,
    port: u16,
    expect: Option<bool>,
}

fn parse_request(args: &ExplainArgs) -> Result<Request, String> {
    let expect = match args.expect.as_deref() {
        None => None,
        Some("allow") => Some(true),
        Some("deny") => Some(false),
        Some(other) => {
            return Err(format!("--expect takes `allow` or `deny`, found `{other}`"));
        }
    };
    let src = parse_end(&args.from)?;
    if matches!(src, EndSpec::Service { .. }) {
        return Err(format!(
            "--from `{}`: a service can only be a destination",
            args.from
        ));
    }
    let (protocol, port) = parse_port(&args.port)?;
    Ok(Request {
        src,
        dst: parse_end(&args.to)?,
        protocol,
        port,
        expect,
    })
}

pub fn run(args: &ExplainArgs) -> u8 {
    let request = match parse_request(args) {
        Ok(request) => request,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let loaded = match ci::load(&args.inputs) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let cluster = &loaded.cluster;
    let target = match resolve(cluster, &request) {
        Ok(target) => target,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    let explanations: Vec<Explanation> = target
        .flows
        .iter()
        .map(|flow| explain(cluster, flow, request.expect))
        .collect();
    let findings = explanations
        .iter()
        .map(|e| finding(e, request.expect))
        .collect();
    let mut report = Report::new("explain", findings);
    report.detail = match (&target.service, explanations.as_slice()) {
        (None, [one]) => serde_json::to_value(one).ok(),
        (service, all) => Some(serde_json::json!({ "service": service, "backends": all })),
    };
    args.output
        .emit(&report, Some(service_text(&target, &explanations)))
}

/// The flows to explain: one, or one per backend of a service destination.
struct Target {
    /// `svc:ns/name tcp/80` when the destination is a service.
    service: Option<String>,
    flows: Vec<Flow>,
}

/// Resolves an end like [`resolve_end`], naming the closest pod when a
/// pod is not found.
fn resolve_pod_end(cluster: &Cluster, end: &EndSpec) -> Result<FlowEnd, String> {
    resolve_end(cluster, end).map_err(|e| {
        let EndSpec::Pod { namespace, name } = end else {
            return e;
        };
        let keys: Vec<String> = cluster.pods.iter().map(moat_ir::Pod::key).collect();
        let names: Vec<&str> = keys.iter().map(String::as_str).collect();
        match closest(&format!("{namespace}/{name}"), &names) {
            Some(close) => format!("{e}: did you mean `{close}`?"),
            None => e,
        }
    })
}

fn resolve(cluster: &Cluster, request: &Request) -> Result<Target, String> {
    let src = resolve_pod_end(cluster, &request.src)?;
    let service = match &request.dst {
        EndSpec::Service { namespace, name } => Some(
            cluster
                .service(namespace, name)
                .ok_or_else(|| format!("service `{namespace}/{name}` not found"))?,
        ),
        EndSpec::Ip(ip) => cluster.service_by_ip(*ip),
        EndSpec::Pod { .. } => None,
    };
    let Some(service) = service else {
        let flow = Flow {
            src,
            dst: resolve_pod_end(cluster, &request.dst)?,
            protocol: request.protocol,
            port: request.port,
        };
        return Ok(Target {
            service: None,
            flows: vec![flow],
        });
    };
    let service_port = format!(
        "svc:{} {}/{}",
        service.key(),
        request.protocol.lower(),
        request.port
    );
    let port = service
        .port_for(request.protocol, request.port)
        .ok_or_else(|| {
            format!(
                "service `{}` has no port {}/{}",
                service.key(),
                request.protocol.lower(),
                request.port
            )
        })?;
    let flows: Vec<Flow> = backends(cluster, service, port)
        .into_iter()
        .filter_map(|backend| {
            let dst = match (backend.pod, backend.ip) {
                (Some(i), _) => FlowEnd::Pod(i),
                (None, Some(ip)) => FlowEnd::External(ip),
                (None, None) => return None,
            };
            Some(Flow {
                src,
                dst,
                protocol: port.protocol,
                port: backend.port,
            })
        })
        .collect();
    if flows.is_empty() {
        return Err(format!("`{service_port}` has no ready backend"));
    }
    Ok(Target {
        service: Some(service_port),
        flows,
    })
}

fn finding(explanation: &Explanation, expect: Option<bool>) -> Finding {
    let verdict = if explanation.allowed {
        "allowed"
    } else {
        "denied"
    };
    let finding = Finding::new("flow-verdict", format!("{} is {verdict}", explanation.flow));
    if expect.is_some_and(|e| e != explanation.allowed) {
        return finding.with_severity(Severity::Error);
    }
    finding
}

/// Renders the explanation of each flow, under a line that names the
/// service and counts its backends when the destination is a service.
fn service_text(target: &Target, explanations: &[Explanation]) -> String {
    let mut out = String::new();
    if let Some(service) = &target.service {
        let _ = writeln!(
            out,
            "{service}: {} ready backend(s), each flow explained below\n",
            explanations.len()
        );
    }
    let parts: Vec<String> = explanations.iter().map(text).collect();
    out.push_str(&parts.join("\n"));
    out
}

fn text(e: &Explanation) -> String {
    let mut out = String::new();
    let verdict = if e.allowed { "ALLOWED" } else { "DENIED" };
    let _ = writeln!(out, "{}: {verdict}", e.flow);
    for side in &e.sides {
        let _ = writeln!(
            out,
            "\n{} at {}: {}",
            side.direction, side.subject, side.reason
        );
        for policy in &side.policies {
            let isolates = if policy.isolates { ", isolates" } else { "" };
            let _ = writeln!(
                out,
                "  {:?} tier: {} (priority {}{isolates})",
                policy.tier, policy.policy, policy.priority
            );
            for rule in &policy.rules {
                let mark = if rule.decided {
                    "=>"
                } else if rule.matched {
                    "+ "
                } else {
                    "- "
                };
                let at = rule
                    .location
                    .as_ref()
                    .map(|l| format!(" ({l})"))
                    .unwrap_or_default();
                let state = if rule.matched {
                    "matches"
                } else {
                    "does not match"
                };
                let _ = writeln!(
                    out,
                    "    {mark} {:?} {}{at}: {state}",
                    rule.action, rule.rule
                );
            }
        }
    }
    if !e.changes.is_empty() {
        let _ = writeln!(out, "\nto get the expected verdict, change:");
        for change in &e.changes {
            let at = change
                .location
                .as_ref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            let _ = writeln!(out, "  {}{at}: {}", change.target, change.how);
        }
    }
    out
}
