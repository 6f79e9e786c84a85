//! CIDR atoms: the address space split by every prefix that a policy references.
//!
//! Referenced prefixes are nested or disjoint, so an address's membership in
//! every `ipBlock`, `except` and `networks` entry is decided by the longest
//! referenced prefix that contains it. One atom per referenced prefix (plus
//! `0.0.0.0/0` and `::/0`) therefore gives one identity per LPM lookup.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;
use moat_ir::{Cluster, Peer, Peers};

/// The referenced prefixes of a cluster, truncated and sorted.
#[derive(Debug, Clone, Default)]
pub struct Atoms {
    prefixes: Vec<IpNet>,
}

impl Atoms {
    /// Collects every prefix in `ipBlock` (with `except`) and `networks` peers.
    pub fn collect(cluster: &Cluster) -> Self {
        let mut set = BTreeSet::new();
        set.insert(world(false));
        set.insert(world(true));
        for policy in &cluster.policies {
            for rule in &policy.rules {
                let Peers::List(peers) = &rule.peers else {
                    continue;
                };
                for peer in peers {
                    add_peer_prefixes(&mut set, peer);
                }
            }
        }
        Self {
            prefixes: set.into_iter().collect(),
        }
    }

    pub fn prefixes(&self) -> &[IpNet] {
        &self.prefixes
    }

    /// The longest referenced prefix that contains `ip`.
    pub fn longest(&self, ip: IpAddr) -> IpNet {
        self.prefixes
            .iter()
            .filter(|p| p.contains(&ip))
            .max_by_key(|p| p.prefix_len())
            .copied()
            .unwrap_or_else(|| world(ip.is_ipv6()))
    }

    /// An address whose longest referenced prefix is `prefix`, or `None`
    /// when longer prefixes cover all of it.
    pub fn representative(&self, prefix: IpNet) -> Option<IpAddr> {
        let inner: Vec<IpNet> = self
            .prefixes
            .iter()
            .filter(|p| **p != prefix && prefix.contains(*p))
            .copied()
            .collect();
        free_address(prefix, &inner)
    }
}

/// `0.0.0.0/0` or `::/0`.
pub fn world(v6: bool) -> IpNet {
    let ip = if v6 {
        IpAddr::from([0u16; 8])
    } else {
        IpAddr::from([0u8; 4])
    };
    IpNet::new(ip, 0).unwrap_or_default()
}

fn add_peer_prefixes(set: &mut BTreeSet<IpNet>, peer: &Peer) {
    match peer {
        Peer::IpBlock(block) => {
            set.insert(block.cidr.trunc());
            set.extend(block.except.iter().map(IpNet::trunc));
        }
        Peer::Networks(nets) => set.extend(nets.iter().map(IpNet::trunc)),
        Peer::Pods(_) | Peer::Entity(_) => {}
    }
}

/// Finds an address of `prefix` outside every prefix in `inner` (all inside `prefix`).
fn free_address(prefix: IpNet, inner: &[IpNet]) -> Option<IpAddr> {
    if inner.contains(&prefix) {
        return None;
    }
    if inner.is_empty() {
        return Some(prefix.network());
    }
    let halves = prefix.subnets(prefix.prefix_len().saturating_add(1)).ok()?;
    for half in halves {
        let within: Vec<IpNet> = inner
            .iter()
            .filter(|p| half.contains(*p))
            .copied()
            .collect();
        if let Some(ip) = free_address(half, &within) {
            return Some(ip);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(text: &str) -> IpNet {
        text.parse().unwrap()
    }

    #[test]
    fn longest_prefix_wins() {
        let atoms = Atoms {
            prefixes: vec![world(false), net("10.0.0.0/8"), net("10.1.0.0/16")],
        };
        assert_eq!(
            atoms.longest("10.1.2.3".parse().unwrap()),
            net("10.1.0.0/16")
        );
        assert_eq!(
            atoms.longest("10.2.2.3".parse().unwrap()),
            net("10.0.0.0/8")
        );
        assert_eq!(atoms.longest("8.8.8.8".parse().unwrap()), world(false));
    }

    #[test]
    fn representative_avoids_inner_prefixes() {
        let atoms = Atoms {
            prefixes: vec![world(false), net("10.0.0.0/8"), net("10.0.0.0/9")],
        };
        let ip = atoms.representative(net("10.0.0.0/8")).unwrap();
        assert_eq!(atoms.longest(ip), net("10.0.0.0/8"));
        let ip = atoms.representative(world(false)).unwrap();
        assert_eq!(atoms.longest(ip), world(false));
    }

    #[test]
    fn fully_covered_prefix_has_no_representative() {
        let atoms = Atoms {
            prefixes: vec![net("10.0.0.0/8"), net("10.0.0.0/9"), net("10.128.0.0/9")],
        };
        assert_eq!(atoms.representative(net("10.0.0.0/8")), None);
    }
}
