//! Scale measurements of the verifier on synthetic clusters; prints wall
//! time and the process's peak resident memory (VmHWM).
//!
//! `cargo run --release -p moat-verifier --example scale -- <scenario>` with
//! scenario `build`, `lint`, `reach` or `equivalence`. `scripts/bench-verifier.sh`
//! runs them all.

use std::time::Instant;

use moat_ir::FlowEnd;
use moat_verifier::graph::Graph;
use moat_verifier::lint::{LintOptions, lint};
use moat_verifier::smt::{Scope, query};
use moat_verifier::synth::{Size, cluster};

const MEDIUM: Size = Size {
    namespaces: 100,
    apps: 18,
    pods: 10_000,
};
// NOTE: MEDIUM has 2010 policies: 100 namespaces x (2 + 18 apps) + 10 ops namespaces.
const LARGE: Size = Size {
    namespaces: 100,
    apps: 18,
    pods: 100_000,
};

fn peak_memory_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn report(name: &str, size: Size, pods: usize, seconds: f64) {
    println!(
        "{name}: {pods} pods, {} policies: {:.3} s, peak memory {:.0} MiB",
        size.policies(),
        seconds,
        peak_memory_mib()
    );
}

fn main() {
    let scenario = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "build".to_string());
    match scenario.as_str() {
        "build" => {
            let c = cluster(MEDIUM, 0);
            let start = Instant::now();
            let graph = Graph::build(&c);
            let seconds = start.elapsed().as_secs_f64();
            println!(
                "classes {}, edges {}",
                graph.classes.len(),
                graph.graph.edge_count()
            );
            report("graph build", MEDIUM, c.pods.len(), seconds);
        }
        "lint" => {
            let c = cluster(MEDIUM, 0);
            let smt = std::env::args().nth(2).as_deref() != Some("no-smt");
            let options = LintOptions {
                smt,
                scope: Scope::AnyPod,
            };
            let start = Instant::now();
            let findings = lint(&c, &options, &mut |step| {
                eprintln!("  step {step} at {:.1} s", start.elapsed().as_secs_f64())
            });
            let seconds = start.elapsed().as_secs_f64();
            println!("findings {} (smt checks: {smt})", findings.len());
            report("full lint", MEDIUM, c.pods.len(), seconds);
        }
        "reach" => {
            let c = cluster(LARGE, 0);
            let graph = Graph::build(&c);
            let source = graph
                .node_of(FlowEnd::Pod(0))
                .into_iter()
                .collect::<Vec<_>>();
            let start = Instant::now();
            let runs = 100;
            let mut found = 0;
            for _ in 0..runs {
                found = graph.reach_nodes(&source, 3, None).0.len();
            }
            let seconds = start.elapsed().as_secs_f64() / f64::from(runs);
            let paths = Instant::now();
            let described = graph.reach(&source, 3, None).len();
            println!(
                "with path texts for {described} targets: {:.3} s",
                paths.elapsed().as_secs_f64()
            );
            println!(
                "reached {found} nodes in up to 3 hops; classes {}",
                graph.classes.len()
            );
            report("reach query (mean of 100)", LARGE, c.pods.len(), seconds);
        }
        "equivalence" => {
            let old = cluster(MEDIUM, 0);
            let new = cluster(MEDIUM, 1);
            let start = Instant::now();
            let answer = query::equivalent(&old, &new, Scope::AnyPod);
            let seconds = start.elapsed().as_secs_f64();
            println!(
                "different versions: {}",
                if answer.holds() {
                    "equivalent"
                } else {
                    "counterexample found"
                }
            );
            let rewritten = cluster(MEDIUM, 2);
            let again = Instant::now();
            let same = query::equivalent(&old, &rewritten, Scope::AnyPod);
            let proof = again.elapsed().as_secs_f64();
            let verdict = if same.holds() {
                "equivalent (proof)"
            } else {
                "counterexample found"
            };
            println!("rewritten selectors: {verdict} in {proof:.3} s");
            report(
                "SMT equivalence (differing versions)",
                MEDIUM,
                old.pods.len(),
                seconds,
            );
        }
        other => eprintln!("unknown scenario `{other}`: build, lint, reach or equivalence"),
    }
}
