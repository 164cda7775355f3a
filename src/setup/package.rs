//! What the packages' maintainer scripts ask of the binary — the same calls
//! from the .deb and the .rpm. They report problems and never fail an
//! install or a removal, in a running system as in an image build (a chroot
//! with no systemd, no containerd running and no module loading).

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;

use super::layout::{Layout, MOUNT_HELPER_LINK};
use super::probe;
use super::switch::{self, Versions};

/// After install or upgrade: register the FUSE type for mount(8), load
/// overlayfs where that is possible, warn about what is missing, and switch
/// the node only if the admin opted in beforehand.
pub fn configure(layout: &Layout) -> Vec<String> {
    let mut report = Vec::new();
    register_mount_helper(layout, &mut report);
    if layout.is_host_root() && !probe::overlay_registered() && !probe::confined() {
        match Command::new("modprobe").arg("overlay").status() {
            Ok(status) if status.success() => {}
            _ => report.push("warning: could not load the overlay module: mounts will fail until 'modprobe overlay' works".into()),
        }
    }
    if probe::mount_fuse(layout).is_none() {
        report.push("warning: mount.fuse is missing: containerd cannot run nydus-overlayfs until fuse3 (or fuse) is installed".into());
    }
    let opt_in = Layout::opt_in_file();
    if layout.host(&opt_in).exists() {
        let switched = switch::targets(layout, Versions::detect(layout, None, None))
            .and_then(|targets| switch::enable(layout, &targets));
        match switched {
            Ok(done) if done.is_empty() => {
                report.push("node already switched to nydus-overlayfs".into())
            }
            Ok(done) => {
                report.extend(done.iter().map(ToString::to_string));
                report.push("restart nydus-snapshotter and containerd to use it: nydus-overlayfs-setup enable --restart".into());
            }
            Err(error) => report.push(format!(
                "warning: {} asks to switch the node, but: {error}",
                opt_in.display()
            )),
        }
    } else if !switch::journal(layout).dir().exists() {
        report.push(
            "to switch this node to nydus-overlayfs, run: nydus-overlayfs-setup enable --restart"
                .into(),
        );
    }
    report
}

/// Before removal (not upgrade): undo the switch, so the node never points
/// at a helper that is gone, and drop the mount(8) registration.
pub fn remove(layout: &Layout) -> Vec<String> {
    let mut report = Vec::new();
    match switch::disable(layout) {
        Ok(done) => report.extend(done.iter().map(ToString::to_string)),
        Err(error) => report.push(format!("warning: could not switch the node back: {error}")),
    }
    let link = layout.host(MOUNT_HELPER_LINK);
    let is_ours = fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink())
        && probe::mount_helper_link_leads_to_helper(layout);
    if is_ours {
        if let Err(e) = fs::remove_file(&link) {
            report.push(format!(
                "warning: could not remove {MOUNT_HELPER_LINK}: {e}"
            ));
        }
    }
    report
}

/// Makes `/sbin/mount.fuse.nydus-overlayfs` lead to the helper, as mount(8)
/// looks for it, unless something else is already there.
fn register_mount_helper(layout: &Layout, report: &mut Vec<String>) {
    let link = layout.host(MOUNT_HELPER_LINK);
    if fs::symlink_metadata(&link).is_ok() {
        if !probe::mount_helper_link_leads_to_helper(layout) {
            report.push(format!(
                "warning: {MOUNT_HELPER_LINK} exists and is not ours; left as it is"
            ));
        }
        return;
    }
    if let Err(e) = symlink(layout.helper(), &link) {
        report.push(format!(
            "warning: could not create {MOUNT_HELPER_LINK}: {e}"
        ));
    }
}
