//! Field names that policy kinds accept, to catch typos such as `podSelecter`.
//!
//! k8s-openapi ignores unknown fields, and so does the API server without
//! strict validation, so a misspelt field silently widens a policy. moat
//! reports every field it does not know, with the closest known name.

use super::node::{Node, NodeKind};
use crate::diag::Diagnostic;

/// The accepted shape of a value.
pub enum Shape {
    /// A mapping with exactly these fields.
    Fields(&'static [(&'static str, &'static Shape)]),
    /// A list of values of one shape.
    List(&'static Shape),
    /// Anything: scalars, or mappings whose keys are data (labels).
    Free,
}

pub(super) const SELECTOR: Shape = Shape::Fields(&[
    ("matchLabels", &Shape::Free),
    ("matchExpressions", &Shape::List(&EXPRESSION)),
]);
const EXPRESSION: Shape = Shape::Fields(&[
    ("key", &Shape::Free),
    ("operator", &Shape::Free),
    ("values", &Shape::Free),
]);
const IP_BLOCK: Shape = Shape::Fields(&[("cidr", &Shape::Free), ("except", &Shape::Free)]);
const PEER: Shape = Shape::Fields(&[
    ("podSelector", &SELECTOR),
    ("namespaceSelector", &SELECTOR),
    ("ipBlock", &IP_BLOCK),
]);
const PORT: Shape = Shape::Fields(&[
    ("protocol", &Shape::Free),
    ("port", &Shape::Free),
    ("endPort", &Shape::Free),
]);
const INGRESS_RULE: Shape = Shape::Fields(&[
    ("from", &Shape::List(&PEER)),
    ("ports", &Shape::List(&PORT)),
]);
const EGRESS_RULE: Shape =
    Shape::Fields(&[("to", &Shape::List(&PEER)), ("ports", &Shape::List(&PORT))]);
const NETPOL_SPEC: Shape = Shape::Fields(&[
    ("podSelector", &SELECTOR),
    ("policyTypes", &Shape::Free),
    ("ingress", &Shape::List(&INGRESS_RULE)),
    ("egress", &Shape::List(&EGRESS_RULE)),
]);

/// The whole NetworkPolicy object.
pub const NETWORK_POLICY: Shape = Shape::Fields(&[
    ("apiVersion", &Shape::Free),
    ("kind", &Shape::Free),
    ("metadata", &super::schema_objects::OBJECT_META),
    ("spec", &NETPOL_SPEC),
    ("status", &Shape::Free),
]);

/// Reports every field of `node` that `shape` does not know.
pub fn check_fields(node: &Node, shape: &Shape, path: &str, out: &mut Vec<Diagnostic>) {
    match (shape, &node.kind) {
        (Shape::Fields(fields), NodeKind::Map(entries)) => {
            for (key, key_origin, value) in entries {
                let field_path = join(path, key);
                match fields.iter().find(|(name, _)| name == key) {
                    Some((_, inner)) => check_fields(value, inner, &field_path, out),
                    None => out.push(unknown_field(key, &field_path, fields, key_origin)),
                }
            }
        }
        (Shape::List(inner), NodeKind::Seq(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_fields(item, inner, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn unknown_field(
    key: &str,
    path: &str,
    fields: &[(&str, &Shape)],
    origin: &crate::source::Origin,
) -> Diagnostic {
    let names: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
    let help = match closest(key, &names) {
        Some(name) => format!("did you mean `{name}`?"),
        None => format!("known fields here: {}", names.join(", ")),
    };
    Diagnostic::error("moat::unknown-field", format!("unknown field `{path}`"))
        .at(Some(origin.clone()))
        .with_label("not a field of this object")
        .with_help(help)
}

/// The known name closest to `key`, if it is close enough to be a typo.
pub fn closest<'a>(key: &str, names: &[&'a str]) -> Option<&'a str> {
    let lower = key.to_ascii_lowercase();
    names
        .iter()
        .map(|n| (strsim::jaro_winkler(&lower, &n.to_ascii_lowercase()), *n))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n)
}
