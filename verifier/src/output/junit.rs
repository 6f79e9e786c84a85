//! JUnit XML: one test case per passed item and one failing case per finding.

use std::fmt::Write as _;

use super::Report;

/// Escapes text for XML attributes and content.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

pub fn render(report: &Report) -> String {
    let tests = report.passed.len() + report.findings.len();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let suite = escape(&format!("moat {}", report.command));
    let _ = writeln!(
        out,
        "<testsuites name=\"{suite}\" tests=\"{tests}\" failures=\"{}\">",
        report.findings.len()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{suite}\" tests=\"{tests}\" failures=\"{}\">",
        report.findings.len()
    );
    for name in &report.passed {
        let _ = writeln!(
            out,
            "    <testcase classname=\"{suite}\" name=\"{}\"/>",
            escape(name)
        );
    }
    for finding in &report.findings {
        let place = finding
            .origin
            .as_ref()
            .map(|o| o.location())
            .unwrap_or_default();
        let name = escape(&format!("{} {place}", finding.check));
        let _ = writeln!(out, "    <testcase classname=\"{suite}\" name=\"{name}\">");
        let _ = writeln!(
            out,
            "      <failure type=\"{}\" message=\"{}\">{}</failure>",
            finding.severity,
            escape(&finding.message),
            escape(&finding.one_line())
        );
        let _ = writeln!(out, "    </testcase>");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
