//! `unresolved-named-port`: a rule names a container port that no destination declares.
//!
//! A named port resolves on the destination pod. For an ingress rule the
//! destinations are the policy's subject pods; for an egress rule they are
//! the pods its peers match. When none of them declares the name with the
//! rule's protocol, the port entry matches nothing.

use moat_ir::eval::{peer_matches, subject_selects};
use moat_ir::{Cluster, Direction, FlowEnd, Peers, PortMatch, Ports};

use crate::describe::policy_text;
use crate::finding::Finding;

pub fn unresolved_named_ports(cluster: &Cluster) -> Vec<Finding> {
    let mut out = Vec::new();
    if cluster.pods.is_empty() {
        return out;
    }
    for (p, policy) in cluster.policies.iter().enumerate() {
        for rule in &policy.rules {
            let Ports::List(list) = &rule.ports else {
                continue;
            };
            let destinations: Vec<usize> = (0..cluster.pods.len())
                .filter(|&i| {
                    let Some(pod) = cluster.pods.get(i) else {
                        return false;
                    };
                    match rule.direction {
                        Direction::Ingress => subject_selects(cluster, policy, pod),
                        Direction::Egress => match &rule.peers {
                            Peers::Any => true,
                            Peers::List(peers) => peers
                                .iter()
                                .any(|peer| peer_matches(cluster, peer, FlowEnd::Pod(i))),
                        },
                    }
                })
                .collect();
            if destinations.is_empty() {
                continue;
            }
            for port in list {
                let PortMatch::Named(name) = &port.port else {
                    continue;
                };
                let declared = destinations.iter().any(|&i| {
                    cluster
                        .pods
                        .get(i)
                        .is_some_and(|pod| pod.named_port(name, port.protocol).is_some())
                });
                if declared {
                    continue;
                }
                let message = format!(
                    "port `{name}` ({}) of {} {}[{}] is declared by none of its {} destination pods",
                    port.protocol,
                    policy_text(cluster, p),
                    rule.direction,
                    rule.index,
                    destinations.len()
                );
                out.push(
                    Finding::new("unresolved-named-port", message)
                        .at(rule.origin.clone())
                        .with_label("this port entry matches nothing")
                        .with_help("declare the name under the container's `ports`, or write the port number"),
                );
            }
        }
    }
    out
}
