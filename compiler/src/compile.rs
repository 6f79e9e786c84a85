//! The compile driver: cluster in, image out.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use moat_ir::Cluster;
use sha2::{Digest, Sha256};

use crate::capacity::Capacity;
use crate::cidr::Atoms;
use crate::error::CompileError;
use crate::identity::{self, Identities};
use crate::image::format::{EndpointName, FORMAT_VERSION, Header, Image, Provenance, SectionKind};
use crate::layout::{
    EP_F_EGRESS_OPEN, EP_F_INGRESS_OPEN, EndpointKey, EndpointValue, IPC_F_LOCAL, IPC_F_POD,
    IpcacheKey, IpcacheValue, LAYOUT_VERSION, PolicyKey, PolicyValue,
};
use crate::services::{self, LbOptions};
use crate::tables::{self, PolicyTables};

/// Compile scope (node), load-balancing choices, map capacities and generation.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Compile only the endpoints whose `spec.nodeName` is this node.
    pub node: Option<String>,
    pub lb: LbOptions,
    pub capacity: Capacity,
    pub generation: u64,
}

/// Compiles a cluster into an image, or fails before anything reaches a kernel.
pub fn compile(cluster: &Cluster, options: &CompileOptions) -> Result<Image, CompileError> {
    let atoms = Atoms::collect(cluster);
    let identities = identity::allocate(cluster, &atoms);
    let local = local_pods(cluster, options.node.as_deref())?;
    let tables = tables::build(cluster, &identities, &local);
    let services = services::build(cluster, &options.lb)?;

    let names = endpoint_names(cluster);
    let endpoints = endpoint_entries(cluster, &identities, &tables, &names, &local);
    let ipcache = ipcache_entries(cluster, &identities, &local);
    let policy = policy_entries(&tables);

    let needed = [
        (SectionKind::Endpoints, endpoints.len()),
        (SectionKind::Ipcache, ipcache.len()),
        (SectionKind::Policy, policy.len()),
        (SectionKind::Services, services.services.len()),
        (SectionKind::Backends, services.backends.len()),
        (SectionKind::Maglev, services.maglev.len()),
        (SectionKind::Revnat, services.revnat.len()),
    ];
    let overflows = options.capacity.check(&needed);
    if !overflows.is_empty() {
        return Err(CompileError::Capacity(overflows));
    }

    let provenance = Provenance {
        node: options.node.clone(),
        rules: tables.rules.rules,
        endpoints: names.into_values().collect(),
        identities: identities.all.iter().map(|i| i.info.clone()).collect(),
        services: services.names,
    };
    Ok(Image {
        header: header(cluster, options.generation),
        endpoints,
        ipcache,
        policy,
        services: services.services,
        backends: services.backends,
        maglev: services.maglev,
        revnat: services.revnat,
        provenance,
    })
}

fn header(cluster: &Cluster, generation: u64) -> Header {
    let json = serde_json::to_vec(cluster).unwrap_or_default();
    Header {
        format_version: FORMAT_VERSION,
        layout_version: LAYOUT_VERSION,
        generation,
        content_hash: [0; 32],
        input_digest: Sha256::digest(&json).into(),
        compiler_version: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// Pods that become endpoints: not host-network, with an address, on the node.
fn local_pods(cluster: &Cluster, node: Option<&str>) -> Result<Vec<usize>, CompileError> {
    if let Some(node) = node
        && !cluster
            .pods
            .iter()
            .any(|p| p.node_name.as_deref() == Some(node))
    {
        return Err(CompileError::UnknownNode {
            node: node.to_string(),
        });
    }
    let local = cluster.pods.iter().enumerate().filter(|(_, p)| {
        !p.host_network && p.ip.is_some() && node.is_none_or(|n| p.node_name.as_deref() == Some(n))
    });
    Ok(local.map(|(i, _)| i).collect())
}

/// Endpoint names by address, in address order; the position is the endpoint id.
/// The first pod that claims an address owns it, as in `Cluster::pod_by_ip`.
fn endpoint_names(cluster: &Cluster) -> BTreeMap<IpAddr, EndpointName> {
    let mut names = BTreeMap::new();
    for pod in cluster.pods.iter().filter(|p| !p.host_network) {
        let Some(ip) = pod.ip else {
            continue;
        };
        names.entry(ip).or_insert_with(|| EndpointName {
            ip,
            namespace: pod.namespace.clone(),
            pod: pod.name.clone(),
            node: pod.node_name.clone(),
        });
    }
    names
}

fn endpoint_entries(
    cluster: &Cluster,
    identities: &Identities,
    tables: &PolicyTables,
    names: &BTreeMap<IpAddr, EndpointName>,
    local: &[usize],
) -> Vec<(EndpointKey, EndpointValue)> {
    let ids: BTreeMap<IpAddr, u32> = names.keys().copied().zip(0u32..).collect();
    let owners = address_owners(cluster);
    let mut entries = BTreeMap::new();
    for &index in local {
        let Some(pod) = cluster.pods.get(index) else {
            continue;
        };
        let (Some(ip), Some(Some(identity)), Some(&(ingress, egress))) = (
            pod.ip,
            identities.of_pod.get(index).copied(),
            tables.of_pod.get(&index),
        ) else {
            continue;
        };
        if owners.get(&ip) != Some(&index) {
            continue;
        }
        let mut flags = 0;
        if table_open(tables, ingress) {
            flags |= EP_F_INGRESS_OPEN;
        }
        if table_open(tables, egress) {
            flags |= EP_F_EGRESS_OPEN;
        }
        let value = EndpointValue {
            ifindex: 0,
            endpoint_id: ids.get(&ip).copied().unwrap_or_default(),
            identity,
            ingress_table: ingress,
            egress_table: egress,
            flags,
        };
        entries.insert(EndpointKey::new(ip), value);
    }
    entries.into_iter().collect()
}

/// The pod that owns each address: the first non-host-network pod claiming
/// it, as `Cluster::pod_by_ip` decides, without a scan per lookup.
fn address_owners(cluster: &Cluster) -> HashMap<IpAddr, usize> {
    let mut owners = HashMap::new();
    for (index, pod) in cluster.pods.iter().enumerate() {
        if let (Some(ip), false) = (pod.ip, pod.host_network) {
            owners.entry(ip).or_insert(index);
        }
    }
    owners
}

fn table_open(tables: &PolicyTables, id: u32) -> bool {
    let entries = usize::try_from(id).ok().and_then(|i| tables.tables.get(i));
    entries.is_some_and(|e| tables::is_open(e))
}

fn ipcache_entries(
    cluster: &Cluster,
    identities: &Identities,
    local: &[usize],
) -> Vec<(IpcacheKey, IpcacheValue)> {
    let local: HashSet<usize> = local.iter().copied().collect();
    let mut entries = BTreeMap::new();
    for &(prefix, identity) in &identities.prefixes {
        let key = IpcacheKey::new(prefix.network(), prefix.prefix_len());
        entries.insert(key, IpcacheValue { identity, flags: 0 });
    }
    for (index, pod) in cluster.pods.iter().enumerate() {
        let (Some(ip), Some(Some(identity))) = (pod.ip, identities.of_pod.get(index).copied())
        else {
            continue;
        };
        let bits = if ip.is_ipv4() { 32 } else { 128 };
        let mut flags = IPC_F_POD;
        if local.contains(&index) {
            flags |= IPC_F_LOCAL;
        }
        let key = IpcacheKey::new(ip, bits);
        let taken = entries
            .get(&key)
            .is_some_and(|v: &IpcacheValue| v.flags & IPC_F_POD != 0);
        if !taken {
            entries.insert(key, IpcacheValue { identity, flags });
        }
    }
    entries.into_iter().collect()
}

fn policy_entries(tables: &PolicyTables) -> Vec<(PolicyKey, PolicyValue)> {
    let mut entries = Vec::new();
    for (id, table) in (0u32..).zip(&tables.tables) {
        for entry in table {
            entries.push((entry.key(id), entry.value));
        }
    }
    entries.sort_by_key(|(k, _)| (k.table_id, k.identity, k.protocol, k.port, k.prefixlen));
    entries
}
