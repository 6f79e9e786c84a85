//! One module per `moat` subcommand.

mod check;
mod compile;
mod eval;
mod explain_text;
mod image;
mod matrix;
mod query;
mod sandbox;
mod sandbox_probe;

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
    Sandbox(sandbox::SandboxArgs),
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
        Command::Sandbox(args) => sandbox::run(&args),
    };
    ExitCode::from(code)
}
