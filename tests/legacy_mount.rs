//! The mount(2) fallback for kernels without `lowerdir+`, driven through the
//! library on this kernel: it must mount exactly the layers asked for or
//! refuse, never a cut-off option string.

mod common;

use std::fs;
use std::path::PathBuf;

use common::*;
use nydus_overlayfs::mount::legacy;
use nydus_overlayfs::overlay::OverlayMount;

fn request(fx: &Fixture, layers: &[PathBuf]) -> OverlayMount {
    let [upper, work, target] = fx.dirs(["upper", "work", "merged"]);
    let options = format!(
        "{},{},dev,suid",
        writable_options(layers, &upper, &work),
        secret_extraoption()
    );
    OverlayMount::from_options(b"overlay", target, &[options.as_bytes()]).unwrap()
}

fn assert_layers_visible(layers: &[PathBuf], mount: &OverlayMount) {
    for (i, _) in layers.iter().enumerate() {
        let file = mount.target.join(format!("layer-{i:03}"));
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            format!("{i}\n"),
            "{}",
            file.display()
        );
    }
}

#[test]
#[ignore = "needs root (mounts overlayfs with mount(2)); make test runs it"]
fn short_options_are_mounted_as_written() {
    require_root();
    let fx = Fixture::new();
    let layers = fx.layers(3, 0);
    let mount = request(&fx, &layers);
    assert!(mount.kernel_data(None).len() <= legacy::MAX_DATA);
    legacy::mount(&mount).unwrap();
    let info = mount_at(&mount.target).unwrap();
    let lowerdir_option = info
        .super_options
        .iter()
        .find(|o| o.starts_with("lowerdir="))
        .unwrap();
    assert_eq!(
        *lowerdir_option,
        lowerdir(&layers),
        "absolute paths as given"
    );
    assert!(!info.has_mount_option("nodev") && !info.has_mount_option("nosuid"));
    assert_layers_visible(&layers, &mount);
    unmount(&mount.target);
}

#[test]
#[ignore = "needs root (mounts overlayfs with mount(2)); make test runs it"]
fn long_options_are_mounted_relative_to_the_common_parent() {
    require_root();
    let fx = Fixture::new();
    let layers = fx.layers(130, 90);
    let mount = request(&fx, &layers);
    let full = mount.kernel_data(None);
    assert!(
        full.len() > legacy::MAX_DATA,
        "{} bytes would be cut by mount(2)",
        full.len()
    );
    legacy::mount(&mount).unwrap();
    let info = mount_at(&mount.target).unwrap();
    let lowerdir_option = info
        .super_options
        .iter()
        .find(|o| o.starts_with("lowerdir="))
        .unwrap();
    assert_eq!(
        lowerdir_option.split(':').count(),
        130,
        "all 130 layers: {lowerdir_option}"
    );
    assert_layers_visible(&layers, &mount);
    unmount(&mount.target);
}

#[test]
#[ignore = "needs root (mounts overlayfs with mount(2)); make test runs it"]
fn options_too_long_even_when_compacted_are_refused() {
    require_root();
    let fx = Fixture::new();
    let layers = fx.scattered_layers(130, 90);
    let mount = request(&fx, &layers);
    let error = legacy::mount(&mount).unwrap_err();
    assert_eq!(error.exit_code(), 32);
    let message = error.to_string();
    assert!(
        message.contains("more than the 4095 this kernel's mount(2) reads"),
        "{message}"
    );
    assert!(message.contains("Linux 6.8 or newer"), "{message}");
    assert!(!message.contains(&secret_value()));
    assert_eq!(
        mounted_under(fx.root()),
        Vec::<PathBuf>::new(),
        "nothing mounted"
    );
}
