//! Cross-reference checks of a decoded image: every id and index points at
//! something the image holds, and no map has a key twice.

use std::collections::HashSet;
use std::hash::Hash;

use crate::image::decode::{DecodeError, identity_ids};
use crate::image::format::Image;
use crate::layout::{
    ACTION_ALLOW, ACTION_DENY, ID_ANY, ID_HOST, POLICY_PREFIX_ALL, POLICY_PREFIX_PORT_START,
    RULE_NONE, family_bits,
};

/// Checks every reference between maps and into the provenance.
pub fn references(image: &Image) -> Result<(), DecodeError> {
    unique("endpoints", image.endpoints.iter().map(|(k, _)| k))?;
    unique("ipcache", image.ipcache.iter().map(|(k, _)| k))?;
    unique("policy", image.policy.iter().map(|(k, _)| k))?;
    unique("services", image.services.iter().map(|(k, _)| k))?;
    unique("revnat", image.revnat.iter().map(|(k, _)| k))?;
    let identities = identity_ids(image);
    let tables = policy(image, &identities)?;
    endpoints(image, &identities, &tables)?;
    ipcache(image, &identities)?;
    services(image)?;
    Ok(())
}

/// Rejects a key that appears twice: the kernel would keep only one of them.
fn unique<'a, K: Eq + Hash + 'a>(
    map: &'static str,
    keys: impl Iterator<Item = &'a K>,
) -> Result<(), DecodeError> {
    let mut seen = HashSet::new();
    for (index, key) in keys.enumerate() {
        if !seen.insert(key) {
            return Err(entry(map, index, "duplicate key".to_string()));
        }
    }
    Ok(())
}

fn entry(map: &'static str, index: usize, message: String) -> DecodeError {
    DecodeError::Entry {
        map,
        index,
        message,
    }
}

/// Checks policy entries; returns the ids of tables that have a default entry.
fn policy(image: &Image, identities: &HashSet<u32>) -> Result<HashSet<u32>, DecodeError> {
    let mut tables = HashSet::new();
    let rules = image.provenance.rules.len();
    for (index, (key, value)) in image.policy.iter().enumerate() {
        let valid_prefix = key.prefixlen == POLICY_PREFIX_ALL
            || (POLICY_PREFIX_PORT_START..=POLICY_PREFIX_PORT_START + 16).contains(&key.prefixlen);
        if !valid_prefix {
            return Err(entry(
                "policy",
                index,
                format!("prefix length {} out of range", key.prefixlen),
            ));
        }
        if key.identity != ID_ANY && !identities.contains(&key.identity) {
            return Err(entry(
                "policy",
                index,
                format!("unknown identity {}", key.identity),
            ));
        }
        if value.action != ACTION_ALLOW && value.action != ACTION_DENY {
            return Err(entry(
                "policy",
                index,
                format!("unknown action {}", value.action),
            ));
        }
        if value.rule_id != RULE_NONE && value.rule_id as usize >= rules {
            let message = format!("rule id {} out of range ({rules} rules)", value.rule_id);
            return Err(entry("policy", index, message));
        }
        if key.identity == ID_ANY && key.prefixlen == POLICY_PREFIX_ALL {
            tables.insert(key.table_id);
        }
    }
    Ok(tables)
}

fn endpoints(
    image: &Image,
    identities: &HashSet<u32>,
    tables: &HashSet<u32>,
) -> Result<(), DecodeError> {
    let names = image.provenance.endpoints.len();
    for (index, (key, value)) in image.endpoints.iter().enumerate() {
        if family_bits(key.family).is_none() {
            return Err(entry(
                "endpoints",
                index,
                format!("unknown family {}", key.family),
            ));
        }
        if value.endpoint_id as usize >= names {
            let message = format!(
                "endpoint id {} out of range ({names} names)",
                value.endpoint_id
            );
            return Err(entry("endpoints", index, message));
        }
        if !identities.contains(&value.identity) {
            return Err(entry(
                "endpoints",
                index,
                format!("unknown identity {}", value.identity),
            ));
        }
        for table in [value.ingress_table, value.egress_table] {
            if !tables.contains(&table) {
                return Err(entry(
                    "endpoints",
                    index,
                    format!("policy table {table} has no default entry"),
                ));
            }
        }
    }
    Ok(())
}

fn ipcache(image: &Image, identities: &HashSet<u32>) -> Result<(), DecodeError> {
    for (index, (key, value)) in image.ipcache.iter().enumerate() {
        let Some(bits) = family_bits(key.family) else {
            return Err(entry(
                "ipcache",
                index,
                format!("unknown family {}", key.family),
            ));
        };
        if key.prefixlen < 32 || key.addr_prefix() > bits {
            return Err(entry(
                "ipcache",
                index,
                format!("prefix length {} out of range", key.prefixlen),
            ));
        }
        if value.identity != ID_HOST && !identities.contains(&value.identity) {
            return Err(entry(
                "ipcache",
                index,
                format!("unknown identity {}", value.identity),
            ));
        }
    }
    Ok(())
}

fn services(image: &Image) -> Result<(), DecodeError> {
    let revnat: HashSet<u32> = image.revnat.iter().map(|(id, _)| *id).collect();
    let backends = image.backends.len() as u64;
    let slots = image.maglev.len() as u64;
    for (index, (key, value)) in image.services.iter().enumerate() {
        if family_bits(key.family).is_none() {
            return Err(entry(
                "services",
                index,
                format!("unknown family {}", key.family),
            ));
        }
        let backend_end = u64::from(value.backend_offset) + u64::from(value.backend_count);
        if backend_end > backends {
            let message = format!(
                "backends {}..{backend_end} out of range ({backends} backends)",
                value.backend_offset
            );
            return Err(entry("services", index, message));
        }
        let slot_end = u64::from(value.maglev_offset) + u64::from(value.maglev_size);
        if slot_end > slots {
            let message = format!(
                "maglev slots {}..{slot_end} out of range ({slots} slots)",
                value.maglev_offset
            );
            return Err(entry("services", index, message));
        }
        if !revnat.contains(&value.service_id) {
            return Err(entry(
                "services",
                index,
                format!("service id {} has no revnat entry", value.service_id),
            ));
        }
        maglev_slots(
            image,
            index,
            value.maglev_offset,
            value.maglev_size,
            value.backend_offset,
            backend_end,
        )?;
    }
    for (index, backend) in image.backends.iter().enumerate() {
        if family_bits(backend.family).is_none() {
            return Err(entry(
                "backends",
                index,
                format!("unknown family {}", backend.family),
            ));
        }
    }
    Ok(())
}

/// Checks that every slot of a service points at one of that service's backends.
fn maglev_slots(
    image: &Image,
    service: usize,
    offset: u32,
    size: u32,
    first: u32,
    end: u64,
) -> Result<(), DecodeError> {
    let start = offset as usize;
    let slots = image
        .maglev
        .get(start..start + size as usize)
        .unwrap_or_default();
    for (i, slot) in slots.iter().enumerate() {
        if u64::from(slot.backend) < u64::from(first) || u64::from(slot.backend) >= end {
            let message = format!(
                "slot points at backend {}, outside backends {first}..{end} of service entry {service}",
                slot.backend
            );
            return Err(entry("maglev", start + i, message));
        }
    }
    Ok(())
}
