//! `moat compile`: compile manifests into a map image file.

use std::path::PathBuf;

use clap::Args;
use moat_compiler::{Capacity, CompileOptions, Config, LbMode};

use crate::common::{EXIT_FAILURE, EXIT_USAGE, Inputs, load_or_exit};

/// Compile manifests into a BPF map image for one node or the whole cluster.
///
/// Fails with exit code 1, before anything touches a kernel, when a map
/// needs more entries than its configured capacity.
#[derive(Args)]
#[command(after_help = "Example:\n  moat compile policies/demo -o demo.moat\n  \
                        moat compile manifests/ -o node-a.moat --node node-a")]
pub struct CompileArgs {
    #[command(flatten)]
    inputs: Inputs,

    /// Image file to write.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,

    /// Compile only the pods scheduled on this node (`spec.nodeName`).
    #[arg(long, value_name = "NAME")]
    node: Option<String>,

    /// Configuration file with `[capacity]` and `[lb]` tables; `moat.toml` in
    /// the current directory is read when present.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Maximum entries of one map, as `MAP=COUNT` (repeatable); overrides the
    /// configuration file.
    #[arg(long = "capacity", value_name = "MAP=COUNT")]
    capacities: Vec<String>,

    /// Backend selection: `maglev` or `random`.
    #[arg(long, value_name = "MODE")]
    lb_mode: Option<String>,

    /// Maglev table size per service (a prime); default: the smallest prime
    /// of at least 100 slots per backend.
    #[arg(long, value_name = "SLOTS")]
    maglev_size: Option<u32>,

    /// Generation number recorded in the image header.
    #[arg(long, default_value_t = 1)]
    generation: u64,
}

pub fn run(args: &CompileArgs) -> u8 {
    let options = match options(args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_USAGE;
        }
    };
    let loaded = match load_or_exit(&args.inputs) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let image = match moat_compiler::compile(&loaded.cluster, &options) {
        Ok(image) => image,
        Err(error) => {
            eprintln!("error: {error}");
            return EXIT_FAILURE;
        }
    };
    let bytes = moat_compiler::encode(&image);
    if let Err(error) = std::fs::write(&args.output, &bytes) {
        eprintln!(
            "error: failed to write `{}`: {error}",
            args.output.display()
        );
        return EXIT_USAGE;
    }
    let counts = moat_compiler::view::counts(&image);
    let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!(
        "wrote {} ({} bytes): {}",
        args.output.display(),
        bytes.len(),
        parts.join(", ")
    );
    0
}

fn options(args: &CompileArgs) -> Result<CompileOptions, String> {
    let config = read_config(args)?;
    let mut capacity: Capacity = config.capacity;
    for flag in &args.capacities {
        capacity.set_flag(flag).map_err(|e| e.to_string())?;
    }
    let mut lb = config.lb_options().map_err(|e| e.to_string())?;
    match args.lb_mode.as_deref() {
        None => {}
        Some("maglev") => lb.mode = LbMode::Maglev,
        Some("random") => lb.mode = LbMode::Random,
        Some(other) => {
            return Err(format!(
                "invalid `--lb-mode` `{other}`: expected `maglev` or `random`"
            ));
        }
    }
    if args.maglev_size.is_some() {
        lb.maglev_size = args.maglev_size;
    }
    Ok(CompileOptions {
        node: args.node.clone(),
        lb,
        capacity,
        generation: args.generation,
    })
}

fn read_config(args: &CompileArgs) -> Result<Config, String> {
    if let Some(path) = &args.config {
        return Config::read(path).map_err(|e| e.to_string());
    }
    let default = PathBuf::from("moat.toml");
    if default.is_file() {
        return Config::read(&default).map_err(|e| e.to_string());
    }
    Ok(Config::default())
}
