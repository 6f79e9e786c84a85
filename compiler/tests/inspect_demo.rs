//! Snapshots of `moat image inspect` output for the demo, and the capacity check.

// Helpers outside #[test] functions index and unwrap freely: a panic is a test failure.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::PathBuf;

use moat_compiler::image::SectionKind;
use moat_compiler::{
    Capacity, CompileError, CompileOptions, compile, decode, encode, render, view,
};
use moat_ir::{Cluster, LoadOptions, load_paths};

fn demo() -> Cluster {
    // A relative path keeps file names in the provenance and input digest stable.
    let loaded = load_paths(
        &[PathBuf::from("../policies/demo")],
        &LoadOptions::default(),
    );
    assert!(!loaded.has_errors(), "demo loads without errors");
    loaded.cluster
}

#[test]
fn demo_inspect_json() {
    let image = compile(&demo(), &CompileOptions::default()).expect("demo compiles");
    let decoded = decode(&encode(&image)).expect("demo decodes");
    let mut json = serde_json::to_value(view::view(&decoded, None)).unwrap();
    // The header hashes change whenever the IR's serialised form changes.
    json["header"]["content_hash"] = "<hash>".into();
    json["header"]["input_digest"] = "<hash>".into();
    insta::assert_json_snapshot!(json);
}

#[test]
fn demo_inspect_text_services() {
    let image = compile(&demo(), &CompileOptions::default()).expect("demo compiles");
    let view = view::view(
        &image,
        Some(&[SectionKind::Services, SectionKind::Endpoints]),
    );
    let text = render::text(&view);
    let services = text.split("\nservices\n").nth(1).unwrap_or_default();
    insta::assert_snapshot!(services);
}

#[test]
fn demo_shows_service_and_tables() {
    let image = compile(&demo(), &CompileOptions::default()).expect("demo compiles");
    let view = view::view(&image, None);
    let services = view.services.expect("services selected");
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].service, "default/web-service");
    assert_eq!(services[0].backends.len(), 1);
    let endpoints = view.endpoints.expect("endpoints selected");
    let names: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
    assert!(
        names.iter().any(|n| n.starts_with("default/client")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.starts_with("default/web-server")),
        "{names:?}"
    );
}

#[test]
fn over_capacity_names_the_map() {
    let options = CompileOptions {
        capacity: Capacity {
            maglev: 50,
            ..Capacity::default()
        },
        ..CompileOptions::default()
    };
    let error = compile(&demo(), &options).unwrap_err();
    let CompileError::Capacity(overflows) = &error else {
        panic!("expected a capacity error, got {error}");
    };
    assert_eq!(overflows.len(), 1);
    assert_eq!(overflows[0].map, "maglev");
    assert_eq!(overflows[0].needed, 1021);
    assert_eq!(overflows[0].allowed, 50);
    let message = error.to_string();
    assert!(
        message.contains("map `maglev` needs 1021 entries but its capacity is 50"),
        "{message}"
    );
}

#[test]
fn unknown_node_is_rejected() {
    let options = CompileOptions {
        node: Some("nodo-1".to_string()),
        ..CompileOptions::default()
    };
    let error = compile(&demo(), &options).unwrap_err();
    assert!(
        error.to_string().contains("node `nodo-1` not found"),
        "{error}"
    );
}
