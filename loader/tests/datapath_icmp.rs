//! BPF_PROG_RUN tests of ICMP errors: they pass as traffic related to the
//! connection they quote, with that connection's service and hairpin
//! translation.

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
fn icmp_error_of_known_connection_passes() {
    if !kernel_available("icmp_error_of_known_connection_passes") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(DENY_ALL, 1)).expect("image loads");

    // web, whose ingress is isolated, sends to a closed UDP port of client.
    let query = packet((WEB, 50000), (CLIENT, 53), PROTO_UDP, 0);
    let run = dp.test_run(Hook::FromPod, &query, None).expect("run");
    assert_eq!(run.retval, TC_ACT_REDIRECT);

    let unreachable = icmp_error(CLIENT, WEB, &query);
    let run = dp.test_run(Hook::FromPod, &unreachable, None).expect("run");
    assert_eq!(
        run.retval, TC_ACT_REDIRECT,
        "the error of web's own flow reaches web"
    );
    let run = dp.test_run(Hook::ToPod, &unreachable, None).expect("run");
    assert_eq!(run.retval, TC_ACT_OK, "also when it comes through the node");

    let unknown = packet((WEB, 50001), (CLIENT, 53), PROTO_UDP, 0);
    let forged = icmp_error(CLIENT, WEB, &unknown);
    let run = dp.test_run(Hook::FromPod, &forged, None).expect("run");
    assert_eq!(
        run.retval, TC_ACT_SHOT,
        "an error of no connection is dropped"
    );

    let misdirected = icmp_error(CLIENT, OTHER, &query);
    let run = dp.test_run(Hook::FromPod, &misdirected, None).expect("run");
    assert_eq!(
        run.retval, TC_ACT_SHOT,
        "an error goes only to the sender of the packet it quotes"
    );

    let drops = moat_loader::inspect::drop_counters(&pin.0).expect("drops");
    let unrelated = drops
        .iter()
        .find(|(name, _)| *name == "icmp-unrelated")
        .expect("counted");
    assert_eq!(unrelated.1.packets, 2);
}

#[test]
fn icmp_error_of_denied_connection_is_dropped() {
    if !kernel_available("icmp_error_of_denied_connection_is_dropped") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");

    let syn = packet((OTHER, 40000), (WEB, 80), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::FromPod, &syn, None).expect("run");
    assert_eq!(run.retval, TC_ACT_SHOT);
    let error = icmp_error(WEB, OTHER, &syn);
    let run = dp.test_run(Hook::FromPod, &error, None).expect("run");
    assert_eq!(
        run.retval, TC_ACT_SHOT,
        "the error of a denied connection is dropped with it"
    );
}

#[test]
fn icmp_error_of_service_flow_is_translated() {
    if !kernel_available("icmp_error_of_service_flow_is_translated") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");

    let syn = packet((CLIENT, 40000), (VIP, 8080), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::FromPod, &syn, None).expect("run");
    assert_eq!(run.retval, TC_ACT_REDIRECT);
    let translated = run.packet;

    // web sends an error about the translated SYN.
    let error = icmp_error(WEB, CLIENT, &translated);
    let run = dp.test_run(Hook::FromPod, &error, None).expect("run");
    assert_eq!(run.retval, TC_ACT_REDIRECT);
    let (outer, quoted) = icmp_tuples(&run.packet);
    assert_eq!(outer, (VIP, CLIENT), "the error comes from the ClusterIP");
    assert_eq!(quoted.src, (CLIENT, 40000));
    assert_eq!(quoted.dst, (VIP, 8080), "it quotes the packet client sent");
    assert!(
        icmp_checksums_valid(&run.packet),
        "checksums after reverse NAT"
    );

    // client sends an error about web's reply, which came from the ClusterIP.
    let synack = packet((WEB, 80), (CLIENT, 40000), PROTO_TCP, TCP_SYNACK);
    let run = dp.test_run(Hook::FromPod, &synack, None).expect("run");
    assert_eq!(run.retval, TC_ACT_REDIRECT);
    let error = icmp_error(CLIENT, VIP, &run.packet);
    let run = dp.test_run(Hook::FromPod, &error, None).expect("run");
    assert_eq!(run.retval, TC_ACT_REDIRECT);
    let (outer, quoted) = icmp_tuples(&run.packet);
    assert_eq!(outer, (CLIENT, WEB), "the error goes to the backend");
    assert_eq!(quoted.src, (WEB, 80), "it quotes the packet web sent");
    assert_eq!(quoted.dst, (CLIENT, 40000));
    assert!(icmp_checksums_valid(&run.packet), "checksums after DNAT");
}

#[test]
fn icmp_error_of_hairpin_returns_to_pod() {
    if !kernel_available("icmp_error_of_hairpin_returns_to_pod") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(ALLOW_SELF, 1)).expect("image loads");

    let syn = packet((WEB, 40000), (VIP, 8080), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::FromPod, &syn, None).expect("run");
    assert_eq!(run.retval, TC_ACT_REDIRECT);

    // web as the server sends an error about the request from the hairpin address.
    let error = icmp_error(WEB, HAIRPIN, &run.packet);
    let run = dp.test_run(Hook::FromPod, &error, None).expect("run");
    assert_eq!(run.retval, TC_ACT_REDIRECT);
    let (outer, quoted) = icmp_tuples(&run.packet);
    assert_eq!(
        outer,
        (VIP, WEB),
        "the error goes from the ClusterIP to web"
    );
    assert_eq!(quoted.src, (WEB, 40000));
    assert_eq!(quoted.dst, (VIP, 8080), "it quotes the packet web sent");
    assert!(
        icmp_checksums_valid(&run.packet),
        "checksums after reverse NAT"
    );

    // web as the client sends an error about the reply from its ClusterIP.
    let synack = packet((WEB, 80), (HAIRPIN, 40000), PROTO_TCP, TCP_SYNACK);
    let run = dp.test_run(Hook::FromPod, &synack, None).expect("run");
    assert_eq!(run.retval, TC_ACT_REDIRECT);
    let error = icmp_error(WEB, VIP, &run.packet);
    let run = dp.test_run(Hook::FromPod, &error, None).expect("run");
    assert_eq!(run.retval, TC_ACT_REDIRECT);
    let (outer, quoted) = icmp_tuples(&run.packet);
    assert_eq!(
        outer,
        (HAIRPIN, WEB),
        "the error comes from the hairpin address"
    );
    assert_eq!(quoted.src, (WEB, 80), "it quotes the reply web sent");
    assert_eq!(quoted.dst, (HAIRPIN, 40000));
    assert!(icmp_checksums_valid(&run.packet), "checksums after DNAT");
}
