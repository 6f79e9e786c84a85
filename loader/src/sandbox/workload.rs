//! Pod workloads: Debian's nginx for nginx images, the built-in responder
//! for every other declared port, each started inside its pod's namespace.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::SandboxError;
use super::netns;
use super::state::{L4Port, PodNode, State};

/// How long a workload may take to bind its ports.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Document roots of Debian's nginx packages, in order of preference.
const NGINX_ROOTS: [(&str, &str); 2] = [
    ("/var/www/html", "index.nginx-debian.html"),
    ("/usr/share/nginx/html", "index.html"),
];

/// Starts every workload of the sandbox and records the process ids.
///
/// `moat` is the binary whose hidden `sandbox responder` subcommand runs
/// [`super::responder::serve`].
pub fn start_all(state: &mut State, moat: &Path) -> Result<(), SandboxError> {
    let dir = state.dir();
    let mut pids = Vec::new();
    for pod in &state.pods {
        let pod_dir = dir.join("pods").join(pod_dir_name(pod));
        create_dir(&pod_dir)?;
        if !pod.nginx_ports.is_empty() {
            pids.push(start_nginx(pod, &pod_dir)?);
        }
        if has_listener(&pod.responder_ports) {
            pids.push(start_responder(
                moat,
                &pod.netns,
                &pod.key,
                &pod.responder_ports,
                &pod_dir,
            )?);
        }
    }
    let outside = &state.outside;
    if has_listener(&outside.ports) {
        let outside_dir = dir.join("outside");
        create_dir(&outside_dir)?;
        pids.push(start_responder(
            moat,
            &outside.netns,
            "outside",
            &outside.ports,
            &outside_dir,
        )?);
    }
    state.pids = pids;
    Ok(())
}

fn pod_dir_name(pod: &PodNode) -> String {
    pod.netns
        .rsplit('-')
        .next()
        .unwrap_or(&pod.netns)
        .to_string()
}

fn create_dir(dir: &Path) -> Result<(), SandboxError> {
    std::fs::create_dir_all(dir).map_err(|source| SandboxError::Io {
        operation: format!("create `{}`", dir.display()),
        source,
    })
}

fn has_listener(ports: &[L4Port]) -> bool {
    ports.iter().any(|p| p.protocol != moat_ir::Protocol::Sctp)
}

/// Spawns a detached process in its own process group, with output to `log`.
fn spawn(mut command: std::process::Command, log: &Path) -> Result<u32, SandboxError> {
    let open = |path: &Path| {
        File::create(path).map_err(|source| SandboxError::Io {
            operation: format!("create `{}`", path.display()),
            source,
        })
    };
    let out = open(log)?;
    let err = out.try_clone().map_err(|source| SandboxError::Io {
        operation: format!("duplicate `{}`", log.display()),
        source,
    })?;
    let program = format!("{:?}", command.get_program());
    let child = command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|source| SandboxError::Spawn {
            command: program,
            source,
        })?;
    Ok(child.id())
}

fn start_responder(
    moat: &Path,
    ns: &str,
    name: &str,
    ports: &[L4Port],
    dir: &Path,
) -> Result<u32, SandboxError> {
    let ready = dir.join("responder.ready");
    let _ = std::fs::remove_file(&ready);
    let mut args = vec![
        "sandbox".to_string(),
        "responder".to_string(),
        "--pod-name".to_string(),
        name.to_string(),
        "--ready".to_string(),
        ready.display().to_string(),
    ];
    for port in ports {
        args.push("--port".to_string());
        args.push(format!("{}/{}", port.protocol.lower(), port.port));
    }
    let program = moat.display().to_string();
    let pid = spawn(
        netns::exec_command(ns, &program, &args),
        &dir.join("responder.log"),
    )?;
    wait_until(ns, "responder", || ready.exists())?;
    Ok(pid)
}

fn start_nginx(pod: &PodNode, dir: &Path) -> Result<u32, SandboxError> {
    let config = dir.join("nginx.conf");
    std::fs::write(&config, nginx_config(dir, &pod.nginx_ports)).map_err(|source| {
        SandboxError::Io {
            operation: format!("write `{}`", config.display()),
            source,
        }
    })?;
    let args: Vec<String> = vec![
        "-p".into(),
        dir.display().to_string(),
        "-e".into(),
        dir.join("error.log").display().to_string(),
        "-c".into(),
        config.display().to_string(),
        "-g".into(),
        "daemon off;".into(),
    ];
    let pid = spawn(
        netns::exec_command(&pod.netns, "nginx", &args),
        &dir.join("nginx.out"),
    )?;
    for port in &pod.nginx_ports {
        let port = *port;
        let ns = pod.netns.clone();
        wait_until(&pod.netns, "nginx", move || tcp_listening(&ns, port))?;
    }
    Ok(pid)
}

/// Renders the nginx configuration of one pod, with every path inside `dir`.
fn nginx_config(dir: &Path, ports: &[u16]) -> String {
    let (root, index) = NGINX_ROOTS
        .iter()
        .find(|(root, index)| Path::new(root).join(index).exists())
        .copied()
        .unwrap_or(NGINX_ROOTS[0]);
    let d = dir.display();
    let listens: String = ports.iter().map(|p| format!("    listen {p};\n")).collect();
    format!(
        "user www-data;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n  access_log off;\n  include /etc/nginx/mime.types;\n\
         \x20 client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         \x20 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n\
         \x20 scgi_temp_path {d}/scgi;\n  server {{\n{listens}\
         \x20   root {root};\n    index {index};\n  }}\n}}\n"
    )
}

/// Returns whether something accepts TCP connections on `127.0.0.1:port` in `ns`.
fn tcp_listening(ns: &str, port: u16) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    netns::in_netns(ns, move || {
        TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok()
    })
    .unwrap_or(false)
}

fn wait_until(
    ns: &str,
    workload: &str,
    mut ready: impl FnMut() -> bool,
) -> Result<(), SandboxError> {
    let start = Instant::now();
    while !ready() {
        if start.elapsed() > START_TIMEOUT {
            return Err(SandboxError::WorkloadTimeout {
                workload: workload.to_string(),
                netns: ns.to_string(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Returns the directory that contains a pod's configuration and logs.
pub fn pod_dir(state: &State, pod: &PodNode) -> PathBuf {
    state.dir().join("pods").join(pod_dir_name(pod))
}
