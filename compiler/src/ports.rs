//! Port atoms and the split of port ranges into LPM prefixes.
//!
//! Every port boundary that some rule of a table mentions cuts the port space
//! of a protocol into atoms; ports inside one atom are indistinguishable to
//! those rules, so the compiler evaluates one port per atom. The policy map
//! then stores maximal runs of equal verdicts as aligned prefixes.

use std::collections::BTreeSet;

/// Boundaries that cut `0..=65535` into atoms; always contains 0.
#[derive(Debug, Clone)]
pub struct Cuts {
    starts: BTreeSet<u32>,
}

impl Default for Cuts {
    fn default() -> Self {
        Self {
            starts: BTreeSet::from([0]),
        }
    }
}

impl Cuts {
    /// Adds the boundaries of the inclusive range `start..=end`.
    pub fn add_range(&mut self, start: u16, end: u16) {
        self.starts.insert(u32::from(start));
        let after = u32::from(end) + 1;
        if after <= u32::from(u16::MAX) {
            self.starts.insert(after);
        }
    }

    /// The atoms as inclusive ranges, in ascending order.
    pub fn atoms(&self) -> Vec<(u16, u16)> {
        let starts: Vec<u32> = self.starts.iter().copied().collect();
        let ends = starts
            .iter()
            .skip(1)
            .map(|s| s - 1)
            .chain([u32::from(u16::MAX)]);
        starts
            .iter()
            .zip(ends)
            .filter_map(|(&s, e)| Some((u16::try_from(s).ok()?, u16::try_from(e).ok()?)))
            .collect()
    }
}

/// Splits the inclusive range `start..=end` into aligned prefixes `(port, bits)`,
/// where `bits` is the number of leading port bits the prefix fixes (0..=16).
pub fn range_to_prefixes(start: u16, end: u16) -> Vec<(u16, u8)> {
    let mut prefixes = Vec::new();
    let mut low = u32::from(start);
    let high = u32::from(end);
    while low <= high {
        let mut size_bits = if low == 0 {
            16
        } else {
            low.trailing_zeros().min(16)
        };
        while size_bits > 0 && low + (1u32 << size_bits) - 1 > high {
            size_bits -= 1;
        }
        let Ok(port) = u16::try_from(low) else {
            break;
        };
        let bits = 16 - u8::try_from(size_bits).unwrap_or(16);
        prefixes.push((port, bits));
        low += 1u32 << size_bits;
    }
    prefixes
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn covered(prefixes: &[(u16, u8)]) -> Vec<u32> {
        let mut ports = Vec::new();
        for &(port, bits) in prefixes {
            let size = 1u32 << (16 - u32::from(bits));
            assert_eq!(
                u32::from(port) % size,
                0,
                "prefix {port}/{bits} is not aligned"
            );
            ports.extend(u32::from(port)..u32::from(port) + size);
        }
        ports
    }

    #[test]
    fn full_range_is_one_prefix() {
        assert_eq!(range_to_prefixes(0, 65535), vec![(0, 0)]);
    }

    #[test]
    fn single_port_is_one_prefix() {
        assert_eq!(range_to_prefixes(80, 80), vec![(80, 16)]);
    }

    #[test]
    fn worst_range_costs_thirty() {
        assert_eq!(range_to_prefixes(1, 65534).len(), 30);
    }

    #[test]
    fn atoms_cover_port_space() {
        let mut cuts = Cuts::default();
        cuts.add_range(80, 81);
        cuts.add_range(65535, 65535);
        assert_eq!(
            cuts.atoms(),
            vec![(0, 79), (80, 81), (82, 65534), (65535, 65535)]
        );
    }

    proptest! {
        #[test]
        fn prefixes_cover_range_exactly(a in any::<u16>(), b in any::<u16>()) {
            let (start, end) = (a.min(b), a.max(b));
            let ports = covered(&range_to_prefixes(start, end));
            let expected: Vec<u32> = (u32::from(start)..=u32::from(end)).collect();
            prop_assert_eq!(ports, expected);
        }
    }
}
