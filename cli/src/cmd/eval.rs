//! `moat eval`: judge flows read from stdin, one per line.

use std::io::{BufRead, Write};

use clap::Args;

use crate::common::{EXIT_FAILURE, EXIT_USAGE, Inputs, load_or_exit};
use crate::flows::{judge, parse_flow};

/// Judge flows from stdin: `<src> -> <dst> <proto>/<port>` per line.
///
/// Ends are `ns/pod`, `ip:<address>`, or (destination only) `svc:ns/name`.
/// Each line is printed back with ` allow` or ` deny` appended; a service
/// gives ` mixed` when its backends disagree. Blank lines and lines starting
/// with `#` are echoed unchanged. A malformed line is an error naming its
/// line number, and the exit code is then 1.
#[derive(Args)]
#[command(
    after_help = "Example:\n  echo \"x/b -> x/a tcp/80\" | moat eval cluster.yaml policies.yaml\n  x/b -> x/a tcp/80 allow"
)]
pub struct EvalArgs {
    #[command(flatten)]
    inputs: Inputs,
}

pub fn run(args: &EvalArgs) -> u8 {
    if args.inputs.paths.iter().any(|p| p.as_os_str() == "-") {
        eprintln!("error: `moat eval` reads flows from stdin, so manifests cannot come from `-`");
        return EXIT_USAGE;
    }
    let loaded = match load_or_exit(&args.inputs) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut failed = false;
    for (number, line) in stdin.lines().enumerate() {
        let Ok(line) = line else {
            eprintln!(
                "error: failed to read standard input at line {}",
                number + 1
            );
            return EXIT_FAILURE;
        };
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            let _ = writeln!(stdout, "{line}");
            continue;
        }
        let flow_text = strip_verdict(trimmed);
        match parse_flow(flow_text).and_then(|spec| judge(&loaded.cluster, &spec)) {
            Ok(judgement) => {
                let _ = writeln!(stdout, "{flow_text} {}", judgement.word());
            }
            Err(message) => {
                eprintln!("error: line {}: {message}: `{trimmed}`", number + 1);
                failed = true;
            }
        }
    }
    if failed { EXIT_FAILURE } else { 0 }
}

/// Drops a trailing verdict and comment so that expected files can be fed back in.
fn strip_verdict(line: &str) -> &str {
    let line = line.split('#').next().unwrap_or(line).trim_end();
    for word in [" allow", " deny", " mixed"] {
        if let Some(rest) = line.strip_suffix(word) {
            return rest.trim_end();
        }
    }
    line
}
