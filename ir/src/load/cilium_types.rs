//! Serde shapes of CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy (cilium.io/v2).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Deserialize;
use serde_json::Value;

use crate::model::Direction;

#[derive(Debug, Default, Deserialize)]
pub struct Object {
    pub spec: Option<CiliumRule>,
    pub specs: Option<Vec<CiliumRule>>,
}

/// One rule: the endpoints it selects and its four sections.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CiliumRule {
    pub endpoint_selector: Option<LabelSelector>,
    pub node_selector: Option<Value>,
    pub ingress: Option<Vec<Section>>,
    pub ingress_deny: Option<Vec<Section>>,
    pub egress: Option<Vec<Section>>,
    pub egress_deny: Option<Vec<Section>>,
    pub enable_default_deny: Option<DefaultDeny>,
}

#[derive(Debug, Default, Deserialize)]
pub struct DefaultDeny {
    pub ingress: Option<bool>,
    pub egress: Option<bool>,
}

/// An ingress or egress rule, allow or deny; only the fields of its direction are read.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Section {
    pub from_endpoints: Option<Vec<LabelSelector>>,
    pub to_endpoints: Option<Vec<LabelSelector>>,
    pub from_requires: Option<Value>,
    pub to_requires: Option<Value>,
    #[serde(rename = "fromCIDR")]
    pub from_cidr: Option<Vec<String>>,
    #[serde(rename = "toCIDR")]
    pub to_cidr: Option<Vec<String>>,
    #[serde(rename = "fromCIDRSet")]
    pub from_cidr_set: Option<Vec<CidrRule>>,
    #[serde(rename = "toCIDRSet")]
    pub to_cidr_set: Option<Vec<CidrRule>>,
    pub from_entities: Option<Vec<String>>,
    pub to_entities: Option<Vec<String>>,
    pub from_groups: Option<Value>,
    pub to_groups: Option<Value>,
    pub from_nodes: Option<Value>,
    pub to_nodes: Option<Value>,
    pub to_services: Option<Value>,
    #[serde(rename = "toFQDNs")]
    pub to_fqdns: Option<Value>,
    pub to_ports: Option<Vec<PortRuleSpec>>,
    pub icmps: Option<Value>,
}

/// The peer fields of one direction of a [`Section`], with their field names.
pub struct L3<'a> {
    pub endpoints: (&'static str, Option<&'a [LabelSelector]>),
    pub cidr: (&'static str, Option<&'a [String]>),
    pub cidr_set: (&'static str, Option<&'a [CidrRule]>),
    pub entities: (&'static str, Option<&'a [String]>),
    pub requires: (&'static str, bool),
    /// Peer fields moat cannot model: they match nothing.
    pub unmodelled: Vec<(&'static str, bool, &'static str)>,
}

impl Section {
    pub fn l3(&self, direction: Direction) -> L3<'_> {
        match direction {
            Direction::Ingress => L3 {
                endpoints: ("fromEndpoints", self.from_endpoints.as_deref()),
                cidr: ("fromCIDR", self.from_cidr.as_deref()),
                cidr_set: ("fromCIDRSet", self.from_cidr_set.as_deref()),
                entities: ("fromEntities", self.from_entities.as_deref()),
                requires: ("fromRequires", self.from_requires.is_some()),
                unmodelled: vec![
                    (
                        "fromGroups",
                        self.from_groups.is_some(),
                        "cloud groups are not resolved",
                    ),
                    (
                        "fromNodes",
                        self.from_nodes.is_some(),
                        "moat models no nodes",
                    ),
                ],
            },
            Direction::Egress => L3 {
                endpoints: ("toEndpoints", self.to_endpoints.as_deref()),
                cidr: ("toCIDR", self.to_cidr.as_deref()),
                cidr_set: ("toCIDRSet", self.to_cidr_set.as_deref()),
                entities: ("toEntities", self.to_entities.as_deref()),
                requires: ("toRequires", self.to_requires.is_some()),
                unmodelled: vec![
                    (
                        "toGroups",
                        self.to_groups.is_some(),
                        "cloud groups are not resolved",
                    ),
                    ("toNodes", self.to_nodes.is_some(), "moat models no nodes"),
                    (
                        "toServices",
                        self.to_services.is_some(),
                        "service peers are not resolved",
                    ),
                    (
                        "toFQDNs",
                        self.to_fqdns.is_some(),
                        "moat resolves no DNS names",
                    ),
                ],
            },
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CidrRule {
    pub cidr: Option<String>,
    pub except: Option<Vec<String>>,
    pub cidr_group_ref: Option<String>,
}

/// One `toPorts` entry: L4 ports, and L7 or TLS settings that moat does not enforce.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortRuleSpec {
    pub ports: Option<Vec<PortProtocol>>,
    pub rules: Option<Value>,
    #[serde(rename = "terminatingTLS")]
    pub terminating_tls: Option<Value>,
    #[serde(rename = "originatingTLS")]
    pub originating_tls: Option<Value>,
    pub server_names: Option<Value>,
    pub listener: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortProtocol {
    pub port: Option<IntOrString>,
    pub end_port: Option<i64>,
    pub protocol: Option<String>,
}
