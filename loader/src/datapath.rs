//! The datapath handle: pinned programs and maps under one pin directory,
//! attachment to pod veths, and the endpoint links the programs redirect to.

use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use aya::maps::MapData;
use aya::programs::SchedClassifier;
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::tc::SchedClassifierLink;

use crate::attach::{
    Attachment, LINKS_DIR, attach_one, attachment_pin_name, detach_all, list_attachments,
};
use crate::error::LoaderError;
use crate::layout::{self, LINK_F_HOST, LINK_F_MAC, Link, names};
use crate::objects::{self, ProgramSet, ProgramSpec, direction_name};
use crate::sys::{self, NetnsGuard, TestRun};

/// Default pin directory of `moat load`.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/moat";

/// Mount point of the BPF filesystem.
const BPFFS_ROOT: &str = "/sys/fs/bpf";

/// A pod's host-side veth to attach the datapath to.
#[derive(Debug, Clone)]
pub struct EndpointLink {
    /// Network namespace of the host-side veth (the node), for example
    /// `/run/netns/moat-demo-node`; `None` for the caller's namespace.
    pub netns: Option<PathBuf>,
    /// Name of the host-side veth in that namespace.
    pub ifname: String,
    /// The pod's IPv4 address: the programs redirect packets for it to this
    /// veth and accept packets from this veth only with it as source.
    pub pod_ip: Ipv4Addr,
    /// MAC address of the pod-side veth. With it, packets enter the pod
    /// through `bpf_redirect_peer`; without it, `bpf_redirect_neigh`.
    pub pod_mac: Option<[u8; 6]>,
}

/// The loaded datapath under one pin directory.
#[derive(Debug)]
pub struct Datapath {
    pin_dir: PathBuf,
    from_pod: SchedClassifier,
    to_pod: SchedClassifier,
}

impl Datapath {
    /// Opens the datapath pinned under `pin_dir`, loading and pinning the
    /// built-in programs and maps first when they are missing. Mounts bpffs
    /// on `/sys/fs/bpf` when no BPF filesystem is there.
    pub fn open_or_create(pin_dir: &Path) -> Result<Self, LoaderError> {
        Self::open_or_create_with(pin_dir, &ProgramSet::BUILTIN)
    }

    /// Like [`Datapath::open_or_create`] with other program objects.
    ///
    /// Pinned programs built from other objects (an older moat) are
    /// replaced through [`Datapath::reload_programs`], so the attached
    /// veths run the new code without a gap.
    pub fn open_or_create_with(pin_dir: &Path, programs: &ProgramSet) -> Result<Self, LoaderError> {
        let created = prepare_pin_dir(pin_dir)?;
        let result = open_programs(pin_dir, programs);
        if result.is_err() && created {
            // Leave nothing behind from a first load that failed.
            let _ = std::fs::remove_dir_all(pin_dir);
        }
        let (from_pod, to_pod) = result?;
        let mut datapath = Self {
            pin_dir: pin_dir.to_path_buf(),
            from_pod,
            to_pod,
        };
        let marker = pin_dir.join(build_marker(programs));
        if !marker.exists() {
            if !created {
                datapath.reload_programs(programs)?;
            }
            set_build_marker(pin_dir, &marker)?;
        }
        Ok(datapath)
    }

    /// Opens an existing datapath without creating anything.
    pub fn open(pin_dir: &Path) -> Result<Self, LoaderError> {
        let set = ProgramSet::BUILTIN;
        if !pin_dir.join(set.from_pod.pin).exists() {
            return Err(LoaderError::NotLoaded {
                path: pin_dir.to_path_buf(),
            });
        }
        let (from_pod, to_pod) = open_programs(pin_dir, &set)?;
        Ok(Self {
            pin_dir: pin_dir.to_path_buf(),
            from_pod,
            to_pod,
        })
    }

    pub fn pin_dir(&self) -> &Path {
        &self.pin_dir
    }

    /// Opens one of the datapath's pinned maps.
    pub fn map(&self, name: &str) -> Result<MapData, LoaderError> {
        open_map(&self.pin_dir, name)
    }

    /// Attaches both programs to a pod's host-side veth (tcx, or clsact
    /// with cls_bpf where tcx is missing) and records the pod's address in
    /// the links map. Attaching a veth twice keeps the first attachment.
    /// Needs tcx (Linux 6.6) or clsact, and CAP_NET_ADMIN and CAP_BPF.
    pub fn attach(&mut self, link: &EndpointLink) -> Result<Vec<Attachment>, LoaderError> {
        let _guard = link.netns.as_deref().map(NetnsGuard::enter).transpose()?;
        let (ifindex, host_mac) =
            sys::interface_info(&link.ifname).map_err(|source| LoaderError::Interface {
                operation: "look up",
                interface: link.ifname.clone(),
                source,
            })?;
        let netns_inode = sys::current_netns_inode().map_err(|source| LoaderError::Fs {
            operation: "read the network namespace of",
            path: PathBuf::from("/proc/thread-self/ns/net"),
            source,
        })?;

        let mut attached = Vec::new();
        let set = ProgramSet::BUILTIN;
        for (spec, program) in [
            (&set.from_pod, &mut self.from_pod),
            (&set.to_pod, &mut self.to_pod),
        ] {
            let at = Attachment {
                netns_inode,
                ifindex,
                direction: direction_name(spec.attach).to_owned(),
                interface: link.ifname.clone(),
                mode: String::new(),
            };
            attached.push(attach_one(&self.pin_dir, spec, program, at)?);
        }

        let value = Link {
            ifindex,
            flags: if link.pod_mac.is_some() {
                LINK_F_MAC
            } else {
                0
            },
            pod_mac: link.pod_mac.unwrap_or_default(),
            host_mac,
        };
        self.set_link(link.pod_ip, &value)?;
        Ok(attached)
    }

    /// Marks `ip` as an address of the node itself, whose traffic policy
    /// never judges (identity host).
    pub fn set_host_address(&self, ip: Ipv4Addr) -> Result<(), LoaderError> {
        let value = Link {
            flags: LINK_F_HOST,
            ..Link::default()
        };
        self.set_link(ip, &value)
    }

    /// Records the host-side veth of a pod address without attaching
    /// anything; [`Datapath::attach`] calls it for each veth.
    pub fn set_link(&self, ip: Ipv4Addr, value: &Link) -> Result<(), LoaderError> {
        let map = self.map(names::LINKS)?;
        sys::map_update(map.fd().as_fd(), &ip.octets(), layout::bytes_of(value), 0).map_err(
            |source| LoaderError::Map {
                operation: "update",
                map: names::LINKS.to_owned(),
                source,
            },
        )
    }

    /// Lists the attachments recorded under the pin directory.
    pub fn attachments(&self) -> Result<Vec<Attachment>, LoaderError> {
        list_attachments(&self.pin_dir)
    }

    /// Detaches the programs from every veth and removes every endpoint link.
    pub fn detach_all(&mut self) -> Result<(), LoaderError> {
        detach_all(&self.pin_dir)
    }

    /// Detaches everything and removes the pin directory with its maps.
    pub fn remove(mut self) -> Result<(), LoaderError> {
        self.detach_all()?;
        remove_pin_dir(&self.pin_dir)
    }

    /// Replaces the programs by new ones: each is loaded and verified
    /// first, then swapped into every existing attachment with one
    /// `BPF_LINK_UPDATE`. When the verifier rejects a program, the old
    /// programs stay attached and the error carries the verifier log.
    pub fn reload_programs(&mut self, set: &ProgramSet) -> Result<(), LoaderError> {
        let (mut from_pod, mut to_pod) = load_staged(&self.pin_dir, set)?;

        for at in self.attachments()? {
            if at.mode != "tcx" {
                continue;
            }
            let program = if at.direction == "ingress" {
                &mut from_pod
            } else {
                &mut to_pod
            };
            let pin = self.pin_dir.join(LINKS_DIR).join(attachment_pin_name(&at));
            relink(&pin, program)?;
        }
        for (spec, program) in [(&set.from_pod, &mut from_pod), (&set.to_pod, &mut to_pod)] {
            repin_program(&self.pin_dir, spec, program)?;
        }
        self.from_pod = from_pod;
        self.to_pod = to_pod;
        Ok(())
    }

    /// Runs a program once on a packet through `BPF_PROG_TEST_RUN`; the
    /// packet is not sent anywhere. `context` is a `struct __sk_buff`.
    pub fn test_run(
        &self,
        hook: Hook,
        packet: &[u8],
        context: Option<&[u8]>,
    ) -> Result<TestRun, LoaderError> {
        let fd = self.program_fd(hook)?;
        sys::prog_test_run(fd.as_fd(), packet, context)
    }

    /// Runs a program `repeat` times on one packet through
    /// `BPF_PROG_TEST_RUN`; returns the kernel's mean run time in ns.
    pub fn test_run_repeat(
        &self,
        hook: Hook,
        packet: &[u8],
        repeat: u32,
    ) -> Result<u32, LoaderError> {
        let fd = self.program_fd(hook)?;
        sys::prog_test_run_repeat(fd.as_fd(), packet, None, repeat).map(|(_, ns)| ns)
    }

    fn program_fd(&self, hook: Hook) -> Result<&aya::programs::ProgramFd, LoaderError> {
        let program = match hook {
            Hook::FromPod => &self.from_pod,
            Hook::ToPod => &self.to_pod,
        };
        program
            .fd()
            .map_err(|e| objects::program_error("open", hook.name(), e))
    }
}

/// The two hooks of a pod's host-side veth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// tcx ingress: packets the pod sends.
    FromPod,
    /// tcx egress: packets the node delivers to the pod.
    ToPod,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::FromPod => "from-pod",
            Hook::ToPod => "to-pod",
        }
    }
}

/// Name of the empty directory that records which objects the pinned
/// programs came from (bpffs holds no regular files): a 64-bit FNV-1a hash
/// of the object bytes.
fn build_marker(programs: &ProgramSet) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for spec in programs.iter() {
        for byte in spec.object {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("build-{hash:016x}")
}

/// Replaces every older build marker under `pin_dir` by `marker`.
fn set_build_marker(pin_dir: &Path, marker: &Path) -> Result<(), LoaderError> {
    if let Ok(entries) = std::fs::read_dir(pin_dir) {
        for entry in entries.filter_map(Result::ok) {
            if entry.file_name().to_string_lossy().starts_with("build-") {
                let _ = std::fs::remove_dir(entry.path());
            }
        }
    }
    std::fs::create_dir(marker).map_err(|source| LoaderError::Fs {
        operation: "create",
        path: marker.to_path_buf(),
        source,
    })
}

/// Creates the pin directory, mounting bpffs first; returns whether the
/// directory is new.
fn prepare_pin_dir(pin_dir: &Path) -> Result<bool, LoaderError> {
    if pin_dir.starts_with(BPFFS_ROOT) {
        std::fs::create_dir_all(BPFFS_ROOT).map_err(|source| LoaderError::Fs {
            operation: "create",
            path: PathBuf::from(BPFFS_ROOT),
            source,
        })?;
        sys::ensure_bpffs(Path::new(BPFFS_ROOT))?;
    }
    let created = !pin_dir.exists();
    for dir in [pin_dir.to_path_buf(), pin_dir.join(LINKS_DIR)] {
        std::fs::create_dir_all(&dir).map_err(|source| LoaderError::Fs {
            operation: "create",
            path: dir.clone(),
            source,
        })?;
    }
    Ok(created)
}

fn open_programs(
    pin_dir: &Path,
    set: &ProgramSet,
) -> Result<(SchedClassifier, SchedClassifier), LoaderError> {
    let open = |spec: &ProgramSpec| {
        let pin = pin_dir.join(spec.pin);
        if pin.exists() {
            SchedClassifier::from_pin(&pin)
                .map_err(|e| objects::program_error("open pinned", spec.name, e))
        } else {
            objects::load_program(spec, pin_dir)
        }
    };
    Ok((open(&set.from_pod)?, open(&set.to_pod)?))
}

/// Loads and verifies new programs while the old pins stay in place.
fn load_staged(
    pin_dir: &Path,
    set: &ProgramSet,
) -> Result<(SchedClassifier, SchedClassifier), LoaderError> {
    let load = |spec: &ProgramSpec| {
        // The maps stay those of `pin_dir`; only the program pin is staged.
        let staged = ProgramSpec {
            pin: "staged",
            ..*spec
        };
        let program = objects::load_program(&staged, pin_dir)?;
        let _ = std::fs::remove_file(pin_dir.join(staged.pin));
        Ok::<_, LoaderError>(program)
    };
    Ok((load(&set.from_pod)?, load(&set.to_pod)?))
}

fn repin_program(
    pin_dir: &Path,
    spec: &ProgramSpec,
    program: &mut SchedClassifier,
) -> Result<(), LoaderError> {
    let pin = pin_dir.join(spec.pin);
    let _ = std::fs::remove_file(&pin);
    program.pin(&pin).map_err(|e| LoaderError::Program {
        operation: "pin",
        program: spec.name.to_owned(),
        message: e.to_string(),
    })
}

fn relink(pin: &Path, program: &mut SchedClassifier) -> Result<(), LoaderError> {
    let pinned = PinnedLink::from_pin(pin).map_err(|e| LoaderError::Program {
        operation: "open link",
        program: pin.display().to_string(),
        message: e.to_string(),
    })?;
    let link =
        SchedClassifierLink::try_from(FdLink::from(pinned)).map_err(|e| LoaderError::Program {
            operation: "open link",
            program: pin.display().to_string(),
            message: e.to_string(),
        })?;
    let id = program
        .attach_to_link(link)
        .map_err(|e| objects::program_error("update link of", &pin.display().to_string(), e))?;
    // The pin keeps the link; the handle may close.
    let link = program
        .take_link(id)
        .map_err(|e| objects::program_error("take link of", &pin.display().to_string(), e))?;
    std::mem::forget(link);
    Ok(())
}

pub(crate) fn open_map(pin_dir: &Path, name: &str) -> Result<MapData, LoaderError> {
    let path = pin_dir.join(name);
    if !path.exists() {
        return Err(LoaderError::NotLoaded {
            path: pin_dir.to_path_buf(),
        });
    }
    MapData::from_pin(&path).map_err(|e| crate::error::map_error("open", name, e))
}

/// Removes the pin directory: detaches, then unpins programs and maps.
pub fn remove_pin_dir(pin_dir: &Path) -> Result<(), LoaderError> {
    if !pin_dir.exists() {
        return Ok(());
    }
    detach_all(pin_dir)?;
    std::fs::remove_dir_all(pin_dir).map_err(|source| LoaderError::Fs {
        operation: "remove",
        path: pin_dir.to_path_buf(),
        source,
    })
}
