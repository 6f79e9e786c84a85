//! `moat sandbox probe`: real traffic between every pod pair, compared with
//! the reference evaluator.

use std::net::Ipv4Addr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use moat_loader::sandbox::State;
use moat_loader::sandbox::expect::{self, Observation, ProbeFlow};
use moat_loader::sandbox::probe::{Attempt, Engine, Outcome};
use moat_loader::sandbox::state::L4Port;

use super::sandbox::{NameArg, load_state, load_state_manifests};
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
    let state = match load_state(&args.name.name) {
        Ok(state) => state,
        Err(code) => return code,
    };
    let loaded = match load_state_manifests(&state, &state.manifests) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let cluster = moat_loader::sandbox::plan::align(&loaded.cluster, &state.pods);
    let flows = expect::flows(&state, &cluster, (!ports.is_empty()).then_some(&ports[..]));
    let engine = Engine {
        timeout: Duration::from_millis(args.timeout_ms),
        parallelism: args.parallel,
    };
    let attempts: Vec<_> = flows.iter().map(|f| f.attempt.clone()).collect();
    let mut outcomes = engine.run(&attempts, &state.namespaces());
    retry_timeouts(&engine, &state, &flows, &mut outcomes);
    let observations = expect::judge(&flows, &outcomes);
    print(&observations, args.output);
    report_disagreements(&observations)
}

/// Send one connection attempt from a pod and print what came back.
///
/// Prints `connected <pod>` with the name of the responder that answered,
/// `connected` for other servers, `refused`, `arrived` (SCTP), `timeout`
/// or `failed: <error>`. Exits 0 when the packet reached a destination.
#[derive(Args)]
pub struct ConnectArgs {
    #[command(flatten)]
    name: NameArg,

    /// The source pod, as `namespace/name`.
    pod: String,

    /// Destination address: a pod IP, a ClusterIP or an outside address.
    address: Ipv4Addr,

    /// Destination port, as `tcp/80`, `udp/53` or `sctp/80`.
    port: String,

    /// Source port to bind, so that the flow's 5-tuple is known.
    #[arg(long, value_name = "PORT")]
    source_port: Option<u16>,

    /// How long the attempt waits for an answer, in milliseconds.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    timeout_ms: u64,
}

pub fn run_connect(args: &ConnectArgs) -> u8 {
    let (protocol, port) = match crate::flows::parse_port(&args.port) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_USAGE;
        }
    };
    let state = match load_state(&args.name.name) {
        Ok(state) => state,
        Err(code) => return code,
    };
    let Some(pod) = state.pod(&args.pod) else {
        eprintln!(
            "error: pod `{}` not found in sandbox `{}`",
            args.pod, state.name
        );
        return EXIT_FAILURE;
    };
    let attempt = Attempt {
        src_netns: pod.netns.clone(),
        src_ip: None,
        src_port: args.source_port,
        dst: args.address,
        protocol,
        port,
    };
    let engine = Engine {
        timeout: Duration::from_millis(args.timeout_ms),
        parallelism: 1,
    };
    let outcome = engine
        .run(&[attempt], &state.namespaces())
        .pop()
        .unwrap_or(Outcome::Timeout);
    match &outcome {
        Outcome::Connected { peer: Some(peer) } => println!("connected {peer}"),
        Outcome::Connected { peer: None } => println!("connected"),
        Outcome::Refused => println!("refused"),
        Outcome::Arrived => println!("arrived"),
        Outcome::Timeout => println!("timeout"),
        Outcome::Failed { error } => println!("failed: {error}"),
    }
    if outcome.reached() { 0 } else { EXIT_FAILURE }
}

/// Tries once more every attempt that timed out where the evaluator
/// predicts that the flow passes, so that a packet lost to a busy machine
/// is not reported as a drop. A flow the datapath drops times out again.
fn retry_timeouts(engine: &Engine, state: &State, flows: &[ProbeFlow], outcomes: &mut [Outcome]) {
    let observations = expect::judge(flows, outcomes);
    let again: Vec<usize> = observations
        .iter()
        .enumerate()
        .filter(|(_, o)| !o.agrees && o.outcome == Outcome::Timeout)
        .map(|(i, _)| i)
        .collect();
    if again.is_empty() {
        return;
    }
    let attempts: Vec<Attempt> = again
        .iter()
        .filter_map(|i| flows.get(*i))
        .map(|f| f.attempt.clone())
        .collect();
    let retried = engine.run(&attempts, &state.namespaces());
    for (index, outcome) in again.into_iter().zip(retried) {
        if let Some(slot) = outcomes.get_mut(index) {
            *slot = outcome;
        }
    }
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
            println!(
                "{}",
                serde_json::to_string_pretty(observations).unwrap_or_default()
            );
        }
        Format::Table => print_table(observations),
    }
}

fn print_table(observations: &[Observation]) {
    let width = |f: fn(&Observation) -> usize| observations.iter().map(f).max().unwrap_or(0);
    let src = width(|o| o.src.len()).max(3);
    let dst = width(|o| o.dst.len()).max(3);
    println!(
        "{:<src$}  {:<dst$}  {:<9}  {:<6}  {:<9}",
        "SRC", "DST", "PORT", "KERNEL", "PREDICTED"
    );
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
    eprintln!(
        "{} flows probed, {} disagree",
        observations.len(),
        wrong.len()
    );
    if wrong.is_empty() { 0 } else { EXIT_FAILURE }
}
