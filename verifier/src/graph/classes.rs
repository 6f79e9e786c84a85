//! Identity classes: pods that no policy of the cluster can tell apart.
//!
//! Two pods share a class when they have the same namespace, the same values
//! for every label key a selector reads, the same host-network flag, the same
//! membership in every CIDR peer, and the same targets for every named port
//! a rule uses. Every policy then treats them alike as subject and as peer.

use std::collections::{BTreeSet, HashMap};

use moat_ir::eval::peer_matches;
use moat_ir::{Cluster, FlowEnd, Labels, Peer, Peers, PortMatch, Ports, Subject};

/// One identity class.
#[derive(Debug, Clone)]
pub struct IdentityClass {
    pub namespace: String,
    /// The pods' labels restricted to the keys that selectors read.
    pub labels: Labels,
    pub host_network: bool,
    /// Indices into [`Cluster::pods`], ascending.
    pub pods: Vec<usize>,
}

impl IdentityClass {
    /// The pod whose verdicts stand for the whole class.
    pub fn representative(&self) -> usize {
        self.pods.first().copied().unwrap_or(0)
    }

    /// `ns/{app=web,tier=front}` or `ns/*` when no selected label is set.
    pub fn describe(&self) -> String {
        if self.labels.is_empty() {
            return format!("{}/*", self.namespace);
        }
        let pairs: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("{}/{{{}}}", self.namespace, pairs.join(","))
    }
}

/// The classes of a cluster and the class of each pod.
#[derive(Debug, Clone, Default)]
pub struct Classes {
    pub classes: Vec<IdentityClass>,
    /// Class index of each pod, by pod index.
    pub class_of_pod: Vec<usize>,
}

#[derive(Hash, PartialEq, Eq)]
struct ClassKey {
    namespace: String,
    labels: Vec<(String, String)>,
    host_network: bool,
    cidr_hits: Vec<bool>,
    named_ports: Vec<(String, u16, u8)>,
}

impl Classes {
    pub fn build(cluster: &Cluster) -> Self {
        let keys = selector_keys(cluster);
        let cidr_peers = cidr_peers(cluster);
        let port_names = port_names(cluster);
        let mut index: HashMap<ClassKey, usize> = HashMap::new();
        let mut out = Classes::default();
        for (i, pod) in cluster.pods.iter().enumerate() {
            let labels: Labels = pod
                .labels
                .iter()
                .filter(|(k, _)| keys.contains(k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let key = ClassKey {
                namespace: pod.namespace.clone(),
                labels: labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                host_network: pod.host_network,
                cidr_hits: cidr_peers
                    .iter()
                    .map(|peer| peer_matches(cluster, peer, FlowEnd::Pod(i)))
                    .collect(),
                named_ports: pod
                    .ports
                    .iter()
                    .filter_map(|p| {
                        let name = p
                            .name
                            .as_ref()
                            .filter(|n| port_names.contains(n.as_str()))?;
                        Some((name.clone(), p.port, p.protocol.ip_number()))
                    })
                    .collect(),
            };
            let next = out.classes.len();
            let class = *index.entry(key).or_insert(next);
            if class == next {
                out.classes.push(IdentityClass {
                    namespace: pod.namespace.clone(),
                    labels,
                    host_network: pod.host_network,
                    pods: Vec::new(),
                });
            }
            if let Some(c) = out.classes.get_mut(class) {
                c.pods.push(i);
            }
            out.class_of_pod.push(class);
        }
        out
    }

    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }
}

/// Every label key that a subject or peer pod selector reads.
fn selector_keys(cluster: &Cluster) -> BTreeSet<&str> {
    let mut keys = BTreeSet::new();
    for policy in &cluster.policies {
        let Subject::Pods(set) = &policy.subject;
        keys.extend(set.pods.keys());
        for rule in &policy.rules {
            let Peers::List(peers) = &rule.peers else {
                continue;
            };
            for peer in peers {
                if let Peer::Pods(set) = peer {
                    keys.extend(set.pods.keys());
                }
            }
        }
    }
    keys
}

/// Distinct peers whose match depends on a pod's address.
fn cidr_peers(cluster: &Cluster) -> Vec<Peer> {
    let mut peers: Vec<Peer> = Vec::new();
    for rule in cluster.policies.iter().flat_map(|p| &p.rules) {
        let Peers::List(list) = &rule.peers else {
            continue;
        };
        for peer in list {
            let by_address = matches!(peer, Peer::IpBlock(_) | Peer::Networks(_));
            if by_address && !peers.contains(peer) {
                peers.push(peer.clone());
            }
        }
    }
    peers
}

/// Every container-port name that some rule refers to.
fn port_names(cluster: &Cluster) -> BTreeSet<&str> {
    let mut names = BTreeSet::new();
    for rule in cluster.policies.iter().flat_map(|p| &p.rules) {
        let Ports::List(list) = &rule.ports else {
            continue;
        };
        for port in list {
            if let PortMatch::Named(name) = &port.port {
                names.insert(name.as_str());
            }
        }
    }
    names
}
