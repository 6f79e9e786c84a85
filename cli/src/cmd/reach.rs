//! `moat reach`: what a set of pods can reach, in one or more hops.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::{Command, Stdio};

use clap::Args;
use moat_verifier::finding::Finding;
use moat_verifier::graph::query::Reached;
use moat_verifier::graph::select::EndSelector;
use moat_verifier::graph::{Graph, dot};
use moat_verifier::output::{Format, Report};

use super::ci::{self, FailOn, Output};
use crate::common::{EXIT_FAILURE, EXIT_USAGE, Inputs};

/// List everything the --from pods can reach within --hops connections,
/// each with a shortest path.
///
/// Selectors are `[namespace/]labels` (`prod/app=web`, `app=web`, `prod/*`)
/// or `outside` for addresses outside the cluster.
///
/// Exit codes: 0 on success (unless --fail-on is given), 1 for errors in
/// the manifests or a selector naming a namespace that does not exist, 2
/// for usage errors (invalid selector syntax or options, a path that
/// cannot be read).
#[derive(Args)]
#[command(
    after_help = "Example:\n  moat reach policies/demo --from default/app=client --hops 3\n  moat reach policies/demo --from outside -o svg > reach.svg"
)]
pub struct ReachArgs {
    #[command(flatten)]
    inputs: Inputs,

    #[arg(long, value_name = "SELECTOR")]
    from: String,

    /// Keep only targets that this selector matches.
    #[arg(long, value_name = "SELECTOR")]
    to: Option<String>,

    /// Maximum number of connections in a path, at least 1.
    #[arg(long, default_value_t = 1, value_name = "N")]
    hops: usize,

    /// text, json, dot, svg (needs Graphviz `dot`), sarif, junit or github.
    #[arg(
        short = 'o',
        long = "output",
        visible_alias = "format",
        default_value = "text",
        value_name = "FORMAT"
    )]
    format: String,

    /// Exit with 1 when a finding has at least this severity.
    #[arg(long, default_value = "never", value_name = "SEVERITY")]
    fail_on: FailOn,
}

pub fn run(args: &ReachArgs) -> u8 {
    let from = EndSelector::parse(&args.from);
    let to = args.to.as_deref().map(EndSelector::parse).transpose();
    let (from, to) = match (from, to) {
        (Ok(from), Ok(to)) => (from, to),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    if args.hops == 0 {
        eprintln!("error: --hops must be at least 1, found 0");
        return EXIT_USAGE;
    }
    let loaded = match ci::load(&args.inputs) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    for selector in std::iter::once(&from).chain(to.as_ref()) {
        if let Err(e) = selector.check_namespace(&loaded.cluster) {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    }
    let graph = Graph::build(&loaded.cluster);
    let sources = from.nodes(&loaded.cluster, &graph);
    let mut reached = graph.reach(&sources, args.hops, None);
    if let Some(to) = &to {
        let targets = to.nodes(&loaded.cluster, &graph);
        reached.retain(|r| targets.contains(&r.node));
    }
    match args.format.as_str() {
        "dot" => {
            print!("{}", dot::render(&graph, &sources, &reached));
            0
        }
        "svg" => svg(&dot::render(&graph, &sources, &reached)),
        other => {
            let format: Format = match other.parse() {
                Ok(f) => f,
                Err(e) => {
                    eprintln!("error: {e}, dot or svg");
                    return EXIT_USAGE;
                }
            };
            let findings = reached
                .iter()
                .map(|r| {
                    Finding::new(
                        "reachable",
                        format!("{} reaches {} in {} hop(s)", args.from, r.target, r.hops),
                    )
                })
                .collect();
            let mut report = Report::new("reach", findings);
            report.detail = serde_json::to_value(&reached).ok();
            let output = Output {
                format,
                fail_on: args.fail_on,
            };
            output.emit(&report, Some(text(&args.from, sources.len(), &reached)))
        }
    }
}

fn text(from: &str, sources: usize, reached: &[Reached]) -> String {
    let mut out = String::new();
    if sources == 0 {
        let _ = writeln!(out, "no pod matches `{from}`");
        return out;
    }
    for target in reached {
        let _ = writeln!(out, "{} ({} hop(s))", target.target, target.hops);
        for hop in &target.path {
            let _ = writeln!(out, "    {} -> {} [{}]", hop.from, hop.to, hop.ports);
        }
    }
    let _ = writeln!(out, "{} target(s) reachable from `{from}`", reached.len());
    out
}

/// Pipes DOT through Graphviz; a clear error when `dot` is missing.
fn svg(source: &str) -> u8 {
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            eprintln!(
                "error: cannot run Graphviz `dot` ({e}); install the graphviz package (scripts/deps.sh) or use `-o dot`"
            );
            return EXIT_USAGE;
        }
    };
    if let Some(stdin) = child.stdin.as_mut() {
        let _ = stdin.write_all(source.as_bytes());
    }
    child.stdin.take();
    match child.wait() {
        Ok(status) if status.success() => 0,
        _ => {
            eprintln!("error: Graphviz `dot -Tsvg` failed");
            EXIT_USAGE
        }
    }
}
