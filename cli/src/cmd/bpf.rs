//! `moat bpf`: list the live contents of the pinned maps, like `cilium bpf`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use moat_loader::inspect;
use moat_loader::names::protocol_name;

use super::kernel::{Format, PinDirArg, fail, names_for, print_json};
use crate::common::EXIT_USAGE;

/// Inspect the datapath's kernel maps.
#[derive(Args)]
#[command(
    after_help = "Example:\n  moat bpf service list\n  moat bpf policy list --endpoint default/web-server-0\n  moat bpf ct list -o json"
)]
pub struct BpfArgs {
    #[command(subcommand)]
    command: BpfCommand,
}

#[derive(Subcommand)]
enum BpfCommand {
    /// Local endpoints with their veth and packet counters.
    #[command(subcommand, after_help = "Example:\n  moat bpf endpoint list")]
    Endpoint(ListOnly<EndpointListArgs>),
    /// Service frontends of the active image and their backends.
    #[command(subcommand, after_help = "Example:\n  moat bpf service list")]
    Service(ListOnly<ServiceListArgs>),
    /// Policy entries of the local endpoints.
    #[command(
        subcommand,
        after_help = "Example:\n  moat bpf policy list --endpoint default/web-server-0"
    )]
    Policy(ListOnly<PolicyListArgs>),
    /// Connection tracking entries.
    #[command(subcommand, after_help = "Example:\n  moat bpf ct list")]
    Ct(ListOnly<CtListArgs>),
}

#[derive(Subcommand)]
enum ListOnly<T: clap::Args> {
    List(T),
}

#[derive(Args)]
struct EndpointListArgs {
    #[command(flatten)]
    pin: PinDirArg,
    /// Image file to name pods; default: the stored active image.
    #[arg(long, value_name = "FILE")]
    image: Option<PathBuf>,
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

#[derive(Args)]
struct ServiceListArgs {
    #[command(flatten)]
    pin: PinDirArg,
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

#[derive(Args)]
struct PolicyListArgs {
    #[command(flatten)]
    pin: PinDirArg,
    /// Only this endpoint: NAMESPACE/POD, or its IPv4 address.
    #[arg(long, value_name = "NS/POD")]
    endpoint: Option<String>,
    /// Image file to name pods and rules; default: the stored active image.
    #[arg(long, value_name = "FILE")]
    image: Option<PathBuf>,
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

#[derive(Args)]
struct CtListArgs {
    #[command(flatten)]
    pin: PinDirArg,
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

pub fn run(args: &BpfArgs) -> u8 {
    match &args.command {
        BpfCommand::Endpoint(ListOnly::List(a)) => endpoint_list(a),
        BpfCommand::Service(ListOnly::List(a)) => service_list(a),
        BpfCommand::Policy(ListOnly::List(a)) => policy_list(a),
        BpfCommand::Ct(ListOnly::List(a)) => ct_list(a),
    }
}

fn endpoint_list(args: &EndpointListArgs) -> u8 {
    let names = match names_for(&args.pin.pin_dir, args.image.as_deref()) {
        Ok(names) => names,
        Err(code) => return code,
    };
    let rows = match inspect::endpoints(&args.pin.pin_dir) {
        Ok(rows) => rows,
        Err(e) => return fail(&e),
    };
    if args.output == Format::Json {
        print_json(&rows);
        return 0;
    }
    println!(
        "{:<5} {:<28} {:<16} {:<8} {:<8} {:<14} {:>10} {:>10}",
        "ID", "POD", "IP", "IFINDEX", "REDIRECT", "ENFORCING", "FORWARDED", "DROPPED"
    );
    for row in &rows {
        let pod = row
            .ip
            .parse()
            .ok()
            .and_then(|ip| names.pod(ip))
            .unwrap_or_else(|| "-".to_owned());
        let enforcing = match (row.ingress_open, row.egress_open) {
            (true, true) => "none",
            (false, true) => "ingress",
            (true, false) => "egress",
            (false, false) => "both",
        };
        println!(
            "{:<5} {pod:<28} {:<16} {:<8} {:<8} {enforcing:<14} {:>10} {:>10}",
            row.endpoint_id,
            row.ip,
            row.ifindex,
            row.redirect,
            row.counters.forwarded_packets,
            row.counters.dropped_packets
        );
    }
    0
}

fn service_list(args: &ServiceListArgs) -> u8 {
    let rows = match inspect::services(&args.pin.pin_dir) {
        Ok(rows) => rows,
        Err(e) => return fail(&e),
    };
    if args.output == Format::Json {
        print_json(&rows);
        return 0;
    }
    println!(
        "{:<5} {:<24} {:<6} {:<14} BACKENDS",
        "ID", "FRONTEND", "PROTO", "MODE"
    );
    for row in &rows {
        let mode = if row.mode == "maglev" {
            format!("maglev/{}", row.maglev_size)
        } else {
            row.mode.to_owned()
        };
        let backends = if row.backends.is_empty() {
            "(none)".to_owned()
        } else {
            row.backends.join(", ")
        };
        println!(
            "{:<5} {:<24} {:<6} {:<14} {backends}",
            row.id,
            row.frontend,
            protocol_name(row.protocol),
            mode
        );
    }
    0
}

fn policy_list(args: &PolicyListArgs) -> u8 {
    let names = match names_for(&args.pin.pin_dir, args.image.as_deref()) {
        Ok(names) => names,
        Err(code) => return code,
    };
    let endpoint = match &args.endpoint {
        None => None,
        Some(text) => match text.parse().ok().or_else(|| names.pod_ip(text)) {
            Some(ip) => Some(ip),
            None => {
                eprintln!(
                    "error: unknown endpoint `{text}`: expected NAMESPACE/POD of the loaded image or an IPv4 address"
                );
                return EXIT_USAGE;
            }
        },
    };
    let rows = match inspect::policy(&args.pin.pin_dir, endpoint) {
        Ok(rows) => rows,
        Err(e) => return fail(&e),
    };
    if args.output == Format::Json {
        print_json(&rows);
        return 0;
    }
    println!(
        "{:<28} {:<8} {:<30} {:<6} {:<9} {:<6} {:>9} RULE",
        "ENDPOINT", "DIR", "IDENTITY", "PROTO", "PORT", "ACTION", "PACKETS"
    );
    for row in &rows {
        let endpoint = row
            .endpoint
            .parse()
            .ok()
            .and_then(|ip| names.pod(ip))
            .unwrap_or_else(|| row.endpoint.clone());
        let identity = if row.identity == 0 {
            "any".to_owned()
        } else {
            names.identity(row.identity)
        };
        let protocol = if row.protocol == 0 {
            "any"
        } else {
            protocol_name(row.protocol)
        };
        let rule = match row.rule_id.and_then(|id| names.rule(id)) {
            Some(rule) => format!("{} {}", rule.policy, rule.location.unwrap_or_default()),
            None => row
                .rule_id
                .map_or_else(|| "-".to_owned(), |id| id.to_string()),
        };
        println!(
            "{endpoint:<28} {:<8} {identity:<30} {protocol:<6} {:<9} {:<6} {:>9} {rule}",
            row.direction, row.ports, row.action, row.rule_packets
        );
    }
    0
}

fn ct_list(args: &CtListArgs) -> u8 {
    let rows = match inspect::ct(&args.pin.pin_dir) {
        Ok(rows) => rows,
        Err(e) => return fail(&e),
    };
    if args.output == Format::Json {
        print_json(&rows);
        return 0;
    }
    for row in &rows {
        let nat = row
            .nat
            .as_deref()
            .map(|n| format!(" nat {n}"))
            .unwrap_or_default();
        let rule = row
            .rule_id
            .map(|r| format!(" rule {r}"))
            .unwrap_or_default();
        println!(
            "{} {} -> {} {}{nat} {}{rule} gen {} packets {} bytes {} expires {}s [{}]",
            protocol_name(row.protocol),
            row.source,
            row.destination,
            row.kind,
            row.verdict,
            row.generation,
            row.packets,
            row.bytes,
            row.expires_in_s,
            row.state.join(",")
        );
    }
    0
}
