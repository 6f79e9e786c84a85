//! Compiles the IR into BPF map images: identities, deduplicated policy
//! tables, service load-balancing tables, and the versioned image file.

pub mod capacity;
pub mod cidr;
pub mod compile;
pub mod encode_table;
pub mod error;
pub mod identity;
pub mod image;
pub mod layout;
pub mod maglev;
pub mod mirror;
pub mod peers;
pub mod ports;
pub mod provenance;
pub mod render;
pub mod services;
pub mod tables;
pub mod validate;
pub mod view;

pub use capacity::{Capacity, Config};
pub use compile::{CompileOptions, compile};
pub use error::CompileError;
pub use image::{DecodeError, Image, decode, encode};
pub use services::{LbMode, LbOptions};
