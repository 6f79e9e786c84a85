//! Indexes that keep table computation near-linear: which identities each
//! distinct rule peer matches, and which policies can select a pod.
//!
//! Both indexes only narrow the candidates; the final word is always the
//! evaluator's own `peer_matches` or `subject_selects`.

use std::collections::HashMap;

use moat_ir::eval::{peer_matches, subject_selects};
use moat_ir::selector::{Operator, Requirement};
use moat_ir::{Cluster, FlowEnd, NamespaceMatch, Peer, Subject};

use crate::identity::Identities;

/// Distinct peers and the identities (by index into `Identities::all`) each matches.
pub struct PeerIndex<'a> {
    cluster: &'a Cluster,
    identities: &'a Identities,
    by_label: HashMap<(String, String), Vec<usize>>,
    by_namespace_label: HashMap<(String, String), Vec<usize>>,
    by_namespace: HashMap<String, Vec<usize>>,
    pods: Vec<usize>,
    ids: HashMap<String, usize>,
    matches: Vec<Vec<usize>>,
}

impl<'a> PeerIndex<'a> {
    pub fn new(cluster: &'a Cluster, identities: &'a Identities) -> Self {
        let mut index = Self {
            cluster,
            identities,
            by_label: HashMap::new(),
            by_namespace_label: HashMap::new(),
            by_namespace: HashMap::new(),
            pods: Vec::new(),
            ids: HashMap::new(),
            matches: Vec::new(),
        };
        for (i, identity) in identities.all.iter().enumerate() {
            let FlowEnd::Pod(p) = identity.representative else {
                continue;
            };
            let Some(pod) = cluster.pods.get(p) else {
                continue;
            };
            index.pods.push(i);
            index
                .by_namespace
                .entry(pod.namespace.clone())
                .or_default()
                .push(i);
            for (k, v) in &pod.labels {
                let key = (k.clone(), v.clone());
                index.by_label.entry(key).or_default().push(i);
            }
            let namespace = cluster.namespaces.get(&pod.namespace);
            for (k, v) in namespace.iter().flat_map(|ns| &ns.labels) {
                let key = (k.clone(), v.clone());
                index.by_namespace_label.entry(key).or_default().push(i);
            }
        }
        index
    }

    /// The id of a peer, computing its matches on first sight.
    pub fn id(&mut self, peer: &Peer) -> usize {
        let text = format!("{peer:?}");
        if let Some(&id) = self.ids.get(&text) {
            return id;
        }
        let matched = self
            .candidates(peer)
            .into_iter()
            .filter(|&i| {
                let end = self.identities.all.get(i).map(|x| x.representative);
                end.is_some_and(|end| peer_matches(self.cluster, peer, end))
            })
            .collect();
        let id = self.matches.len();
        self.matches.push(matched);
        self.ids.insert(text, id);
        id
    }

    /// Identities (sorted indices) that the peer matches.
    pub fn matches(&self, id: usize) -> &[usize] {
        self.matches.get(id).map(Vec::as_slice).unwrap_or_default()
    }

    /// Identities that could match: a pod peer can only match pod identities
    /// that carry one of the values of each `In` requirement (on pod or
    /// namespace labels) and that live in its namespace. The smallest of these
    /// lists is the candidate set.
    fn candidates(&self, peer: &Peer) -> Vec<usize> {
        let Peer::Pods(set) = peer else {
            return (0..self.identities.all.len()).collect();
        };
        let mut lists: Vec<Vec<usize>> = Vec::new();
        for requirement in set
            .pods
            .requirements
            .iter()
            .filter(|r| r.operator == Operator::In)
        {
            lists.push(union(&self.by_label, requirement));
        }
        match &set.namespaces {
            NamespaceMatch::Name(ns) => {
                lists.push(self.by_namespace.get(ns).cloned().unwrap_or_default());
            }
            NamespaceMatch::Selector(selector) => {
                let required = selector
                    .requirements
                    .iter()
                    .filter(|r| r.operator == Operator::In);
                for requirement in required {
                    lists.push(union(&self.by_namespace_label, requirement));
                }
            }
        }
        let smallest = lists.into_iter().min_by_key(Vec::len);
        smallest.unwrap_or_else(|| self.pods.clone())
    }
}

/// Identities carrying any of the requirement's values, sorted.
fn union(index: &HashMap<(String, String), Vec<usize>>, requirement: &Requirement) -> Vec<usize> {
    let mut found: Vec<usize> = requirement
        .values
        .iter()
        .filter_map(|v| index.get(&(requirement.key.clone(), v.clone())))
        .flatten()
        .copied()
        .collect();
    found.sort_unstable();
    found.dedup();
    found
}

/// Policies by the namespace their subject names, to find selecting policies fast.
pub struct SubjectIndex {
    by_namespace: HashMap<String, Vec<usize>>,
    any_namespace: Vec<usize>,
}

impl SubjectIndex {
    pub fn new(cluster: &Cluster) -> Self {
        let mut index = Self {
            by_namespace: HashMap::new(),
            any_namespace: Vec::new(),
        };
        for (i, policy) in cluster.policies.iter().enumerate() {
            let Subject::Pods(set) = &policy.subject;
            match &set.namespaces {
                NamespaceMatch::Name(ns) => {
                    index.by_namespace.entry(ns.clone()).or_default().push(i)
                }
                NamespaceMatch::Selector(_) => index.any_namespace.push(i),
            }
        }
        index
    }

    /// Policies selecting the pod, in ascending order.
    pub fn selecting(&self, cluster: &Cluster, pod: usize) -> Vec<usize> {
        let Some(subject) = cluster.pods.get(pod) else {
            return Vec::new();
        };
        let named = self
            .by_namespace
            .get(&subject.namespace)
            .into_iter()
            .flatten();
        let mut found: Vec<usize> = named
            .chain(&self.any_namespace)
            .copied()
            .filter(|&i| {
                cluster
                    .policies
                    .get(i)
                    .is_some_and(|p| subject_selects(cluster, p, subject))
            })
            .collect();
        found.sort_unstable();
        found
    }
}
