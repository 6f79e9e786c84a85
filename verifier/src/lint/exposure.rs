//! Checks on what pods are exposed to: `not-isolated`, `dns-egress-blocked`,
//! `allow-all` and `ipblock-covers-pod-cidr`.

use std::collections::BTreeMap;

use moat_ir::eval::subject_selects;
use moat_ir::{Action, Cluster, Direction, Entity, NamespaceMatch, Peer, Peers, Ports, Protocol};

use crate::describe::{list_text, policy_text, rule_text};
use crate::finding::Finding;
use crate::graph::Graph;

/// Pods that no policy isolates, one finding per namespace and direction.
pub fn not_isolated(cluster: &Cluster, graph: &Graph) -> Vec<Finding> {
    let mut open: BTreeMap<(String, Direction), Vec<usize>> = BTreeMap::new();
    for (c, class) in graph.classes.classes.iter().enumerate() {
        let Some(isolation) = graph.isolation.get(c) else {
            continue;
        };
        if class.host_network {
            continue;
        }
        for (direction, isolated) in [
            (Direction::Ingress, isolation.ingress),
            (Direction::Egress, isolation.egress),
        ] {
            if !isolated {
                open.entry((class.namespace.clone(), direction))
                    .or_default()
                    .extend(&class.pods);
            }
        }
    }
    open.into_iter()
        .map(|((namespace, direction), mut pods)| {
            pods.sort_unstable();
            let names: Vec<String> = pods.iter().filter_map(|&i| cluster.pods.get(i)).map(|p| p.name.clone()).collect();
            let verb = match direction {
                Direction::Ingress => "any peer may connect to them",
                Direction::Egress => "they may connect to any peer",
            };
            let message = format!(
                "{} pod(s) in namespace {namespace} are not isolated for {direction}, so {verb}: {}",
                names.len(),
                list_text(&names, 5)
            );
            let origin = pods.first().and_then(|&i| cluster.pods.get(i)).and_then(|p| p.origin.clone());
            Finding::new("not-isolated", message)
                .at(origin)
                .with_help(format!("add a NetworkPolicy with `podSelector: {{}}` and policyTypes [{}] to namespace {namespace}", capitalised(direction)))
        })
        .collect()
}

fn capitalised(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => "Ingress",
        Direction::Egress => "Egress",
    }
}

/// Egress-isolated pods with no allowed UDP/53 path to the DNS pods
/// (label `k8s-app=kube-dns`), or to anything when the input has no DNS pods.
pub fn dns_egress_blocked(cluster: &Cluster, graph: &Graph) -> Vec<Finding> {
    let Some(dns_port) = graph.ports.atom_of(Protocol::Udp, 53) else {
        return Vec::new();
    };
    let dns_pods: Vec<usize> = (0..cluster.pods.len())
        .filter(|&i| {
            cluster
                .pods
                .get(i)
                .is_some_and(|p| p.labels.get("k8s-app").is_some_and(|v| v == "kube-dns"))
        })
        .collect();
    let targets: Vec<petgraph::graph::NodeIndex> = if dns_pods.is_empty() {
        graph.graph.node_indices().collect()
    } else {
        dns_pods
            .iter()
            .filter_map(|&i| graph.node_of(moat_ir::FlowEnd::Pod(i)))
            .collect()
    };
    let mut out = Vec::new();
    for (c, class) in graph.classes.classes.iter().enumerate() {
        if class.host_network || !graph.isolation.get(c).is_some_and(|i| i.egress) {
            continue;
        }
        let from = graph.class_node(c);
        let reaches = if dns_pods.is_empty() {
            graph
                .graph
                .edges(from)
                .any(|e| e.weight().contains(dns_port))
        } else {
            targets.iter().any(|&t| {
                graph
                    .edge_ports(from, t)
                    .is_some_and(|ports| ports.contains(dns_port))
            })
        };
        if reaches {
            continue;
        }
        let Some(pod) = cluster.pods.get(class.representative()) else {
            continue;
        };
        let isolating = cluster.policies.iter().position(|p| {
            let covers_egress =
                p.isolates_egress || p.rules.iter().any(|r| r.direction == Direction::Egress);
            covers_egress && subject_selects(cluster, p, pod)
        });
        let names: Vec<String> = class
            .pods
            .iter()
            .filter_map(|&i| cluster.pods.get(i))
            .map(|p| p.key())
            .collect();
        let by = isolating
            .map(|p| format!(" (egress isolated by {})", policy_text(cluster, p)))
            .unwrap_or_default();
        let target = if dns_pods.is_empty() {
            "any destination"
        } else {
            "the kube-dns pods"
        };
        let message = format!(
            "{} cannot reach {target} on udp/53{by}",
            list_text(&names, 4)
        );
        out.push(
            Finding::new("dns-egress-blocked", message)
                .at(isolating.and_then(|p| cluster.policies.get(p)).and_then(|p| p.origin.clone()))
                .with_label("this policy isolates egress without allowing DNS")
                .with_help("add an egress rule to namespace kube-system, pods k8s-app=kube-dns, on UDP 53 and TCP 53"),
        );
    }
    out
}

/// Whether a peer list covers every peer there is.
fn everyone(peers: &Peers) -> bool {
    let list = match peers {
        Peers::Any => return true,
        Peers::List(list) => list,
    };
    list.iter().any(|peer| match peer {
        Peer::Entity(Entity::All) => true,
        Peer::IpBlock(block) => block.cidr.prefix_len() == 0 && block.except.is_empty(),
        _ => false,
    }) || {
        let all_pods = list.iter().any(|peer| {
            matches!(peer, Peer::Pods(set) if set.pods.is_everything()
                && matches!(&set.namespaces, NamespaceMatch::Selector(s) if s.is_everything()))
        });
        let world = list
            .iter()
            .any(|peer| matches!(peer, Peer::Entity(Entity::World)));
        all_pods && world
    }
}

/// Allow rules with no peer and no port restriction.
pub fn allow_all(cluster: &Cluster) -> Vec<Finding> {
    let mut out = Vec::new();
    for (p, policy) in cluster.policies.iter().enumerate() {
        for (r, rule) in policy.rules.iter().enumerate() {
            if rule.action != Action::Allow
                || !matches!(rule.ports, Ports::Any)
                || !everyone(&rule.peers)
            {
                continue;
            }
            let reference = moat_ir::RuleRef { policy: p, rule: r };
            let message = format!(
                "{} allows every peer on every port",
                rule_text(cluster, reference)
            );
            out.push(
                Finding::new("allow-all", message)
                    .at(rule.origin.clone())
                    .with_label("no peer or port restriction")
                    .with_help("list the peers and ports the workload needs; an empty `from`/`to` means everyone"),
            );
        }
    }
    out
}

/// ipBlock peers that contain addresses of pods in the input.
pub fn ipblock_covers_pods(cluster: &Cluster) -> Vec<Finding> {
    let mut out = Vec::new();
    for (p, policy) in cluster.policies.iter().enumerate() {
        for rule in &policy.rules {
            let Peers::List(peers) = &rule.peers else {
                continue;
            };
            for peer in peers {
                let Peer::IpBlock(block) = peer else { continue };
                // A Cilium CIDR peer never matches pods, whatever the setting,
                // so its meaning does not depend on the implementation.
                if block.matches_pods.is_some() {
                    continue;
                }
                let covered: Vec<String> = cluster
                    .pods
                    .iter()
                    .filter(|pod| !pod.host_network && pod.ip.is_some_and(|ip| block.contains(ip)))
                    .map(|pod| pod.key())
                    .collect();
                if covered.is_empty() {
                    continue;
                }
                let effect = if cluster.settings.ipblock_matches_pods {
                    "this setup matches them (ipblock_matches_pods), Cilium would not"
                } else {
                    "this setup does not match them (as in Cilium), Calico would"
                };
                let message = format!(
                    "ipBlock {} in {} {}[{}] contains the addresses of {} pod(s) ({}); {effect}",
                    block.cidr,
                    policy_text(cluster, p),
                    rule.direction,
                    rule.index,
                    covered.len(),
                    list_text(&covered, 3)
                );
                out.push(
                    Finding::new("ipblock-covers-pod-cidr", message)
                        .at(rule.origin.clone())
                        .with_label("this CIDR overlaps pod addresses")
                        .with_help("select pods with podSelector/namespaceSelector and add the pod CIDR to `except`"),
                );
            }
        }
    }
    out
}
