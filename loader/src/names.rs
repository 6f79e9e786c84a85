//! Names behind the numbers of the kernel maps: pods, rules and identities,
//! from the provenance of the loaded image, and flow events decoded with them.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use moat_compiler::Image;
use moat_compiler::image::format::to_hex;
use serde::Serialize;

use crate::error::LoaderError;
use crate::layout::{self, FlowEvent};

/// Directory where loaded images are kept under their content hash, so
/// `moat monitor` and `moat bpf` can name what the maps number.
pub const IMAGE_STORE: &str = "/run/moat/images";

/// Path of the stored copy of the image with content hash `hash`.
pub fn stored_image_path(hash: &[u8; 32]) -> PathBuf {
    Path::new(IMAGE_STORE).join(format!("{}.moat", to_hex(hash)))
}

/// Stores `bytes` (an encoded image) under its content hash.
pub fn store_image(hash: &[u8; 32], bytes: &[u8]) -> Result<PathBuf, LoaderError> {
    let path = stored_image_path(hash);
    let fs_error = |operation, source| LoaderError::Fs {
        operation,
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(IMAGE_STORE).map_err(|e| fs_error("create the directory of", e))?;
    std::fs::write(&path, bytes).map_err(|e| fs_error("write", e))?;
    prune_store(Path::new(IMAGE_STORE), STORE_KEEP);
    Ok(path)
}

/// Number of images the store keeps; older ones are removed.
const STORE_KEEP: usize = 64;

/// Removes all but the `keep` most recently written images of `dir`.
fn prune_store(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut images: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|ext| ext == "moat"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    if images.len() <= keep {
        return;
    }
    images.sort();
    let excess = images.len() - keep;
    for (_, path) in images.into_iter().take(excess) {
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::debug!(path = %path.display(), error = %e, "failed to prune a stored image");
        }
    }
}

/// Reads the stored image with content hash `hash`, if there is one.
pub fn stored_image(hash: &[u8; 32]) -> Option<Image> {
    let bytes = std::fs::read(stored_image_path(hash)).ok()?;
    moat_compiler::decode(&bytes).ok()
}

/// Lookups from map numbers to names; empty when no image is known.
#[derive(Debug, Default)]
pub struct Names {
    image: Option<Image>,
}

/// The rule that decided a flow, as the manifests name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleName {
    pub id: u32,
    /// `namespace/name` of the policy, or the name of a cluster-scoped one.
    pub policy: String,
    pub kind: String,
    pub direction: String,
    pub action: String,
    /// `file:line` of the rule in the manifests.
    pub location: Option<String>,
}

impl Names {
    pub fn new(image: Option<Image>) -> Self {
        Self { image }
    }

    /// Returns the pod (`namespace/name`) with address `ip`.
    pub fn pod(&self, ip: Ipv4Addr) -> Option<String> {
        let image = self.image.as_ref()?;
        image
            .provenance
            .endpoints
            .iter()
            .find(|e| e.ip == IpAddr::V4(ip))
            .map(|e| format!("{}/{}", e.namespace, e.pod))
    }

    /// Returns the address of pod `namespace/name`. A workload name such as
    /// `default/web-server` also matches when exactly one pod is named
    /// after it (`default/web-server-0`).
    pub fn pod_ip(&self, pod: &str) -> Option<Ipv4Addr> {
        let image = self.image.as_ref()?;
        let (namespace, name) = pod.split_once('/')?;
        let endpoints = &image.provenance.endpoints;
        let in_namespace = || endpoints.iter().filter(|e| e.namespace == namespace);
        let exact = in_namespace().find(|e| e.pod == name);
        let prefix = format!("{name}-");
        let mut by_workload = in_namespace().filter(|e| e.pod.starts_with(&prefix));
        let found = match exact {
            Some(e) => Some(e),
            None => match (by_workload.next(), by_workload.next()) {
                (Some(e), None) => Some(e),
                _ => None,
            },
        };
        match found?.ip {
            IpAddr::V4(ip) => Some(ip),
            IpAddr::V6(_) => None,
        }
    }

    pub fn rule(&self, id: u32) -> Option<RuleName> {
        let image = self.image.as_ref()?;
        let rule = image.provenance.rules.get(id as usize)?;
        let policy = match &rule.namespace {
            Some(ns) => format!("{ns}/{}", rule.name),
            None => rule.name.clone(),
        };
        Some(RuleName {
            id,
            policy,
            kind: rule.policy_kind.clone(),
            direction: rule.direction.clone(),
            action: rule.action.clone(),
            location: rule.location.clone(),
        })
    }

    /// Labels of an identity, joined by commas, or its number.
    pub fn identity(&self, id: u32) -> String {
        let found = self
            .image
            .as_ref()
            .and_then(|image| image.provenance.identities.iter().find(|i| i.id == id));
        match (id, found) {
            (_, Some(info)) if !info.labels.is_empty() => info.labels.join(","),
            (_, Some(info)) => info.kind.clone(),
            (1, None) => "host".to_owned(),
            _ => id.to_string(),
        }
    }

    /// Returns the service (`namespace/name`) with id `id`.
    pub fn service(&self, id: u32) -> Option<String> {
        let image = self.image.as_ref()?;
        let svc = image.provenance.services.iter().find(|s| s.id == id)?;
        Some(format!("{}/{}", svc.namespace, svc.name))
    }
}

/// A flow event with addresses, pods and the deciding rule spelled out.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub timestamp_ns: u64,
    pub verdict: &'static str,
    pub drop_reason: Option<&'static str>,
    pub protocol: &'static str,
    pub source: String,
    pub destination: String,
    pub source_pod: Option<String>,
    pub destination_pod: Option<String>,
    /// ClusterIP:port the client addressed, for service flows.
    pub service: Option<String>,
    pub source_identity: String,
    pub destination_identity: String,
    pub rule: Option<RuleName>,
    pub generation: u32,
    pub hook: &'static str,
    pub new: bool,
    pub rejudged: bool,
    pub reply: bool,
    #[serde(skip)]
    pub event: FlowEvent,
}

pub fn protocol_name(protocol: u8) -> &'static str {
    match protocol {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        132 => "sctp",
        _ => "other",
    }
}

/// Decodes an event for display.
pub fn describe(event: &FlowEvent, names: &Names) -> EventView {
    let saddr = Ipv4Addr::from(event.saddr);
    let daddr = Ipv4Addr::from(event.daddr);
    let sport = u16::from_be_bytes(event.sport);
    let dport = u16::from_be_bytes(event.dport);
    let flag = |bit: u8| event.flags & bit != 0;
    EventView {
        timestamp_ns: event.timestamp_ns,
        verdict: crate::inspect::verdict_name(event.verdict),
        drop_reason: (event.drop_reason != 0).then(|| layout::drop_reason_name(event.drop_reason)),
        protocol: protocol_name(event.protocol),
        source: format!("{saddr}:{sport}"),
        destination: format!("{daddr}:{dport}"),
        source_pod: names.pod(saddr),
        destination_pod: names.pod(daddr),
        service: flag(layout::EVENT_F_SERVICE).then(|| {
            format!(
                "{}:{}",
                Ipv4Addr::from(event.service_addr),
                u16::from_be_bytes(event.service_port)
            )
        }),
        source_identity: names.identity(event.src_identity),
        destination_identity: names.identity(event.dst_identity),
        rule: (event.rule_id != layout::RULE_NONE)
            .then(|| names.rule(event.rule_id))
            .flatten(),
        generation: event.generation,
        hook: if event.hook == layout::HOOK_TO_POD {
            "to-pod"
        } else {
            "from-pod"
        },
        new: flag(layout::EVENT_F_NEW),
        rejudged: flag(layout::EVENT_F_REJUDGED),
        reply: flag(layout::EVENT_F_REPLY),
        event: *event,
    }
}

impl EventView {
    /// Formats the event as one line for `moat monitor`.
    pub fn line(&self) -> String {
        let end = |addr: &str, pod: &Option<String>| match pod {
            Some(pod) => format!("{pod} ({addr})"),
            None => addr.to_owned(),
        };
        let mut line = format!(
            "{} {} {} -> {}",
            self.verdict.to_uppercase(),
            self.protocol,
            end(&self.source, &self.source_pod),
            end(&self.destination, &self.destination_pod)
        );
        if let Some(service) = &self.service {
            line.push_str(&format!(" via service {service}"));
        }
        if let Some(reason) = self.drop_reason {
            line.push_str(&format!(" reason {reason}"));
        }
        if let Some(rule) = &self.rule {
            line.push_str(&format!(
                " by {} {} ({})",
                rule.kind, rule.policy, rule.action
            ));
            if let Some(location) = &rule.location {
                line.push_str(&format!(" at {location}"));
            }
        }
        line.push_str(&format!(" gen {}", self.generation));
        if self.rejudged {
            line.push_str(" (re-judged)");
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTER: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: web-server-0, namespace: default, labels: {app: web}}
spec: {containers: [{name: c, image: nginx, ports: [{containerPort: 80}]}]}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
spec: {containers: [{name: c, image: busybox}]}
status: {podIP: 10.0.0.1}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: isolate-web, namespace: default}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
"#;

    fn names() -> Names {
        let loaded = moat_ir::load_str("cluster.yaml", CLUSTER, &moat_ir::LoadOptions::default());
        let image =
            moat_compiler::compile(&loaded.cluster, &moat_compiler::CompileOptions::default())
                .expect("compiles");
        Names::new(Some(image))
    }

    #[test]
    fn pod_lookup_by_name_and_workload() {
        let names = names();
        assert_eq!(
            names.pod(Ipv4Addr::new(10, 0, 0, 2)).as_deref(),
            Some("default/web-server-0")
        );
        assert_eq!(
            names.pod_ip("default/web-server-0"),
            Some(Ipv4Addr::new(10, 0, 0, 2))
        );
        assert_eq!(
            names.pod_ip("default/web-server"),
            Some(Ipv4Addr::new(10, 0, 0, 2))
        );
        assert_eq!(
            names.pod_ip("default/client"),
            Some(Ipv4Addr::new(10, 0, 0, 1))
        );
        assert_eq!(names.pod_ip("other/client"), None);
        assert_eq!(names.pod_ip("no-slash"), None);
    }

    #[test]
    fn drop_event_names_policy_and_line() {
        let names = names();
        let rule = (0..8)
            .filter_map(|id| names.rule(id))
            .find(|r| r.policy == "default/isolate-web")
            .expect("the isolating policy has a rule id");
        assert_eq!(rule.location.as_deref(), Some("cluster.yaml:14"));

        let event = FlowEvent {
            saddr: [10, 0, 0, 1],
            daddr: [10, 0, 0, 2],
            sport: 40000u16.to_be_bytes(),
            dport: 80u16.to_be_bytes(),
            protocol: 6,
            verdict: layout::VERDICT_DROPPED,
            drop_reason: -2,
            rule_id: rule.id,
            generation: 3,
            flags: layout::EVENT_F_NEW,
            ..FlowEvent::default()
        };
        let view = describe(&event, &names);
        assert_eq!(view.verdict, "dropped");
        assert_eq!(view.drop_reason, Some("policy-ingress"));
        assert_eq!(
            view.line(),
            "DROPPED tcp default/client (10.0.0.1:40000) -> default/web-server-0 (10.0.0.2:80) \
             reason policy-ingress by NetworkPolicy default/isolate-web (deny) at cluster.yaml:14 gen 3"
        );
    }

    #[test]
    fn store_keeps_newest_images() {
        let dir = std::env::temp_dir().join(format!("moat-store-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        for i in 0..5 {
            std::fs::write(dir.join(format!("{i}.moat")), b"x").expect("write");
            // Distinct modification times, oldest first.
            let time = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1000 + i);
            let file = std::fs::File::options()
                .write(true)
                .open(dir.join(format!("{i}.moat")));
            file.expect("open").set_modified(time).expect("set time");
        }
        std::fs::write(dir.join("other.txt"), b"x").expect("write");
        prune_store(&dir, 2);
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .expect("list")
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(left, ["3.moat", "4.moat", "other.txt"]);
    }

    #[test]
    fn names_without_image_fall_back_to_numbers() {
        let names = Names::default();
        assert_eq!(names.pod(Ipv4Addr::new(10, 0, 0, 1)), None);
        assert_eq!(names.identity(1), "host");
        assert_eq!(names.identity(300), "300");
        assert_eq!(names.rule(0), None);
    }
}
