//! `moat sandbox`: a node built from network namespaces, with real pods,
//! the moat datapath, and probes that compare the kernel with the evaluator.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use moat_ir::{LoadOptions, Loaded, Settings};
use moat_loader::sandbox::state::{L4Port, LoadSettings};
use moat_loader::sandbox::{self, DatapathMode, PlanOptions, State, UpOptions};

use super::sandbox_probe::{self, ConnectArgs, ProbeArgs};
use crate::common::{EXIT_FAILURE, EXIT_USAGE, Inputs, load_or_exit, print_diagnostics};

/// Run policies against the real kernel in a node made of network namespaces.
///
/// Every namespace is named `moat-<name>-*`; the host's own namespace gets
/// no link, address, route or program, and no packet leaves the sandbox.
/// State lives under /run/moat/<name>/. Needs root.
#[derive(Args)]
#[command(after_help = "Example:\n  moat sandbox up policies/demo\n  \
moat sandbox exec default/client-0 -- timeout 3 busybox wget -q -O - http://10.96.0.2\n  \
moat sandbox probe -o flows\n  moat sandbox down")]
pub struct SandboxArgs {
    #[command(subcommand)]
    command: SandboxCommand,
}

#[derive(Subcommand)]
enum SandboxCommand {
    #[command(after_help = "Example:\n  moat sandbox up --name demo policies/demo")]
    Up(UpArgs),
    #[command(
        after_help = "Example:\n  moat sandbox exec default/client-0 -- timeout 3 busybox wget -q -O - http://10.96.0.2"
    )]
    Exec(ExecArgs),
    #[command(after_help = "Example:\n  moat sandbox apply policies/demo-isolated")]
    Apply(ApplyArgs),
    #[command(after_help = "Example:\n  moat sandbox probe --port 80/tcp -o flows")]
    Probe(ProbeArgs),
    #[command(after_help = "Example:\n  moat sandbox connect default/client-0 10.96.0.2 tcp/80")]
    Connect(ConnectArgs),
    /// Remove a sandbox: its processes, namespaces, programs, pins and state.
    #[command(after_help = "Example:\n  moat sandbox down --name demo")]
    Down(NameArg),
    /// List the running sandboxes.
    #[command(after_help = "Example:\n  moat sandbox ls")]
    Ls,
    #[command(hide = true)]
    Responder(ResponderArgs),
}

// The sandbox a command acts on. A doc comment here would replace the
// description of every subcommand that takes only this argument.
#[derive(Args, Clone)]
pub struct NameArg {
    /// Sandbox name: 1 to 12 lowercase letters or digits.
    #[arg(long, default_value = "moat")]
    pub name: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum Datapath {
    /// The moat eBPF programs enforce policy and translate services.
    Ebpf,
    /// A plain router with nftables DNAT for ClusterIPs and no policy.
    None,
}

/// Build the node, its pods and workloads, and load the compiled policies.
#[derive(Args)]
struct UpArgs {
    #[command(flatten)]
    inputs: Inputs,

    #[command(flatten)]
    name: NameArg,

    /// Enforcement between the pods: the eBPF datapath, or none.
    #[arg(long, value_enum, default_value = "ebpf")]
    datapath: Datapath,

    /// Another address outside the cluster to serve (repeatable); addresses
    /// that ipBlock peers name are served anyway.
    #[arg(long, value_name = "IP")]
    outside: Vec<Ipv4Addr>,
}

/// Run a command inside a pod's network namespace.
#[derive(Args)]
struct ExecArgs {
    #[command(flatten)]
    name: NameArg,

    /// The pod, as `namespace/name`.
    pod: String,

    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true)]
    command: Vec<String>,
}

/// Compile new manifests and load them into the running sandbox.
#[derive(Args)]
struct ApplyArgs {
    /// Manifest files or directories; they must describe the same pods.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,

    #[command(flatten)]
    name: NameArg,
}

/// Serve the built-in responder (used by `up` inside pod namespaces).
#[derive(Args)]
struct ResponderArgs {
    #[arg(long)]
    pod_name: String,

    /// `tcp/80` or `udp/53` (repeatable).
    #[arg(long)]
    port: Vec<String>,

    /// File written once every port is bound.
    #[arg(long)]
    ready: Option<PathBuf>,
}

pub fn run(args: &SandboxArgs) -> u8 {
    match &args.command {
        SandboxCommand::Up(up) => run_up(up),
        SandboxCommand::Exec(exec) => run_exec(exec),
        SandboxCommand::Apply(apply) => run_apply(apply),
        SandboxCommand::Probe(probe) => sandbox_probe::run(probe),
        SandboxCommand::Connect(connect) => sandbox_probe::run_connect(connect),
        SandboxCommand::Down(name) => run_down(name),
        SandboxCommand::Ls => run_ls(),
        SandboxCommand::Responder(responder) => run_responder(responder),
    }
}

fn fail(error: &impl std::fmt::Display) -> u8 {
    eprintln!("error: {error}");
    EXIT_FAILURE
}

fn absolute(paths: &[PathBuf]) -> Vec<PathBuf> {
    paths
        .iter()
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .collect()
}

fn run_up(args: &UpArgs) -> u8 {
    if args.inputs.paths.iter().any(|p| p.as_os_str() == "-") {
        eprintln!(
            "error: `moat sandbox up` needs manifest files, because `apply` and `probe` read them again"
        );
        return EXIT_USAGE;
    }
    let loaded = match load_or_exit(&args.inputs) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let Ok(moat) = std::env::current_exe() else {
        eprintln!("error: cannot find the path of the running `moat` binary");
        return EXIT_FAILURE;
    };
    let options = UpOptions {
        plan: PlanOptions {
            name: args.name.name.clone(),
            datapath: match args.datapath {
                Datapath::Ebpf => DatapathMode::Ebpf,
                Datapath::None => DatapathMode::None,
            },
            manifests: absolute(&args.inputs.paths),
            load: LoadSettings {
                pod_cidr: args.inputs.pod_cidr,
                service_cidr: args.inputs.service_cidr,
                ipblock_matches_pods: args.inputs.ipblock_matches_pods,
            },
            extra_outside: args.outside.clone(),
        },
        moat,
    };
    match sandbox::up(&loaded.cluster, &options) {
        Ok((state, skipped)) => {
            for line in skipped {
                eprintln!("warning: {line}");
            }
            print_summary(&state);
            0
        }
        Err(e) => fail(&e),
    }
}

fn print_summary(state: &State) {
    println!(
        "sandbox `{}` is up (node namespace {})",
        state.name, state.node_ns
    );
    for pod in &state.pods {
        let workload = match (pod.nginx_ports.is_empty(), pod.responder_ports.is_empty()) {
            (false, true) => "nginx",
            (false, false) => "nginx, responder",
            (true, false) => "responder",
            (true, true) => "no ports",
        };
        println!(
            "  pod {:<32} {:<15} {:<14} {workload}",
            pod.key, pod.ip, pod.netns
        );
    }
    for service in &state.services {
        let ports: Vec<String> = service
            .ports
            .iter()
            .map(|p| format!("{}/{}", p.port.protocol.lower(), p.port.port))
            .collect();
        println!(
            "  service {:<28} {:<15} {}",
            service.key,
            service.cluster_ip,
            ports.join(",")
        );
    }
    for address in &state.outside.addresses {
        println!("  outside {address:<28} {}", state.outside.netns);
    }
}

/// Reads the state of a running sandbox, printing the error when it fails.
pub fn load_state(name: &str) -> Result<State, u8> {
    State::load(name).map_err(|e| fail(&e))
}

/// Loads the manifests of a running sandbox with the options it was started with.
pub fn load_state_manifests(state: &State, paths: &[PathBuf]) -> Result<Loaded, u8> {
    let options = LoadOptions {
        pod_cidr: state.load.pod_cidr,
        service_cidr: state.load.service_cidr,
        settings: Settings {
            ipblock_matches_pods: state.load.ipblock_matches_pods,
        },
    };
    let loaded = moat_ir::load_paths(paths, &options);
    if loaded.has_errors() {
        print_diagnostics(&loaded);
        eprintln!(
            "error: {} error(s) in the input; run `moat check` for details",
            loaded.errors()
        );
        return Err(EXIT_FAILURE);
    }
    Ok(loaded)
}

fn run_exec(args: &ExecArgs) -> u8 {
    let state = match load_state(&args.name.name) {
        Ok(state) => state,
        Err(code) => return code,
    };
    match sandbox::exec(&state, &args.pod, &args.command) {
        Ok(status) => status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(EXIT_FAILURE),
        Err(e) => fail(&e),
    }
}

fn run_apply(args: &ApplyArgs) -> u8 {
    let mut state = match load_state(&args.name.name) {
        Ok(state) => state,
        Err(code) => return code,
    };
    // Paths as given name the rules in events; the state keeps absolute
    // ones, so that `probe` finds the files from any directory.
    let loaded = match load_state_manifests(&state, &args.paths) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    match sandbox::apply(&mut state, &loaded.cluster, absolute(&args.paths)) {
        Ok(report) => {
            print!(
                "sandbox `{}`: image {} loaded",
                state.name, state.generation
            );
            match report {
                Some(r) => println!(
                    " (datapath generation {}, hash {})",
                    r.generation, r.image_hash
                ),
                None => println!(" (services only: no eBPF datapath)"),
            }
            0
        }
        Err(e) => fail(&e),
    }
}

fn run_down(args: &NameArg) -> u8 {
    match sandbox::down(&args.name) {
        Ok(()) => {
            println!("sandbox `{}` removed", args.name);
            0
        }
        Err(e) => fail(&e),
    }
}

fn run_ls() -> u8 {
    for name in State::list() {
        match State::load(&name) {
            Ok(state) => println!(
                "{name}\t{} pods\t{} services\tgeneration {}\t{}",
                state.pods.len(),
                state.services.len(),
                state.generation,
                match state.datapath {
                    DatapathMode::Ebpf => "ebpf",
                    DatapathMode::None => "none",
                }
            ),
            Err(e) => println!("{name}\tbroken: {e}"),
        }
    }
    0
}

fn run_responder(args: &ResponderArgs) -> u8 {
    let mut ports = Vec::new();
    for text in &args.port {
        match crate::flows::parse_port(text) {
            Ok((protocol, port)) => ports.push(L4Port { protocol, port }),
            Err(message) => {
                eprintln!("error: {message}");
                return EXIT_USAGE;
            }
        }
    }
    match sandbox::responder::serve(&args.pod_name, &ports, args.ready.as_deref()) {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}
