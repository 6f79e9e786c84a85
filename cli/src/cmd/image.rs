//! `moat image`: inspect and compare compiled image files.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use moat_compiler::image::SectionKind;
use moat_compiler::{Image, render, view};

use crate::common::{EXIT_FAILURE, EXIT_USAGE};

/// Inspect or compare compiled image files.
#[derive(Args)]
#[command(
    after_help = "Example:\n  moat compile policies/demo -o demo.moat\n  moat image inspect demo.moat"
)]
pub struct ImageArgs {
    #[command(subcommand)]
    command: ImageCommand,
}

#[derive(Subcommand)]
enum ImageCommand {
    Inspect(InspectArgs),
    Diff(DiffArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// Print the maps of an image, like `cilium bpf service list` and `cilium
/// bpf policy list`.
#[derive(Args)]
#[command(after_help = "Example:\n  moat image inspect demo.moat --maps services,policy")]
struct InspectArgs {
    /// Image file.
    file: PathBuf,

    /// Maps to print, comma-separated: endpoints, ipcache, policy, services,
    /// backends, maglev, revnat, provenance. Default: all.
    #[arg(long, value_delimiter = ',', value_name = "MAPS")]
    maps: Vec<String>,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

/// Print the entries added, removed and changed in each map between two images.
#[derive(Args)]
#[command(after_help = "Example:\n  moat image diff old.moat new.moat -o json")]
struct DiffArgs {
    /// The earlier image file.
    old: PathBuf,

    /// The later image file.
    new: PathBuf,

    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,
}

pub fn run(args: &ImageArgs) -> u8 {
    match &args.command {
        ImageCommand::Inspect(a) => inspect(a),
        ImageCommand::Diff(a) => diff(a),
    }
}

fn inspect(args: &InspectArgs) -> u8 {
    let maps = match parse_maps(&args.maps) {
        Ok(maps) => maps,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_USAGE;
        }
    };
    let image = match read(&args.file) {
        Ok(image) => image,
        Err(code) => return code,
    };
    let view = view::view(&image, maps.as_deref());
    match args.output {
        Format::Text => print!("{}", render::text(&view)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&view).unwrap_or_default()
        ),
    }
    0
}

fn diff(args: &DiffArgs) -> u8 {
    let (old, new) = match (read(&args.old), read(&args.new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(code), _) | (_, Err(code)) => return code,
    };
    let diff = render::diff(&old, &new);
    match args.output {
        Format::Text => print!("{}", render::diff_text(&diff)),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&diff).unwrap_or_default()
        ),
    }
    if diff.is_empty() { 0 } else { EXIT_FAILURE }
}

fn parse_maps(names: &[String]) -> Result<Option<Vec<SectionKind>>, String> {
    if names.is_empty() {
        return Ok(None);
    }
    let mut maps = Vec::new();
    for name in names {
        let kind = SectionKind::parse(name.trim()).ok_or_else(|| {
            format!(
                "unknown map `{name}`: expected endpoints, ipcache, policy, services, backends, \
                 maglev, revnat or provenance"
            )
        })?;
        maps.push(kind);
    }
    Ok(Some(maps))
}

fn read(path: &Path) -> Result<Image, u8> {
    let bytes = std::fs::read(path).map_err(|error| {
        eprintln!("error: failed to read `{}`: {error}", path.display());
        EXIT_USAGE
    })?;
    moat_compiler::decode(&bytes).map_err(|error| {
        eprintln!("error: invalid image `{}`: {error}", path.display());
        EXIT_FAILURE
    })
}
