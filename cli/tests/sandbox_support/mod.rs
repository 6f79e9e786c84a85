//! Helpers of the kernel tests: a sandbox guard that removes everything on
//! drop, even when the test fails, and the root check.

#![allow(dead_code)]
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers: a failed step fails the test that called it"
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn moat() -> Command {
    Command::new(env!("CARGO_BIN_EXE_moat"))
}

/// Returns whether the kernel tests can run. With `CI=true` a missing
/// kernel fails the test; elsewhere the test prints why it skips.
pub fn kernel_or_skip() -> bool {
    let reason = kernel_unavailable();
    let Some(reason) = reason else {
        return true;
    };
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("kernel test cannot run in CI: {reason}");
    }
    eprintln!("skipped: {reason}");
    false
}

fn kernel_unavailable() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("needs root to create network namespaces".to_string());
    }
    let ip = Command::new("ip").args(["netns", "list"]).output();
    if !ip.is_ok_and(|o| o.status.success()) {
        return Some("`ip netns` does not work here".to_string());
    }
    None
}

/// The outcome of `moat sandbox probe`.
pub struct ProbeReport {
    /// The kernel's verdict per `(src, dst, proto/port)`.
    pub flows: BTreeMap<(String, String, String), String>,
    /// The `disagreement:` lines: flows where kernel and evaluator differ.
    pub disagreements: Vec<String>,
}

/// A running sandbox, removed with everything it made when dropped.
pub struct Sandbox {
    pub name: String,
}

impl Sandbox {
    /// Runs `moat sandbox up` under a name unique to this process.
    pub fn up(manifests: &[PathBuf], extra: &[&str]) -> Sandbox {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("t{}x{n}", std::process::id() % 100_000);
        let sandbox = Sandbox { name };
        let output = moat()
            .args(["sandbox", "up", "--name", &sandbox.name])
            .args(manifests)
            .args(extra)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "sandbox up failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        sandbox
    }

    pub fn state(&self) -> serde_json::Value {
        let path = format!("/run/moat/{}/state.json", self.name);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    pub fn cluster_ip(&self, service: &str) -> String {
        let state = self.state();
        let services = state["services"].as_array().unwrap();
        let found = services.iter().find(|s| s["key"] == service).unwrap();
        found["cluster_ip"].as_str().unwrap().to_string()
    }

    pub fn exec(&self, pod: &str, command: &[&str]) -> Output {
        self.exec_stdin(pod, command, b"")
    }

    pub fn exec_stdin(&self, pod: &str, command: &[&str], input: &[u8]) -> Output {
        let mut child = moat()
            .args(["sandbox", "exec", "--name", &self.name, pod, "--"])
            .args(command)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    }

    /// Sends one attempt with `moat sandbox connect` and returns its output
    /// line, such as `connected lb/echo-0` or `timeout`.
    pub fn connect(
        &self,
        pod: &str,
        address: &str,
        port: &str,
        source_port: Option<u16>,
    ) -> String {
        let mut command = moat();
        command.args([
            "sandbox", "connect", "--name", &self.name, pod, address, port,
        ]);
        if let Some(source_port) = source_port {
            command.args(["--source-port", &source_port.to_string()]);
        }
        let output = command.output().unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Runs `moat sandbox apply` and returns the datapath generation it reports.
    pub fn apply(&self, manifests: &[PathBuf]) -> u64 {
        let output = moat()
            .args(["sandbox", "apply", "--name", &self.name])
            .args(manifests)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "apply failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let (_, rest) = stdout.split_once("datapath generation ").unwrap();
        let number: String = rest.chars().take_while(char::is_ascii_digit).collect();
        number.parse().unwrap()
    }

    /// Starts `moat monitor -o json` on this sandbox's datapath, writing to `path`.
    pub fn monitor(&self, path: &Path) -> std::process::Child {
        let file = std::fs::File::create(path).unwrap();
        let pins = format!("/sys/fs/bpf/moat-{}", self.name);
        moat()
            .args(["monitor", "-o", "json", "--pin-dir", &pins])
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Probes every pod pair on `ports` and returns the kernel's verdict per
    /// `(src, dst, proto/port)`, whatever the evaluator predicted.
    pub fn probe_flows(&self, ports: &[&str]) -> BTreeMap<(String, String, String), String> {
        self.probe_report(ports).flows
    }

    /// Probes every pod pair on `ports` and returns the kernel's verdicts
    /// with the probe's lines for flows where the evaluator predicted otherwise.
    pub fn probe_report(&self, ports: &[&str]) -> ProbeReport {
        let mut command = moat();
        command.args(["sandbox", "probe", "--name", &self.name, "-o", "flows"]);
        for port in ports {
            command.args(["--port", port]);
        }
        let output = command.output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        let mut flows = BTreeMap::new();
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [src, "->", dst, port, verdict] = words[..] {
                flows.insert(
                    (src.to_string(), dst.to_string(), port.to_string()),
                    verdict.to_string(),
                );
            }
        }
        let disagreements = String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter(|l| l.starts_with("disagreement:"))
            .map(str::to_string)
            .collect();
        ProbeReport {
            flows,
            disagreements,
        }
    }

    /// Removes the sandbox and checks that nothing of it is left.
    pub fn finish(self) {
        let name = self.name.clone();
        drop(self);
        assert_eq!(
            leftovers(&name),
            Vec::<String>::new(),
            "sandbox `{name}` left things behind"
        );
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = moat()
            .args(["sandbox", "down", "--name", &self.name])
            .output();
    }
}

/// Namespaces, state directories and pins of the sandbox `name` that still exist.
pub fn leftovers(name: &str) -> Vec<String> {
    let prefix = format!("moat-{name}-");
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let mut left: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&prefix))
        .map(|n| format!("namespace {n}"))
        .collect();
    for path in [
        format!("/run/moat/{name}"),
        format!("/sys/fs/bpf/moat-{name}"),
    ] {
        if Path::new(&path).exists() {
            left.push(path);
        }
    }
    left
}
