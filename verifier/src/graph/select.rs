//! Endpoint selectors for reachability questions: `[namespace/]labels`, or `outside`.
//!
//! `labels` is `*` or a comma list of `key=value`, `key!=value`, `key` and
//! `!key`; the namespace may be `*`. `prod/app=web` selects the pods of
//! namespace prod labelled app=web; `app=web` selects them in every namespace.

use moat_ir::selector::{LabelSelector, Operator, Requirement};
use moat_ir::{Cluster, FlowEnd};
use petgraph::graph::NodeIndex;

use super::Graph;

/// A parsed endpoint selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndSelector {
    Pods {
        namespace: Option<String>,
        labels: LabelSelector,
    },
    /// Every address outside the cluster.
    Outside,
}

impl EndSelector {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(
                "empty selector: give `[namespace/]labels`, `*` for every pod, or `outside`"
                    .to_string(),
            );
        }
        if text == "outside" || text == "world" {
            return Ok(EndSelector::Outside);
        }
        let (namespace, labels) = match text.split_once('/') {
            Some((ns, rest)) => (Some(ns), rest),
            None => (None, text),
        };
        let namespace = namespace.filter(|ns| *ns != "*").map(str::to_string);
        if namespace.as_deref() == Some("") {
            return Err(format!("empty namespace in selector `{text}`"));
        }
        let mut selector = LabelSelector::everything();
        if labels != "*" && !labels.is_empty() {
            for part in labels.split(',') {
                selector.requirements.push(requirement(part.trim(), text)?);
            }
        }
        Ok(EndSelector::Pods {
            namespace,
            labels: selector,
        })
    }

    /// Checks that the namespace the selector names exists in the cluster,
    /// so that a typo is an error instead of an empty selection.
    pub fn check_namespace(&self, cluster: &Cluster) -> Result<(), String> {
        let EndSelector::Pods {
            namespace: Some(namespace),
            ..
        } = self
        else {
            return Ok(());
        };
        let mut names: Vec<&str> = cluster.namespaces.keys().map(String::as_str).collect();
        names.extend(cluster.pods.iter().map(|p| p.namespace.as_str()));
        if names.contains(&namespace.as_str()) {
            return Ok(());
        }
        let hint = match crate::describe::closest(namespace, &names) {
            Some(close) => format!(": did you mean `{close}`?"),
            None => String::new(),
        };
        Err(format!(
            "namespace `{namespace}` not found in the input{hint}"
        ))
    }

    /// Graph nodes of the pods (or outside atoms) the selector matches.
    pub fn nodes(&self, cluster: &Cluster, graph: &Graph) -> Vec<NodeIndex> {
        let mut out: Vec<NodeIndex> = match self {
            EndSelector::Outside => (0..graph.externals.len())
                .map(|x| graph.external_node(x))
                .collect(),
            EndSelector::Pods { namespace, labels } => cluster
                .pods
                .iter()
                .enumerate()
                .filter(|(_, p)| namespace.as_ref().is_none_or(|ns| *ns == p.namespace))
                .filter(|(_, p)| labels.matches(&p.labels))
                .filter_map(|(i, _)| graph.node_of(FlowEnd::Pod(i)))
                .collect(),
        };
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn requirement(part: &str, whole: &str) -> Result<Requirement, String> {
    let make = |key: &str, operator, values: Vec<String>| {
        if key.is_empty() {
            return Err(format!("empty label key in selector `{whole}`"));
        }
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    };
    if let Some((key, value)) = part.split_once("!=") {
        return make(key, Operator::NotIn, vec![value.to_string()]);
    }
    if let Some((key, value)) = part.split_once('=') {
        return make(key, Operator::In, vec![value.to_string()]);
    }
    if let Some(key) = part.strip_prefix('!') {
        return make(key, Operator::DoesNotExist, Vec::new());
    }
    make(part, Operator::Exists, Vec::new())
}
