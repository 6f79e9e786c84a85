//! `moat lint`: every check over one cluster, as a list of findings.

mod exposure;
mod ports;
mod precedence;
mod selectors;

use moat_ir::Cluster;

use crate::finding::Finding;
use crate::graph::Graph;
use crate::smt::Scope;

/// Which checks run and over which pods.
#[derive(Debug, Clone, Copy)]
pub struct LintOptions {
    /// Run the SMT checks (shadowed, redundant, conflicting rules).
    pub smt: bool,
    /// Pods the SMT checks range over.
    pub scope: Scope,
}

impl Default for LintOptions {
    fn default() -> Self {
        Self {
            smt: true,
            scope: Scope::AnyPod,
        }
    }
}

/// Runs every check; `progress` receives the name of each step as it starts.
pub fn lint(
    cluster: &Cluster,
    options: &LintOptions,
    progress: &mut dyn FnMut(&str),
) -> Vec<Finding> {
    let mut findings = Vec::new();
    progress("selectors");
    findings.extend(selectors::selects_nothing(cluster));
    findings.extend(selectors::peer_matches_nothing(cluster));
    progress("named ports");
    findings.extend(ports::unresolved_named_ports(cluster));
    progress("graph");
    let graph = Graph::build(cluster);
    progress("exposure");
    findings.extend(exposure::not_isolated(cluster, &graph));
    findings.extend(exposure::dns_egress_blocked(cluster, &graph));
    findings.extend(exposure::allow_all(cluster));
    findings.extend(exposure::ipblock_covers_pods(cluster));
    if options.smt {
        progress("shadowed rules");
        let shadowed = precedence::shadowed(cluster, options.scope);
        progress("redundant rules");
        findings.extend(precedence::redundant(cluster, options.scope, &shadowed));
        findings.extend(shadowed.findings);
        progress("conflicts");
        findings.extend(precedence::conflicting(cluster, options.scope));
    }
    findings.sort_by_key(|f| {
        let place = f
            .origin
            .as_ref()
            .map(|o| (o.file_name().to_string(), o.offset));
        (place, f.check)
    });
    findings
}
