//! Kernel end-to-end tests of `moat sandbox`: real namespaces, veths,
//! workloads and packets. They need root; outside CI they skip with a
//! printed reason when the kernel cannot be reached, and with `CI=true`
//! they fail instead.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failed step fails the test that called it"
)]

mod sandbox_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sandbox_support::{Sandbox, kernel_or_skip, moat, repo};

#[test]
fn demo_welcome_page_then_isolated() {
    if !kernel_or_skip() {
        return;
    }
    let sandbox = Sandbox::up(&[repo().join("policies/demo")], &[]);
    let ip = sandbox.cluster_ip("default/web-service");
    let url = format!("http://{ip}");

    let page = sandbox.exec(
        "default/client-0",
        &["timeout", "5", "busybox", "wget", "-q", "-O", "-", &url],
    );
    assert!(
        page.status.success(),
        "wget failed: {}",
        String::from_utf8_lossy(&page.stderr)
    );
    let body = String::from_utf8_lossy(&page.stdout);
    assert!(
        body.contains("Welcome to nginx"),
        "not the nginx welcome page: {body}"
    );

    sandbox.apply(&[repo().join("policies/demo-isolated")]);
    let events_path = std::env::temp_dir().join(format!("{}-events.json", sandbox.name));
    let mut monitor = sandbox.monitor(&events_path);
    std::thread::sleep(Duration::from_millis(300));
    let blocked = sandbox.exec(
        "default/client-0",
        &["timeout", "3", "busybox", "wget", "-q", "-O", "-", &url],
    );
    assert!(
        !blocked.status.success(),
        "request passed the isolating policy"
    );
    assert!(
        blocked.stdout.is_empty(),
        "isolated request returned a body"
    );

    std::thread::sleep(Duration::from_millis(300));
    monitor.kill().unwrap();
    monitor.wait().unwrap();
    let events = std::fs::read_to_string(&events_path).unwrap();
    std::fs::remove_file(&events_path).unwrap();
    let drop = events
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|event| event["verdict"] == "dropped")
        .unwrap_or_else(|| panic!("no drop event: {events}"));
    assert_eq!(drop["rule"]["policy"], "default/web-server-frontend-only");
    let location = drop["rule"]["location"].as_str().unwrap();
    assert!(
        location.contains("isolate-web-server.yaml:"),
        "location: {location}"
    );

    sandbox.finish();
}

#[test]
fn service_spreads_over_three_backends() {
    if !kernel_or_skip() {
        return;
    }
    let sandbox = Sandbox::up(&[repo().join("testdata/sandbox/lb3")], &[]);
    let ip = sandbox.cluster_ip("lb/echo");
    let mut tcp = BTreeMap::new();
    let mut udp = BTreeMap::new();
    for i in 0..45u16 {
        let answer = sandbox.connect("lb/client", &ip, "tcp/80", None);
        *tcp.entry(answer).or_insert(0) += 1;
        let answer = sandbox.connect("lb/client", &ip, "udp/80", Some(41000 + i));
        *udp.entry(answer).or_insert(0) += 1;
    }
    let backends: BTreeSet<String> = (0..3).map(|i| format!("connected lb/echo-{i}")).collect();
    for (proto, counts) in [("tcp", &tcp), ("udp", &udp)] {
        let seen: BTreeSet<String> = counts.keys().cloned().collect();
        assert_eq!(
            seen, backends,
            "{proto} answers through the ClusterIP: {counts:?}"
        );
    }
    sandbox.finish();
}

#[test]
fn maglev_remaps_only_removed_backend() {
    if !kernel_or_skip() {
        return;
    }
    let ports: Vec<u16> = (42000..42060).collect();
    let before = udp_backends(&repo().join("testdata/sandbox/lb3"), &ports);
    let after = udp_backends(&repo().join("testdata/sandbox/lb2"), &ports);
    let removed = "connected lb/echo-2";
    let mut moved = 0;
    for port in &ports {
        let (old, new) = (&before[port], &after[port]);
        assert!(
            old.starts_with("connected lb/echo-"),
            "source port {port} before: {old}"
        );
        assert!(
            new.starts_with("connected lb/echo-"),
            "source port {port} after: {new}"
        );
        assert_ne!(
            new, removed,
            "source port {port} still reaches the removed backend"
        );
        if old == removed {
            moved += 1;
        } else {
            assert_eq!(
                old, new,
                "source port {port} moved from a backend that stayed"
            );
        }
    }
    assert!(
        moved > 0,
        "no flow used the removed backend, so the check proves nothing"
    );
}

/// Brings a sandbox up, sends one UDP datagram to the ClusterIP from each
/// source port, and returns the answering backend per port.
fn udp_backends(manifests: &Path, ports: &[u16]) -> BTreeMap<u16, String> {
    let sandbox = Sandbox::up(&[manifests.to_path_buf()], &[]);
    let ip = sandbox.cluster_ip("lb/echo");
    let mut backends = BTreeMap::new();
    for port in ports {
        backends.insert(
            *port,
            sandbox.connect("lb/client", &ip, "udp/80", Some(*port)),
        );
    }
    sandbox.finish();
    backends
}

#[test]
fn down_of_unknown_sandbox_succeeds() {
    if !kernel_or_skip() {
        return;
    }
    let output = moat()
        .args(["sandbox", "down", "--name", "nosuchbox"])
        .output()
        .unwrap();
    assert!(output.status.success());
}

#[test]
fn swap_under_load_keeps_verdicts() {
    if !kernel_or_skip() {
        return;
    }
    let image_a = vec![repo().join("testdata/sandbox/swap-a")];
    let image_b = vec![repo().join("testdata/sandbox/swap-b")];
    let sandbox = Sandbox::up(&image_a, &[]);
    let server = sandbox.exec("swap/bulk", &["iperf3", "-s", "-D", "-p", "5201"]);
    assert!(server.status.success(), "iperf3 server failed to start");
    std::thread::sleep(Duration::from_millis(300));

    // Generation 1 is the image of `up`; each apply reports its own.
    let mut allows_flip: BTreeMap<u64, bool> = BTreeMap::from([(1, true)]);
    let start = Instant::now();
    allows_flip.insert(sandbox.apply(&image_b), false);
    allows_flip.insert(sandbox.apply(&image_a), true);
    // Long enough for the bulk connections to outlast all 100 swaps.
    let seconds = (start.elapsed().as_secs_f64() * 50.0 * 1.5).ceil() as u64 + 5;

    let events_path = std::env::temp_dir().join(format!("{}-events.json", sandbox.name));
    let mut monitor = sandbox.monitor(&events_path);
    let bulk = moat()
        .args([
            "sandbox",
            "exec",
            "--name",
            &sandbox.name,
            "swap/client",
            "--",
        ])
        .args([
            "iperf3",
            "-c",
            "10.244.8.11",
            "-p",
            "5201",
            "-P",
            "4",
            "-b",
            "20M",
        ])
        .args(["-t", &seconds.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let short = short_connections(&sandbox.name, stop.clone());

    for i in 0..100 {
        let (image, allows) = if i % 2 == 0 {
            (&image_b, false)
        } else {
            (&image_a, true)
        };
        allows_flip.insert(sandbox.apply(image), allows);
    }
    stop.store(true, Ordering::SeqCst);
    let attempts = short.join().unwrap();
    let bulk = bulk.wait_with_output().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    monitor.kill().unwrap();
    monitor.wait().unwrap();

    assert!(attempts > 0, "no short connection ran during the swaps");
    assert!(
        bulk.status.success(),
        "a connection both images allow broke during the swaps: {}{}",
        String::from_utf8_lossy(&bulk.stdout),
        String::from_utf8_lossy(&bulk.stderr)
    );
    let events = std::fs::read_to_string(&events_path).unwrap();
    std::fs::remove_file(&events_path).unwrap();
    check_swap_events(&events, &allows_flip);
    sandbox.finish();
}

/// Checks every event of the client's flows against the image of the
/// generation it carries: flip is allowed by image A only, bulk by both.
fn check_swap_events(events: &str, allows_flip: &BTreeMap<u64, bool>) {
    let mut judged = BTreeMap::from([(true, 0), (false, 0)]);
    for line in events.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        if event["source_pod"] != "swap/client" || event["reply"] == true {
            continue;
        }
        let generation = event["generation"].as_u64().unwrap();
        let forwarded = event["verdict"] == "forwarded";
        let expected = match event["destination_pod"].as_str() {
            Some("swap/flip") => allows_flip[&generation],
            Some("swap/bulk") => true,
            _ => continue,
        };
        assert_eq!(
            forwarded, expected,
            "event of generation {generation}: {line}"
        );
        *judged.get_mut(&expected).unwrap() += 1;
    }
    eprintln!("swap events checked: {judged:?} (allowed: true)");
    assert!(judged[&true] > 0, "no allowed flow produced an event");
    assert!(judged[&false] > 0, "no denied flow produced an event");
}

/// Opens connections from the client to flip until `stop`, while images
/// swap; returns how many ran.
fn short_connections(name: &str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u32> {
    let name = name.to_string();
    std::thread::spawn(move || {
        let mut attempts = 0;
        while !stop.load(Ordering::SeqCst) {
            let _ = moat()
                .args(["sandbox", "connect", "--name", &name, "swap/client"])
                .args(["10.244.8.12", "tcp/80", "--timeout-ms", "300"])
                .output();
            attempts += 1;
        }
        attempts
    })
}

#[test]
fn outside_flows_follow_ip_blocks() {
    if !kernel_or_skip() {
        return;
    }
    let sandbox = Sandbox::up(&[repo().join("testdata/sandbox/outside")], &[]);
    let output = moat()
        .args(["sandbox", "probe", "--name", &sandbox.name, "-o", "flows"])
        .output()
        .unwrap();
    let flows = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kernel and evaluator disagree:\n{flows}"
    );
    let expected = [
        "edge/app -> ip:198.51.100.1 tcp/80 deny",
        "edge/app -> ip:203.0.113.1 tcp/80 allow",
        "edge/app -> ip:203.0.113.129 tcp/80 deny",
        "ip:198.51.100.1 -> edge/app tcp/8080 allow",
        "ip:203.0.113.1 -> edge/app tcp/8080 deny",
        "ip:203.0.113.129 -> edge/app tcp/8080 deny",
    ];
    assert_eq!(flows.lines().collect::<Vec<_>>(), expected);
    sandbox.finish();
}

#[test]
fn sctp_probes_match_evaluator() {
    if !kernel_or_skip() {
        return;
    }
    let case = repo().join("testdata/conformance/k8s-e2e/17-sctp-not-tcp");
    let sandbox = Sandbox::up(
        &[case.join("cluster.yaml"), case.join("policies.yaml")],
        &[],
    );
    let output = moat()
        .args(["sandbox", "probe", "--name", &sandbox.name, "-o", "flows"])
        .args(["--port", "sctp/80", "--port", "sctp/81"])
        .output()
        .unwrap();
    let flows = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kernel and evaluator disagree: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        flows.lines().any(|l| l == "x/b -> x/a sctp/81 allow"),
        "{flows}"
    );
    assert!(
        flows.lines().any(|l| l == "x/b -> x/a sctp/80 deny"),
        "{flows}"
    );
    assert!(
        flows.lines().any(|l| l == "x/a -> y/b sctp/80 allow"),
        "{flows}"
    );
    sandbox.finish();
}

#[test]
fn plain_router_translates_cluster_ip() {
    if !kernel_or_skip() {
        return;
    }
    let lb3 = repo().join("testdata/sandbox/lb3");
    let sandbox = Sandbox::up(&[lb3], &["--datapath", "none"]);
    let ip = sandbox.cluster_ip("lb/echo");
    let tcp = sandbox.connect("lb/client", &ip, "tcp/80", None);
    assert!(tcp.starts_with("connected lb/echo-"), "tcp: {tcp}");
    let udp = sandbox.connect("lb/client", &ip, "udp/80", Some(43000));
    assert!(udp.starts_with("connected lb/echo-"), "udp: {udp}");
    let pods = sandbox.connect("lb/echo-0", "10.244.7.10", "tcp/80", None);
    assert_eq!(pods, "refused", "pod to pod without a listener");
    assert!(!Path::new(&format!("/sys/fs/bpf/moat-{}", sandbox.name)).exists());
    sandbox.finish();
}

#[test]
fn failing_test_leaves_nothing_behind() {
    if !kernel_or_skip() {
        return;
    }
    let demo = repo().join("policies/demo");
    let (send, receive) = std::sync::mpsc::channel();
    let failed = std::thread::spawn(move || {
        let sandbox = Sandbox::up(&[demo], &[]);
        send.send(sandbox.name.clone()).unwrap();
        panic!("a failing test body");
    })
    .join();
    assert!(failed.is_err(), "the test body should have failed");
    let name = receive.recv().unwrap();
    assert_eq!(sandbox_support::leftovers(&name), Vec::<String>::new());
}
