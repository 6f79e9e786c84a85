//! Measures the kernel's run time of the from-pod program per packet with
//! BPF_PROG_RUN, for the common cases. Needs root. Run with
//! `cargo run --release -p moat-loader --example datapath_cost`.

// An example that cannot set up its datapath has nothing to measure.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../tests/datapath_support/mod.rs"]
mod datapath_support;

use datapath_support::*;
use moat_loader::Hook;

const REPEAT: u32 = 200_000;

fn main() {
    if !kernel_available("datapath_cost") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");

    let cases = [
        (
            "allowed flow, established",
            packet((CLIENT, 40000), (WEB, 80), PROTO_TCP, TCP_ACK),
        ),
        (
            "denied flow, established",
            packet((OTHER, 40000), (WEB, 80), PROTO_TCP, TCP_ACK),
        ),
        (
            "reply of an allowed flow",
            packet((WEB, 80), (CLIENT, 40000), PROTO_TCP, TCP_ACK),
        ),
    ];
    println!("BPF_PROG_RUN of moat_from_pod, mean of {REPEAT} runs per case");
    for (name, pkt) in &cases {
        // The first run creates the conntrack entry; the measured runs find it.
        dp.test_run(Hook::FromPod, pkt, None).expect("run");
        let ns = dp
            .test_run_repeat(Hook::FromPod, pkt, REPEAT)
            .expect("repeat");
        println!("  {name:<28} {ns:>6} ns/packet");
    }
}
