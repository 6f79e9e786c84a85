//! `moat status`: what the pinned datapath is doing, like `cilium status`.

use clap::Args;
use moat_loader::inspect;

use super::kernel::{Format, PinDirArg, fail, print_json};

/// Show attached programs, map fill, the active image and drop counts.
#[derive(Args)]
#[command(after_help = "Example:\n  moat status --pin-dir /sys/fs/bpf/moat-demo -o json")]
pub struct StatusArgs {
    #[command(flatten)]
    pin: PinDirArg,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

pub fn run(args: &StatusArgs) -> u8 {
    let status = match inspect::status(&args.pin.pin_dir) {
        Ok(status) => status,
        Err(e) => return fail(&e),
    };
    if args.output == Format::Json {
        print_json(&status);
        return 0;
    }

    println!("pin directory:  {}", status.pin_dir.display());
    if status.generation == 0 {
        println!("image:          none loaded (every IPv4 packet is dropped)");
    } else {
        println!(
            "image:          generation {} hash {} (datapath generation {}, slot {})",
            status.image_generation, status.image_hash, status.generation, status.slot
        );
    }
    println!("attachments:    {}", status.attachments.len());
    for at in &status.attachments {
        println!(
            "  {:<16} ifindex {:<5} {:<8} {} (netns {})",
            at.interface, at.ifindex, at.direction, at.mode, at.netns_inode
        );
    }
    println!("maps:");
    for map in &status.maps {
        let percent = map.entries as f64 * 100.0 / f64::from(map.capacity.max(1));
        println!(
            "  {:<16} {:>8} / {:<8} {percent:5.1}%",
            map.map, map.entries, map.capacity
        );
    }
    println!(
        "forwarded:      {} packets (per local endpoint)",
        status.forwarded_packets
    );
    println!("dropped:        {} packets", status.dropped_packets);
    for drop in &status.drops {
        println!("  {:<18} {} packets", drop.reason, drop.packets);
    }
    println!(
        "events:         {} sent, {} lost to a full ring buffer",
        status.events_sent, status.events_lost
    );
    let features: Vec<String> = status
        .features
        .iter()
        .map(|f| format!("{} {}", f.name, if f.available { "yes" } else { "no" }))
        .collect();
    println!("kernel:         {}", features.join(", "));
    0
}
