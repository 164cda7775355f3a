//! mount(2) with one option string, for kernels without `lowerdir+`. The
//! kernel copies at most one page less its NUL and silently cuts the rest
//! (a cut at a ':' drops the bottom layer and still succeeds), so the string
//! must fit: as written, or with the lower layers relative to their common
//! parent directory, mounted from there; otherwise the mount is refused.

use std::ffi::CString;
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use super::common_refusal;
use crate::error::{Error, quoted};
use crate::overlay::OverlayMount;

/// The most option bytes mount(2) reads.
pub const MAX_DATA: usize = 4095;

pub fn mount(mount: &OverlayMount) -> Result<(), Error> {
    let data = mount.kernel_data(None);
    if data.len() <= MAX_DATA {
        return mount_with_data(mount, &mount.target, data);
    }
    if let Some(parent) = common_parent(mount) {
        let compact = mount.kernel_data(Some(&parent));
        if compact.len() <= MAX_DATA {
            let target = std::path::absolute(&mount.target)
                .map_err(|e| Error::mount_failed(format!("cannot resolve the mount point: {e}")))?;
            return in_directory(&parent, || mount_with_data(mount, &target, compact));
        }
    }
    Err(Error::mount_failed(format!(
        "the overlay options are {} bytes, more than the {MAX_DATA} this kernel's mount(2) reads, and it lacks 'lowerdir+'; use Linux 6.8 or newer, or fewer or shorter layer paths",
        data.len()
    )))
}

/// The deepest directory holding every lower layer (each as `parent/rest`
/// with `rest` not empty), when all paths are absolute and it is not `/`.
pub fn common_parent(mount: &OverlayMount) -> Option<Vec<u8>> {
    let absolute = |p: &Vec<u8>| p.starts_with(b"/");
    let all_absolute = mount.lower.iter().all(|l| absolute(&l.path))
        && mount.upper.iter().chain(&mount.work).all(absolute);
    if !all_absolute {
        return None;
    }
    let first = &mount.lower[0].path;
    let mut parent_len = first.iter().rposition(|&b| b == b'/')?;
    for layer in &mount.lower[1..] {
        while parent_len > 0
            && !(layer.path.starts_with(&first[..parent_len])
                && layer.path.get(parent_len) == Some(&b'/'))
        {
            parent_len = first[..parent_len].iter().rposition(|&b| b == b'/')?;
        }
    }
    let every_rest_named = mount.lower.iter().all(|l| l.path.len() > parent_len + 1);
    (parent_len > 0 && every_rest_named).then(|| first[..parent_len].to_vec())
}

fn mount_with_data(mount: &OverlayMount, target: &Path, data: Vec<u8>) -> Result<(), Error> {
    // Option strings come from argv and so hold no NUL.
    let data = CString::new(data).map_err(|_| Error::usage("the options contain a NUL byte"))?;
    let source = CString::new(mount.source.clone())
        .map_err(|_| Error::usage("the source contains a NUL byte"))?;
    rustix::mount::mount(
        source.as_c_str(),
        target,
        "overlay",
        mount.flags,
        data.as_c_str(),
    )
    .map_err(|errno| {
        common_refusal(errno).unwrap_or_else(|| {
            Error::mount_failed(format!(
                "the kernel refused the overlay at {}: {errno} (see dmesg for overlayfs's reason)",
                quoted(target.as_os_str().as_encoded_bytes())
            ))
        })
    })
}

/// Runs `action` with `dir` as the working directory, then returns to the
/// previous one.
fn in_directory<T>(dir: &[u8], action: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    let failed =
        |errno: Errno| Error::mount_failed(format!("cannot enter {}: {errno}", quoted(dir)));
    let previous = rustix::fs::open(
        ".",
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(failed)?;
    rustix::process::chdir(dir).map_err(failed)?;
    let result = action();
    // Returning matters only to a caller that goes on, such as the tests.
    let _ = rustix::process::fchdir(&previous);
    result
}
