//! Conformance cases: a cluster, policies and expected verdicts, read from
//! `testdata/conformance/` (format in that folder's README).
//!
//! Every engine's tests read the cases through this module, so the evaluator,
//! the compiled image, the verifier and the kernel are held to the same lines.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use crate::model::Protocol;

/// One folder with `cluster.yaml`, `policies.yaml` and `expected.txt`.
#[derive(Debug, Clone)]
pub struct Case {
    /// Path relative to the conformance root, such as `k8s-e2e/01-default-deny-ingress`.
    pub name: String,
    pub dir: PathBuf,
    pub expectations: Vec<Expectation>,
}

impl Case {
    /// The manifest files of the case, in load order.
    pub fn manifests(&self) -> Vec<PathBuf> {
        ["cluster.yaml", "policies.yaml"]
            .iter()
            .map(|f| self.dir.join(f))
            .filter(|p| p.exists())
            .collect()
    }

    /// The source suite: the first component of the name.
    pub fn suite(&self) -> &str {
        self.name.split('/').next().unwrap_or("")
    }
}

/// One end of an expected flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Pod {
        namespace: String,
        name: String,
    },
    Ip(IpAddr),
    /// `ext:<first>-<last>`: every address of the range outside the cluster.
    Range(Ipv4Addr, Ipv4Addr),
}

/// The connection-set form's right-hand side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnSet {
    All,
    None,
    /// Exactly these protocol/port pairs.
    Ports(Vec<(Protocol, u16)>),
}

/// One data line of `expected.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub line: usize,
    pub src: End,
    pub dst: End,
    pub expected: Expected,
    /// The line is a pod talking to itself.
    pub loopback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Port form: one protocol and port, allowed or not.
    Port {
        protocol: Protocol,
        port: u16,
        allowed: bool,
    },
    Set(ConnSet),
}

/// Finds every case below `root`, in name order.
pub fn discover(root: &Path) -> Result<Vec<Case>, String> {
    let mut dirs = Vec::new();
    collect_case_dirs(root, &mut dirs);
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let name = dir.strip_prefix(root).unwrap_or(&dir).display().to_string();
            let text = std::fs::read_to_string(dir.join("expected.txt"))
                .map_err(|e| format!("{name}: failed to read expected.txt: {e}"))?;
            let expectations = parse_expected(&text).map_err(|e| format!("{name}: {e}"))?;
            Ok(Case {
                name,
                dir,
                expectations,
            })
        })
        .collect()
}

fn collect_case_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if dir.join("expected.txt").is_file() {
        out.push(dir.to_path_buf());
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.path().is_dir() {
            collect_case_dirs(&entry.path(), out);
        }
    }
}

/// Parses the lines of an `expected.txt`.
pub fn parse_expected(text: &str) -> Result<Vec<Expectation>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let (body, comment) = match raw.split_once('#') {
            Some((b, c)) => (b.trim(), c.trim()),
            None => (raw.trim(), ""),
        };
        if body.is_empty() {
            continue;
        }
        let line = i + 1;
        let parsed = parse_line(body, line).map_err(|e| format!("line {line}: {e}"))?;
        out.push(Expectation {
            loopback: comment.starts_with("loopback"),
            ..parsed
        });
    }
    Ok(out)
}

fn parse_line(body: &str, line: usize) -> Result<Expectation, String> {
    let (src, rest) = body.split_once("->").ok_or("missing `->`")?;
    let words: Vec<&str> = rest.split_whitespace().collect();
    let (dst, expected) = match words.as_slice() {
        [dst, port, verdict] => (*dst, port_form(port, verdict)?),
        [dst, set] => (*dst, Expected::Set(conn_set(set)?)),
        _ => return Err(format!("unrecognised line `{body}`")),
    };
    Ok(Expectation {
        line,
        src: parse_end(src.trim())?,
        dst: parse_end(dst)?,
        expected,
        loopback: false,
    })
}

fn port_form(port: &str, verdict: &str) -> Result<Expected, String> {
    let (protocol, port) = parse_proto_port(port)?;
    let allowed = match verdict {
        "allow" => true,
        "deny" => false,
        other => return Err(format!("unknown verdict `{other}`")),
    };
    Ok(Expected::Port {
        protocol,
        port,
        allowed,
    })
}

fn conn_set(text: &str) -> Result<ConnSet, String> {
    match text {
        "all" => Ok(ConnSet::All),
        "none" => Ok(ConnSet::None),
        list => list
            .split(',')
            .map(parse_proto_port)
            .collect::<Result<_, _>>()
            .map(ConnSet::Ports),
    }
}

/// Parses `tcp/80`.
pub fn parse_proto_port(text: &str) -> Result<(Protocol, u16), String> {
    let (proto, port) = text
        .split_once('/')
        .ok_or_else(|| format!("expected `<proto>/<port>`, found `{text}`"))?;
    let protocol = Protocol::parse(proto).ok_or_else(|| format!("unknown protocol `{proto}`"))?;
    let port = port.parse().map_err(|_| format!("invalid port `{port}`"))?;
    Ok((protocol, port))
}

fn parse_end(text: &str) -> Result<End, String> {
    if let Some(ip) = text.strip_prefix("ip:") {
        return ip
            .parse()
            .map(End::Ip)
            .map_err(|_| format!("invalid address `{ip}`"));
    }
    if let Some(range) = text.strip_prefix("ext:") {
        let (first, last) = range
            .split_once('-')
            .ok_or("expected `ext:<first>-<last>`")?;
        let first = first
            .parse()
            .map_err(|_| format!("invalid address `{first}`"))?;
        let last = last
            .parse()
            .map_err(|_| format!("invalid address `{last}`"))?;
        return Ok(End::Range(first, last));
    }
    let (namespace, name) = text
        .split_once('/')
        .ok_or_else(|| format!("expected `namespace/pod`, found `{text}`"))?;
    Ok(End::Pod {
        namespace: namespace.to_string(),
        name: name.to_string(),
    })
}

mod check;

pub use check::{Judge, Mismatch, check_case, evaluator_judge};
