//! GitHub Actions workflow commands: `::warning file=..,line=..::message`.

use std::fmt::Write as _;

use super::Report;
use crate::finding::Severity;

/// Escapes a message as GitHub's workflow command parser expects.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    for finding in &report.findings {
        let command = match finding.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "notice",
        };
        let mut properties = Vec::new();
        if let Some(origin) = &finding.origin {
            properties.push(format!("file={}", escape_property(origin.file_name())));
            properties.push(format!("line={}", origin.line));
            properties.push(format!("col={}", origin.column));
        }
        properties.push(format!(
            "title={}",
            escape_property(&format!("moat {}", finding.check))
        ));
        let _ = writeln!(
            out,
            "::{command} {}::{}",
            properties.join(","),
            escape_data(&finding.message)
        );
    }
    out
}
