//! One module per `moat` subcommand.

mod bpf;
mod check;
mod ci;
mod compile;
mod diff;
mod eval;
mod explain;
mod explain_text;
mod image;
mod kernel;
mod lint;
mod load;
mod matrix;
mod monitor;
mod query;
mod reach;
mod sandbox;
mod sandbox_probe;
mod status;
mod verify;

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum Command {
    Check(check::CheckArgs),
    Eval(eval::EvalArgs),
    Query(query::QueryArgs),
    Matrix(matrix::MatrixArgs),
    Compile(compile::CompileArgs),
    Image(image::ImageArgs),
    Load(load::LoadArgs),
    Unload(load::UnloadArgs),
    Status(status::StatusArgs),
    Bpf(bpf::BpfArgs),
    Monitor(monitor::MonitorArgs),
    Sandbox(sandbox::SandboxArgs),
    Lint(lint::LintArgs),
    Verify(verify::VerifyArgs),
    Explain(explain::ExplainArgs),
    Diff(diff::DiffArgs),
    Reach(reach::ReachArgs),
}

/// Runs a command and maps its result to the process exit code.
pub fn run(command: Command) -> ExitCode {
    let code = match command {
        Command::Check(args) => check::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Query(args) => query::run(&args),
        Command::Matrix(args) => matrix::run(&args),
        Command::Compile(args) => compile::run(&args),
        Command::Image(args) => image::run(&args),
        Command::Load(args) => load::run(&args),
        Command::Unload(args) => load::unload(&args),
        Command::Status(args) => status::run(&args),
        Command::Bpf(args) => bpf::run(&args),
        Command::Monitor(args) => monitor::run(&args),
        Command::Sandbox(args) => sandbox::run(&args),
        Command::Lint(args) => lint::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Reach(args) => reach::run(&args),
    };
    ExitCode::from(code)
}
