//! Real TCP connections through the attached datapath: a client pod
//! reaches a server pod directly and through its ClusterIP (DNAT and
//! reverse NAT on live packets), until an image swap isolates the server,
//! and the server reaches itself through its own ClusterIP (hairpin).
//! Everything lives in namespaces created here, removed on drop.

// A helper that fails must abort the test like the test body would.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod datapath_support;

use std::process::{Child, Stdio};

use datapath_support::*;
use moat_loader::{Datapath, EndpointLink};

/// A process killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Node, client and web namespaces: each pod has a /32 address and a
/// default route through the node, which answers ARP by proxy.
fn topology(tag: &str) -> (Netns, Netns, Netns) {
    let node = Netns::new(&format!("{tag}-node"));
    let client = Netns::new(&format!("{tag}-client"));
    let web = Netns::new(&format!("{tag}-web"));
    let out = node
        .command(&["sysctl", "-qw", "net.ipv4.ip_forward=1"])
        .output()
        .expect("sysctl");
    assert!(out.status.success());
    for (pod, addr, veth) in [(&client, CLIENT, "hclient"), (&web, WEB, "hweb")] {
        node.ip(&[
            "link", "add", veth, "type", "veth", "peer", "name", "p0", "netns", &pod.0,
        ]);
        node.ip(&["link", "set", veth, "up"]);
        let key = format!("net.ipv4.conf.{veth}.proxy_arp=1");
        let out = node
            .command(&["sysctl", "-qw", &key])
            .output()
            .expect("sysctl");
        assert!(out.status.success());
        let mac = format!("02:00:00:00:00:{:02x}", addr.octets()[3]);
        pod.ip(&["link", "set", "p0", "address", &mac]);
        pod.ip(&["addr", "add", &format!("{addr}/32"), "dev", "p0"]);
        pod.ip(&["link", "set", "p0", "up"]);
        pod.ip(&["route", "add", "169.254.1.1", "dev", "p0"]);
        pod.ip(&["route", "add", "default", "via", "169.254.1.1", "dev", "p0"]);
        node.ip(&["route", "add", &format!("{addr}/32"), "dev", veth]);
    }
    node.ip(&["addr", "add", "169.254.1.1/32", "dev", "lo"]);
    node.ip(&["link", "set", "lo", "up"]);
    (node, client, web)
}

/// Connects from `client` to `target` and returns what the server sent.
fn fetch(client: &Netns, target: &str, port: u16) -> String {
    let port = port.to_string();
    let out = client
        .command(&["busybox", "timeout", "2", "busybox", "nc", target, &port])
        .stdin(Stdio::null())
        .output()
        .expect("nc runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Starts a TCP server on port 80 of `pod` that answers `hello`.
fn serve_hello(pod: &Netns) -> Server {
    let child = pod
        .command(&[
            "busybox",
            "nc",
            "-ll",
            "-p",
            "80",
            "-e",
            "/bin/echo",
            "hello",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    Server(child)
}

/// Runs [`fetch`] until it gets an answer, for up to 2 s while the server
/// starts to listen.
fn fetch_first(client: &Netns, target: &str, port: u16) -> String {
    let mut answer = String::new();
    for _ in 0..20 {
        answer = fetch(client, target, port);
        if !answer.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    answer
}

#[test]
fn tcp_through_cluster_ip() {
    if !kernel_available("tcp_through_cluster_ip") {
        return;
    }
    tcp_round_trips("trn", false);
}

#[test]
fn tcp_with_peer_redirect() {
    if !kernel_available("tcp_with_peer_redirect") {
        return;
    }
    tcp_round_trips("trp", true);
}

/// Runs the connections with `bpf_redirect_neigh` (no MAC addresses given)
/// or with `bpf_redirect_peer` (the pods' MAC addresses given).
fn tcp_round_trips(tag: &str, with_macs: bool) {
    let (node, client, web) = topology(tag);
    let _server = serve_hello(&web);

    let pin = PinDir::new();
    let mut dp = Datapath::open_or_create(&pin.0).expect("datapath loads");
    for (ifname, pod_ip) in [("hclient", CLIENT), ("hweb", WEB)] {
        let link = EndpointLink {
            netns: Some(node.path()),
            ifname: ifname.into(),
            pod_ip,
            pod_mac: with_macs.then_some([2, 0, 0, 0, 0, pod_ip.octets()[3]]),
        };
        dp.attach(&link).expect("attach");
    }
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");
    let links = moat_loader::inspect::links(&pin.0).expect("links");
    for (ip, link) in &links {
        let peer = link.flags & moat_loader::layout::LINK_F_MAC != 0;
        assert_eq!(peer, with_macs, "redirect mode of {ip}");
    }

    assert_eq!(
        fetch_first(&client, "10.0.0.2", 80),
        "hello",
        "client -> web:80 directly"
    );
    assert_eq!(
        fetch(&client, "10.96.0.10", 8080),
        "hello",
        "client -> ClusterIP:8080"
    );

    let rows = moat_loader::inspect::ct(&pin.0).expect("ct");
    assert!(
        rows.iter()
            .any(|r| r.kind == "service" && r.destination == "10.96.0.10:8080"),
        "the service flow is tracked: {rows:?}"
    );

    let endpoints = moat_loader::inspect::endpoints(&pin.0).expect("endpoints");
    let web_row = endpoints
        .iter()
        .find(|r| r.ip == "10.0.0.2")
        .expect("web endpoint");
    assert!(web_row.counters.forwarded_packets > 0, "{web_row:?}");
    assert_eq!(web_row.redirect, if with_macs { "peer" } else { "neigh" });
    assert!(!web_row.ingress_open, "web's ingress is isolated");

    dp.load_image(&image(DENY_ALL, 2)).expect("image 2 loads");
    assert_eq!(
        fetch(&client, "10.96.0.10", 8080),
        "",
        "web is isolated now"
    );
    let drops = moat_loader::inspect::drop_counters(&pin.0).expect("drops");
    assert!(
        drops.iter().any(|(name, _)| *name == "policy-ingress"),
        "dropped by ingress policy: {drops:?}"
    );
}

#[test]
fn hairpin_with_neigh_redirect() {
    if !kernel_available("hairpin_with_neigh_redirect") {
        return;
    }
    hairpin_round_trip("thn", false);
}

#[test]
fn hairpin_with_peer_redirect() {
    if !kernel_available("hairpin_with_peer_redirect") {
        return;
    }
    hairpin_round_trip("thp", true);
}

/// web reaches itself through its own ClusterIP. The answer reaches the
/// socket only when it comes from the ClusterIP.
fn hairpin_round_trip(tag: &str, with_macs: bool) {
    let (node, _client, web) = topology(tag);
    let _server = serve_hello(&web);

    let pin = PinDir::new();
    let mut dp = Datapath::open_or_create(&pin.0).expect("datapath loads");
    let link = EndpointLink {
        netns: Some(node.path()),
        ifname: "hweb".into(),
        pod_ip: WEB,
        pod_mac: with_macs.then_some([2, 0, 0, 0, 0, WEB.octets()[3]]),
    };
    dp.attach(&link).expect("attach");
    dp.load_image(&image(ALLOW_SELF, 1)).expect("image loads");

    assert_eq!(
        fetch_first(&web, "10.96.0.10", 8080),
        "hello",
        "web -> its own ClusterIP:8080"
    );

    let rows = moat_loader::inspect::ct(&pin.0).expect("ct");
    assert!(
        rows.iter()
            .any(|r| r.kind == "connection" && r.source.starts_with("169.254.0.1:")),
        "the connection runs from the hairpin address: {rows:?}"
    );

    dp.load_image(&image(ALLOW_CLIENT, 2))
        .expect("image 2 loads");
    assert_eq!(
        fetch(&web, "10.96.0.10", 8080),
        "",
        "web's ingress no longer admits web"
    );
}
