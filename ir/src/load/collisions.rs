//! Checks that no two pods, and no pod and Service, share an address.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::{LoadOptions, Loaded};
use crate::diag::Diagnostic;

/// Warns about pods that share an IP, and rejects a Service cluster IP that
/// a pod or another Service also has.
///
/// Pods on the host network share their node's address, so they are left out.
pub fn check_addresses(loaded: &mut Loaded) {
    let cluster = &loaded.cluster;
    let mut found = Vec::new();
    let mut pods: BTreeMap<IpAddr, String> = BTreeMap::new();
    for pod in cluster.pods.iter().filter(|p| !p.host_network) {
        let Some(ip) = pod.ip else { continue };
        let name = format!("{}/{}", pod.namespace, pod.name);
        match pods.get(&ip) {
            Some(first) => found.push(
                Diagnostic::warning(
                    "moat::duplicate-pod-ip",
                    format!("pods `{first}` and `{name}` have the same IP {ip}"),
                )
                .at(pod.origin.clone())
                .with_label("second pod with this IP")
                .with_help(format!(
                    "one address routes to one pod, so `{name}` is unreachable by address; give each pod its own `status.podIP`"
                )),
            ),
            None => {
                pods.insert(ip, name);
            }
        }
    }
    let mut services: BTreeMap<IpAddr, String> = BTreeMap::new();
    for service in &cluster.services {
        let Some(ip) = service.cluster_ip else {
            continue;
        };
        let name = service.key();
        let other = match (pods.get(&ip), services.get(&ip)) {
            (Some(pod), _) => Some(format!("pod `{pod}`")),
            (None, Some(first)) => Some(format!("Service `{first}`")),
            (None, None) => None,
        };
        match other {
            Some(other) => found.push(
                Diagnostic::error(
                    "moat::duplicate-cluster-ip",
                    format!("Service `{name}` has cluster IP {ip}, which {other} also has"),
                )
                .at(service.origin.clone())
                .with_label("address already taken")
                .with_help("give the Service a `clusterIP` that no pod or other Service uses"),
            ),
            None => {
                services.insert(ip, name);
            }
        }
    }
    loaded.diagnostics.extend(found);
}

/// Warns when the pod and service ranges overlap, because addresses from one
/// range may then look like the other's.
pub fn warn_overlapping_ranges(loaded: &mut Loaded, options: &LoadOptions) {
    let (pods, services) = (options.pod_cidr, options.service_cidr);
    if !(pods.contains(&services.network()) || services.contains(&pods.network())) {
        return;
    }
    loaded.diagnostics.push(
        Diagnostic::warning(
            "moat::overlapping-ranges",
            format!("pod CIDR {pods} and service CIDR {services} overlap"),
        )
        .with_help(
            "moat gives Services addresses no pod uses, but pass ranges that do not overlap with `--pod-cidr` and `--service-cidr`",
        ),
    );
}
