//! The `nydus-overlayfs-setup` command line, and what each command does.

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use super::apply::{self, Switch};
use super::error::{Error, Exit};
use super::facts::{Facts, GivenReleases};
use super::layout::Layout;
use super::probe::Version;
use super::rootfs::NodeFs;
use super::{flavor, install, installer, package, report};

const DESCRIPTION: &str = "\
Switches this node's containerd and nydus-snapshotter to mount Nydus snapshots with \
nydus-overlayfs, and back.

It first finds the containerd that runs and the config it reads, as the node does: \
the kind of node (its flavor), containerd.service with its drop-ins (ExecStart= \
--config, Environment=), and on the live root the running containerd's command line. \
It then switches containerd where that flavor keeps its config across its own \
rewriting of it: plain containerd and Docker's containerd.io in the config file \
itself (or a drop-in directory it imports); k3s, RKE2 and k0s in a drop-in in the \
directory their generated config imports (never the generated file, and a node whose \
generated config imports none is refused); MicroK8s in args/containerd-template.toml; \
EKS nodes (nodeadm) in a NodeConfig drop-in in /etc/eks/nodeadm.d (and in \
config.toml now, when nodeadm has written it); Flatcar (config under the read-only \
/usr) in a switched copy in /etc/containerd/config.toml with a containerd.service \
drop-in that points containerd at it. Talos is refused: only its machine config can \
change containerd there. Nothing is written when a node is refused.

In containerd's config: on containerd 1.6/1.7, enable imports the package's nydus \
snapshotter drop-in and sets the CRI keys in the file itself; on 2.x with a version 2 \
config it imports the package's two drop-ins; with a version 3 or 4 config (2.3 writes \
4) it sets the CRI images keys, in a drop-in DIR/nydus-overlayfs.toml when the file \
imports DIR/*.toml; a version 1 file (no version line, as Docker's) gets the \
[proxy_plugins.nydus] table in itself, its version kept. In nydus-snapshotter's \
config.toml it sets [snapshot] enable_nydus_overlayfs = true (and \
nydus_overlayfs_path on nydus-snapshotter 0.15+). Edits keep every byte they do not \
change (comments, order, line endings, mode, owner), follow links to the file they \
lead to (the link stays a link), are written atomically, and are journaled in \
/var/lib/nydus-overlayfs so that disable restores each file byte for byte, removes \
each file it created (or, if a file was edited since, removes only our settings, and \
leaves a drop-in it wrote whole). One run at a time changes a node: another waits \
for it. Nothing is restarted unless --restart is given; then of nydus-snapshotter \
and the units that run containerd on that flavor of node (containerd.service, \
k3s.service or k3s-agent.service, rke2-server.service or rke2-agent.service, \
k0sworker.service or k0scontroller.service, snap.microk8s.daemon-containerd.service) \
each is restarted only if a file it reads changed since it started (after a \
daemon-reload when systemd says its unit changed), and nydus-snapshotter not when \
stopping it would take down the filesystems of running containers (its KillMode \
kills the nydusd serving them, or its config has cleanup_on_close = true): that \
restart is refused, with why and what to do, and the exit status is 5.

With --root DIR, every path is the node's under DIR: links are followed as the \
node would follow them and nothing outside DIR is read or written.

status reports the flavor, the file containerd reads and what keeps the switch \
there, and what containerd and nydus-snapshotter will do with the settings they \
load once the flavor has rewritten its config, whoever wrote them.

On nodes without the packages, install puts the helper, this program and the files \
the packages would (containerd's drop-ins, containerd.service's ordering drop-in, the \
modules-load.d file, mount(8)'s link) under /usr/local (/opt/nydus-overlayfs on \
Flatcar, whose /usr is read-only; --prefix to choose), recorded so that uninstall, \
after switching the node back as package removal does, removes exactly that. \
installer is the node-installer image's entrypoint (a DaemonSet with the node's / \
at /host): install, enable --restart, then on SIGTERM disable --restart and \
uninstall; installer --cleanup does only the second half. Under --root, a running \
node's own programs (systemctl, over its systemd's socket) are run chrooted into it.

Settings (the two config paths) are read from /etc/nydus-overlayfs/setup.toml; \
containerd_config there overrides where containerd's config is found. \
If /etc/nydus-overlayfs/enable-on-install exists, installing or upgrading the \
package runs enable.";

/// The files the man page lists.
pub const FILES: &str = "\
/etc/nydus-overlayfs/setup.toml            settings: the paths of the two config files
/etc/nydus-overlayfs/enable-on-install     the admin's opt-in: the package runs enable
/var/lib/nydus-overlayfs/                  the journal disable undoes enable from
/var/lib/nydus-overlayfs/lock              held by enable, disable, install and uninstall: one run at a time
/var/lib/nydus-overlayfs/installed.toml    what install wrote, which uninstall removes
/etc/containerd/conf.d/nydus-overlayfs.toml  the drop-in enable writes where config.toml imports conf.d
/var/lib/rancher/{k3s,rke2}/agent/etc/containerd/config-v3.toml.d/nydus-overlayfs.toml  k3s's and RKE2's
/etc/k0s/containerd.d/nydus-overlayfs.toml  k0s's
/etc/eks/nodeadm.d/90-nydus-overlayfs.yaml  the NodeConfig enable writes on EKS nodes
/etc/systemd/system/containerd.service.d/10-nydus-overlayfs.conf  Flatcar: points containerd at /etc
/usr/share/nydus-overlayfs/containerd/     the containerd drop-ins enable imports";

#[derive(Parser, Debug)]
#[command(
    name = "nydus-overlayfs-setup",
    version,
    about = "Switch containerd and nydus-snapshotter to nydus-overlayfs, and back",
    long_about = DESCRIPTION,
    after_long_help = format!("Exit status:\n{}", super::error::exit_status_text()),
)]
pub struct SetupArgs {
    /// Work on the node whose root filesystem is DIR (an image being built)
    #[arg(long, global = true, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,

    /// The helper's path on the node [default: nydus-overlayfs beside this program]
    #[arg(long, global = true, value_name = "PATH")]
    pub helper: Option<PathBuf>,

    /// containerd's version, when it cannot be run to ask (e.g. 1.7)
    #[arg(long, global = true, value_name = "X.Y", value_parser = parse_version)]
    pub containerd_version: Option<Version>,

    /// nydus-snapshotter's version, when it cannot be run to ask
    #[arg(long, global = true, value_name = "X.Y", value_parser = parse_version)]
    pub snapshotter_version: Option<Version>,

    /// The kind of node (talos, k3s, rke2, microk8s, k0s, eks-nodeadm, flatcar, docker-containerd.io, containerd), when its files do not tell
    #[arg(long, global = true, value_name = "NAME")]
    pub flavor: Option<String>,

    #[command(subcommand)]
    pub action: Action,
}

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Switch the node to nydus-overlayfs (twice changes nothing)
    Enable {
        /// Then restart nydus-snapshotter and containerd, each only if a file it reads changed since it started, and nydus-snapshotter only if that keeps running containers' filesystems up
        #[arg(long)]
        restart: bool,
        /// With --restart: restart nydus-snapshotter even when that takes down the filesystems of running containers
        #[arg(long, requires = "restart")]
        break_running_containers: bool,
        /// Print what would change, and change nothing
        #[arg(long, conflicts_with = "restart")]
        dry_run: bool,
    },
    /// Undo enable: restore every file it changed, remove what it added
    Disable {
        /// Then restart nydus-snapshotter and containerd, each only if a file it reads changed since it started, and nydus-snapshotter only if that keeps running containers' filesystems up
        #[arg(long)]
        restart: bool,
        /// With --restart: restart nydus-snapshotter even when that takes down the filesystems of running containers
        #[arg(long, requires = "restart")]
        break_running_containers: bool,
        /// Print what would change, and change nothing
        #[arg(long, conflicts_with = "restart")]
        dry_run: bool,
    },
    /// Say what containerd and nydus-snapshotter will do, what is missing and which helper runs
    Status {
        /// Print JSON (schema 1) instead of text
        #[arg(long)]
        json: bool,
    },
    /// Install the helper and its files on a node without the packages, under a prefix that suits the node (twice changes nothing)
    Install {
        /// Where to install [default: /usr/local; /opt/nydus-overlayfs on Flatcar]
        #[arg(long, value_name = "DIR")]
        prefix: Option<PathBuf>,
    },
    /// Undo install: switch the node back (restarting what reads the restored files, as package removal does), then remove every file install wrote
    Uninstall,
    /// The node-installer image's entrypoint: install, enable --restart, wait; on SIGTERM disable --restart and uninstall
    Installer {
        /// Only switch back and uninstall (for pods that went without it), then wait
        #[arg(long)]
        cleanup: bool,
        /// Where to install [default: as install]
        #[arg(long, value_name = "DIR", conflicts_with = "cleanup")]
        prefix: Option<PathBuf>,
    },
    /// For the packages' post-install (both .deb and .rpm)
    #[command(hide = true)]
    PackageConfigure,
    /// For the packages' pre-removal (both .deb and .rpm)
    #[command(hide = true)]
    PackageRemove,
}

fn parse_version(text: &str) -> Result<Version, String> {
    Version::parse(text).ok_or_else(|| format!("'{text}' is not a version such as 1.7 or 2.1.4"))
}

pub fn command() -> clap::Command {
    SetupArgs::command()
}

/// Runs one command; returns how it ends.
pub fn run(args: SetupArgs) -> Result<Exit, Error> {
    let node = NodeFs::open(&args.root).map_err(|e| {
        Error::at(
            &args.root,
            format!(
                "{e}: --root names the node's root directory (in a pod, where its / is mounted)"
            ),
        )
    })?;
    let layout = match args.helper {
        Some(helper) => Layout::new(&node, helper)?,
        None => Layout::for_this_binary(&node)?,
    };
    let layout = match &args.flavor {
        Some(name) => layout.with_flavor(flavor::by_name(name).map_err(Error::new)?),
        None => layout,
    };
    let given = GivenReleases {
        containerd: args.containerd_version,
        snapshotter: args.snapshotter_version,
    };
    let (switch, restart, break_running, dry_run, unchanged) = match args.action {
        Action::Enable {
            restart,
            break_running_containers,
            dry_run,
        } => (
            Switch::Enable,
            restart,
            break_running_containers,
            dry_run,
            "already switched; nothing changed",
        ),
        Action::Disable {
            restart,
            break_running_containers,
            dry_run,
        } => (
            Switch::Disable,
            restart,
            break_running_containers,
            dry_run,
            "nothing to undo; nothing changed",
        ),
        Action::Status { json } => {
            let status = report::status(&Facts::gather(&node, &layout, given)?);
            if json {
                println!("{}", status.to_json());
            } else {
                print!("{}", status.to_text());
            }
            return Ok(status.state.exit());
        }
        Action::Install { prefix } => {
            install::check_node_root(&node, &args.root)?;
            let facts = Facts::gather(&node, &layout, given)?;
            install::install(&node, &facts, prefix.as_deref())?
                .iter()
                .for_each(|line| println!("{line}"));
            return Ok(Exit::Done);
        }
        Action::Uninstall => {
            install::check_node_root(&node, &args.root)?;
            let (lines, exit) = install::uninstall(&node, &layout)?;
            for line in lines {
                // What was done on stdout; warnings and the refusal, as errors.
                match line.starts_with("warning: ") || line.starts_with("not ") {
                    true => eprintln!("nydus-overlayfs-setup: {line}"),
                    false => println!("{line}"),
                }
            }
            return Ok(exit);
        }
        Action::Installer { cleanup, prefix } => {
            return Ok(installer::run(
                &node,
                &args.root,
                &layout,
                given,
                prefix.as_deref(),
                cleanup,
            ));
        }
        Action::PackageConfigure => return Ok(report_lines(package::configure(&node, &layout))),
        Action::PackageRemove => {
            let (lines, exit) = package::remove(&node, &layout);
            report_lines(lines);
            return Ok(exit);
        }
    };
    let plan = apply::run(&node, &layout, given, switch, dry_run)?;
    if plan.is_empty() {
        println!("{unchanged}");
    } else if dry_run {
        print!("{plan}");
    } else {
        for change in &plan.changes {
            println!("{}", change.describe(true));
        }
    }
    // Even when nothing changed now: a file may have changed since a unit
    // started (an enable without --restart, the package's, the admin's).
    if restart {
        let facts = Facts::gather(&node, &layout, given)?;
        let (done, refused) = apply::restart_services(&node, &facts, break_running)?;
        done.iter().for_each(|line| println!("{line}"));
        refused
            .iter()
            .for_each(|line| eprintln!("nydus-overlayfs-setup: {line}"));
        if !refused.is_empty() {
            return Ok(Exit::RestartRefused);
        }
    } else if !plan.is_empty() && !dry_run {
        println!(
            "to apply it, run 'nydus-overlayfs-setup {} --restart': it restarts what needs it, without taking running containers' filesystems down",
            if switch == Switch::Enable {
                "enable"
            } else {
                "disable"
            }
        );
    }
    Ok(Exit::Done)
}

fn report_lines(lines: Vec<String>) -> Exit {
    for line in lines {
        eprintln!("nydus-overlayfs-setup: {line}");
    }
    Exit::Done
}
