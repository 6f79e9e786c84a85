//! One test per semantic rule of the model, each a small cluster and the
//! verdicts the reference evaluator must give.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code fails loudly on broken fixtures"
)]

use moat_ir::service::{ServiceOutcome, service_verdict};
use moat_ir::{Cluster, Flow, FlowEnd, LoadOptions, Loaded, Settings, load_str, verdict};

/// Namespaces `x` (team=red) and `y` (team=blue); pods `x/a`, `x/b`, `x/c`,
/// `y/a`, `y/b`, each labelled `pod: <name>`, with fixed IPs and the ports
/// `http` TCP 80, `dns` UDP 53 and `metrics` TCP 9090.
fn base() -> String {
    let mut text = String::new();
    for (ns, team) in [("x", "red"), ("y", "blue")] {
        text += &format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{team: {team}}}}}\n---\n"
        );
    }
    let pods = [
        ("x", "a", "10.0.1.1"),
        ("x", "b", "10.0.1.2"),
        ("x", "c", "10.0.1.3"),
        ("y", "a", "10.0.2.1"),
        ("y", "b", "10.0.2.2"),
    ];
    for (ns, name, ip) in pods {
        text += &pod(ns, name, &format!("pod: {name}"), ip);
    }
    text
}

fn pod(ns: &str, name: &str, labels: &str, ip: &str) -> String {
    format!(
        "apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}, labels: {{{labels}}}}}
spec:
  containers:
  - name: main
    image: busybox
    ports:
    - {{name: http, containerPort: 80}}
    - {{name: dns, containerPort: 53, protocol: UDP}}
    - {{name: metrics, containerPort: 9090}}
status: {{podIP: {ip}}}
---
"
    )
}

fn load_with(manifests: &str, settings: Settings) -> Loaded {
    let options = LoadOptions {
        settings,
        ..LoadOptions::default()
    };
    let loaded = load_str("test.yaml", manifests, &options);
    let errors: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| d.one_line())
        .collect();
    assert!(errors.is_empty(), "load errors: {errors:#?}");
    loaded
}

fn load(manifests: &str) -> Cluster {
    load_with(manifests, Settings::default()).cluster
}

fn end(cluster: &Cluster, text: &str) -> FlowEnd {
    if let Some(ip) = text.strip_prefix("ip:") {
        return cluster.end_for_ip(ip.parse().unwrap());
    }
    let (ns, name) = text.split_once('/').unwrap();
    let index = cluster.pod_index(ns, name);
    FlowEnd::Pod(index.unwrap_or_else(|| panic!("pod `{text}` not found")))
}

/// Judges `<src> -> <dst> <proto>/<port>`; a `svc:ns/name` destination must
/// give one verdict for every backend.
fn judge(cluster: &Cluster, line: &str) -> bool {
    let (src, rest) = line.split_once(" -> ").unwrap();
    let (dst, port) = rest.split_once(' ').unwrap();
    let (protocol, port) = port.split_once('/').unwrap();
    let protocol = moat_ir::Protocol::parse(protocol).unwrap();
    let port: u16 = port.parse().unwrap();
    let src = end(cluster, src);
    if let Some(service) = dst.strip_prefix("svc:") {
        return match service_outcome(cluster, src, service, protocol, port) {
            ServiceOutcome::Allow => true,
            ServiceOutcome::Deny => false,
            other => panic!("`{line}`: service outcome {other:?}"),
        };
    }
    let flow = Flow {
        src,
        dst: end(cluster, dst),
        protocol,
        port,
    };
    verdict(cluster, &flow).allowed
}

fn service_outcome(
    cluster: &Cluster,
    src: FlowEnd,
    service: &str,
    protocol: moat_ir::Protocol,
    port: u16,
) -> ServiceOutcome {
    let (ns, name) = service.split_once('/').unwrap();
    let service = cluster.service(ns, name).unwrap();
    let service_port = service.port_for(protocol, port).unwrap();
    service_verdict(cluster, src, service, service_port).outcome()
}

/// Loads the base cluster plus `manifests` and checks each flow's verdict.
fn check(manifests: &str, cases: &[(&str, bool)]) {
    let cluster = load(&format!("{}{manifests}", base()));
    check_cluster(&cluster, cases);
}

fn check_cluster(cluster: &Cluster, cases: &[(&str, bool)]) {
    let wrong: Vec<String> = cases
        .iter()
        .filter(|(line, allowed)| judge(cluster, line) != *allowed)
        .map(|(line, allowed)| format!("{line}: expected {}", word(*allowed)))
        .collect();
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}

fn word(allowed: bool) -> &'static str {
    if allowed { "allow" } else { "deny" }
}

fn policy(name: &str, ns: &str, spec: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{spec}\n---\n"
    )
}

#[test]
fn no_policy_allows_everything() {
    check(
        "",
        &[
            ("x/a -> x/b tcp/80", true),
            ("y/b -> x/a udp/53", true),
            ("x/a -> ip:192.0.2.1 tcp/443", true),
        ],
    );
}

#[test]
fn policy_types_default_to_ingress() {
    let spec = "  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]";
    check(
        &policy("p", "x", spec),
        &[
            ("x/b -> x/a tcp/80", true),
            ("x/c -> x/a tcp/80", false),
            // Egress of x/a is not isolated.
            ("x/a -> x/c tcp/80", true),
        ],
    );
}

#[test]
fn policy_types_add_egress_for_egress_rules() {
    let spec = "  podSelector: {matchLabels: {pod: a}}\n  egress: [{to: [{podSelector: {matchLabels: {pod: b}}}]}]";
    check(
        &policy("p", "x", spec),
        &[
            ("x/a -> x/b tcp/80", true),
            ("x/a -> x/c tcp/80", false),
            // Ingress is isolated too, and no ingress rule allows anything.
            ("x/b -> x/a tcp/80", false),
        ],
    );
}

#[test]
fn empty_egress_list_adds_no_egress_type() {
    // The API server adds Egress only when the egress list is non-empty.
    let spec = "  podSelector: {matchLabels: {pod: a}}\n  egress: []";
    check(
        &policy("p", "x", spec),
        &[("x/a -> x/b tcp/80", true), ("x/b -> x/a tcp/80", false)],
    );
}

#[test]
fn empty_policy_types_default_like_missing() {
    let spec = "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: []";
    check(
        &policy("p", "x", spec),
        &[("x/a -> x/b tcp/80", true), ("x/b -> x/a tcp/80", false)],
    );
}

#[test]
fn egress_only_policy_leaves_ingress_open() {
    let spec = "  podSelector: {matchLabels: {pod: a}}\n  policyTypes: [Egress]";
    check(
        &policy("p", "x", spec),
        &[("x/a -> x/b tcp/80", false), ("x/b -> x/a tcp/80", true)],
    );
}

#[test]
fn peer_fields_in_one_entry_are_anded() {
    let spec = "  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: blue}}
      podSelector: {matchLabels: {pod: b}}";
    check(
        &policy("p", "x", spec),
        &[
            ("y/b -> x/a tcp/80", true),
            ("y/a -> x/a tcp/80", false),
            ("x/b -> x/a tcp/80", false),
        ],
    );
}

#[test]
fn peer_entries_are_ored() {
    let spec = "  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {team: blue}}
    - podSelector: {matchLabels: {pod: b}}";
    check(
        &policy("p", "x", spec),
        &[
            ("y/b -> x/a tcp/80", true),
            ("y/a -> x/a tcp/80", true),
            ("x/b -> x/a tcp/80", true),
            ("x/c -> x/a tcp/80", false),
        ],
    );
}

#[test]
fn pod_selector_alone_stays_in_namespace() {
    let spec = "  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{podSelector: {}}]}]";
    check(
        &policy("p", "x", spec),
        &[("x/c -> x/a tcp/80", true), ("y/b -> x/a tcp/80", false)],
    );
}

#[test]
fn missing_and_empty_from_allow_all_peers() {
    for rule in ["{ports: [{port: 80}]}", "{from: [], ports: [{port: 80}]}"] {
        let spec = format!("  podSelector: {{matchLabels: {{pod: a}}}}\n  ingress: [{rule}]");
        check(
            &policy("p", "x", &spec),
            &[
                ("y/b -> x/a tcp/80", true),
                ("x/b -> x/a tcp/80", true),
                ("ip:192.0.2.9 -> x/a tcp/80", true),
                ("x/b -> x/a tcp/81", false),
            ],
        );
    }
}

#[test]
fn empty_ingress_list_allows_nothing() {
    let spec = "  podSelector: {matchLabels: {pod: a}}\n  ingress: []";
    check(
        &policy("p", "x", spec),
        &[("x/b -> x/a tcp/80", false), ("x/b -> x/a udp/53", false)],
    );
}

#[test]
fn empty_ingress_rule_allows_everything() {
    let deny = policy("deny", "x", "  podSelector: {}\n  policyTypes: [Ingress]");
    let allow = policy(
        "allow",
        "x",
        "  podSelector: {matchLabels: {pod: a}}\n  ingress: [{}]",
    );
    check(
        &format!("{deny}{allow}"),
        &[
            ("y/b -> x/a tcp/80", true),
            ("y/b -> x/a udp/53", true),
            ("y/b -> x/a sctp/7", true),
            ("y/b -> x/b tcp/80", false),
        ],
    );
}

#[test]
fn allowed_traffic_is_union_of_policies() {
    let one = policy(
        "one",
        "x",
        "  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]",
    );
    let two = policy(
        "two",
        "x",
        "  podSelector: {}\n  ingress: [{from: [{podSelector: {matchLabels: {pod: c}}}]}]",
    );
    check(
        &format!("{one}{two}"),
        &[
            ("x/b -> x/a tcp/80", true),
            ("x/c -> x/a tcp/80", true),
            ("x/b -> x/c tcp/80", false),
        ],
    );
}

#[test]
fn named_port_matches_name_and_protocol() {
    let tcp_dns = "  podSelector: {matchLabels: {pod: a}}
  ingress: [{ports: [{port: dns, protocol: TCP}]}]";
    check(
        &policy("p", "x", tcp_dns),
        &[("x/b -> x/a udp/53", false), ("x/b -> x/a tcp/53", false)],
    );
    let udp_dns = "  podSelector: {matchLabels: {pod: a}}
  ingress: [{ports: [{port: dns, protocol: UDP}, {port: http}]}]";
    check(
        &policy("p", "x", udp_dns),
        &[
            ("x/b -> x/a udp/53", true),
            ("x/b -> x/a tcp/80", true),
            ("x/b -> x/a tcp/53", false),
            ("x/b -> x/a udp/80", false),
        ],
    );
}

#[test]
fn egress_named_port_resolves_on_destination() {
    let other_ports = "apiVersion: v1
kind: Pod
metadata: {name: web, namespace: y, labels: {pod: web}}
spec:
  containers:
  - {name: main, image: nginx, ports: [{name: http, containerPort: 8080}]}
status: {podIP: 10.0.2.9}
---
";
    let spec = "  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress: [{ports: [{port: http}]}]";
    check(
        &format!("{other_ports}{}", policy("p", "x", spec)),
        &[
            ("x/a -> y/web tcp/8080", true),
            ("x/a -> y/web tcp/80", false),
            ("x/a -> y/b tcp/80", true),
            ("x/a -> ip:192.0.2.1 tcp/80", false),
        ],
    );
}

#[test]
fn end_port_gives_inclusive_range() {
    let spec = "  podSelector: {matchLabels: {pod: a}}
  ingress: [{ports: [{port: 8000, endPort: 8080}]}]";
    check(
        &policy("p", "x", spec),
        &[
            ("x/b -> x/a tcp/7999", false),
            ("x/b -> x/a tcp/8000", true),
            ("x/b -> x/a tcp/8042", true),
            ("x/b -> x/a tcp/8080", true),
            ("x/b -> x/a tcp/8081", false),
            ("x/b -> x/a udp/8000", false),
        ],
    );
}

#[test]
fn protocol_defaults_to_tcp() {
    let spec = "  podSelector: {matchLabels: {pod: a}}\n  ingress: [{ports: [{port: 80}]}]";
    check(
        &policy("p", "x", spec),
        &[("x/b -> x/a tcp/80", true), ("x/b -> x/a udp/80", false)],
    );
}

#[test]
fn protocol_without_port_allows_all_its_ports() {
    let spec = "  podSelector: {matchLabels: {pod: a}}\n  ingress: [{ports: [{protocol: UDP}]}]";
    check(
        &policy("p", "x", spec),
        &[
            ("x/b -> x/a udp/1", true),
            ("x/b -> x/a udp/65535", true),
            ("x/b -> x/a tcp/80", false),
        ],
    );
}

#[test]
fn sctp_is_its_own_protocol() {
    let spec = "  podSelector: {matchLabels: {pod: a}}
  ingress: [{ports: [{port: 9000, protocol: SCTP}]}]";
    check(
        &policy("p", "x", spec),
        &[
            ("x/b -> x/a sctp/9000", true),
            ("x/b -> x/a tcp/9000", false),
            ("x/b -> x/a udp/9000", false),
        ],
    );
}

#[test]
fn ip_block_except_carves_hole() {
    let spec = "  podSelector: {matchLabels: {pod: a}}
  policyTypes: [Egress]
  egress:
  - to: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.128/25]}}]";
    check(
        &policy("p", "x", spec),
        &[
            ("x/a -> ip:203.0.113.5 tcp/443", true),
            ("x/a -> ip:203.0.113.127 tcp/443", true),
            ("x/a -> ip:203.0.113.128 tcp/443", false),
            ("x/a -> ip:203.0.113.255 tcp/443", false),
            ("x/a -> ip:198.51.100.1 tcp/443", false),
        ],
    );
}

#[test]
fn ip_block_matches_pods_by_setting() {
    let spec = "  podSelector: {matchLabels: {pod: a}}
  ingress: [{from: [{ipBlock: {cidr: 10.0.2.0/24}}]}]";
    let manifests = format!("{}{}", base(), policy("p", "x", spec));
    let matching = load_with(&manifests, Settings::default()).cluster;
    check_cluster(
        &matching,
        &[
            ("y/b -> x/a tcp/80", true),
            ("x/b -> x/a tcp/80", false),
            ("ip:10.0.2.200 -> x/a tcp/80", true),
        ],
    );
    let settings = Settings {
        ipblock_matches_pods: false,
    };
    let not_matching = load_with(&manifests, settings).cluster;
    check_cluster(
        &not_matching,
        &[
            ("y/b -> x/a tcp/80", false),
            ("ip:10.0.2.200 -> x/a tcp/80", true),
        ],
    );
}

#[test]
fn namespace_selector_matches_labels() {
    let spec = "  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions: [{key: team, operator: In, values: [blue, green]}]";
    check(
        &policy("p", "x", spec),
        &[
            ("y/a -> x/a tcp/80", true),
            ("y/b -> x/a tcp/80", true),
            ("x/b -> x/a tcp/80", false),
        ],
    );
}

#[test]
fn undeclared_namespace_gets_name_label() {
    let extra = pod("z", "a", "pod: a", "10.0.3.1");
    let spec = "  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: z}}";
    let loaded = load_with(
        &format!("{}{extra}{}", base(), policy("p", "x", spec)),
        Settings::default(),
    );
    let z = &loaded.cluster.namespaces["z"];
    assert_eq!(z.labels.get("kubernetes.io/metadata.name").unwrap(), "z");
    let warned = loaded
        .diagnostics
        .iter()
        .any(|d| d.code == "moat::undeclared-namespace");
    assert!(warned, "no warning for the undeclared namespace");
    check_cluster(
        &loaded.cluster,
        &[("z/a -> x/a tcp/80", true), ("y/a -> x/a tcp/80", false)],
    );
}

#[test]
fn built_in_namespace_needs_no_declaration() {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}\n";
    let loaded = load_with(pod, Settings::default());
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let default = &loaded.cluster.namespaces["default"];
    let name = default.labels.get("kubernetes.io/metadata.name");
    assert_eq!(name.map(String::as_str), Some("default"));
}

#[test]
fn declared_namespace_gets_name_label() {
    let cluster = load(&base());
    let x = &cluster.namespaces["x"];
    assert_eq!(x.labels.get("kubernetes.io/metadata.name").unwrap(), "x");
    assert_eq!(x.labels.get("team").unwrap(), "red");
}

#[test]
fn host_network_pod_is_outside_pod_policy() {
    let host = "apiVersion: v1
kind: Pod
metadata: {name: node-agent, namespace: x, labels: {pod: a}}
spec:
  hostNetwork: true
  containers: [{name: main, image: busybox}]
---
";
    let deny_all = policy(
        "deny",
        "x",
        "  podSelector: {}\n  policyTypes: [Ingress, Egress]",
    );
    let allow_a = policy(
        "allow",
        "y",
        "  podSelector: {}\n  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {pod: a}}}]}]",
    );
    check(
        &format!("{host}{deny_all}{allow_a}"),
        &[
            // Policies selecting pod=a in x do not isolate the host-network pod.
            ("x/node-agent -> y/b tcp/80", false),
            ("y/b -> x/node-agent tcp/80", true),
            ("x/b -> x/node-agent tcp/80", false),
        ],
    );
}

#[test]
fn host_network_pod_matches_no_pod_selector() {
    let host = "apiVersion: v1
kind: Pod
metadata: {name: node-agent, namespace: y, labels: {pod: a}}
spec:
  hostNetwork: true
  containers: [{name: main, image: busybox}]
---
";
    let allow_a = policy(
        "allow",
        "x",
        "  podSelector: {matchLabels: {pod: b}}\n  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {pod: a}}}]}]",
    );
    check(
        &format!("{host}{allow_a}"),
        &[
            ("y/a -> x/b tcp/80", true),
            ("y/node-agent -> x/b tcp/80", false),
        ],
    );
}

const WEB: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: x}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: nginx, image: nginx, ports: [{name: web-http, containerPort: 8080}]}
---
";

#[test]
fn service_translates_to_named_target_port() {
    let service = "apiVersion: v1
kind: Service
metadata: {name: web, namespace: x}
spec:
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports: [{port: 80, targetPort: web-http}]
---
";
    let only_8080 = policy(
        "p",
        "x",
        "  podSelector: {matchLabels: {app: web}}\n  ingress: [{ports: [{port: 8080}]}]",
    );
    let cluster = load(&format!("{}{WEB}{service}{only_8080}", base()));
    check_cluster(
        &cluster,
        &[
            ("x/a -> svc:x/web tcp/80", true),
            ("x/a -> x/web-0 tcp/80", false),
            ("x/a -> x/web-1 tcp/8080", true),
        ],
    );
    let web = cluster.service("x", "web").unwrap();
    let port = web.port_for(moat_ir::Protocol::Tcp, 80).unwrap();
    let backends = moat_ir::service::backends(&cluster, web, port);
    let ports: Vec<u16> = backends.iter().map(|b| b.port).collect();
    assert_eq!(ports, [8080, 8080]);
}

#[test]
fn service_gets_cluster_ip_from_range() {
    let service = "apiVersion: v1
kind: Service
metadata: {name: web, namespace: x}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-headless, namespace: x}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{port: 8080}]
---
";
    let cluster = load(&format!("{}{WEB}{service}", base()));
    let web = cluster.service("x", "web").unwrap();
    let ip = web.cluster_ip.unwrap();
    assert!(
        "10.96.0.0/12"
            .parse::<ipnet::IpNet>()
            .unwrap()
            .contains(&ip)
    );
    let headless = cluster.service("x", "web-headless").unwrap();
    assert!(headless.headless);
    assert_eq!(headless.cluster_ip, None);
    check_cluster(&cluster, &[("x/a -> svc:x/web-headless tcp/8080", true)]);
}

#[test]
fn endpoint_slice_wins_over_selector() {
    let service_and_slice = "apiVersion: v1
kind: Service
metadata: {name: web, namespace: x}
spec:
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-abc
  namespace: x
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 80}]
endpoints:
- addresses: [10.0.1.2]
  conditions: {ready: true}
- addresses: [10.0.1.3]
  conditions: {ready: false}
---
";
    let cluster = load(&format!("{}{WEB}{service_and_slice}", base()));
    let web = cluster.service("x", "web").unwrap();
    let port = web.port_for(moat_ir::Protocol::Tcp, 80).unwrap();
    let backends = moat_ir::service::backends(&cluster, web, port);
    let b = cluster.pod_index("x", "b");
    assert_eq!(
        backends.len(),
        1,
        "only the ready slice endpoint: {backends:?}"
    );
    assert_eq!(backends[0].pod, b);
    assert_eq!(backends[0].port, 80);
}

#[test]
fn service_verdict_can_be_mixed() {
    let service = "apiVersion: v1
kind: Service
metadata: {name: ab, namespace: x}
spec:
  clusterIP: 10.96.0.20
  selector: {tier: ab}
  ports: [{port: 80}]
---
";
    let pods = format!(
        "{}{}",
        pod("x", "one", "tier: ab, pod: one", "10.0.1.11"),
        pod("x", "two", "tier: ab, pod: two", "10.0.1.12")
    );
    let isolate_one = policy(
        "p",
        "x",
        "  podSelector: {matchLabels: {pod: one}}\n  ingress: []",
    );
    let cluster = load(&format!("{}{pods}{service}{isolate_one}", base()));
    let src = FlowEnd::Pod(cluster.pod_index("x", "a").unwrap());
    let outcome = service_outcome(&cluster, src, "x/ab", moat_ir::Protocol::Tcp, 80);
    assert_eq!(outcome, ServiceOutcome::Mixed);
}

#[test]
fn workloads_expand_into_pods() {
    let workloads = "apiVersion: apps/v1
kind: Deployment
metadata: {name: dep, namespace: x}
spec:
  replicas: 3
  selector: {matchLabels: {app: dep}}
  template: {metadata: {labels: {app: dep}}, spec: {containers: [{name: c, image: i}]}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: sts, namespace: x}
spec:
  replicas: 2
  serviceName: sts
  selector: {matchLabels: {app: sts}}
  template: {metadata: {labels: {app: sts}}, spec: {containers: [{name: c, image: i}]}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds, namespace: x}
spec:
  selector: {matchLabels: {app: ds}}
  template: {metadata: {labels: {app: ds}}, spec: {containers: [{name: c, image: i}]}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs, namespace: x}
spec:
  replicas: 1
  selector: {matchLabels: {app: rs}}
  template: {metadata: {labels: {app: rs}}, spec: {containers: [{name: c, image: i}]}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: job, namespace: x}
spec:
  parallelism: 2
  template: {metadata: {labels: {app: job}}, spec: {restartPolicy: Never, containers: [{name: c, image: i}]}}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cron, namespace: x}
spec:
  schedule: '0 * * * *'
  jobTemplate:
    spec:
      template: {metadata: {labels: {app: cron}}, spec: {restartPolicy: Never, containers: [{name: c, image: i}]}}
---
";
    let cluster = load(&format!("{}{workloads}", base()));
    let names = [
        ("dep-0", "dep"),
        ("dep-1", "dep"),
        ("dep-2", "dep"),
        ("sts-0", "sts"),
        ("sts-1", "sts"),
        ("ds-0", "ds"),
        ("rs-0", "rs"),
        ("job-0", "job"),
        ("job-1", "job"),
        ("cron-0", "cron"),
    ];
    for (name, app) in names {
        let pod = cluster
            .pod("x", name)
            .unwrap_or_else(|| panic!("pod `x/{name}` missing"));
        assert_eq!(pod.labels.get("app").map(String::as_str), Some(app));
        assert!(pod.ip.is_some(), "pod `x/{name}` has no IP");
    }
    assert!(cluster.pod("x", "dep-3").is_none());
    let owner = cluster.pod("x", "sts-1").unwrap().owner.as_deref();
    assert_eq!(owner, Some("StatefulSet/sts"));
}

#[test]
fn list_kind_is_unpacked() {
    let list = "apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: listed}
- apiVersion: v1
  kind: Pod
  metadata: {name: p, namespace: listed}
  spec: {containers: [{name: c, image: i}]}
";
    let cluster = load(list);
    assert!(cluster.namespaces.contains_key("listed"));
    assert!(cluster.pod("listed", "p").is_some());
}

#[test]
fn yaml_anchors_and_merge_keys_apply() {
    // The policy selects `app: web, pod: c`: the explicit `pod: c` wins over
    // the merged `pod: a` and `pod: x`, and `app: web` comes from the anchor.
    let policy = "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: p
  namespace: x
  labels: &web {app: web, pod: a}
  annotations: &b {pod: b}
spec:
  podSelector:
    matchLabels:
      <<: [*web, {pod: x}]
      pod: c
  ingress: [{from: [{podSelector: {matchLabels: *b}}]}]
---
";
    let web_c = pod("x", "web-c", "app: web, pod: c", "10.0.1.9");
    let web_a = pod("x", "web-a", "app: web, pod: a", "10.0.1.10");
    check(
        &format!("{web_c}{web_a}{policy}"),
        &[
            ("x/b -> x/web-c tcp/80", true),
            ("x/a -> x/web-c tcp/80", false),
            ("x/a -> x/web-a tcp/80", true),
            ("x/c -> x/a tcp/80", true),
        ],
    );
}

#[test]
fn json_input_loads() {
    let json = r#"{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "j"}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
     "metadata": {"name": "deny", "namespace": "j"},
     "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
  ]
}"#;
    let loaded = load_with(json, Settings::default());
    assert_eq!(loaded.cluster.policies.len(), 1);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
}

#[test]
fn multi_document_yaml_loads_every_document() {
    let cluster = load(&base());
    assert_eq!(cluster.namespaces.len(), 2);
    assert_eq!(cluster.pods.len(), 5);
}

#[test]
fn unknown_kinds_are_skipped_and_counted() {
    let extra = "apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: x}
data: {a: b}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: more, namespace: x}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w}
---
";
    let loaded = load_with(&format!("{}{extra}", base()), Settings::default());
    assert_eq!(loaded.skipped.get("ConfigMap"), Some(&2));
    assert_eq!(loaded.skipped.get("Widget"), Some(&1));
    assert!(!loaded.has_errors());
    assert_eq!(loaded.warnings(), 0, "{:?}", loaded.diagnostics);
}
