//! The decoder reports every kind of damage as a clear error and never panics.

// Helpers outside #[test] functions index and unwrap freely: a panic is a test failure.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::PathBuf;

use moat_compiler::image::format::{HASH_RANGE, HEADER_LEN};
use moat_compiler::{CompileOptions, DecodeError, Image, compile, decode, encode};
use moat_ir::{LoadOptions, load_paths};
use proptest::prelude::*;

fn demo() -> Image {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/demo");
    let loaded = load_paths(&[path], &LoadOptions::default());
    compile(&loaded.cluster, &CompileOptions::default()).expect("demo compiles")
}

/// Re-hashes bytes after an edit, so that checks behind the hash are reached.
fn rehash(bytes: &mut [u8]) {
    let hash = moat_compiler::image::encode::content_hash(bytes);
    bytes[HASH_RANGE].copy_from_slice(&hash);
}

#[test]
fn roundtrip_keeps_every_record() {
    let image = demo();
    let decoded = decode(&encode(&image)).expect("decodes");
    assert_eq!(decoded.endpoints, image.endpoints);
    assert_eq!(decoded.ipcache, image.ipcache);
    assert_eq!(decoded.policy, image.policy);
    assert_eq!(decoded.services, image.services);
    assert_eq!(decoded.backends, image.backends);
    assert_eq!(decoded.maglev, image.maglev);
    assert_eq!(decoded.revnat, image.revnat);
    assert_eq!(decoded.provenance, image.provenance);
}

#[test]
fn bad_magic_is_reported() {
    let mut bytes = encode(&demo());
    bytes[0] = b'X';
    let error = decode(&bytes).unwrap_err();
    assert!(matches!(error, DecodeError::BadMagic { .. }), "{error}");
    assert!(error.to_string().contains("not a moat image"), "{error}");
}

#[test]
fn truncated_image_is_reported() {
    let bytes = encode(&demo());
    for len in [0, 4, 100, HEADER_LEN + 10, bytes.len() - 1] {
        let error = decode(&bytes[..len]).unwrap_err();
        assert!(
            matches!(error, DecodeError::Truncated { .. }),
            "length {len}: {error}"
        );
        assert!(error.to_string().starts_with("image truncated"), "{error}");
    }
}

#[test]
fn unknown_version_is_reported() {
    let mut bytes = encode(&demo());
    bytes[8..12].copy_from_slice(&99u32.to_le_bytes());
    let error = decode(&bytes).unwrap_err();
    assert_eq!(
        error,
        DecodeError::UnsupportedVersion {
            found: 99,
            supported: 1
        }
    );
    assert!(error.to_string().contains("format version 99"), "{error}");
}

#[test]
fn unknown_layout_is_reported() {
    let mut bytes = encode(&demo());
    bytes[12..16].copy_from_slice(&7u32.to_le_bytes());
    let error = decode(&bytes).unwrap_err();
    assert!(
        matches!(error, DecodeError::UnsupportedLayout { found: 7, .. }),
        "{error}"
    );
}

#[test]
fn flipped_byte_fails_hash() {
    let mut bytes = encode(&demo());
    let last = bytes.len() - 3;
    bytes[last] ^= 0x40;
    let error = decode(&bytes).unwrap_err();
    assert!(matches!(error, DecodeError::HashMismatch { .. }), "{error}");
    assert!(error.to_string().contains("corrupted"), "{error}");
}

#[test]
fn section_length_mismatch_is_reported() {
    let mut bytes = encode(&demo());
    // The first section entry's record count, at offset 8 within the entry.
    let at = HEADER_LEN + 8;
    bytes[at..at + 8].copy_from_slice(&1000u64.to_le_bytes());
    rehash(&mut bytes);
    let error = decode(&bytes).unwrap_err();
    assert!(matches!(error, DecodeError::Section(_)), "{error}");
}

#[test]
fn out_of_range_table_is_reported() {
    let mut image = demo();
    image.endpoints[0].1.ingress_table = 999;
    let error = decode(&encode(&image)).unwrap_err();
    assert!(
        matches!(
            error,
            DecodeError::Entry {
                map: "endpoints",
                index: 0,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("policy table 999"), "{error}");
}

#[test]
fn out_of_range_backend_is_reported() {
    let mut image = demo();
    image.services[0].1.backend_count = 5;
    let error = decode(&encode(&image)).unwrap_err();
    assert!(
        matches!(
            error,
            DecodeError::Entry {
                map: "services",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("out of range"), "{error}");
}

#[test]
fn out_of_range_maglev_slot_is_reported() {
    let mut image = demo();
    image.maglev[3].backend = 42;
    let error = decode(&encode(&image)).unwrap_err();
    assert!(
        matches!(
            error,
            DecodeError::Entry {
                map: "maglev",
                index: 3,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn out_of_range_rule_is_reported() {
    let mut image = demo();
    image.policy[0].1.rule_id = 77;
    let error = decode(&encode(&image)).unwrap_err();
    assert!(
        error.to_string().contains("rule id 77 out of range"),
        "{error}"
    );
}

#[test]
fn duplicate_key_is_reported() {
    let mut image = demo();
    let first = image.ipcache[0];
    image.ipcache.push(first);
    let error = decode(&encode(&image)).unwrap_err();
    assert!(
        matches!(error, DecodeError::Entry { map: "ipcache", .. }),
        "{error}"
    );
    assert!(error.to_string().contains("duplicate key"), "{error}");
}

#[test]
fn broken_provenance_is_reported() {
    let mut image = demo();
    image.provenance.endpoints.clear();
    let error = decode(&encode(&image)).unwrap_err();
    assert!(error.to_string().contains("endpoint id"), "{error}");
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn random_bytes_after_magic_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let mut data = b"MOATIMG\0".to_vec();
        data.extend(bytes);
        let _ = decode(&data);
    }

    #[test]
    fn mutated_images_never_panic(edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8), fix_hash in any::<bool>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = encode(&demo());
        for (index, value) in edits {
            let at = index.index(bytes.len());
            bytes[at] = value;
        }
        if fix_hash {
            rehash(&mut bytes);
        }
        let _ = decode(&bytes);
        let len = cut.index(bytes.len());
        let _ = decode(&bytes[..len]);
    }
}
