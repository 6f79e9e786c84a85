//! The `moat` command line: a thin layer over the moat crates.

mod cmd;
mod common;
mod flows;

use std::process::ExitCode;

use clap::Parser;

/// Compile, verify and enforce Kubernetes network policies with eBPF.
#[derive(Parser)]
#[command(name = "moat", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: cmd::Command,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(common::EXIT_USAGE),
            };
        }
    };
    common::init_tracing();
    cmd::run(cli.command)
}
