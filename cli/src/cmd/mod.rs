//! One module per `moat` subcommand.

mod check;
mod eval;
mod explain_text;
mod matrix;
mod query;

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum Command {
    Check(check::CheckArgs),
    Eval(eval::EvalArgs),
    Query(query::QueryArgs),
    Matrix(matrix::MatrixArgs),
}

/// Runs a command and maps its result to the process exit code.
pub fn run(command: Command) -> ExitCode {
    let code = match command {
        Command::Check(args) => check::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Query(args) => query::run(&args),
        Command::Matrix(args) => matrix::run(&args),
    };
    ExitCode::from(code)
}
