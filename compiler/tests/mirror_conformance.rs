//! The compiled image agrees with the reference evaluator on every
//! conformance case: each case is compiled, encoded, decoded, and every
//! expected flow is judged by the datapath mirror over the decoded image.

// Helpers outside #[test] functions index and unwrap freely: a panic is a test failure.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::cell::RefCell;
use std::net::IpAddr;
use std::path::PathBuf;

use moat_compiler::mirror::Mirror;
use moat_compiler::{CompileOptions, compile, decode, encode};
use moat_ir::conformance::{check_case, discover};
use moat_ir::{Cluster, Flow, FlowEnd, LoadOptions, load_paths, verdict};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/conformance")
}

fn address(cluster: &Cluster, end: FlowEnd) -> Option<IpAddr> {
    match end {
        FlowEnd::Pod(i) => cluster.pods.get(i)?.ip,
        FlowEnd::External(ip) => Some(ip),
    }
}

/// Whether the end is a pod whose address another pod also claims. The
/// datapath identifies pods by address only, so such flows cannot be judged by
/// address (the cyclonus case gives namespaces y and z the same pod IPs).
fn ambiguous(cluster: &Cluster, end: FlowEnd) -> bool {
    let FlowEnd::Pod(i) = end else {
        return false;
    };
    let ip = cluster.pods.get(i).and_then(|p| p.ip);
    cluster
        .pods
        .iter()
        .filter(|p| ip.is_some() && p.ip == ip)
        .count()
        > 1
}

/// Compares the mirror with the evaluator on one flow; returns the mirror's verdict.
fn judge_one(
    cluster: &Cluster,
    mirror: &Mirror,
    flow: &Flow,
    errors: &RefCell<Vec<String>>,
) -> bool {
    let expected = verdict(cluster, flow);
    let (Some(src), Some(dst)) = (address(cluster, flow.src), address(cluster, flow.dst)) else {
        errors
            .borrow_mut()
            .push(format!("{flow:?}: an end has no address"));
        return !expected.allowed;
    };
    let got = mirror.verdict(src, dst, flow.protocol.ip_number(), flow.port);
    let mut problems = Vec::new();
    if got.allowed != expected.allowed {
        problems.push(format!(
            "allowed {} but the evaluator says {}",
            got.allowed, expected.allowed
        ));
    }
    for (side, decision, name) in [
        (got.egress, &expected.egress, "egress"),
        (got.ingress, &expected.ingress, "ingress"),
    ] {
        if side.allowed() != decision.allowed {
            problems.push(format!(
                "{name} allowed {} but the evaluator says {}",
                side.allowed(),
                decision.allowed
            ));
        }
        let host_network = matches!(decision.reason, moat_ir::Reason::HostNetwork);
        if !host_network && mirror.reason(side).as_ref() != Some(&decision.reason) {
            problems.push(format!(
                "{name} reason {:?} but the evaluator says {:?}",
                mirror.reason(side),
                decision.reason
            ));
        }
    }
    if !problems.is_empty() {
        errors.borrow_mut().push(format!(
            "{src} -> {dst} {}/{}: {}",
            flow.protocol.lower(),
            flow.port,
            problems.join("; ")
        ));
    }
    got.allowed
}

#[test]
fn mirror_agrees_on_every_case() {
    let cases = discover(&root()).expect("conformance cases readable");
    assert!(cases.len() >= 40, "found only {} cases", cases.len());
    let mut failures = Vec::new();
    let mut flows = 0usize;
    let mut ambiguous_flows = 0usize;
    for case in &cases {
        let loaded = load_paths(&case.manifests(), &LoadOptions::default());
        let cluster = &loaded.cluster;
        let image = compile(cluster, &CompileOptions::default()).expect("case compiles");
        let decoded = decode(&encode(&image)).expect("encoded image decodes");
        assert_eq!(
            decoded,
            Image::with_hash(&image, &decoded),
            "{}: decode changed the image",
            case.name
        );
        let mirror = Mirror::new(&decoded);
        let errors = RefCell::new(Vec::new());
        let count = RefCell::new(0usize);
        let skipped = RefCell::new(0usize);
        let judge = |c: &Cluster, f: &Flow| {
            if ambiguous(c, f.src) || ambiguous(c, f.dst) {
                *skipped.borrow_mut() += 1;
                return verdict(c, f).allowed;
            }
            *count.borrow_mut() += 1;
            judge_one(c, &mirror, f, &errors)
        };
        let mismatches = check_case(cluster, &case.expectations, &judge);
        flows += *count.borrow();
        ambiguous_flows += *skipped.borrow();
        let errors = errors.into_inner();
        if !mismatches.is_empty() || !errors.is_empty() {
            let detail: Vec<String> = mismatches
                .iter()
                .map(|m| format!("line {}: {}", m.line, m.message))
                .chain(errors)
                .take(6)
                .collect();
            failures.push(format!("{}:\n    {}", case.name, detail.join("\n    ")));
        }
    }
    println!(
        "mirror: {} cases, {flows} flows judged, {ambiguous_flows} left to the evaluator \
         because two pods share an address",
        cases.len()
    );
    assert!(flows > 5000, "only {flows} flows judged");
    assert!(
        failures.is_empty(),
        "failing cases:\n  {}",
        failures.join("\n  ")
    );
}

/// The image as decoded: equal to the compiled one apart from the content hash.
trait WithHash {
    fn with_hash(
        compiled: &moat_compiler::Image,
        decoded: &moat_compiler::Image,
    ) -> moat_compiler::Image;
}

use moat_compiler::Image;

impl WithHash for Image {
    fn with_hash(compiled: &Image, decoded: &Image) -> Image {
        let mut image = compiled.clone();
        image.header.content_hash = decoded.header.content_hash;
        image
    }
}
