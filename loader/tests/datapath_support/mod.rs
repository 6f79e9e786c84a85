//! Shared helpers of the kernel tests: root check, pin directory guard,
//! packet builder and a compiled test cluster.

#![allow(dead_code)]
// Test helpers: a failed check must abort the test, and fixed packet
// offsets are the clearest way to build and read frames.
#![allow(
    clippy::indexing_slicing,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic
)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use moat_compiler::{CompileOptions, Image};
use moat_loader::Datapath;

/// Returns false (after printing why) when the kernel cannot be reached;
/// panics instead when `CI=true`, where skipping would hide a failure.
pub fn kernel_available(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root && Path::new("/sys/kernel/btf/vmlinux").exists() {
        return true;
    }
    let reason = "needs root and a kernel with BPF and BTF";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: {reason}");
    }
    eprintln!("skipping {test}: {reason}");
    false
}

/// A unique pin directory under /sys/fs/bpf, removed with everything in it on drop.
pub struct PinDir(pub PathBuf);

impl PinDir {
    pub fn new() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Self(PathBuf::from(format!(
            "/sys/fs/bpf/moat-test-{}-{n}",
            std::process::id()
        )))
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        if let Err(e) = moat_loader::datapath::remove_pin_dir(&self.0) {
            eprintln!("failed to remove {}: {e}", self.0.display());
        }
    }
}

/// A network namespace named `moat-<pid>-<tag>`, deleted on drop.
pub struct Netns(pub String);

impl Netns {
    pub fn new(tag: &str) -> Self {
        let name = format!("moat-{}-{tag}", std::process::id());
        ip(&["netns", "add", &name]);
        Self(name)
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.0))
    }

    /// Runs `ip -n <netns> args...` and asserts that it succeeds.
    pub fn ip(&self, args: &[&str]) -> Output {
        let mut full = vec!["-n", self.0.as_str()];
        full.extend_from_slice(args);
        ip(&full)
    }

    /// A command that runs `args` inside the namespace.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.0]).args(args);
        command
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.0])
            .output();
    }
}

/// Runs `ip args...` and asserts that it succeeds.
pub fn ip(args: &[&str]) -> Output {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const WEB: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const OTHER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
pub const OUTSIDE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const HAIRPIN: Ipv4Addr = moat_loader::layout::HAIRPIN_ADDR;

const PODS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: shop, labels: {app: client}}
spec: {containers: [{name: c, image: busybox}]}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec: {containers: [{name: c, image: nginx, ports: [{containerPort: 80}]}]}
status: {podIP: 10.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: shop, labels: {app: other}}
spec: {containers: [{name: c, image: busybox}]}
status: {podIP: 10.0.0.3}
---
apiVersion: v1
kind: Service
metadata: {name: web-svc, namespace: shop}
spec:
  clusterIP: 10.96.0.10
  selector: {app: web}
  ports: [{port: 8080, targetPort: 80, protocol: TCP}]
"#;

/// NetworkPolicy that lets only `client` reach `web` on TCP 80.
pub const ALLOW_CLIENT: &str = r#"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-client, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: client}}}]
    ports: [{port: 80, protocol: TCP}]
"#;

/// NetworkPolicy that isolates `web` with no rule.
pub const DENY_ALL: &str = r#"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-deny-all, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]
"#;

/// NetworkPolicy that lets `web` reach itself on TCP 80, and nothing else.
pub const ALLOW_SELF: &str = r#"
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{port: 80, protocol: TCP}]
"#;

/// Compiles the test pods plus `policies` into an image.
pub fn image(policies: &str, generation: u64) -> Image {
    compile(
        &format!("{PODS}{policies}"),
        CompileOptions {
            generation,
            ..CompileOptions::default()
        },
    )
}

/// Compiles manifests with the given options.
pub fn compile(text: &str, options: CompileOptions) -> Image {
    let loaded = moat_ir::load_str("test.yaml", text, &moat_ir::LoadOptions::default());
    assert!(
        !loaded
            .diagnostics
            .iter()
            .any(|d| d.severity == moat_ir::Severity::Error),
        "test manifests do not load: {:?}",
        loaded.diagnostics
    );
    moat_compiler::compile(&loaded.cluster, &options).expect("test cluster compiles")
}

/// Opens a datapath in `pin` and records every test pod as living behind
/// the loopback device, which is where BPF_PROG_RUN runs packets.
pub fn datapath(pin: &PinDir) -> Datapath {
    datapath_with(pin, &[CLIENT, WEB, OTHER])
}

/// Like [`datapath`] for the pods at `ips`.
pub fn datapath_with(pin: &PinDir, ips: &[Ipv4Addr]) -> Datapath {
    let dp = Datapath::open_or_create(&pin.0).expect("datapath loads");
    for &ip in ips {
        let link = moat_loader::layout::Link {
            ifindex: 1,
            ..Default::default()
        };
        dp.set_link(ip, &link).expect("link recorded");
    }
    dp
}

pub const TCP_SYN: u8 = 0x02;
pub const TCP_ACK: u8 = 0x10;
pub const TCP_SYNACK: u8 = 0x12;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_SCTP: u8 = 132;

/// Builds an Ethernet + IPv4 + L4 packet with valid checksums.
pub fn packet(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), protocol: u8, tcp_flags: u8) -> Vec<u8> {
    let l4 = match protocol {
        PROTO_TCP => {
            let mut h = vec![0u8; 20];
            h[12] = 5 << 4;
            h[13] = tcp_flags;
            h[14..16].copy_from_slice(&1024u16.to_be_bytes());
            h
        }
        PROTO_UDP => {
            let mut h = vec![0u8; 8];
            h[4..6].copy_from_slice(&8u16.to_be_bytes());
            h
        }
        _ => vec![0u8; 12],
    };
    let mut l4 = l4;
    l4[0..2].copy_from_slice(&src.1.to_be_bytes());
    l4[2..4].copy_from_slice(&dst.1.to_be_bytes());

    let mut ip = vec![0u8; 20];
    ip[0] = 0x45;
    let total = (20 + l4.len()) as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[8] = 64;
    ip[9] = protocol;
    ip[12..16].copy_from_slice(&src.0.octets());
    ip[16..20].copy_from_slice(&dst.0.octets());
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());

    let csum_at = match protocol {
        PROTO_TCP => Some(16),
        PROTO_UDP => Some(6),
        _ => None,
    };
    if let Some(at) = csum_at {
        let sum = l4_checksum(&ip, &l4);
        l4[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    }

    let mut frame = vec![0u8; 14];
    frame[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x02]);
    frame[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&l4);
    frame
}

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    for chunk in data.chunks(2) {
        let word = match chunk {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        acc += u32::from(word);
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

pub fn checksum(data: &[u8]) -> u16 {
    fold(sum16(data, 0))
}

/// Sums the L4 segment with its IPv4 pseudo header; 0 means valid when the
/// segment already holds its checksum.
fn l4_checksum(ip: &[u8], l4: &[u8]) -> u16 {
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&ip[12..20]);
    pseudo.push(0);
    pseudo.push(ip[9]);
    pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    fold(sum16(l4, sum16(&pseudo, 0)))
}

/// Parsed view of an output packet.
#[derive(Debug, PartialEq, Eq)]
pub struct Tuple {
    pub src: (Ipv4Addr, u16),
    pub dst: (Ipv4Addr, u16),
}

pub fn tuple(frame: &[u8]) -> Tuple {
    let ip = &frame[14..34];
    let l4 = &frame[34..];
    Tuple {
        src: (
            Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
            u16::from_be_bytes([l4[0], l4[1]]),
        ),
        dst: (
            Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
            u16::from_be_bytes([l4[2], l4[3]]),
        ),
    }
}

/// Returns whether the IPv4 header and TCP/UDP checksums of `frame` verify.
pub fn checksums_valid(frame: &[u8]) -> bool {
    let ip = &frame[14..34];
    let l4 = &frame[34..];
    checksum(ip) == 0 && (ip[9] != PROTO_TCP && ip[9] != PROTO_UDP || l4_checksum(ip, l4) == 0)
}

pub const TC_ACT_OK: u32 = 0;
pub const TC_ACT_SHOT: u32 = 2;
pub const TC_ACT_REDIRECT: u32 = 7;

pub const PROTO_ICMP: u8 = 1;

/// Builds an ICMP destination unreachable (port unreachable) from `src` to
/// `dst` that quotes the IPv4 header and first 8 L4 bytes of `quoted`, an
/// Ethernet frame as [`packet`] builds it.
pub fn icmp_error(src: Ipv4Addr, dst: Ipv4Addr, quoted: &[u8]) -> Vec<u8> {
    let mut icmp = vec![3u8, 3, 0, 0, 0, 0, 0, 0];
    icmp.extend_from_slice(&quoted[14..14 + 28]);
    let sum = checksum(&icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());

    let mut frame = packet((src, 0), (dst, 0), PROTO_UDP, 0);
    frame.truncate(14 + 20);
    frame[14 + 9] = PROTO_ICMP;
    let total = (20 + icmp.len()) as u16;
    frame[16..18].copy_from_slice(&total.to_be_bytes());
    frame[24..26].copy_from_slice(&[0, 0]);
    let sum = checksum(&frame[14..34]);
    frame[24..26].copy_from_slice(&sum.to_be_bytes());
    frame.extend_from_slice(&icmp);
    frame
}

/// The outer addresses of an ICMP error and the tuple it quotes.
pub fn icmp_tuples(frame: &[u8]) -> ((Ipv4Addr, Ipv4Addr), Tuple) {
    let ip = &frame[14..34];
    let outer = (
        Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
        Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
    );
    let mut quoted = vec![0u8; 14];
    quoted.extend_from_slice(&frame[42..]);
    (outer, tuple(&quoted))
}

/// Returns whether the outer IPv4, the ICMP and the quoted IPv4 checksums
/// of an ICMP error verify.
pub fn icmp_checksums_valid(frame: &[u8]) -> bool {
    checksum(&frame[14..34]) == 0 && checksum(&frame[34..]) == 0 && checksum(&frame[42..62]) == 0
}
