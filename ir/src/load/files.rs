//! Reading manifest files, directories and stdin.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::Diagnostic;
use crate::source::SourceFile;

const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Reads every input, in argument order; directories are walked in name order.
///
/// Unreadable paths become diagnostics and the rest are still read.
pub fn read_inputs(paths: &[PathBuf], diagnostics: &mut Vec<Diagnostic>) -> Vec<Arc<SourceFile>> {
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            read_stdin(&mut files, diagnostics);
        } else if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found, diagnostics);
            found.sort();
            found
                .iter()
                .for_each(|f| read_file(f, &mut files, diagnostics));
        } else {
            read_file(path, &mut files, diagnostics);
        }
    }
    files
}

fn read_stdin(files: &mut Vec<Arc<SourceFile>>, diagnostics: &mut Vec<Diagnostic>) {
    let mut text = String::new();
    match std::io::stdin().read_to_string(&mut text) {
        Ok(_) => files.push(Arc::new(SourceFile {
            name: "<stdin>".to_string(),
            text,
        })),
        Err(e) => diagnostics.push(Diagnostic::error(
            "moat::unreadable-input",
            format!("failed to read standard input: {e}"),
        )),
    }
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>, diagnostics: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            diagnostics.push(unreadable(dir, &e));
            return;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, found, diagnostics);
        } else if has_manifest_extension(&path) {
            found.push(path);
        }
    }
}

fn has_manifest_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e))
}

fn read_file(path: &Path, files: &mut Vec<Arc<SourceFile>>, diagnostics: &mut Vec<Diagnostic>) {
    match std::fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(text) => files.push(Arc::new(SourceFile {
                name: path.display().to_string(),
                text,
            })),
            Err(_) => diagnostics.push(Diagnostic::error(
                "moat::unreadable-input",
                format!("`{}` is not valid UTF-8", path.display()),
            )),
        },
        Err(e) => diagnostics.push(unreadable(path, &e)),
    }
}

fn unreadable(path: &Path, e: &std::io::Error) -> Diagnostic {
    Diagnostic::error(
        "moat::unreadable-input",
        format!("failed to read `{}`: {e}", path.display()),
    )
    .with_help("check that the path exists and is readable")
}
