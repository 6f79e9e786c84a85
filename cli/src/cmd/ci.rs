//! Output options shared by the verifier commands: format, `--fail-on`,
//! exit codes and the progress spinner.

use std::io::{IsTerminal, Write};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use moat_ir::diag::Report as DiagnosticReport;
use moat_verifier::finding::Severity;
use moat_verifier::output::{Format, Report};

use crate::common::{EXIT_FAILURE, Inputs, load_or_exit};

/// `--fail-on`: a severity, or `never`.
#[derive(Debug, Clone, Copy)]
pub struct FailOn(pub Option<Severity>);

impl std::str::FromStr for FailOn {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "never" {
            return Ok(FailOn(None));
        }
        text.parse().map(|s| FailOn(Some(s)))
    }
}

/// Format and exit-code options of every verifier command.
#[derive(Args, Debug, Clone)]
pub struct Output {
    /// Output format: text, json, sarif (SARIF 2.1.0), junit (JUnit XML) or
    /// github (workflow annotations).
    #[arg(
        short = 'o',
        long = "output",
        visible_alias = "format",
        default_value = "text",
        value_name = "FORMAT"
    )]
    pub format: Format,

    /// Exit with 1 when a finding has at least this severity: note, warning,
    /// error, or never.
    #[arg(long, default_value = "warning", value_name = "SEVERITY")]
    pub fail_on: FailOn,
}

impl Output {
    /// Prints the report (`text` replaces the default text form) and returns the exit code.
    pub fn emit(&self, report: &Report, text: Option<String>) -> u8 {
        let body = match (self.format, text) {
            (Format::Text, Some(text)) => text,
            (Format::Text, None) => render_text(report),
            (format, _) => report.render(format),
        };
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(body.as_bytes());
        let _ = stdout.flush();
        match self.fail_on.0 {
            Some(level) if report.count_at_least(level) > 0 => EXIT_FAILURE,
            _ => 0,
        }
    }
}

/// Findings as miette reports with source excerpts, then a summary line.
pub fn render_text(report: &Report) -> String {
    let color = std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme);
    let mut out = String::new();
    for finding in &report.findings {
        let diagnostic = finding.to_diagnostic();
        let mut text = String::new();
        if handler
            .render_report(&mut text, &DiagnosticReport::new(&diagnostic))
            .is_err()
        {
            text = finding.one_line();
        }
        let text = text.replacen("⚠", &format!("{}:", finding.severity), 1);
        out.push_str(&text);
        out.push('\n');
    }
    out.push_str(&format!("{}: {}\n", report.command, report.summary()));
    out
}

/// Loads inputs; on errors prints them and returns the exit code: 2 when
/// a path cannot be read, 1 for errors in the manifests.
pub fn load(inputs: &Inputs) -> Result<moat_ir::Loaded, u8> {
    load_or_exit(inputs)
}

/// A spinner on stderr when it is a terminal, else nothing.
pub fn progress(message: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar.set_message(message.to_string());
    Some(bar)
}
