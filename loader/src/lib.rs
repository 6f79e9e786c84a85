//! Loads compiled images into the kernel datapath.

pub mod sandbox;
