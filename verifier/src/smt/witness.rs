//! Counterexamples: a satisfying model read back as a concrete flow.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use moat_ir::{Cluster, Protocol};
use serde::Serialize;
use z3::Model;
use z3::ast::{BV, Bool, Int};

use super::flow::{SymEnd, SymFlow};
use super::universe::Universe;

/// Shown for a label whose value no selector names: any such value behaves alike.
pub const OTHER_VALUE: &str = "<any other value>";

/// One end of a counterexample flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum EndWitness {
    Pod {
        /// `namespace/name` when the pod exists in the cluster.
        existing: Option<String>,
        namespace: String,
        namespace_labels: BTreeMap<String, String>,
        /// The labels that selectors read; keys not shown are absent.
        labels: BTreeMap<String, String>,
        ip: Option<Ipv4Addr>,
        /// Named container ports that rules use, as `name/protocol`, with the
        /// number the pod declares, or `None` when it does not declare them.
        named_ports: BTreeMap<String, Option<u16>>,
    },
    Outside {
        ip: Ipv4Addr,
    },
}

/// A concrete flow that breaks a property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Witness {
    pub src: EndWitness,
    pub dst: EndWitness,
    pub protocol: Protocol,
    pub port: u16,
}

impl Witness {
    pub fn read(model: &Model, flow: &SymFlow, universe: &Universe, cluster: &Cluster) -> Self {
        let protocol = match int(model, &flow.protocol) {
            1 => Protocol::Udp,
            2 => Protocol::Sctp,
            _ => Protocol::Tcp,
        };
        Self {
            src: read_end(model, &flow.src, universe, cluster),
            dst: read_end(model, &flow.dst, universe, cluster),
            protocol,
            port: u16::try_from(bv(model, &flow.port)).unwrap_or(0),
        }
    }
}

fn int(model: &Model, var: &Int) -> i64 {
    model.eval(var, true).and_then(|v| v.as_i64()).unwrap_or(0)
}

fn bv(model: &Model, var: &BV) -> u64 {
    model.eval(var, true).and_then(|v| v.as_u64()).unwrap_or(0)
}

fn boolean(model: &Model, var: &Bool) -> bool {
    model
        .eval(var, true)
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

fn read_end(model: &Model, end: &SymEnd, universe: &Universe, cluster: &Cluster) -> EndWitness {
    let ip = Ipv4Addr::from(u32::try_from(bv(model, &end.ip)).unwrap_or(0));
    if !boolean(model, &end.is_pod) {
        return EndWitness::Outside { ip };
    }
    let namespace = usize::try_from(int(model, &end.namespace))
        .ok()
        .and_then(|i| universe.namespaces.get(i).cloned())
        .unwrap_or_else(|| "<any other namespace>".to_string());
    let has_ip = boolean(model, &end.has_v4);
    let existing = cluster
        .pods
        .iter()
        .find(|p| p.namespace == namespace && has_ip && p.ip == Some(ip.into()))
        .map(|p| p.key());
    EndWitness::Pod {
        existing,
        namespace,
        namespace_labels: read_labels(model, &end.namespace_labels, &universe.namespace_keys),
        labels: read_labels(model, &end.labels, &universe.pod_keys),
        ip: has_ip.then_some(ip),
        named_ports: universe
            .port_names
            .iter()
            .zip(&end.named_ports)
            .map(|((name, proto), (declared, port))| {
                let number =
                    boolean(model, declared).then(|| u16::try_from(bv(model, port)).unwrap_or(0));
                (format!("{name}/{}", proto.lower()), number)
            })
            .collect(),
    }
}

fn read_labels(
    model: &Model,
    vars: &BTreeMap<String, Int>,
    keys: &BTreeMap<String, Vec<String>>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (key, var) in vars {
        let code = int(model, var);
        if code == 0 {
            continue;
        }
        let value = usize::try_from(code - 1)
            .ok()
            .and_then(|i| keys.get(key)?.get(i).cloned())
            .unwrap_or_else(|| OTHER_VALUE.to_string());
        out.insert(key.clone(), value);
    }
    out
}

impl fmt::Display for EndWitness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndWitness::Outside { ip } => write!(f, "ip:{ip} (outside the cluster)"),
            EndWitness::Pod {
                existing: Some(key),
                labels,
                ..
            } => write!(f, "{key} {}", label_text(labels)),
            EndWitness::Pod {
                namespace,
                namespace_labels,
                labels,
                named_ports,
                ..
            } => write!(
                f,
                "a new pod {}{} in namespace {namespace} {}",
                label_text(labels),
                ports_text(named_ports),
                label_text(namespace_labels)
            ),
        }
    }
}

impl fmt::Display for Witness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {} {}/{}",
            self.src,
            self.dst,
            self.protocol.lower(),
            self.port
        )
    }
}

fn label_text(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", pairs.join(","))
}

fn ports_text(ports: &BTreeMap<String, Option<u16>>) -> String {
    if ports.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = ports
        .iter()
        .map(|(name, number)| match number {
            Some(n) => format!("{name}={n}"),
            None => format!("{name} undeclared"),
        })
        .collect();
    format!(" with ports [{}]", parts.join(", "))
}
