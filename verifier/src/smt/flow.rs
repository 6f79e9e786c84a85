//! Symbolic flows: the variables that describe a connection and its two ends.
//!
//! An end is either a pod (namespace name, namespace labels, pod labels,
//! IPv4 address, host-network flag, named container ports) or an IPv4
//! address outside the cluster. [`Scope`] decides whether a pod end ranges
//! over the pods that exist or over every pod that could exist.

use std::collections::BTreeMap;

use moat_ir::{Cluster, Protocol};
use z3::ast::{BV, Bool, Int};

use super::universe::{NAME_LABEL, Universe};

/// Which pods a symbolic pod end may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Exactly the pods of the cluster.
    Existing,
    /// Any pod with any labels in any namespace, existing or not.
    AnyPod,
}

/// One symbolic end of a flow.
pub struct SymEnd {
    pub is_pod: Bool,
    pub host_network: Bool,
    /// Whether the end has an IPv4 address; IPv6 addresses are not encoded.
    pub has_v4: Bool,
    pub namespace: Int,
    pub namespace_labels: BTreeMap<String, Int>,
    pub labels: BTreeMap<String, Int>,
    pub ip: BV,
    /// Per [`Universe::port_names`]: declared, and its port number.
    pub named_ports: Vec<(Bool, BV)>,
}

/// A symbolic connection attempt.
pub struct SymFlow {
    pub src: SymEnd,
    pub dst: SymEnd,
    /// 0 TCP, 1 UDP, 2 SCTP.
    pub protocol: Int,
    pub port: BV,
}

pub fn protocol_code(protocol: Protocol) -> i64 {
    match protocol {
        Protocol::Tcp => 0,
        Protocol::Udp => 1,
        Protocol::Sctp => 2,
    }
}

impl SymEnd {
    fn new(prefix: &str, universe: &Universe) -> Self {
        let labels = |keys: &BTreeMap<String, Vec<String>>, kind: &str| {
            keys.keys()
                .map(|k| (k.clone(), Int::new_const(format!("{prefix}.{kind}[{k}]"))))
                .collect()
        };
        let named_ports = universe
            .port_names
            .iter()
            .map(|(name, proto)| {
                let base = format!("{prefix}.port[{name}/{}]", proto.lower());
                (
                    Bool::new_const(format!("{base}.declared")),
                    BV::new_const(base, 16),
                )
            })
            .collect();
        Self {
            is_pod: Bool::new_const(format!("{prefix}.is_pod")),
            host_network: Bool::new_const(format!("{prefix}.host_network")),
            has_v4: Bool::new_const(format!("{prefix}.has_v4")),
            namespace: Int::new_const(format!("{prefix}.namespace")),
            namespace_labels: labels(&universe.namespace_keys, "nslabel"),
            labels: labels(&universe.pod_keys, "label"),
            ip: BV::new_const(format!("{prefix}.ip"), 32),
            named_ports,
        }
    }
}

impl SymFlow {
    /// Fresh variables; `prefix` keeps two flows of one query apart.
    pub fn new(prefix: &str, universe: &Universe) -> Self {
        Self {
            src: SymEnd::new(&format!("{prefix}src"), universe),
            dst: SymEnd::new(&format!("{prefix}dst"), universe),
            protocol: Int::new_const(format!("{prefix}protocol")),
            port: BV::new_const(format!("{prefix}port"), 16),
        }
    }

    /// Constraints every real flow meets: value ranges, namespace facts, and
    /// the pods that exist in `Existing` scope.
    pub fn well_formed(&self, universe: &Universe, cluster: &Cluster, scope: Scope) -> Bool {
        let proto_ok = Bool::and(&[
            self.protocol.ge(Int::from_i64(0)),
            self.protocol.le(Int::from_i64(2)),
        ]);
        let port_ok = self.port.bvuge(BV::from_u64(1, 16));
        Bool::and(&[
            proto_ok,
            port_ok,
            end_well_formed(&self.src, universe, cluster, scope),
            end_well_formed(&self.dst, universe, cluster, scope),
        ])
    }
}

fn end_well_formed(end: &SymEnd, universe: &Universe, cluster: &Cluster, scope: Scope) -> Bool {
    let mut facts = vec![
        domains(end, universe),
        namespace_facts(end, universe, cluster),
    ];
    let pod = match scope {
        Scope::Existing => existing_pod(end, universe, cluster),
        Scope::AnyPod => Bool::and(&[end.host_network.not(), end.has_v4.clone()]),
    };
    facts.push(end.is_pod.implies(pod));
    if universe.addresses_matter {
        let pod_ips: Vec<Bool> = cluster
            .pods
            .iter()
            .filter(|p| !p.host_network)
            .filter_map(|p| ipv4(p.ip?))
            .map(|ip| end.ip.eq(BV::from_u64(u64::from(ip), 32)))
            .collect();
        let outside = Bool::and(&[end.has_v4.clone(), Bool::or(&pod_ips).not()]);
        facts.push(end.is_pod.not().implies(outside));
    } else {
        facts.push(end.is_pod.not().implies(end.has_v4.clone()));
    }
    Bool::and(&facts)
}

fn ipv4(ip: std::net::IpAddr) -> Option<u32> {
    match ip {
        std::net::IpAddr::V4(v4) => Some(u32::from(v4)),
        std::net::IpAddr::V6(_) => None,
    }
}

/// Each label variable lies in its domain, and named ports are real ports.
fn domains(end: &SymEnd, universe: &Universe) -> Bool {
    let mut facts = Vec::new();
    let within = |var: &Int, values: &[String]| {
        let top = i64::try_from(values.len()).unwrap_or(i64::MAX - 1) + 1;
        Bool::and(&[var.ge(Int::from_i64(0)), var.le(Int::from_i64(top))])
    };
    for (key, values) in &universe.pod_keys {
        if let Some(var) = end.labels.get(key) {
            facts.push(within(var, values));
        }
    }
    for (key, values) in &universe.namespace_keys {
        if let Some(var) = end.namespace_labels.get(key) {
            facts.push(within(var, values));
        }
    }
    let names = i64::try_from(universe.namespaces.len()).unwrap_or(i64::MAX);
    facts.push(end.namespace.ge(Int::from_i64(0)));
    facts.push(end.namespace.le(Int::from_i64(names)));
    for (_, port) in &end.named_ports {
        facts.push(port.bvuge(BV::from_u64(1, 16)));
    }
    Bool::and(&facts)
}

/// An existing namespace has its labels; every namespace carries its name label.
fn namespace_facts(end: &SymEnd, universe: &Universe, cluster: &Cluster) -> Bool {
    let mut facts = Vec::new();
    for (index, name) in universe.namespaces.iter().enumerate() {
        let is_this = end
            .namespace
            .eq(Int::from_i64(i64::try_from(index).unwrap_or(0)));
        let labels = match cluster.namespaces.get(name) {
            Some(ns) => fixed_labels(&end.namespace_labels, &universe.namespace_keys, &ns.labels),
            None => name_label(end, universe, Some(name)),
        };
        facts.push(is_this.implies(labels));
    }
    let other = end.namespace.eq(Int::from_i64(
        i64::try_from(universe.namespaces.len()).unwrap_or(0),
    ));
    facts.push(other.implies(name_label(end, universe, None)));
    Bool::and(&facts)
}

/// The name label of a namespace that is not loaded: its name, or for a name
/// no policy mentions, some other value.
fn name_label(end: &SymEnd, universe: &Universe, name: Option<&str>) -> Bool {
    let (Some(var), Some(values)) = (
        end.namespace_labels.get(NAME_LABEL),
        universe.namespace_keys.get(NAME_LABEL),
    ) else {
        return Bool::from_bool(true);
    };
    let code = match name {
        Some(name) => Universe::code(values, Some(name)),
        None => i64::try_from(values.len()).unwrap_or(0) + 1,
    };
    var.eq(Int::from_i64(code))
}

pub fn fixed_labels(
    vars: &BTreeMap<String, Int>,
    keys: &BTreeMap<String, Vec<String>>,
    labels: &moat_ir::Labels,
) -> Bool {
    let facts: Vec<Bool> = keys
        .iter()
        .filter_map(|(key, values)| {
            let var = vars.get(key)?;
            let code = Universe::code(values, labels.get(key).map(String::as_str));
            Some(var.eq(Int::from_i64(code)))
        })
        .collect();
    Bool::and(&facts)
}

/// The end is one of the cluster's pods.
fn existing_pod(end: &SymEnd, universe: &Universe, cluster: &Cluster) -> Bool {
    let options: Vec<Bool> = cluster
        .pods
        .iter()
        .map(|pod| end.is(universe, pod))
        .collect();
    Bool::or(&options)
}

impl SymEnd {
    /// The end is exactly this pod: namespace, labels, address and named ports.
    pub fn is(&self, universe: &Universe, pod: &moat_ir::Pod) -> Bool {
        let mut facts = vec![
            self.is_pod.clone(),
            self.namespace
                .eq(Int::from_i64(universe.namespace_code(&pod.namespace))),
            fixed_labels(&self.labels, &universe.pod_keys, &pod.labels),
            self.host_network.eq(Bool::from_bool(pod.host_network)),
        ];
        match pod.ip.and_then(ipv4) {
            Some(ip) => {
                facts.push(self.has_v4.clone());
                facts.push(self.ip.eq(BV::from_u64(u64::from(ip), 32)));
            }
            None => facts.push(self.has_v4.not()),
        }
        for ((name, proto), (declared, port)) in universe.port_names.iter().zip(&self.named_ports) {
            match pod.named_port(name, *proto) {
                Some(number) => {
                    facts.push(declared.clone());
                    facts.push(port.eq(BV::from_u64(u64::from(number), 16)));
                }
                None => facts.push(declared.not()),
            }
        }
        Bool::and(&facts)
    }

    /// The end is this address outside the cluster; IPv6 cannot be encoded.
    pub fn is_outside(&self, ip: std::net::IpAddr) -> Bool {
        match ipv4(ip) {
            Some(v4) => Bool::and(&[
                self.is_pod.not(),
                self.has_v4.clone(),
                self.ip.eq(BV::from_u64(u64::from(v4), 32)),
            ]),
            None => Bool::from_bool(false),
        }
    }

    /// The end is this concrete flow end of `cluster`.
    pub fn is_end(&self, universe: &Universe, cluster: &Cluster, end: moat_ir::FlowEnd) -> Bool {
        match end {
            moat_ir::FlowEnd::Pod(i) => match cluster.pods.get(i) {
                Some(pod) => self.is(universe, pod),
                None => Bool::from_bool(false),
            },
            moat_ir::FlowEnd::External(ip) => self.is_outside(ip),
        }
    }
}

impl SymFlow {
    /// The flow is exactly this concrete flow of `cluster`.
    pub fn is_flow(&self, universe: &Universe, cluster: &Cluster, flow: &moat_ir::Flow) -> Bool {
        Bool::and(&[
            self.src.is_end(universe, cluster, flow.src),
            self.dst.is_end(universe, cluster, flow.dst),
            self.protocol
                .eq(Int::from_i64(protocol_code(flow.protocol))),
            self.port.eq(BV::from_u64(u64::from(flow.port), 16)),
        ])
    }
}

/// The end is a pod that is none of the cluster's pods.
pub fn new_pod(end: &SymEnd, universe: &Universe, cluster: &Cluster) -> Bool {
    Bool::and(&[
        end.is_pod.clone(),
        existing_pod(end, universe, cluster).not(),
    ])
}

/// The flow has the same end identities (namespace, labels, or outside
/// address) and protocol as the witness, on any port.
pub fn same_class(flow: &SymFlow, universe: &Universe, witness: &super::Witness) -> Bool {
    Bool::and(&[
        same_end(&flow.src, universe, &witness.src),
        same_end(&flow.dst, universe, &witness.dst),
        flow.protocol
            .eq(Int::from_i64(protocol_code(witness.protocol))),
    ])
}

fn same_end(end: &SymEnd, universe: &Universe, witness: &super::EndWitness) -> Bool {
    match witness {
        super::EndWitness::Outside { ip } => Bool::and(&[
            end.is_pod.not(),
            end.ip.eq(BV::from_u64(u64::from(u32::from(*ip)), 32)),
        ]),
        super::EndWitness::Pod {
            namespace, labels, ..
        } => {
            let mut facts = vec![
                end.is_pod.clone(),
                end.namespace
                    .eq(Int::from_i64(universe.namespace_code(namespace))),
            ];
            for (key, values) in &universe.pod_keys {
                let Some(var) = end.labels.get(key) else {
                    continue;
                };
                let value = labels.get(key).map(String::as_str);
                let code = match value {
                    Some(super::witness::OTHER_VALUE) => {
                        i64::try_from(values.len()).unwrap_or(0) + 1
                    }
                    other => Universe::code(values, other),
                };
                facts.push(var.eq(Int::from_i64(code)));
            }
            Bool::and(&facts)
        }
    }
}
