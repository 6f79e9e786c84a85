//! `moat verify`: prove or refute the assertions of a file.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use moat_verifier::assert::{self, Outcome};
use moat_verifier::finding::Finding;
use moat_verifier::output::Report;
use moat_verifier::smt::{Answer, Scope};

use super::ci::{self, Output};
use crate::common::{EXIT_FAILURE, EXIT_USAGE, Inputs};

/// Prove assertions about who may talk to whom, or print a counterexample.
///
/// Exit codes: 0 when every assertion holds, 1 when one fails or is vacuous
/// and for errors in the manifests or the assertion file, 2 for usage errors
/// (invalid options, a path that cannot be read). The format of FILE is in
/// docs/assertions.md.
#[derive(Args)]
#[command(
    after_help = "Example:\n  moat verify policies/shop --assert policies/shop/assertions.yaml --any-pod"
)]
pub struct VerifyArgs {
    #[command(flatten)]
    inputs: Inputs,

    /// YAML file of assertions.
    #[arg(long = "assert", value_name = "FILE")]
    assertions: PathBuf,

    /// Also prove each assertion for every pod that could exist, with any
    /// labels in any namespace, not only for the pods in the input.
    #[arg(long)]
    any_pod: bool,

    #[command(flatten)]
    output: Output,
}

pub fn run(args: &VerifyArgs) -> u8 {
    let assertions = match assert::read_file(&args.assertions) {
        Ok(list) => list,
        Err(e) => {
            eprintln!("error: {e}");
            return match e {
                assert::AssertError::Read { .. } => EXIT_USAGE,
                _ => EXIT_FAILURE,
            };
        }
    };
    let loaded = match ci::load(&args.inputs) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let bar = ci::progress("proving");
    let mut outcomes = Vec::new();
    for assertion in &assertions {
        if let Some(bar) = &bar {
            bar.set_message(format!("proving `{}`", assertion.name));
        }
        outcomes.push(assert::check(&loaded.cluster, assertion, args.any_pod));
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut report = Report::new("verify", outcomes.iter().filter_map(finding).collect());
    report.passed = outcomes
        .iter()
        .filter(|o| o.holds())
        .map(|o| o.name.clone())
        .collect();
    report.detail = serde_json::to_value(&outcomes).ok();
    let changes: Vec<Vec<moat_verifier::explain::Change>> = assertions
        .iter()
        .zip(&outcomes)
        .map(|(a, o)| assert::changes_for(&loaded.cluster, a, o))
        .collect();
    args.output
        .emit(&report, Some(text(&outcomes, &changes, &report)))
}

fn scope_text(scope: Scope) -> &'static str {
    match scope {
        Scope::Existing => "for the pods in the input",
        Scope::AnyPod => "for every pod that could exist",
    }
}

fn finding(outcome: &Outcome) -> Option<Finding> {
    if let Some(reason) = &outcome.vacuous {
        return Some(Finding::new(
            "assertion-vacuous",
            format!("assertion `{}` is vacuous: {reason}", outcome.name),
        ));
    }
    let message = match &outcome.answer {
        Answer::Holds => return None,
        Answer::Counterexample(witness) => format!(
            "assertion `{}` fails {}: counterexample {witness}",
            outcome.name,
            scope_text(outcome.scope)
        ),
        Answer::Unknown { reason } => {
            format!(
                "assertion `{}` could not be decided: {reason}",
                outcome.name
            )
        }
    };
    Some(Finding::new("assertion-failed", message))
}

fn text(
    outcomes: &[Outcome],
    changes: &[Vec<moat_verifier::explain::Change>],
    report: &Report,
) -> String {
    let mut out = String::new();
    for (outcome, changes) in outcomes.iter().zip(changes) {
        let _ = match &outcome.answer {
            _ if outcome.vacuous.is_some() => writeln!(
                out,
                "FAIL  {}: vacuous: {}",
                outcome.name,
                outcome.vacuous.as_deref().unwrap_or_default()
            ),
            Answer::Holds => writeln!(
                out,
                "ok    {}: holds {}",
                outcome.name,
                scope_text(outcome.scope)
            ),
            Answer::Counterexample(witness) => writeln!(
                out,
                "FAIL  {}: counterexample {}\n      {witness}",
                outcome.name,
                scope_text(outcome.scope)
            ),
            Answer::Unknown { reason } => {
                writeln!(out, "?     {}: unknown ({reason})", outcome.name)
            }
        };
        if !changes.is_empty() {
            let _ = writeln!(out, "      to make this flow match the assertion, change:");
        }
        for change in changes {
            let at = change
                .location
                .as_ref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            let _ = writeln!(out, "        {}{at}: {}", change.target, change.how);
        }
    }
    let _ = writeln!(
        out,
        "{} assertion(s): {} hold, {} fail",
        outcomes.len(),
        report.passed.len(),
        report.findings.len()
    );
    out
}
