//! Manifest loading: files, directories and stdin into a [`Cluster`], with diagnostics.
//!
//! Loading never stops at the first problem: every document is read, every
//! problem becomes a [`Diagnostic`], and whatever is valid still reaches the
//! cluster so that later stages can report on it.

mod addresses;
mod admin;
mod admin_peers;
mod admin_types;
mod cilium;
mod cilium_peers;
mod cilium_types;
mod collisions;
mod de;
mod depth;
mod files;
mod finish;
mod kinds;
mod names;
mod netpol;
pub mod node;
mod schema;
mod schema_objects;
mod schema_tiers;
mod selector;
mod target_ports;
mod typed;
mod walk;
mod workload;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use ipnet::IpNet;

use crate::diag::Diagnostic;
use crate::model::{Cluster, Settings};
use crate::source::{Origin, SourceFile};
use node::{Node, NodeKind};

pub use files::read_inputs;
pub use schema::closest;

/// Choices that shape the loaded cluster.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Addresses for pods that have no `status.podIP`.
    pub pod_cidr: IpNet,
    /// Addresses for services that have no `spec.clusterIP`.
    pub service_cidr: IpNet,
    pub settings: Settings,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            pod_cidr: IpNet::from(ipnet::Ipv4Net::new_assert([10, 244, 0, 0].into(), 16)),
            service_cidr: IpNet::from(ipnet::Ipv4Net::new_assert([10, 96, 0, 0].into(), 12)),
            settings: Settings::default(),
        }
    }
}

/// The result of a load: the cluster, every diagnostic, and counts for the summary.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub cluster: Cluster,
    pub diagnostics: Vec<Diagnostic>,
    /// Objects read, by kind.
    pub objects: BTreeMap<String, usize>,
    /// Objects of kinds moat does not use, by kind.
    pub skipped: BTreeMap<String, usize>,
    pub files: usize,
}

impl Loaded {
    pub fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics.len() - self.errors()
    }

    pub fn has_errors(&self) -> bool {
        self.errors() > 0
    }
}

/// Loads files, directories (recursively: `.yaml`, `.yml`, `.json`) and `-` for stdin.
pub fn load_paths(paths: &[PathBuf], options: &LoadOptions) -> Loaded {
    let mut diagnostics = Vec::new();
    let sources = read_inputs(paths, &mut diagnostics);
    let mut loaded = load_sources(sources, options);
    diagnostics.append(&mut loaded.diagnostics);
    loaded.diagnostics = diagnostics;
    loaded
}

/// Loads one in-memory text, as if read from a file called `name`.
pub fn load_str(name: &str, text: &str, options: &LoadOptions) -> Loaded {
    let file = Arc::new(SourceFile {
        name: name.to_string(),
        text: text.to_string(),
    });
    load_sources(vec![file], options)
}

/// Loads already-read sources in order.
pub fn load_sources(sources: Vec<Arc<SourceFile>>, options: &LoadOptions) -> Loaded {
    let mut builder = kinds::Builder::new(options.clone());
    let files = sources.len();
    for file in sources {
        load_file(&mut builder, &file);
    }
    let mut loaded = builder.finish();
    loaded.files = files;
    loaded
}

/// Loads every document of a file; its diagnostics come out in file order.
fn load_file(builder: &mut kinds::Builder, file: &Arc<SourceFile>) {
    let first_new = builder.loaded.diagnostics.len();
    let (docs, errors) = node::parse_documents(file);
    for error in errors {
        builder.diag(
            Diagnostic::error(
                "moat::invalid-yaml",
                format!("invalid YAML: {}", error.message),
            )
            .at(Some(error.origin))
            .with_label("parsing stopped here")
            .with_help("fix the syntax; moat skipped this document"),
        );
    }
    for doc in docs {
        load_document(builder, &doc);
    }
    if let Some(new) = builder.loaded.diagnostics.get_mut(first_new..) {
        new.sort_by_key(|d| d.origin.as_ref().map(|o| o.offset));
    }
}

/// Dispatches one document, unpacking `kind: List` and JSON arrays.
fn load_document(builder: &mut kinds::Builder, doc: &Node) {
    match &doc.kind {
        NodeKind::Null => {}
        NodeKind::Seq(items) => items.iter().for_each(|i| load_document(builder, i)),
        NodeKind::Map(_) => {
            let is_list = doc.get("kind").and_then(Node::as_str) == Some("List")
                || doc
                    .get("kind")
                    .and_then(Node::as_str)
                    .is_some_and(|k| k.ends_with("List"))
                    && doc.get("items").is_some();
            if is_list {
                load_list_items(builder, doc);
                return;
            }
            builder.object(doc);
        }
        _ => builder.diag(
            Diagnostic::error(
                "moat::invalid-document",
                format!("a manifest must be a mapping, found {}", doc.type_name()),
            )
            .at(Some(doc.origin.clone()))
            .with_help(
                "each YAML document holds one Kubernetes object with `apiVersion` and `kind`",
            ),
        ),
    }
}

/// Loads the `items` of a `kind: List` document; a missing or null `items` is an empty list.
fn load_list_items(builder: &mut kinds::Builder, doc: &Node) {
    let Some(items) = doc.get("items") else {
        return;
    };
    match &items.kind {
        NodeKind::Seq(list) => list.iter().for_each(|i| load_document(builder, i)),
        NodeKind::Null => {}
        _ => builder.diag(
            Diagnostic::error(
                "moat::wrong-type",
                format!("`items` must be a list, found {}", items.type_name()),
            )
            .at(Some(items.origin.clone()))
            .with_label("not a list")
            .with_help("write the objects of a List as a sequence under `items`"),
        ),
    }
}

/// The origin of the key if present, else of the node.
fn field_origin(node: &Node, key: &str) -> Origin {
    node.get(key)
        .map(|n| n.origin.clone())
        .unwrap_or_else(|| node.origin.clone())
}
