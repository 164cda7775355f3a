//! The built .deb and .rpm (`make package`, which `make test` runs first)
//! against the trees `make install` staged for them (target/pkgroot/deb and
//! /rpm, which `make package` leaves; the install rule is the one list of
//! files): paths, modes, links and contents, conffiles and
//! %config(noreplace), dependencies, and maintainer scripts, read out of the
//! packages, that make the same calls in both formats.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What cargo-deb adds to the staged tree itself (from `changelog` and
/// `copyright` in Cargo.toml): the only files of the .deb `make install` does
/// not stage.
const CARGO_DEB_ADDS: &[&str] = &[
    "/usr/share/doc/nydus-overlayfs/changelog.Debian.gz -rw-r--r--",
    "/usr/share/doc/nydus-overlayfs/copyright -rw-r--r--",
];

/// `ls -l`'s spelling of a file's permission bits.
fn perms(mode: u32) -> String {
    let bits = [(0o400, 'r'), (0o200, 'w'), (0o100, 'x')];
    let mut text = String::from("-");
    for shift in [0, 3, 6] {
        for (bit, c) in bits {
            text.push(if mode & (bit >> shift) != 0 { c } else { '-' });
        }
    }
    text
}

/// The tree `make package` staged for one format (target/pkgroot/deb or
/// /rpm, the one list of files both packages are made from): every entry but
/// directories as `PATH MODE` or `PATH link TARGET`, PATH as installed.
fn staged(format: &str) -> BTreeSet<String> {
    let root = repo().join("target/pkgroot").join(format);
    let mut entries = BTreeSet::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        let listing = std::fs::read_dir(&dir).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: run `make package` (make test does)",
                dir.display()
            )
        });
        for entry in listing.flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let installed = format!("/{}", path.strip_prefix(&root).unwrap().display());
            if meta.is_dir() {
                dirs.push(path);
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                entries.insert(format!("{installed} link {}", target.display()));
            } else {
                use std::os::unix::fs::PermissionsExt;
                entries.insert(format!("{installed} {}", perms(meta.permissions().mode())));
            }
        }
    }
    assert!(
        entries.iter().any(|e| e.contains("/nydus-overlayfs ")),
        "no helper in the staged {format} tree: {entries:?}"
    );
    entries
}

/// The staged files under /etc: the conffiles, one per line.
fn staged_etc(format: &str) -> String {
    staged(format)
        .iter()
        .filter(|e| e.starts_with("/etc/"))
        .map(|e| format!("{}\n", e.split(' ').next().unwrap()))
        .collect()
}

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

/// The .deb's control archive (control, conffiles, maintainer scripts),
/// unpacked: the scripts as the package runs them, not as the repository
/// keeps them.
fn deb_control(deb: &Path) -> tempfile::TempDir {
    let control = tempfile::tempdir().unwrap();
    let status = Command::new("dpkg-deb")
        .arg("--control")
        .arg(deb)
        .arg(control.path())
        .status()
        .unwrap();
    assert!(status.success(), "dpkg-deb --control {}", deb.display());
    control
}

fn strings(items: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    items.into_iter().collect()
}

#[test]
#[ignore = "needs the built packages (make package); make test runs it"]
fn deb_holds_exactly_the_staged_files() {
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
    let mut expected = staged("deb");
    expected.extend(CARGO_DEB_ADDS.iter().map(|e| e.to_string()));
    assert_eq!(got, expected);
}

#[test]
#[ignore = "needs the built packages (make package); make test runs it"]
fn deb_control_conffiles_and_scripts() {
    let control = deb_control(&built("target/debian", "deb"));
    let read = |name: &str| std::fs::read_to_string(control.path().join(name)).unwrap_or_default();
    assert_eq!(read("conffiles"), staged_etc("deb"));
    // The file the setup command reads its settings from.
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
fn rpm_holds_exactly_the_staged_files() {
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
    assert_eq!(got, staged("rpm"));
    let config = run("rpm", &["-qp", "--configfiles"], &rpm);
    assert_eq!(config, staged_etc("rpm"));
    // The file the setup command reads its settings from.
    assert_eq!(config, "/etc/nydus-overlayfs/setup.toml\n");
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
    let control = deb_control(&built("target/debian", "deb"));
    let deb_scripts: String = ["postinst", "prerm", "postrm"]
        .iter()
        .map(|s| std::fs::read_to_string(control.path().join(s)).unwrap())
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
fn packaged_files_are_the_staged_files_byte_for_byte() {
    let deb = built("target/debian", "deb");
    let tree = tempfile::tempdir().unwrap();
    let status = Command::new("dpkg-deb")
        .arg("-x")
        .arg(&deb)
        .arg(tree.path())
        .status()
        .unwrap();
    assert!(status.success());
    let rpm = built("target/generate-rpm", "rpm");
    let digests = run(
        "rpm",
        &["-qp", "--qf", "[%{FILEDIGESTS} %{FILENAMES}\\n]"],
        &rpm,
    );
    for (format, root) in [("deb", tree.path()), ("rpm", Path::new("/"))] {
        let staged_root = repo().join("target/pkgroot").join(format);
        for entry in staged(format) {
            let (path, kind) = entry.split_once(' ').unwrap();
            if kind.starts_with("link") {
                continue;
            }
            let staged_file = staged_root.join(&path[1..]);
            if format == "deb" {
                let packaged = std::fs::read(root.join(&path[1..])).unwrap();
                assert!(
                    packaged == std::fs::read(&staged_file).unwrap(),
                    "{path}: the .deb's differs from the staged file"
                );
            } else {
                let sum = run("sha256sum", &[], &staged_file);
                let sum = sum.split(' ').next().unwrap();
                assert!(
                    digests.lines().any(|l| l == format!("{sum} {path}")),
                    "{path}: no file of the .rpm has the staged file's sha256 {sum}: {digests}"
                );
            }
        }
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
            "/usr/share/doc/nydus-overlayfs/docs",
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

/// The files of the repository and of the build that are there to be
/// installed: whole directories of packaging inputs, the generated man pages
/// and completions (`cargo xtask`, which `make package` runs), the settings
/// file, the README and the manual in docs/. Derived from the tree, not listed: a new drop-in is
/// checked as soon as it is added.
fn installable_sources() -> Vec<PathBuf> {
    let mut sources = vec![
        repo().join("packaging/setup.toml"),
        repo().join("README.md"),
    ];
    let mut dirs: Vec<PathBuf> = [
        "docs",
        "packaging/containerd",
        "packaging/modules-load.d",
        "systemd",
        "target/man",
        "target/completions",
    ]
    .iter()
    .map(|d| repo().join(d))
    .collect();
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}: run `make package`", dir.display()))
            .flatten()
        {
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            } else {
                sources.push(entry.path());
            }
        }
    }
    sources
}

/// The other side of the staged tree being the one list: what is to be
/// installed must be in it. A line dropped from the install rule drops the
/// file from both the staged tree and the packages, which the comparisons
/// above cannot see; this can.
#[test]
#[ignore = "needs the staged trees and generated files of make package; make test runs it"]
fn every_installable_file_is_staged_for_both_formats() {
    for format in ["deb", "rpm"] {
        let root = repo().join("target/pkgroot").join(format);
        let staged_contents: Vec<(String, Vec<u8>)> = staged(format)
            .iter()
            .filter(|e| !e.contains(" link "))
            .map(|e| {
                let path = e.split(' ').next().unwrap();
                let file = root.join(&path[1..]);
                let bytes = match path.strip_suffix(".gz") {
                    Some(_) => {
                        Command::new("gzip")
                            .arg("-dc")
                            .arg(&file)
                            .output()
                            .unwrap()
                            .stdout
                    }
                    None => std::fs::read(&file).unwrap(),
                };
                let name = path.rsplit('/').next().unwrap();
                (name.trim_end_matches(".gz").to_string(), bytes)
            })
            .collect();
        for source in installable_sources() {
            let name = source.file_name().unwrap().to_str().unwrap();
            let bytes = std::fs::read(&source).unwrap();
            assert!(
                staged_contents
                    .iter()
                    .any(|(n, b)| n == name && *b == bytes),
                "{}: not in the tree make install staged for the {format} package",
                source.display()
            );
        }
        for binary in ["nydus-overlayfs", "nydus-overlayfs-setup"] {
            assert!(
                staged(format)
                    .iter()
                    .any(|e| e.ends_with(&format!("/{binary} -rwxr-xr-x"))),
                "{binary}: not staged for the {format} package"
            );
        }
    }
}
