//! Checking a case's expectations with any engine that can judge a concrete flow.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use super::{ConnSet, End, Expectation, Expected};
use crate::eval::{Flow, FlowEnd, verdict};
use crate::model::{Cluster, IpBlock, Peer, Peers, PortMatch, Ports, Protocol};

/// Judges one concrete flow: `true` when it is allowed.
pub type Judge<'a> = dyn Fn(&Cluster, &Flow) -> bool + 'a;

/// The reference evaluator as a judge.
pub fn evaluator_judge(cluster: &Cluster, flow: &Flow) -> bool {
    verdict(cluster, flow).allowed
}

/// An expectation the engine disagreed with, or could not resolve.
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub line: usize,
    pub message: String,
}

/// Checks every expectation of a case against `judge`.
///
/// Port-form lines are one flow each. A connection-set line is checked on
/// representatives: every protocol, the ports that policies and pods name
/// (with their neighbours and the range ends), and for `ext:` ranges the
/// boundaries of every CIDR the policies name.
pub fn check_case(cluster: &Cluster, expectations: &[Expectation], judge: &Judge) -> Vec<Mismatch> {
    let samples = Samples::new(cluster);
    expectations
        .iter()
        .filter_map(|e| check_line(cluster, e, judge, &samples).err())
        .map(|message| Mismatch { line: 0, message })
        .zip(expectations.iter())
        .map(|(m, e)| Mismatch { line: e.line, ..m })
        .collect()
}

fn check_line(
    cluster: &Cluster,
    e: &Expectation,
    judge: &Judge,
    samples: &Samples,
) -> Result<(), String> {
    let srcs = resolve(cluster, &e.src, samples)?;
    let dsts = resolve(cluster, &e.dst, samples)?;
    match &e.expected {
        Expected::Port {
            protocol,
            port,
            allowed,
        } => {
            for &src in &srcs {
                for &dst in &dsts {
                    let flow = Flow {
                        src,
                        dst,
                        protocol: *protocol,
                        port: *port,
                    };
                    if judge(cluster, &flow) != *allowed {
                        return Err(describe(cluster, &flow, *allowed));
                    }
                }
            }
            Ok(())
        }
        Expected::Set(set) => {
            for &src in &srcs {
                for &dst in &dsts {
                    check_set(cluster, src, dst, set, judge, samples)?;
                }
            }
            Ok(())
        }
    }
}

fn check_set(
    cluster: &Cluster,
    src: FlowEnd,
    dst: FlowEnd,
    set: &ConnSet,
    judge: &Judge,
    samples: &Samples,
) -> Result<(), String> {
    for protocol in Protocol::ALL {
        for &port in &samples.ports {
            let expected = match set {
                ConnSet::All => true,
                ConnSet::None => false,
                ConnSet::Ports(list) => list.contains(&(protocol, port)),
            };
            let flow = Flow {
                src,
                dst,
                protocol,
                port,
            };
            if judge(cluster, &flow) != expected {
                return Err(describe(cluster, &flow, expected));
            }
        }
    }
    Ok(())
}

fn describe(cluster: &Cluster, flow: &Flow, expected: bool) -> String {
    let name = |end: FlowEnd| match end {
        FlowEnd::Pod(i) => cluster.pods.get(i).map(|p| p.key()).unwrap_or_default(),
        FlowEnd::External(ip) => format!("ip:{ip}"),
    };
    let word = |b: bool| if b { "allow" } else { "deny" };
    format!(
        "{} -> {} {}/{}: expected {}, got {}",
        name(flow.src),
        name(flow.dst),
        flow.protocol.lower(),
        flow.port,
        word(expected),
        word(!expected)
    )
}

fn resolve(cluster: &Cluster, end: &End, samples: &Samples) -> Result<Vec<FlowEnd>, String> {
    match end {
        End::Pod { namespace, name } => cluster
            .pod_index(namespace, name)
            .map(|i| vec![FlowEnd::Pod(i)])
            .ok_or_else(|| format!("pod `{namespace}/{name}` not in the cluster")),
        End::Ip(ip) => Ok(vec![cluster.end_for_ip(*ip)]),
        End::Range(first, last) => {
            let inside = |ip: &Ipv4Addr| first <= ip && ip <= last;
            let pod_ips: BTreeSet<IpAddr> = cluster.pods.iter().filter_map(|p| p.ip).collect();
            Ok(samples
                .addresses
                .iter()
                .filter(|ip| inside(ip))
                .map(|ip| IpAddr::V4(*ip))
                .filter(|ip| !pod_ips.contains(ip))
                .map(FlowEnd::External)
                .chain([*first, *last].map(|ip| FlowEnd::External(IpAddr::V4(ip))))
                .collect())
        }
    }
}

/// Ports and addresses worth probing for a cluster.
struct Samples {
    ports: Vec<u16>,
    addresses: BTreeSet<Ipv4Addr>,
}

impl Samples {
    fn new(cluster: &Cluster) -> Self {
        let mut ports: BTreeSet<u16> = [1, 53, 80, 81, 443, 8080, 65535].into();
        let mut addresses: BTreeSet<Ipv4Addr> = [Ipv4Addr::new(8, 8, 8, 8)].into();
        for pod in &cluster.pods {
            ports.extend(pod.ports.iter().map(|p| p.port));
        }
        for rule in cluster.policies.iter().flat_map(|p| &p.rules) {
            if let Ports::List(list) = &rule.ports {
                for p in list {
                    if let PortMatch::Range { start, end } = p.port {
                        ports.extend([start, end, start.saturating_sub(1), end.saturating_add(1)]);
                    }
                }
            }
            if let Peers::List(peers) = &rule.peers {
                for peer in peers {
                    add_boundaries(peer, &mut addresses);
                }
            }
        }
        ports.remove(&0);
        Self {
            ports: ports.into_iter().collect(),
            addresses,
        }
    }
}

fn add_boundaries(peer: &Peer, out: &mut BTreeSet<Ipv4Addr>) {
    let nets = match peer {
        Peer::IpBlock(IpBlock { cidr, except, .. }) => {
            std::iter::once(cidr).chain(except).copied().collect()
        }
        Peer::Networks(nets) => nets.clone(),
        _ => Vec::new(),
    };
    for net in nets {
        if let ipnet::IpNet::V4(v4) = net {
            let (lo, hi) = (u32::from(v4.network()), u32::from(v4.broadcast()));
            for ip in [lo, hi, lo.wrapping_sub(1), hi.wrapping_add(1)] {
                out.insert(Ipv4Addr::from(ip));
            }
        }
    }
}
