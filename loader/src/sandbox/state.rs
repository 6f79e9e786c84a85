//! The record of a running sandbox under `/run/moat/<name>/`, so that
//! separate `moat sandbox` commands find what `up` built.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use moat_ir::Protocol;
use serde::{Deserialize, Serialize};

use super::SandboxError;

/// Parent directory of every sandbox's directory.
pub const RUN_DIR: &str = "/run/moat";

const STATE_FILE: &str = "state.json";

/// Forwarding and filtering in the node namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DatapathMode {
    /// The moat eBPF programs on every pod veth enforce the compiled image.
    Ebpf,
    /// A plain router with nftables DNAT for ClusterIPs and no policy.
    None,
}

/// A transport port, as stored in the state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct L4Port {
    #[serde(with = "protocol_name")]
    pub protocol: Protocol,
    pub port: u16,
}

/// One pod of the sandbox: its namespace, veth pair and workloads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PodNode {
    /// `namespace/name` in the manifests.
    pub key: String,
    pub netns: String,
    pub ip: Ipv4Addr,
    /// Name of the host-side veth in the node namespace.
    pub host_veth: String,
    pub host_mac: String,
    /// MAC address of the pod's `eth0`.
    pub pod_mac: String,
    /// Interface index of the host-side veth in the node namespace.
    pub host_ifindex: u32,
    /// TCP ports served by nginx.
    pub nginx_ports: Vec<u16>,
    /// Ports served by the built-in responder; SCTP ports have no listener
    /// because the kernel has no SCTP stack.
    pub responder_ports: Vec<L4Port>,
    /// Every declared container port.
    pub ports: Vec<L4Port>,
}

/// One ClusterIP port with its backends after target-port resolution.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServicePortNode {
    pub port: L4Port,
    pub backends: Vec<(Ipv4Addr, u16)>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServiceNode {
    /// `namespace/name` in the manifests.
    pub key: String,
    pub cluster_ip: Ipv4Addr,
    pub ports: Vec<ServicePortNode>,
}

/// The namespace that stands for everything outside the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutsideNode {
    pub netns: String,
    /// Addresses outside the cluster that policies name, served here.
    pub addresses: Vec<Ipv4Addr>,
    /// Interface index of the node-side veth towards this namespace.
    pub host_ifindex: u32,
    pub ports: Vec<L4Port>,
}

/// Options the manifests were loaded with; `apply` and `probe` reuse them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadSettings {
    pub pod_cidr: ipnet::IpNet,
    pub service_cidr: ipnet::IpNet,
    pub ipblock_matches_pods: bool,
}

/// Everything a running sandbox consists of.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub name: String,
    pub node_ns: String,
    pub datapath: DatapathMode,
    /// Manifest paths of the image in force, absolute.
    pub manifests: Vec<PathBuf>,
    pub load: LoadSettings,
    pub pods: Vec<PodNode>,
    pub services: Vec<ServiceNode>,
    pub outside: OutsideNode,
    /// Workload processes started by `up`.
    pub pids: Vec<u32>,
    /// Counts images loaded into the sandbox, starting at 1 for `up`.
    pub generation: u64,
}

impl State {
    /// Returns the directory of the sandbox called `name`.
    pub fn dir_of(name: &str) -> PathBuf {
        Path::new(RUN_DIR).join(name)
    }

    pub fn dir(&self) -> PathBuf {
        Self::dir_of(&self.name)
    }

    /// Lists every namespace of the sandbox, the node namespace first.
    pub fn namespaces(&self) -> Vec<String> {
        let mut names = vec![self.node_ns.clone(), self.outside.netns.clone()];
        names.extend(self.pods.iter().map(|p| p.netns.clone()));
        names
    }

    pub fn pod(&self, key: &str) -> Option<&PodNode> {
        self.pods.iter().find(|p| p.key == key)
    }

    /// Writes the state file, replacing it atomically.
    pub fn save(&self) -> Result<(), SandboxError> {
        let dir = self.dir();
        std::fs::create_dir_all(&dir).map_err(|source| io(&dir, "create", source))?;
        let text = serde_json::to_string_pretty(self).map_err(|e| SandboxError::State {
            name: self.name.clone(),
            message: e.to_string(),
        })?;
        let tmp = dir.join("state.json.tmp");
        std::fs::write(&tmp, text).map_err(|source| io(&tmp, "write", source))?;
        let path = dir.join(STATE_FILE);
        std::fs::rename(&tmp, &path).map_err(|source| io(&path, "replace", source))
    }

    /// Reads the state of the sandbox called `name`.
    pub fn load(name: &str) -> Result<State, SandboxError> {
        let path = Self::dir_of(name).join(STATE_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => SandboxError::NotRunning {
                name: name.to_string(),
            },
            _ => io(&path, "read", e),
        })?;
        serde_json::from_str(&text).map_err(|e| SandboxError::State {
            name: name.to_string(),
            message: e.to_string(),
        })
    }

    /// Names of the sandboxes that have a state file under [`RUN_DIR`].
    pub fn list() -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(RUN_DIR) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join(STATE_FILE).is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }
}

fn io(path: &Path, operation: &str, source: std::io::Error) -> SandboxError {
    SandboxError::Io {
        operation: format!("{operation} `{}`", path.display()),
        source,
    }
}

mod protocol_name {
    use moat_ir::Protocol;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(protocol: &Protocol, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(protocol.lower())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Protocol, D::Error> {
        let text = String::deserialize(d)?;
        Protocol::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown protocol `{text}`")))
    }
}
