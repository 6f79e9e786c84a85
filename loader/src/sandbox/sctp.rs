//! SCTP reachability without an SCTP stack: an INIT chunk sent through a raw
//! IP socket (protocol 132), seen arriving by a raw socket at the destination.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// IANA protocol number of SCTP.
pub const IPPROTO_SCTP: i32 = 132;

const CHUNK_INIT: u8 = 1;
const INIT_PACKET_LEN: usize = 32;

/// An INIT seen at a destination: who sent it to which address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub dst_port: u16,
}

/// Builds an SCTP packet holding one INIT chunk with `tag` as initiate tag.
pub fn init_packet(src_port: u16, dst_port: u16, tag: u32) -> [u8; INIT_PACKET_LEN] {
    let mut packet = [0u8; INIT_PACKET_LEN];
    let mut fields: Vec<u8> = Vec::with_capacity(INIT_PACKET_LEN);
    fields.extend(src_port.to_be_bytes());
    fields.extend(dst_port.to_be_bytes());
    fields.extend(0u32.to_be_bytes()); // verification tag: zero in an INIT
    fields.extend(0u32.to_be_bytes()); // checksum, filled in below
    fields.push(CHUNK_INIT);
    fields.push(0); // chunk flags
    fields.extend(20u16.to_be_bytes()); // chunk length
    fields.extend(tag.to_be_bytes());
    fields.extend(65535u32.to_be_bytes()); // advertised receiver window
    fields.extend(1u16.to_be_bytes()); // outbound streams
    fields.extend(1u16.to_be_bytes()); // inbound streams
    fields.extend(tag.to_be_bytes()); // initial TSN
    packet.copy_from_slice(&fields);
    let checksum = crc32c(&packet);
    // The CRC32c goes on the wire least significant byte first (RFC 9260, appendix A).
    if let Some(slot) = packet.get_mut(8..12) {
        slot.copy_from_slice(&checksum.to_le_bytes());
    }
    packet
}

/// CRC32c (Castagnoli), bitwise: packets are 32 bytes, so speed is moot.
pub fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0x82F6_3B78 & mask);
        }
    }
    !crc
}

/// Opens a raw IPv4 socket for SCTP in the calling thread's namespace.
fn raw_socket() -> std::io::Result<OwnedFd> {
    // SAFETY: socket(2) takes plain integers; the result is checked below.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            IPPROTO_SCTP,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sends one INIT to `dst:dst_port` from the calling thread's namespace.
pub fn send_init(dst: Ipv4Addr, src_port: u16, dst_port: u16, tag: u32) -> std::io::Result<()> {
    let socket = raw_socket()?;
    let packet = init_packet(src_port, dst_port, tag);
    let address = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(dst).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: the buffer and the address are valid for the given lengths.
    let sent = unsafe {
        libc::sendto(
            socket.as_raw_fd(),
            packet.as_ptr().cast(),
            packet.len(),
            0,
            std::ptr::from_ref(&address).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if sent < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Initiate tags of INITs that arrived, shared between listeners and probes.
pub type Arrivals = Arc<Mutex<HashMap<u32, Arrival>>>;

/// Receives SCTP packets in the calling thread's namespace until `stop` is
/// set, recording every INIT in `arrivals` by its initiate tag.
///
/// `ready` is set once the socket is open, so no INIT sent after it is lost.
pub fn listen(arrivals: &Arrivals, ready: &AtomicBool, stop: &AtomicBool) -> std::io::Result<()> {
    let socket = raw_socket();
    ready.store(true, Ordering::SeqCst);
    let socket = socket?;
    set_receive_timeout(&socket, Duration::from_millis(50))?;
    let mut buffer = [0u8; 2048];
    while !stop.load(Ordering::SeqCst) {
        // SAFETY: the buffer is valid for writes of its length.
        let n = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buffer.as_mut_ptr().cast(),
                buffer.len(),
                0,
            )
        };
        let Ok(n) = usize::try_from(n) else {
            continue;
        };
        if let Some((tag, arrival)) = buffer.get(..n).and_then(parse_init)
            && let Ok(mut map) = arrivals.lock()
        {
            map.insert(tag, arrival);
        }
    }
    Ok(())
}

fn set_receive_timeout(socket: &OwnedFd, timeout: Duration) -> std::io::Result<()> {
    let value = libc::timeval {
        tv_sec: 0,
        tv_usec: libc::suseconds_t::try_from(timeout.as_micros()).unwrap_or(50_000),
    };
    // SAFETY: `value` is a valid timeval for the given length.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Parses an IPv4 packet carrying an SCTP INIT; returns its initiate tag.
pub fn parse_init(packet: &[u8]) -> Option<(u32, Arrival)> {
    let header_len = usize::from(packet.first()? & 0x0f) * 4;
    let src = Ipv4Addr::from(<[u8; 4]>::try_from(packet.get(12..16)?).ok()?);
    let dst = Ipv4Addr::from(<[u8; 4]>::try_from(packet.get(16..20)?).ok()?);
    let sctp = packet.get(header_len..)?;
    let dst_port = u16::from_be_bytes(sctp.get(2..4)?.try_into().ok()?);
    if *sctp.get(12)? != CHUNK_INIT {
        return None;
    }
    let tag = u32::from_be_bytes(sctp.get(16..20)?.try_into().ok()?);
    Some((tag, Arrival { src, dst, dst_port }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_known_value() {
        // The standard check value of CRC32c over the ASCII digits 1 to 9.
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn init_round_trip() {
        let sctp = init_packet(40000, 80, 0xdead_beef);
        let mut packet = vec![
            0x45u8, 0, 0, 52, 0, 0, 0, 0, 64, 132, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        packet.extend_from_slice(&sctp);
        let (tag, arrival) = parse_init(&packet).unwrap();
        assert_eq!(tag, 0xdead_beef);
        assert_eq!(arrival.dst_port, 80);
        assert_eq!(arrival.src, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(arrival.dst, Ipv4Addr::new(10, 0, 0, 2));
    }
}
