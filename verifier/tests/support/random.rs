//! A proptest strategy for small random clusters that exercise every tier,
//! action, peer kind and port form of the model.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;
use moat_ir::selector::{LabelSelector, Operator, Requirement};
use moat_ir::{
    Action, Cluster, ContainerPort, Direction, Entity, IpBlock, Namespace, NamespaceMatch, Peer,
    Peers, Pod, PodSet, Policy, PolicyKind, PortMatch, PortRule, Ports, Protocol, Rule, Settings,
    Subject, Tier,
};
use proptest::prelude::*;

const NAMESPACES: [&str; 3] = ["a", "b", "c"];

fn requirement() -> impl Strategy<Value = Requirement> {
    let key = prop::sample::select(vec!["app", "tier"]);
    let op = prop::sample::select(vec![
        Operator::In,
        Operator::In,
        Operator::NotIn,
        Operator::Exists,
        Operator::DoesNotExist,
    ]);
    let values = prop::sample::subsequence(vec!["web", "db", "x"], 1..=2);
    (key, op, values).prop_map(|(key, operator, values)| Requirement {
        key: key.to_string(),
        operator,
        values: match operator {
            Operator::Exists | Operator::DoesNotExist => Vec::new(),
            _ => values.into_iter().map(String::from).collect(),
        },
    })
}

pub fn selector() -> impl Strategy<Value = LabelSelector> {
    prop::collection::vec(requirement(), 0..=2)
        .prop_map(|requirements| LabelSelector { requirements })
}

fn ns_selector() -> impl Strategy<Value = LabelSelector> {
    let env = prop::sample::select(vec!["dev", "prod"]);
    prop_oneof![
        Just(LabelSelector::everything()),
        env.prop_map(|e| LabelSelector::from_labels([("env", e)])),
    ]
}

pub fn pod_set() -> impl Strategy<Value = PodSet> {
    let namespaces = prop_oneof![
        prop::sample::select(NAMESPACES.to_vec()).prop_map(|n| NamespaceMatch::Name(n.to_string())),
        ns_selector().prop_map(NamespaceMatch::Selector),
    ];
    (namespaces, selector()).prop_map(|(namespaces, pods)| PodSet { namespaces, pods })
}

fn net(text: &str) -> IpNet {
    text.parse().unwrap()
}

fn peer() -> impl Strategy<Value = Peer> {
    prop_oneof![
        3 => pod_set().prop_map(Peer::Pods),
        1 => prop::sample::select(vec![
            IpBlock { cidr: net("10.244.0.0/30"), except: vec![], matches_pods: None },
            IpBlock { cidr: net("0.0.0.0/0"), except: vec![net("10.0.0.0/8")], matches_pods: None },
            IpBlock { cidr: net("10.244.0.0/16"), except: vec![net("10.244.0.2/31")], matches_pods: None },
            IpBlock { cidr: net("8.8.8.0/24"), except: vec![], matches_pods: None },
            // A Cilium CIDR peer: never matches pods, whatever the setting.
            IpBlock { cidr: net("10.244.0.0/16"), except: vec![], matches_pods: Some(false) },
        ])
        .prop_map(Peer::IpBlock),
        1 => prop::sample::select(vec![vec![net("0.0.0.0/0")], vec![net("10.244.0.4/30")]])
            .prop_map(Peer::Networks),
        1 => prop::sample::select(vec![Entity::World, Entity::Cluster, Entity::All, Entity::Host])
            .prop_map(Peer::Entity),
    ]
}

fn port_rule() -> impl Strategy<Value = PortRule> {
    let protocol = prop::sample::select(Protocol::ALL.to_vec());
    let port = prop_oneof![
        Just(PortMatch::Any),
        Just(PortMatch::Range { start: 80, end: 80 }),
        Just(PortMatch::Range { start: 53, end: 81 }),
        Just(PortMatch::Range {
            start: 8000,
            end: 9000
        }),
        Just(PortMatch::Named("http".to_string())),
        Just(PortMatch::Named("dns".to_string())),
    ];
    (protocol, port).prop_map(|(protocol, port)| PortRule { protocol, port })
}

fn rule(tier: Tier) -> impl Strategy<Value = Rule> {
    let actions = match tier {
        Tier::Admin => vec![Action::Allow, Action::Deny, Action::Pass],
        Tier::Namespaced => vec![Action::Allow, Action::Allow, Action::Deny],
        Tier::Baseline => vec![Action::Allow, Action::Deny],
    };
    let direction = prop::sample::select(vec![Direction::Ingress, Direction::Egress]);
    let peers = prop_oneof![
        1 => Just(Peers::Any),
        3 => prop::collection::vec(peer(), 1..=2).prop_map(Peers::List),
    ];
    let ports = prop_oneof![
        1 => Just(Ports::Any),
        2 => prop::collection::vec(port_rule(), 1..=2).prop_map(Ports::List),
    ];
    (direction, prop::sample::select(actions), peers, ports).prop_map(
        |(direction, action, peers, ports)| Rule {
            direction,
            action,
            index: 0,
            peers,
            ports,
            origin: None,
        },
    )
}

fn policy(index: usize) -> impl Strategy<Value = Policy> {
    let tier = prop::sample::select(vec![
        Tier::Admin,
        Tier::Namespaced,
        Tier::Namespaced,
        Tier::Baseline,
    ]);
    tier.prop_flat_map(move |tier| {
        let rules = prop::collection::vec(rule(tier), 0..=3);
        let namespace = prop::sample::select(NAMESPACES.to_vec());
        (
            rules,
            namespace,
            selector(),
            ns_selector(),
            0u32..3,
            any::<(bool, bool)>(),
        )
            .prop_map(
                move |(mut rules, namespace, pods, nss, priority, (ingress, egress))| {
                    for (i, rule) in rules.iter_mut().enumerate() {
                        rule.index = i;
                    }
                    let (kind, ns, namespaces) = match tier {
                        Tier::Namespaced => (
                            PolicyKind::NetworkPolicy,
                            Some(namespace.to_string()),
                            NamespaceMatch::Name(namespace.to_string()),
                        ),
                        Tier::Admin => (
                            PolicyKind::AdminNetworkPolicy,
                            None,
                            NamespaceMatch::Selector(nss),
                        ),
                        Tier::Baseline => (
                            PolicyKind::BaselineAdminNetworkPolicy,
                            None,
                            NamespaceMatch::Selector(nss),
                        ),
                    };
                    Policy {
                        kind,
                        namespace: ns,
                        name: format!("p{index}"),
                        tier,
                        priority,
                        subject: Subject::Pods(PodSet { namespaces, pods }),
                        isolates_ingress: tier == Tier::Namespaced && ingress,
                        isolates_egress: tier == Tier::Namespaced && egress,
                        rules,
                        origin: None,
                    }
                },
            )
    })
}

fn pod(index: usize) -> impl Strategy<Value = Pod> {
    let app = prop::option::of(prop::sample::select(vec!["web", "db", "x"]));
    let tier = prop::option::of(prop::sample::select(vec!["web", "x"]));
    let http = prop::sample::select(vec![None, Some(80u16), Some(8080)]);
    let dns = any::<bool>();
    let host = prop::bool::weighted(0.1);
    let namespace = prop::sample::select(NAMESPACES.to_vec());
    (app, tier, http, dns, host, namespace).prop_map(
        move |(app, tier, http, dns, host, namespace)| {
            let mut labels = BTreeMap::new();
            if let Some(app) = app {
                labels.insert("app".to_string(), app.to_string());
            }
            if let Some(tier) = tier {
                labels.insert("tier".to_string(), tier.to_string());
            }
            let mut ports = Vec::new();
            if let Some(port) = http {
                ports.push(ContainerPort {
                    name: Some("http".into()),
                    port,
                    protocol: Protocol::Tcp,
                });
            }
            if dns {
                ports.push(ContainerPort {
                    name: Some("dns".into()),
                    port: 53,
                    protocol: Protocol::Udp,
                });
            }
            let octet = u8::try_from(index + 1).unwrap();
            Pod {
                namespace: namespace.to_string(),
                name: format!("pod{index}"),
                labels,
                ip: Some(IpAddr::from([10, 244, 0, octet])),
                ports,
                node_name: None,
                host_network: host,
                ready: true,
                images: Vec::new(),
                owner: None,
                origin: None,
            }
        },
    )
}

fn namespaces() -> impl Strategy<Value = BTreeMap<String, Namespace>> {
    prop::collection::vec(prop::sample::select(vec!["dev", "prod"]), 3).prop_map(|envs| {
        NAMESPACES
            .iter()
            .zip(envs)
            .map(|(name, env)| {
                let labels = BTreeMap::from([
                    ("env".to_string(), env.to_string()),
                    ("kubernetes.io/metadata.name".to_string(), name.to_string()),
                ]);
                let ns = Namespace {
                    name: name.to_string(),
                    labels,
                    origin: None,
                };
                (name.to_string(), ns)
            })
            .collect()
    })
}

/// A random cluster with up to `max_pods` pods and `max_policies` policies.
pub fn cluster(max_pods: usize, max_policies: usize) -> impl Strategy<Value = Cluster> {
    let pods = (1..=max_pods).prop_flat_map(|n| (0..n).map(pod).collect::<Vec<_>>());
    let policies = (0..=max_policies).prop_flat_map(|n| (0..n).map(policy).collect::<Vec<_>>());
    (namespaces(), pods, policies, any::<bool>()).prop_map(|(namespaces, pods, policies, ipb)| {
        Cluster {
            namespaces,
            pods,
            services: Vec::new(),
            policies,
            settings: Settings {
                ipblock_matches_pods: ipb,
            },
        }
    })
}
