//! The SMT engine against the evaluator and the graph engine on concrete pods.

mod support;

use std::path::PathBuf;

use moat_ir::conformance::discover;
use moat_ir::{LoadOptions, load_paths};
use proptest::prelude::*;

#[test]
fn smt_matches_evaluator_on_conformance_cases() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/conformance");
    let cases = discover(&root).expect("conformance cases readable");
    let mut flows = 0;
    for case in &cases {
        let loaded = load_paths(&case.manifests(), &LoadOptions::default());
        flows += support::assert_smt_agrees(&loaded.cluster, &case.name);
    }
    assert!(flows > 5_000, "checked only {flows} flows");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn smt_agrees_on_random_clusters(cluster in support::random::cluster(5, 5)) {
        support::assert_smt_agrees(&cluster, "random");
    }
}
