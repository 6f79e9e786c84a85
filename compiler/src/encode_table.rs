//! Encoding of verdict functions as policy LPM entries.
//!
//! A verdict function maps (protocol, port) to a policy value. The encoder
//! tries every way to use the three prefix levels of the policy key (whole
//! table at prefix 64, whole protocol at prefix 80, port prefixes beyond 80)
//! and keeps the one with the fewest entries. Identities other than
//! `MOAT_ID_ANY` may also emit nothing at the upper levels, so that their
//! lookups fall back to the `MOAT_ID_ANY` entries where the verdicts agree.

use moat_ir::Protocol;

use crate::layout::{POLICY_PREFIX_ALL, POLICY_PREFIX_PORT_START, PolicyKey, PolicyValue};
use crate::ports::range_to_prefixes;

/// Runs `(first port, last port, value)` in ascending order covering `0..=65535`.
pub type Runs = Vec<(u16, u16, PolicyValue)>;

/// A verdict function: runs for TCP, UDP and SCTP, in [`Protocol::ALL`] order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Function(pub [Runs; 3]);

/// One policy entry of a table before the table id is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableEntry {
    pub identity: u32,
    /// `None` for an entry that covers every protocol and port (prefix 64).
    pub protocol: Option<u8>,
    pub port: u16,
    /// Leading port bits the entry fixes (0 covers the whole protocol).
    pub bits: u8,
    pub value: PolicyValue,
}

impl TableEntry {
    pub fn key(&self, table_id: u32) -> PolicyKey {
        let prefixlen = match self.protocol {
            None => POLICY_PREFIX_ALL,
            Some(_) => POLICY_PREFIX_PORT_START + u32::from(self.bits),
        };
        PolicyKey {
            prefixlen,
            table_id,
            identity: self.identity,
            protocol: self.protocol.unwrap_or(0),
            pad: 0,
            port: self.port.to_be_bytes(),
        }
    }
}

/// Encodes `function` with the fewest entries. Without a fallback the result
/// always holds a prefix-64 entry, so every lookup hits.
pub fn encode_function(function: &Function, fallback: Option<&Function>) -> Vec<TableEntry> {
    let mut tops: Vec<Option<PolicyValue>> = Vec::new();
    if fallback.is_some() {
        tops.push(None);
    }
    let mut values: Vec<PolicyValue> = function.0.iter().flat_map(distinct).collect();
    values.sort();
    values.dedup();
    tops.extend(values.into_iter().map(Some));

    let mut best: Option<Vec<TableEntry>> = None;
    for top in tops {
        let candidate = encode_with_top(function, fallback, top);
        if best.as_ref().is_none_or(|b| candidate.len() < b.len()) {
            best = Some(candidate);
        }
    }
    best.unwrap_or_default()
}

fn encode_with_top(
    function: &Function,
    fallback: Option<&Function>,
    top: Option<PolicyValue>,
) -> Vec<TableEntry> {
    let mut out = Vec::new();
    if let Some(value) = top {
        out.push(entry(None, 0, 0, value));
    }
    for (index, protocol) in Protocol::ALL.iter().enumerate() {
        let Some(runs) = function.0.get(index) else {
            continue;
        };
        let base = match (top, fallback.and_then(|f| f.0.get(index))) {
            (Some(value), _) => constant(value),
            (None, Some(runs)) => runs.clone(),
            (None, None) => Vec::new(),
        };
        let number = protocol.ip_number();
        let mut best = differences(runs, &base, number);
        for value in distinct(runs) {
            let mut candidate = vec![entry(Some(number), 0, 0, value)];
            candidate.extend(differences(runs, &constant(value), number));
            if candidate.len() < best.len() {
                best = candidate;
            }
        }
        out.extend(best);
    }
    out
}

fn entry(protocol: Option<u8>, port: u16, bits: u8, value: PolicyValue) -> TableEntry {
    TableEntry {
        identity: 0,
        protocol,
        port,
        bits,
        value,
    }
}

fn constant(value: PolicyValue) -> Runs {
    vec![(0, u16::MAX, value)]
}

fn distinct(runs: &Runs) -> Vec<PolicyValue> {
    let mut values: Vec<PolicyValue> = runs.iter().map(|r| r.2).collect();
    values.sort();
    values.dedup();
    values
}

/// The value of the run containing `port`.
pub fn value_at(runs: &Runs, port: u16) -> Option<PolicyValue> {
    let after = runs.partition_point(|r| r.0 <= port);
    let run = runs.get(after.checked_sub(1)?)?;
    (port <= run.1).then_some(run.2)
}

/// Port-prefix entries for every port where `runs` differs from `base`.
fn differences(runs: &Runs, base: &Runs, protocol: u8) -> Vec<TableEntry> {
    let mut starts: Vec<u16> = runs.iter().chain(base).map(|r| r.0).collect();
    starts.sort_unstable();
    starts.dedup();
    let ends = starts.iter().skip(1).map(|s| s - 1).chain([u16::MAX]);

    let mut ranges: Vec<(u16, u16, PolicyValue)> = Vec::new();
    for (&start, end) in starts.iter().zip(ends) {
        let Some(value) = value_at(runs, start) else {
            continue;
        };
        if value_at(base, start) == Some(value) {
            continue;
        }
        match ranges.last_mut() {
            Some(last) if last.2 == value && u32::from(last.1) + 1 == u32::from(start) => {
                last.1 = end;
            }
            _ => ranges.push((start, end, value)),
        }
    }

    let mut out = Vec::new();
    for (start, end, value) in ranges {
        for (port, bits) in range_to_prefixes(start, end) {
            out.push(entry(Some(protocol), port, bits, value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{ACTION_ALLOW, ACTION_DENY};

    fn value(action: u8) -> PolicyValue {
        PolicyValue {
            rule_id: 0,
            action,
            flags: 0,
            pad: 0,
        }
    }

    fn only_port_80_allowed() -> Function {
        let tcp = vec![
            (0, 79, value(ACTION_DENY)),
            (80, 80, value(ACTION_ALLOW)),
            (81, u16::MAX, value(ACTION_DENY)),
        ];
        let deny = constant(value(ACTION_DENY));
        Function([tcp, deny.clone(), deny])
    }

    #[test]
    fn wildcard_function_uses_default_entry() {
        let entries = encode_function(&only_port_80_allowed(), None);
        assert_eq!(entries.len(), 2);
        assert_eq!(entries.first().map(|e| e.protocol), Some(None));
        assert_eq!(entries.get(1).map(|e| (e.port, e.bits)), Some((80, 16)));
    }

    #[test]
    fn equal_function_needs_no_entries() {
        let function = only_port_80_allowed();
        assert!(encode_function(&function, Some(&function)).is_empty());
    }

    #[test]
    fn value_lookup_finds_run() {
        let Function([tcp, ..]) = only_port_80_allowed();
        assert_eq!(value_at(&tcp, 80), Some(value(ACTION_ALLOW)));
        assert_eq!(value_at(&tcp, 65535), Some(value(ACTION_DENY)));
    }
}
