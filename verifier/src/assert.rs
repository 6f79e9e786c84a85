//! Assertions: expected verdicts between selector-defined groups of pods,
//! proved or refuted by the SMT engine.
//!
//! The file format is documented in `docs/assertions.md`.

use std::collections::BTreeMap;

use moat_ir::selector::{LabelSelector, Operator, Requirement};
use moat_ir::{Cluster, NamespaceMatch, PodSet, Protocol};
use serde::{Deserialize, Serialize};
use z3::ast::{BV, Bool, Int};

use crate::smt::encode::pod_set_formula;
use crate::smt::flow::protocol_code;
use crate::smt::{Answer, Guards, Scope, Session, Universe};

/// Errors reading an assertion file.
#[derive(Debug, thiserror::Error)]
pub enum AssertError {
    #[error("cannot read assertion file `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid assertion file `{path}`: {message}")]
    Parse { path: String, message: String },
    #[error("assertion `{name}`: {message}")]
    Invalid { name: String, message: String },
}

/// A selector as written in the file: `{app: web}` for matchLabels, or the
/// Kubernetes form with `matchLabels` and `matchExpressions`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum SelectorText {
    Labels(BTreeMap<String, String>),
    Full(FullSelectorText),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FullSelectorText {
    #[serde(rename = "matchLabels", default)]
    match_labels: BTreeMap<String, String>,
    #[serde(rename = "matchExpressions", default)]
    match_expressions: Vec<ExpressionText>,
}

#[derive(Debug, Clone, Deserialize)]
struct ExpressionText {
    key: String,
    operator: String,
    #[serde(default)]
    values: Vec<String>,
}

/// One end of an assertion.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndText {
    namespace: Option<String>,
    #[serde(rename = "namespaceSelector")]
    namespace_selector: Option<SelectorText>,
    #[serde(rename = "podSelector")]
    pod_selector: Option<SelectorText>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssertionText {
    name: Option<String>,
    from: EndText,
    to: EndText,
    #[serde(default)]
    ports: PortsText,
    expect: String,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(untagged)]
enum PortsText {
    #[default]
    Missing,
    One(String),
    Many(Vec<String>),
}

/// The file: a list of assertions, optionally under a Kubernetes-style
/// header (`apiVersion`, `kind: Assertions`, `metadata`). The manifest loader
/// skips objects of unknown kinds, so a file with the header can sit in a
/// directory of manifests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileText {
    #[serde(rename = "apiVersion")]
    #[allow(dead_code, reason = "accepted so that the header may be present")]
    api_version: Option<String>,
    kind: Option<String>,
    #[allow(dead_code, reason = "accepted so that the header may be present")]
    metadata: Option<serde_norway::Value>,
    assertions: Vec<AssertionText>,
}

/// The `kind` of an assertion file with a Kubernetes-style header.
pub const FILE_KIND: &str = "Assertions";

/// A protocol and an inclusive port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortRange {
    pub protocol: Protocol,
    pub start: u16,
    pub end: u16,
}

/// One parsed assertion.
#[derive(Debug, Clone, Serialize)]
pub struct Assertion {
    pub name: String,
    pub from: PodSet,
    pub to: PodSet,
    /// Empty means every protocol and port.
    pub ports: Vec<PortRange>,
    pub expect_allowed: bool,
}

/// Reads an assertion file.
pub fn read_file(path: &std::path::Path) -> Result<Vec<Assertion>, AssertError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| AssertError::Read {
        path: shown.clone(),
        source,
    })?;
    parse(&shown, &text)
}

/// Parses assertions from YAML text; `name` is used in messages.
pub fn parse(name: &str, text: &str) -> Result<Vec<Assertion>, AssertError> {
    let file: FileText = serde_norway::from_str(text).map_err(|e| AssertError::Parse {
        path: name.to_string(),
        message: e.to_string(),
    })?;
    if let Some(kind) = file.kind.as_deref().filter(|k| *k != FILE_KIND) {
        return Err(AssertError::Parse {
            path: name.to_string(),
            message: format!("`kind` must be `{FILE_KIND}`, found `{kind}`"),
        });
    }
    file.assertions
        .into_iter()
        .enumerate()
        .map(|(i, a)| convert(i, a))
        .collect()
}

fn convert(index: usize, text: AssertionText) -> Result<Assertion, AssertError> {
    let name = text
        .name
        .clone()
        .unwrap_or_else(|| format!("assertion {}", index + 1));
    let invalid = |message: String| AssertError::Invalid {
        name: name.clone(),
        message,
    };
    let expect_allowed = match text.expect.to_ascii_lowercase().as_str() {
        "allow" => true,
        "deny" => false,
        other => {
            return Err(invalid(format!(
                "`expect` must be `allow` or `deny`, found `{other}`"
            )));
        }
    };
    let ports = match &text.ports {
        PortsText::Missing => Vec::new(),
        PortsText::One(one) if one == "any" => Vec::new(),
        PortsText::One(one) => vec![parse_port(one).map_err(&invalid)?],
        PortsText::Many(many) => many
            .iter()
            .map(|p| parse_port(p))
            .collect::<Result<_, _>>()
            .map_err(&invalid)?,
    };
    Ok(Assertion {
        from: pod_set(&text.from).map_err(&invalid)?,
        to: pod_set(&text.to).map_err(&invalid)?,
        ports,
        expect_allowed,
        name,
    })
}

/// Parses `tcp/8080`, `udp/53`, `tcp/8000-8080` or `tcp` (every port).
pub fn parse_port(text: &str) -> Result<PortRange, String> {
    let (proto, range) = text.split_once('/').unwrap_or((text, "1-65535"));
    let protocol = Protocol::parse(proto).ok_or_else(|| format!("unknown protocol in `{text}`"))?;
    let number = |s: &str| {
        s.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("invalid port `{s}` in `{text}`"))
    };
    let (start, end) = match range.split_once('-') {
        Some((a, b)) => (number(a)?, number(b)?),
        None if range == "*" => (1, 65535),
        None => (number(range)?, number(range)?),
    };
    if start > end {
        return Err(format!("port range `{text}` ends before it starts"));
    }
    Ok(PortRange {
        protocol,
        start,
        end,
    })
}

fn pod_set(end: &EndText) -> Result<PodSet, String> {
    let namespaces = match (&end.namespace, &end.namespace_selector) {
        (Some(_), Some(_)) => {
            return Err("give `namespace` or `namespaceSelector`, not both".to_string());
        }
        (Some(name), None) => NamespaceMatch::Name(name.clone()),
        (None, Some(selector)) => NamespaceMatch::Selector(selector_from(selector)?),
        (None, None) => NamespaceMatch::Selector(LabelSelector::everything()),
    };
    let pods = match &end.pod_selector {
        Some(selector) => selector_from(selector)?,
        None => LabelSelector::everything(),
    };
    Ok(PodSet { namespaces, pods })
}

fn selector_from(text: &SelectorText) -> Result<LabelSelector, String> {
    let (labels, expressions) = match text {
        SelectorText::Full(full) => (full.match_labels.clone(), full.match_expressions.clone()),
        SelectorText::Labels(labels) => (labels.clone(), Vec::new()),
    };
    let mut selector =
        LabelSelector::from_labels(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for e in expressions {
        let operator = match e.operator.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => {
                return Err(format!(
                    "unknown operator `{other}` (expected In, NotIn, Exists or DoesNotExist)"
                ));
            }
        };
        selector.requirements.push(Requirement {
            key: e.key,
            operator,
            values: e.values,
        });
    }
    Ok(selector)
}

/// The outcome of one assertion.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub name: String,
    pub answer: Answer,
    /// The scope in which the answer was found.
    #[serde(serialize_with = "scope_word")]
    pub scope: Scope,
    /// Set when an end of the assertion selects no pod in `scope`: the
    /// assertion then checks no flow, so it counts as failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vacuous: Option<String>,
}

impl Outcome {
    /// Whether the assertion holds and checks at least one flow.
    pub fn holds(&self) -> bool {
        self.answer.holds() && self.vacuous.is_none()
    }
}

fn scope_word<S: serde::Serializer>(scope: &Scope, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match scope {
        Scope::Existing => "existing-pods",
        Scope::AnyPod => "any-pod",
    })
}

/// Checks an assertion over existing pods and then, with `any_pod`, over
/// every pod that could exist.
///
/// The assertion holds when every flow from a pod of `from` to a pod of
/// `to` on its ports gets the expected verdict. Otherwise the result is a
/// counterexample flow, whose ends may be pods that do not exist yet.
/// An assertion with an end that selects no pod in the final scope is
/// vacuous (see [`crate::vacuity`]) and does not hold.
pub fn check(cluster: &Cluster, assertion: &Assertion, any_pod: bool) -> Outcome {
    if !any_pod {
        return check_scope(cluster, assertion, Scope::Existing);
    }
    let existing = check_in(cluster, assertion, Scope::Existing);
    if !existing.holds() {
        return outcome(assertion, existing, Scope::Existing);
    }
    check_scope(cluster, assertion, Scope::AnyPod)
}

fn check_scope(cluster: &Cluster, assertion: &Assertion, scope: Scope) -> Outcome {
    if let Some(reason) = crate::vacuity::vacuous(cluster, assertion, scope) {
        return Outcome {
            vacuous: Some(reason),
            ..outcome(assertion, Answer::Holds, scope)
        };
    }
    outcome(assertion, check_in(cluster, assertion, scope), scope)
}

fn outcome(assertion: &Assertion, answer: Answer, scope: Scope) -> Outcome {
    Outcome {
        name: assertion.name.clone(),
        answer,
        scope,
        vacuous: None,
    }
}

fn check_in(cluster: &Cluster, assertion: &Assertion, scope: Scope) -> Answer {
    let universe = Universe::with_sets(&[cluster], &[&assertion.from, &assertion.to]);
    let session = Session::with_universe(cluster, universe, scope);
    let encoding = session.encode(cluster, &Guards::default());
    let from = pod_set_formula(&session.universe, &assertion.from, &session.flow.src);
    let to = pod_set_formula(&session.universe, &assertion.to, &session.flow.dst);
    let ports = ports_formula(&session, &assertion.ports);
    let wrong = if assertion.expect_allowed {
        encoding.allowed.not()
    } else {
        encoding.allowed.clone()
    };
    session.find(&[&from, &to, &ports, &wrong])
}

fn ports_formula(session: &Session, ports: &[PortRange]) -> Bool {
    if ports.is_empty() {
        return Bool::from_bool(true);
    }
    let flow = &session.flow;
    let options: Vec<Bool> = ports
        .iter()
        .map(|p| {
            Bool::and(&[
                flow.protocol.eq(Int::from_i64(protocol_code(p.protocol))),
                flow.port.bvuge(BV::from_u64(u64::from(p.start), 16)),
                flow.port.bvule(BV::from_u64(u64::from(p.end), 16)),
            ])
        })
        .collect();
    Bool::or(&options)
}

/// The same check over existing pods by brute force on the graph engine:
/// `true` when every pod pair and port of the assertion gets the expected verdict.
pub fn holds_on_graph(
    cluster: &Cluster,
    graph: &crate::graph::Graph,
    assertion: &Assertion,
) -> bool {
    use moat_ir::eval::pod_set_contains;
    let members = |set: &PodSet| -> Vec<usize> {
        (0..cluster.pods.len())
            .filter(|&i| {
                cluster
                    .pods
                    .get(i)
                    .is_some_and(|p| !p.host_network && pod_set_contains(cluster, set, p))
            })
            .collect()
    };
    let ranges: Vec<PortRange> = if assertion.ports.is_empty() {
        Protocol::ALL
            .iter()
            .map(|&protocol| PortRange {
                protocol,
                start: 1,
                end: 65535,
            })
            .collect()
    } else {
        assertion.ports.clone()
    };
    let sources = members(&assertion.from);
    let targets = members(&assertion.to);
    for range in &ranges {
        let partial = graph.ports.atoms.iter().enumerate().filter(|(_, a)| {
            a.protocol == range.protocol && a.start <= range.end && a.end >= range.start
        });
        let touched: Vec<usize> = partial.map(|(i, _)| i).collect();
        for &s in &sources {
            for &d in &targets {
                let (Some(from), Some(to)) = (
                    graph.node_of(moat_ir::FlowEnd::Pod(s)),
                    graph.node_of(moat_ir::FlowEnd::Pod(d)),
                ) else {
                    continue;
                };
                let allowed = graph.edge_ports(from, to);
                let ok = touched.iter().all(|&atom| {
                    allowed.is_some_and(|a| a.contains(atom)) == assertion.expect_allowed
                });
                if !ok {
                    return false;
                }
            }
        }
    }
    true
}

/// For a counterexample between existing pods (or outside addresses), the
/// rule changes that would give that flow the expected verdict, as
/// [`crate::explain`] computes them. Empty for a counterexample that needs
/// a pod that does not exist.
pub fn changes_for(
    cluster: &Cluster,
    assertion: &Assertion,
    outcome: &Outcome,
) -> Vec<crate::explain::Change> {
    let Answer::Counterexample(witness) = &outcome.answer else {
        return Vec::new();
    };
    let end = |end: &crate::smt::EndWitness| match end {
        crate::smt::EndWitness::Pod { existing, .. } => {
            let (namespace, name) = existing.as_deref()?.split_once('/')?;
            cluster
                .pod_index(namespace, name)
                .map(moat_ir::FlowEnd::Pod)
        }
        crate::smt::EndWitness::Outside { ip } => Some(moat_ir::FlowEnd::External((*ip).into())),
    };
    let (Some(src), Some(dst)) = (end(&witness.src), end(&witness.dst)) else {
        return Vec::new();
    };
    let flow = moat_ir::Flow {
        src,
        dst,
        protocol: witness.protocol,
        port: witness.port,
    };
    crate::explain::explain(cluster, &flow, Some(assertion.expect_allowed)).changes
}
