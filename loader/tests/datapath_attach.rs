//! Attaches the datapath with tcx to a veth inside a test namespace and
//! sends real packets through it. Everything lives in namespaces created
//! here and is removed on drop, also when a test fails.

// A helper that fails must abort the test like the test body would.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod datapath_support;

use std::net::Ipv4Addr;

use aya::programs::{SchedClassifier, TcAttachType};
use datapath_support::*;
use moat_loader::{Datapath, EndpointLink};

/// Names of the tcx programs on `h0` in `netns`.
fn tcx_programs(netns: &Netns, hook: TcAttachType) -> Vec<String> {
    let _guard = moat_loader::sys::NetnsGuard::enter(&netns.path()).expect("enter netns");
    let (_, programs) = SchedClassifier::query_tcx("h0", hook).expect("query tcx");
    programs
        .iter()
        .filter_map(|p| p.name_as_str().map(str::to_owned))
        .collect()
}

const NODE_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);

/// Creates a node namespace with veth `h0` whose peer `p0` sits in a pod namespace
/// with address 10.0.0.1 (the test cluster's `client`).
fn node_and_pod(tag: &str) -> (Netns, Netns) {
    let node = Netns::new(&format!("{tag}-node"));
    let pod = Netns::new(&format!("{tag}-pod"));
    node.ip(&["link", "add", "h0", "type", "veth", "peer", "name", "p0"]);
    node.ip(&["link", "set", "p0", "netns", &pod.0]);
    node.ip(&["addr", "add", "10.0.0.254/24", "dev", "h0"]);
    node.ip(&["link", "set", "h0", "up"]);
    pod.ip(&["addr", "add", "10.0.0.1/24", "dev", "p0"]);
    pod.ip(&["link", "set", "p0", "up"]);
    pod.ip(&["link", "set", "lo", "up"]);
    (node, pod)
}

/// The client pod's veth `h0` in the node namespace.
fn h0_link(node: &Netns) -> EndpointLink {
    EndpointLink {
        netns: Some(node.path()),
        ifname: "h0".into(),
        pod_ip: CLIENT,
        pod_mac: None,
    }
}

#[test]
fn attach_detach_tcx() {
    if !kernel_available("attach_detach_tcx") {
        return;
    }
    let (node, _pod) = node_and_pod("attach");
    let pin = PinDir::new();
    let mut dp = Datapath::open_or_create(&pin.0).expect("datapath loads");
    let link = h0_link(&node);
    let attached = dp.attach(&link).expect("attach");
    assert_eq!(attached.len(), 2);
    assert!(attached.iter().all(|a| a.mode == "tcx"), "{attached:?}");

    assert_eq!(
        tcx_programs(&node, TcAttachType::Ingress),
        ["moat_from_pod"]
    );
    assert_eq!(tcx_programs(&node, TcAttachType::Egress), ["moat_to_pod"]);

    dp.attach(&link).expect("attaching twice");
    assert_eq!(
        dp.attachments().expect("list").len(),
        2,
        "no duplicate attachment"
    );
    let links = moat_loader::inspect::links(&pin.0).expect("links");
    assert_eq!(links.len(), 1);

    dp.detach_all().expect("detach");
    assert!(dp.attachments().expect("list").is_empty());
    assert!(
        moat_loader::inspect::links(&pin.0)
            .expect("links")
            .is_empty()
    );
    assert!(
        tcx_programs(&node, TcAttachType::Ingress).is_empty(),
        "detached"
    );
    assert!(
        tcx_programs(&node, TcAttachType::Egress).is_empty(),
        "detached"
    );
}

#[test]
fn real_packets_follow_the_image() {
    if !kernel_available("real_packets_follow_the_image") {
        return;
    }
    let (node, pod) = node_and_pod("ping");
    let pin = PinDir::new();
    let mut dp = Datapath::open_or_create(&pin.0).expect("datapath loads");
    let link = h0_link(&node);
    dp.attach(&link).expect("attach");
    dp.set_host_address(NODE_IP).expect("host address");

    let ping = || {
        pod.command(&["busybox", "ping", "-c", "1", "-W", "1", "10.0.0.254"])
            .output()
            .expect("ping runs")
            .status
            .success()
    };
    assert!(!ping(), "without an image the datapath drops");
    let drops = moat_loader::inspect::drop_counters(&pin.0).expect("drops");
    assert!(
        drops.iter().any(|(name, _)| *name == "no-image"),
        "drops: {drops:?}"
    );

    dp.load_image(&image("", 1)).expect("image loads");
    let passed = ping();
    let drops = moat_loader::inspect::drop_counters(&pin.0).expect("drops");
    let rows = moat_loader::inspect::ct(&pin.0).expect("ct");
    assert!(
        passed,
        "pod -> node passes once an image is active; drops {drops:?}, ct {rows:?}"
    );
    let rows = moat_loader::inspect::ct(&pin.0).expect("ct");
    assert!(
        rows.iter()
            .any(|r| r.protocol == 1 && r.destination.starts_with("10.0.0.254")),
        "the echo is tracked: {rows:?}"
    );
}
