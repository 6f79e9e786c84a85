//! AdminNetworkPolicy and BaselineAdminNetworkPolicy (policy.networking.k8s.io/v1alpha1)
//! and ClusterNetworkPolicy (v1alpha2) into normalised rules.

use super::admin_peers as peers;
use super::admin_types::{Object, RuleSpec, Spec};
use super::node::Node;
use super::{Loaded, schema, typed, walk};
use crate::diag::Diagnostic;
use crate::eval::subject_selects;
use crate::model::{Action, Direction, Policy, PolicyKind, Rule, Subject, Tier};

/// The cluster-scoped policy kind of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Admin,
    Baseline,
    Cluster,
}

impl Flavour {
    pub fn kind(self) -> PolicyKind {
        match self {
            Flavour::Admin => PolicyKind::AdminNetworkPolicy,
            Flavour::Baseline => PolicyKind::BaselineAdminNetworkPolicy,
            Flavour::Cluster => PolicyKind::ClusterNetworkPolicy,
        }
    }

    fn actions(self) -> &'static [(&'static str, Action)] {
        match self {
            Flavour::Admin => &[
                ("Allow", Action::Allow),
                ("Deny", Action::Deny),
                ("Pass", Action::Pass),
            ],
            Flavour::Baseline => &[("Allow", Action::Allow), ("Deny", Action::Deny)],
            Flavour::Cluster => &[
                ("Accept", Action::Allow),
                ("Deny", Action::Deny),
                ("Pass", Action::Pass),
            ],
        }
    }

    /// Lists the API versions whose field set this module reads.
    pub fn versions(self) -> &'static [&'static str] {
        match self {
            Flavour::Cluster => &["v1alpha2"],
            Flavour::Admin | Flavour::Baseline => &["v1alpha1"],
        }
    }

    /// Upstream's limit on rules per direction.
    fn max_rules(self) -> usize {
        match self {
            Flavour::Cluster => 25,
            Flavour::Admin | Flavour::Baseline => 100,
        }
    }

    fn shape(self) -> &'static schema::Shape {
        match self {
            Flavour::Admin => &super::schema_tiers::ADMIN_NETWORK_POLICY,
            Flavour::Baseline => &super::schema_tiers::BASELINE_ADMIN_NETWORK_POLICY,
            Flavour::Cluster => &super::schema_tiers::CLUSTER_NETWORK_POLICY,
        }
    }
}

/// Converts one policy; `None` when the object as a whole is invalid.
pub fn convert(
    flavour: Flavour,
    name: &str,
    doc: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<Policy> {
    let kind = flavour.kind();
    schema::check_fields(doc, flavour.shape(), "", out);
    let object = typed::from_node::<Object>(doc, &kind.to_string())
        .map_err(|e| out.push(e))
        .ok()?;
    let Some(spec) = object.spec else {
        let help = "a cluster policy needs `spec` with a `subject` and rules";
        out.push(walk::missing(
            "spec",
            &format!("{kind} `{name}`"),
            doc,
            help,
        ));
        return None;
    };
    let spec_node = walk::child(doc, "spec");

    if flavour == Flavour::Baseline && name != "default" {
        out.push(baseline_name(name, doc));
        return None;
    }
    let tier = tier(flavour, &spec, spec_node, out);
    let priority = priority(flavour, &spec, spec_node, out);
    let subject = subject(&spec, spec_node, out);

    let mut rules = directional_rules(
        flavour,
        Direction::Ingress,
        spec.ingress.as_deref(),
        spec_node,
        out,
    );
    rules.extend(directional_rules(
        flavour,
        Direction::Egress,
        spec.egress.as_deref(),
        spec_node,
        out,
    ));
    Some(Policy {
        kind,
        namespace: None,
        name: name.to_string(),
        tier: tier?,
        priority: priority?,
        subject: Subject::Pods(subject?),
        isolates_ingress: false,
        isolates_egress: false,
        rules,
        origin: Some(doc.origin.clone()),
    })
}

/// Upstream admits one BaselineAdminNetworkPolicy, and it must be called `default`.
fn baseline_name(name: &str, doc: &Node) -> Diagnostic {
    let at = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .unwrap_or(doc);
    Diagnostic::error(
        "moat::baseline-name",
        format!("BaselineAdminNetworkPolicy `{name}` must be named `default`"),
    )
    .at(Some(at.origin.clone()))
    .with_label("not `default`")
    .with_help("the API server accepts only one BaselineAdminNetworkPolicy, `metadata.name: default`; this one was skipped")
}

fn tier(flavour: Flavour, spec: &Spec, node: &Node, out: &mut Vec<Diagnostic>) -> Option<Tier> {
    match flavour {
        Flavour::Admin => return Some(Tier::Admin),
        Flavour::Baseline => return Some(Tier::Baseline),
        Flavour::Cluster => {}
    }
    let Some(text) = spec.tier.as_deref() else {
        out.push(walk::missing(
            "tier",
            "`spec`",
            node,
            "set `tier: Admin` or `tier: Baseline`",
        ));
        return None;
    };
    match text {
        "Admin" => return Some(Tier::Admin),
        "Baseline" => return Some(Tier::Baseline),
        _ => {}
    }
    let help = match schema::closest(text, &["Admin", "Baseline"]) {
        Some(name) => format!("did you mean `{name}`?"),
        None => "a ClusterNetworkPolicy tier is `Admin` or `Baseline`".to_string(),
    };
    out.push(
        Diagnostic::error("moat::unknown-tier", format!("unknown tier `{text}`"))
            .at(Some(walk::child(node, "tier").origin.clone()))
            .with_label("not a tier")
            .with_help(help),
    );
    None
}

fn priority(flavour: Flavour, spec: &Spec, node: &Node, out: &mut Vec<Diagnostic>) -> Option<u32> {
    if flavour == Flavour::Baseline {
        return Some(0);
    }
    let Some(value) = spec.priority else {
        let help = "set `priority` from 0 to 1000; lower numbers are evaluated first";
        out.push(walk::missing("priority", "`spec`", node, help));
        return None;
    };
    match u32::try_from(value) {
        Ok(p) if p <= 1000 => Some(p),
        _ => {
            out.push(
                Diagnostic::error(
                    "moat::priority-out-of-range",
                    format!("priority {value} is out of range"),
                )
                .at(Some(walk::child(node, "priority").origin.clone()))
                .with_label("not in 0..=1000")
                .with_help(
                    "priorities are numbers from 0 to 1000; lower numbers are evaluated first",
                ),
            );
            None
        }
    }
}

fn subject(spec: &Spec, node: &Node, out: &mut Vec<Diagnostic>) -> Option<crate::model::PodSet> {
    let Some(subject) = &spec.subject else {
        let help = "select pods with `subject: {namespaces: {...}}` or `subject: {pods: {...}}`";
        out.push(walk::missing("subject", "`spec`", node, help));
        return None;
    };
    peers::subject(subject, walk::child(node, "subject"), out)
}

fn directional_rules(
    flavour: Flavour,
    direction: Direction,
    list: Option<&[RuleSpec]>,
    spec_node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Vec<Rule> {
    let key = direction.to_string();
    let list = list.unwrap_or_default();
    if list.len() > flavour.max_rules() {
        out.push(
            Diagnostic::error(
                "moat::too-many-rules",
                format!(
                    "`{key}` has {} rules, more than {}",
                    list.len(),
                    flavour.max_rules()
                ),
            )
            .at(Some(walk::child(spec_node, &key).origin.clone()))
            .with_label("too many rules")
            .with_help(format!(
                "the API server rejects a {} with more than {} {key} rules",
                flavour.kind(),
                flavour.max_rules()
            )),
        );
    }
    list.iter()
        .enumerate()
        .filter_map(|(i, r)| {
            rule(
                flavour,
                direction,
                i,
                r,
                walk::item(spec_node, &key, i),
                out,
            )
        })
        .collect()
}

fn rule(
    flavour: Flavour,
    direction: Direction,
    index: usize,
    spec: &RuleSpec,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<Rule> {
    let action = action(flavour, spec.action.as_deref(), node, out);
    check_rule_name(spec.name.as_deref(), node, out);
    if direction == Direction::Egress {
        check_named_port_peers(spec, node, out);
    }
    let (field, list) = match direction {
        Direction::Ingress => ("from", spec.from.as_deref()),
        Direction::Egress => ("to", spec.to.as_deref()),
    };
    let peers = peers::peers(list, direction, field, node, out);
    let ports = match flavour {
        Flavour::Cluster => peers::protocols(spec.protocols.as_deref(), node, out),
        Flavour::Admin | Flavour::Baseline => peers::ports(spec.ports.as_deref(), node, out),
    };
    Some(Rule {
        direction,
        action: action?,
        index,
        peers,
        ports,
        origin: Some(node.origin.clone()),
    })
}

fn action(
    flavour: Flavour,
    text: Option<&str>,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<Action> {
    let names: Vec<&str> = flavour.actions().iter().map(|(n, _)| *n).collect();
    let Some(text) = text else {
        let help = format!("set `action` to one of {}", quoted(&names));
        out.push(walk::missing("action", "a rule", node, &help));
        return None;
    };
    if let Some((_, action)) = flavour.actions().iter().find(|(n, _)| *n == text) {
        return Some(*action);
    }
    let help = match (flavour, text) {
        (Flavour::Cluster, "Allow") => "ClusterNetworkPolicy (v1alpha2) spells it `Accept`".to_string(),
        (Flavour::Admin | Flavour::Baseline, "Accept") => "v1alpha1 spells it `Allow`".to_string(),
        (Flavour::Baseline, "Pass") => {
            "the baseline tier is the last one, so there is nothing to pass to: use `Allow` or `Deny`".to_string()
        }
        _ => match schema::closest(text, &names) {
            Some(name) => format!("did you mean `{name}`?"),
            None => format!("the actions of a {} are {}", flavour.kind(), quoted(&names)),
        },
    };
    out.push(
        Diagnostic::error("moat::unknown-action", format!("unknown action `{text}`"))
            .at(Some(walk::child(node, "action").origin.clone()))
            .with_label(format!("not an action of {}", flavour.kind()))
            .with_help(help),
    );
    None
}

/// Rejects a named port in a rule with a `networks`, `nodes` or `domainNames`
/// peer, as the API server does: those peers have no container ports to name.
fn check_named_port_peers(spec: &RuleSpec, node: &Node, out: &mut Vec<Diagnostic>) {
    let by_address = spec
        .to
        .iter()
        .flatten()
        .any(|p| p.networks.is_some() || p.nodes.is_some() || p.domain_names.is_some());
    let named = spec.ports.iter().flatten().any(|p| p.named_port.is_some())
        || spec
            .protocols
            .iter()
            .flatten()
            .any(|p| p.destination_named_port.is_some());
    if !(by_address && named) {
        return;
    }
    out.push(
        Diagnostic::error(
            "moat::named-port-without-pods",
            "a named port cannot be used with a `networks`, `nodes` or `domainNames` peer",
        )
        .at(Some(node.origin.clone()))
        .with_label("named port and address peer")
        .with_help("those peers have no container ports to name: use a port number, or move the pod peers to a rule of their own"),
    );
}

/// Upstream limits a rule's `name` to 100 characters.
fn check_rule_name(name: Option<&str>, node: &Node, out: &mut Vec<Diagnostic>) {
    let Some(name) = name.filter(|n| n.chars().count() > 100) else {
        return;
    };
    out.push(
        Diagnostic::error(
            "moat::rule-name-too-long",
            format!("rule name has {} characters", name.chars().count()),
        )
        .at(Some(walk::child(node, "name").origin.clone()))
        .with_label("longer than 100 characters")
        .with_help("the API server rejects rule names longer than 100 characters"),
    );
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Warns about two cluster policies of one tier with the same priority whose
/// subjects share a pod (or, when no pods are loaded, that merely share a priority):
/// upstream leaves their relative order undefined.
pub fn warn_equal_priorities(loaded: &mut Loaded) {
    let cluster = &loaded.cluster;
    let ranked: Vec<&Policy> = cluster
        .policies
        .iter()
        .filter(|p| p.tier != Tier::Namespaced)
        .collect();
    let mut found = Vec::new();
    for (i, first) in ranked.iter().enumerate() {
        for second in ranked.iter().skip(i + 1) {
            if first.tier != second.tier || first.priority != second.priority {
                continue;
            }
            if !share_direction(first, second) {
                continue;
            }
            let shared = cluster.pods.iter().find(|pod| {
                subject_selects(cluster, first, pod) && subject_selects(cluster, second, pod)
            });
            if shared.is_none() && !cluster.pods.is_empty() {
                continue;
            }
            found.push(equal_priority(
                first,
                second,
                shared.map(crate::model::Pod::key),
            ));
        }
    }
    loaded.diagnostics.extend(found);
}

/// Whether both policies have rules in one direction, where their order matters.
fn share_direction(first: &Policy, second: &Policy) -> bool {
    let has = |p: &Policy, d: Direction| p.rules.iter().any(|r| r.direction == d);
    [Direction::Ingress, Direction::Egress]
        .into_iter()
        .any(|d| has(first, d) && has(second, d))
}

fn equal_priority(first: &Policy, second: &Policy, pod: Option<String>) -> Diagnostic {
    let (earlier, later) = if first.name <= second.name {
        (first, second)
    } else {
        (second, first)
    };
    let overlap = pod
        .map(|p| format!(" and both select `{p}`"))
        .unwrap_or_default();
    Diagnostic::warning(
        "moat::equal-priority",
        format!(
            "{} `{}` has the same priority {} as {} `{}`{overlap}",
            second.kind, second.name, second.priority, first.kind, first.name
        ),
    )
    .at(second.origin.clone())
    .with_label("same priority")
    .with_help(format!(
        "upstream leaves their order undefined; moat evaluates `{}` before `{}` (by name); give them different priorities",
        earlier.name, later.name
    ))
}
