//! What is installed and running on the node: program versions, where a
//! program is found through a PATH, and whether we run in a chroot or a
//! container. Everything here only reads.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::layout::{Layout, MOUNT_HELPER_LINK, SERVICE_PATH};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// The first word of `text` that reads as a version: `1.7`, `v0.15.0`,
    /// `1.6.20~ds1`.
    pub fn find_in(text: &str) -> Option<Version> {
        text.split_whitespace().find_map(Version::parse)
    }

    pub fn parse(word: &str) -> Option<Version> {
        let word = word.strip_prefix('v').unwrap_or(word);
        let end = word
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(word.len());
        let mut parts = word[..end].split('.').map(|p| p.parse::<u32>().ok());
        let major = parts.next()??;
        let minor = parts.next()??;
        let patch = parts.next().flatten().unwrap_or(0);
        Some(Version {
            major,
            minor,
            patch,
        })
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The first executable `name` in `search_path` on the node; node path.
pub fn find_program(layout: &Layout, name: &str, search_path: &[PathBuf]) -> Option<PathBuf> {
    search_path
        .iter()
        .map(|dir| dir.join(name))
        .find(|candidate| {
            fs::metadata(layout.host(candidate))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

pub fn service_path() -> Vec<PathBuf> {
    SERVICE_PATH.iter().map(PathBuf::from).collect()
}

/// The version `program --version` reports, run from the node's tree.
pub fn program_version(layout: &Layout, name: &str) -> Option<Version> {
    let program = find_program(layout, name, &service_path())?;
    let output = Command::new(layout.host(&program))
        .arg("--version")
        .output()
        .ok()?;
    Version::find_in(&String::from_utf8_lossy(&output.stdout))
        .or_else(|| Version::find_in(&String::from_utf8_lossy(&output.stderr)))
}

/// The PATH containerd runs with: that of the running daemon when there is
/// one on this machine, else systemd's default for services.
pub fn containerd_search_path(layout: &Layout) -> (Vec<PathBuf>, &'static str) {
    if layout.is_host_root() {
        if let Some(path) = running_containerd_path() {
            return (path, "the running containerd");
        }
    }
    (service_path(), "systemd's default for services")
}

fn running_containerd_path() -> Option<Vec<PathBuf>> {
    for entry in fs::read_dir("/proc").ok()?.flatten() {
        let dir = entry.path();
        if fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim_end() == "containerd") {
            let environ = fs::read(dir.join("environ")).ok()?;
            let path = environ
                .split(|&b| b == 0)
                .find_map(|v| v.strip_prefix(b"PATH="))?;
            return Some(
                String::from_utf8_lossy(path)
                    .split(':')
                    .map(PathBuf::from)
                    .collect(),
            );
        }
    }
    None
}

/// Whether this process runs in a chroot or a container, where loading a
/// kernel module is neither possible nor wanted.
pub fn confined() -> bool {
    let container_marks = ["/run/.containerenv", "/.dockerenv"]
        .iter()
        .any(|p| Path::new(p).exists());
    let chrooted = match (fs::metadata("/proc/1/root"), fs::metadata("/")) {
        (Ok(init_root), Ok(ours)) => {
            use std::os::unix::fs::MetadataExt;
            (init_root.dev(), init_root.ino()) != (ours.dev(), ours.ino())
        }
        // No /proc: an image build in a bare chroot.
        _ => true,
    };
    container_marks || chrooted || std::env::var_os("container").is_some()
}

/// Whether the running kernel has overlayfs now.
pub fn overlay_registered() -> bool {
    fs::read_to_string("/proc/filesystems")
        .is_ok_and(|t| t.lines().any(|l| l.ends_with("\toverlay")))
}

/// The mount.fuse that containerd would run, if the node has one.
pub fn mount_fuse(layout: &Layout) -> Option<PathBuf> {
    [
        "/sbin/mount.fuse",
        "/usr/sbin/mount.fuse",
        "/bin/mount.fuse",
        "/usr/bin/mount.fuse",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| layout.host(p).exists())
}

/// Whether mount(8)'s `/sbin/mount.fuse.nydus-overlayfs` leads where the
/// helper path leads.
pub fn mount_helper_link_leads_to_helper(layout: &Layout) -> bool {
    resolve(layout, MOUNT_HELPER_LINK.as_ref()) == resolve(layout, layout.helper())
}

/// Where `path` leads on the node once every symbolic link is followed
/// inside the node's root (absolute links included), or `None` when it leads
/// nowhere.
pub fn resolve(layout: &Layout, path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut resolved = PathBuf::from("/");
    let mut pending: Vec<PathBuf> = vec![path.to_path_buf()];
    let mut links_followed = 0;
    while let Some(next) = pending.pop() {
        let mut components = next.components();
        let Some(first) = components.next() else {
            continue;
        };
        let rest = components.as_path().to_path_buf();
        if !rest.as_os_str().is_empty() {
            pending.push(rest);
        }
        match first {
            Component::RootDir => resolved = PathBuf::from("/"),
            Component::CurDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                resolved.pop();
            }
            Component::Normal(name) => {
                let candidate = resolved.join(name);
                let host = layout.host(&candidate);
                if fs::symlink_metadata(&host).ok()?.file_type().is_symlink() {
                    links_followed += 1;
                    if links_followed > 40 {
                        return None;
                    }
                    pending.push(fs::read_link(&host).ok()?);
                } else {
                    resolved = candidate;
                }
            }
        }
    }
    Some(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_found_in_what_programs_print() {
        let cases = [
            (
                "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3",
                Some(Version::new(1, 6, 20)),
            ),
            (
                "containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7",
                Some(Version::new(2, 1, 4)),
            ),
            (
                "containerd containerd.io 1.7.24 88bf19b",
                Some(Version::new(1, 7, 24)),
            ),
            (
                "Version:  v0.15.0\nRevision: abc\nGo version: go1.22",
                Some(Version::new(0, 15, 0)),
            ),
            ("Version: 0.13.4+ds1", Some(Version::new(0, 13, 4))),
            ("no version here v.x", None),
        ];
        for (text, expected) in cases {
            assert_eq!(Version::find_in(text), expected, "{text}");
        }
        assert!(Version::new(0, 15, 0) > Version::new(0, 13, 4));
    }
}
