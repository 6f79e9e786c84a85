//! Deterministic addresses for pods and services that the manifests leave without one.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

/// Hands out the free addresses of a range in ascending order.
///
/// The first two addresses of the range are never handed out: the network
/// address, and the first host address, which the sandbox node uses as the
/// pods' gateway.
pub struct Allocator {
    hosts: Box<dyn Iterator<Item = IpAddr>>,
    used: BTreeSet<IpAddr>,
}

impl Allocator {
    pub fn new(range: IpNet, used: BTreeSet<IpAddr>) -> Self {
        Self {
            hosts: Box::new(range.hosts().skip(1)),
            used,
        }
    }

    /// The next free address, or `None` when the range is exhausted.
    pub fn next_free(&mut self) -> Option<IpAddr> {
        let used = &self.used;
        let ip = self.hosts.by_ref().find(|ip| !used.contains(ip))?;
        self.used.insert(ip);
        Some(ip)
    }
}
