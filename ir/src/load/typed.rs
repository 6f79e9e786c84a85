//! Typed deserialisation of a node into a k8s-openapi type, with the failing field located.

use serde::de::DeserializeOwned;

use super::node::{Node, PathStep};
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
        let inner = e.into_inner().to_string();
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
