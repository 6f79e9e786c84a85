//! Swaps a compiled image into the datapath as a whole.
//!
//! Every image table is an ARRAY_OF_MAPS with two slots. A load checks the
//! image against the map capacities, fills fresh inner maps, installs them
//! in the slot that is not active, and then publishes that slot with one
//! update of the `moat_active` entry. Packets read the active entry once,
//! so each packet sees either the old or the new image. Any failure before
//! the publishing update leaves the old image active and untouched.

use std::os::fd::AsFd;
use std::path::Path;

use aya::maps::MapData;
use moat_compiler::image::Image;
use serde::Serialize;
use zerocopy::IntoBytes;

use crate::datapath::open_map;
use crate::error::LoaderError;
use crate::layout::{self, Active, Link, capacity, names};
use crate::sys;

const BPF_MAP_TYPE_HASH: u32 = 1;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_MAP_TYPE_LPM_TRIE: u32 = 11;
const BPF_F_NO_PREALLOC: u32 = 1;
const BPF_F_INNER_MAP: u32 = 1 << 12;

/// One image table as raw records in the layouts of `moat_maps.h`.
#[derive(Debug, Clone)]
pub struct Table {
    pub map: &'static str,
    map_type: u32,
    flags: u32,
    key_size: usize,
    value_size: usize,
    pub capacity: u32,
    pub records: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Table {
    fn new(map: &'static str, map_type: u32, capacity: u32, sizes: (usize, usize)) -> Self {
        let flags = match map_type {
            BPF_MAP_TYPE_LPM_TRIE => BPF_F_NO_PREALLOC,
            BPF_MAP_TYPE_ARRAY => BPF_F_INNER_MAP,
            _ => 0,
        };
        Self {
            map,
            map_type,
            flags,
            key_size: sizes.0,
            value_size: sizes.1,
            capacity,
            records: Vec::new(),
        }
    }

    fn keyed<K: IntoBytes + zerocopy::Immutable, V: IntoBytes + zerocopy::Immutable>(
        mut self,
        records: &[(K, V)],
    ) -> Self {
        self.records = records
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        self
    }

    fn indexed<V: IntoBytes + zerocopy::Immutable>(mut self, values: &[V]) -> Self {
        self.records = values
            .iter()
            .enumerate()
            .map(|(i, v)| ((i as u32).to_ne_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect();
        self
    }
}

/// Result of a successful load: the new generation, slot and table fill.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Swap counter of the datapath after this load.
    pub generation: u32,
    pub slot: u32,
    pub image_generation: u64,
    pub image_hash: String,
    pub tables: Vec<TableFill>,
}

/// Records of one table against its capacity.
#[derive(Debug, Clone, Serialize)]
pub struct TableFill {
    pub map: String,
    pub records: usize,
    pub capacity: u32,
}

/// Splits an image into its tables, with the endpoints' host-side veth
/// indexes filled from the links map.
pub fn image_tables(image: &Image, links: &dyn Fn([u8; 4]) -> Option<Link>) -> Vec<Table> {
    use moat_compiler::layout as l;
    use std::mem::size_of;

    let mut endpoints = image.endpoints.clone();
    for (key, value) in &mut endpoints {
        let [a, b, c, d, ..] = key.addr;
        if key.family == l::FAMILY_V4 {
            value.ifindex = links([a, b, c, d]).map_or(0, |link| link.ifindex);
        }
    }
    vec![
        Table::new(
            names::ENDPOINTS,
            BPF_MAP_TYPE_HASH,
            capacity::ENDPOINTS,
            (size_of::<l::EndpointKey>(), size_of::<l::EndpointValue>()),
        )
        .keyed(&endpoints),
        Table::new(
            names::IPCACHE,
            BPF_MAP_TYPE_LPM_TRIE,
            capacity::IPCACHE,
            (size_of::<l::IpcacheKey>(), size_of::<l::IpcacheValue>()),
        )
        .keyed(&image.ipcache),
        Table::new(
            names::POLICY,
            BPF_MAP_TYPE_LPM_TRIE,
            capacity::POLICY,
            (size_of::<l::PolicyKey>(), size_of::<l::PolicyValue>()),
        )
        .keyed(&image.policy),
        Table::new(
            names::SERVICES,
            BPF_MAP_TYPE_HASH,
            capacity::SERVICES,
            (size_of::<l::ServiceKey>(), size_of::<l::ServiceValue>()),
        )
        .keyed(&image.services),
        Table::new(
            names::BACKENDS,
            BPF_MAP_TYPE_ARRAY,
            capacity::BACKENDS,
            (4, size_of::<l::BackendValue>()),
        )
        .indexed(&image.backends),
        Table::new(
            names::MAGLEV,
            BPF_MAP_TYPE_ARRAY,
            capacity::MAGLEV,
            (4, size_of::<l::MaglevValue>()),
        )
        .indexed(&image.maglev),
        Table::new(
            names::REVNAT,
            BPF_MAP_TYPE_HASH,
            capacity::REVNAT,
            (4, size_of::<l::RevnatValue>()),
        )
        .keyed(&image.revnat),
    ]
}

/// Checks every table against its map before anything changes.
pub fn check_tables(tables: &[Table]) -> Result<(), LoaderError> {
    for table in tables {
        if table.records.len() > table.capacity as usize {
            return Err(LoaderError::Capacity {
                map: table.map,
                records: table.records.len(),
                capacity: table.capacity,
            });
        }
        let bad = table
            .records
            .iter()
            .any(|(k, v)| k.len() != table.key_size || v.len() != table.value_size);
        if bad {
            return Err(LoaderError::InvalidImage {
                message: format!("a record of `{}` does not match the map layout", table.map),
            });
        }
    }
    Ok(())
}

/// Checks that service frontends point inside the backend and Maglev tables.
pub fn check_references(image: &Image) -> Result<(), LoaderError> {
    let backends = image.backends.len() as u64;
    let maglev = image.maglev.len() as u64;
    for (_, svc) in &image.services {
        let backend_end = u64::from(svc.backend_offset) + u64::from(svc.backend_count);
        let maglev_end = u64::from(svc.maglev_offset) + u64::from(svc.maglev_size);
        if backend_end > backends || maglev_end > maglev {
            return Err(LoaderError::InvalidImage {
                message: format!(
                    "service {} refers to backends or Maglev slots beyond the tables",
                    svc.service_id
                ),
            });
        }
    }
    if let Some(slot) = image
        .maglev
        .iter()
        .find(|m| u64::from(m.backend) >= backends)
    {
        return Err(LoaderError::InvalidImage {
            message: format!("a Maglev slot names backend {} of {backends}", slot.backend),
        });
    }
    Ok(())
}

/// Fills fresh inner maps with `tables` and publishes them as the active image.
pub fn swap_in(pin_dir: &Path, tables: &[Table], image: &Image) -> Result<LoadReport, LoaderError> {
    check_tables(tables)?;
    let active_map = open_map(pin_dir, names::ACTIVE)?;
    let current = read_active(&active_map)?;
    let slot = if current.generation == 0 {
        0
    } else {
        1 - (current.slot & 1)
    };

    // Fill everything first; dropping `inner` on an error frees the maps.
    let mut inner = Vec::with_capacity(tables.len());
    for table in tables {
        inner.push(fill_inner(table)?);
    }
    for (table, map) in tables.iter().zip(&inner) {
        let outer = open_map(pin_dir, table.map)?;
        let fd = map.fd().as_fd();
        let raw = std::os::fd::AsRawFd::as_raw_fd(&fd) as u32;
        sys::map_update(
            outer.fd().as_fd(),
            &slot.to_ne_bytes(),
            &raw.to_ne_bytes(),
            0,
        )
        .map_err(|source| LoaderError::Map {
            operation: "install inner map in",
            map: table.map.to_owned(),
            source,
        })?;
    }

    let next = Active {
        slot,
        generation: current.generation.wrapping_add(1).max(1),
        image_generation: image.header.generation,
        image_hash: image.header.content_hash,
    };
    sys::map_update(
        active_map.fd().as_fd(),
        &0u32.to_ne_bytes(),
        layout::bytes_of(&next),
        0,
    )
    .map_err(|source| LoaderError::Map {
        operation: "publish the new slot in",
        map: names::ACTIVE.to_owned(),
        source,
    })?;

    Ok(LoadReport {
        generation: next.generation,
        slot,
        image_generation: next.image_generation,
        image_hash: moat_compiler::image::format::to_hex(&next.image_hash),
        tables: tables
            .iter()
            .map(|t| TableFill {
                map: t.map.to_owned(),
                records: t.records.len(),
                capacity: t.capacity,
            })
            .collect(),
    })
}

/// Reads the active entry; a datapath without image reads as generation 0.
pub fn read_active(map: &MapData) -> Result<Active, LoaderError> {
    let mut value = vec![0u8; std::mem::size_of::<Active>()];
    let found =
        sys::map_lookup(map.fd().as_fd(), &0u32.to_ne_bytes(), &mut value).map_err(|source| {
            LoaderError::Map {
                operation: "read",
                map: names::ACTIVE.to_owned(),
                source,
            }
        })?;
    if !found {
        return Ok(Active::default());
    }
    Ok(layout::read_pod(&value).unwrap_or_default())
}

fn fill_inner(table: &Table) -> Result<MapData, LoaderError> {
    // Arrays hold exactly the image's records (at least one, as the kernel
    // rejects empty maps); the other maps get their full capacity.
    let max_entries = if table.map_type == BPF_MAP_TYPE_ARRAY {
        (table.records.len() as u32).max(1)
    } else {
        table.capacity
    };
    let def = aya_obj::Map::new_from_params(
        table.map_type,
        table.key_size as u32,
        table.value_size as u32,
        max_entries,
        table.flags,
    );
    let map = MapData::create(def, table.map, None)
        .map_err(|e| crate::error::map_error("create inner map of", table.map, e))?;
    for (key, value) in &table.records {
        sys::map_update(map.fd().as_fd(), key, value, 0).map_err(|source| LoaderError::Map {
            operation: "fill inner map of",
            map: table.map.to_owned(),
            source,
        })?;
    }
    Ok(map)
}

impl crate::Datapath {
    /// Swaps `image` in as a whole (see the module documentation). On an
    /// error the previous image keeps enforcing.
    pub fn load_image(&self, image: &Image) -> Result<LoadReport, LoaderError> {
        check_references(image)?;
        let links = self.map(names::LINKS)?;
        let lookup = |addr: [u8; 4]| {
            let mut value = vec![0u8; std::mem::size_of::<Link>()];
            match sys::map_lookup(links.fd().as_fd(), &addr, &mut value) {
                Ok(true) => layout::read_pod::<Link>(&value),
                _ => None,
            }
        };
        let tables = image_tables(image, &lookup);
        swap_in(self.pin_dir(), &tables, image)
    }
}
