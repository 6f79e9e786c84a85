//! Live inspection of a pinned datapath: active image, map fill, services,
//! policy entries, conntrack and counters, read from the kernel maps.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::path::Path;

use aya::maps::MapData;
use moat_compiler::layout::{
    BackendValue, EndpointKey, EndpointValue, PolicyKey, PolicyValue, ServiceKey, ServiceValue,
    decode_addr,
};
use serde::Serialize;
use zerocopy::FromBytes;

use crate::datapath::open_map;
use crate::error::LoaderError;
use crate::layout::{self, Active, CtEntry, CtKey, EndpointCounters, Link, names};
use crate::swap::read_active;
use crate::sys;

mod counters;
mod status;

pub use counters::{drop_counters, endpoint_counters, event_counters, rule_counters};
pub use status::{DropCount, Feature, MapFill, Status, features, status};

fn map_err(operation: &'static str, map: &str) -> impl Fn(std::io::Error) -> LoaderError {
    let map = map.to_owned();
    move |source| LoaderError::Map {
        operation,
        map: map.clone(),
        source,
    }
}

/// Raw (key, value) records of a map.
type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// Reads every (key, value) of a hash, LRU or LPM map as raw bytes.
fn dump(
    map: &MapData,
    name: &str,
    key_size: usize,
    value_size: usize,
) -> Result<Records, LoaderError> {
    let fd = map.fd().as_fd();
    let keys = sys::map_keys(fd, key_size).map_err(map_err("list keys of", name))?;
    let mut rows = Vec::with_capacity(keys.len());
    for key in keys {
        let mut value = vec![0u8; value_size];
        // An entry may vanish between listing and reading (LRU eviction).
        if sys::map_lookup(fd, &key, &mut value).map_err(map_err("read", name))? {
            rows.push((key, value));
        }
    }
    Ok(rows)
}

/// Opens the inner map of the active slot of an image table.
fn active_inner(
    pin_dir: &Path,
    name: &str,
    active: &Active,
) -> Result<Option<MapData>, LoaderError> {
    if active.generation == 0 {
        return Ok(None);
    }
    let outer = open_map(pin_dir, name)?;
    let mut id = [0u8; 4];
    let found = sys::map_lookup(outer.fd().as_fd(), &active.slot.to_ne_bytes(), &mut id)
        .map_err(map_err("read slot of", name))?;
    if !found {
        return Ok(None);
    }
    MapData::from_id(u32::from_ne_bytes(id))
        .map(Some)
        .map_err(|e| crate::error::map_error("open inner map of", name, e))
}

fn read_records<K: FromBytes, V: FromBytes>(
    pin_dir: &Path,
    name: &str,
    active: &Active,
) -> Result<Vec<(K, V)>, LoaderError> {
    let Some(map) = active_inner(pin_dir, name, active)? else {
        return Ok(Vec::new());
    };
    let rows = dump(&map, name, size_of::<K>(), size_of::<V>())?;
    Ok(rows
        .iter()
        .filter_map(|(k, v)| Some((K::read_from_bytes(k).ok()?, V::read_from_bytes(v).ok()?)))
        .collect())
}

fn read_array<V: FromBytes>(
    pin_dir: &Path,
    name: &str,
    active: &Active,
) -> Result<Vec<V>, LoaderError> {
    let Some(map) = active_inner(pin_dir, name, active)? else {
        return Ok(Vec::new());
    };
    let entries = map
        .info()
        .map_err(|e| crate::error::map_error("read info of", name, e))?
        .max_entries();
    let mut values = Vec::with_capacity(entries as usize);
    let mut value = vec![0u8; size_of::<V>()];
    for index in 0..entries {
        sys::map_lookup(map.fd().as_fd(), &index.to_ne_bytes(), &mut value)
            .map_err(map_err("read", name))?;
        if let Ok(v) = V::read_from_bytes(&value) {
            values.push(v);
        }
    }
    Ok(values)
}

/// Reads the active entry of a pinned datapath.
pub fn active(pin_dir: &Path) -> Result<Active, LoaderError> {
    read_active(&open_map(pin_dir, names::ACTIVE)?)
}

/// One service frontend with its backends.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceRow {
    pub id: u32,
    pub frontend: String,
    pub protocol: u8,
    pub mode: &'static str,
    pub maglev_size: u32,
    pub backends: Vec<String>,
}

/// Lists the services of the active image, like `cilium bpf lb list`.
pub fn services(pin_dir: &Path) -> Result<Vec<ServiceRow>, LoaderError> {
    let active = active(pin_dir)?;
    let frontends: Vec<(ServiceKey, ServiceValue)> =
        read_records(pin_dir, names::SERVICES, &active)?;
    let backends: Vec<BackendValue> = read_array(pin_dir, names::BACKENDS, &active)?;
    let mut rows: Vec<ServiceRow> = frontends
        .iter()
        .map(|(key, value)| {
            let start = value.backend_offset as usize;
            let end = start + value.backend_count as usize;
            ServiceRow {
                id: value.service_id,
                frontend: endpoint_text(key.addr, key.family, key.port),
                protocol: key.protocol,
                mode: if value.flags & 1 != 0 {
                    "maglev"
                } else {
                    "random"
                },
                maglev_size: value.maglev_size,
                backends: backends
                    .get(start..end)
                    .unwrap_or_default()
                    .iter()
                    .map(|b| endpoint_text(b.addr, b.family, b.port))
                    .collect(),
            }
        })
        .collect();
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

fn endpoint_text(addr: [u8; 16], family: u8, port: [u8; 2]) -> String {
    let port = u16::from_be_bytes(port);
    match decode_addr(addr, family) {
        Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
        Some(ip) => format!("{ip}:{port}"),
        None => format!("?:{port}"),
    }
}

/// One policy entry of an endpoint's table.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyRow {
    pub endpoint: String,
    pub endpoint_id: u32,
    pub direction: &'static str,
    pub table: u32,
    pub identity: u32,
    pub protocol: u8,
    /// `port/prefix-bits`, `*` for every port.
    pub ports: String,
    pub action: &'static str,
    pub rule_id: Option<u32>,
    pub flags: u8,
    /// Packets decided by this entry's rule, over every endpoint.
    pub rule_packets: u64,
}

/// Lists the policy entries of every local endpoint, or of one.
pub fn policy(pin_dir: &Path, endpoint: Option<Ipv4Addr>) -> Result<Vec<PolicyRow>, LoaderError> {
    let active = active(pin_dir)?;
    let endpoints: Vec<(EndpointKey, EndpointValue)> =
        read_records(pin_dir, names::ENDPOINTS, &active)?;
    let entries: Vec<(PolicyKey, PolicyValue)> = read_records(pin_dir, names::POLICY, &active)?;
    let counters: std::collections::HashMap<u32, u64> = rule_counters(pin_dir)?
        .into_iter()
        .map(|(id, c)| (id, c.packets))
        .collect();
    let mut rows = Vec::new();
    for (key, ep) in &endpoints {
        let ip = decode_addr(key.addr, key.family);
        if endpoint.is_some_and(|want| ip != Some(want.into())) {
            continue;
        }
        let name = ip.map_or_else(|| "?".to_owned(), |ip| ip.to_string());
        for (direction, table) in [("ingress", ep.ingress_table), ("egress", ep.egress_table)] {
            for (k, v) in entries.iter().filter(|(k, _)| k.table_id == table) {
                let mut row = policy_row(&name, ep.endpoint_id, direction, k, v);
                row.rule_packets = row
                    .rule_id
                    .and_then(|id| counters.get(&id))
                    .copied()
                    .unwrap_or(0);
                rows.push(row);
            }
        }
    }
    rows.sort_by(|a, b| {
        (&a.endpoint, a.direction, a.identity, a.protocol, &a.ports).cmp(&(
            &b.endpoint,
            b.direction,
            b.identity,
            b.protocol,
            &b.ports,
        ))
    });
    Ok(rows)
}

fn policy_row(
    endpoint: &str,
    endpoint_id: u32,
    direction: &'static str,
    k: &PolicyKey,
    v: &PolicyValue,
) -> PolicyRow {
    let port_bits = k.prefixlen.saturating_sub(80);
    let ports = match k.prefixlen {
        0..=64 => "*".to_owned(),
        65..=80 => "*".to_owned(),
        _ if port_bits >= 16 => u16::from_be_bytes(k.port).to_string(),
        _ => format!("{}/{port_bits}", u16::from_be_bytes(k.port)),
    };
    PolicyRow {
        endpoint: endpoint.to_owned(),
        endpoint_id,
        direction,
        table: k.table_id,
        identity: k.identity,
        protocol: if k.prefixlen <= 64 { 0 } else { k.protocol },
        ports,
        action: if v.action == 1 { "allow" } else { "deny" },
        rule_id: (v.rule_id != layout::RULE_NONE).then_some(v.rule_id),
        flags: v.flags,
        rule_packets: 0,
    }
}

/// One conntrack entry.
#[derive(Debug, Clone, Serialize)]
pub struct CtRow {
    pub protocol: u8,
    pub source: String,
    pub destination: String,
    /// `service` for a backend pin, `connection` otherwise.
    pub kind: &'static str,
    /// Backend of a service pin, or ClusterIP:port of a translated connection.
    pub nat: Option<String>,
    pub verdict: &'static str,
    pub drop_reason: &'static str,
    pub rule_id: Option<u32>,
    pub generation: u32,
    pub src_identity: u32,
    pub dst_identity: u32,
    pub state: Vec<&'static str>,
    pub packets: u64,
    pub bytes: u64,
    /// Seconds until the entry expires; negative once expired.
    pub expires_in_s: i64,
    #[serde(skip)]
    pub key: CtKey,
    #[serde(skip)]
    pub entry: CtEntry,
}

/// Lists the conntrack table, like `cilium bpf ct list global`.
pub fn ct(pin_dir: &Path) -> Result<Vec<CtRow>, LoaderError> {
    let map = open_map(pin_dir, names::CT)?;
    let rows = dump(&map, names::CT, size_of::<CtKey>(), size_of::<CtEntry>())?;
    let now = monotonic_ns();
    let mut out: Vec<CtRow> = rows
        .iter()
        .filter_map(|(k, v)| Some(ct_row(layout::read_pod(k)?, layout::read_pod(v)?, now)))
        .collect();
    out.sort_by(|a, b| {
        (&a.source, &a.destination, a.kind).cmp(&(&b.source, &b.destination, b.kind))
    });
    Ok(out)
}

fn ct_row(key: CtKey, entry: CtEntry, now: u64) -> CtRow {
    let service = key.flags & layout::CT_F_SERVICE != 0;
    let nat = (service || entry.service_id != layout::SERVICE_NONE).then(|| {
        SocketAddrV4::new(entry.nat_addr.into(), u16::from_be_bytes(entry.nat_port)).to_string()
    });
    let flags = [
        (layout::CT_SYN, "syn"),
        (layout::CT_SEEN_REPLY, "seen-reply"),
        (layout::CT_FIN_ORIG, "fin-orig"),
        (layout::CT_FIN_REPLY, "fin-reply"),
        (layout::CT_RST, "rst"),
    ];
    CtRow {
        protocol: key.protocol,
        source: SocketAddrV4::new(key.saddr.into(), u16::from_be_bytes(key.sport)).to_string(),
        destination: SocketAddrV4::new(key.daddr.into(), u16::from_be_bytes(key.dport)).to_string(),
        kind: if service { "service" } else { "connection" },
        nat,
        verdict: if service {
            "-"
        } else {
            verdict_name(entry.verdict)
        },
        drop_reason: layout::drop_reason_name(entry.drop_reason),
        rule_id: (entry.rule_id != layout::RULE_NONE && !service).then_some(entry.rule_id),
        generation: entry.generation,
        src_identity: entry.src_identity,
        dst_identity: entry.dst_identity,
        state: flags
            .iter()
            .filter(|(bit, _)| entry.state & bit != 0)
            .map(|(_, name)| *name)
            .collect(),
        packets: entry.packets,
        bytes: entry.bytes,
        expires_in_s: (entry.expires_ns as i128 - now as i128)
            .clamp(i64::MIN as i128, i64::MAX as i128) as i64
            / 1_000_000_000,
        key,
        entry,
    }
}

pub fn verdict_name(verdict: u8) -> &'static str {
    match verdict {
        layout::VERDICT_FORWARDED => "forwarded",
        layout::VERDICT_DROPPED => "dropped",
        _ => "none",
    }
}

/// `bpf_ktime_get_ns()` from user space: CLOCK_MONOTONIC.
pub fn monotonic_ns() -> u64 {
    // SAFETY: `timespec` is plain data and the pointer is valid.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// Pod addresses and the veths they are linked to.
pub fn links(pin_dir: &Path) -> Result<Vec<(Ipv4Addr, Link)>, LoaderError> {
    let map = open_map(pin_dir, names::LINKS)?;
    let rows = dump(&map, names::LINKS, 4, size_of::<Link>())?;
    let mut out: Vec<(Ipv4Addr, Link)> = rows
        .iter()
        .filter_map(|(k, v)| {
            let octets: [u8; 4] = k.as_slice().try_into().ok()?;
            Some((Ipv4Addr::from(octets), layout::read_pod(v)?))
        })
        .collect();
    out.sort_by_key(|(ip, _)| *ip);
    Ok(out)
}

/// One local endpoint with its veth and counters.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointRow {
    pub endpoint_id: u32,
    pub ip: String,
    pub identity: u32,
    /// Host-side veth index from the links map; 0 when not attached.
    pub ifindex: u32,
    /// `peer` (bpf_redirect_peer), `neigh` (bpf_redirect_neigh) or `none`.
    pub redirect: &'static str,
    pub ingress_open: bool,
    pub egress_open: bool,
    pub counters: EndpointCounters,
}

/// Lists the endpoints of the active image, like `cilium bpf endpoint list`.
pub fn endpoints(pin_dir: &Path) -> Result<Vec<EndpointRow>, LoaderError> {
    let active = active(pin_dir)?;
    let records: Vec<(EndpointKey, EndpointValue)> =
        read_records(pin_dir, names::ENDPOINTS, &active)?;
    let links: std::collections::HashMap<Ipv4Addr, Link> = links(pin_dir)?.into_iter().collect();
    let counters: std::collections::HashMap<u32, EndpointCounters> =
        endpoint_counters(pin_dir)?.into_iter().collect();
    let mut rows: Vec<EndpointRow> = records
        .iter()
        .map(|(key, value)| {
            let ip = decode_addr(key.addr, key.family);
            let link = match ip {
                Some(std::net::IpAddr::V4(v4)) => links.get(&v4).copied(),
                _ => None,
            };
            let redirect = match link {
                Some(l) if l.flags & layout::LINK_F_MAC != 0 => "peer",
                Some(_) => "neigh",
                None => "none",
            };
            EndpointRow {
                endpoint_id: value.endpoint_id,
                ip: ip.map_or_else(|| "?".to_owned(), |ip| ip.to_string()),
                identity: value.identity,
                ifindex: link.map_or(0, |l| l.ifindex),
                redirect,
                ingress_open: value.flags & 1 != 0,
                egress_open: value.flags & 2 != 0,
                counters: counters
                    .get(&value.endpoint_id)
                    .copied()
                    .unwrap_or_default(),
            }
        })
        .collect();
    rows.sort_by_key(|r| r.endpoint_id);
    Ok(rows)
}
