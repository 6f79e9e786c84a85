//! Per-CPU counters of the datapath, summed over CPUs.

use std::os::fd::AsFd;
use std::path::Path;

use super::{dump, map_err};
use crate::datapath::open_map;
use crate::error::LoaderError;
use crate::layout::{self, Counter, EndpointCounters, capacity, names};
use crate::sys;

/// Sum of a per-CPU value over every possible CPU.
fn percpu_sum<T: aya::Pod + Default>(raw: &[u8], add: impl Fn(&mut T, &T)) -> T {
    let stride = size_of::<T>().next_multiple_of(8);
    let mut total = T::default();
    for chunk in raw.chunks(stride) {
        if let Some(v) = layout::read_pod::<T>(chunk) {
            add(&mut total, &v);
        }
    }
    total
}

fn possible_cpus() -> usize {
    aya::util::nr_cpus().unwrap_or(1)
}

fn percpu_dump<T: aya::Pod + Default>(
    pin_dir: &Path,
    name: &str,
    add: impl Fn(&mut T, &T) + Copy,
) -> Result<Vec<(u32, T)>, LoaderError> {
    let map = open_map(pin_dir, name)?;
    let stride = size_of::<T>().next_multiple_of(8);
    let rows = dump(&map, name, 4, stride * possible_cpus())?;
    Ok(rows
        .iter()
        .filter_map(|(k, v)| {
            let key = u32::from_ne_bytes(k.as_slice().try_into().ok()?);
            Some((key, percpu_sum(v, add)))
        })
        .collect())
}

fn add_counter(total: &mut Counter, v: &Counter) {
    total.packets += v.packets;
    total.bytes += v.bytes;
}

/// Packets and bytes per drop reason, by reason name.
pub fn drop_counters(pin_dir: &Path) -> Result<Vec<(&'static str, Counter)>, LoaderError> {
    let map = open_map(pin_dir, names::DROP_STATS)?;
    let stride = size_of::<Counter>();
    let mut out = Vec::new();
    for index in 0..capacity::DROP_REASONS {
        let mut raw = vec![0u8; stride * possible_cpus()];
        sys::map_lookup(map.fd().as_fd(), &index.to_ne_bytes(), &mut raw)
            .map_err(map_err("read", names::DROP_STATS))?;
        let total = percpu_sum(&raw, add_counter);
        if total.packets > 0 {
            out.push((layout::drop_reason_name(-(index as i32)), total));
        }
    }
    Ok(out)
}

/// Counters per rule id.
pub fn rule_counters(pin_dir: &Path) -> Result<Vec<(u32, Counter)>, LoaderError> {
    let mut rows = percpu_dump(pin_dir, names::RULE_STATS, add_counter)?;
    rows.sort_by_key(|(id, _)| *id);
    Ok(rows)
}

/// Counters per endpoint id.
pub fn endpoint_counters(pin_dir: &Path) -> Result<Vec<(u32, EndpointCounters)>, LoaderError> {
    let mut rows = percpu_dump(pin_dir, names::EP_STATS, |t: &mut EndpointCounters, v| {
        t.forwarded_packets += v.forwarded_packets;
        t.forwarded_bytes += v.forwarded_bytes;
        t.dropped_packets += v.dropped_packets;
        t.dropped_bytes += v.dropped_bytes;
    })?;
    rows.sort_by_key(|(id, _)| *id);
    Ok(rows)
}

/// Events sent to and lost by the ring buffer, summed over CPUs.
pub fn event_counters(pin_dir: &Path) -> Result<(u64, u64), LoaderError> {
    let map = open_map(pin_dir, names::EVENT_STATS)?;
    let mut totals = [0u64; 2];
    for (index, total) in (0u32..).zip(totals.iter_mut()) {
        let mut raw = vec![0u8; 8 * possible_cpus()];
        sys::map_lookup(map.fd().as_fd(), &index.to_ne_bytes(), &mut raw)
            .map_err(map_err("read", names::EVENT_STATS))?;
        *total = percpu_sum(&raw, |t: &mut u64, v| *t += v);
    }
    Ok((totals[0], totals[1]))
}
