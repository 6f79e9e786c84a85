//! The image file: format, encoder and validating decoder.

pub mod decode;
pub mod encode;
pub mod format;

pub use decode::{DecodeError, decode};
pub use encode::encode;
pub use format::{Header, Image, Provenance, SectionKind};
