//! `moat compile` and `moat image` end to end on the demo manifests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code fails loudly on broken fixtures"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A scratch directory for image files, unique per test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moat-image-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn moat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("MOAT_LOG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn compile(dir: &Path, name: &str, manifests: &str) -> String {
    let path = dir.join(name).display().to_string();
    let out = moat(&["compile", manifests, "-o", &path]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    path
}

#[test]
fn inspect_shows_service_and_tables() {
    let dir = scratch("inspect");
    let image = compile(&dir, "demo.moat", "policies/demo");
    let out = moat(&["image", "inspect", &image]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("default/web-service"), "{stdout}");
    assert!(stdout.contains("1 => 10.244.0.3:80"), "{stdout}");
    assert!(stdout.contains("default/client-0"), "{stdout}");
    assert!(stdout.contains("default/web-server-0"), "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn inspect_json_snapshot() {
    let dir = scratch("json");
    let image = compile(&dir, "demo.moat", "policies/demo-isolated");
    let out = moat(&[
        "image",
        "inspect",
        &image,
        "--maps",
        "services,endpoints,policy",
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let mut json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The header hashes change whenever the IR's serialised form changes.
    json["header"]["content_hash"] = "<hash>".into();
    json["header"]["input_digest"] = "<hash>".into();
    insta::assert_json_snapshot!(json);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn diff_lists_changed_policy() {
    let dir = scratch("diff");
    let open = compile(&dir, "open.moat", "policies/demo");
    let isolated = compile(&dir, "isolated.moat", "policies/demo-isolated");
    let out = moat(&["image", "diff", &open, &isolated]);
    assert_eq!(out.status.code(), Some(1), "images differ");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("policy: 1 added, 0 removed, 0 changed"),
        "{stdout}"
    );
    assert!(stdout.contains("web-server-frontend-only"), "{stdout}");
    let same = moat(&["image", "diff", &open, &open]);
    assert_eq!(same.status.code(), Some(0));
    assert_eq!(text(&same.stdout), "no differences\n");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn over_capacity_fails_naming_map() {
    let dir = scratch("capacity");
    let path = dir.join("demo.moat").display().to_string();
    let out = moat(&[
        "compile",
        "policies/demo",
        "-o",
        &path,
        "--capacity",
        "maglev=50",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("map `maglev` needs 1021 entries but its capacity is 50"),
        "{stderr}"
    );
    assert!(!std::path::Path::new(&path).exists(), "no image written");

    let zero = moat(&[
        "compile",
        "policies/demo",
        "-o",
        &path,
        "--capacity",
        "services=0",
    ]);
    assert_eq!(
        zero.status.code(),
        Some(2),
        "a capacity of 0 is a usage error"
    );
    assert!(!std::path::Path::new(&path).exists(), "no image written");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn corrupted_image_is_rejected() {
    let dir = scratch("corrupt");
    let image = compile(&dir, "demo.moat", "policies/demo");
    let mut bytes = std::fs::read(&image).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&image, &bytes).unwrap();
    let out = moat(&["image", "inspect", &image]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("content hash mismatch"),
        "{}",
        text(&out.stderr)
    );
    std::fs::remove_dir_all(dir).unwrap();
}
