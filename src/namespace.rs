//! Process set-up before anything is mounted: `-N` moves the helper into
//! another mount namespace.

use std::os::fd::AsFd;

use rustix::fs::{Mode, OFlags};

use crate::error::{Error, quoted};

/// Enters the mount namespace `-N` names: a PID or a namespace file.
pub fn enter(namespace: &std::ffi::OsStr) -> Result<(), Error> {
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
