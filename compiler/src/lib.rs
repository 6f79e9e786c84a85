//! Compiles the IR into BPF map images.
