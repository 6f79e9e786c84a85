//! The built-in workload: answers on every declared TCP and UDP port with
//! the pod's name, so a probe learns which pod it reached.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::Duration;

use moat_ir::Protocol;

use super::SandboxError;
use super::state::L4Port;

/// How long a TCP connection may stay open after the answer.
const LINGER: Duration = Duration::from_secs(2);

/// Binds every TCP and UDP port, writes `ready` (when given) once all are
/// bound, and serves until the process is killed.
///
/// SCTP ports are skipped: the kernel has no SCTP stack to bind them.
pub fn serve(name: &str, ports: &[L4Port], ready: Option<&Path>) -> Result<(), SandboxError> {
    let answer = format!("{name}\n");
    let addresses = local_addresses();
    let mut workers = Vec::new();
    for port in ports {
        match port.protocol {
            Protocol::Tcp => {
                let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, port.port))
                    .map_err(|e| bind_error(port, e))?;
                let answer = answer.clone();
                workers.push(thread::spawn(move || serve_tcp(&listener, &answer)));
            }
            Protocol::Udp => {
                for address in &addresses {
                    let socket =
                        UdpSocket::bind((*address, port.port)).map_err(|e| bind_error(port, e))?;
                    let answer = answer.clone();
                    workers.push(thread::spawn(move || serve_udp(&socket, &answer)));
                }
            }
            Protocol::Sctp => {}
        }
    }
    if let Some(ready) = ready {
        std::fs::write(ready, b"ready\n").map_err(|source| SandboxError::Io {
            operation: format!("write `{}`", ready.display()),
            source,
        })?;
    }
    for worker in workers {
        let _ = worker.join();
    }
    Ok(())
}

/// Lists the IPv4 addresses of this namespace, or the wildcard when `ip`
/// cannot list them.
///
/// A UDP socket bound to the wildcard replies from the address that the
/// route selects, not from the datagram's destination. The outside namespace
/// has many addresses, and a client's connected socket drops a reply from
/// another address, so each address gets its own socket.
fn local_addresses() -> Vec<Ipv4Addr> {
    let listed = Command::new("ip")
        .args(["-o", "-4", "addr", "show"])
        .output();
    let text = listed
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let found: Vec<Ipv4Addr> = text
        .lines()
        .filter_map(|line| line.split_once(" inet "))
        .filter_map(|(_, rest)| rest.split('/').next()?.parse().ok())
        .collect();
    if found.is_empty() {
        vec![Ipv4Addr::UNSPECIFIED]
    } else {
        found
    }
}

fn bind_error(port: &L4Port, source: std::io::Error) -> SandboxError {
    SandboxError::Io {
        operation: format!("bind {}/{}", port.protocol.lower(), port.port),
        source,
    }
}

fn serve_tcp(listener: &TcpListener, answer: &str) {
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                let answer = answer.to_string();
                thread::spawn(move || answer_tcp(stream, &answer));
            }
            Err(e) => tracing::warn!(error = %e, "accept failed"),
        }
    }
}

/// Writes the answer, then drains the peer until it closes, so that unread
/// request bytes never turn the close into a reset.
fn answer_tcp(mut stream: TcpStream, answer: &str) {
    if stream.write_all(answer.as_bytes()).is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(LINGER));
    let mut buffer = [0u8; 512];
    while matches!(stream.read(&mut buffer), Ok(n) if n > 0) {}
}

fn serve_udp(socket: &UdpSocket, answer: &str) {
    let mut buffer = [0u8; 2048];
    loop {
        match socket.recv_from(&mut buffer) {
            Ok((_, peer)) => {
                let _ = socket.send_to(answer.as_bytes(), peer);
            }
            Err(e) => tracing::warn!(error = %e, "receive failed"),
        }
    }
}
