//! Attachment of the programs to pod veths with tcx links (or clsact
//! where tcx is missing), recorded as pins under `<pin-dir>/links/`.

use std::os::fd::AsFd;
use std::path::Path;

use aya::programs::links::FdLink;
use aya::programs::tc::TcAttachOptions;
use aya::programs::{LinkOrder, SchedClassifier};

use crate::datapath::open_map;
use crate::error::LoaderError;
use crate::layout::names;
use crate::objects::{ProgramSpec, direction_name};
use crate::sys;

/// Directory under the pin directory with one pin per attachment.
pub(crate) const LINKS_DIR: &str = "links";

/// One attached program, as recorded by its pin.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attachment {
    pub netns_inode: u64,
    pub ifindex: u32,
    pub direction: String,
    pub interface: String,
    /// `tcx` or `netlink`.
    pub mode: String,
}

pub(crate) fn attachment_pin_name(at: &Attachment) -> String {
    let suffix = if at.mode == "netlink" { "-netlink" } else { "" };
    format!(
        "{}-{}-{}-{}{suffix}",
        at.netns_inode, at.ifindex, at.direction, at.interface
    )
}

fn parse_attachment(name: &str) -> Option<Attachment> {
    let (rest, mode) = match name.strip_suffix("-netlink") {
        Some(rest) => (rest, "netlink"),
        None => (name, "tcx"),
    };
    let mut parts = rest.splitn(4, '-');
    let netns_inode = parts.next()?.parse().ok()?;
    let ifindex = parts.next()?.parse().ok()?;
    let direction = parts.next()?.to_owned();
    let interface = parts.next()?.to_owned();
    Some(Attachment {
        netns_inode,
        ifindex,
        direction,
        interface,
        mode: mode.to_owned(),
    })
}

pub(crate) fn attach_one(
    pin_dir: &Path,
    spec: &ProgramSpec,
    program: &mut SchedClassifier,
    mut at: Attachment,
) -> Result<Attachment, LoaderError> {
    let links = pin_dir.join(LINKS_DIR);
    for mode in ["tcx", "netlink"] {
        at.mode = mode.to_owned();
        if links.join(attachment_pin_name(&at)).exists() {
            return Ok(at);
        }
    }
    let interface = at.interface.clone();
    let attach_error = |message: String| LoaderError::Attach {
        program: spec.name.to_owned(),
        interface: interface.clone(),
        direction: direction_name(spec.attach),
        message,
    };

    match program.attach_with_options(
        &at.interface,
        spec.attach,
        TcAttachOptions::TcxOrder(LinkOrder::default()),
    ) {
        Ok(id) => {
            at.mode = "tcx".to_owned();
            let link = program
                .take_link(id)
                .map_err(|e| attach_error(e.to_string()))?;
            let fd_link: FdLink = link.try_into().map_err(|e| attach_error(format!("{e}")))?;
            fd_link
                .pin(links.join(attachment_pin_name(&at)))
                .map_err(|e| attach_error(format!("pin link: {e}")))?;
            Ok(at)
        }
        Err(tcx_error) => {
            tracing::debug!(error = %tcx_error, "tcx attach failed, trying clsact");
            attach_netlink(&links, spec, program, at)
                .map_err(|e| attach_error(format!("tcx: {tcx_error}; clsact: {e}")))
        }
    }
}

/// Fallback for kernels without tcx: clsact qdisc plus a cls_bpf filter.
/// Such filters outlive the process by themselves, so the pin is an empty
/// directory that only records the attachment.
fn attach_netlink(
    links: &Path,
    spec: &ProgramSpec,
    program: &mut SchedClassifier,
    mut at: Attachment,
) -> Result<Attachment, String> {
    use aya::programs::tc;

    match tc::qdisc_add_clsact(&at.interface) {
        Ok(()) | Err(tc::TcError::AlreadyAttached) => {}
        Err(e) => return Err(e.to_string()),
    }
    let id = program
        .attach_with_options(
            &at.interface,
            spec.attach,
            TcAttachOptions::Netlink(Default::default()),
        )
        .map_err(|e| e.to_string())?;
    let link = program.take_link(id).map_err(|e| e.to_string())?;
    // Dropping the link would detach the filter.
    std::mem::forget(link);
    at.mode = "netlink".to_owned();
    std::fs::create_dir_all(links.join(attachment_pin_name(&at))).map_err(|e| e.to_string())?;
    Ok(at)
}

pub(crate) fn list_attachments(pin_dir: &Path) -> Result<Vec<Attachment>, LoaderError> {
    let dir = pin_dir.join(LINKS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(LoaderError::Fs {
                operation: "list",
                path: dir,
                source,
            });
        }
    };
    let mut found: Vec<Attachment> = entries
        .filter_map(Result::ok)
        .filter_map(|e| parse_attachment(&e.file_name().to_string_lossy()))
        .collect();
    found.sort_by(|a, b| (&a.interface, &a.direction).cmp(&(&b.interface, &b.direction)));
    Ok(found)
}

/// Detaches every tcx link, removes its pin and clears the links map.
// NOTE: cls_bpf filters of the clsact fallback stay attached until their
// interface is deleted; only their record is removed here.
pub(crate) fn detach_all(pin_dir: &Path) -> Result<(), LoaderError> {
    let dir = pin_dir.join(LINKS_DIR);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let removed = if path.is_dir() {
                std::fs::remove_dir(&path)
            } else {
                if let Err(e) = sys::link_detach_pinned(&path) {
                    tracing::debug!(pin = %path.display(), error = %e, "link detach failed");
                }
                std::fs::remove_file(&path)
            };
            removed.map_err(|source| LoaderError::Fs {
                operation: "remove link pin",
                path: path.clone(),
                source,
            })?;
        }
    }
    if let Ok(map) = open_map(pin_dir, names::LINKS) {
        let keys = sys::map_keys(map.fd().as_fd(), 4).map_err(|source| LoaderError::Map {
            operation: "list keys of",
            map: names::LINKS.to_owned(),
            source,
        })?;
        for key in keys {
            let _ = sys::map_delete(map.fd().as_fd(), &key);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_name_round_trip() {
        let at = Attachment {
            netns_inode: 4026531840,
            ifindex: 7,
            direction: "ingress".into(),
            interface: "veth-web-1".into(),
            mode: "tcx".into(),
        };
        let name = attachment_pin_name(&at);
        assert_eq!(name, "4026531840-7-ingress-veth-web-1");
        assert_eq!(parse_attachment(&name), Some(at.clone()));

        let netlink = Attachment {
            mode: "netlink".into(),
            ..at
        };
        assert_eq!(
            parse_attachment(&attachment_pin_name(&netlink)),
            Some(netlink)
        );
    }
}
