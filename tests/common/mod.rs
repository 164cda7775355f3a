//! Shared parts of the integration tests: fixture trees of real directories,
//! running the built helper, and reading /proc/self/mountinfo.
#![allow(dead_code)] // each test binary uses its own share of these helpers

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const HELPER: &str = env!("CARGO_BIN_EXE_nydus-overlayfs");

/// A value shaped like nydus-snapshotter's extraoption: base64 JSON that
/// holds a registry credential. No output may ever contain it.
pub fn secret_extraoption() -> String {
    use base64::Engine;
    let json = r#"{"source":"/var/lib/nydus/snapshots/9/fs/image/image.boot","config":"{\"device\":{\"backend\":{\"type\":\"registry\",\"config\":{\"auth\":\"dXNlcjpodW50ZXIy\"}}}}","snapshotdir":"/var/lib/nydus/snapshots/9","fs_version":"v6"}"#;
    format!(
        "extraoption={}",
        base64::engine::general_purpose::STANDARD.encode(json)
    )
}

/// The part of [`secret_extraoption`] that must never be printed.
pub fn secret_value() -> String {
    secret_extraoption()["extraoption=".len()..].to_string()
}

/// For the tests marked `#[ignore = "needs root …"]`: run by another user
/// with `--include-ignored`, they fail here and say why, rather than pass
/// without having tested anything.
pub fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root (it mounts); run it as root, or leave out --include-ignored"
    );
}

/// A directory tree for one test, under /tmp, reachable by unprivileged users
/// (the setuid test runs a binary from it as nobody). Anything still mounted
/// below it is detached when it is dropped, after the test's own checks.
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::Builder::new()
            .prefix("nydus-overlayfs-test.")
            .tempdir_in("/tmp")
            .unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        Fixture { dir }
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Creates directories (and parents) and returns their paths.
    pub fn dirs<const N: usize>(&self, relative: [&str; N]) -> [PathBuf; N] {
        relative.map(|r| {
            let path = self.path(r);
            fs::create_dir_all(&path).unwrap();
            path
        })
    }

    /// Creates `count` lower layers whose paths are about `path_len` bytes
    /// long, laid out like nydus-snapshotter's (`<long parent>/NNN`), each
    /// holding a file named after its index; returns them top first.
    pub fn layers(&self, count: usize, path_len: usize) -> Vec<PathBuf> {
        let parent = self.path("layers").join(padding(
            path_len.saturating_sub(self.root().as_os_str().len() + 12),
        ));
        (0..count)
            .map(|i| make_layer(parent.join(format!("{i:03}")), i))
            .collect()
    }

    /// Like [`Fixture::layers`], but each path differs right after the
    /// fixture root, so that the layers share no long parent.
    pub fn scattered_layers(&self, count: usize, path_len: usize) -> Vec<PathBuf> {
        let tail = padding(path_len.saturating_sub(self.root().as_os_str().len() + 5));
        (0..count)
            .map(|i| make_layer(self.path(&format!("{i:03}")).join(&tail), i))
            .collect()
    }
}

/// A relative path of at least `len` bytes, in components under NAME_MAX.
fn padding(len: usize) -> PathBuf {
    let mut path = PathBuf::new();
    let mut missing = len;
    while missing > 0 {
        let part = missing.min(200);
        path.push("p".repeat(part));
        missing -= part;
    }
    path
}

fn make_layer(layer: PathBuf, index: usize) -> PathBuf {
    fs::create_dir_all(&layer).unwrap();
    fs::write(
        layer.join(format!("layer-{index:03}")),
        format!("{index}\n"),
    )
    .unwrap();
    layer
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for target in mounted_under(self.root()) {
            let _ = rustix::mount::unmount(&target, rustix::mount::UnmountFlags::DETACH);
        }
    }
}

/// Runs the helper with these arguments.
pub fn run_helper<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(HELPER).args(args).output().unwrap()
}

/// Runs the helper as mount.fuse runs it: `overlay TARGET -o OPTIONS`.
pub fn run_helper_on(target: &Path, options: &str) -> Output {
    run_helper(&[
        "overlay".as_ref(),
        target.as_os_str(),
        "-o".as_ref(),
        OsStr::new(options),
    ])
}

/// Runs Debian's real mount.fuse the way containerd does, with the helper's
/// directory on PATH.
pub fn run_mount_fuse<S: AsRef<OsStr>>(args: &[S]) -> Output {
    let helper_dir = Path::new(HELPER).parent().unwrap();
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", helper_dir.display());
    Command::new(mount_fuse())
        .args(args)
        .env("PATH", path)
        .output()
        .unwrap()
}

pub fn mount_fuse() -> &'static str {
    let path = "/sbin/mount.fuse";
    assert!(
        Path::new(path).exists(),
        "{path} is missing: install Debian's fuse3 package (make test does)"
    );
    path
}

/// The options of a writable overlay: lowerdir, upperdir and workdir.
pub fn writable_options(lowers: &[PathBuf], upper: &Path, work: &Path) -> String {
    format!(
        "{},upperdir={},workdir={}",
        lowerdir(lowers),
        upper.display(),
        work.display()
    )
}

/// Joins paths into a lowerdir value.
pub fn lowerdir(layers: &[PathBuf]) -> String {
    let parts: Vec<String> = layers.iter().map(|l| l.display().to_string()).collect();
    format!("lowerdir={}", parts.join(":"))
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the helper succeeded silently.
pub fn assert_mounted_silently(output: &Output) {
    assert!(
        output.status.success(),
        "helper failed: {:?}: {}",
        output.status,
        stderr(output)
    );
    assert_eq!(stderr(output), "", "stderr on success");
}

/// Asserts the helper failed with `code` and one stderr line that contains
/// `expected`, leaked no secret, and left nothing mounted under `root`.
pub fn assert_failed_cleanly(output: &Output, code: i32, expected: &str, root: &Path) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(code), "exit code; stderr: {err}");
    assert_eq!(
        err.lines().count(),
        1,
        "exactly one stderr line, got: {err:?}"
    );
    assert!(
        err.starts_with("nydus-overlayfs: "),
        "prefix missing: {err}"
    );
    assert!(err.contains(expected), "expected {expected:?} in: {err}");
    assert_no_secret(output);
    assert_eq!(
        mounted_under(root),
        Vec::<PathBuf>::new(),
        "something left mounted"
    );
}

pub fn assert_no_secret(output: &Output) {
    for (name, text) in [("stdout", stdout(output)), ("stderr", stderr(output))] {
        assert!(!text.contains(&secret_value()), "secret in {name}: {text}");
        assert!(!text.contains("hunter2"), "secret in {name}: {text}");
    }
}

/// One line of /proc/self/mountinfo.
#[derive(Debug, Clone)]
pub struct MountInfo {
    pub mount_point: PathBuf,
    pub mount_options: Vec<String>,
    pub fs_type: String,
    pub source: String,
    pub super_options: Vec<String>,
}

impl MountInfo {
    pub fn has_mount_option(&self, word: &str) -> bool {
        self.mount_options.iter().any(|o| o == word)
    }

    /// The lower layer paths overlayfs reports, in order.
    pub fn lower_layers(&self) -> Vec<String> {
        self.super_options
            .iter()
            .filter_map(|o| o.strip_prefix("lowerdir+="))
            .map(str::to_string)
            .collect()
    }
}

/// Undoes mountinfo's octal escapes (\040 for space and so on).
fn unescape_octal(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            out.push(u8::from_str_radix(&field[i + 1..i + 4], 8).unwrap());
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// Splits overlayfs super options at commas that are not escaped.
fn split_super_options(field: &str) -> Vec<String> {
    let mut options = vec![String::new()];
    let mut chars = field.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                options.last_mut().unwrap().push(c);
                if let Some(next) = chars.next() {
                    options.last_mut().unwrap().push(next);
                }
            }
            ',' => options.push(String::new()),
            c => options.last_mut().unwrap().push(c),
        }
    }
    options
}

pub fn mountinfo() -> Vec<MountInfo> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let dash = fields
                .iter()
                .position(|f| *f == "-")
                .expect("mountinfo separator");
            MountInfo {
                mount_point: PathBuf::from(OsStr::from_bytes(&unescape_octal(fields[4]))),
                mount_options: fields[5].split(',').map(str::to_string).collect(),
                fs_type: fields[dash + 1].to_string(),
                source: fields[dash + 2].to_string(),
                super_options: split_super_options(fields[dash + 3]),
            }
        })
        .collect()
}

/// The mount at exactly `target`, the topmost if several are stacked.
pub fn mount_at(target: &Path) -> Option<MountInfo> {
    mountinfo().into_iter().rfind(|m| m.mount_point == target)
}

pub fn mounted_under(root: &Path) -> Vec<PathBuf> {
    mountinfo()
        .into_iter()
        .map(|m| m.mount_point)
        .filter(|p| p.starts_with(root))
        .collect()
}

/// Unmounts `target`, failing the test if it was not mounted.
pub fn unmount(target: &Path) {
    rustix::mount::unmount(target, rustix::mount::UnmountFlags::empty())
        .unwrap_or_else(|e| panic!("unmount {}: {e}", target.display()));
}

/// Puts a setuid-root copy of id(1) and a /dev/null node into a layer.
pub fn plant_setuid_id_and_device(layer: &Path) {
    fs::copy("/usr/bin/id", layer.join("id")).unwrap();
    fs::set_permissions(layer.join("id"), fs::Permissions::from_mode(0o4755)).unwrap();
    let status = Command::new("mknod")
        .arg(layer.join("null"))
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(status.success(), "mknod");
}

pub fn assert_setuid_and_device_work(merged: &Path) {
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(merged.join("id"))
        .output()
        .unwrap();
    let text = stdout(&output);
    assert!(output.status.success(), "setpriv: {}", stderr(&output));
    assert!(
        text.contains("uid=65534") && text.contains("euid=0(root)"),
        "setuid not honoured: {text}"
    );
    fs::OpenOptions::new()
        .write(true)
        .open(merged.join("null"))
        .expect("device node opens (dev in effect)");
}

/// The system calls of an strace log, in order (lines with or without
/// the PIDs of `strace -f`).
pub fn traced_syscalls(log: &Path) -> Vec<String> {
    fs::read_to_string(log)
        .unwrap()
        .lines()
        .filter_map(|line| {
            line.split_once('(')
                .and_then(|(head, _)| head.split_whitespace().last())
        })
        .map(str::to_string)
        .collect()
}

/// Every point at which a traced run can be killed: the position in the
/// sequence, the system call, and which invocation of it that is. The first
/// call, the execve strace starts the program with, cannot be injected into;
/// nothing has happened before it anyway.
pub fn kill_points(sequence: &[String]) -> impl Iterator<Item = (usize, &str, usize)> {
    sequence
        .iter()
        .enumerate()
        .skip(1)
        .map(move |(position, syscall)| {
            let when = sequence[..=position]
                .iter()
                .filter(|s| *s == syscall)
                .count();
            (position, syscall.as_str(), when)
        })
}

/// strace arguments that trace only `syscall` and inject `action` into it
/// (`signal=KILL:when=3`, `delay_enter=500000`).
pub fn strace_injecting(syscall: &str, action: &str) -> Vec<String> {
    let (trace, inject) = (
        format!("trace={syscall}"),
        format!("inject={syscall}:{action}"),
    );
    ["-qq", "-o", "/dev/null", "-e", &trace, "-e", &inject]
        .map(String::from)
        .to_vec()
}
