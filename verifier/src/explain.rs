//! Explanations of one flow: every tier, policy and rule on both sides, and
//! for an unexpected verdict the rules that would have to change.

use moat_ir::eval::{peer_matches, subject_selects};
use moat_ir::{
    Action, Cluster, Decision, Direction, Flow, FlowEnd, Peers, PortMatch, Ports, Reason, RuleRef,
    Tier, verdict,
};
use serde::Serialize;

use crate::describe::{policy_text, rule_text};

/// One rule of a policy that selects the deciding pod.
#[derive(Debug, Clone, Serialize)]
pub struct RuleLine {
    pub rule: String,
    pub action: Action,
    pub matched: bool,
    pub decided: bool,
    pub location: Option<String>,
}

/// A policy that selects the deciding pod, with its rules for that direction.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyLine {
    pub policy: String,
    pub tier: Tier,
    pub priority: u32,
    pub isolates: bool,
    pub rules: Vec<RuleLine>,
}

/// One direction: egress at the source or ingress at the destination.
#[derive(Debug, Clone, Serialize)]
pub struct SideLine {
    pub direction: Direction,
    pub subject: String,
    pub allowed: bool,
    pub reason: String,
    pub policies: Vec<PolicyLine>,
}

/// A change that the expected verdict needs.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub target: String,
    pub location: Option<String>,
    pub how: String,
}

/// The whole chain of one flow.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub flow: String,
    pub allowed: bool,
    pub sides: Vec<SideLine>,
    /// With an expected verdict that differs: the rules to change, in the
    /// order evaluation meets them. Empty when the verdict is as expected.
    pub changes: Vec<Change>,
}

pub fn end_text(cluster: &Cluster, end: FlowEnd) -> String {
    match end {
        FlowEnd::Pod(i) => cluster.pods.get(i).map_or_else(String::new, |p| p.key()),
        FlowEnd::External(ip) => format!("ip:{ip}"),
    }
}

/// Explains a flow; with `expect`, also lists what would have to change.
pub fn explain(cluster: &Cluster, flow: &Flow, expect: Option<bool>) -> Explanation {
    let result = verdict(cluster, flow);
    let sides = vec![
        side(cluster, flow, Direction::Egress, &result.egress),
        side(cluster, flow, Direction::Ingress, &result.ingress),
    ];
    let changes = match expect {
        Some(expected) if expected != result.allowed => changes(cluster, flow, expected),
        _ => Vec::new(),
    };
    Explanation {
        flow: format!(
            "{} -> {} {}/{}",
            end_text(cluster, flow.src),
            end_text(cluster, flow.dst),
            flow.protocol.lower(),
            flow.port
        ),
        allowed: result.allowed,
        sides,
        changes,
    }
}

fn side(cluster: &Cluster, flow: &Flow, direction: Direction, decision: &Decision) -> SideLine {
    let (subject, peer) = match direction {
        Direction::Egress => (flow.src, flow.dst),
        Direction::Ingress => (flow.dst, flow.src),
    };
    let decided = match decision.reason {
        Reason::Rule(rule) => Some(rule),
        _ => None,
    };
    let mut policies = Vec::new();
    if let FlowEnd::Pod(i) = subject
        && let Some(pod) = cluster.pods.get(i)
    {
        let mut order: Vec<usize> = (0..cluster.policies.len())
            .filter(|&p| {
                cluster
                    .policies
                    .get(p)
                    .is_some_and(|x| subject_selects(cluster, x, pod))
            })
            .collect();
        order.sort_by_key(|&p| {
            cluster
                .policies
                .get(p)
                .map(|x| (x.tier, x.priority, x.name.clone()))
        });
        for p in order {
            let Some(policy) = cluster.policies.get(p) else {
                continue;
            };
            let rules = policy
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.direction == direction)
                .map(|(r, rule)| {
                    let reference = RuleRef { policy: p, rule: r };
                    RuleLine {
                        rule: rule_text(cluster, reference),
                        action: rule.action,
                        matched: peers_match(cluster, &rule.peers, peer)
                            && ports_match(cluster, &rule.ports, flow),
                        decided: decided == Some(reference),
                        location: rule.origin.as_ref().map(|o| o.short()),
                    }
                })
                .collect();
            policies.push(PolicyLine {
                policy: policy_text(cluster, p),
                tier: policy.tier,
                priority: policy.priority,
                isolates: policy.isolates(direction),
                rules,
            });
        }
    }
    SideLine {
        direction,
        subject: end_text(cluster, subject),
        allowed: decision.allowed,
        reason: reason_text(cluster, decision, direction),
        policies,
    }
}

fn peers_match(cluster: &Cluster, peers: &Peers, end: FlowEnd) -> bool {
    match peers {
        Peers::Any => true,
        Peers::List(list) => list.iter().any(|p| peer_matches(cluster, p, end)),
    }
}

fn ports_match(cluster: &Cluster, ports: &Ports, flow: &Flow) -> bool {
    let Ports::List(list) = ports else {
        return true;
    };
    list.iter().any(|rule| {
        rule.protocol == flow.protocol
            && match &rule.port {
                PortMatch::Any => true,
                PortMatch::Range { start, end } => (*start..=*end).contains(&flow.port),
                PortMatch::Named(name) => match flow.dst {
                    FlowEnd::Pod(i) => {
                        cluster
                            .pods
                            .get(i)
                            .and_then(|p| p.named_port(name, rule.protocol))
                            == Some(flow.port)
                    }
                    FlowEnd::External(_) => false,
                },
            }
    })
}

/// One sentence for one side's decision.
// NOTE: `moat query` words decisions with its own `decision_text` in
// cli/src/cmd/explain_text.rs, which adds source locations and words an
// isolated side differently. Snapshot tests pin that output, so the two
// functions stay separate.
pub fn reason_text(cluster: &Cluster, decision: &Decision, direction: Direction) -> String {
    let verb = if decision.allowed {
        "allowed"
    } else {
        "denied"
    };
    let mut text = match &decision.reason {
        Reason::Outside => format!("{verb}: outside the cluster, no {direction} policy applies"),
        Reason::HostNetwork => format!("{verb}: host-network pod, pod policies do not apply"),
        Reason::NotIsolated => format!("{verb}: no policy isolates this pod for {direction}"),
        Reason::Rule(rule) => format!("{verb} by {}", rule_text(cluster, *rule)),
        Reason::NoRuleMatched { policies } => {
            let names: Vec<String> = policies.iter().map(|&p| policy_text(cluster, p)).collect();
            format!(
                "{verb}: isolated by {} and no allow rule matched",
                names.join(", ")
            )
        }
    };
    for pass in &decision.passed {
        text.push_str(&format!("; passed on by {}", rule_text(cluster, *pass)));
    }
    text
}

/// Walks the evaluation path, changing each rule that decides against
/// `expected`, until the flow gets the expected verdict.
///
/// Every listed change is necessary along that path, because the listed
/// rule decides the flow the wrong way as long as it stays. A different
/// fix elsewhere (such as a new admin rule of higher priority) can need
/// fewer changes. This function lists changes to the rules that decide now.
fn changes(cluster: &Cluster, flow: &Flow, expected: bool) -> Vec<Change> {
    let mut scratch = cluster.clone();
    let mut out = Vec::new();
    for _ in 0..=cluster
        .policies
        .iter()
        .map(|p| p.rules.len())
        .sum::<usize>()
    {
        let result = verdict(&scratch, flow);
        if result.allowed == expected {
            break;
        }
        let sides = [
            (Direction::Egress, &result.egress),
            (Direction::Ingress, &result.ingress),
        ];
        // To deny a flow one side suffices: prefer narrowing the rule that
        // allows it over isolating a pod that no policy covers yet.
        let by_rule = sides
            .iter()
            .find(|(_, d)| d.allowed != expected && matches!(d.reason, Reason::Rule(_)));
        let wrong = by_rule
            .or_else(|| sides.iter().find(|(_, d)| d.allowed != expected))
            .copied();
        let Some((direction, decision)) = wrong else {
            break;
        };
        let Some(change) = change_for(&scratch, flow, direction, decision, expected) else {
            break;
        };
        let removed = change.1;
        out.push(change.0);
        match removed {
            Some(rule) => disable(&mut scratch, rule),
            None => break,
        }
    }
    out
}

/// The change for one wrong decision, and the rule to drop before looking further.
fn change_for(
    cluster: &Cluster,
    flow: &Flow,
    direction: Direction,
    decision: &Decision,
    expected: bool,
) -> Option<(Change, Option<RuleRef>)> {
    let subject = match direction {
        Direction::Egress => flow.src,
        Direction::Ingress => flow.dst,
    };
    let peer = match direction {
        Direction::Egress => flow.dst,
        Direction::Ingress => flow.src,
    };
    let flow_text = format!(
        "{} {}/{}",
        end_text(cluster, peer),
        flow.protocol.lower(),
        flow.port
    );
    match &decision.reason {
        Reason::Rule(rule) => {
            let origin = cluster
                .policies
                .get(rule.policy)?
                .rules
                .get(rule.rule)?
                .origin
                .as_ref();
            let how = if expected {
                format!("narrow its peers or ports so that it no longer matches {flow_text}")
            } else {
                format!("narrow its peers or ports so that it no longer allows {flow_text}")
            };
            Some((
                Change {
                    target: rule_text(cluster, *rule),
                    location: origin.map(|o| o.short()),
                    how,
                },
                Some(*rule),
            ))
        }
        Reason::NoRuleMatched { policies } => {
            let with_rules = policies.iter().find(|&&p| {
                cluster
                    .policies
                    .get(p)
                    .is_some_and(|x| x.rules.iter().any(|r| r.direction == direction))
            });
            let first = *with_rules.or(policies.first())?;
            let verb = if direction == Direction::Ingress {
                "from"
            } else {
                "to"
            };
            Some((
                Change {
                    target: policy_text(cluster, first),
                    location: cluster
                        .policies
                        .get(first)?
                        .origin
                        .as_ref()
                        .map(|o| o.short()),
                    how: format!("add an {direction} rule that allows {verb} {flow_text}"),
                },
                None,
            ))
        }
        Reason::NotIsolated => Some((
            Change {
                target: end_text(cluster, subject),
                location: None,
                how: format!(
                    "add a policy that isolates this pod for {direction} without allowing {flow_text}"
                ),
            },
            None,
        )),
        Reason::Outside | Reason::HostNetwork => None,
    }
}

/// Makes a rule match nothing by giving it an empty peer list.
fn disable(cluster: &mut Cluster, rule: RuleRef) {
    if let Some(r) = cluster
        .policies
        .get_mut(rule.policy)
        .and_then(|p| p.rules.get_mut(rule.rule))
    {
        r.peers = Peers::List(Vec::new());
    }
}
