//! Deterministic synthetic clusters as manifest text, for benchmarks of every stage.
//!
//! The same [`Scale`] and seed always give byte-identical YAML, so timings
//! from different runs and different crates measure the same input. The
//! manifests load without errors or warnings.

use std::fmt::Write;

/// The size of a generated cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    pub namespaces: usize,
    /// Pods, spread evenly over the namespaces as `Pod` objects.
    pub pods: usize,
    /// NetworkPolicies, spread evenly over the namespaces.
    pub policies: usize,
    pub seed: u64,
}

impl Scale {
    /// 500 namespaces, 10,000 pods and 2,000 NetworkPolicies: the size the
    /// foundation benchmark loads.
    pub const LARGE: Scale = Scale {
        namespaces: 500,
        pods: 10_000,
        policies: 2_000,
        seed: 1,
    };
}

/// Labels of the generated apps; each pod runs one of them.
const APPS: [&str; 5] = ["web", "api", "worker", "cache", "db"];
const TEAMS: usize = 20;

/// xorshift64*: small, fast and stable across platforms and versions.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`, or 0 when `n` is 0.
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }
}

fn namespace_name(i: usize) -> String {
    format!("ns-{i:03}")
}

/// Generates the manifests of a cluster of the given scale as one YAML text.
///
/// Each namespace gets a `Namespace` (labels `team` and `env`), its share of
/// the pods (labels `app` and `tier`, named ports `http`, `metrics` and `dns`)
/// and one Service per app. Policies cycle through default deny, namespace-
/// and pod-selector ingress on named ports, DNS egress, ipBlock egress with
/// `except`, and `endPort` ranges.
pub fn cluster_yaml(scale: &Scale) -> String {
    let mut rng = Rng::new(scale.seed);
    let mut out = String::with_capacity(scale.pods * 450 + scale.policies * 600);
    let namespaces = scale.namespaces.max(1);
    for ns in 0..namespaces {
        namespace(&mut out, ns);
        for app in APPS {
            service(&mut out, ns, app);
        }
    }
    for i in 0..scale.pods {
        let ns = i % namespaces;
        pod(&mut out, ns, i / namespaces, &mut rng);
    }
    for i in 0..scale.policies {
        let ns = i % namespaces;
        policy(&mut out, ns, i / namespaces, namespaces, &mut rng);
    }
    out
}

fn namespace(out: &mut String, ns: usize) {
    let env = if ns.is_multiple_of(3) {
        "staging"
    } else {
        "prod"
    };
    let _ = write!(
        out,
        "apiVersion: v1
kind: Namespace
metadata:
  name: {name}
  labels:
    team: team-{team}
    env: {env}
---
",
        name = namespace_name(ns),
        team = ns % TEAMS,
    );
}

fn service(out: &mut String, ns: usize, app: &str) {
    let _ = write!(
        out,
        "apiVersion: v1
kind: Service
metadata:
  name: {app}
  namespace: {name}
spec:
  selector:
    app: {app}
  ports:
  - name: http
    port: 80
    targetPort: http
---
",
        name = namespace_name(ns),
    );
}

fn pod(out: &mut String, ns: usize, index: usize, rng: &mut Rng) {
    let app = APPS.get(index % APPS.len()).copied().unwrap_or("web");
    let tier = if index.is_multiple_of(2) {
        "frontend"
    } else {
        "backend"
    };
    let http = 8000 + rng.below(100);
    let _ = write!(
        out,
        "apiVersion: v1
kind: Pod
metadata:
  name: {app}-{index}
  namespace: {name}
  labels:
    app: {app}
    tier: {tier}
spec:
  containers:
  - name: main
    image: registry.example/{app}:1.0
    ports:
    - name: http
      containerPort: {http}
    - name: metrics
      containerPort: 9090
    - name: dns
      containerPort: 53
      protocol: UDP
---
",
        name = namespace_name(ns),
    );
}

fn policy(out: &mut String, ns: usize, index: usize, namespaces: usize, rng: &mut Rng) {
    let app = APPS.get(rng.below(APPS.len())).copied().unwrap_or("web");
    let peer_app = APPS.get(rng.below(APPS.len())).copied().unwrap_or("api");
    let _ = write!(
        out,
        "apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: policy-{index}
  namespace: {name}
spec:
",
        name = namespace_name(ns),
    );
    let spec = match index % 5 {
        0 => "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n".to_string(),
        1 => format!(
            "  podSelector:
    matchLabels:
      app: {app}
  ingress:
  - from:
    - namespaceSelector:
        matchLabels:
          team: team-{team}
      podSelector:
        matchLabels:
          app: {peer_app}
    - podSelector:
        matchExpressions:
        - key: tier
          operator: In
          values: [frontend]
    ports:
    - port: http
    - port: metrics
",
            team = rng.below(TEAMS),
        ),
        2 => format!(
            "  podSelector:
    matchExpressions:
    - key: app
      operator: NotIn
      values: [{app}]
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {dns_ns}
    ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
",
            dns_ns = namespace_name(rng.below(namespaces)),
        ),
        3 => format!(
            "  podSelector:
    matchLabels:
      app: {app}
  egress:
  - to:
    - ipBlock:
        cidr: 203.0.{block}.0/24
        except: [203.0.{block}.128/25]
    ports:
    - port: 443
",
            block = rng.below(256),
        ),
        _ => format!(
            "  podSelector:
    matchLabels:
      tier: backend
  ingress:
  - from:
    - namespaceSelector:
        matchExpressions:
        - key: env
          operator: Exists
      podSelector:
        matchLabels:
          app: {peer_app}
    ports:
    - port: 8000
      endPort: {end}
",
            end = 8000 + rng.below(100),
        ),
    };
    out.push_str(&spec);
    out.push_str("---\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LoadOptions, load_str};

    const SMALL: Scale = Scale {
        namespaces: 7,
        pods: 60,
        policies: 25,
        seed: 3,
    };

    #[test]
    fn generated_cluster_loads_cleanly() {
        let text = cluster_yaml(&SMALL);
        let loaded = load_str("generated.yaml", &text, &LoadOptions::default());
        let problems: Vec<String> = loaded.diagnostics.iter().map(|d| d.one_line()).collect();
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(loaded.cluster.namespaces.len(), 7);
        assert_eq!(loaded.cluster.pods.len(), 60);
        assert_eq!(loaded.cluster.policies.len(), 25);
        assert_eq!(loaded.cluster.services.len(), 35);
    }

    #[test]
    fn same_seed_gives_same_text() {
        assert_eq!(cluster_yaml(&SMALL), cluster_yaml(&SMALL));
        let other = Scale { seed: 4, ..SMALL };
        assert_ne!(cluster_yaml(&SMALL), cluster_yaml(&other));
    }
}
