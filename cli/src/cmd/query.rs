//! `moat query`: one flow, its verdict and the reasons on both sides.

use clap::{Args, ValueEnum};
use moat_ir::{Cluster, Direction, FlowEnd, Verdict};
use serde::Serialize;

use super::explain_text::{decision_text, selecting_policies};
use crate::common::{EXIT_FAILURE, EXIT_USAGE, Inputs, load_or_exit};
use crate::flows::{EndSpec, FlowSpec, Judgement, judge, parse_end, parse_port};

/// Judge one flow and explain which policies and rules decided it.
#[derive(Args)]
#[command(
    after_help = "Example:\n  moat query policies/demo-isolated --from default/client-0 --to svc:default/web-service --port 80/tcp"
)]
pub struct QueryArgs {
    #[command(flatten)]
    inputs: Inputs,

    /// Source: `ns/pod` or `ip:<address>`.
    #[arg(long, value_name = "END")]
    from: String,

    /// Destination: `ns/pod`, `ip:<address>` or `svc:ns/name`.
    #[arg(long, value_name = "END")]
    to: String,

    /// Destination port, as `80/tcp` or `tcp/80`.
    #[arg(long, value_name = "PORT")]
    port: String,

    #[arg(long, short, value_enum, default_value = "text")]
    output: Format,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
    Yaml,
}

#[derive(Serialize)]
struct Side {
    pod: Option<String>,
    allowed: bool,
    explanation: String,
    selecting_policies: Vec<String>,
}

#[derive(Serialize)]
struct Answer {
    flow: String,
    verdict: String,
    /// Whether the destination is a service, judged once per backend.
    service: bool,
    backends: Vec<BackendAnswer>,
}

#[derive(Serialize)]
struct BackendAnswer {
    destination: String,
    port: u16,
    allowed: bool,
    egress: Side,
    ingress: Side,
}

pub fn run(args: &QueryArgs) -> u8 {
    let spec = match parse_spec(args) {
        Ok(spec) => spec,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_USAGE;
        }
    };
    let loaded = match load_or_exit(&args.inputs) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let cluster = &loaded.cluster;
    let judgement = match judge(cluster, &spec) {
        Ok(j) => j,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_FAILURE;
        }
    };
    let answer = answer(cluster, args, &judgement);
    match args.output {
        Format::Text => print_text(&answer),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&answer).unwrap_or_default()
        ),
        Format::Yaml => print!("{}", crate::common::to_yaml(&answer)),
    }
    0
}

fn parse_spec(args: &QueryArgs) -> Result<FlowSpec, String> {
    let src = parse_end(&args.from)?;
    if matches!(src, EndSpec::Service { .. }) {
        return Err("a service can only be a destination".to_string());
    }
    let (protocol, port) = parse_port(&args.port)?;
    Ok(FlowSpec {
        src,
        dst: parse_end(&args.to)?,
        protocol,
        port,
    })
}

fn answer(cluster: &Cluster, args: &QueryArgs, judgement: &Judgement) -> Answer {
    let backends = match judgement {
        Judgement::Direct(v) => vec![backend(cluster, &args.to, v)],
        Judgement::Service(s) => s
            .backends
            .iter()
            .map(|(_, v)| backend(cluster, &args.to, v))
            .collect(),
    };
    Answer {
        service: matches!(judgement, Judgement::Service(_)),
        flow: format!("{} -> {} {}", args.from, args.to, args.port),
        verdict: judgement.word().to_string(),
        backends,
    }
}

fn backend(cluster: &Cluster, to: &str, verdict: &Verdict) -> BackendAnswer {
    let (src, dst) = ends(verdict);
    BackendAnswer {
        destination: dst
            .map(|d| end_name(cluster, d))
            .unwrap_or_else(|| to.to_string()),
        port: verdict.flow.port,
        allowed: verdict.allowed,
        egress: side(cluster, src, &verdict.egress, Direction::Egress),
        ingress: side(cluster, dst, &verdict.ingress, Direction::Ingress),
    }
}

fn ends(verdict: &Verdict) -> (Option<FlowEnd>, Option<FlowEnd>) {
    (Some(verdict.flow.src), Some(verdict.flow.dst))
}

fn side(
    cluster: &Cluster,
    end: Option<FlowEnd>,
    decision: &moat_ir::Decision,
    direction: Direction,
) -> Side {
    let pod = match end {
        Some(FlowEnd::Pod(i)) => Some(i),
        _ => None,
    };
    Side {
        pod: pod.and_then(|i| cluster.pods.get(i)).map(|p| p.key()),
        allowed: decision.allowed,
        explanation: decision_text(cluster, decision, direction),
        selecting_policies: pod
            .map(|i| selecting_policies(cluster, i, direction))
            .unwrap_or_default(),
    }
}

fn end_name(cluster: &Cluster, end: FlowEnd) -> String {
    match end {
        FlowEnd::Pod(i) => cluster.pods.get(i).map(|p| p.key()).unwrap_or_default(),
        FlowEnd::External(ip) => format!("ip:{ip}"),
    }
}

fn print_text(answer: &Answer) {
    println!("{}: {}", answer.flow, answer.verdict);
    for b in &answer.backends {
        let verdict = if b.allowed { "allow" } else { "deny" };
        if answer.service {
            println!("  backend {} port {}: {verdict}", b.destination, b.port);
        }
        println!("  egress:  {}", b.egress.explanation);
        if !b.egress.selecting_policies.is_empty() {
            println!(
                "           selected by: {}",
                b.egress.selecting_policies.join(", ")
            );
        }
        println!("  ingress: {}", b.ingress.explanation);
        if !b.ingress.selecting_policies.is_empty() {
            println!(
                "           selected by: {}",
                b.ingress.selecting_policies.join(", ")
            );
        }
    }
}
