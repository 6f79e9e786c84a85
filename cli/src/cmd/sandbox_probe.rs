//! `moat sandbox probe`: real traffic between every pod pair, compared with
//! the reference evaluator.

use std::time::Duration;

use clap::{Args, ValueEnum};
use moat_loader::sandbox::expect::{self, Observation};
use moat_loader::sandbox::probe::Engine;
use moat_loader::sandbox::state::L4Port;
use moat_loader::sandbox::State;

use super::sandbox::{NameArg, load_state_manifests};
use crate::common::{EXIT_FAILURE, EXIT_USAGE};

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// One row per flow with the kernel's and the evaluator's verdicts.
    Table,
    /// `<src> -> <dst> <proto>/<port> allow|deny`, as `moat eval` prints.
    Flows,
    /// One JSON object per flow, in an array.
    Json,
}

/// Send real traffic for every ordered pod pair, ClusterIP port and outside
/// address, and compare what the kernel did with the evaluator.
///
/// Exits 1 when any flow disagrees; the disagreements go to stderr.
#[derive(Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    name: NameArg,

    /// Probe these ports (`80/tcp`, `udp/53`; repeatable) instead of each
    /// destination's declared container ports.
    #[arg(long, value_name = "PORT")]
    port: Vec<String>,

    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,

    /// How long one attempt waits for an answer, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    timeout_ms: u64,

    /// How many attempts run at once.
    #[arg(long, default_value_t = 64, value_name = "N")]
    parallel: usize,
}

pub fn run(args: &ProbeArgs) -> u8 {
    let ports = match parse_ports(&args.port) {
        Ok(ports) => ports,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_USAGE;
        }
    };
    let state = match State::load(&args.name.name) {
        Ok(state) => state,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_FAILURE;
        }
    };
    let loaded = match load_state_manifests(&state, &state.manifests) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let flows = expect::flows(&state, &loaded.cluster, (!ports.is_empty()).then_some(&ports[..]));
    let engine = Engine {
        timeout: Duration::from_millis(args.timeout_ms),
        parallelism: args.parallel,
    };
    let attempts: Vec<_> = flows.iter().map(|f| f.attempt.clone()).collect();
    let outcomes = engine.run(&attempts, &state.namespaces());
    let observations = expect::judge(&flows, &outcomes);
    print(&observations, args.output);
    report_disagreements(&observations)
}

fn parse_ports(texts: &[String]) -> Result<Vec<L4Port>, String> {
    texts
        .iter()
        .map(|t| crate::flows::parse_port(t).map(|(protocol, port)| L4Port { protocol, port }))
        .collect()
}

fn print(observations: &[Observation], format: Format) {
    match format {
        Format::Flows => {
            for o in observations {
                println!("{}", o.flow_line());
            }
        }
        Format::Json => {
            println!("{}", serde_json::to_string_pretty(observations).unwrap_or_default());
        }
        Format::Table => print_table(observations),
    }
}

fn print_table(observations: &[Observation]) {
    let width = |f: fn(&Observation) -> usize| observations.iter().map(f).max().unwrap_or(0);
    let src = width(|o| o.src.len()).max(3);
    let dst = width(|o| o.dst.len()).max(3);
    println!("{:<src$}  {:<dst$}  {:<9}  {:<6}  {:<9}", "SRC", "DST", "PORT", "KERNEL", "PREDICTED");
    for o in observations {
        let port = format!("{}/{}", o.protocol, o.port);
        let mark = if o.agrees { "" } else { "  DISAGREE" };
        println!(
            "{:<src$}  {:<dst$}  {port:<9}  {:<6}  {:<9}{mark}",
            o.src, o.dst, o.kernel, o.predicted
        );
    }
}

fn report_disagreements(observations: &[Observation]) -> u8 {
    let wrong: Vec<&Observation> = observations.iter().filter(|o| !o.agrees).collect();
    for o in &wrong {
        eprintln!(
            "disagreement: {} (kernel {}, {})",
            o.flow_line(),
            o.kernel,
            o.note.as_deref().unwrap_or("predicted otherwise")
        );
    }
    eprintln!("{} flows probed, {} disagree", observations.len(), wrong.len());
    if wrong.is_empty() { 0 } else { EXIT_FAILURE }
}
