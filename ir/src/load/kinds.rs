//! Per-kind conversion of Kubernetes objects into the model.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::api::networking::v1 as net;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::admin::{self, Flavour};
use super::node::{Node, PathStep};
use super::target_ports::TargetPortOrigins;
use super::{
    LoadOptions, Loaded, cilium, field_origin, names, netpol, schema, schema_objects, typed, walk,
    workload,
};
use crate::diag::Diagnostic;
use crate::model::{
    ContainerPort, Endpoint, Namespace, Pod, Protocol, Service, ServicePort, TargetPort,
};
use crate::source::Origin;

/// Accumulates objects across files; [`Builder::finish`] resolves what needs all of them.
pub struct Builder {
    pub options: LoadOptions,
    pub loaded: Loaded,
    /// First origin of each `kind/namespace/name`, to report duplicates.
    seen: BTreeMap<String, Origin>,
    /// EndpointSlices by `namespace/service`.
    pub slices: BTreeMap<String, Vec<Endpoint>>,
    pub target_ports: TargetPortOrigins,
}

/// `apiVersion`, `kind`, name and namespace of a document.
struct Header {
    api_version: String,
    kind: String,
    name: String,
    namespace: String,
}

impl Builder {
    pub fn new(options: LoadOptions) -> Self {
        let mut loaded = Loaded::default();
        loaded.cluster.settings = options.settings.clone();
        Self {
            options,
            loaded,
            seen: BTreeMap::new(),
            slices: BTreeMap::new(),
            target_ports: TargetPortOrigins::new(),
        }
    }

    pub fn diag(&mut self, diagnostic: Diagnostic) {
        self.loaded.diagnostics.push(diagnostic);
    }

    /// Converts one object document.
    pub fn object(&mut self, doc: &Node) {
        let Some(header) = self.header(doc) else {
            return;
        };
        if !is_used_kind(&header.api_version, &header.kind) {
            self.skip(header, doc);
            return;
        }
        *self.loaded.objects.entry(header.kind.clone()).or_default() += 1;
        if self.is_duplicate(&header, doc) {
            return;
        }
        let mut out = Vec::new();
        names::check(&header.kind, doc, &mut out);
        if let Some(shape) = schema_objects::shape_of(&header.kind) {
            schema::check_fields(doc, shape, "", &mut out);
        }
        match header.kind.as_str() {
            "Namespace" => self.namespace(doc, &mut out),
            "Pod" => self.pod(doc, &header, &mut out),
            "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob" => {
                self.workload(doc, &header, &mut out)
            }
            "Service" => self.service(doc, &header, &mut out),
            "EndpointSlice" => self.endpoint_slice(doc, &header, &mut out),
            "NetworkPolicy" => self.network_policy(doc, &header, &mut out),
            "AdminNetworkPolicy" => self.admin_policy(Flavour::Admin, doc, &header, &mut out),
            "BaselineAdminNetworkPolicy" => {
                self.admin_policy(Flavour::Baseline, doc, &header, &mut out)
            }
            "ClusterNetworkPolicy" => self.admin_policy(Flavour::Cluster, doc, &header, &mut out),
            "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy" => {
                self.cilium_policy(doc, &header, &mut out)
            }
            _ => {}
        }
        self.loaded.diagnostics.append(&mut out);
    }

    fn header(&mut self, doc: &Node) -> Option<Header> {
        let mistyped = non_string_header_fields(doc);
        if !mistyped.is_empty() {
            self.loaded.diagnostics.extend(mistyped);
            return None;
        }
        let mut missing = Vec::new();
        let api_version = doc.get("apiVersion").and_then(Node::as_str);
        let kind = doc.get("kind").and_then(Node::as_str);
        let metadata = doc.get("metadata");
        let name = metadata
            .and_then(|m| m.get("name").or_else(|| m.get("generateName")))
            .and_then(Node::as_str);
        if api_version.is_none() {
            missing.push("apiVersion");
        }
        if kind.is_none() {
            missing.push("kind");
        }
        if name.is_none() {
            missing.push("metadata.name");
        }
        if !missing.is_empty() {
            let list = missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>();
            self.diag(
                Diagnostic::error(
                    "moat::missing-field",
                    format!("object is missing {}", list.join(", ")),
                )
                .at(Some(doc.origin.clone()))
                .with_label("this object")
                .with_help(
                    "every Kubernetes object needs `apiVersion`, `kind` and `metadata.name`",
                ),
            );
            return None;
        }
        let namespace = metadata
            .and_then(|m| m.get("namespace"))
            .and_then(Node::as_str)
            .filter(|ns| !ns.is_empty())
            .unwrap_or("default");
        Some(Header {
            api_version: api_version.unwrap_or_default().to_string(),
            kind: kind.unwrap_or_default().to_string(),
            name: name.unwrap_or_default().to_string(),
            namespace: namespace.to_string(),
        })
    }

    fn is_duplicate(&mut self, header: &Header, doc: &Node) -> bool {
        let scope = if is_cluster_scoped(&header.kind) {
            ""
        } else {
            &header.namespace
        };
        let key = format!("{}/{}/{}", header.kind, scope, header.name);
        match self.seen.get(&key) {
            Some(first) => {
                let diagnostic = Diagnostic::error(
                    "moat::duplicate-object",
                    format!("duplicate {} `{}`", header.kind, qualified(header)),
                )
                .at(Some(doc.origin.clone()))
                .with_label("second definition")
                .with_help(format!(
                    "first defined at {}; remove one of them",
                    first.location()
                ));
                self.diag(diagnostic);
                true
            }
            None => {
                self.seen.insert(key, doc.origin.clone());
                false
            }
        }
    }

    fn namespace(&mut self, doc: &Node, out: &mut Vec<Diagnostic>) {
        let Ok(ns) = typed::from_node::<core::Namespace>(doc, "Namespace").map_err(|e| out.push(e))
        else {
            return;
        };
        let name = ns.metadata.name.unwrap_or_default();
        let mut labels: BTreeMap<String, String> = ns.metadata.labels.unwrap_or_default();
        labels.insert("kubernetes.io/metadata.name".to_string(), name.clone());
        self.loaded.cluster.namespaces.insert(
            name.clone(),
            Namespace {
                name,
                labels,
                origin: Some(doc.origin.clone()),
            },
        );
    }

    fn pod(&mut self, doc: &Node, header: &Header, out: &mut Vec<Diagnostic>) {
        let Ok(pod) = typed::from_node::<core::Pod>(doc, "Pod").map_err(|e| out.push(e)) else {
            return;
        };
        let spec = pod.spec.unwrap_or_default();
        let status = pod.status.unwrap_or_default();
        let spec_node = doc.get("spec").unwrap_or(doc);
        let ip = status_ip(&status, doc, out);
        let mut model = pod_from_spec(&spec, spec_node, header, out);
        model.labels = pod.metadata.labels.unwrap_or_default();
        model.ip = ip;
        model.ready = is_ready(&status);
        model.origin = Some(doc.origin.clone());
        self.loaded.cluster.pods.push(model);
    }

    fn workload(&mut self, doc: &Node, header: &Header, out: &mut Vec<Diagnostic>) {
        let pods = &self.loaded.cluster.pods;
        let addresses = workload::Addresses {
            pod_cidr: self.options.pod_cidr,
            taken: pods.iter().filter(|p| p.ip.is_none()).count() as u64,
        };
        let Some(workload::Template {
            replicas,
            template,
            node: template_node,
        }) = workload::template(doc, &header.kind, addresses, out)
        else {
            return;
        };
        let spec = template.spec.unwrap_or_default();
        let labels = template.metadata.and_then(|m| m.labels).unwrap_or_default();
        let spec_node = template_node.get("spec").unwrap_or(template_node);
        for i in 0..replicas {
            let pod_header = Header {
                api_version: "v1".to_string(),
                kind: "Pod".to_string(),
                name: format!("{}-{i}", header.name),
                namespace: header.namespace.clone(),
            };
            // Only the first replica reports problems of the shared template.
            let mut sink = Vec::new();
            let target = if i == 0 { &mut *out } else { &mut sink };
            let mut pod = pod_from_spec(&spec, spec_node, &pod_header, target);
            pod.labels = labels.clone();
            pod.owner = Some(format!("{}/{}", header.kind, header.name));
            pod.origin = Some(doc.origin.clone());
            self.loaded.cluster.pods.push(pod);
        }
    }

    fn service(&mut self, doc: &Node, header: &Header, out: &mut Vec<Diagnostic>) {
        let Ok(svc) = typed::from_node::<core::Service>(doc, "Service").map_err(|e| out.push(e))
        else {
            return;
        };
        let spec = svc.spec.unwrap_or_default();
        let spec_node = doc.get("spec").unwrap_or(doc);
        let cluster_ip = spec.cluster_ip.as_deref().filter(|ip| !ip.is_empty());
        let headless = cluster_ip == Some("None");
        let parsed_ip = match cluster_ip {
            Some(text) if !headless => parse_ip(text, &field_origin(spec_node, "clusterIP"), out),
            _ => None,
        };
        let ports_node = spec_node.get("ports");
        let target_ports = &mut self.target_ports;
        let ports = spec
            .ports
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, p)| {
                let node = ports_node.map_or(spec_node, |n| n.at_path(&[PathStep::Index(i)]));
                let port = service_port(p, node, out)?;
                if let TargetPort::Name(name) = &port.target {
                    let key = (
                        format!("{}/{}", header.namespace, header.name),
                        name.clone(),
                    );
                    target_ports.insert(key, field_origin(node, "targetPort"));
                }
                Some(port)
            })
            .collect();
        self.loaded.cluster.services.push(Service {
            namespace: header.namespace.clone(),
            name: header.name.clone(),
            service_type: spec.type_.unwrap_or_else(|| "ClusterIP".to_string()),
            cluster_ip: parsed_ip,
            headless,
            selector: spec.selector,
            ports,
            endpoints: None,
            origin: Some(doc.origin.clone()),
        });
    }

    fn endpoint_slice(&mut self, doc: &Node, header: &Header, out: &mut Vec<Diagnostic>) {
        let Ok(slice) = typed::from_node::<discovery::EndpointSlice>(doc, "EndpointSlice")
            .map_err(|e| out.push(e))
        else {
            return;
        };
        let labels = slice.metadata.labels.unwrap_or_default();
        let Some(service) = labels.get("kubernetes.io/service-name") else {
            out.push(
                Diagnostic::warning(
                    "moat::unowned-endpointslice",
                    format!("EndpointSlice `{}` names no service", qualified(header)),
                )
                .at(Some(doc.origin.clone()))
                .with_help("set the label `kubernetes.io/service-name`; this slice is ignored"),
            );
            return;
        };
        let ports: Vec<(Option<String>, u16, Protocol)> = slice
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                let port = u16::try_from(p.port?).ok()?;
                let protocol = Protocol::parse(p.protocol.as_deref().unwrap_or("TCP"))?;
                Some((p.name.clone(), port, protocol))
            })
            .collect();
        let key = format!("{}/{service}", header.namespace);
        let entry = self.slices.entry(key).or_default();
        for endpoint in &slice.endpoints {
            let ready = endpoint
                .conditions
                .as_ref()
                .and_then(|c| c.ready)
                .unwrap_or(true);
            let pod = endpoint
                .target_ref
                .as_ref()
                .filter(|r| r.kind.as_deref() == Some("Pod"))
                .and_then(|r| {
                    Some(format!(
                        "{}/{}",
                        r.namespace.as_deref().unwrap_or(&header.namespace),
                        r.name.as_deref()?
                    ))
                });
            for address in &endpoint.addresses {
                if let Ok(ip) = address.parse() {
                    entry.push(Endpoint {
                        ip,
                        ready,
                        pod: pod.clone(),
                        ports: ports.clone(),
                    });
                }
            }
        }
    }

    fn network_policy(&mut self, doc: &Node, header: &Header, out: &mut Vec<Diagnostic>) {
        schema::check_fields(doc, &schema::NETWORK_POLICY, "", out);
        let Ok(policy) =
            typed::from_node::<net::NetworkPolicy>(doc, "NetworkPolicy").map_err(|e| out.push(e))
        else {
            return;
        };
        let converted = netpol::convert(&policy, &header.namespace, doc, out);
        self.loaded.cluster.policies.push(converted);
    }

    fn admin_policy(
        &mut self,
        flavour: Flavour,
        doc: &Node,
        header: &Header,
        out: &mut Vec<Diagnostic>,
    ) {
        walk::check_version(&header.api_version, flavour.versions(), doc, out);
        let policy = admin::convert(flavour, &header.name, doc, out);
        self.loaded.cluster.policies.extend(policy);
    }

    fn cilium_policy(&mut self, doc: &Node, header: &Header, out: &mut Vec<Diagnostic>) {
        walk::check_version(&header.api_version, &["v2"], doc, out);
        let namespace = (header.kind == "CiliumNetworkPolicy").then_some(header.namespace.as_str());
        let policies = cilium::convert(header.kind.as_str(), &header.name, namespace, doc, out);
        self.loaded.cluster.policies.extend(policies);
    }

    /// Counts an object moat does not read; a policy kind of another API group gets a warning.
    fn skip(&mut self, header: Header, doc: &Node) {
        if let Some(known) = USED_KINDS
            .iter()
            .find(|k| k.eq_ignore_ascii_case(&header.kind) && **k != header.kind)
        {
            self.diag(miscased_kind(&header.kind, known, doc));
        }
        if let Some(group) = policy_group(&header.kind) {
            self.diag(walk::foreign_group(
                &header.kind,
                &header.api_version,
                group,
                doc,
            ));
        }
        *self.loaded.skipped.entry(header.kind).or_default() += 1;
    }

    pub fn finish(self) -> Loaded {
        super::finish::finish(self)
    }
}

/// A diagnostic for each of `apiVersion`, `kind` and `metadata.name` that is
/// present but not a string, such as `name: 5`.
fn non_string_header_fields(doc: &Node) -> Vec<Diagnostic> {
    let metadata = doc.get("metadata");
    let fields = [
        ("apiVersion", doc.get("apiVersion")),
        ("kind", doc.get("kind")),
        ("metadata.name", metadata.and_then(|m| m.get("name"))),
    ];
    fields
        .into_iter()
        .filter_map(|(path, node)| Some((path, node?)))
        .filter(|(_, node)| node.as_str().is_none() && !node.is_null())
        .map(|(path, node)| {
            Diagnostic::error(
                "moat::wrong-type",
                format!("`{path}` must be a string, found {}", node.type_name()),
            )
            .at(Some(node.origin.clone()))
            .with_label("not a string")
            .with_help("quote the value, for example `name: \"5\"`")
        })
        .collect()
}

/// Whether objects of `kind` live outside namespaces, so that their names
/// are unique cluster-wide and carry no namespace prefix.
fn is_cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "AdminNetworkPolicy"
            | "BaselineAdminNetworkPolicy"
            | "ClusterNetworkPolicy"
            | "CiliumClusterwideNetworkPolicy"
    )
}

fn qualified(header: &Header) -> String {
    if is_cluster_scoped(&header.kind) {
        header.name.clone()
    } else {
        format!("{}/{}", header.namespace, header.name)
    }
}

/// Whether moat reads this kind; policy kinds count only from their own API group.
fn is_used_kind(api_version: &str, kind: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
    if let Some(wanted) = policy_group(kind) {
        return group == wanted;
    }
    USED_KINDS.contains(&kind)
}

/// The kinds moat reads, policy kinds included.
const USED_KINDS: [&str; 16] = [
    "Namespace",
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "Service",
    "EndpointSlice",
    "NetworkPolicy",
    "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy",
    "ClusterNetworkPolicy",
    "CiliumNetworkPolicy",
    "CiliumClusterwideNetworkPolicy",
];

/// Builds the warning for a kind that differs from a used kind only in case.
fn miscased_kind(kind: &str, known: &str, doc: &Node) -> Diagnostic {
    Diagnostic::warning(
        "moat::unknown-kind",
        format!("unknown kind `{kind}`: did you mean `{known}`?"),
    )
    .at(Some(field_origin(doc, "kind")))
    .with_label("kinds are case-sensitive")
    .with_help(format!("write `kind: {known}`; moat skipped this object"))
}

/// The API group of each policy kind moat reads.
fn policy_group(kind: &str) -> Option<&'static str> {
    match kind {
        "NetworkPolicy" => Some("networking.k8s.io"),
        "AdminNetworkPolicy" | "BaselineAdminNetworkPolicy" | "ClusterNetworkPolicy" => {
            Some("policy.networking.k8s.io")
        }
        "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy" => Some("cilium.io"),
        _ => None,
    }
}

/// Everything of a pod that comes from its spec.
fn pod_from_spec(
    spec: &core::PodSpec,
    node: &Node,
    header: &Header,
    out: &mut Vec<Diagnostic>,
) -> Pod {
    let mut ports = Vec::new();
    let containers = node.get("containers");
    for (c, container) in spec.containers.iter().enumerate() {
        let container_node = containers.map_or(node, |n| n.at_path(&[PathStep::Index(c)]));
        let ports_node = container_node.get("ports");
        for (i, port) in container.ports.iter().flatten().enumerate() {
            let at = ports_node.map_or(container_node, |n| n.at_path(&[PathStep::Index(i)]));
            if let Some(p) = container_port(port, at, out) {
                ports.push(p);
            }
        }
    }
    Pod {
        namespace: header.namespace.clone(),
        name: header.name.clone(),
        labels: BTreeMap::new(),
        ip: None,
        ports,
        node_name: spec.node_name.clone(),
        host_network: spec.host_network.unwrap_or(false),
        ready: true,
        images: spec
            .containers
            .iter()
            .filter_map(|c| c.image.clone())
            .collect(),
        owner: None,
        origin: Some(node.origin.clone()),
    }
}

fn container_port(
    port: &core::ContainerPort,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<ContainerPort> {
    let protocol = netpol::protocol(port.protocol.as_deref(), node, out)?;
    let Ok(number) = u16::try_from(port.container_port) else {
        out.push(port_range_error(
            i64::from(port.container_port),
            &field_origin(node, "containerPort"),
        ));
        return None;
    };
    if number == 0 {
        out.push(port_range_error(0, &field_origin(node, "containerPort")));
        return None;
    }
    Some(ContainerPort {
        name: port.name.clone(),
        port: number,
        protocol,
    })
}

fn service_port(
    port: &core::ServicePort,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<ServicePort> {
    let protocol = netpol::protocol(port.protocol.as_deref(), node, out)?;
    let number = match u16::try_from(port.port) {
        Ok(n) if n > 0 => n,
        _ => {
            out.push(port_range_error(
                i64::from(port.port),
                &field_origin(node, "port"),
            ));
            return None;
        }
    };
    let target = match &port.target_port {
        None => TargetPort::Number(number),
        Some(IntOrString::Int(t)) => match u16::try_from(*t) {
            Ok(t) if t > 0 => TargetPort::Number(t),
            _ => {
                out.push(port_range_error(
                    i64::from(*t),
                    &field_origin(node, "targetPort"),
                ));
                return None;
            }
        },
        Some(IntOrString::String(name)) => match name.parse::<u16>() {
            Ok(t) if t > 0 => TargetPort::Number(t),
            _ => TargetPort::Name(name.clone()),
        },
    };
    Some(ServicePort {
        name: port.name.clone(),
        port: number,
        protocol,
        target,
    })
}

fn port_range_error(number: i64, at: &Origin) -> Diagnostic {
    Diagnostic::error(
        "moat::port-out-of-range",
        format!("port {number} is out of range"),
    )
    .at(Some(at.clone()))
    .with_label("not in 1..=65535")
    .with_help("ports are numbers from 1 to 65535")
}

fn status_ip(
    status: &core::PodStatus,
    doc: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<std::net::IpAddr> {
    let text = status
        .pod_ip
        .as_deref()
        .or_else(|| status.pod_ips.as_ref()?.first().map(|p| p.ip.as_str()))?;
    let at = doc
        .get("status")
        .map_or(doc.origin.clone(), |s| field_origin(s, "podIP"));
    parse_ip(text, &at, out)
}

fn parse_ip(text: &str, at: &Origin, out: &mut Vec<Diagnostic>) -> Option<std::net::IpAddr> {
    match text.parse() {
        Ok(ip) => Some(ip),
        Err(_) => {
            out.push(
                Diagnostic::error("moat::invalid-ip", format!("invalid IP address `{text}`"))
                    .at(Some(at.clone()))
                    .with_label("not an IP address")
                    .with_help("write an IPv4 or IPv6 address such as `10.244.1.5`"),
            );
            None
        }
    }
}

fn is_ready(status: &core::PodStatus) -> bool {
    let finished = matches!(status.phase.as_deref(), Some("Failed" | "Succeeded"));
    let not_ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "False");
    !finished && !not_ready
}
