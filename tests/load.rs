//! Load: many concurrent mounts through the real mount.fuse, and many
//! sequential mount/unmount cycles. Every mount correct (layers visible,
//! writes in its own upper, dev and suid in effect); no mount and no file
//! descriptor leaked. `make test` runs 64 concurrent and 1000 sequential;
//! `make stress` raises both (NYDUS_OVERLAYFS_LOAD_CONCURRENT, _CYCLES).

mod common;

use std::fs;
use std::path::PathBuf;
use std::thread;

use common::*;

fn count(variable: &str, default: usize) -> usize {
    std::env::var(variable)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").unwrap().count()
}

/// One test, so that no other test of this binary opens descriptors while
/// they are counted.
#[test]
#[ignore = "needs root (mounts overlayfs through mount.fuse); make test runs it"]
fn load() {
    require_root();
    concurrent_mounts_through_mount_fuse_are_each_correct();
    sequential_mount_and_unmount_cycles();
}

fn concurrent_mounts_through_mount_fuse_are_each_correct() {
    let concurrent = count("NYDUS_OVERLAYFS_LOAD_CONCURRENT", 64);
    let fx = Fixture::new();
    let layers = fx.layers(2, 0);
    plant_setuid_id_and_device(&layers[1]);
    let fds_before = open_fds();
    let mounts: Vec<(PathBuf, PathBuf)> = (0..concurrent)
        .map(|i| {
            let [upper, _work, target] = fx.dirs([
                &format!("c{i}/upper") as &str,
                &format!("c{i}/work"),
                &format!("c{i}/merged"),
            ]);
            (upper, target)
        })
        .collect();
    let handles: Vec<_> = mounts
        .iter()
        .map(|(upper, target)| {
            let args = vec![
                "overlay".to_string(),
                target.display().to_string(),
                "-o".into(),
                lowerdir(&layers),
                "-o".into(),
                format!(
                    "upperdir={},workdir={}",
                    upper.display(),
                    upper.with_file_name("work").display()
                ),
                "-o".into(),
                secret_extraoption(),
                "-t".into(),
                "nydus-overlayfs".into(),
            ];
            thread::spawn(move || run_mount_fuse(&args))
        })
        .collect();
    for (handle, (upper, target)) in handles.into_iter().zip(&mounts) {
        let output = handle.join().unwrap();
        assert_mounted_silently(&output);
        let info = mount_at(target).unwrap_or_else(|| panic!("{} not mounted", target.display()));
        assert!(
            !info.has_mount_option("nodev") && !info.has_mount_option("nosuid"),
            "{info:?}"
        );
        assert_eq!(fs::read_to_string(target.join("layer-000")).unwrap(), "0\n");
        assert_eq!(fs::read_to_string(target.join("layer-001")).unwrap(), "1\n");
        let mark = format!("written through {}", target.display());
        fs::write(target.join("mark"), &mark).unwrap();
        assert_eq!(
            fs::read_to_string(upper.join("mark")).unwrap(),
            mark,
            "the write landed in its own upper"
        );
    }
    for (_, target) in mounts.iter().step_by((concurrent / 8).max(1)) {
        assert_setuid_and_device_work(target);
    }
    for (_, target) in &mounts {
        unmount(target);
    }
    assert_eq!(
        mounted_under(fx.root()),
        Vec::<PathBuf>::new(),
        "a mount leaked"
    );
    assert_eq!(open_fds(), fds_before, "a file descriptor leaked");
}

fn sequential_mount_and_unmount_cycles() {
    let cycles = count("NYDUS_OVERLAYFS_LOAD_CYCLES", 1000);
    let fx = Fixture::new();
    let layers = fx.layers(3, 0);
    let [upper, work, target] = fx.dirs(["upper", "work", "merged"]);
    let options = format!(
        "{},{}",
        writable_options(&layers, &upper, &work),
        secret_extraoption()
    );
    let mounts_before = mountinfo().len();
    let fds_before = open_fds();
    for cycle in 0..cycles {
        let output = run_helper_on(&target, &options);
        assert_mounted_silently(&output);
        assert!(
            target.join("layer-002").exists(),
            "cycle {cycle}: bottom layer missing"
        );
        unmount(&target);
    }
    assert_eq!(mountinfo().len(), mounts_before, "a mount leaked");
    assert_eq!(open_fds(), fds_before, "a file descriptor leaked");
}
