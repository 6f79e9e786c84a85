//! `moat lint`: run every check over manifests.

use clap::Args;
use moat_verifier::finding::CHECKS;
use moat_verifier::lint::{LintOptions, lint};
use moat_verifier::output::Report;
use moat_verifier::smt::Scope;

use super::ci::{self, Output};
use crate::common::Inputs;

/// Run every check (docs/checks.md) over manifests and report findings.
///
/// Exit codes: 0 when clean, 1 on findings at or above --fail-on and for
/// errors in the manifests, 2 for usage errors (invalid options, a path
/// that cannot be read).
#[derive(Args)]
#[command(
    after_help = "Example:\n  moat lint policies/demo-isolated\n  moat lint -o sarif policies/ > moat.sarif"
)]
pub struct LintArgs {
    #[command(flatten)]
    inputs: Inputs,

    #[command(flatten)]
    output: Output,

    /// Skip the SMT checks (shadowed, redundant and conflicting rules).
    #[arg(long)]
    no_smt: bool,

    /// Let the SMT checks range over existing pods only, instead of every
    /// pod that could exist.
    #[arg(long)]
    existing_pods: bool,
}

pub fn run(args: &LintArgs) -> u8 {
    let loaded = match ci::load(&args.inputs) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let options = LintOptions {
        smt: !args.no_smt,
        scope: if args.existing_pods {
            Scope::Existing
        } else {
            Scope::AnyPod
        },
    };
    let bar = ci::progress("linting");
    let findings = lint(&loaded.cluster, &options, &mut |step| {
        if let Some(bar) = &bar {
            bar.set_message(format!("linting: {step}"));
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut report = Report::new("lint", findings);
    report.passed = CHECKS
        .iter()
        .filter(|c| !report.findings.iter().any(|f| f.check == c.name))
        .map(|c| c.name.to_string())
        .collect();
    args.output.emit(&report, None)
}
