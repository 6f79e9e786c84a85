//! Compiles the C datapath in `ebpf/` into BPF objects with clang.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// One object per hook: the source file and the object name it becomes.
const PROGRAMS: &[&str] = &["from_pod", "to_pod"];

fn main() -> ExitCode {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let ebpf_dir = manifest_dir.join("../ebpf");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());

    println!("cargo:rerun-if-changed={}", ebpf_dir.display());
    println!("cargo:rerun-if-env-changed=MOAT_CLANG");
    let clang = env::var("MOAT_CLANG").unwrap_or_else(|_| "clang".to_owned());

    for program in PROGRAMS {
        let source = ebpf_dir.join(format!("{program}.c"));
        let object = out_dir.join(format!("{program}.o"));
        if let Err(message) = compile(&clang, &ebpf_dir, &source, &object) {
            println!("cargo:warning={message}");
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Runs clang for one program; the error is the message the build prints.
fn compile(clang: &str, ebpf_dir: &Path, source: &Path, object: &Path) -> Result<(), String> {
    let output = Command::new(clang)
        .args(["-target", "bpf", "-O2", "-g", "-Wall", "-Werror"])
        .arg("-I")
        .arg(ebpf_dir.join("include"))
        .arg("-I")
        .arg(ebpf_dir.join("lib"))
        // linux/types.h includes asm/types.h from the multiarch directory.
        .arg(format!("-I/usr/include/{}-linux-gnu", env::consts::ARCH))
        .arg("-c")
        .arg(source)
        .arg("-o")
        .arg(object)
        .output()
        .map_err(|e| {
            format!(
                "cannot run `{clang}` to compile the eBPF datapath ({e}); \
                 install clang and libbpf-dev with scripts/deps.sh or set MOAT_CLANG"
            )
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "clang failed on `{}`:\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    ))
}
