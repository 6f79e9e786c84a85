//! Backend selection in the kernel: Maglev picks the backend that the
//! compiler's mirror predicts from the flow hash, and random mode picks
//! among the service's backends.

// A helper that fails must abort the test like the test body would.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod datapath_support;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use datapath_support::*;
use moat_compiler::mirror::Mirror;
use moat_compiler::{CompileOptions, LbMode, LbOptions};
use moat_loader::Hook;
use moat_loader::layout::flow_hash;

const BACKENDS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(10, 0, 0, 2),
    Ipv4Addr::new(10, 0, 0, 4),
    Ipv4Addr::new(10, 0, 0, 5),
];

fn manifests() -> String {
    let mut text = String::from(
        r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop, labels: {app: client}}
spec: {containers: [{name: c, image: busybox}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Service
metadata: {name: web-svc, namespace: shop}
spec:
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports: [{port: 8080, targetPort: 80, protocol: TCP}]
"#,
    );
    for (i, ip) in BACKENDS.iter().enumerate() {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: web-{i}, namespace: shop, labels: {{app: web}}}}\n\
             spec: {{containers: [{{name: c, image: nginx, ports: [{{containerPort: 80}}]}}]}}\n\
             status: {{podIP: {ip}}}\n"
        ));
    }
    text
}

fn lb_image(mode: LbMode) -> moat_compiler::Image {
    let options = CompileOptions {
        generation: 1,
        lb: LbOptions {
            mode,
            maglev_size: None,
        },
        ..CompileOptions::default()
    };
    compile(&manifests(), options)
}

/// Sends a SYN from client:`sport` to the ClusterIP; returns the backend.
fn pick(dp: &moat_loader::Datapath, sport: u16) -> Ipv4Addr {
    let syn = packet((CLIENT, sport), (VIP, 8080), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::FromPod, &syn, None).expect("run");
    assert_eq!(run.retval, TC_ACT_REDIRECT, "sport {sport}");
    let out = tuple(&run.packet);
    assert_eq!(out.dst.1, 80);
    out.dst.0
}

#[test]
fn maglev_matches_mirror() {
    if !kernel_available("maglev_matches_mirror") {
        return;
    }
    let image = lb_image(LbMode::Maglev);
    let pin = PinDir::new();
    let mut ips = vec![CLIENT];
    ips.extend(BACKENDS);
    let dp = datapath_with(&pin, &ips);
    dp.load_image(&image).expect("image loads");
    let mirror = Mirror::new(&image);

    let mut chosen = BTreeSet::new();
    for sport in 40000..40064 {
        let hash = flow_hash((CLIENT, sport), (VIP, 8080), PROTO_TCP);
        let expected = mirror
            .backend(IpAddr::V4(VIP), 8080, PROTO_TCP, hash)
            .expect("mirror picks a backend");
        let got = pick(&dp, sport);
        assert_eq!(IpAddr::V4(got), expected.0, "sport {sport}");
        chosen.insert(got);
    }
    assert_eq!(
        chosen.len(),
        BACKENDS.len(),
        "64 flows spread over every backend"
    );
}

#[test]
fn random_mode_picks_backends() {
    if !kernel_available("random_mode_picks_backends") {
        return;
    }
    let image = lb_image(LbMode::Random);
    let pin = PinDir::new();
    let mut ips = vec![CLIENT];
    ips.extend(BACKENDS);
    let dp = datapath_with(&pin, &ips);
    dp.load_image(&image).expect("image loads");

    let mut chosen = BTreeSet::new();
    for sport in 40000..40064 {
        let got = pick(&dp, sport);
        assert!(BACKENDS.contains(&got), "{got} is a backend");
        chosen.insert(got);
    }
    // 64 uniform draws miss one of 3 backends with probability about 3e-11.
    assert_eq!(chosen.len(), BACKENDS.len());
}
