//! Arguments and helpers shared by the commands that talk to the kernel
//! datapath: `load`, `status`, `bpf` and `monitor`.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use moat_loader::names::{self, Names};

use crate::common::{EXIT_FAILURE, EXIT_USAGE};

/// Pin directory argument of the datapath commands.
#[derive(Args, Clone)]
pub struct PinDirArg {
    /// Pin directory of the datapath's programs and maps (a sandbox uses
    /// /sys/fs/bpf/moat-<name>).
    #[arg(long, value_name = "DIR", default_value = moat_loader::DEFAULT_PIN_DIR)]
    pub pin_dir: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Prints `value` as pretty JSON; a closed stdout (a pipe into `head`) is
/// not an error.
pub fn print_json<T: serde::Serialize>(value: &T) {
    use std::io::Write;

    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            let _ = writeln!(std::io::stdout(), "{text}");
        }
        Err(e) => eprintln!("error: failed to encode JSON: {e}"),
    }
}

/// Prints a loader error and returns the exit code for it.
pub fn fail(error: &moat_loader::LoaderError) -> u8 {
    eprintln!("error: {error}");
    EXIT_FAILURE
}

/// Reads and decodes an image file.
pub fn read_image(path: &Path) -> Result<(moat_compiler::Image, Vec<u8>), u8> {
    let bytes = std::fs::read(path).map_err(|error| {
        eprintln!("error: failed to read `{}`: {error}", path.display());
        EXIT_USAGE
    })?;
    let image = moat_compiler::decode(&bytes).map_err(|error| {
        eprintln!("error: invalid image `{}`: {error}", path.display());
        EXIT_FAILURE
    })?;
    Ok((image, bytes))
}

/// Names for the active image: from `image` when given, else from the copy
/// that `moat load` stored under the active image's hash.
pub fn names_for(pin_dir: &Path, image: Option<&Path>) -> Result<Names, u8> {
    if let Some(path) = image {
        return read_image(path).map(|(image, _)| Names::new(Some(image)));
    }
    let active = moat_loader::inspect::active(pin_dir).map_err(|e| fail(&e))?;
    let stored = names::stored_image(&active.image_hash);
    if stored.is_none() && active.generation != 0 {
        eprintln!(
            "warning: no stored copy of the active image in {}; pass --image to name pods and rules",
            names::IMAGE_STORE
        );
    }
    Ok(Names::new(stored))
}
