//! Questions decided by the SMT engine: equivalence, containment, redundancy,
//! shadowing, conflicts and selector satisfiability.

use moat_ir::selector::LabelSelector;
use moat_ir::{Action, Cluster, Direction, RuleRef, Tier};
use serde::Serialize;
use z3::ast::{Bool, Int};
use z3::{SatResult, Solver};

use super::encode::{RuleTerms, selector_formula};
use super::{Answer, Guards, Scope, Session, Witness};

/// Decides whether `old` and `new` allow exactly the same flows.
///
/// Holds when no flow in scope gets a different verdict; the counterexample
/// is a flow that one allows and the other denies. Flows live in `new`'s
/// namespaces and, in `Existing` scope, among `new`'s pods.
pub fn equivalent(old: &Cluster, new: &Cluster, scope: Scope) -> Answer {
    let session = Session::new(new, &[old, new], scope);
    let a = session.encode(old, &Guards::default());
    let b = session.encode(new, &Guards::default());
    session.find(&[&a.allowed.xor(&b.allowed)])
}

/// Decides whether every flow `smaller` allows is also allowed by `larger`.
///
/// The counterexample is a flow that `smaller` allows and `larger` denies.
pub fn contained(smaller: &Cluster, larger: &Cluster, scope: Scope) -> Answer {
    let session = Session::new(larger, &[smaller, larger], scope);
    let a = session.encode(smaller, &Guards::default());
    let b = session.encode(larger, &Guards::default());
    session.find(&[&a.allowed, &b.allowed.not()])
}

/// Rules whose removal changes no verdict in scope.
fn redundant_rules_in(cluster: &Cluster, scope: Scope) -> Vec<RuleRef> {
    let session = Session::new(cluster, &[cluster], scope);
    let full = session.encode(cluster, &Guards::default());
    let guards = Guards::removable(cluster, "removed");
    let mut guarded = None;
    let mut out = Vec::new();
    for (p, policy) in cluster.policies.iter().enumerate() {
        for r in 0..policy.rules.len() {
            let rule = RuleRef { policy: p, rule: r };
            let redundant = match union_allow_terms(&full, rule) {
                Some((terms, others)) => {
                    let covered = Bool::or(&others);
                    session.find(&[&terms.decides, &covered.not()]).holds()
                }
                None => {
                    let guarded = guarded.get_or_insert_with(|| session.encode(cluster, &guards));
                    let differ = full.allowed.xor(&guarded.allowed);
                    guards
                        .remove_rule(rule)
                        .is_some_and(|removed| session.find(&[&differ, &removed]).holds())
                }
            };
            if redundant {
                out.push(rule);
            }
        }
    }
    out
}

/// For an allow rule of the NetworkPolicy tier: its terms and the match
/// conditions of every other allow rule of that tier and direction.
///
/// Removing such a rule changes a verdict exactly when it decides a flow
/// that no other allow rule of the tier matches. The allow rules of that
/// tier form a union, and its deny rules, isolation and the other tiers do
/// not depend on the rule.
fn union_allow_terms(encoding: &super::Encoding, rule: RuleRef) -> Option<(&RuleTerms, Vec<Bool>)> {
    for side in [&encoding.egress, &encoding.ingress] {
        let Some(terms) = side.rules.iter().find(|t| t.rule == rule) else {
            continue;
        };
        if terms.tier != Tier::Namespaced || terms.action != Action::Allow {
            return None;
        }
        let others = side
            .rules
            .iter()
            .filter(|t| t.rule != rule && t.tier == Tier::Namespaced && t.action == Action::Allow)
            .map(|t| t.matches.clone())
            .collect();
        return Some((terms, others));
    }
    None
}

/// Policies whose removal changes no verdict in scope.
fn redundant_policies_in(cluster: &Cluster, scope: Scope) -> Vec<usize> {
    let session = Session::new(cluster, &[cluster], scope);
    let guards = Guards::removable(cluster, "removed");
    let full = session.encode(cluster, &Guards::default());
    let guarded = session.encode(cluster, &guards);
    let differ = full.allowed.xor(&guarded.allowed);
    (0..cluster.policies.len())
        .filter(|&p| {
            guards
                .remove_policy(p)
                .is_some_and(|removed| session.find(&[&differ, &removed]).holds())
        })
        .collect()
}

/// A higher-precedence item that keeps a shadowed rule from deciding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Cover {
    /// A rule that matches first, or whose decision comes from a higher tier.
    Rule { rule: RuleRef },
    /// A NetworkPolicy whose isolation makes the NetworkPolicy tier decide
    /// every flow, so the baseline tier never evaluates it.
    Isolation { policy: usize },
}

/// A rule that can match but never decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shadowed {
    pub rule: RuleRef,
    /// A minimal set of higher-precedence items that cover every flow it matches.
    pub covered_by: Vec<Cover>,
}

/// Rules that match some flow in scope but never decide one, each with a
/// minimal set of covering higher-precedence rules.
fn shadowed_rules_in(cluster: &Cluster, scope: Scope) -> Vec<Shadowed> {
    let session = Session::new(cluster, &[cluster], scope);
    let encoding = session.encode(cluster, &Guards::default());
    let mut out = Vec::new();
    for direction in [Direction::Egress, Direction::Ingress] {
        let side = encoding.side(direction);
        for terms in &side.rules {
            let blockers = blockers(cluster, side, terms);
            if blockers.is_empty() {
                continue;
            }
            if !session.satisfiable(&[&terms.in_play]) || session.satisfiable(&[&terms.decides]) {
                continue;
            }
            let covered_by = minimal_cover(&session, &terms.in_play, blockers);
            out.push(Shadowed {
                rule: terms.rule,
                covered_by,
            });
        }
    }
    out
}

/// Items of higher precedence that can keep `target` from deciding.
fn blockers(
    cluster: &Cluster,
    side: &super::encode::SideTerms,
    target: &RuleTerms,
) -> Vec<(Cover, Bool)> {
    let mut out = Vec::new();
    let position = side
        .rules
        .iter()
        .position(|t| t.rule == target.rule)
        .unwrap_or(0);
    for (i, other) in side.rules.iter().enumerate() {
        let earlier_in_chain = other.tier == target.tier && i < position;
        let blocks = match (target.tier, other.tier) {
            (Tier::Admin, Tier::Admin) => earlier_in_chain,
            (Tier::Namespaced, Tier::Admin) | (Tier::Baseline, Tier::Admin) => {
                other.action != Action::Pass
            }
            (Tier::Namespaced, Tier::Namespaced) => {
                target.action == Action::Allow && other.action == Action::Deny
            }
            (Tier::Baseline, Tier::Namespaced) => other.action == Action::Deny,
            (Tier::Baseline, Tier::Baseline) => earlier_in_chain,
            _ => false,
        };
        if blocks {
            let formula = if other.tier == Tier::Admin && target.tier != Tier::Admin {
                other.decides.clone()
            } else {
                other.matches.clone()
            };
            out.push((Cover::Rule { rule: other.rule }, formula));
        }
    }
    if target.tier == Tier::Baseline {
        for (policy, selected) in &side.isolation {
            let exists = cluster.policies.get(*policy).is_some();
            if exists {
                out.push((Cover::Isolation { policy: *policy }, selected.clone()));
            }
        }
    }
    out
}

/// Drops blockers one by one while the rest still cover every match.
fn minimal_cover(session: &Session, matches: &Bool, blockers: Vec<(Cover, Bool)>) -> Vec<Cover> {
    let mut kept = blockers;
    let mut i = 0;
    while i < kept.len() {
        let rest: Vec<Bool> = kept
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, (_, b))| b.clone())
            .collect();
        let uncovered = Bool::or(&rest).not();
        if session.satisfiable(&[matches, &uncovered]) {
            i += 1;
        } else {
            kept.remove(i);
        }
    }
    kept.into_iter().map(|(cover, _)| cover).collect()
}

/// An allow rule and a deny rule that both match one flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub allow: RuleRef,
    pub deny: RuleRef,
    pub witness: Witness,
}

/// Allow and deny rules that overlap across tiers, or between
/// AdminNetworkPolicies of equal priority, with a flow both match.
///
/// In `AnyPod` scope the witness is a flow between existing pods when one
/// exists, else a flow involving a pod that could exist.
fn conflicts_in(cluster: &Cluster, scope: Scope) -> Vec<Conflict> {
    if !may_have_conflicts(cluster) {
        return Vec::new();
    }
    let session = Session::new(cluster, &[cluster], scope);
    let encoding = session.encode(cluster, &Guards::default());
    let existing = (scope == Scope::AnyPod).then(|| {
        let session = Session::new(cluster, &[cluster], Scope::Existing);
        let encoding = session.encode(cluster, &Guards::default());
        (session, encoding)
    });
    let mut out = Vec::new();
    for direction in [Direction::Egress, Direction::Ingress] {
        let rules = &encoding.side(direction).rules;
        for allow in rules.iter().filter(|t| t.action == Action::Allow) {
            for deny in rules.iter().filter(|t| t.action == Action::Deny) {
                if !may_conflict(cluster, allow, deny) {
                    continue;
                }
                let concrete = existing.as_ref().and_then(|(session, encoding)| {
                    let a = encoding.rule(allow.rule)?;
                    let d = encoding.rule(deny.rule)?;
                    match session.find(&[&a.matches, &d.matches]) {
                        Answer::Counterexample(witness) => Some(witness),
                        _ => None,
                    }
                });
                let answer = match concrete {
                    Some(witness) => Answer::Counterexample(witness),
                    None => session.find(&[&allow.matches, &deny.matches]),
                };
                if let Answer::Counterexample(witness) = answer {
                    out.push(Conflict {
                        allow: allow.rule,
                        deny: deny.rule,
                        witness,
                    });
                }
            }
        }
    }
    out
}

/// Returns whether some allow rule and deny rule of one direction could conflict,
/// judged from tiers and priorities alone.
fn may_have_conflicts(cluster: &Cluster) -> bool {
    let rules = || {
        cluster
            .policies
            .iter()
            .flat_map(|p| p.rules.iter().map(move |r| (p, r)))
    };
    rules()
        .filter(|(_, r)| r.action == Action::Deny)
        .any(|(dp, d)| {
            rules()
                .filter(|(_, r)| r.action == Action::Allow && r.direction == d.direction)
                .any(|(ap, _)| {
                    ap.tier != dp.tier
                        || (ap.tier == Tier::Admin
                            && !std::ptr::eq(ap, dp)
                            && ap.priority == dp.priority)
                })
        })
}

fn may_conflict(cluster: &Cluster, allow: &RuleTerms, deny: &RuleTerms) -> bool {
    if allow.tier != deny.tier {
        return true;
    }
    let priority = |r: RuleRef| cluster.policies.get(r.policy).map(|p| p.priority);
    allow.tier == Tier::Admin
        && allow.rule.policy != deny.rule.policy
        && priority(allow.rule) == priority(deny.rule)
}

/// Decides whether some set of labels satisfies the selector.
///
/// Requirements on distinct keys are independent, and each one alone is
/// satisfiable unless it is `In` with no values, so the solver only runs
/// when a key has more than one requirement.
pub fn selector_satisfiable(selector: &LabelSelector) -> bool {
    use moat_ir::selector::Operator;
    let mut seen = std::collections::BTreeSet::new();
    let repeated = selector
        .requirements
        .iter()
        .any(|r| !seen.insert(r.key.as_str()));
    if !repeated {
        return selector
            .requirements
            .iter()
            .all(|r| r.operator != Operator::In || !r.values.is_empty());
    }
    let mut keys: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for req in &selector.requirements {
        keys.entry(req.key.clone())
            .or_default()
            .extend(req.values.iter().cloned());
    }
    let vars: std::collections::BTreeMap<String, Int> = keys
        .keys()
        .map(|k| (k.clone(), Int::new_const(format!("selector[{k}]"))))
        .collect();
    let solver = Solver::new();
    for (key, var) in &vars {
        let top = keys.get(key).map_or(0, Vec::len) as i64 + 1;
        solver.assert(var.ge(Int::from_i64(0)));
        solver.assert(var.le(Int::from_i64(top)));
    }
    solver.assert(selector_formula(selector, &vars, &keys));
    solver.check() != SatResult::Unsat
}

/// The SMT engine's verdict on one concrete flow, for agreement checks with
/// the graph engine and the evaluator. `None` when the solver gave up.
pub fn flow_allowed(
    session: &Session,
    encoding: &super::Encoding,
    flow: &moat_ir::Flow,
) -> Option<bool> {
    let fixed = session
        .flow
        .is_flow(&session.universe, session.cluster, flow);
    match session.find(&[&fixed, &encoding.allowed]) {
        Answer::Holds => Some(false),
        Answer::Counterexample(_) => Some(true),
        Answer::Unknown { .. } => None,
    }
}

/// Rules whose removal alone changes no verdict in scope.
pub fn redundant_rules(cluster: &Cluster, scope: Scope) -> Vec<RuleRef> {
    per_group(cluster, |sub, map| {
        redundant_rules_in(sub, scope)
            .into_iter()
            .map(|r| remap_rule(r, map))
            .collect()
    })
}

/// Policies whose removal alone changes no verdict in scope.
pub fn redundant_policies(cluster: &Cluster, scope: Scope) -> Vec<usize> {
    per_group(cluster, |sub, map| {
        let found = redundant_policies_in(sub, scope);
        found
            .into_iter()
            .filter_map(|p| map.get(p).copied())
            .collect()
    })
}

/// Rules that match some flow in scope but never decide one, each with a
/// minimal set of covering higher-precedence rules.
pub fn shadowed_rules(cluster: &Cluster, scope: Scope) -> Vec<Shadowed> {
    per_group(cluster, |sub, map| {
        let found = shadowed_rules_in(sub, scope);
        found
            .into_iter()
            .map(|s| Shadowed {
                rule: remap_rule(s.rule, map),
                covered_by: s
                    .covered_by
                    .into_iter()
                    .map(|c| match c {
                        Cover::Rule { rule } => Cover::Rule {
                            rule: remap_rule(rule, map),
                        },
                        Cover::Isolation { policy } => Cover::Isolation {
                            policy: map.get(policy).copied().unwrap_or(policy),
                        },
                    })
                    .collect(),
            })
            .collect()
    })
}

/// Allow and deny rules that overlap across tiers, or between
/// AdminNetworkPolicies of equal priority, with a flow both match.
pub fn conflicts(cluster: &Cluster, scope: Scope) -> Vec<Conflict> {
    per_group(cluster, |sub, map| {
        let found = conflicts_in(sub, scope);
        found
            .into_iter()
            .map(|c| Conflict {
                allow: remap_rule(c.allow, map),
                deny: remap_rule(c.deny, map),
                witness: c.witness,
            })
            .collect()
    })
}

fn remap_rule(rule: RuleRef, map: &[usize]) -> RuleRef {
    RuleRef {
        policy: map.get(rule.policy).copied().unwrap_or(rule.policy),
        rule: rule.rule,
    }
}

/// Runs a query on each group of policies that cannot affect each other's
/// verdicts, and concatenates the results (indices mapped back by `map`).
///
/// When every policy's subject is a named namespace (NetworkPolicy and
/// namespaced Cilium policies), a policy only decides flows of pods in its
/// namespace, and those flows depend only on that namespace's policies, so
/// each namespace is one group. Any policy with a namespace selector
/// (admin, baseline, clusterwide) puts all policies in one group.
fn per_group<T>(cluster: &Cluster, run: impl Fn(&Cluster, &[usize]) -> Vec<T>) -> Vec<T> {
    let mut groups: std::collections::BTreeMap<&str, Vec<usize>> = Default::default();
    for (i, policy) in cluster.policies.iter().enumerate() {
        let moat_ir::Subject::Pods(set) = &policy.subject;
        match &set.namespaces {
            moat_ir::NamespaceMatch::Name(name) => groups.entry(name.as_str()).or_default().push(i),
            moat_ir::NamespaceMatch::Selector(_) => {
                let all: Vec<usize> = (0..cluster.policies.len()).collect();
                return run(cluster, &all);
            }
        }
    }
    if groups.len() <= 1 {
        let all: Vec<usize> = (0..cluster.policies.len()).collect();
        return run(cluster, &all);
    }
    let mut out = Vec::new();
    let mut sub = Cluster {
        namespaces: cluster.namespaces.clone(),
        pods: cluster.pods.clone(),
        services: Vec::new(),
        policies: Vec::new(),
        settings: cluster.settings.clone(),
    };
    for members in groups.values() {
        sub.policies = members
            .iter()
            .filter_map(|&i| cluster.policies.get(i).cloned())
            .collect();
        out.extend(run(&sub, members));
    }
    out
}
