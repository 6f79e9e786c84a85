//! The graph engine against the reference evaluator on random clusters.

mod support;

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn graph_agrees_with_evaluator(cluster in support::random::cluster(6, 6)) {
        support::assert_graph_agrees(&cluster, "random");
    }
}
