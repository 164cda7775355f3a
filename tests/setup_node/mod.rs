//! A node's root filesystem for nydus-overlayfs-setup's tests (`--root`):
//! the configs a test gives, the package's containerd drop-ins where the
//! package installs them, and running the built setup command on it.
#![allow(dead_code)] // each test binary uses its own share of these helpers

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const SETUP: &str = env!("CARGO_BIN_EXE_nydus-overlayfs-setup");
pub const HELPER_ON_NODE: &str = "/usr/sbin/nydus-overlayfs";
pub const CONTAINERD_CONFIG: &str = "/etc/containerd/config.toml";
pub const NYDUS_CONFIG: &str = "/etc/nydus/config.toml";

pub fn fixture(name: &str) -> String {
    fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

/// A node's root filesystem in a temporary directory.
pub struct Node {
    pub dir: tempfile::TempDir,
}

impl Node {
    pub fn new(containerd_config: Option<&str>, nydus_config: Option<&str>) -> Node {
        let node = Node {
            dir: tempfile::tempdir().unwrap(),
        };
        for (path, text) in [
            (CONTAINERD_CONFIG, containerd_config),
            (NYDUS_CONFIG, nydus_config),
        ] {
            if let Some(text) = text {
                fs::create_dir_all(node.path(path).parent().unwrap()).unwrap();
                fs::write(node.path(path), text).unwrap();
            }
        }
        fs::create_dir_all(node.path("/sbin")).unwrap();
        // The package's drop-ins, where it installs them.
        let dropins = node.path("/usr/share/nydus-overlayfs/containerd");
        fs::create_dir_all(&dropins).unwrap();
        for name in ["nydus-snapshotter.toml", "nydus-cri.toml"] {
            fs::copy(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("packaging/containerd")
                    .join(name),
                dropins.join(name),
            )
            .unwrap();
        }
        node
    }

    pub fn path(&self, node_path: &str) -> PathBuf {
        self.dir.path().join(node_path.trim_start_matches('/'))
    }

    pub fn read(&self, node_path: &str) -> String {
        fs::read_to_string(self.path(node_path)).unwrap()
    }

    pub fn setup(&self, args: &[&str]) -> Output {
        setup_command(self.dir.path(), args).output().unwrap()
    }

    pub fn status_json(&self, containerd_version: &str) -> serde_json::Value {
        let output = self.setup(&[
            "--containerd-version",
            containerd_version,
            "status",
            "--json",
        ]);
        serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("status --json: {e}: {}", text(&output)))
    }
}

/// nydus-overlayfs-setup on the node whose root is `root`, with the helper
/// where the .deb puts it.
pub fn setup_command(root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(SETUP);
    command
        .arg("--root")
        .arg(root)
        .args(["--helper", HELPER_ON_NODE])
        .args(args);
    command
}

pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn assert_ok(output: &Output, expected: &str) {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        text(output)
    );
    assert!(
        text(output).contains(expected),
        "want {expected:?} in: {}",
        text(output)
    );
}

impl Node {
    /// What `status` looks for besides the configs: the helper, mount.fuse
    /// and mount(8)'s registration link, as the package and fuse3 put them.
    pub fn install_programs(&self) {
        for program in [HELPER_ON_NODE, "/sbin/mount.fuse"] {
            let path = self.path(program);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        std::os::unix::fs::symlink(
            HELPER_ON_NODE,
            self.path("/sbin/mount.fuse.nydus-overlayfs"),
        )
        .unwrap();
    }

    /// Every file under the node, with its bytes, and where links lead.
    pub fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>)> {
        tree_snapshot(self.dir.path())
            .into_iter()
            .filter(|(path, _, _)| !fs::symlink_metadata(path).unwrap().is_dir())
            .map(|(path, bytes, _)| (path, bytes))
            .collect()
    }
}

/// Every path under `root`, directories too, with its bytes (a link: where
/// it leads; a directory: none) and its mode, in order.
pub fn tree_snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut entries = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let bytes = if meta.is_dir() {
                pending.push(path.clone());
                Vec::new()
            } else if meta.file_type().is_symlink() {
                fs::read_link(&path)
                    .unwrap()
                    .into_os_string()
                    .into_encoded_bytes()
            } else {
                fs::read(&path).unwrap()
            };
            entries.push((path, bytes, meta.permissions().mode()));
        }
    }
    entries.sort();
    entries
}

/// Copies the tree `from` into `to`, links as links.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path()).unwrap(), &target).unwrap();
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A flavor case's extra global arguments (tests/flavors/CASE/args), one
/// per line.
pub fn args_of(case: &Path) -> Vec<String> {
    fs::read_to_string(case.join("args"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}
