//! The syscalls that attach an [`OverlayMount`]: the new mount API first, the
//! legacy mount(2) only where the kernel lacks it and the options still fit.
//!
//! Every directory is opened here first, so that a missing or wrong path is
//! reported by name (which lower layer, which path) before the kernel is asked,
//! and so that what was checked is exactly what gets mounted.

mod fs_context;
pub mod legacy;

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};
use rustix::io::Errno;

use crate::error::{Error, quoted};
use crate::overlay::OverlayMount;

/// The directories of a mount, opened as O_PATH descriptors.
pub struct OpenedDirs {
    pub target: OwnedFd,
    pub lower: Vec<OwnedFd>,
    /// Upper and work directory, when the overlay is writable.
    pub upper_work: Option<(OwnedFd, OwnedFd)>,
}

/// Mounts `mount` at its target. `sloppy` skips options overlayfs does not know.
pub fn mount(mount: &OverlayMount, sloppy: bool) -> Result<(), Error> {
    let dirs = open_dirs(mount)?;
    match fs_context::mount(mount, &dirs, sloppy)? {
        fs_context::Outcome::Mounted => Ok(()),
        fs_context::Outcome::KernelTooOld => legacy::mount(mount, sloppy),
    }
}

/// Opens every directory the mount names, or says which one is wrong.
pub fn open_dirs(mount: &OverlayMount) -> Result<OpenedDirs, Error> {
    let target = open_dir(mount.target.as_os_str().as_encoded_bytes(), || {
        format!(
            "mount point {}",
            quoted(mount.target.as_os_str().as_encoded_bytes())
        )
    })?;
    let count = mount.lower.len();
    let lower = mount
        .lower
        .iter()
        .enumerate()
        .map(|(i, layer)| {
            let kind = if layer.data_only {
                "data-only layer"
            } else {
                "lowerdir layer"
            };
            open_dir(&layer.path, || {
                format!("{kind} {} of {count} {}", i + 1, quoted(&layer.path))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let upper_work = match (&mount.upper, &mount.work) {
        (Some(upper), Some(work)) => {
            let upper_fd = open_dir(upper, || format!("upperdir {}", quoted(upper)))?;
            let work_fd = open_dir(work, || format!("workdir {}", quoted(work)))?;
            if !same_mount(&upper_fd, &work_fd) {
                return Err(Error::mount_failed(format!(
                    "upperdir {} and workdir {} are on different mounts; overlayfs needs both on one filesystem mount",
                    quoted(upper),
                    quoted(work)
                )));
            }
            Some((upper_fd, work_fd))
        }
        _ => None,
    };
    Ok(OpenedDirs {
        target,
        lower,
        upper_work,
    })
}

fn open_dir(path: &[u8], name: impl FnOnce() -> String) -> Result<OwnedFd, Error> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    rustix::fs::open(path, flags, Mode::empty()).map_err(|errno| {
        let problem = match errno {
            Errno::NOENT => "does not exist".to_string(),
            Errno::NOTDIR => "is not a directory".to_string(),
            Errno::ACCESS => "cannot be reached: permission denied".to_string(),
            Errno::LOOP => "has a symbolic link loop".to_string(),
            Errno::NAMETOOLONG => "is too long a path".to_string(),
            other => format!("cannot be opened: {other}"),
        };
        Error::mount_failed(format!("{} {problem}", name()))
    })
}

/// Whether two directories are on the same mount, which overlayfs requires of
/// upperdir and workdir. Kernels without STATX_MNT_ID are left to judge it.
fn same_mount(a: &impl AsFd, b: &impl AsFd) -> bool {
    let mount_id = |fd: &dyn AsFd| {
        rustix::fs::statx(fd.as_fd(), "", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID)
            .ok()
            .filter(|s| StatxFlags::from_bits_retain(s.stx_mask).contains(StatxFlags::MNT_ID))
            .map(|s| s.stx_mnt_id)
    };
    match (mount_id(a), mount_id(b)) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

/// Enters the mount namespace `-N` names: a PID or a namespace file.
pub fn enter_namespace(namespace: &std::ffi::OsStr) -> Result<(), Error> {
    let bytes = namespace.as_encoded_bytes();
    let path = if !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit) {
        [b"/proc/", bytes, b"/ns/mnt"].concat()
    } else {
        bytes.to_vec()
    };
    let fd = rustix::fs::open(&path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).map_err(
        |errno| {
            Error::usage(format!(
                "cannot open mount namespace {}: {errno}",
                quoted(&path)
            ))
        },
    )?;
    rustix::thread::move_into_link_name_space(
        fd.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Mount),
    )
    .map_err(|errno| {
        Error::usage(format!(
            "cannot enter mount namespace {}: {errno}",
            quoted(&path)
        ))
    })
}
