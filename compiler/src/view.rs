//! Readable views of an image for `moat image inspect` and `moat image diff`.
//!
//! The JSON form is a stable interface (documented in `docs/image.md`); the
//! text form prints each map as a table in the manner of `cilium bpf
//! service list` and `cilium bpf policy list`.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::Serialize;

use crate::image::format::{Header, Image, RuleProvenance, SectionKind};
use crate::layout::{
    EP_F_EGRESS_OPEN, EP_F_INGRESS_OPEN, ID_ANY, IPC_F_LOCAL, IPC_F_POD, POLICY_PREFIX_ALL,
    POLICY_PREFIX_PORT_START, PolicyKey, PolicyValue, RULE_NONE, SVC_F_MAGLEV, decode_addr,
};

#[derive(Debug, Serialize)]
pub struct View {
    pub header: Header,
    pub node: Option<String>,
    /// Records per map, for every map.
    pub counts: BTreeMap<&'static str, usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<EndpointRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipcache: Option<Vec<IpcacheRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Vec<PolicyRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub services: Option<Vec<ServiceRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backends: Option<Vec<BackendRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maglev: Option<Vec<MaglevRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revnat: Option<Vec<RevnatRow>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Vec<RuleProvenance>>,
}

#[derive(Debug, Serialize)]
pub struct EndpointRow {
    pub address: String,
    pub name: String,
    pub endpoint_id: u32,
    pub identity: u32,
    pub ingress_table: u32,
    pub egress_table: u32,
    pub flags: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct IpcacheRow {
    pub prefix: String,
    pub identity: u32,
    pub labels: Vec<String>,
    pub flags: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct PolicyRow {
    pub table: u32,
    /// Endpoints that use the table, as `direction ns/pod`.
    pub used_by: Vec<String>,
    /// `null` for the wildcard (`MOAT_ID_ANY`).
    pub identity: Option<u32>,
    pub labels: Vec<String>,
    /// `TCP`, `UDP`, `SCTP`, or `ANY`.
    pub protocol: String,
    /// `80`, `1024-2047`, or `ANY`.
    pub ports: String,
    pub action: String,
    pub rule_id: Option<u32>,
    /// The decider: `not isolated`, a rule, or an isolating policy.
    pub rule: String,
}

#[derive(Debug, Serialize)]
pub struct ServiceRow {
    pub id: u32,
    pub frontend: String,
    pub service: String,
    pub port_name: Option<String>,
    pub mode: &'static str,
    pub maglev_size: u32,
    pub backends: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct BackendRow {
    pub index: usize,
    pub address: String,
}

#[derive(Debug, Serialize)]
pub struct MaglevRow {
    pub service_id: u32,
    pub size: u32,
    /// Slots per backend address.
    pub slots: BTreeMap<String, usize>,
}

#[derive(Debug, Serialize)]
pub struct RevnatRow {
    pub service_id: u32,
    pub frontend: String,
}

/// Builds the view of the selected maps (`None`: every map).
pub fn view(image: &Image, maps: Option<&[SectionKind]>) -> View {
    let wants = |kind: SectionKind| maps.is_none_or(|m| m.contains(&kind));
    let context = Context::new(image);
    View {
        header: image.header.clone(),
        node: image.provenance.node.clone(),
        counts: counts(image),
        endpoints: wants(SectionKind::Endpoints).then(|| context.endpoints()),
        ipcache: wants(SectionKind::Ipcache).then(|| context.ipcache()),
        policy: wants(SectionKind::Policy).then(|| context.policy()),
        services: wants(SectionKind::Services).then(|| context.services()),
        backends: wants(SectionKind::Backends).then(|| context.backends()),
        maglev: wants(SectionKind::Maglev).then(|| context.maglev()),
        revnat: wants(SectionKind::Revnat).then(|| context.revnat()),
        provenance: wants(SectionKind::Provenance).then(|| image.provenance.rules.clone()),
    }
}

pub fn counts(image: &Image) -> BTreeMap<&'static str, usize> {
    BTreeMap::from([
        ("endpoints", image.endpoints.len()),
        ("ipcache", image.ipcache.len()),
        ("policy", image.policy.len()),
        ("services", image.services.len()),
        ("backends", image.backends.len()),
        ("maglev", image.maglev.len()),
        ("revnat", image.revnat.len()),
        ("provenance", image.provenance.rules.len()),
    ])
}

struct Context<'a> {
    image: &'a Image,
    labels: HashMap<u32, Vec<String>>,
    names: HashMap<IpAddr, String>,
    users: HashMap<u32, Vec<String>>,
}

impl<'a> Context<'a> {
    fn new(image: &'a Image) -> Self {
        let labels = image
            .provenance
            .identities
            .iter()
            .map(|i| (i.id, i.labels.clone()))
            .collect();
        let names: HashMap<IpAddr, String> = image
            .provenance
            .endpoints
            .iter()
            .map(|e| (e.ip, format!("{}/{}", e.namespace, e.pod)))
            .collect();
        let mut users: HashMap<u32, Vec<String>> = HashMap::new();
        for (key, value) in &image.endpoints {
            let name = decode_addr(key.addr, key.family)
                .and_then(|ip| names.get(&ip).cloned())
                .unwrap_or_default();
            users
                .entry(value.ingress_table)
                .or_default()
                .push(format!("ingress {name}"));
            users
                .entry(value.egress_table)
                .or_default()
                .push(format!("egress {name}"));
        }
        for list in users.values_mut() {
            list.sort();
        }
        Self {
            image,
            labels,
            names,
            users,
        }
    }

    fn name_of(&self, ip: Option<IpAddr>) -> String {
        ip.and_then(|ip| self.names.get(&ip).cloned())
            .unwrap_or_default()
    }

    fn endpoints(&self) -> Vec<EndpointRow> {
        self.image
            .endpoints
            .iter()
            .map(|(key, value)| {
                let ip = decode_addr(key.addr, key.family);
                let mut flags = Vec::new();
                if value.flags & EP_F_INGRESS_OPEN != 0 {
                    flags.push("ingress-open");
                }
                if value.flags & EP_F_EGRESS_OPEN != 0 {
                    flags.push("egress-open");
                }
                EndpointRow {
                    address: ip.map(|i| i.to_string()).unwrap_or_default(),
                    name: self.name_of(ip),
                    endpoint_id: value.endpoint_id,
                    identity: value.identity,
                    ingress_table: value.ingress_table,
                    egress_table: value.egress_table,
                    flags,
                }
            })
            .collect()
    }

    fn ipcache(&self) -> Vec<IpcacheRow> {
        self.image
            .ipcache
            .iter()
            .map(|(key, value)| {
                let ip = decode_addr(key.addr, key.family);
                let mut flags = Vec::new();
                if value.flags & IPC_F_POD != 0 {
                    flags.push("pod");
                }
                if value.flags & IPC_F_LOCAL != 0 {
                    flags.push("local");
                }
                let mut labels = self
                    .labels
                    .get(&value.identity)
                    .cloned()
                    .unwrap_or_default();
                if value.flags & IPC_F_POD != 0 {
                    labels = vec![self.name_of(ip)];
                }
                IpcacheRow {
                    prefix: format!(
                        "{}/{}",
                        ip.map(|i| i.to_string()).unwrap_or_default(),
                        key.addr_prefix()
                    ),
                    identity: value.identity,
                    labels,
                    flags,
                }
            })
            .collect()
    }

    fn policy(&self) -> Vec<PolicyRow> {
        self.image
            .policy
            .iter()
            .map(|(key, value)| self.policy_row(key, value))
            .collect()
    }

    fn policy_row(&self, key: &PolicyKey, value: &PolicyValue) -> PolicyRow {
        let identity = (key.identity != ID_ANY).then_some(key.identity);
        let labels = match identity {
            Some(id) => self.labels.get(&id).cloned().unwrap_or_default(),
            None => vec!["ANY".to_string()],
        };
        let (protocol, ports) = protocol_ports(key);
        PolicyRow {
            table: key.table_id,
            used_by: self.users.get(&key.table_id).cloned().unwrap_or_default(),
            identity,
            labels,
            protocol,
            ports,
            action: if value.action == crate::layout::ACTION_ALLOW {
                "allow"
            } else {
                "deny"
            }
            .to_string(),
            rule_id: (value.rule_id != RULE_NONE).then_some(value.rule_id),
            rule: self.rule_text(value),
        }
    }

    fn rule_text(&self, value: &PolicyValue) -> String {
        if value.rule_id == RULE_NONE {
            return "not isolated".to_string();
        }
        let Some(rule) = self.image.provenance.rules.get(value.rule_id as usize) else {
            return format!("rule {}", value.rule_id);
        };
        rule_description(rule)
    }

    fn services(&self) -> Vec<ServiceRow> {
        let names: HashMap<u32, _> = self
            .image
            .provenance
            .services
            .iter()
            .map(|s| (s.id, s))
            .collect();
        self.image
            .services
            .iter()
            .map(|(key, value)| {
                let start = value.backend_offset as usize;
                let backends = self
                    .image
                    .backends
                    .get(start..start + value.backend_count as usize)
                    .unwrap_or_default()
                    .iter()
                    .map(|b| address(b.addr, b.family, b.port))
                    .collect();
                let name = names.get(&value.service_id);
                ServiceRow {
                    id: value.service_id,
                    frontend: format!(
                        "{}/{}",
                        address(key.addr, key.family, key.port),
                        protocol_name(key.protocol)
                    ),
                    service: name
                        .map(|n| format!("{}/{}", n.namespace, n.name))
                        .unwrap_or_default(),
                    port_name: name.and_then(|n| n.port_name.clone()),
                    mode: if value.flags & SVC_F_MAGLEV != 0 {
                        "maglev"
                    } else {
                        "random"
                    },
                    maglev_size: value.maglev_size,
                    backends,
                }
            })
            .collect()
    }

    fn backends(&self) -> Vec<BackendRow> {
        let rows = self.image.backends.iter().enumerate();
        rows.map(|(index, b)| BackendRow {
            index,
            address: address(b.addr, b.family, b.port),
        })
        .collect()
    }

    fn maglev(&self) -> Vec<MaglevRow> {
        let mut rows = Vec::new();
        for (_, service) in &self.image.services {
            if service.maglev_size == 0 {
                continue;
            }
            let start = service.maglev_offset as usize;
            let slots = self
                .image
                .maglev
                .get(start..start + service.maglev_size as usize)
                .unwrap_or_default();
            let mut per_backend = BTreeMap::new();
            for slot in slots {
                let name = self
                    .image
                    .backends
                    .get(slot.backend as usize)
                    .map(|b| address(b.addr, b.family, b.port))
                    .unwrap_or_default();
                *per_backend.entry(name).or_insert(0) += 1;
            }
            rows.push(MaglevRow {
                service_id: service.service_id,
                size: service.maglev_size,
                slots: per_backend,
            });
        }
        rows
    }

    fn revnat(&self) -> Vec<RevnatRow> {
        let rows = self.image.revnat.iter();
        rows.map(|(id, value)| RevnatRow {
            service_id: *id,
            frontend: address(value.addr, value.family, value.port),
        })
        .collect()
    }
}

/// `Kind ns/name direction rule N (file:line)` or the isolation text.
pub fn rule_description(rule: &RuleProvenance) -> String {
    let name = match &rule.namespace {
        Some(ns) => format!("{ns}/{}", rule.name),
        None => rule.name.clone(),
    };
    let location = rule
        .location
        .as_ref()
        .map(|l| format!(" ({l})"))
        .unwrap_or_default();
    match rule.rule_index {
        Some(index) => format!(
            "{} {name} {} rule {index}{location}",
            rule.policy_kind, rule.direction
        ),
        None => format!(
            "{} {name} isolates {}, no rule matched{location}",
            rule.policy_kind, rule.direction
        ),
    }
}

fn protocol_ports(key: &PolicyKey) -> (String, String) {
    if key.prefixlen <= POLICY_PREFIX_ALL {
        return ("ANY".to_string(), "ANY".to_string());
    }
    let protocol = protocol_name(key.protocol);
    let bits = key.prefixlen.saturating_sub(POLICY_PREFIX_PORT_START);
    if bits == 0 {
        return (protocol, "ANY".to_string());
    }
    let start = u32::from(u16::from_be_bytes(key.port));
    let end = start + (1u32 << (16 - bits.min(16))) - 1;
    let ports = if start == end {
        start.to_string()
    } else {
        format!("{start}-{end}")
    };
    (protocol, ports)
}

pub fn protocol_name(number: u8) -> String {
    match number {
        6 => "TCP".to_string(),
        17 => "UDP".to_string(),
        132 => "SCTP".to_string(),
        other => other.to_string(),
    }
}

fn address(addr: [u8; 16], family: u8, port: [u8; 2]) -> String {
    let port = u16::from_be_bytes(port);
    match decode_addr(addr, family) {
        Some(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
        Some(ip) => format!("{ip}:{port}"),
        None => format!("?:{port}"),
    }
}
