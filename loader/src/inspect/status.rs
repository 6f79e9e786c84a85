//! `moat status`: active image, attachments, map fill, counters and kernel features.

use std::path::{Path, PathBuf};

use moat_compiler::layout::{
    EndpointKey, EndpointValue, MaglevValue, PolicyKey, PolicyValue, ServiceKey, ServiceValue,
};
use serde::Serialize;

use super::counters::{drop_counters, endpoint_counters, event_counters};
use super::{active, active_inner, ct, dump, links};
use crate::attach::{Attachment, list_attachments};
use crate::error::LoaderError;
use crate::layout::{capacity, names};
use crate::sys;

/// Fill of one map against its capacity.
#[derive(Debug, Clone, Serialize)]
pub struct MapFill {
    pub map: &'static str,
    pub entries: usize,
    pub capacity: u32,
}

/// Everything `moat status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub pin_dir: PathBuf,
    pub generation: u32,
    pub slot: u32,
    pub image_generation: u64,
    pub image_hash: String,
    pub attachments: Vec<Attachment>,
    pub maps: Vec<MapFill>,
    /// Packets forwarded, counted once per local endpoint they leave or enter.
    pub forwarded_packets: u64,
    pub dropped_packets: u64,
    pub drops: Vec<DropCount>,
    pub events_sent: u64,
    pub events_lost: u64,
    pub features: Vec<Feature>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DropCount {
    pub reason: &'static str,
    pub packets: u64,
    pub bytes: u64,
}

/// A kernel feature the datapath uses and whether it was found.
#[derive(Debug, Clone, Serialize)]
pub struct Feature {
    pub name: &'static str,
    pub available: bool,
}

/// Collects the status of the datapath pinned under `pin_dir`.
pub fn status(pin_dir: &Path) -> Result<Status, LoaderError> {
    let active = active(pin_dir)?;
    let mut maps = Vec::new();
    for (name, cap, key, value) in [
        (
            names::ENDPOINTS,
            capacity::ENDPOINTS,
            size_of::<EndpointKey>(),
            size_of::<EndpointValue>(),
        ),
        (
            names::IPCACHE,
            capacity::IPCACHE,
            size_of::<moat_compiler::layout::IpcacheKey>(),
            8,
        ),
        (
            names::POLICY,
            capacity::POLICY,
            size_of::<PolicyKey>(),
            size_of::<PolicyValue>(),
        ),
        (
            names::SERVICES,
            capacity::SERVICES,
            size_of::<ServiceKey>(),
            size_of::<ServiceValue>(),
        ),
        (
            names::REVNAT,
            capacity::REVNAT,
            4,
            size_of::<moat_compiler::layout::RevnatValue>(),
        ),
    ] {
        let entries = match active_inner(pin_dir, name, &active)? {
            Some(map) => dump(&map, name, key, value)?.len(),
            None => 0,
        };
        maps.push(MapFill {
            map: name,
            entries,
            capacity: cap,
        });
    }
    for (name, cap) in [
        (names::BACKENDS, capacity::BACKENDS),
        (names::MAGLEV, capacity::MAGLEV),
    ] {
        let entries = match active_inner(pin_dir, name, &active)? {
            Some(map) => map
                .info()
                .map_err(|e| crate::error::map_error("read info of", name, e))?
                .max_entries() as usize,
            None => 0,
        };
        maps.push(MapFill {
            map: name,
            entries,
            capacity: cap,
        });
    }
    let _ = size_of::<MaglevValue>();
    maps.push(MapFill {
        map: names::CT,
        entries: ct(pin_dir)?.len(),
        capacity: capacity::CT,
    });
    maps.push(MapFill {
        map: names::LINKS,
        entries: links(pin_dir)?.len(),
        capacity: capacity::LINKS,
    });

    let endpoints = endpoint_counters(pin_dir)?;
    let drops = drop_counters(pin_dir)?;
    let (events_sent, events_lost) = event_counters(pin_dir)?;
    Ok(Status {
        pin_dir: pin_dir.to_path_buf(),
        generation: active.generation,
        slot: active.slot,
        image_generation: active.image_generation,
        image_hash: moat_compiler::image::format::to_hex(&active.image_hash),
        attachments: list_attachments(pin_dir)?,
        maps,
        forwarded_packets: endpoints.iter().map(|(_, c)| c.forwarded_packets).sum(),
        dropped_packets: drops.iter().map(|(_, c)| c.packets).sum(),
        drops: drops
            .into_iter()
            .map(|(reason, c)| DropCount {
                reason,
                packets: c.packets,
                bytes: c.bytes,
            })
            .collect(),
        events_sent,
        events_lost,
        features: features(),
    })
}

/// Kernel features the datapath relies on: BTF and bpffs from their files,
/// the others from the kernel version that introduced them.
pub fn features() -> Vec<Feature> {
    let version = aya::util::KernelVersion::current().ok();
    let at_least =
        |major, minor| version.is_some_and(|v| v >= aya::util::KernelVersion::new(major, minor, 0));
    vec![
        Feature {
            name: "btf",
            available: Path::new("/sys/kernel/btf/vmlinux").exists(),
        },
        Feature {
            name: "bpffs",
            available: sys::is_bpffs(Path::new("/sys/fs/bpf")),
        },
        Feature {
            name: "tcx",
            available: at_least(6, 6),
        },
        Feature {
            name: "ringbuf",
            available: at_least(5, 8),
        },
        Feature {
            name: "bpf_redirect_peer",
            available: at_least(5, 10),
        },
        Feature {
            name: "bpf_redirect_neigh",
            available: at_least(5, 10),
        },
    ]
}
