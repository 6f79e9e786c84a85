//! Every lint check on its positive and negative case under `testdata/lint/`.
//!
//! Each case is `base.yaml` plus the case file. The positive case must raise
//! the check (its findings are snapshot-tested); the negative case must not.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use moat_ir::LoadOptions;
use moat_ir::load::load_sources;
use moat_ir::source::SourceFile;
use moat_verifier::finding::{CHECKS, Finding};
use moat_verifier::lint::{LintOptions, lint};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/lint")
}

#[allow(clippy::unwrap_used, reason = "a missing fixture should fail the test")]
fn source(relative: &str) -> Arc<SourceFile> {
    let text = std::fs::read_to_string(root().join(relative)).unwrap();
    Arc::new(SourceFile {
        name: format!("testdata/lint/{relative}"),
        text,
    })
}

fn findings(check: &str, case: &str) -> Vec<Finding> {
    let sources = vec![source("base.yaml"), source(&format!("{check}/{case}.yaml"))];
    let loaded = load_sources(sources, &LoadOptions::default());
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.one_line())
        .collect();
    assert!(errors.is_empty(), "{check}/{case}: {errors:?}");
    lint(&loaded.cluster, &LintOptions::default(), &mut |_| {})
}

fn check(name: &str) {
    assert!(
        Path::new(&root().join(name)).is_dir(),
        "missing testdata/lint/{name}"
    );
    let positive = findings(name, "positive");
    let hits: Vec<String> = positive
        .iter()
        .filter(|f| f.check == name)
        .map(Finding::one_line)
        .collect();
    assert!(
        !hits.is_empty(),
        "{name}: positive case raised nothing of its check: {positive:#?}"
    );
    insta::assert_snapshot!(format!("{name}-positive"), hits.join("\n"));

    let negative = findings(name, "negative");
    let wrong: Vec<String> = negative
        .iter()
        .filter(|f| f.check == name)
        .map(Finding::one_line)
        .collect();
    assert!(wrong.is_empty(), "{name}: negative case raised {wrong:#?}");
}

#[test]
fn selects_nothing() {
    check("selects-nothing");
}

#[test]
fn peer_matches_nothing() {
    check("peer-matches-nothing");
}

#[test]
fn unresolved_named_port() {
    check("unresolved-named-port");
}

#[test]
fn shadowed_rule() {
    check("shadowed-rule");
}

#[test]
fn redundant_rule() {
    check("redundant-rule");
}

#[test]
fn redundant_policy() {
    check("redundant-policy");
}

#[test]
fn not_isolated() {
    check("not-isolated");
}

#[test]
fn dns_egress_blocked() {
    check("dns-egress-blocked");
}

#[test]
fn allow_all() {
    check("allow-all");
}

#[test]
fn conflicting_rules() {
    check("conflicting-rules");
}

#[test]
fn ipblock_covers_pod_cidr() {
    check("ipblock-covers-pod-cidr");
}

#[test]
fn every_check_has_a_case() {
    for c in CHECKS {
        assert!(
            root().join(c.name).join("positive.yaml").is_file(),
            "{}",
            c.name
        );
        assert!(
            root().join(c.name).join("negative.yaml").is_file(),
            "{}",
            c.name
        );
    }
}
