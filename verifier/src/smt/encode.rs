//! Policy semantics as formulas over a [`SymFlow`], mirroring `moat_ir::eval`.
//!
//! [`Encoding::new`] builds, for both directions, the same decision the
//! evaluator takes: admin tier by priority with Pass, NetworkPolicy tier
//! with deny rules first and the union of allows for isolated pods,
//! baseline tier, then allow. It also keeps each rule's match condition and the condition under
//! which that rule decides, for shadowing and explanations.

use moat_ir::selector::{LabelSelector, Operator};
use moat_ir::{
    Action, Cluster, Direction, Entity, IpBlock, NamespaceMatch, Peer, Peers, PodSet, PortMatch,
    Ports, RuleRef, Subject, Tier,
};
use z3::ast::{BV, Bool, Int};

use super::flow::{SymEnd, SymFlow, protocol_code};
use super::universe::Universe;
use crate::graph::rules_apply;

/// Conditions that switch policies and rules off, for "what if it were removed" questions.
///
/// A guarded encoding reads one integer variable, `removed`: the policy or
/// rule whose code equals it is left out. [`Guards::remove_rule`] and
/// [`Guards::remove_policy`] return the assumption that selects one.
#[derive(Default)]
pub struct Guards {
    removed: Option<Int>,
    rule_codes: Vec<Vec<i64>>,
    policy_codes: Vec<i64>,
}

impl Guards {
    /// Guards over every policy and rule of the cluster.
    pub fn removable(cluster: &Cluster, name: &str) -> Self {
        let mut next = 0i64;
        let mut rule_codes = Vec::new();
        for policy in &cluster.policies {
            let codes: Vec<i64> = (0..policy.rules.len()).map(|r| next + r as i64).collect();
            next += codes.len() as i64;
            rule_codes.push(codes);
        }
        let policy_codes = (0..cluster.policies.len())
            .map(|p| next + p as i64)
            .collect();
        Self {
            removed: Some(Int::new_const(name)),
            rule_codes,
            policy_codes,
        }
    }

    /// The condition under which exactly `rule` is left out.
    pub fn remove_rule(&self, rule: RuleRef) -> Option<Bool> {
        let code = self.rule_codes.get(rule.policy)?.get(rule.rule)?;
        Some(self.removed.as_ref()?.eq(Int::from_i64(*code)))
    }

    /// The condition under which exactly policy `policy` is left out.
    pub fn remove_policy(&self, policy: usize) -> Option<Bool> {
        let code = self.policy_codes.get(policy)?;
        Some(self.removed.as_ref()?.eq(Int::from_i64(*code)))
    }

    /// The condition under which nothing is left out.
    pub fn keep_all(&self) -> Option<Bool> {
        Some(self.removed.as_ref()?.eq(Int::from_i64(-1)))
    }

    fn policy(&self, policy: usize) -> Option<Bool> {
        self.remove_policy(policy).map(|b| b.not())
    }

    fn rule(&self, rule: RuleRef) -> Option<Bool> {
        self.remove_rule(rule).map(|b| b.not())
    }
}

/// One rule's formulas within one direction.
pub struct RuleTerms {
    pub rule: RuleRef,
    pub tier: Tier,
    pub action: Action,
    /// The subject is selected and the rule's peers and ports match.
    pub matches: Bool,
    /// The rule matches and its tier would consult it: for a NetworkPolicy
    /// allow rule, the subject must also be isolated.
    pub in_play: Bool,
    /// The rule is the one whose action decides the flow in its direction.
    pub decides: Bool,
}

/// The formulas of one direction.
pub struct SideTerms {
    pub direction: Direction,
    pub allowed: Bool,
    /// The admin tier reached a decision (not Pass, not "no match").
    pub admin_decided: Bool,
    /// Some NetworkPolicy isolates the subject, per policy index.
    pub isolation: Vec<(usize, Bool)>,
    pub rules: Vec<RuleTerms>,
}

/// The full decision of a flow under one cluster's policies.
pub struct Encoding {
    pub allowed: Bool,
    pub egress: SideTerms,
    pub ingress: SideTerms,
}

impl Encoding {
    pub fn new(cluster: &Cluster, universe: &Universe, flow: &SymFlow, guards: &Guards) -> Self {
        let encoder = Encoder {
            cluster,
            universe,
            flow,
            guards,
        };
        let egress = encoder.side(Direction::Egress);
        let ingress = encoder.side(Direction::Ingress);
        Self {
            allowed: Bool::and(&[egress.allowed.clone(), ingress.allowed.clone()]),
            egress,
            ingress,
        }
    }

    pub fn side(&self, direction: Direction) -> &SideTerms {
        match direction {
            Direction::Egress => &self.egress,
            Direction::Ingress => &self.ingress,
        }
    }

    pub fn rule(&self, rule: RuleRef) -> Option<&RuleTerms> {
        self.egress
            .rules
            .iter()
            .chain(&self.ingress.rules)
            .find(|t| t.rule == rule)
    }
}

struct Encoder<'a> {
    cluster: &'a Cluster,
    universe: &'a Universe,
    flow: &'a SymFlow,
    guards: &'a Guards,
}

/// A first-match chain entry: the rule and its guarded match condition.
struct Entry {
    rule: RuleRef,
    action: Action,
    tier: Tier,
    matches: Bool,
}

impl Encoder<'_> {
    fn side(&self, direction: Direction) -> SideTerms {
        let (subject, peer) = match direction {
            Direction::Egress => (&self.flow.src, &self.flow.dst),
            Direction::Ingress => (&self.flow.dst, &self.flow.src),
        };
        let admin = self.chain(Tier::Admin, direction, subject, peer);
        let baseline = self.chain(Tier::Baseline, direction, subject, peer);
        let (admin_decided, admin_allow, mut rules) = first_match(&admin);

        let isolation = self.isolation(direction, subject);
        let isolated = Bool::or(&isolation.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>());
        let namespaced = self.namespaced_entries(direction, subject, peer);
        let any_deny = Bool::or(&entries_with(&namespaced, Action::Deny));
        let any_allow = Bool::or(&entries_with(&namespaced, Action::Allow));
        let reach_ns = admin_decided.not();
        for entry in &namespaced {
            let (in_play, decides) = match entry.action {
                Action::Deny => (
                    entry.matches.clone(),
                    Bool::and(&[reach_ns.clone(), entry.matches.clone()]),
                ),
                _ => (
                    Bool::and(&[isolated.clone(), entry.matches.clone()]),
                    Bool::and(&[
                        reach_ns.clone(),
                        any_deny.not(),
                        isolated.clone(),
                        entry.matches.clone(),
                    ]),
                ),
            };
            rules.push(RuleTerms {
                in_play,
                ..terms(entry, decides)
            });
        }

        let (base_decided, base_allow, base_rules) = first_match(&baseline);
        let reach_base = Bool::and(&[reach_ns.clone(), any_deny.not(), isolated.not()]);
        for mut t in base_rules {
            t.decides = Bool::and(&[reach_base.clone(), t.decides]);
            rules.push(t);
        }

        let fallback = base_decided.ite(&base_allow, &Bool::from_bool(true));
        let namespaced_or_later = any_deny.ite(
            &Bool::from_bool(false),
            &isolated.ite(&any_allow, &fallback),
        );
        let policy = admin_decided.ite(&admin_allow, &namespaced_or_later);
        let exempt = Bool::or(&[subject.is_pod.not(), subject.host_network.clone()]);
        SideTerms {
            direction,
            allowed: Bool::or(&[exempt.clone(), policy]),
            admin_decided: Bool::and(&[exempt.not(), admin_decided]),
            isolation,
            rules,
        }
    }

    /// Rules of a first-match tier in evaluation order.
    fn chain(
        &self,
        tier: Tier,
        direction: Direction,
        subject: &SymEnd,
        peer: &SymEnd,
    ) -> Vec<Entry> {
        let mut order: Vec<usize> = (0..self.cluster.policies.len())
            .filter(|&p| self.cluster.policies.get(p).is_some_and(|x| x.tier == tier))
            .collect();
        order.sort_by_key(|&p| {
            self.cluster
                .policies
                .get(p)
                .map(|x| (x.priority, x.name.clone()))
        });
        order
            .into_iter()
            .flat_map(|p| self.rule_entries(p, direction, subject, peer))
            .collect()
    }

    /// Rules of the namespaced-tier policies whose rules count in this direction.
    fn namespaced_entries(
        &self,
        direction: Direction,
        subject: &SymEnd,
        peer: &SymEnd,
    ) -> Vec<Entry> {
        let policies = self.cluster.policies.iter().enumerate();
        policies
            .filter(|(_, p)| p.tier == Tier::Namespaced && rules_apply(p, direction))
            .flat_map(|(p, _)| self.rule_entries(p, direction, subject, peer))
            .collect()
    }

    fn isolation(&self, direction: Direction, subject: &SymEnd) -> Vec<(usize, Bool)> {
        self.cluster
            .policies
            .iter()
            .enumerate()
            .filter(|(_, p)| p.tier == Tier::Namespaced && p.isolates(direction))
            .map(|(i, _)| (i, self.selects(i, subject)))
            .collect()
    }

    /// Whether policy `p` applies to the subject: selected, pod, guard on.
    fn selects(&self, p: usize, subject: &SymEnd) -> Bool {
        let Some(policy) = self.cluster.policies.get(p) else {
            return Bool::from_bool(false);
        };
        let Subject::Pods(set) = &policy.subject;
        let mut facts = vec![
            subject.is_pod.clone(),
            subject.host_network.not(),
            self.pod_set(set, subject),
        ];
        if let Some(guard) = self.guards.policy(p) {
            facts.push(guard);
        }
        Bool::and(&facts)
    }

    fn rule_entries(
        &self,
        p: usize,
        direction: Direction,
        subject: &SymEnd,
        peer: &SymEnd,
    ) -> Vec<Entry> {
        let Some(policy) = self.cluster.policies.get(p) else {
            return Vec::new();
        };
        let selected = self.selects(p, subject);
        policy
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.direction == direction)
            .map(|(r, rule)| {
                let reference = RuleRef { policy: p, rule: r };
                let mut facts = vec![
                    selected.clone(),
                    self.peers(&rule.peers, peer),
                    self.ports(&rule.ports),
                ];
                if let Some(guard) = self.guards.rule(reference) {
                    facts.push(guard);
                }
                Entry {
                    rule: reference,
                    action: rule.action,
                    tier: policy.tier,
                    matches: Bool::and(&facts),
                }
            })
            .collect()
    }

    fn peers(&self, peers: &Peers, end: &SymEnd) -> Bool {
        match peers {
            Peers::Any => Bool::from_bool(true),
            Peers::List(list) => {
                Bool::or(&list.iter().map(|p| self.peer(p, end)).collect::<Vec<_>>())
            }
        }
    }

    fn peer(&self, peer: &Peer, end: &SymEnd) -> Bool {
        let pod = &end.is_pod;
        match peer {
            Peer::Pods(set) => {
                Bool::and(&[pod.clone(), end.host_network.not(), self.pod_set(set, end)])
            }
            Peer::IpBlock(block) => {
                let in_block = Bool::and(&[end.has_v4.clone(), ip_block(block, &end.ip)]);
                if block.matches_pods(&self.cluster.settings) {
                    in_block
                } else {
                    Bool::and(&[pod.not(), in_block])
                }
            }
            Peer::Networks(nets) => {
                let any: Vec<Bool> = nets.iter().map(|n| in_net(n, &end.ip)).collect();
                Bool::and(&[end.has_v4.clone(), Bool::or(&any)])
            }
            Peer::Entity(entity) => match entity {
                Entity::All => Bool::from_bool(true),
                Entity::Cluster => pod.clone(),
                Entity::Host => Bool::and(&[pod.clone(), end.host_network.clone()]),
                Entity::World => pod.not(),
            },
        }
    }

    fn pod_set(&self, set: &PodSet, end: &SymEnd) -> Bool {
        pod_set_formula(self.universe, set, end)
    }

    fn ports(&self, ports: &Ports) -> Bool {
        let list = match ports {
            Ports::Any => return Bool::from_bool(true),
            Ports::List(list) => list,
        };
        let options: Vec<Bool> = list
            .iter()
            .map(|rule| {
                let proto = self
                    .flow
                    .protocol
                    .eq(Int::from_i64(protocol_code(rule.protocol)));
                let port = match &rule.port {
                    PortMatch::Any => Bool::from_bool(true),
                    PortMatch::Range { start, end } => Bool::and(&[
                        self.flow.port.bvuge(BV::from_u64(u64::from(*start), 16)),
                        self.flow.port.bvule(BV::from_u64(u64::from(*end), 16)),
                    ]),
                    PortMatch::Named(name) => self.named_port(name, rule.protocol),
                };
                Bool::and(&[proto, port])
            })
            .collect();
        Bool::or(&options)
    }

    /// A named port resolves on the destination pod of the flow.
    fn named_port(&self, name: &str, protocol: moat_ir::Protocol) -> Bool {
        let dst = &self.flow.dst;
        let index = self
            .universe
            .port_names
            .iter()
            .position(|(n, p)| n == name && *p == protocol);
        let Some((declared, port)) = index.and_then(|i| dst.named_ports.get(i)) else {
            return Bool::from_bool(false);
        };
        Bool::and(&[
            dst.is_pod.clone(),
            declared.clone(),
            port.eq(&self.flow.port),
        ])
    }
}

fn entries_with(entries: &[Entry], action: Action) -> Vec<Bool> {
    entries
        .iter()
        .filter(|e| e.action == action)
        .map(|e| e.matches.clone())
        .collect()
}

fn terms(entry: &Entry, decides: Bool) -> RuleTerms {
    RuleTerms {
        rule: entry.rule,
        tier: entry.tier,
        action: entry.action,
        matches: entry.matches.clone(),
        in_play: entry.matches.clone(),
        decides,
    }
}

/// Folds a first-match chain into (decided, allowed) and each rule's terms.
/// A matching Pass ends the chain undecided.
fn first_match(entries: &[Entry]) -> (Bool, Bool, Vec<RuleTerms>) {
    let mut decided = Bool::from_bool(false);
    let mut allowed = Bool::from_bool(false);
    for entry in entries.iter().rev() {
        let decides_here = Bool::from_bool(entry.action != Action::Pass);
        decided = entry.matches.ite(&decides_here, &decided);
        allowed = entry
            .matches
            .ite(&Bool::from_bool(entry.action == Action::Allow), &allowed);
    }
    let mut earlier: Vec<Bool> = Vec::new();
    let mut rules = Vec::new();
    for entry in entries {
        let mut facts = vec![entry.matches.clone()];
        facts.extend(earlier.iter().map(Bool::not));
        rules.push(terms(entry, Bool::and(&facts)));
        earlier.push(entry.matches.clone());
    }
    (decided, allowed, rules)
}

/// A label selector over encoded label variables.
pub fn selector_formula(
    selector: &LabelSelector,
    vars: &std::collections::BTreeMap<String, Int>,
    keys: &std::collections::BTreeMap<String, Vec<String>>,
) -> Bool {
    let facts: Vec<Bool> = selector
        .requirements
        .iter()
        .map(|req| {
            let (Some(var), Some(values)) = (vars.get(&req.key), keys.get(&req.key)) else {
                return Bool::from_bool(matches!(
                    req.operator,
                    Operator::NotIn | Operator::DoesNotExist
                ));
            };
            let absent = var.eq(Int::from_i64(0));
            let any_of = Bool::or(
                &req.values
                    .iter()
                    .map(|v| var.eq(Int::from_i64(Universe::code(values, Some(v)))))
                    .collect::<Vec<_>>(),
            );
            match req.operator {
                Operator::In => any_of,
                Operator::NotIn => any_of.not(),
                Operator::Exists => absent.not(),
                Operator::DoesNotExist => absent,
            }
        })
        .collect();
    Bool::and(&facts)
}

fn ip_block(block: &IpBlock, ip: &BV) -> Bool {
    let excepts: Vec<Bool> = block.except.iter().map(|e| in_net(e, ip)).collect();
    Bool::and(&[in_net(&block.cidr, ip), Bool::or(&excepts).not()])
}

/// Builds the condition that a 32-bit address lies in an IPv4 network.
///
/// NOTE: Addresses are encoded as IPv4 only, so an IPv6 network never
/// matches in a proof, while the evaluator and the graph engine match it.
fn in_net(net: &ipnet::IpNet, ip: &BV) -> Bool {
    match net {
        ipnet::IpNet::V4(v4) => Bool::and(&[
            ip.bvuge(BV::from_u64(u64::from(u32::from(v4.network())), 32)),
            ip.bvule(BV::from_u64(u64::from(u32::from(v4.broadcast())), 32)),
        ]),
        ipnet::IpNet::V6(_) => Bool::from_bool(false),
    }
}

/// The end is a pod of the set: not host-network, namespace and labels match.
pub fn pod_set_formula(universe: &Universe, set: &PodSet, end: &SymEnd) -> Bool {
    let namespaces = match &set.namespaces {
        NamespaceMatch::Name(name) => end
            .namespace
            .eq(Int::from_i64(universe.namespace_code(name))),
        NamespaceMatch::Selector(selector) => {
            selector_formula(selector, &end.namespace_labels, &universe.namespace_keys)
        }
    };
    let pods = selector_formula(&set.pods, &end.labels, &universe.pod_keys);
    Bool::and(&[end.is_pod.clone(), end.host_network.not(), namespaces, pods])
}
