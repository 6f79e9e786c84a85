//! CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (cilium.io/v2), L3/L4 only.
//!
//! Each rule of `spec` or `specs` becomes one policy of the namespaced tier,
//! so Cilium rules combine with NetworkPolicy the way Cilium combines them:
//! deny rules win, and the allow rules of every selecting policy form a union.

use super::cilium_peers as peers;
use super::cilium_types::{CiliumRule, Object, Section};
use super::node::Node;
use super::{schema, schema_tiers, typed, walk};
use crate::diag::Diagnostic;
use crate::model::{Action, Direction, Policy, PolicyKind, Rule, Subject, Tier};

/// Converts one Cilium policy into one policy per rule. `namespace` is `None`
/// for the clusterwide kind.
pub fn convert(
    kind: &str,
    name: &str,
    namespace: Option<&str>,
    doc: &Node,
    out: &mut Vec<Diagnostic>,
) -> Vec<Policy> {
    schema::check_fields(doc, &schema_tiers::CILIUM_POLICY, "", out);
    let Ok(object) = typed::from_node::<Object>(doc, kind).map_err(|e| out.push(e)) else {
        return Vec::new();
    };
    let mut rules: Vec<(&CiliumRule, &Node)> = Vec::new();
    if let Some(spec) = &object.spec {
        rules.push((spec, walk::child(doc, "spec")));
    }
    for (i, spec) in object.specs.iter().flatten().enumerate() {
        rules.push((spec, walk::item(doc, "specs", i)));
    }
    if rules.is_empty() {
        let help = "write one rule under `spec`, or a list of rules under `specs`";
        out.push(walk::missing(
            "spec",
            &format!("{kind} `{name}`"),
            doc,
            help,
        ));
    }
    let header = PolicyHeader { name, namespace };
    rules
        .into_iter()
        .filter_map(|(rule, node)| policy(&header, rule, node, out))
        .collect()
}

struct PolicyHeader<'a> {
    name: &'a str,
    namespace: Option<&'a str>,
}

fn policy(
    header: &PolicyHeader,
    rule: &CiliumRule,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<Policy> {
    let subject = subject(rule, node, header.namespace, out)?;
    let sections = [
        (Direction::Ingress, Action::Allow, "ingress", &rule.ingress),
        (
            Direction::Ingress,
            Action::Deny,
            "ingressDeny",
            &rule.ingress_deny,
        ),
        (Direction::Egress, Action::Allow, "egress", &rule.egress),
        (
            Direction::Egress,
            Action::Deny,
            "egressDeny",
            &rule.egress_deny,
        ),
    ];
    let mut rules = Vec::new();
    for (direction, action, key, list) in sections {
        for (i, section) in list.iter().flatten().enumerate() {
            let at = walk::item(node, key, i);
            rules.push(section_rule(
                direction,
                action,
                i,
                section,
                at,
                header.namespace,
                out,
            ));
        }
    }
    let (isolates_ingress, isolates_egress) = isolation(rule);
    let kind = match header.namespace {
        Some(_) => PolicyKind::CiliumNetworkPolicy,
        None => PolicyKind::CiliumClusterwideNetworkPolicy,
    };
    Some(Policy {
        kind,
        namespace: header.namespace.map(str::to_string),
        name: header.name.to_string(),
        tier: Tier::Namespaced,
        priority: 0,
        subject: Subject::Pods(subject),
        isolates_ingress,
        isolates_egress,
        rules,
        origin: Some(node.origin.clone()),
    })
}

fn subject(
    rule: &CiliumRule,
    node: &Node,
    namespace: Option<&str>,
    out: &mut Vec<Diagnostic>,
) -> Option<crate::model::PodSet> {
    if let Some(selector) = &rule.endpoint_selector {
        let at = walk::child(node, "endpointSelector");
        return Some(peers::pod_set(selector, at, namespace, true, out));
    }
    if rule.node_selector.is_some() {
        let effect = "host policies are not modelled: this rule was skipped";
        out.push(walk::not_enforced_field(node, "nodeSelector", effect));
        return None;
    }
    let help = "select the pods the rule applies to with `endpointSelector` (`{}` for all)";
    out.push(walk::missing(
        "endpointSelector",
        "a Cilium rule",
        node,
        help,
    ));
    None
}

/// A selected endpoint is default-deny in each direction that has allow or
/// deny rules, unless `enableDefaultDeny` turns that off for the direction.
fn isolation(rule: &CiliumRule) -> (bool, bool) {
    let has = |a: &Option<Vec<Section>>, b: &Option<Vec<Section>>| {
        a.as_ref().is_some_and(|l| !l.is_empty()) || b.as_ref().is_some_and(|l| !l.is_empty())
    };
    let defaults = rule.enable_default_deny.as_ref();
    let ingress = defaults
        .and_then(|d| d.ingress)
        .unwrap_or_else(|| has(&rule.ingress, &rule.ingress_deny));
    let egress = defaults
        .and_then(|d| d.egress)
        .unwrap_or_else(|| has(&rule.egress, &rule.egress_deny));
    (ingress, egress)
}

fn section_rule(
    direction: Direction,
    action: Action,
    index: usize,
    section: &Section,
    node: &Node,
    namespace: Option<&str>,
    out: &mut Vec<Diagnostic>,
) -> Rule {
    Rule {
        direction,
        action,
        index,
        peers: peers::peers(section, direction, node, namespace, out),
        ports: peers::ports(section, node, out),
        origin: Some(node.origin.clone()),
    }
}
