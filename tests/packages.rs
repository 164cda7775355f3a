//! The built .deb and .rpm (`make package`, which `make test` runs first)
//! against the expected file lists: paths, modes, links, conffiles and
//! %config(noreplace), dependencies, and maintainer scripts that make the
//! same calls in both formats.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Files of the .deb besides directories: (path, mode or "link", link target).
const DEB_FILES: &[(&str, &str, &str)] = &[
    ("/etc/nydus-overlayfs/setup.toml", "-rw-r--r--", ""),
    (
        "/lib/systemd/system/containerd.service.d/nydus-overlayfs.conf",
        "-rw-r--r--",
        "",
    ),
    (
        "/usr/lib/modules-load.d/nydus-overlayfs.conf",
        "-rw-r--r--",
        "",
    ),
    (
        "/usr/sbin/mount.fuse.nydus-overlayfs",
        "link",
        "nydus-overlayfs",
    ),
    ("/usr/sbin/nydus-overlayfs", "-rwxr-xr-x", ""),
    ("/usr/sbin/nydus-overlayfs-setup", "-rwxr-xr-x", ""),
    (
        "/usr/share/bash-completion/completions/nydus-overlayfs-setup",
        "-rw-r--r--",
        "",
    ),
    ("/usr/share/doc/nydus-overlayfs/README.md", "-rw-r--r--", ""),
    (
        "/usr/share/doc/nydus-overlayfs/changelog.Debian.gz",
        "-rw-r--r--",
        "",
    ),
    ("/usr/share/doc/nydus-overlayfs/copyright", "-rw-r--r--", ""),
    (
        "/usr/share/lintian/overrides/nydus-overlayfs",
        "-rw-r--r--",
        "",
    ),
    (
        "/usr/share/man/man8/mount.fuse.nydus-overlayfs.8.gz",
        "-rw-r--r--",
        "",
    ),
    (
        "/usr/share/man/man8/nydus-overlayfs-setup.8.gz",
        "-rw-r--r--",
        "",
    ),
    ("/usr/share/man/man8/nydus-overlayfs.8.gz", "-rw-r--r--", ""),
    (
        "/usr/share/nydus-overlayfs/containerd/nydus-cri.toml",
        "-rw-r--r--",
        "",
    ),
    (
        "/usr/share/fish/vendor_completions.d/nydus-overlayfs-setup.fish",
        "-rw-r--r--",
        "",
    ),
    (
        "/usr/share/nydus-overlayfs/containerd/nydus-snapshotter.toml",
        "-rw-r--r--",
        "",
    ),
    (
        "/usr/share/zsh/vendor-completions/_nydus-overlayfs-setup",
        "-rw-r--r--",
        "",
    ),
];

/// Files of the .rpm: no link (its post-install makes the mount(8) one).
const RPM_FILES: &[(&str, &str)] = &[
    ("/etc/nydus-overlayfs/setup.toml", "-rw-r--r--"),
    ("/usr/bin/nydus-overlayfs", "-rwxr-xr-x"),
    ("/usr/bin/nydus-overlayfs-setup", "-rwxr-xr-x"),
    ("/usr/lib/modules-load.d/nydus-overlayfs.conf", "-rw-r--r--"),
    (
        "/usr/lib/systemd/system/containerd.service.d/nydus-overlayfs.conf",
        "-rw-r--r--",
    ),
    (
        "/usr/share/bash-completion/completions/nydus-overlayfs-setup",
        "-rw-r--r--",
    ),
    ("/usr/share/doc/nydus-overlayfs/README.md", "-rw-r--r--"),
    (
        "/usr/share/fish/vendor_completions.d/nydus-overlayfs-setup.fish",
        "-rw-r--r--",
    ),
    ("/usr/share/licenses/nydus-overlayfs/LICENSE", "-rw-r--r--"),
    (
        "/usr/share/man/man8/mount.fuse.nydus-overlayfs.8.gz",
        "-rw-r--r--",
    ),
    (
        "/usr/share/man/man8/nydus-overlayfs-setup.8.gz",
        "-rw-r--r--",
    ),
    ("/usr/share/man/man8/nydus-overlayfs.8.gz", "-rw-r--r--"),
    (
        "/usr/share/nydus-overlayfs/containerd/nydus-cri.toml",
        "-rw-r--r--",
    ),
    (
        "/usr/share/nydus-overlayfs/containerd/nydus-snapshotter.toml",
        "-rw-r--r--",
    ),
    (
        "/usr/share/zsh/site-functions/_nydus-overlayfs-setup",
        "-rw-r--r--",
    ),
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The one package file in `dir` (relative to the repository).
fn built(dir: &str, extension: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == extension))
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        found.len(),
        1,
        "expected one .{extension} in {dir}: run `make package` (make test does): {found:?}"
    );
    found.into_iter().next().unwrap()
}

fn run(program: &str, args: &[&str], file: &Path) -> String {
    let output = Command::new(program).args(args).arg(file).output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn strings(items: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    items.into_iter().collect()
}

#[test]
#[ignore = "needs the built packages (make package); make test runs it"]
fn deb_holds_exactly_the_expected_files() {
    let deb = built("target/debian", "deb");
    let listing = run("dpkg-deb", &["--contents"], &deb);
    let got = strings(listing.lines().filter(|l| !l.starts_with('d')).map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let path = fields[5].trim_start_matches('.');
        match fields.get(7) {
            Some(target) if fields[0].starts_with('l') => format!("{path} link {target}"),
            _ => format!("{path} {}", fields[0]),
        }
    }));
    let expected = strings(DEB_FILES.iter().map(|(path, mode, target)| match *mode {
        "link" => format!("{path} link {target}"),
        mode => format!("{path} {mode}"),
    }));
    assert_eq!(got, expected);
}

#[test]
#[ignore = "needs the built packages (make package); make test runs it"]
fn deb_control_conffiles_and_scripts() {
    let deb = built("target/debian", "deb");
    let control = tempfile::tempdir().unwrap();
    let status = Command::new("dpkg-deb")
        .arg("--control")
        .arg(&deb)
        .arg(control.path())
        .status()
        .unwrap();
    assert!(status.success());
    let read = |name: &str| std::fs::read_to_string(control.path().join(name)).unwrap_or_default();
    assert_eq!(read("conffiles"), "/etc/nydus-overlayfs/setup.toml\n");
    let fields = read("control");
    assert!(
        fields
            .lines()
            .any(|l| l.starts_with("Depends: fuse3 | fuse")),
        "{fields}"
    );
    assert!(read("postinst").contains("nydus-overlayfs-setup package-configure"));
    assert!(read("prerm").contains("nydus-overlayfs-setup package-remove"));
    assert!(read("postrm").contains("rm -rf /var/lib/nydus-overlayfs"));
    assert!(!read("postinst").contains("#DEBHELPER#"));
}

#[test]
#[ignore = "needs the built packages (make package); make test runs it"]
fn rpm_holds_exactly_the_expected_files() {
    let rpm = built("target/generate-rpm", "rpm");
    let listing = run(
        "rpm",
        &["-qp", "--qf", "[%{FILEMODES:perms} %{FILENAMES}\\n]"],
        &rpm,
    );
    let got = strings(listing.lines().map(|line| {
        let (mode, path) = line.split_once(' ').unwrap();
        format!("{path} {mode}")
    }));
    let expected = strings(
        RPM_FILES
            .iter()
            .map(|(path, mode)| format!("{path} {mode}")),
    );
    assert_eq!(got, expected);
    assert_eq!(
        run("rpm", &["-qp", "--configfiles"], &rpm),
        "/etc/nydus-overlayfs/setup.toml\n"
    );
    let noreplace = run(
        "rpm",
        &["-qp", "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\\n]"],
        &rpm,
    );
    assert!(
        noreplace
            .lines()
            .any(|l| l == "cn /etc/nydus-overlayfs/setup.toml"),
        "%config(noreplace): {noreplace}"
    );
    assert!(
        run("rpm", &["-qp", "--requires"], &rpm)
            .lines()
            .any(|l| l == "fuse")
    );
}

#[test]
#[ignore = "needs the built packages (make package); make test runs it"]
fn both_formats_call_the_same_setup_actions() {
    let rpm = built("target/generate-rpm", "rpm");
    let scripts = run("rpm", &["-qp", "--scripts"], &rpm);
    let calls = |text: &str| -> BTreeSet<String> {
        text.lines()
            .map(str::trim)
            .filter(|l| l.starts_with("nydus-overlayfs-setup "))
            .map(str::to_string)
            .collect()
    };
    let deb_scripts: String = ["postinst", "prerm", "postrm"]
        .iter()
        .map(|s| std::fs::read_to_string(repo().join("debian").join(s)).unwrap())
        .collect();
    let expected = strings(
        [
            "nydus-overlayfs-setup package-configure",
            "nydus-overlayfs-setup package-remove",
        ]
        .map(String::from),
    );
    assert_eq!(calls(&scripts), expected, "rpm scriptlets: {scripts}");
    assert_eq!(calls(&deb_scripts), expected);
}

#[test]
#[ignore = "needs the built packages (make package); make test runs it"]
fn man_pages_render_for_both_commands_and_the_mount_helper_name() {
    let deb = built("target/debian", "deb");
    let tree = tempfile::tempdir().unwrap();
    assert!(
        Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(tree.path())
            .status()
            .unwrap()
            .success()
    );
    let man_dir = tree.path().join("usr/share/man");
    for (page, expected) in [
        ("nydus-overlayfs", "Mount helper for nydus-snapshotter"),
        (
            "mount.fuse.nydus-overlayfs",
            "Mount helper for nydus-snapshotter",
        ),
        (
            "nydus-overlayfs-setup",
            "Switch containerd and nydus-snapshotter",
        ),
    ] {
        let output = Command::new("man")
            .env("MANWIDTH", "200")
            .arg("-l")
            .arg(man_dir.join(format!("man8/{page}.8.gz")))
            .current_dir(&man_dir)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.contains(expected) && text.contains("EXIT STATUS"),
            "{page}: {text}"
        );
    }
}

#[test]
#[ignore = "needs the built packages (make package); make test runs it"]
fn drop_ins_in_the_packages_are_the_repository_files() {
    let deb = built("target/debian", "deb");
    for name in ["nydus-snapshotter.toml", "nydus-cri.toml"] {
        let packaged = Command::new("sh")
            .arg("-c")
            .arg(format!("dpkg-deb --fsys-tarfile '{}' | tar -xO ./usr/share/nydus-overlayfs/containerd/{name}", deb.display()))
            .output()
            .unwrap();
        let repo_file = std::fs::read(repo().join("packaging/containerd").join(name)).unwrap();
        assert_eq!(packaged.stdout, repo_file, "{name}");
    }
}

#[test]
#[ignore = "needs the built packages (make package); make test runs it"]
fn rpm_erase_removes_our_directories_only() {
    let rpm = built("target/generate-rpm", "rpm");
    let scripts = run("rpm", &["-qp", "--scripts"], &rpm);
    let postun = scripts
        .split("postuninstall scriptlet")
        .nth(1)
        .expect("a post-uninstall scriptlet");
    let removed = strings(
        postun
            .lines()
            .filter_map(|l| l.trim().strip_prefix("rmdir --ignore-fail-on-non-empty "))
            .map(|l| l.split_whitespace().next().unwrap().to_string()),
    );
    let expected = strings(
        [
            "/etc/nydus-overlayfs",
            "/usr/lib/systemd/system/containerd.service.d",
            "/usr/share/doc/nydus-overlayfs",
            "/usr/share/licenses/nydus-overlayfs",
            "/usr/share/nydus-overlayfs",
            "/usr/share/nydus-overlayfs/containerd",
            // The shells' completion directories, where no shell package has
            // put anything (rmdir leaves them otherwise).
            "/usr/share/bash-completion",
            "/usr/share/bash-completion/completions",
            "/usr/share/fish",
            "/usr/share/fish/vendor_completions.d",
            "/usr/share/zsh",
            "/usr/share/zsh/site-functions",
        ]
        .map(String::from),
    );
    assert_eq!(removed, expected, "{postun}");
    let position = |dir: &str| postun.find(&format!("{dir} ")).unwrap();
    assert!(
        position("/usr/share/nydus-overlayfs/containerd") < position("/usr/share/nydus-overlayfs"),
        "deepest first"
    );
}
