//! Rule provenance: the `rule_id` of every policy value and what it names.

use std::collections::HashMap;

use moat_ir::{Action, Cluster, Decision, Direction, Reason, RuleRef};

use crate::image::format::RuleProvenance;
use crate::layout::{POL_F_NO_RULE, POL_F_NOT_ISOLATED, PolicyValue, RULE_NONE};
use crate::tables::action;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Decider {
    Rule(usize, usize),
    Isolation(Direction, Vec<usize>),
}

/// Rule provenance entries, interned so that one rule has one id.
#[derive(Debug, Default)]
pub struct RuleTable {
    pub rules: Vec<RuleProvenance>,
    index: HashMap<Decider, u32>,
}

impl RuleTable {
    /// Converts a decision to a policy value, adding its provenance entry if new.
    pub fn value_for(
        &mut self,
        cluster: &Cluster,
        decision: &Decision,
        dir: Direction,
    ) -> PolicyValue {
        let (rule_id, flags) = match &decision.reason {
            Reason::Rule(rule) => (self.rule_id(cluster, *rule), 0),
            Reason::NoRuleMatched { policies } => {
                (self.isolation_id(cluster, dir, policies), POL_F_NO_RULE)
            }
            Reason::NotIsolated | Reason::Outside | Reason::HostNetwork => {
                (RULE_NONE, POL_F_NOT_ISOLATED)
            }
        };
        PolicyValue {
            rule_id,
            action: action(decision.allowed),
            flags,
            pad: 0,
        }
    }

    fn rule_id(&mut self, cluster: &Cluster, rule: RuleRef) -> u32 {
        let key = Decider::Rule(rule.policy, rule.rule);
        if let Some(&id) = self.index.get(&key) {
            return id;
        }
        let policy = cluster.policies.get(rule.policy);
        let found = policy.and_then(|p| p.rules.get(rule.rule));
        let entry = RuleProvenance {
            kind: "rule".to_string(),
            policy: rule.policy,
            policy_kind: policy.map(|p| p.kind.to_string()).unwrap_or_default(),
            namespace: policy.and_then(|p| p.namespace.clone()),
            name: policy.map(|p| p.name.clone()).unwrap_or_default(),
            rule: Some(rule.rule),
            rule_index: found.map(|r| r.index),
            direction: found.map(|r| r.direction.to_string()).unwrap_or_default(),
            action: found
                .map(|r| action_name(r.action))
                .unwrap_or_default()
                .to_string(),
            isolating: Vec::new(),
            location: found.and_then(|r| r.origin.as_ref()).map(|o| o.short()),
        };
        self.push(key, entry)
    }

    fn isolation_id(&mut self, cluster: &Cluster, dir: Direction, policies: &[usize]) -> u32 {
        let key = Decider::Isolation(dir, policies.to_vec());
        if let Some(&id) = self.index.get(&key) {
            return id;
        }
        let first = policies.first().copied().unwrap_or_default();
        let policy = cluster.policies.get(first);
        let entry = RuleProvenance {
            kind: "isolation".to_string(),
            policy: first,
            policy_kind: policy.map(|p| p.kind.to_string()).unwrap_or_default(),
            namespace: policy.and_then(|p| p.namespace.clone()),
            name: policy.map(|p| p.name.clone()).unwrap_or_default(),
            rule: None,
            rule_index: None,
            direction: dir.to_string(),
            action: "deny".to_string(),
            isolating: policies.to_vec(),
            location: policy.and_then(|p| p.origin.as_ref()).map(|o| o.short()),
        };
        self.push(key, entry)
    }

    fn push(&mut self, key: Decider, entry: RuleProvenance) -> u32 {
        let id = u32::try_from(self.rules.len()).unwrap_or(RULE_NONE);
        self.rules.push(entry);
        self.index.insert(key, id);
        id
    }
}

fn action_name(action: Action) -> &'static str {
    match action {
        Action::Allow => "allow",
        Action::Deny => "deny",
        Action::Pass => "pass",
    }
}
