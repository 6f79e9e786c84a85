//! `#[repr(C)]` mirrors of the map keys and values in `ebpf/include/moat_maps.h`.
//!
//! Field order, types and padding follow the header exactly; the tests at the
//! end assert the size and every field offset against the header's numbers.
//! Addresses and ports are network byte order (`[u8; N]`), everything else is
//! host byte order as the kernel reads it.

use std::net::IpAddr;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `MOAT_LAYOUT_VERSION`.
pub const LAYOUT_VERSION: u32 = 1;

pub const FAMILY_V4: u8 = 4;
pub const FAMILY_V6: u8 = 6;

pub const ID_ANY: u32 = 0;
pub const ID_HOST: u32 = 1;
pub const ID_WORLD: u32 = 2;
pub const ID_WORLD_V6: u32 = 3;
pub const ID_FIRST_POD: u32 = 256;
pub const ID_FIRST_CIDR: u32 = 1 << 24;

pub const ACTION_ALLOW: u8 = 1;
pub const ACTION_DENY: u8 = 2;
pub const RULE_NONE: u32 = u32::MAX;

pub const EP_F_INGRESS_OPEN: u32 = 1;
pub const EP_F_EGRESS_OPEN: u32 = 2;
pub const IPC_F_POD: u32 = 1;
pub const IPC_F_LOCAL: u32 = 2;
pub const POL_F_NOT_ISOLATED: u8 = 1;
pub const POL_F_NO_RULE: u8 = 2;
pub const SVC_F_MAGLEV: u32 = 1;

/// Bits of a policy key before the port: table id, identity, protocol, pad.
pub const POLICY_PREFIX_PORT_START: u32 = 80;
/// Prefix length of an entry that covers every protocol and port.
pub const POLICY_PREFIX_ALL: u32 = 64;
/// Bits of an ipcache key before the address: family and pad.
pub const IPCACHE_PREFIX_ADDR_START: u32 = 32;

/// `struct moat_endpoint_key`.
#[repr(C)]
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
)]
pub struct EndpointKey {
    pub addr: [u8; 16],
    pub family: u8,
    pub pad: [u8; 3],
}

/// `struct moat_endpoint_value`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct EndpointValue {
    pub ifindex: u32,
    pub endpoint_id: u32,
    pub identity: u32,
    pub ingress_table: u32,
    pub egress_table: u32,
    pub flags: u32,
}

/// `struct moat_ipcache_key`.
#[repr(C)]
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
)]
pub struct IpcacheKey {
    pub prefixlen: u32,
    pub family: u8,
    pub pad: [u8; 3],
    pub addr: [u8; 16],
}

/// `struct moat_ipcache_value`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct IpcacheValue {
    pub identity: u32,
    pub flags: u32,
}

/// `struct moat_policy_key`.
#[repr(C)]
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
)]
pub struct PolicyKey {
    pub prefixlen: u32,
    pub table_id: u32,
    pub identity: u32,
    pub protocol: u8,
    pub pad: u8,
    pub port: [u8; 2],
}

/// `struct moat_policy_value`.
#[repr(C)]
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
)]
pub struct PolicyValue {
    pub rule_id: u32,
    pub action: u8,
    pub flags: u8,
    pub pad: u16,
}

/// `struct moat_service_key`.
#[repr(C)]
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
)]
pub struct ServiceKey {
    pub addr: [u8; 16],
    pub port: [u8; 2],
    pub protocol: u8,
    pub family: u8,
}

/// `struct moat_service_value`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct ServiceValue {
    pub service_id: u32,
    pub backend_offset: u32,
    pub backend_count: u32,
    pub maglev_offset: u32,
    pub maglev_size: u32,
    pub flags: u32,
}

/// `struct moat_backend_value`, stored at its index in the backends array.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct BackendValue {
    pub addr: [u8; 16],
    pub port: [u8; 2],
    pub family: u8,
    pub flags: u8,
}

/// `struct moat_maglev_value`, stored at its slot in the maglev array.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct MaglevValue {
    pub backend: u32,
}

/// `struct moat_revnat_value`, keyed by service id.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RevnatValue {
    pub addr: [u8; 16],
    pub port: [u8; 2],
    pub family: u8,
    pub pad: u8,
}

/// Splits an address into the header's 16-byte field and family.
pub fn encode_addr(ip: IpAddr) -> ([u8; 16], u8) {
    let mut addr = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => {
            let (head, _) = addr.split_at_mut(4);
            head.copy_from_slice(&v4.octets());
            (addr, FAMILY_V4)
        }
        IpAddr::V6(v6) => (v6.octets(), FAMILY_V6),
    }
}

/// Rebuilds an address from the header's 16-byte field and family.
pub fn decode_addr(addr: [u8; 16], family: u8) -> Option<IpAddr> {
    match family {
        FAMILY_V4 => {
            let [a, b, c, d, ..] = addr;
            Some(IpAddr::from([a, b, c, d]))
        }
        FAMILY_V6 => Some(IpAddr::from(addr)),
        _ => None,
    }
}

impl EndpointKey {
    pub fn new(ip: IpAddr) -> Self {
        let (addr, family) = encode_addr(ip);
        Self {
            addr,
            family,
            pad: [0; 3],
        }
    }
}

impl IpcacheKey {
    /// A key for `ip/prefix`; `prefix` counts address bits only.
    pub fn new(ip: IpAddr, prefix: u8) -> Self {
        let (addr, family) = encode_addr(ip);
        Self {
            prefixlen: IPCACHE_PREFIX_ADDR_START + u32::from(prefix),
            family,
            pad: [0; 3],
            addr,
        }
    }

    /// The address prefix length, without the family bits.
    pub fn addr_prefix(&self) -> u32 {
        self.prefixlen.saturating_sub(IPCACHE_PREFIX_ADDR_START)
    }
}

/// Maximum address prefix length of a family.
pub fn family_bits(family: u8) -> Option<u32> {
    match family {
        FAMILY_V4 => Some(32),
        FAMILY_V6 => Some(128),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    #[test]
    fn endpoint_layout() {
        assert_eq!(size_of::<EndpointKey>(), 20);
        assert_eq!(offset_of!(EndpointKey, addr), 0);
        assert_eq!(offset_of!(EndpointKey, family), 16);
        assert_eq!(offset_of!(EndpointKey, pad), 17);
        assert_eq!(size_of::<EndpointValue>(), 24);
        assert_eq!(offset_of!(EndpointValue, ifindex), 0);
        assert_eq!(offset_of!(EndpointValue, endpoint_id), 4);
        assert_eq!(offset_of!(EndpointValue, identity), 8);
        assert_eq!(offset_of!(EndpointValue, ingress_table), 12);
        assert_eq!(offset_of!(EndpointValue, egress_table), 16);
        assert_eq!(offset_of!(EndpointValue, flags), 20);
    }

    #[test]
    fn ipcache_layout() {
        assert_eq!(size_of::<IpcacheKey>(), 24);
        assert_eq!(offset_of!(IpcacheKey, prefixlen), 0);
        assert_eq!(offset_of!(IpcacheKey, family), 4);
        assert_eq!(offset_of!(IpcacheKey, pad), 5);
        assert_eq!(offset_of!(IpcacheKey, addr), 8);
        assert_eq!(size_of::<IpcacheValue>(), 8);
        assert_eq!(offset_of!(IpcacheValue, identity), 0);
        assert_eq!(offset_of!(IpcacheValue, flags), 4);
    }

    #[test]
    fn policy_layout() {
        assert_eq!(size_of::<PolicyKey>(), 16);
        assert_eq!(offset_of!(PolicyKey, prefixlen), 0);
        assert_eq!(offset_of!(PolicyKey, table_id), 4);
        assert_eq!(offset_of!(PolicyKey, identity), 8);
        assert_eq!(offset_of!(PolicyKey, protocol), 12);
        assert_eq!(offset_of!(PolicyKey, pad), 13);
        assert_eq!(offset_of!(PolicyKey, port), 14);
        assert_eq!(size_of::<PolicyValue>(), 8);
        assert_eq!(offset_of!(PolicyValue, rule_id), 0);
        assert_eq!(offset_of!(PolicyValue, action), 4);
        assert_eq!(offset_of!(PolicyValue, flags), 5);
        assert_eq!(offset_of!(PolicyValue, pad), 6);
    }

    #[test]
    fn service_layout() {
        assert_eq!(size_of::<ServiceKey>(), 20);
        assert_eq!(offset_of!(ServiceKey, addr), 0);
        assert_eq!(offset_of!(ServiceKey, port), 16);
        assert_eq!(offset_of!(ServiceKey, protocol), 18);
        assert_eq!(offset_of!(ServiceKey, family), 19);
        assert_eq!(size_of::<ServiceValue>(), 24);
        assert_eq!(offset_of!(ServiceValue, service_id), 0);
        assert_eq!(offset_of!(ServiceValue, backend_offset), 4);
        assert_eq!(offset_of!(ServiceValue, backend_count), 8);
        assert_eq!(offset_of!(ServiceValue, maglev_offset), 12);
        assert_eq!(offset_of!(ServiceValue, maglev_size), 16);
        assert_eq!(offset_of!(ServiceValue, flags), 20);
    }

    #[test]
    fn backend_maglev_revnat_layout() {
        assert_eq!(size_of::<BackendValue>(), 20);
        assert_eq!(offset_of!(BackendValue, addr), 0);
        assert_eq!(offset_of!(BackendValue, port), 16);
        assert_eq!(offset_of!(BackendValue, family), 18);
        assert_eq!(offset_of!(BackendValue, flags), 19);
        assert_eq!(size_of::<MaglevValue>(), 4);
        assert_eq!(offset_of!(MaglevValue, backend), 0);
        assert_eq!(size_of::<RevnatValue>(), 20);
        assert_eq!(offset_of!(RevnatValue, addr), 0);
        assert_eq!(offset_of!(RevnatValue, port), 16);
        assert_eq!(offset_of!(RevnatValue, family), 18);
        assert_eq!(offset_of!(RevnatValue, pad), 19);
    }

    #[test]
    fn header_constants_match() {
        let header = include_str!("../../ebpf/include/moat_maps.h");
        let expected = [
            ("MOAT_LAYOUT_VERSION", LAYOUT_VERSION.to_string()),
            ("MOAT_ID_HOST", ID_HOST.to_string()),
            ("MOAT_ID_WORLD", ID_WORLD.to_string()),
            ("MOAT_ID_WORLD_V6", ID_WORLD_V6.to_string()),
            ("MOAT_ID_FIRST_POD", ID_FIRST_POD.to_string()),
            ("MOAT_ACTION_ALLOW", ACTION_ALLOW.to_string()),
            ("MOAT_ACTION_DENY", ACTION_DENY.to_string()),
        ];
        for (name, value) in expected {
            let line = format!("#define {name} {value}");
            assert!(header.contains(&line), "header lacks `{line}`");
        }
    }

    #[test]
    fn addr_roundtrip() {
        for ip in ["10.0.0.1", "fd00::1"] {
            let ip: IpAddr = ip.parse().unwrap();
            let (addr, family) = encode_addr(ip);
            assert_eq!(decode_addr(addr, family), Some(ip));
        }
    }
}
