//! Serde shapes of AdminNetworkPolicy, BaselineAdminNetworkPolicy and ClusterNetworkPolicy.
//!
//! Every field is optional here so that a missing field becomes a located
//! diagnostic instead of a deserialisation failure of the whole object.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct Object {
    pub spec: Option<Spec>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Spec {
    pub tier: Option<String>,
    pub priority: Option<i64>,
    pub subject: Option<Subject>,
    pub ingress: Option<Vec<RuleSpec>>,
    pub egress: Option<Vec<RuleSpec>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Subject {
    pub namespaces: Option<LabelSelector>,
    pub pods: Option<PodsPeer>,
}

/// `pods`: namespaces and pods within them. `namespaces` is the older
/// v1alpha1 spelling that wraps the namespace selector.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodsPeer {
    pub namespace_selector: Option<LabelSelector>,
    pub pod_selector: Option<LabelSelector>,
    pub namespaces: Option<NamespacesPeer>,
}

/// `namespaces` in a peer: a label selector, or the older v1alpha1 form with
/// `namespaceSelector`, `sameLabels` and `notSameLabels`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamespacesPeer {
    pub match_labels: Option<BTreeMap<String, String>>,
    pub match_expressions: Option<Vec<LabelSelectorRequirement>>,
    pub namespace_selector: Option<LabelSelector>,
    pub same_labels: Option<Vec<String>>,
    pub not_same_labels: Option<Vec<String>>,
}

impl NamespacesPeer {
    pub fn is_legacy(&self) -> bool {
        self.namespace_selector.is_some()
            || self.same_labels.is_some()
            || self.not_same_labels.is_some()
    }

    /// The selector of the current form.
    pub fn selector(&self) -> LabelSelector {
        LabelSelector {
            match_labels: self.match_labels.clone(),
            match_expressions: self.match_expressions.clone(),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct RuleSpec {
    pub name: Option<String>,
    pub action: Option<String>,
    pub from: Option<Vec<PeerSpec>>,
    pub to: Option<Vec<PeerSpec>>,
    pub ports: Option<Vec<PortSpec>>,
    pub protocols: Option<Vec<ProtocolSpec>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerSpec {
    pub namespaces: Option<NamespacesPeer>,
    pub pods: Option<PodsPeer>,
    pub nodes: Option<LabelSelector>,
    pub networks: Option<Vec<String>>,
    pub domain_names: Option<Vec<String>>,
}

/// One v1alpha1 port entry: exactly one of the three fields.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortSpec {
    pub port_number: Option<PortNumber>,
    pub named_port: Option<String>,
    pub port_range: Option<PortRange>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PortNumber {
    pub protocol: Option<String>,
    pub port: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PortRange {
    pub protocol: Option<String>,
    pub start: Option<i64>,
    pub end: Option<i64>,
}

/// One v1alpha2 `protocols` entry: exactly one of the four fields.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolSpec {
    pub tcp: Option<L4Match>,
    pub udp: Option<L4Match>,
    pub sctp: Option<L4Match>,
    pub destination_named_port: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L4Match {
    pub destination_port: Option<DestinationPort>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DestinationPort {
    pub number: Option<i64>,
    pub range: Option<Range>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Range {
    pub start: Option<i64>,
    pub end: Option<i64>,
}
