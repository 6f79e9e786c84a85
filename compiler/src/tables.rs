//! Per-endpoint policy tables computed from the reference evaluator.
//!
//! For each endpoint and direction the compiler finds the policies that select
//! the endpoint, groups peer identities by which of those policies' peers they
//! match, cuts ports into atoms, and calls `moat_ir`'s side decision for one
//! flow per (identity group, protocol, port atom). Tier precedence, `Pass`,
//! deny-before-allow and named ports therefore come from the evaluator itself.
//! Endpoints whose tables come out equal share one table id.

use std::collections::HashMap;

use moat_ir::eval::decide_side_among;
use moat_ir::{Cluster, Direction, Flow, FlowEnd, Peers, PortMatch, Ports, Protocol};

use crate::encode_table::{Function, Runs, TableEntry, encode_function};
use crate::identity::Identities;
use crate::layout::{ACTION_ALLOW, ACTION_DENY, ID_ANY, POL_F_NOT_ISOLATED, PolicyValue};
use crate::peers::{PeerIndex, SubjectIndex};
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

/// Identities that behave alike for one table: listed ones (indices into
/// `Identities::all`), plus, when `rest` is set, every identity that matches
/// none of the table's peers.
#[derive(Debug, Default)]
struct Members {
    listed: Vec<usize>,
    rest: bool,
}

/// The identity groups of one table and how many identities `rest` stands for.
struct Grouping {
    groups: Vec<(usize, Members)>,
    touched: Vec<usize>,
    rest_count: usize,
}

/// Builds the tables of `pods` (indices into the cluster's pods).
pub fn build(cluster: &Cluster, identities: &Identities, pods: &[usize]) -> PolicyTables {
    let mut builder = Builder {
        cluster,
        identities,
        peers: PeerIndex::new(cluster, identities),
        subjects: SubjectIndex::new(cluster),
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

/// Table id by direction, candidate policies, and for ingress the subject's
/// own resolution of the named ports those policies' rules mention.
type TableKey = (Direction, Vec<usize>, Vec<Option<u16>>);

struct Builder<'a> {
    cluster: &'a Cluster,
    identities: &'a Identities,
    peers: PeerIndex<'a>,
    subjects: SubjectIndex,
    out: PolicyTables,
    by_key: HashMap<TableKey, u32>,
    by_content: HashMap<Vec<TableEntry>, u32>,
    candidates_of: HashMap<u32, Vec<usize>>,
}

impl Builder<'_> {
    fn add_pod(&mut self, pod: usize) {
        let Some(Some(identity)) = self.identities.of_pod.get(pod).copied() else {
            return;
        };
        let candidates = self.candidates(pod, identity);
        let ingress = self.table_for(pod, &candidates, Direction::Ingress);
        let egress = self.table_for(pod, &candidates, Direction::Egress);
        self.out.of_pod.insert(pod, (ingress, egress));
    }

    /// Policies selecting the pod; equal for every pod of one identity.
    fn candidates(&mut self, pod: usize, identity: u32) -> Vec<usize> {
        if let Some(found) = self.candidates_of.get(&identity) {
            return found.clone();
        }
        let found = self.subjects.selecting(self.cluster, pod);
        self.candidates_of.insert(identity, found.clone());
        found
    }

    fn table_for(&mut self, pod: usize, candidates: &[usize], dir: Direction) -> u32 {
        let relevant: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| self.policy_relevant(i, dir))
            .collect();
        // Ingress named ports resolve on the subject pod, so the table depends on it.
        let subject_ports = match dir {
            Direction::Ingress => self
                .named_ports(&relevant, dir)
                .iter()
                .map(|(name, proto)| resolve(self.cluster, FlowEnd::Pod(pod), name, *proto))
                .collect(),
            Direction::Egress => Vec::new(),
        };
        let key = (dir, relevant.clone(), subject_ports);
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
        let grouping = self.peer_groups(policies, dir);
        let mut by_function: HashMap<Function, Members> = HashMap::new();
        for (representative, members) in grouping.groups {
            let Some(peer) = self.identities.all.get(representative) else {
                continue;
            };
            let function = self.evaluate(pod, peer.representative, policies, dir);
            let slot = by_function.entry(function).or_default();
            slot.listed.extend(members.listed);
            slot.rest |= members.rest;
        }
        let size = |m: &Members| m.listed.len() + if m.rest { grouping.rest_count } else { 0 };
        let mut groups: Vec<(Function, Members)> = by_function.into_iter().collect();
        groups.sort_by(|a, b| {
            let order = size(&b.1).cmp(&size(&a.1));
            order.then_with(|| a.1.listed.cmp(&b.1.listed))
        });
        let mut groups = groups.into_iter();
        let Some((wildcard, _)) = groups.next() else {
            return Vec::new();
        };
        let total = self.identities.all.len();
        let others = groups
            .map(|(function, members)| {
                let ids = self.member_ids(&members, &grouping.touched, total);
                (function, ids)
            })
            .collect();
        encode_groups(&wildcard, others)
    }

    /// Identity ids of a group; `rest` is only expanded when asked.
    fn member_ids(&self, members: &Members, touched: &[usize], total: usize) -> Vec<u32> {
        let mut ids: Vec<u32> = members
            .listed
            .iter()
            .filter_map(|&i| self.id_of(i))
            .collect();
        if members.rest {
            let mut is_touched = vec![false; total];
            for &i in touched {
                if let Some(slot) = is_touched.get_mut(i) {
                    *slot = true;
                }
            }
            let rest = (0..total).filter(|&i| !is_touched.get(i).copied().unwrap_or(true));
            ids.extend(rest.filter_map(|i| self.id_of(i)));
        }
        ids.sort_unstable();
        ids
    }

    fn id_of(&self, index: usize) -> Option<u32> {
        self.identities.all.get(index).map(|i| i.info.id)
    }

    /// Partitions identities by the relevant peers they match and, for egress,
    /// by how they resolve named ports. Identities that match no peer form the
    /// `rest` group without being listed, which keeps large clusters fast.
    fn peer_groups(&mut self, policies: &[usize], dir: Direction) -> Grouping {
        let peer_ids = self.relevant_peers(policies, dir);
        let named: Vec<(String, Protocol)> = match dir {
            Direction::Egress => self.named_ports(policies, dir),
            Direction::Ingress => Vec::new(),
        };
        let total = self.identities.all.len();

        let mut bits: HashMap<usize, Vec<bool>> = HashMap::new();
        for (bit, &peer) in peer_ids.iter().enumerate() {
            for &i in self.peers.matches(peer) {
                let row = bits.entry(i).or_insert_with(|| vec![false; peer_ids.len()]);
                if let Some(slot) = row.get_mut(bit) {
                    *slot = true;
                }
            }
        }
        if !named.is_empty() {
            for i in 0..total {
                bits.entry(i).or_insert_with(|| vec![false; peer_ids.len()]);
            }
        }

        let mut touched: Vec<usize> = bits.keys().copied().collect();
        touched.sort_unstable();
        let mut position: HashMap<PeerSignature, usize> = HashMap::new();
        let mut grouped: Vec<(usize, Members)> = Vec::new();
        for &i in &touched {
            let end = self.identities.all.get(i).map(|x| x.representative);
            let ports = named
                .iter()
                .map(|(name, proto)| end.and_then(|e| resolve(self.cluster, e, name, *proto)))
                .collect();
            let key = (bits.remove(&i).unwrap_or_default(), ports);
            let at = *position.entry(key).or_insert_with(|| {
                grouped.push((i, Members::default()));
                grouped.len() - 1
            });
            if let Some((_, members)) = grouped.get_mut(at) {
                members.listed.push(i);
            }
        }
        let rest_count = total - touched.len();
        if let Some(first) = first_untouched(&touched, total) {
            grouped.push((
                first,
                Members {
                    listed: Vec::new(),
                    rest: true,
                },
            ));
        }
        Grouping {
            groups: grouped,
            touched,
            rest_count,
        }
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

    /// Peer ids of every peer in the policies' rules of this direction.
    fn relevant_peers(&mut self, policies: &[usize], dir: Direction) -> Vec<usize> {
        let mut ids = Vec::new();
        for &policy in policies {
            let Some(policy) = self.cluster.policies.get(policy) else {
                continue;
            };
            for rule in policy.rules.iter().filter(|r| r.direction == dir) {
                if let Peers::List(list) = &rule.peers {
                    for peer in list {
                        ids.push(self.peers.id(peer));
                    }
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids
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

/// The relevant peers an identity matches and its resolution of named ports.
type PeerSignature = (Vec<bool>, Vec<Option<u16>>);

/// Finds the smallest index in `0..total` missing from the sorted `touched`.
fn first_untouched(touched: &[usize], total: usize) -> Option<usize> {
    let gap = touched
        .iter()
        .enumerate()
        .find(|(position, i)| *position != **i);
    let first = gap.map_or(touched.len(), |(position, _)| position);
    (first < total).then_some(first)
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

/// Encodes a table: the function of the most identities under `MOAT_ID_ANY`,
/// the others per identity as differences from it.
fn encode_groups(wildcard: &Function, others: Vec<(Function, Vec<u32>)>) -> Vec<TableEntry> {
    let mut entries: Vec<TableEntry> = encode_function(wildcard, None)
        .into_iter()
        .map(|e| TableEntry {
            identity: ID_ANY,
            ..e
        })
        .collect();
    for (function, ids) in others {
        let own = encode_function(&function, Some(wildcard));
        for id in ids {
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
