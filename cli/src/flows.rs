//! The flow syntax shared by `eval`, `query` and the conformance files:
//! `<src> -> <dst> <proto>/<port>`, ends written `ns/pod`, `ip:<addr>` or `svc:ns/name`.

use std::net::IpAddr;

use moat_ir::service::{ServiceVerdict, service_verdict};
use moat_ir::{Cluster, Flow, FlowEnd, Protocol, Verdict, verdict};

/// One end as written by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndSpec {
    Pod { namespace: String, name: String },
    Ip(IpAddr),
    Service { namespace: String, name: String },
}

/// A parsed flow line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowSpec {
    pub src: EndSpec,
    pub dst: EndSpec,
    pub protocol: Protocol,
    pub port: u16,
}

/// The judgement of a flow spec: a direct verdict, or one per service backend.
pub enum Judgement {
    Direct(Verdict),
    Service(ServiceVerdict),
}

impl Judgement {
    /// `allow`, `deny`, or `mixed` when service backends disagree.
    pub fn word(&self) -> &'static str {
        match self {
            Judgement::Direct(v) if v.allowed => "allow",
            Judgement::Direct(_) => "deny",
            Judgement::Service(s) => match s.outcome() {
                moat_ir::service::ServiceOutcome::Allow => "allow",
                moat_ir::service::ServiceOutcome::Mixed => "mixed",
                _ => "deny",
            },
        }
    }
}

pub fn parse_end(text: &str) -> Result<EndSpec, String> {
    if let Some(ip) = text.strip_prefix("ip:") {
        return ip
            .parse()
            .map(EndSpec::Ip)
            .map_err(|_| format!("invalid IP address `{ip}`"));
    }
    if let Some(rest) = text.strip_prefix("svc:") {
        let (namespace, name) = split_name(rest)?;
        return Ok(EndSpec::Service { namespace, name });
    }
    let (namespace, name) = split_name(text)?;
    Ok(EndSpec::Pod { namespace, name })
}

fn split_name(text: &str) -> Result<(String, String), String> {
    match text.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_string(), name.to_string()))
        }
        _ => Err(format!("expected `namespace/name`, found `{text}`")),
    }
}

/// Parses `tcp/80`, `UDP/53` or `80/tcp`.
pub fn parse_port(text: &str) -> Result<(Protocol, u16), String> {
    let (a, b) = text
        .split_once('/')
        .ok_or_else(|| format!("expected `<proto>/<port>`, found `{text}`"))?;
    let (proto, port) = match Protocol::parse(a) {
        Some(p) => (p, b),
        None => (
            Protocol::parse(b).ok_or_else(|| format!("unknown protocol in `{text}`"))?,
            a,
        ),
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("invalid port `{port}` (expected 1 to 65535)"))?;
    Ok((proto, port))
}

pub fn parse_flow(line: &str) -> Result<FlowSpec, String> {
    let (src, rest) = line
        .split_once("->")
        .ok_or_else(|| "expected `<src> -> <dst> <proto>/<port>`".to_string())?;
    let mut words = rest.split_whitespace();
    let dst = words.next().ok_or("missing destination")?;
    let port = words.next().ok_or("missing `<proto>/<port>`")?;
    if let Some(extra) = words.next() {
        return Err(format!("unexpected `{extra}` after the port"));
    }
    let src = parse_end(src.trim())?;
    if matches!(src, EndSpec::Service { .. }) {
        return Err("a service can only be a destination".to_string());
    }
    let (protocol, port) = parse_port(port)?;
    Ok(FlowSpec {
        src,
        dst: parse_end(dst)?,
        protocol,
        port,
    })
}

/// Resolves a pod or IP end; an IP that belongs to a pod becomes that pod.
pub fn resolve_end(cluster: &Cluster, end: &EndSpec) -> Result<FlowEnd, String> {
    match end {
        EndSpec::Pod { namespace, name } => cluster
            .pod_index(namespace, name)
            .map(FlowEnd::Pod)
            .ok_or_else(|| format!("pod `{namespace}/{name}` not found")),
        EndSpec::Ip(ip) => Ok(cluster.end_for_ip(*ip)),
        EndSpec::Service { namespace, name } => {
            Err(format!("service `{namespace}/{name}` cannot be a source"))
        }
    }
}

/// Judges a flow spec against the cluster.
pub fn judge(cluster: &Cluster, spec: &FlowSpec) -> Result<Judgement, String> {
    let src = resolve_end(cluster, &spec.src)?;
    let service = match &spec.dst {
        EndSpec::Service { namespace, name } => Some(
            cluster
                .service(namespace, name)
                .ok_or_else(|| format!("service `{namespace}/{name}` not found"))?,
        ),
        EndSpec::Ip(ip) => cluster.service_by_ip(*ip),
        EndSpec::Pod { .. } => None,
    };
    if let Some(service) = service {
        let port = service.port_for(spec.protocol, spec.port).ok_or_else(|| {
            format!(
                "service `{}` has no port {}/{}",
                service.key(),
                spec.protocol.lower(),
                spec.port
            )
        })?;
        return Ok(Judgement::Service(service_verdict(
            cluster, src, service, port,
        )));
    }
    let dst = resolve_end(cluster, &spec.dst)?;
    let flow = Flow {
        src,
        dst,
        protocol: spec.protocol,
        port: spec.port,
    };
    Ok(Judgement::Direct(verdict(cluster, &flow)))
}
