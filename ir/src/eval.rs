//! The reference evaluator: the executable specification of policy semantics.
//!
//! Every other engine (graph, SMT, compiled image, kernel datapath) is checked
//! against [`verdict`]. It favours plain, obviously correct code over speed.

use std::net::IpAddr;

use serde::Serialize;

use crate::model::{
    Action, Cluster, Direction, Entity, NamespaceMatch, Peer, Peers, Pod, PodSet, Policy,
    PolicyKind, PortMatch, Ports, Protocol, Subject, Tier,
};

/// One end of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum FlowEnd {
    /// Index into [`Cluster::pods`].
    Pod(usize),
    /// An address that belongs to no pod of the cluster.
    External(IpAddr),
}

/// A connection attempt after any Service translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Flow {
    pub src: FlowEnd,
    pub dst: FlowEnd,
    pub protocol: Protocol,
    pub port: u16,
}

/// A rule, by index into [`Cluster::policies`] and that policy's rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    pub policy: usize,
    pub rule: usize,
}

/// The reason one side of a flow was allowed or denied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Reason {
    /// This end is outside the cluster, so no policy of this side applies.
    Outside,
    /// The pod uses the host network, which pod policies do not cover.
    HostNetwork,
    /// No policy isolates the pod in this direction.
    NotIsolated,
    /// This rule matched and its action decided.
    Rule(RuleRef),
    /// NetworkPolicies isolate the pod, and none of their rules matched.
    NoRuleMatched { policies: Vec<usize> },
}

/// The decision of one direction: egress at the source or ingress at the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub allowed: bool,
    pub reason: Reason,
    /// Admin-tier `Pass` rules that handed this decision to a lower tier.
    pub passed: Vec<RuleRef>,
}

/// The verdict for one flow: allowed when both directions allow it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub allowed: bool,
    /// The flow judged, after any Service translation.
    pub flow: Flow,
    pub egress: Decision,
    pub ingress: Decision,
}

/// Judges a flow: egress policy of the source, then ingress policy of the destination.
pub fn verdict(cluster: &Cluster, flow: &Flow) -> Verdict {
    let egress = decide_side(cluster, flow, Direction::Egress);
    let ingress = decide_side(cluster, flow, Direction::Ingress);
    Verdict {
        allowed: egress.allowed && ingress.allowed,
        flow: *flow,
        egress,
        ingress,
    }
}

fn decide_side(cluster: &Cluster, flow: &Flow, direction: Direction) -> Decision {
    decide_side_among(cluster, flow, direction, None)
}

/// Decides one direction of a flow exactly as [`verdict`] does, looking only at
/// the `candidates` policies (indices into [`Cluster::policies`]) when given.
///
/// `candidates` must be in ascending order and contain every policy whose
/// subject selects the deciding pod. The compiler passes a precomputed list
/// so that it need not scan all policies per lookup.
pub fn decide_side_among(
    cluster: &Cluster,
    flow: &Flow,
    direction: Direction,
    candidates: Option<&[usize]>,
) -> Decision {
    let (subject, peer) = match direction {
        Direction::Egress => (flow.src, flow.dst),
        Direction::Ingress => (flow.dst, flow.src),
    };
    let FlowEnd::Pod(index) = subject else {
        return decision(true, Reason::Outside, Vec::new());
    };
    let Some(pod) = cluster.pods.get(index) else {
        return decision(true, Reason::Outside, Vec::new());
    };
    if pod.host_network {
        return decision(true, Reason::HostNetwork, Vec::new());
    }
    let query = SideQuery {
        cluster,
        flow,
        direction,
        subject: pod,
        peer,
        candidates,
    };
    query.decide()
}

fn decision(allowed: bool, reason: Reason, passed: Vec<RuleRef>) -> Decision {
    Decision {
        allowed,
        reason,
        passed,
    }
}

/// One direction of one flow, seen from the pod that the policies select.
struct SideQuery<'a> {
    cluster: &'a Cluster,
    flow: &'a Flow,
    direction: Direction,
    subject: &'a Pod,
    peer: FlowEnd,
    candidates: Option<&'a [usize]>,
}

impl SideQuery<'_> {
    fn decide(&self) -> Decision {
        let mut passed = Vec::new();

        if let Some(hit) = self.ranked_tier(Tier::Admin, &mut passed) {
            return decision(hit.1 == Action::Allow, Reason::Rule(hit.0), passed);
        }

        if let Some(found) = self.namespaced_tier() {
            return Decision { passed, ..found };
        }

        if let Some(hit) = self.ranked_tier(Tier::Baseline, &mut passed) {
            return decision(hit.1 == Action::Allow, Reason::Rule(hit.0), passed);
        }

        decision(true, Reason::NotIsolated, passed)
    }

    /// Admin or baseline tier: policies by ascending priority (then name), the
    /// first matching rule decides. A `Pass` ends the tier without a decision.
    fn ranked_tier(&self, tier: Tier, passed: &mut Vec<RuleRef>) -> Option<(RuleRef, Action)> {
        let mut admins: Vec<usize> = self.selecting(tier).collect();
        admins.sort_by_key(|&i| {
            self.cluster
                .policies
                .get(i)
                .map(|p| (p.priority, p.name.clone()))
        });
        for policy in admins {
            if let Some((rule, action)) = self.first_matching_rule(policy) {
                if action == Action::Pass {
                    passed.push(rule);
                    return None;
                }
                return Some((rule, action));
            }
        }
        None
    }

    /// Decides the NetworkPolicy tier, Cilium policies included. A matching
    /// deny rule decides first, whether the pod is isolated or not. Then, if a
    /// selecting policy isolates the pod, the union of allow rules decides,
    /// and a flow that matches none of them is denied.
    fn namespaced_tier(&self) -> Option<Decision> {
        let applying: Vec<usize> = self
            .selecting(Tier::Namespaced)
            .filter(|&i| self.policy_is(i, |p| rules_apply(p, self.direction)))
            .collect();
        let found = |wanted: Action| {
            applying.iter().find_map(|&policy| {
                self.matching_rules(policy)
                    .find(|(_, action)| *action == wanted)
            })
        };
        if let Some((rule, _)) = found(Action::Deny) {
            return Some(decision(false, Reason::Rule(rule), Vec::new()));
        }
        let isolating: Vec<usize> = self
            .selecting(Tier::Namespaced)
            .filter(|&i| self.policy_is(i, |p| p.isolates(self.direction)))
            .collect();
        if isolating.is_empty() {
            return None;
        }
        if let Some((rule, _)) = found(Action::Allow) {
            return Some(decision(true, Reason::Rule(rule), Vec::new()));
        }
        let reason = Reason::NoRuleMatched {
            policies: isolating,
        };
        Some(decision(false, reason, Vec::new()))
    }

    fn policy_is(&self, index: usize, test: impl Fn(&Policy) -> bool) -> bool {
        self.cluster.policies.get(index).is_some_and(test)
    }

    /// Indices of the policies of a tier whose subject selects the pod.
    fn selecting(&self, tier: Tier) -> impl Iterator<Item = usize> + '_ {
        let all: Box<dyn Iterator<Item = usize>> = match self.candidates {
            Some(list) => Box::new(list.iter().copied()),
            None => Box::new(0..self.cluster.policies.len()),
        };
        all.filter(move |&i| {
            self.cluster
                .policies
                .get(i)
                .is_some_and(|p| p.tier == tier && subject_selects(self.cluster, p, self.subject))
        })
    }

    fn first_matching_rule(&self, policy: usize) -> Option<(RuleRef, Action)> {
        self.matching_rules(policy).next()
    }

    fn matching_rules(&self, policy: usize) -> impl Iterator<Item = (RuleRef, Action)> + '_ {
        let rules = self.cluster.policies.get(policy).into_iter();
        rules
            .flat_map(|p| p.rules.iter().enumerate())
            .filter(move |(_, r)| r.direction == self.direction)
            .filter(move |(_, r)| self.peers_match(&r.peers) && self.ports_match(&r.ports))
            .map(move |(rule, r)| (RuleRef { policy, rule }, r.action))
    }

    fn peers_match(&self, peers: &Peers) -> bool {
        match peers {
            Peers::Any => true,
            Peers::List(list) => list
                .iter()
                .any(|p| peer_matches(self.cluster, p, self.peer)),
        }
    }

    fn ports_match(&self, ports: &Ports) -> bool {
        let list = match ports {
            Ports::Any => return true,
            Ports::List(list) => list,
        };
        list.iter().any(|rule| {
            rule.protocol == self.flow.protocol && self.port_matches(&rule.port, rule.protocol)
        })
    }

    fn port_matches(&self, port: &PortMatch, protocol: Protocol) -> bool {
        match port {
            PortMatch::Any => true,
            PortMatch::Range { start, end } => (*start..=*end).contains(&self.flow.port),
            PortMatch::Named(name) => self.destination_port(name, protocol) == Some(self.flow.port),
        }
    }

    /// A named port always resolves on the destination pod of the flow.
    fn destination_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        match self.flow.dst {
            FlowEnd::Pod(i) => self.cluster.pods.get(i)?.named_port(name, protocol),
            FlowEnd::External(_) => None,
        }
    }
}

/// Whether the rules of a selecting namespaced-tier policy count in this direction.
///
/// A NetworkPolicy's rules count only for the directions in its `policyTypes`;
/// a Cilium rule counts even when `enableDefaultDeny` keeps it from isolating.
fn rules_apply(policy: &Policy, direction: Direction) -> bool {
    match policy.kind {
        PolicyKind::NetworkPolicy => policy.isolates(direction),
        _ => true,
    }
}

/// Whether a policy's subject selects the pod.
pub fn subject_selects(cluster: &Cluster, policy: &Policy, pod: &Pod) -> bool {
    match &policy.subject {
        Subject::Pods(set) => pod_set_contains(cluster, set, pod),
    }
}

/// Whether the pod is in the namespaces and matches the pod selector of the set.
pub fn pod_set_contains(cluster: &Cluster, set: &PodSet, pod: &Pod) -> bool {
    namespace_matches(cluster, &set.namespaces, &pod.namespace) && set.pods.matches(&pod.labels)
}

pub fn namespace_matches(cluster: &Cluster, matcher: &NamespaceMatch, namespace: &str) -> bool {
    match matcher {
        NamespaceMatch::Name(name) => name == namespace,
        NamespaceMatch::Selector(selector) => cluster
            .namespaces
            .get(namespace)
            .is_some_and(|ns| selector.matches(&ns.labels)),
    }
}

/// Whether a rule peer matches the other end of a flow.
pub fn peer_matches(cluster: &Cluster, peer: &Peer, end: FlowEnd) -> bool {
    match end {
        FlowEnd::Pod(i) => cluster
            .pods
            .get(i)
            .is_some_and(|pod| peer_matches_pod(cluster, peer, pod)),
        FlowEnd::External(ip) => match peer {
            Peer::Pods(_) => false,
            Peer::IpBlock(block) => block.contains(ip),
            Peer::Networks(nets) => nets.iter().any(|n| n.contains(&ip)),
            Peer::Entity(entity) => matches!(entity, Entity::World | Entity::All),
        },
    }
}

fn peer_matches_pod(cluster: &Cluster, peer: &Peer, pod: &Pod) -> bool {
    match peer {
        Peer::Pods(set) => !pod.host_network && pod_set_contains(cluster, set, pod),
        Peer::IpBlock(block) => {
            block.matches_pods(&cluster.settings) && pod.ip.is_some_and(|ip| block.contains(ip))
        }
        Peer::Networks(nets) => pod
            .ip
            .is_some_and(|ip| nets.iter().any(|n| n.contains(&ip))),
        Peer::Entity(entity) => match entity {
            Entity::All => true,
            Entity::Cluster => true,
            Entity::Host => pod.host_network,
            Entity::World => false,
        },
    }
}
