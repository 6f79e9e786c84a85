//! Service tables: frontends, contiguous backend arrays, Maglev slots and
//! reverse NAT.
//!
//! Each (ClusterIP, port, protocol) frontend gets its own service id (from 1,
//! a `u32`), because target ports resolve per service port. Headless services,
//! services without a ClusterIP and `ExternalName` services get no frontend.

use std::collections::HashMap;
use std::net::IpAddr;

use moat_ir::Cluster;
use moat_ir::service::backends;

use crate::error::CompileError;
use crate::image::format::ServiceName;
use crate::layout::{
    BackendValue, MaglevValue, RevnatValue, SVC_F_MAGLEV, ServiceKey, ServiceValue, encode_addr,
};
use crate::maglev;

/// The datapath's backend selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LbMode {
    /// Consistent hashing of the flow over a per-service Maglev table.
    #[default]
    Maglev,
    /// A random backend per new connection.
    Random,
}

/// Load-balancing choices.
#[derive(Debug, Clone, Copy, Default)]
pub struct LbOptions {
    pub mode: LbMode,
    /// Maglev table size for every service (prime); `None` sizes each table
    /// by [`maglev::default_size`].
    pub maglev_size: Option<u32>,
}

#[derive(Debug, Default)]
pub struct ServiceTables {
    pub services: Vec<(ServiceKey, ServiceValue)>,
    pub backends: Vec<BackendValue>,
    pub maglev: Vec<MaglevValue>,
    pub revnat: Vec<(u32, RevnatValue)>,
    pub names: Vec<ServiceName>,
}

/// Builds the service maps of a cluster.
pub fn build(cluster: &Cluster, options: &LbOptions) -> Result<ServiceTables, CompileError> {
    if let Some(size) = options.maglev_size
        && (!maglev::is_prime(u64::from(size)) || !(7..=maglev::MAX_SIZE).contains(&size))
    {
        return Err(CompileError::MaglevSize { size });
    }
    let mut out = ServiceTables::default();
    let mut by_namespace = NamespacePods::default();
    for service in &cluster.services {
        let Some(cluster_ip) = service.cluster_ip else {
            continue;
        };
        if service.headless || service.service_type == "ExternalName" {
            continue;
        }
        for port in &service.ports {
            let scope = match service.endpoints {
                Some(_) => cluster,
                None => by_namespace.get(cluster, &service.namespace),
            };
            let mut found: Vec<(IpAddr, u16)> = backends(scope, service, port)
                .into_iter()
                .filter_map(|b| Some((b.ip?, b.port)))
                .collect();
            found.sort();
            found.dedup();
            let frontend = Frontend {
                ip: cluster_ip,
                port: port.port,
                protocol: port.protocol.ip_number(),
            };
            let name = ServiceName {
                id: 0,
                namespace: service.namespace.clone(),
                name: service.name.clone(),
                port_name: port.name.clone(),
            };
            out.add(frontend, &found, name, options)?;
        }
    }
    Ok(out)
}

/// Clusters holding only one namespace's pods. A selector only picks pods of
/// the service's own namespace, so `backends` returns the same backends from them
/// without scanning every pod of the cluster for every service port.
#[derive(Default)]
struct NamespacePods {
    clusters: HashMap<String, Cluster>,
}

impl NamespacePods {
    fn get<'a>(&'a mut self, cluster: &Cluster, namespace: &str) -> &'a Cluster {
        if self.clusters.is_empty() {
            for pod in &cluster.pods {
                let scope = self.clusters.entry(pod.namespace.clone()).or_default();
                scope.pods.push(pod.clone());
            }
        }
        self.clusters.entry(namespace.to_string()).or_default()
    }
}

struct Frontend {
    ip: IpAddr,
    port: u16,
    protocol: u8,
}

impl ServiceTables {
    fn add(
        &mut self,
        frontend: Frontend,
        found: &[(IpAddr, u16)],
        mut name: ServiceName,
        options: &LbOptions,
    ) -> Result<(), CompileError> {
        let id = u32::try_from(self.services.len() + 1).map_err(|_| CompileError::TooMany {
            what: "service ids",
        })?;
        let backend_offset = len_u32(self.backends.len())?;
        for &(ip, port) in found {
            let (addr, family) = encode_addr(ip);
            self.backends.push(BackendValue {
                addr,
                port: port.to_be_bytes(),
                family,
                flags: 0,
            });
        }
        let count = len_u32(found.len())?;
        let maglev_offset = len_u32(self.maglev.len())?;
        let maglev_size = self.add_maglev(found, backend_offset, &name, options)?;

        let (addr, family) = encode_addr(frontend.ip);
        let key = ServiceKey {
            addr,
            port: frontend.port.to_be_bytes(),
            protocol: frontend.protocol,
            family,
        };
        let flags = if maglev_size > 0 { SVC_F_MAGLEV } else { 0 };
        let value = ServiceValue {
            service_id: id,
            backend_offset,
            backend_count: count,
            maglev_offset,
            maglev_size,
            flags,
        };
        self.services.push((key, value));
        let port = frontend.port.to_be_bytes();
        self.revnat.push((
            id,
            RevnatValue {
                addr,
                port,
                family,
                pad: 0,
            },
        ));
        name.id = id;
        self.names.push(name);
        Ok(())
    }

    /// Appends the Maglev slots of one frontend; returns the table size (0 for none).
    fn add_maglev(
        &mut self,
        found: &[(IpAddr, u16)],
        backend_offset: u32,
        name: &ServiceName,
        options: &LbOptions,
    ) -> Result<u32, CompileError> {
        if options.mode != LbMode::Maglev || found.is_empty() {
            return Ok(0);
        }
        let size = options
            .maglev_size
            .unwrap_or_else(|| maglev::default_size(found.len()));
        if (size as usize) < found.len() {
            return Err(CompileError::MaglevTooSmall {
                service: format!("{}/{}", name.namespace, name.name),
                size,
                backends: found.len(),
            });
        }
        let names: Vec<String> = found
            .iter()
            .map(|(ip, port)| format!("{ip}:{port}"))
            .collect();
        for slot in maglev::populate(&names, size) {
            self.maglev.push(MaglevValue {
                backend: backend_offset.saturating_add(slot),
            });
        }
        Ok(size)
    }
}

fn len_u32(len: usize) -> Result<u32, CompileError> {
    u32::try_from(len).map_err(|_| CompileError::TooMany {
        what: "map entries",
    })
}

#[cfg(test)]
mod tests {
    use moat_ir::{LoadOptions, load_str};

    use super::*;

    const MANIFESTS: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web-a, namespace: a, labels: {app: web}}
spec:
  containers: [{name: c, image: nginx, ports: [{name: http, containerPort: 8080}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: web-b, namespace: b, labels: {app: web}}
spec:
  containers: [{name: c, image: nginx, ports: [{name: http, containerPort: 9090}]}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: a}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: headless, namespace: a}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 80}]
"#;

    fn tables(options: &LbOptions) -> ServiceTables {
        let loaded = load_str("services.yaml", MANIFESTS, &LoadOptions::default());
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        build(&loaded.cluster, options).unwrap()
    }

    #[test]
    fn selector_picks_own_namespace_only() {
        let out = tables(&LbOptions::default());
        assert_eq!(
            out.services.len(),
            1,
            "the headless service has no frontend"
        );
        assert_eq!(out.backends.len(), 1);
        assert_eq!(out.backends[0].port, 8080u16.to_be_bytes());
    }

    #[test]
    fn maglev_slots_point_at_backends() {
        let out = tables(&LbOptions::default());
        let (_, value) = out.services[0];
        assert_eq!(value.maglev_size, 1021);
        assert_eq!(out.maglev.len(), 1021);
        assert!(out.maglev.iter().all(|m| m.backend == value.backend_offset));
        assert_eq!(out.revnat[0].0, value.service_id);
    }

    #[test]
    fn random_mode_has_no_maglev() {
        let options = LbOptions {
            mode: LbMode::Random,
            maglev_size: None,
        };
        let out = tables(&options);
        assert!(out.maglev.is_empty());
        assert_eq!(out.services[0].1.flags & SVC_F_MAGLEV, 0);
    }

    #[test]
    fn non_prime_size_is_rejected() {
        let options = LbOptions {
            mode: LbMode::Maglev,
            maglev_size: Some(100),
        };
        let loaded = load_str("services.yaml", MANIFESTS, &LoadOptions::default());
        let error = build(&loaded.cluster, &options).unwrap_err();
        assert!(error.to_string().contains("must be a prime"), "{error}");
    }

    #[test]
    fn huge_size_is_rejected_before_allocating() {
        let options = LbOptions {
            mode: LbMode::Maglev,
            maglev_size: Some(4_294_967_291),
        };
        let loaded = load_str("services.yaml", MANIFESTS, &LoadOptions::default());
        let error = build(&loaded.cluster, &options).unwrap_err();
        assert!(error.to_string().contains("from 7 to 1048573"), "{error}");
    }
}
