//! The syscalls that attach an [`OverlayMount`]: the new mount API first, the
//! legacy mount(2) only where the kernel lacks it and the options still fit.
//!
//! Every directory is opened here first, so that a missing or wrong path is
//! reported by name (which lower layer, which path) before the kernel is asked,
//! and so that what was checked is exactly what gets mounted.

mod fs_context;
pub mod legacy;
mod repeat;

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags, StatxFlags};
use rustix::io::Errno;

use crate::error::{Error, quoted};
use crate::overlay::{Dir, OverlayMount, Role};

/// A directory of the mount, opened as an O_PATH descriptor.
pub struct OpenedDir<'m> {
    pub dir: Dir<'m>,
    pub fd: OwnedFd,
}

impl fmt::Display for OpenedDir<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.dir.fmt(f)
    }
}

/// The directories of a mount, opened.
pub struct OpenedDirs<'m> {
    pub target: OwnedFd,
    /// In [`OverlayMount::dirs`]' order: lower layers, then upper and work.
    pub dirs: Vec<OpenedDir<'m>>,
}

/// What a successful call did.
#[derive(Debug, PartialEq, Eq)]
pub enum Done {
    Mounted,
    /// The same overlay was already there (a repeated call): nothing done.
    AlreadyMounted,
}

/// Mounts `mount` at its target.
pub fn mount(mount: &OverlayMount) -> Result<Done, Error> {
    let dirs = open_dirs(mount)?;
    if repeat::already_mounted(&dirs) {
        return Ok(Done::AlreadyMounted);
    }
    let mounted = match fs_context::mount(mount, &dirs) {
        Ok(fs_context::Outcome::Mounted) => Ok(()),
        Ok(fs_context::Outcome::KernelTooOld) => legacy::mount(mount),
        Err(error) => Err(error),
    };
    // The kernel refuses a directory given twice, and then says why badly;
    // looking for one costs a stat per layer, so only a failed mount pays.
    mounted
        .map(|()| Done::Mounted)
        .map_err(|error| check_distinct(&dirs).err().unwrap_or(error))
}

/// Checks everything that can be checked without mounting (`-f`).
pub fn check(mount: &OverlayMount) -> Result<(), Error> {
    check_distinct(&open_dirs(mount)?)
}

/// The errors either mount system call gives the same meaning: no right to
/// mount, or no overlayfs in the kernel. `None` for any other errno.
fn common_refusal(errno: Errno) -> Option<Error> {
    match errno {
        Errno::PERM => Some(Error::usage(
            "mounting needs root (CAP_SYS_ADMIN); run it as root",
        )),
        Errno::NODEV => Some(Error::mount_failed(
            "this kernel has no overlayfs; load it with 'modprobe overlay'",
        )),
        _ => None,
    }
}

/// Opens every directory the mount names, or says which one is wrong.
fn open_dirs(mount: &OverlayMount) -> Result<OpenedDirs<'_>, Error> {
    let target = open_dir(mount.target.as_os_str().as_encoded_bytes(), || {
        format!(
            "mount point {}",
            quoted(mount.target.as_os_str().as_encoded_bytes())
        )
    })?;
    let dirs = mount
        .dirs()
        .map(|dir| {
            let fd = open_dir(dir.path, || dir.to_string())?;
            Ok(OpenedDir { dir, fd })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let opened = OpenedDirs { target, dirs };
    if let Some((upper, work)) = opened.upper_work() {
        if !same_mount(&upper.fd, &work.fd) {
            return Err(Error::mount_failed(format!(
                "{upper} and {work} are on different mounts; overlayfs needs both on one filesystem mount"
            )));
        }
    }
    Ok(opened)
}

/// Two names for one directory make overlayfs refuse the mount with a
/// misleading "too many levels of symbolic links"; say what it is instead.
fn check_distinct(dirs: &OpenedDirs) -> Result<(), Error> {
    let mut seen = std::collections::HashMap::new();
    for (i, opened) in dirs.dirs.iter().enumerate() {
        let Ok(stat) = rustix::fs::fstat(&opened.fd) else {
            continue;
        };
        if let Some(first) = seen.insert((stat.st_dev, stat.st_ino), i) {
            return Err(Error::mount_failed(format!(
                "{} and {opened} are the same directory; overlayfs needs each directory once",
                dirs.dirs[first]
            )));
        }
    }
    Ok(())
}

impl OpenedDirs<'_> {
    /// The upper and work directory, when the overlay is writable.
    pub fn upper_work(&self) -> Option<(&OpenedDir<'_>, &OpenedDir<'_>)> {
        match self.dirs.as_slice() {
            [.., upper, work] if upper.dir.role == Role::Upper && work.dir.role == Role::Work => {
                Some((upper, work))
            }
            _ => None,
        }
    }

    /// Fails when a directory opened for the mount has been removed since:
    /// the kernel takes it anyway ("(deleted)") and would mount another tree
    /// than asked. Checked on the built mount just before it is attached.
    pub fn check_none_removed(&self) -> Result<(), Error> {
        let removed = |opened: &&OpenedDir| {
            rustix::fs::fstat(&opened.fd).is_ok_and(|stat| stat.st_nlink == 0)
        };
        match self.dirs.iter().find(removed) {
            Some(opened) => Err(Error::mount_failed(format!(
                "{opened} was removed while mounting; nothing was mounted"
            ))),
            None => Ok(()),
        }
    }
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
