//! Reading manifest files, directories and stdin.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::diag::Diagnostic;
use crate::source::SourceFile;

const EXTENSIONS: [&str; 3] = ["yaml", "yml", "json"];

/// Reads every input, in argument order; directories are walked in name order.
///
/// Walking skips hidden entries and symbolically linked directories, and
/// accepts the extensions in any case.
///
/// Unreadable paths become diagnostics and the rest are still read.
pub fn read_inputs(paths: &[PathBuf], diagnostics: &mut Vec<Diagnostic>) -> Vec<Arc<SourceFile>> {
    let mut files = Vec::new();
    let mut stdin_read = false;
    for path in paths {
        if path.as_os_str() == "-" {
            // Standard input can be read only once; a second `-` adds nothing.
            if !stdin_read {
                read_stdin(&mut files, diagnostics);
                stdin_read = true;
            }
        } else if path.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found, diagnostics);
            if found.is_empty() {
                diagnostics.push(no_manifests(path));
            }
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
        if is_hidden(&path) {
            continue;
        }
        // `file_type` does not follow symbolic links, so a linked directory
        // is skipped (it could form a loop) while a linked file is read.
        let is_link = entry.file_type().is_ok_and(|t| t.is_symlink());
        if path.is_dir() {
            if !is_link {
                walk(&path, found, diagnostics);
            }
        } else if has_manifest_extension(&path) {
            found.push(path);
        }
    }
}

/// Whether a file or directory name starts with `.`, as `.git` does.
fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

fn has_manifest_extension(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|known| e.eq_ignore_ascii_case(known)))
}

fn no_manifests(dir: &Path) -> Diagnostic {
    Diagnostic::error(
        "moat::no-manifests",
        format!(
            "no manifest files (.yaml, .yml, .json) found in `{}`",
            dir.display()
        ),
    )
    .with_help(
        "pass a directory that contains manifests; hidden files and linked directories are skipped",
    )
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

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    /// A directory under the system temporary directory, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("moat-files-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn names(files: &[Arc<SourceFile>], root: &Path) -> Vec<String> {
        let prefix = format!("{}/", root.display());
        files
            .iter()
            .map(|f| f.name.trim_start_matches(&prefix).to_string())
            .collect()
    }

    #[test]
    fn walk_skips_hidden_and_linked_dirs() {
        let dir = TempDir::new("walk");
        let root = &dir.0;
        fs::create_dir_all(root.join(".git")).unwrap();
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join(".git/config.yaml"), "a: 1\n").unwrap();
        fs::write(root.join(".hidden.yaml"), "a: 1\n").unwrap();
        fs::write(root.join("UPPER.YAML"), "a: 1\n").unwrap();
        fs::write(root.join("sub/pod.yml"), "a: 1\n").unwrap();
        fs::write(root.join("notes.txt"), "a\n").unwrap();
        std::os::unix::fs::symlink(root, root.join("sub/loop")).unwrap();
        let mut diagnostics = Vec::new();
        let files = read_inputs(std::slice::from_ref(root), &mut diagnostics);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(names(&files, root), ["UPPER.YAML", "sub/pod.yml"]);
    }

    #[test]
    fn empty_directory_is_an_error() {
        let dir = TempDir::new("empty");
        fs::write(dir.0.join("README.md"), "text\n").unwrap();
        let mut diagnostics = Vec::new();
        let files = read_inputs(std::slice::from_ref(&dir.0), &mut diagnostics);
        assert!(files.is_empty());
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].code, "moat::no-manifests");
        assert!(diagnostics[0].message.contains(".yaml, .yml, .json"));
    }
}
