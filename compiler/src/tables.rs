//! Per-endpoint policy tables computed from the reference evaluator.
//!
//! For each endpoint and direction the compiler finds the policies that select
//! the endpoint, groups peer identities by which of those policies' peers they
//! match, cuts ports into atoms, and asks `moat_ir`'s side decision for one
//! flow per (identity group, protocol, port atom). Tier precedence, `Pass`,
//! deny-before-allow and named ports therefore come from the evaluator itself.
//! Endpoints whose tables come out equal share one table id.

use std::collections::HashMap;

use moat_ir::eval::{decide_side_among, peer_matches, subject_selects};
use moat_ir::{Cluster, Direction, Flow, FlowEnd, Peer, Peers, PortMatch, Ports, Protocol};

use crate::encode_table::{Function, Runs, TableEntry, encode_function};
use crate::identity::Identities;
use crate::layout::{ACTION_ALLOW, ACTION_DENY, ID_ANY, POL_F_NOT_ISOLATED, PolicyValue};
use crate::ports::Cuts;
use crate::provenance::RuleTable;

/// Every policy table of an image and the tables of each endpoint.
#[derive(Debug, Default)]
pub struct PolicyTables {
    /// Entries by table id (table ids start at 1; index 0 is unused).
    pub tables: Vec<Vec<TableEntry>>,
    /// `(ingress, egress)` table id per pod index, for the pods compiled.
    pub of_pod: HashMap<usize, (u32, u32)>,
    pub rules: RuleTable,
}

/// Which relevant peers an identity matches, and how it resolves named ports.
type PeerSignature = (Vec<bool>, Vec<Option<u16>>);

/// Distinct peers of all rules, with the identities each one matches.
struct PeerCache {
    index: HashMap<String, usize>,
    peers: Vec<Peer>,
    matches: Vec<Vec<bool>>,
}

/// Builds the tables of `pods` (indices into the cluster's pods).
pub fn build(cluster: &Cluster, identities: &Identities, pods: &[usize]) -> PolicyTables {
    let mut builder = Builder {
        cluster,
        identities,
        peers: PeerCache {
            index: HashMap::new(),
            peers: Vec::new(),
            matches: Vec::new(),
        },
        out: PolicyTables {
            tables: vec![Vec::new()],
            ..PolicyTables::default()
        },
        by_key: HashMap::new(),
        by_content: HashMap::new(),
        candidates_of: HashMap::new(),
    };
    for &pod in pods {
        builder.add_pod(pod);
    }
    builder.out
}

struct Builder<'a> {
    cluster: &'a Cluster,
    identities: &'a Identities,
    peers: PeerCache,
    out: PolicyTables,
    /// Table id by (direction, candidate policies, subject identity when it matters).
    by_key: HashMap<(Direction, Vec<usize>, Option<u32>), u32>,
    by_content: HashMap<Vec<TableEntry>, u32>,
    candidates_of: HashMap<u32, Vec<usize>>,
}

impl Builder<'_> {
    fn add_pod(&mut self, pod: usize) {
        let Some(Some(identity)) = self.identities.of_pod.get(pod).copied() else {
            return;
        };
        let candidates = self.candidates(pod, identity);
        let ingress = self.table_for(pod, identity, &candidates, Direction::Ingress);
        let egress = self.table_for(pod, identity, &candidates, Direction::Egress);
        self.out.of_pod.insert(pod, (ingress, egress));
    }

    /// Policies selecting the pod; equal for every pod of one identity.
    fn candidates(&mut self, pod: usize, identity: u32) -> Vec<usize> {
        if let Some(found) = self.candidates_of.get(&identity) {
            return found.clone();
        }
        let Some(subject) = self.cluster.pods.get(pod) else {
            return Vec::new();
        };
        let policies = self.cluster.policies.iter().enumerate();
        let found: Vec<usize> = policies
            .filter(|(_, p)| subject_selects(self.cluster, p, subject))
            .map(|(i, _)| i)
            .collect();
        self.candidates_of.insert(identity, found.clone());
        found
    }

    fn table_for(
        &mut self,
        pod: usize,
        identity: u32,
        candidates: &[usize],
        dir: Direction,
    ) -> u32 {
        let relevant: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| self.policy_relevant(i, dir))
            .collect();
        let named = self.has_named_ports(&relevant, dir);
        let by_subject = named && dir == Direction::Ingress;
        let key = (dir, relevant.clone(), by_subject.then_some(identity));
        if let Some(&id) = self.by_key.get(&key) {
            return id;
        }
        let entries = self.compute(pod, &relevant, dir);
        let id = self.intern_table(entries);
        self.by_key.insert(key, id);
        id
    }

    /// Whether a policy can decide anything in this direction.
    fn policy_relevant(&self, policy: usize, dir: Direction) -> bool {
        self.cluster
            .policies
            .get(policy)
            .is_some_and(|p| p.isolates(dir) || p.rules.iter().any(|r| r.direction == dir))
    }

    fn has_named_ports(&self, policies: &[usize], dir: Direction) -> bool {
        self.rule_ports(policies, dir)
            .any(|(_, port)| matches!(port, PortMatch::Named(_)))
    }

    fn rule_ports<'b>(
        &'b self,
        policies: &'b [usize],
        dir: Direction,
    ) -> impl Iterator<Item = (Protocol, &'b PortMatch)> + 'b {
        let rules = policies
            .iter()
            .filter_map(|&i| self.cluster.policies.get(i))
            .flat_map(|p| p.rules.iter())
            .filter(move |r| r.direction == dir);
        rules.flat_map(|r| match &r.ports {
            Ports::Any => Vec::new(),
            Ports::List(list) => list.iter().map(|p| (p.protocol, &p.port)).collect(),
        })
    }

    fn intern_table(&mut self, entries: Vec<TableEntry>) -> u32 {
        if let Some(&id) = self.by_content.get(&entries) {
            return id;
        }
        let id = u32::try_from(self.out.tables.len()).unwrap_or(u32::MAX);
        self.by_content.insert(entries.clone(), id);
        self.out.tables.push(entries);
        id
    }

    /// Evaluates one table and encodes it as LPM entries.
    fn compute(&mut self, pod: usize, policies: &[usize], dir: Direction) -> Vec<TableEntry> {
        let groups = self.peer_groups(policies, dir);
        let mut by_function: HashMap<Function, Vec<u32>> = HashMap::new();
        for members in groups {
            let Some(&first) = members.first() else {
                continue;
            };
            let Some(peer) = self.identities.all.get(first) else {
                continue;
            };
            let function = self.evaluate(pod, peer.representative, policies, dir);
            let ids = members.iter().filter_map(|&m| self.identities.all.get(m));
            by_function
                .entry(function)
                .or_default()
                .extend(ids.map(|i| i.info.id));
        }
        encode_groups(by_function)
    }

    /// Partitions identities (by index) by the relevant peers they match and,
    /// for egress, by how they resolve named ports.
    fn peer_groups(&mut self, policies: &[usize], dir: Direction) -> Vec<Vec<usize>> {
        let peer_ids = self.relevant_peers(policies, dir);
        let named: Vec<(String, Protocol)> = match dir {
            Direction::Egress => self.named_ports(policies, dir),
            Direction::Ingress => Vec::new(),
        };
        let mut groups: HashMap<PeerSignature, Vec<usize>> = HashMap::new();
        let mut order = Vec::new();
        for (index, identity) in self.identities.all.iter().enumerate() {
            let bits: Vec<bool> = peer_ids
                .iter()
                .map(|&p| {
                    let row = self.peers.matches.get(p);
                    row.and_then(|r| r.get(index)).copied().unwrap_or(false)
                })
                .collect();
            let ports = named
                .iter()
                .map(|(name, proto)| resolve(self.cluster, identity.representative, name, *proto))
                .collect();
            let key = (bits, ports);
            if !groups.contains_key(&key) {
                order.push(key.clone());
            }
            groups.entry(key).or_default().push(index);
        }
        order
            .into_iter()
            .filter_map(|k| groups.remove(&k))
            .collect()
    }

    fn named_ports(&self, policies: &[usize], dir: Direction) -> Vec<(String, Protocol)> {
        let mut named: Vec<(String, Protocol)> = self
            .rule_ports(policies, dir)
            .filter_map(|(proto, port)| match port {
                PortMatch::Named(name) => Some((name.clone(), proto)),
                _ => None,
            })
            .collect();
        named.sort();
        named.dedup();
        named
    }

    /// Ids in the peer cache of every peer in the policies' rules of this direction.
    fn relevant_peers(&mut self, policies: &[usize], dir: Direction) -> Vec<usize> {
        let mut ids = Vec::new();
        for &policy in policies {
            let Some(policy) = self.cluster.policies.get(policy) else {
                continue;
            };
            for rule in policy.rules.iter().filter(|r| r.direction == dir) {
                if let Peers::List(list) = &rule.peers {
                    for peer in list {
                        ids.push(self.peer_id(peer));
                    }
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn peer_id(&mut self, peer: &Peer) -> usize {
        let text = format!("{peer:?}");
        if let Some(&id) = self.peers.index.get(&text) {
            return id;
        }
        let row = self
            .identities
            .all
            .iter()
            .map(|i| peer_matches(self.cluster, peer, i.representative))
            .collect();
        let id = self.peers.peers.len();
        self.peers.peers.push(peer.clone());
        self.peers.matches.push(row);
        self.peers.index.insert(text, id);
        id
    }

    /// The verdict function of one peer against the subject pod.
    fn evaluate(
        &mut self,
        pod: usize,
        peer: FlowEnd,
        policies: &[usize],
        dir: Direction,
    ) -> Function {
        let destination = match dir {
            Direction::Ingress => FlowEnd::Pod(pod),
            Direction::Egress => peer,
        };
        let mut runs: [Runs; 3] = Default::default();
        for (slot, protocol) in runs.iter_mut().zip(Protocol::ALL) {
            let cuts = self.cuts(policies, dir, destination, protocol);
            for (start, end) in cuts.atoms() {
                let (src, dst) = match dir {
                    Direction::Ingress => (peer, FlowEnd::Pod(pod)),
                    Direction::Egress => (FlowEnd::Pod(pod), peer),
                };
                let flow = Flow {
                    src,
                    dst,
                    protocol,
                    port: start,
                };
                let decision = decide_side_among(self.cluster, &flow, dir, Some(policies));
                let value = self.out.rules.value_for(self.cluster, &decision, dir);
                push_run(slot, start, end, value);
            }
        }
        Function(runs)
    }

    fn cuts(&self, policies: &[usize], dir: Direction, dst: FlowEnd, protocol: Protocol) -> Cuts {
        let mut cuts = Cuts::default();
        for (proto, port) in self.rule_ports(policies, dir) {
            if proto != protocol {
                continue;
            }
            match port {
                PortMatch::Any => {}
                PortMatch::Range { start, end } => cuts.add_range(*start, *end),
                PortMatch::Named(name) => {
                    if let Some(p) = resolve(self.cluster, dst, name, protocol) {
                        cuts.add_range(p, p);
                    }
                }
            }
        }
        cuts
    }
}

fn resolve(cluster: &Cluster, end: FlowEnd, name: &str, protocol: Protocol) -> Option<u16> {
    match end {
        FlowEnd::Pod(i) => cluster.pods.get(i)?.named_port(name, protocol),
        FlowEnd::External(_) => None,
    }
}

fn push_run(runs: &mut Runs, start: u16, end: u16, value: PolicyValue) {
    if let Some(last) = runs.last_mut()
        && last.2 == value
    {
        last.1 = end;
        return;
    }
    runs.push((start, end, value));
}

/// Encodes a table: the most common function under `MOAT_ID_ANY`, the others
/// per identity as differences from it.
fn encode_groups(by_function: HashMap<Function, Vec<u32>>) -> Vec<TableEntry> {
    let mut groups: Vec<(Function, Vec<u32>)> = by_function.into_iter().collect();
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.1.cmp(&b.1)));
    let mut entries = Vec::new();
    let Some((wildcard, _)) = groups.first() else {
        return entries;
    };
    let base = encode_function(wildcard, None);
    entries.extend(base.into_iter().map(|e| TableEntry {
        identity: ID_ANY,
        ..e
    }));
    for (function, ids) in groups.iter().skip(1) {
        let own = encode_function(function, Some(wildcard));
        for &id in ids {
            entries.extend(own.iter().map(|e| TableEntry { identity: id, ..*e }));
        }
    }
    entries.sort();
    entries
}

/// Whether a table lets everything through (one allow entry for every identity).
pub fn is_open(entries: &[TableEntry]) -> bool {
    matches!(entries, [only] if only.identity == ID_ANY
        && only.protocol.is_none()
        && only.value.action == ACTION_ALLOW
        && only.value.flags & POL_F_NOT_ISOLATED != 0)
}

/// The action byte of a decision.
pub fn action(allowed: bool) -> u8 {
    if allowed { ACTION_ALLOW } else { ACTION_DENY }
}
