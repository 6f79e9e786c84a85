//! NetworkPolicy (networking.k8s.io/v1) into normalised rules.

use std::str::FromStr;

use ipnet::IpNet;
use k8s_openapi::api::networking::v1 as net;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::node::{Node, PathStep};
use super::selector;
use crate::diag::Diagnostic;
use crate::model::{
    Action, Direction, IpBlock, NamespaceMatch, Peer, Peers, PodSet, Policy, PolicyKind, PortMatch,
    PortRule, Ports, Protocol, Rule, Subject, Tier,
};
use crate::selector::LabelSelector;
use crate::source::Origin;

/// Converts a NetworkPolicy; problems go to `out`, and invalid parts are dropped.
pub fn convert(
    policy: &net::NetworkPolicy,
    namespace: &str,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Policy {
    let name = policy.metadata.name.clone().unwrap_or_default();
    let spec = policy.spec.clone().unwrap_or_default();
    let spec_node = node.get("spec").unwrap_or(node);
    let ctx = Context { spec: spec_node };

    let subject_node = spec_node.get("podSelector").unwrap_or(spec_node);
    let pods = selector::convert(
        &spec.pod_selector.clone().unwrap_or_default(),
        subject_node,
        out,
    );
    let (isolates_ingress, isolates_egress) = policy_types(&spec, spec_node, out);

    let mut rules = Vec::new();
    for (i, rule) in spec.ingress.iter().flatten().enumerate() {
        let at = ctx.at(&["ingress"], i);
        let peers = ctx.peers(rule.from.as_deref(), "ingress", i, "from", namespace, out);
        let ports = ctx.ports(rule.ports.as_deref(), "ingress", i, out);
        rules.push(allow_rule(Direction::Ingress, i, peers, ports, at));
    }
    for (i, rule) in spec.egress.iter().flatten().enumerate() {
        let at = ctx.at(&["egress"], i);
        let peers = ctx.peers(rule.to.as_deref(), "egress", i, "to", namespace, out);
        let ports = ctx.ports(rule.ports.as_deref(), "egress", i, out);
        rules.push(allow_rule(Direction::Egress, i, peers, ports, at));
    }

    Policy {
        kind: PolicyKind::NetworkPolicy,
        namespace: Some(namespace.to_string()),
        name,
        tier: Tier::Namespaced,
        priority: 0,
        subject: Subject::Pods(PodSet {
            namespaces: NamespaceMatch::Name(namespace.to_string()),
            pods,
        }),
        isolates_ingress,
        isolates_egress,
        rules,
        origin: Some(node.origin.clone()),
    }
}

fn allow_rule(direction: Direction, index: usize, peers: Peers, ports: Ports, at: Origin) -> Rule {
    Rule {
        direction,
        action: Action::Allow,
        index,
        peers,
        ports,
        origin: Some(at),
    }
}

/// `policyTypes`; when missing or empty, Ingress plus Egress if the policy has
/// egress rules, as the API server defaults it (an empty `egress: []` adds nothing).
fn policy_types(
    spec: &net::NetworkPolicySpec,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> (bool, bool) {
    let types = match &spec.policy_types {
        Some(types) if !types.is_empty() => types,
        _ => return (true, spec.egress.as_ref().is_some_and(|e| !e.is_empty())),
    };
    let types_node = node.get("policyTypes").unwrap_or(node);
    let mut ingress = false;
    let mut egress = false;
    for (i, t) in types.iter().enumerate() {
        match t.as_str() {
            "Ingress" => ingress = true,
            "Egress" => egress = true,
            other => out.push(
                Diagnostic::error(
                    "moat::invalid-policy-type",
                    format!("unknown policy type `{other}`"),
                )
                .at(Some(
                    types_node.at_path(&[PathStep::Index(i)]).origin.clone(),
                ))
                .with_label("not a policy type")
                .with_help("`policyTypes` takes `Ingress` and `Egress`"),
            ),
        }
    }
    (ingress, egress)
}

struct Context<'a> {
    spec: &'a Node,
}

impl Context<'_> {
    fn node(&self, path: &[PathStep]) -> &Node {
        self.spec.at_path(path)
    }

    fn at(&self, keys: &[&str], index: usize) -> Origin {
        let mut path: Vec<PathStep> = keys.iter().map(|k| PathStep::Key(k.to_string())).collect();
        path.push(PathStep::Index(index));
        self.node(&path).origin.clone()
    }

    fn peers(
        &self,
        peers: Option<&[net::NetworkPolicyPeer]>,
        direction: &str,
        rule: usize,
        field: &str,
        namespace: &str,
        out: &mut Vec<Diagnostic>,
    ) -> Peers {
        let list = match peers {
            None | Some([]) => return Peers::Any,
            Some(list) => list,
        };
        let base = [
            PathStep::Key(direction.to_string()),
            PathStep::Index(rule),
            PathStep::Key(field.to_string()),
        ];
        let converted = list.iter().enumerate().filter_map(|(j, peer)| {
            let mut path = base.to_vec();
            path.push(PathStep::Index(j));
            peer_from(peer, self.node(&path), namespace, out)
        });
        Peers::List(converted.collect())
    }

    fn ports(
        &self,
        ports: Option<&[net::NetworkPolicyPort]>,
        direction: &str,
        rule: usize,
        out: &mut Vec<Diagnostic>,
    ) -> Ports {
        let list = match ports {
            None | Some([]) => return Ports::Any,
            Some(list) => list,
        };
        let converted = list.iter().enumerate().filter_map(|(j, port)| {
            let path = [
                PathStep::Key(direction.to_string()),
                PathStep::Index(rule),
                PathStep::Key("ports".to_string()),
                PathStep::Index(j),
            ];
            port_from(port, self.node(&path), out)
        });
        Ports::List(converted.collect())
    }
}

fn peer_from(
    peer: &net::NetworkPolicyPeer,
    node: &Node,
    namespace: &str,
    out: &mut Vec<Diagnostic>,
) -> Option<Peer> {
    if let Some(block) = &peer.ip_block {
        if peer.pod_selector.is_some() || peer.namespace_selector.is_some() {
            out.push(
                Diagnostic::error(
                    "moat::invalid-peer",
                    "a peer with `ipBlock` cannot also set `podSelector` or `namespaceSelector`",
                )
                .at(Some(node.origin.clone()))
                .with_help("split it into two peers of the same rule"),
            );
            return None;
        }
        return ip_block(block, node.get("ipBlock").unwrap_or(node), out).map(Peer::IpBlock);
    }
    let pods = match &peer.pod_selector {
        Some(s) => selector::convert(s, node.get("podSelector").unwrap_or(node), out),
        None => LabelSelector::everything(),
    };
    let namespaces = match &peer.namespace_selector {
        Some(s) => NamespaceMatch::Selector(selector::convert(
            s,
            node.get("namespaceSelector").unwrap_or(node),
            out,
        )),
        None if peer.pod_selector.is_some() => NamespaceMatch::Name(namespace.to_string()),
        None => {
            out.push(
                Diagnostic::error(
                    "moat::invalid-peer",
                    "a peer must set `podSelector`, `namespaceSelector` or `ipBlock`",
                )
                .at(Some(node.origin.clone()))
                .with_help("an empty peer is rejected by the API server; use `podSelector: {}` for every pod of the namespace"),
            );
            return None;
        }
    };
    Some(Peer::Pods(PodSet { namespaces, pods }))
}

pub(super) fn ip_block(
    block: &net::IPBlock,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<IpBlock> {
    let cidr_node = node.get("cidr").unwrap_or(node);
    let cidr = parse_cidr(&block.cidr, cidr_node, out)?;
    let mut except = Vec::new();
    let except_node = node.get("except");
    for (i, text) in block.except.iter().flatten().enumerate() {
        let at = except_node.map_or(node, |n| n.at_path(&[PathStep::Index(i)]));
        let Some(net) = parse_cidr(text, at, out) else {
            continue;
        };
        if !cidr.contains(&net) || net.prefix_len() <= cidr.prefix_len() {
            out.push(
                Diagnostic::error(
                    "moat::except-outside-cidr",
                    format!("`except` entry `{text}` is not strictly inside `{}`", block.cidr),
                )
                .at(Some(at.origin.clone()))
                .with_label("outside the block")
                .with_help("each `except` must be a smaller range within `cidr`; remove it or widen `cidr`"),
            );
            continue;
        }
        except.push(net);
    }
    Some(IpBlock {
        cidr,
        except,
        matches_pods: None,
    })
}

/// Parses a CIDR; a host address with bits beyond the prefix is accepted and masked,
/// as the API server does.
pub(super) fn parse_cidr(text: &str, node: &Node, out: &mut Vec<Diagnostic>) -> Option<IpNet> {
    match IpNet::from_str(text.trim()) {
        Ok(net) => Some(net.trunc()),
        Err(_) => {
            out.push(
                Diagnostic::error("moat::invalid-cidr", format!("invalid CIDR `{text}`"))
                    .at(Some(node.origin.clone()))
                    .with_label("not a CIDR")
                    .with_help("write an address and a prefix length, such as `10.0.0.0/8` or `2001:db8::/32`"),
            );
            None
        }
    }
}

fn port_from(
    port: &net::NetworkPolicyPort,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<PortRule> {
    let protocol = protocol(port.protocol.as_deref(), node, out)?;
    let port_node = node.get("port").unwrap_or(node);
    let end_node = node.get("endPort").unwrap_or(node);
    let matcher = match (&port.port, port.end_port) {
        (None, None) => PortMatch::Any,
        (None, Some(_)) => {
            out.push(end_port_error("`endPort` needs `port`", end_node));
            return None;
        }
        (Some(IntOrString::String(name)), end) => {
            if end.is_some() {
                out.push(end_port_error(
                    "`endPort` cannot be used with a named port",
                    end_node,
                ));
                return None;
            }
            if let Ok(number) = name.parse::<i64>() {
                let start = port_number(number, port_node, out)?;
                PortMatch::Range { start, end: start }
            } else {
                check_port_name(name, port_node, out)?;
                PortMatch::Named(name.clone())
            }
        }
        (Some(IntOrString::Int(start)), end) => {
            let start = port_number(i64::from(*start), port_node, out)?;
            let end = match end {
                Some(e) => port_number(i64::from(e), end_node, out)?,
                None => start,
            };
            if end < start {
                out.push(end_port_error(
                    &format!("`endPort` {end} is below `port` {start}"),
                    end_node,
                ));
                return None;
            }
            PortMatch::Range { start, end }
        }
    };
    Some(PortRule {
        protocol,
        port: matcher,
    })
}

/// Parses a protocol name; a missing one means TCP.
pub fn protocol(text: Option<&str>, node: &Node, out: &mut Vec<Diagnostic>) -> Option<Protocol> {
    let Some(text) = text else {
        return Some(Protocol::Tcp);
    };
    match text {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        "SCTP" => Some(Protocol::Sctp),
        other => {
            let help = match Protocol::parse(other) {
                Some(p) => format!("protocols are upper case: did you mean `{p}`?"),
                None => "use `TCP`, `UDP` or `SCTP`".to_string(),
            };
            out.push(
                Diagnostic::error(
                    "moat::unknown-protocol",
                    format!("unknown protocol `{other}`"),
                )
                .at(Some(node.get("protocol").unwrap_or(node).origin.clone()))
                .with_label("not TCP, UDP or SCTP")
                .with_help(help),
            );
            None
        }
    }
}

pub(super) fn port_number(number: i64, node: &Node, out: &mut Vec<Diagnostic>) -> Option<u16> {
    match u16::try_from(number) {
        Ok(port) if port > 0 => Some(port),
        _ => {
            out.push(
                Diagnostic::error(
                    "moat::port-out-of-range",
                    format!("port {number} is out of range"),
                )
                .at(Some(node.origin.clone()))
                .with_label("not in 1..=65535")
                .with_help("ports are numbers from 1 to 65535, or a container port name"),
            );
            None
        }
    }
}

/// A named port is an IANA service name: at most 15 characters, lower-case
/// alphanumerics and `-`, with at least one letter.
pub(super) fn check_port_name(name: &str, node: &Node, out: &mut Vec<Diagnostic>) -> Option<()> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.chars().any(|c| c.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if valid {
        return Some(());
    }
    out.push(
        Diagnostic::error(
            "moat::invalid-port-name",
            format!("invalid port name `{name}`"),
        )
        .at(Some(node.origin.clone()))
        .with_label("not a valid port name")
        .with_help("a port name has at most 15 lower-case letters, digits and `-`"),
    );
    None
}

fn end_port_error(message: &str, node: &Node) -> Diagnostic {
    Diagnostic::error("moat::invalid-end-port", message.to_string())
        .at(Some(node.origin.clone()))
        .with_label("invalid range")
        .with_help("`endPort` needs a numeric `port` and must be at least `port`")
}
