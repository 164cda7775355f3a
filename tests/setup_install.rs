//! `nydus-overlayfs-setup install` and `uninstall` on node trees of several
//! flavors (tests/flavors/), as the node-installer DaemonSet runs them with
//! the node at `--root`: what install writes and where (by flavor), that a
//! second install changes nothing, that enable then uses what install put
//! there, that uninstall gives back every byte of the node, and that every
//! refusal is one line that writes nothing. tests/e2e/installer.sh runs
//! the same through CRI on a booted node.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
mod setup_node;

use setup_node::{SETUP, args_of, copy_tree, fixture, text, tree_snapshot};

/// A node tree: a flavor case's files, nydus-snapshotter's config, an
/// os-release, a /sbin.
struct Tree {
    dir: tempfile::TempDir,
    args: Vec<String>,
}

impl Tree {
    fn of(case: &str) -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let case_dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/flavors")
            .join(case);
        copy_tree(&case_dir.join("root"), dir.path());
        let tree = Tree {
            dir,
            args: args_of(&case_dir),
        };
        tree.write(
            "/etc/nydus/config.toml",
            &fixture("nydus-snapshotter-config.toml"),
        );
        if !tree.path("/etc/os-release").exists() && !tree.path("/usr/lib/os-release").exists() {
            tree.write("/etc/os-release", "ID=debian\n");
        }
        // A node has these; the record and the lock go below them.
        for dir in ["/sbin", "/var/lib"] {
            fs::create_dir_all(tree.path(dir)).unwrap();
        }
        tree
    }

    fn path(&self, node_path: &str) -> PathBuf {
        self.dir.path().join(node_path.trim_start_matches('/'))
    }

    fn write(&self, node_path: &str, text: &str) {
        let path = self.path(node_path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    /// The setup command on this tree, with the case's arguments, and
    /// without --helper: install's record says where the helper is.
    fn setup(&self, args: &[&str]) -> Output {
        Command::new(SETUP)
            .arg("--root")
            .arg(self.dir.path())
            .args(&self.args)
            .args(args)
            .output()
            .unwrap()
    }

    /// Every path under the tree, with its bytes (a link: where it leads)
    /// and mode.
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>, u32)> {
        tree_snapshot(self.dir.path())
    }

    /// The paths whose bytes or mode differ from `before`, or that came or went.
    fn changed_since(&self, before: &[(PathBuf, Vec<u8>, u32)]) -> Vec<PathBuf> {
        let now = self.snapshot();
        let mut changed: Vec<PathBuf> = now
            .iter()
            .filter(|entry| !before.contains(entry))
            .chain(before.iter().filter(|entry| !now.contains(entry)))
            .map(|(path, _, _)| path.clone())
            .collect();
        changed.sort();
        changed.dedup();
        changed
    }
}

fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        text(output)
    );
    text(output)
}

/// The binaries install copies: those beside the setup program.
fn built(name: &str) -> Vec<u8> {
    fs::read(Path::new(SETUP).with_file_name(name)).unwrap()
}

/// What install writes under each flavor's prefix, with where systemd reads
/// the unit and modules-load.d files from under that prefix.
fn expected_files(prefix: &str) -> Vec<(String, u32)> {
    let (units, modules) = match prefix {
        "/usr/local" => (
            "/usr/local/lib/systemd/system",
            "/usr/local/lib/modules-load.d",
        ),
        _ => ("/etc/systemd/system", "/etc/modules-load.d"),
    };
    vec![
        (format!("{prefix}/sbin/nydus-overlayfs"), 0o755),
        (format!("{prefix}/sbin/nydus-overlayfs-setup"), 0o755),
        (
            format!("{prefix}/share/nydus-overlayfs/containerd/nydus-snapshotter.toml"),
            0o644,
        ),
        (
            format!("{prefix}/share/nydus-overlayfs/containerd/nydus-cri.toml"),
            0o644,
        ),
        (
            format!("{units}/containerd.service.d/nydus-overlayfs.conf"),
            0o644,
        ),
        (format!("{modules}/nydus-overlayfs.conf"), 0o644),
    ]
}

#[test]
fn install_puts_the_files_under_the_flavors_prefix_and_uninstall_gives_back_every_byte() {
    // (case, extra arguments, prefix); mount(8)'s link is made in each, as
    // /sbin is writable in these trees.
    let cases: [(&str, &[&str], &str); 3] = [
        ("containerd", &[], "/usr/local"),
        ("k3s", &[], "/usr/local"),
        // Flatcar: /usr is read-only there; containerd is told the helper's
        // path by nydus-snapshotter 0.15+.
        (
            "flatcar",
            &["--snapshotter-version", "0.15"],
            "/opt/nydus-overlayfs",
        ),
    ];
    for (case, extra, prefix) in cases {
        let tree = Tree::of(case);
        let with = |args: &[&str]| tree.setup(&[extra, args].concat());
        let before = tree.snapshot();

        let installed = ok(&with(&["install"]));
        for (file, mode) in expected_files(prefix) {
            let path = tree.path(&file);
            assert!(
                installed.contains(&format!("installed {file}\n")),
                "{case}: {installed}"
            );
            let meta = fs::metadata(&path).unwrap_or_else(|e| panic!("{case}: {file}: {e}"));
            assert_eq!(meta.permissions().mode() & 0o7777, mode, "{case}: {file}");
        }
        assert_eq!(
            fs::read(tree.path(&format!("{prefix}/sbin/nydus-overlayfs"))).unwrap(),
            built("nydus-overlayfs")
        );
        assert_eq!(
            fs::read(tree.path(&format!("{prefix}/sbin/nydus-overlayfs-setup"))).unwrap(),
            built("nydus-overlayfs-setup")
        );
        let link_path = tree.path("/sbin/mount.fuse.nydus-overlayfs");
        assert_eq!(
            fs::read_link(&link_path).ok(),
            Some(PathBuf::from(format!("{prefix}/sbin/nydus-overlayfs"))),
            "{case}"
        );
        let after_install = tree.snapshot();
        let again = ok(&with(&["install"]));
        assert!(again.contains("already installed"), "{case}: {again}");
        assert_eq!(
            tree.changed_since(&after_install),
            Vec::<PathBuf>::new(),
            "{case}: a second install changed these"
        );

        // enable finds the helper and the drop-ins where install put them.
        ok(&with(&["enable"]));
        let status = with(&["status", "--json"]);
        let json: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
        assert_eq!(
            json["helper"]["path"],
            format!("{prefix}/sbin/nydus-overlayfs"),
            "{case}"
        );
        assert_eq!(
            json["containerd"]["switched"],
            true,
            "{case}: {}",
            text(&status)
        );
        if case == "flatcar" {
            let nydus = fs::read_to_string(tree.path("/etc/nydus/config.toml")).unwrap();
            assert!(
                nydus.contains(&format!(
                    "nydus_overlayfs_path = \"{prefix}/sbin/nydus-overlayfs\""
                )),
                "{nydus}"
            );
        }

        let removed = ok(&with(&["uninstall"]));
        assert!(
            removed.contains("restored /etc/nydus/config.toml"),
            "{case}: {removed}"
        );
        assert!(
            removed.contains(&format!("removed {prefix}/sbin/nydus-overlayfs\n")),
            "{case}: {removed}"
        );
        assert_eq!(
            tree.changed_since(&before),
            Vec::<PathBuf>::new(),
            "{case}: uninstall left these changed"
        );
        let nothing = ok(&with(&["uninstall"]));
        assert!(
            nothing.contains("nothing installed here"),
            "{case}: {nothing}"
        );
    }
}

#[test]
fn a_file_changed_since_install_is_left_and_said() {
    let tree = Tree::of("containerd");
    ok(&tree.setup(&["install"]));
    let edited = "/usr/local/lib/modules-load.d/nydus-overlayfs.conf";
    tree.write(edited, "overlay\nfuse\n");
    let removed = ok(&tree.setup(&["uninstall"]));
    assert!(
        removed.contains(&format!("left {edited}: changed since it was installed")),
        "{removed}"
    );
    assert_eq!(
        fs::read_to_string(tree.path(edited)).unwrap(),
        "overlay\nfuse\n"
    );
    assert!(!tree.path("/usr/local/sbin/nydus-overlayfs").exists());
    assert!(
        !tree
            .path("/var/lib/nydus-overlayfs/installed.toml")
            .exists()
    );
}

/// Each refusal: exit 1, one line on stderr naming what was wrong and what
/// to do, nothing on the node changed.
#[test]
fn refusals_are_one_line_and_write_nothing() {
    let empty = tempfile::tempdir().unwrap();
    let refused = |tree: &Tree, args: &[&str], expected: &str| {
        let before = tree.snapshot();
        let output = tree.setup(args);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {}", text(&output));
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{args:?}: want {expected:?} in {stderr}"
        );
        assert_eq!(
            tree.changed_since(&before),
            Vec::<PathBuf>::new(),
            "{args:?}: the refusal changed these"
        );
    };
    let no_node = Tree {
        dir: empty,
        args: Vec::new(),
    };
    refused(
        &no_node,
        &["install"],
        "holds no node's root filesystem (no /etc/os-release",
    );
    refused(
        &Tree::of("talos"),
        &["install"],
        "talos node: Talos builds containerd's config only from machine config",
    );
    refused(
        &Tree::of("containerd"),
        &["--flavor", "nosuch", "install"],
        "unknown flavor 'nosuch': --flavor takes one of talos, k3s",
    );
    refused(
        &Tree::of("flatcar"),
        &["install"],
        "/opt/nydus-overlayfs/sbin is not on containerd's PATH, and nydus-snapshotter (version unknown) predates nydus_overlayfs_path (0.15)",
    );
    let packaged = Tree::of("containerd");
    packaged.write("/usr/sbin/nydus-overlayfs-setup", "");
    refused(
        &packaged,
        &["install"],
        "nydus-overlayfs is installed here by a package",
    );
    let foreign = Tree::of("containerd");
    foreign.write("/usr/local/sbin/nydus-overlayfs", "someone else's\n");
    refused(
        &foreign,
        &["install"],
        "/usr/local/sbin/nydus-overlayfs exists and was not installed by nydus-overlayfs-setup: move it away, or install with --prefix",
    );
    let moved = Tree::of("containerd");
    ok(&moved.setup(&["install"]));
    refused(
        &moved,
        &["install", "--prefix", "/opt/x"],
        "installed under /usr/local on this node: run 'nydus-overlayfs-setup uninstall' first",
    );
}

#[test]
#[ignore = "needs root: mounts the tree's /usr read-only"]
fn a_read_only_usr_is_refused_before_anything_is_written() {
    common::require_root();
    let tree = Tree::of("containerd");
    let usr = tree.path("/usr");
    fs::create_dir_all(usr.join("local")).unwrap();
    let mount = |args: &[&str]| {
        let status = Command::new("mount")
            .args(args)
            .arg(&usr)
            .arg(&usr)
            .status()
            .unwrap();
        assert!(status.success(), "mount {args:?}");
    };
    mount(&["--bind"]);
    let unmount = || assert!(Command::new("umount").arg(&usr).status().unwrap().success());
    let status = Command::new("mount")
        .args(["-o", "remount,bind,ro"])
        .arg(&usr)
        .status()
        .unwrap();
    if !status.success() {
        unmount();
        panic!("remount read-only failed");
    }
    let before = tree.snapshot();
    let output = tree.setup(&["install"]);
    let changed = tree.changed_since(&before);
    unmount();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("/usr/local/sbin: read-only filesystem on this node: install with --prefix DIR on a writable one"),
        "{stderr}"
    );
    assert_eq!(changed, Vec::<PathBuf>::new(), "the refusal changed these");
}

/// The DaemonSets name the image of this version and run its entrypoint
/// against the node's root at /host.
#[test]
fn the_manifests_run_this_versions_installer_on_the_nodes_root() {
    let version = env!("CARGO_PKG_VERSION");
    for (manifest, args) in [
        (
            "contrib/kubernetes/daemonset.yaml",
            r#"["--root", "/host", "installer"]"#,
        ),
        (
            "contrib/kubernetes/cleanup/daemonset.yaml",
            r#"["--root", "/host", "installer", "--cleanup"]"#,
        ),
    ] {
        let text =
            fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(manifest)).unwrap();
        let field = |name: &str| -> Vec<String> {
            text.lines()
                .filter_map(|line| line.trim().strip_prefix(name))
                .map(|value| value.trim().trim_matches('"').to_string())
                .collect()
        };
        assert_eq!(
            field("image:"),
            [format!("nydus-overlayfs-installer:{version}")],
            "{manifest}"
        );
        assert_eq!(
            field("app.kubernetes.io/version:"),
            [version, version],
            "{manifest}"
        );
        assert_eq!(field("args:"), [args.trim_matches('"')], "{manifest}");
        assert_eq!(field("mountPath:"), ["/host"], "{manifest}");
        assert_eq!(field("path:"), ["/"], "{manifest}");
    }
}

/// The image's entrypoint on a tree: install, enable, wait; SIGTERM
/// switches back and uninstalls, leaving every byte as it was.
#[test]
fn the_installer_sets_up_waits_and_undoes_everything_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let tree = Tree::of("containerd");
    let before = tree.snapshot();
    let mut installer = Command::new(SETUP)
        .arg("--root")
        .arg(tree.dir.path())
        .args(&tree.args)
        .arg("installer")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(installer.stdout.take().unwrap()).lines();
    let mut log = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        log.push(line.clone());
        if line.starts_with("installed and switched") {
            break;
        }
    }
    assert!(
        log.contains(&"switched /etc/containerd/config.toml".to_string()),
        "{log:?}"
    );
    assert!(tree.path("/usr/local/sbin/nydus-overlayfs").exists());
    let pid = rustix::process::Pid::from_raw(installer.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(installer.wait().unwrap().success(), "{rest:?}");
    assert_eq!(rest[0], "SIGTERM: switching the node back and uninstalling");
    assert!(
        rest.contains(&"restored /etc/containerd/config.toml".to_string()),
        "{rest:?}"
    );
    assert_eq!(
        tree.changed_since(&before),
        Vec::<PathBuf>::new(),
        "left changed"
    );
}

/// An enable refused after the install: what was installed is removed, and
/// the installer exits non-zero with enable's one line.
#[test]
fn the_installer_undoes_its_install_when_enable_is_refused() {
    let tree = Tree::of("k3s-without-import");
    let before = tree.snapshot();
    let output = tree.setup(&["installer"]);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("imports no directory of drop-ins"),
        "{stderr}"
    );
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains("removed /usr/local/sbin/nydus-overlayfs\n"),
        "{}",
        text(&output)
    );
    assert_eq!(
        tree.changed_since(&before),
        Vec::<PathBuf>::new(),
        "left changed"
    );
}
