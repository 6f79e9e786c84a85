//! Finite label domains for the SMT encoding.
//!
//! A selector can only tell apart the values it names, so each label key is
//! encoded as a small integer: `0` for an absent label, `1..=n` for the `n`
//! values that some selector or object mentions, and `n + 1` for any other
//! value. Namespace names get the same treatment.

use std::collections::{BTreeMap, BTreeSet};

use moat_ir::{Cluster, NamespaceMatch, Peer, Peers, PodSet, PortMatch, Ports, Protocol, Subject};

/// The label that Kubernetes sets on every namespace to its name.
pub const NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Label keys with their mentioned values, for pods and for namespaces.
#[derive(Debug, Clone, Default)]
pub struct Universe {
    pub pod_keys: BTreeMap<String, Vec<String>>,
    pub namespace_keys: BTreeMap<String, Vec<String>>,
    /// Namespace names; index `len()` stands for any other name.
    pub namespaces: Vec<String>,
    /// Container-port names that rules use, per protocol.
    pub port_names: Vec<(String, Protocol)>,
    /// Whether some rule matches by address (ipBlock, networks); when none
    /// does, addresses cannot change a verdict and are left unconstrained.
    pub addresses_matter: bool,
}

impl Universe {
    /// Collects the domains of every cluster given, so that their policies
    /// can be compared over one set of variables.
    pub fn of(clusters: &[&Cluster]) -> Self {
        Self::with_sets(clusters, &[])
    }

    /// Like [`Universe::of`], with the values of extra pod sets (assertion
    /// endpoints) in the domains too.
    pub fn with_sets(clusters: &[&Cluster], sets: &[&PodSet]) -> Self {
        let mut pod_keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut ns_keys: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut namespaces: BTreeSet<String> = BTreeSet::new();
        let mut port_names: BTreeSet<(String, Protocol)> = BTreeSet::new();
        for cluster in clusters {
            for policy in &cluster.policies {
                let Subject::Pods(set) = &policy.subject;
                add_set(
                    &set.namespaces,
                    &set.pods,
                    &mut ns_keys,
                    &mut pod_keys,
                    &mut namespaces,
                );
                for rule in &policy.rules {
                    if let Peers::List(peers) = &rule.peers {
                        for peer in peers {
                            if let Peer::Pods(set) = peer {
                                add_set(
                                    &set.namespaces,
                                    &set.pods,
                                    &mut ns_keys,
                                    &mut pod_keys,
                                    &mut namespaces,
                                );
                            }
                        }
                    }
                    if let Ports::List(list) = &rule.ports {
                        for port in list {
                            if let PortMatch::Named(name) = &port.port {
                                port_names.insert((name.clone(), port.protocol));
                            }
                        }
                    }
                }
            }
        }
        for set in sets {
            add_set(
                &set.namespaces,
                &set.pods,
                &mut ns_keys,
                &mut pod_keys,
                &mut namespaces,
            );
        }
        for cluster in clusters {
            add_objects(cluster, &mut ns_keys, &mut pod_keys, &mut namespaces);
        }
        if let Some(names) = ns_keys.get_mut(NAME_LABEL) {
            namespaces.extend(names.iter().cloned());
            names.extend(namespaces.iter().cloned());
        }
        Self {
            pod_keys: to_vecs(pod_keys),
            namespace_keys: to_vecs(ns_keys),
            namespaces: namespaces.into_iter().collect(),
            port_names: port_names.into_iter().collect(),
            addresses_matter: clusters.iter().any(|c| has_address_peer(c)),
        }
    }

    /// Encoded value of a label: 0 absent, 1-based mentioned value, or other.
    pub fn code(values: &[String], value: Option<&str>) -> i64 {
        match value {
            None => 0,
            Some(v) => match values.iter().position(|x| x == v) {
                Some(i) => index_code(i),
                None => index_code(values.len()),
            },
        }
    }

    /// Encoded namespace name; `namespaces.len()` for a name not mentioned.
    pub fn namespace_code(&self, name: &str) -> i64 {
        let index = self
            .namespaces
            .iter()
            .position(|n| n == name)
            .unwrap_or(self.namespaces.len());
        i64::try_from(index).unwrap_or(i64::MAX)
    }
}

fn index_code(index: usize) -> i64 {
    i64::try_from(index).unwrap_or(i64::MAX - 1) + 1
}

fn add_set(
    namespaces: &NamespaceMatch,
    pods: &moat_ir::selector::LabelSelector,
    ns_keys: &mut BTreeMap<String, BTreeSet<String>>,
    pod_keys: &mut BTreeMap<String, BTreeSet<String>>,
    names: &mut BTreeSet<String>,
) {
    match namespaces {
        NamespaceMatch::Name(name) => {
            names.insert(name.clone());
        }
        NamespaceMatch::Selector(selector) => add_selector(selector, ns_keys),
    }
    add_selector(pods, pod_keys);
}

fn add_selector(
    selector: &moat_ir::selector::LabelSelector,
    keys: &mut BTreeMap<String, BTreeSet<String>>,
) {
    for requirement in &selector.requirements {
        keys.entry(requirement.key.clone())
            .or_default()
            .extend(requirement.values.iter().cloned());
    }
}

/// Adds the values that existing objects carry for keys selectors read.
fn add_objects(
    cluster: &Cluster,
    ns_keys: &mut BTreeMap<String, BTreeSet<String>>,
    pod_keys: &mut BTreeMap<String, BTreeSet<String>>,
    names: &mut BTreeSet<String>,
) {
    for namespace in cluster.namespaces.values() {
        names.insert(namespace.name.clone());
        for (key, values) in ns_keys.iter_mut() {
            if let Some(v) = namespace.labels.get(key) {
                values.insert(v.clone());
            }
        }
    }
    for pod in &cluster.pods {
        names.insert(pod.namespace.clone());
        for (key, values) in pod_keys.iter_mut() {
            if let Some(v) = pod.labels.get(key) {
                values.insert(v.clone());
            }
        }
    }
}

fn to_vecs(map: BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, Vec<String>> {
    map.into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect()
}

fn has_address_peer(cluster: &Cluster) -> bool {
    cluster
        .policies
        .iter()
        .flat_map(|p| &p.rules)
        .any(|rule| match &rule.peers {
            Peers::Any => false,
            Peers::List(list) => list
                .iter()
                .any(|peer| matches!(peer, Peer::IpBlock(_) | Peer::Networks(_))),
        })
}
