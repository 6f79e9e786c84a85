//! BPF_PROG_RUN tests of the datapath programs with crafted packets:
//! policy, service translation with reverse NAT, and conntrack.

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
