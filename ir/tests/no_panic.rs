//! Loading never panics: random bytes, random YAML-like text, and mutated
//! copies of every real manifest in the repository all return a result.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code fails loudly on broken fixtures"
)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use moat_ir::{LoadOptions, load_str};
use proptest::prelude::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn collect_manifests(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect_manifests(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// Every manifest under `testdata/conformance`, `testdata/invalid` and `policies`.
fn corpus() -> &'static [String] {
    static CORPUS: OnceLock<Vec<String>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut texts = Vec::new();
        for dir in ["testdata/conformance", "testdata/invalid", "policies"] {
            collect_manifests(&root().join(dir), &mut texts);
        }
        assert!(texts.len() > 20, "corpus too small: {} files", texts.len());
        texts
    })
}

/// Loads `text`; the test fails if this panics.
fn load(text: &str) {
    let loaded = load_str("fuzz.yaml", text, &LoadOptions::default());
    for diagnostic in &loaded.diagnostics {
        // Every diagnostic's origin must lie inside the text it points into.
        if let Some(origin) = &diagnostic.origin {
            assert!(origin.offset <= text.len(), "{}", diagnostic.one_line());
            assert!(
                origin.offset + origin.len <= text.len().max(1),
                "{} offset {} len {} text len {}: {text:?}",
                diagnostic.one_line(),
                origin.offset,
                origin.len,
                text.len()
            );
        }
    }
}

/// One way to damage a manifest.
#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    SwapLines(usize, usize),
    ReplaceChar(usize, char),
    Indent(usize, isize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let special = prop::sample::select(vec![
        ':', '-', '[', ']', '{', '}', '"', '\'', '#', '&', '*', '!', '|', '>', ' ', '\t', '\n',
        '0', 'x', '?', ',', '%', '@', '`', 'é',
    ]);
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
        (any::<usize>(), special).prop_map(|(at, c)| Mutation::ReplaceChar(at, c)),
        (any::<usize>(), -4isize..=4).prop_map(|(line, by)| Mutation::Indent(line, by)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(text: &str, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    if lines.is_empty() {
        return String::new();
    }
    let n = lines.len();
    match *mutation {
        Mutation::DeleteLine(i) => {
            lines.remove(i % n);
        }
        Mutation::DuplicateLine(i) => {
            let line = lines[i % n].clone();
            lines.insert(i % n, line);
        }
        Mutation::SwapLines(a, b) => lines.swap(a % n, b % n),
        Mutation::ReplaceChar(at, c) => {
            let joined = lines.join("\n");
            let chars: Vec<char> = joined.chars().collect();
            let at = at % chars.len().max(1);
            let replaced: String = chars
                .iter()
                .enumerate()
                .map(|(i, &old)| if i == at { c } else { old })
                .collect();
            return replaced;
        }
        Mutation::Indent(i, by) => {
            let line = &mut lines[i % n];
            if by > 0 {
                *line = format!("{}{line}", " ".repeat(by.unsigned_abs()));
            } else {
                let strip = by.unsigned_abs().min(line.len() - line.trim_start().len());
                *line = line[strip..].to_string();
            }
        }
        Mutation::Truncate(at) => {
            let joined = lines.join("\n");
            let cut = at % (joined.len() + 1);
            let cut = (0..=cut)
                .rev()
                .find(|&c| joined.is_char_boundary(c))
                .unwrap();
            return joined[..cut].to_string();
        }
    }
    lines.join("\n")
}

/// Text made of YAML punctuation, Kubernetes field names and values.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "apiVersion: networking.k8s.io/v1\n",
        "apiVersion: v1\n",
        "kind: NetworkPolicy\n",
        "kind: Pod\n",
        "kind: Service\n",
        "kind: List\n",
        "kind: Deployment\n",
        "kind: EndpointSlice\n",
        "metadata:\n",
        "  name: a\n",
        "  namespace: x\n",
        "spec:\n",
        "  podSelector:\n",
        "  ingress:\n",
        "  egress:\n",
        "  - from:\n",
        "    - ipBlock:\n",
        "        cidr: 10.0.0.0/8\n",
        "        except: [10.1.0.0/16]\n",
        "    ports:\n",
        "    - port: 80\n",
        "      endPort: 70000\n",
        "      protocol: UDP\n",
        "  replicas: 99999999999\n",
        "  containers: [{name: c, ports: [{containerPort: -1}]}]\n",
        "items:\n",
        "- ",
        "---\n",
        "...\n",
        "{",
        "}",
        "[",
        "]",
        ": ",
        ", ",
        "&a ",
        "*a ",
        "!!str ",
        "? ",
        "|\n",
        "\"",
        "'",
        "# c\n",
        "\n",
        "  ",
        "null",
        "~",
        "1e400",
        "0x1F",
        "true",
    ]);
    prop::collection::vec(token, 0..60).prop_map(|tokens| tokens.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_bytes_do_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        load(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_yamlish_text_does_not_panic(text in yamlish()) {
        load(&text);
    }

    #[test]
    fn mutated_manifests_do_not_panic(
        file in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let corpus = corpus();
        let mut text = corpus[file.index(corpus.len())].clone();
        for m in &mutations {
            text = apply(&text, m);
        }
        load(&text);
    }
}

/// A deterministic xorshift generator, so the sweep below covers the same
/// cases on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn mutation(&mut self) -> Mutation {
        let a = self.next() as usize;
        let b = self.next() as usize;
        let chars = ":-[]{}\"'#&*!|> \t\n0x?";
        let c = chars.chars().nth(b % chars.len()).unwrap();
        match self.next() % 6 {
            0 => Mutation::DeleteLine(a),
            1 => Mutation::DuplicateLine(a),
            2 => Mutation::SwapLines(a, b),
            3 => Mutation::ReplaceChar(a, c),
            4 => Mutation::Indent(a, (b % 9) as isize - 4),
            _ => Mutation::Truncate(a),
        }
    }
}

#[test]
fn mutation_sweep_does_not_panic() {
    let corpus = corpus();
    let mut rng = Rng(0x5EED_CAFE_F00D);
    for round in 0..2000 {
        let file = &corpus[round % corpus.len()];
        let first = rng.mutation();
        let mut text = apply(file, &first);
        if round % 3 == 0 {
            text = apply(&text, &rng.mutation());
        }
        load(&text);
    }
}

#[test]
fn deep_nesting_does_not_overflow() {
    let block_sequences = format!("{}x\n", "- ".repeat(100_000));
    let block_mappings: String = (0..3_000)
        .map(|i| format!("{}a:\n", " ".repeat(i)))
        .collect();
    let flow = "[".repeat(100_000);
    for text in [block_sequences, block_mappings, flow] {
        let loaded = load_str("deep.yaml", &text, &LoadOptions::default());
        assert!(loaded.has_errors());
        let message = &loaded.diagnostics[0].message;
        // saphyr's own limit of 255 flow levels may report first.
        let is_depth_error =
            message.contains("nest deeper than") || message.contains("recursion limit");
        assert!(is_depth_error, "{message}");
    }
}

#[test]
fn nesting_at_limit_loads() {
    // An unknown field nested just under the limit goes through every
    // recursive step (saphyr, node conversion, JSON, serde) on a test thread.
    let depth = 95;
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  extra: {}{}\n  containers: []\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let loaded = load_str("deep.yaml", &text, &LoadOptions::default());
    let codes: Vec<&str> = loaded.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["moat::unknown-field"]);
    assert_eq!(loaded.cluster.pods.len(), 1);
}
