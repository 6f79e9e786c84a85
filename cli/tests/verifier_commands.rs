//! `moat lint`, `verify`, `explain`, `diff` and `reach` end to end on the
//! shop manifests under `testdata/diff` and the lint cases.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code fails loudly on broken fixtures"
)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn moat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The headline of each changed flow class in `moat diff` text output.
fn change_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.contains(": denied -> ") || l.contains(": allowed -> "))
        .collect()
}

const V1: &str = "testdata/diff/shop-v1";
const V2: &str = "testdata/diff/shop-v2";
const ASSERTIONS: &str = "testdata/assert/shop.yaml";

#[test]
fn verify_proves_true_assertions() {
    let out = moat(&["verify", V1, "--assert", ASSERTIONS]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("3 hold, 0 fail"), "{}", stdout(&out));
}

#[test]
fn verify_refutes_with_existing_pod() {
    let out = moat(&["verify", V2, "--assert", ASSERTIONS]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("FAIL  dev cannot reach the prod database"),
        "{text}"
    );
    assert!(
        text.contains("dev/tester {app=tester} -> prod/db-0 {app=db} tcp/5432"),
        "{text}"
    );
    assert!(
        text.contains("NetworkPolicy prod/db-from-api ingress[1] (testdata/diff/shop-v2/policies.yaml:35): narrow its peers or ports"),
        "{text}"
    );
}

#[test]
fn verify_any_pod_finds_future_pod() {
    let out = moat(&["verify", V1, "--assert", ASSERTIONS, "--any-pod"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains(
            "FAIL  frontend reaches api on 8080: counterexample for every pod that could exist"
        ),
        "{text}"
    );
    assert!(
        text.contains("a new pod {app=api} with ports [http/tcp"),
        "{text}"
    );
    assert!(
        text.contains(
            "ok    dev cannot reach the prod database: holds for every pod that could exist"
        ),
        "{text}"
    );
}

#[test]
fn verify_rejects_bad_assertion_file() {
    let out = moat(&[
        "verify",
        V1,
        "--assert",
        "testdata/diff/shop-v1/policies.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let missing = moat(&["verify", V1, "--assert", "testdata/assert/missing.yaml"]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn diff_lists_exactly_changed_classes() {
    let out = moat(&["diff", V1, V2]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let headlines = change_lines(&text);
    assert_eq!(
        headlines,
        vec![
            "prod/frontend-7f9c-* -> prod/api-5d8b-* tcp/9090: denied -> allowed",
            "dev/tester -> prod/db-0 tcp/5432: denied -> allowed",
        ]
    );
    assert!(
        text.contains(
            "after:  egress: not isolated; ingress: NetworkPolicy prod/db-from-api ingress[1]"
        ),
        "{text}"
    );
}

#[test]
fn diff_of_same_version_is_empty() {
    let out = moat(&["diff", V1, V1]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("0 flow class(es) changed"));
}

#[test]
fn diff_any_pod_reports_new_pods() {
    let out = moat(&["diff", V1, V2, "--any-pod", "-o", "json"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let new_pods = json["detail"]["new_pods"].as_array().unwrap();
    assert!(!new_pods.is_empty(), "{json}");
}

#[test]
fn explain_lists_change_for_expected_allow() {
    let out = moat(&[
        "explain",
        V1,
        "--from",
        "dev/tester",
        "--to",
        "prod/db-0",
        "--port",
        "tcp/5432",
        "--expect",
        "allow",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("dev/tester -> prod/db-0 tcp/5432: DENIED"),
        "{text}"
    );
    assert!(text.contains("NetworkPolicy prod/db-from-api (testdata/diff/shop-v1/policies.yaml:27): add an ingress rule"), "{text}");
}

#[test]
fn explain_marks_deciding_rule() {
    let out = moat(&[
        "explain",
        V1,
        "--from",
        "prod/api-5d8b-a",
        "--to",
        "prod/db-0",
        "--port",
        "tcp/5432",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout(&out).contains("=> Allow NetworkPolicy prod/db-from-api ingress[0]"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn reach_shows_shortest_paths() {
    let out = moat(&[
        "reach",
        V1,
        "--from",
        "dev/app=tester",
        "--to",
        "prod/app=db",
        "--hops",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.contains("prod/{app=db} (3 hop(s))"), "{text}");
    assert!(
        text.contains("prod/{app=api} -> prod/{app=db} [tcp/5432]"),
        "{text}"
    );
}

#[test]
fn reach_renders_dot() {
    let out = moat(&["reach", V1, "--from", "outside", "--hops", "2", "-o", "dot"]);
    assert!(stdout(&out).starts_with("digraph moat {"));
}

#[test]
fn lint_sarif_points_at_yaml_line() {
    let out = moat(&[
        "lint",
        "-o",
        "sarif",
        "testdata/lint/base.yaml",
        "testdata/lint/shadowed-rule/positive.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let sarif: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let shadowed = results
        .iter()
        .find(|r| r["ruleId"] == "shadowed-rule")
        .unwrap();
    let region = &shadowed["locations"][0]["physicalLocation"];
    assert_eq!(
        region["artifactLocation"]["uri"],
        "testdata/lint/shadowed-rule/positive.yaml"
    );
    assert_eq!(region["region"]["startLine"], 12);
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    assert!(rules.iter().any(|r| r["id"] == "ipblock-covers-pod-cidr"));
}

#[test]
fn lint_fail_on_controls_exit_code() {
    let args = [
        "lint",
        "testdata/lint/base.yaml",
        "testdata/lint/redundant-rule/positive.yaml",
    ];
    assert_eq!(
        moat(&args).status.code(),
        Some(0),
        "notes pass under the default --fail-on warning"
    );
    let mut strict = args.to_vec();
    strict.extend(["--fail-on", "note"]);
    assert_eq!(moat(&strict).status.code(), Some(1));
}

#[test]
fn lint_github_and_junit_formats() {
    let github = moat(&[
        "lint",
        "--format",
        "github",
        "testdata/lint/base.yaml",
        "testdata/lint/allow-all/positive.yaml",
    ]);
    assert!(stdout(&github).contains("::warning file=testdata/lint/allow-all/positive.yaml,line=8,col=5,title=moat allow-all::"), "{}", stdout(&github));
    let junit = moat(&[
        "lint",
        "-o",
        "junit",
        "testdata/lint/base.yaml",
        "testdata/lint/allow-all/positive.yaml",
    ]);
    assert!(
        stdout(&junit).contains("<failure type=\"warning\""),
        "{}",
        stdout(&junit)
    );
}

#[test]
fn lint_missing_input_is_usage_error() {
    assert_eq!(
        moat(&["lint", "testdata/does-not-exist.yaml"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn diff_git_compares_revisions() {
    let repo = std::env::temp_dir().join(format!("moat-diff-git-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&repo);
    std::fs::create_dir_all(repo.join("shop")).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=moat",
                "-c",
                "user.email=moat@example.invalid",
            ])
            .args(args)
            .current_dir(&repo)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    git(&["init", "-q"]);
    for (version, message) in [("shop-v1", "v1"), ("shop-v2", "v2")] {
        for file in ["workloads.yaml", "policies.yaml"] {
            let from = root().join("testdata/diff").join(version).join(file);
            std::fs::copy(from, repo.join("shop").join(file)).unwrap();
        }
        git(&["add", "shop"]);
        git(&["commit", "-q", "-m", message]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["diff", "--git", "HEAD~1..HEAD", "shop"])
        .current_dir(&repo)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&repo);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("dev/tester -> prod/db-0 tcp/5432: denied -> allowed"),
        "{text}"
    );
    assert!(text.contains("2 flow class(es) changed"), "{text}");
}

#[test]
fn diff_shop_example_against_next_version() {
    let out = moat(&["diff", "policies/shop", "testdata/diff/shop-next"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let headlines = change_lines(&text);
    assert_eq!(
        headlines,
        vec![
            "db/postgres-0 -> kube-system/coredns-* tcp/53: allowed -> denied",
            "frontend/web-* -> api/api-* tcp/9090: denied -> allowed",
        ]
    );
}

/// Writes `text` to a file unique to this test process and returns its path.
fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("moat-{}-{name}", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn verify_fails_vacuous_namespace_typo() {
    let file = temp_file(
        "typo.yaml",
        "assertions:\n  - name: typo\n    from: {namespace: frontendd}\n    to: {namespace: api}\n    expect: allow\n",
    );
    let out = moat(&[
        "verify",
        "policies/shop",
        "--assert",
        file.to_str().unwrap(),
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  typo: vacuous: `from` selects no pod in the input"),
        "{text}"
    );
    assert!(text.contains("did you mean `frontend`?"), "{text}");
    assert!(text.contains("0 hold, 1 fail"), "{text}");
    std::fs::remove_file(file).unwrap();
}

#[test]
fn verify_fails_assertions_for_other_cluster() {
    let out = moat(&["verify", "policies/shop", "--assert", ASSERTIONS]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("0 hold, 3 fail"), "{text}");
    assert!(!text.contains("ok  "), "{text}");
}

#[test]
fn verify_any_pod_fails_unsatisfiable_selector() {
    let file = temp_file(
        "contradiction.yaml",
        "assertions:\n  - name: never\n    from: {podSelector: {matchExpressions: [{key: app, operator: In, values: [a]}, {key: app, operator: NotIn, values: [a]}]}}\n    to: {namespace: api}\n    expect: deny\n",
    );
    let out = moat(&[
        "verify",
        "policies/shop",
        "--assert",
        file.to_str().unwrap(),
        "--any-pod",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  never: vacuous: `from` selects no pod that could exist"),
        "{text}"
    );
    std::fs::remove_file(file).unwrap();
}

/// Copies `policies/demo-isolated` into a fresh directory, with the client
/// Deployment renamed to `client2` and given the label `role: frontend`.
fn renamed_client_version() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("moat-diff-rename-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in [
        "namespace.yaml",
        "web-server.yaml",
        "isolate-web-server.yaml",
    ] {
        std::fs::copy(
            root().join("policies/demo-isolated").join(file),
            dir.join(file),
        )
        .unwrap();
    }
    let client = std::fs::read_to_string(root().join("policies/demo-isolated/client.yaml"))
        .unwrap()
        .replace("  name: client\n", "  name: client2\n")
        .replace(
            "      labels:\n        app: client\n",
            "      labels:\n        app: client\n        role: frontend\n",
        );
    assert!(client.contains("name: client2"), "{client}");
    assert!(client.contains("role: frontend"), "{client}");
    std::fs::write(dir.join("client.yaml"), client).unwrap();
    dir
}

#[test]
fn diff_reports_added_and_removed_pods() {
    let new = renamed_client_version();
    let out = moat(&["diff", "policies/demo-isolated", new.to_str().unwrap()]);
    let text = stdout(&out);
    std::fs::remove_dir_all(&new).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "added pod default/client2-0: default/client2-0 -> default/web-server-0 tcp/80: (absent) -> allowed"
        ),
        "{text}"
    );
    assert!(
        text.contains("added pod default/client2-0: every other flow: (absent) -> denied"),
        "{text}"
    );
    assert!(
        text.contains("removed pod default/client-0: every other flow: denied -> (absent)"),
        "{text}"
    );
    assert!(!text.contains("\n0 flow class(es) changed"), "{text}");
}

#[test]
fn diff_of_unrelated_clusters_lists_pods() {
    let out = moat(&["diff", "policies/shop", "policies/demo"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("removed pod db/postgres-0: every other flow: denied -> (absent)"),
        "{text}"
    );
    assert!(text.contains("added pod default/"), "{text}");
    assert!(text.contains("of added pods"), "{text}");
}

/// Returns the example command lines of `moat COMMAND --help`, without `moat`.
fn help_examples(command: &str) -> Vec<Vec<String>> {
    let help = stdout(&moat(&[command, "--help"]));
    let prefix = format!("  moat {command} ");
    help.lines()
        .filter(|l| l.starts_with(&prefix))
        .map(|l| l.split_whitespace().skip(1).map(String::from).collect())
        .collect()
}

#[test]
fn diff_help_example_shows_changes() {
    let help = stdout(&moat(&["diff", "--help"]));
    assert!(help.contains("[default: note]"), "{help}");
    let examples = help_examples("diff");
    let first = examples.first().expect("an example in diff --help");
    let args: Vec<&str> = first.iter().map(String::as_str).collect();
    let out = moat(&args);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
    assert!(!change_lines(&text).is_empty(), "{args:?}: {text}");
}

#[test]
fn diff_fail_on_warning_exits_zero() {
    let out = moat(&[
        "diff",
        "policies/shop",
        "testdata/diff/shop-next",
        "--fail-on",
        "warning",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn explain_help_examples_run() {
    let examples = help_examples("explain");
    assert_eq!(examples.len(), 2, "{examples:?}");
    for example in &examples {
        let args: Vec<&str> = example.iter().map(String::as_str).collect();
        let out = moat(&args);
        assert!(stderr(&out).is_empty(), "{args:?}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("DENIED"),
            "{args:?}: {}",
            stdout(&out)
        );
    }
}

#[test]
fn explain_service_judges_each_backend() {
    let out = moat(&[
        "explain",
        "policies/demo-isolated",
        "--from",
        "default/client-0",
        "--to",
        "svc:default/web-service",
        "--port",
        "tcp/80",
        "--expect",
        "allow",
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("svc:default/web-service tcp/80: 1 ready backend(s)"),
        "{text}"
    );
    assert!(
        text.contains("default/client-0 -> default/web-server-0 tcp/80: DENIED"),
        "{text}"
    );
    assert!(
        text.contains("to get the expected verdict, change:"),
        "{text}"
    );
}

#[test]
fn explain_exit_codes_match_query() {
    let unknown_pod = [
        "policies/demo-isolated",
        "--from",
        "default/client",
        "--to",
        "default/web-server-0",
        "--port",
        "tcp/80",
    ];
    let explain = moat(&[&["explain"][..], &unknown_pod[..]].concat());
    assert_eq!(explain.status.code(), Some(1), "{}", stderr(&explain));
    assert!(
        stderr(&explain)
            .contains("pod `default/client` not found: did you mean `default/client-0`?"),
        "{}",
        stderr(&explain)
    );
    let query = moat(&[&["query"][..], &unknown_pod[..]].concat());
    assert_eq!(
        query.status.code(),
        explain.status.code(),
        "{}",
        stderr(&query)
    );

    let bad_syntax = moat(&[
        "explain",
        "policies/demo-isolated",
        "--from",
        "default",
        "--to",
        "default/web-server-0",
        "--port",
        "tcp/80",
    ]);
    assert_eq!(bad_syntax.status.code(), Some(2), "{}", stderr(&bad_syntax));
    let bad_port = moat(&[
        "explain",
        "policies/demo-isolated",
        "--from",
        "default/client-0",
        "--to",
        "svc:default/web-service",
        "--port",
        "tcp/81",
    ]);
    assert_eq!(bad_port.status.code(), Some(1), "{}", stderr(&bad_port));
    assert!(stderr(&bad_port).contains("has no port tcp/81"));
}

#[test]
fn verify_help_example_holds() {
    let examples = help_examples("verify");
    let first = examples.first().expect("an example in verify --help");
    assert!(
        first.contains(&"policies/shop/assertions.yaml".to_string()),
        "{first:?}"
    );
    let args: Vec<&str> = first.iter().map(String::as_str).collect();
    let out = moat(&args);
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{args:?}: {text}{}",
        stderr(&out)
    );
    assert!(text.contains("4 assertion(s): 4 hold, 0 fail"), "{text}");
    assert!(root().join("docs/assertions.md").exists());
}

#[test]
fn shop_loads_beside_its_assertions() {
    let out = moat(&["check", "policies/shop"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 skipped: Assertions"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn verify_rejects_wrong_file_kind() {
    let file = temp_file("kind.yaml", "kind: NetworkPolicy\nassertions: []\n");
    let out = moat(&[
        "verify",
        "policies/shop",
        "--assert",
        file.to_str().unwrap(),
    ]);
    std::fs::remove_file(&file).unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`kind` must be `Assertions`, found `NetworkPolicy`"));
}

#[test]
fn reach_rejects_meaningless_selections() {
    let typo = moat(&["reach", "policies/shop", "--from", "frontendd/app=web"]);
    assert_eq!(typo.status.code(), Some(1), "{}", stdout(&typo));
    assert!(
        stderr(&typo)
            .contains("namespace `frontendd` not found in the input: did you mean `frontend`?"),
        "{}",
        stderr(&typo)
    );

    let no_hops = moat(&[
        "reach",
        "policies/shop",
        "--from",
        "frontend/app=web",
        "--hops",
        "0",
    ]);
    assert_eq!(no_hops.status.code(), Some(2));
    assert!(stderr(&no_hops).contains("--hops must be at least 1"));

    let empty = moat(&["reach", "policies/shop", "--from", ""]);
    assert_eq!(empty.status.code(), Some(2));
    assert!(stderr(&empty).contains("empty selector"));

    let to_typo = moat(&[
        "reach",
        "policies/shop",
        "--from",
        "frontend/app=web",
        "--to",
        "nope/app=x",
    ]);
    assert_eq!(to_typo.status.code(), Some(1));
    assert!(stderr(&to_typo).contains("namespace `nope` not found"));
}

#[test]
fn reach_help_examples_run() {
    for example in help_examples("reach") {
        if example.iter().any(|a| a == "svg") {
            continue;
        }
        let args: Vec<&str> = example.iter().map(String::as_str).collect();
        let out = moat(&args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn verify_fails_host_network_only_end() {
    let manifests = temp_file(
        "host-network.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: agent, namespace: default, labels: {app: agent}}\nspec:\n  hostNetwork: true\n  containers: [{name: agent, image: busybox}]\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: default, labels: {app: web}}\nspec:\n  containers: [{name: web, image: nginx}]\n",
    );
    let assertions = temp_file(
        "host-network-assert.yaml",
        "assertions:\n  - name: agent reaches web\n    from: {podSelector: {app: agent}}\n    to: {podSelector: {app: web}}\n    expect: allow\n",
    );
    let out = moat(&[
        "verify",
        manifests.to_str().unwrap(),
        "--assert",
        assertions.to_str().unwrap(),
    ]);
    std::fs::remove_file(&manifests).unwrap();
    std::fs::remove_file(&assertions).unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(
        text.contains("vacuous: `from` selects no pod in the input (only host-network pods"),
        "{text}"
    );
}
