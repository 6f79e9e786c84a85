//! Loads compiled images into the kernel datapath: the BPF programs built
//! from `ebpf/`, their pinned maps, tcx attachment to pod veths, atomic
//! image swaps, flow events and live inspection of the maps.

pub mod attach;
pub mod datapath;
pub mod error;
pub mod events;
pub mod inspect;
pub mod layout;
pub mod names;
pub mod objects;
pub mod sandbox;
pub mod swap;
pub mod sys;

pub use attach::Attachment;
pub use datapath::{DEFAULT_PIN_DIR, Datapath, EndpointLink, Hook};
pub use error::LoaderError;
pub use events::EventReader;
pub use objects::{ProgramSet, ProgramSpec};
pub use swap::{LoadReport, TableFill};
