//! Loads compiled images into the kernel datapath.
