//! The sandbox's use of the eBPF datapath: one pin directory per sandbox,
//! programs on every pod veth, and compiled images swapped in as a whole.

use std::path::PathBuf;

use moat_compiler::{CompileOptions, LbOptions, compile, decode, encode};
use moat_ir::Cluster;

use super::SandboxError;
use super::netns;
use super::state::{DatapathMode, State};
use super::topology::GATEWAY;
use crate::datapath::{Datapath, EndpointLink, remove_pin_dir};
use crate::names::store_image;
use crate::swap::LoadReport;

/// Maglev table size of every service (prime). A size that stays the same
/// when backends come and go is what keeps flows on their backends: the
/// compiler's default grows with the backend count, which remaps most flows.
const MAGLEV_SIZE: u32 = 16_381;

/// Returns the pin directory of the sandbox `name`.
pub fn pin_dir(name: &str) -> PathBuf {
    PathBuf::from(format!("/sys/fs/bpf/moat-{name}"))
}

fn datapath_error(operation: &str, error: impl std::fmt::Display) -> SandboxError {
    SandboxError::Datapath {
        message: format!("failed to {operation}: {error}"),
    }
}

/// Loads the programs, attaches them to every pod veth of the sandbox, and
/// swaps in the image compiled from `cluster`.
pub fn install(state: &State, cluster: &Cluster) -> Result<Option<LoadReport>, SandboxError> {
    if state.datapath != DatapathMode::Ebpf {
        return Ok(None);
    }
    let pins = pin_dir(&state.name);
    let mut datapath =
        Datapath::open_or_create(&pins).map_err(|e| datapath_error("load the programs", e))?;
    let node = netns::path(&state.node_ns);
    for pod in &state.pods {
        let link = EndpointLink {
            netns: Some(node.clone()),
            ifname: pod.host_veth.clone(),
            pod_ip: pod.ip,
            pod_mac: parse_mac(&pod.pod_mac),
        };
        datapath
            .attach(&link)
            .map_err(|e| datapath_error(&format!("attach to `{}`", pod.host_veth), e))?;
    }
    datapath
        .set_host_address(GATEWAY)
        .map_err(|e| datapath_error("record the gateway address", e))?;
    load(&datapath, state, cluster).map(Some)
}

/// Compiles `cluster` and swaps the image into the running datapath.
pub fn reload(state: &State, cluster: &Cluster) -> Result<Option<LoadReport>, SandboxError> {
    if state.datapath != DatapathMode::Ebpf {
        return Ok(None);
    }
    let datapath = Datapath::open(&pin_dir(&state.name))
        .map_err(|e| datapath_error("open the pinned datapath", e))?;
    load(&datapath, state, cluster).map(Some)
}

fn load(datapath: &Datapath, state: &State, cluster: &Cluster) -> Result<LoadReport, SandboxError> {
    let options = CompileOptions {
        generation: state.generation,
        lb: LbOptions {
            maglev_size: Some(MAGLEV_SIZE),
            ..LbOptions::default()
        },
        ..CompileOptions::default()
    };
    let compiled =
        compile(cluster, &options).map_err(|e| datapath_error("compile the image", e))?;
    // The decoded copy carries the content hash that `encode` computes.
    let bytes = encode(&compiled);
    let image = decode(&bytes).map_err(|e| datapath_error("decode the compiled image", e))?;
    let copy = state.dir().join("image.moat");
    std::fs::write(&copy, &bytes).map_err(|source| SandboxError::Io {
        operation: format!("write `{}`", copy.display()),
        source,
    })?;
    let report = datapath
        .load_image(&image)
        .map_err(|e| datapath_error("load the image", e))?;
    if let Err(e) = store_image(&image.header.content_hash, &bytes) {
        tracing::warn!(error = %e, "failed to store the image for `moat monitor`");
    }
    Ok(report)
}

/// Detaches the programs and removes the pins of the sandbox `name`.
pub fn remove(name: &str) -> Result<(), SandboxError> {
    let pins = pin_dir(name);
    if !pins.exists() {
        return Ok(());
    }
    if let Err(e) = remove_pin_dir(&pins) {
        tracing::warn!(error = %e, "detaching failed; removing the pins anyway");
        std::fs::remove_dir_all(&pins).map_err(|source| SandboxError::Io {
            operation: format!("remove `{}`", pins.display()),
            source,
        })?;
    }
    Ok(())
}

/// Parses `aa:bb:cc:dd:ee:ff`.
fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let bytes: Vec<u8> = text
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .ok()?;
    bytes.try_into().ok()
}
