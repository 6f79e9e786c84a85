//! The probe engine: real connection attempts from one namespace to an
//! address, many in parallel, each reporting what the kernel did.

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use moat_ir::Protocol;
use serde::Serialize;
use socket2::{Domain, Socket, Type};

use super::netns;
use super::sctp::{self, Arrivals};

/// One connection attempt.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// Namespace the attempt starts in.
    pub src_netns: String,
    /// Source address to bind, for namespaces that own several.
    pub src_ip: Option<Ipv4Addr>,
    /// Source port to bind; `None` lets the kernel pick one.
    pub src_port: Option<u16>,
    pub dst: Ipv4Addr,
    pub protocol: Protocol,
    pub port: u16,
}

/// Result of an attempt, as the kernel decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "lowercase")]
pub enum Outcome {
    /// The peer answered; `peer` is the first line of a responder's answer.
    Connected { peer: Option<String> },
    /// The destination's kernel refused the port, so the packet arrived.
    Refused,
    /// An SCTP INIT arrived at the destination namespace.
    Arrived,
    /// Nothing came back in time: the packet was dropped on the way.
    Timeout,
    /// The attempt failed for another reason, such as a missing route.
    Failed { error: String },
}

impl Outcome {
    /// Returns whether the packet reached the destination.
    pub fn reached(&self) -> bool {
        matches!(
            self,
            Outcome::Connected { .. } | Outcome::Refused | Outcome::Arrived
        )
    }

    /// The responder pod that answered, if one did.
    pub fn peer(&self) -> Option<&str> {
        match self {
            Outcome::Connected { peer } => peer.as_deref(),
            _ => None,
        }
    }
}

/// Settings for a batch of attempts.
#[derive(Debug, Clone, Copy)]
pub struct Engine {
    pub timeout: Duration,
    pub parallelism: usize,
}

impl Default for Engine {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(1000),
            parallelism: 64,
        }
    }
}

impl Engine {
    /// Runs every attempt, at most `parallelism` at a time, and returns the
    /// outcomes in the order of `attempts`.
    ///
    /// SCTP attempts are watched for in `watch` (every namespace that may
    /// receive one) by raw-socket listeners that run for the whole batch.
    pub fn run(&self, attempts: &[Attempt], watch: &[String]) -> Vec<Outcome> {
        let listeners = if attempts.iter().any(|a| a.protocol == Protocol::Sctp) {
            Listeners::start(watch)
        } else {
            Listeners::none()
        };
        let outcomes = Mutex::new(vec![Outcome::Timeout; attempts.len()]);
        let next = AtomicUsize::new(0);
        let tags = AtomicU32::new(seed());
        let workers = self.parallelism.clamp(1, attempts.len().max(1));
        thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    let mut current: Option<String> = None;
                    loop {
                        let index = next.fetch_add(1, Ordering::SeqCst);
                        let Some(attempt) = attempts.get(index) else {
                            break;
                        };
                        let outcome = self.attempt_in(attempt, &mut current, &listeners, &tags);
                        if let Some(slot) =
                            outcomes.lock().ok().as_mut().and_then(|o| o.get_mut(index))
                        {
                            *slot = outcome;
                        }
                    }
                });
            }
        });
        listeners.stop();
        outcomes.into_inner().unwrap_or_default()
    }

    fn attempt_in(
        &self,
        attempt: &Attempt,
        current: &mut Option<String>,
        listeners: &Listeners,
        tags: &AtomicU32,
    ) -> Outcome {
        if current.as_deref() != Some(attempt.src_netns.as_str()) {
            if let Err(e) = netns::enter(&attempt.src_netns) {
                return Outcome::Failed {
                    error: e.to_string(),
                };
            }
            *current = Some(attempt.src_netns.clone());
        }
        match attempt.protocol {
            Protocol::Tcp => self.tcp(attempt),
            Protocol::Udp => self.udp(attempt),
            Protocol::Sctp => {
                let tag = tags.fetch_add(1, Ordering::SeqCst).max(1);
                self.sctp(attempt, tag, &listeners.arrivals)
            }
        }
    }

    fn tcp(&self, attempt: &Attempt) -> Outcome {
        let dst = SocketAddr::from((attempt.dst, attempt.port));
        let stream = match (attempt.src_ip, attempt.src_port) {
            (None, None) => TcpStream::connect_timeout(&dst, self.timeout),
            (ip, port) => connect_from(source(ip, port), dst, self.timeout),
        };
        let mut stream = match stream {
            Ok(stream) => stream,
            Err(e) => return failure(&e),
        };
        let _ = stream.set_read_timeout(Some(self.timeout));
        let _ = stream.write_all(b"GET / HTTP/1.0\r\nHost: moat\r\n\r\n");
        let mut answer = Vec::new();
        let mut buffer = [0u8; 1024];
        while answer.len() < 4096 {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(buffer.get(..n).unwrap_or_default()),
            }
        }
        Outcome::Connected {
            peer: responder_name(&answer),
        }
    }

    fn udp(&self, attempt: &Attempt) -> Outcome {
        let src = source(attempt.src_ip, attempt.src_port);
        let socket = match UdpSocket::bind(src) {
            Ok(s) => s,
            Err(e) => return failure(&e),
        };
        if let Err(e) = socket.connect((attempt.dst, attempt.port)) {
            return failure(&e);
        }
        // Two sends half a timeout apart, in case the first one is lost.
        let half = (self.timeout / 2).max(Duration::from_millis(1));
        let _ = socket.set_read_timeout(Some(half));
        let mut buffer = [0u8; 512];
        for _ in 0..2 {
            if let Err(e) = socket.send(b"probe") {
                return failure(&e);
            }
            match socket.recv(&mut buffer) {
                Ok(n) => {
                    return Outcome::Connected {
                        peer: responder_name(buffer.get(..n).unwrap_or_default()),
                    };
                }
                Err(e) if is_timeout(&e) => continue,
                Err(e) => return failure(&e),
            }
        }
        Outcome::Timeout
    }

    fn sctp(&self, attempt: &Attempt, tag: u32, arrivals: &Arrivals) -> Outcome {
        let src_port = u16::try_from(tag % 28_000 + 32_768).unwrap_or(40_000);
        if let Err(e) = sctp::send_init(attempt.dst, src_port, attempt.port, tag) {
            return failure(&e);
        }
        let start = Instant::now();
        while start.elapsed() < self.timeout {
            let seen = arrivals
                .lock()
                .map(|m| m.get(&tag).copied())
                .unwrap_or(None);
            if seen.is_some() {
                return Outcome::Arrived;
            }
            thread::sleep(Duration::from_millis(5));
        }
        Outcome::Timeout
    }
}

/// Picks a start value for SCTP initiate tags, so two probe runs use different tags.
fn seed() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(1);
    (nanos ^ std::process::id().rotate_left(16)) | 1
}

/// Connects from a chosen source address, which std's `TcpStream` cannot do.
fn connect_from(src: SocketAddr, dst: SocketAddr, timeout: Duration) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&src.into())?;
    socket.connect_timeout(&dst.into(), timeout)?;
    Ok(socket.into())
}

fn source(ip: Option<Ipv4Addr>, port: Option<u16>) -> SocketAddr {
    SocketAddr::from((ip.unwrap_or(Ipv4Addr::UNSPECIFIED), port.unwrap_or(0)))
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

fn failure(e: &std::io::Error) -> Outcome {
    match e.kind() {
        ErrorKind::ConnectionRefused => Outcome::Refused,
        _ if is_timeout(e) => Outcome::Timeout,
        _ => Outcome::Failed {
            error: e.to_string(),
        },
    }
}

/// The pod name in a responder's answer; `None` for other servers, such as
/// nginx, whose answers start with an HTTP status line.
fn responder_name(answer: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(answer);
    let line = text.lines().next()?.trim();
    if line.is_empty() || line.starts_with("HTTP/") {
        return None;
    }
    Some(line.to_string())
}

/// Raw-socket SCTP listeners, one thread per watched namespace.
struct Listeners {
    arrivals: Arrivals,
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<()>>,
}

impl Listeners {
    fn none() -> Self {
        Self {
            arrivals: Arrivals::default(),
            stop: Arc::new(AtomicBool::new(true)),
            threads: Vec::new(),
        }
    }

    fn start(namespaces: &[String]) -> Self {
        let mut listeners = Self::none();
        listeners.stop.store(false, Ordering::SeqCst);
        let unique: BTreeSet<&String> = namespaces.iter().collect();
        for ns in unique {
            let ready = Arc::new(AtomicBool::new(false));
            let (ns, arrivals, stop, flag) = (
                ns.clone(),
                listeners.arrivals.clone(),
                listeners.stop.clone(),
                ready.clone(),
            );
            listeners
                .threads
                .push(thread::spawn(move || match netns::enter(&ns) {
                    Ok(()) => {
                        if let Err(e) = sctp::listen(&arrivals, &flag, &stop) {
                            tracing::warn!(netns = %ns, error = %e, "sctp listener failed");
                        }
                    }
                    Err(e) => {
                        flag.store(true, Ordering::SeqCst);
                        tracing::warn!(netns = %ns, error = %e, "sctp listener failed");
                    }
                }));
            while !ready.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
        }
        listeners
    }

    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}
