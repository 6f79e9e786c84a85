//! Property tests: port-set algebra against a bitset model, and label-selector matching.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code fails loudly on broken fixtures"
)]

use moat_ir::Protocol;
use moat_ir::model::Labels;
use moat_ir::portset::PortSet;
use moat_ir::selector::{LabelSelector, Operator, Requirement};
use proptest::prelude::*;

/// Every `(protocol, port)` pair as one bit, plus the other-protocols flag.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Model {
    bits: Vec<bool>,
    other: bool,
}

const PORTS: usize = 65536;

fn index(protocol: Protocol, port: u16) -> usize {
    let slot = Protocol::ALL.iter().position(|p| *p == protocol).unwrap();
    slot * PORTS + usize::from(port)
}

impl Model {
    fn of(set: &PortSet) -> Self {
        let mut bits = vec![false; 3 * PORTS];
        for (protocol, (start, end)) in set.iter() {
            for port in start..=end {
                bits[index(protocol, port)] = true;
            }
        }
        Self {
            bits,
            other: set.contains_other(),
        }
    }

    fn zip(&self, other: &Self, f: impl Fn(bool, bool) -> bool) -> Self {
        Self {
            bits: self
                .bits
                .iter()
                .zip(&other.bits)
                .map(|(a, b)| f(*a, *b))
                .collect(),
            other: f(self.other, other.other),
        }
    }
}

fn port() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..40, 65500u16..=65535, any::<u16>()]
}

fn protocol() -> impl Strategy<Value = Protocol> {
    prop_oneof![
        Just(Protocol::Tcp),
        Just(Protocol::Udp),
        Just(Protocol::Sctp)
    ]
}

prop_compose! {
    fn port_set()(
        ranges in prop::collection::vec((protocol(), port(), 0u16..50), 0..6),
        other in any::<bool>(),
    ) -> PortSet {
        let base = if other { PortSet::other_protocols() } else { PortSet::empty() };
        ranges.into_iter().fold(base, |set, (protocol, start, len)| {
            set.union(&PortSet::range(protocol, start, start.saturating_add(len)))
        })
    }
}

/// A set built from unions is normalised: ranges sorted, disjoint, not adjacent.
fn assert_normalised(set: &PortSet) {
    for protocol in Protocol::ALL {
        let ranges = set.ranges(protocol);
        for (start, end) in ranges {
            assert!(start <= end, "{set}: range {start}-{end} is reversed");
        }
        for pair in ranges.windows(2) {
            let (_, end) = pair[0];
            let (start, _) = pair[1];
            assert!(u32::from(end) + 1 < u32::from(start), "{set}: ranges touch");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn operations_agree_with_bitset(a in port_set(), b in port_set()) {
        let (ma, mb) = (Model::of(&a), Model::of(&b));
        let union = a.union(&b);
        let intersection = a.intersection(&b);
        let difference = a.difference(&b);
        let complement = a.complement();
        for set in [&union, &intersection, &difference, &complement] {
            assert_normalised(set);
        }
        prop_assert_eq!(Model::of(&union), ma.zip(&mb, |x, y| x || y));
        prop_assert_eq!(Model::of(&intersection), ma.zip(&mb, |x, y| x && y));
        prop_assert_eq!(Model::of(&difference), ma.zip(&mb, |x, y| x && !y));
        prop_assert_eq!(Model::of(&complement), ma.zip(&ma, |x, _| !x));
        prop_assert_eq!(a.is_empty(), !ma.other && !ma.bits.iter().any(|b| *b));
    }

    #[test]
    fn contains_agrees_with_bitset(a in port_set(), protocol in protocol(), port in port()) {
        let model = Model::of(&a);
        prop_assert_eq!(a.contains(protocol, port), model.bits[index(protocol, port)]);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn union_and_intersection_laws(a in port_set(), b in port_set(), c in port_set()) {
        prop_assert_eq!(a.union(&b), b.union(&a));
        prop_assert_eq!(a.intersection(&b), b.intersection(&a));
        prop_assert_eq!(a.union(&b).union(&c), a.union(&b.union(&c)));
        prop_assert_eq!(a.intersection(&b).intersection(&c), a.intersection(&b.intersection(&c)));
        prop_assert_eq!(
            a.intersection(&b.union(&c)),
            a.intersection(&b).union(&a.intersection(&c))
        );
        prop_assert_eq!(a.union(&a), a.clone());
        prop_assert_eq!(a.intersection(&a), a.clone());
    }

    #[test]
    fn complement_laws(a in port_set(), b in port_set()) {
        prop_assert_eq!(a.complement().complement(), a.clone());
        prop_assert!(a.union(&a.complement()).is_all());
        prop_assert!(a.intersection(&a.complement()).is_empty());
        prop_assert_eq!(
            a.union(&b).complement(),
            a.complement().intersection(&b.complement())
        );
        prop_assert!(a.difference(&a).is_empty());
        prop_assert_eq!(a.union(&PortSet::empty()), a.clone());
        prop_assert_eq!(a.intersection(&PortSet::all()), a.clone());
    }

    #[test]
    fn display_is_injective_on_pairs(a in port_set(), b in port_set()) {
        prop_assert_eq!(a.to_string() == b.to_string(), a == b);
    }
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["app", "tier", "team", "example.com/role"]).prop_map(String::from)
}

fn value() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", ""]).prop_map(String::from)
}

fn labels() -> impl Strategy<Value = Labels> {
    prop::collection::btree_map(key(), value(), 0..4)
}

fn requirement() -> impl Strategy<Value = Requirement> {
    let operator = prop_oneof![
        Just(Operator::In),
        Just(Operator::NotIn),
        Just(Operator::Exists),
        Just(Operator::DoesNotExist),
    ];
    (key(), operator, prop::collection::vec(value(), 1..3)).prop_map(|(key, operator, values)| {
        let values = match operator {
            Operator::In | Operator::NotIn => values,
            Operator::Exists | Operator::DoesNotExist => Vec::new(),
        };
        Requirement {
            key,
            operator,
            values,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn empty_selector_matches_everything(labels in labels()) {
        prop_assert!(LabelSelector::everything().matches(&labels));
    }

    #[test]
    fn match_labels_equal_in_expressions(pairs in labels(), labels in labels()) {
        let from_labels = LabelSelector::from_labels(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let expected = pairs.iter().all(|(k, v)| labels.get(k) == Some(v));
        prop_assert_eq!(from_labels.matches(&labels), expected);
    }

    #[test]
    fn selector_is_conjunction(requirements in prop::collection::vec(requirement(), 0..4), labels in labels()) {
        let selector = LabelSelector { requirements: requirements.clone() };
        let each = requirements.iter().all(|r| r.matches(&labels));
        prop_assert_eq!(selector.matches(&labels), each);
    }

    #[test]
    fn requirement_semantics(requirement in requirement(), labels in labels()) {
        let value = labels.get(&requirement.key);
        let listed = value.is_some_and(|v| requirement.values.contains(v));
        let expected = match requirement.operator {
            Operator::In => listed,
            // NotIn and DoesNotExist match objects that lack the key.
            Operator::NotIn => !listed,
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
        };
        prop_assert_eq!(requirement.matches(&labels), expected);
    }

    #[test]
    fn in_and_not_in_are_complements(requirement in requirement(), labels in labels()) {
        let negated_operator = match requirement.operator {
            Operator::In => Operator::NotIn,
            Operator::NotIn => Operator::In,
            Operator::Exists => Operator::DoesNotExist,
            Operator::DoesNotExist => Operator::Exists,
        };
        let negated = Requirement { operator: negated_operator, ..requirement.clone() };
        prop_assert_ne!(requirement.matches(&labels), negated.matches(&labels));
    }
}

#[test]
fn absent_key_matches_not_in_and_does_not_exist() {
    let labels = Labels::from([("app".to_string(), "web".to_string())]);
    let on_tier = |operator, values: &[&str]| Requirement {
        key: "tier".to_string(),
        operator,
        values: values.iter().map(|v| v.to_string()).collect(),
    };
    assert!(on_tier(Operator::NotIn, &["db"]).matches(&labels));
    assert!(on_tier(Operator::DoesNotExist, &[]).matches(&labels));
    assert!(!on_tier(Operator::In, &["db"]).matches(&labels));
    assert!(!on_tier(Operator::Exists, &[]).matches(&labels));
}
