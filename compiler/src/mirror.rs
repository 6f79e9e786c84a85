//! A user-space mirror of the datapath's lookup sequence over a decoded image.
//!
//! It performs the same steps as the BPF programs (see `moat_maps.h`):
//! ipcache longest-prefix match for the peer identity, endpoint lookup for
//! the table ids, and at most two policy LPM lookups (peer identity, then
//! `MOAT_ID_ANY`). Tests run it against the reference evaluator, so the
//! compiled artifact is checked before it reaches a node.

use std::collections::HashMap;
use std::net::IpAddr;

use moat_ir::{Reason, RuleRef};
use zerocopy::IntoBytes;

use crate::image::format::Image;
use crate::layout::{
    ACTION_ALLOW, EndpointKey, EndpointValue, ID_ANY, ID_HOST, IpcacheKey, POL_F_NO_RULE,
    PolicyKey, PolicyValue, RULE_NONE, encode_addr,
};

/// The outcome of one side (egress at the source or ingress at the destination).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The address is no endpoint of this image, so no policy applies here.
    NotEndpoint,
    /// The peer is the node itself, which always passes.
    Host,
    /// The policy lookup's value.
    Lookup(PolicyValue),
    /// The table had no entry: an invalid image (the decoder rejects these).
    Miss,
}

impl Side {
    pub fn allowed(self) -> bool {
        match self {
            Side::NotEndpoint | Side::Host => true,
            Side::Lookup(value) => value.action == ACTION_ALLOW,
            Side::Miss => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MirrorVerdict {
    pub allowed: bool,
    pub egress: Side,
    pub ingress: Side,
}

/// Indexed view of an image for lookups.
pub struct Mirror<'a> {
    image: &'a Image,
    endpoints: HashMap<EndpointKey, EndpointValue>,
    policy: HashMap<(u32, u32), Vec<(PolicyKey, PolicyValue)>>,
}

impl<'a> Mirror<'a> {
    pub fn new(image: &'a Image) -> Self {
        let mut policy: HashMap<(u32, u32), Vec<(PolicyKey, PolicyValue)>> = HashMap::new();
        for &(key, value) in &image.policy {
            policy
                .entry((key.table_id, key.identity))
                .or_default()
                .push((key, value));
        }
        Self {
            image,
            endpoints: image.endpoints.iter().copied().collect(),
            policy,
        }
    }

    /// ipcache: the identity of the longest prefix containing `ip`.
    pub fn identity(&self, ip: IpAddr) -> Option<u32> {
        let lookup = IpcacheKey::new(ip, if ip.is_ipv4() { 32 } else { 128 });
        self.image
            .ipcache
            .iter()
            .filter(|(key, _)| lpm_matches(key.as_bytes(), lookup.as_bytes()))
            .max_by_key(|(key, _)| key.prefixlen)
            .map(|(_, value)| value.identity)
    }

    pub fn endpoint(&self, ip: IpAddr) -> Option<EndpointValue> {
        self.endpoints.get(&EndpointKey::new(ip)).copied()
    }

    /// policy: the peer identity's entries first, then `MOAT_ID_ANY`.
    pub fn policy(
        &self,
        table: u32,
        identity: u32,
        protocol: u8,
        port: u16,
    ) -> Option<PolicyValue> {
        self.policy_one(table, identity, protocol, port)
            .or_else(|| self.policy_one(table, ID_ANY, protocol, port))
    }

    fn policy_one(
        &self,
        table: u32,
        identity: u32,
        protocol: u8,
        port: u16,
    ) -> Option<PolicyValue> {
        let lookup = PolicyKey {
            prefixlen: 96,
            table_id: table,
            identity,
            protocol,
            pad: 0,
            port: port.to_be_bytes(),
        };
        self.policy
            .get(&(table, identity))?
            .iter()
            .filter(|(key, _)| lpm_matches(key.as_bytes(), lookup.as_bytes()))
            .max_by_key(|(key, _)| key.prefixlen)
            .map(|(_, value)| *value)
    }

    /// Judges a packet after service translation, as the datapath does.
    pub fn verdict(&self, src: IpAddr, dst: IpAddr, protocol: u8, port: u16) -> MirrorVerdict {
        let egress = self.side(src, dst, protocol, port, |e| e.egress_table);
        let ingress = self.side(dst, src, protocol, port, |e| e.ingress_table);
        MirrorVerdict {
            allowed: egress.allowed() && ingress.allowed(),
            egress,
            ingress,
        }
    }

    fn side(
        &self,
        subject: IpAddr,
        peer: IpAddr,
        protocol: u8,
        port: u16,
        table: impl Fn(&EndpointValue) -> u32,
    ) -> Side {
        let Some(endpoint) = self.endpoint(subject) else {
            return Side::NotEndpoint;
        };
        let identity = self.identity(peer).unwrap_or(ID_ANY);
        if identity == ID_HOST {
            return Side::Host;
        }
        match self.policy(table(&endpoint), identity, protocol, port) {
            Some(value) => Side::Lookup(value),
            None => Side::Miss,
        }
    }

    /// Rebuilds the evaluator's reason for a side from the provenance.
    pub fn reason(&self, side: Side) -> Option<Reason> {
        let value = match side {
            Side::NotEndpoint => return Some(Reason::Outside),
            Side::Host | Side::Miss => return None,
            Side::Lookup(value) => value,
        };
        if value.rule_id == RULE_NONE {
            return Some(Reason::NotIsolated);
        }
        let rule = self.image.provenance.rules.get(value.rule_id as usize)?;
        if value.flags & POL_F_NO_RULE != 0 {
            return Some(Reason::NoRuleMatched {
                policies: rule.isolating.clone(),
            });
        }
        Some(Reason::Rule(RuleRef {
            policy: rule.policy,
            rule: rule.rule?,
        }))
    }

    /// Picks the backend of a frontend for a flow hash, as the datapath does.
    pub fn backend(&self, ip: IpAddr, port: u16, protocol: u8, hash: u32) -> Option<(IpAddr, u16)> {
        let (addr, family) = encode_addr(ip);
        let (_, service) = self.image.services.iter().find(|(key, _)| {
            key.addr == addr
                && key.family == family
                && key.port == port.to_be_bytes()
                && key.protocol == protocol
        })?;
        if service.backend_count == 0 {
            return None;
        }
        let index = if service.maglev_size > 0 {
            let slot = service.maglev_offset + hash % service.maglev_size;
            self.image.maglev.get(slot as usize)?.backend
        } else {
            service.backend_offset + hash % service.backend_count
        };
        let backend = self.image.backends.get(index as usize)?;
        let ip = crate::layout::decode_addr(backend.addr, backend.family)?;
        Some((ip, u16::from_be_bytes(backend.port)))
    }
}

/// Longest-prefix match as `BPF_MAP_TYPE_LPM_TRIE` does it: the first four
/// bytes hold the entry's prefix length in bits, counted over the bytes after them.
fn lpm_matches(entry: &[u8], lookup: &[u8]) -> bool {
    let (Some(prefix), Some(data), Some(wanted)) =
        (entry.get(..4), entry.get(4..), lookup.get(4..))
    else {
        return false;
    };
    let mut length = [0u8; 4];
    length.copy_from_slice(prefix);
    let bits = u32::from_ne_bytes(length) as usize;
    if bits > data.len() * 8 {
        return false;
    }
    let whole = bits / 8;
    if data.get(..whole) != wanted.get(..whole) {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (data.get(whole), wanted.get(whole)) {
        (Some(a), Some(b)) => a & mask == b & mask,
        _ => false,
    }
}
