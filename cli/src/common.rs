//! Options and helpers shared by every command: inputs, diagnostics, exit codes.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use ipnet::IpNet;
use moat_ir::diag::Report;
use moat_ir::{LoadOptions, Loaded, Settings};

/// Exit code for usage errors and unreadable input.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for errors in the input, findings, or disagreements.
pub const EXIT_FAILURE: u8 = 1;

/// Manifest inputs and the options that shape the loaded cluster.
#[derive(Args, Debug, Clone)]
pub struct Inputs {
    /// Manifest files or directories (`.yaml`, `.yml`, `.json`, searched
    /// recursively); `-` reads standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Range for pods that have no `status.podIP`.
    #[arg(long, default_value = "10.244.0.0/16", value_name = "CIDR")]
    pub pod_cidr: IpNet,

    /// Range for services that have no `spec.clusterIP`.
    #[arg(long, default_value = "10.96.0.0/12", value_name = "CIDR")]
    pub service_cidr: IpNet,

    /// Whether `ipBlock` peers also match pod IPs (`true` as in Calico and the
    /// upstream e2e suite, `false` as in Cilium).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub ipblock_matches_pods: bool,
}

impl Inputs {
    pub fn options(&self) -> LoadOptions {
        LoadOptions {
            pod_cidr: self.pod_cidr,
            service_cidr: self.service_cidr,
            settings: Settings {
                ipblock_matches_pods: self.ipblock_matches_pods,
            },
        }
    }

    pub fn load(&self) -> Loaded {
        moat_ir::load_paths(&self.paths, &self.options())
    }
}

/// Prints every diagnostic to stderr as a miette report.
pub fn print_diagnostics(loaded: &Loaded) {
    let handler = miette::GraphicalReportHandler::new_themed(theme());
    let mut stderr = std::io::stderr().lock();
    for diagnostic in &loaded.diagnostics {
        let mut text = String::new();
        let report = Report::new(diagnostic);
        if handler.render_report(&mut text, &report).is_err() {
            text = diagnostic.one_line();
        }
        let _ = writeln!(stderr, "{text}");
    }
}

fn theme() -> miette::GraphicalTheme {
    let color = std::env::var_os("NO_COLOR").is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    }
}

/// Loads inputs and stops with exit code 1 when they contain errors.
///
/// Commands that judge flows call this: a verdict over a half-loaded cluster
/// would be wrong without saying so.
pub fn load_or_exit(inputs: &Inputs) -> Result<Loaded, u8> {
    let loaded = inputs.load();
    if loaded.has_errors() {
        print_diagnostics(&loaded);
        eprintln!(
            "error: {} error(s) in the input; run `moat check` for details",
            loaded.errors()
        );
        return Err(failure_code(&loaded));
    }
    Ok(loaded)
}

/// Exit code for a load with errors: 2 when an input could not be read at
/// all (a wrong path is a usage error), else 1.
pub fn failure_code(loaded: &Loaded) -> u8 {
    let unreadable = loaded
        .diagnostics
        .iter()
        .any(|d| d.code == "moat::unreadable-input");
    if unreadable { EXIT_USAGE } else { EXIT_FAILURE }
}

pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MOAT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Serialises a value as YAML.
pub fn to_yaml<T: serde::Serialize>(value: &T) -> String {
    serde_norway::to_string(value).unwrap_or_default()
}
