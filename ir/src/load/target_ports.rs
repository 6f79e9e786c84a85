//! Checks that each named `targetPort` of a Service resolves on its pods.

use std::collections::BTreeMap;

use super::Loaded;
use crate::diag::Diagnostic;
use crate::model::{Service, TargetPort};
use crate::source::Origin;

/// Origins of named target ports, by Service `namespace/name` and port name.
pub type TargetPortOrigins = BTreeMap<(String, String), Origin>;

/// Warns about each named `targetPort` that none of the Service's selected pods declares.
///
/// Services with EndpointSlices, without a selector or selecting no pod are
/// left out: their backends do not come from the selected pods' ports.
pub fn warn_unresolved(loaded: &mut Loaded, origins: &TargetPortOrigins) {
    let cluster = &loaded.cluster;
    let mut found = Vec::new();
    for service in &cluster.services {
        if service.endpoints.is_some() {
            continue;
        }
        let Some(selector) = &service.selector else {
            continue;
        };
        let selected: Vec<_> = cluster
            .pods
            .iter()
            .filter(|p| p.namespace == service.namespace)
            .filter(|p| selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
            .collect();
        if selected.is_empty() {
            continue;
        }
        for port in &service.ports {
            let TargetPort::Name(name) = &port.target else {
                continue;
            };
            if selected
                .iter()
                .any(|p| p.named_port(name, port.protocol).is_some())
            {
                continue;
            }
            let at = origins
                .get(&(service.key(), name.clone()))
                .cloned()
                .or_else(|| service.origin.clone());
            found.push(unresolved(service, name, port.protocol, at));
        }
    }
    loaded.diagnostics.extend(found);
}

fn unresolved(
    service: &Service,
    name: &str,
    protocol: crate::model::Protocol,
    at: Option<Origin>,
) -> Diagnostic {
    Diagnostic::warning(
        "moat::unresolved-target-port",
        format!(
            "no pod that Service `{}` selects declares a {protocol} container port named `{name}`",
            service.key()
        ),
    )
    .at(at)
    .with_label("matches no port today")
    .with_help("check the name and protocol against the pods' `containerPort` entries; this port has no backends")
}
