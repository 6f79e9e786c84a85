//! Network namespaces: create and delete them with `ip netns`, run commands
//! and closures inside them.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use super::SandboxError;

/// Directory of the bind mounts that `ip netns` uses to name namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// Returns the bind-mount path of a named namespace.
pub fn path(name: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(name)
}

/// Returns whether a namespace with this name exists.
pub fn exists(name: &str) -> bool {
    path(name).exists()
}

/// Lists the named namespaces whose names start with `prefix`.
pub fn list(prefix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(prefix))
        .collect();
    names.sort();
    names
}

/// Runs `ip ARGS...` and fails with its stderr when it exits non-zero.
pub fn ip(args: &[&str]) -> Result<Output, SandboxError> {
    run("ip", args)
}

/// Runs a program to completion and fails with its stderr when it exits non-zero.
pub fn run(program: &str, args: &[&str]) -> Result<Output, SandboxError> {
    let output = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| SandboxError::Spawn {
            command: program.to_string(),
            source,
        })?;
    if !output.status.success() {
        return Err(SandboxError::Command {
            command: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(output)
}

/// Creates a namespace and brings its loopback up.
pub fn create(name: &str) -> Result<(), SandboxError> {
    ip(&["netns", "add", name])?;
    ip(&["-n", name, "link", "set", "lo", "up"])?;
    Ok(())
}

/// Kills every process left in a namespace, then deletes the namespace.
///
/// Succeeds when the namespace does not exist.
pub fn delete(name: &str) -> Result<(), SandboxError> {
    if !exists(name) {
        return Ok(());
    }
    kill_processes(name);
    ip(&["netns", "del", name])?;
    Ok(())
}

/// Sends SIGKILL to every process whose network namespace is `name`.
///
/// Only processes that the sandbox started run in its namespaces, because
/// nothing else uses their names.
pub fn kill_processes(name: &str) {
    let Ok(output) = ip(&["netns", "pids", name]) else {
        return;
    };
    for pid in String::from_utf8_lossy(&output.stdout).split_whitespace() {
        if let Ok(pid) = pid.parse::<i32>() {
            // SAFETY: kill(2) takes plain integers and touches no memory.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// Writes a sysctl of the namespace `name`, such as `net/ipv4/ip_forward`.
pub fn sysctl(name: &str, key: &str, value: &str) -> Result<(), SandboxError> {
    let key = key.to_string();
    let value = value.to_string();
    let path = format!("/proc/sys/{key}");
    in_netns(name, move || std::fs::write(&path, value.as_bytes()))?.map_err(|source| {
        SandboxError::Io {
            operation: format!("write sysctl `{key}`"),
            source,
        }
    })
}

/// Moves the calling thread into the namespace `name`.
///
/// Only the calling thread moves; sockets it opens afterwards belong to
/// that namespace for their whole life.
pub fn enter(name: &str) -> Result<(), SandboxError> {
    let file = File::open(path(name)).map_err(|source| SandboxError::Io {
        operation: format!("open namespace `{name}`"),
        source,
    })?;
    // SAFETY: the descriptor is valid for the duration of the call, and
    // setns(2) with CLONE_NEWNET only changes this thread's namespace.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(SandboxError::Io {
            operation: format!("setns into `{name}`"),
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// Runs a closure on a new thread that lives in the namespace `name`.
pub fn in_netns<T, F>(name: &str, f: F) -> Result<T, SandboxError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let owned = name.to_string();
    let handle = std::thread::spawn(move || -> Result<T, SandboxError> {
        enter(&owned)?;
        Ok(f())
    });
    handle.join().map_err(|_| SandboxError::Thread {
        operation: format!("run inside `{name}`"),
    })?
}

/// Builds a command line that runs `program args...` inside the namespace `name`.
pub fn exec_command(name: &str, program: &str, args: &[String]) -> Command {
    let mut command = Command::new("ip");
    command.args(["netns", "exec", name, program]).args(args);
    command
}
