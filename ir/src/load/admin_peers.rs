//! Subjects, peers and ports of the cluster-scoped policy kinds.

use ipnet::IpNet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;

use super::admin_types::{
    DestinationPort, L4Match, NamespacesPeer, PeerSpec, PodsPeer, PortSpec, ProtocolSpec, Subject,
};
use super::node::Node;
use super::{netpol, selector, walk};
use crate::diag::Diagnostic;
use crate::model::{
    Direction, NamespaceMatch, Peer, Peers, PodSet, PortMatch, PortRule, Ports, Protocol,
};
use crate::selector::LabelSelector;

/// `subject`: all pods of some namespaces, or some pods of some namespaces.
pub fn subject(subject: &Subject, node: &Node, out: &mut Vec<Diagnostic>) -> Option<PodSet> {
    let fields = [
        ("namespaces", subject.namespaces.is_some()),
        ("pods", subject.pods.is_some()),
    ];
    match walk::exactly_one(&fields, "`subject`", node, out)? {
        "namespaces" => {
            let selector = subject.namespaces.as_ref()?;
            Some(all_pods_of(selector::convert(
                selector,
                walk::child(node, "namespaces"),
                out,
            )))
        }
        _ => pods(subject.pods.as_ref()?, walk::child(node, "pods"), out),
    }
}

fn all_pods_of(namespaces: LabelSelector) -> PodSet {
    PodSet {
        namespaces: NamespaceMatch::Selector(namespaces),
        pods: LabelSelector::everything(),
    }
}

/// `pods`: a namespace selector and a pod selector, both required.
fn pods(peer: &PodsPeer, node: &Node, out: &mut Vec<Diagnostic>) -> Option<PodSet> {
    let namespaces = match (&peer.namespaces, &peer.namespace_selector) {
        (Some(legacy), _) => {
            let at = walk::child(node, "namespaces");
            out.push(legacy_form(at));
            legacy_namespaces(legacy, at, out)
        }
        (None, Some(s)) => Some(selector::convert(
            s,
            walk::child(node, "namespaceSelector"),
            out,
        )),
        (None, None) => {
            let help = "write `namespaceSelector: {}` for every namespace";
            out.push(walk::missing("namespaceSelector", "`pods`", node, help));
            None
        }
    };
    let pods = match &peer.pod_selector {
        Some(s) => Some(selector::convert(s, walk::child(node, "podSelector"), out)),
        None => {
            let help = "write `podSelector: {}` for every pod of the namespaces";
            out.push(walk::missing("podSelector", "`pods`", node, help));
            None
        }
    };
    Some(PodSet {
        namespaces: NamespaceMatch::Selector(namespaces?),
        pods: pods?,
    })
}

/// `namespaces` as a peer: a label selector, or the older wrapped form.
fn namespaces(
    peer: &NamespacesPeer,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<LabelSelector> {
    if peer.is_legacy() {
        out.push(legacy_form(node));
        return legacy_namespaces(peer, node, out);
    }
    Some(selector::convert(&peer.selector(), node, out))
}

/// Converts the older form: `namespaceSelector`, or the relative `sameLabels` and `notSameLabels`.
fn legacy_namespaces(
    peer: &NamespacesPeer,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<LabelSelector> {
    for (field, set) in [
        ("sameLabels", &peer.same_labels),
        ("notSameLabels", &peer.not_same_labels),
    ] {
        if set.is_some() {
            let effect = "selection relative to the subject's namespace is not modelled: this peer matches nothing";
            out.push(walk::not_enforced_field(node, field, effect));
            return None;
        }
    }
    let empty = meta::LabelSelector::default();
    let selector = peer.namespace_selector.as_ref().unwrap_or(&empty);
    Some(selector::convert(
        selector,
        walk::child(node, "namespaceSelector"),
        out,
    ))
}

fn legacy_form(node: &Node) -> Diagnostic {
    Diagnostic::warning(
        "moat::legacy-field",
        "this peer uses the older v1alpha1 form `namespaces: {namespaceSelector: ...}`",
    )
    .at(Some(node.origin.clone()))
    .with_label("older form")
    .with_help("the released v1alpha1 API writes `namespaces: {matchLabels: ...}` and `pods: {namespaceSelector: ..., podSelector: ...}`; moat reads both the same way")
}

/// `from` or `to` of one rule: required, with at least one peer.
pub fn peers(
    list: Option<&[PeerSpec]>,
    direction: Direction,
    field: &str,
    rule_node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Peers {
    let list = match list {
        Some(list) if !list.is_empty() => list,
        _ => {
            let help =
                format!("a rule needs at least one peer in `{field}`; this rule matches nothing");
            out.push(walk::missing(field, "a rule", rule_node, &help));
            return Peers::List(Vec::new());
        }
    };
    let converted = list
        .iter()
        .enumerate()
        .filter_map(|(i, p)| peer(p, direction, walk::item(rule_node, field, i), out));
    Peers::List(converted.collect())
}

fn peer(
    peer: &PeerSpec,
    direction: Direction,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<Peer> {
    let mut fields = vec![
        ("namespaces", peer.namespaces.is_some()),
        ("pods", peer.pods.is_some()),
    ];
    if direction == Direction::Egress {
        fields.push(("nodes", peer.nodes.is_some()));
        fields.push(("networks", peer.networks.is_some()));
        fields.push(("domainNames", peer.domain_names.is_some()));
    }
    let which = walk::exactly_one(&fields, "a peer", node, out)?;
    let at = walk::child(node, which);
    match which {
        "namespaces" => Some(Peer::Pods(all_pods_of(namespaces(
            peer.namespaces.as_ref()?,
            at,
            out,
        )?))),
        "pods" => Some(Peer::Pods(pods(peer.pods.as_ref()?, at, out)?)),
        "networks" => networks(peer.networks.as_deref()?, at, out),
        "nodes" => {
            let effect = "moat models no nodes: this peer matches nothing";
            out.push(walk::not_enforced_field(node, "nodes", effect));
            None
        }
        _ => {
            let effect = "moat resolves no domain names: this peer matches nothing";
            out.push(walk::not_enforced_field(node, "domainNames", effect));
            None
        }
    }
}

/// `networks`: CIDRs that match any address in them, pod addresses included.
fn networks(list: &[String], node: &Node, out: &mut Vec<Diagnostic>) -> Option<Peer> {
    if list.is_empty() {
        let help = "list at least one CIDR, such as `0.0.0.0/0`";
        out.push(walk::missing("a CIDR", "`networks`", node, help));
        return None;
    }
    let nets: Vec<IpNet> = list
        .iter()
        .enumerate()
        .filter_map(|(i, text)| {
            let at = node.at_path(&[super::node::PathStep::Index(i)]);
            netpol::parse_cidr(text, at, out)
        })
        .collect();
    (!nets.is_empty()).then_some(Peer::Networks(nets))
}

/// v1alpha1 `ports`: missing means every port; each entry sets exactly one form.
pub fn ports(list: Option<&[PortSpec]>, rule_node: &Node, out: &mut Vec<Diagnostic>) -> Ports {
    let Some(list) = list else {
        return Ports::Any;
    };
    if list.is_empty() {
        out.push(empty_list("ports", rule_node));
    }
    let mut rules = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        port(entry, walk::item(rule_node, "ports", i), &mut rules, out);
    }
    Ports::List(rules)
}

fn port(
    entry: &PortSpec,
    node: &Node,
    rules: &mut Vec<PortRule>,
    out: &mut Vec<Diagnostic>,
) -> Option<()> {
    let fields = [
        ("portNumber", entry.port_number.is_some()),
        ("namedPort", entry.named_port.is_some()),
        ("portRange", entry.port_range.is_some()),
    ];
    let which = walk::exactly_one(&fields, "a port entry", node, out)?;
    let at = walk::child(node, which);
    match which {
        "portNumber" => {
            let number = entry.port_number.as_ref()?;
            let protocol = netpol::protocol(number.protocol.as_deref(), at, out);
            let port = required_port(number.port, "port", at, out)?;
            rules.push(PortRule {
                protocol: protocol?,
                port: PortMatch::Range {
                    start: port,
                    end: port,
                },
            });
        }
        "namedPort" => named(entry.named_port.as_deref()?, at, rules, out)?,
        _ => {
            let range = entry.port_range.as_ref()?;
            let protocol = netpol::protocol(range.protocol.as_deref(), at, out);
            let port = range_of(range.start, range.end, at, out)?;
            rules.push(PortRule {
                protocol: protocol?,
                port,
            });
        }
    }
    Some(())
}

/// Adds a named port for every protocol, because the pod's declaration decides the protocol.
fn named(
    name: &str,
    node: &Node,
    rules: &mut Vec<PortRule>,
    out: &mut Vec<Diagnostic>,
) -> Option<()> {
    netpol::check_port_name(name, node, out)?;
    for protocol in Protocol::ALL {
        rules.push(PortRule {
            protocol,
            port: PortMatch::Named(name.to_string()),
        });
    }
    Some(())
}

fn required_port(
    value: Option<i64>,
    field: &str,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<u16> {
    match value {
        Some(number) => netpol::port_number(number, walk::child(node, field), out),
        None => {
            out.push(walk::missing(
                field,
                "a port",
                node,
                "ports are numbers from 1 to 65535",
            ));
            None
        }
    }
}

/// An inclusive range whose `start` must be below `end`, as upstream validates it.
fn range_of(
    start: Option<i64>,
    end: Option<i64>,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<PortMatch> {
    let first = required_port(start, "start", node, out);
    let last = required_port(end, "end", node, out);
    let (start, end) = (first?, last?);
    if start >= end {
        out.push(
            Diagnostic::error(
                "moat::invalid-port-range",
                format!("port range {start}-{end} is empty or reversed"),
            )
            .at(Some(node.origin.clone()))
            .with_label("`start` must be below `end`")
            .with_help("the API server requires `start` < `end`; use a single port for one port"),
        );
        return None;
    }
    Some(PortMatch::Range { start, end })
}

/// v1alpha2 `protocols`: missing means every protocol and port.
pub fn protocols(
    list: Option<&[ProtocolSpec]>,
    rule_node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Ports {
    let Some(list) = list else {
        return Ports::Any;
    };
    if list.is_empty() {
        out.push(empty_list("protocols", rule_node));
    }
    let mut rules = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        protocol_entry(
            entry,
            walk::item(rule_node, "protocols", i),
            &mut rules,
            out,
        );
    }
    Ports::List(rules)
}

fn protocol_entry(
    entry: &ProtocolSpec,
    node: &Node,
    rules: &mut Vec<PortRule>,
    out: &mut Vec<Diagnostic>,
) -> Option<()> {
    let fields = [
        ("tcp", entry.tcp.is_some()),
        ("udp", entry.udp.is_some()),
        ("sctp", entry.sctp.is_some()),
        (
            "destinationNamedPort",
            entry.destination_named_port.is_some(),
        ),
    ];
    let which = walk::exactly_one(&fields, "a protocols entry", node, out)?;
    let at = walk::child(node, which);
    let (protocol, matcher) = match which {
        "tcp" => (Protocol::Tcp, entry.tcp.as_ref()?),
        "udp" => (Protocol::Udp, entry.udp.as_ref()?),
        "sctp" => (Protocol::Sctp, entry.sctp.as_ref()?),
        _ => return named(entry.destination_named_port.as_deref()?, at, rules, out),
    };
    let port = destination_port(matcher, at, out)?;
    rules.push(PortRule { protocol, port });
    Some(())
}

fn destination_port(
    matcher: &L4Match,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<PortMatch> {
    let Some(port) = &matcher.destination_port else {
        let help = "write `destinationPort: {number: 80}` or `destinationPort: {range: {start: 80, end: 90}}`";
        out.push(walk::missing(
            "destinationPort",
            "a protocol match",
            node,
            help,
        ));
        return None;
    };
    let at = walk::child(node, "destinationPort");
    let DestinationPort { number, range } = port;
    let fields = [("number", number.is_some()), ("range", range.is_some())];
    match walk::exactly_one(&fields, "`destinationPort`", at, out)? {
        "number" => {
            let port = required_port(*number, "number", at, out)?;
            Some(PortMatch::Range {
                start: port,
                end: port,
            })
        }
        _ => {
            let range = range.as_ref()?;
            range_of(range.start, range.end, walk::child(at, "range"), out)
        }
    }
}

fn empty_list(field: &str, rule_node: &Node) -> Diagnostic {
    Diagnostic::error("moat::empty-list", format!("`{field}` is empty"))
        .at(Some(walk::child(rule_node, field).origin.clone()))
        .with_label("no entries")
        .with_help(format!("list at least one entry, or remove `{field}` to match every port; as written the rule matches nothing"))
}
