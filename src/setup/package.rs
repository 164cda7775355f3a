//! What the packages' maintainer scripts ask of the binary — the same calls
//! from the .deb and the .rpm. They report problems and never fail an
//! install, in a running system as in an image build (a chroot with no
//! systemd, no containerd running and no module loading). Installing and
//! upgrading restart nothing. Removing on a live node switches it back and
//! restarts what reads the restored files (the helper goes with the
//! package: a nydus-snapshotter left running its switched config would
//! hand containerd mounts nobody can make), and is refused, changing
//! nothing, when that restart would take running containers' filesystems
//! down (docs/restarts.md).

use std::path::Path;
use std::process::Command;

use super::apply::{self, Switch};
use super::error::Exit;
use super::facts::{Facts, GivenReleases};
use super::layout::{Layout, MOUNT_HELPER_LINK};
use super::probe;
use super::restart;
use super::rootfs::NodeFs;

/// After install or upgrade: register the FUSE type for mount(8), load
/// overlayfs where that is possible, warn about what is missing, and switch
/// the node only if the admin opted in beforehand.
pub fn configure(node: &NodeFs, layout: &Layout) -> Vec<String> {
    let mut report = Vec::new();
    register_mount_helper(node, layout, &mut report);
    reload_systemd(node, &mut report);
    if node.is_host_root() && !probe::overlay_registered() && !probe::confined() {
        match Command::new("modprobe").arg("overlay").status() {
            Ok(status) if status.success() => {}
            _ => report.push("warning: could not load the overlay module: mounts will fail until 'modprobe overlay' works".into()),
        }
    }
    if probe::mount_fuse(node).is_none() {
        report.push("warning: mount.fuse is missing: containerd cannot run nydus-overlayfs until fuse3 (or fuse) is installed".into());
    }
    let opt_in = Layout::opt_in_file();
    if node.canonical(&opt_in).is_some() {
        let switched = apply::run(
            node,
            layout,
            GivenReleases::default(),
            Switch::Enable,
            false,
        );
        match switched {
            Ok(plan) if plan.is_empty() => {
                report.push("node already switched to nydus-overlayfs".into())
            }
            Ok(plan) => {
                report.extend(plan.changes.iter().map(|c| c.describe(true)));
                if !probe::systemd_runs(node) {
                    report.push(
                        "restart nydus-snapshotter and containerd (where they run) to use it"
                            .into(),
                    );
                }
            }
            Err(error) => report.push(format!(
                "warning: {} asks to switch the node, but: {error}",
                opt_in.display()
            )),
        }
    } else if node.canonical(&Layout::state_dir()).is_none() {
        report.push(
            "to switch this node to nydus-overlayfs, run: nydus-overlayfs-setup enable --restart"
                .into(),
        );
    }
    // What an install or upgrade leaves to the admin: nothing is restarted
    // here (a restart is the admin's call on a live node).
    if let Ok(facts) = Facts::gather(node, layout, GivenReleases::default()) {
        let stale = restart::stale(&facts.services);
        if !stale.is_empty() {
            report.push(format!(
                "{} read files changed since they started: run 'nydus-overlayfs-setup enable --restart' to restart what needs it (not what would take running containers' filesystems down)",
                stale.join(" and ")
            ));
        }
    }
    report
}

/// Before removal (not upgrade): undo the switch, so the node never points
/// at a helper that is gone, restart what reads the files put back, and
/// drop the mount(8) registration. On a live node where that restart of
/// nydus-snapshotter would take running containers' filesystems down,
/// nothing is done and the removal is refused (`Exit::RestartRefused`).
pub fn remove(node: &NodeFs, layout: &Layout) -> (Vec<String>, Exit) {
    let (mut report, outcome) = switch_back(node, layout);
    if outcome == SwitchBack::Refused {
        return (report, Exit::RestartRefused);
    }
    let is_ours = node.is_link(Path::new(MOUNT_HELPER_LINK))
        && probe::mount_helper_link_leads_to(node, layout.helper());
    if is_ours {
        let removed = node
            .entry(Path::new(MOUNT_HELPER_LINK))
            .and_then(|link| link.remove());
        if let Err(e) = removed {
            report.push(format!(
                "warning: could not remove {MOUNT_HELPER_LINK}: {e}"
            ));
        }
    }
    (report, Exit::Done)
}

/// How switching a node back before its helper goes ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchBack {
    Done,
    /// Nothing done: the restart would take running containers' filesystems down.
    Refused,
    /// The switch back failed (its warning says why).
    Failed,
}

/// Switches the node back before the helper is removed (by the package or
/// by `uninstall`) and, where systemd runs it, restarts what reads the
/// files put back; refused, changing nothing, when that restart would take
/// running containers' filesystems down. One line per thing done, the
/// problems as warnings.
pub fn switch_back(node: &NodeFs, layout: &Layout) -> (Vec<String>, SwitchBack) {
    let mut report = Vec::new();
    let given = GivenReleases::default();
    if probe::systemd_runs(node) {
        let planned = apply::run(node, layout, given, Switch::Disable, true)
            .and_then(|plan| Ok((plan, Facts::gather(node, layout, given)?)));
        match planned {
            Ok((plan, facts)) => {
                let changing: Vec<_> = plan.changes.iter().map(|c| c.file.clone()).collect();
                if let Some(hazard) = restart::refused_after(node, &facts.services, &changing) {
                    report.push(format!(
                        "not removing nydus-overlayfs: {} must restart to stop handing containerd nydus-overlayfs mounts (their helper goes with the package), but {}; drain the node first, or {}, or run 'nydus-overlayfs-setup disable --restart --break-running-containers' before removing",
                        hazard.unit,
                        hazard.why(),
                        hazard.fix()
                    ));
                    return (report, SwitchBack::Refused);
                }
            }
            Err(error) => report.push(format!(
                "warning: could not plan switching the node back: {error}"
            )),
        }
    }
    let mut outcome = SwitchBack::Done;
    match apply::run(node, layout, given, Switch::Disable, false) {
        Ok(plan) => report.extend(plan.changes.iter().map(|c| c.describe(true))),
        Err(error) => {
            report.push(format!("warning: could not switch the node back: {error}"));
            outcome = SwitchBack::Failed;
        }
    }
    if probe::systemd_runs(node) {
        let restarted = Facts::gather(node, layout, given)
            .and_then(|facts| apply::restart_services(node, &facts, false));
        match restarted {
            Ok((done, refused)) => {
                report.extend(done);
                report.extend(refused.into_iter().map(|line| format!("warning: {line}")));
            }
            Err(error) => report.push(format!("warning: {error}")),
        }
    }
    (report, outcome)
}

/// Has systemd read containerd.service's ordering drop-in, just installed,
/// upgraded or removed (by the package or by `install`): until then
/// containerd's ordering after nydus-snapshotter is the old one (and
/// `systemctl restart` would not apply it either). Debian's and Fedora's
/// packaging helpers do the same for a package's units.
pub fn reload_systemd(node: &NodeFs, report: &mut Vec<String>) {
    if !probe::systemd_runs(node) {
        return;
    }
    let reloaded = probe::node_program(node, "systemctl")
        .and_then(|mut systemctl| systemctl.arg("daemon-reload").status().ok());
    match reloaded {
        Some(status) if status.success() => {}
        _ => report.push("warning: systemctl daemon-reload failed: containerd is ordered after nydus-snapshotter only from the next reload".into()),
    }
}

/// Makes `/sbin/mount.fuse.nydus-overlayfs` lead to the helper, as mount(8)
/// looks for it, unless something else is already there.
fn register_mount_helper(node: &NodeFs, layout: &Layout, report: &mut Vec<String>) {
    let link = match node.entry(Path::new(MOUNT_HELPER_LINK)) {
        Ok(link) => link,
        Err(e) => {
            report.push(format!(
                "warning: could not create {MOUNT_HELPER_LINK}: {e}"
            ));
            return;
        }
    };
    if link.exists() || link.is_link() {
        if !probe::mount_helper_link_leads_to(node, layout.helper()) {
            report.push(format!(
                "warning: {MOUNT_HELPER_LINK} exists and is not ours; left as it is"
            ));
        }
        return;
    }
    if let Err(e) = link.symlink_to(layout.helper()) {
        report.push(format!(
            "warning: could not create {MOUNT_HELPER_LINK}: {e}"
        ));
    }
}
