//! The helper as containerd reaches it: Debian's real /sbin/mount.fuse with
//! `-t nydus-overlayfs` and options in several `-o`, finding the helper on PATH.

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;

/// containerd's argument shape: one `-o` per option.
fn containerd_args(target: &std::path::Path, options: &[String]) -> Vec<String> {
    let mut args = vec!["overlay".to_string(), target.display().to_string()];
    for option in options {
        args.push("-o".into());
        args.push(option.clone());
    }
    args.extend(["-t".into(), "nydus-overlayfs".into()]);
    args
}

fn snapshot_options(
    layers: &[PathBuf],
    upper: &std::path::Path,
    work: &std::path::Path,
) -> Vec<String> {
    vec![
        "volatile".into(),
        lowerdir(layers),
        format!("upperdir={}", upper.display()),
        format!("workdir={}", work.display()),
        secret_extraoption(),
    ]
}

#[test]
#[ignore = "needs root (mounts overlayfs through /sbin/mount.fuse); make test runs it"]
fn mount_fuse_mounts_with_dev_and_suid_in_effect() {
    require_root();
    let fx = Fixture::new();
    let layers = fx.layers(2, 0);
    let [upper, work, target] = fx.dirs(["upper", "work", "merged"]);
    plant_setuid_id_and_device(&layers[1]);
    let output = run_mount_fuse(&containerd_args(
        &target,
        &snapshot_options(&layers, &upper, &work),
    ));
    assert_mounted_silently(&output);
    let info = mount_at(&target).expect("mounted through mount.fuse");
    assert_eq!(info.fs_type, "overlay");
    assert!(
        !info.has_mount_option("nodev") && !info.has_mount_option("nosuid"),
        "{info:?}"
    );
    assert_setuid_and_device_work(&target);
    fs::write(target.join("w"), "w").unwrap();
    assert!(upper.join("w").exists());
    unmount(&target);
}

#[test]
#[ignore = "needs root (mounts overlayfs through /sbin/mount.fuse); make test runs it"]
fn mount_fuse_passes_500_layers_of_200_byte_paths() {
    require_root();
    let fx = Fixture::new();
    let layers = fx.layers(500, 200);
    let [upper, work, target] = fx.dirs(["upper", "work", "merged"]);
    let options = snapshot_options(&layers, &upper, &work);
    assert!(
        options.iter().map(String::len).sum::<usize>() > 100_000,
        "about 100 KB of options"
    );
    assert_mounted_silently(&run_mount_fuse(&containerd_args(&target, &options)));
    let expected: Vec<String> = layers.iter().map(|l| l.display().to_string()).collect();
    assert_eq!(mount_at(&target).unwrap().lower_layers(), expected);
    assert_eq!(
        fs::read_to_string(target.join("layer-499")).unwrap(),
        "499\n"
    );
    unmount(&target);
}

#[test]
#[ignore = "needs root (mounts overlayfs through /sbin/mount.fuse); make test runs it"]
fn mount_fuse_reports_helper_failures_without_secrets() {
    require_root();
    let fx = Fixture::new();
    let layers = fx.layers(2, 0);
    let [upper, target] = fx.dirs(["upper", "merged"]);
    let gone = fx.path("gone-work");
    let output = run_mount_fuse(&containerd_args(
        &target,
        &snapshot_options(&layers, &upper, &gone),
    ));
    assert_failed_cleanly(
        &output,
        32,
        &format!("workdir '{}' does not exist", gone.display()),
        fx.root(),
    );
}

#[test]
#[ignore = "needs root (mounts overlayfs through /sbin/mount.fuse); make test runs it"]
fn nodev_given_to_mount_fuse_is_kept() {
    require_root();
    let fx = Fixture::new();
    let layers = fx.layers(2, 0);
    let [upper, work, target] = fx.dirs(["upper", "work", "merged"]);
    let mut options = snapshot_options(&layers, &upper, &work);
    options.push("nodev".into());
    assert_mounted_silently(&run_mount_fuse(&containerd_args(&target, &options)));
    let info = mount_at(&target).unwrap();
    // mount.fuse appends suid but not dev when nodev was asked for.
    assert!(
        info.has_mount_option("nodev") && !info.has_mount_option("nosuid"),
        "{info:?}"
    );
    unmount(&target);
}

/// containerd's shim sometimes loses the helper's exit status and runs the
/// same mount again: the second call must succeed without stacking a second
/// overlay on the same upper and work directories.
#[test]
#[ignore = "needs root (mounts overlayfs through /sbin/mount.fuse); make test runs it"]
fn a_repeated_call_for_the_same_mount_succeeds_and_mounts_once() {
    require_root();
    let fx = Fixture::new();
    let layers = fx.layers(2, 0);
    // mountinfo escapes the space; the comparison must undo that.
    let [upper, work, target] = fx.dirs(["up per", "work", "merged"]);
    let args = containerd_args(&target, &snapshot_options(&layers, &upper, &work));
    assert_mounted_silently(&run_mount_fuse(&args));
    assert_mounted_silently(&run_mount_fuse(&args));
    let mounts: Vec<_> = mountinfo()
        .into_iter()
        .filter(|m| m.mount_point == target)
        .collect();
    assert_eq!(mounts.len(), 1, "{mounts:?}");
    unmount(&target);
    assert!(mounted_under(fx.root()).is_empty());
}

/// Only the same upper and work directories make a call a repeat: another
/// overlay over the same target is mounted on top, as mount(8) would.
#[test]
#[ignore = "needs root (mounts overlayfs through /sbin/mount.fuse); make test runs it"]
fn another_overlay_on_a_mounted_target_is_stacked_as_mount_does() {
    require_root();
    let fx = Fixture::new();
    let layers = fx.layers(2, 0);
    let [upper, work, upper2, work2, target] =
        fx.dirs(["upper", "work", "upper2", "work2", "merged"]);
    let first = containerd_args(&target, &snapshot_options(&layers, &upper, &work));
    let second = containerd_args(&target, &snapshot_options(&layers, &upper2, &work2));
    assert_mounted_silently(&run_mount_fuse(&first));
    assert_mounted_silently(&run_mount_fuse(&second));
    let count = || {
        mountinfo()
            .into_iter()
            .filter(|m| m.mount_point == target)
            .count()
    };
    assert_eq!(count(), 2);
    unmount(&target);
    unmount(&target);
    assert_eq!(count(), 0);
}
