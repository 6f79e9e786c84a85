//! SMT checks on rule precedence: `shadowed-rule`, `redundant-rule`,
//! `redundant-policy` and `conflicting-rules`.

use moat_ir::{Cluster, RuleRef};

use crate::describe::{list_text, policy_text, rule_text};
use crate::finding::Finding;
use crate::smt::query::{self, Cover};
use crate::smt::{EndWitness, Scope};

/// Shadowed rules and their findings.
pub struct Shadowed {
    pub rules: Vec<RuleRef>,
    pub findings: Vec<Finding>,
}

fn rule_origin(cluster: &Cluster, rule: RuleRef) -> Option<moat_ir::source::Origin> {
    cluster
        .policies
        .get(rule.policy)?
        .rules
        .get(rule.rule)?
        .origin
        .clone()
}

fn cover_text(cluster: &Cluster, cover: &Cover) -> String {
    match cover {
        Cover::Rule { rule } => rule_text(cluster, *rule),
        Cover::Isolation { policy } => {
            format!("the isolation by {}", policy_text(cluster, *policy))
        }
    }
}

pub fn shadowed(cluster: &Cluster, scope: Scope) -> Shadowed {
    let found = query::shadowed_rules(cluster, scope);
    let rules = found.iter().map(|s| s.rule).collect();
    let findings = found
        .iter()
        .map(|s| {
            let covers: Vec<String> = s
                .covered_by
                .iter()
                .map(|c| cover_text(cluster, c))
                .collect();
            let message = format!(
                "{} never decides a flow: every flow it matches is decided first by {}",
                rule_text(cluster, s.rule),
                list_text(&covers, 4)
            );
            Finding::new("shadowed-rule", message)
                .at(rule_origin(cluster, s.rule))
                .with_label("this rule is never the one that decides")
                .with_help("delete it, move it before the covering rules, or narrow them")
        })
        .collect();
    Shadowed { rules, findings }
}

/// Redundant policies, then redundant rules outside them that are not shadowed.
pub fn redundant(cluster: &Cluster, scope: Scope, shadowed: &Shadowed) -> Vec<Finding> {
    let policies = query::redundant_policies(cluster, scope);
    let mut out: Vec<Finding> = policies
        .iter()
        .map(|&p| {
            let message = format!(
                "removing {} alone changes no verdict for any pod in scope",
                policy_text(cluster, p)
            );
            Finding::new("redundant-policy", message)
                .at(cluster.policies.get(p).and_then(|x| x.origin.clone()))
                .with_label("this policy adds nothing")
        })
        .collect();
    for rule in query::redundant_rules(cluster, scope) {
        if policies.contains(&rule.policy) || shadowed.rules.contains(&rule) {
            continue;
        }
        let message = format!(
            "removing {} alone changes no verdict for any pod in scope",
            rule_text(cluster, rule)
        );
        out.push(
            Finding::new("redundant-rule", message)
                .at(rule_origin(cluster, rule))
                .with_label("other rules already decide every flow this rule matches the same way"),
        );
    }
    out
}

pub fn conflicting(cluster: &Cluster, scope: Scope) -> Vec<Finding> {
    query::conflicts(cluster, scope)
        .into_iter()
        .map(|c| {
            let message = format!(
                "{} allows and {} denies the same flow, for example {}",
                rule_text(cluster, c.allow),
                rule_text(cluster, c.deny),
                c.witness
            );
            let new_pod = [&c.witness.src, &c.witness.dst]
                .iter()
                .any(|e| matches!(e, EndWitness::Pod { existing: None, .. }));
            let help = if new_pod {
                "the example pod does not exist yet; precedence decides which rule wins"
            } else {
                "precedence decides which rule wins; make that explicit by narrowing one of them"
            };
            Finding::new("conflicting-rules", message)
                .at(rule_origin(cluster, c.allow))
                .with_label("this allow rule overlaps a deny rule")
                .with_help(help)
        })
        .collect()
}
