//! The `ip` commands that build a planned sandbox: namespaces, veth pairs,
//! addresses, static neighbours and routes, and their removal.

use std::net::Ipv4Addr;

use super::SandboxError;
use super::netns::{self, ip};
use super::plan::{mac, netns_prefix};
use super::state::{OutsideNode, PodNode, State};

/// Gateway address every pod and the outside namespace route through. It
/// lives on no interface: static neighbour entries resolve it to the MAC of
/// the node-side veth.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

/// The outside namespace's own address on its link to the node.
pub const OUTSIDE_LINK: Ipv4Addr = Ipv4Addr::new(169, 254, 2, 2);

/// Name of the node-side veth towards the outside namespace.
pub const OUTSIDE_VETH: &str = "ext0";

/// Creates the namespaces, veths, addresses and routes of a planned sandbox
/// and records each host-side interface index in the state.
///
/// On error the caller removes what was built with [`teardown`].
pub fn build(state: &mut State) -> Result<(), SandboxError> {
    let node = state.node_ns.clone();
    netns::create(&node)?;
    netns::sysctl(&node, "net/ipv4/ip_forward", "1")?;
    disable_rp_filter(&node)?;
    build_outside(&node, &state.outside)?;
    for pod in &state.pods {
        build_pod(&node, pod)?;
    }
    let mut names: Vec<String> = state.pods.iter().map(|p| p.host_veth.clone()).collect();
    names.push(OUTSIDE_VETH.to_string());
    let indexes = ifindexes(&node, names)?;
    for (pod, index) in state.pods.iter_mut().zip(&indexes) {
        pod.host_ifindex = *index;
    }
    state.outside.host_ifindex = indexes.last().copied().unwrap_or(0);
    Ok(())
}

fn disable_rp_filter(ns: &str) -> Result<(), SandboxError> {
    netns::sysctl(ns, "net/ipv4/conf/all/rp_filter", "0")?;
    netns::sysctl(ns, "net/ipv4/conf/default/rp_filter", "0")
}

/// Runs `ip` with the whitespace-separated words of `line`. Every name and
/// address in the sandbox is a single word, so splitting is exact.
fn ip_line(line: &str) -> Result<(), SandboxError> {
    let words: Vec<&str> = line.split_whitespace().collect();
    ip(&words).map(|_| ())
}

/// Adds a veth pair: `host` in the node namespace, `eth0` in `peer_ns`.
fn veth_pair(
    node: &str,
    host: &str,
    host_mac: &str,
    peer_ns: &str,
    peer_mac: &str,
) -> Result<(), SandboxError> {
    ip_line(&format!(
        "-n {node} link add {host} address {host_mac} type veth \
         peer name eth0 address {peer_mac} netns {peer_ns}"
    ))?;
    ip_line(&format!("-n {node} link set {host} up"))?;
    ip_line(&format!("-n {peer_ns} link set eth0 up"))
}

/// Routes a namespace's traffic through the node: a default route to
/// [`GATEWAY`], resolved statically to the node-side MAC.
fn route_via_gateway(ns: &str, gateway_mac: &str) -> Result<(), SandboxError> {
    ip_line(&format!("-n {ns} route add {GATEWAY} dev eth0 scope link"))?;
    ip_line(&format!(
        "-n {ns} neigh add {GATEWAY} lladdr {gateway_mac} dev eth0 nud permanent"
    ))?;
    ip_line(&format!("-n {ns} route add default via {GATEWAY} dev eth0"))
}

/// Routes `address` from the node to a neighbour behind `veth`, whose MAC
/// is known, so no ARP runs on the sandbox's links.
fn route_to_neighbour(
    node: &str,
    address: Ipv4Addr,
    mac: &str,
    veth: &str,
) -> Result<(), SandboxError> {
    ip_line(&format!(
        "-n {node} route add {address}/32 dev {veth} scope link"
    ))?;
    ip_line(&format!(
        "-n {node} neigh add {address} lladdr {mac} dev {veth} nud permanent"
    ))
}

fn build_pod(node: &str, pod: &PodNode) -> Result<(), SandboxError> {
    let ns = &pod.netns;
    netns::create(ns)?;
    veth_pair(node, &pod.host_veth, &pod.host_mac, ns, &pod.pod_mac)?;

    ip_line(&format!("-n {ns} addr add {}/32 dev eth0", pod.ip))?;
    route_via_gateway(ns, &pod.host_mac)?;
    route_to_neighbour(node, pod.ip, &pod.pod_mac, &pod.host_veth)
}

fn build_outside(node: &str, outside: &OutsideNode) -> Result<(), SandboxError> {
    let ns = &outside.netns;
    let host_mac = mac(3, 0);
    let peer_mac = mac(4, 0);
    netns::create(ns)?;
    disable_rp_filter(ns)?;
    veth_pair(node, OUTSIDE_VETH, &host_mac, ns, &peer_mac)?;

    ip_line(&format!("-n {ns} addr add {OUTSIDE_LINK}/32 dev eth0"))?;
    route_via_gateway(ns, &host_mac)?;
    route_to_neighbour(node, OUTSIDE_LINK, &peer_mac, OUTSIDE_VETH)?;

    // Outside addresses live on the outside namespace's loopback, reached
    // through its link address.
    for address in &outside.addresses {
        ip_line(&format!("-n {ns} addr add {address}/32 dev lo"))?;
        ip_line(&format!(
            "-n {node} route add {address}/32 via {OUTSIDE_LINK} dev {OUTSIDE_VETH}"
        ))?;
    }
    Ok(())
}

/// Looks up interface indexes by name inside a namespace.
fn ifindexes(ns: &str, names: Vec<String>) -> Result<Vec<u32>, SandboxError> {
    let looked_up = netns::in_netns(ns, move || {
        names
            .iter()
            .map(|name| {
                let c_name = std::ffi::CString::new(name.as_str()).unwrap_or_default();
                // SAFETY: `c_name` is a valid NUL-terminated string for the call.
                let index = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
                (name.clone(), index)
            })
            .collect::<Vec<_>>()
    })?;
    looked_up
        .into_iter()
        .map(|(name, index)| match index {
            0 => Err(SandboxError::Command {
                command: format!("if_nametoindex `{name}` in `{ns}`"),
                stderr: "no such interface".to_string(),
            }),
            index => Ok(index),
        })
        .collect()
}

/// Deletes every namespace of the sandbox `name`, with the processes in
/// them, whether or not its state file still exists.
pub fn teardown(name: &str) -> Result<(), SandboxError> {
    let mut first_error = None;
    for ns in netns::list(&netns_prefix(name)) {
        if let Err(e) = netns::delete(&ns) {
            tracing::warn!(netns = %ns, error = %e, "failed to delete namespace");
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}
