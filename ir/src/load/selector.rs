//! Label selectors from k8s-openapi types, validated.

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;

use super::node::Node;
use crate::diag::Diagnostic;
use crate::selector::{
    LabelSelector, Operator, Requirement, validate_label_key, validate_label_value,
};

/// Converts and validates a selector; `node` is the selector's own node, for locations.
pub fn convert(
    selector: &meta::LabelSelector,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> LabelSelector {
    let mut requirements = Vec::new();
    let labels_node = node.get("matchLabels").unwrap_or(node);
    for (key, value) in selector.match_labels.iter().flatten() {
        let at = labels_node.key_origin(key).unwrap_or(&labels_node.origin);
        check_key(key, at, out);
        if let Err(reason) = validate_label_value(value) {
            let at = labels_node.get(key).map_or(at, |n| &n.origin);
            out.push(invalid_label(
                format!("invalid label value `{value}`: {reason}"),
                at,
            ));
        }
        requirements.push(Requirement {
            key: key.clone(),
            operator: Operator::In,
            values: vec![value.clone()],
        });
    }
    let expressions = node.get("matchExpressions");
    for (i, expr) in selector.match_expressions.iter().flatten().enumerate() {
        let expr_node = expressions
            .map(|n| n.at_path(&[super::node::PathStep::Index(i)]))
            .unwrap_or(node);
        if let Some(requirement) = expression(expr, expr_node, out) {
            requirements.push(requirement);
        }
    }
    LabelSelector { requirements }
}

fn expression(
    expr: &meta::LabelSelectorRequirement,
    node: &Node,
    out: &mut Vec<Diagnostic>,
) -> Option<Requirement> {
    let key_at = node.get("key").map_or(&node.origin, |n| &n.origin);
    check_key(&expr.key, key_at, out);
    let op_at = node.get("operator").map_or(&node.origin, |n| &n.origin);
    let operator = match expr.operator.as_str() {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => {
            let names = ["In", "NotIn", "Exists", "DoesNotExist"];
            let help = match super::schema::closest(other, &names) {
                Some(n) => format!("did you mean `{n}`?"),
                None => "use one of In, NotIn, Exists, DoesNotExist".to_string(),
            };
            out.push(
                Diagnostic::error(
                    "moat::invalid-selector",
                    format!("unknown selector operator `{other}`"),
                )
                .at(Some(op_at.clone()))
                .with_label("unknown operator")
                .with_help(help),
            );
            return None;
        }
    };
    let values = expr.values.clone().unwrap_or_default();
    let values_at = node
        .get("values")
        .or_else(|| node.get("operator"))
        .map_or(&node.origin, |n| &n.origin);
    check_values(operator, &values, values_at, out)?;
    Some(Requirement {
        key: expr.key.clone(),
        operator,
        values,
    })
}

fn check_values(
    operator: Operator,
    values: &[String],
    at: &crate::source::Origin,
    out: &mut Vec<Diagnostic>,
) -> Option<()> {
    let needs_values = matches!(operator, Operator::In | Operator::NotIn);
    if needs_values && values.is_empty() {
        out.push(
            invalid_label(
                format!("operator `{operator:?}` needs at least one value"),
                at,
            )
            .with_help("add `values: [...]`, or use `Exists` / `DoesNotExist`"),
        );
        return None;
    }
    if !needs_values && !values.is_empty() {
        out.push(
            invalid_label(format!("operator `{operator:?}` takes no values"), at)
                .with_help("remove `values`, or use `In` / `NotIn`"),
        );
        return None;
    }
    for value in values {
        if let Err(reason) = validate_label_value(value) {
            out.push(invalid_label(
                format!("invalid label value `{value}`: {reason}"),
                at,
            ));
        }
    }
    Some(())
}

fn check_key(key: &str, at: &crate::source::Origin, out: &mut Vec<Diagnostic>) {
    if let Err(reason) = validate_label_key(key) {
        out.push(invalid_label(
            format!("invalid label key `{key}`: {reason}"),
            at,
        ));
    }
}

fn invalid_label(message: String, at: &crate::source::Origin) -> Diagnostic {
    Diagnostic::error("moat::invalid-selector", message)
        .at(Some(at.clone()))
        .with_label("invalid here")
        .with_help(
            "label keys are `[prefix/]name` and values at most 63 characters of [A-Za-z0-9-_.]",
        )
}
