//! What a probe run sends and what it expects: every ordered pod pair,
//! every ClusterIP port and every outside address, each with the reference
//! evaluator's prediction, and the comparison with what the kernel did.

use std::net::IpAddr;

use moat_ir::service::service_verdict;
use moat_ir::{Cluster, Flow, FlowEnd, Protocol, verdict};
use serde::Serialize;

use super::probe::{Attempt, Outcome};
use super::state::{L4Port, State};

/// One flow to probe, in `moat eval`'s terms, with its prediction.
#[derive(Debug, Clone)]
pub struct ProbeFlow {
    /// `ns/pod` or `ip:<address>`.
    pub src: String,
    /// `ns/pod`, `svc:ns/name` or `ip:<address>`.
    pub dst: String,
    pub protocol: Protocol,
    pub port: u16,
    pub attempt: Attempt,
    pub prediction: Prediction,
}

/// The reference evaluator's verdict for a flow.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Prediction {
    Direct {
        allowed: bool,
    },
    /// One verdict per backend pod (`None` for a backend outside the cluster).
    Service {
        backends: Vec<(Option<String>, bool)>,
    },
}

impl Prediction {
    /// `allow`, `deny`, or `mixed` when service backends disagree.
    pub fn word(&self) -> &'static str {
        match self {
            Prediction::Direct { allowed: true } => "allow",
            Prediction::Direct { allowed: false } => "deny",
            Prediction::Service { backends } => {
                let allowed = backends.iter().filter(|(_, a)| *a).count();
                match allowed {
                    0 => "deny",
                    n if n == backends.len() => "allow",
                    _ => "mixed",
                }
            }
        }
    }
}

/// A probed flow: the kernel's outcome and whether it matches the prediction.
#[derive(Debug, Clone, Serialize)]
pub struct Observation {
    pub src: String,
    pub dst: String,
    pub protocol: String,
    pub port: u16,
    pub kernel: &'static str,
    pub predicted: &'static str,
    pub outcome: Outcome,
    pub agrees: bool,
    /// Reason for a disagreement, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Observation {
    /// Formats the flow as `moat eval` does, with the kernel's verdict.
    pub fn flow_line(&self) -> String {
        format!(
            "{} -> {} {}/{} {}",
            self.src, self.dst, self.protocol, self.port, self.kernel
        )
    }
}

/// Lists the flows to probe: every ordered pair of distinct pods, each pod
/// to each ClusterIP port, each pod to and from each outside address.
///
/// With `ports`, pod and outside destinations are probed on those ports and
/// services only on matching ports; otherwise each pod on its declared
/// container ports, outside addresses on TCP 80, services on all ports.
pub fn flows(state: &State, cluster: &Cluster, ports: Option<&[L4Port]>) -> Vec<ProbeFlow> {
    let mut flows = Vec::new();
    let default_outside = [L4Port {
        protocol: Protocol::Tcp,
        port: 80,
    }];
    for src in &state.pods {
        let src_end = pod_end(cluster, &src.key);
        for dst in state.pods.iter().filter(|d| d.key != src.key) {
            for port in ports.unwrap_or(&dst.ports) {
                let flow = Flow {
                    src: src_end,
                    dst: pod_end(cluster, &dst.key),
                    protocol: port.protocol,
                    port: port.port,
                };
                flows.push(ProbeFlow {
                    src: src.key.clone(),
                    dst: dst.key.clone(),
                    protocol: port.protocol,
                    port: port.port,
                    attempt: attempt(&src.netns, None, dst.ip, *port),
                    prediction: Prediction::Direct {
                        allowed: verdict(cluster, &flow).allowed,
                    },
                });
            }
        }
        service_flows(state, cluster, src, ports, &mut flows);
        for address in &state.outside.addresses {
            for port in ports.unwrap_or(&default_outside) {
                let flow = Flow {
                    src: src_end,
                    dst: cluster.end_for_ip(IpAddr::V4(*address)),
                    protocol: port.protocol,
                    port: port.port,
                };
                flows.push(ProbeFlow {
                    src: src.key.clone(),
                    dst: format!("ip:{address}"),
                    protocol: port.protocol,
                    port: port.port,
                    attempt: attempt(&src.netns, None, *address, *port),
                    prediction: Prediction::Direct {
                        allowed: verdict(cluster, &flow).allowed,
                    },
                });
            }
        }
    }
    inbound_flows(state, cluster, ports, &mut flows);
    flows
}

fn service_flows(
    state: &State,
    cluster: &Cluster,
    src: &super::state::PodNode,
    ports: Option<&[L4Port]>,
    flows: &mut Vec<ProbeFlow>,
) {
    for service in &state.services {
        let Some((namespace, name)) = service.key.split_once('/') else {
            continue;
        };
        let Some(model) = cluster.service(namespace, name) else {
            continue;
        };
        for port in &service.ports {
            if ports.is_some_and(|p| !p.contains(&port.port)) {
                continue;
            }
            let Some(model_port) = model.port_for(port.port.protocol, port.port.port) else {
                continue;
            };
            let judged = service_verdict(cluster, pod_end(cluster, &src.key), model, model_port);
            let backends = judged
                .backends
                .iter()
                .map(|(b, v)| {
                    (
                        b.pod.and_then(|i| cluster.pods.get(i)).map(|p| p.key()),
                        v.allowed,
                    )
                })
                .collect();
            flows.push(ProbeFlow {
                src: src.key.clone(),
                dst: format!("svc:{}", service.key),
                protocol: port.port.protocol,
                port: port.port.port,
                attempt: attempt(&src.netns, None, service.cluster_ip, port.port),
                prediction: Prediction::Service { backends },
            });
        }
    }
}

/// Flows from each outside address to each pod.
fn inbound_flows(
    state: &State,
    cluster: &Cluster,
    ports: Option<&[L4Port]>,
    flows: &mut Vec<ProbeFlow>,
) {
    for address in &state.outside.addresses {
        for dst in &state.pods {
            for port in ports.unwrap_or(&dst.ports) {
                let flow = Flow {
                    src: cluster.end_for_ip(IpAddr::V4(*address)),
                    dst: pod_end(cluster, &dst.key),
                    protocol: port.protocol,
                    port: port.port,
                };
                flows.push(ProbeFlow {
                    src: format!("ip:{address}"),
                    dst: dst.key.clone(),
                    protocol: port.protocol,
                    port: port.port,
                    attempt: attempt(&state.outside.netns, Some(*address), dst.ip, *port),
                    prediction: Prediction::Direct {
                        allowed: verdict(cluster, &flow).allowed,
                    },
                });
            }
        }
    }
}

fn attempt(
    netns: &str,
    src_ip: Option<std::net::Ipv4Addr>,
    dst: std::net::Ipv4Addr,
    port: L4Port,
) -> Attempt {
    Attempt {
        src_netns: netns.to_string(),
        src_ip,
        src_port: None,
        dst,
        protocol: port.protocol,
        port: port.port,
    }
}

/// The cluster end of a sandbox pod; sandbox pods come from the cluster, so
/// the lookup only fails on a state file edited by hand.
fn pod_end(cluster: &Cluster, key: &str) -> FlowEnd {
    key.split_once('/')
        .and_then(|(ns, name)| cluster.pod_index(ns, name))
        .map_or(FlowEnd::External(IpAddr::from([0, 0, 0, 0])), FlowEnd::Pod)
}

/// Compares each outcome with its flow's prediction.
pub fn judge(flows: &[ProbeFlow], outcomes: &[Outcome]) -> Vec<Observation> {
    flows
        .iter()
        .zip(outcomes)
        .map(|(flow, outcome)| {
            let note = disagreement(flow, outcome);
            Observation {
                src: flow.src.clone(),
                dst: flow.dst.clone(),
                protocol: flow.protocol.lower().to_string(),
                port: flow.port,
                kernel: if outcome.reached() { "allow" } else { "deny" },
                predicted: flow.prediction.word(),
                outcome: outcome.clone(),
                agrees: note.is_none(),
                note,
            }
        })
        .collect()
}

/// Explains why an outcome contradicts the prediction; `None` when it matches.
fn disagreement(flow: &ProbeFlow, outcome: &Outcome) -> Option<String> {
    if let Outcome::Failed { error } = outcome {
        return Some(format!("probe failed: {error}"));
    }
    match &flow.prediction {
        Prediction::Direct { allowed } => {
            if let Some(peer) = outcome
                .peer()
                .filter(|p| flow.dst.contains('/') && *p != flow.dst)
            {
                return Some(format!("answered by `{peer}` instead of `{}`", flow.dst));
            }
            (outcome.reached() != *allowed).then(|| format!("predicted {}", flow.prediction.word()))
        }
        Prediction::Service { backends } => service_disagreement(backends, outcome),
    }
}

fn service_disagreement(backends: &[(Option<String>, bool)], outcome: &Outcome) -> Option<String> {
    let any_allowed = backends.iter().any(|(_, a)| *a);
    let any_denied = backends.is_empty() || backends.iter().any(|(_, a)| !*a);
    if let Some(peer) = outcome.peer() {
        return match backends
            .iter()
            .find(|(pod, _)| pod.as_deref() == Some(peer))
        {
            Some((_, true)) => None,
            Some((_, false)) => Some(format!("backend `{peer}` answered but policy denies it")),
            None => Some(format!("answered by `{peer}`, which is not a backend")),
        };
    }
    match outcome.reached() {
        true if !any_allowed => Some("predicted deny for every backend".to_string()),
        false if !any_denied => Some("predicted allow for every backend".to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backends() -> Vec<(Option<String>, bool)> {
        vec![
            (Some("x/a".to_string()), true),
            (Some("x/b".to_string()), false),
        ]
    }

    fn connected(peer: &str) -> Outcome {
        Outcome::Connected {
            peer: Some(peer.to_string()),
        }
    }

    #[test]
    fn service_answer_from_allowed_backend_agrees() {
        assert_eq!(service_disagreement(&backends(), &connected("x/a")), None);
    }

    #[test]
    fn service_answer_from_denied_backend_disagrees() {
        let note = service_disagreement(&backends(), &connected("x/b"));
        assert!(note.unwrap().contains("policy denies"));
    }

    #[test]
    fn service_answer_from_stranger_disagrees() {
        let note = service_disagreement(&backends(), &connected("y/z"));
        assert!(note.unwrap().contains("not a backend"));
    }

    #[test]
    fn service_timeout_agrees_when_some_backend_denies() {
        assert_eq!(service_disagreement(&backends(), &Outcome::Timeout), None);
        let all_allow = vec![(Some("x/a".to_string()), true)];
        assert!(service_disagreement(&all_allow, &Outcome::Timeout).is_some());
        assert_eq!(service_disagreement(&[], &Outcome::Timeout), None);
    }

    #[test]
    fn prediction_words() {
        assert_eq!(Prediction::Direct { allowed: true }.word(), "allow");
        assert_eq!(
            Prediction::Service {
                backends: backends()
            }
            .word(),
            "mixed"
        );
        assert_eq!(
            Prediction::Service {
                backends: Vec::new()
            }
            .word(),
            "deny"
        );
    }
}
