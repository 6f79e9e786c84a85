//! Small helpers to find the node of a field or list item, and to build common diagnostics.

use super::node::{Node, NodeKind, PathStep};
use crate::diag::Diagnostic;

/// Returns the node of `key`, or `node` itself when the key is missing.
pub fn child<'a>(node: &'a Node, key: &str) -> &'a Node {
    node.get(key).unwrap_or(node)
}

/// Returns item `index` of the list under `key`, or the deepest node of that path that exists.
pub fn item<'a>(node: &'a Node, key: &str, index: usize) -> &'a Node {
    node.get(key)
        .map_or(node, |list| list.at_path(&[PathStep::Index(index)]))
}

/// Returns the names of the fields that are set, in the order given.
pub fn set_fields<'a>(fields: &[(&'a str, bool)]) -> Vec<&'a str> {
    fields
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| *name)
        .collect()
}

/// Checks that exactly one of the fields is set; returns its name.
pub fn exactly_one<'a>(
    fields: &[(&'a str, bool)],
    what: &str,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<&'a str> {
    let set = set_fields(fields);
    let names: Vec<String> = fields.iter().map(|(n, _)| format!("`{n}`")).collect();
    let message = match set.as_slice() {
        [one] => return Some(one),
        // Only unknown keys: the schema check has reported each of them already.
        [] if only_unknown_keys(node, fields) => return None,
        [] => format!("{what} sets none of {}", names.join(", ")),
        many => {
            let listed: Vec<String> = many.iter().map(|n| format!("`{n}`")).collect();
            format!("{what} sets more than one of {}", listed.join(", "))
        }
    };
    out.push(
        Diagnostic::error("moat::invalid-field-set", message)
            .at(Some(node.origin.clone()))
            .with_label("exactly one field here")
            .with_help(format!(
                "{what} takes exactly one of {}; split it into separate entries",
                names.join(", ")
            )),
    );
    None
}

fn only_unknown_keys(node: &Node, fields: &[(&str, bool)]) -> bool {
    match &node.kind {
        NodeKind::Map(entries) => {
            !entries.is_empty()
                && entries
                    .iter()
                    .all(|(k, _, _)| fields.iter().all(|(n, _)| n != k))
        }
        _ => false,
    }
}

/// Builds the error for a required field that is missing.
pub fn missing(field: &str, what: &str, node: &Node, help: &str) -> Diagnostic {
    Diagnostic::error(
        "moat::missing-field",
        format!("{what} is missing `{field}`"),
    )
    .at(Some(node.origin.clone()))
    .with_label(format!("needs `{field}`"))
    .with_help(help.to_string())
}

/// Builds the warning for a field moat reads but does not enforce, or a peer it cannot model.
pub fn not_enforced(field: &str, node: &Node, effect: &str) -> Diagnostic {
    Diagnostic::warning(
        "moat::not-enforced",
        format!("`{field}` is not enforced by moat"),
    )
    .at(Some(node.origin.clone()))
    .with_label("not enforced")
    .with_help(effect.to_string())
}

/// Warns when a known kind comes in a version whose fields moat may not know.
pub fn check_version(api_version: &str, known: &[&str], doc: &Node, out: &mut Vec<Diagnostic>) {
    let version = api_version.rsplit_once('/').map_or(api_version, |(_, v)| v);
    if known.contains(&version) {
        return;
    }
    let at = doc.get("apiVersion").unwrap_or(doc);
    out.push(
        Diagnostic::warning(
            "moat::unknown-api-version",
            format!("API version `{api_version}` is not one moat knows"),
        )
        .at(Some(at.origin.clone()))
        .with_label("unknown version")
        .with_help(format!(
            "moat reads this object with the fields of version {}",
            known.join(", ")
        )),
    );
}

/// Builds the warning for a policy kind from an API group other than the one moat reads it from.
pub fn foreign_group(kind: &str, api_version: &str, group: &str, doc: &Node) -> Diagnostic {
    let at = doc.get("apiVersion").unwrap_or(doc);
    Diagnostic::warning(
        "moat::foreign-policy-kind",
        format!("{kind} of `{api_version}` was skipped"),
    )
    .at(Some(at.origin.clone()))
    .with_label("another API group")
    .with_help(format!("moat reads {kind} only from `{group}`; this object has the same name but a different schema and owner"))
}

/// Builds [`not_enforced`] at the key `field` of `parent`, so that the
/// warning sits on the line that names the field.
pub fn not_enforced_field(parent: &Node, field: &str, effect: &str) -> Diagnostic {
    let origin = parent.key_origin(field).unwrap_or(&parent.origin);
    not_enforced(field, parent, effect).at(Some(origin.clone()))
}
