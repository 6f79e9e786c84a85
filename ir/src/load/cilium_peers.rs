//! Cilium endpoint selectors, entities, CIDRs and `toPorts`.

use std::str::FromStr;

use ipnet::IpNet;
use k8s_openapi::api::networking::v1 as net;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::cilium_types::{CidrRule, PortProtocol, PortRuleSpec, Section};
use super::node::Node;
use super::{netpol, schema, selector, walk};
use crate::diag::Diagnostic;
use crate::model::{
    Direction, Entity, IpBlock, NamespaceMatch, Peer, Peers, PodSet, PortMatch, PortRule, Ports,
    Protocol,
};
use crate::selector::{Operator, Requirement};

/// The pod label Cilium gives every endpoint: the name of its namespace.
const NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
/// Cilium's prefix for namespace labels copied onto endpoints.
const NAMESPACE_LABELS_PREFIX: &str = "io.cilium.k8s.namespace.labels.";

/// The object a label key of an endpoint selector constrains.
enum Target {
    Pod(String),
    Namespace(String),
    /// A label moat does not model: the selector matches nothing.
    Unmodelled(String),
}

fn target(key: &str) -> Target {
    let key = key
        .strip_prefix("k8s:")
        .or_else(|| key.strip_prefix("any:"))
        .unwrap_or(key);
    if key == NAMESPACE_LABEL {
        return Target::Namespace("kubernetes.io/metadata.name".to_string());
    }
    if let Some(rest) = key.strip_prefix(NAMESPACE_LABELS_PREFIX) {
        return Target::Namespace(rest.to_string());
    }
    let unmodelled = key.contains(':') || key.starts_with("io.cilium.k8s.policy.");
    if unmodelled {
        return Target::Unmodelled(key.to_string());
    }
    Target::Pod(key.to_string())
}

/// Converts a Cilium endpoint selector into a pod set.
///
/// In a namespaced policy the policy's namespace applies unless the selector
/// names namespaces itself; for the `subject` (`endpointSelector`) it always applies.
pub fn pod_set(
    selector: &meta::LabelSelector,
    node: &Node,
    namespace: Option<&str>,
    subject: bool,
    out: &mut Vec<Diagnostic>,
) -> PodSet {
    let mut pods = meta::LabelSelector::default();
    let mut namespaces = meta::LabelSelector::default();
    let mut unmodelled = Vec::new();
    for (key, value) in selector.match_labels.iter().flatten() {
        let (side, key) = match target(key) {
            Target::Pod(k) => (&mut pods, k),
            Target::Namespace(k) => (&mut namespaces, k),
            Target::Unmodelled(k) => {
                unmodelled.push(k);
                continue;
            }
        };
        side.match_labels
            .get_or_insert_default()
            .insert(key, value.clone());
    }
    for expression in selector.match_expressions.iter().flatten() {
        let (side, key) = match target(&expression.key) {
            Target::Pod(k) => (&mut pods, k),
            Target::Namespace(k) => (&mut namespaces, k),
            Target::Unmodelled(k) => {
                unmodelled.push(k);
                continue;
            }
        };
        let mut rewritten = expression.clone();
        rewritten.key = key;
        side.match_expressions
            .get_or_insert_default()
            .push(rewritten);
    }
    let mut pod_selector = selector::convert(&pods, node, out);
    for key in unmodelled {
        let effect = format!("pods carry no `{key}` label in moat: this selector matches nothing");
        out.push(walk::not_enforced(&key, node, &effect));
        pod_selector.requirements.push(impossible(key));
    }
    let names_namespaces =
        namespaces.match_labels.is_some() || namespaces.match_expressions.is_some();
    let mut namespace_selector = selector::convert(&namespaces, node, out);
    let namespaces = match (namespace, names_namespaces, subject) {
        (Some(ns), false, _) => NamespaceMatch::Name(ns.to_string()),
        (Some(ns), true, true) => {
            namespace_selector.requirements.push(Requirement {
                key: "kubernetes.io/metadata.name".to_string(),
                operator: Operator::In,
                values: vec![ns.to_string()],
            });
            NamespaceMatch::Selector(namespace_selector)
        }
        _ => NamespaceMatch::Selector(namespace_selector),
    };
    PodSet {
        namespaces,
        pods: pod_selector,
    }
}

/// Builds a requirement that no pod meets.
fn impossible(key: String) -> Requirement {
    Requirement {
        key,
        operator: Operator::In,
        values: Vec::new(),
    }
}

/// Converts the peers of one section. Without any L3 field, a rule with
/// `toPorts` applies to every peer, and an empty rule to none.
pub fn peers(
    section: &Section,
    direction: Direction,
    node: &Node,
    namespace: Option<&str>,
    out: &mut Vec<Diagnostic>,
) -> Peers {
    let l3 = section.l3(direction);
    let mut list = Vec::new();
    let mut has_l3 = false;
    let (field, endpoints) = l3.endpoints;
    for (i, s) in endpoints.unwrap_or_default().iter().enumerate() {
        has_l3 = true;
        list.push(Peer::Pods(pod_set(
            s,
            walk::item(node, field, i),
            namespace,
            false,
            out,
        )));
    }
    let (field, cidrs) = l3.cidr;
    for (i, text) in cidrs.unwrap_or_default().iter().enumerate() {
        has_l3 = true;
        let at = walk::item(node, field, i);
        list.extend(cidr(text, at, out).map(|cidr| {
            Peer::IpBlock(IpBlock {
                cidr,
                except: Vec::new(),
                matches_pods: Some(false),
            })
        }));
    }
    let (field, sets) = l3.cidr_set;
    for (i, set) in sets.unwrap_or_default().iter().enumerate() {
        has_l3 = true;
        list.extend(cidr_set(set, walk::item(node, field, i), out));
    }
    let (field, entities) = l3.entities;
    for (i, text) in entities.unwrap_or_default().iter().enumerate() {
        has_l3 = true;
        list.extend(entity(text, walk::item(node, field, i), out));
    }
    let (field, requires) = l3.requires;
    if requires {
        let effect = "this requirement is ignored, so the rule may match more peers than in Cilium";
        out.push(walk::not_enforced_field(node, field, effect));
    }
    for (field, set, why) in l3.unmodelled {
        if set {
            has_l3 = true;
            let effect = format!("{why}: this peer matches nothing");
            out.push(walk::not_enforced_field(node, field, &effect));
        }
    }
    if has_l3 {
        return Peers::List(list);
    }
    if section.to_ports.is_some() || section.icmps.is_some() {
        Peers::Any
    } else {
        Peers::List(Vec::new())
    }
}

/// A CIDR, or a bare address taken as a single host.
fn cidr(text: &str, node: &Node, out: &mut Vec<Diagnostic>) -> Option<IpNet> {
    if let (false, Ok(ip)) = (text.contains('/'), std::net::IpAddr::from_str(text.trim())) {
        return Some(IpNet::from(ip));
    }
    netpol::parse_cidr(text, node, out)
}

fn cidr_set(set: &CidrRule, node: &Node, out: &mut Vec<Diagnostic>) -> Option<Peer> {
    let Some(text) = &set.cidr else {
        let field = if set.cidr_group_ref.is_some() {
            "cidrGroupRef"
        } else {
            "cidrGroupSelector"
        };
        let effect = "CIDR groups are not resolved: this peer matches nothing";
        out.push(walk::not_enforced_field(node, field, effect));
        return None;
    };
    let block = net::IPBlock {
        cidr: text.clone(),
        except: set.except.clone(),
    };
    // Cilium selects cluster endpoints by identity only, never by address.
    netpol::ip_block(&block, node, out).map(|block| {
        Peer::IpBlock(IpBlock {
            matches_pods: Some(false),
            ..block
        })
    })
}

fn entity(text: &str, node: &Node, out: &mut Vec<Diagnostic>) -> Option<Peer> {
    let entity = match text {
        "world" | "world-ipv4" | "world-ipv6" => Entity::World,
        "cluster" => Entity::Cluster,
        "host" => Entity::Host,
        "all" => Entity::All,
        "remote-node" | "kube-apiserver" | "health" | "init" | "ingress" | "unmanaged" => {
            let effect = format!("the `{text}` entity is not modelled: it matches nothing");
            out.push(walk::not_enforced(text, node, &effect));
            return None;
        }
        other => {
            out.push(unknown_entity(other, node));
            return None;
        }
    };
    Some(Peer::Entity(entity))
}

fn unknown_entity(text: &str, node: &Node) -> Diagnostic {
    let names = [
        "world",
        "cluster",
        "host",
        "all",
        "remote-node",
        "kube-apiserver",
        "health",
        "init",
        "ingress",
        "unmanaged",
        "world-ipv4",
        "world-ipv6",
    ];
    let help = match schema::closest(text, &names) {
        Some(name) => format!("did you mean `{name}`?"),
        None => "use `world`, `cluster`, `host` or `all`".to_string(),
    };
    Diagnostic::error("moat::unknown-entity", format!("unknown entity `{text}`"))
        .at(Some(node.origin.clone()))
        .with_label("not a Cilium entity")
        .with_help(help)
}

/// `toPorts`: missing means every port; `icmps` alone matches no TCP, UDP or SCTP traffic.
pub fn ports(section: &Section, node: &Node, out: &mut Vec<Diagnostic>) -> Ports {
    if section.icmps.is_some() {
        let effect = "ICMP is not modelled: these entries match no traffic";
        out.push(walk::not_enforced_field(node, "icmps", effect));
    }
    let Some(list) = &section.to_ports else {
        return if section.icmps.is_some() {
            Ports::List(Vec::new())
        } else {
            Ports::Any
        };
    };
    let mut rules = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        port_rule(entry, walk::item(node, "toPorts", i), &mut rules, out);
    }
    Ports::List(rules)
}

fn port_rule(
    entry: &PortRuleSpec,
    node: &Node,
    rules: &mut Vec<PortRule>,
    out: &mut Vec<Diagnostic>,
) {
    let layer7 = [
        ("rules", entry.rules.is_some()),
        ("terminatingTLS", entry.terminating_tls.is_some()),
        ("originatingTLS", entry.originating_tls.is_some()),
        ("serverNames", entry.server_names.is_some()),
        ("listener", entry.listener.is_some()),
    ];
    for (field, _) in layer7.iter().filter(|(_, set)| *set) {
        let effect =
            "moat enforces this rule at L3/L4 only: it allows every request on these ports";
        out.push(walk::not_enforced_field(node, field, effect));
    }
    let Some(ports) = &entry.ports else {
        rules.extend(Protocol::ALL.map(|protocol| PortRule {
            protocol,
            port: PortMatch::Any,
        }));
        return;
    };
    for (i, port) in ports.iter().enumerate() {
        port_protocol(port, walk::item(node, "ports", i), rules, out);
    }
}

fn port_protocol(
    port: &PortProtocol,
    node: &Node,
    rules: &mut Vec<PortRule>,
    out: &mut Vec<Diagnostic>,
) {
    let Some(protocols) = protocols(port.protocol.as_deref(), node, out) else {
        return;
    };
    let Some(matcher) = port_match(port, node, out) else {
        return;
    };
    rules.extend(protocols.into_iter().map(|protocol| PortRule {
        protocol,
        port: matcher.clone(),
    }));
}

/// `protocol`: TCP, UDP, SCTP, or ANY (the default) for all three.
fn protocols(text: Option<&str>, node: &Node, out: &mut Vec<Diagnostic>) -> Option<Vec<Protocol>> {
    let at = walk::child(node, "protocol");
    match text.unwrap_or("ANY") {
        "ANY" | "" => Some(Protocol::ALL.to_vec()),
        "TCP" => Some(vec![Protocol::Tcp]),
        "UDP" => Some(vec![Protocol::Udp]),
        "SCTP" => Some(vec![Protocol::Sctp]),
        "ICMP" | "ICMPV6" | "ICMPv6" | "VRRP" | "IGMP" => {
            let effect = "only TCP, UDP and SCTP are modelled: this port matches nothing";
            out.push(walk::not_enforced("protocol", at, effect));
            None
        }
        other => {
            let upper = other.to_ascii_uppercase();
            let help = match ["TCP", "UDP", "SCTP", "ANY"].iter().find(|p| **p == upper) {
                Some(p) => format!("protocols are upper case: did you mean `{p}`?"),
                None => "use `TCP`, `UDP`, `SCTP` or `ANY`".to_string(),
            };
            out.push(
                Diagnostic::error(
                    "moat::unknown-protocol",
                    format!("unknown protocol `{other}`"),
                )
                .at(Some(at.origin.clone()))
                .with_label("not TCP, UDP, SCTP or ANY")
                .with_help(help),
            );
            None
        }
    }
}

/// `port` (a number, `0` or missing for every port, or a name) and `endPort`.
fn port_match(port: &PortProtocol, node: &Node, out: &mut Vec<Diagnostic>) -> Option<PortMatch> {
    let port_node = walk::child(node, "port");
    let number = match &port.port {
        None => return Some(PortMatch::Any),
        Some(IntOrString::Int(n)) => i64::from(*n),
        Some(IntOrString::String(text)) => match text.trim().parse::<i64>() {
            Ok(n) => n,
            Err(_) if port.end_port.is_some() => {
                out.push(end_port_error(
                    "`endPort` cannot be used with a named port",
                    node,
                ));
                return None;
            }
            Err(_) => return named(text, port_node, out),
        },
    };
    if number == 0 {
        return Some(PortMatch::Any);
    }
    let start = netpol::port_number(number, port_node, out)?;
    let end = match port.end_port {
        None | Some(0) => start,
        Some(end) => netpol::port_number(end, walk::child(node, "endPort"), out)?,
    };
    if end < start {
        out.push(end_port_error(
            &format!("`endPort` {end} is below `port` {start}"),
            node,
        ));
        return None;
    }
    Some(PortMatch::Range { start, end })
}

/// Cilium compares port names case-insensitively; pods declare them in lower case.
fn named(text: &str, node: &Node, out: &mut Vec<Diagnostic>) -> Option<PortMatch> {
    let name = text.trim().to_ascii_lowercase();
    netpol::check_port_name(&name, node, out)?;
    Some(PortMatch::Named(name))
}

fn end_port_error(message: &str, node: &Node) -> Diagnostic {
    let at = node.get("endPort").unwrap_or(node);
    Diagnostic::error("moat::invalid-end-port", message.to_string())
        .at(Some(at.origin.clone()))
        .with_label("invalid range")
        .with_help("`endPort` needs a numeric `port` and must be at least `port`")
}
