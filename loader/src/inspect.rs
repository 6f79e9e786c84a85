//! Live inspection of a pinned datapath: active image, map fill, services,
//! policy entries, conntrack and counters, read from the kernel maps.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use aya::maps::MapData;
use moat_compiler::layout::{
    BackendValue, EndpointKey, EndpointValue, MaglevValue, PolicyKey, PolicyValue, ServiceKey,
    ServiceValue, decode_addr,
};
use serde::Serialize;
use zerocopy::FromBytes;

use crate::datapath::{Attachment, list_attachments, open_map};
use crate::error::LoaderError;
use crate::layout::{
    self, Active, Counter, CtEntry, CtKey, EndpointCounters, Link, capacity, names,
};
use crate::swap::read_active;
use crate::sys;

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

/// Sum of a per-CPU value over every possible CPU.
fn percpu_sum<T: aya::Pod + Default>(raw: &[u8], add: impl Fn(&mut T, &T)) -> T {
    let stride = size_of::<T>().next_multiple_of(8);
    let mut total = T::default();
    for chunk in raw.chunks(stride) {
        if let Some(v) = layout::read_pod::<T>(chunk) {
            add(&mut total, &v);
        }
    }
    total
}

fn possible_cpus() -> usize {
    aya::util::nr_cpus().unwrap_or(1)
}

fn percpu_dump<T: aya::Pod + Default>(
    pin_dir: &Path,
    name: &str,
    add: impl Fn(&mut T, &T) + Copy,
) -> Result<Vec<(u32, T)>, LoaderError> {
    let map = open_map(pin_dir, name)?;
    let stride = size_of::<T>().next_multiple_of(8);
    let rows = dump(&map, name, 4, stride * possible_cpus())?;
    Ok(rows
        .iter()
        .filter_map(|(k, v)| {
            let key = u32::from_ne_bytes(k.as_slice().try_into().ok()?);
            Some((key, percpu_sum(v, add)))
        })
        .collect())
}

fn add_counter(total: &mut Counter, v: &Counter) {
    total.packets += v.packets;
    total.bytes += v.bytes;
}

/// Packets and bytes per drop reason, by reason name.
pub fn drop_counters(pin_dir: &Path) -> Result<Vec<(&'static str, Counter)>, LoaderError> {
    let map = open_map(pin_dir, names::DROP_STATS)?;
    let stride = size_of::<Counter>();
    let mut out = Vec::new();
    for index in 0..capacity::DROP_REASONS {
        let mut raw = vec![0u8; stride * possible_cpus()];
        sys::map_lookup(map.fd().as_fd(), &index.to_ne_bytes(), &mut raw)
            .map_err(map_err("read", names::DROP_STATS))?;
        let total = percpu_sum(&raw, add_counter);
        if total.packets > 0 {
            out.push((layout::drop_reason_name(-(index as i32)), total));
        }
    }
    Ok(out)
}

/// Counters per rule id.
pub fn rule_counters(pin_dir: &Path) -> Result<Vec<(u32, Counter)>, LoaderError> {
    let mut rows = percpu_dump(pin_dir, names::RULE_STATS, add_counter)?;
    rows.sort_by_key(|(id, _)| *id);
    Ok(rows)
}

/// Counters per endpoint id.
pub fn endpoint_counters(pin_dir: &Path) -> Result<Vec<(u32, EndpointCounters)>, LoaderError> {
    let mut rows = percpu_dump(pin_dir, names::EP_STATS, |t: &mut EndpointCounters, v| {
        t.forwarded_packets += v.forwarded_packets;
        t.forwarded_bytes += v.forwarded_bytes;
        t.dropped_packets += v.dropped_packets;
        t.dropped_bytes += v.dropped_bytes;
    })?;
    rows.sort_by_key(|(id, _)| *id);
    Ok(rows)
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

/// Fill of one map against its capacity.
#[derive(Debug, Clone, Serialize)]
pub struct MapFill {
    pub map: &'static str,
    pub entries: usize,
    pub capacity: u32,
}

/// Everything `moat status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub pin_dir: PathBuf,
    pub generation: u32,
    pub slot: u32,
    pub image_generation: u64,
    pub image_hash: String,
    pub attachments: Vec<Attachment>,
    pub maps: Vec<MapFill>,
    /// Packets forwarded, counted once per local endpoint they leave or enter.
    pub forwarded_packets: u64,
    pub dropped_packets: u64,
    pub drops: Vec<DropCount>,
    pub events_sent: u64,
    pub events_lost: u64,
    pub features: Vec<Feature>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DropCount {
    pub reason: &'static str,
    pub packets: u64,
    pub bytes: u64,
}

/// A kernel feature the datapath uses and whether it was found.
#[derive(Debug, Clone, Serialize)]
pub struct Feature {
    pub name: &'static str,
    pub available: bool,
}

/// Collects the status of the datapath pinned under `pin_dir`.
pub fn status(pin_dir: &Path) -> Result<Status, LoaderError> {
    let active = active(pin_dir)?;
    let mut maps = Vec::new();
    for (name, cap, key, value) in [
        (
            names::ENDPOINTS,
            capacity::ENDPOINTS,
            size_of::<EndpointKey>(),
            size_of::<EndpointValue>(),
        ),
        (
            names::IPCACHE,
            capacity::IPCACHE,
            size_of::<moat_compiler::layout::IpcacheKey>(),
            8,
        ),
        (
            names::POLICY,
            capacity::POLICY,
            size_of::<PolicyKey>(),
            size_of::<PolicyValue>(),
        ),
        (
            names::SERVICES,
            capacity::SERVICES,
            size_of::<ServiceKey>(),
            size_of::<ServiceValue>(),
        ),
        (
            names::REVNAT,
            capacity::REVNAT,
            4,
            size_of::<moat_compiler::layout::RevnatValue>(),
        ),
    ] {
        let entries = match active_inner(pin_dir, name, &active)? {
            Some(map) => dump(&map, name, key, value)?.len(),
            None => 0,
        };
        maps.push(MapFill {
            map: name,
            entries,
            capacity: cap,
        });
    }
    for (name, cap) in [
        (names::BACKENDS, capacity::BACKENDS),
        (names::MAGLEV, capacity::MAGLEV),
    ] {
        let entries = match active_inner(pin_dir, name, &active)? {
            Some(map) => map
                .info()
                .map_err(|e| crate::error::map_error("read info of", name, e))?
                .max_entries() as usize,
            None => 0,
        };
        maps.push(MapFill {
            map: name,
            entries,
            capacity: cap,
        });
    }
    let _ = size_of::<MaglevValue>();
    maps.push(MapFill {
        map: names::CT,
        entries: ct(pin_dir)?.len(),
        capacity: capacity::CT,
    });
    maps.push(MapFill {
        map: names::LINKS,
        entries: links(pin_dir)?.len(),
        capacity: capacity::LINKS,
    });

    let endpoints = endpoint_counters(pin_dir)?;
    let drops = drop_counters(pin_dir)?;
    let (events_sent, events_lost) = event_counters(pin_dir)?;
    Ok(Status {
        pin_dir: pin_dir.to_path_buf(),
        generation: active.generation,
        slot: active.slot,
        image_generation: active.image_generation,
        image_hash: moat_compiler::image::format::to_hex(&active.image_hash),
        attachments: list_attachments(pin_dir)?,
        maps,
        forwarded_packets: endpoints.iter().map(|(_, c)| c.forwarded_packets).sum(),
        dropped_packets: drops.iter().map(|(_, c)| c.packets).sum(),
        drops: drops
            .into_iter()
            .map(|(reason, c)| DropCount {
                reason,
                packets: c.packets,
                bytes: c.bytes,
            })
            .collect(),
        events_sent,
        events_lost,
        features: features(),
    })
}

/// Events sent to and lost by the ring buffer, summed over CPUs.
pub fn event_counters(pin_dir: &Path) -> Result<(u64, u64), LoaderError> {
    let map = open_map(pin_dir, names::EVENT_STATS)?;
    let mut totals = [0u64; 2];
    for (index, total) in (0u32..).zip(totals.iter_mut()) {
        let mut raw = vec![0u8; 8 * possible_cpus()];
        sys::map_lookup(map.fd().as_fd(), &index.to_ne_bytes(), &mut raw)
            .map_err(map_err("read", names::EVENT_STATS))?;
        *total = percpu_sum(&raw, |t: &mut u64, v| *t += v);
    }
    Ok((totals[0], totals[1]))
}

/// Kernel features the datapath relies on, probed without side effects.
pub fn features() -> Vec<Feature> {
    let version = aya::util::KernelVersion::current().ok();
    let at_least =
        |major, minor| version.is_some_and(|v| v >= aya::util::KernelVersion::new(major, minor, 0));
    vec![
        Feature {
            name: "btf",
            available: Path::new("/sys/kernel/btf/vmlinux").exists(),
        },
        Feature {
            name: "bpffs",
            available: sys::is_bpffs(Path::new("/sys/fs/bpf")),
        },
        Feature {
            name: "tcx",
            available: at_least(6, 6),
        },
        Feature {
            name: "ringbuf",
            available: at_least(5, 8),
        },
        Feature {
            name: "bpf_redirect_peer",
            available: at_least(5, 10),
        },
        Feature {
            name: "bpf_redirect_neigh",
            available: at_least(5, 10),
        },
    ]
}
