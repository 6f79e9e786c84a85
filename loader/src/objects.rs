//! The BPF objects built from `ebpf/` and their loading through aya, with
//! maps pinned by name under the pin directory.

use std::path::Path;

use aya::programs::{ProgramError, SchedClassifier, TcAttachType};
use aya::{EbpfError, EbpfLoader};

use crate::error::LoaderError;

static FROM_POD_OBJECT: &[u8] =
    aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/from_pod.o"));
static TO_POD_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/to_pod.o"));

/// One datapath program: its object, function name, pin and hook.
#[derive(Debug, Clone, Copy)]
pub struct ProgramSpec {
    /// Function name in the object, also the program's kernel name.
    pub name: &'static str,
    /// ELF object bytes, 8-byte aligned.
    pub object: &'static [u8],
    /// File name of the program's pin under the pin directory.
    pub pin: &'static str,
    /// tc hook of the host-side veth the program attaches to.
    pub attach: TcAttachType,
}

/// The programs of the datapath, in attach order.
#[derive(Debug, Clone, Copy)]
pub struct ProgramSet {
    pub from_pod: ProgramSpec,
    pub to_pod: ProgramSpec,
}

impl ProgramSet {
    /// The programs compiled into this build from `ebpf/`.
    pub const BUILTIN: ProgramSet = ProgramSet {
        from_pod: ProgramSpec {
            name: "moat_from_pod",
            object: FROM_POD_OBJECT,
            pin: "prog_from_pod",
            attach: TcAttachType::Ingress,
        },
        to_pod: ProgramSpec {
            name: "moat_to_pod",
            object: TO_POD_OBJECT,
            pin: "prog_to_pod",
            attach: TcAttachType::Egress,
        },
    };

    pub fn iter(&self) -> impl Iterator<Item = &ProgramSpec> {
        [&self.from_pod, &self.to_pod].into_iter()
    }
}

/// Name of a hook for messages and pins.
pub fn direction_name(attach: TcAttachType) -> &'static str {
    match attach {
        TcAttachType::Ingress => "ingress",
        TcAttachType::Egress => "egress",
        TcAttachType::Custom(_) => "custom",
    }
}

/// Loads one program into the kernel, creating or reusing the maps pinned
/// under `pin_dir`, and pins the program at `pin_dir/<spec.pin>` (replacing
/// an older pin only after the new program passed the verifier).
pub fn load_program(spec: &ProgramSpec, pin_dir: &Path) -> Result<SchedClassifier, LoaderError> {
    let mut ebpf = EbpfLoader::new()
        .default_map_pin_directory(pin_dir)
        .load(spec.object)
        .map_err(|e| object_error(spec, e))?;
    let program: &mut SchedClassifier = ebpf
        .program_mut(spec.name)
        .ok_or_else(|| LoaderError::Object {
            object: spec.name,
            message: format!("no program `{}` in the object", spec.name),
        })?
        .try_into()
        .map_err(|e: ProgramError| program_error("open", spec.name, e))?;
    program.load().map_err(|e| match e {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => LoaderError::Verifier {
            program: spec.name.to_owned(),
            source: io_error,
            log: verifier_log.to_string(),
        },
        other => program_error("load", spec.name, other),
    })?;

    let pin = pin_dir.join(spec.pin);
    if pin.exists() {
        std::fs::remove_file(&pin).map_err(|source| LoaderError::Fs {
            operation: "replace program pin",
            path: pin.clone(),
            source,
        })?;
    }
    program.pin(&pin).map_err(|e| LoaderError::Program {
        operation: "pin",
        program: spec.name.to_owned(),
        message: e.to_string(),
    })?;
    SchedClassifier::from_pin(&pin).map_err(|e| program_error("open pinned", spec.name, e))
}

fn object_error(spec: &ProgramSpec, error: EbpfError) -> LoaderError {
    match error {
        EbpfError::MapError(e) => LoaderError::MapOpen {
            map: format!("of {}", spec.name),
            message: e.to_string(),
        },
        other => LoaderError::Object {
            object: spec.name,
            message: error_chain(&other),
        },
    }
}

pub(crate) fn program_error(
    operation: &'static str,
    program: &str,
    e: ProgramError,
) -> LoaderError {
    LoaderError::Program {
        operation,
        program: program.to_owned(),
        message: e.to_string(),
    }
}

/// An error with its sources, for errors whose top message is generic.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
