//! On random clusters, the datapath mirror over a decoded image agrees with
//! the reference evaluator on every side decision.

// Helpers outside #[test] functions index and unwrap freely: a panic is a test failure.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use moat_compiler::mirror::Mirror;
use moat_compiler::{CompileOptions, compile, decode, encode};
use moat_ir::selector::{LabelSelector, Operator, Requirement};
use moat_ir::{
    Action, Cluster, ContainerPort, Direction, Entity, Flow, FlowEnd, IpBlock, Namespace,
    NamespaceMatch, Peer, Peers, Pod, PodSet, Policy, PolicyKind, PortMatch, PortRule, Ports,
    Protocol, Rule, Settings, Subject, Tier, verdict,
};
use proptest::prelude::*;

const NAMESPACES: [&str; 3] = ["x", "y", "z"];
const VALUES: [&str; 3] = ["a", "b", "c"];
const PORTS: [u16; 6] = [1, 79, 80, 81, 443, 65535];

fn selector() -> impl Strategy<Value = LabelSelector> {
    let requirement = (0..3usize, 0..4usize, prop::collection::vec(0..3usize, 1..3)).prop_map(
        |(key, op, values)| Requirement {
            key: ["app", "tier", "uuid"][key].to_string(),
            operator: [
                Operator::In,
                Operator::NotIn,
                Operator::Exists,
                Operator::DoesNotExist,
            ][op],
            values: values.into_iter().map(|v| VALUES[v].to_string()).collect(),
        },
    );
    prop::collection::vec(requirement, 0..3).prop_map(|requirements| LabelSelector { requirements })
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap_or_default()
}

fn peer() -> impl Strategy<Value = Peer> {
    prop_oneof![
        (prop::option::of(selector()), selector(), 0..3usize).prop_map(|(ns, pods, name)| {
            let namespaces = match ns {
                Some(s) => NamespaceMatch::Selector(s),
                None => NamespaceMatch::Name(NAMESPACES[name].to_string()),
            };
            Peer::Pods(PodSet { namespaces, pods })
        }),
        (0..4usize, any::<bool>(), 0..3usize).prop_map(|(cidr, except, pods)| {
            let cidrs = ["0.0.0.0/0", "10.0.0.0/8", "10.1.0.0/24", "8.8.8.0/24"];
            let excepts = if except {
                vec![net("10.1.0.0/28")]
            } else {
                Vec::new()
            };
            let cidr = net(cidrs[cidr]);
            let except = excepts
                .into_iter()
                .filter(|e| cidr.contains(e) && *e != cidr)
                .collect();
            // `None` follows the setting; `Some(false)` is a Cilium CIDR peer.
            let matches_pods = [None, Some(false), Some(true)][pods];
            Peer::IpBlock(IpBlock {
                cidr,
                except,
                matches_pods,
            })
        }),
        (0..2usize).prop_map(|n| Peer::Networks(vec![net(["10.1.0.0/16", "8.8.0.0/16"][n])])),
        (0..4usize).prop_map(|e| Peer::Entity(
            [Entity::World, Entity::Cluster, Entity::Host, Entity::All][e]
        )),
    ]
}

fn port_rule() -> impl Strategy<Value = PortRule> {
    let port = prop_oneof![
        Just(PortMatch::Any),
        (0..6usize, 0..3u16).prop_map(|(p, width)| {
            let start = PORTS[p];
            PortMatch::Range {
                start,
                end: start.saturating_add(width * 300),
            }
        }),
        (0..2usize).prop_map(|n| PortMatch::Named(["http", "dns"][n].to_string())),
    ];
    (0..3usize, port).prop_map(|(p, port)| PortRule {
        protocol: Protocol::ALL[p],
        port,
    })
}

fn rule() -> impl Strategy<Value = (Direction, Action, Peers, Ports)> {
    let peers = prop_oneof![
        1 => Just(Peers::Any),
        3 => prop::collection::vec(peer(), 0..3).prop_map(Peers::List),
    ];
    let ports = prop_oneof![
        1 => Just(Ports::Any),
        2 => prop::collection::vec(port_rule(), 0..3).prop_map(Ports::List),
    ];
    (any::<bool>(), 0..3usize, peers, ports).prop_map(|(ingress, action, peers, ports)| {
        let direction = if ingress {
            Direction::Ingress
        } else {
            Direction::Egress
        };
        (
            direction,
            [Action::Allow, Action::Deny, Action::Pass][action],
            peers,
            ports,
        )
    })
}

fn policy(index: usize) -> impl Strategy<Value = Policy> {
    let rules = prop::collection::vec(rule(), 0..4);
    (
        0..4usize,
        0..3usize,
        selector(),
        rules,
        any::<bool>(),
        any::<bool>(),
        0..5u32,
    )
        .prop_map(
            move |(kind, ns, subject, rules, ingress, egress, priority)| {
                let (kind, tier) = [
                    (PolicyKind::NetworkPolicy, Tier::Namespaced),
                    (PolicyKind::AdminNetworkPolicy, Tier::Admin),
                    (PolicyKind::BaselineAdminNetworkPolicy, Tier::Baseline),
                    (PolicyKind::CiliumNetworkPolicy, Tier::Namespaced),
                ][kind];
                let namespaced = tier == Tier::Namespaced;
                let namespaces = if namespaced {
                    NamespaceMatch::Name(NAMESPACES[ns].to_string())
                } else {
                    NamespaceMatch::Selector(LabelSelector::everything())
                };
                let mut counters = BTreeMap::new();
                let rules = rules
                    .into_iter()
                    .map(|(direction, action, peers, ports)| {
                        let action = match (tier, action) {
                            (Tier::Admin, a) => a,
                            (Tier::Namespaced, Action::Deny)
                                if kind == PolicyKind::CiliumNetworkPolicy =>
                            {
                                Action::Deny
                            }
                            (Tier::Baseline, Action::Deny) => Action::Deny,
                            _ => Action::Allow,
                        };
                        let counter = counters.entry(direction).or_insert(0usize);
                        *counter += 1;
                        Rule {
                            direction,
                            action,
                            index: *counter - 1,
                            peers,
                            ports,
                            origin: None,
                        }
                    })
                    .collect();
                Policy {
                    kind,
                    namespace: namespaced.then(|| NAMESPACES[ns].to_string()),
                    name: format!("p{index}"),
                    tier,
                    priority,
                    subject: Subject::Pods(PodSet {
                        namespaces,
                        pods: subject,
                    }),
                    isolates_ingress: namespaced && ingress,
                    isolates_egress: namespaced && egress,
                    rules,
                    origin: None,
                }
            },
        )
}

fn pod(index: usize) -> impl Strategy<Value = Pod> {
    let labels = prop::collection::btree_map(0..3usize, 0..3usize, 0..3);
    (0..3usize, labels, 0..3usize, any::<bool>(), 0..2usize).prop_map(
        move |(ns, labels, port, host, node)| {
            let labels = labels
                .into_iter()
                .map(|(k, v)| {
                    (
                        ["app", "tier", "uuid"][k].to_string(),
                        VALUES[v].to_string(),
                    )
                })
                .collect();
            let ports = vec![
                ContainerPort {
                    name: Some("http".to_string()),
                    port: PORTS[port + 1],
                    protocol: Protocol::Tcp,
                },
                ContainerPort {
                    name: Some("dns".to_string()),
                    port: 53,
                    protocol: Protocol::Udp,
                },
            ];
            // A few pods sit inside the CIDRs that policies name.
            let ip: IpAddr = if index.is_multiple_of(3) {
                [10, 1, 0, index as u8].into()
            } else {
                [192, 168, 0, index as u8].into()
            };
            Pod {
                namespace: NAMESPACES[ns].to_string(),
                name: format!("pod{index}"),
                labels,
                ip: Some(ip),
                ports,
                node_name: Some(format!("node{node}")),
                host_network: host && index % 5 == 4,
                ready: true,
                images: Vec::new(),
                owner: None,
                origin: None,
            }
        },
    )
}

fn cluster() -> impl Strategy<Value = Cluster> {
    let pods = (1..8usize).prop_flat_map(|n| (0..n).map(pod).collect::<Vec<_>>());
    let policies = (0..6usize).prop_flat_map(|n| (0..n).map(policy).collect::<Vec<_>>());
    let ns_labels = prop::collection::vec(0..3usize, 3);
    (pods, policies, ns_labels, any::<bool>()).prop_map(|(pods, policies, ns_labels, ipblock)| {
        let namespaces = NAMESPACES
            .iter()
            .zip(ns_labels)
            .map(|(name, v)| {
                let labels = BTreeMap::from([("app".to_string(), VALUES[v].to_string())]);
                (
                    name.to_string(),
                    Namespace {
                        name: name.to_string(),
                        labels,
                        origin: None,
                    },
                )
            })
            .collect();
        Cluster {
            namespaces,
            pods,
            services: Vec::new(),
            policies,
            settings: Settings {
                ipblock_matches_pods: ipblock,
            },
        }
    })
}

fn ends(cluster: &Cluster) -> Vec<(FlowEnd, IpAddr)> {
    let mut ends: Vec<(FlowEnd, IpAddr)> = cluster
        .pods
        .iter()
        .enumerate()
        .filter(|(_, p)| !p.host_network)
        .filter_map(|(i, p)| Some((FlowEnd::Pod(i), p.ip?)))
        .collect();
    // None of these is a pod address: pods use 10.1.0.{0,3,6} and 192.168.0.0/24.
    for ip in [
        "8.8.8.8",
        "10.1.0.9",
        "10.1.0.200",
        "10.2.0.1",
        "1.1.1.1",
        "fd00::1",
    ] {
        let ip: IpAddr = ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        ends.push((FlowEnd::External(ip), ip));
    }
    ends
}

fn check(cluster: &Cluster, node: Option<&str>) -> Result<(), TestCaseError> {
    let options = CompileOptions {
        node: node.map(str::to_string),
        ..CompileOptions::default()
    };
    let image = compile(cluster, &options).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let decoded = decode(&encode(&image)).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mirror = Mirror::new(&decoded);
    let local = |end: FlowEnd| match end {
        FlowEnd::Pod(i) => node.is_none() || cluster.pods[i].node_name.as_deref() == node,
        FlowEnd::External(_) => false,
    };
    let ends = ends(cluster);
    for &(src, src_ip) in &ends {
        for &(dst, dst_ip) in &ends {
            for protocol in Protocol::ALL {
                for port in [1u16, 53, 79, 80, 81, 443, 600, 901, 65535] {
                    let flow = Flow {
                        src,
                        dst,
                        protocol,
                        port,
                    };
                    let expected = verdict(cluster, &flow);
                    let got = mirror.verdict(src_ip, dst_ip, protocol.ip_number(), port);
                    let what = format!("{src_ip} -> {dst_ip} {}/{port}", protocol.lower());
                    if local(src) {
                        prop_assert_eq!(
                            got.egress.allowed(),
                            expected.egress.allowed,
                            "egress {}",
                            what
                        );
                        prop_assert_eq!(
                            mirror.reason(got.egress),
                            Some(expected.egress.reason.clone()),
                            "egress {}",
                            what
                        );
                    }
                    if local(dst) {
                        prop_assert_eq!(
                            got.ingress.allowed(),
                            expected.ingress.allowed,
                            "ingress {}",
                            what
                        );
                        prop_assert_eq!(
                            mirror.reason(got.ingress),
                            Some(expected.ingress.reason.clone()),
                            "ingress {}",
                            what
                        );
                    }
                    if node.is_none() {
                        prop_assert_eq!(got.allowed, expected.allowed, "{}", what);
                    }
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn mirror_agrees_with_evaluator(cluster in cluster()) {
        check(&cluster, None)?;
    }

    #[test]
    fn node_image_agrees_for_local_pods(cluster in cluster()) {
        if cluster.pods.iter().any(|p| p.node_name.as_deref() == Some("node0")) {
            check(&cluster, Some("node0"))?;
        }
    }
}
