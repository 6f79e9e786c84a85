//! The in-memory image and the constants of its file format.
//!
//! File layout (all header integers little-endian):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `MOATIMG\0` |
//! | 8 | 4 | format version ([`FORMAT_VERSION`]) |
//! | 12 | 4 | layout version (`MOAT_LAYOUT_VERSION` of `moat_maps.h`) |
//! | 16 | 8 | generation number |
//! | 24 | 32 | content hash: SHA-256 of the whole file with this field zeroed |
//! | 56 | 32 | input digest: SHA-256 of the compiled cluster as JSON |
//! | 88 | 32 | compiler version, UTF-8, zero-padded |
//! | 120 | 4 | section count |
//! | 124 | 4 | flags: bit 0 set when records are little-endian |
//!
//! A section table of 32-byte entries follows (kind, record size, record
//! count, offset, length), then the section payloads. Map sections hold
//! fixed-size records in the layouts of `moat_maps.h` (key, then value); the
//! provenance section holds JSON.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::identity::IdentityInfo;
use crate::layout::{
    BackendValue, EndpointKey, EndpointValue, IpcacheKey, IpcacheValue, MaglevValue, PolicyKey,
    PolicyValue, RevnatValue, ServiceKey, ServiceValue,
};

pub const MAGIC: [u8; 8] = *b"MOATIMG\0";
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_LEN: usize = 128;
pub const SECTION_ENTRY_LEN: usize = 32;
pub const FLAG_LITTLE_ENDIAN: u32 = 1;
/// Byte range of the content hash inside the header.
pub const HASH_RANGE: std::ops::Range<usize> = 24..56;

/// Section kinds, in the order the encoder writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SectionKind {
    Endpoints = 1,
    Ipcache = 2,
    Policy = 3,
    Services = 4,
    Backends = 5,
    Maglev = 6,
    Revnat = 7,
    Provenance = 8,
}

impl SectionKind {
    pub const ALL: [SectionKind; 8] = [
        SectionKind::Endpoints,
        SectionKind::Ipcache,
        SectionKind::Policy,
        SectionKind::Services,
        SectionKind::Backends,
        SectionKind::Maglev,
        SectionKind::Revnat,
        SectionKind::Provenance,
    ];

    pub fn from_u32(value: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|k| *k as u32 == value)
    }

    /// The map name, as in `moat_maps.h` without the `moat_` prefix.
    pub fn name(self) -> &'static str {
        match self {
            SectionKind::Endpoints => "endpoints",
            SectionKind::Ipcache => "ipcache",
            SectionKind::Policy => "policy",
            SectionKind::Services => "services",
            SectionKind::Backends => "backends",
            SectionKind::Maglev => "maglev",
            SectionKind::Revnat => "revnat",
            SectionKind::Provenance => "provenance",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Size of one record (key plus value); 1 for the byte-stream provenance.
    pub fn record_size(self) -> usize {
        use std::mem::size_of;
        match self {
            SectionKind::Endpoints => size_of::<EndpointKey>() + size_of::<EndpointValue>(),
            SectionKind::Ipcache => size_of::<IpcacheKey>() + size_of::<IpcacheValue>(),
            SectionKind::Policy => size_of::<PolicyKey>() + size_of::<PolicyValue>(),
            SectionKind::Services => size_of::<ServiceKey>() + size_of::<ServiceValue>(),
            SectionKind::Backends => size_of::<BackendValue>(),
            SectionKind::Maglev => size_of::<MaglevValue>(),
            SectionKind::Revnat => size_of::<u32>() + size_of::<RevnatValue>(),
            SectionKind::Provenance => 1,
        }
    }
}

/// Header fields other than the section table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Header {
    pub format_version: u32,
    pub layout_version: u32,
    pub generation: u64,
    /// Filled by the encoder and checked by the decoder.
    #[serde(serialize_with = "hex")]
    pub content_hash: [u8; 32],
    #[serde(serialize_with = "hex")]
    pub input_digest: [u8; 32],
    pub compiler_version: String,
}

/// A compiled image: every map's records plus provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    pub header: Header,
    pub endpoints: Vec<(EndpointKey, EndpointValue)>,
    pub ipcache: Vec<(IpcacheKey, IpcacheValue)>,
    pub policy: Vec<(PolicyKey, PolicyValue)>,
    pub services: Vec<(ServiceKey, ServiceValue)>,
    /// Indexed by backend index.
    pub backends: Vec<BackendValue>,
    /// Indexed by maglev slot.
    pub maglev: Vec<MaglevValue>,
    pub revnat: Vec<(u32, RevnatValue)>,
    pub provenance: Provenance,
}

/// Names behind the numbers of the maps; stays in the image file only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The node the image was compiled for; `None` for every node.
    pub node: Option<String>,
    /// Indexed by the `rule_id` of policy values.
    pub rules: Vec<RuleProvenance>,
    /// Indexed by `endpoint_id`: every pod of the cluster with an address.
    pub endpoints: Vec<EndpointName>,
    pub identities: Vec<IdentityInfo>,
    /// Indexed by position; `id` is the service id of the frontend.
    pub services: Vec<ServiceName>,
}

/// What decided a policy entry: one rule, or isolation without a matching rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleProvenance {
    /// `rule` or `isolation` (isolated, and no rule matched).
    pub kind: String,
    /// Index into the cluster's policies of the deciding (or first isolating) policy.
    pub policy: usize,
    pub policy_kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// Index into the policy's rules; `None` for `isolation`.
    pub rule: Option<usize>,
    /// Position of the rule within its direction's list in the manifest.
    pub rule_index: Option<usize>,
    pub direction: String,
    /// `allow`, `deny` or `pass`; `deny` for `isolation`.
    pub action: String,
    /// Every isolating policy, for `isolation`.
    pub isolating: Vec<usize>,
    /// `file:line` of the rule (or policy) in the manifests.
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointName {
    pub ip: IpAddr,
    pub namespace: String,
    pub pod: String,
    pub node: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceName {
    pub id: u32,
    pub namespace: String,
    pub name: String,
    pub port_name: Option<String>,
}

fn hex<S: serde::Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&to_hex(bytes))
}

pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
