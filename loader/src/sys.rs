//! Raw kernel calls the loader needs beyond aya: byte-level map access,
//! `BPF_PROG_TEST_RUN`, bpffs mounting and network namespace switching.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::LoaderError;

const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_MAP_GET_NEXT_KEY: libc::c_long = 4;
const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_OBJ_GET: libc::c_long = 7;
const BPF_LINK_DETACH: libc::c_long = 34;
const BPF_FS_MAGIC: libc::c_long = 0xcafe_4a11;

/// `union bpf_attr` for the map element commands.
#[repr(C)]
#[derive(Default)]
struct MapElemAttr {
    map_fd: u32,
    pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

/// `union bpf_attr` for `BPF_PROG_TEST_RUN`.
#[repr(C)]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    pad: u32,
}

fn bpf<T>(command: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, initialised `#[repr(C)]` prefix of
    // `union bpf_attr`, and the size passed is its exact size. The kernel
    // reads and writes only within that size.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            std::ptr::from_mut(attr).cast::<libc::c_void>(),
            size_of::<T>(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(ret)
}

/// Writes one element given as raw bytes; sizes must match the map's.
pub fn map_update(fd: BorrowedFd<'_>, key: &[u8], value: &[u8], flags: u64) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: fd.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        value: value.as_ptr() as u64,
        flags,
        ..Default::default()
    };
    bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(|_| ())
}

/// Reads one element into `value`; `Ok(false)` when the key is absent.
pub fn map_lookup(fd: BorrowedFd<'_>, key: &[u8], value: &mut [u8]) -> io::Result<bool> {
    let mut attr = MapElemAttr {
        map_fd: fd.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        value: value.as_mut_ptr() as u64,
        ..Default::default()
    };
    match bpf(BPF_MAP_LOOKUP_ELEM, &mut attr) {
        Ok(_) => Ok(true),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Deletes one element; a missing key is not an error.
pub fn map_delete(fd: BorrowedFd<'_>, key: &[u8]) -> io::Result<()> {
    let mut attr = MapElemAttr {
        map_fd: fd.as_raw_fd() as u32,
        key: key.as_ptr() as u64,
        ..Default::default()
    };
    match bpf(BPF_MAP_DELETE_ELEM, &mut attr) {
        Err(e) if e.raw_os_error() != Some(libc::ENOENT) => Err(e),
        _ => Ok(()),
    }
}

/// Lists every key of a hash or LPM map as raw bytes of `key_size`.
pub fn map_keys(fd: BorrowedFd<'_>, key_size: usize) -> io::Result<Vec<Vec<u8>>> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut next = vec![0u8; key_size];
        let mut attr = MapElemAttr {
            map_fd: fd.as_raw_fd() as u32,
            // With a null key the kernel returns the first key.
            key: keys.last().map_or(0, |k| k.as_ptr() as u64),
            value: next.as_mut_ptr() as u64,
            ..Default::default()
        };
        match bpf(BPF_MAP_GET_NEXT_KEY, &mut attr) {
            Ok(_) => keys.push(next),
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(keys),
            Err(e) => return Err(e),
        }
    }
}

/// Result of one `BPF_PROG_TEST_RUN`.
#[derive(Debug, Clone)]
pub struct TestRun {
    /// The program's return code (`TC_ACT_*` for classifiers).
    pub retval: u32,
    /// The packet after the program ran.
    pub packet: Vec<u8>,
    /// `struct __sk_buff` after the run, as raw bytes.
    pub context: Vec<u8>,
}

/// Size of `struct __sk_buff` in the kernel's UAPI.
pub const SK_BUFF_SIZE: usize = 192;

/// Runs a program once on `packet` with an optional `__sk_buff` context.
pub fn prog_test_run(
    fd: BorrowedFd<'_>,
    packet: &[u8],
    context: Option<&[u8]>,
) -> Result<TestRun, LoaderError> {
    prog_test_run_repeat(fd, packet, context, 1).map(|(run, _)| run)
}

/// Runs a program `repeat` times on one packet buffer and returns the last
/// run with the kernel's mean duration per run in nanoseconds. A program
/// that rewrites the packet sees its own output from the second run on.
pub fn prog_test_run_repeat(
    fd: BorrowedFd<'_>,
    packet: &[u8],
    context: Option<&[u8]>,
    repeat: u32,
) -> Result<(TestRun, u32), LoaderError> {
    let mut out = vec![0u8; packet.len() + 256];
    let mut ctx_out = vec![0u8; SK_BUFF_SIZE];
    let mut attr = TestRunAttr {
        prog_fd: fd.as_raw_fd() as u32,
        data_size_in: packet.len() as u32,
        data_size_out: out.len() as u32,
        data_in: packet.as_ptr() as u64,
        data_out: out.as_mut_ptr() as u64,
        repeat,
        ..Default::default()
    };
    if let Some(ctx) = context {
        attr.ctx_size_in = ctx.len() as u32;
        attr.ctx_in = ctx.as_ptr() as u64;
        attr.ctx_size_out = ctx_out.len() as u32;
        attr.ctx_out = ctx_out.as_mut_ptr() as u64;
    }
    bpf(BPF_PROG_TEST_RUN, &mut attr).map_err(|source| LoaderError::Syscall {
        syscall: "BPF_PROG_TEST_RUN",
        source,
    })?;
    out.truncate(attr.data_size_out as usize);
    ctx_out.truncate(attr.ctx_size_out as usize);
    let run = TestRun {
        retval: attr.retval,
        packet: out,
        context: ctx_out,
    };
    Ok((run, attr.duration))
}

/// `union bpf_attr` for `BPF_OBJ_GET`.
#[repr(C)]
#[derive(Default)]
struct ObjGetAttr {
    pathname: u64,
    bpf_fd: u32,
    file_flags: u32,
    path_fd: i32,
    pad: u32,
}

/// Detaches the BPF link pinned at `pin` right away (Linux 5.9), instead
/// of when its last reference goes, which after an unlink happens later
/// from an RCU callback. The pin itself stays; the caller removes it.
pub fn link_detach_pinned(pin: &Path) -> io::Result<()> {
    let c_path = CString::new(pin.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut get = ObjGetAttr {
        pathname: c_path.as_ptr() as u64,
        ..Default::default()
    };
    let fd = bpf(BPF_OBJ_GET, &mut get)?;
    // SAFETY: BPF_OBJ_GET returned a new descriptor that nothing else owns.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) };
    let mut attr = [fd.as_raw_fd() as u32, 0u32];
    bpf(BPF_LINK_DETACH, &mut attr).map(|_| ())
}

/// Returns whether `path` is on a BPF filesystem.
pub fn is_bpffs(path: &Path) -> bool {
    let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `statfs` is plain data, so zeroed is a valid value.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and `stat` is a valid out pointer.
    let ret = unsafe { libc::statfs(c_path.as_ptr(), &mut stat) };
    ret == 0 && stat.f_type as libc::c_long == BPF_FS_MAGIC
}

/// Mounts bpffs on `/sys/fs/bpf` unless a BPF filesystem is there already.
pub fn ensure_bpffs(root: &Path) -> Result<(), LoaderError> {
    if is_bpffs(root) {
        return Ok(());
    }
    let mount_error = |source| LoaderError::MountBpffs {
        path: root.to_path_buf(),
        source,
    };
    let target = CString::new(root.as_os_str().as_bytes())
        .map_err(|e| mount_error(io::Error::new(io::ErrorKind::InvalidInput, e)))?;
    let fstype = c"bpf";
    // SAFETY: every pointer is a NUL-terminated string that outlives the
    // call, and data may be null.
    let ret = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if ret != 0 {
        return Err(mount_error(io::Error::last_os_error()));
    }
    Ok(())
}

/// Moves the calling thread into a network namespace and back on drop.
pub struct NetnsGuard {
    original: File,
    path: PathBuf,
}

impl NetnsGuard {
    /// Enters the namespace at `path` (for example `/run/netns/NAME`).
    pub fn enter(path: &Path) -> Result<Self, LoaderError> {
        let netns_error = |source| LoaderError::Netns {
            path: path.to_path_buf(),
            source,
        };
        let original = File::open("/proc/thread-self/ns/net").map_err(netns_error)?;
        let target = File::open(path).map_err(netns_error)?;
        setns(&target).map_err(netns_error)?;
        Ok(Self {
            original,
            path: path.to_path_buf(),
        })
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        if let Err(e) = setns(&self.original) {
            tracing::error!(netns = %self.path.display(), error = %e, "failed to return to the original network namespace");
        }
    }
}

fn setns(file: &File) -> io::Result<()> {
    // SAFETY: the descriptor is open for the duration of the call.
    let ret = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if ret != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Inode number of the calling thread's network namespace.
pub fn current_netns_inode() -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/thread-self/ns/net")?.ino())
}

/// Index and MAC address of an interface in the current namespace.
pub fn interface_info(name: &str) -> io::Result<(u32, [u8; 6])> {
    let c_name = CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c_name` is NUL-terminated.
    let ifindex = unsafe { libc::if_nametoindex(c_name.as_ptr()) };
    if ifindex == 0 {
        return Err(io::Error::last_os_error());
    }
    let mac = interface_mac(name)?;
    Ok((ifindex, mac))
}

fn interface_mac(name: &str) -> io::Result<[u8; 6]> {
    // SAFETY: a datagram socket is only used for the ioctl below.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `ifreq` is plain data, so zeroed is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req
        .ifr_name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *dst = src as libc::c_char;
    }
    // SAFETY: `req` is a valid `ifreq` with a NUL-terminated name.
    let ret = unsafe { libc::ioctl(sock, libc::SIOCGIFHWADDR, &mut req) };
    let error = io::Error::last_os_error();
    // SAFETY: `sock` is a descriptor this function opened.
    unsafe { libc::close(sock) };
    if ret != 0 {
        return Err(error);
    }
    // SAFETY: SIOCGIFHWADDR filled the `ifru_hwaddr` member of the union.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(data.iter()) {
        *dst = *src as u8;
    }
    Ok(mac)
}
