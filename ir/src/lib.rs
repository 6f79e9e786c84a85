//! Typed model of a cluster and its policies, manifest loading with source
//! spans, and the reference evaluator that defines policy semantics.

pub mod cluster;
pub mod conformance;
pub mod diag;
pub mod eval;
#[cfg(feature = "generate")]
pub mod generate;
pub mod load;
pub mod model;
pub mod portset;
pub mod selector;
pub mod service;
pub mod source;

pub use diag::{Diagnostic, Severity};
pub use eval::{Decision, Flow, FlowEnd, Reason, RuleRef, Verdict, verdict};
pub use load::{LoadOptions, Loaded, load_paths, load_str};
pub use model::*;
pub use portset::PortSet;
