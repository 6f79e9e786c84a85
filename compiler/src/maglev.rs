//! Maglev consistent hashing: the permutation-table algorithm of Eisenbud et
//! al., "Maglev: A Fast and Reliable Software Network Load Balancer" (NSDI 2016).
//!
//! Each backend gets a permutation of the `m` slots from two hashes of its
//! name (`offset`, `skip`); backends take turns claiming their next free
//! preferred slot until the table is full. With `m` prime every permutation
//! visits every slot, each backend ends up with `m / n` slots give or take
//! one, and removing a backend moves few slots of the others.

/// Smallest table size per backend for an even spread: every backend gets
/// about this many slots, so the imbalance stays within one percent.
pub const SLOTS_PER_BACKEND: u64 = 100;

/// Largest table size accepted from configuration (the largest prime below
/// 2^20), so that a mistyped size cannot exhaust memory while compiling.
pub const MAX_SIZE: u32 = 1_048_573;

/// Table sizes the default picks from. Sizes come from this coarse ladder,
/// not from the exact backend count, so that removing or adding one backend
/// keeps the size (and with it the slots of the other backends) unless the
/// count crosses a step.
const SIZE_LADDER: [u64; 5] = [1021, 4093, 16381, 65521, 262_139];

/// The default table size for `backends` backends: the smallest ladder prime
/// of at least `SLOTS_PER_BACKEND` slots per backend, or for very large
/// services the smallest prime above that.
pub fn default_size(backends: usize) -> u32 {
    let target = (backends as u64).saturating_mul(SLOTS_PER_BACKEND);
    let size = match SIZE_LADDER.iter().find(|&&step| step >= target) {
        Some(step) => *step,
        None => next_prime(target),
    };
    u32::try_from(size).unwrap_or(u32::MAX)
}

fn next_prime(from: u64) -> u64 {
    let mut candidate = from;
    while !is_prime(candidate) {
        candidate += 1;
    }
    candidate
}

pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    let mut divisor = 2u64;
    while divisor.saturating_mul(divisor) <= n {
        if n.is_multiple_of(divisor) {
            return false;
        }
        divisor += 1;
    }
    true
}

/// Fills a table of `size` slots (prime) with indices into `names`.
/// Returns an empty table when there are no backends or `size` is 0.
pub fn populate(names: &[String], size: u32) -> Vec<u32> {
    let m = u64::from(size);
    if names.is_empty() || m == 0 {
        return Vec::new();
    }
    let permutations: Vec<(u64, u64)> = names
        .iter()
        .map(|name| {
            let offset = fnv1a(name.as_bytes(), FNV_OFFSET) % m;
            let skip = fnv1a(name.as_bytes(), SECOND_BASIS) % m.saturating_sub(1).max(1) + 1;
            (offset, skip)
        })
        .collect();
    let mut next = vec![0u64; names.len()];
    let mut table: Vec<Option<u32>> = vec![None; usize::try_from(m).unwrap_or(0)];
    let mut filled = 0usize;
    while filled < table.len() {
        for (backend, &(offset, skip)) in permutations.iter().enumerate() {
            if filled >= table.len() {
                break;
            }
            let Some(turn) = next.get_mut(backend) else {
                continue;
            };
            filled += claim(&mut table, offset, skip, turn, m, backend);
        }
    }
    table.into_iter().map(Option::unwrap_or_default).collect()
}

/// Claims the backend's next free preferred slot; returns 1 when one was claimed.
fn claim(
    table: &mut [Option<u32>],
    offset: u64,
    skip: u64,
    turn: &mut u64,
    m: u64,
    backend: usize,
) -> usize {
    while *turn < m {
        let slot = (offset + *turn * skip) % m;
        *turn += 1;
        let Some(cell) = usize::try_from(slot).ok().and_then(|s| table.get_mut(s)) else {
            continue;
        };
        if cell.is_none() {
            *cell = u32::try_from(backend).ok();
            return 1;
        }
    }
    0
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// A second basis makes the skip hash independent of the offset hash.
const SECOND_BASIS: u64 = 0x84222325_cbf29ce4;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(bytes: &[u8], basis: u64) -> u64 {
    let mut hash = basis;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    // Finalise with a mix so that names differing in the last byte spread out.
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^ (hash >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.244.0.{i}:8080")).collect()
    }

    #[test]
    fn default_size_is_prime() {
        assert_eq!(default_size(1), 1021);
        assert_eq!(default_size(3), 1021);
        assert_eq!(default_size(11), 4093);
        assert!(is_prime(u64::from(default_size(5000))));
        assert!(SIZE_LADDER.iter().all(|&s| is_prime(s)));
        assert!(is_prime(u64::from(MAX_SIZE)));
    }

    #[test]
    fn spread_is_even() {
        for n in [2usize, 3, 10, 37] {
            let size = default_size(n);
            let table = populate(&names(n), size);
            assert_eq!(table.len(), size as usize);
            let mut counts = vec![0usize; n];
            for &b in &table {
                counts[b as usize] += 1;
            }
            let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
            assert!(max - min <= 1, "{n} backends: min {min} max {max}");
        }
    }

    #[test]
    fn removal_disrupts_little() {
        let before_names = names(10);
        let size = default_size(10);
        let before = populate(&before_names, size);
        let mut after_names = before_names.clone();
        after_names.remove(4);
        let after = populate(&after_names, size);
        let mut moved = 0;
        for (old, new) in before.iter().zip(&after) {
            let old_name = &before_names[*old as usize];
            let new_name = &after_names[*new as usize];
            if *old != 4 && old_name != new_name {
                moved += 1;
            }
        }
        // Slots of surviving backends that changed owner: Maglev keeps this small.
        let survivors = before.iter().filter(|&&b| b != 4).count();
        assert!(moved * 10 < survivors, "{moved} of {survivors} slots moved");
    }
}
