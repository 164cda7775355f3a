//! Faults: the helper killed (SIGKILL, by strace's fault injection) at every
//! invocation of every system call it makes leaves either the complete mount
//! or none; a layer or the target removed while it mounts is a clear error
//! with nothing mounted. (Upper and work on a read-only filesystem are in
//! tests/hostile.rs.) Needs strace, which `make test` installs.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::thread;
use std::time::Duration;

use common::*;

struct Tree {
    fx: Fixture,
    layers: Vec<PathBuf>,
    target: PathBuf,
    options: String,
}

fn tree() -> Tree {
    let fx = Fixture::new();
    let layers = fx.layers(3, 0);
    let [upper, work, target] = fx.dirs(["upper", "work", "merged"]);
    let options = format!(
        "{},{}",
        writable_options(&layers, &upper, &work),
        secret_extraoption()
    );
    Tree {
        fx,
        layers,
        target,
        options,
    }
}

fn strace<S: AsRef<std::ffi::OsStr>>(args: &[S], tree: &Tree) -> Output {
    Command::new("strace")
        .args(args)
        .args([HELPER, "overlay"])
        .arg(&tree.target)
        .args(["-o", &tree.options])
        .output()
        .expect("strace (make test installs it)")
}

/// The system calls the helper makes for one mount, in order.
fn syscall_sequence(tree: &Tree) -> Vec<String> {
    let log = tree.fx.path("trace");
    let output = strace(&["-qq", "-o", log.to_str().unwrap()], tree);
    assert_mounted_silently(&output);
    unmount(&tree.target);
    traced_syscalls(&log)
}

/// Either nothing is mounted at the target, or the whole overlay is.
fn complete_or_none(tree: &Tree) -> &'static str {
    let mounted: Vec<PathBuf> = mounted_under(tree.fx.root());
    match mounted.as_slice() {
        [] => "none",
        [one] if one == &tree.target => {
            let info = mount_at(&tree.target).unwrap();
            let layers: Vec<String> = tree
                .layers
                .iter()
                .map(|l| l.display().to_string())
                .collect();
            assert_eq!(info.lower_layers(), layers, "a partial mount");
            assert!(
                info.super_options
                    .iter()
                    .any(|o| o.starts_with("upperdir=")),
                "no upper: {info:?}"
            );
            assert!(tree.target.join("layer-002").exists());
            unmount(&tree.target);
            "complete"
        }
        more => panic!("unexpected mounts: {more:?}"),
    }
}

#[test]
#[ignore = "needs root (mounts overlayfs under strace); make test runs it"]
fn killed_at_any_system_call_leaves_a_complete_mount_or_none() {
    require_root();
    let tree = tree();
    let sequence = syscall_sequence(&tree);
    let attach = sequence
        .iter()
        .position(|s| s == "move_mount")
        .expect("the helper attaches with move_mount");
    let mut outcomes = BTreeMap::new();
    for (position, syscall, when) in kill_points(&sequence) {
        let output = strace(
            &strace_injecting(syscall, &format!("signal=KILL:when={when}")),
            &tree,
        );
        assert!(!output.status.success(), "{syscall} #{when}: not killed");
        assert_no_secret(&output);
        // Killed on entering move_mount or before: nothing was attached.
        let expected = if position <= attach {
            "none"
        } else {
            "complete"
        };
        assert_eq!(
            complete_or_none(&tree),
            expected,
            "killed at call {position}, {syscall} #{when}"
        );
        *outcomes.entry(expected).or_insert(0) += 1;
    }
    eprintln!(
        "fault points: {} of {} calls: {outcomes:?}",
        sequence.len() - 1,
        sequence.len()
    );
}

/// Delays `syscall` by half a second while `remove` runs, then returns the
/// helper's output.
fn with_removal_during(tree: &Tree, syscall: &str, remove: &Path) -> Output {
    let path = remove.to_path_buf();
    let remover = thread::spawn(move || {
        thread::sleep(Duration::from_millis(150));
        fs::remove_dir_all(&path).unwrap();
    });
    let output = strace(&strace_injecting(syscall, "delay_enter=500000"), tree);
    remover.join().unwrap();
    output
}

#[test]
#[ignore = "needs root (mounts overlayfs under strace); make test runs it"]
fn a_layer_removed_while_mounting_is_an_error_and_nothing_is_mounted() {
    require_root();
    let tree = tree();
    // After the helper opened the layers, before the kernel builds the overlay.
    let output = with_removal_during(&tree, "fsopen", &tree.layers[1].clone());
    assert_failed_cleanly(&output, 32, "lowerdir layer 2 of 3", tree.fx.root());
    assert!(
        stderr(&output).contains("was removed while mounting; nothing was mounted"),
        "{}",
        stderr(&output)
    );
}

#[test]
#[ignore = "needs root (mounts overlayfs under strace); make test runs it"]
fn a_target_removed_while_mounting_is_an_error_and_nothing_is_mounted() {
    require_root();
    let tree = tree();
    let output = with_removal_during(&tree, "move_mount", &tree.target.clone());
    assert_failed_cleanly(&output, 32, "cannot attach the overlay at", tree.fx.root());
}
