//! `moat check`: load and validate manifests.

use clap::Args;

use crate::common::{EXIT_FAILURE, Inputs, failure_code, print_diagnostics};

/// Load and validate manifests; print diagnostics and a summary.
///
/// Exits 0 when clean, 1 on errors (or on warnings with --deny-warnings),
/// 2 on usage errors and unreadable inputs.
#[derive(Args)]
#[command(
    after_help = "Example:\n  moat check policies/demo\n  helm template ./chart | moat check -"
)]
pub struct CheckArgs {
    #[command(flatten)]
    inputs: Inputs,

    /// Treat warnings as errors for the exit code.
    #[arg(long)]
    deny_warnings: bool,

    /// Print only the summary line, not each diagnostic.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: &CheckArgs) -> u8 {
    let loaded = args.inputs.load();
    if !args.quiet {
        print_diagnostics(&loaded);
    }
    println!("{}", summary(&loaded));
    if loaded.has_errors() {
        return failure_code(&loaded);
    }
    if args.deny_warnings && loaded.warnings() > 0 {
        return EXIT_FAILURE;
    }
    0
}

/// `3 files: 2 Deployment, 1 Service; 3 pods, 1 policy; 0 errors, 1 warning`.
fn summary(loaded: &moat_ir::Loaded) -> String {
    let kinds: Vec<String> = loaded
        .objects
        .iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect();
    let skipped: usize = loaded.skipped.values().sum();
    let skipped_text = if skipped > 0 {
        let names: Vec<&str> = loaded.skipped.keys().map(String::as_str).collect();
        format!(" ({skipped} skipped: {})", names.join(", "))
    } else {
        String::new()
    };
    let objects = if kinds.is_empty() {
        "no objects".to_string()
    } else {
        kinds.join(", ")
    };
    let cluster = &loaded.cluster;
    format!(
        "{} {}: {objects}{skipped_text}; {} {}, {} {}, {} {}; {} {}, {} {}",
        loaded.files,
        plural(loaded.files, "file", "files"),
        cluster.pods.len(),
        plural(cluster.pods.len(), "pod", "pods"),
        cluster.services.len(),
        plural(cluster.services.len(), "service", "services"),
        cluster.policies.len(),
        plural(cluster.policies.len(), "policy", "policies"),
        loaded.errors(),
        plural(loaded.errors(), "error", "errors"),
        loaded.warnings(),
        plural(loaded.warnings(), "warning", "warnings"),
    )
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}
