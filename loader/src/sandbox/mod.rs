//! The sandbox node: a Kubernetes node built from network namespaces, with
//! real workloads in its pods and the moat datapath between them.
//!
//! Everything lives in namespaces named `moat-<name>-*`: the node, one per
//! pod, and one that stands for addresses outside the cluster. The host's
//! own namespace gets no link, address, route or program.

pub mod datapath;
pub mod expect;
pub mod nat;
pub mod netns;
pub mod plan;
pub mod probe;
pub mod responder;
pub mod sctp;
pub mod state;
pub mod topology;
pub mod workload;

use std::path::PathBuf;

use moat_ir::Cluster;
use thiserror::Error;

use crate::swap::LoadReport;

pub use plan::PlanOptions;
pub use state::{DatapathMode, State};

/// Failures of sandbox operations.
#[derive(Debug, Error)]
pub enum SandboxError {
    #[error("invalid sandbox name `{name}`: use 1 to 12 lowercase letters or digits")]
    InvalidName { name: String },
    #[error("sandbox name `{name}` is reserved: `/run/moat/{name}` holds the image store")]
    ReservedName { name: String },
    #[error(
        "sandbox `{name}` is already running; remove it with `moat sandbox down --name {name}`"
    )]
    AlreadyRunning { name: String },
    #[error("sandbox `{name}` is not running")]
    NotRunning { name: String },
    #[error("invalid state file of sandbox `{name}`: {message}")]
    State { name: String, message: String },
    #[error("failed to start `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("failed to {operation}: {source}")]
    Io {
        operation: String,
        source: std::io::Error,
    },
    #[error("failed to {operation}: the thread panicked")]
    Thread { operation: String },
    #[error("{workload} in `{netns}` did not start listening in time")]
    WorkloadTimeout { workload: String, netns: String },
    #[error("pod `{pod}` not found in sandbox `{name}`")]
    PodNotFound { name: String, pod: String },
    #[error(
        "the new manifests change the pods of sandbox `{name}` ({detail}); run `down` and `up` instead"
    )]
    TopologyChanged { name: String, detail: String },
    #[error("no free address left in the pod CIDR `{cidr}`")]
    AddressesExhausted { cidr: ipnet::IpNet },
    #[error("datapath: {message}")]
    Datapath { message: String },
}

/// Everything `up` needs besides the cluster.
#[derive(Debug, Clone)]
pub struct UpOptions {
    pub plan: PlanOptions,
    /// The `moat` binary, whose hidden `sandbox responder` subcommand serves
    /// the built-in responder.
    pub moat: PathBuf,
}

/// Builds and starts a sandbox; returns its state and what it left out.
///
/// When any step fails, everything built so far is removed again.
pub fn up(cluster: &Cluster, options: &UpOptions) -> Result<(State, Vec<String>), SandboxError> {
    let name = &options.plan.name;
    plan::check_name(name)?;
    if State::dir_of(name).exists() || !netns::list(&plan::netns_prefix(name)).is_empty() {
        return Err(SandboxError::AlreadyRunning { name: name.clone() });
    }
    let planned = plan::plan(cluster, &options.plan)?;
    let mut state = planned.state;
    let cluster = plan::align(cluster, &state.pods);
    let built = build_all(&mut state, &cluster, options);
    if let Err(e) = built {
        let _ = down(name);
        return Err(e);
    }
    Ok((state, planned.skipped))
}

fn build_all(
    state: &mut State,
    cluster: &Cluster,
    options: &UpOptions,
) -> Result<(), SandboxError> {
    state.save()?;
    topology::build(state)?;
    state.save()?;
    workload::start_all(state, &options.moat)?;
    state.save()?;
    enforce(state, cluster)?;
    state.save()
}

/// Puts the policies and services of `cluster` in force in the node
/// namespace for the first time.
fn enforce(state: &State, cluster: &Cluster) -> Result<(), SandboxError> {
    nat::install(state)?;
    datapath::install(state, cluster)?;
    Ok(())
}

/// Loads the policies of `cluster` into a running sandbox without touching
/// its pods; the manifests must describe the same pods at the same IPs.
pub fn apply(
    state: &mut State,
    cluster: &Cluster,
    manifests: Vec<PathBuf>,
) -> Result<Option<LoadReport>, SandboxError> {
    let planned = plan::plan(
        cluster,
        &PlanOptions {
            name: state.name.clone(),
            datapath: state.datapath,
            manifests: manifests.clone(),
            load: state.load.clone(),
            extra_outside: state.outside.addresses.clone(),
        },
    )?;
    same_pods(state, &planned.state)?;
    let cluster = &plan::align(cluster, &planned.state.pods);
    state.services = planned.state.services;
    state.generation += 1;
    nat::install(state)?;
    let report = datapath::reload(state, cluster)?;
    state.manifests = manifests;
    state.save()?;
    Ok(report)
}

fn same_pods(running: &State, planned: &State) -> Result<(), SandboxError> {
    let pods = |s: &State| -> Vec<(String, std::net::Ipv4Addr)> {
        s.pods.iter().map(|p| (p.key.clone(), p.ip)).collect()
    };
    if pods(running) == pods(planned) {
        return Ok(());
    }
    let detail = match planned
        .pods
        .iter()
        .find(|p| running.pod(&p.key).is_none_or(|r| r.ip != p.ip))
    {
        Some(p) => format!("pod `{}` at {} is new", p.key, p.ip),
        None => "a pod is gone".to_string(),
    };
    Err(SandboxError::TopologyChanged {
        name: running.name.clone(),
        detail,
    })
}

/// Removes the sandbox called `name`: its processes, namespaces, datapath
/// and state directory. Removing a sandbox that is not running succeeds.
pub fn down(name: &str) -> Result<(), SandboxError> {
    plan::check_name(name)?;
    let unpinned = datapath::remove(name);
    let removed = topology::teardown(name).and(unpinned);
    let dir = State::dir_of(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|source| SandboxError::Io {
            operation: format!("remove `{}`", dir.display()),
            source,
        })?;
    }
    removed
}

/// Runs a command inside a pod's namespace and returns its exit status.
pub fn exec(
    state: &State,
    pod: &str,
    command: &[String],
) -> Result<std::process::ExitStatus, SandboxError> {
    let node = state.pod(pod).ok_or_else(|| SandboxError::PodNotFound {
        name: state.name.clone(),
        pod: pod.to_string(),
    })?;
    let (program, args) = command.split_first().ok_or_else(|| SandboxError::Command {
        command: "exec".to_string(),
        stderr: "no command given".to_string(),
    })?;
    netns::exec_command(&node.netns, program, args)
        .status()
        .map_err(|source| SandboxError::Spawn {
            command: program.clone(),
            source,
        })
}
