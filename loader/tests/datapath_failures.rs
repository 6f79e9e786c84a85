//! Failed loads leave the previous image enforcing: an image larger than a
//! map, and a program the kernel verifier rejects.

// A helper that fails must abort the test like the test body would.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod datapath_support;

use std::path::Path;
use std::process::Command;

use datapath_support::*;
use moat_loader::{Datapath, Hook, LoaderError, ProgramSet, ProgramSpec};

/// Asserts that image 1 (ALLOW_CLIENT) still decides.
fn assert_first_image_enforces(dp: &Datapath, port: u16) {
    let allowed = packet((CLIENT, port), (WEB, 80), PROTO_TCP, TCP_SYN);
    let run = dp
        .test_run(Hook::FromPod, &allowed, None)
        .expect("test run");
    assert_eq!(run.retval, TC_ACT_REDIRECT, "client -> web still allowed");
    let denied = packet((OTHER, port), (WEB, 80), PROTO_TCP, TCP_SYN);
    let run = dp.test_run(Hook::FromPod, &denied, None).expect("test run");
    assert_eq!(run.retval, TC_ACT_SHOT, "other -> web still denied");
}

#[test]
fn oversized_image_keeps_old_one() {
    if !kernel_available("oversized_image_keeps_old_one") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");
    let before = moat_loader::inspect::active(&pin.0).expect("active");

    let mut big = image("", 2);
    let template = *big.ipcache.first().expect("an ipcache record");
    let extra = moat_loader::layout::capacity::IPCACHE as usize + 1 - big.ipcache.len();
    big.ipcache.extend(std::iter::repeat_n(template, extra));
    let err = dp.load_image(&big).expect_err("the image does not fit");
    assert!(
        matches!(
            err,
            LoaderError::Capacity {
                map: "moat_ipcache",
                ..
            }
        ),
        "unexpected error: {err}"
    );

    let after = moat_loader::inspect::active(&pin.0).expect("active");
    assert_eq!(after, before, "the active entry did not change");
    assert_first_image_enforces(&dp, 41000);
}

/// Compiles `tests/bpf/broken.c` with the datapath headers; the object is
/// leaked so it lives as long as a built-in one.
fn broken_object() -> &'static [u8] {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ebpf = manifest.join("../ebpf");
    let out = std::env::temp_dir().join(format!("moat-broken-{}.o", std::process::id()));
    let status = Command::new("clang")
        .args(["-target", "bpf", "-O2", "-g"])
        .arg("-I")
        .arg(ebpf.join("include"))
        .arg("-I")
        .arg(ebpf.join("lib"))
        .arg(format!(
            "-I/usr/include/{}-linux-gnu",
            std::env::consts::ARCH
        ))
        .arg("-c")
        .arg(manifest.join("tests/bpf/broken.c"))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("clang runs");
    assert!(status.success(), "broken.c compiles");
    let bytes = std::fs::read(&out).expect("object readable");
    let _ = std::fs::remove_file(&out);

    // aya parses objects in place and needs 8-byte alignment.
    let mut words = vec![0u64; bytes.len().div_ceil(8)];
    // SAFETY: `words` has at least `bytes.len()` bytes of storage.
    let dst =
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), bytes.len()) };
    dst.copy_from_slice(&bytes);
    let words: &'static [u64] = Box::leak(words.into_boxed_slice());
    // SAFETY: the leaked allocation covers `bytes.len()` bytes for 'static.
    unsafe { std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), bytes.len()) }
}

fn broken_set() -> ProgramSet {
    let builtin = ProgramSet::BUILTIN;
    ProgramSet {
        from_pod: ProgramSpec {
            object: broken_object(),
            ..builtin.from_pod
        },
        ..builtin
    }
}

#[test]
fn rejected_program_keeps_old_one() {
    if !kernel_available("rejected_program_keeps_old_one") {
        return;
    }
    let pin = PinDir::new();
    let mut dp = datapath(&pin);
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");

    let err = dp
        .reload_programs(&broken_set())
        .expect_err("the verifier rejects it");
    match &err {
        LoaderError::Verifier { program, log, .. } => {
            assert_eq!(program, "moat_from_pod");
            assert!(
                log.contains("invalid access to packet"),
                "verifier log: {log}"
            );
        }
        other => panic!("expected a verifier error, got {other}"),
    }
    assert!(
        err.to_string().contains("verifier log:"),
        "the message carries the log"
    );

    assert_first_image_enforces(&dp, 42000);
    let reopened = Datapath::open(&pin.0).expect("pinned programs reopen");
    assert_first_image_enforces(&reopened, 42001);
}

#[test]
fn rejected_first_load_leaves_no_pins() {
    if !kernel_available("rejected_first_load_leaves_no_pins") {
        return;
    }
    let pin = PinDir::new();
    let err = Datapath::open_or_create_with(&pin.0, &broken_set()).expect_err("rejected");
    assert!(
        matches!(err, LoaderError::Verifier { .. }),
        "unexpected error: {err}"
    );
    assert!(!pin.0.exists(), "no pin directory is left behind");
}

#[test]
fn program_reload_swaps_in_place() {
    if !kernel_available("program_reload_swaps_in_place") {
        return;
    }
    let pin = PinDir::new();
    let mut dp = datapath(&pin);
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");
    dp.reload_programs(&ProgramSet::BUILTIN).expect("reload");
    assert_first_image_enforces(&dp, 43000);
}

#[test]
fn rejected_upgrade_on_open_keeps_old_one() {
    if !kernel_available("rejected_upgrade_on_open_keeps_old_one") {
        return;
    }
    let pin = PinDir::new();
    let dp = datapath(&pin);
    dp.load_image(&image(ALLOW_CLIENT, 1)).expect("image loads");
    drop(dp);

    // Other objects than the pinned build: opening tries to upgrade.
    let err = Datapath::open_or_create_with(&pin.0, &broken_set()).expect_err("rejected");
    assert!(
        matches!(err, LoaderError::Verifier { .. }),
        "unexpected error: {err}"
    );

    let reopened = Datapath::open_or_create(&pin.0).expect("builtin programs reopen");
    assert_first_image_enforces(&reopened, 44000);
}
