//! Loading and checking a large generated cluster: 10,000 pods, 500
//! namespaces and 2,000 NetworkPolicies in one YAML text.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code fails loudly on broken fixtures"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use moat_ir::generate::{Scale, cluster_yaml};
use moat_ir::{LoadOptions, load_str};

fn load_large(c: &mut Criterion) {
    let text = cluster_yaml(&Scale::LARGE);
    let options = LoadOptions::default();

    let loaded = load_str("generated.yaml", &text, &options);
    assert!(
        loaded.diagnostics.is_empty(),
        "{:?}",
        loaded.diagnostics.first()
    );
    assert_eq!(loaded.cluster.pods.len(), Scale::LARGE.pods);
    assert_eq!(loaded.cluster.policies.len(), Scale::LARGE.policies);
    eprintln!("generated manifests: {} bytes", text.len());

    let mut group = c.benchmark_group("load");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("10k_pods_500_ns_2k_policies", |b| {
        b.iter(|| load_str("generated.yaml", black_box(&text), &options))
    });
    group.finish();
}

criterion_group!(benches, load_large);
criterion_main!(benches);
