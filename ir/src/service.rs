//! Service translation: a ClusterIP port to the backends behind it.

use std::net::IpAddr;

use serde::Serialize;

use crate::eval::{Flow, FlowEnd, Verdict, verdict};
use crate::model::{Cluster, Protocol, Service, ServicePort, TargetPort};

/// One backend of a service port after target-port resolution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backend {
    /// The backend pod, when the address belongs to one.
    pub pod: Option<usize>,
    pub ip: Option<IpAddr>,
    pub port: u16,
}

/// The verdict of a flow to a service: one per backend.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceVerdict {
    pub backends: Vec<(Backend, Verdict)>,
}

/// Summary of a service verdict over all backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ServiceOutcome {
    Allow,
    Deny,
    /// Some backends allow the flow and some deny it.
    Mixed,
    /// The service has no ready backend for this port, so the flow fails.
    NoBackends,
}

impl ServiceVerdict {
    pub fn outcome(&self) -> ServiceOutcome {
        let allowed = self.backends.iter().filter(|(_, v)| v.allowed).count();
        match (allowed, self.backends.len()) {
            (_, 0) => ServiceOutcome::NoBackends,
            (0, _) => ServiceOutcome::Deny,
            (a, n) if a == n => ServiceOutcome::Allow,
            _ => ServiceOutcome::Mixed,
        }
    }
}

impl Service {
    /// The service port that receives `protocol/port` on the ClusterIP.
    pub fn port_for(&self, protocol: Protocol, port: u16) -> Option<&ServicePort> {
        self.ports
            .iter()
            .find(|p| p.protocol == protocol && p.port == port)
    }
}

/// Ready backends of one service port, with the target port resolved per backend.
///
/// EndpointSlices win over the selector when the service has any. A named
/// target port is resolved on each backend pod; a pod that does not declare it
/// is not a backend of that port.
pub fn backends(cluster: &Cluster, service: &Service, port: &ServicePort) -> Vec<Backend> {
    if let Some(endpoints) = &service.endpoints {
        return endpoints
            .iter()
            .filter(|e| e.ready)
            .filter_map(|e| {
                let slice_port = e.ports.iter().find(|(name, _, proto)| {
                    *proto == port.protocol && (e.ports.len() == 1 || *name == port.name)
                });
                let pod = cluster.pod_by_ip(e.ip);
                let number = match slice_port {
                    Some((_, n, _)) => *n,
                    None => resolve_target(cluster, pod, port)?,
                };
                Some(Backend {
                    pod,
                    ip: Some(e.ip),
                    port: number,
                })
            })
            .collect();
    }
    let Some(selector) = &service.selector else {
        return Vec::new();
    };
    cluster
        .pods
        .iter()
        .enumerate()
        .filter(|(_, p)| p.namespace == service.namespace && p.ready && !p.host_network)
        .filter(|(_, p)| selector.iter().all(|(k, v)| p.labels.get(k) == Some(v)))
        .filter_map(|(i, p)| {
            let number = resolve_target(cluster, Some(i), port)?;
            Some(Backend {
                pod: Some(i),
                ip: p.ip,
                port: number,
            })
        })
        .collect()
}

fn resolve_target(cluster: &Cluster, pod: Option<usize>, port: &ServicePort) -> Option<u16> {
    match &port.target {
        TargetPort::Number(n) => Some(*n),
        TargetPort::Name(name) => cluster.pods.get(pod?)?.named_port(name, port.protocol),
    }
}

/// Judges a flow from `src` to a service port, once per backend.
pub fn service_verdict(
    cluster: &Cluster,
    src: FlowEnd,
    service: &Service,
    port: &ServicePort,
) -> ServiceVerdict {
    let backends = backends(cluster, service, port)
        .into_iter()
        .map(|backend| {
            let dst = match (backend.pod, backend.ip) {
                (Some(i), _) => FlowEnd::Pod(i),
                (None, Some(ip)) => FlowEnd::External(ip),
                (None, None) => FlowEnd::External(IpAddr::from([0, 0, 0, 0])),
            };
            let flow = Flow {
                src,
                dst,
                protocol: port.protocol,
                port: backend.port,
            };
            let v = verdict(cluster, &flow);
            (backend, v)
        })
        .collect();
    ServiceVerdict { backends }
}
