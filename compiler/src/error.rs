//! Errors of compiling a cluster into an image.

use crate::capacity::Overflow;

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("{}", overflow_message(.0))]
    Capacity(Vec<Overflow>),

    #[error(
        "invalid maglev table size `{size}`: the size must be a prime number from 7 to {}",
        crate::maglev::MAX_SIZE
    )]
    MaglevSize { size: u32 },

    #[error(
        "maglev table size `{size}` is smaller than the {backends} backends of service \
         `{service}`; raise `lb.maglev_table_size` or `--maglev-size`"
    )]
    MaglevTooSmall {
        service: String,
        size: u32,
        backends: usize,
    },

    #[error("failed to compile: too many {what} for 32-bit ids")]
    TooMany { what: &'static str },

    #[error("node `{node}` not found: no pod has `spec.nodeName: {node}`")]
    UnknownNode { node: String },
}

fn overflow_message(overflows: &[Overflow]) -> String {
    let parts: Vec<String> = overflows.iter().map(Overflow::to_string).collect();
    format!(
        "cluster does not fit the configured map capacity: {}",
        parts.join("; ")
    )
}
