//! The node-installer image's entrypoint (`installer`): what a DaemonSet's
//! pod runs with the node's root at /host. It installs, switches the node
//! and restarts what needs it, then waits; told to stop (SIGTERM, as kubelet
//! stops a pod), it switches the node back and uninstalls. `--cleanup` does
//! only that second half, for when the pods went without it (`kubectl
//! delete` does not wait for a DaemonSet's pods to finish), then waits.
//!
//! Every line goes to the pod's log. A failure is one line and a non-zero
//! exit, after undoing what this run did: the pod restarts and tries again.

use std::path::Path;

use super::apply::{self, Switch};
use super::error::{Error, Exit};
use super::facts::{Facts, GivenReleases};
use super::install;
use super::layout::Layout;
use super::rootfs::NodeFs;

const PROGRAM: &str = "nydus-overlayfs-setup";

/// Runs the installer on `node` (its root at `root`); returns how it ends.
pub fn run(
    node: &NodeFs,
    root: &Path,
    layout: &Layout,
    given: GivenReleases,
    prefix: Option<&Path>,
    cleanup: bool,
) -> Exit {
    // Blocked from the start, so that a SIGTERM during the install waits
    // for it to finish and is then taken as the order to undo it.
    let signals = Termination::block();
    say(format!(
        "{PROGRAM} {}: {} the node whose root is at {}",
        env!("CARGO_PKG_VERSION"),
        if cleanup {
            "cleaning up"
        } else {
            "installing on"
        },
        root.display()
    ));
    if let Err(error) = install::check_node_root(node, root) {
        return fail(error);
    }
    if !cleanup {
        if let Err(exit) = set_up(node, layout, given, prefix) {
            return exit;
        }
        say("installed and switched; on SIGTERM this switches the node back and uninstalls".into());
        let signal = signals.wait();
        say(format!(
            "{signal}: switching the node back and uninstalling"
        ));
    }
    let exit = tear_down(node, layout);
    if cleanup && exit == Exit::Done {
        say("cleaned up; waiting to be stopped".into());
        signals.wait();
    }
    exit
}

/// install, enable, restart; what it did is undone when enable fails.
fn set_up(
    node: &NodeFs,
    layout: &Layout,
    given: GivenReleases,
    prefix: Option<&Path>,
) -> Result<(), Exit> {
    let facts = Facts::gather(node, layout, given).map_err(fail)?;
    install::install(node, &facts, prefix)
        .map_err(fail)?
        .into_iter()
        .for_each(say);
    let installed = installed_layout(node, layout).map_err(|error| undo(node, error))?;
    match apply::run(node, &installed, given, Switch::Enable, false) {
        Ok(plan) if plan.is_empty() => say("already switched; nothing changed".into()),
        Ok(plan) => plan.changes.iter().for_each(|c| say(c.describe(true))),
        Err(error) => return Err(undo(node, error)),
    }
    let restarted = Facts::gather(node, &installed, given)
        .and_then(|facts| apply::restart_services(node, &facts, false));
    match restarted {
        Ok((done, refused)) => {
            done.into_iter().for_each(say);
            // The node is switched; the snapshotter takes it at its next
            // restart. Exiting would only have the pod do this again.
            refused
                .into_iter()
                .for_each(|line| say(format!("warning: {line}")));
        }
        Err(error) => say(format!("warning: {error}")),
    }
    Ok(())
}

/// The layout as installed (the helper and the drop-ins where install put
/// them), on the flavor --flavor named.
fn installed_layout(node: &NodeFs, layout: &Layout) -> Result<Layout, Error> {
    let installed = Layout::for_this_binary(node)?;
    Ok(match layout.settings().flavor {
        Some(flavor) => installed.with_flavor(flavor),
        None => installed,
    })
}

/// After a failed enable, which switched nothing: remove what was installed,
/// restarting nothing.
fn undo(node: &NodeFs, error: Error) -> Exit {
    let exit = fail(error);
    match install::remove_installed(node) {
        Ok(lines) => lines.into_iter().for_each(say),
        Err(error) => {
            fail(error);
        }
    }
    exit
}

/// disable (with the restarts package removal makes) and uninstall.
fn tear_down(node: &NodeFs, layout: &Layout) -> Exit {
    let layout = match installed_layout(node, layout) {
        Ok(layout) => layout,
        Err(error) => return fail(error),
    };
    match install::uninstall(node, &layout) {
        Ok((lines, exit)) => {
            lines.into_iter().for_each(say);
            exit
        }
        Err(error) => fail(error),
    }
}

fn say(line: String) {
    println!("{line}");
}

fn fail(error: Error) -> Exit {
    eprintln!("{PROGRAM}: {error}");
    error.exit()
}

/// SIGTERM and SIGINT, blocked, to be waited for.
struct Termination {
    set: libc::sigset_t,
}

impl Termination {
    fn block() -> Termination {
        // SAFETY: the set is initialised by sigemptyset before use, and
        // sigprocmask only reads it.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGINT);
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            Termination { set }
        }
    }

    /// Waits for one of them; its name.
    fn wait(&self) -> &'static str {
        let mut signal = 0;
        // SAFETY: sigwait reads the initialised set and writes one int.
        let waited = unsafe { libc::sigwait(&self.set, &mut signal) };
        match (waited, signal) {
            (0, libc::SIGINT) => "SIGINT",
            _ => "SIGTERM",
        }
    }
}
