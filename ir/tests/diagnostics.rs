//! Each file under `testdata/invalid/` yields its diagnostics at the right place.
//!
//! The rendered reports are snapshots, so a change in wording or layout shows
//! up in review.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code fails loudly on broken fixtures"
)]

use std::path::PathBuf;

use miette::{GraphicalReportHandler, GraphicalTheme};
use moat_ir::diag::Report;
use moat_ir::{LoadOptions, Loaded, Severity, load_str};

use Severity::{Error, Warning};

/// One expected diagnostic: code, severity, 1-based line and column.
type Expected = (&'static str, Severity, usize, usize);

/// Every case and the diagnostics it must yield, in report order.
const CASES: &[(&str, &[Expected])] = &[
    ("invalid-yaml", &[("moat::invalid-yaml", Error, 15, 43)]),
    (
        "missing-api-version",
        &[("moat::missing-field", Error, 6, 1)],
    ),
    ("missing-kind", &[("moat::missing-field", Error, 6, 1)]),
    ("missing-name", &[("moat::missing-field", Error, 6, 1)]),
    ("wrong-field-type", &[("moat::wrong-type", Error, 15, 7)]),
    ("name-not-a-string", &[("moat::wrong-type", Error, 9, 9)]),
    ("unknown-field", &[("moat::unknown-field", Error, 12, 3)]),
    (
        "selector-in-without-values",
        &[("moat::invalid-selector", Error, 16, 15)],
    ),
    (
        "selector-unknown-operator",
        &[("moat::invalid-selector", Error, 15, 17)],
    ),
    (
        "selector-invalid-key",
        &[("moat::invalid-selector", Error, 14, 7)],
    ),
    (
        "selector-invalid-value",
        &[("moat::invalid-selector", Error, 14, 12)],
    ),
    ("invalid-cidr", &[("moat::invalid-cidr", Error, 16, 15)]),
    (
        "except-outside-cidr",
        &[("moat::except-outside-cidr", Error, 18, 11)],
    ),
    (
        "port-out-of-range",
        &[("moat::port-out-of-range", Error, 16, 13)],
    ),
    (
        "end-port-below-port",
        &[("moat::invalid-end-port", Error, 17, 16)],
    ),
    (
        "end-port-with-named-port",
        &[("moat::invalid-end-port", Error, 17, 16)],
    ),
    (
        "unknown-protocol",
        &[("moat::unknown-protocol", Error, 15, 17)],
    ),
    (
        "duplicate-object",
        &[("moat::duplicate-object", Error, 14, 1)],
    ),
    (
        "unresolved-named-port",
        &[("moat::unresolved-named-port", Warning, 31, 5)],
    ),
    (
        "undeclared-namespace",
        &[("moat::undeclared-namespace", Warning, 1, 1)],
    ),
    (
        "several-problems",
        &[
            ("moat::invalid-selector", Error, 15, 17),
            ("moat::except-outside-cidr", Error, 20, 18),
            ("moat::unknown-protocol", Error, 22, 17),
            ("moat::port-out-of-range", Error, 24, 13),
            ("moat::unknown-field", Error, 27, 7),
            ("moat::invalid-peer", Error, 27, 7),
            ("moat::missing-field", Error, 29, 1),
            ("moat::invalid-yaml", Error, 39, 15),
        ],
    ),
    (
        "anp-unknown-action",
        &[("moat::unknown-action", Error, 13, 13)],
    ),
    (
        "anp-priority-out-of-range",
        &[("moat::priority-out-of-range", Error, 6, 13)],
    ),
    (
        "anp-unknown-field",
        &[("moat::unknown-field", Error, 18, 7)],
    ),
    (
        "anp-invalid-network",
        &[("moat::invalid-cidr", Error, 14, 9)],
    ),
    ("anp-nodes-peer", &[("moat::not-enforced", Warning, 12, 7)]),
    (
        "anp-equal-priority",
        &[("moat::equal-priority", Warning, 16, 1)],
    ),
    (
        "anp-peer-two-fields",
        &[("moat::invalid-field-set", Error, 12, 7)],
    ),
    (
        "anp-port-range-reversed",
        &[("moat::invalid-port-range", Error, 15, 9)],
    ),
    ("banp-wrong-name", &[("moat::baseline-name", Error, 4, 9)]),
    (
        "banp-pass-action",
        &[("moat::unknown-action", Error, 9, 13)],
    ),
    (
        "cnp-allow-action",
        &[("moat::unknown-action", Error, 11, 13)],
    ),
    ("cnp-unknown-tier", &[("moat::unknown-tier", Error, 6, 9)]),
    (
        "cilium-l7-rules",
        &[
            ("moat::not-enforced", Warning, 23, 7),
            ("moat::not-enforced", Warning, 27, 5),
        ],
    ),
    (
        "cilium-unknown-entity",
        &[("moat::unknown-entity", Error, 9, 7)],
    ),
    (
        "cilium-invalid-cidr",
        &[
            ("moat::invalid-cidr", Error, 15, 7),
            ("moat::except-outside-cidr", Error, 19, 9),
        ],
    ),
    (
        "negative-replicas",
        &[
            ("moat::negative-count", Error, 12, 13),
            ("moat::negative-count", Error, 29, 16),
        ],
    ),
    (
        "too-many-replicas",
        &[("moat::too-many-replicas", Error, 12, 13)],
    ),
    (
        "unknown-field-outside-policy",
        &[
            ("moat::unknown-field", Error, 5, 3),
            ("moat::unknown-field", Error, 13, 3),
            ("moat::unknown-field", Error, 34, 11),
            ("moat::unknown-field", Error, 48, 7),
        ],
    ),
    ("miscased-kind", &[("moat::unknown-kind", Warning, 2, 7)]),
    (
        "invalid-name",
        &[
            ("moat::invalid-name", Error, 9, 9),
            ("moat::invalid-name", Error, 14, 9),
            ("moat::invalid-name", Error, 15, 14),
            ("moat::invalid-name", Error, 20, 9),
            ("moat::invalid-name", Error, 26, 9),
        ],
    ),
    (
        "address-collision",
        &[
            ("moat::duplicate-pod-ip", Warning, 14, 1),
            ("moat::duplicate-cluster-ip", Error, 22, 1),
            ("moat::duplicate-cluster-ip", Error, 42, 1),
        ],
    ),
    (
        "unresolved-target-port",
        &[("moat::unresolved-target-port", Warning, 33, 17)],
    ),
    (
        "wrong-type-words",
        &[
            ("moat::wrong-type", Error, 8, 17),
            ("moat::wrong-type", Error, 16, 11),
            ("moat::wrong-type", Error, 23, 13),
        ],
    ),
    (
        "list-items-not-a-list",
        &[("moat::wrong-type", Error, 3, 8)],
    ),
    (
        "duplicate-cluster-object",
        &[("moat::duplicate-object", Error, 13, 1)],
    ),
    (
        "foreign-network-policy",
        &[("moat::foreign-policy-kind", Warning, 1, 13)],
    ),
];

fn invalid_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/invalid")
}

/// Loads a case under a relative name, so that reports and snapshots do not
/// depend on where the repository is checked out.
fn load_case(case: &str) -> Loaded {
    let path = invalid_dir().join(format!("{case}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap();
    load_str(
        &format!("testdata/invalid/{case}.yaml"),
        &text,
        &LoadOptions::default(),
    )
}

fn render(loaded: &Loaded) -> String {
    let handler =
        GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor()).with_width(100);
    let mut out = String::new();
    for diagnostic in &loaded.diagnostics {
        handler
            .render_report(&mut out, &Report::new(diagnostic))
            .unwrap();
        out.push('\n');
    }
    out
}

fn found(loaded: &Loaded) -> Vec<(String, Severity, usize, usize)> {
    loaded
        .diagnostics
        .iter()
        .map(|d| {
            let origin = d.origin.as_ref().expect("every diagnostic has a location");
            (d.code.to_string(), d.severity, origin.line, origin.column)
        })
        .collect()
}

#[test]
fn each_case_reports_at_location() {
    for (case, expected) in CASES {
        let loaded = load_case(case);
        let expected: Vec<_> = expected
            .iter()
            .map(|(code, severity, line, column)| (code.to_string(), *severity, *line, *column))
            .collect();
        assert_eq!(found(&loaded), expected, "case `{case}`");
        let file = format!("testdata/invalid/{case}.yaml");
        for diagnostic in &loaded.diagnostics {
            let origin = diagnostic.origin.as_ref().unwrap();
            assert_eq!(origin.file_name(), file, "case `{case}`");
        }
    }
}

#[test]
fn each_case_renders_snapshot() {
    for (case, _) in CASES {
        let rendered = render(&load_case(case));
        insta::assert_snapshot!(*case, rendered);
    }
}

#[test]
fn every_file_has_a_case() {
    let mut files: Vec<String> = std::fs::read_dir(invalid_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut cases: Vec<String> = CASES.iter().map(|(c, _)| c.to_string()).collect();
    cases.sort();
    assert_eq!(files, cases);
}

#[test]
fn every_diagnostic_has_help() {
    for (case, _) in CASES {
        for diagnostic in &load_case(case).diagnostics {
            assert!(
                diagnostic.help.is_some(),
                "case `{case}`: `{}` has no help",
                diagnostic.code
            );
        }
    }
}

#[test]
fn typo_suggests_known_field() {
    let loaded = load_case("unknown-field");
    let help = loaded.diagnostics[0].help.as_deref().unwrap();
    assert_eq!(help, "did you mean `podSelector`?");
}

#[test]
fn valid_documents_survive_syntax_error() {
    let loaded = load_case("invalid-yaml");
    assert!(loaded.cluster.namespaces.contains_key("shop"));
}

#[test]
fn too_many_replicas_creates_no_pods() {
    let loaded = load_case("too-many-replicas");
    assert!(loaded.cluster.pods.is_empty());
    let message = &loaded.diagnostics[0].message;
    assert!(message.contains("100000000"), "{message}");
    assert!(message.contains("10.244.0.0/16"), "{message}");
}

#[test]
fn exhausted_pod_cidr_points_at_pod() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b}\n";
    let options = LoadOptions {
        pod_cidr: "10.0.0.0/30".parse().unwrap(),
        ..LoadOptions::default()
    };
    let loaded = load_str("pods.yaml", text, &options);
    let codes: Vec<&str> = loaded.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["moat::pod-cidr-exhausted"]);
    let origin = loaded.diagnostics[0].origin.as_ref().unwrap();
    assert_eq!(origin.line, 5);
}

#[test]
fn overlapping_ranges_keep_addresses_apart() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {ports: [{port: 80}]}\n";
    let options = LoadOptions {
        pod_cidr: "10.0.0.0/24".parse().unwrap(),
        service_cidr: "10.0.0.0/24".parse().unwrap(),
        ..LoadOptions::default()
    };
    let loaded = load_str("overlap.yaml", text, &options);
    let codes: Vec<&str> = loaded.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["moat::overlapping-ranges"]);
    let pod_ip = loaded.cluster.pods[0].ip.unwrap();
    let service_ip = loaded.cluster.services[0].cluster_ip.unwrap();
    assert_ne!(pod_ip, service_ip);
}

#[test]
fn type_errors_use_yaml_words() {
    let loaded = load_case("wrong-type-words");
    let messages: Vec<&str> = loaded
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    for rust_name in ["IntOrString", "i32", "LabelSelector", "floating point"] {
        for message in &messages {
            assert!(!message.contains(rust_name), "{message}");
        }
    }
    assert!(messages[0].contains("expected an integer or a string, found a list"));
    assert!(messages[2].contains("expected a mapping, found an integer `5`"));
}

#[test]
fn replicas_beyond_addresses_left_rejected() {
    let deployment = |name: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: 40\n  selector: {{}}\n  template: {{spec: {{containers: [{{name: c}}]}}}}\n"
        )
    };
    let text = format!("{}---\n{}", deployment("a"), deployment("b"));
    let options = LoadOptions {
        pod_cidr: "10.0.0.0/26".parse().unwrap(),
        ..LoadOptions::default()
    };
    let loaded = load_str("two.yaml", &text, &options);
    let codes: Vec<&str> = loaded.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["moat::too-many-replicas"]);
    assert!(loaded.diagnostics[0].message.contains("only 21 of the 61"));
    assert_eq!(loaded.cluster.pods.len(), 40);
}
