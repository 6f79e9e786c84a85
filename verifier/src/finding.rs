//! Findings: problems the verifier reports, with stable check names and source spans.

use std::fmt;
use std::str::FromStr;

use moat_ir::source::Origin;
use serde::{Serialize, Serializer};

/// The severity of a finding, in the order `--fail-on` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Note,
    Warning,
    Error,
}

impl Severity {
    pub fn word(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

impl FromStr for Severity {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "note" => Ok(Severity::Note),
            "warning" => Ok(Severity::Warning),
            "error" => Ok(Severity::Error),
            _ => Err(format!(
                "unknown severity `{text}` (expected note, warning or error)"
            )),
        }
    }
}

/// A check's stable identity and documentation, shown in SARIF rule metadata.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub severity: Severity,
    pub summary: &'static str,
    pub fix: &'static str,
}

/// Every check moat runs, in the order of `docs/checks.md`.
pub const CHECKS: &[Check] = &[
    Check {
        name: "selects-nothing",
        severity: Severity::Warning,
        summary: "a policy's subject selects no pod, or its selector can never match",
        fix: "fix the labels in the subject selector, or delete the policy",
    },
    Check {
        name: "peer-matches-nothing",
        severity: Severity::Warning,
        summary: "a rule peer matches no pod, or its selector can never match",
        fix: "fix the peer's labels or namespace selector, or delete the peer",
    },
    Check {
        name: "unresolved-named-port",
        severity: Severity::Warning,
        summary: "a named port that no destination pod declares",
        fix: "declare the port name in the container's `ports`, or use the port number",
    },
    Check {
        name: "shadowed-rule",
        severity: Severity::Warning,
        summary: "a rule that can match but never decides, because higher-precedence rules cover it",
        fix: "reorder the rules, narrow the covering rules, or delete the shadowed one",
    },
    Check {
        name: "redundant-rule",
        severity: Severity::Note,
        summary: "removing the rule changes no verdict for any pod that could exist",
        fix: "delete the rule",
    },
    Check {
        name: "redundant-policy",
        severity: Severity::Note,
        summary: "removing the policy changes no verdict for any pod that could exist",
        fix: "delete the policy, or merge what it meant into the policy that covers it",
    },
    Check {
        name: "not-isolated",
        severity: Severity::Note,
        summary: "pods that no policy isolates for ingress or egress",
        fix: "add a default-deny NetworkPolicy to the namespace and allow what is needed",
    },
    Check {
        name: "dns-egress-blocked",
        severity: Severity::Warning,
        summary: "egress-isolated pods that cannot reach DNS on UDP port 53",
        fix: "add an egress rule to the DNS pods (or the namespace kube-system) on UDP and TCP 53",
    },
    Check {
        name: "allow-all",
        severity: Severity::Warning,
        summary: "a rule that allows every peer on every port",
        fix: "list the peers and ports the workload needs",
    },
    Check {
        name: "conflicting-rules",
        severity: Severity::Warning,
        summary: "an allow rule and a deny rule match the same flow across tiers, or in admin policies of equal priority",
        fix: "give the admin policies distinct priorities, or narrow one rule so that they no longer overlap",
    },
    Check {
        name: "ipblock-covers-pod-cidr",
        severity: Severity::Warning,
        summary: "an ipBlock that contains pod addresses, which implementations treat differently",
        fix: "select pods with podSelector/namespaceSelector, and add the pod CIDR to `except`",
    },
];

/// Results of `moat verify`, `moat diff`, `moat reach` and `moat explain`,
/// reported through the same formats as lint findings.
pub const RESULTS: &[Check] = &[
    Check {
        name: "assertion-failed",
        severity: Severity::Error,
        summary: "an assertion that a counterexample flow breaks",
        fix: "change the policies so that the flow gets the expected verdict, or correct the assertion",
    },
    Check {
        name: "assertion-vacuous",
        severity: Severity::Error,
        summary: "an assertion whose `from` or `to` selects no pod, so it checks no flow",
        fix: "correct the namespace or labels of the assertion, or add the pods it is about",
    },
    Check {
        name: "connectivity-changed",
        severity: Severity::Note,
        summary: "a class of flows whose verdict differs between two versions",
        fix: "confirm that the change is intended",
    },
    Check {
        name: "reachable",
        severity: Severity::Note,
        summary: "pods reachable from the source selector",
        fix: "restrict the policies if a path should not exist",
    },
    Check {
        name: "flow-verdict",
        severity: Severity::Note,
        summary: "the verdict of one flow and the rules that decided it",
        fix: "see the rules that would have to change",
    },
];

/// The check or result kind named `name`.
pub fn check(name: &str) -> Option<&'static Check> {
    CHECKS.iter().chain(RESULTS).find(|c| c.name == name)
}

/// One problem found by a check.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: &'static str,
    pub severity: Severity,
    pub message: String,
    pub help: Option<String>,
    /// The location of the problem, or `None` for the whole cluster.
    #[serde(rename = "location", serialize_with = "location")]
    pub origin: Option<Origin>,
    /// Short text shown under the highlighted span.
    pub label: Option<String>,
}

impl Finding {
    /// A finding of `check` with that check's default severity.
    pub fn new(check: &'static str, message: impl Into<String>) -> Self {
        let severity = self::check(check).map_or(Severity::Warning, |c| c.severity);
        Self {
            check,
            severity,
            message: message.into(),
            help: None,
            origin: None,
            label: None,
        }
    }

    pub fn at(mut self, origin: Option<Origin>) -> Self {
        self.origin = origin;
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// The same finding as a loader diagnostic, for miette rendering.
    /// Notes render as warnings, the lowest level a diagnostic has.
    pub fn to_diagnostic(&self) -> moat_ir::Diagnostic {
        let base = match self.severity {
            Severity::Error => moat_ir::Diagnostic::error(self.check, &self.message),
            Severity::Warning | Severity::Note => {
                moat_ir::Diagnostic::warning(self.check, &self.message)
            }
        };
        let mut diagnostic = base.at(self.origin.clone());
        diagnostic.help = self.help.clone();
        diagnostic.label = self.label.clone();
        diagnostic
    }

    /// `file:line:column: warning[check]: message`.
    pub fn one_line(&self) -> String {
        let place = self
            .origin
            .as_ref()
            .map(|o| format!("{}: ", o.location()))
            .unwrap_or_default();
        format!("{place}{}[{}]: {}", self.severity, self.check, self.message)
    }
}

fn location<S: Serializer>(origin: &Option<Origin>, s: S) -> Result<S::Ok, S::Error> {
    match origin {
        Some(o) => s.serialize_some(&serde_json::json!({
            "file": o.file_name(),
            "line": o.line,
            "column": o.column,
        })),
        None => s.serialize_none(),
    }
}
