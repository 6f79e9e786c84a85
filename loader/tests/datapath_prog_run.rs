//! BPF_PROG_RUN tests of the datapath programs with crafted packets:
//! policy, service translation with reverse NAT, hairpin, and conntrack.

// A helper that fails must abort the test like the test body would.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod datapath_support;

use datapath_support::*;
use moat_loader::Hook;

#[test]
fn policy_allows_and_denies() {
    if !kernel_available("policy_allows_and_denies") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");

    let allowed = packet((CLIENT, 40000), (WEB, 80), PROTO_TCP, TCP_SYN);
    let run = dp
        .test_run(Hook::FromPod, &allowed, None)
        .expect("test run");
    assert_eq!(
        run.retval, TC_ACT_REDIRECT,
        "client -> web:80 is redirected to web"
    );

    let denied = packet((OTHER, 40000), (WEB, 80), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::FromPod, &denied, None).expect("test run");
    assert_eq!(run.retval, TC_ACT_SHOT, "other -> web:80 is dropped");

    let wrong_port = packet((CLIENT, 40001), (WEB, 81), PROTO_TCP, TCP_SYN);
    let run = dp
        .test_run(Hook::FromPod, &wrong_port, None)
        .expect("test run");
    assert_eq!(run.retval, TC_ACT_SHOT, "client -> web:81 is dropped");
}

#[test]
fn service_dnat_and_reverse_nat() {
    if !kernel_available("service_dnat_and_reverse_nat") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");

    let syn = packet((CLIENT, 40000), (VIP, 8080), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::FromPod, &syn, None).expect("test run");
    assert_eq!(run.retval, TC_ACT_REDIRECT);
    let out = tuple(&run.packet);
    assert_eq!(
        out.dst,
        (WEB, 80),
        "ClusterIP:port is translated to the backend"
    );
    assert_eq!(out.src, (CLIENT, 40000));
    assert!(checksums_valid(&run.packet), "checksums after DNAT");

    let rows = moat_loader::inspect::ct(&pin.0).expect("ct list");
    let service = rows
        .iter()
        .find(|r| r.kind == "service")
        .expect("service pin");
    assert_eq!(service.destination, "10.96.0.10:8080");
    assert_eq!(service.nat.as_deref(), Some("10.0.0.2:80"));
    let conn = rows
        .iter()
        .find(|r| r.kind == "connection")
        .expect("connection");
    assert_eq!(conn.destination, "10.0.0.2:80");
    assert_eq!(conn.nat.as_deref(), Some("10.96.0.10:8080"));
    assert_eq!(conn.verdict, "forwarded");

    let synack = packet((WEB, 80), (CLIENT, 40000), PROTO_TCP, TCP_SYNACK);
    let run = dp.test_run(Hook::FromPod, &synack, None).expect("test run");
    assert_eq!(run.retval, TC_ACT_REDIRECT);
    let out = tuple(&run.packet);
    assert_eq!(out.src, (VIP, 8080), "the reply leaves with the ClusterIP");
    assert_eq!(out.dst, (CLIENT, 40000));
    assert!(checksums_valid(&run.packet), "checksums after reverse NAT");

    let again = dp.test_run(Hook::FromPod, &syn, None).expect("test run");
    assert_eq!(
        tuple(&again.packet).dst,
        (WEB, 80),
        "the flow keeps its backend"
    );
    let rows = moat_loader::inspect::ct(&pin.0).expect("ct list");
    let conn = rows
        .iter()
        .find(|r| r.kind == "connection")
        .expect("connection");
    assert!(
        conn.state.contains(&"seen-reply"),
        "state: {:?}",
        conn.state
    );
    assert_eq!(conn.packets, 3);
}

#[test]
fn service_policy_judges_backend() {
    if !kernel_available("service_policy_judges_backend") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");

    let syn = packet((OTHER, 40000), (VIP, 8080), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::FromPod, &syn, None).expect("test run");
    assert_eq!(
        run.retval, TC_ACT_SHOT,
        "web's ingress policy applies after translation"
    );
}

#[test]
fn reply_of_allowed_connection_passes() {
    if !kernel_available("reply_of_allowed_connection_passes") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(DENY_ALL, 1)).expect("image loads");

    // web opens a connection to client; client has no policy.
    let syn = packet((WEB, 50000), (CLIENT, 80), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::FromPod, &syn, None).expect("test run");
    assert_eq!(run.retval, TC_ACT_REDIRECT);

    // The reply enters web, whose ingress denies everything new.
    let synack = packet((CLIENT, 80), (WEB, 50000), PROTO_TCP, TCP_SYNACK);
    let run = dp.test_run(Hook::FromPod, &synack, None).expect("test run");
    assert_eq!(
        run.retval, TC_ACT_REDIRECT,
        "a reply of an allowed connection passes"
    );

    let new = packet((CLIENT, 40000), (WEB, 80), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::FromPod, &new, None).expect("test run");
    assert_eq!(
        run.retval, TC_ACT_SHOT,
        "a new connection into web is dropped"
    );
}

#[test]
fn policy_change_stops_established_flow() {
    if !kernel_available("policy_change_stops_established_flow") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    let mut events = moat_loader::EventReader::open(&pin.0).expect("events");
    dp.load_image(&image(ALLOW_CLIENT, 1))
        .expect("image 1 loads");

    let syn = packet((CLIENT, 40000), (WEB, 80), PROTO_TCP, TCP_SYN);
    let ack = packet((CLIENT, 40000), (WEB, 80), PROTO_TCP, TCP_ACK);
    let reply = packet((WEB, 80), (CLIENT, 40000), PROTO_TCP, TCP_ACK);
    assert_eq!(
        dp.test_run(Hook::FromPod, &syn, None).expect("run").retval,
        TC_ACT_REDIRECT
    );
    assert_eq!(
        dp.test_run(Hook::FromPod, &reply, None)
            .expect("run")
            .retval,
        TC_ACT_REDIRECT
    );

    let report = dp.load_image(&image(DENY_ALL, 2)).expect("image 2 loads");
    assert_eq!(report.generation, 2);
    assert_eq!(
        dp.test_run(Hook::FromPod, &ack, None).expect("run").retval,
        TC_ACT_SHOT
    );
    assert_eq!(
        dp.test_run(Hook::FromPod, &reply, None)
            .expect("run")
            .retval,
        TC_ACT_SHOT
    );

    let got = events.drain();
    assert_eq!(
        got.len(),
        2,
        "one event for the new flow, one for the changed verdict: {got:?}"
    );
    let first = got.first().expect("first event");
    assert_eq!(first.verdict, moat_loader::layout::VERDICT_FORWARDED);
    assert_eq!(
        first.flags & moat_loader::layout::EVENT_F_NEW,
        moat_loader::layout::EVENT_F_NEW
    );
    assert_eq!(first.generation, 1);
    let second = got.get(1).expect("second event");
    assert_eq!(second.verdict, moat_loader::layout::VERDICT_DROPPED);
    assert_eq!(second.drop_reason, -2, "dropped by web's ingress policy");
    assert_eq!(second.generation, 2);
    assert_eq!(
        second.saddr,
        CLIENT.octets(),
        "events name the original direction"
    );
    assert_ne!(
        second.rule_id,
        moat_loader::layout::RULE_NONE,
        "the isolating policy is named"
    );
}

#[test]
fn drop_events_are_rate_limited() {
    if !kernel_available("drop_events_are_rate_limited") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    let mut events = moat_loader::EventReader::open(&pin.0).expect("events");
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");

    let syn = packet((OTHER, 40000), (WEB, 80), PROTO_TCP, TCP_SYN);
    for _ in 0..5 {
        assert_eq!(
            dp.test_run(Hook::FromPod, &syn, None).expect("run").retval,
            TC_ACT_SHOT
        );
    }
    assert_eq!(
        events.drain().len(),
        1,
        "five drops within a second send one event"
    );

    let drops = moat_loader::inspect::drop_counters(&pin.0).expect("drop counters");
    let ingress = drops
        .iter()
        .find(|(name, _)| *name == "policy-ingress")
        .expect("counted");
    assert_eq!(ingress.1.packets, 5);
}

#[test]
fn udp_and_sctp_are_judged_by_port() {
    if !kernel_available("udp_and_sctp_are_judged_by_port") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    let policy = r#"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-udp-sctp, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - ports: [{port: 53, protocol: UDP}, {port: 9000, protocol: SCTP}]
"#;
    dp.load_image(&image(policy, 1)).expect("image loads");
    let cases = [
        (PROTO_UDP, 53, TC_ACT_REDIRECT),
        (PROTO_UDP, 54, TC_ACT_SHOT),
        (PROTO_SCTP, 9000, TC_ACT_REDIRECT),
        (PROTO_SCTP, 9001, TC_ACT_SHOT),
        (PROTO_TCP, 53, TC_ACT_SHOT),
    ];
    for (protocol, port, expected) in cases {
        let pkt = packet((CLIENT, 40000), (WEB, port), protocol, TCP_SYN);
        let run = dp.test_run(Hook::FromPod, &pkt, None).expect("run");
        assert_eq!(run.retval, expected, "protocol {protocol} port {port}");
    }
}

#[test]
fn spoofed_source_is_dropped() {
    if !kernel_available("spoofed_source_is_dropped") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image("", 1)).expect("image loads");

    let pkt = packet((OUTSIDE, 40000), (WEB, 80), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::FromPod, &pkt, None).expect("run");
    assert_eq!(
        run.retval, TC_ACT_SHOT,
        "a pod veth only sends its pod's address"
    );

    let pkt = packet((OUTSIDE, 40000), (WEB, 80), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::ToPod, &pkt, None).expect("run");
    assert_eq!(
        run.retval, TC_ACT_OK,
        "traffic from outside reaches an unisolated pod"
    );
}

#[test]
fn no_image_drops() {
    if !kernel_available("no_image_drops") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    let pkt = packet((CLIENT, 40000), (WEB, 80), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::FromPod, &pkt, None).expect("run");
    assert_eq!(
        run.retval, TC_ACT_SHOT,
        "without an image the datapath fails closed"
    );
}

#[test]
fn to_pod_applies_ingress_policy() {
    if !kernel_available("to_pod_applies_ingress_policy") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");

    let outside = packet((OUTSIDE, 40000), (WEB, 80), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::ToPod, &outside, None).expect("run");
    assert_eq!(
        run.retval, TC_ACT_SHOT,
        "outside -> web is not in web's ingress rules"
    );

    let outside_to_client = packet((OUTSIDE, 40000), (CLIENT, 80), PROTO_TCP, TCP_SYN);
    let run = dp
        .test_run(Hook::ToPod, &outside_to_client, None)
        .expect("run");
    assert_eq!(run.retval, TC_ACT_OK, "client is not isolated");
}

#[test]
fn to_pod_skips_judged_packets() {
    if !kernel_available("to_pod_skips_judged_packets") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");

    // struct __sk_buff with mark (offset 8) set to MOAT_MARK_JUDGED.
    let mut ctx = vec![0u8; moat_loader::sys::SK_BUFF_SIZE];
    ctx[8..12].copy_from_slice(&0x4d4f_0000u32.to_ne_bytes());
    let denied = packet((OTHER, 40000), (WEB, 80), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::ToPod, &denied, Some(&ctx)).expect("run");
    assert_eq!(run.retval, TC_ACT_OK, "from-pod already judged this packet");
    let mark = u32::from_ne_bytes(run.context[8..12].try_into().expect("mark"));
    assert_eq!(
        mark, 0,
        "the mark is cleared before the pod sees the packet"
    );

    let run = dp.test_run(Hook::ToPod, &denied, None).expect("run");
    assert_eq!(run.retval, TC_ACT_SHOT, "without the mark it is judged");
}

#[test]
fn event_counters_count_sent_events() {
    if !kernel_available("event_counters_count_sent_events") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");
    for port in [40000, 40001, 40002] {
        let pkt = packet((CLIENT, port), (WEB, 80), PROTO_TCP, TCP_SYN);
        dp.test_run(Hook::FromPod, &pkt, None).expect("run");
    }
    let (sent, lost) = moat_loader::inspect::event_counters(&pin.0).expect("event counters");
    assert_eq!(sent, 3, "one event per new connection");
    assert_eq!(lost, 0);
    let status = moat_loader::inspect::status(&pin.0).expect("status");
    assert_eq!(status.events_sent, 3);
    assert_eq!(status.generation, 1);
}

#[test]
fn closed_tcp_gets_short_lifetime() {
    if !kernel_available("closed_tcp_gets_short_lifetime") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");

    const FIN_ACK: u8 = 0x11;
    let flows = [
        ((CLIENT, 40000), (WEB, 80), TCP_SYN),
        ((WEB, 80), (CLIENT, 40000), TCP_SYNACK),
        ((CLIENT, 40000), (WEB, 80), TCP_ACK),
    ];
    for (src, dst, flags) in flows {
        let pkt = packet(src, dst, PROTO_TCP, flags);
        assert_eq!(
            dp.test_run(Hook::FromPod, &pkt, None).expect("run").retval,
            TC_ACT_REDIRECT
        );
    }
    let conn = |pin: &PinDir| {
        let rows = moat_loader::inspect::ct(&pin.0).expect("ct");
        rows.into_iter()
            .find(|r| r.kind == "connection")
            .expect("connection")
    };
    let established = conn(&pin);
    assert!(
        established.expires_in_s > 3600,
        "established: {}s",
        established.expires_in_s
    );

    for (src, dst) in [((CLIENT, 40000), (WEB, 80)), ((WEB, 80), (CLIENT, 40000))] {
        let fin = packet(src, dst, PROTO_TCP, FIN_ACK);
        assert_eq!(
            dp.test_run(Hook::FromPod, &fin, None).expect("run").retval,
            TC_ACT_REDIRECT
        );
    }
    let closing = conn(&pin);
    assert!(
        closing.expires_in_s <= 10,
        "closing: {}s",
        closing.expires_in_s
    );
    assert!(
        closing.state.contains(&"fin-orig"),
        "state: {:?}",
        closing.state
    );
    assert!(
        closing.state.contains(&"fin-reply"),
        "state: {:?}",
        closing.state
    );
}

#[test]
fn ipv6_and_fragments_are_dropped() {
    if !kernel_available("ipv6_and_fragments_are_dropped") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image("", 1)).expect("image loads");

    let mut ipv6 = vec![0u8; 14 + 40];
    ipv6[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    ipv6[14] = 0x60;
    let run = dp.test_run(Hook::FromPod, &ipv6, None).expect("run");
    assert_eq!(run.retval, TC_ACT_SHOT, "IPv6 is dropped");

    let mut fragment = packet((CLIENT, 40000), (WEB, 80), PROTO_TCP, TCP_SYN);
    fragment[20..22].copy_from_slice(&0x0010u16.to_be_bytes());
    let run = dp.test_run(Hook::FromPod, &fragment, None).expect("run");
    assert_eq!(run.retval, TC_ACT_SHOT, "a non-first fragment is dropped");

    let mut arp = vec![0u8; 14 + 28];
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    let run = dp.test_run(Hook::FromPod, &arp, None).expect("run");
    assert_eq!(run.retval, TC_ACT_OK, "ARP passes unjudged");

    let drops = moat_loader::inspect::drop_counters(&pin.0).expect("drops");
    let names: Vec<&str> = drops.iter().map(|(name, _)| *name).collect();
    assert!(names.contains(&"ipv6"), "drops: {names:?}");
    assert!(names.contains(&"fragment"), "drops: {names:?}");
}

#[test]
fn hairpin_translates_both_addresses() {
    if !kernel_available("hairpin_translates_both_addresses") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(ALLOW_SELF, 1)).expect("image loads");

    let syn = packet((WEB, 40000), (VIP, 8080), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::FromPod, &syn, None).expect("run");
    assert_eq!(run.retval, TC_ACT_REDIRECT, "web -> itself is allowed");
    let out = tuple(&run.packet);
    assert_eq!(
        out.src,
        (HAIRPIN, 40000),
        "the source becomes the hairpin address"
    );
    assert_eq!(out.dst, (WEB, 80));
    assert!(
        checksums_valid(&run.packet),
        "checksums after DNAT and SNAT"
    );

    let synack = packet((WEB, 80), (HAIRPIN, 40000), PROTO_TCP, TCP_SYNACK);
    let run = dp.test_run(Hook::FromPod, &synack, None).expect("run");
    assert_eq!(run.retval, TC_ACT_REDIRECT);
    let out = tuple(&run.packet);
    assert_eq!(out.src, (VIP, 8080), "the reply comes from the ClusterIP");
    assert_eq!(out.dst, (WEB, 40000), "the reply returns to web");
    assert!(checksums_valid(&run.packet), "checksums after reverse NAT");

    let rows = moat_loader::inspect::ct(&pin.0).expect("ct list");
    let conn = rows
        .iter()
        .find(|r| r.kind == "connection")
        .expect("connection");
    assert_eq!(conn.source, "169.254.0.1:40000");
    assert!(
        conn.state.contains(&"seen-reply"),
        "state: {:?}",
        conn.state
    );

    let forged = packet((HAIRPIN, 40001), (WEB, 80), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::ToPod, &forged, None).expect("run");
    assert_eq!(
        run.retval, TC_ACT_SHOT,
        "the hairpin address from outside does not pass as web itself"
    );
}

#[test]
fn hairpin_is_judged_as_pod_to_itself() {
    if !kernel_available("hairpin_is_judged_as_pod_to_itself") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");

    let syn = packet((WEB, 40000), (VIP, 8080), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::FromPod, &syn, None).expect("run");
    assert_eq!(
        run.retval, TC_ACT_SHOT,
        "web's ingress admits only client, not web itself"
    );
    let drops = moat_loader::inspect::drop_counters(&pin.0).expect("drops");
    assert!(
        drops.iter().any(|(name, _)| *name == "policy-ingress"),
        "drops: {drops:?}"
    );
}
