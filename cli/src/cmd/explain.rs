//! `moat explain`: the whole decision chain of one flow.

use std::fmt::Write as _;

use clap::Args;
use moat_ir::Flow;
use moat_verifier::explain::{Explanation, explain};
use moat_verifier::finding::{Finding, Severity};
use moat_verifier::output::Report;

use super::ci::{self, Output};
use crate::common::{EXIT_USAGE, Inputs};
use crate::flows::{parse_end, parse_port, resolve_end};

/// Show every tier, policy and rule that judges one flow, on both sides.
///
/// With --expect, a verdict other than the expected one also lists the
/// rules that would have to change, and exits 1.
#[derive(Args)]
#[command(
    after_help = "Example:\n  moat explain policies/demo-isolated --from default/client --to default/web-server --port tcp/80 --expect allow"
)]
pub struct ExplainArgs {
    #[command(flatten)]
    inputs: Inputs,

    /// Source: `namespace/pod` or `ip:<address>`.
    #[arg(long, value_name = "END")]
    from: String,

    /// Destination: `namespace/pod` or `ip:<address>`.
    #[arg(long, value_name = "END")]
    to: String,

    /// `tcp/80`, `udp/53` or `sctp/9000`.
    #[arg(long, value_name = "PROTO/PORT")]
    port: String,

    /// The verdict you expect: allow or deny.
    #[arg(long, value_name = "VERDICT")]
    expect: Option<String>,

    #[command(flatten)]
    output: Output,
}

pub fn run(args: &ExplainArgs) -> u8 {
    let expect = match args.expect.as_deref() {
        None => None,
        Some("allow") => Some(true),
        Some("deny") => Some(false),
        Some(other) => {
            eprintln!("error: --expect takes `allow` or `deny`, found `{other}`");
            return EXIT_USAGE;
        }
    };
    let loaded = match ci::load(&args.inputs) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let cluster = &loaded.cluster;
    let flow = (|| {
        let src = resolve_end(cluster, &parse_end(&args.from)?)?;
        let dst = resolve_end(cluster, &parse_end(&args.to)?)?;
        let (protocol, port) = parse_port(&args.port)?;
        Ok::<Flow, String>(Flow {
            src,
            dst,
            protocol,
            port,
        })
    })();
    let flow = match flow {
        Ok(flow) => flow,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let explanation = explain(cluster, &flow, expect);
    let verdict = if explanation.allowed {
        "allowed"
    } else {
        "denied"
    };
    let mut finding = Finding::new("flow-verdict", format!("{} is {verdict}", explanation.flow));
    if expect.is_some_and(|e| e != explanation.allowed) {
        finding = finding.with_severity(Severity::Error);
    }
    let mut report = Report::new("explain", vec![finding]);
    report.detail = serde_json::to_value(&explanation).ok();
    args.output.emit(&report, Some(text(&explanation)))
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
