//! The `moat` binary end to end: exit codes, stdin handling and every output format.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code fails loudly on broken fixtures"
)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The repository root, so that paths in arguments and output are relative.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `moat` with `args`, feeding `stdin`.
fn moat(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("MOAT_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap()
}

fn demo_text() -> String {
    ["namespace.yaml", "client.yaml", "web-server.yaml"]
        .iter()
        .map(|f| std::fs::read_to_string(root().join("policies/demo").join(f)).unwrap())
        .collect::<Vec<_>>()
        .join("---\n")
}

#[test]
fn check_clean_exits_zero() {
    let out = moat(&["check", "policies/demo"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    insta::assert_snapshot!(stdout(&out));
}

#[test]
fn check_errors_exit_one() {
    let out = moat(&["check", "testdata/invalid/invalid-cidr.yaml"], "");
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("moat::invalid-cidr"));
    assert!(stderr(&out).contains("invalid-cidr.yaml:16:15"));
    assert!(stdout(&out).contains("1 error"));
}

#[test]
fn check_reports_every_problem() {
    let out = moat(&["check", "testdata/invalid"], "");
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    for code in [
        "moat::invalid-yaml",
        "moat::missing-field",
        "moat::wrong-type",
        "moat::unknown-field",
        "moat::invalid-selector",
        "moat::invalid-cidr",
        "moat::except-outside-cidr",
        "moat::port-out-of-range",
        "moat::invalid-end-port",
        "moat::unknown-protocol",
        "moat::duplicate-object",
        "moat::unresolved-named-port",
        "moat::undeclared-namespace",
    ] {
        assert!(err.contains(code), "`{code}` missing from:\n{err}");
    }
}

#[test]
fn check_warnings_fail_only_when_denied() {
    let file = "testdata/invalid/undeclared-namespace.yaml";
    let out = moat(&["check", file], "");
    assert_eq!(code(&out), 0);
    assert!(stderr(&out).contains("moat::undeclared-namespace"));
    let denied = moat(&["check", "--deny-warnings", file], "");
    assert_eq!(code(&denied), 1);
}

#[test]
fn check_quiet_prints_only_summary() {
    let out = moat(
        &["check", "--quiet", "testdata/invalid/invalid-cidr.yaml"],
        "",
    );
    assert_eq!(code(&out), 1);
    assert_eq!(stderr(&out), "");
    assert!(stdout(&out).contains("1 error"));
}

#[test]
fn usage_errors_exit_two() {
    let cases: &[&[&str]] = &[
        &["check"],
        &["check", "--no-such-flag", "policies/demo"],
        &["no-such-command"],
        &["check", "--pod-cidr", "not-a-cidr", "policies/demo"],
        &["check", "no/such/path.yaml"],
        &["matrix", "policies/demo", "--port", "tcp/0"],
        &[
            "query",
            "policies/demo",
            "--from",
            "nobody",
            "--to",
            "x/y",
            "--port",
            "tcp/80",
        ],
    ];
    for args in cases {
        let out = moat(args, "");
        assert_eq!(code(&out), 2, "moat {}: {}", args.join(" "), stderr(&out));
    }
}

#[test]
fn help_and_version_exit_zero() {
    assert_eq!(code(&moat(&["--help"], "")), 0);
    assert_eq!(code(&moat(&["--version"], "")), 0);
    assert_eq!(code(&moat(&["check", "--help"], "")), 0);
}

#[test]
fn check_reads_stdin() {
    let out = moat(&["check", "-"], &demo_text());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).starts_with("1 file: "), "{}", stdout(&out));
    assert!(stdout(&out).contains("2 pods"));
}

#[test]
fn check_skips_unknown_kinds() {
    let rendered_chart = format!(
        "---\n# Source: shop/templates/empty.yaml\n---\n{}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: default}}\ndata: {{a: b}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: web, namespace: default}}\n",
        demo_text()
    );
    let out = moat(&["check", "-"], &rendered_chart);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains("(2 skipped: ConfigMap, ServiceAccount)"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn eval_allows_demo_flow() {
    let flow = "default/client-0 -> svc:default/web-service tcp/80\n";
    let out = moat(&["eval", "policies/demo"], flow);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "default/client-0 -> svc:default/web-service tcp/80 allow\n"
    );
}

#[test]
fn eval_denies_isolated_flow() {
    let flow = "default/client-0 -> svc:default/web-service tcp/80\n";
    let out = moat(&["eval", "policies/demo-isolated"], flow);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "default/client-0 -> svc:default/web-service tcp/80 deny\n"
    );
}

#[test]
fn eval_echoes_comments_and_blank_lines() {
    let input =
        "# demo flows\n\ndefault/web-server-0 -> default/client-0 tcp/80 deny # stale verdict\n";
    let out = moat(&["eval", "policies/demo-isolated"], input);
    assert_eq!(
        stdout(&out),
        "# demo flows\n\ndefault/web-server-0 -> default/client-0 tcp/80 allow\n"
    );
    assert_eq!(code(&out), 1, "a stale verdict is an error");
    assert!(
        stderr(&out).contains("line 3: expected `deny`, moat says `allow`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn eval_malformed_line_names_line_number() {
    let input = "# header\ndefault/client-0 -> default/web-server-0 tcp/80\ndefault/client-0 => nowhere\ndefault/client-0 -> default/web-server-0 tcp/99999\n";
    let out = moat(&["eval", "policies/demo"], input);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert!(err.contains("line 3:"), "{err}");
    assert!(err.contains("line 4:"), "{err}");
    assert_eq!(
        stdout(&out),
        "# header\ndefault/client-0 -> default/web-server-0 tcp/80 allow\n"
    );
}

#[test]
fn eval_unknown_pod_is_an_error() {
    let out = moat(
        &["eval", "policies/demo"],
        "default/ghost -> default/client-0 tcp/80\n",
    );
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("pod `default/ghost` not found"));
}

#[test]
fn eval_rejects_manifests_from_stdin() {
    let out = moat(&["eval", "-"], "");
    assert_eq!(code(&out), 2);
}

#[test]
fn eval_refuses_invalid_manifests() {
    let out = moat(&["eval", "testdata/invalid/invalid-cidr.yaml"], "");
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("moat::invalid-cidr"));
}

#[test]
fn shop_checks_clean() {
    let out = moat(&["check", "--deny-warnings", "policies/shop"], "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert!(stdout(&out).ends_with("0 errors, 0 warnings\n"));
}

#[test]
fn shop_flows_match_expectations() {
    let flows = std::fs::read_to_string(root().join("policies/shop/flows.txt")).unwrap();
    let out = moat(&["eval", "policies/shop"], &flows);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), flows);
}

const QUERY: &[&str] = &[
    "query",
    "policies/demo-isolated",
    "--from",
    "default/client-0",
    "--to",
    "svc:default/web-service",
    "--port",
    "80/tcp",
];

fn query(format: &str) -> String {
    let mut args = QUERY.to_vec();
    args.extend(["-o", format]);
    let out = moat(&args, "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn query_text() {
    insta::assert_snapshot!(query("text"));
}

#[test]
fn query_json() {
    let text = query("json");
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(value["verdict"], "deny");
    insta::assert_snapshot!(text);
}

#[test]
fn query_yaml() {
    insta::assert_snapshot!(query("yaml"));
}

fn matrix(format: &str) -> String {
    let args = [
        "matrix",
        "policies/demo-isolated",
        "--port",
        "80/tcp",
        "-o",
        format,
    ];
    let out = moat(&args, "");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    stdout(&out)
}

#[test]
fn matrix_table() {
    insta::assert_snapshot!(matrix("table"));
}

#[test]
fn matrix_json() {
    let text = matrix("json");
    let cells: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(cells.as_array().is_some_and(|c| !c.is_empty()));
    insta::assert_snapshot!(text);
}

#[test]
fn matrix_csv() {
    insta::assert_snapshot!(matrix("csv"));
}

#[test]
fn matrix_md() {
    insta::assert_snapshot!(matrix("md"));
}
