//! Errors of the loader API: each names the operation, the map or program, and the errno.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Failures of datapath operations.
#[derive(Debug, Error)]
pub enum LoaderError {
    #[error("failed to {operation} `{path}`: {source}")]
    Fs {
        operation: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("failed to mount bpffs on `{path}`: {source}")]
    MountBpffs { path: PathBuf, source: io::Error },
    #[error("failed to parse BPF object `{object}`: {message}")]
    Object {
        object: &'static str,
        message: String,
    },
    #[error("the kernel verifier rejected program `{program}` ({source}); verifier log:\n{log}")]
    Verifier {
        program: String,
        source: io::Error,
        log: String,
    },
    #[error("failed to {operation} program `{program}`: {message}")]
    Program {
        operation: &'static str,
        program: String,
        message: String,
    },
    #[error("failed to {operation} map `{map}`: {source}")]
    Map {
        operation: &'static str,
        map: String,
        source: io::Error,
    },
    #[error("failed to open map `{map}`: {message}")]
    MapOpen { map: String, message: String },
    #[error(
        "image table `{map}` has {records} records but the map holds at most {capacity}; \
         the previous image stays active"
    )]
    Capacity {
        map: &'static str,
        records: usize,
        capacity: u32,
    },
    #[error("invalid image: {message}")]
    InvalidImage { message: String },
    #[error("failed to {operation} interface `{interface}`: {source}")]
    Interface {
        operation: &'static str,
        interface: String,
        source: io::Error,
    },
    #[error("failed to attach `{program}` to `{interface}` ({direction}): {message}")]
    Attach {
        program: String,
        interface: String,
        direction: &'static str,
        message: String,
    },
    #[error("failed to enter network namespace `{path}`: {source}")]
    Netns { path: PathBuf, source: io::Error },
    #[error("no datapath is pinned under `{path}`; run `moat load` first")]
    NotLoaded { path: PathBuf },
    #[error("{syscall} failed: {source}")]
    Syscall {
        syscall: &'static str,
        source: io::Error,
    },
}

/// Wraps an aya map error into [`LoaderError::Map`] or [`LoaderError::MapOpen`].
pub(crate) fn map_error(
    operation: &'static str,
    map: &str,
    error: aya::maps::MapError,
) -> LoaderError {
    match error {
        aya::maps::MapError::SyscallError(e) => LoaderError::Map {
            operation,
            map: map.to_owned(),
            source: e.io_error,
        },
        aya::maps::MapError::CreateError { io_error, .. } => LoaderError::Map {
            operation,
            map: map.to_owned(),
            source: io_error,
        },
        other => LoaderError::MapOpen {
            map: map.to_owned(),
            message: format!("{operation}: {other}"),
        },
    }
}
