//! Security identities: one per distinct set of identity-relevant pod facts,
//! the reserved identities, and one per CIDR atom.
//!
//! A pod's identity key holds only what the evaluator can read about a peer:
//! its namespace name, the namespace labels and pod labels whose keys some
//! selector reads, the longest referenced prefix containing its IP (for
//! `ipBlock` and `networks` peers) and how it resolves the named ports that
//! egress rules mention (an egress named port resolves on the peer). Pods
//! with equal keys are indistinguishable to every rule as peers, so labels no
//! selector reads (a UUID, a hash) never multiply identities. Ingress named
//! ports resolve on the subject and key its table instead (see `tables`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;
use moat_ir::{
    Cluster, Direction, FlowEnd, NamespaceMatch, Peer, Peers, Pod, PodSet, PortMatch, Ports,
};
use moat_ir::{Protocol, Subject};
use serde::{Deserialize, Serialize};

use crate::cidr::{Atoms, world};
use crate::layout::{ID_FIRST_CIDR, ID_FIRST_POD, ID_WORLD, ID_WORLD_V6};

/// The meaning of an identity, as stored in the image for inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityInfo {
    pub id: u32,
    /// `pod`, `cidr` or `world`.
    pub kind: String,
    /// Identity-relevant labels (`namespace=...`, then pod labels) or the prefix.
    pub labels: Vec<String>,
}

/// One allocated identity and the flow end that the compiler evaluates for it.
#[derive(Debug, Clone)]
pub struct Identity {
    pub info: IdentityInfo,
    pub representative: FlowEnd,
}

/// Every identity of a cluster and the identity of each pod.
#[derive(Debug, Clone)]
pub struct Identities {
    pub all: Vec<Identity>,
    /// Identity of each pod by index into `Cluster::pods`; `None` for host-network pods.
    pub of_pod: Vec<Option<u32>>,
    /// CIDR atoms and their identities, `0.0.0.0/0` and `::/0` included.
    pub prefixes: Vec<(IpNet, u32)>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PodKey {
    namespace: String,
    namespace_labels: Vec<(String, String)>,
    labels: Vec<(String, String)>,
    prefix: Option<IpNet>,
    named_ports: Vec<Option<u16>>,
}

/// Label keys, named ports and prefixes that rules and subjects can read.
struct Relevant {
    pod_keys: BTreeSet<String>,
    namespace_keys: BTreeSet<String>,
    named_ports: Vec<(String, Protocol)>,
}

/// Allocates identities for a cluster: pods first, then CIDR atoms.
pub fn allocate(cluster: &Cluster, atoms: &Atoms) -> Identities {
    let relevant = relevant(cluster);
    let mut classes: BTreeMap<PodKey, Vec<usize>> = BTreeMap::new();
    let mut keyed = Vec::with_capacity(cluster.pods.len());
    for (index, pod) in cluster.pods.iter().enumerate() {
        if pod.host_network {
            keyed.push(None);
            continue;
        }
        let key = pod_key(cluster, pod, &relevant, atoms);
        classes.entry(key.clone()).or_default().push(index);
        keyed.push(Some(key));
    }

    let mut all = Vec::new();
    let mut ids: BTreeMap<&PodKey, u32> = BTreeMap::new();
    for (offset, (key, pods)) in (0u32..).zip(&classes) {
        let id = ID_FIRST_POD.saturating_add(offset);
        ids.insert(key, id);
        let representative = FlowEnd::Pod(pods.first().copied().unwrap_or_default());
        let info = IdentityInfo {
            id,
            kind: "pod".to_string(),
            labels: describe(key),
        };
        all.push(Identity {
            info,
            representative,
        });
    }
    let of_pod = keyed
        .iter()
        .map(|k| k.as_ref().and_then(|k| ids.get(k).copied()))
        .collect();

    let prefixes = cidr_identities(atoms, &mut all);
    Identities {
        all,
        of_pod,
        prefixes,
    }
}

fn cidr_identities(atoms: &Atoms, all: &mut Vec<Identity>) -> Vec<(IpNet, u32)> {
    let mut prefixes = Vec::new();
    let mut next = ID_FIRST_CIDR;
    for &prefix in atoms.prefixes() {
        let Some(ip) = atoms.representative(prefix) else {
            continue;
        };
        let (id, kind) = if prefix == world(false) {
            (ID_WORLD, "world")
        } else if prefix == world(true) {
            (ID_WORLD_V6, "world")
        } else {
            next = next.saturating_add(1);
            (next - 1, "cidr")
        };
        prefixes.push((prefix, id));
        let info = IdentityInfo {
            id,
            kind: kind.to_string(),
            labels: vec![format!("cidr={prefix}")],
        };
        all.push(Identity {
            info,
            representative: FlowEnd::External(ip),
        });
    }
    prefixes
}

fn pod_key(cluster: &Cluster, pod: &Pod, relevant: &Relevant, atoms: &Atoms) -> PodKey {
    let namespace_labels = cluster
        .namespaces
        .get(&pod.namespace)
        .map(|ns| restrict(&ns.labels, &relevant.namespace_keys))
        .unwrap_or_default();
    let named_ports = relevant
        .named_ports
        .iter()
        .map(|(name, protocol)| pod.named_port(name, *protocol))
        .collect();
    PodKey {
        namespace: pod.namespace.clone(),
        namespace_labels,
        labels: restrict(&pod.labels, &relevant.pod_keys),
        prefix: pod.ip.map(|ip: IpAddr| atoms.longest(ip)),
        named_ports,
    }
}

fn restrict(labels: &moat_ir::Labels, keys: &BTreeSet<String>) -> Vec<(String, String)> {
    labels
        .iter()
        .filter(|(k, _)| keys.contains(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn describe(key: &PodKey) -> Vec<String> {
    let mut labels = vec![format!("namespace={}", key.namespace)];
    for (k, v) in &key.namespace_labels {
        labels.push(format!("ns:{k}={v}"));
    }
    for (k, v) in &key.labels {
        labels.push(format!("{k}={v}"));
    }
    if let Some(prefix) = key.prefix.filter(|p| p.prefix_len() > 0) {
        labels.push(format!("cidr={prefix}"));
    }
    labels
}

fn relevant(cluster: &Cluster) -> Relevant {
    let mut relevant = Relevant {
        pod_keys: BTreeSet::new(),
        namespace_keys: BTreeSet::new(),
        named_ports: Vec::new(),
    };
    let mut named = BTreeSet::new();
    for policy in &cluster.policies {
        let Subject::Pods(set) = &policy.subject;
        relevant.add_set(set);
        for rule in &policy.rules {
            if let Peers::List(peers) = &rule.peers {
                for peer in peers {
                    if let Peer::Pods(set) = peer {
                        relevant.add_set(set);
                    }
                }
            }
            if let (Ports::List(ports), Direction::Egress) = (&rule.ports, rule.direction) {
                for port in ports {
                    if let PortMatch::Named(name) = &port.port {
                        named.insert((name.clone(), port.protocol));
                    }
                }
            }
        }
    }
    relevant.named_ports = named.into_iter().collect();
    relevant
}

impl Relevant {
    fn add_set(&mut self, set: &PodSet) {
        self.pod_keys.extend(set.pods.keys().map(str::to_string));
        if let NamespaceMatch::Selector(selector) = &set.namespaces {
            self.namespace_keys
                .extend(selector.keys().map(str::to_string));
        }
    }
}

#[cfg(test)]
mod tests {
    use moat_ir::load_str;

    use super::*;

    const MANIFESTS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: a1, namespace: x, labels: {app: a, uuid: "1"}}
spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a2, namespace: x, labels: {app: a, uuid: "2"}}
spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b1, namespace: x, labels: {app: b, uuid: "3"}}
spec: {containers: [{name: c, image: busybox}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress:
  - from:
    - ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}
"#;

    fn identities() -> (Cluster, Identities) {
        let loaded = load_str("identity.yaml", MANIFESTS, &moat_ir::LoadOptions::default());
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        let atoms = Atoms::collect(&loaded.cluster);
        let identities = allocate(&loaded.cluster, &atoms);
        (loaded.cluster, identities)
    }

    #[test]
    fn unread_labels_share_identity() {
        let (_, ids) = identities();
        assert_eq!(ids.of_pod[0], ids.of_pod[1], "uuid is read by no selector");
        assert_ne!(ids.of_pod[0], ids.of_pod[2], "app is read by the policy");
    }

    #[test]
    fn cidr_atoms_get_identities() {
        let (_, ids) = identities();
        let prefixes: Vec<String> = ids.prefixes.iter().map(|(p, _)| p.to_string()).collect();
        assert_eq!(prefixes, ["0.0.0.0/0", "10.0.0.0/8", "::/0"]);
        let world = ids
            .prefixes
            .iter()
            .find(|(p, _)| p.prefix_len() == 0)
            .map(|(_, id)| *id);
        assert_eq!(world, Some(ID_WORLD));
        let ten = ids
            .prefixes
            .iter()
            .find(|(p, _)| p.prefix_len() == 8)
            .map(|(_, id)| *id);
        assert_eq!(ten, Some(ID_FIRST_CIDR));
    }
}
