//! The syscalls that attach an [`OverlayMount`]: the new mount API first, the
//! legacy mount(2) only where the kernel lacks it and the options still fit.
//!
//! Every directory is opened here first, so that a missing or wrong path is
//! reported by name (which lower layer, which path) before the kernel is asked,
//! and so that what was checked is exactly what gets mounted.

mod fs_context;
pub mod legacy;
mod repeat;

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

/// What a successful call did.
#[derive(Debug, PartialEq, Eq)]
pub enum Done {
    Mounted,
    /// The same overlay was already there (a repeated call): nothing done.
    AlreadyMounted,
}

/// Mounts `mount` at its target. `sloppy` skips options overlayfs does not know.
pub fn mount(mount: &OverlayMount, sloppy: bool) -> Result<Done, Error> {
    let dirs = open_dirs(mount)?;
    if repeat::already_mounted(&dirs) {
        return Ok(Done::AlreadyMounted);
    }
    let mounted = match fs_context::mount(mount, &dirs, sloppy) {
        Ok(fs_context::Outcome::Mounted) => Ok(()),
        Ok(fs_context::Outcome::KernelTooOld) => legacy::mount(mount, sloppy),
        Err(error) => Err(error),
    };
    // The kernel refuses a directory given twice, and then says why badly;
    // looking for one costs a stat per layer, so only a failed mount pays.
    mounted
        .map(|()| Done::Mounted)
        .map_err(|error| check_distinct(mount, &dirs).err().unwrap_or(error))
}

/// Checks everything that can be checked without mounting (`-f`).
pub fn check(mount: &OverlayMount) -> Result<(), Error> {
    check_distinct(mount, &open_dirs(mount)?)
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

/// What the directory with this index is, for messages: lower layers
/// (data-only ones included) in order, then upperdir, then workdir.
pub fn dir_name(mount: &OverlayMount, index: usize) -> String {
    let count = mount.lower.len();
    match (mount.lower.get(index), index.saturating_sub(count)) {
        (Some(layer), _) => {
            let kind = if layer.data_only {
                "data-only layer"
            } else {
                "lowerdir layer"
            };
            format!("{kind} {} of {count} {}", index + 1, quoted(&layer.path))
        }
        (None, 0) => format!(
            "upperdir {}",
            quoted(mount.upper.as_deref().unwrap_or_default())
        ),
        (None, _) => format!(
            "workdir {}",
            quoted(mount.work.as_deref().unwrap_or_default())
        ),
    }
}

/// The path of the directory with this index (as `dir_name` counts).
fn dir_path(mount: &OverlayMount, index: usize) -> &[u8] {
    match index.checked_sub(mount.lower.len()) {
        None => &mount.lower[index].path,
        Some(0) => mount.upper.as_deref().unwrap_or_default(),
        Some(_) => mount.work.as_deref().unwrap_or_default(),
    }
}

/// Opens every directory the mount names, or says which one is wrong.
fn open_dirs(mount: &OverlayMount) -> Result<OpenedDirs, Error> {
    let target = open_dir(mount.target.as_os_str().as_encoded_bytes(), || {
        format!(
            "mount point {}",
            quoted(mount.target.as_os_str().as_encoded_bytes())
        )
    })?;
    let with_upper = mount.upper.is_some() && mount.work.is_some();
    let count = mount.lower.len() + if with_upper { 2 } else { 0 };
    let mut fds = (0..count)
        .map(|i| open_dir(dir_path(mount, i), || dir_name(mount, i)))
        .collect::<Result<Vec<_>, _>>()?;
    let upper_work = if with_upper {
        let work_fd = fds.pop().expect("opened above");
        let upper_fd = fds.pop().expect("opened above");
        if !same_mount(&upper_fd, &work_fd) {
            return Err(Error::mount_failed(format!(
                "{} and {} are on different mounts; overlayfs needs both on one filesystem mount",
                dir_name(mount, count - 2),
                dir_name(mount, count - 1)
            )));
        }
        Some((upper_fd, work_fd))
    } else {
        None
    };
    Ok(OpenedDirs {
        target,
        lower: fds,
        upper_work,
    })
}

/// Two names for one directory make overlayfs refuse the mount with a
/// misleading "too many levels of symbolic links"; say what it is instead.
fn check_distinct(mount: &OverlayMount, dirs: &OpenedDirs) -> Result<(), Error> {
    let mut seen = std::collections::HashMap::new();
    for (i, fd) in dirs.all().enumerate() {
        let Ok(stat) = rustix::fs::fstat(fd) else {
            continue;
        };
        if let Some(first) = seen.insert((stat.st_dev, stat.st_ino), i) {
            return Err(Error::mount_failed(format!(
                "{} and {} are the same directory; overlayfs needs each directory once",
                dir_name(mount, first),
                dir_name(mount, i)
            )));
        }
    }
    Ok(())
}

impl OpenedDirs {
    /// Every opened layer directory, in `dir_name`'s order.
    fn all(&self) -> impl Iterator<Item = &OwnedFd> {
        self.lower.iter().chain(
            self.upper_work
                .iter()
                .flat_map(|(upper, work)| [upper, work]),
        )
    }

    /// Fails when a directory opened for the mount has been removed since:
    /// the kernel takes it anyway ("(deleted)") and would mount another tree
    /// than asked. Checked on the built mount just before it is attached.
    pub fn check_none_removed(&self, mount: &OverlayMount) -> Result<(), Error> {
        let removed = |fd: &OwnedFd| rustix::fs::fstat(fd).is_ok_and(|stat| stat.st_nlink == 0);
        match self.all().position(removed) {
            Some(i) => Err(Error::mount_failed(format!(
                "{} was removed while mounting; nothing was mounted",
                dir_name(mount, i)
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
