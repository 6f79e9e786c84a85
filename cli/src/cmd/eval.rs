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
/// with `#` are echoed unchanged. A line that already ends in a verdict is
/// checked: it is printed with moat's verdict, and a different verdict is an
/// error on stderr. A malformed line or a different verdict names its line
/// number, and the exit code is then 1.
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
        let (flow_text, given) = split_verdict(trimmed);
        match parse_flow(flow_text).and_then(|spec| judge(&loaded.cluster, &spec)) {
            Ok(judgement) => {
                let word = judgement.word();
                let _ = writeln!(stdout, "{flow_text} {word}");
                if let Some(given) = given.filter(|g| *g != word) {
                    eprintln!(
                        "error: line {}: expected `{given}`, moat says `{word}`",
                        number + 1
                    );
                    failed = true;
                }
            }
            Err(message) => {
                eprintln!("error: line {}: {message}: `{trimmed}`", number + 1);
                failed = true;
            }
        }
    }
    if failed { EXIT_FAILURE } else { 0 }
}

/// Splits off a trailing verdict and comment, so that expected files can be
/// fed back in and checked.
fn split_verdict(line: &str) -> (&str, Option<&'static str>) {
    let line = line.split('#').next().unwrap_or(line).trim_end();
    for word in ["allow", "deny", "mixed"] {
        if let Some(rest) = line.strip_suffix(word)
            && rest.ends_with(char::is_whitespace)
        {
            return (rest.trim_end(), Some(word));
        }
    }
    (line, None)
}
