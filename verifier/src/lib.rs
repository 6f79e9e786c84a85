//! Verification of a loaded cluster: graph and SMT engines, lint checks,
//! assertions, explanations, policy diffs and CI output formats.

pub mod assert;
pub mod describe;
pub mod diff;
pub mod explain;
pub mod finding;
pub mod graph;
pub mod lint;
pub mod output;
pub mod smt;
pub mod synth;
pub mod vacuity;
