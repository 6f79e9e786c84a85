//! Sets of destination ports: per-protocol port ranges plus the other IP protocols.

use std::fmt;

use serde::Serialize;

use crate::model::{Pod, PortMatch, Ports, Protocol};

/// An inclusive port range, `start <= end`.
pub type PortRange = (u16, u16);

/// A set of `(protocol, port)` pairs over TCP, UDP and SCTP, plus a flag for
/// every other IP protocol (ICMP and the rest), which carry no port.
///
/// A rule with no `ports` allows the other protocols too; a rule that lists
/// ports allows only the listed protocols.
///
/// INVARIANT: each protocol's ranges are sorted, disjoint and not adjacent,
/// so two equal sets have equal representations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct PortSet {
    /// Ranges per protocol, indexed like [`Protocol::ALL`].
    ranges: [Vec<PortRange>; 3],
    other: bool,
}

const FULL: PortRange = (0, u16::MAX);

impl PortSet {
    /// The empty set.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Every port of every protocol, and every other protocol.
    pub fn all() -> Self {
        Self {
            ranges: [vec![FULL], vec![FULL], vec![FULL]],
            other: true,
        }
    }

    /// Every port of one protocol.
    pub fn protocol(protocol: Protocol) -> Self {
        Self::range(protocol, 0, u16::MAX)
    }

    /// The ports `start..=end` of one protocol; empty when `start > end`.
    pub fn range(protocol: Protocol, start: u16, end: u16) -> Self {
        let mut set = Self::empty();
        if start <= end {
            set.ranges_mut(protocol).push((start, end));
        }
        set
    }

    /// One port of one protocol.
    pub fn port(protocol: Protocol, port: u16) -> Self {
        Self::range(protocol, port, port)
    }

    /// Only the protocols without ports.
    pub fn other_protocols() -> Self {
        Self {
            other: true,
            ..Self::empty()
        }
    }

    /// The ports a rule's `ports` allow towards `destination`.
    ///
    /// Named ports resolve on the destination pod by name and protocol. A
    /// named port matches nothing when there is no destination pod (an
    /// address outside the cluster) or the pod does not declare it.
    pub fn from_ports(ports: &Ports, destination: Option<&Pod>) -> Self {
        let list = match ports {
            Ports::Any => return Self::all(),
            Ports::List(list) => list,
        };
        let mut set = Self::empty();
        for rule in list {
            let part = match &rule.port {
                PortMatch::Any => Self::protocol(rule.protocol),
                PortMatch::Range { start, end } => Self::range(rule.protocol, *start, *end),
                PortMatch::Named(name) => destination
                    .and_then(|pod| pod.named_port(name, rule.protocol))
                    .map_or_else(Self::empty, |p| Self::port(rule.protocol, p)),
            };
            set = set.union(&part);
        }
        set
    }

    /// Whether the set contains `port` of `protocol`.
    pub fn contains(&self, protocol: Protocol, port: u16) -> bool {
        self.ranges(protocol)
            .iter()
            .any(|&(start, end)| start <= port && port <= end)
    }

    /// Whether the set contains the protocols without ports.
    pub fn contains_other(&self) -> bool {
        self.other
    }

    pub fn is_empty(&self) -> bool {
        !self.other && self.ranges.iter().all(Vec::is_empty)
    }

    /// Whether the set contains every port of every protocol and the other protocols.
    pub fn is_all(&self) -> bool {
        *self == Self::all()
    }

    /// The ranges of one protocol, ascending.
    pub fn ranges(&self, protocol: Protocol) -> &[PortRange] {
        let [tcp, udp, sctp] = &self.ranges;
        match protocol {
            Protocol::Tcp => tcp,
            Protocol::Udp => udp,
            Protocol::Sctp => sctp,
        }
    }

    fn ranges_mut(&mut self, protocol: Protocol) -> &mut Vec<PortRange> {
        let [tcp, udp, sctp] = &mut self.ranges;
        match protocol {
            Protocol::Tcp => tcp,
            Protocol::Udp => udp,
            Protocol::Sctp => sctp,
        }
    }

    /// Every range with its protocol, in protocol then port order.
    pub fn iter(&self) -> impl Iterator<Item = (Protocol, PortRange)> + '_ {
        Protocol::ALL
            .into_iter()
            .flat_map(move |p| self.ranges(p).iter().map(move |&r| (p, r)))
    }

    pub fn union(&self, other: &Self) -> Self {
        self.combine(
            other,
            |a, b| a || b,
            |a, b| normalize(a.iter().chain(b).copied()),
        )
    }

    pub fn intersection(&self, other: &Self) -> Self {
        self.combine(other, |a, b| a && b, intersect)
    }

    /// The pairs in `self` that are not in `other`.
    pub fn difference(&self, other: &Self) -> Self {
        self.intersection(&other.complement())
    }

    /// Everything not in the set, including the other protocols when the set lacks them.
    pub fn complement(&self) -> Self {
        Self {
            ranges: self.ranges.clone().map(|r| complement(&r)),
            other: !self.other,
        }
    }

    fn combine(
        &self,
        other: &Self,
        flag: impl Fn(bool, bool) -> bool,
        ranges: impl Fn(&[PortRange], &[PortRange]) -> Vec<PortRange>,
    ) -> Self {
        let [a0, a1, a2] = &self.ranges;
        let [b0, b1, b2] = &other.ranges;
        Self {
            ranges: [ranges(a0, b0), ranges(a1, b1), ranges(a2, b2)],
            other: flag(self.other, other.other),
        }
    }
}

/// Sorts ranges and merges the overlapping and adjacent ones.
fn normalize(ranges: impl Iterator<Item = PortRange>) -> Vec<PortRange> {
    let mut sorted: Vec<PortRange> = ranges.filter(|(s, e)| s <= e).collect();
    sorted.sort_unstable();
    let mut merged: Vec<PortRange> = Vec::with_capacity(sorted.len());
    for (start, end) in sorted {
        match merged.last_mut() {
            Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    merged
}

/// Intersects two normalised range lists by walking both in order.
fn intersect(a: &[PortRange], b: &[PortRange]) -> Vec<PortRange> {
    let mut out = Vec::new();
    let (mut i, mut j) = (0, 0);
    while let (Some(&(a_start, a_end)), Some(&(b_start, b_end))) = (a.get(i), b.get(j)) {
        let start = a_start.max(b_start);
        let end = a_end.min(b_end);
        if start <= end {
            out.push((start, end));
        }
        if a_end < b_end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// The gaps of a normalised range list within `0..=65535`.
fn complement(ranges: &[PortRange]) -> Vec<PortRange> {
    let mut out = Vec::new();
    // The first port not yet covered, or `None` once the range list reached 65535.
    let mut next = Some(0u16);
    for &(start, end) in ranges {
        if let Some(from) = next
            && from < start
        {
            out.push((from, start - 1));
        }
        next = end.checked_add(1);
    }
    if let Some(from) = next {
        out.push((from, u16::MAX));
    }
    out
}

impl fmt::Display for PortSet {
    /// Formats as `tcp/80,tcp/8000-8080,udp/*,other`, or `none` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self
            .iter()
            .map(|(protocol, range)| {
                let name = protocol.lower();
                match range {
                    FULL => format!("{name}/*"),
                    (start, end) if start == end => format!("{name}/{start}"),
                    (start, end) => format!("{name}/{start}-{end}"),
                }
            })
            .collect();
        if self.other {
            parts.push("other".to_string());
        }
        if parts.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PortRule;

    fn tcp(start: u16, end: u16) -> PortSet {
        PortSet::range(Protocol::Tcp, start, end)
    }

    #[test]
    fn display_lists_ranges_in_order() {
        let set = tcp(8000, 8080)
            .union(&PortSet::port(Protocol::Udp, 53))
            .union(&tcp(80, 80));
        assert_eq!(set.to_string(), "tcp/80,tcp/8000-8080,udp/53");
    }

    #[test]
    fn display_of_empty_and_all() {
        assert_eq!(PortSet::empty().to_string(), "none");
        assert_eq!(PortSet::all().to_string(), "tcp/*,udp/*,sctp/*,other");
    }

    #[test]
    fn adjacent_ranges_merge() {
        let set = tcp(10, 20).union(&tcp(21, 30));
        assert_eq!(set.ranges(Protocol::Tcp), &[(10, 30)]);
    }

    #[test]
    fn complement_of_edges() {
        let set = tcp(0, 0).union(&tcp(65535, 65535));
        assert_eq!(set.complement().ranges(Protocol::Tcp), &[(1, 65534)]);
        assert_eq!(set.complement().ranges(Protocol::Udp), &[FULL]);
        assert!(set.complement().contains_other());
    }

    #[test]
    fn any_ports_include_other_protocols() {
        assert!(PortSet::from_ports(&Ports::Any, None).is_all());
    }

    #[test]
    fn named_port_resolves_on_destination() {
        let pod = Pod {
            namespace: "x".into(),
            name: "a".into(),
            labels: Default::default(),
            ip: None,
            ports: vec![crate::model::ContainerPort {
                name: Some("dns".into()),
                port: 53,
                protocol: Protocol::Udp,
            }],
            node_name: None,
            host_network: false,
            ready: true,
            images: Vec::new(),
            owner: None,
            origin: None,
        };
        let named = |protocol| {
            Ports::List(vec![PortRule {
                protocol,
                port: PortMatch::Named("dns".into()),
            }])
        };
        let udp = PortSet::from_ports(&named(Protocol::Udp), Some(&pod));
        assert_eq!(udp.to_string(), "udp/53");
        let tcp = PortSet::from_ports(&named(Protocol::Tcp), Some(&pod));
        assert!(tcp.is_empty());
        assert!(PortSet::from_ports(&named(Protocol::Udp), None).is_empty());
    }
}
