//! The sandbox plan: which namespaces, veths, addresses, workloads and
//! outside addresses a cluster needs, computed without touching the system.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use moat_ir::{Cluster, Peer, Peers, Pod, Protocol};

use super::SandboxError;
use super::state::{
    DatapathMode, L4Port, LoadSettings, OutsideNode, PodNode, ServiceNode, ServicePortNode, State,
};

/// Addresses tried, in order, to stand for a wide ipBlock whose first
/// address cannot be used. They are documentation ranges (RFC 5737).
const SAMPLE_ADDRESSES: [Ipv4Addr; 3] = [
    Ipv4Addr::new(203, 0, 113, 10),
    Ipv4Addr::new(198, 51, 100, 10),
    Ipv4Addr::new(192, 0, 2, 10),
];

/// Inputs of [`plan`] besides the cluster.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    pub name: String,
    pub datapath: DatapathMode,
    pub manifests: Vec<std::path::PathBuf>,
    pub load: LoadSettings,
    /// Outside addresses to serve besides those that policies name.
    pub extra_outside: Vec<Ipv4Addr>,
}

/// A sandbox plan and the things of the cluster it leaves out.
pub struct Plan {
    pub state: State,
    /// One line per pod or service that the sandbox leaves out or changes.
    pub skipped: Vec<String>,
}

/// Checks a sandbox name: 1 to 12 lowercase letters or digits, so that
/// namespace names stay unique per sandbox and short.
pub fn check_name(name: &str) -> Result<(), SandboxError> {
    let valid = !name.is_empty()
        && name.len() <= 12
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !valid {
        return Err(SandboxError::InvalidName {
            name: name.to_string(),
        });
    }
    // The loader keeps its image store beside the sandbox directories.
    if State::dir_of(name) == std::path::Path::new(crate::names::IMAGE_STORE) {
        return Err(SandboxError::ReservedName {
            name: name.to_string(),
        });
    }
    Ok(())
}

/// Prefix shared by every namespace of the sandbox `name`.
pub fn netns_prefix(name: &str) -> String {
    format!("moat-{name}-")
}

/// Lays out the sandbox for a cluster, without touching the system.
pub fn plan(cluster: &Cluster, options: &PlanOptions) -> Result<Plan, SandboxError> {
    check_name(&options.name)?;
    let prefix = netns_prefix(&options.name);
    let mut skipped = Vec::new();
    let pods = pod_nodes(cluster, options, &prefix, &mut skipped)?;

    let aligned = align(cluster, &pods);
    let cluster = &aligned;
    let services = service_nodes(cluster, &mut skipped);

    let outside = OutsideNode {
        netns: format!("{prefix}out"),
        addresses: outside_addresses(cluster, &options.extra_outside),
        host_ifindex: 0,
        ports: outside_ports(&pods),
    };
    let state = State {
        name: options.name.clone(),
        node_ns: format!("{prefix}node"),
        datapath: options.datapath,
        manifests: options.manifests.clone(),
        load: options.load.clone(),
        pods,
        services,
        outside,
        pids: Vec::new(),
        generation: 1,
    };
    Ok(Plan { state, skipped })
}

/// Plans one node per pod with an IPv4 address. A pod whose address an
/// earlier pod already has gets a free one from the pod CIDR.
fn pod_nodes(
    cluster: &Cluster,
    options: &PlanOptions,
    prefix: &str,
    skipped: &mut Vec<String>,
) -> Result<Vec<PodNode>, SandboxError> {
    let taken: BTreeSet<IpAddr> = cluster.pods.iter().filter_map(|p| p.ip).collect();
    let mut used = BTreeSet::new();
    let mut pods = Vec::new();
    for pod in &cluster.pods {
        let Some(mut ip) = pod_ipv4(pod) else {
            skipped.push(format!(
                "left out pod `{}`: {}",
                pod.key(),
                pod_skip_reason(pod)
            ));
            continue;
        };
        if used.contains(&ip) {
            let cidr = options.load.pod_cidr;
            let free = free_address(cidr, &taken, &used)
                .ok_or(SandboxError::AddressesExhausted { cidr })?;
            skipped.push(format!(
                "pod `{}` shares {ip} with another pod, so the sandbox gives it {free}",
                pod.key()
            ));
            ip = free;
        }
        used.insert(ip);
        pods.push(pod_node(pod, ip, pods.len(), prefix));
    }
    Ok(pods)
}

/// Returns the highest address of `cidr` that no pod has, or `None` when
/// none is left.
fn free_address(
    cidr: ipnet::IpNet,
    taken: &BTreeSet<IpAddr>,
    used: &BTreeSet<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let ipnet::IpNet::V4(net) = cidr else {
        return None;
    };
    net.hosts()
        .rev()
        .take(1 << 16)
        .find(|ip| !used.contains(ip) && !taken.contains(&IpAddr::V4(*ip)))
}

/// Copies `cluster` with the pod addresses of the sandbox, so that the
/// compiled image and the evaluator's predictions agree with the veths.
pub fn align(cluster: &Cluster, pods: &[PodNode]) -> Cluster {
    let mut aligned = cluster.clone();
    for pod in &mut aligned.pods {
        let key = pod.key();
        if let Some(node) = pods.iter().find(|n| n.key == key) {
            pod.ip = Some(IpAddr::V4(node.ip));
        }
    }
    aligned
}

fn pod_ipv4(pod: &Pod) -> Option<Ipv4Addr> {
    match pod.ip {
        Some(IpAddr::V4(ip)) if !pod.host_network => Some(ip),
        _ => None,
    }
}

fn pod_skip_reason(pod: &Pod) -> &'static str {
    if pod.host_network {
        "uses the host network"
    } else {
        // NOTE: the sandbox plumbs IPv4 only; IPv6 pods are left out.
        "has no IPv4 address"
    }
}

fn pod_node(pod: &Pod, ip: Ipv4Addr, index: usize, prefix: &str) -> PodNode {
    let ports: Vec<L4Port> = pod
        .ports
        .iter()
        .map(|p| L4Port {
            protocol: p.protocol,
            port: p.port,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let nginx = pod.images.iter().any(|image| is_nginx(image));
    let mut nginx_ports: Vec<u16> = Vec::new();
    if nginx {
        nginx_ports = ports
            .iter()
            .filter(|p| p.protocol == Protocol::Tcp)
            .map(|p| p.port)
            .collect();
        if nginx_ports.is_empty() {
            nginx_ports.push(80);
        }
    }
    let responder_ports = ports
        .iter()
        .filter(|p| !(p.protocol == Protocol::Tcp && nginx_ports.contains(&p.port)))
        .copied()
        .collect();
    PodNode {
        key: pod.key(),
        netns: format!("{prefix}p{index}"),
        ip,
        host_veth: format!("lxc{index}"),
        host_mac: mac(1, index),
        pod_mac: mac(2, index),
        host_ifindex: 0,
        nginx_ports,
        responder_ports,
        ports,
    }
}

/// Returns whether a container image is nginx, whatever its registry and tag.
pub fn is_nginx(image: &str) -> bool {
    let without_digest = image.split('@').next().unwrap_or(image);
    let repository = without_digest.rsplit('/').next().unwrap_or(without_digest);
    let name = repository.split(':').next().unwrap_or(repository);
    name == "nginx" || name.starts_with("nginx-")
}

/// Builds a locally administered MAC: `02:6d:6f:<role>:<index high>:<index low>`.
pub(super) fn mac(role: u8, index: usize) -> String {
    let [high, low] = u16::try_from(index).unwrap_or(u16::MAX).to_be_bytes();
    format!("02:6d:6f:{role:02x}:{high:02x}:{low:02x}")
}

fn service_nodes(cluster: &Cluster, skipped: &mut Vec<String>) -> Vec<ServiceNode> {
    let mut nodes = Vec::new();
    for service in &cluster.services {
        let cluster_ip = match service.cluster_ip {
            Some(IpAddr::V4(ip)) if !service.headless => ip,
            _ => {
                skipped.push(format!(
                    "left out service `{}`: no IPv4 ClusterIP",
                    service.key()
                ));
                continue;
            }
        };
        let ports = service
            .ports
            .iter()
            .map(|port| ServicePortNode {
                port: L4Port {
                    protocol: port.protocol,
                    port: port.port,
                },
                backends: moat_ir::service::backends(cluster, service, port)
                    .into_iter()
                    .filter_map(|b| match b.ip {
                        Some(IpAddr::V4(ip)) => Some((ip, b.port)),
                        _ => None,
                    })
                    .collect(),
            })
            .collect();
        nodes.push(ServiceNode {
            key: service.key(),
            cluster_ip,
            ports,
        });
    }
    nodes
}

/// Addresses outside the cluster that policies name: one per ipBlock or
/// network CIDR, and one inside each `except` hole.
fn outside_addresses(cluster: &Cluster, extra: &[Ipv4Addr]) -> Vec<Ipv4Addr> {
    let pod_ips: BTreeSet<IpAddr> = cluster.pods.iter().filter_map(|p| p.ip).collect();
    let usable = |ip: &Ipv4Addr| usable_outside(*ip) && !pod_ips.contains(&IpAddr::V4(*ip));
    let mut found: BTreeSet<Ipv4Addr> = extra.iter().copied().filter(usable).collect();
    for policy in &cluster.policies {
        for rule in &policy.rules {
            let Peers::List(peers) = &rule.peers else {
                continue;
            };
            for peer in peers {
                let nets: Vec<(ipnet::IpNet, &[ipnet::IpNet])> = match peer {
                    Peer::IpBlock(block) => vec![(block.cidr, block.except.as_slice())],
                    Peer::Networks(nets) => nets.iter().map(|n| (*n, &[][..])).collect(),
                    _ => Vec::new(),
                };
                for (cidr, except) in nets {
                    found.extend(representative(cidr, except, &usable));
                    for hole in except {
                        found.extend(representative(*hole, &[], &usable));
                    }
                }
            }
        }
    }
    found.into_iter().collect()
}

fn representative(
    cidr: ipnet::IpNet,
    except: &[ipnet::IpNet],
    usable: &dyn Fn(&Ipv4Addr) -> bool,
) -> Option<Ipv4Addr> {
    let ipnet::IpNet::V4(net) = cidr else {
        return None;
    };
    let first = if net.prefix_len() >= 31 {
        net.network()
    } else {
        Ipv4Addr::from(u32::from(net.network()).saturating_add(1))
    };
    // The last host address stands in for blocks whose first address is
    // unusable, such as 0.0.0.0/4.
    let last = Ipv4Addr::from(u32::from(net.broadcast()).saturating_sub(1));
    [first, last]
        .into_iter()
        .chain(SAMPLE_ADDRESSES)
        .filter(|ip| net.contains(ip))
        .filter(|ip| !except.iter().any(|e| e.contains(&IpAddr::V4(*ip))))
        .find(|ip| usable(ip))
}

/// Returns whether an address can be put on an interface and routed.
fn usable_outside(ip: Ipv4Addr) -> bool {
    let first = ip.octets().first().copied().unwrap_or(0);
    !(ip.is_unspecified()
        || first == 0
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || first >= 240)
}

fn outside_ports(pods: &[PodNode]) -> Vec<L4Port> {
    let mut ports: BTreeSet<L4Port> = pods.iter().flat_map(|p| p.ports.iter().copied()).collect();
    ports.insert(L4Port {
        protocol: Protocol::Tcp,
        port: 80,
    });
    ports.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_ir::{LoadOptions, load_str};

    const CLUSTER: &str = "
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec:
  containers:
  - name: web
    image: docker.io/library/nginx:1.27@sha256:abc
    ports: [{containerPort: 80}, {containerPort: 53, protocol: UDP}]
status: {podIP: 10.1.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x}
spec:
  containers: [{name: c, image: busybox, ports: [{containerPort: 81}]}]
status: {podIP: 10.1.0.1}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: x}
spec:
  podSelector: {}
  egress:
  - to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
";

    fn options() -> PlanOptions {
        PlanOptions {
            name: "unit".to_string(),
            datapath: DatapathMode::None,
            manifests: Vec::new(),
            load: LoadSettings {
                pod_cidr: "10.244.0.0/16".parse().unwrap(),
                service_cidr: "10.96.0.0/12".parse().unwrap(),
                ipblock_matches_pods: true,
            },
            extra_outside: Vec::new(),
        }
    }

    fn planned() -> Plan {
        let loaded = load_str("unit.yaml", CLUSTER, &LoadOptions::default());
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        plan(&loaded.cluster, &options()).unwrap()
    }

    #[test]
    fn plan_names_namespaces_and_veths() {
        let state = planned().state;
        assert_eq!(state.node_ns, "moat-unit-node");
        assert_eq!(state.outside.netns, "moat-unit-out");
        assert_eq!(state.pods[0].netns, "moat-unit-p0");
        assert_eq!(state.pods[1].host_veth, "lxc1");
        assert_eq!(state.pods[0].host_mac, "02:6d:6f:01:00:00");
        assert_eq!(state.pods[1].pod_mac, "02:6d:6f:02:00:01");
    }

    #[test]
    fn plan_splits_nginx_and_responder_ports() {
        let state = planned().state;
        let a = &state.pods[0];
        assert_eq!(a.nginx_ports, vec![80]);
        assert_eq!(a.responder_ports.len(), 1);
        assert_eq!(a.responder_ports[0].protocol, Protocol::Udp);
        let b = &state.pods[1];
        assert!(b.nginx_ports.is_empty());
        assert_eq!(b.responder_ports[0].port, 81);
    }

    #[test]
    fn plan_moves_shared_address() {
        let plan = planned();
        assert_eq!(plan.state.pods[0].ip, Ipv4Addr::new(10, 1, 0, 1));
        assert_eq!(plan.state.pods[1].ip, Ipv4Addr::new(10, 244, 255, 254));
        assert!(
            plan.skipped.iter().any(|s| s.contains("shares 10.1.0.1")),
            "{:?}",
            plan.skipped
        );
    }

    #[test]
    fn outside_addresses_cover_block_and_hole() {
        let state = planned().state;
        assert!(
            state
                .outside
                .addresses
                .contains(&Ipv4Addr::new(10, 0, 0, 1))
        );
        assert!(
            state
                .outside
                .addresses
                .contains(&Ipv4Addr::new(203, 0, 113, 10))
        );
        assert!(state.outside.addresses.iter().all(|a| usable_outside(*a)));
    }

    #[test]
    fn nginx_image_names() {
        assert!(is_nginx("nginx"));
        assert!(is_nginx("nginx:1.27"));
        assert!(is_nginx("registry.example:5000/library/nginx:1.27"));
        assert!(is_nginx("nginxinc/nginx-unprivileged:stable"));
        assert!(!is_nginx("busybox:1.36"));
        assert!(!is_nginx("example/nginxish"));
    }

    #[test]
    fn sandbox_names_checked() {
        assert!(check_name("moat").is_ok());
        assert!(check_name("t12345x0").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a-b").is_err());
        assert!(check_name("Upper").is_err());
        assert!(check_name("thirteenchars").is_err());
        assert!(check_name("images").is_err());
    }
}
