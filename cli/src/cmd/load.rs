//! `moat load`: swap a compiled image into the kernel datapath.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::Args;
use moat_loader::{Datapath, EndpointLink};

use super::kernel::{Format, PinDirArg, fail, print_json, read_image};
use crate::common::EXIT_USAGE;

/// Load a compiled image into the eBPF datapath, as a whole.
///
/// Loads and pins the programs and maps first when they are missing
/// (mounting bpffs on /sys/fs/bpf if needed), attaches the programs to the
/// veths given with --attach, then swaps the image in atomically. On any
/// failure the previous image keeps enforcing.
#[derive(Args)]
#[command(
    after_help = "Example:\n  moat compile policies/demo -o node.moat && moat load node.moat"
)]
pub struct LoadArgs {
    /// Image file written by `moat compile`.
    image: PathBuf,

    #[command(flatten)]
    pin: PinDirArg,

    /// Attach to a pod's host-side veth: IFNAME=POD_IP. Repeatable.
    #[arg(long, value_name = "IFNAME=POD_IP")]
    attach: Vec<String>,

    /// Network namespace of the veths given with --attach (a path such as
    /// /run/netns/node); default: the current one.
    #[arg(long, value_name = "PATH")]
    netns: Option<PathBuf>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

pub fn run(args: &LoadArgs) -> u8 {
    let links = match parse_links(args) {
        Ok(links) => links,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_USAGE;
        }
    };
    let (image, bytes) = match read_image(&args.image) {
        Ok(read) => read,
        Err(code) => return code,
    };
    let mut datapath = match Datapath::open_or_create(&args.pin.pin_dir) {
        Ok(dp) => dp,
        Err(e) => return fail(&e),
    };
    for link in &links {
        if let Err(e) = datapath.attach(link) {
            return fail(&e);
        }
    }
    let report = match datapath.load_image(&image) {
        Ok(report) => report,
        Err(e) => return fail(&e),
    };
    if let Err(e) = moat_loader::names::store_image(&image.header.content_hash, &bytes) {
        eprintln!("warning: {e}; `moat monitor` will need --image to name rules");
    }

    match args.output {
        Format::Json => print_json(&report),
        Format::Text => {
            println!(
                "loaded image generation {} ({}) into {} as datapath generation {} (slot {})",
                report.image_generation,
                report.image_hash,
                args.pin.pin_dir.display(),
                report.generation,
                report.slot
            );
            for table in &report.tables {
                println!(
                    "  {:<16} {:>8} / {}",
                    table.map, table.records, table.capacity
                );
            }
        }
    }
    0
}

fn parse_links(args: &LoadArgs) -> Result<Vec<EndpointLink>, String> {
    args.attach
        .iter()
        .map(|spec| {
            let (ifname, ip) = spec
                .split_once('=')
                .ok_or_else(|| format!("invalid --attach `{spec}`: expected IFNAME=POD_IP"))?;
            let pod_ip: Ipv4Addr = ip
                .parse()
                .map_err(|_| format!("invalid --attach `{spec}`: `{ip}` is not an IPv4 address"))?;
            Ok(EndpointLink {
                netns: args.netns.clone(),
                ifname: ifname.to_owned(),
                pod_ip,
                pod_mac: None,
            })
        })
        .collect()
}

/// Detach the datapath from every veth and remove its pinned programs and maps.
#[derive(Args)]
#[command(after_help = "Example:\n  moat unload --pin-dir /sys/fs/bpf/moat")]
pub struct UnloadArgs {
    #[command(flatten)]
    pin: PinDirArg,
}

pub fn unload(args: &UnloadArgs) -> u8 {
    match moat_loader::datapath::remove_pin_dir(&args.pin.pin_dir) {
        Ok(()) => {
            println!("removed {}", args.pin.pin_dir.display());
            0
        }
        Err(e) => fail(&e),
    }
}
