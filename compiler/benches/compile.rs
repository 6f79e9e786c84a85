//! Compile-time and image-size benchmark over generated clusters.
//!
//! Run with `cargo bench -p moat-compiler --bench compile`. For each cluster
//! size it prints the compile time, the entries and bytes of every map, and
//! the ratio of the policy map to a Cilium-style expansion: one entry per
//! (endpoint, direction, peer identity, port range) whose verdict differs
//! from the endpoint's default, with no sharing of tables between endpoints
//! and no wildcard identity.

// A benchmark binary: a panic on a generated cluster is a bug worth seeing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;
use moat_compiler::layout::{ID_ANY, POLICY_PREFIX_ALL};
use moat_compiler::{Capacity, CompileOptions, Image, compile, encode};
use moat_ir::generate::{Scale, cluster_yaml};
use moat_ir::selector::LabelSelector;
use moat_ir::{
    Action, Cluster, ContainerPort, Direction, IpBlock, LoadOptions, Namespace, NamespaceMatch,
    Peer, Peers, Pod, PodSet, Policy, PolicyKind, PortMatch, PortRule, Ports, Protocol, Rule,
    Service, ServicePort, Settings, Subject, TargetPort, Tier, load_str,
};

const REPLICAS: usize = 10;
/// Compile runs per cluster; the minimum is the least disturbed by other load.
const RUNS: usize = 5;
const TIERS: [&str; 3] = ["web", "api", "db"];

fn main() {
    let sizes = [
        (1_000, 100, 100),
        (10_000, 2_000, 1_000),
        (50_000, 10_000, 5_000),
    ];
    for (pods, policies, services) in sizes {
        let cluster = generate(pods, policies, services);
        let title = format!("{pods} pods, {policies} policies, {services} services");
        run(&cluster, &title);
    }
    // The shared generator's mix: named ports, default deny, DNS egress,
    // ipBlock with except and endPort ranges.
    let scales = [
        Scale {
            namespaces: 50,
            pods: 1_000,
            policies: 100,
            seed: 1,
        },
        Scale::LARGE,
    ];
    for scale in scales {
        let loaded = load_str(
            "generated.yaml",
            &cluster_yaml(&scale),
            &LoadOptions::default(),
        );
        assert!(!loaded.has_errors(), "generated cluster loads");
        let cluster = loaded.cluster;
        let title = format!(
            "moat_ir::generate: {} pods, {} policies, {} services",
            cluster.pods.len(),
            cluster.policies.len(),
            cluster.services.len()
        );
        run(&cluster, &title);
    }
}

fn run(cluster: &Cluster, title: &str) {
    // The largest cluster needs more Maglev slots than the default capacity.
    let options = CompileOptions {
        capacity: Capacity {
            maglev: 16 << 20,
            ..Capacity::default()
        },
        ..CompileOptions::default()
    };
    let mut times = Vec::new();
    let mut image = None;
    for _ in 0..RUNS {
        let start = Instant::now();
        image = Some(compile(cluster, &options).expect("generated cluster compiles"));
        times.push(start.elapsed().as_secs_f64());
    }
    let image = image.expect("at least one run");
    let start = Instant::now();
    let bytes = encode(&image);
    let encode_time = start.elapsed();
    times.sort_by(f64::total_cmp);

    println!("\n## {title}");
    println!(
        "compile min {:.3} s, median {:.3} s over {RUNS} runs; encode {:.3} s; image {} bytes ({:.2} MiB)",
        times[0],
        times[RUNS / 2],
        encode_time.as_secs_f64(),
        bytes.len(),
        bytes.len() as f64 / (1024.0 * 1024.0)
    );
    println!("| map | entries | bytes |");
    println!("| --- | --- | --- |");
    for (map, entries, size) in map_sizes(&image) {
        println!("| {map} | {entries} | {} |", entries * size);
    }
    let identities = image.provenance.identities.len();
    let tables = distinct_tables(&image);
    let expansion = cilium_expansion(&image);
    println!(
        "identities {identities}, distinct policy tables {tables}, policy entries {}, \
         Cilium-style expansion {expansion}, ratio {:.5}",
        image.policy.len(),
        image.policy.len() as f64 / expansion.max(1) as f64
    );
}

fn map_sizes(image: &Image) -> Vec<(&'static str, usize, usize)> {
    use moat_compiler::image::SectionKind as K;
    vec![
        (
            "endpoints",
            image.endpoints.len(),
            K::Endpoints.record_size(),
        ),
        ("ipcache", image.ipcache.len(), K::Ipcache.record_size()),
        ("policy", image.policy.len(), K::Policy.record_size()),
        ("services", image.services.len(), K::Services.record_size()),
        ("backends", image.backends.len(), K::Backends.record_size()),
        ("maglev", image.maglev.len(), K::Maglev.record_size()),
        ("revnat", image.revnat.len(), K::Revnat.record_size()),
    ]
}

fn distinct_tables(image: &Image) -> usize {
    let ids: std::collections::HashSet<u32> =
        image.policy.iter().map(|(k, _)| k.table_id).collect();
    ids.len()
}

/// Per-endpoint expansion of every table, as defined in the module comment.
fn cilium_expansion(image: &Image) -> u64 {
    let identities = image.provenance.identities.len() as u64;
    // Per table: entries of identities with their own entries, how many such
    // identities, and the wildcard entries beyond the default.
    let mut own: HashMap<u32, (u64, u64)> = HashMap::new();
    let mut wildcard: HashMap<u32, u64> = HashMap::new();
    let mut seen: HashMap<(u32, u32), ()> = HashMap::new();
    for (key, _) in &image.policy {
        if key.identity == ID_ANY {
            if key.prefixlen != POLICY_PREFIX_ALL {
                *wildcard.entry(key.table_id).or_default() += 1;
            }
            continue;
        }
        let slot = own.entry(key.table_id).or_default();
        slot.0 += 1;
        if seen.insert((key.table_id, key.identity), ()).is_none() {
            slot.1 += 1;
        }
    }
    let per_table = |table: u32| {
        let (entries, with_own) = own.get(&table).copied().unwrap_or_default();
        let rest = identities.saturating_sub(with_own);
        entries + rest * wildcard.get(&table).copied().unwrap_or_default()
    };
    image
        .endpoints
        .iter()
        .map(|(_, e)| per_table(e.ingress_table) + per_table(e.egress_table))
        .sum()
}

/// A cluster of `pods` pods in deployments of ten, spread over namespaces of
/// about 100 pods, with `policies` policies and `services` services.
fn generate(pods: usize, policies: usize, services: usize) -> Cluster {
    let apps = pods / REPLICAS;
    let namespaces = (pods / 100).max(1);
    let mut cluster = Cluster {
        settings: Settings::default(),
        ..Cluster::default()
    };
    for n in 0..namespaces {
        let labels = BTreeMap::from([("team".to_string(), format!("t{}", n % 10))]);
        let name = format!("ns{n}");
        cluster.namespaces.insert(
            name.clone(),
            Namespace {
                name,
                labels,
                origin: None,
            },
        );
    }
    for i in 0..pods {
        cluster.pods.push(pod(i, namespaces));
    }
    for k in 0..policies {
        cluster.policies.push(policy(k, apps, namespaces));
    }
    for j in 0..services {
        cluster.services.push(service(j % apps, namespaces, j));
    }
    cluster
}

fn app_namespace(app: usize, namespaces: usize) -> String {
    format!("ns{}", app % namespaces)
}

fn pod(i: usize, namespaces: usize) -> Pod {
    let app = i / REPLICAS;
    let labels = BTreeMap::from([
        ("app".to_string(), format!("app{app}")),
        ("tier".to_string(), TIERS[app % 3].to_string()),
        // A per-pod label that no selector reads: it must not split identities.
        ("pod-template-hash".to_string(), format!("{i:08x}")),
    ]);
    let ip: IpAddr = [10, 244, (i / 250) as u8, (i % 250) as u8 + 1].into();
    Pod {
        namespace: app_namespace(app, namespaces),
        name: format!("app{app}-{i}"),
        labels,
        ip: Some(ip),
        ports: vec![ContainerPort {
            name: Some("http".to_string()),
            port: 8080,
            protocol: Protocol::Tcp,
        }],
        node_name: Some(format!("node{}", i % 100)),
        host_network: false,
        ready: true,
        images: Vec::new(),
        owner: None,
        origin: None,
    }
}

fn app_selector(app: usize) -> LabelSelector {
    let value = format!("app{app}");
    LabelSelector::from_labels([("app", value.as_str())])
}

fn ports(k: usize) -> Ports {
    let port = match k % 4 {
        0 => PortMatch::Range { start: 80, end: 80 },
        1 => PortMatch::Range {
            start: 8000,
            end: 8100,
        },
        2 => PortMatch::Named("http".to_string()),
        _ => return Ports::Any,
    };
    Ports::List(vec![PortRule {
        protocol: Protocol::Tcp,
        port,
    }])
}

fn rule(direction: Direction, action: Action, peers: Peers, ports: Ports) -> Rule {
    Rule {
        direction,
        action,
        index: 0,
        peers,
        ports,
        origin: None,
    }
}

/// Every tenth policy is an egress policy with an ipBlock and DNS; every
/// twentieth is an AdminNetworkPolicy; the rest allow ingress from another app.
fn policy(k: usize, apps: usize, namespaces: usize) -> Policy {
    let app = k % apps;
    let namespace = app_namespace(app, namespaces);
    let mut policy = Policy {
        kind: PolicyKind::NetworkPolicy,
        namespace: Some(namespace.clone()),
        name: format!("policy{k}"),
        tier: Tier::Namespaced,
        priority: 0,
        subject: Subject::Pods(PodSet {
            namespaces: NamespaceMatch::Name(namespace),
            pods: app_selector(app),
        }),
        isolates_ingress: true,
        isolates_egress: false,
        rules: Vec::new(),
        origin: None,
    };
    if k % 20 == 19 {
        policy.kind = PolicyKind::AdminNetworkPolicy;
        policy.tier = Tier::Admin;
        policy.namespace = None;
        policy.priority = (k % 50) as u32;
        policy.isolates_ingress = false;
        let peer = Peer::Pods(PodSet {
            namespaces: NamespaceMatch::Selector(LabelSelector::from_labels([("team", "t3")])),
            pods: LabelSelector::everything(),
        });
        let action = [Action::Deny, Action::Pass, Action::Allow][k % 3];
        policy.rules.push(rule(
            Direction::Ingress,
            action,
            Peers::List(vec![peer]),
            ports(k),
        ));
        return policy;
    }
    if k % 10 == 9 {
        policy.isolates_ingress = false;
        policy.isolates_egress = true;
        let block = IpBlock {
            cidr: "10.0.0.0/8".parse::<IpNet>().unwrap(),
            except: vec!["10.244.0.0/16".parse::<IpNet>().unwrap()],
            matches_pods: None,
        };
        let dns = Ports::List(vec![PortRule {
            protocol: Protocol::Udp,
            port: PortMatch::Range { start: 53, end: 53 },
        }]);
        policy.rules.push(rule(
            Direction::Egress,
            Action::Allow,
            Peers::List(vec![Peer::IpBlock(block)]),
            ports(k),
        ));
        policy
            .rules
            .push(rule(Direction::Egress, Action::Allow, Peers::Any, dns));
        return policy;
    }
    let from = (k * 7 + 1) % apps;
    let peer = Peer::Pods(PodSet {
        namespaces: NamespaceMatch::Selector(LabelSelector::everything()),
        pods: app_selector(from),
    });
    policy.rules.push(rule(
        Direction::Ingress,
        Action::Allow,
        Peers::List(vec![peer]),
        ports(k),
    ));
    policy
}

fn service(app: usize, namespaces: usize, j: usize) -> Service {
    let ip: IpAddr = [10, 96, (j / 250) as u8, (j % 250) as u8 + 1].into();
    Service {
        namespace: app_namespace(app, namespaces),
        name: format!("svc{j}"),
        service_type: "ClusterIP".to_string(),
        cluster_ip: Some(ip),
        headless: false,
        selector: Some(BTreeMap::from([("app".to_string(), format!("app{app}"))])),
        ports: vec![ServicePort {
            name: Some("http".to_string()),
            port: 80,
            protocol: Protocol::Tcp,
            target: TargetPort::Name("http".to_string()),
        }],
        endpoints: None,
        origin: None,
    }
}
