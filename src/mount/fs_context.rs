//! The new mount API: fsopen → fsconfig (one `lowerdir+` per layer, each an
//! O_PATH descriptor) → fsmount → move_mount. No option string is built, so
//! nothing is cut at a page and no path length or escaping matters. Nothing is
//! attached before move_mount: a failure or a kill before it leaves no mount.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use rustix::io::Errno;
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MoveMountFlags, fsconfig_create, fsconfig_set_fd, fsconfig_set_flag,
    fsconfig_set_string, fsmount, fsopen, move_mount,
};

use super::{OpenedDir, OpenedDirs, common_refusal};
use crate::error::{Error, one_line, quoted};
use crate::options;
use crate::overlay::{DataOption, OverlayMount};

pub enum Outcome {
    Mounted,
    /// No fsopen or no `lowerdir+` (Linux < 6.8): mount(2) must be tried.
    KernelTooOld,
}

/// The longest string value fsconfig takes.
const MAX_STRING_VALUE: usize = 255;

/// How layer directories are handed to overlayfs: as descriptors where the
/// kernel takes them (Linux 6.13+), else by name (Linux 6.8–6.12).
#[derive(Clone, Copy, PartialEq, Eq)]
enum LayerPassing {
    Descriptor,
    Name,
}

struct FsContext {
    fd: OwnedFd,
}

pub fn mount(mount: &OverlayMount, dirs: &OpenedDirs) -> Result<Outcome, Error> {
    let context = match fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
        Ok(fd) => FsContext { fd },
        Err(Errno::NOSYS) => return Ok(Outcome::KernelTooOld),
        Err(errno) => {
            return Err(common_refusal(errno).unwrap_or_else(|| {
                Error::mount_failed(format!("cannot start an overlay mount: {errno}"))
            }));
        }
    };
    context
        .set_string(b"source", &mount.source)
        .map_err(|errno| context.refusal("the mount source", errno))?;
    for key in options::superblock_flags(mount.flags) {
        context
            .set_flag(key.as_bytes())
            .map_err(|errno| context.refusal(&format!("flag '{key}'"), errno))?;
    }
    // The first lower layer goes in while learning how this kernel takes
    // layers; every other directory follows the same way.
    let Some(passing) = context.choose_layer_passing(&dirs.dirs[0])? else {
        return Ok(Outcome::KernelTooOld);
    };
    for opened in &dirs.dirs[1..] {
        context
            .set_dir(opened, passing)
            .map_err(|errno| context.refusal(&opened.to_string(), errno))?;
    }
    for option in &mount.data {
        context.add_option(option, mount.sloppy)?;
    }
    fsconfig_create(&context.fd).map_err(|errno| context.refusal("the overlay", errno))?;
    let detached = fsmount(
        &context.fd,
        FsMountFlags::FSMOUNT_CLOEXEC,
        options::mount_attributes(mount.flags),
    )
    .map_err(|errno| context.refusal("the mount flags", errno))?;
    dirs.check_none_removed()?;
    move_mount(
        &detached,
        "",
        &dirs.target,
        "",
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
    )
    .map_err(|errno| {
        Error::mount_failed(format!(
            "cannot attach the overlay at {}: {errno}",
            quoted(mount.target.as_os_str().as_encoded_bytes())
        ))
    })?;
    Ok(Outcome::Mounted)
}

impl FsContext {
    fn set_string(&self, key: &[u8], value: &[u8]) -> Result<(), Errno> {
        fsconfig_set_string(&self.fd, key, value)
    }

    fn set_flag(&self, key: &[u8]) -> Result<(), Errno> {
        fsconfig_set_flag(&self.fd, key)
    }

    /// Hands one directory to overlayfs under its role's key.
    fn set_dir(&self, opened: &OpenedDir, passing: LayerPassing) -> Result<(), Errno> {
        let key = opened.dir.role.key();
        match passing {
            LayerPassing::Descriptor => fsconfig_set_fd(&self.fd, key, opened.fd.as_fd()),
            LayerPassing::Name => self.set_string(
                key.as_bytes(),
                &name_for_kernel(opened.dir.path, &opened.fd),
            ),
        }
    }

    /// Adds the first lower layer, learning how this kernel takes layers;
    /// `None` when it has no `lowerdir+` at all.
    fn choose_layer_passing(&self, first: &OpenedDir) -> Result<Option<LayerPassing>, Error> {
        for passing in [LayerPassing::Descriptor, LayerPassing::Name] {
            match self.set_dir(first, passing) {
                Ok(()) => return Ok(Some(passing)),
                Err(Errno::INVAL) => {
                    if self
                        .kernel_message()
                        .is_some_and(|m| m.contains("Unknown parameter"))
                    {
                        return Ok(None);
                    }
                }
                Err(errno) => return Err(self.refusal(&first.to_string(), errno)),
            }
        }
        Err(self.refusal(&first.to_string(), Errno::INVAL))
    }

    /// Adds one overlayfs option; with `sloppy`, one overlayfs does not know is
    /// skipped. Errors name the key and, only for known options, the kernel's
    /// reason: an unknown option's value may be a secret.
    fn add_option(&self, option: &DataOption, sloppy: bool) -> Result<(), Error> {
        let result = match &option.value {
            None => self.set_flag(&option.key),
            Some(value) => self.set_string(&option.key, value),
        };
        let Err(errno) = result else { return Ok(()) };
        let message = self.kernel_message();
        let unknown = errno == Errno::INVAL
            && message
                .as_deref()
                .is_some_and(|m| m.contains("Unknown parameter"));
        let key = quoted(&option.key);
        Err(match (unknown, option.known, message) {
            (true, ..) if sloppy => return Ok(()),
            (true, ..) => Error::mount_failed(format!(
                "overlayfs does not know option {key}; remove it, or pass -s to skip unknown options"
            )),
            (false, true, Some(message)) => {
                Error::mount_failed(format!("overlayfs refused option {key}: {message}"))
            }
            _ => Error::mount_failed(format!("overlayfs refused option {key}: {errno}")),
        })
    }

    /// The last error the kernel logged on this context, if any; reading
    /// drains the log.
    fn kernel_message(&self) -> Option<String> {
        let mut last = None;
        let mut buffer = [0u8; 512];
        while let Ok(len @ 1..) = rustix::io::read(&self.fd, &mut buffer) {
            if let Some(text) = buffer[..len].strip_prefix(b"e ") {
                last = Some(one_line(text));
            }
        }
        last
    }

    /// An error for something the kernel refused, with its logged reason.
    fn refusal(&self, what: &str, errno: Errno) -> Error {
        match self.kernel_message() {
            Some(message) => Error::mount_failed(format!("the kernel refused {what}: {message}")),
            None => Error::mount_failed(format!(
                "the kernel refused {what}: {errno}; dmesg may have overlayfs's reason"
            )),
        }
    }
}

/// A name by which the kernel finds a directory already opened as `fd`: its
/// own path where that fits fsconfig and needs no escaping, else the
/// descriptor's /proc link.
fn name_for_kernel(path: &[u8], fd: &OwnedFd) -> Vec<u8> {
    let plain = path.len() <= MAX_STRING_VALUE && path.starts_with(b"/") && !path.contains(&b'\\');
    if plain {
        path.to_vec()
    } else {
        format!("/proc/self/fd/{}", fd.as_raw_fd()).into_bytes()
    }
}
