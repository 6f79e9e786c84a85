//! Steps that need every object: namespaces, addresses, endpoints, named ports.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Loaded;
use super::addresses::Allocator;
use super::collisions;
use super::kinds::Builder;
use crate::diag::Diagnostic;
use crate::eval::{pod_set_contains, subject_selects};
use crate::model::{Direction, Namespace, Peer, Peers, PortMatch, PortRule, Ports, Protocol};
use crate::source::Origin;

pub fn finish(builder: Builder) -> Loaded {
    let Builder {
        options,
        mut loaded,
        slices,
        target_ports,
        ..
    } = builder;
    create_missing_namespaces(&mut loaded);
    collisions::warn_overlapping_ranges(&mut loaded, &options);
    assign_pod_ips(&mut loaded, &options);
    assign_cluster_ips(&mut loaded, &options);
    collisions::check_addresses(&mut loaded);
    for service in &mut loaded.cluster.services {
        if let Some(endpoints) = slices.get(&service.key()) {
            service.endpoints = Some(endpoints.clone());
        }
    }
    warn_unresolved_named_ports(&mut loaded);
    super::target_ports::warn_unresolved(&mut loaded, &target_ports);
    super::admin::warn_equal_priorities(&mut loaded);
    loaded
}

/// Every namespace something refers to exists afterwards, with its name label.
fn create_missing_namespaces(loaded: &mut Loaded) {
    let cluster = &loaded.cluster;
    let mut referenced: BTreeMap<String, Option<Origin>> = BTreeMap::new();
    let pods = cluster.pods.iter().map(|p| (&p.namespace, &p.origin));
    let services = cluster.services.iter().map(|s| (&s.namespace, &s.origin));
    let policies = cluster
        .policies
        .iter()
        .filter_map(|p| Some((p.namespace.as_ref()?, &p.origin)));
    for (ns, origin) in pods.chain(services).chain(policies) {
        if !cluster.namespaces.contains_key(ns) {
            referenced
                .entry(ns.clone())
                .or_insert_with(|| origin.clone());
        }
    }
    for (name, origin) in referenced {
        if BUILT_IN_NAMESPACES.contains(&name.as_str()) {
            insert_undeclared(loaded, name);
            continue;
        }
        loaded.diagnostics.push(
            Diagnostic::warning(
                "moat::undeclared-namespace",
                format!("namespace `{name}` is used but not declared"),
            )
            .at(origin)
            .with_label("first use")
            .with_help(format!(
                "moat created it with only the label `kubernetes.io/metadata.name: {name}`; declare it to give it labels"
            )),
        );
        insert_undeclared(loaded, name);
    }
}

/// Namespaces that every Kubernetes cluster has, so using them undeclared
/// (as `helm template` output does with `default`) earns no warning.
const BUILT_IN_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Adds a namespace that no manifest declares, labelled with its name only.
fn insert_undeclared(loaded: &mut Loaded, name: String) {
    let labels = BTreeMap::from([("kubernetes.io/metadata.name".to_string(), name.clone())]);
    let namespace = Namespace {
        name: name.clone(),
        labels,
        origin: None,
    };
    loaded.cluster.namespaces.insert(name, namespace);
}

/// Gives every pod without `status.podIP` an address from the pod CIDR, in
/// `namespace/name` order, skipping addresses the manifests already give
/// to pods and Services.
fn assign_pod_ips(loaded: &mut Loaded, options: &super::LoadOptions) {
    let services = loaded.cluster.services.iter().filter_map(|s| s.cluster_ip);
    let pods = &mut loaded.cluster.pods;
    let used: BTreeSet<_> = pods.iter().filter_map(|p| p.ip).chain(services).collect();
    let mut order: Vec<usize> = (0..pods.len()).collect();
    order.sort_by_key(|&i| pods.get(i).map(|p| (p.namespace.clone(), p.name.clone())));
    let mut allocator = Allocator::new(options.pod_cidr, used);
    let mut first_without_ip: Option<(String, Option<Origin>)> = None;
    for i in order {
        let Some(pod) = pods.get_mut(i) else { continue };
        if pod.ip.is_some() {
            continue;
        }
        pod.ip = allocator.next_free();
        if pod.ip.is_none() && first_without_ip.is_none() {
            let name = format!("{}/{}", pod.namespace, pod.name);
            first_without_ip = Some((name, pod.origin.clone()));
        }
    }
    if let Some((name, origin)) = first_without_ip {
        loaded.diagnostics.push(
            Diagnostic::error(
                "moat::pod-cidr-exhausted",
                format!(
                    "pod CIDR {} has too few addresses for every pod",
                    options.pod_cidr
                ),
            )
            .at(origin)
            .with_label(format!("pod `{name}` got no address"))
            .with_help("pass a larger range with `--pod-cidr`"),
        );
    }
}

/// Gives every Service that needs one a cluster IP from the service CIDR,
/// skipping the addresses of pods and of other Services.
fn assign_cluster_ips(loaded: &mut Loaded, options: &super::LoadOptions) {
    let pods = loaded.cluster.pods.iter().filter_map(|p| p.ip);
    let services = &mut loaded.cluster.services;
    let used: BTreeSet<_> = services
        .iter()
        .filter_map(|s| s.cluster_ip)
        .chain(pods)
        .collect();
    let mut order: Vec<usize> = (0..services.len()).collect();
    order.sort_by_key(|&i| services.get(i).map(|s| s.key()));
    let mut allocator = Allocator::new(options.service_cidr, used);
    for i in order {
        let Some(service) = services.get_mut(i) else {
            continue;
        };
        let wants_ip = !service.headless && service.service_type != "ExternalName";
        if wants_ip && service.cluster_ip.is_none() {
            service.cluster_ip = allocator.next_free();
        }
    }
}

/// Warns about each named port of a rule that no pod it could reach declares.
fn warn_unresolved_named_ports(loaded: &mut Loaded) {
    let cluster = &loaded.cluster;
    let declaring = pods_by_port_name(cluster);
    let mut found = Vec::new();
    for policy in &cluster.policies {
        for rule in &policy.rules {
            let Ports::List(ports) = &rule.ports else {
                continue;
            };
            for (i, port) in ports.iter().enumerate() {
                let PortMatch::Named(name) = &port.port else {
                    continue;
                };
                // A name listed for several protocols (an AdminNetworkPolicy
                // `namedPort`) resolves when any of them does, and is reported once.
                let same_name = |p: &&PortRule| matches!(&p.port, PortMatch::Named(n) if n == name);
                if ports.iter().take(i).any(|p| same_name(&p)) {
                    continue;
                }
                let protocols: Vec<Protocol> =
                    ports.iter().filter(same_name).map(|p| p.protocol).collect();
                let candidates = declaring.get(name.as_str()).map_or(&[][..], Vec::as_slice);
                let declared = candidates.iter().any(|pod| {
                    let is_destination = match rule.direction {
                        Direction::Ingress => subject_selects(cluster, policy, pod),
                        Direction::Egress => peers_may_include(cluster, &rule.peers, pod),
                    };
                    is_destination && protocols.iter().any(|&p| pod.named_port(name, p).is_some())
                });
                if !declared {
                    found.push(unresolved(
                        name,
                        port.protocol,
                        rule.direction,
                        rule.origin.clone(),
                    ));
                }
            }
        }
    }
    loaded.diagnostics.extend(found);
}

/// The pods that declare a container port of each name, so that a rule's
/// named port is checked against those pods only.
fn pods_by_port_name(cluster: &crate::model::Cluster) -> HashMap<&str, Vec<&crate::model::Pod>> {
    let mut index: HashMap<&str, Vec<&crate::model::Pod>> = HashMap::new();
    for pod in &cluster.pods {
        let mut names: Vec<&str> = pod.ports.iter().filter_map(|p| p.name.as_deref()).collect();
        names.sort_unstable();
        names.dedup();
        for name in names {
            index.entry(name).or_default().push(pod);
        }
    }
    index
}

fn peers_may_include(
    cluster: &crate::model::Cluster,
    peers: &Peers,
    pod: &crate::model::Pod,
) -> bool {
    match peers {
        Peers::Any => true,
        Peers::List(list) => list.iter().any(|peer| match peer {
            Peer::Pods(set) => pod_set_contains(cluster, set, pod),
            _ => true,
        }),
    }
}

fn unresolved(
    name: &str,
    protocol: Protocol,
    direction: Direction,
    at: Option<Origin>,
) -> Diagnostic {
    let whose = match direction {
        Direction::Ingress => "pod this policy selects",
        Direction::Egress => "destination pod of this rule",
    };
    Diagnostic::warning(
        "moat::unresolved-named-port",
        format!("no {whose} declares a {protocol} container port named `{name}`"),
    )
    .at(at)
    .with_label("matches no port today")
    .with_help("check the name and protocol against the pods' `containerPort` entries")
}
