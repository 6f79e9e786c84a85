//! Port atoms and address atoms: the coarsest partitions on which no rule can tell values apart.
//!
//! Every port range, named-port target and CIDR of the cluster's policies cuts
//! the protocol/port space and the address space. Two ports in the same atom
//! get the same verdict for every pair of endpoints, so the graph engine
//! evaluates one representative per atom.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use moat_ir::{Cluster, Peer, Peers, PortMatch, Ports, Protocol};
use serde::Serialize;

use super::bits::Bits;

/// An inclusive range of ports of one protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct PortAtom {
    pub protocol: Protocol,
    pub start: u16,
    pub end: u16,
}

impl fmt::Display for PortAtom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = self.protocol.lower();
        match (self.start, self.end) {
            (1, 65535) => write!(f, "{proto}/*"),
            (s, e) if s == e => write!(f, "{proto}/{s}"),
            (s, e) => write!(f, "{proto}/{s}-{e}"),
        }
    }
}

/// The partition of every protocol's ports 1..=65535 into atoms.
#[derive(Debug, Clone)]
pub struct PortAtoms {
    pub atoms: Vec<PortAtom>,
}

impl PortAtoms {
    /// Cuts the port space at every rule range and every declared container port.
    pub fn build(cluster: &Cluster) -> Self {
        let mut cuts: [BTreeSet<u32>; 3] = Default::default();
        for set in &mut cuts {
            set.insert(1);
            set.insert(65536);
        }
        for rule in cluster.policies.iter().flat_map(|p| &p.rules) {
            let Ports::List(list) = &rule.ports else {
                continue;
            };
            for port in list {
                if let PortMatch::Range { start, end } = port.port {
                    let set = cut_set(&mut cuts, port.protocol);
                    set.insert(u32::from(start.max(1)));
                    set.insert(u32::from(end) + 1);
                }
            }
        }
        for port in cluster.pods.iter().flat_map(|p| &p.ports) {
            let set = cut_set(&mut cuts, port.protocol);
            set.insert(u32::from(port.port.max(1)));
            set.insert(u32::from(port.port) + 1);
        }
        Self::from_cuts(&cuts)
    }

    fn from_cuts(cuts: &[BTreeSet<u32>; 3]) -> Self {
        let mut atoms = Vec::new();
        for (protocol, set) in Protocol::ALL.iter().zip(cuts) {
            let points: Vec<u32> = set.iter().copied().collect();
            for pair in points.windows(2) {
                if let [start, next] = pair {
                    atoms.push(PortAtom {
                        protocol: *protocol,
                        start: clamp_port(*start),
                        end: clamp_port(next - 1),
                    });
                }
            }
        }
        Self { atoms }
    }

    pub fn len(&self) -> usize {
        self.atoms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.atoms.is_empty()
    }

    /// The atom holding `protocol/port`; `None` for port 0.
    pub fn atom_of(&self, protocol: Protocol, port: u16) -> Option<usize> {
        self.atoms
            .iter()
            .position(|a| a.protocol == protocol && (a.start..=a.end).contains(&port))
    }

    /// Atoms inside `protocol/start-end`; ranges always fall on atom borders.
    pub fn range(&self, protocol: Protocol, start: u16, end: u16) -> Bits {
        let mut bits = Bits::empty(self.len());
        for (i, atom) in self.atoms.iter().enumerate() {
            if atom.protocol == protocol && atom.start >= start && atom.end <= end {
                bits.insert(i);
            }
        }
        bits
    }

    pub fn all(&self) -> Bits {
        Bits::full(self.len())
    }

    /// Compact text of a set: `tcp/80, tcp/8000-8080, udp/*`, or `none`.
    pub fn describe(&self, set: &Bits) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut current: Option<PortAtom> = None;
        for atom in set.iter().filter_map(|i| self.atoms.get(i)) {
            current = match current {
                Some(c)
                    if c.protocol == atom.protocol && c.end.checked_add(1) == Some(atom.start) =>
                {
                    Some(PortAtom { end: atom.end, ..c })
                }
                Some(c) => {
                    parts.push(c.to_string());
                    Some(*atom)
                }
                None => Some(*atom),
            };
        }
        if let Some(c) = current {
            parts.push(c.to_string());
        }
        if parts.is_empty() {
            return "none".to_string();
        }
        let all: Vec<String> = Protocol::ALL
            .iter()
            .map(|p| format!("{}/*", p.lower()))
            .collect();
        if parts == all {
            return "any".to_string();
        }
        parts.join(", ")
    }
}

fn cut_set(cuts: &mut [BTreeSet<u32>; 3], protocol: Protocol) -> &mut BTreeSet<u32> {
    let [tcp, udp, sctp] = cuts;
    match protocol {
        Protocol::Tcp => tcp,
        Protocol::Udp => udp,
        Protocol::Sctp => sctp,
    }
}

fn clamp_port(value: u32) -> u16 {
    u16::try_from(value).unwrap_or(u16::MAX)
}

/// An inclusive range of addresses of one family outside the cluster's pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct AddressAtom {
    pub v6: bool,
    pub start: u128,
    pub end: u128,
}

impl AddressAtom {
    /// The first address of the range, used to evaluate rules on the atom.
    pub fn first(&self) -> IpAddr {
        to_ip(self.v6, self.start)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v6, value) = from_ip(ip);
        v6 == self.v6 && (self.start..=self.end).contains(&value)
    }

    /// The CIDRs that cover the range exactly.
    pub fn cidrs(&self) -> Vec<IpNet> {
        if self.v6 {
            let subnets = Ipv6Subnets::new(Ipv6Addr::from(self.start), Ipv6Addr::from(self.end), 0);
            subnets.map(IpNet::V6).collect()
        } else {
            let start = Ipv4Addr::from(u32::try_from(self.start).unwrap_or(u32::MAX));
            let end = Ipv4Addr::from(u32::try_from(self.end).unwrap_or(u32::MAX));
            Ipv4Subnets::new(start, end, 0).map(IpNet::V4).collect()
        }
    }
}

impl fmt::Display for AddressAtom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cidrs = self.cidrs();
        if cidrs.len() <= 2 {
            let text: Vec<String> = cidrs.iter().map(ToString::to_string).collect();
            return f.write_str(&text.join("+"));
        }
        write!(
            f,
            "{}-{}",
            to_ip(self.v6, self.start),
            to_ip(self.v6, self.end)
        )
    }
}

/// The partition of the IPv4 and IPv6 spaces by every CIDR the policies name.
pub fn address_atoms(cluster: &Cluster) -> Vec<AddressAtom> {
    let mut v4_cuts = BTreeSet::new();
    let mut v6_cuts = BTreeSet::new();
    for rule in cluster.policies.iter().flat_map(|p| &p.rules) {
        let Peers::List(peers) = &rule.peers else {
            continue;
        };
        for peer in peers {
            for net in peer_cidrs(peer) {
                let (v6, start) = from_ip(net.network());
                let (_, end) = from_ip(net.broadcast());
                let set = if v6 { &mut v6_cuts } else { &mut v4_cuts };
                set.insert(start);
                if let Some(next) = end.checked_add(1) {
                    set.insert(next);
                }
            }
        }
    }
    let mut atoms = Vec::new();
    for (v6, set) in [(false, &v4_cuts), (true, &v6_cuts)] {
        let last = if v6 { u128::MAX } else { u128::from(u32::MAX) };
        let mut points: Vec<u128> = set.iter().copied().filter(|p| *p <= last).collect();
        points.insert(0, 0);
        points.dedup();
        for (i, start) in points.iter().enumerate() {
            let end = points.get(i + 1).map_or(last, |next| next - 1);
            atoms.push(AddressAtom {
                v6,
                start: *start,
                end,
            });
        }
    }
    atoms
}

fn peer_cidrs(peer: &Peer) -> Vec<IpNet> {
    match peer {
        Peer::IpBlock(block) => std::iter::once(block.cidr)
            .chain(block.except.iter().copied())
            .collect(),
        Peer::Networks(nets) => nets.clone(),
        Peer::Pods(_) | Peer::Entity(_) => Vec::new(),
    }
}

fn from_ip(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v4) => (false, u128::from(u32::from(v4))),
        IpAddr::V6(v6) => (true, u128::from(v6)),
    }
}

fn to_ip(v6: bool, value: u128) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(value))
    } else {
        IpAddr::V4(Ipv4Addr::from(u32::try_from(value).unwrap_or(u32::MAX)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_atoms_cover_every_port_once() {
        let atoms = PortAtoms::from_cuts(&[
            BTreeSet::from([1, 80, 81, 65536]),
            BTreeSet::from([1, 65536]),
            BTreeSet::from([1, 65536]),
        ]);
        assert_eq!(atoms.len(), 5);
        assert_eq!(atoms.atom_of(Protocol::Tcp, 80), Some(1));
        assert_eq!(atoms.atom_of(Protocol::Tcp, 65535), Some(2));
        assert_eq!(
            atoms.describe(&atoms.range(Protocol::Tcp, 80, 80)),
            "tcp/80"
        );
        assert_eq!(atoms.describe(&atoms.all()), "any");
    }
}
