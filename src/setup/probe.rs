//! What is installed and running on the node: program versions, where a
//! program is found through a PATH, and whether we run in a chroot or a
//! container. Everything here only reads.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::layout::{MOUNT_HELPER_LINK, SERVICE_PATH};
use super::rootfs::{Missing, NodeFs};

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

/// The first executable `name` in `search_path` on the node; its node path
/// as found (links not followed, as PATH lookups report it).
pub fn find_program(node: &NodeFs, name: &str, search_path: &[PathBuf]) -> Option<PathBuf> {
    search_path
        .iter()
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(node, candidate))
}

fn is_executable(node: &NodeFs, path: &Path) -> bool {
    node.resolve(path, Missing::Fail)
        .ok()
        .and_then(|r| {
            r.owner_and_mode()
                .ok()
                .flatten()
                .map(|m| (r.is_regular(), m))
        })
        .is_some_and(|(regular, (_, _, mode))| regular && mode & 0o111 != 0)
}

pub fn service_path() -> Vec<PathBuf> {
    SERVICE_PATH.iter().map(PathBuf::from).collect()
}

/// The version `program --version` reports, run from the node's tree.
pub fn program_version(node: &NodeFs, program: &Path) -> Option<Version> {
    let output = run_version(node, program)?;
    Version::find_in(&String::from_utf8_lossy(&output.stdout))
        .or_else(|| Version::find_in(&String::from_utf8_lossy(&output.stderr)))
}

/// `program --version`, run from the node's tree under the name it was
/// found by: k3s's bundled containerd is a link to the multicall k3s
/// binary, which answers as whatever argv[0] names.
fn run_version(node: &NodeFs, program: &Path) -> Option<std::process::Output> {
    use std::os::unix::process::CommandExt;
    let resolved = node.canonical(program)?;
    node.command(&resolved)
        .arg0(program.file_name()?)
        .arg("--version")
        .output()
        .ok()
}

/// The first line `program --version` prints (`k3s version v1.33.4+k3s1
/// (…)`), run from the node's tree.
pub fn version_line(node: &NodeFs, program: &Path) -> Option<String> {
    let output = run_version(node, program)?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .next()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
}

/// The version of the Debian package that installed `program` (a node
/// path), as the node's dpkg database says through `dpkg-query --root`: for builds
/// that print no version of their own (Debian's nydus-snapshotter says
/// "Version: unknown"). `None` where there is no dpkg.
pub fn dpkg_version(node: &NodeFs, program: &Path) -> Option<Version> {
    // A live node mounted elsewhere asks its own dpkg-query, in it.
    let (root, live_elsewhere) = match node.is_live() && !node.is_host_root() {
        true => ("--root=/".to_string(), true),
        false => (
            format!("--root={}", node.host_path(Path::new("/")).display()),
            false,
        ),
    };
    let query = |args: &[&std::ffi::OsStr]| -> Option<String> {
        let mut command = match live_elsewhere {
            true => node_program(node, "dpkg-query")?,
            false => Command::new("dpkg-query"),
        };
        let output = command.arg(&root).args(args).output().ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    };
    // "nydus-snapshotter: /usr/bin/containerd-nydus-grpc"
    let owner = query(&["-S".as_ref(), program.as_os_str()])?;
    let package = owner.split(": ").next()?.split(", ").next()?.to_string();
    let version = query(&["-W".as_ref(), "-f=${Version}".as_ref(), package.as_ref()])?;
    debian_upstream_version(version.trim())
}

/// The upstream part of a Debian version: `1:0.13.4-2` → 0.13.4.
fn debian_upstream_version(text: &str) -> Option<Version> {
    let text = text.split_once(':').map_or(text, |(_, rest)| rest);
    Version::parse(text)
}

/// The PATH containerd runs with: that of the running daemon when there is
/// one on this machine, else systemd's default for services.
pub fn containerd_search_path(running: Option<&Running>) -> (Vec<PathBuf>, &'static str) {
    if let Some(path) = running.and_then(|running| running.path.clone()) {
        return (path, "the running containerd");
    }
    (service_path(), "systemd's default for services")
}

/// The containerd running on this machine: its command line and PATH.
pub struct Running {
    pub command: Vec<String>,
    pub path: Option<Vec<PathBuf>>,
}

/// The running containerd, when `node` is this machine's root and one runs.
pub fn running_containerd(node: &NodeFs) -> Option<Running> {
    if !node.is_host_root() {
        return None;
    }
    // Ours: named containerd, and in this root (from a chroot, /proc shows
    // the host's processes too, whose root is not ours).
    let dir = fs::read_dir("/proc")
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|dir| {
            fs::read_to_string(dir.join("comm")).is_ok_and(|c| c.trim_end() == "containerd")
                && fs::read_link(dir.join("root")).is_ok_and(|root| root == Path::new("/"))
        })?;
    let words = |bytes: Vec<u8>| -> Vec<String> {
        bytes
            .split(|&b| b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect()
    };
    let environ = fs::read(dir.join("environ")).map(words).unwrap_or_default();
    Some(Running {
        command: fs::read(dir.join("cmdline")).map(words).unwrap_or_default(),
        path: environ
            .iter()
            .find_map(|v| v.strip_prefix("PATH="))
            .map(|path| path.split(':').map(PathBuf::from).collect()),
    })
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

/// Whether systemd runs the node we work on: this machine's root, booted by
/// systemd (sd_booted(3)'s test).
pub fn systemd_runs(node: &NodeFs) -> bool {
    node.is_live() && node.canonical(Path::new("/run/systemd/system")).is_some()
}

/// The node's `name` (systemctl, dpkg-query…) found on systemd's PATH, to
/// run as the node runs it (NodeFs::command); `None` when it has none.
pub fn node_program(node: &NodeFs, name: &str) -> Option<Command> {
    if node.is_host_root() {
        return Some(Command::new(name));
    }
    let found = find_program(node, name, &service_path())?;
    Some(node.command(&node.canonical(&found)?))
}

/// Whether the running kernel has overlayfs now.
pub fn overlay_registered() -> bool {
    fs::read_to_string("/proc/filesystems")
        .is_ok_and(|t| t.lines().any(|l| l.ends_with("\toverlay")))
}

/// The mount.fuse that containerd would run, if the node has one.
pub fn mount_fuse(node: &NodeFs) -> Option<PathBuf> {
    [
        "/sbin/mount.fuse",
        "/usr/sbin/mount.fuse",
        "/bin/mount.fuse",
        "/usr/bin/mount.fuse",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| node.canonical(p).is_some())
}

/// Whether mount(8)'s `/sbin/mount.fuse.nydus-overlayfs` is there and
/// leads where `helper` leads (the helper itself may be missing: the link
/// is still ours).
pub fn mount_helper_link_leads_to(node: &NodeFs, helper: &Path) -> bool {
    let link = Path::new(MOUNT_HELPER_LINK);
    let leads = |path: &Path| node.locate(path).ok().map(|l| l.node_path);
    node.entry(link).is_ok_and(|entry| entry.exists()) && leads(link) == leads(helper)
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
            // Debian's build of nydus-snapshotter 0.13.4, verbatim.
            (
                "Version:     unknown\nRevision:    unknown\nGo version:  go1.26.5\nBuild time:  unknown\n",
                None,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(Version::find_in(text), expected, "{text}");
        }
        assert!(Version::new(0, 15, 0) > Version::new(0, 13, 4));
        assert_eq!(
            debian_upstream_version("1:0.13.4-2+b1"),
            Some(Version::new(0, 13, 4))
        );
        assert_eq!(
            debian_upstream_version("0.13.4+ds1-1"),
            Some(Version::new(0, 13, 4))
        );
    }
}
