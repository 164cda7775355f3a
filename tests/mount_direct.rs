//! Real overlay mounts made by calling the helper directly, checked through
//! /proc/self/mountinfo and the merged tree.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// A writable overlay of two layers; returns (fixture, lowers, upper, work, target).
fn two_layer_tree() -> (Fixture, Vec<PathBuf>, PathBuf, PathBuf, PathBuf) {
    let fx = Fixture::new();
    let lowers = fx.layers(2, 0);
    let [upper, work, target] = fx.dirs(["upper", "work", "merged"]);
    (fx, lowers, upper, work, target)
}

#[test]
#[ignore = "needs root (mounts overlayfs); make test runs it"]
fn snapshotter_mount_is_an_overlay_with_the_nydus_options_dropped() {
    require_root();
    let (_fx, lowers, upper, work, target) = two_layer_tree();
    let options = format!(
        "{},{},dev,suid",
        writable_options(&lowers, &upper, &work),
        secret_extraoption()
    );
    let output = run_helper_on(&target, &options);
    assert_mounted_silently(&output);
    assert_eq!(stdout(&output), "");

    let info = mount_at(&target).expect("overlay mounted at target");
    assert_eq!(
        (info.fs_type.as_str(), info.source.as_str()),
        ("overlay", "overlay")
    );
    assert!(
        !info.has_mount_option("nodev") && !info.has_mount_option("nosuid"),
        "{info:?}"
    );
    assert!(info.has_mount_option("rw"), "{info:?}");
    let expected: Vec<String> = lowers.iter().map(|l| l.display().to_string()).collect();
    assert_eq!(info.lower_layers(), expected);
    assert!(
        info.super_options
            .contains(&format!("upperdir={}", upper.display())),
        "{info:?}"
    );
    assert!(
        info.super_options
            .contains(&format!("workdir={}", work.display())),
        "{info:?}"
    );
    assert!(
        !info.super_options.iter().any(|o| o.contains("extraoption")),
        "{info:?}"
    );

    // Both layers are visible; a write lands in the upper directory.
    assert_eq!(fs::read_to_string(target.join("layer-000")).unwrap(), "0\n");
    assert_eq!(fs::read_to_string(target.join("layer-001")).unwrap(), "1\n");
    fs::write(target.join("written"), "new").unwrap();
    assert_eq!(fs::read_to_string(upper.join("written")).unwrap(), "new");
    assert!(!lowers[0].join("written").exists());
    unmount(&target);
}

/// Every VFS word gives the same per-mount and superblock flags as util-linux
/// mount(8) gives it, on the same layers.
#[test]
#[ignore = "needs root (mounts overlayfs with the helper and with mount(8)); make test runs it"]
fn flags_mean_what_mount8_makes_of_them() {
    require_root();
    let fx = Fixture::new();
    let lowers = fx.layers(2, 0);
    let [theirs, ours] = fx.dirs(["by-mount8", "by-helper"]);
    let cases = [
        "defaults",
        "ro",
        "rw",
        "ro,rw",
        "rw,ro",
        "nodev,nosuid,noexec",
        "nodev,dev,nosuid,suid,noexec,exec",
        "noatime",
        "noatime,atime",
        "strictatime",
        "strictatime,noatime",
        "norelatime",
        "relatime",
        "nodiratime",
        "nodiratime,diratime",
        "sync",
        "sync,async",
        "dirsync",
        "lazytime",
        "lazytime,nolazytime",
        "nosymfollow",
        "nosymfollow,symfollow",
        "symfollow,nosymfollow",
        "mand",
        "iversion",
        "silent",
        "defaults,ro,nodev",
        "noauto,nofail,_netdev,x-systemd.after=x,comment=c",
        "ro,redirect_dir=off,index=off",
    ];
    let without_paths = |info: MountInfo| {
        let supers: Vec<String> = info
            .super_options
            .into_iter()
            .filter(|o| !o.starts_with("lowerdir"))
            .collect();
        (info.mount_options, supers)
    };
    for words in cases {
        let options = format!("{},{words}", lowerdir(&lowers));
        let status = Command::new("mount")
            .args(["-t", "overlay", "overlay"])
            .arg(&theirs)
            .args(["-o", &options])
            .status()
            .unwrap();
        assert!(status.success(), "mount(8) -o {words}");
        let output = run_helper_on(&ours, &options);
        assert_mounted_silently(&output);
        let expected = without_paths(mount_at(&theirs).unwrap());
        let got = without_paths(mount_at(&ours).unwrap());
        unmount(&theirs);
        unmount(&ours);
        assert_eq!(got, expected, "options {words}");
    }
}

/// Each directory reaches overlayfs under its role's key: lower layers as
/// lowerdir+, a data-only layer (after `::`) as datadir+, in order.
#[test]
#[ignore = "needs root (mounts overlayfs); make test runs it"]
fn data_only_layers_are_handed_over_as_data_only() {
    require_root();
    let fx = Fixture::new();
    let lowers = fx.layers(3, 0);
    let [upper, work, target] = fx.dirs(["upper", "work", "merged"]);
    let options = format!(
        "lowerdir={}:{}::{},upperdir={},workdir={}",
        lowers[0].display(),
        lowers[1].display(),
        lowers[2].display(),
        upper.display(),
        work.display()
    );
    assert_mounted_silently(&run_helper_on(&target, &options));
    let info = mount_at(&target).unwrap();
    let layers: Vec<&String> = info
        .super_options
        .iter()
        .filter(|o| o.starts_with("lowerdir") || o.starts_with("datadir"))
        .collect();
    assert_eq!(
        layers,
        [
            &format!("lowerdir+={}", lowers[0].display()),
            &format!("lowerdir+={}", lowers[1].display()),
            &format!("datadir+={}", lowers[2].display()),
        ],
        "{info:?}"
    );
    assert!(target.join("layer-000").exists() && !target.join("layer-002").exists());
    unmount(&target);
}

#[test]
#[ignore = "needs root (mounts overlayfs); make test runs it"]
fn ro_mount_refuses_writes() {
    require_root();
    let (_fx, lowers, upper, work, target) = two_layer_tree();
    let options = format!("{},ro", writable_options(&lowers, &upper, &work));
    assert_mounted_silently(&run_helper_on(&target, &options));
    let info = mount_at(&target).unwrap();
    assert!(
        info.has_mount_option("ro") && info.super_options[0] == "ro",
        "{info:?}"
    );
    let err = fs::write(target.join("x"), "x").unwrap_err();
    assert_eq!(
        err.raw_os_error(),
        Some(rustix::io::Errno::ROFS.raw_os_error())
    );
    unmount(&target);
}

#[test]
#[ignore = "needs root (mounts overlayfs); make test runs it"]
fn volatile_and_kata_volume_options() {
    require_root();
    let (_fx, lowers, upper, work, target) = two_layer_tree();
    // nydus-snapshotter puts volatile first; the kata volume option is Nydus-only.
    let options = format!(
        "volatile,{},io.katacontainers.volume=eyJ2b2x1bWVfdHlwZSI6ImRpcmVjdCJ9,{}",
        writable_options(&lowers, &upper, &work),
        secret_extraoption()
    );
    assert_mounted_silently(&run_helper_on(&target, &options));
    let info = mount_at(&target).unwrap();
    // Linux 6.18 shows volatile as fsync=volatile.
    let volatile = |o: &String| o == "volatile" || o == "fsync=volatile";
    assert!(info.super_options.iter().any(volatile), "{info:?}");
    assert!(
        !info
            .super_options
            .iter()
            .any(|o| o.contains("katacontainers")),
        "{info:?}"
    );
    unmount(&target);
}

/// dev and suid are really in effect: a setuid-root binary from a lower layer
/// gives an unprivileged user euid 0, and a device node opens.
#[test]
#[ignore = "needs root (mounts overlayfs); make test runs it"]
fn dev_and_suid_are_in_effect() {
    require_root();
    let (_fx, lowers, upper, work, target) = two_layer_tree();
    plant_setuid_id_and_device(&lowers[1]);
    let options = format!(
        "{},{},dev,suid",
        writable_options(&lowers, &upper, &work),
        secret_extraoption()
    );
    assert_mounted_silently(&run_helper_on(&target, &options));
    assert_setuid_and_device_work(&target);
    unmount(&target);
}

#[test]
#[ignore = "needs root (mounts overlayfs); make test runs it"]
fn nosuid_and_nodev_are_honoured_when_asked() {
    require_root();
    let (_fx, lowers, upper, work, target) = two_layer_tree();
    plant_setuid_id_and_device(&lowers[0]);
    // mount.fuse appends dev,suid only when nodev/nosuid are absent; a later
    // word still wins, so the last nodev/nosuid here decides.
    let options = format!(
        "{},dev,suid,nodev,nosuid",
        writable_options(&lowers, &upper, &work)
    );
    assert_mounted_silently(&run_helper_on(&target, &options));
    let output = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(target.join("id"))
        .output()
        .unwrap();
    assert!(
        !stdout(&output).contains("euid=0"),
        "nosuid ignored: {}",
        stdout(&output)
    );
    assert!(
        fs::OpenOptions::new()
            .write(true)
            .open(target.join("null"))
            .is_err(),
        "nodev ignored"
    );
    unmount(&target);
}

fn assert_all_layers_mounted(layers: &[PathBuf], target: &Path) {
    let info = mount_at(target).expect("mounted");
    let expected: Vec<String> = layers.iter().map(|l| l.display().to_string()).collect();
    assert_eq!(info.lower_layers(), expected, "every layer, in order");
    for i in [0, layers.len() / 2, layers.len() - 1] {
        let name = format!("layer-{i:03}");
        assert_eq!(
            fs::read_to_string(target.join(&name)).unwrap(),
            format!("{i}\n"),
            "{name}"
        );
    }
}

fn mount_many(count: usize, path_len: usize) {
    let fx = Fixture::new();
    let layers = fx.layers(count, path_len);
    assert!(
        layers.iter().all(|l| l.as_os_str().len() >= path_len),
        "fixture paths long enough"
    );
    let [upper, work, target] = fx.dirs(["upper", "work", "merged"]);
    let options = format!(
        "{},{},dev,suid",
        writable_options(&layers, &upper, &work),
        secret_extraoption()
    );
    assert_mounted_silently(&run_helper_on(&target, &options));
    assert_all_layers_mounted(&layers, &target);
    unmount(&target);
}

#[test]
#[ignore = "needs root (mounts overlayfs); make test runs it"]
fn mounts_130_layers_of_90_byte_paths() {
    require_root();
    mount_many(130, 90);
}

#[test]
#[ignore = "needs root (mounts overlayfs); make test runs it"]
fn mounts_500_layers_of_200_byte_paths() {
    require_root();
    mount_many(500, 200);
}

#[test]
#[ignore = "needs root (mounts overlayfs); make test runs it"]
fn mounts_layers_whose_paths_exceed_255_bytes() {
    require_root();
    mount_many(3, 400);
}

#[test]
#[ignore = "needs root (mounts overlayfs); make test runs it"]
fn mounts_paths_with_escaped_comma_and_colon() {
    require_root();
    let fx = Fixture::new();
    let [odd, plain, upper, work, target] = fx.dirs(["a,b:c", "plain", "up,per", "work", "merged"]);
    fs::write(odd.join("odd"), "odd").unwrap();
    fs::write(plain.join("plain"), "plain").unwrap();
    let escaped = |p: &Path| {
        p.display()
            .to_string()
            .replace(',', "\\,")
            .replace(':', "\\:")
    };
    let options = format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        escaped(&odd),
        escaped(&plain),
        escaped(&upper),
        escaped(&work)
    );
    assert_mounted_silently(&run_helper_on(&target, &options));
    assert_eq!(fs::read_to_string(target.join("odd")).unwrap(), "odd");
    assert_eq!(fs::read_to_string(target.join("plain")).unwrap(), "plain");
    fs::write(target.join("w"), "w").unwrap();
    assert!(
        upper.join("w").exists(),
        "write landed in the upperdir with a comma in its name"
    );
    assert_eq!(mount_at(&target).unwrap().lower_layers().len(), 2);
    unmount(&target);
}

#[test]
#[ignore = "needs root (mounts overlayfs); make test runs it"]
fn fake_mount_validates_and_prints_without_mounting() {
    require_root();
    let (fx, lowers, upper, work, target) = two_layer_tree();
    let options = format!(
        "{},{},token=hunter2,nodev",
        writable_options(&lowers, &upper, &work),
        secret_extraoption()
    );
    let output = run_helper(&[
        "-f".as_ref(),
        "overlay".as_ref(),
        target.as_os_str(),
        "-o".as_ref(),
        options.as_ref(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let shown = stdout(&output);
    assert!(
        shown.starts_with(&format!(
            "overlay on {} type overlay (rw,nodev,relatime,",
            target.display()
        )),
        "{shown}"
    );
    assert!(
        shown.contains("token=<hidden>")
            && shown.contains("dropped Nydus-only options: extraoption"),
        "{shown}"
    );
    assert_no_secret(&output);
    assert_eq!(mounted_under(fx.root()), Vec::<PathBuf>::new());
}

#[test]
#[ignore = "needs root (mounts overlayfs); make test runs it"]
fn verbose_mount_prints_the_mount_with_secrets_hidden() {
    require_root();
    let (_fx, lowers, upper, work, target) = two_layer_tree();
    let options = format!(
        "{},{}",
        writable_options(&lowers, &upper, &work),
        secret_extraoption()
    );
    let output = run_helper(&[
        "-v".as_ref(),
        "-n".as_ref(),
        "overlay".as_ref(),
        target.as_os_str(),
        "-o".as_ref(),
        options.as_ref(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains(&format!("overlay on {} type overlay", target.display())));
    assert_no_secret(&output);
    assert!(mount_at(&target).is_some());
    unmount(&target);
}

#[test]
#[ignore = "needs root (mounts overlayfs); make test runs it"]
fn sloppy_skips_options_overlayfs_does_not_know() {
    require_root();
    let (_fx, lowers, upper, work, target) = two_layer_tree();
    let options = format!(
        "{},token=hunter2,redirect_dir=nofollow",
        writable_options(&lowers, &upper, &work)
    );
    let output = run_helper(&[
        "-s".as_ref(),
        "overlay".as_ref(),
        target.as_os_str(),
        "-o".as_ref(),
        options.as_ref(),
    ]);
    assert_mounted_silently(&output);
    let info = mount_at(&target).unwrap();
    assert!(
        info.super_options
            .contains(&"redirect_dir=nofollow".to_string()),
        "{info:?}"
    );
    assert!(
        !info.super_options.iter().any(|o| o.contains("token")),
        "{info:?}"
    );
    unmount(&target);
}
