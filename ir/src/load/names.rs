//! Validation of object and namespace names against the Kubernetes name rules.

use super::node::Node;
use crate::diag::Diagnostic;

/// A Kubernetes name format.
#[derive(Clone, Copy)]
enum Format {
    /// DNS-1123 subdomain: most object names.
    Subdomain,
    /// DNS-1123 label: namespace names.
    Label,
    /// DNS-1035 label: Service names, which must start with a letter.
    Label1035,
}

/// Checks `metadata.name` and `metadata.namespace` of an object of `kind`.
pub fn check(kind: &str, doc: &Node, out: &mut Vec<Diagnostic>) {
    let Some(metadata) = doc.get("metadata") else {
        return;
    };
    let name_format = match kind {
        "Namespace" => Format::Label,
        "Service" => Format::Label1035,
        _ => Format::Subdomain,
    };
    if let Some(name) = metadata.get("name") {
        check_one(name, "metadata.name", name_format, out);
    }
    if let Some(namespace) = metadata.get("namespace") {
        check_one(namespace, "metadata.namespace", Format::Label, out);
    }
}

fn check_one(node: &Node, field: &str, format: Format, out: &mut Vec<Diagnostic>) {
    let Some(value) = node.as_str() else {
        return;
    };
    let Some(problem) = problem(value, format) else {
        return;
    };
    let (rule, max) = match format {
        Format::Subdomain => ("a DNS-1123 subdomain", 253),
        Format::Label => ("a DNS-1123 label", 63),
        Format::Label1035 => ("a DNS-1035 label", 63),
    };
    let starts = match format {
        Format::Label1035 => "start with a letter",
        _ => "start with a letter or digit",
    };
    let dots = match format {
        Format::Subdomain => ", `-` and `.`",
        _ => " and `-`",
    };
    out.push(
        Diagnostic::error(
            "moat::invalid-name",
            format!("invalid `{field}` `{value}`: {problem}"),
        )
        .at(Some(node.origin.clone()))
        .with_label(format!("not {rule}"))
        .with_help(format!(
            "use at most {max} lowercase letters, digits{dots}; {starts} and end with a letter or digit"
        )),
    );
}

/// Returns the first rule that `value` breaks, if any.
fn problem(value: &str, format: Format) -> Option<String> {
    let max = match format {
        Format::Subdomain => 253,
        Format::Label | Format::Label1035 => 63,
    };
    if value.is_empty() {
        return Some("the name is empty".to_string());
    }
    if value.len() > max {
        return Some(format!("the name is longer than {max} characters"));
    }
    match format {
        Format::Subdomain => value
            .split('.')
            .find_map(|label| label_problem(label, false)),
        Format::Label => label_problem(value, false),
        Format::Label1035 => label_problem(value, true),
    }
}

fn label_problem(label: &str, letter_first: bool) -> Option<String> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
    if label.chars().any(|c| c.is_ascii_uppercase()) {
        return Some("the name contains uppercase letters".to_string());
    }
    if let Some(c) = label.chars().find(|&c| !allowed(c)) {
        return Some(format!("the name contains `{c}`, which is not allowed"));
    }
    let first = label.chars().next();
    let last = label.chars().last();
    let alphanumeric = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if letter_first && !first.is_some_and(|c| c.is_ascii_lowercase()) {
        return Some("the name does not start with a letter".to_string());
    }
    if !alphanumeric(first) || !alphanumeric(last) {
        return Some("the name does not start and end with a letter or digit".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomain_rules() {
        assert_eq!(problem("web-1.shop", Format::Subdomain), None);
        assert!(problem("", Format::Subdomain).is_some());
        assert!(problem("Bad_Name", Format::Subdomain).is_some());
        assert!(problem("café", Format::Subdomain).is_some());
        assert!(problem("a..b", Format::Subdomain).is_some());
        assert!(problem("-a", Format::Subdomain).is_some());
        assert!(problem(&"a".repeat(254), Format::Subdomain).is_some());
    }

    #[test]
    fn label_rules() {
        assert_eq!(problem("shop", Format::Label), None);
        assert_eq!(problem("1shop", Format::Label), None);
        assert!(problem("Bad NS", Format::Label).is_some());
        assert!(problem("a.b", Format::Label).is_some());
        assert!(problem(&"a".repeat(64), Format::Label).is_some());
        assert!(problem("1web", Format::Label1035).is_some());
        assert_eq!(problem("web", Format::Label1035), None);
    }
}
