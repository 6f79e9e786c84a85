//! Output formats shared by every verifier command: text, JSON, SARIF,
//! JUnit XML and GitHub workflow annotations.

mod github;
mod junit;
mod sarif;

use std::fmt::Write as _;
use std::str::FromStr;

use serde::Serialize;

use crate::finding::{Finding, Severity};

/// How a command prints its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Sarif,
    Junit,
    Github,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            "sarif" => Ok(Format::Sarif),
            "junit" => Ok(Format::Junit),
            "github" => Ok(Format::Github),
            _ => Err(format!(
                "unknown format `{text}` (expected text, json, sarif, junit or github)"
            )),
        }
    }
}

/// What a command found, ready to print in any format.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `lint`, `verify`, ...: the JUnit suite name and SARIF automation id.
    pub command: String,
    pub findings: Vec<Finding>,
    /// Names of items that were checked and passed (checks, assertions).
    pub passed: Vec<String>,
    /// Command-specific detail for the JSON form.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

impl Report {
    pub fn new(command: &str, findings: Vec<Finding>) -> Self {
        Self {
            command: command.to_string(),
            findings,
            passed: Vec::new(),
            detail: None,
        }
    }

    /// Number of findings at or above `level`.
    pub fn count_at_least(&self, level: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity >= level).count()
    }

    /// `2 errors, 1 warning, 0 notes`.
    pub fn summary(&self) -> String {
        let count = |s: Severity| self.findings.iter().filter(|f| f.severity == s).count();
        format!(
            "{} error(s), {} warning(s), {} note(s)",
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Note)
        )
    }

    /// The report in a machine format; `Text` yields the one-line form of each
    /// finding (the CLI renders text with miette instead).
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => {
                let mut out = String::new();
                for finding in &self.findings {
                    let _ = writeln!(out, "{}", finding.one_line());
                }
                out
            }
            Format::Json => serde_json::to_string_pretty(self).unwrap_or_default() + "\n",
            Format::Sarif => sarif::render(self),
            Format::Junit => junit::render(self),
            Format::Github => github::render(self),
        }
    }
}
