//! Verification of a loaded cluster: graph and SMT engines, lint checks,
//! assertions, explanations, policy diffs and CI output formats.

pub mod graph;
pub mod smt;
