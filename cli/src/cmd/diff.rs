//! `moat diff`: connectivity changes between two versions of the manifests.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Args;
use moat_ir::{LoadOptions, Loaded, Settings};
use moat_verifier::diff::{
    Change, Presence, PresenceChange, diff, new_pod_differences, presence_diff,
};
use moat_verifier::finding::Finding;
use moat_verifier::output::Report;
use moat_verifier::smt::Witness;

use super::ci::{self, Output};
use crate::common::{EXIT_USAGE, failure_code, print_diagnostics};

/// List the flow classes whose verdict changes between two versions.
///
/// Pods are matched by namespace and name. A pod that exists in one
/// version only is listed as added or removed: one line per flow class it
/// is allowed, then one line for the rest of its flows, which are denied.
///
/// Every change is a finding of severity note, so with the default
/// --fail-on note the exit code is 0 when nothing changes and 1 when
/// something does; --fail-on warning, error or never always exits 0.
/// Errors in the manifests also exit 1. Usage errors (invalid options, a
/// path that cannot be read, a git revision that does not exist) exit 2.
#[derive(Args)]
#[command(
    mut_arg("fail_on", |arg| arg.default_value("note")),
    after_help = "Examples:\n  moat diff policies/shop testdata/diff/shop-next\n  moat diff --git HEAD~1..HEAD policies/shop"
)]
pub struct DiffArgs {
    /// OLD and NEW manifest paths; with --git, the path inside the repository
    /// (default: the whole repository).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Compare two git revisions `REV1..REV2` of the repository in the
    /// current directory instead of two paths.
    #[arg(long, value_name = "REV1..REV2")]
    git: Option<String>,

    /// Also search for changes that only pods that do not exist yet would see.
    #[arg(long)]
    any_pod: bool,

    /// Whether `ipBlock` peers also match pod IPs.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    ipblock_matches_pods: bool,

    #[command(flatten)]
    output: Output,
}

pub fn run(args: &DiffArgs) -> u8 {
    let options = LoadOptions {
        settings: Settings {
            ipblock_matches_pods: args.ipblock_matches_pods,
        },
        ..LoadOptions::default()
    };
    let versions = match &args.git {
        Some(range) => from_git(range, args.paths.first().map(PathBuf::as_path), &options),
        None => match args.paths.as_slice() {
            [old, new] => Ok((load(old, &options), load(new, &options))),
            _ => Err("give OLD and NEW paths, or --git REV1..REV2".to_string()),
        },
    };
    let (old, new) = match versions {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("error: {e}");
            return EXIT_USAGE;
        }
    };
    let (old, new) = match (old, new) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(code), _) | (_, Err(code)) => return code,
    };

    let bar = ci::progress("comparing");
    let changes = diff(&old.cluster, &new.cluster);
    let presence = presence_diff(&old.cluster, &new.cluster);
    let new_pods = if args.any_pod {
        new_pod_differences(&old.cluster, &new.cluster, 20)
    } else {
        Vec::new()
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let findings = findings(&changes, &presence, &new_pods);

    let mut report = Report::new("diff", findings);
    report.detail = Some(serde_json::json!({
        "changes": changes,
        "pods_in_one_version": presence,
        "new_pods": new_pods,
    }));
    args.output
        .emit(&report, Some(text(&changes, &presence, &new_pods)))
}

/// One `connectivity-changed` finding per changed flow class.
fn findings(changes: &[Change], presence: &[PresenceChange], new_pods: &[Witness]) -> Vec<Finding> {
    changes
        .iter()
        .map(|c| {
            Finding::new(
                "connectivity-changed",
                format!(
                    "{} ({} / {})",
                    c.headline(),
                    c.before_because,
                    c.after_because
                ),
            )
        })
        .chain(presence.iter().map(|c| {
            let because = if c.because.is_empty() {
                String::new()
            } else {
                format!(" ({})", c.because)
            };
            Finding::new("connectivity-changed", format!("{}{because}", c.headline()))
        }))
        .chain(new_pods.iter().map(|w| {
            Finding::new(
                "connectivity-changed",
                format!("a pod that does not exist yet: {w}"),
            )
        }))
        .collect()
}

/// A loaded version, or the exit code of its load errors.
type Version = Result<Loaded, u8>;

/// Loads one version; on errors prints them and returns the exit code.
fn load(path: &Path, options: &LoadOptions) -> Version {
    let loaded = moat_ir::load_paths(&[path.to_path_buf()], options);
    if loaded.has_errors() {
        print_diagnostics(&loaded);
        eprintln!(
            "error: {} error(s) in `{}`",
            loaded.errors(),
            path.display()
        );
        return Err(failure_code(&loaded));
    }
    Ok(loaded)
}

/// Extracts both revisions with `git archive` into temporary directories.
fn from_git(
    range: &str,
    path: Option<&Path>,
    options: &LoadOptions,
) -> Result<(Version, Version), String> {
    let (old_rev, new_rev) = range
        .split_once("..")
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .ok_or_else(|| format!("expected `REV1..REV2`, found `{range}`"))?;
    let old = Checkout::new(old_rev, path)?;
    let new = Checkout::new(new_rev, path)?;
    Ok((load(&old.path(), options), load(&new.path(), options)))
}

/// One revision extracted into a directory that is removed on drop.
struct Checkout {
    dir: PathBuf,
    inner: PathBuf,
}

impl Checkout {
    fn new(rev: &str, path: Option<&Path>) -> Result<Self, String> {
        let safe: String = rev
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let dir = std::env::temp_dir().join(format!("moat-diff-{}-{safe}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        let checkout = Self {
            inner: path.map_or_else(|| dir.clone(), |p| dir.join(p)),
            dir,
        };
        let mut archive = Command::new("git");
        archive.args(["archive", "--format=tar", rev]);
        if let Some(p) = path {
            archive.arg("--").arg(p);
        }
        let output = archive
            .output()
            .map_err(|e| format!("cannot run `git archive`: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "`git archive {rev}` failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        let tar = Command::new("tar")
            .arg("-x")
            .arg("-C")
            .arg(&checkout.dir)
            .stdin(std::process::Stdio::piped())
            .spawn();
        let mut tar = tar.map_err(|e| format!("cannot run `tar`: {e}"))?;
        if let Some(stdin) = tar.stdin.as_mut() {
            use std::io::Write;
            stdin
                .write_all(&output.stdout)
                .map_err(|e| format!("cannot feed `tar`: {e}"))?;
        }
        tar.stdin.take();
        let status = tar.wait().map_err(|e| format!("`tar` failed: {e}"))?;
        if !status.success() {
            return Err(format!("`tar -x` of revision `{rev}` failed"));
        }
        Ok(checkout)
    }

    fn path(&self) -> PathBuf {
        self.inner.clone()
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(changes: &[Change], presence: &[PresenceChange], new_pods: &[Witness]) -> String {
    let mut out = String::new();
    for change in changes {
        let _ = writeln!(out, "{}", change.headline());
        let _ = writeln!(out, "    before: {}", change.before_because);
        let _ = writeln!(out, "    after:  {}", change.after_because);
    }
    for change in presence {
        let _ = writeln!(out, "{}", change.headline());
        if !change.because.is_empty() {
            let side = match change.presence {
                Presence::Added => "after: ",
                Presence::Removed => "before:",
            };
            let _ = writeln!(out, "    {side} {}", change.because);
        }
    }
    for witness in new_pods {
        let _ = writeln!(out, "new pod: {witness}: verdict changes");
    }
    let _ = writeln!(
        out,
        "{} flow class(es) changed{}{}",
        changes.len() + presence.len(),
        presence_summary(presence),
        if new_pods.is_empty() {
            String::new()
        } else {
            format!(", {} more for pods that do not exist yet", new_pods.len())
        }
    );
    out
}

/// ` (N of added pods, M of removed pods)`, or nothing when every pod is in both versions.
fn presence_summary(presence: &[PresenceChange]) -> String {
    let count = |p: Presence| presence.iter().filter(|c| c.presence == p).count();
    let (added, removed) = (count(Presence::Added), count(Presence::Removed));
    if added + removed == 0 {
        return String::new();
    }
    format!(" ({added} of added pods, {removed} of removed pods)")
}
