//! Synthetic clusters of a chosen size, for benchmarks and scale tests.
//!
//! Each namespace runs `apps` applications (label `app`), each with equal
//! numbers of pods. Per namespace there is a default-deny policy for both
//! directions, a DNS egress policy, and per application an ingress policy
//! from the previous application on tcp/8080 plus a monitoring rule from
//! namespaces labelled `team=ops` on tcp/9090.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use moat_ir::selector::LabelSelector;
use moat_ir::{
    Action, Cluster, ContainerPort, Direction, Namespace, NamespaceMatch, Peer, Peers, Pod, PodSet,
    Policy, PolicyKind, PortMatch, PortRule, Ports, Protocol, Rule, Settings, Subject, Tier,
};

/// Size of a synthetic cluster.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    pub namespaces: usize,
    pub apps: usize,
    pub pods: usize,
}

impl Size {
    /// Policies the cluster will have: two per namespace, one per
    /// application, and one per `team=ops` namespace.
    pub fn policies(&self) -> usize {
        self.namespaces * (2 + self.apps) + self.namespaces.div_ceil(10)
    }
}

/// Builds the cluster. Variant 1 changes the monitoring port of every tenth
/// application, so it differs from variant 0 in a few rules. Variant 2
/// writes every application peer as `app In [previous, unused]` and
/// `app NotIn [unused]`: other formulas, the same meaning as variant 0.
pub fn cluster(size: Size, variant: u16) -> Cluster {
    let mut cluster = Cluster {
        settings: Settings::default(),
        ..Cluster::default()
    };
    for n in 0..size.namespaces {
        let name = format!("ns-{n}");
        let team = if n % 10 == 0 { "ops" } else { "dev" };
        let labels = BTreeMap::from([
            ("team".to_string(), team.to_string()),
            ("kubernetes.io/metadata.name".to_string(), name.clone()),
        ]);
        cluster.namespaces.insert(
            name.clone(),
            Namespace {
                name: name.clone(),
                labels,
                origin: None,
            },
        );
        cluster
            .policies
            .extend(namespace_policies(&name, size.apps, variant));
        if team == "ops" {
            let all_pods = Peer::Pods(PodSet {
                namespaces: NamespaceMatch::Selector(LabelSelector::everything()),
                pods: LabelSelector::everything(),
            });
            let ports = Ports::List(vec![PortRule {
                protocol: Protocol::Tcp,
                port: PortMatch::Range {
                    start: 9090,
                    end: 9099,
                },
            }]);
            let rules = vec![rule(Direction::Egress, Peers::List(vec![all_pods]), ports)];
            let everyone = LabelSelector::everything();
            cluster.policies.push(policy(
                &name,
                "monitoring-egress",
                everyone,
                (false, true),
                rules,
            ));
        }
    }
    for i in 0..size.pods {
        let namespace = i % size.namespaces.max(1);
        let app = (i / size.namespaces.max(1)) % size.apps.max(1);
        cluster.pods.push(pod(i, namespace, app));
    }
    cluster
}

fn pod(index: usize, namespace: usize, app: usize) -> Pod {
    let labels = BTreeMap::from([
        ("app".to_string(), format!("app-{app}")),
        ("pod-template-hash".to_string(), format!("h{index}")),
    ]);
    let [_, high, middle, low] = u32::try_from(index).unwrap_or(0).to_be_bytes();
    let ip = Ipv4Addr::new(10, 128 | (high & 0x7f), middle, low);
    Pod {
        namespace: format!("ns-{namespace}"),
        name: format!("app-{app}-{index}"),
        labels,
        ip: Some(IpAddr::V4(ip)),
        ports: vec![ContainerPort {
            name: Some("http".into()),
            port: 8080,
            protocol: Protocol::Tcp,
        }],
        node_name: None,
        host_network: false,
        ready: true,
        images: Vec::new(),
        owner: None,
        origin: None,
    }
}

fn namespace_policies(namespace: &str, apps: usize, variant: u16) -> Vec<Policy> {
    let everyone = LabelSelector::everything();
    let mut out = vec![
        policy(
            namespace,
            "default-deny",
            everyone.clone(),
            (true, true),
            Vec::new(),
        ),
        policy(
            namespace,
            "dns",
            everyone,
            (false, true),
            vec![rule(
                Direction::Egress,
                Peers::Any,
                ports(Protocol::Udp, 53),
            )],
        ),
    ];
    for app in 0..apps {
        let previous = format!("app-{}", (app + apps - 1) % apps);
        let pods = if variant == 2 {
            let requirement = |operator, values: &[&str]| moat_ir::selector::Requirement {
                key: "app".to_string(),
                operator,
                values: values.iter().map(|v| v.to_string()).collect(),
            };
            LabelSelector {
                requirements: vec![
                    requirement(
                        moat_ir::selector::Operator::In,
                        &[previous.as_str(), "unused"],
                    ),
                    requirement(moat_ir::selector::Operator::NotIn, &["unused"]),
                ],
            }
        } else {
            LabelSelector::from_labels([("app", previous.as_str())])
        };
        let from_previous = Peer::Pods(PodSet {
            namespaces: NamespaceMatch::Name(namespace.to_string()),
            pods,
        });
        let from_ops = Peer::Pods(PodSet {
            namespaces: NamespaceMatch::Selector(LabelSelector::from_labels([("team", "ops")])),
            pods: LabelSelector::everything(),
        });
        let metrics = if app % 10 == 0 && variant == 1 {
            9091
        } else {
            9090
        };
        let rules = vec![
            rule(
                Direction::Ingress,
                Peers::List(vec![from_previous]),
                ports(Protocol::Tcp, 8080),
            ),
            rule(
                Direction::Ingress,
                Peers::List(vec![from_ops]),
                ports(Protocol::Tcp, metrics),
            ),
        ];
        let name = format!("app-{app}");
        let subject = LabelSelector::from_labels([("app", name.as_str())]);
        out.push(policy(
            namespace,
            &format!("{name}-ingress"),
            subject,
            (true, false),
            rules,
        ));
    }
    out
}

fn ports(protocol: Protocol, port: u16) -> Ports {
    Ports::List(vec![PortRule {
        protocol,
        port: PortMatch::Range {
            start: port,
            end: port,
        },
    }])
}

fn rule(direction: Direction, peers: Peers, ports: Ports) -> Rule {
    Rule {
        direction,
        action: Action::Allow,
        index: 0,
        peers,
        ports,
        origin: None,
    }
}

fn policy(
    namespace: &str,
    name: &str,
    pods: LabelSelector,
    (ingress, egress): (bool, bool),
    rules: Vec<Rule>,
) -> Policy {
    Policy {
        kind: PolicyKind::NetworkPolicy,
        namespace: Some(namespace.to_string()),
        name: name.to_string(),
        tier: Tier::Namespaced,
        priority: 0,
        subject: Subject::Pods(PodSet {
            namespaces: NamespaceMatch::Name(namespace.to_string()),
            pods,
        }),
        isolates_ingress: ingress,
        isolates_egress: egress,
        rules,
        origin: None,
    }
}
