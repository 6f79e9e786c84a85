//! Decodes and validates an image file.
//!
//! Every problem is a [`DecodeError`]: the decoder never panics and never
//! trusts a count, offset or index it has not checked against the bytes.

use std::collections::{BTreeMap, HashSet};

use zerocopy::FromBytes;

use super::encode::content_hash;
use super::format::{
    FLAG_LITTLE_ENDIAN, FORMAT_VERSION, HASH_RANGE, HEADER_LEN, Header, Image, MAGIC, Provenance,
    SECTION_ENTRY_LEN, SectionKind, to_hex,
};
use crate::layout::{
    BackendValue, EndpointKey, EndpointValue, IpcacheKey, IpcacheValue, LAYOUT_VERSION,
    MaglevValue, PolicyKey, PolicyValue, RevnatValue, ServiceKey, ServiceValue,
};
use crate::validate;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("image truncated: {what} needs {needed} bytes but the file has {available}")]
    Truncated {
        what: String,
        needed: u64,
        available: u64,
    },
    #[error("not a moat image: bad magic `{found}` (expected `MOATIMG`)")]
    BadMagic { found: String },
    #[error("unsupported image format version {found}: this moat reads version {supported}")]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("unsupported map layout version {found}: this moat uses layout version {supported}")]
    UnsupportedLayout { found: u32, supported: u32 },
    #[error("image records are not little-endian: this moat reads little-endian images only")]
    ByteOrder,
    #[error(
        "content hash mismatch: the header records {recorded} but the bytes hash to {actual}; \
         the image is corrupted"
    )]
    HashMismatch { recorded: String, actual: String },
    #[error("invalid section table: {0}")]
    Section(String),
    #[error("invalid provenance section: {0}")]
    Provenance(String),
    #[error("invalid `{map}` entry {index}: {message}")]
    Entry {
        map: &'static str,
        index: usize,
        message: String,
    },
}

/// One row of the section table.
#[derive(Debug, Clone, Copy)]
struct Section {
    kind: SectionKind,
    count: u64,
    offset: u64,
    length: u64,
}

/// Decodes an image and validates every record and cross reference.
pub fn decode(bytes: &[u8]) -> Result<Image, DecodeError> {
    let header = read_header(bytes)?;
    let sections = read_sections(bytes)?;
    check_hash(bytes)?;
    let image = read_payloads(bytes, header, &sections)?;
    validate::references(&image)?;
    Ok(image)
}

fn read_header(bytes: &[u8]) -> Result<Header, DecodeError> {
    let magic = bytes.get(..MAGIC.len()).unwrap_or(bytes);
    if magic != MAGIC.get(..magic.len()).unwrap_or_default() {
        return Err(DecodeError::BadMagic {
            found: String::from_utf8_lossy(magic).escape_default().to_string(),
        });
    }
    need(bytes, HEADER_LEN as u64, "the header")?;
    let format_version = le_u32(bytes, 8);
    if format_version != FORMAT_VERSION {
        return Err(DecodeError::UnsupportedVersion {
            found: format_version,
            supported: FORMAT_VERSION,
        });
    }
    let layout_version = le_u32(bytes, 12);
    if layout_version != LAYOUT_VERSION {
        return Err(DecodeError::UnsupportedLayout {
            found: layout_version,
            supported: LAYOUT_VERSION,
        });
    }
    if le_u32(bytes, 124) & FLAG_LITTLE_ENDIAN == 0 || cfg!(target_endian = "big") {
        return Err(DecodeError::ByteOrder);
    }
    let version = bytes.get(88..120).unwrap_or_default();
    let version = version.split(|b| *b == 0).next().unwrap_or_default();
    Ok(Header {
        format_version,
        layout_version,
        generation: le_u64(bytes, 16),
        content_hash: array32(bytes, HASH_RANGE.start),
        input_digest: array32(bytes, 56),
        compiler_version: String::from_utf8_lossy(version).into_owned(),
    })
}

fn read_sections(bytes: &[u8]) -> Result<BTreeMap<SectionKind, Section>, DecodeError> {
    let count = u64::from(le_u32(bytes, 120));
    if count > 64 {
        return Err(DecodeError::Section(format!(
            "{count} sections (expected 8)"
        )));
    }
    let table_end = HEADER_LEN as u64 + count * SECTION_ENTRY_LEN as u64;
    need(bytes, table_end, "the section table")?;

    let mut sections = BTreeMap::new();
    for i in 0..count as usize {
        let at = HEADER_LEN + i * SECTION_ENTRY_LEN;
        let raw_kind = le_u32(bytes, at);
        let kind = SectionKind::from_u32(raw_kind)
            .ok_or_else(|| DecodeError::Section(format!("unknown section kind {raw_kind}")))?;
        let section = Section {
            kind,
            count: le_u64(bytes, at + 8),
            offset: le_u64(bytes, at + 16),
            length: le_u64(bytes, at + 24),
        };
        check_section(bytes, &section, le_u32(bytes, at + 4), table_end)?;
        if sections.insert(kind, section).is_some() {
            return Err(DecodeError::Section(format!(
                "section `{}` appears twice",
                kind.name()
            )));
        }
    }
    if let Some(missing) = SectionKind::ALL.iter().find(|k| !sections.contains_key(k)) {
        return Err(DecodeError::Section(format!(
            "section `{}` is missing",
            missing.name()
        )));
    }
    Ok(sections)
}

fn check_section(
    bytes: &[u8],
    s: &Section,
    record_size: u32,
    table_end: u64,
) -> Result<(), DecodeError> {
    let name = s.kind.name();
    if record_size as usize != s.kind.record_size() {
        return Err(DecodeError::Section(format!(
            "section `{name}` has records of {record_size} bytes (expected {})",
            s.kind.record_size()
        )));
    }
    let expected = s.count.checked_mul(u64::from(record_size));
    if expected != Some(s.length) {
        return Err(DecodeError::Section(format!(
            "section `{name}` is {} bytes long, but {} records of {record_size} bytes need {}",
            s.length,
            s.count,
            expected.map_or("more than 2^64".to_string(), |e| e.to_string())
        )));
    }
    if s.offset < table_end {
        return Err(DecodeError::Section(format!(
            "section `{name}` starts at {} inside the header or section table",
            s.offset
        )));
    }
    let end = s.offset.saturating_add(s.length);
    need(bytes, end, &format!("section `{name}`"))
}

fn check_hash(bytes: &[u8]) -> Result<(), DecodeError> {
    let recorded = array32(bytes, HASH_RANGE.start);
    let actual = content_hash(bytes);
    if recorded != actual {
        return Err(DecodeError::HashMismatch {
            recorded: to_hex(&recorded),
            actual: to_hex(&actual),
        });
    }
    Ok(())
}

fn read_payloads(
    bytes: &[u8],
    header: Header,
    sections: &BTreeMap<SectionKind, Section>,
) -> Result<Image, DecodeError> {
    let body = |kind: SectionKind| -> &[u8] {
        let Some(s) = sections.get(&kind) else {
            return &[];
        };
        let (Ok(start), Ok(len)) = (usize::try_from(s.offset), usize::try_from(s.length)) else {
            return &[];
        };
        bytes
            .get(start..start.saturating_add(len))
            .unwrap_or_default()
    };
    let provenance: Provenance = serde_json::from_slice(body(SectionKind::Provenance))
        .map_err(|e| DecodeError::Provenance(e.to_string()))?;
    Ok(Image {
        header,
        endpoints: pairs::<EndpointKey, EndpointValue>(body(SectionKind::Endpoints)),
        ipcache: pairs::<IpcacheKey, IpcacheValue>(body(SectionKind::Ipcache)),
        policy: pairs::<PolicyKey, PolicyValue>(body(SectionKind::Policy)),
        services: pairs::<ServiceKey, ServiceValue>(body(SectionKind::Services)),
        backends: values::<BackendValue>(body(SectionKind::Backends)),
        maglev: values::<MaglevValue>(body(SectionKind::Maglev)),
        revnat: pairs::<u32, RevnatValue>(body(SectionKind::Revnat)),
        provenance,
    })
}

/// Reads `(key, value)` records; the section check already fixed the length.
fn pairs<K: FromBytes, V: FromBytes>(body: &[u8]) -> Vec<(K, V)> {
    let size = size_of::<K>() + size_of::<V>();
    body.chunks_exact(size)
        .filter_map(|chunk| {
            let (key, value) = chunk.split_at(size_of::<K>());
            Some((
                K::read_from_bytes(key).ok()?,
                V::read_from_bytes(value).ok()?,
            ))
        })
        .collect()
}

fn values<V: FromBytes>(body: &[u8]) -> Vec<V> {
    body.chunks_exact(size_of::<V>())
        .filter_map(|chunk| V::read_from_bytes(chunk).ok())
        .collect()
}

fn need(bytes: &[u8], needed: u64, what: &str) -> Result<(), DecodeError> {
    if (bytes.len() as u64) < needed {
        return Err(DecodeError::Truncated {
            what: what.to_string(),
            needed,
            available: bytes.len() as u64,
        });
    }
    Ok(())
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    let mut field = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        field.copy_from_slice(src);
    }
    u32::from_le_bytes(field)
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut field = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        field.copy_from_slice(src);
    }
    u64::from_le_bytes(field)
}

fn array32(bytes: &[u8], at: usize) -> [u8; 32] {
    let mut field = [0u8; 32];
    if let Some(src) = bytes.get(at..at + 32) {
        field.copy_from_slice(src);
    }
    field
}

/// Identity ids the provenance names, for reference checks.
pub(crate) fn identity_ids(image: &Image) -> HashSet<u32> {
    image.provenance.identities.iter().map(|i| i.id).collect()
}
