//! The SMT engine: policy semantics as z3 formulas over symbolic flows.
//!
//! A query states the violation of a property as a formula. Unsatisfiable
//! means the property holds for every flow in the [`Scope`]: every existing
//! pod, or every pod that could exist with any labels in any namespace.
//! Satisfiable yields a [`Witness`]: the labels of the pods involved and the
//! flow that breaks the property.

pub mod encode;
pub mod flow;
pub mod query;
pub mod universe;
pub mod witness;

use moat_ir::Cluster;
use serde::Serialize;
use z3::ast::Bool;
use z3::{Params, SatResult, Solver};

pub use encode::{Encoding, Guards};
pub use flow::{Scope, SymFlow};
pub use universe::Universe;
pub use witness::{EndWitness, Witness};

/// Time limit of one solver check, in milliseconds.
pub const CHECK_TIMEOUT_MS: u32 = 60_000;

/// The outcome of one query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
#[allow(clippy::large_enum_variant, reason = "answers are few and short-lived")]
pub enum Answer {
    /// No flow in scope violates the property.
    Holds,
    /// A flow that violates it.
    Counterexample(Witness),
    /// The solver gave up (time limit); the reason it gave.
    Unknown { reason: String },
}

impl Answer {
    pub fn holds(&self) -> bool {
        matches!(self, Answer::Holds)
    }
}

/// A solver with one symbolic flow asserted well-formed in a cluster.
pub struct Session<'a> {
    pub cluster: &'a Cluster,
    pub universe: Universe,
    pub scope: Scope,
    pub flow: SymFlow,
    pub solver: Solver,
}

impl<'a> Session<'a> {
    /// A session whose flows live in `cluster` (its namespaces and, in
    /// `Existing` scope, its pods), with label domains from `domains`.
    pub fn new(cluster: &'a Cluster, domains: &[&Cluster], scope: Scope) -> Self {
        Self::with_universe(cluster, Universe::of(domains), scope)
    }

    /// A session over a universe built by the caller.
    pub fn with_universe(cluster: &'a Cluster, universe: Universe, scope: Scope) -> Self {
        let flow = SymFlow::new("", &universe);
        let solver = Solver::new();
        let mut params = Params::new();
        params.set_u32("timeout", CHECK_TIMEOUT_MS);
        solver.set_params(&params);
        solver.assert(flow.well_formed(&universe, cluster, scope));
        Self {
            cluster,
            universe,
            scope,
            flow,
            solver,
        }
    }

    /// The encoding of a cluster's policies on this session's flow.
    pub fn encode(&self, policies: &Cluster, guards: &Guards) -> Encoding {
        Encoding::new(policies, &self.universe, &self.flow, guards)
    }

    /// Searches a flow satisfying every formula; none found means the property holds.
    pub fn find(&self, violation: &[&Bool]) -> Answer {
        self.solver.push();
        for formula in violation {
            self.solver.assert(*formula);
        }
        let answer = match self.solver.check() {
            SatResult::Unsat => Answer::Holds,
            SatResult::Sat => match self.solver.get_model() {
                Some(model) => Answer::Counterexample(Witness::read(
                    &model,
                    &self.flow,
                    &self.universe,
                    self.cluster,
                )),
                None => Answer::Unknown {
                    reason: "the solver returned no model".to_string(),
                },
            },
            SatResult::Unknown => Answer::Unknown {
                reason: self.solver.get_reason_unknown().unwrap_or_default(),
            },
        };
        self.solver.pop(1);
        answer
    }

    /// Whether some flow satisfies every formula.
    pub fn satisfiable(&self, formulas: &[&Bool]) -> bool {
        !matches!(self.find(formulas), Answer::Holds)
    }
}
