//! A repeated call for a mount that is already in place.
//!
//! containerd's shim reaps every child itself, so the status of the helper
//! it waits for is sometimes lost (ECHILD) and it runs the same mount again.
//! Mounting again would stack a second overlay on the same upper and work
//! directories, which overlayfs calls undefined behaviour. So when the target
//! is already the root of an overlay over this upperdir and workdir, the call
//! has nothing left to do.
//!
//! Most calls pay one statx of the target; only a target that is the root of
//! an overlay mount costs a read of mountinfo.

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{AtFlags, Mode, OFlags, StatxAttributes, StatxFlags};

use super::OpenedDirs;

const OVERLAYFS_SUPER_MAGIC: u64 = 0x794c_7630;

/// Whether the target already is this writable overlay, mounted earlier.
/// Anything that cannot be read or compared counts as "no": then the mount
/// is made as asked.
pub fn already_mounted(dirs: &OpenedDirs) -> bool {
    let Some((upper, work)) = dirs.upper_work() else {
        return false;
    };
    let Some(mount_id) = overlay_mount_rooted_at(&dirs.target) else {
        return false;
    };
    let Ok(mountinfo) = std::fs::read("/proc/self/mountinfo") else {
        return false;
    };
    let Some(options) = super_options(&mountinfo, mount_id) else {
        return false;
    };
    same_directory(option_path(options, b"upperdir=").as_deref(), &upper.fd)
        && same_directory(option_path(options, b"workdir=").as_deref(), &work.fd)
}

/// The mount id of the overlay whose root `target` is, if it is one.
fn overlay_mount_rooted_at(target: &OwnedFd) -> Option<u64> {
    let stat = rustix::fs::statx(target, "", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID).ok()?;
    let mount_root = stat
        .stx_attributes_mask
        .contains(StatxAttributes::MOUNT_ROOT)
        && stat.stx_attributes.contains(StatxAttributes::MOUNT_ROOT);
    let has_id = StatxFlags::from_bits_retain(stat.stx_mask).contains(StatxFlags::MNT_ID);
    if !mount_root || !has_id {
        return None;
    }
    let is_overlay =
        rustix::fs::fstatfs(target).is_ok_and(|fs| fs.f_type as u64 == OVERLAYFS_SUPER_MAGIC);
    is_overlay.then_some(stat.stx_mnt_id)
}

/// The super options (last field) of the mountinfo line of `mount_id`.
fn super_options(mountinfo: &[u8], mount_id: u64) -> Option<&[u8]> {
    let id = mount_id.to_string();
    mountinfo
        .split(|&b| b == b'\n')
        .find(|line| line.split(|&b| b == b' ').next() == Some(id.as_bytes()))
        .and_then(|line| line.rsplit(|&b| b == b' ').next())
}

/// The path an option such as `upperdir=` names in mountinfo's super
/// options, unescaped (the kernel writes `\ooo` for commas, spaces, tabs,
/// newlines and backslashes).
fn option_path(options: &[u8], key: &[u8]) -> Option<Vec<u8>> {
    let value = options
        .split(|&b| b == b',')
        .find_map(|option| option.strip_prefix(key))?;
    let mut path = Vec::with_capacity(value.len());
    let mut rest = value;
    while let Some((&first, tail)) = rest.split_first() {
        let octal = tail
            .get(..3)
            .filter(|digits| first == b'\\' && digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match octal {
            Some(digits) => {
                path.push(
                    digits
                        .iter()
                        .fold(0u8, |n, d| n.wrapping_mul(8) + (d - b'0')),
                );
                rest = &tail[3..];
            }
            None => {
                path.push(first);
                rest = tail;
            }
        }
    }
    Some(path)
}

/// Whether an absolute path from mountinfo names the directory `fd` is open
/// on. A relative one (a legacy mount made from another working directory)
/// cannot be told apart, so it is not the same.
fn same_directory(path: Option<&[u8]>, fd: &impl AsFd) -> bool {
    let Some(path) = path.filter(|p| p.starts_with(b"/")) else {
        return false;
    };
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(named) = rustix::fs::open(path, flags, Mode::empty()) else {
        return false;
    };
    match (rustix::fs::fstat(&named), rustix::fs::fstat(fd)) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_super_options_of_one_mount() {
        let mountinfo = b"21 1 0:20 / / rw - ext4 /dev/vda rw\n\
            44 21 0:39 / /m rw,relatime - overlay overlay rw,lowerdir+=/l,upperdir=/u,workdir=/w\n";
        assert_eq!(
            super_options(mountinfo, 44),
            Some(&b"rw,lowerdir+=/l,upperdir=/u,workdir=/w"[..])
        );
        assert_eq!(super_options(mountinfo, 4), None);
    }

    #[test]
    fn unescapes_paths_the_way_the_kernel_escapes_them() {
        let options = b"rw,upperdir=/a\\054b\\040c\\134d,workdir=/w";
        assert_eq!(
            option_path(options, b"upperdir="),
            Some(b"/a,b c\\d".to_vec())
        );
        assert_eq!(option_path(options, b"workdir="), Some(b"/w".to_vec()));
        assert_eq!(option_path(options, b"lowerdir="), None);
        assert_eq!(
            option_path(b"upperdir=/x\\9", b"upperdir="),
            Some(b"/x\\9".to_vec())
        );
    }
}
