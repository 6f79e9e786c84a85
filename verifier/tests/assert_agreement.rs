//! Assertions over existing pods: the SMT engine against brute force on the graph.

mod support;

use moat_ir::Protocol;
use moat_verifier::assert::{Assertion, PortRange, check, holds_on_graph};
use moat_verifier::graph::Graph;
use proptest::prelude::*;

fn assertion() -> impl Strategy<Value = Assertion> {
    let ports = prop_oneof![
        Just(Vec::new()),
        Just(vec![PortRange {
            protocol: Protocol::Tcp,
            start: 80,
            end: 80
        }]),
        Just(vec![PortRange {
            protocol: Protocol::Udp,
            start: 50,
            end: 60
        }]),
        Just(vec![
            PortRange {
                protocol: Protocol::Tcp,
                start: 8000,
                end: 8080
            },
            PortRange {
                protocol: Protocol::Sctp,
                start: 1,
                end: 65535
            },
        ]),
    ];
    (
        support::random::pod_set(),
        support::random::pod_set(),
        ports,
        any::<bool>(),
    )
        .prop_map(|(from, to, ports, expect_allowed)| Assertion {
            name: "random".to_string(),
            from,
            to,
            ports,
            expect_allowed,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(60))]

    #[test]
    fn smt_and_graph_agree_on_assertions(
        cluster in support::random::cluster(5, 5),
        assertions in prop::collection::vec(assertion(), 1..4),
    ) {
        let graph = Graph::build(&cluster);
        for a in &assertions {
            let smt = check(&cluster, a, false).answer.holds();
            prop_assert_eq!(smt, holds_on_graph(&cluster, &graph, a), "{:?}", a);
        }
    }
}
