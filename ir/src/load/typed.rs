//! Typed deserialisation of a node into a k8s-openapi type, with the failing field located.

use serde::de::DeserializeOwned;

use super::node::{Node, NodeKind, PathStep};
use crate::diag::Diagnostic;

/// Deserialises `node` as `T`; on failure, points at the offending field.
#[expect(
    clippy::result_large_err,
    reason = "called once per object; the diagnostic is the useful result"
)]
pub fn from_node<T: DeserializeOwned>(node: &Node, kind: &str) -> Result<T, Diagnostic> {
    serde_path_to_error::deserialize::<_, T>(node).map_err(|e| {
        let path = steps(e.path());
        let at = node.at_path(&path);
        let field = e.path().to_string();
        let inner = user_words(&e.into_inner().to_string(), at);
        Diagnostic::error(
            "moat::wrong-type",
            format!("invalid {kind}: field `{field}`: {inner}"),
        )
        .at(Some(at.origin.clone()))
        .with_label(format!("found {}", at.type_name()))
        .with_help(format!(
            "check the type of `{field}` against the {kind} schema"
        ))
    })
}

fn steps(path: &serde_path_to_error::Path) -> Vec<PathStep> {
    path.iter()
        .filter_map(|segment| match segment {
            serde_path_to_error::Segment::Map { key } => Some(PathStep::Key(key.clone())),
            serde_path_to_error::Segment::Seq { index } => Some(PathStep::Index(*index)),
            _ => None,
        })
        .collect()
}

/// Rewrites a serde message such as `invalid type: string "x", expected i32`
/// in the words of the manifest: `expected an integer ..., found a string `x``.
/// Other messages (missing fields, unknown variants) pass unchanged.
fn user_words(message: &str, at: &Node) -> String {
    let is_type_error =
        message.starts_with("invalid type: ") || message.starts_with("invalid value: ");
    let Some((_, expected)) = message.split_once(", expected ").filter(|_| is_type_error) else {
        return message.to_string();
    };
    format!(
        "expected {}, found {}",
        expected_words(expected),
        found_words(at)
    )
}

/// Replaces the Rust or k8s-openapi type name in a serde expectation with
/// the YAML value that type reads.
fn expected_words(expected: &str) -> String {
    let words = match expected {
        "IntOrString" => "an integer or a string",
        "i32" => "an integer from -2147483648 to 2147483647",
        "i64" | "u64" | "u32" | "u16" | "u8" | "i16" | "i8" => "an integer",
        "f64" | "f32" => "a number",
        "a sequence" => "a list",
        "a map" => "a mapping",
        "Quantity" => "a quantity such as `500m` or `1Gi`",
        "Time" | "MicroTime" => "an RFC 3339 timestamp",
        other if is_type_name(other) => "a mapping",
        other => other,
    };
    words.to_string()
}

/// Whether `text` is a bare type name such as `LabelSelector` or `struct Foo`.
fn is_type_name(text: &str) -> bool {
    let name = text.strip_prefix("struct ").unwrap_or(text);
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// Describes the offending value: its type, and its source text when it is a scalar.
fn found_words(at: &Node) -> String {
    let scalar = !matches!(
        at.kind,
        NodeKind::Seq(_) | NodeKind::Map(_) | NodeKind::Null
    );
    let origin = &at.origin;
    let text = origin
        .file
        .text
        .get(origin.offset..origin.offset + origin.len)
        .filter(|t| scalar && !t.is_empty() && t.len() <= 40 && !t.contains('\n'));
    match text {
        Some(text) => format!("{} `{text}`", at.type_name()),
        None => at.type_name().to_string(),
    }
}
