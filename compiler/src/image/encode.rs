//! Encodes an [`Image`] into the bytes of an image file.

use sha2::{Digest, Sha256};
use zerocopy::IntoBytes;

use super::format::{
    FLAG_LITTLE_ENDIAN, HASH_RANGE, HEADER_LEN, Image, MAGIC, SECTION_ENTRY_LEN, SectionKind,
};

/// Encodes an image; the content hash in the result covers every byte.
pub fn encode(image: &Image) -> Vec<u8> {
    let sections = payloads(image);
    let table_len = sections.len() * SECTION_ENTRY_LEN;
    let mut out = Vec::with_capacity(HEADER_LEN + table_len);

    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&image.header.format_version.to_le_bytes());
    out.extend_from_slice(&image.header.layout_version.to_le_bytes());
    out.extend_from_slice(&image.header.generation.to_le_bytes());
    out.extend_from_slice(&[0u8; 32]);
    out.extend_from_slice(&image.header.input_digest);
    out.extend_from_slice(&version_field(&image.header.compiler_version));
    out.extend_from_slice(&(sections.len() as u32).to_le_bytes());
    let flags = if cfg!(target_endian = "little") {
        FLAG_LITTLE_ENDIAN
    } else {
        0
    };
    out.extend_from_slice(&flags.to_le_bytes());

    let mut offset = (HEADER_LEN + table_len) as u64;
    for (kind, count, bytes) in &sections {
        out.extend_from_slice(&(*kind as u32).to_le_bytes());
        out.extend_from_slice(&(kind.record_size() as u32).to_le_bytes());
        out.extend_from_slice(&(*count as u64).to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        offset += bytes.len() as u64;
    }
    for (_, _, bytes) in &sections {
        out.extend_from_slice(bytes);
    }

    let hash: [u8; 32] = Sha256::digest(&out).into();
    if let Some(field) = out.get_mut(HASH_RANGE) {
        field.copy_from_slice(&hash);
    }
    out
}

/// The content hash of an encoded image: SHA-256 with the hash field zeroed.
pub fn content_hash(bytes: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(bytes.get(..HASH_RANGE.start).unwrap_or_default());
    hasher.update([0u8; 32]);
    hasher.update(bytes.get(HASH_RANGE.end..).unwrap_or_default());
    hasher.finalize().into()
}

fn version_field(version: &str) -> [u8; 32] {
    let mut field = [0u8; 32];
    for (slot, byte) in field.iter_mut().zip(version.bytes()) {
        *slot = byte;
    }
    field
}

fn payloads(image: &Image) -> Vec<(SectionKind, usize, Vec<u8>)> {
    let json = serde_json::to_vec(&image.provenance).unwrap_or_default();
    vec![
        pairs(SectionKind::Endpoints, &image.endpoints),
        pairs(SectionKind::Ipcache, &image.ipcache),
        pairs(SectionKind::Policy, &image.policy),
        pairs(SectionKind::Services, &image.services),
        values(SectionKind::Backends, &image.backends),
        values(SectionKind::Maglev, &image.maglev),
        pairs(SectionKind::Revnat, &image.revnat),
        (SectionKind::Provenance, json.len(), json),
    ]
}

fn pairs<K, V>(kind: SectionKind, records: &[(K, V)]) -> (SectionKind, usize, Vec<u8>)
where
    K: IntoBytes + zerocopy::Immutable,
    V: IntoBytes + zerocopy::Immutable,
{
    let mut bytes = Vec::with_capacity(records.len() * kind.record_size());
    for (key, value) in records {
        bytes.extend_from_slice(key.as_bytes());
        bytes.extend_from_slice(value.as_bytes());
    }
    (kind, records.len(), bytes)
}

fn values<V>(kind: SectionKind, records: &[V]) -> (SectionKind, usize, Vec<u8>)
where
    V: IntoBytes + zerocopy::Immutable,
{
    let bytes = records.as_bytes().to_vec();
    (kind, records.len(), bytes)
}
