//! Lookups over a loaded cluster.

use std::net::IpAddr;

use crate::eval::FlowEnd;
use crate::model::{Cluster, Pod, Service};

impl Cluster {
    /// Index of the pod `namespace/name`.
    pub fn pod_index(&self, namespace: &str, name: &str) -> Option<usize> {
        self.pods
            .iter()
            .position(|p| p.namespace == namespace && p.name == name)
    }

    pub fn pod(&self, namespace: &str, name: &str) -> Option<&Pod> {
        self.pod_index(namespace, name)
            .and_then(|i| self.pods.get(i))
    }

    /// Index of the pod that owns this address. Host-network pods share the
    /// node's address, so they never own one.
    pub fn pod_by_ip(&self, ip: IpAddr) -> Option<usize> {
        self.pods
            .iter()
            .position(|p| !p.host_network && p.ip == Some(ip))
    }

    /// The flow end for an address: the pod that owns it, else an outside address.
    pub fn end_for_ip(&self, ip: IpAddr) -> FlowEnd {
        match self.pod_by_ip(ip) {
            Some(i) => FlowEnd::Pod(i),
            None => FlowEnd::External(ip),
        }
    }

    pub fn service(&self, namespace: &str, name: &str) -> Option<&Service> {
        self.services
            .iter()
            .find(|s| s.namespace == namespace && s.name == name)
    }

    /// The service that owns a ClusterIP.
    pub fn service_by_ip(&self, ip: IpAddr) -> Option<&Service> {
        self.services.iter().find(|s| s.cluster_ip == Some(ip))
    }
}
