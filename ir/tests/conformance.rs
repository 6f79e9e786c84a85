//! Every conformance case, judged by the reference evaluator.

use std::path::PathBuf;

use moat_ir::conformance::{check_case, discover, evaluator_judge};
use moat_ir::{LoadOptions, load_paths};

/// Cases the evaluator cannot pass yet, with the reason.
const EXPECTED_FAILURES: &[(&str, &str)] = &[];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/conformance")
}

#[test]
fn evaluator_agrees_with_every_case() {
    let cases = discover(&root()).expect("conformance cases readable");
    assert!(cases.len() >= 40, "found only {} cases", cases.len());
    let mut passed = 0;
    let mut failures = Vec::new();
    let mut lines = 0;
    for case in &cases {
        let loaded = load_paths(&case.manifests(), &LoadOptions::default());
        let errors: Vec<String> = loaded
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| d.one_line())
            .collect();
        let mismatches = check_case(&loaded.cluster, &case.expectations, &evaluator_judge);
        lines += case.expectations.len();
        let expected_failure = EXPECTED_FAILURES.iter().any(|(name, _)| *name == case.name);
        if errors.is_empty() && mismatches.is_empty() {
            passed += 1;
            assert!(
                !expected_failure,
                "{} passes now: remove it from EXPECTED_FAILURES",
                case.name
            );
        } else if !expected_failure {
            let detail: Vec<String> = errors
                .into_iter()
                .chain(
                    mismatches
                        .iter()
                        .take(5)
                        .map(|m| format!("line {}: {}", m.line, m.message)),
                )
                .collect();
            failures.push(format!(
                "{} ({} mismatches):\n    {}",
                case.name,
                mismatches.len(),
                detail.join("\n    ")
            ));
        }
    }
    println!(
        "conformance: {passed} of {} cases passed ({lines} lines), {} expected failures",
        cases.len(),
        EXPECTED_FAILURES.len()
    );
    assert!(
        failures.is_empty(),
        "failing cases:\n  {}",
        failures.join("\n  ")
    );
}
