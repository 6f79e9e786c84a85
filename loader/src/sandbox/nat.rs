//! Service translation without the eBPF datapath: nftables DNAT rules in the
//! node namespace, one per ClusterIP port, spread at random over backends.
//!
//! Sandboxes started with [`DatapathMode::None`] use this, so the plain
//! routing path can be measured and tested against the eBPF one.

use std::collections::BTreeSet;
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::Stdio;

use super::SandboxError;
use super::state::{DatapathMode, ServiceNode, State};
use super::topology::GATEWAY;

/// Renders the nftables ruleset that translates every ClusterIP port of `services`.
///
/// The table is created empty and deleted first, so loading the ruleset
/// replaces an older one in one transaction.
pub fn ruleset(services: &[ServiceNode]) -> String {
    let mut text = String::from("table ip moat {}\ndelete table ip moat\ntable ip moat {\n");
    text.push_str(
        "  chain services {\n    type nat hook prerouting priority dstnat; policy accept;\n",
    );
    for service in services {
        for port in &service.ports {
            if port.backends.is_empty() {
                continue;
            }
            let targets: Vec<String> = port
                .backends
                .iter()
                .enumerate()
                .map(|(i, (ip, target))| format!("{i} : {ip} . {target}"))
                .collect();
            text.push_str(&format!(
                "    ip daddr {} {} dport {} dnat ip addr . port to numgen random mod {} map {{ {} }}\n",
                service.cluster_ip,
                port.port.protocol.lower(),
                port.port.port,
                port.backends.len(),
                targets.join(", ")
            ));
        }
    }
    text.push_str("  }\n");
    text.push_str(&hairpin_chain(services));
    text.push_str("}\n");
    text
}

/// Renders the source NAT for hairpin traffic. A backend that reaches itself
/// through its own ClusterIP would receive a packet from its own address,
/// which its kernel drops as a martian. So such packets get the gateway as
/// source, as kube-proxy's masquerade does.
fn hairpin_chain(services: &[ServiceNode]) -> String {
    let backends: BTreeSet<Ipv4Addr> = services
        .iter()
        .flat_map(|s| s.ports.iter())
        .flat_map(|p| p.backends.iter().map(|(ip, _)| *ip))
        .collect();
    let mut text = String::from(
        "  chain hairpin {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for ip in backends {
        text.push_str(&format!(
            "    ct status dnat ip saddr {ip} ip daddr {ip} snat to {GATEWAY}\n"
        ));
    }
    text.push_str("  }\n");
    text
}

/// Loads the service rules into the node namespace, for sandboxes without
/// the eBPF datapath; does nothing otherwise.
pub fn install(state: &State) -> Result<(), SandboxError> {
    if state.datapath != DatapathMode::None {
        return Ok(());
    }
    let rules = ruleset(&state.services);
    let mut child = super::netns::exec_command(&state.node_ns, "nft", &["-f".into(), "-".into()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| SandboxError::Spawn {
            command: "nft".to_string(),
            source,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(rules.as_bytes())
            .map_err(|source| SandboxError::Io {
                operation: "write rules to nft".to_string(),
                source,
            })?;
    }
    let output = child
        .wait_with_output()
        .map_err(|source| SandboxError::Io {
            operation: "wait for nft".to_string(),
            source,
        })?;
    if !output.status.success() {
        return Err(SandboxError::Command {
            command: format!("nft -f - in `{}`", state.node_ns),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::state::{L4Port, ServicePortNode};
    use moat_ir::Protocol;

    #[test]
    fn ruleset_translates_and_hairpins() {
        let services = vec![ServiceNode {
            key: "x/web".to_string(),
            cluster_ip: Ipv4Addr::new(10, 96, 0, 10),
            ports: vec![ServicePortNode {
                port: L4Port {
                    protocol: Protocol::Tcp,
                    port: 80,
                },
                backends: vec![
                    (Ipv4Addr::new(10, 0, 0, 1), 8080),
                    (Ipv4Addr::new(10, 0, 0, 2), 8080),
                ],
            }],
        }];
        let text = ruleset(&services);
        assert!(text.starts_with("table ip moat {}\ndelete table ip moat\n"));
        assert!(text.contains(
            "ip daddr 10.96.0.10 tcp dport 80 dnat ip addr . port to numgen random mod 2 \
             map { 0 : 10.0.0.1 . 8080, 1 : 10.0.0.2 . 8080 }"
        ));
        assert!(
            text.contains("ct status dnat ip saddr 10.0.0.2 ip daddr 10.0.0.2 snat to 169.254.1.1")
        );
    }
}
