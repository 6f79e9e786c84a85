//! The normalised cluster model: namespaces, pods, services and policy rules.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;

use crate::selector::LabelSelector;
use crate::source::Origin;

/// Labels of a namespace or a pod, ordered by key.
pub type Labels = BTreeMap<String, String>;

/// A cluster as moat models it after loading and normalising.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cluster {
    pub namespaces: BTreeMap<String, Namespace>,
    pub pods: Vec<Pod>,
    pub services: Vec<Service>,
    pub policies: Vec<Policy>,
    pub settings: Settings,
}

/// Evaluation switches that differ between network-policy implementations.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Settings {
    /// Whether an `ipBlock` peer also matches the IPs of pods in the cluster.
    ///
    /// Kubernetes leaves this to the implementation: Calico and the upstream
    /// e2e suite match pod IPs (the default here), Cilium does not.
    pub ipblock_matches_pods: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            ipblock_matches_pods: true,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Namespace {
    pub name: String,
    pub labels: Labels,
    /// `None` for a namespace created because something referenced it.
    pub origin: Option<Origin>,
}

/// The transport protocols a policy port can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    /// Parses the Kubernetes spelling (`TCP`, `UDP`, `SCTP`), ignoring case.
    pub fn parse(text: &str) -> Option<Protocol> {
        match text.to_ascii_uppercase().as_str() {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The IANA protocol number carried in the IP header.
    pub fn ip_number(self) -> u8 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
        }
    }

    pub fn lower(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        })
    }
}

/// A port a container declares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, Serialize)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub ip: Option<IpAddr>,
    pub ports: Vec<ContainerPort>,
    pub node_name: Option<String>,
    pub host_network: bool,
    /// Whether the pod can serve traffic: false once it has failed or finished.
    pub ready: bool,
    /// Container images, in declaration order.
    pub images: Vec<String>,
    /// The workload that generated this pod, as `Kind/name`.
    pub owner: Option<String>,
    pub origin: Option<Origin>,
}

impl Pod {
    /// `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Resolves a named port against this pod's container ports.
    pub fn named_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.protocol == protocol && p.name.as_deref() == Some(name))
            .map(|p| p.port)
    }
}

/// A Service target port: a number, or a name resolved on each backend pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum TargetPort {
    Number(u16),
    Name(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct ServicePort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
    pub target: TargetPort,
}

/// A backend address taken from an EndpointSlice.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub ready: bool,
    /// `namespace/name` of the pod, when the slice names it.
    pub pod: Option<String>,
    /// Ports of the slice, by service port name.
    pub ports: Vec<(Option<String>, u16, Protocol)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    /// `ClusterIP`, `NodePort`, `LoadBalancer` or `ExternalName`.
    pub service_type: String,
    pub cluster_ip: Option<IpAddr>,
    pub headless: bool,
    pub selector: Option<Labels>,
    pub ports: Vec<ServicePort>,
    /// Endpoints from EndpointSlices; when present they replace the selector.
    pub endpoints: Option<Vec<Endpoint>>,
    pub origin: Option<Origin>,
}

impl Service {
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

/// The precedence tiers, evaluated in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Tier {
    /// AdminNetworkPolicy, or ClusterNetworkPolicy with `tier: Admin`.
    Admin,
    /// NetworkPolicy and Cilium policies.
    Namespaced,
    /// BaselineAdminNetworkPolicy, or ClusterNetworkPolicy with `tier: Baseline`.
    Baseline,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Action {
    Allow,
    Deny,
    /// Skips the rest of the admin tier and hands the decision on.
    Pass,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Direction {
    Ingress,
    Egress,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum PolicyKind {
    NetworkPolicy,
    AdminNetworkPolicy,
    BaselineAdminNetworkPolicy,
    ClusterNetworkPolicy,
    CiliumNetworkPolicy,
    CiliumClusterwideNetworkPolicy,
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The namespaces a selector applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum NamespaceMatch {
    /// Exactly this namespace (a NetworkPolicy's own namespace).
    Name(String),
    /// Every namespace whose labels match.
    Selector(LabelSelector),
}

/// A set of pods: namespaces, then pods within them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodSet {
    pub namespaces: NamespaceMatch,
    pub pods: LabelSelector,
}

/// Named reserved peers of Cilium policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Entity {
    /// Everything outside the cluster.
    World,
    /// Every pod of the cluster.
    Cluster,
    /// The node itself.
    Host,
    /// Everything.
    All,
}

/// An address block, minus the exceptions inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IpBlock {
    pub cidr: IpNet,
    pub except: Vec<IpNet>,
    /// Whether the block also matches pod IPs: `None` follows
    /// [`Settings::ipblock_matches_pods`]; Cilium CIDR peers set `Some(false)`
    /// because Cilium never selects cluster endpoints by address.
    pub matches_pods: Option<bool>,
}

impl IpBlock {
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.cidr.contains(&ip) && !self.except.iter().any(|e| e.contains(&ip))
    }

    /// Whether the block applies to pod IPs under these settings.
    pub fn matches_pods(&self, settings: &Settings) -> bool {
        self.matches_pods.unwrap_or(settings.ipblock_matches_pods)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Peer {
    Pods(PodSet),
    IpBlock(IpBlock),
    /// AdminNetworkPolicy `networks`: CIDRs that match pod IPs too.
    Networks(Vec<IpNet>),
    Entity(Entity),
}

/// The port part of a rule port entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum PortMatch {
    /// Every port of the protocol.
    Any,
    /// An inclusive range; a single port has `start == end`.
    Range { start: u16, end: u16 },
    /// A container port name, resolved on the destination pod.
    Named(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortRule {
    pub protocol: Protocol,
    pub port: PortMatch,
}

/// Peers of a rule. `Any` is a missing or empty `from`/`to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Peers {
    Any,
    List(Vec<Peer>),
}

/// Ports of a rule. `Any` is a missing or empty `ports` (every protocol).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Ports {
    Any,
    List(Vec<PortRule>),
}

/// One normalised rule of any policy kind.
#[derive(Debug, Clone, Serialize)]
pub struct Rule {
    pub direction: Direction,
    pub action: Action,
    /// Position of the rule within its direction's list in the manifest.
    pub index: usize,
    pub peers: Peers,
    pub ports: Ports,
    pub origin: Option<Origin>,
}

/// The pods a policy applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Subject {
    Pods(PodSet),
}

/// One policy of any kind, normalised.
#[derive(Debug, Clone, Serialize)]
pub struct Policy {
    pub kind: PolicyKind,
    /// `None` for cluster-scoped kinds.
    pub namespace: Option<String>,
    pub name: String,
    pub tier: Tier,
    /// Admin tier only: lower numbers are evaluated first.
    pub priority: u32,
    pub subject: Subject,
    /// Whether selecting a pod isolates it for ingress (NetworkPolicy `policyTypes`).
    pub isolates_ingress: bool,
    pub isolates_egress: bool,
    pub rules: Vec<Rule>,
    pub origin: Option<Origin>,
}

impl Policy {
    /// `namespace/name`, or `name` for a cluster-scoped policy.
    pub fn key(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{ns}/{}", self.name),
            None => self.name.clone(),
        }
    }

    /// The manifest field that holds a rule: `ingress` or `egress`, or for a
    /// Cilium deny rule `ingressDeny` or `egressDeny`.
    pub fn rule_section(&self, rule: &Rule) -> &'static str {
        let cilium = matches!(
            self.kind,
            PolicyKind::CiliumNetworkPolicy | PolicyKind::CiliumClusterwideNetworkPolicy
        );
        match (rule.direction, cilium && rule.action == Action::Deny) {
            (Direction::Ingress, false) => "ingress",
            (Direction::Egress, false) => "egress",
            (Direction::Ingress, true) => "ingressDeny",
            (Direction::Egress, true) => "egressDeny",
        }
    }

    /// Whether the policy isolates its subject in this direction.
    pub fn isolates(&self, direction: Direction) -> bool {
        match direction {
            Direction::Ingress => self.isolates_ingress,
            Direction::Egress => self.isolates_egress,
        }
    }
}
