//! The tier logic of the reference evaluator, run on identity classes and atoms at once.
//!
//! For one subject class and one direction, [`Decider::side`] returns, for
//! every peer node (class or outside address atom), the set of port atoms
//! that the subject's policies allow. It follows `moat_ir::eval` step by step:
//! admin tier by priority with Pass, then NetworkPolicy isolation with deny
//! rules first (whether or not a policy isolates), then the union of allow
//! rules for isolated pods, then the baseline tier, then allow.

use std::collections::HashMap;

use moat_ir::eval::{peer_matches, subject_selects};
use moat_ir::{Action, Cluster, Direction, FlowEnd, Peers, Pod, PortMatch, Ports, Rule, Tier};

use super::atoms::{AddressAtom, PortAtoms};
use super::bits::Bits;
use super::classes::Classes;

/// Precomputed matches of one rule.
struct RuleFacts {
    policy: usize,
    rule: usize,
    /// Peer nodes the rule's peers match.
    peers: Bits,
    /// Port atoms matched whatever the destination.
    fixed_ports: Bits,
    /// Named ports, resolved on the destination pod.
    named: Vec<(moat_ir::Protocol, String)>,
}

/// Everything needed to decide sides quickly.
pub struct Decider<'a> {
    cluster: &'a Cluster,
    classes: &'a Classes,
    pub ports: &'a PortAtoms,
    externals: &'a [AddressAtom],
    /// Classes each policy's subject selects.
    subjects: Vec<Bits>,
    rules: Vec<RuleFacts>,
    /// Rule indices (into `rules`) per policy.
    by_policy: Vec<Vec<usize>>,
    admin_order: Vec<usize>,
    baseline_order: Vec<usize>,
}

impl<'a> Decider<'a> {
    pub fn new(
        cluster: &'a Cluster,
        classes: &'a Classes,
        ports: &'a PortAtoms,
        externals: &'a [AddressAtom],
    ) -> Self {
        let mut decider = Self {
            cluster,
            classes,
            ports,
            externals,
            subjects: Vec::new(),
            rules: Vec::new(),
            by_policy: Vec::new(),
            admin_order: tier_order(cluster, Tier::Admin),
            baseline_order: tier_order(cluster, Tier::Baseline),
        };
        decider.subjects = decider.subject_sets();
        decider.index_rules();
        decider
    }

    /// Number of peer nodes: classes first, then outside address atoms.
    pub fn peer_count(&self) -> usize {
        self.classes.len() + self.externals.len()
    }

    fn subject_sets(&self) -> Vec<Bits> {
        let mut cache: HashMap<String, Bits> = HashMap::new();
        let mut out = Vec::new();
        for policy in &self.cluster.policies {
            let key = format!("{:?}", policy.subject);
            let set = cache.entry(key).or_insert_with(|| {
                let mut set = Bits::empty(self.classes.len());
                for (c, class) in self.classes.classes.iter().enumerate() {
                    let pod = self.cluster.pods.get(class.representative());
                    if pod.is_some_and(|pod| subject_selects(self.cluster, policy, pod)) {
                        set.insert(c);
                    }
                }
                set
            });
            out.push(set.clone());
        }
        out
    }

    fn index_rules(&mut self) {
        let mut peer_cache: HashMap<String, Bits> = HashMap::new();
        for (p, policy) in self.cluster.policies.iter().enumerate() {
            let mut indices = Vec::new();
            for (r, rule) in policy.rules.iter().enumerate() {
                let key = format!("{:?}", rule.peers);
                let peers = peer_cache
                    .entry(key)
                    .or_insert_with(|| self.peer_set(&rule.peers))
                    .clone();
                let (fixed_ports, named) = self.port_facts(rule);
                indices.push(self.rules.len());
                self.rules.push(RuleFacts {
                    policy: p,
                    rule: r,
                    peers,
                    fixed_ports,
                    named,
                });
            }
            self.by_policy.push(indices);
        }
    }

    fn peer_set(&self, peers: &Peers) -> Bits {
        let list = match peers {
            Peers::Any => return Bits::full(self.peer_count()),
            Peers::List(list) => list,
        };
        let mut set = Bits::empty(self.peer_count());
        for (c, class) in self.classes.classes.iter().enumerate() {
            let end = FlowEnd::Pod(class.representative());
            if list
                .iter()
                .any(|peer| peer_matches(self.cluster, peer, end))
            {
                set.insert(c);
            }
        }
        for (x, atom) in self.externals.iter().enumerate() {
            let end = FlowEnd::External(atom.first());
            if list
                .iter()
                .any(|peer| peer_matches(self.cluster, peer, end))
            {
                set.insert(self.classes.len() + x);
            }
        }
        set
    }

    fn port_facts(&self, rule: &Rule) -> (Bits, Vec<(moat_ir::Protocol, String)>) {
        let list = match &rule.ports {
            Ports::Any => return (self.ports.all(), Vec::new()),
            Ports::List(list) => list,
        };
        let mut fixed = Bits::empty(self.ports.len());
        let mut named = Vec::new();
        for port in list {
            match &port.port {
                PortMatch::Any => fixed.union_with(&self.ports.range(port.protocol, 1, 65535)),
                PortMatch::Range { start, end } => {
                    fixed.union_with(&self.ports.range(port.protocol, *start, *end));
                }
                PortMatch::Named(name) => named.push((port.protocol, name.clone())),
            }
        }
        (fixed, named)
    }

    /// Port atoms a rule matches when `destination` is the flow's destination pod.
    fn rule_ports(&self, facts: &RuleFacts, destination: Option<&Pod>) -> Bits {
        let mut set = facts.fixed_ports.clone();
        let Some(pod) = destination else { return set };
        for (protocol, name) in &facts.named {
            let atom = pod
                .named_port(name, *protocol)
                .and_then(|port| self.ports.atom_of(*protocol, port));
            if let Some(atom) = atom {
                set.insert(atom);
            }
        }
        set
    }

    fn class_pod(&self, class: usize) -> Option<&'a Pod> {
        let class = self.classes.classes.get(class)?;
        self.cluster.pods.get(class.representative())
    }

    /// The destination pod of a flow between the subject class and a peer node.
    fn destination(&self, subject: usize, peer: usize, direction: Direction) -> Option<&'a Pod> {
        match direction {
            Direction::Ingress => self.class_pod(subject),
            Direction::Egress if peer < self.classes.len() => self.class_pod(peer),
            Direction::Egress => None,
        }
    }

    /// Allowed port atoms per peer node, for the subject class in one direction.
    pub fn side(&self, subject: usize, direction: Direction) -> Vec<Bits> {
        let count = self.peer_count();
        let atoms = self.ports.len();
        if self.class_pod(subject).is_none_or(|pod| pod.host_network) {
            return vec![self.ports.all(); count];
        }
        let mut state = SideState {
            decided: vec![Bits::empty(atoms); count],
            allowed: vec![Bits::empty(atoms); count],
        };
        self.first_match_tier(&self.admin_order, subject, direction, &mut state);
        self.namespaced_tier(subject, direction, &mut state);
        self.first_match_tier(&self.baseline_order, subject, direction, &mut state);
        for (allowed, decided) in state.allowed.iter_mut().zip(&state.decided) {
            allowed.union_with(&self.ports.all().minus(decided));
        }
        state.allowed
    }

    /// Admin or baseline tier: the first matching rule in order decides.
    ///
    /// A Pass rule ends the tier for the flows it matches without deciding them.
    fn first_match_tier(
        &self,
        order: &[usize],
        subject: usize,
        direction: Direction,
        state: &mut SideState,
    ) {
        let mut done = state.decided.clone();
        for &policy in order {
            if !self
                .subjects
                .get(policy)
                .is_some_and(|s| s.contains(subject))
            {
                continue;
            }
            for facts in self.direction_rules(policy, direction) {
                let action = self.action(facts);
                for peer in facts.peers.iter() {
                    let ports = self.rule_ports(facts, self.destination(subject, peer, direction));
                    let (Some(done), Some(decided), Some(allowed)) = (
                        done.get_mut(peer),
                        state.decided.get_mut(peer),
                        state.allowed.get_mut(peer),
                    ) else {
                        continue;
                    };
                    let hit = ports.minus(done);
                    done.union_with(&hit);
                    if action == Action::Pass {
                        continue;
                    }
                    decided.union_with(&hit);
                    if action == Action::Allow {
                        allowed.union_with(&hit);
                    }
                }
            }
        }
    }

    /// NetworkPolicy tier: a deny rule of any applying policy decides first;
    /// then, once any policy isolates the subject, every undecided flow is
    /// decided here, allowed when some allow rule matches.
    fn namespaced_tier(&self, subject: usize, direction: Direction, state: &mut SideState) {
        let selected = |p: usize| self.subjects.get(p).is_some_and(|s| s.contains(subject));
        let policies = self.cluster.policies.iter().enumerate();
        let namespaced: Vec<(usize, &moat_ir::Policy)> = policies
            .filter(|(p, pol)| pol.tier == Tier::Namespaced && selected(*p))
            .collect();
        let isolated = namespaced.iter().any(|(_, pol)| pol.isolates(direction));
        let applying: Vec<usize> = namespaced
            .iter()
            .filter(|(_, pol)| rules_apply(pol, direction))
            .map(|(p, _)| *p)
            .collect();
        let count = self.peer_count();
        let atoms = self.ports.len();
        let mut deny = vec![Bits::empty(atoms); count];
        let mut allow = vec![Bits::empty(atoms); count];
        for &policy in &applying {
            for facts in self.direction_rules(policy, direction) {
                let target = if self.action(facts) == Action::Deny {
                    &mut deny
                } else {
                    &mut allow
                };
                for peer in facts.peers.iter() {
                    let ports = self.rule_ports(facts, self.destination(subject, peer, direction));
                    if let Some(set) = target.get_mut(peer) {
                        set.union_with(&ports);
                    }
                }
            }
        }
        let all = self.ports.all();
        for peer in 0..count {
            let (Some(decided), Some(allowed), Some(allow), Some(deny)) = (
                state.decided.get_mut(peer),
                state.allowed.get_mut(peer),
                allow.get(peer),
                deny.get(peer),
            ) else {
                continue;
            };
            if isolated {
                let open = all.minus(decided);
                allowed.union_with(&open.and(allow).minus(deny));
                *decided = all.clone();
            } else {
                decided.union_with(deny);
            }
        }
    }

    fn direction_rules(
        &self,
        policy: usize,
        direction: Direction,
    ) -> impl Iterator<Item = &RuleFacts> {
        let indices = self.by_policy.get(policy).map(Vec::as_slice).unwrap_or(&[]);
        indices
            .iter()
            .filter_map(|&i| self.rules.get(i))
            .filter(move |facts| self.rule(facts).is_some_and(|r| r.direction == direction))
    }

    fn rule(&self, facts: &RuleFacts) -> Option<&'a Rule> {
        self.cluster
            .policies
            .get(facts.policy)?
            .rules
            .get(facts.rule)
    }

    fn action(&self, facts: &RuleFacts) -> Action {
        self.rule(facts).map_or(Action::Allow, |r| r.action)
    }
}

struct SideState {
    decided: Vec<Bits>,
    allowed: Vec<Bits>,
}

/// Whether a selecting namespaced-tier policy's rules count in this direction:
/// a NetworkPolicy's only for the directions it isolates, a Cilium policy's always.
pub fn rules_apply(policy: &moat_ir::Policy, direction: Direction) -> bool {
    match policy.kind {
        moat_ir::PolicyKind::NetworkPolicy => policy.isolates(direction),
        _ => true,
    }
}

/// Policies of a first-match tier in evaluation order, as the evaluator sorts them.
fn tier_order(cluster: &Cluster, tier: Tier) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cluster.policies.len())
        .filter(|&i| cluster.policies.get(i).is_some_and(|p| p.tier == tier))
        .collect();
    order.sort_by(|&a, &b| {
        let (pa, pb) = (cluster.policies.get(a), cluster.policies.get(b));
        let key = |p: Option<&moat_ir::Policy>| p.map(|p| (p.priority, p.name.clone()));
        key(pa).cmp(&key(pb))
    });
    order
}
