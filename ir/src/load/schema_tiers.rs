//! Field names of the cluster-scoped and Cilium policy kinds, for the unknown-field check.

use super::schema::{SELECTOR, Shape};
use super::schema_objects::OBJECT_META;

const FREE: Shape = Shape::Free;

/// `namespaces` in a peer: a label selector, or the older form that wraps one.
const NAMESPACES_PEER: Shape = Shape::Fields(&[
    ("matchLabels", &FREE),
    ("matchExpressions", &FREE),
    ("namespaceSelector", &SELECTOR),
    ("sameLabels", &FREE),
    ("notSameLabels", &FREE),
]);
const PODS_PEER: Shape = Shape::Fields(&[
    ("namespaceSelector", &SELECTOR),
    ("podSelector", &SELECTOR),
    ("namespaces", &NAMESPACES_PEER),
]);
const SUBJECT: Shape = Shape::Fields(&[("namespaces", &SELECTOR), ("pods", &PODS_PEER)]);
const INGRESS_PEER: Shape =
    Shape::Fields(&[("namespaces", &NAMESPACES_PEER), ("pods", &PODS_PEER)]);
const EGRESS_PEER: Shape = Shape::Fields(&[
    ("namespaces", &NAMESPACES_PEER),
    ("pods", &PODS_PEER),
    ("nodes", &SELECTOR),
    ("networks", &FREE),
    ("domainNames", &FREE),
]);

const PORT_NUMBER: Shape = Shape::Fields(&[("protocol", &FREE), ("port", &FREE)]);
const PORT_RANGE: Shape = Shape::Fields(&[("protocol", &FREE), ("start", &FREE), ("end", &FREE)]);
const ANP_PORT: Shape = Shape::Fields(&[
    ("portNumber", &PORT_NUMBER),
    ("namedPort", &FREE),
    ("portRange", &PORT_RANGE),
]);
const ANP_INGRESS: Shape = Shape::Fields(&[
    ("name", &FREE),
    ("action", &FREE),
    ("from", &Shape::List(&INGRESS_PEER)),
    ("ports", &Shape::List(&ANP_PORT)),
]);
const ANP_EGRESS: Shape = Shape::Fields(&[
    ("name", &FREE),
    ("action", &FREE),
    ("to", &Shape::List(&EGRESS_PEER)),
    ("ports", &Shape::List(&ANP_PORT)),
]);
const ANP_SPEC: Shape = Shape::Fields(&[
    ("priority", &FREE),
    ("subject", &SUBJECT),
    ("ingress", &Shape::List(&ANP_INGRESS)),
    ("egress", &Shape::List(&ANP_EGRESS)),
]);
const BANP_SPEC: Shape = Shape::Fields(&[
    ("subject", &SUBJECT),
    ("ingress", &Shape::List(&ANP_INGRESS)),
    ("egress", &Shape::List(&ANP_EGRESS)),
]);

const RANGE: Shape = Shape::Fields(&[("start", &FREE), ("end", &FREE)]);
const DESTINATION_PORT: Shape = Shape::Fields(&[("number", &FREE), ("range", &RANGE)]);
const L4_MATCH: Shape = Shape::Fields(&[("destinationPort", &DESTINATION_PORT)]);
const CNP_PROTOCOL: Shape = Shape::Fields(&[
    ("tcp", &L4_MATCH),
    ("udp", &L4_MATCH),
    ("sctp", &L4_MATCH),
    ("destinationNamedPort", &FREE),
]);
const CNP_INGRESS: Shape = Shape::Fields(&[
    ("name", &FREE),
    ("action", &FREE),
    ("from", &Shape::List(&INGRESS_PEER)),
    ("protocols", &Shape::List(&CNP_PROTOCOL)),
]);
const CNP_EGRESS: Shape = Shape::Fields(&[
    ("name", &FREE),
    ("action", &FREE),
    ("to", &Shape::List(&EGRESS_PEER)),
    ("protocols", &Shape::List(&CNP_PROTOCOL)),
]);
const CNP_SPEC: Shape = Shape::Fields(&[
    ("tier", &FREE),
    ("priority", &FREE),
    ("subject", &SUBJECT),
    ("ingress", &Shape::List(&CNP_INGRESS)),
    ("egress", &Shape::List(&CNP_EGRESS)),
]);

/// A whole object around a spec shape.
macro_rules! object {
    ($spec:expr) => {
        Shape::Fields(&[
            ("apiVersion", &FREE),
            ("kind", &FREE),
            ("metadata", &OBJECT_META),
            ("spec", &$spec),
            ("status", &FREE),
        ])
    };
}

pub const ADMIN_NETWORK_POLICY: Shape = object!(ANP_SPEC);
pub const BASELINE_ADMIN_NETWORK_POLICY: Shape = object!(BANP_SPEC);
pub const CLUSTER_NETWORK_POLICY: Shape = object!(CNP_SPEC);

const CIDR_RULE: Shape = Shape::Fields(&[
    ("cidr", &FREE),
    ("except", &FREE),
    ("cidrGroupRef", &FREE),
    ("cidrGroupSelector", &SELECTOR),
]);
const PORT_PROTOCOL: Shape =
    Shape::Fields(&[("port", &FREE), ("endPort", &FREE), ("protocol", &FREE)]);
/// `rules` (L7) and the TLS fields are free-form: moat does not enforce them.
const CILIUM_PORT_RULE: Shape = Shape::Fields(&[
    ("ports", &Shape::List(&PORT_PROTOCOL)),
    ("rules", &FREE),
    ("terminatingTLS", &FREE),
    ("originatingTLS", &FREE),
    ("serverNames", &FREE),
    ("listener", &FREE),
]);
/// Allow and deny sections share one field set: moat reports the L7 fields of
/// either as not enforced.
const CILIUM_INGRESS: Shape = Shape::Fields(&[
    ("fromEndpoints", &Shape::List(&SELECTOR)),
    ("fromRequires", &Shape::List(&SELECTOR)),
    ("fromCIDR", &FREE),
    ("fromCIDRSet", &Shape::List(&CIDR_RULE)),
    ("fromEntities", &FREE),
    ("fromGroups", &FREE),
    ("fromNodes", &Shape::List(&SELECTOR)),
    ("toPorts", &Shape::List(&CILIUM_PORT_RULE)),
    ("icmps", &FREE),
    ("authentication", &FREE),
]);
const CILIUM_EGRESS: Shape = Shape::Fields(&[
    ("toEndpoints", &Shape::List(&SELECTOR)),
    ("toRequires", &Shape::List(&SELECTOR)),
    ("toCIDR", &FREE),
    ("toCIDRSet", &Shape::List(&CIDR_RULE)),
    ("toEntities", &FREE),
    ("toServices", &FREE),
    ("toFQDNs", &FREE),
    ("toGroups", &FREE),
    ("toNodes", &Shape::List(&SELECTOR)),
    ("toPorts", &Shape::List(&CILIUM_PORT_RULE)),
    ("icmps", &FREE),
    ("authentication", &FREE),
]);
const DEFAULT_DENY: Shape = Shape::Fields(&[("ingress", &FREE), ("egress", &FREE)]);
const CILIUM_RULE: Shape = Shape::Fields(&[
    ("endpointSelector", &SELECTOR),
    ("nodeSelector", &SELECTOR),
    ("ingress", &Shape::List(&CILIUM_INGRESS)),
    ("ingressDeny", &Shape::List(&CILIUM_INGRESS)),
    ("egress", &Shape::List(&CILIUM_EGRESS)),
    ("egressDeny", &Shape::List(&CILIUM_EGRESS)),
    ("enableDefaultDeny", &DEFAULT_DENY),
    ("labels", &FREE),
    ("description", &FREE),
    ("log", &FREE),
]);

/// CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy: one rule in `spec`,
/// or several in `specs`.
pub const CILIUM_POLICY: Shape = Shape::Fields(&[
    ("apiVersion", &FREE),
    ("kind", &FREE),
    ("metadata", &OBJECT_META),
    ("spec", &CILIUM_RULE),
    ("specs", &Shape::List(&CILIUM_RULE)),
    ("status", &FREE),
]);
