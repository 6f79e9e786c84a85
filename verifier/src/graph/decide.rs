//! The tier logic of the reference evaluator, run on identity classes and atoms at once.
//!
//! For one subject class and one direction, [`Decider::side`] returns, for
//! every peer node (class or outside address atom), the set of port atoms
//! that the subject's policies allow. It follows `moat_ir::eval` step by step:
//! admin tier by priority with Pass, then NetworkPolicy isolation with deny
//! rules first (whether or not a policy isolates), then the union of allow
//! rules for isolated pods, then the baseline tier, then allow.

use std::borrow::Cow;
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
    /// Policies whose subject selects each class, ascending.
    selecting: Vec<Vec<usize>>,
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
            selecting: Vec::new(),
            admin_order: tier_order(cluster, Tier::Admin),
            baseline_order: tier_order(cluster, Tier::Baseline),
        };
        decider.subjects = decider.subject_sets();
        decider.selecting = vec![Vec::new(); classes.len()];
        for (p, set) in decider.subjects.iter().enumerate() {
            for c in set.iter() {
                if let Some(list) = decider.selecting.get_mut(c) {
                    list.push(p);
                }
            }
        }
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

    /// Allowed port atoms per peer node, for the subject class in one
    /// direction, as one row of words per peer (see [`Side`]).
    pub fn side(&self, subject: usize, direction: Direction) -> Side {
        let count = self.peer_count();
        let all = self.ports.all();
        let words = all.words().len();
        let mut side = Side {
            words,
            allowed: vec![0; count * words],
        };
        if self.class_pod(subject).is_none_or(|pod| pod.host_network) {
            for row in side.allowed.chunks_mut(words.max(1)) {
                row.copy_from_slice(all.words());
            }
            return side;
        }
        let mut decided = vec![0u64; count * words];
        self.first_match_tier(
            &self.admin_order,
            subject,
            direction,
            &mut decided,
            &mut side,
        );
        self.namespaced_tier(subject, direction, &mut decided, &mut side);
        self.first_match_tier(
            &self.baseline_order,
            subject,
            direction,
            &mut decided,
            &mut side,
        );
        for (i, (allowed, decided)) in side.allowed.iter_mut().zip(&decided).enumerate() {
            let mask = all.words().get(i % words.max(1)).copied().unwrap_or(0);
            *allowed |= !decided & mask;
        }
        side
    }

    /// The port atoms a rule matches toward one peer, as words.
    fn rule_words<'f>(
        &self,
        facts: &'f RuleFacts,
        subject: usize,
        peer: usize,
        direction: Direction,
    ) -> Cow<'f, [u64]> {
        if facts.named.is_empty() {
            return Cow::Borrowed(facts.fixed_ports.words());
        }
        let ports = self.rule_ports(facts, self.destination(subject, peer, direction));
        Cow::Owned(ports.words().to_vec())
    }

    /// Admin or baseline tier: the first matching rule in order decides.
    ///
    /// A Pass rule ends the tier for the flows it matches without deciding them.
    fn first_match_tier(
        &self,
        order: &[usize],
        subject: usize,
        direction: Direction,
        decided: &mut [u64],
        side: &mut Side,
    ) {
        let selected = |p: &&usize| self.subjects.get(**p).is_some_and(|s| s.contains(subject));
        let policies: Vec<usize> = order.iter().filter(selected).copied().collect();
        if policies.is_empty() {
            return;
        }
        let words = side.words;
        let mut done = decided.to_vec();
        for policy in policies {
            for facts in self.direction_rules(policy, direction) {
                let action = self.action(facts);
                for peer in facts.peers.iter() {
                    let ports = self.rule_words(facts, subject, peer, direction);
                    for (w, port_word) in ports.iter().enumerate() {
                        let i = peer * words + w;
                        let (Some(done), Some(decided), Some(allowed)) =
                            (done.get_mut(i), decided.get_mut(i), side.allowed.get_mut(i))
                        else {
                            continue;
                        };
                        let hit = port_word & !*done;
                        *done |= hit;
                        if action == Action::Pass {
                            continue;
                        }
                        *decided |= hit;
                        if action == Action::Allow {
                            *allowed |= hit;
                        }
                    }
                }
            }
        }
    }

    /// NetworkPolicy tier: a deny rule of any applying policy decides first.
    /// Then, once any policy isolates the subject, every undecided flow is
    /// decided here, and it is allowed when some allow rule matches.
    fn namespaced_tier(
        &self,
        subject: usize,
        direction: Direction,
        decided: &mut [u64],
        side: &mut Side,
    ) {
        let namespaced: Vec<(usize, &moat_ir::Policy)> = self
            .selecting
            .get(subject)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .filter_map(|&p| Some((p, self.cluster.policies.get(p)?)))
            .filter(|(_, pol)| pol.tier == Tier::Namespaced)
            .collect();
        if namespaced.is_empty() {
            return;
        }
        let isolated = namespaced.iter().any(|(_, pol)| pol.isolates(direction));
        let words = side.words;
        let mut deny = vec![0u64; decided.len()];
        let mut allow = vec![0u64; decided.len()];
        for (policy, _) in namespaced
            .iter()
            .filter(|(_, pol)| rules_apply(pol, direction))
        {
            for facts in self.direction_rules(*policy, direction) {
                let target = if self.action(facts) == Action::Deny {
                    &mut deny
                } else {
                    &mut allow
                };
                for peer in facts.peers.iter() {
                    let ports = self.rule_words(facts, subject, peer, direction);
                    for (w, port_word) in ports.iter().enumerate() {
                        if let Some(slot) = target.get_mut(peer * words + w) {
                            *slot |= port_word;
                        }
                    }
                }
            }
        }
        let all = self.ports.all();
        for (i, decided) in decided.iter_mut().enumerate() {
            let (Some(allowed), Some(allow), Some(deny)) =
                (side.allowed.get_mut(i), allow.get(i), deny.get(i))
            else {
                continue;
            };
            if isolated {
                let mask = all.words().get(i % words.max(1)).copied().unwrap_or(0);
                *allowed |= !*decided & allow & !deny & mask;
                *decided = mask;
            } else {
                *decided |= deny;
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

/// Allowed port atoms of one side: `words` 64-bit words per peer node, in
/// peer order (classes first, then outside atoms).
pub struct Side {
    pub words: usize,
    pub allowed: Vec<u64>,
}

impl Side {
    /// The allowed atoms toward one peer.
    pub fn row(&self, peer: usize) -> &[u64] {
        self.allowed
            .get(peer * self.words..(peer + 1) * self.words)
            .unwrap_or(&[])
    }
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
