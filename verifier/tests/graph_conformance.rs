//! The graph engine against the reference evaluator on every conformance case.

mod support;

use std::path::PathBuf;

use moat_ir::conformance::{check_case, discover, evaluator_judge};
use moat_ir::{LoadOptions, load_paths};
use moat_verifier::graph::Graph;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/conformance")
}

#[test]
fn graph_matches_evaluator_on_conformance_lines() {
    let cases = discover(&root()).expect("conformance cases readable");
    assert!(cases.len() >= 40, "found only {} cases", cases.len());
    for case in &cases {
        let loaded = load_paths(&case.manifests(), &LoadOptions::default());
        let graph = Graph::build(&loaded.cluster);
        let judge = |_: &moat_ir::Cluster, flow: &moat_ir::Flow| graph.allows(flow);
        let by_graph = check_case(&loaded.cluster, &case.expectations, &judge);
        let by_evaluator = check_case(&loaded.cluster, &case.expectations, &evaluator_judge);
        let lines =
            |m: &[moat_ir::conformance::Mismatch]| m.iter().map(|m| m.line).collect::<Vec<_>>();
        assert_eq!(
            lines(&by_graph),
            lines(&by_evaluator),
            "{}: {by_graph:?}",
            case.name
        );
    }
}

#[test]
fn graph_matches_evaluator_on_every_pair_and_atom() {
    let cases = discover(&root()).expect("conformance cases readable");
    let mut flows = 0;
    for case in &cases {
        let loaded = load_paths(&case.manifests(), &LoadOptions::default());
        flows += support::assert_graph_agrees(&loaded.cluster, &case.name);
    }
    assert!(flows > 10_000, "checked only {flows} flows");
}
