//! Reads flow events from the pinned ring buffer.

use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::time::Duration;

use aya::maps::{Map, MapData, RingBuf};

use crate::datapath::open_map;
use crate::error::{LoaderError, map_error};
use crate::layout::{FlowEvent, names};

/// A consumer of the datapath's flow events. Events are consumed: two
/// readers of one pin directory each see part of the stream.
pub struct EventReader {
    ring: RingBuf<MapData>,
}

impl EventReader {
    /// Opens the ring buffer pinned under `pin_dir`.
    pub fn open(pin_dir: &Path) -> Result<Self, LoaderError> {
        let data = open_map(pin_dir, names::EVENTS)?;
        let map = Map::from_map_data(data).map_err(|e| map_error("open", names::EVENTS, e))?;
        let ring = RingBuf::try_from(map).map_err(|e| map_error("open", names::EVENTS, e))?;
        Ok(Self { ring })
    }

    /// Takes every event already in the buffer.
    pub fn drain(&mut self) -> Vec<FlowEvent> {
        let mut events = Vec::new();
        while let Some(item) = self.ring.next() {
            if let Some(event) = FlowEvent::from_bytes(&item) {
                events.push(event);
            }
        }
        events
    }

    /// Waits up to `timeout` for events, then takes all there are.
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<FlowEvent>, LoaderError> {
        let events = self.drain();
        if !events.is_empty() {
            return Ok(events);
        }
        let mut pollfd = libc::pollfd {
            fd: self.ring.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: `pollfd` is a valid array of one element for the call.
        let ret = unsafe { libc::poll(&mut pollfd, 1, millis) };
        if ret < 0 {
            let source = std::io::Error::last_os_error();
            if source.kind() != std::io::ErrorKind::Interrupted {
                return Err(LoaderError::Syscall {
                    syscall: "poll",
                    source,
                });
            }
        }
        Ok(self.drain())
    }
}
