//! `#[repr(C)]` mirrors of the datapath state in `ebpf/include/datapath.h`.
//!
//! The tests at the end check every size and field offset against the C
//! layout, so the two never drift apart silently.

use std::net::Ipv4Addr;

use serde::Serialize;

/// Map names, as `datapath.h` and `moat_maps.h` define them.
pub mod names {
    pub const ACTIVE: &str = "moat_active";
    pub const CT: &str = "moat_ct";
    pub const LINKS: &str = "moat_links";
    pub const EVENTS: &str = "moat_events";
    pub const EVENT_STATS: &str = "moat_event_stats";
    pub const EP_STATS: &str = "moat_ep_stats";
    pub const RULE_STATS: &str = "moat_rule_stats";
    pub const DROP_STATS: &str = "moat_drop_stats";
    pub const ENDPOINTS: &str = "moat_endpoints";
    pub const IPCACHE: &str = "moat_ipcache";
    pub const POLICY: &str = "moat_policy";
    pub const SERVICES: &str = "moat_services";
    pub const BACKENDS: &str = "moat_backends";
    pub const MAGLEV: &str = "moat_maglev";
    pub const REVNAT: &str = "moat_revnat";
}

/// Capacities of the image tables per slot (`MOAT_CAP_*`).
pub mod capacity {
    pub const ENDPOINTS: u32 = 16384;
    pub const IPCACHE: u32 = 65536;
    pub const POLICY: u32 = 262_144;
    pub const SERVICES: u32 = 16384;
    pub const BACKENDS: u32 = 65536;
    pub const MAGLEV: u32 = 4_194_304;
    pub const REVNAT: u32 = 16384;
    pub const CT: u32 = 262_144;
    pub const LINKS: u32 = 16384;
    pub const RULE_COUNTERS: u32 = 65536;
    pub const DROP_REASONS: u32 = 32;
}

pub const VERDICT_FORWARDED: u8 = 1;
pub const VERDICT_DROPPED: u8 = 2;
pub const HOOK_FROM_POD: u8 = 1;
pub const HOOK_TO_POD: u8 = 2;
pub const SERVICE_NONE: u32 = 0xffff_ffff;
pub const RULE_NONE: u32 = 0xffff_ffff;

pub const CT_F_SERVICE: u8 = 1 << 0;
pub const CT_SEEN_REPLY: u8 = 1 << 0;
pub const CT_FIN_ORIG: u8 = 1 << 1;
pub const CT_FIN_REPLY: u8 = 1 << 2;
pub const CT_RST: u8 = 1 << 3;
pub const CT_SYN: u8 = 1 << 4;

pub const LINK_F_MAC: u32 = 1 << 0;
pub const LINK_F_HOST: u32 = 1 << 1;

/// `MOAT_HAIRPIN_ADDR`: source of a pod's packets to itself through a ClusterIP.
pub const HAIRPIN_ADDR: Ipv4Addr = Ipv4Addr::new(169, 254, 0, 1);

pub const EVENT_F_NEW: u8 = 1 << 0;
pub const EVENT_F_REJUDGED: u8 = 1 << 1;
pub const EVENT_F_REPLY: u8 = 1 << 2;
pub const EVENT_F_SERVICE: u8 = 1 << 3;

/// Drop reasons of `enum moat_drop_reason`: value and name, index = -value.
pub const DROP_REASONS: &[(i32, &str)] = &[
    (0, "none"),
    (-1, "policy-egress"),
    (-2, "policy-ingress"),
    (-3, "malformed"),
    (-4, "no-backend"),
    (-5, "no-image"),
    (-6, "ipv6"),
    (-7, "fragment"),
    (-8, "nat-failed"),
    (-9, "sctp-port-nat"),
    (-10, "spoofed-source"),
    (-11, "redirect-failed"),
    (-12, "image-incomplete"),
    (-13, "ct-failed"),
    (-14, "icmp-unrelated"),
];

/// Returns the name of a drop reason, or `unknown` for a value this build lacks.
pub fn drop_reason_name(reason: i32) -> &'static str {
    DROP_REASONS
        .iter()
        .find(|(value, _)| *value == reason)
        .map_or("unknown", |(_, name)| name)
}

/// `struct moat_active`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Active {
    pub slot: u32,
    pub generation: u32,
    pub image_generation: u64,
    pub image_hash: [u8; 32],
}

/// `struct moat_ct_key`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CtKey {
    pub saddr: [u8; 4],
    pub daddr: [u8; 4],
    pub sport: [u8; 2],
    pub dport: [u8; 2],
    pub protocol: u8,
    pub flags: u8,
    pub pad: u16,
}

/// `struct moat_ct_entry`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CtEntry {
    pub expires_ns: u64,
    pub last_event_ns: u64,
    pub packets: u64,
    pub bytes: u64,
    pub generation: u32,
    pub rule_id: u32,
    pub src_identity: u32,
    pub dst_identity: u32,
    pub nat_addr: [u8; 4],
    pub nat_port: [u8; 2],
    pub verdict: u8,
    pub state: u8,
    pub drop_reason: i32,
    pub service_id: u32,
}

/// `struct moat_link`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Link {
    pub ifindex: u32,
    pub flags: u32,
    pub pod_mac: [u8; 6],
    pub host_mac: [u8; 6],
}

/// `struct moat_flow_event`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowEvent {
    pub timestamp_ns: u64,
    pub saddr: [u8; 4],
    pub daddr: [u8; 4],
    pub sport: [u8; 2],
    pub dport: [u8; 2],
    pub protocol: u8,
    pub verdict: u8,
    pub hook: u8,
    pub flags: u8,
    pub drop_reason: i32,
    pub src_identity: u32,
    pub dst_identity: u32,
    pub rule_id: u32,
    pub generation: u32,
    pub ifindex: u32,
    pub service_addr: [u8; 4],
    pub service_port: [u8; 2],
    pub pad: u16,
}

/// `struct moat_ep_counters`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EndpointCounters {
    pub forwarded_packets: u64,
    pub forwarded_bytes: u64,
    pub dropped_packets: u64,
    pub dropped_bytes: u64,
}

/// `struct moat_counter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counter {
    pub packets: u64,
    pub bytes: u64,
}

// SAFETY: each type is `#[repr(C)]`, made of integers and byte arrays
// only, with no padding (checked by the tests below), so every bit
// pattern is a valid value.
unsafe impl aya::Pod for Active {}
// SAFETY: as above.
unsafe impl aya::Pod for CtKey {}
// SAFETY: as above.
unsafe impl aya::Pod for CtEntry {}
// SAFETY: as above.
unsafe impl aya::Pod for Link {}
// SAFETY: as above.
unsafe impl aya::Pod for FlowEvent {}
// SAFETY: as above.
unsafe impl aya::Pod for EndpointCounters {}
// SAFETY: as above.
unsafe impl aya::Pod for Counter {}

/// Computes the flow hash that indexes Maglev tables, exactly as
/// `flow_hash()` in `ebpf/lib/lb.h` does: the Linux kernel's
/// `jhash_3words(a, b, c, initval)` with a = source address, b =
/// destination address, c = source port << 16 | destination port (all in
/// host byte order) and initval = protocol.
pub fn flow_hash(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), protocol: u8) -> u32 {
    let init = 0xdead_beef_u32
        .wrapping_add(3 << 2)
        .wrapping_add(u32::from(protocol));
    let mut a = u32::from(src.0).wrapping_add(init);
    let mut b = u32::from(dst.0).wrapping_add(init);
    let mut c = ((u32::from(src.1) << 16) | u32::from(dst.1)).wrapping_add(init);

    c ^= b;
    c = c.wrapping_sub(b.rotate_left(14));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(11));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(25));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(16));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(4));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(14));
    c ^= b;
    c.wrapping_sub(b.rotate_left(24))
}

/// Returns the bytes of a plain value, as the kernel stores it.
pub fn bytes_of<T: aya::Pod>(value: &T) -> &[u8] {
    // SAFETY: `T: Pod` has no padding and no invalid bit patterns, and the
    // slice borrows `value` for its whole size.
    unsafe { std::slice::from_raw_parts(std::ptr::from_ref(value).cast::<u8>(), size_of::<T>()) }
}

/// Reads a plain value from the start of `bytes`; `None` when too short.
pub fn read_pod<T: aya::Pod>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < size_of::<T>() {
        return None;
    }
    // SAFETY: the length is checked above, the read is unaligned, and
    // every bit pattern is a valid `T`.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

impl FlowEvent {
    /// Decodes an event from the ring buffer; `None` when the record is too short.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        read_pod(bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    #[test]
    fn active_layout() {
        assert_eq!(size_of::<Active>(), 48);
        assert_eq!(offset_of!(Active, generation), 4);
        assert_eq!(offset_of!(Active, image_generation), 8);
        assert_eq!(offset_of!(Active, image_hash), 16);
    }

    #[test]
    fn ct_layout() {
        assert_eq!(size_of::<CtKey>(), 16);
        assert_eq!(offset_of!(CtKey, sport), 8);
        assert_eq!(offset_of!(CtKey, protocol), 12);
        assert_eq!(offset_of!(CtKey, flags), 13);
        assert_eq!(size_of::<CtEntry>(), 64);
        assert_eq!(offset_of!(CtEntry, generation), 32);
        assert_eq!(offset_of!(CtEntry, rule_id), 36);
        assert_eq!(offset_of!(CtEntry, src_identity), 40);
        assert_eq!(offset_of!(CtEntry, dst_identity), 44);
        assert_eq!(offset_of!(CtEntry, nat_addr), 48);
        assert_eq!(offset_of!(CtEntry, nat_port), 52);
        assert_eq!(offset_of!(CtEntry, verdict), 54);
        assert_eq!(offset_of!(CtEntry, state), 55);
        assert_eq!(offset_of!(CtEntry, drop_reason), 56);
        assert_eq!(offset_of!(CtEntry, service_id), 60);
    }

    #[test]
    fn link_layout() {
        assert_eq!(size_of::<Link>(), 20);
        assert_eq!(offset_of!(Link, pod_mac), 8);
        assert_eq!(offset_of!(Link, host_mac), 14);
    }

    #[test]
    fn event_layout() {
        assert_eq!(size_of::<FlowEvent>(), 56);
        assert_eq!(offset_of!(FlowEvent, saddr), 8);
        assert_eq!(offset_of!(FlowEvent, sport), 16);
        assert_eq!(offset_of!(FlowEvent, protocol), 20);
        assert_eq!(offset_of!(FlowEvent, flags), 23);
        assert_eq!(offset_of!(FlowEvent, drop_reason), 24);
        assert_eq!(offset_of!(FlowEvent, rule_id), 36);
        assert_eq!(offset_of!(FlowEvent, generation), 40);
        assert_eq!(offset_of!(FlowEvent, ifindex), 44);
        assert_eq!(offset_of!(FlowEvent, service_addr), 48);
        assert_eq!(offset_of!(FlowEvent, service_port), 52);
    }

    #[test]
    fn counter_layout() {
        assert_eq!(size_of::<EndpointCounters>(), 32);
        assert_eq!(size_of::<Counter>(), 16);
    }

    #[test]
    fn drop_reason_names() {
        assert_eq!(drop_reason_name(-1), "policy-egress");
        assert_eq!(drop_reason_name(-13), "ct-failed");
        assert_eq!(drop_reason_name(-99), "unknown");
    }
}
